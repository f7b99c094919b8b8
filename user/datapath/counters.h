/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datapath's counters as one set of npbpf_counter_key: the per-CPU hash
 * npbpf_counters (policy rules) and the per-CPU array npbpf_fixcnt (the
 * fixed reasons, one slot per (dir, verdict, reason); see
 * include/npbpf/datapath.h), read and summed over CPUs. The one reader of
 * both maps, for status, bench and the datapath tests.
 */
#ifndef NPBPF_COUNTERS_H
#define NPBPF_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include <npbpf/datapath.h>

struct counters {
	int hash_fd;  /* npbpf_counters, or -1 */
	int fixed_fd; /* npbpf_fixcnt, or -1 */
	int ncpu;
	struct npbpf_counter *percpu; /* one lookup's values */
};

/* One counter, summed over CPUs. */
struct counter_row {
	struct npbpf_counter_key key;
	struct npbpf_counter sum;
};

/* The key of (policy, rule, dir, verdict), padding zeroed as the maps need. */
struct npbpf_counter_key counters_key(uint32_t policy, uint16_t rule, uint8_t dir,
				      uint8_t verdict);

/* Reads the maps behind the two fds (either may be -1: no counters there);
 * the fds stay the caller's. 0 or -errno. */
int counters_open(struct counters *c, int hash_fd, int fixed_fd);
void counters_close(struct counters *c);

/*
 * One counter: a fixed reason from its npbpf_fixcnt slot, a policy rule
 * from the hash. 0 with *sum filled; -ENOENT when the datapath has no such
 * counter (never charged, or a fixed reason without a slot); -EUCLEAN when
 * a fixed reason is in the hash too (the datapath charges them to the
 * array only: a key in both means the two disagree, and neither sum can be
 * trusted); -errno. *sum is zero unless 0 is returned.
 */
int counters_get(struct counters *c, const struct npbpf_counter_key *key,
		 struct npbpf_counter *sum);

/* counters_open, counters_get, counters_close. */
int counters_read(int hash_fd, int fixed_fd, const struct npbpf_counter_key *key,
		  struct npbpf_counter *sum);

/*
 * Every counter that has counted something, fixed slots as the keys they
 * stand for, sorted by direction, verdict, policy and rule (a stable order
 * to read). *rows is malloc'd (NULL when *n is 0). 0 or -errno.
 */
int counters_collect(struct counters *c, struct counter_row **rows, size_t *n);

/* ---- Per endpoint (npbpf_epcnt and its overflow npbpf_epcnt_ov). */

/* One endpoint's counters, summed over CPUs and both maps. */
struct ep_counter_row {
	uint32_t ifindex; /* host-side veth */
	struct npbpf_ep_counters sum; /* [dir][verdict], as in datapath.h */
};

/*
 * Every endpoint that has counted something: each CPU's slot of the array
 * added to the ifindex that owns it there, then the overflow hash. Sorted by
 * ifindex; *rows malloc'd (NULL when *n is 0). Either fd may be -1 (then
 * nothing comes from that map). 0 or -errno.
 */
int counters_collect_endpoints(int slots_fd, int ov_fd, struct ep_counter_row **rows,
			       size_t *n);

/* One endpoint's counters (zeros when it has none). 0 or -errno. */
int counters_endpoint(int slots_fd, int ov_fd, uint32_t ifindex,
		      struct npbpf_ep_counters *sum);

/* Packets or bytes of a row's (dir, verdict), for readers' sorting and
 * totals. */
static inline uint64_t ep_packets(const struct npbpf_ep_counters *c, uint8_t dir, uint8_t verdict)
{
	return c->c[dir & 1][verdict & 1].packets;
}

#endif
