/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The denial cache: a flood that policy denies is judged once, and its
 * repeats are dropped at the top of the program, before the packet state
 * is set up, the endpoint looked up or the packet parsed: one per-CPU
 * array slot compared against the frame's first bytes in place.
 *
 * What a slot holds. When the full path drops a packet for
 * NPBPF_DROP_POLICY, the frame's header window (below) is stored with a
 * mask of the bits the verdict was judged from: the Ethernet header, the IP
 * version (and IHL), the fragment bits except DF, the protocol, both
 * addresses, the ports (ICMP: type, code and identifier), TCP's SYN and ACK
 * bits. What the mask leaves out (TOS/traffic class, lengths, IP ID, DF,
 * TTL/hop limit, checksums, sequence numbers, payload) is read by no step
 * of the verdict. A repeat is a frame whose masked window is equal, at the
 * same endpoint (ifindex) and hook, judged under the same
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
 *   and pending_decide() bump the epoch after every insert, and a
 *   cacheable packet reads it before it is judged, so a denial cached
 *   while an entry was being created is never believed. Endpoints sharing
 *   an epoch only cost each other misses.
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
 *  - IPv4 without options (IHL 5): bytes 0-39, and 40-47 when the frame has
 *    them (TCP's flags are byte 47);
 *  - IPv6 with the transport header right after the fixed header: bytes
 *    0-55, 54-61 (the ports, the ICMPv6 type and identifier) and 60-67 when
 *    the frame has them (TCP's flags are byte 67). Frames shorter than 62
 *    bytes are not probed.
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
 * Per CPU, so no locking: a slot is written and read by programs on its own
 * CPU, which run with bottom halves off (TC, XDP) and cannot interrupt one
 * another halfway through a slot.
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
	DENY_FORM_NONE = 0,
	DENY_FORM_V4 = 1,
	DENY_FORM_V6 = 2,
};

/* A packet's probe: the slot its window maps to, its form, and the
 * endpoint's conntrack epoch before the packet was judged (what an insert
 * is stamped with). */
struct deny_probe {
	__u32 idx;
	__u32 epoch;
	__u8 form;
};

/* The window as bytes, for building masks without caring for byte order. */
union deny_window {
	__u8 b[NPBPF_DENY_WORDS * 8];
	__u64 w[NPBPF_DENY_WORDS];
};

static __always_inline __u32 deny_epoch_index(__u32 ifindex)
{
	return ifindex & (NPBPF_CT_EPOCHS - 1);
}

/* After a conntrack entry was created in the map of endpoint ifindex. */
static __always_inline void deny_ct_created(__u32 ifindex)
{
	__u32 idx = deny_epoch_index(ifindex);
	__u32 *e = bpf_map_lookup_elem(&npbpf_ctepoch, &idx);

	if (e)
		__sync_fetch_and_add(e, 1);
}

/* The window's word i of a frame of form at data, or 0 where the frame
 * ends first. deny_form() checked the length of all but the last word of
 * each form; the constant offsets let the compiler keep one bounds check. */
static __always_inline __u64 deny_word(void *data, void *end, int form, int i)
{
	static const __u8 v6[NPBPF_DENY_WORDS] = {0, 8, 16, 24, 32, 40, 48, 54, 60};
	__u32 at = form == DENY_FORM_V4 ? (__u32)i * 8 : v6[i];

	if (data + at + 8 > end)
		return 0;
	return *(__u64 *)(data + at);
}

/* The masked window of the frame differs from slot s's (0: equal). */
static __always_inline __u64 deny_diff(void *data, void *end, int form,
				       const struct npbpf_deny_slot *s)
{
	__u64 diff = 0;

	if (form == DENY_FORM_V4) {
#pragma unroll
		for (int i = 0; i < 6; i++)
			diff |= (deny_word(data, end, form, i) & s->m[i]) ^ s->v[i];
		return diff; /* a v6 slot differs in the ethertype (word 1) */
	}
#pragma unroll
	for (int i = 0; i < NPBPF_DENY_WORDS; i++)
		diff |= (deny_word(data, end, form, i) & s->m[i]) ^ s->v[i];
	return diff;
}

/*
 * The frame's form, and its slot in *idx. The slot's hash reads only bytes
 * every slot of the form compares (addresses, the first port or the ICMP
 * type and code, the second port except for ICMP, whose bytes there are
 * its checksum): a hint, the whole masked window is compared.
 */
/* The transport header's length for the protocols the cache holds (ICMP:
 * up to the echo identifier), 0 for the others. */
static __always_inline __u32 deny_l4_len(__u8 proto)
{
	switch (proto) {
	case NPBPF_PROTO_TCP:
		return 20;
	case NPBPF_PROTO_SCTP:
		return 12;
	case NPBPF_PROTO_UDP:
	case NPBPF_PROTO_ICMP:
	case NPBPF_PROTO_ICMPV6:
		return 8;
	}
	return 0;
}

static __always_inline int deny_form(void *data, void *end, __u32 ifindex, __u8 hook, __u32 *idx)
{
	__u32 h, len = (__u32)(end - data);

	if (data + 40 > end)
		return DENY_FORM_NONE;
	if (*(__u16 *)(data + 12) == bpf_htons(ETH_P_IP)) {
		__u8 proto = *(__u8 *)(data + 23);

		/* The whole transport header, as the parser needs it: a shorter
		 * frame is its to judge (unparseable). */
		if (len < 34 + deny_l4_len(proto) || !deny_l4_len(proto))
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

		if (len < 54 + deny_l4_len(nh) || !deny_l4_len(nh))
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
	*idx = (__u32)((((__u64)(h ^ ifindex) << 1 | hook) * 0x9e3779b97f4a7c15ull) >> 56) &
	       (NPBPF_DENY_SLOTS - 1);
	return *(__u16 *)(data + 12) == bpf_htons(ETH_P_IP) ? DENY_FORM_V4 : DENY_FORM_V6;
}

/*
 * Probes for the frame at endpoint ifindex, hook, under cfg (the packet's
 * one read of the config). Returns the cached drop reason, or 0 when the
 * frame must be judged; d is then what deny_insert() needs. The window is
 * compared in place, word by word.
 */
static __always_inline int deny_probe(const struct npbpf_ctx *c, struct deny_probe *d,
				      const struct npbpf_config *cfg, __u32 ifindex, __u8 hook)
{
	void *data = ctx_data(c), *end = ctx_data_end(c);
	struct npbpf_deny_slot *s;
	__u32 *e, eidx = deny_epoch_index(ifindex);

	d->epoch = 0;
	d->form = DENY_FORM_NONE;
	/* A tag in skb metadata is the full path's to judge (from pods: a
	 * VLAN drop), and such a frame is never cached. */
	if (ctx_vlan_meta(c))
		return 0;
	d->form = deny_form(data, end, ifindex, hook, &d->idx);
	if (d->form == DENY_FORM_NONE)
		return 0;
	s = bpf_map_lookup_elem(&npbpf_deny, &d->idx);
	if (!s || s->ifindex != ifindex || s->hook != hook || !s->reason ||
	    deny_diff(data, end, d->form, s) || s->revision != cfg->revision ||
	    s->generation != cfg->generation || s->flags != cfg->flags)
		return 0;
	e = bpf_map_lookup_elem(&npbpf_ctepoch, &eidx);
	if (!e || s->epoch != *(volatile __u32 *)e)
		return 0;
	return s->reason;
}

/* Before a cacheable packet is judged: the endpoint's conntrack epoch, what
 * its denial will be stamped with. Read before the judgement: a conntrack
 * insert racing with this packet bumps it after inserting, so an older
 * epoch is never stamped on a verdict that saw no entry where one now
 * exists. */
static __always_inline void deny_epoch_read(struct deny_probe *d, __u32 ifindex)
{
	__u32 *e, eidx = deny_epoch_index(ifindex);

	e = bpf_map_lookup_elem(&npbpf_ctepoch, &eidx);
	d->epoch = e ? *(volatile __u32 *)e : 0; /* never NULL: eidx is in range */
}

/* Whether a verdict may be cached (see the top of this file). */
static __always_inline int deny_cacheable(int r)
{
	return r == -NPBPF_DROP_POLICY;
}

/*
 * The mask of the bits the verdict of p was judged from, in the window of
 * form (positions in the window, see the top of this file). Returns 0 when
 * the frame is not what the form says (IPv4 options, IPv6 extension
 * headers, a protocol or ICMP type that is never cached).
 */
static __always_inline int deny_mask(union deny_window *m, const union deny_window *w,
				     const struct npbpf_pkt *p, int form)
{
	__u8 proto = p->t.proto;

	__builtin_memset(m, 0, sizeof(*m));
	if (form == DENY_FORM_V4) {
		if (w->b[14] != 0x45 || w->b[23] != proto || p->t.family != NPBPF_FAMILY_V4)
			return 0;
		__builtin_memset(&m->b[0], 0xff, 15); /* MACs, ethertype, version + IHL */
		m->b[20] = 0xbf;		      /* fragment bits but DF */
		m->b[21] = 0xff;
		m->b[23] = 0xff;		      /* protocol */
		__builtin_memset(&m->b[26], 0xff, 8); /* addresses */
		if (proto == NPBPF_PROTO_ICMP) {
			m->b[34] = 0xff; /* type, code */
			m->b[35] = 0xff;
			m->b[38] = 0xff; /* identifier */
			m->b[39] = 0xff;
			return 1;
		}
		if (!proto_has_ports(proto))
			return 0;
		__builtin_memset(&m->b[34], 0xff, 4); /* ports */
		if (proto == NPBPF_PROTO_TCP)
			m->b[47] = NPBPF_TCP_SYN | NPBPF_TCP_ACK;
		return 1;
	}
	if (form != DENY_FORM_V6 || (w->b[14] & 0xf0) != 0x60 || w->b[20] != proto ||
	    p->t.family != NPBPF_FAMILY_V6)
		return 0;
	__builtin_memset(&m->b[0], 0xff, 14);  /* MACs, ethertype */
	m->b[14] = 0xf0;		       /* version */
	m->b[20] = 0xff;		       /* next header */
	__builtin_memset(&m->b[22], 0xff, 32); /* addresses */
	/* Window bytes 56-63 are frame bytes 54-61, 64-71 are 60-67. */
	if (proto == NPBPF_PROTO_ICMPV6) {
		if (p->icmp_type >= NPBPF_ICMP6_MLD_QUERY &&
		    p->icmp_type <= NPBPF_ICMP6_MLD2_REPORT)
			return 0; /* ND, MLD: judged by hop limit and payload */
		m->b[56] = 0xff;  /* type, code */
		m->b[57] = 0xff;
		m->b[60] = 0xff; /* identifier */
		m->b[61] = 0xff;
		return 1;
	}
	if (!proto_has_ports(proto))
		return 0;
	__builtin_memset(&m->b[56], 0xff, 4); /* ports */
	if (proto == NPBPF_PROTO_TCP)
		m->b[71] = NPBPF_TCP_SYN | NPBPF_TCP_ACK;
	return 1;
}

/* Remembers the drop r (negative) of the probed frame, whose parse is p,
 * on this CPU. Built in the slot itself (the stack has no room to spare);
 * a frame that turns out not to be cacheable leaves the slot empty. */
static __always_inline void deny_insert(const struct npbpf_ctx *c, const struct deny_probe *d,
					const struct npbpf_pkt *p, const struct npbpf_config *cfg,
					__u32 ifindex, __u8 hook, int r)
{
	void *data = ctx_data(c), *end = ctx_data_end(c);
	struct npbpf_deny_slot *s;
	__u32 idx;

	if (deny_form(data, end, ifindex, hook, &idx) != d->form || idx != d->idx)
		return;
	s = bpf_map_lookup_elem(&npbpf_deny, &idx);
	if (!s)
		return;
	s->reason = 0;
#pragma unroll
	for (int i = 0; i < NPBPF_DENY_WORDS; i++)
		s->v[i] = d->form == DENY_FORM_V4 && i > 5 ? 0 : deny_word(data, end, d->form, i);
	if (!deny_mask((union deny_window *)s->m, (const union deny_window *)s->v, p, d->form))
		return;
#pragma unroll
	for (int i = 0; i < NPBPF_DENY_WORDS; i++)
		s->v[i] &= s->m[i];
	s->ifindex = ifindex;
	s->hook = hook;
	s->revision = cfg->revision;
	s->generation = cfg->generation;
	s->flags = cfg->flags;
	s->epoch = d->epoch;
	s->reason = (__u8)-r;
}

#endif /* NPBPF_BPF_DENYCACHE_H */
