/* SPDX-License-Identifier: MIT */
/* The boot state: counting, classifying the previous boot (watchdog and pstore
 * evidence), deciding, mark-good/reset, and the file and U-Boot backends. */
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
	lb_boot_mark_good(&bs);
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
	lb_boot_mark_good(&bs);
	assert_int_equal(bs.attempts, 0);
	assert_int_equal(bs.failures, 0);
	assert_string_equal(bs.good_slot, "b");
	assert_string_equal(bs.rescue, "requested"); /* clears nothing else */
	assert_int_equal(bs.bad_serial, 41);
	before = bs;
	lb_boot_mark_good(&bs); /* idempotent */
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
	assert_int_equal(lb_bootstore_commit(&s, &a, &b), 0);
	lb_bootstore_close(&s);
	assert_int_equal(lb_bootstore_load(&s, &a), 0);
	assert_true(lb_bootstate_equal(&a, &b));
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
	    cmocka_unit_test_setup_teardown(test_watchdog_sysfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pstore_evidence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pstore_counted_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_damaged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uboot_backend, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
