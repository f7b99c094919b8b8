/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bench-only knobs of the datapath: `npbpf bench verdict`
 * (user/bench_verdict.c) sets them, nothing else does. Plain defines, so that
 * userspace file includes this header too and each value is written once.
 */
#ifndef NPBPF_BPF_BENCH_H
#define NPBPF_BPF_BENCH_H

/*
 * npbpf_config.flags bit, BENCHMARK ONLY: an allowed new flow is not entered
 * into conntrack. BPF_PROG_TEST_RUN runs one packet `repeat` times; without
 * this bit the first run of an allowed SYN creates its entry and every later
 * run is a conntrack hit, so "a new flow allowed" could not be timed. With
 * it the packet takes the whole new-flow path (both conntrack misses, the
 * subject, ipcache and policy lookups, the counter) and only the final
 * bpf_map_update_elem() of ct_create() is skipped; the bench says so next
 * to its figures.
 *
 * In a real node this bit would leave allowed flows untracked, so their
 * replies would be judged by policy alone: the loader never sets it
 * (loader_opts.cfg_flags takes NPBPF_CFG_* from datapath.h, which grow from
 * bit 0), and an agent that opens the maps writes its own flags over it.
 */
#define NPBPF_CFG_BENCH_NO_CT_CREATE (1u << 31)

#endif /* NPBPF_BPF_BENCH_H */
