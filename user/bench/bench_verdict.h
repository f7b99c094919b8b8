/* SPDX-License-Identifier: Apache-2.0 */
/* npbpf bench verdict: per-packet cost of the real datapath. */
#ifndef NPBPF_BENCH_VERDICT_H
#define NPBPF_BENCH_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

/* Defaults and limits of the options (the CLI parses them). Many short
 * rounds rather than a few long ones: a burst of other work on the machine
 * then spoils fewer samples of a point. */
#define BENCH_VERDICT_REPEAT 100000 /* test-run repeats per 1-flow figure */
#define BENCH_VERDICT_RUNS 11       /* rounds; the median is reported */
#define BENCH_VERDICT_MAX_REPEAT 100000000
#define BENCH_VERDICT_MAX_RUNS 101

struct bench_verdict_args {
	uint32_t repeat; /* 1 .. BENCH_VERDICT_MAX_REPEAT */
	uint32_t runs;   /* 1 .. BENCH_VERDICT_MAX_RUNS */
	bool json;
};

/* Measures and prints (text or JSON). Returns the exit status
 * (exit_status.h). */
int bench_verdict(const struct bench_verdict_args *a);

#endif
