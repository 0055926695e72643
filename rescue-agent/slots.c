/* SPDX-License-Identifier: MIT */
/* Slots by name (slots.h). */
#include "slots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bootstate.h"
#include "context.h"
#include "fsop.h"

/* The value of KEY= in a uevent file's text. */
static const char *uevent_value(char *text, const char *key, char *out, size_t size)
{
	size_t n = strlen(key);
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		if (!strncmp(l, key, n) && l[n] == '=') {
			snprintf(out, size, "%s", l + n + 1);
			return out;
		}
	return NULL;
}

static int find_partition(const char *want, const char *sysfs, char *buf, size_t size)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/class/block", sysfs);
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = -ENOENT;
	while (d && r == -ENOENT && (e = readdir(d))) {
		char path[1024], *text = NULL, name[128], dev[128];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/uevent", dir, e->d_name);
		if (lb_read_file(AT_FDCWD, path, 4096, &text, NULL)) {
			lb_err_clear();
			continue;
		}
		char *copy = strdup(text);
		if (copy && uevent_value(text, "PARTNAME", name, sizeof name) &&
		    !strcmp(name, want) && uevent_value(copy, "DEVNAME", dev, sizeof dev)) {
			snprintf(buf, size, "/dev/%s", dev);
			r = 0;
		}
		free(copy);
		free(text);
	}
	if (d)
		closedir(d);
	return r;
}

static int find_volume(const char *want, const char *sysfs, char *buf, size_t size)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/class/ubi", sysfs);
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = -ENOENT;
	while (d && r == -ENOENT && (e = readdir(d))) {
		char path[1024], *text = NULL;
		if (strncmp(e->d_name, "ubi", 3) || !strchr(e->d_name, '_'))
			continue; /* ubiX_Y: a volume */
		snprintf(path, sizeof path, "%s/%s/name", dir, e->d_name);
		if (lb_read_file(AT_FDCWD, path, 256, &text, NULL)) {
			lb_err_clear();
			continue;
		}
		text[strcspn(text, "\n")] = 0;
		if (!strcmp(text, want)) {
			snprintf(buf, size, "/dev/%s", e->d_name);
			r = 0;
		}
		free(text);
	}
	if (d)
		closedir(d);
	return r;
}

int lb_slot_device(const char *name, const char *map, const char *sysfs, char *buf, size_t size)
{
	size_t n = strlen(name);
	for (const char *m = map; m && *m;) {
		m += strspn(m, " \t,");
		size_t len = strcspn(m, " \t,");
		if (len > n + 1 && !strncmp(m, name, n) && m[n] == '=') {
			snprintf(buf, size, "%.*s", (int)(len - n - 1), m + n + 1);
			return 0;
		}
		m += len;
	}
	if (map)
		return -ENOENT; /* the configuration lists the slots */
	char want[64];
	snprintf(want, sizeof want, "rootfs-%s", name);
	if (!sysfs)
		sysfs = "/sys";
	int r = find_partition(want, sysfs, buf, size);
	if (r == -ENOENT)
		r = find_volume(want, sysfs, buf, size);
	return r;
}

const char *lb_slot_other(const char *name)
{
	return !strcmp(name, "a") ? "b" : !strcmp(name, "b") ? "a" : NULL;
}

int lb_slot_of_device(const char *dev, const char *map, const char *sysfs, char *name, size_t size)
{
	struct stat st, o;
	if (stat(dev, &st) < 0)
		return -errno;
	for (const char *m = map; m && *m;) { /* a=DEV b=DEV: the same device node */
		m += strspn(m, " \t,");
		size_t len = strcspn(m, " \t,"), eq = strcspn(m, "=");
		char path[4096];
		if (eq < len && len - eq - 1 < sizeof path) {
			snprintf(path, sizeof path, "%.*s", (int)(len - eq - 1), m + eq + 1);
			if (!stat(path, &o) && o.st_rdev == st.st_rdev && o.st_ino == st.st_ino &&
			    o.st_dev == st.st_dev && eq < size) {
				snprintf(name, size, "%.*s", (int)eq, m);
				return 0;
			}
		}
		m += len;
	}
	if (map || !(S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode)))
		return -ENOENT;
	char path[512], *text = NULL, val[128];
	int r;
	if (S_ISBLK(st.st_mode)) {
		snprintf(path, sizeof path, "%s/dev/block/%u:%u/uevent", sysfs ? sysfs : "/sys",
		         major(st.st_rdev), minor(st.st_rdev));
		r = lb_read_file(AT_FDCWD, path, 4096, &text, NULL);
		if (!r && !uevent_value(text, "PARTNAME", val, sizeof val))
			r = -ENOENT;
	} else {
		snprintf(path, sizeof path, "%s/dev/char/%u:%u/name", sysfs ? sysfs : "/sys",
		         major(st.st_rdev), minor(st.st_rdev));
		r = lb_read_file(AT_FDCWD, path, 256, &text, NULL);
		if (!r) {
			text[strcspn(text, "\n")] = 0;
			snprintf(val, sizeof val, "%s", text);
		}
	}
	free(text);
	lb_err_clear();
	if (r)
		return -ENOENT;
	if (strncmp(val, "rootfs-", 7) || !lb_boot_name_valid(val + 7))
		return -ENOENT;
	snprintf(name, size, "%s", val + 7);
	return 0;
}

int lb_ctx_open_slot(struct lb_ctx *ctx, const char *slot, bool create, char *buf, size_t size)
{
	if (!lb_boot_name_valid(slot))
		return lb_errf(-LBE_USAGE, "slot '%.32s': 1 to 31 of [a-z0-9_-] expected", slot);
	char rel[64], scripts[80];
	snprintf(rel, sizeof rel, "slot-%s", slot);
	snprintf(scripts, sizeof scripts, "%s/scripts", rel);
	snprintf(buf, size, "%s/%s", ctx->state, rel);
	int r = lb_ensure_dir(ctx->statefd, rel, 0755);
	if (!r && create)
		r = lb_ensure_dir(ctx->statefd, scripts, 0755);
	int fd = r ? -1 : openat(ctx->statefd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!r && fd < 0)
		r = -errno;
	if (r)
		return lb_errf(r, "package state %s: %s", buf, strerror(-r));
	if (ctx->pkgfd >= 0 && ctx->pkgfd != ctx->statefd)
		close(ctx->pkgfd);
	ctx->pkgfd = fd;
	ctx->pkg = buf;
	ctx->slot = slot;
	return 0;
}
