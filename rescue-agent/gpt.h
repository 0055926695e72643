/* SPDX-License-Identifier: MIT */
/* A GUID partition table as factory provisioning needs it (docs/provisioning.md):
 * read one, compare it with a layout, write a new one. Partitions are laid out as
 * scripts/build-disk.sh does: the first at 1 MiB, each after the other, all of
 * type "Linux filesystem data", named by their GPT name. */
#ifndef LB_GPT_H
#define LB_GPT_H

#include <stddef.h>

#include "error.h"

#define LB_GPT_MAX_PARTS 16
#define LB_GPT_NAME_MAX  36

struct lb_gpt_part {
	char name[LB_GPT_NAME_MAX]; /* ASCII */
	unsigned long long mib;     /* size */
};

enum lb_gpt_state {
	LB_GPT_BLANK, /* no MBR, no GPT, no file system at the start: nothing to lose
	               * (also a table whose write was cut short: the primary header
	               * and the protective MBR are written last) */
	LB_GPT_SAME,  /* a valid GPT with exactly the layout's partitions */
	LB_GPT_OTHER, /* anything else: a different table, a file system, data */
};

/* What fd (a block device or a disk image file) holds. */
int lb_gpt_probe(int fd, const struct lb_gpt_part *parts, size_t n, enum lb_gpt_state *state,
                 char *why, size_t whysz) LB_MUST;
/* Write a new GPT with parts (backup table first, then the primary entries, then
 * the primary header and the protective MBR; synced after each), then ask the
 * kernel to read it (BLKRRPART) when fd is a block device. -ENOSPC when the
 * layout does not fit. */
int lb_gpt_write(int fd, const struct lb_gpt_part *parts, size_t n) LB_MUST;

#endif
