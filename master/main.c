/* SPDX-License-Identifier: MIT */
/* lifeboat-master: the build server's tool. One subcommand from the table below;
 * each returns its exit status (docs/master.md). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "master.h"

#define LIFEBOAT_MASTER_VERSION "0.1.0"

static const struct {
	const char *name, *args, *help;
	int (*run)(int argc, char **argv);
} commands[] = {
    {"keygen", "[--force] KEYFILE", "new signing key: KEYFILE (secret) and KEYFILE.pub",
     cmd_keygen},
    {"publish",
     "--pool DIR --desired CONF --key KEYFILE --out TREE [--expires DAYS] [--arch ARCH]\n"
     "          [--image FILE --image-version VERSION]",
     "write the signed tree", cmd_publish},
    {"keylist", "--key KEYFILE --out TREE [--expires DAYS] PUBKEYFILE...",
     "write TREE/keys: the signed list of trusted keys (key rotation)", cmd_keylist},
    {"delta", "OLD.deb NEW.deb OUT",
     "write the package delta from OLD to NEW (publish makes them itself)", cmd_delta},
    {"export",
     "--tree TREE --group G --key KEYFILE --out DIR [--device ID[,ID...]] [--master URL]\n"
     "          [--conf FILE] [--layout NAME:MiB,...] [--slots 1|2] [--repartition]\n"
     "          [--expires DAYS]",
     "write a signed provisioning bundle for a USB stick (docs/provisioning.md)", cmd_export},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: lifeboat-master COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %s %s\n      %s\n", commands[i].name, commands[i].args,
		        commands[i].help);
	fprintf(out, "\nexit status: 0 ok, 1 failure, 2 usage, 4 bad CONF or a group that\n"
	             "cannot be resolved, 5 bad key, 6 system error (I/O, disk full, ...)\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return MX_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return MX_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("lifeboat-master %s\n", LIFEBOAT_MASTER_VERSION);
		return MX_OK;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "lifeboat-master: libsodium cannot be initialised\n");
		return MX_FAIL;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "lifeboat-master: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return MX_USAGE;
}
