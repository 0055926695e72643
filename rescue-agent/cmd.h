/* SPDX-License-Identifier: MIT */
/* Subcommands: one file each (cmd_*.c), registered in main.c's table. */
#ifndef LB_CMD_H
#define LB_CMD_H

#include "context.h"
#include "error.h"

enum {
	LB_CMD_NO_STATE = 1,   /* needs neither root nor state (vercmp) */
	LB_CMD_CREATE = 2,     /* creates the state directory if missing */
	LB_CMD_NO_RECOVER = 4, /* runs recovery itself */
};

struct lb_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(struct lb_ctx *ctx, int argc, char **argv);
	unsigned flags;
};

int cmd_apply(struct lb_ctx *ctx, int argc, char **argv);
int cmd_plan(struct lb_ctx *ctx, int argc, char **argv);
int cmd_list(struct lb_ctx *ctx, int argc, char **argv);
int cmd_status(struct lb_ctx *ctx, int argc, char **argv);
int cmd_files(struct lb_ctx *ctx, int argc, char **argv);
int cmd_patch(struct lb_ctx *ctx, int argc, char **argv);
int cmd_verify(struct lb_ctx *ctx, int argc, char **argv);
int cmd_recover(struct lb_ctx *ctx, int argc, char **argv);
int cmd_vercmp(struct lb_ctx *ctx, int argc, char **argv);
int cmd_sync(struct lb_ctx *ctx, int argc, char **argv);
int cmd_sync_plan(struct lb_ctx *ctx, int argc, char **argv); /* plan without --pool */
int cmd_os(struct lb_ctx *ctx, int argc, char **argv);
int cmd_boot(struct lb_ctx *ctx, int argc, char **argv);
int cmd_provision(struct lb_ctx *ctx, int argc, char **argv);

/* Shared by apply and plan: parse "--pool DIR FILE". */
int lb_parse_pool_args(int argc, char **argv, const char **pool, const char **file) LB_MUST;

/* Print s as a JSON string (with quotes) to out. */
#include <stdio.h>
void lb_json_str(FILE *out, const char *s);

#endif
