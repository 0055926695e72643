/* SPDX-License-Identifier: MIT */
/* The input pool: every *.deb of a directory, read once (control, sha256, size). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deb.h"
#include "master.h"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.deb names of dir, sorted (so that duplicates are resolved the same way on
 * every run). */
static int list_debs(DIR *d, const char *dir, char ***names, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	*names = NULL;
	*n = 0;
	errno = 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".deb"))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(*names, cap * sizeof *nn);
			if (!nn)
				return -ENOMEM;
			*names = nn;
		}
		if (!((*names)[*n] = strdup(de->d_name)))
			return -ENOMEM;
		(*n)++;
		errno = 0;
	}
	if (errno)
		return lb_errf(-errno, "pool %s: %s", dir, strerror(errno));
	if (*n)
		qsort(*names, *n, sizeof **names, name_cmp);
	return 0;
}

/* Read one .deb into p; -LBE_DEB etc. with a message when it is unusable. */
static int read_deb(int dirfd, const char *name, struct mpkg *p)
{
	struct lb_deb_meta meta;
	memset(p, 0, sizeof *p);
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lb_errf(-errno, "%s", strerror(errno));
	int r = lb_deb_read(fd, &meta, NULL, NULL, p->sha256, &p->size);
	close(fd);
	if (r < 0)
		return r;
	r = lb_deb822_parse(meta.control, meta.control_len, &p->control);
	if (!r && p->control.n != 1)
		r = lb_errf(-LBE_DEB, "control: %zu paragraphs", p->control.n);
	if (!r)
		r = lb_pkginfo_from_para(&p->control.paras[0], &p->info);
	lb_deb_meta_free(&meta);
	if (!r && !(p->file = strdup(name)))
		r = -ENOMEM;
	if (r < 0) {
		lb_doc_free(&p->control);
		lb_pkginfo_free(&p->info);
		free(p->file);
		return lb_err_prefix(r, "control");
	}
	return 0;
}

static void pkg_free(struct mpkg *p)
{
	lb_pkginfo_free(&p->info);
	lb_doc_free(&p->control);
	free(p->file);
}

static int pkg_cmp(const void *a, const void *b)
{
	const struct mpkg *x = a, *y = b;
	int c = strcmp(x->info.name, y->info.name);
	if (!c)
		c = lb_vercmp(x->info.version, y->info.version);
	if (!c)
		c = strcmp(x->info.arch, y->info.arch);
	if (!c)
		c = strcmp(x->sha256, y->sha256);
	return c;
}

/* Same name, version and architecture: one of them must go. The one whose file
 * name sorts first stays (files are read in name order). */
static void drop_duplicates(struct mpool *pool)
{
	size_t k = 0;
	for (size_t i = 0; i < pool->n; i++) {
		struct mpkg *p = &pool->pkgs[i];
		struct mpkg *q = k ? &pool->pkgs[k - 1] : NULL;
		if (q && !strcmp(p->info.name, q->info.name) &&
		    !strcmp(p->info.version, q->info.version) &&
		    !strcmp(p->info.arch, q->info.arch)) {
			if (strcmp(p->sha256, q->sha256)) {
				struct mpkg *keep = strcmp(p->file, q->file) < 0 ? p : q;
				struct mpkg *drop = keep == p ? q : p;
				mx_warn("%s/%s: %s %s %s is also in %s (different content), "
				        "skipped",
				        pool->dir, drop->file, p->info.name, p->info.version,
				        p->info.arch, keep->file);
				pool->skipped++;
				if (keep == p) {
					struct mpkg t = *q;
					*q = *p;
					*p = t;
				}
			}
			pkg_free(p);
			continue;
		}
		pool->pkgs[k++] = *p;
	}
	pool->n = k;
}

int mpool_load(const char *dir, struct mpool *pool)
{
	memset(pool, 0, sizeof *pool);
	pool->dirfd = -1;
	if (!(pool->dir = strdup(dir)))
		return -ENOMEM;
	pool->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pool->dirfd < 0)
		return lb_errf(-errno, "pool %s: %s", dir, strerror(errno));
	DIR *d = fdopendir(dup(pool->dirfd));
	if (!d)
		return lb_errf(-errno, "pool %s: %s", dir, strerror(errno));
	char **names;
	size_t n;
	int r = list_debs(d, dir, &names, &n);
	closedir(d);
	if (!r && n && !(pool->pkgs = calloc(n, sizeof *pool->pkgs)))
		r = -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!r) {
			int e = read_deb(pool->dirfd, names[i], &pool->pkgs[pool->n]);
			if (e == -ENOMEM)
				r = e;
			else if (e < 0) {
				mx_warn("%s/%s: %s, skipped", dir, names[i], lb_err_msg());
				lb_err_clear();
				pool->skipped++;
			} else
				pool->n++;
		}
		free(names[i]);
	}
	free(names);
	if (r < 0)
		return r;
	if (pool->n)
		qsort(pool->pkgs, pool->n, sizeof *pool->pkgs, pkg_cmp);
	drop_duplicates(pool);
	return 0;
}

void mpool_free(struct mpool *pool)
{
	for (size_t i = 0; i < pool->n; i++)
		pkg_free(&pool->pkgs[i]);
	free(pool->pkgs);
	free(pool->dir);
	if (pool->dirfd >= 0)
		close(pool->dirfd);
	memset(pool, 0, sizeof *pool);
	pool->dirfd = -1;
}
