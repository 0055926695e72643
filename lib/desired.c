/* SPDX-License-Identifier: MIT */
/* The desired state document: one deb822 paragraph (see desired.h). Messages do
 * not name the file: callers prefix its path. */
#include "desired.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"

/* Decimal number without sign or spaces: 0, -EINVAL if not digits, -ERANGE if
 * larger than max. */
static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long n = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (n > (max - d) / 10)
			return -ERANGE;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

static int cmp_pkg(const void *a, const void *b)
{
	const struct lb_desired_pkg *pa = a, *pb = b;
	return strcmp(pa->name, pb->name);
}

static int cmp_key(const void *key, const void *elem)
{
	const struct lb_desired_pkg *p = elem;
	return strcmp(key, p->name);
}

const struct lb_desired_pkg *lb_desired_find(const struct lb_desired *d, const char *name)
{
	if (!d || !d->n || !name)
		return NULL;
	return bsearch(name, d->pkgs, d->n, sizeof *d->pkgs, cmp_key);
}

/* Move the packages of dl (all "name (= version)") into d->pkgs. */
static int take_pkgs(struct lb_desired *d, struct lb_deplist *dl)
{
	if (dl->n > LB_DESIRED_MAX_PKGS)
		return lb_errf(-LBE_FORMAT, "field 'Packages': more than %d packages",
		               LB_DESIRED_MAX_PKGS);
	for (size_t i = 0; i < dl->n; i++) {
		const struct lb_dep_alt *a = &dl->deps[i].alts[0];
		if (a->arch)
			return lb_errf(-LBE_FORMAT,
			               "field 'Packages': '%s': architecture "
			               "qualifier not allowed",
			               a->name);
		if (a->rel != LB_REL_EQ)
			return lb_errf(-LBE_FORMAT, "field 'Packages': '%s' without '(= version)'",
			               a->name);
	}
	d->pkgs = calloc(dl->n ? dl->n : 1, sizeof *d->pkgs);
	if (!d->pkgs)
		return lb_errf(-ENOMEM, "out of memory");
	for (size_t i = 0; i < dl->n; i++) {
		struct lb_dep_alt *a = &dl->deps[i].alts[0];
		d->pkgs[i].name = a->name;
		d->pkgs[i].version = a->version;
		a->name = a->version = NULL;
		d->n++;
	}
	qsort(d->pkgs, d->n, sizeof *d->pkgs, cmp_pkg);
	for (size_t i = 1; i < d->n; i++)
		if (!strcmp(d->pkgs[i - 1].name, d->pkgs[i].name))
			return lb_errf(-LBE_FORMAT, "field 'Packages': duplicate package '%s'",
			               d->pkgs[i].name);
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Next blank-separated token of line[*pos..end). */
static size_t token(const char *line, size_t end, size_t *pos, const char **tok)
{
	size_t i = *pos;
	while (i < end && is_blank(line[i]))
		i++;
	*tok = line + i;
	size_t start = i;
	while (i < end && !is_blank(line[i]))
		i++;
	*pos = i;
	return i - start;
}

/* "<sha256-hex> <size> <name>_<version>" (entry number k) into its package. */
static int sha_entry(struct lb_desired *d, const char *line, size_t len, size_t k)
{
	const char *hash, *size, *nv, *extra;
	size_t pos = 0, hl = token(line, len, &pos, &hash), sl = token(line, len, &pos, &size);
	size_t nl = token(line, len, &pos, &nv);
	if (hl != 64 || strspn(hash, "0123456789abcdefABCDEF") < 64)
		return lb_errf(-LBE_FORMAT, "field 'SHA256': entry %zu: bad hash", k);
	if (token(line, len, &pos, &extra))
		return lb_errf(-LBE_FORMAT, "field 'SHA256': entry %zu: too many words", k);
	char num[24];
	unsigned long long sz;
	if (!sl || sl >= sizeof num)
		return lb_errf(-LBE_FORMAT, "field 'SHA256': entry %zu: bad size", k);
	memcpy(num, size, sl);
	num[sl] = 0;
	if (parse_uint(num, ~0ULL, &sz) < 0 || !sz)
		return lb_errf(-LBE_FORMAT, "field 'SHA256': entry %zu: bad size", k);
	const char *us = memchr(nv, '_', nl);
	char *name = us ? strndup(nv, (size_t)(us - nv)) : NULL;
	char *ver = us ? strndup(us + 1, nl - (size_t)(us - nv) - 1) : NULL;
	int r = 0;
	const struct lb_desired_pkg *cp = NULL;
	if (us && (!name || !ver))
		r = lb_errf(-ENOMEM, "out of memory");
	else if (!us || !lb_pkgname_valid(name) || !lb_version_valid(ver))
		r = lb_errf(-LBE_FORMAT, "field 'SHA256': entry %zu: bad <name>_<version>", k);
	else if (!(cp = lb_desired_find(d, name)) || strcmp(cp->version, ver))
		r = lb_errf(-LBE_FORMAT, "field 'SHA256': entry %zu: %s_%s is not in Packages", k,
		            name, ver);
	else if (cp->sha256[0])
		r = lb_errf(-LBE_FORMAT, "field 'SHA256': duplicate entry for %s", name);
	free(name);
	free(ver);
	if (r < 0)
		return r;
	struct lb_desired_pkg *p = &d->pkgs[cp - d->pkgs];
	for (size_t i = 0; i < 64; i++)
		p->sha256[i] = (char)(hash[i] >= 'A' && hash[i] <= 'F' ? hash[i] + 32 : hash[i]);
	p->sha256[64] = 0;
	p->size = sz;
	return 0;
}

/* Call fn for each non-blank line of a multi-line field's value, numbered from 1. */
static int each_line(struct lb_desired *d, const char *v,
                     int (*fn)(struct lb_desired *d, const char *line, size_t len, size_t k))
{
	size_t k = 0;
	while (*v) {
		const char *nl = strchr(v, '\n');
		size_t len = nl ? (size_t)(nl - v) : strlen(v), pos = 0;
		const char *tok;
		if (token(v, len, &pos, &tok)) {
			int r = fn(d, v, len, ++k);
			if (r < 0)
				return r;
		}
		v += len + (nl ? 1 : 0);
	}
	return 0;
}

static int parse_sha(struct lb_desired *d, const char *v)
{
	int r = each_line(d, v, sha_entry);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->n; i++)
		if (!d->pkgs[i].sha256[0])
			return lb_errf(-LBE_FORMAT, "field 'SHA256': no entry for %s_%s",
			               d->pkgs[i].name, d->pkgs[i].version);
	return 0;
}

#define IMAGE_MAX_SIZE (1ULL << 62) /* fits an off_t and UBI's int64 update size */

bool lb_image_version_valid(const char *v)
{
	size_t n = strlen(v);
	return n && n <= 128 &&
	       strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.+~:_-") ==
	           n;
}

/* A relative path that stays in the tree: components of [A-Za-z0-9._+-], none
 * empty, "." or "..". */
static bool image_path_valid(const char *v)
{
	size_t n = strlen(v);
	if (!n || n > 255 ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-/") != n)
		return false;
	for (const char *c = v; *c;) {
		size_t len = strcspn(c, "/");
		if (!len || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += len;
		if (*c == '/' && !*++c)
			return false; /* a trailing '/' */
	}
	return true;
}

static int image_size(const char *field, const char *v, unsigned long long *out)
{
	if (parse_uint(v, IMAGE_MAX_SIZE, out) < 0 || !*out)
		return lb_errf(-LBE_FORMAT, "field '%s': bad value", field);
	return 0;
}

static int parse_hex64(const char *field, const char *v, char out[65])
{
	if (strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64)
		return lb_errf(-LBE_FORMAT, "field '%s': bad hash", field);
	for (size_t i = 0; i < 64; i++)
		out[i] = (char)(v[i] >= 'A' && v[i] <= 'F' ? v[i] + 32 : v[i]);
	out[64] = 0;
	return 0;
}

/* One line of Package-Deltas: <name> <base-sha256> <content-sha256> <sha256> <size>. */
static int pdelta_entry(struct lb_desired *d, const char *line, size_t len, size_t k)
{
	char w[5][130];
	size_t pos = 0, n = 0, tl;
	const char *tok;
	while ((tl = token(line, len, &pos, &tok))) {
		if (n == 5 || tl >= sizeof w[0])
			return lb_errf(-LBE_FORMAT, "field 'Package-Deltas': entry %zu: bad words",
			               k);
		memcpy(w[n], tok, tl);
		w[n++][tl] = 0;
	}
	struct lb_desired_pdelta e;
	char content[65];
	if (n != 5 || parse_hex64("Package-Deltas", w[1], e.base_sha256) ||
	    parse_hex64("Package-Deltas", w[2], content) ||
	    parse_hex64("Package-Deltas", w[3], e.sha256) || parse_uint(w[4], ~0ULL, &e.size) < 0 ||
	    !e.size) {
		lb_err_clear();
		return lb_errf(-LBE_FORMAT, "field 'Package-Deltas': entry %zu: bad value", k);
	}
	const struct lb_desired_pkg *cp = lb_desired_find(d, w[0]);
	if (!cp)
		return lb_errf(-LBE_FORMAT,
		               "field 'Package-Deltas': entry %zu: %.64s is not in "
		               "Packages",
		               k, w[0]);
	struct lb_desired_pkg *p = &d->pkgs[cp - d->pkgs];
	if (!p->sha256[0] || !strcmp(p->sha256, e.base_sha256))
		return lb_errf(-LBE_FORMAT, "field 'Package-Deltas': entry %zu: %s: bad base", k,
		               p->name);
	if (p->content_sha256[0] && strcmp(p->content_sha256, content))
		return lb_errf(-LBE_FORMAT,
		               "field 'Package-Deltas': entry %zu: %s: two content hashes", k,
		               p->name);
	for (size_t i = 0; i < p->ndeltas; i++)
		if (!strcmp(p->deltas[i].base_sha256, e.base_sha256))
			return lb_errf(-LBE_FORMAT,
			               "field 'Package-Deltas': entry %zu: %s: base given twice", k,
			               p->name);
	if (p->ndeltas == LB_DESIRED_MAX_PKG_DELTAS)
		return lb_errf(-LBE_FORMAT, "field 'Package-Deltas': %s: more than %d deltas",
		               p->name, LB_DESIRED_MAX_PKG_DELTAS);
	if (!p->deltas && !(p->deltas = calloc(LB_DESIRED_MAX_PKG_DELTAS, sizeof *p->deltas)))
		return lb_errf(-ENOMEM, "out of memory");
	memcpy(p->content_sha256, content, 65);
	p->deltas[p->ndeltas++] = e;
	return 0;
}

/* Image-Index, Image-Index-Size, Image-Index-SHA256: all or none. */
static int parse_index(struct lb_desired_image *im, const struct lb_para *p)
{
	static const char *const names[] = {"Image-Index", "Image-Index-Size",
	                                    "Image-Index-SHA256"};
	const char *v[3];
	size_t have = 0;
	for (size_t i = 0; i < 3; i++)
		have += (v[i] = lb_para_get(p, names[i])) != NULL;
	if (!have)
		return 0;
	for (size_t i = 0; i < 3; i++)
		if (!v[i])
			return lb_errf(-LBE_FORMAT,
			               "missing field '%s' (the Image-Index fields go together)",
			               names[i]);
	if (!image_path_valid(v[0]))
		return lb_errf(-LBE_FORMAT, "field 'Image-Index': bad path");
	int r = image_size(names[1], v[1], &im->index_size);
	if (!r)
		r = parse_hex64(names[2], v[2], im->index_sha256);
	if (!r && !(im->index = strdup(v[0])))
		r = lb_errf(-ENOMEM, "out of memory");
	return r;
}

/* One line of Image-Deltas: <base> <index> <size> <sha256> <delta> <size>. */
static int delta_entry(struct lb_desired_delta *e, const char *line, size_t len, size_t k)
{
	char w[6][300];
	size_t pos = 0, n = 0;
	const char *tok;
	size_t tl;
	while (n < 7 && (tl = token(line, len, &pos, &tok))) {
		if (n == 6 || tl >= sizeof w[0])
			return lb_errf(-LBE_FORMAT, "field 'Image-Deltas': entry %zu: bad words",
			               k);
		memcpy(w[n], tok, tl);
		w[n++][tl] = 0;
	}
	if (n != 6 || parse_hex64("Image-Deltas", w[0], e->base_sha256) ||
	    !image_path_valid(w[1]) || image_size("Image-Deltas", w[2], &e->index_size) ||
	    parse_hex64("Image-Deltas", w[3], e->index_sha256) || !image_path_valid(w[4]) ||
	    image_size("Image-Deltas", w[5], &e->size)) {
		lb_err_clear();
		return lb_errf(-LBE_FORMAT, "field 'Image-Deltas': entry %zu: bad value", k);
	}
	if (!(e->index = strdup(w[1])) || !(e->path = strdup(w[4])))
		return lb_errf(-ENOMEM, "out of memory");
	return 0;
}

static int parse_deltas(struct lb_desired_image *im, const char *v)
{
	size_t k = 0;
	while (*v) {
		const char *nl = strchr(v, '\n');
		size_t len = nl ? (size_t)(nl - v) : strlen(v), pos = 0;
		const char *tok;
		if (token(v, len, &pos, &tok)) {
			if (k == LB_DESIRED_MAX_DELTAS)
				return lb_errf(-LBE_FORMAT,
				               "field 'Image-Deltas': more than %d entries",
				               LB_DESIRED_MAX_DELTAS);
			if (!im->deltas &&
			    !(im->deltas = calloc(LB_DESIRED_MAX_DELTAS, sizeof *im->deltas)))
				return lb_errf(-ENOMEM, "out of memory");
			im->ndeltas = k + 1; /* freed with the rest even when half filled */
			int r = delta_entry(&im->deltas[k], v, len, k + 1);
			if (r < 0)
				return r;
			k++;
		}
		v += len + (nl ? 1 : 0);
	}
	return 0;
}

/* Image-Version, Image, Image-Size, Image-SHA256, Image-Compressed-Size: all or none. */
static int parse_image(struct lb_desired *d, const struct lb_para *p)
{
	static const char *const names[] = {"Image-Version", "Image", "Image-Size", "Image-SHA256",
	                                    "Image-Compressed-Size"};
	const char *v[5];
	size_t have = 0;
	for (size_t i = 0; i < 5; i++)
		have += (v[i] = lb_para_get(p, names[i])) != NULL;
	if (!have)
		return 0;
	for (size_t i = 0; i < 5; i++)
		if (!v[i])
			return lb_errf(-LBE_FORMAT,
			               "missing field '%s' (the Image fields go together)",
			               names[i]);
	struct lb_desired_image *im = &d->image;
	if (!lb_image_version_valid(v[0]))
		return lb_errf(-LBE_FORMAT, "field 'Image-Version': bad value");
	if (!image_path_valid(v[1]))
		return lb_errf(-LBE_FORMAT, "field 'Image': bad path");
	int r = image_size(names[2], v[2], &im->size);
	if (!r)
		r = image_size(names[4], v[4], &im->compressed_size);
	if (r)
		return r;
	if ((r = parse_hex64(names[3], v[3], im->sha256)))
		return r;
	if (!(im->version = strdup(v[0])) || !(im->path = strdup(v[1])))
		return lb_errf(-ENOMEM, "out of memory");
	im->present = true;
	if ((r = parse_index(im, p)))
		return r;
	const char *dl = lb_para_get(p, "Image-Deltas");
	if (dl && !im->index)
		return lb_errf(-LBE_FORMAT, "field 'Image-Deltas' without 'Image-Index'");
	return dl ? parse_deltas(im, dl) : 0;
}

static int parse_para(struct lb_desired *d, const struct lb_para *p)
{
	unsigned long long n;
	const char *v = lb_para_get(p, "Format");
	int r = v ? parse_uint(v, ~0ULL, &n) : 0;
	if (r == -EINVAL || (v && !r && n == 0))
		return lb_errf(-LBE_FORMAT, "field 'Format': bad value");
	if (v && (r == -ERANGE || n > LB_DESIRED_FORMAT))
		return lb_errf(-LBE_FORMAT_VER, "Format %s is newer than %d", v, LB_DESIRED_FORMAT);
	d->format = v ? (unsigned)n : LB_DESIRED_FORMAT;
	v = lb_para_get(p, "Serial");
	if (!v)
		return lb_errf(-LBE_FORMAT, "missing field 'Serial'");
	if (parse_uint(v, ~0ULL, &d->serial) < 0)
		return lb_errf(-LBE_FORMAT, "field 'Serial': bad value");
	v = lb_para_get(p, "Packages");
	if (!v)
		return lb_errf(-LBE_FORMAT, "missing field 'Packages'");
	struct lb_deplist dl;
	r = lb_deplist_parse(v, false, &dl);
	if (r < 0)
		return lb_err_prefix(r, "field 'Packages'");
	r = take_pkgs(d, &dl);
	lb_deplist_free(&dl);
	if (r < 0)
		return r;
	v = lb_para_get(p, "SHA256");
	if (v && (r = parse_sha(d, v)) < 0)
		return r;
	const char *pd = lb_para_get(p, "Package-Deltas");
	if (pd && !v)
		return lb_errf(-LBE_FORMAT, "field 'Package-Deltas' without 'SHA256'");
	if (pd && (r = each_line(d, pd, pdelta_entry)) < 0)
		return r;
	return parse_image(d, p);
}

int lb_desired_parse(const char *buf, size_t len, struct lb_desired *d)
{
	memset(d, 0, sizeof *d);
	int r = lb_deb822_parse(buf, len, &d->doc);
	if (!r && d->doc.n == 0)
		r = lb_errf(-LBE_FORMAT, "empty desired state");
	else if (!r && d->doc.n > 1)
		r = lb_errf(-LBE_FORMAT, "line %u: more than one paragraph", d->doc.paras[1].line);
	if (!r)
		r = parse_para(d, &d->doc.paras[0]);
	if (r < 0)
		lb_desired_free(d);
	return r;
}

int lb_desired_load(const char *path, struct lb_desired *d)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	memset(d, 0, sizeof *d);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lb_errf(-errno, "open: %s", strerror(errno));
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (!r && !S_ISREG(st.st_mode))
		r = -EINVAL;
	else if (!r && (unsigned long long)st.st_size > LB_DEB822_MAX_INPUT)
		r = -EFBIG;
	else if (!r && !(buf = malloc((size_t)st.st_size + 1)))
		r = -ENOMEM;
	while (!r && len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else if (n == 0)
			break;
		else
			len += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return lb_errf(r, "%s", r == -EINVAL ? "not a regular file" : strerror(-r));
	}
	r = lb_desired_parse(buf, len, d);
	free(buf);
	return r;
}

void lb_desired_free(struct lb_desired *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->pkgs[i].name);
		free(d->pkgs[i].version);
		free(d->pkgs[i].deltas);
	}
	free(d->pkgs);
	free(d->image.version);
	free(d->image.path);
	free(d->image.index);
	for (size_t i = 0; i < d->image.ndeltas; i++) {
		free(d->image.deltas[i].index);
		free(d->image.deltas[i].path);
	}
	free(d->image.deltas);
	lb_doc_free(&d->doc);
	memset(d, 0, sizeof *d);
}
