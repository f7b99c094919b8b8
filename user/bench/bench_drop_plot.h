/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench drop's picture: a hand-written SVG (no library, no script) of two
 * bar charts, Mpps by configuration (min-max as a whisker) and Mpps of the
 * denied flood by policy count, for a person to look at.
 */
#ifndef NPBPF_BENCH_DROP_PLOT_H
#define NPBPF_BENCH_DROP_PLOT_H

#include "bench_drop_run.h"

/* Writes the SVG to path. 0 or -errno (logged). */
int bd_plot(const struct bd_ctx *x, const char *path);

#endif /* NPBPF_BENCH_DROP_PLOT_H */
