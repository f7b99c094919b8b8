/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync, per pod: steps 3 to 5 when the new generation does not fit next
 * to the live one (mapsync_exec.c has the order).
 *
 * Capacity. The live and the new generation share each map: the flip needs
 * |live| + |new| entries (plus the pods prepared in place). When that does
 * not fit, steps 3 to 5 become a switch pod by pod ("per pod"): the inactive
 * generation is emptied, and in batches that fit, each pod whose records
 * change gets its new records in place under a number no endpoint uses (its
 * identity or a staging number), moves there, and after a grace period its
 * old records are deleted, freeing room for the next batch. Each pod is then
 * switched atomically, not all at once; the maps need room for the live
 * policy plus the biggest pod's records instead of twice the policy.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mapsync_int.h"
#include "vec.h"

/* Records of the live generation no endpoint uses, after a grace period:
 * versions pods moved away from, pods gone. Numbers whose live records are
 * already some pod's new ones stay for the pods still to come. */
int x_drop_unused(struct xc *x)
{
	const struct ms_table *we = &x->want->endpoint;
	struct recs rl, rw;
	struct hmap keep;
	int err;

	hmap_init(&keep);
	err = recs_build(&rl, &x->k, x->live);
	if (!err && (err = recs_build(&rw, x->want, 0)))
		recs_free(&rl);
	if (err)
		goto out;
	for (size_t i = 0; !err && i < we->n; i++) {
		const struct npbpf_endpoint *w = ms_table_value(we, i);

		if (ms_table_live(we, i) && recs_equal(&rl, w->identity, &rw, w->identity) &&
		    hmap_insert(&keep, &w->identity, sizeof(w->identity), 1, NULL) < 0)
			err = -ENOMEM;
	}
	recs_free(&rw);
	for (size_t i = 0; !err && i < rl.n; i++) {
		uint32_t id = rl.v[i].subject, dummy;

		if (users(x, id) || hmap_get(&keep, &id, sizeof(id), &dummy))
			continue;
		err = x_put_records(x, x->live, id, NULL, 0, &rl);
	}
	recs_free(&rl);
out:
	hmap_free(&keep);
	return err;
}

/* Room left in the map of generational map g. */
static size_t room(struct xc *x, int g)
{
	uint32_t cap = x->be->cap[ms_gmap_pin[g]];
	size_t used = ms_table_count(&x->k.gen[g][0]) + ms_table_count(&x->k.gen[g][1]);

	return !cap ? SIZE_MAX : used >= cap ? 0 : cap - used;
}

struct group {
	uint32_t id;  /* the identity whose new records the pods get */
	uint32_t key; /* where they are (or go); 0: not in this batch */
};

/* The identities of pods not on their new records (new pods included). */
static int pending_groups(struct xc *x, const struct recs *rl, const struct recs *rw,
			  struct group **gr, size_t *n)
{
	const struct ms_table *we = &x->want->endpoint;
	size_t cap = 0;

	*gr = NULL;
	*n = 0;
	for (size_t i = 0; i < we->n; i++) {
		const struct npbpf_endpoint *w = ms_table_value(we, i), *h;
		uint32_t ifindex = *(const uint32_t *)ms_table_key(we, i);
		bool seen = false;

		if (!ms_table_live(we, i))
			continue;
		h = ms_table_get(&x->k.endpoint, &ifindex);
		if (h && recs_equal(rl, h->identity, rw, w->identity))
			continue;
		for (size_t j = 0; j < *n; j++)
			seen |= (*gr)[j].id == w->identity;
		if (seen)
			continue;
		if (!VEC_PUSH(*gr, *n, cap))
			return -ENOMEM;
		(*gr)[*n - 1].id = w->identity;
	}
	return 0;
}

/*
 * Steps 3 to 5, per pod: every pod whose live records are not its new ones
 * (and every new pod) gets them under a number no endpoint uses, in batches
 * that fit; after each batch's moves and a grace period the records left
 * without users are deleted, which makes room for the next. Pods whose new
 * records fit nowhere are left where they are for x_settle (*stuck).
 */
int x_per_pod(struct xc *x, bool *stuck)
{
	const struct ms_table *we = &x->want->endpoint;
	int err;

	x->per_pod = true;
	*stuck = false;
	x->step = "clearing the inactive generation";
	err = x_wait(x);
	for (int g = 0; !err && g < MS_N_GMAPS; g++) {
		struct ms_table empty;

		ms_table_init(&empty, x->k.gen[g][0].key_size, x->k.gen[g][0].value_size);
		err = x_sync_table(x, ms_gmap_pin[g], !x->live, &empty, 1u << OP_DEL, NULL);
		ms_table_free(&empty);
	}
	x->step = "clearing records no pod uses";
	if (!err)
		err = x_drop_unused(x);
	while (!err) {
		struct recs rl, rw;
		struct group *gr = NULL;
		size_t n_gr = 0, left[MS_N_GMAPS], unfit = 0;
		struct ops upd, add;

		err = recs_build(&rl, &x->k, x->live);
		if (!err && (err = recs_build(&rw, x->want, 0)))
			recs_free(&rl);
		if (err)
			break;
		err = pending_groups(x, &rl, &rw, &gr, &n_gr);
		for (int g = 0; g < MS_N_GMAPS; g++)
			left[g] = room(x, g);
		/* A number and room for as many as fit. */
		for (size_t j = 0; !err && j < n_gr; j++) {
			const struct rec *e = recs_get(&rw, gr[j].id);
			size_t need[MS_N_GMAPS];
			bool fits = true;

			if (recs_equal(&rl, gr[j].id, &rw, gr[j].id)) {
				gr[j].key = gr[j].id;
				continue;
			}
			for (int g = 0; g < MS_N_GMAPS; g++) {
				need[g] =
					g == MS_G_SUBJECT ? (e && e->subj >= 0) : (e ? e->n[g] : 0);
				if (need[g] > left[g] && fits)
					x->unfit = ms_gmap_pin[g];
				fits &= need[g] <= left[g];
			}
			if (!fits) {
				unfit++;
				continue;
			}
			gr[j].key = users(x, gr[j].id) ? stage_alloc(x) : gr[j].id;
			if (!gr[j].key) {
				unfit++;
				continue;
			}
			for (int g = 0; g < MS_N_GMAPS; g++)
				left[g] -= need[g];
		}
		x->step = "writing pods' new records in place";
		for (size_t j = 0; !err && j < n_gr; j++) {
			if (!gr[j].key || gr[j].key == gr[j].id) {
				if (!gr[j].key || recs_equal(&rl, gr[j].id, &rw, gr[j].id))
					continue;
			} else {
				label_stage(x, gr[j].key, gr[j].id);
			}
			err = x_put_records(x, x->live, gr[j].key, &rw, gr[j].id, &rl);
		}
		recs_free(&rl);
		recs_free(&rw);
		/* The moves, and new pods: one endpoint write each. */
		x->step = "switching pods to their new records";
		ops_init(&upd, we);
		ops_init(&add, we);
		for (size_t i = 0; !err && i < we->n; i++) {
			const struct npbpf_endpoint *w = ms_table_value(we, i), *h;
			uint32_t ifindex = *(const uint32_t *)ms_table_key(we, i);
			struct npbpf_endpoint v;

			if (!ms_table_live(we, i))
				continue;
			h = ms_table_get(&x->k.endpoint, &ifindex);
			for (size_t j = 0; !err && j < n_gr; j++) {
				if (gr[j].id != w->identity || !gr[j].key)
					continue;
				endpoint_with(w, gr[j].key, &v);
				if (!h)
					err = ops_push(&add, &ifindex, &v);
				else if (memcmp(h, &v, sizeof(v)))
					err = ops_push(&upd, &ifindex, &v);
			}
		}
		if (!err)
			err = x_endpoints(x, &upd, OP_UPDATE);
		if (!err)
			err = x_endpoints(x, &add, OP_ADD);
		/* This batch's pods are judged by their new records from now:
		 * a bump, so cached denials and conntrack entries of the old
		 * judgement go (bpf/lib/denycache.h). */
		if (!err && (upd.n || add.n))
			err = x_config(x, false);
		if (!err && !upd.n && !add.n) {
			/* No pod could move: what is left fits nowhere. */
			*stuck = unfit > 0;
			ops_free(&upd);
			ops_free(&add);
			free(gr);
			break;
		}
		ops_free(&upd);
		ops_free(&add);
		free(gr);
		/* Room for the next batch: what the moved pods left behind. */
		x->step = "clearing records no pod uses";
		if (!err)
			err = x_wait(x);
		if (!err)
			err = x_drop_unused(x);
	}
	return err;
}
