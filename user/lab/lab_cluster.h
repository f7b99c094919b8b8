/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster mode (`npbpf lab --kubeconfig FILE --node NAME`): the pods,
 * namespaces and policies come from an API server, the pods of one node get
 * network namespaces (with the addresses the API gives them: nothing is
 * made up), and a real agent (lab_agent.h) enforces. Pods of other nodes are
 * only addresses in the ipcache: no namespace, not in the matrix.
 *
 * A kept cluster-mode lab can be probed again (`lab probe ID`) after
 * changes made through the API: its settings and which pod lives in which
 * slot are kept in a file of its own (LAB_STATE_DIR/ID.cluster).
 */
#ifndef NPBPF_LAB_CLUSTER_H
#define NPBPF_LAB_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "kube_list.h"
#include "lab_net.h"
#include "matrix.h"
#include "model.h"

/* Lists namespaces, pods and policies from the API server kubeconfig names
 * into c (cluster_init'd), and info. 0 or -errno (logged): -EINVAL for an
 * unusable kubeconfig. */
int lab_cluster_list(const char *kubeconfig, struct np_cluster *c, struct kube_list_info *info);

/* Leaves in m only the endpoints that live in net (its pods' hosts: the
 * local pods with an address) and, when m's ports come from containerPorts,
 * only the ports one of them declares. 0 or -ENOMEM. */
int lab_matrix_restrict(struct matrix *m, const struct lab_net *net);

/* Says, at -v, which pods of node have no address yet (they get no
 * namespace until they do). */
void lab_cluster_note_pending(const struct np_cluster *c, const char *node);

/* A pod of a kept lab and where it lives. */
struct lab_cluster_host {
	size_t slot;
	char ns[254], name[254];
	char addrs[256]; /* "A,B" */
	char netns[LAB_NAME_MAX];
};

/* What `lab probe` needs to run a kept lab again. */
struct lab_cluster_cfg {
	char kubeconfig[4096]; /* absolute */
	char node[254];
	enum lab_mode mode;
	int families;
	struct matrix_port *ports; /* NULL: declared containerPorts */
	size_t n_ports;
	int timeout_ms;
	bool enforce_host, xdp;
	struct np_addr node_addr[2];
	int agent_pid;
	size_t next_slot;
	struct lab_cluster_host *hosts;
	size_t n_hosts, cap_hosts;
};

/* LAB_STATE_DIR/ID.cluster */
void lab_cluster_cfg_path(const char *id, char *buf, size_t len);
/* Sets cfg's hosts (and next_slot) to net's pod hosts. 0 or -ENOMEM. */
int lab_cluster_cfg_hosts(struct lab_cluster_cfg *cfg, const struct lab_net *net);
/* Writes cfg to path (a temporary file renamed into place). 0 or -errno
 * (logged). */
int lab_cluster_cfg_save(const struct lab_cluster_cfg *cfg, const char *path);
/* 0, or -errno (logged; -EINVAL for a damaged file). */
int lab_cluster_cfg_load(struct lab_cluster_cfg *cfg, const char *path);
void lab_cluster_cfg_free(struct lab_cluster_cfg *cfg);

/*
 * A kept lab's namespaces against a fresh list: net (planned from the list
 * with lab_net_plan_node) gets each pod's slot from cfg when the pod is
 * still there with the same addresses, a new slot otherwise (fresh[i] set,
 * the caller creates it), and is named after id. Pods cfg holds that net
 * has not (gone, or with other addresses now) are listed in *gone (indexes
 * into cfg->hosts, malloc'd). 0 or -ENOMEM.
 */
int lab_cluster_match(struct lab_cluster_cfg *cfg, struct lab_net *net, const char *id,
		      bool **fresh, size_t **gone, size_t *n_gone);

/* "A,B" of a host's addresses. */
void lab_cluster_addrs_text(const struct np_addr *v, size_t n, char *buf, size_t len);

#endif /* NPBPF_LAB_CLUSTER_H */
