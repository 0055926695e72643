/* SPDX-License-Identifier: MIT */
/* Carrying out a plan as one transaction, and recovering an interrupted one.
 *
 *  1. journal prepared (every path the transaction will touch), synced
 *  2. directories created, files written beside their targets as NAME.lb-new,
 *     the new database written as db.new; one syncfs
 *  3. prerm/preinst scripts
 *  4. commit record, synced                       <- the point of no return
 *  5. renames, removals, db.new -> db; one syncfs
 *  6. postrm of replaced/removed packages, postinst configure in order
 *  7. final database, journal removed
 * A crash before 4 rolls back (the .lb-new files go); after 4 rolls forward. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "depcheck.h"
#include "engine.h"
#include "fsop.h"
#include "journal.h"
#include "parallel.h"
#include "rootfs.h"
#include "scripts.h"

#define TMP_SUFFIX  ".lb-new"
#define DIST_SUFFIX ".lb-dist"

static int tmp_name(const char *base, const char *suffix, char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s%s", base, suffix) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- staging ---- */

struct stage {
	struct lb_ctx *ctx;
	struct lb_item *it;
	struct lb_dircache dc, dc2;
	unsigned char buf[64 * 1024];
};

static int stage_reg(struct stage *s, int dfd, const char *tmp, struct lb_file *f,
                     const struct lb_deb_entry *e, struct lb_deb_reader *r)
{
	int fd = lb_create_unsafe(dfd, tmp, 0600, 1);
	if (fd < 0)
		return fd;
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	int ret = 0;
	unsigned long long total = 0;
	for (;;) {
		ssize_t n = lb_deb_data_read(r, s->buf, sizeof s->buf);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		if (n == 0)
			break;
		crypto_hash_sha256_update(&h, s->buf, (size_t)n);
		total += (unsigned long long)n;
		if ((ret = lb_write_all(fd, s->buf, (size_t)n)))
			break;
	}
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && total != e->size)
		ret = lb_errf(-LBE_DEB, "%s: %llu bytes, the archive said %llu", e->path, total,
		              e->size);
	if (ret)
		return ret;
	unsigned char d[32];
	char hex[65];
	crypto_hash_sha256_final(&h, d);
	sodium_bin2hex(hex, sizeof hex, d, sizeof d);
	free(f->digest);
	if (!(f->digest = strdup(hex)))
		return -ENOMEM;
	f->size = total;
	return lb_set_meta(dfd, tmp, 0, e->uid, e->gid, e->mode, e->mtime);
}

static int stage_entry(void *arg, const struct lb_deb_entry *e, struct lb_deb_reader *r)
{
	struct stage *s = arg;
	struct lb_file *f = (struct lb_file *)lb_dbpkg_file(&s->it->neu, e->path);
	if (!f || f->type == LB_FT_DIR)
		return 0; /* directories exist already; dropped paths belong to another package */
	int dfd;
	const char *base;
	char tmp[512];
	int ret = lb_root_parent(&s->dc, e->path, &dfd, &base);
	if (!ret)
		ret = tmp_name(base, TMP_SUFFIX, tmp, sizeof tmp);
	if (ret)
		return lb_errf(ret, "/%s: %s", e->path, strerror(-ret));
	switch (e->type) {
	case LB_FT_REG: ret = stage_reg(s, dfd, tmp, f, e, r); break;
	case LB_FT_SYMLINK:
		ret = lb_unlink(dfd, tmp);
		if (!ret)
			ret = lb_symlink(e->link, dfd, tmp);
		if (!ret)
			ret = lb_set_meta(dfd, tmp, 1, e->uid, e->gid, e->mode, e->mtime);
		break;
	case LB_FT_HARDLINK: {
		const struct lb_file *t = lb_dbpkg_file(&s->it->neu, e->link);
		int tfd;
		const char *tbase;
		char ttmp[512];
		if (!t || !t->digest)
			return lb_errf(-LBE_UNSAFE, "/%s: hardlink to /%s, not a file of %s",
			               e->path, e->link, s->it->neu.info.name);
		ret = lb_root_parent(&s->dc2, e->link, &tfd, &tbase);
		if (!ret)
			ret = tmp_name(tbase, TMP_SUFFIX, ttmp, sizeof ttmp);
		if (!ret)
			ret = lb_unlink(dfd, tmp);
		if (!ret)
			ret = lb_link(tfd, ttmp, dfd, tmp);
		f->type = LB_FT_REG;
		f->size = t->size;
		free(f->digest);
		f->digest = strdup(t->digest);
		break;
	}
	default: {
		mode_t type = e->type == LB_FT_CHR   ? S_IFCHR
		              : e->type == LB_FT_BLK ? S_IFBLK
		                                     : S_IFIFO;
		ret = lb_unlink(dfd, tmp);
		if (!ret)
			ret = lb_mknod(dfd, tmp, type | (e->mode & 07777), e->rdev);
		if (!ret)
			ret = lb_set_meta(dfd, tmp, 0, e->uid, e->gid, e->mode, e->mtime);
	}
	}
	if (ret && !lb_err_msg()[0])
		return lb_errf(ret, "/%s: %s", e->path, strerror(-ret));
	return ret;
}

static int stage_item(struct lb_ctx *ctx, struct lb_item *it)
{
	struct stage *s = malloc(sizeof *s);
	if (!s)
		return -ENOMEM;
	s->ctx = ctx;
	s->it = it;
	lb_dircache_init(&s->dc, ctx->rootfd);
	lb_dircache_init(&s->dc2, ctx->rootfd);
	struct stat before, after;
	lb_err_clear();
	int r = fstat(it->debfd, &before) < 0 ? -errno : 0;
	if (!r)
		r = lb_deb_read(it->debfd, NULL, stage_entry, s, NULL, NULL);
	lb_dircache_close(&s->dc);
	lb_dircache_close(&s->dc2);
	free(s);
	/* read twice through the same open file: what was verified is what was
	 * written, unless someone rewrote it in place meanwhile */
	if (!r &&
	    (fstat(it->debfd, &after) < 0 || (unsigned long long)after.st_size != it->deb_size ||
	     after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
	     after.st_mtim.tv_nsec != before.st_mtim.tv_nsec))
		r = lb_errf(-LBE_HASH, "changed while it was being installed");
	return r ? lb_err_prefix(r, "%s", it->deb_path) : 0;
}

struct stage_job {
	struct lb_ctx *ctx;
	struct lb_plan *plan;
};

static int stage_one(void *arg, size_t i)
{
	struct stage_job *job = arg;
	struct lb_item *it = &job->plan->items[i];
	return it->neu.info.name ? stage_item(job->ctx, it) : 0;
}

static const struct lb_file *listed_dir(const struct lb_plan *plan, const char *path)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct lb_file *f =
		    plan->items[i].neu.info.name ? lb_dbpkg_file(&plan->items[i].neu, path) : NULL;
		if (f && f->type == LB_FT_DIR)
			return f;
	}
	return NULL;
}

static int make_dirs(struct lb_ctx *ctx, const struct lb_plan *plan)
{
	struct lb_dircache dc;
	lb_dircache_init(&dc, ctx->rootfd);
	int r = 0;
	for (size_t i = 0; i < plan->nmkdirs && !r; i++) {
		int dfd;
		const char *base;
		const struct lb_file *f = listed_dir(plan, plan->mkdirs[i]);
		r = lb_root_parent(&dc, plan->mkdirs[i], &dfd, &base);
		if (!r)
			r = lb_mkdir(dfd, base, 0755);
		if (r == -EEXIST) /* left by an earlier, rolled-back run */
			r = 0;
		if (!r && f)
			r = lb_set_meta(dfd, base, 0, f->uid, f->gid, f->mode, -1);
		if (r)
			r = lb_errf(r, "mkdir /%s: %s", plan->mkdirs[i], strerror(-r));
	}
	lb_dircache_close(&dc);
	return r;
}

/* ---- the journal's roll-back and roll-forward ---- */

static int for_each_rec(struct lb_ctx *ctx, const struct lb_journal *j, const char *kinds,
                        bool reverse, int (*fn)(int dfd, const char *base, char kind))
{
	struct lb_dircache dc;
	lb_dircache_init(&dc, ctx->rootfd);
	int r = 0;
	for (size_t k = 0; k < j->n && !r; k++) {
		const struct lb_jrec *rec = &j->recs[reverse ? j->n - 1 - k : k];
		if (!strchr(kinds, rec->kind))
			continue;
		int dfd;
		const char *base;
		r = lb_root_parent(&dc, rec->arg[0], &dfd, &base);
		if (r == -ENOENT || r == -ENOTDIR) {
			r = 0; /* its directory is gone or never came: nothing to do */
			continue;
		}
		if (!r)
			r = fn(dfd, base, rec->kind);
		if (r)
			r = lb_errf(r, "/%s: %s", rec->arg[0], strerror(-r));
	}
	lb_dircache_close(&dc);
	return r;
}

static int undo_one(int dfd, const char *base, char kind)
{
	char tmp[512];
	if (kind == 'D') { /* a directory someone else filled since stays */
		int r = lb_rmdir(dfd, base);
		return r == -ENOTEMPTY || r == -EEXIST ? 0 : r;
	}
	int r = tmp_name(base, TMP_SUFFIX, tmp, sizeof tmp);
	return r ? r : lb_unlink(dfd, tmp);
}

static int redo_one(int dfd, const char *base, char kind)
{
	char tmp[512], dst[512];
	int r = tmp_name(base, TMP_SUFFIX, tmp, sizeof tmp);
	if (r)
		return r;
	if (kind == 'X') {
		struct stat st;
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 0 : -errno;
		if (!S_ISDIR(st.st_mode))
			return lb_unlink(dfd, base);
		r = lb_rmdir(dfd, base);
		return r == -ENOTEMPTY || r == -EEXIST ? 0 : r;
	}
	if (kind == 'V' && (r = tmp_name(base, DIST_SUFFIX, dst, sizeof dst)))
		return r;
	r = lb_rename(dfd, tmp, dfd, kind == 'V' ? dst : base);
	return r == -ENOENT ? 0 : r; /* renamed before the crash */
}

static int sync_all(struct lb_ctx *ctx)
{
	int r = lb_syncfs(ctx->rootfd);
	struct stat a, b;
	if (!r && fstat(ctx->rootfd, &a) == 0 && fstat(ctx->pkgfd, &b) == 0 && a.st_dev != b.st_dev)
		r = lb_syncfs(ctx->pkgfd);
	return r ? lb_errf(r, "sync %s: %s", ctx->root, strerror(-r)) : 0;
}

static int rollback(struct lb_ctx *ctx, struct lb_journal *j)
{
	int r = for_each_rec(ctx, j, "RV", false, undo_one);
	if (!r)
		r = for_each_rec(ctx, j, "D", true, undo_one);
	if (!r)
		r = lb_unlink(ctx->pkgfd, LB_DB_NEW);
	if (!r)
		r = sync_all(ctx);
	if (!r) {
		struct lb_db db;
		if (lb_db_load(ctx->pkgfd, LB_DB_FILE, &db) == 0) {
			lb_script_gc(ctx, &db, NULL);
			lb_db_free(&db);
		}
		r = lb_journal_remove(j, ctx->pkgfd);
	}
	return r ? lb_err_prefix(r, "roll back transaction %llu", j->txn) : 0;
}

static int run_post_actions(struct lb_ctx *ctx, struct lb_journal *j)
{
	for (size_t i = 0, a = 0; i < j->n; i++) {
		struct lb_jrec *rec = &j->recs[i];
		if (rec->kind != 'A')
			continue;
		size_t idx = a++;
		if (rec->done || ctx->no_scripts)
			continue;
		const char *args[4] = {rec->arg[2], rec->arg[3], rec->arg[4], NULL};
		int r = lb_script_run(ctx, rec->arg[0], LB_POSTRM, rec->arg[1], args);
		if (r) /* the files are gone already; dpkg too goes on */
			fprintf(stderr, "lifeboat: warning: %s\n", lb_err_msg());
		lb_err_clear();
		if ((r = lb_journal_mark_done(j, idx)))
			return r;
	}
	return 0;
}

static int configure(struct lb_ctx *ctx, struct lb_journal *j, struct lb_db *db)
{
	size_t n = 0, *order = calloc(db->n + 1, sizeof *order);
	const struct lb_pkginfo **set = calloc(db->n + 1, sizeof *set);
	struct lb_dbpkg **pk = calloc(db->n + 1, sizeof *pk);
	int r = -ENOMEM;
	if (!order || !set || !pk)
		goto out;
	for (size_t i = 0; i < db->n; i++) {
		struct lb_dbpkg *p = &db->pkgs[i];
		for (size_t k = 0; j && k < j->nstates; k++)
			if (!strcmp(j->states[k].pkg, p->info.name))
				p->state = (enum lb_pkgstate)j->states[k].state;
		if (p->state == LB_ST_INSTALLED &&
		    (!p->config_version || strcmp(p->config_version, p->info.version))) {
			free(p->config_version);
			if (!(p->config_version = strdup(p->info.version))) {
				r = -ENOMEM;
				goto out;
			}
		}
		if (db->pkgs[i].state == LB_ST_UNPACKED ||
		    db->pkgs[i].state == LB_ST_HALF_CONFIGURED) {
			pk[n] = &db->pkgs[i];
			set[n++] = &db->pkgs[i].info;
		}
	}
	r = lb_deporder(set, n, false, order);
	for (size_t i = 0; i < n && !r && !ctx->no_scripts; i++) {
		struct lb_dbpkg *p = pk[order[i]];
		if (p->script[LB_POSTINST][0]) {
			r = lb_journal_mark_state(j, p->info.name, "half-configured");
			p->state = LB_ST_HALF_CONFIGURED;
			const char *args[] = {"configure",
			                      p->config_version ? p->config_version : "", NULL};
			if (!r)
				r = lb_script_run(ctx, p->info.name, LB_POSTINST,
				                  p->script[LB_POSTINST], args);
			if (r)
				break;
		}
		p->state = LB_ST_INSTALLED;
		free(p->config_version);
		p->config_version = strdup(p->info.version);
		r = lb_journal_mark_state(j, p->info.name, "installed");
	}
out:
	free(order);
	free(set);
	free(pk);
	return r;
}

/* From the commit record on: idempotent, so a crash anywhere in it is safe. */
static int roll_forward(struct lb_ctx *ctx, struct lb_journal *j)
{
	int r = for_each_rec(ctx, j, "RVX", false, redo_one);
	if (!r) {
		r = lb_rename(ctx->pkgfd, LB_DB_NEW, ctx->pkgfd, LB_DB_FILE);
		if (r == -ENOENT)
			r = 0;
	}
	if (!r)
		r = sync_all(ctx);
	if (r)
		return lb_err_prefix(r, "transaction %llu", j->txn);
	/* the paths are done with: keep only what the scripts need */
	for (size_t i = 0; i < j->n; i++)
		if (j->recs[i].kind != 'A')
			for (int k = 0; k < 5; k++) {
				free(j->recs[i].arg[k]);
				j->recs[i].arg[k] = NULL;
			}
	if ((r = run_post_actions(ctx, j)))
		return r;
	struct lb_db db;
	if ((r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db)))
		return r;
	int cr = configure(ctx, j, &db);
	char saved[1024];
	snprintf(saved, sizeof saved, "%s", lb_err_msg());
	r = lb_db_save(ctx->pkgfd, &db);
	if (!r) /* every post action has run: the database alone says what is referenced */
		lb_script_gc(ctx, &db, NULL);
	if (!r)
		r = lb_journal_remove(j, ctx->pkgfd);
	lb_db_free(&db);
	if (cr) {
		lb_errf(cr, "%s", saved);
		return cr;
	}
	return r;
}

int lb_recover(struct lb_ctx *ctx, bool *did)
{
	struct lb_journal j;
	*did = false;
	int r = lb_journal_load(ctx->pkgfd, &j);
	if (r)
		return r;
	if (faccessat(ctx->pkgfd, LB_JOURNAL_FILE, F_OK, 0) < 0) {
		lb_journal_free(&j);
		return lb_unlink(ctx->pkgfd, LB_DB_NEW);
	}
	*did = true;
	if (j.state == LB_J_NONE)
		r = lb_journal_remove(&j, ctx->pkgfd);
	else if (j.state == LB_J_PREPARED)
		r = rollback(ctx, &j);
	else
		r = roll_forward(ctx, &j);
	if (!ctx->quiet)
		fprintf(stderr, "lifeboat: %s interrupted transaction %llu\n",
		        j.state == LB_J_COMMITTED ? "finished" : "rolled back", j.txn);
	lb_journal_free(&j);
	return r;
}

/* ---- maintainer scripts before the commit ---- */

struct ran {
	struct lb_dbpkg *p;
	enum lb_script abort_script;
	const char *args[3];
};

static int pre_scripts(struct lb_ctx *ctx, struct lb_plan *plan)
{
	if (ctx->no_scripts)
		return 0;
	struct ran *ran = calloc(2 * (plan->n + plan->nrm) + 1, sizeof *ran);
	size_t nran = 0;
	int r = ran ? 0 : -ENOMEM;
	for (size_t i = 0; i < plan->nrm && !r; i++) {
		struct lb_dbpkg *o = plan->rm[i].old;
		if (!o->script[LB_PRERM][0] || o->state < LB_ST_HALF_CONFIGURED)
			continue;
		const char *args[] = {"remove", NULL};
		r = lb_script_run(ctx, o->info.name, LB_PRERM, o->script[LB_PRERM], args);
		if (!r)
			ran[nran++] = (struct ran){o, LB_POSTINST, {"abort-remove"}};
	}
	for (size_t i = 0; i < plan->n && !r; i++) {
		struct lb_item *it = &plan->items[i];
		if (!it->neu.info.name || !it->old || !it->old->script[LB_PRERM][0] ||
		    it->old->state < LB_ST_HALF_CONFIGURED)
			continue;
		const char *args[] = {"upgrade", it->neu.info.version, NULL};
		r = lb_script_run(ctx, it->old->info.name, LB_PRERM, it->old->script[LB_PRERM],
		                  args);
		if (!r)
			ran[nran++] = (struct ran){
			    it->old, LB_POSTINST, {"abort-upgrade", it->neu.info.version}};
	}
	for (size_t i = 0; i < plan->n && !r; i++) {
		struct lb_item *it = &plan->items[i];
		if (!it->neu.info.name || !it->neu.script[LB_PREINST][0])
			continue;
		const char *args[] = {it->old ? "upgrade" : "install",
		                      it->old ? it->old->info.version : NULL, NULL};
		r = lb_script_run(ctx, it->neu.info.name, LB_PREINST, it->neu.script[LB_PREINST],
		                  args);
		if (r) {
			/* dpkg: the failed preinst's own postrm cleans up */
			ran[nran++] = (struct ran){&it->neu,
			                           LB_POSTRM,
			                           {it->old ? "abort-upgrade" : "abort-install",
			                            it->old ? it->old->info.version : NULL}};
		}
	}
	if (r) {
		char saved[1024];
		snprintf(saved, sizeof saved, "%s", lb_err_msg());
		while (nran-- > 0) {
			struct ran *x = &ran[nran];
			if (x->p->script[x->abort_script][0] &&
			    lb_script_run(ctx, x->p->info.name, x->abort_script,
			                  x->p->script[x->abort_script], x->args))
				fprintf(stderr, "lifeboat: warning: %s\n", lb_err_msg());
		}
		lb_errf(r, "%s", saved);
	}
	free(ran);
	return r;
}

/* ---- apply ---- */

static void journal_paths(struct lb_journal *j, char kind, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *a[] = {v[i]};
		lb_journal_add(j, kind, 1, a);
	}
}

static bool is_dist(const struct lb_plan *plan, const char *path)
{
	for (size_t i = 0; i < plan->ndist; i++)
		if (!strcmp(plan->dist[i], path))
			return true;
	return false;
}

static int prepare_records(struct lb_ctx *ctx, struct lb_plan *plan, struct lb_journal *j)
{
	journal_paths(j, 'D', plan->mkdirs, plan->nmkdirs);
	for (size_t i = 0; i < plan->n; i++) {
		struct lb_item *it = &plan->items[i];
		if (!it->neu.info.name)
			continue;
		for (size_t k = 0; k < it->neu.nfiles; k++) {
			const struct lb_file *f = &it->neu.files[k];
			if (f->type == LB_FT_DIR)
				continue;
			const char *a[] = {f->path};
			lb_journal_add(j, is_dist(plan, f->path) ? 'V' : 'R', 1, a);
		}
		for (int s = 0; s < LB_NSCRIPTS; s++)
			if (it->meta.script[s]) {
				int r = lb_script_store(ctx, it->meta.script[s],
				                        it->meta.script_len[s], it->neu.script[s]);
				if (r)
					return r;
			}
		bool has_postinst = it->neu.script[LB_POSTINST][0] != 0;
		it->neu.state = has_postinst ? LB_ST_UNPACKED : LB_ST_INSTALLED;
		const char *prev = it->old ? it->old->config_version : NULL;
		if (!has_postinst)
			prev = it->neu.info.version;
		if (prev && !(it->neu.config_version = strdup(prev)))
			return -ENOMEM;
		if (it->old && it->old->script[LB_POSTRM][0]) {
			const char *a[] = {it->old->info.name, it->old->script[LB_POSTRM],
			                   "upgrade", it->neu.info.version};
			lb_journal_add(j, 'A', 4, a);
		}
	}
	journal_paths(j, 'X', plan->removes, plan->nremoves);
	for (size_t i = 0; i < plan->nrm; i++) {
		struct lb_dbpkg *o = plan->rm[i].old;
		if (o->script[LB_POSTRM][0]) {
			const char *a[] = {o->info.name, o->script[LB_POSTRM], "remove"};
			lb_journal_add(j, 'A', 3, a);
		}
	}
	return j->err;
}

static int write_new_db(struct lb_ctx *ctx, const struct lb_plan *plan)
{
	struct lb_db db = {.serial = plan->serial, .n = plan->n};
	db.pkgs = calloc(plan->n + 1, sizeof *db.pkgs);
	if (!db.pkgs)
		return -ENOMEM;
	for (size_t i = 0; i < plan->n; i++)
		db.pkgs[i] = *lb_item_rec(&plan->items[i]); /* shallow: not freed here */
	lb_db_sort(&db);
	int r = lb_db_write_unsafe(ctx->pkgfd, LB_DB_NEW, &db);
	free(db.pkgs);
	return r ? lb_err_prefix(r, "write %s/%s", ctx->pkg, LB_DB_NEW) : 0;
}

/* Read the journal back as recovery would, expecting state want. */
static int reload(struct lb_ctx *ctx, struct lb_journal *j, enum lb_jstate want)
{
	lb_journal_free(j);
	int r = lb_journal_load(ctx->pkgfd, j);
	if (!r && j->state != want)
		r = lb_errf(-LBE_CORRUPT, "journal: not as it was just written");
	return r;
}

int lb_plan_apply(struct lb_ctx *ctx, struct lb_plan *plan)
{
	if (lb_plan_empty(plan)) {
		if (plan->db.serial == plan->serial)
			return 0;
		plan->db.serial = plan->serial;
		return lb_db_save(ctx->pkgfd, &plan->db);
	}
	struct lb_journal j;
	lb_journal_init(&j, (unsigned long long)time(NULL));
	int r = prepare_records(ctx, plan, &j);
	if (!r)
		r = lb_journal_prepare(&j, ctx->pkgfd);
	if (r) {
		lb_journal_free(&j);
		return r;
	}
	/* the journal's records are read back only when needed (roll back or
	 * forward), so that they and the plan are not in memory together */
	r = make_dirs(ctx, plan);
	struct stage_job job = {ctx, plan};
	if (!r)
		r = lb_parallel(plan->n, stage_one, &job);
	if (!r)
		r = write_new_db(ctx, plan);
	if (!r)
		r = sync_all(ctx);
	if (!r)
		r = pre_scripts(ctx, plan);
	if (!r)
		r = lb_journal_commit(&j);
	if (r) {
		char saved[1024];
		snprintf(saved, sizeof saved, "%s", lb_err_msg());
		lb_err_clear();
		int rr = reload(ctx, &j, LB_J_PREPARED);
		if (!rr)
			rr = rollback(ctx, &j);
		if (rr)
			fprintf(stderr, "lifeboat: %s\n", lb_err_msg());
		lb_journal_free(&j);
		lb_errf(r, "%s", saved[0] ? saved : lb_strerror(r));
		return r;
	}
	/* the journal and the new database say everything from here on: let go of
	 * the plan's file lists before the database is read back */
	for (size_t i = 0; i < plan->n; i++) {
		struct lb_item *it = &plan->items[i];
		lb_dbpkg_free(&it->neu);
		lb_deb_meta_free(&it->meta);
		it->old = NULL;
	}
	for (size_t i = 0; i < plan->nrm; i++)
		plan->rm[i].old = NULL;
	lb_db_free(&plan->db);
	lb_plan_free_paths(plan);
	r = reload(ctx, &j, LB_J_COMMITTED);
	if (!r)
		r = roll_forward(ctx, &j);
	lb_journal_free(&j);
	return r;
}
