/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf bench drop: packets per second a dropper sustains on real packets,
 * npbpf side by side with trivial eBPF droppers (the ceilings), iptables
 * and nftables. See bench_drop.c for the whole picture.
 */
#ifndef NPBPF_BENCH_DROP_H
#define NPBPF_BENCH_DROP_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_DROP_ROUNDS 5
#define BENCH_DROP_QUICK_ROUNDS 3
#define BENCH_DROP_MAX_ROUNDS 15

struct bench_drop_args {
	bool quick;       /* fewer sweep points and shorter windows: under a minute */
	bool json;
	const char *plot; /* an SVG file to write, or NULL */
	const char *only; /* comma-separated name parts: the configurations kept, or NULL */
	uint32_t rounds;  /* 0: the default of the mode */
};

/* Returns the exit status. */
int bench_drop(const struct bench_drop_args *a);

#endif /* NPBPF_BENCH_DROP_H */
