/* SPDX-License-Identifier: MIT */
/* The hardware watchdog: what its driver says about the last reset (sysfs
 * bootstatus), and arming it for the next kernel to take over (docs/boot.md). */
#ifndef LB_WATCHDOG_H
#define LB_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define LB_WATCHDOG_SYSFS "/sys/class/watchdog"
#define LB_WATCHDOG_MAX   8 /* devices looked at */

struct lb_wdstat {
	char name[32];            /* "watchdog0" */
	unsigned long bootstatus; /* WDIOF_* of the last reset */
};

/* bootstatus of every watchdogN in sysfs_dir (normally LB_WATCHDOG_SYSFS), in
 * name order, at most LB_WATCHDOG_MAX. No directory: no watchdog, *n = 0.
 * Unreadable entries are skipped. */
void lb_watchdog_list(const char *sysfs_dir, struct lb_wdstat out[LB_WATCHDOG_MAX], size_t *n);

/* Did any watchdog reset the machine (WDIOF_CARDRESET)? */
bool lb_watchdog_card_reset(const struct lb_wdstat *w, size_t n);

/* Open dev, set the timeout (seconds), ping it, and close it without the magic
 * 'V', so that it keeps running: the next kernel's driver takes it over, and if
 * nothing pings it within the timeout, it resets the machine. *accepted is the
 * timeout the driver runs with (0 unknown); *stays is false when the driver stops
 * the watchdog on close (no WDIOF_MAGICCLOSE: load it with nowayout=1). */
int lb_watchdog_arm(const char *dev, unsigned timeout, unsigned *accepted, bool *stays) LB_MUST;

#endif
