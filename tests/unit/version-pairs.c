/* SPDX-License-Identifier: MIT */
/* Helper of version-pairs.sh: reads versions (one a line) on stdin, sorts them
 * with lb_vercmp and prints "A OP B" lines (OP: lt, eq, gt as lb_vercmp sees it)
 * for every adjacent pair of the sorted list, then for `nrandom` pseudo-random
 * pairs. The script has dpkg confirm each line. Exit 1 if a version is invalid
 * or lb_vercmp is not antisymmetric. Usage: version-pairs [nrandom] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

static int qcmp(const void *a, const void *b)
{
	return lb_vercmp(*(char *const *)a, *(char *const *)b);
}

static const char *op(int c)
{
	return c < 0 ? "lt" : c > 0 ? "gt" : "eq";
}

int main(int argc, char **argv)
{
	size_t n = 0, cap = 0, nrandom = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
	char **v = NULL, *line = NULL;
	size_t lcap = 0;
	int bad = 0;
	ssize_t len;
	while ((len = getline(&line, &lcap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = 0;
		if (!len)
			continue;
		if (!lb_version_valid(line)) {
			fprintf(stderr, "version-pairs: lb_version_valid rejects '%s'\n", line);
			bad = 1;
			continue;
		}
		if (n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 1024) * sizeof *v);
			if (!nv)
				return 2;
			v = nv;
		}
		if (!(v[n++] = strdup(line)))
			return 2;
	}
	free(line);
	if (n < 2)
		return 2;
	qsort(v, n, sizeof *v, qcmp);
	for (size_t i = 0; i + 1 < n; i++)
		printf("%s %s %s\n", v[i], op(lb_vercmp(v[i], v[i + 1])), v[i + 1]);
	unsigned long long x = 88172645463325252ULL; /* xorshift64, fixed seed */
	for (size_t i = 0; i < nrandom; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		const char *a = v[x % n], *b = v[(x >> 32) % n];
		int c = lb_vercmp(a, b), r = lb_vercmp(b, a);
		if ((c > 0) - (c < 0) != (r < 0) - (r > 0)) {
			fprintf(stderr, "version-pairs: not antisymmetric: '%s' '%s'\n", a, b);
			bad = 1;
		}
		printf("%s %s %s\n", a, op(c), b);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return bad;
}
