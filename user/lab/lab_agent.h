/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster mode's enforcement: a real `npbpf agent` child process watching
 * the same API server as the lab, entering the lab's node namespace for its
 * veths and programs (--node-netns), with the lab's own pin directory and a
 * state file in the lab's state directory; its stderr goes to a log file
 * next to it. The lab never syncs maps itself in this mode: what the
 * packets do is what the agent made of the API's objects.
 *
 * The agent's state file (written after each of its syncs) is how the lab
 * knows it may probe: ready, and every kind in step with the lab's own list.
 */
#ifndef NPBPF_LAB_AGENT_H
#define NPBPF_LAB_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

#include "kube_list.h"

/* How long the lab waits for the agent to be ready and in step. */
#define LAB_AGENT_READY_MS 30000
/* How long a stopping agent gets after SIGTERM before SIGKILL. */
#define LAB_AGENT_STOP_MS 5000

struct lab_agent_opts {
	const char *kubeconfig;
	const char *node;
	const char *node_netns;	  /* name under /run/netns */
	const char *pin_dir;
	const char *state_file;
	const char *log_file;
	const char *cni_socket; /* npbpf-cni's (--cni); NULL: off */
	bool bridged, xdp, enforce_host;
};

/* $STATE_DIR/<id>.agent.json and .agent.log, the paths the state file
 * lists for teardown. */
void lab_agent_paths(const char *id, char *state_file, size_t sf_len, char *log_file,
		     size_t lf_len);

/*
 * Forks the agent (this very binary, `npbpf -v agent ...`) in a session of
 * its own, so a kept lab's agent outlives the lab's terminal. Before it
 * execs, record(pid, arg) runs in the parent (the lab writes it into its
 * state file ahead of the agent doing anything): when record fails, the
 * child is killed. 0 and *pid, or -errno (logged).
 */
int lab_agent_start(const struct lab_agent_opts *o, int (*record)(pid_t pid, void *arg),
		    void *arg, pid_t *pid);

/*
 * Waits (at most timeout_ms) until the agent's state file says ready, and
 * for every kind its resourceVersion is at least the list's in info (or at
 * least its items' newest with as many objects: the agent's per-kind
 * resourceVersion only moves with that kind's events), then until its sync
 * count holds still for a moment (an event it received but had not applied
 * yet when it wrote the file is applied by the next sync). Returns 0;
 * -ETIMEDOUT, -ECHILD when the agent exited, -EINTR on a stop request: each
 * logged with the agent's log tail.
 */
int lab_agent_wait(pid_t pid, const char *state_file, const char *log_file,
		   const struct kube_list_info *info, int timeout_ms);

/* true when pid is an agent of pin_dir (its command line says so), so a
 * pid reused by another process is never signalled. */
bool lab_agent_is(pid_t pid, const char *pin_dir);

/* SIGTERM, wait up to timeout_ms for it to be gone (reaped when it is our
 * child), then SIGKILL. 0, or -ETIMEDOUT when even SIGKILL did not end it
 * within a second (logged). */
int lab_agent_stop(pid_t pid, int timeout_ms);

/* Copies the last lines of the agent's log to stderr, indented. */
void lab_agent_log_tail(const char *log_file, int lines);

#endif /* NPBPF_LAB_AGENT_H */
