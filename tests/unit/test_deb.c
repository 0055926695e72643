/* SPDX-License-Identifier: MIT */
/* lb_deb_read: real packages built by dpkg-deb and hand-made/malicious ones built
 * by python3 (tests/unit/mkdebs.sh) in a temporary directory at run time. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "deb.h"

#define UNUSED __attribute__((unused))

static char dir[] = "/tmp/lb-test-deb.XXXXXX";

static const char *fx(const char *name)
{
	static char p[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
	return p[i];
}

static int setup(void **state UNUSED)
{
	char cmd[PATH_MAX * 2], script[PATH_MAX];
	const char *slash = strrchr(__FILE__, '/');

	if (!mkdtemp(dir))
		return -1;
	/* next to this source file, as compiled (from the top of the tree), or
	 * under $LB_SRCDIR when run from elsewhere */
	if (getenv("LB_SRCDIR"))
		snprintf(script, sizeof script, "%s/tests/unit/mkdebs.sh", getenv("LB_SRCDIR"));
	else
		snprintf(script, sizeof script, "%.*smkdebs.sh",
		         slash ? (int)(slash - __FILE__ + 1) : 0, __FILE__);
	snprintf(cmd, sizeof cmd, "sh '%s' '%s'", script, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "fixtures: '%s' failed\n", cmd);
		return -1;
	}
	return 0;
}

static int teardown(void **state UNUSED)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* What the callback saw. */
struct seen {
	char path[256];
	enum lb_ftype type;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	long long mtime;
	unsigned long long size, nread;
	char link[256];
	dev_t rdev;
	unsigned char md[32]; /* sha256 of the content read */
	char head[32];        /* its first bytes */
};

struct walk {
	struct seen e[64];
	size_t n;
	const char *partial; /* read only 1000 bytes of this path */
	size_t stop_at;      /* return stop_rc at this entry (if stop_rc) */
	int stop_rc;
};

static int collect(void *ctx, const struct lb_deb_entry *e, struct lb_deb_reader *r)
{
	struct walk *w = ctx;
	struct seen *s = &w->e[w->n < 64 ? w->n : 63];
	crypto_hash_sha256_state st;
	char buf[7000];
	ssize_t n;
	size_t max = w->partial && !strcmp(e->path, w->partial) ? 1000 : SIZE_MAX;

	if (w->stop_rc && w->n == w->stop_at) {
		w->n++;
		return w->stop_rc;
	}
	memset(s, 0, sizeof *s);
	snprintf(s->path, sizeof s->path, "%s", e->path);
	snprintf(s->link, sizeof s->link, "%s", e->link ? e->link : "");
	s->type = e->type;
	s->mode = e->mode;
	s->uid = e->uid;
	s->gid = e->gid;
	s->mtime = e->mtime;
	s->size = e->size;
	s->rdev = e->rdev;
	crypto_hash_sha256_init(&st);
	while (s->nread < max &&
	       (n = lb_deb_data_read(
	            r, buf, max - s->nread < sizeof buf ? max - s->nread : sizeof buf)) > 0) {
		if (s->nread < sizeof s->head - 1)
			memcpy(s->head + s->nread, buf,
			       (size_t)n < sizeof s->head - 1 - s->nread
			           ? (size_t)n
			           : sizeof s->head - 1 - s->nread);
		crypto_hash_sha256_update(&st, (unsigned char *)buf, (size_t)n);
		s->nread += (size_t)n;
	}
	crypto_hash_sha256_final(&st, s->md);
	w->n++;
	return 0;
}

static int run_fd(int fd, struct lb_deb_meta *m, struct walk *w, char *sha, unsigned long long *sz)
{
	lb_err_clear();
	return lb_deb_read(fd, m, w ? collect : NULL, w, sha, sz);
}

static int run(const char *name, struct lb_deb_meta *m, struct walk *w, char *sha,
               unsigned long long *sz)
{
	int fd = open(fx(name), O_RDONLY | O_CLOEXEC), rc;

	assert_true(fd >= 0);
	rc = run_fd(fd, m, w, sha, sz);
	close(fd);
	return rc;
}

static const struct seen *find(const struct walk *w, const char *path)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->e[i].path, path))
			return &w->e[i];
	fail_msg("entry '%s' not reported", path);
	return NULL;
}

static void file_sha(const char *path, unsigned char md[32])
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		crypto_hash_sha256_update(&st, buf, (size_t)n);
	crypto_hash_sha256_final(&st, md);
	close(fd);
}

static void sha256sum(const char *path, char hex[65])
{
	char cmd[PATH_MAX * 2 + 32];
	FILE *f;

	snprintf(cmd, sizeof cmd, "sha256sum '%s' > '%s.sum'", path, path);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "%s.sum", path);
	f = fopen(cmd, "re");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%64s", hex), 1);
	fclose(f);
}

/* ---- lb_deb_normalize_path ---- */

static void test_normalize(void **state UNUSED)
{
	static const struct {
		const char *in, *out;
		int rc;
	} t[] = {
	    {"./usr/bin/x", "usr/bin/x", 0},
	    {"usr/bin/x", "usr/bin/x", 0},
	    {"./usr/", "usr", 0},
	    {"a", "a", 0},
	    {"./.hidden", ".hidden", 0},
	    {"./a..b/..c/...", "a..b/..c/...", 0},
	    {"./", NULL, 1},
	    {".", NULL, 1},
	    {"", NULL, -LBE_UNSAFE},
	    {"/", NULL, -LBE_UNSAFE},
	    {"/etc/passwd", NULL, -LBE_UNSAFE},
	    {".//etc", NULL, -LBE_UNSAFE},
	    {"../etc/passwd", NULL, -LBE_UNSAFE},
	    {"./..", NULL, -LBE_UNSAFE},
	    {"..", NULL, -LBE_UNSAFE},
	    {"a/../b", NULL, -LBE_UNSAFE},
	    {"a/..", NULL, -LBE_UNSAFE},
	    {"a/./b", NULL, -LBE_UNSAFE},
	    {"././a", NULL, -LBE_UNSAFE},
	    {"a/.", NULL, -LBE_UNSAFE},
	    {"a//b", NULL, -LBE_UNSAFE},
	    {"a//", NULL, -LBE_UNSAFE},
	    {"a\nb", NULL, -LBE_UNSAFE},
	    {"./a\n", NULL, -LBE_UNSAFE},
	};
	char out[LB_DEB_MAX_PATH + 1], longp[LB_DEB_MAX_PATH + 8];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int rc = lb_deb_normalize_path(t[i].in, out, sizeof out);
		if (rc != t[i].rc)
			fail_msg("'%s': rc %d, want %d", t[i].in, rc, t[i].rc);
		if (t[i].out)
			assert_string_equal(out, t[i].out);
	}
	assert_int_equal(lb_deb_normalize_path("../x", out, sizeof out), -LBE_UNSAFE);
	assert_non_null(strstr(lb_err_msg(), "'../x' escapes the root"));
	/* length bound: LB_DEB_MAX_PATH is fine, one more is not */
	memset(longp, 'a', sizeof longp);
	memcpy(longp, "./", 2);
	longp[2 + LB_DEB_MAX_PATH] = 0;
	assert_int_equal(lb_deb_normalize_path(longp, out, sizeof out), 0);
	assert_int_equal(strlen(out), LB_DEB_MAX_PATH);
	longp[2 + LB_DEB_MAX_PATH] = 'a';
	longp[3 + LB_DEB_MAX_PATH] = 0;
	assert_int_equal(lb_deb_normalize_path(longp, out, sizeof out), -LBE_UNSAFE);
	assert_int_equal(lb_deb_normalize_path("./abcdef", out, 4), -LBE_UNSAFE);
	assert_int_equal(lb_script_names[LB_POSTRM][4], 'r');
	assert_string_equal(lb_script_names[LB_PREINST], "preinst");
}

/* ---- real packages, each compression ---- */

static const char *const full_debs[] = {"full-gzip.deb", "full-xz.deb", "full-zstd.deb",
                                        "full-none.deb"};

static void check_full(const char *name, const char *partial)
{
	struct lb_deb_meta m;
	struct walk w = {.partial = partial};
	char sha[65], want[65];
	unsigned long long size;
	unsigned char md[32];
	const struct seen *s;
	struct stat st;

	if (run(name, &m, &w, sha, &size))
		fail_msg("%s: %s", name, lb_err_msg());
	assert_non_null(strstr(m.control, "Package: t\nVersion: 1.0-1\n"));
	assert_int_equal(m.control_len, strlen(m.control));
	assert_string_equal(m.conffiles, "/etc/t.conf\n");
	assert_int_equal(m.conffiles_len, 12);
	for (int i = 0; i < LB_NSCRIPTS; i++) {
		char text[64];
		snprintf(text, sizeof text, "#!/bin/sh\necho %s\n", lb_script_names[i]);
		assert_string_equal(m.script[i], text);
		assert_int_equal(m.script_len[i], strlen(text));
	}
	lb_deb_meta_free(&m);
	assert_null(m.control);

	sha256sum(fx(name), want);
	assert_string_equal(sha, want);
	assert_int_equal(stat(fx(name), &st), 0);
	assert_int_equal(size, (unsigned long long)st.st_size);

	for (size_t i = 0; i < w.n; i++) {
		assert_int_equal(w.e[i].uid, 0);
		assert_int_equal(w.e[i].gid, 0);
		assert_int_equal(w.e[i].mtime, 1600000000);
		assert_true(w.e[i].path[0] != '.' && w.e[i].path[0] != '/');
	}
	assert_int_equal(find(&w, "etc")->type, LB_FT_DIR);
	s = find(&w, "etc/t.conf");
	assert_int_equal(s->type, LB_FT_REG);
	assert_int_equal(s->mode, 0644);
	assert_int_equal(s->size, 10);
	assert_string_equal(s->head, "key=value\n");
	s = find(&w, "usr/bin/hello");
	assert_int_equal(s->type, LB_FT_REG);
	assert_int_equal(s->mode, 0755);
	assert_string_equal(s->head, "#!/bin/sh\necho hello\n");
	s = find(&w, "usr/bin/hello2");
	assert_int_equal(s->type, LB_FT_HARDLINK);
	assert_string_equal(s->link, "usr/bin/hello");
	assert_int_equal(s->nread, 0);
	s = find(&w, "usr/bin/hi");
	assert_int_equal(s->type, LB_FT_SYMLINK);
	assert_string_equal(s->link, "hello");
	s = find(&w, "var/lib/t");
	assert_int_equal(s->type, LB_FT_DIR);
	assert_int_equal(s->mode, 02775);
	s = find(&w, "usr/share/t/big");
	assert_int_equal(s->size, 1572864 + 123);
	if (partial) {
		assert_int_equal(s->nread, 1000);
	} else {
		assert_int_equal(s->nread, s->size);
		file_sha(fx("root/usr/share/t/big"), md);
		assert_memory_equal(s->md, md, 32);
	}
	s = find(&w, "usr/share/t/zz");
	assert_string_equal(s->head, "after big\n");
	assert_int_equal(s->nread, 10);
}

static void test_compressions(void **state UNUSED)
{
	for (size_t i = 0; i < sizeof full_debs / sizeof full_debs[0]; i++)
		check_full(full_debs[i], NULL);
}

static void test_partial_read(void **state UNUSED)
{
	for (size_t i = 0; i < sizeof full_debs / sizeof full_debs[0]; i++)
		check_full(full_debs[i], "usr/share/t/big");
}

/* The content hash of the deb fixture name (walking with w, or without a callback). */
static void content_of(const char *name, struct walk *w, char out[65])
{
	int fd = open(fx(name), O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lb_deb_read_content(fd, NULL, w ? collect : NULL, w, NULL, NULL, out), 0);
	close(fd);
}

/* A member of an ar file, read whole into a malloc'd buffer. */
static unsigned char *member(const char *name, const char *prefix, char mname[17], size_t *len)
{
	int fd = open(fx(name), O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	char h[60];
	off_t off = 8;
	unsigned char *data = NULL;
	while (pread(fd, h, 60, off) == 60) {
		size_t sz = strtoul(h + 48, NULL, 10), nl = 16;
		while (nl && (h[nl - 1] == ' ' || h[nl - 1] == '/'))
			nl--;
		if (!strncmp(h, prefix, strlen(prefix))) {
			memcpy(mname, h, nl);
			mname[nl] = 0;
			data = malloc(sz);
			assert_int_equal(pread(fd, data, sz, off + 60), (ssize_t)sz);
			*len = sz;
			break;
		}
		off += 60 + (off_t)sz + (off_t)(sz & 1);
	}
	close(fd);
	assert_non_null(data);
	return data;
}

static void ar_put(FILE *f, const char *name, const void *data, size_t len)
{
	fprintf(f, "%-16s%-12d%-6d%-6d%-8s%-10zu`\n", name, 0, 0, 0, "100644", len);
	fwrite(data, 1, len, f);
	if (len & 1)
		fputc('\n', f);
}

/* The content hash follows what the package installs, not how data.tar is
 * compressed; the callback reading part of a file changes nothing; another
 * package has another hash, and the raw sha256 differs where the content's
 * does not. */
static void test_content_hash(void **state UNUSED)
{
	char a[65], b[65], c[65], raw_a[65], raw_b[65];
	content_of("full-gzip.deb", NULL, a);
	struct walk w = {.partial = "usr/share/t/big"};
	content_of("full-gzip.deb", &w, b);
	assert_string_equal(a, b);
	/* full-gzip's control member with full-xz's data member */
	char cname[17], dname[17];
	size_t clen, dlen;
	unsigned char *ctl = member("full-gzip.deb", "control.tar", cname, &clen);
	unsigned char *data = member("full-xz.deb", "data.tar", dname, &dlen);
	FILE *f = fopen(fx("mixed.deb"), "w");
	assert_non_null(f);
	fputs("!<arch>\n", f);
	ar_put(f, "debian-binary", "2.0\n", 4);
	ar_put(f, cname, ctl, clen);
	ar_put(f, dname, data, dlen);
	assert_int_equal(fclose(f), 0);
	free(ctl);
	free(data);
	content_of("mixed.deb", NULL, c);
	assert_string_equal(a, c);
	assert_int_equal(run("full-gzip.deb", NULL, NULL, raw_a, NULL), 0);
	assert_int_equal(run("mixed.deb", NULL, NULL, raw_b, NULL), 0);
	assert_string_not_equal(raw_a, raw_b);
	content_of("small-gzip.deb", NULL, c);
	assert_string_not_equal(a, c);
	/* plain lb_deb_read is the same walk */
	assert_int_equal(run("full-gzip.deb", NULL, NULL, raw_b, NULL), 0);
	assert_string_equal(raw_a, raw_b);
}

/* Same hash and size whatever the caller asks for. */
static void test_no_fn_no_meta(void **state UNUSED)
{
	char a[65], b[65];
	unsigned long long sa, sb;
	struct lb_deb_meta m;

	assert_int_equal(run("full-xz.deb", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(run("full-xz.deb", NULL, NULL, a, &sa), 0);
	assert_int_equal(run("full-xz.deb", &m, NULL, b, &sb), 0);
	assert_non_null(m.control);
	lb_deb_meta_free(&m);
	lb_deb_meta_free(&m);
	lb_deb_meta_free(NULL);
	assert_string_equal(a, b);
	assert_int_equal(sa, sb);
}

/* ---- hand-made packages: every entry type, exact attributes ---- */

static void check_types(const char *name)
{
	struct lb_deb_meta m;
	struct walk w = {0};
	const struct seen *s;
	char sha[65], want[65];

	if (run(name, &m, &w, sha, NULL))
		fail_msg("%s: %s", name, lb_err_msg());
	assert_string_equal(m.control,
	                    "Package: p\nVersion: 1\nArchitecture: all\nDescription: p\n");
	assert_null(m.conffiles);
	lb_deb_meta_free(&m);
	sha256sum(fx(name), want);
	assert_string_equal(sha, want);
	assert_int_equal(w.n, 8); /* the root "./" is not reported */

	s = find(&w, "d");
	assert_int_equal(s->type, LB_FT_DIR);
	assert_int_equal(s->mode, 02755);
	assert_int_equal(s->uid, 1000);
	assert_int_equal(s->gid, 1001);
	assert_int_equal(s->mtime, 1234567890);
	s = find(&w, "d/f");
	assert_int_equal(s->type, LB_FT_REG);
	assert_int_equal(s->mode, 04755);
	assert_int_equal(s->uid, 5);
	assert_int_equal(s->gid, 6);
	assert_int_equal(s->mtime, 1700000000);
	assert_int_equal(s->size, 3);
	assert_string_equal(s->head, "abc");
	s = find(&w, "d/l");
	assert_int_equal(s->type, LB_FT_SYMLINK);
	assert_string_equal(s->link, "../x/y");
	s = find(&w, "d/h");
	assert_int_equal(s->type, LB_FT_HARDLINK);
	assert_string_equal(s->link, "d/f");
	s = find(&w, "d/c");
	assert_int_equal(s->type, LB_FT_CHR);
	assert_int_equal(s->mode, 0620);
	assert_int_equal(major(s->rdev), 4);
	assert_int_equal(minor(s->rdev), 64);
	s = find(&w, "d/b");
	assert_int_equal(s->type, LB_FT_BLK);
	assert_int_equal(major(s->rdev), 8);
	assert_int_equal(minor(s->rdev), 1);
	s = find(&w, "d/p");
	assert_int_equal(s->type, LB_FT_FIFO);
	assert_int_equal(s->mode, 0600);
	assert_int_equal(s->uid, 65534);
	s = find(&w, "d/e");
	assert_int_equal(s->type, LB_FT_REG);
	assert_int_equal(s->mode, 01777);
	assert_int_equal(s->size, 0);
	assert_int_equal(s->nread, 0);
}

static void test_types(void **state UNUSED)
{
	static const char *const names[] = {
	    "py-types.deb",     "py-types-bz2.deb",  "py-types-gz.deb",     "py-types-none.deb",
	    "py-types-pax.deb", "py-control-xz.deb", "py-control-none.deb", "py-underscore.deb"};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		check_types(names[i]);
}

static void test_scripts_xz_none(void **state UNUSED)
{
	static const char *const names[] = {"py-control-xz.deb", "py-control-none.deb"};

	for (size_t i = 0; i < 2; i++) {
		struct lb_deb_meta m;
		assert_int_equal(run(names[i], &m, NULL, NULL, NULL), 0);
		assert_string_equal(m.script[LB_PRERM], "#!/bin/sh\nprerm\n");
		assert_int_equal(m.script_len[LB_POSTINST], 19);
		lb_deb_meta_free(&m);
	}
}

static void test_non_ascii(void **state UNUSED)
{
	static const char *const names[] = {"py-utf8-pax.deb", "py-utf8-gnu.deb"};

	for (size_t i = 0; i < 2; i++) {
		struct walk w = {0};
		assert_int_equal(run(names[i], NULL, &w, NULL, NULL), 0);
		assert_int_equal(w.n, 1);
		assert_string_equal(w.e[0].path, "\xc3\xa9t\xc3\xa9/caf\xc3\xa9");
		assert_string_equal(w.e[0].head, "ab");
	}
}

/* libarchive's tar reader maps a socket mode and unknown type flags to regular
 * files; whatever it does, a socket must never reach the caller. */
static void test_socket_never_reported(void **state UNUSED)
{
	static const char *const names[] = {"py-socket.deb", "py-unknown-type.deb"};

	for (size_t i = 0; i < 2; i++) {
		struct walk w = {0};
		int rc = run(names[i], NULL, &w, NULL, NULL);
		if (rc) {
			assert_int_equal(rc, -LBE_UNSAFE);
			continue;
		}
		assert_int_equal(w.n, 1);
		assert_int_equal(w.e[0].type, LB_FT_REG);
		assert_true(w.e[0].mode <= 07777);
	}
}

/* ---- errors ---- */

static void test_errors(void **state UNUSED)
{
	static const struct {
		const char *name;
		int rc;
		const char *msg;
	} t[] = {
	    {"py-not-ar.deb", -LBE_DEB, "not a .deb"},
	    {"py-no-debian-binary.deb", -LBE_DEB, "debian-binary: missing"},
	    {"py-bad-version.deb", -LBE_DEB, "debian-binary: unsupported format version '3.0'"},
	    {"py-no-control.deb", -LBE_DEB, "data.tar.xz: unexpected member, expected control.tar"},
	    {"py-no-data.deb", -LBE_DEB, "data.tar missing"},
	    {"py-order.deb", -LBE_DEB, "expected control.tar"},
	    {"py-unknown-member.deb", -LBE_DEB, "foo: unexpected member"},
	    {"py-after-data.deb", -LBE_DEB, "extra: unexpected member after data.tar"},
	    {"py-control-bz2.deb", -LBE_DEB, "control.tar.bz2: unsupported compression"},
	    {"py-data-lzma.deb", -LBE_DEB, "data.tar.lzma: unsupported compression"},
	    {"py-wrong-compression.deb", -LBE_DEB, "data.tar.xz: "},
	    {"py-control-missing.deb", -LBE_DEB, "control.tar.gz: member 'control' missing"},
	    {"py-control-dup.deb", -LBE_DEB, "duplicate member 'control'"},
	    {"py-control-symlink.deb", -LBE_DEB, "'control' is not a regular file"},
	    {"py-control-huge.deb", -LBE_DEB, "'control' is larger than"},
	    {"py-control-bomb.deb", -LBE_DEB, "control.tar.gz: members exceed"},
	    {"py-control-not-tar.deb", -LBE_DEB, "control.tar.gz: "},
	    {"py-data-empty.deb", -LBE_DEB, "data.tar.xz: "},
	    {"py-dotdot.deb", -LBE_UNSAFE, "data.tar.xz: '../etc/passwd' escapes the root"},
	    {"py-dotdot-mid.deb", -LBE_UNSAFE, "'./a/../b' has a '..' component"},
	    {"py-absolute.deb", -LBE_UNSAFE, "'/etc/passwd' is absolute"},
	    {"py-newline.deb", -LBE_UNSAFE, "'./a?b' contains a newline"},
	    {"py-dot.deb", -LBE_UNSAFE, "has a '.' component"},
	    {"py-empty-component.deb", -LBE_UNSAFE, "has an empty component"},
	    {"py-hardlink-escape.deb", -LBE_UNSAFE,
	     "hard link 'a': '../etc/shadow' escapes the root"},
	    {"py-hardlink-root.deb", -LBE_UNSAFE, "hard link 'a' to the root"},
	    {"py-root-file.deb", -LBE_UNSAFE, "'.' is the root but not a directory"},
	    {"py-root-damaged.deb", -LBE_DEB, "data.tar.xz: "},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct lb_deb_meta m;
		struct walk w = {0};
		char sha[65] = "unchanged";
		int rc = run(t[i].name, &m, &w, sha, NULL);

		if (rc != t[i].rc || !strstr(lb_err_msg(), t[i].msg))
			fail_msg("%s: rc %d '%s', want %d '%s'", t[i].name, rc, lb_err_msg(),
			         t[i].rc, t[i].msg);
		assert_null(strchr(lb_err_msg(), '\n'));
		assert_null(m.control); /* freed on error */
		assert_string_equal(sha, "unchanged");
	}
}

/* An in-memory copy of a fixture, to damage. */
static int memfd_of(const char *name, size_t *len)
{
	int in = open(fx(name), O_RDONLY | O_CLOEXEC), fd = memfd_create("deb", MFD_CLOEXEC);
	char buf[65536];
	ssize_t n;

	assert_true(in >= 0 && fd >= 0);
	*len = 0;
	while ((n = read(in, buf, sizeof buf)) > 0) {
		assert_int_equal(write(fd, buf, (size_t)n), n);
		*len += (size_t)n;
	}
	close(in);
	return fd;
}

static void test_trailing_garbage(void **state UNUSED)
{
	size_t len;
	int fd = memfd_of("small-gzip.deb", &len);

	assert_int_equal(pwrite(fd, "\n", 1, (off_t)len), 1);
	assert_int_equal(run_fd(fd, NULL, NULL, NULL, NULL), -LBE_DEB);
	assert_int_equal(pwrite(fd,
	                        "garbage garbage garbage garbage garbage garbage garbage "
	                        "garbage garbage garbage",
	                        79, (off_t)len),
	                 79);
	assert_int_equal(run_fd(fd, NULL, NULL, NULL, NULL), -LBE_DEB);
	close(fd);
}

/* Every truncation of a small package fails, whatever the compression. */
static void test_truncation_every_offset(void **state UNUSED)
{
	static const char *const names[] = {"small-gzip.deb", "small-xz.deb", "small-zstd.deb",
	                                    "small-none.deb", "py-types-bz2.deb"};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t len;
		int fd = memfd_of(names[i], &len);

		assert_int_equal(run_fd(fd, NULL, NULL, NULL, NULL), 0);
		for (size_t l = len; l-- > 0;) {
			struct walk w = {0};
			int rc;
			/* keep uncompressed small-none.deb (20 KiB) quick */
			if (l > 2048 && l + 1024 < len && l % 61)
				continue;
			assert_int_equal(ftruncate(fd, (off_t)l), 0);
			rc = run_fd(fd, NULL, &w, NULL, NULL);
			if (rc != -LBE_DEB)
				fail_msg("%s cut at %zu: rc %d '%s'", names[i], l, rc,
				         lb_err_msg());
		}
		close(fd);
	}
}

/* Larger packages at a few offsets (and the message says "truncated"). */
static void test_truncation_large(void **state UNUSED)
{
	for (size_t i = 0; i < sizeof full_debs / sizeof full_debs[0]; i++) {
		size_t len;
		int fd = memfd_of(full_debs[i], &len);

		for (size_t k = 24; k >= 1; k--) { /* shrinking only: no zero fill */
			size_t l = k == 24 ? len - 1 : len * k / 24 + k;
			struct walk w = {0};
			int rc;
			assert_int_equal(ftruncate(fd, (off_t)l), 0);
			rc = run_fd(fd, NULL, &w, NULL, NULL);
			if (rc != -LBE_DEB)
				fail_msg("%s cut at %zu: rc %d '%s'", full_debs[i], l, rc,
				         lb_err_msg());
			if (l > 2000 && !strstr(lb_err_msg(), "truncated"))
				fail_msg("%s cut at %zu: '%s'", full_debs[i], l, lb_err_msg());
		}
		close(fd);
	}
}

/* Offset and size of the ar member called name. */
static void member_span(int fd, size_t len, const char *name, size_t *off, size_t *size)
{
	size_t pos = 8;
	char h[61];

	while (pos + 60 <= len) {
		assert_int_equal(pread(fd, h, 60, (off_t)pos), 60);
		h[60] = 0;
		*size = strtoull(h + 48, NULL, 10);
		if (!strncmp(h, name, strlen(name))) {
			*off = pos + 60;
			return;
		}
		pos += 60 + *size + (*size & 1);
	}
	fail_msg("member %s not found", name);
}

/* A damaged byte anywhere in a checksummed compressed stream is an error (the
 * decompressed stream is read to its end so that the trailer is checked). */
static void test_corrupt_byte(void **state UNUSED)
{
	static const struct {
		const char *name, *member;
		size_t skip;
	} t[] = {
	    {"full-gzip.deb", "data.tar.gz", 10}, /* gzip header mtime/os: not checked */
	    {"full-xz.deb", "data.tar.xz", 0},
	    {"small-gzip.deb", "control.tar.gz", 10},
	    {"small-xz.deb", "data.tar.xz", 0},
	    {"full-zstd.deb", "data.tar.zst", 0}, /* dpkg-deb writes zstd checksums */
	    /* not bzip2: some bits of its Huffman tables are unused */
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t len, off, size;
		int fd = memfd_of(t[i].name, &len);

		member_span(fd, len, t[i].member, &off, &size);
		size_t spread = size > 100000 ? 16 : 40;

		for (size_t k = 0; k < spread + 8; k++) { /* spread out, then the last 8 */
			size_t p = k < spread ? off + t[i].skip + (size - t[i].skip) * k / spread
			                      : off + size - (k - spread + 1);
			unsigned char c, x;
			int rc;
			assert_int_equal(pread(fd, &c, 1, (off_t)p), 1);
			x = c ^ 0x55;
			assert_int_equal(pwrite(fd, &x, 1, (off_t)p), 1);
			rc = run_fd(fd, NULL, NULL, NULL, NULL);
			if (rc >= 0)
				fail_msg("%s: byte %zu of %s damaged: not detected", t[i].name,
				         p - off, t[i].member);
			assert_int_equal(pwrite(fd, &c, 1, (off_t)p), 1);
		}
		assert_int_equal(run_fd(fd, NULL, NULL, NULL, NULL), 0);
		close(fd);
	}
}

/* ---- the callback ---- */

static void test_callback_stops(void **state UNUSED)
{
	struct walk w = {.stop_at = 2, .stop_rc = 42};
	struct lb_deb_meta m;
	char sha[65] = "x";

	assert_int_equal(run("py-types.deb", &m, &w, sha, NULL), 42);
	assert_int_equal(w.n, 3);
	assert_string_equal(sha, "x");
	memset(&w, 0, sizeof w);
	w.stop_at = 0;
	w.stop_rc = -EIO;
	assert_int_equal(run("full-zstd.deb", NULL, &w, NULL, NULL), -EIO);
	assert_int_equal(w.n, 1);
}

static int read_after_end(void *ctx, const struct lb_deb_entry *e, struct lb_deb_reader *r)
{
	char buf[16];

	if (e->type != LB_FT_REG)
		assert_int_equal(lb_deb_data_read(r, buf, sizeof buf), 0);
	while (lb_deb_data_read(r, buf, sizeof buf) > 0)
		;
	assert_int_equal(lb_deb_data_read(r, buf, sizeof buf), 0);
	assert_int_equal(lb_deb_data_read(r, buf, 0), 0);
	++*(int *)ctx;
	return 0;
}

static void test_data_read_edges(void **state UNUSED)
{
	int fd = open(fx("py-types.deb"), O_RDONLY | O_CLOEXEC), n = 0;

	assert_int_equal(lb_deb_read(fd, NULL, read_after_end, &n, NULL, NULL), 0);
	assert_int_equal(n, 8);
	close(fd);
}

/* A damaged data stream seen through lb_deb_data_read fails even if the
 * callback ignores the error. */
static int ignore_errors(void *ctx, const struct lb_deb_entry *e UNUSED, struct lb_deb_reader *r)
{
	char buf[4096];
	ssize_t n;

	while ((n = lb_deb_data_read(r, buf, sizeof buf)) > 0)
		;
	if (n < 0)
		++*(int *)ctx;
	return 0;
}

static void test_data_read_error_sticky(void **state UNUSED)
{
	size_t len, off, size;
	int fd = memfd_of("full-xz.deb", &len), errs = 0;
	unsigned char x = 0;

	member_span(fd, len, "data.tar.xz", &off, &size);
	assert_int_equal(pwrite(fd, &x, 1, (off_t)(off + size / 2)), 1);
	assert_int_equal(lb_deb_read(fd, NULL, ignore_errors, &errs, NULL, NULL), -LBE_DEB);
	assert_int_equal(errs, 1);
	assert_non_null(strstr(lb_err_msg(), "data.tar.xz: 'usr/share/t/big': "));
	close(fd);
}

static void test_io_errors(void **state UNUSED)
{
	int p[2], d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_int_equal(lb_deb_read(d, NULL, NULL, NULL, NULL, NULL), -EISDIR);
	close(d);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(lb_deb_read(p[0], NULL, NULL, NULL, NULL, NULL), -ESPIPE);
	close(p[0]);
	close(p[1]);
	assert_int_equal(lb_deb_read(p[0], NULL, NULL, NULL, NULL, NULL), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_compressions),
	    cmocka_unit_test(test_partial_read),
	    cmocka_unit_test(test_no_fn_no_meta),
	    cmocka_unit_test(test_content_hash),
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_scripts_xz_none),
	    cmocka_unit_test(test_non_ascii),
	    cmocka_unit_test(test_socket_never_reported),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_trailing_garbage),
	    cmocka_unit_test(test_truncation_every_offset),
	    cmocka_unit_test(test_truncation_large),
	    cmocka_unit_test(test_corrupt_byte),
	    cmocka_unit_test(test_callback_stops),
	    cmocka_unit_test(test_data_read_edges),
	    cmocka_unit_test(test_data_read_error_sticky),
	    cmocka_unit_test(test_io_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
