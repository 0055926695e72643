/* SPDX-License-Identifier: MIT */
/* Binary deltas (lib/bdiff.h). The first byte picks the mode, the next two
 * (little-endian) the old file's length, taken from the bytes that follow:
 *
 *   even: apply. Two more bytes are the new size, the rest the stream. The
 *         decoder never writes more than the new size, fails only with
 *         -LBE_FORMAT or the reader's error, and agrees with a plain in-memory
 *         decoder on success, the output and the bytes consumed.
 *   odd:  round trip. The rest is the new file: the encoder's stream, applied,
 *         gives it back and is consumed to its last byte.
 *
 * The old file is a memfd, read by pread as on a device. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdiff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RD_END (-ENODATA) /* the reader's error past the end of the stream */

struct src {
	const uint8_t *p;
	size_t n, off;
};

static int rd(void *arg, void *p, size_t n)
{
	struct src *s = arg;
	if (n > s->n - s->off)
		return RD_END;
	memcpy(p, s->p + s->off, n);
	s->off += n;
	return 0;
}

struct sink {
	uint8_t *p;
	size_t n, cap;
};

static int wr(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;
	if (n > s->cap - s->n || n > 64u << 10)
		abort();
	memcpy(s->p + s->n, p, n);
	s->n += n;
	return 0;
}

static int emit(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;
	if (n > 64u << 10)
		abort();
	if (n > s->cap - s->n) {
		size_t cap = (s->n + n) * 2;
		uint8_t *q = realloc(s->p, cap);
		if (!q)
			abort();
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->n, p, n);
	s->n += n;
	return 0;
}

static int old_fd(const uint8_t *p, size_t n)
{
	static int fd = -1;
	if (fd < 0 && (fd = memfd_create("old", MFD_CLOEXEC)) < 0)
		abort();
	if (ftruncate(fd, 0) || (n && pwrite(fd, p, n, 0) != (ssize_t)n))
		abort();
	return fd;
}

/* The format read the obvious way, all in memory: 0 and the bytes consumed
 * (*used), or -1 for a stream the decoder must refuse or find too short. */
static int reference(const uint8_t *old, size_t oldlen, size_t newlen, const uint8_t *s, size_t n,
                     uint8_t *out, size_t *used)
{
	size_t off = 0, done = 0;
	__int128 pos = 0;
	while (done < newlen) {
		uint64_t v[3];
		for (int k = 0; k < 3; k++) {
			v[k] = 0;
			for (int i = 0;; i++) {
				if (off >= n || i == 10)
					return -1;
				uint8_t b = s[off++];
				if (i == 9 && b > 1)
					return -1;
				v[k] |= (uint64_t)(b & 0x7f) << (7 * i);
				if (!(b & 0x80))
					break;
			}
		}
		if (v[0] > newlen - done || v[1] > newlen - done - v[0])
			return -1;
		if (v[0] && (pos < 0 || pos + v[0] > oldlen))
			return -1;
		if (v[0] + v[1] > n - off)
			return -1;
		for (uint64_t i = 0; i < v[0]; i++)
			out[done++] = (uint8_t)(s[off++] + old[(size_t)pos + i]);
		for (uint64_t i = 0; i < v[1]; i++)
			out[done++] = s[off++];
		pos += v[0];
		pos += v[2] & 1 ? -(__int128)(v[2] >> 1) - 1 : (__int128)(v[2] >> 1);
		if (pos > INT64_MAX || pos < INT64_MIN)
			return -1;
	}
	*used = off;
	return 0;
}

static void apply(const uint8_t *old, size_t oldlen, size_t newlen, const uint8_t *s, size_t n)
{
	static uint8_t out[65536], want[65536];
	struct src src = {s, n, 0};
	struct sink k = {out, 0, newlen};
	int r = lb_bpatch(old_fd(old, oldlen), oldlen, newlen, rd, &src, wr, &k);
	size_t used = 0;
	int ref = reference(old, oldlen, newlen, s, n, want, &used);
	if (r != 0 && r != -LBE_FORMAT && r != RD_END)
		abort();
	if ((r == 0) != (ref == 0))
		abort();
	if (!r && (k.n != newlen || src.off != used || memcmp(out, want, newlen)))
		abort();
}

static void round_trip(const uint8_t *old, size_t oldlen, const uint8_t *neu, size_t newlen)
{
	struct sink d = {NULL, 0, 0};
	if (lb_bdiff(old, oldlen, neu, newlen, emit, &d))
		abort();
	uint8_t *out = malloc(newlen + 1);
	if (!out)
		abort();
	struct src src = {d.p, d.n, 0};
	struct sink k = {out, 0, newlen};
	if (lb_bpatch(old_fd(old, oldlen), oldlen, newlen, rd, &src, wr, &k) || k.n != newlen ||
	    src.off != d.n || (newlen && memcmp(out, neu, newlen)))
		abort();
	free(out);
	free(d.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t oldlen = data[1] | (size_t)data[2] << 8;
	if (data[0] & 1) {
		data += 3;
		size -= 3;
		if (oldlen > size)
			oldlen = size;
		round_trip(data, oldlen, data + oldlen, size - oldlen);
		return 0;
	}
	if (size < 5)
		return 0;
	size_t newlen = data[3] | (size_t)data[4] << 8;
	data += 5;
	size -= 5;
	if (oldlen > size)
		oldlen = size;
	apply(data, oldlen, newlen, data + oldlen, size - oldlen);
	return 0;
}
