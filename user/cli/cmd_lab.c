/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf lab: the manifests' pods as network namespaces on this kernel, the
 * real datapath on their veths, and a connectivity matrix from real probes,
 * printed exactly as `explain --matrix` prints the engine's. The steps and
 * where each lives:
 *   addresses and the safety check ... lab_addr.c
 *   what was created (for teardown) .. lab_state.c
 *   namespaces, veths, bridge/routes . lab_net.c (iproute2 via lab_ip.c)
 *   programs and maps ................ lab_datapath.c (loader + map sync)
 *   listeners and probes ............. lab_worker.c, lab_listen.c, lab_probe.c
 *   comparing matrices ............... lab_expect.c
 *   cluster mode (--kubeconfig) ...... lab_cluster.c (list, local pods, kept
 *                                      settings), lab_agent.c (the agent
 *                                      that enforces instead of the lab)
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commands.h"
#include "compile.h"
#include "lab_addr.h"
#include "lab_agent.h"
#include "lab_cluster.h"
#include "lab_cni.h"
#include "lab_datapath.h"
#include "lab_expect.h"
#include "lab_ip.h"
#include "lab_net.h"
#include "lab_plan.h"
#include "lab_probe.h"
#include "lab_report.h"
#include "lab_signal.h"
#include "lab_state.h"
#include "lab_worker.h"
#include "log.h"
#include "manifest.h"
#include "matrix.h"
#include "options.h"
#include "vec.h"

#define DEFAULT_TIMEOUT_MS 1000
#define MIN_TIMEOUT_MS 50
#define MAX_TIMEOUT_MS 60000
#define STR_(x) #x
#define STR(x) STR_(x)

struct lab_args {
	struct opt_files files;
	struct matrix_port *ports;
	size_t n_ports;
	struct np_addr *externals;
	size_t n_externals, cap_externals;
	const char *expect;
	const char *kubeconfig, *node; /* cluster mode */
	const char *cni_chain;         /* --cni-chain (NULL: auto) */
	int families;
	enum lab_mode mode;
	int timeout_ms;
	bool json, keep, status, enforce_host, xdp, cni;
	int cni_given; /* 1 --cni, -1 --no-cni, 0 neither */
};

enum {
	OPT_PORTS = CLI_OPT_LONG,
	OPT_EXPECT,
	OPT_EXTERNAL,
	OPT_FAMILY,
	OPT_MODE,
	OPT_KEEP,
	OPT_TIMEOUT,
	OPT_DOWN,
	OPT_STATUS,
	OPT_ENFORCE_HOST,
	OPT_XDP,
	OPT_KUBECONFIG,
	OPT_NODE,
	OPT_CNI,
	OPT_NO_CNI,
	OPT_CNI_CHAIN,
};

const struct cli_opt lab_opts[] = {
	{ "file", 'f', "PATH", "manifest file or directory (repeatable; '-' = stdin)" },
	{ "namespace", 'n', "NS", "namespace of objects that name none (as kubectl apply -n)" },
	{ "recursive", 'R', NULL, "read the subdirectories of -f directories too" },
	{ "kubeconfig", OPT_KUBECONFIG, "FILE",
	  "cluster mode, instead of -f: pods, namespaces and policies from\n"
	  "this API server, enforced by an 'npbpf agent' the lab runs" },
	{ "node", OPT_NODE, "NAME",
	  "cluster mode: the node whose pods get namespaces (required\n"
	  "with --kubeconfig; other nodes' pods are only addresses)" },
	{ "ports", OPT_PORTS, "LIST",
	  "probe these ports on every pod (default: each pod's\n"
	  "declared containerPorts, probed where declared)" },
	{ "expect", OPT_EXPECT, "FILE",
	  "compare with an expected matrix: explain's text or JSON,\n"
	  "or the tab-separated layout (README.md)" },
	{ "external", OPT_EXTERNAL, "ADDR",
	  "a host outside the cluster, behind the node (repeatable)" },
	{ "family", OPT_FAMILY, "4|6|both", "address family (default 4)" },
	{ "mode", OPT_MODE, "bridge|routed",
	  "pod wiring: a cni0 bridge (flannel, default) or /32\nroutes per pod (Calico)" },
	{ "cni", OPT_CNI, NULL,
	  "wire pods with the real CNI plugins, as a flannel node: bridge\n"
	  "(cni0) and host-local from " LAB_CNI_BIN_DIR ", then npbpf-cni (the\n"
	  "default in bridge mode)" },
	{ "no-cni", OPT_NO_CNI, NULL,
	  "bridge mode: the lab's own cni0 and veths instead of the plugins" },
	{ "cni-chain", OPT_CNI_CHAIN, "LIST",
	  "with --cni: plugin types after bridge, comma-separated (default\n"
	  "auto: npbpf-cni when it is built; '' for bridge alone)" },
	{ "timeout-ms", OPT_TIMEOUT, "N",
	  "how long a probe waits (default " STR(DEFAULT_TIMEOUT_MS) ", " STR(MIN_TIMEOUT_MS)
	  " to " STR(MAX_TIMEOUT_MS) ")" },
	{ "enforce-host", OPT_ENFORCE_HOST, NULL,
	  "do not allow the node's own traffic to isolated pods" },
	{ "xdp", OPT_XDP, NULL, "also attach the XDP variant of from-pod (in front of TC)" },
	{ "keep", OPT_KEEP, NULL, "leave the lab running and print where each pod lives" },
	{ "status", OPT_STATUS, NULL, "print 'npbpf status' of the lab's maps before teardown" },
	{ "down", OPT_DOWN, NULL, "'npbpf lab down': remove kept labs (IDs may follow)" },
	{ "output", 'o', "text|json", "output format (default text)" },
	{ 0 },
};

const struct cli_opt lab_down_opts[] = {
	{ "output", 'o', "text|json", "output format (default text)" },
	{ 0 },
};

const struct cli_opt lab_probe_opts[] = {
	{ "expect", OPT_EXPECT, "FILE", "compare with an expected matrix (as lab --expect)" },
	{ "timeout-ms", OPT_TIMEOUT, "N",
	  "how long a probe waits (default: the lab's own, " STR(MIN_TIMEOUT_MS) " to "
	  STR(MAX_TIMEOUT_MS) ")" },
	{ "output", 'o', "text|json", "output format (default text)" },
	{ 0 },
};

static int check_cluster_args(const struct lab_args *a)
{
	if (!a->kubeconfig) {
		log_usage("--node goes with --kubeconfig (cluster mode)");
		return -EINVAL;
	}
	if (!a->node || !*a->node) {
		log_usage("--kubeconfig needs --node NAME: the node whose pods get namespaces");
		return -EINVAL;
	}
	if (a->files.n || a->files.ns || a->files.recursive) {
		log_usage("-f, -n and -R read manifests, --kubeconfig reads an API server: give "
			  "one or the other");
		return -EINVAL;
	}
	if (a->n_externals) {
		log_usage("--external is not available with --kubeconfig");
		return -EINVAL;
	}
	return 0;
}

static int check_args(const struct lab_args *a)
{
	int err = a->kubeconfig || a->node ? check_cluster_args(a) : opt_files_given(&a->files);

	if (!err && a->cni_given > 0 && a->mode == LAB_MODE_ROUTED) {
		log_usage("--cni wires pods with the bridge plugin (cni0): it does not go with "
			  "--mode routed");
		err = -EINVAL;
	}
	if (!err && a->cni_chain && !a->cni) {
		log_usage("--cni-chain goes with --cni");
		err = -EINVAL;
	}
	if (!err && a->status && a->json) {
		log_usage("--status prints text; with -o json use --keep, then "
			  "'npbpf status -o json' in the node namespace");
		err = -EINVAL;
	}
	return err;
}

static int parse_args(int argc, char **argv, struct lab_args *a)
{
	struct cli_parser p;
	uint64_t v = 0;
	int c, err = 0;

	a->families = MATRIX_V4;
	a->mode = LAB_MODE_BRIDGE;
	a->timeout_ms = DEFAULT_TIMEOUT_MS;
	cli_parser_init(&p, lab_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1) {
		if (opt_files_case(c, optarg, &a->files, &err))
			continue;
		switch (c) {
		case OPT_PORTS:
			err = opt_ports(optarg, &a->ports, &a->n_ports);
			break;
		case OPT_EXPECT:
			a->expect = optarg;
			break;
		case OPT_EXTERNAL:
			err = opt_addr("external", optarg, &a->externals, &a->n_externals,
				       &a->cap_externals);
			break;
		case OPT_FAMILY:
			err = opt_family(optarg, &a->families);
			break;
		case OPT_MODE:
			if (lab_mode_parse(optarg, &a->mode)) {
				log_usage("--mode takes bridge or routed, not '%s'", optarg);
				err = -EINVAL;
			}
			break;
		case OPT_KEEP:
			a->keep = true;
			break;
		case OPT_TIMEOUT:
			err = opt_number("timeout-ms", optarg, MIN_TIMEOUT_MS,
					 MAX_TIMEOUT_MS, &v);
			a->timeout_ms = (int)v;
			break;
		case OPT_STATUS:
			a->status = true;
			break;
		case OPT_ENFORCE_HOST:
			a->enforce_host = true;
			break;
		case OPT_XDP:
			a->xdp = true;
			break;
		case OPT_KUBECONFIG:
			a->kubeconfig = optarg;
			break;
		case OPT_NODE:
			a->node = optarg;
			break;
		case OPT_CNI:
			a->cni_given = 1;
			break;
		case OPT_NO_CNI:
			a->cni_given = -1;
			break;
		case OPT_CNI_CHAIN:
			a->cni_chain = optarg;
			break;
		case 'o':
			err = opt_output(optarg, &a->json);
			break;
		default: /* --down never comes here: command.c makes it 'lab down' */
			err = -EINVAL;
		}
	}
	if (!err)
		err = cli_no_operands(&p, argc, argv);
	/* The CNI plugins by default, in bridge mode (routed has no plugin),
	 * where they are installed. */
	a->cni = a->cni_given > 0 || (!a->cni_given && a->mode == LAB_MODE_BRIDGE);
	if (a->cni && !a->cni_given &&
	    (access(LAB_CNI_BIN_DIR "/bridge", X_OK) || access(LAB_CNI_BIN_DIR "/host-local", X_OK))) {
		log_warn("no CNI plugins in %s (apt-get install containernetworking-plugins): "
			 "the lab wires pods itself (--no-cni)",
			 LAB_CNI_BIN_DIR);
		a->cni = false;
	}
	return err ? err : check_args(a);
}

/* Progress for people watching; scripts see it with -v. */
static void lab_log_level(void)
{
	if (isatty(STDERR_FILENO) && log_get_level() < LOG_INFO)
		log_set_level(LOG_INFO);
}

/* ---- lab down [ID...] (and lab --down [ID...]) */

int cmd_lab_down(const struct command *self, int argc, char **argv)
{
	struct lab_down_result *r = NULL;
	struct cli_parser p;
	bool json = false;
	size_t n = 0;
	int c, err = 0, ret;

	cli_parser_init(&p, lab_down_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1)
		err = c == 'o' ? opt_output(optarg, &json) : -EINVAL;
	if (err)
		return EXIT_USAGE;
	lab_log_level();
	lab_signal_install();
	/* The operands are the ids: all of them when none is given. */
	err = lab_state_down(argv + optind, (size_t)(argc - optind), &r, &n);
	ret = lab_report_down(stdout, json, r, n);
	free(r);
	if (err && ret == EXIT_OK) {
		log_error("reading %s: %s", LAB_STATE_DIR, strerror(-err));
		ret = EXIT_FAIL;
	}
	return ret;
}

/* ---- A run. */

struct lab_run {
	struct lab_args a;
	struct np_cluster c;
	struct compiled cp;
	struct np_addr node[2];
	struct lab_state st;
	struct lab_net net;
	struct matrix m, engine;
	struct lab_expect expect;
	struct loader *loader;
	struct lab_workers ws;
	char pin_dir[256];
	int64_t t_start, t_probe, t_done;
	uint32_t refused;
	bool have_state, have_matrix, kept;
	/* Cluster mode. */
	struct kube_list_info info;
	struct lab_cluster_cfg cfg;
	pid_t agent_pid;
	char agent_state[300], agent_log[300], cfg_path[300];
	char cni_socket[300];
	bool agent_started, bad_input;
	char kubeconfig[PATH_MAX];
};

static bool has_sctp(const struct matrix *m)
{
	for (size_t p = 0; p < m->n_ports; p++) {
		if (m->ports[p].proto == IPPROTO_SCTP)
			return true;
	}
	return false;
}

static int check_sctp(const struct matrix *m)
{
	int fd;

	if (!has_sctp(m))
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_SCTP);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	log_error("SCTP ports need the kernel's sctp module (%s); leave them out with --ports",
		  strerror(errno));
	return -EPROTONOSUPPORT;
}

static int matrices(struct lab_run *r, const struct compile_opts *copts);
static int file_matrices(struct lab_run *r);

/* The model, its addresses, the compile, both matrices and the expected
 * one. Input errors (unreadable input included) are -EINVAL: exit 2. */
static int prepare(struct lab_run *r)
{
	const struct lab_args *a = &r->a;
	int err;

	err = manifest_load_opts(&r->c, a->files.paths, a->files.n,
				 &(struct manifest_opts){ a->files.ns, a->files.recursive });
	if (err) {
		if (err != -EINVAL)
			log_error("reading manifests: %s", strerror(-err));
		return err == -ENOMEM ? err : -EINVAL;
	}
	err = lab_addr_check(&r->c, a->externals, a->n_externals);
	/* --cni: pods without addresses get host-local's (cni_addresses),
	 * the node its own here. */
	if (!err)
		err = lab_addr_assign(&r->c, a->cni ? 0 : a->families, a->externals,
				      a->n_externals, r->node);
	if (err)
		return err == -ENOSPC ? -EINVAL : err;
	err = lab_net_plan(&r->net, a->mode, &r->c, r->node, a->externals, a->n_externals);
	if (!err && a->cni)
		err = lab_net_cni_plan(&r->net, &r->c, a->families, a->cni_chain);
	if (err || a->cni) {
		r->node[1] = r->net.node[1]; /* moved out of the pod CIDR */
		return err;
	}
	return file_matrices(r);
}

/* File mode's compile and matrices (--cni: once the pods have addresses). */
static int file_matrices(struct lab_run *r)
{
	struct compile_opts copts = { 0 };

	copts.enforce_host = r->a.enforce_host;
	copts.node_addrs = r->net.node_addrs;
	copts.n_node_addrs = r->net.n_node_addrs;
	return matrices(r, &copts);
}

/* --cni, file mode: the addresses host-local gave pods that had none go
 * into the model (as lab_addr_assign's would), checked like manifests'. */
static int cni_addresses(struct lab_run *r)
{
	int err = 0;

	for (size_t i = 0; !err && i < r->net.n_hosts; i++) {
		struct lab_host *h = &r->net.hosts[i];
		struct np_pod *pod;

		if (!h->pod || !h->cni_dynamic)
			continue;
		pod = &r->c.pods[h->pod - r->c.pods];
		for (size_t k = 0; !err && k < h->n_cni_addrs; k++) {
			struct np_addr *slot = VEC_PUSH(pod->addrs, pod->n_addrs, pod->cap_addrs);

			if (!slot)
				err = -ENOMEM;
			else
				*slot = h->cni_addrs[k];
		}
		h->addrs = pod->addrs;
		h->n_addrs = pod->n_addrs;
	}
	if (!err)
		err = lab_addr_check(&r->c, r->a.externals, r->a.n_externals);
	return err;
}

/* The compile, both matrices (in cluster mode only the pods with a
 * namespace: verdicts between them do not depend on the other nodes' pods)
 * and the expected one. */
static int matrices(struct lab_run *r, const struct compile_opts *copts)
{
	const struct lab_args *a = &r->a;
	const struct matrix_port *ports = a->n_ports ? a->ports : NULL;
	int err;

	err = compile_cluster(&r->c, copts, &r->cp);
	if (err) {
		log_error("compiling policies: %s", strerror(-err));
		return err;
	}
	err = matrix_init(&r->m, &r->c, ports, a->n_ports, a->externals, a->n_externals,
			  a->families);
	if (!err) {
		err = matrix_init(&r->engine, &r->c, ports, a->n_ports, a->externals,
				  a->n_externals, a->families);
		if (err)
			matrix_free(&r->m);
	}
	if (err) {
		log_error("building the matrix: %s", strerror(-err));
		return err;
	}
	r->have_matrix = true;
	if (a->kubeconfig) {
		err = lab_matrix_restrict(&r->m, &r->net);
		if (!err)
			err = lab_matrix_restrict(&r->engine, &r->net);
		if (err) {
			log_error("building the matrix: %s", strerror(-err));
			return err;
		}
	}
	matrix_say_why_empty(&r->m, &r->c, a->families);
	matrix_fill_verdicts(&r->engine, &r->cp);
	if (a->expect) {
		err = lab_expect_load(&r->expect, a->expect, &r->m);
		if (err)
			return err == -ENOMEM ? err : -EINVAL;
	}
	return check_sctp(&r->m);
}

/* Cluster mode's model: a list of the API server; node and pod
 * addresses from it (none made up); only this node's pods get namespaces;
 * the compile as the agent's (per node). */
static int list_and_plan(struct lab_run *r, const struct np_addr *node_addr)
{
	struct compile_opts copts = { 0 };
	const struct lab_args *a = &r->a;
	int err;

	err = lab_cluster_list(a->kubeconfig, &r->c, &r->info);
	if (err)
		return err == -EINVAL || err == -ENOMEM ? err : -EIO;
	err = lab_addr_check_node(&r->c, a->node);
	if (err)
		return err;
	if (node_addr) {
		char buf[64];

		r->node[0] = node_addr[0];
		r->node[1] = node_addr[1];
		for (size_t i = 0; i < r->c.n_pods; i++) {
			const struct np_pod *p = &r->c.pods[i];

			for (size_t k = 0; k < p->n_addrs; k++) {
				if (p->host_network || (addr_cmp(&p->addrs[k], &r->node[0]) &&
							addr_cmp(&p->addrs[k], &r->node[1])))
					continue;
				log_error("lab: pod %s/%s has the address %s, which the lab gave its "
					  "node; remove the lab and make a new one",
					  p->ns, p->name, addr_format(&p->addrs[k], buf, sizeof(buf)));
				return -EINVAL;
			}
		}
	} else {
		err = lab_addr_pick_node(&r->c, r->node);
		if (err)
			return err == -ENOSPC ? -EINVAL : err;
	}
	lab_cluster_note_pending(&r->c, a->node);
	err = lab_net_plan_node(&r->net, a->mode, &r->c, a->node, r->node);
	if (!err && a->cni)
		err = lab_net_cni_plan(&r->net, &r->c, a->families, a->cni_chain);
	if (err)
		return err;
	r->node[1] = r->net.node[1]; /* --cni may move it out of the pod CIDR */
	copts.enforce_host = a->enforce_host;
	copts.node_addrs = r->net.node_addrs;
	copts.n_node_addrs = r->net.n_node_addrs;
	copts.per_node = true;
	copts.node_name = a->node;
	return matrices(r, &copts);
}

static int prepare_cluster(struct lab_run *r)
{
	if (!realpath(r->a.kubeconfig, r->kubeconfig)) {
		log_error("--kubeconfig %s: %s", r->a.kubeconfig, strerror(errno));
		return -EINVAL;
	}
	r->a.kubeconfig = r->kubeconfig;
	return list_and_plan(r, NULL);
}

static int record_plan(struct lab_run *r)
{
	int err = 0;

	if (r->a.kubeconfig) {
		lab_agent_paths(r->st.id, r->agent_state, sizeof(r->agent_state), r->agent_log,
				sizeof(r->agent_log));
		lab_cluster_cfg_path(r->st.id, r->cfg_path, sizeof(r->cfg_path));
		err = lab_state_record(&r->st, "file %s", r->agent_state);
		if (!err)
			err = lab_state_record(&r->st, "file %s", r->agent_log);
		if (!err)
			err = lab_state_record(&r->st, "file %s", r->cfg_path);
	}
	if (!err)
		err = lab_state_record(&r->st, "netns %s", r->net.node_netns);
	if (!err && r->net.cni_conf) {
		char dir[256];

		lab_cni_dir(r->st.id, dir, sizeof(dir));
		lab_cni_agent_socket(r->st.id, r->cni_socket, sizeof(r->cni_socket));
		r->net.cni_conf->pin_dir = r->pin_dir;
		if (r->a.kubeconfig)
			r->net.cni_conf->agent_socket = r->cni_socket;
		else /* no agent: npbpf-cni leaves the pod isolated, the lab's sync binds */
			r->net.cni_conf->agent_socket = "/nonexistent/npbpf-lab-no-agent.sock";
		err = lab_state_record(&r->st, "cni %s %s", dir, r->net.node_netns);
	}
	for (size_t i = 0; !err && i < r->net.n_hosts; i++)
		err = lab_state_record(&r->st, "netns %s", r->net.hosts[i].netns);
	if (!err)
		err = lab_state_record(&r->st, "pin %s", r->pin_dir);
	return err;
}

static int record_agent(pid_t pid, void *arg)
{
	struct lab_run *r = arg;

	return lab_state_record(&r->st, "agent %d %s", (int)pid, r->pin_dir);
}

/* Cluster mode's agent, started (once): with --cni and npbpf-cni before the
 * pods' ADD (npbpf-cni announces each pod on the lab's socket and waits for
 * the agent to bind it), else once the veths exist. */
static int start_agent_early(struct lab_run *r)
{
	bool cni = r->net.cni_conf && lab_cni_conf_has_npbpf_cni(r->net.cni_conf);
	struct lab_agent_opts o = {
		.kubeconfig = r->a.kubeconfig,
		.node = r->a.node,
		.node_netns = r->net.node_netns,
		.pin_dir = r->pin_dir,
		.state_file = r->agent_state,
		.log_file = r->agent_log,
		.cni_socket = cni ? r->cni_socket : NULL,
		.bridged = r->a.mode == LAB_MODE_BRIDGE,
		.xdp = r->a.xdp,
		.enforce_host = r->a.enforce_host,
	};
	int err;

	if (r->agent_started)
		return 0;
	err = lab_agent_start(&o, record_agent, r, &r->agent_pid);
	r->agent_started = !err;
	return err;
}

/* Cluster mode's datapath: the agent, started once the node namespace and
 * the veths exist (or before, above), and waited for until it enforces
 * what the lab listed. */
static int start_agent(struct lab_run *r)
{
	int err = start_agent_early(r);

	if (!err)
		err = lab_agent_wait(r->agent_pid, r->agent_state, r->agent_log, &r->info,
				     LAB_AGENT_READY_MS);
	return err;
}

/* --cni: what the chain needs before the first ADD. npbpf-cni attaches
 * the pinned programs: the lab's own (file mode) or its agent's, which
 * binds each pod as npbpf-cni announces it (cluster mode). */
static int before_cni_add(void *arg)
{
	struct lab_run *r = arg;

	if (!lab_cni_conf_has_npbpf_cni(r->net.cni_conf))
		return 0;
	if (!r->a.kubeconfig)
		return lab_datapath_load(r->pin_dir, &r->net, &r->loader);
	return start_agent_early(r);
}

static double since(int64_t t0)
{
	return (double)(lab_now_ms() - t0) / 1000.0;
}

static int run_probes(struct lab_run *r);

/* Namespaces, datapath, workers, probes. */
static int build_and_probe(struct lab_run *r)
{
	int64_t t;
	int err;

	err = lab_state_create(&r->st);
	if (err)
		return err;
	r->have_state = true;
	lab_datapath_pin_dir(r->st.id, r->pin_dir, sizeof(r->pin_dir));
	lab_net_name(&r->net, r->st.id);
	err = record_plan(r);
	if (err)
		return err;
	log_info("lab %s: %zu namespaces, %s mode%s", r->st.id, r->net.n_hosts + 1,
		 lab_mode_name(r->a.mode), r->a.cni ? ", CNI plugins" : "");
	t = lab_now_ms();
	if (r->net.cni_conf) {
		r->net.before_cni_add = before_cni_add;
		r->net.before_cni_add_arg = r;
	}
	err = lab_net_create(&r->net);
	if (!err && lab_stop_requested())
		err = -EINTR;
	if (err)
		return err;
	log_info("lab %s: network ready in %.2f s", r->st.id, since(t));
	/* --cni, file mode: the model is complete once host-local answered. */
	if (r->a.cni && !r->a.kubeconfig) {
		err = cni_addresses(r);
		if (!err)
			err = file_matrices(r);
		/* Bad input (an --expect file, an address clash) is still exit 2. */
		r->bad_input = err == -EINVAL;
		if (err)
			return err;
	}
	t = lab_now_ms();
	if (r->a.kubeconfig)
		err = start_agent(r);
	else
		err = lab_datapath_open(r->pin_dir, &r->net, &r->cp, r->a.xdp, &r->loader);
	if (!err && lab_stop_requested())
		err = -EINTR;
	if (err)
		return err;
	log_info("lab %s: datapath on %zu veths in %.2f s", r->st.id,
		 r->a.kubeconfig ? r->net.n_hosts : r->cp.n_endpoints, since(t));
	/* --cni: what a runtime's CHECK says of every pod, datapath on. */
	err = lab_net_cni_check(&r->net);
	if (err)
		return err;
	return run_probes(r);
}

/* Workers, probes. */
static int run_probes(struct lab_run *r)
{
	int err = lab_workers_plan(&r->ws, &r->m, &r->net, r->a.timeout_ms);

	if (!err && lab_stop_requested())
		err = -EINTR;
	if (err)
		return err;
	err = lab_workers_start(&r->ws);
	if (err)
		return err;
	r->t_probe = lab_now_ms();
	log_info("lab %s: probing: %zu probes, %d ms timeout", r->st.id,
		 lab_workers_n_probes(&r->ws), r->a.timeout_ms);
	err = lab_workers_probe(&r->ws, &r->m, &r->refused);
	r->t_done = lab_now_ms();
	if (err)
		return err;
	log_info("lab %s: %zu probes in %.2f s (%.2f s since start)", r->st.id,
		 lab_workers_n_probes(&r->ws), (double)(r->t_done - r->t_probe) / 1000.0,
		 (double)(r->t_done - r->t_start) / 1000.0);
	if (r->refused)
		log_warn("%u probes found no listener (counted as allowed)", r->refused);
	return 0;
}

static void print_result(const struct lab_run *r)
{
	struct lab_placement p = {
		.id = r->st.id,
		.mode = r->a.mode,
		.net = &r->net,
		.pin_dir = r->pin_dir,
		.node = r->a.kubeconfig ? r->a.node : NULL,
		.agent_pid = (int)r->agent_pid,
		.agent_log = r->agent_log,
	};

	lab_report_matrix(stdout, r->a.json, &r->m, (double)(r->t_done - r->t_start) / 1000.0,
			  r->a.keep ? &p : NULL);
}

/* npbpf status of the lab's pins, from the node namespace where the veths
 * it reports on are. */
static int print_status(const struct lab_run *r)
{
	int saved, ret;

	printf("\nnpbpf status --pin-dir %s (in network namespace %s):\n", r->pin_dir,
	       r->net.node_netns);
	fflush(stdout);
	if (lab_netns_enter(r->net.node_netns, &saved))
		return EXIT_FAIL;
	ret = status_show_summary(r->pin_dir);
	lab_netns_leave(saved);
	return ret;
}

/* Checks the probed matrix; returns the exit status. */
static int judge(const struct lab_run *r)
{
	size_t disagree = lab_expect_vs_engine(&r->m, &r->engine, stderr);
	int ret = EXIT_OK, diffs;

	if (disagree) {
		log_error("the datapath and explain disagree on %zu cells (above)", disagree);
		ret = EXIT_FAIL;
	}
	if (!r->a.expect)
		return ret;
	diffs = lab_expect_diff(&r->expect, &r->m, stderr);
	if (diffs) {
		log_error("%d cells differ from %s (above)", diffs, r->a.expect);
		ret = EXIT_FAIL;
	}
	return ret;
}

/* What `lab probe` needs to run this lab again. */
static int save_cfg(struct lab_run *r)
{
	struct lab_cluster_cfg *cfg = &r->cfg;
	int err;

	snprintf(cfg->kubeconfig, sizeof(cfg->kubeconfig), "%s", r->a.kubeconfig);
	snprintf(cfg->node, sizeof(cfg->node), "%s", r->a.node);
	cfg->mode = r->a.mode;
	cfg->families = r->a.families;
	cfg->timeout_ms = r->a.timeout_ms;
	cfg->enforce_host = r->a.enforce_host;
	cfg->xdp = r->a.xdp;
	cfg->node_addr[0] = r->node[0];
	cfg->node_addr[1] = r->node[1];
	cfg->agent_pid = (int)r->agent_pid;
	if (!cfg->ports && r->a.n_ports) {
		cfg->ports = calloc(r->a.n_ports, sizeof(*cfg->ports));
		if (!cfg->ports)
			return -ENOMEM;
		memcpy(cfg->ports, r->a.ports, r->a.n_ports * sizeof(*cfg->ports));
		cfg->n_ports = r->a.n_ports;
	}
	err = lab_cluster_cfg_hosts(cfg, &r->net);
	if (!err)
		err = lab_cluster_cfg_save(cfg, r->cfg_path);
	return err;
}

static int lab_run(struct lab_run *r)
{
	int err, ret;

	if (geteuid()) {
		log_error("needs root (network namespaces, BPF programs)");
		return EXIT_FAIL;
	}
	lab_state_clean_stale();
	err = r->a.kubeconfig ? prepare_cluster(r) : prepare(r);
	if (err)
		return err == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	err = build_and_probe(r);
	if (err) {
		if (err == -EINTR)
			log_error("interrupted by signal %d, removing the lab",
				  lab_stop_signal());
		return r->bad_input ? EXIT_USAGE : EXIT_FAIL;
	}
	print_result(r);
	ret = judge(r);
	if (r->a.status && print_status(r) != EXIT_OK && ret == EXIT_OK)
		ret = EXIT_FAIL;
	if (r->a.keep) {
		err = lab_workers_keep(&r->ws, &r->st);
		if (!err && r->a.kubeconfig)
			err = save_cfg(r);
		if (!err)
			err = lab_state_keep(&r->st);
		r->kept = !err;
		if (err)
			ret = EXIT_FAIL;
	}
	return ret;
}

int cmd_lab(const struct command *self, int argc, char **argv)
{
	struct lab_run r;
	int64_t t;
	int ret = EXIT_USAGE, err;

	memset(&r, 0, sizeof(r));
	r.t_start = lab_now_ms();
	r.st.fd = -1;
	cluster_init(&r.c);
	err = parse_args(argc, argv, &r.a);
	if (err) {
		if (err == -ENOMEM)
			log_error("reading the arguments: %s", strerror(-err));
		ret = exit_status_input(err);
		goto out;
	}
	lab_log_level();
	lab_signal_install();
	ret = lab_run(&r);
out:
	t = lab_now_ms();
	lab_workers_free(&r.ws);
	lab_datapath_close(r.loader);
	if (r.have_state && !r.kept && lab_state_teardown(&r.st) && ret == EXIT_OK)
		ret = EXIT_FAIL;
	if (r.have_state && !r.kept)
		log_info("lab %s: removed in %.2f s", r.st.id, since(t));
	lab_state_close(&r.st);
	lab_net_free(&r.net);
	lab_expect_free(&r.expect);
	if (r.have_matrix) {
		matrix_free(&r.m);
		matrix_free(&r.engine);
	}
	compiled_free(&r.cp);
	cluster_free(&r.c);
	lab_cluster_cfg_free(&r.cfg);
	opt_files_free(&r.a.files);
	free(r.a.ports);
	free(r.a.externals);
	return ret;
}


/* ---- lab probe ID: a kept cluster-mode lab, probed again */

static int probe_args(int argc, char **argv, struct lab_args *a, const char **id)
{
	struct cli_parser p;
	uint64_t v = 0;
	int c, err = 0;

	cli_parser_init(&p, lab_probe_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1) {
		switch (c) {
		case OPT_EXPECT:
			a->expect = optarg;
			break;
		case OPT_TIMEOUT:
			err = opt_number("timeout-ms", optarg, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, &v);
			a->timeout_ms = (int)v;
			break;
		case 'o':
			err = opt_output(optarg, &a->json);
			break;
		default:
			err = -EINVAL;
		}
	}
	if (err)
		return err;
	if (argc - optind != 1) {
		log_usage("lab probe takes one lab id (as 'npbpf lab --kubeconfig ... --keep' "
			  "printed it)");
		return -EINVAL;
	}
	*id = argv[optind];
	return 0;
}

/* The kept lab's settings as the run's arguments. */
static int probe_settings(struct lab_run *r)
{
	struct lab_cluster_cfg *cfg = &r->cfg;
	struct lab_args *a = &r->a;

	lab_datapath_pin_dir(r->st.id, r->pin_dir, sizeof(r->pin_dir));
	lab_agent_paths(r->st.id, r->agent_state, sizeof(r->agent_state), r->agent_log,
			sizeof(r->agent_log));
	lab_cluster_cfg_path(r->st.id, r->cfg_path, sizeof(r->cfg_path));
	if (lab_cluster_cfg_load(cfg, r->cfg_path))
		return -EINVAL;
	a->kubeconfig = cfg->kubeconfig;
	a->node = cfg->node;
	a->mode = cfg->mode;
	a->families = cfg->families;
	if (!a->timeout_ms)
		a->timeout_ms = cfg->timeout_ms;
	a->enforce_host = cfg->enforce_host;
	a->xdp = cfg->xdp;
	a->keep = true;
	if (cfg->n_ports) {
		a->ports = calloc(cfg->n_ports, sizeof(*a->ports));
		if (!a->ports)
			return -ENOMEM;
		memcpy(a->ports, cfg->ports, cfg->n_ports * sizeof(*a->ports));
		a->n_ports = cfg->n_ports;
	}
	r->agent_pid = cfg->agent_pid;
	if (!lab_agent_is(r->agent_pid, r->pin_dir)) {
		log_error("lab %s: its agent (pid %d) is gone; remove the lab with 'npbpf lab "
			  "down %s'",
			  r->st.id, (int)r->agent_pid, r->st.id);
		lab_agent_log_tail(r->agent_log, 20);
		return -ESRCH;
	}
	return 0;
}

/* Namespaces of pods that went (or whose addresses changed) removed, of
 * pods that came created (listed in the state file first). */
static int probe_namespaces(struct lab_run *r, char *state_text)
{
	bool *fresh = NULL;
	size_t *gone = NULL, n_gone = 0, n_fresh = 0;
	struct lab_batch b;
	int err;

	err = lab_cluster_match(&r->cfg, &r->net, r->st.id, &fresh, &gone, &n_gone);
	if (err)
		return err;
	lab_state_stop_workers(state_text);
	lab_batch_init(&b);
	for (size_t k = 0; k < n_gone; k++) {
		const struct lab_cluster_host *h = &r->cfg.hosts[gone[k]];

		log_info("lab %s: pod %s/%s is gone (or has other addresses): removing %s",
			 r->st.id, h->ns, h->name, h->netns);
		if (!strncmp(h->netns, LAB_NETNS_PREFIX, strlen(LAB_NETNS_PREFIX)) &&
		    lab_netns_exists(h->netns)) {
			/* --cni: DEL through the chain first, as the kubelet's runtime */
			err = lab_net_del_host(&r->net, h->netns);
			if (err)
				log_warn("lab %s: CNI DEL of %s failed; removing it anyway", r->st.id,
					 h->netns);
			lab_batch_add(&b, "netns del %s", h->netns);
		}
	}
	for (size_t i = 0; i < r->net.n_hosts; i++) {
		if (!fresh[i])
			continue;
		n_fresh++;
		log_info("lab %s: pod %s/%s is new: creating %s", r->st.id, r->net.hosts[i].pod->ns,
			 r->net.hosts[i].pod->name, r->net.hosts[i].netns);
		/* Left by a probe that failed half-way. */
		if (lab_netns_exists(r->net.hosts[i].netns)) {
			lab_net_del_host(&r->net, r->net.hosts[i].netns);
			lab_batch_add(&b, "netns del %s", r->net.hosts[i].netns);
		}
	}
	err = lab_batch_run(&b, NULL, true, "removing the namespaces of gone pods");
	lab_batch_free(&b);
	for (size_t i = 0; !err && i < r->net.n_hosts; i++)
		if (fresh[i])
			err = lab_state_record(&r->st, "netns %s", r->net.hosts[i].netns);
	if (!err)
		err = lab_net_add_hosts(&r->net, fresh);
	/* Whatever happened, the settings say which namespaces exist now. */
	if (lab_cluster_cfg_hosts(&r->cfg, &r->net) == 0)
		lab_cluster_cfg_save(&r->cfg, r->cfg_path);
	if (!err && (n_fresh || n_gone))
		log_info("lab %s: %zu namespaces added, %zu removed", r->st.id, n_fresh, n_gone);
	free(fresh);
	free(gone);
	return err;
}

static int lab_probe_run(struct lab_run *r, const char *id)
{
	char *text = NULL;
	int err, ret;

	if (geteuid()) {
		log_error("needs root (network namespaces, BPF programs)");
		return EXIT_FAIL;
	}
	err = lab_state_open_kept(id, &r->st, &text);
	if (err)
		return err == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	err = probe_settings(r);
	if (!err)
		err = list_and_plan(r, r->cfg.node_addr);
	if (err) {
		free(text);
		return err == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	err = probe_namespaces(r, text);
	free(text);
	if (!err && lab_stop_requested())
		err = -EINTR;
	if (!err)
		err = lab_agent_wait(r->agent_pid, r->agent_state, r->agent_log, &r->info,
				     LAB_AGENT_READY_MS);
	if (!err)
		err = run_probes(r);
	if (err) {
		if (err == -EINTR)
			log_error("interrupted by signal %d; the lab stays (without listeners until "
				  "the next probe)",
				  lab_stop_signal());
		return EXIT_FAIL;
	}
	print_result(r);
	ret = judge(r);
	err = lab_workers_keep(&r->ws, &r->st);
	if (err)
		ret = EXIT_FAIL;
	return ret;
}

int cmd_lab_probe(const struct command *self, int argc, char **argv)
{
	struct lab_run r;
	const char *id = NULL;
	int ret;

	(void)self;
	memset(&r, 0, sizeof(r));
	r.t_start = lab_now_ms();
	r.st.fd = -1;
	cluster_init(&r.c);
	if (probe_args(argc, argv, &r.a, &id)) {
		ret = EXIT_USAGE;
		goto out;
	}
	lab_log_level();
	lab_signal_install();
	ret = lab_probe_run(&r, id);
out:
	lab_workers_free(&r.ws);
	lab_state_close(&r.st);
	lab_net_free(&r.net);
	lab_expect_free(&r.expect);
	if (r.have_matrix) {
		matrix_free(&r.m);
		matrix_free(&r.engine);
	}
	compiled_free(&r.cp);
	cluster_free(&r.c);
	lab_cluster_cfg_free(&r.cfg);
	free(r.a.ports);
	return ret;
}
