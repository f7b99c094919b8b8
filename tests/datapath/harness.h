/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Datapath test harness: TAP output, the loaded skeleton and its devices,
 * running one packet through a program with BPF_PROG_TEST_RUN, counters and
 * events, scenarios (a cluster, its compile, endpoints bound to devices),
 * flows and their packets, and the engine's verdicts for them.
 */
#ifndef NPBPF_TEST_HARNESS_H
#define NPBPF_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <npbpf/datapath.h>

#include "compile.h"
#include "counters.h"
#include "fill.h"
#include "npbpf.skel.h"
#include "packet.h"
#include "tap.h"
#include "verdict.h"

/* Host-side veths standing for pod endpoints: nphI, peer nppI. Test runs
 * only need the ifindex to exist; pair 0 also carries real frames (MTU 9000,
 * up). The last one is never bound: an unknown veth. */
#define N_DEV 24
#define MAX_CPUS 1024
#define PKT_CAP 9216


/* ---- The loaded object and running packets */

enum hook {
	H_FROM, /* npbpf_from_pod: the pod's egress */
	H_TO,   /* npbpf_to_pod: the pod's ingress */
	H_XDP,  /* npbpf_xdp_from_pod: the pod's egress */
};

extern const char *const hook_name[3];

static inline uint8_t hook_dir(enum hook hk)
{
	return hk == H_TO ? NPBPF_DIR_INGRESS : NPBPF_DIR_EGRESS;
}

struct harness {
	struct npbpf_bpf *skel;
	struct ring_buffer *rb;
	int prog[3]; /* by enum hook */
	uint32_t dev[N_DEV];
	int ncpu;
	struct counters counters; /* npbpf_counters and npbpf_fixcnt */
	uint16_t next_port;
	int n_events;             /* events of the last run_pkt */
	struct npbpf_event last;  /* the last of them */
};

/*
 * Moves the process into a private network namespace, creates the veths,
 * loads the object. Returns 0; -EPERM-like failures of the environment
 * (namespace, devices) as 1 with *why set, so the caller can skip; -1 when
 * the object does not load (always a failure).
 */
int harness_open(struct harness *h, const char **why);
void harness_close(struct harness *h);

struct outcome {
	int pass;   /* 1 pass, 0 drop, -1 the test run itself failed */
	int reason; /* drop: reason from the event, -1 when no event came */
};

struct outcome run_pkt(struct harness *h, enum hook hk, uint32_t ifindex, const void *pkt,
		       size_t len);

/* Packets of a counter key, summed over CPUs (0 when absent): counters.h. */
uint64_t counter_get(struct harness *h, uint32_t policy, uint16_t rule, uint8_t dir,
		     uint8_t verdict);
uint64_t counter_bytes(struct harness *h, uint32_t policy, uint16_t rule, uint8_t dir,
		       uint8_t verdict);

/* A drop reason's name (include/npbpf/datapath.h); 0 "pass", < 0 "no event". */
const char *reason_name(int r);

/*
 * Runs one packet and checks the verdict as one TAP line. want_pass: 1 pass,
 * 0 drop. why: for a drop the enum npbpf_drop_reason the event must carry;
 * for a pass an enum npbpf_allow_reason whose counter must move (0: any).
 */
bool expect(struct harness *h, enum hook hk, uint32_t ifindex, const void *pkt, size_t len,
	    int want_pass, int why, const char *what);

/* ---- Scenarios */

struct scen {
	const char *name;
	struct np_cluster c;
	struct compiled cp;
	bool loaded, compiled;
	struct fill_binding b[N_DEV];
	size_t nb;
};

/* Load and compile; the first pods with an address (not hostNetwork) are
 * bound to devices in cluster order, the rest are peers only, as pods on
 * other nodes. 0 or -1 (reported as a diagnostic). s must be zeroed. */
int scen_load_buffer(struct scen *s, const struct harness *h, const char *name,
		     const char *yaml);
int scen_load_dir(struct scen *s, const struct harness *h, const char *name, char *dir);
void scen_free(struct scen *s);
/* Writes every map for s as generation 0 with revision rev, events on. */
int scen_fill(struct scen *s, struct harness *h, uint32_t rev);
uint32_t scen_ifindex(const struct scen *s, const struct np_pod *p);
const struct np_addr *pod_addr(const struct np_pod *p, int family);

/* An address from its text; a bad one is reported as a diagnostic and
 * gives the all-zero address. */
struct np_addr test_addr(const char *text);

/* ---- Flows and their packets */

/* A flow as its opener sends it. proto IPPROTO_ICMP stands for echo in
 * either family; sport is then the echo identifier. */
struct flow {
	struct np_addr a, b;
	uint8_t proto;
	uint16_t sport, dport;
};

/* A flow with a source port (or echo id) no other flow of this run has, so
 * flows never meet in conntrack. */
struct flow mkflow(struct harness *h, const struct np_addr *a, const struct np_addr *b,
		   uint8_t proto, uint16_t dport);
uint8_t icmp_proto(int family);
/* The packet spec of a flow's packet: the opener's (reply false) or the
 * replier's, with TCP flags. */
void spec_for(struct pkt_spec *s, const struct flow *f, bool reply, uint8_t tcp_flags);
/* The conntrack key of f as its opener sent it, seen from dir. */
struct npbpf_ct_key flow_ct_key(const struct flow *f, uint8_t dir);
/* The opener's first packet: SYN, a datagram, an echo request. */
size_t pkt_open(const struct flow *f, uint8_t *buf);
/* A later packet of the opener with TCP flags. */
size_t pkt_fwd(const struct flow *f, uint8_t flags, uint8_t *buf);
/* A reply: TCP flags, a datagram back, an echo reply. */
size_t pkt_reply(const struct flow *f, uint8_t flags, uint8_t *buf);
/* Sends a whole frame out of ifname (AF_PACKET, raw): the real veth tests'
 * way in. Returns 0 or a negative errno. */
int send_frame(const char *ifname, const void *frame, size_t len);

/* ---- The engine's side */

/* verdict_flow() for f between pod pa (or NULL: an address) and pb. */
void engine_flow(const struct scen *s, const struct np_pod *pa, const struct flow *f,
		 const struct np_pod *pb, struct flow_verdict *v);
bool engine_isolated(const struct scen *s, const struct np_pod *p, enum np_dir dir);

/* ---- The parts (matrix.c, features.c) */

/* Every bound pod x peer x family x (protocol, port) of s, both hooks,
 * against the engine: one TAP line. */
void matrix_run(struct harness *h, struct scen *s);
/* One check per datapath feature on a purpose-built cluster. */
void features_run(struct harness *h);
/* What a hostile pod can send (hardening.c). */
void hardening_run(struct harness *h);
/* The new-pod window: unknown pods of the segment, pending pods (window.c). */
void window_run(struct harness *h);
/* A denied flood judged once: the denial cache, per-endpoint counters, XDP
 * mode judging once (flood.c). */
void flood_run(struct harness *h);
/* The parser's fast path gives the general parser's result (parsecheck.c). */
void parsecheck_run(struct harness *h);

#endif
