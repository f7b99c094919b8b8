/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The denial cache: a flood that policy denies is judged once, and its
 * repeats cost one per-CPU array slot instead of the whole new-flow path
 * (conntrack map of maps, 1-2 conntrack lookups, subject, ipcache, policy).
 *
 * A slot remembers "at endpoint ifindex, hook H, this tuple of this kind of
 * packet was dropped for reason R" with everything the verdict was judged
 * from, and is only believed while all of it is unchanged:
 *  - the config's revision and generation (every sync that changes policy,
 *    identities, endpoints or the ipcache bumps the revision; the agent's
 *    incremental ipcache path too): a policy change reaches a cached denial
 *    at once, on every CPU, since every packet compares its own one read of
 *    the config;
 *  - the endpoint's identity;
 *  - the endpoint's conntrack epoch (npbpf_ctepoch[ifindex % 1024]): a
 *    conntrack entry created in the endpoint's map can make a denied tuple
 *    pass (the pod answers a flow its peer opened on the same port pair).
 *    decide() bumps the epoch after every insert, and a probe reads it
 *    before anything else, so a denial cached while the entry was being
 *    created is never believed. Endpoints sharing an epoch only cost each
 *    other misses.
 * The key is the whole parsed tuple, the hook, the endpoint's ifindex and,
 * for ICMP, the type (echo is tracked, other types are not), compared word
 * by word on a hit; the hash only picks the slot.
 *
 * What is probed and cached: bare TCP SYNs (judged by policy alone, without
 * conntrack), UDP, SCTP, other protocols and ICMP other than errors, and
 * only their NPBPF_DROP_POLICY verdicts, which depend on nothing but the
 * above. Never probed (judged in full every time): TCP without a bare SYN
 * (conntrack first: established flows pay no probe, and an ACK flood costs
 * what it did), fragments (their records), ICMP errors (related to a flow
 * whose entry's revision moves without a conntrack insert), pending
 * endpoints, unparseable packets, link plumbing, and every packet that is
 * not the pod's own (st->own: at from-pod its source was validated, at
 * to-pod it is addressed to the pod itself). NPBPF_DROP_UNKNOWN_POD is not
 * cached: npbpf_segment is written by npbpf-cni without a revision bump.
 * The probe comes after the link checks and source validation, so a
 * spoofed packet never reaches the cache, neither to insert nor to hit.
 *
 * Why this is no way to deny someone else's flow: an entry is found only at
 * the endpoint (ifindex) and hook whose own packet created it, for the same
 * tuple, and it only repeats what judging that packet again would answer;
 * another pod's packets carry another ifindex. A pod flooding tuples that
 * collide evicts others' slots on its CPU: they are judged in full again,
 * never differently.
 *
 * Per CPU, so no locking: a slot is written and read by programs on its own
 * CPU, which run with bottom halves off (TC, XDP) and cannot interrupt one
 * another halfway through a slot.
 */
#ifndef NPBPF_BPF_DENYCACHE_H
#define NPBPF_BPF_DENYCACHE_H

#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "maps.h"
#include "parse.h"

/* A packet's probe: the key's last word, the slot the key maps to, the
 * endpoint's conntrack epoch when the probe was made (what an insert is
 * stamped with). The rest of the key is the packet's own tuple, read in
 * place: nothing is copied unless the verdict is cached. */
struct deny_probe {
	__u64 where;
	__u32 idx;
	__u32 epoch;
};

#define DENY_WHERE(ifindex, hook, kind)                                                            \
	((__u64)(ifindex) | ((__u64)(hook) << 32) | ((__u64)(kind) << 40))

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

/*
 * Probes for packet p (tuple parsed, not a fragment) at endpoint ifindex,
 * hook. Returns the cached drop reason, or 0 when the packet must be judged
 * (and then may be cached with deny_insert). The key's words are XORed and
 * spread by one multiplication whose top bits pick the slot: weak on
 * purpose, a slot is a hint and the whole key is compared.
 */
static __always_inline int deny_lookup(struct deny_probe *d, const struct npbpf_pkt *p,
				       const struct npbpf_config *cfg, __u32 ifindex, __u8 hook,
				       __u32 subject)
{
	/* p->t is at offset 0 of the 8-byte aligned state (enforce.h). */
	const __u64 *w = (const __u64 *)&p->t;
	struct npbpf_deny_slot *s;
	__u32 *e, eidx = deny_epoch_index(ifindex);
	__u8 kind = 0;

	/* The epoch first: a conntrack insert racing with this packet bumps
	 * it after inserting, so an older epoch is never stamped on a
	 * verdict that saw no entry where one now exists. */
	e = bpf_map_lookup_elem(&npbpf_ctepoch, &eidx);
	d->epoch = e ? *(volatile __u32 *)e : 0; /* never NULL: eidx is in range */
	/* ICMP is judged by type (echo is tracked, the rest is not); TCP
	 * comes here only as a bare SYN. */
	if (pkt_is_icmp(p))
		kind = p->icmp_type;
	d->where = DENY_WHERE(ifindex, hook, kind);
	d->idx = (__u32)(((w[0] ^ w[1] ^ w[2] ^ w[3] ^ w[4] ^ d->where) * 0x9e3779b97f4a7c15ull) >>
			 56) &
		 (NPBPF_DENY_SLOTS - 1);
	s = bpf_map_lookup_elem(&npbpf_deny, &d->idx);
	if (!s || ((s->t[0] ^ w[0]) | (s->t[1] ^ w[1]) | (s->t[2] ^ w[2]) | (s->t[3] ^ w[3]) |
		   (s->t[4] ^ w[4]) | (s->where ^ d->where)))
		return 0;
	if (s->revision != cfg->revision || s->generation != cfg->generation ||
	    s->subject != subject || s->epoch != d->epoch)
		return 0;
	return (int)s->reason;
}

/* Whether a verdict may be cached (see the top of this file). */
static __always_inline int deny_cacheable(int r)
{
	return r == -NPBPF_DROP_POLICY;
}

/* Remembers the drop r (negative) of the probe's packet p on this CPU. */
static __always_inline void deny_insert(const struct deny_probe *d, const struct npbpf_pkt *p,
					const struct npbpf_config *cfg, __u32 subject, int r)
{
	const __u64 *w = (const __u64 *)&p->t;
	struct npbpf_deny_slot *s = bpf_map_lookup_elem(&npbpf_deny, &d->idx);

	if (!s)
		return;
	s->t[0] = w[0];
	s->t[1] = w[1];
	s->t[2] = w[2];
	s->t[3] = w[3];
	s->t[4] = w[4];
	s->where = d->where;
	s->revision = cfg->revision;
	s->generation = cfg->generation;
	s->subject = subject;
	s->epoch = d->epoch;
	s->reason = (__u32)-r;
}

#endif /* NPBPF_BPF_DENYCACHE_H */
