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

/* A write that fails: the first `after` entry writes to map succeed, then
 * each one fails with err (times times, 0: from then on). */
struct fail {
	bool on;
	enum pin_map map;
	bool updates_only;
	unsigned after, times;
	int err;
};

struct fake {
	struct ms_state k;           /* what the kernel holds */
	const struct ms_state *old;  /* state at the start of the sync being run */
	const struct ms_state *want; /* where it is going */
	bool stricter_ok;            /* a failure is expected: records at least as strict
				      * as a pod's new ones are fine too */
	unsigned writes, waits, fail_wait_at, checks;
	uint32_t cap[PIN_N];         /* max_entries, as the kernel enforces it; 0: none */
	size_t peak[PIN_N];          /* most entries a map held */
	struct fail fail;
	uint32_t watch;              /* ifindex whose records check_pods logs */
	char watch_log[4096];        /* per check: 'I' isolated both ways, 'i' one, '-' none */
	size_t n_watch;
	struct numbering_opts opts;  /* the compiles' numbering knobs */
	char trace[8192];            /* one letter per backend call, in order */
	size_t n_trace;
};

/* The subject record of id in generation gen of s. */
static const struct npbpf_subject *subject_of(const struct ms_state *s, int gen, uint32_t id)
{
	return ms_table_get(&s->gen[MS_G_SUBJECT][gen], &id);
}

/*
 * What a packet arriving now would see, pod by pod: each endpoint is judged
 * by the records of its subject number in the live generation. They must be
 * all of the pod's old records or all of its new ones (or, after a failure,
 * records at least as strict as its new ones). And a pod isolated in a
 * direction by both its old and its new policy is isolated there at every
 * step: never a number without a record in between.
 */
static void check_pods(struct fake *f, const char *when)
{
	int live = (int)(f->k.config.generation & 1);
	int old_live = (int)(f->old->config.generation & 1);
	const struct ms_table *t = &f->k.endpoint;

	for (size_t i = 0; i < t->n; i++) {
		uint32_t ifindex = *(const uint32_t *)ms_table_key(t, i);
		const struct npbpf_endpoint *e = ms_table_value(t, i), *o, *w;
		const struct npbpf_subject *so, *sw, *sk;
		bool is_old, is_new, stricter;

		if (!ms_table_live(t, i))
			continue;
		o = ms_table_get(&f->old->endpoint, &ifindex);
		w = ms_table_get(&f->want->endpoint, &ifindex);
		is_old = o &&
			 ms_records_equal(&f->k, live, e->identity, f->old, old_live, o->identity);
		is_new = w && ms_records_equal(&f->k, live, e->identity, f->want, 0, w->identity);
		stricter = f->stricter_ok && w &&
			   ms_records_stricter(&f->k, live, e->identity, f->want, 0, w->identity);
		cr_assert(is_old || is_new || stricter,
			  "%s: the pod on veth %u (subject %u) is judged by neither all of its old "
			  "nor all of its new records",
			  when, ifindex, e->identity);
		sk = subject_of(&f->k, live, e->identity);
		so = o ? subject_of(f->old, old_live, o->identity) : NULL;
		sw = w ? subject_of(f->want, 0, w->identity) : NULL;
		for (int d = 0; so && sw && d < 2; d++) {
			if (so->isolated & sw->isolated & (1u << d))
				cr_assert(sk && (sk->isolated & (1u << d)),
					  "%s: the pod on veth %u is unisolated (%s) on subject "
					  "%u, isolated by its old and its new policy",
					  when, ifindex, d ? "egress" : "ingress", e->identity);
		}
		if (ifindex == f->watch && f->n_watch + 1 < sizeof(f->watch_log))
			f->watch_log[f->n_watch++] = !sk ? '-' : sk->isolated == 3 ? 'I' : 'i';
		f->checks++;
	}
}

/* Every pod on all of its new records (or stricter ones after a failure). */
static void check_all_new(struct fake *f, const char *when)
{
	int live = (int)(f->k.config.generation & 1);
	const struct ms_table *t = &f->k.endpoint;

	for (size_t i = 0; i < t->n; i++) {
		uint32_t ifindex = *(const uint32_t *)ms_table_key(t, i);
		const struct npbpf_endpoint *e = ms_table_value(t, i);
		const struct npbpf_endpoint *w = ms_table_get(&f->want->endpoint, &ifindex);

		if (!ms_table_live(t, i) || !w)
			continue;
		cr_assert(ms_records_equal(&f->k, live, e->identity, f->want, 0, w->identity) ||
				  (f->stricter_ok && ms_records_stricter(&f->k, live, e->identity,
									  f->want, 0, w->identity)),
			  "%s before the pod on veth %u has its new records", when, ifindex);
	}
}

/* A generation that goes live holds every record of the desired state:
 * never a half-applied generation. */
static void check_complete(struct fake *f, int gen)
{
	for (int g = 0; g < MS_N_GMAPS; g++) {
		const struct ms_table *w = &f->want->gen[g][0];

		for (size_t i = 0; i < w->n; i++) {
			const void *v;

			if (!ms_table_live(w, i))
				continue;
			v = ms_table_get(&f->k.gen[g][gen], ms_table_key(w, i));
			cr_assert(v && !memcmp(v, ms_table_value(w, i), w->value_size),
				  "a generation without all of the new policy went live");
		}
	}
}

static void trace(struct fake *f, char c)
{
	if (f->n_trace + 1 < sizeof(f->trace))
		f->trace[f->n_trace++] = c;
}

static size_t held(struct fake *f, enum pin_map m)
{
	if (ms_gmap_of(m) >= 0)
		return ms_table_count(ms_state_table(&f->k, m, 0)) +
		       ms_table_count(ms_state_table(&f->k, m, 1));
	return ms_table_count(ms_state_table(&f->k, m, 0));
}

/* The table and the key without the generation bit. */
static struct ms_table *locate(struct fake *f, enum pin_map m, const uint8_t *key, uint8_t *k)
{
	struct ms_table *t = ms_state_table(&f->k, m, 0);
	__u32 *subject;
	int gen = 0;

	cr_assert_not_null(t);
	memcpy(k, key, t->key_size);
	subject = ms_key_subject(m, k);
	if (subject) {
		gen = (*subject & NPBPF_GEN_BIT) ? 1 : 0;
		*subject &= ~NPBPF_GEN_BIT;
	}
	return ms_state_table(&f->k, m, gen);
}

static bool fail_now(struct fake *f, enum pin_map m, bool update)
{
	if (!f->fail.on || f->fail.map != m || (f->fail.updates_only && !update))
		return false;
	if (f->fail.after) {
		f->fail.after--;
		return false;
	}
	if (f->fail.times && !--f->fail.times)
		f->fail.on = false;
	return true;
}

static char letter(enum pin_map m, bool del)
{
	char c = m == PIN_ENDPOINT				 ? 'E'
		 : m == PIN_IPC_HOST || m == PIN_IPC_CIDR ? 'I'
		 : ms_gmap_of(m) >= 0			 ? 'P'
							 : 'N';

	return del ? (char)(c - 'A' + 'a') : c;
}

static int fake_update(void *ctx, enum pin_map m, const void *keys, const void *values, size_t n)
{
	struct fake *f = ctx;
	struct ms_table *t = ms_state_table(&f->k, m, 0);

	if (m == PIN_CONFIG) {
		const struct npbpf_config *c = values;
		bool flip = (c->generation & 1) != (f->k.config.generation & 1);

		cr_assert_eq(n, 1);
		f->writes++;
		if (flip)
			check_complete(f, (int)(c->generation & 1));
		memcpy(&f->k.config, values, sizeof(f->k.config));
		trace(f, 'C');
		check_pods(f, "config write");
		return 0;
	}
	if (m == PIN_META) {
		memcpy(&f->k.meta, values, sizeof(f->k.meta));
		trace(f, 'M');
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *key = (const uint8_t *)keys + i * t->key_size;
		uint8_t k[64];
		struct ms_table *dst = locate(f, m, key, k);

		if (fail_now(f, m, true)) {
			trace(f, 'X');
			return f->fail.err;
		}
		if (!ms_table_get(dst, k) && f->cap[m] && held(f, m) >= f->cap[m]) {
			trace(f, 'X');
			return m == PIN_RANGE || m == PIN_IPC_CIDR ? -ENOSPC : -E2BIG;
		}
		f->writes++;
		cr_assert_eq(ms_table_put(dst, k, (const uint8_t *)values + i * t->value_size), 0);
		if (held(f, m) > f->peak[m])
			f->peak[m] = held(f, m);
		check_pods(f, "map write");
	}
	trace(f, letter(m, false));
	return 0;
}

static int fake_del(void *ctx, enum pin_map m, const void *keys, size_t n)
{
	struct fake *f = ctx;
	struct ms_table *t = ms_state_table(&f->k, m, 0);

	for (size_t i = 0; i < n; i++) {
		const uint8_t *key = (const uint8_t *)keys + i * t->key_size;
		uint8_t k[64];
		struct ms_table *dst = locate(f, m, key, k);

		if (fail_now(f, m, false)) {
			trace(f, 'x');
			return f->fail.err;
		}
		f->writes++;
		if (m == PIN_IPC_HOST || m == PIN_IPC_CIDR)
			check_all_new(f, "ipcache entry deleted");
		cr_assert_geq(ms_table_del(dst, k), 0);
		check_pods(f, "map delete");
	}
	trace(f, letter(m, true));
	return 0;
}

static int fake_wait(void *ctx)
{
	struct fake *f = ctx;

	f->waits++;
	trace(f, 'W');
	return f->fail_wait_at && f->waits == f->fail_wait_at ? -EIO : 0;
}

static int fake_read(void *ctx, struct ms_state *out)
{
	struct fake *f = ctx;

	ms_state_free(out);
	trace(f, 'R');
	return ms_state_copy(out, &f->k);
}

static struct fake fk;

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	ms_state_init(&fk.k);
	fk.k.meta.next_pod_id = NPBPF_ID_FIRST_POD;
	fk.k.meta.next_cidr_id = NPBPF_ID_FIRST_CIDR;
	fk.opts.now_ns = 1000;
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
	struct numbering_prior prior;
};

static void world_load(struct world *w, const char *yaml)
{
	struct compile_opts opts = { .prior = &w->prior, .numbering = &fk.opts };

	cluster_init(&w->c);
	numbering_prior_init(&w->prior);
	cr_assert_eq(manifest_load_buffer(&w->c, "test.yaml", yaml, strlen(yaml)), 0);
	cr_assert_eq(mapsync_numbering_from_state(&fk.k, &w->prior), 0);
	cr_assert_eq(compile_cluster(&w->c, &opts, &w->cp), 0);
}

static void world_free(struct world *w)
{
	compiled_free(&w->cp);
	cluster_free(&w->c);
	numbering_prior_free(&w->prior);
}

/* One sync of the fake to yaml; returns the stats. With ret, a failure is
 * returned there instead of failing the test. */
static struct sync_stats sync_eps(const char *yaml, const struct endpoint_binding *eps, size_t n,
				  int *ret)
{
	struct ms_backend be = { fake_update, fake_del, fake_wait, fake_read, &fk, { 0 } };
	struct ms_state snap, want;
	struct sync_stats st;
	struct world w;
	int err;

	memcpy(be.cap, fk.cap, sizeof(be.cap));
	memset(&st, 0, sizeof(st));
	world_load(&w, yaml);
	cr_assert_eq(ms_state_copy(&snap, &fk.k), 0);
	ms_state_init(&want);
	cr_assert_eq(mapsync_desired(&w.cp, eps, n, &snap, &want, &st), 0);
	fk.old = &snap;
	fk.want = &want;
	fk.n_trace = 0;
	fk.writes = 0;
	err = mapsync_execute(&want, &snap, &be, &st);
	fk.trace[fk.n_trace] = '\0';
	if (ret)
		*ret = err;
	else
		cr_assert_eq(err, 0, "execute: %d (%s), trace %s", err, st.err_what, fk.trace);
	if (!err && !st.per_pod && !fk.cap[PIN_POLICY]) {
		for (int g = 0; g < MS_N_GMAPS; g++) {
			size_t n_want = ms_table_count(&want.gen[g][0]);

			cr_assert_eq(ms_table_count(&fk.k.gen[g][0]), n_want,
				     "both generations hold the new policy after a sync");
			cr_assert_eq(ms_table_count(&fk.k.gen[g][1]), n_want,
				     "both generations hold the new policy after a sync");
		}
		check_complete(&fk, 0);
		check_complete(&fk, 1);
	}
	if (!err)
		check_all_new(&fk, "the end of a sync");
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

/* One sync over a state kept from the last one instead of a copy of what
 * the fake holds (the agent's way): afterwards it must be what the fake
 * holds. */
static struct sync_stats sync_keep(const char *yaml, struct ms_state *kept)
{
	struct ms_backend be = { fake_update, fake_del, fake_wait, fake_read, &fk, { 0 } };
	struct ms_state snap, want;
	struct sync_stats st;
	struct world w;
	int err;

	memcpy(be.cap, fk.cap, sizeof(be.cap));
	memset(&st, 0, sizeof(st));
	world_load(&w, yaml);
	cr_assert_eq(ms_state_copy(&snap, &fk.k), 0); /* the checks' "old" */
	ms_state_init(&want);
	cr_assert_eq(mapsync_desired(&w.cp, eps_all, sizeof(eps_all) / sizeof(eps_all[0]), kept,
				     &want, &st),
		     0);
	fk.old = &snap;
	fk.want = &want;
	fk.n_trace = 0;
	fk.writes = 0;
	err = mapsync_execute_keep(&want, kept, &be, &st);
	fk.trace[fk.n_trace] = '\0';
	cr_assert_eq(err, 0, "execute: %d (%s), trace %s", err, st.err_what, fk.trace);
	check_all_new(&fk, "the end of a sync");
	cr_assert_eq(ms_state_differences(kept, &fk.k), 0, "the kept state is what the maps hold");
	cr_assert_eq(memcmp(&kept->meta, &fk.k.meta, sizeof(kept->meta)), 0, "meta too");
	cr_assert_eq(ms_state_compact(kept), 0);
	cr_assert_eq(ms_state_differences(kept, &fk.k), 0, "compacted, the same");
	fk.old = fk.want = NULL;
	ms_state_free(&snap);
	ms_state_free(&want);
	world_free(&w);
	return st;
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

static const struct npbpf_endpoint *endpoint(uint32_t ifindex)
{
	return ms_table_get(&fk.k.endpoint, &ifindex);
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

/* No subject record under a staging number in either generation. */
static void assert_no_staging(void)
{
	for (int gen = 0; gen < 2; gen++) {
		const struct ms_table *t = &fk.k.gen[MS_G_SUBJECT][gen];

		for (size_t i = 0; i < t->n; i++)
			cr_assert(!ms_table_live(t, i) ||
					  !MAPSYNC_ID_IS_OWN(*(const uint32_t *)ms_table_key(t, i)),
				  "a staging or isolated record is left in generation %d", gen);
	}
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

/* The agent keeps the state between syncs (mapsync_execute_keep): it
 * follows every write, flips, moves and staging included, and a sync from
 * it skips the wait before the inactive generation that its own last sync
 * made after its flip. */
Test(mapsync, kept_state_follows_the_maps)
{
	struct ms_state kept;
	struct sync_stats st;

	sync_to(PODS P_DENY P_WEB_API("8080") P_API_DB);
	cr_assert_eq(ms_state_copy(&kept, &fk.k), 0); /* as read: not settled */
	cr_assert_not(kept.settled);
	st = sync_keep(PODS P_DENY P_WEB_API("8081") P_API_DB, &kept);
	cr_assert(st.flipped);
	cr_assert_str_eq(fk.trace, "WpPCWpPM", "read from the maps: a wait before the write");
	cr_assert(kept.settled);
	st = sync_keep(PODS P_DENY P_WEB_API("8080") P_API_DB, &kept);
	cr_assert(st.flipped);
	cr_assert_str_eq(fk.trace, "pPCWpPM", "after its own flip and wait: none before");
	/* Relabelled into a new label set, then into an existing one. */
	sync_keep(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "web", "198.18.0.2") POD("prod", "api-1", "api2", "198.18.0.3")
			  POD("prod", "db-1", "db", "198.18.0.4")
				  POD("monitoring", "prom-1", "prom", "198.18.0.5")
					  P_DENY P_WEB_API("8080") P_API_DB,
		  &kept);
	sync_keep(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "api", "198.18.0.2") POD("prod", "api-1", "api", "198.18.0.3")
			  POD("prod", "db-1", "db", "198.18.0.4")
				  POD("monitoring", "prom-1", "prom", "198.18.0.5")
					  P_DENY P_WEB_API("8081") P_API_DB,
		  &kept);
	assert_no_staging();
	/* Back where it started, then nothing to do. */
	sync_keep(PODS P_DENY P_WEB_API("8080") P_API_DB, &kept);
	st = sync_keep(PODS P_DENY P_WEB_API("8080") P_API_DB, &kept);
	cr_assert_eq(sync_stats_writes(&st), 0);
	ms_state_free(&kept);
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

Test(mapsync, identities_are_stable_and_wait_out_their_quarantine)
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
	cr_assert_gt(cache, db, "db's number is in quarantine, not free");
	cr_assert_eq(st.ids_new, 1);
	cr_assert_eq(st.ids_retired, 1, "db's number retired");
	cr_assert_eq(st.maps[PIN_IPC_HOST].update, 0, "no address changed identity");
	cr_assert_eq(st.maps[PIN_IPC_HOST].add, 1);
	cr_assert_eq(st.maps[PIN_IPC_HOST].del, 1);
	cr_assert_eq(st.maps[PIN_ENDPOINT].del, 1, "db-1's veth is unbound");

	/* db comes back with the same labels within the quarantine: it gets its
	 * number back, and cache's goes into quarantine. */
	fk.opts.now_ns += NUMBERING_QUARANTINE_NS / 2;
	sync_to(PODS P_DENY);
	cr_assert_eq(ipc_identity("198.18.0.4"), db);

	/* Once the quarantine passed, cache's records go (one sync), and its
	 * number is the lowest free one for the next new key (the next). */
	fk.opts.now_ns += NUMBERING_QUARANTINE_NS;
	st = sync_to(PODS P_DENY);
	cr_assert_eq(st.ids_expired, 1);
	st = sync_to(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "web", "198.18.0.2") POD("prod", "api-1", "api", "198.18.0.3")
			     POD("prod", "db-1", "db", "198.18.0.4")
				     POD("monitoring", "prom-1", "prom", "198.18.0.5")
					     POD("prod", "queue-1", "queue", "198.18.0.6") P_DENY);
	cr_assert_eq(ipc_identity("198.18.0.6"), cache, "a number is reused after its quarantine");
	cr_assert_eq(st.ids_reused, 1);
}

Test(mapsync, relabelled_pod_moves_without_a_flip)
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
	/* One bump right after the move (its verdicts changed then: cached
	 * denials go, conntrack re-checks), one after the ipcache update. */
	cr_assert_eq(fk.k.config.revision, rev + 2, "conntrack re-checks the moved pod's flows");
}

Test(mapsync, new_label_set_is_prepared_in_place_and_moved_before_the_flip)
{
	struct sync_stats st;
	const char *e, *c;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	/* api-1 relabelled to a label set nobody had: a new identity, new entries
	 * (isolation by the deny policy). Nobody uses that number yet, so its
	 * records go into the live generation first and api-1 moves before the
	 * flip: judged by all of its new policy from then on. */
	st = sync_to(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "web", "198.18.0.2") POD("prod", "api-1", "api2", "198.18.0.3")
			     POD("prod", "db-1", "db", "198.18.0.4")
				     POD("monitoring", "prom-1", "prom", "198.18.0.5")
					     P_DENY P_WEB_API("8080"));
	cr_assert(st.flipped);
	cr_assert_eq(st.config_writes, 3,
		     "a bump after the move, the flip, then a revision bump after the moves");
	e = strchr(fk.trace, 'E');
	c = strchr(fk.trace, 'C');
	cr_assert(e && c && e < c, "the endpoint moves before the flip: %s", fk.trace);
	cr_assert(strstr(fk.trace, "PE"), "right after its records: %s", fk.trace);
	/* The move changes api-1's verdicts now: a bump right after it, before
	 * the new generation is written, retires its cached denials and
	 * re-checks its flows (bpf/lib/denycache.h). */
	cr_assert(strstr(fk.trace, "PEC"), "the move, then a bump: %s", fk.trace);
	cr_assert(strstr(fk.trace, "CIC"), "flip, ipcache update, bump: %s", fk.trace);
	assert_no_staging();
}

/* (d) The relabelled pod's old and new identity are both isolated: at every
 * single write the number its endpoint names has an isolating record. */
Test(mapsync, relabelled_pod_is_never_unisolated)
{
	sync_to(PODS P_DENY P_WEB_API("8080"));
	fk.watch = 13; /* api-1 */
	sync_to(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "web", "198.18.0.2") POD("prod", "api-1", "api2", "198.18.0.3")
			POD("prod", "db-1", "db", "198.18.0.4")
				POD("monitoring", "prom-1", "prom", "198.18.0.5")
					P_DENY P_WEB_API("8080"));
	fk.watch_log[fk.n_watch] = '\0';
	cr_assert_gt(fk.n_watch, 10, "checked at every write: %s", fk.watch_log);
	cr_assert_null(strpbrk(fk.watch_log, "-i"), "api-1 isolated at every step: %s",
		       fk.watch_log);
}

/* (d) A pod relabelled into a label set another pod of the node keeps, whose
 * policy changes in the same sync: neither number may change under it
 * before the flip, so it moves through a staging number that holds its old
 * records, and its new ones in the new generation. */
Test(mapsync, relabel_into_a_changing_identity_goes_through_staging)
{
	uint32_t api;
	struct sync_stats st;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	fk.watch = 12; /* web-2 */
	st = sync_to(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "api", "198.18.0.2") POD("prod", "api-1", "api", "198.18.0.3")
			     POD("prod", "db-1", "db", "198.18.0.4")
				     POD("monitoring", "prom-1", "prom", "198.18.0.5")
					     P_DENY P_WEB_API("8081"));
	api = ipc_identity("198.18.0.3");
	cr_assert(st.flipped);
	cr_assert_eq(endpoint(12)->identity, api);
	cr_assert_eq(st.maps[PIN_ENDPOINT].update, 2, "onto the staging number, then off it");
	fk.watch_log[fk.n_watch] = '\0';
	cr_assert_null(strpbrk(fk.watch_log, "-i"), "web-2 isolated at every step: %s",
		       fk.watch_log);
	assert_no_staging();
	st = sync_to(NS("prod") NS("monitoring") POD("prod", "web-1", "web", "198.18.0.1") POD(
		"prod", "web-2", "api", "198.18.0.2") POD("prod", "api-1", "api", "198.18.0.3")
			     POD("prod", "db-1", "db", "198.18.0.4")
				     POD("monitoring", "prom-1", "prom", "198.18.0.5")
					     P_DENY P_WEB_API("8081"));
	cr_assert_eq(sync_stats_writes(&st), 0, "the staging number's label is gone too");
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

/* ---- Failure is never silent, and never opens. */

/* PODS with web-1, web-2 and api-1 labelled app=a, b and c. */
#define RELABELLED(a, b, c)                                                                        \
	NS("prod") NS("monitoring") POD("prod", "web-1", a, "198.18.0.1")                          \
	POD("prod", "web-2", b, "198.18.0.2") POD("prod", "api-1", c, "198.18.0.3")                \
	POD("prod", "db-1", "db", "198.18.0.4") POD("monitoring", "prom-1", "prom", "198.18.0.5")

#define P_API_FROM_PROM                                                                          \
	POLICY("prod", "prom-to-api",                                                              \
	       "  podSelector: {matchLabels: {app: api}}\n  ingress:\n  - from:\n"                 \
	       "    - namespaceSelector: {}\n      podSelector: {matchLabels: {app: prom}}\n"      \
	       "    ports:\n    - port: 9090")

/* The policy write fails before the flip: the old policy stays live, and the
 * pod whose new policy takes an allow away (api loses web:8080) points at
 * the isolated record; web, whose policy does not change, stays as it is. */
Test(mapsync, failed_policy_write_isolates_whom_it_would_restrict)
{
	uint32_t api, iso = MAPSYNC_ID_ISOLATED;
	struct sync_stats st;
	int ret;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	api = endpoint(13)->identity;
	fk.fail = (struct fail){ .on = true, .map = PIN_POLICY, .err = -EPERM };
	fk.stricter_ok = true;
	st = sync_eps(PODS P_DENY P_API_FROM_PROM, eps_all, 4, &ret);
	cr_assert_eq(ret, -EPERM, "the sync fails loudly");
	cr_assert_eq(st.err, -EPERM);
	cr_assert_eq(st.err_map, PIN_POLICY);
	cr_assert_str_eq(st.err_what, "writing the new policy generation");
	cr_assert_not(st.flipped, "no half-written generation goes live");
	cr_assert_eq(st.isolated, 1);
	cr_assert_eq(endpoint(13)->identity, MAPSYNC_ID_ISOLATED, "api-1 isolated");
	cr_assert_eq(endpoint(11)->identity, ipc_identity("198.18.0.1"), "web-1 untouched");
	cr_assert_not_null(subject_of(&fk.k, (int)(fk.k.config.generation & 1), iso));
	cr_assert_eq(fk.k.meta.error, -EPERM, "recorded for status");
	cr_assert_str_eq(fk.k.meta.error_map, NPBPF_MAP_POLICY);
	cr_assert_eq(fk.k.meta.error_isolated, 1);
	cr_assert_eq(fk.k.meta.failed_syncs, 1);
	cr_assert_gt(fk.k.meta.error_ns, 0);

	/* The map works again: the next sync brings everything over, api-1
	 * included, and clears the record. */
	fk.fail.on = false;
	fk.stricter_ok = false;
	st = sync_eps(PODS P_DENY P_API_FROM_PROM, eps_all, 4, NULL);
	cr_assert_eq(st.err, 0);
	cr_assert_eq(endpoint(13)->identity, api);
	cr_assert_eq(fk.k.meta.error, 0);
	cr_assert_eq(fk.k.meta.error_ns, 0);
	cr_assert_eq(fk.k.meta.failed_syncs, 1);
	assert_no_staging();
}

/* A new policy that only adds allows: the old records are stricter, so the
 * pods keep them when the write fails; nobody is isolated, the error still
 * shows. */
Test(mapsync, failed_write_of_added_allows_keeps_the_stricter_old_records)
{
	struct sync_stats st;
	int ret;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	fk.fail = (struct fail){ .on = true, .map = PIN_POLICY, .after = 1, .err = -EFAULT };
	fk.stricter_ok = true;
	st = sync_eps(PODS P_DENY P_WEB_API("8080") P_API_FROM_PROM, eps_all, 4, &ret);
	cr_assert_eq(ret, -EFAULT);
	cr_assert_eq(st.isolated, 0);
	cr_assert_eq(endpoint(13)->identity, ipc_identity("198.18.0.3"));
	cr_assert_eq(fk.k.meta.error, -EFAULT);
	cr_assert_eq(fk.k.meta.error_isolated, 0);
}

/* The ipcache update of a relabelled pod (web-2 becomes cache) fails: its
 * address still resolves to web, which api admits on 8080. api must not
 * keep that allow: isolated. web-1 has no rule about web peers: untouched. */
Test(mapsync, failed_ipcache_update_isolates_pods_that_would_admit_the_stale_peer)
{
	struct sync_stats st;
	int ret;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	fk.fail = (struct fail){ .on = true, .map = PIN_IPC_HOST, .err = -EIO };
	fk.stricter_ok = true;
	st = sync_eps(RELABELLED("web", "cache", "api") P_DENY P_WEB_API("8080"), eps_all, 4, &ret);
	cr_assert_eq(ret, -EIO);
	cr_assert_eq(st.err_map, PIN_IPC_HOST);
	cr_assert_eq(endpoint(13)->identity, MAPSYNC_ID_ISOLATED, "api-1 isolated");
	cr_assert_neq(endpoint(11)->identity, MAPSYNC_ID_ISOLATED, "web-1 untouched");
	cr_assert_neq(endpoint(12)->identity, MAPSYNC_ID_ISOLATED, "web-2 has its new policy");
	cr_assert_eq(st.isolated, 1);
}

/* Endpoint updates fail for good: a pod that cannot be moved onto records it
 * may keep is deleted (its veth then drops everything). */
Test(mapsync, endpoint_that_cannot_be_updated_is_deleted)
{
	struct sync_stats st;
	int ret;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	fk.fail = (struct fail){ .on = true, .map = PIN_ENDPOINT, .updates_only = true,
				 .err = -EPERM };
	fk.stricter_ok = true;
	st = sync_eps(RELABELLED("web", "web", "api2") P_DENY P_WEB_API("8080"), eps_all, 4, &ret);
	cr_assert_eq(ret, -EPERM);
	cr_assert_eq(st.err_map, PIN_ENDPOINT);
	cr_assert_null(endpoint(13), "api-1's old records allow web:8080, api2's do not");
	cr_assert_not_null(endpoint(11));
}

/* A wait that fails before the new generation is written is a failure like
 * any other: fail-closed, not "old policy and carry on". */
Test(mapsync, failed_wait_before_the_write_fails_closed)
{
	int ret;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	fk.fail_wait_at = fk.waits + 1;
	fk.stricter_ok = true;
	sync_eps(PODS P_DENY P_API_FROM_PROM, eps_all, 4, &ret);
	cr_assert_eq(ret, -EIO);
	cr_assert_eq(endpoint(13)->identity, MAPSYNC_ID_ISOLATED);
}

/* Too few identity numbers: the identity left without one is not written;
 * its local pods are isolated, its addresses resolve as no pod's (world
 * here), and the error is recorded. */
Test(mapsync, exhausted_identity_numbers_isolate_and_report)
{
	static const struct endpoint_binding five[] = {
		{ .ns = "prod", .name = "web-1", .ifindex = 11 },
		{ .ns = "prod", .name = "web-2", .ifindex = 12 },
		{ .ns = "prod", .name = "api-1", .ifindex = 13 },
		{ .ns = "prod", .name = "db-1", .ifindex = 14 },
		{ .ns = "monitoring", .name = "prom-1", .ifindex = 15 },
	};
	static const uint8_t last[] = { 1, 2, 3, 4, 5 };
	uint32_t isolated = 0;
	struct sync_stats st;
	int ret;

	fk.opts.pod_limit = NPBPF_ID_FIRST_POD + 3; /* four label sets */
	st = sync_eps(PODS P_DENY, five, 5, &ret);
	cr_assert_eq(ret, -ENOSPC);
	for (uint32_t i = 0; i < 5; i++) {
		struct npbpf_addr k = { .family = NPBPF_FAMILY_V4 };
		const struct npbpf_ipc_value *v;

		memcpy(k.addr, (const uint8_t[]){ 198, 18, 0, last[i] }, 4);
		v = ms_table_get(&fk.k.ipc_host, &k);
		if (endpoint(11 + i)->identity == MAPSYNC_ID_ISOLATED) {
			isolated++;
			cr_assert_null(v, "the unnumbered pod's address is no pod's");
		} else {
			cr_assert_not_null(v);
			cr_assert_lt(v->identity, NPBPF_ID_FIRST_POD + 3);
		}
	}
	cr_assert_geq(isolated, 1);
	cr_assert_eq(st.isolated, isolated);
	cr_assert_eq(fk.k.meta.error, -ENOSPC);
	cr_assert(strstr(fk.k.meta.error_what, "numbering identities"), "%s",
		  fk.k.meta.error_what);
}

/* ---- Capacity: the generations share each map. */

#define P_API_PORTS                                                                              \
	POLICY("prod", "api-many",                                                                 \
	       "  podSelector: {matchLabels: {app: api}}\n  ingress:\n  - from:\n"                 \
	       "    - podSelector: {}\n    ports:\n    - {port: 7001}\n    - {port: 7002}\n"       \
	       "    - {port: 7003}\n    - {port: 7004}\n    - {port: 7005}\n    - {port: 7006}\n"  \
	       "    - {port: 7007}\n    - {port: 7008}")

#define P_BIG                                                                                    \
	POLICY("prod", "web-db-many",                                                              \
	       "  podSelector:\n    matchExpressions:\n"                                           \
	       "    - {key: app, operator: In, values: [web, db]}\n"                                \
	       "  ingress:\n  - from:\n    - podSelector: {}\n    ports:\n    - {port: 7001}\n"   \
	       "    - {port: 7002}\n    - {port: 7003}\n    - {port: 7004}\n    - {port: 7005}\n"  \
	       "    - {port: 7006}\n    - {port: 7007}\n    - {port: 7008}")

/* The new generation does not fit next to the live one (web's and db's big
 * records would be there twice): the sync switches pod by pod instead,
 * within the map's size, every pod on all of its old or all of its new
 * records at every step; a re-sync then writes nothing. */
Test(mapsync, per_pod_switch_when_the_generations_do_not_fit)
{
	struct sync_stats st;
	size_t live;

	sync_to(PODS P_DENY P_WEB_API("8080") P_BIG);
	live = ms_table_count(&fk.k.gen[MS_G_POLICY][0]);
	cr_assert_gt(live, 40);
	/* Room for the live policy and a bit, not for a second copy. */
	fk.cap[PIN_POLICY] = (uint32_t)(live + 8);
	memset(fk.peak, 0, sizeof(fk.peak));
	st = sync_to(PODS P_DENY P_WEB_API("8081") P_BIG);
	cr_assert(st.per_pod);
	cr_assert_not(st.flipped);
	cr_assert_eq(st.err, 0);
	/* Every batch of moved pods is followed by a bump, before the wait
	 * that frees room for the next (bpf/lib/denycache.h). */
	{
		int batches = 0;

		for (const char *t = fk.trace; (t = strchr(t, 'E')); t++, batches++) {
			while (t[1] == 'E')
				t++;
			cr_assert_eq(t[1], 'C', "endpoint writes, then a bump: %s", fk.trace);
		}
		cr_assert_gt(batches, 0, "pods moved pod by pod: %s", fk.trace);
	}
	cr_assert_leq(fk.peak[PIN_POLICY], fk.cap[PIN_POLICY]);
	cr_assert_eq(ms_table_count(&fk.k.gen[MS_G_POLICY][!(fk.k.config.generation & 1)]), 0,
		     "the inactive generation was emptied to make room");
	cr_assert_eq(ms_table_count(&fk.k.gen[MS_G_POLICY][fk.k.config.generation & 1]), live,
		     "one copy of the policy, nothing left over");
	st = sync_to(PODS P_DENY P_WEB_API("8081") P_BIG);
	cr_assert_eq(sync_stats_writes(&st), 0);
	/* Room again: the generations come back. */
	fk.cap[PIN_POLICY] = 0;
	st = sync_to(PODS P_DENY P_WEB_API("8080") P_BIG);
	cr_assert_not(st.per_pod);
	cr_assert(st.flipped);
	assert_no_staging();
}

/* Not even one pod's new records fit: that pod is isolated (its old records
 * allow 8080, its new ones do not), the others are switched, the sync
 * fails loudly. */
Test(mapsync, records_that_fit_nowhere_isolate_their_pod)
{
	struct sync_stats st;
	size_t live;
	int ret;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	live = ms_table_count(&fk.k.gen[MS_G_POLICY][0]);
	fk.cap[PIN_POLICY] = (uint32_t)(live + 4);
	memset(fk.peak, 0, sizeof(fk.peak));
	fk.stricter_ok = true;
	st = sync_eps(PODS P_DENY P_API_PORTS, eps_all, 4, &ret);
	cr_assert_eq(ret, -E2BIG);
	cr_assert(st.per_pod);
	cr_assert_eq(st.err_map, PIN_POLICY);
	cr_assert_eq(endpoint(13)->identity, MAPSYNC_ID_ISOLATED);
	cr_assert_eq(st.isolated, 1);
	cr_assert_leq(fk.peak[PIN_POLICY], fk.cap[PIN_POLICY]);
	cr_assert_str_eq(fk.k.meta.error_map, NPBPF_MAP_POLICY);
}

/* ---- Numbers are reused after their quarantine, never inside it. */

/* One pod takes a new label set on every sync, many more label sets than
 * there are numbers; time moves on by a fraction of the quarantine per
 * sync. No sync runs out, and no number names a second label set before the
 * quarantine has passed since the first one last used it. */
Test(mapsync, label_churn_recycles_numbers_after_the_quarantine)
{
	enum { SPACE = 12, SYNCS = 60, STEP = 40, QUARANTINE = 100 };
	static const struct endpoint_binding one[] = {
		{ .ns = "prod", .name = "churn", .ifindex = 21 },
	};
	struct {
		char label[32];
		uint64_t last_seen;
	} by_num[SPACE];
	unsigned reused = 0;

	memset(by_num, 0, sizeof(by_num));
	fk.opts.pod_limit = NPBPF_ID_FIRST_POD + SPACE;
	fk.opts.quarantine_ns = QUARANTINE;
	for (int i = 0; i < SYNCS; i++) {
		char yaml[2048], label[32];
		struct sync_stats st;
		uint32_t id, n;

		snprintf(label, sizeof(label), "v%d", i);
		snprintf(yaml, sizeof(yaml),
			 NS("prod") POD("prod", "web-1", "web", "198.18.0.1")
				 POD("prod", "churn", "%s", "198.18.0.7") P_DENY,
			 label);
		st = sync_eps(yaml, one, 1, NULL);
		cr_assert_eq(st.err, 0, "sync %d: %s", i, st.err_what);
		id = ipc_identity("198.18.0.7");
		cr_assert(id >= NPBPF_ID_FIRST_POD && id < NPBPF_ID_FIRST_POD + SPACE);
		n = id - NPBPF_ID_FIRST_POD;
		if (by_num[n].label[0] && strcmp(by_num[n].label, label)) {
			cr_assert_geq(fk.opts.now_ns - by_num[n].last_seen, QUARANTINE,
				      "number %u reused for %s %llu ns after %s last used it", id,
				      label,
				      (unsigned long long)(fk.opts.now_ns - by_num[n].last_seen),
				      by_num[n].label);
			reused++;
		}
		snprintf(by_num[n].label, sizeof(by_num[n].label), "%s", label);
		by_num[n].last_seen = fk.opts.now_ns;
		fk.opts.now_ns += STEP;
	}
	cr_assert_gt(reused, SYNCS - SPACE, "numbers went round: %u reuses", reused);
}

/* Policy numbers past the last one: those no name holds and no entry
 * refers to are handed out again. */
Test(mapsync, policy_numbers_are_reused_past_the_limit)
{
	fk.opts.policy_limit = 3;
	sync_to(PODS P_DENY P_WEB_API("8080"));
	sync_to(PODS P_DENY P_API_DB);
	cr_assert_eq(policy_number("prod/api-to-db"), 2);
	sync_to(PODS P_API_DB P_BLOCK);
	cr_assert_lt(policy_number("prod/egress-block"), 3);
	cr_assert_neq(policy_number("prod/egress-block"), policy_number("prod/api-to-db"));
}

/* Room for one copy of the policy and a little: the first sync flips and
 * leaves the old generation empty instead of failing to copy it; the next
 * change goes pod by pod. */
Test(mapsync, old_generation_left_empty_when_a_second_copy_does_not_fit)
{
	struct sync_stats st;
	size_t live;

	sync_to(PODS P_DENY P_WEB_API("8080") P_BIG);
	live = ms_table_count(&fk.k.gen[MS_G_POLICY][0]);
	teardown();
	setup();
	fk.cap[PIN_POLICY] = (uint32_t)(live + 4);
	st = sync_eps(PODS P_DENY P_WEB_API("8080") P_BIG, eps_all, 4, NULL);
	cr_assert(st.flipped);
	cr_assert_eq(st.err, 0);
	cr_assert_eq(ms_table_count(&fk.k.gen[MS_G_POLICY][fk.k.config.generation & 1]), live);
	cr_assert_eq(ms_table_count(&fk.k.gen[MS_G_POLICY][!(fk.k.config.generation & 1)]), 0);
	st = sync_eps(PODS P_DENY P_WEB_API("8081") P_BIG, eps_all, 4, NULL);
	cr_assert(st.per_pod);
	cr_assert_eq(st.err, 0);
	cr_assert_leq(fk.peak[PIN_POLICY], fk.cap[PIN_POLICY]);
}

/* A names map that cannot be written fails the sync (status can no longer
 * name what is there) but holds nothing back: no packet reads it. */
Test(mapsync, failed_names_write_fails_the_sync_but_applies_the_policy)
{
	struct sync_stats st;
	int ret;

	sync_to(PODS P_DENY P_WEB_API("8080"));
	fk.fail = (struct fail){ .on = true, .map = PIN_POLNAME, .err = -E2BIG };
	st = sync_eps(PODS P_DENY P_WEB_API("8080") P_API_FROM_PROM, eps_all, 4, &ret);
	cr_assert_eq(ret, -E2BIG);
	cr_assert_eq(st.err_map, PIN_POLNAME);
	cr_assert(st.flipped, "the new policy went live");
	cr_assert_eq(st.isolated, 0);
	cr_assert_str_eq(fk.k.meta.error_map, NPBPF_MAP_POLNAME);
}
