/* SPDX-License-Identifier: MIT */
/* OS images in the tree: TREE/images/<sha256>.img.zst, named by the sha256 of the
 * uncompressed image (content-addressed like the pool: never rewritten once
 * there, never removed by publish). One zstd frame, level MIMAGE_LEVEL, with its
 * content size and a checksum, its window bounded by MIMAGE_WLOG so that a
 * device's decoder needs at most 8 MiB. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

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
	snprintf(im->path, sizeof im->path, "images/%s.img.zst", im->sha256);
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

/* Is dirfd/name a regular file whose first zstd frame says im->size bytes?
 * Sets *csize to its size. */
static bool already_there(int dirfd, const char *name, const struct mimage *im,
                          unsigned long long *csize)
{
	unsigned char head[18]; /* ZSTD_FRAMEHEADERSIZE_MAX (static-only API) */
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	bool ok = fd >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0;
	ssize_t n = ok ? pread(fd, head, sizeof head, 0) : -1;
	ok = ok && n > 0 && ZSTD_getFrameContentSize(head, (size_t)n) == im->size;
	if (ok)
		*csize = (unsigned long long)st.st_size;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int zerr(size_t rc)
{
	return lb_errf(-EIO, "zstd: %s", ZSTD_getErrorName(rc));
}

/* Write one block of compressed output. */
static int put(int fd, ZSTD_outBuffer *out, unsigned long long *csize)
{
	int r = lb_write_all(fd, out->dst, out->pos);
	*csize += out->pos;
	out->pos = 0;
	return r;
}

/* Compress src into fd, checking that it still has im's sha256 and size. */
static int compress(int src, int fd, const struct mimage *im, unsigned long long *csize)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t outcap = ZSTD_CStreamOutSize();
	unsigned char *in = malloc(IO_BUF), *obuf = malloc(outcap);
	int r = cc && in && obuf ? 0 : -ENOMEM;
	size_t rc = 0;
	if (!r) {
		rc = ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, MIMAGE_LEVEL);
		if (!ZSTD_isError(rc))
			rc = ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, MIMAGE_WLOG);
		if (!ZSTD_isError(rc))
			rc = ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
		if (!ZSTD_isError(rc))
			rc = ZSTD_CCtx_setPledgedSrcSize(cc, im->size);
		if (ZSTD_isError(rc))
			r = zerr(rc);
		/* several threads when this libzstd has them (the output is the same) */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		if (!r && cpus > 1)
			(void)ZSTD_CCtx_setParameter(cc, ZSTD_c_nbWorkers,
			                             cpus > 8 ? 8 : (int)cpus);
	}
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	unsigned long long total = 0;
	*csize = 0;
	for (bool end = false; !r && !end;) {
		ssize_t n = read_some(src, in, IO_BUF);
		if (n < 0) {
			r = lb_errf((int)n, "%s", strerror((int)-n));
			break;
		}
		end = n == 0;
		crypto_hash_sha256_update(&h, in, (size_t)n);
		total += (unsigned long long)n;
		ZSTD_inBuffer ib = {in, (size_t)n, 0};
		ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
		for (;;) {
			ZSTD_outBuffer ob = {obuf, outcap, 0};
			rc = ZSTD_compressStream2(cc, &ob, &ib, mode);
			if (ZSTD_isError(rc)) {
				/* a size that differs from the pledged one lands here too */
				r = total != im->size
				        ? lb_errf(-LBE_HASH, "changed while being published")
				        : zerr(rc);
				break;
			}
			if ((r = put(fd, &ob, csize)) < 0)
				break;
			if (end ? rc == 0 : ib.pos == ib.size)
				break;
		}
	}
	char hex[65];
	hex_of(&h, hex);
	if (!r && (total != im->size || strcmp(hex, im->sha256)))
		r = lb_errf(-LBE_HASH, "changed while being published");
	ZSTD_freeCCtx(cc);
	free(in);
	free(obuf);
	return r;
}

int image_publish(struct mtree *t, struct mimage *im)
{
	const char *name = im->path + 7; /* past "images/" */
	int r = tree_mkdir(t, "images");
	if (r)
		return r;
	int dfd = openat(t->fd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "%s/images: %s", t->path, strerror(errno));
	if (already_there(dfd, name, im, &im->csize)) {
		close(dfd);
		t->kept++;
		return 0;
	}
	lb_err_clear();
	int src = open(im->file, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		r = lb_errf(-errno, "%s", strerror(errno));
	int fd = r ? -1 : lb_replace_open(dfd, name, 0644);
	if (!r && fd < 0)
		r = lb_errf(fd, "%s", strerror(-fd));
	if (!r) {
		r = compress(src, fd, im, &im->csize);
		int e = lb_replace_finish(dfd, name, fd, r);
		if (!r && e)
			r = lb_errf(e, "%s", strerror(-e));
	}
	if (src >= 0)
		close(src);
	close(dfd);
	if (r)
		return lb_err_prefix(r, "%s/%s (from %s)", t->path, im->path, im->file);
	t->written++;
	return 0;
}
