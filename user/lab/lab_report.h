/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `npbpf lab` prints on stdout, text or JSON from one path per field:
 * the matrix (explain's own printers; JSON adds "seconds"), where a kept
 * lab's pods live, and what `lab --down` found.
 */
#ifndef NPBPF_LAB_REPORT_H
#define NPBPF_LAB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lab_net.h"
#include "lab_state.h"
#include "matrix.h"

/* A kept lab, for other tools to send their own traffic. */
struct lab_placement {
	const char *id;
	enum lab_mode mode;
	const struct lab_net *net;
	const char *pin_dir;
	/* Cluster mode (NULL node: file mode): the node, the agent. */
	const char *node;
	int agent_pid;
	const char *agent_log;
};

/* The matrix exactly as `explain --matrix [-o json]` prints it; JSON also
 * carries "seconds" (setup and probes), and with kept (may be NULL) "lab",
 * "pods" (name, netns, host_veth, addresses) and "external", which text
 * prints after the matrix. */
void lab_report_matrix(FILE *f, bool json, const struct matrix *m, double seconds,
		       const struct lab_placement *kept);

/* One line (or JSON object) per lab found by lab_state_down. Returns
 * EXIT_FAIL when one could not be removed, else EXIT_OK. */
int lab_report_down(FILE *f, bool json, const struct lab_down_result *r, size_t n);

#endif /* NPBPF_LAB_REPORT_H */
