/* SPDX-License-Identifier: MIT */
/* The published tree as a whole: creating and locking it, the serials already in it,
 * and removing what the configuration no longer names. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsop.h"
#include "master.h"

#define SERIAL_FILE_MAX (1u << 24)

int tree_mkdir(struct mtree *t, const char *dir)
{
	int r = lb_mkdir(t->fd, dir, 0755);
	if (!r)
		r = lb_fsync_dir(t->fd, NULL);
	if (r < 0 && r != -EEXIST)
		return lb_errf(r, "%s/%s: %s", t->path, dir, strerror(-r));
	return 0;
}

/* mkdir -p path through fsop */
static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		int r = lb_mkdir(AT_FDCWD, buf, 0755);
		if (r < 0 && r != -EEXIST)
			return r;
		if (!(*s = c))
			break;
	}
	return 0;
}

int tree_open(const char *path, struct mtree *t)
{
	memset(t, 0, sizeof *t);
	t->path = path;
	t->fd = t->poolfd = -1;
	int r = mkdir_p(path);
	if (r < 0)
		return lb_errf(r, "%s: %s", path, strerror(-r));
	t->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->fd < 0)
		return lb_errf(-errno, "%s: %s", path, strerror(errno));
	/* a kernel lock on the directory: two publishes into one tree take turns */
	if (flock(t->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return lb_errf(-errno, "%s: lock: %s", path, strerror(errno));
		fprintf(stderr, "lifeboat-master: %s: waiting for another publish\n", path);
		if (flock(t->fd, LOCK_EX) < 0)
			return lb_errf(-errno, "%s: lock: %s", path, strerror(errno));
	}
	static const char *const dirs[] = {"pool", "groups", "devices"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if ((r = tree_mkdir(t, dirs[i])) < 0)
			return r;
	t->poolfd = openat(t->fd, "pool", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->poolfd < 0)
		return lb_errf(-errno, "%s/pool: %s", path, strerror(errno));
	return 0;
}

void tree_close(struct mtree *t)
{
	if (t->poolfd >= 0)
		close(t->poolfd);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = t->poolfd = -1;
}

/* Serial of dirfd/name, 0 when it has none (or is not ours). */
static unsigned long long serial_of(int dirfd, const char *name)
{
	char *buf = NULL;
	size_t len;
	unsigned long long s = 0;
	if (lb_read_file(dirfd, name, SERIAL_FILE_MAX, &buf, &len) < 0)
		return 0;
	const char *v = !strncmp(buf, "Serial: ", 8) ? buf : strstr(buf, "\nSerial: ");
	if (v)
		s = strtoull(v + (v == buf ? 8 : 9), NULL, 10);
	free(buf);
	return s;
}

unsigned long long tree_serial_of(struct mtree *t, const char *name)
{
	return serial_of(t->fd, name);
}

static DIR *open_subdir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (fd >= 0 && !d)
		close(fd);
	return d;
}

static bool is_ours(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && (n < 7 || strcmp(name + n - 7, ".lb-tmp"));
}

int tree_max_serial(struct mtree *t, unsigned long long *max)
{
	*max = 0;
	struct dirent *de;
	DIR *d = open_subdir(t->fd, "devices");
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (!is_ours(de->d_name) || (n > 8 && !strcmp(de->d_name + n - 8, ".minisig")))
			continue;
		unsigned long long s = serial_of(dirfd(d), de->d_name);
		*max = s > *max ? s : *max;
	}
	if (d)
		closedir(d);
	if (!(d = open_subdir(t->fd, "groups")))
		return lb_errf(-errno, "%s/groups: %s", t->path, strerror(errno));
	while ((de = readdir(d))) {
		if (!is_ours(de->d_name))
			continue;
		int gfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (gfd < 0)
			continue;
		unsigned long long s = serial_of(gfd, "state");
		*max = s > *max ? s : *max;
		close(gfd);
	}
	closedir(d);
	return 0;
}

/* Remove dirfd/name and dirfd/name.minisig (and a temporary file left by a crash). */
static int remove_signed(struct mtree *t, int dirfd, const char *name)
{
	static const char *const sfx[] = {"", ".minisig", ".lb-tmp", ".minisig.lb-tmp"};
	int r = 0;
	for (size_t i = 0; !r && i < sizeof sfx / sizeof sfx[0]; i++) {
		char n[NAME_MAX + 1];
		if (snprintf(n, sizeof n, "%s%s", name, sfx[i]) >= (int)sizeof n)
			continue;
		if (!faccessat(dirfd, n, F_OK, AT_SYMLINK_NOFOLLOW) && !(r = lb_unlink(dirfd, n)))
			t->removed++;
	}
	return r ? r : lb_fsync_dir(dirfd, NULL);
}

/* The base name of a device file: "dev-1" for dev-1, dev-1.minisig, dev-1.lb-tmp */
static void device_of(const char *file, char out[NAME_MAX + 1])
{
	snprintf(out, NAME_MAX + 1, "%s", file);
	static const char *const sfx[] = {".lb-tmp", ".minisig"};
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		size_t n = strlen(out), k = strlen(sfx[i]);
		if (n > k && !strcmp(out + n - k, sfx[i]))
			out[n - k] = 0;
	}
}

static int prune_devices(struct mtree *t, const struct mconf *conf)
{
	DIR *d = open_subdir(t->fd, "devices");
	if (!d)
		return lb_errf(-errno, "%s/devices: %s", t->path, strerror(errno));
	struct dirent *de;
	int r = 0;
	while (!r && (de = readdir(d))) {
		char id[NAME_MAX + 1];
		device_of(de->d_name, id);
		bool known = false;
		for (size_t i = 0; !known && i < conf->ndevices; i++)
			known = !strcmp(conf->devices[i].id, id);
		if (de->d_name[0] != '.' && !known && conf_name_valid(id))
			r = remove_signed(t, dirfd(d), id);
	}
	closedir(d);
	return r < 0 ? lb_errf(r, "%s/devices: %s", t->path, strerror(-r)) : 0;
}

static int prune_groups(struct mtree *t, const struct mconf *conf)
{
	DIR *d = open_subdir(t->fd, "groups");
	if (!d)
		return lb_errf(-errno, "%s/groups: %s", t->path, strerror(errno));
	struct dirent *de;
	int r = 0;
	while (!r && (de = readdir(d))) {
		if (de->d_name[0] == '.' || conf_group(conf, de->d_name) ||
		    !conf_name_valid(de->d_name))
			continue;
		int gfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (gfd < 0)
			continue;
		r = remove_signed(t, gfd, "state");
		close(gfd);
		/* a directory with files of someone else's stays */
		if (!r && lb_rmdir(dirfd(d), de->d_name) == 0)
			r = lb_fsync_dir(dirfd(d), NULL);
	}
	closedir(d);
	return r < 0 ? lb_errf(r, "%s/groups: %s", t->path, strerror(-r)) : 0;
}

int tree_prune(struct mtree *t, const struct mconf *conf)
{
	int r = prune_devices(t, conf);
	return r ? r : prune_groups(t, conf);
}
