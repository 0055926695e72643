/* SPDX-License-Identifier: MIT */
/* Debian version strings, compared exactly as dpkg's verrevcmp() does. */
#include "version.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>

/* A parsed version: pointers into the original string, no allocation. */
struct ver {
	unsigned long epoch;
	const char *up;
	size_t uplen;
	const char *rev; /* "" when there is no revision */
	size_t revlen;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool chars_ok(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]) && !is_alpha(s[i]) && !strchr(extra, s[i]))
			return false;
	return true;
}

/* Split s into epoch, upstream and revision; false if it is not a valid version.
 * Like dpkg: the epoch ends at the first ':', the revision starts after the last
 * '-'. An upstream part not starting with a digit is only a warning in dpkg, so it
 * is accepted here too. */
static bool ver_parse(const char *s, struct ver *v)
{
	const char *colon = strchr(s, ':');
	const char *up = s;
	v->epoch = 0;
	if (colon) {
		if (colon == s)
			return false;
		for (const char *p = s; p < colon; p++) {
			if (!is_digit(*p))
				return false;
			v->epoch = v->epoch * 10 + (unsigned long)(*p - '0');
			if (v->epoch > INT_MAX)
				return false;
		}
		up = colon + 1;
	}
	const char *hyphen = strrchr(up, '-');
	size_t len = strlen(up);
	v->up = up;
	v->uplen = hyphen ? (size_t)(hyphen - up) : len;
	v->rev = hyphen ? hyphen + 1 : "";
	v->revlen = hyphen ? len - v->uplen - 1 : 0;
	if (v->uplen == 0 || (hyphen && v->revlen == 0))
		return false;
	return chars_ok(v->up, v->uplen, ".-+~:") && chars_ok(v->rev, v->revlen, ".+~");
}

bool lb_version_valid(const char *s)
{
	struct ver v;
	return s && *s && ver_parse(s, &v);
}

/* dpkg's weight of a non-digit character: '~' sorts before the end of the part,
 * letters before all other characters. */
static int order(char c)
{
	if (is_digit(c))
		return 0;
	if (is_alpha(c))
		return (unsigned char)c;
	if (c == '~')
		return -1;
	if (c)
		return (unsigned char)c + 256;
	return 0;
}

static char at(const char *s, size_t n, size_t i)
{
	return i < n ? s[i] : '\0';
}

/* dpkg's verrevcmp() over the counted strings a[0..an) and b[0..bn): alternating
 * runs of non-digits (compared by order()) and digits (compared numerically). */
static int verrevcmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i = 0, j = 0;
	while (i < an || j < bn) {
		int first_diff = 0;
		while ((i < an && !is_digit(a[i])) || (j < bn && !is_digit(b[j]))) {
			int ac = order(at(a, an, i)), bc = order(at(b, bn, j));
			if (ac != bc)
				return ac - bc;
			i++;
			j++;
		}
		while (at(a, an, i) == '0')
			i++;
		while (at(b, bn, j) == '0')
			j++;
		while (is_digit(at(a, an, i)) && is_digit(at(b, bn, j))) {
			if (!first_diff)
				first_diff = a[i] - b[j];
			i++;
			j++;
		}
		if (is_digit(at(a, an, i)))
			return 1;
		if (is_digit(at(b, bn, j)))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

int lb_vercmp(const char *a, const char *b)
{
	struct ver va, vb;
	bool oka, okb;
	if (!a)
		a = "";
	if (!b)
		b = "";
	oka = *a && ver_parse(a, &va);
	okb = *b && ver_parse(b, &vb);
	if (!oka || !okb)
		return oka == okb ? sign(strcmp(a, b)) : (oka ? -1 : 1);
	if (va.epoch != vb.epoch)
		return va.epoch < vb.epoch ? -1 : 1;
	int r = verrevcmp(va.up, va.uplen, vb.up, vb.uplen);
	if (!r)
		r = verrevcmp(va.rev, va.revlen, vb.rev, vb.revlen);
	return sign(r);
}

static const struct {
	const char *op;
	enum lb_rel rel;
} rel_names[] = {
    {"<<", LB_REL_LT}, {"<=", LB_REL_LE}, {"=", LB_REL_EQ},  {">=", LB_REL_GE}, {">>", LB_REL_GT},
    {"<", LB_REL_LE},  {">", LB_REL_GE},  {"lt", LB_REL_LT}, {"le", LB_REL_LE}, {"eq", LB_REL_EQ},
    {"ne", LB_REL_NE}, {"ge", LB_REL_GE}, {"gt", LB_REL_GT},
};

enum lb_rel lb_rel_parse(const char *op)
{
	for (size_t i = 0; op && i < sizeof rel_names / sizeof rel_names[0]; i++)
		if (!strcmp(op, rel_names[i].op))
			return rel_names[i].rel;
	return LB_REL_ANY;
}

const char *lb_rel_str(enum lb_rel rel)
{
	switch (rel) {
	case LB_REL_LT: return "<<";
	case LB_REL_LE: return "<=";
	case LB_REL_EQ: return "=";
	case LB_REL_NE: return "!=";
	case LB_REL_GE: return ">=";
	case LB_REL_GT: return ">>";
	case LB_REL_ANY: break;
	}
	return "";
}

bool lb_version_satisfies(const char *a, enum lb_rel rel, const char *b)
{
	if (rel == LB_REL_ANY)
		return true;
	int c = lb_vercmp(a, b);
	switch (rel) {
	case LB_REL_LT: return c < 0;
	case LB_REL_LE: return c <= 0;
	case LB_REL_EQ: return c == 0;
	case LB_REL_NE: return c != 0;
	case LB_REL_GE: return c >= 0;
	case LB_REL_GT: return c > 0;
	case LB_REL_ANY: break;
	}
	return false;
}
