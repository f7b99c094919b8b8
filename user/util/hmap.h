/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open-addressing hash map from byte-string keys to a __u32 value. Keys are
 * copied into the map's own storage. Used for identity interning and for the
 * userspace mirrors of the BPF hash maps, so lookups stay O(1) at 100,000
 * entries.
 */
#ifndef NPBPF_HMAP_H
#define NPBPF_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
	uint64_t hash; /* 0 = empty */
	uint32_t key_off;
	uint32_t key_len;
	uint32_t value;
};

struct hmap {
	struct hmap_slot *slots;
	size_t n_slots; /* power of two */
	size_t n_used;
	char *keys; /* all keys, back to back */
	size_t keys_len, keys_cap;
};

void hmap_init(struct hmap *m);
void hmap_free(struct hmap *m);
/* Inserts key -> value unless key is present. Returns 1 when inserted, 0 when
 * present (*existing then holds its value, if non-NULL), -ENOMEM. */
int hmap_insert(struct hmap *m, const void *key, size_t len, uint32_t value, uint32_t *existing);
/* Room for n entries in all (with the load factor under 1/2) and key_bytes
 * bytes of keys in all, so the next inserts up to those totals neither
 * rehash nor move the keys: for maps whose size is known before they are
 * filled. Never shrinks. 0 or -ENOMEM (m unchanged). */
int hmap_reserve(struct hmap *m, size_t n, size_t key_bytes);
/* true and *value when found. */
bool hmap_get(const struct hmap *m, const void *key, size_t len, uint32_t *value);
uint64_t hmap_hash(const void *key, size_t len);

#endif
