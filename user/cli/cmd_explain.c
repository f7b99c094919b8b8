/* SPDX-License-Identifier: Apache-2.0 */
/* npbpf explain: offline verdicts from the compiled tables. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "commands.h"
#include "compile.h"
#include "json_out.h"
#include "log.h"
#include "manifest.h"
#include "matrix.h"
#include "options.h"
#include "selector.h"
#include "vec.h"
#include "verdict.h"

struct explain_args {
	struct opt_files files;
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

enum {
	OPT_FROM = CLI_OPT_LONG,
	OPT_TO,
	OPT_PORT,
	OPT_MATRIX,
	OPT_PORTS,
	OPT_EXTERNAL,
	OPT_FAMILY,
	OPT_NODE_IP,
	OPT_ENFORCE_HOST,
};

const struct cli_opt explain_opts[] = {
	{ "file", 'f', "PATH", "manifest file or directory (repeatable; '-' = stdin)" },
	{ "namespace", 'n', "NS", "namespace of objects that name none (as kubectl apply -n)" },
	{ "recursive", 'R', NULL, "read the subdirectories of -f directories too" },
	{ "from", OPT_FROM, "X", "NS/POD, or an address (a pod's address means that pod)" },
	{ "to", OPT_TO, "Y", "NS/POD, or an address, as --from" },
	{ "port", OPT_PORT, "PORT[/PROTO]", "destination port; protocol TCP (default), UDP, SCTP" },
	{ "matrix", OPT_MATRIX, NULL, "every ordered pair of non-hostNetwork pods" },
	{ "ports", OPT_PORTS, "LIST",
	  "matrix ports (default: each pod's declared containerPorts)" },
	{ "external", OPT_EXTERNAL, "ADDR",
	  "add an address outside the cluster to the matrix (repeatable)" },
	{ "family", OPT_FAMILY, "4|6|both", "address family (default 4)" },
	{ "node-ip", OPT_NODE_IP, "[NODE=]ADDR",
	  "an address of node NODE (repeatable): the host for\n"
	  "pods on NODE (spec.nodeName), any address for others;\n"
	  "without NODE=, the unnamed node's: that of pods without\n"
	  "spec.nodeName, or the only node the pods name" },
	{ "enforce-host", OPT_ENFORCE_HOST, NULL,
	  "do not allow a node's own traffic to its isolated pods" },
	{ "output", 'o', "text|json", "output format (default text)" },
	{ 0 },
};

/* --node-ip [NODE=]ADDR. An address has no '=', so the first one ends NODE. */
static int push_node_ip(struct explain_args *a, char *text)
{
	char *eq = strchr(text, '=');
	struct compile_node_ip *ip;

	if (!eq)
		return opt_addr("node-ip", text, &a->node_addrs, &a->n_node_addrs,
				&a->cap_node_addrs);
	ip = VEC_PUSH(a->node_ips, a->n_node_ips, a->cap_node_ips);
	if (!ip)
		return -ENOMEM;
	if (eq == text) {
		log_usage("--node-ip '%s': empty node name (want [NODE=]ADDR)", text);
		return -EINVAL;
	}
	if (addr_parse(eq + 1, false, &ip->addr)) {
		log_usage("--node-ip '%s': '%s' is not an IP address", text, eq + 1);
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
	log_error("--node-ip %s: the pods run on several nodes (%s, %s, ...); say whose "
		  "address it is: --node-ip NODE=%s",
		  addr_format(&a->node_addrs[0], buf, sizeof(buf)), first, second, buf);
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct explain_args *a)
{
	struct cli_parser p;
	int c, err = 0;

	a->families = MATRIX_V4;
	cli_parser_init(&p, explain_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1) {
		if (opt_files_case(c, optarg, &a->files, &err))
			continue;
		switch (c) {
		case OPT_FROM:
			a->from = optarg;
			break;
		case OPT_TO:
			a->to = optarg;
			break;
		case OPT_PORT:
			a->port = optarg; /* checked for a single flow only, as --from */
			break;
		case OPT_MATRIX:
			a->matrix = true;
			break;
		case OPT_PORTS:
			err = opt_ports(optarg, &a->ports, &a->n_ports);
			break;
		case OPT_EXTERNAL:
			err = opt_addr("external", optarg, &a->externals,
				       &a->n_externals, &a->cap_externals);
			break;
		case OPT_NODE_IP:
			err = push_node_ip(a, optarg);
			break;
		case OPT_FAMILY:
			err = opt_family(optarg, &a->families);
			break;
		case OPT_ENFORCE_HOST:
			a->enforce_host = true;
			break;
		case 'o':
			err = opt_output(optarg, &a->json);
			break;
		default:
			err = -EINVAL;
		}
	}
	if (!err)
		err = cli_no_operands(&p, argc, argv);
	if (!err)
		err = opt_files_given(&a->files);
	if (err)
		return err;
	if (!a->matrix && (!a->from || !a->to || !a->port)) {
		log_usage("need --from, --to and --port, or --matrix");
		return -EINVAL;
	}
	if (a->matrix && (a->from || a->to || a->port)) {
		log_usage("--matrix judges every pair: --from, --to and --port are for one flow");
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
			log_error("no pod '%s'", text);
			return -ENOENT;
		}
		memcpy(ns, text, len);
		ns[len] = '\0';
		end->pod = cluster_find_pod(c, ns, slash + 1);
		if (!end->pod) {
			log_error("no pod '%s' in the manifests", text);
			return -ENOENT;
		}
		return 0;
	}
	if (addr_parse(text, false, &end->addr)) {
		log_usage("'%s' is neither NS/POD nor an IP address", text);
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

/* A flow needs both ends' addresses, and explain does not make one up (the
 * lab does, from its own range, for the pods it runs): a hand-written pod
 * without status is an error that says how to give it an address. */
static int no_addr(const struct np_pod *pod, const char *name, int family)
{
	if (!pod->n_addrs)
		log_error("pod %s has no address: its manifest has no status.podIP; give it one "
			  "(status: {podIP: ADDR}, as the API server reports it)",
			  name);
	else
		log_error("pod %s has no IPv%d address: add one to its status.podIPs, or choose "
			  "the other --family",
			  name, family);
	return -EINVAL;
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
		log_error("%s and %s are of different address families", fs, ts);
		return -EINVAL;
	}
	if (!from_addr && !pod_addr(from->pod, family, &from->addr))
		return no_addr(from->pod, fs, family);
	if (!to_addr && !pod_addr(to->pod, family, &to->addr))
		return no_addr(to->pod, ts, family);
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

/* A node's name, or what the unnamed one is. */
static const char *node_phrase(const struct compiled *cp, uint32_t node)
{
	if (node < cp->idn.n_nodes && cp->idn.nodes[node])
		return cp->idn.nodes[node];
	return "the unnamed node"; /* of pods without spec.nodeName; see --help */
}

/* Why a node's address is or is not the host of the pod judged: the one
 * fact about it that is not in the policies (JSON: peer_kind, peer_node). */
static void print_peer_node_text(struct out *o, const struct compiled *cp,
				 const struct flow_end *subj, const struct flow_end *peer,
				 const struct dir_verdict *v)
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
		out_text(o, "    %s%s is an address of %s, the node %s/%s runs on: the host\n",
			 addr, who, node_phrase(cp, v->peer_node), subj->pod->ns, subj->pod->name);
		return;
	}
	out_text(o,
		 "    %s%s is an address of %s, a remote node (%s/%s runs on %s): not the host, "
		 "an address like any other, which only an ipBlock admits\n",
		 addr, who, node_phrase(cp, v->peer_node), subj->pod->ns, subj->pod->name,
		 node_phrase(cp, v->node));
}

/* Why nothing enforced this side: text only, JSON says reason
 * "not-enforced" and the peer's kind. */
static void print_not_enforced_text(struct out *o, const struct compiled *cp,
				    const struct flow_end *subj)
{
	struct addr_info self;

	if (subj->pod) {
		out_text(o, "not enforced (hostNetwork pod)\n");
		return;
	}
	compiled_addr_lookup(cp, &subj->addr, 0, &self);
	if (self.kind == ADDR_HOST || self.kind == ADDR_REMOTE_NODE)
		out_text(o, "not enforced (an address of %s)\n", node_phrase(cp, self.node));
	else
		out_text(o, "not enforced (outside the cluster)\n");
}

/* One direction: in text one sentence for people ("  egress  x/a: allowed
 * by x/p egress rule 0"), in JSON an object with the same facts as fields. */
static void print_dir(struct out *o, const struct compiled *cp, enum np_dir dir,
		      const struct flow_end *subj, const struct flow_end *peer,
		      const struct dir_verdict *v)
{
	const struct np_cluster *c = cp->cluster;
	bool egress = dir == NP_EGRESS;
	char buf[600];

	out_json_obj_begin(o, egress ? "egress" : "ingress");
	out_text(o, "  %s ", egress ? "egress " : "ingress");
	if (subj->pod)
		snprintf(buf, sizeof(buf), "%s/%s", subj->pod->ns, subj->pod->name);
	else
		addr_format(&subj->addr, buf, sizeof(buf));
	out_print_str(o, "subject", "%s: ", buf);
	out_json_bool(o, "allowed", v->allowed);
	out_json_str(o, "reason", reason_name(v->reason));
	out_json_uint(o, "subject_identity", v->subject);
	out_json_uint(o, "peer_identity", v->peer);
	/* Which node judged, and what the far end is there: a node address is
	 * "host" only on its own node, "remote-node" (any address) elsewhere. */
	if (subj->pod && cp->idn.nodes[v->node])
		out_json_str(o, "node", cp->idn.nodes[v->node]);
	out_json_str(o, "peer_kind", addr_kind_name(v->peer_kind));
	if ((v->peer_kind == ADDR_HOST || v->peer_kind == ADDR_REMOTE_NODE) &&
	    cp->idn.nodes[v->peer_node])
		out_json_str(o, "peer_node", cp->idn.nodes[v->peer_node]);
	out_json_bool(o, "isolated", v->reason == VERDICT_RULE || v->reason == VERDICT_NO_RULE);
	switch (v->reason) {
	case VERDICT_NOT_CHECKED:
		print_not_enforced_text(o, cp, subj);
		break;
	case VERDICT_UNISOLATED:
		out_text(o, "allowed, not isolated (no policy selects it for %s)\n",
			 egress ? "Egress" : "Ingress");
		break;
	case VERDICT_RULE:
		policy_label(c, v->by.policy, buf, sizeof(buf));
		if (v->by.policy == NPBPF_POLICY_HOST) {
			out_print_str(o, "policy", "allowed, %s\n", buf);
			out_json_uint(o, "rule", v->by.rule);
		} else {
			out_print_str(o, "policy", "allowed by %s ", buf);
			out_print_uint(o, "rule",
				       egress ? "egress rule %llu\n" : "ingress rule %llu\n",
				       v->by.rule);
		}
		break;
	case VERDICT_NO_RULE:
		out_text(o, "denied, isolated by");
		out_json_arr_begin(o, "isolated_by");
		for (uint32_t i = 0; i < v->n_isolated_by; i++) {
			policy_label(c, v->isolated_by[i], buf, sizeof(buf));
			out_text(o, "%s", i ? "," : "");
			out_print_str(o, NULL, " %s", buf);
		}
		out_json_arr_end(o);
		out_text(o, " and no rule allows it\n");
		break;
	}
	print_peer_node_text(o, cp, subj, peer, v);
	out_json_obj_end(o);
}

/* "namespace/name" of a pod into buf. */
static const char *pod_label(const struct np_pod *pod, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pod->ns, pod->name);
	return buf;
}

static int explain_flow(const struct compiled *cp, const struct explain_args *a)
{
	struct flow_end from, to;
	struct matrix_port mp;
	bool from_addr, to_addr;
	struct flow_verdict v;
	char fa[64], ta[64], fl[512], tl[512];
	struct out o;
	int err;

	if (opt_port(a->port, &mp))
		return -EINVAL;
	err = resolve_end(cp, a->from, &from, &from_addr);
	if (!err)
		err = resolve_end(cp, a->to, &to, &to_addr);
	if (!err)
		err = pick_family(&from, from_addr, &to, to_addr, a->families, a->from, a->to);
	if (err)
		return err;
	verdict_flow(cp, &from, &to, mp.proto, mp.port, &v);
	addr_format(&from.addr, fa, sizeof(fa));
	addr_format(&to.addr, ta, sizeof(ta));

	/* Text: "ALLOW: FROM (ADDR) -> TO (ADDR) PORT/PROTO", then a sentence
	 * per direction. JSON: the same facts, "to" before the addresses. */
	out_init(&o, stdout, a->json);
	out_json_obj_begin(&o, NULL);
	out_json_str(&o, "verdict", v.allowed ? "allow" : "deny");
	out_text(&o, "%s: ", v.allowed ? "ALLOW" : "DENY");
	/* An address that is a pod's is named as the pod in text; JSON keeps
	 * what was asked and adds the pod. */
	out_json_str(&o, "from", a->from);
	out_text(&o, "%s ", from_addr && from.pod ? pod_label(from.pod, fl, sizeof(fl)) : a->from);
	out_json_str(&o, "to", a->to);
	if (from_addr && from.pod)
		out_json_str(&o, "from_pod", fl);
	if (to_addr && to.pod)
		out_json_str(&o, "to_pod", pod_label(to.pod, tl, sizeof(tl)));
	out_print_str(&o, "from_address", "(%s) -> ", fa);
	out_text(&o, "%s ", to_addr && to.pod ? pod_label(to.pod, tl, sizeof(tl)) : a->to);
	out_print_str(&o, "to_address", "(%s) ", ta);
	out_print_uint(&o, "port", "%llu/", mp.port);
	out_print_str(&o, "protocol", "%s\n", proto_name(mp.proto));
	out_json_uint(&o, "family", from.addr.family);
	out_json_bool(&o, "self", v.self);
	if (v.self)
		out_text(&o, "  a pod reaching itself: the traffic never leaves the pod\n");
	print_dir(&o, cp, NP_EGRESS, &from, &to, &v.dir[NP_EGRESS]);
	print_dir(&o, cp, NP_INGRESS, &to, &from, &v.dir[NP_INGRESS]);
	out_json_obj_end(&o);
	out_finish(&o);
	return v.allowed ? EXIT_OK : EXIT_FAIL;
}

/* A matrix with no rows or no ports says why instead of printing nothing:
 * the usual causes are inputs without pods and pods without containerPorts. */
static int explain_matrix(const struct compiled *cp, const struct explain_args *a)
{
	struct matrix m;
	int err;

	/* Streamed: each cell is judged as it is printed, so a big cluster
	 * costs time, not pods x pods x ports bytes. */
	err = matrix_init_streamed(&m, cp, a->n_ports ? a->ports : NULL, a->n_ports,
				   a->externals, a->n_externals, a->families);
	if (err) {
		log_error("building the matrix: %s", strerror(-err));
		return err;
	}
	matrix_say_why_empty(&m, cp->cluster, a->families);
	if (a->json)
		matrix_print_json(stdout, &m);
	else
		matrix_print_text(stdout, &m);
	matrix_free(&m);
	return EXIT_OK;
}

int cmd_explain(const struct command *self, int argc, char **argv)
{
	struct explain_args a = { 0 };
	struct np_cluster c;
	struct compiled cp = { 0 };
	struct compile_opts copts = { 0 };
	int ret = EXIT_USAGE, err;

	cluster_init(&c);
	err = parse_args(argc, argv, &a);
	if (err) {
		if (err == -ENOMEM)
			log_error("reading the arguments: %s", strerror(-err));
		ret = exit_status_input(err);
		goto out;
	}
	err = manifest_load_opts(&c, a.files.paths, a.files.n,
				 &(struct manifest_opts){ a.files.ns, a.files.recursive });
	if (err) {
		if (err != -EINVAL)
			log_error("reading manifests: %s", strerror(-err));
		ret = exit_status_input(err);
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
		log_error("compiling policies: %s", strerror(-err));
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
	opt_files_free(&a.files);
	free(a.ports);
	free(a.externals);
	free(a.node_addrs);
	free(a.node_ips);
	return ret;
}
