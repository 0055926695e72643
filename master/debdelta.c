/* SPDX-License-Identifier: MIT */
/* Making a package delta (lib/pkgdelta.h) from an older .deb to a newer one.
 *
 * The old package's files are read into memory. Each regular file of the new
 * package is then sent the cheapest way: not at all when an old file has the
 * same content; else, against its base (the old file of the same path, or of a
 * similar name: libfoo.so.1.2 -> libfoo.so.1.3), as a zstd frame with the base
 * as its prefix or as a bsdiff stream, whichever is smaller; else literally.
 * Everything goes into one zstd stream, so that the tar metadata, the literal
 * files and the bsdiff streams are compressed together. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <lzma.h>
#include <zstd.h>

#include "bdiff.h"
#include "deb.h"
#include "fsop.h"
#include "master.h"
#include "pkgdelta.h"

#define ZPATCH_MAX   (64ull << 20) /* the device holds a zstd-patched file in memory */
#define ZPATCH_LEVEL 19

struct ofile {
	char *path;
	char *link; /* a hardlink's target, until resolved */
	unsigned char *data;
	size_t len;
	unsigned char sha[32];
};

struct old {
	struct ofile *f; /* sorted by path */
	size_t n, cap;
};

enum { META, DIFF, EXTRA, NPARTS }; /* the delta's three streams (lib/pkgdelta.h) */

struct enc {
	const struct old *old;
	ZSTD_CCtx *patch;
	int fd;
	struct mbuf part[NPARTS]; /* their bytes, compressed at the end */
	char prev[LB_DEB_MAX_PATH + 1];
	long long mtime;
	struct debdelta_stats *st;
	struct lb_deb_meta meta; /* the new package's; conffiles is read before data.tar */
	struct mbuf tmp;         /* a bsdiff stream */
};

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct ofile *)a)->path, ((const struct ofile *)b)->path);
}

static const struct ofile *old_find(const struct old *o, const char *path)
{
	struct ofile key = {.path = (char *)path};
	return o->n ? bsearch(&key, o->f, o->n, sizeof *o->f, cmp_path) : NULL;
}

static int read_all(struct lb_deb_reader *r, unsigned char **data, size_t len)
{
	if (!(*data = malloc(len ? len : 1)))
		return -ENOMEM;
	for (size_t got = 0; got < len;) {
		ssize_t n = lb_deb_data_read(r, *data + got, len - got);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return lb_errf(-LBE_DEB, "short file");
		got += (size_t)n;
	}
	return 0;
}

static int old_entry(void *arg, const struct lb_deb_entry *e, struct lb_deb_reader *r)
{
	struct old *o = arg;
	if (e->type != LB_FT_REG && e->type != LB_FT_HARDLINK)
		return 0;
	if (e->size > LB_BDIFF_MAX)
		return 0; /* too large to be a base */
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		struct ofile *f = realloc(o->f, cap * sizeof *f);
		if (!f)
			return -ENOMEM;
		o->f = f;
		o->cap = cap;
	}
	struct ofile *f = &o->f[o->n];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(e->path)))
		return -ENOMEM;
	o->n++;
	if (e->type == LB_FT_HARDLINK)
		return (f->link = strdup(e->link)) ? 0 : -ENOMEM;
	int rc = read_all(r, &f->data, (size_t)e->size);
	f->len = (size_t)e->size;
	if (!rc)
		crypto_hash_sha256(f->sha, f->data, f->len);
	return rc;
}

static void old_free(struct old *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->f[i].path);
		if (!o->f[i].link) /* a hardlink shares its target's data */
			free(o->f[i].data);
		free(o->f[i].link);
	}
	free(o->f);
	memset(o, 0, sizeof *o);
}

static int old_load(const char *deb, struct old *o, char sha256[65])
{
	int fd = open(deb, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lb_errf(-errno, "%s: %s", deb, strerror(errno));
	int r = lb_deb_read(fd, NULL, old_entry, o, sha256, NULL);
	close(fd);
	if (r)
		return lb_err_prefix(r, "%s", deb);
	if (o->n)
		qsort(o->f, o->n, sizeof *o->f, cmp_path);
	/* hardlinks share their target's content */
	for (size_t i = 0; i < o->n; i++) {
		if (!o->f[i].link)
			continue;
		const struct ofile *t = old_find(o, o->f[i].link);
		if (t && !t->link) {
			o->f[i].data = t->data;
			o->f[i].len = t->len;
			memcpy(o->f[i].sha, t->sha, 32);
		}
	}
	return 0;
}

/* ---- the three streams ---- */

static int out(struct enc *c, int k, const void *buf, size_t len)
{
	mbuf_put(&c->part[k], buf, len);
	return c->part[k].err;
}

static int out_varint(struct enc *c, unsigned long long v)
{
	unsigned char b[10];
	size_t n = 0;
	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		b[n++] |= v ? 0x80 : 0;
	} while (v);
	return out(c, META, b, n);
}

static int out_byte(struct enc *c, unsigned char b)
{
	return out(c, META, &b, 1);
}

static int out_str(struct enc *c, const char *s, size_t len)
{
	int e = out_varint(c, len);
	return e ? e : out(c, META, s, len);
}

/* One stream as xz (LZMA2, dictionary LB_PD_DICT), appended to fd. */
static int write_xz(int fd, const struct mbuf *b, int preset, unsigned long long *size)
{
	lzma_options_lzma opt;
	if (lzma_lzma_preset(&opt, (uint32_t)preset | LZMA_PRESET_EXTREME))
		return lb_errf(-EINVAL, "xz preset %d", preset);
	opt.dict_size = LB_PD_DICT;
	lzma_filter f[] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, NULL}};
	lzma_stream z = LZMA_STREAM_INIT;
	if (lzma_stream_encoder(&z, f, LZMA_CHECK_CRC32) != LZMA_OK)
		return -ENOMEM;
	static unsigned char obuf[1 << 16];
	z.next_in = (const uint8_t *)b->s;
	z.avail_in = b->len;
	int e = 0;
	*size = 0;
	for (lzma_ret ret = LZMA_OK; !e && ret != LZMA_STREAM_END;) {
		z.next_out = obuf;
		z.avail_out = sizeof obuf;
		ret = lzma_code(&z, LZMA_FINISH);
		if (ret != LZMA_OK && ret != LZMA_STREAM_END)
			e = lb_errf(-EIO, "xz: error %d", (int)ret);
		size_t n = sizeof obuf - z.avail_out;
		if (!e && (e = lb_write_all(fd, obuf, n)))
			e = lb_errf(e, "write: %s", strerror(-e));
		*size += n;
	}
	lzma_end(&z);
	return e;
}

/* What buf would cost as xz (an estimate: a faster preset than the delta's). */
static size_t xzsize(const void *buf, size_t len, int *err)
{
	size_t cap = lzma_stream_buffer_bound(len), n = 0;
	uint8_t *dst = malloc(cap);
	if (!dst) {
		*err = -ENOMEM;
		return 0;
	}
	if (lzma_easy_buffer_encode(6, LZMA_CHECK_NONE, NULL, buf, len, dst, &n, cap) != LZMA_OK)
		n = len;
	free(dst);
	return n;
}

/* ---- choosing how to send a file ---- */

/* "libfoo.so.1.2.3" and "libfoo.so.1.2.4" are similar: the same directory and
 * the same name without its digits. */
static bool similar(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	size_t da = sa ? (size_t)(sa - a) : 0, db = sb ? (size_t)(sb - b) : 0;
	if (da != db || strncmp(a, b, da))
		return false;
	for (a += da, b += db;; a++, b++) {
		while (*a >= '0' && *a <= '9')
			a++;
		while (*b >= '0' && *b <= '9')
			b++;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
	}
}

/* The old file the new one is best sent against, or NULL. *same: same content. */
static const struct ofile *base_for(const struct old *o, const char *path, const unsigned char *sha,
                                    bool *same)
{
	const struct ofile *f = old_find(o, path);
	*same = f && f->data && !memcmp(f->sha, sha, 32);
	if (*same)
		return f;
	for (size_t i = 0; i < o->n; i++)
		if (o->f[i].data && !memcmp(o->f[i].sha, sha, 32)) {
			*same = true;
			return &o->f[i];
		}
	if (f && f->data)
		return f;
	for (size_t i = 0; i < o->n; i++)
		if (o->f[i].data && similar(o->f[i].path, path))
			return &o->f[i];
	return NULL;
}

static int grow(void *arg, const void *buf, size_t len)
{
	struct mbuf *b = arg;
	mbuf_put(b, buf, len);
	return b->err;
}

static unsigned highbit(unsigned long long v)
{
	unsigned b = 0;
	while (v >>= 1)
		b++;
	return b;
}

/* A zstd frame of neu with base as its prefix, malloc'd into *frame. */
static int zpatch(struct enc *c, const struct ofile *base, const unsigned char *neu, size_t len,
                  unsigned char **frame, size_t *flen)
{
	unsigned wlog = highbit(base->len + len) + 1;
	wlog = wlog < 10 ? 10 : wlog > 30 ? 30 : wlog;
	ZSTD_CCtx_reset(c->patch, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(c->patch, ZSTD_c_compressionLevel, ZPATCH_LEVEL);
	ZSTD_CCtx_setParameter(c->patch, ZSTD_c_windowLog, (int)wlog);
	ZSTD_CCtx_setParameter(c->patch, ZSTD_c_checksumFlag, 0);
	if (base->len + len > (8u << 20))
		ZSTD_CCtx_setParameter(c->patch, ZSTD_c_enableLongDistanceMatching, 1);
	ZSTD_CCtx_refPrefix(c->patch, base->data, base->len);
	size_t cap = ZSTD_compressBound(len);
	if (!(*frame = malloc(cap)))
		return -ENOMEM;
	size_t n = ZSTD_compress2(c->patch, *frame, cap, neu, len);
	if (ZSTD_isError(n))
		return lb_errf(-EIO, "zstd: %s", ZSTD_getErrorName(n));
	*flen = n;
	return 0;
}

static int send_base(struct enc *c, char op, const struct ofile *base, const char *path)
{
	int e = out_byte(c, (unsigned char)op);
	if (!e && !strcmp(base->path, path))
		return out_varint(c, 0);
	if (!e)
		e = out_varint(c, strlen(base->path) + 1);
	return e ? e : out(c, META, base->path, strlen(base->path));
}

/* A bsdiff stream (c->tmp) split into the delta's streams: the records to META,
 * the ADD bytes to DIFF, the COPY bytes to EXTRA. When to is NULL, only the
 * sizes of the three parts in sizes[]. */
static int split_bsdiff(struct enc *c, size_t newlen, struct mbuf *to)
{
	const unsigned char *s = (const unsigned char *)c->tmp.s;
	size_t pos = 0, len = c->tmp.len;
	for (unsigned long long done = 0; done < newlen;) {
		unsigned long long v[3] = {0, 0, 0};
		size_t start = pos;
		for (int k = 0; k < 3; k++)
			for (unsigned shift = 0; pos < len; shift += 7) {
				v[k] |= (unsigned long long)(s[pos] & 0x7f) << shift;
				if (!(s[pos++] & 0x80))
					break;
			}
		if (pos > len || v[0] + v[1] > len - pos)
			return lb_errf(-EIO, "bsdiff: a stream that does not parse");
		mbuf_put(&to[META], (const char *)s + start, pos - start);
		mbuf_put(&to[DIFF], (const char *)s + pos, (size_t)v[0]);
		mbuf_put(&to[EXTRA], (const char *)s + pos + v[0], (size_t)v[1]);
		pos += (size_t)(v[0] + v[1]);
		done += v[0] + v[1];
	}
	for (int k = 0; k < NPARTS; k++)
		if (to[k].err)
			return to[k].err;
	return 0;
}

/* Is path a conffile of the new package? */
static bool is_conffile(const struct enc *c, const char *path)
{
	const char *s = c->meta.conffiles;
	size_t n = strlen(path);
	while (s && *s) {
		const char *nl = strchr(s, '\n'), *end = nl ? nl : s + strlen(s);
		const char *p = s;
		while (p < end && *p == '/')
			p++;
		if ((size_t)(end - p) == n && !memcmp(p, path, n))
			return true;
		s = nl ? nl + 1 : end;
	}
	return false;
}

static int send_content(struct enc *c, const char *path, const unsigned char *neu, size_t len)
{
	unsigned char sha[32];
	bool same;
	crypto_hash_sha256(sha, neu, len);
	const struct ofile *base = base_for(c->old, path, sha, &same);
	if (is_conffile(c, path))
		base = NULL; /* often changed by hand: a delta against it would not be used */
	same = same && base;
	if (same) {
		c->st->same++;
		return send_base(c, 'S', base, path);
	}
	int e = 0;
	size_t lit = xzsize(neu, len, &e), zlen = SIZE_MAX, blen = SIZE_MAX;
	unsigned char *frame = NULL;
	struct mbuf parts[NPARTS] = {{0}};
	c->tmp.len = 0;
	if (!e && base && len <= ZPATCH_MAX)
		e = zpatch(c, base, neu, len, &frame, &zlen);
	if (!e && base && len <= LB_BDIFF_MAX) {
		e = lb_bdiff(base->data, base->len, neu, len, grow, &c->tmp);
		if (!e)
			e = split_bsdiff(c, len, parts);
		blen = 0;
		for (int k = 0; !e && k < NPARTS; k++)
			blen += xzsize(parts[k].s, parts[k].len, &e);
	}
	if (!e && zlen < lit && zlen <= blen) {
		c->st->zstd++;
		e = send_base(c, 'Z', base, path);
		if (!e)
			e = out_varint(c, zlen);
		if (!e)
			e = out(c, EXTRA, frame, zlen);
	} else if (!e && blen < lit) {
		c->st->bsdiff++;
		e = send_base(c, 'B', base, path);
		for (int k = 0; !e && k < NPARTS; k++)
			e = out(c, k, parts[k].s, parts[k].len);
	} else if (!e) {
		c->st->literal++;
		e = out_byte(c, 'L');
		if (!e)
			e = out(c, EXTRA, neu, len);
	}
	for (int k = 0; k < NPARTS; k++)
		mbuf_free(&parts[k]);
	free(frame);
	return e;
}

static int new_entry(void *arg, const struct lb_deb_entry *de, struct lb_deb_reader *r)
{
	struct enc *c = arg;
	size_t keep = 0, plen = strlen(de->path);
	while (c->prev[keep] && c->prev[keep] == de->path[keep])
		keep++;
	long long dt = de->mtime - c->mtime;
	c->mtime = de->mtime;
	int e = out_byte(c, (unsigned char)de->type);
	if (!e)
		e = out_varint(c, de->mode);
	if (!e)
		e = out_varint(c, de->uid);
	if (!e)
		e = out_varint(c, de->gid);
	if (!e)
		e = out_varint(c, dt < 0 ? ((unsigned long long)-(dt + 1) << 1) | 1
		                         : (unsigned long long)dt << 1);
	if (!e)
		e = out_varint(c, keep);
	if (!e)
		e = out_str(c, de->path + keep, plen - keep);
	memcpy(c->prev, de->path, plen + 1);
	if (e)
		return e;
	if (de->type == LB_FT_SYMLINK || de->type == LB_FT_HARDLINK)
		return out_str(c, de->link, strlen(de->link));
	if (de->type == LB_FT_CHR || de->type == LB_FT_BLK) {
		e = out_varint(c, major(de->rdev));
		return e ? e : out_varint(c, minor(de->rdev));
	}
	if (de->type != LB_FT_REG)
		return 0;
	if (de->size > LB_PD_MAX_FILE)
		return lb_errf(-EFBIG, "%s: too large for a delta", de->path);
	if ((e = out_varint(c, de->size)) || !de->size)
		return e;
	unsigned char *data = NULL;
	e = read_all(r, &data, (size_t)de->size);
	if (!e)
		e = send_content(c, de->path, data, (size_t)de->size);
	free(data);
	return e;
}

/* The control member of a .deb: its name and bytes, by walking the ar. */
static int control_member(int fd, char name[32], unsigned char **data, size_t *len)
{
	char h[60];
	off_t off = 8;
	for (int i = 0; i < 8; i++) {
		if (pread(fd, h, sizeof h, off) != (ssize_t)sizeof h)
			break;
		char size[11];
		memcpy(size, h + 48, 10);
		size[10] = 0;
		unsigned long long sz = strtoull(size, NULL, 10);
		size_t nl = 16;
		while (nl && (h[nl - 1] == ' ' || h[nl - 1] == '/'))
			nl--;
		if (nl >= 11 && nl < 32 && !memcmp(h, "control.tar", 11)) {
			if (sz > LB_PD_MAX_CONTROL)
				break;
			memcpy(name, h, nl);
			name[nl] = 0;
			*len = (size_t)sz;
			if (!(*data = malloc(*len ? *len : 1)))
				return -ENOMEM;
			if (pread(fd, *data, *len, off + 60) != (ssize_t)*len)
				break;
			return 0;
		}
		off += 60 + (off_t)sz + (off_t)(sz & 1);
	}
	return lb_errf(-LBE_DEB, "no control member");
}

int debdelta_make(const char *olddeb, const char *newdeb, int outfd, int level,
                  struct debdelta_stats *st, char content[65])
{
	memset(st, 0, sizeof *st);
	if (sodium_init() < 0)
		return -ENOSYS;
	struct old o = {0};
	char oldsha[65];
	int r = old_load(olddeb, &o, oldsha);
	int fd = r ? -1 : open(newdeb, O_RDONLY | O_CLOEXEC);
	if (!r && fd < 0)
		r = lb_errf(-errno, "%s: %s", newdeb, strerror(errno));
	struct enc *c = r ? NULL : calloc(1, sizeof *c);
	if (!r && !c)
		r = -ENOMEM;
	char cname[32];
	unsigned char *cdata = NULL;
	size_t clen = 0;
	if (!r && (r = control_member(fd, cname, &cdata, &clen)))
		r = lb_err_prefix(r, "%s", newdeb);
	unsigned char head[LB_PD_HEADER] = LB_PD_MAGIC;
	if (!r) {
		c->old = &o;
		c->fd = outfd;
		c->st = st;
		c->patch = ZSTD_createCCtx();
		if (!c->patch)
			r = -ENOMEM;
	}
	if (!r)
		r = out_str(c, cname, strlen(cname));
	if (!r)
		r = out_varint(c, clen);
	if (!r)
		r = out(c, META, cdata, clen);
	if (!r && (r = lb_deb_read_content(fd, &c->meta, new_entry, c, NULL, NULL, content)))
		r = lb_err_prefix(r, "%s", newdeb);
	if (!r)
		r = out_byte(c, LB_PD_END);
	/* the header, then the streams; their sizes go into the header */
	if (!r && (r = lb_write_all(outfd, head, sizeof head)))
		r = lb_errf(r, "write: %s", strerror(-r));
	unsigned long long sizes[NPARTS];
	for (int k = 0; !r && k < NPARTS; k++)
		r = write_xz(outfd, &c->part[k], level, &sizes[k]);
	if (!r) {
		sodium_hex2bin(head + LB_PD_MAGIC_LEN, 32, oldsha, 64, NULL, NULL, NULL);
		sodium_hex2bin(head + LB_PD_MAGIC_LEN + 32, 32, content, 64, NULL, NULL, NULL);
		st->bytes = LB_PD_HEADER;
		for (int k = 0; k < NPARTS; k++) {
			for (int b = 0; b < 8; b++)
				head[LB_PD_MAGIC_LEN + 64 + 8 * k + b] =
				    (unsigned char)(sizes[k] >> (8 * b));
			st->bytes += sizes[k];
		}
		if (pwrite(outfd, head, sizeof head, 0) != (ssize_t)sizeof head)
			r = lb_errf(-errno, "write: %s", strerror(errno));
	}
	if (c) {
		lb_deb_meta_free(&c->meta);
		ZSTD_freeCCtx(c->patch);
		mbuf_free(&c->tmp);
		for (int k = 0; k < NPARTS; k++)
			mbuf_free(&c->part[k]);
		free(c);
	}
	free(cdata);
	if (fd >= 0)
		close(fd);
	old_free(&o);
	return r;
}

int cmd_delta(int argc, char **argv)
{
	if (argc != 4)
		return mx_fail(
		    lb_errf(-LBE_USAGE, "usage: lifeboat-master delta OLD.deb NEW.deb OUT"),
		    MX_USAGE);
	int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return mx_fail(lb_errf(-errno, "%s: %s", argv[3], strerror(errno)), MX_IO);
	struct debdelta_stats st;
	char content[65];
	int r = debdelta_make(argv[1], argv[2], fd, MDELTA_LEVEL, &st, content);
	if (!r && close(fd) < 0)
		r = lb_errf(-errno, "%s: %s", argv[3], strerror(errno));
	else if (r)
		close(fd);
	if (r) {
		unlink(argv[3]);
		return mx_fail(r, r == -LBE_DEB || r == -LBE_UNSAFE ? MX_STATE : MX_FAIL);
	}
	struct stat sb;
	unsigned long long full = stat(argv[2], &sb) == 0 ? (unsigned long long)sb.st_size : 0;
	printf("%s: %llu bytes, %.1f%% of %s; files: %u same, %u zstd, %u bsdiff, %u literal; "
	       "content %s\n",
	       argv[3], st.bytes, full ? 100.0 * (double)st.bytes / (double)full : 0.0, argv[2],
	       st.same, st.zstd, st.bsdiff, st.literal, content);
	return MX_OK;
}
