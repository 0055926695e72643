/* SPDX-License-Identifier: MIT */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
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

static bool is_root(int rootfd, int fd)
{
	struct stat a, b;
	return fstat(rootfd, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* What RESOLVE_IN_ROOT does, component by component, for kernels before 5.6
 * (and valgrind): symlinks are followed with "/" meaning the root, ".." stops
 * at the root, at most 40 links. */
static int open_in_root_walk(int rootfd, const char *path)
{
	char rest[2 * PATH_MAX], link[PATH_MAX];
	int cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC), hops = 0;
	if (cur < 0)
		return -errno;
	if ((size_t)snprintf(rest, sizeof rest, "%s", path) >= sizeof rest) {
		close(cur);
		return -ENAMETOOLONG;
	}
	char *p = rest;
	while (*p) {
		char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		char comp[NAME_MAX + 1];
		if (len > NAME_MAX) {
			close(cur);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = 0;
		p += len + (slash ? 1 : 0);
		if (!len || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..") && is_root(rootfd, cur))
			continue;
		int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			int e = -errno;
			if (fd >= 0)
				close(fd);
			close(cur);
			return e;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(fd, "", link, sizeof link - 1);
			close(fd);
			if (n < 0 || ++hops > 40) {
				close(cur);
				return n < 0 ? -errno : -ELOOP;
			}
			link[n] = 0;
			char tail[2 * PATH_MAX];
			snprintf(tail, sizeof tail, "%s", p);
			if ((size_t)snprintf(rest, sizeof rest, "%s/%s", link, tail) >=
			    sizeof rest) {
				close(cur);
				return -ENAMETOOLONG;
			}
			p = rest;
			if (link[0] == '/') {
				close(cur);
				if ((cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)) <
				    0)
					return -errno;
			}
			continue;
		}
		close(cur);
		cur = fd;
		if (!S_ISDIR(st.st_mode)) {
			close(cur);
			return -ENOTDIR;
		}
	}
	return cur;
}

static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {
	    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	static int have_openat2 = 1;
	if (have_openat2) {
		long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
		if (fd >= 0 || errno != ENOSYS)
			return fd < 0 ? -errno : (int)fd;
		have_openat2 = 0;
	}
	return open_in_root_walk(rootfd, path);
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
