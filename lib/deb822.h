/* SPDX-License-Identifier: MIT */
/* deb822 documents (Debian control files, Packages indexes, lifeboat's own state
 * files): paragraphs of "Name: value" fields separated by blank lines; a value
 * continues on following lines that start with a space or tab. Input is
 * untrusted: every size is bounded. */
#ifndef LB_DEB822_H
#define LB_DEB822_H

#include <stddef.h>

#include "error.h"

#define LB_DEB822_MAX_INPUT  (64u << 20) /* bytes of one document */
#define LB_DEB822_MAX_FIELDS 256         /* fields in one paragraph */
#define LB_DEB822_MAX_PARAS  (1u << 20)  /* paragraphs in one document */

struct lb_field {
	char *name;  /* field name as written */
	char *value; /* first line with surrounding whitespace trimmed; continuation
	              * lines appended after '\n' with their first space/tab removed
	              * (a line " ." becomes an empty line); no trailing newline */
};

struct lb_para {
	struct lb_field *fields;
	size_t n;
	unsigned line; /* line number of the paragraph's first field (1-based) */
};

struct lb_doc {
	struct lb_para *paras;
	size_t n;
};

/* Parse buf[0..len) (need not be NUL-terminated). Comment lines starting with '#'
 * are ignored. A PGP-signed wrapper is NOT handled. On error returns -LBE_FORMAT
 * with a message naming the line ("line 12: field without a colon"), and doc is
 * left empty. */
int lb_deb822_parse(const char *buf, size_t len, struct lb_doc *doc) LB_MUST;

/* Value of the first field called name (ASCII case-insensitive), or NULL. */
const char *lb_para_get(const struct lb_para *p, const char *name);

void lb_doc_free(struct lb_doc *doc);

#endif
