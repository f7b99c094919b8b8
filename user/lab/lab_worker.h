/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One worker process per lab namespace (each pod, and the external host):
 * it joins the namespace, opens the listeners its peers' probes will reach,
 * says it is ready, and on "go" runs all of its probes at once while still
 * serving its listeners, then reports one byte per probe. It serves on until
 * the lab closes its control pipe (every worker has then finished probing),
 * or for good when the lab is kept.
 *
 * Pipes, parent side: ctl (write) carries 'g' (go) and 'k' (keep; stop
 * watching ctl); EOF means exit. rep (read) carries 'R' when ready, or 'E'
 * and an int errno when setting up failed, then the results.
 *
 * What each worker probes and listens on comes from lab_plan.h.
 */
#ifndef NPBPF_LAB_WORKER_H
#define NPBPF_LAB_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lab_listen.h"
#include "lab_net.h"
#include "lab_probe.h"
#include "lab_state.h"
#include "matrix.h"

struct lab_worker {
	const struct lab_host *host;
	struct lab_listen_spec *listens;
	size_t n_listens, cap_listens;
	struct lab_probe *probes;
	size_t n_probes, cap_probes;
	pid_t pid;   /* 0 before start and after reaping */
	int ctl, rep; /* parent's ends; -1 when closed */
	uint8_t *report; /* n_probes outcome bytes, then a u32 refused count */
	size_t got;      /* report bytes received */
	bool ready;
};

struct lab_workers {
	struct lab_worker *v;
	size_t n;
	int timeout_ms;
	bool kept; /* lab_workers_keep: left running */
};

/* Forks the workers and waits until all listen. 0 or -errno (logged);
 * -EINTR on a stop request. */
int lab_workers_start(struct lab_workers *ws);

/* Runs every probe and stores the outcomes in m's cells (CELL_ALLOW or
 * CELL_DENY). *refused counts probes that reached a port nobody listened on
 * (a lab bug, reported by the caller). 0 or -errno (logged); -EINTR on a
 * stop request. */
int lab_workers_probe(struct lab_workers *ws, struct matrix *m, uint32_t *refused);

/* Leaves the workers serving for good and records them in st, so that
 * `lab --down` can stop them. 0 or -errno. */
int lab_workers_keep(struct lab_workers *ws, struct lab_state *st);

/* Stops (if still running) and reaps every worker; frees the plan. */
void lab_workers_free(struct lab_workers *ws);

#endif /* NPBPF_LAB_WORKER_H */
