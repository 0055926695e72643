/* SPDX-License-Identifier: MIT */
/* What every command works on: the target root and the state directory. */
#ifndef LB_CONTEXT_H
#define LB_CONTEXT_H

#include <stdbool.h>

struct lb_ctx {
	const char *root; /* --root, "/" by default */
	int rootfd;
	const char *state; /* --state, ROOT/var/lib/lifeboat by default: the device's state
	                    * (boot state, OS records, caches, the lock) */
	int statefd;
	const char *slot; /* --slot, or lifeboat.slot= of a running system: the root's slot */
	bool slot_given;  /* by --slot */
	const char *pkg;  /* the root's package state (database, journal, scripts): the
	                   * state directory, or STATE/slot-SLOT when the slot is known */
	int pkgfd;
	char *state_in_root; /* the state directory as seen inside the root, or NULL */
	int lockfd;
	bool json;
	bool wait;
	bool no_scripts;
	bool allow_devices;
	bool quiet;
};

#endif
