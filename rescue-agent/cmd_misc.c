/* SPDX-License-Identifier: MIT */
/* lifeboat recover, lifeboat vercmp. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "engine.h"
#include "version.h"

int cmd_recover(struct lb_ctx *ctx, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return lb_errf(-LBE_USAGE, "usage: lifeboat recover");
	bool did;
	int r = lb_recover(ctx, &did);
	if (!r && !did && !ctx->quiet)
		fprintf(stderr, "lifeboat: no interrupted transaction\n");
	return r;
}

int cmd_vercmp(struct lb_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc != 4)
		return lb_errf(-LBE_USAGE, "usage: lifeboat vercmp A OP B");
	const char *op = argv[2];
	for (int i = 1; i <= 3; i += 2)
		if (argv[i][0] && !lb_version_valid(argv[i]))
			return lb_errf(-LBE_FORMAT, "'%s' is not a valid version", argv[i]);
	/* dpkg --compare-versions: an empty version is older than any other */
	int c = !argv[1][0] ? (argv[3][0] ? -1 : 0) : !argv[3][0] ? 1 : lb_vercmp(argv[1], argv[3]);
	bool holds;
	if (!strcmp(op, "lt") || !strcmp(op, "<<"))
		holds = c < 0;
	else if (!strcmp(op, "le") || !strcmp(op, "<="))
		holds = c <= 0;
	else if (!strcmp(op, "eq") || !strcmp(op, "="))
		holds = c == 0;
	else if (!strcmp(op, "ne"))
		holds = c != 0;
	else if (!strcmp(op, "ge") || !strcmp(op, ">="))
		holds = c >= 0;
	else if (!strcmp(op, "gt") || !strcmp(op, ">>"))
		holds = c > 0;
	else
		return lb_errf(-LBE_USAGE, "vercmp: unknown operator '%s'", op);
	return holds ? 0 : 1;
}
