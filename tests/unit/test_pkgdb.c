/* SPDX-License-Identifier: MIT */
/* The package database (STATE/db): a database built in memory is saved, loaded
 * back field by field and formatted to the same bytes; damaged and newer files
 * are refused; lookups on sorted data. */
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
#include "pkgdb.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define H1   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H2   "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define DEB  "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"

#define TDIR_NAME "pkgdb"
#include "tdir.h"

static void put(int dirfd, const char *name, const char *s)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

static char *slurp(int dirfd, const char *name, size_t *len)
{
	char *buf = NULL;
	assert_int_equal(lb_read_file(dirfd, name, 1u << 20, &buf, len), 0);
	return buf;
}

static void add_file(struct lb_dbpkg *p, char type, bool conffile, mode_t mode, uid_t uid,
                     gid_t gid, unsigned long long size, const char *digest, const char *path)
{
	struct lb_file *nf = realloc(p->files, (p->nfiles + 1) * sizeof *nf);
	assert_non_null(nf);
	p->files = nf;
	struct lb_file *f = &p->files[p->nfiles++];
	memset(f, 0, sizeof *f);
	f->type = type;
	f->conffile = conffile;
	f->mode = mode;
	f->uid = uid;
	f->gid = gid;
	f->size = size;
	f->path = strdup(path);
	f->digest = digest ? strdup(digest) : NULL;
	assert_non_null(f->path);
}

static struct lb_dbpkg *add_pkg(struct lb_db *db, const char *control)
{
	struct lb_dbpkg *np = realloc(db->pkgs, (db->n + 1) * sizeof *np);
	assert_non_null(np);
	db->pkgs = np;
	struct lb_dbpkg *p = &db->pkgs[db->n++];
	memset(p, 0, sizeof *p);
	assert_int_equal(lb_dbpkg_set_control(p, control, strlen(control)), 0);
	return p;
}

/* The control file of alpha: multi-line fields, a field whose first line is
 * empty, and reserved names that are not copied (the database has its own). */
static const char alpha_control[] = "Package: alpha\n"
                                    "Version: 1:2.0-1\n"
                                    "Architecture: amd64\n"
                                    "Maintainer: A. Person <a@example.org>\n"
                                    "Depends: beta (>= 1.0), libc6\n"
                                    "State: bogus\n"
                                    "Files: junk\n"
                                    "X-Lines:\n"
                                    " first\n"
                                    "   indented\n"
                                    "Description: short text\n"
                                    " long line\n"
                                    " .\n"
                                    " more\n";

static const char beta_control[] = "Package: beta\nVersion: 1.5\nArchitecture: all\n";

static void build(struct lb_db *db)
{
	memset(db, 0, sizeof *db);
	db->serial = 42;
	/* beta first: lb_db_sort puts it after alpha */
	struct lb_dbpkg *b = add_pkg(db, beta_control);
	b->state = LB_ST_UNPACKED;
	struct lb_dbpkg *a = add_pkg(db, alpha_control);
	a->state = LB_ST_INSTALLED;
	memcpy(a->deb_sha256, DEB, 65);
	a->config_version = strdup("1:1.9-2");
	assert_non_null(a->config_version);
	memcpy(a->script[LB_PREINST], "0123456789abcdef", LB_SCRIPT_ID_LEN + 1);
	memcpy(a->script[LB_POSTRM], "fedcba9876543210", LB_SCRIPT_ID_LEN + 1);
	/* unsorted: lb_dbpkg_sort_files sorts them */
	add_file(a, 'f', false, 04755, 0, 0, 100, H1, "usr/bin/alpha");
	add_file(a, 'l', false, 0777, 0, 0, 0, "../share/my target", "usr/bin/link to");
	add_file(a, 'f', true, 0644, 0, 0, 12, H2, "etc/alpha.conf");
	add_file(a, 'd', false, 0755, 0, 0, 0, NULL, "etc");
	add_file(a, 'b', false, 0660, 0, 6, 0, "8,1", "dev/sda1");
	add_file(a, 'c', false, 0666, 0, 0, 0, "1,3", "dev/null");
	add_file(a, 'p', false, 0600, 1000, 1000, 0, NULL, "run/fifo");
	add_file(a, 'f', false, 0400, 4294967294u, 7, 18446744073709551615ull, H1,
	         "usr/share/100%\n\xff\t");
	add_file(a, 'l', false, 0777, 0, 0, 0, "/abs%target\n", "usr/lib/x");
	lb_dbpkg_sort_files(a);
	lb_db_sort(db);
}

/* What lb_db_format must write for build(). */
static const char expected[] =
    "Lifeboat-Db: 1\n"
    "Serial: 42\n"
    "\n"
    "Package: alpha\n"
    "Version: 1:2.0-1\n"
    "Architecture: amd64\n"
    "Maintainer: A. Person <a@example.org>\n"
    "Depends: beta (>= 1.0), libc6\n"
    "X-Lines:\n"
    " first\n"
    "   indented\n"
    "Description: short text\n"
    " long line\n"
    " .\n"
    " more\n"
    "State: installed\n"
    "Config-Version: 1:1.9-2\n"
    "Deb-Sha256: " DEB "\n"
    "Scripts: preinst=0123456789abcdef postrm=fedcba9876543210\n"
    "Files:\n"
    " c 666 0 0 0 1,3 dev/null\n"
    " b 660 0 6 0 8,1 dev/sda1\n"
    " d 755 0 0 0 - etc\n"
    " fc 644 0 0 12 " H2 " etc/alpha.conf\n"
    " p 600 1000 1000 0 - run/fifo\n"
    " f 4755 0 0 100 " H1 " usr/bin/alpha\n"
    " l 777 0 0 0 ../share/my%20target usr/bin/link%20to\n"
    " l 777 0 0 0 /abs%25target%0A usr/lib/x\n"
    " f 400 4294967294 7 18446744073709551615 " H1 " usr/share/100%25%0A%FF%09\n"
    "\n"
    "Package: beta\n"
    "Version: 1.5\n"
    "Architecture: all\n"
    "State: unpacked\n";

static void same_doc(const struct lb_doc *a, const struct lb_doc *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->paras[i].n, b->paras[i].n);
		for (size_t k = 0; k < a->paras[i].n; k++) {
			assert_string_equal(a->paras[i].fields[k].name, b->paras[i].fields[k].name);
			assert_string_equal(a->paras[i].fields[k].value,
			                    b->paras[i].fields[k].value);
		}
	}
}

static void same_pkg(const struct lb_dbpkg *a, const struct lb_dbpkg *b)
{
	assert_string_equal(a->info.name, b->info.name);
	assert_string_equal(a->info.version, b->info.version);
	assert_string_equal(a->info.arch, b->info.arch);
	assert_int_equal(a->info.depends.n, b->info.depends.n);
	same_doc(&a->control, &b->control);
	assert_int_equal(a->state, b->state);
	assert_string_equal(a->deb_sha256, b->deb_sha256);
	if (a->config_version || b->config_version) {
		assert_non_null(a->config_version);
		assert_non_null(b->config_version);
		assert_string_equal(a->config_version, b->config_version);
	}
	for (int s = 0; s < LB_NSCRIPTS; s++)
		assert_string_equal(a->script[s], b->script[s]);
	assert_int_equal(a->nfiles, b->nfiles);
	for (size_t i = 0; i < a->nfiles; i++) {
		const struct lb_file *f = &a->files[i], *g = &b->files[i];
		assert_string_equal(f->path, g->path);
		assert_int_equal(f->type, g->type);
		assert_int_equal(f->conffile, g->conffile);
		assert_int_equal(f->mode, g->mode);
		assert_int_equal(f->uid, g->uid);
		assert_int_equal(f->gid, g->gid);
		assert_int_equal(f->size, g->size);
		if (f->digest || g->digest) {
			assert_non_null(f->digest);
			assert_non_null(g->digest);
			assert_string_equal(f->digest, g->digest);
		}
	}
}

static void test_round_trip(void **state)
{
	struct tdir *t = *state;
	struct lb_db db, back;
	char *text, *text2, *disk;
	size_t len, len2, dlen;
	struct stat st;

	build(&db);
	/* the control copy leaves out the reserved names */
	const struct lb_dbpkg *a = lb_db_find(&db, "alpha");
	assert_non_null(a);
	assert_null(lb_para_get(&a->control.paras[0], "State"));
	assert_null(lb_para_get(&a->control.paras[0], "Files"));
	assert_string_equal(lb_para_get(&a->control.paras[0], "Description"),
	                    "short text\nlong line\n\nmore");

	assert_int_equal(lb_db_format(&db, &text, &len), 0);
	assert_int_equal(len, strlen(text));
	if (strcmp(text, expected))
		fail_msg("formatted:\n%s\nexpected:\n%s", text, expected);

	assert_int_equal(lb_db_save(t->fd, &db), 0);
	assert_int_equal(faccessat(t->fd, LB_DB_FILE ".lb-tmp", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(fstatat(t->fd, LB_DB_FILE, &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	disk = slurp(t->fd, LB_DB_FILE, &dlen);
	assert_int_equal(dlen, len);
	assert_memory_equal(disk, text, len);
	free(disk);

	assert_int_equal(lb_db_load(t->fd, LB_DB_FILE, &back), 0);
	assert_int_equal(back.serial, 42);
	assert_int_equal(back.n, db.n);
	for (size_t i = 0; i < db.n; i++)
		same_pkg(&db.pkgs[i], &back.pkgs[i]);
	const struct lb_dbpkg *la = lb_db_find(&back, "alpha");
	assert_non_null(la);
	const struct lb_file *f = lb_dbpkg_file(la, "usr/bin/link to");
	assert_non_null(f);
	assert_string_equal(f->digest, "../share/my target");
	f = lb_dbpkg_file(la, "dev/sda1");
	assert_non_null(f);
	assert_int_equal(f->type, 'b');
	assert_string_equal(f->digest, "8,1");
	f = lb_dbpkg_file(la, "etc/alpha.conf");
	assert_non_null(f);
	assert_true(f->conffile);
	f = lb_dbpkg_file(la, "etc");
	assert_non_null(f);
	assert_null(f->digest);
	assert_non_null(lb_dbpkg_file(la, "usr/share/100%\n\xff\t"));
	assert_string_equal(la->info.depends.deps[0].alts[0].name, "beta");

	assert_int_equal(lb_db_format(&back, &text2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(text2, text, len);
	free(text2);
	lb_db_free(&back);
	assert_int_equal(back.n, 0);
	assert_null(back.pkgs);

	/* the unsafe writer writes the same bytes under another name */
	assert_int_equal(lb_db_write_unsafe(t->fd, LB_DB_NEW, &db), 0);
	disk = slurp(t->fd, LB_DB_NEW, &dlen);
	assert_int_equal(dlen, len);
	assert_memory_equal(disk, text, len);
	free(disk);
	assert_int_equal(lb_db_load(t->fd, LB_DB_NEW, &back), 0);
	assert_int_equal(back.n, 2);
	lb_db_free(&back);

	free(text);
	lb_db_free(&db);
}

static void test_empty(void **state)
{
	struct tdir *t = *state;
	struct lb_db db = {.serial = 99, .n = 5};
	char *text;
	size_t len;

	/* a missing file is an empty database */
	assert_int_equal(lb_db_load(t->fd, LB_DB_FILE, &db), 0);
	assert_int_equal(db.n, 0);
	assert_int_equal(db.serial, 0);
	assert_null(db.pkgs);
	assert_null(lb_db_find(&db, "alpha"));

	/* an empty database round-trips */
	db.serial = 7;
	assert_int_equal(lb_db_format(&db, &text, &len), 0);
	assert_string_equal(text, "Lifeboat-Db: 1\nSerial: 7\n");
	free(text);
	assert_int_equal(lb_db_save(t->fd, &db), 0);
	assert_int_equal(lb_db_load(t->fd, LB_DB_FILE, &db), 0);
	assert_int_equal(db.serial, 7);
	assert_int_equal(db.n, 0);
	lb_db_free(&db);

	/* a header without Serial */
	put(t->fd, LB_DB_FILE, "Lifeboat-Db: 1\n");
	assert_int_equal(lb_db_load(t->fd, LB_DB_FILE, &db), 0);
	assert_int_equal(db.serial, 0);
	lb_db_free(&db);
}

#define HDR  "Lifeboat-Db: 1\nSerial: 1\n\n"
#define PKGA "Package: aa\nVersion: 1\nArchitecture: all\n"
#define PKGB "Package: bb\nVersion: 1\nArchitecture: all\n"
#define INST "State: installed\n"

/* Files refused, the error, and a piece of the message. */
static const struct {
	const char *text;
	int err;
	const char *msg;
} bad_cases[] = {
    {"Lifeboat-Db: 2\nSerial: 1\n", -LBE_FORMAT_VER, "format 2 is newer"},
    {"Lifeboat-Db: 99999\n", -LBE_FORMAT_VER, "newer"},
    {"Lifeboat-Db: x\n", -LBE_CORRUPT, "bad format version 'x'"},
    {"Lifeboat-Db: 0\n", -LBE_CORRUPT, "bad format version"},
    {"Lifeboat-Db: 1x\n", -LBE_CORRUPT, "bad format version"},
    {"Lifeboat-Db:\n", -LBE_CORRUPT, "bad format version"},
    {"Serial: 1\n", -LBE_CORRUPT, "no Lifeboat-Db header"},
    {"Serial: 1\n\nLifeboat-Db: 1\n", -LBE_CORRUPT, "no Lifeboat-Db header"},
    {"", -LBE_CORRUPT, "no Lifeboat-Db header"},
    {"not a control file\n", -LBE_CORRUPT, "package database db"},
    {HDR PKGA INST "\n" PKGB INST "\n" PKGA INST, -LBE_CORRUPT, "aa listed twice"},
    {HDR PKGA INST "\n" PKGA "State: unpacked\n", -LBE_CORRUPT, "aa listed twice"},
    {HDR PKGA, -LBE_CORRUPT, "package aa: bad State"},
    {HDR PKGA "State: configured\n", -LBE_CORRUPT, "package aa: bad State"},
    {HDR PKGA "State: Installed\n", -LBE_CORRUPT, "package aa: bad State"},
    {HDR PKGA "State:\n", -LBE_CORRUPT, "package aa: bad State"},
    {HDR "Version: 1\nArchitecture: all\n" INST, -LBE_CORRUPT, "Package"},
    {HDR PKGA INST "Deb-Sha256: 0123\n", -LBE_CORRUPT, "bad Deb-Sha256"},
    {HDR PKGA INST "Deb-Sha256: " DEB "0\n", -LBE_CORRUPT, "bad Deb-Sha256"},
    {HDR PKGA INST "Deb-Sha256: AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\n",
     -LBE_CORRUPT, "bad Deb-Sha256"},
    {HDR PKGA INST "Config-Version: 1:\n", -LBE_CORRUPT, "bad Config-Version"},
    {HDR PKGA INST "Config-Version: 1\n 2\n", -LBE_CORRUPT, "bad Config-Version"},
    {HDR PKGA INST "Scripts: preinst=0123\n", -LBE_CORRUPT, "bad Scripts entry"},
    {HDR PKGA INST "Scripts: preinst\n", -LBE_CORRUPT, "bad Scripts entry"},
    {HDR PKGA INST "Scripts: config=0123456789abcdef\n", -LBE_CORRUPT, "bad Scripts entry"},
    {HDR PKGA INST "Scripts: preinst=0123456789ABCDEF\n", -LBE_CORRUPT, "bad Scripts entry"},
    {HDR PKGA INST "Files:\n f 644 0 0 1 - a b\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n d 755 0 0 0 - a\n f 644 0 0 1 -\n", -LBE_CORRUPT, "bad Files line 2"},
    {HDR PKGA INST "Files:\n x 644 0 0 1 - a\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n fd 644 0 0 1 - a\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n fcc 644 0 0 1 - a\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n f 648 0 0 1 - a\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n f 644 root 0 1 - a\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n f 644 0 0x 1 - a\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n f 644 0 0 1k - a\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n f 644 0 0 99999999999999999999999 - a\n", -LBE_CORRUPT,
     "bad Files line 1"},
    {HDR PKGA INST "Files:\n f 644 0 0 1 %zz a\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n f 644 0 0 1 - a%00b\n", -LBE_CORRUPT, "bad Files line 1"},
    {HDR PKGA INST "Files:\n f 644 0 0 1 - a%\n", -LBE_CORRUPT, "bad Files line 1"},
};

static void test_bad(void **state)
{
	struct tdir *t = *state;
	int bad = 0;
	for (size_t i = 0; i < N(bad_cases); i++) {
		struct lb_db db;
		put(t->fd, LB_DB_FILE, bad_cases[i].text);
		lb_err_clear();
		int r = lb_db_load(t->fd, LB_DB_FILE, &db);
		if (r != bad_cases[i].err || !strstr(lb_err_msg(), bad_cases[i].msg)) {
			print_error("case %zu: %d '%s', want %d '%s'\n", i, r, lb_err_msg(),
			            bad_cases[i].err, bad_cases[i].msg);
			bad++;
		}
		if (r == 0)
			lb_db_free(&db);
		assert_int_equal(db.n, 0);
		assert_null(db.pkgs);
	}
	if (bad)
		fail_msg("%d of %zu cases wrong", bad, N(bad_cases));
}

/* More than the 64 KiB that lb_db_save writes at a time: the file on disk is
 * what lb_db_format gives, and it loads back. */
static void test_big(void **state)
{
	struct tdir *t = *state;
	struct lb_db db = {0}, back;
	char ctl[128], path[64];
	char *text, *disk;
	size_t len, dlen;
	for (int i = 0; i < 3; i++) {
		snprintf(ctl, sizeof ctl, "Package: big%d\nVersion: 1\nArchitecture: all\n", i);
		struct lb_dbpkg *p = add_pkg(&db, ctl);
		p->state = LB_ST_INSTALLED;
		for (int k = 0; k < 1500; k++) {
			snprintf(path, sizeof path, "usr/share/big%d/file number %05d", i, k);
			add_file(p, 'f', k % 7 == 0, 0644, 0, 0, (unsigned long long)k * 1000, H1,
			         path);
		}
		lb_dbpkg_sort_files(p);
	}
	assert_int_equal(lb_db_format(&db, &text, &len), 0);
	assert_true(len > 4 * 65536);
	assert_int_equal(lb_db_save(t->fd, &db), 0);
	disk = slurp(t->fd, LB_DB_FILE, &dlen);
	assert_int_equal(dlen, len);
	assert_memory_equal(disk, text, len);
	free(disk);
	assert_int_equal(lb_db_write_unsafe(t->fd, LB_DB_NEW, &db), 0);
	disk = slurp(t->fd, LB_DB_NEW, &dlen);
	assert_int_equal(dlen, len);
	assert_memory_equal(disk, text, len);
	free(disk);
	assert_int_equal(lb_db_load(t->fd, LB_DB_FILE, &back), 0);
	assert_int_equal(back.n, 3);
	for (size_t i = 0; i < 3; i++)
		same_pkg(&db.pkgs[i], &back.pkgs[i]);
	lb_db_free(&back);
	free(text);
	lb_db_free(&db);
}

/* Paths as long as a .deb may carry (LB_DEB_MAX_PATH bytes), encoded to three
 * times that when every byte needs escaping (UTF-8 names), and a symlink with
 * both a long path and a long target: the database must still be written. */
static void test_long_paths(void **state)
{
	struct tdir *t = *state;
	struct lb_db db = {0}, back;
	static char utf8[LB_DEB_MAX_PATH + 1], lpath[LB_DEB_MAX_PATH + 1],
	    ltarget[LB_DEB_MAX_PATH + 1];
	for (size_t i = 0; i < LB_DEB_MAX_PATH; i++) {
		utf8[i] = i % 100 == 99 ? '/' : (i % 2 ? '\xa9' : '\xc3');
		lpath[i] = i % 100 == 99 ? '/' : 'p';
		ltarget[i] = i % 100 == 99 ? '/' : 't';
	}
	int bad = 0;
	for (int which = 0; which < 2; which++) {
		struct lb_dbpkg *p = add_pkg(&db, PKGA);
		p->state = LB_ST_INSTALLED;
		if (which == 0)
			add_file(p, 'f', false, 0644, 0, 0, 1, H1, utf8);
		else
			add_file(p, 'l', false, 0777, 0, 0, 0, ltarget, lpath);
		int r = lb_db_save(t->fd, &db);
		if (r) {
			print_error("%s: lb_db_save: %d (%s)\n",
			            which ? "symlink, 4095-byte path and target"
			                  : "4095-byte UTF-8 path",
			            r, lb_strerror(r));
			bad++;
		} else {
			assert_int_equal(lb_db_load(t->fd, LB_DB_FILE, &back), 0);
			assert_int_equal(back.n, 1);
			same_pkg(&db.pkgs[0], &back.pkgs[0]);
			lb_db_free(&back);
		}
		lb_db_free(&db);
	}
	if (bad)
		fail_msg("%d databases not written", bad);
}

/* A symlink whose target is "-" (a valid target) keeps it: "-" in the DIGEST
 * column also means "no digest", so the two must not be confused. */
static void test_symlink_dash(void **state)
{
	struct tdir *t = *state;
	struct lb_db db = {0}, back;
	struct lb_dbpkg *p = add_pkg(&db, PKGA);
	p->state = LB_ST_INSTALLED;
	add_file(p, 'l', false, 0777, 0, 0, 0, "-", "usr/bin/dash-link");
	add_file(p, 'l', false, 0777, 0, 0, 0, "%2D", "usr/bin/pct-link");
	lb_dbpkg_sort_files(p);
	assert_int_equal(lb_db_save(t->fd, &db), 0);
	assert_int_equal(lb_db_load(t->fd, LB_DB_FILE, &back), 0);
	assert_int_equal(back.n, 1);
	const struct lb_file *f = lb_dbpkg_file(&back.pkgs[0], "usr/bin/pct-link");
	assert_non_null(f);
	assert_string_equal(f->digest, "%2D");
	f = lb_dbpkg_file(&back.pkgs[0], "usr/bin/dash-link");
	assert_non_null(f);
	bool lost = !f->digest, wrong = f->digest && strcmp(f->digest, "-");
	lb_db_free(&back);
	lb_db_free(&db);
	if (lost)
		fail_msg("symlink target \"-\" was loaded as no target (NULL)");
	assert_false(wrong);
}

static void test_find(void **state)
{
	struct lb_db db = {0};
	char ctl[128], name[32];

	assert_null(lb_db_find(&db, "p00"));
	/* inserted in reverse order, then sorted */
	for (int i = 49; i >= 0; i--) {
		snprintf(ctl, sizeof ctl, "Package: p%02d\nVersion: %d\nArchitecture: all\n", i, i);
		struct lb_dbpkg *p = add_pkg(&db, ctl);
		if (i == 7) {
			for (int k = 29; k >= 0; k--) {
				snprintf(name, sizeof name, "usr/f%02d", k);
				add_file(p, 'f', false, 0644, 0, 0, (unsigned long long)k, H1,
				         name);
			}
			lb_dbpkg_sort_files(p);
		}
	}
	lb_db_sort(&db);
	for (size_t i = 1; i < db.n; i++)
		assert_true(strcmp(db.pkgs[i - 1].info.name, db.pkgs[i].info.name) < 0);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof name, "p%02d", i);
		struct lb_dbpkg *p = lb_db_find(&db, name);
		assert_non_null(p);
		assert_ptr_equal(p, &db.pkgs[i]);
		assert_string_equal(p->info.name, name);
	}
	static const char *const missing[] = {"", "p", "p0", "p000", "p50", "p-1", "a", "zzz"};
	for (size_t i = 0; i < N(missing); i++)
		assert_null(lb_db_find(&db, missing[i]));

	struct lb_dbpkg *p7 = lb_db_find(&db, "p07");
	assert_int_equal(p7->nfiles, 30);
	for (int k = 0; k < 30; k++) {
		snprintf(name, sizeof name, "usr/f%02d", k);
		const struct lb_file *f = lb_dbpkg_file(p7, name);
		assert_non_null(f);
		assert_ptr_equal(f, &p7->files[k]);
		assert_int_equal(f->size, k);
	}
	static const char *const nofile[] = {"", "usr", "usr/f", "usr/f30", "usr/f00/", "/usr/f00"};
	for (size_t i = 0; i < N(nofile); i++)
		assert_null(lb_dbpkg_file(p7, nofile[i]));
	assert_null(lb_dbpkg_file(lb_db_find(&db, "p08"), "usr/f00"));
	lb_db_free(&db);
}

static void test_set_control_bad(void **state)
{
	struct lb_dbpkg p;
	static const char *const bad[] = {
	    "",
	    "Package: aa\nVersion: 1\nArchitecture: all\n\nPackage: bb\n",
	    "Version: 1\nArchitecture: all\n",
	    "Package: AA\nVersion: 1\nArchitecture: all\n",
	    "Package: aa\nVersion: 1..-\nArchitecture: all\n",
	    "no colon\n",
	};
	for (size_t i = 0; i < N(bad); i++) {
		memset(&p, 0, sizeof p);
		int r = lb_dbpkg_set_control(&p, bad[i], strlen(bad[i]));
		if (r != -LBE_FORMAT)
			fail_msg("case %zu: %d", i, r);
		lb_dbpkg_free(&p);
	}
}

static void test_pkgstate(void **state)
{
	static const struct {
		enum lb_pkgstate st;
		const char *name;
	} states[] = {
	    {LB_ST_NOT_INSTALLED, "not-installed"}, {LB_ST_HALF_INSTALLED, "half-installed"},
	    {LB_ST_UNPACKED, "unpacked"},           {LB_ST_HALF_CONFIGURED, "half-configured"},
	    {LB_ST_INSTALLED, "installed"},
	};
	for (size_t i = 0; i < N(states); i++) {
		assert_string_equal(lb_pkgstate_str(states[i].st), states[i].name);
		assert_int_equal(lb_pkgstate_parse(states[i].name), states[i].st);
		assert_int_equal(lb_pkgstate_parse(lb_pkgstate_str(states[i].st)), states[i].st);
	}
	static const char *const bad[] = {"",           "Installed", "installed ", " installed",
	                                  "configured", "?",         "half"};
	for (size_t i = 0; i < N(bad); i++)
		assert_int_equal(lb_pkgstate_parse(bad[i]), -1);
	assert_string_equal(lb_pkgstate_str((enum lb_pkgstate)99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_dash, setup, teardown),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_set_control_bad),
	    cmocka_unit_test(test_pkgstate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
