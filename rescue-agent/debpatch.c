/* SPDX-License-Identifier: MIT */
/* Rebuilding a package from a delta (debpatch.h, lib/pkgdelta.h).
 *
 * The delta's three xz streams are read front to back at once; the .deb is written
 * front to back: ar, debian-binary, the control member as the delta carries it,
 * then data.tar.zst made by libarchive from the delta's entries. A file's
 * content comes from the delta (literal), from a base file (same content), from
 * a zstd frame decoded with the base file as its prefix, or from a bsdiff stream
 * against the base file (lib/bdiff.h). Every base file is hashed and compared
 * with the database before it is used. Memory: the three xz decoders (1 MiB
 * dictionaries), a few buffers, and for a zstd-patched file its new content
 * (the base file is mapped, not copied). */
#include "debpatch.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <lzma.h>
#include <zstd.h>

#include "bdiff.h"
#include "deb.h"
#include "fsop.h"
#include "pkgdelta.h"
#include "rootfs.h"

#define ZPATCH_MAX (64ull << 20) /* new content of a zstd-patched file (held in memory) */

/* One of the delta's streams. */
struct rd {
	int fd;
	unsigned long long off, end; /* next byte of the stream in the file, its end */
	lzma_stream z;
	lzma_ret zret;
	size_t opos, olen; /* unread bytes of obuf */
	unsigned char ibuf[1 << 14];
	unsigned char obuf[1 << 15];
};

enum { META, DIFF, EXTRA, NPARTS };

/* The .deb being written; data.tar goes through a zstd stream. */
struct out {
	int fd;
	unsigned long long off;
	ZSTD_CCtx *z;
	unsigned long long tar_off; /* bytes of data.tar so far */
	unsigned char zbuf[1 << 16];
};

struct dp {
	struct rd r[NPARTS];
	struct out o;
	struct lb_dircache dc;
	const struct lb_dbpkg *base;
	struct lb_debpatch_stats *st;
	ZSTD_DCtx *zp; /* for 'Z' frames */
};

static int bad(const char *what)
{
	return lb_errf(-LBE_DEB, "delta: %s", what);
}

/* Refill obuf; 0 at the end of the stream (olen stays 0). */
static int rd_fill(struct rd *r)
{
	r->opos = r->olen = 0;
	while (!r->olen && r->zret != LZMA_STREAM_END) {
		if (!r->z.avail_in && r->off < r->end) {
			size_t want = sizeof r->ibuf;
			if (want > r->end - r->off)
				want = (size_t)(r->end - r->off);
			ssize_t n = pread(r->fd, r->ibuf, want, (off_t)r->off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? lb_errf(-errno, "delta: read: %s", strerror(errno))
				             : bad("truncated");
			r->off += (unsigned long long)n;
			r->z.next_in = r->ibuf;
			r->z.avail_in = (size_t)n;
		}
		bool last = r->off == r->end;
		r->z.next_out = r->obuf;
		r->z.avail_out = sizeof r->obuf;
		r->zret = lzma_code(&r->z, last ? LZMA_FINISH : LZMA_RUN);
		r->olen = sizeof r->obuf - r->z.avail_out;
		if (r->zret == LZMA_MEMLIMIT_ERROR)
			return bad("a stream needs too much memory");
		if (r->zret != LZMA_OK && r->zret != LZMA_STREAM_END)
			return lb_errf(-LBE_DEB, "delta: %s",
			               r->zret == LZMA_BUF_ERROR ? "truncated" : "damaged stream");
	}
	return 0;
}

static int rd_bytes(void *arg, void *buf, size_t n)
{
	struct rd *r = arg;
	unsigned char *p = buf;
	while (n) {
		if (r->opos == r->olen) {
			int e = rd_fill(r);
			if (e)
				return e;
			if (!r->olen)
				return bad("truncated");
		}
		size_t k = r->olen - r->opos < n ? r->olen - r->opos : n;
		memcpy(p, r->obuf + r->opos, k);
		r->opos += k;
		p += k;
		n -= k;
	}
	return 0;
}

static int rd_byte(struct rd *r, unsigned char *c)
{
	return rd_bytes(r, c, 1);
}

static int rd_varint(struct rd *r, unsigned long long *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		unsigned char c;
		int e = rd_byte(r, &c);
		if (e)
			return e;
		if (shift == 63 && c > 1)
			return bad("bad number");
		*v |= (unsigned long long)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
	return bad("bad number");
}

/* The stream must end here: no byte after its last use, the xz stream complete
 * and nothing after it. */
static int rd_end(struct rd *r)
{
	if (r->opos < r->olen)
		return bad("data after the end");
	int e = rd_fill(r);
	if (e)
		return e;
	if (r->olen || r->z.avail_in || r->off != r->end)
		return bad("data after the end");
	return 0;
}

static int out_raw(struct out *o, const void *buf, size_t len)
{
	int e = lb_write_all(o->fd, buf, len);
	if (e)
		return lb_errf(e, "write: %s", strerror(-e));
	o->off += len;
	return 0;
}

/* An ar member header (dpkg-deb's: mode 100644, owner 0, time 0). */
static void ar_header(char h[80], const char *name, unsigned long long size)
{
	snprintf(h, 80, "%-16.16s%-12u%-6u%-6u%-8s%-10llu`\n", name, 0u, 0u, 0u, "100644", size);
}

/* Bytes of data.tar through the compressor (end: finish the frame). */
static int tar_out(struct out *o, const void *buf, size_t len, bool end)
{
	ZSTD_inBuffer in = {buf, len, 0};
	size_t left;
	do {
		ZSTD_outBuffer ob = {o->zbuf, sizeof o->zbuf, 0};
		left = ZSTD_compressStream2(o->z, &ob, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return lb_errf(-EIO, "zstd: %s", ZSTD_getErrorName(left));
		int e = out_raw(o, o->zbuf, ob.pos);
		if (e)
			return e;
	} while (end ? left != 0 : in.pos < in.size);
	o->tar_off += len;
	return 0;
}

static int arc_data(void *arg, const void *buf, size_t len)
{
	struct dp *p = arg;
	return tar_out(&p->o, buf, len, false);
}

/* Zeros up to the next 512-byte block of data.tar. */
static int tar_pad(struct out *o)
{
	static const unsigned char zero[512];
	size_t n = (size_t)(-o->tar_off & 511);
	return n ? tar_out(o, zero, n, false) : 0;
}

/* One pax extended record "LEN key=value\n" appended to b. */
static void pax_rec(char *b, size_t *len, size_t size, const char *key, const char *val)
{
	size_t body = strlen(key) + strlen(val) + 3, n = body + 1;
	for (size_t digits = 1; digits < 20; digits++) {
		char tmp[24];
		n = body + (size_t)snprintf(tmp, sizeof tmp, "%zu", body + digits);
		if ((size_t)snprintf(tmp, sizeof tmp, "%zu", n) == digits)
			break;
	}
	if (*len + n < size)
		*len += (size_t)snprintf(b + *len, size - *len, "%zu %s=%s\n", n, key, val);
}

/* v (which fits) as w - 1 octal digits and a NUL */
static void octal(char *f, size_t w, unsigned long long v)
{
	f[w - 1] = 0;
	for (size_t i = w - 1; i-- > 0; v >>= 3)
		f[i] = (char)('0' + (v & 7));
}

/* A ustar header block, preceded by a pax extended header when the path or the
 * link target does not fit, or a number does not (docs: POSIX pax). */
static int tar_header(struct out *o, char type, const char *name, const char *link,
                      unsigned long long mode, unsigned long long uid, unsigned long long gid,
                      long long mtime, unsigned long long size, unsigned ma, unsigned mi)
{
	static char pax[2 * LB_DEB_MAX_PATH + 256];
	size_t plen = 0;
	char num[32];
	if (strlen(name) > 99)
		pax_rec(pax, &plen, sizeof pax, "path", name);
	if (strlen(link) > 99)
		pax_rec(pax, &plen, sizeof pax, "linkpath", link);
	if (size > 077777777777ull) {
		snprintf(num, sizeof num, "%llu", size);
		pax_rec(pax, &plen, sizeof pax, "size", num);
	}
	if (mtime < 0 || mtime > 077777777777ll) {
		snprintf(num, sizeof num, "%lld", mtime);
		pax_rec(pax, &plen, sizeof pax, "mtime", num);
	}
	if (uid > 07777777) {
		snprintf(num, sizeof num, "%llu", uid);
		pax_rec(pax, &plen, sizeof pax, "uid", num);
	}
	if (gid > 07777777) {
		snprintf(num, sizeof num, "%llu", gid);
		pax_rec(pax, &plen, sizeof pax, "gid", num);
	}
	if (plen) {
		int e = tar_header(o, 'x', "././@PaxHeader", "", 0644, 0, 0, 0, plen, 0, 0);
		if (!e)
			e = tar_out(o, pax, plen, false);
		if (!e)
			e = tar_pad(o);
		if (e)
			return e;
	}
	unsigned char h[512];
	memset(h, 0, sizeof h);
	memcpy(h, name, strlen(name) > 99 ? 99 : strlen(name));
	octal((char *)h + 100, 8, mode);
	octal((char *)h + 108, 8, uid > 07777777 ? 0 : uid);
	octal((char *)h + 116, 8, gid > 07777777 ? 0 : gid);
	octal((char *)h + 124, 12, size > 077777777777ull ? 0 : size);
	octal((char *)h + 136, 12,
	      mtime < 0 || mtime > 077777777777ll ? 0 : (unsigned long long)mtime);
	h[156] = (unsigned char)type;
	memcpy(h + 157, link, strlen(link) > 99 ? 99 : strlen(link));
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	octal((char *)h + 329, 8, ma);
	octal((char *)h + 337, 8, mi);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	return tar_out(o, h, sizeof h, false);
}

/* debian-binary and the control member, copied from the delta. */
static int write_head(struct dp *p)
{
	char h[80], name[32];
	unsigned long long len, size;
	int e = out_raw(&p->o, "!<arch>\n", 8);
	ar_header(h, "debian-binary", 4);
	if (!e)
		e = out_raw(&p->o, h, 60);
	if (!e)
		e = out_raw(&p->o, "2.0\n", 4);
	if (!e)
		e = rd_varint(&p->r[META], &len);
	if (!e && (len == 0 || len >= sizeof name))
		e = bad("bad control member name");
	if (!e)
		e = rd_bytes(&p->r[META], name, (size_t)len);
	if (e)
		return e;
	name[len] = 0;
	if (strcmp(name, "control.tar") && strcmp(name, "control.tar.gz") &&
	    strcmp(name, "control.tar.xz") && strcmp(name, "control.tar.zst"))
		return bad("bad control member name");
	if ((e = rd_varint(&p->r[META], &size)))
		return e;
	if (size == 0 || size > LB_PD_MAX_CONTROL)
		return bad("bad control member size");
	ar_header(h, name, size);
	if ((e = out_raw(&p->o, h, 60)))
		return e;
	unsigned char buf[8192];
	for (unsigned long long left = size; left && !e;) {
		size_t k = left < sizeof buf ? (size_t)left : sizeof buf;
		if (!(e = rd_bytes(&p->r[META], buf, k)))
			e = out_raw(&p->o, buf, k);
		left -= k;
	}
	if (!e && (size & 1))
		e = out_raw(&p->o, "\n", 1);
	return e;
}

/* Open the base file path of the installed package and check that its content
 * is what the database records. */
static int open_base(struct dp *p, const char *path, int *fdp, unsigned long long *size)
{
	const struct lb_file *f = lb_dbpkg_file(p->base, path);
	if (!f || f->type != LB_FT_REG || !f->digest)
		return lb_errf(-LBE_DEB, "delta: /%s is not a file of %s %s", path,
		               p->base->info.name, p->base->info.version);
	int fd = lb_root_open_read(&p->dc, path);
	if (fd == -ENOENT || fd == -ELOOP)
		return lb_errf(-LBE_HASH, "/%s of %s %s is missing", path, p->base->info.name,
		               p->base->info.version);
	if (fd < 0)
		return lb_errf(fd, "/%s: %s", path, strerror(-fd));
	char hex[65];
	struct stat sb;
	int e = fstat(fd, &sb) < 0 ? -errno : 0;
	if (!e && (!S_ISREG(sb.st_mode) || (unsigned long long)sb.st_size != f->size))
		e = -LBE_HASH;
	if (!e)
		e = lb_fd_sha256(fd, hex);
	if (!e && strcmp(hex, f->digest))
		e = -LBE_HASH;
	if (e) {
		close(fd);
		return e == -LBE_HASH ? lb_errf(e,
		                                "/%s differs from %s %s as installed "
		                                "(modified locally?)",
		                                path, p->base->info.name, p->base->info.version)
		                      : lb_errf(e, "/%s: %s", path, strerror(-e));
	}
	*fdp = fd;
	*size = f->size;
	return 0;
}

static int copy_base(struct dp *p, int fd, unsigned long long size)
{
	unsigned char buf[1 << 16];
	for (unsigned long long off = 0; off < size;) {
		size_t k = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
		ssize_t n = pread(fd, buf, k, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? lb_errf(-errno, "read: %s", strerror(errno))
			             : lb_errf(-LBE_HASH, "a base file shrank");
		int e = arc_data(p, buf, (size_t)n);
		if (e)
			return e;
		off += (unsigned long long)n;
	}
	return 0;
}

static int zstd_patch(struct dp *p, int fd, unsigned long long bsize, unsigned long long size)
{
	unsigned long long n;
	int e = rd_varint(&p->r[META], &n);
	if (e)
		return e;
	if (!n || n > p->r[EXTRA].end || size > ZPATCH_MAX)
		return bad("bad zstd patch");
	void *map = NULL;
	if (bsize && (map = mmap(NULL, (size_t)bsize, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
		return lb_errf(-errno, "mmap: %s", strerror(errno));
	unsigned char *frame = malloc((size_t)n), *neu = malloc((size_t)size);
	if (!frame || !neu)
		e = -ENOMEM;
	if (!e)
		e = rd_bytes(&p->r[EXTRA], frame, (size_t)n);
	if (!e) {
		ZSTD_DCtx_reset(p->zp, ZSTD_reset_session_and_parameters);
		ZSTD_DCtx_setParameter(p->zp, ZSTD_d_windowLogMax, 31);
		size_t zr = ZSTD_DCtx_refPrefix(p->zp, map, (size_t)bsize);
		if (!ZSTD_isError(zr))
			zr = ZSTD_decompressDCtx(p->zp, neu, (size_t)size, frame, (size_t)n);
		if (ZSTD_isError(zr) || zr != size)
			e = lb_errf(-LBE_DEB, "delta: zstd patch: %s",
			            ZSTD_isError(zr) ? ZSTD_getErrorName(zr) : "wrong size");
	}
	if (!e)
		e = arc_data(p, neu, (size_t)size);
	free(frame);
	free(neu);
	if (map)
		munmap(map, (size_t)bsize);
	return e;
}

/* The content of a regular file of size bytes. */
static int content(struct dp *p, const char *path, unsigned long long size)
{
	unsigned char op;
	int e = rd_byte(&p->r[META], &op);
	if (e)
		return e;
	if (op == 'L') {
		p->st->literal++;
		unsigned char buf[1 << 14];
		for (unsigned long long left = size; left && !e;) {
			size_t k = left < sizeof buf ? (size_t)left : sizeof buf;
			if (!(e = rd_bytes(&p->r[EXTRA], buf, k)))
				e = arc_data(p, buf, k);
			left -= k;
		}
		return e;
	}
	if (op != 'S' && op != 'Z' && op != 'B')
		return bad("unknown operation");
	unsigned long long n;
	char bpath[LB_DEB_MAX_PATH + 1], norm[LB_DEB_MAX_PATH + 1];
	if ((e = rd_varint(&p->r[META], &n)))
		return e;
	if (n > LB_DEB_MAX_PATH)
		return bad("bad base path");
	if (n) {
		if ((e = rd_bytes(&p->r[META], bpath, (size_t)(n - 1))))
			return e;
		bpath[n - 1] = 0;
		if (lb_deb_normalize_path(bpath, norm, sizeof norm) || strcmp(norm, bpath)) {
			lb_err_clear();
			return bad("bad base path");
		}
		path = bpath;
	}
	int fd = -1;
	unsigned long long bsize = 0;
	if ((e = open_base(p, path, &fd, &bsize)))
		return e;
	if (op == 'S') {
		p->st->same++;
		e = bsize == size ? copy_base(p, fd, size) : bad("base file of another size");
	} else if (op == 'Z') {
		p->st->zstd++;
		e = zstd_patch(p, fd, bsize, size);
	} else {
		p->st->bsdiff++;
		e = lb_bpatch3(fd, bsize, size, rd_bytes, &p->r[META], &p->r[DIFF], &p->r[EXTRA],
		               arc_data, p);
		if (e == -LBE_FORMAT) /* a bad bsdiff stream: a damaged delta */
			e = lb_err_prefix(-LBE_DEB, "delta: /%s", path);
	}
	close(fd);
	return e;
}

/* The tar type flag of an enum lb_ftype. */
static char tar_type(char t)
{
	switch (t) {
	case LB_FT_REG: return '0';
	case LB_FT_HARDLINK: return '1';
	case LB_FT_SYMLINK: return '2';
	case LB_FT_CHR: return '3';
	case LB_FT_BLK: return '4';
	case LB_FT_DIR: return '5';
	case LB_FT_FIFO: return '6';
	default: return 0;
	}
}

/* One entry record after its type byte. */
static int entry(struct dp *p, char type, char *path, long long *mtime)
{
	char tt = tar_type(type);
	if (!tt)
		return bad("unknown entry type");
	unsigned long long mode, uid, gid, dt, keep, len, size = 0, ma = 0, mi = 0;
	int e = rd_varint(&p->r[META], &mode);
	if (!e)
		e = rd_varint(&p->r[META], &uid);
	if (!e)
		e = rd_varint(&p->r[META], &gid);
	if (!e)
		e = rd_varint(&p->r[META], &dt);
	if (!e)
		e = rd_varint(&p->r[META], &keep);
	if (!e)
		e = rd_varint(&p->r[META], &len);
	if (e)
		return e;
	if (mode > 07777 || uid >= UINT32_MAX || gid >= UINT32_MAX || keep > strlen(path) ||
	    len > LB_DEB_MAX_PATH - keep || keep + len == 0)
		return bad("bad entry");
	*mtime += (long long)(dt >> 1) ^ -(long long)(dt & 1);
	if ((e = rd_bytes(&p->r[META], path + keep, (size_t)len)))
		return e;
	path[keep + len] = 0;
	if (memchr(path, 0, keep + len))
		return bad("bad path");
	char name[LB_DEB_MAX_PATH + 4], link[LB_DEB_MAX_PATH + 4] = "";
	snprintf(name, sizeof name, "./%s%s", path, type == LB_FT_DIR ? "/" : "");
	if (type == LB_FT_SYMLINK || type == LB_FT_HARDLINK) {
		if ((e = rd_varint(&p->r[META], &len)))
			return e;
		if (!len || len > LB_DEB_MAX_PATH)
			return bad("bad link");
		char *t = type == LB_FT_HARDLINK ? link + 2 : link;
		if ((e = rd_bytes(&p->r[META], t, (size_t)len)))
			return e;
		t[len] = 0;
		if (memchr(t, 0, (size_t)len))
			return bad("bad link");
		if (type == LB_FT_HARDLINK)
			memcpy(link, "./", 2);
	} else if (type == LB_FT_CHR || type == LB_FT_BLK) {
		if ((e = rd_varint(&p->r[META], &ma)) || (e = rd_varint(&p->r[META], &mi)))
			return e;
		if (ma >= 1u << 12 || mi >= 1u << 20)
			return bad("bad device number");
	} else if (type == LB_FT_REG) {
		if ((e = rd_varint(&p->r[META], &size)))
			return e;
		if (size > LB_PD_MAX_FILE)
			return bad("file too large");
	}
	e = tar_header(&p->o, tt, name, link, mode, uid, gid, *mtime, size, (unsigned)ma,
	               (unsigned)mi);
	if (!e && type == LB_FT_REG && size)
		e = content(p, path, size);
	return e ? e : tar_pad(&p->o);
}

/* data.tar.zst: the member header, the tar of the entries through zstd, then the
 * member's size written into its header. */
static int write_data(struct dp *p)
{
	char h[80];
	unsigned long long hoff = p->o.off;
	ar_header(h, "data.tar.zst", 0);
	int e = out_raw(&p->o, h, 60);
	if (e)
		return e;
	if (!(p->o.z = ZSTD_createCCtx()))
		return -ENOMEM;
	ZSTD_CCtx_setParameter(p->o.z, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(p->o.z, ZSTD_c_checksumFlag, 1);
	char *path = malloc(LB_DEB_MAX_PATH + 1);
	if (!path)
		return -ENOMEM;
	path[0] = 0;
	long long mtime = 0;
	for (unsigned char type; !e;) {
		if ((e = rd_byte(&p->r[META], &type)) || type == LB_PD_END)
			break;
		e = entry(p, (char)type, path, &mtime);
	}
	free(path);
	for (int k = 0; !e && k < NPARTS; k++)
		e = rd_end(&p->r[k]);
	static const unsigned char zero[1024];
	if (!e)
		e = tar_out(&p->o, zero, sizeof zero, true);
	if (e)
		return e;
	unsigned long long msize = p->o.off - hoff - 60;
	ar_header(h, "data.tar.zst", msize);
	if (pwrite(p->o.fd, h, 60, (off_t)hoff) != 60)
		return lb_errf(-errno, "write: %s", strerror(errno));
	return msize & 1 ? out_raw(&p->o, "\n", 1) : 0;
}

/* The header; sizes: the three streams' (may be NULL). */
static int header(int fd, char base[65], char content[65], unsigned long long sizes[NPARTS])
{
	unsigned char h[LB_PD_HEADER];
	ssize_t n = pread(fd, h, sizeof h, 0);
	if (n < 0)
		return lb_errf(-errno, "delta: read: %s", strerror(errno));
	if (n != (ssize_t)sizeof h || memcmp(h, LB_PD_MAGIC, LB_PD_MAGIC_LEN))
		return bad("not a package delta");
	sodium_bin2hex(base, 65, h + LB_PD_MAGIC_LEN, 32);
	sodium_bin2hex(content, 65, h + LB_PD_MAGIC_LEN + 32, 32);
	for (int k = 0; sizes && k < NPARTS; k++) {
		sizes[k] = 0;
		for (int b = 7; b >= 0; b--)
			sizes[k] = sizes[k] << 8 | h[LB_PD_MAGIC_LEN + 64 + 8 * k + b];
	}
	return 0;
}

int lb_debpatch_header(int deltafd, char base[65], char content[65])
{
	return header(deltafd, base, content, NULL);
}

/* The header names this base and content, and streams that fill the file. */
static int check_header(struct dp *p, const char content_hex[65], unsigned long long fsize)
{
	char base[65], content[65];
	unsigned long long sizes[NPARTS];
	int e = header(p->r[META].fd, base, content, sizes);
	if (e)
		return e;
	unsigned long long off = LB_PD_HEADER;
	for (int k = 0; k < NPARTS; k++) {
		if (sizes[k] > fsize - off)
			return bad("streams larger than the file");
		p->r[k].off = off;
		p->r[k].end = off += sizes[k];
	}
	if (off != fsize)
		return bad("bytes after the streams");
	if (strcmp(base, p->base->deb_sha256))
		return lb_errf(-LBE_DEB,
		               "delta: made from another .deb of %s than the one "
		               "installed",
		               p->base->info.name);
	if (strcmp(content, content_hex))
		return lb_errf(-LBE_DEB, "delta: it makes another package than the one signed");
	for (int k = 0; k < NPARTS; k++)
		if (lzma_stream_decoder(&p->r[k].z, LB_PD_MEMLIMIT, 0) != LZMA_OK)
			return -ENOMEM;
	return 0;
}

int lb_debpatch(int rootfd, const struct lb_dbpkg *base, int deltafd, int outfd,
                const char content_hex[65], struct lb_debpatch_stats *st)
{
	struct lb_debpatch_stats dummy;
	struct dp *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	memset(st ? st : &dummy, 0, sizeof *st);
	p->st = st ? st : &dummy;
	p->base = base;
	for (int k = 0; k < NPARTS; k++) {
		p->r[k].fd = deltafd;
		p->r[k].z = (lzma_stream)LZMA_STREAM_INIT;
	}
	p->o.fd = outfd;
	lb_dircache_init(&p->dc, rootfd);
	struct stat sb;
	int e = fstat(deltafd, &sb) < 0 ? lb_errf(-errno, "delta: %s", strerror(errno)) : 0;
	p->zp = e ? NULL : ZSTD_createDCtx();
	if (!e && !p->zp)
		e = -ENOMEM;
	if (!e)
		e = check_header(p, content_hex, (unsigned long long)sb.st_size);
	if (!e)
		e = write_head(p);
	if (!e)
		e = write_data(p);
	if (!e)
		p->st->out_bytes = p->o.off;
	char got[65];
	if (!e && (e = lb_deb_read_content(outfd, NULL, NULL, NULL, NULL, NULL, got)))
		e = lb_err_prefix(e, "the package rebuilt from the delta");
	else if (!e && strcmp(got, content_hex))
		e = lb_errf(-LBE_HASH,
		            "the package rebuilt from the delta has content %s, not the "
		            "signed %s",
		            got, content_hex);
	lb_dircache_close(&p->dc);
	for (int k = 0; k < NPARTS; k++)
		lzma_end(&p->r[k].z);
	ZSTD_freeDCtx(p->zp);
	ZSTD_freeCCtx(p->o.z);
	free(p);
	return e;
}
