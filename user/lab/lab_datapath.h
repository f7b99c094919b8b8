/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real datapath in a lab run: the BPF programs and maps pinned under
 * the run's own directory (never the agent's), the compiled tables synced
 * into them by the agent's map sync, and the programs attached to every pod's
 * host veth in the node namespace.
 */
#ifndef NPBPF_LAB_DATAPATH_H
#define NPBPF_LAB_DATAPATH_H

#include <stdbool.h>

#include <stddef.h>

#include "compile.h"
#include "lab_net.h"

struct loader;

/* LAB_PIN_PREFIX + id. */
void lab_datapath_pin_dir(const char *id, char *buf, size_t len);

/*
 * Loads and pins the programs under pin_dir, syncs cp with one endpoint per
 * pod host, and attaches the programs to each pod's host veth (with xdp, the
 * XDP variant of from-pod in front of TC). *out is the
 * loader (lab_datapath_close releases it; the pins stay until the state
 * teardown removes the directory). 0 or -errno (logged).
 */
int lab_datapath_open(const char *pin_dir, const struct lab_net *net, const struct compiled *cp,
		      bool xdp, struct loader **out);
/* Only loads and pins the programs and maps (--cni: before the pods' ADD,
 * which npbpf-cni needs); lab_datapath_open then goes on with *out. 0 or
 * -errno (logged). */
int lab_datapath_load(const char *pin_dir, const struct lab_net *net, struct loader **out);
void lab_datapath_close(struct loader *l);

#endif /* NPBPF_LAB_DATAPATH_H */
