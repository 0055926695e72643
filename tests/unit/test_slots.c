/* SPDX-License-Identifier: MIT */
/* Finding a slot's device (slots.c): the configuration's Slot-Devices, a GPT
 * partition by name, a UBI volume by name, in a fake sysfs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define TDIR_NAME "slots"
#include "tdir.h"

#include "slots.h"

static void put(const struct tdir *t, const char *dir, const char *file, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "mkdir -p %s/%s", t->path, dir);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof path, "%s/%s/%s", t->path, dir, file);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void fake_sysfs(const struct tdir *t)
{
	put(t, "class/block/vda", "uevent", "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
	put(t, "class/block/vda3", "uevent",
	    "MAJOR=254\nMINOR=3\nDEVNAME=vda3\nDEVTYPE=partition\nPARTN=3\nPARTNAME=rootfs-a\n");
	put(t, "class/block/vda4", "uevent",
	    "MAJOR=254\nMINOR=4\nDEVNAME=vda4\nDEVTYPE=partition\nPARTN=4\nPARTNAME=rootfs-b\n");
	put(t, "class/ubi/ubi0", "name", "not a volume\n");
	put(t, "class/ubi/ubi0_1", "name", "rootfs-c\n");
}

static void test_by_partition_name(void **state)
{
	const struct tdir *t = *state;
	char buf[256];
	fake_sysfs(t);
	assert_int_equal(lb_slot_device("a", NULL, t->path, buf, sizeof buf), 0);
	assert_string_equal(buf, "/dev/vda3");
	assert_int_equal(lb_slot_device("b", NULL, t->path, buf, sizeof buf), 0);
	assert_string_equal(buf, "/dev/vda4");
}

static void test_by_ubi_volume_name(void **state)
{
	const struct tdir *t = *state;
	char buf[256];
	fake_sysfs(t);
	assert_int_equal(lb_slot_device("c", NULL, t->path, buf, sizeof buf), 0);
	assert_string_equal(buf, "/dev/ubi0_1");
}

static void test_missing_slot(void **state)
{
	const struct tdir *t = *state;
	char buf[256];
	fake_sysfs(t);
	assert_int_equal(lb_slot_device("d", NULL, t->path, buf, sizeof buf), -ENOENT);
	/* no sysfs at all */
	assert_int_equal(lb_slot_device("a", NULL, "/nonexistent", buf, sizeof buf), -ENOENT);
}

static void test_configured_devices_win(void **state)
{
	const struct tdir *t = *state;
	char buf[256];
	fake_sysfs(t);
	const char *map = "a=/dev/mmcblk0p3 b=/dev/mmcblk0p4,ab=/dev/x";
	assert_int_equal(lb_slot_device("b", map, t->path, buf, sizeof buf), 0);
	assert_string_equal(buf, "/dev/mmcblk0p4");
	assert_int_equal(lb_slot_device("ab", map, t->path, buf, sizeof buf), 0);
	assert_string_equal(buf, "/dev/x");
	/* a configured list is the whole truth: sysfs is not asked */
	assert_int_equal(lb_slot_device("c", map, t->path, buf, sizeof buf), -ENOENT);
}

static void test_other_slot(void **state)
{
	(void)state;
	assert_string_equal(lb_slot_other("a"), "b");
	assert_string_equal(lb_slot_other("b"), "a");
	assert_null(lb_slot_other("c"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_by_partition_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_by_ubi_volume_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_configured_devices_win, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_slot, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
