/* SPDX-License-Identifier: MIT */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#include "fsop.h"
#include "pkgdb.h"

static void jb_add(struct lb_journal *j, const char *s, size_t n)
{
	if (j->err)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 65536;
		while (j->len + n + 1 > cap)
			cap *= 2;
		char *nb = realloc(j->buf, cap);
		if (!nb) {
			j->err = -ENOMEM;
			return;
		}
		j->buf = nb;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = 0;
}

void lb_journal_init(struct lb_journal *j, unsigned long long txn)
{
	memset(j, 0, sizeof *j);
	j->fd = -1;
	j->txn = txn;
	char head[64];
	int n =
	    snprintf(head, sizeof head, "lifeboat-journal %d\nT %llu\n", LB_JOURNAL_FORMAT, txn);
	jb_add(j, head, (size_t)n);
}

void lb_journal_add(struct lb_journal *j, char kind, int nargs, const char *const *args)
{
	char enc[3 * 4096 + 2];
	jb_add(j, &kind, 1);
	for (int i = 0; i < nargs; i++) {
		if (lb_escape(args[i], enc, sizeof enc)) {
			j->err = -ENAMETOOLONG;
			return;
		}
		jb_add(j, " ", 1);
		jb_add(j, enc, strlen(enc));
	}
	jb_add(j, "\n", 1);
}

static void sha_hex(const void *buf, size_t len, char hex[65])
{
	unsigned char d[32];
	crypto_hash_sha256(d, buf, len);
	sodium_bin2hex(hex, 65, d, sizeof d);
}

int lb_journal_prepare(struct lb_journal *j, int statefd)
{
	if (j->err)
		return j->err;
	char hex[65], line[80];
	sha_hex(j->buf, j->len, hex);
	int n = snprintf(line, sizeof line, "P %s\n", hex);
	jb_add(j, line, (size_t)n);
	if (j->err)
		return j->err;
	int fd = lb_create_unsafe(statefd, LB_JOURNAL_FILE, 0644, 0);
	if (fd < 0)
		return lb_err_prefix(fd, "create journal");
	j->fd = fd;
	int r = lb_write_all(fd, j->buf, j->len);
	if (!r)
		r = lb_fsync(fd);
	if (!r)
		r = lb_fsync_dir(statefd, NULL);
	if (r)
		return lb_err_prefix(r, "write journal");
	crypto_hash_sha256_init(&j->sum);
	crypto_hash_sha256_update(&j->sum, (const unsigned char *)j->buf, j->len);
	free(j->buf);
	j->buf = NULL;
	j->len = j->cap = 0;
	j->state = LB_J_PREPARED;
	return 0;
}

int lb_journal_commit(struct lb_journal *j)
{
	crypto_hash_sha256_state st = j->sum;
	unsigned char d[32];
	char hex[65], line[80];
	crypto_hash_sha256_final(&st, d);
	sodium_bin2hex(hex, sizeof hex, d, sizeof d);
	int n = snprintf(line, sizeof line, "C %s\n", hex);
	int r = lb_write_all(j->fd, line, (size_t)n);
	if (!r)
		r = lb_fsync(j->fd);
	if (r)
		return lb_err_prefix(r, "commit journal");
	crypto_hash_sha256_update(&j->sum, (const unsigned char *)line, (size_t)n);
	j->state = LB_J_COMMITTED;
	return 0;
}

int lb_journal_mark_done(struct lb_journal *j, size_t action)
{
	char line[32];
	int n = snprintf(line, sizeof line, "S %zu\n", action);
	int r = lb_write_all(j->fd, line, (size_t)n);
	if (!r)
		r = lb_fsync(j->fd);
	return r ? lb_err_prefix(r, "journal") : 0;
}

int lb_journal_mark_state(struct lb_journal *j, const char *pkg, const char *state)
{
	char line[512];
	int n = snprintf(line, sizeof line, "G %s %s\n", pkg, state);
	if (n < 0 || (size_t)n >= sizeof line)
		return -ENAMETOOLONG;
	int r = lb_write_all(j->fd, line, (size_t)n);
	if (!r)
		r = lb_fsync(j->fd);
	return r ? lb_err_prefix(r, "journal") : 0;
}

static int parse_state(struct lb_journal *j, char *line)
{
	char *save = NULL, *pkg = strtok_r(line + 1, " ", &save), *st = strtok_r(NULL, " ", &save);
	int s = st ? lb_pkgstate_parse(st) : -1;
	if (!pkg || s < 0 || strtok_r(NULL, " ", &save))
		return -LBE_CORRUPT;
	struct lb_jstate_rec *ns = realloc(j->states, (j->nstates + 1) * sizeof *ns);
	if (!ns)
		return -ENOMEM;
	j->states = ns;
	if (!(ns[j->nstates].pkg = strdup(pkg)))
		return -ENOMEM;
	ns[j->nstates++].state = s;
	return 0;
}

static int parse_record(struct lb_journal *j, char *line)
{
	static const char kinds[] = "DRVXA";
	if (!line[0] || !strchr(kinds, line[0]) || (line[1] && line[1] != ' '))
		return -LBE_CORRUPT;
	struct lb_jrec *rec = &j->recs[j->n];
	memset(rec, 0, sizeof *rec);
	rec->kind = line[0];
	j->n++; /* counted at once, so that lb_journal_free frees a half-parsed one */
	int na = 0;
	char *save = NULL;
	for (char *t = strtok_r(line + 1, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (na == 5 || lb_unescape(t))
			return -LBE_CORRUPT;
		if (!(rec->arg[na++] = strdup(t)))
			return -ENOMEM;
	}
	int need = rec->kind == 'A' ? 3 : 1;
	if (na < need || (rec->kind != 'A' && na != 1))
		return -LBE_CORRUPT;
	return 0;
}

/* Does line ("P <hex>" or "C <hex>") carry the checksum of what st has seen? */
static bool check_sum(const crypto_hash_sha256_state *st, const char *line)
{
	crypto_hash_sha256_state copy = *st;
	unsigned char d[32];
	char hex[65];
	crypto_hash_sha256_final(&copy, d);
	sodium_bin2hex(hex, sizeof hex, d, sizeof d);
	return strlen(line) == 66 && line[1] == ' ' && !memcmp(line + 2, hex, 64);
}

int lb_journal_load(int statefd, struct lb_journal *j)
{
	memset(j, 0, sizeof *j);
	j->fd = -1;
	char *buf = NULL;
	size_t len = 0;
	int r = lb_read_file(statefd, LB_JOURNAL_FILE, LB_JOURNAL_MAX_SIZE, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r)
		return lb_err_prefix(r, "journal");
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	j->recs = calloc(lines, sizeof *j->recs);
	if (!j->recs) {
		free(buf);
		return -ENOMEM;
	}
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	size_t off = 0, lineno = 0;
	bool saw_commit_line = false;
	while (off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		if (!nl)
			break; /* torn last line: never synced */
		/* the checksum in a P or C line covers every byte before that line */
		crypto_hash_sha256_state before = st;
		if (j->state != LB_J_COMMITTED)
			crypto_hash_sha256_update(&st, (const unsigned char *)buf + off,
			                          (size_t)(nl - buf) + 1 - off);
		*nl = 0;
		char *line = buf + off;
		off = (size_t)(nl - buf) + 1;
		lineno++;
		if (lineno == 1) {
			unsigned v;
			int used = 0;
			if (sscanf(line, "lifeboat-journal %u%n", &v, &used) != 1 || line[used]) {
				r = -LBE_CORRUPT;
				break;
			}
			if (v > LB_JOURNAL_FORMAT) {
				r = lb_errf(-LBE_FORMAT_VER,
				            "journal format %u is newer than this lifeboat "
				            "understands (%d); "
				            "finish the transaction with a newer lifeboat",
				            v, LB_JOURNAL_FORMAT);
				break;
			}
			continue;
		}
		if (j->state == LB_J_NONE) {
			if (line[0] == 'T' && line[1] == ' ') {
				j->txn = strtoull(line + 2, NULL, 10);
			} else if (line[0] == 'P') {
				if (!check_sum(&before, line)) {
					/* a torn prepare, unless something follows it */
					/* a complete P line with a wrong checksum is damage, not a
					 * torn write (which never ends in a newline) */
					saw_commit_line = true;
					break;
				}
				j->state = LB_J_PREPARED;
			} else if ((r = parse_record(j, line))) {
				break;
			}
		} else if (j->state == LB_J_PREPARED) {
			if (line[0] != 'C' || !check_sum(&before, line)) {
				r = -LBE_CORRUPT;
				break;
			}
			j->state = LB_J_COMMITTED;
		} else if (line[0] == 'G' && line[1] == ' ') {
			if ((r = parse_state(j, line)))
				break;
		} else {
			char *end = line;
			unsigned long a = 0;
			if (line[0] == 'S' && line[1] == ' ' && line[2] >= '0' && line[2] <= '9')
				a = strtoul(line + 2, &end, 10);
			if (end == line || *end) {
				r = -LBE_CORRUPT;
				break;
			}
			for (size_t i = 0, k = 0; i < j->n; i++)
				if (j->recs[i].kind == 'A' && k++ == a)
					j->recs[i].done = true;
		}
	}
	if (!r && saw_commit_line)
		r = -LBE_CORRUPT;
	free(buf);
	j->sum = st;
	if (r) {
		if (r == -LBE_CORRUPT)
			r = lb_errf(r, "journal: damaged at line %zu; the root was left as it is",
			            lineno);
		lb_journal_free(j);
		return r;
	}
	if (j->state != LB_J_NONE) {
		j->fd = lb_open_append(statefd, LB_JOURNAL_FILE);
		if (j->fd < 0) {
			r = j->fd;
			lb_journal_free(j);
			return lb_err_prefix(r, "journal");
		}
	}
	return 0;
}

int lb_journal_remove(struct lb_journal *j, int statefd)
{
	if (j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
	int r = lb_unlink(statefd, LB_JOURNAL_FILE);
	if (!r)
		r = lb_fsync_dir(statefd, NULL);
	return r ? lb_err_prefix(r, "remove journal") : 0;
}

void lb_journal_free(struct lb_journal *j)
{
	for (size_t i = 0; i < j->n; i++)
		for (int k = 0; k < 5; k++)
			free(j->recs[i].arg[k]);
	free(j->recs);
	for (size_t i = 0; i < j->nstates; i++)
		free(j->states[i].pkg);
	free(j->states);
	free(j->buf);
	if (j->fd >= 0)
		close(j->fd);
	memset(j, 0, sizeof *j);
	j->fd = -1;
}
