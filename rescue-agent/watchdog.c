/* SPDX-License-Identifier: MIT */
#include "watchdog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct lb_wdstat *)a)->name, ((const struct lb_wdstat *)b)->name);
}

void lb_watchdog_list(const char *sysfs_dir, struct lb_wdstat out[LB_WATCHDOG_MAX], size_t *n)
{
	*n = 0;
	DIR *d = opendir(sysfs_dir);
	if (!d)
		return;
	struct dirent *e;
	while (*n < LB_WATCHDOG_MAX && (e = readdir(d))) {
		if (strncmp(e->d_name, "watchdog", 8) || strlen(e->d_name) >= sizeof out->name)
			continue;
		char path[4096], buf[32];
		snprintf(path, sizeof path, "%s/%s/bootstatus", sysfs_dir, e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		char *end;
		errno = 0;
		unsigned long v = strtoul(buf, &end, 0); /* the kernel prints "%u\n" */
		if (errno || end == buf)
			continue;
		snprintf(out[*n].name, sizeof out->name, "%s", e->d_name);
		out[(*n)++].bootstatus = v;
	}
	closedir(d);
	qsort(out, *n, sizeof *out, by_name);
}

bool lb_watchdog_card_reset(const struct lb_wdstat *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].bootstatus & WDIOF_CARDRESET)
			return true;
	return false;
}

int lb_watchdog_arm(const char *dev, unsigned timeout, unsigned *accepted, bool *stays)
{
	*accepted = 0;
	*stays = true;
	/* opening it starts it */
	int fd = open(dev, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return lb_errf(-errno, "watchdog %s: %s", dev, strerror(errno));
	struct watchdog_info info;
	int r = 0;
	if (ioctl(fd, WDIOC_GETSUPPORT, &info) < 0) {
		int e = errno;
		r = lb_errf(-e, "watchdog %s: %s", dev,
		            e == ENOTTY ? "not a watchdog device" : strerror(e));
	}
	if (!r)
		*stays = (info.options & WDIOF_MAGICCLOSE) != 0;
	int t = (int)timeout;
	if (!r && ioctl(fd, WDIOC_SETTIMEOUT, &t) == 0)
		*accepted = (unsigned)t; /* the driver may round it */
	else if (!r && ioctl(fd, WDIOC_GETTIMEOUT, &t) == 0 && t > 0)
		*accepted = (unsigned)t; /* a fixed timeout */
	if (!r && ioctl(fd, WDIOC_KEEPALIVE, 0) < 0)
		r = lb_errf(-errno, "watchdog %s: keepalive: %s", dev, strerror(errno));
	/* no magic 'V' before the close: the watchdog keeps running */
	if (close(fd) < 0 && !r)
		r = lb_errf(-errno, "watchdog %s: close: %s", dev, strerror(errno));
	return r;
}
