/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy compilation, second half: every rule of every policy becomes policy
 * entries keyed by (subject identity, direction, peer identity, protocol,
 * port). Entries are computed per identity, never per pod, so the table grows
 * with distinct label sets, not with replicas.
 */
#include "compile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "selector.h"
#include "vec.h"

/* Peer identities of one rule; any = the rule has no from/to. */
struct peerset {
	uint32_t *ids;
	size_t n, cap;
	bool any;
	bool cluster; /* a peer selects every pod (namespaceSelector: {}, no pod selector) */
	uint32_t *seen;  /* per ids index: generation that added it */
	uint32_t gen;
};

/* Identities grouped by namespace (index into cluster namespaces). */
struct ns_index {
	size_t *start; /* n_namespaces + 1 offsets into idx */
	uint32_t *idx; /* indexes into cp->ids */
};

struct compile_ctx {
	struct compiled *cp;
	struct ns_index by_ns;
	struct peerset peers;
	uint32_t *regioned; /* ids indexes of identities with a region */
	size_t n_regioned;
};

static size_t ns_pos(const struct np_cluster *c, const struct np_namespace *ns)
{
	return (size_t)(ns - c->namespaces);
}

static int build_ns_index(struct compile_ctx *x)
{
	struct compiled *cp = x->cp;
	size_t n_ns = cp->cluster->n_namespaces;
	size_t *fill;

	x->by_ns.start = calloc(n_ns + 1, sizeof(size_t));
	x->by_ns.idx = calloc(cp->n_ids ? cp->n_ids : 1, sizeof(uint32_t));
	x->regioned = calloc(cp->n_ids ? cp->n_ids : 1, sizeof(uint32_t));
	fill = calloc(n_ns + 1, sizeof(size_t));
	if (!x->by_ns.start || !x->by_ns.idx || !x->regioned || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cp->n_ids; i++) {
		if (cp->ids[i].kind == IDENTITY_POD)
			x->by_ns.start[ns_pos(cp->cluster, cp->ids[i].ns) + 1]++;
		if (cp->ids[i].region.family)
			x->regioned[x->n_regioned++] = (uint32_t)i;
	}
	for (size_t j = 0; j < n_ns; j++)
		x->by_ns.start[j + 1] += x->by_ns.start[j];
	for (size_t i = 0; i < cp->n_ids; i++) {
		size_t j;

		if (cp->ids[i].kind != IDENTITY_POD)
			continue;
		j = ns_pos(cp->cluster, cp->ids[i].ns);
		x->by_ns.idx[x->by_ns.start[j] + fill[j]++] = (uint32_t)i;
	}
	free(fill);
	return 0;
}

static int peer_add(struct peerset *ps, uint32_t idx)
{
	uint32_t *slot;

	if (ps->seen[idx] == ps->gen)
		return 0;
	ps->seen[idx] = ps->gen;
	slot = VEC_PUSH(ps->ids, ps->n, ps->cap);
	if (!slot)
		return -ENOMEM;
	*slot = idx;
	return 0;
}

static int peers_in_ns(struct compile_ctx *x, size_t j, const struct np_peer *peer)
{
	for (size_t k = x->by_ns.start[j]; k < x->by_ns.start[j + 1]; k++) {
		uint32_t idx = x->by_ns.idx[k];
		int err;

		if (peer->has_pod_sel &&
		    !selector_matches(&peer->pod_sel, &x->cp->ids[idx].pod->labels))
			continue;
		err = peer_add(&x->peers, idx);
		if (err)
			return err;
	}
	return 0;
}

/* Every identity whose region the block admits: pods, CIDR regions, and
 * the host by the region of each of its addresses (never a whole node: a
 * block that covers one address of a node admits that address only). */
static int peers_ipblock(struct compile_ctx *x, const struct np_ipblock *b)
{
	int err = 0;

	for (size_t k = 0; !err && k < x->n_regioned; k++) {
		uint32_t idx = x->regioned[k];

		if (identity_in_ipblock(x->cp, &x->cp->ids[idx], b))
			err = peer_add(&x->peers, idx);
	}
	return err;
}

/* With a CLUSTER wildcard in the rule, single pod identities add nothing. */
static void drop_pod_peers(struct compile_ctx *x)
{
	struct peerset *ps = &x->peers;
	size_t kept = 0;

	for (size_t i = 0; i < ps->n; i++) {
		if (x->cp->ids[ps->ids[i]].kind != IDENTITY_POD)
			ps->ids[kept++] = ps->ids[i];
	}
	ps->n = kept;
}

/* Resolves a rule's from/to into identities. Namespace-less pod selectors
 * mean the policy's own namespace. */
static int rule_peers(struct compile_ctx *x, const struct np_policy *pol,
		      const struct np_rule *rule)
{
	const struct np_cluster *c = x->cp->cluster;
	struct peerset *ps = &x->peers;
	int err = 0;

	ps->n = 0;
	ps->gen++;
	ps->any = rule->n_peers == 0;
	ps->cluster = false;
	for (size_t i = 0; !err && i < rule->n_peers; i++) {
		const struct np_peer *peer = &rule->peers[i];

		if (peer->has_ipblock) {
			err = peers_ipblock(x, &peer->ipblock);
		} else if (peer->has_ns_sel && selector_is_empty(&peer->ns_sel) &&
			   (!peer->has_pod_sel || selector_is_empty(&peer->pod_sel))) {
			ps->cluster = true;
		} else if (peer->has_ns_sel) {
			for (size_t j = 0; !err && j < c->n_namespaces; j++) {
				if (selector_matches(&peer->ns_sel, &c->namespaces[j].labels))
					err = peers_in_ns(x, j, peer);
			}
		} else {
			const struct np_namespace *ns = cluster_find_ns(c, pol->ns);

			if (ns)
				err = peers_in_ns(x, ns_pos(c, ns), peer);
		}
	}
	if (!err && ps->cluster)
		drop_pod_peers(x);
	return err;
}

static struct npbpf_subject *subject_get(struct compiled *cp, uint32_t id)
{
	struct compiled_subject *s;
	uint32_t idx = (uint32_t)cp->n_subjects;
	int ret = hmap_insert(&cp->subject_index, &id, sizeof(id), idx, &idx);

	if (ret < 0)
		return NULL;
	if (ret == 0)
		return &cp->subjects[idx].s;
	s = VEC_PUSH(cp->subjects, cp->n_subjects, cp->cap_subjects);
	if (!s)
		return NULL;
	s->id = id;
	return &s->s;
}

static unsigned form_shift(uint32_t peer)
{
	if (peer == NPBPF_ID_ANY)
		return NPBPF_FORM_SHIFT_ANY;
	return peer == NPBPF_ID_CLUSTER ? NPBPF_FORM_SHIFT_CLUSTER : NPBPF_FORM_SHIFT_PEER;
}

static uint16_t entry_form(uint32_t peer, uint8_t proto, uint16_t port)
{
	unsigned f = !proto ? NPBPF_FORM_ALL : port ? NPBPF_FORM_PORT : NPBPF_FORM_PROTO;

	return (uint16_t)(f << form_shift(peer));
}

/* Where a rule comes from, and for whom it is being emitted. */
struct origin {
	uint32_t subject;
	enum np_dir dir;
	uint32_t policy;
	uint16_t rule;
};

static int emit(struct compiled *cp, const struct origin *o, uint32_t peer, uint8_t proto,
		uint16_t port)
{
	struct npbpf_policy_key key;
	struct compiled_entry *e;
	struct npbpf_subject *s;
	int ret;

	memset(&key, 0, sizeof(key));
	key.subject = o->subject;
	key.peer = peer;
	key.proto = proto;
	key.dport = port;
	key.dir = (__u8)o->dir;
	ret = hmap_insert(&cp->entry_index, &key, sizeof(key), (uint32_t)cp->n_entries, NULL);
	if (ret <= 0)
		return ret; /* already allowed by an earlier rule: it keeps the credit */
	e = VEC_PUSH(cp->entries, cp->n_entries, cp->cap_entries);
	s = subject_get(cp, o->subject);
	if (!e || !s)
		return -ENOMEM;
	e->key = key;
	e->value.policy = o->policy;
	e->value.rule = o->rule;
	s->forms[o->dir] |= entry_form(peer, proto, port);
	return 0;
}

/* Cuts [lo, hi] into aligned power-of-two blocks: at most 2*16 of them. */
static int emit_range(struct compiled *cp, const struct origin *o, uint32_t peer, uint8_t proto,
		      uint32_t lo, uint32_t hi)
{
	struct npbpf_subject *s = subject_get(cp, o->subject);

	if (!s)
		return -ENOMEM;
	s->forms[o->dir] |= (uint16_t)(NPBPF_FORM_RANGE << form_shift(peer));
	while (lo <= hi) {
		struct npbpf_range_key key;
		struct compiled_range *r;
		unsigned k = 0;
		int ret;

		while (k < 16 && !(lo & (1u << k)) && lo + (2u << k) - 1 <= hi)
			k++;
		memset(&key, 0, sizeof(key));
		key.prefixlen = NPBPF_RANGE_FULL_BITS - k;
		key.subject = o->subject;
		key.peer = peer;
		key.dir = (__u8)o->dir;
		key.proto = proto;
		key.dport = htons((uint16_t)lo);
		ret = hmap_insert(&cp->range_index, &key, sizeof(key), (uint32_t)cp->n_ranges,
				  NULL);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			r = VEC_PUSH(cp->ranges, cp->n_ranges, cp->cap_ranges);
			if (!r)
				return -ENOMEM;
			r->key = key;
			r->value.policy = o->policy;
			r->value.rule = o->rule;
		}
		lo += 1u << k;
	}
	return 0;
}

/* A named port resolves on the pod that receives the traffic: the subject
 * for ingress, the peer for egress. Each match is one exact entry. */
static int emit_named(struct compiled *cp, const struct origin *o, uint32_t peer,
		      const struct np_pod *target, const struct np_port *port)
{
	int err = 0;

	for (size_t i = 0; !err && i < target->n_ports; i++) {
		const struct np_container_port *cport = &target->ports[i];

		if (cport->name && cport->proto == port->proto && !strcmp(cport->name, port->name))
			err = emit(cp, o, peer, port->proto, cport->port);
	}
	return err;
}

static int emit_port(struct compile_ctx *x, const struct origin *o, const struct np_pod *subj_pod,
		     uint32_t peer, const struct np_port *port)
{
	struct compiled *cp = x->cp;

	if (!port)
		return emit(cp, o, peer, 0, 0);
	if (port->end_port)
		return emit_range(cp, o, peer, port->proto, port->port, port->end_port);
	if (!port->name)
		return emit(cp, o, peer, port->proto, port->port);
	if (o->dir == NP_INGRESS)
		return emit_named(cp, o, peer, subj_pod, port);
	if (peer == NPBPF_ID_ANY || peer == NPBPF_ID_CLUSTER) {
		/* "any destination" on a named port: only pods have names, and each
		 * may map the name to another number. */
		int err = 0;

		for (size_t i = 0; !err && i < cp->first_cidr_idx; i++) {
			if (cp->ids[i].kind == IDENTITY_POD)
				err = emit_named(cp, o, cp->ids[i].id, cp->ids[i].pod, port);
		}
		return err;
	}
	{
		const struct identity *idn = compiled_identity(cp, peer);

		if (!idn || idn->kind != IDENTITY_POD)
			return 0; /* the node and CIDRs have no port names */
		return emit_named(cp, o, peer, idn->pod, port);
	}
}

static int emit_rule_for_subject(struct compile_ctx *x, const struct origin *o,
				 const struct np_pod *subj_pod, const struct np_rule *rule)
{
	const struct peerset *ps = &x->peers;
	size_t n_port = rule->n_ports ? rule->n_ports : 1;
	size_t n_peer = ps->any ? 1 : ps->n + ps->cluster;
	int err = 0;

	for (size_t i = 0; !err && i < n_peer; i++) {
		uint32_t peer;

		if (ps->any)
			peer = NPBPF_ID_ANY;
		else if (i == ps->n)
			peer = NPBPF_ID_CLUSTER;
		else
			peer = x->cp->ids[ps->ids[i]].id;
		for (size_t p = 0; !err && p < n_port; p++)
			err = emit_port(x, o, subj_pod, peer,
					rule->n_ports ? &rule->ports[p] : NULL);
	}
	return err;
}

static int compile_policy(struct compile_ctx *x, uint32_t pi)
{
	struct compiled *cp = x->cp;
	const struct np_policy *pol = &cp->cluster->policies[pi];
	const struct np_namespace *ns = cluster_find_ns(cp->cluster, pol->ns);
	size_t j, first, last;
	int err = 0;

	if (!ns)
		return 0;
	j = ns_pos(cp->cluster, ns);
	first = x->by_ns.start[j];
	last = x->by_ns.start[j + 1];
	for (int d = 0; d < 2; d++) {
		if (!pol->types[d])
			continue;
		/* Isolation first: a policy with no rules still isolates. */
		for (size_t k = first; k < last; k++) {
			const struct identity *idn = &cp->ids[x->by_ns.idx[k]];
			struct npbpf_subject *s;

			if (!idn->subject || !selector_matches(&pol->pod_sel, &idn->pod->labels))
				continue;
			s = subject_get(cp, idn->id);
			if (!s)
				return -ENOMEM;
			s->isolated |= (__u8)(1u << d);
		}
		for (size_t r = 0; !err && r < pol->n_rules[d]; r++) {
			const struct np_rule *rule = &pol->rules[d][r];

			err = rule_peers(x, pol, rule);
			for (size_t k = first; !err && k < last; k++) {
				const struct identity *idn = &cp->ids[x->by_ns.idx[k]];
				struct origin o = { idn->id, (enum np_dir)d, pi, (uint16_t)r };

				if (!idn->subject ||
				    !selector_matches(&pol->pod_sel, &idn->pod->labels))
					continue;
				err = emit_rule_for_subject(x, &o, idn->pod, rule);
			}
		}
		if (err)
			return err;
	}
	return 0;
}

/* The node's own traffic (kubelet probes) reaches isolated pods unless the
 * operator asked to enforce it: one wildcard entry per isolated subject and
 * host identity (NPBPF_ID_HOST and one per region node addresses fall in).
 * Only the node the pod runs on is its host: other nodes' addresses are not
 * in that node's ipcache as the host, so these entries never admit them. */
static int allow_host(struct compiled *cp)
{
	int err = 0;

	for (size_t i = 0; !err && i < cp->n_subjects; i++) {
		struct origin o = { cp->subjects[i].id, NP_INGRESS, NPBPF_POLICY_HOST, 0 };

		if (!(cp->subjects[i].s.isolated & (1u << NP_INGRESS)))
			continue;
		err = emit(cp, &o, NPBPF_ID_HOST, 0, 0);
		for (size_t k = 0; !err && k < cp->first_cidr_idx; k++) {
			if (cp->ids[k].kind == IDENTITY_HOST)
				err = emit(cp, &o, cp->ids[k].id, 0, 0);
		}
	}
	return err;
}

int compile_cluster(const struct np_cluster *c, const struct compile_opts *opts,
		    struct compiled *out)
{
	struct compile_ctx x = { .cp = out };
	int err;

	memset(out, 0, sizeof(*out));
	out->cluster = c;
	hmap_init(&out->id_index);
	hmap_init(&out->id_by_num);
	hmap_init(&out->entry_index);
	hmap_init(&out->range_index);
	hmap_init(&out->subject_index);
	hmap_init(&out->host_index);
	hmap_init(&out->prefix_index);
	hmap_init(&out->node_index);
	hmap_init(&out->node_addr_index);
	err = identity_allocate(out, opts);
	if (!err)
		err = build_ns_index(&x);
	if (!err) {
		x.peers.seen = calloc(out->n_ids, sizeof(uint32_t));
		if (!x.peers.seen)
			err = -ENOMEM;
	}
	for (size_t p = 0; !err && p < c->n_policies; p++)
		err = compile_policy(&x, (uint32_t)p);
	if (!err && !(opts && opts->enforce_host))
		err = allow_host(out);
	free(x.by_ns.start);
	free(x.by_ns.idx);
	free(x.regioned);
	free(x.peers.ids);
	free(x.peers.seen);
	if (err)
		compiled_free(out);
	return err;
}

void compiled_free(struct compiled *cp)
{
	if (!cp)
		return;
	free(cp->ids);
	free(cp->entries);
	free(cp->ranges);
	free(cp->subjects);
	free(cp->ipcache);
	free(cp->endpoints);
	free(cp->prefixes);
	free(cp->pod_id);
	free(cp->pod_node);
	for (size_t i = 0; i < cp->n_nodes; i++)
		free(cp->nodes[i]);
	free(cp->nodes);
	free(cp->node_addrs);
	hmap_free(&cp->node_index);
	hmap_free(&cp->node_addr_index);
	hmap_free(&cp->id_index);
	hmap_free(&cp->id_by_num);
	hmap_free(&cp->entry_index);
	hmap_free(&cp->range_index);
	hmap_free(&cp->subject_index);
	hmap_free(&cp->host_index);
	hmap_free(&cp->prefix_index);
	memset(cp, 0, sizeof(*cp));
}

const struct identity *compiled_identity(const struct compiled *cp, uint32_t id)
{
	uint32_t idx;

	if (!hmap_get(&cp->id_by_num, &id, sizeof(id), &idx))
		return NULL;
	return &cp->ids[idx];
}

const void *compiled_identity_key(const struct compiled *cp, const struct identity *idn,
				  size_t *len)
{
	*len = idn->key_len;
	return cp->id_index.keys + idn->key_off;
}

const struct npbpf_subject *compiled_subject(const struct compiled *cp, uint32_t id)
{
	uint32_t idx;

	if (!hmap_get(&cp->subject_index, &id, sizeof(id), &idx))
		return NULL;
	return &cp->subjects[idx].s;
}

static uint32_t region_identity(const struct compiled *cp, const struct np_addr *addr)
{
	long r = identity_region_of(cp, addr);

	return r >= 0 ? cp->ids[cp->first_cidr_idx + (size_t)r].id : NPBPF_ID_WORLD;
}

/* The datapath's order (bpf/lib/identity.h): exact address, then region,
 * then WORLD. A node address is exact only on its own node: elsewhere it
 * falls through to its region, as this node's ipcache leaves it out. */
void compiled_addr_lookup(const struct compiled *cp, const struct np_addr *addr, uint32_t node,
			  struct addr_info *out)
{
	struct np_addr key = *addr;
	uint32_t idx, id;

	key.plen = addr->family == 4 ? 32 : 128;
	memset(out, 0, sizeof(*out));
	if (hmap_get(&cp->node_addr_index, &key, sizeof(key), &idx)) {
		const struct compiled_node_addr *na = &cp->node_addrs[idx];

		out->node = na->node;
		out->kind = na->node == node ? ADDR_HOST : ADDR_REMOTE_NODE;
		out->id = na->node == node ? na->host_id : region_identity(cp, &key);
		return;
	}
	if (hmap_get(&cp->host_index, &key, sizeof(key), &id)) {
		out->kind = ADDR_POD;
		out->id = id;
		return;
	}
	out->id = region_identity(cp, &key);
	out->kind = out->id == NPBPF_ID_WORLD ? ADDR_WORLD : ADDR_CIDR;
}

uint32_t compiled_addr_identity(const struct compiled *cp, const struct np_addr *addr)
{
	struct addr_info ai;

	compiled_addr_lookup(cp, addr, 0, &ai);
	return ai.id;
}
