/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LIST + WATCH of one kind, as client-go's reflector does it, on a thread of
 * its own: a streaming list (sendInitialEvents) or a paginated LIST, then a
 * WATCH from its resourceVersion with bookmarks and a jittered timeout;
 * resourceVersion advanced by every event; a 410 relists, and the relist is
 * diffed against what was delivered so objects deleted in the gap are
 * delivered as deleted; 429/5xx honour Retry-After, then back off
 * exponentially with jitter; a silent watch is dropped and resumed. Bodies
 * are parsed as a stream (json_stream.h) and every object is decoded and
 * validated by manifest_decode: an invalid one is logged with its
 * namespace/name and skipped.
 *
 * The sink's callbacks run on the reflector's thread: they must lock what
 * they share.
 */
#ifndef NPBPF_REFLECTOR_H
#define NPBPF_REFLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "kube_client.h"
#include "manifest.h"

enum kube_kind {
	KUBE_NAMESPACES,
	KUBE_PODS,
	KUBE_POLICIES,
	KUBE_N_KINDS,
};

/* "namespaces", "pods", "networkpolicies" */
const char *kube_kind_name(enum kube_kind k);

/*
 * Every object of a (re)list is delivered: as KUBE_ADDED when this reflector
 * never delivered its key, as KUBE_MODIFIED when it did (a relist after a
 * 410 re-delivers what the agent has; both are upserts). Keys delivered
 * before and absent from the new list follow as KUBE_DELETED (obj
 * MANIFEST_NONE), then synced(). Watch events keep their API type.
 */
enum kube_event_type {
	KUBE_ADDED,
	KUBE_MODIFIED,
	KUBE_DELETED,
	KUBE_N_EVENT_TYPES,
};

/* One change, owned by whoever receives it (kube_event_free). */
struct kube_event {
	enum kube_kind kind;
	enum kube_event_type type;
	char *ns;   /* NULL for a Namespace */
	char *name;
	/* The decoded object (ADDED, MODIFIED; DELETED when it could be
	 * decoded, else MANIFEST_NONE: a deletion seen by a relist, or of an
	 * object that fails validation). An object that fails validation is
	 * logged and never delivered as ADDED or MODIFIED. */
	struct manifest_object obj;
	char *source;	 /* "pods default/web-1" for np_loc.file: owned, outlives obj */
	double received; /* CLOCK_MONOTONIC seconds when the bytes arrived */
};

void kube_event_free(struct kube_event *ev);

enum reflector_relist_reason {
	RELIST_INITIAL,
	RELIST_GONE,	/* 410 Gone: the watch's resourceVersion was compacted */
	RELIST_EXPIRED, /* a continue token expired during a paginated list */
	RELIST_ERROR,	/* the list or watch failed otherwise */
	RELIST_N_REASONS,
};
const char *reflector_relist_reason_name(enum reflector_relist_reason r);

struct reflector_sink {
	/* An object changed. Takes ownership of ev. */
	void (*event)(void *ctx, struct kube_event *ev);
	/* Every object of a complete (re)list has been delivered (and objects
	 * gone since the previous list delivered as deleted): the kind is in
	 * sync up to rv. */
	void (*synced)(void *ctx, enum kube_kind k, const char *rv);
	/* A (re)list starts from scratch, and why: also each time a list is
	 * started again after it failed (RELIST_ERROR) or its continue token
	 * expired (RELIST_EXPIRED). A failed page that is simply asked for
	 * again (429, 5xx, transport) is not a new list. */
	void (*relist)(void *ctx, enum kube_kind k, enum reflector_relist_reason why);
	/* The resourceVersion advanced (events and bookmarks). May be NULL. */
	void (*progress)(void *ctx, enum kube_kind k, const char *rv);
	void *ctx;
};

struct reflector_opts {
	uint32_t page_size;	  /* LIST limit; 0: 500 */
	uint32_t watch_timeout_s; /* timeoutSeconds base, jittered up to 2x; 0: 300 */
	double backoff_min_s;	  /* 0: 0.8 */
	double backoff_max_s;	  /* 0: 30 */
	/* Never try sendInitialEvents. Without it, a streaming list is tried
	 * first and paginated LISTs used for good once the server refuses it
	 * (a 4xx other than 401/410/429), sends a bookmark before the list's
	 * end marker (it ignored sendInitialEvents), or ends the stream twice
	 * in a row before the marker. */
	bool no_streaming_list;
	/* A watch silent past its timeout + this is dropped and resumed from
	 * its resourceVersion; a LIST page silent for 60 s (or this, when
	 * longer) is asked for again. 0: 30 */
	double stall_margin_s;
};

struct reflector;

/* Starts the thread. 0 or -errno. */
int reflector_start(struct kube_client *c, enum kube_kind k, const struct reflector_opts *opts,
		    const struct reflector_sink *sink, struct reflector **out);
/* Stops the thread (aborts a running request: within about a second, the
 * period of libcurl's progress callback) and frees r. NULL is fine. */
void reflector_stop(struct reflector *r);

#endif /* NPBPF_REFLECTOR_H */
