/* SPDX-License-Identifier: MIT */
/* The package engine: converge a root to a desired state as one crash-safe
 * transaction (docs/transactions.md), and recover an interrupted one. */
#ifndef LB_ENGINE_H
#define LB_ENGINE_H

#include <stdbool.h>
#include <stdio.h>

#include "context.h"
#include "deb.h"
#include "desired.h"
#include "error.h"
#include "pkgdb.h"

enum lb_action {
	LB_ACT_KEEP,
	LB_ACT_INSTALL,
	LB_ACT_UPGRADE,
	LB_ACT_DOWNGRADE,
	LB_ACT_REINSTALL, /* same version, different content */
	LB_ACT_CONFIGURE, /* same version, left unconfigured by an earlier run */
	LB_ACT_REMOVE,
};
const char *lb_action_str(enum lb_action a);

/* One package of the plan: a member of the new set, or a package to remove. */
struct lb_item {
	enum lb_action act;
	struct lb_dbpkg *old; /* the installed record (in plan.db) or NULL */
	struct lb_dbpkg neu;  /* the new record, for packages that change */
	char *deb_path;
	int debfd;
	char deb_sha256[65]; /* of the file read */
	unsigned long long deb_size;
	/* The package as the desired state names it (neu.deb_sha256 holds its sha256):
	 * the file read, or a package rebuilt from a delta that has the content hash
	 * content_sha256 ("" when the file itself matched). */
	unsigned long long id_size;
	char content_sha256[65];
	struct lb_deb_meta meta;
};

struct lb_plan {
	struct lb_db db;       /* installed state */
	struct lb_item *items; /* the new set, in dependency order */
	size_t n;
	struct lb_item *rm; /* packages to remove, dependents first */
	size_t nrm;
	char **mkdirs; /* directories to create, parents first */
	size_t nmkdirs;
	char **removes; /* paths to remove, deepest first */
	size_t nremoves;
	char **dist; /* conffiles kept: new version goes beside as .lb-dist */
	size_t ndist;
	unsigned long long serial;
	unsigned long long bytes; /* bytes of regular files to write */
	unsigned long long files; /* entries to write */
};

/* Build the plan for desired state d from the .debs in pool: reads (and
 * verifies) every package that changes; changes nothing. */
int lb_plan_build(struct lb_ctx *ctx, const struct lb_desired *d, const char *pool,
                  struct lb_plan *plan) LB_MUST;
void lb_plan_print(struct lb_ctx *ctx, const struct lb_plan *plan, FILE *out);
void lb_plan_free(struct lb_plan *plan);
/* Free the path lists (mkdirs, removes, dist) once the journal holds them. */
void lb_plan_free_paths(struct lb_plan *plan);
bool lb_plan_empty(const struct lb_plan *plan);

/* When a package with a preinst pre-depends on a package that the plan changes,
 * fill st with the state to reach first (stage.c) and return 1; 0 when the plan
 * can be applied as one transaction. */
int lb_plan_first_stage(const struct lb_plan *plan, struct lb_desired *st) LB_MUST;

/* Carry out a plan as one transaction. */
int lb_plan_apply(struct lb_ctx *ctx, struct lb_plan *plan) LB_MUST;

/* Plan and apply desired state d from the .debs in pool, pre-dependencies first
 * when they must be (cmd_apply.c); prints a summary unless quiet. */
int lb_converge(struct lb_ctx *ctx, const struct lb_desired *d, const char *pool) LB_MUST;

/* Finish or undo an interrupted transaction; *did says whether there was one. */
int lb_recover(struct lb_ctx *ctx, bool *did) LB_MUST;

/* The record of pkg as it will be after the plan (new record or old one). */
static inline const struct lb_dbpkg *lb_item_rec(const struct lb_item *it)
{
	return it->neu.info.name ? &it->neu : it->old;
}

#endif
