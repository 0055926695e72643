/* SPDX-License-Identifier: MIT */
/* The desired state: the exact package set a device must run (docs/formats.md).
 *
 *   Format: 1                       (optional; refused if newer than we know)
 *   Serial: 42
 *   Packages: base (= 1.0-1), app (= 2.3)
 *   SHA256:                         (optional; sha256 and size of each .deb)
 *    <sha256-hex> <size> <name>_<version>
 *   Image-Version: 2025.06          (optional, all five or none: the OS image)
 *   Image: images/<sha256>.img.zst  (its path in the master's tree)
 *   Image-Size: 268435456           (uncompressed bytes)
 *   Image-SHA256: <sha256-hex>      (of the uncompressed image)
 *   Image-Compressed-Size: 73400320 (the most bytes a download of Image may bring)
 *   Image-Index: images/<sha256>.index  (optional, all three or none: the chunk
 *   Image-Index-Size: 196680             index, lib/chunk.h; Image is then the
 *   Image-Index-SHA256: <sha256-hex>     pack file whose frames it names)
 *   Image-Deltas:                   (optional, with Image-Index: deltas from older
 *    <base-sha256> <dindex> <size> <sha256> <delta> <size>   images, lib/chunk.h)
 *   Package-Deltas:                 (optional, with SHA256: deltas to packages
 *    <name> <base-sha256> <content-sha256> <delta-sha256> <size>  from older
 *                                    versions, lib/pkgdelta.h; at most 8 a package)
 *
 * Further fields are kept in doc for later users (expiry, group). */
#ifndef LB_DESIRED_H
#define LB_DESIRED_H

#include <stdbool.h>
#include <stddef.h>

#include "deb822.h"
#include "error.h"

#define LB_DESIRED_FORMAT   1
#define LB_DESIRED_MAX_PKGS 65536

#define LB_DESIRED_MAX_PKG_DELTAS 8

/* A delta to a package from an older version (lib/pkgdelta.h), in the tree at
 * deltas/<sha256[0:2]>/<sha256 of the package>.from-<base_sha256>.delta */
struct lb_desired_pdelta {
	char base_sha256[65]; /* of the older .deb */
	char sha256[65];      /* of the delta file */
	unsigned long long size;
};

struct lb_desired_pkg {
	char *name;
	char *version;
	char sha256[65];         /* hex, "" if not given */
	unsigned long long size; /* 0 if not given */
	char content_sha256[65]; /* the package's content hash (lib/deb.h), "" if no delta */
	struct lb_desired_pdelta *deltas; /* Package-Deltas to it, newest base first */
	size_t ndeltas;
};

#define LB_DESIRED_MAX_DELTAS 16

/* A delta to the image from an older one (lib/chunk.h, "Deltas"). */
struct lb_desired_delta {
	char base_sha256[65]; /* of the older image */
	char *index, *path;   /* the delta index and the delta file in the tree */
	unsigned long long index_size, size;
	char index_sha256[65];
};

/* The OS image of the state (docs/formats.md); present is false without one. */
struct lb_desired_image {
	bool present;
	char *version;
	char *path; /* relative to the tree: [A-Za-z0-9._+-] components, no "..", no "/" first */
	unsigned long long size, compressed_size; /* both > 0 */
	char sha256[65];                          /* lowercase hex */
	char *index;                              /* the chunk index's path, NULL none */
	unsigned long long index_size;
	char index_sha256[65];
	struct lb_desired_delta *deltas; /* Image-Deltas, one per base image */
	size_t ndeltas;
};

struct lb_desired {
	unsigned format;
	unsigned long long serial;
	struct lb_desired_pkg *pkgs; /* sorted by name; names unique */
	size_t n;
	struct lb_desired_image image;
	struct lb_doc doc; /* the parsed document, for other fields */
};

/* Parse; errors: -LBE_FORMAT (missing Serial, a package without "(= version)",
 * duplicate package, bad hash line, a bad or incomplete set of Image fields),
 * -LBE_FORMAT_VER (Format newer than known). */
int lb_desired_parse(const char *buf, size_t len, struct lb_desired *d) LB_MUST;
int lb_desired_load(const char *path, struct lb_desired *d) LB_MUST;
/* An Image-Version value: 1 to 128 of [A-Za-z0-9.+~:_-] (the master checks it too). */
bool lb_image_version_valid(const char *v);
const struct lb_desired_pkg *lb_desired_find(const struct lb_desired *d, const char *name);
void lb_desired_free(struct lb_desired *d);

#endif
