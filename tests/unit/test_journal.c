/* SPDX-License-Identifier: MIT */
/* The transaction journal (STATE/journal): written records read back decoded;
 * prepared/committed states; a journal cut at any byte is never an error and is
 * in force only once its P line is complete; damage after that is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsop.h"
#include "journal.h"
#include "pkgdb.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define ID1  "0123456789abcdef"
#define ID2  "fedcba9876543210"

#define TDIR_NAME "journal"
#include "tdir.h"

static void put(int dirfd, const char *s, size_t len)
{
	int fd = openat(dirfd, LB_JOURNAL_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	close(fd);
}

static char *slurp(int dirfd, size_t *len)
{
	char *buf = NULL;
	assert_int_equal(lb_read_file(dirfd, LB_JOURNAL_FILE, 1u << 20, &buf, len), 0);
	return buf;
}

/* The records of write_journal, as lb_journal_load decodes them. */
static const struct {
	char kind;
	const char *arg[5];
} recs[] = {
    {'D', {"usr/share/my dir"}},
    {'D', {"usr/share/my dir/sub\tdir"}},
    {'R', {"usr/bin/a b"}},
    {'V', {"etc/100%.conf"}},
    {'X', {"usr/lib/caf\xc3\xa9\n"}},
    {'A', {"old pkg", ID1, "remove"}},
    {'R', {"x"}},
    {'A', {"other", ID2, "upgrade", "1.0 beta~1", "%x\n"}},
};

static void init_journal(struct lb_journal *j)
{
	lb_journal_init(j, 12345);
	for (size_t i = 0; i < N(recs); i++) {
		int n = 0;
		while (n < 5 && recs[i].arg[n])
			n++;
		lb_journal_add(j, recs[i].kind, n, recs[i].arg);
	}
}

static void check_recs(const struct lb_journal *j)
{
	assert_int_equal(j->txn, 12345);
	assert_int_equal(j->n, N(recs));
	for (size_t i = 0; i < N(recs); i++) {
		assert_int_equal(j->recs[i].kind, recs[i].kind);
		for (int k = 0; k < 5; k++) {
			if (!recs[i].arg[k]) {
				assert_null(j->recs[i].arg[k]);
				continue;
			}
			assert_non_null(j->recs[i].arg[k]);
			assert_string_equal(j->recs[i].arg[k], recs[i].arg[k]);
		}
	}
}

static void test_prepare_commit(void **state)
{
	struct tdir *t = *state;
	struct lb_journal j, l;
	size_t len;

	/* nothing on disk before prepare */
	init_journal(&j);
	assert_int_equal(j.state, LB_J_NONE);
	assert_int_equal(faccessat(t->fd, LB_JOURNAL_FILE, F_OK, 0), -1);
	assert_int_equal(lb_journal_load(t->fd, &l), 0);
	assert_int_equal(l.state, LB_J_NONE);
	assert_int_equal(l.fd, -1);
	lb_journal_free(&l);

	assert_int_equal(lb_journal_prepare(&j, t->fd), 0);
	assert_int_equal(j.state, LB_J_PREPARED);

	/* the encoded form on disk: one line per record, paths percent-encoded */
	char *text = slurp(t->fd, &len);
	static const char head[] = "lifeboat-journal 1\n"
	                           "T 12345\n"
	                           "D usr/share/my%20dir\n"
	                           "D usr/share/my%20dir/sub%09dir\n"
	                           "R usr/bin/a%20b\n"
	                           "V etc/100%25.conf\n"
	                           "X usr/lib/caf%C3%A9%0A\n"
	                           "A old%20pkg " ID1 " remove\n"
	                           "R x\n"
	                           "A other " ID2 " upgrade 1.0%20beta~1 %25x%0A\n"
	                           "P ";
	assert_true(len == sizeof head - 1 + 65);
	assert_memory_equal(text, head, sizeof head - 1);
	assert_int_equal(text[len - 1], '\n');
	free(text);

	assert_int_equal(lb_journal_load(t->fd, &l), 0);
	assert_int_equal(l.state, LB_J_PREPARED);
	check_recs(&l);
	for (size_t i = 0; i < l.n; i++)
		assert_false(l.recs[i].done);
	assert_int_equal(l.nstates, 0);
	assert_true(l.fd >= 0);
	lb_journal_free(&l);

	/* a second transaction cannot start over an existing journal */
	struct lb_journal j2;
	lb_journal_init(&j2, 1);
	assert_int_equal(lb_journal_prepare(&j2, t->fd), -EEXIST);
	lb_journal_free(&j2);

	assert_int_equal(lb_journal_commit(&j), 0);
	assert_int_equal(j.state, LB_J_COMMITTED);
	assert_int_equal(lb_journal_load(t->fd, &l), 0);
	assert_int_equal(l.state, LB_J_COMMITTED);
	check_recs(&l);
	lb_journal_free(&l);

	/* progress: S for the A records (0-based among them), G in order */
	assert_int_equal(lb_journal_mark_done(&j, 1), 0);
	assert_int_equal(lb_journal_mark_state(&j, "pkg-a", "half-configured"), 0);
	assert_int_equal(lb_journal_mark_state(&j, "pkg-b", "installed"), 0);
	assert_int_equal(lb_journal_mark_state(&j, "pkg-a", "installed"), 0);
	assert_int_equal(lb_journal_load(t->fd, &l), 0);
	assert_int_equal(l.state, LB_J_COMMITTED);
	check_recs(&l);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.recs[i].done, i == 7); /* the second A record */
	assert_int_equal(l.nstates, 3);
	assert_string_equal(l.states[0].pkg, "pkg-a");
	assert_int_equal(l.states[0].state, LB_ST_HALF_CONFIGURED);
	assert_string_equal(l.states[1].pkg, "pkg-b");
	assert_int_equal(l.states[1].state, LB_ST_INSTALLED);
	assert_string_equal(l.states[2].pkg, "pkg-a");
	assert_int_equal(l.states[2].state, LB_ST_INSTALLED);
	lb_journal_free(&l);

	assert_int_equal(lb_journal_mark_done(&j, 0), 0);
	assert_int_equal(lb_journal_load(t->fd, &l), 0);
	assert_true(l.recs[5].done);
	assert_true(l.recs[7].done);
	lb_journal_free(&l);

	assert_int_equal(lb_journal_remove(&j, t->fd), 0);
	assert_int_equal(j.fd, -1);
	assert_int_equal(faccessat(t->fd, LB_JOURNAL_FILE, F_OK, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lb_journal_remove(&j, t->fd), 0); /* already gone */
	assert_int_equal(lb_journal_load(t->fd, &l), 0);
	assert_int_equal(l.state, LB_J_NONE);
	lb_journal_free(&l);
	lb_journal_free(&j);
}

/* A journal loaded as PREPARED can be committed and marked by the loader. */
static void test_commit_after_load(void **state)
{
	struct tdir *t = *state;
	struct lb_journal j, l;
	init_journal(&j);
	assert_int_equal(lb_journal_prepare(&j, t->fd), 0);
	lb_journal_free(&j);

	assert_int_equal(lb_journal_load(t->fd, &l), 0);
	assert_int_equal(l.state, LB_J_PREPARED);
	assert_int_equal(lb_journal_commit(&l), 0);
	assert_int_equal(lb_journal_mark_done(&l, 0), 0);
	lb_journal_free(&l);

	assert_int_equal(lb_journal_load(t->fd, &l), 0);
	assert_int_equal(l.state, LB_J_COMMITTED);
	assert_true(l.recs[5].done);
	assert_false(l.recs[7].done);
	assert_int_equal(lb_journal_remove(&l, t->fd), 0);
	lb_journal_free(&l);
}

/* The complete journal of a transaction: records, P, C, and progress when
 * progress is set. */
static char *full_journal(int dirfd, bool progress, size_t *len)
{
	struct lb_journal j;
	init_journal(&j);
	assert_int_equal(lb_journal_prepare(&j, dirfd), 0);
	assert_int_equal(lb_journal_commit(&j), 0);
	if (progress) {
		assert_int_equal(lb_journal_mark_done(&j, 0), 0);
		assert_int_equal(lb_journal_mark_state(&j, "pkg", "half-configured"), 0);
		assert_int_equal(lb_journal_mark_done(&j, 1), 0);
		assert_int_equal(lb_journal_mark_state(&j, "pkg", "installed"), 0);
	}
	char *text = slurp(dirfd, len);
	lb_journal_free(&j);
	return text;
}

/* offset just past the line starting with "\n<kind> " */
static size_t line_end(const char *text, size_t len, char kind)
{
	char key[4] = {'\n', kind, ' ', 0};
	const char *p = strstr(text, key);
	assert_non_null(p);
	const char *nl = memchr(p + 1, '\n', len - (size_t)(p + 1 - text));
	assert_non_null(nl);
	return (size_t)(nl + 1 - text);
}

static void test_truncated(void **state)
{
	struct tdir *t = *state;
	size_t len;
	char *text = full_journal(t->fd, true, &len);
	size_t p_end = line_end(text, len, 'P'), c_end = line_end(text, len, 'C');
	assert_true(p_end < c_end && c_end < len);
	int bad = 0;

	for (size_t k = 0; k <= len; k++) {
		struct lb_journal l;
		put(t->fd, text, k);
		int r = lb_journal_load(t->fd, &l);
		enum lb_jstate want = k < p_end   ? LB_J_NONE
		                      : k < c_end ? LB_J_PREPARED
		                                  : LB_J_COMMITTED;
		if (r != 0 || l.state != want) {
			print_error("cut at %zu of %zu: %d state %d, want 0 state %d\n", k, len, r,
			            r ? -1 : (int)l.state, (int)want);
			bad++;
		} else if (want != LB_J_NONE) {
			assert_int_equal(l.n, N(recs));
			assert_true(l.fd >= 0);
		} else {
			assert_int_equal(l.fd, -1);
		}
		if (!r)
			lb_journal_free(&l);
	}
	free(text);
	if (bad)
		fail_msg("%d cuts wrong", bad);
}

/* Any change to a byte covered by the P checksum, or to the P line itself, is
 * damage once a C line follows, with or without progress records after it. */
static void test_flipped(void **state)
{
	struct tdir *t = *state;
	int bad = 0;
	for (int progress = 0; progress < 2; progress++) {
		size_t len;
		char *text = full_journal(t->fd, progress, &len);
		size_t p_end = line_end(text, len, 'P');
		assert_int_equal(unlinkat(t->fd, LB_JOURNAL_FILE, 0), 0);
		static const int how[] = {0x01, 0x80, 0x20, -'\n', -' ', -'0'};
		for (size_t i = 0; i < p_end; i++) {
			for (size_t h = 0; h < N(how); h++) {
				char save = text[i];
				text[i] = (char)(how[h] > 0 ? save ^ how[h] : -how[h]);
				if (text[i] == save)
					continue;
				struct lb_journal l;
				put(t->fd, text, len);
				lb_err_clear();
				int r = lb_journal_load(t->fd, &l);
				/* a damaged first line may read as a newer format:
				 * refused all the same */
				if (r != -LBE_CORRUPT && !(r == -LBE_FORMAT_VER && i < 19)) {
					print_error(
					    "progress %d: byte %zu (P line ends at %zu) 0x%02x -> "
					    "0x%02x: %d state %d, want %d\n",
					    progress, i, p_end, (unsigned char)save,
					    (unsigned char)text[i], r, r ? -1 : (int)l.state,
					    -LBE_CORRUPT);
					bad++;
				} else if (r == -LBE_CORRUPT && !strstr(lb_err_msg(), "damaged")) {
					print_error("message '%s'\n", lb_err_msg());
					bad++;
				}
				if (!r)
					lb_journal_free(&l);
				text[i] = save;
			}
		}
		free(text);
		assert_int_equal(unlinkat(t->fd, LB_JOURNAL_FILE, 0), 0);
	}
	if (bad)
		fail_msg("%d flips not refused", bad);
}

static void test_newer_and_damaged(void **state)
{
	struct tdir *t = *state;
	size_t len;
	char *text = full_journal(t->fd, false, &len);
	assert_int_equal(unlinkat(t->fd, LB_JOURNAL_FILE, 0), 0);
	char buf[4096];
	assert_true(len + 64 < sizeof buf);
	struct lb_journal l;

	/* a newer format, whole or torn after its first line */
	memcpy(buf, text, len);
	buf[17] = '2';
	put(t->fd, buf, len);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_FORMAT_VER);
	assert_non_null(strstr(lb_err_msg(), "journal format 2 is newer"));
	put(t->fd, "lifeboat-journal 2\n", 19);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_FORMAT_VER);
	put(t->fd, "lifeboat-journal 10\nT 1\n", 24);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_FORMAT_VER);
	assert_int_equal(l.fd, -1);
	assert_null(l.recs);

	/* not a journal */
	put(t->fd, "hello\n", 6);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_CORRUPT);

	/* damaged lines after C (every row tried, the failures reported together) */
	static const char *const after[] = {
	    "S\n",     "S \n",          "Sx\n",      "S5\n",      "S x\n",  "S 1x\n",   "Q 1\n",
	    "G pkg\n", "G pkg bogus\n", "G a b c\n", "D usr/x\n", "C 00\n", "S 0\nG\n",
	};
	int bad = 0;
	for (size_t i = 0; i < N(after); i++) {
		size_t n = strlen(after[i]);
		memcpy(buf, text, len);
		memcpy(buf + len, after[i], n);
		put(t->fd, buf, len + n);
		int r = lb_journal_load(t->fd, &l);
		if (r != -LBE_CORRUPT) {
			print_error("'%.*s' after C: %d, want %d\n", (int)n - 1, after[i], r,
			            -LBE_CORRUPT);
			bad++;
		}
		if (!r)
			lb_journal_free(&l);
		/* torn, it is not there */
		put(t->fd, buf, len + n - 1);
		r = lb_journal_load(t->fd, &l);
		if (r || l.state != LB_J_COMMITTED) {
			print_error("torn '%.*s' after C: %d\n", (int)n - 1, after[i], r);
			bad++;
		}
		if (!r)
			lb_journal_free(&l);
	}

	/* a damaged C line; and a record that is not one before P */
	size_t c_end = line_end(text, len, 'C');
	memcpy(buf, text, len);
	buf[c_end - 2] ^= 1;
	put(t->fd, buf, len);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_CORRUPT);
	put(t->fd, "lifeboat-journal 1\nT 1\nZ x\n", 27);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_CORRUPT);
	put(t->fd, "lifeboat-journal 1\nT 1\nA pkg id\n", 32);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_CORRUPT);
	put(t->fd, "lifeboat-journal 1\nT 1\nD a b\n", 29);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_CORRUPT);
	put(t->fd, "lifeboat-journal 1\nT 1\nD a%zz\n", 30);
	assert_int_equal(lb_journal_load(t->fd, &l), -LBE_CORRUPT);
	free(text);
	if (bad)
		fail_msg("%d damaged lines after C not refused", bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_prepare_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_after_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_and_damaged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
