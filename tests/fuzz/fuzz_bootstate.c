/* SPDX-License-Identifier: MIT */
/* Boot state file (STATE/boot): parse; on success the names (the A/B try's too)
 * are valid and NUL-terminated, Try-Booted only with a Try-Slot, the counters
 * bounded, and formatting then parsing again gives the same state (what count
 * writes, the next boot reads back). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lb_bootstate bs, again;
	if (lb_bootstate_parse((const char *)data, size, &bs) < 0)
		return 0;
	if (!memchr(bs.slot, 0, sizeof bs.slot) || !memchr(bs.good_slot, 0, sizeof bs.good_slot) ||
	    !memchr(bs.rescue, 0, sizeof bs.rescue) ||
	    !memchr(bs.evidence, 0, sizeof bs.evidence) ||
	    !memchr(bs.try_slot, 0, sizeof bs.try_slot) ||
	    !memchr(bs.failed_slot, 0, sizeof bs.failed_slot))
		abort();
	if (!lb_boot_name_valid(bs.slot) || (bs.good_slot[0] && !lb_boot_name_valid(bs.good_slot)))
		abort();
	if ((bs.try_slot[0] && !lb_boot_name_valid(bs.try_slot)) ||
	    (bs.failed_slot[0] && !lb_boot_name_valid(bs.failed_slot)) ||
	    (bs.try_booted && !bs.try_slot[0]))
		abort();
	if (bs.attempts > LB_BOOT_COUNT_MAX || bs.failures > LB_BOOT_COUNT_MAX)
		abort();
	char buf[1024];
	size_t len = lb_bootstate_format(&bs, buf, sizeof buf);
	if (len >= sizeof buf)
		abort();
	if (lb_bootstate_parse(buf, len, &again) < 0 || !lb_bootstate_equal(&bs, &again))
		abort();
	return 0;
}
