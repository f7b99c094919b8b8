/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync: brings the pinned maps to what a compile says, with no packet
 * ever seeing a half-applied policy. Two halves:
 *  - pure (mapsync.c, no kernel): the desired tables from a struct compiled,
 *    the diff against the current map contents, and the ordered execution of
 *    that diff through a backend (a table of write callbacks), so the order
 *    is unit-tested against an in-memory fake;
 *  - kernel (mapsync_apply.c): reading the maps into memory, the backend that
 *    writes them with bpf(2), and mapsync_apply() tying it together.
 * The order and why it is safe are at the top of mapsync.c.
 */
#ifndef NPBPF_MAPSYNC_H
#define NPBPF_MAPSYNC_H

#include <npbpf/datapath.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "hmap.h"
#include "pinned.h"

struct loader;

/* A pod's veth on this node: the lab or the agent knows the host side. */
struct endpoint_binding {
	const char *ns;   /* the pod's namespace */
	const char *name; /* the pod's name */
	uint32_t ifindex; /* host-side veth */
	bool has_mac;     /* mac is known: the datapath checks frames from the pod at layer 2 */
	uint8_t mac[6];   /* the pod-side interface's address */
};

/* Writes to one map during a sync. */
struct sync_counts {
	uint32_t add, update, del;
};

struct sync_stats {
	struct sync_counts maps[PIN_N]; /* both policy generations together */
	uint32_t config_writes;         /* generation flips and revision bumps */
	bool flipped;                   /* the live generation changed */
	uint32_t generation, revision;  /* live after the sync */
	uint32_t endpoints_skipped;     /* bindings naming no enforceable pod */
	double read_ms, plan_ms, write_ms, wait_ms;
};

/* Every map write of a sync, config included (the npbpf_meta record, written
 * once after any other write, is not counted). 0 when nothing changed. */
uint64_t sync_stats_writes(const struct sync_stats *st);
/* Writes to the policy, range and subject maps. */
uint64_t sync_stats_policy_writes(const struct sync_stats *st);

/* ---- Pure part. */

/* An in-memory image of one map: fixed-size keys and values, unique keys. */
struct ms_table {
	uint32_t key_size, value_size;
	uint8_t *keys, *values;
	size_t n, cap;
	uint8_t *dead;     /* per position: deleted (NULL until a first delete) */
	size_t n_dead;
	struct hmap index; /* key bytes -> position */
};

void ms_table_init(struct ms_table *t, uint32_t key_size, uint32_t value_size);
void ms_table_free(struct ms_table *t);
/* Inserts key -> value, or replaces the value of a present key. 0 or -ENOMEM. */
int ms_table_put(struct ms_table *t, const void *key, const void *value);
/* The value of key, or NULL. */
const void *ms_table_get(const struct ms_table *t, const void *key);
/* Marks key deleted (positions stay, so an index into t stays valid).
 * Returns 1 when it was present, 0 when not, -ENOMEM. */
int ms_table_del(struct ms_table *t, const void *key);
/* Entries not deleted. */
size_t ms_table_count(const struct ms_table *t);
static inline bool ms_table_live(const struct ms_table *t, size_t pos)
{
	return !t->dead || !t->dead[pos];
}
static inline const void *ms_table_key(const struct ms_table *t, size_t pos)
{
	return t->keys + pos * t->key_size;
}
static inline const void *ms_table_value(const struct ms_table *t, size_t pos)
{
	return t->values + pos * t->value_size;
}
/* dst (uninitialised) becomes a copy of src. 0 or -ENOMEM. */
int ms_table_copy(struct ms_table *dst, const struct ms_table *src);

/*
 * The maps as sync sees them. The policy, range and subject maps are split by
 * generation, keys stored without the generation bit; a desired state uses
 * generation 0 only. ipcache, endpoints and the userspace-only maps have one
 * image each. config and meta are the single values of their array maps.
 */
enum ms_gmap {
	MS_G_POLICY,
	MS_G_RANGE,
	MS_G_SUBJECT,
	MS_N_GMAPS,
};

struct ms_state {
	struct ms_table gen[MS_N_GMAPS][2];
	struct ms_table ipc_host, ipc_cidr, endpoint, idmeta, polname, epmeta;
	struct npbpf_config config;
	struct npbpf_meta meta;
};

void ms_state_init(struct ms_state *s);
void ms_state_free(struct ms_state *s);
/* The image of map m (for a generation-split map, generation gen); NULL for
 * maps sync does not manage (conntrack, counters, ...) and config/meta. */
struct ms_table *ms_state_table(struct ms_state *s, enum pin_map m, int gen);
/* dst (uninitialised) becomes a copy of src. 0 or -ENOMEM. */
int ms_state_copy(struct ms_state *dst, const struct ms_state *src);

/* The generation-split map of m, or -1. */
int ms_gmap_of(enum pin_map m);
/* The subject field (with the generation bit) of a key of a generational
 * map, or NULL for other maps. */
__u32 *ms_key_subject(enum pin_map m, void *key);

/*
 * An identity's key bytes and label from an idmeta image. *key and *label are
 * malloc'd (label NUL-terminated; either may be NULL to skip it). Returns 0,
 * -ENOENT when the identity or one of its chunks is missing, -ENOMEM.
 */
int ms_idmeta_decode(const struct ms_table *idmeta, uint32_t id, uint8_t **key,
		     size_t *key_len, char **label);

/*
 * The desired state for cp with endpoints eps[n], given the current state
 * (whose policy names and meta decide stable policy numbers). Policy, range
 * and subject entries are kept for the subjects of the bound endpoints only
 * (the pods of this node: no packet the datapath judges has another
 * subject); the ipcache and identity names cover the whole cluster. Bindings that
 * name no non-hostNetwork pod of cp are skipped (counted in *skipped, may be
 * NULL; logged once at info level). want must be initialised. 0 or -ENOMEM;
 * -ENOSPC when a policy or identity text cannot be stored (logged).
 */
int mapsync_desired(const struct compiled *cp, const struct endpoint_binding *eps, size_t n,
		    const struct ms_state *cur, struct ms_state *want, uint32_t *skipped);

/* The entries of one map that differ: positions into want (add, update) and
 * into have (del). */
struct ms_diff {
	uint32_t *add, *update, *del;
	size_t n_add, n_update, n_del;
};

void ms_diff_free(struct ms_diff *d);
/* 0 or -ENOMEM. */
int ms_diff_tables(const struct ms_table *want, const struct ms_table *have, struct ms_diff *d);
static inline size_t ms_diff_size(const struct ms_diff *d)
{
	return d->n_add + d->n_update + d->n_del;
}

/* Where a sync writes. Each callback returns 0 or -errno (and logs). keys and
 * values are n back-to-back entries of the map's sizes; for a generation-split
 * map the generation bit is already set in the keys. */
struct ms_backend {
	int (*update)(void *ctx, enum pin_map m, const void *keys, const void *values, size_t n);
	int (*del)(void *ctx, enum pin_map m, const void *keys, size_t n);
	/* Returns once no BPF program that may have read the old config is still
	 * running (an RCU grace period). */
	int (*wait)(void *ctx);
	void *ctx;
};

/*
 * Brings cur to want through be, in the order documented in mapsync.c, and
 * counts the writes in st (zeroed first). cur is only read. Returns 0 or the
 * first backend error; the maps are then between two consistent states and
 * the next sync finishes the job.
 */
int mapsync_execute(const struct ms_state *want, const struct ms_state *cur,
		    const struct ms_backend *be, struct sync_stats *st);

/*
 * Identity numbers of the state: identity key bytes -> number, from the
 * idmeta image, plus sentinels that hold the meta high-water marks so a
 * number is never handed out twice (see identity.c, init_numbering).
 * prior must be initialised. 0 or -ENOMEM.
 */
int mapsync_prior_from_state(const struct ms_state *cur, struct hmap *prior);

/* ---- Kernel part (mapsync_apply.c). */

/* Reads the maps of l into cur (initialised by the caller). 0 or -errno
 * (logged). */
int mapsync_read(struct loader *l, struct ms_state *cur);
/* The same from map fds indexed by enum pin_map (-1: skip that map), as
 * pinned_set_open gives them. */
int mapsync_read_fds(const int *fds, struct ms_state *cur);

/* Reads the identity numbers the pinned state holds into prior (initialised
 * by the caller): pass it as compile_opts.prior_ids. 0 or -errno. */
int mapsync_load_prior(struct loader *l, struct hmap *prior);

/*
 * Syncs the maps of l to cp with the endpoints eps[n] (pods of this node and
 * their host-side veths; policy entries are written for their identities
 * only, see mapsync_desired). out may be NULL. Re-running with nothing
 * changed writes nothing. Returns 0 or -errno (logged).
 */
int mapsync_apply(struct loader *l, const struct compiled *cp, const struct endpoint_binding *eps,
		  size_t n, struct sync_stats *out);

#endif /* NPBPF_MAPSYNC_H */
