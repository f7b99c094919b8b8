/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From the store to the maps: a view of the store compiled for this node
 * (compile_opts.per_node), the local pods bound to the veths discovery found
 * (by address), and the map sync that writes the difference. The numbers
 * come from the pinned state, so a restart with nothing changed writes
 * nothing.
 */
#ifndef NPBPF_AGENT_SYNC_H
#define NPBPF_AGENT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_store.h"
#include "mapsync.h"
#include "model.h"
#include "agent_cni.h"
#include "agent_fast.h"
#include "netdisc.h"

struct loader;

struct agent_sync_in {
	const struct agent_store *store;
	const char *node;		  /* this node's name (spec.nodeName) */
	const struct np_addr *node_addrs; /* this node's own addresses */
	size_t n_node_addrs;
	const struct nd_veth *veths; /* the pod veths of this node */
	size_t n_veths;
	/* What npbpf-cni announced: pod NS/NAME is on veth ifindex, with these
	 * addresses until the API reports its own (agent_cni.h). */
	const struct cni_hint *hints;
	size_t n_hints;
	bool enforce_host;
	/* Rebuilt from this sync's compile when it succeeds, invalidated when
	 * it fails; NULL: none. */
	struct fast_index *fast;
};

struct agent_sync_out {
	struct sync_stats st;
	uint32_t local_pods;	/* running non-hostNetwork pods of this node */
	uint32_t local_bound;	/* of those, bound to a veth */
	uint32_t local_waiting; /* of those with an address, no veth found yet */
	uint32_t identities;	/* numbered identities of the compile */
	uint32_t policies;
	uint32_t pods, namespaces;
	double compile_ms, total_ms;
	/* Per veth (index as in): "ns/name" of the pod bound to it, or NULL.
	 * malloc'd, n_veths entries: agent_sync_out_free. */
	char **veth_pod;
};

/* Compiles and syncs. 0 or -errno (logged); on a failed write the map sync
 * has left the pods it could not bring over isolated (mapsync_apply). */
int agent_sync_full(struct loader *l, const struct agent_sync_in *in, struct agent_sync_out *out);
void agent_sync_out_free(struct agent_sync_out *out, size_t n_veths);

#endif /* NPBPF_AGENT_SYNC_H */
