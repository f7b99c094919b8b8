/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What each lab worker does, planned from the matrix itself: a probe per
 * applicable cell whose row lives in the worker's namespace, a listener per
 * (address, port) some cell's column needs. A matrix probed this way has
 * exactly the cells explain fills, and no port listens that no probe
 * reaches.
 */
#ifndef NPBPF_LAB_PLAN_H
#define NPBPF_LAB_PLAN_H

#include <stddef.h>

#include "lab_net.h"
#include "lab_worker.h"
#include "matrix.h"

/* One worker per host of net, with its probes (each remembering its cell)
 * and listeners. ws is overwritten. 0 or -ENOMEM (-ENOENT, logged, for a
 * matrix endpoint without a host: an internal error). */
int lab_workers_plan(struct lab_workers *ws, const struct matrix *m, const struct lab_net *net,
		     int timeout_ms);

/* Total probes planned. */
size_t lab_workers_n_probes(const struct lab_workers *ws);

#endif /* NPBPF_LAB_PLAN_H */
