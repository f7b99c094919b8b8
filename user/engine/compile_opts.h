/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a compile is told: which node it is for and that node's addresses,
 * the numbers of the state it follows, whether the node's own traffic is
 * enforced. One struct for both halves of the compile: the identities read
 * the node and numbering fields (identity.h), the policy compile the rest
 * (compile.h).
 */
#ifndef NPBPF_COMPILE_OPTS_H
#define NPBPF_COMPILE_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "numbering.h"

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
	/* Policy, range and subject tables for the subjects of this node's
	 * pods only (per_node): what the node agent's datapath needs, at the
	 * cost of its pods' policies rather than the cluster's. explain and the
	 * lab judge every pod and leave it false. */
	bool local_subjects_only;
	/* The numbers of the state this compile follows (the pinned maps: see
	 * mapsync_load_numbering), so label sets and policies keep theirs
	 * across syncs and agent restarts; NULL: an empty state. */
	const struct numbering_prior *prior;
	const struct numbering_opts *numbering; /* NULL: the defaults */
	/* About how many policy entries to expect (a previous compile's
	 * count): the entry index is sized for them up front instead of
	 * growing. 0: unknown. Changes nothing else. */
	size_t expect_entries;
};

#endif /* NPBPF_COMPILE_OPTS_H */
