/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy compilation: cluster model -> identities (identity.h) -> the tables
 * of include/npbpf/tables.h that the datapath loads and explain reads. Every
 * number in them is final (numbering.h): the map sync writes the tables as
 * they are.
 */
#ifndef NPBPF_COMPILE_H
#define NPBPF_COMPILE_H

#include <npbpf/datapath.h>
#include <npbpf/tables.h>

#include "compile_opts.h"
#include "hmap.h"
#include "identity.h"
#include "model.h"
#include "numbering.h"

/* Policy number charged for the node's own traffic to its pods (kubelet
 * probes), which is allowed unless compile_opts.enforce_host is set. */
#define NPBPF_POLICY_HOST 0xffffffffu

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
	/* The policies that isolate it, per direction: n_isolated_by[d]
	 * policy numbers from compiled.isolated_by[isolated_by[d]] on, in
	 * policy order. */
	uint32_t isolated_by[2], n_isolated_by[2];
};

/* A non-hostNetwork pod and its endpoint record, all but what the veth it
 * is bound to says (the key, the MAC). */
struct compiled_endpoint {
	const struct np_pod *pod;
	struct npbpf_endpoint value; /* identity: the number it is judged by */
};

struct compiled {
	const struct np_cluster *cluster;
	struct identities idn;
	struct numbering numbering; /* policy numbers, retired identity numbers */
	struct compiled_entry *entries;
	size_t n_entries, cap_entries;
	struct compiled_range *ranges;
	size_t n_ranges, cap_ranges;
	struct compiled_subject *subjects;
	size_t n_subjects, cap_subjects;
	struct compiled_endpoint *endpoints; /* one per non-hostNetwork pod, cluster order */
	size_t n_endpoints;
	uint32_t *isolated_by; /* policy numbers, see compiled_subject */
	size_t n_isolated_by;

	/* Indexes for lookups; owned. */
	struct hmap entry_index;   /* struct npbpf_policy_key -> index in entries */
	struct hmap range_index;   /* struct npbpf_range_key -> index in ranges */
	struct hmap subject_index; /* __u32 id -> index in subjects */
	struct hmap policy_index;  /* policy number -> index in cluster policies */
};

/* Compiles a validated, finalized cluster. The cluster must outlive out
 * (opts->prior is read during the call only). Returns 0, -ENOMEM, or -ENOSPC
 * when no policy number is left (logged). On error out is released. An identity whose space is
 * exhausted gets no number (cp->numbering.lost): its pods are judged by
 * NPBPF_ID_ISOLATED, its addresses are no pod's. */
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
const struct npbpf_subject *compiled_subject(const struct compiled *cp, uint32_t id);
/* The subject record of id with what isolates it, or NULL. */
const struct compiled_subject *compiled_subject_of(const struct compiled *cp, uint32_t id);
/* The policy numbered number (NULL for NPBPF_POLICY_HOST and unknown ones). */
const struct np_policy *compiled_policy(const struct compiled *cp, uint32_t number);

#endif /* NPBPF_COMPILE_H */
