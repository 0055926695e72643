/* SPDX-License-Identifier: MIT */
/* OS images as content-defined chunks (docs/os-image.md).
 *
 * The chunker cuts a byte stream where a rolling hash of the last 64 bytes
 * matches a mask (FastCDC's gear hash with normalized chunking: a harder mask
 * before the average size, an easier one after it, so that sizes cluster around
 * the average), never before min nor after max bytes. A boundary depends only
 * on the bytes just before it, so an insertion moves the boundaries near it and
 * no others: two versions of an image share every chunk they have in common.
 *
 * The chunk index names the chunks of one image in order: for each, the sha256
 * of its bytes, its length and the length of its zstd frame in the image's pack
 * file, which is the concatenation of those frames in the same order (and so is
 * itself a valid .zst of the whole image). Format, little-endian:
 *
 *   0   8  "LBCHUNK1"
 *   8   8  image size          16  8  pack size
 *   24  4  number of chunks    28 12  min, avg, max of the chunker
 *   40 32  sha256 of the image
 *   72 40  per chunk: sha256 (32), length (4), compressed length (4)
 */
#ifndef LB_CHUNK_H
#define LB_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define LB_CHUNK_AVG_DEFAULT (64u << 10)
#define LB_CHUNK_MIN_SIZE    (1u << 10) /* the smallest min the index accepts */
#define LB_CHUNK_MAX_SIZE    (4u << 20) /* the largest max the index accepts */
#define LB_CHUNK_COUNT_MAX   (1u << 24) /* chunks of one image */
#define LB_CHUNK_HEADER      72
#define LB_CHUNK_ENTRY       40

struct lb_cdc {
	uint32_t min, avg, max;
	uint64_t mask_s, mask_l; /* before / after avg */
	uint64_t h;
	uint32_t len; /* bytes of the current chunk so far */
};

/* avg: a power of two; min = avg / 4, max = avg * 4 (FastCDC's choice). */
int lb_cdc_init(struct lb_cdc *c, uint32_t avg) LB_MUST;
/* Same, with explicit bounds (an index's): min <= avg <= max, avg a power of two. */
int lb_cdc_init3(struct lb_cdc *c, uint32_t min, uint32_t avg, uint32_t max) LB_MUST;
/* Feed n bytes of the stream. Returns how many were taken into the current
 * chunk; *cut says the chunk ends there (the chunker is then reset for the
 * next). Without a cut all n were taken. The boundaries do not depend on how
 * the stream is split into calls. */
size_t lb_cdc_next(struct lb_cdc *c, const unsigned char *p, size_t n, bool *cut);

struct lb_chunk {
	unsigned char sha[32];
	uint32_t len, clen;
	uint64_t off, coff; /* in the image, in the pack (derived) */
};

struct lb_chunk_index {
	uint64_t image_size, pack_size;
	uint32_t min, avg, max;
	unsigned char image_sha[32];
	size_t n;
	struct lb_chunk *c;
};

/* Parse and check an index file's bytes (sizes add up, bounds hold); the
 * offsets are filled in. -LBE_FORMAT with a message naming what is wrong. */
int lb_chunk_index_parse(const void *buf, size_t len, struct lb_chunk_index *ix) LB_MUST;
/* The bytes of ix (malloc'd): LB_CHUNK_HEADER + n * LB_CHUNK_ENTRY. */
int lb_chunk_index_format(const struct lb_chunk_index *ix, unsigned char **out,
                          size_t *len) LB_MUST;
void lb_chunk_index_free(struct lb_chunk_index *ix);

/* Deltas (docs/os-update.md, "Deltas"): the chunks of an image V2 that an older
 * image V1 lacks, each compressed with a window of V1's bytes as the zstd prefix
 * (ZSTD_CCtx_refPrefix), for devices that hold V1:
 *   images/<V2>.from-<V1>.delta    the frames, in V2's order
 *   images/<V2>.from-<V1>.dindex   which chunk each frame is, little-endian:
 *   0   8  "LBDELTA1"
 *   8  32  sha256 of V2            40 32  sha256 of V1 (the base)
 *   72  8  size of V1              80  8  size of the .delta file
 *   88  4  number of entries
 *   92 20  per entry, by ascending chunk: chunk number in V2 (4), offset (8) and
 *          length (4) of the reference in V1, length of the frame (4)
 * A frame is only there when it is smaller than the chunk's own frame. */
#define LB_DELTA_HEADER  92
#define LB_DELTA_ENTRY   20
#define LB_DELTA_REF_MAX (256u << 10) /* a reference's bytes: the device reads them at once */

struct lb_delta {
	uint32_t chunk, ref_len, flen;
	uint64_t ref_off, foff; /* in V1, in the .delta file (derived) */
};

struct lb_delta_index {
	unsigned char image_sha[32], base_sha[32];
	uint64_t base_size, pack_size;
	size_t n;
	struct lb_delta *d;
};

/* Parse and check a delta index against the chunk index of V2 it is for (chunk
 * numbers ascending and in range, each frame smaller than the chunk's own,
 * references inside V1 and at most LB_DELTA_REF_MAX). */
int lb_delta_index_parse(const void *buf, size_t len, const struct lb_chunk_index *ix,
                         struct lb_delta_index *dx) LB_MUST;
int lb_delta_index_format(const struct lb_delta_index *dx, unsigned char **out,
                          size_t *len) LB_MUST;
void lb_delta_index_free(struct lb_delta_index *dx);

/* Resemblance: content-defined anchors of a buffer, about one per 256 bytes,
 * each with the gear hash of the 64 bytes before it (the same bytes give the
 * same anchors and hashes wherever they are). fn is called for each, in order. */
void lb_delta_anchors(const unsigned char *p, size_t n,
                      void (*fn)(void *arg, uint64_t hash, size_t pos), void *arg);

#endif
