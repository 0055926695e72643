/* SPDX-License-Identifier: MIT */
/* Dependency checks and ordering over an exact package set (no solving: the
 * master resolves; the device only verifies and orders). */
#ifndef LB_DEPCHECK_H
#define LB_DEPCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "../lib/control.h"

/* Check that every Depends and Pre-Depends of every package in set[0..n) is
 * satisfied by a package of the set (by name and version, or through Provides),
 * and that no package Conflicts with or Breaks another package of the set (a
 * package never conflicts with itself, so "Provides: x, Conflicts: x" is fine).
 * Names in set are unique. The first problem found (in set order) is returned:
 * -LBE_DEPENDS "app 2.0: depends on libfoo (>= 2), but the desired state has
 *               libfoo 1.0" / "..., which is not in the desired state"
 * -LBE_CONFLICT "a 1.0 conflicts with b 2.0" / "a 1.0 breaks b 2.0". */
int lb_depcheck(const struct lb_pkginfo *const *set, size_t n) LB_MUST;

/* Order set[0..n) so that each package comes after the packages it depends on
 * (Pre-Depends and Depends, each satisfied alternative counting as an edge to
 * the package that satisfies it within the set; dependencies outside the set
 * are ignored). order[] receives a permutation of 0..n-1. Cycles made only of
 * Depends edges are broken as dpkg does (deterministically: the cycle is entered
 * at its first package in set order, and its remaining order follows the
 * dependency edges). When strict is true, a cycle containing a Pre-Depends edge
 * returns -LBE_CYCLE naming it: "dependency cycle through Pre-Depends: a -> b -> a".
 * With strict false such cycles are broken like others. Deterministic:
 * the same input always gives the same order; packages not related by edges keep
 * set order. */
int lb_deporder(const struct lb_pkginfo *const *set, size_t n, bool strict, size_t *order) LB_MUST;

#endif
