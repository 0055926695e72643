/* SPDX-License-Identifier: MIT */
/* Deltas between images (lib/chunk.h, "Deltas"): the resemblance anchors find a
 * changed chunk in the older image even when it moved; a chunk compressed with
 * the older bytes as the zstd prefix (as the master does) decodes back with the
 * same prefix (as the device does), is much smaller than alone, and does not
 * decode right with another prefix; the delta index round trip and what parse
 * refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "chunk.h"

#define V1_SIZE (2u << 20)
#define CHUNK   (64u << 10)

/* text-like bytes: words from a small vocabulary, deterministic */
static void fill_text(unsigned char *p, size_t n, uint64_t seed)
{
	static const char *const words[] = {"lib",  "usr",      "share", "debian", "package",
	                                    "-rw-", "x86_64",   "0.1.2", "\n",     "config",
	                                    "ELF",  "\x7f\x01", "zz",    "  ",     "version"};
	uint64_t x = seed;
	size_t i = 0;
	while (i < n) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		const char *w = words[(x >> 33) % 15];
		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (unsigned char)w[k];
		if (i < n)
			p[i++] = (unsigned char)(x >> 56);
	}
}

struct anchors {
	uint64_t h[4096];
	size_t pos[4096];
	size_t n;
};

static void collect(void *arg, uint64_t h, size_t pos)
{
	struct anchors *a = arg;
	if (a->n < 4096) {
		a->h[a->n] = h;
		a->pos[a->n++] = pos;
	}
}

/* The same bytes elsewhere give the same anchors at the same relative places. */
static void test_anchors_follow_content(void **state)
{
	(void)state;
	unsigned char *v1 = malloc(V1_SIZE);
	assert_non_null(v1);
	fill_text(v1, V1_SIZE, 1);
	struct anchors *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	assert_non_null(a);
	assert_non_null(b);
	lb_delta_anchors(v1 + 100000, CHUNK, collect, a);
	lb_delta_anchors(v1 + 100000 - 777, CHUNK + 777, collect, b);
	assert_true(a->n > CHUNK / 1024); /* about one per 256 bytes */
	size_t same = 0;
	for (size_t i = 0; i < a->n; i++)
		for (size_t k = 0; k < b->n; k++)
			if (a->h[i] == b->h[k] && a->pos[i] + 777 == b->pos[k])
				same++;
	assert_true(same + 1 >= a->n); /* the first one may need bytes before */
	free(a);
	free(b);
	free(v1);
}

static size_t encode(const unsigned char *ref, size_t rlen, const unsigned char *src, size_t len,
                     unsigned char *out, size_t cap)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	assert_non_null(cc);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 19)));
	if (ref)
		assert_false(ZSTD_isError(ZSTD_CCtx_refPrefix(cc, ref, rlen)));
	size_t z = ZSTD_compress2(cc, out, cap, src, len);
	assert_false(ZSTD_isError(z));
	ZSTD_freeCCtx(cc);
	return z;
}

/* Round trip: a changed chunk of V2 that moved 5000 bytes later, encoded against
 * LB_DELTA_REF_MAX bytes of V1 from where it was, decoded against the same. */
static void test_delta_round_trip(void **state)
{
	(void)state;
	unsigned char *v1 = malloc(V1_SIZE), *v2 = malloc(V1_SIZE);
	assert_non_null(v1);
	assert_non_null(v2);
	fill_text(v1, V1_SIZE, 7);
	memcpy(v2, v1, 5000); /* V2: 5000 new bytes at the start, V1 after, patched */
	memcpy(v2 + 5000, v1, V1_SIZE - 5000);
	memcpy(v2 + 5000 + 300000 + 1234, "patched!", 8);
	const unsigned char *chunk = v2 + 5000 + 300000;
	const unsigned char *ref = v1 + 300000;
	size_t cap = ZSTD_compressBound(CHUNK);
	unsigned char *z = malloc(cap), *back = malloc(CHUNK);
	assert_non_null(z);
	assert_non_null(back);
	size_t plain = encode(NULL, 0, chunk, CHUNK, z, cap);
	size_t delta = encode(ref, LB_DELTA_REF_MAX, chunk, CHUNK, z, cap);
	assert_true(delta * 20 < plain);

	ZSTD_DCtx *dc = ZSTD_createDCtx();
	assert_non_null(dc);
	assert_false(ZSTD_isError(ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 23)));
	assert_false(ZSTD_isError(ZSTD_DCtx_refPrefix(dc, ref, LB_DELTA_REF_MAX)));
	size_t n = ZSTD_decompressDCtx(dc, back, CHUNK, z, delta);
	assert_int_equal(n, CHUNK);
	assert_memory_equal(back, chunk, CHUNK);
	/* another base (the device's slot changed): not the chunk */
	assert_false(ZSTD_isError(ZSTD_DCtx_refPrefix(dc, v1 + 700000, LB_DELTA_REF_MAX)));
	n = ZSTD_decompressDCtx(dc, back, CHUNK, z, delta);
	assert_true(ZSTD_isError(n) || n != CHUNK || memcmp(back, chunk, CHUNK));
	ZSTD_freeDCtx(dc);
	free(z);
	free(back);
	free(v1);
	free(v2);
}

static void make_ix(struct lb_chunk_index *ix, unsigned char *img_sha)
{
	memset(ix, 0, sizeof *ix);
	ix->n = 4;
	ix->c = calloc(4, sizeof *ix->c);
	assert_non_null(ix->c);
	for (size_t i = 0; i < 4; i++) {
		ix->c[i].len = CHUNK;
		ix->c[i].clen = 1000;
	}
	memcpy(ix->image_sha, img_sha, 32);
}

static void test_delta_index(void **state)
{
	(void)state;
	unsigned char img[32], base[32];
	memset(img, 0xaa, 32);
	memset(base, 0xbb, 32);
	struct lb_chunk_index ix;
	make_ix(&ix, img);
	struct lb_delta d[2] = {
	    {.chunk = 1, .ref_off = 4096, .ref_len = 8192, .flen = 100},
	    {.chunk = 3, .ref_off = 0, .ref_len = LB_DELTA_REF_MAX, .flen = 999}};
	struct lb_delta_index dx = {.base_size = 1u << 20, .pack_size = 1099, .n = 2, .d = d};
	memcpy(dx.image_sha, img, 32);
	memcpy(dx.base_sha, base, 32);
	unsigned char *buf = NULL;
	size_t len = 0;
	assert_int_equal(lb_delta_index_format(&dx, &buf, &len), 0);
	assert_int_equal(len, LB_DELTA_HEADER + 2 * LB_DELTA_ENTRY);
	struct lb_delta_index back;
	assert_int_equal(lb_delta_index_parse(buf, len, &ix, &back), 0);
	assert_int_equal(back.n, 2);
	assert_int_equal(back.d[1].chunk, 3);
	assert_int_equal(back.d[1].foff, 100);
	assert_int_equal(back.d[0].ref_off, 4096);
	assert_memory_equal(back.base_sha, base, 32);
	lb_delta_index_free(&back);

	/* refused: a frame not smaller than the chunk's own, a reference outside V1,
	 * chunks out of order, sizes that do not add up, another image */
	struct {
		size_t at;
		uint32_t v;
	} bad[] = {
	    {LB_DELTA_HEADER + LB_DELTA_ENTRY + 16, 1000}, /* flen == clen */
	    {LB_DELTA_HEADER + 12, LB_DELTA_REF_MAX + 1},  /* ref too long */
	    {LB_DELTA_HEADER + 4, (1u << 20) - 4096},      /* ref past the end */
	    {LB_DELTA_HEADER + LB_DELTA_ENTRY, 1},         /* chunk 1 twice */
	    {LB_DELTA_HEADER + LB_DELTA_ENTRY, 4},         /* chunk out of range */
	    {80, 1098},                                    /* pack size */
	    {8, 0},                                        /* image sha */
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		unsigned char *c = malloc(len);
		assert_non_null(c);
		memcpy(c, buf, len);
		for (int i = 0; i < 4; i++)
			c[bad[k].at + (size_t)i] = (unsigned char)(bad[k].v >> (8 * i));
		assert_int_not_equal(lb_delta_index_parse(c, len, &ix, &back), 0);
		free(c);
	}
	assert_int_not_equal(lb_delta_index_parse(buf, len - 1, &ix, &back), 0);
	free(buf);
	lb_chunk_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_anchors_follow_content),
	    cmocka_unit_test(test_delta_round_trip),
	    cmocka_unit_test(test_delta_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
