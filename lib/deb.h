/* SPDX-License-Identifier: MIT */
/* Reading .deb packages (ar: debian-binary, control.tar[.gz|.xz|.zst],
 * data.tar[.gz|.xz|.zst|.bz2]) with libarchive, streaming, in one pass over the
 * file. The input is untrusted: member sizes are bounded, paths normalised and
 * refused when unsafe, and the sha256 of every byte read is computed so that the
 * caller can compare it with signed metadata. */
#ifndef LB_DEB_H
#define LB_DEB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define LB_DEB_MAX_CONTROL_TAR (16u << 20) /* uncompressed control.tar members, total */
#define LB_DEB_MAX_PATH        4095

enum lb_ftype {
	LB_FT_REG = 'f',
	LB_FT_DIR = 'd',
	LB_FT_SYMLINK = 'l',
	LB_FT_HARDLINK = 'h',
	LB_FT_CHR = 'c',
	LB_FT_BLK = 'b',
	LB_FT_FIFO = 'p',
};

enum lb_script { LB_PREINST, LB_POSTINST, LB_PRERM, LB_POSTRM, LB_NSCRIPTS };
extern const char *const lb_script_names[LB_NSCRIPTS]; /* "preinst", ... */

struct lb_deb_meta {
	char *control; /* the control file, NUL-terminated */
	size_t control_len;
	char *conffiles; /* the conffiles file or NULL */
	size_t conffiles_len;
	char *script[LB_NSCRIPTS]; /* maintainer scripts or NULL */
	size_t script_len[LB_NSCRIPTS];
};

struct lb_deb_entry {
	const char *path; /* normalised: relative to the root, no leading "./" or "/",
	                   * no trailing '/', no "." / ".." / empty components,
	                   * no '\n'; the root directory entry "./" is not reported */
	enum lb_ftype type;
	mode_t mode; /* permission bits including setuid/setgid/sticky */
	uid_t uid;
	gid_t gid;
	long long mtime;
	unsigned long long size; /* regular files */
	const char *link;        /* symlink: target as stored (unchecked text);
	                          * hardlink: target path, normalised like path */
	dev_t rdev;              /* device nodes */
};

struct lb_deb_reader;

/* Called for each data.tar entry, in archive order. For a regular file the callback
 * may read its content with lb_deb_data_read(); what it does not read is skipped.
 * A non-zero return stops the walk and is returned by lb_deb_read(). */
typedef int (*lb_deb_entry_fn)(void *ctx, const struct lb_deb_entry *e, struct lb_deb_reader *r);

/* Read up to len bytes of the current regular file; returns bytes read (0 at its
 * end) or a negative error. */
ssize_t lb_deb_data_read(struct lb_deb_reader *r, void *buf, size_t len);

/* One pass over the .deb open on fd (read from offset 0 with pread; fd is not
 * moved or closed). Fills meta (free with lb_deb_meta_free) if meta != NULL,
 * calls fn for every data entry if fn != NULL (data.tar is still read to its end
 * when fn is NULL, to verify and hash it), and writes the sha256 (lowercase hex)
 * and size of the whole file into sha256/size if they are non-NULL.
 * Errors: -LBE_DEB with a message naming the member and the reason
 * ("data.tar.xz: truncated", "control.tar.gz: member 'control' missing"),
 * -LBE_UNSAFE for an unsafe entry path ("data.tar: '../etc/passwd' escapes the
 * root"), or whatever fn returned. */
int lb_deb_read(int fd, struct lb_deb_meta *meta, lb_deb_entry_fn fn, void *ctx, char sha256[65],
                unsigned long long *size) LB_MUST;

/* lb_deb_read, and the package's content hash into content (64 hex digits + NUL):
 * a sha256 that depends on what the package installs, not on how it is
 * compressed or archived, so that a package rebuilt on the device from a delta
 * (rescue-agent/debpatch.c) can be checked against the hash the master signed.
 * It hashes, in order (docs/formats.md, "Content hash"):
 *   "lifeboat-content-1\n"
 *   "<control member name> <member size>\n" and the member's bytes as stored
 *   for each data.tar entry but the root, in archive order:
 *     "<type> <mode octal> <uid> <gid> <mtime> <size> <major> <minor>\n"
 *     "<path>\0<link target or hardlink path, or empty>\0"
 *     and a regular file's size bytes of content.
 * Types are enum lb_ftype's letters; size is 0 but for regular files; major and
 * minor are 0 but for device nodes. What the callback does not read of a file is
 * read here to hash it. */
#define LB_DEB_CONTENT_MAGIC "lifeboat-content-1"
int lb_deb_read_content(int fd, struct lb_deb_meta *meta, lb_deb_entry_fn fn, void *ctx,
                        char sha256[65], unsigned long long *size, char content[65]) LB_MUST;

void lb_deb_meta_free(struct lb_deb_meta *meta);

/* Normalise a path from an archive into out (see lb_deb_entry.path); returns 0,
 * 1 when the path is the root directory itself ("." or "./"), or -LBE_UNSAFE. */
int lb_deb_normalize_path(const char *in, char *out, size_t outsize) LB_MUST;

#endif
