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
