/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Address -> identity (the ipcache). Same answer as compiled_addr_identity()
 * in user/compile.c:
 *  1. npbpf_ipc_host, exact full-length address (pods, the node): a hash, so
 *     the common case does not slow down as pods are added;
 *  2. npbpf_segment, this node's pod segments as npbpf-cni saw them: an
 *     address there that (1) does not name is NPBPF_ID_UNKNOWN_POD (a pod
 *     being wired, which the agent has not bound), the segment's gateway the
 *     node; an entry saying world is a known non-pod address there (an
 *     unenforced pod, a lab's external host): on to (3) like any address.
 *     Empty without npbpf-cni, then this step always misses;
 *  3. npbpf_ipc_cidr, longest ipBlock prefix (a CIDR identity);
 *  4. NPBPF_ID_WORLD.
 * Identities are generation-independent: the loader adds new addresses before
 * a flip and removes stale ones after, so no generation bit is needed here.
 */
#ifndef NPBPF_BPF_IDENTITY_H
#define NPBPF_BPF_IDENTITY_H

#include <bpf/bpf_helpers.h>

#include <npbpf/tables.h>

#include "maps.h"

/* The ipcache key of a full-length address (key->a is the exact-address
 * hash key; prefixlen is left for the trie lookup). */
static __always_inline void ipc_key(struct npbpf_ipc_key *key, const __u8 *addr, __u8 family)
{
	/* Hash keys compare padding too: zero the whole key first. */
	__builtin_memset(key, 0, sizeof(*key));
	key->a.family = family;
	if (family == NPBPF_FAMILY_V4)
		__builtin_memcpy(key->a.addr, addr, 4);
	else
		__builtin_memcpy(key->a.addr, addr, 16);
}

static __always_inline __u32 identity_of(const __u8 *addr, __u8 family)
{
	struct npbpf_ipc_key key;
	struct npbpf_ipc_value *v;

	ipc_key(&key, addr, family);
	v = bpf_map_lookup_elem(&npbpf_ipc_host, &key.a);
	if (v)
		return v->identity;
	/* 32 bits of family + pad, then the address bits. */
	key.prefixlen = 32 + (family == NPBPF_FAMILY_V4 ? 32 : 128);
	v = bpf_map_lookup_elem(&npbpf_segment, &key);
	if (v && v->identity != NPBPF_ID_WORLD)
		return v->identity;
	v = bpf_map_lookup_elem(&npbpf_ipc_cidr, &key);
	if (v)
		return v->identity;
	return NPBPF_ID_WORLD;
}

enum npbpf_locality {
	LOC_ELSEWHERE = 0,
	LOC_NODE = 1, /* this node's own address (NPBPF_IPC_NODE) */
	LOC_POD = 2,  /* a pod of this node (NPBPF_IPC_ON_LINK) */
};

/* Where a full-length address is, as seen from this node's pods. */
static __always_inline int addr_locality(const __u8 *addr, __u8 family)
{
	struct npbpf_ipc_key key;
	struct npbpf_ipc_value *v;

	ipc_key(&key, addr, family);
	v = bpf_map_lookup_elem(&npbpf_ipc_host, &key.a);
	if (!v) {
		/* A segment's gateway is the node even before the agent
		 * knows that address (cni0 appears with the first pod). */
		key.prefixlen = 32 + (family == NPBPF_FAMILY_V4 ? 32 : 128);
		v = bpf_map_lookup_elem(&npbpf_segment, &key);
		if (!v)
			return LOC_ELSEWHERE;
	}
	if ((v->flags & NPBPF_IPC_NODE) || v->identity == NPBPF_ID_HOST)
		return LOC_NODE;
	return (v->flags & NPBPF_IPC_ON_LINK) ? LOC_POD : LOC_ELSEWHERE;
}

#endif /* NPBPF_BPF_IDENTITY_H */
