/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conntrack: one LRU hash, npbpf_ct, shared by every hook of the node.
 *
 * Design. The key is the flow as its opener sent it (addresses, ports,
 * protocol, family) plus dir: the side of the flow the pod at this veth is on.
 * dir EGRESS: that pod opened the flow (it is saddr); dir INGRESS: the flow
 * was opened towards it (it is daddr). An entry is therefore one pod's view
 * of one flow, and a pod's entries are only ever found at its own veth.
 *
 * At a hook of direction H (from-pod = the pod's EGRESS, to-pod = its
 * INGRESS) a packet with tuple T is looked up
 *   1. as a reply: swap(T) with dir !H (the opener's packets crossed this
 *      veth the other way), then
 *   2. as the opener's packet: T with dir H.
 * A NEW flow that this hook allows creates (T, H). Only the direction this
 * hook is responsible for is checked before creating: the far side's own
 * hook, if it is on this node, checks and creates its own entry.
 *
 * Same-node pods, A opens to B. from-pod(A) checks A's egress and creates
 * (A->B, EGRESS); to-pod(B) checks B's ingress and creates (A->B, INGRESS).
 * Without dir the second hook would find A's entry and skip B's ingress
 * check. The reply B->A passes from-pod(B) as a reply of (A->B, INGRESS) and
 * to-pod(A) as a reply of (A->B, EGRESS): each hook finds the entry its own
 * pod's check created, whatever B's egress and A's ingress policies say, so a
 * pod with only an ingress rule can answer under default-deny egress.
 *
 * Peer outside the node: one veth sees the flow. Opened by the pod: from-pod
 * creates (A->X, EGRESS), X's reply at to-pod is its swap. Opened from
 * outside: to-pod creates (X->A, INGRESS), A's reply at from-pod is its swap.
 *
 * Services: at a pod's veth both directions carry the same tuple (the VIP
 * before kube-proxy's DNAT on the way out, the VIP again after un-DNAT on the
 * way back), so an entry is created and found at the same hook pair.
 *
 * Policy changes: each entry stores npbpf_config.revision. When the live
 * revision differs, the entry's own direction (dir) is checked again with the
 * current identities before the packet passes (enforce.h): allowed refreshes
 * the stamp, denied deletes the entry and drops.
 *
 * Timeouts (idle time since last_seen_ns, checked at lookup; an expired entry
 * is deleted and the packet treated as unknown):
 *   TCP SYN seen, no reply        60 s
 *   TCP established               6 h: Linux sends the first keepalive only
 *                                 after 2 h idle (tcp_keepalive_time), and
 *                                 idle pooled connections must not be cut
 *                                 under that; LRU eviction bounds memory
 *   TCP FIN seen (one way)        30 s
 *   TCP RST or FIN both ways      10 s (the last ACK and stray segments)
 *   UDP, SCTP, other protocols    60 s
 *   ICMP echo                     30 s
 */
#ifndef NPBPF_BPF_CONNTRACK_H
#define NPBPF_BPF_CONNTRACK_H

#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "maps.h"
#include "parse.h"

#define NPBPF_NSEC_PER_SEC 1000000000ull

#define NPBPF_CT_TCP_SYN_NS (60 * NPBPF_NSEC_PER_SEC)
#define NPBPF_CT_TCP_EST_NS (6 * 3600 * NPBPF_NSEC_PER_SEC)
#define NPBPF_CT_TCP_FIN_NS (30 * NPBPF_NSEC_PER_SEC)
#define NPBPF_CT_TCP_CLOSED_NS (10 * NPBPF_NSEC_PER_SEC)
#define NPBPF_CT_OTHER_NS (60 * NPBPF_NSEC_PER_SEC)
#define NPBPF_CT_ICMP_NS (30 * NPBPF_NSEC_PER_SEC)

/*
 * last_seen_ns is rewritten at most once per this interval: a store on every
 * packet would bounce the entry's cache line between CPUs for busy flows. An
 * idle entry may so expire up to a second early, which nothing depends on.
 */
#define NPBPF_CT_TOUCH_NS NPBPF_NSEC_PER_SEC

enum npbpf_ct_hit {
	CT_MISS = 0,
	CT_FORWARD = 1, /* the packet was sent by the flow's opener */
	CT_REPLY = 2,   /* the packet answers the opener */
};

static __always_inline __u64 ct_timeout(__u8 proto, __u8 family, __u8 state)
{
	if (proto == NPBPF_PROTO_TCP) {
		switch (state) {
		case NPBPF_CT_NEW:
			return NPBPF_CT_TCP_SYN_NS;
		case NPBPF_CT_ESTABLISHED:
			return NPBPF_CT_TCP_EST_NS;
		case NPBPF_CT_CLOSING:
			return NPBPF_CT_TCP_FIN_NS;
		default:
			return NPBPF_CT_TCP_CLOSED_NS;
		}
	}
	if ((family == NPBPF_FAMILY_V4 && proto == NPBPF_PROTO_ICMP) ||
	    (family == NPBPF_FAMILY_V6 && proto == NPBPF_PROTO_ICMPV6))
		return NPBPF_CT_ICMP_NS;
	return NPBPF_CT_OTHER_NS;
}

static __always_inline void ct_swap(struct npbpf_ct_key *k)
{
	__u32 *s = (__u32 *)k->saddr, *d = (__u32 *)k->daddr;
	__be16 port = k->sport;

	for (int i = 0; i < 4; i++) {
		__u32 t = s[i];

		s[i] = d[i];
		d[i] = t;
	}
	k->sport = k->dport;
	k->dport = port;
}

/*
 * Nanoseconds from then to now, negative when another CPU stamped the entry
 * after this packet read the clock: both sides of a flow touch one entry from
 * different CPUs, and an unsigned difference would wrap and call a live
 * entry expired.
 */
static __always_inline __s64 ct_age(__u64 now, __u64 then)
{
	return (__s64)(now - then);
}

/* The entry for k if it exists and has not expired; an expired one is
 * deleted so the LRU slot goes back before eviction has to find it. */
static __always_inline struct npbpf_ct_value *ct_get(const struct npbpf_ct_key *k, __u64 now)
{
	struct npbpf_ct_value *v = bpf_map_lookup_elem(&npbpf_ct, k);

	if (v && ct_age(now, v->last_seen_ns) > (__s64)ct_timeout(k->proto, k->family, v->state)) {
		bpf_map_delete_elem(&npbpf_ct, k);
		return NULL;
	}
	return v;
}

/*
 * Looks up the packet tuple in *k (dir ignored) at a hook of direction hook:
 * first as a reply, then as the opener's packet (see the design above). On a
 * hit *k is the entry's key; on a miss it is the packet's own key with dir =
 * hook, ready for ct_create(). *hit gets enum npbpf_ct_hit.
 */
static __always_inline struct npbpf_ct_value *ct_lookup(struct npbpf_ct_key *k, __u8 hook,
							__u64 now, int *hit)
{
	struct npbpf_ct_value *v;

	ct_swap(k);
	k->dir = hook ^ 1;
	v = ct_get(k, now);
	if (v) {
		*hit = CT_REPLY;
		return v;
	}
	ct_swap(k);
	k->dir = hook;
	v = ct_get(k, now);
	*hit = v ? CT_FORWARD : CT_MISS;
	return v;
}

/*
 * Advances the TCP state of an entry with a segment's flags. Returns 1 when
 * the segment is a bare SYN on a flow that was finishing or finished: the
 * port pair is being reused, by the opener or, the other way round, by the
 * replier, and the caller judges it as a new flow of its own, policy check
 * included, rather than let a closed flow's entry carry it.
 */
static __always_inline int ct_tcp_update(struct npbpf_ct_value *v, int reply, __u8 flags)
{
	__u8 state = v->state;

	if ((flags & (NPBPF_TCP_SYN | NPBPF_TCP_ACK)) == NPBPF_TCP_SYN &&
	    state >= NPBPF_CT_CLOSING)
		return 1;
	if (flags & NPBPF_TCP_RST) {
		state = NPBPF_CT_CLOSED;
	} else if (flags & NPBPF_TCP_FIN) {
		__u8 fin = v->fin_seen | (reply ? 2 : 1);

		if (fin != v->fin_seen)
			v->fin_seen = fin;
		if (state != NPBPF_CT_CLOSED)
			state = fin == 3 ? NPBPF_CT_CLOSED : NPBPF_CT_CLOSING;
	} else if (reply && state == NPBPF_CT_NEW) {
		state = NPBPF_CT_ESTABLISHED;
	}
	if (state != v->state)
		v->state = state;
	return 0;
}

/* Non-TCP: the first reply makes the flow established (for status only;
 * timeouts do not depend on it). */
static __always_inline void ct_other_update(struct npbpf_ct_value *v, int reply)
{
	if (reply && v->state == NPBPF_CT_NEW)
		v->state = NPBPF_CT_ESTABLISHED;
}

static __always_inline void ct_touch(struct npbpf_ct_value *v, __u64 now)
{
	if (ct_age(now, v->last_seen_ns) > (__s64)NPBPF_CT_TOUCH_NS)
		v->last_seen_ns = now;
}

/* Records a new flow allowed at this hook; k->dir is the hook's direction.
 * src_id/dst_id: identities of saddr and daddr, for status. */
static __always_inline void ct_create(const struct npbpf_ct_key *k, __u64 now, __u32 revision,
				      __u32 src_id, __u32 dst_id)
{
	struct npbpf_ct_value v;

	__builtin_memset(&v, 0, sizeof(v));
	v.last_seen_ns = now;
	v.created_ns = now;
	v.revision = revision;
	v.src_identity = src_id;
	v.dst_identity = dst_id;
	v.state = NPBPF_CT_NEW;
	/* An LRU map evicts the least recently used entry when full: creation
	 * never fails for lack of room. Another error leaves the flow
	 * untracked; its replies are then judged by policy. */
	bpf_map_update_elem(&npbpf_ct, k, &v, BPF_ANY);
}

#endif /* NPBPF_BPF_CONNTRACK_H */
