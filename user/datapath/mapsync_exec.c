/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync, the ordered execution: brings the maps from what they hold to
 * the desired state through a backend, so that no packet ever sees a
 * half-applied policy, and a sync that cannot be written leaves no pod on
 * allows its new policy took away.
 *
 * What a packet reads: the programs read npbpf_config once per packet (live
 * generation, revision), then the endpoint of the veth (subject number), the
 * ipcache (peer identity), and the policy, range and subject records of the
 * subject in the live generation. The policy tables exist twice, once per
 * generation (top bit of the subject in their keys), so a whole new policy
 * is written next to the live one and becomes live with one store. A pod is
 * judged by the records of one subject number only: the invariant kept at
 * every single write is "each pod is judged by all of its old records or all
 * of its new ones" (or, after a failure, by records at least as strict as
 * its new ones, or isolated). Records of a number no endpoint refers to are
 * read by no packet, so they may be written in place, in the live
 * generation, at any time.
 *
 * The order of a sync:
 *  0. Names first: idmeta, policy names and endpoint names are added or
 *     updated. No program reads them; status can name what appears next. A
 *     failure here is reported but does not stop the sync.
 *  1. Endpoints of gone pods (or of veths now unbound) are deleted. A veth
 *     without an endpoint is dropped by the datapath: the safe side for a
 *     pod that is going away.
 *  2. ipcache entries for addresses new to the cache are added. Until now
 *     these addresses matched a shorter prefix or "world"; only records
 *     written from here on refer to their identities.
 *  3. Pods that change subject number (relabelled, or renumbered) move now,
 *     before the flip, each to a number whose live records are exactly its
 *     new ones: its new identity n when the live generation has n's new
 *     records already, or when no endpoint uses n (then n's new records are
 *     written in place first); otherwise (n is in use by a pod that keeps
 *     its old records until the flip) a staging number s whose live records
 *     are a copy of the pod's old ones, and whose records in the new
 *     generation are n's. So no pod is ever judged by its old identity under
 *     the new policy, nor by its new identity under the old one, and never by
 *     a number with no records (unisolated) in between.
 *     When any pod moved, the revision is bumped right after: their
 *     verdicts changed now, and the bump is what retires cached denials
 *     and re-checks conntrack entries (bpf/lib/denycache.h); per pod, after
 *     every batch.
 *  4. The inactive generation is made equal to the desired policy (plus the
 *     staging numbers): stale entries deleted, changed ones updated, new ones
 *     added. No packet reads this generation. Before writing it we wait one
 *     RCU grace period (a crash may have left it live moments ago), unless
 *     the state is what this process's last sync left (ms_state.settled:
 *     that sync waited after its flip, step 9).
 *  5. One write of npbpf_config flips the generation and bumps the revision.
 *     A packet reads the config once: all of the old policy or all of the
 *     new one. The revision bump makes conntrack re-check established flows
 *     against the new policy on their next packet.
 *  6. Endpoints on staging numbers move to their identities (same records),
 *     endpoints whose addresses changed are updated, and endpoints of new
 *     pods are added, last: until now the datapath dropped for their veths.
 *  7. ipcache entries whose identity changed are updated, those of gone
 *     addresses deleted (after the flip: the old generation may still have
 *     referred to them).
 *  8. If steps 6 and 7 changed anything (or steps 1 to 3 did and there was no
 *     flip), the revision is bumped once more, so conntrack re-checks flows
 *     with the final identities.
 *  9. After a flip: wait one RCU grace period (no program still runs with the
 *     old config or on a staging number), then delete the staging records
 *     from the live generation and make the old generation equal to the new
 *     one. Both generations then hold the same policy, so the next sync
 *     writes only what changes (twice: once per generation).
 * 10. Names no longer used are deleted, and the meta record is updated.
 * With nothing changed every diff is empty and nothing at all is written.
 *
 * Capacity: when the flip does not fit, steps 3 to 5 go pod by pod
 * (mapsync_perpod.c). Failure: a failed write leaves every pod fail-closed
 * (mapsync_settle.c). Records by subject are in mapsync_recs.c, the writes
 * and the mirror of the maps in mapsync_write.c, steps 3 to 5 with a flip in
 * mapsync_flip.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mapsync_int.h"

/* ---- The steps. */

/* Step 0. */
static void x_names(struct xc *x)
{
	static const enum pin_map names[] = { PIN_IDMETA, PIN_POLNAME, PIN_EPMETA };
	struct ms_state *w = (struct ms_state *)x->want;

	x->step = "writing names";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (x_sync_table(x, names[i], 0, ms_state_table(w, names[i], 0),
				 1u << OP_UPDATE | 1u << OP_ADD, NULL))
			x->names_failed = true;
	}
}

/* Steps 1 and 2. */
static int x_before(struct xc *x)
{
	int err;

	x->step = "deleting the endpoints of gone pods";
	err = x_sync_table(x, PIN_ENDPOINT, 0, &x->want->endpoint, 1u << OP_DEL, NULL);
	x->step = "adding addresses to the ipcache";
	if (!err)
		err = x_sync_table(x, PIN_IPC_HOST, 0, &x->want->ipc_host, 1u << OP_ADD, NULL);
	if (!err)
		err = x_sync_table(x, PIN_IPC_CIDR, 0, &x->want->ipc_cidr, 1u << OP_ADD, NULL);
	return err;
}

/* Steps 6 to 8. */
static int x_after(struct xc *x, bool moved_before)
{
	const struct ms_table *we = &x->want->endpoint;
	uint64_t before = sync_stats_writes(x->st);
	struct ops upd, add;
	int err = 0;

	x->step = "updating endpoints";
	ops_init(&upd, we);
	ops_init(&add, we);
	for (size_t i = 0; !err && i < we->n; i++) {
		const struct npbpf_endpoint *w = ms_table_value(we, i), *h;
		uint32_t ifindex = *(const uint32_t *)ms_table_key(we, i);
		struct npbpf_endpoint v;

		if (!ms_table_live(we, i))
			continue;
		h = ms_table_get(&x->k.endpoint, &ifindex);
		/* Per pod, a pod stays on the number its records are under. */
		endpoint_with(w, x->per_pod && h ? h->identity : w->identity, &v);
		if (!h && !x->per_pod)
			err = ops_push(&add, &ifindex, &v);
		else if (h && memcmp(h, &v, sizeof(v)))
			err = ops_push(&upd, &ifindex, &v);
	}
	if (!err)
		err = x_endpoints(x, &upd, OP_UPDATE);
	x->step = "adding the endpoints of new pods";
	if (!err)
		err = x_endpoints(x, &add, OP_ADD);
	ops_free(&upd);
	ops_free(&add);
	x->step = "updating the ipcache";
	if (!err)
		err = x_sync_table(x, PIN_IPC_HOST, 0, &x->want->ipc_host,
				   1u << OP_UPDATE | 1u << OP_DEL, NULL);
	if (!err)
		err = x_sync_table(x, PIN_IPC_CIDR, 0, &x->want->ipc_cidr,
				   1u << OP_UPDATE | 1u << OP_DEL, NULL);
	/* Step 8: conntrack re-checks with the final identities. */
	x->step = "bumping the revision";
	if (!err && (sync_stats_writes(x->st) > before || (moved_before && !x->flipped)))
		err = x_config(x, false);
	return err;
}

/* ---- The whole sync. */

/* The desired generation's tables. */
static void want_gen(const struct ms_state *w, const struct ms_table *g[MS_N_GMAPS])
{
	for (int i = 0; i < MS_N_GMAPS; i++)
		g[i] = &w->gen[i][0];
}

/* Whether a second copy of the live generation fits in each map: else the
 * old generation is left empty, and the next sync writes a whole one or
 * switches per pod. */
static bool copy_fits(struct xc *x)
{
	for (int g = 0; g < MS_N_GMAPS; g++) {
		uint32_t cap = x->be->cap[ms_gmap_pin[g]];

		if (cap && 2 * ms_table_count(&x->k.gen[g][x->live]) > cap)
			return false;
	}
	return true;
}

/* Staging numbers still in use keep their labels. */
static bool keep_label(struct xc *x, const void *key)
{
	const struct npbpf_idmeta_key *k = key;

	return MAPSYNC_ID_IS_OWN(k->identity) && users(x, k->identity);
}

static uint32_t count_isolated(struct xc *x)
{
	return users(x, MAPSYNC_ID_ISOLATED);
}

/* Step 10: names no longer used, then the meta record with how it ended. */
static int x_finish(struct xc *x, int err)
{
	static const enum pin_map names[] = { PIN_IDMETA, PIN_POLNAME, PIN_EPMETA };
	struct ms_state *w = (struct ms_state *)x->want;
	struct npbpf_meta meta = x->want->meta;
	__u32 key = 0;
	int ret;

	x->step = "deleting names no longer used";
	for (size_t i = 0; !err && i < sizeof(names) / sizeof(names[0]); i++) {
		if (x_sync_table(x, names[i], 0, ms_state_table(w, names[i], 0), 1u << OP_DEL,
				 names[i] == PIN_IDMETA ? keep_label : NULL))
			x->names_failed = true;
	}
	if (!x->st->err && meta.error) {
		/* The desired state itself was degraded (identity numbers). */
		x->st->err = meta.error;
		x->st->err_map = PIN_N;
		snprintf(x->st->err_what, sizeof(x->st->err_what), "%s", meta.error_what);
	}
	x->st->isolated = count_isolated(x);
	if (x->st->err) {
		ms_meta_set_error(&meta, x->st->err, x->st->err_map, x->st->err_what);
		meta.error_isolated = x->st->isolated;
		meta.failed_syncs = x->cur_meta.failed_syncs + 1;
	} else {
		ms_meta_clear_error(&meta);
	}
	meta.syncs = x->cur_meta.syncs;
	meta.last_sync_ns = x->cur_meta.last_sync_ns;
	if (sync_stats_writes(x->st)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		meta.syncs++;
		meta.last_sync_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	}
	if (!sync_stats_writes(x->st) && !x->st->err && !x->cur_meta.error &&
	    !memcmp(&meta, &x->cur_meta, sizeof(meta)))
		return err;
	ret = x->be->update(x->be->ctx, PIN_META, &key, &meta, 1);
	if (ret && !err) {
		x->step = "writing the meta record";
		note_error(x, ret, PIN_META);
		err = ret;
	}
	if (!ret)
		x->k.meta = meta;
	return err;
}

static bool full(int err)
{
	return err == -E2BIG || err == -ENOSPC || err == -ENOMEM;
}

/* keep: cur is the caller's, moved in as the mirror and handed back as
 * what the maps hold after the sync; else cur is only read (copied). */
static int execute(const struct ms_state *want, struct ms_state *cur, bool keep,
		   const struct ms_backend *be, struct sync_stats *st)
{
	struct xc x = { .be = be, .want = want, .cur_meta = cur->meta, .st = st };
	uint32_t skipped = st->endpoints_skipped,
		 ids[4] = { st->ids_new, st->ids_reused, st->ids_retired, st->ids_expired };
	struct plan plan;
	bool moved_before = false, stuck = false;
	uint64_t before;
	double t0 = now_ms();
	int err;

	memset(st, 0, sizeof(*st));
	memset(&plan, 0, sizeof(plan));
	st->err_map = PIN_N;
	st->endpoints_skipped = skipped;
	st->ids_new = ids[0];
	st->ids_reused = ids[1];
	st->ids_retired = ids[2];
	st->ids_expired = ids[3];
	hmap_init(&x.staged);
	if (keep) {
		x.k = *cur;
		ms_state_init(cur);
	} else {
		err = ms_state_copy(&x.k, cur);
		if (err)
			goto out_free;
	}
	x.live = (int)(x.k.config.generation & 1);

	x_names(&x);
	before = sync_stats_writes(st);
	err = x_before(&x);
	if (!err)
		err = plan_moves(&x, &plan);
	moved_before = sync_stats_writes(st) > before || plan.n;
	if (!err && plan_fits(&x, &plan)) {
		err = x_generations(&x, &plan);
		/* Did not fit after all (the map's own accounting): per pod. */
		if (err && full(err) && !x.flipped && ms_gmap_of(st->err_map) >= 0 &&
		    !x_reread(&x)) {
			log_info("sync: the new generation did not fit next to the live one; "
				 "switching pod by pod");
			st->err = 0;
			st->err_map = PIN_N;
			x.broken = 0;
			err = x_per_pod(&x, &stuck);
		}
	} else if (!err) {
		err = x_per_pod(&x, &stuck);
	}
	/* Per pod every switch wants conntrack to re-check. */
	if (x.per_pod)
		moved_before = sync_stats_writes(st) > before;
	if (!err)
		err = x_after(&x, moved_before);
	if (!err && stuck) {
		/* Some pods' new records fit nowhere: fail-closed for them. */
		x.step = "switching pods to their new records: the map is full";
		note_error(&x, -E2BIG, x.unfit);
		err = x_settle(&x);
		if (!err)
			err = -E2BIG;
	} else if (err) {
		/* Names failures do not get here: this was a write packets depend
		 * on (or the wait before one). */
		if (x_settle(&x))
			log_error("sync: could not leave every pod fail-closed");
	}
	/* Step 9: the staging records go and the old generation catches up,
	 * once no packet can read either. */
	if (!err && x.flipped) {
		const struct ms_table *gen[MS_N_GMAPS], *empty[MS_N_GMAPS];
		struct ms_table none[MS_N_GMAPS]; /* stays empty: nothing to free */

		want_gen(want, gen);
		for (int g = 0; g < MS_N_GMAPS; g++) {
			ms_table_init(&none[g], gen[g]->key_size, gen[g]->value_size);
			empty[g] = &none[g];
		}
		x.step = "bringing the old generation up to date";
		err = x_wait(&x);
		if (!err)
			err = x_sync_gen(&x, x.live, gen);
		if (!err)
			err = x_sync_gen(&x, !x.live, copy_fits(&x) ? gen : empty);
	} else if (!err && x.per_pod) {
		x.step = "clearing records no pod uses";
		err = x_wait(&x);
		if (!err)
			err = x_drop_unused(&x);
	}
	err = x_finish(&x, err);
out_free:
	if (!err && st->err)
		err = st->err;
	/* Step 9 waited after the flip; without a flip nothing changed. */
	if (!err && x.flipped)
		x.k.settled = true;
	else if (err)
		x.k.settled = false;
	st->flipped = x.flipped;
	st->per_pod = x.per_pod;
	st->generation = x.k.config.generation;
	st->revision = x.k.config.revision;
	st->write_ms = now_ms() - t0;
	plan_free(&plan);
	hmap_free(&x.staged);
	if (keep) {
		ms_state_free(cur);
		*cur = x.k;
	} else {
		ms_state_free(&x.k);
	}
	free(x.kbuf);
	return err;
}

int mapsync_execute(const struct ms_state *want, const struct ms_state *cur,
		    const struct ms_backend *be, struct sync_stats *st)
{
	return execute(want, (struct ms_state *)cur, false, be, st);
}

int mapsync_execute_keep(const struct ms_state *want, struct ms_state *cur,
			 const struct ms_backend *be, struct sync_stats *st)
{
	return execute(want, cur, true, be, st);
}
