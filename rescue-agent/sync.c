/* SPDX-License-Identifier: MIT */
/* The device side of the link. Everything the master says is a signed static
 * file: devices/ID (which group), groups/G/state (the desired state), and the
 * packages named in it by sha256. A sync that finds nothing changed costs two
 * conditional requests answered 304 and nothing else. Verified copies and their
 * ETags are kept in STATE/sync/, downloads in STATE/cache/ (resumed there after
 * an interruption or a reboot). A file signed by a key the device does not trust
 * makes it fetch the master's signed key list (key rotation, docs/master-tree.md):
 * keys listed there by a key it trusts are trusted too, from then on. */
#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bootstate.h"
#include "cmd.h"
#include "deb822.h"
#include "debpatch.h"
#include "desired.h"
#include "engine.h"
#include "fetch.h"
#include "fsop.h"
#include "imgwrite.h"
#include "minisign.h"
#include "pkgdb.h"
#include "slots.h"
#include "version.h"

#define MAX_KEYS         8 /* pinned keys; also keys in a key list */
#define MAX_STATE_SIZE   (16u << 20)
#define MAX_KEYLIST_SIZE (64u << 10)

struct sync {
	struct lb_ctx *ctx;
	struct lb_fetch *f;                /* the link's (struct lb_link) */
	struct lb_mkey keys[2 * MAX_KEYS]; /* trusted: the pinned ones, then the key list's */
	size_t nkeys, npinned;
	unsigned long long list_serial; /* of the key list accepted last (STATE/sync/keys) */
	bool have_list, list_tried;     /* list_tried: the master's list was fetched */
	const char *master;
	int syncfd, cachefd;
};

static int load_keys(struct sync *s, const char *spec)
{
	char *copy = strdup(spec ? spec : LB_DEFAULT_PUBKEY), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *k = strtok_r(copy, ", ", &save); k && !r; k = strtok_r(NULL, ", ", &save)) {
		if (s->nkeys == MAX_KEYS) {
			r = lb_errf(-LBE_USAGE, "at most %d public keys", MAX_KEYS);
			break;
		}
		/* a key named without a leading '/' lives in the root, like the config */
		int dirfd = k[0] == '/' ? AT_FDCWD : s->ctx->rootfd;
		r = lb_minisign_load_pubkey(dirfd, k, &s->keys[s->nkeys]);
		if (r)
			r = lb_err_prefix(r, "public key %s%s", k[0] == '/' ? "" : "/", k);
		else
			s->nkeys++;
	}
	free(copy);
	return r;
}

static int open_dir(struct lb_ctx *ctx, const char *name, int *fd)
{
	int r = lb_ensure_dir(ctx->statefd, name, 0755);
	if (r)
		return lb_errf(r, "%s/%s: %s", ctx->state, name, strerror(-r));
	*fd = openat(ctx->statefd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *fd < 0 ? lb_errf(-errno, "%s/%s: %s", ctx->state, name, strerror(errno)) : 0;
}

/* The Expires field of p ("2026-12-25T00:00:00Z") as a time. */
static int get_expiry(const char *what, const struct lb_para *p, time_t *t)
{
	const char *v = lb_para_get(p, "Expires");
	if (!v)
		return lb_errf(-LBE_FORMAT, "%s: no Expires field", what);
	struct tm tm = {0};
	const char *end = strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return lb_errf(-LBE_FORMAT, "%s: bad Expires '%.40s'", what, v);
	*t = timegm(&tm);
	return 0;
}

/* Is the Expires of p in the past? */
static int check_expiry(const char *what, const struct lb_para *p)
{
	time_t t;
	int r = get_expiry(what, p, &t);
	if (!r && t < time(NULL))
		return lb_errf(-LBE_STALE, "%s: expired at %s; the master has not published since",
		               what, lb_para_get(p, "Expires"));
	return r;
}

static char *join(const char *a, const char *b)
{
	char *out;
	return asprintf(&out, "%s/%s", a, b) < 0 ? NULL : out;
}

/* ---- key rotation: the signed key list (docs/master-tree.md, "Key rotation") ---- */

struct keylist {
	unsigned long long serial;
	time_t expires;
	struct lb_mkey keys[MAX_KEYS];
	size_t n;
};

/* Parse a key list: Format 1, Serial, Expires, Keys (1 to MAX_KEYS public keys in
 * minisign's bare base64 form, one a line). */
static int parse_keylist(const char *body, size_t len, struct keylist *kl)
{
	struct lb_doc doc = {0};
	memset(kl, 0, sizeof *kl);
	int r = lb_deb822_parse(body, len, &doc);
	const struct lb_para *p = !r && doc.n == 1 ? &doc.paras[0] : NULL;
	if (!r && !p)
		r = lb_errf(-LBE_FORMAT, "one paragraph expected");
	const char *fmt = p ? lb_para_get(p, "Format") : NULL,
	           *ser = p ? lb_para_get(p, "Serial") : NULL,
	           *keys = p ? lb_para_get(p, "Keys") : NULL;
	if (!r && (!fmt || strspn(fmt, "0123456789") != strlen(fmt) || !*fmt))
		r = lb_errf(-LBE_FORMAT, "no valid Format field");
	else if (!r && strcmp(fmt, "1"))
		r = lb_errf(-LBE_FORMAT_VER, "Format %.20s is newer than this lifeboat reads", fmt);
	char *end = NULL;
	errno = 0;
	if (!r && ser && *ser >= '0' && *ser <= '9')
		kl->serial = strtoull(ser, &end, 10);
	if (!r && (!end || *end || errno))
		r = lb_errf(-LBE_FORMAT, "no valid Serial field");
	if (!r)
		r = get_expiry("Expires", p, &kl->expires);
	if (!r && !keys)
		r = lb_errf(-LBE_FORMAT, "no Keys field");
	for (const char *k = keys; !r && k && *k;) {
		size_t n = strcspn(k, "\n \t");
		if (n && kl->n == MAX_KEYS)
			r = lb_errf(-LBE_FORMAT, "Keys: more than %d keys", MAX_KEYS);
		else if (n && (r = lb_minisign_parse_pubkey(k, n, &kl->keys[kl->n])) == 0)
			kl->n++;
		k += n + (k[n] != 0);
	}
	if (!r && !kl->n)
		r = lb_errf(-LBE_FORMAT, "Keys: no key");
	lb_doc_free(&doc);
	return r;
}

static bool trusted_id(const struct sync *s, const uint8_t id[8])
{
	for (size_t i = 0; i < s->nkeys; i++)
		if (!memcmp(s->keys[i].id, id, 8))
			return true;
	return false;
}

/* Trust the pinned keys and those of kl (unless it has expired). */
static void trust_list(struct sync *s, const struct keylist *kl)
{
	s->nkeys = s->npinned;
	if (kl->expires < time(NULL))
		return; /* a key only in an expired list is not trusted */
	for (size_t i = 0; i < kl->n; i++)
		if (!trusted_id(s, kl->keys[i].id))
			s->keys[s->nkeys++] = kl->keys[i];
}

/* The key list accepted by an earlier run: STATE/sync/keys, keys.minisig and
 * keys.signer (the public key that verified it then, which may since have left the
 * lists). A damaged copy is warned about and ignored. */
static void load_accepted(struct sync *s)
{
	char *body = NULL, *sig = NULL, *signer = NULL;
	size_t len = 0, siglen = 0, slen = 0;
	struct lb_mkey key;
	struct keylist kl = {0};
	int r = lb_read_file(s->syncfd, "keys", MAX_KEYLIST_SIZE, &body, &len);
	if (r == -ENOENT) {
		lb_err_clear();
		return;
	}
	if (!r)
		r = lb_read_file(s->syncfd, "keys.minisig", LB_MINISIGN_SIG_MAX, &sig, &siglen);
	if (!r)
		r = lb_read_file(s->syncfd, "keys.signer", LB_MINISIGN_KEYFILE_MAX, &signer, &slen);
	if (!r)
		r = lb_minisign_parse_pubkey(signer, slen, &key);
	if (!r)
		r = lb_minisign_verify(&key, 1, body, len, sig, siglen, NULL);
	if (!r)
		r = parse_keylist(body, len, &kl);
	if (!r) {
		s->have_list = true;
		s->list_serial = kl.serial;
		trust_list(s, &kl);
	} else {
		fprintf(stderr, "lifeboat: warning: %s/sync/keys: %s; ignored\n", s->ctx->state,
		        lb_err_msg()[0] ? lb_err_msg() : lb_strerror(r));
		lb_err_clear();
	}
	free(body);
	free(sig);
	free(signer);
}

/* Keep the accepted list for later runs, through fsop: the signer, the signature,
 * then the list (a crash in between leaves a copy that does not verify: ignored). */
static int persist_list(struct sync *s, const struct lb_mkey *signer, const char *body, size_t len,
                        const char *sig, size_t siglen)
{
	char line[LB_MINISIGN_PUBKEY_TEXT];
	size_t n = lb_minisign_format_pubkey(signer, 1, line);
	int r = lb_replace_file(s->syncfd, "keys.signer", line, n, 0644);
	if (!r)
		r = lb_replace_file(s->syncfd, "keys.minisig", sig, siglen, 0644);
	if (!r)
		r = lb_replace_file(s->syncfd, "keys", body, len, 0644);
	return r ? lb_errf(r, "%s/sync/keys: %s", s->ctx->state, strerror(-r)) : 0;
}

/* GET master/keys and keys.minisig; accept the list if a trusted key signed it, it
 * has not expired and its serial is not lower than the one accepted last. -ENOENT
 * (no message) when the master has no list. */
static int fetch_keylist(struct sync *s)
{
	char *url = join(s->master, "keys"), *sigurl = NULL, *body = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	int nm = 0, r = url && asprintf(&sigurl, "%s.minisig", url) >= 0 ? 0 : -ENOMEM;
	if (!r)
		r = lb_fetch_small(s->f, url, MAX_KEYLIST_SIZE, NULL, &body, &len, NULL, &nm);
	if (r == -ENOENT)
		lb_err_clear(); /* no list on the master */
	else if (!r)
		r = lb_fetch_small(s->f, sigurl, LB_MINISIGN_SIG_MAX, NULL, &sig, &siglen, NULL,
		                   &nm);
	if (r) {
		free(body);
		free(sigurl);
		free(url);
		return r;
	}
	struct keylist kl = {0};
	r = lb_minisign_verify(s->keys, s->nkeys, body, len, sig, siglen, NULL);
	if (!r)
		r = parse_keylist(body, len, &kl);
	if (!r && kl.expires < time(NULL)) {
		char when[32];
		struct tm tm;
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&kl.expires, &tm));
		r = lb_errf(-LBE_STALE, "expired at %s; its keys are not trusted", when);
	}
	if (!r && s->have_list && kl.serial < s->list_serial)
		r = lb_errf(-LBE_STALE,
		            "serial %llu is older than the %llu accepted here: a replayed key "
		            "list is refused",
		            kl.serial, s->list_serial);
	if (r)
		r = lb_err_prefix(r, "%s", url);
	/* the key that verified it: the one persisted with it */
	size_t signer = 0;
	while (!r && signer + 1 < s->nkeys &&
	       lb_minisign_verify(&s->keys[signer], 1, body, len, sig, siglen, NULL))
		signer++;
	if (!r) {
		lb_err_clear();
		if (!s->have_list || kl.serial != s->list_serial)
			r = persist_list(s, &s->keys[signer], body, len, sig, siglen);
	}
	if (!r) {
		s->have_list = true;
		s->list_serial = kl.serial;
		trust_list(s, &kl);
	}
	free(body);
	free(sig);
	free(sigurl);
	free(url);
	return r;
}

/* Verify a signed file with the trusted keys. Signed by a key none of them has
 * (and rotate): fetch the master's key list, once a run, and verify again. */
static int verify(struct sync *s, const char *what, const char *body, size_t len, const char *sig,
                  size_t siglen, bool rotate)
{
	char tc[LB_MINISIGN_TCOMMENT_MAX];
	uint8_t id[8];
	int r = lb_minisign_verify(s->keys, s->nkeys, body, len, sig, siglen, tc);
	if (r == -LBE_SIGNATURE && rotate && !s->list_tried &&
	    !lb_minisign_sig_keyid(sig, siglen, id) && !trusted_id(s, id)) {
		s->list_tried = true;
		int e = fetch_keylist(s);
		if (e && e != -ENOENT)
			return e;
		/* again: with the list's keys, or for the message of the first failure */
		r = lb_minisign_verify(s->keys, s->nkeys, body, len, sig, siglen, tc);
	}
	return r ? lb_err_prefix(r, "%s", what) : 0;
}

/* GET master/rel, conditionally, with its signature; keep the verified copy in
 * STATE/sync/name. *changed says whether the master sent a new version. */
static int get_signed(struct sync *s, const char *rel, const char *name, char **body, size_t *len,
                      bool *changed, bool conditional)
{
	char etag_name[128], sig_name[128], etag[LB_FETCH_ETAG_MAX] = "",
	                                    new_etag[LB_FETCH_ETAG_MAX];
	snprintf(etag_name, sizeof etag_name, "%s.etag", name);
	snprintf(sig_name, sizeof sig_name, "%s.minisig", name);
	char *url = join(s->master, rel), *sigurl = NULL, *sig = NULL;
	size_t siglen = 0;
	int r = url ? 0 : -ENOMEM;
	char *e = NULL;
	if (!r && conditional &&
	    lb_read_file(s->syncfd, etag_name, sizeof etag - 1, &e, NULL) == 0 &&
	    faccessat(s->syncfd, name, F_OK, 0) == 0)
		snprintf(etag, sizeof etag, "%s", e);
	free(e);
	int nm = 0;
	*body = NULL;
	if (!r)
		r = lb_fetch_small(s->f, url, MAX_STATE_SIZE, etag[0] ? etag : NULL, body, len,
		                   new_etag, &nm);
	if (!r && nm) {
		/* unchanged: use (and re-check) the copy verified last time */
		r = lb_read_file(s->syncfd, name, MAX_STATE_SIZE, body, len);
		if (!r)
			r = lb_read_file(s->syncfd, sig_name, LB_MINISIGN_SIG_MAX, &sig, &siglen);
		if (!r)
			r = verify(s, url, *body, *len, sig, siglen, false);
		*changed = false;
		if (r) { /* a damaged local copy: fetch it again in full */
			free(*body);
			*body = NULL;
			lb_err_clear();
			free(sig);
			free(url);
			return get_signed(s, rel, name, body, len, changed, false);
		}
	} else if (!r) {
		*changed = true;
		if (asprintf(&sigurl, "%s.minisig", url) < 0)
			r = -ENOMEM;
		int nm2 = 0;
		if (!r)
			r = lb_fetch_small(s->f, sigurl, LB_MINISIGN_SIG_MAX, NULL, &sig, &siglen,
			                   NULL, &nm2);
		if (!r)
			r = verify(s, url, *body, *len, sig, siglen, true);
		if (!r)
			r = lb_replace_file(s->syncfd, sig_name, sig, siglen, 0644);
		if (!r)
			r = lb_replace_file(s->syncfd, name, *body, *len, 0644);
		if (!r && new_etag[0])
			r = lb_replace_file(s->syncfd, etag_name, new_etag, strlen(new_etag), 0644);
		else if (!r)
			r = lb_unlink(s->syncfd, etag_name);
	}
	free(sig);
	free(sigurl);
	free(url);
	if (r) {
		free(*body);
		*body = NULL;
	}
	return r;
}

static int parse_pointer(const char *id, const char *body, size_t len, char **group)
{
	struct lb_doc doc = {0};
	int r = lb_deb822_parse(body, len, &doc);
	const struct lb_para *p = !r && doc.n == 1 ? &doc.paras[0] : NULL;
	if (!r && !p)
		r = lb_errf(-LBE_FORMAT, "one paragraph expected");
	const char *dev = p ? lb_para_get(p, "Device") : NULL,
	           *g = p ? lb_para_get(p, "Group") : NULL;
	if (!r && (!dev || strcmp(dev, id)))
		r = lb_errf(-LBE_FORMAT, "written for device '%.64s', not '%s'", dev ? dev : "",
		            id);
	if (!r && (!g || !*g || strchr(g, '/') || strchr(g, '\n')))
		r = lb_errf(-LBE_FORMAT, "no valid Group");
	if (!r)
		r = check_expiry("device pointer", p);
	if (!r && !(*group = strdup(g)))
		r = -ENOMEM;
	lb_doc_free(&doc);
	return r;
}

static bool installed(const struct lb_db *db, const struct lb_desired_pkg *p)
{
	const struct lb_dbpkg *d = lb_db_find(db, p->name);
	return d && d->state >= LB_ST_UNPACKED && !strcmp(d->info.version, p->version) &&
	       !strcmp(d->deb_sha256, p->sha256);
}

static void cache_name(const struct lb_desired_pkg *p, char *out, size_t size)
{
	const char *colon = strchr(p->version, ':');
	snprintf(out, size, "%s_%s_%.16s.deb", p->name, colon ? colon + 1 : p->version, p->sha256);
}

void lb_bar_progress(void *arg, unsigned long long now, unsigned long long total)
{
	struct lb_bar *b = arg;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (!b->started) {
		b->start = t;
		b->first = now;
		b->started = true;
	}
	double secs =
	    (double)(t.tv_sec - b->start.tv_sec) + (double)(t.tv_nsec - b->start.tv_nsec) / 1e9;
	double rate = secs > 0.2 ? (double)(now - b->first) / secs : 0;
	int width = 24, fill = total ? (int)(now * (unsigned long long)width / total) : 0;
	char eta[32] = "--:--";
	if (rate > 0 && total >= now) {
		unsigned long left = (unsigned long)((double)(total - now) / rate);
		snprintf(eta, sizeof eta, "%lu:%02lu", left / 60, left % 60);
	}
	fprintf(stderr, "\r%-24.24s [%.*s%*s] %6.1f/%.1f MiB %7.1f KiB/s ETA %s ", b->name, fill,
	        "########################", width - fill, "", (double)now / 1048576.0,
	        (double)total / 1048576.0, rate / 1024.0, eta);
}

/* The delta to use for p: one from the .deb of p's package that db has installed
 * (whose files the rebuild reads), and smaller than the package; else NULL. */
static const struct lb_desired_pdelta *
pick_delta(const struct lb_desired_pkg *p, const struct lb_db *db, const struct lb_dbpkg **base)
{
	const struct lb_dbpkg *b = lb_db_find(db, p->name);
	*base = b;
	if (!b || b->state < LB_ST_UNPACKED || !b->deb_sha256[0])
		return NULL;
	for (size_t k = 0; k < p->ndeltas; k++)
		if (!strcmp(p->deltas[k].base_sha256, b->deb_sha256) && p->deltas[k].size < p->size)
			return &p->deltas[k];
	return NULL;
}

/* Errors after which the full package is fetched instead of a delta: the delta
 * is not on the master, not what was signed, damaged, or a base file is not
 * what was installed. Others (the link, the disk) are reported: the .part of
 * the delta stays for the next run. */
static bool delta_fallback(int r)
{
	return r == -ENOENT || r == -LBE_HASH || r == -LBE_FORMAT || r == -LBE_DEB ||
	       r == -EACCES || r == -EPROTO;
}

/* Fetch p's delta pd into the cache as NAME.delta, rebuild the package from it
 * and base's files under c's root into NAME, drop the delta. */
static int fetch_delta(struct sync *s, struct lb_ctx *c, const struct lb_desired_pkg *p,
                       const struct lb_desired_pdelta *pd, const struct lb_dbpkg *base,
                       const char *name)
{
	char rel[300], dname[620], tmp[620];
	snprintf(rel, sizeof rel, "deltas/%.2s/%s.from-%s.delta", p->sha256, p->sha256,
	         pd->base_sha256);
	snprintf(dname, sizeof dname, "%s.delta", name);
	snprintf(tmp, sizeof tmp, "%s.new", name);
	char *url = join(s->master, rel);
	if (!url)
		return -ENOMEM;
	int r = lb_fetch_file(s->f, url, s->cachefd, dname, pd->size, pd->sha256);
	free(url);
	if (r)
		return r;
	int dfd = openat(s->cachefd, dname, O_RDONLY | O_CLOEXEC);
	int ofd =
	    dfd < 0 ? -1 : openat(s->cachefd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (dfd < 0 || ofd < 0)
		r = lb_errf(-errno, "%s: %s", dfd < 0 ? dname : tmp, strerror(errno));
	struct lb_debpatch_stats st;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!r)
		r = lb_debpatch(c->rootfd, base, dfd, ofd, p->content_sha256, &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!r)
		r = lb_fsync(ofd);
	if (ofd >= 0)
		close(ofd);
	if (dfd >= 0)
		close(dfd);
	if (!r)
		r = lb_rename(s->cachefd, tmp, s->cachefd, name);
	if (!r)
		r = lb_fsync_dir(s->cachefd, NULL);
	int u = lb_unlink(s->cachefd, r ? tmp : dname);
	if (u && !r)
		r = u;
	if (!r && !s->ctx->quiet && s->ctx->json)
		printf(
		    "{\"event\":\"rebuilt\",\"package\":\"%s\",\"version\":\"%s\",\"bytes\":%llu,"
		    "\"seconds\":%.3f}\n",
		    p->name, p->version, pd->size,
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return r;
}

/* Download what the packages of d that db does not have need into the cache:
 * a delta from the version that basedb records as installed in c's root (the
 * same root as db's, or the running slot's when db is the other slot's) when
 * the state offers one, rebuilt against the files of that root; else the
 * package. */
static int download(struct sync *s, const struct lb_desired *d, const struct lb_db *db,
                    struct lb_ctx *c, const struct lb_db *basedb, unsigned long long *bytes)
{
	bool bar = isatty(2) && !s->ctx->quiet && !s->ctx->json;
	int r = 0;
	for (size_t i = 0; i < d->n && !r; i++) {
		const struct lb_desired_pkg *p = &d->pkgs[i];
		char name[600], rel[200];
		if (installed(db, p))
			continue;
		cache_name(p, name, sizeof name);
		if (faccessat(s->cachefd, name, F_OK, 0) == 0)
			continue; /* verified when it was renamed there */
		const struct lb_dbpkg *base;
		const struct lb_desired_pdelta *pd = pick_delta(p, basedb, &base);
		struct lb_bar b = {.name = p->name};
		s->f->progress = bar ? lb_bar_progress : NULL;
		s->f->progress_arg = &b;
		if (s->ctx->json) {
			printf("{\"event\":\"download\",\"package\":\"%s\",\"version\":\"%s\","
			       "\"bytes\":%llu,\"delta\":%s}\n",
			       p->name, p->version, pd ? pd->size : p->size, pd ? "true" : "false");
			fflush(stdout);
		}
		if (pd) {
			r = fetch_delta(s, c, p, pd, base, name);
			if (bar)
				fputc('\n', stderr);
			if (!r) {
				*bytes += pd->size;
				continue;
			}
			if (!delta_fallback(r))
				return lb_err_prefix(r, "%s %s (delta)", p->name, p->version);
			if (!s->ctx->quiet)
				fprintf(stderr,
				        "lifeboat: %s %s: delta not used (%s); downloading the "
				        "package\n",
				        p->name, p->version, lb_err_msg());
			lb_err_clear();
			char dname[620];
			snprintf(dname, sizeof dname, "%s.delta", name);
			if ((r = lb_unlink(s->cachefd, dname)))
				return r;
		}
		snprintf(rel, sizeof rel, "pool/%.2s/%s.deb", p->sha256, p->sha256);
		char *url = join(s->master, rel);
		if (!url)
			return -ENOMEM;
		b = (struct lb_bar){.name = p->name};
		r = lb_fetch_file(s->f, url, s->cachefd, name, p->size, p->sha256);
		if (bar)
			fputc('\n', stderr);
		*bytes += p->size;
		free(url);
		if (r)
			r = lb_err_prefix(r, "%s %s", p->name, p->version);
	}
	return r;
}

int lb_sync_plan(struct lb_ctx *ctx, const struct lb_config *cfg)
{
	struct lb_link l;
	struct lb_db db = {0};
	int r = lb_sync_fetch_state(ctx, cfg, "plan", &l);
	if (r)
		return r;
	int cachefd = -1;
	r = open_dir(ctx, "cache", &cachefd);
	if (!r)
		r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db);
	if (!r)
		r = lb_sync_check_serial(cfg, &l, db.serial);
	unsigned long long total = 0, saved = 0;
	size_t nget = 0, ndelta = 0, nkeep = 0, nrm = 0;
	for (size_t i = 0; !r && i < l.d.n; i++) {
		const struct lb_desired_pkg *p = &l.d.pkgs[i];
		char name[600];
		const struct lb_dbpkg *b;
		if (installed(&db, p)) {
			nkeep++;
			continue;
		}
		const struct lb_desired_pdelta *pd = pick_delta(p, &db, &b);
		int c = b ? lb_vercmp(p->version, b->info.version) : 1;
		const char *act = !b      ? "install"
		                  : c > 0 ? "upgrade"
		                  : c < 0 ? "downgrade"
		                          : "reinstall";
		cache_name(p, name, sizeof name);
		bool cached = faccessat(cachefd, name, F_OK, 0) == 0;
		unsigned long long bytes = cached ? 0 : pd ? pd->size : p->size;
		total += bytes;
		nget += !cached;
		ndelta += !cached && pd;
		saved += !cached && pd ? p->size - pd->size : 0;
		if (ctx->json) {
			printf("{\"package\":");
			lb_json_str(stdout, p->name);
			printf(",\"action\":\"%s\"", act);
			if (b) {
				printf(",\"from\":");
				lb_json_str(stdout, b->info.version);
			}
			printf(",\"version\":");
			lb_json_str(stdout, p->version);
			printf(
			    ",\"cached\":%s,\"delta\":%s,\"bytes\":%llu,\"package_bytes\":%llu}\n",
			    cached ? "true" : "false", !cached && pd ? "true" : "false", bytes,
			    p->size);
		} else {
			printf("%-9s %s %s%s%s  ", act, p->name, b ? b->info.version : "",
			       b ? " -> " : "", p->version);
			if (cached)
				printf("cached\n");
			else if (pd)
				printf("delta %llu bytes (package %llu)\n", pd->size, p->size);
			else
				printf("package %llu bytes\n", p->size);
		}
	}
	for (size_t i = 0; !r && i < db.n; i++) {
		if (lb_desired_find(&l.d, db.pkgs[i].info.name))
			continue;
		nrm++;
		if (ctx->json) {
			printf("{\"package\":");
			lb_json_str(stdout, db.pkgs[i].info.name);
			printf(",\"action\":\"remove\",\"from\":");
			lb_json_str(stdout, db.pkgs[i].info.version);
			printf("}\n");
		} else {
			printf("%-9s %s %s\n", "remove", db.pkgs[i].info.name,
			       db.pkgs[i].info.version);
		}
	}
	if (!r && !ctx->json)
		printf("%llu bytes to download: %zu packages, %zu of them as deltas (%llu bytes "
		       "saved); %zu to remove, %zu unchanged\n",
		       total, nget, ndelta, saved, nrm, nkeep);
	if (!r && l.d.image.present && !ctx->json)
		printf("OS image %s: see `lifeboat os status`\n", l.d.image.version);
	lb_db_free(&db);
	if (cachefd >= 0)
		close(cachefd);
	lb_link_free(&l);
	return r;
}

/* Drop what the desired state no longer needs from the cache. */
static void clean_cache(struct sync *s, const struct lb_desired *d)
{
	int fd = dup(s->cachefd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(dir))) {
		/* chunks/: OS image chunks fetched ahead, for `os write` (cmd_os.c) */
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "chunks"))
			continue;
		bool keep = false;
		for (size_t i = 0; i < d->n && !keep; i++) {
			char name[600];
			cache_name(&d->pkgs[i], name, sizeof name);
			keep = !strncmp(de->d_name, name, strlen(name));
		}
		if (!keep && lb_unlink(s->cachefd, de->d_name))
			fprintf(stderr, "lifeboat: warning: cannot remove cached %s\n", de->d_name);
	}
	closedir(dir);
}

int lb_sync_option(struct lb_config *cfg, const char *opt, const char *val)
{
	char **field = !strcmp(opt, "--master")      ? &cfg->master
	               : !strcmp(opt, "--device-id") ? &cfg->device_id
	               : !strcmp(opt, "--group")     ? &cfg->group
	               : !strcmp(opt, "--pubkey")    ? &cfg->pubkeys
	                                             : NULL;
	if (field) {
		free(*field);
		return (*field = strdup(val)) ? 1 : -ENOMEM;
	}
	if (!strcmp(opt, "--bwlimit"))
		cfg->bwlimit = strtoull(val, NULL, 10);
	else if (!strcmp(opt, "--retries"))
		cfg->retries = atoi(val);
	else if (strcmp(opt, "--config"))
		return 0;
	return 1;
}

void lb_sync_config_done(struct lb_config *cfg)
{
	if (!cfg->master) /* "URL/" and "URL" name the same tree */
		return;
	size_t l = strlen(cfg->master);
	while (l > 1 && cfg->master[l - 1] == '/')
		cfg->master[--l] = 0;
}

void lb_link_free(struct lb_link *l)
{
	lb_desired_free(&l->d);
	free(l->group);
	l->group = NULL;
	lb_fetch_free(&l->f);
}

int lb_sync_fetch_state(struct lb_ctx *ctx, const struct lb_config *cfg, const char *cmd,
                        struct lb_link *l)
{
	memset(l, 0, sizeof *l);
	struct sync s = {
	    .ctx = ctx, .f = &l->f, .master = cfg->master, .syncfd = -1, .cachefd = -1};
	if (!cfg->master)
		return lb_errf(-LBE_USAGE, "%s: no master URL (--master or Master: in /%s)", cmd,
		               LB_CONFIG_FILE);
	if (!cfg->device_id && !cfg->group)
		return lb_errf(-LBE_USAGE, "%s: no device id and no group (--device-id, --group)",
		               cmd);
	int r = load_keys(&s, cfg->pubkeys);
	s.npinned = s.nkeys;
	if (!r)
		r = lb_fetch_init(&l->f);
	if (!r && cfg->bwlimit)
		l->f.max_speed = cfg->bwlimit;
	if (!r && cfg->retries > 0)
		l->f.retries = cfg->retries;
	char *group = NULL, *body = NULL;
	size_t len = 0;
	bool changed_ptr = false, changed_state = false;
	struct lb_desired *d = &l->d;
	if (!r)
		r = open_dir(ctx, "sync", &s.syncfd);
	if (!r)
		load_accepted(&s);
	if (!r && cfg->device_id) {
		char rel[300];
		snprintf(rel, sizeof rel, "devices/%s", cfg->device_id);
		r = get_signed(&s, rel, "device", &body, &len, &changed_ptr, true);
		if (r == -ENOENT && cfg->group) {
			lb_err_clear();
			r = 0; /* no pointer: the configured group */
		} else if (!r) {
			r = parse_pointer(cfg->device_id, body, len, &group);
			if (r)
				r = lb_err_prefix(r, "%s/%s", cfg->master, rel);
		}
		free(body);
		body = NULL;
	}
	if (!r && !group && !(group = strdup(cfg->group ? cfg->group : "")))
		r = -ENOMEM;
	if (!r && (!*group || strchr(group, '/')))
		r = lb_errf(-LBE_USAGE, "%s: no group for this device", cmd);
	if (!r) {
		char rel[300];
		snprintf(rel, sizeof rel, "groups/%s/state", group);
		r = get_signed(&s, rel, "state", &body, &len, &changed_state, true);
		if (!r)
			r = lb_desired_parse(body, len, d);
		const char *g = !r && d->doc.n ? lb_para_get(&d->doc.paras[0], "Group") : NULL;
		if (!r && (!g || strcmp(g, group)))
			r = lb_errf(-LBE_FORMAT, "published for group '%.64s', not '%s'",
			            g ? g : "", group);
		if (!r)
			r = check_expiry("desired state", &d->doc.paras[0]);
		for (size_t i = 0; !r && i < d->n; i++)
			if (!d->pkgs[i].sha256[0])
				r = lb_errf(-LBE_FORMAT, "%s has no SHA256 line", d->pkgs[i].name);
		if (r)
			r = lb_err_prefix(r, "%s/%s", cfg->master, rel);
	}
	free(body);
	if (s.syncfd >= 0)
		close(s.syncfd);
	for (size_t i = 0; i < s.nkeys; i++)
		lb_minisign_wipe(&s.keys[i]);
	l->group = group;
	l->changed = changed_state || changed_ptr;
	if (r)
		lb_link_free(l);
	return r;
}

int lb_sync_check_serial(const struct lb_config *cfg, const struct lb_link *l,
                         unsigned long long applied)
{
	if (l->d.serial >= applied)
		return 0;
	return lb_errf(-LBE_STALE,
	               "%s/groups/%s/state: serial %llu is older than the %llu applied here: "
	               "a replayed state is refused",
	               cfg->master, l->group, l->d.serial, applied);
}

/* The desired state names an OS image other than the one STATE/os records in
 * the slot (or the record says a write was cut short): the slot must be
 * rewritten. On a single-slot device that is the rescue system's job. No record
 * at all: the slot holds what the factory put there, which lifeboat cannot
 * judge; it is left alone. */
static int os_pending(const struct lb_ctx *ctx, const struct lb_desired_image *img, bool *pending,
                      char *have, size_t size)
{
	*pending = false;
	snprintf(have, size, "?");
	if (!img->present)
		return 0;
	struct lb_doc doc;
	int r = lb_os_record_load(ctx, &doc);
	if (r == -ENOENT)
		return 0;
	if (r == -LBE_CORRUPT) { /* a damaged record: rewrite rather than trust */
		*pending = true;
		return 0;
	}
	if (r)
		return r;
	const char *sha = lb_para_get(&doc.paras[0], "Image-SHA256");
	const char *st = lb_para_get(&doc.paras[0], "Status");
	const char *ver = lb_para_get(&doc.paras[0], "Image-Version");
	snprintf(have, size, "%s", ver ? ver : "?");
	*pending = !sha || strcmp(sha, img->sha256) || !st || strcmp(st, "complete");
	lb_doc_free(&doc);
	return 0;
}

/* A field of a slot's record (STATE/slot-NAME/os), into buf; "" without one. */
static void record_field(const struct lb_ctx *ctx, const char *name, char *buf, size_t size)
{
	struct lb_doc doc;
	buf[0] = 0;
	if (lb_os_record_load(ctx, &doc) == 0) {
		const char *v = lb_para_get(&doc.paras[0], name);
		snprintf(buf, size, "%s", v ? v : "");
		lb_doc_free(&doc);
	}
	lb_err_clear();
}

/* The context of the other slot of an A/B pair: its package state, its root
 * (mounted by the caller) not yet known. */
static int other_ctx(const struct lb_ctx *ctx, const char *slot, struct lb_ctx *o, char *pkg,
                     size_t size)
{
	*o = *ctx;
	o->state_in_root = NULL;
	o->rootfd = -1;
	o->pkgfd = -1; /* ctx's stays open: lb_ctx_open_slot closes what it replaces */
	return lb_ctx_open_slot(o, slot, true, pkg, size);
}

/* The packages of the desired state into the other slot's root, mounted here. */
static int install_other(struct sync *s, struct lb_ctx *o, const struct lb_desired *d,
                         const char *dev)
{
	static const char mnt[] = "/run/lifeboat-slot";
	char cache[PATH_MAX];
	snprintf(cache, sizeof cache, "%s/cache", s->ctx->state);
	if (mkdir("/run", 0755) < 0 && errno != EEXIST)
		return lb_errf(-errno, "/run: %s", strerror(errno));
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
		return lb_errf(-errno, "%s: %s", mnt, strerror(errno));
	if (mount(dev, mnt, "ext4", 0, NULL) < 0)
		return lb_errf(-errno, "mount %s (ext4) on %s: %s", dev, mnt, strerror(errno));
	o->root = mnt;
	o->rootfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = o->rootfd < 0 ? lb_errf(-errno, "%s: %s", mnt, strerror(errno)) : 0;
	struct lb_db db = {0}, run = {0};
	unsigned long long bytes = 0;
	if (!r)
		r = lb_db_load(o->pkgfd, LB_DB_FILE, &db);
	/* deltas from what the running slot has installed, rebuilt from its files */
	if (!r)
		r = lb_db_load(s->ctx->pkgfd, LB_DB_FILE, &run);
	if (!r)
		r = download(s, d, &db, s->ctx, &run, &bytes);
	if (!r)
		r = lb_converge(o, d, cache);
	lb_db_free(&db);
	lb_db_free(&run);
	if (o->rootfd >= 0)
		close(o->rootfd);
	if (umount2(mnt, 0) < 0 && !r)
		r = lb_errf(-errno, "umount %s: %s", mnt, strerror(errno));
	return r;
}

/* A/B: the image onto the other slot while this system runs (reusing what this
 * slot has), its packages installed, and the next boot tries it once. */
static int update_other(struct sync *s, const struct lb_config *cfg, struct lb_link *l,
                        const char *other, const char *dev, unsigned long long serial)
{
	struct lb_ctx *ctx = s->ctx, o;
	char pkg[PATH_MAX], have[80], mine[PATH_MAX], size[32];
	struct lb_bootstore st;
	struct lb_bootstate bs, old;
	lb_bootstore_setup(&st, ctx, cfg);
	int r = lb_bootstore_load(&st, &bs);
	if (!r)
		r = other_ctx(ctx, other, &o, pkg, sizeof pkg);
	if (r) {
		lb_bootstore_close(&st);
		return r;
	}
	record_field(&o, "Image-SHA256", have, sizeof have);
	if (!strcmp(bs.failed_slot, other) && !strcmp(have, l->d.image.sha256)) {
		if (!ctx->quiet)
			fprintf(
			    stderr,
			    "lifeboat: sync: OS %s failed its trial boot in slot %s: waiting for "
			    "a newer desired state\n",
			    l->d.image.version, other);
		close(o.pkgfd);
		lb_bootstore_close(&st);
		return 0;
	}
	char status[32];
	record_field(&o, "Status", status, sizeof status);
	if (!strcmp(bs.try_slot, other) && !strcmp(have, l->d.image.sha256) &&
	    !strcmp(status, "complete")) {
		if (!ctx->quiet)
			fprintf(
			    stderr,
			    "lifeboat: sync: slot %s holds OS %s, to be tried at the next boot\n",
			    other, l->d.image.version);
		close(o.pkgfd);
		lb_bootstore_close(&st);
		return 0;
	}
	/* this slot's image is where most chunks are */
	struct lb_imgsrc src = {mine, 0};
	/* by name first: the record's path may be a udev link this system lacks */
	if (lb_slot_device(ctx->slot, cfg->slot_devices, NULL, mine, sizeof mine))
		record_field(ctx, "Slot-Device", mine, sizeof mine);
	record_field(ctx, "Image-Size", size, sizeof size);
	src.limit = strtoull(size, NULL, 10);
	if (!ctx->quiet)
		fprintf(stderr,
		        "lifeboat: sync: OS %s goes into slot %s (%s) beside the running "
		        "slot %s\n",
		        l->d.image.version, other, dev, ctx->slot);
	r = lb_os_write_slot(&o, l, cfg->master, dev, &src, mine[0] ? 1 : 0, true, serial);
	if (!r && l->d.n)
		r = install_other(s, &o, &l->d, dev);
	old = bs;
	if (!r) {
		lb_boot_try(&bs, other);
		r = lb_bootstore_commit(&st, &old, &bs);
	}
	if (!r && !ctx->quiet)
		fprintf(stderr,
		        "lifeboat: sync: slot %s holds OS %s and serial %llu; the next boot tries "
		        "it once (reboot to proceed)\n",
		        other, l->d.image.version, l->d.serial);
	close(o.pkgfd);
	lb_bootstore_close(&st);
	return r;
}

/* Single slot: what the rescue system will need is fetched ahead into the cache
 * while this system runs, then it is asked to rewrite the slot. */
static int update_in_place(struct sync *s, const struct lb_config *cfg, struct lb_link *l,
                           const char *have)
{
	struct lb_ctx *ctx = s->ctx;
	char dev[PATH_MAX];
	bool complete = false;
	if (!ctx->slot || lb_slot_device(ctx->slot, cfg->slot_devices, NULL, dev, sizeof dev))
		record_field(ctx, "Slot-Device", dev, sizeof dev);
	int r = 0;
	if (dev[0] && l->d.image.index) {
		r = lb_os_prefetch(ctx, l, cfg->master, dev, 4u << 20, &complete);
		if (r && !ctx->quiet) { /* the rescue system can fetch it all itself */
			fprintf(stderr, "lifeboat: warning: %s\n", lb_err_msg());
			lb_err_clear();
			r = 0;
		}
	}
	r = lb_boot_request_rescue(ctx, cfg, "rebuild");
	if (!r && !ctx->quiet)
		fprintf(stderr,
		        "lifeboat: sync: OS %s replaces %s: the rescue system writes it at "
		        "the next boot, then installs serial %llu (reboot to proceed)\n",
		        l->d.image.version, have, l->d.serial);
	return r;
}

int lb_sync(struct lb_ctx *ctx, const struct lb_config *cfg)
{
	struct lb_link l;
	struct lb_db db = {0};
	unsigned long long bytes = 0;
	char cache[PATH_MAX];
	int r = lb_sync_fetch_state(ctx, cfg, "sync", &l);
	if (r)
		return r;
	struct sync s = {.ctx = ctx, .f = &l.f, .master = cfg->master, .syncfd = -1, .cachefd = -1};
	r = open_dir(ctx, "cache", &s.cachefd);
	snprintf(cache, sizeof cache, "%s/cache", ctx->state);
	if (!r)
		r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db);
	if (!r)
		r = lb_sync_check_serial(cfg, &l, db.serial);
	bool pending = false;
	char have[64];
	if (!r)
		r = os_pending(ctx, &l.d.image, &pending, have, sizeof have);
	if (!r && pending) {
		/* the packages go onto the new OS: into the other slot now, or into
		 * this one after the rescue system rewrote it */
		const char *other = ctx->slot ? lb_slot_other(ctx->slot) : NULL;
		char dev[PATH_MAX];
		if (other && !lb_slot_device(other, cfg->slot_devices, NULL, dev, sizeof dev))
			r = update_other(&s, cfg, &l, other, dev, db.serial);
		else
			r = update_in_place(&s, cfg, &l, have);
		lb_db_free(&db);
		close(s.cachefd);
		lb_link_free(&l);
		return r;
	}
	if (!r)
		r = download(&s, &l.d, &db, ctx, &db, &bytes);
	if (!r)
		r = lb_converge(ctx, &l.d, cache);
	if (!r)
		clean_cache(&s, &l.d);
	if (!r && !ctx->quiet) {
		if (ctx->json)
			printf("{\"event\":\"synced\",\"serial\":%llu,\"requests\":%llu,"
			       "\"bytes\":%llu}\n",
			       l.d.serial, l.f.requests, l.f.bytes);
		else
			fprintf(stderr,
			        "lifeboat: sync: group %s serial %llu%s; %llu requests, %llu bytes "
			        "received\n",
			        l.group, l.d.serial, l.changed ? "" : " (unchanged)", l.f.requests,
			        l.f.bytes);
	}
	lb_db_free(&db);
	if (s.cachefd >= 0)
		close(s.cachefd);
	lb_link_free(&l);
	return r;
}
