/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's state, shared by its files (agent.c: the loop; agent_queue.c:
 * what the reflector threads hand over; agent_metrics.c: the metrics;
 * agent_report.c: the state file status reads). */
#ifndef NPBPF_AGENT_INT_H
#define NPBPF_AGENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "agent_cni.h"
#include "agent_fast.h"
#include "agent_store.h"
#include "agent_sync.h"
#include "kube_client.h"
#include "kube_config.h"
#include "metrics.h"
#include "netdisc.h"
#include "reflector.h"

struct http_server;
struct loader;

/* A pod veth of this node. */
struct agent_veth {
	struct nd_veth nd;
	bool attached;
	char *pod;	   /* "ns/name" bound at the last sync, or NULL */
	double next_query; /* when to ask for its addresses again (unbound ones) */
};

/* Handed over by the reflector threads under mu. */
struct agent_queue {
	pthread_mutex_t mu;
	int wake_fd; /* eventfd: the loop polls it */
	struct kube_event **ev;
	size_t n, cap;
	bool synced[KUBE_N_KINDS]; /* a complete list arrived (sticky) */
	char rv[KUBE_N_KINDS][128];
	uint64_t relists[KUBE_N_KINDS];
};

struct agent_metric_ids {
	int fast, fast_mismatch, verdicts, map_entries, map_capacity, identities, endpoints, veths, api_events,
		relists, sync_seconds, latency, last_rv, ready, sync_writes, sync_errors, objects;
};

struct agent {
	const struct agent_opts *o;
	struct kube_config cfg;
	struct kube_client *kc;
	struct reflector *refl[KUBE_N_KINDS];
	struct agent_queue q;
	struct agent_store store;
	struct netdisc *nd;
	struct agent_veth *veths;
	size_t n_veths, cap_veths;
	struct np_addr *node_addrs;
	size_t n_node_addrs;
	struct loader *l;
	struct metrics *m;
	struct agent_metric_ids mid;
	struct http_server *http;

	/* Read by the HTTP thread. */
	_Atomic double alive_at; /* the loop's last turn (monotonic seconds) */
	atomic_bool ready;
	atomic_bool maps_open; /* l is set: the HTTP thread may read the counters */
	pthread_mutex_t why_mu;
	char not_ready[256];

	/* Pod changes since the last sync, for the incremental path: what each
	 * pod was before (moved out of the store) and its key. */
	struct pod_change {
		struct manifest_object old; /* MANIFEST_NONE: the pod is new */
		char *ns, *name;
		char *source; /* old's np_loc points into it */
	} *changes;
	size_t n_changes, cap_changes;
	bool need_full;	      /* something only a compile handles changed */
	struct fast_index fast;
	struct agent_cni cni;
	double reconcile_at;  /* a full sync checks the incremental writes then; 0: none */
	double fast_at;	      /* the last incremental apply (monotonic seconds) */
	double reconcile_by;  /* the check runs by then even without a quiet second */
	double event_at;      /* the last event that changed the store */
	double trim_at;	      /* free heap goes back to the system then, if idle; 0: none */
	struct agent_maps maps; /* what the maps hold, kept between syncs */
	bool reread;	      /* something besides this agent may have written them */
	bool check_kept;      /* the next sync reads them and compares with maps */
	bool pods_dirty;      /* more than policies changed since the last full sync */
	uint64_t fast_applied, fast_mismatch;

	/* resourceVersions per kind: as of the last events taken from the queue,
	 * and as of the last sync that applied them (what status and the
	 * metrics report: the maps hold everything up to it). */
	char taken_rv[KUBE_N_KINDS][128], applied_rv[KUBE_N_KINDS][128];
	double report_at; /* the state file is due again (bookmarks moved rv) */

	/* The loop's own. */
	bool all_synced, first_sync_done;
	uint64_t n_events[KUBE_N_KINDS][KUBE_N_EVENT_TYPES];
	double pending_since; /* first unapplied change, 0 when none */
	double *pending_t;    /* receive times of the unapplied events */
	uint8_t *pending_kind;
	size_t n_pending, cap_pending;
	struct agent_sync_out last;
	int last_err;
	double last_sync_at; /* realtime seconds */
	uint64_t syncs, sync_failures;
};

/* agent_queue.c */
int agent_queue_init(struct agent_queue *q);
void agent_queue_free(struct agent_queue *q);
void agent_queue_sink(struct agent *a, struct reflector_sink *sink);
/* Moves the queued events to *ev (caller frees the array and events). */
void agent_queue_take(struct agent_queue *q, struct kube_event ***ev, size_t *n,
		      bool synced[KUBE_N_KINDS], char rv[KUBE_N_KINDS][128]);

/* agent_metrics.c */
int agent_metrics_init(struct agent *a);
/* Map fill and verdict counters, read from the pinned maps. */
void agent_metrics_refresh(struct agent *a);
int agent_metrics_render(void *ctx, char **body, size_t *len);

/* agent_report.c: the state file for `npbpf status`. */
void agent_report_write(struct agent *a);

double agent_now(void); /* CLOCK_MONOTONIC seconds */

#endif /* NPBPF_AGENT_INT_H */
