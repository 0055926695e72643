/* SPDX-License-Identifier: MIT */
/* Raw writes of an OS image onto a slot: the one module through which all block
 * and UBI I/O goes. The image is given piecewise, in order; it is written in
 * aligned blocks of a fixed size, the first error stops everything, the slot is
 * synced, and what was written is read back and its sha256 compared with the
 * image's. Two backends, chosen by what the slot is:
 *
 *   flash_block.c  a block device (its size: BLKGETSIZE64) or a regular file
 *                  standing in for one (its size); each block is read first and
 *                  written only when it differs (reading is cheaper than writing
 *                  flash); a final partial block is completed in memory with the
 *                  bytes the slot has after the image, so that every write is a
 *                  whole aligned block and nothing past the image changes
 *   flash_ubi.c    a UBI volume /dev/ubiX_Y: one atomic volume update
 *                  (UBI_IOCVOLUP), the data written in sequence; the kernel marks
 *                  the volume damaged until the update completes
 *
 * Raw MTD character devices are refused (a UBI volume on top is the way). */
#ifndef LB_FLASH_H
#define LB_FLASH_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define LB_FLASH_BLOCK (128u << 10)

struct lb_flash_opts {
	size_t block_size; /* 0: LB_FLASH_BLOCK; a multiple of 4096 */
	const char *sysfs; /* where sysfs is mounted; NULL: "/sys" */
	/* Called once, just before the first byte of the slot changes (a slot
	 * found equal throughout never calls it); an error stops the write. */
	int (*before_write)(void *arg);
	void *arg;
};

struct lb_flash_stats {
	unsigned long long blocks;  /* blocks of the image */
	unsigned long long written; /* blocks written */
	unsigned long long skipped; /* blocks the slot already held */
};

struct lb_flash;

/* Open the slot dev for an image of size bytes whose sha256 is sha256 (hex).
 * Errors: -LBE_NOSPACE the image is larger than the slot; -EINVAL dev is not a
 * block device, a regular file or a UBI volume; -EBUSY a block device in use
 * (mounted); errno of open/stat/ioctl. o may be NULL. */
int lb_flash_open(const char *dev, unsigned long long size, const char sha256[65],
                  const struct lb_flash_opts *o, struct lb_flash **out) LB_MUST;
/* The next len bytes of the image; more than size in all is -LBE_HASH. */
int lb_flash_write(struct lb_flash *fl, const void *buf, size_t len) LB_MUST;
/* Write what is left (exactly size bytes must have been given, else -LBE_HASH)
 * and sync the slot. */
int lb_flash_finish(struct lb_flash *fl) LB_MUST;
/* Read [0, size) of the slot back from the medium; -LBE_HASH when its sha256 is
 * not the image's. */
int lb_flash_verify(struct lb_flash *fl) LB_MUST;
const struct lb_flash_stats *lb_flash_stats(const struct lb_flash *fl);
/* "block device", "file" or "UBI volume" */
const char *lb_flash_kind(const struct lb_flash *fl);
/* The slot's size in bytes. */
unsigned long long lb_flash_capacity(const struct lb_flash *fl);
void lb_flash_close(struct lb_flash *fl);

/* ---- between flash.c and its backends ---- */

struct lb_flash_backend {
	const char *kind;
	/* open fl->dev into fl->fd, set fl->capacity */
	int (*open)(struct lb_flash *fl);
	/* the image's bytes [off, off + len), len <= block size, off aligned */
	int (*block)(struct lb_flash *fl, unsigned long long off, const unsigned char *data,
	             size_t len);
	/* make it durable; drop cached copies, so that verify reads the medium */
	int (*sync)(struct lb_flash *fl);
};

extern const struct lb_flash_backend lb_flash_block, lb_flash_ubi;

struct lb_flash {
	const struct lb_flash_backend *be;
	char *dev;
	int fd;
	int mode; /* st_mode of dev */
	unsigned long rdev_major, rdev_minor;
	unsigned long long size, capacity;
	unsigned char want[32];
	size_t bs;
	unsigned char *buf; /* the block being filled */
	size_t fill;
	unsigned long long off; /* of buf in the image */
	unsigned char *rbuf;    /* a block read from the slot */
	struct lb_flash_stats st;
	struct lb_flash_opts o;
	bool changing; /* before_write was called */
};

/* Backends call this before they change the slot's first byte. */
int lb_flash_changing(struct lb_flash *fl) LB_MUST;
/* pread/pwrite of exactly len bytes (-EIO on a short read: the slot ends). */
int lb_flash_pread(int fd, void *buf, size_t len, unsigned long long off) LB_MUST;
int lb_flash_pwrite(int fd, const void *buf, size_t len, unsigned long long off) LB_MUST;

#endif
