/* SPDX-License-Identifier: MIT */
#include "scripts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsop.h"
#include "journal.h"
#include "pkgdb.h"

#define SCRIPT_DIR "scripts"

int lb_script_store(struct lb_ctx *ctx, const char *content, size_t len, char id[17])
{
	unsigned char d[32];
	char hex[65], name[64];
	crypto_hash_sha256(d, (const unsigned char *)content, len);
	sodium_bin2hex(hex, sizeof hex, d, sizeof d);
	memcpy(id, hex, LB_SCRIPT_ID_LEN);
	id[LB_SCRIPT_ID_LEN] = 0;
	int r = lb_ensure_dir(ctx->pkgfd, SCRIPT_DIR, 0755);
	if (r)
		return lb_errf(r, "%s/%s: %s", ctx->pkg, SCRIPT_DIR, strerror(-r));
	snprintf(name, sizeof name, SCRIPT_DIR "/%s", id);
	struct stat st;
	if (fstatat(ctx->pkgfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (size_t)st.st_size == len)
		return 0;
	/* content-addressed: not referenced by any database until the commit, and
	 * synced with the rest of the transaction's data before it */
	int fd = lb_create_unsafe(ctx->pkgfd, name, 0755, 1);
	if (fd < 0)
		return lb_errf(fd, "%s/%s: %s", ctx->pkg, name, strerror(-fd));
	r = lb_write_all(fd, content, len);
	close(fd);
	return r;
}

int lb_script_run(struct lb_ctx *ctx, const char *pkg, enum lb_script which, const char *id,
                  const char *const *args)
{
	const char *sname = lb_script_names[which];
	if (!ctx->state_in_root)
		return lb_errf(-LBE_SCRIPT,
		               "%s %s: maintainer scripts need the state directory inside the root",
		               pkg, sname);
	char path[4096];
	snprintf(path, sizeof path, "%s/" SCRIPT_DIR "/%s", ctx->state_in_root, id);
	const char *argv[8] = {path};
	int argc = 1;
	for (int i = 0; args && args[i] && argc < 7; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	bool chrooted = strcmp(ctx->root, "/") != 0;
	if (!ctx->quiet) {
		fprintf(stderr, "lifeboat: running %s %s", pkg, sname);
		for (int i = 1; i < argc; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return lb_errf(-errno, "%s %s: fork: %s", pkg, sname, strerror(errno));
	if (pid == 0) {
		if (chrooted && (fchdir(ctx->rootfd) < 0 || chroot(".") < 0)) {
			fprintf(stderr, "lifeboat: chroot %s: %s\n", ctx->root, strerror(errno));
			_exit(126);
		}
		if (chdir("/") < 0)
			_exit(126);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0) {
			dup2(devnull, 0);
			if (devnull > 0)
				close(devnull);
		}
		if (ctx->json)
			dup2(2, 1); /* keep stdout for lifeboat's own events */
		char *env[] = {
		    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		    "LANG=C",
		    NULL,
		    NULL,
		    "DPKG_ROOT=",
		    "LIFEBOAT=1",
		    NULL,
		};
		char e1[300], e2[64];
		snprintf(e1, sizeof e1, "DPKG_MAINTSCRIPT_PACKAGE=%s", pkg);
		snprintf(e2, sizeof e2, "DPKG_MAINTSCRIPT_NAME=%s", sname);
		env[2] = e1;
		env[3] = e2;
		execve(path, (char *const *)argv, env);
		int e = errno;
		char interp[128] = "";
		FILE *f = e == ENOENT ? fopen(path, "re") : NULL;
		if (f && fgets(interp, sizeof interp, f) && !strncmp(interp, "#!", 2))
			interp[strcspn(interp, " \n")] = 0;
		else
			interp[0] = 0;
		if (f)
			fclose(f);
		fprintf(stderr, "lifeboat: %s %s: exec %s: %s%s%s%s\n", pkg, sname, path,
		        strerror(e), interp[0] ? " (is its interpreter " : "",
		        interp[0] ? interp + 2 : "", interp[0] ? " in the root?)" : "");
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return lb_errf(-errno, "%s %s: wait: %s", pkg, sname, strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return lb_errf(-LBE_SCRIPT, "%s %s %s: killed by signal %d", pkg, sname,
		               args && args[0] ? args[0] : "", WTERMSIG(status));
	return lb_errf(-LBE_SCRIPT, "%s %s %s: exit status %d", pkg, sname,
	               args && args[0] ? args[0] : "", WEXITSTATUS(status));
}

static bool referenced(const char *name, const struct lb_db *db, const struct lb_journal *j)
{
	for (size_t i = 0; db && i < db->n; i++)
		for (int s = 0; s < LB_NSCRIPTS; s++)
			if (!strcmp(db->pkgs[i].script[s], name))
				return true;
	for (size_t i = 0; j && i < j->n; i++)
		if (j->recs[i].kind == 'A' && j->recs[i].arg[1] && !strcmp(j->recs[i].arg[1], name))
			return true;
	return false;
}

void lb_script_gc(struct lb_ctx *ctx, const struct lb_db *db, const struct lb_journal *j)
{
	int dfd = openat(ctx->pkgfd, SCRIPT_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !referenced(de->d_name, db, j))
			if (lb_unlink(dfd, de->d_name))
				fprintf(stderr,
				        "lifeboat: warning: cannot remove stale script %s\n",
				        de->d_name);
	closedir(d);
}
