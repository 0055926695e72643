/* SPDX-License-Identifier: MIT */
/* Evidence that the previous boot failed (docs/boot.md): a watchdog reset (sysfs
 * bootstatus) or a panic/oops record that the kernel left in pstore. */
#ifndef LB_EVIDENCE_H
#define LB_EVIDENCE_H

#include <stddef.h>

#include "bootstate.h"
#include "watchdog.h"

#define LB_PSTORE_DIR     "/sys/fs/pstore"
#define LB_PSTORE_MAX     64        /* records looked at */
#define LB_PSTORE_MAX_LEN (4 << 20) /* bytes of one record */

/* The pstore records that are evidence: consumed once the state counting them
 * is saved, so that one panic counts once. */
struct lb_pstore {
	char name[LB_PSTORE_MAX][256];
	size_t n;
};

/* Look at the watchdogs in wd_sysfs and the dmesg-* records in pstore_dir:
 * evidence of a failure is a bootstatus with WDIOF_CARDRESET, or a record with
 * "Kernel panic" or "Oops" in it (or pstore's "Panic#"/"Oops#" header: the other
 * parts of a long dump). Fills ev (flags, id of the records, the first panic or
 * oops line) and ps. Missing directories are no evidence; records that cannot be
 * read are reported on stderr and skipped. */
void lb_evidence_gather(const char *wd_sysfs, const char *pstore_dir, struct lb_wdstat *wd,
                        size_t *nwd, struct lb_pstore *ps, struct lb_boot_evidence *ev);

/* Delete the records of ps from pstore_dir (through fsop: a state change). */
int lb_pstore_consume(const char *pstore_dir, const struct lb_pstore *ps) LB_MUST;

#endif
