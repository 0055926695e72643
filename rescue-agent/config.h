/* SPDX-License-Identifier: MIT */
/* The device's configuration: ROOT/etc/lifeboat.conf or STATE/lifeboat.conf
 * (docs/sync.md), one deb822 paragraph; command-line options override it. */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include "context.h"
#include "error.h"

#define LB_CONFIG_FILE       "etc/lifeboat.conf"
#define LB_STATE_CONFIG_FILE "lifeboat.conf" /* STATE/lifeboat.conf, when the root has none */
#define LB_DEFAULT_PUBKEY    "etc/lifeboat/master.pub"

#define LB_DEFAULT_BOOT_STATE        "file"
#define LB_DEFAULT_BOOT_MAX_FAILURES 3
#define LB_DEFAULT_BOOT_MAX_ATTEMPTS 8
#define LB_DEFAULT_WATCHDOG_DEVICE   "/dev/watchdog"
#define LB_DEFAULT_WATCHDOG_TIMEOUT  120
#define LB_DEFAULT_UBOOT_ENV_CONFIG  "/etc/fw_env.config"
#define LB_DEFAULT_UBOOT_INITIAL_ENV "/etc/u-boot-initial-env"

struct lb_config {
	char *master;    /* base URL of the published tree */
	char *device_id; /* names devices/ID on the master */
	char *group;     /* used when the master has no pointer for this device */
	char *pubkeys;   /* comma-separated key files (paths in the root unless absolute) */
	unsigned long long bwlimit; /* bytes/s, 0 = none */
	int retries;
	/* the boot state (docs/boot.md); lb_config_load fills in the defaults */
	char *boot_state;           /* Boot-State: "file" or "uboot" */
	unsigned boot_max_failures; /* Boot-Max-Failures: failed boots before rescue */
	unsigned boot_max_attempts; /* Boot-Max-Attempts: unblessed boots before rescue */
	char *watchdog_device;      /* Watchdog-Device */
	unsigned watchdog_timeout;  /* Watchdog-Timeout, seconds */
	char *uboot_env_config;     /* Uboot-Env-Config: libubootenv's fw_env.config */
	char *uboot_initial_env;    /* Uboot-Initial-Env: used when no env copy is valid */
	char *slot_devices;         /* Slot-Devices: "a=DEV b=DEV", NULL: by partition name */
};

/* Read ROOT/etc/lifeboat.conf (or path when non-NULL); a missing default file is
 * an empty configuration (the defaults above). */
int lb_config_load(struct lb_ctx *ctx, const char *path, struct lb_config *c) LB_MUST;
void lb_config_free(struct lb_config *c);

#endif
