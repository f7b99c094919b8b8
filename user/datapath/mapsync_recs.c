/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync, records by subject: the policy, range and subject records of one
 * subject number in one generation image, indexed so that two subjects'
 * records compare (equal, or at least as strict) without a map write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapsync_int.h"
#include "vec.h"

const enum pin_map ms_gmap_pin[MS_N_GMAPS] = { PIN_POLICY, PIN_RANGE, PIN_SUBJECT };

__u32 *ms_key_subject(enum pin_map m, void *key)
{
	switch (m) {
	case PIN_POLICY:
		return &((struct npbpf_policy_key *)key)->subject;
	case PIN_RANGE:
		return &((struct npbpf_range_key *)key)->subject;
	case PIN_SUBJECT:
		return (__u32 *)key;
	default:
		return NULL;
	}
}

static uint8_t key_dir(int g, const void *key)
{
	return g == MS_G_POLICY ? ((const struct npbpf_policy_key *)key)->dir
				: ((const struct npbpf_range_key *)key)->dir;
}

static __u32 key_peer(int g, const void *key)
{
	return g == MS_G_POLICY ? ((const struct npbpf_policy_key *)key)->peer
				: ((const struct npbpf_range_key *)key)->peer;
}

void recs_free(struct recs *r)
{
	for (size_t i = 0; r && i < r->n; i++) {
		free(r->v[i].pos[0]);
		free(r->v[i].pos[1]);
	}
	if (r) {
		free(r->v);
		hmap_free(&r->idx);
		memset(r, 0, sizeof(*r));
	}
}

static struct rec *recs_slot(struct recs *r, uint32_t subject)
{
	uint32_t idx = (uint32_t)r->n;
	struct rec *e;
	int ret = hmap_insert(&r->idx, &subject, sizeof(subject), idx, &idx);

	if (ret < 0)
		return NULL;
	if (!ret)
		return &r->v[idx];
	e = VEC_PUSH(r->v, r->n, r->cap);
	if (e) {
		e->subject = subject;
		e->subj = -1;
	}
	return e;
}

/* Indexes generation gen of s (a desired state: gen 0). 0 or -ENOMEM. */
int recs_build(struct recs *r, const struct ms_state *s, int gen)
{
	memset(r, 0, sizeof(*r));
	hmap_init(&r->idx);
	for (int g = 0; g < MS_N_GMAPS; g++)
		r->t[g] = &s->gen[g][gen];
	for (int g = 0; g < MS_N_GMAPS; g++) {
		const struct ms_table *t = r->t[g];

		for (size_t i = 0; i < t->n; i++) {
			struct rec *e;
			uint32_t *slot;

			if (!ms_table_live(t, i))
				continue;
			e = recs_slot(r,
				      *ms_key_subject(ms_gmap_pin[g], (void *)ms_table_key(t, i)));
			if (!e)
				goto nomem;
			if (g == MS_G_SUBJECT) {
				e->subj = (int64_t)i;
				continue;
			}
			slot = VEC_PUSH(e->pos[g], e->n[g], e->cap[g]);
			if (!slot)
				goto nomem;
			*slot = (uint32_t)i;
		}
	}
	return 0;
nomem:
	recs_free(r);
	return -ENOMEM;
}

const struct rec *recs_get(const struct recs *r, uint32_t subject)
{
	uint32_t idx;

	return hmap_get(&r->idx, &subject, sizeof(subject), &idx) ? &r->v[idx] : NULL;
}

static const struct npbpf_subject *rec_subject(const struct recs *r, const struct rec *e)
{
	return e && e->subj >= 0 ? ms_table_value(r->t[MS_G_SUBJECT], (size_t)e->subj) : NULL;
}

/* The value of entry pos of table g of ra, looked up in rb under subject b. */
const void *counterpart(const struct recs *ra, int g, uint32_t pos, const struct recs *rb,
			uint32_t b)
{
	uint8_t key[32];

	memcpy(key, ms_table_key(ra->t[g], pos), ra->t[g]->key_size);
	*ms_key_subject(ms_gmap_pin[g], key) = b;
	return ms_table_get(rb->t[g], key);
}

bool recs_equal(const struct recs *ra, uint32_t a, const struct recs *rb, uint32_t b)
{
	const struct rec *ea = recs_get(ra, a), *eb = recs_get(rb, b);
	const struct npbpf_subject *sa = rec_subject(ra, ea), *sb = rec_subject(rb, eb);

	if (!sa != !sb || (sa && memcmp(sa, sb, sizeof(*sa))))
		return false;
	for (int g = MS_G_POLICY; g <= MS_G_RANGE; g++) {
		if ((ea ? ea->n[g] : 0) != (eb ? eb->n[g] : 0))
			return false;
		for (size_t i = 0; ea && i < ea->n[g]; i++) {
			const void *v = counterpart(ra, g, ea->pos[g][i], rb, b);

			if (!v || memcmp(v, ms_table_value(ra->t[g], ea->pos[g][i]),
					 ra->t[g]->value_size))
				return false;
		}
	}
	return true;
}

static bool is_pod(__u32 id)
{
	return NPBPF_ID_IS_POD(id) && !MAPSYNC_ID_IS_OWN(id);
}

/*
 * Whether records a (of ra) are at least as strict as b (of rb): isolated in
 * every direction b is, with no entry b lacks there. With strays, also no
 * entry that lets a wrongly resolved peer through where b would not: for
 * each, a's entries for y (and CLUSTER when y is a pod) must be b's for x.
 */
bool recs_stricter(const struct recs *ra, uint32_t a, const struct recs *rb, uint32_t b,
		   const struct stray *strays, size_t n_strays)
{
	const struct rec *ea = recs_get(ra, a);
	const struct npbpf_subject *sa = rec_subject(ra, ea),
				   *sb = rec_subject(rb, recs_get(rb, b));

	if (!sb)
		return true; /* b isolates nothing */
	if (!sa || (sa->isolated & sb->isolated) != sb->isolated)
		return false;
	for (int g = MS_G_POLICY; g <= MS_G_RANGE; g++) {
		for (size_t i = 0; i < ea->n[g]; i++) {
			uint32_t pos = ea->pos[g][i];
			const void *key = ms_table_key(ra->t[g], pos);
			__u32 peer = key_peer(g, key);

			if (!(sb->isolated & (1u << (key_dir(g, key) & 1))))
				continue;
			if (!counterpart(ra, g, pos, rb, b))
				return false;
			for (size_t s = 0; s < n_strays; s++) {
				uint8_t k2[32];

				if (peer != strays[s].y &&
				    !(peer == NPBPF_ID_CLUSTER && is_pod(strays[s].y) &&
				      !is_pod(strays[s].x)))
					continue;
				if (peer == NPBPF_ID_CLUSTER)
					return false;
				memcpy(k2, key, ra->t[g]->key_size);
				*ms_key_subject(ms_gmap_pin[g], k2) = b;
				if (g == MS_G_POLICY)
					((struct npbpf_policy_key *)k2)->peer = strays[s].x;
				else
					((struct npbpf_range_key *)k2)->peer = strays[s].x;
				if (!ms_table_get(rb->t[g], k2))
					return false;
			}
		}
	}
	return true;
}

bool ms_records_equal(const struct ms_state *sa, int ga, uint32_t a, const struct ms_state *sb,
		      int gb, uint32_t b)
{
	struct recs ra, rb;
	bool eq = false;

	if (!recs_build(&ra, sa, ga)) {
		if (!recs_build(&rb, sb, gb)) {
			eq = recs_equal(&ra, a, &rb, b);
			recs_free(&rb);
		}
		recs_free(&ra);
	}
	return eq;
}

bool ms_records_stricter(const struct ms_state *sa, int ga, uint32_t a, const struct ms_state *sb,
			 int gb, uint32_t b)
{
	struct recs ra, rb;
	bool st = false;

	if (!recs_build(&ra, sa, ga)) {
		if (!recs_build(&rb, sb, gb)) {
			st = recs_stricter(&ra, a, &rb, b, NULL, 0);
			recs_free(&rb);
		}
		recs_free(&ra);
	}
	return st;
}
