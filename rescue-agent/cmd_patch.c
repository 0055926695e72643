/* SPDX-License-Identifier: MIT */
/* lifeboat patch DELTA OUT.deb: rebuild a package from a delta (lib/pkgdelta.h)
 * and the files of the installed package it was made from. sync does this
 * itself; the command is for trying a delta by hand and for the benchmark. The
 * rebuilt package is checked against the content hash the delta names. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "debpatch.h"
#include "pkgdb.h"

int cmd_patch(struct lb_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return lb_errf(-LBE_USAGE, "usage: lifeboat patch DELTA OUT.deb");
	int dfd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "%s: %s", argv[1], strerror(errno));
	char base[65], content[65];
	struct lb_db db = {0};
	int r = lb_debpatch_header(dfd, base, content);
	if (!r)
		r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db);
	const struct lb_dbpkg *p = NULL;
	for (size_t i = 0; !r && i < db.n && !p; i++)
		if (db.pkgs[i].state >= LB_ST_UNPACKED && !strcmp(db.pkgs[i].deb_sha256, base))
			p = &db.pkgs[i];
	if (!r && !p)
		r = lb_errf(-LBE_NOT_FOUND, "the .deb it was made from (%.16s...) is not installed",
		            base);
	int ofd = -1;
	if (!r && (ofd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		r = lb_errf(-errno, "%s: %s", argv[2], strerror(errno));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct lb_debpatch_stats st;
	if (!r)
		r = lb_debpatch(ctx->rootfd, p, dfd, ofd, content, &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (ofd >= 0 && close(ofd) < 0 && !r)
		r = lb_errf(-errno, "%s: %s", argv[2], strerror(errno));
	if (r && ofd >= 0)
		unlink(argv[2]);
	if (!r && !ctx->quiet)
		printf(
		    "%s: %s %s rebuilt, %llu bytes in %.2f s; files: %u same, %u zstd, %u bsdiff, "
		    "%u literal; content %s\n",
		    argv[2], p->info.name, p->info.version, st.out_bytes,
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		    st.same, st.zstd, st.bsdiff, st.literal, content);
	close(dfd);
	lb_db_free(&db);
	return r ? lb_err_prefix(r, "%s", argv[1]) : 0;
}
