/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: copies a struct compiled into the maps of a loaded skeleton,
 * the way a map sync would, without its diffing and ordering (the tests run
 * no traffic while filling). May give way to user/mapsync.c later.
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

/* Writes the policy, range and subject tables of cp as generation gen (0 or
 * 1): keys carry NPBPF_SUBJECT_KEY(id, gen). Other generation untouched.
 * Returns 0 or -errno. */
int fill_policy(struct npbpf_bpf *skel, const struct compiled *cp, int gen);

/* Replaces the ipcache with cp's. 0 or -errno. */
int fill_ipcache(struct npbpf_bpf *skel, const struct compiled *cp);

/* Replaces the endpoints with b[n] (pods must be enforceable pods of cp:
 * not hostNetwork). 0, -ENOENT for a pod cp has no endpoint for, -errno. */
int fill_endpoints(struct npbpf_bpf *skel, const struct compiled *cp,
		   const struct fill_binding *b, size_t n);

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

/* All of the above for a fresh start: clears every table (ct, frag and
 * counters, the fixed-reason array too), writes cp as generation 0 with
 * revision rev. */
int fill_all(struct npbpf_bpf *skel, const struct compiled *cp, const struct fill_binding *b,
	     size_t n, uint32_t rev);

#endif
