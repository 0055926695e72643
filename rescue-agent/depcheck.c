/* SPDX-License-Identifier: MIT */
/* Dependency checks and ordering over an exact package set. Names (and Provides)
 * are looked up in a sorted index; the ordering uses an iterative Tarjan SCC pass,
 * then Kahn's algorithm over the components with a min-heap on set position. */
#include "depcheck.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

/* One name a package answers to: its own or one it provides. */
struct ent {
	const char *name;
	size_t pkg;
	bool provided;
};

struct index {
	const struct lb_pkginfo *const *set;
	struct ent *ents;
	size_t n;
};

struct edge {
	size_t to;
	bool pre;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->provided != y->provided) /* the real package first */
		return x->provided ? 1 : -1;
	return (x->pkg > y->pkg) - (x->pkg < y->pkg);
}

static int index_build(struct index *ix, const struct lb_pkginfo *const *set, size_t n)
{
	size_t cap = n, i, k, m = 0;

	ix->set = set;
	ix->n = 0;
	for (i = 0; i < n; i++)
		cap += set[i]->provides.n;
	ix->ents = calloc(cap ? cap : 1, sizeof *ix->ents);
	if (!ix->ents)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct lb_deplist *pv = &set[i]->provides;

		ix->ents[m++] = (struct ent){set[i]->name, i, false};
		for (k = 0; k < pv->n; k++) {
			const char *name = pv->deps[k].n ? pv->deps[k].alts[0].name : NULL;

			if (name && strcmp(name, set[i]->name))
				ix->ents[m++] = (struct ent){name, i, true};
		}
	}
	qsort(ix->ents, m, sizeof *ix->ents, ent_cmp);
	/* drop a name provided twice by the same package */
	for (i = 0; i < m; i++)
		if (!ix->n || ent_cmp(&ix->ents[ix->n - 1], &ix->ents[i]))
			ix->ents[ix->n++] = ix->ents[i];
	return 0;
}

/* First entry called name (entries are sorted), or ix->n. */
static size_t index_find(const struct index *ix, const char *name)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ix->ents[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->n && !strcmp(ix->ents[lo].name, name) ? lo : ix->n;
}

/* The package satisfying alt (the real package first, then providers in set
 * order), skipping package skip; NONE if there is none. */
static size_t index_match(const struct index *ix, const struct lb_dep_alt *alt, size_t skip)
{
	size_t k;

	for (k = index_find(ix, alt->name); k < ix->n && !strcmp(ix->ents[k].name, alt->name);
	     k++) {
		size_t j = ix->ents[k].pkg;

		if (j != skip && lb_pkginfo_satisfies(ix->set[j], alt))
			return j;
	}
	return NONE;
}

/* First alternative of d satisfied in the set: the satisfying package, or NONE. */
static size_t dep_match(const struct index *ix, const struct lb_dep *d)
{
	for (size_t a = 0; a < d->n; a++) {
		size_t j = index_match(ix, &d->alts[a], NONE);

		if (j != NONE)
			return j;
	}
	return NONE;
}

static int unsatisfied(const struct index *ix, size_t i, const struct lb_dep *d, const char *what)
{
	const struct lb_pkginfo *p = ix->set[i], *q;
	char dep[512];
	size_t a, k;

	lb_dep_format(d, dep, sizeof dep);
	for (a = 0; a < d->n; a++) {
		k = index_find(ix, d->alts[a].name);
		if (k < ix->n && !ix->ents[k].provided) {
			q = ix->set[ix->ents[k].pkg];
			return lb_errf(-LBE_DEPENDS,
			               "%s %s: %s %s, but the desired state has %s %s", p->name,
			               p->version, what, dep, q->name, q->version);
		}
	}
	for (a = 0; a < d->n; a++) {
		k = index_find(ix, d->alts[a].name);
		if (k < ix->n) {
			q = ix->set[ix->ents[k].pkg];
			return lb_errf(
			    -LBE_DEPENDS,
			    "%s %s: %s %s, but in the desired state only %s %s provides %s",
			    p->name, p->version, what, dep, q->name, q->version, d->alts[a].name);
		}
	}
	return lb_errf(-LBE_DEPENDS, "%s %s: %s %s, which is not in the desired state", p->name,
	               p->version, what, dep);
}

static int check_deps(const struct index *ix, size_t i, const struct lb_deplist *dl,
                      const char *what)
{
	size_t k;

	for (k = 0; k < dl->n; k++)
		if (dep_match(ix, &dl->deps[k]) == NONE)
			return unsatisfied(ix, i, &dl->deps[k], what);
	return 0;
}

static int check_conflicts(const struct index *ix, size_t i, const struct lb_deplist *dl,
                           const char *verb, const char *field)
{
	const struct lb_pkginfo *p = ix->set[i], *q;
	char dep[512];
	size_t k, a, j;

	for (k = 0; k < dl->n; k++) {
		for (a = 0; a < dl->deps[k].n; a++) {
			j = index_match(ix, &dl->deps[k].alts[a], i);
			if (j == NONE)
				continue;
			q = ix->set[j];
			lb_dep_format(&dl->deps[k], dep, sizeof dep);
			return lb_errf(-LBE_CONFLICT, "%s %s %s %s %s (%s: %s)", p->name,
			               p->version, verb, q->name, q->version, field, dep);
		}
	}
	return 0;
}

int lb_depcheck(const struct lb_pkginfo *const *set, size_t n)
{
	struct index ix;
	size_t i;
	int r;

	r = index_build(&ix, set, n);
	if (r)
		return lb_errf(r, "dependency check: out of memory");
	for (i = 0, r = 0; i < n && !r; i++) {
		r = check_deps(&ix, i, &set[i]->pre_depends, "pre-depends on");
		if (!r)
			r = check_deps(&ix, i, &set[i]->depends, "depends on");
		if (!r)
			r = check_conflicts(&ix, i, &set[i]->conflicts, "conflicts with",
			                    "Conflicts");
		if (!r)
			r = check_conflicts(&ix, i, &set[i]->breaks, "breaks", "Breaks");
	}
	free(ix.ents);
	return r;
}

/* Work state of lb_deporder; all arrays have n (or n + 1) entries. */
struct graph {
	const struct lb_pkginfo *const *set;
	size_t n;
	struct edge *edges;       /* edges of node v: edges[off[v] .. off[v + 1]) */
	size_t *off, *rev, *roff; /* reverse edges: sources rev[roff[v] .. roff[v + 1]) */
	size_t *num, *low, *scc, *stk, *cs, *pos, *members, *sstart, *root, *pending, *heap;
};

static int add_edges(struct graph *g, const struct index *ix, size_t v, const struct lb_deplist *dl,
                     bool pre, size_t *ne, size_t *cap)
{
	for (size_t k = 0; k < dl->n; k++) {
		size_t j = dep_match(ix, &dl->deps[k]);

		if (j == NONE || j == v)
			continue;
		if (*ne == *cap) {
			size_t ncap = *cap ? 2 * *cap : 64;
			struct edge *e = ncap < SIZE_MAX / sizeof *e
			                     ? realloc(g->edges, ncap * sizeof *e)
			                     : NULL;

			if (!e)
				return -ENOMEM;
			g->edges = e;
			*cap = ncap;
		}
		g->edges[(*ne)++] = (struct edge){j, pre};
	}
	return 0;
}

static int build_edges(struct graph *g)
{
	struct index ix;
	size_t v, ne = 0, cap = 0;
	int r = index_build(&ix, g->set, g->n);

	for (v = 0; v < g->n && !r; v++) {
		g->off[v] = ne;
		r = add_edges(g, &ix, v, &g->set[v]->pre_depends, true, &ne, &cap);
		if (!r)
			r = add_edges(g, &ix, v, &g->set[v]->depends, false, &ne, &cap);
	}
	free(ix.ents);
	if (r)
		return r;
	g->off[g->n] = ne;
	g->rev = malloc((ne ? ne : 1) * sizeof *g->rev);
	if (!g->rev)
		return -ENOMEM;
	/* reverse CSR: count, prefix sums, fill (sources in increasing order) */
	for (v = 0; v < ne; v++)
		g->roff[g->edges[v].to + 1]++;
	for (v = 0; v < g->n; v++)
		g->roff[v + 1] += g->roff[v];
	for (v = 0; v < g->n; v++)
		for (size_t e = g->off[v]; e < g->off[v + 1]; e++)
			g->rev[g->roff[g->edges[e].to] + g->pos[g->edges[e].to]++] = v;
	return 0;
}

static void tarjan_visit(struct graph *g, size_t w, size_t *counter, size_t *sp, size_t *csp)
{
	g->num[w] = g->low[w] = (*counter)++;
	g->scc[w] = NONE; /* unassigned: on the Tarjan stack */
	g->pos[w] = g->off[w];
	g->stk[(*sp)++] = w;
	g->cs[(*csp)++] = w;
}

/* Iterative Tarjan; components come out dependencies first. Returns their count. */
static size_t tarjan(struct graph *g)
{
	size_t counter = 0, sp = 0, csp = 0, nscc = 0, nm = 0, r, v, w;

	for (v = 0; v < g->n; v++)
		g->num[v] = NONE;
	for (r = 0; r < g->n; r++) {
		if (g->num[r] == NONE)
			tarjan_visit(g, r, &counter, &sp, &csp);
		while (csp) {
			v = g->cs[csp - 1];
			if (g->pos[v] < g->off[v + 1]) {
				w = g->edges[g->pos[v]++].to;
				if (g->num[w] == NONE)
					tarjan_visit(g, w, &counter, &sp, &csp);
				else if (g->scc[w] == NONE && g->num[w] < g->low[v])
					g->low[v] = g->num[w];
				continue;
			}
			if (--csp && g->low[v] < g->low[g->cs[csp - 1]])
				g->low[g->cs[csp - 1]] = g->low[v];
			if (g->low[v] != g->num[v])
				continue;
			g->sstart[nscc] = nm;
			g->root[nscc] = v;
			do {
				w = g->stk[--sp];
				g->scc[w] = nscc;
				g->members[nm++] = w;
				if (w < g->root[nscc])
					g->root[nscc] = w;
			} while (w != v);
			nscc++;
		}
	}
	g->sstart[nscc] = nm;
	return nscc;
}

/* A Pre-Depends edge inside a component: name the cycle through it. */
static int find_pre_cycle(struct graph *g)
{
	char msg[900];
	size_t u, e, v, i, len, head, tail, cur;

	for (u = 0; u < g->n; u++)
		for (e = g->off[u]; e < g->off[u + 1]; e++)
			if (g->edges[e].pre && g->scc[g->edges[e].to] == g->scc[u])
				goto found;
	return 0;
found:
	/* breadth-first from the pre-depended package back to u, within the component */
	v = g->edges[e].to;
	for (i = 0; i < g->n; i++)
		g->pos[i] = NONE; /* parent */
	g->pos[v] = v;
	g->cs[0] = v;
	for (head = 0, tail = 1; head < tail && g->pos[u] == NONE; head++) {
		cur = g->cs[head];
		for (e = g->off[cur]; e < g->off[cur + 1]; e++) {
			size_t w = g->edges[e].to;

			if (g->scc[w] == g->scc[u] && g->pos[w] == NONE) {
				g->pos[w] = cur;
				g->cs[tail++] = w;
			}
		}
	}
	for (i = 0, cur = u; cur != v; cur = g->pos[cur])
		g->stk[i++] = cur; /* path u <- ... <- v, reversed */
	len = (size_t)snprintf(msg, sizeof msg, "%s -> %s", g->set[u]->name, g->set[v]->name);
	while (i-- && len < sizeof msg)
		len += (size_t)snprintf(msg + len, sizeof msg - len, " -> %s",
		                        g->set[g->stk[i]]->name);
	if (len >= sizeof msg)
		strcpy(msg + sizeof msg - 5, " ...");
	return lb_errf(-LBE_CYCLE, "dependency cycle through Pre-Depends: %s", msg);
}

static void heap_push(size_t *h, size_t *len, size_t x)
{
	size_t i = (*len)++;

	for (; i && h[(i - 1) / 2] > x; i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i] = x;
}

static size_t heap_pop(size_t *h, size_t *len)
{
	size_t top = h[0], x = h[--*len], i = 0, c;

	while ((c = 2 * i + 1) < *len) {
		if (c + 1 < *len && h[c + 1] < h[c])
			c++;
		if (x <= h[c])
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
	return top;
}

/* Emit a component: depth-first from its first package in set order, following
 * dependency edges inside it, packages in post-order (the back edges are broken). */
static size_t emit_scc(struct graph *g, size_t s, size_t *order, size_t k)
{
	size_t csp = 0, v, w;

	for (v = g->sstart[s]; v < g->sstart[s + 1]; v++)
		g->pos[g->members[v]] = g->off[g->members[v]];
	g->num[g->root[s]] = NONE; /* num == NONE marks visited here */
	g->cs[csp++] = g->root[s];
	while (csp) {
		v = g->cs[csp - 1];
		if (g->pos[v] < g->off[v + 1]) {
			w = g->edges[g->pos[v]++].to;
			if (g->scc[w] == s && g->num[w] != NONE) {
				g->num[w] = NONE;
				g->cs[csp++] = w;
			}
			continue;
		}
		order[k++] = v;
		csp--;
	}
	return k;
}

int lb_deporder(const struct lb_pkginfo *const *set, size_t n, bool strict, size_t *order)
{
	enum { NARR = 13 };
	struct graph g = {.set = set, .n = n};
	size_t **arr[NARR] = {&g.off, &g.roff,    &g.num,    &g.low,  &g.scc,     &g.stk, &g.cs,
	                      &g.pos, &g.members, &g.sstart, &g.root, &g.pending, &g.heap};
	size_t *mem, nscc, nh = 0, k = 0, s, m, e;
	int r;

	if (n >= SIZE_MAX / sizeof(size_t) / NARR - 1)
		return lb_errf(-ENOMEM, "dependency order: too many packages");
	mem = calloc(NARR * (n + 1), sizeof *mem);
	if (!mem)
		return lb_errf(-ENOMEM, "dependency order: out of memory");
	for (m = 0; m < NARR; m++)
		*arr[m] = mem + m * (n + 1);
	r = build_edges(&g);
	if (r) {
		r = lb_errf(r, "dependency order: out of memory");
		goto out;
	}
	nscc = tarjan(&g);
	if (strict && (r = find_pre_cycle(&g)))
		goto out;
	for (m = 0; m < n; m++)
		for (e = g.off[m]; e < g.off[m + 1]; e++)
			if (g.scc[g.edges[e].to] != g.scc[m])
				g.pending[g.scc[m]]++;
	for (s = 0; s < nscc; s++)
		if (!g.pending[s])
			heap_push(g.heap, &nh, g.root[s]);
	while (nh) {
		s = g.scc[heap_pop(g.heap, &nh)];
		k = emit_scc(&g, s, order, k);
		for (m = g.sstart[s]; m < g.sstart[s + 1]; m++) {
			size_t v = g.members[m];

			for (e = g.roff[v]; e < g.roff[v + 1]; e++) {
				size_t t = g.scc[g.rev[e]];

				if (t != s && !--g.pending[t])
					heap_push(g.heap, &nh, g.root[t]);
			}
		}
	}
out:
	free(g.edges);
	free(g.rev);
	free(mem);
	return r;
}
