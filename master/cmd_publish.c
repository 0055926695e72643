/* SPDX-License-Identifier: MIT */
/* lifeboat-master publish --pool DIR --desired CONF --key KEYFILE --out TREE
 *                         [--expires DAYS] [--arch ARCH]
 *                         [--image FILE --image-version VERSION]
 * Everything that can fail on bad input (key, CONF, resolution, reading the OS
 * images) is done before the tree is touched; then pool files, Packages, images,
 * group states, device pointers, and last the removal of what CONF no longer
 * names. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "desired.h"
#include "master.h"

#define DAY 86400LL

struct opts {
	const char *pool, *conf, *key, *out, *arch;
	const char *image, *image_version; /* of groups without their own Image */
	unsigned chunk_avg;                /* --chunk-size */
	int level;                         /* --image-level */
	unsigned bases;                    /* --image-deltas */
	unsigned pkg_bases;                /* --package-deltas */
	const char *delta_from;            /* --delta-from */
	unsigned expires;
};

struct result {
	size_t *sel;
	size_t n;
	struct mimage *image; /* the group's OS image, or NULL */
	struct mpdelta *pd;   /* its package deltas */
	size_t npd;
	bool written; /* the state was rewritten by this publish */
};

/* The OS images of all groups, each file and version read once. */
struct images {
	struct mimage *v;
	size_t n;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const char *const names[] = {"--pool",        "--desired",       "--key",
	                                    "--out",         "--expires",       "--arch",
	                                    "--image",       "--image-version", "--chunk-size",
	                                    "--image-level", "--image-deltas",  "--package-deltas",
	                                    "--delta-from"};
	const char *expires = "30", *chunk = "65536", *level = "19", *bases = "2", *pbases = "2";
	const char **dest[] = {&o->pool, &o->conf,  &o->key,           &o->out, &expires,
	                       &o->arch, &o->image, &o->image_version, &chunk,  &level,
	                       &bases,   &pbases,   &o->delta_from};
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		int r = mx_option("publish", argc, argv, &i, names, dest,
		                  sizeof names / sizeof names[0]);
		if (r < 0)
			return r;
		if (!r)
			return lb_errf(-LBE_USAGE, "publish: unexpected argument '%s'", argv[i]);
	}
	if (!o->pool || !o->conf || !o->key || !o->out)
		return lb_errf(-LBE_USAGE, "usage: lifeboat-master publish --pool DIR --desired "
		                           "CONF --key KEYFILE --out TREE [--expires DAYS] "
		                           "[--image FILE --image-version VERSION] "
		                           "[--chunk-size BYTES] [--image-level N] "
		                           "[--image-deltas N] [--package-deltas N] "
		                           "[--delta-from DIR]");
	if (!o->image != !o->image_version)
		return lb_errf(-LBE_USAGE, "publish: --image and --image-version go together");
	if (o->image_version && !lb_image_version_valid(o->image_version))
		return lb_errf(
		    -LBE_USAGE,
		    "publish: --image-version '%.64s' is not 1 to 128 of [A-Za-z0-9.+~:_-]",
		    o->image_version);
	char *end;
	errno = 0;
	unsigned long d = strtoul(expires, &end, 10);
	if (errno || end == expires || *end || expires[0] == '-' || d < 1 || d > 3650)
		return lb_errf(-LBE_USAGE, "publish: --expires %s: not 1 to 3650 days", expires);
	o->expires = (unsigned)d;
	errno = 0;
	d = strtoul(chunk, &end, 10);
	/* min = avg / 4: devices refuse an index whose min is below LB_CHUNK_MIN_SIZE */
	if (errno || end == chunk || *end || d < 4096 || d > (1u << 20) || (d & (d - 1)))
		return lb_errf(-LBE_USAGE,
		               "publish: --chunk-size %s: not a power of two from 4096 to 1048576",
		               chunk);
	o->chunk_avg = (unsigned)d;
	errno = 0;
	d = strtoul(level, &end, 10);
	if (errno || end == level || *end || d < 1 || d > 22)
		return lb_errf(-LBE_USAGE, "publish: --image-level %s: not 1 to 22", level);
	o->level = (int)d;
	errno = 0;
	d = strtoul(bases, &end, 10);
	if (errno || end == bases || *end || d > MIMAGE_BASES)
		return lb_errf(-LBE_USAGE, "publish: --image-deltas %s: not 0 to %d", bases,
		               MIMAGE_BASES);
	o->bases = (unsigned)d;
	errno = 0;
	d = strtoul(pbases, &end, 10);
	if (errno || end == pbases || *end || d > LB_DESIRED_MAX_PKG_DELTAS)
		return lb_errf(-LBE_USAGE, "publish: --package-deltas %s: not 0 to %d", pbases,
		               LB_DESIRED_MAX_PKG_DELTAS);
	o->pkg_bases = (unsigned)d;
	return 0;
}

/* The device architecture: --arch, else the one architecture other than "all" that
 * the pool's packages have. */
static int pick_arch(const struct mpool *pool, const char **arch)
{
	if (*arch)
		return 0;
	for (size_t i = 0; i < pool->n; i++) {
		const char *a = pool->pkgs[i].info.arch;
		if (!strcmp(a, "all") || (*arch && !strcmp(a, *arch)))
			continue;
		if (*arch)
			return lb_errf(-LBE_USAGE,
			               "pool %s has packages for %s and %s: choose one with --arch",
			               pool->dir, *arch, a);
		*arch = a;
	}
	if (!*arch)
		*arch = "amd64"; /* only "all" packages: any architecture will do */
	return 0;
}

static long long period_of(const struct mgroup *g, const struct opts *o)
{
	return (long long)(g->expires_days ? g->expires_days : o->expires) * DAY;
}

static int publish_group(struct mtree *t, const struct mgroup *g, const struct mpool *pool,
                         struct result *res, const struct opts *o)
{
	char dir[160];
	snprintf(dir, sizeof dir, "groups/%s", g->name);
	long long period = period_of(g, o);
	struct mbuf b = {0};
	state_text(&b, g, pool, res->sel, res->n, res->pd, res->npd, res->image, t->serial,
	           t->now + (time_t)period);
	int r = b.err ? b.err : tree_mkdir(t, dir);
	if (!r && signed_keep(t, dir, "state", b.s, period))
		t->kept += 2;
	else if (!r && !(r = signed_write(t, dir, "state", b.s, b.len)))
		res->written = true;
	mbuf_free(&b);
	return r;
}

static int publish_device(struct mtree *t, const struct mdevice *d, const struct mconf *conf,
                          const struct result *res, const struct opts *o)
{
	const struct mgroup *g = conf_group(conf, d->group);
	long long period = period_of(g, o);
	struct mbuf b = {0};
	pointer_text(&b, d, t->serial, t->now + (time_t)period);
	int r = b.err;
	/* a pointer is rewritten with its group's state, so that its serial is never
	 * lower than that of the state it names */
	if (!r && !res[g - conf->groups].written && signed_keep(t, "devices", d->id, b.s, period))
		t->kept += 2;
	else if (!r)
		r = signed_write(t, "devices", d->id, b.s, b.len);
	mbuf_free(&b);
	return r;
}

static int write_tree(struct mtree *t, const struct mconf *conf, const struct mpool *pool,
                      const struct mpool *from, struct result *res, struct images *im,
                      const struct opts *o)
{
	int r = index_publish(t, pool);
	for (size_t i = 0; !r && i < im->n; i++)
		r = image_publish(t, &im->v[i]);
	for (size_t i = 0; !r && i < im->n; i++)
		r = image_deltas(t, &im->v[i]);
	/* deltas from the versions the current states name, before they are replaced */
	for (size_t i = 0; !r && i < conf->ngroups; i++)
		r = pkgdeltas_publish(t, &conf->groups[i], pool, res[i].sel, res[i].n, o->pkg_bases,
		                      from, &res[i].pd, &res[i].npd);
	for (size_t i = 0; !r && i < conf->ngroups; i++)
		r = publish_group(t, &conf->groups[i], pool, &res[i], o);
	for (size_t i = 0; !r && i < conf->ndevices; i++)
		r = publish_device(t, &conf->devices[i], conf, res, o);
	return r ? r : tree_prune(t, conf);
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Resolve every group (all of them, so that every problem is reported at once). */
static int resolve_all(const struct mconf *conf, const struct mpool *pool, const char *arch,
                       struct result *res)
{
	struct msolver *s = NULL;
	int r = resolve_init(pool, arch, &s), failed = 0;
	for (size_t i = 0; !r && i < conf->ngroups; i++) {
		int e = resolve_group(s, &conf->groups[i], &res[i].sel, &res[i].n);
		if (e == -ENOMEM)
			r = e;
		else if (e < 0) {
			fprintf(stderr, "lifeboat-master: %s\n", lb_err_msg());
			failed++;
		}
	}
	resolve_free(s);
	if (!r && failed)
		r = lb_errf(-LBE_DEPENDS, "%d of %zu groups cannot be resolved; nothing published",
		            failed, conf->ngroups);
	return r;
}

/* Read the image of every group that has one (its own, else --image). */
static int load_images(const struct mconf *conf, const struct opts *o, struct result *res,
                       struct images *im)
{
	if (!(im->v = calloc(conf->ngroups, sizeof *im->v)))
		return -ENOMEM;
	for (size_t i = 0; i < conf->ngroups; i++) {
		const struct mgroup *g = &conf->groups[i];
		const char *file = g->image ? g->image : o->image;
		const char *ver = g->image ? g->image_version : o->image_version;
		if (!file)
			continue;
		for (size_t k = 0; k < im->n && !res[i].image; k++)
			if (!strcmp(im->v[k].file, file) && !strcmp(im->v[k].version, ver))
				res[i].image = &im->v[k];
		if (res[i].image)
			continue;
		int r = image_load(file, ver, &im->v[im->n]);
		if (r)
			return lb_err_prefix(r, "group %s", g->name);
		im->v[im->n].chunk_avg = o->chunk_avg;
		im->v[im->n].level = o->level;
		im->v[im->n].max_bases = o->bases;
		res[i].image = &im->v[im->n++];
	}
	return 0;
}

static int run(const struct opts *o, const struct lb_mkey *key, struct mconf *conf,
               struct mpool *pool, struct timespec *t0)
{
	int r = conf_load(o->conf, conf);
	if (r < 0)
		return mx_fail(r, MX_STATE);
	if ((r = mpool_load(o->pool, pool)) < 0)
		return mx_fail(r, MX_IO);
	const char *arch = o->arch;
	if ((r = pick_arch(pool, &arch)) < 0)
		return mx_fail(r, MX_USAGE);
	struct result *res = calloc(conf->ngroups, sizeof *res);
	if (!res)
		return mx_fail(-ENOMEM, MX_IO);
	struct mpool from = {.dirfd = -1};
	if (o->delta_from && (r = mpool_load(o->delta_from, &from)) < 0) {
		mpool_free(&from);
		free(res);
		return mx_fail(r, MX_IO);
	}
	struct mtree t = {.fd = -1, .poolfd = -1};
	struct images im = {0};
	int status = MX_OK;
	if ((r = resolve_all(conf, pool, arch, res)) < 0)
		status = mx_fail(r, MX_STATE);
	else if ((r = load_images(conf, o, res, &im)) < 0)
		status = mx_fail(r, MX_STATE);
	else if ((r = tree_open(o->out, &t)) < 0)
		status = mx_fail(r, MX_IO);
	else if ((r = tree_max_serial(&t, &t.serial)) < 0)
		status = mx_fail(r, MX_IO);
	if (!r) {
		unsigned long long ms = now_ms();
		t.serial = t.serial + 1 > ms ? t.serial + 1 : ms;
		t.now = time(NULL);
		t.key = key;
		if ((r = write_tree(&t, conf, pool, &from, res, &im, o)) < 0)
			status = mx_fail(r, MX_IO);
		fprintf(stderr,
		        "lifeboat-master: publish: %zu packages read (%u skipped), %zu groups "
		        "resolved, %u files written, %u unchanged, %u removed, serial %llu, "
		        "%.2f s\n",
		        pool->n, pool->skipped, conf->ngroups, t.written, t.kept, t.removed,
		        t.serial, elapsed(t0));
	}
	tree_close(&t);
	for (size_t i = 0; i < conf->ngroups; i++) {
		free(res[i].sel);
		free(res[i].pd);
	}
	free(res);
	mpool_free(&from);
	for (size_t i = 0; i < im.n; i++)
		image_free(&im.v[i]);
	free(im.v);
	return status;
}

int cmd_publish(int argc, char **argv)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct opts o;
	int r = parse_opts(argc, argv, &o);
	if (r < 0)
		return mx_fail(r, MX_USAGE);
	struct lb_mkey key;
	memset(&key, 0, sizeof key);
	if ((r = lb_minisign_load_seckey(AT_FDCWD, o.key, &key)) < 0)
		return mx_fail(lb_err_prefix(r, "key"), MX_KEY);
	struct mconf conf;
	struct mpool pool;
	memset(&conf, 0, sizeof conf);
	memset(&pool, 0, sizeof pool);
	pool.dirfd = -1;
	int status = run(&o, &key, &conf, &pool, &t0);
	lb_minisign_wipe(&key);
	conf_free(&conf);
	mpool_free(&pool);
	return status;
}
