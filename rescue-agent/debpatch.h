/* SPDX-License-Identifier: MIT */
/* Rebuild a package from a delta (lib/pkgdelta.h) and the files of the older
 * version installed in the root: no copy of the old .deb is needed. */
#ifndef LB_DEBPATCH_H
#define LB_DEBPATCH_H

#include "error.h"
#include "pkgdb.h"

struct lb_debpatch_stats {
	unsigned same, zstd, bsdiff, literal; /* regular files by how they were rebuilt */
	unsigned long long out_bytes;         /* of the rebuilt .deb */
};

/* Rebuild from the delta open on deltafd into outfd (an empty, seekable file) a
 * .deb with the new package's control member and its data as data.tar.zst, using
 * the files of base (the installed package the delta must start from) beneath
 * rootfd; then read it back and check its content hash (lib/deb.h) against
 * content (the signed one). Errors:
 *   -LBE_DEB     the delta is not one, is from another version (its base .deb
 *                sha256 is not base's), or is damaged
 *   -LBE_HASH    a base file differs from what the database records (modified
 *                locally, or missing), or the rebuilt content is not the signed one
 *   negative errno: I/O, memory
 * outfd's content is undefined after an error. */
int lb_debpatch(int rootfd, const struct lb_dbpkg *base, int deltafd, int outfd,
                const char content[65], struct lb_debpatch_stats *st) LB_MUST;

/* The base .deb's sha256 and the content hash a delta file names (hex), or
 * -LBE_DEB when it is not a delta. */
int lb_debpatch_header(int deltafd, char base[65], char content[65]) LB_MUST;

#endif
