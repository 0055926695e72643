/* SPDX-License-Identifier: MIT */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "curl_dl.h"
#include "fsop.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The headers of the answer being received (reset by each status line: a
 * redirect's headers do not leak into the final answer). */
struct answer {
	char reason[64];
	char etag[LB_FETCH_ETAG_MAX]; /* "" if none, or too long */
	long long range_start;        /* first byte of Content-Range, -1 if none */
	long long range_end;          /* its last byte */
	char boundary[80];            /* of a multipart/byteranges answer, "" none */
	unsigned long retry_after;    /* seconds, 0 if none */
};

enum kind { K_FILE, K_SMALL, K_STREAM, K_RANGES };

struct xfer {
	struct lb_fetch *f;
	CURL *c;
	const char *url;
	enum kind kind;
	struct answer a;
	char errbuf[CURL_ERROR_SIZE];
	int checked;   /* the answer's status and length were looked at */
	int err;       /* why a callback stopped the transfer */
	int transient; /* the attempt's failure is worth a retry */
	int ended;     /* the server has nothing more (416, a complete short answer) */
	/* the bandwidth cap: body bytes since the attempt started at t0 (seconds) */
	double t0;
	unsigned long long paced;
	/* K_FILE */
	int dirfd, fd;
	const char *part;
	unsigned long long have, size, reused;
	crypto_hash_sha256_state h;
	/* K_SMALL */
	char *buf;
	size_t len, cap, max;
	/* K_STREAM: have = bytes given to sink; size = the bound; skip = bytes of
	 * the answer to drop (a server that ignored Range sends them again) */
	int (*sink)(void *arg, const void *buf, size_t len);
	void *sink_arg;
	unsigned long long skip;
	/* K_RANGES: rg[next] is the first range not given whole, in = its bytes given;
	 * pos = the file offset of the answer's next body byte; have = bytes given */
	const struct lb_range *rg;
	size_t nrg, next;
	unsigned long long in, pos, budget, body, want;
	int (*rsink)(void *arg, unsigned long long off, const void *buf, size_t len);
	int stop;      /* the transfer was stopped on purpose (done, or a byte skipped) */
	int multipart; /* parsing a multipart/byteranges body */
	int mdata;     /* in a part's data, mleft bytes to go */
	int mrange;    /* the part's headers had a Content-Range */
	unsigned long long mleft;
	char line[128];
	size_t llen;
	char *ranges; /* the Range header's value */
};

int lb_fetch_init(struct lb_fetch *f)
{
	memset(f, 0, sizeof *f);
	f->retries = 5;
	f->retry_delay_ms = 1000;
	f->retry_max_ms = 60000;
	f->connect_timeout = 30;
	f->low_speed_limit = 1;
	f->low_speed_time = 60;
	f->user_agent = "lifeboat";
	int r = lb_curl_load();
	if (r)
		return r;
	if (pthread_once(&global_once, global_init) != 0 || global_rc != CURLE_OK)
		return lb_errf(-ENOMEM, "libcurl: %s", curl_easy_strerror(global_rc));
	if (sodium_init() < 0)
		return lb_errf(-ENOMEM, "libsodium: initialisation failed");
	f->curl = curl_easy_init();
	if (!f->curl)
		return lb_errf(-ENOMEM, "libcurl: cannot create a handle");
	return 0;
}

void lb_fetch_free(struct lb_fetch *f)
{
	if (f->curl)
		curl_easy_cleanup(f->curl);
	f->curl = NULL;
}

static void progress(struct xfer *x, unsigned long long now, unsigned long long total)
{
	if (x->f->progress)
		x->f->progress(x->f->progress_arg, now, total);
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	                      .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bandwidth cap. libcurl's CURLOPT_MAX_RECV_SPEED_LARGE only averages over
 * several seconds and lets a burst of what the kernel has buffered through, so
 * the data callbacks also wait until the bytes so far are within the cap: while
 * they wait, nothing is read from the socket and TCP slows the sender down. */
static void pace(struct xfer *x, size_t len)
{
	unsigned long long cap = x->f->max_speed;
	if (!cap)
		return;
	x->paced += len;
	double ahead = (double)x->paced / (double)cap - (now_s() - x->t0);
	if (ahead > 0.001)
		sleep_ms((unsigned long)(ahead * 1000));
}

/* Copy the value of header line p (len bytes) into out when its name is name;
 * returns 1 if it matched and the value fits (printable ASCII only). */
static int header_value(const char *p, size_t len, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(p, name, n) != 0 || p[n] != ':')
		return 0;
	p += n + 1;
	len -= n + 1;
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' ' ||
	                   p[len - 1] == '\t'))
		len--;
	if (len >= size)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	memcpy(out, p, len);
	out[len] = 0;
	return 1;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	char v[LB_FETCH_ETAG_MAX];

	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* HTTP/1.1 404 Not Found: a new answer */
		memset(&x->a, 0, sizeof x->a);
		x->a.range_start = x->a.range_end = -1;
		const char *s = memchr(p, ' ', len);
		if (s && (size_t)(s - p) + 5 < len) {
			s += 5; /* past " 404 " */
			size_t i = 0;
			for (;
			     s < p + len && i + 1 < sizeof x->a.reason && *s != '\r' && *s != '\n';
			     s++)
				x->a.reason[i++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
			x->a.reason[i] = 0;
		}
	} else if (header_value(p, len, "ETag", v, sizeof v)) {
		memcpy(x->a.etag, v, sizeof v);
	} else if (header_value(p, len, "Content-Range", v, sizeof v)) {
		unsigned long long start, end;
		int k = sscanf(v, "bytes %llu-%llu", &start, &end);
		if (k >= 1 && start <= LLONG_MAX)
			x->a.range_start = (long long)start;
		if (k == 2 && end >= start && end <= LLONG_MAX)
			x->a.range_end = (long long)end;
	} else if (header_value(p, len, "Content-Type", v, sizeof v)) {
		const char *b = strcasestr(v, "boundary=");
		if (!strncasecmp(v, "multipart/byteranges", 20) && b) {
			b += 9;
			size_t bl = strcspn(b, "\";");
			if (*b == '"')
				bl = strcspn(++b, "\"");
			if (bl && bl < sizeof x->a.boundary) {
				memcpy(x->a.boundary, b, bl);
				x->a.boundary[bl] = 0;
			}
		}
	} else if (header_value(p, len, "Retry-After", v, sizeof v)) {
		char *end;
		unsigned long s = strtoul(v, &end, 10);
		if (end != v && !*end)
			x->a.retry_after = s;
	}
	return len;
}

static const char *reason_of(struct xfer *x, long code)
{
	if (x->a.reason[0])
		return x->a.reason;
	switch (code) { /* HTTP/2 has no reason phrases */
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "HTTP error";
	}
}

static long response_code(struct xfer *x)
{
	long code = 0;
	if (curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	return code;
}

static int is_http(struct xfer *x)
{
	const char *scheme = NULL;
	return curl_easy_getinfo(x->c, CURLINFO_SCHEME, &scheme) == CURLE_OK && scheme &&
	       strncasecmp(scheme, "http", 4) == 0;
}

static long long content_length(struct xfer *x)
{
	curl_off_t cl = -1;
	if (curl_easy_getinfo(x->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK)
		cl = -1;
	return cl;
}

static int too_large(struct xfer *x)
{
	if (x->kind != K_SMALL)
		return lb_errf(-LBE_HASH, "%s: larger than the %llu bytes the signed metadata says",
		               x->url, x->size);
	return lb_errf(-EFBIG, "%s: larger than the %zu bytes allowed", x->url, x->max);
}

static int delete_part(struct xfer *x)
{
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->have = 0;
	x->reused = 0;
	crypto_hash_sha256_init(&x->h);
	return lb_unlink(x->dirfd, x->part);
}

/* An empty .part, replacing whatever was there. */
static int new_part(struct xfer *x)
{
	if (x->fd >= 0)
		close(x->fd);
	x->have = 0;
	x->reused = 0;
	crypto_hash_sha256_init(&x->h);
	x->fd = lb_create_unsafe(x->dirfd, x->part, 0644, 1);
	if (x->fd < 0)
		return lb_errf(x->fd, "%s: %s", x->part, strerror(-x->fd));
	return 0;
}

/* The first body bytes (or the end of an answer without any): is this the
 * answer we asked for? */
static int check_file_answer(struct xfer *x)
{
	x->checked = 1;
	if (is_http(x)) {
		long code = response_code(x);
		if (code != 200 && code != 206)
			return lb_errf(-EPROTO, "%s: unexpected answer %ld %s", x->url, code,
			               reason_of(x, code));
		if (code == 200 && x->have > 0 && x->kind == K_STREAM) {
			x->skip = x->have; /* the server ignores Range: drop what was given */
		} else if (code == 200 && x->have > 0) {
			int r = new_part(x); /* the server ignores Range: start over */
			if (r)
				return r;
		}
		if (code == 206 && x->a.range_start != (long long)x->have)
			return lb_errf(-EPROTO,
			               "%s: asked for the bytes from %llu, got them from %lld",
			               x->url, x->have, x->a.range_start);
	}
	long long cl = content_length(x);
	if (cl >= 0 && (unsigned long long)cl > x->size - x->have + x->skip)
		return too_large(x);
	return 0;
}

static size_t on_file_data(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	x->f->bytes += len;
	if (!x->checked && (x->err = check_file_answer(x)) != 0)
		return len ? 0 : 1; /* anything but len stops the transfer */
	if (len > x->size - x->have) {
		x->err = too_large(x);
		return 0;
	}
	int r = lb_write_all(x->fd, p, len);
	if (r) {
		x->err = lb_errf(r, "%s: %s", x->part, strerror(-r));
		return 0;
	}
	crypto_hash_sha256_update(&x->h, (const unsigned char *)p, len);
	x->have += len;
	progress(x, x->have, x->size);
	pace(x, len);
	return len;
}

static size_t on_stream_data(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, all = len;

	x->f->bytes += len;
	if (!x->checked && (x->err = check_file_answer(x)) != 0)
		return len ? 0 : 1;
	size_t drop = x->skip < len ? (size_t)x->skip : len;
	x->skip -= drop;
	p += drop;
	len -= drop;
	if (len > x->size - x->have) {
		x->err = too_large(x);
		return 0;
	}
	if (len && (x->err = x->sink(x->sink_arg, p, len)) != 0)
		return 0;
	x->have += len;
	progress(x, x->have, x->size);
	pace(x, all);
	return all;
}

/* K_RANGES: body bytes at file offset x->pos. Those of the next wanted range go
 * to the sink, in order; others are passed over. Returns 1 to stop the transfer:
 * every range is there, or the answer went past a byte still wanted (a server
 * that left out or reordered a part: the rest is asked for again). */
static int deliver(struct xfer *x, const char *p, size_t len)
{
	while (len && x->next < x->nrg) {
		const struct lb_range *g = &x->rg[x->next];
		unsigned long long want = g->off + x->in;
		if (x->pos > want)
			return x->stop = 1;
		if (x->pos < want) {
			size_t k = want - x->pos < len ? (size_t)(want - x->pos) : len;
			p += k;
			len -= k;
			x->pos += k;
			continue;
		}
		size_t k = g->len - x->in < len ? (size_t)(g->len - x->in) : len;
		int r = x->rsink(x->sink_arg, x->pos, p, k);
		if (r) {
			x->err = r;
			return 1;
		}
		x->in += k;
		x->pos += k;
		x->have += k;
		p += k;
		len -= k;
		if (x->in == g->len) {
			x->next++;
			x->in = 0;
		}
	}
	x->pos += len;
	if (x->next == x->nrg)
		return x->stop = 1;
	return 0;
}

/* One line of a multipart/byteranges body outside the parts' data. */
static void part_line(struct xfer *x)
{
	char *l = x->line;
	size_t n = x->llen, bl = strlen(x->a.boundary);
	while (n && (l[n - 1] == '\r' || l[n - 1] == '\n'))
		n--;
	l[n] = 0;
	unsigned long long a, b;
	if (n >= 2 + bl && !strncmp(l, "--", 2) && !strncmp(l + 2, x->a.boundary, bl)) {
		x->mrange = 0; /* a part begins (or, with "--" after it, the body ends) */
	} else if (!strncasecmp(l, "Content-Range:", 14) &&
	           sscanf(l + 14, " bytes %llu-%llu", &a, &b) == 2 && b >= a) {
		x->pos = a;
		x->mleft = b - a + 1;
		x->mrange = 1;
	} else if (!n && x->mrange) {
		x->mdata = 1;
	}
	x->llen = 0;
}

static int multipart(struct xfer *x, const char *p, size_t len)
{
	while (len) {
		if (x->mdata) {
			size_t k = x->mleft < len ? (size_t)x->mleft : len;
			if (deliver(x, p, k))
				return 1;
			p += k;
			len -= k;
			if (!(x->mleft -= k))
				x->mdata = x->mrange = 0;
			continue;
		}
		char c = *p++;
		len--;
		if (x->llen + 1 < sizeof x->line)
			x->line[x->llen++] = c;
		if (c == '\n')
			part_line(x);
	}
	return 0;
}

static int check_ranges_answer(struct xfer *x)
{
	x->checked = 1;
	x->pos = 0;
	x->multipart = x->mdata = x->mrange = 0;
	x->llen = 0;
	x->budget = x->f->bytes; /* received before this answer */
	if (!is_http(x))
		return 0; /* file://: the whole file */
	long code = response_code(x);
	if (code == 206 && x->a.boundary[0]) {
		x->multipart = 1;
	} else if (code == 206) {
		if (x->a.range_start < 0)
			return lb_errf(-EPROTO, "%s: a 206 answer without Content-Range", x->url);
		x->pos = (unsigned long long)x->a.range_start;
	} else if (code != 200) {
		return lb_errf(-EPROTO, "%s: unexpected answer %ld %s", x->url, code,
		               reason_of(x, code));
	}
	long long cl = content_length(x);
	/* the whole file, or the parts asked for with their headers */
	if (cl >= 0 && (unsigned long long)cl > x->size + 256 * (x->nrg - x->next + 1))
		return too_large(x);
	return 0;
}

static size_t on_ranges_data(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	x->f->bytes += len;
	if (!x->checked && (x->err = check_ranges_answer(x)) != 0)
		return len ? 0 : 1;
	x->body += len;
	if (x->body > x->size + 256 * (x->nrg + 1)) {
		x->err = too_large(x);
		return 0;
	}
	int stop = x->multipart ? multipart(x, p, len) : deliver(x, p, len);
	progress(x, x->have, x->want);
	pace(x, len);
	return stop ? 0 : len;
}

/* "a-b,c-d,...": the ranges still wanted, at most LB_FETCH_RANGES_MAX of them. */
static int range_header(struct xfer *x)
{
	size_t cap = 44 * LB_FETCH_RANGES_MAX + 1, at = 0;
	if (!x->ranges && !(x->ranges = malloc(cap)))
		return -ENOMEM;
	for (size_t i = x->next; i < x->nrg && i < x->next + LB_FETCH_RANGES_MAX; i++) {
		unsigned long long a = x->rg[i].off + (i == x->next ? x->in : 0);
		at += (size_t)snprintf(x->ranges + at, cap - at, "%s%llu-%llu", at ? "," : "", a,
		                       x->rg[i].off + x->rg[i].len - 1);
	}
	return 0;
}

static int check_small_answer(struct xfer *x)
{
	x->checked = 1;
	if (is_http(x)) {
		long code = response_code(x);
		if (code < 200 || code > 299)
			return lb_errf(-EPROTO, "%s: unexpected answer %ld %s", x->url, code,
			               reason_of(x, code));
	}
	long long cl = content_length(x);
	if (cl >= 0 && (unsigned long long)cl > x->max)
		return too_large(x);
	return 0;
}

static size_t on_small_data(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	x->f->bytes += len;
	if (!x->checked && (x->err = check_small_answer(x)) != 0)
		return len ? 0 : 1;
	if (len > x->max - x->len) {
		x->err = too_large(x);
		return 0;
	}
	if (x->len + len + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		while (cap < x->len + len + 1)
			cap *= 2;
		char *nb = realloc(x->buf, cap);
		if (!nb) {
			x->err = lb_errf(-ENOMEM, "%s: out of memory", x->url);
			return 0;
		}
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, len);
	x->len += len;
	long long cl = content_length(x);
	progress(x, x->len, cl > 0 ? (unsigned long long)cl : 0);
	pace(x, len);
	return len;
}

/* The error of a failed attempt; sets x->transient when a retry may help. */
static int curl_error(struct xfer *x, CURLcode rc)
{
	const char *what = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	int err;

	if (rc == CURLE_HTTP_RETURNED_ERROR) {
		long code = response_code(x);
		if (code == 408 || code == 429 || code >= 500) {
			x->transient = 1;
			err = code == 408 ? -ETIMEDOUT : -EIO;
		} else if (code == 404 || code == 410) {
			err = -ENOENT;
		} else if (code == 401 || code == 403 || code == 407) {
			err = -EACCES;
		} else {
			err = -EPROTO;
		}
		return lb_errf(err, "%s: %ld %s", x->url, code, reason_of(x, code));
	}
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: err = -EHOSTUNREACH; break;
	case CURLE_COULDNT_CONNECT: err = -ECONNREFUSED; break;
	case CURLE_OPERATION_TIMEDOUT: err = -ETIMEDOUT; break;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR: err = -ECONNRESET; break;
	default: err = 0;
	}
	if (err) {
		x->transient = 1;
		return lb_errf(err, "%s: %s", x->url, what);
	}
	switch (rc) {
	case CURLE_FILE_COULDNT_READ_FILE: err = -ENOENT; break;
	case CURLE_TOO_MANY_REDIRECTS: err = -ELOOP; break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT: err = -EINVAL; break;
	case CURLE_PEER_FAILED_VERIFICATION: err = -EACCES; break;
	case CURLE_OUT_OF_MEMORY: err = -ENOMEM; break;
	case CURLE_ABORTED_BY_CALLBACK: err = -ECANCELED; break;
	default: err = -EIO;
	}
	return lb_errf(err, "%s: %s", x->url, what);
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(c, opt, val);                                        \
	} while (0)

/* One request; returns 0 or the error (x->transient set if worth a retry). */
static int attempt(struct xfer *x, struct curl_slist *headers)
{
	struct lb_fetch *f = x->f;
	CURL *c = x->c;
	CURLcode rc = CURLE_OK;
	char range[32];

	curl_easy_reset(c); /* keeps the open connections */
	memset(&x->a, 0, sizeof x->a);
	x->a.range_start = -1;
	x->errbuf[0] = 0;
	x->checked = 0;
	x->err = 0;
	x->transient = 0;
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_URL, x->url);
	/* no CURLOPT_NOSIGNAL: libcurl ignores SIGPIPE during the transfer (a TLS
	 * write to a closed connection), and resolves names on a thread */
	SET(CURLOPT_PROTOCOLS_STR, "http,https,file");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 5L);
	SET(CURLOPT_FAILONERROR, 1L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, f->connect_timeout);
	SET(CURLOPT_LOW_SPEED_LIMIT, f->low_speed_limit);
	SET(CURLOPT_LOW_SPEED_TIME, f->low_speed_time);
	if (f->max_speed) {
		/* smaller reads, for a smoother pace */
		long bufsize = f->max_speed / 8 < 1024 ? 1024 : (long)(f->max_speed / 8);
		SET(CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)f->max_speed);
		SET(CURLOPT_BUFFERSIZE,
		    bufsize < CURL_MAX_WRITE_SIZE ? bufsize : CURL_MAX_WRITE_SIZE);
	}
	if (f->user_agent)
		SET(CURLOPT_USERAGENT, f->user_agent);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEDATA, x);
	if (x->kind == K_RANGES) {
		x->checked = x->stop = 0;
		x->body = 0;
		SET(CURLOPT_WRITEFUNCTION, on_ranges_data);
		if (strncasecmp(x->url, "file:", 5)) {
			if (range_header(x))
				return lb_errf(-ENOMEM, "%s: out of memory", x->url);
			SET(CURLOPT_RANGE, x->ranges);
		}
	} else if (x->kind != K_SMALL) {
		x->skip = 0;
		SET(CURLOPT_WRITEFUNCTION, x->kind == K_FILE ? on_file_data : on_stream_data);
		if (x->have > 0) {
			snprintf(range, sizeof range, "%llu-", x->have);
			SET(CURLOPT_RANGE, range);
		}
	} else {
		x->len = 0;
		SET(CURLOPT_WRITEFUNCTION, on_small_data);
		SET(CURLOPT_ACCEPT_ENCODING, ""); /* what this libcurl can decode */
		if (headers)
			SET(CURLOPT_HTTPHEADER, headers);
	}
	if (rc != CURLE_OK)
		return lb_errf(rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL, "%s: %s", x->url,
		               curl_easy_strerror(rc));

	x->t0 = now_s();
	x->paced = 0;
	rc = curl_easy_perform(c);
	long redirects = 0;
	if (curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects) != CURLE_OK)
		redirects = 0;
	f->requests += 1 + (unsigned long long)redirects;

	if (x->err)
		return x->err;
	if (x->kind == K_RANGES) {
		if (x->stop || rc == CURLE_OK)
			return 0;
		return curl_error(x, rc);
	}
	if (rc == CURLE_OK && !x->checked) {
		/* no body at all: 304, or an empty answer */
		if (x->kind == K_SMALL && is_http(x) && response_code(x) == 304)
			return 0;
		int r = x->kind == K_SMALL ? check_small_answer(x) : check_file_answer(x);
		if (r)
			return r;
	}
	if (x->kind == K_SMALL)
		return rc == CURLE_OK ? 0 : curl_error(x, rc);

	if (x->have > 0 && ((rc == CURLE_HTTP_RETURNED_ERROR && response_code(x) == 416) ||
	                    rc == CURLE_BAD_DOWNLOAD_RESUME)) {
		x->ended = 1; /* the server has no byte beyond what is here */
		return 0;
	}
	if (rc != CURLE_OK)
		return curl_error(x, rc);
	if (x->have < x->size && is_http(x) && content_length(x) < 0) {
		/* an answer delimited by the closing of the connection may have been
		 * cut: resume (a 416 will tell if that was all) */
		x->transient = 1;
		return lb_errf(-ECONNRESET, "%s: the transfer ended after %llu of %llu bytes",
		               x->url, x->have, x->size);
	}
	x->ended = 1; /* a file:// or Content-Length answer: what the server has */
	return 0;
}

static int done(struct xfer *x)
{
	if (x->kind == K_RANGES)
		return x->next == x->nrg;
	return x->kind != K_SMALL ? x->have >= x->size || x->ended : 1;
}

/* Attempts until done, a permanent error, or f->retries attempts in a row that
 * brought nothing new. */
static int run(struct xfer *x, struct curl_slist *headers)
{
	struct lb_fetch *f = x->f;
	unsigned long long best = x->kind != K_SMALL ? x->have : 0;
	int fails = 0, attempts = 0;

	for (;;) {
		unsigned long long before = x->have;
		int r = attempt(x, headers);
		attempts++;
		if (!r && done(x))
			return 0;
		if (!r && x->kind == K_RANGES) {
			/* an answer with only some of the ranges: ask for the rest */
			if (x->have > before)
				continue;
			return lb_errf(-EPROTO, "%s: the answer had none of the bytes asked for",
			               x->url);
		}
		if (r && !x->transient)
			return r;
		unsigned long long now = x->kind != K_SMALL ? x->have : x->len;
		if (now > best) {
			best = now;
			fails = 0;
		} else {
			fails++;
		}
		if (fails > f->retries) {
			char msg[1024];
			snprintf(msg, sizeof msg, "%s", lb_err_msg());
			return lb_errf(r, "%s (gave up after %d attempts)", msg, attempts);
		}
		unsigned long delay = f->retry_delay_ms;
		for (int i = 1; i < fails && delay < f->retry_max_ms; i++)
			delay *= 2;
		if (x->a.retry_after && x->a.retry_after < f->retry_max_ms / 1000 &&
		    x->a.retry_after * 1000 > delay)
			delay = x->a.retry_after * 1000;
		if (delay > f->retry_max_ms)
			delay = f->retry_max_ms;
		f->retried++;
		sleep_ms(delay);
	}
}

/* Hash the bytes of dirfd/part already there and open it for appending (or
 * create it). */
static int open_part(struct xfer *x)
{
	unsigned char buf[16384];
	int fd = openat(x->dirfd, x->part, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int r = 0;

	crypto_hash_sha256_init(&x->h);
	x->have = 0;
	if (fd < 0 && errno != ENOENT)
		return lb_errf(-errno, "%s: %s", x->part, strerror(errno));
	while (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = lb_errf(-errno, "%s: %s", x->part, strerror(errno));
		if (n <= 0)
			break;
		crypto_hash_sha256_update(&x->h, buf, (size_t)n);
		x->have += (size_t)n;
		if (x->have > x->size)
			break; /* not the file expected: start over */
	}
	if (fd >= 0)
		close(fd);
	if (r)
		return r;
	if (x->have == 0 || x->have > x->size)
		return new_part(x);
	x->reused = x->have;
	x->fd = lb_open_append(x->dirfd, x->part);
	if (x->fd < 0)
		return lb_errf(x->fd, "%s: %s", x->part, strerror(-x->fd));
	return 0;
}

/* Size and hash; then fsync, rename to name, fsync the directory. */
static int finish(struct xfer *x, const char *name, const unsigned char want[32])
{
	unsigned char got[32];
	char hex[65], want_hex[65];
	int r;

	if (x->have != x->size) {
		r = lb_errf(-LBE_HASH, "%s: got %llu bytes, the signed metadata says %llu", x->url,
		            x->have, x->size);
		(void)delete_part(x);
		return r;
	}
	crypto_hash_sha256_final(&x->h, got);
	if (sodium_memcmp(got, want, sizeof got) != 0) {
		sodium_bin2hex(hex, sizeof hex, got, sizeof got);
		sodium_bin2hex(want_hex, sizeof want_hex, want, 32);
		r = lb_errf(-LBE_HASH, "%s: sha256 %s, the signed metadata says %s", x->url, hex,
		            want_hex);
		(void)delete_part(x);
		return r;
	}
	r = lb_fsync(x->fd);
	if (close(x->fd) < 0 && !r)
		r = -errno;
	x->fd = -1;
	if (r)
		return lb_errf(r, "%s: %s", x->part, strerror(-r));
	r = lb_rename(x->dirfd, x->part, x->dirfd, name);
	if (r)
		return lb_errf(r, "%s: renaming to %s: %s", x->part, name, strerror(-r));
	r = lb_fsync_dir(x->dirfd, NULL);
	if (r)
		return lb_errf(r, "%s: syncing the directory: %s", name, strerror(-r));
	return 0;
}

int lb_fetch_file(struct lb_fetch *f, const char *url, int dirfd, const char *name,
                  unsigned long long size, const char sha256[65])
{
	unsigned char want[32];
	size_t wlen = 0;
	char part[NAME_MAX + 1];
	struct xfer x = {.f = f,
	                 .c = f->curl,
	                 .url = url,
	                 .kind = K_FILE,
	                 .dirfd = dirfd,
	                 .fd = -1,
	                 .part = part,
	                 .size = size};
	int r;

	if (!f->curl)
		return lb_errf(-EINVAL, "%s: fetcher not initialised", url);
	if (strnlen(sha256, 65) != 64 ||
	    sodium_hex2bin(want, sizeof want, sha256, 64, NULL, &wlen, NULL) != 0 ||
	    wlen != sizeof want)
		return lb_errf(-EINVAL, "%s: invalid sha256 '%.64s'", url, sha256);
	if ((size_t)snprintf(part, sizeof part, "%s%s", name, LB_FETCH_PART_SUFFIX) >= sizeof part)
		return lb_errf(-ENAMETOOLONG, "%s: name too long", name);

	r = open_part(&x);
	for (int round = 0; !r; round++) {
		progress(&x, x.have, x.size);
		if (x.have < x.size)
			r = run(&x, NULL);
		if (r)
			break;
		int resumed = x.reused > 0;
		r = finish(&x, name, want);
		/* bytes from an earlier run that do not verify (a torn write at a power
		 * cut, a file changed on the server): download everything once more */
		if (r != -LBE_HASH || !resumed || round > 0)
			break;
		x.ended = 0;
		r = new_part(&x);
	}
	if (!r)
		f->reused += x.reused;
	/* keep a .part to resume from, unless it is empty or wrong */
	if (r && (x.have == 0 || r == -LBE_HASH))
		(void)delete_part(&x);
	if (x.fd >= 0)
		close(x.fd);
	return r;
}

int lb_fetch_small(struct lb_fetch *f, const char *url, size_t max, const char *etag_in,
                   char **body, size_t *len, char etag_out[LB_FETCH_ETAG_MAX], int *not_modified)
{
	struct xfer x = {.f = f, .c = f->curl, .url = url, .kind = K_SMALL, .fd = -1, .max = max};
	struct curl_slist *headers = NULL;
	char line[LB_FETCH_ETAG_MAX + 32];
	int r;

	*body = NULL;
	*len = 0;
	if (not_modified)
		*not_modified = 0;
	if (etag_out)
		etag_out[0] = 0;
	if (!f->curl)
		return lb_errf(-EINVAL, "%s: fetcher not initialised", url);
	if (etag_in && *etag_in) {
		size_t n = strlen(etag_in), i = 0;
		while (i < n && etag_in[i] >= 0x20 && etag_in[i] <= 0x7e)
			i++;
		if (i < n || n >= LB_FETCH_ETAG_MAX)
			return lb_errf(-EINVAL, "%s: invalid ETag", url);
		snprintf(line, sizeof line, "If-None-Match: %s", etag_in);
		headers = curl_slist_append(NULL, line);
		if (!headers)
			return lb_errf(-ENOMEM, "%s: out of memory", url);
	}
	r = run(&x, headers);
	curl_slist_free_all(headers);
	if (r) {
		free(x.buf);
		return r;
	}
	if (is_http(&x) && response_code(&x) == 304) {
		free(x.buf);
		if (not_modified)
			*not_modified = 1;
		/* the ETag the caller has (a 304 may name it differently: nginx
		 * gives a strong one for a file it sent compressed, with a weak one) */
		if (etag_out)
			snprintf(etag_out, LB_FETCH_ETAG_MAX, "%s", etag_in ? etag_in : "");
		return 0;
	}
	if (!x.buf && !(x.buf = malloc(1)))
		return lb_errf(-ENOMEM, "%s: out of memory", url);
	x.buf[x.len] = 0;
	*body = x.buf;
	*len = x.len;
	if (etag_out)
		memcpy(etag_out, x.a.etag, LB_FETCH_ETAG_MAX);
	return 0;
}

int lb_fetch_stream(struct lb_fetch *f, const char *url, unsigned long long max,
                    int (*sink)(void *arg, const void *buf, size_t len), void *arg,
                    unsigned long long *got)
{
	struct xfer x = {.f = f,
	                 .c = f->curl,
	                 .url = url,
	                 .kind = K_STREAM,
	                 .fd = -1,
	                 .size = max,
	                 .sink = sink,
	                 .sink_arg = arg};
	*got = 0;
	if (!f->curl)
		return lb_errf(-EINVAL, "%s: fetcher not initialised", url);
	progress(&x, 0, max);
	int r = run(&x, NULL);
	*got = x.have;
	return r;
}

int lb_fetch_ranges(struct lb_fetch *f, const char *url, unsigned long long size,
                    const struct lb_range *rg, size_t n,
                    int (*sink)(void *arg, unsigned long long off, const void *buf, size_t len),
                    void *arg)
{
	struct xfer x = {.f = f,
	                 .c = f->curl,
	                 .url = url,
	                 .kind = K_RANGES,
	                 .fd = -1,
	                 .size = size,
	                 .rg = rg,
	                 .nrg = n,
	                 .rsink = sink,
	                 .sink_arg = arg};
	if (!f->curl)
		return lb_errf(-EINVAL, "%s: fetcher not initialised", url);
	for (size_t i = 0; i < n; i++) {
		if (!rg[i].len || rg[i].off + rg[i].len > size ||
		    (i && rg[i].off < rg[i - 1].off + rg[i - 1].len))
			return lb_errf(-EINVAL, "%s: ranges not in order or past the end", url);
		x.want += rg[i].len;
	}
	progress(&x, 0, x.want);
	int r = n ? run(&x, NULL) : 0;
	free(x.ranges);
	return r;
}
