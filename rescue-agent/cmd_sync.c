/* SPDX-License-Identifier: MIT */
/* lifeboat sync [--master URL] [--device-id ID] [--group G] [--pubkey FILE[,FILE]]
 *               [--config FILE] [--bwlimit BYTES/S] [--retries N] */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "sync.h"

static int set(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
	return *field ? 0 : -ENOMEM;
}

int cmd_sync(struct lb_ctx *ctx, int argc, char **argv)
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
			r = lb_errf(-LBE_USAGE, "sync: '%s' needs a value or is unknown", o);
		else if (!strcmp(o, "--master"))
			r = set(&cfg.master, v);
		else if (!strcmp(o, "--device-id"))
			r = set(&cfg.device_id, v);
		else if (!strcmp(o, "--group"))
			r = set(&cfg.group, v);
		else if (!strcmp(o, "--pubkey"))
			r = set(&cfg.pubkeys, v);
		else if (!strcmp(o, "--bwlimit"))
			cfg.bwlimit = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--retries"))
			cfg.retries = atoi(v);
		else if (strcmp(o, "--config"))
			r = lb_errf(-LBE_USAGE, "sync: unknown option '%s'", o);
		i++;
	}
	if (!r && cfg.master) { /* "URL/" and "URL" name the same tree */
		size_t l = strlen(cfg.master);
		while (l > 1 && cfg.master[l - 1] == '/')
			cfg.master[--l] = 0;
	}
	if (!r)
		r = lb_sync(ctx, &cfg);
	lb_config_free(&cfg);
	return r;
}
