/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP fragments. Only the first fragment carries the transport header, so it
 * alone can be judged by policy; its verdict is remembered in npbpf_frag under
 * (saddr, daddr, id, proto, hook direction) and later fragments follow it.
 * A later fragment without a record (it overtook the first, the first was
 * never seen, or the record expired) is dropped for isolated pods: a deny
 * cannot be bypassed by sending only the later fragments, and a first
 * fragment that was dropped leaves a record that drops the rest.
 * The direction in the key keeps the two hooks of a same-node pair apart, as
 * in conntrack.h.
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
				     __u8 hook)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->saddr, p->t.saddr, 16);
	__builtin_memcpy(k->daddr, p->t.daddr, 16);
	k->id = p->frag_id;
	k->proto = p->t.proto;
	k->family = p->t.family;
	k->dir = hook;
}

/* Verdict of the first fragment for a later one: 1 allowed, 0 dropped,
 * -1 no (live) record. */
static __always_inline int frag_lookup(const struct npbpf_pkt *p, __u8 hook, __u64 now)
{
	struct npbpf_frag_key k;
	struct npbpf_frag_value *v;

	frag_key(&k, p, hook);
	v = bpf_map_lookup_elem(&npbpf_frag, &k);
	if (!v || ct_age(now, v->created_ns) > (__s64)NPBPF_FRAG_TIMEOUT_NS)
		return -1;
	return v->allowed != 0;
}

static __always_inline void frag_record(const struct npbpf_pkt *p, __u8 hook, __u64 now,
					int allowed)
{
	struct npbpf_frag_key k;
	struct npbpf_frag_value v;

	frag_key(&k, p, hook);
	__builtin_memset(&v, 0, sizeof(v));
	v.allowed = allowed ? 1 : 0;
	v.created_ns = now;
	bpf_map_update_elem(&npbpf_frag, &k, &v, BPF_ANY);
}

#endif /* NPBPF_BPF_FRAG_H */
