/* SPDX-License-Identifier: MIT */
/* .deb reader (see deb.h). Three libarchive readers are stacked, all streaming:
 *
 *   ar    the .deb itself, fed by pread(); every byte goes through sha256
 *   raw   one member, decompressed ("raw" format: the decompressed stream)
 *   tar   that stream read as a tar
 *
 * The raw layer lets us read a member's decompressed stream to its very end
 * after tar's end-of-archive blocks, so that the decompressor checks its trailer
 * and a truncated or corrupt stream is an error. xz, zstd (when the frame has a
 * checksum) and bzip2 check their own; libarchive does not check gzip's CRC-32
 * and length, so we do. Data passes between layers as zero-copy blocks; our
 * memory is one read buffer, plus libarchive's and the decompressors' state
 * (note: xz dictionaries and zstd windows are sized by the input). */
#include "deb.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define IOBUF_SIZE  (64u << 10)
#define VERSION_MAX 64         /* debian-binary */
#define CONTROL_MAX (1u << 20) /* ./control */
#define AR_HDR      60

const char *const lb_script_names[LB_NSCRIPTS] = {
    [LB_PREINST] = "preinst",
    [LB_POSTINST] = "postinst",
    [LB_PRERM] = "prerm",
    [LB_POSTRM] = "postrm",
};

struct lb_deb_reader {
	int fd;
	int ioerr;                             /* negative errno of a failed pread */
	bool eof;                              /* pread reached the end of the file */
	unsigned long long off;                /* bytes read (and hashed) so far */
	unsigned long long mend;               /* where the current member ends in the file */
	unsigned long long raw_bytes, raw_max; /* decompressed bytes, bound */
	bool gzip;                             /* check the gzip trailer: */
	uint32_t crc;                          /* CRC-32 of the decompressed bytes */
	unsigned char tail[8];                 /* last bytes of the member */
	uint32_t crctab[256];
	crypto_hash_sha256_state sha;
	bool hash;                     /* the caller wants the sha256 */
	crypto_hash_sha256_state csha; /* the content hash (deb.h), when */
	bool chash;                    /* the caller wants it */
	bool chash_member;             /* the raw bytes of this member go into it */
	unsigned long long cleft;      /* bytes of the current file not yet hashed */
	struct archive *ar, *raw, *tar;
	char member[64]; /* current member's name, for messages */
	int err;         /* sticky error of lb_deb_data_read */
	bool readable;   /* the current data entry is a regular file */
	char path[LB_DEB_MAX_PATH + 1];
	char link[LB_DEB_MAX_PATH + 1];
	unsigned char buf[IOBUF_SIZE];
};

/* A name made safe for a one-line message: control characters become '?',
 * long ones are cut. */
static const char *shown(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = 0;
	return buf;
}

int lb_deb_normalize_path(const char *in, char *out, size_t outsize)
{
	const char *p = in, *c, *end;
	char sb[128];
	size_t len;

	if (p[0] == '.' && (p[1] == '/' || !p[1]))
		p += p[1] ? 2 : 1;
	if (!*p && p != in)
		return 1;
	if (!*p)
		return lb_errf(-LBE_UNSAFE, "empty path");
	if (strchr(in, '\n'))
		return lb_errf(-LBE_UNSAFE, "'%s' contains a newline", shown(in, sb, sizeof sb));
	if (*p == '/')
		return lb_errf(-LBE_UNSAFE, "'%s' is absolute", shown(in, sb, sizeof sb));
	len = strlen(p);
	if (p[len - 1] == '/')
		len--;
	if (len > LB_DEB_MAX_PATH || len >= outsize)
		return lb_errf(-LBE_UNSAFE, "'%s' is too long", shown(in, sb, sizeof sb));
	for (c = p; c <= p + len; c = end + 1) {
		end = memchr(c, '/', (size_t)(p + len - c));
		if (!end)
			end = p + len;
		if (end == c)
			return lb_errf(-LBE_UNSAFE, "'%s' has an empty component",
			               shown(in, sb, sizeof sb));
		if (end - c == 1 && c[0] == '.')
			return lb_errf(-LBE_UNSAFE, "'%s' has a '.' component",
			               shown(in, sb, sizeof sb));
		if (end - c == 2 && c[0] == '.' && c[1] == '.')
			return lb_errf(-LBE_UNSAFE,
			               c == p ? "'%s' escapes the root"
			                      : "'%s' has a '..' component",
			               shown(in, sb, sizeof sb));
	}
	memcpy(out, p, len);
	out[len] = 0;
	return 0;
}

/* Error of archive a while reading the current member (and entry, if path). */
static int arc_err(struct lb_deb_reader *r, struct archive *a, const char *path)
{
	const char *s = archive_error_string(a);
	char pb[LB_DEB_MAX_PATH + 8] = "";

	/* the tar layer calls a failed decompression "truncated": give the
	 * decompressor's own reason */
	if (a == r->tar && r->raw && archive_error_string(r->raw))
		s = archive_error_string(r->raw);

	if (r->ioerr)
		return lb_errf(r->ioerr, "read: %s", strerror(-r->ioerr));
	/* libarchive's reason for a short member varies: say "truncated" */
	if (!r->eof && r->off < r->mend && pread(r->fd, pb, 1, (off_t)r->off) == 0)
		r->eof = true;
	if (path)
		snprintf(pb, sizeof pb, " '%s':", path);
	if (r->eof && r->off < r->mend)
		return lb_errf(-LBE_DEB, "%s:%s truncated", r->member, pb);
	if (archive_errno(a) == ENOMEM)
		return lb_errf(-ENOMEM, "%s:%s out of memory", r->member, pb);
	return lb_errf(-LBE_DEB, "%s:%s %s", r->member, pb, s ? s : "read error");
}

static ssize_t file_read(struct archive *a, void *p, const void **out)
{
	struct lb_deb_reader *r = p;
	ssize_t n;

	do
		n = pread(r->fd, r->buf, sizeof r->buf, (off_t)r->off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->ioerr = -errno;
		if (a)
			archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	if (r->hash)
		crypto_hash_sha256_update(&r->sha, r->buf, (unsigned long long)n);
	r->off += (unsigned long long)n;
	r->eof = n == 0;
	*out = r->buf;
	return n;
}

/* Pull the next block of upstream's current entry (zero copy). */
static ssize_t pull(struct archive *a, struct archive *up, const void **out)
{
	size_t n = 0;
	la_int64_t o;
	int rc = archive_read_data_block(up, out, &n, &o);

	if (rc == ARCHIVE_EOF)
		return 0;
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
		const char *s = archive_error_string(up);
		archive_set_error(a, archive_errno(up), "%s", s ? s : "read error");
		return -1;
	}
	return (ssize_t)n;
}

static ssize_t member_read(struct archive *a, void *p, const void **out)
{
	struct lb_deb_reader *r = p;
	ssize_t n = pull(a, r->ar, out);

	if (n > 0 && r->chash_member)
		crypto_hash_sha256_update(&r->csha, *out, (unsigned long long)n);
	if (n >= 8) {
		memcpy(r->tail, (const unsigned char *)*out + n - 8, 8);
	} else if (n > 0) {
		memmove(r->tail, r->tail + n, 8 - (size_t)n);
		memcpy(r->tail + 8 - n, *out, (size_t)n);
	}
	return n;
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static ssize_t raw_read(struct archive *a, void *p, const void **out)
{
	struct lb_deb_reader *r = p;
	ssize_t n = pull(a, r->raw, out);
	const unsigned char *b = *out;
	uint32_t c = ~r->crc;

	if (n <= 0)
		return n;
	if ((r->raw_bytes += (size_t)n) > r->raw_max) {
		archive_set_error(a, EFBIG, "uncompressed size too large");
		return -1;
	}
	if (r->gzip) {
		for (ssize_t i = 0; i < n; i++)
			c = r->crctab[(c ^ b[i]) & 0xff] ^ (c >> 8);
		r->crc = ~c;
	}
	return n;
}

static void close_member(struct lb_deb_reader *r)
{
	archive_read_free(r->tar);
	archive_read_free(r->raw);
	r->tar = r->raw = NULL;
}

/* Open the current ar member as a tar compressed as its name says:
 * base + "" / ".gz" / ".xz" / ".zst" (/ ".bz2" for data.tar). */
static int open_member(struct lb_deb_reader *r, const char *base, bool data)
{
	static const struct {
		const char *ext;
		int code;
	} comp[] = {
	    {"", ARCHIVE_FILTER_NONE},      {".gz", ARCHIVE_FILTER_GZIP},
	    {".xz", ARCHIVE_FILTER_XZ},     {".zst", ARCHIVE_FILTER_ZSTD},
	    {".bz2", ARCHIVE_FILTER_BZIP2},
	};
	size_t n = strlen(base), i, nc = sizeof comp / sizeof comp[0] - !data;
	struct archive_entry *e;

	for (i = 0; i < nc; i++)
		if (!strcmp(r->member + n, comp[i].ext))
			break;
	if (i == nc)
		return lb_errf(-LBE_DEB, "%s: unsupported compression", r->member);
	r->raw_bytes = 0;
	r->crc = 0;
	memset(r->tail, 0, sizeof r->tail);
	r->gzip = comp[i].code == ARCHIVE_FILTER_GZIP;
	for (uint32_t k = 0, c; r->gzip && k < 256; r->crctab[k++] = c)
		for (c = k, n = 0; n < 8; n++)
			c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
	/* control.tar: members are bounded in read_control; this bounds headers
	 * and padding (a stream after tar's end is read to its end) */
	r->raw_max = data ? UINT64_MAX : 2ull * LB_DEB_MAX_CONTROL_TAR;
	r->raw = archive_read_new();
	r->tar = archive_read_new();
	if (!r->raw || !r->tar)
		return -ENOMEM;
	/* Exactly this filter, no bidding: external programs are never run. */
	if (comp[i].code != ARCHIVE_FILTER_NONE &&
	    archive_read_append_filter(r->raw, comp[i].code) != ARCHIVE_OK)
		return lb_errf(-LBE_DEB, "%s: compression not supported by libarchive", r->member);
	if (archive_read_support_format_raw(r->raw) != ARCHIVE_OK ||
	    archive_read_support_format_tar(r->tar) != ARCHIVE_OK)
		return lb_errf(-ENOMEM, "%s: libarchive setup failed", r->member);
	if (archive_read_open(r->raw, r, NULL, member_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(r->raw, &e) != ARCHIVE_OK)
		return arc_err(r, r->raw, NULL);
	if (archive_read_open(r->tar, r, NULL, raw_read, NULL) != ARCHIVE_OK)
		return arc_err(r, r->tar, NULL);
	return 0;
}

/* After tar's end: read the decompressed stream to its end (trailer checks),
 * then the rest of the member. */
static int finish_member(struct lb_deb_reader *r)
{
	const void *b;
	ssize_t n;

	while ((n = raw_read(r->tar, r, &b)) > 0)
		;
	while (n == 0 && (n = member_read(r->tar, r, &b)) > 0)
		n = 0;
	if (n < 0)
		return arc_err(r, r->tar, NULL);
	if (r->gzip && (le32(r->tail) != r->crc || le32(r->tail + 4) != (uint32_t)r->raw_bytes))
		return lb_errf(-LBE_DEB, "%s: gzip CRC or length mismatch", r->member);
	return 0;
}

static int next_tar_entry(struct lb_deb_reader *r, struct archive_entry **e)
{
	char sb[128];
	int rc = archive_read_next_header(r->tar, e);

	if (rc == ARCHIVE_EOF)
		return 1;
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
		return arc_err(r, r->tar, NULL);
	if (!archive_entry_pathname(*e))
		return lb_errf(-LBE_DEB, "%s: entry without a usable name", r->member);
	rc = lb_deb_normalize_path(archive_entry_pathname(*e), r->path, sizeof r->path);
	if (rc < 0)
		return lb_err_prefix(rc, "%s", r->member);
	if (rc == 1 && archive_entry_filetype(*e) != AE_IFDIR)
		return lb_errf(-LBE_UNSAFE, "%s: '%s' is the root but not a directory", r->member,
		               shown(archive_entry_pathname(*e), sb, sizeof sb));
	return rc == 1 ? 2 : 0;
}

/* control.tar: ./control, ./conffiles and the maintainer scripts into meta;
 * slots 0..LB_NSCRIPTS-1 are the scripts, then control, then conffiles. */
#define CONTROL_SLOT   LB_NSCRIPTS
#define CONFFILES_SLOT (LB_NSCRIPTS + 1)
static int read_control(struct lb_deb_reader *r, struct lb_deb_meta *meta)
{
	unsigned long long budget = LB_DEB_MAX_CONTROL_TAR;
	struct archive_entry *e;
	unsigned seen = 0;
	int rc, slot;

	while ((rc = next_tar_entry(r, &e)) != 1) {
		la_int64_t size = archive_entry_size(e);
		char **dst;
		size_t *dlen, got = 0;

		if (rc < 0)
			return rc;
		if (size < 0 || (unsigned long long)size > budget)
			return lb_errf(-LBE_DEB, "%s: members exceed %u bytes", r->member,
			               LB_DEB_MAX_CONTROL_TAR);
		budget -= (unsigned long long)size;
		for (slot = 0; slot <= CONFFILES_SLOT; slot++)
			if (!strcmp(r->path, slot == CONTROL_SLOT     ? "control"
			                     : slot == CONFFILES_SLOT ? "conffiles"
			                                              : lb_script_names[slot]))
				break;
		if (rc == 2 || slot > CONFFILES_SLOT)
			continue;
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
			return lb_errf(-LBE_DEB, "%s: '%s' is not a regular file", r->member,
			               r->path);
		if (seen & (1u << slot))
			return lb_errf(-LBE_DEB, "%s: duplicate member '%s'", r->member, r->path);
		seen |= 1u << slot;
		if (slot == CONTROL_SLOT && size > CONTROL_MAX)
			return lb_errf(-LBE_DEB, "%s: 'control' is larger than %u bytes", r->member,
			               CONTROL_MAX);
		if (!meta)
			continue;
		dst = slot == CONTROL_SLOT     ? &meta->control
		      : slot == CONFFILES_SLOT ? &meta->conffiles
		                               : &meta->script[slot];
		dlen = slot == CONTROL_SLOT     ? &meta->control_len
		       : slot == CONFFILES_SLOT ? &meta->conffiles_len
		                                : &meta->script_len[slot];
		*dst = malloc((size_t)size + 1);
		if (!*dst)
			return -ENOMEM;
		while (got < (size_t)size) {
			la_ssize_t n = archive_read_data(r->tar, *dst + got, (size_t)size - got);
			if (n < 0)
				return arc_err(r, r->tar, NULL);
			if (n == 0)
				return lb_errf(-LBE_DEB, "%s: '%s' is short", r->member, r->path);
			got += (size_t)n;
		}
		(*dst)[got] = 0;
		*dlen = got;
	}
	if (!(seen & (1u << CONTROL_SLOT)))
		return lb_errf(-LBE_DEB, "%s: member 'control' missing", r->member);
	return finish_member(r);
}

static const struct {
	mode_t ae;
	enum lb_ftype t;
} ftypes[] = {
    {AE_IFREG, LB_FT_REG}, {AE_IFDIR, LB_FT_DIR}, {AE_IFLNK, LB_FT_SYMLINK},
    {AE_IFCHR, LB_FT_CHR}, {AE_IFBLK, LB_FT_BLK}, {AE_IFIFO, LB_FT_FIFO},
};
#define NFTYPES (sizeof ftypes / sizeof ftypes[0])

static int fill_entry(struct lb_deb_reader *r, struct archive_entry *e, struct lb_deb_entry *de)
{
	const char *hl = archive_entry_hardlink(e);
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	size_t i;
	int rc;

	memset(de, 0, sizeof *de);
	de->path = r->path;
	if (hl) {
		rc = lb_deb_normalize_path(hl, r->link, sizeof r->link);
		if (rc < 0)
			return lb_err_prefix(rc, "%s: hard link '%s'", r->member, r->path);
		if (rc == 1)
			return lb_errf(-LBE_UNSAFE, "%s: hard link '%s' to the root", r->member,
			               r->path);
		de->type = LB_FT_HARDLINK;
		de->link = r->link;
	} else {
		for (i = 0; i < NFTYPES && ftypes[i].ae != archive_entry_filetype(e); i++)
			;
		if (i == NFTYPES)
			return lb_errf(-LBE_UNSAFE, "%s: '%s' is %s", r->member, r->path,
			               archive_entry_filetype(e) == AE_IFSOCK
			                   ? "a socket"
			                   : "of an unknown type");
		de->type = ftypes[i].t;
	}
	if (de->type == LB_FT_REG && archive_entry_size(e) < 0)
		return lb_errf(-LBE_DEB, "%s: '%s': bad size", r->member, r->path);
	de->size = de->type == LB_FT_REG ? (unsigned long long)archive_entry_size(e) : 0;
	if (de->type == LB_FT_SYMLINK && (!(de->link = archive_entry_symlink(e)) || !de->link[0]))
		return lb_errf(-LBE_DEB, "%s: symlink '%s' without a target", r->member, r->path);
	if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
		return lb_errf(-LBE_DEB, "%s: '%s': bad owner", r->member, r->path);
	de->uid = (uid_t)uid;
	de->gid = (gid_t)gid;
	de->mode = archive_entry_perm(e) & 07777;
	de->mtime = archive_entry_mtime(e);
	if (de->type == LB_FT_CHR || de->type == LB_FT_BLK)
		de->rdev = archive_entry_rdev(e);
	return 0;
}

/* The content hash's record of one data entry (deb.h); a regular file's bytes
 * follow it. */
static void hash_entry(struct lb_deb_reader *r, const struct lb_deb_entry *de)
{
	char hd[96];
	const char *link = de->type == LB_FT_SYMLINK || de->type == LB_FT_HARDLINK ? de->link : "";
	int hl = snprintf(hd, sizeof hd, "%c %o %u %u %lld %llu %u %u\n", de->type,
	                  (unsigned)de->mode, (unsigned)de->uid, (unsigned)de->gid, de->mtime,
	                  de->size, (unsigned)major(de->rdev), (unsigned)minor(de->rdev));
	crypto_hash_sha256_update(&r->csha, (const unsigned char *)hd, (unsigned long long)hl);
	crypto_hash_sha256_update(&r->csha, (const unsigned char *)de->path, strlen(de->path) + 1);
	crypto_hash_sha256_update(&r->csha, (const unsigned char *)link, strlen(link) + 1);
	r->cleft = de->type == LB_FT_REG ? de->size : 0;
}

static int read_data(struct lb_deb_reader *r, lb_deb_entry_fn fn, void *ctx)
{
	struct archive_entry *e;
	struct lb_deb_entry de;
	int rc;

	while ((rc = next_tar_entry(r, &e)) != 1) {
		if (rc < 0)
			return rc;
		if (rc == 2)
			continue;
		rc = fill_entry(r, e, &de);
		if (rc < 0)
			return rc;
		if (r->chash)
			hash_entry(r, &de);
		r->readable = de.type == LB_FT_REG;
		rc = fn ? fn(ctx, &de, r) : 0;
		/* the content hash needs what the callback did not read */
		while (!rc && !r->err && r->chash && r->cleft) {
			unsigned char b[16384];
			ssize_t n = lb_deb_data_read(r, b, sizeof b);
			if (n == 0)
				rc = lb_errf(-LBE_DEB, "%s: '%s' is short", r->member, r->path);
		}
		r->readable = false;
		if (rc)
			return rc;
		if (r->err)
			return r->err;
	}
	return finish_member(r);
}

ssize_t lb_deb_data_read(struct lb_deb_reader *r, void *buf, size_t len)
{
	la_ssize_t n;

	if (r->err)
		return r->err;
	if (!r->readable)
		return 0;
	n = archive_read_data(r->tar, buf, len);
	if (n < 0)
		return r->err = arc_err(r, r->tar, r->path);
	if (r->chash && n > 0) {
		if ((unsigned long long)n > r->cleft)
			return r->err = lb_errf(-LBE_DEB, "%s: '%s' is longer than its header says",
			                        r->member, r->path);
		crypto_hash_sha256_update(&r->csha, buf, (unsigned long long)n);
		r->cleft -= (unsigned long long)n;
	}
	return n;
}

static int read_version(struct lb_deb_reader *r, la_int64_t size)
{
	char v[VERSION_MAX + 1], sb[32];
	size_t got = 0;
	la_ssize_t n;

	if (size < 0 || size > VERSION_MAX)
		return lb_errf(-LBE_DEB, "debian-binary: too large");
	while ((n = archive_read_data(r->ar, v + got, (size_t)size - got)) > 0)
		got += (size_t)n;
	if (n < 0)
		return arc_err(r, r->ar, NULL);
	v[got] = 0;
	v[strcspn(v, "\n")] = 0;
	if (got < 2 || v[0] != '2' || v[1] != '.')
		return lb_errf(-LBE_DEB, "debian-binary: unsupported format version '%s'",
		               shown(v, sb, sizeof sb));
	return 0;
}

/* The ar walk: debian-binary, control.tar*, data.tar*, '_' members between. */
static int walk(struct lb_deb_reader *r, struct lb_deb_meta *meta, lb_deb_entry_fn fn, void *ctx)
{
	static const char *const want[] = {"debian-binary", "control.tar", "data.tar"};
	struct archive_entry *e;
	const void *b;
	int rc, state = 0;
	char sb[64];

	r->ar = archive_read_new();
	if (!r->ar)
		return -ENOMEM;
	if (archive_read_support_format_ar(r->ar) != ARCHIVE_OK)
		return lb_errf(-ENOMEM, "libarchive setup failed");
	snprintf(r->member, sizeof r->member, "not a .deb");
	r->mend = 8; /* "!<arch>\n" */
	if (archive_read_open(r->ar, r, NULL, file_read, NULL) != ARCHIVE_OK)
		return arc_err(r, r->ar, NULL);
	for (;;) {
		la_int64_t size;
		const char *name;

		rc = archive_read_next_header(r->ar, &e);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
			return arc_err(r, r->ar, NULL);
		name = archive_entry_pathname(e);
		size = archive_entry_size(e);
		if (!name || size < 0)
			return lb_errf(-LBE_DEB, "bad ar member header");
		snprintf(r->member, sizeof r->member, "%s", shown(name, sb, sizeof sb));
		r->mend = (unsigned long long)archive_read_header_position(r->ar) + AR_HDR +
		          (unsigned long long)size + ((unsigned long long)size & 1);
		if (state == 0 && strcmp(name, want[0]))
			return lb_errf(-LBE_DEB, "debian-binary: missing (first member is '%s')",
			               r->member);
		if (name[0] == '_' && state > 0)
			continue;
		if (state == 3)
			return lb_errf(-LBE_DEB, "%s: unexpected member after data.tar", r->member);
		if (strncmp(name, want[state], strlen(want[state])))
			return lb_errf(-LBE_DEB, "%s: unexpected member, expected %s", r->member,
			               want[state]);
		if (state == 1 && r->chash) {
			char hd[128];
			int hl = snprintf(hd, sizeof hd, "%s %lld\n", r->member, (long long)size);
			crypto_hash_sha256_update(&r->csha, (const unsigned char *)hd,
			                          (unsigned long long)hl);
		}
		r->chash_member = state == 1 && r->chash;
		if (state == 0)
			rc = read_version(r, size);
		else if ((rc = open_member(r, want[state], state == 2)) == 0)
			rc = state == 1 ? read_control(r, meta) : read_data(r, fn, ctx);
		close_member(r);
		r->chash_member = false;
		if (rc)
			return rc;
		state++;
	}
	/* The ar reader stops at a short header: hash the rest, refuse extra bytes. */
	while (!r->eof)
		if (file_read(NULL, r, &b) < 0)
			return lb_errf(r->ioerr, "read: %s", strerror(-r->ioerr));
	if (r->off < r->mend || (r->off > r->mend && state < 3))
		return lb_errf(-LBE_DEB, "truncated");
	if (state < 3)
		return lb_errf(-LBE_DEB, "%s missing", want[state]);
	if (r->off > r->mend)
		return lb_errf(-LBE_DEB, "trailing garbage after the last member");
	return 0;
}

int lb_deb_read(int fd, struct lb_deb_meta *meta, lb_deb_entry_fn fn, void *ctx, char sha256[65],
                unsigned long long *size)
{
	return lb_deb_read_content(fd, meta, fn, ctx, sha256, size, NULL);
}

int lb_deb_read_content(int fd, struct lb_deb_meta *meta, lb_deb_entry_fn fn, void *ctx,
                        char sha256[65], unsigned long long *size, char content[65])
{
	struct lb_deb_reader *r;
	unsigned char md[crypto_hash_sha256_BYTES];
	int err;

	if (meta)
		memset(meta, 0, sizeof *meta);
	if (sodium_init() < 0)
		return lb_errf(-ENOSYS, "libsodium initialisation failed");
	r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->hash = sha256 != NULL;
	crypto_hash_sha256_init(&r->sha);
	r->chash = content != NULL;
	crypto_hash_sha256_init(&r->csha);
	if (content) {
		static const char magic[] = LB_DEB_CONTENT_MAGIC "\n";
		crypto_hash_sha256_update(&r->csha, (const unsigned char *)magic, sizeof magic - 1);
	}
	err = walk(r, meta, fn, ctx);
	close_member(r);
	archive_read_free(r->ar);
	if (!err) {
		crypto_hash_sha256_final(&r->sha, md);
		if (sha256)
			sodium_bin2hex(sha256, 65, md, sizeof md);
		if (size)
			*size = r->off;
		if (content) {
			crypto_hash_sha256_final(&r->csha, md);
			sodium_bin2hex(content, 65, md, sizeof md);
		}
	} else if (meta) {
		lb_deb_meta_free(meta);
	}
	free(r);
	return err;
}

void lb_deb_meta_free(struct lb_deb_meta *meta)
{
	int i;

	if (!meta)
		return;
	free(meta->control);
	free(meta->conffiles);
	for (i = 0; i < LB_NSCRIPTS; i++)
		free(meta->script[i]);
	memset(meta, 0, sizeof *meta);
}
