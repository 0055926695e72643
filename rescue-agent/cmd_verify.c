/* SPDX-License-Identifier: MIT */
/* lifeboat verify [PKG...]: compare installed files with the database. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "pkgdb.h"
#include "rootfs.h"

static const char *check(struct lb_dircache *dc, const struct lb_file *f)
{
	struct stat st;
	if (lb_root_lstat(dc, f->path, &st))
		return "missing";
	char type = S_ISREG(st.st_mode)   ? 'f'
	            : S_ISDIR(st.st_mode) ? 'd'
	            : S_ISLNK(st.st_mode) ? 'l'
	            : S_ISCHR(st.st_mode) ? 'c'
	            : S_ISBLK(st.st_mode) ? 'b'
	                                  : 'p';
	if (type != f->type)
		return type == 'l' && f->type == 'd' ? NULL : "type changed";
	if (type != 'l' && (st.st_mode & 07777) != (f->mode & 07777))
		return "mode changed";
	if (type == 'l') {
		char buf[4096];
		int dfd;
		const char *base;
		if (lb_root_parent(dc, f->path, &dfd, &base))
			return "missing";
		ssize_t n = readlinkat(dfd, base, buf, sizeof buf - 1);
		if (n < 0)
			return "unreadable";
		buf[n] = 0;
		return f->digest && strcmp(buf, f->digest) ? "link target changed" : NULL;
	}
	if (type != 'f')
		return NULL;
	if ((unsigned long long)st.st_size != f->size)
		return "size changed";
	int fd = lb_root_open_read(dc, f->path);
	char hex[65];
	if (fd < 0)
		return "unreadable";
	int r = lb_fd_sha256(fd, hex);
	close(fd);
	if (r)
		return "unreadable";
	return f->digest && strcmp(hex, f->digest) ? "content changed" : NULL;
}

int cmd_verify(struct lb_ctx *ctx, int argc, char **argv)
{
	struct lb_db db;
	int r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db);
	if (r)
		return r;
	for (int i = 1; i < argc && !r; i++)
		if (!lb_db_find(&db, argv[i]))
			r = lb_errf(-LBE_NOT_FOUND, "%s: not installed", argv[i]);
	struct lb_dircache dc;
	lb_dircache_init(&dc, ctx->rootfd);
	size_t bad = 0, checked = 0;
	for (size_t i = 0; i < db.n && !r; i++) {
		const struct lb_dbpkg *p = &db.pkgs[i];
		bool wanted = argc <= 1;
		for (int k = 1; k < argc; k++)
			wanted |= !strcmp(argv[k], p->info.name);
		for (size_t k = 0; wanted && k < p->nfiles; k++) {
			const char *why = check(&dc, &p->files[k]);
			checked++;
			if (!why)
				continue;
			if (p->files[k].conffile) {
				printf("%s: /%s: %s (conffile, kept)\n", p->info.name,
				       p->files[k].path, why);
				continue;
			}
			bad++;
			printf("%s: /%s: %s\n", p->info.name, p->files[k].path, why);
		}
	}
	lb_dircache_close(&dc);
	lb_db_free(&db);
	if (!r && !ctx->quiet)
		fprintf(stderr, "lifeboat: verified %zu paths, %zu differ\n", checked, bad);
	if (!r && bad)
		r = lb_errf(-LBE_HASH, "%zu installed paths differ from the database", bad);
	return r;
}
