/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the pure map sync files: mapsync.c (tables, desired
 * state), mapsync_ids.c (identity records and the numbering input) and the
 * execution: mapsync_exec.c (the ordered sync), mapsync_recs.c (records by
 * subject), mapsync_write.c (the writes and the mirror), mapsync_flip.c
 * (steps 3 to 5 with a flip), mapsync_perpod.c (steps 3 to 5 pod by pod) and
 * mapsync_settle.c (fail-closed). Not for other modules. */
#ifndef NPBPF_MAPSYNC_INT_H
#define NPBPF_MAPSYNC_INT_H

#include "mapsync.h"

/* Sets the error fields of a meta record: err (-errno), the map it was on
 * (PIN_N: none) and what the sync was doing. */
void ms_meta_set_error(struct npbpf_meta *meta, int err, enum pin_map map, const char *what);
void ms_meta_clear_error(struct npbpf_meta *meta);

/* mapsync_numbering_from_state, warning about torn records or not (the
 * reader of the state the compile followed has warned already). */
int ms_numbering_read(const struct ms_state *cur, struct numbering_prior *prior, bool warn);

/*
 * The identity records of want (npbpf_idmeta) for cp: each numbered
 * identity's key and label, and for each number cp retired its records as
 * cur has them plus a marker saying since when (mapsync_ids.c). 0, -ENOMEM,
 * -ENOSPC (a key or label too long to store, logged).
 */
int ms_desired_idmeta(const struct compiled *cp, const struct ms_state *cur, struct ms_state *want);

/* The subject record that isolates in both directions and allows nothing:
 * MAPSYNC_ID_ISOLATED's. */
static inline struct npbpf_subject ms_isolated_subject(void)
{
	struct npbpf_subject s = {
		.isolated = (1u << NPBPF_DIR_INGRESS) | (1u << NPBPF_DIR_EGRESS),
	};

	return s;
}

/* ---- The execution (mapsync_execute). */

/* The pinned map of each generational map, in MS_G_* order. */
extern const enum pin_map ms_gmap_pin[MS_N_GMAPS];

/* ---- Records by subject (mapsync_recs.c). */

/* The records of one subject in one generation image: positions in its
 * policy and range tables, and in the subject table (-1: none). */
struct rec {
	uint32_t subject;
	int64_t subj;
	uint32_t *pos[2]; /* [MS_G_POLICY], [MS_G_RANGE] */
	size_t n[2], cap[2];
};

struct recs {
	const struct ms_table *t[MS_N_GMAPS];
	struct hmap idx; /* subject -> index in v */
	struct rec *v;
	size_t n, cap;
};

/* A wrongly resolved peer: packets from some address are seen as identity y
 * where the desired state says x. */
struct stray {
	__u32 y, x;
};

void recs_free(struct recs *r);
int recs_build(struct recs *r, const struct ms_state *s, int gen);
const struct rec *recs_get(const struct recs *r, uint32_t subject);
const void *counterpart(const struct recs *ra, int g, uint32_t pos, const struct recs *rb,
			uint32_t b);
bool recs_equal(const struct recs *ra, uint32_t a, const struct recs *rb, uint32_t b);
bool recs_stricter(const struct recs *ra, uint32_t a, const struct recs *rb, uint32_t b,
		   const struct stray *strays, size_t n_strays);

/* ---- Writing, with a mirror of what the maps hold (mapsync_write.c). */

enum op_kind { OP_ADD, OP_UPDATE, OP_DEL };

struct xc {
	const struct ms_backend *be;
	const struct ms_state *want;
	struct npbpf_meta cur_meta; /* as the maps held it at the start of the sync */
	struct sync_stats *st;
	struct ms_state k; /* what the maps hold, as far as we know */
	int live;
	bool per_pod, flipped, names_failed;
	uint32_t broken;      /* bit per enum pin_map: a write failed */
	uint32_t ep_failures; /* failed endpoint writes */
	enum pin_map unfit;   /* per pod: the map some pod's records did not fit */
	const char *step;
	uint8_t *kbuf;
	size_t kcap;
	uint32_t next_stage; /* staging numbers: the next one to look at */
	struct hmap staged;  /* staging numbers handed out in this sync -> 1 */
};

/* A batch of operations on one map, built before it is written. */
struct ops {
	uint8_t *keys, *values;
	size_t n, cap_k, cap_v;
	uint32_t ks, vs;
};

double now_ms(void);
void note_error(struct xc *x, int err, enum pin_map m);
int x_write(struct xc *x, enum pin_map m, int gen, const uint8_t *keys, const uint8_t *values,
	    size_t n, enum op_kind kind);
void ops_init(struct ops *p, const struct ms_table *t);
void ops_free(struct ops *p);
int ops_push(struct ops *p, const void *key, const void *value);
int x_sync_table(struct xc *x, enum pin_map m, int gen, const struct ms_table *want, unsigned kinds,
		 bool (*skip)(struct xc *, const void *key));
bool gen_is(struct xc *x, int gen, const struct ms_table *const g[MS_N_GMAPS]);
int x_sync_gen(struct xc *x, int gen, const struct ms_table *const g[MS_N_GMAPS]);
int x_config(struct xc *x, bool flip);
int x_wait(struct xc *x);
int x_put_records(struct xc *x, int gen, uint32_t t, const struct recs *src, uint32_t s,
		  const struct recs *have);
int x_endpoints(struct xc *x, struct ops *eps, enum op_kind kind);
uint32_t users(struct xc *x, uint32_t id);
uint32_t stage_alloc(struct xc *x);
void label_stage(struct xc *x, uint32_t s, uint32_t id);

/* Endpoint w pointed at subject number id. */
static inline void endpoint_with(const struct npbpf_endpoint *w, uint32_t id,
				 struct npbpf_endpoint *out)
{
	*out = *w;
	out->identity = id;
}

/* ---- Steps 3 to 5 with a flip (mapsync_flip.c). */

/* A pod that changes subject number, planned in step 3. */
struct move {
	uint32_t ifindex, from, to; /* to: its identity, or a staging number */
	const struct npbpf_endpoint *w;
};

struct plan {
	struct move *v;
	size_t n, cap;
	struct ms_table gen[MS_N_GMAPS]; /* the new generation, staging numbers included */
	size_t prep[MS_N_GMAPS];	 /* entries written in place before it */
};

void plan_free(struct plan *p);
int plan_moves(struct xc *x, struct plan *p);
bool plan_fits(struct xc *x, const struct plan *p);
int x_generations(struct xc *x, struct plan *p);

/* ---- Steps 3 to 5 pod by pod (mapsync_perpod.c). */

int x_drop_unused(struct xc *x);
int x_per_pod(struct xc *x, bool *stuck);

/* ---- Fail-closed after a failed write (mapsync_settle.c). */

int x_reread(struct xc *x);
int x_settle(struct xc *x);

#endif /* NPBPF_MAPSYNC_INT_H */
