/* SPDX-License-Identifier: MIT */
/* Content-defined chunking and the chunk index (chunk.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"

/* The gear table: 256 64-bit values from splitmix64 seeded with "lifeboat".
 * Part of the format: a master and a device with different tables would cut
 * the same bytes differently (and share nothing). */
static uint64_t gear[256];

static void gear_init(void)
{
	if (gear[0])
		return;
	uint64_t x = 0x6c696665626f6174ull;
	for (int i = 0; i < 256; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		gear[i] = z ^ (z >> 31);
	}
}

/* The top bits of the hash: with a shift of one per byte, bit 63 depends on the
 * last 64 bytes, the low bits on only the last few. */
static uint64_t top_bits(unsigned bits)
{
	return bits >= 64 ? ~0ull : ~0ull << (64 - bits);
}

int lb_cdc_init3(struct lb_cdc *c, uint32_t min, uint32_t avg, uint32_t max)
{
	if (avg < 256 || (avg & (avg - 1)) || min < 64 || min > avg || max < avg ||
	    max > LB_CHUNK_MAX_SIZE)
		return -EINVAL;
	gear_init();
	unsigned k = 0;
	while ((1u << k) < avg)
		k++;
	memset(c, 0, sizeof *c);
	c->min = min;
	c->avg = avg;
	c->max = max;
	/* normalized chunking, level 2: two bits harder before avg, two easier after */
	c->mask_s = top_bits(k + 2);
	c->mask_l = top_bits(k - 2);
	return 0;
}

int lb_cdc_init(struct lb_cdc *c, uint32_t avg)
{
	return lb_cdc_init3(c, avg / 4, avg, avg * 4);
}

size_t lb_cdc_next(struct lb_cdc *c, const unsigned char *p, size_t n, bool *cut)
{
	size_t i = 0;
	*cut = false;
	/* Below min - 64 no byte can influence the hash at min: skip them. */
	uint32_t start = c->min - 64;
	if (c->len < start) {
		size_t skip = start - c->len;
		if (skip >= n) {
			c->len += (uint32_t)n;
			return n;
		}
		i = skip;
		c->len = start;
		c->h = 0;
	}
	uint64_t h = c->h;
	uint32_t len = c->len;
	for (; i < n; i++) {
		h = (h << 1) + gear[p[i]];
		len++;
		if (len < c->min)
			continue;
		if (len >= c->max || !(h & (len < c->avg ? c->mask_s : c->mask_l))) {
			c->h = 0;
			c->len = 0;
			*cut = true;
			return i + 1;
		}
	}
	c->h = h;
	c->len = len;
	return n;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int lb_chunk_index_parse(const void *buf, size_t len, struct lb_chunk_index *ix)
{
	const unsigned char *p = buf;
	memset(ix, 0, sizeof *ix);
	if (len < LB_CHUNK_HEADER || memcmp(p, "LBCHUNK1", 8))
		return lb_errf(-LBE_FORMAT, "not a chunk index (no LBCHUNK1 header)");
	ix->image_size = get64(p + 8);
	ix->pack_size = get64(p + 16);
	uint32_t n = get32(p + 24);
	ix->min = get32(p + 28);
	ix->avg = get32(p + 32);
	ix->max = get32(p + 36);
	memcpy(ix->image_sha, p + 40, 32);
	struct lb_cdc probe;
	if (ix->min < LB_CHUNK_MIN_SIZE || lb_cdc_init3(&probe, ix->min, ix->avg, ix->max))
		return lb_errf(-LBE_FORMAT, "chunk index: bad chunker bounds %u/%u/%u", ix->min,
		               ix->avg, ix->max);
	if (!n || n > LB_CHUNK_COUNT_MAX || len != LB_CHUNK_HEADER + (size_t)n * LB_CHUNK_ENTRY)
		return lb_errf(-LBE_FORMAT, "chunk index: %zu bytes for %u chunks", len, n);
	if (!(ix->c = calloc(n, sizeof *ix->c)))
		return -ENOMEM;
	ix->n = n;
	uint64_t off = 0, coff = 0;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = p + LB_CHUNK_HEADER + i * LB_CHUNK_ENTRY;
		struct lb_chunk *c = &ix->c[i];
		memcpy(c->sha, e, 32);
		c->len = get32(e + 32);
		c->clen = get32(e + 36);
		c->off = off;
		c->coff = coff;
		/* the last chunk may be shorter than min; none is longer than max, and a
		 * zstd frame of len bytes is never much larger (ZSTD_compressBound) */
		if (!c->len || c->len > ix->max || (c->len < ix->min && i + 1 < n) || !c->clen ||
		    c->clen > c->len + (c->len >> 7) + 1024) {
			lb_chunk_index_free(ix);
			return lb_errf(-LBE_FORMAT, "chunk index: chunk %zu: bad length", i);
		}
		off += c->len;
		coff += c->clen;
	}
	if (off != ix->image_size || coff != ix->pack_size) {
		lb_chunk_index_free(ix);
		return lb_errf(-LBE_FORMAT, "chunk index: chunks do not add up to the sizes");
	}
	return 0;
}

int lb_chunk_index_format(const struct lb_chunk_index *ix, unsigned char **out, size_t *len)
{
	size_t n = LB_CHUNK_HEADER + ix->n * LB_CHUNK_ENTRY;
	unsigned char *p = calloc(1, n);
	if (!p)
		return -ENOMEM;
	memcpy(p, "LBCHUNK1", 8);
	put64(p + 8, ix->image_size);
	put64(p + 16, ix->pack_size);
	put32(p + 24, (uint32_t)ix->n);
	put32(p + 28, ix->min);
	put32(p + 32, ix->avg);
	put32(p + 36, ix->max);
	memcpy(p + 40, ix->image_sha, 32);
	for (size_t i = 0; i < ix->n; i++) {
		unsigned char *e = p + LB_CHUNK_HEADER + i * LB_CHUNK_ENTRY;
		memcpy(e, ix->c[i].sha, 32);
		put32(e + 32, ix->c[i].len);
		put32(e + 36, ix->c[i].clen);
	}
	*out = p;
	*len = n;
	return 0;
}

void lb_chunk_index_free(struct lb_chunk_index *ix)
{
	free(ix->c);
	ix->c = NULL;
	ix->n = 0;
}

int lb_delta_index_parse(const void *buf, size_t len, const struct lb_chunk_index *ix,
                         struct lb_delta_index *dx)
{
	const unsigned char *p = buf;
	memset(dx, 0, sizeof *dx);
	if (len < LB_DELTA_HEADER || memcmp(p, "LBDELTA1", 8))
		return lb_errf(-LBE_FORMAT, "not a delta index (no LBDELTA1 header)");
	memcpy(dx->image_sha, p + 8, 32);
	memcpy(dx->base_sha, p + 40, 32);
	dx->base_size = get64(p + 72);
	dx->pack_size = get64(p + 80);
	uint32_t n = get32(p + 88);
	if (n > ix->n || len != LB_DELTA_HEADER + (size_t)n * LB_DELTA_ENTRY)
		return lb_errf(-LBE_FORMAT, "delta index: %zu bytes for %u entries", len, n);
	if (memcmp(dx->image_sha, ix->image_sha, 32))
		return lb_errf(-LBE_FORMAT, "delta index: for another image");
	if (n && !(dx->d = calloc(n, sizeof *dx->d)))
		return -ENOMEM;
	dx->n = n;
	uint64_t foff = 0;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = p + LB_DELTA_HEADER + i * LB_DELTA_ENTRY;
		struct lb_delta *d = &dx->d[i];
		d->chunk = get32(e);
		d->ref_off = get64(e + 4);
		d->ref_len = get32(e + 12);
		d->flen = get32(e + 16);
		d->foff = foff;
		if (d->chunk >= ix->n || (i && d->chunk <= dx->d[i - 1].chunk) || !d->flen ||
		    d->flen >= ix->c[d->chunk].clen || !d->ref_len ||
		    d->ref_len > LB_DELTA_REF_MAX || d->ref_off > dx->base_size ||
		    d->ref_len > dx->base_size - d->ref_off) {
			lb_delta_index_free(dx);
			return lb_errf(-LBE_FORMAT, "delta index: entry %zu: bad values", i);
		}
		foff += d->flen;
	}
	if (foff != dx->pack_size) {
		lb_delta_index_free(dx);
		return lb_errf(-LBE_FORMAT, "delta index: frames do not add up to the size");
	}
	return 0;
}

int lb_delta_index_format(const struct lb_delta_index *dx, unsigned char **out, size_t *len)
{
	size_t n = LB_DELTA_HEADER + dx->n * LB_DELTA_ENTRY;
	unsigned char *p = calloc(1, n);
	if (!p)
		return -ENOMEM;
	memcpy(p, "LBDELTA1", 8);
	memcpy(p + 8, dx->image_sha, 32);
	memcpy(p + 40, dx->base_sha, 32);
	put64(p + 72, dx->base_size);
	put64(p + 80, dx->pack_size);
	put32(p + 88, (uint32_t)dx->n);
	for (size_t i = 0; i < dx->n; i++) {
		unsigned char *e = p + LB_DELTA_HEADER + i * LB_DELTA_ENTRY;
		put32(e, dx->d[i].chunk);
		put64(e + 4, dx->d[i].ref_off);
		put32(e + 12, dx->d[i].ref_len);
		put32(e + 16, dx->d[i].flen);
	}
	*out = p;
	*len = n;
	return 0;
}

void lb_delta_index_free(struct lb_delta_index *dx)
{
	free(dx->d);
	dx->d = NULL;
	dx->n = 0;
}

void lb_delta_anchors(const unsigned char *p, size_t n,
                      void (*fn)(void *arg, uint64_t hash, size_t pos), void *arg)
{
	gear_init();
	uint64_t h = 0, last = 0;
	for (size_t i = 0; i < n; i++) {
		h = (h << 1) + gear[p[i]];
		/* the top byte zero: one in 256; a run of the same bytes (zeros) gives the
		 * same hash again and again: counted once */
		if (i >= 63 && !(h >> 56) && h != last) {
			fn(arg, h, i + 1);
			last = h;
		}
	}
}
