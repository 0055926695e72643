/* SPDX-License-Identifier: MIT */
/* deb822 parser: one pass over the lines, each field's value built in one
 * allocation after its continuation lines have been measured. */
#include "deb822.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
	const char *buf;
	size_t len, pos;
	unsigned line; /* number of the line last returned */
};

struct line {
	const char *s;
	size_t n; /* without "\n" and a trailing "\r" */
};

static bool next_line(struct cursor *c, struct line *l)
{
	if (c->pos >= c->len)
		return false;
	size_t avail = c->len - c->pos;
	const char *s = c->buf + c->pos;
	const char *nl = memchr(s, '\n', avail);
	size_t n = nl ? (size_t)(nl - s) : avail;
	c->pos += nl ? n + 1 : n;
	c->line++;
	l->s = s;
	l->n = n && s[n - 1] == '\r' ? n - 1 : n;
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool line_blank(const struct line *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (!is_blank(l->s[i]))
			return false;
	return true;
}

static bool line_cont(const struct line *l)
{
	return l->n > 0 && is_blank(l->s[0]);
}

static bool line_comment(const struct line *l)
{
	return l->n > 0 && l->s[0] == '#';
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool name_eq(const char *a, const char *b)
{
	for (; *a && ascii_lower(*a) == ascii_lower(*b); a++, b++)
		;
	return ascii_lower(*a) == ascii_lower(*b);
}

static char *memdup0(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

/* Continuation line text: without its first space/tab; " ." is an empty line. */
static void cont_text(const struct line *l, const char **s, size_t *n)
{
	*s = l->s + 1;
	*n = l->n - 1;
	if (*n == 1 && **s == '.')
		*n = 0;
}

/* Build the value of the field whose first line's text after the colon is
 * first[0..fn); consumes its continuation lines (and comments among them). */
static char *build_value(struct cursor *c, const char *first, size_t fn)
{
	while (fn > 0 && is_blank(*first))
		first++, fn--;
	while (fn > 0 && is_blank(first[fn - 1]))
		fn--;
	struct cursor end = *c, probe = *c;
	struct line l;
	size_t total = fn;
	while (next_line(&probe, &l) && (line_comment(&l) || (line_cont(&l) && !line_blank(&l)))) {
		if (!line_comment(&l))
			total += l.n; /* "\n" + text without its first character */
		end = probe;
	}
	char *v = malloc(total + 1), *p = v;
	if (!v)
		return NULL;
	memcpy(p, first, fn);
	p += fn;
	while (c->pos < end.pos && next_line(c, &l)) {
		const char *s;
		size_t n;
		if (line_comment(&l))
			continue;
		cont_text(&l, &s, &n);
		*p++ = '\n';
		memcpy(p, s, n);
		p += n;
	}
	*p = 0;
	return v;
}

static void para_free(struct lb_para *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->fields[i].name);
		free(p->fields[i].value);
	}
	free(p->fields);
	memset(p, 0, sizeof *p);
}

void lb_doc_free(struct lb_doc *doc)
{
	for (size_t i = 0; doc && i < doc->n; i++)
		para_free(&doc->paras[i]);
	if (doc) {
		free(doc->paras);
		memset(doc, 0, sizeof *doc);
	}
}

/* arr (of *cap elements of size sz), grown if needed to hold at least n + 1;
 * NULL if out of memory (arr is then left as it was). */
static void *grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p = reallocarray(arr, ncap, sz);
	if (p)
		*cap = ncap;
	return p;
}

static int name_check(const struct line *l, size_t colon, unsigned line)
{
	if (colon == 0)
		return lb_errf(-LBE_FORMAT, "line %u: empty field name", line);
	if (l->s[0] == '-')
		return lb_errf(-LBE_FORMAT, "line %u: field name starts with '-'", line);
	for (size_t i = 0; i < colon; i++)
		if (l->s[i] <= ' ' || l->s[i] > '~')
			return lb_errf(-LBE_FORMAT, "line %u: bad character in field name", line);
	return 0;
}

/* Parse one field starting at line l (already consumed from c) into para p. */
static int add_field(struct cursor *c, const struct line *l, struct lb_para *p, size_t *cap)
{
	unsigned line = c->line;
	const char *colon = memchr(l->s, ':', l->n);
	if (!colon)
		return lb_errf(-LBE_FORMAT, "line %u: field without a colon", line);
	size_t nlen = (size_t)(colon - l->s);
	int r = name_check(l, nlen, line);
	if (r < 0)
		return r;
	if (p->n >= LB_DEB822_MAX_FIELDS)
		return lb_errf(-LBE_FORMAT, "line %u: more than %d fields in a paragraph", line,
		               LB_DEB822_MAX_FIELDS);
	struct lb_field *fields = grow(p->fields, cap, p->n, sizeof *p->fields);
	if (!fields)
		return lb_errf(-ENOMEM, "line %u: out of memory", line);
	p->fields = fields;
	struct lb_field *f = &p->fields[p->n];
	f->name = memdup0(l->s, nlen);
	f->value = f->name ? build_value(c, colon + 1, l->n - nlen - 1) : NULL;
	if (!f->value) {
		free(f->name);
		return lb_errf(-ENOMEM, "line %u: out of memory", line);
	}
	p->n++;
	for (size_t i = 0; i + 1 < p->n; i++)
		if (name_eq(p->fields[i].name, f->name))
			return lb_errf(-LBE_FORMAT, "line %u: duplicate field '%s'", line, f->name);
	if (p->n == 1)
		p->line = line;
	return 0;
}

static int parse(struct cursor *c, struct lb_doc *doc)
{
	size_t pcap = 0, fcap = 0;
	struct lb_para *cur = NULL;
	struct line l;
	while (next_line(c, &l)) {
		if (line_blank(&l)) {
			cur = NULL;
			continue;
		}
		if (line_comment(&l))
			continue;
		if (line_cont(&l))
			return lb_errf(-LBE_FORMAT, "line %u: continuation line outside a field",
			               c->line);
		if (!cur) {
			if (doc->n >= LB_DEB822_MAX_PARAS)
				return lb_errf(-LBE_FORMAT, "line %u: more than %u paragraphs",
				               c->line, LB_DEB822_MAX_PARAS);
			struct lb_para *paras = grow(doc->paras, &pcap, doc->n, sizeof *paras);
			if (!paras)
				return lb_errf(-ENOMEM, "line %u: out of memory", c->line);
			doc->paras = paras;
			cur = &doc->paras[doc->n++];
			memset(cur, 0, sizeof *cur);
			fcap = 0;
		}
		int r = add_field(c, &l, cur, &fcap);
		if (r < 0)
			return r;
	}
	return 0;
}

int lb_deb822_parse(const char *buf, size_t len, struct lb_doc *doc)
{
	memset(doc, 0, sizeof *doc);
	if (len > LB_DEB822_MAX_INPUT)
		return lb_errf(-LBE_FORMAT, "document larger than %u bytes", LB_DEB822_MAX_INPUT);
	if (len && !buf)
		return lb_errf(-EINVAL, "no input buffer");
	const char *nul = len ? memchr(buf, 0, len) : NULL;
	if (nul) {
		unsigned line = 1;
		for (const char *p = buf; p < nul; p++)
			line += *p == '\n';
		return lb_errf(-LBE_FORMAT, "line %u: NUL byte", line);
	}
	struct cursor c = {.buf = buf, .len = len};
	int r = parse(&c, doc);
	if (r < 0)
		lb_doc_free(doc);
	return r;
}

const char *lb_para_get(const struct lb_para *p, const char *name)
{
	for (size_t i = 0; p && name && i < p->n; i++)
		if (name_eq(p->fields[i].name, name))
			return p->fields[i].value;
	return NULL;
}
