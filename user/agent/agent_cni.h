/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's side of npbpf-cni (user/cni/): a unix stream socket on which
 * the chained CNI plugin announces a pod's veth during ADD and waits until
 * the agent has bound it to the pod's identity. One JSON object per line
 * each way:
 *   {"op":"add","namespace":NS,"pod":NAME,"containerId":ID,"ifindex":N,
 *    "ifname":IF,"mac":MAC,"addrs":[...],"timeoutMs":MS}
 *     -> {"ok":true,"state":"bound","identity":N}
 *      | {"ok":false,"state":"pending","why":TEXT}   (at the timeout)
 *   {"op":"del",...} -> {"ok":true}
 * An announcement is a hint: the veth is bound to NS/NAME by its ifindex
 * (the API server learns the pod's addresses only after ADD returns, so
 * addresses cannot tell yet), and until the API reports addresses the
 * announced ones are the pod's.
 */
#ifndef NPBPF_AGENT_CNI_H
#define NPBPF_AGENT_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "netdisc.h"

#define AGENT_CNI_MAX_LINE 4096

/* A pod's veth as the CNI plugin announced it. */
struct cni_hint {
	char *ns, *name;
	uint32_t ifindex;
	struct np_addr addrs[ND_MAX_ADDRS];
	size_t n_addrs;
};

/* A plugin waiting for its pod to be bound. */
struct cni_waiter {
	int fd;
	char buf[AGENT_CNI_MAX_LINE];
	size_t len;
	bool have_request; /* an add was read: waiting for the bind */
	uint32_t ifindex;
	char *ns, *name;
	double deadline;
};

struct agent_cni {
	int listen_fd; /* -1: no socket */
	char path[108];
	struct cni_hint *hints;
	size_t n_hints, cap_hints;
	struct cni_waiter *w;
	size_t n_w, cap_w;
};

/* Listens on path (removed first if a stale socket is there). 0 or -errno. */
int agent_cni_open(struct agent_cni *c, const char *path);
void agent_cni_close(struct agent_cni *c);

/* What happened on the socket after agent_cni_io. */
struct cni_news {
	bool hints_changed;    /* a new announcement: sync soon */
	uint32_t new_ifindex;  /* the last announced veth (to look at it now) */
};

/* Accepts and reads whatever is ready (never blocks). */
void agent_cni_io(struct agent_cni *c, struct cni_news *news);
/* The fds to poll: listen_fd and every waiter's. Returns how many were
 * written into fds (at most max). */
size_t agent_cni_fds(const struct agent_cni *c, int *fds, size_t max);
/* Answers the waiters whose veth is now bound to their pod (identity_of
 * returns the endpoint's identity, or 0 when the veth has no endpoint of
 * that pod) and those past their deadline. */
void agent_cni_answer(struct agent_cni *c, double now,
		      uint32_t (*identity_of)(void *arg, uint32_t ifindex, const char *ns,
					      const char *name),
		      void *arg);
/* The earliest waiter deadline, or 0 when none waits. */
double agent_cni_next_deadline(const struct agent_cni *c);
/* Adds (or replaces) the hint for ifindex. 0 or -ENOMEM. */
int agent_cni_hint(struct agent_cni *c, const char *ns, const char *name, uint32_t ifindex,
		   const struct np_addr *addrs, size_t n_addrs);
/* Forgets the hints of veths that are gone. */
void agent_cni_forget(struct agent_cni *c, uint32_t ifindex);

#endif /* NPBPF_AGENT_CNI_H */
