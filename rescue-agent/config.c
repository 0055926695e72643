/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deb822.h"
#include "fsop.h"

static int take(const struct lb_para *p, const char *field, char **out)
{
	const char *v = lb_para_get(p, field);
	if (!v)
		return 0;
	if (strchr(v, '\n'))
		return lb_errf(-LBE_FORMAT, "%s: one line expected", field);
	free(*out);
	return (*out = strdup(v)) ? 0 : -ENOMEM;
}

int lb_config_load(struct lb_ctx *ctx, const char *path, struct lb_config *c)
{
	memset(c, 0, sizeof *c);
	char *buf = NULL;
	size_t len = 0;
	int r = path ? lb_read_file(AT_FDCWD, path, 1 << 20, &buf, &len)
	             : lb_read_file(ctx->rootfd, LB_CONFIG_FILE, 1 << 20, &buf, &len);
	if (r == -ENOENT && !path)
		return 0;
	if (r)
		return lb_errf(r, "%s: %s", path ? path : "/" LB_CONFIG_FILE, strerror(-r));
	struct lb_doc doc = {0};
	r = lb_deb822_parse(buf, len, &doc);
	free(buf);
	if (!r && doc.n > 1)
		r = lb_errf(-LBE_FORMAT, "one paragraph expected, found %zu", doc.n);
	if (!r && doc.n == 1) {
		const struct lb_para *p = &doc.paras[0];
		r = take(p, "Master", &c->master);
		if (!r)
			r = take(p, "Device-Id", &c->device_id);
		if (!r)
			r = take(p, "Group", &c->group);
		if (!r)
			r = take(p, "Public-Key", &c->pubkeys);
		const char *v = lb_para_get(p, "Bandwidth-Limit");
		if (!r && v)
			c->bwlimit = strtoull(v, NULL, 10);
		v = lb_para_get(p, "Retries");
		if (!r && v)
			c->retries = atoi(v);
	}
	lb_doc_free(&doc);
	if (r) {
		lb_config_free(c);
		return lb_err_prefix(r, "%s", path ? path : "/" LB_CONFIG_FILE);
	}
	return 0;
}

void lb_config_free(struct lb_config *c)
{
	free(c->master);
	free(c->device_id);
	free(c->group);
	free(c->pubkeys);
	memset(c, 0, sizeof *c);
}
