/* SPDX-License-Identifier: MIT */
/* Binary deltas of one file (per-file package deltas): bsdiff's matching with
 * its three streams interleaved into one, so that a single outer zstd stream
 * compresses the whole delta and a device applies it front to back with two
 * small buffers, reading the old file where the patch points.
 *
 * The encoder (bdiff.c, the master's) is Colin Percival's bsdiff 4 algorithm
 * over a suffix array of the old file (libdivsufsort): it finds approximate
 * matches, so that a region of new that is old with a few bytes changed (code
 * with shifted addresses) becomes a run of mostly zero differences. The decoder
 * (bpatch.c, the device's) shares nothing with it and needs no libdivsufsort.
 *
 * The stream, a file format: a sequence of records, each
 *
 *   ADD    unsigned LEB128 (7 bits a byte, low first, high bit = more follow)
 *   COPY   unsigned LEB128
 *   SEEK   signed, zigzag then unsigned LEB128 ((s << 1) ^ (s >> 63))
 *   ADD bytes   d[i] = new[out + i] - old[oldpos + i] (mod 256)
 *   COPY bytes  new[out + ADD + i], literally
 *
 * Applying a record appends old[oldpos + i] + d[i] (mod 256) for i < ADD, then
 * the COPY bytes, to the output; then oldpos += ADD + SEEK. oldpos starts at 0
 * and may leave the old file between records, but every ADD reads inside it.
 * The stream ends where the output reaches the new file's size, which the
 * decoder is told (there is no terminator, and no record after that point);
 * an empty new file is an empty stream. A varint is at most 10 bytes and
 * fits 64 bits. Records with ADD = COPY = 0 (a seek alone) are valid. */
#ifndef LB_BDIFF_H
#define LB_BDIFF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The largest old or new file the encoder takes: 2 GiB - 1 (32-bit suffix array). */
#define LB_BDIFF_MAX ((size_t)INT32_MAX)

/* Encode the delta from old to neu: emit(arg, buf, len) is called with pieces of
 * the stream of at most 64 KiB, in order (none for an empty neu); a negative
 * return stops the encoder and is returned. Memory: 4 * oldlen bytes for the
 * suffix array and 64 KiB. -EFBIG for inputs over LB_BDIFF_MAX, -ENOMEM. */
int lb_bdiff(const uint8_t *old, size_t oldlen, const uint8_t *neu, size_t newlen,
             int (*emit)(void *arg, const void *buf, size_t len), void *arg) LB_MUST;

/* Apply a delta stream to the old file (oldlen bytes, read with pread on oldfd)
 * to produce newlen bytes. rd(rarg, buf, len) must fill buf with exactly len
 * bytes of the stream or return a negative error; wr(warg, buf, len) takes the
 * output in order, in pieces of at most 64 KiB; a negative return from either
 * stops and is returned as is. Reads only up to the record that completes the
 * output; the caller checks anything after it, and the result's hash. The
 * stream is untrusted: a record that reads outside the old file or writes past
 * newlen, a bad varint -> -LBE_FORMAT ("patch: ..."); an old file shorter than
 * oldlen -> -LBE_HASH. Memory: 128 KiB whatever the sizes. */
int lb_bpatch(int oldfd, unsigned long long oldlen, unsigned long long newlen,
              int (*rd)(void *arg, void *buf, size_t len), void *rarg,
              int (*wr)(void *arg, const void *buf, size_t len), void *warg) LB_MUST;

/* lb_bpatch of a stream split in three (lib/pkgdelta.h): rd reads the records
 * (the three varints) with rarg, the ADD bytes with darg and the COPY bytes with
 * earg. lb_bpatch is lb_bpatch3 with the same argument for all three. */
int lb_bpatch3(int oldfd, unsigned long long oldlen, unsigned long long newlen,
               int (*rd)(void *arg, void *buf, size_t len), void *rarg, void *darg, void *earg,
               int (*wr)(void *arg, const void *buf, size_t len), void *warg) LB_MUST;

#endif
