/* SPDX-License-Identifier: MIT */
/* lifeboat boot count|mark-good|rescue|reset|set-bad-serial|status|try|try-failed|
 * watchdog (docs/boot.md). The rescue system's /init runs `boot count` on every
 * boot and boots the slot or enters rescue mode on its one line of output; the
 * main OS runs `boot mark-good` once it is healthy, and `boot try SLOT` to boot a
 * slot it wrote once (A/B): mark-good in that boot commits it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstate.h"
#include "cmd.h"
#include "config.h"
#include "evidence.h"
#include "watchdog.h"

#define LB_PROC_CMDLINE "/proc/cmdline" /* lifeboat.slot=: the slot mark-good blesses */

enum {
	O_CONFIG = 1,
	O_PSTORE = 2,
	O_WDSYSFS = 4,
	O_SLOT = 8,
	O_TIMEOUT = 16,
	O_DEVICE = 32,
	O_CANCEL = 64,
};

struct sub {
	const char *name;
	const char *usage;
	unsigned opts;          /* O_* allowed */
	int min_args, max_args; /* positional arguments */
};

static const struct sub subs[] = {
    {"count", "count [--pstore DIR] [--watchdog-sysfs DIR]", O_PSTORE | O_WDSYSFS, 0, 0},
    {"mark-good", "mark-good [--slot BOOTED]", O_SLOT, 0, 0},
    {"rescue", "rescue [requested|rebuild]", 0, 0, 1},
    {"reset", "reset [--slot S]", O_SLOT, 0, 0},
    {"set-bad-serial", "set-bad-serial N", 0, 1, 1},
    {"status", "status [--watchdog-sysfs DIR]", O_WDSYSFS, 0, 0},
    {"try", "try SLOT|--cancel", O_CANCEL, 0, 1},
    {"try-failed", "try-failed", 0, 0, 0},
    {"watchdog", "watchdog [--timeout SECONDS] [--device DEV]", O_TIMEOUT | O_DEVICE, 0, 0},
};

struct opts {
	const char *config, *pstore, *wd_sysfs, *slot, *device, *timeout, *cancel;
	const char *arg;
	bool json;
};

static int usage_err(const struct sub *s, const char *what)
{
	return lb_errf(-LBE_USAGE, "boot %s: %s (usage: lifeboat boot %s [--config FILE] [--json])",
	               s->name, what, s->usage);
}

static int parse_opts(const struct sub *s, int argc, char **argv, struct opts *o)
{
	static const struct {
		const char *name;
		unsigned bit;
		size_t off;
		bool flag; /* no value: set to the option itself */
	} known[] = {
	    {"--config", O_CONFIG, offsetof(struct opts, config), false},
	    {"--pstore", O_PSTORE, offsetof(struct opts, pstore), false},
	    {"--watchdog-sysfs", O_WDSYSFS, offsetof(struct opts, wd_sysfs), false},
	    {"--slot", O_SLOT, offsetof(struct opts, slot), false},
	    {"--timeout", O_TIMEOUT, offsetof(struct opts, timeout), false},
	    {"--device", O_DEVICE, offsetof(struct opts, device), false},
	    {"--cancel", O_CANCEL, offsetof(struct opts, cancel), true},
	};
	memset(o, 0, sizeof *o);
	int nargs = 0;
	for (int i = 2; i < argc; i++) {
		if (argv[i][0] != '-' || !argv[i][1]) {
			if (nargs++ >= s->max_args)
				return usage_err(s, "too many arguments");
			o->arg = argv[i];
			continue;
		}
		if (!strcmp(argv[i], "--json")) {
			o->json = true;
			continue;
		}
		size_t k = 0;
		while (k < sizeof known / sizeof known[0] && strcmp(argv[i], known[k].name))
			k++;
		if (k == sizeof known / sizeof known[0] || !((s->opts | O_CONFIG) & known[k].bit)) {
			char m[80];
			snprintf(m, sizeof m, "unknown option '%.40s'", argv[i]);
			return usage_err(s, m);
		}
		if (!known[k].flag && i + 1 >= argc)
			return usage_err(s, "an option needs a value");
		*(const char **)((char *)o + known[k].off) = known[k].flag ? argv[i] : argv[++i];
	}
	if (nargs < s->min_args)
		return usage_err(s, "an argument is missing");
	return 0;
}

/* a decimal number in [min, max] */
static int parse_number(const char *what, const char *v, unsigned long long min,
                        unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno || n < min || n > max)
		return lb_errf(-LBE_USAGE, "boot: %s '%s' is not a number from %llu to %llu", what,
		               v, min, max);
	*out = n;
	return 0;
}

static void json_name(const char *key, const char *v)
{
	printf(",\"%s\":", key);
	if (v[0])
		lb_json_str(stdout, v);
	else
		fputs("null", stdout);
}

/* the fields every JSON answer has, after the opening brace */
static void json_state(const struct lb_bootstore *st, const struct lb_bootstate *bs,
                       const struct lb_config *cfg)
{
	printf("\"backend\":\"%s\"", st->ops->name);
	json_name("slot", bs->slot);
	json_name("good_slot", bs->good_slot);
	printf(",\"attempts\":%u,\"max_attempts\":%u,\"failures\":%u,\"max_failures\":%u",
	       bs->attempts, cfg->boot_max_attempts, bs->failures, cfg->boot_max_failures);
	json_name("rescue", bs->rescue);
	printf(",\"bad_serial\":%llu", bs->bad_serial);
	json_name("try_slot", bs->try_slot);
	printf(",\"try_booted\":%s", bs->try_booted ? "true" : "false");
	json_name("failed_slot", bs->failed_slot);
}

/* the decision line of count and try-failed: `boot SLOT`, `boot SLOT try` (booted
 * once: /init falls back with try-failed when it cannot start it) or
 * `rescue REASON`; with --json the opening fields of an object */
static void print_decision(const struct lb_ctx *ctx, const struct lb_bootstate *bs,
                           enum lb_boot_decision d, const char *try_failed)
{
	const char *reason = lb_boot_reason(d);
	const char *target = lb_boot_target(bs, d);
	if (ctx->json) {
		printf("{\"decision\":\"%s\",", reason ? "rescue" : "boot");
		fputs("\"reason\":", stdout);
		if (reason)
			printf("\"%s\"", reason);
		else
			fputs("null", stdout);
		json_name("boot_slot", target ? target : "");
		printf(",\"try\":%s", d == LB_BOOT_TRY ? "true" : "false");
		json_name("try_failed", try_failed);
	} else if (reason) {
		printf("rescue %s\n", reason);
	} else {
		printf("boot %s%s\n", target, d == LB_BOOT_TRY ? " try" : "");
	}
}

/* the one line on stderr that explains a decision; why: about the previous boot */
static void explain(const struct lb_config *cfg, const struct lb_bootstate *bs,
                    enum lb_boot_decision d, const char *why)
{
	const char *reason = lb_boot_reason(d);
	char head[64] = "";
	if (reason)
		snprintf(head, sizeof head, "rescue (%s): ", reason);
	if (d == LB_RESCUE_REQUESTED || d == LB_RESCUE_REBUILD)
		fprintf(stderr, "lifeboat: %s%s; boot %u of slot %s: %s\n", head,
		        d == LB_RESCUE_REBUILD ? "the slot must be rebuilt"
		                               : "a rescue was requested",
		        bs->attempts, bs->slot, why);
	else if (d == LB_BOOT_TRY)
		fprintf(stderr,
		        "lifeboat: slot %s, tried once (slot %s again unless %s is marked good); "
		        "boot %u since mark-good: %s, %u failures of %u allowed\n",
		        bs->try_slot, bs->slot, bs->try_slot, bs->attempts, why, bs->failures,
		        cfg->boot_max_failures);
	else
		fprintf(stderr,
		        "lifeboat: %sboot %u of slot %s (%u allowed without mark-good): %s, %u "
		        "failures of %u allowed\n",
		        head, bs->attempts, bs->slot, cfg->boot_max_attempts, why, bs->failures,
		        cfg->boot_max_failures);
}

static const char *const prev_str[] = {"good", "failed", "reset"};

static void describe_evidence(const struct lb_boot_evidence *ev, char *buf, size_t size)
{
	unsigned f = ev->flags;
	bool pstore = f & LB_EV_PSTORE;
	snprintf(buf, size, "%s%s%s%s%s", f & LB_EV_WATCHDOG ? "watchdog reset" : "",
	         f & LB_EV_WATCHDOG && pstore ? ", " : "",
	         f & LB_EV_PANIC  ? "kernel panic"
	         : f & LB_EV_OOPS ? "oops"
	                          : "",
	         pstore && ev->detail[0] ? ": " : "", pstore ? ev->detail : "");
}

static int boot_count(struct lb_ctx *ctx, const struct opts *o, const struct lb_config *cfg,
                      struct lb_bootstore *st, struct lb_bootstate *bs)
{
	const char *pstore = o->pstore ? o->pstore : LB_PSTORE_DIR;
	struct lb_wdstat wd[LB_WATCHDOG_MAX];
	size_t nwd;
	struct lb_pstore *ps = malloc(sizeof *ps);
	if (!ps)
		return -ENOMEM;
	struct lb_boot_evidence ev;
	lb_evidence_gather(o->wd_sysfs ? o->wd_sysfs : LB_WATCHDOG_SYSFS, pstore, wd, &nwd, ps,
	                   &ev);
	/* what counts: evidence the counter does not discard as counted before */
	struct lb_bootstate old = *bs;
	enum lb_boot_prev prev = lb_boot_count(bs, &ev);
	struct lb_boot_limits lim = {cfg->boot_max_failures, cfg->boot_max_attempts};
	enum lb_boot_decision d = lb_boot_decide(bs, &lim);
	lb_boot_begin(bs, d); /* a try is booted once: saved with the count */
	int r = lb_bootstore_commit(st, &old, bs);
	/* only now: a power cut before the commit leaves the records to be counted */
	if (!r && lb_pstore_consume(pstore, ps) && !ctx->quiet)
		fprintf(stderr, "lifeboat: warning: %s (it will not be counted again)\n",
		        lb_err_msg());
	free(ps);
	if (r)
		return r;

	/* the previous boot was a try that was not committed: it failed */
	const char *try_failed = old.try_slot[0] && old.try_booted ? old.try_slot : "";
	struct lb_boot_evidence counted = ev;
	if (prev != LB_PREV_FAILED)
		counted.flags = 0;
	else if (ev.id[0] && !strcmp(ev.id, old.evidence))
		counted.flags &= ~(unsigned)LB_EV_PSTORE;
	char what[256];
	describe_evidence(&counted, what, sizeof what);

	print_decision(ctx, bs, d, try_failed);
	if (ctx->json) {
		printf(",\"previous\":\"%s\",\"evidence\":[", prev_str[prev]);
		const char *sep = "";
		if (counted.flags & LB_EV_WATCHDOG)
			printf("\"watchdog\""), sep = ",";
		if (counted.flags & LB_EV_PANIC)
			printf("%s\"panic\"", sep), sep = ",";
		if (counted.flags & LB_EV_OOPS)
			printf("%s\"oops\"", sep);
		fputs("],\"detail\":", stdout);
		if (counted.flags & LB_EV_PSTORE && ev.detail[0])
			lb_json_str(stdout, ev.detail);
		else
			fputs("null", stdout);
		fputc(',', stdout);
		json_state(st, bs, cfg);
		puts("}");
	}
	if (fflush(stdout) == EOF)
		return lb_errf(-EIO, "stdout: %s", strerror(errno));
	if (ctx->quiet)
		return 0;

	char p[320];
	if (try_failed[0])
		snprintf(p, sizeof p, "the try of slot %s failed (%s)", try_failed,
		         prev == LB_PREV_FAILED  ? what
		         : prev == LB_PREV_RESET ? "reset before mark-good"
		                                 : "marked good, but not as that slot");
	else if (prev == LB_PREV_FAILED)
		snprintf(p, sizeof p, "previous boot failed (%s)", what);
	else if (prev == LB_PREV_RESET)
		snprintf(p, sizeof p,
		         "previous boot reset without evidence of a failure (power cut?)");
	else
		snprintf(p, sizeof p, "first boot since mark-good or reset");
	explain(cfg, bs, d, p);
	return 0;
}

/* the rescue system could not start the slot `count` said to try (no partition,
 * a damaged filesystem, no kernel): the try failed, and this boot, counted already,
 * goes on as one of the committed slot, or rescues it */
static int boot_try_failed(struct lb_ctx *ctx, const struct lb_config *cfg, struct lb_bootstore *st,
                           struct lb_bootstate *bs)
{
	struct lb_bootstate old = *bs;
	lb_boot_try_failed(bs);
	struct lb_boot_limits lim = {cfg->boot_max_failures, cfg->boot_max_attempts};
	enum lb_boot_decision d = lb_boot_decide(bs, &lim);
	int r = lb_bootstore_commit(st, &old, bs);
	if (r)
		return r;
	print_decision(ctx, bs, d, old.try_slot);
	if (ctx->json) {
		fputc(',', stdout);
		json_state(st, bs, cfg);
		puts("}");
	}
	if (fflush(stdout) == EOF)
		return lb_errf(-EIO, "stdout: %s", strerror(errno));
	if (ctx->quiet)
		return 0;
	char p[96];
	if (old.try_slot[0])
		snprintf(p, sizeof p, "slot %s could not be started", old.try_slot);
	else
		snprintf(p, sizeof p, "no slot was being tried");
	explain(cfg, bs, d, p);
	return 0;
}

static int boot_status(struct lb_ctx *ctx, const struct opts *o, const struct lb_config *cfg,
                       const struct lb_bootstore *st, const struct lb_bootstate *bs)
{
	struct lb_wdstat wd[LB_WATCHDOG_MAX];
	size_t nwd;
	lb_watchdog_list(o->wd_sysfs ? o->wd_sysfs : LB_WATCHDOG_SYSFS, wd, &nwd);
	if (ctx->json) {
		fputc('{', stdout);
		json_state(st, bs, cfg);
		fputs(",\"watchdogs\":[", stdout);
		for (size_t i = 0; i < nwd; i++)
			printf("%s{\"name\":\"%s\",\"bootstatus\":%lu,\"card_reset\":%s}",
			       i ? "," : "", wd[i].name, wd[i].bootstatus,
			       lb_watchdog_card_reset(&wd[i], 1) ? "true" : "false");
		puts("]}");
		return 0;
	}
	printf("backend:     %s (%s%s)\n", st->ops->name, st->where,
	       st->ops == &lb_bootstore_file ? "/" LB_BOOT_FILE : "");
	printf("slot:        %s\n", bs->slot);
	if (bs->try_slot[0] && bs->try_booted)
		printf(
		    "try slot:    %s (booted once: mark-good on it commits it; otherwise slot %s "
		    "at the next boot)\n",
		    bs->try_slot, bs->slot);
	else if (bs->try_slot[0])
		printf("try slot:    %s (booted once at the next boot)\n", bs->try_slot);
	else
		printf("try slot:    none\n");
	if (bs->failed_slot[0])
		printf("failed slot: %s (its last try did not reach mark-good)\n", bs->failed_slot);
	else
		printf("failed slot: none\n");
	printf("good slot:   %s\n", bs->good_slot[0] ? bs->good_slot : "none yet");
	printf("attempts:    %u of %u (boots without mark-good)\n", bs->attempts,
	       cfg->boot_max_attempts);
	printf("failures:    %u of %u\n", bs->failures, cfg->boot_max_failures);
	printf("rescue:      %s\n", bs->rescue[0] ? bs->rescue : "not requested");
	if (bs->bad_serial)
		printf("bad serial:  %llu\n", bs->bad_serial);
	else
		printf("bad serial:  none\n");
	if (!nwd)
		printf("watchdog:    none found\n");
	for (size_t i = 0; i < nwd; i++)
		printf("watchdog:    %s bootstatus 0x%lx%s\n", wd[i].name, wd[i].bootstatus,
		       lb_watchdog_card_reset(&wd[i], 1) ? " (it reset the machine)" : "");
	return 0;
}

static int boot_watchdog(struct lb_ctx *ctx, const struct opts *o, const struct lb_config *cfg)
{
	const char *dev = o->device ? o->device : cfg->watchdog_device;
	unsigned long long timeout = cfg->watchdog_timeout;
	int r = o->timeout ? parse_number("timeout", o->timeout, 1, 1000000, &timeout) : 0;
	unsigned accepted;
	bool stays;
	if (!r)
		r = lb_watchdog_arm(dev, (unsigned)timeout, &accepted, &stays);
	if (r)
		return r;
	if (ctx->json) {
		fputs("{\"device\":", stdout);
		lb_json_str(stdout, dev);
		printf(",\"timeout\":%u,\"stays_armed\":%s}\n", accepted, stays ? "true" : "false");
	} else {
		printf("%u\n", accepted);
	}
	if (!stays)
		fprintf(stderr,
		        "lifeboat: warning: watchdog %s: its driver stops it when it is closed (no "
		        "magic close): load the driver with nowayout=1\n",
		        dev);
	else if (!ctx->quiet && accepted)
		fprintf(stderr,
		        "lifeboat: watchdog %s armed: it resets the machine in %u s unless "
		        "the next system pings it\n",
		        dev, accepted);
	else if (!ctx->quiet)
		fprintf(stderr,
		        "lifeboat: watchdog %s armed; its driver does not say its timeout\n", dev);
	return 0;
}

/* the slot this system was booted from: --slot, or lifeboat.slot= that the rescue
 * system puts on the kernel command line; NULL when neither says */
static const char *booted_slot(const struct opts *o, char buf[LB_BOOT_NAME_MAX])
{
	if (o->slot)
		return o->slot;
	char line[8192];
	FILE *f = fopen(LB_PROC_CMDLINE, "re");
	if (!f)
		return NULL;
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = 0;
	return lb_boot_cmdline_slot(line, buf) ? buf : NULL;
}

static void mark_good(const struct opts *o, struct lb_bootstate *bs, char *msg, size_t size)
{
	char buf[LB_BOOT_NAME_MAX];
	const char *booted = booted_slot(o, buf);
	struct lb_bootstate old = *bs;
	switch (lb_boot_mark_good(bs, booted)) {
	case LB_GOOD_COMMIT:
		snprintf(msg, size, "slot %s committed and marked good: it boots from now on",
		         bs->slot);
		return;
	case LB_GOOD_OTHER:
		snprintf(
		    msg, size,
		    "warning: slot %s is booted, but it is neither the committed slot (%s) nor "
		    "the slot being tried: nothing marked good",
		    booted, bs->slot);
		return;
	case LB_GOOD_SLOT: break;
	}
	int n = snprintf(msg, size, "slot %s marked good", bs->slot);
	if (n < 0 || (size_t)n >= size || !old.try_slot[0])
		return;
	if (!old.try_booted)
		snprintf(msg + n, size - (size_t)n, "; slot %s is still tried at the next boot",
		         old.try_slot);
	else if (!booted)
		snprintf(msg + n, size - (size_t)n,
		         "; the try of slot %s is not committed: the booted slot is not known "
		         "(no lifeboat.slot= on the kernel command line, no --slot)",
		         old.try_slot);
	else
		snprintf(msg + n, size - (size_t)n,
		         "; the try of slot %s is not committed (slot %s is booted)", old.try_slot,
		         booted);
}

static int try_slot(const struct sub *s, const struct opts *o, struct lb_bootstate *bs, char *msg,
                    size_t size)
{
	if (!o->arg == !o->cancel)
		return usage_err(s, "a slot to try, or --cancel");
	if (o->cancel) {
		if (bs->try_slot[0])
			snprintf(msg, size, "the try of slot %s is cancelled: slot %s boots",
			         bs->try_slot, bs->slot);
		else
			snprintf(msg, size, "no slot is being tried");
		lb_boot_try(bs, NULL);
		return 0;
	}
	if (!lb_boot_name_valid(o->arg))
		return usage_err(s, "a slot name is 1 to 31 of a-z, 0-9, '_' and '-'");
	if (!strcmp(o->arg, bs->slot))
		return lb_errf(-LBE_USAGE,
		               "boot try: slot %s is the committed slot: nothing to try", o->arg);
	int n = snprintf(msg, size,
	                 "slot %s is booted once at the next boot (slot %s again unless it is "
	                 "marked good there)",
	                 o->arg, bs->slot);
	if (bs->try_slot[0] && strcmp(bs->try_slot, o->arg) && n > 0 && (size_t)n < size)
		snprintf(msg + n, size - (size_t)n, "; it replaces the try of slot %s",
		         bs->try_slot);
	lb_boot_try(bs, o->arg);
	return 0;
}

/* the state-changing subcommands: mark-good, rescue, reset, set-bad-serial, try */
static int boot_change(const struct sub *s, const struct opts *o, struct lb_bootstate *bs,
                       char *msg, size_t size)
{
	if (!strcmp(s->name, "mark-good")) {
		if (o->slot && !lb_boot_name_valid(o->slot))
			return usage_err(s, "a slot name is 1 to 31 of a-z, 0-9, '_' and '-'");
		mark_good(o, bs, msg, size);
	} else if (!strcmp(s->name, "try")) {
		return try_slot(s, o, bs, msg, size);
	} else if (!strcmp(s->name, "rescue")) {
		const char *why = o->arg ? o->arg : "requested";
		if (strcmp(why, "requested") && strcmp(why, "rebuild"))
			return usage_err(s, "the reason is 'requested' or 'rebuild'");
		snprintf(bs->rescue, sizeof bs->rescue, "%s", why);
		snprintf(msg, size, "rescue (%s) at the next boot", why);
	} else if (!strcmp(s->name, "reset")) {
		if (o->slot && !lb_boot_name_valid(o->slot))
			return usage_err(s, "a slot name is 1 to 31 of a-z, 0-9, '_' and '-'");
		lb_boot_reset(bs, o->slot);
		snprintf(msg, size,
		         "boot state reset: slot %s, no attempts, failures, rescue request or try",
		         bs->slot);
	} else {
		unsigned long long n;
		int r = parse_number("serial", o->arg, 0, ~0ULL, &n);
		if (r)
			return r;
		bs->bad_serial = n;
		snprintf(msg, size, "bad serial %llu recorded", n);
	}
	return 0;
}

int cmd_boot(struct lb_ctx *ctx, int argc, char **argv)
{
	const struct sub *s = NULL;
	for (size_t i = 0; argc >= 2 && i < sizeof subs / sizeof subs[0]; i++)
		if (!strcmp(argv[1], subs[i].name))
			s = &subs[i];
	if (!s)
		return lb_errf(
		    -LBE_USAGE,
		    "usage: lifeboat boot count|mark-good|rescue|reset|set-bad-serial|"
		    "status|try|try-failed|watchdog [--config FILE] ... (see docs/boot.md)");
	struct opts o;
	int r = parse_opts(s, argc, argv, &o);
	if (r)
		return r;
	ctx->json |= o.json;
	struct lb_config cfg;
	if ((r = lb_config_load(ctx, o.config, &cfg)))
		return r;
	if (!strcmp(s->name, "watchdog")) {
		r = boot_watchdog(ctx, &o, &cfg);
		lb_config_free(&cfg);
		return r;
	}

	struct lb_bootstore st;
	lb_bootstore_setup(&st, ctx, &cfg);
	struct lb_bootstate old, bs;
	r = lb_bootstore_load(&st, &old);
	/* a rebuilt slot starts from a clean state even when the old one is damaged */
	if (r == -LBE_CORRUPT && !strcmp(s->name, "reset")) {
		if (!ctx->quiet)
			fprintf(stderr, "lifeboat: warning: %s: starting from a new boot state\n",
			        lb_err_msg());
		lb_bootstate_init(&old);
		old.attempts = LB_BOOT_COUNT_MAX; /* differs from any reset state: written */
		r = 0;
	}
	bs = old;
	char msg[320] = "";
	if (!r && !strcmp(s->name, "count"))
		r = boot_count(ctx, &o, &cfg, &st, &bs);
	else if (!r && !strcmp(s->name, "try-failed"))
		r = boot_try_failed(ctx, &cfg, &st, &bs);
	else if (!r && !strcmp(s->name, "status"))
		r = boot_status(ctx, &o, &cfg, &st, &bs);
	else if (!r && !(r = boot_change(s, &o, &bs, msg, sizeof msg))) {
		bool same = lb_bootstate_equal(&old, &bs);
		r = lb_bootstore_commit(&st, &old, &bs);
		if (!r && ctx->json) {
			fputc('{', stdout);
			json_state(&st, &bs, &cfg);
			printf(",\"changed\":%s}\n", same ? "false" : "true");
		} else if (!r && !ctx->quiet) {
			fprintf(stderr, "lifeboat: %s%s\n", msg,
			        same && strncmp(msg, "warning", 7)
			            ? " (already so: nothing written)"
			            : "");
		}
	}
	lb_bootstore_close(&st);
	lb_config_free(&cfg);
	return r;
}
