/* SPDX-License-Identifier: MIT */
/* Run fn(arg, i) for i in [0, n) on a few threads (decompressing packages is
 * what limits the engine; devices and build hosts have several cores). The
 * error of the lowest failing i is returned, with its message, as if the calls
 * had run in order; after a failure no new index is started. */
#ifndef LB_PARALLEL_H
#define LB_PARALLEL_H

#include <stddef.h>

#include "error.h"

int lb_parallel(size_t n, int (*fn)(void *arg, size_t i), void *arg) LB_MUST;

/* Threads used: LIFEBOAT_JOBS if set, else the online CPUs, at most 8; always 1
 * in fault-injection builds, whose crash points must be counted in order. */
int lb_parallel_jobs(void);

#endif
