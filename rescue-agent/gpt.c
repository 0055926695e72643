/* SPDX-License-Identifier: MIT */
/* GUID partition tables (UEFI 2.10, section 5.3): the protective MBR, the primary
 * header and entries at LBA 1 and 2, the backup entries and header at the end. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gpt.h"

#define ENTRIES     128
#define ENTRY_SIZE  128
#define ARRAY_BYTES (ENTRIES * ENTRY_SIZE)
#define HEADER_SIZE 92
#define MIB         1048576ull

/* "Linux filesystem data" 0FC63DAF-8483-4772-8E79-3D69D8477DE4, as stored */
static const uint8_t linux_fs[16] = {0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
                                     0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4};

struct disk {
	int fd;
	unsigned ss;              /* logical sector size */
	unsigned long long bytes; /* size */
	unsigned long long last;  /* last LBA */
	unsigned long long first_usable, last_usable;
	unsigned array_sectors;
	bool blockdev;
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int disk_open(int fd, struct disk *d)
{
	struct stat st;
	memset(d, 0, sizeof *d);
	d->fd = fd;
	d->ss = 512;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		int ss = 0;
		uint64_t size = 0;
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return -errno;
		if (!ioctl(fd, BLKSSZGET, &ss) && ss >= 512 && ss <= 4096)
			d->ss = (unsigned)ss;
		d->bytes = size;
		d->blockdev = true;
	} else if (S_ISREG(st.st_mode)) {
		d->bytes = (unsigned long long)st.st_size;
	} else {
		return -ENOTBLK;
	}
	d->array_sectors = ARRAY_BYTES / d->ss;
	if (d->bytes / d->ss < 2ull * d->array_sectors + 8)
		return -ENOSPC;
	d->last = d->bytes / d->ss - 1;
	d->first_usable = 2 + d->array_sectors;
	d->last_usable = d->last - d->array_sectors - 1;
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, unsigned long long off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, unsigned long long off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* the partitions' first and last LBA: the first at 1 MiB, one after the other */
static int place(const struct disk *d, const struct lb_gpt_part *parts, size_t n,
                 unsigned long long *first, unsigned long long *last)
{
	unsigned long long per = MIB / d->ss, at = per;
	for (size_t i = 0; i < n; i++) {
		first[i] = at;
		last[i] = at + parts[i].mib * per - 1;
		at = last[i] + 1;
	}
	if (n > LB_GPT_MAX_PARTS || (n && last[n - 1] > d->last_usable))
		return lb_errf(-ENOSPC, "the layout needs %llu MiB, the disk has %llu MiB",
		               at / per + 1, d->bytes / MIB);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* the header at lba, checked (signature, size, CRC, where it says it is); its
 * entries read into array and checked */
static int read_gpt(const struct disk *d, unsigned long long lba, uint8_t *array)
{
	uint8_t h[4096];
	int r = pread_all(d->fd, h, d->ss, lba * d->ss);
	if (r < 0)
		return r;
	if (memcmp(h, "EFI PART", 8) || get_le(h + 12, 4) != HEADER_SIZE ||
	    get_le(h + 24, 8) != lba || get_le(h + 80, 4) != ENTRIES ||
	    get_le(h + 84, 4) != ENTRY_SIZE)
		return -EINVAL;
	uint32_t crc = (uint32_t)get_le(h + 16, 4);
	memset(h + 16, 0, 4);
	if (crc32(0, h, HEADER_SIZE) != crc)
		return -EINVAL;
	unsigned long long at = get_le(h + 72, 8);
	if (at > d->last || (r = pread_all(d->fd, array, ARRAY_BYTES, at * d->ss)) < 0)
		return r < 0 ? r : -EINVAL;
	return crc32(0, array, ARRAY_BYTES) == (uint32_t)get_le(h + 88, 4) ? 0 : -EINVAL;
}

static void name_of(const uint8_t *e, char out[LB_GPT_NAME_MAX])
{
	size_t i;
	for (i = 0; i + 1 < LB_GPT_NAME_MAX; i++) {
		unsigned c = (unsigned)get_le(e + 56 + 2 * i, 2);
		if (!c)
			break;
		out[i] = c < 0x80 ? (char)c : '?';
	}
	out[i] = 0;
}

int lb_gpt_probe(int fd, const struct lb_gpt_part *parts, size_t n, enum lb_gpt_state *state,
                 char *why, size_t whysz)
{
	struct disk d;
	unsigned long long first[LB_GPT_MAX_PARTS], last[LB_GPT_MAX_PARTS];
	uint8_t *array = malloc(ARRAY_BYTES), head[2 * 4096];
	int r = disk_open(fd, &d);
	if (!array)
		return -ENOMEM;
	if (!r)
		r = place(&d, parts, n, first, last);
	if (!r)
		r = pread_all(fd, head, 2 * d.ss, 0);
	if (r < 0)
		goto out;
	*state = LB_GPT_OTHER;
	uint8_t sb[2];
	/* an ext2/3/4 superblock at 1024 (a file system on the whole disk) */
	if ((r = pread_all(fd, sb, 2, 1080)) < 0)
		goto out;
	if (all_zero(head, 2 * d.ss) && !(sb[0] == 0x53 && sb[1] == 0xef)) {
		*state = LB_GPT_BLANK;
		snprintf(why, whysz, "blank");
		goto out;
	}
	if (read_gpt(&d, 1, array) < 0) {
		snprintf(why, whysz, "not blank, and no valid GPT");
		goto out;
	}
	size_t used = 0;
	for (size_t i = 0; i < ENTRIES; i++) {
		const uint8_t *e = array + i * ENTRY_SIZE;
		if (all_zero(e, 16))
			continue;
		char name[LB_GPT_NAME_MAX];
		name_of(e, name);
		if (used >= n || strcmp(name, parts[used].name) ||
		    get_le(e + 32, 8) != first[used] || get_le(e + 40, 8) != last[used]) {
			snprintf(why, whysz,
			         "partition %zu ('%s', %llu MiB) differs from the layout", i + 1,
			         name, (get_le(e + 40, 8) - get_le(e + 32, 8) + 1) * d.ss / MIB);
			goto out;
		}
		used++;
	}
	if (used != n) {
		snprintf(why, whysz, "%zu partitions, the layout has %zu", used, n);
		goto out;
	}
	*state = LB_GPT_SAME;
	snprintf(why, whysz, "partitioned as the layout says");
out:
	free(array);
	return r;
}

static void header(const struct disk *d, uint8_t *h, const uint8_t guid[16], unsigned long long my,
                   unsigned long long alt, unsigned long long entries, uint32_t array_crc)
{
	memset(h, 0, d->ss);
	memcpy(h, "EFI PART", 8);
	put_le(h + 8, 0x00010000, 4);
	put_le(h + 12, HEADER_SIZE, 4);
	put_le(h + 24, my, 8);
	put_le(h + 32, alt, 8);
	put_le(h + 40, d->first_usable, 8);
	put_le(h + 48, d->last_usable, 8);
	memcpy(h + 56, guid, 16);
	put_le(h + 72, entries, 8);
	put_le(h + 80, ENTRIES, 4);
	put_le(h + 84, ENTRY_SIZE, 4);
	put_le(h + 88, array_crc, 4);
	put_le(h + 16, crc32(0, h, HEADER_SIZE), 4);
}

static int random_guid(uint8_t g[16])
{
	if (getrandom(g, 16, 0) != 16)
		return -errno;
	g[7] = (uint8_t)((g[7] & 0x0f) | 0x40); /* version 4 (time_hi_and_version, LE) */
	g[8] = (uint8_t)((g[8] & 0x3f) | 0x80); /* variant */
	return 0;
}

int lb_gpt_write(int fd, const struct lb_gpt_part *parts, size_t n)
{
	struct disk d;
	unsigned long long first[LB_GPT_MAX_PARTS], last[LB_GPT_MAX_PARTS];
	uint8_t *array = calloc(1, ARRAY_BYTES), disk_guid[16], head[2 * 4096], h[4096];
	int r = disk_open(fd, &d);
	if (!array)
		return -ENOMEM;
	if (!r)
		r = place(&d, parts, n, first, last);
	if (!r)
		r = random_guid(disk_guid);
	for (size_t i = 0; !r && i < n; i++) {
		uint8_t *e = array + i * ENTRY_SIZE;
		memcpy(e, linux_fs, 16);
		r = random_guid(e + 16);
		put_le(e + 32, first[i], 8);
		put_le(e + 40, last[i], 8);
		for (size_t k = 0; k < LB_GPT_NAME_MAX && parts[i].name[k]; k++)
			put_le(e + 56 + 2 * k, (unsigned char)parts[i].name[k], 2);
	}
	if (r < 0)
		goto out;
	uint32_t acrc = (uint32_t)crc32(0, array, ARRAY_BYTES);
	unsigned long long backup_entries = d.last - d.array_sectors;
	/* 1. the backup: entries, header */
	header(&d, h, disk_guid, d.last, 1, backup_entries, acrc);
	if ((r = pwrite_all(fd, array, ARRAY_BYTES, backup_entries * d.ss)) < 0 ||
	    (r = pwrite_all(fd, h, d.ss, d.last * d.ss)) < 0 || fsync(fd) < 0)
		goto out_errno;
	/* 2. the primary entries */
	if ((r = pwrite_all(fd, array, ARRAY_BYTES, 2ull * d.ss)) < 0 || fsync(fd) < 0)
		goto out_errno;
	/* 3. the protective MBR and the primary header, in one write: until they are
	 * there the disk still looks blank, and a cut short write is simply redone */
	memset(head, 0, sizeof head);
	uint8_t *m = head + 446;
	m[1] = 0x00, m[2] = 0x02, m[3] = 0x00; /* CHS 0/0/2 */
	m[4] = 0xee;
	m[5] = m[6] = m[7] = 0xff;
	put_le(m + 8, 1, 4);
	put_le(m + 12, d.last > 0xffffffffull ? 0xffffffffull : d.last, 4);
	head[510] = 0x55, head[511] = 0xaa;
	header(&d, head + d.ss, disk_guid, 1, d.last, 2, acrc);
	if ((r = pwrite_all(fd, head, 2 * d.ss, 0)) < 0 || fsync(fd) < 0)
		goto out_errno;
	/* the kernel reads the new table (the disk is not in use: it was blank or
	 * nothing of it is mounted) */
	if (d.blockdev && ioctl(fd, BLKRRPART) < 0)
		fprintf(stderr, "lifeboat: warning: re-reading the partition table: %s\n",
		        strerror(errno));
	goto out;
out_errno:
	if (!r)
		r = -errno;
out:
	free(array);
	return r;
}
