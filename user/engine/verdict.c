/* SPDX-License-Identifier: Apache-2.0 */
#include "verdict.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static bool lookup_exact(const struct compiled *cp, uint32_t subject, enum np_dir dir,
			 uint32_t peer, uint8_t proto, uint16_t port, struct npbpf_policy_value *v)
{
	struct npbpf_policy_key key;
	uint32_t idx;

	memset(&key, 0, sizeof(key));
	key.subject = subject;
	key.peer = peer;
	key.proto = proto;
	key.dport = port;
	key.dir = (__u8)dir;
	if (!hmap_get(&cp->entry_index, &key, sizeof(key), &idx))
		return false;
	*v = cp->entries[idx].value;
	return true;
}

/* Longest-prefix match over the port bits, as the kernel's LPM trie does. */
static bool lookup_range(const struct compiled *cp, uint32_t subject, enum np_dir dir,
			 uint32_t peer, uint8_t proto, uint16_t port, struct npbpf_policy_value *v)
{
	for (unsigned k = 0; k <= 16; k++) {
		struct npbpf_range_key key;
		uint32_t idx;

		memset(&key, 0, sizeof(key));
		key.prefixlen = NPBPF_RANGE_FULL_BITS - k;
		key.subject = subject;
		key.peer = peer;
		key.dir = (__u8)dir;
		key.proto = proto;
		key.dport = htons((uint16_t)(k == 16 ? 0 : port & ~((1u << k) - 1)));
		if (hmap_get(&cp->range_index, &key, sizeof(key), &idx)) {
			*v = cp->ranges[idx].value;
			return true;
		}
	}
	return false;
}

static bool has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

void verdict_dir(const struct compiled *cp, uint32_t subject, enum np_dir dir, uint32_t peer,
		 uint8_t proto, uint16_t port, struct dir_verdict *out)
{
	const struct compiled_subject *cs = compiled_subject_of(cp, subject);
	const struct npbpf_subject *s = cs ? &cs->s : NULL;
	bool ported = has_ports(proto);

	memset(out, 0, sizeof(*out));
	out->subject = subject;
	out->peer = peer;
	if (!s || !(s->isolated & (1u << dir))) {
		out->allowed = true;
		out->reason = VERDICT_UNISOLATED;
		return;
	}
	out->reason = VERDICT_NO_RULE;
	out->isolated_by = cp->isolated_by + cs->isolated_by[dir];
	out->n_isolated_by = cs->n_isolated_by[dir];
	/* The datapath's order: the peer itself, CLUSTER (pods only), ANY; within
	 * each, port, protocol, everything, range. */
	for (int group = 0; group < 3; group++) {
		static const uint32_t wildcard[] = { 0, NPBPF_ID_CLUSTER, NPBPF_ID_ANY };
		static const unsigned shifts[] = { NPBPF_FORM_SHIFT_PEER, NPBPF_FORM_SHIFT_CLUSTER,
						   NPBPF_FORM_SHIFT_ANY };
		uint32_t p = group ? wildcard[group] : peer;
		unsigned shift = shifts[group];
		unsigned forms = (s->forms[dir] >> shift) & 0xf;
		unsigned hit = 0;

		if (group == 1 && !NPBPF_ID_IS_POD(peer))
			continue;
		if (ported && (forms & NPBPF_FORM_PORT) &&
		    lookup_exact(cp, subject, dir, p, proto, port, &out->by))
			hit = NPBPF_FORM_PORT;
		else if (ported && (forms & NPBPF_FORM_PROTO) &&
			 lookup_exact(cp, subject, dir, p, proto, 0, &out->by))
			hit = NPBPF_FORM_PROTO;
		else if ((forms & NPBPF_FORM_ALL) && lookup_exact(cp, subject, dir, p, 0, 0, &out->by))
			hit = NPBPF_FORM_ALL;
		else if (ported && (forms & NPBPF_FORM_RANGE) &&
			 lookup_range(cp, subject, dir, p, proto, port, &out->by))
			hit = NPBPF_FORM_RANGE;
		if (hit) {
			out->allowed = true;
			out->reason = VERDICT_RULE;
			out->form = (uint16_t)(hit << shift);
			return;
		}
	}
}

static void check_side(const struct compiled *cp, const struct flow_end *subj,
		       const struct flow_end *peer, enum np_dir dir, uint8_t proto, uint16_t port,
		       struct dir_verdict *out)
{
	size_t pi = subj->pod ? (size_t)(subj->pod - cp->cluster->pods) : 0;
	uint32_t node = subj->pod ? cp->idn.pod_node[pi] : 0;
	struct addr_info ai;

	compiled_addr_lookup(cp, &peer->addr, node, &ai);
	if (!subj->pod || subj->pod->host_network) {
		memset(out, 0, sizeof(*out));
		out->allowed = true;
		out->reason = VERDICT_NOT_CHECKED;
		out->subject = subj->pod ? NPBPF_ID_HOST : NPBPF_ID_WORLD;
	} else {
		verdict_dir(cp, cp->idn.pod_id[pi], dir, ai.id, proto, port, out);
	}
	out->peer = ai.id;
	out->node = node;
	out->peer_kind = ai.kind;
	out->peer_node = ai.node;
}

void verdict_flow(const struct compiled *cp, const struct flow_end *from,
		  const struct flow_end *to, uint8_t proto, uint16_t port,
		  struct flow_verdict *out)
{
	memset(out, 0, sizeof(*out));
	check_side(cp, from, to, NP_EGRESS, proto, port, &out->dir[NP_EGRESS]);
	check_side(cp, to, from, NP_INGRESS, proto, port, &out->dir[NP_INGRESS]);
	out->self = from->pod && from->pod == to->pod;
	out->allowed = out->self ||
		       (out->dir[NP_EGRESS].allowed && out->dir[NP_INGRESS].allowed);
}
