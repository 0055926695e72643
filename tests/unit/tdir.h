/* SPDX-License-Identifier: MIT */
/* cmocka fixture shared by the unit tests: each test runs in its own temporary
 * directory (/tmp/lb-test-NAME.XXXXXX, NAME from TDIR_NAME), removed by the
 * teardown even when the test fails. */
#ifndef LB_TEST_TDIR_H
#define LB_TEST_TDIR_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct tdir {
	char path[64];
	int fd;
};

static int tdir_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static int setup(void **state)
{
	struct tdir *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	snprintf(t->path, sizeof t->path, "/tmp/lb-test-%s.XXXXXX", TDIR_NAME);
	if (!mkdtemp(t->path) || (t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(t);
		return -1;
	}
	umask(022);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tdir *t = *state;
	close(t->fd);
	int r = nftw(t->path, tdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return r;
}

#endif
