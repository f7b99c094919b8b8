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
 *  4. The inactive generation is made equal to the desired policy (plus the
 *     staging numbers): stale entries deleted, changed ones updated, new ones
 *     added. No packet reads this generation. Before writing it we wait one
 *     RCU grace period (a crash may have left it live moments ago).
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
 * Capacity. The live and the new generation share each map: the flip needs
 * |live| + |new| entries (plus the pods prepared in place). When that does
 * not fit, steps 3 to 5 become a switch pod by pod ("per pod"): the inactive
 * generation is emptied, and in batches that fit, each pod whose records
 * change gets its new records in place under a number no endpoint uses (its
 * identity or a staging number), moves there, and after a grace period its
 * old records are deleted, freeing room for the next batch. Each pod is then
 * switched atomically, not all at once; the maps need room for the live
 * policy plus the biggest pod's records instead of twice the policy.
 *
 * Failure. When a write that packets depend on fails (steps 1 to 8), the
 * maps are read back, and each pod is pointed at records it may keep: its
 * current ones or its identity's if they are at least as strict as its new
 * policy (isolated wherever the new policy isolates, no entry the new
 * policy lacks; with ipcache entries that could not be written, also no
 * entry that could match a wrongly resolved peer), else MAPSYNC_ID_ISOLATED,
 * whose record (isolated both ways, no entry) is written in place first. No
 * new generation goes live. The revision is bumped so conntrack re-checks.
 * A failed write marks its map broken for the next round (an endpoint that
 * cannot be updated is deleted; without the isolated record, pods are
 * deleted too: a veth without endpoint drops everything). The first error
 * is returned and recorded in the meta record; the next sync starts over
 * from what the maps hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mapsync_int.h"
#include "vec.h"

static const enum pin_map gmap_pin[MS_N_GMAPS] = { PIN_POLICY, PIN_RANGE, PIN_SUBJECT };

uint64_t sync_stats_policy_writes(const struct sync_stats *st)
{
	uint64_t n = 0;

	for (int g = 0; g < MS_N_GMAPS; g++) {
		const struct sync_counts *c = &st->maps[gmap_pin[g]];

		n += (uint64_t)c->add + c->update + c->del;
	}
	return n;
}

uint64_t sync_stats_writes(const struct sync_stats *st)
{
	uint64_t n = st->config_writes;

	for (int m = 0; m < PIN_N; m++)
		n += (uint64_t)st->maps[m].add + st->maps[m].update + st->maps[m].del;
	return n;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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

/* ---- Records by subject. */

/* The records of one subject in one generation image: positions in its
 * policy and range tables, and in the subject table (-1: none). */
struct rec {
	uint32_t subject;
	int64_t subj;
	uint32_t *pos[2]; /* [MS_G_POLICY], [MS_G_RANGE] */
	size_t n[2], cap[2];
};

struct recs {
	const struct ms_table *t[MS_N_GMAPS];
	struct hmap idx; /* subject -> index in v */
	struct rec *v;
	size_t n, cap;
};

static void recs_free(struct recs *r)
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
static int recs_build(struct recs *r, const struct ms_state *s, int gen)
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
			e = recs_slot(r, *ms_key_subject(gmap_pin[g], (void *)ms_table_key(t, i)));
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

static const struct rec *recs_get(const struct recs *r, uint32_t subject)
{
	uint32_t idx;

	return hmap_get(&r->idx, &subject, sizeof(subject), &idx) ? &r->v[idx] : NULL;
}

static const struct npbpf_subject *rec_subject(const struct recs *r, const struct rec *e)
{
	return e && e->subj >= 0 ? ms_table_value(r->t[MS_G_SUBJECT], (size_t)e->subj) : NULL;
}

/* The value of entry pos of table g of ra, looked up in rb under subject b. */
static const void *counterpart(const struct recs *ra, int g, uint32_t pos, const struct recs *rb,
			       uint32_t b)
{
	uint8_t key[32];

	memcpy(key, ms_table_key(ra->t[g], pos), ra->t[g]->key_size);
	*ms_key_subject(gmap_pin[g], key) = b;
	return ms_table_get(rb->t[g], key);
}

static bool recs_equal(const struct recs *ra, uint32_t a, const struct recs *rb, uint32_t b)
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

/* A wrongly resolved peer: packets from some address are seen as identity y
 * where the desired state says x. */
struct stray {
	__u32 y, x;
};

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
static bool recs_stricter(const struct recs *ra, uint32_t a, const struct recs *rb, uint32_t b,
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
				*ms_key_subject(gmap_pin[g], k2) = b;
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

/* ---- Writing, with a mirror of what the maps hold. */

enum op_kind { OP_ADD, OP_UPDATE, OP_DEL };

struct xc {
	const struct ms_backend *be;
	const struct ms_state *want;
	const struct ms_state *cur; /* at the start of the sync */
	struct sync_stats *st;
	struct ms_state k; /* what the maps hold, as far as we know */
	int live;
	bool per_pod, flipped, names_failed;
	uint32_t broken;      /* bit per enum pin_map: a write failed */
	uint32_t ep_failures; /* failed endpoint writes */
	enum pin_map unfit;   /* per pod: the map some pod's records did not fit */
	const char *step;
	uint8_t *kbuf;
	size_t kcap;
	uint32_t next_stage; /* staging numbers: the next one to look at */
	struct hmap staged;  /* staging numbers handed out in this sync -> 1 */
};

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 256;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*buf, c);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = c;
	return 0;
}

static bool names_map(enum pin_map m)
{
	return m == PIN_IDMETA || m == PIN_POLNAME || m == PIN_EPMETA;
}

/* The first error is the one reported, except that one packets depend on
 * outranks a names map's. */
static void note_error(struct xc *x, int err, enum pin_map m)
{
	if (m < PIN_N)
		x->broken |= 1u << m;
	if (m == PIN_ENDPOINT)
		x->ep_failures++;
	if (x->st->err && (!names_map(x->st->err_map) || names_map(m)))
		return;
	x->st->err = err;
	x->st->err_map = m;
	snprintf(x->st->err_what, sizeof(x->st->err_what), "%s", x->step);
}

/* One backend call: n entries of map m (keys without the generation bit,
 * back to back; values for updates), generation gen for a generational map.
 * On success the mirror and the counts follow. */
static int x_write(struct xc *x, enum pin_map m, int gen, const uint8_t *keys,
		   const uint8_t *values, size_t n, enum op_kind kind)
{
	struct ms_table *t = ms_state_table(&x->k, m, gen);
	struct sync_counts *c = &x->st->maps[m];
	size_t ks = t->key_size, vs = t->value_size;
	int err = 0;

	if (!n)
		return 0;
	if (reserve(&x->kbuf, &x->kcap, n * ks))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		__u32 *subject;

		memcpy(x->kbuf + i * ks, keys + i * ks, ks);
		subject = ms_key_subject(m, x->kbuf + i * ks);
		if (subject)
			*subject = NPBPF_SUBJECT_KEY(*subject, gen);
	}
	if (kind == OP_DEL)
		err = x->be->del(x->be->ctx, m, x->kbuf, n);
	else
		err = x->be->update(x->be->ctx, m, x->kbuf, values, n);
	if (err) {
		note_error(x, err, m);
		return err;
	}
	for (size_t i = 0; !err && i < n; i++) {
		if (kind == OP_DEL)
			err = ms_table_del(t, keys + i * ks) < 0 ? -ENOMEM : 0;
		else
			err = ms_table_put(t, keys + i * ks, values + i * vs);
	}
	if (kind == OP_ADD)
		c->add += (uint32_t)n;
	else if (kind == OP_UPDATE)
		c->update += (uint32_t)n;
	else
		c->del += (uint32_t)n;
	return err;
}

/* A batch of operations on one map, built before it is written. */
struct ops {
	uint8_t *keys, *values;
	size_t n, cap_k, cap_v;
	uint32_t ks, vs;
};

static void ops_init(struct ops *p, const struct ms_table *t)
{
	memset(p, 0, sizeof(*p));
	p->ks = t->key_size;
	p->vs = t->value_size;
}

static void ops_free(struct ops *p)
{
	free(p->keys);
	free(p->values);
	p->keys = p->values = NULL;
	p->n = 0;
}

static int ops_push(struct ops *p, const void *key, const void *value)
{
	if (reserve(&p->keys, &p->cap_k, (p->n + 1) * p->ks) ||
	    reserve(&p->values, &p->cap_v, (p->n + 1) * (p->vs ? p->vs : 1)))
		return -ENOMEM;
	memcpy(p->keys + p->n * p->ks, key, p->ks);
	if (value)
		memcpy(p->values + p->n * p->vs, value, p->vs);
	p->n++;
	return 0;
}

/* Brings table (m, gen) of the mirror to want for the kinds asked (bits of
 * 1 << enum op_kind): deletes, then updates, then adds. skip, when given,
 * spares keys from deletion. */
static int x_sync_table(struct xc *x, enum pin_map m, int gen, const struct ms_table *want,
			unsigned kinds, bool (*skip)(struct xc *, const void *key))
{
	struct ms_table *have = ms_state_table(&x->k, m, gen);
	struct ops del, upd, add;
	int err = 0;

	ops_init(&del, have);
	ops_init(&upd, have);
	ops_init(&add, have);
	for (size_t i = 0; !err && (kinds & (1u << OP_DEL)) && i < have->n; i++) {
		const void *key = ms_table_key(have, i);

		if (ms_table_live(have, i) && !ms_table_get(want, key) && !(skip && skip(x, key)))
			err = ops_push(&del, key, NULL);
	}
	for (size_t i = 0; !err && i < want->n; i++) {
		const void *key = ms_table_key(want, i), *hv;

		if (!ms_table_live(want, i))
			continue;
		hv = ms_table_get(have, key);
		if (!hv && (kinds & (1u << OP_ADD)))
			err = ops_push(&add, key, ms_table_value(want, i));
		else if (hv && (kinds & (1u << OP_UPDATE)) &&
			 memcmp(hv, ms_table_value(want, i), want->value_size))
			err = ops_push(&upd, key, ms_table_value(want, i));
	}
	if (!err)
		err = x_write(x, m, gen, del.keys, NULL, del.n, OP_DEL);
	if (!err)
		err = x_write(x, m, gen, upd.keys, upd.values, upd.n, OP_UPDATE);
	if (!err)
		err = x_write(x, m, gen, add.keys, add.values, add.n, OP_ADD);
	ops_free(&del);
	ops_free(&upd);
	ops_free(&add);
	return err;
}

static bool tables_equal(const struct ms_table *a, const struct ms_table *b)
{
	if (ms_table_count(a) != ms_table_count(b))
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const void *v;

		if (!ms_table_live(a, i))
			continue;
		v = ms_table_get(b, ms_table_key(a, i));
		if (!v || memcmp(v, ms_table_value(a, i), a->value_size))
			return false;
	}
	return true;
}

/* Whether generation gen of the mirror equals the tables g (one per
 * generational map). */
static bool gen_is(struct xc *x, int gen, const struct ms_table *const g[MS_N_GMAPS])
{
	for (int i = 0; i < MS_N_GMAPS; i++) {
		if (!tables_equal(&x->k.gen[i][gen], g[i]))
			return false;
	}
	return true;
}

/* Generation gen of the mirror to the tables g, map by map: deletes first,
 * so a full map makes room before it takes new entries. */
static int x_sync_gen(struct xc *x, int gen, const struct ms_table *const g[MS_N_GMAPS])
{
	int err = 0;

	for (int i = 0; !err && i < MS_N_GMAPS; i++)
		err = x_sync_table(x, gmap_pin[i], gen, g[i],
				   1u << OP_DEL | 1u << OP_UPDATE | 1u << OP_ADD, NULL);
	return err;
}

/* The desired generation's tables. */
static void want_gen(const struct ms_state *w, const struct ms_table *g[MS_N_GMAPS])
{
	for (int i = 0; i < MS_N_GMAPS; i++)
		g[i] = &w->gen[i][0];
}

static int x_config(struct xc *x, bool flip)
{
	struct npbpf_config next = x->k.config;
	__u32 key = 0;
	int err;

	next.revision++;
	if (flip)
		next.generation = (__u32)!x->live;
	err = x->be->update(x->be->ctx, PIN_CONFIG, &key, &next, 1);
	if (err) {
		note_error(x, err, PIN_CONFIG);
		return err;
	}
	x->k.config = next;
	x->st->config_writes++;
	if (flip) {
		x->live = !x->live;
		x->flipped = true;
	}
	return 0;
}

static int x_wait(struct xc *x)
{
	double t0 = now_ms();
	int err = x->be->wait(x->be->ctx);

	x->st->wait_ms += now_ms() - t0;
	if (err)
		note_error(x, err, PIN_N);
	return err;
}

/*
 * Makes the records of subject t in generation gen of the mirror those of
 * subject s in src (re-keyed to t), or none when src is NULL. Only for a t no
 * endpoint refers to when gen is live: no packet reads them. have indexes
 * generation gen of the mirror (built since t's records last changed; other
 * subjects' writes do not matter: positions stay).
 */
static int x_put_records(struct xc *x, int gen, uint32_t t, const struct recs *src, uint32_t s,
			 const struct recs *have)
{
	const struct rec *eh = recs_get(have, t), *es = src ? recs_get(src, s) : NULL;
	struct ops del[MS_N_GMAPS], put[MS_N_GMAPS];
	int err = 0;

	for (int g = 0; g < MS_N_GMAPS; g++) {
		ops_init(&del[g], have->t[g]);
		ops_init(&put[g], have->t[g]);
	}
	for (int g = 0; !err && g < MS_N_GMAPS; g++) {
		size_t n_have = g == MS_G_SUBJECT ? (eh && eh->subj >= 0) : (eh ? eh->n[g] : 0);
		size_t n_src = g == MS_G_SUBJECT ? (es && es->subj >= 0) : (es ? es->n[g] : 0);

		for (size_t i = 0; !err && i < n_have; i++) {
			uint32_t pos = g == MS_G_SUBJECT ? (uint32_t)eh->subj : eh->pos[g][i];

			if (!src || !counterpart(have, g, pos, src, s))
				err = ops_push(&del[g], ms_table_key(have->t[g], pos), NULL);
		}
		for (size_t i = 0; !err && i < n_src; i++) {
			uint32_t pos = g == MS_G_SUBJECT ? (uint32_t)es->subj : es->pos[g][i];
			const void *value = ms_table_value(src->t[g], pos);
			const void *hv = counterpart(src, g, pos, have, t);
			uint8_t key[32];

			if (hv && !memcmp(hv, value, src->t[g]->value_size))
				continue;
			memcpy(key, ms_table_key(src->t[g], pos), src->t[g]->key_size);
			*ms_key_subject(gmap_pin[g], key) = t;
			err = ops_push(&put[g], key, value);
		}
	}
	for (int g = 0; !err && g < MS_N_GMAPS; g++)
		err = x_write(x, gmap_pin[g], gen, del[g].keys, NULL, del[g].n, OP_DEL);
	for (int g = 0; !err && g < MS_N_GMAPS; g++)
		err = x_write(x, gmap_pin[g], gen, put[g].keys, put[g].values, put[g].n, OP_ADD);
	for (int g = 0; g < MS_N_GMAPS; g++) {
		ops_free(&del[g]);
		ops_free(&put[g]);
	}
	return err;
}

/* Endpoint ifindex -> value, written one batch per call. */
static int x_endpoints(struct xc *x, struct ops *eps, enum op_kind kind)
{
	return x_write(x, PIN_ENDPOINT, 0, eps->keys, eps->values, eps->n, kind);
}

/* How many endpoints of the mirror use subject number id. */
static uint32_t users(struct xc *x, uint32_t id)
{
	const struct ms_table *t = &x->k.endpoint;
	uint32_t n = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct npbpf_endpoint *v = ms_table_value(t, i);

		n += ms_table_live(t, i) && v->identity == id;
	}
	return n;
}

/* A staging number no endpoint uses and not handed out in this sync, or 0. */
static uint32_t stage_alloc(struct xc *x)
{
	for (uint32_t i = 0; i < MAPSYNC_N_STAGE; i++) {
		uint32_t id = MAPSYNC_ID_STAGE_FIRST + (x->next_stage + i) % MAPSYNC_N_STAGE, dummy;

		if (hmap_get(&x->staged, &id, sizeof(id), &dummy) || users(x, id))
			continue;
		if (hmap_insert(&x->staged, &id, sizeof(id), 1, NULL) < 0)
			return 0;
		x->next_stage = (id - MAPSYNC_ID_STAGE_FIRST + 1) % MAPSYNC_N_STAGE;
		return id;
	}
	return 0;
}

/* An idmeta label for a staging number, so status names the pods on it
 * after the identity whose records they have (a names write: failures do
 * not stop the sync). */
static void label_stage(struct xc *x, uint32_t s, uint32_t id)
{
	struct npbpf_idmeta_key k = { .identity = s };
	struct npbpf_idmeta v;
	const char *step = x->step;
	char *label = NULL;
	int n;

	memset(&v, 0, sizeof(v));
	v.kind = NPBPF_IDMETA_POD;
	if (ms_idmeta_decode(&x->want->idmeta, id, NULL, NULL, &label))
		label = NULL;
	n = snprintf((char *)v.data, sizeof(v.data), "%s", label ? label : "");
	v.len = v.label_len = (__u16)(n < 0			   ? 0
				      : (size_t)n < sizeof(v.data) ? (size_t)n
								   : sizeof(v.data) - 1);
	free(label);
	x->step = "labelling a staging number";
	if (x_write(x, PIN_IDMETA, 0, (const uint8_t *)&k, (const uint8_t *)&v, 1, OP_ADD))
		x->names_failed = true;
	x->step = step;
}

/* ---- The steps. */

static void endpoint_with(const struct npbpf_endpoint *w, uint32_t id, struct npbpf_endpoint *out)
{
	*out = *w;
	out->identity = id;
}

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

/* A pod that changes subject number, planned in step 3. */
struct move {
	uint32_t ifindex, from, to; /* to: its identity, or a staging number */
	const struct npbpf_endpoint *w;
};

struct plan {
	struct move *v;
	size_t n, cap;
	struct ms_table gen[MS_N_GMAPS]; /* the new generation, staging numbers included */
	size_t prep[MS_N_GMAPS];	 /* entries written in place before it */
};

static void plan_free(struct plan *p)
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
			*ms_key_subject(gmap_pin[g], key) = s;
			err = ms_table_put(&p->gen[g], key, ms_table_value(rw->t[g], pos));
		}
	}
	return err;
}

/* Step 3, planned: who moves where, what is written in place, and the new
 * generation. */
static int plan_moves(struct xc *x, struct plan *p)
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
static bool plan_fits(struct xc *x, const struct plan *p)
{
	for (int g = 0; g < MS_N_GMAPS; g++) {
		uint32_t cap = x->be->cap[gmap_pin[g]];
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
static int x_generations(struct xc *x, struct plan *p)
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
	ops_free(&eps);
	if (err)
		return err;

	/* Step 4: the inactive generation. */
	if (!gen_is(x, !x->live, gen)) {
		x->step = "writing the new policy generation";
		err = x_wait(x);
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

/* ---- Per pod (the flip does not fit). */

/* Records of the live generation no endpoint uses, after a grace period:
 * versions pods moved away from, pods gone. Numbers whose live records are
 * already some pod's new ones stay for the pods still to come. */
static int x_drop_unused(struct xc *x)
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
	uint32_t cap = x->be->cap[gmap_pin[g]];
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
static int x_per_pod(struct xc *x, bool *stuck)
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
		err = x_sync_table(x, gmap_pin[g], !x->live, &empty, 1u << OP_DEL, NULL);
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
					x->unfit = gmap_pin[g];
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

/* ---- Fail-closed. */

/* An address's identity in an ipcache image: exact entry, else the longest
 * prefix, else world. */
static __u32 resolve(const struct ms_state *s, const struct npbpf_addr *a, int max_plen)
{
	const struct npbpf_ipc_value *v;
	int bits = a->family == NPBPF_FAMILY_V4 ? 32 : 128;

	if (max_plen >= bits) {
		v = ms_table_get(&s->ipc_host, a);
		if (v)
			return v->identity;
		max_plen = bits;
	}
	for (int plen = max_plen; plen >= 0; plen--) {
		struct npbpf_ipc_key k;

		memset(&k, 0, sizeof(k));
		k.prefixlen = 32u + (uint32_t)plen;
		k.a.family = a->family;
		for (int b = 0; b < plen; b++)
			k.a.addr[b / 8] |= a->addr[b / 8] & (uint8_t)(0x80u >> (b % 8));
		v = ms_table_get(&s->ipc_cidr, &k);
		if (v)
			return v->identity;
	}
	return NPBPF_ID_WORLD;
}

static int push_stray(struct stray **v, size_t *n, size_t *cap, __u32 y, __u32 x)
{
	struct stray *s;

	if (y == x)
		return 0;
	for (size_t i = 0; i < *n; i++) {
		if ((*v)[i].y == y && (*v)[i].x == x)
			return 0;
	}
	s = VEC_PUSH(*v, *n, *cap);
	if (!s)
		return -ENOMEM;
	s->y = y;
	s->x = x;
	return 0;
}

/* Whether both tables hold key with the same value: then the addresses it
 * decides resolve alike in both. */
static bool same_entry(const struct ms_table *a, const struct ms_table *b, const void *key)
{
	const void *va = ms_table_get(a, key), *vb = ms_table_get(b, key);

	return va && vb && !memcmp(va, vb, a->value_size);
}

/* Where the ipcache the maps hold (k) resolves an address differently from
 * the desired one: every exact entry of either, and every prefix of either
 * (as the addresses it covers that no longer prefix does). */
static int find_strays(const struct ms_state *k, const struct ms_state *w, struct stray **v,
		       size_t *n)
{
	const struct ms_state *src[2] = { k, w };
	size_t cap = 0;
	int err = 0;

	for (int s = 0; s < 2; s++) {
		const struct ms_table *h = &src[s]->ipc_host, *c = &src[s]->ipc_cidr;

		for (size_t i = 0; !err && i < h->n; i++) {
			const struct npbpf_addr *a = ms_table_key(h, i);

			if (ms_table_live(h, i) && !same_entry(&k->ipc_host, &w->ipc_host, a))
				err = push_stray(v, n, &cap, resolve(k, a, 128),
						 resolve(w, a, 128));
		}
		for (size_t i = 0; !err && i < c->n; i++) {
			const struct npbpf_ipc_key *key = ms_table_key(c, i);
			int plen = (int)key->prefixlen - 32;

			if (ms_table_live(c, i) && !same_entry(&k->ipc_cidr, &w->ipc_cidr, key))
				err = push_stray(v, n, &cap, resolve(k, &key->a, plen),
						 resolve(w, &key->a, plen));
		}
	}
	return err;
}

/* One round of x_settle: every pod on records it may keep, or isolated. */
static int settle_round(struct xc *x, uint32_t *isolated)
{
	const struct ms_table *we = &x->want->endpoint;
	bool ep_broken = x->broken & (1u << PIN_ENDPOINT);
	struct stray *strays = NULL;
	size_t n_strays = 0;
	struct ops del, upd_iso, upd, add;
	struct recs rl, rw;
	__u32 iso_key = MAPSYNC_ID_ISOLATED;
	bool need_iso = false, have_iso;
	int err;

	*isolated = 0;
	if (x->broken & (1u << PIN_IPC_HOST | 1u << PIN_IPC_CIDR))
		err = find_strays(&x->k, x->want, &strays, &n_strays);
	else
		err = 0;
	if (!err)
		err = recs_build(&rl, &x->k, x->live);
	if (!err && (err = recs_build(&rw, x->want, 0)))
		recs_free(&rl);
	if (err) {
		free(strays);
		return err;
	}
	have_iso = !!ms_table_get(&x->k.gen[MS_G_SUBJECT][x->live], &iso_key);
	ops_init(&del, &x->k.endpoint);
	ops_init(&upd_iso, &x->k.endpoint);
	ops_init(&upd, &x->k.endpoint);
	ops_init(&add, &x->k.endpoint);
	for (size_t i = 0; !err && i < x->k.endpoint.n; i++) {
		const void *key = ms_table_key(&x->k.endpoint, i);

		if (ms_table_live(&x->k.endpoint, i) && !ms_table_get(we, key))
			err = ops_push(&del, key, NULL);
	}
	for (size_t i = 0; !err && i < we->n; i++) {
		const struct npbpf_endpoint *w = ms_table_value(we, i), *h;
		uint32_t ifindex = *(const uint32_t *)ms_table_key(we, i), to;
		struct npbpf_endpoint v;

		if (!ms_table_live(we, i))
			continue;
		h = ms_table_get(&x->k.endpoint, &ifindex);
		/* Exactly the new records first, then stricter ones, its current
		 * number before its identity (no write), isolation last. */
		if (h && !n_strays && recs_equal(&rl, h->identity, &rw, w->identity))
			to = h->identity;
		else if (!n_strays && recs_equal(&rl, w->identity, &rw, w->identity))
			to = w->identity;
		else if (h && h->identity != MAPSYNC_ID_ISOLATED &&
			 recs_stricter(&rl, h->identity, &rw, w->identity, strays, n_strays))
			to = h->identity;
		else if (recs_stricter(&rl, w->identity, &rw, w->identity, strays, n_strays))
			to = w->identity;
		else
			to = MAPSYNC_ID_ISOLATED;
		need_iso |= to == MAPSYNC_ID_ISOLATED;
		*isolated += to == MAPSYNC_ID_ISOLATED;
		endpoint_with(w, to, &v);
		if (to == MAPSYNC_ID_ISOLATED && (!have_iso && (x->broken & (1u << PIN_SUBJECT)))) {
			/* No record to point at: no endpoint at all drops too. */
			if (h)
				err = ops_push(&del, &ifindex, NULL);
		} else if (x->ep_failures > 1) {
			/* Updates fail too: a pod that cannot stay goes. */
			if (h && h->identity != to)
				err = ops_push(&del, &ifindex, NULL);
		} else if (!h) {
			if (!ep_broken) /* a full map: new pods stay out (dropped) */
				err = ops_push(&add, &ifindex, &v);
		} else if (memcmp(h, &v, sizeof(v))) {
			err = ops_push(to == MAPSYNC_ID_ISOLATED ? &upd_iso : &upd, &ifindex, &v);
		}
	}
	recs_free(&rl);
	recs_free(&rw);
	free(strays);
	if (!err && need_iso && !have_iso && !(x->broken & (1u << PIN_SUBJECT))) {
		struct npbpf_subject s = ms_isolated_subject();

		x->step = "writing the isolated record in place";
		err = x_write(x, PIN_SUBJECT, x->live, (const uint8_t *)&iso_key,
			      (const uint8_t *)&s, 1, OP_ADD);
	}
	x->step = "isolating pods whose new policy could not be written";
	if (!err)
		err = x_endpoints(x, &del, OP_DEL);
	if (!err)
		err = x_endpoints(x, &upd_iso, OP_UPDATE);
	x->step = "moving pods to records they may keep";
	if (!err)
		err = x_endpoints(x, &upd, OP_UPDATE);
	if (!err)
		err = x_endpoints(x, &add, OP_ADD);
	ops_free(&del);
	ops_free(&upd_iso);
	ops_free(&upd);
	ops_free(&add);
	x->step = "updating the ipcache after a failure";
	if (!err && !(x->broken & (1u << PIN_IPC_HOST)))
		err = x_sync_table(x, PIN_IPC_HOST, 0, &x->want->ipc_host,
				   1u << OP_ADD | 1u << OP_UPDATE | 1u << OP_DEL, NULL);
	if (!err && !(x->broken & (1u << PIN_IPC_CIDR)))
		err = x_sync_table(x, PIN_IPC_CIDR, 0, &x->want->ipc_cidr,
				   1u << OP_ADD | 1u << OP_UPDATE | 1u << OP_DEL, NULL);
	x->step = "bumping the revision after a failure";
	if (!err && !(x->broken & (1u << PIN_CONFIG)))
		err = x_config(x, false);
	return err;
}

/* Reads the maps back into the mirror. */
static int x_reread(struct xc *x)
{
	struct ms_state s;
	int err;

	if (!x->be->read)
		return -EOPNOTSUPP;

	ms_state_init(&s);
	err = x->be->read(x->be->ctx, &s);
	if (err) {
		ms_state_free(&s);
		return err;
	}
	ms_state_free(&x->k);
	x->k = s;
	x->live = (int)(x->k.config.generation & 1);
	return 0;
}

/*
 * After a failed write: from what the maps hold, every pod onto records it
 * may keep or isolated, no generation flipped. A round that fails marks its
 * map broken and the next one works around it; the ipcache entries that
 * could not be written then count as strays. Returns 0 when the maps were
 * left fail-closed, else the last error.
 */
static int x_settle(struct xc *x)
{
	int err = 0;

	for (int round = 0; round < 5; round++) {
		uint32_t isolated = 0;

		err = x_reread(x);
		if (err) {
			log_error("sync: reading the maps back after a failure: %s",
				  strerror(-err));
			return err;
		}
		err = settle_round(x, &isolated);
		if (!err) {
			x->st->isolated = isolated;
			return 0;
		}
	}
	return err;
}

/* ---- The whole sync. */

/* Whether a second copy of the live generation fits in each map: else the
 * old generation is left empty, and the next sync writes a whole one or
 * switches per pod. */
static bool copy_fits(struct xc *x)
{
	for (int g = 0; g < MS_N_GMAPS; g++) {
		uint32_t cap = x->be->cap[gmap_pin[g]];

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
		meta.failed_syncs = x->cur->meta.failed_syncs + 1;
	} else {
		ms_meta_clear_error(&meta);
	}
	meta.syncs = x->cur->meta.syncs;
	meta.last_sync_ns = x->cur->meta.last_sync_ns;
	if (sync_stats_writes(x->st)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		meta.syncs++;
		meta.last_sync_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	}
	if (!sync_stats_writes(x->st) && !x->st->err && !x->cur->meta.error &&
	    !memcmp(&meta, &x->cur->meta, sizeof(meta)))
		return err;
	ret = x->be->update(x->be->ctx, PIN_META, &key, &meta, 1);
	if (ret && !err) {
		x->step = "writing the meta record";
		note_error(x, ret, PIN_META);
		err = ret;
	}
	return err;
}

static bool full(int err)
{
	return err == -E2BIG || err == -ENOSPC || err == -ENOMEM;
}

int mapsync_execute(const struct ms_state *want, const struct ms_state *cur,
		    const struct ms_backend *be, struct sync_stats *st)
{
	struct xc x = { .be = be, .want = want, .cur = cur, .st = st };
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
	err = ms_state_copy(&x.k, cur);
	if (err)
		goto out_free;
	x.live = (int)(cur->config.generation & 1);

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
	st->flipped = x.flipped;
	st->per_pod = x.per_pod;
	st->generation = x.k.config.generation;
	st->revision = x.k.config.revision;
	st->write_ms = now_ms() - t0;
	plan_free(&plan);
	hmap_free(&x.staged);
	ms_state_free(&x.k);
	free(x.kbuf);
	return err;
}
