/* SPDX-License-Identifier: MIT */
/* deb822: parse the input as is (not NUL-terminated) and check the result's
 * invariants: paragraphs non-empty and bounded, field names non-empty printable
 * ASCII without ':', unique per paragraph, and found again by lb_para_get. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deb822.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_para(const struct lb_para *p)
{
	if (p->n == 0 || p->n > LB_DEB822_MAX_FIELDS || p->line == 0)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		const char *name = p->fields[i].name, *v = p->fields[i].value;
		if (!name[0] || name[0] == '-' || name[0] == '#' || !v)
			abort();
		for (const char *c = name; *c; c++)
			if (*c <= ' ' || *c > '~' || *c == ':')
				abort();
		if (lb_para_get(p, name) != v)
			abort();
		size_t n = strlen(v);
		if (n && (v[0] == ' ' || v[0] == '\t'))
			abort();
		if (n && !strchr(v, '\n') && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lb_doc doc;
	/* A copy of exactly size bytes, so that ASan catches any read past len. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (lb_deb822_parse(buf, size, &doc) == 0) {
		for (size_t i = 0; i < doc.n; i++)
			check_para(&doc.paras[i]);
	} else if (doc.n || doc.paras || !lb_err_msg()[0]) {
		abort();
	}
	lb_doc_free(&doc);
	free(buf);
	return 0;
}
