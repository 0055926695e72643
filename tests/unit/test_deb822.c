/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deb822.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int parse_str(const char *s, struct lb_doc *doc)
{
	lb_err_clear();
	return lb_deb822_parse(s, strlen(s), doc);
}

static void test_basic(void **state)
{
	struct lb_doc doc;
	const char *in = "Package: foo\nVersion:   1.0-1  \n\n\n"
	                 "Package: bar\n"
	                 "Description: short\n"
	                 " long line one\n"
	                 " .\n"
	                 "  indented\n"
	                 "\tTabbed\n";
	assert_int_equal(parse_str(in, &doc), 0);
	assert_int_equal(doc.n, 2);
	assert_int_equal(doc.paras[0].n, 2);
	assert_int_equal(doc.paras[0].line, 1);
	assert_int_equal(doc.paras[1].line, 5);
	assert_string_equal(doc.paras[0].fields[0].name, "Package");
	assert_string_equal(lb_para_get(&doc.paras[0], "version"), "1.0-1");
	assert_string_equal(lb_para_get(&doc.paras[0], "PACKAGE"), "foo");
	assert_null(lb_para_get(&doc.paras[0], "Description"));
	assert_string_equal(lb_para_get(&doc.paras[1], "Description"),
	                    "short\nlong line one\n\n indented\nTabbed");
	lb_doc_free(&doc);
	assert_int_equal(doc.n, 0);
	assert_null(doc.paras);
	lb_doc_free(&doc); /* twice is harmless */
}

/* Documents that parse: input, number of paragraphs, field to look up in the
 * last paragraph, its expected value. */
static const struct {
	const char *in;
	size_t paras;
	const char *field, *value;
} ok_cases[] = {
    {"", 0, NULL, NULL},
    {"\n\n  \n\t\n", 0, NULL, NULL},
    {"A: b", 1, "A", "b"},                         /* no final newline */
    {"A: b\r\nC: d\r\n\r\nE: f\r\n", 2, "E", "f"}, /* CRLF */
    {"A: b\r\n x\r\n", 1, "A", "b\nx"},
    {"A:b", 1, "a", "b"},
    {"A:", 1, "A", ""},
    {"A:   \t ", 1, "A", ""},
    {"SHA256:\n abc 1 x\n def 2 y\n", 1, "SHA256", "\nabc 1 x\ndef 2 y"},
    {"A: x:y: z", 1, "A", "x:y: z"},
    {"# comment\nA: b\n#c\n", 1, "A", "b"},
    {"A: b\n# comment inside\n c\n", 1, "A", "b\nc"},
    {"A: b\n \t \nC: d\n", 2, "C", "d"}, /* blank-ish separator */
    {"A: b\n .\n", 1, "A", "b\n"},
    {"A: b\n ..\n", 1, "A", "b\n.."},
    {"A: b\n  .\n", 1, "A", "b\n ."},
    {"X-Odd_Name.9+!: v", 1, "x-odd_name.9+!", "v"},
    {"A: b\n\n\n\nC: d\n\n", 2, "C", "d"},
    {"A: \xc3\xa9t\xc3\xa9", 1, "A", "\xc3\xa9t\xc3\xa9"}, /* UTF-8 values */
};

static void test_ok(void **state)
{
	for (size_t i = 0; i < N(ok_cases); i++) {
		struct lb_doc doc;
		int r = parse_str(ok_cases[i].in, &doc);
		if (r)
			fail_msg("case %zu: %d %s", i, r, lb_err_msg());
		assert_int_equal(doc.n, ok_cases[i].paras);
		if (ok_cases[i].field) {
			const char *v = lb_para_get(&doc.paras[doc.n - 1], ok_cases[i].field);
			assert_non_null(v);
			assert_string_equal(v, ok_cases[i].value);
		}
		lb_doc_free(&doc);
	}
}

/* Documents that do not parse, and a piece of the expected message. */
static const struct {
	const char *in;
	const char *msg;
} bad_cases[] = {
    {"A: b\nno colon here\n", "line 2: field without a colon"},
    {": b\n", "line 1: empty field name"},
    {"A B: c\n", "line 1: bad character in field name"},
    {"A\tB: c\n", "line 1: bad character in field name"},
    {"\xc3\xa9: c\n", "line 1: bad character in field name"},
    {"-A: c\n", "line 1: field name starts with '-'"},
    {" A: b\n", "line 1: continuation line outside a field"},
    {"A: b\n\n x\n", "line 3: continuation line outside a field"},
    {"# c\n\tx\n", "line 2: continuation line outside a field"},
    {"A: b\nB: c\na: d\n", "line 3: duplicate field 'a'"},
    {"A: b\n x\nA: c\n", "line 3: duplicate field 'A'"},
    {"-----BEGIN PGP SIGNED MESSAGE-----\n", "line 1: field without a colon"},
};

static void test_bad(void **state)
{
	for (size_t i = 0; i < N(bad_cases); i++) {
		struct lb_doc doc;
		int r = parse_str(bad_cases[i].in, &doc);
		if (r != -LBE_FORMAT || !strstr(lb_err_msg(), bad_cases[i].msg))
			fail_msg("case %zu: %d '%s', want '%s'", i, r, lb_err_msg(),
			         bad_cases[i].msg);
		assert_int_equal(doc.n, 0);
		assert_null(doc.paras);
	}
}

static void test_nul(void **state)
{
	struct lb_doc doc;
	const char in[] = "A: b\nC: d\0e\n";
	assert_int_equal(lb_deb822_parse(in, sizeof in - 1, &doc), -LBE_FORMAT);
	assert_string_equal(lb_err_msg(), "line 2: NUL byte");
	/* Not NUL-terminated: the parser must stop at len. */
	char buf[4] = {'A', ':', ' ', 'x'};
	assert_int_equal(lb_deb822_parse(buf, sizeof buf, &doc), 0);
	assert_string_equal(lb_para_get(&doc.paras[0], "A"), "x");
	lb_doc_free(&doc);
	assert_int_equal(lb_deb822_parse(buf, 2, &doc), 0);
	assert_string_equal(lb_para_get(&doc.paras[0], "A"), "");
	lb_doc_free(&doc);
	assert_int_equal(lb_deb822_parse(NULL, 0, &doc), 0);
	assert_int_equal(doc.n, 0);
}

static void test_limits(void **state)
{
	struct lb_doc doc;
	size_t cap = (LB_DEB822_MAX_FIELDS + 1) * 16, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (int i = 0; i < LB_DEB822_MAX_FIELDS; i++)
		len += (size_t)snprintf(buf + len, cap - len, "F%d: v\n", i);
	assert_int_equal(lb_deb822_parse(buf, len, &doc), 0);
	assert_int_equal(doc.paras[0].n, LB_DEB822_MAX_FIELDS);
	lb_doc_free(&doc);
	len += (size_t)snprintf(buf + len, cap - len, "Last: v\n");
	assert_int_equal(lb_deb822_parse(buf, len, &doc), -LBE_FORMAT);
	assert_non_null(strstr(lb_err_msg(), "line 257: more than 256 fields"));
	free(buf);

	/* Over the size limit: refused before reading anything. */
	size_t big = LB_DEB822_MAX_INPUT + 1;
	buf = malloc(big);
	assert_non_null(buf);
	assert_int_equal(lb_deb822_parse(buf, big, &doc), -LBE_FORMAT);
	assert_int_equal(doc.n, 0);
	free(buf);
}

static void test_get(void **state)
{
	assert_null(lb_para_get(NULL, "A"));
	struct lb_doc doc;
	assert_int_equal(parse_str("Ab: 1\nabc: 2\n", &doc), 0);
	assert_string_equal(lb_para_get(&doc.paras[0], "AB"), "1");
	assert_string_equal(lb_para_get(&doc.paras[0], "ABC"), "2");
	assert_null(lb_para_get(&doc.paras[0], "A"));
	assert_null(lb_para_get(&doc.paras[0], "abcd"));
	assert_null(lb_para_get(&doc.paras[0], NULL));
	lb_doc_free(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic), cmocka_unit_test(test_ok),     cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_nul),   cmocka_unit_test(test_limits), cmocka_unit_test(test_get),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
