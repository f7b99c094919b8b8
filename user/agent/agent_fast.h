/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The incremental path for pods of other nodes: a pod added, changed or
 * deleted whose identities the maps hold already changes nothing but its
 * addresses' ipcache entries, so those are written directly, in the map
 * sync's order (additions, then removals, then a revision bump so conntrack
 * re-checks flows), without a compile. Everything else (a new label set, the
 * last pod of an identity gone, an address two pods claim, node addresses,
 * this node's pods, namespaces, policies) takes the full path, whose compile
 * would change more than the ipcache. The index this needs is built from the
 * last full sync's compile; after a fast apply the next full sync must write
 * nothing for it (the agent checks, and counts a mismatch).
 */
#ifndef NPBPF_AGENT_FAST_H
#define NPBPF_AGENT_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "hmap.h"
#include "identity.h"
#include "mapsync.h"
#include "model.h"

struct loader;

/* A counted set of keys that grows only: key -> slot, count per slot. */
struct fast_counts {
	struct hmap index;
	uint32_t *count;
	uint32_t *value; /* per slot: what the key stands for (an identity number) */
	size_t n, cap;
};

struct fast_index {
	bool valid;
	const char *node;
	struct identity_keyer keyer;
	struct fast_counts ids;	       /* pod identity key -> (number, pods using it) */
	struct fast_counts addrs;      /* pod address -> pods claiming it */
	struct fast_counts node_addrs; /* node address -> pods naming it */
	/* Undo log of one apply: (set, slot, old count). */
	struct fast_undo {
		struct fast_counts *set;
		uint32_t slot, old;
	} *undo;
	size_t n_undo, cap_undo;
};

/* One pod's change: what it was (NULL: new) and what it is (NULL: gone). */
struct fast_change {
	const struct np_pod *old;
	const struct np_pod *new;
};

struct fast_stats {
	uint32_t ipc_put, ipc_del;
	bool mirror_stale; /* the mirror could not follow a write (out of memory) */
	const char *why_not; /* when not applicable: which rule sent it to the full path */
};

void fast_index_init(struct fast_index *fx);
void fast_index_free(struct fast_index *fx);
/* Rebuilds the index from a full sync's view and compile (for node). On
 * error the index is left invalid. 0 or -ENOMEM. */
int fast_index_build(struct fast_index *fx, const struct np_cluster *view,
		     const struct compiled *cp, const char *node);

/* Whether fx, built from an earlier compile, is what fast_index_build would
 * make from cp, given the pods have not changed since (only policies did):
 * the same regions and the same numbered pod identities, node addresses
 * and all. */
bool fast_index_current(const struct fast_index *fx, const struct compiled *cp);

/* Applies the changes through l's maps, and into mirror (the maps as the
 * agent keeps them between syncs, agent_sync.h; NULL: none). 1: done; 0:
 * not applicable (st->why_not says why; nothing written, index unchanged);
 * -errno: a write failed (logged; the index is invalid, a full sync must
 * follow, and the mirror is stale). */
int fast_apply(struct fast_index *fx, struct loader *l, const struct fast_change *ch, size_t n,
	       struct ms_state *mirror, struct fast_stats *st);

#endif /* NPBPF_AGENT_FAST_H */
