/* SPDX-License-Identifier: MIT */
/* Where a slot is: the block device of the GPT partition named "rootfs-NAME", or
 * the UBI volume of that name (docs/os.md, the device layout). */
#ifndef LB_SLOTS_H
#define LB_SLOTS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* The device of slot name into buf: from map ("a=DEV b=DEV", the configuration's
 * Slot-Devices, may be NULL), else by name in sysfs (NULL: "/sys"); -ENOENT when
 * the device has no such slot. */
int lb_slot_device(const char *name, const char *map, const char *sysfs, char *buf,
                   size_t size) LB_MUST;
/* The slot whose device dev is (the reverse of lb_slot_device) into name;
 * -ENOENT when dev is none of them. */
int lb_slot_of_device(const char *dev, const char *map, const char *sysfs, char *name,
                      size_t size) LB_MUST;

struct lb_ctx;
/* Make slot the root's slot: its package state STATE/slot-SLOT (created, with
 * scripts/ when create) becomes ctx->pkg and ctx->pkgfd; buf holds the path. */
int lb_ctx_open_slot(struct lb_ctx *ctx, const char *slot, bool create, char *buf,
                     size_t size) LB_MUST;

/* The other slot of an A/B pair: "b" for "a", "a" for "b"; NULL for others. */
const char *lb_slot_other(const char *name);

#endif
