/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node agent: lists and watches Namespaces, Pods and NetworkPolicies,
 * keeps them in a store, finds the veths of this node's pods, and keeps the
 * pinned maps equal to a compile of what the API server holds, in small
 * batches after the first complete list of all three kinds. Programs stay
 * attached and maps pinned when it stops: the node keeps enforcing the last
 * state, and the next agent adopts it.
 */
#ifndef NPBPF_AGENT_H
#define NPBPF_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "reflector.h"

#define AGENT_DEFAULT_LISTEN "127.0.0.1:9962"
#define AGENT_DEFAULT_STATE_FILE "/run/npbpf/agent.json"
#define AGENT_DEFAULT_BATCH_MS 15u
#define AGENT_DEFAULT_CNI_SOCKET "/run/npbpf/cni.sock"

struct agent_opts {
	const char *node;	/* spec.nodeName of this node's pods (required) */
	const char *kubeconfig; /* NULL: $KUBECONFIG, then in-cluster */
	const char *api_server; /* overrides the address */
	const char *listen;	/* metrics/health; NULL: AGENT_DEFAULT_LISTEN; "" or "off": none */
	const char *pin_dir;	/* NULL: PINNED_DEFAULT_DIR */
	const char *node_netns; /* a netns file: the node's network (the lab); NULL: ours */
	const char *state_file; /* for npbpf status; NULL: AGENT_DEFAULT_STATE_FILE */
	const char *cni_socket; /* npbpf-cni's socket; NULL: AGENT_DEFAULT_CNI_SOCKET; "off" */
	bool xdp;		/* XDP in front of TC on every pod veth */
	bool bridged;		/* pods share one L2 segment (a bridge: flannel, bridge CNI) */
	bool enforce_host;	/* the node's own traffic is policy traffic too */
	uint32_t batch_ms;	/* events arriving within this window are applied together */
	struct reflector_opts reflector;
	/* Exit after the first sync that followed a complete list (tests,
	 * benchmarks): the exit status says whether it succeeded. */
	bool once;
};

/* Runs until SIGTERM/SIGINT (or opts->once). Returns the exit status. */
int agent_run(const struct agent_opts *opts);

#endif /* NPBPF_AGENT_H */
