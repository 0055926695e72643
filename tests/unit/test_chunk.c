/* SPDX-License-Identifier: MIT */
/* Content-defined chunking (lib/chunk.h): boundaries that do not depend on how the
 * stream is fed, bounds, stability after an insertion, the average; and the chunk
 * index format: round trip, and what parse refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"

#define MIB (1u << 20)

/* deterministic bytes (splitmix64) */
static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		for (size_t k = 0; k < 8 && i + k < n; k++)
			p[i + k] = (unsigned char)(z >> (8 * k));
	}
}

static unsigned char *random_buf(size_t n, uint64_t seed)
{
	unsigned char *p = malloc(n);
	assert_non_null(p);
	fill_random(p, n, seed);
	return p;
}

struct cuts {
	size_t n;
	size_t *end; /* the end offset of each chunk; the last is the stream's end */
};

static void cuts_add(struct cuts *c, size_t end)
{
	size_t *e = realloc(c->end, (c->n + 1) * sizeof *e);
	assert_non_null(e);
	c->end = e;
	c->end[c->n++] = end;
}

/* Chunk p[0..n) with the chunker (min, avg, max), fed in pieces of at most step
 * bytes (0: one call for all of it; a step < 0 picks random piece sizes). The
 * bytes left after the last cut are the last chunk. */
static struct cuts chunk_with(const unsigned char *p, size_t n, uint32_t min, uint32_t avg,
                              uint32_t max, long step)
{
	struct lb_cdc cdc;
	assert_int_equal(lb_cdc_init3(&cdc, min, avg, max), 0);
	struct cuts c = {0};
	uint64_t rnd = 12345;
	size_t pos = 0, since = 0;
	while (pos < n) {
		size_t len = n - pos;
		if (step > 0 && len > (size_t)step)
			len = (size_t)step;
		if (step < 0) {
			rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
			size_t k = 1 + (size_t)((rnd >> 33) % (size_t)-step);
			len = k < len ? k : len;
		}
		/* the piece is handed over until all of it is taken */
		while (len) {
			bool cut;
			size_t k = lb_cdc_next(&cdc, p + pos, len, &cut);
			assert_true(k <= len);
			assert_true(k > 0 || !cut);
			pos += k;
			len -= k;
			since += k;
			if (cut) {
				cuts_add(&c, pos);
				since = 0;
			} else {
				assert_int_equal(len, 0);
			}
		}
	}
	if (since)
		cuts_add(&c, n);
	return c;
}

static struct cuts chunk_default(const unsigned char *p, size_t n, uint32_t avg, long step)
{
	return chunk_with(p, n, avg / 4, avg, avg * 4, step);
}

static void assert_cuts_equal(const struct cuts *a, const struct cuts *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_int_equal(a->end[i], b->end[i]);
}

static size_t chunk_len(const struct cuts *c, size_t i)
{
	return c->end[i] - (i ? c->end[i - 1] : 0);
}

static void test_init(void **state)
{
	(void)state;
	struct lb_cdc c;
	assert_int_equal(lb_cdc_init(&c, 65536), 0);
	assert_int_equal(c.min, 16384);
	assert_int_equal(c.avg, 65536);
	assert_int_equal(c.max, 262144);
	/* the smallest average whose index devices accept (lifeboat-master's --chunk-size) */
	assert_int_equal(lb_cdc_init(&c, 4096), 0);
	assert_int_equal(c.min, LB_CHUNK_MIN_SIZE);
	assert_int_equal(lb_cdc_init(&c, 1024), 0);
	assert_int_equal(lb_cdc_init(&c, 1u << 20), 0);
	assert_int_equal(lb_cdc_init(&c, 65535), -EINVAL);    /* not a power of two */
	assert_int_equal(lb_cdc_init(&c, 128), -EINVAL);      /* too small */
	assert_int_equal(lb_cdc_init(&c, 2u << 20), -EINVAL); /* max past 4 MiB */
	assert_int_equal(lb_cdc_init3(&c, 1024, 4096, 16384), 0);
	assert_int_equal(lb_cdc_init3(&c, 4096, 4096, 4096), 0);
	assert_int_equal(lb_cdc_init3(&c, 8192, 4096, 16384), -EINVAL); /* min > avg */
	assert_int_equal(lb_cdc_init3(&c, 1024, 4096, 2048), -EINVAL);  /* max < avg */
	assert_int_equal(lb_cdc_init3(&c, 32, 4096, 16384), -EINVAL);   /* min < 64 */
	assert_int_equal(lb_cdc_init3(&c, 1024, 4096, LB_CHUNK_MAX_SIZE + 1), -EINVAL);
	assert_int_equal(lb_cdc_init3(&c, 1024, 3000, 16384), -EINVAL);
}

/* one call, pieces of every size, random pieces: the same cuts */
static void test_boundaries_independent_of_split(void **state)
{
	(void)state;
	size_t n = 2 * MIB + 333;
	unsigned char *p = random_buf(n, 1);
	struct cuts whole = chunk_default(p, n, 4096, 0);
	assert_true(whole.n > 100);
	static const long steps[] = {1, 7, 63, 64, 65, 1000, 1023, 1024, 4096, 65536, -5000, -70};
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		struct cuts c = chunk_default(p, n, 4096, steps[s]);
		assert_cuts_equal(&whole, &c);
		free(c.end);
	}
	free(whole.end);
	free(p);
}

static void test_identical_data_identical_boundaries(void **state)
{
	(void)state;
	size_t n = 3 * MIB;
	unsigned char *p = random_buf(n, 2), *q = random_buf(n, 2);
	struct cuts a = chunk_default(p, n, 65536, 0), b = chunk_default(q, n, 65536, 8192);
	assert_cuts_equal(&a, &b);
	/* and the same bytes at another place of another stream start the same way
	 * once a boundary is shared: the stream from a cut on is cut alike */
	struct cuts tail = chunk_default(p + a.end[0], n - a.end[0], 65536, 0);
	assert_int_equal(tail.n, a.n - 1);
	for (size_t i = 0; i < tail.n; i++)
		assert_int_equal(tail.end[i] + a.end[0], a.end[i + 1]);
	free(tail.end);
	free(a.end);
	free(b.end);
	free(p);
	free(q);
}

/* every chunk but the last is within [min, max]; the last may be shorter */
static void test_bounds(void **state)
{
	(void)state;
	size_t n = 4 * MIB + 17;
	unsigned char *p = random_buf(n, 3);
	static const uint32_t b[][3] = {
	    {1024, 4096, 16384}, {4096, 4096, 4096}, {256, 8192, 9000}, {16384, 65536, 262144}};
	for (size_t k = 0; k < sizeof b / sizeof b[0]; k++) {
		struct cuts c = chunk_with(p, n, b[k][0], b[k][1], b[k][2], -30000);
		assert_int_equal(c.end[c.n - 1], n);
		for (size_t i = 0; i < c.n; i++) {
			assert_true(chunk_len(&c, i) <= b[k][2]);
			if (i + 1 < c.n)
				assert_true(chunk_len(&c, i) >= b[k][0]);
		}
		free(c.end);
	}
	/* min == avg == max: every chunk has exactly that size */
	struct cuts c = chunk_with(p, n, 4096, 4096, 4096, 0);
	for (size_t i = 0; i + 1 < c.n; i++)
		assert_int_equal(chunk_len(&c, i), 4096);
	free(c.end);
	/* no content boundaries at all (zeros): cut at max */
	memset(p, 0, n);
	c = chunk_default(p, n, 4096, 1000);
	for (size_t i = 0; i + 1 < c.n; i++) {
		assert_true(chunk_len(&c, i) >= 1024);
		assert_true(chunk_len(&c, i) <= 16384);
	}
	free(c.end);
	free(p);
}

/* the bytes after the last cut are a chunk of their own, shorter than min */
static void test_last_chunk_short(void **state)
{
	(void)state;
	size_t n = MIB;
	unsigned char *p = random_buf(n, 4);
	struct cuts c = chunk_default(p, n, 4096, 0);
	assert_true(c.n > 3);
	size_t m = c.end[2] + 10; /* 10 bytes past the third cut */
	struct cuts d = chunk_default(p, m, 4096, 0);
	assert_int_equal(d.n, 4);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(d.end[i], c.end[i]);
	assert_int_equal(chunk_len(&d, 3), 10);
	/* a stream shorter than min: one chunk */
	struct cuts e = chunk_default(p, 100, 4096, 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.end[0], 100);
	free(c.end);
	free(d.end);
	free(e.end);
	free(p);
}

/* Stable boundaries after insertions: a few bytes inserted in the middle of
 * 4 MiB change only the chunks near them; every later boundary stays, shifted. */
static void check_insertion(uint32_t avg, size_t at, const char *ins)
{
	size_t n = 4 * MIB, k = strlen(ins);
	unsigned char *p = random_buf(n, 5), *q = malloc(n + k);
	assert_non_null(q);
	memcpy(q, p, at);
	memcpy(q + at, ins, k);
	memcpy(q + at + k, p + at, n - at);
	struct cuts a = chunk_default(p, n, avg, 0), b = chunk_default(q, n + k, avg, 0);
	/* the boundaries before the insertion are the same */
	size_t before = 0;
	while (before < a.n && a.end[before] <= at)
		before++;
	for (size_t i = 0; i < before; i++)
		assert_int_equal(a.end[i], b.end[i]);
	/* after it, each old boundary is there shifted by k, except a few near it */
	size_t kept = 0, after = a.n - before, j = 0;
	for (size_t i = before; i < a.n; i++) {
		while (j < b.n && b.end[j] < a.end[i] + k)
			j++;
		if (j < b.n && b.end[j] == a.end[i] + k)
			kept++;
	}
	assert_true(after > 20);
	assert_true(kept + 2 >= after);
	/* so the new version has at most a few chunks the old one lacks */
	size_t changed = 0;
	for (size_t i = 0; i < b.n; i++) {
		size_t s = i ? b.end[i - 1] : 0, len = b.end[i] - s;
		bool shared = false;
		for (size_t t = 0; t < a.n && !shared; t++) {
			size_t s0 = t ? a.end[t - 1] : 0;
			shared = a.end[t] - s0 == len && !memcmp(p + s0, q + s, len);
		}
		changed += !shared;
	}
	assert_true(changed >= 1);
	assert_true(changed <= 3);
	free(a.end);
	free(b.end);
	free(p);
	free(q);
}

static void test_stable_boundaries_after_insertion(void **state)
{
	(void)state;
	check_insertion(16384, 2 * MIB, "abc");
	check_insertion(16384, 2 * MIB + 4321, "inserted!");
	check_insertion(65536, 2 * MIB - 1, "x");
	check_insertion(4096, MIB + 77, "a few bytes more");
}

/* the sizes cluster around avg on random data */
static void test_average_near_avg(void **state)
{
	(void)state;
	size_t n = 16 * MIB;
	unsigned char *p = random_buf(n, 6);
	static const uint32_t avgs[] = {4096, 16384, 65536};
	for (size_t k = 0; k < sizeof avgs / sizeof avgs[0]; k++) {
		struct cuts c = chunk_default(p, n, avgs[k], 0);
		double mean = (double)n / (double)c.n;
		assert_true(mean > avgs[k] * 0.6);
		assert_true(mean < avgs[k] * 1.6);
		free(c.end);
	}
	free(p);
}

/* ---- the index ---- */

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

/* an index of 5 chunks (avg 4096): 4000, 16384, 1024, 9999, 10 bytes */
static const uint32_t lens[] = {4000, 16384, 1024, 9999, 10};
static const uint32_t clens[] = {1000, 16400, 1024, 3, 19};

static void make_index(struct lb_chunk_index *ix)
{
	memset(ix, 0, sizeof *ix);
	ix->min = 1024;
	ix->avg = 4096;
	ix->max = 16384;
	ix->n = sizeof lens / sizeof lens[0];
	ix->c = calloc(ix->n, sizeof *ix->c);
	assert_non_null(ix->c);
	for (size_t i = 0; i < ix->n; i++) {
		fill_random(ix->c[i].sha, 32, 100 + i);
		ix->c[i].len = lens[i];
		ix->c[i].clen = clens[i];
		ix->image_size += lens[i];
		ix->pack_size += clens[i];
	}
	fill_random(ix->image_sha, 32, 99);
}

static int parse(const unsigned char *buf, size_t len, struct lb_chunk_index *ix)
{
	lb_err_clear();
	return lb_chunk_index_parse(buf, len, ix);
}

static void test_index_round_trip(void **state)
{
	(void)state;
	struct lb_chunk_index ix, back;
	make_index(&ix);
	unsigned char *buf;
	size_t len;
	assert_int_equal(lb_chunk_index_format(&ix, &buf, &len), 0);
	assert_int_equal(len, LB_CHUNK_HEADER + 5 * LB_CHUNK_ENTRY);
	assert_memory_equal(buf, "LBCHUNK1", 8);
	assert_int_equal(parse(buf, len, &back), 0);
	assert_int_equal(back.n, 5);
	assert_int_equal(back.image_size, ix.image_size);
	assert_int_equal(back.pack_size, ix.pack_size);
	assert_int_equal(back.min, 1024);
	assert_int_equal(back.avg, 4096);
	assert_int_equal(back.max, 16384);
	assert_memory_equal(back.image_sha, ix.image_sha, 32);
	uint64_t off = 0, coff = 0;
	for (size_t i = 0; i < 5; i++) {
		assert_memory_equal(back.c[i].sha, ix.c[i].sha, 32);
		assert_int_equal(back.c[i].len, lens[i]);
		assert_int_equal(back.c[i].clen, clens[i]);
		assert_int_equal(back.c[i].off, off);
		assert_int_equal(back.c[i].coff, coff);
		off += lens[i];
		coff += clens[i];
	}
	/* formatting what was parsed gives the same bytes */
	unsigned char *again;
	size_t len2;
	assert_int_equal(lb_chunk_index_format(&back, &again, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	/* one chunk, the last (so shorter than min) */
	struct lb_chunk_index one = ix;
	one.n = 1;
	one.c = &ix.c[4];
	one.image_size = 10;
	one.pack_size = 19;
	free(again);
	assert_int_equal(lb_chunk_index_format(&one, &again, &len2), 0);
	lb_chunk_index_free(&back);
	assert_int_equal(parse(again, len2, &back), 0);
	assert_int_equal(back.n, 1);
	assert_int_equal(back.c[0].len, 10);
	lb_chunk_index_free(&back);
	free(again);
	free(buf);
	lb_chunk_index_free(&ix);
	assert_null(ix.c);
	assert_int_equal(ix.n, 0);
}

/* a copy of a good index with one change; parse refuses it with LBE_FORMAT and a
 * message that says pat */
static void refuse(const unsigned char *good, size_t len, size_t newlen,
                   void (*change)(unsigned char *), const char *pat)
{
	unsigned char *b = calloc(1, newlen > len ? newlen : len);
	assert_non_null(b);
	memcpy(b, good, len);
	if (change)
		change(b);
	struct lb_chunk_index ix;
	assert_int_equal(parse(b, newlen, &ix), -LBE_FORMAT);
	assert_null(ix.c);
	assert_int_equal(ix.n, 0);
	if (!strstr(lb_err_msg(), pat))
		fail_msg("'%s' lacks '%s'", lb_err_msg(), pat);
	free(b);
}

#define ENTRY(i) (LB_CHUNK_HEADER + (i)*LB_CHUNK_ENTRY)

static void bad_magic(unsigned char *b)
{
	b[7] = '2';
}
static void more_chunks(unsigned char *b)
{
	put32(b + 24, 6);
}
static void no_chunks(unsigned char *b)
{
	put32(b + 24, 0);
}
static void huge_count(unsigned char *b)
{
	put32(b + 24, 0xffffffffu);
}
static void image_size_off(unsigned char *b)
{
	put64(b + 8, 4000 + 16384 + 1024 + 9999 + 10 + 1);
}
static void pack_size_off(unsigned char *b)
{
	put64(b + 16, 1000 + 16400 + 1024 + 3 + 19 - 1);
}
static void chunk_too_long(unsigned char *b)
{
	/* 16385 bytes, and the image size still adds up */
	put32(b + ENTRY(1) + 32, 16385);
	put32(b + ENTRY(0) + 32, 3999);
}
static void chunk_zero(unsigned char *b)
{
	put32(b + ENTRY(4) + 32, 0);
	put32(b + ENTRY(3) + 32, 10009);
}
static void chunk_below_min(unsigned char *b)
{
	/* only the last chunk may be shorter than min */
	put32(b + ENTRY(2) + 32, 1023);
	put32(b + ENTRY(4) + 32, 11);
}
static void frame_zero(unsigned char *b)
{
	put32(b + ENTRY(3) + 36, 0);
	put64(b + 16, 1000 + 16400 + 1024 + 19);
}
static void frame_too_long(unsigned char *b)
{
	/* no zstd frame of 10 bytes is this long */
	put32(b + ENTRY(4) + 36, 1000000);
	put64(b + 16, 1000 + 16400 + 1024 + 3 + 1000000);
}
static void min_small(unsigned char *b)
{
	put32(b + 28, 512);
}
static void min_over_avg(unsigned char *b)
{
	put32(b + 28, 8192);
}
static void avg_odd(unsigned char *b)
{
	put32(b + 32, 4095);
}
static void max_under_avg(unsigned char *b)
{
	put32(b + 36, 2048);
}
static void max_huge(unsigned char *b)
{
	put32(b + 36, LB_CHUNK_MAX_SIZE + 1);
}

static void test_index_refused(void **state)
{
	(void)state;
	struct lb_chunk_index ix;
	make_index(&ix);
	unsigned char *g;
	size_t len;
	assert_int_equal(lb_chunk_index_format(&ix, &g, &len), 0);
	lb_chunk_index_free(&ix);
	assert_int_equal(parse(g, len, &ix), 0); /* the changes below are what parse sees */
	lb_chunk_index_free(&ix);

	refuse(g, len, len, bad_magic, "no LBCHUNK1 header");
	refuse(g, len, 0, NULL, "no LBCHUNK1 header");
	refuse(g, len, LB_CHUNK_HEADER - 1, NULL, "no LBCHUNK1 header");
	/* the length does not fit the count */
	refuse(g, len, len - 1, NULL, "bytes for 5 chunks");
	refuse(g, len, len + 1, NULL, "bytes for 5 chunks");
	refuse(g, len, len - LB_CHUNK_ENTRY, NULL, "bytes for 5 chunks");
	refuse(g, len, len, more_chunks, "bytes for 6 chunks");
	refuse(g, len, LB_CHUNK_HEADER, no_chunks, "for 0 chunks");
	refuse(g, len, len, huge_count, "for 4294967295 chunks");
	/* sizes that do not add up */
	refuse(g, len, len, image_size_off, "do not add up");
	refuse(g, len, len, pack_size_off, "do not add up");
	/* chunk lengths */
	refuse(g, len, len, chunk_too_long, "chunk 1: bad length");
	refuse(g, len, len, chunk_zero, "chunk 4: bad length");
	refuse(g, len, len, chunk_below_min, "chunk 2: bad length");
	refuse(g, len, len, frame_zero, "chunk 3: bad length");
	refuse(g, len, len, frame_too_long, "chunk 4: bad length");
	/* the chunker's bounds */
	refuse(g, len, len, min_small, "bad chunker bounds 512/4096/16384");
	refuse(g, len, len, min_over_avg, "bad chunker bounds");
	refuse(g, len, len, avg_odd, "bad chunker bounds");
	refuse(g, len, len, max_under_avg, "bad chunker bounds");
	refuse(g, len, len, max_huge, "bad chunker bounds");
	free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init),
	    cmocka_unit_test(test_boundaries_independent_of_split),
	    cmocka_unit_test(test_identical_data_identical_boundaries),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_last_chunk_short),
	    cmocka_unit_test(test_stable_boundaries_after_insertion),
	    cmocka_unit_test(test_average_near_avg),
	    cmocka_unit_test(test_index_round_trip),
	    cmocka_unit_test(test_index_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
