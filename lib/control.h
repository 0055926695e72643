/* SPDX-License-Identifier: MIT */
/* Package metadata from a control paragraph, and dependency fields
 * ("a (>= 1) | b, c:any, d (<< 2)"). */
#ifndef LB_CONTROL_H
#define LB_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "deb822.h"
#include "error.h"
#include "version.h"

/* One alternative: name [:arch] [(rel version)] */
struct lb_dep_alt {
	char *name;
	char *arch; /* architecture qualifier after ':' or NULL; lifeboat ignores it
	             * for matching except that it is kept for display */
	enum lb_rel rel;
	char *version; /* NULL when rel == LB_REL_ANY */
};

/* One dependency: alternatives joined by '|'. */
struct lb_dep {
	struct lb_dep_alt *alts;
	size_t n;
};

struct lb_deplist {
	struct lb_dep *deps;
	size_t n;
};

/* Parse a dependency field. allow_alts=false (Provides, Conflicts, Breaks,
 * Replaces) refuses '|'. Architecture restrictions "[amd64]" and build profiles
 * "<!nocheck>" are refused (they have no place in binary packages). Empty or NULL
 * s gives an empty list. Package names must be valid Debian names
 * ([a-z0-9][a-z0-9+.-]+); versions must be valid. */
int lb_deplist_parse(const char *s, bool allow_alts, struct lb_deplist *out) LB_MUST;
void lb_deplist_free(struct lb_deplist *dl);

/* Append the canonical text of dl to buf (e.g. "a (>= 1.0) | b, c"), NUL-terminated,
 * truncated to size; returns the length it needed (like snprintf). */
size_t lb_deplist_format(const struct lb_deplist *dl, char *buf, size_t size);

/* Human text of one dependency ("a (>= 1.0) | b") into buf, like snprintf. */
size_t lb_dep_format(const struct lb_dep *d, char *buf, size_t size);

bool lb_pkgname_valid(const char *name);

struct lb_pkginfo {
	char *name;
	char *version;
	char *arch;
	char *multi_arch; /* may be NULL */
	bool essential;
	unsigned long long installed_size; /* KiB, 0 if absent */
	struct lb_deplist depends;
	struct lb_deplist pre_depends;
	struct lb_deplist conflicts;
	struct lb_deplist breaks;
	struct lb_deplist replaces;
	struct lb_deplist provides;
};

/* Fill pi from a control paragraph. Package, Version and Architecture are
 * required and validated; errors name the field ("Depends: bad version '1..'"). */
int lb_pkginfo_from_para(const struct lb_para *p, struct lb_pkginfo *pi) LB_MUST;
void lb_pkginfo_free(struct lb_pkginfo *pi);

/* Does package pi satisfy the alternative alt, directly (name and version) or
 * through a Provides (unversioned Provides satisfy only unversioned deps;
 * versioned Provides "x (= 1)" satisfy versioned deps, as dpkg does)? */
bool lb_pkginfo_satisfies(const struct lb_pkginfo *pi, const struct lb_dep_alt *alt);

#endif
