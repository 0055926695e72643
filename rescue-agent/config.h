/* SPDX-License-Identifier: MIT */
/* The device's configuration: ROOT/etc/lifeboat.conf (docs/sync.md), one deb822
 * paragraph; command-line options override it. */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include "context.h"
#include "error.h"

#define LB_CONFIG_FILE    "etc/lifeboat.conf"
#define LB_DEFAULT_PUBKEY "etc/lifeboat/master.pub"

struct lb_config {
	char *master;    /* base URL of the published tree */
	char *device_id; /* names devices/ID on the master */
	char *group;     /* used when the master has no pointer for this device */
	char *pubkeys;   /* comma-separated key files (paths in the root unless absolute) */
	unsigned long long bwlimit; /* bytes/s, 0 = none */
	int retries;
};

/* Read ROOT/etc/lifeboat.conf (or path when non-NULL); a missing default file is
 * an empty configuration. */
int lb_config_load(struct lb_ctx *ctx, const char *path, struct lb_config *c) LB_MUST;
void lb_config_free(struct lb_config *c);

#endif
