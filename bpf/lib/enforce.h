/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The enforcement core shared by the TC and XDP programs. A hook enforces one
 * direction of one pod: from-pod (TC ingress / XDP on the host-side veth) the
 * pod's EGRESS, to-pod (TC egress) its INGRESS.
 *
 * Per packet, in order (each step returns a verdict or falls through):
 *  1. config: one read, copied to the stack (generation, revision, flags);
 *  2. endpoint by ifindex: unknown veth -> NPBPF_DROP_NO_ENDPOINT (a pod the
 *     agent does not know yet is treated as isolated);
 *  3. parse: control (ARP, ND, MLD) passes; tagged frames from pods drop;
 *     unparseable drops when the pod is isolated in this direction;
 *  4. from-pod: source address must be the pod's -> else NPBPF_DROP_SPOOFED;
 *  5. later fragments follow the first fragment's recorded verdict (frag.h);
 *  6. ICMP errors quoting a tracked flow pass (related);
 *  7. conntrack hit (reply or opener's packet): passes, after a policy
 *     re-check when the revision moved; a bare TCP SYN skips this step;
 *  8. no entry: TCP without a bare SYN is no new flow (NPBPF_DROP_NO_CT when
 *     isolated); else the policy (policy.h) decides, and an allowed flow is
 *     tracked (of ICMP only echo is tracked; other messages are judged per
 *     packet).
 * An established packet costs config + endpoint + 1 ct lookup (2 when the
 * first key tried misses) + counter; a new TCP connection config + endpoint
 * + subject + ipcache + policy (1 lookup for the usual rule forms) +
 * counter, and a ct insert when allowed. The subject, ipcache and policy
 * tables are read only for new flows, re-checks and unparseable or
 * fragmented packets.
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
#include "events.h"
#include "frag.h"
#include "identity.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"

struct npbpf_state {
	struct npbpf_pkt pkt;
	struct npbpf_config cfg; /* the one read of npbpf_config for this packet */
	__u64 now;
	__u32 ifindex;
	__u32 subject; /* the endpoint's identity */
	__u32 peer;    /* the far end's identity; NPBPF_ID_ANY until looked up */
	__u32 policy;  /* what a pass is charged to: policy index or NPBPF_POLICY_NONE */
	__u16 rule;    /* rule index, or enum npbpf_allow_reason */
	__u8 hook;     /* enum npbpf_dir this hook enforces */
	__u8 pad;
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

static __always_inline int source_valid(const struct npbpf_endpoint *ep,
					const struct npbpf_pkt *p)
{
	const __u32 *s = (const __u32 *)p->t.saddr;

	if (p->t.family == NPBPF_FAMILY_V4)
		return (ep->flags & NPBPF_EP_HAS_V4) && s[0] == *(const __u32 *)ep->addr4;
	return (ep->flags & NPBPF_EP_HAS_V6) && addr_eq(p->t.saddr, ep->addr6);
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

	__builtin_memset(&k, 0, sizeof(k));
	if (parse_icmp_inner(c, p, &k))
		return 0;
	if (!addr_eq(k.saddr, p->t.daddr))
		return 0;
	if (st->hook == NPBPF_DIR_EGRESS && !addr_eq(k.daddr, p->t.saddr))
		return 0;
	v = ct_lookup(&k, st->hook ^ 1, st->now, &hit);
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
		bpf_map_delete_elem(&npbpf_ct, k);
		return -NPBPF_DROP_POLICY;
	}
	v->revision = st->cfg.revision;
	return 0;
}

/* Steps 6-8 for a packet with a transport header (or a protocol without). */
static __always_inline int decide(const struct npbpf_ctx *c, struct npbpf_state *st)
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
	v = untracked || tcp_syn ? NULL : ct_lookup(&k, st->hook, st->now, &hit);
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
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED);
	}

	peer = state_peer(st);
	r = policy_check(s, st->subject, st->cfg.generation, st->hook, peer, p->t.proto,
			 bpf_ntohs(p->t.dport), &by);
	if (r == POLICY_DENIED)
		return -NPBPF_DROP_POLICY;
	/* Flows are tracked even where this direction is unisolated: the
	 * replies cross the other hook, whose direction may be isolated, and
	 * the entry keeps them passing there. Of ICMP, only an echo request
	 * opens something to reply to. k: the packet's key, dir = hook. */
	if (!icmp || icmp_is_echo_request(p->t.family, p->icmp_type)) {
		if (st->hook == NPBPF_DIR_EGRESS)
			ct_create(&k, st->now, st->cfg.revision, st->subject, peer);
		else
			ct_create(&k, st->now, st->cfg.revision, peer, st->subject);
	}
	if (r == POLICY_RULE)
		return pass(st, by.policy, by.rule);
	return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED);
}

static __always_inline int enforce(const struct npbpf_ctx *c, struct npbpf_state *st)
{
	struct npbpf_pkt *p = &st->pkt;
	struct npbpf_endpoint *ep;
	struct npbpf_config *cfg;
	__u32 zero = 0;
	int r;

	/* One read per packet: the loader flips generation/revision with
	 * single stores, and this packet sees one consistent copy. */
	cfg = bpf_map_lookup_elem(&npbpf_config, &zero);
	if (cfg) {
		st->cfg.revision = *(volatile __u32 *)&cfg->revision;
		st->cfg.generation = *(volatile __u32 *)&cfg->generation;
		st->cfg.flags = *(volatile __u32 *)&cfg->flags;
		st->cfg.events_per_sec = *(volatile __u32 *)&cfg->events_per_sec;
	}

	ep = bpf_map_lookup_elem(&npbpf_endpoint, &st->ifindex);
	if (!ep)
		return -NPBPF_DROP_NO_ENDPOINT;
	st->subject = ep->identity;

	r = parse_packet(c, p, st->hook == NPBPF_DIR_EGRESS, st->cfg.flags);
	if (r == PARSE_CONTROL)
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_CONTROL);
	if (r == -NPBPF_DROP_UNPARSEABLE) {
		if (subject_isolated(subject_lookup(st->subject, st->cfg.generation), st->hook))
			return r;
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED);
	}
	if (r < 0)
		return r;

	if (st->hook == NPBPF_DIR_EGRESS && !source_valid(ep, p))
		return -NPBPF_DROP_SPOOFED;

	if (p->frag == PKT_FRAG_LATER) {
		r = frag_lookup(p, st->hook, st->now);
		if (r > 0)
			return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_FRAG);
		if (r == 0 ||
		    subject_isolated(subject_lookup(st->subject, st->cfg.generation), st->hook))
			return -NPBPF_DROP_FRAG;
		return pass(st, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED);
	}

	r = decide(c, st);
	if (p->frag == PKT_FRAG_FIRST)
		frag_record(p, st->hook, st->now, r >= 0);
	return r;
}

static __always_inline void event_emit(struct npbpf_state *st, __u8 reason)
{
	struct npbpf_event *e;

	if (!event_ratelimit_ok(st->cfg.events_per_sec, st->now))
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
 * accounting: every packet is charged to one counter, drops also to an event.
 * Returns 1 to pass, 0 to drop.
 */
static __always_inline int npbpf_run(const struct npbpf_ctx *c, __u8 hook)
{
	struct npbpf_state st;
	__u32 len;
	int r;

	__builtin_memset(&st, 0, sizeof(st));
	st.hook = hook;
	/* CLOCK_MONOTONIC at tick resolution (1-10 ms): every use of now is a
	 * timeout or an age in seconds, a once-a-second touch, an event stamp
	 * or the event rate limit, none of which needs more. It reads the last
	 * tick's time instead of the clock source: in a VM (kvm-clock) that
	 * is about 25 ns a packet less, measured by npbpf bench verdict. */
	st.now = bpf_ktime_get_coarse_ns();
	st.ifindex = ctx_ifindex(c);
	r = enforce(c, &st);
	len = ctx_len(c);
	if (r >= 0) {
		counter_add(st.policy, st.rule, hook, NPBPF_VERDICT_ALLOW, len);
		return 1;
	}
	counter_add(~0u, (__u16)-r, hook, NPBPF_VERDICT_DROP, len);
	event_emit(&st, (__u8)-r);
	return 0;
}

#endif /* NPBPF_BPF_ENFORCE_H */
