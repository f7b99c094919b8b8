/* SPDX-License-Identifier: Apache-2.0 */
#include "counters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

struct npbpf_counter_key counters_key(uint32_t policy, uint16_t rule, uint8_t dir,
				      uint8_t verdict)
{
	struct npbpf_counter_key k;

	memset(&k, 0, sizeof(k));
	k.policy = policy;
	k.rule = rule;
	k.dir = dir;
	k.verdict = verdict;
	return k;
}

int counters_open(struct counters *c, int hash_fd, int fixed_fd)
{
	memset(c, 0, sizeof(*c));
	c->hash_fd = hash_fd;
	c->fixed_fd = fixed_fd;
	c->ncpu = libbpf_num_possible_cpus();
	if (c->ncpu <= 0)
		return c->ncpu ? c->ncpu : -EINVAL;
	/* Per-CPU values come 8-byte aligned; npbpf_counter already is. */
	c->percpu = calloc((size_t)c->ncpu, sizeof(*c->percpu));
	return c->percpu ? 0 : -ENOMEM;
}

void counters_close(struct counters *c)
{
	free(c->percpu);
	c->percpu = NULL;
}

/* Looks key up in fd and sums the CPUs' values into *sum. 0 or -errno. */
static int lookup_sum(struct counters *c, int fd, const void *key, struct npbpf_counter *sum)
{
	memset(sum, 0, sizeof(*sum));
	if (fd < 0)
		return -ENOENT;
	if (bpf_map_lookup_elem(fd, key, c->percpu))
		return -errno;
	for (int i = 0; i < c->ncpu; i++) {
		sum->packets += c->percpu[i].packets;
		sum->bytes += c->percpu[i].bytes;
	}
	return 0;
}

static bool has_slot(const struct npbpf_counter_key *k)
{
	return k->rule < NPBPF_FIXCNT_REASONS && k->dir < 2;
}

int counters_get(struct counters *c, const struct npbpf_counter_key *key,
		 struct npbpf_counter *sum)
{
	struct npbpf_counter stray;
	__u32 idx;

	if (!npbpf_counter_is_fixed(key->policy, key->verdict))
		return lookup_sum(c, c->hash_fd, key, sum);
	if (!lookup_sum(c, c->hash_fd, key, &stray)) {
		memset(sum, 0, sizeof(*sum));
		return -EUCLEAN;
	}
	if (!has_slot(key)) {
		memset(sum, 0, sizeof(*sum));
		return -ENOENT;
	}
	idx = NPBPF_FIXCNT_INDEX(key->dir, key->verdict, key->rule);
	return lookup_sum(c, c->fixed_fd, &idx, sum);
}

int counters_read(int hash_fd, int fixed_fd, const struct npbpf_counter_key *key,
		  struct npbpf_counter *sum)
{
	struct counters c;
	int err;

	memset(sum, 0, sizeof(*sum));
	err = counters_open(&c, hash_fd, fixed_fd);
	if (!err)
		err = counters_get(&c, key, sum);
	counters_close(&c);
	return err;
}

struct rows {
	struct counter_row *v;
	size_t n, cap;
};

static int push_row(struct rows *r, const struct npbpf_counter_key *k,
		    const struct npbpf_counter *sum)
{
	struct counter_row *row = VEC_PUSH(r->v, r->n, r->cap);

	if (!row)
		return -ENOMEM;
	row->key = *k;
	row->sum = *sum;
	return 0;
}

/* The fixed-reason slots that counted something, as the keys they stand
 * for: policy ~0u for drops, NPBPF_POLICY_NONE for allows, rule = reason. */
static int collect_fixed(struct counters *c, struct rows *r)
{
	for (__u8 dir = 0; dir < 2; dir++) {
		for (__u8 verdict = 0; verdict < 2; verdict++) {
			for (__u16 reason = 0; reason < NPBPF_FIXCNT_REASONS; reason++) {
				__u32 idx = NPBPF_FIXCNT_INDEX(dir, verdict, reason);
				struct npbpf_counter_key k = counters_key(
					verdict == NPBPF_VERDICT_DROP ? ~0u : NPBPF_POLICY_NONE,
					reason, dir, verdict);
				struct npbpf_counter sum;
				int err;

				if (lookup_sum(c, c->fixed_fd, &idx, &sum))
					continue;
				if (!sum.packets && !sum.bytes)
					continue;
				err = push_row(r, &k, &sum);
				if (err)
					return err;
			}
		}
	}
	return 0;
}

static int collect_hash(struct counters *c, struct rows *r)
{
	struct npbpf_counter_key key, next;
	struct npbpf_counter sum;
	bool first = true;
	int err;

	while (c->hash_fd >= 0 && !bpf_map_get_next_key(c->hash_fd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (lookup_sum(c, c->hash_fd, &next, &sum))
			continue; /* deleted under us */
		err = push_row(r, &next, &sum);
		if (err)
			return err;
	}
	return 0;
}

static int row_cmp(const void *pa, const void *pb)
{
	const struct npbpf_counter_key *a = &((const struct counter_row *)pa)->key;
	const struct npbpf_counter_key *b = &((const struct counter_row *)pb)->key;

	if (a->dir != b->dir)
		return a->dir - b->dir;
	if (a->verdict != b->verdict)
		return a->verdict - b->verdict;
	if (a->policy != b->policy)
		return a->policy < b->policy ? -1 : 1;
	return (int)a->rule - (int)b->rule;
}

int counters_collect(struct counters *c, struct counter_row **rows, size_t *n)
{
	struct rows r = { 0 };
	int err;

	err = collect_fixed(c, &r);
	if (!err)
		err = collect_hash(c, &r);
	if (err) {
		free(r.v);
		r.v = NULL;
		r.n = 0;
	} else if (r.n) {
		qsort(r.v, r.n, sizeof(*r.v), row_cmp);
	}
	*rows = r.v;
	*n = r.n;
	return err;
}

/* ---- Per endpoint */

static void ep_add(struct npbpf_ep_counters *to, const struct npbpf_ep_counters *from)
{
	for (int d = 0; d < 2; d++) {
		for (int v = 0; v < 2; v++) {
			to->c[d][v].packets += from->c[d][v].packets;
			to->c[d][v].bytes += from->c[d][v].bytes;
		}
	}
}

static bool ep_zero(const struct npbpf_ep_counters *c)
{
	for (int d = 0; d < 2; d++) {
		for (int v = 0; v < 2; v++) {
			if (c->c[d][v].packets || c->c[d][v].bytes)
				return false;
		}
	}
	return true;
}

struct ep_rows {
	struct ep_counter_row *v;
	size_t n, cap;
};

static int ep_push(struct ep_rows *r, uint32_t ifindex, const struct npbpf_ep_counters *c)
{
	struct ep_counter_row *row;

	if (!ifindex || ep_zero(c))
		return 0;
	row = VEC_PUSH(r->v, r->n, r->cap);
	if (!row)
		return -ENOMEM;
	row->ifindex = ifindex;
	row->sum = *c;
	return 0;
}

static int ep_cmp(const void *pa, const void *pb)
{
	uint32_t a = ((const struct ep_counter_row *)pa)->ifindex;
	uint32_t b = ((const struct ep_counter_row *)pb)->ifindex;

	return a < b ? -1 : a > b;
}

/* Adds every CPU's slots (each to its owner) and the overflow entries to r,
 * one row per (owner, CPU) or entry: merged by the caller. With only != 0,
 * just that endpoint's. */
static int ep_gather(int slots_fd, int ov_fd, uint32_t only, struct ep_rows *r)
{
	int ncpu = libbpf_num_possible_cpus();
	struct npbpf_ep_slot *slots = NULL;
	struct npbpf_ep_counters *ov = NULL, sum;
	int err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	slots = calloc((size_t)ncpu, sizeof(*slots));
	ov = calloc((size_t)ncpu, sizeof(*ov));
	if (!slots || !ov) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 i = 0; slots_fd >= 0 && !err && i < NPBPF_EPCNT_SLOTS; i++) {
		if (only && i != (only & (NPBPF_EPCNT_SLOTS - 1)))
			continue;
		if (bpf_map_lookup_elem(slots_fd, &i, slots)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < ncpu && !err; c++) {
			if (!only || slots[c].ifindex == only)
				err = ep_push(r, slots[c].ifindex, &slots[c].n);
		}
	}
	if (!err && ov_fd >= 0 && only) {
		if (!bpf_map_lookup_elem(ov_fd, &only, ov)) {
			memset(&sum, 0, sizeof(sum));
			for (int c = 0; c < ncpu; c++)
				ep_add(&sum, &ov[c]);
			err = ep_push(r, only, &sum);
		} else if (errno != ENOENT) {
			err = -errno;
		}
	} else if (!err && ov_fd >= 0) {
		__u32 key, next;
		bool first = true;

		while (!err && !bpf_map_get_next_key(ov_fd, first ? NULL : &key, &next)) {
			first = false;
			key = next;
			if (bpf_map_lookup_elem(ov_fd, &next, ov))
				continue; /* evicted under us */
			memset(&sum, 0, sizeof(sum));
			for (int c = 0; c < ncpu; c++)
				ep_add(&sum, &ov[c]);
			err = ep_push(r, next, &sum);
		}
	}
out:
	free(slots);
	free(ov);
	return err;
}

int counters_collect_endpoints(int slots_fd, int ov_fd, struct ep_counter_row **rows, size_t *n)
{
	struct ep_rows r = { 0 };
	size_t out = 0;
	int err = ep_gather(slots_fd, ov_fd, 0, &r);

	if (!err && r.n) {
		/* Merge the rows of one ifindex (one per CPU and the overflow). */
		qsort(r.v, r.n, sizeof(*r.v), ep_cmp);
		for (size_t i = 0; i < r.n; i++) {
			if (out && r.v[out - 1].ifindex == r.v[i].ifindex)
				ep_add(&r.v[out - 1].sum, &r.v[i].sum);
			else
				r.v[out++] = r.v[i];
		}
	}
	if (err) {
		free(r.v);
		r.v = NULL;
		out = 0;
	}
	*rows = r.v;
	*n = out;
	return err;
}

int counters_endpoint(int slots_fd, int ov_fd, uint32_t ifindex, struct npbpf_ep_counters *sum)
{
	struct ep_rows r = { 0 };
	int err;

	memset(sum, 0, sizeof(*sum));
	if (!ifindex)
		return -EINVAL;
	err = ep_gather(slots_fd, ov_fd, ifindex, &r);
	for (size_t i = 0; !err && i < r.n; i++)
		ep_add(sum, &r.v[i].sum);
	free(r.v);
	return err;
}
