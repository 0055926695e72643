/* SPDX-License-Identifier: MIT */
/* Writing an OS image onto a slot from its chunk index (lib/chunk.h), with only
 * what the device does not have fetched (docs/os-image.md).
 *
 * Plan: every chunk of the new image is looked for, in this order,
 *   1. in the target slot at its own offset: already right (a write that was cut
 *      off and is resumed; an unchanged region);
 *   2. in the other sources (the running slot, older images), cut by the same
 *      chunker as the index, and in the target slot's old content at an offset
 *      at or after the chunk's own: the slot is written front to back, so the
 *      bytes there are still the old ones when the chunk is written;
 *   3. in the cache directory (frames fetched ahead, <sha256>.zst);
 *   4. else it is fetched: the missing chunks' frames are ranges of the pack file,
 *      adjacent ones merged, many ranges per request (lb_fetch_ranges).
 * Write: front to back through the flash module, driven by the fetch: as each
 * fetched frame completes, the chunks before it are copied from where the plan
 * found them. Every chunk's sha256 is checked before it is written; a local copy
 * that no longer matches (the running slot changed) is fetched on its own.
 * Memory: the plan (~30 bytes a chunk) and a few buffers of the largest chunk. */
#ifndef LB_IMGWRITE_H
#define LB_IMGWRITE_H

#include <stdbool.h>

#include "chunk.h"
#include "error.h"
#include "fetch.h"
#include "flash.h"

struct lb_imgsrc {
	const char *path;         /* a device or file with an older image */
	unsigned long long limit; /* how many of its bytes to look at, 0: all */
};

/* A file or device that holds, from its start, an older image the state has a
 * delta from (lib/chunk.h, "Deltas"): every chunk the plan would fetch that has
 * a delta entry is fetched as its delta frame instead (ranges of the delta file,
 * in batches) and decoded with the reference bytes read from path as the zstd
 * prefix; a chunk that does not come out right (the base changed) is fetched
 * plain on its own. In place (path is the target): during the write only
 * references at or after the chunk's own offset, not yet overwritten; fetching
 * ahead (the slot still intact) uses them all. */
struct lb_imgbase {
	const char *path;
	const struct lb_delta_index *dx;
	const char *delta_url;
	bool in_place;
};

struct lb_imgwrite_stats {
	unsigned long long chunks, right, local, cached, fetched, refetched;
	unsigned long long deltas;      /* of fetched: as delta frames */
	unsigned long long fetch_bytes; /* compressed bytes of the fetched chunks */
	unsigned long long requests;
};

struct lb_imgwrite {
	const struct lb_chunk_index *ix;
	const char *pack_url;
	struct lb_fetch *f;
	int cachefd;      /* frames fetched ahead, -1: none */
	const char *slot; /* the target: read for what is already there */
	const struct lb_imgsrc *src;
	size_t nsrc;
	const struct lb_imgbase *base; /* NULL: no deltas */
	bool quiet;
	struct lb_imgwrite_stats st;
	void *priv;
};

/* Find every chunk (steps 1-3 above); fills st except requests. */
int lb_imgwrite_plan(struct lb_imgwrite *w) LB_MUST;
/* Write the image through fl (opened on w->slot for the index's image), then
 * finish and verify it. */
int lb_imgwrite_run(struct lb_imgwrite *w, struct lb_flash *fl) LB_MUST;
/* For a rewrite of the slot in place by the rescue system (single-slot
 * devices): put into the cache every chunk that write would have to fetch, or
 * would find only in a part of the slot it overwrites first. Stops, with
 * *complete false, when the cache's file system would keep less than reserve
 * bytes free. */
int lb_imgwrite_prefetch(struct lb_imgwrite *w, unsigned long long reserve, bool *complete) LB_MUST;
void lb_imgwrite_free(struct lb_imgwrite *w);

#endif
