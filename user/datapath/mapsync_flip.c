/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync, steps 3 to 5 when both generations fit (mapsync_exec.c has the
 * order): the moves of pods that change subject number planned and written
 * before the flip, the inactive generation written, and the flip.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapsync_int.h"
#include "vec.h"

void plan_free(struct plan *p)
{
	free(p->v);
	for (int g = 0; g < MS_N_GMAPS; g++)
		ms_table_free(&p->gen[g]);
	memset(p, 0, sizeof(*p));
}

/* Adds the records of subject n of rw to p->gen under number s. */
static int plan_copy(struct plan *p, const struct recs *rw, uint32_t n, uint32_t s)
{
	const struct rec *e = recs_get(rw, n);
	int err = 0;

	for (int g = 0; e && !err && g < MS_N_GMAPS; g++) {
		size_t cnt = g == MS_G_SUBJECT ? (e->subj >= 0) : e->n[g];

		for (size_t i = 0; !err && i < cnt; i++) {
			uint32_t pos = g == MS_G_SUBJECT ? (uint32_t)e->subj : e->pos[g][i];
			uint8_t key[32];

			memcpy(key, ms_table_key(rw->t[g], pos), rw->t[g]->key_size);
			*ms_key_subject(ms_gmap_pin[g], key) = s;
			err = ms_table_put(&p->gen[g], key, ms_table_value(rw->t[g], pos));
		}
	}
	return err;
}

/* Step 3, planned: who moves where, what is written in place, and the new
 * generation. */
int plan_moves(struct xc *x, struct plan *p)
{
	const struct ms_table *we = &x->want->endpoint;
	struct recs rl, rw;
	struct hmap prepared, pairs; /* n -> 1; (from, to) -> staging number */
	int err;

	memset(p, 0, sizeof(*p));
	hmap_init(&prepared);
	hmap_init(&pairs);
	err = recs_build(&rl, &x->k, x->live);
	if (!err && (err = recs_build(&rw, x->want, 0)))
		recs_free(&rl);
	for (int g = 0; !err && g < MS_N_GMAPS; g++)
		err = ms_table_copy(&p->gen[g], &x->want->gen[g][0]);
	if (err)
		goto out_maps;
	for (size_t i = 0; !err && i < we->n; i++) {
		const struct npbpf_endpoint *w = ms_table_value(we, i), *h;
		uint32_t ifindex = *(const uint32_t *)ms_table_key(we, i), pair[2], s, dummy;
		struct move *mv;

		if (!ms_table_live(we, i))
			continue;
		h = ms_table_get(&x->k.endpoint, &ifindex);
		if (!h || h->identity == w->identity)
			continue;
		mv = VEC_PUSH(p->v, p->n, p->cap);
		if (!mv) {
			err = -ENOMEM;
			break;
		}
		*mv = (struct move){ ifindex, h->identity, w->identity, w };
		if (hmap_get(&prepared, &w->identity, sizeof(w->identity), &dummy) ||
		    recs_equal(&rl, w->identity, &rw, w->identity))
			continue;
		if (!users(x, w->identity)) {
			/* Nobody is judged by n yet: its new records go in place. */
			if (hmap_insert(&prepared, &w->identity, sizeof(w->identity), 1, NULL) < 0)
				err = -ENOMEM;
			for (int g = 0; !err && g < MS_N_GMAPS; g++) {
				const struct rec *e = recs_get(&rw, w->identity);

				p->prep[g] +=
					g == MS_G_SUBJECT ? (e && e->subj >= 0) : (e ? e->n[g] : 0);
			}
			continue;
		}
		/* n's live records are another pod's until the flip: a staging
		 * number with the old records now, n's new ones after it. */
		pair[0] = h->identity;
		pair[1] = w->identity;
		if (!hmap_get(&pairs, pair, sizeof(pair), &s)) {
			s = stage_alloc(x);
			if (!s || hmap_insert(&pairs, pair, sizeof(pair), s, NULL) < 0) {
				err = s ? -ENOMEM : -ENOSPC;
				break;
			}
			err = plan_copy(p, &rw, w->identity, s);
			for (int g = 0; !err && g < MS_N_GMAPS; g++) {
				const struct rec *e = recs_get(&rl, h->identity);

				p->prep[g] +=
					g == MS_G_SUBJECT ? (e && e->subj >= 0) : (e ? e->n[g] : 0);
			}
		}
		mv->to = s;
	}
	recs_free(&rl);
	recs_free(&rw);
out_maps:
	hmap_free(&prepared);
	hmap_free(&pairs);
	if (err)
		plan_free(p);
	return err;
}

/* Whether the flip fits: the live generation, what is prepared in place,
 * and the new generation, in each map. */
bool plan_fits(struct xc *x, const struct plan *p)
{
	for (int g = 0; g < MS_N_GMAPS; g++) {
		uint32_t cap = x->be->cap[ms_gmap_pin[g]];
		size_t need = ms_table_count(&x->k.gen[g][x->live]) + p->prep[g] +
			      ms_table_count(&p->gen[g]);

		/* The inactive generation is written deletes first: what it
		 * holds now does not add to the peak. */
		if (cap && need > cap)
			return false;
	}
	return true;
}

/* Steps 3 to 5. */
int x_generations(struct xc *x, struct plan *p)
{
	const struct ms_table *gen[MS_N_GMAPS] = { &p->gen[0], &p->gen[1], &p->gen[2] };
	struct recs rl, rw;
	struct ops eps;
	int err;

	/* Step 3: records in place, then the moves. */
	x->step = "writing records of pods about to move, in place";
	err = recs_build(&rl, &x->k, x->live);
	if (!err && (err = recs_build(&rw, x->want, 0)))
		recs_free(&rl);
	if (err)
		return err;
	for (size_t i = 0; !err && i < p->n; i++) {
		const struct move *mv = &p->v[i];
		bool done = false;

		for (size_t j = 0; j < i; j++)
			done |= p->v[j].to == mv->to;
		if (done)
			continue;
		if (MAPSYNC_ID_IS_STAGE(mv->to)) {
			label_stage(x, mv->to, mv->w->identity);
			err = x_put_records(x, x->live, mv->to, &rl, mv->from, &rl);
		} else if (!recs_equal(&rl, mv->to, &rw, mv->to)) {
			err = x_put_records(x, x->live, mv->to, &rw, mv->to, &rl);
		}
	}
	recs_free(&rl);
	recs_free(&rw);
	x->step = "moving relabelled pods before the flip";
	ops_init(&eps, &x->k.endpoint);
	for (size_t i = 0; !err && i < p->n; i++) {
		struct npbpf_endpoint v;

		endpoint_with(p->v[i].w, p->v[i].to, &v);
		err = ops_push(&eps, &p->v[i].ifindex, &v);
	}
	if (!err)
		err = x_endpoints(x, &eps, OP_UPDATE);
	/* The moved pods' verdicts changed now, not at the flip: the bump
	 * makes the datapath's cached denials and conntrack entries of the
	 * old judgement go (bpf/lib/denycache.h), before the wait and the
	 * new generation's writes. */
	if (!err && eps.n)
		err = x_config(x, false);
	ops_free(&eps);
	if (err)
		return err;

	/* Step 4: the inactive generation. */
	if (!gen_is(x, !x->live, gen)) {
		x->step = "writing the new policy generation";
		err = x->k.settled ? 0 : x_wait(x);
		if (!err)
			err = x_sync_gen(x, !x->live, gen);
	}
	/* Step 5: the flip. */
	if (!err && !gen_is(x, x->live, gen)) {
		x->step = "flipping the live generation";
		err = x_config(x, true);
	}
	return err;
}
