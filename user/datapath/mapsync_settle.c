/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync, fail-closed after a failed write (mapsync_exec.c has the order).
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
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mapsync_int.h"
#include "vec.h"

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
int x_reread(struct xc *x)
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
int x_settle(struct xc *x)
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
