/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "manifest.h"

static struct np_cluster c;

static void setup(void)
{
	cluster_init(&c);
}

static void teardown(void)
{
	cluster_free(&c);
}

TestSuite(manifest, .init = setup, .fini = teardown);

static void load(const char *yaml)
{
	cr_assert_eq(manifest_load_buffer(&c, "test.yaml", yaml, strlen(yaml)), 0,
		     "manifest did not load");
}

static struct np_policy *policy(const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < c.n_policies; i++) {
		if (!strcmp(c.policies[i].ns, ns) && !strcmp(c.policies[i].name, name))
			return &c.policies[i];
	}
	cr_assert_fail("no policy %s/%s", ns, name);
	return NULL;
}

static struct np_pod *pod(const char *ns, const char *name)
{
	struct np_pod *p = cluster_find_pod(&c, ns, name);

	cr_assert_not_null(p, "no pod %s/%s", ns, name);
	return p;
}

static struct np_namespace *ns(const char *name)
{
	struct np_namespace *n = cluster_find_ns(&c, name);

	cr_assert_not_null(n, "no namespace %s", name);
	return n;
}

static const char *fmt(const struct np_addr *a)
{
	static char buf[4][64];
	static int i;

	return addr_format(a, buf[i++ % 4], sizeof(buf[0]));
}

/* ---- input shapes ---- */

Test(manifest, multi_document_yaml)
{
	load("# a comment before anything\n"
	     "---\n"
	     "---\n"
	     "# an empty document above, a comment-only one here\n"
	     "---\n"
	     "apiVersion: v1\n"
	     "kind: Namespace\n"
	     "metadata:\n"
	     "  name: prod\n"
	     "  labels: {env: production}\n"
	     "...\n"
	     "---\n"
	     "apiVersion: v1\n"
	     "kind: Pod\n"
	     "metadata: {name: web, namespace: prod, labels: {app: web}}\n"
	     "---\n"
	     "apiVersion: networking.k8s.io/v1\n"
	     "kind: NetworkPolicy\n"
	     "metadata: {name: deny, namespace: prod}\n"
	     "spec: {podSelector: {}}\n"
	     "---\n");
	cr_assert_eq(c.n_namespaces, 1);
	cr_assert_eq(c.n_pods, 1);
	cr_assert_eq(c.n_policies, 1);
	cr_assert_str_eq(labels_get(&ns("prod")->labels, "env"), "production");
	cr_assert_str_eq(labels_get(&pod("prod", "web")->labels, "app"), "web");
	cr_assert_eq(c.n_files, 1);
	cr_assert_str_eq(c.files[0], "test.yaml");
}

Test(manifest, empty_inputs)
{
	load("");
	load("# nothing\n");
	load("---\n...\n---\n");
	cr_assert_eq(c.n_namespaces + c.n_pods + c.n_policies, 0);
}

/* What `kubectl get ns,pods,networkpolicies -A -o yaml|json` prints. */
static void check_kubectl_list(void)
{
	struct np_pod *fe, *be, *kp;
	struct np_policy *p;
	struct np_rule *r;

	cr_assert_eq(c.n_namespaces, 2);
	cr_assert_eq(c.n_pods, 3);
	cr_assert_eq(c.n_policies, 1);
	cr_assert_str_eq(labels_get(&ns("shop")->labels, "team"), "web");
	cr_assert_not(ns("kube-system")->implicit);

	fe = pod("shop", "frontend-7d9c");
	cr_assert_eq(fe->n_addrs, 2);
	cr_assert_str_eq(fmt(&fe->addrs[0]), "198.18.1.10");
	cr_assert_str_eq(fmt(&fe->addrs[1]), "2001:db8:1::10");
	cr_assert_eq(fe->n_ports, 1, "init containers' ports are not the pod's");
	cr_assert_str_eq(fe->ports[0].name, "http");
	cr_assert_eq(fe->ports[0].port, 8080);
	be = pod("shop", "backend-5f6b");
	cr_assert_eq(be->n_ports, 2);
	cr_assert_str_eq(be->ports[1].name, "metrics");
	cr_assert_eq(be->ports[1].port, 9000);
	kp = pod("kube-system", "kube-proxy-x2x");
	cr_assert(kp->host_network);
	cr_assert_not(fe->host_network);
	/* The node, and its address as every pod reports it. */
	cr_assert_str_eq(fe->node, "node-1");
	cr_assert_str_eq(kp->node, "node-1");
	cr_assert_eq(fe->n_host_addrs, 1);
	cr_assert_str_eq(fmt(&fe->host_addrs[0]), "198.19.192.1");

	p = policy("shop", "allow-frontend");
	cr_assert(p->types[NP_INGRESS] && p->types[NP_EGRESS]);
	cr_assert_str_eq(labels_get(&p->pod_sel.match, "app"), "backend");
	cr_assert_eq(p->n_rules[NP_INGRESS], 1);
	r = &p->rules[NP_INGRESS][0];
	cr_assert_eq(r->n_peers, 2);
	cr_assert(r->peers[0].has_pod_sel && r->peers[0].has_ns_sel);
	cr_assert_not(r->peers[0].has_ipblock);
	cr_assert(r->peers[1].has_ipblock);
	cr_assert_str_eq(fmt(&r->peers[1].ipblock.cidr), "198.18.0.0/15");
	cr_assert_eq(r->peers[1].ipblock.n_except, 1);
	cr_assert_str_eq(fmt(&r->peers[1].ipblock.except[0]), "198.18.9.0/24");
	cr_assert_eq(r->n_ports, 2);
	cr_assert_str_eq(r->ports[0].name, "http");
	cr_assert_eq(r->ports[1].port, 9000);
	cr_assert_eq(r->ports[1].end_port, 9100);
	r = &p->rules[NP_EGRESS][0];
	cr_assert_eq(r->n_peers, 1);
	cr_assert(r->peers[0].has_ns_sel);
	cr_assert_eq(r->peers[0].ns_sel.match.n, 0, "namespaceSelector: {} is every namespace");
	cr_assert_eq(r->ports[0].proto, IPPROTO_UDP);
	cr_assert_eq(r->ports[0].port, 53);
}

Test(manifest, kubectl_list_yaml)
{
	char *path = FIXTURES "/kubectl-list.yaml";

	cr_assert_eq(manifest_load(&c, &path, 1), 0);
	check_kubectl_list();
}

Test(manifest, kubectl_list_json)
{
	char *path = FIXTURES "/kubectl-list.json";

	cr_assert_eq(manifest_load(&c, &path, 1), 0);
	check_kubectl_list();
}

/* The API's own PodList (kubectl get --raw): one line, items without kind. */
Test(manifest, api_pod_list_json)
{
	char *path = FIXTURES "/podlist-api.json";

	cr_assert_eq(manifest_load(&c, &path, 1), 0);
	cr_assert_eq(c.n_pods, 3);
	cr_assert_eq(pod("shop", "backend-5f6b")->n_ports, 2);
	cr_assert(ns("shop")->implicit);
}

Test(manifest, typed_lists_without_item_kinds)
{
	load("kind: NamespaceList\n"
	     "apiVersion: v1\n"
	     "items:\n"
	     "- metadata: {name: a}\n"
	     "- metadata: {name: b}\n"
	     "---\n"
	     "kind: NetworkPolicyList\n"
	     "apiVersion: networking.k8s.io/v1\n"
	     "items:\n"
	     "- metadata: {name: p1, namespace: a}\n"
	     "  spec: {podSelector: {}}\n"
	     "---\n"
	     "# sorted keys: kind only after the items\n"
	     "apiVersion: networking.k8s.io/v1\n"
	     "items:\n"
	     "- metadata: {name: p2, namespace: b}\n"
	     "  spec: {podSelector: {}}\n"
	     "kind: NetworkPolicyList\n"
	     "---\n"
	     "apiVersion: v1\n"
	     "items:\n"
	     "- metadata: {name: x, namespace: a}\n"
	     "kind: PodList\n"
	     "metadata: {resourceVersion: \"1\"}\n");
	cr_assert_eq(c.n_namespaces, 2);
	cr_assert_eq(c.n_policies, 2);
	policy("a", "p1");
	policy("b", "p2");
	pod("a", "x");
}

/* A List of many items is read item by item while it is parsed. */
Test(manifest, big_list_sorted_keys)
{
	size_t i, n = 5000, cap = n * 128 + 64, len = 0;
	char *buf = malloc(cap);

	len += (size_t)snprintf(buf + len, cap - len, "apiVersion: v1\nitems:\n");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len,
					"- {apiVersion: v1, kind: Pod, metadata: {name: p%zu, "
					"namespace: n%zu}}\n",
					i, i % 7);
	len += (size_t)snprintf(buf + len, cap - len, "kind: List\nmetadata: {}\n");
	cr_assert_eq(manifest_load_buffer(&c, "big.yaml", buf, len), 0);
	cr_assert_eq(c.n_pods, n);
	cr_assert_eq(c.n_namespaces, 7);
	cr_assert_eq(pod("n1", "p4999")->loc.line, 5002);
	free(buf);
}

Test(manifest, nested_list)
{
	load("kind: List\n"
	     "apiVersion: v1\n"
	     "items:\n"
	     "- kind: List\n"
	     "  apiVersion: v1\n"
	     "  items:\n"
	     "  - {kind: Namespace, apiVersion: v1, metadata: {name: inner}}\n");
	ns("inner");
}

Test(manifest, directory_in_name_order)
{
	char *path = FIXTURES "/dir";
	struct np_policy *p;
	size_t i;

	cr_assert_eq(manifest_load(&c, &path, 1), 0);
	cr_assert_eq(c.n_namespaces, 1);
	cr_assert_eq(c.n_pods, 1, "the Service is skipped");
	cr_assert_eq(c.n_policies, 1);
	/* 40-override.yaml comes after 10-... and 30-...: its objects win. */
	cr_assert_str_eq(labels_get(&ns("shop")->labels, "team"), "b");
	p = policy("shop", "p");
	cr_assert_str_eq(labels_get(&p->pod_sel.match, "app"), "db");
	cr_assert_str_eq(p->loc.file, FIXTURES "/dir/40-override.yaml");
	cr_assert_eq(c.n_files, 4, "README.md and the nested.yaml directory are not read");
	for (i = 1; i < c.n_files; i++)
		cr_assert_lt(strcmp(c.files[i - 1], c.files[i]), 0);
	cr_assert_str_eq(pod("shop", "web")->loc.file, FIXTURES "/dir/20-pods.yml");
}

Test(manifest, several_paths)
{
	char *paths[] = {FIXTURES "/kubectl-list.json", FIXTURES "/dir/"};

	cr_assert_eq(manifest_load(&c, paths, 2), 0);
	cr_assert_eq(c.n_pods, 4);
	cr_assert_eq(c.n_policies, 2);
	cr_assert_str_eq(labels_get(&ns("shop")->labels, "team"), "b");
}

Test(manifest, stdin_dash)
{
	char *path = "-";

	cr_assert_not_null(freopen(FIXTURES "/kubectl-list.yaml", "r", stdin));
	cr_assert_eq(manifest_load(&c, &path, 1), 0);
	check_kubectl_list();
	cr_assert_str_eq(c.files[0], "<stdin>");
}

Test(manifest, missing_file_is_io_error)
{
	char *path = FIXTURES "/does-not-exist.yaml";

	cr_redirect_stderr();
	cr_assert_eq(manifest_load(&c, &path, 1), -ENOENT);
}

/* ---- policies ---- */

#define NP_HEAD(name)                                                                              \
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " name       \
	", namespace: t}\n"

Test(manifest, policy_types_defaulting)
{
	load(NP_HEAD("none") "spec: {podSelector: {}}\n");
	load(NP_HEAD("ingress-rules") "spec: {podSelector: {}, ingress: [{}]}\n");
	load(NP_HEAD("egress-rules") "spec: {podSelector: {}, egress: [{}]}\n");
	load(NP_HEAD("egress-empty") "spec: {podSelector: {}, egress: []}\n");
	load(NP_HEAD("egress-null") "spec: {podSelector: {}, egress: }\n");
	load(NP_HEAD("types-empty") "spec: {podSelector: {}, policyTypes: [], egress: [{}]}\n");
	load(NP_HEAD(
		"egress-only") "spec: {podSelector: {}, policyTypes: [Egress], ingress: [{}]}\n");
	load(NP_HEAD("both") "spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n");
	cr_assert(policy("t", "none")->types[NP_INGRESS]);
	cr_assert_not(policy("t", "none")->types[NP_EGRESS]);
	cr_assert_not(policy("t", "ingress-rules")->types[NP_EGRESS]);
	cr_assert(policy("t", "egress-rules")->types[NP_INGRESS]);
	cr_assert(policy("t", "egress-rules")->types[NP_EGRESS]);
	/* The API server defaults on len(spec.egress) != 0: an empty list
	 * does not make the policy an egress policy. */
	cr_assert(policy("t", "egress-empty")->types[NP_INGRESS]);
	cr_assert_not(policy("t", "egress-empty")->types[NP_EGRESS]);
	cr_assert_not(policy("t", "egress-null")->types[NP_EGRESS]);
	cr_assert(policy("t", "types-empty")->types[NP_INGRESS]);
	cr_assert(policy("t", "types-empty")->types[NP_EGRESS]);
	cr_assert_not(policy("t", "egress-only")->types[NP_INGRESS]);
	cr_assert(policy("t", "egress-only")->types[NP_EGRESS]);
	cr_assert_eq(policy("t", "egress-only")->n_rules[NP_INGRESS], 1, "rules are kept as given");
	cr_assert(policy("t", "both")->types[NP_INGRESS] && policy("t", "both")->types[NP_EGRESS]);
}

Test(manifest, empty_versus_absent_rules_and_peers)
{
	struct np_policy *p;

	load(NP_HEAD("no-rules") "spec: {podSelector: {}, ingress: []}\n");
	load(NP_HEAD("allow-all") "spec: {podSelector: {}, ingress: [{}]}\n");
	load(NP_HEAD("null-rule") "spec:\n  podSelector: {}\n  ingress:\n  -\n");
	load(NP_HEAD("empty-lists") "spec: {podSelector: {}, ingress: [{from: [], ports: []}]}\n");
	load(NP_HEAD("null-lists") "spec:\n  podSelector: {}\n  egress:\n  - to:\n    ports:\n");
	load(NP_HEAD("ports-only") "spec: {podSelector: {}, ingress: [{ports: [{port: 80}]}]}\n");
	p = policy("t", "no-rules");
	cr_assert(p->types[NP_INGRESS]);
	cr_assert_eq(p->n_rules[NP_INGRESS], 0, "isolated, nothing allowed");
	p = policy("t", "allow-all");
	cr_assert_eq(p->n_rules[NP_INGRESS], 1);
	cr_assert_eq(p->rules[NP_INGRESS][0].n_peers, 0);
	cr_assert_eq(p->rules[NP_INGRESS][0].n_ports, 0);
	p = policy("t", "null-rule");
	cr_assert_eq(p->n_rules[NP_INGRESS], 1, "a null rule is an empty rule");
	cr_assert_eq(p->rules[NP_INGRESS][0].n_peers, 0);
	p = policy("t", "empty-lists");
	cr_assert_eq(p->n_rules[NP_INGRESS], 1);
	cr_assert_eq(p->rules[NP_INGRESS][0].n_peers, 0, "from: [] equals no from");
	cr_assert_eq(p->rules[NP_INGRESS][0].n_ports, 0);
	p = policy("t", "null-lists");
	cr_assert_eq(p->n_rules[NP_EGRESS], 1);
	cr_assert_eq(p->rules[NP_EGRESS][0].n_peers, 0);
	cr_assert(p->types[NP_EGRESS]);
	p = policy("t", "ports-only");
	cr_assert_eq(p->rules[NP_INGRESS][0].n_peers, 0);
	cr_assert_eq(p->rules[NP_INGRESS][0].n_ports, 1);
}

Test(manifest, ports_named_numeric_quoted)
{
	struct np_rule *r;

	load(NP_HEAD("ports") "spec:\n"
			      "  podSelector: {}\n"
			      "  ingress:\n"
			      "  - ports:\n"
			      "    - port: 80\n"
			      "    - port: http\n"
			      "    - port: \"metrics\"\n"
			      "    - {protocol: UDP, port: 53}\n"
			      "    - {protocol: SCTP}\n"
			      "    - {port: 32000, endPort: 32768}\n"
			      "    - {port: 8080, endPort: 8080}\n"
			      "    - port: 0x1bb\n"
			      "    - {}\n");
	r = &policy("t", "ports")->rules[NP_INGRESS][0];
	cr_assert_eq(r->n_ports, 9);
	cr_assert_eq(r->ports[0].port, 80);
	cr_assert_null(r->ports[0].name);
	cr_assert_eq(r->ports[0].proto, IPPROTO_TCP, "protocol defaults to TCP");
	cr_assert_str_eq(r->ports[1].name, "http");
	cr_assert_eq(r->ports[1].port, 0);
	cr_assert_str_eq(r->ports[2].name, "metrics");
	cr_assert_eq(r->ports[3].proto, IPPROTO_UDP);
	cr_assert_eq(r->ports[3].port, 53);
	cr_assert_eq(r->ports[4].proto, IPPROTO_SCTP);
	cr_assert_eq(r->ports[4].port, 0, "every SCTP port");
	cr_assert_null(r->ports[4].name);
	cr_assert_eq(r->ports[5].port, 32000);
	cr_assert_eq(r->ports[5].end_port, 32768);
	cr_assert_eq(r->ports[6].end_port, 8080);
	cr_assert_eq(r->ports[7].port, 443, "YAML 1.1 hex, as kubectl reads it");
	cr_assert_eq(r->ports[8].port, 0);
	cr_assert_eq(r->ports[8].proto, IPPROTO_TCP);
}

Test(manifest, peers_and_selectors)
{
	struct np_rule *r;
	struct np_expr *e;

	load(NP_HEAD("peers") "spec:\n"
			      "  podSelector:\n"
			      "    matchLabels: {app: db}\n"
			      "    matchExpressions:\n"
			      "    - {key: tier, operator: In, values: [a, b]}\n"
			      "    - {key: canary, operator: DoesNotExist}\n"
			      "    - {key: env, operator: NotIn, values: [dev]}\n"
			      "    - {key: team, operator: Exists, values: []}\n"
			      "  egress:\n"
			      "  - to:\n"
			      "    - podSelector: {matchLabels: {app: api}}\n"
			      "    - namespaceSelector: {matchLabels: {team: x}}\n"
			      "    - podSelector: {}\n"
			      "      namespaceSelector: {}\n"
			      "    - ipBlock: {cidr: 198.18.1.10/4, except: [198.18.0.0/16]}\n"
			      "    - ipBlock: {cidr: \"2001:db8::/32\", except: "
			      "[\"2001:db8:1::5/48\"]}\n");
	cr_assert_eq(policy("t", "peers")->pod_sel.n_exprs, 4);
	e = policy("t", "peers")->pod_sel.exprs;
	cr_assert_str_eq(e[0].key, "tier");
	cr_assert_eq(e[0].op, NP_OP_IN);
	cr_assert_eq(e[0].n_values, 2);
	cr_assert_str_eq(e[0].values[1], "b");
	cr_assert_eq(e[1].op, NP_OP_DOES_NOT_EXIST);
	cr_assert_eq(e[2].op, NP_OP_NOT_IN);
	cr_assert_eq(e[3].op, NP_OP_EXISTS);
	cr_assert_eq(e[3].n_values, 0);
	r = &policy("t", "peers")->rules[NP_EGRESS][0];
	cr_assert_eq(r->n_peers, 5);
	cr_assert(r->peers[0].has_pod_sel && !r->peers[0].has_ns_sel);
	cr_assert_not(r->peers[1].has_pod_sel);
	cr_assert(r->peers[1].has_ns_sel);
	cr_assert(r->peers[2].has_pod_sel && r->peers[2].has_ns_sel);
	cr_assert_str_eq(fmt(&r->peers[3].ipblock.cidr), "192.0.0.0/4", "host bits cleared");
	cr_assert_str_eq(fmt(&r->peers[3].ipblock.except[0]), "198.18.0.0/16");
	cr_assert_str_eq(fmt(&r->peers[4].ipblock.cidr), "2001:db8::/32");
	cr_assert_str_eq(fmt(&r->peers[4].ipblock.except[0]), "2001:db8:1::/48");
}

Test(manifest, null_pod_selector_selects_all)
{
	load(NP_HEAD("p") "spec:\n  podSelector:\n");
	cr_assert_eq(policy("t", "p")->pod_sel.match.n, 0);
	cr_assert_eq(policy("t", "p")->pod_sel.n_exprs, 0);
}

/* ---- pods and namespaces ---- */

Test(manifest, pod_addresses_dual_stack)
{
	load("kind: Pod\napiVersion: v1\nmetadata: {name: a}\n"
	     "status:\n  podIP: 198.18.0.1\n  podIPs: [{ip: 198.18.0.1}, {ip: \"2001:db8::1\"}]\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: b}\n"
	     "status: {podIPs: [{ip: \"2001:db8::2\"}]}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: c}\nstatus: {podIP: 198.18.0.3}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: pending}\nstatus: {phase: "
	     "Pending}\n");
	cr_assert_eq(pod("default", "a")->n_addrs, 2, "podIP is also podIPs[0]: once");
	cr_assert_str_eq(fmt(&pod("default", "a")->addrs[1]), "2001:db8::1");
	cr_assert_eq(pod("default", "a")->addrs[1].plen, 128);
	cr_assert_eq(pod("default", "b")->n_addrs, 1);
	cr_assert_eq(pod("default", "b")->addrs[0].family, 6);
	cr_assert_eq(pod("default", "c")->n_addrs, 1);
	cr_assert_eq(pod("default", "pending")->n_addrs, 0);
}

Test(manifest, host_network_and_ports)
{
	struct np_pod *p;

	load("kind: Pod\napiVersion: v1\nmetadata: {name: node-agent, namespace: kube-system}\n"
	     "spec:\n"
	     "  hostNetwork: true\n"
	     "  containers:\n"
	     "  - name: a\n"
	     "    ports:\n"
	     "    - {containerPort: 9100, name: metrics}\n"
	     "    - {containerPort: 53, protocol: UDP}\n"
	     "  - name: b\n"
	     "    ports: [{containerPort: 7000, name: sctp-port, protocol: SCTP}]\n"
	     "  initContainers:\n"
	     "  - {name: i, ports: [{containerPort: 1, name: init}]}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: yes-host}\nspec: {hostNetwork: "
	     "yes}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: no-host}\nspec: {hostNetwork: "
	     "false}\n");
	p = pod("kube-system", "node-agent");
	cr_assert(p->host_network);
	cr_assert_eq(p->n_ports, 3);
	cr_assert_str_eq(p->ports[0].name, "metrics");
	cr_assert_eq(p->ports[0].proto, IPPROTO_TCP);
	cr_assert_null(p->ports[1].name);
	cr_assert_eq(p->ports[1].proto, IPPROTO_UDP);
	cr_assert_eq(p->ports[2].proto, IPPROTO_SCTP);
	cr_assert_eq(p->ports[2].port, 7000);
	cr_assert(pod("default", "yes-host")->host_network, "YAML 1.1 yes, as kubectl reads it");
	cr_assert_not(pod("default", "no-host")->host_network);
}

Test(manifest, node_name_and_host_ips)
{
	struct np_pod *p;

	load("kind: Pod\napiVersion: v1\nmetadata: {name: web}\n"
	     "spec: {nodeName: worker-1.example}\n"
	     "status:\n  hostIP: 198.19.0.1\n"
	     "  hostIPs: [{ip: 198.19.0.1}, {ip: \"2001:db8:ff::1\"}]\n  podIP: 198.18.0.1\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: pending}\n"
	     "spec: {nodeName: \"\"}\n");
	p = pod("default", "web");
	cr_assert_str_eq(p->node, "worker-1.example");
	cr_assert_eq(p->n_host_addrs, 2, "hostIP is also hostIPs[0]");
	cr_assert_str_eq(fmt(&p->host_addrs[1]), "2001:db8:ff::1");
	cr_assert_eq(p->n_addrs, 1, "host addresses are not the pod's");
	cr_assert_null(pod("default", "pending")->node, "empty: not scheduled");
	cr_assert_eq(pod("default", "pending")->n_host_addrs, 0);
}

Test(manifest, duplicates_replace_earlier)
{
	load("kind: Pod\napiVersion: v1\nmetadata: {name: web, labels: {v: one}}\n"
	     "---\nkind: Pod\napiVersion: v1\n"
	     "metadata: {name: web, namespace: other, labels: {v: x}}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: web, labels: {v: two}}\n"
	     "---\nkind: Namespace\napiVersion: v1\nmetadata: {name: default, labels: {v: one}}\n"
	     "---\nkind: Namespace\napiVersion: v1\nmetadata: {name: default, labels: {w: two}}\n"
	     "---\nkind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n"
	     "metadata: {name: p, namespace: t}\nspec: {podSelector: {matchLabels: {v: one}}}\n"
	     "---\nkind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n"
	     "metadata: {name: p, namespace: t}\nspec: {podSelector: {matchLabels: {v: two}}}\n");
	cr_assert_eq(c.n_pods, 2);
	cr_assert_str_eq(labels_get(&pod("default", "web")->labels, "v"), "two");
	cr_assert_eq(pod("default", "web")->loc.line, 9);
	cr_assert_str_eq(labels_get(&pod("other", "web")->labels, "v"), "x");
	cr_assert_eq(c.n_namespaces, 2);
	cr_assert_null(labels_get(&ns("default")->labels, "v"), "replaced, not merged");
	cr_assert_str_eq(labels_get(&ns("default")->labels, "w"), "two");
	cr_assert_eq(c.n_policies, 1);
	cr_assert_str_eq(labels_get(&policy("t", "p")->pod_sel.match, "v"), "two");
}

Test(manifest, duplicates_across_calls)
{
	load("kind: Pod\napiVersion: v1\nmetadata: {name: web, labels: {v: one}}\n");
	load("kind: Pod\napiVersion: v1\nmetadata: {name: web, labels: {v: two}}\n");
	cr_assert_eq(c.n_pods, 1);
	cr_assert_str_eq(labels_get(&pod("default", "web")->labels, "v"), "two");
	cr_assert_eq(c.n_files, 2);
}

#define NP_ITEM(name)                                                                              \
	"{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: " name           \
	", namespace: t, managedFields: [{manager: kubectl, fieldsV1: {f:spec: {}}}]}, "           \
	"spec: {podSelector: {}}, status: {}}"

Test(manifest, unknown_kinds_and_fields_skipped)
{
	cr_redirect_stderr(); /* the v1beta1 policy warns */
	load("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
	     "spec: {replicas: 3, template: {spec: {containers: [{name: a}]}}}\n"
	     "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n"
	     "data: {key: [not, a, string], 80: 90}\n"
	     "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: 42\nspec: [1, 2]\n"
	     "---\napiVersion: extensions/v1beta1\nkind: NetworkPolicy\n"
	     "metadata: {name: old, namespace: t}\nspec: {podSelector: {}}\n"
	     "---\napiVersion: v1\nkind: Pod\n"
	     "metadata: {name: web, annotations: {a: b}, finalizers: [x], generateName: w-}\n"
	     "spec: {nodeName: n1, volumes: [{name: v, emptyDir: {}}], futureField: {x: 1}}\n"
	     "status: {conditions: [{type: Ready}], futureField: 1}\n"
	     "futureTopLevel: true\n");
	/* Policies are strict (test_validate.c); their List wrappers are not. */
	load("apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\", futureList: 1}\n"
	     "futureTopLevel: x\nitems:\n"
	     "- " NP_ITEM("new") "\n");
	cr_assert_eq(c.n_pods, 1);
	cr_assert_eq(c.n_policies, 1);
	policy("t", "new");
}

Test(manifest, implicit_namespace_and_default)
{
	load("kind: Pod\napiVersion: v1\nmetadata: {name: a, namespace: team-x}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: b}\n");
	cr_assert(ns("team-x")->implicit);
	cr_assert_str_eq(labels_get(&ns("team-x")->labels, "kubernetes.io/metadata.name"),
			 "team-x");
	cr_assert(ns("default")->implicit);
	pod("default", "b");
}

Test(manifest, namespace_name_label_is_forced)
{
	load("kind: Namespace\napiVersion: v1\nmetadata:\n  name: prod\n  labels:\n"
	     "    kubernetes.io/metadata.name: something-else\n"
	     "---\nkind: Namespace\napiVersion: v1\nmetadata: {name: dev}\n");
	cr_assert_str_eq(labels_get(&ns("prod")->labels, "kubernetes.io/metadata.name"), "prod");
	cr_assert_str_eq(labels_get(&ns("dev")->labels, "kubernetes.io/metadata.name"), "dev");
	cr_assert_not(ns("dev")->implicit);
}

Test(manifest, anchors_and_merge_keys)
{
	struct np_pod *p;

	load("kind: Pod\n"
	     "apiVersion: v1\n"
	     "metadata:\n"
	     "  name: a\n"
	     "  labels: &common {app: shop, tier: web}\n"
	     "spec:\n"
	     "  containers:\n"
	     "  - &ctr {name: c, ports: [{containerPort: 80, name: http}]}\n"
	     "  - *ctr\n"
	     "---\n"
	     "kind: Pod\n"
	     "apiVersion: v1\n"
	     "metadata:\n"
	     "  name: b\n"
	     "  labels:\n"
	     "    <<: &base {app: shop, tier: web, env: prod}\n"
	     "    tier: db\n");
	p = pod("default", "a");
	cr_assert_eq(p->labels.n, 2);
	cr_assert_eq(p->n_ports, 2);
	p = pod("default", "b");
	cr_assert_eq(p->labels.n, 3);
	cr_assert_str_eq(labels_get(&p->labels, "tier"), "db", "explicit keys win over merged");
	cr_assert_str_eq(labels_get(&p->labels, "env"), "prod");
}

Test(manifest, string_scalars)
{
	struct np_labels *l;

	load("kind: Pod\napiVersion: v1\nmetadata:\n  name: a\n  labels:\n"
	     "    quoted-bool: \"true\"\n"
	     "    single: '1'\n"
	     "    tagged: !!str 42\n"
	     "    empty: \"\"\n"
	     "    null-value:\n"
	     "    block: |-\n"
	     "      multi\n"
	     "    dotted.key/with-prefix_ok: a.b-c_d\n"
	     "    example.com/x: yz\n"
	     "    80: decimal-int-key\n");
	l = &pod("default", "a")->labels;
	cr_assert_str_eq(labels_get(l, "quoted-bool"), "true");
	cr_assert_str_eq(labels_get(l, "single"), "1");
	cr_assert_str_eq(labels_get(l, "tagged"), "42");
	cr_assert_str_eq(labels_get(l, "empty"), "");
	cr_assert_str_eq(labels_get(l, "null-value"), "");
	cr_assert_str_eq(labels_get(l, "block"), "multi");
	cr_assert_str_eq(labels_get(l, "example.com/x"), "yz");
	cr_assert_str_eq(labels_get(l, "80"), "decimal-int-key", "kubectl keeps 80 as \"80\"");
}

Test(manifest, locations)
{
	load("# line 1\n"
	     "apiVersion: v1\n"
	     "kind: Pod\n"
	     "metadata: {name: a}\n"
	     "---\n"
	     "kind: List\n"
	     "apiVersion: v1\n"
	     "items:\n"
	     "  - kind: Pod\n"
	     "    apiVersion: v1\n"
	     "    metadata: {name: b}\n"
	     "---\n"
	     "apiVersion: networking.k8s.io/v1\n"
	     "kind: NetworkPolicy\n"
	     "metadata: {name: p, namespace: t}\n"
	     "spec:\n"
	     "  podSelector: {}\n"
	     "  ingress:\n"
	     "  - from: [{podSelector: {}}]\n");
	cr_assert_eq(pod("default", "a")->loc.line, 2);
	cr_assert_eq(pod("default", "a")->loc.col, 1);
	cr_assert_eq(pod("default", "b")->loc.line, 9);
	cr_assert_eq(pod("default", "b")->loc.col, 5);
	cr_assert_eq(pod("default", "b")->loc.file, c.files[0], "points into c.files");
	cr_assert_eq(policy("t", "p")->loc.line, 13);
	cr_assert_eq(policy("t", "p")->rules[NP_INGRESS][0].loc.line, 19);
	cr_assert_eq(policy("t", "p")->rules[NP_INGRESS][0].loc.col, 5);
}

Test(manifest, anchors_across_list_items)
{
	/* Items are freed as they are read, but not one an alias may still
	 * point into. */
	load("apiVersion: v1\n"
	     "items:\n"
	     "- {apiVersion: v1, kind: Pod, metadata: {name: a, labels: &l {app: x}}}\n"
	     "- {apiVersion: v1, kind: Pod, metadata: {name: b, labels: *l}}\n"
	     "- {apiVersion: v1, kind: Pod, metadata: {name: c, labels: {<<: *l, v: \"2\"}}}\n"
	     "kind: List\n");
	cr_assert_str_eq(labels_get(&pod("default", "b")->labels, "app"), "x");
	cr_assert_str_eq(labels_get(&pod("default", "c")->labels, "app"), "x");
	cr_assert_str_eq(labels_get(&pod("default", "c")->labels, "v"), "2");
}

/* ---- the YAML layer under manifests ---- */

#include "yaml_tree.h"

static enum yt_type type_of(const char *text)
{
	struct yt_node n = {.kind = YT_SCALAR, .str = text, .len = (uint32_t)strlen(text)};

	return yt_scalar_type(&n);
}

/* go-yaml v2 (YAML 1.1) rules, which is what kubectl applies. */
Test(yaml, plain_scalar_types)
{
	static const char *const strs[] = {
		"web",	      "http",	     "TCP",   "Yes!",	    "nope", "1.2.3.4",
		"10.0.0.0/8", "2001:db8::1", "0x",    "1e",	    "--",   "+",
		".",	      "08x",	     "True1", "2024-01-01", "y2",   "null!"};
	static const char *const ints[] = {"0",	   "80",    "-1",  "+443",  "0x1F",
					   "0o17", "0b101", "017", "1_000", "18446744073709551615"};
	static const char *const floats[] = {"1.5",
					     ".5",
					     "1e3",
					     "-2.5E-3",
					     ".inf",
					     "-.Inf",
					     ".NaN",
					     "08",
					     "99999999999999999999",
					     "-9223372036854775809"};
	static const char *const bools[] = {"y", "Y", "yes", "No", "on", "OFF", "true", "False"};
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	size_t i;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		cr_assert_eq(type_of(strs[i]), YT_STR, "%s", strs[i]);
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		cr_assert_eq(type_of(ints[i]), YT_INT, "%s", ints[i]);
	for (i = 0; i < sizeof(floats) / sizeof(floats[0]); i++)
		cr_assert_eq(type_of(floats[i]), YT_FLOAT, "%s", floats[i]);
	for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		cr_assert_eq(type_of(bools[i]), YT_BOOL, "%s", bools[i]);
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		cr_assert_eq(type_of(nulls[i]), YT_NULL, "%s", nulls[i]);
	cr_assert_eq(yt_scalar_type(NULL), YT_NULL);
}

Test(yaml, int_values)
{
	struct yt_node n = {.kind = YT_SCALAR};
	int64_t v;

	n.str = "0x1F";
	n.len = 4;
	cr_assert_eq(yt_get_int(&n, &v), 0);
	cr_assert_eq(v, 31);
	n.str = "017";
	n.len = 3;
	cr_assert_eq(yt_get_int(&n, &v), 0);
	cr_assert_eq(v, 15, "YAML 1.1 octal");
	n.str = "-9223372036854775808";
	n.len = (uint32_t)strlen(n.str);
	cr_assert_eq(yt_get_int(&n, &v), 0);
	cr_assert_eq(v, INT64_MIN);
	n.str = "9223372036854775808";
	n.len = (uint32_t)strlen(n.str);
	cr_assert_eq(yt_get_int(&n, &v), -ERANGE);
	n.quoted = true;
	n.str = "80";
	n.len = 2;
	cr_assert_eq(yt_get_int(&n, &v), -EINVAL, "a quoted number is a string");
}

struct stream_count {
	int docs, items, kept;
	int keep_every;
};

static int on_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct stream_count *s = arg;
	const struct yt_node *items = yt_map_get(root, "items");

	s->docs++;
	s->kept += items ? (int)items->n : 0;
	return 0;
}

static int on_item(const struct yt_node *item, const struct yt_node *head, const char *file,
		   void *arg)
{
	struct stream_count *s = arg;

	cr_assert_not_null(yt_map_get(head, "apiVersion"));
	cr_assert_null(yt_map_get(head, "kind"), "kind comes after the items here");
	return ++s->items % s->keep_every ? 0 : YT_KEEP;
}

Test(yaml, list_items_streamed_or_kept)
{
	static const char doc[] = "apiVersion: v1\nitems: [a, b, c, d, e, f]\nkind: List\n"
				  "---\nitems: 5\n---\nother: [x]\n";
	struct stream_count s = {.keep_every = 3};

	cr_assert_eq(yt_parse_buffer("s.yaml", doc, sizeof(doc) - 1, on_doc, on_item, &s), 0);
	cr_assert_eq(s.docs, 3);
	cr_assert_eq(s.items, 6);
	cr_assert_eq(s.kept, 2, "every third item kept in the root");
}

static int stop_at_second(const struct yt_node *root, const char *file, void *arg)
{
	return ++*(int *)arg == 2 ? -ECANCELED : 0;
}

Test(yaml, callback_stops_parsing)
{
	static const char doc[] = "a: 1\n---\nb: 2\n---\nc: 3\n";
	int n = 0;

	cr_assert_eq(yt_parse_buffer("s.yaml", doc, sizeof(doc) - 1, stop_at_second, NULL, &n),
		     -ECANCELED);
	cr_assert_eq(n, 2);
}

static int check_tree(const struct yt_node *root, const char *file, void *arg)
{
	const struct yt_node *m = yt_map_get(root, "m"), *s = yt_map_get(root, "s");

	cr_assert_eq(root->kind, YT_MAP);
	cr_assert_eq(root->line, 1);
	cr_assert_eq(m->kind, YT_MAP);
	cr_assert_eq(m->n, 6, "three pairs after the merge");
	cr_assert_str_eq(yt_map_get(m, "a")->str, "override");
	cr_assert_str_eq(yt_map_get(m, "b")->str, "2");
	cr_assert_null(yt_map_get(m, "<<"));
	cr_assert_eq(s->kind, YT_SEQ);
	cr_assert_eq(s->n, 3);
	cr_assert(s->items[1]->quoted);
	cr_assert_eq(s->items[2]->line, 4);
	cr_assert_eq(s->items[2]->col, 6);
	cr_assert_eq(yt_scalar_type(s->items[0]), YT_INT);
	cr_assert_eq(yt_scalar_type(s->items[1]), YT_STR);
	cr_assert_eq(s->items[2]->len, 3);
	cr_assert_eq(memcmp(s->items[2]->str, "a\0b", 4), 0, "escapes, NUL included");
	(*(int *)arg)++;
	return 0;
}

Test(yaml, tree_shape)
{
	static const char doc2[] = "base: &b {a: 1, b: 2}\n"
				   "m: {<<: *b, a: override, c: 3}\n"
				   "s: [80, \"80\",\n     \"a\\0b\"]\n";
	int n = 0;

	cr_assert_eq(yt_parse_buffer("t.yaml", doc2, sizeof(doc2) - 1, check_tree, NULL, &n), 0);
	cr_assert_eq(n, 1);
}

/* ---- One object on its own, as the API server sends it. */

struct decoded {
	int ret;
	struct manifest_object obj;
};

static int decode_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct decoded *d = arg;

	d->ret = manifest_decode(root, "apiserver", &d->obj);
	return 0;
}

static struct decoded decode(const char *json)
{
	struct decoded d;

	memset(&d, 0, sizeof(d));
	cr_assert_eq(yt_parse_buffer("event.json", json, strlen(json), decode_doc, NULL, &d), 0);
	return d;
}

/* The decoders of files serve one object of a watch event: same fields,
 * same validation, same defaults. */
Test(manifest, one_object_decoded_as_files_decode_it)
{
	struct decoded d;

	d = decode("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-1\","
		   "\"namespace\":\"shop\",\"labels\":{\"app\":\"web\"}},\"spec\":{\"nodeName\":"
		   "\"node-1\",\"containers\":[{\"name\":\"c\",\"ports\":[{\"name\":\"http\","
		   "\"containerPort\":8080}]}]},\"status\":{\"podIP\":\"198.18.0.1\"}}");
	cr_assert_eq(d.ret, 1);
	cr_assert_eq(d.obj.kind, MANIFEST_POD);
	cr_assert_str_eq(d.obj.u.pod.ns, "shop");
	cr_assert_str_eq(d.obj.u.pod.name, "web-1");
	cr_assert_str_eq(labels_get(&d.obj.u.pod.labels, "app"), "web");
	cr_assert_str_eq(d.obj.u.pod.node, "node-1");
	cr_assert_eq(d.obj.u.pod.n_ports, 1);
	cr_assert_eq(d.obj.u.pod.ports[0].proto, IPPROTO_TCP, "protocol defaults to TCP");
	cr_assert_eq(d.obj.u.pod.n_addrs, 1);
	cr_assert_str_eq(d.obj.u.pod.loc.file, "apiserver");
	manifest_object_free(&d.obj);

	d = decode("{\"kind\":\"NetworkPolicy\",\"apiVersion\":\"networking.k8s.io/v1\","
		   "\"metadata\":{\"name\":\"deny\",\"namespace\":\"shop\"},"
		   "\"spec\":{\"podSelector\":{},\"egress\":[{}]}}");
	cr_assert_eq(d.ret, 1);
	cr_assert_eq(d.obj.kind, MANIFEST_POLICY);
	cr_assert(d.obj.u.policy.types[NP_INGRESS] && d.obj.u.policy.types[NP_EGRESS],
		  "policyTypes defaulted as the API server does");
	manifest_object_free(&d.obj);

	d = decode(
		"{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"shop\"}}");
	cr_assert_eq(d.ret, 1);
	cr_assert_str_eq(labels_get(&d.obj.u.ns.labels, "kubernetes.io/metadata.name"), "shop");
	manifest_object_free(&d.obj);
}

Test(manifest, one_object_invalid_or_skipped, .init = cr_redirect_stderr)
{
	struct decoded d;

	d = decode("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"Web_1\"}}");
	cr_assert_eq(d.ret, -EINVAL, "the API server's name rules");
	cr_assert_eq(d.obj.kind, MANIFEST_NONE, "nothing to free");
	d = decode("{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s\"}}");
	cr_assert_eq(d.ret, 0);
	d = decode("{\"kind\":\"NetworkPolicy\",\"apiVersion\":\"extensions/v1beta1\","
		   "\"metadata\":{\"name\":\"p\"},\"spec\":{\"podSelector\":{}}}");
	cr_assert_eq(d.ret, 0, "another API's policy is skipped, with a warning");
	d = decode("[1, 2]");
	cr_assert_eq(d.ret, -EINVAL, "an object must be a map");
}

/* ---- pods that no longer run, and addresses two pods claim ---- */

Test(manifest, finished_pods_are_left_out, .init = cr_redirect_stderr)
{
	load("kind: Pod\napiVersion: v1\nmetadata: {name: job, namespace: b}\n"
	     "status: {phase: Succeeded, podIP: 198.18.0.1}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: crashed, namespace: b}\n"
	     "status: {phase: Failed, podIP: 198.18.0.2}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: web}\n"
	     "status: {phase: Running, podIP: 198.18.0.1}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: starting}\n"
	     "status: {phase: Pending}\n"
	     /* A finished pod replacing a live one of its name removes it. */
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: again}\n"
	     "status: {phase: Running, podIP: 198.18.0.5}\n"
	     "---\nkind: Pod\napiVersion: v1\nmetadata: {name: again}\n"
	     "status: {phase: Succeeded, podIP: 198.18.0.5}\n");
	cr_assert_eq(c.n_pods, 2);
	cr_assert_null(cluster_find_pod(&c, "b", "job"));
	cr_assert_null(cluster_find_pod(&c, "b", "crashed"));
	cr_assert_null(cluster_find_pod(&c, "default", "again"));
	cr_assert_eq(pod("default", "web")->n_addrs, 1, "no longer shared: no warning needed");
	pod("default", "starting");
	/* Only pods made a namespace: none of the finished ones does. */
	cr_assert_null(cluster_find_ns(&c, "b"));
}

/* Runs fn(a, b) with stderr going to a temporary file; returns what was
 * written (free it). */
static char *captured(void (*fn)(const char *, const char *), const char *a, const char *b)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *out;
	long len;

	cr_assert_not_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn(a, b);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	len = ftell(tmp);
	out = calloc(1, (size_t)len + 1);
	rewind(tmp);
	cr_assert_eq(fread(out, 1, (size_t)len, tmp), (size_t)len);
	fclose(tmp);
	return out;
}

static void load_shared(const char *first, const char *second)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s---\n%s", first, second);
	cluster_free(&c);
	cluster_init(&c);
	load(buf);
}

/* The later created keeps the address, whatever the input order; on a tie
 * the first by namespace/name. The loser keeps its other addresses. */
Test(manifest, shared_address_one_owner)
{
	const char *old = "kind: Pod\napiVersion: v1\n"
			  "metadata: {name: zz-old, creationTimestamp: \"2026-01-01T00:00:00Z\"}\n"
			  "status: {podIPs: [{ip: 198.18.0.7}, {ip: \"2001:db8::7\"}]}\n";
	const char *young =
		"kind: Pod\napiVersion: v1\n"
		"metadata: {name: aa-new, creationTimestamp: \"2026-03-01T00:00:00Z\"}\n"
		"status: {podIP: 198.18.0.7}\n";
	const char *plain_a = "kind: Pod\napiVersion: v1\nmetadata: {name: a, namespace: y}\n"
			      "status: {podIP: 198.18.0.9}\n";
	const char *plain_b = "kind: Pod\napiVersion: v1\nmetadata: {name: b, namespace: x}\n"
			      "status: {podIP: 198.18.0.9}\n";
	const char *hn = "kind: Pod\napiVersion: v1\nmetadata: {name: hn1}\n"
			 "spec: {hostNetwork: true}\nstatus: {podIP: 192.0.2.1}\n"
			 "---\nkind: Pod\napiVersion: v1\nmetadata: {name: hn2}\n"
			 "spec: {hostNetwork: true}\nstatus: {podIP: 192.0.2.1}\n";
	char *out;

	for (int order = 0; order < 2; order++) {
		out = captured(load_shared, order ? young : old, order ? old : young);
		cr_assert_eq(pod("default", "aa-new")->n_addrs, 1);
		cr_assert_eq(pod("default", "zz-old")->n_addrs, 1);
		cr_assert_str_eq(fmt(&pod("default", "zz-old")->addrs[0]), "2001:db8::7");
		cr_assert_not_null(strstr(out, "198.18.0.7 is claimed by two live pods: "
					       "default/aa-new (test.yaml:"),
				   "%s", out);
		cr_assert_not_null(strstr(out, "default/zz-old (test.yaml:"), "%s", out);
		cr_assert_not_null(strstr(out, "default/aa-new keeps it (created later)"), "%s",
				   out);
		free(out);
	}
	cr_redirect_stderr();
	load_shared(plain_a, plain_b);
	cr_assert_eq(pod("x", "b")->n_addrs, 1, "tie: the first by namespace/name");
	cr_assert_eq(pod("y", "a")->n_addrs, 0);
	load_shared(plain_b, plain_a);
	cr_assert_eq(pod("x", "b")->n_addrs, 1);
	cr_assert_eq(pod("y", "a")->n_addrs, 0);
	load_shared(hn, "");
	cr_assert_eq(pod("default", "hn1")->n_addrs, 1, "hostNetwork pods share their node's");
	cr_assert_eq(pod("default", "hn2")->n_addrs, 1);
}

/* ---- what is not enforced, and what replaced what ---- */

/* A fresh cluster, then a, then b into the same one. */
static void load_two(const char *a, const char *b)
{
	cluster_free(&c);
	cluster_init(&c);
	load(a);
	if (b)
		load(b);
}

Test(manifest, other_policy_kinds_warn)
{
	static const char *const kinds[][2] = {
		{"cilium.io/v2", "CiliumNetworkPolicy"},
		{"cilium.io/v2", "CiliumClusterwideNetworkPolicy"},
		{"policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"},
		{"policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy"},
		{"projectcalico.org/v3", "NetworkPolicy"},
		{"projectcalico.org/v3", "GlobalNetworkPolicy"},
		{"extensions/v1beta1", "NetworkPolicy"},
	};
	char doc[512], want[512], *out;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(doc, sizeof(doc),
			 "kind: Pod\napiVersion: v1\nmetadata: {name: a}\n---\n"
			 "apiVersion: %s\nkind: %s\nmetadata: {name: p, namespace: shop}\n"
			 "spec: {podSelector: {}, anything: [1]}\n",
			 kinds[i][0], kinds[i][1]);
		out = captured(load_two, doc, NULL);
		snprintf(want, sizeof(want),
			 "warning: test.yaml:5:1: %s shop/p (apiVersion %s) is not enforced: "
			 "npbpf enforces networking.k8s.io/v1 NetworkPolicy only\n",
			 kinds[i][1], kinds[i][0]);
		cr_assert_not_null(strstr(out, want), "wanted %s in:\n%s", want, out);
		cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
		cr_assert_eq(c.n_policies, 0);
		free(out);
	}
}

Test(manifest, other_kinds_counted_at_verbose)
{
	const char *docs = "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: d}\n---\n"
			   "kind: Service\napiVersion: v1\nmetadata: {name: s}\n---\n"
			   "apiVersion: v1\nkind: List\nitems:\n"
			   "- {kind: Service, apiVersion: v1, metadata: {name: t}}\n"
			   "- {kind: Pod, apiVersion: v1, metadata: {name: p}}\n";
	enum log_level saved = log_get_level();
	char *out;

	out = captured(load_two, docs, NULL);
	cr_assert_str_eq(out, "", "quiet by default");
	free(out);
	log_set_level(LOG_INFO);
	out = captured(load_two, docs, NULL);
	log_set_level(saved);
	cr_assert_not_null(strstr(out, "skipped 3 objects of kinds npbpf does not read: "
				       "1 Deployment, 2 Service\n"),
			   "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
	free(out);
}

Test(manifest, duplicate_warns_naming_both)
{
	char *out = captured(
		load_two, "kind: Pod\napiVersion: v1\nmetadata: {name: web, labels: {v: one}}\n",
		"\n\nkind: Pod\napiVersion: v1\nmetadata: {name: web, labels: {v: two}}\n");

	cr_assert_str_eq(labels_get(&pod("default", "web")->labels, "v"), "two");
	cr_assert_not_null(strstr(out, "warning: test.yaml:3:1: Pod default/web replaces the one "
				       "at test.yaml:1:1 (the later wins, as with kubectl apply)"),
			   "%s", out);
	free(out);
	out = captured(load_two,
		       "kind: Namespace\napiVersion: v1\nmetadata: {name: n}\n---\n"
		       "kind: Namespace\napiVersion: v1\nmetadata: {name: n}\n",
		       NULL);
	cr_assert_not_null(strstr(out, "test.yaml:5:1: Namespace n replaces the one at "
				       "test.yaml:1:1"),
			   "%s", out);
	free(out);
}

/* ---- -n and -R ---- */

Test(manifest, recursive_reads_subdirectories)
{
	char *path = FIXTURES "/dir";
	struct manifest_opts opts = {.recursive = true};
	enum log_level saved = log_get_level();

	log_set_level(LOG_WARN);
	cr_redirect_stderr();
	/* The fixture's nested file is broken on purpose: reading it fails. */
	cr_assert_eq(manifest_load_opts(&c, &path, 1, &opts), -EINVAL);
	log_set_level(saved);
	cr_assert_eq(c.n_files, 5, "the nested.yaml directory is read with -R");
	cr_assert_str_eq(c.files[4], FIXTURES "/dir/nested.yaml/ignored.yaml");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(manifest, namespace_option, .init = cr_redirect_stderr)
{
	char dir[] = "/tmp/npbpf-ns-XXXXXX", file[64], *path = file;
	struct manifest_opts opts = {.ns = "team"};

	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/a.yaml", dir);
	write_file(file, "kind: Pod\napiVersion: v1\nmetadata: {name: a}\n---\n"
			 "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n"
			 "metadata: {name: p, namespace: team}\nspec: {podSelector: {}}\n---\n"
			 "kind: Namespace\napiVersion: v1\nmetadata: {name: other}\n");
	cr_assert_eq(manifest_load_opts(&c, &path, 1, &opts), 0);
	pod("team", "a");
	policy("team", "p");
	ns("other");
	cluster_free(&c);
	cluster_init(&c);
	write_file(file, "kind: Pod\napiVersion: v1\nmetadata: {name: a, namespace: prod}\n");
	cr_assert_eq(manifest_load_opts(&c, &path, 1, &opts), -EINVAL,
		     "kubectl apply -n refuses another namespace");
	cluster_free(&c);
	cluster_init(&c);
	opts.ns = "Not_A_Label";
	cr_assert_eq(manifest_load_opts(&c, &path, 1, &opts), -EINVAL);
	unlink(file);
	rmdir(dir);
}

/* Many labels in reverse key order (the worst case for sorted insertion)
 * decode sorted, each with its value. */
Test(manifest, many_labels_reverse_order)
{
	enum { N = 200000 };
	size_t cap = 64 + (size_t)N * 32, len;
	char *y = malloc(cap);

	cr_assert_not_null(y);
	len = (size_t)snprintf(y, cap,
			       "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n");
	for (int i = N - 1; i >= 0; i--)
		len += (size_t)snprintf(y + len, cap - len, "    k%06d: v%d\n", i, i);
	cr_assert_eq(manifest_load_buffer(&c, "big.yaml", y, len), 0);
	free(y);

	const struct np_labels *l = &pod("default", "a")->labels;
	char key[16], val[16];

	cr_assert_eq(l->n, N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%06d", i);
		snprintf(val, sizeof(val), "v%d", i);
		cr_assert_str_eq(l->v[i].key, key);
		cr_assert_str_eq(l->v[i].value, val);
	}
}
