/* SPDX-License-Identifier: MIT */
/* fsop: atomic replacement, bounded reads, exclusive creation, idempotent
 * removal and metadata that never follows a final symlink. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsop.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define TDIR_NAME "fsop"
#include "tdir.h"

static void put(int dirfd, const char *name, const char *s, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	close(fd);
}

static void assert_content(int dirfd, const char *name, const char *want)
{
	char buf[256];
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = 0;
	assert_string_equal(buf, want);
}

static int exists(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_replace(void **state)
{
	struct tdir t = *(struct tdir *)*state;
	struct stat st0, st;
	char buf[32];

	/* a new file */
	assert_int_equal(lb_replace_file(t.fd, "f", "one", 3, 0640), 0);
	assert_content(t.fd, "f", "one");
	assert_int_equal(fstatat(t.fd, "f", &st0, 0), 0);
	assert_int_equal(st0.st_mode & 07777, 0640);
	assert_false(exists(t.fd, "f.lb-tmp"));

	/* replaced by a new inode: a reader holding the old file keeps the old content */
	int rfd = openat(t.fd, "f", O_RDONLY | O_CLOEXEC);
	assert_true(rfd >= 0);
	assert_int_equal(lb_replace_file(t.fd, "f", "second text", 11, 0600), 0);
	assert_content(t.fd, "f", "second text");
	assert_int_equal(fstatat(t.fd, "f", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(st.st_ino != st0.st_ino);
	assert_int_equal(pread(rfd, buf, sizeof buf, 0), 3);
	assert_memory_equal(buf, "one", 3);
	close(rfd);
	assert_false(exists(t.fd, "f.lb-tmp"));

	/* empty content */
	assert_int_equal(lb_replace_file(t.fd, "f", "", 0, 0644), 0);
	assert_content(t.fd, "f", "");

	/* a stale .lb-tmp from an earlier crash is overwritten */
	put(t.fd, "f.lb-tmp", "stale stale stale", 17);
	assert_int_equal(lb_replace_file(t.fd, "f", "3", 1, 0644), 0);
	assert_content(t.fd, "f", "3");
	assert_false(exists(t.fd, "f.lb-tmp"));

	/* a symlink planted as .lb-tmp is not followed; the target stays as it was */
	put(t.fd, "victim", "victim", 6);
	assert_int_equal(symlinkat("victim", t.fd, "f.lb-tmp"), 0);
	assert_int_equal(lb_replace_file(t.fd, "f", "evil", 4, 0644), -ELOOP);
	assert_content(t.fd, "victim", "victim");
	assert_content(t.fd, "f", "3"); /* failure before the rename: old content */

	/* the temporary name cannot be created: the target is untouched */
	assert_int_equal(unlinkat(t.fd, "f.lb-tmp", 0), 0);
	assert_int_equal(mkdirat(t.fd, "f.lb-tmp", 0755), 0);
	assert_int_equal(lb_replace_file(t.fd, "f", "x", 1, 0644), -EISDIR);
	assert_content(t.fd, "f", "3");
	assert_int_equal(unlinkat(t.fd, "f.lb-tmp", AT_REMOVEDIR), 0);

	/* the rename fails (target is a non-empty directory): no .lb-tmp left */
	assert_int_equal(mkdirat(t.fd, "d", 0755), 0);
	put(t.fd, "d/x", "x", 1);
	int r = lb_replace_file(t.fd, "d", "x", 1, 0644);
	assert_true(r == -EISDIR || r == -ENOTEMPTY);
	assert_false(exists(t.fd, "d.lb-tmp"));
	assert_content(t.fd, "d/x", "x");

	/* a name too long for name.lb-tmp */
	char *longname = malloc(5000);
	assert_non_null(longname);
	memset(longname, 'n', 4999);
	longname[4999] = 0;
	assert_int_equal(lb_replace_file(t.fd, longname, "x", 1, 0644), -ENAMETOOLONG);
	free(longname);
}

/* The same in steps: content written piecewise; an error before finishing
 * removes the temporary file and leaves the target alone. */
static void test_replace_steps(void **state)
{
	struct tdir t = *(struct tdir *)*state;
	struct stat st;
	put(t.fd, "f", "old", 3);

	int fd = lb_replace_open(t.fd, "f", 0600);
	assert_true(fd >= 0);
	assert_true(exists(t.fd, "f.lb-tmp"));
	assert_int_equal(lb_write_all(fd, "new ", 4), 0);
	assert_content(t.fd, "f", "old"); /* until the rename */
	assert_int_equal(lb_write_all(fd, "content", 7), 0);
	assert_content(t.fd, "f", "old");
	assert_int_equal(lb_replace_finish(t.fd, "f", fd, 0), 0);
	assert_content(t.fd, "f", "new content");
	assert_int_equal(fstatat(t.fd, "f", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_false(exists(t.fd, "f.lb-tmp"));

	fd = lb_replace_open(t.fd, "f", 0644);
	assert_true(fd >= 0);
	assert_int_equal(lb_write_all(fd, "half", 4), 0);
	assert_int_equal(lb_replace_finish(t.fd, "f", fd, -ENOSPC), -ENOSPC);
	assert_content(t.fd, "f", "new content");
	assert_false(exists(t.fd, "f.lb-tmp"));
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
}

static void test_read_file(void **state)
{
	struct tdir t = *(struct tdir *)*state;
	char *buf;
	size_t len;

	/* sizes around the growth steps (4096, 8192, ...) */
	static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 8192, 10000, 70000};
	char *data = malloc(70000);
	assert_non_null(data);
	for (size_t i = 0; i < 70000; i++)
		data[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < N(sizes); i++) {
		put(t.fd, "f", data, sizes[i]);
		buf = NULL;
		len = 12345;
		assert_int_equal(lb_read_file(t.fd, "f", 1u << 20, &buf, &len), 0);
		assert_int_equal(len, sizes[i]);
		assert_memory_equal(buf, data, sizes[i]);
		assert_int_equal(buf[len], 0);
		free(buf);
		buf = NULL;
		assert_int_equal(lb_read_file(t.fd, "f", 1u << 20, &buf, NULL), 0); /* no len */
		free(buf);
	}

	/* the bound: a file of max bytes is read, one of max + 1 refused (every row
	 * is tried, the failures are reported together) */
	static const size_t maxes[] = {1, 10, 100, 4095, 4096, 4097, 8192, 10000};
	int bad = 0;
	for (size_t i = 0; i < N(maxes); i++) {
		size_t max = maxes[i];
		put(t.fd, "f", data, max);
		buf = NULL;
		int r = lb_read_file(t.fd, "f", max, &buf, &len);
		if (r != 0 || len != max) {
			print_error("file of %zu bytes, max %zu: %d, want 0\n", max, max, r);
			bad++;
		}
		free(buf);
		put(t.fd, "f", data, max + 1);
		buf = NULL;
		r = lb_read_file(t.fd, "f", max, &buf, &len);
		if (r != -EFBIG) {
			print_error("file of %zu bytes, max %zu: %d, want -EFBIG\n", max + 1, max,
			            r);
			bad++;
			if (!r)
				free(buf);
		}
	}
	free(data);
	if (bad)
		fail_msg("%d wrong results at the size bound", bad);

	assert_int_equal(lb_read_file(t.fd, "missing", 100, &buf, &len), -ENOENT);
	assert_int_equal(mkdirat(t.fd, "d", 0755), 0);
	assert_int_equal(lb_read_file(t.fd, "d", 100, &buf, &len), -EISDIR);
}

static void test_create(void **state)
{
	struct tdir t = *(struct tdir *)*state;
	struct stat st;

	int fd = lb_create_unsafe(t.fd, "a", 0640, 0);
	assert_true(fd >= 0);
	assert_int_equal(lb_write_all(fd, "hello", 5), 0);
	assert_int_equal(lb_fsync(fd), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	assert_content(t.fd, "a", "hello");

	/* exclusive: an existing file is refused and left alone */
	assert_int_equal(lb_create_unsafe(t.fd, "a", 0644, 0), -EEXIST);
	assert_content(t.fd, "a", "hello");
	/* replace: truncated */
	fd = lb_create_unsafe(t.fd, "a", 0644, 1);
	assert_true(fd >= 0);
	close(fd);
	assert_content(t.fd, "a", "");

	/* a symlink is never followed, whether it dangles or not */
	put(t.fd, "target", "target", 6);
	assert_int_equal(symlinkat("target", t.fd, "s"), 0);
	assert_int_equal(symlinkat("nowhere", t.fd, "dangling"), 0);
	assert_int_equal(lb_create_unsafe(t.fd, "s", 0644, 0), -EEXIST);
	assert_int_equal(lb_create_unsafe(t.fd, "s", 0644, 1), -ELOOP);
	assert_int_equal(lb_create_unsafe(t.fd, "dangling", 0644, 0), -EEXIST);
	assert_int_equal(lb_create_unsafe(t.fd, "dangling", 0644, 1), -ELOOP);
	assert_content(t.fd, "target", "target");
	assert_false(exists(t.fd, "nowhere"));

	/* append */
	fd = lb_open_append(t.fd, "target");
	assert_true(fd >= 0);
	assert_int_equal(lb_write_all(fd, "+more", 5), 0);
	close(fd);
	assert_content(t.fd, "target", "target+more");
	assert_int_equal(lb_open_append(t.fd, "s"), -ELOOP);
	assert_int_equal(lb_open_append(t.fd, "missing"), -ENOENT);
}

static void test_remove(void **state)
{
	struct tdir t = *(struct tdir *)*state;
	put(t.fd, "f", "x", 1);
	assert_int_equal(mkdirat(t.fd, "d", 0755), 0);
	put(t.fd, "d/g", "x", 1);
	assert_int_equal(symlinkat("d", t.fd, "s"), 0);

	assert_int_equal(lb_unlink(t.fd, "missing"), 0);
	assert_int_equal(lb_rmdir(t.fd, "missing"), 0);
	assert_int_equal(lb_unlink(t.fd, "missing/deeper"), 0);

	assert_int_equal(lb_unlink(t.fd, "f"), 0);
	assert_false(exists(t.fd, "f"));
	assert_int_equal(lb_unlink(t.fd, "f"), 0); /* again */

	assert_int_equal(lb_unlink(t.fd, "s"), 0); /* the link, not its target */
	assert_false(exists(t.fd, "s"));
	assert_true(exists(t.fd, "d/g"));

	assert_int_equal(lb_unlink(t.fd, "d"), -EISDIR);
	assert_int_equal(lb_rmdir(t.fd, "d"), -ENOTEMPTY);
	assert_int_equal(lb_rmdir(t.fd, "d/g"), -ENOTDIR);
	assert_int_equal(lb_unlink(t.fd, "d/g"), 0);
	assert_int_equal(lb_rmdir(t.fd, "d"), 0);
	assert_false(exists(t.fd, "d"));
	assert_int_equal(lb_rmdir(t.fd, "d"), 0);

	assert_int_equal(lb_mkdir(t.fd, "d", 0755), 0);
	assert_int_equal(lb_mkdir(t.fd, "d", 0755), -EEXIST);
}

static void test_set_meta(void **state)
{
	struct tdir t = *(struct tdir *)*state;
	struct stat st;
	put(t.fd, "f", "x", 1);
	put(t.fd, "target", "t", 1);
	assert_int_equal(fchmodat(t.fd, "target", 0644, 0), 0);
	struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	assert_int_equal(utimensat(t.fd, "target", ts, 0), 0);
	assert_int_equal(symlinkat("target", t.fd, "link"), 0);

	/* mode (with the set-id bits: chown comes first and cannot clear them) and mtime */
	assert_int_equal(lb_set_meta(t.fd, "f", 0, 1234, 5678, S_IFREG | 04751, 1500000000), 0);
	assert_int_equal(fstatat(t.fd, "f", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 04751);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 1234);
		assert_int_equal(st.st_gid, 5678);
	}
	/* mtime < 0 leaves the times alone */
	assert_int_equal(lb_set_meta(t.fd, "f", 0, 1234, 5678, 0600, -1), 0);
	assert_int_equal(fstatat(t.fd, "f", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);

	/* a symlink: the link gets the owner and mtime, the target nothing */
	assert_int_equal(lb_set_meta(t.fd, "link", 1, 4321, 8765, 0777, 1600000000), 0);
	assert_int_equal(fstatat(t.fd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	if (geteuid() == 0)
		assert_int_equal(st.st_uid, 4321);
	assert_int_equal(fstatat(t.fd, "target", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	assert_int_equal(st.st_uid, geteuid());

	assert_int_equal(lb_set_meta(t.fd, "missing", 0, 0, 0, 0644, -1), -ENOENT);
}

/* "without following a final symlink": also when the entry turns out to be a
 * symlink although the caller expected a file (planted or swapped in between),
 * the target's mode must not change. An error is acceptable. */
static void test_set_meta_unexpected_symlink(void **state)
{
	struct tdir t = *(struct tdir *)*state;
	struct stat st;
	put(t.fd, "target", "t", 1);
	assert_int_equal(fchmodat(t.fd, "target", 0644, 0), 0);
	assert_int_equal(symlinkat("target", t.fd, "link"), 0);

	int r = lb_set_meta(t.fd, "link", 0, geteuid(), getegid(), 04777, -1);
	assert_int_equal(fstatat(t.fd, "target", &st, AT_SYMLINK_NOFOLLOW), 0);
	if ((st.st_mode & 07777) != 0644)
		fail_msg("lb_set_meta(link, is_symlink=0) returned %d and chmod'ed the "
		         "symlink's target to %o",
		         r, st.st_mode & 07777);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_steps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_meta_unexpected_symlink, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
