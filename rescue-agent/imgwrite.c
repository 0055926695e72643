/* SPDX-License-Identifier: MIT */
/* An image onto a slot from its chunks (imgwrite.h). */
#include "imgwrite.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zstd.h>

#include "fsop.h"

#define READ_BUF    (128u << 10)
#define MERGE_GAP   512        /* bytes between two ranges fetched rather than asked for apart */
#define CACHE_LVL   3          /* zstd level of chunks copied into the cache */
#define SRC_TARGET  0          /* source number of the target slot */
#define DELTA_BATCH (1u << 20) /* delta frames fetched at once (the memory they take) */
#define NOT_HERE    UINT32_MAX

enum how {
	H_FETCH, /* from the master */
	H_RIGHT, /* the target has it at its offset */
	H_SRC,   /* source src[i] has it at at[i] */
	H_CACHE, /* cache/<sha>.zst */
	H_EARLY, /* only in the target, before its offset: overwritten before it is needed */
	H_SAME,  /* the same bytes as an earlier chunk that is fetched: at = its index */
};

struct plan {
	unsigned char *how, *src;
	unsigned long long *at;
	unsigned *by_sha; /* chunk numbers sorted by sha256 */
	int *fds;         /* of the sources: [0] the target, then w->src */
	size_t nfds;
	/* the write */
	struct lb_flash *fl;
	ZSTD_DCtx *dz;
	unsigned char *data, *frame; /* a chunk, a frame */
	size_t framecap;
	size_t next;                /* the first chunk not written */
	size_t fc;                  /* the fetched chunk being received */
	size_t ffill;               /* its bytes so far */
	unsigned char last_sha[32]; /* the chunk in data (a run of equal chunks) */
	bool have_last;
	struct lb_fetch late; /* for chunks fetched on their own, during the fetch */
	bool late_ready;
	size_t late_fill;
	/* deltas (w->base) */
	uint32_t *dl;     /* per chunk: 1 + its delta entry when fetched as one, 0 */
	uint32_t *boff;   /* per delta entry: its frame's offset in batch, NOT_HERE */
	size_t b0, b1;    /* the entries of the batch in memory: [b0, b1) */
	size_t bc, bfill; /* the entry being received, its bytes so far */
	unsigned char *batch, *ref;
	int basefd;
	bool target_borrowed; /* fds[SRC_TARGET] is the flash writer's */
	bool ahead;           /* fetching ahead: the first connection is free */
};

static const struct lb_chunk *C(const struct lb_imgwrite *w, size_t i)
{
	return &w->ix->c[i];
}

static int cmp_sha(const void *a, const void *b, void *arg)
{
	const struct lb_imgwrite *w = arg;
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	int c = memcmp(C(w, x)->sha, C(w, y)->sha, 32);
	return c ? c : (x > y) - (x < y);
}

static void sha_hex(const unsigned char sha[32], char hex[65])
{
	sodium_bin2hex(hex, 65, sha, 32);
}

/* The chunks whose sha256 is sha: [*lo, *hi) of by_sha. */
static void find(const struct lb_imgwrite *w, const unsigned char sha[32], size_t *lo, size_t *hi)
{
	const struct plan *p = w->priv;
	size_t a = 0, b = w->ix->n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (memcmp(C(w, p->by_sha[m])->sha, sha, 32) < 0)
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	while (b < w->ix->n && !memcmp(C(w, p->by_sha[b])->sha, sha, 32))
		b++;
	*hi = a < b ? b : a;
}

/* A chunk of a source, at offset a: does the new image need it? */
static void found(struct lb_imgwrite *w, unsigned src, unsigned long long a, uint32_t len,
                  const unsigned char sha[32])
{
	struct plan *p = w->priv;
	size_t lo, hi;
	find(w, sha, &lo, &hi);
	for (size_t k = lo; k < hi; k++) {
		unsigned i = p->by_sha[k];
		if (C(w, i)->len != len)
			continue;
		bool early = src == SRC_TARGET && a < C(w, i)->off;
		if (p->how[i] == H_FETCH && early) {
			p->how[i] = H_EARLY;
			p->at[i] = a;
		} else if ((p->how[i] == H_FETCH || p->how[i] == H_EARLY) && !early) {
			p->how[i] = H_SRC;
			p->src[i] = (unsigned char)src;
			p->at[i] = a;
		}
	}
}

static unsigned long long size_of(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	return end > 0 ? (unsigned long long)end : 0;
}

/* Read a source front to back, cut it with the index's chunker, and note every
 * chunk the image needs. The target is also compared, chunk by chunk of the new
 * image, with what it should hold. */
static int scan(struct lb_imgwrite *w, unsigned src, const char *path, unsigned long long limit)
{
	struct plan *p = w->priv;
	int fd = p->fds[src];
	unsigned long long size = size_of(fd);
	if (!limit || limit > size)
		limit = size;
	if (src == SRC_TARGET && limit > w->ix->image_size)
		limit = w->ix->image_size;
	struct lb_cdc cdc;
	int r = lb_cdc_init3(&cdc, w->ix->min, w->ix->avg, w->ix->max);
	unsigned char *buf = r ? NULL : malloc(READ_BUF);
	if (!buf)
		return r ? r : -ENOMEM;
	crypto_hash_sha256_state hc, ht; /* the source's chunk, the image's chunk */
	crypto_hash_sha256_init(&hc);
	crypto_hash_sha256_init(&ht);
	unsigned long long pos = 0, start = 0;
	size_t j = 0; /* the image's chunk at pos (target) */
	while (!r && pos < limit) {
		size_t n = limit - pos < READ_BUF ? (size_t)(limit - pos) : READ_BUF;
		if ((r = lb_flash_pread(fd, buf, n, pos)))
			break;
		for (size_t at = 0; at < n;) {
			bool cut;
			size_t k = lb_cdc_next(&cdc, buf + at, n - at, &cut);
			crypto_hash_sha256_update(&hc, buf + at, k);
			if (cut) {
				unsigned char md[32];
				crypto_hash_sha256_final(&hc, md);
				crypto_hash_sha256_init(&hc);
				found(w, src, start, (uint32_t)(pos + at + k - start), md);
				start = pos + at + k;
			}
			at += k;
		}
		for (size_t at = 0; src == SRC_TARGET && at < n && j < w->ix->n;) {
			const struct lb_chunk *c = C(w, j);
			size_t k = c->off + c->len - (pos + at);
			k = k < n - at ? k : n - at;
			crypto_hash_sha256_update(&ht, buf + at, k);
			at += k;
			if (pos + at == c->off + c->len) {
				unsigned char md[32];
				crypto_hash_sha256_final(&ht, md);
				crypto_hash_sha256_init(&ht);
				if (!memcmp(md, c->sha, 32))
					p->how[j] = H_RIGHT;
				j++;
			}
		}
		pos += n;
	}
	if (!r && pos > start) { /* the last, short chunk */
		unsigned char md[32];
		crypto_hash_sha256_final(&hc, md);
		found(w, src, start, (uint32_t)(pos - start), md);
	}
	free(buf);
	return r ? lb_errf(r, "%s: reading: %s", path, strerror(-r)) : 0;
}

/* Fetched from the pack (not as a delta frame). */
static bool fetched(const struct plan *p, size_t i)
{
	return (p->how[i] == H_FETCH || p->how[i] == H_EARLY) && !(p->dl && p->dl[i]);
}

/* The delta entry of chunk i, or NOT_HERE. */
static uint32_t delta_of(const struct lb_imgwrite *w, size_t i)
{
	const struct lb_delta_index *dx = w->base->dx;
	size_t a = 0, b = dx->n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (dx->d[m].chunk < i)
			a = m + 1;
		else
			b = m;
	}
	return a < dx->n && dx->d[a].chunk == i ? (uint32_t)a : NOT_HERE;
}

/* Which fetched chunks come as delta frames: those with an entry whose
 * reference is still there when the chunk is written (all: ahead). */
static void plan_deltas(struct lb_imgwrite *w, bool ahead)
{
	struct plan *p = w->priv;
	for (size_t i = 0; i < w->ix->n; i++) {
		if (!fetched(p, i) || (ahead && p->how[i] == H_EARLY))
			continue;
		uint32_t e = delta_of(w, i);
		if (e != NOT_HERE &&
		    (ahead || !w->base->in_place || w->base->dx->d[e].ref_off >= C(w, i)->off))
			p->dl[i] = e + 1;
	}
}

static bool in_cache(struct lb_imgwrite *w, size_t i)
{
	char hex[65], name[80];
	sha_hex(C(w, i)->sha, hex);
	snprintf(name, sizeof name, "%s.zst", hex);
	return w->cachefd >= 0 && faccessat(w->cachefd, name, F_OK, 0) == 0;
}

int lb_imgwrite_plan(struct lb_imgwrite *w)
{
	const struct lb_chunk_index *ix = w->ix;
	struct plan *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	w->priv = p;
	p->nfds = 1 + w->nsrc;
	p->how = calloc(ix->n, 1);
	p->src = calloc(ix->n, 1);
	p->at = calloc(ix->n, sizeof *p->at);
	p->by_sha = malloc(ix->n * sizeof *p->by_sha);
	p->fds = malloc(p->nfds * sizeof *p->fds);
	if (!p->how || !p->src || !p->at || !p->by_sha || !p->fds || w->nsrc > 250)
		return -ENOMEM;
	for (size_t i = 0; i < ix->n; i++)
		p->by_sha[i] = (unsigned)i;
	qsort_r(p->by_sha, ix->n, sizeof *p->by_sha, cmp_sha, w);
	for (size_t s = 0; s < p->nfds; s++)
		p->fds[s] = -1;
	int r = 0;
	for (size_t s = 0; !r && s < p->nfds; s++) {
		const char *path = s ? w->src[s - 1].path : w->slot;
		p->fds[s] = open(path, O_RDONLY | O_CLOEXEC);
		if (p->fds[s] < 0 && !s)
			r = lb_errf(-errno, "%s: %s", path, strerror(errno));
		else if (p->fds[s] < 0 && !w->quiet) /* a source is a help, not a need */
			fprintf(stderr, "lifeboat: warning: %s: %s (not used)\n", path,
			        strerror(errno));
		else
			r = scan(w, (unsigned)s, path, s ? w->src[s - 1].limit : 0);
	}
	if (r)
		return r;
	if (w->base) {
		p->basefd = w->base->in_place ? p->fds[SRC_TARGET]
		                              : open(w->base->path, O_RDONLY | O_CLOEXEC);
		p->dl = calloc(ix->n, sizeof *p->dl);
		p->boff = malloc((w->base->dx->n + 1) * sizeof *p->boff);
		if (!p->dl || !p->boff)
			return -ENOMEM;
		for (size_t e = 0; e < w->base->dx->n; e++)
			p->boff[e] = NOT_HERE;
		if (p->basefd < 0) { /* a help, not a need */
			if (!w->quiet)
				fprintf(stderr, "lifeboat: warning: %s: %s (no deltas)\n",
				        w->base->path, strerror(errno));
			w->base = NULL;
		}
	}
	memset(&w->st, 0, sizeof w->st);
	w->st.chunks = ix->n;
	for (size_t i = 0; i < ix->n; i++) {
		if ((p->how[i] == H_FETCH || p->how[i] == H_EARLY) && in_cache(w, i))
			p->how[i] = H_CACHE;
		/* equal chunks both fetched: fetch the first, copy it for the others */
		if (fetched(p, i)) {
			size_t lo, hi;
			find(w, C(w, i)->sha, &lo, &hi);
			unsigned first = p->by_sha[lo];
			if (first < i && fetched(p, first)) {
				p->how[i] = H_SAME;
				p->at[i] = first;
			}
		}
	}
	if (w->base)
		plan_deltas(w, false);
	for (size_t i = 0; i < ix->n; i++) {
		switch (p->how[i]) {
		case H_RIGHT: w->st.right++; break;
		case H_SRC:
		case H_SAME: w->st.local++; break;
		case H_CACHE: w->st.cached++; break;
		default:
			w->st.fetched++;
			if (p->dl && p->dl[i]) {
				w->st.deltas++;
				w->st.fetch_bytes += w->base->dx->d[p->dl[i] - 1].flen;
			} else {
				w->st.fetch_bytes += C(w, i)->clen;
			}
		}
	}
	return 0;
}

/* ---- the write ---- */

static int zerr(const char *what, size_t rc)
{
	return lb_errf(-LBE_HASH, "%s: not a chunk of the image (zstd: %s)", what,
	               ZSTD_getErrorName(rc));
}

/* Decode a frame of chunk i into p->data and check it. */
static int decode(struct lb_imgwrite *w, size_t i, const unsigned char *frame, size_t len,
                  const char *what)
{
	struct plan *p = w->priv;
	const struct lb_chunk *c = C(w, i);
	size_t n = ZSTD_decompressDCtx(p->dz, p->data, w->ix->max, frame, len);
	if (ZSTD_isError(n))
		return zerr(what, n);
	unsigned char md[32];
	crypto_hash_sha256(md, p->data, n);
	if (n != c->len || memcmp(md, c->sha, 32))
		return lb_errf(-LBE_HASH, "%s: chunk %zu of the image does not match its sha256",
		               what, i);
	memcpy(p->last_sha, c->sha, 32);
	p->have_last = true;
	return 0;
}

static int late_sink(void *arg, unsigned long long off, const void *buf, size_t len)
{
	struct lb_imgwrite *w = arg;
	struct plan *p = w->priv;
	if (p->late_fill + len > p->framecap)
		return -LBE_HASH;
	memcpy(p->frame + p->framecap + p->late_fill, buf, len);
	p->late_fill += len;
	(void)off;
	return 0;
}

/* A chunk whose local copy did not match: fetched on its own, on a second
 * connection (the first may be in the middle of an answer). */
static int fetch_one(struct lb_imgwrite *w, size_t i)
{
	struct plan *p = w->priv;
	const struct lb_chunk *c = C(w, i);
	if (!p->late_ready) {
		int r = lb_fetch_init(&p->late);
		if (r)
			return r;
		p->late.retries = w->f->retries;
		p->late.max_speed = w->f->max_speed;
		p->late_ready = true;
	}
	struct lb_range rg = {c->coff, c->clen};
	p->late_fill = 0;
	int r = lb_fetch_ranges(&p->late, w->pack_url, w->ix->pack_size, &rg, 1, late_sink, w);
	if (!r)
		r = decode(w, i, p->frame + p->framecap, p->late_fill, w->pack_url);
	w->st.refetched++;
	return r;
}

/* ---- delta frames ---- */

/* Bytes of the delta file: the frames of the batch's entries into p->batch. */
static int batch_sink(void *arg, unsigned long long off, const void *buf, size_t len)
{
	struct lb_imgwrite *w = arg;
	struct plan *p = w->priv;
	const struct lb_delta_index *dx = w->base->dx;
	const unsigned char *b = buf;
	while (len) {
		while (p->bc < p->b1 && p->boff[p->bc] == NOT_HERE)
			p->bc++;
		if (p->bc == p->b1)
			return 0;
		const struct lb_delta *d = &dx->d[p->bc];
		unsigned long long want = d->foff + p->bfill;
		if (off < want) {
			size_t k = want - off < len ? (size_t)(want - off) : len;
			b += k;
			off += k;
			len -= k;
			continue;
		}
		if (off > want)
			return lb_errf(-EPROTO, "%s: bytes out of order", w->base->delta_url);
		size_t k = d->flen - p->bfill < len ? d->flen - p->bfill : len;
		memcpy(p->batch + p->boff[p->bc] + p->bfill, b, k);
		p->bfill += k;
		b += k;
		off += k;
		len -= k;
		if (p->bfill == d->flen) {
			p->bc++;
			p->bfill = 0;
		}
	}
	return 0;
}

/* The frames of the delta entries from e on that the write or the fetch ahead
 * will need, as many as fit DELTA_BATCH, on the second connection. */
static int load_batch(struct lb_imgwrite *w, size_t e)
{
	struct plan *p = w->priv;
	const struct lb_delta_index *dx = w->base->dx;
	for (size_t k = p->b0; k < p->b1; k++)
		p->boff[k] = NOT_HERE;
	struct lb_range *rg = malloc(dx->n * sizeof *rg);
	if (!rg)
		return -ENOMEM;
	size_t n = 0, fill = 0, k;
	for (k = e; k < dx->n; k++) {
		const struct lb_delta *d = &dx->d[k];
		if (p->dl[d->chunk] != k + 1)
			continue;
		if (fill + d->flen > DELTA_BATCH && fill)
			break;
		p->boff[k] = (uint32_t)fill;
		fill += d->flen;
		if (n && d->foff - (rg[n - 1].off + rg[n - 1].len) <= MERGE_GAP)
			rg[n - 1].len = d->foff + d->flen - rg[n - 1].off;
		else
			rg[n++] = (struct lb_range){d->foff, d->flen};
	}
	p->b0 = e;
	p->b1 = k;
	p->bc = e;
	p->bfill = 0;
	/* while the pack is streamed (the write), on the second connection */
	int r = 0;
	if (!p->ahead && !p->late_ready) {
		r = lb_fetch_init(&p->late);
		p->late.retries = w->f->retries;
		p->late.max_speed = w->f->max_speed;
		p->late_ready = !r;
	}
	if (!r)
		r = lb_fetch_ranges(p->ahead ? w->f : &p->late, w->base->delta_url, dx->pack_size,
		                    rg, n, batch_sink, w);
	free(rg);
	if (!r && p->bc < p->b1) {
		while (p->bc < p->b1 && p->boff[p->bc] == NOT_HERE)
			p->bc++;
		if (p->bc < p->b1)
			r = lb_errf(-EPROTO, "%s: short answer", w->base->delta_url);
	}
	return r;
}

/* Chunk i (with a delta entry) into p->data from its delta frame and the base's
 * bytes. -LBE_HASH when they do not give the chunk. */
static int from_delta(struct lb_imgwrite *w, size_t i)
{
	struct plan *p = w->priv;
	const struct lb_chunk *c = C(w, i);
	size_t e = p->dl[i] - 1;
	const struct lb_delta *d = &w->base->dx->d[e];
	int r = p->boff[e] == NOT_HERE ? load_batch(w, e) : 0;
	if (r)
		return r;
	if (lb_flash_pread(p->basefd, p->ref, d->ref_len, d->ref_off))
		return lb_errf(-LBE_HASH, "%s: cannot read the reference", w->base->path);
	size_t n = ZSTD_DCtx_refPrefix(p->dz, p->ref, d->ref_len);
	if (!ZSTD_isError(n))
		n = ZSTD_decompressDCtx(p->dz, p->data, w->ix->max, p->batch + p->boff[e], d->flen);
	unsigned char md[32] = {0};
	if (!ZSTD_isError(n))
		crypto_hash_sha256(md, p->data, n);
	if (ZSTD_isError(n) || n != c->len || memcmp(md, c->sha, 32))
		return lb_errf(-LBE_HASH, "%s: chunk %zu does not come out of its delta",
		               w->base->delta_url, i);
	memcpy(p->last_sha, c->sha, 32);
	p->have_last = true;
	return 0;
}

/* Chunk i into p->data from where the plan found it (not a fetched one). */
static int local(struct lb_imgwrite *w, size_t i)
{
	struct plan *p = w->priv;
	const struct lb_chunk *c = C(w, i);
	if (p->have_last && !memcmp(p->last_sha, c->sha, 32))
		return 0; /* a run of equal chunks (zeros) */
	int r = 0;
	unsigned char md[32];
	switch (p->how[i]) {
	case H_RIGHT:
	case H_SRC:
	case H_SAME: {
		int fd = p->how[i] == H_SRC ? p->fds[p->src[i]] : p->fds[SRC_TARGET];
		unsigned long long at = p->how[i] == H_RIGHT  ? c->off
		                        : p->how[i] == H_SAME ? C(w, p->at[i])->off
		                                              : p->at[i];
		r = lb_flash_pread(fd, p->data, c->len, at);
		crypto_hash_sha256(md, p->data, c->len);
		if (r || memcmp(md, c->sha, 32))
			return fetch_one(w, i); /* changed since the plan */
		memcpy(p->last_sha, c->sha, 32);
		p->have_last = true;
		return 0;
	}
	case H_CACHE: {
		char hex[65], name[80];
		sha_hex(c->sha, hex);
		snprintf(name, sizeof name, "%s.zst", hex);
		int fd = openat(w->cachefd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n = fd < 0 ? -1 : read(fd, p->frame + p->framecap, p->framecap);
		if (fd >= 0)
			close(fd);
		if (n <= 0 || decode(w, i, p->frame + p->framecap, (size_t)n, name)) {
			lb_err_clear();
			return fetch_one(w, i);
		}
		return 0;
	}
	default:
		if (p->dl && p->dl[i]) {
			r = from_delta(w, i);
			if (r != -LBE_HASH)
				return r;
			lb_err_clear(); /* the base is not what its record says */
		}
		return fetch_one(w, i);
	}
}

/* Write the chunks before end that are not fetched in the pack stream. */
static int write_upto(struct lb_imgwrite *w, size_t end)
{
	struct plan *p = w->priv;
	for (; p->next < end; p->next++) {
		int r = local(w, p->next);
		if (!r)
			r = lb_flash_write(p->fl, p->data, C(w, p->next)->len);
		if (r)
			return r;
	}
	return 0;
}

/* Bytes of the pack, in order: complete the frame of chunk fc, then write
 * everything up to and including it. */
static int pack_sink(void *arg, unsigned long long off, const void *buf, size_t len)
{
	struct lb_imgwrite *w = arg;
	struct plan *p = w->priv;
	const unsigned char *b = buf;
	while (len) {
		while (p->fc < w->ix->n && !fetched(p, p->fc))
			p->fc++;
		if (p->fc == w->ix->n)
			return 0; /* the tail of a merged range */
		const struct lb_chunk *c = C(w, p->fc);
		unsigned long long want = c->coff + p->ffill;
		if (off < want) { /* a chunk between two merged ones */
			size_t k = want - off < len ? (size_t)(want - off) : len;
			b += k;
			off += k;
			len -= k;
			continue;
		}
		if (off > want)
			return lb_errf(-EPROTO, "%s: bytes out of order", w->pack_url);
		size_t k = c->clen - p->ffill < len ? c->clen - p->ffill : len;
		memcpy(p->frame + p->ffill, b, k);
		p->ffill += k;
		b += k;
		off += k;
		len -= k;
		if (p->ffill < c->clen)
			continue;
		int r = write_upto(w, p->fc);
		if (!r)
			r = decode(w, p->fc, p->frame, c->clen, w->pack_url);
		if (!r)
			r = lb_flash_write(p->fl, p->data, c->len);
		if (r)
			return r;
		p->next = ++p->fc;
		p->ffill = 0;
	}
	return 0;
}

/* The fetched chunks' frames as ranges of the pack, neighbours merged. */
static int ranges(struct lb_imgwrite *w, struct lb_range **out, size_t *n)
{
	struct plan *p = w->priv;
	struct lb_range *rg = NULL;
	size_t k = 0, cap = 0;
	for (size_t i = 0; i < w->ix->n; i++) {
		if (!fetched(p, i))
			continue;
		const struct lb_chunk *c = C(w, i);
		if (k && c->coff - (rg[k - 1].off + rg[k - 1].len) <= MERGE_GAP) {
			rg[k - 1].len = c->coff + c->clen - rg[k - 1].off;
			continue;
		}
		if (k == cap) {
			cap = cap ? cap * 2 : 64;
			struct lb_range *nr = realloc(rg, cap * sizeof *rg);
			if (!nr) {
				free(rg);
				return -ENOMEM;
			}
			rg = nr;
		}
		rg[k++] = (struct lb_range){c->coff, c->clen};
	}
	*out = rg;
	*n = k;
	return 0;
}

static int buffers(struct lb_imgwrite *w)
{
	struct plan *p = w->priv;
	p->framecap = ZSTD_compressBound(w->ix->max);
	p->data = malloc(w->ix->max);
	p->frame = malloc(2 * p->framecap); /* the stream's, a late fetch's */
	p->dz = ZSTD_createDCtx();
	if (!p->data || !p->frame || !p->dz)
		return -ENOMEM;
	if (w->base && (!(p->batch = malloc(DELTA_BATCH + p->framecap)) ||
	                !(p->ref = malloc(LB_DELTA_REF_MAX))))
		return -ENOMEM;
	/* a chunk's frame needs no window larger than the chunk */
	if (ZSTD_isError(ZSTD_DCtx_setParameter(p->dz, ZSTD_d_windowLogMax, 23)))
		return -EINVAL;
	return 0;
}

int lb_imgwrite_run(struct lb_imgwrite *w, struct lb_flash *fl)
{
	struct plan *p = w->priv;
	p->fl = fl;
	/* from here on the target is read through the writer's own descriptor: UBI
	 * refuses an eraseblock change while the volume is open elsewhere too */
	int old = p->fds[SRC_TARGET];
	p->fds[SRC_TARGET] = fl->fd;
	p->target_borrowed = true;
	if (w->base && w->base->in_place && p->basefd == old)
		p->basefd = fl->fd;
	if (old >= 0)
		close(old);
	int r = buffers(w);
	struct lb_range *rg = NULL;
	size_t n = 0;
	unsigned long long req0 = w->f->requests;
	if (!r)
		r = ranges(w, &rg, &n);
	if (!r && n)
		r = lb_fetch_ranges(w->f, w->pack_url, w->ix->pack_size, rg, n, pack_sink, w);
	free(rg);
	if (!r)
		r = write_upto(w, w->ix->n);
	w->st.requests = w->f->requests - req0 + (p->late_ready ? p->late.requests : 0);
	if (!r)
		r = lb_flash_finish(fl);
	if (!r)
		r = lb_flash_verify(fl);
	return r;
}

/* ---- fetching ahead into the cache ---- */

static int cache_put(struct lb_imgwrite *w, size_t i, const void *frame, size_t len)
{
	char hex[65], name[80], tmp[96];
	sha_hex(C(w, i)->sha, hex);
	snprintf(name, sizeof name, "%s.zst", hex);
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	/* not synced one by one: each is checked when used, and the cache is synced
	 * once before the rescue system is asked to use it */
	int fd = lb_create_unsafe(w->cachefd, tmp, 0644, 1);
	if (fd < 0)
		return lb_errf(fd, "cache %s: %s", tmp, strerror(-fd));
	int r = lb_write_all(fd, frame, len);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r)
		r = lb_rename(w->cachefd, tmp, w->cachefd, name);
	return r ? lb_errf(r, "cache %s: %s", name, strerror(-r)) : 0;
}

struct ahead {
	struct lb_imgwrite *w;
	unsigned long long reserve;
	size_t fc, fill;
	bool full;
};

static bool room(struct lb_imgwrite *w, unsigned long long need, unsigned long long reserve)
{
	struct statvfs sv;
	if (fstatvfs(w->cachefd, &sv) < 0)
		return false;
	return (unsigned long long)sv.f_bavail * sv.f_frsize > need + reserve;
}

static int ahead_sink(void *arg, unsigned long long off, const void *buf, size_t len)
{
	struct ahead *a = arg;
	struct lb_imgwrite *w = a->w;
	struct plan *p = w->priv;
	const unsigned char *b = buf;
	while (len) {
		while (a->fc < w->ix->n && !fetched(p, a->fc))
			a->fc++;
		if (a->fc == w->ix->n)
			return 0;
		const struct lb_chunk *c = C(w, a->fc);
		unsigned long long want = c->coff + a->fill;
		if (off < want) {
			size_t k = want - off < len ? (size_t)(want - off) : len;
			b += k;
			off += k;
			len -= k;
			continue;
		}
		size_t k = c->clen - a->fill < len ? c->clen - a->fill : len;
		memcpy(p->frame + a->fill, b, k);
		a->fill += k;
		b += k;
		off += k;
		len -= k;
		if (a->fill < c->clen)
			continue;
		if (!room(w, c->clen, a->reserve)) {
			a->full = true;
			return -ENOSPC;
		}
		int r = decode(w, a->fc, p->frame, c->clen, w->pack_url);
		if (!r)
			r = cache_put(w, a->fc, p->frame, c->clen);
		if (r)
			return r;
		p->how[a->fc] = H_CACHE;
		a->fc++;
		a->fill = 0;
	}
	return 0;
}

int lb_imgwrite_prefetch(struct lb_imgwrite *w, unsigned long long reserve, bool *complete)
{
	struct plan *p = w->priv;
	*complete = false;
	int r = buffers(w);
	/* chunks the slot has only where they are overwritten first: copied */
	ZSTD_CCtx *cc = r ? NULL : ZSTD_createCCtx();
	if (!r && !cc)
		r = -ENOMEM;
	bool full = false;
	for (size_t i = 0; !r && !full && i < w->ix->n; i++) {
		if (p->how[i] != H_EARLY)
			continue;
		const struct lb_chunk *c = C(w, i);
		unsigned char md[32];
		r = lb_flash_pread(p->fds[SRC_TARGET], p->data, c->len, p->at[i]);
		crypto_hash_sha256(md, p->data, c->len);
		if (r || memcmp(md, c->sha, 32)) {
			p->how[i] = H_FETCH;
			r = 0;
			continue;
		}
		size_t z = ZSTD_compressCCtx(cc, p->frame, p->framecap, p->data, c->len, CACHE_LVL);
		if (ZSTD_isError(z))
			r = lb_errf(-EIO, "zstd: %s", ZSTD_getErrorName(z));
		else if (!(full = !room(w, z, reserve)))
			r = cache_put(w, i, p->frame, z);
		if (!r && !full)
			p->how[i] = H_CACHE;
	}
	for (size_t i = 0; i < w->ix->n; i++) /* what is left to fetch */
		if (p->how[i] == H_EARLY) {
			p->how[i] = H_FETCH;
			if (p->dl)
				p->dl[i] = 0;
		}
	/* with the slot still intact, every delta can be used */
	if (w->base)
		plan_deltas(w, true);
	p->ahead = true;
	for (size_t i = 0; !r && !full && w->base && i < w->ix->n; i++) {
		if (!p->dl[i] || p->how[i] != H_FETCH)
			continue;
		const struct lb_chunk *c = C(w, i);
		r = from_delta(w, i);
		if (r == -LBE_HASH) { /* fetched plain below */
			lb_err_clear();
			p->dl[i] = 0;
			r = 0;
			continue;
		}
		p->dl[i] = 0;
		size_t z =
		    r ? 0
		      : ZSTD_compressCCtx(cc, p->frame, p->framecap, p->data, c->len, CACHE_LVL);
		if (ZSTD_isError(z))
			r = lb_errf(-EIO, "zstd: %s", ZSTD_getErrorName(z));
		else if (!r && !(full = !room(w, z, reserve)))
			r = cache_put(w, i, p->frame, z);
		if (!r && !full)
			p->how[i] = H_CACHE;
	}
	for (size_t i = 0; p->dl && i < w->ix->n; i++)
		p->dl[i] = 0;
	ZSTD_freeCCtx(cc);
	struct lb_range *rg = NULL;
	size_t n = 0;
	if (!r && !full)
		r = ranges(w, &rg, &n);
	struct ahead a = {.w = w, .reserve = reserve};
	if (!r && !full && n) {
		r = lb_fetch_ranges(w->f, w->pack_url, w->ix->pack_size, rg, n, ahead_sink, &a);
		if (a.full) {
			lb_err_clear();
			r = 0;
			full = true;
		}
	}
	free(rg);
	if (!r)
		r = lb_syncfs(w->cachefd);
	*complete = !r && !full;
	return r;
}

void lb_imgwrite_free(struct lb_imgwrite *w)
{
	struct plan *p = w->priv;
	if (!p)
		return;
	for (size_t s = 0; p->fds && s < p->nfds; s++)
		if (p->fds[s] >= 0 && !(s == SRC_TARGET && p->target_borrowed))
			close(p->fds[s]);
	if (p->late_ready)
		lb_fetch_free(&p->late);
	ZSTD_freeDCtx(p->dz);
	free(p->how);
	free(p->src);
	free(p->at);
	free(p->by_sha);
	free(p->fds);
	free(p->data);
	free(p->frame);
	free(p->dl);
	free(p->boff);
	free(p->batch);
	free(p->ref);
	if (w->base && p->basefd >= 0 && !w->base->in_place)
		close(p->basefd);
	free(p);
	w->priv = NULL;
}
