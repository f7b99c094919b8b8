/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the pure map sync files: mapsync.c (tables, desired
 * state), mapsync_ids.c (identity records and the numbering input) and
 * mapsync_exec.c (the ordered writes). Not for other modules. */
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

#endif /* NPBPF_MAPSYNC_INT_H */
