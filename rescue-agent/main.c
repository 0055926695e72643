/* SPDX-License-Identifier: MIT */
/* lifeboat: the device agent. Global options, the lock, recovery, then one
 * subcommand from the table below. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootstate.h"
#include "cmd.h"
#include "engine.h"
#include "fsop.h"
#include "slots.h"

#define LIFEBOAT_VERSION "0.1.0"
#define LOCK_FILE        "lock"

static const struct lb_cmd commands[] = {
    {"apply", "--pool DIR FILE", "converge the root to the desired-state FILE", cmd_apply,
     LB_CMD_CREATE},
    {"plan", "[--pool DIR FILE]",
     "print what apply (or, without --pool, sync) would do and download", cmd_plan, LB_CMD_CREATE},
    {"sync", "[--master URL] [--device-id ID]",
     "fetch the master's signed desired state, download, converge", cmd_sync, LB_CMD_CREATE},
    {"os", "write --slot DEV ... | status", "write the desired OS image onto a slot; its record",
     cmd_os, LB_CMD_CREATE | LB_CMD_NO_RECOVER},
    {"list", "", "installed packages, one \"name version\" a line", cmd_list, 0},
    {"status", "", "packages, serial and any interrupted transaction", cmd_status,
     LB_CMD_NO_RECOVER},
    {"files", "PKG", "files owned by PKG", cmd_files, 0},
    {"patch", "DELTA OUT.deb", "rebuild a package from a delta and the installed files", cmd_patch,
     0},
    {"verify", "[PKG...]", "compare installed files with the database", cmd_verify, 0},
    {"recover", "", "finish or undo an interrupted transaction", cmd_recover, LB_CMD_NO_RECOVER},
    {"vercmp", "A OP B", "exit 0 if the version relation holds (dpkg's operators)", cmd_vercmp,
     LB_CMD_NO_STATE},
    {"boot", "count|mark-good|rescue|...", "boot counter and rescue", cmd_boot, LB_CMD_NO_RECOVER},
    {"provision", "check|partition|conf BUNDLE ...",
     "factory provisioning from a USB stick's bundle (docs/provisioning.md)", cmd_provision,
     LB_CMD_NO_STATE},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: lifeboat [--root DIR] [--state DIR] [--slot NAME] [--json] [--wait]\n"
	             "                [--quiet] [--no-scripts] [--allow-devices] COMMAND [ARGS]\n\n"
	             "commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		char head[80];
		snprintf(head, sizeof head, "%s %s", commands[i].name, commands[i].args);
		fprintf(out, "  %-34s %s\n", head, commands[i].help);
	}
	fprintf(out,
	        "\nexit status: 0 ok, 1 failure (or vercmp false / verify mismatch), 2 usage,\n"
	        "3 locked, 4 bad desired state, 5 bad package, 6 system error (disk full, ...),\n"
	        "7 maintainer script failed, 8 damaged or newer state format\n");
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (!(*s = c))
			break;
	}
	return 0;
}

static int take_lock(struct lb_ctx *ctx)
{
	ctx->lockfd =
	    openat(ctx->statefd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (ctx->lockfd < 0)
		return lb_errf(-errno, "%s/%s: %s", ctx->state, LOCK_FILE, strerror(errno));
	if (flock(ctx->lockfd, LOCK_EX | LOCK_NB) == 0)
		goto locked;
	if (errno != EWOULDBLOCK)
		return lb_errf(-errno, "lock %s/%s: %s", ctx->state, LOCK_FILE, strerror(errno));
	char pid[32] = "", comm[64] = "", path[64];
	ssize_t n = pread(ctx->lockfd, pid, sizeof pid - 1, 0);
	pid[n > 0 ? n : 0] = 0;
	pid[strcspn(pid, "\n")] = 0;
	/* the pid in the file is the last lifeboat that held the lock; name it only
	 * if that process still runs and is a lifeboat */
	snprintf(path, sizeof path, "/proc/%.20s/comm", pid);
	FILE *f = pid[0] ? fopen(path, "re") : NULL;
	if (!f || !fgets(comm, sizeof comm, f) || strncmp(comm, "lifeboat", 8))
		pid[0] = 0;
	if (f)
		fclose(f);
	if (!ctx->wait)
		return lb_errf(-LBE_LOCKED,
		               "%s is in use by another lifeboat %s%s%s; use --wait to wait for it",
		               ctx->state, pid[0] ? "(pid " : "or another process", pid,
		               pid[0] ? ")" : "");
	if (!ctx->quiet)
		fprintf(stderr, "lifeboat: waiting for another lifeboat to release %s\n",
		        ctx->state);
	if (flock(ctx->lockfd, LOCK_EX) < 0)
		return lb_errf(-errno, "lock %s/%s: %s", ctx->state, LOCK_FILE, strerror(errno));
locked:;
	/* who holds it, for the message above; the lock itself is the kernel's */
	char me[32];
	int len = snprintf(me, sizeof me, "%ld\n", (long)getpid());
	if (ftruncate(ctx->lockfd, 0) == 0 && pwrite(ctx->lockfd, me, (size_t)len, 0) < 0)
		return 0;
	return 0;
}

/* lifeboat.slot=NAME on the kernel command line: the slot the rescue system
 * booted (it appends it), when lifeboat runs on that system's own root. */
static const char *booted_slot(const struct lb_ctx *ctx, char *buf, size_t size)
{
	char rr[PATH_MAX], *line = NULL;
	if (!realpath(ctx->root, rr) || strcmp(rr, "/") ||
	    lb_read_file(AT_FDCWD, "/proc/cmdline", 1 << 16, &line, NULL))
		return NULL;
	const char *v = NULL;
	for (char *save = NULL, *w = strtok_r(line, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save))
		if (!strncmp(w, "lifeboat.slot=", 14))
			v = w + 14;
	if (v)
		snprintf(buf, size, "%s", v);
	free(line);
	lb_err_clear();
	return v ? buf : NULL;
}

/* The root's package state: STATE/slot-SLOT when the slot is known (each slot of
 * an A/B device has its own packages), else STATE itself. */
static int open_pkg(struct lb_ctx *ctx, const struct lb_cmd *cmd, char *pkgbuf, size_t size)
{
	static char slotbuf[64];
	if (!ctx->slot)
		ctx->slot = booted_slot(ctx, slotbuf, sizeof slotbuf);
	if (!ctx->slot) {
		ctx->pkg = ctx->state;
		ctx->pkgfd = ctx->statefd;
		return 0;
	}
	return lb_ctx_open_slot(ctx, ctx->slot, cmd->flags & LB_CMD_CREATE, pkgbuf, size);
}

static int open_ctx(struct lb_ctx *ctx, const struct lb_cmd *cmd, char *statebuf, char *pkgbuf,
                    size_t size)
{
	ctx->rootfd = open(ctx->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->rootfd < 0)
		return lb_errf(-errno, "root %s: %s", ctx->root, strerror(errno));
	if (!ctx->state) {
		snprintf(statebuf, size, "%s%svar/lib/lifeboat", ctx->root,
		         ctx->root[strlen(ctx->root) - 1] == '/' ? "" : "/");
		ctx->state = statebuf;
	}
	if (cmd->flags & LB_CMD_CREATE) {
		char scripts[PATH_MAX];
		snprintf(scripts, sizeof scripts, "%s/scripts", ctx->state);
		int r = mkdir_p(scripts);
		if (r)
			return lb_errf(r, "state directory %s: %s", ctx->state, strerror(-r));
	}
	ctx->statefd = open(ctx->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->statefd < 0 && errno == ENOENT) {
		/* nothing was ever installed here: an empty state */
		if (mkdir_p(ctx->state) == 0)
			ctx->statefd = open(ctx->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (ctx->statefd < 0)
		return lb_errf(-errno, "state directory %s: %s", ctx->state, strerror(errno));
	char rr[PATH_MAX], sr[PATH_MAX];
	if (realpath(ctx->root, rr) && realpath(ctx->state, sr)) {
		size_t l = strlen(rr);
		if (!strcmp(rr, "/"))
			ctx->state_in_root = strdup(sr);
		else if (!strncmp(sr, rr, l) && sr[l] == '/')
			ctx->state_in_root = strdup(sr + l);
	}
	lb_fi_watch(ctx->root);
	if (!ctx->state_in_root)
		lb_fi_watch(ctx->state);
	int r = take_lock(ctx);
	return r ? r : open_pkg(ctx, cmd, pkgbuf, size);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, 0, 'r'},
	    {"state", required_argument, 0, 's'},
	    {"json", no_argument, 0, 'j'},
	    {"wait", no_argument, 0, 'w'},
	    {"quiet", no_argument, 0, 'q'},
	    {"no-scripts", no_argument, 0, 'n'},
	    {"allow-devices", no_argument, 0, 'd'},
	    {"help", no_argument, 0, 'h'},
	    {"version", no_argument, 0, 'V'},
	    {"slot", required_argument, 0, 'S'},
	    {0, 0, 0, 0},
	};
	struct lb_ctx ctx = {.root = "/", .rootfd = -1, .statefd = -1, .pkgfd = -1, .lockfd = -1};
	int c;
	while ((c = getopt_long(argc, argv, "+r:s:jwqh", opts, NULL)) != -1) {
		switch (c) {
		case 'r': ctx.root = optarg; break;
		case 's': ctx.state = optarg; break;
		case 'S':
			ctx.slot = optarg;
			ctx.slot_given = true;
			break;
		case 'j': ctx.json = true; break;
		case 'w': ctx.wait = true; break;
		case 'q': ctx.quiet = true; break;
		case 'n': ctx.no_scripts = true; break;
		case 'd': ctx.allow_devices = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("lifeboat " LIFEBOAT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const struct lb_cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[optind], commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "lifeboat: unknown command '%s' (see lifeboat --help)\n",
		        argv[optind]);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "lifeboat: libsodium failed to initialise\n");
		return 1;
	}
	lb_fi_init();
	char statebuf[PATH_MAX], pkgbuf[PATH_MAX];
	int r = 0;
	if (!(cmd->flags & LB_CMD_NO_STATE)) {
		r = open_ctx(&ctx, cmd, statebuf, pkgbuf, sizeof statebuf);
		bool did;
		if (!r && !(cmd->flags & LB_CMD_NO_RECOVER))
			r = lb_recover(&ctx, &did);
	}
	if (!r)
		r = cmd->run(&ctx, argc - optind, argv + optind);
	lb_fi_done();
	free(ctx.state_in_root);
	if (r > 0)
		return r;
	if (r < 0) {
		const char *m = lb_err_msg();
		fprintf(stderr, "lifeboat: %s\n", m[0] ? m : lb_strerror(r));
		return lb_exit_code(r);
	}
	return 0;
}
