/* SPDX-License-Identifier: MIT */
/* Debian version strings: [epoch:]upstream[-revision], ordered as dpkg orders them. */
#ifndef LB_VERSION_H
#define LB_VERSION_H

#include <stdbool.h>

#include "error.h"

/* A relation between versions, as in "Depends: a (>= 1.0)". */
enum lb_rel {
	LB_REL_ANY = 0, /* no version constraint */
	LB_REL_LT,      /* << (also accepted: lt) */
	LB_REL_LE,      /* <= (le, and the obsolete "<", which dpkg reads as <=) */
	LB_REL_EQ,      /* =  (eq) */
	LB_REL_NE,      /* only from vercmp's "ne" */
	LB_REL_GE,      /* >= (ge, and the obsolete ">", which dpkg reads as >=) */
	LB_REL_GT,      /* >> (gt) */
};

/* true if s is a syntactically valid Debian version (as dpkg accepts it:
 * epoch digits, allowed characters only, non-empty upstream and revision). An
 * upstream part not starting with a digit is accepted, as dpkg only warns. */
bool lb_version_valid(const char *s);

/* <0, 0, >0 as a is older than, equal to, newer than b (dpkg's algorithm).
 * Both must be valid versions; invalid ones compare as strings after valid ones. */
int lb_vercmp(const char *a, const char *b);

/* Parse an operator ("<<", "<=", "=", ">=", ">>", "<", ">", "lt", "le", "eq",
 * "ne", "ge", "gt"); returns LB_REL_ANY if unknown. */
enum lb_rel lb_rel_parse(const char *op);

/* The canonical spelling of a relation ("<<", "<=", "=", "!=", ">=", ">>", ""). */
const char *lb_rel_str(enum lb_rel rel);

/* Does "a REL b" hold? LB_REL_ANY always holds. */
bool lb_version_satisfies(const char *a, enum lb_rel rel, const char *b);

#endif
