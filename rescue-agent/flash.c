/* SPDX-License-Identifier: MIT */
/* The front of the flash module (flash.h): the backend for the slot, the image
 * cut into aligned blocks, a sync every LB_FLASH_SYNC_BYTES written, the
 * read-back check. */
#include "flash.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int lb_flash_pread(int fd, void *buf, size_t len, unsigned long long off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the slot ends before the image does */
		done += (size_t)n;
	}
	return 0;
}

int lb_flash_pwrite(int fd, const void *buf, size_t len, unsigned long long off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		done += (size_t)n;
	}
	return 0;
}

int lb_flash_changing(struct lb_flash *fl)
{
	if (fl->changing)
		return 0;
	fl->changing = true;
	return fl->o.before_write ? fl->o.before_write(fl->o.arg) : 0;
}

/* The backend for dev: a block device or a regular file; a character device
 * whose sysfs class is "ubi" and which is a volume (it has reserved_ebs). */
static int pick(struct lb_flash *fl)
{
	if (S_ISBLK(fl->mode) || S_ISREG(fl->mode)) {
		fl->be = &lb_flash_block;
		return 0;
	}
	if (!S_ISCHR(fl->mode))
		return lb_errf(-EINVAL, "%s: not a block device, a regular file or a UBI volume",
		               fl->dev);
	char link[PATH_MAX], target[PATH_MAX] = "";
	snprintf(link, sizeof link, "%s/dev/char/%lu:%lu/subsystem", fl->o.sysfs, fl->rdev_major,
	         fl->rdev_minor);
	ssize_t n = readlink(link, target, sizeof target - 1);
	target[n > 0 ? n : 0] = 0;
	const char *cls = strrchr(target, '/');
	cls = cls ? cls + 1 : target;
	if (!strcmp(cls, "ubi")) {
		fl->be = &lb_flash_ubi;
		return 0;
	}
	return lb_errf(-EINVAL,
	               "%s: a character device that is not a UBI volume (class '%s'); raw MTD "
	               "is not written: give a UBI volume /dev/ubiX_Y",
	               fl->dev, cls[0] ? cls : "unknown");
}

int lb_flash_open(const char *dev, unsigned long long size, const char sha256[65],
                  const struct lb_flash_opts *o, struct lb_flash **out)
{
	*out = NULL;
	size_t wl = 0;
	struct lb_flash *fl = calloc(1, sizeof *fl);
	if (!fl)
		return -ENOMEM;
	fl->fd = -1;
	if (o)
		fl->o = *o;
	if (!fl->o.sysfs)
		fl->o.sysfs = "/sys";
	fl->bs = fl->o.block_size ? fl->o.block_size : LB_FLASH_BLOCK;
	fl->size = size;
	int r = 0;
	if (fl->bs % 4096 || fl->bs > LB_FLASH_BLOCK_MAX)
		r = lb_errf(-EINVAL, "flash: block size %zu is not a multiple of 4096", fl->bs);
	else if (strnlen(sha256, 65) != 64 ||
	         sodium_hex2bin(fl->want, sizeof fl->want, sha256, 64, NULL, &wl, NULL) ||
	         wl != sizeof fl->want)
		r = lb_errf(-EINVAL, "flash: bad sha256 '%.64s'", sha256);
	else if (!size)
		r = lb_errf(-EINVAL, "flash: an empty image");
	else if (!(fl->dev = strdup(dev)))
		r = -ENOMEM;
	struct stat st;
	if (!r && stat(dev, &st) < 0)
		r = lb_errf(-errno, "%s: %s", dev, strerror(errno));
	if (!r) {
		fl->mode = (int)st.st_mode;
		fl->rdev_major = major(st.st_rdev);
		fl->rdev_minor = minor(st.st_rdev);
		r = pick(fl);
	}
	if (!r)
		r = fl->be->open(fl); /* may set fl->bs */
	if (!r && (!fl->bs || fl->bs > LB_FLASH_BLOCK_MAX))
		r = lb_errf(-EINVAL, "%s: a block of %zu bytes is out of range", dev, fl->bs);
	if (!r && (!(fl->buf = malloc(fl->bs)) || !(fl->rbuf = malloc(fl->bs))))
		r = -ENOMEM;
	if (!r && size > fl->capacity)
		r = lb_errf(-LBE_NOSPACE,
		            "%s: the image (%llu bytes) is larger than the %s (%llu bytes)", dev,
		            size, lb_flash_kind(fl), fl->capacity);
	if (r) {
		lb_flash_close(fl);
		return r;
	}
	fl->st.blocks = (size + fl->bs - 1) / fl->bs;
	*out = fl;
	return 0;
}

/* One block to the backend. What it wrote is made durable every
 * LB_FLASH_SYNC_BYTES, so that a power cut loses at most that much of the work. */
static int put_block(struct lb_flash *fl, const unsigned char *data, size_t len)
{
	unsigned long long before = fl->st.written;
	int r = fl->be->block(fl, fl->off, data, len);
	fl->off += len;
	if (!r && fl->st.written != before && (fl->unsynced += fl->bs) >= LB_FLASH_SYNC_BYTES) {
		fl->unsynced = 0;
		r = fl->be->sync(fl);
	}
	return r;
}

int lb_flash_write(struct lb_flash *fl, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	if (len > fl->size - fl->off - fl->fill)
		return lb_errf(-LBE_HASH, "%s: the image is larger than its %llu bytes", fl->dev,
		               fl->size);
	while (len) {
		size_t n = fl->bs - fl->fill < len ? fl->bs - fl->fill : len;
		int r;
		if (!fl->fill && n == fl->bs) { /* a whole block as it came */
			r = put_block(fl, p, n);
		} else {
			memcpy(fl->buf + fl->fill, p, n);
			fl->fill += n;
			r = 0;
			if (fl->fill == fl->bs) {
				fl->fill = 0;
				r = put_block(fl, fl->buf, fl->bs);
			}
		}
		if (r)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

int lb_flash_finish(struct lb_flash *fl)
{
	if (fl->off + fl->fill != fl->size)
		return lb_errf(-LBE_HASH, "%s: the image ended after %llu of its %llu bytes",
		               fl->dev, fl->off + fl->fill, fl->size);
	int r = 0;
	if (fl->fill) {
		size_t n = fl->fill;
		fl->fill = 0;
		r = put_block(fl, fl->buf, n);
	}
	if (!r)
		r = fl->be->sync(fl);
	fl->unsynced = 0;
	return r;
}

int lb_flash_verify(struct lb_flash *fl)
{
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	for (unsigned long long off = 0; off < fl->size; off += fl->bs) {
		size_t n = fl->size - off < fl->bs ? (size_t)(fl->size - off) : fl->bs;
		int r = lb_flash_pread(fl->fd, fl->rbuf, n, off);
		if (r)
			return lb_errf(r, "%s: reading back at %llu: %s", fl->dev, off,
			               strerror(-r));
		crypto_hash_sha256_update(&h, fl->rbuf, n);
	}
	unsigned char got[32];
	crypto_hash_sha256_final(&h, got);
	if (!sodium_memcmp(got, fl->want, sizeof got))
		return 0;
	char a[65], b[65];
	sodium_bin2hex(a, sizeof a, got, sizeof got);
	sodium_bin2hex(b, sizeof b, fl->want, sizeof fl->want);
	return lb_errf(-LBE_HASH, "%s: read back after writing, sha256 %s, the image's is %s",
	               fl->dev, a, b);
}

const struct lb_flash_stats *lb_flash_stats(const struct lb_flash *fl)
{
	return &fl->st;
}

const char *lb_flash_kind(const struct lb_flash *fl)
{
	return S_ISREG(fl->mode) ? "file" : fl->be->kind;
}

unsigned long long lb_flash_capacity(const struct lb_flash *fl)
{
	return fl->capacity;
}

size_t lb_flash_block_size(const struct lb_flash *fl)
{
	return fl->bs;
}

void lb_flash_close(struct lb_flash *fl)
{
	if (!fl)
		return;
	if (fl->fd >= 0)
		close(fl->fd);
	free(fl->dev);
	free(fl->buf);
	free(fl->rbuf);
	free(fl);
}
