/* SPDX-License-Identifier: MIT */
/* Flash backend: a UBI volume (/dev/ubiX_Y). The kernel's volume update
 * (UBI_IOCVOLUP with the total size, then the data in sequence) is atomic: until
 * the last byte is written the volume is marked as being updated and reads as
 * damaged, so an interrupted write is never mistaken for an image. UBI does its
 * own wear levelling and bad-block handling; every block is written. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mtd/ubi-user.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "flash.h"
#include "fsop.h"

/* A number from the volume's sysfs directory. */
static int sysfs_num(struct lb_flash *fl, const char *attr, unsigned long long *out)
{
	char path[PATH_MAX], *buf = NULL;
	snprintf(path, sizeof path, "%s/dev/char/%lu:%lu/%s", fl->o.sysfs, fl->rdev_major,
	         fl->rdev_minor, attr);
	int r = lb_read_file(AT_FDCWD, path, 64, &buf, NULL);
	if (r == -ENOENT)
		return lb_errf(r, "%s: a UBI device, not a volume (no %s): give /dev/ubiX_Y",
		               fl->dev, path);
	if (r)
		return lb_errf(r, "%s: %s", path, strerror(-r));
	char *end;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	r = end == buf || (*end && *end != '\n') || errno ? -EINVAL : 0;
	free(buf);
	return r ? lb_errf(r, "%s: not a number", path) : 0;
}

static int ubi_open(struct lb_flash *fl)
{
	unsigned long long ebs, ebsize;
	int r = sysfs_num(fl, "reserved_ebs", &ebs);
	if (!r)
		r = sysfs_num(fl, "usable_eb_size", &ebsize);
	if (r)
		return r;
	fl->capacity = ebs * ebsize;
	fl->fd = open(fl->dev, O_RDWR | O_CLOEXEC);
	if (fl->fd < 0 && errno == EBUSY) /* UBI allows one writer: UBIFS, when mounted */
		return lb_errf(-EBUSY, "%s: in use (mounted?)", fl->dev);
	if (fl->fd < 0)
		return lb_errf(-errno, "%s: %s", fl->dev, strerror(errno));
	return 0;
}

static int ubi_block(struct lb_flash *fl, unsigned long long off, const unsigned char *data,
                     size_t len)
{
	int r;
	if (off == 0) {
		if ((r = lb_flash_changing(fl)))
			return r;
		int64_t bytes = (int64_t)fl->size;
		if (ioctl(fl->fd, UBI_IOCVOLUP, &bytes) < 0)
			return lb_errf(-errno, "%s: starting the volume update (UBI_IOCVOLUP): %s",
			               fl->dev, strerror(errno));
	}
	/* a volume update takes the data in sequence, through write() */
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fl->fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lb_errf(n < 0 ? -errno : -ENOSPC, "%s: writing at %llu: %s", fl->dev,
			               off + done, n < 0 ? strerror(errno) : "no progress");
		done += (size_t)n;
	}
	fl->st.written++;
	return 0;
}

static int ubi_sync(struct lb_flash *fl)
{
	if (fsync(fl->fd) < 0)
		return lb_errf(-errno, "%s: sync: %s", fl->dev, strerror(errno));
	return 0;
}

const struct lb_flash_backend lb_flash_ubi = {
    .kind = "UBI volume",
    .open = ubi_open,
    .block = ubi_block,
    .sync = ubi_sync,
};
