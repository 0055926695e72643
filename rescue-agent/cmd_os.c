/* SPDX-License-Identifier: MIT */
/* lifeboat os write --slot DEV [--reset-db] [--newer-than SERIAL]
 *                   [--master URL] [--device-id ID] [--group G] [--pubkey FILE[,FILE]]
 *                   [--config FILE] [--bwlimit BYTES/S] [--retries N]
 * lifeboat os status
 *
 * write: the signed desired state, fetched and verified as sync does it, names an
 * OS image; its compressed file is streamed from the master, decompressed, hashed
 * and written onto the slot through the flash module, which reads back what it
 * wrote. STATE/os records the slot (docs/os.md). Memory stays small: a download
 * buffer, the decoder's window (at most 8 MiB) and two flash blocks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "bootstate.h"
#include "cmd.h"
#include "config.h"
#include "deb822.h"
#include "flash.h"
#include "fsop.h"
#include "imgwrite.h"
#include "journal.h"
#include "pkgdb.h"
#include "slots.h"
#include "sync.h"

#define OS_FILE       "os"
#define OS_FILE_MAX   (64u << 10)
#define ZSTD_WLOG_MAX 23 /* the master's window (8 MiB); a bigger one is refused */

struct writer {
	struct lb_ctx *ctx;
	const char *slot, *url;
	const struct lb_desired *d;
	struct lb_flash *fl;
	ZSTD_DCtx *dz;
	unsigned char *out;
	size_t outcap;
	size_t pending; /* the decoder's last hint: 0 once a frame is complete */
	crypto_hash_sha256_state h;
	unsigned long long got; /* uncompressed bytes */
	bool chunked;
	struct lb_imgwrite_stats cs; /* of a chunked write */
};

/* STATE/os: one deb822 paragraph, replaced atomically. */
static int record(struct lb_ctx *ctx, const char *slot, const struct lb_desired *d, bool complete)
{
	char when[32], *text = NULL;
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	const struct lb_desired_image *im = &d->image;
	int n = asprintf(&text,
	                 "Slot-Device: %s\nStatus: %s\nImage-Version: %s\nImage-SHA256: %s\n"
	                 "Image-Size: %llu\nSerial: %llu\n%s: %s\n",
	                 slot, complete ? "complete" : "incomplete", im->version, im->sha256,
	                 im->size, d->serial, complete ? "Written" : "Started", when);
	if (n < 0)
		return -ENOMEM;
	int r = lb_replace_file(ctx->pkgfd, OS_FILE, text, (size_t)n, 0644);
	free(text);
	return r ? lb_errf(r, "%s/%s: %s", ctx->pkg, OS_FILE, strerror(-r)) : 0;
}

/* The slot is about to change: until the write completes, STATE/os says so. */
static int before_write(void *arg)
{
	struct writer *w = arg;
	return record(w->ctx, w->slot, w->d, false);
}

/* The download's bytes: decompress, hash, give to the flash writer. */
static int sink(void *arg, const void *buf, size_t len)
{
	struct writer *w = arg;
	ZSTD_inBuffer in = {buf, len, 0};
	for (;;) {
		ZSTD_outBuffer out = {w->out, w->outcap, 0};
		size_t rc = ZSTD_decompressStream(w->dz, &out, &in);
		if (ZSTD_isError(rc))
			return lb_errf(-LBE_HASH, "%s: not the image (zstd: %s)", w->url,
			               ZSTD_getErrorName(rc));
		if (out.pos > w->d->image.size - w->got)
			return lb_errf(-LBE_HASH, "%s: larger than the %llu bytes of Image-Size",
			               w->url, w->d->image.size);
		if (out.pos) {
			crypto_hash_sha256_update(&w->h, w->out, out.pos);
			w->got += out.pos;
			int r = lb_flash_write(w->fl, w->out, out.pos);
			if (r)
				return r;
		}
		/* 0: a frame ended, all its output given (another one may follow) */
		w->pending = rc;
		if (in.pos == in.size && (!rc || out.pos < out.size))
			return 0;
	}
}

/* The whole image arrived: its size and sha256 are the signed ones. */
static int check_image(struct writer *w)
{
	const struct lb_desired_image *im = &w->d->image;
	if (w->pending)
		return lb_errf(-LBE_HASH, "%s: truncated (the zstd frame does not end)", w->url);
	if (w->got != im->size)
		return lb_errf(-LBE_HASH, "%s: %llu bytes uncompressed, Image-Size says %llu",
		               w->url, w->got, im->size);
	unsigned char md[32];
	char hex[65];
	crypto_hash_sha256_final(&w->h, md);
	sodium_bin2hex(hex, sizeof hex, md, sizeof md);
	if (strcmp(hex, im->sha256))
		return lb_errf(-LBE_HASH, "%s: sha256 %s, Image-SHA256 says %s", w->url, hex,
		               im->sha256);
	return 0;
}

/* Stream the image onto the slot (a state without a chunk index). */
static int write_stream(struct writer *w, struct lb_link *l, const char *master)
{
	const struct lb_desired_image *im = &w->d->image;
	char *url = NULL;
	if (asprintf(&url, "%s/%s", master, im->path) < 0)
		return -ENOMEM;
	w->url = url;
	w->outcap = ZSTD_DStreamOutSize();
	w->dz = ZSTD_createDCtx();
	w->out = malloc(w->outcap);
	int r = w->dz && w->out ? 0 : -ENOMEM;
	if (!r && ZSTD_isError(ZSTD_DCtx_setParameter(w->dz, ZSTD_d_windowLogMax, ZSTD_WLOG_MAX)))
		r = lb_errf(-EINVAL, "zstd: cannot bound the window");
	crypto_hash_sha256_init(&w->h);
	w->pending = 1;
	bool bar = isatty(2) && !w->ctx->quiet && !w->ctx->json;
	char name[160];
	snprintf(name, sizeof name, "image %s", im->version);
	struct lb_bar b = {.name = name};
	l->f.progress = bar ? lb_bar_progress : NULL;
	l->f.progress_arg = &b;
	if (!r && w->ctx->json) {
		fputs("{\"event\":\"download\",\"image\":", stdout);
		lb_json_str(stdout, im->version);
		printf(",\"bytes\":%llu}\n", im->compressed_size);
		fflush(stdout);
	}
	unsigned long long got = 0;
	if (!r)
		r = lb_fetch_stream(&l->f, url, im->compressed_size, sink, w, &got);
	if (bar)
		fputc('\n', stderr);
	l->f.progress = NULL;
	if (!r)
		r = check_image(w);
	if (!r)
		r = lb_flash_finish(w->fl);
	if (!r)
		r = lb_flash_verify(w->fl);
	ZSTD_freeDCtx(w->dz);
	free(w->out);
	free(url);
	w->url = NULL;
	return r;
}

/* MASTER/path, a small file the signed state names with its size (in the field
 * field) and sha256: fetched and checked. *url (malloc'd) names it in messages. */
static int fetch_named(struct lb_link *l, const char *master, const char *path, const char *field,
                       unsigned long long size, const char sha256[65], char **body, size_t *len,
                       char **url)
{
	unsigned char md[32];
	char hex[65];
	*body = NULL;
	if (asprintf(url, "%s/%s", master, path) < 0) {
		*url = NULL;
		return -ENOMEM;
	}
	int r = lb_fetch_small(&l->f, *url, size, NULL, body, len, NULL, NULL);
	if (r == -EFBIG)
		r = lb_errf(-LBE_HASH, "%s: larger than %s %llu", *url, field, size);
	if (!r) {
		crypto_hash_sha256(md, (const unsigned char *)*body, *len);
		sodium_bin2hex(hex, sizeof hex, md, sizeof md);
		if (*len != size || strcmp(hex, sha256))
			r = lb_errf(
			    -LBE_HASH,
			    "%s: %zu bytes with sha256 %s, the signed state says %llu bytes "
			    "with %s",
			    *url, *len, hex, size, sha256);
	}
	return r;
}

/* The chunk index the signed state names: its size and sha256 are the signed
 * ones, and it describes the signed image and pack. */
static int load_index(struct lb_link *l, const char *master, struct lb_chunk_index *ix)
{
	const struct lb_desired_image *im = &l->d.image;
	char *url = NULL, *body = NULL;
	size_t len = 0;
	unsigned char want[32];
	int r = fetch_named(l, master, im->index, "Image-Index-Size", im->index_size,
	                    im->index_sha256, &body, &len, &url);
	if (!r && (r = lb_chunk_index_parse(body, len, ix)))
		r = lb_err_prefix(r, "%s", url);
	sodium_hex2bin(want, sizeof want, im->sha256, 64, NULL, NULL, NULL);
	if (!r && (ix->image_size != im->size || memcmp(ix->image_sha, want, 32) ||
	           ix->pack_size != im->compressed_size)) {
		lb_chunk_index_free(ix);
		r = lb_errf(-LBE_HASH, "%s: describes another image than the signed state", url);
	}
	free(body);
	free(url);
	return r;
}

/* Is path the device or file dev? By name, else by what stat says. */
static bool same_device(const char *path, const char *dev)
{
	struct stat a, b;
	if (!strcmp(path, dev))
		return true;
	if (stat(path, &a) < 0 || stat(dev, &b) < 0 || (a.st_mode & S_IFMT) != (b.st_mode & S_IFMT))
		return false;
	if (S_ISBLK(a.st_mode) || S_ISCHR(a.st_mode))
		return a.st_rdev == b.st_rdev;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The image a record (STATE/os or STATE/slot-S/os) says dev holds; any_device: the
 * record is the slot's that dev is, whatever path it names (a udev link that the
 * running system may not have). */
static bool record_names(int dirfd, const char *rec, const char *dev, bool any_device, char sha[65])
{
	char *buf = NULL;
	size_t len = 0;
	struct lb_doc doc = {0};
	bool ok = lb_read_file(dirfd, rec, OS_FILE_MAX, &buf, &len) == 0 &&
	          lb_deb822_parse(buf, len, &doc) == 0 && doc.n == 1;
	lb_err_clear();
	const char *v = ok ? lb_para_get(&doc.paras[0], "Slot-Device") : NULL;
	const char *st = ok ? lb_para_get(&doc.paras[0], "Status") : NULL;
	const char *h = ok ? lb_para_get(&doc.paras[0], "Image-SHA256") : NULL;
	ok = v && st && h && (any_device || same_device(v, dev)) && !strcmp(st, "complete") &&
	     strlen(h) == 64;
	if (ok)
		memcpy(sha, h, 65);
	lb_doc_free(&doc);
	free(buf);
	return ok;
}

/* The image dev holds by the records of the state directory, if one says. */
static bool held_image(struct lb_ctx *ctx, const char *dev, char sha[65])
{
	char slot[LB_BOOT_NAME_MAX] = "";
	if (lb_slot_of_device(dev, NULL, NULL, slot, sizeof slot))
		slot[0] = 0;
	bool mine = slot[0] && ctx->slot && !strcmp(slot, ctx->slot);
	if (record_names(ctx->pkgfd, OS_FILE, dev, mine, sha))
		return true;
	DIR *d = fdopendir(dup(ctx->statefd));
	struct dirent *e;
	bool ok = false;
	while (d && !ok && (e = readdir(d))) {
		char rec[300];
		if (strncmp(e->d_name, "slot-", 5) || !lb_boot_name_valid(e->d_name + 5))
			continue;
		snprintf(rec, sizeof rec, "%s/%s", e->d_name, OS_FILE);
		ok = record_names(ctx->statefd, rec, dev, slot[0] && !strcmp(slot, e->d_name + 5),
		                  sha);
	}
	if (d)
		closedir(d);
	return ok;
}

/* The delta index of delta, checked against its signed size and sha256. */
static int load_delta(struct lb_link *l, const char *master, const struct lb_desired_delta *dd,
                      const struct lb_chunk_index *ix, struct lb_delta_index *dx)
{
	char *url = NULL, *body = NULL;
	size_t len = 0;
	unsigned char want[32];
	int r = fetch_named(l, master, dd->index, "the Image-Deltas size", dd->index_size,
	                    dd->index_sha256, &body, &len, &url);
	if (!r && (r = lb_delta_index_parse(body, len, ix, dx)))
		r = lb_err_prefix(r, "%s", url);
	sodium_hex2bin(want, sizeof want, dd->base_sha256, 64, NULL, NULL, NULL);
	if (!r && memcmp(dx->base_sha, want, 32)) {
		lb_delta_index_free(dx);
		r = lb_errf(-LBE_HASH, "%s: from another image than the signed state says", url);
	}
	free(body);
	free(url);
	return r;
}

struct base {
	struct lb_imgbase b;
	struct lb_delta_index dx;
	char *url;
};

/* A device that holds an image the state has a delta from: the sources first,
 * then (in place) the target. Without one, or when its delta index cannot be
 * had, b->b.path stays NULL: everything is fetched plain. */
static int pick_base(struct lb_ctx *ctx, struct lb_link *l, const char *master, const char *slot,
                     const struct lb_imgsrc *src, size_t nsrc, const struct lb_chunk_index *ix,
                     struct base *b)
{
	const struct lb_desired_image *im = &l->d.image;
	for (size_t s = 0; s <= nsrc && im->ndeltas; s++) {
		const char *dev = s < nsrc && src ? src[s].path : slot;
		char sha[65];
		if (!held_image(ctx, dev, sha))
			continue;
		for (size_t k = 0; k < im->ndeltas; k++) {
			const struct lb_desired_delta *dd = &im->deltas[k];
			if (strcmp(dd->base_sha256, sha))
				continue;
			int r = load_delta(l, master, dd, ix, &b->dx);
			if (r == -ENOMEM)
				return r;
			if (r) {
				if (!ctx->quiet)
					fprintf(stderr, "lifeboat: warning: %s (no deltas)\n",
					        lb_err_msg());
				lb_err_clear();
				return 0;
			}
			if (asprintf(&b->url, "%s/%s", master, dd->path) < 0)
				return -ENOMEM;
			b->b = (struct lb_imgbase){
			    .path = dev, .dx = &b->dx, .delta_url = b->url, .in_place = s == nsrc};
			return 0;
		}
	}
	return 0;
}

static void base_free(struct base *b)
{
	lb_delta_index_free(&b->dx);
	free(b->url);
}

/* STATE/cache/chunks: frames fetched ahead for the next write. */
static int open_chunk_cache(struct lb_ctx *ctx, int *fd)
{
	int r = lb_ensure_dir(ctx->statefd, "cache", 0755);
	if (!r)
		r = lb_ensure_dir(ctx->statefd, "cache/chunks", 0755);
	*fd = r ? -1 : openat(ctx->statefd, "cache/chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!r && *fd < 0)
		r = -errno;
	return r ? lb_errf(r, "%s/cache/chunks: %s", ctx->state, strerror(-r)) : 0;
}

/* After a write that used them: the frames fetched ahead go. */
static void empty_chunk_cache(int fd)
{
	DIR *d = fdopendir(dup(fd));
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && lb_unlink(fd, e->d_name) < 0)
			break; /* left for the next write to use or remove */
	if (d)
		closedir(d);
}

static void print_plan(const struct writer *w, const struct lb_imgwrite *iw)
{
	const struct lb_imgwrite_stats *st = &iw->st;
	if (w->ctx->quiet)
		return;
	if (w->ctx->json) {
		printf("{\"event\":\"plan\",\"chunks\":%llu,\"right\":%llu,\"local\":%llu,"
		       "\"cached\":%llu,\"fetch\":%llu,\"fetch_bytes\":%llu",
		       st->chunks, st->right, st->local, st->cached, st->fetched, st->fetch_bytes);
		if (iw->base) /* fetched as delta frames (of fetch) */
			printf(",\"deltas\":%llu", st->deltas);
		puts("}");
		fflush(stdout);
		return;
	}
	fprintf(stderr,
	        "lifeboat: os: image %s: %llu chunks: %llu already in the slot, %llu copied "
	        "from this device, %llu cached, %llu to fetch (",
	        w->d->image.version, st->chunks, st->right, st->local, st->cached, st->fetched);
	if (iw->base)
		fprintf(stderr, "%llu as deltas from %s, ", st->deltas, iw->base->path);
	fprintf(stderr, "%.1f MiB)\n", (double)st->fetch_bytes / 1048576.0);
}

/* The image from its chunks: what the slot, the sources and the cache have,
 * the rest fetched from the pack. */
static int write_chunked(struct writer *w, struct lb_link *l, const char *master,
                         const struct lb_imgsrc *src, size_t nsrc)
{
	struct lb_chunk_index ix = {0};
	struct lb_imgwrite iw = {.f = &l->f,
	                         .slot = w->slot,
	                         .src = src,
	                         .nsrc = nsrc,
	                         .quiet = w->ctx->quiet,
	                         .cachefd = -1};
	char *url = NULL;
	struct base base = {0};
	int r = load_index(l, master, &ix);
	if (!r && asprintf(&url, "%s/%s", master, w->d->image.path) < 0)
		r = -ENOMEM;
	if (!r)
		r = pick_base(w->ctx, l, master, w->slot, src, nsrc, &ix, &base);
	iw.base = base.b.path ? &base.b : NULL;
	if (!r)
		r = open_chunk_cache(w->ctx, &iw.cachefd);
	iw.ix = &ix;
	iw.pack_url = url;
	if (!r)
		r = lb_imgwrite_plan(&iw);
	if (!r)
		print_plan(w, &iw);
	bool bar = isatty(2) && !w->ctx->quiet && !w->ctx->json;
	char name[160];
	snprintf(name, sizeof name, "image %s", w->d->image.version);
	struct lb_bar b = {.name = name};
	l->f.progress = bar ? lb_bar_progress : NULL;
	l->f.progress_arg = &b;
	if (!r)
		r = lb_imgwrite_run(&iw, w->fl);
	if (bar)
		fputc('\n', stderr);
	l->f.progress = NULL;
	if (!r)
		empty_chunk_cache(iw.cachefd);
	w->chunked = true;
	w->cs = iw.st;
	lb_imgwrite_free(&iw);
	if (iw.cachefd >= 0)
		close(iw.cachefd);
	base_free(&base);
	lb_chunk_index_free(&ix);
	free(url);
	return r;
}

/* The new root holds none of the packages: an empty database (keeping the serial
 * last applied, against replays), and no journal of the old root. The journal
 * goes first: a crash in between leaves a database that a rerun resets. */
static int reset_db(struct lb_ctx *ctx, unsigned long long serial)
{
	struct lb_db empty = {.serial = serial};
	int r = lb_unlink(ctx->pkgfd, LB_JOURNAL_FILE);
	if (!r)
		r = lb_fsync_dir(ctx->pkgfd, NULL);
	if (!r)
		r = lb_db_save(ctx->pkgfd, &empty);
	return r ? lb_errf(r, "%s: resetting the package database: %s", ctx->pkg, strerror(-r)) : 0;
}

#define MAX_SOURCES 8

struct write_opts {
	const char *slot;
	bool reset_db;
	bool newer;
	unsigned long long newer_than;
	struct lb_imgsrc src[MAX_SOURCES];
	size_t nsrc;
	unsigned long long reserve; /* os fetch: bytes the cache leaves free */
};

static int parse_serial(const char *opt, const char *v, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno)
		return lb_errf(-LBE_USAGE, "os write: %s '%s' is not a %s", opt, v,
		               strcmp(opt, "--newer-than") ? "number" : "serial");
	return 0;
}

static int parse_write(int argc, char **argv, struct lb_config *cfg, struct write_opts *o)
{
	int r = 0;
	for (int i = 2; !r && i < argc; i += 2) {
		const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(opt, "--reset-db")) {
			o->reset_db = true;
			i--; /* no value */
			continue;
		}
		if (!v)
			r = lb_errf(-LBE_USAGE, "os write: '%s' needs a value or is unknown", opt);
		else if (!strcmp(opt, "--slot"))
			o->slot = v;
		else if (!strcmp(opt, "--newer-than"))
			o->newer = !(r = parse_serial(opt, v, &o->newer_than));
		else if (!strcmp(opt, "--source") && o->nsrc == MAX_SOURCES)
			r = lb_errf(-LBE_USAGE, "os write: at most %d --source", MAX_SOURCES);
		else if (!strcmp(opt, "--source"))
			o->src[o->nsrc++] = (struct lb_imgsrc){v, 0};
		else if (!strcmp(opt, "--reserve"))
			r = parse_serial(opt, v, &o->reserve);
		else if ((r = lb_sync_option(cfg, opt, v)) == 0)
			r = lb_errf(-LBE_USAGE, "os write: unknown option '%s'", opt);
		else if (r > 0)
			r = 0;
	}
	if (!r && o->slot && (!*o->slot || strchr(o->slot, '\n')))
		r = lb_errf(-LBE_USAGE, "os write: --slot: a device path expected");
	if (!r && !o->slot)
		r = lb_errf(-LBE_USAGE,
		            "usage: lifeboat os %s --slot DEV [--reset-db] "
		            "[--newer-than SERIAL] [--source DEV]... [--config FILE] "
		            "[--master URL] ...",
		            argv[1]);
	if (!r)
		lb_sync_config_done(cfg);
	return r;
}

static void report(struct lb_ctx *ctx, const struct writer *w)
{
	const struct lb_flash_stats *st = lb_flash_stats(w->fl);
	const struct lb_desired_image *im = &w->d->image;
	if (ctx->quiet)
		return;
	if (ctx->json) {
		fputs("{\"event\":\"os-written\",\"slot\":", stdout);
		lb_json_str(stdout, w->slot);
		fputs(",\"version\":", stdout);
		lb_json_str(stdout, im->version);
		printf(",\"sha256\":\"%s\",\"size\":%llu,\"serial\":%llu,\"blocks\":%llu,"
		       "\"written\":%llu,\"skipped\":%llu",
		       im->sha256, im->size, w->d->serial, st->blocks, st->written, st->skipped);
		if (w->chunked)
			printf(",\"chunks\":%llu,\"fetched\":%llu,\"refetched\":%llu,"
			       "\"fetch_bytes\":%llu,\"requests\":%llu",
			       w->cs.chunks, w->cs.fetched, w->cs.refetched, w->cs.fetch_bytes,
			       w->cs.requests);
		puts("}");
		return;
	}
	fprintf(stderr, "lifeboat: os: wrote %s to %s (%.1f MiB, %llu blocks already right",
	        im->version, w->slot, (double)im->size / 1048576.0, st->skipped);
	if (w->chunked)
		fprintf(stderr, "; %llu of %llu chunks fetched, %.1f MiB in %llu requests",
		        w->cs.fetched + w->cs.refetched, w->cs.chunks,
		        (double)w->cs.fetch_bytes / 1048576.0, w->cs.requests);
	fputs(")\n", stderr);
}

int lb_os_write_slot(struct lb_ctx *ctx, struct lb_link *l, const char *master, const char *dev,
                     const struct lb_imgsrc *src, size_t nsrc, bool reset,
                     unsigned long long serial)
{
	struct writer w = {.ctx = ctx, .slot = dev, .d = &l->d};
	struct lb_flash_opts fo = {.before_write = before_write, .arg = &w};
	int r = lb_flash_open(dev, l->d.image.size, l->d.image.sha256, &fo, &w.fl);
	if (r == -EINVAL)
		r = -LBE_USAGE; /* --slot names something that is not a slot */
	if (!r)
		r = l->d.image.index ? write_chunked(&w, l, master, src, nsrc)
		                     : write_stream(&w, l, master);
	if (!r && reset)
		r = reset_db(ctx, serial);
	if (!r)
		r = record(ctx, dev, &l->d, true);
	if (!r)
		report(ctx, &w);
	lb_flash_close(w.fl);
	return r;
}

/* `--slot DEV` without the global --slot: the record and package state are those
 * of the slot DEV is (rootfs-NAME), when it is one. */
static int slot_of(struct lb_ctx *ctx, const struct lb_config *cfg, const char *dev)
{
	static char name[LB_BOOT_NAME_MAX], pkg[PATH_MAX];
	if (ctx->slot_given || lb_slot_of_device(dev, cfg->slot_devices, NULL, name, sizeof name))
		return 0;
	if (ctx->slot && !strcmp(ctx->slot, name))
		return 0;
	return lb_ctx_open_slot(ctx, name, true, pkg, sizeof pkg);
}

static int os_write(struct lb_ctx *ctx, int argc, char **argv)
{
	const char *conf = NULL;
	for (int i = 2; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--config"))
			conf = argv[i + 1];
	struct lb_config cfg;
	struct write_opts o = {0};
	int r = lb_config_load(ctx, conf, &cfg);
	if (r)
		return r;
	r = parse_write(argc, argv, &cfg, &o);
	if (!r)
		r = slot_of(ctx, &cfg, o.slot);
	struct lb_link l = {0};
	struct lb_db db = {0};
	if (!r)
		r = lb_sync_fetch_state(ctx, &cfg, "os write", &l);
	bool db_lost = false;
	if (!r && (r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db)) &&
	    (r == -LBE_CORRUPT || r == -LBE_FORMAT_VER) && o.reset_db) {
		/* the database goes anyway; its serial is lost: the state's is kept */
		if (!ctx->quiet)
			fprintf(stderr, "lifeboat: warning: %s; --reset-db replaces it\n",
			        lb_err_msg());
		lb_err_clear();
		db_lost = true;
		r = 0;
	}
	if (!r)
		r = lb_sync_check_serial(&cfg, &l, db.serial);
	if (!r && o.newer && l.d.serial <= o.newer_than)
		r = lb_errf(
		    -LBE_STALE,
		    "%s/groups/%s/state: serial %llu is not newer than %llu (--newer-than): "
		    "waiting for a newer desired state",
		    cfg.master, l.group, l.d.serial, o.newer_than);
	if (!r && !l.d.image.present)
		r = lb_errf(-LBE_FORMAT, "%s/groups/%s/state: serial %llu names no OS image",
		            cfg.master, l.group, l.d.serial);
	if (!r && !o.reset_db && faccessat(ctx->pkgfd, LB_JOURNAL_FILE, F_OK, 0) == 0 &&
	    !ctx->quiet)
		fprintf(stderr,
		        "lifeboat: warning: %s/%s: an interrupted transaction of the old "
		        "root; --reset-db discards it\n",
		        ctx->pkg, LB_JOURNAL_FILE);
	if (!r)
		r = lb_os_write_slot(ctx, &l, cfg.master, o.slot, o.src, o.nsrc, o.reset_db,
		                     db_lost ? l.d.serial : db.serial);
	lb_db_free(&db);
	lb_link_free(&l);
	lb_config_free(&cfg);
	return r;
}

int lb_os_record_load(const struct lb_ctx *ctx, struct lb_doc *doc)
{
	char *buf = NULL;
	size_t len = 0;
	*doc = (struct lb_doc){0};
	int r = lb_read_file(ctx->pkgfd, OS_FILE, OS_FILE_MAX, &buf, &len);
	if (r == -ENOENT)
		return r;
	if (r)
		return lb_errf(r, "%s/%s: %s", ctx->pkg, OS_FILE, strerror(-r));
	r = lb_deb822_parse(buf, len, doc);
	free(buf);
	if (!r && doc->n != 1)
		r = lb_errf(-LBE_CORRUPT, "one paragraph expected");
	if (r) {
		lb_doc_free(doc);
		return lb_err_prefix(r == -LBE_FORMAT ? -LBE_CORRUPT : r, "%s/%s", ctx->pkg,
		                     OS_FILE);
	}
	return 0;
}

int lb_os_prefetch(struct lb_ctx *ctx, struct lb_link *l, const char *master, const char *slot,
                   unsigned long long reserve, bool *complete)
{
	struct lb_chunk_index ix = {0};
	struct lb_imgwrite iw = {.f = &l->f, .slot = slot, .quiet = ctx->quiet, .cachefd = -1};
	char *url = NULL;
	*complete = false;
	if (!l->d.image.present || !l->d.image.index)
		return lb_errf(-LBE_FORMAT,
		               "%s/groups/%s/state: serial %llu names no chunked OS image", master,
		               l->group, l->d.serial);
	struct base base = {0};
	int r = load_index(l, master, &ix);
	if (!r && asprintf(&url, "%s/%s", master, l->d.image.path) < 0)
		r = -ENOMEM;
	if (!r)
		r = pick_base(ctx, l, master, slot, NULL, 0, &ix, &base);
	iw.base = base.b.path ? &base.b : NULL;
	if (!r)
		r = open_chunk_cache(ctx, &iw.cachefd);
	iw.ix = &ix;
	iw.pack_url = url;
	if (!r)
		r = lb_imgwrite_plan(&iw);
	unsigned long long req0 = l->f.requests, bytes0 = l->f.bytes;
	if (!r)
		r = lb_imgwrite_prefetch(&iw, reserve, complete);
	if (!r && !ctx->quiet) {
		if (ctx->json)
			printf("{\"event\":\"os-fetched\",\"version\":\"%s\",\"complete\":%s,"
			       "\"requests\":%llu,\"bytes\":%llu}\n",
			       l->d.image.version, *complete ? "true" : "false",
			       l->f.requests - req0, l->f.bytes - bytes0);
		else
			fprintf(
			    stderr,
			    "lifeboat: os: image %s: %s in %s/cache/chunks (%llu requests, %.1f "
			    "MiB)\n",
			    l->d.image.version,
			    *complete ? "everything the slot lacks is"
			              : "the cache is full: part of what the slot lacks is",
			    ctx->state, l->f.requests - req0,
			    (double)(l->f.bytes - bytes0) / 1048576.0);
	}
	lb_imgwrite_free(&iw);
	if (iw.cachefd >= 0)
		close(iw.cachefd);
	base_free(&base);
	lb_chunk_index_free(&ix);
	free(url);
	return r;
}

/* os fetch --slot DEV: what a rewrite of DEV in place would need, into the cache. */
static int os_fetch(struct lb_ctx *ctx, int argc, char **argv)
{
	const char *conf = NULL;
	for (int i = 2; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--config"))
			conf = argv[i + 1];
	struct lb_config cfg;
	struct write_opts o = {.reserve = 4u << 20};
	int r = lb_config_load(ctx, conf, &cfg);
	if (r)
		return r;
	r = parse_write(argc, argv, &cfg, &o);
	if (!r)
		r = slot_of(ctx, &cfg, o.slot);
	struct lb_link l = {0};
	if (!r)
		r = lb_sync_fetch_state(ctx, &cfg, "os fetch", &l);
	bool complete = false;
	if (!r)
		r = lb_os_prefetch(ctx, &l, cfg.master, o.slot, o.reserve, &complete);
	lb_link_free(&l);
	lb_config_free(&cfg);
	return r ? r : complete ? 0 : 1;
}

/* The slots that have a record (STATE/slot-NAME/os), sorted; at most max. */
static size_t list_slots(struct lb_ctx *ctx, char names[][LB_BOOT_NAME_MAX], size_t max)
{
	DIR *d = fdopendir(dup(ctx->statefd));
	struct dirent *e;
	size_t n = 0;
	while (d && n < max && (e = readdir(d))) {
		char rec[300];
		if (strncmp(e->d_name, "slot-", 5) || !lb_boot_name_valid(e->d_name + 5))
			continue;
		snprintf(rec, sizeof rec, "%s/%s", e->d_name, OS_FILE);
		if (faccessat(ctx->statefd, rec, F_OK, 0) == 0)
			snprintf(names[n++], LB_BOOT_NAME_MAX, "%s", e->d_name + 5);
	}
	if (d)
		closedir(d);
	for (size_t i = 1; i < n; i++) /* insertion sort: a handful of names */
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[LB_BOOT_NAME_MAX];
			memcpy(t, names[j], sizeof t);
			memcpy(names[j], names[j - 1], sizeof t);
			memcpy(names[j - 1], t, sizeof t);
		}
	return n;
}

static const char *field_or(const struct lb_doc *doc, const char *name, const char *dflt)
{
	const char *v = doc->n ? lb_para_get(&doc->paras[0], name) : NULL;
	return v ? v : dflt;
}

/* Every slot: its image, whether it is the one running, committed, on trial. */
static int os_overview(struct lb_ctx *ctx, char names[][LB_BOOT_NAME_MAX], size_t n)
{
	struct lb_config cfg;
	struct lb_bootstore st;
	struct lb_bootstate bs;
	int r = lb_config_load(ctx, NULL, &cfg);
	if (r)
		return r;
	lb_bootstore_setup(&st, ctx, &cfg);
	r = lb_bootstore_load(&st, &bs);
	lb_bootstore_close(&st);
	lb_config_free(&cfg);
	if (r)
		return r;
	const char *booted = ctx->slot ? ctx->slot : "";
	bool all_complete = true;
	if (ctx->json)
		fputs("{\"slots\":[", stdout);
	for (size_t i = 0; i < n; i++) {
		struct lb_ctx c = *ctx;
		char pkg[PATH_MAX], rel[64];
		snprintf(pkg, sizeof pkg, "%s/slot-%s", ctx->state, names[i]);
		snprintf(rel, sizeof rel, "slot-%s", names[i]);
		c.pkg = pkg;
		c.pkgfd = openat(ctx->statefd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct lb_doc doc = {0};
		if (c.pkgfd < 0 || lb_os_record_load(&c, &doc))
			lb_err_clear();
		if (c.pkgfd >= 0)
			close(c.pkgfd);
		bool run = !strcmp(names[i], booted), committed = !strcmp(names[i], bs.slot);
		bool trial = !strcmp(names[i], bs.try_slot),
		     failed = !strcmp(names[i], bs.failed_slot);
		const char *status = field_or(&doc, "Status", "damaged record");
		all_complete = all_complete && !strcmp(status, "complete");
		const char *serial = field_or(&doc, "Serial", "0");
		if (!*serial || strspn(serial, "0123456789") != strlen(serial))
			serial = "0";
		if (ctx->json) {
			printf("%s{\"slot\":", i ? "," : "");
			lb_json_str(stdout, names[i]);
			fputs(",\"device\":", stdout);
			lb_json_str(stdout, field_or(&doc, "Slot-Device", ""));
			fputs(",\"version\":", stdout);
			lb_json_str(stdout, field_or(&doc, "Image-Version", ""));
			fputs(",\"status\":", stdout);
			lb_json_str(stdout, status);
			printf(",\"serial\":%s,\"booted\":%s,\"committed\":%s,\"try\":%s,\"failed_"
			       "try\":%s}",
			       serial, run ? "true" : "false", committed ? "true" : "false",
			       trial ? "true" : "false", failed ? "true" : "false");
		} else {
			printf("slot %s: %s %s (%s, serial %s)%s%s%s%s\n", names[i],
			       field_or(&doc, "Slot-Device", "?"),
			       field_or(&doc, "Image-Version", "?"), status,
			       field_or(&doc, "Serial", "?"), run ? ", booted" : "",
			       committed ? ", committed" : "",
			       trial
			           ? (bs.try_booted ? ", on trial now" : ", tried at the next boot")
			           : "",
			       failed ? ", its last try failed" : "");
		}
		lb_doc_free(&doc);
	}
	if (ctx->json)
		puts("]}");
	return all_complete ? 0 : 1; /* as for one record: 1 when a write did not finish */
}

/* Print STATE/os (--json: as an object). 0 when it records a complete write, 1
 * when it records an incomplete one or there is none. */
static int os_status(struct lb_ctx *ctx, int argc, char **argv)
{
	(void)argv;
	if (argc > 2)
		return lb_errf(-LBE_USAGE, "usage: lifeboat [--slot NAME] os status");
	/* without --slot on a device with slot records: all of them */
	char names[16][LB_BOOT_NAME_MAX];
	size_t n = ctx->slot_given ? 0 : list_slots(ctx, names, 16);
	if (n)
		return os_overview(ctx, names, n);
	struct lb_doc doc = {0};
	int r = lb_os_record_load(ctx, &doc);
	if (r == -ENOENT) {
		if (ctx->json)
			puts("{\"status\":\"none\"}");
		else
			fprintf(stderr, "lifeboat: os: no image written here (%s/%s)\n", ctx->pkg,
			        OS_FILE);
		return 1;
	}
	if (r)
		return r;
	const struct lb_para *p = &doc.paras[0];
	const char *status = lb_para_get(p, "Status");
	bool complete = status && !strcmp(status, "complete");
	if (ctx->json) {
		static const char *const keys[][2] = {
		    {"Slot-Device", "slot"},      {"Status", "status"},
		    {"Image-Version", "version"}, {"Image-SHA256", "sha256"},
		    {"Image-Size", "size"},       {"Serial", "serial"},
		    {"Written", "written"},       {"Started", "started"},
		};
		const char *sep = "{";
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			const char *v = lb_para_get(p, keys[i][0]);
			if (!v)
				continue;
			printf("%s\"%s\":", sep, keys[i][1]);
			bool num = (!strcmp(keys[i][1], "size") || !strcmp(keys[i][1], "serial")) &&
			           *v && strspn(v, "0123456789") == strlen(v);
			if (num)
				fputs(v, stdout);
			else
				lb_json_str(stdout, v);
			sep = ",";
		}
		puts(*sep == '{' ? "{}" : "}");
	} else { /* the record's fields as written (all one-line) */
		for (size_t i = 0; i < p->n; i++)
			printf("%s: %s\n", p->fields[i].name, p->fields[i].value);
	}
	lb_doc_free(&doc);
	return complete ? 0 : 1;
}

int cmd_os(struct lb_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "write"))
		return os_write(ctx, argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "status"))
		return os_status(ctx, argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "fetch"))
		return os_fetch(ctx, argc, argv);
	return lb_errf(-LBE_USAGE, "usage: lifeboat os write --slot DEV [--reset-db] ... | "
	                           "lifeboat os fetch --slot DEV [--reserve BYTES] ... | "
	                           "lifeboat os status");
}
