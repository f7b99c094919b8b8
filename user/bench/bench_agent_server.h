/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench agent's replay API server: plain HTTP on 127.0.0.1 (libmicrohttpd,
 * a thread per connection), serving pre-rendered JSON. It holds the three
 * kinds the agent reads (Namespaces, Pods, NetworkPolicies), each object as
 * its JSON text with metadata.resourceVersion, and answers:
 *  - LIST with ?limit and ?continue (an offset into the kind's objects);
 *  - a streaming list (?watch=1&sendInitialEvents=true) with 400, so the
 *    agent falls back to paginated LIST, unless streaming is enabled: then
 *    every object as ADDED, the k8s.io/initial-events-end bookmark, and the
 *    watch goes on;
 *  - WATCH from ?resourceVersion: the events pushed since that version, then
 *    each new one as it is pushed (the connection's thread waits on a
 *    condition variable), a bookmark after 1 s of silence, and the end of
 *    the stream at timeoutSeconds or when the server stops.
 * Requests must carry "Authorization: Bearer TOKEN".
 */
#ifndef NPBPF_BENCH_AGENT_SERVER_H
#define NPBPF_BENCH_AGENT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ba_kind { BA_NS, BA_POD, BA_POL, BA_N_KINDS };

struct ba_server;

/* What the server spent, for the report (all kinds). */
struct ba_server_stats {
	uint64_t list_requests, watch_requests, refused;
	double list_build_s;  /* building LIST bodies (under the lock) */
	double first_list_at; /* CLOCK_MONOTONIC of the first LIST/streaming request, 0: none */
	double last_list_at;  /* ... of the last LIST page or end bookmark handed out */
	uint32_t lists_done;  /* last pages (no continue) and end bookmarks handed out */
};

/* Listens on 127.0.0.1, an ephemeral port. 0 or -errno (logged). */
int ba_server_start(const char *token, bool streaming, struct ba_server **out);
uint16_t ba_server_port(const struct ba_server *s);
/* Ends every watch and stops. NULL is fine. */
void ba_server_stop(struct ba_server *s);

/* Sets an object (no event: before the agent lists). key: "ns/name", or
 * "name" for a namespace. json: the object, "metadata":{ first in it, and
 * no resourceVersion (the server inserts it). 0 or -ENOMEM. */
int ba_server_put(struct ba_server *s, enum ba_kind k, const char *key, const char *json,
		  size_t len);

/* An object changes (type "ADDED", "MODIFIED", "DELETED"): the store and
 * every watch of the kind. *t0 (CLOCK_MONOTONIC seconds) is taken just
 * before the event is handed to the watches. 0 or -ENOMEM. */
int ba_server_event(struct ba_server *s, enum ba_kind k, const char *type, const char *key,
		    const char *json, size_t len, double *t0);

/* The object's JSON as stored (without resourceVersion), malloc'd, or NULL. */
char *ba_server_get(struct ba_server *s, enum ba_kind k, const char *key);

void ba_server_stats(struct ba_server *s, struct ba_server_stats *st);
/* Zeroes the counters (a new agent is about to list). */
void ba_server_stats_reset(struct ba_server *s);
/* Open watch connections of a kind. */
unsigned ba_server_watchers(struct ba_server *s, enum ba_kind k);

double ba_now(void); /* CLOCK_MONOTONIC seconds */

#endif /* NPBPF_BENCH_AGENT_SERVER_H */
