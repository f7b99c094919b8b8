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
	uint32_t *idx; /* indexes into identities.ids */
};

/* A subject isolated by a policy in a direction, in the order compile_policy
 * finds them (policy order). */
struct isolator {
	uint32_t subject; /* index in subjects */
	uint32_t dir;
	uint32_t policy;  /* its number */
};

struct compile_ctx {
	struct compiled *cp;
	const struct identities *idn;
	struct ns_index by_ns;
	struct peerset peers;
	uint32_t *regioned; /* ids indexes of numbered identities with a region */
	size_t n_regioned;
	struct isolator *isolators;
	size_t n_isolators, cap_isolators;
	bool local_only; /* compile_opts.local_subjects_only */
};

/* Whether tables are made for identity idn as a subject. */
static bool is_subject(const struct compile_ctx *x, const struct identity *idn)
{
	return idn->subject && (!x->local_only || idn->local_subject);
}

static size_t ns_pos(const struct np_cluster *c, const struct np_namespace *ns)
{
	return (size_t)(ns - c->namespaces);
}

/* Identities without a number are in no table: no entry names them, as
 * subject or as peer. */
static bool numbered(const struct identity *idn)
{
	return idn->id != NUMBER_NONE;
}

static int build_ns_index(struct compile_ctx *x)
{
	const struct identities *idn = x->idn;
	size_t n_ns = x->cp->cluster->n_namespaces;
	size_t *fill;

	x->by_ns.start = calloc(n_ns + 1, sizeof(size_t));
	x->by_ns.idx = calloc(idn->n_ids ? idn->n_ids : 1, sizeof(uint32_t));
	x->regioned = calloc(idn->n_ids ? idn->n_ids : 1, sizeof(uint32_t));
	fill = calloc(n_ns + 1, sizeof(size_t));
	if (!x->by_ns.start || !x->by_ns.idx || !x->regioned || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (size_t i = 0; i < idn->n_ids; i++) {
		if (!numbered(&idn->ids[i]))
			continue;
		if (idn->ids[i].kind == IDENTITY_POD)
			x->by_ns.start[ns_pos(idn->cluster, idn->ids[i].ns) + 1]++;
		if (idn->ids[i].region.family)
			x->regioned[x->n_regioned++] = (uint32_t)i;
	}
	for (size_t j = 0; j < n_ns; j++)
		x->by_ns.start[j + 1] += x->by_ns.start[j];
	for (size_t i = 0; i < idn->n_ids; i++) {
		size_t j;

		if (idn->ids[i].kind != IDENTITY_POD || !numbered(&idn->ids[i]))
			continue;
		j = ns_pos(idn->cluster, idn->ids[i].ns);
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
		    !selector_matches(&peer->pod_sel, &x->idn->ids[idx].pod->labels))
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

		if (identity_in_ipblock(&x->idn->ids[idx], b))
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
		if (x->idn->ids[ps->ids[i]].kind != IDENTITY_POD)
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

/* The index of id's subject record, added when missing; -ENOMEM. */
static long subject_slot(struct compiled *cp, uint32_t id)
{
	struct compiled_subject *s;
	uint32_t idx = (uint32_t)cp->n_subjects;
	int ret = hmap_insert(&cp->subject_index, &id, sizeof(id), idx, &idx);

	if (ret < 0)
		return ret;
	if (ret == 0)
		return idx;
	s = VEC_PUSH(cp->subjects, cp->n_subjects, cp->cap_subjects);
	if (!s)
		return -ENOMEM;
	s->id = id;
	return idx;
}

static struct npbpf_subject *subject_get(struct compiled *cp, uint32_t id)
{
	long idx = subject_slot(cp, id);

	return idx < 0 ? NULL : &cp->subjects[idx].s;
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

		for (size_t i = 0; !err && i < x->idn->first_cidr_idx; i++) {
			const struct identity *idn = &x->idn->ids[i];

			if (idn->kind == IDENTITY_POD && numbered(idn))
				err = emit_named(cp, o, idn->id, idn->pod, port);
		}
		return err;
	}
	{
		const struct identity *idn = identity_by_number(x->idn, peer);

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
			peer = x->idn->ids[ps->ids[i]].id;
		for (size_t p = 0; !err && p < n_port; p++)
			err = emit_port(x, o, subj_pod, peer,
					rule->n_ports ? &rule->ports[p] : NULL);
	}
	return err;
}

/* Subject identity idn is isolated in direction d by policy number pol. */
static int isolate(struct compile_ctx *x, const struct identity *idn, int d, uint32_t pol)
{
	long idx = subject_slot(x->cp, idn->id);
	struct isolator *iso;

	if (idx < 0)
		return (int)idx;
	x->cp->subjects[idx].s.isolated |= (__u8)(1u << d);
	iso = VEC_PUSH(x->isolators, x->n_isolators, x->cap_isolators);
	if (!iso)
		return -ENOMEM;
	*iso = (struct isolator){ (uint32_t)idx, (uint32_t)d, pol };
	return 0;
}

static int compile_policy(struct compile_ctx *x, uint32_t pi)
{
	struct compiled *cp = x->cp;
	const struct np_policy *pol = &cp->cluster->policies[pi];
	const struct np_namespace *ns = cluster_find_ns(cp->cluster, pol->ns);
	uint32_t number = cp->numbering.policy[pi];
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
		bool selects = false;

		/* Isolation first: a policy with no rules still isolates. */
		for (size_t k = first; !err && k < last; k++) {
			const struct identity *idn = &x->idn->ids[x->by_ns.idx[k]];

			if (is_subject(x, idn) && selector_matches(&pol->pod_sel, &idn->pod->labels)) {
				err = isolate(x, idn, d, number);
				selects = true;
			}
		}
		/* A policy that selects no subject emits nothing: its peers,
		 * the costly part, are not worked out at all. */
		for (size_t r = 0; !err && selects && r < pol->n_rules[d]; r++) {
			const struct np_rule *rule = &pol->rules[d][r];

			err = rule_peers(x, pol, rule);
			for (size_t k = first; !err && k < last; k++) {
				const struct identity *idn = &x->idn->ids[x->by_ns.idx[k]];
				struct origin o = { idn->id, (enum np_dir)d, number, (uint16_t)r };

				if (!is_subject(x, idn) ||
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
	const struct identities *idn = &cp->idn;
	int err = 0;

	for (size_t i = 0; !err && i < cp->n_subjects; i++) {
		struct origin o = { cp->subjects[i].id, NP_INGRESS, NPBPF_POLICY_HOST, 0 };

		if (!(cp->subjects[i].s.isolated & (1u << NP_INGRESS)))
			continue;
		err = emit(cp, &o, NPBPF_ID_HOST, 0, 0);
		for (size_t k = 0; !err && k < idn->first_cidr_idx; k++) {
			if (idn->ids[k].kind == IDENTITY_HOST && numbered(&idn->ids[k]))
				err = emit(cp, &o, idn->ids[k].id, 0, 0);
		}
	}
	return err;
}

/* The policies that isolate each subject, per direction, in policy order:
 * a counting sort of the isolators into compiled.isolated_by. */
static int collect_isolated_by(struct compile_ctx *x)
{
	struct compiled *cp = x->cp;
	size_t off = 0;

	cp->isolated_by = calloc(x->n_isolators ? x->n_isolators : 1, sizeof(*cp->isolated_by));
	if (!cp->isolated_by)
		return -ENOMEM;
	for (size_t i = 0; i < x->n_isolators; i++)
		cp->subjects[x->isolators[i].subject].n_isolated_by[x->isolators[i].dir]++;
	for (size_t i = 0; i < cp->n_subjects; i++) {
		for (int d = 0; d < 2; d++) {
			cp->subjects[i].isolated_by[d] = (uint32_t)off;
			off += cp->subjects[i].n_isolated_by[d];
			cp->subjects[i].n_isolated_by[d] = 0;
		}
	}
	for (size_t i = 0; i < x->n_isolators; i++) {
		struct compiled_subject *s = &cp->subjects[x->isolators[i].subject];
		uint32_t d = x->isolators[i].dir;

		cp->isolated_by[s->isolated_by[d] + s->n_isolated_by[d]++] = x->isolators[i].policy;
	}
	cp->n_isolated_by = x->n_isolators;
	return 0;
}

/* Whether subject id has an entry whose peer an address could turn into
 * when an ipBlock prefix is missing from the ipcache: a CIDR-range identity
 * or world. */
static bool allows_regions(const struct compiled *cp, uint32_t id)
{
	for (size_t i = 0; i < cp->n_entries; i++) {
		const struct npbpf_policy_key *k = &cp->entries[i].key;

		if (k->subject == id && (k->peer == NPBPF_ID_WORLD || NPBPF_ID_IS_CIDR(k->peer)))
			return true;
	}
	for (size_t i = 0; i < cp->n_ranges; i++) {
		const struct npbpf_range_key *k = &cp->ranges[i].key;

		if (k->subject == id && (k->peer == NPBPF_ID_WORLD || NPBPF_ID_IS_CIDR(k->peer)))
			return true;
	}
	return false;
}

/*
 * The endpoint records. A pod is judged by its subject identity, or by
 * NPBPF_ID_ISOLATED when that identity got no number. When an identity of
 * the CIDR range (an ipBlock region, or this node's addresses in one) got
 * none, its addresses fall to a shorter prefix, which a rule may allow where
 * the missing one was excepted: the pods with any rule towards a region (or
 * world) are judged by NPBPF_ID_ISOLATED too. Its record, isolated both ways
 * with no entry, is there when some pod uses it.
 */
static int build_endpoints(struct compiled *cp)
{
	const struct np_cluster *c = cp->cluster;
	bool any_isolated = false;

	cp->endpoints = calloc(c->n_pods ? c->n_pods : 1, sizeof(*cp->endpoints));
	if (!cp->endpoints)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];
		struct compiled_endpoint *ep;
		struct npbpf_endpoint *v;

		if (pod->host_network)
			continue;
		ep = &cp->endpoints[cp->n_endpoints++];
		ep->pod = pod;
		v = &ep->value;
		v->identity = cp->idn.pod_id[i];
		if (cp->idn.region_lost && v->identity != NPBPF_ID_ISOLATED &&
		    allows_regions(cp, v->identity))
			v->identity = NPBPF_ID_ISOLATED;
		any_isolated |= v->identity == NPBPF_ID_ISOLATED;
		for (size_t a = 0; a < pod->n_addrs; a++) {
			const struct np_addr *addr = &pod->addrs[a];

			if (addr->family == 4 && !(v->flags & NPBPF_EP_HAS_V4)) {
				memcpy(v->addr4, addr->bytes, 4);
				v->flags |= NPBPF_EP_HAS_V4;
			} else if (addr->family == 6 && !(v->flags & NPBPF_EP_HAS_V6)) {
				memcpy(v->addr6, addr->bytes, 16);
				v->flags |= NPBPF_EP_HAS_V6;
			}
		}
	}
	if (any_isolated) {
		struct npbpf_subject *s = subject_get(cp, NPBPF_ID_ISOLATED);

		if (!s)
			return -ENOMEM;
		s->isolated = (1u << NPBPF_DIR_INGRESS) | (1u << NPBPF_DIR_EGRESS);
	}
	return 0;
}

static int index_policies(struct compiled *cp)
{
	for (size_t p = 0; p < cp->cluster->n_policies; p++) {
		uint32_t num = cp->numbering.policy[p];

		if (hmap_insert(&cp->policy_index, &num, sizeof(num), (uint32_t)p, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int compile_tables(struct compile_ctx *x, const struct compile_opts *opts)
{
	struct compiled *cp = x->cp;
	int err;

	err = build_ns_index(x);
	if (!err) {
		x->peers.seen = calloc(x->idn->n_ids ? x->idn->n_ids : 1, sizeof(uint32_t));
		if (!x->peers.seen)
			err = -ENOMEM;
	}
	for (size_t p = 0; !err && p < cp->cluster->n_policies; p++)
		err = compile_policy(x, (uint32_t)p);
	if (!err && !(opts && opts->enforce_host))
		err = allow_host(cp);
	if (!err)
		err = build_endpoints(cp);
	if (!err)
		err = collect_isolated_by(x);
	return err;
}

int compile_cluster(const struct np_cluster *c, const struct compile_opts *opts,
		    struct compiled *out)
{
	struct compile_ctx x = {
		.cp = out,
		.idn = &out->idn,
		.local_only = opts && opts->per_node && opts->local_subjects_only,
	};
	int err;

	memset(out, 0, sizeof(*out));
	out->cluster = c;
	hmap_init(&out->entry_index);
	hmap_init(&out->range_index);
	hmap_init(&out->subject_index);
	hmap_init(&out->policy_index);
	/* Numbers first: the tables are written with the final ones. */
	err = numbering_begin(&out->numbering, opts ? opts->prior : NULL,
			      opts ? opts->numbering : NULL);
	if (!err)
		err = identities_build(&out->idn, c, opts, &out->numbering);
	if (!err)
		err = numbering_policies(&out->numbering, c);
	if (!err)
		err = numbering_finish(&out->numbering);
	if (!err)
		err = index_policies(out);
	if (!err)
		err = compile_tables(&x, opts);
	free(x.by_ns.start);
	free(x.by_ns.idx);
	free(x.regioned);
	free(x.peers.ids);
	free(x.peers.seen);
	free(x.isolators);
	if (err)
		compiled_free(out);
	return err;
}

void compiled_free(struct compiled *cp)
{
	if (!cp)
		return;
	identities_free(&cp->idn);
	numbering_free(&cp->numbering);
	free(cp->entries);
	free(cp->ranges);
	free(cp->subjects);
	free(cp->endpoints);
	free(cp->isolated_by);
	hmap_free(&cp->entry_index);
	hmap_free(&cp->range_index);
	hmap_free(&cp->subject_index);
	hmap_free(&cp->policy_index);
	memset(cp, 0, sizeof(*cp));
}

const struct compiled_subject *compiled_subject_of(const struct compiled *cp, uint32_t id)
{
	uint32_t idx;

	if (!hmap_get(&cp->subject_index, &id, sizeof(id), &idx))
		return NULL;
	return &cp->subjects[idx];
}

const struct npbpf_subject *compiled_subject(const struct compiled *cp, uint32_t id)
{
	const struct compiled_subject *s = compiled_subject_of(cp, id);

	return s ? &s->s : NULL;
}

const struct np_policy *compiled_policy(const struct compiled *cp, uint32_t number)
{
	uint32_t idx;

	if (!hmap_get(&cp->policy_index, &number, sizeof(number), &idx))
		return NULL;
	return &cp->cluster->policies[idx];
}

void compiled_addr_lookup(const struct compiled *cp, const struct np_addr *addr, uint32_t node,
			  struct addr_info *out)
{
	identity_addr_lookup(&cp->idn, addr, node, out);
}

uint32_t compiled_addr_identity(const struct compiled *cp, const struct np_addr *addr)
{
	struct addr_info ai;

	identity_addr_lookup(&cp->idn, addr, 0, &ai);
	return ai.id;
}
