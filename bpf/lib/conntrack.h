/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conntrack: one LRU hash per endpoint (npbpf_ct is a map of maps keyed by
 * the host-side ifindex; the loader adds an endpoint's map before its
 * endpoint record and removes it after). Two reasons:
 *  - state belongs to the endpoint that judged it: an entry is only ever
 *    found at the veth whose hook created it, so a packet a pod addresses
 *    (at layer 2) to a neighbour cannot plant an entry that lets it reach
 *    another pod (enforce.h also creates and matches state at to-pod only
 *    for packets addressed to the pod itself);
 *  - one pod cannot starve the others: a pod opening flows as fast as it can
 *    evicts only its own entries (and those of peers whose policy admits
 *    it, at their to-pod hook: a pod that admits a peer trusts it that far).
 *
 * Design. The key is the flow as its opener sent it (addresses, ports,
 * protocol, family) plus dir: the side of the flow the pod at this veth is on.
 * dir EGRESS: that pod opened the flow (it is saddr); dir INGRESS: the flow
 * was opened towards it (it is daddr). An entry is therefore one pod's view
 * of one flow, and a pod's entries are only ever found at its own veth.
 *
 * At a hook of direction H (from-pod = the pod's EGRESS, to-pod = its
 * INGRESS) a packet with tuple T is looked up
 *   - as a reply: swap(T) with dir !H (the opener's packets crossed this
 *     veth the other way), and
 *   - as the opener's packet: T with dir H,
 * in the order that makes a hit cost one lookup most of the time
 * (ct_lookup()).
 * A NEW flow that this hook allows creates (T, H). Only the direction this
 * hook is responsible for is checked before creating: the far side's own
 * hook, if it is on this node, checks and creates its own entry. A bare TCP
 * SYN is not looked up at all: it is always a new flow, and its entry
 * replaces any entry of (T, H) (enforce.h, decide()).
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
static __always_inline struct npbpf_ct_value *ct_get(void *ct, const struct npbpf_ct_key *k,
						     __u64 now)
{
	struct npbpf_ct_value *v = bpf_map_lookup_elem(ct, k);

	if (v && ct_age(now, v->last_seen_ns) > (__s64)ct_timeout(k->proto, k->family, v->state)) {
		bpf_map_delete_elem(ct, k);
		return NULL;
	}
	return v;
}

/* A TCP entry whose flow is ending or over (a FIN or RST was seen). */
static __always_inline int ct_finishing(const struct npbpf_ct_key *k,
					const struct npbpf_ct_value *v)
{
	return k->proto == NPBPF_PROTO_TCP && v->state >= NPBPF_CT_CLOSING;
}

/* Turns *k, the packet's tuple, into the key of a reply (the tuple swapped,
 * dir = the other hook's) or of the opener's packet (dir = hook). */
static __always_inline void ct_key_as(struct npbpf_ct_key *k, __u8 hook, int reply)
{
	if (reply)
		ct_swap(k);
	k->dir = reply ? hook ^ 1 : hook;
}

/* Back from ct_key_as() to the packet's tuple. */
static __always_inline void ct_key_unas(struct npbpf_ct_key *k, int reply)
{
	if (reply)
		ct_swap(k);
}

/* The endpoint's conntrack map, or NULL when the loader has not added one
 * (then the endpoint keeps no state: every packet is judged by policy). */
static __always_inline void *ct_map_of(__u32 ifindex)
{
	return bpf_map_lookup_elem(&npbpf_ct, &ifindex);
}

/*
 * Looks up the packet tuple in *k (dir ignored) at a hook of direction hook,
 * as a reply and as the opener's packet (see the design above). On a hit *k
 * is the entry's key; on a miss it is the packet's own key with dir = hook,
 * ready for ct_create(). *hit gets enum npbpf_ct_hit.
 *
 * Order. A flow is opened from an ephemeral port towards a service port, so
 * a packet towards the lower port is tried as the opener's first and any
 * other as a reply first: a hit usually costs one lookup instead of two.
 * Both keys exist only when the two ends used one port pair towards each
 * other: opened at once (each entry was allowed by its own check, either
 * one may carry the packet), or one end reused the pair of a finished flow
 * the other had opened. The old entry then lives on until it expires, and
 * the packet must reach the new flow's entry (whose first reply establishes
 * it): so a first hit on a finishing TCP entry still tries the other key and
 * takes it when it exists.
 */
static __always_inline struct npbpf_ct_value *ct_lookup(void *ct, struct npbpf_ct_key *k,
							__u8 hook, __u64 now, int *hit)
{
	int reply = bpf_ntohs(k->dport) >= bpf_ntohs(k->sport);
	struct npbpf_ct_value *v, *w;

	ct_key_as(k, hook, reply);
	v = ct_get(ct, k, now);
	if (v && !ct_finishing(k, v))
		goto found;
	ct_key_unas(k, reply);
	ct_key_as(k, hook, !reply);
	w = ct_get(ct, k, now);
	if (w) {
		v = w;
		reply = !reply;
		goto found;
	}
	ct_key_unas(k, !reply);
	if (v) {
		ct_key_as(k, hook, reply);
		goto found;
	}
	k->dir = hook;
	*hit = CT_MISS;
	return NULL;
found:
	*hit = reply ? CT_REPLY : CT_FORWARD;
	return v;
}

/* Advances the TCP state of an entry with a segment's flags. A bare SYN
 * never gets here: it is judged as a new flow (enforce.h). */
static __always_inline void ct_tcp_update(struct npbpf_ct_value *v, int reply, __u8 flags)
{
	__u8 state = v->state;

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
static __always_inline void ct_create(void *ct, const struct npbpf_ct_key *k, __u64 now,
				      __u32 revision, __u32 src_id, __u32 dst_id)
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
	bpf_map_update_elem(ct, k, &v, BPF_ANY);
}

#endif /* NPBPF_BPF_CONNTRACK_H */
