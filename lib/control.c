/* SPDX-License-Identifier: MIT */
/* Dependency fields and package metadata from control paragraphs. */
#include "control.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Untrusted text as it may appear in a message: at most 64 characters,
 * non-printable ones replaced by '?'. */
static const char *shown(const char *s, size_t n, char buf[static 72])
{
	size_t i;
	for (i = 0; i < n && s[i] && i < 64; i++)
		buf[i] = s[i] >= ' ' && s[i] <= '~' ? s[i] : '?';
	if (i < n && s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = 0;
	return buf;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

static bool is_lower_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool lb_pkgname_valid(const char *name)
{
	if (!name || !is_lower_digit(name[0]) || !name[1])
		return false;
	for (const char *p = name + 1; *p; p++)
		if (!is_lower_digit(*p) && *p != '+' && *p != '-' && *p != '.')
			return false;
	return true;
}

/* Architecture names ("amd64", "all", "any", "armhf"...): [a-z0-9-]+ */
static size_t arch_len(const char *s)
{
	size_t n = 0;
	while (is_lower_digit(s[n]) || s[n] == '-')
		n++;
	return n;
}

static bool arch_valid(const char *s)
{
	size_t n = arch_len(s);
	return n > 0 && !s[n];
}

static void alt_free(struct lb_dep_alt *a)
{
	free(a->name);
	free(a->arch);
	free(a->version);
}

void lb_deplist_free(struct lb_deplist *dl)
{
	for (size_t i = 0; dl && i < dl->n; i++) {
		for (size_t j = 0; j < dl->deps[i].n; j++)
			alt_free(&dl->deps[i].alts[j]);
		free(dl->deps[i].alts);
	}
	if (dl) {
		free(dl->deps);
		memset(dl, 0, sizeof *dl);
	}
}

/* arr grown if needed to hold n + 1 elements of size sz; NULL if out of memory. */
static void *grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 4;
	void *p = reallocarray(arr, ncap, sz);
	if (p)
		*cap = ncap;
	return p;
}

/* "(rel version)" at *pp, just after the '('. */
static int parse_version(const char **pp, struct lb_dep_alt *alt)
{
	const char *p = skip_space(*pp);
	size_t oplen = 1;
	if (p[0] == '<' || p[0] == '>')
		oplen = p[1] == p[0] || p[1] == '=' ? 2 : 1;
	else if (p[0] != '=')
		return lb_errf(-LBE_FORMAT, "'%s': bad version relation", alt->name);
	char op[3] = {p[0], oplen == 2 ? p[1] : 0, 0};
	alt->rel = lb_rel_parse(op);
	p = skip_space(p + oplen);
	const char *v = p;
	while (*p && !is_space(*p) && *p != ')')
		p++;
	alt->version = strndup(v, (size_t)(p - v));
	if (!alt->version)
		return -ENOMEM;
	if (!lb_version_valid(alt->version)) {
		char tmp[72];
		return lb_errf(-LBE_FORMAT, "bad version '%s'", shown(v, (size_t)(p - v), tmp));
	}
	p = skip_space(p);
	if (*p != ')')
		return lb_errf(-LBE_FORMAT, "'%s': missing ')' after version", alt->name);
	*pp = p + 1;
	return 0;
}

/* One alternative "name[:arch] [(rel version)]" at *pp. */
static int parse_alt(const char **pp, struct lb_dep_alt *alt)
{
	const char *p = skip_space(*pp), *start = p;
	char tmp[72];
	while (*p && !is_space(*p) && !strchr(":(),|[]<>", *p))
		p++;
	if (p == start)
		return lb_errf(-LBE_FORMAT, "missing package name at '%s'", shown(p, 64, tmp));
	alt->name = strndup(start, (size_t)(p - start));
	if (!alt->name)
		return -ENOMEM;
	if (!lb_pkgname_valid(alt->name))
		return lb_errf(-LBE_FORMAT, "bad package name '%s'",
		               shown(start, (size_t)(p - start), tmp));
	if (*p == ':') {
		size_t n = arch_len(++p);
		if (!n)
			return lb_errf(-LBE_FORMAT, "'%s': bad architecture qualifier", alt->name);
		alt->arch = strndup(p, n);
		if (!alt->arch)
			return -ENOMEM;
		p += n;
	}
	p = skip_space(p);
	if (*p == '(') {
		p++;
		int r = parse_version(&p, alt);
		if (r < 0)
			return r;
		p = skip_space(p);
	}
	if (*p == '[')
		return lb_errf(-LBE_FORMAT, "'%s': architecture restriction not allowed",
		               alt->name);
	if (*p == '<')
		return lb_errf(-LBE_FORMAT, "'%s': build profile not allowed", alt->name);
	*pp = p;
	return 0;
}

/* Alternatives "a | b (>= 1)" at *pp into d. */
static int parse_dep(const char **pp, bool allow_alts, struct lb_dep *d)
{
	size_t cap = 0;
	for (;;) {
		struct lb_dep_alt *alts = grow(d->alts, &cap, d->n, sizeof *alts);
		if (!alts)
			return -ENOMEM;
		d->alts = alts;
		memset(&alts[d->n], 0, sizeof *alts);
		int r = parse_alt(pp, &alts[d->n++]);
		if (r < 0)
			return r;
		if (**pp != '|')
			return 0;
		if (!allow_alts)
			return lb_errf(-LBE_FORMAT, "alternatives ('|') not allowed");
		(*pp)++;
	}
}

static int parse_list(const char *s, bool allow_alts, struct lb_deplist *out)
{
	size_t cap = 0;
	char tmp[72];
	const char *p = skip_space(s);
	while (*p) {
		struct lb_dep *deps = grow(out->deps, &cap, out->n, sizeof *deps);
		if (!deps)
			return -ENOMEM;
		out->deps = deps;
		memset(&deps[out->n], 0, sizeof *deps);
		int r = parse_dep(&p, allow_alts, &deps[out->n++]);
		if (r < 0)
			return r;
		if (*p == ',')
			p++;
		else if (*p)
			return lb_errf(-LBE_FORMAT, "unexpected '%s'", shown(p, 64, tmp));
		else
			break;
		if (!*skip_space(p))
			return lb_errf(-LBE_FORMAT, "trailing ','");
	}
	return 0;
}

int lb_deplist_parse(const char *s, bool allow_alts, struct lb_deplist *out)
{
	memset(out, 0, sizeof *out);
	int r = s ? parse_list(s, allow_alts, out) : 0;
	if (r == -ENOMEM)
		r = lb_errf(r, "out of memory");
	if (r < 0)
		lb_deplist_free(out);
	return r;
}

struct buf {
	char *s;
	size_t size, len;
};

static void put(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->len + 1 < b->size) {
		size_t room = b->size - b->len - 1;
		memcpy(b->s + b->len, s, n < room ? n : room);
		b->s[b->len + (n < room ? n : room)] = 0;
	}
	b->len += n;
}

static void put_dep(struct buf *b, const struct lb_dep *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct lb_dep_alt *a = &d->alts[i];
		if (i)
			put(b, " | ");
		put(b, a->name);
		if (a->arch) {
			put(b, ":");
			put(b, a->arch);
		}
		if (a->rel != LB_REL_ANY && a->version) {
			put(b, " (");
			put(b, lb_rel_str(a->rel));
			put(b, " ");
			put(b, a->version);
			put(b, ")");
		}
	}
}

size_t lb_dep_format(const struct lb_dep *d, char *buf, size_t size)
{
	struct buf b = {buf, size, 0};
	if (buf && size)
		buf[0] = 0;
	put_dep(&b, d);
	return b.len;
}

size_t lb_deplist_format(const struct lb_deplist *dl, char *buf, size_t size)
{
	struct buf b = {buf, size, 0};
	if (buf && size)
		buf[0] = 0;
	for (size_t i = 0; i < dl->n; i++) {
		if (i)
			put(&b, ", ");
		put_dep(&b, &dl->deps[i]);
	}
	return b.len;
}

void lb_pkginfo_free(struct lb_pkginfo *pi)
{
	if (!pi)
		return;
	free(pi->name);
	free(pi->version);
	free(pi->arch);
	free(pi->multi_arch);
	lb_deplist_free(&pi->depends);
	lb_deplist_free(&pi->pre_depends);
	lb_deplist_free(&pi->conflicts);
	lb_deplist_free(&pi->breaks);
	lb_deplist_free(&pi->replaces);
	lb_deplist_free(&pi->provides);
	memset(pi, 0, sizeof *pi);
}

static int dup_field(const struct lb_para *p, const char *field, bool (*valid)(const char *),
                     char **out)
{
	const char *v = lb_para_get(p, field);
	if (!v)
		return lb_errf(-LBE_FORMAT, "missing field '%s'", field);
	if (!valid(v)) {
		char tmp[72];
		return lb_errf(-LBE_FORMAT, "field '%s': bad value '%s'", field,
		               shown(v, strlen(v), tmp));
	}
	*out = strdup(v);
	return *out ? 0 : lb_errf(-ENOMEM, "out of memory");
}

static bool multi_arch_valid(const char *v)
{
	return !strcmp(v, "same") || !strcmp(v, "foreign") || !strcmp(v, "allowed") ||
	       !strcmp(v, "no");
}

static int parse_size(const char *v, unsigned long long *out)
{
	unsigned long long n = 0;
	if (!*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (~0ULL - 9) / 10)
			return -1;
		n = n * 10 + (unsigned)(*v - '0');
	}
	*out = n;
	return 0;
}

static int scalar_fields(const struct lb_para *p, struct lb_pkginfo *pi)
{
	char tmp[72];
	int r = dup_field(p, "Package", lb_pkgname_valid, &pi->name);
	if (!r)
		r = dup_field(p, "Version", lb_version_valid, &pi->version);
	if (!r)
		r = dup_field(p, "Architecture", arch_valid, &pi->arch);
	if (!r && lb_para_get(p, "Multi-Arch"))
		r = dup_field(p, "Multi-Arch", multi_arch_valid, &pi->multi_arch);
	if (r < 0)
		return r;
	const char *v = lb_para_get(p, "Essential");
	if (v && strcmp(v, "yes") && strcmp(v, "no"))
		return lb_errf(-LBE_FORMAT, "field 'Essential': bad value '%s'",
		               shown(v, strlen(v), tmp));
	pi->essential = v && !strcmp(v, "yes");
	v = lb_para_get(p, "Installed-Size");
	if (v && parse_size(v, &pi->installed_size) < 0)
		return lb_errf(-LBE_FORMAT, "field 'Installed-Size': bad value '%s'",
		               shown(v, strlen(v), tmp));
	return 0;
}

static int dep_fields(const struct lb_para *p, struct lb_pkginfo *pi)
{
	const struct {
		const char *name;
		struct lb_deplist *dl;
		bool alts;
	} f[] = {
	    {"Depends", &pi->depends, true},      {"Pre-Depends", &pi->pre_depends, true},
	    {"Conflicts", &pi->conflicts, false}, {"Breaks", &pi->breaks, false},
	    {"Replaces", &pi->replaces, false},   {"Provides", &pi->provides, false},
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		int r = lb_deplist_parse(lb_para_get(p, f[i].name), f[i].alts, f[i].dl);
		if (r < 0)
			return lb_err_prefix(r, "field '%s'", f[i].name);
	}
	for (size_t i = 0; i < pi->provides.n; i++) {
		const struct lb_dep_alt *a = &pi->provides.deps[i].alts[0];
		if (a->rel != LB_REL_ANY && a->rel != LB_REL_EQ)
			return lb_errf(-LBE_FORMAT, "field 'Provides': '%s': only '=' allowed",
			               a->name);
	}
	return 0;
}

int lb_pkginfo_from_para(const struct lb_para *p, struct lb_pkginfo *pi)
{
	memset(pi, 0, sizeof *pi);
	int r = scalar_fields(p, pi);
	if (!r)
		r = dep_fields(p, pi);
	if (r < 0)
		lb_pkginfo_free(pi);
	return r;
}

bool lb_pkginfo_satisfies(const struct lb_pkginfo *pi, const struct lb_dep_alt *alt)
{
	if (!strcmp(pi->name, alt->name) &&
	    lb_version_satisfies(pi->version, alt->rel, alt->version))
		return true;
	for (size_t i = 0; i < pi->provides.n; i++) {
		const struct lb_dep_alt *pv = &pi->provides.deps[i].alts[0];
		if (strcmp(pv->name, alt->name))
			continue;
		if (alt->rel == LB_REL_ANY)
			return true;
		if (pv->rel == LB_REL_EQ &&
		    lb_version_satisfies(pv->version, alt->rel, alt->version))
			return true;
	}
	return false;
}
