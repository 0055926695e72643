/* SPDX-License-Identifier: MIT */
/* The flash module on regular files standing in for a block device, and the UBI
 * backend without a kernel: a fake sysfs says that /dev/zero is a UBI volume, and
 * a shim of ioctl(2) records the UBI requests (detection, the size bound, which
 * LEBs are changed and how, the damaged volume emptied first). Real block devices
 * and UBI volumes, and power cuts while writing them, are tested in QEMU
 * (tests/vm/powercut.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <mtd/ubi-user.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* A write cut off half-way (the process died): the next write of the same
 * image reads past the blocks already right and writes only the rest. */
static void test_resume_after_interruption(void **state)
{
	struct tdir *t = *state;
	char path[128];
	make_slot(t, "slot", 16 * BS, path, sizeof path);
	struct img im;
	img_random(&im, 12 * BS + 300);
	struct lb_flash *fl;
	struct lb_flash_opts o = {.block_size = BS, .before_write = count_calls};
	calls = 0;
	assert_int_equal(lb_flash_open(path, im.len, im.sha, &o, &fl), 0);
	assert_int_equal(lb_flash_write(fl, im.data, 5 * BS + 17), 0);
	assert_int_equal(lb_flash_stats(fl)->written, 5);
	lb_flash_close(fl); /* no finish: the power went */
	assert_int_equal(calls, 1);

	struct lb_flash_stats st;
	assert_int_equal(flash(path, &im, BS, &st), 0);
	assert_int_equal(st.blocks, 13);
	assert_int_equal(st.skipped, 5);
	assert_int_equal(st.written, 8);
	assert_int_equal(calls, 1);
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

/* The ioctl(2) shim: UBI's volume requests are recorded and answered with
 * ubi_errno (0: done, as the kernel would); the rest go to the kernel. */
struct ubi_call {
	unsigned long req;
	struct ubi_leb_change_req ch; /* UBI_IOCEBCH */
	int64_t bytes;                /* UBI_IOCVOLUP */
};
static struct ubi_call ubi_calls[16];
static int n_ubi_calls, ubi_errno;

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (req != UBI_IOCEBCH && req != UBI_IOCVOLUP)
		return (int)syscall(SYS_ioctl, fd, req, arg);
	struct ubi_call *c = &ubi_calls[n_ubi_calls < 16 ? n_ubi_calls : 15];
	n_ubi_calls++;
	*c = (struct ubi_call){.req = req};
	if (req == UBI_IOCEBCH)
		memcpy(&c->ch, arg, sizeof c->ch);
	else
		memcpy(&c->bytes, arg, sizeof c->bytes);
	if (ubi_errno) {
		errno = ubi_errno;
		return -1;
	}
	return 0;
}

/* fsync(2) of a character device (/dev/zero refuses it) succeeds. */
int fsync(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode))
		return 0;
	return (int)syscall(SYS_fsync, fd);
}

#define LEB 15360 /* a NAND-sized LEB: 16 KiB less two 512-byte pages */

/* A fake sysfs in tdir says that /dev/zero (reads zeros, swallows writes) is a
 * dynamic UBI volume of 8 LEBs; returns its sysfs directory in dir. */
static void fake_ubi(struct tdir *t, char *dir, size_t dirlen)
{
	struct stat st;
	assert_int_equal(stat("/dev/zero", &st), 0);
	snprintf(dir, dirlen, "%s/dev/char/%u:%u", t->path, major(st.st_rdev), minor(st.st_rdev));
	char cmd[400], link[300];
	snprintf(cmd, sizeof cmd, "mkdir -p %s %s/class/ubi", dir, t->path);
	assert_int_equal(system(cmd), 0);
	snprintf(link, sizeof link, "%s/subsystem", dir);
	(void)unlink(link); /* a second volume in the same test */
	assert_int_equal(symlink("../../../class/ubi", link), 0);
	put(dir, "reserved_ebs", "8\n");
	snprintf(cmd, sizeof cmd, "%d\n", LEB);
	put(dir, "usable_eb_size", cmd);
	put(dir, "type", "dynamic\n");
	put(dir, "upd_marker", "0\n");
	n_ubi_calls = 0;
	ubi_errno = 0;
	calls = 0;
}

static const char zsha[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* Write len bytes of data onto the fake volume, in odd pieces, then finish. */
static int ubi_flash(struct tdir *t, const unsigned char *data, size_t len,
                     struct lb_flash_stats *st)
{
	struct lb_flash_opts o = {.sysfs = t->path, .before_write = count_calls, .block_size = BS};
	struct lb_flash *fl;
	int r = lb_flash_open("/dev/zero", len, zsha, &o, &fl);
	if (r)
		return r;
	assert_int_equal(lb_flash_block_size(fl), LEB); /* the LEB, whatever block_size says */
	for (size_t off = 0; !r && off < len; off += 7000)
		r = lb_flash_write(fl, data + off, len - off < 7000 ? len - off : 7000);
	if (!r)
		r = lb_flash_finish(fl);
	if (st)
		*st = *lb_flash_stats(fl);
	lb_flash_close(fl);
	return r;
}

/* Each LEB is read first: those that already hold the image's bytes (zeros, on
 * /dev/zero) are left alone; each other one is one atomic LEB change of a whole
 * LEB, the final partial one included (the rest as it was). */
static void test_ubi_leb_changes(void **state)
{
	struct tdir *t = *state;
	char dir[256];
	fake_ubi(t, dir, sizeof dir);
	size_t len = 3 * LEB + 1000;
	unsigned char *data = calloc(1, len);
	assert_non_null(data);
	randombytes_buf(data + LEB + 100, 50); /* LEB 1 differs */
	data[len - 1] = 1;                     /* and the final partial LEB 3 */
	struct lb_flash_stats st;
	assert_int_equal(ubi_flash(t, data, len, &st), 0);
	assert_int_equal(st.blocks, 4);
	assert_int_equal(st.written, 2);
	assert_int_equal(st.skipped, 2);
	assert_int_equal(calls, 1);
	assert_int_equal(n_ubi_calls, 2);
	assert_int_equal(ubi_calls[0].req, UBI_IOCEBCH);
	assert_int_equal(ubi_calls[0].ch.lnum, 1);
	assert_int_equal(ubi_calls[0].ch.bytes, LEB);
	assert_int_equal(ubi_calls[1].req, UBI_IOCEBCH);
	assert_int_equal(ubi_calls[1].ch.lnum, 3);
	assert_int_equal(ubi_calls[1].ch.bytes, LEB);

	/* a volume that holds the image already: nothing changes */
	memset(data, 0, len);
	fake_ubi(t, dir, sizeof dir);
	assert_int_equal(ubi_flash(t, data, len, &st), 0);
	assert_int_equal(st.written, 0);
	assert_int_equal(st.skipped, 4);
	assert_int_equal(calls, 0);
	assert_int_equal(n_ubi_calls, 0);

	/* the kernel refuses the change: the first error stops the write */
	data[0] = 1;
	fake_ubi(t, dir, sizeof dir);
	ubi_errno = EBUSY;
	lb_err_clear();
	assert_int_equal(ubi_flash(t, data, len, NULL), -EBUSY);
	assert_non_null(strstr(lb_err_msg(), "changing eraseblock 0 (UBI_IOCEBCH)"));
	assert_non_null(strstr(lb_err_msg(), "open elsewhere"));
	assert_int_equal(n_ubi_calls, 1);
	free(data);
}

/* A volume left marked by an unfinished volume update cannot be read: it is
 * emptied (a volume update of 0 bytes) just before the first LEB is read, after
 * before_write, and only then written LEB by LEB. */
static void test_ubi_update_marker(void **state)
{
	struct tdir *t = *state;
	char dir[256];
	fake_ubi(t, dir, sizeof dir);
	put(dir, "upd_marker", "1\n");
	unsigned char data[2 * LEB] = {0};
	data[LEB] = 7;
	struct lb_flash_stats st;
	assert_int_equal(ubi_flash(t, data, sizeof data, &st), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(n_ubi_calls, 2);
	assert_int_equal(ubi_calls[0].req, UBI_IOCVOLUP);
	assert_int_equal(ubi_calls[0].bytes, 0);
	assert_int_equal(ubi_calls[1].req, UBI_IOCEBCH);
	assert_int_equal(ubi_calls[1].ch.lnum, 1);
	assert_int_equal(st.written, 1);
	assert_int_equal(st.skipped, 1);

	fake_ubi(t, dir, sizeof dir);
	put(dir, "upd_marker", "1\n");
	ubi_errno = EPERM;
	lb_err_clear();
	assert_int_equal(ubi_flash(t, data, sizeof data, NULL), -EPERM);
	assert_non_null(strstr(lb_err_msg(), "marked as damaged by an unfinished update"));
	assert_int_equal(n_ubi_calls, 1);
}

/* How a UBI volume is recognised and bounded; what is refused. */
static void test_ubi_path(void **state)
{
	struct tdir *t = *state;
	char dir[256];
	fake_ubi(t, dir, sizeof dir);
	struct lb_flash_opts o = {.sysfs = t->path, .before_write = count_calls};
	struct lb_flash *fl;
	/* the UBI device itself (no reserved_ebs) is not a volume */
	char p[300];
	snprintf(p, sizeof p, "%s/reserved_ebs", dir);
	assert_int_equal(unlink(p), 0);
	lb_err_clear();
	assert_int_equal(lb_flash_open("/dev/zero", 10, zsha, &o, &fl), -ENOENT);
	assert_non_null(strstr(lb_err_msg(), "a UBI device, not a volume"));

	put(dir, "reserved_ebs", "4\n");
	lb_err_clear();
	assert_int_equal(lb_flash_open("/dev/zero", 4 * LEB + 1, zsha, &o, &fl), -LBE_NOSPACE);
	assert_non_null(strstr(lb_err_msg(), "larger than the UBI volume (61440 bytes)"));

	assert_int_equal(lb_flash_open("/dev/zero", 4 * LEB, zsha, &o, &fl), 0);
	assert_string_equal(lb_flash_kind(fl), "UBI volume");
	assert_int_equal(lb_flash_capacity(fl), 4 * LEB);
	assert_int_equal(lb_flash_block_size(fl), LEB);
	assert_int_equal(lb_flash_stats(fl)->blocks, 4);
	lb_flash_close(fl);
	assert_int_equal(calls, 0);

	/* a static volume cannot have its LEBs changed */
	put(dir, "type", "static\n");
	lb_err_clear();
	assert_int_equal(lb_flash_open("/dev/zero", 10, zsha, &o, &fl), -EINVAL);
	assert_non_null(strstr(lb_err_msg(), "a static UBI volume: a slot must be a dynamic"));
	put(dir, "type", "dynamic\n");

	put(dir, "usable_eb_size", "lots\n");
	assert_int_equal(lb_flash_open("/dev/zero", 10, zsha, &o, &fl), -EINVAL);
	put(dir, "usable_eb_size", "0\n");
	assert_int_equal(lb_flash_open("/dev/zero", 10, zsha, &o, &fl), -EINVAL);
	assert_null(fl);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_rewrite_partial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume_after_interruption, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_larger_than_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_detects_corruption, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sizes_and_hook_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ubi_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ubi_leb_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ubi_update_marker, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
