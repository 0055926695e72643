/* SPDX-License-Identifier: MIT */
/* Package deltas of a group (docs/master-tree.md, "Package deltas").
 *
 * The versions a device of the group may have are those of the group's last
 * published states: the state in the tree names them, and its Package-Deltas
 * lines name the bases of the states before it. So each package of the new state
 * gets deltas from its version in the current state (when that differs), then
 * from the bases the current state lists for it, newest first, up to max_bases;
 * and from every other version of it in --delta-from. A delta is made once:
 *
 *   TREE/deltas/AB/<sha256 of the .deb>.from-<sha256 of the base .deb>.delta
 *
 * and kept; one that is not clearly smaller than the package (more than 3/4 of
 * it) is not published, and an empty .none file beside says so, so that it is
 * not made again. The base .deb comes from TREE/pool (which keeps every package
 * ever published) or from --delta-from. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desired.h"
#include "fsop.h"
#include "master.h"
#include "pkgdelta.h"

/* The content hash a delta file names. */
static int delta_content(int dirfd, const char *name, char content[65])
{
	unsigned char h[LB_PD_HEADER];
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, h, sizeof h, 0);
	close(fd);
	if (n != (ssize_t)sizeof h || memcmp(h, LB_PD_MAGIC, LB_PD_MAGIC_LEN))
		return -LBE_FORMAT;
	sodium_bin2hex(content, 65, h + LB_PD_MAGIC_LEN + 32, 32);
	return 0;
}

struct job {
	struct mtree *t;
	const struct mpool *pool, *from;
	struct mpdelta *v;
	size_t n, cap;
};

/* The delta to pool package p from the .deb base (sha256), made unless it is
 * there; appended to the list when it is worth publishing. */
static int one(struct job *j, const struct mpkg *p, const char *base, const char *basefile)
{
	struct mtree *t = j->t;
	char dir[16], name[200], none[200], tmp[220];
	snprintf(dir, sizeof dir, "deltas/%.2s", p->sha256);
	int r = tree_mkdir(t, "deltas");
	if (!r)
		r = tree_mkdir(t, dir);
	if (r)
		return r;
	int dfd = openat(t->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "%s/%s: %s", t->path, dir, strerror(errno));
	snprintf(name, sizeof name, "%s.from-%s.delta", p->sha256, base);
	snprintf(none, sizeof none, "%s.from-%s.none", p->sha256, base);
	snprintf(tmp, sizeof tmp, "%s.lb-tmp", name);
	struct mpdelta d = {.pkg = p};
	memcpy(d.base, base, 65);
	struct stat st;
	if (!fstatat(dfd, none, &st, 0)) {
		close(dfd);
		return 0;
	}
	if (fstatat(dfd, name, &st, 0)) {
		char basepath[4096], newpath[4096];
		if (basefile)
			snprintf(basepath, sizeof basepath, "%s", basefile);
		else
			snprintf(basepath, sizeof basepath, "%s/pool/%.2s/%s.deb", t->path, base,
			         base);
		snprintf(newpath, sizeof newpath, "%s/%s", j->pool->dir, p->file);
		if (access(basepath, R_OK)) {
			mx_warn("%s %s: no delta from %.16s: %s is gone", p->info.name,
			        p->info.version, base, basepath);
			close(dfd);
			return 0;
		}
		int fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = lb_errf(-errno, "%s/%s/%s: %s", t->path, dir, tmp, strerror(errno));
			close(dfd);
			return r;
		}
		struct debdelta_stats ds;
		r = debdelta_make(basepath, newpath, fd, MDELTA_LEVEL, &ds, d.content);
		if (!r)
			r = lb_fsync(fd);
		close(fd);
		if (r == -LBE_DEB || r == -LBE_UNSAFE) { /* a base that cannot be read */
			mx_warn("%s %s: no delta from %s: %s", p->info.name, p->info.version,
			        basepath, lb_err_msg());
			lb_err_clear();
			r = lb_unlink(dfd, tmp);
			close(dfd);
			return r;
		}
		if (!r && ds.bytes * 4 > p->size * 3) {
			/* not clearly smaller: say so once */
			r = lb_unlink(dfd, tmp);
			if (!r)
				r = lb_replace_file(dfd, none, "", 0, 0644);
			if (!r)
				t->written++;
			close(dfd);
			return r;
		}
		if (!r)
			r = lb_rename(dfd, tmp, dfd, name);
		if (!r)
			r = lb_fsync_dir(dfd, NULL);
		if (r) {
			if (lb_unlink(dfd, tmp))
				lb_err_clear();
			close(dfd);
			return r;
		}
		t->written++;
	} else if ((r = delta_content(dfd, name, d.content))) {
		close(dfd);
		return lb_errf(r == -LBE_FORMAT ? -EIO : r, "%s/%s/%s: not a package delta",
		               t->path, dir, name);
	}
	r = mx_file_sha256(dfd, name, d.sha256, &d.size);
	close(dfd);
	if (r)
		return lb_errf(r, "%s/%s/%s: %s", t->path, dir, name, strerror(-r));
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 16;
		struct mpdelta *v = realloc(j->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		j->v = v;
		j->cap = cap;
	}
	j->v[j->n++] = d;
	return 0;
}

static bool listed(const char (*bases)[65], size_t n, const char *sha)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(bases[i], sha))
			return true;
	return false;
}

int pkgdeltas_publish(struct mtree *t, const struct mgroup *g, const struct mpool *pool,
                      const size_t *sel, size_t n, unsigned max_bases, const struct mpool *from,
                      struct mpdelta **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (!max_bases && (!from || !from->n))
		return 0;
	char path[300];
	snprintf(path, sizeof path, "%s/groups/%s/state", t->path, g->name);
	struct lb_desired prev;
	bool have = lb_desired_load(path, &prev) == 0;
	lb_err_clear();
	struct job j = {.t = t, .pool = pool, .from = from};
	int r = 0;
	for (size_t i = 0; !r && i < n; i++) {
		const struct mpkg *p = &pool->pkgs[sel[i]];
		char bases[LB_DESIRED_MAX_PKG_DELTAS][65];
		size_t nb = 0;
		const struct lb_desired_pkg *old =
		    have ? lb_desired_find(&prev, p->info.name) : NULL;
		if (old && old->sha256[0] && strcmp(old->sha256, p->sha256) && nb < max_bases)
			memcpy(bases[nb++], old->sha256, 65);
		for (size_t k = 0; old && k < old->ndeltas && nb < max_bases; k++)
			if (strcmp(old->deltas[k].base_sha256, p->sha256) &&
			    !listed(bases, nb, old->deltas[k].base_sha256))
				memcpy(bases[nb++], old->deltas[k].base_sha256, 65);
		for (size_t k = 0; !r && k < nb; k++)
			r = one(&j, p, bases[k], NULL);
		for (size_t k = 0; !r && from && k < from->n; k++) {
			const struct mpkg *b = &from->pkgs[k];
			if (strcmp(b->info.name, p->info.name) || !strcmp(b->sha256, p->sha256) ||
			    listed(bases, nb, b->sha256) || nb == LB_DESIRED_MAX_PKG_DELTAS)
				continue;
			char file[4096];
			snprintf(file, sizeof file, "%s/%s", from->dir, b->file);
			memcpy(bases[nb++], b->sha256, 65);
			r = one(&j, p, b->sha256, file);
		}
	}
	if (have)
		lb_desired_free(&prev);
	if (r) {
		free(j.v);
		return r;
	}
	*out = j.v;
	*nout = j.n;
	return 0;
}
