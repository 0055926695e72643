/* SPDX-License-Identifier: MIT */
#include "pkgdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "escape.h"
#include "fsop.h"
#include "version.h"

static const char *const state_names[] = {
    [LB_ST_NOT_INSTALLED] = "not-installed", [LB_ST_HALF_INSTALLED] = "half-installed",
    [LB_ST_UNPACKED] = "unpacked",           [LB_ST_HALF_CONFIGURED] = "half-configured",
    [LB_ST_INSTALLED] = "installed",
};

const char *lb_pkgstate_str(enum lb_pkgstate st)
{
	return st <= LB_ST_INSTALLED ? state_names[st] : "?";
}

int lb_pkgstate_parse(const char *s)
{
	for (int i = 0; i <= LB_ST_INSTALLED; i++)
		if (!strcmp(s, state_names[i]))
			return i;
	return -1;
}

static const char *const reserved[] = {"State", "Files", "Deb-Sha256", "Scripts", "Config-Version"};

static bool is_reserved(const char *name)
{
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (!strcasecmp(name, reserved[i]))
			return true;
	return false;
}

static int cmp_pkg(const void *a, const void *b)
{
	return strcmp(((const struct lb_dbpkg *)a)->info.name,
	              ((const struct lb_dbpkg *)b)->info.name);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct lb_file *)a)->path, ((const struct lb_file *)b)->path);
}

void lb_db_sort(struct lb_db *db)
{
	if (db->n > 1)
		qsort(db->pkgs, db->n, sizeof db->pkgs[0], cmp_pkg);
}

void lb_dbpkg_sort_files(struct lb_dbpkg *p)
{
	if (p->nfiles > 1)
		qsort(p->files, p->nfiles, sizeof p->files[0], cmp_file);
}

struct lb_dbpkg *lb_db_find(const struct lb_db *db, const char *name)
{
	struct lb_dbpkg key = {.info.name = (char *)name};
	return db->n ? bsearch(&key, db->pkgs, db->n, sizeof key, cmp_pkg) : NULL;
}

const struct lb_file *lb_dbpkg_file(const struct lb_dbpkg *p, const char *path)
{
	struct lb_file key = {.path = (char *)path};
	return p->nfiles ? bsearch(&key, p->files, p->nfiles, sizeof key, cmp_file) : NULL;
}

void lb_dbpkg_free(struct lb_dbpkg *p)
{
	lb_pkginfo_free(&p->info);
	lb_doc_free(&p->control);
	free(p->config_version);
	for (size_t i = 0; i < p->nfiles; i++) {
		free(p->files[i].path);
		free(p->files[i].digest);
	}
	free(p->files);
	memset(p, 0, sizeof *p);
}

void lb_db_free(struct lb_db *db)
{
	for (size_t i = 0; i < db->n; i++)
		lb_dbpkg_free(&db->pkgs[i]);
	free(db->pkgs);
	memset(db, 0, sizeof *db);
}

/* Copy the non-reserved fields of para into a one-paragraph document. */
static int copy_control(const struct lb_para *para, struct lb_doc *doc)
{
	doc->paras = calloc(1, sizeof *doc->paras);
	if (!doc->paras)
		return -ENOMEM;
	doc->n = 1;
	struct lb_para *c = doc->paras;
	c->fields = calloc(para->n ? para->n : 1, sizeof *c->fields);
	if (!c->fields)
		return -ENOMEM;
	for (size_t i = 0; i < para->n; i++) {
		if (is_reserved(para->fields[i].name))
			continue;
		struct lb_field *f = &c->fields[c->n];
		f->name = strdup(para->fields[i].name);
		f->value = strdup(para->fields[i].value);
		c->n++;
		if (!f->name || !f->value)
			return -ENOMEM;
	}
	return 0;
}

int lb_dbpkg_set_control(struct lb_dbpkg *p, const char *control, size_t len)
{
	struct lb_doc doc = {0};
	int r = lb_deb822_parse(control, len, &doc);
	if (r)
		return r;
	if (doc.n != 1) {
		lb_doc_free(&doc);
		return lb_errf(-LBE_FORMAT, "control file has %zu paragraphs, expected one", doc.n);
	}
	r = lb_pkginfo_from_para(&doc.paras[0], &p->info);
	if (!r)
		r = copy_control(&doc.paras[0], &p->control);
	lb_doc_free(&doc);
	return r;
}

static int parse_file_line(char *line, struct lb_file *f)
{
	char *fld[7];
	char *save = NULL, *tok = strtok_r(line, " \t", &save);
	int n = 0;
	while (tok && n < 7) {
		fld[n++] = tok;
		tok = strtok_r(NULL, " \t", &save);
	}
	if (n != 7 || tok)
		return -LBE_FORMAT;
	const char *t = fld[0];
	if (!strchr("fdlcbp", t[0]) || (t[1] && (t[1] != 'c' || t[2])))
		return -LBE_FORMAT;
	f->type = t[0];
	f->conffile = t[1] == 'c';
	char *end;
	errno = 0;
	f->mode = (mode_t)strtoul(fld[1], &end, 8);
	if (*end)
		return -LBE_FORMAT;
	f->uid = (uid_t)strtoul(fld[2], &end, 10);
	if (*end)
		return -LBE_FORMAT;
	f->gid = (gid_t)strtoul(fld[3], &end, 10);
	if (*end)
		return -LBE_FORMAT;
	f->size = strtoull(fld[4], &end, 10);
	if (*end || errno)
		return -LBE_FORMAT;
	bool none = !strcmp(fld[5], "-"); /* before decoding: "%2D" is a link to "-" */
	if (lb_unescape(fld[5]) || lb_unescape(fld[6]) || !fld[6][0])
		return -LBE_FORMAT;
	f->path = strdup(fld[6]);
	f->digest = none ? NULL : strdup(fld[5]);
	if (!f->path || (!none && !f->digest))
		return -ENOMEM;
	return 0;
}

/* value is parsed in place: it belongs to a document freed right after */
static int parse_files(char *value, struct lb_dbpkg *p)
{
	size_t lines = 1;
	for (const char *s = value; *s; s++)
		lines += *s == '\n';
	p->files = calloc(lines, sizeof *p->files);
	char *copy = value;
	if (!p->files)
		return -ENOMEM;
	int r = 0;
	char *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!*l)
			continue;
		r = parse_file_line(l, &p->files[p->nfiles]);
		p->nfiles++;
		if (r) {
			r = lb_errf(r, "package %s: bad Files line %zu", p->info.name, p->nfiles);
			break;
		}
	}
	if (!r)
		lb_dbpkg_sort_files(p);
	return r;
}

static int parse_scripts(const char *value, struct lb_dbpkg *p)
{
	char *copy = strdup(value), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *t = strtok_r(copy, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(t, '=');
		int i;
		if (eq)
			*eq = 0;
		for (i = 0; i < LB_NSCRIPTS; i++)
			if (!strcmp(t, lb_script_names[i]))
				break;
		if (!eq || i == LB_NSCRIPTS || strlen(eq + 1) != LB_SCRIPT_ID_LEN ||
		    strspn(eq + 1, "0123456789abcdef") != LB_SCRIPT_ID_LEN) {
			r = lb_errf(-LBE_FORMAT, "package %s: bad Scripts entry", p->info.name);
			break;
		}
		memcpy(p->script[i], eq + 1, LB_SCRIPT_ID_LEN + 1);
	}
	free(copy);
	return r;
}

static int parse_pkg(const struct lb_para *para, struct lb_dbpkg *p)
{
	int r = lb_pkginfo_from_para(para, &p->info);
	if (r)
		return r;
	r = copy_control(para, &p->control);
	if (r)
		return r;
	const char *st = lb_para_get(para, "State");
	int s = st ? lb_pkgstate_parse(st) : -1;
	if (s < 0)
		return lb_errf(-LBE_FORMAT, "package %s: bad State", p->info.name);
	p->state = (enum lb_pkgstate)s;
	const char *h = lb_para_get(para, "Deb-Sha256");
	if (h && (strlen(h) != 64 || strspn(h, "0123456789abcdef") != 64))
		return lb_errf(-LBE_FORMAT, "package %s: bad Deb-Sha256", p->info.name);
	if (h)
		memcpy(p->deb_sha256, h, 65);
	const char *cv = lb_para_get(para, "Config-Version");
	if (cv && !lb_version_valid(cv))
		return lb_errf(-LBE_FORMAT, "package %s: bad Config-Version", p->info.name);
	if (cv && !(p->config_version = strdup(cv)))
		return -ENOMEM;
	const char *v = lb_para_get(para, "Scripts");
	if (v && (r = parse_scripts(v, p)))
		return r;
	v = lb_para_get(para, "Files");
	return v ? parse_files((char *)v, p) : 0;
}

int lb_db_load(int statefd, const char *name, struct lb_db *db)
{
	char *buf = NULL;
	size_t len = 0;
	memset(db, 0, sizeof *db);
	int r = lb_read_file(statefd, name, LB_DB_MAX_SIZE, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r)
		return lb_err_prefix(r, "package database %s", name);
	struct lb_doc doc = {0};
	r = lb_deb822_parse(buf, len, &doc);
	free(buf);
	if (r)
		return lb_err_prefix(-LBE_CORRUPT, "package database %s", name);
	const char *fmt = doc.n ? lb_para_get(&doc.paras[0], "Lifeboat-Db") : NULL;
	if (!fmt) {
		r = lb_errf(-LBE_CORRUPT, "package database %s: no Lifeboat-Db header", name);
		goto out;
	}
	char *end;
	unsigned long ver = strtoul(fmt, &end, 10);
	if (*end || !fmt[0] || ver == 0) {
		r = lb_errf(-LBE_CORRUPT, "package database %s: bad format version '%.20s'", name,
		            fmt);
		goto out;
	}
	if (ver > LB_DB_FORMAT) {
		r = lb_errf(
		    -LBE_FORMAT_VER,
		    "package database %s: format %s is newer than this lifeboat understands (%d)",
		    name, fmt, LB_DB_FORMAT);
		goto out;
	}
	const char *serial = lb_para_get(&doc.paras[0], "Serial");
	db->serial = serial ? strtoull(serial, NULL, 10) : 0;
	db->pkgs = calloc(doc.n, sizeof *db->pkgs);
	if (!db->pkgs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 1; i < doc.n; i++) {
		r = parse_pkg(&doc.paras[i], &db->pkgs[db->n]);
		db->n++;
		if (r) {
			r = lb_err_prefix(r == -ENOMEM ? r : -LBE_CORRUPT, "package database %s",
			                  name);
			goto out;
		}
	}
	lb_db_sort(db);
	for (size_t i = 1; i < db->n; i++)
		if (!strcmp(db->pkgs[i - 1].info.name, db->pkgs[i].info.name)) {
			r = lb_errf(-LBE_CORRUPT, "package database %s: %s listed twice", name,
			            db->pkgs[i].info.name);
			goto out;
		}
out:
	lb_doc_free(&doc);
	if (r)
		lb_db_free(db);
	return r;
}

struct sbuf {
	char *s;
	size_t len, cap;
	int err;
	int fd; /* >= 0: written out in pieces of about 64 KiB */
};

static void sb_flush(struct sbuf *b)
{
	if (!b->err && b->fd >= 0 && b->len) {
		b->err = lb_write_all(b->fd, b->s, b->len);
		b->len = 0;
	}
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->fd >= 0 && b->len + n > 65536)
		sb_flush(b);
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->err = -ENOMEM;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static void LB_PRINTF(2, 3) sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->err = -ENAMETOOLONG;
		return;
	}
	sb_add(b, tmp, (size_t)n);
}

/* "Name: value" with continuation lines, as deb822 wants them. */
static void sb_field(struct sbuf *b, const char *name, const char *value)
{
	sb_printf(b, "%s:", name);
	const char *nl = strchr(value, '\n');
	size_t first = nl ? (size_t)(nl - value) : strlen(value);
	if (first) {
		sb_add(b, " ", 1);
		sb_add(b, value, first);
	}
	sb_add(b, "\n", 1);
	while (nl) {
		const char *l = nl + 1;
		nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		if (n) {
			sb_add(b, " ", 1);
			sb_add(b, l, n);
		} else {
			sb_add(b, " .", 2);
		}
		sb_add(b, "\n", 1);
	}
}

static void format_file(struct sbuf *b, const struct lb_file *f)
{
	char path[3 * LB_DEB_MAX_PATH + 1], dig[3 * LB_DEB_MAX_PATH + 1];
	if (lb_escape(f->path, path, sizeof path) ||
	    lb_escape(f->digest ? f->digest : "-", dig, sizeof dig)) {
		b->err = -ENAMETOOLONG;
		return;
	}
	if (!strcmp(dig, "-") && f->digest)
		strcpy(dig, "%2D"); /* "-" alone means no digest */
	sb_printf(b, " %c%s %o %u %u %llu ", f->type, f->conffile ? "c" : "",
	          (unsigned)(f->mode & 07777), (unsigned)f->uid, (unsigned)f->gid, f->size);
	sb_add(b, dig, strlen(dig));
	sb_add(b, " ", 1);
	sb_add(b, path, strlen(path));
	sb_add(b, "\n", 1);
}

static void db_text(const struct lb_db *db, struct sbuf *bp)
{
	struct sbuf b = *bp;
	sb_printf(&b, "Lifeboat-Db: %d\nSerial: %llu\n", LB_DB_FORMAT, db->serial);
	for (size_t i = 0; i < db->n; i++) {
		const struct lb_dbpkg *p = &db->pkgs[i];
		sb_add(&b, "\n", 1);
		const struct lb_para *c = p->control.n ? &p->control.paras[0] : NULL;
		for (size_t k = 0; c && k < c->n; k++)
			sb_field(&b, c->fields[k].name, c->fields[k].value);
		sb_printf(&b, "State: %s\n", lb_pkgstate_str(p->state));
		if (p->config_version)
			sb_printf(&b, "Config-Version: %s\n", p->config_version);
		if (p->deb_sha256[0])
			sb_printf(&b, "Deb-Sha256: %s\n", p->deb_sha256);
		bool any = false;
		for (int s = 0; s < LB_NSCRIPTS; s++)
			if (p->script[s][0]) {
				sb_printf(&b, "%s%s=%s",
				          any ? " " : "Scripts: ", lb_script_names[s],
				          p->script[s]);
				any = true;
			}
		if (any)
			sb_add(&b, "\n", 1);
		if (p->nfiles) {
			sb_add(&b, "Files:\n", 7);
			for (size_t k = 0; k < p->nfiles; k++)
				format_file(&b, &p->files[k]);
		}
	}
	*bp = b;
}

int lb_db_format(const struct lb_db *db, char **buf, size_t *len)
{
	struct sbuf b = {.fd = -1};
	db_text(db, &b);
	if (b.err) {
		free(b.s);
		return b.err;
	}
	*buf = b.s;
	*len = b.len;
	return 0;
}

static int db_write(int fd, const struct lb_db *db)
{
	struct sbuf b = {.fd = fd};
	db_text(db, &b);
	sb_flush(&b);
	free(b.s);
	return b.err;
}

int lb_db_write_unsafe(int statefd, const char *name, const struct lb_db *db)
{
	int fd = lb_create_unsafe(statefd, name, 0644, 1);
	if (fd < 0)
		return fd;
	int r = db_write(fd, db);
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

int lb_db_save(int statefd, const struct lb_db *db)
{
	int fd = lb_replace_open(statefd, LB_DB_FILE, 0644);
	if (fd < 0)
		return fd;
	return lb_replace_finish(statefd, LB_DB_FILE, fd, db_write(fd, db));
}
