/* SPDX-License-Identifier: MIT */
/* TREE/pool/AB/<sha256>.deb (content-addressed, never rewritten) and TREE/Packages. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsop.h"
#include "master.h"

/* Copy src (open) to dirfd/name through a temporary file, checking that the bytes
 * copied have the sha256 and size the pool was read with. */
static int copy_file(int src, int dirfd, const char *name, const struct mpkg *p)
{
	static unsigned char buf[1 << 16];
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	int fd = lb_replace_open(dirfd, name, 0644);
	if (fd < 0)
		return fd;
	unsigned long long total = 0;
	int r = 0;
	for (;;) {
		ssize_t n = read(src, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		crypto_hash_sha256_update(&h, buf, (size_t)n);
		total += (unsigned long long)n;
		if ((r = lb_write_all(fd, buf, (size_t)n)) < 0)
			break;
	}
	unsigned char md[32];
	char hex[65];
	crypto_hash_sha256_final(&h, md);
	sodium_bin2hex(hex, sizeof hex, md, sizeof md);
	if (!r && (total != p->size || strcmp(hex, p->sha256)))
		r = lb_errf(-LBE_HASH, "changed while being published");
	return lb_replace_finish(dirfd, name, fd, r);
}

/* TREE/pool/AB/<sha>.deb: present with the right size, it stays. Otherwise a hard
 * link to the input file (synced first: the tree must not name unsynced data), or a
 * copy when the two are on different file systems. */
static int export_one(struct mtree *t, const struct mpool *pool, const struct mpkg *p)
{
	char dir[3] = {p->sha256[0], p->sha256[1], 0}, name[80];
	snprintf(name, sizeof name, "%s.deb", p->sha256);
	int r = lb_mkdir(t->poolfd, dir, 0755);
	if (r < 0 && r != -EEXIST)
		return r;
	int dfd = openat(t->poolfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	struct stat st;
	if (!fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode) &&
	    (unsigned long long)st.st_size == p->size) {
		close(dfd);
		return 0;
	}
	if (r == 0 && (r = lb_fsync_dir(t->poolfd, NULL)) < 0)
		goto out;
	int src = openat(pool->dirfd, p->file, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		r = -errno;
		goto out;
	}
	if ((r = lb_unlink(dfd, name)) < 0 || (r = lb_fsync(src)) < 0)
		goto out_src;
	/* a symbolic link in the input pool is copied: a hard link would be one to
	 * the symbolic link */
	bool symlink =
	    !fstatat(pool->dirfd, p->file, &st, AT_SYMLINK_NOFOLLOW) && S_ISLNK(st.st_mode);
	r = symlink ? -EPERM : lb_link(pool->dirfd, p->file, dfd, name);
	if (!r)
		r = lb_fsync_dir(dfd, NULL);
	else if (r == -EXDEV || r == -EPERM || r == -EMLINK || r == -EACCES)
		r = copy_file(src, dfd, name, p);
	if (!r)
		t->written++;
out_src:
	close(src);
out:
	close(dfd);
	return r;
}

/* A field of a control paragraph, in deb822 syntax. */
static void put_field(struct mbuf *b, const struct lb_field *f)
{
	const char *v = f->value, *nl = strchr(v, '\n');
	size_t first = nl ? (size_t)(nl - v) : strlen(v);
	mbuf_printf(b, "%s:%s%.*s\n", f->name, first ? " " : "", (int)first, v);
	while (nl) {
		v = nl + 1;
		nl = strchr(v, '\n');
		size_t len = nl ? (size_t)(nl - v) : strlen(v);
		if (len)
			mbuf_printf(b, " %.*s\n", (int)len, v);
		else
			mbuf_put(b, " .\n", 3);
	}
}

static bool is_index_field(const char *name)
{
	static const char *const ours[] = {"Filename", "Size", "SHA256",
	                                   "MD5sum",   "SHA1", "SHA512"};
	for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
		if (!strcasecmp(name, ours[i]))
			return true;
	return false;
}

static int write_packages(struct mtree *t, const struct mpool *pool)
{
	struct mbuf b = {0};
	for (size_t i = 0; i < pool->n; i++) {
		const struct mpkg *p = &pool->pkgs[i];
		const struct lb_para *para = &p->control.paras[0];
		if (i)
			mbuf_put(&b, "\n", 1);
		for (size_t k = 0; k < para->n; k++)
			if (!is_index_field(para->fields[k].name))
				put_field(&b, &para->fields[k]);
		mbuf_printf(&b, "Filename: pool/%.2s/%s.deb\nSize: %llu\nSHA256: %s\n", p->sha256,
		            p->sha256, p->size, p->sha256);
	}
	if (b.err)
		return b.err;
	char *old = NULL;
	size_t oldlen = 0;
	int r = lb_read_file(t->fd, "Packages", LB_DEB822_MAX_INPUT, &old, &oldlen);
	bool same = !r && oldlen == b.len && !memcmp(old, b.s ? b.s : "", b.len);
	free(old);
	r = 0;
	if (same)
		t->kept++;
	else if (!(r = lb_replace_file(t->fd, "Packages", b.s ? b.s : "", b.len, 0644)))
		t->written++;
	mbuf_free(&b);
	return r < 0 ? lb_errf(r, "%s/Packages: %s", t->path, strerror(-r)) : 0;
}

int index_publish(struct mtree *t, const struct mpool *pool)
{
	for (size_t i = 0; i < pool->n; i++) {
		const struct mpkg *p = &pool->pkgs[i];
		lb_err_clear();
		int r = export_one(t, pool, p);
		if (r < 0) {
			if (!lb_err_msg()[0])
				lb_errf(r, "%s", strerror(-r));
			return lb_err_prefix(r, "%s/pool/%.2s/%s.deb (from %s/%s)", t->path,
			                     p->sha256, p->sha256, pool->dir, p->file);
		}
	}
	return write_packages(t, pool);
}
