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
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commands.h"
#include "compile.h"
#include "json_out.h"
#include "lab_addr.h"
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
#include "vec.h"

#define DEFAULT_TIMEOUT_MS 1000
#define MIN_TIMEOUT_MS 50
#define MAX_TIMEOUT_MS 60000

struct lab_args {
	char **paths;
	size_t n_paths, cap_paths;
	struct matrix_port *ports;
	size_t n_ports;
	struct np_addr *externals;
	size_t n_externals, cap_externals;
	const char *expect;
	char **down_ids; /* --down ID...: argv entries */
	size_t n_down_ids;
	int families;
	enum lab_mode mode;
	int timeout_ms;
	bool json, keep, down, status, enforce_host, xdp;
};

static void lab_usage(FILE *f)
{
	fprintf(f,
		"Usage: npbpf lab -f PATH... [--ports 80/TCP,53/UDP] [--expect FILE] [-o json]\n"
		"                 [--external ADDR]... [--family 4|6|both] [--mode bridge|routed]\n"
		"                 [--keep] [--status] [--timeout-ms N]\n"
		"       npbpf lab --down [ID...]\n"
		"\n"
		"Builds the manifests' pods as network namespaces on this kernel (a node namespace,\n"
		"one per pod, veth pairs), attaches the real datapath to every pod's veth, probes\n"
		"every pod from every pod, and prints the matrix as 'explain --matrix' does. Pod\n"
		"addresses come from status.podIPs (allocated when absent) and, like --external,\n"
		"must lie in " LAB_RANGE_V4 " or " LAB_RANGE_V6 ". Needs root.\n"
		"Exit status: 0 matrix as expected, 1 a difference (from --expect, or between the\n"
		"datapath and explain) or a failure, 2 bad usage or bad input.\n"
		"\n"
		"  -f, --file PATH        manifest file or directory (repeatable; '-' = stdin)\n"
		"      --ports LIST       probe these ports on every pod (default: each pod's\n"
		"                         declared containerPorts, probed where declared)\n"
		"      --expect FILE      compare with an expected matrix (text or JSON)\n"
		"      --external ADDR    a host outside the cluster, behind the node (repeatable)\n"
		"      --family 4|6|both  address family (default 4)\n"
		"      --mode bridge|routed  pod wiring: a cni0 bridge (flannel, default) or /32\n"
		"                         routes per pod (Calico)\n"
		"      --timeout-ms N     how long a probe waits (default %d)\n"
		"      --enforce-host     do not allow the node's own traffic to isolated pods\n"
		"      --xdp              also attach the XDP variant of from-pod (in front of TC)\n"
		"      --keep             leave the lab running and print where each pod lives\n"
		"      --status           print 'npbpf status' of the lab's maps before teardown\n"
		"      --down [ID...]     remove kept labs (and leftovers of crashed ones), all\n"
		"                         or those with the ids given\n"
		"  -o, --output text|json output format (default text)\n"
		"  -h, --help             this help\n",
		DEFAULT_TIMEOUT_MS);
}

static int push_external(struct lab_args *a, const char *text)
{
	struct np_addr *slot = VEC_PUSH(a->externals, a->n_externals, a->cap_externals);

	if (!slot)
		return -ENOMEM;
	if (addr_parse(text, false, slot)) {
		log_error("lab: --external '%s' is not an IP address", text);
		return -EINVAL;
	}
	return 0;
}

static int parse_timeout(const char *text, int *out)
{
	char *end;
	long v = strtol(text, &end, 10);

	if (end == text || *end || v < MIN_TIMEOUT_MS || v > MAX_TIMEOUT_MS) {
		log_error("lab: --timeout-ms takes %d to %d, not '%s'", MIN_TIMEOUT_MS,
			  MAX_TIMEOUT_MS, text);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int check_args(const struct lab_args *a)
{
	if (a->down && (a->n_paths || a->keep || a->expect || a->status)) {
		log_error("lab: --down takes no other option but -o");
		return -EINVAL;
	}
	if (!a->down && !a->n_paths) {
		log_error("lab: no manifests given (-f PATH)");
		return -EINVAL;
	}
	if (a->status && a->json) {
		log_error("lab: --status prints text; with -o json use --keep, then "
			  "'npbpf status -o json' in the node namespace");
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct lab_args *a)
{
	enum { OPT_PORTS = 256, OPT_EXPECT, OPT_EXTERNAL, OPT_FAMILY, OPT_MODE, OPT_KEEP,
	       OPT_TIMEOUT, OPT_DOWN, OPT_STATUS, OPT_ENFORCE_HOST, OPT_XDP };
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "ports", required_argument, NULL, OPT_PORTS },
		{ "expect", required_argument, NULL, OPT_EXPECT },
		{ "external", required_argument, NULL, OPT_EXTERNAL },
		{ "family", required_argument, NULL, OPT_FAMILY },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
		{ "down", no_argument, NULL, OPT_DOWN },
		{ "status", no_argument, NULL, OPT_STATUS },
		{ "enforce-host", no_argument, NULL, OPT_ENFORCE_HOST },
		{ "xdp", no_argument, NULL, OPT_XDP },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, err = 0;

	a->families = MATRIX_V4;
	a->mode = LAB_MODE_BRIDGE;
	a->timeout_ms = DEFAULT_TIMEOUT_MS;
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
		case OPT_PORTS:
			err = matrix_ports_option("lab", optarg, &a->ports, &a->n_ports);
			break;
		case OPT_EXPECT:
			a->expect = optarg;
			break;
		case OPT_EXTERNAL:
			err = push_external(a, optarg);
			break;
		case OPT_FAMILY:
			err = matrix_family_option("lab", optarg, &a->families);
			break;
		case OPT_MODE:
			if (lab_mode_parse(optarg, &a->mode)) {
				log_error("lab: --mode takes bridge or routed, not '%s'", optarg);
				err = -EINVAL;
			}
			break;
		case OPT_KEEP:
			a->keep = true;
			break;
		case OPT_TIMEOUT:
			err = parse_timeout(optarg, &a->timeout_ms);
			break;
		case OPT_DOWN:
			a->down = true;
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
		case 'o':
			err = out_parse_format("lab", optarg, &a->json);
			break;
		case 'h':
			lab_usage(stdout);
			exit(EXIT_OK);
		default:
			err = -EINVAL;
		}
	}
	if (err)
		return err;
	if (a->down) {
		a->down_ids = argv + optind;
		a->n_down_ids = (size_t)(argc - optind);
	} else if (optind < argc) {
		log_error("lab: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return check_args(a);
}

/* ---- lab --down */

static int lab_down(const struct lab_args *a)
{
	struct lab_down_result *r = NULL;
	size_t n = 0;
	int err, ret;

	err = lab_state_down(a->down_ids, a->n_down_ids, &r, &n);
	ret = lab_report_down(stdout, a->json, r, n);
	free(r);
	if (err && ret == EXIT_OK) {
		log_error("lab: reading %s: %s", LAB_STATE_DIR, strerror(-err));
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
	log_error("lab: SCTP ports need the kernel's sctp module (%s); leave them out with --ports",
		  strerror(errno));
	return -EPROTONOSUPPORT;
}

/* The model, its addresses, the compile, both matrices and the expected
 * one. Input errors (unreadable input included) are -EINVAL: exit 2. */
static int prepare(struct lab_run *r)
{
	struct compile_opts copts = { 0 };
	const struct lab_args *a = &r->a;
	const struct matrix_port *ports = a->n_ports ? a->ports : NULL;
	int err;

	err = manifest_load(&r->c, a->paths, a->n_paths);
	if (err) {
		if (err != -EINVAL)
			log_error("lab: reading manifests: %s", strerror(-err));
		return err == -ENOMEM ? err : -EINVAL;
	}
	err = lab_addr_check(&r->c, a->externals, a->n_externals);
	if (!err)
		err = lab_addr_assign(&r->c, a->families, a->externals, a->n_externals, r->node);
	if (err)
		return err == -ENOSPC ? -EINVAL : err;
	err = lab_net_plan(&r->net, a->mode, &r->c, r->node, a->externals, a->n_externals);
	if (err)
		return err;
	copts.enforce_host = a->enforce_host;
	copts.node_addrs = r->net.node_addrs;
	copts.n_node_addrs = r->net.n_node_addrs;
	err = compile_cluster(&r->c, &copts, &r->cp);
	if (err) {
		log_error("lab: compiling policies: %s", strerror(-err));
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
		log_error("lab: building the matrix: %s", strerror(-err));
		return err;
	}
	r->have_matrix = true;
	matrix_fill_verdicts(&r->engine, &r->cp);
	if (!r->m.n_ports)
		log_warn("lab: no ports to probe: the pods declare no containerPorts (use --ports)");
	if (a->expect) {
		err = lab_expect_load(&r->expect, a->expect, &r->m);
		if (err)
			return err == -ENOMEM ? err : -EINVAL;
	}
	return check_sctp(&r->m);
}

static int record_plan(struct lab_run *r)
{
	int err = lab_state_record(&r->st, "netns %s", r->net.node_netns);

	for (size_t i = 0; !err && i < r->net.n_hosts; i++)
		err = lab_state_record(&r->st, "netns %s", r->net.hosts[i].netns);
	if (!err)
		err = lab_state_record(&r->st, "pin %s", r->pin_dir);
	return err;
}

static double since(int64_t t0)
{
	return (double)(lab_now_ms() - t0) / 1000.0;
}

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
	log_info("lab %s: %zu namespaces, %s mode", r->st.id, r->net.n_hosts + 1,
		 lab_mode_name(r->a.mode));
	t = lab_now_ms();
	err = lab_net_create(&r->net);
	if (!err && lab_stop_requested())
		err = -EINTR;
	if (err)
		return err;
	log_info("lab %s: network ready in %.2f s", r->st.id, since(t));
	t = lab_now_ms();
	err = lab_datapath_open(r->pin_dir, &r->net, &r->cp, r->a.xdp, &r->loader);
	if (!err)
		err = lab_workers_plan(&r->ws, &r->m, &r->net, r->a.timeout_ms);
	if (!err && lab_stop_requested())
		err = -EINTR;
	if (err)
		return err;
	log_info("lab %s: datapath on %zu veths in %.2f s", r->st.id, r->cp.n_endpoints, since(t));
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
		log_warn("lab: %u probes found no listener (counted as allowed)", r->refused);
	return 0;
}

static void print_result(const struct lab_run *r)
{
	struct lab_placement p = {
		.id = r->st.id,
		.mode = r->a.mode,
		.net = &r->net,
		.pin_dir = r->pin_dir,
	};

	lab_report_matrix(stdout, r->a.json, &r->m, (double)(r->t_done - r->t_start) / 1000.0,
			  r->a.keep ? &p : NULL);
}

/* npbpf status of the lab's pins, from the node namespace where the veths
 * it reports on are. */
static int print_status(const struct lab_run *r)
{
	char *argv[] = { (char *)"status", (char *)"--pin-dir", (char *)r->pin_dir, NULL };
	int saved, ret;

	printf("\nnpbpf status --pin-dir %s (in network namespace %s):\n", r->pin_dir,
	       r->net.node_netns);
	fflush(stdout);
	if (lab_netns_enter(r->net.node_netns, &saved))
		return EXIT_FAIL;
	ret = cmd_status(3, argv);
	lab_netns_leave(saved);
	return ret;
}

/* Checks the probed matrix; returns the exit status. */
static int judge(const struct lab_run *r)
{
	size_t disagree = lab_expect_vs_engine(&r->m, &r->engine, stderr);
	int ret = EXIT_OK, diffs;

	if (disagree) {
		log_error("lab: the datapath and explain disagree on %zu cells (above)", disagree);
		ret = EXIT_FAIL;
	}
	if (!r->a.expect)
		return ret;
	diffs = lab_expect_diff(&r->expect, &r->m, stderr);
	if (diffs) {
		log_error("lab: %d cells differ from %s (above)", diffs, r->a.expect);
		ret = EXIT_FAIL;
	}
	return ret;
}

static int lab_run(struct lab_run *r)
{
	int err, ret;

	if (geteuid()) {
		log_error("lab: needs root (network namespaces, BPF programs)");
		return EXIT_FAIL;
	}
	lab_state_clean_stale();
	err = prepare(r);
	if (err)
		return err == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	err = build_and_probe(r);
	if (err) {
		if (err == -EINTR)
			log_error("lab: interrupted by signal %d, removing the lab",
				  lab_stop_signal());
		return EXIT_FAIL;
	}
	print_result(r);
	ret = judge(r);
	if (r->a.status && print_status(r) != EXIT_OK && ret == EXIT_OK)
		ret = EXIT_FAIL;
	if (r->a.keep) {
		err = lab_workers_keep(&r->ws, &r->st);
		if (!err)
			err = lab_state_keep(&r->st);
		r->kept = !err;
		if (err)
			ret = EXIT_FAIL;
	}
	return ret;
}

int cmd_lab(int argc, char **argv)
{
	struct lab_run r;
	int64_t t;
	int ret = EXIT_USAGE;

	memset(&r, 0, sizeof(r));
	r.t_start = lab_now_ms();
	r.st.fd = -1;
	cluster_init(&r.c);
	if (parse_args(argc, argv, &r.a))
		goto out;
	/* Progress for people watching; scripts see it with -v. */
	if (isatty(STDERR_FILENO) && log_get_level() < LOG_INFO)
		log_set_level(LOG_INFO);
	lab_signal_install();
	if (r.a.down) {
		ret = lab_down(&r.a);
		goto out;
	}
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
	free(r.a.paths);
	free(r.a.ports);
	free(r.a.externals);
	return ret;
}
