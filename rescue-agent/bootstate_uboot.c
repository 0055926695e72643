/* SPDX-License-Identifier: MIT */
/* Boot state backend: the U-Boot environment, through libubootenv (the library
 * of fw_printenv/fw_setenv), configured by its fw_env.config. Variables:
 *
 *   bootcount            Attempts           (U-Boot's name)
 *   bootlimit            Boot-Max-Attempts  (U-Boot's name; written, never read)
 *   upgrade_available    1 while Attempts > 0, 0 once marked good (U-Boot's name)
 *   lifeboat_slot, lifeboat_good_slot, lifeboat_failures, lifeboat_rescue,
 *   lifeboat_bad_serial, lifeboat_evidence
 *   lifeboat_try_slot, lifeboat_try_booted (1 once booted), lifeboat_failed_slot
 *
 * A missing variable has its default value. All changed variables are written
 * with one libuboot_env_store(): with a redundant environment (two copies in
 * fw_env.config) the new copy is written and synced beside the old one, whose
 * flag makes it current only when complete, so a power cut leaves the old or
 * the new state. libubootenv is loaded with dlopen when this backend is used, so
 * lifeboat does not need it on devices that keep the state in a file. */
#include <dlfcn.h>
#include <errno.h>
#include <libuboot.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstate.h"

#define LIBUBOOTENV "libubootenv.so.0"

static struct {
	int (*initialize)(struct uboot_ctx **out, struct uboot_env_device *envdevs);
	int (*read_config)(struct uboot_ctx *ctx, const char *config);
	int (*open)(struct uboot_ctx *ctx);
	int (*load_file)(struct uboot_ctx *ctx, const char *filename);
	char *(*get_env)(struct uboot_ctx *ctx, const char *varname);
	int (*set_env)(struct uboot_ctx *ctx, const char *varname, const char *value);
	int (*env_store)(struct uboot_ctx *ctx);
	void (*close)(struct uboot_ctx *ctx);
	void (*exit)(struct uboot_ctx *ctx);
} ub;

static int load_lib(void)
{
	if (ub.exit)
		return 0;
	void *h = dlopen(LIBUBOOTENV, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return lb_errf(-ENOENT, "cannot load %s (needed for Boot-State: uboot): %s",
		               LIBUBOOTENV, dlerror());
	struct {
		void **slot;
		const char *name;
	} syms[] = {
	    {(void **)&ub.initialize, "libuboot_initialize"},
	    {(void **)&ub.read_config, "libuboot_read_config"},
	    {(void **)&ub.open, "libuboot_open"},
	    {(void **)&ub.load_file, "libuboot_load_file"},
	    {(void **)&ub.get_env, "libuboot_get_env"},
	    {(void **)&ub.set_env, "libuboot_set_env"},
	    {(void **)&ub.env_store, "libuboot_env_store"},
	    {(void **)&ub.close, "libuboot_close"},
	    {(void **)&ub.exit, "libuboot_exit"},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
		if (!(*syms[i].slot = dlsym(h, syms[i].name))) {
			memset(&ub, 0, sizeof ub);
			return lb_errf(-ENOENT, "%s: no %s", LIBUBOOTENV, syms[i].name);
		}
	return 0;
}

/* libubootenv returns a negative errno or -1 */
static int uerr(int r)
{
	return r < -1 && r > -LBE_BASE ? r : -EIO;
}

/* One variable: its name, its value in the state, and the value a missing
 * variable stands for (NULL: it must be written). */
struct var {
	const char *name;
	char val[LB_BOOT_NAME_MAX];
	const char *dflt;
};

enum {
	V_BOOTCOUNT,
	V_SLOT,
	V_GOOD,
	V_FAILURES,
	V_RESCUE,
	V_BAD,
	V_EVIDENCE,
	V_TRY,
	V_TRY_BOOTED,
	V_FAILED,
	V_UPGRADE,
	V_LIMIT,
	NV
};

static void vars_of(const struct lb_bootstate *bs, unsigned bootlimit, struct var v[NV])
{
	static const struct var names[NV] = {
	    [V_BOOTCOUNT] = {"bootcount", "", "0"},
	    [V_SLOT] = {"lifeboat_slot", "", "a"},
	    [V_GOOD] = {"lifeboat_good_slot", "", ""},
	    [V_FAILURES] = {"lifeboat_failures", "", "0"},
	    [V_RESCUE] = {"lifeboat_rescue", "", ""},
	    [V_BAD] = {"lifeboat_bad_serial", "", "0"},
	    [V_EVIDENCE] = {"lifeboat_evidence", "", ""},
	    [V_TRY] = {"lifeboat_try_slot", "", ""},
	    [V_TRY_BOOTED] = {"lifeboat_try_booted", "", ""},
	    [V_FAILED] = {"lifeboat_failed_slot", "", ""},
	    [V_UPGRADE] = {"upgrade_available", "", "0"},
	    [V_LIMIT] = {"bootlimit", "", NULL},
	};
	memcpy(v, names, sizeof names);
	snprintf(v[V_BOOTCOUNT].val, LB_BOOT_NAME_MAX, "%u", bs->attempts);
	snprintf(v[V_SLOT].val, LB_BOOT_NAME_MAX, "%s", bs->slot);
	snprintf(v[V_GOOD].val, LB_BOOT_NAME_MAX, "%s", bs->good_slot);
	snprintf(v[V_FAILURES].val, LB_BOOT_NAME_MAX, "%u", bs->failures);
	snprintf(v[V_RESCUE].val, LB_BOOT_NAME_MAX, "%s", bs->rescue);
	snprintf(v[V_BAD].val, LB_BOOT_NAME_MAX, "%llu", bs->bad_serial);
	snprintf(v[V_EVIDENCE].val, LB_BOOT_NAME_MAX, "%s", bs->evidence);
	snprintf(v[V_TRY].val, LB_BOOT_NAME_MAX, "%s", bs->try_slot);
	snprintf(v[V_TRY_BOOTED].val, LB_BOOT_NAME_MAX, "%s", bs->try_booted ? "1" : "");
	snprintf(v[V_FAILED].val, LB_BOOT_NAME_MAX, "%s", bs->failed_slot);
	snprintf(v[V_UPGRADE].val, LB_BOOT_NAME_MAX, "%d", bs->attempts > 0);
	snprintf(v[V_LIMIT].val, LB_BOOT_NAME_MAX, "%u", bootlimit);
}

static int get_number(struct uboot_ctx *ctx, const char *name, unsigned long long max,
                      unsigned long long *out)
{
	char *v = ub.get_env(ctx, name);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	int r = 0;
	if (v[0] < '0' || v[0] > '9' || *end || errno || n > max)
		r = lb_errf(-LBE_CORRUPT, "%s: '%.40s' is not a number", name, v);
	else
		*out = n;
	free(v);
	return r;
}

static int get_name(struct uboot_ctx *ctx, const char *name, bool may_be_empty,
                    char out[LB_BOOT_NAME_MAX])
{
	char *v = ub.get_env(ctx, name);
	if (!v)
		return 0;
	int r = 0;
	if (!(may_be_empty && !v[0]) && !lb_boot_name_valid(v))
		r = lb_errf(-LBE_CORRUPT, "%s: '%.40s' is not a valid name", name, v);
	else
		snprintf(out, LB_BOOT_NAME_MAX, "%s", v);
	free(v);
	return r;
}

static int get_bool(struct uboot_ctx *ctx, const char *name, bool *out)
{
	char *v = ub.get_env(ctx, name);
	if (!v)
		return 0;
	int r = 0;
	if (strcmp(v, "0") && strcmp(v, "1"))
		r = lb_errf(-LBE_CORRUPT, "%s: '%.40s' is not 0 or 1", name, v);
	else
		*out = !strcmp(v, "1");
	free(v);
	return r;
}

static int read_vars(struct uboot_ctx *ctx, struct lb_bootstate *bs)
{
	unsigned long long attempts = 0, failures = 0;
	int r = get_number(ctx, "bootcount", LB_BOOT_COUNT_MAX, &attempts);
	if (!r)
		r = get_name(ctx, "lifeboat_slot", false, bs->slot);
	if (!r)
		r = get_name(ctx, "lifeboat_good_slot", true, bs->good_slot);
	if (!r)
		r = get_number(ctx, "lifeboat_failures", LB_BOOT_COUNT_MAX, &failures);
	if (!r)
		r = get_name(ctx, "lifeboat_rescue", true, bs->rescue);
	if (!r)
		r = get_number(ctx, "lifeboat_bad_serial", ULLONG_MAX, &bs->bad_serial);
	if (!r)
		r = get_name(ctx, "lifeboat_evidence", true, bs->evidence);
	if (!r)
		r = get_name(ctx, "lifeboat_try_slot", true, bs->try_slot);
	if (!r)
		r = get_bool(ctx, "lifeboat_try_booted", &bs->try_booted);
	if (!r)
		r = get_name(ctx, "lifeboat_failed_slot", true, bs->failed_slot);
	if (!bs->try_slot[0])
		bs->try_booted = false;
	bs->attempts = (unsigned)attempts;
	bs->failures = (unsigned)failures;
	return r;
}

static void ctx_free(struct lb_bootstore *s)
{
	if (s->priv) {
		ub.close(s->priv);
		ub.exit(s->priv);
		s->priv = NULL;
	}
}

static int uboot_load(struct lb_bootstore *s, struct lb_bootstate *bs)
{
	int r = load_lib();
	if (r)
		return r;
	struct uboot_ctx *ctx = NULL;
	if ((r = ub.initialize(&ctx, NULL)) < 0)
		return lb_errf(uerr(r), "libubootenv: cannot initialise: %s", strerror(-uerr(r)));
	s->priv = ctx;
	if (access(s->where, R_OK) < 0)
		r = lb_errf(-errno, "U-Boot environment configuration %s: %s", s->where,
		            strerror(errno));
	else if ((r = ub.read_config(ctx, s->where)) < 0)
		r = lb_errf(uerr(r), "%s: not a valid fw_env.config or its device is missing (%s)",
		            s->where, strerror(-uerr(r)));
	else if (ub.open(ctx) < 0) {
		/* no copy with a valid CRC: start from U-Boot's default environment, as
		 * fw_setenv does; never from an empty one, which would lose bootcmd */
		if (access(s->initial_env, R_OK) < 0)
			r = lb_errf(
			    -LBE_CORRUPT,
			    "U-Boot environment (%s): no valid copy, and no %s to start from",
			    s->where, s->initial_env);
		else if ((r = ub.load_file(ctx, s->initial_env)) < 0)
			r = lb_errf(uerr(r), "%s: cannot load it (%s)", s->initial_env,
			            strerror(-uerr(r)));
	}
	if (r) {
		ctx_free(s);
		return r;
	}
	/* a bad value: the environment stays open, so that `boot reset` can write over it */
	if ((r = read_vars(ctx, bs)))
		r = lb_err_prefix(r, "U-Boot environment (%s)", s->where);
	return r;
}

static int uboot_save(struct lb_bootstore *s, const struct lb_bootstate *bs)
{
	struct uboot_ctx *ctx = s->priv;
	if (!ctx)
		return lb_errf(-LBE_CORRUPT, "U-Boot environment (%s): no valid copy to start from",
		               s->where);
	struct var v[NV];
	vars_of(bs, s->bootlimit, v);
	int changed = 0, r = 0;
	for (int i = 0; i < NV && !r; i++) {
		char *cur = ub.get_env(ctx, v[i].name);
		bool same =
		    cur ? !strcmp(cur, v[i].val) : v[i].dflt && !strcmp(v[i].dflt, v[i].val);
		free(cur);
		if (same)
			continue;
		/* an empty value is no variable (fw_setenv NAME deletes it too) */
		r = ub.set_env(ctx, v[i].name, v[i].val[0] ? v[i].val : NULL);
		if (r)
			r = lb_errf(uerr(r), "U-Boot environment (%s): cannot set %s: %s", s->where,
			            v[i].name, strerror(-uerr(r)));
		changed++;
	}
	if (!r && changed && (r = ub.env_store(ctx)) < 0)
		r = lb_errf(uerr(r), "U-Boot environment (%s): cannot write it: %s", s->where,
		            strerror(-uerr(r)));
	return r;
}

const struct lb_bootstore_ops lb_bootstore_uboot = {
    .name = "uboot",
    .load = uboot_load,
    .save = uboot_save,
    .close = ctx_free,
};
