/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync, the writes: every write goes through the backend and, once it
 * succeeded, into a mirror of what the maps hold (struct xc), with the
 * counts; the first error is noted. Also the helpers the steps share:
 * batches of operations, a table or a generation brought to a target, the
 * config write, the grace-period wait, records written in place, staging
 * numbers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapsync_int.h"

uint64_t sync_stats_policy_writes(const struct sync_stats *st)
{
	uint64_t n = 0;

	for (int g = 0; g < MS_N_GMAPS; g++) {
		const struct sync_counts *c = &st->maps[ms_gmap_pin[g]];

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

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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
void note_error(struct xc *x, int err, enum pin_map m)
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
int x_write(struct xc *x, enum pin_map m, int gen, const uint8_t *keys, const uint8_t *values,
	    size_t n, enum op_kind kind)
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

void ops_init(struct ops *p, const struct ms_table *t)
{
	memset(p, 0, sizeof(*p));
	p->ks = t->key_size;
	p->vs = t->value_size;
}

void ops_free(struct ops *p)
{
	free(p->keys);
	free(p->values);
	p->keys = p->values = NULL;
	p->n = 0;
}

int ops_push(struct ops *p, const void *key, const void *value)
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
int x_sync_table(struct xc *x, enum pin_map m, int gen, const struct ms_table *want, unsigned kinds,
		 bool (*skip)(struct xc *, const void *key))
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
bool gen_is(struct xc *x, int gen, const struct ms_table *const g[MS_N_GMAPS])
{
	for (int i = 0; i < MS_N_GMAPS; i++) {
		if (!tables_equal(&x->k.gen[i][gen], g[i]))
			return false;
	}
	return true;
}

/* Generation gen of the mirror to the tables g, map by map: deletes first,
 * so a full map makes room before it takes new entries. */
int x_sync_gen(struct xc *x, int gen, const struct ms_table *const g[MS_N_GMAPS])
{
	int err = 0;

	for (int i = 0; !err && i < MS_N_GMAPS; i++)
		err = x_sync_table(x, ms_gmap_pin[i], gen, g[i],
				   1u << OP_DEL | 1u << OP_UPDATE | 1u << OP_ADD, NULL);
	return err;
}

int x_config(struct xc *x, bool flip)
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

int x_wait(struct xc *x)
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
int x_put_records(struct xc *x, int gen, uint32_t t, const struct recs *src, uint32_t s,
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
			*ms_key_subject(ms_gmap_pin[g], key) = t;
			err = ops_push(&put[g], key, value);
		}
	}
	for (int g = 0; !err && g < MS_N_GMAPS; g++)
		err = x_write(x, ms_gmap_pin[g], gen, del[g].keys, NULL, del[g].n, OP_DEL);
	for (int g = 0; !err && g < MS_N_GMAPS; g++)
		err = x_write(x, ms_gmap_pin[g], gen, put[g].keys, put[g].values, put[g].n, OP_ADD);
	for (int g = 0; g < MS_N_GMAPS; g++) {
		ops_free(&del[g]);
		ops_free(&put[g]);
	}
	return err;
}

/* Endpoint ifindex -> value, written one batch per call. */
int x_endpoints(struct xc *x, struct ops *eps, enum op_kind kind)
{
	return x_write(x, PIN_ENDPOINT, 0, eps->keys, eps->values, eps->n, kind);
}

/* How many endpoints of the mirror use subject number id. */
uint32_t users(struct xc *x, uint32_t id)
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
uint32_t stage_alloc(struct xc *x)
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
void label_stage(struct xc *x, uint32_t s, uint32_t id)
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
