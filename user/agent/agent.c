/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's loop. Threads: one reflector per kind (API connections, in the
 * network namespace the agent started in, which for a hostNetwork pod is
 * the node's and reaches the API server), the HTTP server's, and this one,
 * which owns the store, discovery and the maps, and works in the node's
 * network namespace (--node-netns: the lab's node; else where it started).
 *
 * Order of one change: an event is queued by its reflector, the loop moves
 * it into the store and waits for more (batch_due: until they pause, at most
 * batch_ms), then compiles the store and lets the map sync write the
 * difference; a pod change the incremental path can apply alone is applied
 * at once (try_fast_now). Nothing is written before every kind has been
 * listed once: a partial store would isolate or open pods on half the
 * truth.
 */
#include "agent.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"
#include "http_server.h"
#include "loader.h"
#include "log.h"
#include "vec.h"

double agent_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_not_ready(struct agent *a, const char *why)
{
	pthread_mutex_lock(&a->why_mu);
	snprintf(a->not_ready, sizeof(a->not_ready), "%s", why);
	pthread_mutex_unlock(&a->why_mu);
	atomic_store(&a->ready, false);
}

/* ---- HTTP handlers (the server's thread) */

static bool healthy(void *ctx, char *why, size_t len)
{
	struct agent *a = ctx;
	double age = agent_now() - atomic_load(&a->alive_at);

	/* The loop turns at least every second; 30 s without a turn is a
	 * loop stuck in a syscall or a deadlock. */
	if (age > 30) {
		snprintf(why, len, "the agent's loop has not run for %.0f s\n", age);
		return false;
	}
	return true;
}

static bool ready(void *ctx, char *why, size_t len)
{
	struct agent *a = ctx;

	if (atomic_load(&a->ready))
		return true;
	pthread_mutex_lock(&a->why_mu);
	snprintf(why, len, "%s\n", a->not_ready);
	pthread_mutex_unlock(&a->why_mu);
	return false;
}

/* ---- this node's addresses (the host identity) */

static int read_node_addrs(struct agent *a)
{
	struct ifaddrs *ifa, *i;
	size_t cap = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		struct np_addr ad = { 0 };
		struct np_addr *slot;

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			ad.family = 4;
			ad.plen = 32;
			memcpy(ad.bytes, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const uint8_t *b = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr.s6_addr;

			if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
				continue; /* link-local: the datapath treats it apart */
			ad.family = 6;
			ad.plen = 128;
			memcpy(ad.bytes, b, 16);
		} else {
			continue;
		}
		if ((ad.family == 4 && ad.bytes[0] == 127) ||
		    (ad.family == 6 && !memcmp(ad.bytes, in6addr_loopback.s6_addr, 16)))
			continue;
		slot = VEC_PUSH(a->node_addrs, a->n_node_addrs, cap);
		if (!slot) {
			freeifaddrs(ifa);
			return -ENOMEM;
		}
		*slot = ad;
	}
	freeifaddrs(ifa);
	return 0;
}

/* ---- veths */

static struct agent_veth *veth_find(struct agent *a, uint32_t ifindex)
{
	for (size_t i = 0; i < a->n_veths; i++)
		if (a->veths[i].nd.ifindex == ifindex)
			return &a->veths[i];
	return NULL;
}

/* Attaches at once: a veth nobody knows drops everything (no endpoint
 * record) until the sync binds it to its pod. */
static int veth_attach(struct agent *a, struct agent_veth *v)
{
	int err = loader_attach_tc(a->l, v->nd.ifindex);

	if (!err && a->o->xdp)
		err = loader_attach_xdp(a->l, v->nd.ifindex, false);
	if (err) {
		log_error("%s: attaching the datapath failed: %s; its traffic is not enforced "
			  "(retrying)",
			  v->nd.name, strerror(-err));
		return err;
	}
	v->attached = true;
	return 0;
}

static void veth_add(struct agent *a, const struct nd_veth *nd)
{
	struct agent_veth *v = veth_find(a, nd->ifindex);

	if (!v) {
		v = VEC_PUSH(a->veths, a->n_veths, a->cap_veths);
		if (!v) {
			log_error("%s: out of memory", nd->name);
			return;
		}
	}
	v->nd = *nd;
	if (!v->attached)
		veth_attach(a, v);
	a->pending_since = a->pending_since ? a->pending_since : agent_now();
	a->need_full = true;
	/* npbpf-cni removes a stale endpoint record on ADD and the pod's on
	 * DEL: the maps are read again rather than trusted as last synced. */
	a->reread = true;
	a->pods_dirty = true;
}

static void veth_remove(struct agent *a, uint32_t ifindex)
{
	struct agent_veth *v = veth_find(a, ifindex);

	if (!v)
		return;
	if (v->pod)
		log_info("pod %s: endpoint %s removed", v->pod, v->nd.name);
	agent_cni_forget(&a->cni, ifindex);
	free(v->pod);
	*v = a->veths[--a->n_veths];
	a->pending_since = a->pending_since ? a->pending_since : agent_now();
	a->need_full = true;
	a->reread = true;
	a->pods_dirty = true;
}

static int rescan(struct agent *a)
{
	struct nd_veth *found = NULL;
	size_t n = 0;
	int err = nd_scan(a->nd, &found, &n);

	if (err) {
		log_error("agent: listing the node's veths failed: %s", strerror(-err));
		return err;
	}
	/* Gone ones first, then every one found (new or refreshed). */
	for (size_t i = 0; i < a->n_veths;) {
		bool still = false;

		for (size_t j = 0; j < n && !still; j++)
			still = found[j].ifindex == a->veths[i].nd.ifindex;
		if (still)
			i++;
		else
			veth_remove(a, a->veths[i].nd.ifindex);
	}
	for (size_t j = 0; j < n; j++)
		veth_add(a, &found[j]);
	free(found);
	return 0;
}

static void on_link(void *arg, bool added, uint32_t ifindex, const char *name)
{
	struct agent *a = arg;

	if (!added) {
		veth_remove(a, ifindex);
		return;
	}
	struct nd_veth nd;

	if (nd_query(a->nd, ifindex, &nd))
		return;
	log_debug("%s: new pod veth (ifindex %u)", name, ifindex);
	veth_add(a, &nd);
}

/* Veths without a pod yet: their addresses may have appeared (the CNI
 * assigns them after creating the veth). Asked again at a falling rate. */
static void requery_unbound(struct agent *a, bool now)
{
	double t = agent_now();

	for (size_t i = 0; i < a->n_veths; i++) {
		struct agent_veth *v = &a->veths[i];
		struct nd_veth nd;
		int err;

		if (!v->attached)
			veth_attach(a, v);
		if (v->pod || (!now && t < v->next_query))
			continue;
		v->next_query = t + 0.5;
		err = nd_query(a->nd, v->nd.ifindex, &nd);
		if (err == -ENOENT) {
			veth_remove(a, v->nd.ifindex);
			i--;
			continue;
		}
		if (err)
			continue;
		if (nd.n_addrs != v->nd.n_addrs ||
		    memcmp(nd.addrs, v->nd.addrs, nd.n_addrs * sizeof(nd.addrs[0]))) {
			v->nd = nd;
			a->pending_since = a->pending_since ? a->pending_since : t;
			a->need_full = true;
			a->pods_dirty = true;
		}
	}
}

/* ---- events into the store */

static void pending_note(struct agent *a, double received, enum kube_kind k)
{
	if (a->n_pending == a->cap_pending) {
		size_t cap = a->cap_pending ? 2 * a->cap_pending : 256;
		double *t = realloc(a->pending_t, cap * sizeof(*t));
		uint8_t *kd;

		if (!t)
			return; /* only the latency histogram misses it */
		a->pending_t = t;
		kd = realloc(a->pending_kind, cap * sizeof(*kd));
		if (!kd)
			return;
		a->pending_kind = kd;
		a->cap_pending = cap;
	}
	a->pending_t[a->n_pending] = received;
	a->pending_kind[a->n_pending++] = (uint8_t)k;
}

static void changes_clear(struct agent *a)
{
	for (size_t i = 0; i < a->n_changes; i++) {
		manifest_object_free(&a->changes[i].old);
		free(a->changes[i].ns);
		free(a->changes[i].name);
		free(a->changes[i].source);
	}
	a->n_changes = 0;
}

/* Keeps what a pod was (its old object moves here) for the incremental
 * path; a pod changed twice in one batch takes the full path. */
static void note_pod_change(struct agent *a, struct kube_event *e, struct manifest_object *old)
{
	struct pod_change *c;

	for (size_t i = 0; i < a->n_changes; i++)
		if (!strcmp(a->changes[i].ns, e->ns) && !strcmp(a->changes[i].name, e->name))
			a->need_full = true;
	if (a->need_full)
		return;
	c = VEC_PUSH(a->changes, a->n_changes, a->cap_changes);
	if (!c) {
		a->need_full = true;
		return;
	}
	c->ns = strdup(e->ns);
	c->name = strdup(e->name);
	if (!c->ns || !c->name) {
		a->need_full = true;
		return;
	}
	c->old = *old;
	old->kind = MANIFEST_NONE;
	/* The old object's np_loc points into the event's source. */
	c->source = e->source;
	e->source = NULL;
}

static const char *const event_type_names[KUBE_N_EVENT_TYPES] = { "ADDED", "MODIFIED",
								  "DELETED" };

static void take_events(struct agent *a)
{
	struct kube_event **ev;
	bool synced[KUBE_N_KINDS];
	size_t n;

	agent_queue_take(&a->q, &ev, &n, synced, a->taken_rv);
	for (size_t i = 0; i < n; i++) {
		struct kube_event *e = ev[i];
		const char *labels[] = { kube_kind_name(e->kind), event_type_names[e->type] };
		int r;

		struct manifest_object old = { .kind = MANIFEST_NONE };

		metrics_add(a->m, a->mid.api_events, labels, 1);
		a->n_events[e->kind][e->type]++;
		r = store_apply(&a->store, e, &old);
		if (r > STORE_NONE && e->kind != KUBE_POLICIES)
			a->pods_dirty = true;
		if (r > STORE_NONE && e->kind == KUBE_PODS)
			note_pod_change(a, e, &old);
		else if (r > STORE_NONE)
			a->need_full = true;
		manifest_object_free(&old);
		if (r < 0) {
			log_error("agent: out of memory storing %s %s/%s", kube_kind_name(e->kind),
				  e->ns ? e->ns : "", e->name);
		} else if (r != STORE_NONE) {
			/* One line per policy change; the first list is summed up
			 * in one line instead (10,000 policies are not news). */
			if (e->kind == KUBE_POLICIES && a->first_sync_done)
				log_info("networkpolicy %s/%s %s", e->ns, e->name,
					 r == STORE_ADDED	? "added"
					 : r == STORE_REPLACED ? "changed"
							       : "removed");
			pending_note(a, e->received, e->kind);
			a->event_at = agent_now();
			if (!a->pending_since)
				a->pending_since = a->event_at;
		}
		kube_event_free(e);
	}
	free(ev);
	/* Nothing to apply (bookmarks, or events that changed nothing): the
	 * maps are as current as the newest resourceVersion. */
	if (a->first_sync_done && !a->pending_since && !a->last_err &&
	    memcmp(a->applied_rv, a->taken_rv, sizeof(a->applied_rv))) {
		memcpy(a->applied_rv, a->taken_rv, sizeof(a->applied_rv));
		if (!a->report_at)
			a->report_at = agent_now() + 1.0;
	}
	if (!a->all_synced) {
		bool all = true;

		for (int k = 0; k < KUBE_N_KINDS; k++)
			all = all && synced[k];
		if (all) {
			a->all_synced = true;
			a->need_full = true;
			a->pods_dirty = true;
			a->pending_since = a->pending_since ? a->pending_since : agent_now();
			log_info("listed %zu namespaces, %zu pods, %zu networkpolicies",
				 a->store.n[KUBE_NAMESPACES], a->store.n[KUBE_PODS],
				 a->store.n[KUBE_POLICIES]);
		}
	}
}

/* ---- sync */

/* The latency histogram and the pending list, after changes took effect. */
static void observe_pending(struct agent *a, double done)
{
	for (size_t i = 0; i < a->n_pending; i++) {
		const char *labels[] = { kube_kind_name((enum kube_kind)a->pending_kind[i]) };

		metrics_observe(a->m, a->mid.latency, labels, done - a->pending_t[i]);
	}
	a->n_pending = 0;
}


static void update_ready(struct agent *a)
{
	char why[256];

	if (!a->first_sync_done) {
		set_not_ready(a, "waiting for the first complete list of namespaces, pods and "
				 "networkpolicies");
		return;
	}
	if (a->last_err) {
		snprintf(why, sizeof(why), "the last sync failed: %s", strerror(-a->last_err));
		set_not_ready(a, why);
		return;
	}
	for (size_t i = 0; i < a->n_veths; i++) {
		if (!a->veths[i].attached) {
			snprintf(why, sizeof(why), "programs not attached to %s",
				 a->veths[i].nd.name);
			set_not_ready(a, why);
			return;
		}
	}
	if (a->last.local_waiting) {
		snprintf(why, sizeof(why), "%u local pods with addresses have no veth found yet",
			 a->last.local_waiting);
		set_not_ready(a, why);
		return;
	}
	atomic_store(&a->ready, true);
}

/* Above this RSS after a sync, free heap goes back to the system at once. */
#define AGENT_TRIM_NOW_BYTES (192ull << 20)

/* The process's resident set, or 0 when /proc cannot tell. */
static uint64_t rss_bytes(void)
{
	unsigned long long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int sync_now(struct agent *a)
{
	struct nd_veth *nds = calloc(a->n_veths + 1, sizeof(*nds));
	struct agent_sync_in in = {
		.store = &a->store,
		.node = a->o->node,
		.node_addrs = a->node_addrs,
		.n_node_addrs = a->n_node_addrs,
		.enforce_host = a->o->enforce_host,
		.fast = &a->fast,
		.hints = a->cni.hints,
		.n_hints = a->cni.n_hints,
	};
	struct agent_sync_out out;
	double done;
	uint64_t rss;
	int err;

	if (!nds)
		return -ENOMEM;
	requery_unbound(a, true);
	for (size_t i = 0; i < a->n_veths; i++)
		nds[i] = a->veths[i].nd;
	in.veths = nds;
	in.n_veths = a->n_veths;
	in.maps = &a->maps;
	in.reread = a->reread;
	in.check = a->check_kept;
	in.only_policies = !a->pods_dirty;
	err = agent_sync_full(a->l, &in, &out);
	if (out.reread)
		a->reread = a->check_kept = false;
	if (out.kept_diverged) {
		const char *none[] = { NULL };

		/* As an incremental step that left the maps other than a full
		 * sync wants them: the same counter. */
		a->fast_mismatch++;
		metrics_add(a->m, a->mid.fast_mismatch, none, 1);
		log_warn("the maps differed from the state the agent kept of them in %zu entries; "
			 "read afresh, this sync brings them over (please report this)",
			 out.kept_diverged);
	}
	if (!err)
		a->pods_dirty = false;
	done = agent_now();
	a->syncs++;
	if (err)
		a->sync_failures++;
	a->last_err = err;
	a->last_sync_at = wall_now();
	for (size_t i = 0; i < a->n_veths && out.veth_pod; i++) {
		struct agent_veth *v = &a->veths[i];
		char *p = out.veth_pod[i];

		if (p && (!v->pod || strcmp(v->pod, p)))
			log_info("pod %s: endpoint %s attached (ifindex %u)", p, v->nd.name,
				 v->nd.ifindex);
		free(v->pod);
		v->pod = p;
		out.veth_pod[i] = NULL;
	}
	agent_sync_out_free(&out, a->n_veths);
	{
		const char *none[] = { NULL };

		metrics_observe(a->m, a->mid.sync_seconds, none, out.total_ms / 1e3);
		metrics_add(a->m, a->mid.sync_writes, none, (double)sync_stats_writes(&out.st));
		if (err)
			metrics_add(a->m, a->mid.sync_errors, none, 1);
	}
	observe_pending(a, done);
	changes_clear(a);
	a->need_full = false;
	/* A failed sync is tried again in a second (its changes stay in the
	 * store; the map sync left the pods it could not bring over isolated). */
	a->pending_since = err ? done + 1.0 : 0;
	if (!err) {
		memcpy(a->applied_rv, a->taken_rv, sizeof(a->applied_rv));
		log_msg(sync_stats_writes(&out.st) || !a->first_sync_done ? LOG_INFO : LOG_DEBUG,
			"synced %u pods, %u policies, %u identities; %u of %u local pods bound; "
			"%llu map writes in %.1f ms (compile %.1f ms)",
			out.pods, out.policies, out.identities, out.local_bound, out.local_pods,
			(unsigned long long)sync_stats_writes(&out.st), out.total_ms, out.compile_ms);
		a->first_sync_done = true;
	}
	a->last = out;
	a->last.veth_pod = NULL;
	free(nds);
	/* A compile's temporaries (the view, the tables, the map images) are
	 * freed by now; their pages go back to the system, so the agent's RSS
	 * is what it holds between syncs, not its peak: at once when the
	 * process is big (a big cluster: its syncs take seconds, memory is
	 * what counts), else once no event came for a while (trim_due).
	 * Trimming after every sync made the next one fault all of its pages
	 * in again, a sixth of its time. */
	rss = rss_bytes();
	if (rss > AGENT_TRIM_NOW_BYTES) {
		malloc_trim(0);
		a->trim_at = 0;
	} else {
		a->trim_at = done + 1.0;
	}
	log_debug("RSS %.0f MB after the sync: free memory returned %s", (double)rss / 1048576,
		  a->trim_at ? "when idle" : "now");
	update_ready(a);
	agent_metrics_refresh(a);
	agent_report_write(a);
	return err;
}

/* Pod changes of other nodes' pods whose identities exist: ipcache writes
 * only (agent_fast.h). 1 when applied, else the full path must run. */
static int try_fast(struct agent *a)
{
	struct fast_change *ch;
	struct fast_stats st;
	const char *none[] = { NULL };
	double oldest;
	int r;

	if (a->need_full || !a->n_changes || !a->first_sync_done || a->last_err)
		return 0;
	ch = calloc(a->n_changes, sizeof(*ch));
	if (!ch)
		return 0;
	for (size_t i = 0; i < a->n_changes; i++) {
		struct pod_change *c = &a->changes[i];

		ch[i].old = c->old.kind == MANIFEST_POD ? &c->old.u.pod : NULL;
		ch[i].new = store_pod(&a->store, c->ns, c->name);
	}
	r = fast_apply(&a->fast, a->l, ch, a->n_changes, a->maps.valid ? &a->maps.st : NULL, &st);
	free(ch);
	if (r < 0 || st.mirror_stale)
		a->maps.valid = false;
	/* The maps' numbering input is worked out again at the next sync. */
	if (r == 1)
		a->maps.prior_valid = false;
	if (r != 1) {
		if (!r)
			log_debug("incremental path not taken: %s", st.why_not);
		return 0;
	}
	a->fast_at = agent_now();
	oldest = a->n_pending ? a->fast_at - a->pending_t[0] : 0;
	observe_pending(a, a->fast_at);
	memcpy(a->applied_rv, a->taken_rv, sizeof(a->applied_rv));
	a->fast_applied++;
	metrics_add(a->m, a->mid.fast, none, 1);
	log_debug("%zu pod changes applied incrementally: %u ipcache writes, %u removals; "
		  "%.1f ms after the first was received",
		  a->n_changes, st.ipc_put, st.ipc_del, oldest * 1e3);
	changes_clear(a);
	a->pending_since = 0;
	/* A full sync checks what was written: it must find nothing to do.
	 * Once per 5 s of incremental applies, not after each: under steady pod
	 * churn a check after every apply would be a full sync per apply. And
	 * in a quiet moment (reconcile_due): while it runs, the loop serves no
	 * event, so a pod added meanwhile would wait for the whole check. */
	if (!a->reconcile_at) {
		a->reconcile_at = a->fast_at + 5.0;
		a->reconcile_by = a->fast_at + 30.0;
	}
	agent_report_write(a);
	return 1;
}

/* Pod changes that may take the incremental path are applied as soon as
 * they arrive when the loop is idle (none applied within the batch window):
 * a lone pod add costs its ipcache writes, not a batch window. Under churn
 * they wait for the window and go as one batch (one revision bump). When
 * the path does not apply, the batch goes the full way at the window's end. */
static void try_fast_now(struct agent *a)
{
	double now = agent_now();

	if (a->need_full || !a->n_changes || !a->first_sync_done || a->last_err ||
	    now - a->fast_at < a->o->batch_ms / 1e3)
		return;
	if (!try_fast(a))
		a->need_full = true; /* it would refuse the bigger batch too */
}

/* When the pending changes are synced: once changes have paused for a third
 * of the batch window, or when the window is over. A lone change (the usual
 * case) waits 5 ms, not 15; a burst still goes as one batch. */
static double batch_due(const struct agent *a)
{
	double window = a->o->batch_ms / 1e3;
	double last = a->event_at > a->pending_since ? a->event_at : a->pending_since;
	double pause = last + window / 3;

	return pause < a->pending_since + window ? pause : a->pending_since + window;
}

/* When the free heap goes back to the system: 5 s without events after a
 * sync. A trim walks every free chunk (hundreds of ms with a big heap, on a
 * busy node more), and an event that comes meanwhile waits for it. */
static double trim_due(const struct agent *a)
{
	double quiet = a->event_at + 5.0;

	return quiet > a->trim_at ? quiet : a->trim_at;
}

/* When the check after incremental writes runs: 5 s after the first
 * unchecked apply at the earliest, once a second went by without events,
 * and after 30 s whatever comes. 0: none due. */
static double reconcile_due(const struct agent *a)
{
	double quiet = a->event_at + 1.0;

	if (!a->reconcile_at)
		return 0;
	if (quiet > a->reconcile_by)
		quiet = a->reconcile_by;
	return quiet > a->reconcile_at ? quiet : a->reconcile_at;
}

/* One batch of changes: the incremental path when it applies, else a
 * compile and map sync (which also covers any check still due). */
static int sync_batch(struct agent *a)
{
	if (try_fast(a))
		return 0;
	a->reconcile_at = 0;
	return sync_now(a);
}

/* The check after incremental writes, once nothing else is pending: a full
 * sync that must find the maps as it wants them. What it writes is what the
 * incremental path missed (for a moment the maps were wrong): counted,
 * logged, and repaired by this very sync. */
static void reconcile(struct agent *a)
{
	const char *none[] = { NULL };
	uint64_t writes;

	a->reconcile_at = 0;
	/* Against what the maps really hold, not the agent's idea of it,
	 * which is checked too. */
	a->check_kept = true;
	if (sync_now(a))
		return;
	writes = sync_stats_writes(&a->last.st);
	if (!writes)
		return;
	a->fast_mismatch++;
	metrics_add(a->m, a->mid.fast_mismatch, none, 1);
	log_warn("the incremental path left %llu map writes undone; the full sync made them "
		 "(please report this)",
		 (unsigned long long)writes);
}

/* ---- start and stop */

/* The bindings a previous agent made, from the pinned endpoint records: a
 * pod bound by npbpf-cni's announcement (whose addresses the API server may
 * not report yet) stays bound across a restart, as the maps already say. */
static void adopt_bindings(struct agent *a)
{
	for (size_t i = 0; i < a->n_veths; i++) {
		uint32_t ifindex = a->veths[i].nd.ifindex;
		struct npbpf_endpoint ep;
		struct npbpf_name owner;
		struct np_addr addrs[2];
		size_t n = 0;
		char *slash;

		if (bpf_map_lookup_elem(a->l->fds[PIN_ENDPOINT], &ifindex, &ep) ||
		    bpf_map_lookup_elem(a->l->fds[PIN_EPMETA], &ifindex, &owner))
			continue;
		owner.name[sizeof(owner.name) - 1] = '\0';
		slash = strchr(owner.name, '/');
		if (!slash)
			continue;
		*slash = '\0';
		if (ep.flags & NPBPF_EP_HAS_V4) {
			addrs[n] = (struct np_addr){ .family = 4, .plen = 32 };
			memcpy(addrs[n++].bytes, ep.addr4, 4);
		}
		if (ep.flags & NPBPF_EP_HAS_V6) {
			addrs[n] = (struct np_addr){ .family = 6, .plen = 128 };
			memcpy(addrs[n++].bytes, ep.addr6, 16);
		}
		if (agent_cni_hint(&a->cni, owner.name, slash + 1, ifindex, addrs, n))
			log_error("agent: out of memory adopting the binding of ifindex %u", ifindex);
	}
}

static int enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0) {
		err = -errno;
		log_error("--node-netns %s: %s", path, strerror(errno));
		return err;
	}
	if (setns(fd, CLONE_NEWNET)) {
		err = -errno;
		log_error("--node-netns %s: entering it failed: %s", path, strerror(errno));
	}
	close(fd);
	return err;
}

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked in every thread started after this, so only the fd sees
	 * them. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int start_api(struct agent *a)
{
	struct reflector_sink sink;
	int err;

	err = kube_config_load(a->o->kubeconfig, a->o->api_server, NULL, &a->cfg);
	if (err)
		return err;
	err = kube_client_new(&a->cfg, &a->kc);
	if (err) {
		log_error("agent: API client: %s", strerror(-err));
		return err;
	}
	log_info("API server %s (%s); node %s", a->cfg.server, a->cfg.source, a->o->node);
	agent_queue_sink(a, &sink);
	for (int k = 0; k < KUBE_N_KINDS; k++) {
		err = reflector_start(a->kc, (enum kube_kind)k, &a->o->reflector, &sink,
				      &a->refl[k]);
		if (err) {
			log_error("agent: starting the %s watch: %s", kube_kind_name(k),
				  strerror(-err));
			return err;
		}
	}
	return 0;
}

static void stop_all(struct agent *a)
{
	for (int k = 0; k < KUBE_N_KINDS; k++)
		reflector_stop(a->refl[k]);
	http_server_stop(a->http);
	kube_client_free(a->kc);
	kube_config_free(&a->cfg);
	agent_cni_close(&a->cni);
	nd_close(a->nd);
	/* Programs stay attached and maps pinned: the node keeps enforcing. */
	loader_free(a->l);
	store_free(&a->store);
	agent_queue_free(&a->q);
	for (size_t i = 0; i < a->n_veths; i++)
		free(a->veths[i].pod);
	free(a->veths);
	free(a->node_addrs);
	free(a->pending_t);
	free(a->pending_kind);
	changes_clear(a);
	free(a->changes);
	fast_index_free(&a->fast);
	agent_maps_free(&a->maps);
	metrics_free(a->m);
	pthread_mutex_destroy(&a->why_mu);
}

/* The identity of the endpoint on ifindex when it is pod ns/name's, else 0. */
static uint32_t endpoint_identity(void *arg, uint32_t ifindex, const char *ns, const char *name)
{
	struct agent *a = arg;
	struct npbpf_endpoint ep;
	struct npbpf_name owner;
	char want[sizeof(owner.name)];

	if (bpf_map_lookup_elem(a->l->fds[PIN_ENDPOINT], &ifindex, &ep) ||
	    bpf_map_lookup_elem(a->l->fds[PIN_EPMETA], &ifindex, &owner))
		return 0;
	snprintf(want, sizeof(want), "%s/%s", ns, name);
	owner.name[sizeof(owner.name) - 1] = '\0';
	return strcmp(owner.name, want) ? 0 : ep.identity;
}

/* npbpf-cni's announcements: look at the veth now (it may not have
 * reached us as a link event yet) and sync soon. */
static void cni_io(struct agent *a)
{
	struct cni_news news;

	agent_cni_io(&a->cni, &news);
	if (news.hints_changed) {
		struct nd_veth nd;

		if (!nd_query(a->nd, news.new_ifindex, &nd))
			veth_add(a, &nd);
		a->need_full = true;
		a->reread = true;
		a->pods_dirty = true;
		a->pending_since = a->pending_since ? a->pending_since : agent_now();
	}
}

static int loop(struct agent *a, int sig_fd)
{
	double last_scan = agent_now(), last_refresh = 0;

	for (;;) {
		struct pollfd p[3 + 257] = {
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = a->q.wake_fd, .events = POLLIN },
			{ .fd = nd_events_fd(a->nd), .events = POLLIN },
		};
		int cni_fds[257];
		size_t n_cni = agent_cni_fds(&a->cni, cni_fds, 257);
		double now = agent_now(), due = now + 1.0, cni_due = agent_cni_next_deadline(&a->cni);
		int timeout;

		for (size_t i = 0; i < n_cni; i++)
			p[3 + i] = (struct pollfd){ .fd = cni_fds[i], .events = POLLIN };
		if (cni_due && cni_due < due)
			due = cni_due;

		atomic_store(&a->alive_at, now);
		if (a->all_synced && a->pending_since)
			due = batch_due(a);
		else if (a->reconcile_at && reconcile_due(a) < due)
			due = reconcile_due(a);
		if (a->trim_at && trim_due(a) < due)
			due = trim_due(a);
		if (a->report_at && a->report_at < due)
			due = a->report_at;
		timeout = due <= now ? 0 : (int)ceil((due - now) * 1e3);
		if (poll(p, 3 + n_cni, timeout) < 0 && errno != EINTR) {
			log_error("agent: poll: %s", strerror(errno));
			return 1;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				log_info("%s: stopping; programs stay attached and maps pinned, "
					 "the node keeps enforcing the last state",
					 strsignal((int)si.ssi_signo));
			return a->first_sync_done && !a->last_err ? 0 : 1;
		}
		if (p[2].revents & POLLIN) {
			int err = nd_events_read(a->nd, on_link, a);

			if (err == -ENOBUFS)
				rescan(a);
		}
		if (p[1].revents & POLLIN) {
			take_events(a);
			if (a->all_synced)
				try_fast_now(a);
		}
		if (n_cni)
			cni_io(a);
		now = agent_now();
		if (now - last_scan >= 0.5) {
			requery_unbound(a, false);
			last_scan = now;
		}
		if (a->all_synced && a->pending_since &&
		    now >= batch_due(a)) {
			int err = sync_batch(a);

			if (a->o->once)
				return err ? 1 : 0;
		} else if (a->reconcile_at && !a->pending_since && now >= reconcile_due(a)) {
			reconcile(a);
		} else if (a->trim_at && !a->pending_since && now >= trim_due(a)) {
			a->trim_at = 0;
			malloc_trim(0);
			log_debug("free memory returned to the system in %.1f ms",
				  (agent_now() - now) * 1e3);
		}
		if (a->cni.n_w)
			agent_cni_answer(&a->cni, agent_now(), endpoint_identity, a);
		if (a->report_at && now >= a->report_at) {
			a->report_at = 0;
			agent_report_write(a);
		}
		if (now - last_refresh >= 5) {
			agent_metrics_refresh(a);
			last_refresh = now;
		}
	}
}

int agent_run(const struct agent_opts *o)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct loader_opts lo = {
		.pin_dir = o->pin_dir,
		.cfg_flags = (o->bridged ? NPBPF_CFG_BRIDGED : 0) |
			     (o->enforce_host ? NPBPF_CFG_ENFORCE_HOST : 0),
	};
	int sig_fd = -1, status = 1, err;

	if (!a) {
		log_error("agent: out of memory");
		return 1;
	}
	a->o = o;
	a->q.wake_fd = -1;
	pthread_mutex_init(&a->why_mu, NULL);
	store_init(&a->store);
	fast_index_init(&a->fast);
	agent_maps_init(&a->maps);
	a->cni.listen_fd = -1;
	set_not_ready(a, "starting");
	atomic_store(&a->alive_at, agent_now());
	sig_fd = signal_fd();
	if (sig_fd < 0) {
		log_error("agent: signalfd: %s", strerror(errno));
		goto out;
	}
	if (agent_queue_init(&a->q) || agent_metrics_init(a)) {
		log_error("agent: out of memory");
		goto out;
	}
	/* Threads that talk to the API server and serve metrics are started
	 * here, before this thread enters the node's namespace: they stay in
	 * ours (a hostNetwork agent's, which reaches the API server). */
	if (start_api(a))
		goto out;
	if (o->listen && *o->listen && strcmp(o->listen, "off")) {
		struct http_handlers h = {
			.metrics = agent_metrics_render,
			.healthy = healthy,
			.ready = ready,
			.ctx = a,
		};

		if (http_server_start(o->listen, &h, &a->http))
			goto out;
		log_info("serving /metrics, /healthz and /readyz on %s", o->listen);
	}
	if (o->node_netns && enter_netns(o->node_netns))
		goto out;
	err = read_node_addrs(a);
	if (err) {
		log_error("agent: reading this node's addresses: %s", strerror(-err));
		goto out;
	}
	err = loader_open(&lo, &a->l);
	if (err)
		goto out;
	atomic_store(&a->maps_open, true);
	log_info("datapath %s in %s", a->l->adopted ? "adopted" : "loaded",
		 o->pin_dir ? o->pin_dir : PINNED_DEFAULT_DIR);
	err = nd_open(&a->nd);
	if (err)
		goto out;
	if (rescan(a))
		goto out;
	log_info("%zu pod veths on this node", a->n_veths);
	if (strcmp(o->cni_socket ? o->cni_socket : AGENT_DEFAULT_CNI_SOCKET, "off")) {
		err = agent_cni_open(&a->cni, o->cni_socket ? o->cni_socket : AGENT_DEFAULT_CNI_SOCKET);
		if (err)
			goto out;
	}
	adopt_bindings(a);
	set_not_ready(a, "waiting for the first complete list of namespaces, pods and "
			 "networkpolicies");
	/* status must not show the previous agent's state as this one's. */
	agent_report_write(a);
	status = loop(a, sig_fd);
out:
	if (sig_fd >= 0)
		close(sig_fd);
	stop_all(a);
	free(a);
	return status;
}
