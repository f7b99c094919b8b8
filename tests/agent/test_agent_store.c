/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's store against the engine's file path: after any sequence of
 * API events (adds, replacements, deletions, in any order), a compile of the
 * store's view must judge every flow as a compile of the surviving objects
 * read from manifests does. Random sequences from fixed seeds, so a failure
 * names a seed that reproduces it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_store.h"
#include "compile.h"
#include "manifest.h"
#include "matrix.h"
#include "reflector.h"
#include "yaml_tree.h"

#define N_NS 4
#define N_PODS 24
#define N_POLS 8

struct gen {
	unsigned int seed;
	/* The live objects' YAML, by slot; NULL when absent. */
	char *ns[N_NS], *pod[N_PODS], *pol[N_POLS];
	int pod_ns[N_PODS], pol_ns[N_POLS];
};

static unsigned int rnd(struct gen *g, unsigned int n)
{
	return (unsigned int)rand_r(&g->seed) % n;
}

static const char *const apps[] = { "web", "db", "cache" };
static const char *const tiers[] = { "front", "back" };
static const char *const teams[] = { "a", "b" };

static char *ns_yaml(struct gen *g, int i)
{
	char *s;

	cr_assert(asprintf(&s,
			   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns%d\n"
			   "  labels: {team: %s%s}\n",
			   i, teams[rnd(g, 2)], rnd(g, 2) ? ", env: prod" : "") > 0);
	return s;
}

static char *pod_yaml(struct gen *g, int i, int ns)
{
	char *s, ips[64] = "";
	/* Addresses are per slot, so two live pods never share one; the
	 * creation of a pod on another node or without an address happens too. */
	unsigned int kind = rnd(g, 8);

	if (kind != 2)
		snprintf(ips, sizeof(ips), "  podIPs: [{ip: 198.18.1.%d}]\n", i + 1);

	cr_assert(asprintf(&s,
			   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p%d\n  namespace: ns%d\n"
			   "  labels: {app: %s, tier: %s}\nspec:\n  nodeName: %s\n  containers:\n"
			   "  - name: c\n    ports: [{name: http, containerPort: %d}]\n"
			   "status:\n  phase: %s\n%s",
			   i, ns, apps[rnd(g, 3)], tiers[rnd(g, 2)], kind == 0 ? "node-b" : "node-a",
			   rnd(g, 2) ? 80 : 8080, kind == 1 ? "Succeeded" : "Running",
			   ips) > 0);
	return s;
}

static char *pol_yaml(struct gen *g, int i, int ns)
{
	char *s, *peer;
	unsigned int k = rnd(g, 5);

	switch (k) {
	case 0:
		peer = strdup("- podSelector: {matchLabels: {tier: front}}");
		break;
	case 1:
		peer = strdup("- namespaceSelector: {matchLabels: {team: a}}");
		break;
	case 2:
		peer = strdup("- namespaceSelector: {matchLabels: {env: prod}}\n"
			      "        podSelector: {matchExpressions: [{key: app, operator: In, "
			      "values: [web, cache]}]}");
		break;
	case 3:
		peer = strdup("- ipBlock: {cidr: 198.18.1.0/28, except: [198.18.1.4/30]}");
		break;
	default:
		peer = strdup("- podSelector: {}");
		break;
	}
	cr_assert(asprintf(&s,
			   "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
			   "  name: pol%d\n  namespace: ns%d\nspec:\n  podSelector: %s\n"
			   "  ingress:\n  - from:\n      %s\n    ports: [{port: %s}]\n",
			   i, ns,
			   rnd(g, 3) ? "{matchLabels: {app: web}}" : "{}", peer,
			   rnd(g, 2) ? "http" : "80") > 0);
	free(peer);
	return s;
}

struct decoded {
	struct kube_event *ev;
};

static int on_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct kube_event *ev = arg;

	(void)file;
	cr_assert_eq(manifest_decode(root, ev->source, &ev->obj), 1, "decoding %s", ev->source);
	return 0;
}

/* An event carrying the object yaml describes (NULL yaml: a deletion). */
static struct kube_event *event(enum kube_kind k, enum kube_event_type t, const char *ns,
				const char *name, const char *yaml)
{
	struct kube_event *ev = calloc(1, sizeof(*ev));

	cr_assert(ev);
	ev->kind = k;
	ev->type = t;
	ev->ns = ns ? strdup(ns) : NULL;
	ev->name = strdup(name);
	cr_assert(asprintf(&ev->source, "%s %s/%s", kube_kind_name(k), ns ? ns : "", name) > 0);
	if (yaml)
		cr_assert_eq(yt_parse_buffer("test", yaml, strlen(yaml), on_doc, NULL, ev), 0);
	return ev;
}

static void apply(struct agent_store *s, struct kube_event *ev)
{
	cr_assert_geq(store_apply(s, ev, NULL), 0);
	kube_event_free(ev);
}

/* The matrix JSON of a cluster, with its compile. */
static char *matrix_of(const struct np_cluster *c)
{
	static const struct matrix_port ports[] = { { 80, 6 }, { 8080, 6 } };
	static const struct compile_opts co = { .per_node = true, .node_name = "node-a" };
	struct np_addr ext;
	struct compiled cp;
	struct matrix m;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(addr_parse("198.18.1.5", false, &ext), 0);
	cr_assert_eq(compile_cluster(c, &co, &cp), 0);
	cr_assert_eq(matrix_init(&m, c, ports, 2, &ext, 1, MATRIX_V4), 0);
	matrix_fill_verdicts(&m, &cp);
	f = open_memstream(&buf, &len);
	matrix_print_json(f, &m);
	fclose(f);
	matrix_free(&m);
	compiled_free(&cp);
	return buf;
}

static void check_equal(struct gen *g, struct agent_store *s, unsigned int seed, int step)
{
	struct np_cluster view, files;
	char *all = NULL, *a, *b;
	size_t len = 0;
	FILE *f = open_memstream(&all, &len);

	for (int i = 0; i < N_NS; i++)
		if (g->ns[i])
			fprintf(f, "---\n%s", g->ns[i]);
	for (int i = 0; i < N_PODS; i++)
		if (g->pod[i])
			fprintf(f, "---\n%s", g->pod[i]);
	for (int i = 0; i < N_POLS; i++)
		if (g->pol[i])
			fprintf(f, "---\n%s", g->pol[i]);
	fclose(f);
	cluster_init(&files);
	cr_assert_eq(manifest_load_buffer(&files, "final", all, len), 0);
	cr_assert_eq(store_view(s, &view), 0);
	cr_assert_eq(view.n_pods, files.n_pods, "seed %u step %d: pods", seed, step);
	cr_assert_eq(view.n_namespaces, files.n_namespaces, "seed %u step %d: namespaces", seed,
		     step);
	a = matrix_of(&view);
	b = matrix_of(&files);
	cr_assert_str_eq(a, b, "seed %u step %d: the store's matrix differs from the files'",
			 seed, step);
	free(a);
	free(b);
	store_view_free(&view);
	cluster_free(&files);
	free(all);
}

static void run_seed(unsigned int seed, int steps)
{
	struct gen g = { .seed = seed };
	struct agent_store s;
	char name[32], ns[32];

	store_init(&s);
	for (int step = 0; step < steps; step++) {
		unsigned int what = rnd(&g, 10);

		if (what < 2) {
			int i = (int)rnd(&g, N_NS);

			snprintf(name, sizeof(name), "ns%d", i);
			if (g.ns[i] && rnd(&g, 4) == 0) {
				/* A namespace deleted before its pods are: the API does
				 * that order too (pods go after). */
				free(g.ns[i]);
				g.ns[i] = NULL;
				apply(&s, event(KUBE_NAMESPACES, KUBE_DELETED, NULL, name, NULL));
			} else {
				bool had = g.ns[i];

				free(g.ns[i]);
				g.ns[i] = ns_yaml(&g, i);
				apply(&s, event(KUBE_NAMESPACES, had ? KUBE_MODIFIED : KUBE_ADDED,
						NULL, name, g.ns[i]));
			}
		} else if (what < 7) {
			int i = (int)rnd(&g, N_PODS);

			snprintf(name, sizeof(name), "p%d", i);
			if (g.pod[i] && rnd(&g, 3) == 0) {
				snprintf(ns, sizeof(ns), "ns%d", g.pod_ns[i]);
				free(g.pod[i]);
				g.pod[i] = NULL;
				apply(&s, event(KUBE_PODS, KUBE_DELETED, ns, name, NULL));
			} else {
				bool had = g.pod[i];

				/* A pod keeps its namespace (it is part of its key). */
				if (!had)
					g.pod_ns[i] = (int)rnd(&g, N_NS);
				snprintf(ns, sizeof(ns), "ns%d", g.pod_ns[i]);
				free(g.pod[i]);
				g.pod[i] = pod_yaml(&g, i, g.pod_ns[i]);
				apply(&s, event(KUBE_PODS, had ? KUBE_MODIFIED : KUBE_ADDED, ns, name,
						g.pod[i]));
			}
		} else {
			int i = (int)rnd(&g, N_POLS);

			snprintf(name, sizeof(name), "pol%d", i);
			if (g.pol[i] && rnd(&g, 3) == 0) {
				snprintf(ns, sizeof(ns), "ns%d", g.pol_ns[i]);
				free(g.pol[i]);
				g.pol[i] = NULL;
				apply(&s, event(KUBE_POLICIES, KUBE_DELETED, ns, name, NULL));
			} else {
				bool had = g.pol[i];

				if (!had)
					g.pol_ns[i] = (int)rnd(&g, N_NS);
				snprintf(ns, sizeof(ns), "ns%d", g.pol_ns[i]);
				free(g.pol[i]);
				g.pol[i] = pol_yaml(&g, i, g.pol_ns[i]);
				apply(&s, event(KUBE_POLICIES, had ? KUBE_MODIFIED : KUBE_ADDED, ns,
						name, g.pol[i]));
			}
		}
		if (step % 25 == 24 || step == steps - 1)
			check_equal(&g, &s, seed, step);
	}
	store_free(&s);
	for (int i = 0; i < N_NS; i++)
		free(g.ns[i]);
	for (int i = 0; i < N_PODS; i++)
		free(g.pod[i]);
	for (int i = 0; i < N_POLS; i++)
		free(g.pol[i]);
}

Test(agent_store, random_event_sequences_match_a_compile_of_the_files)
{
	for (unsigned int seed = 1; seed <= 40; seed++)
		run_seed(seed, 200);
}

Test(agent_store, deletion_of_unknown_and_replacement)
{
	struct agent_store s;
	struct manifest_object old;
	const char *y1 = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: "
			 "{v: '1'}}\nstatus: {podIPs: [{ip: 198.18.1.1}]}\n";
	const char *y2 = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: "
			 "{v: '2'}}\nstatus: {podIPs: [{ip: 198.18.1.2}]}\n";
	struct kube_event *ev;

	store_init(&s);
	ev = event(KUBE_PODS, KUBE_DELETED, "x", "a", NULL);
	cr_assert_eq(store_apply(&s, ev, NULL), STORE_NONE);
	kube_event_free(ev);
	ev = event(KUBE_PODS, KUBE_ADDED, "x", "a", y1);
	cr_assert_eq(store_apply(&s, ev, NULL), STORE_ADDED);
	kube_event_free(ev);
	ev = event(KUBE_PODS, KUBE_MODIFIED, "x", "a", y2);
	cr_assert_eq(store_apply(&s, ev, &old), STORE_REPLACED);
	cr_assert_eq(old.kind, MANIFEST_POD);
	cr_assert_str_eq(labels_get(&old.u.pod.labels, "v"), "1");
	cr_assert_str_eq(old.u.pod.loc.file, "pods x/a", "the old object's source lives in ev");
	manifest_object_free(&old);
	kube_event_free(ev);
	cr_assert_str_eq(labels_get(&store_pod(&s, "x", "a")->labels, "v"), "2");
	ev = event(KUBE_PODS, KUBE_DELETED, "x", "a", NULL);
	cr_assert_eq(store_apply(&s, ev, &old), STORE_DELETED);
	cr_assert_str_eq(old.u.pod.name, "a");
	manifest_object_free(&old);
	kube_event_free(ev);
	cr_assert_null(store_pod(&s, "x", "a"));
	cr_assert_eq(s.n[KUBE_PODS], 0);
	store_free(&s);
}
