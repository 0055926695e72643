/* SPDX-License-Identifier: MIT */
/* Small helpers of lifeboat-master: messages, exit statuses, a string buffer, time,
 * a file's sha256. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master.h"

int mx_fail(int err, int status)
{
	const char *msg = lb_err_msg();
	if (!msg[0] && err)
		msg = lb_strerror(err);
	if (msg[0])
		fprintf(stderr, "lifeboat-master: %s\n", msg);
	int e = err < 0 ? -err : err;
	if (e && e < LBE_BASE && status != MX_KEY && status != MX_USAGE)
		return MX_IO;
	return status;
}

void mx_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("lifeboat-master: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int mbuf_grow(struct mbuf *b, size_t more)
{
	if (b->err)
		return b->err;
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s)
		return b->err = -ENOMEM;
	b->s = s;
	b->cap = cap;
	return 0;
}

void mbuf_put(struct mbuf *b, const char *s, size_t n)
{
	if (mbuf_grow(b, n))
		return;
	if (n) /* s may be NULL then */
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || mbuf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void mbuf_free(struct mbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof *b);
}

void iso_time(time_t t, char out[32])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

unsigned long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

int mx_file_sha256(int dirfd, const char *name, char hex[65], unsigned long long *size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	static unsigned char buf[1 << 16];
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	*size = 0;
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		crypto_hash_sha256_update(&h, buf, (size_t)n);
		*size += (unsigned long long)n;
	}
	close(fd);
	unsigned char md[32];
	crypto_hash_sha256_final(&h, md);
	sodium_bin2hex(hex, 65, md, sizeof md);
	return r;
}

int mx_option(const char *cmd, int argc, char **argv, int *i, const char *const *names,
              const char **const *dest, size_t n)
{
	const char *a = argv[*i];
	for (size_t k = 0; k < n; k++) {
		size_t len = strlen(names[k]);
		if (strncmp(a, names[k], len) || (a[len] && a[len] != '='))
			continue;
		if (a[len] == '=')
			*dest[k] = a + len + 1;
		else if (*i + 1 < argc)
			*dest[k] = argv[++*i];
		else
			return lb_errf(-LBE_USAGE, "%s: %s needs a value", cmd, names[k]);
		return 1;
	}
	return 0;
}
