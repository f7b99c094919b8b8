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

/* Re-read the maps at least this often (seconds), whatever else happened. */
#define AGENT_REREAD_S 60.0
/* The most memory the state kept between syncs may take (its images and
 * indexes, and its numbering input). About 300 bytes per ipcache entry and
 * more per identity: 10,000 pods keep ~10 MB, 150,000 ~80 MB, where a node
 * agent must stay small, and where a sync takes seconds anyway, the read a
 * small share of them. Above it the maps are read at every sync. */
#define AGENT_KEEP_MAX_BYTES (32u << 20)

/*
 * What the maps hold, kept from one sync to the next: the agent is their
 * only writer for the map sync's maps (the pin dir's lock), so what its last
 * sync left (the map sync's mirror of its own writes, plus the incremental
 * path's) is what the next sync diffs against, instead of reading every map
 * back, the largest share of a sync. Read afresh at the start, after any
 * failure, when something else may have written (npbpf-cni removes endpoint
 * records: on veth and CNI news), for the check after incremental writes,
 * and at least every AGENT_REREAD_S.
 */
struct agent_maps {
	struct ms_state st;
	bool valid;
	double read_at; /* CLOCK_MONOTONIC seconds of the last read */
	/* st's numbering input, worked out after the sync that left st (off the
	 * path of the next change); invalid once anything else writes. */
	struct numbering_prior prior;
	bool prior_valid;
	bool over_budget; /* said once: too big to keep (AGENT_KEEP_MAX_BYTES) */
	size_t last_entries; /* policy entries of the last compile: the next one's size hint */
};

void agent_maps_init(struct agent_maps *m);
void agent_maps_free(struct agent_maps *m);

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
	/* The maps as the last sync left them (NULL: read them, keep nothing);
	 * reread: read them anyway (something else may have written them);
	 * check: read them and count how they differ from the kept state
	 * (also done on the periodic read). */
	struct agent_maps *maps;
	bool reread, check;
	/* Only policies changed since the last successful sync (no pod,
	 * namespace, veth or announcement): the fast index is kept when the
	 * compile's identities are those it was built from. */
	bool only_policies;
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
	bool reread; /* the maps were read (else the kept state was used) */
	/* When the maps were read while a kept state was current: entries in
	 * which they differed from it (a bug: something the agent did not
	 * know about wrote them, or the mirror missed a write). */
	size_t kept_diverged;
	/* Per veth (index as in): "ns/name" of the pod bound to it, or NULL.
	 * malloc'd, n_veths entries: agent_sync_out_free. */
	char **veth_pod;
};

/* Compiles and syncs. 0 or -errno (logged); on a failed write the map sync
 * has left the pods it could not bring over isolated (mapsync_apply). */
int agent_sync_full(struct loader *l, const struct agent_sync_in *in, struct agent_sync_out *out);
void agent_sync_out_free(struct agent_sync_out *out, size_t n_veths);

#endif /* NPBPF_AGENT_SYNC_H */
