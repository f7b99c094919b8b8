/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync, the pure half: table images, the desired state, diffs. The
 * desired state is the compile's tables as they are (their numbers are
 * final, see numbering.h), filtered to this node's subjects and joined with
 * the bindings. Identity records and the numbering input read back from a
 * state are in mapsync_ids.c, the ordered execution (and why no packet sees
 * a half-applied state) in mapsync_exec.c.
 */
#include "mapsync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mapsync_int.h"
#include "vec.h"

/* ---- Tables. */

void ms_table_init(struct ms_table *t, uint32_t key_size, uint32_t value_size)
{
	memset(t, 0, sizeof(*t));
	t->key_size = key_size;
	t->value_size = value_size;
	hmap_init(&t->index);
}

void ms_table_free(struct ms_table *t)
{
	if (!t)
		return;
	free(t->keys);
	free(t->values);
	free(t->dead);
	hmap_free(&t->index);
	ms_table_init(t, t->key_size, t->value_size);
}

static int table_grow(struct ms_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	uint8_t *p;

	p = realloc(t->keys, cap * t->key_size);
	if (!p)
		return -ENOMEM;
	t->keys = p;
	p = realloc(t->values, cap * (t->value_size ? t->value_size : 1));
	if (!p)
		return -ENOMEM;
	t->values = p;
	if (t->dead) {
		p = realloc(t->dead, cap);
		if (!p)
			return -ENOMEM;
		memset(p + t->cap, 0, cap - t->cap);
		t->dead = p;
	}
	t->cap = cap;
	return 0;
}

int ms_table_reserve(struct ms_table *t, size_t n)
{
	int err;

	if (n > t->cap) {
		size_t old = t->cap;
		uint8_t *p;

		p = realloc(t->keys, n * t->key_size);
		if (!p)
			return -ENOMEM;
		t->keys = p;
		p = realloc(t->values, n * (t->value_size ? t->value_size : 1));
		if (!p)
			return -ENOMEM;
		t->values = p;
		if (t->dead) {
			p = realloc(t->dead, n);
			if (!p)
				return -ENOMEM;
			memset(p + old, 0, n - old);
			t->dead = p;
		}
		t->cap = n;
	}
	err = hmap_reserve(&t->index, n, n * t->key_size);
	return err;
}

int ms_table_put(struct ms_table *t, const void *key, const void *value)
{
	uint32_t pos;
	int ret;

	if (hmap_get(&t->index, key, t->key_size, &pos)) {
		memcpy(t->values + (size_t)pos * t->value_size, value, t->value_size);
		if (t->dead && t->dead[pos]) {
			t->dead[pos] = 0;
			t->n_dead--;
		}
		return 0;
	}
	if (t->n == t->cap && table_grow(t))
		return -ENOMEM;
	ret = hmap_insert(&t->index, key, t->key_size, (uint32_t)t->n, NULL);
	if (ret < 0)
		return ret;
	memcpy(t->keys + t->n * t->key_size, key, t->key_size);
	memcpy(t->values + t->n * t->value_size, value, t->value_size);
	t->n++;
	return 0;
}

static bool table_find(const struct ms_table *t, const void *key, uint32_t *pos)
{
	return hmap_get(&t->index, key, t->key_size, pos) && ms_table_live(t, *pos);
}

const void *ms_table_get(const struct ms_table *t, const void *key)
{
	uint32_t pos;

	return table_find(t, key, &pos) ? ms_table_value(t, pos) : NULL;
}

int ms_table_del(struct ms_table *t, const void *key)
{
	uint32_t pos;

	if (!table_find(t, key, &pos))
		return 0;
	if (!t->dead) {
		t->dead = calloc(t->cap ? t->cap : 1, 1);
		if (!t->dead)
			return -ENOMEM;
	}
	t->dead[pos] = 1;
	t->n_dead++;
	return 1;
}

size_t ms_table_count(const struct ms_table *t)
{
	return t->n - t->n_dead;
}

int ms_table_copy(struct ms_table *dst, const struct ms_table *src)
{
	int err = 0;

	ms_table_init(dst, src->key_size, src->value_size);
	for (size_t i = 0; !err && i < src->n; i++) {
		if (ms_table_live(src, i))
			err = ms_table_put(dst, ms_table_key(src, i), ms_table_value(src, i));
	}
	if (err)
		ms_table_free(dst);
	return err;
}

/* ---- State. */

static const uint32_t gmap_key_size[MS_N_GMAPS] = {
	sizeof(struct npbpf_policy_key),
	sizeof(struct npbpf_range_key),
	sizeof(__u32),
};
static const uint32_t gmap_value_size[MS_N_GMAPS] = {
	sizeof(struct npbpf_policy_value),
	sizeof(struct npbpf_policy_value),
	sizeof(struct npbpf_subject),
};
static const enum pin_map gmap_pin[MS_N_GMAPS] = { PIN_POLICY, PIN_RANGE, PIN_SUBJECT };

int ms_gmap_of(enum pin_map m)
{
	for (int g = 0; g < MS_N_GMAPS; g++) {
		if (gmap_pin[g] == m)
			return g;
	}
	return -1;
}

void ms_state_init(struct ms_state *s)
{
	memset(s, 0, sizeof(*s));
	for (int g = 0; g < MS_N_GMAPS; g++) {
		for (int gen = 0; gen < 2; gen++)
			ms_table_init(&s->gen[g][gen], gmap_key_size[g], gmap_value_size[g]);
	}
	ms_table_init(&s->ipc_host, sizeof(struct npbpf_addr), sizeof(struct npbpf_ipc_value));
	ms_table_init(&s->ipc_cidr, sizeof(struct npbpf_ipc_key), sizeof(struct npbpf_ipc_value));
	ms_table_init(&s->endpoint, sizeof(__u32), sizeof(struct npbpf_endpoint));
	ms_table_init(&s->idmeta, sizeof(struct npbpf_idmeta_key), sizeof(struct npbpf_idmeta));
	ms_table_init(&s->polname, sizeof(__u32), sizeof(struct npbpf_name));
	ms_table_init(&s->epmeta, sizeof(__u32), sizeof(struct npbpf_name));
}

struct ms_table *ms_state_table(struct ms_state *s, enum pin_map m, int gen)
{
	int g = ms_gmap_of(m);

	if (g >= 0)
		return &s->gen[g][gen & 1];
	switch (m) {
	case PIN_IPC_HOST:
		return &s->ipc_host;
	case PIN_IPC_CIDR:
		return &s->ipc_cidr;
	case PIN_ENDPOINT:
		return &s->endpoint;
	case PIN_IDMETA:
		return &s->idmeta;
	case PIN_POLNAME:
		return &s->polname;
	case PIN_EPMETA:
		return &s->epmeta;
	default:
		return NULL;
	}
}

/* The maps sync manages, in one list for loops over all of them. */
static const enum pin_map synced_maps[] = {
	PIN_POLICY, PIN_RANGE,  PIN_SUBJECT, PIN_IPC_HOST, PIN_IPC_CIDR,
	PIN_ENDPOINT, PIN_IDMETA, PIN_POLNAME, PIN_EPMETA,
};
#define N_SYNCED (sizeof(synced_maps) / sizeof(synced_maps[0]))

void ms_state_free(struct ms_state *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < N_SYNCED; i++) {
		for (int gen = 0; gen < 2; gen++) {
			if (gen && ms_gmap_of(synced_maps[i]) < 0)
				continue;
			ms_table_free(ms_state_table(s, synced_maps[i], gen));
		}
	}
}

int ms_state_copy(struct ms_state *dst, const struct ms_state *src)
{
	struct ms_state *s = (struct ms_state *)src; /* ms_state_table does not write */
	int err = 0;

	ms_state_init(dst);
	dst->config = src->config;
	dst->meta = src->meta;
	dst->settled = src->settled;
	for (size_t i = 0; !err && i < N_SYNCED; i++) {
		for (int gen = 0; !err && gen < 2; gen++) {
			if (gen && ms_gmap_of(synced_maps[i]) < 0)
				continue;
			err = ms_table_copy(ms_state_table(dst, synced_maps[i], gen),
					    ms_state_table(s, synced_maps[i], gen));
		}
	}
	if (err)
		ms_state_free(dst);
	return err;
}

/* Entries of a missing from b or different there. */
static size_t table_missing(const struct ms_table *a, const struct ms_table *b)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n; i++) {
		const void *v;

		if (!ms_table_live(a, i))
			continue;
		v = ms_table_get(b, ms_table_key(a, i));
		n += !v || memcmp(v, ms_table_value(a, i), a->value_size);
	}
	return n;
}

size_t ms_state_differences(const struct ms_state *a, const struct ms_state *b)
{
	struct ms_state *sa = (struct ms_state *)a, *sb = (struct ms_state *)b; /* not written */
	size_t n = memcmp(&a->config, &b->config, sizeof(a->config)) != 0;

	for (size_t i = 0; i < N_SYNCED; i++) {
		for (int gen = 0; gen < 2; gen++) {
			const struct ms_table *ta, *tb;

			if (gen && ms_gmap_of(synced_maps[i]) < 0)
				continue;
			ta = ms_state_table(sa, synced_maps[i], gen);
			tb = ms_state_table(sb, synced_maps[i], gen);
			/* Changed entries count once: from a's side. */
			n += table_missing(ta, tb);
			for (size_t j = 0; j < tb->n; j++)
				n += ms_table_live(tb, j) && !ms_table_get(ta, ms_table_key(tb, j));
		}
	}
	return n;
}

int ms_state_compact(struct ms_state *s)
{
	for (size_t i = 0; i < N_SYNCED; i++) {
		for (int gen = 0; gen < 2; gen++) {
			struct ms_table *t, fresh;
			int err;

			if (gen && ms_gmap_of(synced_maps[i]) < 0)
				continue;
			t = ms_state_table(s, synced_maps[i], gen);
			/* Rebuilt once the dead outnumber a quarter of the live:
			 * amortised, a put or delete stays O(1). */
			if (t->n_dead < 64 || t->n_dead * 4 < t->n - t->n_dead)
				continue;
			err = ms_table_copy(&fresh, t);
			if (err)
				return err;
			ms_table_free(t);
			*t = fresh;
		}
	}
	return 0;
}

/* pin_specs lives with the kernel half; the pure half needs the names only. */
const char *ms_map_name(enum pin_map m)
{
	static const char *const names[PIN_N] = {
		[PIN_POLICY] = NPBPF_MAP_POLICY,     [PIN_RANGE] = NPBPF_MAP_RANGE,
		[PIN_SUBJECT] = NPBPF_MAP_SUBJECT,   [PIN_IPC_HOST] = NPBPF_MAP_IPC_HOST,
		[PIN_IPC_CIDR] = NPBPF_MAP_IPC_CIDR, [PIN_ENDPOINT] = NPBPF_MAP_ENDPOINT,
		[PIN_CT] = NPBPF_MAP_CT,             [PIN_FRAG] = NPBPF_MAP_FRAG,
		[PIN_COUNTERS] = NPBPF_MAP_COUNTERS, [PIN_FIXCNT] = NPBPF_MAP_FIXCNT,
		[PIN_EVENTS] = NPBPF_MAP_EVENTS,     [PIN_CONFIG] = NPBPF_MAP_CONFIG,
		[PIN_PENDING] = NPBPF_MAP_PENDING,   [PIN_SEGMENT] = NPBPF_MAP_SEGMENT,
		[PIN_META] = NPBPF_MAP_META,         [PIN_IDMETA] = NPBPF_MAP_IDMETA,
		[PIN_POLNAME] = NPBPF_MAP_POLNAME,   [PIN_EPMETA] = NPBPF_MAP_EPMETA,
	};

	return m < PIN_N && names[m] ? names[m] : "";
}

void ms_meta_set_error(struct npbpf_meta *meta, int err, enum pin_map map, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	meta->error_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	meta->error = err;
	memset(meta->error_map, 0, sizeof(meta->error_map));
	if (map < PIN_N)
		snprintf(meta->error_map, sizeof(meta->error_map), "%s", ms_map_name(map));
	snprintf(meta->error_what, sizeof(meta->error_what), "%s", what);
}

void ms_meta_clear_error(struct npbpf_meta *meta)
{
	meta->error_ns = 0;
	meta->error = 0;
	meta->error_isolated = 0;
	memset(meta->error_map, 0, sizeof(meta->error_map));
	memset(meta->error_what, 0, sizeof(meta->error_what));
}

/* ---- Desired state. */

/* "ns/name", NUL-padded. Without printf: a sync names every policy. */
static int name_of(struct npbpf_name *out, const char *ns, const char *name)
{
	size_t a = strlen(ns), b = strlen(name);

	memset(out, 0, sizeof(*out));
	if (a + 1 + b >= sizeof(out->name)) {
		log_error("%s/%s: name longer than %d bytes", ns, name, NPBPF_NAME_LEN - 1);
		return -ENOSPC;
	}
	memcpy(out->name, ns, a);
	out->name[a] = '/';
	memcpy(out->name + a + 1, name, b);
	return 0;
}

/* The compile's policy numbers, by name, for status and the next compile. */
static int desired_polname(const struct compiled *cp, struct ms_state *want)
{
	const struct np_cluster *c = cp->cluster;
	int err = 0;

	for (size_t p = 0; !err && p < c->n_policies; p++) {
		struct npbpf_name v;

		err = name_of(&v, c->policies[p].ns, c->policies[p].name);
		if (!err)
			err = ms_table_put(&want->polname, &cp->numbering.policy[p], &v);
	}
	return err;
}

/*
 * Policy, range and subject entries, for the subjects of this node's
 * endpoints only: every packet the datapath judges has a local pod as its
 * subject (its egress on its own veth, its ingress on its own veth), so what
 * the other nodes' pods may do is their nodes' business, and the maps grow
 * with the pods of this node, not of the cluster. The ipcache stays whole:
 * peers are anywhere. Call after desired_endpoints.
 */
static int desired_policy(const struct compiled *cp, struct ms_state *want)
{
	struct ms_table *eps = &want->endpoint;
	struct hmap local;
	int err = 0;

	hmap_init(&local);
	for (size_t i = 0; !err && i < eps->n; i++) {
		const struct npbpf_endpoint *ep = ms_table_value(eps, i);

		if (hmap_insert(&local, &ep->identity, sizeof(ep->identity), 0, NULL) < 0)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < cp->n_entries; i++) {
		const struct compiled_entry *e = &cp->entries[i];

		if (hmap_get(&local, &e->key.subject, sizeof(e->key.subject), NULL))
			err = ms_table_put(&want->gen[MS_G_POLICY][0], &e->key, &e->value);
	}
	for (size_t i = 0; !err && i < cp->n_ranges; i++) {
		const struct compiled_range *r = &cp->ranges[i];

		if (hmap_get(&local, &r->key.subject, sizeof(r->key.subject), NULL))
			err = ms_table_put(&want->gen[MS_G_RANGE][0], &r->key, &r->value);
	}
	for (size_t i = 0; !err && i < cp->n_subjects; i++) {
		const struct compiled_subject *s = &cp->subjects[i];

		if (hmap_get(&local, &s->id, sizeof(s->id), NULL))
			err = ms_table_put(&want->gen[MS_G_SUBJECT][0], &s->id, &s->s);
	}
	hmap_free(&local);
	return err;
}

static int desired_ipcache(const struct compiled *cp, struct ms_state *want)
{
	const struct identities *idt = &cp->idn;
	int err = 0;

	for (size_t i = 0; !err && i < idt->n_ipc_host; i++)
		err = ms_table_put(&want->ipc_host, &idt->ipc_host[i].key, &idt->ipc_host[i].value);
	for (size_t i = 0; !err && i < idt->n_ipc_cidr; i++)
		err = ms_table_put(&want->ipc_cidr, &idt->ipc_cidr[i].key, &idt->ipc_cidr[i].value);
	return err;
}

/* Marks the ipcache entry of an endpoint's address as on this node's
 * segment (NPBPF_IPC_ON_LINK): which pods are bound here is the bindings'
 * word, not the compile's. */
static int mark_on_link(struct ms_state *want, __u8 family, const __u8 *addr)
{
	const struct npbpf_ipc_value *cur;
	struct npbpf_ipc_value v;
	struct npbpf_addr k;

	memset(&k, 0, sizeof(k));
	k.family = family;
	memcpy(k.addr, addr, family == NPBPF_FAMILY_V4 ? 4 : 16);
	cur = ms_table_get(&want->ipc_host, &k);
	if (!cur)
		return 0;
	v = *cur;
	v.flags |= NPBPF_IPC_ON_LINK;
	return ms_table_put(&want->ipc_host, &k, &v);
}

/* The compiled endpoint of pod ns/name, or -1. The endpoints are in the
 * cluster's order (sorted by namespace and name), so a binding costs two
 * binary searches, not an index of every pod of the cluster. */
static long endpoint_of(const struct compiled *cp, const char *ns, const char *name)
{
	const struct np_pod *pod = cluster_find_pod(cp->cluster, ns, name);
	size_t lo = 0, hi = cp->n_endpoints;

	while (pod && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp->endpoints[mid].pod == pod)
			return (long)mid;
		if (cp->endpoints[mid].pod < pod)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Not where the order says: look at each (a cluster not sorted). */
	for (size_t i = 0; i < cp->n_endpoints; i++) {
		const struct np_pod *p = cp->endpoints[i].pod;

		if (!strcmp(p->ns, ns) && !strcmp(p->name, name))
			return (long)i;
	}
	return -1;
}

static int desired_endpoints(const struct compiled *cp, const struct endpoint_binding *eps,
			     size_t n, struct ms_state *want, uint32_t *skipped)
{
	int err = 0;

	for (size_t i = 0; !err && i < n; i++) {
		struct npbpf_endpoint v;
		struct npbpf_name name;
		__u32 key = eps[i].ifindex;
		long idx = -1;

		if (name_of(&name, eps[i].ns, eps[i].name) ||
		    (idx = endpoint_of(cp, eps[i].ns, eps[i].name)) < 0) {
			log_info("endpoint %s/%s (ifindex %u): no such pod with an address to "
				 "enforce for; skipped",
				 eps[i].ns, eps[i].name, eps[i].ifindex);
			(*skipped)++;
			continue;
		}
		v = cp->endpoints[idx].value;
		if (eps[i].has_mac) {
			memcpy(v.mac, eps[i].mac, sizeof(v.mac));
			v.flags |= NPBPF_EP_HAS_MAC;
		}
		err = ms_table_put(&want->endpoint, &key, &v);
		if (!err)
			err = ms_table_put(&want->epmeta, &key, &name);
		if (!err && (v.flags & NPBPF_EP_HAS_V4))
			err = mark_on_link(want, NPBPF_FAMILY_V4, v.addr4);
		if (!err && (v.flags & NPBPF_EP_HAS_V6))
			err = mark_on_link(want, NPBPF_FAMILY_V6, v.addr6);
	}
	return err;
}

/* Only over the state it was numbered against does a compile keep its
 * promises: a number it hands out as new may be one this state holds in
 * quarantine, and the numbers it retires are this state's. */
static int check_numbered_against(const struct compiled *cp, const struct ms_state *cur,
				  const struct numbering_prior *known)
{
	struct numbering_prior prior;
	int err = 0;

	numbering_prior_init(&prior);
	if (!known)
		err = ms_numbering_read(cur, &prior, false);
	if (!err && numbering_prior_digest(known ? known : &prior) != cp->numbering.prior_digest) {
		log_error("sync: the compile was numbered against another state of the maps; "
			  "compile again with the numbers the maps hold (mapsync_load_numbering)");
		err = -ESTALE;
	}
	numbering_prior_free(&prior);
	return err;
}

/* Identities the compile left without a number: their pods are judged by
 * MAPSYNC_ID_ISOLATED. The sync goes on and fails with ENOSPC. */
static void note_lost(const struct compiled *cp, struct ms_state *want)
{
	const struct numbering *nb = &cp->numbering;
	const struct ms_table *t = &want->endpoint;
	uint32_t isolated = 0;
	char what[80];

	for (size_t i = 0; i < t->n; i++) {
		const struct npbpf_endpoint *v = ms_table_value(t, i);

		isolated += ms_table_live(t, i) && v->identity == MAPSYNC_ID_ISOLATED;
	}
	snprintf(what, sizeof(what), "numbering identities: %u left without a number", nb->lost);
	log_error("sync: %u identities got no number: every pod identity number below %u "
		  "and CIDR one below %u is in use or in quarantine; %u endpoints isolated "
		  "until numbers free up",
		  nb->lost, nb->o.pod_limit, nb->o.cidr_limit, isolated);
	ms_meta_set_error(&want->meta, -ENOSPC, PIN_N, what);
	want->meta.error_isolated = isolated;
}

/* The desired images sized as the current ones (a little more): a sync
 * follows the last with few changes, and growing them step by step rehashed
 * every index several times per sync. */
static int reserve_like(struct ms_state *want, const struct ms_state *cur)
{
	int err = 0;

	for (size_t i = 0; !err && i < N_SYNCED; i++) {
		const struct ms_table *c = ms_state_table((struct ms_state *)cur, synced_maps[i], 0);
		struct ms_table *w = ms_state_table(want, synced_maps[i], 0);
		size_t n = ms_table_count(c);

		if (ms_gmap_of(synced_maps[i]) >= 0) {
			size_t n1 = ms_table_count(
				ms_state_table((struct ms_state *)cur, synced_maps[i], 1));

			n = n1 > n ? n1 : n;
		}
		if (n)
			err = ms_table_reserve(w, n + n / 16 + 16);
	}
	return err;
}

int mapsync_desired(const struct compiled *cp, const struct endpoint_binding *eps, size_t n,
		    const struct ms_state *cur, struct ms_state *want, struct sync_stats *st)
{
	return mapsync_desired_prior(cp, eps, n, cur, NULL, want, st);
}

int mapsync_desired_prior(const struct compiled *cp, const struct endpoint_binding *eps,
			  size_t n, const struct ms_state *cur, const struct numbering_prior *prior,
			  struct ms_state *want, struct sync_stats *st)
{
	const struct numbering *nb = &cp->numbering;
	uint32_t skipped = 0;
	int err;

	err = check_numbered_against(cp, cur, prior);
	if (!err)
		err = reserve_like(want, cur);
	if (err)
		return err;
	want->config = cur->config;
	want->meta = cur->meta;
	want->meta.layout = NPBPF_LAYOUT_VERSION;
	want->meta.next_pod_id = nb->next_pod_id;
	want->meta.next_cidr_id = nb->next_cidr_id;
	want->meta.next_policy = nb->next_policy;
	ms_meta_clear_error(&want->meta);
	err = desired_polname(cp, want);
	if (!err)
		err = desired_ipcache(cp, want);
	if (!err)
		err = desired_endpoints(cp, eps, n, want, &skipped);
	if (!err)
		err = desired_policy(cp, want);
	if (!err)
		err = ms_desired_idmeta(cp, cur, want);
	if (!err && nb->lost)
		note_lost(cp, want);
	if (st) {
		st->endpoints_skipped = skipped;
		st->ids_new = nb->ids_new;
		st->ids_reused = nb->ids_reused;
		st->ids_retired = nb->ids_retired;
		st->ids_expired = nb->ids_expired;
	}
	return err;
}

/* ---- Diff. */

void ms_diff_free(struct ms_diff *d)
{
	if (!d)
		return;
	free(d->add);
	free(d->update);
	free(d->del);
	memset(d, 0, sizeof(*d));
}

static int push_pos(uint32_t **v, size_t *n, size_t *cap, size_t pos)
{
	uint32_t *slot = VEC_PUSH(*v, *n, *cap);

	if (!slot)
		return -ENOMEM;
	*slot = (uint32_t)pos;
	return 0;
}

int ms_diff_tables(const struct ms_table *want, const struct ms_table *have, struct ms_diff *d)
{
	size_t cap_add = 0, cap_update = 0, cap_del = 0;
	int err = 0;

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; !err && i < want->n; i++) {
		const void *hv;

		if (!ms_table_live(want, i))
			continue;
		hv = ms_table_get(have, ms_table_key(want, i));
		if (!hv)
			err = push_pos(&d->add, &d->n_add, &cap_add, i);
		else if (memcmp(hv, ms_table_value(want, i), want->value_size))
			err = push_pos(&d->update, &d->n_update, &cap_update, i);
	}
	for (size_t i = 0; !err && i < have->n; i++) {
		if (ms_table_live(have, i) && !ms_table_get(want, ms_table_key(have, i)))
			err = push_pos(&d->del, &d->n_del, &cap_del, i);
	}
	if (err)
		ms_diff_free(d);
	return err;
}
