/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench agent: the node agent's figures, measured on a real agent process
 * (`npbpf agent`, a child of the benchmark) fed by a replay API server in
 * the benchmark's own process (bench_agent_server.h), on a synthetic cluster
 * (bench_agent_cluster.h) whose node has real veths in private network
 * namespaces:
 *  - initial sync: from the agent's first LIST request to its first sync
 *    written to the pinned maps;
 *  - event to enforced, per kind of change: from the moment the event is
 *    handed to the watch to the moment its effect is visible in the pinned
 *    maps (read through the pins);
 *  - memory: VmRSS and VmHWM of an agent holding a large cluster after its
 *    first sync;
 *  - restart: map writes of a second agent's first sync over the same pins,
 *    and whether the programs on the veths stayed the same.
 * Needs root. Everything it makes (network namespaces, pins, the agent, a
 * temporary directory) is removed on exit and on SIGINT/SIGTERM/SIGHUP.
 */
#ifndef NPBPF_BENCH_AGENT_H
#define NPBPF_BENCH_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_AGENT_SAMPLES 50
#define BENCH_AGENT_QUICK_SAMPLES 20
#define BENCH_AGENT_MAX_SAMPLES 1000

struct bench_agent_args {
	bool quick;	  /* 2,000 pods, 20 samples, an 8,000-pod memory run */
	bool json;
	uint64_t seed;
	uint32_t samples; /* per kind; 0: the default of the mode */
	bool streaming;	  /* serve sendInitialEvents (else the agent falls back to LIST) */
	bool no_memory;	  /* skip the memory run */
	const char *keep_logs; /* a directory the agents' logs are copied to, or NULL */
};

/* Returns the exit status. */
int bench_agent(const struct bench_agent_args *a);

#endif /* NPBPF_BENCH_AGENT_H */
