/* SPDX-License-Identifier: MIT */
/* Raw writes of an OS image onto a slot: the one module through which all block
 * and UBI I/O goes. The image is given piecewise, in order; it is cut into
 * aligned blocks, each block is read from the slot first and written only when
 * it differs (reading is cheaper than writing flash), the first error stops
 * everything, the slot is synced every LB_FLASH_SYNC_BYTES written and at the
 * end, and what was written is read back and its sha256 compared with the
 * image's. A power cut at any point therefore loses at most the last
 * LB_FLASH_SYNC_BYTES written; the next write of the same image reads past the
 * blocks already right and writes only the ones that still differ. Two backends,
 * chosen by what the slot is:
 *
 *   flash_block.c  a block device (its size: BLKGETSIZE64) or a regular file
 *                  standing in for one (its size); blocks of LB_FLASH_BLOCK; a
 *                  final partial block is completed in memory with the bytes the
 *                  slot has after the image, so that every write is a whole
 *                  aligned block and nothing past the image changes
 *   flash_ubi.c    a dynamic UBI volume /dev/ubiX_Y; a block is one logical
 *                  eraseblock (LEB, the volume's usable_eb_size), replaced with
 *                  the kernel's atomic LEB change (UBI_IOCEBCH): after a power
 *                  cut each LEB holds all its old bytes or all its new ones; an
 *                  unmapped LEB reads as 0xFF; the final partial LEB keeps its
 *                  own bytes after the image
 *
 * Raw MTD character devices are refused (a UBI volume on top is the way). */
#ifndef LB_FLASH_H
#define LB_FLASH_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define LB_FLASH_BLOCK      (128u << 10)
#define LB_FLASH_BLOCK_MAX  (64u << 20) /* a bigger block (or LEB) is refused */
#define LB_FLASH_SYNC_BYTES (8u << 20)  /* written between two syncs of the slot */

struct lb_flash_opts {
	/* block devices and files: 0 is LB_FLASH_BLOCK, else a multiple of 4096; a
	 * UBI volume's block is always its LEB */
	size_t block_size;
	const char *sysfs; /* where sysfs is mounted; NULL: "/sys" */
	/* Called once, just before the first byte of the slot changes (a slot
	 * found equal throughout never calls it); an error stops the write. */
	int (*before_write)(void *arg);
	void *arg;
};

struct lb_flash_stats {
	unsigned long long blocks;  /* blocks (UBI: LEBs) of the image */
	unsigned long long written; /* blocks written */
	unsigned long long skipped; /* blocks the slot already held */
};

struct lb_flash;

/* Open the slot dev for an image of size bytes whose sha256 is sha256 (hex).
 * Nothing on the slot changes before the first lb_flash_write whose block differs.
 * Errors: -LBE_NOSPACE the image is larger than the slot; -EINVAL dev is not a
 * block device, a regular file or a dynamic UBI volume; -EBUSY a block device
 * or UBI volume in use (mounted); errno of open/stat/ioctl. o may be NULL. */
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
/* The block size in use (a UBI volume's: its LEB). */
size_t lb_flash_block_size(const struct lb_flash *fl);
void lb_flash_close(struct lb_flash *fl);

/* ---- between flash.c and its backends ---- */

struct lb_flash_backend {
	const char *kind;
	/* open fl->dev into fl->fd, set fl->capacity; may set fl->bs (the
	 * buffers are allocated after this, with fl->bs bytes) */
	int (*open)(struct lb_flash *fl);
	/* the image's bytes [off, off + len), len <= block size, off aligned;
	 * counts the block in fl->st.written or fl->st.skipped */
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
	bool changing;               /* before_write was called */
	unsigned long long unsynced; /* bytes written since the last sync */
	unsigned int be_flags;       /* the backend's own */
};

/* Backends call this before they change the slot's first byte. */
int lb_flash_changing(struct lb_flash *fl) LB_MUST;
/* pread/pwrite of exactly len bytes (-EIO on a short read: the slot ends). */
int lb_flash_pread(int fd, void *buf, size_t len, unsigned long long off) LB_MUST;
int lb_flash_pwrite(int fd, const void *buf, size_t len, unsigned long long off) LB_MUST;

#endif
