/* SPDX-License-Identifier: MIT */
/* `lifeboat sync`: fetch the master's signed desired state for this device,
 * download what is missing, converge (docs/sync.md). */
#ifndef LB_SYNC_H
#define LB_SYNC_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "context.h"
#include "deb822.h"
#include "desired.h"
#include "error.h"
#include "fetch.h"

int lb_sync(struct lb_ctx *ctx, const struct lb_config *cfg) LB_MUST;
/* `lifeboat plan` without --pool: fetch the state as sync does and print, per
 * package, what sync would do and what it would download (a delta or the
 * package, and its bytes); change nothing but the verified copies in STATE/sync. */
int lb_sync_plan(struct lb_ctx *ctx, const struct lb_config *cfg) LB_MUST;

/* The options of the link, shared by the commands that talk to the master:
 * --master URL, --device-id ID, --group G, --pubkey FILE[,FILE], --bwlimit N,
 * --retries N, --config FILE (read by the caller before). 1: opt was one of them
 * (val taken), 0: it is not, < 0: an error. lb_sync_config_done tidies up after
 * the last one ("URL/" and "URL" name the same tree). */
int lb_sync_option(struct lb_config *cfg, const char *opt, const char *val) LB_MUST;
void lb_sync_config_done(struct lb_config *cfg);

/* The device's signed desired state, fetched and verified as sync does it. */
struct lb_link {
	struct lb_fetch f;   /* set up from cfg (bandwidth cap, retries), connection open */
	struct lb_desired d; /* signed by a trusted key, for this group, not expired, a
	                      * sha256 for every package */
	char *group;
	bool changed; /* the pointer or the state is new since the last fetch */
};

/* Steps 2 and 3 of docs/sync.md: the pointer devices/ID (or the configured group),
 * then groups/G/state, conditionally, verified copies kept in STATE/sync/. cmd
 * names the command in usage errors. On failure *l holds nothing to free. */
int lb_sync_fetch_state(struct lb_ctx *ctx, const struct lb_config *cfg, const char *cmd,
                        struct lb_link *l) LB_MUST;
/* Refuse a state older than the one applied (-LBE_STALE: a replay). */
int lb_sync_check_serial(const struct lb_config *cfg, const struct lb_link *l,
                         unsigned long long applied) LB_MUST;
void lb_link_free(struct lb_link *l);

/* One download's progress on a terminal (a struct lb_fetch progress hook): bar,
 * bytes, rate, time left. */
struct lb_bar {
	const char *name;
	struct timespec start;
	unsigned long long first; /* bytes already there (resumed) when it started */
	bool started;
};
void lb_bar_progress(void *arg, unsigned long long now, unsigned long long total);

/* STATE/os, the record of the image last written to the slot (cmd_os.c writes
 * it): parsed into doc, one paragraph. -ENOENT when there is none, -LBE_CORRUPT
 * (with the message) when it is damaged. */
int lb_os_record_load(const struct lb_ctx *ctx, struct lb_doc *doc) LB_MUST;
struct lb_imgsrc;
/* cmd_os.c: write the image of l's state onto dev (reusing what src and the cache
 * have), record it in ctx's slot record; with reset, an empty package database
 * with this serial. */
int lb_os_write_slot(struct lb_ctx *ctx, struct lb_link *l, const char *master, const char *dev,
                     const struct lb_imgsrc *src, size_t nsrc, bool reset,
                     unsigned long long serial) LB_MUST;
/* cmd_os.c: fetch into STATE/cache/chunks what a rewrite of slot (in place, by the
 * rescue system) needs from the master, keeping reserve bytes free; *complete
 * when it all fit. */
int lb_os_prefetch(struct lb_ctx *ctx, struct lb_link *l, const char *master, const char *slot,
                   unsigned long long reserve, bool *complete) LB_MUST;

#endif
