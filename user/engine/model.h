/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster model: namespaces, pods and NetworkPolicies as parsed from
 * manifests (or, later, from the API server), already validated. Everything
 * is owned by the struct np_cluster and released by cluster_free().
 */
#ifndef NPBPF_MODEL_H
#define NPBPF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where an object came from, for error messages. file points into
 * np_cluster.files and lives as long as the cluster. */
struct np_loc {
	const char *file;
	int line; /* 1-based, 0 = unknown */
	int col;
};

struct np_label {
	char *key;
	char *value;
};

/* Sorted by key, keys unique. */
struct np_labels {
	struct np_label *v;
	size_t n, cap;
};

enum np_op {
	NP_OP_IN,
	NP_OP_NOT_IN,
	NP_OP_EXISTS,
	NP_OP_DOES_NOT_EXIST,
};

struct np_expr {
	char *key;
	enum np_op op;
	char **values;
	size_t n_values, cap_values;
};

/* matchLabels AND every matchExpression. Empty selects everything. */
struct np_selector {
	struct np_labels match;
	struct np_expr *exprs;
	size_t n_exprs, cap_exprs;
};

/* An address or prefix. bytes are in network order; IPv4 uses the first 4.
 * A prefix is normalised to its network (host bits cleared), as the API
 * server accepts 198.18.1.10/4 and means 192.0.0.0/4. */
struct np_addr {
	uint8_t family; /* 4 or 6 */
	uint8_t plen;   /* 32/128 for a single address */
	uint8_t bytes[16];
};

struct np_container_port {
	char *name; /* NULL when unnamed */
	uint16_t port;
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
};

struct np_namespace {
	char *name;
	struct np_labels labels; /* always has kubernetes.io/metadata.name */
	struct np_loc loc;
	bool implicit; /* made up for a pod whose Namespace object was absent */
};

struct np_pod {
	char *ns;
	char *name;
	struct np_labels labels;
	bool host_network;
	char *node; /* spec.nodeName: the node it runs on; NULL when absent */
	struct np_addr *addrs; /* status.podIPs (or podIP), plen = full length */
	size_t n_addrs, cap_addrs;
	/* status.hostIPs (or hostIP): addresses of its node, as the kubelet
	 * reports them. Any pod names its node's addresses, not only hostNetwork
	 * ones, so a kubectl dump tells which address is which node's. */
	struct np_addr *host_addrs;
	size_t n_host_addrs, cap_host_addrs;
	struct np_container_port *ports; /* spec.containers[].ports, all containers */
	size_t n_ports, cap_ports;
	/* metadata.creationTimestamp as the API writes it (RFC 3339, UTC, so
	 * later sorts later), or NULL: which of two pods claiming one address
	 * keeps it (cluster_finalize) */
	char *created;
	/* status.phase is Succeeded or Failed: the pod no longer runs, and the
	 * CNI may have handed its address to another pod. cluster_finalize
	 * leaves such pods out of the model. */
	bool finished;
	struct np_loc loc;
};

struct np_ipblock {
	struct np_addr cidr;
	struct np_addr *except; /* each strictly inside cidr */
	size_t n_except, cap_except;
};

/* One item of from/to. At least one of the three is present. podSelector and
 * namespaceSelector in one item are ANDed; ipBlock stands alone. */
struct np_peer {
	bool has_pod_sel;
	bool has_ns_sel;
	bool has_ipblock;
	struct np_selector pod_sel;
	struct np_selector ns_sel;
	struct np_ipblock ipblock;
};

struct np_port {
	uint8_t proto;     /* IPPROTO_*, TCP when omitted */
	char *name;        /* named port, or NULL */
	uint16_t port;     /* numeric port; 0 with name == NULL: every port of proto */
	uint16_t end_port; /* 0 = no range; else >= port */
};

/* n_peers == 0: every peer. n_ports == 0: every port and protocol. */
struct np_rule {
	struct np_peer *peers;
	size_t n_peers, cap_peers;
	struct np_port *ports;
	size_t n_ports, cap_ports;
	struct np_loc loc;
};

enum np_dir {
	NP_INGRESS = 0, /* same values as enum npbpf_dir */
	NP_EGRESS = 1,
};

struct np_policy {
	char *ns;
	char *name;
	struct np_selector pod_sel;
	bool types[2]; /* policyTypes after defaulting, indexed by enum np_dir */
	struct np_rule *rules[2];
	size_t n_rules[2], cap_rules[2];
	struct np_loc loc;
};

struct np_cluster {
	char **files;
	size_t n_files, cap_files;
	struct np_namespace *namespaces;
	size_t n_namespaces, cap_namespaces;
	struct np_pod *pods;
	size_t n_pods, cap_pods;
	struct np_policy *policies;
	size_t n_policies, cap_policies;
};

void cluster_init(struct np_cluster *c);
void cluster_free(struct np_cluster *c);

/* Leaves out finished pods (they have no network presence; logged at -v),
 * adds the namespaces pods refer to but no Namespace object declared (with
 * only the kubernetes.io/metadata.name label), sorts namespaces by name and
 * pods by namespace and name, and gives an address two live pods claim to
 * one of them (warned): the one created later (the CNI handed the address
 * out after the other's status was written, so the other's is stale), on a
 * tie or a missing creationTimestamp the first by namespace/name. The other
 * pod loses that address only. hostNetwork pods share their node's
 * addresses and are not checked. Returns 0 or -ENOMEM. */
int cluster_finalize(struct np_cluster *c);

/* Lookups; NULL when absent. Namespaces must be finalized (sorted). */
struct np_namespace *cluster_find_ns(const struct np_cluster *c, const char *name);
struct np_pod *cluster_find_pod(const struct np_cluster *c, const char *ns, const char *name);

/* Labels. labels_set replaces an existing key. Return 0 or -ENOMEM. */
int labels_set(struct np_labels *l, const char *key, const char *value);
const char *labels_get(const struct np_labels *l, const char *key);
void labels_free(struct np_labels *l);

void selector_free(struct np_selector *s);

/* What one object owns (cluster_free frees every object this way). */
void namespace_free(struct np_namespace *ns);
void pod_free(struct np_pod *p);
void policy_free(struct np_policy *p);

/* Address helpers. addr_parse accepts "A.B.C.D", "A.B.C.D/N", IPv6 and IPv6/N;
 * with allow_prefix false a /N is an error. Returns 0 or -EINVAL. */
int addr_parse(const char *text, bool allow_prefix, struct np_addr *out);
/* true when prefix a contains address or prefix b (same family, a.plen <= b.plen). */
bool addr_contains(const struct np_addr *a, const struct np_addr *b);
/* Formats "198.18.0.1" or "198.18.0.0/16" (plen omitted when full). buf >= 64. */
const char *addr_format(const struct np_addr *a, char *buf, size_t len);
int addr_cmp(const struct np_addr *a, const struct np_addr *b);

/* "TCP" -> IPPROTO_TCP ...; 0 when unknown. */
uint8_t proto_parse(const char *name);
const char *proto_name(uint8_t proto);

#endif /* NPBPF_MODEL_H */
