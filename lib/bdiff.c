/* SPDX-License-Identifier: MIT */
/* The delta encoder (bdiff.h), the master's side: bsdiff 4's matching over a
 * suffix array of the old file, written as one interleaved stream.
 *
 * bsdiff walks the new file and keeps an offset into the old one (lastoffset:
 * "new[i] goes with old[i + lastoffset]"). At each position it looks up the
 * longest exact match of what follows in old (binary search of the suffix
 * array) and compares it with how many of the same bytes simply continuing at
 * lastoffset would have got right ("oldscore"). Only a match that beats that by
 * more than 8 bytes starts a new record; one that is no better means the
 * current alignment still holds (code with a few changed addresses), and the
 * scan jumps over it. When a record is cut, the previous match is stretched
 * forward and the new one backward for as long as more than half their bytes
 * agree (lenf, lenb): those bytes become ADD bytes, mostly zeros, which the
 * outer zstd squeezes to nearly nothing; what neither covers is COPY. Where the
 * two stretches overlap, the split point is the one where the forward
 * alignment's matches minus the backward one's are highest.
 *
 * Linked only into the master tool (and the tests), with libdivsufsort; the
 * device's decoder is bpatch.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <divsufsort.h>

#include "bdiff.h"

#define OUT_BUF    (64u << 10)
#define VARINT_MAX 10

/* The stream being written, buffered so that emit sees 64 KiB pieces. */
struct out {
	int (*emit)(void *arg, const void *buf, size_t len);
	void *arg;
	size_t n;
	uint8_t buf[OUT_BUF];
};

static int out_flush(struct out *o)
{
	if (!o->n)
		return 0;
	int r = o->emit(o->arg, o->buf, o->n);
	o->n = 0;
	return r < 0 ? r : 0;
}

static void put_varint(struct out *o, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		o->buf[o->n++] = v ? b | 0x80 : b;
	} while (v);
}

/* A record's head: ADD, COPY, zigzag SEEK. */
static int out_head(struct out *o, uint64_t add, uint64_t copy, int64_t seek)
{
	if (OUT_BUF - o->n < 3 * VARINT_MAX) {
		int r = out_flush(o);
		if (r)
			return r;
	}
	put_varint(o, add);
	put_varint(o, copy);
	put_varint(o, seek < 0 ? ~((uint64_t)seek << 1) : (uint64_t)seek << 1);
	return 0;
}

/* len bytes of neu, each minus the byte of old at the same index (old NULL:
 * the bytes of neu as they are). */
static int out_bytes(struct out *o, const uint8_t *neu, const uint8_t *old, size_t len)
{
	while (len) {
		if (o->n == OUT_BUF) {
			int r = out_flush(o);
			if (r)
				return r;
		}
		size_t k = OUT_BUF - o->n < len ? OUT_BUF - o->n : len;
		uint8_t *d = o->buf + o->n;
		if (old) {
			for (size_t i = 0; i < k; i++)
				d[i] = (uint8_t)(neu[i] - old[i]);
			old += k;
		} else {
			memcpy(d, neu, k);
		}
		o->n += k;
		neu += k;
		len -= k;
	}
	return 0;
}

static int out_record(struct out *o, const uint8_t *neu, const uint8_t *old, int64_t add,
                      int64_t copy, int64_t seek)
{
	int r = out_head(o, (uint64_t)add, (uint64_t)copy, seek);
	if (!r)
		r = out_bytes(o, neu, old, (size_t)add);
	if (!r)
		r = out_bytes(o, neu + add, NULL, (size_t)copy);
	return r;
}

/* Length of the common prefix of a[0..alen) and b[0..blen), 8 bytes a step. */
static int64_t matchlen(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen)
{
	int64_t n = alen < blen ? alen : blen, i = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			return i + __builtin_ctzll(x ^ y) / 8;
	}
#endif
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* The longest prefix of p[0..plen) found in old: binary search of the suffix
 * array for where p sorts, then the better of the two suffixes around it.
 * Returns its length, *pos where it starts in old. oldlen >= 1. A suffix that
 * is a prefix of p (or p of it) counts as sorting after p, as in bsdiff; the
 * comparison stops at the first difference (not memcmp, which ASan makes read
 * all n bytes, quadratic here). */
static int64_t search(const saidx_t *sa, const uint8_t *old, int64_t oldlen, const uint8_t *p,
                      int64_t plen, int64_t *pos)
{
	int64_t lo = 0, hi = oldlen - 1;
	while (hi - lo >= 2) {
		int64_t mid = lo + (hi - lo) / 2, s = sa[mid];
		int64_t k = matchlen(old + s, oldlen - s, p, plen);
		if (k < oldlen - s && k < plen && old[s + k] < p[k])
			lo = mid;
		else
			hi = mid;
	}
	int64_t x = matchlen(old + sa[lo], oldlen - sa[lo], p, plen);
	int64_t y = matchlen(old + sa[hi], oldlen - sa[hi], p, plen);
	*pos = x > y ? sa[lo] : sa[hi];
	return x > y ? x : y;
}

/* The matching loop (the header comment tells the idea). Positions are
 * signed: the extensions compare "more than half" as s * 2 - i. */
static int diff_scan(struct out *o, const saidx_t *sa, const uint8_t *old, int64_t oldlen,
                     const uint8_t *neu, int64_t newlen)
{
	int64_t scan = 0, len = 0, pos = 0;
	/* the end of the last record's ADD+COPY in new, where its ADD started in old
	 * (after the seek), and the alignment of that match (never negative: pos >=
	 * 0 and scan only grows, so scan + lastoffset indexes old when < oldlen) */
	int64_t lastscan = 0, lastpos = 0, lastoffset = 0;

	while (scan < newlen) {
		/* Find the next match worth a record. oldscore counts the bytes of
		 * new[scan..scan+len) that lastoffset already gets right. */
		int64_t oldscore = 0, scsc;
		for (scsc = scan += len; scan < newlen; scan++) {
			len = search(sa, old, oldlen, neu + scan, newlen - scan, &pos);
			for (; scsc < scan + len; scsc++)
				if (scsc + lastoffset < oldlen &&
				    old[scsc + lastoffset] == neu[scsc])
					oldscore++;
			/* as good as staying aligned (then skip it), or much better */
			if ((len == oldscore && len != 0) || len > oldscore + 8)
				break;
			/* new[scan] leaves the window */
			if (scan + lastoffset < oldlen && old[scan + lastoffset] == neu[scan])
				oldscore--;
		}
		if (len == oldscore && scan != newlen)
			continue;

		/* lenf: how far the previous match extends forward from lastscan/lastpos
		 * while more than half the bytes agree (the best such prefix) */
		int64_t s = 0, best = 0, lenf = 0;
		for (int64_t i = 0; lastscan + i < scan && lastpos + i < oldlen;) {
			if (old[lastpos + i] == neu[lastscan + i])
				s++;
			i++;
			if (s * 2 - i > best * 2 - lenf) {
				best = s;
				lenf = i;
			}
		}
		/* lenb: the same, backward from the new match at scan/pos */
		int64_t lenb = 0;
		if (scan < newlen) {
			s = 0;
			best = 0;
			for (int64_t i = 1; scan >= lastscan + i && pos >= i; i++) {
				if (old[pos - i] == neu[scan - i])
					s++;
				if (s * 2 - i > best * 2 - lenb) {
					best = s;
					lenb = i;
				}
			}
		}
		/* Both claim the same new bytes: give the first lens of them to the
		 * forward stretch, where its matches minus the backward's peak. */
		if (lastscan + lenf > scan - lenb) {
			int64_t overlap = (lastscan + lenf) - (scan - lenb), lens = 0;
			s = 0;
			best = 0;
			for (int64_t i = 0; i < overlap; i++) {
				if (neu[lastscan + lenf - overlap + i] ==
				    old[lastpos + lenf - overlap + i])
					s++;
				if (neu[scan - lenb + i] == old[pos - lenb + i])
					s--;
				if (s > best) {
					best = s;
					lens = i + 1;
				}
			}
			lenf += lens - overlap;
			lenb -= lens;
		}

		int64_t copy = (scan - lenb) - (lastscan + lenf);
		/* the last record needs no seek (pos is stale there) */
		int64_t seek = scan < newlen ? (pos - lenb) - (lastpos + lenf) : 0;
		int r = out_record(o, neu + lastscan, old + lastpos, lenf, copy, seek);
		if (r)
			return r;
		lastscan = scan - lenb;
		lastpos = pos - lenb;
		lastoffset = pos - scan;
	}
	return 0;
}

int lb_bdiff(const uint8_t *old, size_t oldlen, const uint8_t *neu, size_t newlen,
             int (*emit)(void *arg, const void *buf, size_t len), void *arg)
{
	if (oldlen > LB_BDIFF_MAX || newlen > LB_BDIFF_MAX)
		return lb_errf(-EFBIG, "bdiff: %zu and %zu bytes: more than %zu", oldlen, newlen,
		               LB_BDIFF_MAX);
	struct out *o = malloc(sizeof *o);
	if (!o)
		return -ENOMEM;
	o->emit = emit;
	o->arg = arg;
	o->n = 0;
	saidx_t *sa = NULL;
	int r = 0;
	if (!newlen)
		goto out;
	if (!oldlen) {
		r = out_record(o, neu, NULL, 0, (int64_t)newlen, 0);
	} else {
		sa = malloc(oldlen * sizeof *sa);
		if (!sa) {
			r = -ENOMEM;
			goto out;
		}
		if (divsufsort(old, sa, (saidx_t)oldlen)) {
			r = lb_errf(-ENOMEM, "bdiff: suffix sort of %zu bytes failed", oldlen);
			goto out;
		}
		r = diff_scan(o, sa, old, (int64_t)oldlen, neu, (int64_t)newlen);
	}
	if (!r)
		r = out_flush(o);
out:
	free(sa);
	free(o);
	return r;
}
