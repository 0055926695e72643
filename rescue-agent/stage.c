/* SPDX-License-Identifier: MIT */
/* Pre-Depends across a transaction. Debian's rule: a package's pre-dependency is
 * unpacked and configured before its preinst runs. When a package with a preinst
 * pre-depends on a package that this plan installs or changes, that
 * pre-dependency (with what it needs) is applied first, as a transaction of its
 * own, like apt splitting a run of dpkg. Each stage is atomic; the device is
 * never outside a state that is closed under its dependencies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static bool changes(const struct lb_item *it)
{
	return it->neu.info.name != NULL;
}

static void mark_satisfiers(const struct lb_plan *plan, const struct lb_deplist *dl, bool *in)
{
	for (size_t d = 0; d < dl->n; d++)
		for (size_t a = 0; a < dl->deps[d].n; a++)
			for (size_t k = 0; k < plan->n; k++)
				if (changes(&plan->items[k]) &&
				    lb_pkginfo_satisfies(&plan->items[k].neu.info,
				                         &dl->deps[d].alts[a]))
					in[k] = true;
}

/* content: the content hash a rebuilt package was accepted by, or NULL */
static int add(struct lb_desired *st, const char *name, const char *version, const char *sha,
               unsigned long long size, const char *content)
{
	struct lb_desired_pkg *p = &st->pkgs[st->n];
	memset(p, 0, sizeof *p);
	p->name = strdup(name);
	p->version = strdup(version);
	if (!p->name || !p->version) {
		free(p->name);
		free(p->version);
		return -ENOMEM;
	}
	if (sha && strlen(sha) == 64) {
		memcpy(p->sha256, sha, 65);
		p->size = size;
	}
	if (content && strlen(content) == 64)
		memcpy(p->content_sha256, content, 65);
	st->n++;
	return 0;
}

static int cmp_pkg(const void *a, const void *b)
{
	return strcmp(((const struct lb_desired_pkg *)a)->name,
	              ((const struct lb_desired_pkg *)b)->name);
}

int lb_plan_first_stage(const struct lb_plan *plan, struct lb_desired *st)
{
	memset(st, 0, sizeof *st);
	bool *in = calloc(plan->n + 1, sizeof *in);
	if (!in)
		return -ENOMEM;
	for (size_t i = 0; i < plan->n; i++) {
		const struct lb_item *it = &plan->items[i];
		if (changes(it) && it->meta.script[LB_PREINST])
			mark_satisfiers(plan, &it->neu.info.pre_depends, in);
	}
	/* with everything they need themselves, to a fixed point */
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < plan->n; i++) {
			if (!in[i])
				continue;
			size_t before = 0, after = 0;
			for (size_t k = 0; k < plan->n; k++)
				before += in[k];
			mark_satisfiers(plan, &plan->items[i].neu.info.pre_depends, in);
			mark_satisfiers(plan, &plan->items[i].neu.info.depends, in);
			for (size_t k = 0; k < plan->n; k++)
				after += in[k];
			grew |= after != before;
		}
	}
	size_t nin = 0;
	bool self = false;
	for (size_t i = 0; i < plan->n; i++) {
		nin += in[i];
		/* a package whose preinst needs itself (a cycle) cannot be staged */
		self |= in[i] && plan->items[i].meta.script[LB_PREINST] &&
		        plan->items[i].neu.info.pre_depends.n;
	}
	if (!nin || self) {
		free(in);
		return 0;
	}
	st->serial = plan->db.serial;
	st->format = LB_DESIRED_FORMAT;
	st->pkgs = calloc(plan->db.n + nin + 1, sizeof *st->pkgs);
	int r = st->pkgs ? 0 : -ENOMEM;
	for (size_t i = 0; i < plan->n && !r; i++)
		if (in[i])
			r = add(st, plan->items[i].neu.info.name, plan->items[i].neu.info.version,
			        plan->items[i].neu.deb_sha256, plan->items[i].id_size,
			        plan->items[i].content_sha256);
	for (size_t i = 0; i < plan->db.n && !r; i++) {
		const struct lb_dbpkg *p = &plan->db.pkgs[i];
		bool staged = false;
		for (size_t k = 0; k < plan->n; k++)
			staged |= in[k] && !strcmp(plan->items[k].neu.info.name, p->info.name);
		if (!staged)
			r = add(st, p->info.name, p->info.version, p->deb_sha256, 0, NULL);
	}
	free(in);
	if (r) {
		lb_desired_free(st);
		return r;
	}
	/* installed packages keep their recorded hash but not their size: drop both */
	for (size_t i = 0; i < st->n; i++)
		if (!st->pkgs[i].size)
			st->pkgs[i].sha256[0] = 0;
	qsort(st->pkgs, st->n, sizeof *st->pkgs, cmp_pkg);
	return 1;
}
