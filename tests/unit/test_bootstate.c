/* SPDX-License-Identifier: MIT */
/* The boot state: counting, classifying the previous boot (watchdog and pstore
 * evidence), deciding, mark-good/reset, the A/B try (try, commit, fall back), and
 * the file and U-Boot backends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootstate.h"
#include "evidence.h"
#include "watchdog.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define TDIR_NAME "bootstate"
#include "tdir.h"

static const struct lb_boot_limits lim = {.max_failures = 3, .max_attempts = 8};
static const struct lb_boot_evidence none = {0};
static const struct lb_boot_evidence watchdog = {.flags = LB_EV_WATCHDOG};

static void put(const char *dir, const char *name, const char *s)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(s, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int exists(const char *dir, const char *name)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void test_clean_boot(void **state)
{
	(void)state;
	struct lb_bootstate bs;
	lb_bootstate_init(&bs);
	assert_string_equal(bs.slot, "a");
	assert_int_equal(lb_boot_count(&bs, &none), LB_PREV_GOOD);
	assert_int_equal(bs.attempts, 1);
	assert_int_equal(bs.failures, 0);
	assert_int_equal(lb_boot_decide(&bs, &lim), LB_BOOT_SLOT);
	assert_null(lb_boot_reason(LB_BOOT_SLOT));
	/* the OS came up: blessed, and the next boot is clean again */
	assert_int_equal(lb_boot_mark_good(&bs, NULL), LB_GOOD_SLOT);
	assert_int_equal(lb_boot_count(&bs, &none), LB_PREV_GOOD);
	assert_int_equal(bs.attempts, 1);
}

/* pulling the plug is not a failure: it only counts toward Boot-Max-Attempts */
static void test_unexplained_resets(void **state)
{
	(void)state;
	struct lb_bootstate bs;
	lb_bootstate_init(&bs);
	for (unsigned i = 1; i <= lim.max_attempts; i++) {
		assert_int_equal(lb_boot_count(&bs, &none), i == 1 ? LB_PREV_GOOD : LB_PREV_RESET);
		assert_int_equal(bs.attempts, i);
		assert_int_equal(bs.failures, 0);
		assert_int_equal(lb_boot_decide(&bs, &lim), LB_BOOT_SLOT);
	}
	assert_int_equal(lb_boot_count(&bs, &none), LB_PREV_RESET);
	assert_int_equal(bs.attempts, lim.max_attempts + 1);
	assert_int_equal(lb_boot_decide(&bs, &lim), LB_RESCUE_ATTEMPTS);
	assert_string_equal(lb_boot_reason(LB_RESCUE_ATTEMPTS), "attempts");
}

static void test_watchdog_failures(void **state)
{
	(void)state;
	struct lb_bootstate bs;
	lb_bootstate_init(&bs);
	/* evidence of a boot that was marked good is not held against the next one */
	assert_int_equal(lb_boot_count(&bs, &watchdog), LB_PREV_GOOD);
	assert_int_equal(bs.failures, 0);
	for (unsigned f = 1; f <= lim.max_failures; f++) {
		assert_int_equal(lb_boot_count(&bs, &watchdog), LB_PREV_FAILED);
		assert_int_equal(bs.failures, f);
		assert_int_equal(bs.attempts, f + 1);
		assert_int_equal(lb_boot_decide(&bs, &lim),
		                 f < lim.max_failures ? LB_BOOT_SLOT : LB_RESCUE_FAILURES);
	}
	assert_string_equal(lb_boot_reason(LB_RESCUE_FAILURES), "failures");
	/* a reset in between counts as an attempt only */
	lb_bootstate_init(&bs);
	lb_boot_count(&bs, &none);
	lb_boot_count(&bs, &watchdog);
	lb_boot_count(&bs, &none);
	lb_boot_count(&bs, &watchdog);
	assert_int_equal(bs.attempts, 4);
	assert_int_equal(bs.failures, 2);
}

static void test_decide_table(void **state)
{
	(void)state;
	static const struct {
		unsigned attempts, failures;
		const char *rescue;
		enum lb_boot_decision want;
	} cases[] = {
	    {0, 0, "", LB_BOOT_SLOT},
	    {8, 2, "", LB_BOOT_SLOT},
	    {9, 0, "", LB_RESCUE_ATTEMPTS},
	    {3, 3, "", LB_RESCUE_FAILURES},
	    {9, 3, "", LB_RESCUE_FAILURES},
	    {0, 0, "requested", LB_RESCUE_REQUESTED},
	    {9, 3, "requested", LB_RESCUE_REQUESTED},
	    {0, 0, "rebuild", LB_RESCUE_REBUILD},
	    {9, 3, "rebuild", LB_RESCUE_REBUILD},
	    {1, 0, "something-newer", LB_RESCUE_REQUESTED},
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct lb_bootstate bs;
		lb_bootstate_init(&bs);
		bs.attempts = cases[i].attempts;
		bs.failures = cases[i].failures;
		strcpy(bs.rescue, cases[i].rescue);
		assert_int_equal(lb_boot_decide(&bs, &lim), cases[i].want);
	}
	assert_string_equal(lb_boot_reason(LB_RESCUE_REQUESTED), "requested");
	assert_string_equal(lb_boot_reason(LB_RESCUE_REBUILD), "rebuild");
	/* other limits */
	struct lb_boot_limits one = {.max_failures = 1, .max_attempts = 1};
	struct lb_bootstate bs;
	lb_bootstate_init(&bs);
	lb_boot_count(&bs, &none);
	assert_int_equal(lb_boot_decide(&bs, &one), LB_BOOT_SLOT);
	lb_boot_count(&bs, &none);
	assert_int_equal(lb_boot_decide(&bs, &one), LB_RESCUE_ATTEMPTS);
}

static void test_mark_good_and_reset(void **state)
{
	(void)state;
	struct lb_bootstate bs, before;
	lb_bootstate_init(&bs);
	strcpy(bs.slot, "b");
	bs.attempts = 5;
	bs.failures = 2;
	strcpy(bs.rescue, "requested");
	bs.bad_serial = 41;
	assert_int_equal(lb_boot_mark_good(&bs, NULL), LB_GOOD_SLOT);
	assert_int_equal(bs.attempts, 0);
	assert_int_equal(bs.failures, 0);
	assert_string_equal(bs.good_slot, "b");
	assert_string_equal(bs.rescue, "requested"); /* clears nothing else */
	assert_int_equal(bs.bad_serial, 41);
	before = bs;
	lb_boot_mark_good(&bs, "b"); /* idempotent; the booted slot is the committed one */
	assert_true(lb_bootstate_equal(&before, &bs));

	bs.attempts = 4;
	bs.failures = 3;
	lb_boot_reset(&bs, "a");
	assert_string_equal(bs.slot, "a");
	assert_string_equal(bs.good_slot, "");
	assert_string_equal(bs.rescue, "");
	assert_int_equal(bs.attempts, 0);
	assert_int_equal(bs.failures, 0);
	assert_int_equal(bs.bad_serial, 41);
	lb_boot_reset(&bs, NULL);
	assert_string_equal(bs.slot, "a");

	assert_true(lb_boot_name_valid("a"));
	assert_true(lb_boot_name_valid("slot_2-b"));
	assert_false(lb_boot_name_valid(""));
	assert_false(lb_boot_name_valid("A"));
	assert_false(lb_boot_name_valid("a b"));
	assert_false(lb_boot_name_valid("0123456789012345678901234567890123"));
}

static void test_counters_saturate(void **state)
{
	(void)state;
	struct lb_bootstate bs;
	lb_bootstate_init(&bs);
	bs.attempts = LB_BOOT_COUNT_MAX;
	bs.failures = LB_BOOT_COUNT_MAX;
	lb_boot_count(&bs, &watchdog);
	assert_int_equal(bs.attempts, LB_BOOT_COUNT_MAX);
	assert_int_equal(bs.failures, LB_BOOT_COUNT_MAX);
}

/* a device on slot a, blessed: what the main OS sees when it writes slot b */
static void blessed_on_a(struct lb_bootstate *bs)
{
	lb_bootstate_init(bs);
	lb_boot_count(bs, &none);
	assert_int_equal(lb_boot_mark_good(bs, "a"), LB_GOOD_SLOT);
}

/* one boot as `boot count` runs it: count, decide, begin */
static enum lb_boot_decision boot(struct lb_bootstate *bs, const struct lb_boot_evidence *ev)
{
	lb_boot_count(bs, ev);
	enum lb_boot_decision d = lb_boot_decide(bs, &lim);
	lb_boot_begin(bs, d);
	return d;
}

static void test_try_commit(void **state)
{
	(void)state;
	struct lb_bootstate bs;
	blessed_on_a(&bs);
	lb_boot_try(&bs, "b");
	assert_string_equal(bs.try_slot, "b");
	assert_false(bs.try_booted);
	assert_int_equal(boot(&bs, &none), LB_BOOT_TRY);
	assert_string_equal(lb_boot_target(&bs, LB_BOOT_TRY), "b");
	assert_null(lb_boot_reason(LB_BOOT_TRY));
	assert_true(bs.try_booted);
	assert_string_equal(bs.slot, "a"); /* not committed yet */
	assert_int_equal(bs.attempts, 1);
	/* b came up and marks itself good: committed */
	assert_int_equal(lb_boot_mark_good(&bs, "b"), LB_GOOD_COMMIT);
	assert_string_equal(bs.slot, "b");
	assert_string_equal(bs.good_slot, "b");
	assert_string_equal(bs.try_slot, "");
	assert_false(bs.try_booted);
	assert_string_equal(bs.failed_slot, "");
	assert_int_equal(bs.attempts, 0);
	/* b boots from now on, and a second mark-good changes nothing */
	struct lb_bootstate before = bs;
	assert_int_equal(lb_boot_mark_good(&bs, "b"), LB_GOOD_SLOT);
	assert_true(lb_bootstate_equal(&before, &bs));
	assert_int_equal(boot(&bs, &none), LB_BOOT_SLOT);
	assert_string_equal(lb_boot_target(&bs, LB_BOOT_SLOT), "b");
	/* a commit forgets an earlier failed try */
	strcpy(bs.failed_slot, "a");
	lb_boot_try(&bs, "a");
	boot(&bs, &none);
	assert_int_equal(lb_boot_mark_good(&bs, "a"), LB_GOOD_COMMIT);
	assert_string_equal(bs.slot, "a");
	assert_string_equal(bs.failed_slot, "");
}

/* the try's boot never reaches mark-good: the next count falls back to the
 * committed slot, remembers the failed slot, and holds nothing against slot a */
static void test_try_fails_and_falls_back(void **state)
{
	(void)state;
	struct lb_bootstate bs;
	blessed_on_a(&bs);
	lb_boot_try(&bs, "b");
	assert_int_equal(boot(&bs, &none), LB_BOOT_TRY);
	assert_int_equal(bs.attempts, 1);
	/* b hangs: the watchdog resets the board */
	assert_int_equal(lb_boot_count(&bs, &watchdog), LB_PREV_FAILED);
	assert_string_equal(bs.failed_slot, "b");
	assert_string_equal(bs.try_slot, "");
	assert_false(bs.try_booted);
	assert_int_equal(bs.failures, 0); /* b's failure is not slot a's */
	assert_int_equal(bs.attempts, 1); /* this boot of a takes the try's place */
	assert_int_equal(lb_boot_decide(&bs, &lim), LB_BOOT_SLOT);
	assert_string_equal(bs.slot, "a");
	assert_string_equal(bs.good_slot, "a");
	/* a comes up: mark-good on the fallback slot blesses a, Failed-Slot stays */
	assert_int_equal(lb_boot_mark_good(&bs, "a"), LB_GOOD_SLOT);
	assert_string_equal(bs.slot, "a");
	assert_string_equal(bs.failed_slot, "b");
	assert_int_equal(bs.attempts, 0);

	/* a power cut during the try is a failed try too: it is booted once */
	lb_boot_try(&bs, "b");
	boot(&bs, &none);
	assert_int_equal(lb_boot_count(&bs, &none), LB_PREV_RESET);
	assert_string_equal(bs.failed_slot, "b");
	assert_int_equal(lb_boot_decide(&bs, &lim), LB_BOOT_SLOT);

	/* a try of b that fails, then slot a that fails as it did before the try:
	 * Boot-Max-Failures failures of a, no more and no fewer, reach rescue */
	blessed_on_a(&bs);
	lb_boot_try(&bs, "b");
	boot(&bs, &none);
	assert_int_equal(boot(&bs, &watchdog), LB_BOOT_SLOT);
	for (unsigned f = 1; f <= lim.max_failures; f++)
		assert_int_equal(boot(&bs, &watchdog),
		                 f < lim.max_failures ? LB_BOOT_SLOT : LB_RESCUE_FAILURES);
	assert_int_equal(bs.failures, lim.max_failures);
	/* unexplained resets the same: Boot-Max-Attempts boots of slot a in all */
	blessed_on_a(&bs);
	lb_boot_try(&bs, "b");
	boot(&bs, &none);
	for (unsigned i = 1; i <= lim.max_attempts; i++)
		assert_int_equal(boot(&bs, &none), LB_BOOT_SLOT);
	assert_int_equal(boot(&bs, &none), LB_RESCUE_ATTEMPTS);
}

/* the committed slot is failing: a pending try still gets its one boot; when it
 * fails too, the rescue logic applies to the committed slot; a rescue request
 * comes before a try */
static void test_try_and_rescue(void **state)
{
	(void)state;
	struct lb_bootstate bs;
	lb_bootstate_init(&bs);
	bs.attempts = 1;
	bs.failures = lim.max_failures - 1;
	lb_boot_try(&bs, "b");
	assert_int_equal(boot(&bs, &watchdog), LB_BOOT_TRY); /* a's last failure */
	assert_int_equal(bs.failures, lim.max_failures);
	assert_int_equal(boot(&bs, &watchdog), LB_RESCUE_FAILURES);
	assert_string_equal(bs.failed_slot, "b");
	assert_string_equal(bs.try_slot, "");
	/* a failed try never leaves nothing to boot: rescue, or the committed slot */
	lb_bootstate_init(&bs);
	lb_boot_try(&bs, "b");
	strcpy(bs.rescue, "rebuild");
	assert_int_equal(boot(&bs, &none), LB_RESCUE_REBUILD);
	assert_false(bs.try_booted); /* not booted: still pending */
	strcpy(bs.rescue, "requested");
	assert_int_equal(lb_boot_decide(&bs, &lim), LB_RESCUE_REQUESTED);
	/* the rescue rebuilds slot a and resets: no try */
	lb_boot_reset(&bs, "a");
	assert_string_equal(bs.try_slot, "");
	assert_false(bs.try_booted);
	assert_int_equal(boot(&bs, &none), LB_BOOT_SLOT);
	/* the rescue system cannot even start the try (no rootfs-b, e2fsck fails) */
	lb_boot_try(&bs, "b");
	assert_int_equal(boot(&bs, &none), LB_BOOT_TRY);
	unsigned attempts = bs.attempts;
	lb_boot_try_failed(&bs);
	assert_string_equal(bs.failed_slot, "b");
	assert_string_equal(bs.try_slot, "");
	assert_int_equal(bs.attempts, attempts); /* this boot was counted */
	assert_int_equal(lb_boot_decide(&bs, &lim), LB_BOOT_SLOT);
	lb_boot_try_failed(&bs); /* again: nothing changes */
	assert_string_equal(bs.failed_slot, "b");
}

static void test_try_mark_good_other_slots(void **state)
{
	(void)state;
	struct lb_bootstate bs, before;
	blessed_on_a(&bs);
	/* the main OS of a wrote b and asked for a try; its own mark-good (the same
	 * boot) blesses a and leaves the try pending */
	lb_boot_try(&bs, "b");
	bs.attempts = 3;
	assert_int_equal(lb_boot_mark_good(&bs, "a"), LB_GOOD_SLOT);
	assert_string_equal(bs.try_slot, "b");
	assert_false(bs.try_booted);
	assert_int_equal(bs.attempts, 0);
	/* b is not booted yet: mark-good claiming b commits nothing */
	before = bs;
	assert_int_equal(lb_boot_mark_good(&bs, "b"), LB_GOOD_OTHER);
	assert_true(lb_bootstate_equal(&before, &bs));
	/* the try is booted; a mark-good that does not know the slot blesses the
	 * counters as before, but never commits: the next count falls back */
	boot(&bs, &none);
	assert_int_equal(lb_boot_mark_good(&bs, NULL), LB_GOOD_SLOT);
	assert_string_equal(bs.slot, "a");
	assert_string_equal(bs.try_slot, "b");
	assert_true(bs.try_booted);
	assert_int_equal(bs.attempts, 0);
	assert_int_equal(boot(&bs, &none), LB_BOOT_SLOT);
	assert_string_equal(bs.failed_slot, "b");
	assert_int_equal(bs.attempts, 1); /* this boot is counted */
	/* a slot that is neither committed nor tried */
	lb_boot_try(&bs, "b");
	boot(&bs, &none);
	before = bs;
	assert_int_equal(lb_boot_mark_good(&bs, "c"), LB_GOOD_OTHER);
	assert_true(lb_bootstate_equal(&before, &bs));
	/* mark-good of a while the try is marked booted (its start failed and
	 * try-failed was not run): a is blessed, b not committed */
	assert_int_equal(lb_boot_mark_good(&bs, "a"), LB_GOOD_SLOT);
	assert_string_equal(bs.slot, "a");
	assert_true(bs.try_booted);
}

static void test_try_replace_cancel_reset(void **state)
{
	(void)state;
	struct lb_bootstate bs;
	blessed_on_a(&bs);
	lb_boot_try(&bs, "b");
	lb_boot_try(&bs, "c"); /* replaces b */
	assert_string_equal(bs.try_slot, "c");
	assert_int_equal(boot(&bs, &none), LB_BOOT_TRY);
	assert_string_equal(lb_boot_target(&bs, LB_BOOT_TRY), "c");
	/* set again while c runs uncommitted: pending again, c gets another boot */
	lb_boot_try(&bs, "b");
	assert_false(bs.try_booted);
	assert_int_equal(lb_boot_mark_good(&bs, "c"), LB_GOOD_OTHER);
	assert_int_equal(boot(&bs, &none), LB_BOOT_TRY);
	assert_string_equal(lb_boot_target(&bs, LB_BOOT_TRY), "b");
	assert_int_equal(boot(&bs, &none), LB_BOOT_SLOT);
	assert_string_equal(bs.failed_slot, "b");
	/* cancel */
	lb_boot_try(&bs, "b");
	lb_boot_try(&bs, NULL);
	assert_string_equal(bs.try_slot, "");
	assert_string_equal(bs.failed_slot, "b"); /* the last outcome stays */
	assert_int_equal(boot(&bs, &none), LB_BOOT_SLOT);
	/* reset clears a try, pending or booted; Failed-Slot only when rewritten */
	lb_boot_try(&bs, "b");
	boot(&bs, &none);
	lb_boot_reset(&bs, "a");
	assert_string_equal(bs.try_slot, "");
	assert_false(bs.try_booted);
	assert_string_equal(bs.failed_slot, "b");
	lb_boot_reset(&bs, "b");
	assert_string_equal(bs.failed_slot, "");
}

static void test_cmdline_slot(void **state)
{
	(void)state;
	char s[LB_BOOT_NAME_MAX] = "";
	assert_true(lb_boot_cmdline_slot("root=/dev/vda3 rw lifeboat.slot=b console=ttyS0\n", s));
	assert_string_equal(s, "b");
	assert_true(lb_boot_cmdline_slot("lifeboat.slot=a lifeboat.slot=slot_2\n", s));
	assert_string_equal(s, "slot_2"); /* the last one wins */
	assert_true(lb_boot_cmdline_slot("quiet\tlifeboat.slot=c", s));
	assert_string_equal(s, "c");
	strcpy(s, "x");
	assert_false(lb_boot_cmdline_slot("root=/dev/vda3 rw\n", s));
	assert_false(lb_boot_cmdline_slot("", s));
	assert_false(lb_boot_cmdline_slot("lifeboat.slot=", s));
	assert_false(lb_boot_cmdline_slot("lifeboat.slot=B!", s));
	assert_false(lb_boot_cmdline_slot("xlifeboat.slot=b lifeboat.slots=b", s));
	assert_false(lb_boot_cmdline_slot("lifeboat.slot=0123456789012345678901234567890123", s));
	assert_string_equal(s, "x"); /* untouched */
}

static void make_sysfs(const char *root, const char *name, const char *bootstatus)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/%s", root, name);
	assert_int_equal(mkdir(dir, 0755), 0);
	put(dir, "bootstatus", bootstatus);
}

static void test_watchdog_sysfs(void **state)
{
	struct tdir *t = *state;
	char wd[256], ps[256];
	snprintf(wd, sizeof wd, "%s/watchdog", t->path);
	snprintf(ps, sizeof ps, "%s/no-pstore", t->path);
	struct lb_wdstat w[LB_WATCHDOG_MAX];
	size_t n;
	struct lb_pstore p;
	struct lb_boot_evidence ev;

	/* no watchdog at all */
	lb_evidence_gather(wd, ps, w, &n, &p, &ev);
	assert_int_equal(n, 0);
	assert_int_equal(ev.flags, 0);

	assert_int_equal(mkdir(wd, 0755), 0);
	make_sysfs(wd, "watchdog1", "0\n");
	make_sysfs(wd, "watchdog0", "0\n");
	lb_evidence_gather(wd, ps, w, &n, &p, &ev);
	assert_int_equal(n, 2);
	assert_string_equal(w[0].name, "watchdog0");
	assert_int_equal(ev.flags, 0);

	/* WDIOF_CARDRESET on any of them; other bits are not evidence */
	put(wd, "watchdog0/bootstatus", "16\n"); /* WDIOF_OVERHEAT... not a reset */
	lb_evidence_gather(wd, ps, w, &n, &p, &ev);
	assert_int_equal(ev.flags, 0);
	put(wd, "watchdog1/bootstatus", "32\n");
	lb_evidence_gather(wd, ps, w, &n, &p, &ev);
	assert_int_equal(ev.flags, LB_EV_WATCHDOG);
	assert_true(lb_watchdog_card_reset(&w[1], 1));
	assert_false(lb_watchdog_card_reset(&w[0], 1));
	assert_int_equal(p.n, 0);
	assert_string_equal(ev.id, "");
}

static void test_pstore_evidence(void **state)
{
	struct tdir *t = *state;
	char ps[256], wd[256];
	snprintf(ps, sizeof ps, "%s/pstore", t->path);
	snprintf(wd, sizeof wd, "%s/none", t->path);
	assert_int_equal(mkdir(ps, 0755), 0);
	struct lb_wdstat w[LB_WATCHDOG_MAX];
	size_t n;
	struct lb_pstore *p = malloc(sizeof *p);
	assert_non_null(p);
	struct lb_boot_evidence ev;

	/* records that are not failures: a clean restart's dump, the console log */
	put(ps, "dmesg-ramoops-1", "Restart#1 Part1\n<6>[ 1.0] reboot: Restarting system\n");
	put(ps, "console-ramoops-0", "[ 0.5] Kernel panic is a phrase here, but not a dump\n");
	lb_evidence_gather(wd, ps, w, &n, p, &ev);
	assert_int_equal(ev.flags, 0);
	assert_int_equal(p->n, 0);

	put(ps, "dmesg-ramoops-0",
	    "Panic#1 Part1\n<0>[ 3.2] Kernel panic - not syncing: VFS: Unable to mount root fs\n"
	    "<4>[ 3.2] CPU: 0 PID: 1\n");
	put(ps, "dmesg-ramoops-2", "Panic#1 Part2\n<4>[ 3.1] earlier lines of the same dump\n");
	lb_evidence_gather(wd, ps, w, &n, p, &ev);
	assert_int_equal(ev.flags, LB_EV_PANIC);
	assert_int_equal(p->n, 2);
	assert_string_equal(ev.detail, "Kernel panic - not syncing: VFS: Unable to mount root fs");
	assert_int_equal(strlen(ev.id), 16);

	struct lb_bootstate bs;
	lb_bootstate_init(&bs);
	bs.attempts = 1;
	assert_int_equal(lb_boot_count(&bs, &ev), LB_PREV_FAILED);
	assert_int_equal(bs.failures, 1);
	assert_string_equal(bs.evidence, ev.id);

	/* the records are deleted once counted; the others stay */
	assert_int_equal(lb_pstore_consume(ps, p), 0);
	assert_false(exists(ps, "dmesg-ramoops-0"));
	assert_false(exists(ps, "dmesg-ramoops-2"));
	assert_true(exists(ps, "dmesg-ramoops-1"));
	assert_true(exists(ps, "console-ramoops-0"));
	lb_evidence_gather(wd, ps, w, &n, p, &ev);
	assert_int_equal(ev.flags, 0);
	assert_int_equal(lb_boot_count(&bs, &ev), LB_PREV_RESET);
	assert_int_equal(bs.failures, 1);

	/* an oops */
	put(ps, "dmesg-efi-170000000001001",
	    "Oops#1 Part1\n<1>[ 9.0] BUG: kernel NULL pointer dereference\n"
	    "<4>[ 9.0] Oops: 0002 [#1] PREEMPT SMP NOPTI\n");
	lb_evidence_gather(wd, ps, w, &n, p, &ev);
	assert_int_equal(ev.flags, LB_EV_OOPS);
	assert_int_equal(p->n, 1);
	assert_string_equal(ev.detail, "Oops: 0002 [#1] PREEMPT SMP NOPTI");
	free(p);
}

/* a count cut off after saving the state but before deleting the records: the
 * next count sees the same records and must not count them again */
static void test_pstore_counted_once(void **state)
{
	struct tdir *t = *state;
	char ps[256], wd[256];
	snprintf(ps, sizeof ps, "%s/pstore", t->path);
	snprintf(wd, sizeof wd, "%s/none", t->path);
	assert_int_equal(mkdir(ps, 0755), 0);
	put(ps, "dmesg-ramoops-0", "Panic#1 Part1\nKernel panic - not syncing: Fatal exception\n");
	struct lb_wdstat w[LB_WATCHDOG_MAX];
	size_t n;
	struct lb_pstore *p = malloc(sizeof *p);
	assert_non_null(p);
	struct lb_boot_evidence ev;
	struct lb_bootstate bs;
	lb_bootstate_init(&bs);
	bs.attempts = 2;

	lb_evidence_gather(wd, ps, w, &n, p, &ev);
	assert_int_equal(lb_boot_count(&bs, &ev), LB_PREV_FAILED);
	assert_int_equal(bs.failures, 1);
	/* (no consume: the power went) */
	lb_evidence_gather(wd, ps, w, &n, p, &ev);
	assert_int_equal(ev.flags, LB_EV_PANIC);
	assert_int_equal(lb_boot_count(&bs, &ev), LB_PREV_RESET);
	assert_int_equal(bs.failures, 1);
	assert_int_equal(bs.attempts, 4);
	/* a watchdog reset with it still counts */
	ev.flags |= LB_EV_WATCHDOG;
	assert_int_equal(lb_boot_count(&bs, &ev), LB_PREV_FAILED);
	assert_int_equal(bs.failures, 2);
	/* a new panic is new evidence */
	put(ps, "dmesg-ramoops-0", "Panic#2 Part1\nKernel panic - not syncing: another one\n");
	lb_evidence_gather(wd, ps, w, &n, p, &ev);
	assert_int_equal(lb_boot_count(&bs, &ev), LB_PREV_FAILED);
	assert_int_equal(bs.failures, 3);
	free(p);
}

static struct lb_bootstore file_store(struct tdir *t)
{
	struct lb_bootstore s = {.ops = &lb_bootstore_file, .dirfd = t->fd, .where = t->path};
	return s;
}

static void test_file_roundtrip(void **state)
{
	struct tdir *t = *state;
	struct lb_bootstore s = file_store(t);
	struct lb_bootstate a, b;
	/* a missing file is the default state, and loading writes nothing */
	assert_int_equal(lb_bootstore_load(&s, &a), 0);
	assert_string_equal(a.slot, "a");
	assert_int_equal(a.attempts, 0);
	assert_false(exists(t->path, LB_BOOT_FILE));
	/* nothing changed: nothing written */
	b = a;
	assert_int_equal(lb_bootstore_commit(&s, &a, &b), 0);
	assert_false(exists(t->path, LB_BOOT_FILE));

	strcpy(b.slot, "b");
	strcpy(b.good_slot, "a");
	b.attempts = 7;
	b.failures = 2;
	strcpy(b.rescue, "rebuild");
	b.bad_serial = 18446744073709551615ULL;
	strcpy(b.evidence, "0123456789abcdef");
	strcpy(b.try_slot, "c");
	b.try_booted = true;
	strcpy(b.failed_slot, "d");
	assert_int_equal(lb_bootstore_commit(&s, &a, &b), 0);
	assert_true(exists(t->path, LB_BOOT_FILE));
	assert_false(exists(t->path, LB_BOOT_FILE ".lb-tmp"));
	assert_int_equal(lb_bootstore_load(&s, &a), 0);
	assert_true(lb_bootstate_equal(&a, &b));

	char buf[512];
	lb_bootstate_init(&a);
	size_t len = lb_bootstate_format(&a, buf, sizeof buf);
	assert_string_equal(buf, "Format: 1\nSlot: a\nGood-Slot: \nAttempts: 0\nFailures: 0\n"
	                         "Rescue: \nBad-Serial: 0\n");
	assert_int_equal(len, strlen(buf));
	assert_int_equal(lb_bootstate_parse(buf, len, &b), 0);
	assert_true(lb_bootstate_equal(&a, &b));
	/* unknown fields (a newer lifeboat of the same format) are ignored */
	const char *newer = "Format: 1\nSlot: a\nAttempts: 3\nFailures: 1\nSomething-New: x\n";
	assert_int_equal(lb_bootstate_parse(newer, strlen(newer), &b), 0);
	assert_int_equal(b.attempts, 3);
	assert_int_equal(b.failures, 1);
	assert_string_equal(b.good_slot, "");

	/* the try's fields, written only when set */
	lb_bootstate_init(&a);
	lb_boot_try(&a, "b");
	len = lb_bootstate_format(&a, buf, sizeof buf);
	assert_string_equal(buf, "Format: 1\nSlot: a\nGood-Slot: \nAttempts: 0\nFailures: 0\n"
	                         "Rescue: \nBad-Serial: 0\nTry-Slot: b\nTry-Booted: no\n");
	assert_int_equal(lb_bootstate_parse(buf, len, &b), 0);
	assert_true(lb_bootstate_equal(&a, &b));
	a.try_booted = true;
	strcpy(a.failed_slot, "c");
	strcpy(a.evidence, "0123");
	len = lb_bootstate_format(&a, buf, sizeof buf);
	assert_non_null(
	    strstr(buf, "Try-Slot: b\nTry-Booted: yes\nFailed-Slot: c\nEvidence: 0123\n"));
	assert_int_equal(lb_bootstate_parse(buf, len, &b), 0);
	assert_true(lb_bootstate_equal(&a, &b));
	/* Try-Booted without a slot to try is nothing (what format writes back) */
	const char *odd = "Format: 1\nSlot: a\nAttempts: 1\nFailures: 0\nTry-Booted: yes\n";
	assert_int_equal(lb_bootstate_parse(odd, strlen(odd), &b), 0);
	assert_false(b.try_booted);
	/* a lifeboat without A/B reads the file of one with it, and ignores the try */
}

static void test_file_damaged(void **state)
{
	struct tdir *t = *state;
	static const struct {
		const char *content;
		int err;
	} cases[] = {
	    {"", -LBE_CORRUPT},
	    {"garbage\n", -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nAttempts: 1\n", -LBE_CORRUPT},   /* no Failures */
	    {"Slot: a\nAttempts: 1\nFailures: 0\n", -LBE_CORRUPT}, /* no Format */
	    {"Format: 1\nSlot: A!\nAttempts: 1\nFailures: 0\n", -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nAttempts: -1\nFailures: 0\n", -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nAttempts: 1x\nFailures: 0\n", -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nAttempts: 99999999999\nFailures: 0\n", -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nAttempts: 1\nFailures: 0\nBad-Serial: x\n", -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nAttempts: 1\nFailures: 0\n\nFormat: 1\n", -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nSlot: b\nAttempts: 1\nFailures: 0\n", -LBE_CORRUPT},
	    {"Format: 0\nSlot: a\nAttempts: 1\nFailures: 0\n", -LBE_CORRUPT},
	    {"Format: 2\nSlot: a\nAttempts: 1\nFailures: 0\n", -LBE_FORMAT_VER},
	    {"Format: 1\nSlot: a\nAttempts: 1\nFailures: 0\nTry-Slot: B\n", -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nAttempts: 1\nFailures: 0\nTry-Slot: b\nTry-Booted: 1\n",
	     -LBE_CORRUPT},
	    {"Format: 1\nSlot: a\nAttempts: 1\nFailures: 0\nFailed-Slot: ../b\n", -LBE_CORRUPT},
	};
	struct lb_bootstore s = file_store(t);
	for (size_t i = 0; i < N(cases); i++) {
		put(t->path, LB_BOOT_FILE, cases[i].content);
		struct lb_bootstate bs;
		lb_err_clear();
		int r = lb_bootstore_load(&s, &bs);
		if (r != cases[i].err)
			fail_msg("case %zu: %d, expected %d (%s)", i, r, cases[i].err,
			         lb_err_msg());
		assert_int_equal(lb_exit_code(r), 8);
		assert_non_null(strstr(lb_err_msg(), LB_BOOT_FILE));
	}
}

static void test_uboot_backend(void **state)
{
	struct tdir *t = *state;
	char cfg[256], env0[256], env1[256], init[256];
	snprintf(cfg, sizeof cfg, "%s/fw_env.config", t->path);
	snprintf(env0, sizeof env0, "%s/env0", t->path);
	snprintf(env1, sizeof env1, "%s/env1", t->path);
	snprintf(init, sizeof init, "%s/initial-env", t->path);
	char line[600];
	snprintf(line, sizeof line, "%s 0x0 0x2000\n%s 0x0 0x2000\n", env0, env1);
	put(t->path, "fw_env.config", line);
	for (int i = 0; i < 2; i++) {
		int fd = open(i ? env1 : env0, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 0x2000), 0);
		close(fd);
	}
	struct lb_bootstore s = {
	    .ops = &lb_bootstore_uboot, .where = cfg, .initial_env = init, .bootlimit = 8};
	struct lb_bootstate a, b;
	/* no valid copy and nothing to start from: never an empty environment */
	lb_err_clear();
	int r = lb_bootstore_load(&s, &a);
	if (r == -ENOENT && strstr(lb_err_msg(), "libubootenv"))
		fail_msg("%s (scripts/install-deps.sh installs it)", lb_err_msg());
	assert_int_equal(r, -LBE_CORRUPT);
	lb_bootstore_close(&s);

	put(t->path, "initial-env", "bootcmd=run distro_bootcmd\nbootdelay=2\n");
	assert_int_equal(lb_bootstore_load(&s, &a), 0);
	assert_string_equal(a.slot, "a");
	assert_int_equal(a.attempts, 0);
	b = a;
	lb_boot_count(&b, &none);
	strcpy(b.rescue, "requested");
	b.bad_serial = 7;
	assert_int_equal(lb_bootstore_commit(&s, &a, &b), 0);
	lb_bootstore_close(&s);

	assert_int_equal(lb_bootstore_load(&s, &a), 0);
	assert_true(lb_bootstate_equal(&a, &b));
	/* a second write goes to the other copy; the first stays as it was */
	b.attempts = 2;
	b.rescue[0] = 0;
	lb_boot_try(&b, "b");
	b.try_booted = true;
	strcpy(b.failed_slot, "c");
	assert_int_equal(lb_bootstore_commit(&s, &a, &b), 0);
	lb_bootstore_close(&s);
	assert_int_equal(lb_bootstore_load(&s, &a), 0);
	assert_true(lb_bootstate_equal(&a, &b));
	/* the try ends: its variables go */
	lb_boot_try_failed(&b);
	assert_int_equal(lb_bootstore_commit(&s, &a, &b), 0);
	lb_bootstore_close(&s);
	assert_int_equal(lb_bootstore_load(&s, &a), 0);
	assert_true(lb_bootstate_equal(&a, &b));
	assert_string_equal(a.failed_slot, "b");
	assert_string_equal(a.try_slot, "");
	lb_bootstore_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_boot),
	    cmocka_unit_test(test_unexplained_resets),
	    cmocka_unit_test(test_watchdog_failures),
	    cmocka_unit_test(test_decide_table),
	    cmocka_unit_test(test_mark_good_and_reset),
	    cmocka_unit_test(test_counters_saturate),
	    cmocka_unit_test(test_try_commit),
	    cmocka_unit_test(test_try_fails_and_falls_back),
	    cmocka_unit_test(test_try_and_rescue),
	    cmocka_unit_test(test_try_mark_good_other_slots),
	    cmocka_unit_test(test_try_replace_cancel_reset),
	    cmocka_unit_test(test_cmdline_slot),
	    cmocka_unit_test_setup_teardown(test_watchdog_sysfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pstore_evidence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pstore_counted_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_damaged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uboot_backend, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
