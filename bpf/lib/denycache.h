/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The denial cache: a flood that policy denies is judged once, and its
 * repeats are dropped at the top of the program, before the packet state
 * is set up, the endpoint looked up or the packet parsed: a slot of this
 * CPU's region compared against the frame's first bytes in place.
 *
 * What a slot holds. When the full path drops a packet for
 * NPBPF_DROP_POLICY, the frame's header window (below) is stored masked to
 * the bits the verdict was judged from: the Ethernet header, the IP
 * version (and IHL), the fragment bits except DF, the protocol, both
 * addresses, the ports (ICMP: type, code and identifier). TCP's SYN and
 * ACK bits, the only flags the verdict reads, are the same in every TCP
 * frame probed and slot stored: a bare SYN, nothing else is (below). What
 * the mask leaves out (TOS/traffic class, lengths, IP ID, DF, TTL/hop
 * limit, checksums, sequence numbers, payload) is read by no step of the
 * verdict. The mask is include/npbpf/denymask.h, shared with the tests.
 * A repeat is a frame whose masked window is equal, at the same endpoint
 * (ifindex) and hook, judged under the same
 * - config revision, generation and flags: the agent bumps the revision
 *   right after every write that changes a verdict (mapsync_exec.c: the
 *   relabelled pods' moves of step 3 and of each per-pod batch, the flip,
 *   step 8; the incremental ipcache path, even after a partial failure).
 *   The endpoint record is not read on a hit: a change reaches cached
 *   denials with that bump, at once, on every CPU, as it reaches
 *   established flows' re-checks;
 * - conntrack epoch of the endpoint (npbpf_ctepoch[ifindex % 1024]): an
 *   entry created in the endpoint's map can make a denied tuple pass (the
 *   pod answers a flow its peer opened on the same port pair). decide()
 *   and pending_decide() bump the epoch after every insert, and the probe
 *   reads it at the top of the program, before the packet is judged, so
 *   a denial cached while an entry was being created is never believed.
 *   Next to it a mark says a denial was cached at that epoch; while there
 *   is none (a pod nobody is being denied to or from, or whose last
 *   denial predates its last new flow) the probe reads nothing else: its
 *   allowed datagrams pay one array read. Endpoints sharing an epoch only
 *   cost each other misses.
 * What it stores is what judging the frame again would answer: a slot is
 * found only by a frame equal in every bit the verdict depends on.
 *
 * Not covered by a bump: npbpf-cni's writes (it never writes the config,
 * whose owner is the agent). When a veth's ifindex is reused and npbpf-cni
 * deletes the stale record of the pod that had it, a cached denial of that
 * pod's frames lasts until the agent's sync binds the new pod. It matches
 * only frames with the old pod's MACs and addresses, so it can only drop
 * (never pass) frames of a new pod that reuses all of them, for that
 * moment; the first conntrack entry the node's probes open retires it.
 *
 * The window: the frame's first bytes read in place as 8-byte words, in one
 * of two forms, anything else is neither probed nor cached:
 *  - IPv4 without options (IHL 5): bytes 0-39;
 *  - IPv6 with the transport header right after the fixed header: bytes
 *    0-55 and 54-61 (the ports, the ICMPv6 type and identifier).
 * A frame shorter than its whole transport header (as the parser needs it)
 * is not probed, nor is an IPv6 frame shorter than 62 bytes.
 * Only the linear part is read (TC: skb->data); a frame whose headers are
 * not all there is judged in full, as are VLAN-tagged frames, IPv4 options,
 * IPv6 extension headers and fragments.
 *
 * What is cached: NPBPF_DROP_POLICY verdicts of the pod's own packets
 * (st->own: at from-pod its source was validated against the endpoint, at
 * to-pod it is addressed to the pod) that are a bare TCP SYN, a UDP or SCTP
 * datagram, or an ICMP message other than an error, ND or MLD (whose
 * verdicts read the payload or the hop limit). Never: TCP without a bare
 * SYN (conntrack first; an ACK flood costs what it did), pending endpoints,
 * NPBPF_DROP_UNKNOWN_POD (npbpf_segment moves without a revision bump),
 * anything not the pod's own. A spoofed frame never inserts (the link
 * checks come first on the full path), and it never hits: the source MAC
 * and address are compared, and a slot of one endpoint never matches at
 * another's ifindex.
 *
 * Events: a cached drop is dropped without one only while the per-CPU event
 * bucket is empty within the clock tick; otherwise the frame goes the full
 * way and its event is as detailed as ever.
 *
 * Where a slot is: each CPU has a region of NPBPF_DENY_SLOTS slots in
 * npbpf_deny (maps.h), in sets of two neighbours; a hash of the addresses,
 * ports, endpoint and hook picks the set and which of the two is the
 * frame's first. The first answers unless it holds another live denial
 * (of this revision); only then is the second read. Two ways keep a
 * thousand denied flows cached (measured by npbpf bench drop, flows
 * sweep), where one way lost a fifth of them to collisions (256 slots
 * then). A flow whose first slot another holds costs a second read: with
 * 4,096 slots a CPU a tenth of a thousand flows did, and the flows sweep
 * lost about 3 % of its rate to them; 8,192 halve that for random flows.
 *
 * Per CPU, so no locking: a region is written and read by programs on its
 * own CPU, which run with bottom halves off (TC, XDP) and cannot interrupt
 * one another halfway through a slot.
 */
#ifndef NPBPF_BPF_DENYCACHE_H
#define NPBPF_BPF_DENYCACHE_H

#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "ctx.h"
#include "maps.h"
#include "parse.h"

enum deny_form {
	DENY_FORM_NONE = 0, /* never cached */
	DENY_FORM_V4 = 1,
	DENY_FORM_V6 = 2,
	DENY_FORM_ANY = 3, /* not worked out yet: deny_insert() does */
};

/* A packet's probe: whether its verdict may go to the cache (form: NONE
 * never, ANY when the insert is to work out the form) and the endpoint's
 * conntrack epoch before the packet was judged (what an insert is stamped
 * with). */
struct deny_probe {
	__u32 epoch;
	__u8 form;
};


static __always_inline __u32 deny_epoch_index(__u32 ifindex)
{
	return ifindex & (NPBPF_CT_EPOCHS - 1);
}

/* After a conntrack entry was created in the map of endpoint ifindex. */
static __always_inline void deny_ct_created(__u32 ifindex)
{
	__u32 idx = deny_epoch_index(ifindex);
	struct npbpf_ctepoch *e = bpf_map_lookup_elem(&npbpf_ctepoch, &idx);

	if (e)
		__sync_fetch_and_add(&e->epoch, 1);
}

/* The window's word i of a frame of form at data. deny_form() checked the
 * frame holds the whole window (IPv4: 40 bytes, IPv6: 62). */
static __always_inline __u64 deny_word(void *data, int form, int i)
{
	static const __u8 v6[NPBPF_DENY_WORDS] = {0, 8, 16, 24, 32, 40, 48, 54};

	return *(__u64 *)(data + (form == DENY_FORM_V4 ? i * 8 : v6[i]));
}

/* The mask of word i for the frame's form and class: only the last word's
 * depends on the class (ports or ICMP), all are immediates. */
static __always_inline __u64 deny_mword(int form, int l4, int i)
{
	int v6 = form == DENY_FORM_V6;

	if (i < (v6 ? NPBPF_DENY_WORDS : NPBPF_DENY_V4_WORDS) - 1)
		return npbpf_deny_mask_word(v6, NPBPF_DENY_L4_PORTS, i);
	return l4 == NPBPF_DENY_L4_ICMP ? npbpf_deny_mask_word(v6, NPBPF_DENY_L4_ICMP, i)
					: npbpf_deny_mask_word(v6, NPBPF_DENY_L4_PORTS, i);
}

/* The frame's word i, masked. */
static __always_inline __u64 deny_mwin(void *data, int form, int l4, int i)
{
	return deny_word(data, form, i) & deny_mword(form, l4, i);
}

/* The frame's bytes the window of form reads (deny_form() checked them; the
 * window's readers check again, so that the verifier need not follow the
 * form through the caller). */
static __always_inline int deny_window_in(void *data, void *end, int form)
{
	return data + (form == DENY_FORM_V4 ? 40 : 62) <= end;
}

/* The masked window of the frame differs from slot s's (0: equal). */
static __always_inline __u64 deny_diff(void *data, void *end, int form, int l4,
				       const struct npbpf_deny_slot *s)
{
	__u64 diff = 0;

	if (!deny_window_in(data, end, form))
		return 1;
	if (form == DENY_FORM_V4) {
#pragma unroll
		for (int i = 0; i < NPBPF_DENY_V4_WORDS; i++)
			diff |= deny_mwin(data, form, l4, i) ^ s->v[i];
		return diff; /* a v6 slot differs in the ethertype (word 1) */
	}
#pragma unroll
	for (int i = 0; i < NPBPF_DENY_WORDS; i++)
		diff |= deny_mwin(data, form, l4, i) ^ s->v[i];
	return diff;
}

/* The transport header's length for the protocols the cache holds (ICMP:
 * up to the echo identifier), 0 for the others; *l4 its class. */
static __always_inline __u32 deny_l4_len(__u8 proto, __u8 *l4)
{
	switch (proto) {
	case NPBPF_PROTO_TCP:
		*l4 = NPBPF_DENY_L4_PORTS;
		return 20;
	case NPBPF_PROTO_SCTP:
		*l4 = NPBPF_DENY_L4_PORTS;
		return 12;
	case NPBPF_PROTO_UDP:
		*l4 = NPBPF_DENY_L4_PORTS;
		return 8;
	case NPBPF_PROTO_ICMP:
	case NPBPF_PROTO_ICMPV6:
		*l4 = NPBPF_DENY_L4_ICMP;
		return 8;
	}
	return 0;
}

/*
 * The frame's form, its transport class in *l4, and the two slots it may
 * live in. The slots' hash reads only bytes every mask of the form
 * compares (addresses, the first port or the ICMP type and code, the
 * second port except for ICMP, whose bytes there are its checksum): a
 * hint, the whole masked window is compared.
 */
static __always_inline int deny_form(void *data, void *end, __u32 ifindex, __u8 hook,
				     __u32 idx[2], __u8 *l4)
{
	__u32 h, n, len = (__u32)(end - data);
	int form;
	__u64 hv;

	if (data + 40 > end)
		return DENY_FORM_NONE;
	if (*(__u16 *)(data + 12) == bpf_htons(ETH_P_IP)) {
		__u8 proto = *(__u8 *)(data + 23);

		form = DENY_FORM_V4;

		/* The whole transport header, as the parser needs it: a shorter
		 * frame is its to judge (unparseable). */
		n = deny_l4_len(proto, l4);
		if (!n || len < 34 + n)
			return DENY_FORM_NONE;
		/* TCP without a bare SYN is never cached: established flows
		 * pay no slot lookup. */
		if (proto == NPBPF_PROTO_TCP &&
		    (data + 48 > end ||
		     (*(__u8 *)(data + 47) & (NPBPF_TCP_SYN | NPBPF_TCP_ACK)) != NPBPF_TCP_SYN))
			return DENY_FORM_NONE;
		h = *(__u32 *)(data + 26) ^ (*(__u32 *)(data + 30) * 0x85ebca6bu) ^
		    *(__u16 *)(data + 34);
		if (proto != NPBPF_PROTO_ICMP)
			h ^= (__u32) * (__u16 *)(data + 36) << 16;
	} else if (*(__u16 *)(data + 12) == bpf_htons(ETH_P_IPV6) && data + 62 <= end) {
		__u8 nh = *(__u8 *)(data + 20);

		form = DENY_FORM_V6;

		n = deny_l4_len(nh, l4);
		if (!n || len < 54 + n)
			return DENY_FORM_NONE;
		if (nh == NPBPF_PROTO_TCP &&
		    (data + 68 > end ||
		     (*(__u8 *)(data + 67) & (NPBPF_TCP_SYN | NPBPF_TCP_ACK)) != NPBPF_TCP_SYN))
			return DENY_FORM_NONE;
		h = *(__u32 *)(data + 34) ^ (*(__u32 *)(data + 50) * 0x85ebca6bu) ^
		    *(__u16 *)(data + 54);
		if (nh != NPBPF_PROTO_ICMPV6)
			h ^= (__u32) * (__u16 *)(data + 56) << 16;
	} else {
		return DENY_FORM_NONE;
	}
	/* The set: the frame's first slot and its neighbour (one page, the
	 * same or the next cache line). */
	hv = ((__u64)(h ^ ifindex) << 1 | hook) * 0x9e3779b97f4a7c15ull;
	idx[0] = (__u32)(hv >> (64 - NPBPF_DENY_SLOT_BITS));
	idx[1] = idx[0] ^ 1;
	return form;
}

/* Slot idx of this CPU's region of npbpf_deny (maps.h); NULL on a CPU past
 * the map's size. */
static __always_inline struct npbpf_deny_slot *deny_slot(__u32 idx)
{
	__u32 key = bpf_get_smp_processor_id() * NPBPF_DENY_SLOTS + idx;

	return bpf_map_lookup_elem(&npbpf_deny, &key);
}

/* Slot s holds a denial judged under cfg (reason 0: empty; another
 * revision, generation or flags: stale, free to take). */
static __always_inline int deny_slot_live(const struct npbpf_deny_slot *s,
					  const struct npbpf_config *cfg)
{
	return s->reason && s->revision == cfg->revision && s->generation == cfg->generation &&
	       s->flags == cfg->flags;
}

/* Slot s holds the denial of the frame (its form and class) at ifindex,
 * hook, under cfg (the epoch aside). */
static __always_inline int deny_slot_same(const struct npbpf_deny_slot *s, void *data, void *end,
					  int form, int l4, const struct npbpf_config *cfg,
					  __u32 ifindex, __u8 hook)
{
	return s->ifindex == ifindex && s->hook == hook && deny_slot_live(s, cfg) &&
	       !deny_diff(data, end, form, l4, s);
}

/*
 * Probes for the frame at endpoint ifindex, hook, under cfg (the packet's
 * one read of the config). Returns the cached drop reason, or 0 when the
 * frame must be judged; d is then what deny_insert() needs. Reads the
 * endpoint's conntrack epoch first: while no denial was cached at this
 * epoch (the endpoint's allowed traffic, mostly) nothing else is read.
 * Then the set's first slot answers unless it holds another live denial;
 * only then is the second read (deny_insert() puts a frame there only
 * when the first was live). The window is compared in place.
 */
static __always_inline int deny_probe(const struct npbpf_ctx *c, struct deny_probe *d,
				      const struct npbpf_config *cfg, __u32 ifindex, __u8 hook)
{
	void *data = ctx_data(c), *end = ctx_data_end(c);
	__u32 idx[2] = {0, 0}, eidx = deny_epoch_index(ifindex);
	struct npbpf_ctepoch *e;
	struct npbpf_deny_slot *s;
	__u8 l4 = 0;
	int form;

	d->epoch = 0;
	d->form = DENY_FORM_NONE;
	/* A tag in skb metadata is the full path's to judge (from pods: a
	 * VLAN drop), and such a frame is never cached; nor is anything while
	 * the config turns the cache off. */
	if (ctx_vlan_meta(c) || (cfg->flags & NPBPF_CFG_NO_DENY_CACHE))
		return 0;
	e = bpf_map_lookup_elem(&npbpf_ctepoch, &eidx);
	if (!e)
		return 0; /* never: eidx is in range */
	d->epoch = *(volatile __u32 *)&e->epoch;
	d->form = DENY_FORM_ANY;
	if (*(volatile __u32 *)&e->denied != d->epoch + 1)
		return 0;
	form = deny_form(data, end, ifindex, hook, idx, &l4);
	if (form == DENY_FORM_NONE)
		return 0;
	s = deny_slot(idx[0]);
	if (!s)
		return 0;
	if (!deny_slot_same(s, data, end, form, l4, cfg, ifindex, hook)) {
		if (!deny_slot_live(s, cfg))
			return 0;
		s = deny_slot(idx[1]);
		if (!s || !deny_slot_same(s, data, end, form, l4, cfg, ifindex, hook))
			return 0;
	}
	return s->epoch == d->epoch ? s->reason : 0;
}

/* Whether a verdict may be cached (see the top of this file). */
static __always_inline int deny_cacheable(int r)
{
	return r == -NPBPF_DROP_POLICY;
}

/*
 * Whether the frame at data is what its form and class say, as the parse p
 * read it: IPv4 without options, IPv6 with the transport header next, the
 * protocol the parser judged, and for ICMPv6 no ND or MLD message (judged
 * by hop limit and payload).
 */
static __always_inline int deny_frame_fits(void *data, int form, __u8 l4,
					   const struct npbpf_pkt *p)
{
	__u8 proto = p->t.proto, pl4;

	if (!deny_l4_len(proto, &pl4) || pl4 != l4)
		return 0;
	if (form == DENY_FORM_V4)
		return *(__u8 *)(data + 14) == 0x45 && *(__u8 *)(data + 23) == proto &&
		       p->t.family == NPBPF_FAMILY_V4;
	if (form != DENY_FORM_V6 || (*(__u8 *)(data + 14) & 0xf0) != 0x60 ||
	    *(__u8 *)(data + 20) != proto || p->t.family != NPBPF_FAMILY_V6)
		return 0;
	return proto != NPBPF_PROTO_ICMPV6 || p->icmp_type < NPBPF_ICMP6_MLD_QUERY ||
	       p->icmp_type > NPBPF_ICMP6_MLD2_REPORT;
}

/*
 * The slot of the frame's set its denial goes to: the one that already
 * holds the frame (with an older epoch), else the first that holds no live
 * denial; when both hold other live denials, the set's even slot, so the
 * odd one keeps its denial and a set shared by three flows still answers
 * one of them.
 */
static __always_inline struct npbpf_deny_slot *
deny_slot_for(void *data, void *end, int form, __u8 l4, const __u32 idx[2],
	      const struct npbpf_config *cfg, __u32 ifindex, __u8 hook)
{
	struct npbpf_deny_slot *s0 = deny_slot(idx[0]), *s1;

	if (!s0)
		return NULL;
	if (!deny_slot_live(s0, cfg) || deny_slot_same(s0, data, end, form, l4, cfg, ifindex, hook))
		return s0;
	s1 = deny_slot(idx[1]);
	if (!s1)
		return NULL;
	if (!deny_slot_live(s1, cfg) || deny_slot_same(s1, data, end, form, l4, cfg, ifindex, hook))
		return s1;
	return idx[0] & 1 ? s1 : s0;
}

/* Remembers the drop r (negative) of the probed frame, whose parse is p,
 * on this CPU, and that the endpoint has a denial cached at its epoch. */
static __always_inline void deny_insert(const struct npbpf_ctx *c, const struct deny_probe *d,
					const struct npbpf_pkt *p, const struct npbpf_config *cfg,
					__u32 ifindex, __u8 hook, int r)
{
	void *data = ctx_data(c), *end = ctx_data_end(c);
	__u32 idx[2] = {0, 0}, eidx = deny_epoch_index(ifindex);
	struct npbpf_deny_slot *s;
	struct npbpf_ctepoch *e;
	__u8 l4 = 0;
	int form;

	form = deny_form(data, end, ifindex, hook, idx, &l4);
	if (form == DENY_FORM_NONE || !deny_window_in(data, end, form) ||
	    !deny_frame_fits(data, form, l4, p))
		return;
	s = deny_slot_for(data, end, form, l4, idx, cfg, ifindex, hook);
	e = bpf_map_lookup_elem(&npbpf_ctepoch, &eidx);
	if (!s || !e)
		return;
	s->reason = 0; /* empty until whole */
	if (form == DENY_FORM_V4) {
#pragma unroll
		for (int i = 0; i < NPBPF_DENY_WORDS; i++)
			s->v[i] = i < NPBPF_DENY_V4_WORDS ? deny_mwin(data, DENY_FORM_V4, l4, i) : 0;
	} else {
#pragma unroll
		for (int i = 0; i < NPBPF_DENY_WORDS; i++)
			s->v[i] = deny_mwin(data, DENY_FORM_V6, l4, i);
	}
	s->ifindex = ifindex;
	s->hook = hook;
	s->revision = cfg->revision;
	s->generation = cfg->generation;
	s->flags = cfg->flags;
	s->epoch = d->epoch;
	s->reason = (__u8)-r;
	/* Probes of the endpoint read slots again. Racing CPUs may write an
	 * older epoch's mark: their probes then skip the cache (judged in
	 * full) until the next insert writes it again; a hit still needs the
	 * slot's own epoch to be the current one. */
	e->denied = d->epoch + 1;
}

#endif /* NPBPF_BPF_DENYCACHE_H */
