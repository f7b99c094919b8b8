/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "The host" is the node a pod runs on: its kubelet's probes pass a default
 * deny, other nodes and the hostNetwork pods on them are addresses like any
 * other (an ipBlock admits them, no selector matches them). The tables are the
 * same for every node; only a node's ipcache (and so the answer of
 * compiled_addr_lookup for that node) differs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine_fixture.h"
#include "mapsync.h"

#define NS(n)                                                                                      \
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " n "\n  labels:\n    ns: " n       \
	"\n---\n"

#define POD_ON(ns, p, node, ip, host_ip)                                                           \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " p "\n  namespace: " ns                    \
	"\n  labels:\n    pod: " p "\nspec:\n  nodeName: " node "\n  containers:\n  - name: c\n"   \
	"    ports:\n    - {name: serve-80-tcp, containerPort: 80, protocol: TCP}\n"               \
	"status:\n  hostIP: " host_ip "\n  podIP: " ip "\n---\n"

#define AGENT_ON(p, node, ip)                                                                      \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " p "\n  namespace: kube-system\n"          \
	"  labels:\n    app: agent\nspec:\n  nodeName: " node "\n  hostNetwork: true\n"            \
	"status:\n  hostIP: " ip "\n  podIP: " ip "\n---\n"

#define POLICY(ns, name, spec)                                                                     \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " name          \
	"\n  namespace: " ns "\nspec:\n" spec "\n---\n"

/* x/a on n1 (198.19.0.1), x/b on n2 (198.19.0.2), a real pod and a
 * hostNetwork agent in kube-system on each node. */
#define N1 "198.19.0.1"
#define N2 "198.19.0.2"
#define NODES                                                                                      \
	NS("x")                                                                                    \
	NS("kube-system")                                                                          \
	POD_ON("x", "a", "n1", "198.18.0.1", N1)                                                   \
	POD_ON("x", "b", "n2", "198.18.0.2", N2)                                                   \
	POD_ON("kube-system", "dns", "n2", "198.18.0.10", N2)                                      \
	AGENT_ON("agent-1", "n1", N1)                                                              \
	AGENT_ON("agent-2", "n2", N2)

#define DENY_X POLICY("x", "deny", "  podSelector: {}\n  policyTypes: [Ingress]")
#define FROM_BLOCK(name, pod, cidr, port)                                                          \
	POLICY("x", name,                                                                          \
	       "  podSelector: {matchLabels: {pod: " pod "}}\n  ingress:\n  - from:\n"             \
	       "    - ipBlock: {cidr: " cidr "}\n    ports: [{port: " port "}]")

static struct engine e;

static void done(void)
{
	engine_free(&e);
}

TestSuite(host, .fini = done);

/* As explain compiles: every pod on its node, this node named or not. */
static void load_nodes(struct engine *en, const char *yaml, const char *node, bool enforce_host)
{
	struct compile_opts opts = {
		.per_node = true, .node_name = node, .enforce_host = enforce_host};

	engine_load_opts(en, yaml, &opts);
}

static struct np_addr addr(const char *text)
{
	struct np_addr a;

	cr_assert_eq(addr_parse(text, false, &a), 0, "bad address %s", text);
	return a;
}

static uint32_t node_index(const struct engine *en, const char *name)
{
	for (size_t i = 0; i < en->cp.idn.n_nodes; i++) {
		if (en->cp.idn.nodes[i] && !strcmp(en->cp.idn.nodes[i], name))
			return (uint32_t)i;
	}
	cr_assert_fail("no node %s", name);
	return 0;
}

static struct addr_info lookup_on(const struct engine *en, const char *text, const char *node)
{
	struct np_addr a = addr(text);
	struct addr_info ai;

	compiled_addr_lookup(&en->cp, &a, node_index(en, node), &ai);
	return ai;
}

/* An ipcache key as the compile writes it, back in the model's terms. */
static struct np_addr model_addr(const struct npbpf_addr *k, uint32_t plen)
{
	struct np_addr a = { .family = k->family == NPBPF_FAMILY_V4 ? 4 : 6, .plen = (uint8_t)plen };

	memcpy(a.bytes, k->addr, sizeof(a.bytes));
	return a;
}

/* The datapath's lookup over what map sync writes (bpf/lib/identity.h):
 * exact address, else the longest prefix, else WORLD. */
static uint32_t datapath_identity(const struct compiled *cp, const struct np_addr *a, bool *host)
{
	const struct identities *idt = &cp->idn;
	long best = -1;

	*host = false;
	for (size_t i = 0; i < idt->n_ipc_host; i++) {
		struct np_addr p = model_addr(&idt->ipc_host[i].key, a->family == 4 ? 32 : 128);

		if (!addr_cmp(&p, a)) {
			*host = idt->ipc_host[i].value.flags & NPBPF_IPC_NODE;
			return idt->ipc_host[i].value.identity;
		}
	}
	for (size_t i = 0; i < idt->n_ipc_cidr; i++) {
		const struct npbpf_ipc_key *k = &idt->ipc_cidr[i].key;
		struct np_addr p = model_addr(&k->a, k->prefixlen - 32);

		if (!addr_contains(&p, a))
			continue;
		if (best < 0 || k->prefixlen > idt->ipc_cidr[best].key.prefixlen)
			best = (long)i;
	}
	return best < 0 ? NPBPF_ID_WORLD : idt->ipc_cidr[best].value.identity;
}

Test(host, kubelet_of_the_pods_own_node_only)
{
	load_nodes(&e, NODES DENY_X, NULL, false);
	cr_assert(engine_allows(&e, N1, "x/a", TCP, 80), "n1's kubelet probes x/a on n1");
	cr_assert(engine_allows(&e, N1, "x/a", UDP, 9999), "the host: every port and protocol");
	cr_assert(engine_allows(&e, "kube-system/agent-1", "x/a", TCP, 80), "hostNetwork on n1");
	cr_assert_not(engine_allows(&e, N2, "x/a", TCP, 80), "n2 is a remote node to x/a");
	cr_assert_not(engine_allows(&e, "kube-system/agent-2", "x/a", TCP, 80),
		      "a hostNetwork pod on n2 is n2's address");
	cr_assert(engine_allows(&e, N2, "x/b", TCP, 80), "n2 is x/b's host");
	cr_assert_not(engine_allows(&e, N1, "x/b", TCP, 80));
	cr_assert_not(engine_allows(&e, "kube-system/agent-1", "x/b", TCP, 80));
}

Test(host, explain_says_host_or_remote_node)
{
	struct flow_end a = {.addr = addr(N2)}, b;
	struct flow_verdict v;

	load_nodes(&e, NODES DENY_X, NULL, false);
	b = engine_end(&e, "x/a", 4);
	verdict_flow(&e.cp, &a, &b, TCP, 80, &v);
	cr_assert_eq(v.dir[NP_INGRESS].peer_kind, ADDR_REMOTE_NODE);
	cr_assert_str_eq(e.cp.idn.nodes[v.dir[NP_INGRESS].peer_node], "n2");
	cr_assert_str_eq(e.cp.idn.nodes[v.dir[NP_INGRESS].node], "n1", "judged on x/a's node");
	cr_assert_eq(v.dir[NP_INGRESS].peer, NPBPF_ID_WORLD, "no ipBlock covers it");
	b = engine_end(&e, "x/b", 4);
	verdict_flow(&e.cp, &a, &b, TCP, 80, &v);
	cr_assert_eq(v.dir[NP_INGRESS].peer_kind, ADDR_HOST);
	cr_assert_eq(v.dir[NP_INGRESS].peer, NPBPF_ID_HOST);
	cr_assert_eq(v.dir[NP_INGRESS].by.policy, NPBPF_POLICY_HOST);
}

/* An ipBlock admits a remote node's address exactly as any other address of
 * the block, and on the same ports only. */
Test(host, remote_node_is_any_address_to_an_ipblock)
{
	static const struct {
		uint8_t proto;
		uint16_t port;
	} probes[] = {{TCP, 80}, {TCP, 81}, {UDP, 80}, {SCTP, 80}};

	load_nodes(&e, NODES DENY_X FROM_BLOCK("nodes", "a", "198.19.0.0/24", "80"), NULL, false);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		bool node = engine_allows(&e, N2, "x/a", probes[i].proto, probes[i].port);
		bool other =
			engine_allows(&e, "198.19.0.77", "x/a", probes[i].proto, probes[i].port);
		bool agent = engine_allows(&e, "kube-system/agent-2", "x/a", probes[i].proto,
					   probes[i].port);

		cr_assert_eq(node, other, "probe %zu: a remote node differs from its block", i);
		cr_assert_eq(agent, other, "probe %zu: a remote hostNetwork pod differs", i);
		cr_assert_eq(node, probes[i].proto == TCP && probes[i].port == 80, "probe %zu", i);
	}
	cr_assert_eq(lookup_on(&e, N2, "n1").id, lookup_on(&e, "198.19.0.77", "n1").id,
		     "the region's CIDR identity");
	cr_assert_eq(lookup_on(&e, N2, "n1").kind, ADDR_REMOTE_NODE);
	cr_assert_eq(lookup_on(&e, "198.19.0.77", "n1").kind, ADDR_CIDR);
	cr_assert_not(engine_allows(&e, "198.19.1.1", "x/a", TCP, 80), "outside the block");
}

Test(host, selectors_never_match_host_network_pods)
{
	load_nodes(&e,
		   NODES DENY_X POLICY("x", "all-pods",
				       "  podSelector: {}\n  ingress:\n"
				       "  - from: [{namespaceSelector: {}}]")
			   POLICY("x", "agents",
				  "  podSelector: {}\n  ingress:\n  - from:\n"
				  "    - namespaceSelector: {matchLabels: {ns: kube-system}}\n"
				  "      podSelector: {matchLabels: {app: agent}}"),
		   NULL, false);
	cr_assert(engine_allows(&e, "kube-system/dns", "x/a", TCP, 80), "a pod matches {}");
	cr_assert_not(engine_allows(&e, "kube-system/agent-2", "x/a", TCP, 80),
		      "a hostNetwork pod is its node's address, not a pod");
	cr_assert(engine_allows(&e, "kube-system/agent-1", "x/a", TCP, 80), "but n1 is x/a's host");
}

/* With --enforce-host an ipBlock decides about the own node too, per
 * address: one node's address in the block does not admit another node
 * (one HOST identity for every node did). */
Test(host, enforce_host_ipblock_admits_only_addresses_inside)
{
	load_nodes(&e,
		   NODES DENY_X FROM_BLOCK("n1-only", "a", N1 "/32", "80")
			   FROM_BLOCK("n1-only-b", "b", N1 "/32", "80"),
		   NULL, true);
	cr_assert(engine_allows(&e, N1, "x/a", TCP, 80), "x/a's own node, in the block");
	cr_assert_not(engine_allows(&e, N1, "x/a", TCP, 81), "the block's port only");
	cr_assert(engine_allows(&e, N1, "x/b", TCP, 80), "a remote node in the block");
	cr_assert_not(engine_allows(&e, N2, "x/b", TCP, 80), "x/b's own node is not in the block");
	cr_assert_not(engine_allows(&e, N2, "x/a", TCP, 80));
	cr_assert_neq(lookup_on(&e, N1, "n1").id, NPBPF_ID_HOST, "the host in a region");
	cr_assert_eq(lookup_on(&e, N2, "n2").id, NPBPF_ID_HOST, "the host in no region");
}

Test(host, egress_to_nodes_follows_the_same_rules)
{
	load_nodes(&e,
		   NODES POLICY("x", "to-n1",
				"  podSelector: {}\n  egress:\n  - to:\n"
				"    - ipBlock: {cidr: " N1 "/32}\n"
				"    ports: [{port: 443}]"),
		   NULL, false);
	cr_assert(engine_allows(&e, "x/a", N1, TCP, 443), "x/a to its own node, in the block");
	cr_assert(engine_allows(&e, "x/b", N1, TCP, 443), "x/b to a remote node in the block");
	cr_assert_not(engine_allows(&e, "x/b", N2, TCP, 443), "x/b's own node, not in the block");
	cr_assert_not(engine_allows(&e, "x/a", N2, TCP, 443));
	cr_assert_not(engine_allows(&e, "x/a", N1, TCP, 80));
}

/* The CLUSTER wildcard means pods: a host identity in a region is numbered
 * in the CIDR range, never a pod identity. */
Test(host, namespace_selector_all_never_matches_the_host)
{
	load_nodes(&e,
		   NODES DENY_X FROM_BLOCK("elsewhere", "b", "198.19.0.0/24", "443")
			   POLICY("x", "all-pods",
				  "  podSelector: {}\n  ingress:\n"
				  "  - from: [{namespaceSelector: {}}]"),
		   NULL, true);
	cr_assert_not(NPBPF_ID_IS_POD(lookup_on(&e, N1, "n1").id));
	cr_assert_not(engine_allows(&e, N1, "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "kube-system/dns", "x/a", TCP, 80));
}

/* The policy tables are the same whichever node the compile is for; only
 * the ipcache is that node's, and it leaves every other node out. */
Test(host, tables_are_the_same_for_every_node)
{
	const char *yaml = NODES DENY_X FROM_BLOCK("nodes", "a", "198.19.0.0/24", "80")
		FROM_BLOCK("n1", "b", N1 "/32", "81");
	static const char *const probe[] = {
		N1, N2, "198.19.0.77", "198.18.0.1", "198.18.0.2", "198.18.0.10", "203.0.113.1"};
	struct engine other;

	load_nodes(&e, yaml, "n1", false);
	load_nodes(&other, yaml, "n2", false);
	cr_assert_eq(e.cp.n_entries, other.cp.n_entries);
	cr_assert_eq(e.cp.n_ranges, other.cp.n_ranges);
	cr_assert_eq(e.cp.n_subjects, other.cp.n_subjects);
	for (size_t i = 0; i < e.cp.n_entries; i++) {
		uint32_t idx;

		cr_assert(hmap_get(&other.cp.entry_index, &e.cp.entries[i].key,
				   sizeof(e.cp.entries[i].key), &idx),
			  "entry %zu only on n1", i);
	}
	cr_assert_str_eq(e.cp.idn.nodes[0], "n1");
	cr_assert_str_eq(other.cp.idn.nodes[0], "n2");
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		struct np_addr a = addr(probe[i]);
		struct addr_info ai;
		bool host;

		/* What each node's datapath finds is what explain says for pods
		 * on that node. */
		compiled_addr_lookup(&e.cp, &a, node_index(&e, "n1"), &ai);
		cr_assert_eq(datapath_identity(&e.cp, &a, &host), ai.id, "%s on n1", probe[i]);
		cr_assert_eq(host, ai.kind == ADDR_HOST, "%s on n1: host flag", probe[i]);
		cr_assert_eq(compiled_addr_identity(&e.cp, &a), ai.id);
		compiled_addr_lookup(&other.cp, &a, node_index(&other, "n2"), &ai);
		cr_assert_eq(datapath_identity(&other.cp, &a, &host), ai.id, "%s on n2", probe[i]);
		cr_assert_eq(host, ai.kind == ADDR_HOST, "%s on n2: host flag", probe[i]);
		/* And both compiles agree about every node. */
		compiled_addr_lookup(&e.cp, &a, node_index(&e, "n2"), &ai);
		cr_assert_eq(ai.id, lookup_on(&other, probe[i], "n2").id, "%s", probe[i]);
	}
	for (size_t i = 0; i < e.cp.idn.n_ipc_host; i++) {
		struct np_addr n2 = addr(N2), p = model_addr(&e.cp.idn.ipc_host[i].key, 32);

		cr_assert(addr_cmp(&p, &n2), "n2's address in n1's ipcache");
	}
	engine_free(&other);
}

/* The lab and the datapath tests put every pod on one node: then every node
 * address is the host, as before nodes were told apart. */
Test(host, one_node_mode_makes_every_node_the_host)
{
	engine_load(&e, NODES POD_ON("x", "c", "n3", "198.18.0.3", "198.19.0.3") DENY_X);
	cr_assert_eq(e.cp.idn.n_nodes, 1);
	cr_assert(engine_allows(&e, N2, "x/a", TCP, 80));
	cr_assert(engine_allows(&e, "kube-system/agent-2", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "198.19.0.3", "x/a", TCP, 80),
		      "a hostIP only names the node the pod came from, not this one");
}

#define SOLO                                                                                       \
	NS("x")                                                                                    \
	POD_ON("x", "a", "solo", "198.18.0.1", "198.19.0.9")                                       \
		POD_ON("x", "b", "solo", "198.18.0.2", "198.19.0.9")

/* --node-ip ADDR without a node: the unnamed node, which is the only node
 * the pods name; with several named nodes it is nobody's. */
Test(host, unnamed_node_addresses)
{
	struct np_addr unnamed = addr("198.19.0.5");
	struct compile_opts opts = {.per_node = true, .node_addrs = &unnamed, .n_node_addrs = 1};
	struct engine several;

	engine_load_opts(&e, SOLO DENY_X, &opts);
	cr_assert(engine_allows(&e, "198.19.0.5", "x/a", TCP, 80), "the single node's address");
	cr_assert(engine_allows(&e, "198.19.0.9", "x/a", TCP, 80), "its hostIP too");
	cr_assert_eq(e.cp.idn.n_nodes, 1);
	engine_load_opts(&several, NODES DENY_X, &opts);
	cr_assert_not(engine_allows(&several, "198.19.0.5", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&several, "198.19.0.5", "x/b", TCP, 80));
	engine_free(&several);
}

/* A pod without spec.nodeName is on the unnamed node with the others that
 * name none: manifests written without nodeName keep one node. */
Test(host, pods_without_node_name_share_the_unnamed_node)
{
	struct np_addr node = addr("198.19.0.5");
	struct compile_opts opts = {.per_node = true, .node_addrs = &node, .n_node_addrs = 1};

	engine_load_opts(&e,
			 NS("x") "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\n"
				 "status: {podIP: 198.18.0.1}\n---\n" DENY_X,
			 &opts);
	cr_assert(engine_allows(&e, "198.19.0.5", "x/a", TCP, 80));
	cr_assert_null(e.cp.idn.nodes[e.cp.idn.pod_node[0]]);
}

/* --node-ip NODE=ADDR adds an address to a node; what the operator says
 * wins over what the pods report. */
Test(host, named_node_addresses)
{
	struct compile_node_ip ips[] = {{"n1", addr("198.19.0.11")}, {"n1", addr(N2)}};
	struct compile_opts opts = {.per_node = true, .node_ips = ips, .n_node_ips = 2};

	engine_load_opts(&e, NODES DENY_X, &opts);
	cr_assert(engine_allows(&e, "198.19.0.11", "x/a", TCP, 80));
	cr_assert_not(engine_allows(&e, "198.19.0.11", "x/b", TCP, 80));
	cr_assert(engine_allows(&e, N2, "x/a", TCP, 80), "--node-ip n1=" N2 " wins");
	cr_assert_not(engine_allows(&e, N2, "x/b", TCP, 80));
}

/* A node's address known only from a pod's status.hostIP. */
Test(host, host_ip_names_a_node_address)
{
	load_nodes(&e, NODES POD_ON("x", "c", "n3", "198.18.0.3", "198.19.0.3") DENY_X, NULL,
		   false);
	cr_assert(engine_allows(&e, "198.19.0.3", "x/c", TCP, 80));
	cr_assert_not(engine_allows(&e, "198.19.0.3", "x/a", TCP, 80));
	cr_assert_eq(lookup_on(&e, "198.19.0.3", "n1").kind, ADDR_REMOTE_NODE);
}

/* Map sync writes the host's regioned identity with its label and marks this
 * node's own addresses as the node (and on-link) whatever their number; a
 * restart gets the same number back. */
Test(host, map_sync_labels_and_marks_the_host)
{
	const char *yaml = NODES DENY_X FROM_BLOCK("nodes", "a", "198.19.0.0/24", "80");
	struct ms_state cur, want;
	const struct npbpf_ipc_value *v;
	struct npbpf_addr k = {.family = NPBPF_FAMILY_V4};
	struct np_addr n1 = addr(N1);
	struct engine again;
	struct numbering_prior prior;
	struct compile_opts opts = {.per_node = true, .node_name = "n1", .prior = &prior};
	char *label;
	uint32_t host;

	load_nodes(&e, yaml, "n1", false);
	host = lookup_on(&e, N1, "n1").id;
	ms_state_init(&cur);
	ms_state_init(&want);
	cr_assert_eq(mapsync_desired(&e.cp, NULL, 0, &cur, &want, NULL), 0);
	memcpy(k.addr, n1.bytes, 4);
	v = ms_table_get(&want.ipc_host, &k);
	cr_assert_not_null(v);
	cr_assert_eq(v->identity, host);
	cr_assert_eq(v->flags & (NPBPF_IPC_ON_LINK | NPBPF_IPC_NODE),
		     NPBPF_IPC_ON_LINK | NPBPF_IPC_NODE);
	memcpy(k.addr, addr(N2).bytes, 4);
	cr_assert_null(ms_table_get(&want.ipc_host, &k), "n2 is no exact entry on n1");
	cr_assert_eq(ms_idmeta_decode(&want.idmeta, host, NULL, NULL, &label), 0);
	cr_assert_str_eq(label, "host in cidr 198.19.0.0/24");
	free(label);
	numbering_prior_init(&prior);
	cr_assert_eq(mapsync_numbering_from_state(&want, &prior), 0);
	engine_load_opts(&again, yaml, &opts);
	cr_assert_eq(lookup_on(&again, N1, "n1").id, host);
	engine_free(&again);
	numbering_prior_free(&prior);
	ms_state_free(&cur);
	ms_state_free(&want);
}
