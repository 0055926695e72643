/* SPDX-License-Identifier: MIT */
/* Signed files of the tree: F and F.minisig (docs/master-tree.md, "Signatures"), and
 * the rule that keeps an unchanged file as it is, so that devices' conditional GETs
 * keep answering 304 Not Modified. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsop.h"
#include "master.h"

#define SIGNED_MAX (1u << 24) /* largest state or pointer read back */

static int open_dir(struct mtree *t, const char *dir)
{
	int fd = openat(t->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int signed_write(struct mtree *t, const char *dir, const char *name, const char *text, size_t len)
{
	char tc[LB_MINISIGN_TCOMMENT_MAX], sname[256], rel[256];
	char *sig = NULL;
	size_t siglen = 0;
	/* the path in the tree: "keys" for a file at the top (dir "."), else "dir/name" */
	if (snprintf(rel, sizeof rel, "%s%s%s", strcmp(dir, ".") ? dir : "",
	             strcmp(dir, ".") ? "/" : "", name) >= (int)sizeof rel ||
	    snprintf(tc, sizeof tc, "timestamp:%lld file:%s serial:%llu", (long long)t->now, rel,
	             t->serial) >= (int)sizeof tc ||
	    snprintf(sname, sizeof sname, "%s.minisig", name) >= (int)sizeof sname)
		return lb_errf(-ENAMETOOLONG, "%s/%s/%s: name too long", t->path, dir, name);
	int r = lb_minisign_sign(t->key, text, len, tc, &sig, &siglen);
	if (r < 0)
		return lb_err_prefix(r, "%s/%s: signing", t->path, rel);
	int dfd = open_dir(t, dir);
	r = dfd;
	if (dfd >= 0) {
		/* the file first, then its signature: in between, a device that fetches
		 * both sees a mismatch, refuses, and tries again later */
		r = lb_replace_file(dfd, name, text, len, 0644);
		if (!r)
			r = lb_replace_file(dfd, sname, sig, siglen, 0644);
		close(dfd);
	}
	free(sig);
	if (r < 0)
		return lb_errf(r, "%s/%s: %s", t->path, rel, strerror(-r));
	t->written += 2;
	return 0;
}

/* text without its "Serial:" and "Expires:" lines */
static void strip(const char *text, size_t len, struct mbuf *out)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl ? nl + 1 : end;
		if (strncmp(p, "Serial:", 7) && strncmp(p, "Expires:", 8))
			mbuf_put(out, p, (size_t)(next - p));
		p = next;
	}
}

/* "Expires: 2026-12-25T00:00:00Z" of text, or -1 */
static time_t expires_of(const char *text)
{
	const char *v = strstr(text, "\nExpires: ");
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!v)
		return -1;
	const char *end = strptime(v + 10, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return end && (*end == '\n' || !*end) ? timegm(&tm) : -1;
}

int signed_keep(struct mtree *t, const char *dir, const char *name, const char *text,
                long long period)
{
	char sname[256];
	char *old = NULL, *sig = NULL;
	size_t oldlen = 0, siglen = 0;
	struct mbuf a = {0}, b = {0};
	int keep = 0, dfd = open_dir(t, dir);
	if (dfd < 0 || snprintf(sname, sizeof sname, "%s.minisig", name) >= (int)sizeof sname)
		goto out;
	if (lb_read_file(dfd, name, SIGNED_MAX, &old, &oldlen) < 0 ||
	    lb_read_file(dfd, sname, LB_MINISIGN_SIG_MAX, &sig, &siglen) < 0)
		goto out;
	strip(old, oldlen, &a);
	strip(text, strlen(text), &b);
	if (a.err || b.err || a.len != b.len || memcmp(a.s, b.s, a.len))
		goto out;
	time_t exp = expires_of(old);
	long long left = (long long)exp - (long long)t->now;
	if (exp < 0 || left < period / 2 || left > period)
		goto out;
	keep = !lb_minisign_verify(t->key, 1, old, oldlen, sig, siglen, NULL);
	lb_err_clear();
out:
	if (dfd >= 0)
		close(dfd);
	free(old);
	free(sig);
	mbuf_free(&a);
	mbuf_free(&b);
	return keep;
}
