/* SPDX-License-Identifier: MIT */
/* Flash backend: a dynamic UBI volume (/dev/ubiX_Y), written one logical
 * eraseblock (LEB) at a time. The flash block is the volume's usable LEB size
 * (sysfs usable_eb_size). Each LEB is read first (UBI reads an unmapped LEB as
 * 0xFF) and left alone when it already holds the image's bytes; one that differs
 * is replaced with the kernel's atomic LEB change: UBI_IOCEBCH names the LEB and
 * the byte count, the bytes follow through write(), and UBI writes them to a free
 * physical eraseblock, with their CRC in its VID header, before it maps that block
 * in place of the old one. After a power cut at any point every LEB holds all of
 * its old bytes or all of its new ones, and a new write of the same image reads
 * past the LEBs already right and changes only those that still differ. The final
 * partial LEB keeps, after the image, the bytes it had (0xFF where it could not
 * be read).
 *
 * Static volumes are refused: the kernel changes LEBs only in dynamic ones. A
 * volume whose update marker is set (a whole-volume update, UBI_IOCVOLUP, that
 * never finished: ubiupdatevol, or an older lifeboat) cannot be read at all; it is
 * emptied first (a volume update of 0 bytes unmaps every LEB and clears the
 * marker), then written as above. UBI does its own wear levelling and bad-block
 * handling. */
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

#define UBI_MARKED 1u /* be_flags: the update marker is set; empty the volume first */

/* An attribute of the volume's sysfs directory, its trailing newline cut. A
 * missing one: -ENOENT, with an error naming it unless quiet. */
static int sysfs_attr(struct lb_flash *fl, const char *attr, bool quiet, char **out)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/dev/char/%lu:%lu/%s", fl->o.sysfs, fl->rdev_major,
	         fl->rdev_minor, attr);
	int r = lb_read_file(AT_FDCWD, path, 64, out, NULL);
	if (r == -ENOENT && quiet)
		return r;
	if (r == -ENOENT)
		return lb_errf(r, "%s: a UBI device, not a volume (no %s): give /dev/ubiX_Y",
		               fl->dev, path);
	if (r)
		return lb_errf(r, "%s: %s", path, strerror(-r));
	(*out)[strcspn(*out, "\n")] = 0;
	return 0;
}

/* A number from the volume's sysfs directory. */
static int sysfs_num(struct lb_flash *fl, const char *attr, bool quiet, unsigned long long *out)
{
	char *buf = NULL, *end;
	int r = sysfs_attr(fl, attr, quiet, &buf);
	if (r)
		return r;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	r = end == buf || *end || buf[0] == '-' || errno ? -EINVAL : 0;
	free(buf);
	return r ? lb_errf(r, "%s: %s/dev/char/%lu:%lu/%s: not a number", fl->dev, fl->o.sysfs,
	                   fl->rdev_major, fl->rdev_minor, attr)
	         : 0;
}

static int ubi_open(struct lb_flash *fl)
{
	unsigned long long ebs, ebsize, marker = 0;
	char *type = NULL;
	int r = sysfs_num(fl, "reserved_ebs", false, &ebs);
	if (!r)
		r = sysfs_num(fl, "usable_eb_size", false, &ebsize);
	if (!r)
		r = sysfs_attr(fl, "type", false, &type);
	if (!r && strcmp(type, "dynamic"))
		r = lb_errf(-EINVAL,
		            "%s: a %s UBI volume: a slot must be a dynamic volume (ubimkvol's "
		            "default, -t dynamic), whose eraseblocks can be replaced one at a time",
		            fl->dev, type);
	free(type);
	if (r)
		return r;
	if (!ebsize || ebsize > LB_FLASH_BLOCK_MAX || ebs > INT32_MAX)
		return lb_errf(-EINVAL, "%s: %llu eraseblocks of %llu bytes: not a usable volume",
		               fl->dev, ebs, ebsize);
	r = sysfs_num(fl, "upd_marker", true, &marker);
	if (r && r != -ENOENT)
		return r;
	if (marker)
		fl->be_flags |= UBI_MARKED;
	fl->bs = (size_t)ebsize;
	fl->capacity = ebs * ebsize;
	fl->fd = open(fl->dev, O_RDWR | O_CLOEXEC);
	if (fl->fd < 0 && errno == EBUSY) /* UBI allows one writer: UBIFS, when mounted */
		return lb_errf(-EBUSY, "%s: in use (mounted?)", fl->dev);
	if (fl->fd < 0)
		return lb_errf(-errno, "%s: %s", fl->dev, strerror(errno));
	return 0;
}

/* The update marker is set: every read fails. A volume update of 0 bytes
 * unmaps every LEB and clears the marker (interrupted, the marker stays). */
static int ubi_empty(struct lb_flash *fl)
{
	int r = lb_flash_changing(fl);
	if (r)
		return r;
	int64_t zero = 0;
	if (ioctl(fl->fd, UBI_IOCVOLUP, &zero) < 0)
		return lb_errf(-errno,
		               "%s: the volume is marked as damaged by an unfinished update; "
		               "emptying it (UBI_IOCVOLUP of 0 bytes): %s",
		               fl->dev, strerror(errno));
	fl->be_flags &= ~UBI_MARKED;
	return 0;
}

static int ubi_block(struct lb_flash *fl, unsigned long long off, const unsigned char *data,
                     size_t len)
{
	int r;
	if ((fl->be_flags & UBI_MARKED) && (r = ubi_empty(fl)))
		return r;
	int lnum = (int)(off / fl->bs);
	r = lb_flash_pread(fl->fd, fl->rbuf, fl->bs, off);
	if (r == -EBADMSG) { /* unreadable (ECC): its bytes are lost; rewrite it */
		memset(fl->rbuf, 0xff, fl->bs);
	} else if (r) {
		return lb_errf(r, "%s: reading eraseblock %d: %s", fl->dev, lnum, strerror(-r));
	} else if (!memcmp(fl->rbuf, data, len)) {
		fl->st.skipped++;
		return 0;
	}
	if ((r = lb_flash_changing(fl)))
		return r;
	memcpy(fl->rbuf, data, len); /* the rest of a final partial LEB stays as it was */
	struct ubi_leb_change_req req = {.lnum = lnum, .bytes = (int32_t)fl->bs, .dtype = 3};
	if (ioctl(fl->fd, UBI_IOCEBCH, &req) < 0) {
		r = -errno;
		if (r == -EBUSY)
			return lb_errf(r,
			               "%s: changing eraseblock %d (UBI_IOCEBCH): the volume is "
			               "open elsewhere too (ubiblock, a reader?)",
			               fl->dev, lnum);
		if (r == -EROFS)
			return lb_errf(r,
			               "%s: changing eraseblock %d (UBI_IOCEBCH): read-only (a "
			               "static volume, or UBI in read-only mode)",
			               fl->dev, lnum);
		return lb_errf(r, "%s: changing eraseblock %d (UBI_IOCEBCH): %s", fl->dev, lnum,
		               strerror(-r));
	}
	/* the LEB's new bytes; the kernel switches to them once it has them all */
	for (size_t done = 0; done < fl->bs;) {
		ssize_t n = write(fl->fd, fl->rbuf + done, fl->bs - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lb_errf(n < 0 ? -errno : -EIO, "%s: writing eraseblock %d: %s",
			               fl->dev, lnum, n < 0 ? strerror(errno) : "no progress");
		done += (size_t)n;
	}
	fl->st.written++;
	return 0;
}

/* Each LEB change is on the medium when write() returns (UBI writes through to
 * the MTD device); fsync also flushes what the MTD driver may buffer (block2mtd). */
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
