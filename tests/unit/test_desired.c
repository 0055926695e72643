/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desired.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define H1   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H2   "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static int parse(const char *s, struct lb_desired *d)
{
	lb_err_clear();
	return lb_desired_parse(s, strlen(s), d);
}

static const char good[] =
    "Format: 1\n"
    "Serial: 42\n"
    "Packages: zlib (= 1:1.2-3),\n"
    " base (= 1.0-1), app(=2.3)\n"
    "Group: lab\n"
    "SHA256:\n"
    " " H1 " 1234 base_1.0-1\n"
    " " H2 "  99\tzlib_1:1.2-3 \n"
    " 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF 7 app_2.3\n";

static void test_good(void **state)
{
	struct lb_desired d;
	assert_int_equal(parse(good, &d), 0);
	assert_int_equal(d.format, 1);
	assert_int_equal(d.serial, 42);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.pkgs[0].name, "app");
	assert_string_equal(d.pkgs[1].name, "base");
	assert_string_equal(d.pkgs[2].name, "zlib");
	assert_string_equal(d.pkgs[2].version, "1:1.2-3");
	assert_string_equal(d.pkgs[1].sha256, H1);
	assert_int_equal(d.pkgs[1].size, 1234);
	assert_string_equal(d.pkgs[2].sha256, H2);
	assert_int_equal(d.pkgs[2].size, 99);
	assert_string_equal(d.pkgs[0].sha256, H1); /* lowercased */
	const struct lb_desired_pkg *p = lb_desired_find(&d, "base");
	assert_non_null(p);
	assert_string_equal(p->version, "1.0-1");
	assert_ptr_equal(lb_desired_find(&d, "app"), &d.pkgs[0]);
	assert_ptr_equal(lb_desired_find(&d, "zlib"), &d.pkgs[2]);
	assert_null(lb_desired_find(&d, "bas"));
	assert_null(lb_desired_find(&d, "zzz"));
	assert_null(lb_desired_find(&d, NULL));
	assert_string_equal(lb_para_get(&d.doc.paras[0], "Group"), "lab");
	lb_desired_free(&d);
	assert_int_equal(d.n, 0);
	assert_null(d.pkgs);
	lb_desired_free(&d);
}

static void test_minimal(void **state)
{
	struct lb_desired d;
	assert_int_equal(parse("Serial: 0\nPackages: aa (= 1)\n", &d), 0);
	assert_int_equal(d.format, LB_DESIRED_FORMAT);
	assert_int_equal(d.serial, 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.pkgs[0].sha256, "");
	assert_int_equal(d.pkgs[0].size, 0);
	lb_desired_free(&d);

	assert_int_equal(parse("Serial: 18446744073709551615\nPackages:\n", &d), 0);
	assert_int_equal(d.serial, 18446744073709551615ULL);
	assert_int_equal(d.n, 0);
	assert_null(lb_desired_find(&d, "aa"));
	lb_desired_free(&d);
}

#define SER  "Serial: 1\n"
#define PKGS "Packages: aa (= 1), bb (= 2)\n"

/* Documents refused, the error and a piece of its message. */
static const struct {
	const char *in;
	int err;
	const char *msg;
} bad_cases[] = {
    {"", -LBE_FORMAT, "empty desired state"},
    {"# nothing\n", -LBE_FORMAT, "empty desired state"},
    {SER PKGS "\nSerial: 2\n", -LBE_FORMAT, "line 4: more than one paragraph"},
    {PKGS, -LBE_FORMAT, "missing field 'Serial'"},
    {SER, -LBE_FORMAT, "missing field 'Packages'"},
    {"Serial: -1\n" PKGS, -LBE_FORMAT, "field 'Serial': bad value"},
    {"Serial: 1x\n" PKGS, -LBE_FORMAT, "field 'Serial': bad value"},
    {"Serial:\n" PKGS, -LBE_FORMAT, "field 'Serial': bad value"},
    {"Serial: 18446744073709551616\n" PKGS, -LBE_FORMAT, "field 'Serial': bad value"},
    {"Format: 2\n" SER PKGS, -LBE_FORMAT_VER, "Format 2 is newer than 1"},
    {"Format: 99999999999999999999999\n" SER PKGS, -LBE_FORMAT_VER, "is newer than 1"},
    {"Format: 0\n" SER PKGS, -LBE_FORMAT, "field 'Format': bad value"},
    {"Format: one\n" SER PKGS, -LBE_FORMAT, "field 'Format': bad value"},
    {SER "Packages: aa\n", -LBE_FORMAT, "'aa' without '(= version)'"},
    {SER "Packages: aa (>= 1)\n", -LBE_FORMAT, "'aa' without '(= version)'"},
    {SER "Packages: aa (= 1) | bb (= 1)\n", -LBE_FORMAT, "field 'Packages': alternatives"},
    {SER "Packages: aa:any (= 1)\n", -LBE_FORMAT, "'aa': architecture qualifier"},
    {SER "Packages: aa (= 1), bb (= 2), aa (= 3)\n", -LBE_FORMAT,
     "field 'Packages': duplicate package 'aa'"},
    {SER "Packages: aa (= 1-)\n", -LBE_FORMAT, "field 'Packages': bad version '1-'"},
    {SER "Packages: AA (= 1)\n", -LBE_FORMAT, "field 'Packages': bad package name 'AA'"},
    {SER "Packages: aa (= 1),\n", -LBE_FORMAT, "field 'Packages': trailing ','"},
    {SER PKGS "SHA256:\n " H1 " 1 aa_1\n", -LBE_FORMAT, "no entry for bb_2"},
    {SER PKGS "SHA256: " H1 " 1 aa_1\n " H1 " 1 aa_1\n", -LBE_FORMAT, "duplicate entry for aa"},
    {SER PKGS "SHA256:\n " H1 " 1 aa_2\n", -LBE_FORMAT, "entry 1: aa_2 is not in Packages"},
    {SER PKGS "SHA256:\n " H1 " 1 cc_1\n", -LBE_FORMAT, "entry 1: cc_1 is not in Packages"},
    {SER PKGS "SHA256:\n " H1 " 1 aa-1\n", -LBE_FORMAT, "entry 1: bad <name>_<version>"},
    {SER PKGS "SHA256:\n " H1 " 1 aa_\n", -LBE_FORMAT, "entry 1: bad <name>_<version>"},
    {SER PKGS "SHA256:\n " H1 " 1 _1\n", -LBE_FORMAT, "entry 1: bad <name>_<version>"},
    {SER PKGS "SHA256:\n " H1 " 1\n", -LBE_FORMAT, "entry 1: bad <name>_<version>"},
    {SER PKGS "SHA256:\n " H1 " 1 aa_1 x\n", -LBE_FORMAT, "entry 1: too many words"},
    {SER PKGS "SHA256:\n " H1 "0 1 aa_1\n", -LBE_FORMAT, "entry 1: bad hash"},
    {SER PKGS "SHA256:\n 0123 1 aa_1\n", -LBE_FORMAT, "entry 1: bad hash"},
    {SER PKGS "SHA256:\n " H1 " 1 aa_1\n g" H1 " 1 bb_2\n", -LBE_FORMAT, "entry 2: bad hash"},
    {SER PKGS "SHA256:\n " H1 " 0 aa_1\n", -LBE_FORMAT, "entry 1: bad size"},
    {SER PKGS "SHA256:\n " H1 " -5 aa_1\n", -LBE_FORMAT, "entry 1: bad size"},
    {SER PKGS "SHA256:\n " H1 " 99999999999999999999 aa_1\n", -LBE_FORMAT, "entry 1: bad size"},
    {SER PKGS "SHA256:\n " H1 " 1234567890123456789012345 aa_1\n", -LBE_FORMAT,
     "entry 1: bad size"},
    {SER PKGS "SHA256:\n " H1 "\n", -LBE_FORMAT, "entry 1: bad size"},
    {"Serial 1\n", -LBE_FORMAT, "line 1: field without a colon"},
};

static void test_bad(void **state)
{
	for (size_t i = 0; i < N(bad_cases); i++) {
		struct lb_desired d;
		int r = parse(bad_cases[i].in, &d);
		if (r != bad_cases[i].err || !strstr(lb_err_msg(), bad_cases[i].msg))
			fail_msg("case %zu: %d '%s', want %d '%s'", i, r, lb_err_msg(),
			         bad_cases[i].err, bad_cases[i].msg);
		assert_int_equal(d.n, 0);
		assert_null(d.pkgs);
		assert_int_equal(d.doc.n, 0);
	}
}

#define IMG                                                                                        \
	"Image-Version: 2025.06-1\n"                                                               \
	"Image: images/" H1 ".img.zst\n"                                                           \
	"Image-Size: 268435456\n"                                                                  \
	"Image-SHA256: 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"         \
	"Image-Compressed-Size: 73400320\n"

static void test_image(void **state)
{
	struct lb_desired d;
	assert_int_equal(parse(SER PKGS IMG, &d), 0);
	assert_true(d.image.present);
	assert_string_equal(d.image.version, "2025.06-1");
	assert_string_equal(d.image.path, "images/" H1 ".img.zst");
	assert_int_equal(d.image.size, 268435456ULL);
	assert_int_equal(d.image.compressed_size, 73400320ULL);
	assert_string_equal(d.image.sha256, H1); /* lowercased */
	assert_int_equal(d.n, 2);
	lb_desired_free(&d);
	assert_null(d.image.version);
	assert_false(d.image.present);

	assert_int_equal(parse(SER PKGS, &d), 0); /* no image */
	assert_false(d.image.present);
	assert_null(d.image.path);
	lb_desired_free(&d);

	/* an image with an empty package set */
	assert_int_equal(parse(SER "Packages:\n" IMG, &d), 0);
	assert_true(d.image.present);
	assert_int_equal(d.n, 0);
	lb_desired_free(&d);
}

#define IV   "Image-Version: 1\n"
#define IP   "Image: images/x.img.zst\n"
#define IS   "Image-Size: 10\n"
#define IH   "Image-SHA256: " H2 "\n"
#define IC   "Image-Compressed-Size: 20\n"
#define IALL IV IP IS IH IC

/* Image fields refused: all five or none, each well-formed. */
static const struct {
	const char *in, *msg;
} bad_images[] = {
    {SER PKGS IV, "missing field 'Image' (the Image fields go together)"},
    {SER PKGS IP IS IH IC, "missing field 'Image-Version'"},
    {SER PKGS IV IP IH IC, "missing field 'Image-Size'"},
    {SER PKGS IV IP IS IC, "missing field 'Image-SHA256'"},
    {SER PKGS IV IP IS IH, "missing field 'Image-Compressed-Size'"},
    {SER PKGS IH, "missing field 'Image-Version'"},
    {SER PKGS "Image-Version: 1 2\n" IP IS IH IC, "field 'Image-Version': bad value"},
    {SER PKGS "Image-Version: a/b\n" IP IS IH IC, "field 'Image-Version': bad value"},
    {SER PKGS "Image-Version:\n" IP IS IH IC, "field 'Image-Version': bad value"},
    {SER PKGS IV "Image: /etc/passwd\n" IS IH IC, "field 'Image': bad path"},
    {SER PKGS IV "Image: images/../../x\n" IS IH IC, "field 'Image': bad path"},
    {SER PKGS IV "Image: ..\n" IS IH IC, "field 'Image': bad path"},
    {SER PKGS IV "Image: images//x\n" IS IH IC, "field 'Image': bad path"},
    {SER PKGS IV "Image: images/./x\n" IS IH IC, "field 'Image': bad path"},
    {SER PKGS IV "Image: images/\n" IS IH IC, "field 'Image': bad path"},
    {SER PKGS IV "Image: images/x?y=1\n" IS IH IC, "field 'Image': bad path"},
    {SER PKGS IV "Image: images/x%2e\n" IS IH IC, "field 'Image': bad path"},
    {SER PKGS IV IP "Image-Size: 0\n" IH IC, "field 'Image-Size': bad value"},
    {SER PKGS IV IP "Image-Size: -1\n" IH IC, "field 'Image-Size': bad value"},
    {SER PKGS IV IP "Image-Size: 1 MiB\n" IH IC, "field 'Image-Size': bad value"},
    {SER PKGS IV IP "Image-Size: 4611686018427387905\n" IH IC, "field 'Image-Size': bad value"},
    {SER PKGS IV IP IS IH "Image-Compressed-Size: 0\n", "field 'Image-Compressed-Size'"},
    {SER PKGS IV IP IS IH "Image-Compressed-Size: x\n", "field 'Image-Compressed-Size'"},
    {SER PKGS IV IP IS "Image-SHA256: " H1 "0\n" IC, "field 'Image-SHA256': bad hash"},
    {SER PKGS IV IP IS "Image-SHA256: 0123\n" IC, "field 'Image-SHA256': bad hash"},
    {SER PKGS IV IP IS "Image-SHA256: g" H1 "\n" IC, "field 'Image-SHA256': bad hash"},
};

static void test_image_bad(void **state)
{
	struct lb_desired d;
	assert_int_equal(parse(SER PKGS IALL, &d), 0);
	assert_string_equal(d.image.path, "images/x.img.zst");
	assert_int_equal(d.image.size, 10);
	assert_int_equal(d.image.compressed_size, 20);
	lb_desired_free(&d);
	for (size_t i = 0; i < N(bad_images); i++) {
		int r = parse(bad_images[i].in, &d);
		if (r != -LBE_FORMAT || !strstr(lb_err_msg(), bad_images[i].msg))
			fail_msg("case %zu: %d '%s', want '%s'", i, r, lb_err_msg(),
			         bad_images[i].msg);
		assert_false(d.image.present);
		assert_null(d.image.version);
		assert_null(d.image.path);
		assert_int_equal(d.n, 0);
	}
}

#define H3 "3333333333333333333333333333333333333333333333333333333333333333"
#define H4 "4444444444444444444444444444444444444444444444444444444444444444"
#define PD_HEAD                                                                                    \
	"Serial: 1\nPackages: pa (= 2), pb (= 1)\nSHA256:\n " H1 " 100 pa_2\n " H2 " 50 pb_1\n"

static void test_package_deltas(void **state)
{
	struct lb_desired d;
	assert_int_equal(parse(PD_HEAD "Package-Deltas:\n pa " H2 " " H3 " " H4 " 40\n"
	                               " pa " H3 " " H3 " " H1 " 30\n",
	                       &d),
	                 0);
	const struct lb_desired_pkg *a = lb_desired_find(&d, "pa"), *b = lb_desired_find(&d, "pb");
	assert_int_equal(a->ndeltas, 2);
	assert_string_equal(a->content_sha256, H3);
	assert_string_equal(a->deltas[0].base_sha256, H2);
	assert_string_equal(a->deltas[0].sha256, H4);
	assert_int_equal(a->deltas[0].size, 40);
	assert_string_equal(a->deltas[1].base_sha256, H3);
	assert_int_equal(a->deltas[1].size, 30);
	assert_int_equal(b->ndeltas, 0);
	assert_string_equal(b->content_sha256, "");
	lb_desired_free(&d);
	static const struct {
		const char *in, *msg;
	} bad[] = {
	    {PD_HEAD "Package-Deltas:\n pc " H2 " " H3 " " H4 " 40\n", "pc is not in Packages"},
	    {PD_HEAD "Package-Deltas:\n pa " H2 " " H3 " " H4 "\n", "bad value"},
	    {PD_HEAD "Package-Deltas:\n pa " H2 " " H3 " " H4 " 0\n", "bad value"},
	    {PD_HEAD "Package-Deltas:\n pa " H2 " xyz " H4 " 4\n", "bad value"},
	    {PD_HEAD "Package-Deltas:\n pa " H2 " " H3 " " H4 " 4 x\n", "bad words"},
	    {PD_HEAD "Package-Deltas:\n pa " H1 " " H3 " " H4 " 4\n", "bad base"},
	    {PD_HEAD "Package-Deltas:\n pa " H2 " " H3 " " H4 " 4\n pa " H4 " " H2 " " H4 " 4\n",
	     "two content hashes"},
	    {PD_HEAD "Package-Deltas:\n pa " H2 " " H3 " " H4 " 4\n pa " H2 " " H3 " " H4 " 5\n",
	     "base given twice"},
	    {"Serial: 1\nPackages: pa (= 2)\nPackage-Deltas:\n pa " H2 " " H3 " " H4 " 4\n",
	     "without 'SHA256'"},
	};
	for (size_t i = 0; i < N(bad); i++) {
		int r = parse(bad[i].in, &d);
		if (r != -LBE_FORMAT || !strstr(lb_err_msg(), bad[i].msg))
			fail_msg("case %zu: %d '%s', want '%s'", i, r, lb_err_msg(), bad[i].msg);
		assert_int_equal(d.n, 0);
	}
	/* at most LB_DESIRED_MAX_PKG_DELTAS a package */
	char big[8192];
	int n = snprintf(big, sizeof big, "%sPackage-Deltas:\n", PD_HEAD);
	for (int i = 0; i <= LB_DESIRED_MAX_PKG_DELTAS; i++)
		n += snprintf(big + n, sizeof big - (size_t)n, " pa %063x%x " H3 " " H4 " 4\n", 0,
		              i);
	assert_int_equal(parse(big, &d), -LBE_FORMAT);
	assert_non_null(strstr(lb_err_msg(), "more than"));
}

static void test_many(void **state)
{
	size_t n = 2000, cap = n * 24 + 64, len = 0;
	char *buf = malloc(cap);
	struct lb_desired d;
	assert_non_null(buf);
	len += (size_t)snprintf(buf, cap, "Serial: 7\nPackages:");
	for (size_t i = n; i-- > 0;)
		len += (size_t)snprintf(buf + len, cap - len, "%s\n p%zu (= %zu)",
		                        i + 1 < n ? "," : "", i, i);
	assert_int_equal(lb_desired_parse(buf, len, &d), 0);
	assert_int_equal(d.n, n);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(d.pkgs[i - 1].name, d.pkgs[i].name) < 0);
	for (size_t i = 0; i < n; i++) {
		char name[32], ver[32];
		snprintf(name, sizeof name, "p%zu", i);
		snprintf(ver, sizeof ver, "%zu", i);
		const struct lb_desired_pkg *p = lb_desired_find(&d, name);
		assert_non_null(p);
		assert_string_equal(p->version, ver);
	}
	lb_desired_free(&d);
	free(buf);
}

static void test_load(void **state)
{
	char path[] = "/tmp/lb-test-desired-XXXXXX";
	int fd = mkstemp(path);
	struct lb_desired d;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good, sizeof good - 1), (ssize_t)(sizeof good - 1));
	close(fd);
	assert_int_equal(lb_desired_load(path, &d), 0);
	assert_int_equal(d.n, 3);
	lb_desired_free(&d);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "Packages:\n", 10), 10);
	close(fd);
	assert_int_equal(lb_desired_load(path, &d), -LBE_FORMAT);
	assert_string_equal(lb_err_msg(), "missing field 'Serial'");
	unlink(path);

	assert_int_equal(lb_desired_load(path, &d), -ENOENT);
	assert_string_equal(lb_err_msg(), "open: No such file or directory");
	assert_int_equal(lb_desired_load("/tmp", &d), -EINVAL);
	assert_string_equal(lb_err_msg(), "not a regular file");
	assert_int_equal(d.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),      cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_bad),       cmocka_unit_test(test_many),
	    cmocka_unit_test(test_load),      cmocka_unit_test(test_image),
	    cmocka_unit_test(test_image_bad), cmocka_unit_test(test_package_deltas),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
