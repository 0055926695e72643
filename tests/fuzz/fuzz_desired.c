/* SPDX-License-Identifier: MIT */
/* Desired state: parse; on success the packages must be sorted and unique, each
 * found by lb_desired_find, with valid names and versions and either no hash or
 * a 64-digit lowercase one with a non-zero size; an OS image whole or absent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "desired.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lb_desired d;
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (lb_desired_parse(buf, size, &d) < 0) {
		if (d.n || d.pkgs || d.doc.n)
			abort();
		free(buf);
		return 0;
	}
	if (d.n > LB_DESIRED_MAX_PKGS || d.format < 1 || d.format > LB_DESIRED_FORMAT)
		abort();
	for (size_t i = 0; i < d.n; i++) {
		const struct lb_desired_pkg *p = &d.pkgs[i];
		if (i && strcmp(d.pkgs[i - 1].name, p->name) >= 0)
			abort();
		if (lb_desired_find(&d, p->name) != p)
			abort();
		if (!lb_pkgname_valid(p->name) || !lb_version_valid(p->version))
			abort();
		size_t hl = strlen(p->sha256);
		if (hl && (hl != 64 || strspn(p->sha256, "0123456789abcdef") != 64 || !p->size))
			abort();
		if (!hl && p->size)
			abort();
	}
	/* an image: all of it, a path that stays in the tree; else nothing */
	const struct lb_desired_image *im = &d.image;
	if (im->present &&
	    (!lb_image_version_valid(im->version) || !im->path || im->path[0] == '/' ||
	     strstr(im->path, "..") || !im->size || !im->compressed_size ||
	     strlen(im->sha256) != 64 || strspn(im->sha256, "0123456789abcdef") != 64))
		abort();
	if (!im->present && (im->version || im->path || im->size))
		abort();
	lb_desired_free(&d);
	free(buf);
	return 0;
}
