/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync, the pure half: table images, the desired state, diffs. Identity
 * numbers are in mapsync_ids.c, the ordered execution (and why no packet
 * sees a half-applied state) in mapsync_exec.c.
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

/* ---- Identity metadata. */

static int strbuf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 128;
		char *p;

		while (c < *len + n + 1)
			c *= 2;
		p = realloc(*buf, c);
		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/* "namespace/k=v,k2=v2" for a pod identity, "cidr 198.18.0.0/16" for a CIDR
 * one, "host in cidr 198.18.0.0/16" for the node's addresses in that region.
 * *out is malloc'd. */
static int identity_label(const struct identity *idn, char **out, size_t *out_len)
{
	char *buf = NULL, addr[64];
	size_t len = 0, cap = 0;
	int err = 0;

	if (idn->kind == IDENTITY_CIDR || idn->kind == IDENTITY_HOST) {
		const char *what = idn->kind == IDENTITY_HOST ? "host in cidr " : "cidr ";

		addr_format(&idn->region, addr, sizeof(addr));
		err = strbuf_add(&buf, &len, &cap, what, strlen(what));
		if (!err)
			err = strbuf_add(&buf, &len, &cap, addr, strlen(addr));
	} else {
		const struct np_labels *l = &idn->pod->labels;

		err = strbuf_add(&buf, &len, &cap, idn->pod->ns, strlen(idn->pod->ns));
		if (!err)
			err = strbuf_add(&buf, &len, &cap, "/", 1);
		for (size_t i = 0; !err && i < l->n; i++) {
			if (i)
				err = strbuf_add(&buf, &len, &cap, ",", 1);
			if (!err)
				err = strbuf_add(&buf, &len, &cap, l->v[i].key,
						 strlen(l->v[i].key));
			if (!err)
				err = strbuf_add(&buf, &len, &cap, "=", 1);
			if (!err)
				err = strbuf_add(&buf, &len, &cap, l->v[i].value,
						 strlen(l->v[i].value));
		}
		if (!err && !l->n)
			err = strbuf_add(&buf, &len, &cap, "<no labels>", 11);
	}
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

/* Cuts key bytes + label text into idmeta chunks of identity id. */
static int put_idmeta(struct ms_table *t, uint32_t id, uint8_t kind, const void *key,
		      size_t key_len, const char *label, size_t label_len)
{
	size_t total = key_len + label_len, off = 0;
	uint32_t chunk = 0;

	if (key_len > UINT16_MAX || label_len > UINT16_MAX) {
		log_error("identity %u: key or label longer than %u bytes", id, UINT16_MAX);
		return -ENOSPC;
	}
	do {
		struct npbpf_idmeta_key k = { .identity = id, .chunk = chunk };
		struct npbpf_idmeta v;
		size_t n = total - off < NPBPF_IDMETA_DATA ? total - off : NPBPF_IDMETA_DATA;
		int err;

		memset(&v, 0, sizeof(v));
		v.len = (__u16)n;
		if (!chunk) {
			v.key_len = (__u16)key_len;
			v.label_len = (__u16)label_len;
			v.kind = kind;
		}
		for (size_t i = 0; i < n; i++) {
			size_t at = off + i;

			v.data[i] = at < key_len ? ((const uint8_t *)key)[at]
						 : (uint8_t)label[at - key_len];
		}
		err = ms_table_put(t, &k, &v);
		if (err)
			return err;
		off += n;
		chunk++;
	} while (off < total);
	return 0;
}

int ms_idmeta_decode(const struct ms_table *idmeta, uint32_t id, uint8_t **key,
		     size_t *key_len, char **label)
{
	struct npbpf_idmeta_key k = { .identity = id, .chunk = 0 };
	const struct npbpf_idmeta *v = ms_table_get(idmeta, &k);
	size_t total, off = 0;
	uint8_t *data;

	if (!v)
		return -ENOENT;
	total = (size_t)v->key_len + v->label_len;
	data = malloc(total + 1);
	if (!data)
		return -ENOMEM;
	while (off < total) {
		size_t n;

		k.chunk = (uint32_t)(off / NPBPF_IDMETA_DATA);
		v = ms_table_get(idmeta, &k);
		if (!v || !v->len || v->len > NPBPF_IDMETA_DATA) {
			free(data);
			return -ENOENT;
		}
		n = total - off < v->len ? total - off : v->len;
		memcpy(data + off, v->data, n);
		off += n;
	}
	k.chunk = 0;
	v = ms_table_get(idmeta, &k);
	if (key_len)
		*key_len = v->key_len;
	if (label) {
		*label = malloc((size_t)v->label_len + 1);
		if (!*label) {
			free(data);
			return -ENOMEM;
		}
		memcpy(*label, data + v->key_len, v->label_len);
		(*label)[v->label_len] = '\0';
	}
	if (key)
		*key = data;
	else
		free(data);
	return 0;
}

int mapsync_prior_from_state(const struct ms_state *cur, struct hmap *prior)
{
	const struct ms_table *t = &cur->idmeta;
	int err = 0;

	for (size_t i = 0; !err && i < t->n; i++) {
		const struct npbpf_idmeta_key *k = ms_table_key(t, i);
		uint8_t *key = NULL;
		size_t key_len = 0;

		if (!ms_table_live(t, i) || k->chunk)
			continue;
		err = ms_idmeta_decode(t, k->identity, &key, &key_len, NULL);
		if (err == -ENOENT) {
			/* A torn record: that identity gets a new number. */
			log_warn("identity %u: incomplete pinned metadata, renumbering",
				 k->identity);
			err = 0;
			continue;
		}
		if (!err && key_len)
			err = hmap_insert(prior, key, key_len, k->identity, NULL) < 0 ? -ENOMEM : 0;
		free(key);
	}
	return err;
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

static int name_of(struct npbpf_name *out, const char *ns, const char *name)
{
	int n;

	memset(out, 0, sizeof(*out));
	n = snprintf(out->name, sizeof(out->name), "%s/%s", ns, name);
	if (n < 0 || (size_t)n >= sizeof(out->name)) {
		log_error("%s/%s: name longer than %d bytes", ns, name, NPBPF_NAME_LEN - 1);
		return -ENOSPC;
	}
	return 0;
}

/*
 * Stable policy numbers: a policy keeps the number its name had (from the
 * current names), a new one gets the next never-used number, so counters and
 * entries of unchanged policies stay as they are. On an empty state the
 * numbers are the cluster's policy indexes. Past the last number, numbers no
 * name holds and no entry refers to are handed out again, lowest first: a
 * policy number only says which rule an allow is credited to, never decides
 * a verdict. (With 2^32 numbers and policies created at the pace of people
 * and CI, that is never; the counters of a reused number carry on.)
 */
static uint32_t free_policy_number(const struct ms_state *cur, const struct hmap *by_number,
				   const struct hmap *given, uint32_t limit, uint32_t *from)
{
	for (uint32_t id = *from; id < limit; id++) {
		uint32_t dummy;
		bool used = hmap_get(by_number, &id, sizeof(id), &dummy) ||
			    hmap_get(given, &id, sizeof(id), &dummy);

		for (int g = 0; !used && g < 2; g++) {
			for (int m = MS_G_POLICY; !used && m <= MS_G_RANGE; m++) {
				const struct ms_table *t = &cur->gen[m][g];

				for (size_t i = 0; !used && i < t->n; i++) {
					const struct npbpf_policy_value *v = ms_table_value(t, i);

					used = ms_table_live(t, i) && v->policy == id;
				}
			}
		}
		if (!used) {
			*from = id + 1;
			return id;
		}
	}
	*from = limit;
	return NPBPF_POLICY_HOST;
}

static int number_policies(const struct np_cluster *c, const struct ms_state *cur,
			   const struct mapsync_opts *o, struct ms_state *want, uint32_t *num)
{
	const struct ms_table *names = &cur->polname;
	uint32_t next = cur->meta.next_policy, reuse_from = 0;
	struct hmap by_name, by_number, given;
	int err = 0;

	hmap_init(&by_name);
	hmap_init(&by_number);
	hmap_init(&given);
	for (size_t i = 0; !err && i < names->n; i++) {
		const struct npbpf_name *v = ms_table_value(names, i);
		uint32_t id = *(const uint32_t *)ms_table_key(names, i);

		if (!ms_table_live(names, i))
			continue;
		if (hmap_insert(&by_name, v->name, strnlen(v->name, sizeof(v->name)), id, NULL) < 0)
			err = -ENOMEM;
		if (hmap_insert(&by_number, &id, sizeof(id), 1, NULL) < 0)
			err = -ENOMEM;
		if (id < o->policy_limit && id >= next)
			next = id + 1;
	}
	for (size_t p = 0; !err && p < c->n_policies; p++) {
		struct npbpf_name v;

		err = name_of(&v, c->policies[p].ns, c->policies[p].name);
		if (err)
			break;
		if (!hmap_get(&by_name, v.name, strlen(v.name), &num[p])) {
			if (next < o->policy_limit)
				num[p] = next++;
			else
				num[p] = free_policy_number(cur, &by_number, &given,
							    o->policy_limit, &reuse_from);
			if (num[p] == NPBPF_POLICY_HOST) {
				log_error("out of policy numbers: every number below %u is in use",
					  o->policy_limit);
				err = -ENOSPC;
				break;
			}
		}
		if (hmap_insert(&given, &num[p], sizeof(num[p]), 1, NULL) < 0)
			err = -ENOMEM;
		if (!err)
			err = ms_table_put(&want->polname, &num[p], &v);
	}
	want->meta.next_policy = next;
	hmap_free(&by_name);
	hmap_free(&by_number);
	hmap_free(&given);
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
static int desired_policy(const struct compiled *cp, const uint32_t *num, struct ms_state *want)
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
		struct npbpf_policy_value v = cp->entries[i].value;
		uint32_t subject = cp->entries[i].key.subject, dummy;

		if (!hmap_get(&local, &subject, sizeof(subject), &dummy))
			continue;
		if (v.policy != NPBPF_POLICY_HOST)
			v.policy = num[v.policy];
		err = ms_table_put(&want->gen[MS_G_POLICY][0], &cp->entries[i].key, &v);
	}
	for (size_t i = 0; !err && i < cp->n_ranges; i++) {
		struct npbpf_policy_value v = cp->ranges[i].value;
		uint32_t subject = cp->ranges[i].key.subject, dummy;

		if (!hmap_get(&local, &subject, sizeof(subject), &dummy))
			continue;
		if (v.policy != NPBPF_POLICY_HOST)
			v.policy = num[v.policy];
		err = ms_table_put(&want->gen[MS_G_RANGE][0], &cp->ranges[i].key, &v);
	}
	for (size_t i = 0; !err && i < cp->n_subjects; i++) {
		__u32 id = cp->subjects[i].id;
		uint32_t dummy;

		if (hmap_get(&local, &id, sizeof(id), &dummy))
			err = ms_table_put(&want->gen[MS_G_SUBJECT][0], &id, &cp->subjects[i].s);
	}
	hmap_free(&local);
	return err;
}

static int desired_ipcache(const struct compiled *cp, struct ms_state *want)
{
	int err = 0;

	for (size_t i = 0; !err && i < cp->n_ipcache; i++) {
		const struct np_addr *p = &cp->ipcache[i].prefix;
		struct npbpf_ipc_value v = { .identity = cp->ipcache[i].id };

		/* This node's own addresses are on its segment whatever their
		 * (region's) host identity number. */
		if (cp->ipcache[i].host)
			v.flags |= NPBPF_IPC_ON_LINK | NPBPF_IPC_NODE;
		if (p->plen == (p->family == 4 ? 32 : 128)) {
			struct npbpf_addr k;

			memset(&k, 0, sizeof(k));
			k.family = p->family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
			memcpy(k.addr, p->bytes, p->family == 4 ? 4 : 16);
			err = ms_table_put(&want->ipc_host, &k, &v);
		} else {
			struct npbpf_ipc_key k;

			memset(&k, 0, sizeof(k));
			k.prefixlen = 32u + p->plen;
			k.a.family = p->family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
			memcpy(k.a.addr, p->bytes, p->family == 4 ? 4 : 16);
			err = ms_table_put(&want->ipc_cidr, &k, &v);
		}
	}
	return err;
}

static void endpoint_value(const struct compiled_endpoint *ep, struct npbpf_endpoint *v)
{
	memset(v, 0, sizeof(*v));
	v->identity = ep->id;
	for (size_t a = 0; a < ep->pod->n_addrs; a++) {
		const struct np_addr *addr = &ep->pod->addrs[a];

		if (addr->family == 4 && !(v->flags & NPBPF_EP_HAS_V4)) {
			memcpy(v->addr4, addr->bytes, 4);
			v->flags |= NPBPF_EP_HAS_V4;
		} else if (addr->family == 6 && !(v->flags & NPBPF_EP_HAS_V6)) {
			memcpy(v->addr6, addr->bytes, 16);
			v->flags |= NPBPF_EP_HAS_V6;
		}
	}
}

/* Marks the ipcache entry of an endpoint's address as on this node's
 * segment (NPBPF_IPC_ON_LINK). */
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

static int desired_endpoints(const struct compiled *cp, const struct endpoint_binding *eps,
			     size_t n, struct ms_state *want, uint32_t *skipped)
{
	struct hmap by_name;
	char buf[NPBPF_NAME_LEN];
	int err = 0;

	hmap_init(&by_name);
	for (size_t i = 0; !err && i < cp->n_endpoints; i++) {
		const struct np_pod *pod = cp->endpoints[i].pod;
		int len = snprintf(buf, sizeof(buf), "%s/%s", pod->ns, pod->name);

		if (len > 0 && (size_t)len < sizeof(buf) &&
		    hmap_insert(&by_name, buf, (size_t)len, (uint32_t)i, NULL) < 0)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < n; i++) {
		struct npbpf_endpoint v;
		struct npbpf_name name;
		__u32 key = eps[i].ifindex;
		uint32_t idx;

		if (name_of(&name, eps[i].ns, eps[i].name) ||
		    !hmap_get(&by_name, name.name, strlen(name.name), &idx)) {
			log_info("endpoint %s/%s (ifindex %u): no such pod with an address to "
				 "enforce for; skipped",
				 eps[i].ns, eps[i].name, eps[i].ifindex);
			if (skipped)
				(*skipped)++;
			continue;
		}
		endpoint_value(&cp->endpoints[idx], &v);
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
	hmap_free(&by_name);
	return err;
}

static int desired_idmeta(const struct compiled *cp, struct ms_state *want)
{
	int err = 0;

	for (size_t i = 0; !err && i < cp->n_ids; i++) {
		const struct identity *idn = &cp->ids[i];
		const void *key;
		size_t key_len, label_len;
		char *label;

		if (idn->kind == IDENTITY_RESERVED)
			continue;
		key = compiled_identity_key(cp, idn, &key_len);
		err = identity_label(idn, &label, &label_len);
		if (err)
			break;
		err = put_idmeta(&want->idmeta, idn->id,
				 idn->kind == IDENTITY_POD ? NPBPF_IDMETA_POD : NPBPF_IDMETA_CIDR,
				 key, key_len, label, label_len);
		free(label);
	}
	return err;
}

int mapsync_desired_opts(const struct compiled *cp, const struct endpoint_binding *eps,
			 size_t n, const struct ms_state *cur, const struct mapsync_opts *opts,
			 struct ms_state *want, struct sync_stats *st)
{
	size_t n_pol = cp->cluster->n_policies;
	struct mapsync_opts o;
	uint32_t *num, skipped = 0;
	int err;

	ms_opts_resolve(opts, &o);
	num = calloc(n_pol ? n_pol : 1, sizeof(*num));
	if (!num)
		return -ENOMEM;
	want->config = cur->config;
	want->meta = cur->meta;
	want->meta.layout = NPBPF_LAYOUT_VERSION;
	ms_meta_clear_error(&want->meta);
	err = number_policies(cp->cluster, cur, &o, want, num);
	if (!err)
		err = desired_ipcache(cp, want);
	if (!err)
		err = desired_endpoints(cp, eps, n, want, &skipped);
	if (!err)
		err = desired_policy(cp, num, want);
	if (!err)
		err = desired_idmeta(cp, want);
	/* Everything above speaks the compile's numbers; from here the pinned
	 * ones. */
	if (!err)
		err = ms_number_identities(cp, cur, &o, want, st);
	if (st)
		st->endpoints_skipped = skipped;
	free(num);
	return err;
}

int mapsync_desired(const struct compiled *cp, const struct endpoint_binding *eps, size_t n,
		    const struct ms_state *cur, struct ms_state *want, uint32_t *skipped)
{
	struct sync_stats st;
	int err;

	memset(&st, 0, sizeof(st));
	err = mapsync_desired_opts(cp, eps, n, cur, NULL, want, &st);
	if (skipped)
		*skipped = st.endpoints_skipped;
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
