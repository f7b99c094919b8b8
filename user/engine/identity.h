/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identities, the first half of compilation: ipBlock prefixes become CIDR
 * identities, pods are grouped by (namespace, labels, named ports, ipBlock
 * region) into pod identities, node addresses are filed under their node and
 * get host identities by region, and every address this node's datapath must
 * know gets an ipcache entry. Numbers come from a numbering (numbering.h), so
 * they are final: the ipcache leaves here as the datapath's keys and values.
 * The address -> identity lookups (what an address is, seen from any node)
 * answer from the same indexes.
 *
 * The policy compile (compile.h) reads identities; the coming node agent
 * recomputes them incrementally along this seam.
 */
#ifndef NPBPF_IDENTITY_H
#define NPBPF_IDENTITY_H

#include <npbpf/tables.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile_opts.h"
#include "hmap.h"
#include "model.h"
#include "numbering.h"

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
	uint32_t id; /* NUMBER_NONE: its space is exhausted, it is in no table */
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
	bool local_subject; /* ... of a pod on this node (nodes[0]) */
	uint32_t key_off, key_len; /* identity key bytes in id_index (identity_key) */
};

/* An address of a node. On that node it is the host (host_id); on every
 * other node it is an address like any other: no exact ipcache entry, so it
 * resolves to its ipBlock region's CIDR identity, or WORLD. */
struct node_addr {
	struct np_addr addr; /* full length */
	uint32_t node;       /* index into identities.nodes */
	uint32_t host_id;    /* NPBPF_ID_HOST, or the IDENTITY_HOST of its region */
};

/* ipcache entries, as the datapath's maps hold them. */
struct ipc_host_entry { /* npbpf_ipc_host: pods and this node, full-length addresses */
	struct npbpf_addr key;
	struct npbpf_ipc_value value;
};

struct ipc_cidr_entry { /* npbpf_ipc_cidr: ipBlock regions */
	struct npbpf_ipc_key key;
	struct npbpf_ipc_value value;
};

struct identities {
	const struct np_cluster *cluster;
	struct identity *ids; /* reserved, pod, host, then CIDR identities */
	size_t n_ids, cap_ids;
	size_t first_cidr_idx; /* ids: the CIDR identities start here, in prefixes order */
	struct hmap id_index;  /* identity key bytes -> index in ids */
	struct hmap id_by_num; /* __u32 identity number -> index in ids */
	/* Per cluster pod: the subject number it is judged by (its first
	 * address's identity; NPBPF_ID_ISOLATED when that got no number;
	 * NPBPF_ID_HOST for hostNetwork). */
	uint32_t *pod_id;

	/* ipBlock cidrs and excepts, distinct: the regions. */
	struct np_addr *prefixes;
	size_t n_prefixes, cap_prefixes;
	struct hmap prefix_index; /* struct np_addr -> index in prefixes */
	uint8_t plens[2][129];    /* distinct prefix lengths per family (v4, v6), longest first */
	size_t n_plens[2];
	/* Per family and prefix length, the first bytes (masked to the
	 * length) prefixes have, as bits: most addresses skip most lengths
	 * without a hash probe. */
	uint8_t first_bytes[2][129][32];

	/* Node names, owned: [0] is this node (compile_opts.node_name); NULL
	 * for the unnamed node. */
	char **nodes;
	size_t n_nodes, cap_nodes;
	struct hmap node_index;   /* node name ("" unnamed) -> index in nodes */
	uint32_t *pod_node;       /* per cluster pod: index into nodes */
	struct node_addr *node_addrs; /* every known node address, first owner wins */
	size_t n_node_addrs, cap_node_addrs;
	struct hmap node_addr_index; /* struct np_addr (full length) -> index in node_addrs */

	/* This node's ipcache. */
	struct hmap host_index;   /* struct np_addr (full length) -> a pod's identity number */
	struct ipc_host_entry *ipc_host;
	size_t n_ipc_host, cap_ipc_host;
	struct ipc_cidr_entry *ipc_cidr;
	size_t n_ipc_cidr, cap_ipc_cidr;
	/* A CIDR-range identity this node's ipcache needs got no number: its
	 * addresses fall to a shorter prefix (see compile.c). */
	bool region_lost;
};

/*
 * The identities of a validated, finalized cluster (which must outlive
 * them) on the nodes opts (may be NULL) says, numbered by nb. Returns 0 or
 * -ENOMEM; idt is safe to identities_free() either way.
 */
int identities_build(struct identities *idt, const struct np_cluster *c,
		     const struct compile_opts *opts, struct numbering *nb);
void identities_free(struct identities *idt);

/* The identity numbered id, or NULL. */
const struct identity *identity_by_number(const struct identities *idt, uint32_t id);
/* The bytes that define an identity (what numbering_prior_key takes). */
const void *identity_key(const struct identities *idt, const struct identity *idn,
			 size_t *len);
/* "namespace/k=v,k2=v2" for a pod identity, "cidr 198.18.0.0/16" for a CIDR
 * one, "host in cidr 198.18.0.0/16" for a node's addresses in that region.
 * *out is malloc'd and NUL-terminated. 0 or -ENOMEM. */
int identity_label(const struct identity *idn, char **out, size_t *len);

/* Longest ipBlock prefix containing addr, as an index into prefixes, or -1
 * when none does. */
long identity_region_of(const struct identities *idt, const struct np_addr *addr);
/* Does the ipBlock match every address of identity idn? */
bool identity_in_ipblock(const struct identity *idn, const struct np_ipblock *b);

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

/* What addr is seen from node (an index into nodes), in the datapath's
 * order: that node's own addresses are the host, a pod's address its
 * identity, every other address (other nodes' too) its region or WORLD. */
void identity_addr_lookup(const struct identities *idt, const struct np_addr *addr,
			  uint32_t node, struct addr_info *out);

/*
 * The identity key of a pod at one of its addresses, found without the
 * compile that numbered it (the node agent's incremental path: is a new pod's
 * identity one the maps hold already?). It keeps a copy of the ipBlock
 * regions of a compile, the part of the key an address decides.
 */
struct identity_keyer {
	struct np_addr *prefixes;
	size_t n_prefixes;
	struct hmap prefix_index;
	uint8_t plens[2][129];
	size_t n_plens[2];
	char *buf; /* the last key */
	size_t cap;
};

/* 0 or -ENOMEM; k is safe to free either way. */
int identity_keyer_init(struct identity_keyer *k, const struct identities *idt);
void identity_keyer_free(struct identity_keyer *k);
/* The key of pod's identity at addr (NULL: a pod without an address), as
 * identity_key gives it for that identity: *key is valid until the next
 * call. 0 or -ENOMEM. */
int identity_keyer_pod(struct identity_keyer *k, const struct np_pod *pod,
		       const struct np_addr *addr, const void **key, size_t *len);

#endif /* NPBPF_IDENTITY_H */
