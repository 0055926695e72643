/* SPDX-License-Identifier: MIT */
/* lifeboat apply --pool DIR FILE: converge the root to the desired state FILE. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "desired.h"
#include "engine.h"

int lb_parse_pool_args(int argc, char **argv, const char **pool, const char **file)
{
	*pool = NULL;
	*file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pool") && i + 1 < argc)
			*pool = argv[++i];
		else if (!strncmp(argv[i], "--pool=", 7))
			*pool = argv[i] + 7;
		else if (argv[i][0] == '-' || *file)
			return lb_errf(-LBE_USAGE, "%s: unexpected argument '%s'", argv[0],
			               argv[i]);
		else
			*file = argv[i];
	}
	if (!*pool || !*file)
		return lb_errf(-LBE_USAGE, "usage: lifeboat %s --pool DIR FILE", argv[0]);
	return 0;
}

static int load(int argc, char **argv, const char **pool, struct lb_desired *d)
{
	const char *file;
	int r = lb_parse_pool_args(argc, argv, pool, &file);
	if (!r)
		r = lb_desired_load(file, d);
	return r ? lb_err_prefix(r, "%s", r == -LBE_USAGE ? "lifeboat" : file) : 0;
}

int cmd_plan(struct lb_ctx *ctx, int argc, char **argv)
{
	bool pool_given = false;
	for (int i = 1; i < argc; i++)
		pool_given |= !strncmp(argv[i], "--pool", 6);
	if (!pool_given)
		return cmd_sync_plan(ctx, argc, argv); /* what sync would do */
	const char *pool;
	struct lb_desired d;
	int r = load(argc, argv, &pool, &d);
	if (r)
		return r;
	struct lb_plan plan;
	r = lb_plan_build(ctx, &d, pool, &plan);
	if (!r) {
		lb_plan_print(ctx, &plan, stdout);
		if (!ctx->json)
			printf(
			    "%zu to remove, %llu files (%llu KiB) to write, %zu paths to remove\n",
			    plan.nrm, plan.files, plan.bytes >> 10, plan.nremoves);
	}
	lb_plan_free(&plan);
	lb_desired_free(&d);
	return r;
}

int lb_converge(struct lb_ctx *ctx, const struct lb_desired *d, const char *pool)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct lb_plan plan;
	int r = lb_plan_build(ctx, d, pool, &plan);
	for (int stage = 0; !r && stage < 16; stage++) {
		struct lb_desired first;
		r = lb_plan_first_stage(&plan, &first);
		if (r <= 0)
			break;
		/* pre-dependencies go first, in a transaction of their own */
		struct lb_plan pre;
		r = lb_plan_build(ctx, &first, pool, &pre);
		if (r == -LBE_DEPENDS || r == -LBE_CONFLICT || r == -LBE_CYCLE) {
			if (!ctx->quiet)
				fprintf(stderr,
				        "lifeboat: warning: pre-dependencies cannot be installed "
				        "first (%s); installing everything at once\n",
				        lb_err_msg());
			lb_err_clear();
			lb_plan_free(&pre);
			lb_desired_free(&first);
			r = 0;
			break;
		}
		if (!r && !ctx->quiet)
			fprintf(stderr, "lifeboat: installing pre-dependencies first\n");
		if (!r)
			r = lb_plan_apply(ctx, &pre);
		lb_plan_free(&pre);
		lb_desired_free(&first);
		lb_plan_free(&plan);
		if (!r)
			r = lb_plan_build(ctx, d, pool, &plan);
	}
	if (!r && ctx->json)
		lb_plan_print(ctx, &plan, stdout);
	if (!r)
		r = lb_plan_apply(ctx, &plan);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (!r && !ctx->quiet) {
		size_t counts[LB_ACT_REMOVE + 1] = {0};
		for (size_t i = 0; i < plan.n; i++)
			counts[plan.items[i].act]++;
		counts[LB_ACT_REMOVE] = plan.nrm;
		if (ctx->json)
			printf("{\"event\":\"applied\",\"serial\":%llu,\"files\":%llu,\"seconds\":%"
			       ".3f}\n",
			       d->serial, plan.files, secs);
		else
			fprintf(stderr,
			        "lifeboat: serial %llu applied: %zu installed, %zu upgraded, %zu "
			        "downgraded, %zu removed, %zu unchanged; %llu files in %.2f s\n",
			        d->serial, counts[LB_ACT_INSTALL], counts[LB_ACT_UPGRADE],
			        counts[LB_ACT_DOWNGRADE], counts[LB_ACT_REMOVE],
			        counts[LB_ACT_KEEP], plan.files, secs);
	}
	lb_plan_free(&plan);
	return r;
}

int cmd_apply(struct lb_ctx *ctx, int argc, char **argv)
{
	const char *pool;
	struct lb_desired d;
	int r = load(argc, argv, &pool, &d);
	if (r)
		return r;
	r = lb_converge(ctx, &d, pool);
	lb_desired_free(&d);
	return r;
}
