/* SPDX-License-Identifier: MIT */
/* Package deltas: a new version of a package described against the files of an
 * older version that the device has installed, so that the device downloads only
 * what changed and needs no copy of the old .deb (docs/formats.md, "Package
 * deltas"). The master writes them (master/debdelta.c), the device rebuilds the
 * package from one (rescue-agent/debpatch.c).
 *
 * A delta file is a fixed header and three xz streams (LZMA2, dictionary at most
 * LB_PD_DICT), one after the other: META, DIFF and EXTRA. Keeping the kinds of
 * bytes apart lets each compress with its own kind (the differences of a bsdiff
 * are mostly zeros; literal bytes are not), and a device reads the three front
 * to back at once, each at its own offset, with three small buffers.
 *
 *   header (96 bytes):  "LBPDELT1" | base .deb sha256 (32 bytes) |
 *                       content hash of the new package (32 bytes, lib/deb.h) |
 *                       the three streams' sizes, 64-bit little endian each
 *   META:
 *     varint len, the control member's name ("control.tar.xz"...);
 *     varint size, the member's bytes as the new .deb stores them
 *     then one record per data.tar entry of the new package, in its order:
 *       byte  type            an enum lb_ftype letter; 0 ends the stream
 *       varint mode, uid, gid
 *       svarint mtime         minus the previous entry's (0 before the first)
 *       varint keep, len      the path: keep bytes of the previous entry's path,
 *       len bytes               then these
 *       symlink, hardlink:    varint len, len bytes: the target
 *       device node:          varint major, minor
 *       regular file:         varint size, then if size > 0:
 *         byte op, and for ops with a base: varint n, and if n > 0 the base
 *         file's path (n - 1 bytes; n == 0: the entry's own path). The base is
 *         a regular file of the installed old package; its content must have
 *         the sha256 the package database records for it.
 *           'L'  the content: size bytes of EXTRA
 *           'S'  (base) the content is the base file's
 *           'Z'  (base) varint n; n bytes of EXTRA: one zstd frame whose
 *                decompressed size bytes are the content, compressed with the
 *                base file's content as a raw prefix (zstd --patch-from)
 *           'B'  (base) a bsdiff stream (lib/bdiff.h) from the base file to the
 *                size bytes of content, split: its records (the three varints)
 *                here, its ADD bytes in DIFF, its COPY bytes in EXTRA
 *   DIFF, EXTRA: the bytes named above, in the order META names them; each
 *     stream ends exactly where META's last use of it does.
 *
 * varint: unsigned LEB128, at most 10 bytes; svarint: zigzag then varint.
 * Nothing in a delta is trusted for being there: the device checks every base
 * file's hash before it uses it, every length against what is left, and the
 * rebuilt package's content hash against the signed one before the engine
 * reads it (and the engine checks it again). */
#ifndef LB_PKGDELTA_H
#define LB_PKGDELTA_H

#define LB_PD_MAGIC       "LBPDELT1"
#define LB_PD_MAGIC_LEN   8
#define LB_PD_HEADER      96
#define LB_PD_DICT        (1u << 20)   /* xz dictionary: the decoder's memory, per stream */
#define LB_PD_MEMLIMIT    (8u << 20)   /* a device refuses streams that need more */
#define LB_PD_MAX_FILE    (1ull << 31) /* a regular file a delta may rebuild */
#define LB_PD_MAX_CONTROL (16u << 20)  /* the control member */
#define LB_PD_END         0

#endif
