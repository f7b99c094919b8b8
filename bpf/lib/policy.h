/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy lookup: may `subject` send to (egress) / receive from (ingress)
 * `peer` on proto/port? The same order as verdict_dir() in user/verdict.c,
 * so explain and the kernel answer from the same entries:
 *
 *  0. No npbpf_subject record for the subject, or its isolated bit for this
 *     direction clear: allowed, unisolated (no entry is charged).
 *  Then three peer groups, in this order, each gated by its 4 form bits
 *  (forms >> NPBPF_FORM_SHIFT_{PEER,CLUSTER,ANY}):
 *     a. p = the peer's own identity;
 *     b. p = NPBPF_ID_CLUSTER, only when the peer is a pod identity
 *        ("namespaceSelector: {}", every pod, as one entry);
 *     c. p = NPBPF_ID_ANY (a rule without from/to).
 *   and within each group the port forms, in this order:
 *  1. npbpf_policy (subject, dir, p, proto, dport)    if FORM_PORT  and ported
 *  2. npbpf_policy (subject, dir, p, proto, 0)        if FORM_PROTO and ported
 *  3. npbpf_policy (subject, dir, p, 0, 0)            if FORM_ALL
 *  4. npbpf_range  LPM (subject, p, dir, proto, dport) if FORM_RANGE and ported
 *  9. Nothing hit: denied (NPBPF_DROP_POLICY).
 * "ported" = TCP, UDP, SCTP. Other protocols (ICMP, ICMPv6, ...) have no
 * port to match and only the "all protocols" form 3 can allow them.
 *
 * Any hit allows; the order only decides which rule a counter is charged to,
 * and it is the order of verdict_dir(), so both charge the same rule.
 * The forms bitmask skips lookups that cannot hit, so a subject with only
 * "from these pods, port 80" rules costs one hash lookup per new flow, and no
 * path costs more than 9 hash + 3 LPM lookups, whatever the number of
 * policies, rules and pods. The subject key of every table carries the
 * generation bit read once per packet (tables.h), so one packet never mixes
 * two policy generations.
 */
#ifndef NPBPF_BPF_POLICY_H
#define NPBPF_BPF_POLICY_H

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include <npbpf/tables.h>

#include "maps.h"
#include "parse.h"

enum npbpf_policy_result {
	POLICY_DENIED = 0,
	POLICY_RULE = 1,       /* *by says which policy and rule */
	POLICY_UNISOLATED = 2,
};

static __always_inline int subject_isolated(const struct npbpf_subject *s, __u8 dir)
{
	return s && (s->isolated & (1u << (dir & 1)));
}

/* The subject record of an identity in generation gen; NULL = unisolated. */
static __always_inline const struct npbpf_subject *subject_lookup(__u32 identity, __u32 gen)
{
	__u32 key = NPBPF_SUBJECT_KEY(identity, gen);

	return bpf_map_lookup_elem(&npbpf_subject, &key);
}

static __always_inline int policy_exact(__u32 subj_key, __u8 dir, __u32 peer, __u8 proto,
					__u16 port, struct npbpf_policy_value *by)
{
	struct npbpf_policy_key key;
	struct npbpf_policy_value *v;

	__builtin_memset(&key, 0, sizeof(key));
	key.subject = subj_key;
	key.peer = peer;
	key.dport = port;
	key.proto = proto;
	key.dir = dir;
	v = bpf_map_lookup_elem(&npbpf_policy, &key);
	if (!v)
		return 0;
	*by = *v;
	return 1;
}

static __always_inline int policy_range(__u32 subj_key, __u8 dir, __u32 peer, __u8 proto,
					__u16 port, struct npbpf_policy_value *by)
{
	struct npbpf_range_key key;
	struct npbpf_policy_value *v;

	__builtin_memset(&key, 0, sizeof(key));
	key.prefixlen = NPBPF_RANGE_FULL_BITS;
	key.subject = subj_key;
	key.peer = peer;
	key.dir = dir;
	key.proto = proto;
	key.dport = bpf_htons(port);
	v = bpf_map_lookup_elem(&npbpf_range, &key);
	if (!v)
		return 0;
	*by = *v;
	return 1;
}

/*
 * Steps 0-9 above for the subject record s (NULL when absent). port is in
 * host order, ignored for protocols without ports. Returns enum
 * npbpf_policy_result.
 */
static __always_inline int policy_check(const struct npbpf_subject *s, __u32 subject, __u32 gen,
					__u8 dir, __u32 peer, __u8 proto, __u16 port,
					struct npbpf_policy_value *by)
{
	__u32 subj_key = NPBPF_SUBJECT_KEY(subject, gen);
	int ported = proto_has_ports(proto);
	__u16 all_forms;

	dir &= 1;
	if (!subject_isolated(s, dir))
		return POLICY_UNISOLATED;
	all_forms = s->forms[dir];
	/* Unrolled by clang: three groups, a constant shift each. */
	for (int group = 0; group < 3; group++) {
		__u32 p = group == 0 ? peer : group == 1 ? NPBPF_ID_CLUSTER : NPBPF_ID_ANY;
		__u16 forms = (all_forms >> (group == 0   ? NPBPF_FORM_SHIFT_PEER
					     : group == 1 ? NPBPF_FORM_SHIFT_CLUSTER
							  : NPBPF_FORM_SHIFT_ANY)) &
			      0xf;

		if (group == 1 && !NPBPF_ID_IS_POD(peer))
			continue;
		if (ported && (forms & NPBPF_FORM_PORT) &&
		    policy_exact(subj_key, dir, p, proto, port, by))
			return POLICY_RULE;
		if (ported && (forms & NPBPF_FORM_PROTO) &&
		    policy_exact(subj_key, dir, p, proto, 0, by))
			return POLICY_RULE;
		if ((forms & NPBPF_FORM_ALL) && policy_exact(subj_key, dir, p, 0, 0, by))
			return POLICY_RULE;
		if (ported && (forms & NPBPF_FORM_RANGE) &&
		    policy_range(subj_key, dir, p, proto, port, by))
			return POLICY_RULE;
	}
	return POLICY_DENIED;
}

#endif /* NPBPF_BPF_POLICY_H */
