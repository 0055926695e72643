/* SPDX-License-Identifier: MIT */
/* lifeboat sync [--master URL] [--device-id ID] [--group G] [--pubkey FILE[,FILE]]
 *               [--config FILE] [--bwlimit BYTES/S] [--retries N] */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "sync.h"

/* sync, and plan without --pool */
static int link_cmd(struct lb_ctx *ctx, int argc, char **argv,
                    int (*run)(struct lb_ctx *, const struct lb_config *))
{
	const char *conf = NULL;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--config"))
			conf = argv[i + 1];
	struct lb_config cfg;
	int r = lb_config_load(ctx, conf, &cfg);
	for (int i = 1; !r && i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			r = lb_errf(-LBE_USAGE, "%s: '%s' needs a value or is unknown", argv[0], o);
		else if ((r = lb_sync_option(&cfg, o, v)) == 0)
			r = lb_errf(-LBE_USAGE, "%s: unknown option '%s'", argv[0], o);
		else if (r > 0)
			r = 0;
		i++;
	}
	if (!r)
		lb_sync_config_done(&cfg);
	if (!r)
		r = run(ctx, &cfg);
	lb_config_free(&cfg);
	return r;
}

int cmd_sync(struct lb_ctx *ctx, int argc, char **argv)
{
	return link_cmd(ctx, argc, argv, lb_sync);
}

int cmd_sync_plan(struct lb_ctx *ctx, int argc, char **argv)
{
	return link_cmd(ctx, argc, argv, lb_sync_plan);
}
