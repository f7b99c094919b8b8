/* SPDX-License-Identifier: Apache-2.0 */
/* The synthetic cluster generator: deterministic, valid input for the real
 * manifest loader, the counts asked for, and the project's address plan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_gen.h"
#include "compile.h"
#include "manifest.h"

struct gen_buf {
	char *data;
	size_t len;
	struct cluster_gen_stats stats;
};

static void gen_to_buf(struct gen_buf *b, uint32_t pods, uint32_t namespaces, uint32_t policies,
		       uint64_t seed)
{
	struct cluster_gen_params p = { pods, namespaces, policies, seed };
	FILE *f = open_memstream(&b->data, &b->len);

	cr_assert_not_null(f);
	cr_assert_eq(cluster_gen_write(f, &p, &b->stats), 0, "generator failed");
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(b->stats.bytes, b->len, "stats.bytes %llu, buffer %zu",
		     (unsigned long long)b->stats.bytes, b->len);
}

static void load(struct np_cluster *c, const struct gen_buf *b)
{
	cluster_init(c);
	cr_assert_eq(manifest_load_buffer(c, "generated.yaml", b->data, b->len), 0,
		     "the generated cluster did not load");
}

Test(cluster_gen, same_seed_same_bytes)
{
	struct gen_buf a = { 0 }, b = { 0 }, other = { 0 };

	gen_to_buf(&a, 700, 30, 400, 42);
	gen_to_buf(&b, 700, 30, 400, 42);
	gen_to_buf(&other, 700, 30, 400, 43);
	cr_assert_eq(a.len, b.len);
	cr_assert(!memcmp(a.data, b.data, a.len), "same parameters, different output");
	cr_assert(other.len != a.len || memcmp(a.data, other.data, a.len),
		  "another seed gave the same cluster");
	free(a.data);
	free(b.data);
	free(other.data);
}

/* Small shapes, including ones too small for the system namespaces (< 4)
 * or the system pods, and no policies at all. */
Test(cluster_gen, loads_with_requested_counts)
{
	static const uint32_t shapes[][3] = {
		{ 1, 1, 0 },    { 5, 3, 7 },      { 9, 4, 20 },      { 60, 8, 30 },
		{ 400, 25, 0 }, { 800, 40, 1200 }, { 300, 300, 300 }, { 2000, 60, 2500 },
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		struct gen_buf b = { 0 };
		struct np_cluster c;
		struct compiled cp;

		gen_to_buf(&b, shapes[i][0], shapes[i][1], shapes[i][2], 1000 + i);
		load(&c, &b);
		cr_expect_eq(c.n_pods, shapes[i][0], "shape %zu: %zu pods", i, c.n_pods);
		cr_expect_eq(c.n_namespaces, shapes[i][1], "shape %zu: %zu namespaces", i,
			     c.n_namespaces);
		cr_expect_eq(c.n_policies, shapes[i][2], "shape %zu: %zu policies", i,
			     c.n_policies);
		for (size_t n = 0; n < c.n_namespaces; n++)
			cr_expect_not(c.namespaces[n].implicit, "shape %zu: %s has no object", i,
				      c.namespaces[n].name);
		cr_expect_eq(compile_cluster(&c, NULL, &cp), 0, "shape %zu did not compile", i);
		compiled_free(&cp);
		cluster_free(&c);
		free(b.data);
	}
}

static int addr_qsort_cmp(const void *a, const void *b)
{
	return addr_cmp(a, b);
}

Test(cluster_gen, addresses_unique_and_in_the_test_ranges)
{
	struct np_addr v4, v6, *all;
	struct gen_buf b = { 0 };
	size_t n = 0, n6 = 0, n_host = 0;
	struct np_cluster c;

	cr_assert_eq(addr_parse("198.18.0.0/15", true, &v4), 0);
	cr_assert_eq(addr_parse("2001:db8::/32", true, &v6), 0);
	gen_to_buf(&b, 3000, 50, 100, 7);
	load(&c, &b);
	all = calloc(2 * c.n_pods, sizeof(*all));
	cr_assert_not_null(all);
	for (size_t i = 0; i < c.n_pods; i++) {
		const struct np_pod *pod = &c.pods[i];

		cr_assert_geq(pod->n_addrs, 1, "%s/%s has no address", pod->ns, pod->name);
		n_host += pod->host_network;
		for (size_t k = 0; k < pod->n_addrs; k++) {
			const struct np_addr *a = &pod->addrs[k];

			cr_assert(addr_contains(a->family == 4 ? &v4 : &v6, a),
				  "%s/%s: address outside the test ranges", pod->ns, pod->name);
			n6 += a->family == 6;
			all[n++] = *a;
		}
	}
	qsort(all, n, sizeof(*all), addr_qsort_cmp);
	for (size_t i = 1; i < n; i++) {
		char buf[64];

		cr_assert_neq(addr_cmp(&all[i - 1], &all[i]), 0, "%s given twice",
			      addr_format(&all[i], buf, sizeof(buf)));
	}
	cr_expect_gt(n6, 0, "no dual-stack pods");
	cr_expect_gt(n_host, 0, "no hostNetwork pods");
	cr_expect_eq(n_host, b.stats.host_network);
	cr_expect_eq(n6, b.stats.dual_stack);
	free(all);
	cluster_free(&c);
	free(b.data);
}

/* Replicas share their labels and ports, so identities count workloads,
 * not pods: the reason the benchmark means anything. */
Test(cluster_gen, identities_follow_workloads)
{
	struct gen_buf b = { 0 };
	struct np_cluster c;
	struct compiled cp;

	gen_to_buf(&b, 5000, 250, 500, 3);
	load(&c, &b);
	cr_assert_eq(compile_cluster(&c, NULL, &cp), 0);
	cr_expect_lt(cp.idn.n_ids, c.n_pods / 4, "%zu identities for %zu pods", cp.idn.n_ids, c.n_pods);
	cr_expect_gt(cp.idn.n_ids, c.n_pods / 20, "%zu identities for %zu pods", cp.idn.n_ids, c.n_pods);
	compiled_free(&cp);
	cluster_free(&c);
	free(b.data);
}

/* Every pattern the issue asks for shows up in a mid-sized cluster. */
Test(cluster_gen, policies_cover_the_patterns)
{
	bool deny[2] = { false }, and_peer = false, or_peers = false, named = false, range = false;
	bool except = false, ops[4] = { false }, dns_udp = false;
	struct gen_buf b = { 0 };
	struct np_cluster c;

	gen_to_buf(&b, 2000, 60, 2000, 11);
	load(&c, &b);
	for (size_t i = 0; i < c.n_policies; i++) {
		const struct np_policy *pol = &c.policies[i];

		for (size_t e = 0; e < pol->pod_sel.n_exprs; e++)
			ops[pol->pod_sel.exprs[e].op] = true;
		for (int d = 0; d < 2; d++) {
			deny[d] |= pol->types[d] && !pol->n_rules[d] && !pol->pod_sel.match.n &&
				   !pol->pod_sel.n_exprs;
			for (size_t r = 0; r < pol->n_rules[d]; r++) {
				const struct np_rule *rule = &pol->rules[d][r];

				or_peers |= rule->n_peers > 1;
				for (size_t p = 0; p < rule->n_peers; p++) {
					const struct np_peer *pe = &rule->peers[p];

					and_peer |= pe->has_pod_sel && pe->has_ns_sel;
					except |= pe->has_ipblock && pe->ipblock.n_except > 0;
					for (size_t e = 0; e < pe->ns_sel.n_exprs; e++)
						ops[pe->ns_sel.exprs[e].op] = true;
					for (size_t e = 0; e < pe->pod_sel.n_exprs; e++)
						ops[pe->pod_sel.exprs[e].op] = true;
				}
				for (size_t p = 0; p < rule->n_ports; p++) {
					named |= rule->ports[p].name != NULL;
					range |= rule->ports[p].end_port != 0;
					dns_udp |= d == NP_EGRESS && rule->ports[p].port == 53 &&
						   rule->ports[p].proto == IPPROTO_UDP;
				}
			}
		}
	}
	cr_expect(deny[NP_INGRESS] && deny[NP_EGRESS], "default deny in both directions");
	cr_expect(and_peer, "namespaceSelector AND podSelector");
	cr_expect(or_peers, "several peers in one rule (OR)");
	cr_expect(named, "named ports");
	cr_expect(range, "endPort ranges");
	cr_expect(except, "ipBlock with except");
	cr_expect(dns_udp, "DNS egress on 53/UDP");
	cr_expect(ops[NP_OP_IN] && ops[NP_OP_NOT_IN] && ops[NP_OP_EXISTS],
		  "matchExpressions In, NotIn, Exists");
	cluster_free(&c);
	free(b.data);
}

Test(cluster_gen, rejects_bad_parameters)
{
	static const struct cluster_gen_params bad[] = {
		{ 0, 10, 10, 1 },
		{ 10, 0, 10, 1 },
		{ CLUSTER_GEN_MAX_PODS + 1, 10, 10, 1 },
		{ 10, CLUSTER_GEN_MAX_NAMESPACES + 1, 10, 1 },
		{ 10, 10, CLUSTER_GEN_MAX_POLICIES + 1, 1 },
	};
	FILE *f = fopen("/dev/null", "w");

	cr_assert_not_null(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(cluster_gen_check(&bad[i]), -EINVAL, "params %zu", i);
		cr_expect_eq(cluster_gen_write(f, &bad[i], NULL), -EINVAL, "params %zu", i);
	}
	fclose(f);
}

Test(cluster_gen, reports_write_errors)
{
	struct cluster_gen_params p = { 100, 10, 10, 1 };
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		cr_skip_test("no /dev/full");
	cr_expect_lt(cluster_gen_write(f, &p, NULL), 0, "writing to a full device succeeded");
	fclose(f);
}
