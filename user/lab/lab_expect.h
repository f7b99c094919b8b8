/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checking a probed matrix: against an expected one kept in a file (the
 * text `explain --matrix` prints, the tab-separated layout of hand-written
 * files, or the JSON: whichever the file holds; README.md), and against the
 * engine's own verdicts for the same cells. Each difference is one line:
 *   FROM -> TO PORT/PROTO: expected allow, got deny
 * ("PORT/PROTO IPv6" for IPv6 cells; "not probed" for a '-' cell).
 */
#ifndef NPBPF_LAB_EXPECT_H
#define NPBPF_LAB_EXPECT_H

#include <stdint.h>
#include <stdio.h>

#include "matrix.h"

struct lab_expect {
	uint8_t *cells; /* shaped like the matrix's; 0xff where the file is silent */
	/* Expected cells the matrix has no place for (an unknown pod, port or
	 * family), already worded as differences. */
	char *extra;
	size_t extra_len;
	int n_extra;
};

/*
 * Reads what path expects of matrix m (its shape only: call it before
 * probing, so that a malformed file stops the run early). 0 or -errno
 * (logged): -EINVAL for a malformed file.
 */
int lab_expect_load(struct lab_expect *e, const char *path, const struct matrix *m);
void lab_expect_free(struct lab_expect *e);

/* Prints to f every cell of m that differs from e, and e's extras.
 * Returns the number of differences. */
int lab_expect_diff(const struct lab_expect *e, const struct matrix *m, FILE *f);

/* Prints to f each cell where the probes (lab) and the engine's verdicts
 * (engine, the same matrix filled by matrix_fill_verdicts) disagree. Returns
 * the count. */
size_t lab_expect_vs_engine(const struct matrix *lab, const struct matrix *engine, FILE *f);

#endif /* NPBPF_LAB_EXPECT_H */
