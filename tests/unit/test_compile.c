/* SPDX-License-Identifier: Apache-2.0 */
/* The NetworkPolicy semantics, rule by rule, on the upstream e2e layout:
 * namespaces x, y, z; pods a, b, c in each; ports 80 and 81, TCP and UDP. */
#include <stdio.h>
#include <stdlib.h>

#include "engine_fixture.h"

#define NS(n)                                                                                     \
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " n "\n  labels:\n    ns: " n "\n---\n"

#define POD(ns, p, ip, ip6)                                                                       \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " p "\n  namespace: " ns                  \
	"\n  labels:\n    pod: " p "\nspec:\n  containers:\n  - name: c\n    ports:\n"                \
	"    - {name: serve-80-tcp, containerPort: 80, protocol: TCP}\n"                            \
	"    - {name: serve-81-tcp, containerPort: 81, protocol: TCP}\n"                            \
	"    - {name: serve-80-udp, containerPort: 80, protocol: UDP}\n"                            \
	"    - {name: serve-81-udp, containerPort: 81, protocol: UDP}\n"                            \
	"status:\n  podIP: " ip "\n  podIPs:\n  - ip: " ip "\n  - ip: \"" ip6 "\"\n---\n"

#define BASE                                                                                      \
	NS("x") NS("y") NS("z") POD("x", "a", "198.18.0.1", "2001:db8::1")                        \
	POD("x", "b", "198.18.0.2", "2001:db8::2") POD("x", "c", "198.18.0.3", "2001:db8::3")     \
	POD("y", "a", "198.18.0.4", "2001:db8::4") POD("y", "b", "198.18.0.5", "2001:db8::5")     \
	POD("y", "c", "198.18.0.6", "2001:db8::6") POD("z", "a", "198.18.0.7", "2001:db8::7")     \
	POD("z", "b", "198.18.0.8", "2001:db8::8") POD("z", "c", "198.18.0.9", "2001:db8::9")

#define POLICY(ns, name, spec)                                                                    \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " name          \
	"\n  namespace: " ns "\nspec:\n" spec "\n---\n"

static struct engine e;

static void done(void)
{
	engine_free(&e);
}

TestSuite(compile, .fini = done);

Test(compile, no_policy_allows_everything)
{
	engine_load(&e, BASE);
	cr_assert(engine_allows(&e, "x/a", "y/b", TCP, 80));
	cr_assert(engine_allows(&e, "z/c", "x/a", UDP, 81));
	cr_assert(engine_allows(&e, "x/a", "203.0.113.9", TCP, 443));
	cr_assert_eq(e.cp.n_entries, 0);
}

Test(compile, default_deny_ingress_isolates_only_ingress)
{
	engine_load(&e, BASE POLICY("x", "deny", "  podSelector: {}\n  policyTypes: [Ingress]"));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/b", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "x/a", "y/a", TCP, 80), "egress stays open");
	cr_assert(engine_allows(&e, "x/a", "x/a", TCP, 80), "a pod reaches itself");
}

Test(compile, policy_types_default_egress_when_egress_section_present)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  egress:\n  - to:\n    - podSelector: {matchLabels: {pod: b}}"));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 80), "Ingress always implied");
	cr_assert(engine_allows(&e, "x/a", "x/b", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/a", "x/c", TCP, 80), "egress isolated too");
}

/* The API server defaults policyTypes to [Ingress, Egress] only when the
 * egress list is non-empty (SetDefaults_NetworkPolicy). */
Test(compile, empty_egress_list_without_types_does_not_isolate_egress)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {}\n  ingress:\n  - {}\n  egress: []"));
	cr_assert(engine_allows(&e, "y/a", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "x/a", "y/a", TCP, 80));
}

Test(compile, empty_egress_list_with_egress_type_denies_all_egress)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {}\n  policyTypes: [Egress]\n  egress: []"));
	cr_assert_not(engine_allows(&e, "x/a", "y/a", TCP, 80));
	cr_assert(engine_allows(&e, "y/a", "x/a", TCP, 80));
}

Test(compile, egress_rules_ignored_when_types_say_ingress_only)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {}\n  policyTypes: [Ingress]\n"
					      "  egress: []"));
	cr_assert(engine_allows(&e, "x/a", "y/a", TCP, 80));
}

Test(compile, pod_selector_peer_means_own_namespace)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}"));
	cr_assert(engine_allows(&e, "x/b", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "y/b", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/c", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "y/b", "x/b", TCP, 80), "unselected pod stays open");
}

Test(compile, namespace_selector_alone_means_all_pods_there)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {}\n"
					      "  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}"));
	cr_assert(engine_allows(&e, "y/a", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "y/c", "x/b", UDP, 81));
	cr_assert_not(engine_allows(&e, "z/a", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/b", "x/a", TCP, 80), "own namespace not implied");
}

Test(compile, and_vs_or_peers)
{
	engine_load(&e, BASE
		    POLICY("x", "and", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
				       "    - namespaceSelector: {matchLabels: {ns: y}}\n"
				       "      podSelector: {matchLabels: {pod: b}}")
			    POLICY("x", "or", "  podSelector: {matchLabels: {pod: c}}\n  ingress:\n  - from:\n"
					      "    - namespaceSelector: {matchLabels: {ns: y}}\n"
					      "    - podSelector: {matchLabels: {pod: b}}"));
	cr_assert(engine_allows(&e, "y/b", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/b", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "y/a", "x/c", TCP, 80));
	cr_assert(engine_allows(&e, "x/b", "x/c", TCP, 80));
	cr_assert_not(engine_allows(&e, "z/b", "x/c", TCP, 80));
}

Test(compile, empty_namespace_selector_means_every_namespace)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {}\n  ingress:\n  - from:\n"
					      "    - namespaceSelector: {}\n      podSelector: {matchLabels: {pod: c}}"));
	cr_assert(engine_allows(&e, "z/c", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "x/c", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "z/b", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "203.0.113.1", "x/a", TCP, 80), "pods only, not the world");
}

Test(compile, empty_from_and_empty_rule_allow_all)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  ingress:\n  - from: []\n    ports: [{port: 81}]")
			    POLICY("x", "q", "  podSelector: {matchLabels: {pod: b}}\n  ingress:\n  - {}"));
	cr_assert(engine_allows(&e, "z/c", "x/a", TCP, 81));
	cr_assert(engine_allows(&e, "203.0.113.1", "x/a", TCP, 81));
	cr_assert_not(engine_allows(&e, "z/c", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "z/c", "x/a", UDP, 81), "protocol defaults to TCP");
	cr_assert(engine_allows(&e, "z/c", "x/b", UDP, 80));
	cr_assert(engine_allows(&e, "203.0.113.1", "x/b", SCTP, 9));
}

Test(compile, union_of_policies)
{
	engine_load(&e, BASE
		    POLICY("x", "p1", "  podSelector: {}\n  ingress:\n  - from:\n"
				      "    - namespaceSelector: {matchLabels: {ns: y}}\n    ports: [{port: 80}]")
			    POLICY("x", "p2", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n"
					      "  - from:\n    - namespaceSelector: {matchLabels: {ns: z}}"));
	cr_assert(engine_allows(&e, "y/a", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "z/a", "x/a", TCP, 81));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 81));
	cr_assert_not(engine_allows(&e, "z/a", "x/b", TCP, 80));
}

Test(compile, match_expressions)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {}\n  ingress:\n  - from:\n"
					      "    - namespaceSelector:\n        matchExpressions:\n"
					      "        - {key: ns, operator: NotIn, values: [y]}\n"
					      "      podSelector:\n        matchExpressions:\n"
					      "        - {key: pod, operator: In, values: [a, b]}\n"
					      "        - {key: app, operator: DoesNotExist}\n"
					      "        - {key: pod, operator: Exists}"));
	cr_assert(engine_allows(&e, "z/a", "x/c", TCP, 80));
	cr_assert(engine_allows(&e, "x/b", "x/c", TCP, 80));
	cr_assert_not(engine_allows(&e, "z/c", "x/c", TCP, 80));
	cr_assert_not(engine_allows(&e, "y/a", "x/c", TCP, 80));
}

Test(compile, egress_needs_both_sides)
{
	engine_load(&e, BASE
		    POLICY("x", "eg", "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n"
				      "  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {ns: y}}")
			    POLICY("y", "in", "  podSelector: {matchLabels: {pod: b}}\n"
					      "  ingress:\n  - from:\n    - podSelector: {}"));
	cr_assert(engine_allows(&e, "x/a", "y/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/a", "y/b", TCP, 80), "y/b's ingress denies");
	cr_assert_not(engine_allows(&e, "x/a", "z/a", TCP, 80), "x/a's egress denies");
	cr_assert(engine_allows(&e, "y/a", "y/b", TCP, 80));
}

Test(compile, ipblock_except_matches_pod_addresses)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  ingress:\n  - from:\n    - ipBlock:\n"
					      "        cidr: 198.18.0.0/28\n        except: [198.18.0.4/31]"));
	cr_assert(engine_allows(&e, "x/b", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "x/c", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 80), "198.18.0.4 is excepted");
	cr_assert_not(engine_allows(&e, "y/b", "x/a", TCP, 80), "198.18.0.5 is excepted");
	cr_assert(engine_allows(&e, "y/c", "x/a", TCP, 80), "198.18.0.6 is not");
	cr_assert(engine_allows(&e, "198.18.0.12", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "198.18.0.20", "x/a", TCP, 80));
	cr_assert_not(engine_allows_fam(&e, "x/b", "x/a", TCP, 80, 6), "v4 block, v6 flow");
}

Test(compile, overlapping_ipblocks_across_policies)
{
	engine_load(&e, BASE
		    POLICY("x", "p1", "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n"
				      "  egress:\n  - to:\n    - ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.0/26]}\n"
				      "    ports: [{port: 443}]")
			    POLICY("x", "p2", "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n"
					      "  egress:\n  - to:\n    - ipBlock: {cidr: 203.0.113.0/25, except: [203.0.113.5/32]}\n"
					      "    ports: [{port: 80}]"));
	cr_assert(engine_allows(&e, "x/a", "203.0.113.200", TCP, 443));
	cr_assert_not(engine_allows(&e, "x/a", "203.0.113.200", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/a", "203.0.113.10", TCP, 443));
	cr_assert(engine_allows(&e, "x/a", "203.0.113.10", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/a", "203.0.113.5", TCP, 80));
	cr_assert(engine_allows(&e, "x/a", "203.0.113.100", TCP, 80));
	cr_assert(engine_allows(&e, "x/a", "203.0.113.100", TCP, 443));
	cr_assert_not(engine_allows(&e, "x/a", "198.51.100.1", TCP, 443));
}

Test(compile, ipv6_rules_and_pods)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  ingress:\n  - from:\n    - ipBlock: {cidr: \"2001:db8::/126\"}\n"
					      "  - from:\n    - podSelector: {matchLabels: {pod: c}}"));
	cr_assert(engine_allows_fam(&e, "x/b", "x/a", TCP, 80, 6));
	cr_assert_not(engine_allows_fam(&e, "z/a", "x/a", TCP, 80, 6), "::7 is not in ::/126");
	cr_assert_not(engine_allows(&e, "x/b", "x/a", TCP, 80), "the v6 block says nothing for v4");
	cr_assert(engine_allows(&e, "x/c", "x/a", TCP, 80));
	cr_assert(engine_allows_fam(&e, "x/c", "x/a", TCP, 80, 6));
}

#define TWIN(name, ip, num)                                                                       \
	"apiVersion: v1\nkind: Pod\nmetadata: {name: " name ", namespace: x, labels: {app: web}}\n"   \
	"spec:\n  containers:\n  - name: c\n    ports: [{name: http, containerPort: " num "}]\n"        \
	"status: {podIP: " ip "}\n---\n"

Test(compile, named_port_resolves_per_destination_pod)
{
	engine_load(&e, BASE TWIN("web1", "198.18.1.1", "8080") TWIN("web2", "198.18.1.2", "9090")
		    POLICY("x", "in", "  podSelector: {matchLabels: {app: web}}\n"
				      "  ingress:\n  - ports: [{port: http}]")
			    POLICY("y", "eg", "  podSelector: {}\n  policyTypes: [Egress]\n"
					      "  egress:\n  - ports: [{port: http, protocol: TCP}]"));
	cr_assert(engine_allows(&e, "z/a", "x/web1", TCP, 8080));
	cr_assert_not(engine_allows(&e, "z/a", "x/web1", TCP, 9090), "twin's number must not leak");
	cr_assert(engine_allows(&e, "z/a", "x/web2", TCP, 9090));
	cr_assert_not(engine_allows(&e, "z/a", "x/web2", TCP, 8080));
	cr_assert(engine_allows(&e, "y/a", "x/web1", TCP, 8080), "egress name resolves on dest");
	cr_assert_not(engine_allows(&e, "y/a", "x/web1", TCP, 9090));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 80), "x/a has no port named http");
	cr_assert_not(engine_allows(&e, "y/a", "203.0.113.1", TCP, 8080), "world has no names");
	cr_assert_neq(e.cp.idn.pod_id[9], e.cp.idn.pod_id[10], "twins get distinct identities");
}

Test(compile, named_port_protocol_must_match)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {}\n  ingress:\n"
					      "  - ports: [{port: serve-80-udp, protocol: UDP}]\n"
					      "  - ports: [{port: serve-81-udp}]"));
	cr_assert(engine_allows(&e, "y/a", "x/a", UDP, 80));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", UDP, 81), "serve-81-udp is UDP, rule is TCP");
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 81));
}

Test(compile, end_port_ranges)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {}\n  ingress:\n"
					      "  - ports: [{port: 1000, endPort: 2047, protocol: UDP}]\n"
					      "  - ports: [{port: 65535, endPort: 65535, protocol: SCTP}]"));
	cr_assert(engine_allows(&e, "y/a", "x/a", UDP, 1000));
	cr_assert(engine_allows(&e, "y/a", "x/a", UDP, 1500));
	cr_assert(engine_allows(&e, "y/a", "x/a", UDP, 2047));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", UDP, 999));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", UDP, 2048));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 1500));
	cr_assert(engine_allows(&e, "y/a", "x/a", SCTP, 65535));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", SCTP, 65534));
	/* O(log range) entries: at most 2*16 blocks per (subject, peer) pair. */
	cr_assert_leq(e.cp.n_ranges, 3 * (2 * 16 + 1));
}

Test(compile, icmp_only_by_rules_without_ports)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n"
					      "  - ports: [{port: 80}]")
			    POLICY("x", "q", "  podSelector: {matchLabels: {pod: b}}\n  ingress:\n  - {}"));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", IPPROTO_ICMP, 0));
	cr_assert(engine_allows(&e, "y/a", "x/b", IPPROTO_ICMP, 0));
}

#define HOSTPOD                                                                                   \
	"apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: x, labels: {pod: a}}\n"       \
	"spec: {hostNetwork: true}\nstatus: {podIP: 198.18.100.1}\n---\n"

Test(compile, host_network_pods_are_the_node)
{
	engine_load(&e, BASE HOSTPOD POLICY("x", "deny", "  podSelector: {}\n"
							 "  policyTypes: [Ingress, Egress]"));
	cr_assert(engine_allows(&e, "x/agent", "x/a", TCP, 80), "node traffic allowed by default");
	cr_assert(engine_allows(&e, "x/agent", "203.0.113.1", TCP, 80), "no policy applies to it");
	cr_assert_not(engine_allows(&e, "x/a", "x/agent", TCP, 80), "x/a egress isolated");
	cr_assert_eq(compiled_addr_identity(&e.cp, &e.c.pods[0].addrs[0]) == NPBPF_ID_HOST,
		     e.c.pods[0].host_network);
}

Test(compile, enforce_host_option)
{
	struct np_addr node;
	struct compile_opts opts = { .enforce_host = true, .node_addrs = &node, .n_node_addrs = 1 };

	cr_assert_eq(addr_parse("198.18.200.1", false, &node), 0);
	engine_load_opts(&e, BASE POLICY("x", "deny", "  podSelector: {}\n  policyTypes: [Ingress]"),
			 &opts);
	cr_assert_not(engine_allows(&e, "198.18.200.1", "x/a", TCP, 80));
	cr_assert_eq(compiled_addr_identity(&e.cp, &node), NPBPF_ID_HOST);
}

Test(compile, identities_follow_label_sets_not_pods)
{
	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);

	fputs(NS("x"), f);
	for (int i = 0; i < 200; i++)
		fprintf(f,
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: x, labels: {app: a%d}}\n"
			"status: {podIP: 198.18.2.%d}\n---\n",
			i, i % 4, i);
	fputs(POLICY("x", "p", "  podSelector: {}\n  ingress:\n  - from: [{podSelector: {}}]"), f);
	fclose(f);
	engine_load(&e, yaml);
	free(yaml);
	cr_assert_eq(e.cp.idn.n_ids, 3 + 4, "4 label sets, 4 identities (+3 reserved)");
	cr_assert_eq(e.cp.n_entries, 4 * 4 + 4, "subjects x peers + node entries");
}

Test(compile, all_pods_peer_is_one_wildcard_not_one_entry_per_pod)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  policyTypes: [Egress]\n  egress:\n  - to:\n"
					      "    - namespaceSelector: {}\n    ports: [{port: 53, protocol: UDP}]"));
	cr_assert(engine_allows(&e, "x/a", "z/c", UDP, 53));
	cr_assert(engine_allows(&e, "x/a", "x/b", UDP, 53));
	cr_assert_not(engine_allows(&e, "x/a", "z/c", TCP, 53));
	cr_assert_not(engine_allows(&e, "x/a", "203.0.113.1", UDP, 53), "pods only");
	cr_assert_eq(e.cp.n_entries, 1);
}

Test(compile, stable_identity_numbers_with_prior)
{
	struct engine again;
	struct numbering_prior prior;
	struct compile_opts opts = { .prior = &prior };

	engine_load(&e, BASE);
	/* The numbers of the first compile as a state would hold them: key
	 * bytes -> identity number. */
	numbering_prior_init(&prior);
	for (size_t i = 0; i < e.cp.idn.n_ids; i++) {
		size_t len;
		const void *key = identity_key(&e.cp.idn, &e.cp.idn.ids[i], &len);

		if (e.cp.idn.ids[i].kind != IDENTITY_RESERVED)
			cr_assert_eq(numbering_prior_key(&prior, key, len, e.cp.idn.ids[i].id), 0);
	}
	/* Drop x/a's twin label set by adding a pod first: numbering must hold. */
	engine_load_opts(&again,
			 "apiVersion: v1\nkind: Pod\nmetadata: {name: new, namespace: x, labels: {pod: new}}\n"
			 "status: {podIP: 198.18.9.9}\n---\n" BASE,
			 &opts);
	for (size_t i = 0; i < e.c.n_pods; i++) {
		const struct np_pod *p = &e.c.pods[i];
		const struct np_pod *q = cluster_find_pod(&again.c, p->ns, p->name);

		cr_assert_eq(e.cp.idn.pod_id[i], again.cp.idn.pod_id[q - again.c.pods], "%s/%s renumbered",
			     p->ns, p->name);
	}
	numbering_prior_free(&prior);
	engine_free(&again);
}

/* Which policies isolate a pod is the verdict's answer, from the compile
 * that isolated it: in policy order, per direction, as numbers. */
Test(compile, verdict_names_the_policies_that_isolate)
{
	struct flow_end a, b;
	struct flow_verdict v;

	engine_load(&e, BASE POLICY("x", "deny-in", "  podSelector: {}")
				POLICY("y", "other-ns", "  podSelector: {}")
				POLICY("x", "a-in", "  podSelector: {matchLabels: {pod: a}}\n"
						    "  ingress:\n  - ports: [{port: 80}]")
				POLICY("x", "a-out", "  podSelector: {matchLabels: {pod: a}}\n"
						     "  policyTypes: [Egress]"));
	a = engine_end(&e, "x/b", 4);
	b = engine_end(&e, "x/a", 4);
	verdict_flow(&e.cp, &a, &b, TCP, 81, &v);
	cr_assert_not(v.allowed);
	cr_assert_eq(v.dir[NP_INGRESS].reason, VERDICT_NO_RULE);
	cr_assert_eq(v.dir[NP_INGRESS].n_isolated_by, 2);
	cr_assert_str_eq(compiled_policy(&e.cp, v.dir[NP_INGRESS].isolated_by[0])->name, "deny-in");
	cr_assert_str_eq(compiled_policy(&e.cp, v.dir[NP_INGRESS].isolated_by[1])->name, "a-in");
	verdict_flow(&e.cp, &b, &a, TCP, 81, &v);
	cr_assert_eq(v.dir[NP_EGRESS].n_isolated_by, 1);
	cr_assert_str_eq(compiled_policy(&e.cp, v.dir[NP_EGRESS].isolated_by[0])->name, "a-out");
	cr_assert_eq(v.dir[NP_INGRESS].n_isolated_by, 1, "x/b: deny-in only");
	verdict_flow(&e.cp, &a, &b, TCP, 80, &v);
	cr_assert_eq(v.dir[NP_INGRESS].reason, VERDICT_RULE);
	cr_assert_eq(v.dir[NP_INGRESS].n_isolated_by, 2, "isolated, and a rule allowed it");
}

/* ---- Peer sets are worked out once per distinct rule (and namespace
 * selector) within a compile: what they depend on must all be in the key. */

/* The same rule in two namespaces: a pod selector without a namespace
 * selector means the policy's own namespace. */
Test(compile, same_rule_in_two_namespaces_selects_each_own)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}")
			     POLICY("y", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}"));
	cr_assert(engine_allows(&e, "x/b", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "y/b", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "y/b", "y/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/b", "y/a", TCP, 80));
}

/* One namespace selector with different pod selectors, and the reverse. */
Test(compile, shared_namespace_selector_other_pod_selectors)
{
	engine_load(&e, BASE POLICY("z", "p1", "  podSelector: {matchLabels: {pod: a}}\n"
					       "  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: x}}\n"
					       "      podSelector: {matchLabels: {pod: b}}")
			     POLICY("z", "p2", "  podSelector: {matchLabels: {pod: b}}\n"
					       "  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: x}}\n"
					       "      podSelector: {matchLabels: {pod: c}}")
			     POLICY("z", "p3", "  podSelector: {matchLabels: {pod: c}}\n"
					       "  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n"
					       "      podSelector: {matchLabels: {pod: c}}"));
	cr_assert(engine_allows(&e, "x/b", "z/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/c", "z/a", TCP, 80));
	cr_assert(engine_allows(&e, "x/c", "z/b", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/b", "z/b", TCP, 80));
	cr_assert(engine_allows(&e, "y/c", "z/c", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/c", "z/c", TCP, 80));
}

/* Namespace selectors narrowed by a label (matchLabels, or an In
 * expression, values repeated) and ones that need every namespace looked
 * at (NotIn, Exists, DoesNotExist alone). */
Test(compile, namespace_selector_expressions)
{
	engine_load(&e, BASE POLICY("z", "in", "  podSelector: {matchLabels: {pod: a}}\n"
					       "  ingress:\n  - from:\n    - namespaceSelector:\n"
					       "        matchExpressions:\n"
					       "        - {key: ns, operator: In, values: [y, x, y]}")
			     POLICY("z", "notin", "  podSelector: {matchLabels: {pod: b}}\n"
					       "  ingress:\n  - from:\n    - namespaceSelector:\n"
					       "        matchExpressions:\n"
					       "        - {key: ns, operator: NotIn, values: [x]}")
			     POLICY("z", "both", "  podSelector: {matchLabels: {pod: c}}\n"
					       "  ingress:\n  - from:\n    - namespaceSelector:\n"
					       "        matchLabels: {ns: y}\n"
					       "        matchExpressions:\n"
					       "        - {key: ns, operator: In, values: [x, y]}\n"
					       "        - {key: missing, operator: DoesNotExist}")
			     POLICY("x", "none", "  podSelector: {matchLabels: {pod: a}}\n"
					       "  ingress:\n  - from:\n    - namespaceSelector:\n"
					       "        matchExpressions:\n"
					       "        - {key: ns, operator: In, values: [nowhere]}"));
	cr_assert(engine_allows(&e, "x/b", "z/a", TCP, 80));
	cr_assert(engine_allows(&e, "y/b", "z/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "z/b", "z/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/a", "z/b", TCP, 80));
	cr_assert(engine_allows(&e, "y/a", "z/b", TCP, 80));
	cr_assert(engine_allows(&e, "z/a", "z/b", TCP, 80));
	cr_assert(engine_allows(&e, "y/a", "z/c", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/a", "z/c", TCP, 80));
	cr_assert_not(engine_allows(&e, "y/a", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "x/b", "x/a", TCP, 80));
}

/* A rule with the same peers as an earlier one, but an ipBlock in one of
 * them, or other ports: peers shared, entries per rule. */
Test(compile, same_peers_other_ports_and_ipblocks)
{
	engine_load(&e, BASE POLICY("x", "p", "  podSelector: {matchLabels: {pod: a}}\n"
					      "  ingress:\n"
					      "  - from:\n    - podSelector: {matchLabels: {pod: b}}\n"
					      "    ports: [{port: 80}]\n"
					      "  - from:\n    - podSelector: {matchLabels: {pod: b}}\n"
					      "    ports: [{port: 81, protocol: UDP}]\n"
					      "  - from:\n    - ipBlock: {cidr: 198.18.0.8/32}\n"
					      "  - from:\n    - ipBlock: {cidr: 198.18.0.0/28, except: [198.18.0.6/31]}\n"
					      "    ports: [{port: 81}]"));
	cr_assert(engine_allows(&e, "x/b", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "x/b", "x/a", UDP, 81));
	cr_assert(engine_allows(&e, "x/b", "x/a", TCP, 81), "198.18.0.2 in the /28, not the except");
	cr_assert_not(engine_allows(&e, "x/c", "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "z/b", "x/a", UDP, 80), "198.18.0.8/32: any port");
	cr_assert_not(engine_allows(&e, "z/a", "x/a", TCP, 81), "198.18.0.7 in the except");
	cr_assert(engine_allows(&e, "y/a", "x/a", TCP, 81));
}
