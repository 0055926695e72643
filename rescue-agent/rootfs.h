/* SPDX-License-Identifier: MIT */
/* Paths beneath the target root. Every lookup resolves symlinks as if the root
 * were "/" (openat2 RESOLVE_IN_ROOT), so neither "..", nor an absolute symlink,
 * nor a symlink planted by a package can make lifeboat touch anything outside
 * --root. The final component is never followed. */
#ifndef LB_ROOTFS_H
#define LB_ROOTFS_H

#include <sys/stat.h>

#include "error.h"

struct lb_dircache {
	int rootfd;
	char dir[4096]; /* relative path of the cached directory */
	int dirfd;      /* -1 when empty */
};

void lb_dircache_init(struct lb_dircache *c, int rootfd);
void lb_dircache_close(struct lb_dircache *c);

/* Open the directory holding relpath (cached for consecutive calls with the same
 * parent) and return its fd in *dirfd (owned by the cache) and the final
 * component in *base. -ENOENT if the parent does not exist. */
int lb_root_parent(struct lb_dircache *c, const char *relpath, int *dirfd,
                   const char **base) LB_MUST;

/* lstat of relpath beneath the root; -ENOENT if absent. */
int lb_root_lstat(struct lb_dircache *c, const char *relpath, struct stat *st) LB_MUST;

/* Open relpath for reading (final component not followed). */
int lb_root_open_read(struct lb_dircache *c, const char *relpath) LB_MUST;

/* sha256 (hex) of an open file's content. */
int lb_fd_sha256(int fd, char hex[65]) LB_MUST;

#endif
