/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench drop's policy set, one per policy count, as a user would write it:
 * manifests (Namespace, Pods, NetworkPolicies) read by the manifest loader
 * and compiled by the engine, then synced by the agent's map sync into an
 * npbpf instance of its own (loader.h, a pin directory per policy count).
 * The iptables and nftables rule sets are generated from the same compile
 * (bench_drop_nf.h), so every enforcer judges the same policy.
 *
 * Namespace "bench": the sender pod (app=sender, BD_POD_ADDR), the receiver
 * (app=receiver, BD_RCV_ADDR) and, for n policies, n-1 peer pods
 * (app=peer-i, BD_PEER_ADDR(i)). Every policy selects the sender and
 * isolates its egress: "allow-receiver" allows UDP BD_PORT_ALLOW_0/1 to the
 * receiver; "peer-i" allows UDP 10000+i to peer-i. The denied flood goes
 * to the receiver on BD_PORT_DENY_0/1, which no policy allows, so every
 * enforcer has to look at all of the sender's policies to say no.
 */
#ifndef NPBPF_BENCH_DROP_POLICY_H
#define NPBPF_BENCH_DROP_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "compile.h"
#include "model.h"

#define BD_PORT_ALLOW_0 5001
#define BD_PORT_ALLOW_1 5003
#define BD_PORT_DENY_0 5002
#define BD_PORT_DENY_1 5004
#define BD_MAX_POLICIES 10000u

struct loader;

struct bd_policy {
	uint32_t n; /* NetworkPolicies */
	struct np_cluster c;
	struct compiled cp;
	bool compiled;
	uint32_t subject; /* the sender's identity number */
};

/* Writes, loads and compiles the set of n policies (1..BD_MAX_POLICIES).
 * 0 or -errno (logged); p is safe to bd_policy_free either way. */
int bd_policy_build(uint32_t n, struct bd_policy *p);
void bd_policy_free(struct bd_policy *p);

/* One npbpf datapath: programs and maps pinned under a directory of its
 * own, synced to a policy set with the sender bound to the host veth. */
struct bd_npbpf {
	struct loader *l;
	char dir[128];
	bool pinned; /* the directory may exist and must be removed */
};

/* Loads an instance under root/pN and syncs p into it with one endpoint:
 * the sender on ifindex (the host veth) with its MAC. 0 or -errno (logged). */
int bd_npbpf_open(const char *root, const struct bd_policy *p, uint32_t ifindex,
		  struct bd_npbpf *out);
/* Unpins and releases; attachments go with the veth's namespace. */
void bd_npbpf_close(struct bd_npbpf *x);

#endif /* NPBPF_BENCH_DROP_POLICY_H */
