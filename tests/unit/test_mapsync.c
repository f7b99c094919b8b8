/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync without a kernel: desired tables, diffs, and the order of writes,
 * run against an in-memory fake of the maps that checks at every single write
 * what a packet arriving right then would see.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "manifest.h"
#include "mapsync.h"

#define NS(n) "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " n "\n---\n"

#define POD(ns, p, app, ip)                                                                        \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " p "\n  namespace: " ns                    \
	"\n  labels:\n    app: " app "\nspec:\n  containers:\n  - name: c\n    ports:\n"           \
	"    - {name: http, containerPort: 8080}\nstatus:\n  podIP: " ip "\n---\n"

#define POLICY(ns, name, spec)                                                                    \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " name          \
	"\n  namespace: " ns "\nspec:\n" spec "\n---\n"

#define PODS                                                                                      \
	NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1")                     \
	POD("prod", "web-2", "web", "198.18.0.2") POD("prod", "api-1", "api", "198.18.0.3")       \
	POD("prod", "db-1", "db", "198.18.0.4") POD("monitoring", "prom-1", "prom", "198.18.0.5")

#define P_DENY POLICY("prod", "deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]")
#define P_WEB_API(port)                                                                           \
	POLICY("prod", "web-to-api",                                                              \
	       "  podSelector: {matchLabels: {app: api}}\n  ingress:\n  - from:\n"                 \
	       "    - podSelector: {matchLabels: {app: web}}\n    ports:\n    - port: " port)
#define P_API_DB                                                                                   \
	POLICY("prod", "api-to-db",                                                                \
	       "  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from:\n"                  \
	       "    - podSelector: {matchLabels: {app: api}}\n    ports:\n    - port: 5432\n"      \
	       "      endPort: 5440")
#define P_BLOCK                                                                                    \
	POLICY("prod", "egress-block",                                                             \
	       "  podSelector: {matchLabels: {app: web}}\n  egress:\n  - to:\n    - ipBlock:\n"    \
	       "        cidr: 203.0.113.0/24\n        except: [203.0.113.128/25]")

static const struct endpoint_binding eps_all[] = {
	{ "prod", "web-1", 11, false, { 0 } }, { "prod", "web-2", 12, false, { 0 } }, { "prod", "api-1", 13, false, { 0 } },
	{ "prod", "db-1", 14, false, { 0 } },
};

/* ---- The fake maps. */

struct fake {
	struct ms_state k;           /* what the kernel holds */
	const struct ms_state *old;  /* state at the start of the sync being run */
	const struct ms_state *want; /* where it is going */
	bool policy_changes;         /* old live generation differs from want */
	unsigned writes, waits, fail_wait_at;
	char trace[4096];            /* one letter per backend call, in order */
	size_t n_trace;
};

static bool gen_equals(const struct ms_state *a, int ga, const struct ms_state *b, int gb)
{
	for (int g = 0; g < MS_N_GMAPS; g++) {
		const struct ms_table *x = &a->gen[g][ga], *y = &b->gen[g][gb];

		if (ms_table_count(x) != ms_table_count(y))
			return false;
		for (size_t i = 0; i < x->n; i++) {
			const void *v;

			if (!ms_table_live(x, i))
				continue;
			v = ms_table_get(y, ms_table_key(x, i));
			if (!v || memcmp(v, ms_table_value(x, i), x->value_size))
				return false;
		}
	}
	return true;
}

/* What a packet arriving now would see: the live generation is entirely the
 * old policy or entirely the new one. */
static void check_live(struct fake *f, const char *when)
{
	int live = (int)(f->k.config.generation & 1);
	int old_live = (int)(f->old->config.generation & 1);

	cr_assert(gen_equals(&f->k, live, f->old, old_live) || gen_equals(&f->k, live, f->want, 0),
		  "%s: the live generation is a mix of old and new policy", when);
}

static void check_new_live(struct fake *f, const char *when)
{
	cr_assert(gen_equals(&f->k, (int)(f->k.config.generation & 1), f->want, 0),
		  "%s before the new policy is live", when);
}

static void trace(struct fake *f, char c)
{
	if (f->n_trace + 1 < sizeof(f->trace))
		f->trace[f->n_trace++] = c;
}

static void put(struct fake *f, enum pin_map m, const uint8_t *key, const void *value, bool del)
{
	uint8_t k[64];
	uint32_t *subject = NULL;
	int gen = 0;
	struct ms_table *t;

	t = ms_state_table(&f->k, m, 0);
	cr_assert_not_null(t);
	memcpy(k, key, t->key_size);
	if (m == PIN_POLICY)
		subject = &((struct npbpf_policy_key *)k)->subject;
	else if (m == PIN_RANGE)
		subject = &((struct npbpf_range_key *)k)->subject;
	else if (m == PIN_SUBJECT)
		subject = (uint32_t *)k;
	if (subject) {
		gen = (*subject & NPBPF_GEN_BIT) ? 1 : 0;
		*subject &= ~NPBPF_GEN_BIT;
	}
	t = ms_state_table(&f->k, m, gen);
	if (del)
		cr_assert_geq(ms_table_del(t, k), 0);
	else
		cr_assert_eq(ms_table_put(t, k, value), 0);
}

static int fake_update(void *ctx, enum pin_map m, const void *keys, const void *values, size_t n)
{
	struct fake *f = ctx;
	struct ms_table *t = ms_state_table(&f->k, m, 0);

	f->writes += (unsigned)n;
	if (m == PIN_CONFIG) {
		cr_assert_eq(n, 1);
		memcpy(&f->k.config, values, sizeof(f->k.config));
		trace(f, 'C');
		check_live(f, "config write");
		return 0;
	}
	if (m == PIN_META) {
		memcpy(&f->k.meta, values, sizeof(f->k.meta));
		trace(f, 'M');
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *k = (const uint8_t *)keys + i * t->key_size;

		if (m == PIN_ENDPOINT && !ms_table_get(&f->k.endpoint, k))
			check_new_live(f, "endpoint added");
		put(f, m, k, (const uint8_t *)values + i * t->value_size, false);
		check_live(f, "map write");
	}
	trace(f, m == PIN_ENDPOINT ? 'E' : m == PIN_IPC_HOST || m == PIN_IPC_CIDR ? 'I'
				     : ms_gmap_of(m) >= 0			 ? 'P'
										 : 'N');
	return 0;
}

static int fake_del(void *ctx, enum pin_map m, const void *keys, size_t n)
{
	struct fake *f = ctx;
	struct ms_table *t = ms_state_table(&f->k, m, 0);

	f->writes += (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *k = (const uint8_t *)keys + i * t->key_size;

		if (m == PIN_IPC_HOST || m == PIN_IPC_CIDR)
			check_new_live(f, "ipcache entry deleted");
		put(f, m, k, NULL, true);
		check_live(f, "map delete");
	}
	trace(f, m == PIN_ENDPOINT ? 'e' : m == PIN_IPC_HOST || m == PIN_IPC_CIDR ? 'i'
				     : ms_gmap_of(m) >= 0			 ? 'p'
										 : 'n');
	return 0;
}

static int fake_wait(void *ctx)
{
	struct fake *f = ctx;

	f->waits++;
	trace(f, 'W');
	return f->fail_wait_at && f->waits == f->fail_wait_at ? -EIO : 0;
}

static struct fake fk;

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	ms_state_init(&fk.k);
	fk.k.meta.next_pod_id = NPBPF_ID_FIRST_POD;
	fk.k.meta.next_cidr_id = NPBPF_ID_FIRST_CIDR;
}

static void teardown(void)
{
	ms_state_free(&fk.k);
}

TestSuite(mapsync, .init = setup, .fini = teardown);

/* ---- A cluster compiled against what the fake holds. */

struct world {
	struct np_cluster c;
	struct compiled cp;
	struct hmap prior;
};

static void world_load(struct world *w, const char *yaml)
{
	struct compile_opts opts = { 0 };

	cluster_init(&w->c);
	hmap_init(&w->prior);
	cr_assert_eq(manifest_load_buffer(&w->c, "test.yaml", yaml, strlen(yaml)), 0);
	cr_assert_eq(mapsync_prior_from_state(&fk.k, &w->prior), 0);
	opts.prior_ids = &w->prior;
	cr_assert_eq(compile_cluster(&w->c, &opts, &w->cp), 0);
}

static void world_free(struct world *w)
{
	compiled_free(&w->cp);
	cluster_free(&w->c);
	hmap_free(&w->prior);
}

/* One sync of the fake to yaml; returns the stats. */
static struct sync_stats sync_eps(const char *yaml, const struct endpoint_binding *eps, size_t n,
				  int *ret)
{
	const struct ms_backend be = { fake_update, fake_del, fake_wait, &fk };
	struct ms_state snap, want;
	struct sync_stats st;
	struct world w;
	int err;

	world_load(&w, yaml);
	cr_assert_eq(ms_state_copy(&snap, &fk.k), 0);
	ms_state_init(&want);
	cr_assert_eq(mapsync_desired(&w.cp, eps, n, &snap, &want, NULL), 0);
	fk.old = &snap;
	fk.want = &want;
	fk.policy_changes = !gen_equals(&snap, (int)(snap.config.generation & 1), &want, 0);
	fk.n_trace = 0;
	fk.writes = 0;
	err = mapsync_execute(&want, &snap, &be, &st);
	fk.trace[fk.n_trace] = '\0';
	if (ret)
		*ret = err;
	else
		cr_assert_eq(err, 0, "execute: %d", err);
	if (!err)
		cr_assert(gen_equals(&fk.k, 0, &want, 0) && gen_equals(&fk.k, 1, &want, 0),
			  "both generations hold the new policy after a sync");
	fk.old = fk.want = NULL;
	ms_state_free(&snap);
	ms_state_free(&want);
	world_free(&w);
	return st;
}

static struct sync_stats sync_to(const char *yaml)
{
	return sync_eps(yaml, eps_all, sizeof(eps_all) / sizeof(eps_all[0]), NULL);
}

static uint32_t ipc_identity(const char *addr)
{
	struct npbpf_addr k;
	struct np_addr a;
	const struct npbpf_ipc_value *v;

	cr_assert_eq(addr_parse(addr, false, &a), 0);
	memset(&k, 0, sizeof(k));
	k.family = NPBPF_FAMILY_V4;
	memcpy(k.addr, a.bytes, 4);
	v = ms_table_get(&fk.k.ipc_host, &k);
	cr_assert_not_null(v, "no ipcache entry for %s", addr);
	return v->identity;
}

static uint32_t policy_number(const char *name)
{
	const struct ms_table *t = &fk.k.polname;

	for (size_t i = 0; i < t->n; i++) {
		const struct npbpf_name *n = ms_table_value(t, i);

		if (ms_table_live(t, i) && !strcmp(n->name, name))
			return *(const uint32_t *)ms_table_key(t, i);
	}
	cr_assert_fail("no policy number for %s", name);
	return 0;
}

/* ---- Tables and diffs. */

Test(mapsync, diff_finds_adds_updates_deletes)
{
	struct ms_table want, have;
	struct ms_diff d;
	uint32_t k, v;

	ms_table_init(&want, 4, 4);
	ms_table_init(&have, 4, 4);
	for (k = 0; k < 10; k++) {
		v = k;
		cr_assert_eq(ms_table_put(&have, &k, &v), 0);
		v = k == 3 ? 33 : k;
		if (k != 7)
			cr_assert_eq(ms_table_put(&want, &k, &v), 0);
	}
	k = 42;
	cr_assert_eq(ms_table_put(&want, &k, &v), 0);
	cr_assert_eq(ms_diff_tables(&want, &have, &d), 0);
	cr_assert_eq(d.n_add, 1);
	cr_assert_eq(*(const uint32_t *)ms_table_key(&want, d.add[0]), 42);
	cr_assert_eq(d.n_update, 1);
	cr_assert_eq(*(const uint32_t *)ms_table_key(&want, d.update[0]), 3);
	cr_assert_eq(d.n_del, 1);
	cr_assert_eq(*(const uint32_t *)ms_table_key(&have, d.del[0]), 7);
	ms_diff_free(&d);

	/* A deleted entry is gone for lookups and diffs, and comes back on put. */
	k = 5;
	cr_assert_eq(ms_table_del(&have, &k), 1);
	cr_assert_eq(ms_table_del(&have, &k), 0);
	cr_assert_null(ms_table_get(&have, &k));
	cr_assert_eq(ms_table_count(&have), 9);
	cr_assert_eq(ms_diff_tables(&want, &have, &d), 0);
	cr_assert_eq(d.n_add, 2);
	ms_diff_free(&d);
	v = 5;
	cr_assert_eq(ms_table_put(&have, &k, &v), 0);
	cr_assert_eq(ms_table_count(&have), 10);
	ms_table_free(&want);
	ms_table_free(&have);
}

/* ---- Whole syncs. */

Test(mapsync, first_sync_fills_both_generations_then_nothing_to_do)
{
	struct sync_stats st;

	st = sync_to(PODS P_DENY P_WEB_API("8080") P_API_DB P_BLOCK);
	cr_assert(st.flipped);
	cr_assert_eq(st.generation, 1, "the first sync writes generation 1, then flips");
	cr_assert_gt(st.maps[PIN_POLICY].add, 0);
	cr_assert_eq(st.maps[PIN_POLICY].add % 2, 0, "every entry written once per generation");
	cr_assert_gt(st.maps[PIN_RANGE].add, 0, "the endPort range");
	cr_assert_eq(st.maps[PIN_ENDPOINT].add, 4);
	cr_assert_eq(st.maps[PIN_IPC_HOST].add, 5);
	cr_assert_eq(st.maps[PIN_IPC_CIDR].add, 2, "the ipBlock cidr and its except");
	cr_assert_eq(st.maps[PIN_POLNAME].add, 4);
	cr_assert_eq(st.maps[PIN_EPMETA].add, 4);
	cr_assert_eq(fk.k.meta.syncs, 1);
	/* Names, then new addresses, then the idle generation, flip, endpoints,
	 * wait, the old generation. */
	cr_assert(strstr(fk.trace, "NNNII") == fk.trace, "order: %s", fk.trace);
	cr_assert(strstr(fk.trace, "WPPPCECWPPP"), "order: %s", fk.trace);

	st = sync_to(PODS P_DENY P_WEB_API("8080") P_API_DB P_BLOCK);
	cr_assert_eq(sync_stats_writes(&st), 0, "a re-sync with nothing changed writes nothing");
	cr_assert_eq(fk.writes, 0);
	cr_assert_eq(fk.waits, 2, "and does not wait either");
	cr_assert_not(st.flipped);
	cr_assert_eq(fk.k.meta.syncs, 1);
}

Test(mapsync, policy_change_writes_only_the_difference)
{
	struct sync_stats st;
	uint32_t rev;

	sync_to(PODS P_DENY P_WEB_API("8080") P_API_DB);
	rev = fk.k.config.revision;
	st = sync_to(PODS P_DENY P_WEB_API("8081") P_API_DB);
	cr_assert(st.flipped);
	cr_assert_eq(st.generation, 0);
	cr_assert_eq(fk.k.config.revision, rev + 1, "one revision bump, with the flip");
	/* One entry replaced by another: delete + add, in each generation. */
	cr_assert_eq(st.maps[PIN_POLICY].add, 2);
	cr_assert_eq(st.maps[PIN_POLICY].del, 2);
	cr_assert_eq(st.maps[PIN_POLICY].update, 0);
	cr_assert_eq(sync_stats_policy_writes(&st), 4);
	cr_assert_eq(st.config_writes, 1);
	cr_assert_eq(sync_stats_writes(&st), 5, "nothing else is written");
	cr_assert_str_eq(fk.trace, "WpPCWpPM");

	/* And back: flips again. */
	st = sync_to(PODS P_DENY P_WEB_API("8080") P_API_DB);
	cr_assert(st.flipped);
	cr_assert_eq(st.generation, 1);
	cr_assert_eq(sync_stats_policy_writes(&st), 4);
}

Test(mapsync, policy_numbers_stay_with_their_names)
{
	uint32_t web, db;

	sync_to(PODS P_WEB_API("8080") P_API_DB);
	web = policy_number("prod/web-to-api");
	db = policy_number("prod/api-to-db");
	cr_assert(web + db == 1 && web < 2, "an empty state numbers policies in cluster order");
	/* A new policy sorted first, and one removed: the others keep theirs. */
	sync_to(PODS P_DENY P_API_DB);
	cr_assert_eq(policy_number("prod/api-to-db"), db);
	cr_assert_eq(policy_number("prod/deny"), 2, "a new policy takes a new number");
	cr_assert_null(ms_table_get(&fk.k.polname, &web), "the removed policy's name is gone");
	/* The removed number is not handed out again. */
	sync_to(PODS P_DENY P_API_DB P_WEB_API("8080"));
	cr_assert_eq(policy_number("prod/web-to-api"), 3);
}

Test(mapsync, identities_are_stable_and_never_reused)
{
	uint32_t web, api, db, cache;
	struct sync_stats st;

	sync_to(PODS P_DENY);
	web = ipc_identity("198.18.0.1");
	api = ipc_identity("198.18.0.3");
	db = ipc_identity("198.18.0.4");
	cr_assert_eq(ipc_identity("198.18.0.2"), web, "replicas share an identity");

	/* A pod with new labels listed first, db gone: the rest keep numbers. */
	st = sync_to(NS("prod") NS("monitoring") POD("prod", "cache-1", "cache", "198.18.0.9") POD(
		"prod", "web-1", "web", "198.18.0.1") POD("prod", "web-2", "web", "198.18.0.2")
			     POD("prod", "api-1", "api", "198.18.0.3")
				     POD("monitoring", "prom-1", "prom", "198.18.0.5") P_DENY);
	cr_assert_eq(ipc_identity("198.18.0.1"), web);
	cr_assert_eq(ipc_identity("198.18.0.3"), api);
	cache = ipc_identity("198.18.0.9");
	cr_assert_gt(cache, db, "new identities number above all old ones");
	cr_assert_eq(st.maps[PIN_IPC_HOST].update, 0, "no address changed identity");
	cr_assert_eq(st.maps[PIN_IPC_HOST].add, 1);
	cr_assert_eq(st.maps[PIN_IPC_HOST].del, 1);
	cr_assert_eq(st.maps[PIN_ENDPOINT].del, 1, "db-1's veth is unbound");

	/* db comes back with the same labels: its old number was dropped from
	 * the pinned names, and is not handed out again. */
	sync_to(PODS P_DENY);
	cr_assert_neq(ipc_identity("198.18.0.4"), db);
	cr_assert_gt(ipc_identity("198.18.0.4"), cache);
}

Test(mapsync, relabelled_pod_moves_after_the_flip)
{
	struct sync_stats st;
	uint32_t before, rev;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	before = ipc_identity("198.18.0.2");
	rev = fk.k.config.revision;
	/* web-2 becomes an api pod: its address and endpoint change identity. */
	st = sync_to(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "api", "198.18.0.2") POD("prod", "api-1", "api", "198.18.0.3")
			     POD("prod", "db-1", "db", "198.18.0.4")
				     POD("monitoring", "prom-1", "prom", "198.18.0.5")
					     P_DENY P_WEB_API("8080"));
	cr_assert_eq(ipc_identity("198.18.0.2"), ipc_identity("198.18.0.3"));
	cr_assert_neq(ipc_identity("198.18.0.2"), before);
	cr_assert_eq(st.maps[PIN_IPC_HOST].update, 1);
	cr_assert_eq(st.maps[PIN_ENDPOINT].update, 1);
	cr_assert_not(st.flipped, "both identities existed: the policy tables are unchanged");
	cr_assert_eq(fk.k.config.revision, rev + 1, "conntrack re-checks the moved pod's flows");
}

Test(mapsync, new_label_set_needs_flip_before_endpoint)
{
	struct sync_stats st;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	/* api-1 relabelled to a label set nobody had: a new identity, new entries
	 * (isolation by the deny policy), then the ipcache and endpoint move. */
	st = sync_to(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "web", "198.18.0.2") POD("prod", "api-1", "api2", "198.18.0.3")
			     POD("prod", "db-1", "db", "198.18.0.4")
				     POD("monitoring", "prom-1", "prom", "198.18.0.5")
					     P_DENY P_WEB_API("8080"));
	cr_assert(st.flipped);
	cr_assert_eq(st.config_writes, 2, "the flip, then a revision bump after the moves");
	cr_assert(strstr(fk.trace, "CIEC"), "flip, ipcache and endpoint updates, bump: %s",
		  fk.trace);
}

Test(mapsync, no_policies_no_flip)
{
	struct sync_stats st;

	st = sync_to(PODS);
	cr_assert_not(st.flipped);
	cr_assert_eq(sync_stats_policy_writes(&st), 0);
	cr_assert_eq(st.maps[PIN_IPC_HOST].add, 5);
	cr_assert_eq(st.config_writes, 1, "one revision bump for the new addresses");
	st = sync_to(PODS);
	cr_assert_eq(sync_stats_writes(&st), 0);
}

Test(mapsync, endpoints_follow_bindings)
{
	static const struct endpoint_binding two[] = {
		{ "prod", "web-1", 11, false, { 0 } },
		{ "prod", "nope", 99, false, { 0 } },         /* no such pod */
		{ "monitoring", "prom-1", 15, false, { 0 } },
	};
	static const struct endpoint_binding moved[] = {
		{ "prod", "web-1", 21, false, { 0 } }, /* the veth was recreated */
		{ "monitoring", "prom-1", 15, false, { 0 } },
	};
	const struct npbpf_endpoint *ep;
	const struct npbpf_name *name;
	struct sync_stats st;
	uint32_t k = 15;

	st = sync_eps(PODS P_DENY, two, 3, NULL);
	cr_assert_eq(st.maps[PIN_ENDPOINT].add, 2);
	ep = ms_table_get(&fk.k.endpoint, &k);
	cr_assert_not_null(ep);
	cr_assert_eq(ep->identity, ipc_identity("198.18.0.5"));
	cr_assert_eq(ep->flags, NPBPF_EP_HAS_V4);
	cr_assert_eq(memcmp(ep->addr4, "\xc6\x12\x00\x05", 4), 0);
	name = ms_table_get(&fk.k.epmeta, &k);
	cr_assert_str_eq(name->name, "monitoring/prom-1");

	st = sync_eps(PODS P_DENY, moved, 2, NULL);
	cr_assert_eq(st.maps[PIN_ENDPOINT].del, 1);
	cr_assert_eq(st.maps[PIN_ENDPOINT].add, 1);
	cr_assert_eq(fk.trace[0], 'N', "the new endpoint's name first: %s", fk.trace);
	cr_assert_eq(fk.trace[1], 'e', "then the old endpoint goes: %s", fk.trace);
}

Test(mapsync, long_labels_span_chunks_and_round_trip)
{
	char yaml[8192], labels[2048] = "";
	struct sync_stats st;
	struct world w;
	uint32_t id;
	uint8_t *key;
	size_t len, key_len;
	char *label;

	len = 0;
	for (int i = 0; i < 20; i++)
		len += (size_t)snprintf(labels + len, sizeof(labels) - len,
					"    label-number-%02d: value-that-is-rather-long-%02d\n",
					i, i);
	snprintf(yaml, sizeof(yaml),
		 NS("prod") "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  namespace: prod\n"
			    "  labels:\n%sstatus:\n  podIP: 198.18.0.7\n---\n" P_DENY,
		 labels);
	sync_eps(yaml, NULL, 0, NULL);
	id = ipc_identity("198.18.0.7");
	cr_assert_eq(ms_idmeta_decode(&fk.k.idmeta, id, &key, &key_len, &label), 0);
	cr_assert_gt(key_len + strlen(label), NPBPF_IDMETA_DATA, "spans chunks");
	cr_assert(strstr(label, "prod/label-number-00=value-that-is-rather-long-00,") == label,
		  "label: %s", label);
	free(key);
	free(label);
	/* The pinned key gives the same number back (as after a restart). */
	world_load(&w, yaml);
	cr_assert_eq(compiled_addr_identity(&w.cp, &w.cp.cluster->pods[0].addrs[0]), id);
	world_free(&w);
	st = sync_eps(yaml, NULL, 0, NULL);
	cr_assert_eq(sync_stats_writes(&st), 0);
}

Test(mapsync, interrupted_sync_is_finished_by_the_next)
{
	struct sync_stats st;
	int ret;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	/* Fail the wait before catching up the old generation. */
	fk.fail_wait_at = fk.waits + 2;
	st = sync_eps(PODS P_DENY P_WEB_API("9090"), eps_all, 4, &ret);
	cr_assert_eq(ret, -EIO);
	cr_assert(st.flipped, "the new policy is live");
	fk.fail_wait_at = 0;
	/* The live generation is right; the next sync repairs only the other. */
	st = sync_to(PODS P_DENY P_WEB_API("9090"));
	cr_assert_not(st.flipped);
	cr_assert_eq(sync_stats_policy_writes(&st), 2);
	cr_assert_eq(st.config_writes, 0);
	st = sync_to(PODS P_DENY P_WEB_API("9090"));
	cr_assert_eq(sync_stats_writes(&st), 0);
}

Test(mapsync, policy_entries_only_for_local_subjects)
{
	static const struct endpoint_binding web_only[] = { { "prod", "web-1", 11, false, { 0 } } };
	const struct ms_table *pol = &fk.k.gen[MS_G_POLICY][0];
	const struct ms_table *subj = &fk.k.gen[MS_G_SUBJECT][0];
	struct sync_stats st;
	uint32_t web;

	sync_eps(PODS P_DENY P_WEB_API("8080") P_BLOCK, web_only, 1, NULL);
	web = ipc_identity("198.18.0.1");
	cr_assert_eq(ms_table_count(subj), 1, "only web's isolation, not %zu",
		     ms_table_count(subj));
	cr_assert_not_null(ms_table_get(subj, &web));
	cr_assert_gt(ms_table_count(pol), 0);
	for (size_t i = 0; i < pol->n; i++) {
		const struct npbpf_policy_key *k = ms_table_key(pol, i);

		cr_assert_eq(k->subject, web, "entry for subject %u, not on this node", k->subject);
	}
	cr_assert_eq(ms_table_count(&fk.k.ipc_host), 5, "the ipcache stays cluster-wide");

	/* api-1 lands on this node: its entries appear, web's stay as they are. */
	st = sync_eps(PODS P_DENY P_WEB_API("8080") P_BLOCK, eps_all, 2 + 1, NULL);
	cr_assert(st.flipped);
	cr_assert_eq(st.maps[PIN_POLICY].del, 0);
	cr_assert_eq(st.maps[PIN_SUBJECT].add, 2 * 1, "api's subject record, in both generations");
}
