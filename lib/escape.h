/* SPDX-License-Identifier: MIT */
/* Percent-encoding of paths and link targets in lifeboat's line-based files
 * (database file lists, journal records): '%', whitespace, control characters
 * and bytes >= 0x7f become %XX, so a record is always one line of fields. */
#ifndef LB_ESCAPE_H
#define LB_ESCAPE_H

#include <stddef.h>

#include "error.h"

/* Encode s into out (size bytes); returns -ENAMETOOLONG if it does not fit. */
int lb_escape(const char *s, char *out, size_t size) LB_MUST;
/* Decode in place; returns -LBE_FORMAT on a bad escape or an encoded NUL. */
int lb_unescape(char *s) LB_MUST;

#endif
