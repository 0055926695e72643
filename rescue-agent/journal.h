/* SPDX-License-Identifier: MIT */
/* The transaction journal, STATE/journal (format in docs/formats.md):
 *
 *   lifeboat-journal 1
 *   T <txn-id>
 *   D <path>            directory created by the transaction (parents first)
 *   R <path>            <path>.lb-new is renamed onto <path> at roll-forward
 *   V <path>            <path>.lb-new is renamed to <path>.lb-dist (kept conffile)
 *   X <path>            removed at roll-forward (directories only when empty)
 *   A <pkg> <script-id> <arg>...   script run after the file changes (old postrm)
 *   P <sha256>          prepared: checksum of everything above; one fsync
 *   C <sha256>          committed: checksum of everything above; one fsync
 *   S <n>               action n (0-based, among the A records) has run
 *   G <pkg> <state>     configure progress of pkg (half-configured, installed)
 *
 * Paths and arguments are percent-encoded. Before P nothing in the root has
 * changed; from P to C the transaction rolls back; after C it rolls forward. */
#ifndef LB_JOURNAL_H
#define LB_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <sodium.h>

#include "error.h"

#define LB_JOURNAL_FORMAT   1
#define LB_JOURNAL_FILE     "journal"
#define LB_JOURNAL_MAX_SIZE (512u << 20)

struct lb_jrec {
	char kind;    /* D R V X A */
	char *arg[5]; /* decoded fields after the kind (NULL when absent) */
	bool done;    /* A records: an S record marks it run */
};

struct lb_jstate_rec {
	char *pkg;
	int state; /* enum lb_pkgstate */
};

enum lb_jstate { LB_J_NONE, LB_J_PREPARED, LB_J_COMMITTED };

struct lb_journal {
	int fd;
	enum lb_jstate state;
	unsigned long long txn;
	struct lb_jrec *recs;
	size_t n;
	struct lb_jstate_rec *states; /* G records, in order */
	size_t nstates;
	crypto_hash_sha256_state sum; /* of every byte up to the last P or C record */
	/* the prepared section, until it is written */
	char *buf;
	size_t len, cap;
	int err;
};

/* Collect records in memory; nothing is written until lb_journal_prepare. */
void lb_journal_init(struct lb_journal *j, unsigned long long txn);
void lb_journal_add(struct lb_journal *j, char kind, int nargs, const char *const *args);
/* Write the journal with its P record, fsync it and the state directory. */
int lb_journal_prepare(struct lb_journal *j, int statefd) LB_MUST;
/* Append and sync the C record. */
int lb_journal_commit(struct lb_journal *j) LB_MUST;
/* Append and sync "S n". */
int lb_journal_mark_done(struct lb_journal *j, size_t action) LB_MUST;
/* Append and sync "G pkg state". */
int lb_journal_mark_state(struct lb_journal *j, const char *pkg, const char *state) LB_MUST;
/* Read STATE/journal; state NONE when absent or never prepared (torn). Errors:
 * -LBE_FORMAT_VER for a newer format, -LBE_CORRUPT for a damaged one. */
int lb_journal_load(int statefd, struct lb_journal *j) LB_MUST;
/* Delete the journal and sync the directory: the transaction is over. */
int lb_journal_remove(struct lb_journal *j, int statefd) LB_MUST;
void lb_journal_free(struct lb_journal *j);

#endif
