/* SPDX-License-Identifier: MIT */
/* The texts of the signed files: a group's desired state (the format of
 * docs/formats.md that `lifeboat apply` reads) and a device's pointer. */
#include "master.h"

void state_text(struct mbuf *b, const struct mgroup *g, const struct mpool *pool, const size_t *sel,
                size_t n, const struct mpdelta *pd, size_t npd, const struct mimage *im,
                unsigned long long serial, time_t expires)
{
	char exp[32];
	iso_time(expires, exp);
	mbuf_printf(b, "Format: 1\nSerial: %llu\nExpires: %s\nGroup: %s\n", serial, exp, g->name);
	if (im)
		mbuf_printf(b,
		            "Image-Version: %s\nImage: %s\nImage-Size: %llu\nImage-SHA256: %s\n"
		            "Image-Compressed-Size: %llu\nImage-Index: %s\nImage-Index-Size: %llu\n"
		            "Image-Index-SHA256: %s\n",
		            im->version, im->path, im->size, im->sha256, im->csize, im->index,
		            im->index_size, im->index_sha256);
	if (im && im->ndeltas) {
		mbuf_put(b, "Image-Deltas:\n", 14);
		for (size_t i = 0; i < im->ndeltas; i++) {
			const struct mdelta *d = &im->deltas[i];
			mbuf_printf(b, " %s %s %llu %s %s %llu\n", d->base, d->index, d->index_size,
			            d->index_sha256, d->path, d->size);
		}
	}
	mbuf_put(b, "Packages:", 9);
	for (size_t i = 0; i < n; i++) {
		const struct mpkg *p = &pool->pkgs[sel[i]];
		mbuf_printf(b, "%s %s (= %s)", i ? "," : "", p->info.name, p->info.version);
	}
	mbuf_put(b, "\n", 1);
	if (!n)
		return;
	mbuf_put(b, "SHA256:\n", 8);
	for (size_t i = 0; i < n; i++) {
		const struct mpkg *p = &pool->pkgs[sel[i]];
		mbuf_printf(b, " %s %llu %s_%s\n", p->sha256, p->size, p->info.name,
		            p->info.version);
	}
	if (npd)
		mbuf_put(b, "Package-Deltas:\n", 16);
	for (size_t i = 0; i < npd; i++)
		mbuf_printf(b, " %s %s %s %s %llu\n", pd[i].pkg->info.name, pd[i].base,
		            pd[i].content, pd[i].sha256, pd[i].size);
}

void pointer_text(struct mbuf *b, const struct mdevice *d, unsigned long long serial,
                  time_t expires)
{
	char exp[32];
	iso_time(expires, exp);
	mbuf_printf(b, "Format: 1\nDevice: %s\nGroup: %s\nSerial: %llu\nExpires: %s\n", d->id,
	            d->group, serial, exp);
}
