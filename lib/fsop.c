/* SPDX-License-Identifier: MIT */
#include "fsop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef LB_FAULT_INJECTION
#include <ftw.h>

static long fi_countdown = -1; /* crash when it reaches 0 */
static long fi_calls;
static const char *fi_count_file;
static char *fi_watch[8];
static int fi_nwatch;
/* inodes written since their last sync, with the size they had when they were
 * last synced: a crash cuts them back to it (a small open-addressing table) */
#define FI_SLOTS 65536
struct fi_slot {
	unsigned long long key; /* 0 empty, 1 deleted */
	off_t synced_size;
};
static struct fi_slot fi_dirty[FI_SLOTS];
static long fi_ndirty;

static unsigned long long fi_key(dev_t dev, ino_t ino)
{
	unsigned long long k = ((unsigned long long)dev << 40) ^ (unsigned long long)ino;
	return k < 2 ? k + (1ULL << 63) : k; /* 0 and 1 mark empty and deleted slots */
}

static struct fi_slot *fi_find(unsigned long long k, int insert)
{
	struct fi_slot *tomb = NULL;
	for (size_t i = k % FI_SLOTS, n = 0; n < FI_SLOTS; i = (i + 1) % FI_SLOTS, n++) {
		if (fi_dirty[i].key == k)
			return &fi_dirty[i];
		if (fi_dirty[i].key == 1 && !tomb)
			tomb = &fi_dirty[i];
		if (fi_dirty[i].key == 0) {
			if (!insert || fi_ndirty >= FI_SLOTS / 2)
				return NULL;
			fi_ndirty++;
			return tomb ? tomb : &fi_dirty[i];
		}
	}
	return NULL;
}

static void fi_mark(int fd, int dirty)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	unsigned long long k = fi_key(st.st_dev, st.st_ino);
	struct fi_slot *s = fi_find(k, dirty);
	if (!s)
		return;
	if (!dirty) {
		s->key = 1;
		return;
	}
	if (s->key != k) {
		s->key = k;
		s->synced_size = st.st_size; /* what was there before this write */
	}
}

/* a file just created (or truncated): none of its data is on disk yet; this also
 * forgets an earlier file whose inode number the new one reuses */
static void fi_mark_new(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	unsigned long long k = fi_key(st.st_dev, st.st_ino);
	struct fi_slot *s = fi_find(k, 1);
	if (s) {
		s->key = k;
		s->synced_size = 0;
	}
}

static int fi_drop(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	struct fi_slot *s;
	if (flag == FTW_F && S_ISREG(st->st_mode) &&
	    (s = fi_find(fi_key(st->st_dev, st->st_ino), 0)) && s->synced_size < st->st_size)
		if (truncate(path, s->synced_size) < 0)
			perror(path);
	return 0;
}

static void fi_write_count(void)
{
	if (!fi_count_file)
		return;
	FILE *f = fopen(fi_count_file, "we");
	if (f) {
		fprintf(f, "%ld\n", fi_calls);
		fclose(f);
	}
}

static void fi_point(void)
{
	fi_calls++;
	if (fi_countdown < 0 || --fi_countdown > 0)
		return;
	for (int i = 0; i < fi_nwatch; i++)
		nftw(fi_watch[i], fi_drop, 32, FTW_PHYS | FTW_MOUNT);
	fi_write_count();
	_exit(99);
}

void lb_fi_init(void)
{
	const char *s = getenv("LIFEBOAT_CRASH_AT");
	if (s && *s)
		fi_countdown = atol(s);
	fi_count_file = getenv("LIFEBOAT_CRASH_COUNT");
}

void lb_fi_watch(const char *path)
{
	if (fi_nwatch < (int)(sizeof fi_watch / sizeof fi_watch[0]))
		fi_watch[fi_nwatch++] = strdup(path);
}

void lb_fi_done(void)
{
	fi_write_count();
}
#else
static inline void fi_point(void)
{
}
static inline void fi_mark_new(int fd)
{
	(void)fd;
}
static inline void fi_mark(int fd, int dirty)
{
	(void)fd;
	(void)dirty;
}
void lb_fi_init(void)
{
}
void lb_fi_watch(const char *path)
{
	(void)path;
}
void lb_fi_done(void)
{
}
#endif

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

int lb_create_unsafe(int dirfd, const char *name, mode_t mode, int replace)
{
	fi_point();
	int fd = openat(dirfd, name,
	                O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (replace ? O_TRUNC : O_EXCL),
	                mode);
	if (fd < 0)
		return neg_errno();
	fi_mark_new(fd);
	return fd;
}

int lb_open_append(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? neg_errno() : fd;
}

int lb_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	fi_point();
	fi_mark(fd, 1);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int lb_fsync(int fd)
{
	fi_point();
	if (fsync(fd) < 0)
		return neg_errno();
	fi_mark(fd, 0);
	return 0;
}

int lb_syncfs(int fd)
{
	fi_point();
	if (syncfs(fd) < 0)
		return neg_errno();
#ifdef LB_FAULT_INJECTION
	memset(fi_dirty, 0, sizeof fi_dirty);
	fi_ndirty = 0;
#endif
	return 0;
}

int lb_fsync_dir(int dirfd, const char *name)
{
	int fd = (name && *name) ? openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
	                         : openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	fi_point();
	int r = fsync(fd) < 0 ? neg_errno() : 0;
	close(fd);
	return r;
}

int lb_rename(int olddirfd, const char *oldname, int newdirfd, const char *newname)
{
	fi_point();
	return renameat(olddirfd, oldname, newdirfd, newname) < 0 ? neg_errno() : 0;
}

int lb_unlink(int dirfd, const char *name)
{
	fi_point();
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return neg_errno();
	return 0;
}

int lb_rmdir(int dirfd, const char *name)
{
	fi_point();
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return neg_errno();
	return 0;
}

int lb_mkdir(int dirfd, const char *name, mode_t mode)
{
	fi_point();
	return mkdirat(dirfd, name, mode) < 0 ? neg_errno() : 0;
}

int lb_ensure_dir(int dirfd, const char *name, mode_t mode)
{
	int r = lb_mkdir(dirfd, name, mode);
	struct stat st;
	if (r == -EEXIST && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode))
		r = 0;
	return r;
}

int lb_symlink(const char *target, int dirfd, const char *name)
{
	fi_point();
	return symlinkat(target, dirfd, name) < 0 ? neg_errno() : 0;
}

int lb_link(int olddirfd, const char *oldname, int newdirfd, const char *newname)
{
	fi_point();
	return linkat(olddirfd, oldname, newdirfd, newname, 0) < 0 ? neg_errno() : 0;
}

int lb_mknod(int dirfd, const char *name, mode_t mode, dev_t dev)
{
	fi_point();
	return mknodat(dirfd, name, mode, dev) < 0 ? neg_errno() : 0;
}

int lb_set_meta(int dirfd, const char *name, int is_symlink, uid_t uid, gid_t gid, mode_t mode,
                long long mtime)
{
	fi_point();
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	if (!is_symlink && S_ISLNK(st.st_mode))
		return -ELOOP; /* never chmod through a symlink */
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM)
		return neg_errno();
	if (!is_symlink && fchmodat(dirfd, name, mode & 07777, 0) < 0)
		return neg_errno();
	if (mtime >= 0) {
		struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
		if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return neg_errno();
	}
	return 0;
}

static int tmp_name(const char *name, char *tmp, size_t size)
{
	return (size_t)snprintf(tmp, size, "%s.lb-tmp", name) >= size ? -ENAMETOOLONG : 0;
}

int lb_replace_open(int dirfd, const char *name, mode_t mode)
{
	char tmp[4096];
	int r = tmp_name(name, tmp, sizeof tmp);
	return r ? r : lb_create_unsafe(dirfd, tmp, mode, 1);
}

int lb_replace_finish(int dirfd, const char *name, int fd, int err)
{
	char tmp[4096];
	int r = err ? err : tmp_name(name, tmp, sizeof tmp);
	if (!r)
		r = lb_fsync(fd);
	if (close(fd) < 0 && !r)
		r = neg_errno();
	if (!r)
		r = lb_rename(dirfd, tmp, dirfd, name);
	if (!r)
		r = lb_fsync_dir(dirfd, NULL);
	if (r && !tmp_name(name, tmp, sizeof tmp)) {
		int saved = errno;
		unlinkat(dirfd, tmp, 0);
		errno = saved;
	}
	return r;
}

int lb_replace_file(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	int fd = lb_replace_open(dirfd, name, mode);
	if (fd < 0)
		return fd;
	return lb_replace_finish(dirfd, name, fd, lb_write_all(fd, buf, len));
}

int lb_read_fd(int fd, size_t max, char **bufp, size_t *lenp)
{
	/* read up to max + 1 bytes: one more than allowed tells a file that is too big */
	size_t cap = max < 4096 ? max + 1 : 4096, len = 0;
	char *buf = malloc(cap + 1);
	int r = 0;
	for (;;) {
		if (!buf) {
			r = -ENOMEM;
			break;
		}
		if (len == cap) {
			if (cap > max) {
				r = -EFBIG;
				break;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = neg_errno();
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!r && len > max)
		r = -EFBIG;
	if (r) {
		free(buf);
		return r;
	}
	buf[len] = 0;
	*bufp = buf;
	if (lenp)
		*lenp = len;
	return 0;
}

int lb_read_file(int dirfd, const char *name, size_t max, char **bufp, size_t *lenp)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	int r = lb_read_fd(fd, max, bufp, lenp);
	close(fd);
	return r;
}
