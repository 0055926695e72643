/* SPDX-License-Identifier: MIT */
/* lifeboat-master: what its modules share. The master turns a pool of .debs and a
 * configuration into the static signed tree of docs/master-tree.md. */
#ifndef LBM_MASTER_H
#define LBM_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "control.h"
#include "deb822.h"
#include "error.h"
#include "minisign.h"

/* Exit statuses (docs/master.md). */
enum {
	MX_OK = 0,
	MX_FAIL = 1,  /* unexpected failure */
	MX_USAGE = 2, /* bad command line */
	MX_STATE = 4, /* bad CONF, a group that cannot be resolved */
	MX_KEY = 5,   /* the key cannot be read or used */
	MX_IO = 6,    /* system error: I/O, permission, disk full */
};

/* Print "lifeboat-master: <message of err>" and return status, or MX_IO when err is
 * a system error (errno) and status is not MX_KEY. */
int mx_fail(int err, int status);
/* The subcommands (argv[0] is the command's name). */
int cmd_keygen(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_keylist(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* A warning line on stderr. */
void mx_warn(const char *fmt, ...) LB_PRINTF(1, 2);

/* A growing NUL-terminated string; the first allocation failure sticks in err. */
struct mbuf {
	char *s;
	size_t len, cap;
	int err;
};
void mbuf_put(struct mbuf *b, const char *s, size_t n);
void mbuf_printf(struct mbuf *b, const char *fmt, ...) LB_PRINTF(2, 3);
void mbuf_free(struct mbuf *b);

/* ---- pool.c: the input pool ---- */

struct mpkg {
	struct lb_pkginfo info; /* name, version, arch, dependencies */
	struct lb_doc control;  /* the control paragraph, for the Packages index */
	char sha256[65];
	unsigned long long size;
	char *file; /* file name in the input pool */
};

struct mpool {
	char *dir;
	int dirfd;
	struct mpkg *pkgs; /* sorted by name, version (dpkg order), architecture, sha256 */
	size_t n;
	unsigned skipped; /* unreadable .debs and duplicates, warned about */
};

/* Read every *.deb in dir. A file that cannot be read, or a second file for the
 * same name, version and architecture, is warned about and skipped. */
int mpool_load(const char *dir, struct mpool *pool) LB_MUST;
void mpool_free(struct mpool *pool);

/* ---- conf.c: the configuration (docs/master.md) ---- */

struct mgroup {
	char *name;
	struct lb_deplist top; /* top-level packages; one alternative each */
	unsigned expires_days; /* 0: the --expires default */
	char *image;         /* Image: the OS image file (relative to CONF's directory), or NULL */
	char *image_version; /* Image-Version: set with image */
	unsigned line;
};

struct mdevice {
	char *id;
	char *group;
	unsigned line;
};

struct mconf {
	struct mgroup *groups; /* in file order */
	size_t ngroups;
	struct mdevice *devices; /* in file order */
	size_t ndevices;
};

int conf_load(const char *path, struct mconf *conf) LB_MUST;
const struct mgroup *conf_group(const struct mconf *conf, const char *name);
void conf_free(struct mconf *conf);
/* A group or device name usable as a file name: [A-Za-z0-9][A-Za-z0-9._+-]*, < 128,
 * not ending in .minisig or .lb-tmp. */
bool conf_name_valid(const char *s);

/* ---- resolve.c: dependency resolution with libsolv ---- */

struct msolver;

/* Build the solver's view of the pool; arch is the device architecture (packages of
 * other architectures than it and "all" are never chosen). */
int resolve_init(const struct mpool *pool, const char *arch, struct msolver **out) LB_MUST;
/* The closed set of packages that installs g's top-level packages: indices into
 * pool->pkgs, sorted by package name, in *sel (malloc'd). On failure every problem
 * is printed ("group G: cannot be resolved: ...") and -LBE_DEPENDS is returned. */
int resolve_group(struct msolver *s, const struct mgroup *g, size_t **sel, size_t *nsel) LB_MUST;
void resolve_free(struct msolver *s);

/* argv[*i] as one of the options names[0..n) ("--name VALUE" or "--name=VALUE"):
 * its value into *dest[k] and 1 (*i moved past the value), 0 when it is none of
 * them, -LBE_USAGE (naming cmd) when the value is missing. */
int mx_option(const char *cmd, int argc, char **argv, int *i, const char *const *names,
              const char **const *dest, size_t n) LB_MUST;

/* sha256 (hex) and size of dirfd/name; a negative errno. */
int mx_file_sha256(int dirfd, const char *name, char hex[65], unsigned long long *size) LB_MUST;

/* The current time in milliseconds (the lowest serial a new file gets). */
unsigned long long now_ms(void);

/* ---- image.c: OS images (TREE/images/<sha256>.img.zst) ---- */

struct mtree;

#define MIMAGE_LEVEL 19 /* zstd level of each chunk */
#define MIMAGE_BASES 3  /* most older images a new one gets deltas from */

struct mimage {
	char *file;    /* the input file */
	char *version; /* Image-Version */
	char sha256[65];
	unsigned long long size;  /* uncompressed */
	unsigned long long csize; /* of the pack, once published */
	char path[96];            /* "images/<sha256>.pack" */
	char index[96];           /* "images/<sha256>.index" */
	unsigned long long index_size;
	char index_sha256[65];
	unsigned chunk_avg;    /* the chunker's average chunk size */
	int level;             /* zstd level */
	unsigned max_bases;    /* deltas from at most this many older images (imgdelta.c) */
	struct mdelta {        /* Image-Deltas: one from each older image */
		char base[65]; /* sha256 of the older image */
		char index[160], path[160]; /* images/<sha256>.from-<base>.dindex, .delta */
		unsigned long long index_size, size;
		char index_sha256[65];
	} deltas[MIMAGE_BASES];
	size_t ndeltas;
};

/* Read (sha256 and size) the image file with its version; an empty file is refused. */
int image_load(const char *file, const char *version, struct mimage *im) LB_MUST;
/* Publish the image as chunks (docs/os-image.md): each chunk compressed once into
 * TREE/chunks/XX/<sha256>.zst (kept across versions: a chunk already there is
 * reused after checking it), the pack TREE/images/<sha256>.pack (the chunks'
 * frames in image order) and the index TREE/images/<sha256>.index. Both are kept
 * when they are there and the index matches the image. Sets csize and index_*. */
int image_publish(struct mtree *t, struct mimage *im) LB_MUST;
void image_free(struct mimage *im);

/* ---- imgdelta.c: deltas from older images (lib/chunk.h, "Deltas") ---- */

/* After image_publish: for each of the im->max_bases newest other images in
 * TREE/images, TREE/images/<sha256>.from-<base>.delta and .dindex (kept when they
 * are there and right). Fills im->deltas. A base that cannot be read is skipped
 * with a warning. */
int image_deltas(struct mtree *t, struct mimage *im) LB_MUST;

/* ---- debdelta.c: package deltas (lib/pkgdelta.h) ---- */

#define MDELTA_LEVEL 9 /* xz preset of package deltas (with xz's "extreme" flag) */

struct debdelta_stats {
	unsigned same, zstd, bsdiff, literal; /* regular files by how they are sent */
	unsigned long long bytes;             /* of the delta */
};

/* Write to outfd (empty, seekable) the delta from the package olddeb to newdeb,
 * its streams compressed with xz preset; content receives newdeb's content hash
 * (lib/deb.h). */
int debdelta_make(const char *olddeb, const char *newdeb, int outfd, int preset,
                  struct debdelta_stats *st, char content[65]) LB_MUST;
int cmd_delta(int argc, char **argv);

/* ---- pkgdeltas.c: a group's package deltas ---- */

struct mpdelta {
	const struct mpkg *pkg; /* the package it makes */
	char base[65];          /* sha256 of the .deb it starts from */
	char content[65];       /* the package's content hash */
	char sha256[65];        /* of the delta file */
	unsigned long long size;
};

#define MPDELTA_BASES 2 /* --package-deltas: older versions each package gets deltas from */

/* The deltas for the packages sel[0..n) of pool in group g (made in TREE/deltas
 * unless they are there), from their versions in the group's current state and
 * the bases it lists (max_bases of them), and from other versions in from (NULL
 * or --delta-from's pool). *out is malloc'd. */
int pkgdeltas_publish(struct mtree *t, const struct mgroup *g, const struct mpool *pool,
                      const size_t *sel, size_t n, unsigned max_bases, const struct mpool *from,
                      struct mpdelta **out, size_t *nout) LB_MUST;

/* ---- state.c: the texts of the signed files ---- */

/* groups/G/state (docs/master-tree.md): the packages sel[0..n) of pool, sorted by
 * name, their deltas pd[0..npd), and the OS image im (or NULL). */
void state_text(struct mbuf *b, const struct mgroup *g, const struct mpool *pool, const size_t *sel,
                size_t n, const struct mpdelta *pd, size_t npd, const struct mimage *im,
                unsigned long long serial, time_t expires);
/* devices/ID */
void pointer_text(struct mbuf *b, const struct mdevice *d, unsigned long long serial,
                  time_t expires);

/* ---- tree.c, index.c, signed.c: the published tree ---- */

struct mtree {
	const char *path;
	int fd;
	int poolfd; /* TREE/pool */
	const struct lb_mkey *key;
	unsigned long long serial; /* of every file this publish writes */
	time_t now;
	unsigned written, kept, removed; /* files */
};

/* Create (mkdir -p) and lock TREE, create pool/, groups/, devices/. */
int tree_open(const char *path, struct mtree *t) LB_MUST;
void tree_close(struct mtree *t);
/* The highest Serial of the states and device pointers in the tree (0 if none). */
int tree_max_serial(struct mtree *t, unsigned long long *max) LB_MUST;
/* The Serial of TREE/name (a path in the tree), 0 when it has none or is missing. */
unsigned long long tree_serial_of(struct mtree *t, const char *name);
/* mkdir dir (one level, relative to the tree) unless it exists. */
int tree_mkdir(struct mtree *t, const char *dir) LB_MUST;
/* Remove the files of groups and devices that CONF no longer names. */
int tree_prune(struct mtree *t, const struct mconf *conf) LB_MUST;

/* Copy each package into TREE/pool/AB/<sha>.deb (hardlinked when possible) unless it
 * is there, then write TREE/Packages if its content changed. */
int index_publish(struct mtree *t, const struct mpool *pool) LB_MUST;

/* "2026-12-25T00:00:00Z" */
void iso_time(time_t t, char out[32]);

/* Write dir/name (dir relative to the tree, existing; "." for the top) with text and its .minisig
 * signed with the trusted comment "timestamp:<now> file:<dir/name> serial:<serial>". */
int signed_write(struct mtree *t, const char *dir, const char *name, const char *text,
                 size_t len) LB_MUST;
/* May dir/name stay as it is instead of being replaced by text? Yes (1) when the
 * old file equals text but for its Serial and Expires fields, its signature verifies
 * with the tree's key, and it stays valid for at least half of period (seconds) and
 * at most period (a shortened Expires-Days takes effect at once).
 * 0 otherwise (missing, different, unsigned, expiring, unreadable). */
int signed_keep(struct mtree *t, const char *dir, const char *name, const char *text,
                long long period);

#endif
