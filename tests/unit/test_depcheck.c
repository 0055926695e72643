/* SPDX-License-Identifier: MIT */
/* Unit tests of rescue-agent/depcheck.c: data-driven tables of small package
 * sets (each package written as "name version; Field: value; ..."), plus
 * determinism and 50,000-package performance checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "depcheck.h"

#define MAXP 12

/* ---- building package sets ---------------------------------------------- */

/* The dependency field called name in pi (alts: '|' allowed), or NULL. */
static struct lb_deplist *field_list(struct lb_pkginfo *pi, const char *name, bool *alts)
{
	*alts = !strcmp(name, "Depends") || !strcmp(name, "Pre-Depends");
	if (!strcmp(name, "Depends"))
		return &pi->depends;
	if (!strcmp(name, "Pre-Depends"))
		return &pi->pre_depends;
	if (!strcmp(name, "Conflicts"))
		return &pi->conflicts;
	if (!strcmp(name, "Breaks"))
		return &pi->breaks;
	if (!strcmp(name, "Provides"))
		return &pi->provides;
	return NULL;
}

/* "name version; Field: value; ..." into pi (fields parsed by lb_deplist_parse) */
static void pkg_parse(const char *spec, struct lb_pkginfo *pi)
{
	char *s = strdup(spec), *save = NULL, *tok, *sp;

	assert_non_null(s);
	memset(pi, 0, sizeof *pi);
	tok = strtok_r(s, ";", &save);
	assert_non_null(tok);
	while (*tok == ' ')
		tok++;
	sp = strchr(tok, ' ');
	assert_non_null(sp);
	*sp = 0;
	pi->name = strdup(tok);
	pi->version = strdup(sp + 1);
	pi->arch = strdup("all");
	assert_true(pi->name && pi->version && pi->arch);
	while ((tok = strtok_r(NULL, ";", &save))) {
		char *colon = strchr(tok, ':');
		struct lb_deplist *dl;
		bool alts;

		while (*tok == ' ')
			tok++;
		assert_non_null(colon);
		*colon = 0;
		dl = field_list(pi, tok, &alts);
		if (!dl)
			fail_msg("unknown field \"%s\"", tok);
		else if (lb_deplist_parse(colon + 1, alts, dl))
			fail_msg("cannot parse \"%s\": %s", spec, lb_err_msg());
	}
	free(s);
}

struct pset {
	struct lb_pkginfo *pkgs;
	const struct lb_pkginfo **set;
	size_t n;
};

static void pset_make(struct pset *ps, const char *const *specs, size_t n)
{
	size_t i;

	ps->n = n;
	ps->pkgs = calloc(n ? n : 1, sizeof *ps->pkgs);
	ps->set = calloc(n ? n : 1, sizeof *ps->set);
	assert_true(ps->pkgs && ps->set);
	for (i = 0; i < n; i++) {
		pkg_parse(specs[i], &ps->pkgs[i]);
		ps->set[i] = &ps->pkgs[i];
	}
}

static void pset_free(struct pset *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		lb_pkginfo_free(&ps->pkgs[i]);
	free(ps->pkgs);
	free(ps->set);
}

static size_t count_specs(const char *const *specs)
{
	size_t n = 0;

	while (n < MAXP && specs[n])
		n++;
	return n;
}

/* "c b a" from an order */
static void order_names(const struct pset *ps, const size_t *order, char *buf, size_t size)
{
	size_t i, len = 0;

	buf[0] = 0;
	for (i = 0; i < ps->n && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? " " : "",
		                        ps->set[order[i]]->name);
}

static void check_err(const char *name, int r, int want, const char *msg)
{
	if (r != want)
		fail_msg("%s: returned %d, want %d (message: %s)", name, r, want, lb_err_msg());
	if (want && msg && !strstr(lb_err_msg(), msg))
		fail_msg("%s: message \"%s\" lacks \"%s\"", name, lb_err_msg(), msg);
	if (want && strchr(lb_err_msg(), '\n'))
		fail_msg("%s: message is not one line", name);
}

/* ---- lb_depcheck table --------------------------------------------------- */

struct check_case {
	const char *name;
	const char *pkgs[MAXP];
	int err;
	const char *msg;
};

static const struct check_case check_cases[] = {
    {"empty set", {NULL}, 0, NULL},
    {"chain ok", {"aa 1; Depends: bb", "bb 1; Depends: cc", "cc 1"}, 0, NULL},
    {"diamond ok",
     {"aa 1; Depends: bb, cc", "bb 1; Depends: dd", "cc 1; Depends: dd", "dd 1"},
     0,
     NULL},
    {"missing",
     {"app 2.0; Depends: libfoo (>= 2)"},
     -LBE_DEPENDS,
     "app 2.0: depends on libfoo (>= 2), which is not in the desired state"},
    {"missing in chain",
     {"aa 1; Depends: bb", "bb 1; Depends: cc"},
     -LBE_DEPENDS,
     "bb 1: depends on cc, which is not in"},
    {"version too old",
     {"app 2.0; Depends: libfoo (>= 2)", "libfoo 1.0"},
     -LBE_DEPENDS,
     "app 2.0: depends on libfoo (>= 2), but the desired state has libfoo 1.0"},
    {"pre-depends missing", {"aa 1; Pre-Depends: bb"}, -LBE_DEPENDS, "aa 1: pre-depends on bb,"},
    {"pre-depends ok", {"aa 1; Pre-Depends: bb (>= 1)", "bb 1"}, 0, NULL},
    {"self depends", {"aa 1; Depends: aa"}, 0, NULL},
    {"arch qualifier", {"aa 1; Depends: bb:any", "bb 1"}, 0, NULL},
    {"first problem in set order",
     {"aa 1; Depends: xx", "bb 1; Depends: yy"},
     -LBE_DEPENDS,
     "aa 1: depends on xx,"},
    /* each operator, satisfied and not */
    {"<< ok", {"aa 1; Depends: bb (<< 2)", "bb 1.9"}, 0, NULL},
    {"<< bad",
     {"aa 1; Depends: bb (<< 2)", "bb 2"},
     -LBE_DEPENDS,
     "depends on bb (<< 2), but the desired state has bb 2"},
    {"<= ok", {"aa 1; Depends: bb (<= 2)", "bb 2"}, 0, NULL},
    {"<= bad", {"aa 1; Depends: bb (<= 2)", "bb 2.0.1"}, -LBE_DEPENDS, "bb (<= 2)"},
    {"= ok", {"aa 1; Depends: bb (= 1:2-1)", "bb 1:2-1"}, 0, NULL},
    {"= bad", {"aa 1; Depends: bb (= 2-1)", "bb 2-2"}, -LBE_DEPENDS, "bb (= 2-1)"},
    {">= ok", {"aa 1; Depends: bb (>= 2~rc1)", "bb 2~rc1"}, 0, NULL},
    {">= bad tilde", {"aa 1; Depends: bb (>= 2)", "bb 2~rc1"}, -LBE_DEPENDS, "bb (>= 2)"},
    {">> ok", {"aa 1; Depends: bb (>> 2)", "bb 2.1"}, 0, NULL},
    {">> bad", {"aa 1; Depends: bb (>> 2)", "bb 2"}, -LBE_DEPENDS, "bb (>> 2)"},
    {">> epoch", {"aa 1; Depends: bb (>> 9)", "bb 1:1"}, 0, NULL},
    /* alternatives */
    {"alt first", {"aa 1; Depends: bb | cc", "bb 1"}, 0, NULL},
    {"alt later", {"aa 1; Depends: bb | cc", "cc 1"}, 0, NULL},
    {"alt version", {"aa 1; Depends: bb (>= 2) | cc", "bb 1", "cc 1"}, 0, NULL},
    {"alt none",
     {"aa 1; Depends: bb | cc (>= 2)", "cc 1"},
     -LBE_DEPENDS,
     "aa 1: depends on bb | cc (>= 2), but the desired state has cc 1"},
    {"alt absent",
     {"aa 1; Depends: bb | cc"},
     -LBE_DEPENDS,
     "depends on bb | cc, which is not in the desired state"},
    /* Provides */
    {"provides unversioned", {"aa 1; Depends: mta", "exim 4; Provides: mta"}, 0, NULL},
    {"provides unversioned vs versioned dep",
     {"aa 1; Depends: mta (>= 1)", "exim 4; Provides: mta"},
     -LBE_DEPENDS,
     "aa 1: depends on mta (>= 1), but in the desired state only exim 4 provides mta"},
    {"provides versioned ok", {"aa 1; Depends: xx (>= 1)", "bb 9; Provides: xx (= 2)"}, 0, NULL},
    {"provides versioned bad",
     {"aa 1; Depends: xx (>= 3)", "bb 9; Provides: xx (= 2)"},
     -LBE_DEPENDS,
     "depends on xx (>= 3)"},
    {"provides in alt", {"aa 1; Depends: yy | xx", "bb 1; Provides: xx"}, 0, NULL},
    {"provides own name", {"aa 1; Depends: bb", "bb 1; Provides: bb, bb"}, 0, NULL},
    /* Conflicts and Breaks */
    {"conflicts",
     {"aa 1.0; Conflicts: bb", "bb 2.0"},
     -LBE_CONFLICT,
     "aa 1.0 conflicts with bb 2.0 (Conflicts: bb)"},
    {"conflicts reported by later package",
     {"bb 2.0", "aa 1.0; Conflicts: bb"},
     -LBE_CONFLICT,
     "aa 1.0 conflicts with bb 2.0"},
    {"conflicts absent", {"aa 1; Conflicts: cc", "bb 1"}, 0, NULL},
    {"conflicts version miss", {"aa 1; Conflicts: bb (<< 2)", "bb 2"}, 0, NULL},
    {"conflicts version hit",
     {"aa 1; Conflicts: bb (<< 2)", "bb 1.5"},
     -LBE_CONFLICT,
     "aa 1 conflicts with bb 1.5 (Conflicts: bb (<< 2))"},
    {"conflicts via provides",
     {"postfix 3; Conflicts: mta", "exim 4; Provides: mta"},
     -LBE_CONFLICT,
     "postfix 3 conflicts with exim 4 (Conflicts: mta)"},
    {"conflicts versioned vs unversioned provides",
     {"aa 1; Conflicts: xx (<< 2)", "bb 1; Provides: xx"},
     0,
     NULL},
    {"conflicts versioned provides",
     {"aa 1; Conflicts: xx (<< 2)", "bb 1; Provides: xx (= 1)"},
     -LBE_CONFLICT,
     "aa 1 conflicts with bb 1"},
    {"self conflict via own provides",
     {"exim 4; Provides: mta; Conflicts: mta", "aa 1; Depends: mta"},
     0,
     NULL},
    {"two self-conflicting providers",
     {"exim 4; Provides: mta; Conflicts: mta", "postfix 3; Provides: mta; Conflicts: mta"},
     -LBE_CONFLICT,
     "exim 4 conflicts with postfix 3"},
    {"conflicts own name", {"aa 1; Conflicts: aa"}, 0, NULL},
    {"breaks version hit",
     {"aa 1; Breaks: bb (<< 2)", "bb 1.5"},
     -LBE_CONFLICT,
     "aa 1 breaks bb 1.5 (Breaks: bb (<< 2))"},
    {"breaks version miss", {"aa 1; Breaks: bb (<< 2)", "bb 2"}, 0, NULL},
    {"breaks via provides",
     {"aa 1; Breaks: xx", "bb 1; Provides: xx"},
     -LBE_CONFLICT,
     "aa 1 breaks bb 1"},
};

static void test_check_case(void **state)
{
	const struct check_case *c = *state;
	struct pset ps;

	pset_make(&ps, c->pkgs, count_specs(c->pkgs));
	lb_err_clear();
	check_err(c->name, lb_depcheck(ps.set, ps.n), c->err, c->msg);
	pset_free(&ps);
}

/* ---- lb_deporder table --------------------------------------------------- */

struct order_case {
	const char *name;
	const char *pkgs[MAXP];
	bool strict;
	int err;
	const char *msg;
	const char *order;
};

static const struct order_case order_cases[] = {
    {"empty", {NULL}, true, 0, NULL, ""},
    {"single", {"aa 1"}, true, 0, NULL, "aa"},
    {"unrelated keep set order", {"zz 1", "xx 1", "yy 1"}, true, 0, NULL, "zz xx yy"},
    {"chain", {"aa 1; Depends: bb", "bb 1; Depends: cc", "cc 1"}, true, 0, NULL, "cc bb aa"},
    {"chain sorted", {"cc 1", "bb 1; Depends: cc", "aa 1; Depends: bb"}, true, 0, NULL, "cc bb aa"},
    {"diamond",
     {"aa 1; Depends: bb, cc", "bb 1; Depends: dd", "cc 1; Depends: dd", "dd 1"},
     true,
     0,
     NULL,
     "dd bb cc aa"},
    {"unrelated stay put",
     {"uu 1", "aa 1; Depends: bb", "vv 1", "bb 1", "ww 1"},
     true,
     0,
     NULL,
     "uu vv bb aa ww"},
    {"pre-depends edge", {"aa 1; Pre-Depends: bb", "bb 1"}, true, 0, NULL, "bb aa"},
    {"outside deps ignored", {"aa 1; Depends: zz, bb", "bb 1"}, true, 0, NULL, "bb aa"},
    {"self depends", {"aa 1; Depends: aa", "bb 1"}, true, 0, NULL, "aa bb"},
    /* an edge to bb (first alternative) only: "cc aa bb" would mean an edge to cc */
    {"alt first chosen", {"cc 1", "aa 1; Depends: bb | cc", "bb 1"}, true, 0, NULL, "cc bb aa"},
    {"alt later used", {"aa 1; Depends: bb | cc", "cc 1"}, true, 0, NULL, "cc aa"},
    {"alt first unsatisfied",
     {"cc 1", "aa 1; Depends: bb (>= 2) | cc", "bb 1"},
     true,
     0,
     NULL,
     "cc aa bb"},
    {"versioned dep unsatisfied", {"aa 1; Depends: bb (>= 2)", "bb 1"}, true, 0, NULL, "aa bb"},
    {"provides edge", {"aa 1; Depends: mta", "exim 4; Provides: mta"}, true, 0, NULL, "exim aa"},
    {"versioned provides edge",
     {"aa 1; Depends: xx (>= 2)", "bb 1; Provides: xx (= 2)"},
     true,
     0,
     NULL,
     "bb aa"},
    {"real package before provider",
     {"aa 1; Depends: xx", "bb 1; Provides: xx", "xx 1"},
     true,
     0,
     NULL,
     "bb xx aa"},
    /* cycles: entered at the first package in set order, then post-order */
    {"2-cycle", {"aa 1; Depends: bb", "bb 1; Depends: aa"}, true, 0, NULL, "bb aa"},
    {"2-cycle reversed", {"bb 1; Depends: aa", "aa 1; Depends: bb"}, true, 0, NULL, "aa bb"},
    {"3-cycle",
     {"aa 1; Depends: bb", "bb 1; Depends: cc", "cc 1; Depends: aa"},
     true,
     0,
     NULL,
     "cc bb aa"},
    {"3-cycle rotated",
     {"bb 1; Depends: cc", "cc 1; Depends: aa", "aa 1; Depends: bb"},
     true,
     0,
     NULL,
     "aa cc bb"},
    {"cycle plus tails",
     {"dd 1; Depends: aa", "aa 1; Depends: bb, tt", "bb 1; Depends: aa", "tt 1", "ee 1"},
     true,
     0,
     NULL,
     "tt bb aa dd ee"},
    {"two cycles",
     {"aa 1; Depends: bb", "bb 1; Depends: aa, cc", "cc 1; Depends: dd", "dd 1; Depends: cc"},
     true,
     0,
     NULL,
     "dd cc bb aa"},
    {"pre-depends cycle strict",
     {"aa 1; Pre-Depends: bb", "bb 1; Depends: aa"},
     true,
     -LBE_CYCLE,
     "dependency cycle through Pre-Depends: aa -> bb -> aa",
     NULL},
    {"pre-depends cycle non-strict",
     {"aa 1; Pre-Depends: bb", "bb 1; Depends: aa"},
     false,
     0,
     NULL,
     "bb aa"},
    {"pre-depends 3-cycle strict",
     {"xx 1", "aa 1; Depends: bb", "bb 1; Pre-Depends: cc", "cc 1; Depends: aa"},
     true,
     -LBE_CYCLE,
     "dependency cycle through Pre-Depends: bb -> cc -> aa -> bb",
     NULL},
    {"pre-depends 3-cycle non-strict",
     {"xx 1", "aa 1; Depends: bb", "bb 1; Pre-Depends: cc", "cc 1; Depends: aa"},
     false,
     0,
     NULL,
     "xx cc bb aa"},
    {"pre-depends outside cycle strict",
     {"aa 1; Depends: bb", "bb 1; Depends: aa, cc", "cc 1; Pre-Depends: dd", "dd 1"},
     true,
     0,
     NULL,
     "dd cc bb aa"},
};

static void test_order_case(void **state)
{
	const struct order_case *c = *state;
	struct pset ps;
	size_t order[MAXP];
	int r;

	pset_make(&ps, c->pkgs, count_specs(c->pkgs));
	lb_err_clear();
	r = lb_deporder(ps.set, ps.n, c->strict, order);
	check_err(c->name, r, c->err, c->msg);
	if (!r) {
		char got[256];

		order_names(&ps, order, got, sizeof got);
		if (strcmp(got, c->order))
			fail_msg("%s: order \"%s\", want \"%s\"", c->name, got, c->order);
	}
	pset_free(&ps);
}

/* ---- properties ----------------------------------------------------------- */

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static size_t rnd(size_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (size_t)(rng_state % n);
}

/* n packages "pN"; package i depends on up to three packages j > i (acyclic
 * when back == 0) plus, with back, some random edges that make cycles; every
 * 10th package also provides "vN" and some depend on "vN". */
static char **random_specs(size_t n, bool back)
{
	char **specs = calloc(n, sizeof *specs);
	size_t i, k;

	assert_non_null(specs);
	for (i = 0; i < n; i++) {
		char buf[256];
		int len = snprintf(buf, sizeof buf, "p%zu 1.%zu", i, i % 7);
		const char *sep = "; Depends: ";

		for (k = 0; k < 3 && i + 1 < n; k++) {
			size_t j = i + 1 + rnd(n - i - 1 < 50 ? n - i - 1 : 50);

			if (rnd(3))
				continue;
			if (j % 10 == 0 && rnd(2))
				len += snprintf(buf + len, sizeof buf - len, "%sv%zu", sep, j);
			else
				len += snprintf(buf + len, sizeof buf - len, "%sp%zu (>= 1.%zu)",
				                sep, j, j % 7);
			sep = ", ";
		}
		if (back && i > 0 && rnd(8) == 0)
			len += snprintf(buf + len, sizeof buf - len, "%sp%zu", sep, rnd(i));
		if (i % 10 == 0)
			snprintf(buf + len, sizeof buf - len, "; Provides: v%zu", i);
		specs[i] = strdup(buf);
		assert_non_null(specs[i]);
	}
	return specs;
}

static void free_specs(char **specs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(specs[i]);
	free(specs);
}

static bool is_permutation(const size_t *order, size_t n)
{
	bool *seen = calloc(n ? n : 1, sizeof *seen);
	bool ok = seen != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		ok = order[i] < n && !seen[order[i]];
		if (ok)
			seen[order[i]] = true;
	}
	free(seen);
	return ok;
}

/* Every satisfied dependency of an acyclic set comes earlier (names are "pN"
 * and "vN" = provided by pN, so the index is read off the name). */
static void assert_topological(const struct pset *ps, const size_t *order)
{
	size_t *pos = malloc(ps->n * sizeof *pos), i, k;

	assert_non_null(pos);
	assert_true(is_permutation(order, ps->n));
	for (i = 0; i < ps->n; i++)
		pos[order[i]] = i;
	for (i = 0; i < ps->n; i++) {
		const struct lb_deplist *dl = &ps->set[i]->depends;

		for (k = 0; k < dl->n; k++) {
			size_t j = strtoul(dl->deps[k].alts[0].name + 1, NULL, 10);

			assert_true(j < ps->n);
			if (pos[j] > pos[i])
				fail_msg("%s placed before its dependency %s", ps->set[i]->name,
				         ps->set[j]->name);
		}
	}
	free(pos);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_determinism(void **state)
{
	enum { N = 2000 };
	char **specs = random_specs(N, true);
	size_t *o1 = malloc(N * sizeof *o1), *o2 = malloc(N * sizeof *o2);
	struct pset ps;

	(void)state;

	assert_true(o1 && o2);
	pset_make(&ps, (const char *const *)specs, N);
	assert_int_equal(lb_deporder(ps.set, ps.n, false, o1), 0);
	assert_int_equal(lb_deporder(ps.set, ps.n, false, o2), 0);
	assert_true(is_permutation(o1, N));
	assert_memory_equal(o1, o2, N * sizeof *o1);
	/* the same check twice gives the same answer */
	assert_int_equal(lb_depcheck(ps.set, ps.n), 0);
	assert_int_equal(lb_depcheck(ps.set, ps.n), 0);
	pset_free(&ps);
	free_specs(specs, N);
	free(o1);
	free(o2);
}

/* Unrelated packages u0..u9 keep their relative set order whatever the
 * positions of a related chain among them. */
static void test_permutation(void **state)
{
	static const char *const related[] = {"aa 1; Depends: bb", "bb 1; Depends: cc", "cc 1"};
	char unrel[10][8];
	const char *specs[13];
	size_t order[13], round, i, k, nu, nr;

	(void)state;

	for (i = 0; i < 10; i++)
		snprintf(unrel[i], sizeof unrel[i], "u%zu 1", i);
	for (round = 0; round < 200; round++) {
		struct pset ps;
		char last = 0;
		size_t ri = 0, ui = 0;

		for (i = 0; i < 13; i++) {
			/* choose related or unrelated at random while both remain */
			bool take_rel = ri < 3 && (ui == 10 || rnd(13) < 3);

			specs[i] = take_rel ? related[ri++] : unrel[ui++];
		}
		pset_make(&ps, specs, 13);
		assert_int_equal(lb_deporder(ps.set, ps.n, true, order), 0);
		for (i = 0, nu = 0, nr = 0; i < 13; i++) {
			const char *name = ps.set[order[i]]->name;

			if (name[0] == 'u') {
				k = (size_t)(name[1] - '0');
				assert_int_equal(k, nu);
				nu++;
			} else {
				/* c, b, a in this order */
				if (last)
					assert_int_equal(name[0], last - 1);
				else
					assert_int_equal(name[0], 'c');
				last = name[0];
				nr++;
			}
		}
		assert_int_equal(nu, 10);
		assert_int_equal(nr, 3);
		pset_free(&ps);
	}
}

static void run_perf(const char *what, char **specs, size_t n)
{
	size_t *order = malloc(n * sizeof *order);
	struct pset ps;
	double t0, t1, t2;

	assert_non_null(order);
	pset_make(&ps, (const char *const *)specs, n);
	t0 = now();
	assert_int_equal(lb_depcheck(ps.set, ps.n), 0);
	t1 = now();
	assert_int_equal(lb_deporder(ps.set, ps.n, true, order), 0);
	t2 = now();
	print_message("%s: %zu packages: depcheck %.3f s, deporder %.3f s\n", what, n, t1 - t0,
	              t2 - t1);
	assert_true(t2 - t0 < 1.0);
	assert_topological(&ps, order);
	pset_free(&ps);
	free(order);
}

static void test_perf_chain(void **state)
{
	enum { N = 50000 };
	char **specs = calloc(N, sizeof *specs);
	size_t i;

	(void)state;

	assert_non_null(specs);
	for (i = 0; i < N; i++) {
		char buf[64];

		if (i + 1 < N)
			snprintf(buf, sizeof buf, "p%zu 1; Pre-Depends: p%zu (>= 1)", i, i + 1);
		else
			snprintf(buf, sizeof buf, "p%zu 1", i);
		specs[i] = strdup(buf);
		assert_non_null(specs[i]);
	}
	run_perf("chain", specs, N);
	free_specs(specs, N);
}

static void test_perf_dag(void **state)
{
	enum { N = 50000 };
	char **specs = random_specs(N, false);

	(void)state;

	run_perf("random DAG", specs, N);
	free_specs(specs, N);
}

/* A 50,000-package cycle: no recursion, a strict refusal and a full order. */
static void test_perf_cycle(void **state)
{
	enum { N = 50000 };
	char **specs = calloc(N, sizeof *specs);
	size_t *order = malloc(N * sizeof *order), i;
	struct pset ps;

	(void)state;

	assert_true(specs && order);
	for (i = 0; i < N; i++) {
		char buf[64];

		snprintf(buf, sizeof buf, "p%zu 1; %s: p%zu", i,
		         i == N / 2 ? "Pre-Depends" : "Depends", (i + 1) % N);
		specs[i] = strdup(buf);
		assert_non_null(specs[i]);
	}
	pset_make(&ps, (const char *const *)specs, N);
	lb_err_clear();
	assert_int_equal(lb_deporder(ps.set, ps.n, true, order), -LBE_CYCLE);
	assert_non_null(
	    strstr(lb_err_msg(), "dependency cycle through Pre-Depends: p25000 -> p25001 -> "));
	assert_null(strchr(lb_err_msg(), '\n'));
	assert_int_equal(lb_deporder(ps.set, ps.n, false, order), 0);
	assert_true(is_permutation(order, N));
	for (i = 0; i < N; i++) /* entered at p0: p49999 ... p0 */
		assert_int_equal(order[i], N - 1 - i);
	pset_free(&ps);
	free_specs(specs, N);
	free(order);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_determinism), cmocka_unit_test(test_permutation),
	    cmocka_unit_test(test_perf_chain),  cmocka_unit_test(test_perf_dag),
	    cmocka_unit_test(test_perf_cycle),
	};
	size_t nc = sizeof check_cases / sizeof check_cases[0];
	size_t no = sizeof order_cases / sizeof order_cases[0];
	size_t nf = sizeof fixed / sizeof fixed[0], i, n = 0;
	struct CMUnitTest *tests = calloc(nc + no + nf, sizeof *tests);
	int r;

	if (!tests)
		return 1;
	for (i = 0; i < nc; i++)
		tests[n++] = (struct CMUnitTest){.name = check_cases[i].name,
		                                 .test_func = test_check_case,
		                                 .initial_state = (void *)&check_cases[i]};
	for (i = 0; i < no; i++)
		tests[n++] = (struct CMUnitTest){.name = order_cases[i].name,
		                                 .test_func = test_order_case,
		                                 .initial_state = (void *)&order_cases[i]};
	for (i = 0; i < nf; i++)
		tests[n++] = fixed[i];
	r = _cmocka_run_group_tests("depcheck", tests, n, NULL, NULL);
	free(tests);
	return r;
}
