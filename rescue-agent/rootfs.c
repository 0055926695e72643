/* SPDX-License-Identifier: MIT */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void lb_dircache_init(struct lb_dircache *c, int rootfd)
{
	c->rootfd = rootfd;
	c->dir[0] = 0;
	c->dirfd = -1;
}

void lb_dircache_close(struct lb_dircache *c)
{
	if (c->dirfd >= 0 && c->dirfd != c->rootfd)
		close(c->dirfd);
	c->dirfd = -1;
	c->dir[0] = 0;
}

static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
	return fd < 0 ? -errno : (int)fd;
}

int lb_root_parent(struct lb_dircache *c, const char *relpath, int *dirfd, const char **base)
{
	const char *slash = strrchr(relpath, '/');
	size_t dlen = slash ? (size_t)(slash - relpath) : 0;
	*base = slash ? slash + 1 : relpath;
	if (dlen >= sizeof c->dir)
		return -ENAMETOOLONG;
	if (c->dirfd >= 0 && strlen(c->dir) == dlen && !memcmp(c->dir, relpath, dlen)) {
		*dirfd = c->dirfd;
		return 0;
	}
	lb_dircache_close(c);
	if (dlen == 0) {
		c->dirfd = c->rootfd;
	} else {
		char dir[4096];
		memcpy(dir, relpath, dlen);
		dir[dlen] = 0;
		int fd = open_in_root(c->rootfd, dir);
		if (fd < 0)
			return fd;
		c->dirfd = fd;
	}
	memcpy(c->dir, relpath, dlen);
	c->dir[dlen] = 0;
	*dirfd = c->dirfd;
	return 0;
}

int lb_root_lstat(struct lb_dircache *c, const char *relpath, struct stat *st)
{
	int dfd;
	const char *base;
	int r = lb_root_parent(c, relpath, &dfd, &base);
	if (r)
		return r;
	return fstatat(dfd, base, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int lb_root_open_read(struct lb_dircache *c, const char *relpath)
{
	int dfd;
	const char *base;
	int r = lb_root_parent(c, relpath, &dfd, &base);
	if (r)
		return r;
	int fd = openat(dfd, base, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int lb_fd_sha256(int fd, char hex[65])
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], out[32];
	crypto_hash_sha256_init(&st);
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, sizeof buf, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		crypto_hash_sha256_update(&st, buf, (size_t)n);
		off += n;
	}
	crypto_hash_sha256_final(&st, out);
	sodium_bin2hex(hex, 65, out, sizeof out);
	return 0;
}
