/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf datapath: the programs attached at the host side of every pod veth.
 *
 *   npbpf_from_pod      TC ingress of the host-side veth: the pod's EGRESS
 *   npbpf_to_pod        TC egress of the host-side veth: the pod's INGRESS
 *   npbpf_xdp_from_pod  XDP on the host-side veth: the pod's EGRESS, the same
 *                       core as npbpf_from_pod (the loader picks one of the
 *                       two; see the VLAN note in lib/parse.h). With
 *                       both attached, TC passes what XDP passed without
 *                       judging it again (lib/xdpmark.h)
 *   npbpf_bridge        TC egress of the pods' bridge (cni0): new addresses
 *                       of the segment unreachable until bound
 *                       (lib/bridge.h)
 *
 * Everything else is in lib/: enforce.h is the core, the other headers one
 * concern each.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/bridge.h"
#include "lib/enforce.h"

SEC("tc")
int npbpf_from_pod(struct __sk_buff *skb)
{
	struct npbpf_ctx c = { .ctx = skb, .xdp = 0 };

	/* XDP mode: XDP judged, counted and passed this very frame. */
	if (xdp_mark_valid(skb))
		return TC_ACT_OK;
	return npbpf_run(&c, NPBPF_DIR_EGRESS) ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int npbpf_to_pod(struct __sk_buff *skb)
{
	struct npbpf_ctx c = { .ctx = skb, .xdp = 0 };

	return npbpf_run(&c, NPBPF_DIR_INGRESS) ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("xdp")
int npbpf_xdp_from_pod(struct xdp_md *ctx)
{
	struct npbpf_ctx c = { .ctx = ctx, .xdp = 1 };

	return npbpf_run(&c, NPBPF_DIR_EGRESS) ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int npbpf_bridge(struct __sk_buff *skb)
{
	struct npbpf_ctx c = { .ctx = skb, .xdp = 0 };

	return bridge_run(&c) ? TC_ACT_OK : TC_ACT_SHOT;
}

/* The kernel reads this only to gate GPL-only helpers; none is used. */
char LICENSE[] SEC("license") = "Apache-2.0";
