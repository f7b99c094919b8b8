/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench drop's configurations and the measurement of one: what sits on the
 * host veth (or in the node's netfilter), which flood, how many policies,
 * flows, cores and which sender; then one window of the flood, counted at
 * the dropper's own counters.
 */
#ifndef NPBPF_BENCH_DROP_RUN_H
#define NPBPF_BENCH_DROP_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench_drop.h"
#include "bench_drop_gen.h"
#include "bench_drop_net.h"
#include "bench_drop_policy.h"

#define BD_MAX_ROUNDS BENCH_DROP_MAX_ROUNDS
#define BD_MAX_SETS 4 /* policy counts */
/* Below this share of its cores' time the generator was starved (by other
 * processes, or the hypervisor): the figure is retried. */
#define BD_STARVED_SHARE 0.90
#define BD_RETRIES 2

enum bd_enf {
	BD_E_XDP_DROP,  /* trivial XDP_DROP on the host veth */
	BD_E_TC_DROP,   /* trivial TC drop at its ingress */
	BD_E_TC_PASS,   /* trivial TC pass */
	BD_E_NPBPF_XDP, /* npbpf as the agent attaches it in XDP mode: XDP + TC */
	BD_E_NPBPF_TC,  /* npbpf, TC only */
	BD_E_NFT,       /* nftables, kube-network-policies' layout */
	BD_E_IPT,       /* iptables + ipset, kube-router's layout */
	BD_N_ENF,
};

enum bd_flow { BD_F_DENY, BD_F_ALLOW };

extern const char *const bd_enf_names[BD_N_ENF];
extern const char *const bd_flow_names[2];
extern const char *const bd_sender_names[2];

struct bd_conf {
	char name[48]; /* stable: the JSON key and what ratios refer to */
	const char *group; /* "base", "policies", "flows", "cores", "af_packet" */
	enum bd_enf enf;
	enum bd_flow flow;
	enum bd_sender snd;
	uint32_t policies, flows, cpus;
	bool beside; /* measured right after the configuration before it */
	/* Per round: Mpps at the dropper, the generator's share of its cores,
	 * frames the generator sent (Mpps), whether it stayed starved. */
	double mpps[BD_MAX_ROUNDS], share[BD_MAX_ROUNDS], sent[BD_MAX_ROUNDS];
	bool starved[BD_MAX_ROUNDS];
	uint32_t done;    /* rounds measured */
	uint32_t retries; /* windows measured again for a starved generator */
	/* npbpf only, summed over rounds: drops charged to policy, drops of
	 * any other reason (must stay 0: the frames are the pod's own), and
	 * the allows charged (a packet judged twice is charged twice). */
	uint64_t policy_drops, other_drops, allows, counted;
	/* Summary over the rounds. */
	double median, min, max, share_median, sent_median;
};

struct npbpf_bench_drop_bpf;

struct bd_ctx {
	struct bench_drop_args a;
	uint32_t rounds;
	double warmup_s, window_s;
	struct bd_net net;
	bool net_made;
	struct npbpf_bench_drop_bpf *skel;
	char pin_root[64];
	bool root_made;
	uint32_t n_sets; /* policy counts */
	struct bd_policy pol[BD_MAX_SETS];
	struct bd_npbpf np[BD_MAX_SETS];
	uint32_t flow_counts[3];
	uint32_t n_flow_counts;
	int ncpu;
	struct bd_conf *conf;
	size_t n_conf;
	/* Retrying a starved window costs time the run is bounded by
	 * (budget_s from start_ns, monotonic): at most retries_left more, and
	 * only while the measures_left still fit. */
	uint32_t retries_left, measures_left;
	uint64_t start_ns;
	double budget_s;
	char iptables_version[96];
	double setup_s, run_s;
};

/* Set by the signal handler; every loop checks it. */
extern volatile sig_atomic_t bd_stop;

/* The configurations of this run (a->quick: fewer sweep points). 0 or
 * -ENOMEM. */
int bd_conf_build(struct bd_ctx *x);
/* The configuration called name, or NULL. */
struct bd_conf *bd_conf_find(const struct bd_ctx *x, const char *name);
/* Measures c once, as round r (retrying a starved window). 0, -EINTR, or
 * -errno (logged). */
int bd_measure(struct bd_ctx *x, struct bd_conf *c, uint32_t r);
/* Medians and extremes of every configuration over its rounds. */
void bd_summarize(struct bd_ctx *x);
/* Median of n values (n <= BD_MAX_ROUNDS). */
double bd_median(const double *v, uint32_t n);
/* Detaches everything the runs attached to the host veth of world bpf
 * (teardown of a run that stops half-way; the namespaces go anyway). */
void bd_detach_all(struct bd_ctx *x);

#endif /* NPBPF_BENCH_DROP_RUN_H */
