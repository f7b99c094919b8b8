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

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/* Keys are 4 to a few hundred bytes. Short ones: FNV-1a, then a final mix.
 * Longer ones (identity keys carry labels; byte at a time they were a tenth
 * of a compile): 8 bytes at a time (unaligned reads through memcpy),
 * murmur3-style rounds, then murmur3's final mix. Never returns 0, which
 * marks an empty slot. Values live in this process only. */
uint64_t hmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h;
	size_t n = len;

	if (len < 24) {
		/* Short keys (numbers, addresses, map keys): FNV-1a's chain
		 * is shorter than the rounds below. */
		h = 1469598103934665603ull;
		for (size_t i = 0; i < len; i++) {
			h ^= p[i];
			h *= 1099511628211ull;
		}
		h ^= h >> 33;
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
		return h ? h : 1;
	}
	h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)len * 0xff51afd7ed558ccdull);
	while (n >= 8) {
		uint64_t k;

		memcpy(&k, p, 8);
		k *= 0x87c37b91114253d5ull;
		k = rotl64(k, 31);
		k *= 0x4cf5ad432745937full;
		h ^= k;
		h = rotl64(h, 27) * 5 + 0x52dce729;
		p += 8;
		n -= 8;
	}
	if (n) {
		/* The last 1-7 bytes, without a memcpy call of variable size. */
		uint64_t k = 0;

		if (n >= 4) {
			uint32_t lo, hi;

			memcpy(&lo, p, 4);
			memcpy(&hi, p + n - 4, 4); /* overlaps lo when n < 8 */
			k = (uint64_t)lo | (uint64_t)hi << 32;
		} else {
			k = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
		}
		k *= 0x87c37b91114253d5ull;
		k = rotl64(k, 31);
		k *= 0x4cf5ad432745937full;
		h ^= k;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
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

/* Rehashes into n slots (a power of two, more than twice n_used). */
static int rehash(struct hmap *m, size_t n)
{
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

static int grow(struct hmap *m)
{
	return rehash(m, m->n_slots ? m->n_slots * 2 : 64);
}

int hmap_reserve(struct hmap *m, size_t n, size_t key_bytes)
{
	size_t slots = m->n_slots ? m->n_slots : 64;

	if (n > SIZE_MAX / 4)
		return -ENOMEM;
	while (n * 2 > slots)
		slots *= 2;
	if (slots > m->n_slots) {
		int err = rehash(m, slots);

		if (err)
			return err;
	}
	if (key_bytes > m->keys_cap) {
		char *p;

		if (key_bytes > UINT32_MAX)
			return -ENOMEM;
		p = realloc(m->keys, key_bytes);
		if (!p)
			return -ENOMEM;
		m->keys = p;
		m->keys_cap = key_bytes;
	}
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
