/* SPDX-License-Identifier: MIT */
/* lifeboat-master keylist --key KEYFILE --out TREE [--expires DAYS] PUBKEYFILE...
 * TREE/keys: the signed list of the keys devices trust besides the ones they pin
 * (docs/master-tree.md, "Key rotation"), signed with KEYFILE into TREE/keys.minisig. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "master.h"

#define DAY            86400LL
#define KEYLIST_MAX    8   /* keys in a list (a device takes no more) */
#define KEYLIST_EXPIRE 365 /* default validity, days */

struct kopts {
	const char *key, *out;
	unsigned expires;
	const char *pubs[KEYLIST_MAX];
	size_t npubs;
};

static int parse_opts(int argc, char **argv, struct kopts *o)
{
	static const char *const names[] = {"--key", "--out", "--expires"};
	const char *expires = NULL;
	const char **dest[] = {&o->key, &o->out, &expires};
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-') {
			if (o->npubs == KEYLIST_MAX)
				return lb_errf(-LBE_USAGE, "keylist: a list holds at most %d keys",
				               KEYLIST_MAX);
			o->pubs[o->npubs++] = argv[i];
			continue;
		}
		int r = mx_option("keylist", argc, argv, &i, names, dest,
		                  sizeof names / sizeof names[0]);
		if (r < 0)
			return r;
		if (!r)
			return lb_errf(-LBE_USAGE, "keylist: unexpected argument '%s'", argv[i]);
	}
	if (!o->key || !o->out || !o->npubs)
		return lb_errf(-LBE_USAGE,
		               "usage: lifeboat-master keylist --key KEYFILE --out TREE "
		               "[--expires DAYS] PUBKEYFILE...");
	o->expires = KEYLIST_EXPIRE;
	if (expires) {
		char *end;
		errno = 0;
		unsigned long d = strtoul(expires, &end, 10);
		if (errno || end == expires || *end || expires[0] == '-' || d < 1 || d > 3650)
			return lb_errf(-LBE_USAGE, "keylist: --expires %s: not 1 to 3650 days",
			               expires);
		o->expires = (unsigned)d;
	}
	return 0;
}

/* Read the public keys; a key listed twice is refused. */
static int load_pubs(const struct kopts *o, struct lb_mkey *pubs)
{
	for (size_t i = 0; i < o->npubs; i++) {
		int r = lb_minisign_load_pubkey(AT_FDCWD, o->pubs[i], &pubs[i]);
		if (r < 0)
			return r; /* the message names the file */
		for (size_t j = 0; j < i; j++)
			if (!memcmp(pubs[i].id, pubs[j].id, 8)) {
				char id[17];
				lb_minisign_keyid_hex(pubs[i].id, id);
				return lb_errf(-LBE_USAGE, "public key %s: key %s is listed twice",
				               o->pubs[i], id);
			}
	}
	return 0;
}

static void keylist_text(struct mbuf *b, const struct lb_mkey *pubs, size_t n,
                         unsigned long long serial, time_t expires)
{
	char exp[32];
	iso_time(expires, exp);
	mbuf_printf(b, "Format: 1\nSerial: %llu\nExpires: %s\nKeys:\n", serial, exp);
	for (size_t i = 0; i < n; i++) {
		char line[LB_MINISIGN_PUBKEY_TEXT];
		lb_minisign_format_pubkey(&pubs[i], 1, line);
		mbuf_printf(b, " %s\n", line);
	}
}

static int write_list(const struct kopts *o, const struct lb_mkey *key, const struct lb_mkey *pubs)
{
	struct mtree t;
	int r = tree_open(o->out, &t);
	if (r < 0) {
		tree_close(&t);
		return mx_fail(r, MX_IO);
	}
	/* strictly increasing, like the states' serials: a device refuses an older list */
	unsigned long long old = tree_serial_of(&t, "keys"), ms = now_ms();
	t.serial = old + 1 > ms ? old + 1 : ms;
	t.now = time(NULL);
	t.key = key;
	struct mbuf b = {0};
	time_t expires = t.now + (time_t)(o->expires * DAY);
	keylist_text(&b, pubs, o->npubs, t.serial, expires);
	r = b.err ? b.err : signed_write(&t, ".", "keys", b.s, b.len);
	mbuf_free(&b);
	tree_close(&t);
	if (r < 0)
		return mx_fail(r, MX_IO);
	char id[17], exp[32];
	lb_minisign_keyid_hex(key->id, id);
	iso_time(expires, exp);
	fprintf(stderr,
	        "lifeboat-master: keylist: %s/keys: %zu key%s, signed with key %s, serial %llu, "
	        "expires %s\n",
	        o->out, o->npubs, o->npubs == 1 ? "" : "s", id, t.serial, exp);
	return MX_OK;
}

int cmd_keylist(int argc, char **argv)
{
	struct kopts o;
	int r = parse_opts(argc, argv, &o);
	if (r < 0)
		return mx_fail(r, MX_USAGE);
	struct lb_mkey key, pubs[KEYLIST_MAX];
	memset(&key, 0, sizeof key);
	memset(pubs, 0, sizeof pubs);
	if ((r = lb_minisign_load_seckey(AT_FDCWD, o.key, &key)) < 0)
		return mx_fail(lb_err_prefix(r, "key"), MX_KEY);
	int status;
	if ((r = load_pubs(&o, pubs)) < 0)
		status = mx_fail(r, r == -LBE_USAGE ? MX_USAGE : MX_KEY);
	else
		status = write_list(&o, &key, pubs);
	lb_minisign_wipe(&key);
	return status;
}
