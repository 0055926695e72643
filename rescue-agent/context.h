/* SPDX-License-Identifier: MIT */
/* What every command works on: the target root and the state directory. */
#ifndef LB_CONTEXT_H
#define LB_CONTEXT_H

#include <stdbool.h>

struct lb_ctx {
	const char *root; /* --root, "/" by default */
	int rootfd;
	const char *state; /* --state, ROOT/var/lib/lifeboat by default */
	int statefd;
	char *state_in_root; /* the state directory as seen inside the root, or NULL */
	int lockfd;
	bool json;
	bool wait;
	bool no_scripts;
	bool allow_devices;
	bool quiet;
};

#endif
