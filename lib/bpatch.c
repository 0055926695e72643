/* SPDX-License-Identifier: MIT */
/* The delta decoder (bdiff.h), the device's side: applies the interleaved
 * stream front to back. An ADD run is read from the stream and from the old file
 * (pread, so the old file is never held in memory) 64 KiB at a time, summed and
 * written; a COPY run goes from the stream to the output in the same buffer.
 * Nothing in the stream is trusted: every length is checked against what is
 * left of the output and every ADD against the old file before a byte of it is
 * read. Shares no code with the encoder (bdiff.c), so the device does not link
 * libdivsufsort. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdiff.h"

#define BUF        (64u << 10)
#define VARINT_MAX 10

struct patch {
	int (*rd)(void *arg, void *buf, size_t len);
	void *rarg, *darg, *earg; /* rd's argument for the records, ADD and COPY bytes */
	int (*wr)(void *arg, const void *buf, size_t len);
	void *warg;
	int oldfd;
	unsigned long long oldlen;
	uint8_t *buf, *obuf; /* stream bytes, old bytes */
};

/* An unsigned LEB128 of at most 10 bytes that fits 64 bits. */
static int get_varint(struct patch *p, const char *what, uint64_t *v)
{
	*v = 0;
	for (int i = 0; i < VARINT_MAX; i++) {
		uint8_t b;
		int r = p->rd(p->rarg, &b, 1);
		if (r < 0)
			return r;
		if (i == VARINT_MAX - 1 && b & 0x80)
			return lb_errf(-LBE_FORMAT, "patch: %s: varint longer than %d bytes", what,
			               VARINT_MAX);
		if (i == VARINT_MAX - 1 && b > 1)
			return lb_errf(-LBE_FORMAT, "patch: %s: varint overflows 64 bits", what);
		*v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return 0;
	}
	return 0; /* not reached: the last byte ends it or fails */
}

/* len bytes of the old file at off into p->obuf (len <= BUF). */
static int read_old(struct patch *p, uint64_t off, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(p->oldfd, p->obuf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			return lb_errf(-e, "patch: reading the old file at %llu: %s",
			               (unsigned long long)(off + got), strerror(e));
		}
		if (!n)
			return lb_errf(-LBE_HASH,
			               "patch: the old file ends at %llu, not %llu bytes",
			               (unsigned long long)(off + got), p->oldlen);
		got += (size_t)n;
	}
	return 0;
}

/* ADD bytes: old[oldpos..oldpos+n) plus the stream's differences. */
static int apply_add(struct patch *p, uint64_t oldpos, uint64_t n)
{
	while (n) {
		size_t k = n < BUF ? (size_t)n : BUF;
		int r = p->rd(p->darg, p->buf, k);
		if (r < 0)
			return r;
		r = read_old(p, oldpos, k);
		if (r < 0)
			return r;
		for (size_t i = 0; i < k; i++)
			p->buf[i] = (uint8_t)(p->buf[i] + p->obuf[i]);
		r = p->wr(p->warg, p->buf, k);
		if (r < 0)
			return r;
		oldpos += k;
		n -= k;
	}
	return 0;
}

/* COPY bytes: the stream's, as they are. */
static int apply_copy(struct patch *p, uint64_t n)
{
	while (n) {
		size_t k = n < BUF ? (size_t)n : BUF;
		int r = p->rd(p->earg, p->buf, k);
		if (r < 0)
			return r;
		r = p->wr(p->warg, p->buf, k);
		if (r < 0)
			return r;
		n -= k;
	}
	return 0;
}

static int apply(struct patch *p, unsigned long long newlen)
{
	uint64_t out = 0;
	int64_t oldpos = 0;
	while (out < newlen) {
		uint64_t add, copy, zz;
		int r = get_varint(p, "add", &add);
		if (!r)
			r = get_varint(p, "copy", &copy);
		if (!r)
			r = get_varint(p, "seek", &zz);
		if (r < 0)
			return r;
		uint64_t left = newlen - out;
		if (add > left || copy > left - add)
			return lb_errf(-LBE_FORMAT,
			               "patch: record at output %llu: %llu + %llu bytes, past the "
			               "new size %llu",
			               (unsigned long long)out, (unsigned long long)add,
			               (unsigned long long)copy, newlen);
		if (add && (oldpos < 0 || (uint64_t)oldpos > p->oldlen ||
		            add > p->oldlen - (uint64_t)oldpos))
			return lb_errf(-LBE_FORMAT,
			               "patch: record at output %llu: adds old bytes %lld..+%llu, "
			               "outside the old file's %llu",
			               (unsigned long long)out, (long long)oldpos,
			               (unsigned long long)add, p->oldlen);
		r = apply_add(p, (uint64_t)oldpos, add);
		if (!r)
			r = apply_copy(p, copy);
		if (r < 0)
			return r;
		out += add + copy;
		/* add <= oldlen <= INT64_MAX when add > 0: no overflow */
		oldpos += (int64_t)add;
		int64_t seek = zz & 1 ? -(int64_t)(zz >> 1) - 1 : (int64_t)(zz >> 1);
		if (__builtin_add_overflow(oldpos, seek, &oldpos))
			return lb_errf(-LBE_FORMAT, "patch: record at output %llu: seek overflows",
			               (unsigned long long)out);
	}
	return 0;
}

int lb_bpatch(int oldfd, unsigned long long oldlen, unsigned long long newlen,
              int (*rd)(void *arg, void *buf, size_t len), void *rarg,
              int (*wr)(void *arg, const void *buf, size_t len), void *warg)
{
	return lb_bpatch3(oldfd, oldlen, newlen, rd, rarg, rarg, rarg, wr, warg);
}

int lb_bpatch3(int oldfd, unsigned long long oldlen, unsigned long long newlen,
               int (*rd)(void *arg, void *buf, size_t len), void *rarg, void *darg, void *earg,
               int (*wr)(void *arg, const void *buf, size_t len), void *warg)
{
	if (oldlen > INT64_MAX)
		return lb_errf(-EFBIG, "patch: old file of %llu bytes", oldlen);
	struct patch p = {
	    .rd = rd,
	    .rarg = rarg,
	    .darg = darg,
	    .earg = earg,
	    .wr = wr,
	    .warg = warg,
	    .oldfd = oldfd,
	    .oldlen = oldlen,
	    .buf = malloc(2 * BUF),
	};
	if (!p.buf)
		return -ENOMEM;
	p.obuf = p.buf + BUF;
	int r = apply(&p, newlen);
	free(p.buf);
	return r;
}
