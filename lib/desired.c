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

static int parse_sha(struct lb_desired *d, const char *v)
{
	size_t k = 0;
	while (*v) {
		const char *nl = strchr(v, '\n');
		size_t len = nl ? (size_t)(nl - v) : strlen(v), pos = 0;
		const char *tok;
		if (token(v, len, &pos, &tok)) {
			int r = sha_entry(d, v, len, ++k);
			if (r < 0)
				return r;
		}
		v += len + (nl ? 1 : 0);
	}
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
	if (strlen(v[3]) != 64 || strspn(v[3], "0123456789abcdefABCDEF") != 64)
		return lb_errf(-LBE_FORMAT, "field 'Image-SHA256': bad hash");
	for (size_t i = 0; i < 64; i++)
		im->sha256[i] = (char)(v[3][i] >= 'A' && v[3][i] <= 'F' ? v[3][i] + 32 : v[3][i]);
	im->sha256[64] = 0;
	if (!(im->version = strdup(v[0])) || !(im->path = strdup(v[1])))
		return lb_errf(-ENOMEM, "out of memory");
	im->present = true;
	return 0;
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
	}
	free(d->pkgs);
	free(d->image.version);
	free(d->image.path);
	lb_doc_free(&d->doc);
	memset(d, 0, sizeof *d);
}
