/* SPDX-License-Identifier: MIT */
/* The flash module on regular files standing in for a block device, and the
 * UBI backend's way in (a fake sysfs in front of /dev/null: detection, the size
 * bound, the volume update's ioctl). Real block devices and UBI volumes are
 * tested in QEMU. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define TDIR_NAME "flash"
#include "tdir.h"

#include "flash.h"

#define BS 4096

struct img {
	unsigned char *data;
	size_t len;
	char sha[65];
};

static void img_hash(struct img *im)
{
	unsigned char md[32];
	crypto_hash_sha256(md, im->data, im->len);
	sodium_bin2hex(im->sha, sizeof im->sha, md, sizeof md);
}

static void img_random(struct img *im, size_t len)
{
	im->len = len;
	im->data = malloc(len);
	assert_non_null(im->data);
	randombytes_buf(im->data, len);
	img_hash(im);
}

/* tdir/name: size bytes of 0xaa */
static void make_slot(struct tdir *t, const char *name, size_t size, char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/%s", t->path, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	unsigned char *b = malloc(size);
	assert_non_null(b);
	memset(b, 0xaa, size);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
}

static unsigned char *read_all(const char *path, size_t *len)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	unsigned char *b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static int calls;
static int count_calls(void *arg)
{
	(void)arg;
	calls++;
	return 0;
}

/* Write im onto path in pieces of odd sizes; finish and verify. */
static int flash(const char *path, const struct img *im, size_t bs, struct lb_flash_stats *st)
{
	struct lb_flash_opts o = {.block_size = bs, .before_write = count_calls};
	struct lb_flash *fl;
	calls = 0;
	int r = lb_flash_open(path, im->len, im->sha, &o, &fl);
	if (r)
		return r;
	static const size_t steps[] = {1, 4095, 5000, 13, 70000, 8192, 3};
	for (size_t off = 0, k = 0; !r && off < im->len; k++) {
		size_t n = steps[k % 7] < im->len - off ? steps[k % 7] : im->len - off;
		r = lb_flash_write(fl, im->data + off, n);
		off += n;
	}
	if (!r)
		r = lb_flash_finish(fl);
	if (!r)
		r = lb_flash_verify(fl);
	if (st)
		*st = *lb_flash_stats(fl);
	lb_flash_close(fl);
	return r;
}

static void test_write_rewrite_partial(void **state)
{
	struct tdir *t = *state;
	char path[128];
	size_t slot = 16 * BS, len = 10 * BS + 100;
	make_slot(t, "slot", slot, path, sizeof path);
	struct img im;
	img_random(&im, len);
	struct lb_flash_stats st;

	/* first write: every block differs */
	assert_int_equal(flash(path, &im, BS, &st), 0);
	assert_int_equal(st.blocks, 11);
	assert_int_equal(st.written, 11);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(calls, 1);
	size_t got;
	unsigned char *b = read_all(path, &got);
	assert_int_equal(got, slot); /* the slot keeps its size */
	assert_memory_equal(b, im.data, len);
	for (size_t i = len; i < slot; i++) /* the final block was completed in memory */
		assert_int_equal(b[i], 0xaa);
	free(b);

	/* the same image again: every block is read, none written */
	assert_int_equal(flash(path, &im, BS, &st), 0);
	assert_int_equal(st.written, 0);
	assert_int_equal(st.skipped, 11);
	assert_int_equal(calls, 0); /* the slot never changed */

	/* two blocks changed: only they are written */
	im.data[3 * BS + 7] ^= 1;
	im.data[len - 1] ^= 0xff;
	img_hash(&im);
	assert_int_equal(flash(path, &im, BS, &st), 0);
	assert_int_equal(st.written, 2);
	assert_int_equal(st.skipped, 9);
	assert_int_equal(calls, 1);
	b = read_all(path, &got);
	assert_memory_equal(b, im.data, len);
	assert_int_equal(b[len], 0xaa);
	free(b);
	free(im.data);
}

/* The default block size, an image filling the slot exactly, and a slot whose
 * size is not a multiple of the block size. */
static void test_sizes(void **state)
{
	struct tdir *t = *state;
	char path[128];
	struct img im;
	struct lb_flash_stats st;
	img_random(&im, 3 * LB_FLASH_BLOCK);
	make_slot(t, "exact", im.len, path, sizeof path);
	assert_int_equal(flash(path, &im, 0, &st), 0);
	assert_int_equal(st.blocks, 3);
	assert_int_equal(st.written, 3);
	free(im.data);

	img_random(&im, 5 * BS + 20);
	make_slot(t, "odd", 5 * BS + 50, path, sizeof path);
	assert_int_equal(flash(path, &im, BS, &st), 0);
	size_t got;
	unsigned char *b = read_all(path, &got);
	assert_int_equal(got, 5 * BS + 50);
	assert_memory_equal(b, im.data, im.len);
	for (size_t i = im.len; i < got; i++)
		assert_int_equal(b[i], 0xaa);
	free(b);
	free(im.data);
}

static void test_larger_than_slot(void **state)
{
	struct tdir *t = *state;
	char path[128];
	struct img im;
	img_random(&im, 4 * BS + 1);
	make_slot(t, "small", 4 * BS, path, sizeof path);
	lb_err_clear();
	assert_int_equal(flash(path, &im, BS, NULL), -LBE_NOSPACE);
	assert_non_null(strstr(lb_err_msg(), "the image (16385 bytes) is larger than the file "
	                                     "(16384 bytes)"));
	assert_int_equal(calls, 0);
	size_t got;
	unsigned char *b = read_all(path, &got);
	for (size_t i = 0; i < got; i++)
		assert_int_equal(b[i], 0xaa);
	free(b);
	free(im.data);
}

/* What was written is read back: a slot that does not keep it is caught. */
static void test_verify_detects_corruption(void **state)
{
	struct tdir *t = *state;
	char path[128];
	struct img im;
	img_random(&im, 6 * BS);
	make_slot(t, "slot", 8 * BS, path, sizeof path);
	struct lb_flash *fl;
	assert_int_equal(
	    lb_flash_open(path, im.len, im.sha, &(struct lb_flash_opts){.block_size = BS}, &fl), 0);
	assert_int_equal(lb_flash_write(fl, im.data, im.len), 0);
	assert_int_equal(lb_flash_finish(fl), 0);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 5 * BS + 9), 1); /* a bit rots behind our back */
	close(fd);
	lb_err_clear();
	assert_int_equal(lb_flash_verify(fl), -LBE_HASH);
	assert_non_null(strstr(lb_err_msg(), "read back after writing, sha256"));
	lb_flash_close(fl);

	/* a wrong expected hash is the same failure */
	char bad[65];
	memcpy(bad, im.sha, sizeof bad);
	bad[0] = bad[0] == '0' ? '1' : '0';
	assert_int_equal(lb_flash_open(path, im.len, bad, NULL, &fl), 0);
	assert_int_equal(lb_flash_write(fl, im.data, im.len), 0);
	assert_int_equal(lb_flash_finish(fl), 0);
	assert_int_equal(lb_flash_verify(fl), -LBE_HASH);
	lb_flash_close(fl);
	free(im.data);
}

static int hook_fails(void *arg)
{
	(void)arg;
	return -EROFS;
}

/* More or fewer bytes than the image's size; a hook that fails stops the write. */
static void test_sizes_and_hook_errors(void **state)
{
	struct tdir *t = *state;
	char path[128];
	struct img im;
	img_random(&im, 2 * BS);
	make_slot(t, "slot", 4 * BS, path, sizeof path);
	struct lb_flash *fl;
	assert_int_equal(lb_flash_open(path, im.len - 1, im.sha, NULL, &fl), 0);
	assert_int_equal(lb_flash_write(fl, im.data, im.len), -LBE_HASH);
	lb_flash_close(fl);
	assert_int_equal(lb_flash_open(path, im.len, im.sha, NULL, &fl), 0);
	assert_int_equal(lb_flash_write(fl, im.data, im.len - 5), 0);
	lb_err_clear();
	assert_int_equal(lb_flash_finish(fl), -LBE_HASH);
	assert_non_null(strstr(lb_err_msg(), "ended after 8187 of its 8192 bytes"));
	lb_flash_close(fl);

	struct lb_flash_opts o = {.block_size = BS, .before_write = hook_fails};
	assert_int_equal(lb_flash_open(path, im.len, im.sha, &o, &fl), 0);
	assert_int_equal(lb_flash_write(fl, im.data, im.len), -EROFS);
	lb_flash_close(fl);
	size_t got;
	unsigned char *b = read_all(path, &got);
	assert_int_equal(b[0], 0xaa); /* nothing was written */
	free(b);
	free(im.data);
}

static void test_not_a_slot(void **state)
{
	struct tdir *t = *state;
	struct lb_flash *fl;
	static const char sha[] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	lb_err_clear();
	assert_int_equal(lb_flash_open(t->path, 10, sha, NULL, &fl), -EINVAL);
	assert_non_null(strstr(lb_err_msg(), "not a block device, a regular file or a UBI volume"));
	/* a character device that sysfs does not call ubi */
	struct lb_flash_opts o = {.sysfs = t->path};
	lb_err_clear();
	assert_int_equal(lb_flash_open("/dev/null", 10, sha, &o, &fl), -EINVAL);
	assert_non_null(strstr(lb_err_msg(), "a character device that is not a UBI volume"));
	char path[128];
	snprintf(path, sizeof path, "%s/missing", t->path);
	assert_int_equal(lb_flash_open(path, 10, sha, NULL, &fl), -ENOENT);
	make_slot(t, "slot", BS, path, sizeof path);
	char shortsha[65] = "xyz";
	assert_int_equal(lb_flash_open(path, 10, shortsha, NULL, &fl), -EINVAL);
	assert_int_equal(lb_flash_open(path, 0, sha, NULL, &fl), -EINVAL);
	assert_int_equal(
	    lb_flash_open(path, 10, sha, &(struct lb_flash_opts){.block_size = 1000}, &fl),
	    -EINVAL);
	assert_null(fl);
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A fake sysfs says /dev/null is a UBI volume of 4 erase blocks of 126976 bytes:
 * the UBI backend is chosen, bounds the image by the volume's size, and starts a
 * volume update (which /dev/null refuses: ENOTTY). */
static void test_ubi_path(void **state)
{
	struct tdir *t = *state;
	struct stat st;
	assert_int_equal(stat("/dev/null", &st), 0);
	char dir[256], link[300];
	snprintf(dir, sizeof dir, "%s/dev/char/%u:%u", t->path, major(st.st_rdev),
	         minor(st.st_rdev));
	char cmd[400];
	snprintf(cmd, sizeof cmd, "mkdir -p %s %s/class/ubi", dir, t->path);
	assert_int_equal(system(cmd), 0);
	snprintf(link, sizeof link, "%s/subsystem", dir);
	assert_int_equal(symlink("../../../class/ubi", link), 0);
	static const char sha[] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	struct lb_flash_opts o = {.sysfs = t->path, .before_write = count_calls};
	struct lb_flash *fl;
	/* the UBI device itself (no reserved_ebs) is not a volume */
	lb_err_clear();
	assert_int_equal(lb_flash_open("/dev/null", 10, sha, &o, &fl), -ENOENT);
	assert_non_null(strstr(lb_err_msg(), "a UBI device, not a volume"));

	put(dir, "reserved_ebs", "4\n");
	put(dir, "usable_eb_size", "126976\n");
	lb_err_clear();
	assert_int_equal(lb_flash_open("/dev/null", 4 * 126976 + 1, sha, &o, &fl), -LBE_NOSPACE);
	assert_non_null(strstr(lb_err_msg(), "larger than the UBI volume (507904 bytes)"));

	assert_int_equal(lb_flash_open("/dev/null", 4 * 126976, sha, &o, &fl), 0);
	assert_string_equal(lb_flash_kind(fl), "UBI volume");
	assert_int_equal(lb_flash_capacity(fl), 507904);
	static unsigned char block[LB_FLASH_BLOCK];
	calls = 0;
	lb_err_clear();
	assert_int_equal(lb_flash_write(fl, block, sizeof block), -ENOTTY);
	assert_non_null(strstr(lb_err_msg(), "UBI_IOCVOLUP"));
	assert_int_equal(calls, 1);
	lb_flash_close(fl);

	put(dir, "usable_eb_size", "lots\n");
	assert_int_equal(lb_flash_open("/dev/null", 10, sha, &o, &fl), -EINVAL);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_rewrite_partial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_larger_than_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_detects_corruption, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sizes_and_hook_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ubi_path, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
