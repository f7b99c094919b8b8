/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: the maps of a loaded skeleton. The tables come from the real
 * map sync (mapsync_apply_maps over the skeleton's maps, plus the
 * userspace-only maps a loader would create); what is here is what a sync
 * does not do: starting from empty maps, conntrack, and the config the
 * tests set.
 */
#ifndef NPBPF_TEST_FILL_H
#define NPBPF_TEST_FILL_H

#include <stdint.h>

#include <npbpf/datapath.h>

#include "compile.h"
#include "npbpf.skel.h"

/* A pod of cp and the (fake or real) host-side ifindex it is bound to. */
struct fill_binding {
	const struct np_pod *pod;
	uint32_t ifindex;
};

/* Syncs the maps to cp with the pods b[n] bound to their ifindexes (pods
 * must be enforceable pods of cp: not hostNetwork), as an agent does: cp
 * must be compiled against the numbers the maps hold (fill_compile, or no
 * prior right after fill_all emptied them). The sync flips generations and
 * bumps the revision as it does for an agent. 0 or -errno. */
int fill_sync(struct npbpf_bpf *skel, const struct compiled *cp, const struct fill_binding *b,
	      size_t n);

/* Compiles c (default options) against the numbers the maps hold into cp,
 * as an agent compiles before a sync. 0 or -errno. */
int fill_compile(struct npbpf_bpf *skel, const struct np_cluster *c, struct compiled *cp);

/* Writes npbpf_config. 0 or -errno. */
int fill_config(struct npbpf_bpf *skel, uint32_t revision, uint32_t generation, uint32_t flags,
		uint32_t events_per_sec);

/* Deletes every entry of a hash/LPM map. 0 or -errno. */
int fill_clear(const struct bpf_map *map);

/* Zeroes every slot of an array or per-CPU array map. 0 or -errno. */
int fill_zero_array(const struct bpf_map *map);

/* Conntrack is one map per endpoint inside npbpf_ct (conntrack.h). */
/* The entry k in the map of the endpoint at ifindex. 0, -ENOENT or -errno. */
int fill_ct_lookup(struct npbpf_bpf *skel, uint32_t ifindex, const struct npbpf_ct_key *k,
		   struct npbpf_ct_value *v);
/* Like fill_ct_lookup in whichever endpoint's map has k; *ifindex says which. */
int fill_ct_find(struct npbpf_bpf *skel, const struct npbpf_ct_key *k, struct npbpf_ct_value *v,
		 uint32_t *ifindex);
int fill_ct_update(struct npbpf_bpf *skel, uint32_t ifindex, const struct npbpf_ct_key *k,
		   const struct npbpf_ct_value *v);
/* Empties every endpoint's conntrack map (the maps stay). 0 or -errno. */
int fill_ct_clear(struct npbpf_bpf *skel);

/* A fresh start: empties every map (ct, frag and counters, the fixed-reason
 * array, and every map a sync writes), syncs cp (compiled without a prior:
 * the maps are empty) with the pods b[n] bound, then sets generation 0
 * (both generations hold cp after a sync) and revision rev. */
int fill_all(struct npbpf_bpf *skel, const struct compiled *cp, const struct fill_binding *b,
	     size_t n, uint32_t rev);

#endif
