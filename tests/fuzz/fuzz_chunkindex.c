/* SPDX-License-Identifier: MIT */
/* Chunk index (lib/chunk.h): parse; on failure nothing is left allocated; on
 * success the chunker's bounds are valid, every chunk is 1..max bytes (at least
 * min but the last), its frame bounded, the offsets consecutive and the sums the
 * header's sizes, and formatting gives back the very bytes parsed. The input is
 * also cut by the chunker, in one call and in pieces: the same boundaries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the ends of the chunks of data, fed in pieces of step bytes (0: all at once) */
static size_t cut_all(const uint8_t *data, size_t size, size_t step, size_t *ends, size_t cap)
{
	struct lb_cdc c;
	if (lb_cdc_init3(&c, 64, 256, 1024))
		abort();
	size_t n = 0, pos = 0;
	while (pos < size) {
		size_t len = size - pos;
		if (step && len > step)
			len = step;
		while (len) {
			bool cut;
			size_t k = lb_cdc_next(&c, data + pos, len, &cut);
			if (k > len || (!cut && k != len))
				abort();
			pos += k;
			len -= k;
			if (cut && n < cap)
				ends[n++] = pos;
		}
	}
	return n;
}

static void check_chunker(const uint8_t *data, size_t size)
{
	enum { CAP = 4096 };
	static size_t a[CAP], b[CAP];
	if (!size)
		return;
	size_t na = cut_all(data, size, 0, a, CAP);
	size_t nb = cut_all(data, size, 1 + data[0] % 97, b, CAP);
	if (na != nb || memcmp(a, b, na * sizeof *a))
		abort();
	for (size_t i = 0; i < na; i++) {
		size_t len = a[i] - (i ? a[i - 1] : 0);
		if (len < 64 || len > 1024)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_chunker(data, size);
	struct lb_chunk_index ix;
	if (lb_chunk_index_parse(data, size, &ix) < 0) {
		if (ix.c || ix.n)
			abort();
		return 0;
	}
	struct lb_cdc probe;
	if (!ix.n || ix.n > LB_CHUNK_COUNT_MAX || ix.min < LB_CHUNK_MIN_SIZE ||
	    lb_cdc_init3(&probe, ix.min, ix.avg, ix.max))
		abort();
	uint64_t off = 0, coff = 0;
	for (size_t i = 0; i < ix.n; i++) {
		const struct lb_chunk *c = &ix.c[i];
		if (!c->len || c->len > ix.max || (c->len < ix.min && i + 1 < ix.n) || !c->clen ||
		    c->clen > c->len + (c->len >> 7) + 1024 || c->off != off || c->coff != coff)
			abort();
		off += c->len;
		coff += c->clen;
	}
	if (off != ix.image_size || coff != ix.pack_size)
		abort();
	unsigned char *out = NULL;
	size_t len = 0;
	if (lb_chunk_index_format(&ix, &out, &len))
		abort();
	if (len != size || memcmp(out, data, size))
		abort();
	free(out);
	lb_chunk_index_free(&ix);
	if (ix.c || ix.n)
		abort();
	return 0;
}
