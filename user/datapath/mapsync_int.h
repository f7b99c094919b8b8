/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the pure map sync files: mapsync.c (tables, desired
 * state), mapsync_ids.c (identity numbers) and mapsync_exec.c (the ordered
 * writes). Not for other modules. */
#ifndef NPBPF_MAPSYNC_INT_H
#define NPBPF_MAPSYNC_INT_H

#include "mapsync.h"

/* An identity left without a number (its space is exhausted). */
#define MS_NO_ID UINT32_MAX

/* opts with the defaults filled in (in may be NULL); now_ns read when 0. */
void ms_opts_resolve(const struct mapsync_opts *in, struct mapsync_opts *out);

/* Sets the error fields of a meta record: err (-errno), the map it was on
 * (PIN_N: none) and what the sync was doing. */
void ms_meta_set_error(struct npbpf_meta *meta, int err, enum pin_map map, const char *what);
void ms_meta_clear_error(struct npbpf_meta *meta);

/*
 * Turns want, built with cp's identity numbers, into one with the pinned
 * numbers: keys known to cur keep theirs, new keys get free ones, numbers
 * nobody uses any more go into quarantine (an idmeta marker) and out of it
 * once it passed. Identities left without a number are handled as
 * mapsync_desired describes. Counts go to st (may be NULL). 0 or -ENOMEM.
 */
int ms_number_identities(const struct compiled *cp, const struct ms_state *cur,
			 const struct mapsync_opts *o, struct ms_state *want,
			 struct sync_stats *st);

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
