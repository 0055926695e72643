/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "control.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *name;
	bool valid;
} name_cases[] = {
    {"ab", true},      {"libc6", true},      {"g++", true},  {"libstdc++6", true}, {"0ad", true},
    {"a-b.c+d", true}, {"python3.11", true}, {"a", false},   {"", false},          {"Ab", false},
    {"-ab", false},    {".ab", false},       {"+ab", false}, {"a_b", false},       {"a b", false},
    {"a:b", false},    {"a\xc3\xa9", false},
};

static void test_pkgname(void **state)
{
	for (size_t i = 0; i < N(name_cases); i++)
		if (lb_pkgname_valid(name_cases[i].name) != name_cases[i].valid)
			fail_msg("lb_pkgname_valid(\"%s\")", name_cases[i].name);
	assert_false(lb_pkgname_valid(NULL));
}

/* Dependency fields that parse, and their canonical text. */
static const struct {
	const char *in;
	bool alts;
	const char *out;
} dep_ok[] = {
    {"aa (>= 1.0) | bb, cc:any, dd (<< 2)", true, "aa (>= 1.0) | bb, cc:any, dd (<< 2)"},
    {"aa(>=1.0)|bb,cc", true, "aa (>= 1.0) | bb, cc"},
    {"  aa  ( =  1 ) ,\n bb\n", true, "aa (= 1), bb"},
    {"aa (< 1), bb (> 2)", false, "aa (<= 1), bb (>= 2)"}, /* obsolete forms */
    {"aa (<= 1), bb (>> 2), cc (= 1:2-3)", false, "aa (<= 1), bb (>> 2), cc (= 1:2-3)"},
    {"libc6:amd64 (>= 2.36)", false, "libc6:amd64 (>= 2.36)"},
    {"", true, ""},
    {" \n\t", true, ""},
    {"aa", false, "aa"},
    {"aa|bb|cc|dd", true, "aa | bb | cc | dd"},
};
static void test_dep_ok(void **state)
{
	for (size_t i = 0; i < N(dep_ok); i++) {
		struct lb_deplist dl;
		char buf[256];
		int r = lb_deplist_parse(dep_ok[i].in, dep_ok[i].alts, &dl);
		if (r)
			fail_msg("'%s': %d %s", dep_ok[i].in, r, lb_err_msg());
		size_t n = lb_deplist_format(&dl, buf, sizeof buf);
		assert_string_equal(buf, dep_ok[i].out);
		assert_int_equal(n, strlen(dep_ok[i].out));
		lb_deplist_free(&dl);
	}
}

static void test_dep_fields(void **state)
{
	struct lb_deplist dl;
	assert_int_equal(lb_deplist_parse("aa (>= 1.0) | bb:any, cc", true, &dl), 0);
	assert_int_equal(dl.n, 2);
	assert_int_equal(dl.deps[0].n, 2);
	assert_string_equal(dl.deps[0].alts[0].name, "aa");
	assert_null(dl.deps[0].alts[0].arch);
	assert_int_equal(dl.deps[0].alts[0].rel, LB_REL_GE);
	assert_string_equal(dl.deps[0].alts[0].version, "1.0");
	assert_string_equal(dl.deps[0].alts[1].name, "bb");
	assert_string_equal(dl.deps[0].alts[1].arch, "any");
	assert_int_equal(dl.deps[0].alts[1].rel, LB_REL_ANY);
	assert_null(dl.deps[0].alts[1].version);
	assert_int_equal(dl.deps[1].n, 1);

	char buf[8];
	assert_int_equal(lb_deplist_format(&dl, buf, sizeof buf),
	                 strlen("aa (>= 1.0) | bb:any, cc"));
	assert_string_equal(buf, "aa (>= ");
	assert_int_equal(lb_deplist_format(&dl, NULL, 0), strlen("aa (>= 1.0) | bb:any, cc"));
	assert_int_equal(lb_dep_format(&dl.deps[0], buf, 1), strlen("aa (>= 1.0) | bb:any"));
	assert_string_equal(buf, "");
	char big[64];
	assert_int_equal(lb_dep_format(&dl.deps[1], big, sizeof big), 2);
	assert_string_equal(big, "cc");
	lb_deplist_free(&dl);
	assert_int_equal(dl.n, 0);
	lb_deplist_free(&dl);

	assert_int_equal(lb_deplist_parse(NULL, true, &dl), 0);
	assert_int_equal(dl.n, 0);
}

/* Dependency fields that do not parse, and a piece of the message. */
static const struct {
	const char *in;
	bool alts;
	const char *msg;
} dep_bad[] = {
    {"aa | bb", false, "alternatives ('|') not allowed"},
    {"aa [amd64]", true, "'aa': architecture restriction not allowed"},
    {"aa <!nocheck>", true, "'aa': build profile not allowed"},
    {"aa (>= 1) [amd64]", true, "architecture restriction"},
    {"Aa", true, "bad package name 'Aa'"},
    {"a", true, "bad package name 'a'"},
    {"a_b", true, "bad package name 'a_b'"},
    {"aa (>= )", true, "bad version ''"},
    {"aa (>= 1.0-)", true, "bad version '1.0-'"},
    {"aa (>= 1 2)", true, "'aa': missing ')' after version"},
    {"aa (>= 1", true, "'aa': missing ')' after version"},
    {"aa (!= 1)", true, "'aa': bad version relation"},
    {"aa (== 1)", true, "bad version '='"},
    {"aa (1.0)", true, "'aa': bad version relation"},
    {"aa,", true, "trailing ','"},
    {"aa, ", true, "trailing ','"},
    {", aa", true, "missing package name"},
    {"aa,,bb", true, "missing package name"},
    {"aa |", true, "missing package name"},
    {"aa bb", true, "unexpected 'bb'"},
    {"aa:", true, "'aa': bad architecture qualifier"},
    {"aa:Any", true, "'aa': bad architecture qualifier"},
    {"aa (>= 1) x", true, "unexpected 'x'"},
    {"aa)", true, "unexpected ')'"},
    {"(>= 1)", true, "missing package name"},
    {"aa\x1b"
     "x",
     true, "bad package name 'aa?x'"},
};

static void test_dep_bad(void **state)
{
	for (size_t i = 0; i < N(dep_bad); i++) {
		struct lb_deplist dl;
		lb_err_clear();
		int r = lb_deplist_parse(dep_bad[i].in, dep_bad[i].alts, &dl);
		if (r != -LBE_FORMAT || !strstr(lb_err_msg(), dep_bad[i].msg))
			fail_msg("'%s': %d '%s', want '%s'", dep_bad[i].in, r, lb_err_msg(),
			         dep_bad[i].msg);
		assert_int_equal(dl.n, 0);
		assert_null(dl.deps);
	}
}

static int para_of(const char *s, struct lb_doc *doc)
{
	return lb_deb822_parse(s, strlen(s), doc);
}

static void test_pkginfo(void **state)
{
	struct lb_doc doc;
	struct lb_pkginfo pi;
	assert_int_equal(para_of("Package: app\nVersion: 1:2.0-1\nArchitecture: amd64\n"
	                         "Multi-Arch: foreign\nEssential: yes\nInstalled-Size: 1234\n"
	                         "Depends: libc6 (>= 2.36), libfoo | libbar\nPre-Depends: dpkg\n"
	                         "Conflicts: old\nBreaks: older (<< 1)\nReplaces: old\n"
	                         "Provides: app-api (= 2), virtual\nDescription: x\n more\n",
	                         &doc),
	                 0);
	assert_int_equal(lb_pkginfo_from_para(&doc.paras[0], &pi), 0);
	assert_string_equal(pi.name, "app");
	assert_string_equal(pi.version, "1:2.0-1");
	assert_string_equal(pi.arch, "amd64");
	assert_string_equal(pi.multi_arch, "foreign");
	assert_true(pi.essential);
	assert_int_equal(pi.installed_size, 1234);
	assert_int_equal(pi.depends.n, 2);
	assert_int_equal(pi.depends.deps[1].n, 2);
	assert_int_equal(pi.pre_depends.n, 1);
	assert_int_equal(pi.conflicts.n, 1);
	assert_int_equal(pi.breaks.deps[0].alts[0].rel, LB_REL_LT);
	assert_int_equal(pi.replaces.n, 1);
	assert_int_equal(pi.provides.n, 2);
	lb_pkginfo_free(&pi);
	assert_null(pi.name);
	lb_doc_free(&doc);

	assert_int_equal(para_of("Package: a0\nVersion: 0\nArchitecture: all\n", &doc), 0);
	assert_int_equal(lb_pkginfo_from_para(&doc.paras[0], &pi), 0);
	assert_null(pi.multi_arch);
	assert_false(pi.essential);
	assert_int_equal(pi.installed_size, 0);
	assert_int_equal(pi.depends.n, 0);
	lb_pkginfo_free(&pi);
	lb_doc_free(&doc);
}

/* Paragraphs (after "Package: p\nVersion: 1\nArchitecture: all\n" unless they
 * start with '!') that lb_pkginfo_from_para refuses, and the message. */
static const struct {
	const char *in;
	const char *msg;
} info_bad[] = {
    {"!Version: 1\nArchitecture: all\n", "missing field 'Package'"},
    {"!Package: pp\nArchitecture: all\n", "missing field 'Version'"},
    {"!Package: pp\nVersion: 1\n", "missing field 'Architecture'"},
    {"!Package: P\nVersion: 1\nArchitecture: all\n", "field 'Package': bad value 'P'"},
    {"!Package: pp\nVersion: 1.0-\nArchitecture: all\n", "field 'Version': bad value '1.0-'"},
    {"!Package: pp\nVersion: 1\nArchitecture: AMD64\n", "field 'Architecture': bad value 'AMD64'"},
    {"!Package: pp\nVersion: 1\nArchitecture: \n", "field 'Architecture': bad value ''"},
    {"Depends: aa (>= 1..)x\n", "field 'Depends': unexpected 'x'"},
    {"Depends: aa (>= 1.0-)\n", "field 'Depends': bad version '1.0-'"},
    {"Pre-Depends: aa [i386]\n", "field 'Pre-Depends': 'aa': architecture restriction"},
    {"Conflicts: aa | bb\n", "field 'Conflicts': alternatives"},
    {"Breaks: aa | bb\n", "field 'Breaks': alternatives"},
    {"Replaces: aa | bb\n", "field 'Replaces': alternatives"},
    {"Provides: aa | bb\n", "field 'Provides': alternatives"},
    {"Provides: aa (>= 1)\n", "field 'Provides': 'aa': only '=' allowed"},
    {"Essential: true\n", "field 'Essential': bad value 'true'"},
    {"Multi-Arch: maybe\n", "field 'Multi-Arch': bad value 'maybe'"},
    {"Installed-Size: 12k\n", "field 'Installed-Size': bad value '12k'"},
    {"Installed-Size: 99999999999999999999999\n", "field 'Installed-Size': bad value"},
    {"Installed-Size: -1\n", "field 'Installed-Size': bad value"},
    {"Installed-Size:\n", "field 'Installed-Size': bad value ''"},
};

static void test_pkginfo_bad(void **state)
{
	for (size_t i = 0; i < N(info_bad); i++) {
		char in[512];
		struct lb_doc doc;
		struct lb_pkginfo pi;
		if (info_bad[i].in[0] == '!')
			snprintf(in, sizeof in, "%s", info_bad[i].in + 1);
		else
			snprintf(in, sizeof in, "Package: p0\nVersion: 1\nArchitecture: all\n%s",
			         info_bad[i].in);
		assert_int_equal(para_of(in, &doc), 0);
		lb_err_clear();
		int r = lb_pkginfo_from_para(&doc.paras[0], &pi);
		if (r != -LBE_FORMAT || !strstr(lb_err_msg(), info_bad[i].msg))
			fail_msg("case %zu: %d '%s', want '%s'", i, r, lb_err_msg(),
			         info_bad[i].msg);
		assert_null(pi.name);
		assert_int_equal(pi.depends.n, 0);
		lb_doc_free(&doc);
	}
}

/* Does the package below satisfy the dependency? */
static const struct {
	const char *dep;
	bool sat;
} sat_cases[] = {
    {"app", true},           {"app (= 2.0-1)", true},
    {"app (>= 2)", true},    {"app (<< 2.0-1)", false},
    {"app (>> 2.0)", true},  {"app:any (= 2.0-1)", true},
    {"other", false},        {"virt", true},
    {"virt (>= 1)", false},  {"api", true},
    {"api (= 3)", true},     {"api (>= 2)", true},
    {"api (<< 3)", false},   {"api (>> 3)", false},
    {"ap", false},           {"app (<= 1.9)", false},
    {"app (< 2.0-1)", true}, {"api (> 3)", true},
};

static void test_satisfies(void **state)
{
	struct lb_doc doc;
	struct lb_pkginfo pi;
	assert_int_equal(para_of("Package: app\nVersion: 2.0-1\nArchitecture: all\n"
	                         "Provides: virt, api (= 3)\n",
	                         &doc),
	                 0);
	assert_int_equal(lb_pkginfo_from_para(&doc.paras[0], &pi), 0);
	for (size_t i = 0; i < N(sat_cases); i++) {
		struct lb_deplist dl;
		assert_int_equal(lb_deplist_parse(sat_cases[i].dep, false, &dl), 0);
		if (lb_pkginfo_satisfies(&pi, &dl.deps[0].alts[0]) != sat_cases[i].sat)
			fail_msg("app satisfies '%s' != %d", sat_cases[i].dep, sat_cases[i].sat);
		lb_deplist_free(&dl);
	}
	lb_pkginfo_free(&pi);
	lb_doc_free(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pkgname),    cmocka_unit_test(test_dep_ok),
	    cmocka_unit_test(test_dep_fields), cmocka_unit_test(test_dep_bad),
	    cmocka_unit_test(test_pkginfo),    cmocka_unit_test(test_pkginfo_bad),
	    cmocka_unit_test(test_satisfies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
