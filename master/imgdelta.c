/* SPDX-License-Identifier: MIT */
/* Deltas of a new image from older ones (lib/chunk.h, "Deltas"): for every chunk
 * of the new image V2 that the older V1 lacks, the most similar bytes of V1 are
 * found by resemblance (content-defined anchors of V1, lb_delta_anchors, indexed
 * by hash; each anchor of the chunk found in V1 votes for where the chunk starts
 * there), and the chunk is compressed with the LB_DELTA_REF_MAX bytes of V1 from
 * there as the zstd prefix. The frame is kept when it is smaller than the chunk's
 * own. V1's bytes come from decoding its pack (a .zst of the whole image) into an
 * unlinked temporary file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "chunk.h"
#include "fsop.h"
#include "master.h"

#define POPULAR   8 /* an anchor hash found more often in V1 says nothing */
#define INDEX_MAX (LB_CHUNK_HEADER + (size_t)LB_CHUNK_ENTRY * LB_CHUNK_COUNT_MAX)

struct feat {
	uint64_t h, off;
};

struct map {
	unsigned char *p;
	size_t len;
};

static int cmp_feat(const void *a, const void *b)
{
	const struct feat *x = a, *y = b;
	return x->h != y->h ? (x->h > y->h) - (x->h < y->h) : (x->off > y->off) - (x->off < y->off);
}

static int cmp_sha(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void unmap(struct map *m)
{
	if (m->p && m->len)
		munmap(m->p, m->len);
	m->p = NULL;
}

static int map_fd(int fd, size_t len, struct map *m)
{
	m->len = len;
	m->p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m->p == MAP_FAILED) {
		m->p = NULL;
		return -errno;
	}
	return 0;
}

static int load_index(int dfd, const char *name, struct lb_chunk_index *ix)
{
	char *buf = NULL;
	size_t len = 0;
	int r = lb_read_file(dfd, name, INDEX_MAX, &buf, &len);
	if (r)
		return lb_errf(r, "images/%s: %s", name, strerror(-r));
	r = lb_chunk_index_parse(buf, len, ix);
	free(buf);
	return r ? lb_err_prefix(r, "images/%s", name) : 0;
}

/* V1's pack decoded into an unlinked file, mapped. */
static int decode_base(int dfd, const char *sha, const struct lb_chunk_index *ix, struct map *m)
{
	char name[80];
	snprintf(name, sizeof name, "%.64s.pack", sha);
	int in = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	int out = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out < 0) {
		FILE *f = tmpfile();
		out = f ? dup(fileno(f)) : -1;
		if (f)
			fclose(f);
	}
	size_t icap = ZSTD_DStreamInSize(), ocap = ZSTD_DStreamOutSize();
	unsigned char *ib = malloc(icap), *ob = malloc(ocap);
	ZSTD_DCtx *dz = ZSTD_createDCtx();
	int r = in < 0 ? -errno : out < 0 ? -EIO : !ib || !ob || !dz ? -ENOMEM : 0;
	unsigned long long total = 0;
	ssize_t n = 0;
	while (!r && (n = read(in, ib, icap)) > 0) {
		ZSTD_inBuffer zi = {ib, (size_t)n, 0};
		while (!r && zi.pos < zi.size) {
			ZSTD_outBuffer zo = {ob, ocap, 0};
			size_t rc = ZSTD_decompressStream(dz, &zo, &zi);
			if (ZSTD_isError(rc))
				r = lb_errf(-LBE_FORMAT, "zstd: %s", ZSTD_getErrorName(rc));
			else if (zo.pos)
				r = lb_write_all(out, ob, zo.pos);
			total += zo.pos;
		}
	}
	if (!r && n < 0)
		r = -errno;
	if (!r && total != ix->image_size)
		r = lb_errf(-LBE_FORMAT, "decodes to %llu bytes, not %llu", total,
		            (unsigned long long)ix->image_size);
	if (!r)
		r = map_fd(out, (size_t)total, m);
	ZSTD_freeDCtx(dz);
	free(ib);
	free(ob);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r ? lb_err_prefix(r, "images/%s", name) : 0;
}

struct feats {
	struct feat *f;
	size_t n, cap;
	int err;
	/* for a chunk of V2: its anchors' votes */
	const struct feats *base;
	int64_t *votes;
	size_t nv, vcap;
};

static void add_feat(void *arg, uint64_t h, size_t pos)
{
	struct feats *fs = arg;
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 1u << 16;
		struct feat *f = realloc(fs->f, cap * sizeof *f);
		if (!f) {
			fs->err = -ENOMEM;
			return;
		}
		fs->f = f;
		fs->cap = cap;
	}
	fs->f[fs->n++] = (struct feat){h, pos};
}

/* An anchor of the chunk: where V1 has the same one, the chunk may start at
 * that offset minus pos. */
static void vote(void *arg, uint64_t h, size_t pos)
{
	struct feats *v = arg;
	const struct feats *b = v->base;
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (b->f[m].h < h)
			lo = m + 1;
		else
			hi = m;
	}
	size_t end = lo;
	while (end < b->n && b->f[end].h == h)
		end++;
	if (end == lo || end - lo > POPULAR)
		return;
	for (size_t k = lo; k < end; k++) {
		if (v->nv == v->vcap) {
			size_t cap = v->vcap ? v->vcap * 2 : 256;
			int64_t *nv = realloc(v->votes, cap * sizeof *nv);
			if (!nv) {
				v->err = -ENOMEM;
				return;
			}
			v->votes = nv;
			v->vcap = cap;
		}
		v->votes[v->nv++] = (int64_t)b->f[k].off - (int64_t)pos;
	}
}

/* Where in V1 the chunk (at off, len bytes) most likely starts: the offset most
 * anchors vote for (bytes that did not move vote for the same one); with no
 * votes, the chunk's own offset. */
static int64_t best_start(struct feats *v, const unsigned char *chunk, size_t len, uint64_t off)
{
	v->nv = 0;
	lb_delta_anchors(chunk, len, vote, v);
	if (!v->nv)
		return (int64_t)off;
	qsort(v->votes, v->nv, sizeof *v->votes, cmp_i64);
	size_t best = 0, bestn = 0;
	for (size_t i = 0, j = 0; i < v->nv; i = j) {
		while (j < v->nv && v->votes[j] == v->votes[i])
			j++;
		if (j - i > bestn) {
			bestn = j - i;
			best = i;
		}
	}
	return v->votes[best];
}

struct enc {
	ZSTD_CCtx *cc;
	ZSTD_DCtx *dc;
	unsigned char *zbuf, *back;
	size_t zcap;
	int level;
};

/* Chunk src compressed with ref as the prefix into e->zbuf; 0 and *zlen, or an
 * error. The frame is decoded again and compared before it is kept. */
static int encode(struct enc *e, const unsigned char *ref, size_t rlen, const unsigned char *src,
                  size_t len, size_t *zlen)
{
	size_t rc = ZSTD_CCtx_reset(e->cc, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_setParameter(e->cc, ZSTD_c_compressionLevel, e->level);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_refPrefix(e->cc, ref, rlen);
	if (!ZSTD_isError(rc))
		rc = ZSTD_compress2(e->cc, e->zbuf, e->zcap, src, len);
	if (ZSTD_isError(rc))
		return lb_errf(-EIO, "zstd: %s", ZSTD_getErrorName(rc));
	*zlen = rc;
	rc = ZSTD_DCtx_refPrefix(e->dc, ref, rlen);
	if (!ZSTD_isError(rc))
		rc = ZSTD_decompressDCtx(e->dc, e->back, len, e->zbuf, *zlen);
	if (ZSTD_isError(rc) || rc != len || memcmp(e->back, src, len))
		return lb_errf(-EIO, "zstd: a delta frame does not decode to its chunk");
	return 0;
}

/* Is the delta from base there and right? Then fill d from it. */
static bool delta_there(int dfd, const struct lb_chunk_index *ix2, const unsigned char base[32],
                        struct mdelta *d)
{
	char *buf = NULL;
	size_t len = 0;
	struct lb_delta_index dx;
	struct stat st;
	bool ok = lb_read_file(dfd, d->index + 7, INDEX_MAX, &buf, &len) == 0 &&
	          lb_delta_index_parse(buf, len, ix2, &dx) == 0;
	lb_err_clear();
	if (!ok) {
		free(buf);
		return false;
	}
	ok = !memcmp(dx.base_sha, base, 32) &&
	     !fstatat(dfd, d->path + 7, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode) &&
	     (unsigned long long)st.st_size == dx.pack_size;
	if (ok) {
		unsigned char md[32];
		crypto_hash_sha256(md, (const unsigned char *)buf, len);
		sodium_bin2hex(d->index_sha256, sizeof d->index_sha256, md, sizeof md);
		d->index_size = len;
		d->size = dx.pack_size;
	}
	lb_delta_index_free(&dx);
	free(buf);
	return ok;
}

struct job {
	struct mtree *t;
	int dfd;
	const struct mimage *im;
	const struct lb_chunk_index *ix2;
	const struct map *v2;
};

/* Every chunk of V2 that V1 lacks: its delta frame onto packfd, its entry into dx. */
static int encode_all(struct job *j, const struct lb_chunk_index *ix1, const struct map *v1,
                      int packfd, struct lb_delta_index *dx, unsigned long long *plain)
{
	unsigned char(*shas)[32] = malloc(ix1->n * 32);
	struct feats fs = {0}, v = {0};
	struct enc e = {.level = j->im->level, .zcap = ZSTD_compressBound(j->ix2->max)};
	e.cc = ZSTD_createCCtx();
	e.dc = ZSTD_createDCtx();
	e.zbuf = malloc(e.zcap);
	e.back = malloc(j->ix2->max);
	dx->d = calloc(j->ix2->n, sizeof *dx->d);
	int r = !shas || !e.cc || !e.dc || !e.zbuf || !e.back || !dx->d ? -ENOMEM : 0;
	for (size_t i = 0; !r && i < ix1->n; i++)
		memcpy(shas[i], ix1->c[i].sha, 32);
	if (!r) {
		qsort(shas, ix1->n, 32, cmp_sha);
		lb_delta_anchors(v1->p, v1->len, add_feat, &fs);
		r = fs.err;
	}
	if (!r)
		qsort(fs.f, fs.n, sizeof *fs.f, cmp_feat);
	v.base = &fs;
	for (size_t i = 0; !r && i < j->ix2->n; i++) {
		const struct lb_chunk *c = &j->ix2->c[i];
		if (bsearch(c->sha, shas, ix1->n, 32, cmp_sha))
			continue; /* V1 has it as it is */
		const unsigned char *src = j->v2->p + c->off;
		unsigned char md[32];
		crypto_hash_sha256(md, src, c->len);
		if (memcmp(md, c->sha, 32)) {
			r = lb_errf(-LBE_HASH, "%s: changed while being published", j->im->file);
			break;
		}
		*plain += c->clen;
		int64_t at = best_start(&v, src, c->len, c->off);
		if ((r = v.err))
			break;
		uint64_t ref_off = at < 0 ? 0 : (uint64_t)at;
		if (ref_off >= v1->len)
			continue;
		size_t rlen = v1->len - ref_off < LB_DELTA_REF_MAX ? (size_t)(v1->len - ref_off)
		                                                   : LB_DELTA_REF_MAX;
		size_t zlen = 0;
		if ((r = encode(&e, v1->p + ref_off, rlen, src, c->len, &zlen)))
			break;
		if (zlen >= c->clen)
			continue;
		if ((r = lb_write_all(packfd, e.zbuf, zlen)))
			break;
		dx->d[dx->n++] = (struct lb_delta){.chunk = (uint32_t)i,
		                                   .ref_off = ref_off,
		                                   .ref_len = (uint32_t)rlen,
		                                   .flen = (uint32_t)zlen};
		dx->pack_size += zlen;
	}
	free(shas);
	free(fs.f);
	free(v.votes);
	ZSTD_freeCCtx(e.cc);
	ZSTD_freeDCtx(e.dc);
	free(e.zbuf);
	free(e.back);
	return r;
}

/* The delta from the image base (hex sha256) to j->im into d. */
static int delta_from(struct job *j, const char *base, struct mdelta *d)
{
	const struct mimage *im = j->im;
	unsigned char bsha[32];
	snprintf(d->base, sizeof d->base, "%.64s", base);
	snprintf(d->path, sizeof d->path, "images/%.64s.from-%.64s.delta", im->sha256, base);
	snprintf(d->index, sizeof d->index, "images/%.64s.from-%.64s.dindex", im->sha256, base);
	sodium_hex2bin(bsha, sizeof bsha, base, 64, NULL, NULL, NULL);
	if (delta_there(j->dfd, j->ix2, bsha, d)) {
		j->t->kept += 2;
		return 0;
	}
	char name[80];
	snprintf(name, sizeof name, "%.64s.index", base);
	struct lb_chunk_index ix1 = {0};
	struct map v1 = {0};
	struct lb_delta_index dx = {.base_size = 0};
	unsigned long long plain = 0;
	unsigned char *buf = NULL;
	size_t len = 0;
	int r = load_index(j->dfd, name, &ix1);
	if (!r && memcmp(ix1.image_sha, bsha, 32))
		r = lb_errf(-LBE_FORMAT, "images/%s: for another image", name);
	if (!r)
		r = decode_base(j->dfd, base, &ix1, &v1);
	int packfd = r ? -1 : lb_replace_open(j->dfd, d->path + 7, 0644);
	if (!r && packfd < 0)
		r = lb_errf(packfd, "%s: %s", d->path, strerror(-packfd));
	if (!r) {
		memcpy(dx.image_sha, j->ix2->image_sha, 32);
		memcpy(dx.base_sha, bsha, 32);
		dx.base_size = ix1.image_size;
		r = encode_all(j, &ix1, &v1, packfd, &dx, &plain);
		int e = lb_replace_finish(j->dfd, d->path + 7, packfd, r);
		if (!r && e)
			r = lb_errf(e, "%s: %s", d->path, strerror(-e));
	}
	if (!r)
		r = lb_delta_index_format(&dx, &buf, &len);
	if (!r && (r = lb_replace_file(j->dfd, d->index + 7, buf, len, 0644)))
		r = lb_errf(r, "%s: %s", d->index, strerror(-r));
	if (!r) {
		unsigned char md[32];
		crypto_hash_sha256(md, buf, len);
		sodium_bin2hex(d->index_sha256, sizeof d->index_sha256, md, sizeof md);
		d->index_size = len;
		d->size = dx.pack_size;
		j->t->written += 2;
		fprintf(stderr,
		        "lifeboat-master: image %s: delta from %.12s: %zu chunks, %llu bytes "
		        "instead of %llu\n",
		        im->version, base, dx.n, (unsigned long long)dx.pack_size, plain);
	}
	free(buf);
	unmap(&v1);
	lb_delta_index_free(&dx);
	lb_chunk_index_free(&ix1);
	return r;
}

struct cand {
	char sha[65];
	struct timespec mtime;
};

static int newer_first(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	return x->mtime.tv_nsec < y->mtime.tv_nsec   ? 1
	       : x->mtime.tv_nsec > y->mtime.tv_nsec ? -1
	                                             : 0;
}

/* The other images of the tree: images/<sha256>.index, newest first. */
static size_t candidates(int dfd, const char *self, struct cand *out, size_t max)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *e;
	size_t n = 0, k;
	struct cand all[64];
	while (d && n < 64 && (e = readdir(d))) {
		struct stat st;
		if (strlen(e->d_name) != 70 || strcmp(e->d_name + 64, ".index") ||
		    strspn(e->d_name, "0123456789abcdef") != 64 || !strncmp(e->d_name, self, 64) ||
		    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		memcpy(all[n].sha, e->d_name, 64);
		all[n].sha[64] = 0;
		all[n++].mtime = st.st_mtim;
	}
	if (d)
		closedir(d);
	qsort(all, n, sizeof *all, newer_first);
	for (k = 0; k < n && k < max; k++)
		out[k] = all[k];
	return k;
}

int image_deltas(struct mtree *t, struct mimage *im)
{
	im->ndeltas = 0;
	if (!im->max_bases)
		return 0;
	int dfd = openat(t->fd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "%s/images: %s", t->path, strerror(errno));
	struct cand c[MIMAGE_BASES];
	size_t max = im->max_bases < MIMAGE_BASES ? im->max_bases : MIMAGE_BASES;
	size_t nc = candidates(dfd, im->sha256, c, max);
	struct lb_chunk_index ix2 = {0};
	struct map v2 = {0};
	int r = nc ? load_index(dfd, im->index + 7, &ix2) : 0;
	int fd = !r && nc ? open(im->file, O_RDONLY | O_CLOEXEC) : -1;
	if (!r && nc && fd < 0)
		r = lb_errf(-errno, "%s: %s", im->file, strerror(errno));
	if (!r && nc && (r = map_fd(fd, (size_t)ix2.image_size, &v2)))
		r = lb_errf(r, "%s: %s", im->file, strerror(-r));
	if (fd >= 0)
		close(fd);
	struct job j = {.t = t, .dfd = dfd, .im = im, .ix2 = &ix2, .v2 = &v2};
	for (size_t i = 0; !r && i < nc; i++) {
		int e = delta_from(&j, c[i].sha, &im->deltas[im->ndeltas]);
		if (!e)
			im->ndeltas++;
		else if (e == -ENOMEM || e == -LBE_HASH)
			r = e;
		else { /* a damaged older image: no delta from it */
			fprintf(stderr,
			        "lifeboat-master: warning: image %s: no delta from %.12s: %s\n",
			        im->version, c[i].sha, lb_err_msg());
			lb_err_clear();
		}
	}
	unmap(&v2);
	lb_chunk_index_free(&ix2);
	close(dfd);
	return r ? lb_err_prefix(r, "image %s: deltas", im->version) : 0;
}
