/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Offline verdicts from the compiled tables, with the lookup order the
 * datapath uses (see enum npbpf_form in include/npbpf/tables.h), so explain
 * and the kernel answer from the same entries.
 */
#ifndef NPBPF_VERDICT_H
#define NPBPF_VERDICT_H

#include "compile.h"

enum verdict_reason {
	VERDICT_NOT_CHECKED,  /* this side is no pod we enforce for (external, hostNetwork) */
	VERDICT_UNISOLATED,   /* no policy selects the pod for this direction */
	VERDICT_RULE,         /* an entry allowed it: see policy/rule */
	VERDICT_NO_RULE,      /* isolated and no entry matched */
};

struct dir_verdict {
	bool allowed;
	enum verdict_reason reason;
	uint32_t subject; /* identity of the pod whose policy is checked */
	uint32_t peer;    /* identity of the far end */
	struct npbpf_policy_value by; /* VERDICT_RULE: which policy and rule */
	uint16_t form;    /* VERDICT_RULE: NPBPF_FORM_* << group shift of the entry that hit */
	/* VERDICT_RULE, VERDICT_NO_RULE: the policies that isolate the subject
	 * in this direction, as policy numbers (like by.policy; see
	 * compiled_policy), in policy order. Points into the compile. */
	const uint32_t *isolated_by;
	uint32_t n_isolated_by;
	/* verdict_flow only: what the far end is on the node that judges (the
	 * subject pod's node; this node for ends that are no pod). */
	uint32_t node;            /* index into compiled.nodes */
	enum addr_kind peer_kind; /* ADDR_HOST only for the judging node's own addresses */
	uint32_t peer_node;       /* ADDR_HOST, ADDR_REMOTE_NODE: whose address it is */
};

/* One direction: may subject send to (egress) / receive from (ingress) peer
 * on proto/port? Protocols without ports (ICMP) only match rules that list
 * no ports. */
void verdict_dir(const struct compiled *cp, uint32_t subject, enum np_dir dir, uint32_t peer,
		 uint8_t proto, uint16_t port, struct dir_verdict *out);

/* One end of a flow: a pod (address of the flow's family) or an address. */
struct flow_end {
	const struct np_pod *pod; /* NULL for an address outside the cluster */
	struct np_addr addr;
};

/* Each side is judged on the node its pod runs on (identities.pod_node), with
 * that node's view of the far end's address (compiled_addr_lookup): the
 * datapath of that node checks it. */
struct flow_verdict {
	bool allowed;
	bool self; /* a pod to itself: never leaves the pod, always allowed */
	struct dir_verdict dir[2]; /* indexed by enum np_dir: [NP_EGRESS] is the source's */
};

void verdict_flow(const struct compiled *cp, const struct flow_end *from,
		  const struct flow_end *to, uint8_t proto, uint16_t port,
		  struct flow_verdict *out);

#endif
