/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench drop's results: the table per configuration, the ratios (each the
 * median over rounds of the ratio within a round: the two figures were
 * measured moments apart, under the same load, which is what makes a ratio
 * mean something on a VM whose speed varies), and the same as JSON.
 */
#ifndef NPBPF_BENCH_DROP_REPORT_H
#define NPBPF_BENCH_DROP_REPORT_H

#include <stdbool.h>

#include "bench_drop_run.h"

struct bd_ratio {
	char key[112]; /* NUM_vs_DEN */
	const struct bd_conf *num, *den;
	/* Or (num / num_ref) / (den / den_ref): NULL for a plain ratio. */
	const struct bd_conf *num_ref, *den_ref;
	const char *what; /* for people */
	double goal;      /* the goal (ratio >= goal), 0 for none */
	double value;     /* median of the per-round ratios */
};

#define BD_MAX_RATIOS 48

/* The ratios this run's configurations allow; *n of them. */
void bd_ratios(const struct bd_ctx *x, struct bd_ratio *out, size_t *n);
/* Text (tables) or JSON (x->a.json) on stdout. */
void bd_report(const struct bd_ctx *x, const struct bd_ratio *r, size_t n);

#endif /* NPBPF_BENCH_DROP_REPORT_H */
