/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP fragments. Only the first fragment carries the transport header, so it
 * alone can be judged by policy; its verdict is remembered in npbpf_frag under
 * (saddr, daddr, id, proto, hook direction) and later fragments follow it.
 * A later fragment without a record (it overtook the first, the first was
 * never seen, or the record expired) is dropped for isolated pods: a deny
 * cannot be bypassed by sending only the later fragments, and a first
 * fragment that was dropped leaves a record that drops the rest.
 * The endpoint and direction in the key keep every hook's records its own:
 * a record is followed only at the veth and hook that judged the first
 * fragment (as conntrack entries, conntrack.h). Each record carries the
 * policy revision of its verdict: when the policy changed before a later
 * fragment came, that fragment is judged again as its first fragment would
 * be now (the record keeps the first fragment's ports), and the record takes
 * the new verdict.
 */
#ifndef NPBPF_BPF_FRAG_H
#define NPBPF_BPF_FRAG_H

#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "conntrack.h"
#include "maps.h"
#include "parse.h"

/* A record is followed for at most this long after the first fragment: the
 * kernel's own reassembly gives up after 30 s (IPv4) and 60 s (IPv6). */
#define NPBPF_FRAG_TIMEOUT_NS (60 * NPBPF_NSEC_PER_SEC)

static __always_inline void frag_key(struct npbpf_frag_key *k, const struct npbpf_pkt *p,
				     __u32 ifindex, __u8 hook)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->saddr, p->t.saddr, 16);
	__builtin_memcpy(k->daddr, p->t.daddr, 16);
	k->id = p->frag_id;
	k->ifindex = ifindex;
	k->proto = p->t.proto;
	k->family = p->t.family;
	k->dir = hook;
}

/* The live record of the first fragment for a later one, or NULL. */
static __always_inline struct npbpf_frag_value *frag_lookup(const struct npbpf_pkt *p,
							    __u32 ifindex, __u8 hook, __u64 now)
{
	struct npbpf_frag_key k;
	struct npbpf_frag_value *v;

	frag_key(&k, p, ifindex, hook);
	v = bpf_map_lookup_elem(&npbpf_frag, &k);
	if (!v || ct_age(now, v->created_ns) > (__s64)NPBPF_FRAG_TIMEOUT_NS)
		return NULL;
	return v;
}

/* Copies the first fragment's transport fields recorded in v into p, a later
 * fragment of the same datagram, so it can be judged as its first was. */
static __always_inline void frag_restore(struct npbpf_pkt *p, const struct npbpf_frag_value *v)
{
	p->t.sport = v->sport;
	p->t.dport = v->dport;
	p->tcp_flags = v->tcp_flags;
	p->icmp_type = v->icmp_type;
}

static __always_inline void frag_record(const struct npbpf_pkt *p, __u32 ifindex, __u8 hook,
					__u64 now, __u32 revision, int allowed)
{
	struct npbpf_frag_key k;
	struct npbpf_frag_value v;

	frag_key(&k, p, ifindex, hook);
	__builtin_memset(&v, 0, sizeof(v));
	v.created_ns = now;
	v.revision = revision;
	v.sport = p->t.sport;
	v.dport = p->t.dport;
	v.allowed = allowed ? 1 : 0;
	v.tcp_flags = p->tcp_flags;
	v.icmp_type = p->icmp_type;
	bpf_map_update_elem(&npbpf_frag, &k, &v, BPF_ANY);
}

#endif /* NPBPF_BPF_FRAG_H */
