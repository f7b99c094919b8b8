/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's side of the pod bridge (TC egress of cni0, attached by
 * npbpf-cni): what the node sends or routes into its pods' segment, its own
 * traffic and other nodes' pods' traffic the overlay decapsulated. Each
 * pod's own hooks judge what reaches it once they are attached; this hook
 * closes the milliseconds before (the main plugin created the veth and set
 * the pod up, npbpf-cni has not attached yet), when pods of other nodes
 * could reach the new address unjudged. Like the bound pods' hooks
 * (NPBPF_DROP_UNKNOWN_POD in enforce.h), it refuses an address of the
 * segment that no bound pod has; a pending pod (npbpf-cni wrote its address
 * with NPBPF_IPC_PENDING) is reached by the node, as its own hook allows.
 * Everything else passes unjudged: ARP, ND, multicast, broadcast, bound
 * pods (their hooks judge), addresses outside the segment.
 */
#ifndef NPBPF_BPF_BRIDGE_H
#define NPBPF_BPF_BRIDGE_H

#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "ctx.h"
#include "events.h"
#include "identity.h"
#include "maps.h"
#include "parse.h"

/* 1 to pass, 0 to drop. */
static __always_inline int bridge_run(const struct npbpf_ctx *c)
{
	struct npbpf_ipc_value *v;
	struct npbpf_ipc_key key;
	struct npbpf_pkt p;
	int parsed;

	__builtin_memset(&p, 0, sizeof(p));
	parsed = parse_packet(c, &p, 0, 0);
	/* A packet the parser could not finish still has its addresses when
	 * it got that far: judged by them all the same. */
	if (parsed == PARSE_ARP || parsed == PARSE_ND || !p.t.family)
		return 1;
	ipc_key(&key, p.t.daddr, p.t.family);
	if (bpf_map_lookup_elem(&npbpf_ipc_host, &key.a))
		return 1;
	key.prefixlen = 32 + (p.t.family == NPBPF_FAMILY_V4 ? 32 : 128);
	v = bpf_map_lookup_elem(&npbpf_segment, &key);
	if (!v || v->identity != NPBPF_ID_UNKNOWN_POD)
		return 1;
	if ((v->flags & NPBPF_IPC_PENDING) && addr_locality(p.t.saddr, p.t.family) == LOC_NODE)
		return 1;
	counter_add(~0u, NPBPF_DROP_UNKNOWN_POD, NPBPF_DIR_INGRESS, NPBPF_VERDICT_DROP,
		    ctx_len(c));
	return 0;
}

#endif /* NPBPF_BPF_BRIDGE_H */
