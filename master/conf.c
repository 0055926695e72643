/* SPDX-License-Identifier: MIT */
/* The master's configuration (docs/master.md): deb822 paragraphs
 *   Group: NAME / Packages: a, b (= 1.2-1), c (>= 2) / [Expires-Days: N]
 *   [Image: FILE / Image-Version: VERSION]
 *   Device: ID / Group: NAME */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "desired.h"
#include "fsop.h"
#include "master.h"

#define MAX_EXPIRES_DAYS 3650

bool conf_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (!n || n >= 128 ||
	    !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	            "0123456789",
	            s[0]))
		return false;
	/* not a name the tree uses beside a file: NAME.minisig, NAME.lb-tmp */
	if ((n > 8 && !strcmp(s + n - 8, ".minisig")) || (n > 7 && !strcmp(s + n - 7, ".lb-tmp")))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-") == n;
}

const struct mgroup *conf_group(const struct mconf *conf, const char *name)
{
	for (size_t i = 0; i < conf->ngroups; i++)
		if (!strcmp(conf->groups[i].name, name))
			return &conf->groups[i];
	return NULL;
}

static const struct mdevice *conf_device(const struct mconf *conf, const char *id)
{
	for (size_t i = 0; i < conf->ndevices; i++)
		if (!strcmp(conf->devices[i].id, id))
			return &conf->devices[i];
	return NULL;
}

/* Only known fields (and X-*): a misspelt field must not be ignored silently. */
static int check_fields(const struct lb_para *p, const char *const *known)
{
	for (size_t i = 0; i < p->n; i++) {
		const char *f = p->fields[i].name;
		bool ok = !strncasecmp(f, "X-", 2);
		for (size_t k = 0; !ok && known[k]; k++)
			ok = !strcasecmp(f, known[k]);
		if (!ok)
			return lb_errf(-LBE_FORMAT, "paragraph at line %u: unknown field '%s'",
			               p->line, f);
	}
	return 0;
}

static int get_name(const struct lb_para *p, const char *field, char **out)
{
	const char *v = lb_para_get(p, field);
	if (!v || !conf_name_valid(v))
		return lb_errf(-LBE_FORMAT, "line %u: %s: bad name '%s'", p->line, field,
		               v ? v : "");
	return (*out = strdup(v)) ? 0 : -ENOMEM;
}

/* Image and Image-Version (both or neither); a relative Image is relative to the
 * directory of CONF (dir, "" for the current one). */
static int get_image(struct mgroup *g, const struct lb_para *p, const char *dir)
{
	const char *file = lb_para_get(p, "Image"), *ver = lb_para_get(p, "Image-Version");
	if (!file && !ver)
		return 0;
	if (!file || !ver)
		return lb_errf(-LBE_FORMAT,
		               "line %u: group %s: Image and Image-Version go together", p->line,
		               g->name);
	if (!*file || strchr(file, '\n'))
		return lb_errf(-LBE_FORMAT, "line %u: group %s: Image: bad file name", p->line,
		               g->name);
	if (!lb_image_version_valid(ver))
		return lb_errf(-LBE_FORMAT,
		               "line %u: group %s: Image-Version: '%.64s' is not 1 to 128 of "
		               "[A-Za-z0-9.+~:_-]",
		               p->line, g->name, ver);
	if (file[0] == '/' || !*dir)
		g->image = strdup(file);
	else if (asprintf(&g->image, "%s/%s", dir, file) < 0)
		g->image = NULL;
	g->image_version = strdup(ver);
	return g->image && g->image_version ? 0 : -ENOMEM;
}

static int add_group(struct mconf *c, const struct lb_para *p, const char *dir)
{
	static const char *const known[] = {"Group", "Packages",      "Expires-Days",
	                                    "Image", "Image-Version", NULL};
	int r = check_fields(p, known);
	if (r)
		return r;
	struct mgroup *g = &c->groups[c->ngroups];
	memset(g, 0, sizeof *g);
	g->line = p->line;
	if ((r = get_name(p, "Group", &g->name)))
		return r;
	c->ngroups++;
	if (conf_group(c, g->name) != g)
		return lb_errf(-LBE_FORMAT, "line %u: group %s: defined twice", p->line, g->name);
	const char *v = lb_para_get(p, "Packages");
	if (!v)
		return lb_errf(-LBE_FORMAT, "line %u: group %s: missing field 'Packages'", p->line,
		               g->name);
	if ((r = lb_deplist_parse(v, false, &g->top)) < 0)
		return lb_err_prefix(r, "line %u: group %s: Packages", p->line, g->name);
	if ((v = lb_para_get(p, "Expires-Days"))) {
		char *end;
		errno = 0;
		unsigned long d = strtoul(v, &end, 10);
		if (errno || end == v || *end || v[0] == '-' || d < 1 || d > MAX_EXPIRES_DAYS)
			return lb_errf(-LBE_FORMAT,
			               "line %u: group %s: Expires-Days: '%s' is not 1 to %d",
			               p->line, g->name, v, MAX_EXPIRES_DAYS);
		g->expires_days = (unsigned)d;
	}
	return get_image(g, p, dir);
}

static int add_device(struct mconf *c, const struct lb_para *p)
{
	static const char *const known[] = {"Device", "Group", NULL};
	int r = check_fields(p, known);
	if (r)
		return r;
	struct mdevice *d = &c->devices[c->ndevices];
	memset(d, 0, sizeof *d);
	d->line = p->line;
	if ((r = get_name(p, "Device", &d->id)))
		return r;
	c->ndevices++;
	if (conf_device(c, d->id) != d)
		return lb_errf(-LBE_FORMAT, "line %u: device %s: defined twice", p->line, d->id);
	if (!lb_para_get(p, "Group"))
		return lb_errf(-LBE_FORMAT, "line %u: device %s: missing field 'Group'", p->line,
		               d->id);
	return get_name(p, "Group", &d->group);
}

static int parse(struct mconf *c, const struct lb_doc *doc, const char *dir)
{
	if (doc->n && (!(c->groups = calloc(doc->n, sizeof *c->groups)) ||
	               !(c->devices = calloc(doc->n, sizeof *c->devices))))
		return -ENOMEM;
	for (size_t i = 0; i < doc->n; i++) {
		const struct lb_para *p = &doc->paras[i];
		int r;
		if (lb_para_get(p, "Device"))
			r = add_device(c, p);
		else if (lb_para_get(p, "Group"))
			r = add_group(c, p, dir);
		else
			r = lb_errf(-LBE_FORMAT, "line %u: a paragraph needs 'Group' or 'Device'",
			            p->line);
		if (r)
			return r;
	}
	for (size_t i = 0; i < c->ndevices; i++)
		if (!conf_group(c, c->devices[i].group))
			return lb_errf(-LBE_FORMAT, "line %u: device %s: no group '%s'",
			               c->devices[i].line, c->devices[i].id, c->devices[i].group);
	if (!c->ngroups)
		return lb_errf(-LBE_FORMAT, "no group defined");
	return 0;
}

int conf_load(const char *path, struct mconf *conf)
{
	char *buf = NULL;
	size_t len = 0;
	struct lb_doc doc;
	memset(conf, 0, sizeof *conf);
	int r = lb_read_file(AT_FDCWD, path, LB_DEB822_MAX_INPUT, &buf, &len);
	if (r < 0)
		return lb_errf(r, "%s: %s", path, strerror(-r));
	r = lb_deb822_parse(buf, len, &doc);
	free(buf);
	/* the directory of CONF, for relative Image files */
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup("");
	if (!dir && !r) {
		lb_doc_free(&doc);
		r = -ENOMEM;
	}
	if (!r) {
		r = parse(conf, &doc, dir);
		lb_doc_free(&doc);
	}
	free(dir);
	if (r < 0) {
		conf_free(conf);
		return lb_err_prefix(r, "%s", path);
	}
	return 0;
}

void conf_free(struct mconf *conf)
{
	for (size_t i = 0; i < conf->ngroups; i++) {
		free(conf->groups[i].name);
		free(conf->groups[i].image);
		free(conf->groups[i].image_version);
		lb_deplist_free(&conf->groups[i].top);
	}
	for (size_t i = 0; i < conf->ndevices; i++) {
		free(conf->devices[i].id);
		free(conf->devices[i].group);
	}
	free(conf->groups);
	free(conf->devices);
	memset(conf, 0, sizeof *conf);
}
