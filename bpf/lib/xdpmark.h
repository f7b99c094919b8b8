/* SPDX-License-Identifier: Apache-2.0 */
/*
 * XDP mode judges a packet once. With npbpf_xdp_from_pod on a pod's host
 * veth, npbpf_from_pod stays at TC ingress of the same veth (for the VLAN
 * tag XDP cannot see, parse.h), and used to judge every packet XDP had
 * passed a second time. Now XDP, when it passes a packet, writes a mark in
 * the packet's XDP metadata (bpf_xdp_adjust_meta); the kernel hands it to
 * the skb (veth_xdp_rcv_skb and generic XDP call skb_metadata_set), and TC
 * reads it from skb->data_meta. A packet with a valid mark passes TC at
 * once, uncounted (XDP counted it); anything else is judged by TC in full,
 * as without XDP.
 *
 * Why a pod cannot forge or replay a mark. TC believes a mark only when all
 * of this holds:
 *  - the metadata is exactly the mark, directly in front of the packet;
 *  - it carries the 64-bit secret of this loaded object (npbpf_markkey,
 *    drawn from bpf_get_prandom_u32 by the first XDP packet; it never
 *    leaves the kernel, and nothing a pod can read holds it);
 *  - it names this veth (ifindex) and the live policy revision;
 *  - it was written at most NPBPF_XDP_MARK_MAX_JIFFIES ticks ago (jiffies:
 *    2 ticks, 8 ms at HZ=250; a read the verifier inlines, so neither side
 *    pays a clock helper call for it);
 *  - no VLAN tag in skb metadata (XDP could not see it: judged in full).
 * And a pod has no way to put metadata there: XDP on the host veth starts
 * every skb the pod's stack sends with empty metadata (veth converts it
 * with xdp_prepare_buff(..., meta_valid)), so in XDP mode TC sees exactly
 * what XDP wrote for this very frame; skb metadata is otherwise set only by
 * BPF programs, which a pod without host privileges cannot load. (Frames a
 * host program redirects into the veth, such as a bench generator's, may
 * bring metadata of their own: then it is more than the mark, and TC
 * judges.) Verified on a real veth by tests/datapath/flood.c: with both
 * programs attached a passed frame is counted once. Even a genuine mark carried back into a pod and
 * sent out again (the host's own packets do not cross pods this way, but a
 * pod forwards what it receives) names another veth, or this one only
 * within milliseconds of XDP judging that same frame under the same policy.
 * A mark older than the object (the agent restarted) carries another secret
 * and is judged again. When in doubt the packet is judged: the mark can
 * only save work, never change a verdict TC would reach.
 */
#ifndef NPBPF_BPF_XDPMARK_H
#define NPBPF_BPF_XDPMARK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "maps.h"

struct npbpf_xdp_mark {
	__u64 secret;
	__u64 stamp;    /* bpf_jiffies64() in XDP */
	__u32 ifindex;  /* the veth XDP ran on */
	__u32 revision; /* npbpf_config.revision XDP judged it under */
};
/* XDP metadata: a multiple of 4 bytes, at most 32. */
_Static_assert(sizeof(struct npbpf_xdp_mark) == 24, "xdp mark layout");

/* XDP and TC of one frame run in one NAPI poll: microseconds, at most a
 * tick apart (the poll may straddle one). */
#define NPBPF_XDP_MARK_MAX_JIFFIES 2

/* The object's secret, drawn on first use. Two CPUs drawing at once: one
 * store wins, the other CPU's first marks are judged again. */
static __always_inline __u64 xdp_mark_secret(int draw)
{
	__u32 zero = 0;
	__u64 *k = bpf_map_lookup_elem(&npbpf_markkey, &zero);
	__u64 s;

	if (!k)
		return 0;
	s = *(volatile __u64 *)k;
	if (s || !draw)
		return s;
	s = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32() | 1;
	__sync_val_compare_and_swap(k, 0, s);
	return *(volatile __u64 *)k;
}

/* XDP, on a pass: the mark for TC. Without room for it, no mark (TC
 * judges). */
static __always_inline void xdp_mark_write(struct xdp_md *x, __u32 ifindex, __u32 revision)
{
	struct npbpf_xdp_mark *m;
	__u64 secret = xdp_mark_secret(1);
	void *data;

	if (!secret || bpf_xdp_adjust_meta(x, -(int)sizeof(*m)))
		return;
	m = (void *)(long)x->data_meta;
	data = (void *)(long)x->data;
	if ((void *)(m + 1) > data)
		return;
	m->secret = secret;
	m->stamp = bpf_jiffies64();
	m->ifindex = ifindex;
	m->revision = revision;
}

/* TC from-pod: whether XDP already judged and passed this packet (see the
 * top of this file for every condition). */
static __always_inline int xdp_mark_valid(struct __sk_buff *skb)
{
	const struct npbpf_xdp_mark *m = (void *)(long)skb->data_meta;
	void *data = (void *)(long)skb->data;
	struct npbpf_config *cfg;
	__u32 zero = 0;
	__u64 secret, jif;

	if ((void *)(m + 1) > data)
		return 0; /* no metadata, or too little: the common TC-only case */
	/* Kept apart from the test above: clang would merge the two into one
	 * "!=", from which the verifier learns no bounds for m. */
	asm volatile("" : "+r"(data));
	if ((void *)(m + 1) < data)
		return 0; /* more than a mark: not ours alone */
	secret = xdp_mark_secret(0);
	if (!secret || m->secret != secret || m->ifindex != skb->ifindex || skb->vlan_present)
		return 0;
	cfg = bpf_map_lookup_elem(&npbpf_config, &zero);
	if (!cfg || m->revision != *(volatile __u32 *)&cfg->revision)
		return 0;
	jif = bpf_jiffies64();
	return jif >= m->stamp && jif - m->stamp <= NPBPF_XDP_MARK_MAX_JIFFIES;
}

#endif /* NPBPF_BPF_XDPMARK_H */
