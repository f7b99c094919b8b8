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

static struct np_addr addr_full(const struct np_addr *a)
{
	return addr_mask(a, a->family == 4 ? 32 : 128);
}

/* ---- ipBlock regions. */

static int add_prefix(struct identities *idt, const struct np_addr *p)
{
	struct np_addr key = addr_mask(p, p->plen);
	struct np_addr *slot;
	int fi = fam_index(key.family);
	int ret;

	ret = hmap_insert(&idt->prefix_index, &key, sizeof(key), (uint32_t)idt->n_prefixes, NULL);
	if (ret <= 0)
		return ret;
	slot = VEC_PUSH(idt->prefixes, idt->n_prefixes, idt->cap_prefixes);
	if (!slot)
		return -ENOMEM;
	*slot = key;
	idt->first_bytes[fi][key.plen][key.bytes[0] >> 3] |= (uint8_t)(1u << (key.bytes[0] & 7));
	for (size_t i = 0; i < idt->n_plens[fi]; i++) {
		if (idt->plens[fi][i] == key.plen)
			return 0;
	}
	idt->plens[fi][idt->n_plens[fi]++] = key.plen;
	return 0;
}

static int cmp_plen_desc(const void *a, const void *b)
{
	return (int)*(const uint8_t *)b - (int)*(const uint8_t *)a;
}

static int collect_prefixes(struct identities *idt)
{
	const struct np_cluster *c = idt->cluster;
	int err;

	for (size_t p = 0; p < c->n_policies; p++) {
		for (int d = 0; d < 2; d++) {
			for (size_t r = 0; r < c->policies[p].n_rules[d]; r++) {
				const struct np_rule *rule = &c->policies[p].rules[d][r];

				for (size_t i = 0; i < rule->n_peers; i++) {
					const struct np_peer *peer = &rule->peers[i];

					if (!peer->has_ipblock)
						continue;
					err = add_prefix(idt, &peer->ipblock.cidr);
					for (size_t e = 0; !err && e < peer->ipblock.n_except; e++)
						err = add_prefix(idt, &peer->ipblock.except[e]);
					if (err)
						return err;
				}
			}
		}
	}
	for (int fi = 0; fi < 2; fi++)
		qsort(idt->plens[fi], idt->n_plens[fi], 1, cmp_plen_desc);
	return 0;
}

/* The longest region containing addr whose identity satisfies numbered_only
 * (false: any region), as an index into prefixes, or -1. One hash probe per
 * distinct prefix length of the family, longest first: the same answer an
 * LPM trie gives, without building one. */
static long region_probe(const uint8_t (*plens)[129], const size_t *n_plens,
			 const struct hmap *prefix_index, const uint8_t (*first_bytes)[129][32],
			 const struct np_addr *addr, size_t *from)
{
	int fi = fam_index(addr->family);

	for (size_t i = *from; i < n_plens[fi]; i++) {
		uint8_t plen = plens[fi][i];
		struct np_addr key;
		uint32_t idx;

		if (plen > addr->plen)
			continue;
		if (first_bytes) {
			/* No prefix of this length starts with addr's first
			 * byte (masked to the length): none contains addr. */
			uint8_t b = addr->bytes[0] & (uint8_t)(plen >= 8 ? 0xff : 0xff00u >> plen);

			if (!(first_bytes[fi][plen][b >> 3] & (1u << (b & 7))))
				continue;
		}
		key = addr_mask(addr, plen);
		if (!hmap_get(prefix_index, &key, sizeof(key), &idx))
			continue;
		*from = i + 1;
		return idx;
	}
	return -1;
}

static long region_lookup(const struct identities *idt, const struct np_addr *addr,
			  bool numbered_only)
{
	size_t from = 0;
	long idx;

	while ((idx = region_probe((const uint8_t (*)[129])idt->plens, idt->n_plens,
				   &idt->prefix_index,
				   (const uint8_t (*)[129][32])idt->first_bytes, addr, &from)) >= 0) {
		/* A region whose identity got no number is in no ipcache: the
		 * datapath finds the next shorter one. */
		if (!numbered_only || idt->ids[idt->first_cidr_idx + idx].id != NUMBER_NONE)
			return idx;
	}
	return -1;
}

long identity_region_of(const struct identities *idt, const struct np_addr *addr)
{
	return region_lookup(idt, addr, false);
}

/*
 * A region is the longest ipBlock prefix its addresses fall in. Because all
 * cidrs and excepts are themselves prefixes of the set, a cidr contains every
 * address of the region exactly when it contains the region's prefix, and
 * likewise for an except: membership is decided per region, not per address.
 */
bool identity_in_ipblock(const struct identity *idn, const struct np_ipblock *b)
{
	const struct np_addr *r = &idn->region;

	if (!r->family || r->family != b->cidr.family || !addr_contains(&b->cidr, r))
		return false;
	for (size_t e = 0; e < b->n_except; e++) {
		if (addr_contains(&b->except[e], r))
			return false;
	}
	return true;
}

/* ---- Identities and their numbers. */

static struct identity *push_identity(struct identities *idt, uint32_t id, enum identity_kind kind)
{
	uint32_t idx = (uint32_t)idt->n_ids;
	struct identity *idn = VEC_PUSH(idt->ids, idt->n_ids, idt->cap_ids);

	if (!idn)
		return NULL;
	if (id != NUMBER_NONE && hmap_insert(&idt->id_by_num, &id, sizeof(id), idx, NULL) < 0)
		return NULL;
	idn->id = id;
	idn->kind = kind;
	return idn;
}

/* Interns key; *idx_out is the identity's index in ids. A new identity gets
 * its number from nb. Returns 1 when the identity is new, 0 when it existed,
 * or -errno. */
static int intern(struct identities *idt, struct numbering *nb, const void *key, size_t len,
		  enum identity_kind kind, size_t *idx_out)
{
	uint32_t idx = (uint32_t)idt->n_ids, id;
	size_t off = idt->id_index.keys_len;
	struct identity *idn;
	int ret;

	ret = hmap_insert(&idt->id_index, key, len, idx, &idx);
	if (ret < 0)
		return ret;
	*idx_out = idx;
	if (ret == 0)
		return 0;
	ret = numbering_identity(nb, key, len, kind == IDENTITY_CIDR || kind == IDENTITY_HOST, &id);
	if (ret)
		return ret;
	idn = push_identity(idt, id, kind);
	if (!idn)
		return -ENOMEM;
	idn->key_off = (uint32_t)off;
	idn->key_len = (uint32_t)len;
	return 1;
}

/* Growable byte buffer for identity keys. */
struct keybuf {
	char *p;
	size_t len, cap;
};

/* At least one more byte of room. */
static int kb_grow(struct keybuf *kb)
{
	size_t cap = kb->cap ? kb->cap * 2 : 256;
	char *p = realloc(kb->p, cap);

	if (!p)
		return -ENOMEM;
	kb->p = p;
	kb->cap = cap;
	return 0;
}

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
	/* Labels are short: copied byte by byte while room lasts, without a
	 * strlen and a memcpy call each. */
	size_t len = kb->len;

	for (;;) {
		char c;

		if (len == kb->cap) {
			kb->len = len;
			if (kb_grow(kb))
				return -ENOMEM;
		}
		c = *s++;
		kb->p[len++] = c;
		if (!c)
			break;
	}
	kb->len = len;
	return 0;
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
	/* Every named port, however many: one left out would give two pods
	 * with different numbers behind it the same identity. */
	const struct np_container_port *few[16], **named = few;
	size_t n_named = 0;
	int err;

	kb->len = 0;
	if (pod->n_ports > sizeof(few) / sizeof(few[0])) {
		named = calloc(pod->n_ports, sizeof(*named));
		if (!named)
			return -ENOMEM;
	}
	err = kb_str(kb, pod->ns);
	for (size_t i = 0; !err && i < pod->labels.n; i++) {
		err = kb_str(kb, pod->labels.v[i].key);
		if (!err)
			err = kb_str(kb, pod->labels.v[i].value);
	}
	if (!err)
		err = kb_put(kb, "\x01", 1);
	for (size_t i = 0; !err && i < pod->n_ports; i++) {
		if (pod->ports[i].name)
			named[n_named++] = &pod->ports[i];
	}
	if (n_named > 8) {
		qsort(named, n_named, sizeof(named[0]), cmp_port);
	} else {
		/* A pod names a few ports: an insertion sort, without qsort's
		 * setup per pod. Equal ports give equal bytes, so the order
		 * among them does not matter. */
		for (size_t i = 1; i < n_named; i++) {
			const struct np_container_port *cur = named[i];
			size_t j = i;

			for (; j > 0 && cmp_port(&named[j - 1], &cur) > 0; j--)
				named[j] = named[j - 1];
			named[j] = cur;
		}
	}
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
	if (named != few)
		free(named);
	return err;
}

static int intern_pod(struct identities *idt, struct numbering *nb, const struct np_pod *pod,
		      const struct np_addr *addr, struct keybuf *kb, size_t *idx_out)
{
	struct np_addr region = { 0 };
	long r = addr ? identity_region_of(idt, addr) : -1;
	int ret;

	if (r >= 0)
		region = idt->prefixes[r];
	ret = pod_identity_key(pod, &region, kb);
	if (ret)
		return ret;
	ret = intern(idt, nb, kb->p, kb->len, IDENTITY_POD, idx_out);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		idt->ids[*idx_out].ns = cluster_find_ns(idt->cluster, pod->ns);
		idt->ids[*idx_out].pod = pod;
		idt->ids[*idx_out].region = region;
	}
	return 0;
}

/* The key of a CIDR (kind 3) or host (kind 4) identity: its region. */
static int intern_region(struct identities *idt, struct numbering *nb, const struct np_addr *r,
			 enum identity_kind kind, size_t *idx)
{
	char key[1 + sizeof(struct np_addr)] = { kind == IDENTITY_HOST ? 4 : 3 };
	int ret;

	memcpy(key + 1, r, sizeof(*r));
	ret = intern(idt, nb, key, sizeof(key), kind, idx);
	if (ret >= 0)
		idt->ids[*idx].region = *r;
	return ret < 0 ? ret : 0;
}

static int allocate_reserved(struct identities *idt)
{
	if (!push_identity(idt, NPBPF_ID_ANY, IDENTITY_RESERVED) ||
	    !push_identity(idt, NPBPF_ID_HOST, IDENTITY_RESERVED) ||
	    !push_identity(idt, NPBPF_ID_WORLD, IDENTITY_RESERVED))
		return -ENOMEM;
	return 0;
}

/* ---- The ipcache, as the datapath's maps hold it. */

static void abi_addr(const struct np_addr *a, struct npbpf_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = a->family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
	memcpy(out->addr, a->bytes, a->family == 4 ? 4 : 16);
}

/*
 * An ipcache entry for prefix. Full-length addresses go into the exact map,
 * the first owner of an address winning; this node's own (host) are marked
 * as such, whatever their (region's) host identity number. An identity
 * without a number gets no entry: its addresses resolve to their region or
 * world, and when it is one of the CIDR range (region), that shorter prefix
 * may admit more than the missing one did (compile.c isolates for it).
 */
static int add_ipcache(struct identities *idt, const struct np_addr *prefix, uint32_t id, bool host,
		       bool region)
{
	bool exact = prefix->plen == (prefix->family == 4 ? 32 : 128);
	struct npbpf_ipc_value v = { .identity = id };
	struct ipc_host_entry *he;
	struct ipc_cidr_entry *ce;

	if (exact) {
		struct np_addr key = addr_full(prefix);
		int ret = hmap_insert(&idt->host_index, &key, sizeof(key), id, NULL);

		if (ret <= 0)
			return ret; /* first owner of an address wins */
	}
	if (id == NUMBER_NONE) {
		idt->region_lost |= region;
		return 0;
	}
	if (host)
		v.flags = NPBPF_IPC_NODE | NPBPF_IPC_ON_LINK;
	if (exact) {
		he = VEC_PUSH(idt->ipc_host, idt->n_ipc_host, idt->cap_ipc_host);
		if (he) {
			abi_addr(prefix, &he->key);
			he->value = v;
		}
		return he ? 0 : -ENOMEM;
	}
	ce = VEC_PUSH(idt->ipc_cidr, idt->n_ipc_cidr, idt->cap_ipc_cidr);
	if (ce) {
		abi_addr(prefix, &ce->key.a);
		ce->key.prefixlen = 32u + prefix->plen;
		ce->value = v;
	}
	return ce ? 0 : -ENOMEM;
}

/* ---- Nodes. */

/* How node names map to nodes while they are collected. */
struct node_ctx {
	bool per_node;
	const char *unnamed; /* the name the unnamed node is filed under */
};

/* The index of the node called name (NULL or "": the unnamed node), added on
 * first sight. Without per_node every name is this node. */
static int node_of(struct identities *idt, const struct node_ctx *nx, const char *name,
		   uint32_t *out)
{
	uint32_t idx = (uint32_t)idt->n_nodes;
	const char *key;
	int ret;

	*out = 0;
	if (!nx->per_node)
		return 0;
	key = name && *name ? name : nx->unnamed;
	/* With its NUL: the unnamed node's key "" must not be zero bytes long. */
	ret = hmap_insert(&idt->node_index, key, strlen(key) + 1, idx, &idx);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		char **slot = VEC_PUSH(idt->nodes, idt->n_nodes, idt->cap_nodes);

		if (!slot || (*key && !(*slot = strdup(key))))
			return -ENOMEM;
	}
	*out = idx;
	return 0;
}

/* Files addr under node, unless another node (or an earlier source) owns it
 * already: the operator's --node-ip first, then what the pods report. */
static int add_node_addr(struct identities *idt, const struct np_addr *addr, uint32_t node)
{
	struct np_addr key = addr_full(addr);
	struct node_addr *na;
	int ret;

	ret = hmap_insert(&idt->node_addr_index, &key, sizeof(key), (uint32_t)idt->n_node_addrs,
			  NULL);
	if (ret <= 0)
		return ret;
	na = VEC_PUSH(idt->node_addrs, idt->n_node_addrs, idt->cap_node_addrs);
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
static int collect_nodes(struct identities *idt, const struct compile_opts *opts)
{
	const struct np_cluster *c = idt->cluster;
	struct node_ctx nx = { .per_node = opts->per_node, .unnamed = "" };
	uint32_t node;
	int err;

	if (nx.per_node)
		nx.unnamed = single_node_name(c);
	err = node_of(idt, &nx, opts->node_name, &node);
	if (!err && !nx.per_node) {
		char **slot = VEC_PUSH(idt->nodes, idt->n_nodes, idt->cap_nodes);
		const char *name = opts->node_name;

		if (!slot || (name && *name && !(*slot = strdup(name))))
			return -ENOMEM;
	}
	for (size_t i = 0; !err && i < opts->n_node_addrs; i++)
		err = add_node_addr(idt, &opts->node_addrs[i], 0);
	for (size_t i = 0; !err && i < opts->n_node_ips; i++) {
		const struct compile_node_ip *ip = &opts->node_ips[i];

		node = 0;
		if (ip->node)
			err = node_of(idt, &nx, ip->node, &node);
		if (!err)
			err = add_node_addr(idt, &ip->addr, node);
	}
	for (size_t i = 0; !err && i < c->n_pods; i++)
		err = node_of(idt, &nx, c->pods[i].node, &idt->pod_node[i]);
	/* Without per_node the pods are moved onto this one node (the lab puts
	 * the hostNetwork pods' addresses on it): the hostIPs they report are
	 * their old nodes', no address of this one. */
	for (size_t i = 0; !err && i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		for (size_t a = 0; !err && pod->host_network && a < pod->n_addrs; a++)
			err = add_node_addr(idt, &pod->addrs[a], idt->pod_node[i]);
		for (size_t a = 0; !err && nx.per_node && a < pod->n_host_addrs; a++)
			err = add_node_addr(idt, &pod->host_addrs[a], idt->pod_node[i]);
	}
	return err;
}

/* ---- Pods, hosts and regions. */

/* A pod's address enters the ipcache unless it is a node's: a node address
 * is the host on its node and any address elsewhere, whoever else claims it. */
static int add_pod_ipcache(struct identities *idt, const struct np_addr *addr, uint32_t id)
{
	struct np_addr key = addr_full(addr);

	if (hmap_get(&idt->node_addr_index, &key, sizeof(key), NULL))
		return 0;
	return add_ipcache(idt, addr, id, false, false);
}

static int allocate_pods(struct identities *idt, struct numbering *nb)
{
	const struct np_cluster *c = idt->cluster;
	struct keybuf kb = { 0 };
	int err = 0;

	for (size_t i = 0; !err && i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];
		size_t idx;

		if (pod->host_network) {
			idt->pod_id[i] = NPBPF_ID_HOST;
			continue;
		}
		/* The first address's identity is the pod's subject identity. */
		err = intern_pod(idt, nb, pod, pod->n_addrs ? &pod->addrs[0] : NULL, &kb, &idx);
		if (err)
			break;
		idt->pod_id[i] =
			idt->ids[idx].id == NUMBER_NONE ? NPBPF_ID_ISOLATED : idt->ids[idx].id;
		idt->ids[idx].subject = true;
		if (idt->pod_node[i] == 0)
			idt->ids[idx].local_subject = true;
		/* Per address: the first one's identity is the one just found
		 * (the same key, worked out once: a tenth of a compile). */
		for (size_t a = 0; !err && a < pod->n_addrs; a++) {
			if (a)
				err = intern_pod(idt, nb, pod, &pod->addrs[a], &kb, &idx);
			if (!err)
				err = add_pod_ipcache(idt, &pod->addrs[a], idt->ids[idx].id);
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
static int allocate_hosts(struct identities *idt, struct numbering *nb)
{
	for (size_t i = 0; i < idt->n_node_addrs; i++) {
		struct node_addr *na = &idt->node_addrs[i];
		long r = identity_region_of(idt, &na->addr);
		int err;

		if (r >= 0) {
			size_t idx;

			err = intern_region(idt, nb, &idt->prefixes[r], IDENTITY_HOST, &idx);
			if (err)
				return err;
			na->host_id = idt->ids[idx].id;
		}
		if (na->node != 0)
			continue;
		err = add_ipcache(idt, &na->addr, na->host_id, true, r >= 0);
		if (err)
			return err;
	}
	return 0;
}

static int allocate_cidrs(struct identities *idt, struct numbering *nb)
{
	idt->first_cidr_idx = idt->n_ids;
	for (size_t i = 0; i < idt->n_prefixes; i++) {
		size_t idx;
		int err;

		err = intern_region(idt, nb, &idt->prefixes[i], IDENTITY_CIDR, &idx);
		if (!err)
			err = add_ipcache(idt, &idt->prefixes[i], idt->ids[idx].id, false, true);
		if (err)
			return err;
	}
	return 0;
}

/* The indexes sized once for what they will hold, instead of doubling their
 * way up (a rehash of everything each time): the ipcache's addresses (every
 * pod address, plus the node's), and about as many identities as the prior
 * numbered (the agent's syncs follow one another with few changes). */
static int reserve_indexes(struct identities *idt, const struct np_cluster *c,
			   const struct numbering *nb)
{
	size_t n_addrs = 16, n_ids = 64, key_bytes = 0;
	int err;

	for (size_t i = 0; i < c->n_pods; i++)
		n_addrs += c->pods[i].n_addrs;
	if (nb->prior) {
		n_ids += nb->prior->keys.n_used;
		key_bytes = nb->prior->keys.keys_len + 64 * 128;
	}
	err = hmap_reserve(&idt->host_index, n_addrs, n_addrs * sizeof(struct np_addr));
	if (!err)
		err = hmap_reserve(&idt->id_index, n_ids, key_bytes);
	if (!err)
		err = hmap_reserve(&idt->id_by_num, n_ids, n_ids * sizeof(uint32_t));
	return err;
}

int identities_build(struct identities *idt, const struct np_cluster *c,
		     const struct compile_opts *opts, struct numbering *nb)
{
	static const struct compile_opts none;
	size_t n_pods = c->n_pods ? c->n_pods : 1;
	int err;

	memset(idt, 0, sizeof(*idt));
	idt->cluster = c;
	hmap_init(&idt->id_index);
	hmap_init(&idt->id_by_num);
	hmap_init(&idt->prefix_index);
	hmap_init(&idt->node_index);
	hmap_init(&idt->node_addr_index);
	hmap_init(&idt->host_index);
	idt->pod_id = calloc(n_pods, sizeof(*idt->pod_id));
	idt->pod_node = calloc(n_pods, sizeof(*idt->pod_node));
	if (!idt->pod_id || !idt->pod_node)
		return -ENOMEM;
	err = reserve_indexes(idt, c, nb);
	if (!err)
		err = collect_prefixes(idt);
	if (!err)
		err = allocate_reserved(idt);
	if (!err)
		err = collect_nodes(idt, opts ? opts : &none);
	if (!err)
		err = allocate_pods(idt, nb);
	if (!err)
		err = allocate_hosts(idt, nb);
	if (!err)
		err = allocate_cidrs(idt, nb);
	return err;
}

void identities_free(struct identities *idt)
{
	if (!idt)
		return;
	free(idt->ids);
	free(idt->pod_id);
	free(idt->prefixes);
	for (size_t i = 0; i < idt->n_nodes; i++)
		free(idt->nodes[i]);
	free(idt->nodes);
	free(idt->pod_node);
	free(idt->node_addrs);
	free(idt->ipc_host);
	free(idt->ipc_cidr);
	hmap_free(&idt->id_index);
	hmap_free(&idt->id_by_num);
	hmap_free(&idt->prefix_index);
	hmap_free(&idt->node_index);
	hmap_free(&idt->node_addr_index);
	hmap_free(&idt->host_index);
	memset(idt, 0, sizeof(*idt));
}

/* ---- Lookups. */

const struct identity *identity_by_number(const struct identities *idt, uint32_t id)
{
	uint32_t idx;

	if (!hmap_get(&idt->id_by_num, &id, sizeof(id), &idx))
		return NULL;
	return &idt->ids[idx];
}

const void *identity_key(const struct identities *idt, const struct identity *idn, size_t *len)
{
	*len = idn->key_len;
	return idt->id_index.keys + idn->key_off;
}

static int strbuf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 128;
		char *p;

		while (c < *len + n + 1)
			c *= 2;
		p = realloc(*buf, c);
		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

int identity_label(const struct identity *idn, char **out, size_t *out_len)
{
	char *buf = NULL, addr[64];
	size_t len = 0, cap = 0;
	int err = 0;

	if (idn->kind == IDENTITY_CIDR || idn->kind == IDENTITY_HOST) {
		const char *what = idn->kind == IDENTITY_HOST ? "host in cidr " : "cidr ";

		addr_format(&idn->region, addr, sizeof(addr));
		err = strbuf_add(&buf, &len, &cap, what, strlen(what));
		if (!err)
			err = strbuf_add(&buf, &len, &cap, addr, strlen(addr));
	} else {
		const struct np_labels *l = &idn->pod->labels;

		err = strbuf_add(&buf, &len, &cap, idn->pod->ns, strlen(idn->pod->ns));
		if (!err)
			err = strbuf_add(&buf, &len, &cap, "/", 1);
		for (size_t i = 0; !err && i < l->n; i++) {
			if (i)
				err = strbuf_add(&buf, &len, &cap, ",", 1);
			if (!err)
				err = strbuf_add(&buf, &len, &cap, l->v[i].key,
						 strlen(l->v[i].key));
			if (!err)
				err = strbuf_add(&buf, &len, &cap, "=", 1);
			if (!err)
				err = strbuf_add(&buf, &len, &cap, l->v[i].value,
						 strlen(l->v[i].value));
		}
		if (!err && !l->n)
			err = strbuf_add(&buf, &len, &cap, "<no labels>", 11);
	}
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

/* What this node's ipcache resolves addr to when no exact entry holds it:
 * the longest region with a number, else WORLD. */
static uint32_t region_identity(const struct identities *idt, const struct np_addr *addr)
{
	long r = region_lookup(idt, addr, true);

	return r >= 0 ? idt->ids[idt->first_cidr_idx + (size_t)r].id : NPBPF_ID_WORLD;
}

/* The datapath's order (bpf/lib/identity.h): exact address, then region,
 * then WORLD. A node address is exact only on its own node: elsewhere it
 * falls through to its region, as this node's ipcache leaves it out. */
void identity_addr_lookup(const struct identities *idt, const struct np_addr *addr, uint32_t node,
			  struct addr_info *out)
{
	struct np_addr key = addr_full(addr);
	uint32_t idx, id;

	memset(out, 0, sizeof(*out));
	if (hmap_get(&idt->node_addr_index, &key, sizeof(key), &idx)) {
		const struct node_addr *na = &idt->node_addrs[idx];

		out->node = na->node;
		out->kind = na->node == node ? ADDR_HOST : ADDR_REMOTE_NODE;
		out->id = na->node == node && na->host_id != NUMBER_NONE
				  ? na->host_id
				  : region_identity(idt, &key);
		return;
	}
	if (hmap_get(&idt->host_index, &key, sizeof(key), &id) && id != NUMBER_NONE) {
		out->kind = ADDR_POD;
		out->id = id;
		return;
	}
	out->id = region_identity(idt, &key);
	out->kind = out->id == NPBPF_ID_WORLD ? ADDR_WORLD : ADDR_CIDR;
}

/* ---- Keys without the compile (identity.h: struct identity_keyer). */

int identity_keyer_init(struct identity_keyer *k, const struct identities *idt)
{
	memset(k, 0, sizeof(*k));
	hmap_init(&k->prefix_index);
	if (idt->n_prefixes) {
		k->prefixes = malloc(idt->n_prefixes * sizeof(*k->prefixes));
		if (!k->prefixes)
			return -ENOMEM;
		memcpy(k->prefixes, idt->prefixes, idt->n_prefixes * sizeof(*k->prefixes));
	}
	k->n_prefixes = idt->n_prefixes;
	for (size_t i = 0; i < k->n_prefixes; i++)
		if (hmap_insert(&k->prefix_index, &k->prefixes[i], sizeof(k->prefixes[i]),
				(uint32_t)i, NULL) < 0)
			return -ENOMEM;
	memcpy(k->plens, idt->plens, sizeof(k->plens));
	memcpy(k->n_plens, idt->n_plens, sizeof(k->n_plens));
	return 0;
}

void identity_keyer_free(struct identity_keyer *k)
{
	free(k->prefixes);
	hmap_free(&k->prefix_index);
	free(k->buf);
	memset(k, 0, sizeof(*k));
}

int identity_keyer_pod(struct identity_keyer *k, const struct np_pod *pod,
		       const struct np_addr *addr, const void **key, size_t *len)
{
	struct keybuf kb = { k->buf, 0, k->cap };
	struct np_addr region = { 0 };
	size_t from = 0;
	long r = addr ? region_probe((const uint8_t (*)[129])k->plens, k->n_plens,
				     &k->prefix_index, NULL, addr, &from)
		      : -1;
	int err;

	if (r >= 0)
		region = k->prefixes[r];
	err = pod_identity_key(pod, &region, &kb);
	k->buf = kb.p;
	k->cap = kb.cap;
	if (err)
		return err;
	*key = kb.p;
	*len = kb.len;
	return 0;
}
