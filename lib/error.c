/* SPDX-License-Identifier: MIT */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static __thread char msg[1024]; /* per thread: see parallel.c */

static const char *const lbe_text[] = {
    [LBE_USAGE - LBE_BASE] = "usage error",
    [LBE_FORMAT - LBE_BASE] = "malformed input",
    [LBE_FORMAT_VER - LBE_BASE] = "format version newer than this lifeboat understands",
    [LBE_DEB - LBE_BASE] = "not a valid .deb package",
    [LBE_NOT_FOUND - LBE_BASE] = "package not available",
    [LBE_HASH - LBE_BASE] = "content does not match its recorded hash or size",
    [LBE_DEPENDS - LBE_BASE] = "unsatisfied dependency",
    [LBE_CONFLICT - LBE_BASE] = "conflicting packages",
    [LBE_CYCLE - LBE_BASE] = "dependency cycle through Pre-Depends",
    [LBE_FILE_CONFLICT - LBE_BASE] = "file owned by two packages",
    [LBE_UNSAFE - LBE_BASE] = "unsafe path in package",
    [LBE_LOCKED - LBE_BASE] = "another lifeboat is running",
    [LBE_SCRIPT - LBE_BASE] = "maintainer script failed",
    [LBE_CORRUPT - LBE_BASE] = "state is damaged",
    [LBE_NOSPACE - LBE_BASE] = "not enough space",
    [LBE_SIGNATURE - LBE_BASE] = "bad signature",
    [LBE_STALE - LBE_BASE] = "replayed or expired",
};

const char *lb_strerror(int err)
{
	int e = err < 0 ? -err : err;
	if (e > LBE_BASE && e < LBE_MAX && lbe_text[e - LBE_BASE])
		return lbe_text[e - LBE_BASE];
	return strerror(e);
}

int lb_errf(int err, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	errno = saved;
	return err;
}

int lb_err_prefix(int err, const char *fmt, ...)
{
	int saved = errno;
	char ctx[512], old[sizeof msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	if (msg[0])
		memcpy(old, msg, sizeof old);
	else
		snprintf(old, sizeof old, "%s", lb_strerror(err));
	if (snprintf(msg, sizeof msg, "%s: %s", ctx, old) >= (int)sizeof msg)
		memcpy(msg + sizeof msg - 4, "...", 4); /* a long message, cut */
	errno = saved;
	return err;
}

const char *lb_err_msg(void)
{
	return msg;
}

void lb_err_clear(void)
{
	msg[0] = 0;
}

int lb_exit_code(int err)
{
	int e = err < 0 ? -err : err;
	switch (e) {
	case 0: return 0;
	case LBE_USAGE: return 2;
	case LBE_LOCKED: return 3;
	case LBE_FORMAT:
	case LBE_NOT_FOUND:
	case LBE_DEPENDS:
	case LBE_CONFLICT:
	case LBE_CYCLE:
	case LBE_STALE: return 4;
	case LBE_DEB:
	case LBE_HASH:
	case LBE_FILE_CONFLICT:
	case LBE_UNSAFE:
	case LBE_SIGNATURE: return 5;
	case LBE_SCRIPT: return 7;
	case LBE_FORMAT_VER:
	case LBE_CORRUPT: return 8;
	case LBE_NOSPACE:
	case ENOSPC:
	case EDQUOT: return 6;
	default: return e < LBE_BASE ? 6 : 1;
	}
}
