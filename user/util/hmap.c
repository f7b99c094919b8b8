/* SPDX-License-Identifier: Apache-2.0 */
#include "hmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void hmap_free(struct hmap *m)
{
	free(m->slots);
	free(m->keys);
	hmap_init(m);
}

/* FNV-1a, then a final mix: keys are short (4 to a few hundred bytes) and
 * this needs no alignment. Never returns 0, which marks an empty slot. */
uint64_t hmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

static struct hmap_slot *find_slot(const struct hmap *m, const void *key, size_t len,
				   uint64_t h)
{
	size_t mask = m->n_slots - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct hmap_slot *s = &m->slots[i];

		if (!s->hash)
			return s;
		if (s->hash == h && s->key_len == len && !memcmp(m->keys + s->key_off, key, len))
			return s;
	}
}

static int grow(struct hmap *m)
{
	size_t n = m->n_slots ? m->n_slots * 2 : 64;
	struct hmap_slot *old = m->slots;
	size_t old_n = m->n_slots;

	m->slots = calloc(n, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -ENOMEM;
	}
	m->n_slots = n;
	for (size_t i = 0; i < old_n; i++) {
		if (old[i].hash)
			*find_slot(m, m->keys + old[i].key_off, old[i].key_len, old[i].hash) = old[i];
	}
	free(old);
	return 0;
}

static int store_key(struct hmap *m, const void *key, size_t len, uint32_t *off)
{
	if (m->keys_len + len > UINT32_MAX)
		return -ENOMEM;
	if (m->keys_len + len > m->keys_cap) {
		size_t cap = m->keys_cap ? m->keys_cap : 1024;
		char *p;

		while (cap < m->keys_len + len)
			cap *= 2;
		p = realloc(m->keys, cap);
		if (!p)
			return -ENOMEM;
		m->keys = p;
		m->keys_cap = cap;
	}
	memcpy(m->keys + m->keys_len, key, len);
	*off = (uint32_t)m->keys_len;
	m->keys_len += len;
	return 0;
}

int hmap_insert(struct hmap *m, const void *key, size_t len, uint32_t value, uint32_t *existing)
{
	uint64_t h = hmap_hash(key, len);
	struct hmap_slot *s;
	uint32_t off;
	int err;

	/* Keep the load factor under 1/2 so probes stay short. */
	if ((m->n_used + 1) * 2 > m->n_slots) {
		err = grow(m);
		if (err)
			return err;
	}
	s = find_slot(m, key, len, h);
	if (s->hash) {
		if (existing)
			*existing = s->value;
		return 0;
	}
	err = store_key(m, key, len, &off);
	if (err)
		return err;
	s->hash = h;
	s->key_off = off;
	s->key_len = (uint32_t)len;
	s->value = value;
	m->n_used++;
	return 1;
}

bool hmap_get(const struct hmap *m, const void *key, size_t len, uint32_t *value)
{
	struct hmap_slot *s;

	if (!m->n_slots)
		return false;
	s = find_slot(m, key, len, hmap_hash(key, len));
	if (!s->hash)
		return false;
	if (value)
		*value = s->value;
	return true;
}
