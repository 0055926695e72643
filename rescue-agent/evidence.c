/* SPDX-License-Identifier: MIT */
#include "evidence.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsop.h"

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The line of buf that starts at p, cleaned for a one-line message. */
static void first_line(const char *p, const char *end, char *out, size_t size)
{
	size_t n = 0;
	for (; p < end && *p != '\n' && n + 1 < size; p++)
		out[n++] = (*p >= ' ' && *p <= '~') ? *p : '?';
	out[n] = 0;
}

/* Which failure a record shows (LB_EV_PANIC, LB_EV_OOPS or 0); the first
 * "Kernel panic"/"Oops" line goes to detail when it is still empty. */
static unsigned classify(const char *buf, size_t len, char *detail, size_t size)
{
	const char *panic = memmem(buf, len, "Kernel panic", 12);
	const char *oops = memmem(buf, len, "Oops", 4);
	unsigned flags = (panic ? LB_EV_PANIC : 0) | (oops ? LB_EV_OOPS : 0);
	/* pstore's header of every part of a dump: "Panic#2 Part3" */
	if (len >= 6 && !memcmp(buf, "Panic#", 6))
		flags |= LB_EV_PANIC;
	/* the oops line itself ("Oops: 0002 [#1] SMP") rather than the dump's header */
	const char *oops_line = memmem(buf, len, "Oops: ", 6);
	const char *first = panic ? panic : oops_line ? oops_line : oops;
	if (first && !detail[0])
		first_line(first, buf + len, detail, size);
	return flags;
}

void lb_evidence_gather(const char *wd_sysfs, const char *pstore_dir, struct lb_wdstat *wd,
                        size_t *nwd, struct lb_pstore *ps, struct lb_boot_evidence *ev)
{
	memset(ev, 0, sizeof *ev);
	ps->n = 0;
	lb_watchdog_list(wd_sysfs, wd, nwd);
	if (lb_watchdog_card_reset(wd, *nwd))
		ev->flags |= LB_EV_WATCHDOG;

	int dfd = open(pstore_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return; /* no pstore: no evidence from it */
	}
	struct dirent *e;
	char names[LB_PSTORE_MAX][256];
	size_t n = 0;
	while (n < LB_PSTORE_MAX && (e = readdir(d)))
		if (!strncmp(e->d_name, "dmesg-", 6) && strlen(e->d_name) < sizeof names[0])
			strcpy(names[n++], e->d_name);
	qsort(names, n, sizeof names[0], by_name);

	/* the id: a hash of the names and contents of the records that are evidence */
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	for (size_t i = 0; i < n; i++) {
		char *buf;
		size_t len;
		int r = lb_read_file(dfd, names[i], LB_PSTORE_MAX_LEN, &buf, &len);
		if (r) {
			fprintf(stderr, "lifeboat: %s/%s: %s (not looked at)\n", pstore_dir,
			        names[i], strerror(-r));
			continue;
		}
		unsigned f = classify(buf, len, ev->detail, sizeof ev->detail);
		if (f) {
			ev->flags |= f;
			strcpy(ps->name[ps->n++], names[i]);
			crypto_hash_sha256_update(&h, (const unsigned char *)names[i],
			                          strlen(names[i]) + 1);
			crypto_hash_sha256_update(&h, (const unsigned char *)buf, len);
		}
		free(buf);
	}
	closedir(d);
	if (ps->n) {
		unsigned char md[crypto_hash_sha256_BYTES];
		crypto_hash_sha256_final(&h, md);
		sodium_bin2hex(ev->id, sizeof ev->id, md, 8);
	}
}

int lb_pstore_consume(const char *pstore_dir, const struct lb_pstore *ps)
{
	if (!ps->n)
		return 0;
	int dfd = open(pstore_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return lb_errf(-errno, "%s: %s", pstore_dir, strerror(errno));
	int r = 0;
	for (size_t i = 0; i < ps->n && !r; i++)
		if ((r = lb_unlink(dfd, ps->name[i])))
			r = lb_errf(r, "%s/%s: cannot delete it: %s", pstore_dir, ps->name[i],
			            strerror(-r));
	close(dfd);
	return r;
}
