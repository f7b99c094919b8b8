/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy compilation: cluster model -> identities -> the tables of
 * include/npbpf/tables.h that the datapath loads and explain reads.
 */
#ifndef NPBPF_COMPILE_H
#define NPBPF_COMPILE_H

#include <npbpf/tables.h>

#include "hmap.h"
#include "model.h"

/* Policy index charged for the node's own traffic to its pods (kubelet
 * probes), which is allowed unless compile_opts.enforce_host is set. */
#define NPBPF_POLICY_HOST 0xffffffffu

enum identity_kind {
	IDENTITY_RESERVED,
	IDENTITY_POD,
	IDENTITY_CIDR,
	/* A node's own addresses in one ipBlock region, as that node sees them
	 * (NPBPF_ID_HOST stands for those in none): like pods, the host carries
	 * its region so an ipBlock decides per identity. Numbered in the CIDR
	 * range, so the CLUSTER wildcard (pods only) never matches it. */
	IDENTITY_HOST,
};

struct identity {
	uint32_t id;
	enum identity_kind kind;
	/* IDENTITY_POD: the namespace and a pod that carries this identity (its
	 * labels and named ports are the identity's). */
	const struct np_namespace *ns;
	const struct np_pod *pod;
	/* IDENTITY_CIDR: the prefix. IDENTITY_POD, IDENTITY_HOST: the ipBlock
	 * region the addresses of this identity fall in; region.family == 0
	 * when none. */
	struct np_addr region;
	bool subject; /* the primary identity of at least one pod: policies may select it */
	uint32_t key_off, key_len; /* identity key bytes in id_index (compiled_identity_key) */
};

struct compiled_entry {
	struct npbpf_policy_key key;
	struct npbpf_policy_value value;
};

struct compiled_range {
	struct npbpf_range_key key;
	struct npbpf_policy_value value;
};

struct compiled_subject {
	uint32_t id;
	struct npbpf_subject s;
};

struct compiled_ipc {
	struct np_addr prefix; /* full length for pods and the node */
	uint32_t id;
	/* An address of this node itself. Its identity is NPBPF_ID_HOST or an
	 * IDENTITY_HOST (by region), so "is this the node" is this flag, not a
	 * number (map sync writes it as NPBPF_IPC_NODE | NPBPF_IPC_ON_LINK). */
	bool host;
};

struct compiled_endpoint {
	const struct np_pod *pod;
	uint32_t id; /* the pod's subject identity */
};

/* An address of a node. On that node it is the host (host_id); on every
 * other node it is an address like any other: no exact ipcache entry, so it
 * resolves to its ipBlock region's CIDR identity, or WORLD. */
struct compiled_node_addr {
	struct np_addr addr; /* full length */
	uint32_t node;       /* index into compiled.nodes */
	uint32_t host_id;    /* NPBPF_ID_HOST, or the IDENTITY_HOST of its region */
};

/* An address of a named node (explain --node-ip NODE=ADDR). */
struct compile_node_ip {
	const char *node; /* NULL: this node, as compile_opts.node_addrs */
	struct np_addr addr;
};

struct compile_opts {
	bool enforce_host;              /* do not allow the node's traffic to isolated pods */
	const struct np_addr *node_addrs; /* addresses of this node (the host) */
	size_t n_node_addrs;
	const struct compile_node_ip *node_ips; /* addresses of nodes by name */
	size_t n_node_ips;
	/*
	 * Which node is "this node", whose own addresses are the host.
	 *  - per_node false: every pod, hostNetwork pod and node address is on
	 *    this one node (the lab and the datapath tests run every pod on one
	 *    node); node_name is only its label, and the pods' status.hostIPs
	 *    (their original nodes') are not its addresses.
	 *  - per_node true: a pod is on the node its spec.nodeName names, and
	 *    this node is node_name. Pods without spec.nodeName, and node_name
	 *    NULL, mean the unnamed node, which is the one node the pods name
	 *    when they name exactly one (a single-node dump, or manifests
	 *    written without nodeName).
	 * The policy tables are the same for every node; only the ipcache (and
	 * compiled_addr_identity) is this node's. compiled_addr_lookup answers
	 * for any node, which is how explain judges each pod on its own node.
	 */
	bool per_node;
	const char *node_name;
	/* Identity numbers of an earlier compile (identity key bytes -> number,
	 * see compiled_identity_key), so a label set keeps its number across
	 * syncs and agent restarts; new keys get numbers above all of them. */
	const struct hmap *prior_ids;
};

struct compiled {
	const struct np_cluster *cluster;
	struct identity *ids;
	size_t n_ids, cap_ids;
	struct compiled_entry *entries;
	size_t n_entries, cap_entries;
	struct compiled_range *ranges;
	size_t n_ranges, cap_ranges;
	struct compiled_subject *subjects; /* sorted by id */
	size_t n_subjects, cap_subjects;
	struct compiled_ipc *ipcache;
	size_t n_ipcache, cap_ipcache;
	struct compiled_endpoint *endpoints; /* one per non-hostNetwork pod, cluster order */
	size_t n_endpoints, cap_endpoints;

	/* Indexes for lookups; owned. */
	struct hmap id_index;     /* identity key bytes -> index in ids */
	struct hmap id_by_num;    /* __u32 identity number -> index in ids */
	uint32_t next_pod_id, next_cidr_id;
	struct hmap entry_index;  /* struct npbpf_policy_key -> index in entries */
	struct hmap range_index;  /* struct npbpf_range_key -> index in ranges */
	struct hmap subject_index; /* __u32 id -> index in subjects */
	struct hmap host_index;   /* struct npbpf_addr (full length) -> identity */
	struct np_addr *prefixes; /* ipBlock cidrs and excepts, distinct */
	size_t n_prefixes, cap_prefixes;
	struct hmap prefix_index; /* struct np_addr -> index in prefixes */
	uint8_t plens[2][129];    /* distinct prefix lengths per family (v4, v6), longest first */
	size_t n_plens[2];
	uint32_t *pod_id;         /* per cluster pod: subject identity (HOST for hostNetwork) */
	size_t first_cidr_idx;    /* ids: reserved, pod, host, then CIDR identities from here */

	/* Node names, owned: [0] is this node (compile_opts.node_name); NULL
	 * for the unnamed node. */
	char **nodes;
	size_t n_nodes, cap_nodes;
	struct hmap node_index;   /* node name ("" unnamed) -> index in nodes */
	uint32_t *pod_node;       /* per cluster pod: index into nodes */
	struct compiled_node_addr *node_addrs; /* every known node address, first owner wins */
	size_t n_node_addrs, cap_node_addrs;
	struct hmap node_addr_index; /* struct np_addr (full length) -> index in node_addrs */
};

/* What an address is, seen from one node. */
enum addr_kind {
	ADDR_POD,         /* a (non-hostNetwork) pod's address */
	ADDR_HOST,        /* an address of the node itself (kubelet, hostNetwork pods) */
	ADDR_REMOTE_NODE, /* an address of another node: not the host, any address */
	ADDR_CIDR,        /* outside the cluster, inside an ipBlock region */
	ADDR_WORLD,       /* outside the cluster and every ipBlock */
};

struct addr_info {
	enum addr_kind kind;
	uint32_t id;   /* its identity there: what the datapath of that node looks up */
	uint32_t node; /* ADDR_HOST, ADDR_REMOTE_NODE: the node it belongs to */
};

/* Compiles a validated, finalized cluster. The cluster must outlive out.
 * Returns 0 or -ENOMEM. On error out is released. */
int compile_cluster(const struct np_cluster *c, const struct compile_opts *opts,
		    struct compiled *out);
void compiled_free(struct compiled *cp);

/* Identity of an address as the datapath of this node (nodes[0]) finds it:
 * this node, a pod, the longest ipBlock region, else NPBPF_ID_WORLD. */
uint32_t compiled_addr_identity(const struct compiled *cp, const struct np_addr *addr);
/* The same seen from node (an index into nodes): its own addresses are the
 * host, every other node's fall through to their region or WORLD. */
void compiled_addr_lookup(const struct compiled *cp, const struct np_addr *addr, uint32_t node,
			  struct addr_info *out);
const struct identity *compiled_identity(const struct compiled *cp, uint32_t id);
/* The bytes that define an identity (what prior_ids is keyed by). */
const void *compiled_identity_key(const struct compiled *cp, const struct identity *idn,
				  size_t *len);
const struct npbpf_subject *compiled_subject(const struct compiled *cp, uint32_t id);

#endif /* NPBPF_COMPILE_H */
