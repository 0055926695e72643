/* SPDX-License-Identifier: MIT */
/* Maintainer scripts: stored by content in STATE/scripts/<id> and run chrooted
 * into the root (as dpkg does) with dpkg's arguments and environment. */
#ifndef LB_SCRIPTS_H
#define LB_SCRIPTS_H

#include "context.h"
#include "deb.h"
#include "error.h"

/* Store a script's content (mode 0755) unless present; id receives its name. */
int lb_script_store(struct lb_ctx *ctx, const char *content, size_t len, char id[17]) LB_MUST;

/* Run script `id` of package pkg (which = LB_POSTINST, ...) with args (NULL
 * terminated). Returns 0, or -LBE_SCRIPT naming the script and its exit status. */
int lb_script_run(struct lb_ctx *ctx, const char *pkg, enum lb_script which, const char *id,
                  const char *const *args) LB_MUST;

/* Remove stored scripts that no package of db nor the journal references. */
struct lb_db;
struct lb_journal;
void lb_script_gc(struct lb_ctx *ctx, const struct lb_db *db, const struct lb_journal *j);

#endif
