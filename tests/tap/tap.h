/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TAP output for the C tests that are not criterion suites (the datapath
 * tests, the bench generator test): numbered "ok"/"not ok" lines, "#"
 * diagnostics, and the one rule for a test that cannot run here.
 */
#ifndef NPBPF_TESTS_TAP_H
#define NPBPF_TESTS_TAP_H

#include <stdbool.h>

extern int tap_n, tap_failed;

/* Prints the next check's line; returns cond. */
bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The suite (what) cannot run here for reason why: a skip, or under
 * CI=true one failing check, since CI must never pass a suite it did not
 * run. Returns the exit status. */
int tap_cannot_run(const char *what, const char *why);

#endif /* NPBPF_TESTS_TAP_H */
