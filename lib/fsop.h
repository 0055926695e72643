/* SPDX-License-Identifier: MIT */
/* The one module that changes persistent state. Every create, write, sync,
 * rename and unlink that lifeboat does goes through here, so that
 *  - the atomic-replace technique lives in one place (lb_replace_file: write
 *    beside the target, fsync, rename, fsync the directory), and
 *  - fault injection can crash the process at the Nth state-changing call and
 *    drop the data that was written but not yet synced (built with
 *    -DLB_FAULT_INJECTION; see docs/testing.md).
 * Anything that is not atomic says so in its name (_unsafe). All functions return
 * 0 or a negative errno. All fds are O_CLOEXEC. */
#ifndef LB_FSOP_H
#define LB_FSOP_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

/* Create a new file (O_EXCL unless replace) and return its fd (>= 0). */
int lb_create_unsafe(int dirfd, const char *name, mode_t mode, int replace) LB_MUST;
/* Open an existing file for appending (journals). */
int lb_open_append(int dirfd, const char *name) LB_MUST;
int lb_write_all(int fd, const void *buf, size_t len) LB_MUST;
int lb_fsync(int fd) LB_MUST;
int lb_syncfs(int fd) LB_MUST;
int lb_fsync_dir(int dirfd, const char *name) LB_MUST; /* name NULL or "" = dirfd itself */
int lb_rename(int olddirfd, const char *oldname, int newdirfd, const char *newname) LB_MUST;
int lb_unlink(int dirfd, const char *name) LB_MUST;             /* ENOENT is success */
int lb_rmdir(int dirfd, const char *name) LB_MUST;              /* ENOENT is success */
int lb_mkdir(int dirfd, const char *name, mode_t mode) LB_MUST; /* EEXIST is an error */
/* A directory that may exist already (lifeboat's own state subdirectories). */
int lb_ensure_dir(int dirfd, const char *name, mode_t mode) LB_MUST;
int lb_symlink(const char *target, int dirfd, const char *name) LB_MUST;
int lb_link(int olddirfd, const char *oldname, int newdirfd, const char *newname) LB_MUST;
int lb_mknod(int dirfd, const char *name, mode_t mode, dev_t dev) LB_MUST;
/* chown/chmod/utimes of an entry, without following a final symlink (mode is not
 * applied to symlinks). mtime < 0 leaves times alone. */
int lb_set_meta(int dirfd, const char *name, int is_symlink, uid_t uid, gid_t gid, mode_t mode,
                long long mtime) LB_MUST;

/* Atomically replace dirfd/name with buf: write name.lb-tmp, fsync, rename,
 * fsync the directory. */
int lb_replace_file(int dirfd, const char *name, const void *buf, size_t len, mode_t mode) LB_MUST;

/* The same in steps, for content written piecewise: lb_replace_open() creates
 * NAME.lb-tmp; write it with lb_write_all(); lb_replace_finish() fsyncs, closes,
 * renames and fsyncs the directory — or, when err is non-zero, closes and removes
 * the temporary file and returns err. */
int lb_replace_open(int dirfd, const char *name, mode_t mode) LB_MUST;
int lb_replace_finish(int dirfd, const char *name, int fd, int err) LB_MUST;

/* Read a whole small file (<= max bytes) into a NUL-terminated malloc'd buffer;
 * -EFBIG when it is larger. lb_read_fd reads the rest of an open file the same way. */
int lb_read_fd(int fd, size_t max, char **buf, size_t *len) LB_MUST;
int lb_read_file(int dirfd, const char *name, size_t max, char **buf, size_t *len) LB_MUST;

/* Fault injection (no-ops unless built with LB_FAULT_INJECTION):
 * LIFEBOAT_CRASH_AT=N makes the Nth state-changing call crash the process
 * (exit status 99) before it happens, after truncating every file whose data
 * was written since it was last synced (ext4's delayed allocation after a power
 * cut). LIFEBOAT_CRASH_COUNT=FILE writes the number of calls made to FILE at exit.
 * lb_fi_watch(dirfd) registers a tree to scan for unsynced files at the crash. */
void lb_fi_init(void);
void lb_fi_watch(const char *path);
void lb_fi_done(void);

#endif
