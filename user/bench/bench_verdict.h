/* SPDX-License-Identifier: Apache-2.0 */
/* npbpf bench verdict: per-packet cost of the real datapath. */
#ifndef NPBPF_BENCH_VERDICT_H
#define NPBPF_BENCH_VERDICT_H

/* The `bench verdict` subcommand: argv[0] = "verdict". Returns the exit
 * status (commands.h). */
int bench_verdict(int argc, char **argv);

#endif
