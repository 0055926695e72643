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
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "cmd.h"
#include "deb822.h"
#include "flash.h"
#include "fsop.h"
#include "journal.h"
#include "pkgdb.h"
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
	int r = lb_replace_file(ctx->statefd, OS_FILE, text, (size_t)n, 0644);
	free(text);
	return r ? lb_errf(r, "%s/%s: %s", ctx->state, OS_FILE, strerror(-r)) : 0;
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

/* Stream the image onto the slot. */
static int write_image(struct writer *w, struct lb_link *l, const char *master)
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

/* The new root holds none of the packages: an empty database (keeping the serial
 * last applied, against replays), and no journal of the old root. The journal
 * goes first: a crash in between leaves a database that a rerun resets. */
static int reset_db(struct lb_ctx *ctx, unsigned long long serial)
{
	struct lb_db empty = {.serial = serial};
	int r = lb_unlink(ctx->statefd, LB_JOURNAL_FILE);
	if (!r)
		r = lb_fsync_dir(ctx->statefd, NULL);
	if (!r)
		r = lb_db_save(ctx->statefd, &empty);
	return r ? lb_errf(r, "%s: resetting the package database: %s", ctx->state, strerror(-r))
	         : 0;
}

struct write_opts {
	const char *slot;
	bool reset_db;
	bool newer;
	unsigned long long newer_than;
};

static int parse_serial(const char *v, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno)
		return lb_errf(-LBE_USAGE, "os write: --newer-than '%s' is not a serial", v);
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
			o->newer = !(r = parse_serial(v, &o->newer_than));
		else if ((r = lb_sync_option(cfg, opt, v)) == 0)
			r = lb_errf(-LBE_USAGE, "os write: unknown option '%s'", opt);
		else if (r > 0)
			r = 0;
	}
	if (!r && o->slot && (!*o->slot || strchr(o->slot, '\n')))
		r = lb_errf(-LBE_USAGE, "os write: --slot: a device path expected");
	if (!r && !o->slot)
		r = lb_errf(-LBE_USAGE, "usage: lifeboat os write --slot DEV [--reset-db] "
		                        "[--newer-than SERIAL] [--config FILE] [--master URL] ...");
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
		       "\"written\":%llu,\"skipped\":%llu}\n",
		       im->sha256, im->size, w->d->serial, st->blocks, st->written, st->skipped);
		return;
	}
	fprintf(stderr, "lifeboat: os: wrote %s to %s (%.1f MiB, %llu blocks already right)\n",
	        im->version, w->slot, (double)im->size / 1048576.0, st->skipped);
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
	struct lb_link l = {0};
	struct lb_db db = {0};
	if (!r)
		r = lb_sync_fetch_state(ctx, &cfg, "os write", &l);
	bool db_lost = false;
	if (!r && (r = lb_db_load(ctx->statefd, LB_DB_FILE, &db)) &&
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
	if (!r && !o.reset_db && faccessat(ctx->statefd, LB_JOURNAL_FILE, F_OK, 0) == 0 &&
	    !ctx->quiet)
		fprintf(stderr,
		        "lifeboat: warning: %s/%s: an interrupted transaction of the old "
		        "root; --reset-db discards it\n",
		        ctx->state, LB_JOURNAL_FILE);
	struct writer w = {.ctx = ctx, .slot = o.slot, .d = &l.d};
	struct lb_flash_opts fo = {.before_write = before_write, .arg = &w};
	if (!r &&
	    (r = lb_flash_open(o.slot, l.d.image.size, l.d.image.sha256, &fo, &w.fl)) == -EINVAL)
		r = -LBE_USAGE; /* --slot names something that is not a slot */
	if (!r)
		r = write_image(&w, &l, cfg.master);
	if (!r && o.reset_db)
		r = reset_db(ctx, db_lost ? l.d.serial : db.serial);
	if (!r)
		r = record(ctx, o.slot, &l.d, true);
	if (!r)
		report(ctx, &w);
	lb_flash_close(w.fl);
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
	int r = lb_read_file(ctx->statefd, OS_FILE, OS_FILE_MAX, &buf, &len);
	if (r == -ENOENT)
		return r;
	if (r)
		return lb_errf(r, "%s/%s: %s", ctx->state, OS_FILE, strerror(-r));
	r = lb_deb822_parse(buf, len, doc);
	free(buf);
	if (!r && doc->n != 1)
		r = lb_errf(-LBE_CORRUPT, "one paragraph expected");
	if (r) {
		lb_doc_free(doc);
		return lb_err_prefix(r == -LBE_FORMAT ? -LBE_CORRUPT : r, "%s/%s", ctx->state,
		                     OS_FILE);
	}
	return 0;
}

/* Print STATE/os (--json: as an object). 0 when it records a complete write, 1
 * when it records an incomplete one or there is none. */
static int os_status(struct lb_ctx *ctx, int argc, char **argv)
{
	(void)argv;
	if (argc > 2)
		return lb_errf(-LBE_USAGE, "usage: lifeboat os status");
	struct lb_doc doc = {0};
	int r = lb_os_record_load(ctx, &doc);
	if (r == -ENOENT) {
		if (ctx->json)
			puts("{\"status\":\"none\"}");
		else
			fprintf(stderr, "lifeboat: os: no image written here (%s/%s)\n", ctx->state,
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
	return lb_errf(-LBE_USAGE, "usage: lifeboat os write --slot DEV [--reset-db] ... | "
	                           "lifeboat os status");
}
