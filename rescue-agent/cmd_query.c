/* SPDX-License-Identifier: MIT */
/* Read-only queries of the package database: list, status, files. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "journal.h"
#include "pkgdb.h"

void lb_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

int cmd_list(struct lb_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return lb_errf(-LBE_USAGE, "usage: lifeboat list");
	(void)argv;
	struct lb_db db;
	int r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db);
	if (r)
		return r;
	for (size_t i = 0; i < db.n; i++) {
		const struct lb_dbpkg *p = &db.pkgs[i];
		if (ctx->json) {
			fputs("{\"package\":", stdout);
			lb_json_str(stdout, p->info.name);
			fputs(",\"version\":", stdout);
			lb_json_str(stdout, p->info.version);
			printf(",\"state\":\"%s\"}\n", lb_pkgstate_str(p->state));
		} else if (p->state == LB_ST_INSTALLED) {
			printf("%s %s\n", p->info.name, p->info.version);
		} else {
			printf("%s %s (%s)\n", p->info.name, p->info.version,
			       lb_pkgstate_str(p->state));
		}
	}
	lb_db_free(&db);
	return 0;
}

int cmd_status(struct lb_ctx *ctx, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return lb_errf(-LBE_USAGE, "usage: lifeboat status");
	struct lb_db db;
	int r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db);
	if (r)
		return r;
	struct lb_journal j;
	if (lb_journal_load(ctx->pkgfd, &j) == 0) {
		/* configure progress of an interrupted transaction lives in its journal */
		for (size_t k = 0; k < j.nstates; k++) {
			struct lb_dbpkg *p = lb_db_find(&db, j.states[k].pkg);
			if (p)
				p->state = (enum lb_pkgstate)j.states[k].state;
		}
		lb_journal_free(&j);
	}
	lb_err_clear();
	size_t files = 0, pending = 0;
	for (size_t i = 0; i < db.n; i++) {
		files += db.pkgs[i].nfiles;
		pending += db.pkgs[i].state != LB_ST_INSTALLED;
	}
	bool journal = faccessat(ctx->pkgfd, LB_JOURNAL_FILE, F_OK, 0) == 0;
	if (ctx->json) {
		fputs("{\"root\":", stdout);
		lb_json_str(stdout, ctx->root);
		fputs(",\"state\":", stdout);
		lb_json_str(stdout, ctx->pkg);
		printf(",\"serial\":%llu,\"packages\":%zu,\"files\":%zu,\"unconfigured\":%zu,"
		       "\"transaction\":%s}\n",
		       db.serial, db.n, files, pending, journal ? "\"interrupted\"" : "null");
	} else {
		printf("root:        %s\nstate:       %s\nserial:      %llu\npackages:    %zu (%zu "
		       "files)\n",
		       ctx->root, ctx->pkg, db.serial, db.n, files);
		for (size_t i = 0; i < db.n; i++)
			if (db.pkgs[i].state != LB_ST_INSTALLED)
				printf("             %s %s is %s\n", db.pkgs[i].info.name,
				       db.pkgs[i].info.version, lb_pkgstate_str(db.pkgs[i].state));
		printf("transaction: %s\n",
		       journal ? "interrupted (run lifeboat recover)" : "none");
	}
	lb_db_free(&db);
	return 0;
}

int cmd_files(struct lb_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return lb_errf(-LBE_USAGE, "usage: lifeboat files PACKAGE");
	struct lb_db db;
	int r = lb_db_load(ctx->pkgfd, LB_DB_FILE, &db);
	if (r)
		return r;
	const struct lb_dbpkg *p = lb_db_find(&db, argv[1]);
	if (!p)
		r = lb_errf(-LBE_NOT_FOUND, "%s: not installed", argv[1]);
	for (size_t i = 0; p && i < p->nfiles; i++)
		printf("/%s\n", p->files[i].path);
	lb_db_free(&db);
	return r;
}
