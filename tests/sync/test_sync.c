/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map sync against real BPF maps (suite 'sync', needs root): the loader
 * creates the maps in a private pin directory under /sys/fs/bpf, which every
 * test removes at its end, passed or failed. Without root the tests skip; with
 * CI=true they fail instead, so CI cannot go green by skipping them.
 */
#include <bpf/bpf.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_gen.h"
#include "compile.h"
#include "loader.h"
#include "manifest.h"
#include "mapsync.h"
#include "pinned.h"

#define NS(n) "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " n "\n---\n"
#define POD(ns, p, app, ip)                                                                        \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " p "\n  namespace: " ns                    \
	"\n  labels:\n    app: " app "\nspec:\n  containers:\n  - name: c\n    ports:\n"           \
	"    - {name: metrics, containerPort: 9090}\nstatus:\n  podIP: " ip "\n  podIPs:\n"        \
	"  - ip: " ip "\n---\n"
#define POLICY(ns, name, spec)                                                                    \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " name          \
	"\n  namespace: " ns "\nspec:\n" spec "\n---\n"

#define CLUSTER_BASE                                                                               \
	NS("production")                                                                           \
	NS("monitoring") POD("production", "backend-1", "backend",                                 \
			     "198.18.0.1") POD("production", "backend-2", "backend", "198.18.0.2") \
		POD("production", "frontend-1", "frontend", "198.18.0.3") POD(                     \
			"monitoring", "prometheus-0", "prometheus",                                \
			"198.18.0.9") POLICY("production", "default-deny",                         \
					     "  podSelector: {}\n  policyTypes: [Ingress]")        \
			POLICY("production", "allow-prometheus-scrape",                            \
			       "  podSelector: {matchLabels: {app: backend}}\n  ingress:\n  - "    \
			       "from:\n"                                                           \
			       "    - namespaceSelector: {matchLabels: "                           \
			       "{kubernetes.io/metadata.name: monitoring}}\n"                      \
			       "      podSelector: {matchLabels: {app: prometheus}}\n    ports:\n" \
			       "    - port: metrics\n    - port: 10000\n      endPort: 10100")
#define FRONTEND(port)                                                                            \
	POLICY("production", "frontend-to-backend",                                               \
	       "  podSelector: {matchLabels: {app: backend}}\n  ingress:\n  - from:\n"             \
	       "    - podSelector: {matchLabels: {app: frontend}}\n    ports:\n    - port: " port)

static const struct endpoint_binding eps[] = {
	{ "production", "backend-1", 1001, false, { 0 } },
	{ "production", "backend-2", 1002, false, { 0 } },
	{ "production", "frontend-1", 1003, false, { 0 } },
};

static char pin_dir[64];
static struct loader *ld;

static void require_root(void)
{
	const char *ci = getenv("CI");

	if (geteuid() == 0)
		return;
	if (ci && !strcmp(ci, "true"))
		cr_assert_fail("CI=true: the sync tests must run as root, not skip");
	cr_skip_test("needs root: BPF maps pinned under /sys/fs/bpf");
}

static void setup(void)
{
	if (geteuid())
		return;
	cr_assert_eq(pinned_prepare_dir(PINNED_BPFFS_ROOT), 0);
	snprintf(pin_dir, sizeof(pin_dir), PINNED_BPFFS_ROOT "/npbpf-test-XXXXXX");
	cr_assert_not_null(mkdtemp(pin_dir), "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
	loader_free(ld);
	ld = NULL;
	if (pin_dir[0])
		pinned_remove_dir(pin_dir);
	pin_dir[0] = '\0';
}

TestSuite(sync, .init = setup, .fini = teardown, .timeout = 300);

static struct loader *open_maps(void)
{
	struct loader_opts o = { .pin_dir = pin_dir, .maps_only = true };
	struct loader *l = NULL;

	cr_assert_eq(loader_open(&o, &l), 0, "loader_open failed");
	return l;
}

struct world {
	struct np_cluster c;
	struct compiled cp;
	struct numbering_prior prior;
};

/* Compiled against the numbers the maps hold, as an agent compiles. */
static void world_compile(struct world *w, const struct np_addr *node, size_t n_node)
{
	struct compile_opts opts = { .node_addrs = node, .n_node_addrs = n_node,
				     .prior = &w->prior };

	numbering_prior_init(&w->prior);
	cr_assert_eq(mapsync_load_numbering(ld, &w->prior), 0);
	cr_assert_eq(compile_cluster(&w->c, &opts, &w->cp), 0);
}

static void world_load(struct world *w, const char *yaml)
{
	cluster_init(&w->c);
	cr_assert_eq(manifest_load_buffer(&w->c, "test.yaml", yaml, strlen(yaml)), 0);
	world_compile(w, NULL, 0);
}

static void world_free(struct world *w)
{
	compiled_free(&w->cp);
	cluster_free(&w->c);
	numbering_prior_free(&w->prior);
}

static struct sync_stats sync_yaml(const char *yaml)
{
	struct sync_stats st;
	struct world w;

	world_load(&w, yaml);
	cr_assert_eq(mapsync_apply(ld, &w.cp, eps, sizeof(eps) / sizeof(eps[0]), &st), 0);
	world_free(&w);
	return st;
}

static struct npbpf_config read_config(void)
{
	struct npbpf_config cfg;
	__u32 key = 0;

	cr_assert_eq(bpf_map_lookup_elem(ld->fds[PIN_CONFIG], &key, &cfg), 0);
	return cfg;
}

static uint32_t count(enum pin_map m)
{
	struct ms_state s;
	uint32_t n;

	ms_state_init(&s);
	cr_assert_eq(mapsync_read(ld, &s), 0);
	n = (uint32_t)ms_table_count(ms_state_table(&s, m, 0));
	if (ms_gmap_of(m) >= 0)
		n += (uint32_t)ms_table_count(ms_state_table(&s, m, 1));
	ms_state_free(&s);
	return n;
}

Test(sync, sync_resync_change_restart)
{
	struct npbpf_config cfg, now;
	struct sync_stats st;
	uint32_t entries;

	require_root();
	ld = open_maps();
	cr_assert_not(ld->adopted, "a new directory has nothing to adopt");
	cr_assert_eq(ld->n_created, PIN_N, "every map created");

	/* First sync: everything, twice for the policy (both generations). */
	st = sync_yaml(CLUSTER_BASE FRONTEND("8080"));
	cr_assert(st.flipped);
	cr_assert_eq(st.generation, 1);
	cr_assert_eq(st.maps[PIN_ENDPOINT].add, 3);
	cr_assert_eq(st.maps[PIN_IPC_HOST].add, 4);
	cr_assert_gt(st.maps[PIN_RANGE].add, 0);
	entries = count(PIN_POLICY);
	cr_assert_eq(entries, st.maps[PIN_POLICY].add);
	cfg = read_config();
	cr_assert_eq(cfg.generation, 1);
	cr_assert_eq(cfg.events_per_sec, LOADER_DEFAULT_EVENTS_PER_SEC);

	/* Again, unchanged: not one write. */
	st = sync_yaml(CLUSTER_BASE FRONTEND("8080"));
	cr_assert_eq(sync_stats_writes(&st), 0, "re-sync wrote %llu times",
		     (unsigned long long)sync_stats_writes(&st));
	cr_assert_eq(read_config().revision, cfg.revision);

	/* One port changes: one entry out, one in, per generation, and a flip. */
	st = sync_yaml(CLUSTER_BASE FRONTEND("8443"));
	cr_assert(st.flipped);
	cr_assert_eq(st.generation, 0);
	cr_assert_eq(st.maps[PIN_POLICY].del, 2);
	cr_assert_eq(st.maps[PIN_POLICY].add, 2);
	cr_assert_eq(sync_stats_policy_writes(&st), 4);
	cr_assert_eq(sync_stats_writes(&st), 5, "plus the one config write");
	cr_assert_eq(read_config().generation, 0);
	cr_assert_eq(read_config().revision, cfg.revision + 1);
	cr_assert_eq(count(PIN_POLICY), entries);

	/* Restart: close everything, reopen. The maps are adopted, nothing is
	 * created or written, and a sync of the same cluster writes nothing. */
	cfg = read_config();
	loader_free(ld);
	ld = open_maps();
	cr_assert(ld->adopted);
	cr_assert_eq(ld->n_created, 0);
	now = read_config();
	cr_assert_eq(memcmp(&cfg, &now, sizeof(cfg)), 0, "config untouched by the reopen");
	st = sync_yaml(CLUSTER_BASE FRONTEND("8443"));
	cr_assert_eq(sync_stats_writes(&st), 0, "adoption wrote %llu times",
		     (unsigned long long)sync_stats_writes(&st));
}

Test(sync, second_process_is_refused)
{
	struct loader_opts o = { .pin_dir = pin_dir, .maps_only = true };
	struct loader *other = NULL;

	require_root();
	ld = open_maps();
	cr_assert_eq(loader_open(&o, &other), -EBUSY);
	cr_assert_null(other);
}

Test(sync, other_layout_is_refused_or_replaced)
{
	struct loader_opts o = { .pin_dir = pin_dir, .maps_only = true };
	struct npbpf_meta meta;
	__u32 key = 0;

	require_root();
	ld = open_maps();
	sync_yaml(CLUSTER_BASE);
	cr_assert_eq(bpf_map_lookup_elem(ld->fds[PIN_META], &key, &meta), 0);
	meta.layout = NPBPF_LAYOUT_VERSION + 1;
	cr_assert_eq(bpf_map_update_elem(ld->fds[PIN_META], &key, &meta, BPF_ANY), 0);
	loader_free(ld);
	ld = NULL;
	cr_assert_eq(loader_open(&o, &ld), -EEXIST);
	o.replace = true;
	cr_assert_eq(loader_open(&o, &ld), 0);
	cr_assert_not(ld->adopted);
	cr_assert_eq(count(PIN_POLICY), 0, "replaced maps start empty");
}

Test(sync, status_reads_the_pins)
{
	char cmd[256];
	FILE *p;
	char line[512];
	bool seen = false;

	require_root();
	ld = open_maps();
	sync_yaml(CLUSTER_BASE FRONTEND("8080"));
	snprintf(cmd, sizeof(cmd), "%s status policy --pin-dir %s", NPBPF_EXE, pin_dir);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (strstr(line, "production/app=backend <- monitoring/app=prometheus 9090/TCP "
				 "allow (production/allow-prometheus-scrape rule 0)"))
			seen = true;
	}
	cr_assert_eq(pclose(p), 0);
	cr_assert(seen, "status policy shows the scrape rule in human terms");
}

/* ---- A full map: fail-closed, reported, shown by status. */

/* A map of m's kind and sizes with only max entries, for the sync to write
 * instead of the pinned one: the loader's sizes stay the defaults. */
static int small_map(enum pin_map m, uint32_t max)
{
	const struct pin_spec *sp = &pin_specs[m];
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = sp->flags);
	int fd = bpf_map_create((enum bpf_map_type)sp->type, "npbpf_small", sp->key_size,
				sp->value_size, max, &o);

	cr_assert_geq(fd, 0, "creating a small %s: %s", sp->name, strerror(errno));
	return fd;
}

/* The frontend-to-backend policy with n ports from first on: 8080 is not
 * among them, so the backends lose the allow they had. */
static char *frontend_ports(unsigned first, unsigned n)
{
	size_t len = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	fprintf(f, "%s", CLUSTER_BASE);
	fprintf(f, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
		   "  name: frontend-to-backend\n  namespace: production\nspec:\n"
		   "  podSelector: {matchLabels: {app: backend}}\n  ingress:\n  - from:\n"
		   "    - podSelector: {matchLabels: {app: frontend}}\n    ports:\n");
	for (unsigned p = first; p < first + n; p++)
		fprintf(f, "    - port: %u\n", p);
	fprintf(f, "---\n");
	fclose(f);
	return buf;
}

static uint32_t endpoint_identity(uint32_t ifindex)
{
	struct npbpf_endpoint ep;

	cr_assert_eq(bpf_map_lookup_elem(ld->fds[PIN_ENDPOINT], &ifindex, &ep), 0,
		     "no endpoint %u", ifindex);
	return ep.identity;
}

static struct npbpf_meta read_meta(void)
{
	struct npbpf_meta meta;
	__u32 key = 0;

	cr_assert_eq(bpf_map_lookup_elem(ld->fds[PIN_META], &key, &meta), 0);
	return meta;
}

/* Whether `npbpf status` (args) prints a line containing want. */
static bool status_says(const char *args, const char *want)
{
	char cmd[512], line[4096];
	bool seen = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s status %s --pin-dir %s", NPBPF_EXE, args, pin_dir);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p))
		seen |= !!strstr(line, want);
	cr_assert_eq(pclose(p), 0);
	return seen;
}

/*
 * npbpf_policy has room for 64 entries and the sync is not told (as when a
 * map's size is unknown): the kernel refuses the new generation (E2BIG),
 * then the backends' records pod by pod. The backends, whose new policy
 * takes away frontend:8080, end up on the isolated record, the frontend
 * keeps its records, nothing half-written went live, the sync fails with the
 * map and the errno, and status shows it until a sync succeeds.
 */
Test(sync, full_policy_map_fails_closed_and_status_shows_it)
{
	struct ms_state cur, want;
	struct ms_backend be;
	struct sync_stats st;
	struct npbpf_config cfg;
	struct npbpf_meta meta;
	struct npbpf_subject rec;
	struct world w;
	uint32_t backend, frontend;
	__u32 iso;
	int saved, small, err;
	char *yaml;

	require_root();
	ld = open_maps();
	small = small_map(PIN_POLICY, 64);
	saved = ld->fds[PIN_POLICY];
	ld->fds[PIN_POLICY] = small;
	sync_yaml(CLUSTER_BASE FRONTEND("8080"));
	backend = endpoint_identity(1001);
	frontend = endpoint_identity(1003);
	cfg = read_config();

	yaml = frontend_ports(7000, 80);
	world_load(&w, yaml);
	cr_assert_eq(mapsync_backend(ld, &be), 0);
	cr_assert_eq(be.cap[PIN_POLICY], 64);
	be.cap[PIN_POLICY] = 0;
	ms_state_init(&cur);
	ms_state_init(&want);
	cr_assert_eq(mapsync_read(ld, &cur), 0);
	cr_assert_eq(mapsync_desired(&w.cp, eps, 3, &cur, &want, &st), 0);
	err = mapsync_execute(&want, &cur, &be, &st);
	cr_assert_eq(err, -E2BIG, "the sync fails: %d", err);
	cr_assert_eq(st.err_map, PIN_POLICY);
	cr_assert_eq(st.isolated, 2);
	cr_assert_eq(endpoint_identity(1001), MAPSYNC_ID_ISOLATED);
	cr_assert_eq(endpoint_identity(1002), MAPSYNC_ID_ISOLATED);
	cr_assert_eq(endpoint_identity(1003), frontend, "the frontend's policy did not change");
	cr_assert_eq(read_config().generation, cfg.generation, "no generation went live");
	iso = NPBPF_SUBJECT_KEY(MAPSYNC_ID_ISOLATED, cfg.generation);
	cr_assert_eq(bpf_map_lookup_elem(ld->fds[PIN_SUBJECT], &iso, &rec), 0);
	cr_assert_eq(rec.isolated, 3, "isolated both ways");
	cr_assert_eq(rec.forms[0] | rec.forms[1], 0, "and nothing allowed");
	meta = read_meta();
	cr_assert_eq(meta.error, -E2BIG);
	cr_assert_str_eq(meta.error_map, NPBPF_MAP_POLICY);
	cr_assert_eq(meta.error_isolated, 2);
	cr_assert_eq(meta.failed_syncs, 1);
	cr_assert(status_says("", "result: FAILED"));
	cr_assert(status_says("", "map: npbpf_policy"));
	cr_assert(status_says("-o json", "\"isolated_endpoints\":2"));
	cr_assert(status_says("endpoints", "isolated: a sync could not write its policy"));
	ms_state_free(&cur);
	ms_state_free(&want);
	world_free(&w);
	free(yaml);

	/* Back to a policy that fits: the backends get it, the record clears. */
	sync_yaml(CLUSTER_BASE FRONTEND("8080"));
	cr_assert_eq(endpoint_identity(1001), backend);
	cr_assert_eq(read_meta().error, 0);
	cr_assert(status_says("", "result: ok"));
	ld->fds[PIN_POLICY] = saved;
	close(small);
}

/* Room for the policy once and a bit, not twice: the first sync flips and
 * leaves the old generation empty; a change then goes pod by pod, within
 * the map, and succeeds. */
Test(sync, small_policy_map_switches_pod_by_pod)
{
	struct sync_stats st;
	struct world w;
	int saved, small;
	char *yaml;

	require_root();
	ld = open_maps();
	small = small_map(PIN_POLICY, 120);
	saved = ld->fds[PIN_POLICY];
	ld->fds[PIN_POLICY] = small;
	yaml = frontend_ports(7000, 80);
	st = sync_yaml(yaml);
	cr_assert(st.flipped);
	cr_assert_not(st.per_pod);
	cr_assert_leq(count(PIN_POLICY), 120);
	free(yaml);

	/* The frontend gets an egress policy: its records change, the
	 * backends' (80 entries each generation) do not. */
	yaml = frontend_ports(7000, 80);
	cluster_init(&w.c);
	{
		char *more = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&more, &len);

		fprintf(f, "%s%s", yaml,
			POLICY("production", "frontend-egress",
			       "  podSelector: {matchLabels: {app: frontend}}\n  policyTypes: "
			       "[Egress]\n  egress:\n  - ports:\n    - {port: 53, protocol: UDP}"));
		fclose(f);
		cr_assert_eq(manifest_load_buffer(&w.c, "test.yaml", more, len), 0);
		free(more);
	}
	world_compile(&w, NULL, 0);
	cr_assert_eq(mapsync_apply(ld, &w.cp, eps, 3, &st), 0);
	cr_assert(st.per_pod, "the generations do not fit twice");
	cr_assert_eq(st.err, 0);
	cr_assert_leq(count(PIN_POLICY), 120);
	cr_assert_eq(read_meta().error, 0);
	world_free(&w);
	free(yaml);
	ld->fds[PIN_POLICY] = saved;
	close(small);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void gen_world(struct world *w, uint32_t policies, double *compile_ms)
{
	struct cluster_gen_params gp = { .pods = 10000, .namespaces = 200, .policies = policies,
					 .seed = 1 };
	struct np_addr node;
	size_t len = 0;
	char *yaml = NULL;
	double t0;
	FILE *f;

	f = open_memstream(&yaml, &len);
	cr_assert_not_null(f);
	cr_assert_eq(cluster_gen_write(f, &gp, NULL), 0);
	fclose(f);
	cluster_init(&w->c);
	t0 = now_ms();
	cr_assert_eq(manifest_load_buffer(&w->c, "gen.yaml", yaml, len), 0);
	free(yaml);
	cluster_gen_node_addr(0, &node);
	world_compile(w, &node, 1);
	*compile_ms = now_ms() - t0;
}

/* Node 0's pods (the generator gives each node a /24), on made-up veths. */
static size_t bind_node0(const struct compiled *cp, struct endpoint_binding *bind, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < cp->n_endpoints && n < cap; i++) {
		const struct np_pod *pod = cp->endpoints[i].pod;

		if (pod->n_addrs && pod->addrs[0].family == 4 && pod->addrs[0].bytes[1] == 18 &&
		    pod->addrs[0].bytes[2] == 0)
			bind[n++] = (struct endpoint_binding){ .ns = pod->ns,
							       .name = pod->name,
							       .ifindex = (uint32_t)(2000 + n) };
	}
	return n;
}

static void report(const char *what, const struct world *w, size_t n_bind, double compile_ms,
		   const struct sync_stats *st)
{
	fprintf(stderr,
		"# %s: compile %.0f ms (%zu identities, %zu entries, %zu ipcache; %zu pods bound), "
		"sync %.0f ms (read %.0f, plan %.0f, write %.0f incl. waits %.1f): %llu writes, "
		"%llu to policy maps\n",
		what, compile_ms, w->cp.idn.n_ids, w->cp.n_entries, w->cp.idn.n_ipc_host + w->cp.idn.n_ipc_cidr, n_bind,
		st->read_ms + st->plan_ms + st->write_ms, st->read_ms, st->plan_ms, st->write_ms,
		st->wait_ms, (unsigned long long)sync_stats_writes(st),
		(unsigned long long)sync_stats_policy_writes(st));
}

/* The generated 10,000-pod cluster (2,000 policies), this node's pods bound:
 * a first sync, a recompile + re-sync with nothing changed, and one policy
 * removed. Timings are printed for the record; the asserts are on writes. */
Test(sync, generated_cluster_10k_pods)
{
	struct endpoint_binding bind[250];
	struct sync_stats st;
	struct world w;
	size_t n_bind;
	double ms;

	require_root();
	ld = open_maps();
	gen_world(&w, 2000, &ms);
	n_bind = bind_node0(&w.cp, bind, 250);
	cr_assert_gt(n_bind, 0);
	cr_assert_eq(mapsync_apply(ld, &w.cp, bind, n_bind, &st), 0);
	report("first sync", &w, n_bind, ms, &st);
	cr_assert(st.flipped);
	world_free(&w);

	gen_world(&w, 2000, &ms);
	cr_assert_eq(bind_node0(&w.cp, bind, 250), n_bind);
	cr_assert_eq(mapsync_apply(ld, &w.cp, bind, n_bind, &st), 0);
	report("unchanged", &w, n_bind, ms, &st);
	cr_assert_eq(sync_stats_writes(&st), 0);
	world_free(&w);

	gen_world(&w, 1999, &ms);
	cr_assert_eq(bind_node0(&w.cp, bind, 250), n_bind);
	cr_assert_eq(mapsync_apply(ld, &w.cp, bind, n_bind, &st), 0);
	report("one policy fewer", &w, n_bind, ms, &st);
	cr_assert_lt(sync_stats_writes(&st), 2000, "a small change makes a small sync");
	world_free(&w);
}

/* The whole object: programs load, pin, attach to a veth and detach again,
 * and a second open replaces them in place. */
static char veth[IF_NAMESIZE];

static void veth_del(void)
{
	char cmd[128];

	if (!veth[0])
		return;
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", veth);
	if (system(cmd)) {
		/* gone already */
	}
	veth[0] = '\0';
}

static void teardown_veth(void)
{
	teardown();
	veth_del();
}

Test(sync, programs_attach_and_detach, .fini = teardown_veth)
{
	struct loader_opts o = { .pin_dir = pin_dir };
	uint32_t in1 = 0, eg1 = 0, in2 = 0, eg2 = 0, xdp = 0;
	char cmd[160], path[4096];
	unsigned int ifindex;
	uint8_t mode = 0;

	require_root();
	snprintf(veth, sizeof(veth), "npbt%d", (int)getpid() % 100000);
	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %sp && ip link set %s up",
		 veth, veth, veth);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	ifindex = if_nametoindex(veth);
	cr_assert_gt(ifindex, 0);

	cr_assert_eq(loader_open(&o, &ld), 0, "the BPF object loads");
	for (int p = 0; p < PIN_N_PROGS; p++) {
		cr_assert_eq(pinned_path(pin_dir, pin_prog_names[p], path, sizeof(path)), 0);
		cr_assert_eq(access(path, F_OK), 0, "%s pinned", path);
	}
	cr_assert_eq(loader_attach_tc(ld, ifindex), 0);
	cr_assert_eq(loader_query_tc(ifindex, &in1, &eg1), 0);
	cr_assert(in1 && eg1 && in1 != eg1);

	/* An agent restart: the new programs replace the old filters in place. */
	loader_free(ld);
	ld = NULL;
	cr_assert_eq(loader_open(&o, &ld), 0);
	cr_assert(ld->adopted);
	cr_assert_eq(loader_query_tc(ifindex, &in2, &eg2), 0);
	cr_assert_eq(in2, in1, "the old filters stay until replaced");
	cr_assert_eq(loader_attach_tc(ld, ifindex), 0);
	cr_assert_eq(loader_query_tc(ifindex, &in2, &eg2), 0);
	cr_assert(in2 && eg2 && in2 != in1, "replaced by the new program");

	cr_assert_eq(loader_attach_xdp(ld, ifindex, false), 0);
	cr_assert_eq(loader_query_xdp(ifindex, &xdp, &mode), 0);
	cr_assert_gt(xdp, 0);
	cr_assert_eq(loader_detach_xdp(ld, ifindex), 0);
	cr_assert_eq(loader_query_xdp(ifindex, &xdp, &mode), 0);
	cr_assert_eq(xdp, 0);

	cr_assert_eq(loader_detach_tc(ld, ifindex), 0);
	cr_assert_eq(loader_query_tc(ifindex, &in2, &eg2), 0);
	cr_assert(!in2 && !eg2);
	/* The clsact qdisc was created by the first loader, not this one: it
	 * stays (tc qdisc show lists it). */
	snprintf(cmd, sizeof(cmd), "tc qdisc show dev %s | grep -q clsact", veth);
	cr_assert_eq(system(cmd), 0);
}
