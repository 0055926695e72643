/* SPDX-License-Identifier: MIT */
/* The boot state (docs/boot.md): the slot the rescue system boots, how many boots
 * were counted since the main OS last said it was healthy (mark-good), how many
 * of those failed with evidence, whether a rescue was requested, and the A/B try:
 * a slot booted once, committed by mark-good on it, failed by the next count.
 * Counting and deciding are pure functions; where the state is kept is a backend
 * behind struct lb_bootstore_ops, one file each: a deb822 file in the state
 * directory (bootstate_file.c) or the U-Boot environment (bootstate_uboot.c). */
#ifndef LB_BOOTSTATE_H
#define LB_BOOTSTATE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define LB_BOOT_NAME_MAX  32       /* slot names, rescue reasons, ids: with the NUL */
#define LB_BOOT_COUNT_MAX 1000000u /* the counters stop here */

struct lb_bootstate {
	char slot[LB_BOOT_NAME_MAX];        /* the committed slot, booted but for a try; "a" */
	char good_slot[LB_BOOT_NAME_MAX];   /* the slot last marked good, "" never */
	unsigned attempts;                  /* boots counted since the last mark-good */
	unsigned failures;                  /* how many of those ended with evidence of a failure */
	char rescue[LB_BOOT_NAME_MAX];      /* "" none, "requested" or "rebuild" */
	unsigned long long bad_serial;      /* a desired-state serial that failed again, 0 none */
	char evidence[LB_BOOT_NAME_MAX];    /* id of the pstore records last counted, "" none */
	char try_slot[LB_BOOT_NAME_MAX];    /* boot this slot once instead of slot, "" none */
	bool try_booted;                    /* the try slot was booted; not yet committed */
	char failed_slot[LB_BOOT_NAME_MAX]; /* the slot of the last try that failed, "" none */
};

/* The state of a device that never counted a boot. */
void lb_bootstate_init(struct lb_bootstate *bs);
bool lb_bootstate_equal(const struct lb_bootstate *a, const struct lb_bootstate *b);
/* A slot name or rescue reason: 1 to 31 of [a-z0-9_-]. */
bool lb_boot_name_valid(const char *s);

/* What `boot count` found about the end of the previous boot. */
enum {
	LB_EV_WATCHDOG = 1, /* a watchdog's bootstatus has WDIOF_CARDRESET */
	LB_EV_PANIC = 2,    /* a pstore dmesg record with "Kernel panic" */
	LB_EV_OOPS = 4,     /* a pstore dmesg record with "Oops" */
};
#define LB_EV_PSTORE (LB_EV_PANIC | LB_EV_OOPS)

struct lb_boot_evidence {
	unsigned flags;            /* LB_EV_* */
	char id[LB_BOOT_NAME_MAX]; /* identifies the pstore records found, "" none */
	char detail[128];          /* the first panic/oops line, for the human */
};

enum lb_boot_prev {
	LB_PREV_GOOD,   /* marked good (or nothing booted yet): nothing to classify */
	LB_PREV_FAILED, /* not marked good, and evidence of a failure */
	LB_PREV_RESET,  /* not marked good, no evidence: a power cut, a reset button */
};

/* Count one boot: classify the previous one (Failures += 1 when it was not marked
 * good and there is evidence) and Attempts += 1. pstore records whose id equals
 * bs->evidence were counted already, by a count that was cut off between writing
 * the state and deleting them, and are not counted again; the id of the records
 * found is remembered in bs->evidence for the same reason.
 * When the previous boot was a try (try_booted) that mark-good did not commit, the
 * try failed (lb_boot_try_failed) and that boot is not held against the committed
 * slot: Failures stay, and this boot takes the try's place in Attempts. */
enum lb_boot_prev lb_boot_count(struct lb_bootstate *bs, const struct lb_boot_evidence *ev);

struct lb_boot_limits {
	unsigned max_failures; /* rescue when failures >= this */
	unsigned max_attempts; /* rescue when attempts > this */
};

enum lb_boot_decision {
	LB_BOOT_SLOT,        /* boot bs->slot */
	LB_BOOT_TRY,         /* boot bs->try_slot, once (lb_boot_begin records it) */
	LB_RESCUE_REQUESTED, /* `boot rescue` asked for it */
	LB_RESCUE_REBUILD,   /* `boot rescue rebuild`: the slot must be rebuilt */
	LB_RESCUE_FAILURES,  /* too many failed boots */
	LB_RESCUE_ATTEMPTS,  /* too many boots without mark-good */
};

/* A rescue request first; then a pending try (before the limits: when the
 * committed slot is failing, the try is its way out; if the try fails, the limits
 * apply to the committed slot at the next count); then the limits; then Slot. */
enum lb_boot_decision lb_boot_decide(const struct lb_bootstate *bs,
                                     const struct lb_boot_limits *lim);
/* The one-word reason of a rescue decision; NULL for LB_BOOT_SLOT and LB_BOOT_TRY. */
const char *lb_boot_reason(enum lb_boot_decision d);
/* The slot a decision boots; NULL for a rescue. */
const char *lb_boot_target(const struct lb_bootstate *bs, enum lb_boot_decision d);
/* Carry the decision out in the state saved with the count: LB_BOOT_TRY marks the
 * try booted, so that it is booted once. */
void lb_boot_begin(struct lb_bootstate *bs, enum lb_boot_decision d);

/* `boot try SLOT`: boot SLOT once at the next boot (replaces any try); NULL cancels
 * the try. Failed-Slot stays: it tells the outcome of the last try that ended. */
void lb_boot_try(struct lb_bootstate *bs, const char *slot);
/* The try failed (its boot did not reach mark-good, or the rescue system could not
 * start it): Failed-Slot = the try slot, no try. Nothing else changes. */
void lb_boot_try_failed(struct lb_bootstate *bs);

enum lb_boot_good {
	LB_GOOD_SLOT,   /* the committed slot: Attempts = Failures = 0, Good-Slot = Slot */
	LB_GOOD_COMMIT, /* the booted try: Slot = Good-Slot = it, no try, no Failed-Slot */
	LB_GOOD_OTHER,  /* a slot that is neither: nothing changes */
};
/* mark-good of the booted slot (NULL: not known, taken as Slot: a try is then never
 * committed). The try is committed only by mark-good on it, in the boot that tried
 * it; mark-good of the committed slot leaves a pending try pending. */
enum lb_boot_good lb_boot_mark_good(struct lb_bootstate *bs, const char *booted);
/* After a rebuild: Attempts = Failures = 0, no rescue request, Slot = slot if
 * given, and no Good-Slot: the rewritten slot has not been marked good yet (the
 * rescue system tells a rebuilt slot that never came up by it). No try; Failed-Slot
 * goes when it names the rewritten slot. */
void lb_boot_reset(struct lb_bootstate *bs, const char *slot);
/* The slot of a kernel command line's lifeboat.slot=NAME (the last one), which the
 * rescue system appends when it kexecs a slot. false: none, or not a valid name. */
bool lb_boot_cmdline_slot(const char *cmdline, char out[LB_BOOT_NAME_MAX]);

/* The file backend's format, a deb822 paragraph (exposed for the tests). */
int lb_bootstate_parse(const char *buf, size_t len, struct lb_bootstate *bs) LB_MUST;
/* Writes at most size bytes, NUL-terminated; returns the length. */
size_t lb_bootstate_format(const struct lb_bootstate *bs, char *buf, size_t size);

/* ---- where the state is kept ---- */

struct lb_bootstore;

struct lb_bootstore_ops {
	const char *name; /* "file", "uboot" */
	/* The state; defaults when there is none yet. -LBE_CORRUPT when it is damaged. */
	int (*load)(struct lb_bootstore *s, struct lb_bootstate *bs);
	/* Replace the state atomically: after a power cut, the old or the new one. */
	int (*save)(struct lb_bootstore *s, const struct lb_bootstate *bs);
	void (*close)(struct lb_bootstore *s);
};

struct lb_bootstore {
	const struct lb_bootstore_ops *ops;
	int dirfd;               /* file: the state directory */
	const char *where;       /* file: the state directory; uboot: fw_env.config */
	const char *initial_env; /* uboot: the environment to start from when no copy is valid */
	unsigned bootlimit;      /* uboot: written as "bootlimit" */
	void *priv;              /* the backend's own */
};

extern const struct lb_bootstore_ops lb_bootstore_file;
extern const struct lb_bootstore_ops lb_bootstore_uboot;

#define LB_BOOT_FILE "boot" /* the file backend's file in the state directory */

/* Load the state, with the backend's name in any message. */
int lb_bootstore_load(struct lb_bootstore *s, struct lb_bootstate *bs) LB_MUST;
/* Save neu if it differs from old (what was loaded): no write when nothing
 * changes, flash wears. */
int lb_bootstore_commit(struct lb_bootstore *s, const struct lb_bootstate *old,
                        const struct lb_bootstate *neu) LB_MUST;
void lb_bootstore_close(struct lb_bootstore *s);

struct lb_ctx;
struct lb_config;
/* The store the configuration names (Boot-State: file or uboot). */
void lb_bootstore_setup(struct lb_bootstore *st, const struct lb_ctx *ctx,
                        const struct lb_config *cfg);
/* Ask the rescue system to act at the next boot (why: "requested", "rebuild"). */
int lb_boot_request_rescue(const struct lb_ctx *ctx, const struct lb_config *cfg,
                           const char *why) LB_MUST;

#endif
