/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync: brings the pinned maps to what a compile says, with no packet
 * ever seeing a half-applied policy, and when that cannot be done, leaving
 * the pods it could not bring over isolated, never on their old allows. The
 * compile's tables carry their final numbers (numbering.h): map sync writes
 * them as they are, and keeps the records of those numbers. Two halves:
 *  - pure (no kernel): the desired state from a struct compiled (mapsync.c;
 *    identity records, and the numbering input read back from the maps, in
 *    mapsync_ids.c), the diff against the current map contents, and the
 *    ordered execution of that diff through a backend, a table of callbacks
 *    (mapsync_exec.c), so the order and the failure paths are unit-tested
 *    against an in-memory fake;
 *  - kernel (mapsync_apply.c): reading the maps into memory, the backend that
 *    writes them with bpf(2), and mapsync_apply() tying it together.
 * The order and why it is safe are at the top of mapsync_exec.c.
 */
#ifndef NPBPF_MAPSYNC_H
#define NPBPF_MAPSYNC_H

#include <npbpf/datapath.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "hmap.h"
#include "numbering.h"
#include "pinned.h"

struct loader;

/*
 * Subject numbers of the map sync's own, at the top of the pod identity range
 * (no identity is numbered there: include/npbpf/tables.h). The datapath
 * treats them as any subject identity; they never appear in the ipcache, so
 * never as a peer.
 *  - MAPSYNC_ID_ISOLATED: isolated in both directions, no entry. A pod whose
 *    new policy could not be written points at it (fail-closed), as does one
 *    whose identity got no number (the compile).
 *  - MAPSYNC_ID_STAGE_*: a pod's records under a temporary number while it
 *    moves from one identity (or one version of its records) to another, so
 *    it is judged by all of its old or all of its new policy at every step.
 */
#define MAPSYNC_ID_ISOLATED NPBPF_ID_ISOLATED
#define MAPSYNC_N_STAGE NPBPF_ID_N_STAGE
#define MAPSYNC_ID_STAGE_FIRST NPBPF_ID_FIRST_STAGE
#define MAPSYNC_ID_IS_STAGE(id)                                                                   \
	((id) >= MAPSYNC_ID_STAGE_FIRST && (id) < MAPSYNC_ID_STAGE_FIRST + MAPSYNC_N_STAGE)
/* Subject numbers that are no identity. */
#define MAPSYNC_ID_IS_OWN(id) ((id) == MAPSYNC_ID_ISOLATED || MAPSYNC_ID_IS_STAGE(id))
_Static_assert(MAPSYNC_N_STAGE >= 2u * NPBPF_MAX_ENDPOINT, "a staging number per move");

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
	bool per_pod;                   /* the new generation did not fit next to the
					 * live one: pods were switched one by one */
	uint32_t generation, revision;  /* live after the sync */
	uint32_t endpoints_skipped;     /* bindings naming no enforceable pod */
	uint32_t ids_new, ids_reused;   /* identity numbers the compile handed out (reused:
					 * once another key's, after its quarantine) */
	uint32_t ids_retired, ids_expired; /* into quarantine, out of it */
	/* What failed, when the sync did not reach its desired state: the first
	 * error, the map it was on (PIN_N: none) and what the sync was doing. */
	int err;
	enum pin_map err_map;
	char err_what[80];
	uint32_t isolated; /* endpoints left isolated (MAPSYNC_ID_ISOLATED) */
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
/* Room for n entries in all, so inserts up to that grow nothing (neither
 * the arrays nor the index). Never shrinks. 0 or -ENOMEM. */
int ms_table_reserve(struct ms_table *t, size_t n);
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
	struct npbpf_meta meta; /* a desired state's error fields carry what could not
				 * be planned (identity numbers exhausted) */
	/* The state a sync of this process left, after waiting a grace period
	 * since it last flipped: no packet can still be reading the inactive
	 * generation, so the next sync writes it without waiting first. A
	 * state read from the maps is not (a crash may have flipped just
	 * before). */
	bool settled;
};

void ms_state_init(struct ms_state *s);
void ms_state_free(struct ms_state *s);
/* The image of map m (for a generation-split map, generation gen); NULL for
 * maps sync does not manage (conntrack, counters, ...) and config/meta. */
struct ms_table *ms_state_table(struct ms_state *s, enum pin_map m, int gen);
/* dst (uninitialised) becomes a copy of src. 0 or -ENOMEM. */
int ms_state_copy(struct ms_state *dst, const struct ms_state *src);
/* Entries (and the config record) in which a and b differ, over every map
 * the sync manages; the meta record aside. 0: the same maps. */
size_t ms_state_differences(const struct ms_state *a, const struct ms_state *b);
/* Drops the positions of deleted entries where they have piled up (a state
 * kept across syncs), so its size follows what the maps hold. 0 or -ENOMEM
 * (s unchanged). */
int ms_state_compact(struct ms_state *s);

/* The name of map m (NPBPF_MAP_*). */
const char *ms_map_name(enum pin_map m);
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
 * The desired state for cp with endpoints eps[n], given the current state.
 * cp's tables are written as they are: its numbers are final, assigned
 * against the numbers cur holds (compile_opts.prior from
 * mapsync_numbering_from_state(cur), or mapsync_load_numbering). A compile
 * numbered against another state is refused with -ESTALE (logged): its new
 * numbers could be ones cur keeps in quarantine.
 *
 * Policy, range and subject entries are kept for the subjects of the bound
 * endpoints only (the pods of this node: no packet the datapath judges has
 * another subject); the ipcache and identity names cover the whole cluster.
 * Bindings that name no non-hostNetwork pod of cp are skipped (counted in
 * st->endpoints_skipped; logged once at info level). The identity records
 * are cp's identities' keys and labels, and for the numbers cp retired
 * their records as cur has them plus a quarantine marker (mapsync_ids.c).
 * When the compile left identities without a number (their pods judged by
 * MAPSYNC_ID_ISOLATED, their addresses no pod's), want->meta carries the
 * error (logged); the caller still executes want.
 *
 * st may be NULL; it gets endpoints_skipped and the compile's ids_* counts.
 * want must be initialised. 0, -ENOMEM, -ESTALE; -ENOSPC when a name cannot
 * be stored (logged).
 */
int mapsync_desired(const struct compiled *cp, const struct endpoint_binding *eps, size_t n,
		    const struct ms_state *cur, struct ms_state *want, struct sync_stats *st);
/* The same, given the numbering input of cur (mapsync_numbering_from_state,
 * by a caller that has it already): not read from cur a second time. NULL:
 * as mapsync_desired. */
int mapsync_desired_prior(const struct compiled *cp, const struct endpoint_binding *eps,
			  size_t n, const struct ms_state *cur, const struct numbering_prior *prior,
			  struct ms_state *want, struct sync_stats *st);

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
 * map the generation bit is already set in the keys. A failed call may have
 * written part of its entries. */
struct ms_backend {
	int (*update)(void *ctx, enum pin_map m, const void *keys, const void *values, size_t n);
	int (*del)(void *ctx, enum pin_map m, const void *keys, size_t n);
	/* Returns once no BPF program that may have read the old config is still
	 * running (an RCU grace period). */
	int (*wait)(void *ctx);
	/* Reads what the maps hold into out (initialised), after a failed write
	 * left it unknown. */
	int (*read)(void *ctx, struct ms_state *out);
	void *ctx;
	/* max_entries of each map; 0: unknown (then a full map shows as a failed
	 * write only). */
	uint32_t cap[PIN_N];
};

/*
 * Brings cur to want through be, in the order documented in mapsync_exec.c,
 * and counts the writes in st (zeroed first, except endpoints_skipped and the
 * ids_* counts, which mapsync_desired filled). cur is only read.
 *
 * When the new policy generation does not fit next to the live one, pods are
 * switched to their new records one by one instead (st->per_pod). When a
 * write fails, the maps are read back and every pod is left either on its
 * new policy or on records at least as strict, or else isolated
 * (MAPSYNC_ID_ISOLATED); st->err, err_map, err_what and isolated say what
 * happened, the meta record keeps it for status, and the error is returned.
 * Returns 0, or the first error (logged).
 */
int mapsync_execute(const struct ms_state *want, const struct ms_state *cur,
		    const struct ms_backend *be, struct sync_stats *st);
/* mapsync_execute for a caller that keeps cur between syncs: cur is taken
 * over as the mirror of the writes (no copy), and on return holds what the
 * maps hold as far as the sync knows: exactly so after a success; after a
 * failure what it read back or wrote since, so read the maps afresh before
 * trusting it again. */
int mapsync_execute_keep(const struct ms_state *want, struct ms_state *cur,
			 const struct ms_backend *be, struct sync_stats *st);

/*
 * The numbering input of a state (numbering.h): every identity key with its
 * number (those in quarantine included, so a key that comes back keeps its
 * number), the numbers in quarantine and since when, the numbers any map
 * the datapath reads refers to, policy numbers by name and those entries
 * credit, and the high-water marks. Pass it as compile_opts.prior. prior
 * must be initialised. 0 or -ENOMEM.
 */
int mapsync_numbering_from_state(const struct ms_state *cur, struct numbering_prior *prior);

/* Whether the subject, range and policy records of subject a in generation
 * ga of sa are those of subject b in generation gb of sb, the subject
 * fields aside (values compared too). */
bool ms_records_equal(const struct ms_state *sa, int ga, uint32_t a, const struct ms_state *sb,
		      int gb, uint32_t b);
/* Whether records a are at least as strict as records b: isolated in every
 * direction b is, with no entry b lacks there (values aside). */
bool ms_records_stricter(const struct ms_state *sa, int ga, uint32_t a,
			 const struct ms_state *sb, int gb, uint32_t b);

/* ---- Kernel part (mapsync_apply.c). */

/* Reads the maps of l into cur (initialised by the caller). 0 or -errno
 * (logged). */
int mapsync_read(struct loader *l, struct ms_state *cur);
/* The same from map fds indexed by enum pin_map (-1: skip that map), as
 * pinned_set_open gives them. */
int mapsync_read_fds(const int *fds, struct ms_state *cur);

/* Reads the numbering input of the pinned state into prior (initialised by
 * the caller): pass it as compile_opts.prior. 0 or -errno. */
int mapsync_load_numbering(struct loader *l, struct numbering_prior *prior);

/*
 * Syncs the maps of l to cp with the endpoints eps[n] (pods of this node and
 * their host-side veths; policy entries are written for their identities
 * only, see mapsync_desired). cp must be compiled against the numbering of
 * these maps (mapsync_load_numbering; an empty state's when they are new).
 * out may be NULL. Re-running with nothing changed writes nothing. Returns 0
 * or -errno: a failure is logged with the map and the errno, recorded for
 * `npbpf status`, and leaves the pods whose new policy could not be written
 * isolated (mapsync_execute).
 */
int mapsync_apply(struct loader *l, const struct compiled *cp, const struct endpoint_binding *eps,
		  size_t n, struct sync_stats *out);
/* mapsync_apply over the maps as cur holds them (mapsync_read, just now by
 * the caller, who numbered cp from it with mapsync_numbering_from_state):
 * one read of the maps per sync instead of two. */
int mapsync_apply_read(struct loader *l, const struct compiled *cp,
		       const struct endpoint_binding *eps, size_t n, const struct ms_state *cur,
		       struct sync_stats *out);
/* mapsync_apply_read over a state the caller keeps between syncs instead
 * of reading the maps each time (it must be the only writer, and read them
 * with mapsync_read at first and after any doubt): on success *cur holds
 * what the maps hold now (mapsync_execute_keep), on failure it is stale.
 * prior: cur's numbering input, which cp was numbered against (or NULL:
 * worked out again to check that). */
int mapsync_apply_keep(struct loader *l, const struct compiled *cp,
		       const struct endpoint_binding *eps, size_t n, struct ms_state *cur,
		       const struct numbering_prior *prior, struct sync_stats *out);
/* The backend mapsync_apply writes through, for tests that swap in maps of
 * their own in l->fds (caps read from the maps). 0 or -errno. */
int mapsync_backend(struct loader *l, struct ms_backend *be);

/* Maps by fd without a loader (the datapath tests sync a skeleton's maps):
 * fds by enum pin_map, -1 where a map is absent (reads skip it). */
struct ms_maps {
	int fds[PIN_N];
	/* An RCU grace period (as loader_wait_programs); NULL when no program
	 * can run while the sync writes. */
	int (*wait)(void *ctx);
	void *wait_ctx;
};

/* The backend over mm (which must outlive it), as mapsync_backend. 0. */
int mapsync_backend_maps(struct ms_maps *mm, struct ms_backend *be);
/* mapsync_apply over mm. */
int mapsync_apply_maps(struct ms_maps *mm, const struct compiled *cp,
		       const struct endpoint_binding *eps, size_t n, struct sync_stats *out);

#endif /* NPBPF_MAPSYNC_H */
