/* SPDX-License-Identifier: MIT */
#include "parallel.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pool {
	int (*fn)(void *arg, size_t i);
	void *arg;
	size_t n, next;
	size_t err_i;
	int err;
	char msg[1024];
	pthread_mutex_t lock;
};

static void *worker(void *p)
{
	struct pool *pl = p;
	for (;;) {
		pthread_mutex_lock(&pl->lock);
		size_t i = pl->next < pl->n && !pl->err ? pl->next++ : pl->n;
		pthread_mutex_unlock(&pl->lock);
		if (i >= pl->n)
			return NULL;
		lb_err_clear();
		int r = pl->fn(pl->arg, i);
		if (!r)
			continue;
		pthread_mutex_lock(&pl->lock);
		if (!pl->err || i < pl->err_i) {
			pl->err = r;
			pl->err_i = i;
			snprintf(pl->msg, sizeof pl->msg, "%s", lb_err_msg());
		}
		pthread_mutex_unlock(&pl->lock);
	}
}

int lb_parallel_jobs(void)
{
#ifdef LB_FAULT_INJECTION
	return 1;
#else
	const char *s = getenv("LIFEBOAT_JOBS");
	long n = s && *s ? atol(s) : sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
#endif
}

int lb_parallel(size_t n, int (*fn)(void *arg, size_t i), void *arg)
{
	size_t jobs = (size_t)lb_parallel_jobs();
	if (jobs > n)
		jobs = n;
	if (jobs <= 1) {
		for (size_t i = 0; i < n; i++) {
			int r = fn(arg, i);
			if (r)
				return r;
		}
		return 0;
	}
	struct pool pl = {.fn = fn, .arg = arg, .n = n};
	pthread_mutex_init(&pl.lock, NULL);
	pthread_t th[8];
	size_t started = 0;
	for (; started < jobs - 1; started++)
		if (pthread_create(&th[started], NULL, worker, &pl))
			break;
	worker(&pl); /* this thread works too */
	for (size_t k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&pl.lock);
	if (pl.err)
		lb_errf(pl.err, "%s", pl.msg[0] ? pl.msg : lb_strerror(pl.err));
	return pl.err;
}
