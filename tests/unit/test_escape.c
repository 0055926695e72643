/* SPDX-License-Identifier: MIT */
/* lb_escape / lb_unescape: the percent-encoding of paths and link targets in the
 * database and the journal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Plain text and its exact encoding. */
static const struct {
	const char *plain, *enc;
} forms[] = {
    {"", ""},
    {"usr/bin/ls", "usr/bin/ls"},
    {"a b", "a%20b"},
    {" ", "%20"},
    {"100%", "100%25"},
    {"%", "%25"},
    {"%25", "%2525"},
    {"line\nbreak", "line%0Abreak"},
    {"tab\there", "tab%09here"},
    {"cr\r", "cr%0D"},
    {"\x01\x1f", "%01%1F"},
    {"\x7f", "%7F"},
    {"\xff", "%FF"},
    {"caf\xc3\xa9", "caf%C3%A9"},
    {"~!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}", "~!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}"},
    {"../x y/%0A", "../x%20y/%250A"},
};

static void test_forms(void **state)
{
	for (size_t i = 0; i < N(forms); i++) {
		char out[256], back[256];
		assert_int_equal(lb_escape(forms[i].plain, out, sizeof out), 0);
		if (strcmp(out, forms[i].enc))
			fail_msg("case %zu: encoded '%s', want '%s'", i, out, forms[i].enc);
		snprintf(back, sizeof back, "%s", out);
		assert_int_equal(lb_unescape(back), 0);
		if (strcmp(back, forms[i].plain))
			fail_msg("case %zu: round trip gave '%s'", i, back);
	}
}

/* Every byte 1..255, alone and all together: the encoding is one field (no
 * whitespace, control bytes or bytes >= 0x7f) and decodes to the input. */
static void test_all_bytes(void **state)
{
	char all[256], out[3 * 256 + 1];
	for (int c = 1; c < 256; c++) {
		char one[2] = {(char)c, 0};
		assert_int_equal(lb_escape(one, out, sizeof out), 0);
		for (const char *p = out; *p; p++)
			assert_true(*p > ' ' && *p < 0x7f);
		assert_int_equal(lb_unescape(out), 0);
		assert_string_equal(out, one);
		all[c - 1] = (char)c;
	}
	all[255] = 0;
	assert_int_equal(lb_escape(all, out, sizeof out), 0);
	assert_int_equal(strlen(out), 255 + 2 * (32 + 1 + 129)); /* 0x01-0x20, %, 0x7f-0xff */
	assert_int_equal(lb_unescape(out), 0);
	assert_string_equal(out, all);
}

/* The output needs strlen(encoding) + 1 bytes; one byte less is refused. */
static void test_too_small(void **state)
{
	for (size_t i = 0; i < N(forms); i++) {
		size_t need = strlen(forms[i].enc) + 1;
		char out[256];
		for (size_t size = 0; size < need; size++) {
			memset(out, 'Z', sizeof out);
			if (lb_escape(forms[i].plain, out, size) != -ENAMETOOLONG)
				fail_msg("case %zu: size %zu accepted, need %zu", i, size, need);
			assert_true(out[size] == 'Z'); /* nothing written beyond size */
		}
		memset(out, 'Z', sizeof out);
		assert_int_equal(lb_escape(forms[i].plain, out, need), 0);
		assert_string_equal(out, forms[i].enc);
		assert_true(out[need] == 'Z');
	}
}

static void test_unescape_good(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"", ""},        {"abc", "abc"},  {"%2f", "/"},   {"%2F", "/"},     {"%41%62", "Ab"},
	    {"%ff", "\xff"}, {"%01", "\x01"}, {"x%20", "x "}, {"%2525", "%25"}, {"%0a%0A", "\n\n"},
	};
	for (size_t i = 0; i < N(cases); i++) {
		char buf[64];
		snprintf(buf, sizeof buf, "%s", cases[i].in);
		assert_int_equal(lb_unescape(buf), 0);
		if (strcmp(buf, cases[i].out))
			fail_msg("case %zu: '%s' decoded to '%s'", i, cases[i].in, buf);
	}
}

static void test_unescape_bad(void **state)
{
	static const char *const cases[] = {
	    "%",   "%4",  "%zz",     "%00", "a%",  "a%4",   "%g0",   "%0g",
	    "%-1", "% 1", "ok%00ok", "%%",  "%x0", "%4%41", "abc%2",
	};
	for (size_t i = 0; i < N(cases); i++) {
		char buf[64];
		snprintf(buf, sizeof buf, "%s", cases[i]);
		if (lb_unescape(buf) != -LBE_FORMAT)
			fail_msg("case %zu: '%s' accepted", i, cases[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forms),        cmocka_unit_test(test_all_bytes),
	    cmocka_unit_test(test_too_small),    cmocka_unit_test(test_unescape_good),
	    cmocka_unit_test(test_unescape_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
