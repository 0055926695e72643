/* SPDX-License-Identifier: MIT */
/* libcurl, loaded when the first download starts rather than when lifeboat does.
 * Debian's libcurl brings some 30 shared libraries (TLS, IDN, HTTP/2, LDAP,
 * Kerberos...): mapping them costs about 6 MiB of resident memory and start-up
 * time that `apply`, `list`, `recover` and the boot path never need. fetch.c uses
 * the curl_* names below, which this header turns into calls through a table
 * filled by lb_curl_load(). */
#ifndef LB_CURL_DL_H
#define LB_CURL_DL_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "error.h"

struct lb_curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *c);
	void (*easy_reset)(CURL *c);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};
extern struct lb_curl_api lb_curl;

/* dlopen libcurl.so.4 once (thread-safe); -ENOENT with a message naming the
 * library when it is not there. */
int lb_curl_load(void) LB_MUST;

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init    lb_curl.global_init
#define curl_easy_init      lb_curl.easy_init
#define curl_easy_setopt    lb_curl.easy_setopt
#define curl_easy_perform   lb_curl.easy_perform
#define curl_easy_getinfo   lb_curl.easy_getinfo
#define curl_easy_cleanup   lb_curl.easy_cleanup
#define curl_easy_reset     lb_curl.easy_reset
#define curl_easy_strerror  lb_curl.easy_strerror
#define curl_slist_append   lb_curl.slist_append
#define curl_slist_free_all lb_curl.slist_free_all

#endif
