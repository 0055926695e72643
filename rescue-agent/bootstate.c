/* SPDX-License-Identifier: MIT */
/* The boot state's rules: count, classify, decide, try a slot once and commit or
 * fail it (docs/boot.md). Pure functions; the backends keep the state. */
#include "bootstate.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "context.h"

void lb_bootstate_init(struct lb_bootstate *bs)
{
	memset(bs, 0, sizeof *bs);
	strcpy(bs->slot, "a");
}

bool lb_bootstate_equal(const struct lb_bootstate *a, const struct lb_bootstate *b)
{
	return !strcmp(a->slot, b->slot) && !strcmp(a->good_slot, b->good_slot) &&
	       a->attempts == b->attempts && a->failures == b->failures &&
	       !strcmp(a->rescue, b->rescue) && a->bad_serial == b->bad_serial &&
	       !strcmp(a->evidence, b->evidence) && !strcmp(a->try_slot, b->try_slot) &&
	       a->try_booted == b->try_booted && !strcmp(a->failed_slot, b->failed_slot);
}

bool lb_boot_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= LB_BOOT_NAME_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static unsigned inc(unsigned n)
{
	return n < LB_BOOT_COUNT_MAX ? n + 1 : n;
}

enum lb_boot_prev lb_boot_count(struct lb_bootstate *bs, const struct lb_boot_evidence *ev)
{
	unsigned flags = ev->flags;
	if (ev->id[0]) {
		if (!strcmp(ev->id, bs->evidence))
			flags &= ~(unsigned)LB_EV_PSTORE; /* counted by an interrupted count */
		snprintf(bs->evidence, sizeof bs->evidence, "%s", ev->id);
	}
	enum lb_boot_prev prev = LB_PREV_GOOD;
	if (bs->attempts > 0)
		prev = flags ? LB_PREV_FAILED : LB_PREV_RESET;
	if (bs->try_slot[0] && bs->try_booted) {
		/* the previous boot tried a slot and mark-good did not commit it: the try
		 * failed, whatever the evidence, and it is not held against the committed
		 * slot, whose failures stay; this boot takes the try's place in Attempts
		 * (the count that started the try counted it) */
		lb_boot_try_failed(bs);
		if (!bs->attempts)
			bs->attempts = 1; /* mark-good blessed it, not knowing the slot */
		return prev;
	}
	if (prev == LB_PREV_FAILED)
		bs->failures = inc(bs->failures);
	bs->attempts = inc(bs->attempts);
	return prev;
}

enum lb_boot_decision lb_boot_decide(const struct lb_bootstate *bs,
                                     const struct lb_boot_limits *lim)
{
	if (!strcmp(bs->rescue, "rebuild"))
		return LB_RESCUE_REBUILD;
	if (bs->rescue[0]) /* "requested", or a reason this lifeboat does not know */
		return LB_RESCUE_REQUESTED;
	if (bs->try_slot[0] && !bs->try_booted)
		return LB_BOOT_TRY;
	if (bs->failures >= lim->max_failures)
		return LB_RESCUE_FAILURES;
	if (bs->attempts > lim->max_attempts)
		return LB_RESCUE_ATTEMPTS;
	return LB_BOOT_SLOT;
}

const char *lb_boot_reason(enum lb_boot_decision d)
{
	switch (d) {
	case LB_RESCUE_REQUESTED: return "requested";
	case LB_RESCUE_REBUILD: return "rebuild";
	case LB_RESCUE_FAILURES: return "failures";
	case LB_RESCUE_ATTEMPTS: return "attempts";
	case LB_BOOT_SLOT:
	case LB_BOOT_TRY: break;
	}
	return NULL;
}

const char *lb_boot_target(const struct lb_bootstate *bs, enum lb_boot_decision d)
{
	return d == LB_BOOT_TRY ? bs->try_slot : d == LB_BOOT_SLOT ? bs->slot : NULL;
}

void lb_boot_begin(struct lb_bootstate *bs, enum lb_boot_decision d)
{
	if (d == LB_BOOT_TRY)
		bs->try_booted = true;
}

void lb_boot_try(struct lb_bootstate *bs, const char *slot)
{
	snprintf(bs->try_slot, sizeof bs->try_slot, "%s", slot ? slot : "");
	bs->try_booted = false;
}

void lb_boot_try_failed(struct lb_bootstate *bs)
{
	if (bs->try_slot[0])
		memcpy(bs->failed_slot, bs->try_slot, sizeof bs->failed_slot);
	lb_boot_try(bs, NULL);
}

enum lb_boot_good lb_boot_mark_good(struct lb_bootstate *bs, const char *booted)
{
	enum lb_boot_good g = LB_GOOD_SLOT;
	if (booted && bs->try_slot[0] && bs->try_booted && !strcmp(booted, bs->try_slot)) {
		memcpy(bs->slot, bs->try_slot, sizeof bs->slot);
		bs->failed_slot[0] = 0;
		lb_boot_try(bs, NULL);
		g = LB_GOOD_COMMIT;
	} else if (booted && strcmp(booted, bs->slot)) {
		return LB_GOOD_OTHER;
	}
	bs->attempts = 0;
	bs->failures = 0;
	memcpy(bs->good_slot, bs->slot, sizeof bs->good_slot);
	return g;
}

void lb_boot_reset(struct lb_bootstate *bs, const char *slot)
{
	bs->attempts = 0;
	bs->failures = 0;
	bs->rescue[0] = 0;
	bs->good_slot[0] = 0; /* the rebuilt slot has yet to prove itself */
	if (slot)
		snprintf(bs->slot, sizeof bs->slot, "%s", slot);
	lb_boot_try(bs, NULL);
	if (!strcmp(bs->failed_slot, bs->slot))
		bs->failed_slot[0] = 0; /* rewritten: no longer what failed */
}

bool lb_boot_cmdline_slot(const char *cmdline, char out[LB_BOOT_NAME_MAX])
{
	static const char key[] = "lifeboat.slot=";
	const char *found = NULL;
	size_t len = 0;
	for (const char *p = cmdline; *p;) {
		p += strspn(p, " \t\n");
		size_t n = strcspn(p, " \t\n");
		if (n >= sizeof key - 1 && !memcmp(p, key, sizeof key - 1)) {
			found = p + sizeof key - 1;
			len = n - (sizeof key - 1);
		}
		p += n;
	}
	if (!found || len == 0 || len >= LB_BOOT_NAME_MAX)
		return false;
	char v[LB_BOOT_NAME_MAX];
	memcpy(v, found, len);
	v[len] = 0;
	if (!lb_boot_name_valid(v))
		return false;
	memcpy(out, v, LB_BOOT_NAME_MAX);
	return true;
}

int lb_bootstore_load(struct lb_bootstore *s, struct lb_bootstate *bs)
{
	lb_bootstate_init(bs);
	return s->ops->load(s, bs);
}

int lb_bootstore_commit(struct lb_bootstore *s, const struct lb_bootstate *old,
                        const struct lb_bootstate *neu)
{
	if (lb_bootstate_equal(old, neu))
		return 0;
	return s->ops->save(s, neu);
}

void lb_bootstore_close(struct lb_bootstore *s)
{
	if (s->ops && s->ops->close)
		s->ops->close(s);
}

void lb_bootstore_setup(struct lb_bootstore *st, const struct lb_ctx *ctx,
                        const struct lb_config *cfg)
{
	*st = (struct lb_bootstore){.dirfd = ctx->statefd,
	                            .where = ctx->state,
	                            .initial_env = cfg->uboot_initial_env,
	                            .bootlimit = cfg->boot_max_attempts,
	                            .ops = &lb_bootstore_file};
	if (!strcmp(cfg->boot_state, "uboot")) {
		st->ops = &lb_bootstore_uboot;
		st->where = cfg->uboot_env_config;
	}
}

int lb_boot_request_rescue(const struct lb_ctx *ctx, const struct lb_config *cfg, const char *why)
{
	struct lb_bootstore st;
	struct lb_bootstate old, bs;
	lb_bootstore_setup(&st, ctx, cfg);
	int r = lb_bootstore_load(&st, &old);
	if (!r) {
		bs = old;
		snprintf(bs.rescue, sizeof bs.rescue, "%s", why);
		r = lb_bootstore_commit(&st, &old, &bs);
	}
	lb_bootstore_close(&st);
	return r;
}
