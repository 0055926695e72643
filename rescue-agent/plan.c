/* SPDX-License-Identifier: MIT */
/* Planning: compare the installed state with the desired one, read and verify
 * every package that changes, check dependencies, order, and work out every
 * path the transaction will create, replace or remove. Changes nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "depcheck.h"
#include "engine.h"
#include "parallel.h"
#include "rootfs.h"
#include "version.h"

static const char *const act_names[] = {
    [LB_ACT_KEEP] = "keep",           [LB_ACT_INSTALL] = "install",
    [LB_ACT_UPGRADE] = "upgrade",     [LB_ACT_DOWNGRADE] = "downgrade",
    [LB_ACT_REINSTALL] = "reinstall", [LB_ACT_CONFIGURE] = "configure",
    [LB_ACT_REMOVE] = "remove",
};

const char *lb_action_str(enum lb_action a)
{
	return act_names[a];
}

/* ---- pass 1: read a .deb into a new package record ---- */

struct collect {
	struct lb_dbpkg *p;
	size_t cap;
	bool allow_devices;
};

static int collect_entry(void *ctx, const struct lb_deb_entry *e, struct lb_deb_reader *r)
{
	struct collect *c = ctx;
	(void)r;
	const char *base = strrchr(e->path, '/');
	base = base ? base + 1 : e->path;
	size_t bl = strlen(base);
	if (bl > 7 && (!strcmp(base + bl - 7, ".lb-new") || !strcmp(base + bl - 7, ".lb-tmp")))
		return lb_errf(-LBE_UNSAFE, "%s: uses lifeboat's reserved suffix", e->path);
	if ((e->type == LB_FT_CHR || e->type == LB_FT_BLK) && !c->allow_devices)
		return lb_errf(-LBE_UNSAFE, "%s: device node (allow with --allow-devices)",
		               e->path);
	if (c->p->nfiles == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct lb_file *nf = realloc(c->p->files, cap * sizeof *nf);
		if (!nf)
			return -ENOMEM;
		c->p->files = nf;
		c->cap = cap;
	}
	struct lb_file *f = &c->p->files[c->p->nfiles];
	memset(f, 0, sizeof *f);
	f->path = strdup(e->path);
	if (!f->path)
		return -ENOMEM;
	c->p->nfiles++;
	f->type = (char)e->type;
	f->mode = e->mode;
	f->uid = e->uid;
	f->gid = e->gid;
	f->size = e->type == LB_FT_REG ? e->size : 0;
	if (e->type == LB_FT_SYMLINK || e->type == LB_FT_HARDLINK) {
		if (!(f->digest = strdup(e->link)))
			return -ENOMEM;
	} else if (e->type == LB_FT_CHR || e->type == LB_FT_BLK) {
		char dev[48];
		snprintf(dev, sizeof dev, "%u,%u", major(e->rdev), minor(e->rdev));
		if (!(f->digest = strdup(dev)))
			return -ENOMEM;
	}
	return 0;
}

/* Check the file list of one package: no path twice, hardlinks to its own files. */
static int check_files(struct lb_dbpkg *p)
{
	lb_dbpkg_sort_files(p);
	for (size_t i = 1; i < p->nfiles; i++)
		if (!strcmp(p->files[i - 1].path, p->files[i].path) &&
		    p->files[i].type != LB_FT_DIR)
			return lb_errf(-LBE_DEB, "%s: lists %s twice", p->info.name,
			               p->files[i].path);
	for (size_t i = 0; i < p->nfiles; i++) {
		if (p->files[i].type != LB_FT_HARDLINK)
			continue;
		const struct lb_file *t = lb_dbpkg_file(p, p->files[i].digest);
		if (!t || t->type != LB_FT_REG)
			return lb_errf(-LBE_UNSAFE, "%s: hardlink %s -> %s leaves the package",
			               p->info.name, p->files[i].path, p->files[i].digest);
		p->files[i].size = t->size;
	}
	/* a directory listed twice (dpkg-deb never does it) keeps its first entry */
	size_t w = 0;
	for (size_t i = 0; i < p->nfiles; i++) {
		if (w && !strcmp(p->files[w - 1].path, p->files[i].path)) {
			free(p->files[i].path);
			free(p->files[i].digest);
			continue;
		}
		p->files[w++] = p->files[i];
	}
	p->nfiles = w;
	return 0;
}

static int mark_conffiles(struct lb_item *it)
{
	if (!it->meta.conffiles)
		return 0;
	char *copy = strdup(it->meta.conffiles), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *path = strrchr(l, ' ');
		path = path ? path + 1 : l;
		if (strncmp(l, "remove-on-upgrade ", 18) == 0 || !*path)
			continue;
		while (*path == '/')
			path++;
		struct lb_file *f = (struct lb_file *)lb_dbpkg_file(&it->neu, path);
		if (!f || f->type != LB_FT_REG) {
			r = lb_errf(-LBE_DEB, "%s: conffile /%s is not a file of the package",
			            it->neu.info.name, path);
			break;
		}
		f->conffile = true;
	}
	free(copy);
	return r;
}

/* content: compute the content hash into it->content_sha256 too */
static int read_deb(struct lb_ctx *ctx, struct lb_item *it, const char *path, bool content)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lb_errf(-errno, "%s: %s", path, strerror(errno));
	struct collect c = {.p = &it->neu, .allow_devices = ctx->allow_devices};
	int r = lb_deb_read_content(fd, &it->meta, collect_entry, &c, it->deb_sha256, &it->deb_size,
	                            content ? it->content_sha256 : NULL);
	if (!r)
		r = lb_dbpkg_set_control(&it->neu, it->meta.control, it->meta.control_len);
	if (!r)
		r = check_files(&it->neu);
	if (!r)
		r = mark_conffiles(it);
	if (r) {
		close(fd);
		return lb_err_prefix(r, "%s", path);
	}
	it->debfd = fd;
	memcpy(it->neu.deb_sha256, it->deb_sha256, 65);
	it->id_size = it->deb_size;
	if (!(it->deb_path = strdup(path)))
		return -ENOMEM;
	return 0;
}

static void item_release(struct lb_item *it)
{
	if (it->debfd >= 0)
		close(it->debfd);
	it->debfd = -1;
	lb_deb_meta_free(&it->meta);
	lb_dbpkg_free(&it->neu);
	free(it->deb_path);
	it->deb_path = NULL;
}

/* Find and read the .deb of name/version in pool: name_VERSION_*.deb, where
 * VERSION has its epoch dropped (dpkg-deb --build) or its ':' as %3a (apt). */
static int find_deb(struct lb_ctx *ctx, const char *pool, const struct lb_desired_pkg *dp,
                    struct lb_item *it)
{
	char pfx[2][600];
	const char *colon = strchr(dp->version, ':');
	snprintf(pfx[0], sizeof pfx[0], "%s_%s_", dp->name, colon ? colon + 1 : dp->version);
	snprintf(pfx[1], sizeof pfx[1], "%s_%.*s%%3a%s_", dp->name,
	         colon ? (int)(colon - dp->version) : 0, dp->version, colon ? colon + 1 : "");
	DIR *d = opendir(pool);
	if (!d)
		return lb_errf(-errno, "pool %s: %s", pool, strerror(errno));
	struct dirent *de;
	int r = 1;
	while (r > 0 && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".deb"))
			continue;
		if (strncmp(de->d_name, pfx[0], strlen(pfx[0])) &&
		    strncmp(de->d_name, pfx[1], strlen(pfx[1])))
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", pool, de->d_name);
		r = read_deb(ctx, it, path, dp->content_sha256[0] != 0);
		if (r)
			break;
		if (strcmp(it->neu.info.name, dp->name) ||
		    strcmp(it->neu.info.version, dp->version)) {
			item_release(it);
			r = 1;
		}
	}
	closedir(d);
	if (r > 0)
		return lb_errf(-LBE_NOT_FOUND, "%s %s: no %s*.deb in pool %s", dp->name,
		               dp->version, pfx[0], pool);
	if (r)
		return r;
	if (!dp->sha256[0] || (!strcmp(dp->sha256, it->deb_sha256) && dp->size == it->deb_size)) {
		it->content_sha256[0] = 0;
		return 0;
	}
	/* a package rebuilt from a delta (debpatch.c): its content is what was signed */
	if (dp->content_sha256[0] && !strcmp(dp->content_sha256, it->content_sha256)) {
		memcpy(it->neu.deb_sha256, dp->sha256, 65);
		it->id_size = dp->size;
		return 0;
	}
	if (dp->content_sha256[0])
		return lb_errf(-LBE_HASH,
		               "%s: sha256 %s size %llu content %s, the desired state says %s "
		               "%llu content %s",
		               it->deb_path, it->deb_sha256, it->deb_size, it->content_sha256,
		               dp->sha256, dp->size, dp->content_sha256);
	return lb_errf(-LBE_HASH, "%s: sha256 %s size %llu, the desired state says %s %llu",
	               it->deb_path, it->deb_sha256, it->deb_size, dp->sha256, dp->size);
}

struct read_job {
	struct lb_ctx *ctx;
	const char *pool;
	const struct lb_desired *d;
	struct lb_plan *plan;
};

static int read_one(void *arg, size_t i)
{
	struct read_job *job = arg;
	struct lb_item *it = &job->plan->items[i];
	if (it->act == LB_ACT_KEEP || it->act == LB_ACT_CONFIGURE)
		return 0;
	return find_deb(job->ctx, job->pool, lb_desired_find(job->d, job->d->pkgs[i].name), it);
}

/* ---- ordering and dependency checks ---- */

static int order_items(struct lb_item *items, size_t n, bool strict, bool reverse)
{
	const struct lb_pkginfo **set = calloc(n + 1, sizeof *set);
	size_t *order = calloc(n + 1, sizeof *order);
	struct lb_item *copy = calloc(n + 1, sizeof *copy);
	int r = -ENOMEM;
	if (!set || !order || !copy)
		goto out;
	for (size_t i = 0; i < n; i++)
		set[i] = &lb_item_rec(&items[i])->info;
	r = strict ? lb_depcheck(set, n) : 0;
	if (!r)
		r = lb_deporder(set, n, strict, order);
	if (r)
		goto out;
	memcpy(copy, items, n * sizeof *copy);
	for (size_t i = 0; i < n; i++)
		items[i] = copy[order[reverse ? n - 1 - i : i]];
out:
	free(set);
	free(order);
	free(copy);
	return r;
}

/* ---- file ownership across the new set ---- */

struct fent {
	const char *path;
	size_t item;
	struct lb_file *f;
};

static int cmp_fent(const void *a, const void *b)
{
	const struct fent *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : (x->item > y->item) - (x->item < y->item);
}

static bool replaces(const struct lb_pkginfo *a, const struct lb_pkginfo *b)
{
	for (size_t i = 0; i < a->replaces.n; i++)
		for (size_t k = 0; k < a->replaces.deps[i].n; k++) {
			const struct lb_dep_alt *alt = &a->replaces.deps[i].alts[k];
			if (!strcmp(alt->name, b->name) &&
			    lb_version_satisfies(b->version, alt->rel, alt->version))
				return true;
		}
	return false;
}

static void drop_marked(struct lb_dbpkg *p)
{
	size_t w = 0;
	for (size_t i = 0; i < p->nfiles; i++) {
		if (p->files[i].type) {
			p->files[w++] = p->files[i];
			continue;
		}
		free(p->files[i].path);
		free(p->files[i].digest);
	}
	p->nfiles = w;
}

static int resolve_owners(struct lb_plan *plan, struct fent **out, size_t *nout)
{
	size_t total = 0;
	for (size_t i = 0; i < plan->n; i++)
		total += lb_item_rec(&plan->items[i])->nfiles;
	struct fent *fe = calloc(total + 1, sizeof *fe);
	if (!fe)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < plan->n; i++) {
		struct lb_dbpkg *p = (struct lb_dbpkg *)lb_item_rec(&plan->items[i]);
		for (size_t k = 0; k < p->nfiles; k++)
			fe[n++] = (struct fent){p->files[k].path, i, &p->files[k]};
	}
	qsort(fe, n, sizeof *fe, cmp_fent);
	int r = 0;
	for (size_t i = 0; i < n && !r;) {
		size_t j = i + 1;
		while (j < n && !strcmp(fe[j].path, fe[i].path))
			j++;
		size_t win = i;
		for (size_t k = i + 1; k < j && !r; k++) {
			struct fent *a = &fe[win], *b = &fe[k];
			bool adir = a->f->type == LB_FT_DIR, bdir = b->f->type == LB_FT_DIR;
			const struct lb_pkginfo *pa = &lb_item_rec(&plan->items[a->item])->info;
			const struct lb_pkginfo *pb = &lb_item_rec(&plan->items[b->item])->info;
			if (adir && bdir)
				continue;
			if (adir != bdir) {
				r = lb_errf(
				    -LBE_FILE_CONFLICT,
				    "/%s is a directory in %s %s and not in %s %s", a->path,
				    adir ? pa->name : pb->name, adir ? pa->version : pb->version,
				    adir ? pb->name : pa->name, adir ? pb->version : pa->version);
			} else if (replaces(pb, pa)) {
				a->f->type = 0;
				win = k;
			} else if (replaces(pa, pb)) {
				b->f->type = 0;
			} else {
				r = lb_errf(-LBE_FILE_CONFLICT,
				            "/%s is in both %s %s and %s %s (and neither Replaces "
				            "the other)",
				            a->path, pa->name, pa->version, pb->name, pb->version);
			}
		}
		i = j;
	}
	if (r) {
		free(fe);
		return r;
	}
	for (size_t i = 0; i < plan->n; i++)
		drop_marked((struct lb_dbpkg *)lb_item_rec(&plan->items[i]));
	/* rebuild without the dropped entries (their pointers moved) */
	n = 0;
	for (size_t i = 0; i < plan->n; i++) {
		struct lb_dbpkg *p = (struct lb_dbpkg *)lb_item_rec(&plan->items[i]);
		for (size_t k = 0; k < p->nfiles; k++)
			fe[n++] = (struct fent){p->files[k].path, i, &p->files[k]};
	}
	qsort(fe, n, sizeof *fe, cmp_fent);
	*out = fe;
	*nout = n;
	return 0;
}

static bool in_new_set(const struct fent *fe, size_t n, const char *path)
{
	struct fent key = {.path = path};
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(fe[mid].path, key.path);
		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int push(char ***arr, size_t *n, const char *s)
{
	char **na = realloc(*arr, (*n + 1) * sizeof *na);
	if (!na)
		return -ENOMEM;
	*arr = na;
	if (!(na[*n] = strdup(s)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static bool changing(const struct lb_item *it)
{
	return it->neu.info.name != NULL;
}

/* The on-disk content differs from what the old package installed. */
static bool locally_modified(struct lb_dircache *dc, const struct lb_file *old)
{
	char hex[65];
	int fd = lb_root_open_read(dc, old->path);
	if (fd < 0)
		return false;
	int r = lb_fd_sha256(fd, hex);
	close(fd);
	return !r && old->digest && strcmp(hex, old->digest);
}

static int plan_removals(struct lb_plan *plan, struct lb_dircache *dc, const struct fent *fe,
                         size_t nfe)
{
	int r = 0;
	for (size_t i = 0; i < plan->n + plan->nrm && !r; i++) {
		const struct lb_item *it = i < plan->n ? &plan->items[i] : &plan->rm[i - plan->n];
		if (!it->old || (i < plan->n && !changing(it)))
			continue;
		for (size_t k = 0; k < it->old->nfiles && !r; k++) {
			const struct lb_file *f = &it->old->files[k];
			if (in_new_set(fe, nfe, f->path))
				continue;
			if (f->conffile && locally_modified(dc, f))
				continue; /* a modified conffile stays, as dpkg leaves it */
			r = push(&plan->removes, &plan->nremoves, f->path);
		}
	}
	return r;
}

static int cmp_str_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_disk_entry(struct lb_dircache *dc, const struct lb_item *it,
                            const struct lb_file *f, char ***dirs, size_t *ndirs)
{
	struct stat st;
	int r = lb_root_lstat(dc, f->path, &st);
	if (r && r != -ENOENT && r != -ENOTDIR)
		return lb_errf(r, "/%s: %s", f->path, strerror(-r));
	if (f->type == LB_FT_DIR) {
		if (r)
			return push(dirs, ndirs, f->path);
		if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode))
			return 0; /* a symlink to a directory stays, as dpkg keeps it */
		return lb_errf(-LBE_FILE_CONFLICT, "/%s: a directory in %s but not on disk",
		               f->path, it->neu.info.name);
	}
	if (!r && S_ISDIR(st.st_mode))
		return lb_errf(-LBE_FILE_CONFLICT, "/%s: a directory on disk but not in %s",
		               f->path, it->neu.info.name);
	return 0;
}

/* Every parent directory of path must exist or be created. Files come sorted, so
 * the parents checked for the previous file (last) need no second look. */
static int check_parents(struct lb_dircache *dc, const struct lb_item *it, char *path, char *last,
                         size_t lastsize, char ***dirs, size_t *ndirs)
{
	char *end = strrchr(path, '/');
	if (!end)
		return 0;
	*end = 0;
	int r = 0;
	if (strcmp(path, last)) {
		for (char *s = path;; s++) {
			char *slash = strchr(s, '/');
			if (slash)
				*slash = 0;
			size_t len = strlen(path);
			bool seen = !strncmp(last, path, len) && (last[len] == '/' || !last[len]);
			struct stat st;
			int e = seen ? 0 : lb_root_lstat(dc, path, &st);
			if (e == -ENOENT)
				r = push(dirs, ndirs, path);
			else if (!seen && !e && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
				r = lb_errf(-LBE_FILE_CONFLICT,
				            "/%s: a file on disk, a directory in %s", path,
				            it->neu.info.name);
			if (slash)
				*slash = '/';
			if (!slash || r || !(s = slash))
				break;
		}
		if (!r)
			snprintf(last, lastsize, "%s", path);
	}
	*end = '/';
	return r;
}

/* A path of the new set must not lie beneath a symlink of the new set: the link
 * would only appear at the commit, after its "directory" had been created. */
static int check_under_links(const struct lb_plan *plan)
{
	char **links = NULL;
	size_t nlinks = 0;
	int r = 0;
	for (size_t i = 0; i < plan->n && !r; i++) {
		const struct lb_dbpkg *p = lb_item_rec(&plan->items[i]);
		for (size_t k = 0; k < p->nfiles && !r; k++)
			if (p->files[k].type == LB_FT_SYMLINK)
				r = push(&links, &nlinks, p->files[k].path);
	}
	if (nlinks > 1)
		qsort(links, nlinks, sizeof *links, cmp_str);
	for (size_t i = 0; i < plan->n && !r && nlinks; i++) {
		const struct lb_item *it = &plan->items[i];
		if (!changing(it))
			continue;
		for (size_t k = 0; k < it->neu.nfiles && !r; k++) {
			char *path = it->neu.files[k].path;
			for (char *s = path; !r && (s = strchr(s, '/')); s++) {
				*s = 0;
				char *key = path;
				if (bsearch(&key, links, nlinks, sizeof *links, cmp_str))
					r = lb_errf(-LBE_UNSAFE,
					            "%s: /%s/%s lies beneath the symlink /%s",
					            it->neu.info.name, path, s + 1, path);
				*s = '/';
			}
		}
	}
	for (size_t i = 0; i < nlinks; i++)
		free(links[i]);
	free(links);
	return r;
}

static int plan_disk(struct lb_ctx *ctx, struct lb_plan *plan, struct lb_dircache *dc)
{
	char **dirs = NULL, last[4096] = "";
	size_t ndirs = 0;
	int r = check_under_links(plan);
	if (r)
		return r;
	for (size_t i = 0; i < plan->n && !r; i++) {
		struct lb_item *it = &plan->items[i];
		if (!changing(it))
			continue;
		for (size_t k = 0; k < it->neu.nfiles && !r; k++) {
			struct lb_file *f = &it->neu.files[k];
			r = check_disk_entry(dc, it, f, &dirs, &ndirs);
			/* parents that no package lists must exist or be created too */
			if (!r)
				r = check_parents(dc, it, f->path, last, sizeof last, &dirs,
				                  &ndirs);
			if (f->type == LB_FT_REG || f->type == LB_FT_HARDLINK) {
				plan->bytes += f->size;
				const struct lb_file *of =
				    it->old ? lb_dbpkg_file(it->old, f->path) : NULL;
				if (f->conffile && of && of->conffile && locally_modified(dc, of))
					r = r ? r : push(&plan->dist, &plan->ndist, f->path);
			}
			plan->files++;
		}
	}
	if (!r && ndirs) {
		qsort(dirs, ndirs, sizeof *dirs, cmp_str);
		size_t w = 0;
		for (size_t i = 0; i < ndirs; i++) {
			if (w && !strcmp(dirs[w - 1], dirs[i])) {
				free(dirs[i]);
				continue;
			}
			dirs[w++] = dirs[i];
		}
		ndirs = w;
	}
	plan->mkdirs = dirs;
	plan->nmkdirs = ndirs;
	if (!r && plan->ndist > 1)
		qsort(plan->dist, plan->ndist, sizeof *plan->dist, cmp_str);
	struct statvfs vfs;
	if (!r && fstatvfs(ctx->rootfd, &vfs) == 0) {
		unsigned long long need = plan->bytes + 4096ULL * (plan->files + ndirs);
		unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
		if (need > avail)
			r = lb_errf(-LBE_NOSPACE,
			            "%s: the transaction needs %llu KiB, %llu KiB free", ctx->root,
			            need >> 10, avail >> 10);
	}
	return r;
}

/* ---- the plan ---- */

int lb_plan_build(struct lb_ctx *ctx, const struct lb_desired *d, const char *pool,
                  struct lb_plan *plan)
{
	memset(plan, 0, sizeof *plan);
	plan->serial = d->serial;
	int r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &plan->db);
	if (r)
		return r;
	plan->items = calloc(d->n + 1, sizeof *plan->items);
	plan->rm = calloc(plan->db.n + 1, sizeof *plan->rm);
	if (!plan->items || !plan->rm)
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		const struct lb_desired_pkg *dp = &d->pkgs[i];
		struct lb_item *it = &plan->items[plan->n++];
		it->debfd = -1;
		it->old = lb_db_find(&plan->db, dp->name);
		bool same = it->old && !strcmp(it->old->info.version, dp->version) &&
		            (!dp->sha256[0] || !strcmp(dp->sha256, it->old->deb_sha256));
		if (same) {
			it->act =
			    it->old->state == LB_ST_INSTALLED ? LB_ACT_KEEP : LB_ACT_CONFIGURE;
			if (it->old->state >= LB_ST_UNPACKED)
				continue;
		}
		if (!it->old)
			it->act = LB_ACT_INSTALL;
		else {
			int c = lb_vercmp(dp->version, it->old->info.version);
			it->act = c > 0   ? LB_ACT_UPGRADE
			          : c < 0 ? LB_ACT_DOWNGRADE
			                  : LB_ACT_REINSTALL;
		}
	}
	/* read every package that changes, several at a time */
	struct read_job job = {ctx, pool, d, plan};
	r = lb_parallel(plan->n, read_one, &job);
	if (r)
		return r;
	for (size_t i = 0; i < plan->db.n; i++)
		if (!lb_desired_find(d, plan->db.pkgs[i].info.name)) {
			struct lb_item *it = &plan->rm[plan->nrm++];
			it->act = LB_ACT_REMOVE;
			it->old = &plan->db.pkgs[i];
			it->debfd = -1;
		}
	r = order_items(plan->items, plan->n, true, false);
	if (!r)
		r = order_items(plan->rm, plan->nrm, false, true);
	if (r)
		return lb_err_prefix(r, "desired state %llu", d->serial);
	struct fent *fe = NULL;
	size_t nfe = 0;
	r = resolve_owners(plan, &fe, &nfe);
	if (r)
		return r;
	struct lb_dircache dc;
	lb_dircache_init(&dc, ctx->rootfd);
	r = plan_removals(plan, &dc, fe, nfe);
	free(fe);
	if (!r)
		r = plan_disk(ctx, plan, &dc);
	lb_dircache_close(&dc);
	if (!r && plan->nremoves > 1)
		qsort(plan->removes, plan->nremoves, sizeof *plan->removes, cmp_str_desc);
	return r;
}

bool lb_plan_empty(const struct lb_plan *plan)
{
	if (plan->nrm)
		return false;
	for (size_t i = 0; i < plan->n; i++)
		if (plan->items[i].act != LB_ACT_KEEP)
			return false;
	return true;
}

static void print_item(struct lb_ctx *ctx, const struct lb_item *it, FILE *out)
{
	const struct lb_dbpkg *rec = lb_item_rec(it);
	const char *oldv = it->old ? it->old->info.version : "";
	if (ctx->json) {
		fprintf(out, "{\"action\":\"%s\",\"package\":\"%s\",\"version\":\"%s\"",
		        lb_action_str(it->act), rec->info.name, rec->info.version);
		if (it->old)
			fprintf(out, ",\"from\":\"%s\"", oldv);
		if (it->deb_size)
			fprintf(out, ",\"bytes\":%llu", it->deb_size);
		fputs("}\n", out);
		return;
	}
	switch (it->act) {
	case LB_ACT_UPGRADE:
	case LB_ACT_DOWNGRADE:
		fprintf(out, "%-9s %s %s -> %s\n", lb_action_str(it->act), rec->info.name, oldv,
		        rec->info.version);
		break;
	default:
		fprintf(out, "%-9s %s %s\n", lb_action_str(it->act), rec->info.name,
		        rec->info.version);
	}
}

void lb_plan_print(struct lb_ctx *ctx, const struct lb_plan *plan, FILE *out)
{
	for (size_t i = 0; i < plan->nrm; i++)
		print_item(ctx, &plan->rm[i], out);
	for (size_t i = 0; i < plan->n; i++)
		if (plan->items[i].act != LB_ACT_KEEP)
			print_item(ctx, &plan->items[i], out);
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void lb_plan_free_paths(struct lb_plan *plan)
{
	free_strv(plan->mkdirs, plan->nmkdirs);
	free_strv(plan->removes, plan->nremoves);
	free_strv(plan->dist, plan->ndist);
	plan->mkdirs = plan->removes = plan->dist = NULL;
	plan->nmkdirs = plan->nremoves = plan->ndist = 0;
}

void lb_plan_free(struct lb_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		item_release(&plan->items[i]);
	free(plan->items);
	free(plan->rm);
	lb_plan_free_paths(plan);
	lb_db_free(&plan->db);
	memset(plan, 0, sizeof *plan);
}
