/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Synthetic cluster generator (see cluster_gen.h for the shape). Three steps:
 * plan namespaces and workloads in memory, write the Namespaces and Pods from
 * the plan, then write the policies, each built from one of the patterns the
 * guides teach and aimed at a planned workload so that selectors match real
 * pods. One PRNG stream drives everything, in that order, so the bytes depend
 * only on the parameters.
 */
#include "cluster_gen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

/* ---- PRNG: splitmix64, small and good enough for shapes, not for secrets. */

struct gen_rng {
	uint64_t s;
};

static uint64_t rng_next(struct gen_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. Multiply-shift: the bias at these n is far below
 * anything a benchmark shape could notice. */
static uint32_t rng_below(struct gen_rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static uint32_t rng_range(struct gen_rng *r, uint32_t lo, uint32_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

static bool rng_chance(struct gen_rng *r, uint32_t percent)
{
	return rng_below(r, 100) < percent;
}

/* ---- Output: every write goes through here so errors and size are kept once. */

struct gen_out {
	FILE *f;
	uint64_t bytes;
	int err; /* first -errno */
};

static void put(struct gen_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct gen_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vfprintf(o->f, fmt, ap);
	va_end(ap);
	if (n < 0)
		o->err = errno ? -errno : -EIO;
	else
		o->bytes += (uint64_t)n;
}

/* ---- Vocabulary. */

static const char *const gen_teams[] = {
	"payments", "checkout", "search",   "identity",  "catalog", "shipping",
	"billing",  "ads",      "analytics", "messaging", "media",   "growth",
	"risk",     "support",  "inventory", "pricing",   "reviews", "notify",
	"data",     "mobile",   "partners",  "loyalty",   "fraud",   "content",
};
#define N_TEAMS (sizeof(gen_teams) / sizeof(gen_teams[0]))

static const char *const gen_products[] = {
	"core",  "portal", "ledger", "events", "reports", "sync",  "jobs",
	"admin", "edge",   "store",  "feeds",  "auth",    "recs",  "chat",
	"maps",  "orders", "cart",   "profile", "quotes", "vault",
};
#define N_PRODUCTS (sizeof(gen_products) / sizeof(gen_products[0]))

static const char *const gen_envs[] = { "prod", "staging", "dev" };
#define N_ENVS 3

/* Kubernetes' own alphabet for generated name suffixes (no vowels, no
 * look-alikes), so names look like kubectl's. */
static const char gen_alnum[] = "bcdfghjklmnpqrstvwxz2456789";
#define N_ALNUM (sizeof(gen_alnum) - 1)

enum gen_kind {
	GK_DEPLOY,
	GK_STS,
	GK_DS,
};

enum gen_tier {
	TIER_NONE, /* system component: labels of its own, no app/tier labels */
	TIER_FRONTEND,
	TIER_BACKEND,
	TIER_DB,
};

static const char *const gen_tier_names[] = { "", "frontend", "backend", "db" };

struct gen_port {
	const char *name;
	uint16_t port;
	uint8_t proto;
};

struct gen_comp {
	const char *name;
	const char *image;
	enum gen_kind kind;
	enum gen_tier tier;
	uint8_t min_rep, max_rep;
	bool host_network;
	const char *labels[3][2]; /* fixed labels (system components) */
	struct gen_port ports[4];
};

/* Application components, in the order a namespace acquires them. */
static const struct gen_comp gen_app_comps[] = {
	{ "web", "nginx-unprivileged:1.25", GK_DEPLOY, TIER_FRONTEND, 5, 20, false, { { 0 } },
	  { { "http", 8080, IPPROTO_TCP }, { "metrics", 9090, IPPROTO_TCP } } },
	{ "api", "api-server", GK_DEPLOY, TIER_BACKEND, 5, 20, false, { { 0 } },
	  { { "http", 8080, IPPROTO_TCP }, { "grpc", 9000, IPPROTO_TCP },
	    { "metrics", 9090, IPPROTO_TCP } } },
	{ "postgres", "postgres:16.2", GK_STS, TIER_DB, 1, 3, false, { { 0 } },
	  { { "postgres", 5432, IPPROTO_TCP }, { "metrics", 9187, IPPROTO_TCP } } },
	{ "worker", "worker", GK_DEPLOY, TIER_BACKEND, 5, 15, false, { { 0 } },
	  { { "metrics", 9090, IPPROTO_TCP } } },
	{ "redis", "redis:7.2", GK_STS, TIER_DB, 1, 3, false, { { 0 } },
	  { { "redis", 6379, IPPROTO_TCP }, { "metrics", 9121, IPPROTO_TCP } } },
	{ "rpc", "rpc-server", GK_DEPLOY, TIER_BACKEND, 5, 20, false, { { 0 } },
	  { { "grpc", 9000, IPPROTO_TCP }, { "metrics", 9090, IPPROTO_TCP } } },
	{ "gateway", "envoy:v1.29", GK_DEPLOY, TIER_FRONTEND, 5, 12, false, { { 0 } },
	  { { "http", 8080, IPPROTO_TCP }, { "https", 8443, IPPROTO_TCP },
	    { "metrics", 9090, IPPROTO_TCP } } },
	{ "memcached", "memcached:1.6", GK_DEPLOY, TIER_DB, 2, 5, false, { { 0 } },
	  { { "memcache", 11211, IPPROTO_TCP }, { "metrics", 9150, IPPROTO_TCP } } },
	{ "statsd", "statsd-exporter:v0.26", GK_DEPLOY, TIER_BACKEND, 2, 4, false, { { 0 } },
	  { { "statsd", 9125, IPPROTO_UDP }, { "metrics", 9102, IPPROTO_TCP } } },
};
#define N_APP_COMPS (sizeof(gen_app_comps) / sizeof(gen_app_comps[0]))

enum gen_sys {
	SYS_COREDNS,
	SYS_KUBE_PROXY,
	SYS_METRICS_SERVER,
	SYS_PROMETHEUS,
	SYS_GRAFANA,
	SYS_INGRESS,
	N_SYS,
};

/* The special namespaces, when there is room for them (namespaces >= 4). */
enum gen_special_ns {
	NS_KUBE_SYSTEM,
	NS_MONITORING,
	NS_INGRESS,
	N_SPECIAL_NS,
};

static const char *const gen_special_ns_names[] = { "kube-system", "monitoring", "ingress-nginx" };

/* System components; the kube-proxy replica count is the node count. */
static const struct {
	struct gen_comp comp;
	enum gen_special_ns ns;
} gen_sys_comps[N_SYS] = {
	[SYS_COREDNS] = { { "coredns", "registry.k8s.io/coredns/coredns:v1.11.1", GK_DEPLOY,
			    TIER_NONE, 2, 2, false, { { "k8s-app", "kube-dns" } },
			    { { "dns", 53, IPPROTO_UDP }, { "dns-tcp", 53, IPPROTO_TCP },
			      { "metrics", 9153, IPPROTO_TCP } } },
			  NS_KUBE_SYSTEM },
	[SYS_KUBE_PROXY] = { { "kube-proxy", "registry.k8s.io/kube-proxy:v1.29.3", GK_DS,
			       TIER_NONE, 0, 0, true, { { "k8s-app", "kube-proxy" } },
			       { { "metrics", 10249, IPPROTO_TCP } } },
			     NS_KUBE_SYSTEM },
	[SYS_METRICS_SERVER] = { { "metrics-server",
				   "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
				   GK_DEPLOY, TIER_NONE, 1, 1, false,
				   { { "k8s-app", "metrics-server" } },
				   { { "https", 10250, IPPROTO_TCP } } },
				 NS_KUBE_SYSTEM },
	[SYS_PROMETHEUS] = { { "prometheus-k8s", "quay.io/prometheus/prometheus:v2.51.1", GK_STS,
			       TIER_NONE, 2, 2, false,
			       { { "app.kubernetes.io/name", "prometheus" },
				 { "app.kubernetes.io/instance", "k8s" } },
			       { { "web", 9090, IPPROTO_TCP } } },
			     NS_MONITORING },
	[SYS_GRAFANA] = { { "grafana", "grafana/grafana:10.4.1", GK_DEPLOY, TIER_NONE, 1, 1, false,
			    { { "app.kubernetes.io/name", "grafana" } },
			    { { "http", 3000, IPPROTO_TCP } } },
			  NS_MONITORING },
	[SYS_INGRESS] = { { "ingress-nginx-controller",
			    "registry.k8s.io/ingress-nginx/controller:v1.10.1", GK_DEPLOY,
			    TIER_NONE, 2, 3, false,
			    { { "app.kubernetes.io/name", "ingress-nginx" },
			      { "app.kubernetes.io/component", "controller" },
			      { "app.kubernetes.io/instance", "ingress-nginx" } },
			    { { "http", 80, IPPROTO_TCP }, { "https", 443, IPPROTO_TCP },
			      { "metrics", 10254, IPPROTO_TCP } } },
			  NS_INGRESS },
};

/* ---- The plan. */

/* Node k owns the pod CIDR 198.18.0.0 + k*256 /24, hosts .2 to .251, and the
 * address 198.19.192.10 + k: 448 /24s end at 198.19.191.255, below the node
 * range, so pod and node addresses never meet. Up to GEN_LEGACY_MAX_PODS
 * pods there are at most 448 nodes (up to 250 pods each); beyond it (the
 * agent's 150,000-pod memory benchmark) every 100 pods get a node again, and
 * nodes 448 and up take their /24 from 10.0.0.0/8 (10.0.0.0 + (k - 448) *
 * 256): data only, never sent traffic, and outside the 198.18.0.0/15 the
 * generated ipBlocks except, but inside their 10.0.0.0/8 except. Node
 * addresses stay in 198.19.192.0/18 (2,000 nodes at most). */
#define GEN_MAX_NODES 448u
#define GEN_LEGACY_MAX_PODS 100000u
#define GEN_MAX_NODES_BIG ((CLUSTER_GEN_MAX_PODS + 99) / 100)
#define GEN_PODS_PER_NODE 250u
#define GEN_NODE_BASE 0xc613c00au /* 198.19.192.10 */
#define GEN_POD_BASE 0xc6120000u  /* 198.18.0.0 */
#define GEN_POD_BASE_BIG 0x0a000000u /* 10.0.0.0 */

_Static_assert(GEN_MAX_NODES_BIG <= 16384 - 10, "node addresses fit 198.19.192.0/18");
_Static_assert(GEN_MAX_NODES_BIG - GEN_MAX_NODES <= 65536, "node /24s fit 10.0.0.0/8");

/* The first address of node k's pod /24. */
static uint32_t gen_node_cidr(uint32_t node)
{
	return node < GEN_MAX_NODES ? GEN_POD_BASE + node * 256
				    : GEN_POD_BASE_BIG + (node - GEN_MAX_NODES) * 256;
}

struct gen_ns {
	char name[64];
	const char *team; /* NULL for the special namespaces */
	const char *env;
	const char *product;
	bool deny_egress;
	uint32_t n_policies; /* numbers policy names */
};

struct gen_wl {
	const struct gen_comp *comp;
	uint32_t ns;
	uint32_t replicas;
	char name[32]; /* workload name, and the app label of application pods */
	char hash[12];
	char version[16];
	bool dual_stack;
	bool moved_port; /* mid-rollout ReplicaSet whose http port moved to 8081 */
};

struct gen {
	const struct cluster_gen_params *p;
	struct gen_rng rng;
	struct gen_out out;
	struct gen_ns *ns;
	uint32_t n_ns;
	uint32_t first_app_ns; /* N_SPECIAL_NS or 0 */
	struct gen_wl *wls;
	size_t n_wls, cap_wls;
	uint32_t *app_wls; /* indexes of application workloads, the policy targets */
	size_t n_app_wls, cap_app_wls;
	uint32_t n_nodes;
	uint32_t *node_used;
	struct cluster_gen_stats stats;
};

/* A hash-like token of len - 1 characters. An all-digit token would read as
 * a YAML integer where a label value must be a string, so the first character
 * is then made a letter (kubectl would quote it instead). */
static void gen_token(struct gen_rng *r, char *buf, size_t len)
{
	bool letter = false;

	for (size_t i = 0; i + 1 < len; i++) {
		buf[i] = gen_alnum[rng_below(r, N_ALNUM)];
		letter |= buf[i] >= 'a';
	}
	if (!letter)
		buf[0] = gen_alnum[rng_below(r, 20)]; /* the first 20 are letters */
	buf[len - 1] = '\0';
}

static void gen_plan_namespaces(struct gen *g)
{
	uint32_t n_special = g->p->namespaces >= N_SPECIAL_NS + 1 ? N_SPECIAL_NS : 0;

	g->first_app_ns = n_special;
	for (uint32_t i = 0; i < n_special; i++)
		snprintf(g->ns[i].name, sizeof(g->ns[i].name), "%s", gen_special_ns_names[i]);
	/* team-product-env is unique for the first 24*20*3 namespaces; later
	 * rounds get a number, as real clusters grow "-2" namespaces. */
	for (uint32_t i = n_special; i < g->p->namespaces; i++) {
		struct gen_ns *n = &g->ns[i];
		uint32_t k = i - n_special;
		uint32_t round = k / (N_ENVS * N_TEAMS * N_PRODUCTS);

		n->env = gen_envs[k % N_ENVS];
		n->team = gen_teams[(k / N_ENVS) % N_TEAMS];
		n->product = gen_products[(k / (N_ENVS * N_TEAMS)) % N_PRODUCTS];
		if (round)
			snprintf(n->name, sizeof(n->name), "%s-%s-%s-%u", n->team, n->product,
				 n->env, round + 1);
		else
			snprintf(n->name, sizeof(n->name), "%s-%s-%s", n->team, n->product, n->env);
	}
	g->n_ns = g->p->namespaces;
}

static struct gen_wl *gen_add_wl(struct gen *g, const struct gen_comp *comp, uint32_t ns,
				 uint32_t replicas, const char *name)
{
	struct gen_wl *w = VEC_PUSH(g->wls, g->n_wls, g->cap_wls);

	if (!w)
		return NULL;
	w->comp = comp;
	w->ns = ns;
	w->replicas = replicas;
	snprintf(w->name, sizeof(w->name), "%s", name);
	gen_token(&g->rng, w->hash, 10 + rng_below(&g->rng, 2));
	snprintf(w->version, sizeof(w->version), "v%u.%u.%u", rng_range(&g->rng, 1, 3),
		 rng_below(&g->rng, 30), rng_below(&g->rng, 10));
	return w;
}

/* An application workload; a Deployment is sometimes caught mid-rollout: two
 * ReplicaSets, two hashes and versions, so two identities for one app. */
static int gen_add_app_wl(struct gen *g, const struct gen_comp *comp, uint32_t ns,
			  uint32_t replicas, const char *name, bool dual)
{
	uint32_t old = 0;
	struct gen_wl *w;

	if (comp->kind == GK_DEPLOY && replicas >= 4 && rng_chance(&g->rng, 8))
		old = replicas / 3;
	w = gen_add_wl(g, comp, ns, replicas - old, name);
	if (!w)
		return -ENOMEM;
	w->dual_stack = dual;
	if (!VEC_PUSH(g->app_wls, g->n_app_wls, g->cap_app_wls))
		return -ENOMEM;
	g->app_wls[g->n_app_wls - 1] = (uint32_t)(g->n_wls - 1);
	if (!old)
		return 0;

	/* The new ReplicaSet sometimes moves a named port: the case where equal
	 * names must resolve to different numbers per pod. */
	w->moved_port = rng_chance(&g->rng, 30);
	w = gen_add_wl(g, comp, ns, old, name);
	if (!w)
		return -ENOMEM;
	w->dual_stack = dual;
	if (!VEC_PUSH(g->app_wls, g->n_app_wls, g->cap_app_wls))
		return -ENOMEM;
	g->app_wls[g->n_app_wls - 1] = (uint32_t)(g->n_wls - 1);
	return 0;
}

/* About one workload per 10 pods, so identities follow workloads (one per
 * Deployment, one per StatefulSet pod), not pods. */
#define GEN_PODS_PER_WORKLOAD 10u

/* Small components (databases, exporters) keep their own 1-5 replicas; the
 * scalable ones share the rest of the namespace's pods. */
static bool gen_comp_scales(const struct gen_comp *c)
{
	return c->max_rep > 5;
}

struct gen_slot {
	const struct gen_comp *comp;
	uint32_t round; /* 0 for the first of its component, 1 for "-2"... */
	uint32_t replicas;
	uint32_t weight;
};

/* Fills one namespace with workloads using exactly budget pods: web and api
 * first, then components at random. */
static int gen_plan_ns_workloads(struct gen *g, uint32_t ns, uint32_t budget)
{
	/* Whole namespaces are dual-stack or not, as clusters migrate. */
	bool dual = rng_chance(&g->rng, 25);
	uint32_t k = (budget + GEN_PODS_PER_WORKLOAD / 2) / GEN_PODS_PER_WORKLOAD;
	uint32_t used[N_APP_COMPS] = { 0 };
	uint32_t pool = budget, n_scaled = 0, spare;
	uint64_t total_w = 0, acc = 0, done = 0;
	struct gen_slot *plan = NULL;
	char name[32];
	int err = 0;

	if (!budget)
		return 0;
	if (!k)
		k = 1;
	plan = calloc(k, sizeof(*plan));
	if (!plan)
		return -ENOMEM;
	for (uint32_t i = 0; i < k; i++) {
		uint32_t ci = i < 2 ? i : rng_below(&g->rng, N_APP_COMPS);

		plan[i].comp = &gen_app_comps[ci];
		plan[i].round = used[ci]++;
		n_scaled += gen_comp_scales(plan[i].comp);
	}
	/* plan[0] is web, which scales: n_scaled >= 1 and every scalable
	 * workload keeps at least one pod. */
	for (uint32_t i = 0; i < k; i++) {
		const struct gen_comp *c = plan[i].comp;
		uint32_t r;

		if (gen_comp_scales(c)) {
			plan[i].weight = rng_range(&g->rng, 2, 8);
			total_w += plan[i].weight;
			continue;
		}
		r = rng_range(&g->rng, c->min_rep, c->max_rep);
		if (r > pool - n_scaled)
			r = pool - n_scaled;
		plan[i].replicas = r;
		pool -= r;
	}
	spare = pool - n_scaled;
	for (uint32_t i = 0; i < k; i++) {
		uint64_t upto;

		if (!gen_comp_scales(plan[i].comp))
			continue;
		acc += plan[i].weight;
		upto = (uint64_t)spare * acc / total_w;
		plan[i].replicas = 1 + (uint32_t)(upto - done);
		done = upto;
	}
	for (uint32_t i = 0; i < k; i++) {
		if (!plan[i].replicas)
			continue; /* a small component the budget had no room for */
		if (plan[i].round)
			snprintf(name, sizeof(name), "%s-%u", plan[i].comp->name,
				 plan[i].round + 1);
		else
			snprintf(name, sizeof(name), "%s", plan[i].comp->name);
		err = gen_add_app_wl(g, plan[i].comp, ns, plan[i].replicas, name, dual);
		if (err)
			break;
	}
	free(plan);
	return err;
}

static int gen_plan_workloads(struct gen *g)
{
	uint32_t left = g->p->pods;
	uint32_t n_app = g->n_ns - g->first_app_ns;
	uint64_t *prefix = NULL;
	uint64_t total = 0, done = 0;
	int err = 0;

	/* System components first, each cut to what is left. */
	for (int s = 0; g->first_app_ns && s < N_SYS && left; s++) {
		const struct gen_comp *comp = &gen_sys_comps[s].comp;
		uint32_t n = comp->kind == GK_DS ? g->n_nodes
						 : rng_range(&g->rng, comp->min_rep, comp->max_rep);

		if (n > left)
			n = left;
		if (!gen_add_wl(g, comp, gen_sys_comps[s].ns, n, comp->name)) {
			err = -ENOMEM;
			goto out;
		}
		g->wls[g->n_wls - 1].dual_stack = s == SYS_COREDNS;
		left -= n;
	}
	if (!n_app || !left)
		goto out;

	/* Namespace sizes are skewed: weight 500 + 2000 u^3 (a few namespaces
	 * five times the median). Budgets come from rounded prefix sums, so
	 * they add up to exactly what is left. */
	prefix = calloc(n_app, sizeof(*prefix));
	if (!prefix) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n_app; i++) {
		uint64_t u = rng_below(&g->rng, 1000);

		total += 500 + u * u * u * 2 / 1000000ull;
		prefix[i] = total;
	}
	for (uint32_t i = 0; i < n_app; i++) {
		uint64_t upto = (uint64_t)left * prefix[i] / total;

		err = gen_plan_ns_workloads(g, g->first_app_ns + i, (uint32_t)(upto - done));
		if (err)
			goto out;
		done = upto;
	}
out:
	free(prefix);
	return err;
}

/* ---- Namespaces and pods. */

static void gen_write_namespace(struct gen *g, const struct gen_ns *n, uint32_t idx)
{
	struct gen_out *o = &g->out;

	put(o, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n"
	       "    kubernetes.io/metadata.name: %s\n", n->name, n->name);
	if (!n->team) {
		if (idx == NS_MONITORING)
			put(o, "    team: platform\n");
		else if (idx == NS_INGRESS)
			put(o, "    app.kubernetes.io/name: ingress-nginx\n");
		return;
	}
	put(o, "    team: %s\n    env: %s\n    pod-security.kubernetes.io/enforce: %s\n", n->team,
	    n->env, strcmp(n->env, "prod") ? "baseline" : "restricted");
}

static uint16_t gen_port_number(const struct gen_wl *w, const struct gen_port *pt)
{
	if (w->moved_port && !strcmp(pt->name, "http"))
		return 8081;
	return pt->port;
}

static void gen_write_pod(struct gen *g, const struct gen_wl *w, uint32_t replica,
			  const char *suffix)
{
	const struct gen_comp *c = w->comp;
	struct gen_out *o = &g->out;
	char pod[96];
	uint32_t node, host = 0, nip, ip;

	if (c->kind == GK_STS)
		snprintf(pod, sizeof(pod), "%s-%u", w->name, replica);
	else if (c->kind == GK_DS)
		snprintf(pod, sizeof(pod), "%s-%s", w->name, suffix);
	else
		snprintf(pod, sizeof(pod), "%s-%s-%s", w->name, w->hash, suffix);

	put(o, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n"
	       "  labels:\n", pod, g->ns[w->ns].name);
	for (size_t i = 0; i < 3 && c->labels[i][0]; i++)
		put(o, "    %s: %s\n", c->labels[i][0], c->labels[i][1]);
	if (c->tier != TIER_NONE)
		put(o, "    app: %s\n    app.kubernetes.io/name: %s\n"
		       "    app.kubernetes.io/part-of: %s\n    tier: %s\n    version: %s\n",
		    w->name, w->name, g->ns[w->ns].product, gen_tier_names[c->tier], w->version);
	switch (c->kind) {
	case GK_DEPLOY:
		put(o, "    pod-template-hash: %s\n", w->hash);
		break;
	case GK_STS:
		/* The per-pod label gives every StatefulSet pod its own identity,
		 * as in real clusters. */
		put(o, "    controller-revision-hash: %s-%s\n"
		       "    statefulset.kubernetes.io/pod-name: %s\n", w->name, w->hash, pod);
		break;
	case GK_DS:
		put(o, "    controller-revision-hash: %s\n    pod-template-generation: \"1\"\n",
		    w->hash);
		break;
	}

	if (c->host_network) {
		node = replica; /* one DaemonSet pod per node */
	} else {
		node = rng_below(&g->rng, g->n_nodes);
		while (g->node_used[node] >= GEN_PODS_PER_NODE)
			node = (node + 1) % g->n_nodes;
		host = 2 + g->node_used[node]++;
	}

	put(o, "spec:\n  nodeName: node-%03u\n", node);
	if (c->host_network)
		put(o, "  hostNetwork: true\n");
	put(o, "  containers:\n  - name: %s\n    image: %s\n    ports:\n", c->name, c->image);
	for (size_t i = 0; i < 4 && c->ports[i].name; i++)
		put(o, "    - name: %s\n      containerPort: %u\n      protocol: %s\n",
		    c->ports[i].name, gen_port_number(w, &c->ports[i]),
		    proto_name(c->ports[i].proto));

	nip = GEN_NODE_BASE + node;
	ip = c->host_network ? nip : gen_node_cidr(node) + host;
	put(o, "status:\n  phase: Running\n  hostIP: %u.%u.%u.%u\n  podIP: %u.%u.%u.%u\n"
	       "  podIPs:\n  - ip: %u.%u.%u.%u\n", nip >> 24, (nip >> 16) & 255, (nip >> 8) & 255,
	    nip & 255, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, ip >> 24,
	    (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	if (w->dual_stack && !c->host_network) {
		put(o, "  - ip: 2001:db8:%x::%x\n", node, host);
		g->stats.dual_stack++;
	}
	if (c->host_network)
		g->stats.host_network++;
}

static void gen_write_pods(struct gen *g)
{
	for (size_t i = 0; i < g->n_wls; i++) {
		const struct gen_wl *w = &g->wls[i];
		/* Distinct suffixes within a workload: a random start and a step
		 * prime to 27^5 walk the suffix space without repeating. */
		uint32_t space = N_ALNUM * N_ALNUM * N_ALNUM * N_ALNUM * N_ALNUM;
		uint32_t at = rng_below(&g->rng, space);
		uint32_t step = 3 * rng_range(&g->rng, 1000, 100000) + 1;

		for (uint32_t r = 0; r < w->replicas; r++) {
			char suffix[6];
			uint32_t v = at;

			for (int k = 0; k < 5; k++) {
				suffix[k] = gen_alnum[v % N_ALNUM];
				v /= N_ALNUM;
			}
			suffix[5] = '\0';
			gen_write_pod(g, w, r, suffix);
			at = (uint32_t)(((uint64_t)at + step) % space);
		}
	}
}

/* ---- Policies: a small description, then one writer for all of them. */

struct gsel {
	const char *lk[3], *lv[3];
	size_t n_labels;
	struct {
		const char *key, *op;
		const char *vals[3];
		size_t n_vals;
	} ex[3];
	size_t n_ex;
};

struct gpeer {
	bool has_pod, has_ns;
	struct gsel pod, ns;
	const char *cidr;
	const char *except[3];
	size_t n_except;
};

struct gport {
	const char *proto; /* NULL: omitted (TCP) */
	const char *name;  /* named port, or NULL */
	uint16_t port;     /* 0 and no name: all ports of proto */
	uint16_t end_port;
};

struct grule {
	struct gpeer peers[3];
	size_t n_peers;
	struct gport ports[3];
	size_t n_ports;
};

struct gpol {
	uint32_t ns;
	char name[96];
	struct gsel subject;
	bool types[2];      /* indexed by enum np_dir */
	bool omit_types;    /* leave policyTypes to defaulting (ingress-only policies) */
	struct grule rules[2][2];
	size_t n_rules[2];
};

static void sel_label(struct gsel *s, const char *k, const char *v)
{
	s->lk[s->n_labels] = k;
	s->lv[s->n_labels++] = v;
}

static void sel_expr(struct gsel *s, const char *key, const char *op, const char *v1,
		     const char *v2)
{
	s->ex[s->n_ex].key = key;
	s->ex[s->n_ex].op = op;
	if (v1)
		s->ex[s->n_ex].vals[s->ex[s->n_ex].n_vals++] = v1;
	if (v2)
		s->ex[s->n_ex].vals[s->ex[s->n_ex].n_vals++] = v2;
	s->n_ex++;
}

static struct grule *pol_rule(struct gpol *p, enum np_dir dir)
{
	p->types[dir] = true;
	return &p->rules[dir][p->n_rules[dir]++];
}

static struct gpeer *rule_peer(struct grule *r)
{
	return &r->peers[r->n_peers++];
}

static void rule_port(struct grule *r, const char *proto, const char *name, uint16_t port,
		      uint16_t end_port)
{
	struct gport *pt = &r->ports[r->n_ports++];

	pt->proto = proto;
	pt->name = name;
	pt->port = port;
	pt->end_port = end_port;
}

/* lead: what precedes the key on its line ("  ", "    - "); col: the key's column. */
static void put_sel(struct gen_out *o, const char *lead, int col, const char *key,
		    const struct gsel *s)
{
	if (!s->n_labels && !s->n_ex) {
		put(o, "%s%s: {}\n", lead, key);
		return;
	}
	put(o, "%s%s:\n", lead, key);
	if (s->n_labels)
		put(o, "%*smatchLabels:\n", col + 2, "");
	for (size_t i = 0; i < s->n_labels; i++)
		put(o, "%*s%s: %s\n", col + 4, "", s->lk[i], s->lv[i]);
	if (s->n_ex)
		put(o, "%*smatchExpressions:\n", col + 2, "");
	for (size_t i = 0; i < s->n_ex; i++) {
		put(o, "%*s- key: %s\n%*soperator: %s\n", col + 2, "", s->ex[i].key, col + 4, "",
		    s->ex[i].op);
		if (s->ex[i].n_vals)
			put(o, "%*svalues:\n", col + 4, "");
		for (size_t v = 0; v < s->ex[i].n_vals; v++)
			put(o, "%*s- %s\n", col + 4, "", s->ex[i].vals[v]);
	}
}

static void put_rule(struct gen_out *o, const struct grule *r, enum np_dir dir)
{
	const char *lead = "  - ";

	if (!r->n_peers && !r->n_ports) {
		put(o, "  - {}\n");
		return;
	}
	if (r->n_peers) {
		put(o, "%s%s:\n", lead, dir == NP_INGRESS ? "from" : "to");
		lead = "    ";
	}
	for (size_t i = 0; i < r->n_peers; i++) {
		const struct gpeer *p = &r->peers[i];
		const char *plead = "    - ";

		if (p->has_ns) {
			put_sel(o, plead, 6, "namespaceSelector", &p->ns);
			plead = "      ";
		}
		if (p->has_pod) {
			put_sel(o, plead, 6, "podSelector", &p->pod);
			plead = "      ";
		}
		if (p->cidr) {
			/* "::/0" is a valid plain scalar, but quoted it reads
			 * unambiguously to every YAML parser. */
			put(o, p->cidr[0] == ':' ? "%sipBlock:\n        cidr: \"%s\"\n"
						 : "%sipBlock:\n        cidr: %s\n",
			    plead, p->cidr);
			if (p->n_except)
				put(o, "        except:\n");
			for (size_t e = 0; e < p->n_except; e++)
				put(o, "        - %s\n", p->except[e]);
		}
	}
	if (r->n_ports)
		put(o, "%sports:\n", lead);
	for (size_t i = 0; i < r->n_ports; i++) {
		const struct gport *pt = &r->ports[i];
		const char *plead = "    - ";

		if (pt->proto) {
			put(o, "%sprotocol: %s\n", plead, pt->proto);
			plead = "      ";
		}
		if (pt->name)
			put(o, "%sport: %s\n", plead, pt->name);
		else if (pt->port)
			put(o, "%sport: %u\n", plead, pt->port);
		if (pt->end_port)
			put(o, "      endPort: %u\n", pt->end_port);
	}
}

static void put_policy(struct gen *g, const struct gpol *p)
{
	static const char *const dir_key[] = { "ingress", "egress" };
	static const char *const dir_type[] = { "Ingress", "Egress" };
	struct gen_out *o = &g->out;

	put(o, "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
	       "  name: %s\n  namespace: %s\nspec:\n", p->name, g->ns[p->ns].name);
	put_sel(o, "  ", 2, "podSelector", &p->subject);
	if (!p->omit_types || p->types[NP_EGRESS]) {
		put(o, "  policyTypes:\n");
		for (int d = 0; d < 2; d++) {
			if (p->types[d])
				put(o, "  - %s\n", dir_type[d]);
		}
	}
	for (int d = 0; d < 2; d++) {
		if (!p->n_rules[d])
			continue;
		put(o, "  %s:\n", dir_key[d]);
		for (size_t i = 0; i < p->n_rules[d]; i++)
			put_rule(o, &p->rules[d][i], (enum np_dir)d);
	}
}

/* Policy names: "<base>-<n>" with n counting per namespace keeps them unique
 * without remembering the names already used. */
static void pol_init(struct gen *g, struct gpol *p, uint32_t ns, const char *base, bool numbered)
{
	memset(p, 0, sizeof(*p));
	p->ns = ns;
	if (numbered)
		snprintf(p->name, sizeof(p->name), "%s-%u", base, ++g->ns[ns].n_policies);
	else
		snprintf(p->name, sizeof(p->name), "%s", base);
}

static void peer_kube_dns(struct gpeer *pe)
{
	pe->has_ns = pe->has_pod = true;
	sel_label(&pe->ns, "kubernetes.io/metadata.name", "kube-system");
	sel_label(&pe->pod, "k8s-app", "kube-dns");
}

static void peer_prometheus(struct gpeer *pe)
{
	pe->has_ns = pe->has_pod = true;
	sel_label(&pe->ns, "kubernetes.io/metadata.name", "monitoring");
	sel_label(&pe->pod, "app.kubernetes.io/name", "prometheus");
}

static void peer_ingress_nginx(struct gpeer *pe)
{
	pe->has_ns = pe->has_pod = true;
	sel_label(&pe->ns, "kubernetes.io/metadata.name", "ingress-nginx");
	sel_label(&pe->pod, "app.kubernetes.io/name", "ingress-nginx");
}

/* The baseline of an application namespace: deny ingress, egress or both. */
static void gen_pol_default_deny(struct gen *g, struct gpol *p, uint32_t ns)
{
	uint32_t r = rng_below(&g->rng, 100);

	if (r < 45) {
		pol_init(g, p, ns, "default-deny-all", false);
		p->types[NP_INGRESS] = p->types[NP_EGRESS] = true;
	} else if (r < 80) {
		pol_init(g, p, ns, "default-deny-ingress", false);
		p->types[NP_INGRESS] = true;
	} else {
		pol_init(g, p, ns, "default-deny-egress", false);
		p->types[NP_EGRESS] = true;
	}
	g->ns[ns].deny_egress = p->types[NP_EGRESS];
}

/* DNS egress, in the forms the guides show (the portless peer-less one too). */
static void gen_pol_dns(struct gen *g, struct gpol *p, uint32_t ns)
{
	uint32_t r = rng_below(&g->rng, 100);
	struct grule *ru;

	pol_init(g, p, ns, "allow-dns", false);
	ru = pol_rule(p, NP_EGRESS);
	if (r < 60) {
		peer_kube_dns(rule_peer(ru));
		rule_port(ru, "UDP", NULL, 53, 0);
		rule_port(ru, "TCP", NULL, 53, 0);
	} else if (r < 75) {
		/* Named ports resolve on the destination: coredns's dns/dns-tcp. */
		peer_kube_dns(rule_peer(ru));
		rule_port(ru, "UDP", "dns", 0, 0);
		rule_port(ru, "TCP", "dns-tcp", 0, 0);
	} else if (r < 90) {
		rule_peer(ru)->has_ns = true; /* namespaceSelector: {} */
		rule_port(ru, "UDP", NULL, 53, 0);
		rule_port(ru, "TCP", NULL, 53, 0);
	} else {
		rule_port(ru, "UDP", NULL, 53, 0);
		rule_port(ru, "TCP", NULL, 53, 0);
	}
}

static void gen_pol_special(struct gen *g, struct gpol *p, uint32_t which)
{
	struct grule *ru;
	struct gpeer *pe;

	switch (which) {
	case 0:
		/* Every namespace may query the cluster DNS. */
		pol_init(g, p, NS_KUBE_SYSTEM, "allow-dns-ingress", false);
		sel_label(&p->subject, "k8s-app", "kube-dns");
		ru = pol_rule(p, NP_INGRESS);
		rule_peer(ru)->has_ns = true;
		rule_port(ru, "UDP", "dns", 0, 0);
		rule_port(ru, "TCP", "dns-tcp", 0, 0);
		break;
	case 1:
		pol_init(g, p, NS_MONITORING, "default-deny-ingress", false);
		p->types[NP_INGRESS] = true;
		break;
	case 2:
		pol_init(g, p, NS_MONITORING, "allow-grafana-from-ingress", false);
		sel_label(&p->subject, "app.kubernetes.io/name", "grafana");
		ru = pol_rule(p, NP_INGRESS);
		peer_ingress_nginx(rule_peer(ru));
		rule_port(ru, "TCP", "http", 0, 0);
		break;
	default:
		/* The controller takes the world on 80 and 443, both families. */
		pol_init(g, p, NS_INGRESS, "allow-http-https", false);
		sel_label(&p->subject, "app.kubernetes.io/name", "ingress-nginx");
		ru = pol_rule(p, NP_INGRESS);
		pe = rule_peer(ru);
		pe->cidr = "0.0.0.0/0";
		pe = rule_peer(ru);
		pe->cidr = "::/0";
		rule_port(ru, "TCP", NULL, 80, 0);
		rule_port(ru, "TCP", NULL, 443, 0);
		break;
	}
}
#define N_SPECIAL_POLICIES 4u

enum gen_pol_kind {
	PK_TIER,        /* ingress from the tier above, same namespace */
	PK_EGRESS_TIER, /* egress to the tier below */
	PK_SAME_APP,    /* replicas talk to each other (gossip), all ports */
	PK_CROSS_AND,   /* namespaceSelector AND podSelector of another namespace */
	PK_CROSS_OR,    /* namespaceSelector OR podSelector: two peers */
	PK_PROMETHEUS,  /* monitoring scrapes the named port metrics */
	PK_IPBLOCK,     /* egress to CIDRs with except */
	PK_RANGE,       /* endPort ranges */
	PK_EXPR,        /* matchExpressions In/NotIn/Exists/DoesNotExist */
	PK_SAME_NS,     /* allow the whole namespace */
	PK_TEAM,        /* namespaceSelector alone: every namespace of the team */
	N_PK,
};

/* How often each pattern shows up, roughly as in the guides' advice. */
static const uint8_t gen_pk_weight[N_PK] = {
	[PK_TIER] = 24,     [PK_EGRESS_TIER] = 12, [PK_SAME_APP] = 5,
	[PK_CROSS_AND] = 12, [PK_CROSS_OR] = 5,    [PK_PROMETHEUS] = 10,
	[PK_IPBLOCK] = 8,   [PK_RANGE] = 8,       [PK_EXPR] = 7,
	[PK_SAME_NS] = 4,   [PK_TEAM] = 5,
};

static const char *const gen_pk_name[N_PK] = {
	[PK_TIER] = "allow-upstream", [PK_EGRESS_TIER] = "egress-downstream",
	[PK_SAME_APP] = "allow-peers", [PK_CROSS_AND] = "allow-from-ns",
	[PK_CROSS_OR] = "allow-team-or-frontend", [PK_PROMETHEUS] = "allow-prometheus",
	[PK_IPBLOCK] = "egress-external", [PK_RANGE] = "allow-port-range",
	[PK_EXPR] = "allow-selected", [PK_SAME_NS] = "allow-same-namespace",
	[PK_TEAM] = "allow-team",
};

static enum gen_pol_kind gen_pick_kind(struct gen *g)
{
	uint32_t total = 0, r;

	for (int k = 0; k < N_PK; k++)
		total += gen_pk_weight[k];
	r = rng_below(&g->rng, total);
	for (int k = 0; k < N_PK; k++) {
		if (r < gen_pk_weight[k])
			return (enum gen_pol_kind)k;
		r -= gen_pk_weight[k];
	}
	return PK_TIER;
}

/* The workload's main port: by name most of the time, as people write it. */
static void rule_main_port(struct gen *g, struct grule *ru, const struct gen_wl *w)
{
	const struct gen_port *pt = &w->comp->ports[0];

	if (rng_chance(&g->rng, 50))
		rule_port(ru, proto_name(pt->proto), pt->name, 0, 0);
	else if (pt->proto == IPPROTO_TCP && rng_chance(&g->rng, 30))
		rule_port(ru, NULL, NULL, gen_port_number(w, pt), 0);
	else
		rule_port(ru, proto_name(pt->proto), NULL, gen_port_number(w, pt), 0);
}

static void gen_pol_workload(struct gen *g, struct gpol *p, const struct gen_wl *w)
{
	enum gen_pol_kind kind = gen_pick_kind(g);
	uint32_t pick = rng_below(&g->rng, (uint32_t)g->n_app_wls);
	const struct gen_wl *other = &g->wls[g->app_wls[pick]]; /* a peer elsewhere */
	const struct gen_ns *ons = &g->ns[other->ns];
	const char *tier = gen_tier_names[w->comp->tier];
	char base[64];
	struct grule *ru;
	struct gpeer *pe;

	if (kind == PK_SAME_NS)
		snprintf(base, sizeof(base), "%s", gen_pk_name[kind]);
	else
		snprintf(base, sizeof(base), "%s-%s", w->name, gen_pk_name[kind]);
	pol_init(g, p, w->ns, base, true);
	if (kind != PK_SAME_NS && kind != PK_EXPR)
		sel_label(&p->subject, "app", w->name);

	switch (kind) {
	case PK_TIER:
		ru = pol_rule(p, NP_INGRESS);
		pe = rule_peer(ru);
		if (w->comp->tier == TIER_FRONTEND) {
			peer_ingress_nginx(pe);
		} else {
			pe->has_pod = true;
			sel_label(&pe->pod, "tier",
				  w->comp->tier == TIER_DB ? "backend" : "frontend");
		}
		rule_main_port(g, ru, w);
		p->omit_types = rng_chance(&g->rng, 25);
		break;
	case PK_EGRESS_TIER:
		ru = pol_rule(p, NP_EGRESS);
		pe = rule_peer(ru);
		pe->has_pod = true;
		if (w->comp->tier == TIER_FRONTEND) {
			sel_label(&pe->pod, "tier", "backend");
			rule_port(ru, "TCP", NULL, 8080, 0);
			rule_port(ru, "TCP", "grpc", 0, 0);
		} else if (w->comp->tier == TIER_BACKEND) {
			sel_label(&pe->pod, "tier", "db");
			rule_port(ru, "TCP", NULL, 5432, 0);
			rule_port(ru, "TCP", NULL, 6379, 0);
			rule_port(ru, "TCP", "memcache", 0, 0);
		} else {
			/* Replication between database replicas. */
			sel_label(&pe->pod, "app", w->name);
			rule_main_port(g, ru, w);
		}
		break;
	case PK_SAME_APP:
		ru = pol_rule(p, NP_INGRESS);
		pe = rule_peer(ru);
		pe->has_pod = true;
		sel_label(&pe->pod, "app", w->name);
		break;
	case PK_CROSS_AND:
		ru = pol_rule(p, NP_INGRESS);
		pe = rule_peer(ru);
		pe->has_ns = pe->has_pod = true;
		sel_label(&pe->ns, "kubernetes.io/metadata.name", ons->name);
		sel_label(&pe->pod, "app", other->name);
		rule_main_port(g, ru, w);
		break;
	case PK_CROSS_OR:
		/* Often a mistake for the AND form, but written all the same. */
		ru = pol_rule(p, NP_INGRESS);
		pe = rule_peer(ru);
		pe->has_ns = true;
		sel_label(&pe->ns, "team", ons->team);
		pe = rule_peer(ru);
		pe->has_pod = true;
		sel_label(&pe->pod, "tier", "frontend");
		rule_main_port(g, ru, w);
		break;
	case PK_PROMETHEUS:
		ru = pol_rule(p, NP_INGRESS);
		peer_prometheus(rule_peer(ru));
		rule_port(ru, "TCP", "metrics", 0, 0);
		break;
	case PK_IPBLOCK:
		ru = pol_rule(p, NP_EGRESS);
		pe = rule_peer(ru);
		switch (rng_below(&g->rng, 4)) {
		case 0:
			/* "The internet, not the cluster": real clusters write
			 * 10.0.0.0/8 because their pods live there; here the pod
			 * range is 198.18.0.0/15, so that is what is excepted. */
			pe->cidr = "0.0.0.0/0";
			pe->except[pe->n_except++] = "10.0.0.0/8";
			pe->except[pe->n_except++] = "192.168.0.0/16";
			pe->except[pe->n_except++] = "198.18.0.0/15";
			rule_port(ru, "TCP", NULL, 443, 0);
			break;
		case 1:
			pe->cidr = "203.0.113.0/24";
			pe->except[pe->n_except++] = "203.0.113.5/32";
			rule_port(ru, "TCP", NULL, 443, 0);
			rule_port(ru, "TCP", NULL, 5432, 0);
			break;
		case 2:
			pe->cidr = "::/0";
			pe->except[pe->n_except++] = "fc00::/7";
			pe->except[pe->n_except++] = "2001:db8::/32";
			rule_port(ru, "TCP", NULL, 443, 0);
			break;
		default:
			pe->cidr = "192.0.2.0/24";
			pe = rule_peer(ru);
			pe->cidr = "198.51.100.0/24";
			pe->except[pe->n_except++] = "198.51.100.0/28";
			rule_port(ru, "UDP", NULL, 0, 0); /* every UDP port */
			rule_port(ru, "TCP", NULL, 443, 0);
			break;
		}
		break;
	case PK_RANGE:
		if (rng_chance(&g->rng, 50)) {
			ru = pol_rule(p, NP_INGRESS);
			pe = rule_peer(ru);
			pe->has_pod = true;
			sel_label(&pe->pod, "tier", "backend");
			rule_port(ru, "TCP", NULL, 8000, 8099);
		} else {
			ru = pol_rule(p, NP_EGRESS);
			pe = rule_peer(ru);
			pe->cidr = "198.51.100.0/24";
			rule_port(ru, "TCP", NULL, 30000, 32767);
			rule_port(ru, "UDP", NULL, 10000, 20000);
		}
		break;
	case PK_EXPR:
		/* Subject: this tier and its neighbour, unless quarantined. */
		sel_expr(&p->subject, "tier", "In", tier,
			 w->comp->tier == TIER_FRONTEND ? "backend" : "frontend");
		sel_expr(&p->subject, "quarantine", "DoesNotExist", NULL, NULL);
		ru = pol_rule(p, NP_INGRESS);
		pe = rule_peer(ru);
		pe->has_ns = pe->has_pod = true;
		sel_expr(&pe->ns, "env", "NotIn", "dev", NULL);
		sel_expr(&pe->ns, "team", "In", g->ns[w->ns].team,
			 ons->team == g->ns[w->ns].team ? NULL : ons->team);
		sel_expr(&pe->pod, "app", "Exists", NULL, NULL);
		sel_expr(&pe->pod, "tier", "In", "frontend", NULL);
		rule_main_port(g, ru, w);
		break;
	case PK_SAME_NS:
		ru = pol_rule(p, NP_INGRESS);
		rule_peer(ru)->has_pod = true; /* podSelector: {} */
		break;
	case PK_TEAM:
		ru = pol_rule(p, NP_INGRESS);
		pe = rule_peer(ru);
		pe->has_ns = true;
		sel_label(&pe->ns, "team", g->ns[w->ns].team);
		rule_main_port(g, ru, w);
		break;
	case N_PK:
		break;
	}
}

static void gen_write_policies(struct gen *g)
{
	uint32_t left = g->p->policies;
	struct gpol *p;

	/* Large (nested arrays of selectors): one on the heap, reused. */
	p = malloc(sizeof(*p));
	if (!p) {
		g->out.err = -ENOMEM;
		return;
	}
	/* Baselines first, so that a small policy count still isolates
	 * namespaces, then DNS for the egress-isolated ones. */
	for (uint32_t ns = g->first_app_ns; ns < g->n_ns && left; ns++, left--) {
		gen_pol_default_deny(g, p, ns);
		put_policy(g, p);
	}
	for (uint32_t ns = g->first_app_ns; ns < g->n_ns && left; ns++) {
		if (!g->ns[ns].deny_egress)
			continue;
		gen_pol_dns(g, p, ns);
		put_policy(g, p);
		left--;
	}
	for (uint32_t i = 0; g->first_app_ns && i < N_SPECIAL_POLICIES && left; i++, left--) {
		gen_pol_special(g, p, i);
		put_policy(g, p);
	}
	for (; left && !g->out.err; left--) {
		if (g->n_app_wls) {
			gen_pol_workload(g, p, &g->wls[g->app_wls[rng_below(&g->rng,
									 (uint32_t)g->n_app_wls)]]);
		} else {
			/* No application pods at all: namespace-wide policies. */
			pol_init(g, p, rng_below(&g->rng, g->n_ns), gen_pk_name[PK_SAME_NS], true);
			rule_peer(pol_rule(p, NP_INGRESS))->has_pod = true;
		}
		put_policy(g, p);
	}
	free(p);
}

/* ---- Entry points. */

int cluster_gen_check(const struct cluster_gen_params *p)
{
	if (p->pods < 1 || p->pods > CLUSTER_GEN_MAX_PODS)
		return -EINVAL;
	if (p->namespaces < 1 || p->namespaces > CLUSTER_GEN_MAX_NAMESPACES)
		return -EINVAL;
	if (p->policies > CLUSTER_GEN_MAX_POLICIES)
		return -EINVAL;
	return 0;
}

void cluster_gen_node_addr(uint32_t node, struct np_addr *out)
{
	uint32_t a = GEN_NODE_BASE + node;

	memset(out, 0, sizeof(*out));
	out->family = 4;
	out->plen = 32;
	out->bytes[0] = (uint8_t)(a >> 24);
	out->bytes[1] = (uint8_t)(a >> 16);
	out->bytes[2] = (uint8_t)(a >> 8);
	out->bytes[3] = (uint8_t)a;
}

int cluster_gen_write(FILE *f, const struct cluster_gen_params *p, struct cluster_gen_stats *stats)
{
	struct gen g = { .p = p, .rng = { p->seed }, .out = { .f = f } };
	int err;

	err = cluster_gen_check(p);
	if (err)
		return err;
	/* About 100 pods per node, as kubelet's default maximum of 110 allows. */
	g.n_nodes = (p->pods + 99) / 100;
	if (g.n_nodes > GEN_MAX_NODES && p->pods <= GEN_LEGACY_MAX_PODS)
		g.n_nodes = GEN_MAX_NODES;
	g.ns = calloc(p->namespaces, sizeof(*g.ns));
	g.node_used = calloc(g.n_nodes, sizeof(*g.node_used));
	if (!g.ns || !g.node_used) {
		err = -ENOMEM;
		goto out;
	}
	gen_plan_namespaces(&g);
	err = gen_plan_workloads(&g);
	if (err)
		goto out;

	put(&g.out, "# npbpf synthetic cluster: pods=%u namespaces=%u policies=%u seed=%llu\n",
	    p->pods, p->namespaces, p->policies, (unsigned long long)p->seed);
	for (uint32_t i = 0; i < g.n_ns; i++)
		gen_write_namespace(&g, &g.ns[i], i);
	gen_write_pods(&g);
	gen_write_policies(&g);
	if (!g.out.err && fflush(f))
		g.out.err = errno ? -errno : -EIO;
	if (!g.out.err && ferror(f))
		g.out.err = -EIO;
	err = g.out.err;
	if (err)
		goto out;

	g.stats.workloads = (uint32_t)g.n_wls;
	g.stats.nodes = g.n_nodes;
	g.stats.bytes = g.out.bytes;
	if (stats)
		*stats = g.stats;
out:
	free(g.app_wls);
	free(g.wls);
	free(g.node_used);
	free(g.ns);
	return err;
}
