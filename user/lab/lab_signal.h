/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ctrl-C and SIGTERM during a lab run. The handler only records the request;
 * every wait of the lab (ip batches, workers, probes) polls with EINTR and
 * checks lab_stop_requested(), so the run unwinds through its normal cleanup
 * path and tears down what it built. SIGPIPE is ignored: a worker that died
 * is seen as EPIPE on its pipe, not as the death of the lab.
 */
#ifndef NPBPF_LAB_SIGNAL_H
#define NPBPF_LAB_SIGNAL_H

#include <stdbool.h>

/* Installs the handlers for SIGINT, SIGTERM and SIGHUP (without SA_RESTART,
 * so blocking calls return EINTR) and ignores SIGPIPE. */
void lab_signal_install(void);
/* Restores the default dispositions (in a forked worker). */
void lab_signal_reset(void);
/* true once SIGINT, SIGTERM or SIGHUP arrived. */
bool lab_stop_requested(void);
/* The signal that asked to stop, 0 when none. */
int lab_stop_signal(void);

#endif /* NPBPF_LAB_SIGNAL_H */
