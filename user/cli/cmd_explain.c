/* SPDX-License-Identifier: Apache-2.0 */
/* npbpf explain: offline verdicts from the compiled tables. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "compile.h"
#include "json_out.h"
#include "log.h"
#include "manifest.h"
#include "matrix.h"
#include "selector.h"
#include "vec.h"
#include "verdict.h"

struct explain_args {
	char **paths;
	size_t n_paths, cap_paths;
	const char *from, *to, *port;
	bool matrix, json, enforce_host;
	struct matrix_port *ports;
	size_t n_ports;
	struct np_addr *externals;
	size_t n_externals, cap_externals;
	struct np_addr *node_addrs; /* --node-ip ADDR: the unnamed node's */
	size_t n_node_addrs, cap_node_addrs;
	struct compile_node_ip *node_ips; /* --node-ip NODE=ADDR */
	size_t n_node_ips, cap_node_ips;
	int families;
};

static void explain_usage(FILE *f)
{
	fprintf(f,
		"Usage: npbpf explain -f PATH... --from NS/POD|ADDR --to NS/POD|ADDR --port PORT[/PROTO]\n"
		"       npbpf explain -f PATH... --matrix [--ports 80/TCP,81/UDP] [--external ADDR]...\n"
		"\n"
		"Answers from the compiled tables whether a new connection is allowed, and why.\n"
		"Exit status: 0 allowed, 1 denied, 2 error. With --matrix: 0 unless an error.\n"
		"\n"
		"  -f, --file PATH        manifest file or directory (repeatable; '-' = stdin)\n"
		"      --from X, --to Y   NS/POD, or an address (a pod's address means that pod)\n"
		"      --port PORT[/PROTO] destination port; protocol TCP (default), UDP, SCTP\n"
		"      --matrix           every ordered pair of non-hostNetwork pods\n"
		"      --ports LIST       matrix ports (default: each pod's declared containerPorts)\n"
		"      --external ADDR    add an address outside the cluster to the matrix (repeatable)\n"
		"      --family 4|6|both  address family (default 4)\n"
		"      --node-ip [NODE=]ADDR  an address of node NODE (repeatable): the host for\n"
		"                         pods on NODE (spec.nodeName), any address for others;\n"
		"                         without NODE=, the unnamed node's: that of pods without\n"
		"                         spec.nodeName, or the only node the pods name\n"
		"      --enforce-host     do not allow a node's own traffic to its isolated pods\n"
		"  -o, --output text|json output format (default text)\n"
		"  -h, --help             this help\n");
}

static int push_addr(struct np_addr **v, size_t *n, size_t *cap, const char *text)
{
	struct np_addr *slot = VEC_PUSH(*v, *n, *cap);

	if (!slot)
		return -ENOMEM;
	if (addr_parse(text, false, slot)) {
		log_error("explain: '%s' is not an IP address", text);
		return -EINVAL;
	}
	return 0;
}

/* --node-ip [NODE=]ADDR. An address has no '=', so the first one ends NODE. */
static int push_node_ip(struct explain_args *a, char *text)
{
	char *eq = strchr(text, '=');
	struct compile_node_ip *ip;

	if (!eq)
		return push_addr(&a->node_addrs, &a->n_node_addrs, &a->cap_node_addrs, text);
	ip = VEC_PUSH(a->node_ips, a->n_node_ips, a->cap_node_ips);
	if (!ip)
		return -ENOMEM;
	if (eq == text) {
		log_error("explain: --node-ip '%s': empty node name (want [NODE=]ADDR)", text);
		return -EINVAL;
	}
	if (addr_parse(eq + 1, false, &ip->addr)) {
		log_error("explain: --node-ip '%s': '%s' is not an IP address", text, eq + 1);
		return -EINVAL;
	}
	*eq = '\0'; /* optarg points into argv, which lives as long as the command */
	ip->node = text;
	return 0;
}

/*
 * --node-ip ADDR names the unnamed node: the node of pods without
 * spec.nodeName, or the only node the pods name. When every pod names its
 * node and they name several, that node has no pods, and the address would
 * be a remote node's for every pod: almost certainly not what was meant.
 */
static int check_unnamed_node_ips(const struct np_cluster *c, const struct explain_args *a)
{
	const char *first = NULL, *second = NULL;
	char buf[64];

	if (!a->n_node_addrs)
		return 0;
	for (size_t i = 0; i < c->n_pods; i++) {
		const char *n = c->pods[i].node;

		if (!n)
			return 0;
		if (!first)
			first = n;
		else if (!second && strcmp(first, n))
			second = n;
	}
	if (!second)
		return 0;
	log_error("explain: --node-ip %s: the pods run on several nodes (%s, %s, ...); say whose "
		  "address it is: --node-ip NODE=%s",
		  addr_format(&a->node_addrs[0], buf, sizeof(buf)), first, second, buf);
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct explain_args *a)
{
	enum { OPT_FROM = 256, OPT_TO, OPT_PORT, OPT_MATRIX, OPT_PORTS, OPT_EXTERNAL, OPT_FAMILY,
	       OPT_NODE_IP, OPT_ENFORCE_HOST };
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "matrix", no_argument, NULL, OPT_MATRIX },
		{ "ports", required_argument, NULL, OPT_PORTS },
		{ "external", required_argument, NULL, OPT_EXTERNAL },
		{ "family", required_argument, NULL, OPT_FAMILY },
		{ "node-ip", required_argument, NULL, OPT_NODE_IP },
		{ "enforce-host", no_argument, NULL, OPT_ENFORCE_HOST },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, err = 0;

	a->families = MATRIX_V4;
	optind = 1;
	while (!err && (c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': {
			char **slot = VEC_PUSH(a->paths, a->n_paths, a->cap_paths);

			if (!slot)
				return -ENOMEM;
			*slot = optarg;
			break;
		}
		case OPT_FROM:
			a->from = optarg;
			break;
		case OPT_TO:
			a->to = optarg;
			break;
		case OPT_PORT:
			a->port = optarg;
			break;
		case OPT_MATRIX:
			a->matrix = true;
			break;
		case OPT_PORTS:
			err = matrix_ports_option("explain", optarg, &a->ports, &a->n_ports);
			break;
		case OPT_EXTERNAL:
			err = push_addr(&a->externals, &a->n_externals, &a->cap_externals, optarg);
			break;
		case OPT_NODE_IP:
			err = push_node_ip(a, optarg);
			break;
		case OPT_FAMILY:
			err = matrix_family_option("explain", optarg, &a->families);
			break;
		case OPT_ENFORCE_HOST:
			a->enforce_host = true;
			break;
		case 'o':
			err = out_parse_format("explain", optarg, &a->json);
			break;
		case 'h':
			explain_usage(stdout);
			exit(EXIT_OK);
		default:
			err = -EINVAL;
		}
	}
	if (err)
		return err;
	if (optind < argc) {
		log_error("explain: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!a->n_paths) {
		log_error("explain: no manifests given (-f PATH)");
		return -EINVAL;
	}
	if (!a->matrix && (!a->from || !a->to || !a->port)) {
		log_error("explain: need --from, --to and --port, or --matrix (see --help)");
		return -EINVAL;
	}
	return 0;
}

/* Resolves NS/POD or an address. A pod's own address means that pod. */
static int resolve_end(const struct compiled *cp, const char *text, struct flow_end *end,
		       bool *is_addr)
{
	const struct np_cluster *c = cp->cluster;
	const char *slash = strchr(text, '/');

	memset(end, 0, sizeof(*end));
	*is_addr = false;
	if (slash && !addr_parse(text, false, &end->addr))
		slash = NULL; /* an IPv6 address has no '/', but be safe */
	if (slash) {
		char ns[256];
		size_t len = (size_t)(slash - text);

		if (len >= sizeof(ns)) {
			log_error("explain: no pod '%s'", text);
			return -ENOENT;
		}
		memcpy(ns, text, len);
		ns[len] = '\0';
		end->pod = cluster_find_pod(c, ns, slash + 1);
		if (!end->pod) {
			log_error("explain: no pod '%s' in the manifests", text);
			return -ENOENT;
		}
		return 0;
	}
	if (addr_parse(text, false, &end->addr)) {
		log_error("explain: '%s' is neither NS/POD nor an IP address", text);
		return -EINVAL;
	}
	*is_addr = true;
	for (size_t i = 0; i < c->n_pods; i++) {
		for (size_t a = 0; a < c->pods[i].n_addrs; a++) {
			if (!addr_cmp(&c->pods[i].addrs[a], &end->addr)) {
				end->pod = &c->pods[i];
				return 0;
			}
		}
	}
	return 0;
}

static bool pod_addr(const struct np_pod *pod, int family, struct np_addr *out)
{
	for (size_t a = 0; a < pod->n_addrs; a++) {
		if (pod->addrs[a].family == family) {
			*out = pod->addrs[a];
			return true;
		}
	}
	return false;
}

/* Picks the flow's family and fills pod ends' addresses with it. */
static int pick_family(struct flow_end *from, bool from_addr, struct flow_end *to, bool to_addr,
		       int families, const char *fs, const char *ts)
{
	int family = families == MATRIX_V6 ? 6 : 4;

	if (from_addr)
		family = from->addr.family;
	else if (to_addr)
		family = to->addr.family;
	if (from_addr && to_addr && from->addr.family != to->addr.family) {
		log_error("explain: %s and %s are of different address families", fs, ts);
		return -EINVAL;
	}
	if (!from_addr && !pod_addr(from->pod, family, &from->addr)) {
		log_error("explain: pod %s has no IPv%d address (status.podIPs)", fs, family);
		return -EINVAL;
	}
	if (!to_addr && !pod_addr(to->pod, family, &to->addr)) {
		log_error("explain: pod %s has no IPv%d address (status.podIPs)", ts, family);
		return -EINVAL;
	}
	return 0;
}

static void policy_label(const struct np_cluster *c, uint32_t policy, char *buf, size_t len)
{
	if (policy == NPBPF_POLICY_HOST)
		snprintf(buf, len, "the node's own traffic (allowed by default; --enforce-host)");
	else
		snprintf(buf, len, "%s/%s", c->policies[policy].ns, c->policies[policy].name);
}

static const char *reason_name(enum verdict_reason r)
{
	switch (r) {
	case VERDICT_NOT_CHECKED:
		return "not-enforced";
	case VERDICT_UNISOLATED:
		return "unisolated";
	case VERDICT_RULE:
		return "rule";
	case VERDICT_NO_RULE:
		return "no-rule";
	}
	return "?";
}

static const char *addr_kind_name(enum addr_kind k)
{
	switch (k) {
	case ADDR_POD:
		return "pod";
	case ADDR_HOST:
		return "host";
	case ADDR_REMOTE_NODE:
		return "remote-node";
	case ADDR_CIDR:
		return "cidr";
	case ADDR_WORLD:
		return "world";
	}
	return "?";
}

/* One direction's story, in text or JSON through one path per field. */
static void print_dir(struct out *o, const struct compiled *cp, enum np_dir dir,
		      const struct flow_end *subj, const struct dir_verdict *v)
{
	const struct np_cluster *c = cp->cluster;
	char buf[600];

	out_obj_begin(o, dir == NP_EGRESS ? "egress" : "ingress");
	if (subj->pod)
		snprintf(buf, sizeof(buf), "%s/%s", subj->pod->ns, subj->pod->name);
	else
		addr_format(&subj->addr, buf, sizeof(buf));
	out_str(o, "subject", buf);
	out_bool(o, "allowed", v->allowed);
	out_str(o, "reason", reason_name(v->reason));
	out_uint(o, "subject_identity", v->subject);
	out_uint(o, "peer_identity", v->peer);
	/* Which node judged, and what the far end is there: a node address is
	 * "host" only on its own node, "remote-node" (any address) elsewhere. */
	if (subj->pod && cp->nodes[v->node])
		out_str(o, "node", cp->nodes[v->node]);
	out_str(o, "peer_kind", addr_kind_name(v->peer_kind));
	if ((v->peer_kind == ADDR_HOST || v->peer_kind == ADDR_REMOTE_NODE) &&
	    cp->nodes[v->peer_node])
		out_str(o, "peer_node", cp->nodes[v->peer_node]);
	out_bool(o, "isolated", v->reason == VERDICT_RULE || v->reason == VERDICT_NO_RULE);
	if (v->reason == VERDICT_RULE) {
		policy_label(c, v->by.policy, buf, sizeof(buf));
		out_str(o, "policy", buf);
		out_uint(o, "rule", v->by.rule);
	}
	if (v->reason == VERDICT_NO_RULE) {
		out_arr_begin(o, "isolated_by");
		for (size_t p = 0; p < c->n_policies; p++) {
			const struct np_policy *pol = &c->policies[p];

			if (pol->types[dir] && !strcmp(pol->ns, subj->pod->ns) &&
			    selector_matches(&pol->pod_sel, &subj->pod->labels)) {
				policy_label(c, (uint32_t)p, buf, sizeof(buf));
				out_str(o, NULL, buf);
			}
		}
		out_arr_end(o);
	}
	out_obj_end(o);
}

/* A node's name, or what the unnamed one is. */
static const char *node_phrase(const struct compiled *cp, uint32_t node)
{
	if (node < cp->n_nodes && cp->nodes[node])
		return cp->nodes[node];
	return "the unnamed node"; /* of pods without spec.nodeName; see --help */
}

/* Why a node's address is or is not the host of the pod judged: the one
 * fact about it that is not in the policies. */
static void print_peer_node_text(const struct compiled *cp, const struct flow_end *subj,
				 const struct flow_end *peer, const struct dir_verdict *v)
{
	char addr[64], who[600] = "";

	if (v->reason == VERDICT_NOT_CHECKED ||
	    (v->peer_kind != ADDR_HOST && v->peer_kind != ADDR_REMOTE_NODE))
		return;
	addr_format(&peer->addr, addr, sizeof(addr));
	if (peer->pod && peer->pod->host_network)
		snprintf(who, sizeof(who), " (hostNetwork pod %s/%s)", peer->pod->ns,
			 peer->pod->name);
	if (v->peer_kind == ADDR_HOST) {
		printf("    %s%s is an address of %s, the node %s/%s runs on: the host\n", addr,
		       who, node_phrase(cp, v->peer_node), subj->pod->ns, subj->pod->name);
		return;
	}
	printf("    %s%s is an address of %s, a remote node (%s/%s runs on %s): not the host, "
	       "an address like any other, which only an ipBlock admits\n",
	       addr, who, node_phrase(cp, v->peer_node), subj->pod->ns, subj->pod->name,
	       node_phrase(cp, v->node));
}

/* Text mode: one sentence per direction, for people. JSON carries the same
 * facts as fields (print_dir). */
static void print_dir_text(const struct compiled *cp, enum np_dir dir, const struct flow_end *subj,
			   const struct flow_end *peer, const struct dir_verdict *v)
{
	const struct np_cluster *c = cp->cluster;
	const char *what = dir == NP_EGRESS ? "egress " : "ingress";
	char name[600], pol[600];
	struct addr_info self;

	if (subj->pod)
		snprintf(name, sizeof(name), "%s/%s", subj->pod->ns, subj->pod->name);
	else
		addr_format(&subj->addr, name, sizeof(name));
	switch (v->reason) {
	case VERDICT_NOT_CHECKED:
		compiled_addr_lookup(cp, &subj->addr, 0, &self);
		if (subj->pod)
			printf("  %s %s: not enforced (hostNetwork pod)\n", what, name);
		else if (self.kind == ADDR_HOST || self.kind == ADDR_REMOTE_NODE)
			printf("  %s %s: not enforced (an address of %s)\n", what, name,
			       node_phrase(cp, self.node));
		else
			printf("  %s %s: not enforced (outside the cluster)\n", what, name);
		break;
	case VERDICT_UNISOLATED:
		printf("  %s %s: allowed, not isolated (no policy selects it for %s)\n", what, name,
		       dir == NP_EGRESS ? "Egress" : "Ingress");
		break;
	case VERDICT_RULE:
		policy_label(c, v->by.policy, pol, sizeof(pol));
		if (v->by.policy == NPBPF_POLICY_HOST)
			printf("  %s %s: allowed, %s\n", what, name, pol);
		else
			printf("  %s %s: allowed by %s %s rule %u\n", what, name, pol,
			       dir == NP_EGRESS ? "egress" : "ingress", v->by.rule);
		break;
	case VERDICT_NO_RULE:
		printf("  %s %s: denied, isolated by", what, name);
		for (size_t p = 0, n = 0; p < c->n_policies; p++) {
			const struct np_policy *pl = &c->policies[p];

			if (pl->types[dir] && !strcmp(pl->ns, subj->pod->ns) &&
			    selector_matches(&pl->pod_sel, &subj->pod->labels)) {
				policy_label(c, (uint32_t)p, pol, sizeof(pol));
				printf("%s %s", n++ ? "," : "", pol);
			}
		}
		printf(" and no rule allows it\n");
		break;
	}
	print_peer_node_text(cp, subj, peer, v);
}

static int explain_flow(const struct compiled *cp, const struct explain_args *a)
{
	struct flow_end from, to;
	struct matrix_port mp;
	bool from_addr, to_addr;
	struct flow_verdict v;
	char buf[600];
	struct out o;
	int err;

	if (matrix_parse_ports_one(a->port, &mp)) {
		log_error("explain: bad --port '%s' (want e.g. 80, 53/UDP)", a->port);
		return -EINVAL;
	}
	err = resolve_end(cp, a->from, &from, &from_addr);
	if (!err)
		err = resolve_end(cp, a->to, &to, &to_addr);
	if (!err)
		err = pick_family(&from, from_addr, &to, to_addr, a->families, a->from, a->to);
	if (err)
		return err;
	verdict_flow(cp, &from, &to, mp.proto, mp.port, &v);
	if (!a->json) {
		char fa[64], ta[64];

		printf("%s: %s (%s) -> %s (%s) %u/%s\n", v.allowed ? "ALLOW" : "DENY", a->from,
		       addr_format(&from.addr, fa, sizeof(fa)), a->to,
		       addr_format(&to.addr, ta, sizeof(ta)), mp.port, proto_name(mp.proto));
		if (v.self)
			printf("  a pod reaching itself: the traffic never leaves the pod\n");
		print_dir_text(cp, NP_EGRESS, &from, &to, &v.dir[NP_EGRESS]);
		print_dir_text(cp, NP_INGRESS, &to, &from, &v.dir[NP_INGRESS]);
		return v.allowed ? EXIT_OK : EXIT_FAIL;
	}

	out_init(&o, stdout, a->json);
	out_obj_begin(&o, NULL);
	out_str(&o, "verdict", v.allowed ? "allow" : "deny");
	out_str(&o, "from", a->from);
	out_str(&o, "to", a->to);
	out_str(&o, "from_address", addr_format(&from.addr, buf, sizeof(buf)));
	out_str(&o, "to_address", addr_format(&to.addr, buf, sizeof(buf)));
	out_uint(&o, "port", mp.port);
	out_str(&o, "protocol", proto_name(mp.proto));
	out_uint(&o, "family", from.addr.family);
	out_bool(&o, "self", v.self);
	print_dir(&o, cp, NP_EGRESS, &from, &v.dir[NP_EGRESS]);
	print_dir(&o, cp, NP_INGRESS, &to, &v.dir[NP_INGRESS]);
	out_obj_end(&o);
	out_finish(&o);
	return v.allowed ? EXIT_OK : EXIT_FAIL;
}

static int explain_matrix(const struct compiled *cp, const struct explain_args *a)
{
	struct matrix m;
	int err;

	err = matrix_init(&m, cp->cluster, a->n_ports ? a->ports : NULL, a->n_ports,
			  a->externals, a->n_externals, a->families);
	if (err) {
		log_error("explain: building the matrix: %s", strerror(-err));
		return err;
	}
	matrix_fill_verdicts(&m, cp);
	if (a->json)
		matrix_print_json(stdout, &m);
	else
		matrix_print_text(stdout, &m);
	matrix_free(&m);
	return EXIT_OK;
}

int cmd_explain(int argc, char **argv)
{
	struct explain_args a = { 0 };
	struct np_cluster c;
	struct compiled cp = { 0 };
	struct compile_opts copts = { 0 };
	int ret = EXIT_USAGE, err;

	cluster_init(&c);
	if (parse_args(argc, argv, &a))
		goto out;
	err = manifest_load(&c, a.paths, a.n_paths);
	if (err) {
		if (err != -EINVAL)
			log_error("explain: reading manifests: %s", strerror(-err));
		goto out;
	}
	if (check_unnamed_node_ips(&c, &a))
		goto out;
	/* Every pod on its own node: this node is the unnamed one, and each
	 * side of a flow is judged on its pod's node (verdict_flow). */
	copts.per_node = true;
	copts.enforce_host = a.enforce_host;
	copts.node_addrs = a.node_addrs;
	copts.n_node_addrs = a.n_node_addrs;
	copts.node_ips = a.node_ips;
	copts.n_node_ips = a.n_node_ips;
	err = compile_cluster(&c, &copts, &cp);
	if (err) {
		log_error("explain: compiling policies: %s", strerror(-err));
		ret = EXIT_FAIL;
		goto out;
	}
	if (a.matrix)
		ret = explain_matrix(&cp, &a) < 0 ? EXIT_FAIL : EXIT_OK;
	else
		ret = explain_flow(&cp, &a);
	if (ret < 0)
		ret = ret == -ENOMEM ? EXIT_FAIL : EXIT_USAGE;
out:
	compiled_free(&cp);
	cluster_free(&c);
	free(a.paths);
	free(a.ports);
	free(a.externals);
	free(a.node_addrs);
	free(a.node_ips);
	return ret;
}
