/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loader: opens the BPF object (skeleton npbpf.skel.h), creates its maps
 * or adopts the ones pinned by an earlier run, pins maps and programs under
 * one bpffs directory, creates the userspace-only maps (pinned.h), and
 * attaches the programs to pod veths (TC, optionally XDP).
 *
 * Adoption is what makes an agent restart invisible to packets: maps of the
 * same layout (NPBPF_LAYOUT_VERSION in npbpf_meta) are reused as they are, so
 * the programs already attached keep enforcing the same state, and
 * attaching again replaces each filter in place (same handle and priority)
 * instead of removing and re-adding it.
 *
 * One process at a time may hold a pin directory (an exclusive flock on it):
 * two agents, or an agent and a lab, writing the same maps would undo each
 * other's syncs. `npbpf status` only reads and takes no lock.
 */
#ifndef NPBPF_LOADER_H
#define NPBPF_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "pinned.h"

/* Our TC filters: a fixed handle and priority, so a new agent replaces the
 * old agent's filter atomically and status can recognise ours. */
#define LOADER_TC_HANDLE 0x6e70u /* "np" */
#define LOADER_TC_PRIORITY 1u

#define LOADER_DEFAULT_EVENTS_PER_SEC 100u

struct npbpf_bpf;

struct loader_opts {
	const char *pin_dir;     /* NULL: PINNED_DEFAULT_DIR */
	bool maps_only;          /* create or adopt the maps; load no program */
	bool replace;            /* pinned maps of another layout: remove them, not fail */
	uint32_t cfg_flags;      /* npbpf_config.flags (NPBPF_CFG_*) */
	uint32_t events_per_sec; /* 0: LOADER_DEFAULT_EVENTS_PER_SEC */
};

/* One hook this loader attached, and what it created to do so. */
struct loader_attach {
	uint32_t ifindex;
	bool tc;             /* our filters on ingress and egress */
	bool created_clsact; /* the clsact qdisc did not exist before us */
	bool xdp;
	uint32_t xdp_flags;
};

struct loader {
	char pin_dir[4096];
	struct npbpf_bpf *skel;     /* the object (maps_only: programs not loaded) */
	int fds[PIN_N];             /* every pinned map; owned by skel or by us */
	int prog_fds[PIN_N_PROGS];  /* -1 with maps_only */
	bool adopted;               /* the maps existed and were reused */
	uint32_t n_created;         /* maps created by this open */
	int lock_fd;                /* the pin directory, flock()ed */
	int rcu_outer_fd, rcu_inner_fd; /* map-in-map used for grace periods */
	struct loader_attach *att;
	size_t n_att, cap_att;
};

/*
 * Opens the object, creates or adopts the maps, pins everything, and makes
 * npbpf_config's flags and rate limit what opts say (writing only when they
 * differ). Without maps_only the programs are loaded and pinned too (a pinned
 * program of an earlier run is replaced; its attachments stay until
 * loader_attach_tc replaces them). Returns 0 and *out, or -errno (logged):
 * -EBUSY when another process holds the directory, -EEXIST when pinned maps
 * have another layout and opts->replace is not set.
 */
int loader_open(const struct loader_opts *opts, struct loader **out);

/* Closes everything this process holds. Pins and attachments stay: the
 * datapath keeps enforcing without a running agent. NULL is fine. */
void loader_free(struct loader *l);

/* Attaches npbpf_from_pod at TC ingress and npbpf_to_pod at TC egress of the
 * host-side veth ifindex, creating the clsact qdisc when missing and
 * replacing a filter of ours already there. 0 or -errno (logged). */
int loader_attach_tc(struct loader *l, uint32_t ifindex);
/* Removes our two filters, and the clsact qdisc if this loader created it.
 * A filter that is not there is fine. 0 or -errno (logged). */
int loader_detach_tc(struct loader *l, uint32_t ifindex);

/* The same attach with program fds of the caller's (the CNI plugin, which
 * opens the pinned programs with bpf_obj_get and has no loader): clsact
 * created when missing (*created_clsact says so; may be NULL), our filters
 * (LOADER_TC_HANDLE, LOADER_TC_PRIORITY) added or replaced; an fd < 0
 * leaves that direction alone (the bridge hook is egress only). 0 or -errno
 * (logged). */
int loader_tc_attach_fds(uint32_t ifindex, int from_pod_fd, int to_pod_fd,
			 bool *created_clsact);
/* Removes our two filters from ifindex without a loader (the qdisc stays).
 * A filter or device that is not there is fine. 0 or -errno (logged). */
int loader_tc_detach_ifindex(uint32_t ifindex);

/* Attaches npbpf_xdp_from_pod to ifindex: native mode, or generic (skb)
 * mode when the driver has none and native_only is false. 0 or -errno. */
int loader_attach_xdp(struct loader *l, uint32_t ifindex, bool native_only);
/* Removes our XDP program from ifindex if it is still the one attached. */
int loader_detach_xdp(struct loader *l, uint32_t ifindex);

/*
 * The conntrack map of the endpoint at ifindex (an LRU of
 * NPBPF_CT_PER_ENDPOINT entries inside npbpf_ct): created and added when
 * missing, kept when there. Called before the endpoint record is written, so
 * a packet that finds the endpoint finds its map. 0 or -errno (logged).
 */
int loader_ct_ensure(struct loader *l, uint32_t ifindex);
/* Removes the endpoint's conntrack map (its entries go with it); called
 * after the endpoint record is deleted. Not there is fine. */
int loader_ct_remove(struct loader *l, uint32_t ifindex);
/* The same two on a bare npbpf_ct map fd (tests fill maps without a loader). */
int ct_map_ensure(int outer_fd, uint32_t ifindex);
int ct_map_remove(int outer_fd, uint32_t ifindex);
/* A new fd (the caller closes it) of the conntrack map of ifindex, or
 * -ENOENT when the endpoint has none, or -errno. Not logged. */
int ct_map_fd(int outer_fd, uint32_t ifindex);

/* Returns once every BPF program that was running when it was called has
 * finished (an RCU grace period), so none can still use a value read
 * before. 0 or -errno. */
int loader_wait_programs(struct loader *l);

/* Removes the pin directory and everything in it (tests, lab teardown).
 * Attached programs keep running with their maps until detached. */
int loader_unpin(struct loader *l);

/* TC program ids attached (by anyone, with our handle and priority) on
 * ifindex: ingress and egress, 0 where none. And the XDP program id. 0 or
 * -errno. */
int loader_query_tc(uint32_t ifindex, uint32_t *ingress_id, uint32_t *egress_id);
int loader_query_xdp(uint32_t ifindex, uint32_t *prog_id, uint8_t *mode);

/* Routes libbpf's messages through log.h (warnings as warnings, the rest
 * as debug). Called by loader_open; idempotent. */
void loader_route_libbpf_log(void);

#endif /* NPBPF_LOADER_H */
