/* SPDX-License-Identifier: MIT */
/* `lifeboat sync`: fetch the master's signed desired state for this device,
 * download what is missing, converge (docs/sync.md). */
#ifndef LB_SYNC_H
#define LB_SYNC_H

#include "config.h"
#include "context.h"
#include "error.h"

int lb_sync(struct lb_ctx *ctx, const struct lb_config *cfg) LB_MUST;

#endif
