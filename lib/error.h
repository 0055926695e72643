/* SPDX-License-Identifier: MIT */
/* Errors: functions return 0 or a negative code; negative errno values for system
 * failures, negative LBE_* values (above errno's range) for lifeboat's own. Every
 * failure may also carry a one-line message naming the thing and the reason,
 * built up layer by layer with lb_err_prefix(). */
#ifndef LB_ERROR_H
#define LB_ERROR_H

#include <stdarg.h>

#define LB_MUST         __attribute__((warn_unused_result))
#define LB_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum lb_err {
	LBE_BASE = 1024,
	LBE_USAGE,         /* bad command line */
	LBE_FORMAT,        /* malformed input (control file, deb822, desired state, ...) */
	LBE_FORMAT_VER,    /* a file's format version is newer than this lifeboat */
	LBE_DEB,           /* not a valid .deb */
	LBE_NOT_FOUND,     /* a package named by the desired state is not available */
	LBE_HASH,          /* content does not match its recorded sha256 or size */
	LBE_DEPENDS,       /* unsatisfied dependency in a desired state */
	LBE_CONFLICT,      /* Conflicts/Breaks between packages of a desired state */
	LBE_CYCLE,         /* dependency cycle through Pre-Depends */
	LBE_FILE_CONFLICT, /* a path owned by two packages */
	LBE_UNSAFE,        /* path traversal, symlink escape, device node, ... */
	LBE_LOCKED,        /* another lifeboat holds the lock */
	LBE_SCRIPT,        /* a maintainer script failed */
	LBE_CORRUPT,       /* the journal or database is damaged */
	LBE_NOSPACE,       /* not enough space for the transaction */
	LBE_SIGNATURE,     /* a signature is malformed, by an unknown key or does not verify */
	LBE_STALE,         /* a replayed (older serial) or expired signed file */
	LBE_MAX
};

/* Message of a code (negative errno or -LBE_*). */
const char *lb_strerror(int err);

/* Record a message for the current failure and return err (negative).
 * Usage: return lb_errf(-LBE_DEPENDS, "%s: depends on %s", a, b); */
int lb_errf(int err, const char *fmt, ...) LB_PRINTF(2, 3);

/* Prefix the current message with "<context>: " and return err unchanged.
 * If no message was recorded yet, the message becomes "<context>: <strerror(err)>". */
int lb_err_prefix(int err, const char *fmt, ...) LB_PRINTF(2, 3);

/* The message of the last failure ("" if none); lb_err_clear() forgets it. */
const char *lb_err_msg(void);
void lb_err_clear(void);

/* Process exit status for an error code (documented in docs/exit-codes.md). */
int lb_exit_code(int err);

#endif
