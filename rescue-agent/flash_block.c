/* SPDX-License-Identifier: MIT */
/* Flash backend: a block device, or a regular file standing in for one (tests,
 * images). Each block is read first and written only when it differs; a final
 * partial block is completed with the slot's own bytes, so that every write is
 * one whole aligned block and nothing past the image changes. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flash.h"

static int block_open(struct lb_flash *fl)
{
	/* O_EXCL on a block device: refused while it is mounted or otherwise held */
	int flags = O_RDWR | O_CLOEXEC | (S_ISBLK(fl->mode) ? O_EXCL : 0);
	fl->fd = open(fl->dev, flags);
	if (fl->fd < 0 && errno == EBUSY)
		return lb_errf(-EBUSY, "%s: in use (mounted?)", fl->dev);
	if (fl->fd < 0)
		return lb_errf(-errno, "%s: %s", fl->dev, strerror(errno));
	struct stat st;
	if (fstat(fl->fd, &st) < 0)
		return lb_errf(-errno, "%s: %s", fl->dev, strerror(errno));
	if ((int)st.st_mode != fl->mode)
		return lb_errf(-EINVAL, "%s: changed while being opened", fl->dev);
	if (S_ISREG(st.st_mode)) {
		fl->capacity = (unsigned long long)st.st_size;
		return 0;
	}
	unsigned long long bytes = 0;
	if (ioctl(fl->fd, BLKGETSIZE64, &bytes) < 0)
		return lb_errf(-errno, "%s: size (BLKGETSIZE64): %s", fl->dev, strerror(errno));
	fl->capacity = bytes;
	return 0;
}

static int block_block(struct lb_flash *fl, unsigned long long off, const unsigned char *data,
                       size_t len)
{
	/* the block's extent in the slot: a whole block, or up to the slot's end */
	size_t ext = fl->capacity - off < fl->bs ? (size_t)(fl->capacity - off) : fl->bs;
	int r = lb_flash_pread(fl->fd, fl->rbuf, ext, off);
	if (r)
		return lb_errf(r, "%s: reading at %llu: %s", fl->dev, off, strerror(-r));
	if (!memcmp(fl->rbuf, data, len)) {
		fl->st.skipped++;
		return 0;
	}
	if ((r = lb_flash_changing(fl)))
		return r;
	memcpy(fl->rbuf, data, len); /* the rest of the extent stays as it was */
	r = lb_flash_pwrite(fl->fd, fl->rbuf, ext, off);
	if (r)
		return lb_errf(r, "%s: writing at %llu: %s", fl->dev, off, strerror(-r));
	fl->st.written++;
	return 0;
}

static int block_sync(struct lb_flash *fl)
{
	if (fdatasync(fl->fd) < 0)
		return lb_errf(-errno, "%s: sync: %s", fl->dev, strerror(errno));
	/* forget the cached pages: the read-back must come from the medium */
	(void)posix_fadvise(fl->fd, 0, 0, POSIX_FADV_DONTNEED);
	return 0;
}

const struct lb_flash_backend lb_flash_block = {
    .kind = "block device",
    .open = block_open,
    .block = block_block,
    .sync = block_sync,
};
