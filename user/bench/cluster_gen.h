/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Synthetic clusters for benchmarks and tests: a deterministic generator that
 * writes kubectl-style multi-document YAML (Namespaces, Pods, NetworkPolicies)
 * shaped like real clusters, so the numbers it produces mean something:
 *  - namespaces carry team/env labels; kube-system (kube-dns), monitoring
 *    (Prometheus) and ingress-nginx exist when there is room for them;
 *  - pods come in Deployments (5-20 replicas sharing app/tier/version and a
 *    pod-template-hash) and small StatefulSets, so identities follow
 *    workloads, not pods; a few Deployments are mid-rollout (two hashes, and
 *    sometimes a moved named port);
 *  - addresses are unique: IPv4 from per-node /24s in 198.18.0.0/15 (and
 *    10.0.0.0/8 beyond 100,000 pods, see CLUSTER_GEN_MAX_PODS), IPv6
 *    twins in 2001:db8::/32 for some workloads, hostNetwork pods (kube-proxy,
 *    one per node) on node addresses in 198.19.192.0/18;
 *  - policies are the kinds the guides teach: default deny, DNS egress, tier
 *    to tier, cross-namespace (AND and OR forms), Prometheus on a named port,
 *    ipBlock with except, endPort ranges, matchExpressions.
 * The output depends only on the parameters: same seed, same bytes.
 */
#ifndef NPBPF_CLUSTER_GEN_H
#define NPBPF_CLUSTER_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* Bounds of the address plan and of what a benchmark can sensibly ask for.
 * Up to 100,000 pods: at most 448 nodes, whose /24s fill 198.18.0.0/15 (250
 * pods each at most). More pods (the agent's 150,000-pod benchmark): a node
 * per 100 pods, nodes from the 449th on with /24s in 10.0.0.0/8 (addresses
 * for data only; cluster_gen.c). */
#define CLUSTER_GEN_MAX_PODS 200000u
#define CLUSTER_GEN_MAX_NAMESPACES 20000u
#define CLUSTER_GEN_MAX_POLICIES 1000000u

struct cluster_gen_params {
	uint32_t pods;       /* exactly this many Pod objects, >= 1 */
	uint32_t namespaces; /* exactly this many Namespace objects, >= 1 */
	uint32_t policies;   /* exactly this many NetworkPolicy objects */
	uint64_t seed;
};

/* What was generated, beyond the requested counts. */
struct cluster_gen_stats {
	uint32_t workloads;    /* Deployments' ReplicaSets, StatefulSets, DaemonSets */
	uint32_t nodes;
	uint32_t host_network; /* hostNetwork pods */
	uint32_t dual_stack;   /* pods with an IPv6 address too */
	uint64_t bytes;        /* YAML written */
};

/* Checks the parameters against the bounds above. Returns 0 or -EINVAL. */
int cluster_gen_check(const struct cluster_gen_params *p);

/* Writes the cluster to f. stats may be NULL. Returns 0, -EINVAL for bad
 * parameters, -ENOMEM, or -EIO (or the stream's errno) when writing failed. */
int cluster_gen_write(FILE *f, const struct cluster_gen_params *p, struct cluster_gen_stats *stats);

/* The address of node number node (0-based), as the generator assigns it to
 * that node's hostNetwork pods. */
void cluster_gen_node_addr(uint32_t node, struct np_addr *out);

#endif /* NPBPF_CLUSTER_GEN_H */
