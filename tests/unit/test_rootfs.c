/* SPDX-License-Identifier: MIT */
/* Paths beneath a root: "..", absolute and relative symlinks stay inside it,
 * loops and non-directories are refused, the final component is not followed,
 * the parent cache is reused; the same table again with openat2 made to fail
 * with ENOSYS (seccomp, in a child), which drives the component walker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rootfs.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct troot {
	char path[64];
	int fd; /* the root */
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static int mkfile(int dirfd, const char *name, const char *s)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static const char marker[] = "etc/lb-test-rootfs-marker";

/* The root of every test:
 *   etc/{passwd,lb-test-rootfs-marker}  a/b/file  a/bb/file  reg
 *   rel -> a/b            a/up -> ../a/b          a/escape -> ../../../../..
 *   abs -> /etc           absdot -> /../../etc/.   lnkreg -> reg   dang -> nowhere
 *   loop1 <-> loop2       self -> self
 *   l1 -> a/b, l2 -> l1, ... l41 -> l40 (l40 is 40 links from a/b, l41 41) */
static int build_root(int r)
{
	static const char *const dirs[] = {"etc", "a", "a/b", "a/bb"};
	static const struct {
		const char *name, *content;
	} files[] = {
	    {"etc/passwd", "root's passwd\n"},
	    {"etc/lb-test-rootfs-marker", "root's marker\n"},
	    {"a/b/file", "ab\n"},
	    {"a/b/sib", "sibling\n"},
	    {"a/bb/file", "abb\n"},
	    {"reg", "regular\n"},
	};
	static const struct {
		const char *name, *target;
	} links[] = {
	    {"rel", "a/b"},      {"a/up", "../a/b"},         {"a/escape", "../../../../.."},
	    {"abs", "/etc"},     {"absdot", "/../../etc/."}, {"lnkreg", "reg"},
	    {"dang", "nowhere"}, {"loop1", "loop2"},         {"loop2", "loop1"},
	    {"self", "self"},
	};
	for (size_t i = 0; i < N(dirs); i++)
		if (mkdirat(r, dirs[i], 0755) < 0)
			return -1;
	for (size_t i = 0; i < N(files); i++)
		if (mkfile(r, files[i].name, files[i].content) < 0)
			return -1;
	for (size_t i = 0; i < N(links); i++)
		if (symlinkat(links[i].target, r, links[i].name) < 0)
			return -1;
	char name[16], target[16] = "a/b";
	for (int i = 1; i <= 41; i++) {
		snprintf(name, sizeof name, "l%d", i);
		if (symlinkat(target, r, name) < 0)
			return -1;
		snprintf(target, sizeof target, "%s", name);
	}
	return 0;
}

/* Each test gets its own root, removed by the teardown even when it fails. */
static int setup(void **state)
{
	struct troot *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	snprintf(t->path, sizeof t->path, "/tmp/lb-test-rootfs.XXXXXX");
	if (!mkdtemp(t->path) || (t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    build_root(t->fd) < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct troot *t = *state;
	close(t->fd);
	int r = nftw(t->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return r;
}

enum op { LSTAT, OPEN, PARENT };

/* A lookup, and either its error or the entry (relative to the root, not
 * followed) it must reach. */
static const struct {
	enum op op;
	const char *path;
	int err;
	const char *want;
} cases[] = {
    /* plain */
    {OPEN, "a/b/file", 0, "a/b/file"},
    {OPEN, "./a/./b/file", 0, "a/b/file"},
    {OPEN, "a//b/file", 0, "a/b/file"},
    {OPEN, "reg", 0, "reg"},
    {LSTAT, "a/b", 0, "a/b"},
    {PARENT, "a/b/anything", 0, "a/b"},
    {PARENT, "top", 0, "."},
    /* relative symlinks to directories */
    {OPEN, "rel/file", 0, "a/b/file"},
    {OPEN, "a/up/file", 0, "a/b/file"},
    {LSTAT, "rel/sib", 0, "a/b/sib"},
    {PARENT, "rel/x", 0, "a/b"},
    /* absolute symlinks mean the root's /, not the host's */
    {OPEN, "abs/passwd", 0, "etc/passwd"},
    {OPEN, "abs/lb-test-rootfs-marker", 0, marker},
    {OPEN, "absdot/passwd", 0, "etc/passwd"},
    {LSTAT, "abs/passwd", 0, "etc/passwd"},
    {OPEN, "abs/../a/b/file", 0, "a/b/file"},
    {OPEN, "/etc/passwd", 0, "etc/passwd"},
    /* ".." stops at the root */
    {OPEN, "a/../../../etc/passwd", 0, "etc/passwd"},
    {OPEN, "../../etc/passwd", 0, "etc/passwd"},
    {OPEN, "../etc/lb-test-rootfs-marker", 0, marker},
    {OPEN, "a/escape/etc/passwd", 0, "etc/passwd"},
    {LSTAT, "a/escape/a/b/../bb/file", 0, "a/bb/file"},
    {PARENT, "a/escape/x", 0, "."},
    {PARENT, "rel/../x", 0, "a"},
    {PARENT, "abs/../x", 0, "."},
    {PARENT, "a/escape/../../a/x", 0, "a"},
    {PARENT, "a/up/../../../x", 0, "."},
    /* the final component is never followed */
    {LSTAT, "abs", 0, "abs"},
    {LSTAT, "rel", 0, "rel"},
    {LSTAT, "loop1", 0, "loop1"},
    {LSTAT, "dang", 0, "dang"},
    {LSTAT, "a/escape", 0, "a/escape"},
    {OPEN, "rel", -ELOOP, NULL},
    {OPEN, "lnkreg", -ELOOP, NULL},
    {OPEN, "abs", -ELOOP, NULL},
    /* loops, chains */
    {OPEN, "loop1/x", -ELOOP, NULL},
    {LSTAT, "loop2/x", -ELOOP, NULL},
    {LSTAT, "self/x", -ELOOP, NULL},
    {OPEN, "l40/file", 0, "a/b/file"},
    {OPEN, "l41/file", -ELOOP, NULL},
    /* through something that is not a directory */
    {OPEN, "reg/x", -ENOTDIR, NULL},
    {LSTAT, "lnkreg/x", -ENOTDIR, NULL},
    {OPEN, "a/b/file/x", -ENOTDIR, NULL},
    {PARENT, "abs/passwd/x", -ENOTDIR, NULL},
    /* missing */
    {OPEN, "missing/x", -ENOENT, NULL},
    {LSTAT, "dang/x", -ENOENT, NULL},
    {LSTAT, "a/b/missing", -ENOENT, NULL},
    {OPEN, "a/b/missing", -ENOENT, NULL},
    {OPEN, "missing", -ENOENT, NULL},
};

static bool same_entry(int rootfd, const struct stat *st, const char *want)
{
	struct stat w;
	return fstatat(rootfd, want, &w, AT_SYMLINK_NOFOLLOW) == 0 && w.st_dev == st->st_dev &&
	       w.st_ino == st->st_ino;
}

static int run_case(struct lb_dircache *c, int rootfd, size_t i, struct stat *st)
{
	int r, dfd;
	const char *base;
	switch (cases[i].op) {
	case LSTAT: return lb_root_lstat(c, cases[i].path, st);
	case OPEN:
		r = lb_root_open_read(c, cases[i].path);
		if (r < 0)
			return r;
		dfd = r;
		r = fstat(dfd, st) < 0 ? -errno : 0;
		close(dfd);
		return r;
	case PARENT:
		r = lb_root_parent(c, cases[i].path, &dfd, &base);
		if (!r && fstat(dfd, st) < 0)
			r = -errno;
		return r;
	}
	return -EINVAL;
}

/* Run the table, each row with a fresh cache and then all rows through one
 * cache; print and count the wrong rows (no cmocka asserts: also run in a child). */
static int run_table(int rootfd, const char *how)
{
	int bad = 0;
	struct lb_dircache shared;
	lb_dircache_init(&shared, rootfd);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < N(cases); i++) {
			struct lb_dircache fresh, *c = pass ? &shared : &fresh;
			struct stat st;
			if (!pass)
				lb_dircache_init(&fresh, rootfd);
			int r = run_case(c, rootfd, i, &st);
			bool ok =
			    r == cases[i].err && (r || same_entry(rootfd, &st, cases[i].want));
			if (!ok) {
				fprintf(stderr, "%s, %s cache: case %zu '%s': %d%s, want %d %s\n",
				        how, pass ? "shared" : "fresh", i, cases[i].path, r,
				        r ? "" : " (another entry)", cases[i].err,
				        cases[i].want ? cases[i].want : "");
				bad++;
			}
			if (!pass)
				lb_dircache_close(&fresh);
		}
	}
	lb_dircache_close(&shared);
	/* the root fd is the caller's: never closed by the cache */
	if (fcntl(rootfd, F_GETFD) < 0) {
		fprintf(stderr, "%s: the cache closed the root fd\n", how);
		bad++;
	}
	return bad;
}

static void test_resolve(void **state)
{
	struct troot *t = *state;
	/* the marker must not exist on the host, or reaching it would go unnoticed */
	assert_int_equal(access("/etc/lb-test-rootfs-marker", F_OK), -1);
	assert_int_equal(run_table(t->fd, "openat2"), 0);

	/* content, for good measure: the root's passwd, not the host's */
	struct lb_dircache c;
	char buf[64];
	lb_dircache_init(&c, t->fd);
	int fd = lb_root_open_read(&c, "a/escape/abs/../etc/passwd");
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf, "root's passwd\n");
	lb_dircache_close(&c);
}

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* In a child: make openat2 fail with ENOSYS, as on kernels before 5.6, and run
 * the table; rootfs.c then resolves with its own walker. */
static void test_resolve_without_openat2(void **state)
{
#ifndef TEST_AUDIT_ARCH
	skip();
#else
	struct troot *t = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_filter f[] = {
		    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
		    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {.len = N(f), .filter = f};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
			_exit(200); /* no seccomp here */
		struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC};
		if (syscall(SYS_openat2, t->fd, "a", &how, sizeof how) >= 0 || errno != ENOSYS)
			_exit(201);
		int bad = run_table(t->fd, "walker");
		_exit(bad > 100 ? 100 : bad);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 200)
		skip();
	if (WEXITSTATUS(status))
		fail_msg("walker: %d wrong rows (status %d)", WEXITSTATUS(status),
		         WEXITSTATUS(status));
#endif
}

static void test_dircache(void **state)
{
	struct troot *t = *state;
	struct lb_dircache c;
	const char *base;
	int d1, d2;
	struct stat st, st2;

	lb_dircache_init(&c, t->fd);
	assert_int_equal(c.dirfd, -1);

	/* top-level names use the root fd itself */
	assert_int_equal(lb_root_parent(&c, "top", &d1, &base), 0);
	assert_int_equal(d1, t->fd);
	assert_string_equal(base, "top");

	assert_int_equal(lb_root_parent(&c, "a/b/file", &d1, &base), 0);
	assert_string_equal(base, "file");
	assert_string_equal(c.dir, "a/b");
	assert_int_equal(fstat(d1, &st), 0);
	assert_int_equal(fstatat(t->fd, "a/b", &st2, 0), 0);
	assert_true(st.st_ino == st2.st_ino);

	/* a sibling reuses the open directory, without looking the path up again:
	 * moved away in between, the directory is still the one that was opened */
	assert_int_equal(renameat(t->fd, "a/b", t->fd, "a/moved"), 0);
	assert_int_equal(lb_root_parent(&c, "a/b/sib", &d2, &base), 0);
	assert_int_equal(d2, d1);
	assert_string_equal(base, "sib");
	assert_int_equal(lb_root_lstat(&c, "a/b/sib", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	int fd = lb_root_open_read(&c, "a/b/file");
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(renameat(t->fd, "a/moved", t->fd, "a/b"), 0);

	/* another directory (same prefix, same length, longer, shorter) is looked up */
	static const struct {
		const char *path, *dir;
	} next[] = {
	    {"a/bb/file", "a/bb"}, {"a/b/file", "a/b"}, {"rel/file", "rel"},
	    {"a/b/x", "a/b"},      {"a/x", "a"},        {"x", ""},
	};
	for (size_t i = 0; i < N(next); i++) {
		assert_int_equal(lb_root_parent(&c, next[i].path, &d1, &base), 0);
		assert_string_equal(c.dir, next[i].dir);
		assert_int_equal(fstat(d1, &st), 0);
		assert_int_equal(fstatat(t->fd, next[i].dir[0] ? next[i].dir : ".", &st2, 0), 0);
		if (st.st_ino != st2.st_ino)
			fail_msg("'%s': parent is not %s", next[i].path, next[i].dir);
	}

	/* a failed lookup empties the cache */
	assert_int_equal(lb_root_parent(&c, "a/b/x", &d1, &base), 0);
	assert_int_equal(lb_root_parent(&c, "missing/x", &d1, &base), -ENOENT);
	assert_int_equal(c.dirfd, -1);
	assert_int_equal(lb_root_parent(&c, "a/b/x", &d1, &base), 0);

	/* a directory name longer than the cache holds */
	char *longp = malloc(5000);
	assert_non_null(longp);
	memset(longp, 'x', 4999);
	longp[4999] = 0;
	longp[4200] = '/';
	assert_int_equal(lb_root_parent(&c, longp, &d1, &base), -ENAMETOOLONG);
	free(longp);

	lb_dircache_close(&c);
	assert_int_equal(c.dirfd, -1);
	lb_dircache_close(&c); /* twice */
	assert_true(fcntl(t->fd, F_GETFD) >= 0);
}

static void test_sha256(void **state)
{
	struct troot *t = *state;
	static const struct {
		const char *content, *hex;
	} known[] = {
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	};
	char hex[65];
	for (size_t i = 0; i < N(known); i++) {
		char name[16];
		snprintf(name, sizeof name, "k%zu", i);
		assert_int_equal(mkfile(t->fd, name, known[i].content), 0);
		int fd = openat(t->fd, name, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(lb_fd_sha256(fd, hex), 0);
		assert_string_equal(hex, known[i].hex);
		close(fd);
	}

	/* several read blocks, compared with sha256sum; the fd's offset does not matter */
	size_t len = 3 * 65536 + 123;
	char *data = malloc(len), path[128], cmd[256], want[65] = "";
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 7 + i / 251);
	int fd = openat(t->fd, "big", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	free(data);
	snprintf(path, sizeof path, "%s/big", t->path);
	snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%64s", want), 1);
	assert_int_equal(pclose(p), 0);
	assert_int_equal(lb_fd_sha256(fd, hex), 0); /* offset at the end */
	assert_string_equal(hex, want);
	assert_int_equal(lseek(fd, 1000, SEEK_SET), 1000);
	assert_int_equal(lb_fd_sha256(fd, hex), 0);
	assert_string_equal(hex, want);
	close(fd);

	/* through the root */
	struct lb_dircache c;
	lb_dircache_init(&c, t->fd);
	fd = lb_root_open_read(&c, "a/escape/big");
	assert_true(fd >= 0);
	assert_int_equal(lb_fd_sha256(fd, hex), 0);
	assert_string_equal(hex, want);
	close(fd);
	lb_dircache_close(&c);

	/* not readable */
	fd = openat(t->fd, "a", O_PATH | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lb_fd_sha256(fd, hex), -EBADF);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resolve_without_openat2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dircache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sha256, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
