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
};

struct identity {
	uint32_t id;
	enum identity_kind kind;
	/* IDENTITY_POD: the namespace and a pod that carries this identity (its
	 * labels and named ports are the identity's). */
	const struct np_namespace *ns;
	const struct np_pod *pod;
	/* IDENTITY_CIDR: the prefix. IDENTITY_POD: the ipBlock region the
	 * addresses of this identity fall in; region.family == 0 when none. */
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
};

struct compiled_endpoint {
	const struct np_pod *pod;
	uint32_t id; /* the pod's subject identity */
};

struct compile_opts {
	bool enforce_host;              /* do not allow the node's traffic to isolated pods */
	const struct np_addr *node_addrs; /* addresses of the node (HOST identity) */
	size_t n_node_addrs;
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
	size_t first_cidr_idx;    /* ids: reserved, then pod identities, then CIDR ones from here */
};

/* Compiles a validated, finalized cluster. The cluster must outlive out.
 * Returns 0 or -ENOMEM. On error out is released. */
int compile_cluster(const struct np_cluster *c, const struct compile_opts *opts,
		    struct compiled *out);
void compiled_free(struct compiled *cp);

/* Identity of an address as the datapath finds it: the node, a pod, the
 * longest ipBlock region, else NPBPF_ID_WORLD. */
uint32_t compiled_addr_identity(const struct compiled *cp, const struct np_addr *addr);
const struct identity *compiled_identity(const struct compiled *cp, uint32_t id);
/* The bytes that define an identity (what prior_ids is keyed by). */
const void *compiled_identity_key(const struct compiled *cp, const struct identity *idn,
				  size_t *len);
const struct npbpf_subject *compiled_subject(const struct compiled *cp, uint32_t id);

#endif /* NPBPF_COMPILE_H */
