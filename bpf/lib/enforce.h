/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The enforcement core shared by the TC and XDP programs. A hook enforces one
 * direction of one pod: from-pod (TC ingress / XDP on the host-side veth) the
 * pod's EGRESS, to-pod (TC egress) its INGRESS.
 *
 * Per packet, in order (each step returns a verdict or falls through):
 *  1. config: one read, copied to the stack (generation, revision, flags);
 * 1b. the denial cache (denycache.h): a frame equal, in every bit the
 *     verdict reads, to one this CPU saw denied by policy at this endpoint
 *     and hook, under the same revision, generation, flags and conntrack
 *     epoch, drops again for that reason without steps 2-9 (only the pod's
 *     own bare SYNs, datagrams and non-error ICMP messages are ever
 *     cached, by step 9, after the link checks: a spoofed frame never
 *     inserts, and never hits since its source is compared). TCP without
 *     a bare SYN is never cached;
 *  2. endpoint by ifindex; else a pending record (npbpf-cni wired the pod,
 *     the agent has not bound it: steps 3-4, then pending_decide()); else
 *     NPBPF_DROP_NO_ENDPOINT (a veth nobody knows is treated as isolated);
 *  3. parse; tagged frames from pods drop;
 *  4. from-pod, before anything can pass: the Ethernet source must be the
 *     pod's MAC; ARP must speak for the pod's own address and MAC; link-scope
 *     ND/MLD must come from the pod's own addresses, a neighbour
 *     advertisement may only announce them, router advertisements and
 *     redirects drop; anything that is not IP drops; the IP source must be
 *     the pod's -> else NPBPF_DROP_SPOOFED / _CONTROL / _NOT_IP; no
 *     encapsulation to the node (NPBPF_DROP_TUNNEL). Validated
 *     as soon as the IP header is read, so a packet the parser cannot fully
 *     read never passes with a forged source. ND/MLD is link plumbing only
 *     when it stays on the segment (nd_stays_from_pod); towards anything
 *     else a router would forward it, and it is ICMPv6 like any other,
 *     judged by policy;
 *     to-pod: ARP passes, ND/MLD when nd_stays_to_pod(); a packet not
 *     addressed to the
 *     pod itself (another pod's address at layer 3, broadcast, multicast)
 *     is judged by policy without matching or creating any state, so state
 *     is only ever created and found by packets that belong to the pod;
 *  5. unparseable drops when the pod is isolated in this direction;
 *  6. later fragments follow the first fragment's recorded verdict (frag.h),
 *     judged again when the policy revision moved;
 *  7. ICMP errors quoting a tracked flow pass (related);
 *  8. conntrack hit (reply or opener's packet) in the endpoint's own map:
 *     passes, after a policy re-check when the revision moved; a bare TCP
 *     SYN skips this step;
 *  9. no entry: TCP without a bare SYN is no new flow (NPBPF_DROP_NO_CT when
 *     isolated); a peer address of this node's pod segment that no bound
 *     pod has drops (NPBPF_DROP_UNKNOWN_POD: the pod is being wired, its
 *     own hook is not there yet); else the policy (policy.h) decides, and an allowed flow is
 *     tracked (of ICMP only echo is tracked; other messages are judged per
 *     packet). A tracked flow's insert bumps the endpoint's conntrack epoch
 *     (it may make a cached denial pass); a policy drop of a cacheable
 *     packet goes to the denial cache.
 * Accounting (npbpf_run): every packet is charged to one (policy, rule)
 * counter and to its endpoint's counters (per-CPU array slot, events.h);
 * drops emit an event when the per-CPU token bucket allows, which in a
 * flood costs one compare (no refill within a clock tick). XDP passes
 * leave a mark TC trusts instead of judging again (xdpmark.h).
 *
 * An established packet costs config + endpoint + the endpoint's conntrack
 * map + 1 ct lookup (2 when the first key tried misses) + counters
 * (UDP/ICMP: + the cache probe, one slot, and the epoch); a new TCP
 * connection config + endpoint + probe + subject + ipcache + policy (1
 * lookup for the usual rule forms) + counters, and the conntrack map, a ct
 * insert and an epoch bump only when allowed; a repeated denial config +
 * epoch + the probe (one slot, two when its set's first holds another
 * denial) + counters, no endpoint and no parse. The subject, ipcache and
 * policy tables are read only for new flows, re-checks and unparseable or
 * fragmented packets. In XDP mode TC costs a metadata check per passed
 * packet.
 *
 * Functions return 0 (pass, with st->policy/rule saying what to charge) or a
 * negative enum npbpf_drop_reason, which npbpf_run() turns into a counter and
 * an event.
 */
#ifndef NPBPF_BPF_ENFORCE_H
#define NPBPF_BPF_ENFORCE_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "conntrack.h"
#include "ctx.h"
#include "denycache.h"
#include "events.h"
#include "frag.h"
#include "identity.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "xdpmark.h"

struct npbpf_state {
	struct npbpf_pkt pkt;
	struct npbpf_config cfg; /* the one read of npbpf_config for this packet */
	__u64 now;		 /* coarse clock; 0 until enforce() reads it */
	void *ct;		 /* the endpoint's conntrack map; NULL when the packet may
				  * neither match nor create state (not the pod's own) */
	__u32 ifindex;
	__u32 subject; /* the endpoint's identity */
	__u32 peer;    /* the far end's identity; NPBPF_ID_ANY until looked up */
	__u32 policy;  /* what a pass is charged to: policy index or NPBPF_POLICY_NONE */
	__u16 rule;    /* rule index, or enum npbpf_allow_reason */
	__u8 hook;     /* enum npbpf_dir this hook enforces */
	__u8 own;      /* the packet is the pod's own: its validated source at
			* from-pod, its own destination at to-pod */
};

static __always_inline int pass(struct npbpf_state *st, __u32 policy, __u16 rule)
{
	st->policy = policy;
	st->rule = rule;
	return 0;
}

static __always_inline int addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* The far end of the packet: the destination when the pod sends, the source
 * when it receives. Looked up at most once per packet. */
static __always_inline __u32 state_peer(struct npbpf_state *st)
{
	const struct npbpf_pkt *p = &st->pkt;

	if (st->peer == NPBPF_ID_ANY)
		st->peer = identity_of(st->hook == NPBPF_DIR_EGRESS ? p->t.daddr : p->t.saddr,
				       p->t.family);
	return st->peer;
}

/* Byte by byte: MACs sit at 2-byte offsets, and the verifier refuses
 * misaligned stack reads. */
static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

/* The pod's IPv6 link-local address: the EUI-64 one of its MAC (what Linux
 * gives a veth by default). Without a MAC, any link-local address: such a
 * packet cannot leave the segment, and no ipcache entry gives a link-local
 * address a pod's identity. */
static __always_inline int ep_owns_link_local(const struct npbpf_endpoint *ep, const __u8 *a)
{
	const __u8 *m = ep->mac;

	if (!ipv6_is_link_local(a))
		return 0;
	if (!(ep->flags & NPBPF_EP_HAS_MAC))
		return 1;
	return *(const __u32 *)a == bpf_htonl(0xfe800000) && *(const __u32 *)(a + 4) == 0 &&
	       a[8] == (m[0] ^ 2) && a[9] == m[1] && a[10] == m[2] && a[11] == 0xff &&
	       a[12] == 0xfe && a[13] == m[3] && a[14] == m[4] && a[15] == m[5];
}

/* Whether addr (of family) is one of the endpoint's own addresses. */
static __always_inline int ep_owns(const struct npbpf_endpoint *ep, __u8 family, const __u8 *addr)
{
	if (family == NPBPF_FAMILY_V4)
		return (ep->flags & NPBPF_EP_HAS_V4) &&
		       *(const __u32 *)addr == *(const __u32 *)ep->addr4;
	return ((ep->flags & NPBPF_EP_HAS_V6) && addr_eq(addr, ep->addr6)) ||
	       ep_owns_link_local(ep, addr);
}

/* ARP from the pod: only for itself. The sender hardware address must be
 * the frame's source (already checked against the pod's MAC when known),
 * the sender protocol address the pod's own IPv4 address or 0.0.0.0 (an
 * address probe): otherwise the pod could answer for a neighbour or the
 * gateway and have their traffic sent to it. */
static __always_inline int arp_from_pod(const struct npbpf_endpoint *ep, const struct npbpf_pkt *p)
{
	if (!mac_eq(p->arp_sha, p->eth_src))
		return -NPBPF_DROP_SPOOFED;
	if (*(const __u32 *)p->arp_spa && !ep_owns(ep, NPBPF_FAMILY_V4, p->arp_spa))
		return -NPBPF_DROP_CONTROL;
	return 0;
}

/* Link-scope ND/MLD from the pod: from its own addresses (or the
 * unspecified address for duplicate address detection and MLDv2 reports,
 * which go to link-scope multicast); a neighbour advertisement only for the
 * pod's own addresses; never a router advertisement or a redirect (they
 * would make the pod its neighbours' router). */
static __always_inline int nd_from_pod(const struct npbpf_ctx *c, const struct npbpf_endpoint *ep,
				       const struct npbpf_pkt *p)
{
	__u8 type = p->icmp_type, target[16];

	if (type == NPBPF_ICMP6_ROUTER_ADVERT || type == NPBPF_ICMP6_REDIRECT)
		return -NPBPF_DROP_CONTROL;
	if (!ep_owns(ep, NPBPF_FAMILY_V6, p->t.saddr) &&
	    !(ipv6_is_unspecified(p->t.saddr) && ipv6_is_link_mcast(p->t.daddr) &&
	      type != NPBPF_ICMP6_NEIGH_ADVERT))
		return -NPBPF_DROP_SPOOFED;
	if (type == NPBPF_ICMP6_NEIGH_ADVERT) {
		/* type, code, checksum, flags (4 bytes), then the target. */
		if (ctx_load(c, p->l4_off + 8, target, sizeof(target)))
			return -NPBPF_DROP_UNPARSEABLE;
		if (!ep_owns(ep, NPBPF_FAMILY_V6, target))
			return -NPBPF_DROP_CONTROL;
	}
	return 0;
}

/*
 * An ICMP error passes when the packet it quotes belongs to a flow this pod
 * has an entry for. The quoted packet crossed this veth the other way, so it
 * is looked up as at the opposite hook. Its sender must be the error's
 * recipient, and a pod may only report on packets sent to it: otherwise a
 * quote of some other pod's flow could carry data past this pod's policy.
 * Returns 1 when related.
 */
static __always_inline int icmp_related(const struct npbpf_ctx *c, struct npbpf_state *st)
{
	const struct npbpf_pkt *p = &st->pkt;
	struct npbpf_ct_value *v;
	struct npbpf_ct_key k;
	int hit;

	if (!st->ct || p->frag != PKT_FRAG_NONE)
		return 0;
	__builtin_memset(&k, 0, sizeof(k));
	if (parse_icmp_inner(c, p, &k))
		return 0;
	if (!addr_eq(k.saddr, p->t.daddr))
		return 0;
	if (st->hook == NPBPF_DIR_EGRESS && !addr_eq(k.daddr, p->t.saddr))
		return 0;
	v = ct_lookup(st->ct, &k, st->hook ^ 1, st->now, &hit);
	/* A stale revision is not re-checked here: the flow's next own packet
	 * does that, and until then the error is judged as plain ICMP. */
	return v && v->revision == st->cfg.revision;
}

/* Policy re-check of a tracked flow after the revision moved: the entry's own
 * direction (k->dir, the opener's), current identities and generation. */
static __always_inline int ct_recheck(struct npbpf_state *st, const struct npbpf_ct_key *k,
				      struct npbpf_ct_value *v)
{
	const struct npbpf_subject *s = subject_lookup(st->subject, st->cfg.generation);
	struct npbpf_policy_value by;
	/* The entry's far end is the packet's far end: both are the pod's view. */
	__u32 peer = state_peer(st);

	if (policy_check(s, st->subject, st->cfg.generation, k->dir, peer, k->proto,
			 bpf_ntohs(k->dport), &by) == POLICY_DENIED) {
		bpf_map_delete_elem(st->ct, k);
		return -NPBPF_DROP_POLICY;
	}
	v->revision = st->cfg.revision;
	return 0;
}

/* Steps 7-9 for a packet with a transport header (or a protocol without);
 * create: an allowed new flow gets a conntrack entry (not when a later
 * fragment is judged again as its first was). */
static __always_inline int decide(const struct npbpf_ctx *c, struct npbpf_state *st, int create)
{
	const struct npbpf_pkt *p = &st->pkt;
	const struct npbpf_subject *s;
	struct npbpf_policy_value by;
	struct npbpf_ct_value *v;
	struct npbpf_ct_key k;
	int icmp = pkt_is_icmp(p);
	/* Only echo is tracked; every other ICMP message (an error that quotes
	 * no tracked flow, timestamps, ...) is judged by policy alone. */
	int untracked = icmp && !icmp_is_echo_request(p->t.family, p->icmp_type) &&
			!icmp_is_echo_reply(p->t.family, p->icmp_type);
	int tcp_syn = p->t.proto == NPBPF_PROTO_TCP &&
		      (p->tcp_flags & (NPBPF_TCP_SYN | NPBPF_TCP_ACK)) == NPBPF_TCP_SYN;
	int hit = CT_MISS, r;
	__u32 peer;

	if (icmp && icmp_is_error(p->t.family, p->icmp_type) && icmp_related(c, st))
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_RELATED);

	/*
	 * A bare SYN opens a flow: it is judged by policy without a conntrack
	 * lookup, and when allowed its entry replaces any entry of its tuple.
	 * Where a lookup would have found one: a retransmitted SYN is allowed
	 * again by the policy that allowed it (its entry restarts in state
	 * NEW); a SYN that reuses the port pair of a finished flow was a new
	 * flow anyway; only a simultaneous open (both ends send a SYN for one
	 * port pair) is judged by policy instead of passing on the other
	 * end's entry. Never more permissive, and every new TCP connection,
	 * allowed or denied, skips both conntrack lookups.
	 */
	k = p->t;
	k.dir = st->hook;
	v = untracked || tcp_syn || !st->ct ? NULL : ct_lookup(st->ct, &k, st->hook, st->now, &hit);
	if (v) {
		if (p->t.proto == NPBPF_PROTO_TCP)
			ct_tcp_update(v, hit == CT_REPLY, p->tcp_flags);
		else
			ct_other_update(v, hit == CT_REPLY);
		if (v->revision != st->cfg.revision) {
			r = ct_recheck(st, &k, v);
			if (r < 0)
				return r;
		}
		ct_touch(v, st->now);
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT);
	}

	s = subject_lookup(st->subject, st->cfg.generation);
	if (p->t.proto == NPBPF_PROTO_TCP && !tcp_syn) {
		if (subject_isolated(s, st->hook))
			return -NPBPF_DROP_NO_CT;
		if (state_peer(st) == NPBPF_ID_UNKNOWN_POD)
			return -NPBPF_DROP_UNKNOWN_POD;
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED);
	}

	peer = state_peer(st);
	/* Before the policy, whose wildcard entries would admit any peer. */
	if (peer == NPBPF_ID_UNKNOWN_POD)
		return -NPBPF_DROP_UNKNOWN_POD;
	r = policy_check(s, st->subject, st->cfg.generation, st->hook, peer, p->t.proto,
			 bpf_ntohs(p->t.dport), &by);
	if (r == POLICY_DENIED)
		return -NPBPF_DROP_POLICY;
	/* Flows are tracked even where this direction is unisolated: the
	 * replies cross the other hook, whose direction may be isolated, and
	 * the entry keeps them passing there. Of ICMP, only an echo request
	 * opens something to reply to. k: the packet's key, dir = hook. */
	/* A bare SYN's map is looked up only now that it is allowed. */
	if (create && tcp_syn && st->own)
		st->ct = ct_map_of(st->ifindex);
	if (create && st->ct && (!icmp || icmp_is_echo_request(p->t.family, p->icmp_type))) {
		if (st->hook == NPBPF_DIR_EGRESS)
			ct_create(st->ct, &k, st->now, st->cfg.revision, st->subject, peer);
		else
			ct_create(st->ct, &k, st->now, st->cfg.revision, peer, st->subject);
		/* The entry may make a cached denial pass (denycache.h). */
		deny_ct_created(st->ifindex);
	}
	if (r == POLICY_RULE)
		return pass(st, by.policy, by.rule);
	return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED);
}

/* A later fragment: the verdict recorded for its first fragment at this
 * endpoint and hook, judged again under the current policy when the revision
 * moved since. No record (it overtook the first, the first was not the
 * pod's own, or the record expired): dropped when isolated. */
static __always_inline int later_fragment(const struct npbpf_ctx *c, struct npbpf_state *st)
{
	struct npbpf_pkt *p = &st->pkt;
	struct npbpf_frag_value *fv = NULL;
	int r;

	if (st->own)
		fv = frag_lookup(p, st->ifindex, st->hook, st->now);
	if (!fv) {
		if (subject_isolated(subject_lookup(st->subject, st->cfg.generation), st->hook))
			return -NPBPF_DROP_FRAG;
		if (state_peer(st) == NPBPF_ID_UNKNOWN_POD)
			return -NPBPF_DROP_UNKNOWN_POD;
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED);
	}
	if (fv->revision != st->cfg.revision) {
		frag_restore(p, fv);
		r = decide(c, st, 0);
		fv->allowed = r >= 0;
		fv->revision = st->cfg.revision;
	}
	if (!fv->allowed)
		return -NPBPF_DROP_FRAG;
	return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_FRAG);
}

/* A neighbour advertisement of its sender's own global address, no longer
 * than the kernel's own (the target and one link-layer address option):
 * Linux answers a solicitation sent from a global address this way, global
 * to global, so without it an isolated pod could not resolve its
 * neighbours. The length bound leaves no room to carry data. */
#define NPBPF_NA_MAX_LEN 32
static __always_inline int nd_own_advert(const struct npbpf_ctx *c, const struct npbpf_pkt *p)
{
	__u8 target[16];

	if (p->icmp_type != NPBPF_ICMP6_NEIGH_ADVERT || ctx_len(c) > p->l4_off + NPBPF_NA_MAX_LEN)
		return 0;
	if (ctx_load(c, p->l4_off + 8, target, sizeof(target)))
		return 0;
	return addr_eq(target, p->t.saddr);
}

/*
 * Whether ND/MLD from the pod stays on its segment, so that it is link
 * plumbing and not a flow: link-local or link-scope multicast addresses; the
 * node itself; with bridged pods, an advertisement of the pod's own address
 * to a neighbour pod. Anything else a router would forward.
 */
static __always_inline int nd_stays_from_pod(const struct npbpf_ctx *c,
					     const struct npbpf_state *st)
{
	const struct npbpf_pkt *p = &st->pkt;
	int loc;

	if (ipv6_link_scoped(p->t.saddr, p->t.daddr))
		return 1;
	loc = addr_locality(p->t.daddr, NPBPF_FAMILY_V6);
	return loc == LOC_NODE ||
	       (loc == LOC_POD && (st->cfg.flags & NPBPF_CFG_BRIDGED) && nd_own_advert(c, p));
}

/*
 * Whether ND/MLD towards the pod is link plumbing: link-local or link-scope
 * multicast addresses; or an advertisement of its sender's own address sent
 * by the node or a pod of this node with the hop limit no router leaves (so
 * it was not forwarded: the sender is on the segment, and its own hook
 * checked what it may announce). Global solicitations and MLD between
 * global addresses are ICMPv6 like any other, for the pod's policy.
 */
static __always_inline int nd_stays_to_pod(const struct npbpf_ctx *c, const struct npbpf_state *st)
{
	const struct npbpf_pkt *p = &st->pkt;

	if (ipv6_link_scoped(p->t.saddr, p->t.daddr))
		return 1;
	return nd_own_advert(c, p) && addr_locality(p->t.saddr, NPBPF_FAMILY_V6) != LOC_ELSEWHERE;
}

/* Ports of the overlays a node decapsulates: VXLAN (IANA, and the Linux and
 * flannel default), Geneve. */
#define NPBPF_PORT_VXLAN       4789
#define NPBPF_PORT_VXLAN_LINUX 8472
#define NPBPF_PORT_GENEVE      6081
#define NPBPF_PROTO_IPIP       4
#define NPBPF_PROTO_IPV6_ENCAP 41
#define NPBPF_PROTO_GRE	       47

/* Encapsulation a pod addresses to this node. The node would decapsulate it
 * (tunl0, sit0, a flannel or Geneve device) and route the inner packet,
 * whose source no hook ever checked, as if it came from another node: a
 * way to wear another pod's address. */
static __always_inline int tunnel_to_node(const struct npbpf_pkt *p)
{
	__u16 dport = bpf_ntohs(p->t.dport);
	int tunnel = p->t.proto == NPBPF_PROTO_IPIP || p->t.proto == NPBPF_PROTO_IPV6_ENCAP ||
		     p->t.proto == NPBPF_PROTO_GRE ||
		     (p->t.proto == NPBPF_PROTO_UDP &&
		      (dport == NPBPF_PORT_VXLAN || dport == NPBPF_PORT_VXLAN_LINUX ||
		       dport == NPBPF_PORT_GENEVE));

	return tunnel && addr_locality(p->t.daddr, p->t.family) == LOC_NODE;
}

/* Step 4 (see the top of this file). Returns 1 when the packet is link
 * plumbing that passes now, 0 to go on, or a negative drop reason. */
static __always_inline int check_link(const struct npbpf_ctx *c, struct npbpf_state *st,
				      const struct npbpf_endpoint *ep, int parsed)
{
	const struct npbpf_pkt *p = &st->pkt;
	int r;

	if (st->hook == NPBPF_DIR_INGRESS) {
		if (parsed == PARSE_ARP || (parsed == PARSE_ND && nd_stays_to_pod(c, st)))
			return 1;
		st->own = p->t.family && ep_owns(ep, p->t.family, p->t.daddr);
		return 0;
	}
	if ((ep->flags & NPBPF_EP_HAS_MAC) && !mac_eq(p->eth_src, ep->mac))
		return -NPBPF_DROP_SPOOFED;
	if (parsed == PARSE_ARP) {
		r = arp_from_pod(ep, p);
		return r < 0 ? r : 1;
	}
	if (!p->t.family)
		return -NPBPF_DROP_NOT_IP;
	if (parsed == PARSE_ND && nd_stays_from_pod(c, st)) {
		r = nd_from_pod(c, ep, p);
		return r < 0 ? r : 1;
	}
	if (!ep_owns(ep, p->t.family, p->t.saddr))
		return -NPBPF_DROP_SPOOFED;
	if (tunnel_to_node(p))
		return -NPBPF_DROP_TUNNEL;
	st->own = 1;
	return 0;
}

/*
 * A pending pod (npbpf_pending: npbpf-cni attached the programs, the agent
 * has not bound it): isolated both ways, after the same link checks as a
 * bound pod. Only the node reaches it (its probes; not with
 * NPBPF_CFG_ENFORCE_HOST), tracked in the pod's conntrack map so that the
 * pod's replies pass and nothing else it sends does. The entries carry the
 * revision of their creation: once the agent binds the pod and syncs, the
 * next packet of each is judged again by the pod's policy.
 */
static __always_inline int pending_decide(struct npbpf_state *st, int parsed)
{
	const struct npbpf_pkt *p = &st->pkt;
	struct npbpf_ct_value *v;
	struct npbpf_ct_key k;
	int hit = CT_MISS;

	if (parsed < 0 || !st->ct || p->frag != PKT_FRAG_NONE ||
	    (st->cfg.flags & NPBPF_CFG_ENFORCE_HOST))
		return -NPBPF_DROP_PENDING;
	k = p->t;
	k.dir = st->hook;
	v = ct_lookup(st->ct, &k, st->hook, st->now, &hit);
	if (v) {
		if (p->t.proto == NPBPF_PROTO_TCP)
			ct_tcp_update(v, hit == CT_REPLY, p->tcp_flags);
		else
			ct_other_update(v, hit == CT_REPLY);
		ct_touch(v, st->now);
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT);
	}
	if (st->hook != NPBPF_DIR_INGRESS || addr_locality(p->t.saddr, p->t.family) != LOC_NODE)
		return -NPBPF_DROP_PENDING;
	if (!pkt_is_icmp(p) || icmp_is_echo_request(p->t.family, p->icmp_type)) {
		ct_create(st->ct, &k, st->now, st->cfg.revision, NPBPF_ID_HOST, st->subject);
		/* A bound pod's cached denials on this veth (the ifindex reused
		 * before the agent's sync) must not outlive the entry. */
		deny_ct_created(st->ifindex);
	}
	return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_PENDING_HOST);
}

/* Whether the packet's verdict may come from, and go to, the denial cache
 * (denycache.h says why exactly these). */
static __always_inline int deny_cache_applies(const struct npbpf_state *st, int parsed)
{
	const struct npbpf_pkt *p = &st->pkt;

	if (!st->own || parsed != PARSE_IP || p->frag != PKT_FRAG_NONE)
		return 0;
	if (p->t.proto == NPBPF_PROTO_TCP)
		return (p->tcp_flags & (NPBPF_TCP_SYN | NPBPF_TCP_ACK)) == NPBPF_TCP_SYN;
	return !(pkt_is_icmp(p) && icmp_is_error(p->t.family, p->icmp_type));
}

/* Step 1: one read per packet. The loader flips generation/revision with
 * single stores, and this packet sees one consistent copy. */
static __always_inline void config_read(struct npbpf_config *to)
{
	struct npbpf_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&npbpf_config, &zero);
	if (cfg) {
		to->revision = *(volatile __u32 *)&cfg->revision;
		to->generation = *(volatile __u32 *)&cfg->generation;
		to->flags = *(volatile __u32 *)&cfg->flags;
		to->events_per_sec = *(volatile __u32 *)&cfg->events_per_sec;
	} else {
		__builtin_memset(to, 0, sizeof(*to)); /* never: one-slot array */
	}
}

/* Steps 2-9 for a packet the denial cache did not answer (d: its probe). */
static __always_inline int enforce(const struct npbpf_ctx *c, struct npbpf_state *st,
				   struct deny_probe *d)
{
	struct npbpf_pkt *p = &st->pkt;
	struct npbpf_endpoint *ep;
	int parsed, r, pending = 0, cache;

	ep = bpf_map_lookup_elem(&npbpf_endpoint, &st->ifindex);
	if (!ep) {
		ep = bpf_map_lookup_elem(&npbpf_pending, &st->ifindex);
		if (!ep)
			return -NPBPF_DROP_NO_ENDPOINT;
		pending = 1;
	}
	st->subject = pending ? NPBPF_ID_UNKNOWN_POD : ep->identity;

	parsed = parse_packet(c, p, st->hook == NPBPF_DIR_EGRESS, st->cfg.flags);
	if (parsed == -NPBPF_DROP_VLAN)
		return parsed;
	r = check_link(c, st, ep, parsed);
	if (r < 0)
		return r;
	if (r > 0)
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_CONTROL);
	/* The probe read the endpoint's conntrack epoch before this packet
	 * was judged (denycache.h): what a denial of it is stamped with. */
	cache = d->form != DENY_FORM_NONE && !pending && deny_cache_applies(st, parsed);
	/*
	 * CLOCK_MONOTONIC at tick resolution (1-10 ms), read here: every use
	 * of now below is a timeout or an age in seconds, a once-a-second
	 * touch, an event stamp or the event rate limit, none of which needs
	 * more. It reads the last tick's time instead of the clock source: in
	 * a VM (kvm-clock) about 25 ns a packet less than bpf_ktime_get_ns,
	 * measured by npbpf bench verdict. Not before: what returned above (a
	 * link check) needs no clock, and the
	 * event rate limiter reads it only when a tick has passed (events.h).
	 */
	st->now = bpf_ktime_get_coarse_ns();
	/* Not for a bare SYN of a bound pod: it is judged without conntrack,
	 * and decide() looks the map up only if it is allowed, so a flood of
	 * denied connections spares the lookup. */
	if (st->own && (pending || !pkt_is_bare_syn(p)))
		st->ct = ct_map_of(st->ifindex);
	if (pending)
		return pending_decide(st, parsed);

	if (parsed < 0) {
		if (subject_isolated(subject_lookup(st->subject, st->cfg.generation), st->hook))
			return parsed;
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED);
	}

	if (p->frag == PKT_FRAG_LATER)
		return later_fragment(c, st);

	r = decide(c, st, 1);
	if (cache && deny_cacheable(r))
		deny_insert(c, d, p, &st->cfg, st->ifindex, st->hook, r);
	if (p->frag == PKT_FRAG_FIRST && st->own)
		frag_record(p, st->ifindex, st->hook, st->now, st->cfg.revision, r >= 0);
	return r;
}

static __always_inline void event_emit(struct npbpf_state *st, __u8 reason)
{
	struct npbpf_event *e;

	/* Reads the clock into st->now if this packet had not, when it
	 * lets the event through. */
	if (!event_ratelimit_ok(st->cfg.events_per_sec, &st->now))
		return;
	e = bpf_ringbuf_reserve(&npbpf_events, sizeof(*e), 0);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = st->now;
	e->ifindex = st->ifindex;
	e->subject = st->subject;
	e->reason = reason;
	e->dir = st->hook;
	if (st->pkt.t.family) {
		e->peer = state_peer(st);
		e->proto = st->pkt.t.proto;
		e->family = st->pkt.t.family;
		__builtin_memcpy(e->saddr, st->pkt.t.saddr, 16);
		__builtin_memcpy(e->daddr, st->pkt.t.daddr, 16);
		e->sport = st->pkt.t.sport;
		e->dport = st->pkt.t.dport;
	}
	bpf_ringbuf_submit(e, 0);
}

/*
 * Runs the core for one packet at a hook of direction hook and does the
 * accounting: every packet is charged to one counter and to its endpoint's
 * counters, drops also to an event (rate limited); a pass at XDP leaves TC
 * the mark that spares it judging again (xdpmark.h).
 * Returns 1 to pass, 0 to drop.
 */
static __always_inline int npbpf_run(const struct npbpf_ctx *c, __u8 hook)
{
	struct npbpf_state st;
	struct deny_probe d;
	__u32 len;
	int r;

	st.ifindex = ctx_ifindex(c);
	config_read(&st.cfg);
	/* A repeated denial, while no event is due: dropped and counted as
	 * the full path would, before any of its work (denycache.h). */
	r = deny_probe(c, &d, &st.cfg, st.ifindex, hook);
	if (r && !event_due(st.cfg.events_per_sec)) {
		len = ctx_len(c);
		counter_add(~0u, (__u16)r, hook, NPBPF_VERDICT_DROP, len);
		epcnt_add(st.ifindex, 1, hook, NPBPF_VERDICT_DROP, len);
		return 0;
	}

	/* Only the parsed packet is zeroed (the parser fills what it finds and
	 * the key's unused bytes must be 0); the rest is set here and above. */
	__builtin_memset(&st.pkt, 0, sizeof(st.pkt));
	st.ct = NULL;
	st.subject = 0;
	st.peer = NPBPF_ID_ANY;
	st.policy = 0;
	st.rule = 0;
	st.own = 0;
	st.hook = hook;
	st.now = 0; /* read by enforce() once the packet is parsed and checked */
	r = enforce(c, &st, &d);
	len = ctx_len(c);
	if (r >= 0) {
		counter_add(st.policy, st.rule, hook, NPBPF_VERDICT_ALLOW, len);
		epcnt_add(st.ifindex, 1, hook, NPBPF_VERDICT_ALLOW, len);
		/* After the counters: the mark moves data_meta, not data. */
		if (c->xdp)
			xdp_mark_write((struct xdp_md *)c->ctx, st.ifindex, st.cfg.revision);
		return 1;
	}
	counter_add(~0u, (__u16)-r, hook, NPBPF_VERDICT_DROP, len);
	epcnt_add(st.ifindex, r != -NPBPF_DROP_NO_ENDPOINT, hook, NPBPF_VERDICT_DROP, len);
	event_emit(&st, (__u8)-r);
	return 0;
}

#endif /* NPBPF_BPF_ENFORCE_H */
