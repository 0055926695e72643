/* SPDX-License-Identifier: MIT */
/* Dependency fields and control paragraphs. The input is parsed as a dependency
 * field (with and without alternatives): whatever parses must format to text
 * that parses again to the same text. It is also parsed as a deb822 document
 * whose paragraphs go through lb_pkginfo_from_para and lb_pkginfo_satisfies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *format(const struct lb_deplist *dl)
{
	size_t n = lb_deplist_format(dl, NULL, 0);
	char *s = malloc(n + 1);
	if (!s)
		abort();
	if (lb_deplist_format(dl, s, n + 1) != n || strlen(s) != n)
		abort();
	return s;
}

static void roundtrip(const char *s, bool alts)
{
	struct lb_deplist dl, again;
	if (lb_deplist_parse(s, alts, &dl) < 0) {
		if (dl.n || dl.deps)
			abort();
		return;
	}
	char *text = format(&dl);
	for (size_t i = 0; i < dl.n; i++) {
		if (!dl.deps[i].n || (!alts && dl.deps[i].n != 1))
			abort();
		char small[8];
		size_t need = lb_dep_format(&dl.deps[i], small, sizeof small);
		if (strlen(small) != (need < sizeof small ? need : sizeof small - 1))
			abort();
	}
	if (lb_deplist_parse(text, alts, &again) < 0)
		abort();
	char *text2 = format(&again);
	if (strcmp(text, text2) || again.n != dl.n)
		abort();
	free(text);
	free(text2);
	lb_deplist_free(&again);
	lb_deplist_free(&dl);
}

static void check_doc(const uint8_t *data, size_t size)
{
	struct lb_doc doc;
	struct lb_pkginfo pi[2];
	size_t ok = 0;
	if (lb_deb822_parse((const char *)data, size, &doc) < 0)
		return;
	for (size_t i = 0; i < doc.n && ok < 2; i++) {
		if (lb_pkginfo_from_para(&doc.paras[i], &pi[ok]) < 0)
			continue;
		if (!lb_pkgname_valid(pi[ok].name) || !lb_version_valid(pi[ok].version))
			abort();
		ok++;
	}
	for (size_t i = 0; i < ok; i++)
		for (size_t j = 0; j < ok; j++)
			for (size_t k = 0; k < pi[i].depends.n; k++)
				for (size_t a = 0; a < pi[i].depends.deps[k].n; a++)
					(void)lb_pkginfo_satisfies(&pi[j],
					                           &pi[i].depends.deps[k].alts[a]);
	for (size_t i = 0; i < ok; i++)
		lb_pkginfo_free(&pi[i]);
	lb_doc_free(&doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	roundtrip(s, true);
	roundtrip(s, false);
	free(s);
	check_doc(data, size);
	return 0;
}
