/* SPDX-License-Identifier: Apache-2.0 */
#include "identity.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

static int fam_index(uint8_t family)
{
	return family == 6 ? 1 : 0;
}

/* Keeps the first plen bits of a, zeroes the rest. */
static struct np_addr addr_mask(const struct np_addr *a, uint8_t plen)
{
	struct np_addr m = { .family = a->family, .plen = plen };
	size_t full = plen / 8;

	memcpy(m.bytes, a->bytes, full);
	if (plen % 8)
		m.bytes[full] = a->bytes[full] & (uint8_t)(0xff00u >> (plen % 8));
	return m;
}

static int add_prefix(struct compiled *cp, const struct np_addr *p)
{
	struct np_addr key = addr_mask(p, p->plen);
	struct np_addr *slot;
	int fi = fam_index(key.family);
	int ret;

	ret = hmap_insert(&cp->prefix_index, &key, sizeof(key), (uint32_t)cp->n_prefixes, NULL);
	if (ret <= 0)
		return ret;
	slot = VEC_PUSH(cp->prefixes, cp->n_prefixes, cp->cap_prefixes);
	if (!slot)
		return -ENOMEM;
	*slot = key;
	for (size_t i = 0; i < cp->n_plens[fi]; i++) {
		if (cp->plens[fi][i] == key.plen)
			return 0;
	}
	cp->plens[fi][cp->n_plens[fi]++] = key.plen;
	return 0;
}

static int cmp_plen_desc(const void *a, const void *b)
{
	return (int)*(const uint8_t *)b - (int)*(const uint8_t *)a;
}

static int collect_prefixes(struct compiled *cp)
{
	const struct np_cluster *c = cp->cluster;
	int err;

	for (size_t p = 0; p < c->n_policies; p++) {
		for (int d = 0; d < 2; d++) {
			for (size_t r = 0; r < c->policies[p].n_rules[d]; r++) {
				const struct np_rule *rule = &c->policies[p].rules[d][r];

				for (size_t i = 0; i < rule->n_peers; i++) {
					const struct np_peer *peer = &rule->peers[i];

					if (!peer->has_ipblock)
						continue;
					err = add_prefix(cp, &peer->ipblock.cidr);
					for (size_t e = 0; !err && e < peer->ipblock.n_except; e++)
						err = add_prefix(cp, &peer->ipblock.except[e]);
					if (err)
						return err;
				}
			}
		}
	}
	for (int fi = 0; fi < 2; fi++)
		qsort(cp->plens[fi], cp->n_plens[fi], 1, cmp_plen_desc);
	return 0;
}

/* One hash probe per distinct prefix length of the family, longest first:
 * the same answer an LPM trie gives, without building one. */
long identity_region_of(const struct compiled *cp, const struct np_addr *addr)
{
	int fi = fam_index(addr->family);

	for (size_t i = 0; i < cp->n_plens[fi]; i++) {
		uint8_t plen = cp->plens[fi][i];
		struct np_addr key;
		uint32_t idx;

		if (plen > addr->plen)
			continue;
		key = addr_mask(addr, plen);
		if (hmap_get(&cp->prefix_index, &key, sizeof(key), &idx))
			return idx;
	}
	return -1;
}

/*
 * A region is the longest ipBlock prefix its addresses fall in. Because all
 * cidrs and excepts are themselves prefixes of the set, a cidr contains every
 * address of the region exactly when it contains the region's prefix, and
 * likewise for an except: membership is decided per region, not per address.
 */
bool identity_in_ipblock(const struct compiled *cp, const struct identity *idn,
			 const struct np_ipblock *b)
{
	const struct np_addr *r = &idn->region;

	(void)cp;
	if (!r->family || r->family != b->cidr.family || !addr_contains(&b->cidr, r))
		return false;
	for (size_t e = 0; e < b->n_except; e++) {
		if (addr_contains(&b->except[e], r))
			return false;
	}
	return true;
}

static struct identity *push_identity(struct compiled *cp, uint32_t id, enum identity_kind kind)
{
	uint32_t idx = (uint32_t)cp->n_ids;
	struct identity *idn = VEC_PUSH(cp->ids, cp->n_ids, cp->cap_ids);

	if (!idn || hmap_insert(&cp->id_by_num, &id, sizeof(id), idx, NULL) < 0)
		return NULL;
	idn->id = id;
	idn->kind = kind;
	return idn;
}

/* A number for a new identity key: the one it had before, else the next free
 * one of its range. */
static int number_for(struct compiled *cp, const struct compile_opts *opts, const void *key,
		      size_t len, enum identity_kind kind, uint32_t *id)
{
	bool cidr_range = kind == IDENTITY_CIDR || kind == IDENTITY_HOST;
	uint32_t *next = cidr_range ? &cp->next_cidr_id : &cp->next_pod_id;
	uint32_t limit = cidr_range ? NPBPF_GEN_BIT : NPBPF_ID_FIRST_CIDR;

	if (opts && opts->prior_ids && hmap_get(opts->prior_ids, key, len, id))
		return 0;
	if (*next >= limit)
		return -ENOSPC;
	*id = (*next)++;
	return 0;
}

/* Interns key; *idx_out is the identity's index in cp->ids. Returns 1 when
 * the identity is new, 0 when it existed, or -errno. */
static int intern(struct compiled *cp, const struct compile_opts *opts, const void *key,
		  size_t len, enum identity_kind kind, size_t *idx_out)
{
	uint32_t idx = (uint32_t)cp->n_ids, id;
	size_t off = cp->id_index.keys_len;
	struct identity *idn;
	int ret;

	ret = hmap_insert(&cp->id_index, key, len, idx, &idx);
	if (ret < 0)
		return ret;
	*idx_out = idx;
	if (ret == 0)
		return 0;
	ret = number_for(cp, opts, key, len, kind, &id);
	if (ret)
		return ret;
	idn = push_identity(cp, id, kind);
	if (!idn)
		return -ENOMEM;
	idn->key_off = (uint32_t)off;
	idn->key_len = (uint32_t)len;
	return 1;
}

/* New numbers start above every number of the prior allocation, so a number
 * is never reused for another key while its old meaning may still be live. */
static void init_numbering(struct compiled *cp, const struct compile_opts *opts)
{
	const struct hmap *prior = opts ? opts->prior_ids : NULL;

	cp->next_pod_id = NPBPF_ID_FIRST_POD;
	cp->next_cidr_id = NPBPF_ID_FIRST_CIDR;
	for (size_t i = 0; prior && i < prior->n_slots; i++) {
		uint32_t v = prior->slots[i].value;

		if (!prior->slots[i].hash)
			continue;
		if (NPBPF_ID_IS_CIDR(v) && v >= cp->next_cidr_id)
			cp->next_cidr_id = v + 1;
		else if (!NPBPF_ID_IS_CIDR(v) && v >= cp->next_pod_id)
			cp->next_pod_id = v + 1;
	}
}

/* Growable byte buffer for identity keys. */
struct keybuf {
	char *p;
	size_t len, cap;
};

static int kb_put(struct keybuf *kb, const void *data, size_t len)
{
	if (kb->len + len > kb->cap) {
		size_t cap = kb->cap ? kb->cap : 256;
		char *p;

		while (cap < kb->len + len)
			cap *= 2;
		p = realloc(kb->p, cap);
		if (!p)
			return -ENOMEM;
		kb->p = p;
		kb->cap = cap;
	}
	memcpy(kb->p + kb->len, data, len);
	kb->len += len;
	return 0;
}

static int kb_str(struct keybuf *kb, const char *s)
{
	return kb_put(kb, s, strlen(s) + 1);
}

static int cmp_port(const void *a, const void *b)
{
	const struct np_container_port *x = *(const struct np_container_port *const *)a;
	const struct np_container_port *y = *(const struct np_container_port *const *)b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->proto != y->proto)
		return x->proto - y->proto;
	return (int)x->port - (int)y->port;
}

/*
 * The key of a pod identity: namespace, labels (sorted already), named ports
 * (sorted here: containers may list them in any order) and region. Two pods
 * with equal labels but different numbers behind a port name get different
 * identities, so a named-port entry of one never applies to its twin.
 */
static int pod_identity_key(const struct np_pod *pod, const struct np_addr *region,
			    struct keybuf *kb)
{
	const struct np_container_port *named[64];
	size_t n_named = 0;
	int err;

	kb->len = 0;
	err = kb_str(kb, pod->ns);
	for (size_t i = 0; !err && i < pod->labels.n; i++) {
		err = kb_str(kb, pod->labels.v[i].key);
		if (!err)
			err = kb_str(kb, pod->labels.v[i].value);
	}
	if (!err)
		err = kb_put(kb, "\x01", 1);
	for (size_t i = 0; !err && i < pod->n_ports; i++) {
		if (pod->ports[i].name && n_named < sizeof(named) / sizeof(named[0]))
			named[n_named++] = &pod->ports[i];
	}
	qsort(named, n_named, sizeof(named[0]), cmp_port);
	for (size_t i = 0; !err && i < n_named; i++) {
		err = kb_str(kb, named[i]->name);
		if (!err)
			err = kb_put(kb, &named[i]->port, sizeof(named[i]->port));
		if (!err)
			err = kb_put(kb, &named[i]->proto, sizeof(named[i]->proto));
	}
	if (!err)
		err = kb_put(kb, "\x02", 1);
	if (!err)
		err = kb_put(kb, region, sizeof(*region));
	return err;
}

static int intern_pod(struct compiled *cp, const struct compile_opts *opts,
		      const struct np_pod *pod, const struct np_addr *addr, struct keybuf *kb,
		      uint32_t *id_out)
{
	struct np_addr region = { 0 };
	long r = addr ? identity_region_of(cp, addr) : -1;
	size_t idx;
	int ret;

	if (r >= 0)
		region = cp->prefixes[r];
	ret = pod_identity_key(pod, &region, kb);
	if (ret)
		return ret;
	ret = intern(cp, opts, kb->p, kb->len, IDENTITY_POD, &idx);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		cp->ids[idx].ns = cluster_find_ns(cp->cluster, pod->ns);
		cp->ids[idx].pod = pod;
		cp->ids[idx].region = region;
	}
	*id_out = (uint32_t)idx;
	return 0;
}

static int add_ipcache(struct compiled *cp, const struct np_addr *prefix, uint32_t id, bool host)
{
	struct compiled_ipc *e;

	if (prefix->plen == (prefix->family == 4 ? 32 : 128)) {
		struct np_addr key = addr_mask(prefix, prefix->plen);
		int ret = hmap_insert(&cp->host_index, &key, sizeof(key), id, NULL);

		if (ret <= 0)
			return ret; /* first owner of an address wins */
	}
	e = VEC_PUSH(cp->ipcache, cp->n_ipcache, cp->cap_ipcache);
	if (!e)
		return -ENOMEM;
	e->prefix = *prefix;
	e->id = id;
	e->host = host;
	return 0;
}

static int allocate_reserved(struct compiled *cp)
{
	/* Pod identity numbers are derived from their index in ids, after these. */
	if (!push_identity(cp, NPBPF_ID_ANY, IDENTITY_RESERVED) ||
	    !push_identity(cp, NPBPF_ID_HOST, IDENTITY_RESERVED) ||
	    !push_identity(cp, NPBPF_ID_WORLD, IDENTITY_RESERVED))
		return -ENOMEM;
	return 0;
}

/* How node names map to nodes while they are collected. */
struct node_ctx {
	bool per_node;
	const char *unnamed; /* the name the unnamed node is filed under */
};

/* The index of the node called name (NULL or "": the unnamed node), added on
 * first sight. Without per_node every name is this node. */
static int node_of(struct compiled *cp, const struct node_ctx *nx, const char *name, uint32_t *out)
{
	uint32_t idx = (uint32_t)cp->n_nodes;
	const char *key;
	int ret;

	*out = 0;
	if (!nx->per_node)
		return 0;
	key = name && *name ? name : nx->unnamed;
	/* With its NUL: the unnamed node's key "" must not be zero bytes long. */
	ret = hmap_insert(&cp->node_index, key, strlen(key) + 1, idx, &idx);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		char **slot = VEC_PUSH(cp->nodes, cp->n_nodes, cp->cap_nodes);

		if (!slot || (*key && !(*slot = strdup(key))))
			return -ENOMEM;
	}
	*out = idx;
	return 0;
}

/* Files addr under node, unless another node (or an earlier source) owns it
 * already: the operator's --node-ip first, then what the pods report. */
static int add_node_addr(struct compiled *cp, const struct np_addr *addr, uint32_t node)
{
	struct np_addr key = addr_mask(addr, addr->family == 4 ? 32 : 128);
	struct compiled_node_addr *na;
	int ret;

	ret = hmap_insert(&cp->node_addr_index, &key, sizeof(key), (uint32_t)cp->n_node_addrs,
			  NULL);
	if (ret <= 0)
		return ret;
	na = VEC_PUSH(cp->node_addrs, cp->n_node_addrs, cp->cap_node_addrs);
	if (!na)
		return -ENOMEM;
	na->addr = key;
	na->node = node;
	na->host_id = NPBPF_ID_HOST;
	return 0;
}

/* The one node the pods name, or "" when they name none or several: the
 * unnamed node (pods without spec.nodeName) is that node, so manifests
 * written without nodeName and single-node dumps need no node names. */
static const char *single_node_name(const struct np_cluster *c)
{
	const char *single = NULL;

	for (size_t i = 0; i < c->n_pods; i++) {
		const char *n = c->pods[i].node;

		if (!n)
			continue;
		if (single && strcmp(single, n))
			return "";
		single = n;
	}
	return single ? single : "";
}

/*
 * Nodes and their addresses. nodes[0] is this node. A node's addresses are
 * what the operator names (compile_opts) and what the pods report: a
 * hostNetwork pod's own addresses, and (per_node) every pod's
 * status.hostIPs.
 */
static int collect_nodes(struct compiled *cp, const struct compile_opts *opts)
{
	const struct np_cluster *c = cp->cluster;
	struct node_ctx nx = { .per_node = opts && opts->per_node, .unnamed = "" };
	uint32_t node;
	int err;

	if (nx.per_node)
		nx.unnamed = single_node_name(c);
	err = node_of(cp, &nx, opts ? opts->node_name : NULL, &node);
	if (!err && !nx.per_node) {
		char **slot = VEC_PUSH(cp->nodes, cp->n_nodes, cp->cap_nodes);
		const char *name = opts ? opts->node_name : NULL;

		if (!slot || (name && *name && !(*slot = strdup(name))))
			return -ENOMEM;
	}
	for (size_t i = 0; !err && opts && i < opts->n_node_addrs; i++)
		err = add_node_addr(cp, &opts->node_addrs[i], 0);
	for (size_t i = 0; !err && opts && i < opts->n_node_ips; i++) {
		const struct compile_node_ip *ip = &opts->node_ips[i];

		node = 0;
		if (ip->node)
			err = node_of(cp, &nx, ip->node, &node);
		if (!err)
			err = add_node_addr(cp, &ip->addr, node);
	}
	for (size_t i = 0; !err && i < c->n_pods; i++)
		err = node_of(cp, &nx, c->pods[i].node, &cp->pod_node[i]);
	/* Without per_node the pods are moved onto this one node (the lab puts
	 * the hostNetwork pods' addresses on it): the hostIPs they report are
	 * their old nodes', no address of this one. */
	for (size_t i = 0; !err && i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		for (size_t a = 0; !err && pod->host_network && a < pod->n_addrs; a++)
			err = add_node_addr(cp, &pod->addrs[a], cp->pod_node[i]);
		for (size_t a = 0; !err && nx.per_node && a < pod->n_host_addrs; a++)
			err = add_node_addr(cp, &pod->host_addrs[a], cp->pod_node[i]);
	}
	return err;
}

/* A pod's address enters the ipcache unless it is a node's: a node address
 * is the host on its node and any address elsewhere, whoever else claims it. */
static int add_pod_ipcache(struct compiled *cp, const struct np_addr *addr, uint32_t id)
{
	struct np_addr key = addr_mask(addr, addr->family == 4 ? 32 : 128);
	uint32_t idx;

	if (hmap_get(&cp->node_addr_index, &key, sizeof(key), &idx))
		return 0;
	return add_ipcache(cp, addr, id, false);
}

static int allocate_pods(struct compiled *cp, const struct compile_opts *opts)
{
	const struct np_cluster *c = cp->cluster;
	struct keybuf kb = { 0 };
	int err = 0;

	for (size_t i = 0; !err && i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];
		struct compiled_endpoint *ep;
		uint32_t id;

		if (pod->host_network) {
			cp->pod_id[i] = NPBPF_ID_HOST;
			continue;
		}
		/* The first address's identity is the pod's subject identity. */
		err = intern_pod(cp, opts, pod, pod->n_addrs ? &pod->addrs[0] : NULL, &kb, &id);
		if (err)
			break;
		cp->pod_id[i] = cp->ids[id].id;
		cp->ids[id].subject = true;
		for (size_t a = 0; !err && a < pod->n_addrs; a++) {
			err = intern_pod(cp, opts, pod, &pod->addrs[a], &kb, &id);
			if (!err)
				err = add_pod_ipcache(cp, &pod->addrs[a], cp->ids[id].id);
		}
		ep = err ? NULL : VEC_PUSH(cp->endpoints, cp->n_endpoints, cp->cap_endpoints);
		if (!err && !ep)
			err = -ENOMEM;
		if (ep) {
			ep->pod = pod;
			ep->id = cp->pod_id[i];
		}
	}
	free(kb.p);
	return err;
}

/*
 * The host's identities. A node address in no ipBlock region is
 * NPBPF_ID_HOST; one in a region gets the host identity of that region, so an
 * ipBlock admits exactly the node addresses it contains, decided per identity
 * as for pods. Every node's addresses get theirs (the tables are the same for
 * every node: explain judges each pod on its own node from one compile); only
 * this node's enter the ipcache. The other nodes' addresses are left out of
 * it, so this node's datapath finds their region or WORLD, as for any
 * address.
 */
static int allocate_hosts(struct compiled *cp, const struct compile_opts *opts)
{
	for (size_t i = 0; i < cp->n_node_addrs; i++) {
		struct compiled_node_addr *na = &cp->node_addrs[i];
		long r = identity_region_of(cp, &na->addr);
		int err;

		if (r >= 0) {
			char key[1 + sizeof(struct np_addr)] = { 4 };
			size_t idx;

			memcpy(key + 1, &cp->prefixes[r], sizeof(cp->prefixes[r]));
			err = intern(cp, opts, key, sizeof(key), IDENTITY_HOST, &idx);
			if (err < 0)
				return err;
			cp->ids[idx].region = cp->prefixes[r];
			na->host_id = cp->ids[idx].id;
		}
		if (na->node != 0)
			continue;
		err = add_ipcache(cp, &na->addr, na->host_id, true);
		if (err)
			return err;
	}
	return 0;
}

static int allocate_cidrs(struct compiled *cp, const struct compile_opts *opts)
{
	cp->first_cidr_idx = cp->n_ids;
	for (size_t i = 0; i < cp->n_prefixes; i++) {
		char key[1 + sizeof(struct np_addr)] = { 3 };
		size_t idx;
		int err;

		memcpy(key + 1, &cp->prefixes[i], sizeof(cp->prefixes[i]));
		err = intern(cp, opts, key, sizeof(key), IDENTITY_CIDR, &idx);
		if (err < 0)
			return err;
		cp->ids[idx].region = cp->prefixes[i];
		err = add_ipcache(cp, &cp->prefixes[i], cp->ids[idx].id, false);
		if (err)
			return err;
	}
	return 0;
}

int identity_allocate(struct compiled *cp, const struct compile_opts *opts)
{
	size_t n_pods = cp->cluster->n_pods ? cp->cluster->n_pods : 1;
	int err;

	cp->pod_id = calloc(n_pods, sizeof(*cp->pod_id));
	cp->pod_node = calloc(n_pods, sizeof(*cp->pod_node));
	if (!cp->pod_id || !cp->pod_node)
		return -ENOMEM;
	init_numbering(cp, opts);
	err = collect_prefixes(cp);
	if (!err)
		err = allocate_reserved(cp);
	if (!err)
		err = collect_nodes(cp, opts);
	if (!err)
		err = allocate_pods(cp, opts);
	if (!err)
		err = allocate_hosts(cp, opts);
	if (!err)
		err = allocate_cidrs(cp, opts);
	return err;
}
