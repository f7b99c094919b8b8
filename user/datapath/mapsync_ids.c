/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity numbers of the map sync. The compile numbers identities by their
 * keys (identity.c); what is pinned decides the numbers that reach the maps:
 * a key keeps its pinned number for as long as a map or its quarantine holds
 * it, and a new key gets the lowest number that neither holds, so label
 * churn recycles numbers instead of exhausting the spaces.
 *
 * The life of a number x:
 *  - handed out: idmeta chunks 0, 1, ... hold its key and label;
 *  - retired when the desired state no longer has it: a marker record
 *    (NPBPF_IDMETA_CHUNK_RETIRED) says when. While some map still refers to
 *    x (a failed sync left it there), the marker is renewed on every sync,
 *    so the quarantine counts from when the last reference went;
 *  - once the quarantine (mapsync_opts.quarantine_ns, MAPSYNC_QUARANTINE_NS
 *    says why it is safe) has passed and nothing refers to x, its idmeta
 *    records go at the end of that sync, and x is free from the next one;
 *  - a key that comes back before then gets x back.
 * Numbers no record holds and no map refers to are free, whatever the meta
 * high-water marks say: those only count what was ever handed out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mapsync_int.h"
#include "vec.h"

void ms_opts_resolve(const struct mapsync_opts *in, struct mapsync_opts *out)
{
	struct timespec ts;

	memset(out, 0, sizeof(*out));
	if (in)
		*out = *in;
	if (!out->pod_id_limit || out->pod_id_limit > MAPSYNC_ID_STAGE_FIRST)
		out->pod_id_limit = MAPSYNC_ID_STAGE_FIRST;
	if (!out->cidr_id_limit || out->cidr_id_limit > NPBPF_GEN_BIT)
		out->cidr_id_limit = NPBPF_GEN_BIT;
	if (!out->policy_limit || out->policy_limit > NPBPF_POLICY_NONE)
		out->policy_limit = NPBPF_POLICY_NONE;
	if (!out->quarantine_ns)
		out->quarantine_ns = MAPSYNC_QUARANTINE_NS;
	if (!out->now_ns) {
		/* Survives agent restarts (the pinned maps do not survive a reboot)
		 * and does not jump with the wall clock. */
		clock_gettime(CLOCK_BOOTTIME, &ts);
		out->now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
}

/* ---- What the current state holds. */

enum {
	BUSY_META = 1u << 0,   /* idmeta records (key and label) */
	BUSY_MARKED = 1u << 1, /* a quarantine marker */
	BUSY_REF = 1u << 2,    /* a map the datapath reads refers to it */
	BUSY_WANTED = 1u << 3, /* the desired state has it */
};

struct busy {
	uint32_t id;
	uint32_t flags;
	uint64_t retired_ns; /* with BUSY_MARKED */
};

struct numbering {
	const struct mapsync_opts *o;
	struct hmap index; /* number -> index in v */
	struct busy *v;
	size_t n, cap;
	struct hmap xlate; /* compile's number -> pinned number or MS_NO_ID */
	bool *region_lost; /* an address of a CIDR-range identity lost its entry */
};

/* Numbers of the sync's own and reserved ones are nobody's identity. */
static bool numbered(uint32_t id)
{
	return id >= NPBPF_ID_FIRST_POD && id < NPBPF_GEN_BIT && !MAPSYNC_ID_IS_OWN(id);
}

static struct busy *busy_of(struct numbering *nb, uint32_t id)
{
	uint32_t idx = (uint32_t)nb->n;
	struct busy *b;
	int ret;

	ret = hmap_insert(&nb->index, &id, sizeof(id), idx, &idx);
	if (ret < 0)
		return NULL;
	if (ret == 0)
		return &nb->v[idx];
	b = VEC_PUSH(nb->v, nb->n, nb->cap);
	if (b)
		b->id = id;
	return b;
}

static int mark(struct numbering *nb, uint32_t id, uint32_t flag)
{
	struct busy *b;

	if (!numbered(id))
		return 0;
	b = busy_of(nb, id);
	if (!b)
		return -ENOMEM;
	b->flags |= flag;
	return 0;
}

static int mark_pair(struct numbering *nb, uint32_t subject, uint32_t peer)
{
	int err = mark(nb, subject, BUSY_REF);

	return err ? err : mark(nb, peer, BUSY_REF);
}

/* Every number a map the datapath reads refers to, in both generations. */
static int mark_refs(struct numbering *nb, const struct ms_state *cur)
{
	struct ms_state *c = (struct ms_state *)cur; /* ms_state_table does not write */
	int err = 0;

	for (int gen = 0; gen < 2; gen++) {
		const struct ms_table *pt = ms_state_table(c, PIN_POLICY, gen);
		const struct ms_table *rt = ms_state_table(c, PIN_RANGE, gen);
		const struct ms_table *st = ms_state_table(c, PIN_SUBJECT, gen);

		for (size_t i = 0; !err && i < pt->n; i++) {
			const struct npbpf_policy_key *k = ms_table_key(pt, i);

			if (ms_table_live(pt, i))
				err = mark_pair(nb, k->subject, k->peer);
		}
		for (size_t i = 0; !err && i < rt->n; i++) {
			const struct npbpf_range_key *k = ms_table_key(rt, i);

			if (ms_table_live(rt, i))
				err = mark_pair(nb, k->subject, k->peer);
		}
		for (size_t i = 0; !err && i < st->n; i++) {
			if (ms_table_live(st, i))
				err = mark(nb, *(const __u32 *)ms_table_key(st, i), BUSY_REF);
		}
	}
	for (size_t i = 0; !err && i < cur->ipc_host.n; i++) {
		const struct npbpf_ipc_value *v = ms_table_value(&cur->ipc_host, i);

		if (ms_table_live(&cur->ipc_host, i))
			err = mark(nb, v->identity, BUSY_REF);
	}
	for (size_t i = 0; !err && i < cur->ipc_cidr.n; i++) {
		const struct npbpf_ipc_value *v = ms_table_value(&cur->ipc_cidr, i);

		if (ms_table_live(&cur->ipc_cidr, i))
			err = mark(nb, v->identity, BUSY_REF);
	}
	for (size_t i = 0; !err && i < cur->endpoint.n; i++) {
		const struct npbpf_endpoint *v = ms_table_value(&cur->endpoint, i);

		if (ms_table_live(&cur->endpoint, i))
			err = mark(nb, v->identity, BUSY_REF);
	}
	return err;
}

static int mark_meta(struct numbering *nb, const struct ms_state *cur)
{
	const struct ms_table *t = &cur->idmeta;

	for (size_t i = 0; i < t->n; i++) {
		const struct npbpf_idmeta_key *k = ms_table_key(t, i);
		const struct npbpf_idmeta *v = ms_table_value(t, i);
		struct busy *b;

		if (!ms_table_live(t, i) || !numbered(k->identity))
			continue;
		b = busy_of(nb, k->identity);
		if (!b)
			return -ENOMEM;
		if (k->chunk != NPBPF_IDMETA_CHUNK_RETIRED) {
			b->flags |= BUSY_META;
		} else if (v->kind == NPBPF_IDMETA_RETIRED) {
			b->flags |= BUSY_MARKED;
			memcpy(&b->retired_ns, v->data, sizeof(b->retired_ns));
		}
	}
	return 0;
}

/* ---- Handing out numbers. */

struct space {
	uint32_t first, limit;
	uint32_t *taken; /* numbers of the space nobody may get, sorted */
	size_t n_taken, cap_taken, at;
	uint32_t next; /* the lowest number not yet looked at */
	uint32_t hw;   /* the meta high-water mark */
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The lowest number of the space not taken, or MS_NO_ID. */
static uint32_t space_alloc(struct space *sp)
{
	while (sp->next < sp->limit) {
		uint32_t id = sp->next++;

		while (sp->at < sp->n_taken && sp->taken[sp->at] < id)
			sp->at++;
		if (sp->at < sp->n_taken && sp->taken[sp->at] == id)
			continue;
		return id;
	}
	return MS_NO_ID;
}

static int space_take(struct space *sp, uint32_t id)
{
	uint32_t *slot;

	if (id < sp->first || id >= sp->limit)
		return 0;
	slot = VEC_PUSH(sp->taken, sp->n_taken, sp->cap_taken);
	if (!slot)
		return -ENOMEM;
	*slot = id;
	return 0;
}

/* Key bytes -> number of every identity cur has metadata for, quarantined
 * ones included. */
static int key_index(const struct ms_state *cur, struct hmap *keys)
{
	const struct ms_table *t = &cur->idmeta;
	int err = 0;

	for (size_t i = 0; !err && i < t->n; i++) {
		const struct npbpf_idmeta_key *k = ms_table_key(t, i);
		uint8_t *key = NULL;
		size_t key_len = 0;

		if (!ms_table_live(t, i) || k->chunk || !numbered(k->identity))
			continue;
		err = ms_idmeta_decode(t, k->identity, &key, &key_len, NULL);
		if (err == -ENOENT) {
			/* A torn record: the key gets a new number, this one goes
			 * through quarantine like any other. */
			err = 0;
			continue;
		}
		if (!err && key_len && hmap_insert(keys, key, key_len, k->identity, NULL) < 0)
			err = -ENOMEM;
		free(key);
	}
	return err;
}

/*
 * cp's number -> the pinned one in nb->xlate: the number cur has for the
 * identity's key, else a free one. In cp order, so the result depends only
 * on the inputs.
 */
static int assign(struct numbering *nb, const struct compiled *cp, const struct ms_state *cur,
		  struct ms_state *want, struct sync_stats *st, uint32_t *n_lost)
{
	struct space sp[2] = {
		{ .first = NPBPF_ID_FIRST_POD,
		  .limit = nb->o->pod_id_limit,
		  .hw = cur->meta.next_pod_id },
		{ .first = NPBPF_ID_FIRST_CIDR,
		  .limit = nb->o->cidr_id_limit,
		  .hw = cur->meta.next_cidr_id },
	};
	uint32_t *final = calloc(cp->n_ids ? cp->n_ids : 1, sizeof(*final));
	uint64_t *order = NULL;
	struct hmap keys;
	int err;

	hmap_init(&keys);
	if (!final) {
		err = -ENOMEM;
		goto out;
	}
	err = key_index(cur, &keys);
	/* Known keys first: their numbers are taken before any is handed out. */
	for (size_t i = 0; !err && i < cp->n_ids; i++) {
		const struct identity *idn = &cp->ids[i];
		int s = NPBPF_ID_IS_CIDR(idn->id);
		const void *key;
		size_t len;
		uint32_t m;
		struct busy *b;

		final[i] = MS_NO_ID;
		if (idn->kind == IDENTITY_RESERVED)
			continue;
		key = compiled_identity_key(cp, idn, &len);
		if (!hmap_get(&keys, key, len, &m) || NPBPF_ID_IS_CIDR(m) != s || m >= sp[s].limit)
			continue;
		b = busy_of(nb, m);
		if (!b) {
			err = -ENOMEM;
			break;
		}
		if (b->flags & BUSY_WANTED)
			continue; /* two keys, one number: a corrupt record */
		b->flags |= BUSY_WANTED;
		final[i] = m;
	}
	for (size_t i = 0; !err && i < nb->n; i++)
		err = space_take(&sp[NPBPF_ID_IS_CIDR(nb->v[i].id)], nb->v[i].id);
	for (int s = 0; !err && s < 2; s++) {
		if (sp[s].n_taken)
			qsort(sp[s].taken, sp[s].n_taken, sizeof(*sp[s].taken), cmp_u32);
		sp[s].next = sp[s].first;
	}
	/* New keys in the order of the compile's numbers: on an empty state the
	 * pinned numbers are the compile's. */
	order = calloc(cp->n_ids ? cp->n_ids : 1, sizeof(*order));
	if (!err && !order)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < cp->n_ids; i++)
		order[i] = (uint64_t)cp->ids[i].id << 32 | i;
	if (!err && cp->n_ids)
		qsort(order, cp->n_ids, sizeof(*order), cmp_u64);
	for (size_t o = 0; !err && o < cp->n_ids; o++) {
		size_t i = (size_t)(order[o] & 0xffffffffu);
		const struct identity *idn = &cp->ids[i];
		struct space *p = &sp[NPBPF_ID_IS_CIDR(idn->id)];
		struct busy *b;

		if (idn->kind == IDENTITY_RESERVED)
			continue;
		if (final[i] == MS_NO_ID) {
			final[i] = space_alloc(p);
			if (final[i] == MS_NO_ID) {
				(*n_lost)++;
				continue;
			}
			b = busy_of(nb, final[i]);
			if (!b) {
				err = -ENOMEM;
				break;
			}
			b->flags |= BUSY_WANTED;
			if (st && final[i] < p->hw)
				st->ids_reused++;
			if (st)
				st->ids_new++;
		}
		if (final[i] >= p->hw)
			p->hw = final[i] + 1;
	}
	for (size_t i = 0; !err && i < cp->n_ids; i++) {
		if (cp->ids[i].kind != IDENTITY_RESERVED &&
		    hmap_insert(&nb->xlate, &cp->ids[i].id, sizeof(cp->ids[i].id), final[i], NULL) <
			    0)
			err = -ENOMEM;
	}
	want->meta.next_pod_id = sp[0].hw;
	want->meta.next_cidr_id = sp[1].hw;
out:
	free(sp[0].taken);
	free(sp[1].taken);
	free(final);
	free(order);
	hmap_free(&keys);
	return err;
}

/* ---- Renumbering the desired state. */

static uint32_t xl(const struct numbering *nb, uint32_t id)
{
	uint32_t v;

	if (id < NPBPF_ID_FIRST_POD)
		return id;
	return hmap_get(&nb->xlate, &id, sizeof(id), &v) ? v : MS_NO_ID;
}

/* Rebuilds t through fn, which rewrites an entry in place or returns false
 * to drop it. */
static int rebuild(struct ms_table *t, const struct numbering *nb,
		   bool (*fn)(const struct numbering *, void *key, void *value))
{
	struct ms_table out;
	uint8_t key[64], value[512];
	int err = 0;

	if (t->key_size > sizeof(key) || t->value_size > sizeof(value))
		return -EINVAL;
	ms_table_init(&out, t->key_size, t->value_size);
	for (size_t i = 0; !err && i < t->n; i++) {
		if (!ms_table_live(t, i))
			continue;
		memcpy(key, ms_table_key(t, i), t->key_size);
		memcpy(value, ms_table_value(t, i), t->value_size);
		if (fn(nb, key, value))
			err = ms_table_put(&out, key, value);
	}
	if (err) {
		ms_table_free(&out);
		return err;
	}
	ms_table_free(t);
	*t = out;
	return 0;
}

static bool fix_policy(const struct numbering *nb, void *key, void *value)
{
	struct npbpf_policy_key *k = key;

	(void)value;
	k->subject = xl(nb, k->subject);
	k->peer = xl(nb, k->peer);
	return k->subject != MS_NO_ID && k->peer != MS_NO_ID;
}

static bool fix_range(const struct numbering *nb, void *key, void *value)
{
	struct npbpf_range_key *k = key;

	(void)value;
	k->subject = xl(nb, k->subject);
	k->peer = xl(nb, k->peer);
	return k->subject != MS_NO_ID && k->peer != MS_NO_ID;
}

static bool fix_subject(const struct numbering *nb, void *key, void *value)
{
	__u32 *k = key;

	(void)value;
	*k = xl(nb, *k);
	return *k != MS_NO_ID;
}

/* An address whose identity has no number is left out: it resolves to its
 * ipBlock region or world, whose entries are a subset of the pod identity's
 * (a pod identity carries its region, so every ipBlock rule that allows the
 * region allows the pod). */
static bool fix_ipc(const struct numbering *nb, void *key, void *value)
{
	struct npbpf_ipc_value *v = value;
	bool region = NPBPF_ID_IS_CIDR(v->identity);

	(void)key;
	v->identity = xl(nb, v->identity);
	if (v->identity != MS_NO_ID)
		return true;
	*nb->region_lost |= region;
	return false;
}

static bool fix_endpoint(const struct numbering *nb, void *key, void *value)
{
	struct npbpf_endpoint *v = value;

	(void)key;
	v->identity = xl(nb, v->identity);
	if (v->identity == MS_NO_ID)
		v->identity = MAPSYNC_ID_ISOLATED;
	return true;
}

static bool fix_idmeta(const struct numbering *nb, void *key, void *value)
{
	struct npbpf_idmeta_key *k = key;

	(void)value;
	k->identity = xl(nb, k->identity);
	return k->identity != MS_NO_ID;
}

/* Whether subject id has an entry whose peer an address could turn into
 * when an ipBlock prefix is missing from the ipcache: a CIDR-range identity
 * or world. */
static bool allows_regions(const struct ms_state *want, uint32_t id)
{
	const struct ms_table *pt = &want->gen[MS_G_POLICY][0], *rt = &want->gen[MS_G_RANGE][0];

	for (size_t i = 0; i < pt->n; i++) {
		const struct npbpf_policy_key *k = ms_table_key(pt, i);

		if (ms_table_live(pt, i) && k->subject == id &&
		    (k->peer == NPBPF_ID_WORLD || NPBPF_ID_IS_CIDR(k->peer)))
			return true;
	}
	for (size_t i = 0; i < rt->n; i++) {
		const struct npbpf_range_key *k = ms_table_key(rt, i);

		if (ms_table_live(rt, i) && k->subject == id &&
		    (k->peer == NPBPF_ID_WORLD || NPBPF_ID_IS_CIDR(k->peer)))
			return true;
	}
	return false;
}

/*
 * Endpoints whose identity got no number point at MAPSYNC_ID_ISOLATED. When
 * an identity of the CIDR range (an ipBlock region, or the node's addresses
 * in one) got none, its addresses fall to a shorter prefix, which a rule may
 * allow where the missing one was excepted: the pods with any rule towards a
 * region (or world) are isolated too.
 */
static int isolate_lost(struct ms_state *want, bool region_lost, uint32_t *isolated)
{
	struct ms_table *t = &want->endpoint;
	struct npbpf_subject iso = ms_isolated_subject();
	__u32 key = MAPSYNC_ID_ISOLATED;

	for (size_t i = 0; region_lost && i < t->n; i++) {
		struct npbpf_endpoint *v = (struct npbpf_endpoint *)ms_table_value(t, i);

		if (ms_table_live(t, i) && v->identity != MAPSYNC_ID_ISOLATED &&
		    allows_regions(want, v->identity))
			v->identity = MAPSYNC_ID_ISOLATED;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct npbpf_endpoint *v = ms_table_value(t, i);

		if (ms_table_live(t, i) && v->identity == MAPSYNC_ID_ISOLATED)
			(*isolated)++;
	}
	return *isolated ? ms_table_put(&want->gen[MS_G_SUBJECT][0], &key, &iso) : 0;
}

/* ---- Quarantine. */

static int put_marker(struct ms_table *idmeta, uint32_t id, uint64_t when)
{
	struct npbpf_idmeta_key k = { .identity = id, .chunk = NPBPF_IDMETA_CHUNK_RETIRED };
	struct npbpf_idmeta v;

	memset(&v, 0, sizeof(v));
	v.kind = NPBPF_IDMETA_RETIRED;
	v.len = sizeof(when);
	memcpy(v.data, &when, sizeof(when));
	return ms_table_put(idmeta, &k, &v);
}

/* Numbers cur has and want does not: into quarantine (their records kept,
 * a marker added), kept there, or out of it (left out of want: their records
 * are deleted with the names no longer used). */
static int retire(struct numbering *nb, const struct ms_state *cur, struct ms_state *want,
		  struct sync_stats *st)
{
	const struct ms_table *t = &cur->idmeta;
	struct hmap keep; /* number -> 1: copy its records */
	int err = 0;

	hmap_init(&keep);
	for (size_t i = 0; !err && i < nb->n; i++) {
		struct busy *b = &nb->v[i];
		uint64_t when = nb->o->now_ns;

		if (b->flags & BUSY_WANTED)
			continue;
		if (!(b->flags & BUSY_MARKED)) {
			if (st)
				st->ids_retired++;
		} else if (!(b->flags & BUSY_REF)) {
			when = b->retired_ns;
			if (when <= nb->o->now_ns && nb->o->now_ns - when >= nb->o->quarantine_ns) {
				if (st)
					st->ids_expired++;
				continue;
			}
		}
		err = put_marker(&want->idmeta, b->id, when);
		if (!err && hmap_insert(&keep, &b->id, sizeof(b->id), 1, NULL) < 0)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < t->n; i++) {
		const struct npbpf_idmeta_key *k = ms_table_key(t, i);
		uint32_t dummy;

		if (ms_table_live(t, i) && k->chunk != NPBPF_IDMETA_CHUNK_RETIRED &&
		    hmap_get(&keep, &k->identity, sizeof(k->identity), &dummy))
			err = ms_table_put(&want->idmeta, k, ms_table_value(t, i));
	}
	hmap_free(&keep);
	return err;
}

int ms_number_identities(const struct compiled *cp, const struct ms_state *cur,
			 const struct mapsync_opts *o, struct ms_state *want, struct sync_stats *st)
{
	bool region_lost = false;
	struct numbering nb = { .o = o, .region_lost = &region_lost };
	uint32_t lost = 0, isolated = 0;
	int err;

	hmap_init(&nb.index);
	hmap_init(&nb.xlate);
	err = mark_meta(&nb, cur);
	if (!err)
		err = mark_refs(&nb, cur);
	if (!err)
		err = assign(&nb, cp, cur, want, st, &lost);
	if (!err)
		err = rebuild(&want->gen[MS_G_POLICY][0], &nb, fix_policy);
	if (!err)
		err = rebuild(&want->gen[MS_G_RANGE][0], &nb, fix_range);
	if (!err)
		err = rebuild(&want->gen[MS_G_SUBJECT][0], &nb, fix_subject);
	if (!err)
		err = rebuild(&want->ipc_host, &nb, fix_ipc);
	if (!err)
		err = rebuild(&want->ipc_cidr, &nb, fix_ipc);
	if (!err)
		err = rebuild(&want->endpoint, &nb, fix_endpoint);
	if (!err)
		err = rebuild(&want->idmeta, &nb, fix_idmeta);
	if (!err)
		err = isolate_lost(want, region_lost, &isolated);
	if (!err)
		err = retire(&nb, cur, want, st);
	if (!err && lost) {
		char what[80];

		snprintf(what, sizeof(what), "numbering identities: %u left without a number",
			 lost);
		log_error("sync: %u identities got no number: every pod identity number below %u "
			  "and CIDR one below %u is in use or in quarantine; %u endpoints isolated "
			  "until numbers free up",
			  lost, o->pod_id_limit, o->cidr_id_limit, isolated);
		ms_meta_set_error(&want->meta, -ENOSPC, PIN_N, what);
		want->meta.error_isolated = isolated;
	}
	hmap_free(&nb.index);
	hmap_free(&nb.xlate);
	free(nb.v);
	return err;
}
