/* SPDX-License-Identifier: MIT */
/* Versions: the input is up to three '\n'-separated strings a, b, c. Checks that
 * lb_vercmp is a total preorder (reflexive, antisymmetric, transitive), agrees
 * with lb_version_satisfies, and, on valid versions, with a plain port of dpkg's
 * own code (reference() below, which allocates as dpkg does). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int order(int c)
{
	if (c >= '0' && c <= '9')
		return 0;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return c;
	if (c == '~')
		return -1;
	return c ? c + 256 : 0;
}

static int isdig(int c)
{
	return c >= '0' && c <= '9';
}

/* dpkg 1.21 lib/dpkg/version.c verrevcmp(), verbatim but for names. */
static int verrevcmp(const char *a, const char *b)
{
	while (*a || *b) {
		int first_diff = 0;
		while ((*a && !isdig(*a)) || (*b && !isdig(*b))) {
			int ac = order(*a), bc = order(*b);
			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (isdig(*a) && isdig(*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (isdig(*a))
			return 1;
		if (isdig(*b))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

/* dpkg's split of a valid version: epoch, then upstream/revision at the last '-'. */
static int reference(const char *a, const char *b)
{
	const char *s[2] = {a, b};
	char *up[2], *rev[2];
	long epoch[2];
	for (int i = 0; i < 2; i++) {
		const char *colon = strchr(s[i], ':');
		epoch[i] = colon ? strtol(s[i], NULL, 10) : 0;
		up[i] = strdup(colon ? colon + 1 : s[i]);
		if (!up[i])
			abort();
		char *h = strrchr(up[i], '-');
		rev[i] = h ? h + 1 : (char *)"";
		if (h)
			*h = 0;
	}
	int r = epoch[0] != epoch[1] ? (epoch[0] < epoch[1] ? -1 : 1) : verrevcmp(up[0], up[1]);
	if (!r)
		r = verrevcmp(rev[0], rev[1]);
	free(up[0]);
	free(up[1]);
	return (r > 0) - (r < 0);
}

static int sgn(int x)
{
	return (x > 0) - (x < 0);
}

static void check_pair(const char *a, const char *b)
{
	int ab = sgn(lb_vercmp(a, b)), ba = sgn(lb_vercmp(b, a));
	if (ab != -ba)
		abort();
	if (lb_version_valid(a) && lb_version_valid(b) && ab != reference(a, b))
		abort();
	static const enum lb_rel rels[] = {LB_REL_LT, LB_REL_LE, LB_REL_EQ,
	                                   LB_REL_NE, LB_REL_GE, LB_REL_GT};
	static const int want[][3] = {{1, 0, 0}, {1, 1, 0}, {0, 1, 0},
	                              {1, 0, 1}, {0, 1, 1}, {0, 0, 1}};
	for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++)
		if (lb_version_satisfies(a, rels[i], b) != want[i][ab + 1])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *s[3] = {NULL, NULL, NULL};
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	s[0] = buf;
	for (int i = 1; i < 3; i++) {
		char *nl = strchr(s[i - 1], '\n');
		if (!nl)
			break;
		*nl = 0;
		s[i] = nl + 1;
	}
	for (int i = 0; i < 3 && s[i]; i++) {
		(void)lb_version_valid(s[i]);
		if (lb_vercmp(s[i], s[i]) != 0)
			abort();
		for (int j = 0; j < 3 && s[j]; j++)
			check_pair(s[i], s[j]);
	}
	if (s[2]) {
		int ab = lb_vercmp(s[0], s[1]), bc = lb_vercmp(s[1], s[2]);
		int ac = lb_vercmp(s[0], s[2]);
		if ((ab <= 0 && bc <= 0 && ac > 0) || (ab >= 0 && bc >= 0 && ac < 0))
			abort();
		if (ab == 0 && bc == 0 && ac != 0)
			abort();
	}
	(void)lb_rel_str(lb_rel_parse(s[0]));
	free(buf);
	return 0;
}
