/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's metric families, and the ones read from the pinned maps. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"
#include "counters.h"
#include "loader.h"
#include "log.h"

static const double latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					  0.1,	 0.25,	 0.5,	1,    2.5,   5 };
/* The per-endpoint families: kept here, not in struct agent_metric_ids,
 * one agent per process. -1 until declared. */
static int mid_ep_packets = -1, mid_ep_bytes = -1;

static const double sync_buckets[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
				       0.25,  0.5,   1,	   2.5,	  5,	10 };

int agent_metrics_init(struct agent *a)
{
	struct metrics *m;
	struct agent_metric_ids *id = &a->mid;
	int err = metrics_new(&a->m);

	if (err)
		return err;
	m = a->m;
#define DECLARE(field, ...)                                                                    \
	do {                                                                                   \
		id->field = metrics_declare(m, __VA_ARGS__);                                   \
		if (id->field < 0)                                                             \
			return id->field;                                                      \
	} while (0)
	DECLARE(verdicts, "npbpf_verdicts_total",
		"Packets judged by the datapath, by direction (ingress: to the pod), verdict "
		"and reason.",
		METRIC_COUNTER, "direction,verdict,reason", NULL, 0);
	DECLARE(map_entries, "npbpf_map_entries", "Entries in each pinned map.", METRIC_GAUGE,
		"map", NULL, 0);
	DECLARE(map_capacity, "npbpf_map_capacity", "max_entries of each pinned map.",
		METRIC_GAUGE, "map", NULL, 0);
	DECLARE(identities, "npbpf_identities", "Numbered identities of the last compile.",
		METRIC_GAUGE, "", NULL, 0);
	DECLARE(endpoints, "npbpf_local_endpoints",
		"Pods of this node bound to their veth (enforced by their own policy).",
		METRIC_GAUGE, "", NULL, 0);
	DECLARE(veths, "npbpf_local_veths",
		"Pod veths on this node with the datapath attached (bound or not).", METRIC_GAUGE,
		"", NULL, 0);
	DECLARE(objects, "npbpf_objects", "Objects the agent holds, by kind.", METRIC_GAUGE,
		"kind", NULL, 0);
	DECLARE(api_events, "npbpf_api_events_total",
		"Objects received from the API server, by kind and event type (every object "
		"of a list counts as ADDED).",
		METRIC_COUNTER, "kind,type", NULL, 0);
	DECLARE(relists, "npbpf_relists_total", "Lists of a kind, and why.", METRIC_COUNTER,
		"kind,reason", NULL, 0);
	DECLARE(sync_seconds, "npbpf_sync_duration_seconds",
		"One sync: compile and map writes.", METRIC_HISTOGRAM, "", sync_buckets,
		sizeof(sync_buckets) / sizeof(sync_buckets[0]));
	DECLARE(latency, "npbpf_event_to_enforced_seconds",
		"From an event's arrival to the end of the sync that enforced it.",
		METRIC_HISTOGRAM, "kind", latency_buckets,
		sizeof(latency_buckets) / sizeof(latency_buckets[0]));
	DECLARE(sync_writes, "npbpf_sync_map_writes_total", "Map writes made by syncs.",
		METRIC_COUNTER, "", NULL, 0);
	DECLARE(sync_errors, "npbpf_sync_errors_total", "Syncs that failed.", METRIC_COUNTER,
		"", NULL, 0);
	DECLARE(last_rv, "npbpf_last_resource_version",
		"The last resourceVersion seen per kind (the value is 1; the version is the rv "
		"label).",
		METRIC_GAUGE, "kind,rv", NULL, 0);
	DECLARE(fast, "npbpf_incremental_applies_total",
		"Batches of other nodes' pod changes written as ipcache updates without a "
		"compile.",
		METRIC_COUNTER, "", NULL, 0);
	DECLARE(fast_mismatch, "npbpf_incremental_mismatches_total",
		"Full syncs after incremental ones that still had to write (should stay 0).",
		METRIC_COUNTER, "", NULL, 0);
	DECLARE(ready, "npbpf_ready", "1 when /readyz answers ok.", METRIC_GAUGE, "", NULL, 0);
#undef DECLARE
	mid_ep_packets = metrics_declare(
		m, "npbpf_endpoint_packets_total",
		"Packets judged at each pod's veth, by pod (namespace/name; empty for a veth "
		"nobody named), host-side interface index, direction (egress: sent by the pod) "
		"and verdict: which pod a flood comes from or is dropped at.",
		METRIC_COUNTER, "pod,ifindex,direction,verdict", NULL, 0);
	if (mid_ep_packets < 0)
		return mid_ep_packets;
	mid_ep_bytes = metrics_declare(m, "npbpf_endpoint_bytes_total",
				       "Bytes of npbpf_endpoint_packets_total.", METRIC_COUNTER,
				       "pod,ifindex,direction,verdict", NULL, 0);
	if (mid_ep_bytes < 0)
		return mid_ep_bytes;
	return 0;
}

/* Short names for the reason label. */
static const char *drop_slug(unsigned int r)
{
	static const char *const n[] = {
		[NPBPF_DROP_POLICY] = "policy",	      [NPBPF_DROP_SPOOFED] = "spoofed",
		[NPBPF_DROP_UNPARSEABLE] = "unparseable", [NPBPF_DROP_VLAN] = "vlan",
		[NPBPF_DROP_NO_CT] = "no_conntrack",   [NPBPF_DROP_FRAG] = "fragment",
		[NPBPF_DROP_NO_ENDPOINT] = "no_endpoint", [NPBPF_DROP_CONTROL] = "control",
		[NPBPF_DROP_NOT_IP] = "not_ip",	      [NPBPF_DROP_TUNNEL] = "tunnel",
		[NPBPF_DROP_PENDING] = "pending",     [NPBPF_DROP_UNKNOWN_POD] = "unknown_pod",
	};

	return r < sizeof(n) / sizeof(n[0]) && n[r] ? n[r] : "other";
}

static const char *allow_slug(unsigned int r)
{
	static const char *const n[] = {
		[NPBPF_ALLOW_UNISOLATED] = "unisolated", [NPBPF_ALLOW_CT] = "conntrack",
		[NPBPF_ALLOW_RELATED] = "related",	 [NPBPF_ALLOW_FRAG] = "fragment",
		[NPBPF_ALLOW_CONTROL] = "control",	 [NPBPF_ALLOW_PENDING_HOST] = "pending_host",
	};

	return r < sizeof(n) / sizeof(n[0]) && n[r] ? n[r] : "other";
}

static void refresh_verdicts(struct agent *a)
{
	struct counters c;
	struct counter_row *rows = NULL;
	size_t n = 0;

	if (counters_open(&c, a->l->fds[PIN_COUNTERS], a->l->fds[PIN_FIXCNT]))
		return;
	if (!counters_collect(&c, &rows, &n)) {
		/* Under the registry's lock: a scrape between the reset and the
		 * adds would see counters fall (a counter reset to Prometheus). */
		metrics_lock(a->m);
		metrics_reset(a->m, a->mid.verdicts);
		for (size_t i = 0; i < n; i++) {
			const struct npbpf_counter_key *k = &rows[i].key;
			bool drop = k->verdict == NPBPF_VERDICT_DROP;
			const char *reason = !npbpf_counter_is_fixed(k->policy, k->verdict)
						     ? (drop ? "policy" : "rule")
					     : drop ? drop_slug(k->rule)
						    : allow_slug(k->rule);
			const char *labels[] = { k->dir == NPBPF_DIR_INGRESS ? "ingress" : "egress",
						 drop ? "drop" : "allow", reason };

			metrics_add(a->m, a->mid.verdicts, labels, (double)rows[i].sum.packets);
		}
		metrics_unlock(a->m);
	}
	free(rows);
	counters_close(&c);
}

/* Per-endpoint counters (counters.h), named by the endpoint names the sync
 * and npbpf-cni keep (npbpf_epmeta). Veths whose counters aged out of the
 * maps leave the output. */
static void refresh_endpoints(struct agent *a)
{
	struct ep_counter_row *rows = NULL;
	size_t n = 0;

	if (mid_ep_packets < 0 ||
	    counters_collect_endpoints(a->l->fds[PIN_EPCNT], a->l->fds[PIN_EPCNT_OV], &rows, &n))
		return;
	metrics_lock(a->m);
	metrics_reset(a->m, mid_ep_packets);
	metrics_reset(a->m, mid_ep_bytes);
	for (size_t i = 0; i < n; i++) {
		struct npbpf_name pod;
		char ifindex[16];

		if (a->l->fds[PIN_EPMETA] < 0 ||
		    bpf_map_lookup_elem(a->l->fds[PIN_EPMETA], &rows[i].ifindex, &pod))
			pod.name[0] = '\0';
		pod.name[sizeof(pod.name) - 1] = '\0';
		snprintf(ifindex, sizeof(ifindex), "%u", rows[i].ifindex);
		for (int d = 0; d < 2; d++) {
			for (int v = 0; v < 2; v++) {
				const char *labels[] = {
					pod.name, ifindex,
					d == NPBPF_DIR_INGRESS ? "ingress" : "egress",
					v == NPBPF_VERDICT_DROP ? "drop" : "allow"
				};

				metrics_add(a->m, mid_ep_packets, labels,
					    (double)rows[i].sum.c[d][v].packets);
				metrics_add(a->m, mid_ep_bytes, labels,
					    (double)rows[i].sum.c[d][v].bytes);
			}
		}
	}
	metrics_unlock(a->m);
	free(rows);
}

/* Entries of a hash map, counted key by key (maps of this size take a few
 * ms; done every few seconds, not per packet). */
static long count_entries(int fd, uint32_t key_size)
{
	uint8_t k[256], next[256];
	void *prev = NULL;
	long n = 0;

	if (key_size > sizeof(k))
		return -1;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, key_size);
		prev = k;
		n++;
	}
	return n;
}

/* Map fill, counted key by key: about a syscall per entry, so it runs when
 * /metrics is scraped (the HTTP thread), never in the loop, where it held
 * syncs up by 100 ms at 10,000 pods. */
static void refresh_map_entries(struct agent *a)
{
	for (int m = 0; m < PIN_N; m++) {
		const struct pin_spec *sp = &pin_specs[m];
		const char *labels[] = { sp->name };
		long n;

		if (m == PIN_CT || m == PIN_EVENTS || m == PIN_FIXCNT || m == PIN_EPCNT ||
		    m == PIN_CONFIG || m == PIN_META || a->l->fds[m] < 0)
			continue;
		n = count_entries(a->l->fds[m], sp->key_size);
		if (n >= 0)
			metrics_set(a->m, a->mid.map_entries, labels, (double)n);
		metrics_set(a->m, a->mid.map_capacity, labels, (double)sp->max_entries);
	}
}

void agent_metrics_refresh(struct agent *a)
{
	const char *none[] = { NULL };

	metrics_set(a->m, a->mid.identities, none, a->last.identities);
	metrics_set(a->m, a->mid.endpoints, none, a->last.local_bound);
	metrics_set(a->m, a->mid.veths, none, (double)a->n_veths);
	metrics_set(a->m, a->mid.ready, none, atomic_load(&a->ready) ? 1 : 0);
	metrics_lock(a->m);
	metrics_reset(a->m, a->mid.last_rv);
	for (int k = 0; k < KUBE_N_KINDS; k++) {
		char rv[128];
		const char *kl[] = { kube_kind_name(k) };

		pthread_mutex_lock(&a->q.mu);
		snprintf(rv, sizeof(rv), "%s", a->applied_rv[k]);
		pthread_mutex_unlock(&a->q.mu);
		const char *labels[] = { kube_kind_name(k), rv };

		metrics_set(a->m, a->mid.last_rv, labels, 1);
		metrics_set(a->m, a->mid.objects, kl, (double)a->store.n[k]);
	}
	metrics_unlock(a->m);
}

int agent_metrics_render(void *ctx, char **body, size_t *len)
{
	struct agent *a = ctx;

	/* Verdict counters as of now: the map fds stay open until the HTTP
	 * server has stopped (stop_all), and the registry takes its lock. */
	if (atomic_load(&a->maps_open)) {
		refresh_verdicts(a);
		refresh_endpoints(a);
		refresh_map_entries(a);
	}

	return metrics_render(a->m, body, len);
}
