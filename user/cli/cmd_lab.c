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
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commands.h"
#include "compile.h"
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
#include "options.h"

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
	int families;
	enum lab_mode mode;
	int timeout_ms;
	bool json, keep, status, enforce_host, xdp;
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
};

const struct cli_opt lab_opts[] = {
	{ "file", 'f', "PATH", "manifest file or directory (repeatable; '-' = stdin)" },
	{ "namespace", 'n', "NS", "namespace of objects that name none (as kubectl apply -n)" },
	{ "recursive", 'R', NULL, "read the subdirectories of -f directories too" },
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

static int check_args(const struct lab_args *a)
{
	int err = opt_files_given(&a->files);

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
		case 'o':
			err = opt_output(optarg, &a->json);
			break;
		default: /* --down never comes here: command.c makes it 'lab down' */
			err = -EINVAL;
		}
	}
	if (!err)
		err = cli_no_operands(&p, argc, argv);
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

/* The model, its addresses, the compile, both matrices and the expected
 * one. Input errors (unreadable input included) are -EINVAL: exit 2. */
static int prepare(struct lab_run *r)
{
	struct compile_opts copts = { 0 };
	const struct lab_args *a = &r->a;
	const struct matrix_port *ports = a->n_ports ? a->ports : NULL;
	int err;

	err = manifest_load_opts(&r->c, a->files.paths, a->files.n,
				 &(struct manifest_opts){ a->files.ns, a->files.recursive });
	if (err) {
		if (err != -EINVAL)
			log_error("reading manifests: %s", strerror(-err));
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
	matrix_say_why_empty(&r->m, &r->c, a->families);
	matrix_fill_verdicts(&r->engine, &r->cp);
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

static int lab_run(struct lab_run *r)
{
	int err, ret;

	if (geteuid()) {
		log_error("needs root (network namespaces, BPF programs)");
		return EXIT_FAIL;
	}
	lab_state_clean_stale();
	err = prepare(r);
	if (err)
		return err == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	err = build_and_probe(r);
	if (err) {
		if (err == -EINTR)
			log_error("interrupted by signal %d, removing the lab",
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
	opt_files_free(&r.a.files);
	free(r.a.ports);
	free(r.a.externals);
	return ret;
}
