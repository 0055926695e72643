/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deb822.h"
#include "fsop.h"

static int take(const struct lb_para *p, const char *field, char **out)
{
	const char *v = lb_para_get(p, field);
	if (!v)
		return 0;
	if (strchr(v, '\n'))
		return lb_errf(-LBE_FORMAT, "%s: one line expected", field);
	free(*out);
	return (*out = strdup(v)) ? 0 : -ENOMEM;
}

/* A count or a number of seconds: 1..1000000, decimal. */
static int take_uint(const struct lb_para *p, const char *field, unsigned *out)
{
	const char *v = lb_para_get(p, field);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno || n < 1 || n > 1000000)
		return lb_errf(-LBE_FORMAT, "%s: '%s' is not a number from 1 to 1000000", field, v);
	*out = (unsigned)n;
	return 0;
}

static int boot_keys(const struct lb_para *p, struct lb_config *c)
{
	int r = take(p, "Boot-State", &c->boot_state);
	if (!r && strcmp(c->boot_state, "file") && strcmp(c->boot_state, "uboot"))
		r = lb_errf(-LBE_FORMAT, "Boot-State: '%s' is neither 'file' nor 'uboot'",
		            c->boot_state);
	if (!r)
		r = take_uint(p, "Boot-Max-Failures", &c->boot_max_failures);
	if (!r)
		r = take_uint(p, "Boot-Max-Attempts", &c->boot_max_attempts);
	if (!r)
		r = take(p, "Watchdog-Device", &c->watchdog_device);
	if (!r)
		r = take_uint(p, "Watchdog-Timeout", &c->watchdog_timeout);
	if (!r)
		r = take(p, "Uboot-Env-Config", &c->uboot_env_config);
	if (!r)
		r = take(p, "Uboot-Initial-Env", &c->uboot_initial_env);
	if (!r)
		r = take(p, "Slot-Devices", &c->slot_devices);
	return r;
}

static int defaults(struct lb_config *c)
{
	c->boot_max_failures = LB_DEFAULT_BOOT_MAX_FAILURES;
	c->boot_max_attempts = LB_DEFAULT_BOOT_MAX_ATTEMPTS;
	c->watchdog_timeout = LB_DEFAULT_WATCHDOG_TIMEOUT;
	c->boot_state = strdup(LB_DEFAULT_BOOT_STATE);
	c->watchdog_device = strdup(LB_DEFAULT_WATCHDOG_DEVICE);
	c->uboot_env_config = strdup(LB_DEFAULT_UBOOT_ENV_CONFIG);
	c->uboot_initial_env = strdup(LB_DEFAULT_UBOOT_INITIAL_ENV);
	if (c->boot_state && c->watchdog_device && c->uboot_env_config && c->uboot_initial_env)
		return 0;
	lb_config_free(c);
	return -ENOMEM;
}

int lb_config_load(struct lb_ctx *ctx, const char *path, struct lb_config *c)
{
	memset(c, 0, sizeof *c);
	char *buf = NULL;
	size_t len = 0;
	int r = defaults(c);
	if (r)
		return r;
	/* the root's /etc/lifeboat.conf, else the state partition's lifeboat.conf
	 * (where a device keeps what is its own: master, id, group, limits) */
	char where[4096];
	snprintf(where, sizeof where, "%s", path ? path : "/" LB_CONFIG_FILE);
	r = path ? lb_read_file(AT_FDCWD, path, 1 << 20, &buf, &len)
	         : lb_read_file(ctx->rootfd, LB_CONFIG_FILE, 1 << 20, &buf, &len);
	if (r == -ENOENT && !path && ctx->statefd >= 0) {
		snprintf(where, sizeof where, "%s/%s", ctx->state, LB_STATE_CONFIG_FILE);
		r = lb_read_file(ctx->statefd, LB_STATE_CONFIG_FILE, 1 << 20, &buf, &len);
	}
	if (r == -ENOENT && !path)
		return 0;
	if (r) {
		lb_config_free(c);
		return lb_errf(r, "%s: %s", where, strerror(-r));
	}
	struct lb_doc doc = {0};
	r = lb_deb822_parse(buf, len, &doc);
	free(buf);
	if (!r && doc.n > 1)
		r = lb_errf(-LBE_FORMAT, "one paragraph expected, found %zu", doc.n);
	if (!r && doc.n == 1) {
		const struct lb_para *p = &doc.paras[0];
		r = take(p, "Master", &c->master);
		if (!r)
			r = take(p, "Device-Id", &c->device_id);
		if (!r)
			r = take(p, "Group", &c->group);
		if (!r)
			r = take(p, "Public-Key", &c->pubkeys);
		const char *v = lb_para_get(p, "Bandwidth-Limit");
		if (!r && v)
			c->bwlimit = strtoull(v, NULL, 10);
		v = lb_para_get(p, "Retries");
		if (!r && v)
			c->retries = atoi(v);
		if (!r)
			r = boot_keys(p, c);
	}
	lb_doc_free(&doc);
	if (r) {
		lb_config_free(c);
		return lb_err_prefix(r, "%s", where);
	}
	return 0;
}

void lb_config_free(struct lb_config *c)
{
	free(c->master);
	free(c->device_id);
	free(c->group);
	free(c->pubkeys);
	free(c->boot_state);
	free(c->watchdog_device);
	free(c->uboot_env_config);
	free(c->uboot_initial_env);
	free(c->slot_devices);
	memset(c, 0, sizeof *c);
}
