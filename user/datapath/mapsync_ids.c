/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity numbers in the pinned maps. The engine assigns them (numbering.h)
 * against what the maps hold; this file is both ends of that in the maps:
 *  - reading: the numbering input of a state (mapsync_numbering_from_state):
 *    the keys in npbpf_idmeta with their numbers, the quarantine markers,
 *    every number a map the datapath reads refers to, the policy names and
 *    the policy numbers entries credit, the high-water marks in npbpf_meta;
 *  - writing: the identity records of a compile (ms_desired_idmeta): key and
 *    label of every numbered identity, and for each number the compile
 *    retired its records as they are plus a marker saying since when
 *    (NPBPF_IDMETA_CHUNK_RETIRED). A number the compile let expire is left
 *    out, so its records go with the names no longer used.
 * Records of the sync's own numbers (staging labels) are the execution's
 * business (mapsync_exec.c), not the numbering's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mapsync_int.h"

/* ---- Identity records: key bytes + label, cut into chunks. */

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

/* ---- Reading: the numbering input of a state. */

/* What npbpf_idmeta says: keys (a torn record's number is held all the
 * same: its key gets a new number, the number goes through quarantine) and
 * quarantine markers. A marker of another kind holds its number with
 * nothing known about it. */
static int prior_records(const struct ms_state *cur, struct numbering_prior *p, bool warn)
{
	const struct ms_table *t = &cur->idmeta;
	int err = 0;

	for (size_t i = 0; !err && i < t->n; i++) {
		const struct npbpf_idmeta_key *k = ms_table_key(t, i);
		const struct npbpf_idmeta *v = ms_table_value(t, i);
		uint8_t *key = NULL;
		size_t key_len = 0;
		uint64_t when;

		if (!ms_table_live(t, i))
			continue;
		if (k->chunk == NPBPF_IDMETA_CHUNK_RETIRED) {
			bool marker = v->kind == NPBPF_IDMETA_RETIRED;

			memcpy(&when, v->data, sizeof(when));
			err = numbering_prior_hold(p, k->identity, marker ? NUMBER_RETIRED : 0,
						   when);
			continue;
		}
		if (k->chunk) {
			err = numbering_prior_hold(p, k->identity, NUMBER_NAMED, 0);
			continue;
		}
		err = ms_idmeta_decode(t, k->identity, &key, &key_len, NULL);
		if (err == -ENOENT) {
			if (warn)
				log_warn("identity %u: incomplete pinned metadata, renumbering",
					 k->identity);
			err = numbering_prior_hold(p, k->identity, NUMBER_NAMED, 0);
		} else if (!err) {
			err = key_len ? numbering_prior_key(p, key, key_len, k->identity)
				      : numbering_prior_hold(p, k->identity, NUMBER_NAMED, 0);
		}
		free(key);
	}
	return err;
}

static int hold_ref(struct numbering_prior *p, uint32_t id)
{
	return numbering_prior_hold(p, id, NUMBER_REFERENCED, 0);
}

static int prior_ipcache_refs(const struct ms_table *t, struct numbering_prior *p)
{
	int err = 0;

	for (size_t i = 0; !err && i < t->n; i++) {
		const struct npbpf_ipc_value *v = ms_table_value(t, i);

		if (ms_table_live(t, i))
			err = hold_ref(p, v->identity);
	}
	return err;
}

/* The subject, the peer and the policy of every entry of a policy or range
 * table (m). */
static int prior_entry_refs(const struct ms_table *t, enum pin_map m, struct numbering_prior *p)
{
	int err = 0;

	for (size_t i = 0; !err && i < t->n; i++) {
		const void *k = ms_table_key(t, i);
		const struct npbpf_policy_value *v = ms_table_value(t, i);
		__u32 peer = m == PIN_POLICY ? ((const struct npbpf_policy_key *)k)->peer
					     : ((const struct npbpf_range_key *)k)->peer;

		if (!ms_table_live(t, i))
			continue;
		err = hold_ref(p, *ms_key_subject(m, (void *)k));
		if (!err)
			err = hold_ref(p, peer);
		if (!err)
			err = numbering_prior_policy_ref(p, v->policy);
	}
	return err;
}

/* Every number a map the datapath reads refers to, in both generations, and
 * the policy numbers entries credit. */
static int prior_refs(const struct ms_state *cur, struct numbering_prior *p)
{
	int err = 0;

	for (int gen = 0; !err && gen < 2; gen++) {
		const struct ms_table *st = &cur->gen[MS_G_SUBJECT][gen];

		err = prior_entry_refs(&cur->gen[MS_G_POLICY][gen], PIN_POLICY, p);
		if (!err)
			err = prior_entry_refs(&cur->gen[MS_G_RANGE][gen], PIN_RANGE, p);
		for (size_t i = 0; !err && i < st->n; i++) {
			if (ms_table_live(st, i))
				err = hold_ref(p, *(const __u32 *)ms_table_key(st, i));
		}
	}
	if (!err)
		err = prior_ipcache_refs(&cur->ipc_host, p);
	if (!err)
		err = prior_ipcache_refs(&cur->ipc_cidr, p);
	for (size_t i = 0; !err && i < cur->endpoint.n; i++) {
		const struct npbpf_endpoint *v = ms_table_value(&cur->endpoint, i);

		if (ms_table_live(&cur->endpoint, i))
			err = hold_ref(p, v->identity);
	}
	return err;
}

int ms_numbering_read(const struct ms_state *cur, struct numbering_prior *prior, bool warn)
{
	const struct ms_table *names = &cur->polname;
	int err;

	prior->next_pod_id = cur->meta.next_pod_id;
	prior->next_cidr_id = cur->meta.next_cidr_id;
	prior->next_policy = cur->meta.next_policy;
	err = prior_records(cur, prior, warn);
	if (!err)
		err = prior_refs(cur, prior);
	for (size_t i = 0; !err && i < names->n; i++) {
		const struct npbpf_name *v = ms_table_value(names, i);

		if (ms_table_live(names, i))
			err = numbering_prior_policy(prior, v->name,
						     strnlen(v->name, sizeof(v->name)),
						     *(const uint32_t *)ms_table_key(names, i));
	}
	return err;
}

int mapsync_numbering_from_state(const struct ms_state *cur, struct numbering_prior *prior)
{
	return ms_numbering_read(cur, prior, true);
}

/* ---- Writing: the records of a compile's numbers. */

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

/* Numbers in quarantine: their records stay as cur has them (status names
 * them; a key that comes back is found), with a marker saying since when. */
static int keep_retired(const struct compiled *cp, const struct ms_state *cur,
			struct ms_state *want)
{
	const struct ms_table *t = &cur->idmeta;
	struct hmap keep; /* number -> 1: copy its records */
	int err = 0;

	hmap_init(&keep);
	for (size_t i = 0; !err && i < cp->numbering.n_retired; i++) {
		const struct numbering_retired *r = &cp->numbering.retired[i];

		err = put_marker(&want->idmeta, r->id, r->since_ns);
		if (!err && hmap_insert(&keep, &r->id, sizeof(r->id), 1, NULL) < 0)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < t->n; i++) {
		const struct npbpf_idmeta_key *k = ms_table_key(t, i);

		if (ms_table_live(t, i) && k->chunk != NPBPF_IDMETA_CHUNK_RETIRED &&
		    hmap_get(&keep, &k->identity, sizeof(k->identity), NULL))
			err = ms_table_put(&want->idmeta, k, ms_table_value(t, i));
	}
	hmap_free(&keep);
	return err;
}

int ms_desired_idmeta(const struct compiled *cp, const struct ms_state *cur, struct ms_state *want)
{
	const struct identities *idt = &cp->idn;
	int err = 0;

	for (size_t i = 0; !err && i < idt->n_ids; i++) {
		const struct identity *idn = &idt->ids[i];
		const void *key;
		size_t key_len, label_len;
		char *label;

		if (idn->kind == IDENTITY_RESERVED || idn->id == NUMBER_NONE)
			continue;
		key = identity_key(idt, idn, &key_len);
		err = identity_label(idn, &label, &label_len);
		if (err)
			break;
		err = put_idmeta(&want->idmeta, idn->id,
				 idn->kind == IDENTITY_POD ? NPBPF_IDMETA_POD : NPBPF_IDMETA_CIDR,
				 key, key_len, label, label_len);
		free(label);
	}
	return err ? err : keep_retired(cp, cur, want);
}
