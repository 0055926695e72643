/* SPDX-License-Identifier: MIT */
/* Downloads over a slow, unreliable link (libcurl, easy interface): http, https
 * and file:// URLs. Nothing here is trusted because of where it came from —
 * redirects are followed — but every file is checked against the size and
 * sha256 that the signed metadata gives before it gets its final name.
 *
 * Transient failures (connection errors, timeouts, a connection cut mid-body,
 * HTTP 5xx, 408 and 429) are retried with exponential backoff; a retry of a
 * file resumes with a Range request from the bytes already on disk. An attempt
 * that brought new bytes resets the count of failed attempts, so a link that
 * keeps dropping still gets the file as long as it makes progress. Other 4xx
 * answers are permanent. One struct lb_fetch is used by one thread at a time
 * (it keeps its connection open between requests). */
#ifndef LB_FETCH_H
#define LB_FETCH_H

#include <stddef.h>

#include "error.h"

#define LB_FETCH_PART_SUFFIX ".part"
#define LB_FETCH_ETAG_MAX    128

struct lb_fetch {
	/* Settings: lb_fetch_init sets the defaults; change them before fetching. */
	int retries;                  /* failed attempts in a row retried (5) */
	unsigned long retry_delay_ms; /* first backoff delay, doubled each time (1000) */
	unsigned long retry_max_ms;   /* longest delay, also caps Retry-After (60000) */
	long connect_timeout;         /* seconds (30) */
	long low_speed_limit;         /* bytes/s: slower than this for ... (1) */
	long low_speed_time;          /* ... this many seconds aborts the attempt (60) */
	unsigned long long max_speed; /* bandwidth cap in bytes/s, 0 = none (0); kept to by
	                               * waiting in the data callbacks too (libcurl lets a
	                               * burst of kernel-buffered data through) */
	const char *user_agent;       /* ("lifeboat") */
	/* Progress hook, called as body bytes arrive: now = bytes of the file so far
	 * (including those resumed from the .part), total = the expected size (0 if
	 * unknown). May be NULL. */
	void (*progress)(void *arg, unsigned long long now, unsigned long long total);
	void *progress_arg;

	/* Counters since lb_fetch_init (for `sync` to report). */
	unsigned long long requests; /* requests sent, redirects included */
	unsigned long long bytes;    /* body bytes received */
	unsigned long long reused;   /* bytes of .part files kept from earlier runs */
	unsigned long long retried;  /* attempts that were retried */

	void *curl; /* private: the easy handle (its connection cache) */
};

/* Defaults and a curl handle (curl_global_init is done once per process).
 * Returns 0 or a negative errno. lb_fetch_free releases the handle. */
int lb_fetch_init(struct lb_fetch *f) LB_MUST;
void lb_fetch_free(struct lb_fetch *f);

/* Download url to dirfd/name, which holds exactly size bytes whose sha256 is
 * sha256 (64 hex digits). The bytes go to dirfd/NAME.part first; bytes already
 * there (an interrupted run, a reboot) are re-hashed and only the rest is
 * requested (HTTP Range; a server that ignores Range is read from the start).
 * A complete .part is verified without any request. When the content is
 * complete and matches, the .part is fsynced and renamed to name, and the
 * directory fsynced. Errors:
 *  -LBE_HASH  more bytes than size (the transfer is cut off at once), fewer, or a
 *             different sha256: the .part is deleted (a .part kept from an
 *             earlier run that fails is deleted and downloaded again, once)
 *  -ENOENT    404/410 or a missing file:// file; -EACCES 401/403; -EPROTO other
 *             4xx or a broken answer
 *  -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH, -EIO (5xx): retries
 *             exhausted; the .part is kept for the next run
 * The message names the URL. */
int lb_fetch_file(struct lb_fetch *f, const char *url, int dirfd, const char *name,
                  unsigned long long size, const char sha256[65]) LB_MUST;

/* GET url and give its body to sink, in order, every byte once: a retry resumes
 * with a Range request from the bytes already given (a server that ignores Range
 * is read from the start and those bytes are dropped). At most max bytes: a body
 * that grows past it is cut off at once (-LBE_HASH), before sink sees the excess.
 * sink returns 0, or an error that stops the transfer and is returned as it is
 * (not retried). *got = the bytes given to sink. Same retries and other errors as
 * lb_fetch_file; the caller checks what it got (size, hash). */
int lb_fetch_stream(struct lb_fetch *f, const char *url, unsigned long long max,
                    int (*sink)(void *arg, const void *buf, size_t len), void *arg,
                    unsigned long long *got) LB_MUST;

/* A byte range of a file. */
struct lb_range {
	unsigned long long off, len;
};

#define LB_FETCH_RANGES_MAX 128 /* ranges in one request (a Range header of < 6 KB) */

/* GET the ranges rg[0..n) (sorted, not overlapping, inside size, the file's
 * size) of url with as few requests as possible: up to LB_FETCH_RANGES_MAX in
 * each (a multipart/byteranges answer); a server that answers with fewer parts
 * is asked again for the rest, and one that ignores Range (200) is read once from
 * the start, the bytes between the ranges passed over. sink gets the ranges'
 * bytes in order, each once, with their offset in the file. Retries resume
 * after the last byte given. Same errors as lb_fetch_stream. */
int lb_fetch_ranges(struct lb_fetch *f, const char *url, unsigned long long size,
                    const struct lb_range *rg, size_t n,
                    int (*sink)(void *arg, unsigned long long off, const void *buf, size_t len),
                    void *arg) LB_MUST;

/* GET a small file (at most max bytes, else -EFBIG) into a malloc'd,
 * NUL-terminated *body of *len bytes. With etag_in (non-NULL, non-empty) the
 * request is conditional (If-None-Match): an unchanged file answers 304, which
 * gives 0 with *not_modified = 1, *body = NULL and *len = 0. etag_out (may be
 * NULL) receives the answer's ETag ("" if none) for the next call. Same retries
 * and errors as lb_fetch_file. */
int lb_fetch_small(struct lb_fetch *f, const char *url, size_t max, const char *etag_in,
                   char **body, size_t *len, char etag_out[LB_FETCH_ETAG_MAX],
                   int *not_modified) LB_MUST;

#endif
