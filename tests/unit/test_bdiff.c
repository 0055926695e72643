/* SPDX-License-Identifier: MIT */
/* Binary deltas (lib/bdiff.h): encoder and decoder round trips over edited
 * random data, moved blocks, code whose addresses all shift, the empty and
 * identical cases; that a small edit gives a stream of almost only zero ADD
 * bytes; and what the decoder refuses in a hostile stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "bdiff.h"

#define KIB (1u << 10)
#define MIB (1u << 20)

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint8_t *random_buf(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	rng_state = seed;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
	return p;
}

struct buf {
	uint8_t *p;
	size_t n, cap;
	size_t pieces, max_piece;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static int emit(void *arg, const void *p, size_t n)
{
	struct buf *b = arg;
	b->pieces++;
	if (n > b->max_piece)
		b->max_piece = n;
	buf_add(b, p, n);
	return 0;
}

static struct buf diff(const uint8_t *old, size_t oldlen, const uint8_t *neu, size_t newlen)
{
	struct buf b = {0};
	assert_int_equal(lb_bdiff(old, oldlen, neu, newlen, emit, &b), 0);
	assert_true(b.max_piece <= 64 * KIB);
	return b;
}

/* the stream, read from memory; past its end: err */
struct src {
	const uint8_t *p;
	size_t n, off;
	int err;
};

static int rd(void *arg, void *p, size_t n)
{
	struct src *s = arg;
	if (n > s->n - s->off)
		return s->err;
	memcpy(p, s->p + s->off, n);
	s->off += n;
	return 0;
}

/* the output, at most cap bytes (more fails the test) */
struct sink {
	struct buf b;
	size_t cap;
	int fail_at; /* return -ENOSPC once this many bytes are written (0: never) */
};

static int wr(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;
	assert_true(n <= 64 * KIB);
	assert_true(s->b.n + n <= s->cap);
	if (s->fail_at && s->b.n + n >= (size_t)s->fail_at)
		return -ENOSPC;
	buf_add(&s->b, p, n);
	return 0;
}

/* a temporary file holding p[0..n), unlinked */
static int old_fd(const uint8_t *p, size_t n)
{
	char path[] = "/tmp/lb-test-bdiff.XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	return fd;
}

/* Apply stream to old (oldlen bytes in its file, told oldlen) for newlen bytes;
 * the output in *out (may be NULL). */
static int patch_n(const uint8_t *old, size_t filelen, size_t oldlen, const uint8_t *stream,
                   size_t slen, size_t newlen, struct buf *out)
{
	int fd = old_fd(old, filelen);
	struct src s = {stream, slen, 0, -EPIPE};
	struct sink k = {{0}, newlen, 0};
	int r = lb_bpatch(fd, oldlen, newlen, rd, &s, wr, &k);
	close(fd);
	if (!r) {
		assert_int_equal(k.b.n, newlen);
		assert_int_equal(s.off, slen); /* the whole stream, nothing after */
	}
	if (out)
		*out = k.b;
	else
		free(k.b.p);
	return r;
}

static int patch(const uint8_t *old, size_t oldlen, const uint8_t *stream, size_t slen,
                 size_t newlen, struct buf *out)
{
	return patch_n(old, oldlen, oldlen, stream, slen, newlen, out);
}

struct stats {
	size_t records, add, copy, nonzero; /* nonzero ADD bytes */
};

static uint64_t get_varint(const struct buf *b, size_t *off)
{
	uint64_t v = 0;
	for (int sh = 0;; sh += 7) {
		assert_true(*off < b->n && sh < 64);
		uint8_t c = b->p[(*off)++];
		v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80))
			return v;
	}
}

/* walk a stream of a newlen-byte file (checks that it ends with the output) */
static struct stats stream_stats(const struct buf *b, size_t newlen)
{
	struct stats st = {0};
	size_t off = 0, out = 0;
	while (out < newlen) {
		uint64_t add = get_varint(b, &off), copy = get_varint(b, &off);
		(void)get_varint(b, &off);
		assert_true(add + copy <= newlen - out && off + add + copy <= b->n);
		for (size_t i = 0; i < add; i++)
			st.nonzero += b->p[off + i] != 0;
		off += add + copy;
		out += add + copy;
		st.add += add;
		st.copy += copy;
		st.records++;
	}
	assert_int_equal(off, b->n);
	return st;
}

static size_t zstd_size(const struct buf *b)
{
	size_t cap = ZSTD_compressBound(b->n);
	void *z = malloc(cap);
	assert_non_null(z);
	size_t n = ZSTD_compress(z, cap, b->p, b->n, 9);
	assert_false(ZSTD_isError(n));
	free(z);
	return n;
}

/* diff, patch, compare; the stream's stats */
static struct stats round_trip(const uint8_t *old, size_t oldlen, const uint8_t *neu, size_t newlen,
                               size_t *zsize)
{
	struct buf d = diff(old, oldlen, neu, newlen);
	struct stats st = stream_stats(&d, newlen);
	assert_int_equal(st.add + st.copy, newlen);
	struct buf out;
	assert_int_equal(patch(old, oldlen, d.p, d.n, newlen, &out), 0);
	assert_int_equal(out.n, newlen);
	if (newlen)
		assert_memory_equal(out.p, neu, newlen);
	if (zsize)
		*zsize = zstd_size(&d);
	free(out.p);
	free(d.p);
	return st;
}

static void test_empty(void **state)
{
	uint8_t *a = random_buf(1000, 1);
	/* empty new: an empty stream, nothing read */
	struct buf d = diff(a, 1000, a, 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(d.pieces, 0);
	struct src s = {NULL, 0, 0, -EPIPE};
	struct sink k = {{0}, 0, 0};
	int fd = old_fd(a, 1000);
	assert_int_equal(lb_bpatch(fd, 1000, 0, rd, &s, wr, &k), 0);
	close(fd);
	assert_int_equal(k.b.n, 0);
	/* empty old: one record, all COPY */
	struct stats st = round_trip(a, 0, a, 1000, NULL);
	assert_int_equal(st.records, 1);
	assert_int_equal(st.copy, 1000);
	d = diff(NULL, 0, a, 3);
	assert_int_equal(d.n, 6);
	assert_memory_equal(d.p, "\x00\x03\x00", 3);
	assert_memory_equal(d.p + 3, a, 3);
	free(d.p);
	/* both empty */
	round_trip(NULL, 0, NULL, 0, NULL);
	/* one byte each way */
	round_trip(a, 1, a + 1, 1, NULL);
	round_trip(a, 1, a, 1, NULL);
	free(a);
}

static void test_identical(void **state)
{
	uint8_t *a = random_buf(MIB, 2);
	size_t z;
	struct stats st = round_trip(a, MIB, a, MIB, &z);
	assert_int_equal(st.records, 1);
	assert_int_equal(st.add, MIB);
	assert_int_equal(st.nonzero, 0);
	assert_int_equal(st.copy, 0);
	assert_true(z < 200);
	free(a);
}

static void test_one_byte_changed(void **state)
{
	uint8_t *a = random_buf(MIB, 3), *b = malloc(MIB);
	assert_non_null(b);
	memcpy(b, a, MIB);
	b[MIB / 3] ^= 0x55;
	size_t z;
	struct stats st = round_trip(a, MIB, b, MIB, &z);
	assert_true(st.nonzero + st.copy <= 16);
	assert_true(z < MIB / 100);
	free(a);
	free(b);
}

/* Apply n random edits to a (len bytes): change, insert or delete 1..64 bytes. */
static uint8_t *edit(const uint8_t *a, size_t len, int n, uint64_t seed, size_t *outlen)
{
	uint8_t *b = malloc(len + (size_t)n * 64 + 1);
	assert_non_null(b);
	rng_state = seed;
	size_t *at = malloc((size_t)n * sizeof *at);
	assert_non_null(at);
	for (int i = 0; i < n; i++)
		at[i] = len ? rnd() % len : 0;
	/* sort the positions (insertion sort: n is small) */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && at[j - 1] > at[j]; j--) {
			size_t t = at[j];
			at[j] = at[j - 1];
			at[j - 1] = t;
		}
	size_t in = 0, out = 0;
	for (int i = 0; i < n; i++) {
		if (at[i] < in)
			continue;
		memcpy(b + out, a + in, at[i] - in);
		out += at[i] - in;
		in = at[i];
		size_t k = 1 + rnd() % 64;
		uint64_t op = rnd() % 3;
		if (op == 0) { /* change */
			if (k > len - in)
				k = len - in;
			for (size_t j = 0; j < k; j++)
				b[out++] = (uint8_t)(a[in++] + 1 + rnd() % 255);
		} else if (op == 1) { /* insert */
			for (size_t j = 0; j < k; j++)
				b[out++] = (uint8_t)rnd();
		} else { /* delete */
			in += k < len - in ? k : len - in;
		}
	}
	memcpy(b + out, a + in, len - in);
	out += len - in;
	free(at);
	*outlen = out;
	return b;
}

static void test_edits(void **state)
{
	uint8_t *a = random_buf(MIB, 4);
	size_t blen, z;
	uint8_t *b = edit(a, MIB, 100, 5, &blen);
	struct stats st = round_trip(a, MIB, b, blen, &z);
	/* 100 edits of <= 64 bytes: a few KiB of differences, not more */
	assert_true(st.nonzero + st.copy < 100 * 64);
	assert_true(z < 16 * KIB);
	free(b);
	/* many small files, many edits: the edges */
	for (uint64_t seed = 0; seed < 300; seed++) {
		size_t len = seed % 7 == 0 ? seed : 200 + seed * 13;
		uint8_t *x = random_buf(len, seed);
		/* a small alphabet makes many short, ambiguous matches */
		if (seed & 1)
			for (size_t i = 0; i < len; i++)
				x[i] &= 3;
		uint8_t *y = edit(x, len, 1 + (int)(seed % 9), seed + 1000, &blen);
		round_trip(x, len, y, blen, NULL);
		round_trip(y, blen, x, len, NULL);
		free(x);
		free(y);
	}
	free(a);
}

static void test_shifted_blocks(void **state)
{
	enum { N = 64 };
	uint8_t *a = random_buf(MIB, 6), *b = malloc(MIB);
	assert_non_null(b);
	size_t cut[N + 1];
	cut[0] = 0;
	for (int i = 1; i < N; i++)
		cut[i] = (size_t)i * (MIB / N) + rnd() % 1000;
	cut[N] = MIB;
	int order[N];
	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	size_t out = 0;
	for (int i = 0; i < N; i++) {
		size_t k = cut[order[i] + 1] - cut[order[i]];
		memcpy(b + out, a + cut[order[i]], k);
		out += k;
	}
	assert_int_equal(out, MIB);
	size_t z;
	struct stats st = round_trip(a, MIB, b, MIB, &z);
	assert_true(st.records >= N - 1 && st.records < 4 * N);
	assert_true(st.nonzero + st.copy < 4 * KIB);
	assert_true(z < 8 * KIB);
	free(a);
	free(b);
}

/* "Code": 8-byte instructions, 4 opcode bytes from a small set and a 4-byte
 * little-endian address into the file. In the new version 100 bytes are
 * inserted in the middle, and every address past it moves by 100: a quarter of
 * all bytes differ, by the same amount, which approximate matching turns into
 * a regular ADD pattern. */
static void test_executable_like(void **state)
{
	enum { LEN = 512 * KIB, AT = LEN / 2 };
	uint8_t *a = malloc(LEN), *b = malloc(LEN + 100);
	assert_non_null(a);
	assert_non_null(b);
	rng_state = 7;
	for (size_t i = 0; i < LEN; i += 8) {
		static const uint8_t ops[4][4] = {{0x48, 0x8b, 0x05, 0},
		                                  {0xe8, 0, 0, 0},
		                                  {0x48, 0x8d, 0x3d, 0},
		                                  {0xff, 0x15, 0, 0}};
		memcpy(a + i, ops[rnd() % 4], 4);
		uint32_t addr = (uint32_t)(rnd() % LEN) & ~7u;
		for (int k = 0; k < 4; k++)
			a[i + 4 + k] = (uint8_t)(addr >> (8 * k));
	}
	memcpy(b, a, AT);
	memset(b + AT, 0x90, 100);
	memcpy(b + AT + 100, a + AT, LEN - AT);
	for (size_t i = 4; i < LEN + 100; i += 8) {
		if (i == AT + 4)
			i += 100; /* past the inserted bytes */
		uint32_t addr = 0;
		for (int k = 0; k < 4; k++)
			addr |= (uint32_t)b[i + k] << (8 * k);
		if (addr >= AT)
			addr += 100;
		for (int k = 0; k < 4; k++)
			b[i + k] = (uint8_t)(addr >> (8 * k));
	}
	size_t z, zb;
	struct stats st = round_trip(a, LEN, b, LEN + 100, &z);
	struct buf whole = {b, LEN + 100, LEN + 100, 0, 0};
	zb = zstd_size(&whole);
	/* the approximate match keeps nearly all of it as ADD */
	assert_true(st.copy < 4 * KIB);
	assert_true(st.nonzero > LEN / 16);
	/* and the delta compresses to a fraction of the file itself */
	print_message("executable-like: new %u bytes, zstd %zu, delta zstd %zu, %zu records\n",
	              LEN + 100, zb, z, st.records);
	assert_true(z * 5 < zb);
	free(a);
	free(b);
}

static void test_old_larger(void **state)
{
	uint8_t *a = random_buf(MIB, 8);
	size_t blen, z;
	/* new: a slice from the middle of old, lightly edited */
	uint8_t *b = edit(a + 300 * KIB, 200 * KIB, 10, 9, &blen);
	struct stats st = round_trip(a, MIB, b, blen, &z);
	assert_true(st.nonzero + st.copy < 10 * 64);
	/* and the other way round */
	round_trip(b, blen, a, MIB, NULL);
	free(a);
	free(b);
}

static int emit_fail(void *arg, const void *p, size_t n)
{
	int *calls = arg;
	(*calls)++;
	return -ENOSPC;
}

static void test_emit_error(void **state)
{
	uint8_t *a = random_buf(200 * KIB, 10);
	int calls = 0;
	assert_int_equal(lb_bdiff(a, 100 * KIB, a + 50 * KIB, 150 * KIB, emit_fail, &calls),
	                 -ENOSPC);
	assert_int_equal(calls, 1);
	calls = 0;
	assert_int_equal(lb_bdiff(NULL, 0, a, 10, emit_fail, &calls), -ENOSPC);
	assert_int_equal(calls, 1);
	free(a);
}

/* hand-made streams */
static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	do {
		p[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

static size_t put_record(uint8_t *p, uint64_t add, uint64_t copy, int64_t seek)
{
	size_t n = put_varint(p, add);
	n += put_varint(p + n, copy);
	return n + put_varint(p + n, seek < 0 ? ~((uint64_t)seek << 1) : (uint64_t)seek << 1);
}

static void refuse(const uint8_t *old, size_t oldlen, const uint8_t *s, size_t slen, size_t newlen,
                   int err, const char *pat)
{
	lb_err_clear();
	assert_int_equal(patch(old, oldlen, s, slen, newlen, NULL), err);
	if (pat && !strstr(lb_err_msg(), pat))
		fail_msg("'%s' lacks '%s'", lb_err_msg(), pat);
}

static void test_hand_made(void **state)
{
	const uint8_t old[] = "0123456789";
	uint8_t s[256];
	size_t n = 0;
	struct buf out;
	/* seeks may leave the file and come back; zero records are fine */
	n += put_record(s + n, 0, 0, 1000);
	n += put_record(s + n, 0, 0, -1000 - 5);
	n += put_record(s + n, 0, 0, 7);
	n += put_record(s + n, 3, 2, -1);
	memcpy(s + n, "\x00\x01\x02xy", 5);
	n += 5;
	n += put_record(s + n, 2, 0, INT64_MIN + 100);
	memcpy(s + n, "\x00\x00", 2);
	n += 2;
	assert_int_equal(patch(old, 10, s, n, 7, &out), 0);
	assert_memory_equal(out.p, "246xy45", 7);
	free(out.p);
}

static void test_refused(void **state)
{
	const uint8_t old[] = "0123456789";
	uint8_t s[256];
	size_t n;

	/* ADD past the end of old, before it, from a negative position */
	n = put_record(s, 11, 0, 0);
	memset(s + n, 0, 11);
	refuse(old, 10, s, n + 11, 11, -LBE_FORMAT, "outside the old file");
	n = put_record(s, 0, 0, 5);
	n += put_record(s + n, 6, 0, 0);
	memset(s + n, 0, 6);
	refuse(old, 10, s, n + 6, 6, -LBE_FORMAT, "adds old bytes 5..+6");
	n = put_record(s, 0, 0, -1);
	n += put_record(s + n, 1, 0, 0);
	s[n] = 0;
	refuse(old, 10, s, n + 1, 1, -LBE_FORMAT, "adds old bytes -1..+1");
	n = put_record(s, 0, 0, INT64_MAX);
	n += put_record(s + n, 0, 0, INT64_MAX);
	refuse(old, 10, s, n, 1, -LBE_FORMAT, "seek overflows");
	/* ADD or COPY past newlen, without wrapping around */
	n = put_record(s, 0, 6, 0);
	refuse(old, 10, s, n + 6, 5, -LBE_FORMAT, "past the new size 5");
	n = put_record(s, 3, 3, 0);
	refuse(old, 10, s, n + 6, 5, -LBE_FORMAT, "past the new size 5");
	n = put_record(s, UINT64_MAX, 2, 0);
	refuse(old, 10, s, n, 5, -LBE_FORMAT, "past the new size 5");
	n = put_record(s, 2, UINT64_MAX, 0);
	refuse(old, 10, s, n, 5, -LBE_FORMAT, "past the new size 5");
	/* varints: 11 bytes, or 10 with more than 64 bits */
	memset(s, 0x80, 9);
	s[9] = 0x81;
	s[10] = 0;
	refuse(old, 10, s, 11, 5, -LBE_FORMAT, "add: varint longer than 10 bytes");
	s[0] = 0;
	memset(s + 1, 0xff, 9);
	s[10] = 0x02;
	refuse(old, 10, s, 11, 5, -LBE_FORMAT, "copy: varint overflows 64 bits");
	s[10] = 0x01; /* 2^64 - 1 fits, and is then too long a COPY */
	s[11] = 0;
	refuse(old, 10, s, 12, 5, -LBE_FORMAT, "past the new size");
	/* a truncated stream: the reader's error, as it is */
	uint8_t *a = random_buf(64 * KIB, 11);
	size_t blen;
	uint8_t *b = edit(a, 64 * KIB, 20, 12, &blen);
	struct buf d = diff(a, 64 * KIB, b, blen);
	for (size_t cut = 0; cut < d.n; cut += 1 + cut / 3)
		refuse(a, 64 * KIB, d.p, cut, blen, -EPIPE, NULL);
	refuse(a, 64 * KIB, d.p, d.n - 1, blen, -EPIPE, NULL);
	/* ... and -LBE_FORMAT when that is what the reader says */
	int fd = old_fd(a, 64 * KIB);
	struct src src = {d.p, d.n / 2, 0, -LBE_FORMAT};
	struct sink k = {{0}, blen, 0};
	assert_int_equal(lb_bpatch(fd, 64 * KIB, blen, rd, &src, wr, &k), -LBE_FORMAT);
	free(k.b.p);
	/* the writer's error stops it */
	src = (struct src){d.p, d.n, 0, -EPIPE};
	k = (struct sink){{0}, blen, 1000};
	assert_int_equal(lb_bpatch(fd, 64 * KIB, blen, rd, &src, wr, &k), -ENOSPC);
	free(k.b.p);
	close(fd);
	/* an old file shorter than it should be */
	lb_err_clear();
	assert_int_equal(patch_n(a, 32 * KIB, 64 * KIB, d.p, d.n, blen, NULL), -LBE_HASH);
	assert_non_null(strstr(lb_err_msg(), "old file ends at 32768"));
	free(d.p);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_identical),
	    cmocka_unit_test(test_one_byte_changed),
	    cmocka_unit_test(test_edits),
	    cmocka_unit_test(test_shifted_blocks),
	    cmocka_unit_test(test_executable_like),
	    cmocka_unit_test(test_old_larger),
	    cmocka_unit_test(test_emit_error),
	    cmocka_unit_test(test_hand_made),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
