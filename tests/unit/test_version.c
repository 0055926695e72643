/* SPDX-License-Identifier: MIT */
/* Version validity, ordering and relations; tables checked against dpkg by hand
 * (tests/unit/version-pairs.sh checks thousands of real versions mechanically). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "version.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *v;
	bool valid;
} valid_cases[] = {
    {"0", true},
    {"1.0", true},
    {"1:1.0", true},
    {"0:0", true},
    {"00:1", true},
    {"1.0-1", true},
    {"1:2:3", true},   /* upstream may contain ':' after an epoch */
    {"1.0-1-2", true}, /* upstream "1.0-1", revision "2" */
    {"1.0+dfsg~rc1-0ubuntu1", true},
    {"1.0-a.b+c~d", true},
    {"2147483647:0", true},
    {"a1.0", true}, /* dpkg only warns */
    {"~", true},
    {"", false},
    {":1.0", false}, /* empty epoch */
    {"a:1.0", false},
    {"1a:1.0", false},
    {"-1:1.0", false},
    {"2147483648:1", false}, /* epoch too big */
    {"99999999999999999999:1", false},
    {"1:", false}, /* empty upstream */
    {"-1", false},
    {"1:-1", false},
    {"1.0-", false}, /* empty revision */
    {"1.0-1-", false},
    {"1.0 1", false},
    {" 1.0", false},
    {"1.0 ", false},
    {"1.0\n", false},
    {"1.0_1", false},
    {"1.0/2", false},
    {"1.0-1:2", false}, /* ':' not allowed in the revision */
    {"1.0-1_2", false},
    {"1.0\x80", false},
    {"1.0\xc3\xa9", false},
};

static void test_valid(void **state)
{
	for (size_t i = 0; i < N(valid_cases); i++) {
		bool got = lb_version_valid(valid_cases[i].v);
		if (got != valid_cases[i].valid)
			fail_msg("lb_version_valid(\"%s\") = %d", valid_cases[i].v, got);
	}
	assert_false(lb_version_valid(NULL));
}

static const struct {
	const char *a, *b;
	int cmp;
} cmp_cases[] = {
    {"0", "0", 0},
    {"0", "00", 0},
    {"1.0", "1.0-0", 0},
    {"0:1.0", "1.0", 0},
    {"00:1.0", "1.0", 0},
    {"0:0-0", "0", 0},
    {"1.002", "1.2", 0},
    {"1.0", "1.0-1", -1},
    {"1:1.0", "2.0", 1},
    {"1:0", "0:99999", 1},
    {"2147483647:1", "1:1", 1},
    {"1.0~rc1", "1.0", -1},
    {"1.0~~", "1.0~", -1},
    {"1.0~~a", "1.0~~", 1},
    {"1.0~", "1.0", -1},
    {"1.0", "1.0a", -1},
    {"1.0a", "1.0+", -1}, /* letters before non-letters */
    {"1.0+", "1.0.", -1}, /* non-letters by ASCII */
    {"1.0A", "1.0a", -1},
    {"1.0a", "1.0b", -1},
    {"1.0", "1.0.0", -1},
    {"1.2", "1.10", -1},
    {"9", "10", -1},
    {"2.0-1", "10.0-1", -1},
    {"1.0-2", "1.0-10", -1},
    {"1.0-1", "1.0-1.1", -1},
    {"1.0-1~bpo1", "1.0-1", -1},
    {"1.0-a", "1.0-b", -1},
    {"2:1-2-3", "2:1-2-4", -1},
    {"1:2:3", "1:2:4", -1},
    {"1.0+dfsg", "1.0", 1},
    {"1.0+b1", "1.0", 1},
    {"1.0~rc1", "1.0~beta", 1},
    {"4294967296", "4294967295", 1},
    {"123456789012345678901234567890", "123456789012345678901234567891", -1},
    {"a", "b", -1},
    {"~", "~~", 1},
    {"1.0", "1.0~", 1},
    {"0.0.0.1", "0.0.0.01", 0},
    {"1.0a1", "1.0a01", 0},
    {"7.6p2-4", "7.6-0", 1},
    {"1.0.3-3", "1.0-1", 1},
    {"1.3", "1.2.2-2", 1},
    {"1.3", "1.2.2", 1},
    {"0-pre", "0-pre", 0},
    {"0-pre", "0-pree", -1},
    {"1.1.6r2-2", "1.1.6r-1", 1},
    {"2.6b2-1", "2.6b-2", 1},
    {"98.1p5-1", "98.1-pre2-b6-2", -1},
    {"0.4a6-2", "0.4-1", 1},
    {"1:3.0.5-2", "1:3.0.5.1", -1},
    {"10.3", "1:0.4", -1},
    {"1:1.25-4", "1:1.25-8", -1},
    {"0:1.18.36", "1.18.36", 0},
    {"1.18.36", "1.18.35", 1},
    {"0:1.18.36", "1.18.35", 1},
    {"9:1.18.36:5.4-20", "10:0.5.1-22", -1},
    {"9:1.18.36:5.4-20", "9:1.18.36:5.5-1", -1},
    {"9:1.18.36:5.4-20", " 9:1.18.37:4.3-22", -1}, /* invalid after valid */
    {"1.18.36-0.17.35-18", "1.18.36-19", 1},
    {"1:1.2.13-3", "1:1.2.13-3.1", -1},
    {"2.0.7pre1-4", "2.0.7r-1", -1},
    {"0:0-0-0", "0-0", 1},
    /* invalid versions sort after valid ones, then as strings */
    {"", "0", 1},
    {"1.0-", "1.0", 1},
    {"1.0-", "99", 1},
    {"x y", "x z", -1},
    {"", "", 0},
    {"2147483648:1", "2147483647:1", 1},
};

static int sgn(int x)
{
	return (x > 0) - (x < 0);
}

static void test_cmp(void **state)
{
	for (size_t i = 0; i < N(cmp_cases); i++) {
		const char *a = cmp_cases[i].a, *b = cmp_cases[i].b;
		int got = sgn(lb_vercmp(a, b)), back = sgn(lb_vercmp(b, a));
		if (got != cmp_cases[i].cmp || back != -cmp_cases[i].cmp)
			fail_msg("vercmp(\"%s\", \"%s\") = %d, reverse %d, want %d", a, b, got,
			         back, cmp_cases[i].cmp);
		assert_int_equal(lb_vercmp(a, a), 0);
	}
	assert_int_equal(lb_vercmp(NULL, NULL), 0);
	assert_true(lb_vercmp("1", NULL) < 0);
}

static const struct {
	const char *op;
	enum lb_rel rel;
	const char *canon;
} rel_cases[] = {
    {"<<", LB_REL_LT, "<<"},   {"<=", LB_REL_LE, "<="}, {"=", LB_REL_EQ, "="},
    {">=", LB_REL_GE, ">="},   {">>", LB_REL_GT, ">>"}, {"<", LB_REL_LE, "<="},
    {">", LB_REL_GE, ">="},    {"lt", LB_REL_LT, "<<"}, {"le", LB_REL_LE, "<="},
    {"eq", LB_REL_EQ, "="},    {"ne", LB_REL_NE, "!="}, {"ge", LB_REL_GE, ">="},
    {"gt", LB_REL_GT, ">>"},   {"", LB_REL_ANY, ""},    {"==", LB_REL_ANY, ""},
    {"!=", LB_REL_ANY, ""},    {"<<=", LB_REL_ANY, ""}, {"LT", LB_REL_ANY, ""},
    {"lt-nl", LB_REL_ANY, ""},
};

static void test_rel(void **state)
{
	for (size_t i = 0; i < N(rel_cases); i++) {
		enum lb_rel r = lb_rel_parse(rel_cases[i].op);
		if (r != rel_cases[i].rel)
			fail_msg("lb_rel_parse(\"%s\") = %d", rel_cases[i].op, r);
		assert_string_equal(lb_rel_str(r), rel_cases[i].canon);
	}
	assert_int_equal(lb_rel_parse(NULL), LB_REL_ANY);
	assert_string_equal(lb_rel_str((enum lb_rel)99), "");
}

static const struct {
	const char *a, *op, *b;
	bool holds;
} sat_cases[] = {
    {"1.0", "<<", "1.1", true},   {"1.1", "<<", "1.1", false},   {"1.0", "<=", "1.0", true},
    {"1.1", "<=", "1.0", false},  {"1.0", "=", "1.0-0", true},   {"1.0", "=", "1.0-1", false},
    {"1.0", "ne", "1.0-1", true}, {"1.0", "ne", "0:1.0", false}, {"2", ">=", "1", true},
    {"1", ">=", "2", false},      {"2", ">>", "1", true},        {"2", ">>", "2", false},
    {"1.0", "<", "1.0", true}, /* obsolete: <= */
    {"1.0", ">", "1.0", true}, /* obsolete: >= */
    {"1.0~", "<", "1.0", true},   {"1.1", ">", "1.0", true},     {"1.1", "<", "1.0", false},
};

static void test_satisfies(void **state)
{
	for (size_t i = 0; i < N(sat_cases); i++) {
		bool got = lb_version_satisfies(sat_cases[i].a, lb_rel_parse(sat_cases[i].op),
		                                sat_cases[i].b);
		if (got != sat_cases[i].holds)
			fail_msg("%s %s %s = %d", sat_cases[i].a, sat_cases[i].op, sat_cases[i].b,
			         got);
	}
	assert_true(lb_version_satisfies("1", LB_REL_ANY, NULL));
}

/* Sorting a shuffled list with lb_vercmp gives dpkg's order. */
static int qcmp(const void *a, const void *b)
{
	return lb_vercmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_sort(void **state)
{
	const char *want[] = {"~~",  "~~a",   "~",    "0~",        "0",     "0-1", "1.0~rc1",
	                      "1.0", "1.0-1", "1.0a", "1.0+b1",    "1.0.1", "1.2", "1.10",
	                      "2",   "10",    "1:0",  "1:1.0~bpo", "2:0~~", "1.0-"};
	const char *v[N(want)];
	for (size_t i = 0; i < N(want); i++)
		v[i] = want[(i * 7) % N(want)];
	qsort(v, N(v), sizeof v[0], qcmp);
	for (size_t i = 0; i < N(want); i++)
		assert_string_equal(v[i], want[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid), cmocka_unit_test(test_cmp),
	    cmocka_unit_test(test_rel),   cmocka_unit_test(test_satisfies),
	    cmocka_unit_test(test_sort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
