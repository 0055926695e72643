/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "curl_dl.h"

struct lb_curl_api lb_curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[256];

static void load(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, sizeof why, "%s", dlerror());
		return;
	}
	struct {
		void **slot;
		const char *name;
	} syms[] = {
	    {(void **)&lb_curl.global_init, "curl_global_init"},
	    {(void **)&lb_curl.easy_init, "curl_easy_init"},
	    {(void **)&lb_curl.easy_setopt, "curl_easy_setopt"},
	    {(void **)&lb_curl.easy_perform, "curl_easy_perform"},
	    {(void **)&lb_curl.easy_getinfo, "curl_easy_getinfo"},
	    {(void **)&lb_curl.easy_cleanup, "curl_easy_cleanup"},
	    {(void **)&lb_curl.easy_reset, "curl_easy_reset"},
	    {(void **)&lb_curl.easy_strerror, "curl_easy_strerror"},
	    {(void **)&lb_curl.slist_append, "curl_slist_append"},
	    {(void **)&lb_curl.slist_free_all, "curl_slist_free_all"},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
		if (!(*syms[i].slot = dlsym(h, syms[i].name))) {
			snprintf(why, sizeof why, "libcurl.so.4: no %s", syms[i].name);
			memset(&lb_curl, 0, sizeof lb_curl);
			return;
		}
}

int lb_curl_load(void)
{
	pthread_once(&once, load);
	if (lb_curl.easy_init)
		return 0;
	return lb_errf(-ENOENT, "cannot load libcurl (needed to download): %s", why);
}
