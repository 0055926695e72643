/* SPDX-License-Identifier: MIT */
/* The desired state: the exact package set a device must run (docs/formats.md).
 *
 *   Format: 1                       (optional; refused if newer than we know)
 *   Serial: 42
 *   Packages: base (= 1.0-1), app (= 2.3)
 *   SHA256:                         (optional; sha256 and size of each .deb)
 *    <sha256-hex> <size> <name>_<version>
 *
 * Further fields are kept in para for later users (expiry, group, OS image). */
#ifndef LB_DESIRED_H
#define LB_DESIRED_H

#include <stddef.h>

#include "deb822.h"
#include "error.h"

#define LB_DESIRED_FORMAT   1
#define LB_DESIRED_MAX_PKGS 65536

struct lb_desired_pkg {
	char *name;
	char *version;
	char sha256[65];         /* hex, "" if not given */
	unsigned long long size; /* 0 if not given */
};

struct lb_desired {
	unsigned format;
	unsigned long long serial;
	struct lb_desired_pkg *pkgs; /* sorted by name; names unique */
	size_t n;
	struct lb_doc doc; /* the parsed document, for other fields */
};

/* Parse; errors: -LBE_FORMAT (missing Serial, a package without "(= version)",
 * duplicate package, bad hash line), -LBE_FORMAT_VER (Format newer than known). */
int lb_desired_parse(const char *buf, size_t len, struct lb_desired *d) LB_MUST;
int lb_desired_load(const char *path, struct lb_desired *d) LB_MUST;
const struct lb_desired_pkg *lb_desired_find(const struct lb_desired *d, const char *name);
void lb_desired_free(struct lb_desired *d);

#endif
