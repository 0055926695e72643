/* SPDX-License-Identifier: MIT */
/* The package database: what is installed, each package's control fields, state,
 * files (type, mode, owner, size, sha256 or link target) and maintainer scripts.
 * One deb822 file, STATE/db, replaced atomically; format in docs/formats.md. */
#ifndef LB_PKGDB_H
#define LB_PKGDB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "control.h"
#include "deb.h"
#include "error.h"

#define LB_DB_FORMAT     1
#define LB_DB_FILE       "db"
#define LB_DB_NEW        "db.new"
#define LB_DB_MAX_SIZE   (256u << 20)
#define LB_SCRIPT_ID_LEN 16 /* hex chars of a script's sha256 naming it in STATE/scripts */

/* dpkg's states, as far as lifeboat uses them */
enum lb_pkgstate {
	LB_ST_NOT_INSTALLED = 0,
	LB_ST_HALF_INSTALLED,
	LB_ST_UNPACKED,
	LB_ST_HALF_CONFIGURED,
	LB_ST_INSTALLED,
};
const char *lb_pkgstate_str(enum lb_pkgstate st);
int lb_pkgstate_parse(const char *s); /* state or -1 */

struct lb_file {
	char *path; /* normalised, relative to the root */
	char type;  /* enum lb_ftype; hardlinks are recorded as regular files */
	bool conffile;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	unsigned long long size;
	char *digest; /* sha256 hex (regular), link target (symlink), "maj,min" (device), or NULL */
};

struct lb_dbpkg {
	struct lb_pkginfo info;
	struct lb_doc control; /* the control paragraph (all fields, for display) */
	enum lb_pkgstate state;
	char deb_sha256[65];
	char *config_version; /* version last configured (dpkg's Config-Version), or NULL */
	char script[LB_NSCRIPTS][LB_SCRIPT_ID_LEN + 1]; /* "" when absent */
	struct lb_file *files;                          /* sorted by path */
	size_t nfiles;
};

struct lb_db {
	unsigned long long serial; /* serial of the last desired state applied */
	struct lb_dbpkg *pkgs;     /* sorted by name */
	size_t n;
};

/* Load STATE/<name>; a missing file is an empty database. */
int lb_db_load(int statefd, const char *name, struct lb_db *db) LB_MUST;
/* Serialise into a malloc'd buffer. */
int lb_db_format(const struct lb_db *db, char **buf, size_t *len) LB_MUST;
/* Write STATE/<name> (not synced, not atomic: callers make it so). */
int lb_db_write_unsafe(int statefd, const char *name, const struct lb_db *db) LB_MUST;
/* Atomically replace STATE/db. */
int lb_db_save(int statefd, const struct lb_db *db) LB_MUST;

struct lb_dbpkg *lb_db_find(const struct lb_db *db, const char *name);
const struct lb_file *lb_dbpkg_file(const struct lb_dbpkg *p, const char *path);
void lb_db_sort(struct lb_db *db);
void lb_dbpkg_sort_files(struct lb_dbpkg *p);
void lb_dbpkg_free(struct lb_dbpkg *p);
void lb_db_free(struct lb_db *db);

/* Build a package record's info and control from control text. */
int lb_dbpkg_set_control(struct lb_dbpkg *p, const char *control, size_t len) LB_MUST;

#endif
