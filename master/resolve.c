/* SPDX-License-Identifier: MIT */
/* Dependency resolution with libsolv: one solvable per pool package (name, epoch:
 * version, architecture, Provides with the self-provide, Requires from Pre-Depends
 * and Depends, Conflicts from Conflicts and Breaks), one install job per top-level
 * package of a group; the result is everything the transaction installs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/repo.h>
#include <solv/solver.h>
#include <solv/transaction.h>

#include "master.h"

struct msolver {
	Pool *pool;
	Repo *repo;
	Id first; /* solvable id of pool->pkgs[0]; ids are consecutive */
	const struct mpool *mp;
};

static Id rel_flags(enum lb_rel rel)
{
	switch (rel) {
	case LB_REL_LT: return REL_LT;
	case LB_REL_LE: return REL_LT | REL_EQ;
	case LB_REL_EQ: return REL_EQ;
	case LB_REL_GE: return REL_GT | REL_EQ;
	case LB_REL_GT: return REL_GT;
	default: return 0;
	}
}

/* "name" or "name REL version"; the architecture qualifier (name:any) is ignored. */
static Id alt_id(Pool *pool, const struct lb_dep_alt *a)
{
	Id name = pool_str2id(pool, a->name, 1);
	if (a->rel == LB_REL_ANY || !a->version)
		return name;
	return pool_rel2id(pool, name, pool_str2id(pool, a->version, 1), rel_flags(a->rel), 1);
}

/* a | b | c as REL_OR of the alternatives, in their order. */
static Id dep_id(Pool *pool, const struct lb_dep *d)
{
	Id id = alt_id(pool, &d->alts[d->n - 1]);
	for (size_t i = d->n - 1; i-- > 0;)
		id = pool_rel2id(pool, alt_id(pool, &d->alts[i]), id, REL_OR, 1);
	return id;
}

static Offset add_deps(Repo *repo, Offset to, const struct lb_deplist *dl)
{
	for (size_t i = 0; i < dl->n; i++)
		if (dl->deps[i].n)
			to = repo_addid_dep(repo, to, dep_id(repo->pool, &dl->deps[i]), 0);
	return to;
}

/* libsolv orders a dependency's alternatives by name, where Debian prefers the first
 * one: the first alternative of each "a | b" is also recorded as a Recommends of the
 * package, which the solver's policy uses to choose among candidates (recommended
 * packages are not installed for their own sake: SOLVER_FLAG_IGNORE_RECOMMENDED). */
static Offset first_alts(Repo *repo, Offset to, const struct lb_deplist *dl)
{
	for (size_t i = 0; i < dl->n; i++)
		if (dl->deps[i].n > 1)
			to = repo_addid_dep(repo, to, alt_id(repo->pool, &dl->deps[i].alts[0]), 0);
	return to;
}

static void add_solvable(Repo *repo, const struct lb_pkginfo *pi)
{
	Pool *pool = repo->pool;
	Solvable *s = pool_id2solvable(pool, repo_add_solvable(repo));
	s->name = pool_str2id(pool, pi->name, 1);
	s->evr = pool_str2id(pool, pi->version, 1);
	s->arch = pool_str2id(pool, pi->arch, 1);
	s->provides =
	    repo_addid_dep(repo, s->provides, pool_rel2id(pool, s->name, s->evr, REL_EQ, 1), 0);
	s->provides = add_deps(repo, s->provides, &pi->provides);
	s->requires = add_deps(repo, s->requires, &pi->pre_depends);
	s->requires = add_deps(repo, s->requires, &pi->depends);
	s->recommends = first_alts(repo, s->recommends, &pi->pre_depends);
	s->recommends = first_alts(repo, s->recommends, &pi->depends);
	s->conflicts = add_deps(repo, s->conflicts, &pi->conflicts);
	s->conflicts = add_deps(repo, s->conflicts, &pi->breaks);
}

int resolve_init(const struct mpool *mp, const char *arch, struct msolver **out)
{
	struct msolver *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->mp = mp;
	s->pool = pool_create();
	if (pool_setdisttype(s->pool, DISTTYPE_DEB) < 0) {
		resolve_free(s);
		return lb_errf(-ENOTSUP, "libsolv was built without Debian support");
	}
	pool_setarch(s->pool, arch);
	s->repo = repo_create(s->pool, "pool");
	s->first = s->pool->nsolvables;
	for (size_t i = 0; i < mp->n; i++)
		add_solvable(s->repo, &mp->pkgs[i].info);
	repo_internalize(s->repo);
	pool_addfileprovides(s->pool);
	pool_createwhatprovides(s->pool);
	*out = s;
	return 0;
}

void resolve_free(struct msolver *s)
{
	if (!s)
		return;
	if (s->pool)
		pool_free(s->pool);
	free(s);
}

/* Is there a real package called name (not only something that provides it)? */
static bool has_package(Pool *pool, Id name)
{
	Id p, pp;
	FOR_PROVIDES(p, pp, name)
	if (pool->solvables[p].name == name)
		return true;
	return false;
}

static void make_jobs(Pool *pool, const struct mgroup *g, Queue *job)
{
	for (size_t i = 0; i < g->top.n; i++) {
		const struct lb_dep_alt *a = &g->top.deps[i].alts[0];
		Id name = pool_str2id(pool, a->name, 1);
		/* a real package by its name (its own version, not a Provides); a virtual
		 * package through whatever provides it */
		Id how = has_package(pool, name) ? SOLVER_SOLVABLE_NAME : SOLVER_SOLVABLE_PROVIDES;
		queue_push2(job, SOLVER_INSTALL | how, alt_id(pool, a));
	}
}

static int report(Solver *solv, int nproblems, const struct mgroup *g)
{
	for (Id p = 1; p < nproblems; p++)
		fprintf(stderr, "lifeboat-master: group %s: cannot be resolved: %s\n", g->name,
		        solver_problem2str(solv, p));
	return lb_errf(-LBE_DEPENDS, "group %s: cannot be resolved: %s", g->name,
	               solver_problem2str(solv, nproblems));
}

static int sel_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y; /* pool order is name order */
}

static int collect(struct msolver *s, Solver *solv, const struct mgroup *g, size_t **sel,
                   size_t *nsel)
{
	Transaction *trans = solver_create_transaction(solv);
	size_t n = 0;
	int r = 0;
	*sel = trans->steps.count ? malloc((size_t)trans->steps.count * sizeof **sel) : NULL;
	if (trans->steps.count && !*sel)
		r = -ENOMEM;
	for (int i = 0; !r && i < trans->steps.count; i++) {
		Id p = trans->steps.elements[i];
		if (p < s->first || (size_t)(p - s->first) >= s->mp->n ||
		    transaction_type(trans, p, SOLVER_TRANSACTION_SHOW_ALL) !=
		        SOLVER_TRANSACTION_INSTALL)
			continue;
		(*sel)[n++] = (size_t)(p - s->first);
	}
	transaction_free(trans);
	if (n)
		qsort(*sel, n, sizeof **sel, sel_cmp);
	/* Debian installs one version of a name; libsolv ensures it, check anyway */
	for (size_t i = 1; !r && i < n; i++)
		if (!strcmp(s->mp->pkgs[(*sel)[i]].info.name, s->mp->pkgs[(*sel)[i - 1]].info.name))
			r = lb_errf(-LBE_DEPENDS,
			            "group %s: cannot be resolved: two versions of %s", g->name,
			            s->mp->pkgs[(*sel)[i]].info.name);
	if (r) {
		free(*sel);
		*sel = NULL;
		n = 0;
	}
	*nsel = n;
	return r;
}

int resolve_group(struct msolver *s, const struct mgroup *g, size_t **sel, size_t *nsel)
{
	Queue job;
	queue_init(&job);
	make_jobs(s->pool, g, &job);
	Solver *solv = solver_create(s->pool);
	solver_set_flag(solv, SOLVER_FLAG_IGNORE_RECOMMENDED, 1);
	int np = solver_solve(solv, &job);
	int r = np ? report(solv, np, g) : collect(s, solv, g, sel, nsel);
	solver_free(solv);
	queue_free(&job);
	return r;
}
