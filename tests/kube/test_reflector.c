/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reflector against the fake API server (tests/apiserver/apiserver.py,
 * started per test in a temporary directory): streaming and paginated lists,
 * watches, relists after 410 and expired continue tokens with the deletions
 * of the gap, 429/500 with Retry-After and backoff, bodies cut into single
 * bytes, stalled watches, token rotation and invalid objects.
 */
#include "kube_harness.h"
#include "log.h"

static struct kube_client *cli;
static struct reflector *refl[KUBE_N_KINDS];

static void setup(void)
{
	const char *lv = getenv("NPBPF_TEST_LOG"); /* 2 info, 3 debug */

	if (lv)
		log_set_level((enum log_level)atoi(lv));
	h_sink_reset();
	memset(refl, 0, sizeof(refl));
	cli = NULL;
}

static void teardown(void)
{
	int k;

	for (k = 0; k < KUBE_N_KINDS; k++)
		reflector_stop(refl[k]);
	memset(refl, 0, sizeof(refl));
	kube_client_free(cli);
	cli = NULL;
	h_server_stop();
}

TestSuite(reflector, .init = setup, .fini = teardown, .timeout = 90);

static struct reflector_opts opts_default(void)
{
	return (struct reflector_opts){
		.page_size = 500,
		.watch_timeout_s = 30,
		.backoff_min_s = 0.2,
		.backoff_max_s = 2,
		.stall_margin_s = 30,
	};
}

static void start(enum kube_kind k, const struct reflector_opts *o)
{
	struct reflector_sink s = h_sink_ops();

	if (!cli)
		cli = h_client();
	cr_assert_eq(reflector_start(cli, k, o, &s, &refl[k]), 0);
}

/* ---- waits ---- */

struct w {
	enum kube_kind k;
	int n, type;
	const char *key, *live;
};

static bool p_synced(void *a)
{
	struct w *w = a;

	return h_synced(w->k) >= w->n;
}

static bool p_count(void *a)
{
	struct w *w = a;

	return h_count(w->k, w->type, w->key) >= w->n;
}

static bool p_relist(void *a)
{
	struct w *w = a;

	return h_relists(w->k, (enum reflector_relist_reason)w->type) >= w->n;
}

static bool p_live(void *a)
{
	struct w *w = a;
	char *l = h_live(w->k);
	bool ok = !strcmp(l, w->live);

	free(l);
	return ok;
}

static void wait_synced(enum kube_kind k, int n, double secs)
{
	struct w w = {.k = k, .n = n};

	cr_assert(h_wait(p_synced, &w, secs), "%s: not synced %d time(s) within %.0f s",
		  kube_kind_name(k), n, secs);
}

static void wait_event(enum kube_kind k, enum kube_event_type t, const char *key, int n,
		       double secs)
{
	struct w w = {.k = k, .type = (int)t, .key = key, .n = n};

	cr_assert(h_wait(p_count, &w, secs), "%s: no %d event(s) of type %d for %s within %.0f s",
		  kube_kind_name(k), n, (int)t, key, secs);
}

static void wait_relist(enum kube_kind k, enum reflector_relist_reason why, int n, double secs)
{
	struct w w = {.k = k, .type = (int)why, .n = n};

	cr_assert(h_wait(p_relist, &w, secs), "%s: no relist (%s) within %.0f s", kube_kind_name(k),
		  reflector_relist_reason_name(why), secs);
}

static void assert_live(enum kube_kind k, const char *want, double secs)
{
	struct w w = {.k = k, .live = want};
	char *got;

	if (h_wait(p_live, &w, secs))
		return;
	got = h_live(k);
	cr_assert_fail("%s: live objects are %s, want %s", kube_kind_name(k), got, want);
}

/* n pods default/p1..pN */
static char *seed_pods(int n, bool with_ns)
{
	char *objs[64], name[32];
	int i, m = 0;

	if (with_ns) {
		objs[m++] = h_ns("default");
		objs[m++] = h_ns("prod");
	}
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		objs[m++] = h_pod("default", name, "web", i);
	}
	return h_list(objs, (size_t)m);
}

static const char *keys_p(int n)
{
	static char buf[1024];
	char *names[64], tmp[32];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(tmp, sizeof(tmp), "default/p%d", i + 1);
		names[i] = strdup(tmp);
	}
	qsort(names, (size_t)n, sizeof(*names), h_cmp_str);
	buf[0] = 0;
	for (i = 0; i < n; i++) {
		if (i)
			strcat(buf, ",");
		strcat(buf, names[i]);
		free(names[i]);
	}
	return buf;
}

/* Requests for res whose query contains what. */
static int count_requests(const char *res, const char *verb, const char *what, int status)
{
	struct h_req req[512];
	size_t n = h_requests(res, req, 512), i;
	int c = 0;

	for (i = 0; i < n; i++)
		if ((!verb || !strcmp(req[i].verb, verb)) &&
		    (!what || strstr(req[i].query, what)) && (!status || req[i].status == status))
			c++;
	return c;
}

/* ---- tests ---- */

Test(reflector, initial_sync_streaming)
{
	struct reflector_opts o = opts_default();
	char *objs[8];
	char *seed;
	double t;
	int k;

	objs[0] = h_ns("a");
	objs[1] = h_ns("b");
	objs[2] = h_pod("a", "p1", "web", 1);
	objs[3] = h_pod("a", "p2", "db", 2);
	objs[4] = h_pod("b", "p3", "web", 3);
	objs[5] = h_policy("a", "np1", 80);
	seed = h_list(objs, 6);
	h_server_start(seed, NULL);
	free(seed);
	for (k = 0; k < KUBE_N_KINDS; k++)
		start((enum kube_kind)k, &o);
	for (k = 0; k < KUBE_N_KINDS; k++)
		wait_synced((enum kube_kind)k, 1, 20);
	assert_live(KUBE_NAMESPACES, "a,b", 0);
	assert_live(KUBE_PODS, "a/p1,a/p2,b/p3", 0);
	assert_live(KUBE_POLICIES, "a/np1", 0);
	/* exactly the seeded objects, all ADDED, all before synced */
	cr_assert_eq(h_count(KUBE_NAMESPACES, -1, NULL), 2);
	cr_assert_eq(h_count(KUBE_PODS, -1, NULL), 3);
	cr_assert_eq(h_count(KUBE_PODS, KUBE_ADDED, NULL), 3);
	cr_assert_eq(h_count(KUBE_POLICIES, -1, NULL), 1);
	pthread_mutex_lock(&sink.mu);
	for (size_t i = 0; i < sink.n; i++) {
		cr_assert_eq(sink.ev[i].seq_synced, 0, "%s arrived after synced", sink.ev[i].key);
		cr_assert_neq(sink.ev[i].mk, MANIFEST_NONE, "%s not decoded", sink.ev[i].key);
	}
	pthread_mutex_unlock(&sink.mu);
	for (k = 0; k < KUBE_N_KINDS; k++) {
		cr_assert_eq(h_relists((enum kube_kind)k, RELIST_INITIAL), 1);
		cr_assert_eq(h_synced((enum kube_kind)k), 1);
	}
	/* by streaming list, no LIST */
	cr_assert_geq(count_requests("pods", "watch", "sendInitialEvents=true", 200), 1);
	cr_assert_eq(count_requests("pods", "list", NULL, 0), 0);
	/* stopping aborts the open watches promptly */
	t = h_now();
	for (k = 0; k < KUBE_N_KINDS; k++) {
		reflector_stop(refl[k]);
		refl[k] = NULL;
	}
	cr_assert_lt(h_now() - t, 5.0, "stopping took %.1f s", h_now() - t);
}

Test(reflector, watch_delivers_changes)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(3, true);
	char *pod;

	h_server_start(seed, NULL);
	free(seed);
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	pod = h_pod("default", "p9", "new", 9);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_ADDED, "default/p9", 1, 10);
	pod = h_pod("default", "p1", "changed", 1);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_MODIFIED, "default/p1", 1, 10);
	h_ctl("delete Pod default p2");
	wait_event(KUBE_PODS, KUBE_DELETED, "default/p2", 1, 10);
	assert_live(KUBE_PODS, "default/p1,default/p3,default/p9", 5);
	cr_assert_eq(h_synced(KUBE_PODS), 1);
	cr_assert_eq(h_count(KUBE_PODS, KUBE_DELETED, NULL), 1);
}

Test(reflector, paginated_list)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(7, true);
	char *pod;

	h_server_start(seed, "{\"watchlist\": \"off\"}");
	free(seed);
	o.page_size = 2;
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	assert_live(KUBE_PODS, keys_p(7), 0);
	cr_assert_eq(h_count(KUBE_PODS, -1, NULL), 7);
	/* refused once (422), then 4 pages of 2 */
	cr_assert_eq(count_requests("pods", "watch", "sendInitialEvents=true", 422), 1);
	cr_assert_eq(count_requests("pods", "list", "limit=2", 200), 4);
	cr_assert_eq(count_requests("pods", "list", "continue=", 200), 3);
	/* the watch from the list's resourceVersion works */
	pod = h_pod("default", "p8", "web", 8);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_ADDED, "default/p8", 1, 10);
	/* never again a streaming list */
	cr_assert_eq(count_requests("pods", "watch", "sendInitialEvents=true", 0), 1);
}

Test(reflector, streaming_list_ignored_falls_back)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(4, false);

	h_server_start(seed, "{\"watchlist\": \"ignore\", \"bookmark_interval_s\": 0.3}");
	free(seed);
	o.page_size = 3;
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	assert_live(KUBE_PODS, keys_p(4), 0);
	cr_assert_eq(count_requests("pods", "list", "limit=3", 200), 2);
	cr_assert_eq(h_count(KUBE_PODS, KUBE_DELETED, NULL), 0);
}

Test(reflector, continue_expired_relists)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(7, false);

	h_server_start(seed, "{\"watchlist\": \"off\", \"continue_ttl_s\": 0}");
	free(seed);
	o.page_size = 2;
	start(KUBE_PODS, &o);
	wait_relist(KUBE_PODS, RELIST_EXPIRED, 1, 20);
	cr_assert_eq(h_synced(KUBE_PODS), 0);
	h_faults("{\"continue_ttl_s\": null}");
	wait_synced(KUBE_PODS, 1, 20);
	assert_live(KUBE_PODS, keys_p(7), 0);
	cr_assert_eq(h_count(KUBE_PODS, KUBE_DELETED, NULL), 0);
	cr_assert_geq(count_requests("pods", "list", "continue=", 410), 1);
}

Test(reflector, gone_relists_and_delivers_deletions)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(4, false);
	size_t i;

	h_server_start(seed, NULL);
	free(seed);
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	/* the watch sees nothing while p2 is deleted and history compacted; a
	 * second change (of another kind) leaves a gap after any version the
	 * watch had reached; the watches are dropped while still stalled, so
	 * none of before the compaction delivers the deletion as an event */
	h_faults("{\"stall_watches\": true}");
	h_ctl("delete Pod default p2");
	{
		char *ns = h_ns("gap");

		h_apply(ns);
		free(ns);
	}
	h_ctl("compact");
	h_faults("{\"drop_watches\": true}");
	usleep(500 * 1000);
	h_faults("{\"stall_watches\": false}");
	wait_relist(KUBE_PODS, RELIST_GONE, 1, 20);
	wait_synced(KUBE_PODS, 2, 20);
	assert_live(KUBE_PODS, "default/p1,default/p3,default/p4", 0);
	cr_assert_eq(h_count(KUBE_PODS, KUBE_DELETED, "default/p2"), 1);
	/* delivered by the relist, before its synced */
	pthread_mutex_lock(&sink.mu);
	for (i = 0; i < sink.n; i++)
		if (sink.ev[i].type == KUBE_DELETED)
			cr_assert_eq(sink.ev[i].seq_synced, 1);
	pthread_mutex_unlock(&sink.mu);
	/* the relist delivered known objects again, as MODIFIED */
	cr_assert_geq(h_count(KUBE_PODS, KUBE_MODIFIED, "default/p1"), 1);
}

Test(reflector, retry_after_429_honoured)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(2, false);
	struct h_req req[64];
	size_t n;

	h_server_start(seed, "{\"status_429\": 1, \"retry_after_s\": 1}");
	free(seed);
	o.backoff_min_s = 0.05;
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	n = h_requests("pods", req, 64);
	cr_assert_geq(n, 2);
	cr_assert_eq(req[0].status, 429);
	cr_assert_eq(req[1].status, 200);
	cr_assert_geq(req[1].t - req[0].t, 1.0, "next request %.3f s after the 429",
		      req[1].t - req[0].t);
	cr_assert_lt(req[1].t - req[0].t, 5.0);
	assert_live(KUBE_PODS, keys_p(2), 0);
}

Test(reflector, server_errors_back_off)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(3, false);
	struct h_req req[64];
	size_t n;
	double step = 0.2;
	int i;

	h_server_start(seed, "{\"status_500\": 3}");
	free(seed);
	o.backoff_min_s = 0.2;
	o.backoff_max_s = 5;
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	n = h_requests("pods", req, 64);
	cr_assert_geq(n, 4);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(req[i].status, 500);
		/* exponential: 0.2, 0.4, 0.8 s at least (jitter only adds) */
		cr_assert_geq(req[i + 1].t - req[i].t, step * 0.98, "gap %d: %.3f s", i,
			      req[i + 1].t - req[i].t);
		cr_assert_lt(req[i + 1].t - req[i].t, step * 1.5 + 2.0);
		step *= 2;
	}
	cr_assert_eq(req[3].status, 200);
	assert_live(KUBE_PODS, keys_p(3), 0);
	cr_assert_eq(h_synced(KUBE_PODS), 1);
}

Test(reflector, watch_errors_resume_from_rv)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(2, false);
	char *pod;

	h_server_start(seed, NULL);
	free(seed);
	o.watch_timeout_s = 1;
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	/* the next two watches fail with 500; the open one is dropped so that
	 * a next one is sure to come */
	h_faults("{\"fault_match\": \"watch .*resourceVersion=\", \"status_500\": 2, "
		 "\"drop_watches\": true}");
	pod = h_pod("default", "p5", "web", 5);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_ADDED, "default/p5", 1, 15);
	pod = h_pod("default", "p6", "web", 6);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_ADDED, "default/p6", 1, 15);
	cr_assert_eq(h_synced(KUBE_PODS), 1, "a 500 on a watch must not relist");
	cr_assert_geq(count_requests("pods", "watch", "resourceVersion=", 500), 1);
	assert_live(KUBE_PODS, "default/p1,default/p2,default/p5,default/p6", 0);
}

Test(reflector, split_bytes_streaming)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(5, false);
	char *pod;

	h_server_start(seed, "{\"split_bytes\": true}");
	free(seed);
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 30);
	assert_live(KUBE_PODS, keys_p(5), 0);
	cr_assert_eq(h_count(KUBE_PODS, -1, NULL), 5);
	pod = h_pod("default", "p6", "web", 6);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_ADDED, "default/p6", 1, 15);
}

Test(reflector, split_bytes_paginated)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(5, false);

	h_server_start(seed, "{\"split_bytes\": true, \"watchlist\": \"off\", \"gzip\": false}");
	free(seed);
	o.page_size = 2;
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 30);
	assert_live(KUBE_PODS, keys_p(5), 0);
	cr_assert_eq(h_count(KUBE_PODS, -1, NULL), 5);
}

Test(reflector, stalled_watch_resumes)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(2, false);
	char *pod;
	int before;

	h_server_start(seed, NULL);
	free(seed);
	o.watch_timeout_s = 1;
	o.stall_margin_s = 1;
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	before = count_requests("pods", "watch", "resourceVersion=", 0);
	h_faults("{\"stall_watches\": true}");
	sleep(4);
	/* silent watches were given up (or ended) and resumed from rv */
	cr_assert_geq(count_requests("pods", "watch", "resourceVersion=", 0), before + 1);
	h_faults("{\"stall_watches\": false}");
	pod = h_pod("default", "p3", "web", 3);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_ADDED, "default/p3", 1, 10);
	cr_assert_eq(h_synced(KUBE_PODS), 1, "a stalled watch must not relist");
}

Test(reflector, rotated_token_reread)
{
	struct reflector_opts o = opts_default();
	char *seed = seed_pods(2, false);
	char *pod;

	h_server_start(seed, NULL);
	free(seed);
	o.watch_timeout_s = 1;
	start(KUBE_PODS, &o);
	wait_synced(KUBE_PODS, 1, 20);
	h_ctl("rotate-token --grace 0");
	pod = h_pod("default", "p3", "web", 3);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_ADDED, "default/p3", 1, 15);
	/* the old token was refused, the new one read and used */
	sleep(3); /* a re-watch after the rotation */
	cr_assert_geq(count_requests("pods", "watch", NULL, 401), 1);
	cr_assert_eq(h_synced(KUBE_PODS), 1);
	cr_assert_eq(h_relists(KUBE_PODS, RELIST_ERROR), 0);
	pod = h_pod("default", "p4", "web", 4);
	h_apply(pod);
	free(pod);
	wait_event(KUBE_PODS, KUBE_ADDED, "default/p4", 1, 15);
}

/* The kind a delivered event of key carried (the last one). */
static enum manifest_kind delivered_kind(const char *key)
{
	enum manifest_kind mk = MANIFEST_NONE;

	pthread_mutex_lock(&sink.mu);
	for (size_t i = 0; i < sink.n; i++)
		if (!strcmp(sink.ev[i].key, key) && sink.ev[i].type != KUBE_DELETED)
			mk = sink.ev[i].mk;
	pthread_mutex_unlock(&sink.mu);
	return mk;
}

/* A NetworkPolicy npbpf cannot read is delivered as a deny-all of its
 * namespace (fail-closed), never skipped; other kinds' invalid objects are
 * skipped. */
Test(reflector, invalid_policy_fails_closed)
{
	struct reflector_opts o = opts_default();
	char *objs[4], *seed, *p;

	objs[0] = h_policy("a", "good1", 80);
	objs[1] = h_policy("a", "bad", 70000);
	objs[2] = h_policy("a", "good2", 443);
	seed = h_list(objs, 3);
	h_server_start(seed, NULL);
	free(seed);
	start(KUBE_POLICIES, &o);
	wait_synced(KUBE_POLICIES, 1, 20);
	assert_live(KUBE_POLICIES, "a/bad,a/good1,a/good2", 0);
	cr_assert_eq(delivered_kind("a/bad"), MANIFEST_POLICY);
	/* by watch too */
	p = h_policy("a", "bad2", 0);
	h_apply(p);
	free(p);
	p = h_policy("a", "good3", 8080);
	h_apply(p);
	free(p);
	wait_event(KUBE_POLICIES, KUBE_ADDED, "a/good3", 1, 10);
	wait_event(KUBE_POLICIES, KUBE_ADDED, "a/bad2", 1, 10);
	cr_assert_eq(delivered_kind("a/bad2"), MANIFEST_POLICY);
	/* and its deletion lifts it */
	h_ctl("delete NetworkPolicy a bad");
	wait_event(KUBE_POLICIES, KUBE_DELETED, "a/bad", 1, 10);
	assert_live(KUBE_POLICIES, "a/bad2,a/good1,a/good2,a/good3", 0);
}

Test(reflector, kubeconfig_ca_data)
{
	struct reflector_opts o = opts_default();
	struct reflector_sink s = h_sink_ops();
	struct kube_config cfg;
	char *seed = seed_pods(1, true);

	h_server_start(seed, NULL);
	free(seed);
	/* the server's kubeconfig: certificate-authority-data and a token */
	cr_assert_eq(kube_config_load(h_path("kubeconfig"), NULL, NULL, &cfg), 0);
	cr_assert_not_null(cfg.ca_data);
	cr_assert_eq(kube_client_new(&cfg, &cli), 0);
	kube_config_free(&cfg);
	cr_assert_eq(reflector_start(cli, KUBE_NAMESPACES, &o, &s, &refl[KUBE_NAMESPACES]), 0);
	wait_synced(KUBE_NAMESPACES, 1, 20);
	assert_live(KUBE_NAMESPACES, "default,prod", 0);
}
