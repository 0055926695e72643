/* SPDX-License-Identifier: MIT */
/* Boot state backend: STATE/boot, one deb822 paragraph, replaced atomically
 * (lb_replace_file: written beside, fsynced, renamed, directory fsynced).
 *
 *   Format: 1
 *   Slot: a
 *   Good-Slot: a
 *   Attempts: 0
 *   Failures: 0
 *   Rescue:
 *   Bad-Serial: 0
 *   Try-Slot: b                (only while a try is pending or being booted)
 *   Try-Booted: no             (with Try-Slot: yes once count booted it)
 *   Failed-Slot: b             (only after a try failed)
 *   Evidence: 3f2a...          (only once pstore records were counted)
 *
 * A missing file is the default state; anything unreadable is -LBE_CORRUPT. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstate.h"
#include "deb822.h"
#include "fsop.h"

#define FORMAT   1
#define MAX_SIZE 4096

static int number(const struct lb_para *p, const char *field, bool required, unsigned long long max,
                  unsigned long long *out)
{
	const char *v = lb_para_get(p, field);
	if (!v)
		return required ? lb_errf(-LBE_CORRUPT, "no %s field", field) : 0;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno || n > max)
		return lb_errf(-LBE_CORRUPT, "%s: '%.40s' is not a number", field, v);
	*out = n;
	return 0;
}

static int name(const struct lb_para *p, const char *field, bool required, bool may_be_empty,
                char out[LB_BOOT_NAME_MAX])
{
	const char *v = lb_para_get(p, field);
	if (!v)
		return required ? lb_errf(-LBE_CORRUPT, "no %s field", field) : 0;
	if (!(may_be_empty && !v[0]) && !lb_boot_name_valid(v))
		return lb_errf(-LBE_CORRUPT, "%s: '%.40s' is not a valid name", field, v);
	snprintf(out, LB_BOOT_NAME_MAX, "%s", v);
	return 0;
}

static int yes_no(const struct lb_para *p, const char *field, bool *out)
{
	const char *v = lb_para_get(p, field);
	if (!v)
		return 0;
	if (strcmp(v, "yes") && strcmp(v, "no"))
		return lb_errf(-LBE_CORRUPT, "%s: '%.40s' is not yes or no", field, v);
	*out = !strcmp(v, "yes");
	return 0;
}

static int parse_para(const struct lb_para *p, struct lb_bootstate *bs)
{
	unsigned long long format = 0, attempts = 0, failures = 0;
	int r = number(p, "Format", true, ULLONG_MAX, &format);
	if (!r && format > FORMAT)
		return lb_errf(-LBE_FORMAT_VER,
		               "format %llu is newer than this lifeboat knows (%d)", format,
		               FORMAT);
	if (!r && format < 1)
		r = lb_errf(-LBE_CORRUPT, "format 0 does not exist");
	if (!r)
		r = name(p, "Slot", true, false, bs->slot);
	if (!r)
		r = name(p, "Good-Slot", false, true, bs->good_slot);
	if (!r)
		r = number(p, "Attempts", true, LB_BOOT_COUNT_MAX, &attempts);
	if (!r)
		r = number(p, "Failures", true, LB_BOOT_COUNT_MAX, &failures);
	if (!r)
		r = name(p, "Rescue", false, true, bs->rescue);
	if (!r)
		r = number(p, "Bad-Serial", false, ULLONG_MAX, &bs->bad_serial);
	if (!r)
		r = name(p, "Evidence", false, true, bs->evidence);
	if (!r)
		r = name(p, "Try-Slot", false, true, bs->try_slot);
	if (!r)
		r = yes_no(p, "Try-Booted", &bs->try_booted);
	if (!r)
		r = name(p, "Failed-Slot", false, true, bs->failed_slot);
	if (!bs->try_slot[0])
		bs->try_booted = false; /* booted what? nothing to try */
	bs->attempts = (unsigned)attempts;
	bs->failures = (unsigned)failures;
	return r;
}

int lb_bootstate_parse(const char *buf, size_t len, struct lb_bootstate *bs)
{
	lb_bootstate_init(bs);
	struct lb_doc doc = {0};
	int r = lb_deb822_parse(buf, len, &doc);
	if (r == -LBE_FORMAT)
		r = -LBE_CORRUPT; /* keep the parser's message, but it is our own file */
	if (!r && doc.n != 1)
		r = lb_errf(-LBE_CORRUPT, "one paragraph expected, found %zu", doc.n);
	if (!r)
		r = parse_para(&doc.paras[0], bs);
	lb_doc_free(&doc);
	return r;
}

size_t lb_bootstate_format(const struct lb_bootstate *bs, char *buf, size_t size)
{
	/* the fields of the A/B try and the evidence only when set: a device that never
	 * tries a slot keeps the file lifeboat always wrote */
	char try[2 * LB_BOOT_NAME_MAX + 32] = "", failed[LB_BOOT_NAME_MAX + 16] = "";
	if (bs->try_slot[0])
		snprintf(try, sizeof try, "Try-Slot: %s\nTry-Booted: %s\n", bs->try_slot,
		         bs->try_booted ? "yes" : "no");
	if (bs->failed_slot[0])
		snprintf(failed, sizeof failed, "Failed-Slot: %s\n", bs->failed_slot);
	int n = snprintf(buf, size,
	                 "Format: %d\nSlot: %s\nGood-Slot: %s\nAttempts: %u\nFailures: %u\n"
	                 "Rescue: %s\nBad-Serial: %llu\n%s%s%s%s%s",
	                 FORMAT, bs->slot, bs->good_slot, bs->attempts, bs->failures, bs->rescue,
	                 bs->bad_serial, try, failed, bs->evidence[0] ? "Evidence: " : "",
	                 bs->evidence, bs->evidence[0] ? "\n" : "");
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static int file_load(struct lb_bootstore *s, struct lb_bootstate *bs)
{
	char *buf;
	size_t len;
	int r = lb_read_file(s->dirfd, LB_BOOT_FILE, MAX_SIZE, &buf, &len);
	if (r == -ENOENT)
		return 0; /* never counted: the defaults */
	if (r == -EFBIG)
		return lb_errf(-LBE_CORRUPT, "%s/%s: larger than %d bytes", s->where, LB_BOOT_FILE,
		               MAX_SIZE);
	if (r)
		return lb_errf(r, "%s/%s: %s", s->where, LB_BOOT_FILE, strerror(-r));
	lb_err_clear();
	r = lb_bootstate_parse(buf, len, bs);
	free(buf);
	return r ? lb_err_prefix(r, "%s/%s", s->where, LB_BOOT_FILE) : 0;
}

static int file_save(struct lb_bootstore *s, const struct lb_bootstate *bs)
{
	char buf[MAX_SIZE];
	size_t len = lb_bootstate_format(bs, buf, sizeof buf);
	int r = lb_replace_file(s->dirfd, LB_BOOT_FILE, buf, len, 0644);
	return r ? lb_errf(r, "%s/%s: %s", s->where, LB_BOOT_FILE, strerror(-r)) : 0;
}

const struct lb_bootstore_ops lb_bootstore_file = {
    .name = "file",
    .load = file_load,
    .save = file_save,
};
