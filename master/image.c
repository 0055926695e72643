/* SPDX-License-Identifier: MIT */
/* OS images in the tree, named by the sha256 of the uncompressed image
 * (content-addressed like the pool: never rewritten once there, never removed by
 * publish), cut into content-defined chunks (lib/chunk.h):
 *   chunks/XX/<sha256>.zst   one zstd frame per distinct chunk, shared by every
 *                            image that has it (compressed once)
 *   images/<sha256>.pack     the frames of the image's chunks in order: a .zst of
 *                            the whole image, and what devices fetch ranges of
 *   images/<sha256>.index    the chunk index, written last */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "chunk.h"
#include "fsop.h"
#include "master.h"

#define IO_BUF (1u << 17)

/* read() that retries EINTR; 0 at the end */
static ssize_t read_some(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void hex_of(crypto_hash_sha256_state *h, char out[65])
{
	unsigned char md[32];
	crypto_hash_sha256_final(h, md);
	sodium_bin2hex(out, 65, md, sizeof md);
}

int image_load(const char *file, const char *version, struct mimage *im)
{
	memset(im, 0, sizeof *im);
	unsigned char *buf = malloc(IO_BUF);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	int r = !buf ? -ENOMEM : fd < 0 ? -errno : 0;
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	ssize_t n = 0;
	while (!r && (n = read_some(fd, buf, IO_BUF)) > 0) {
		crypto_hash_sha256_update(&h, buf, (size_t)n);
		im->size += (unsigned long long)n;
	}
	if (!r && n < 0)
		r = (int)n;
	if (fd >= 0)
		close(fd);
	free(buf);
	if (r)
		return lb_errf(r, "image %s: %s", file, strerror(-r));
	if (!im->size)
		return lb_errf(-LBE_FORMAT, "image %s: empty file", file);
	hex_of(&h, im->sha256);
	snprintf(im->path, sizeof im->path, "images/%s.pack", im->sha256);
	snprintf(im->index, sizeof im->index, "images/%s.index", im->sha256);
	if (!(im->file = strdup(file)) || !(im->version = strdup(version))) {
		image_free(im);
		return -ENOMEM;
	}
	return 0;
}

void image_free(struct mimage *im)
{
	free(im->file);
	free(im->version);
	memset(im, 0, sizeof *im);
}

static int zerr(size_t rc)
{
	return lb_errf(-EIO, "zstd: %s", ZSTD_getErrorName(rc));
}

/* Are the index and the pack there, for this image and chunk size? */
static bool already_there(int dfd, struct mimage *im)
{
	char *buf = NULL;
	size_t len = 0;
	struct lb_chunk_index ix;
	struct stat st;
	unsigned char want[32];
	bool ok = lb_read_file(dfd, im->index + 7,
	                       LB_CHUNK_HEADER + (size_t)LB_CHUNK_ENTRY * LB_CHUNK_COUNT_MAX, &buf,
	                       &len) == 0 &&
	          lb_chunk_index_parse(buf, len, &ix) == 0;
	lb_err_clear();
	if (!ok) {
		free(buf);
		return false;
	}
	sodium_hex2bin(want, sizeof want, im->sha256, 64, NULL, NULL, NULL);
	ok = ix.image_size == im->size && !memcmp(ix.image_sha, want, 32) &&
	     ix.avg == im->chunk_avg && !fstatat(dfd, im->path + 7, &st, AT_SYMLINK_NOFOLLOW) &&
	     S_ISREG(st.st_mode) && (unsigned long long)st.st_size == ix.pack_size;
	if (ok) {
		unsigned char md[32];
		crypto_hash_sha256(md, (const unsigned char *)buf, len);
		sodium_bin2hex(im->index_sha256, sizeof im->index_sha256, md, sizeof md);
		im->index_size = len;
		im->csize = ix.pack_size;
	}
	lb_chunk_index_free(&ix);
	free(buf);
	return ok;
}

struct pub {
	struct mimage *im;
	int chunkfd, packfd; /* TREE/chunks, the pack being written */
	ZSTD_CCtx *cc;
	ZSTD_DCtx *dc;
	unsigned char *chunk, *zbuf, *back; /* a chunk, its frame, a frame decoded */
	size_t fill, zcap;
	struct lb_chunk_index ix;
	size_t cap;
	unsigned long long reused, fresh; /* chunks */
};

/* The frame of p->chunk from the store, if the store has it right: the file is
 * checked by decoding it (a master cut off while writing it leaves any bytes). */
static bool from_store(struct pub *p, int dfd, const char *name, size_t *zlen)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, p->zbuf, p->zcap);
	close(fd);
	if (n <= 0 || (size_t)n == p->zcap)
		return false;
	size_t rc = ZSTD_decompressDCtx(p->dc, p->back, p->fill, p->zbuf, (size_t)n);
	if (ZSTD_isError(rc) || rc != p->fill || memcmp(p->back, p->chunk, p->fill))
		return false;
	*zlen = (size_t)n;
	return true;
}

/* One chunk: into the store unless it is there, onto the pack, into the index. */
static int emit(struct pub *p)
{
	struct lb_chunk *c;
	if (p->ix.n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		if (cap > LB_CHUNK_COUNT_MAX)
			return lb_errf(-EFBIG, "more than %u chunks", LB_CHUNK_COUNT_MAX);
		if (!(c = realloc(p->ix.c, cap * sizeof *c)))
			return -ENOMEM;
		p->ix.c = c;
		p->cap = cap;
	}
	c = &p->ix.c[p->ix.n];
	crypto_hash_sha256(c->sha, p->chunk, p->fill);
	char hex[65], sub[3], name[80];
	sodium_bin2hex(hex, sizeof hex, c->sha, sizeof c->sha);
	memcpy(sub, hex, 2);
	sub[2] = 0;
	snprintf(name, sizeof name, "%s.zst", hex);
	if (mkdirat(p->chunkfd, sub, 0755) < 0 && errno != EEXIST)
		return lb_errf(-errno, "chunks/%s: %s", sub, strerror(errno));
	int dfd = openat(p->chunkfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "chunks/%s: %s", sub, strerror(errno));
	size_t zlen = 0;
	int r = 0;
	if (from_store(p, dfd, name, &zlen)) {
		p->reused++;
	} else {
		zlen = ZSTD_compress2(p->cc, p->zbuf, p->zcap, p->chunk, p->fill);
		if (ZSTD_isError(zlen))
			r = zerr(zlen);
		/* no fsync per chunk: the store is synced once, before the index names it */
		char tmp[96];
		snprintf(tmp, sizeof tmp, "%s.tmp", name);
		int fd = r ? -1 : lb_create_unsafe(dfd, tmp, 0644, 1);
		if (!r && fd < 0)
			r = fd;
		if (!r) {
			r = lb_write_all(fd, p->zbuf, zlen);
			if (close(fd) < 0 && !r)
				r = -errno;
			if (!r && renameat(dfd, tmp, dfd, name) < 0)
				r = -errno;
			if (r)
				r = lb_errf(r, "chunks/%s/%s: %s", sub, name, strerror(-r));
		}
		p->fresh++;
	}
	close(dfd);
	if (!r)
		r = lb_write_all(p->packfd, p->zbuf, zlen);
	if (r)
		return r;
	c->len = (uint32_t)p->fill;
	c->clen = (uint32_t)zlen;
	p->ix.pack_size += zlen;
	p->ix.image_size += p->fill;
	p->ix.n++;
	p->fill = 0;
	return 0;
}

/* Cut src into chunks, checking that it still has im's sha256 and size. */
static int cut(struct pub *p, int src)
{
	struct lb_cdc cdc;
	int r = lb_cdc_init(&cdc, p->im->chunk_avg);
	if (r)
		return lb_errf(r, "chunk size %u: not a power of two from 4 KiB to 1 MiB",
		               p->im->chunk_avg);
	p->ix.min = cdc.min;
	p->ix.avg = cdc.avg;
	p->ix.max = cdc.max;
	p->zcap = ZSTD_compressBound(cdc.max);
	unsigned char *in = malloc(IO_BUF);
	p->chunk = malloc(cdc.max);
	p->back = malloc(cdc.max);
	p->zbuf = malloc(p->zcap);
	p->cc = ZSTD_createCCtx();
	p->dc = ZSTD_createDCtx();
	if (!in || !p->chunk || !p->back || !p->zbuf || !p->cc || !p->dc)
		r = -ENOMEM;
	size_t rc = r ? 0 : ZSTD_CCtx_setParameter(p->cc, ZSTD_c_compressionLevel, p->im->level);
	if (ZSTD_isError(rc))
		r = zerr(rc);
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	ssize_t n = 0;
	while (!r && (n = read_some(src, in, IO_BUF)) > 0) {
		crypto_hash_sha256_update(&h, in, (size_t)n);
		for (size_t at = 0; !r && at < (size_t)n;) {
			bool end;
			size_t k = lb_cdc_next(&cdc, in + at, (size_t)n - at, &end);
			memcpy(p->chunk + p->fill, in + at, k);
			p->fill += k;
			at += k;
			if (end)
				r = emit(p);
		}
	}
	if (!r && n < 0)
		r = lb_errf((int)n, "%s", strerror((int)-n));
	if (!r && p->fill)
		r = emit(p);
	char hex[65];
	hex_of(&h, hex);
	if (!r && (p->ix.image_size != p->im->size || strcmp(hex, p->im->sha256)))
		r = lb_errf(-LBE_HASH, "changed while being published");
	if (!r)
		sodium_hex2bin(p->ix.image_sha, 32, hex, 64, NULL, NULL, NULL);
	free(in);
	return r;
}

static int write_index(struct mtree *t, int dfd, struct pub *p)
{
	unsigned char *buf = NULL, md[32];
	size_t len = 0;
	/* the chunks the index names are on disk before it is */
	int r = lb_syncfs(p->chunkfd);
	if (!r)
		r = lb_chunk_index_format(&p->ix, &buf, &len);
	if (!r)
		r = lb_replace_file(dfd, p->im->index + 7, buf, len, 0644);
	if (!r) {
		crypto_hash_sha256(md, buf, len);
		sodium_bin2hex(p->im->index_sha256, sizeof p->im->index_sha256, md, sizeof md);
		p->im->index_size = len;
		p->im->csize = p->ix.pack_size;
	}
	free(buf);
	return r ? lb_errf(r, "%s/%s: %s", t->path, p->im->index, strerror(-r)) : 0;
}

int image_publish(struct mtree *t, struct mimage *im)
{
	int r = tree_mkdir(t, "images");
	if (!r)
		r = tree_mkdir(t, "chunks");
	if (r)
		return r;
	int dfd = openat(t->fd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "%s/images: %s", t->path, strerror(errno));
	if (already_there(dfd, im)) {
		close(dfd);
		t->kept++;
		return 0;
	}
	struct pub p = {.im = im, .packfd = -1};
	p.chunkfd = openat(t->fd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.chunkfd < 0)
		r = lb_errf(-errno, "%s/chunks: %s", t->path, strerror(errno));
	int src = r ? -1 : open(im->file, O_RDONLY | O_CLOEXEC);
	if (!r && src < 0)
		r = lb_errf(-errno, "%s", strerror(errno));
	p.packfd = r ? -1 : lb_replace_open(dfd, im->path + 7, 0644);
	if (!r && p.packfd < 0)
		r = lb_errf(p.packfd, "%s", strerror(-p.packfd));
	if (!r) {
		r = cut(&p, src);
		int e = lb_replace_finish(dfd, im->path + 7, p.packfd, r);
		if (!r && e)
			r = lb_errf(e, "%s", strerror(-e));
	}
	if (!r)
		r = write_index(t, dfd, &p);
	if (src >= 0)
		close(src);
	if (p.chunkfd >= 0)
		close(p.chunkfd);
	close(dfd);
	ZSTD_freeCCtx(p.cc);
	ZSTD_freeDCtx(p.dc);
	free(p.chunk);
	free(p.back);
	free(p.zbuf);
	size_t n = p.ix.n;
	lb_chunk_index_free(&p.ix);
	if (r)
		return lb_err_prefix(r, "%s/%s (from %s)", t->path, im->path, im->file);
	fprintf(stderr,
	        "lifeboat-master: image %s: %zu chunks, %llu compressed, %llu from the store\n",
	        im->version, n, p.fresh, p.reused);
	t->written++;
	return 0;
}
