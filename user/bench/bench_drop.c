/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf bench drop: how many packets a second a dropper sustains, on real
 * packets through real veths, npbpf side by side with what it competes
 * with and with the ceilings of its hooks.
 *
 * The run builds its own network namespaces (bench_drop_net.h), loads one
 * npbpf instance per policy count through the loader and the agent's map
 * sync (bench_drop_policy.h) and the same policies as iptables and
 * nftables rule sets (bench_drop_nf.h), then measures every configuration
 * (bench_drop_run.h) once per round, the rounds interleaving all of them
 * and starting at a different one each time: the VM's speed drifts, so
 * only figures taken moments apart are compared (bench_drop_report.h).
 *
 * Bounded: a full run takes about 4 minutes, --quick under one. Every
 * namespace, pin and program is removed on every exit path, on SIGINT,
 * SIGTERM and SIGHUP too (the handler only asks; the loops stop at the
 * next check and the one teardown below runs). Traffic never leaves the
 * namespaces the bench made; addresses are from 198.18.0.0/15.
 */
#include "bench_drop.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_drop_nf.h"
#include "bench_drop_plot.h"
#include "bench_drop_report.h"
#include "bench_drop_run.h"
#include "exit_status.h"
#include "log.h"
#include "pinned.h"

#include "bench_drop.skel.h"

static const uint32_t full_sets[] = { 1, 100, 1000, BD_MAX_POLICIES };
static const uint32_t quick_sets[] = { 1, 1000 };
static const uint32_t full_flows[] = { 1, 1000, 100000 };
static const uint32_t quick_flows[] = { 1, 1000, 100000 };

static void on_stop(int sig)
{
	(void)sig;
	bd_stop = 1;
}

/* The signals the run changes, and what they were. */
static const int run_signals[] = { SIGINT, SIGTERM, SIGHUP, BD_GEN_SIGNAL, SIGPIPE };
#define N_RUN_SIGNALS (sizeof(run_signals) / sizeof(run_signals[0]))

static void signals_take(struct sigaction *saved)
{
	for (size_t i = 0; i < N_RUN_SIGNALS; i++) {
		struct sigaction sa = { 0 };

		/* No SA_RESTART: a stop must cut sleeps and test runs short. */
		sa.sa_handler = run_signals[i] == BD_GEN_SIGNAL ? bd_gen_on_signal
			      : run_signals[i] == SIGPIPE	  ? SIG_IGN
								  : on_stop;
		sigemptyset(&sa.sa_mask);
		sigaction(run_signals[i], &sa, &saved[i]);
	}
}

static void signals_restore(const struct sigaction *saved)
{
	for (size_t i = 0; i < N_RUN_SIGNALS; i++)
		sigaction(run_signals[i], &saved[i], NULL);
}

static double since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The tools of the netfilter runs, before anything is built. */
static int check_tools(void)
{
	static const char *const tools[][3] = {
		{ "ip", "-V", NULL },
		{ "nft", "--version", NULL },
		{ "iptables-restore", "--version", NULL },
		{ "ipset", "version", NULL },
	};

	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		char *out = NULL;
		int err = bd_exec(NULL, tools[i], NULL, &out);

		free(out);
		if (err) {
			log_error("%s does not run: the packages iproute2, nftables, "
				  "iptables and ipset are needed",
				  tools[i][0]);
			return err;
		}
	}
	return 0;
}

/* The receivers' XDP drop in both worlds: what gets through is counted
 * there, and dies cheaply instead of going up a stack. */
static int attach_receivers(struct bd_ctx *x)
{
	int fd = bpf_program__fd(x->skel->progs.bd_rcv_drop), err = 0;

	for (int w = 0; !err && w < BD_N_WORLDS; w++) {
		int saved;

		err = bd_netns_enter(x->net.w[w].rcv, &saved);
		if (err)
			break;
		err = bpf_xdp_attach((int)x->net.w[w].rcv_ifindex, fd, XDP_FLAGS_DRV_MODE, NULL);
		if (err)
			log_error("XDP on the receiver: %s", strerror(-err));
		if (bd_netns_leave(saved) && !err)
			err = -EIO;
	}
	return err;
}

static int setup(struct bd_ctx *x)
{
	const uint32_t *sets = x->a.quick ? quick_sets : full_sets;
	const uint32_t *flows = x->a.quick ? quick_flows : full_flows;
	int err;

	x->n_sets = x->a.quick ? 2 : 4;
	x->n_flow_counts = 3;
	memcpy(x->flow_counts, flows, x->n_flow_counts * sizeof(*flows));
	x->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (x->ncpu > BD_MAX_CPUS)
		x->ncpu = BD_MAX_CPUS;
	err = check_tools();
	if (err)
		return err;
	bd_nf_iptables_version(x->iptables_version, sizeof(x->iptables_version));
	bd_net_sweep_stale();
	fprintf(stderr, "creating network namespaces %s-*...\n", x->net.prefix);
	x->net_made = true; /* from here teardown deletes whatever exists */
	err = bd_net_create(&x->net);
	if (err)
		return err;
	x->skel = npbpf_bench_drop_bpf__open_and_load();
	if (!x->skel) {
		err = -errno;
		log_error("loading the bench object: %s", strerror(-err));
		return err;
	}
	err = attach_receivers(x);
	if (!err)
		err = pinned_prepare_dir(PINNED_BPFFS_ROOT);
	if (err)
		return err;
	snprintf(x->pin_root, sizeof(x->pin_root), "%s/npbpf-bench-drop-XXXXXX",
		 PINNED_BPFFS_ROOT);
	if (!mkdtemp(x->pin_root)) {
		err = -errno;
		log_error("creating a pin directory: %s", strerror(-err));
		return err;
	}
	x->root_made = true;
	for (uint32_t s = 0; s < x->n_sets; s++) {
		struct timespec t0, t1, t2;

		if (bd_stop)
			return -EINTR;
		fprintf(stderr, "%u polic%s: compiling, syncing into npbpf, loading iptables, "
				"ipset and nftables...\n",
			sets[s], sets[s] == 1 ? "y" : "ies");
		clock_gettime(CLOCK_MONOTONIC, &t0);
		err = bd_policy_build(sets[s], &x->pol[s]);
		if (!err)
			err = bd_npbpf_open(x->pin_root, &x->pol[s],
					    x->net.w[BD_W_BPF].podh_ifindex, &x->np[s]);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!err)
			err = bd_nf_load(x->net.w[BD_W_IPT].node, x->net.w[BD_W_NFT].node,
					 &x->pol[s]);
		clock_gettime(CLOCK_MONOTONIC, &t2);
		if (err)
			return err;
		log_info("%u polic%s: npbpf %.2f s (compile and sync), netfilter %.2f s", sets[s],
			 sets[s] == 1 ? "y" : "ies", since(&t0) - since(&t1), since(&t1) - since(&t2));
	}
	return bd_conf_build(x);
}

/* Where round r starts: a different configuration each round, and always
 * one that is not measured beside the one before it, so that every unit
 * bd_conf_build() made stays whole. */
static size_t round_start(const struct bd_ctx *x, uint32_t r)
{
	size_t starts = 0, want;

	for (size_t i = 0; i < x->n_conf; i++)
		starts += !x->conf[i].beside;
	if (!starts)
		return 0;
	want = (size_t)r * 3 % starts;
	for (size_t i = 0; i < x->n_conf; i++)
		if (!x->conf[i].beside && want-- == 0)
			return i;
	return 0;
}

static int rounds(struct bd_ctx *x)
{
	/* Retries: at most one measurement in five, and only while what is
	 * left still fits in the run's time bound. */
	x->retries_left = (uint32_t)(x->n_conf * x->rounds / 5);
	x->measures_left = (uint32_t)(x->n_conf * x->rounds);
	for (uint32_t r = 0; r < x->rounds; r++) {
		fprintf(stderr, "round %u/%u: %zu configurations...\n", r + 1, x->rounds,
			x->n_conf);
		size_t start = round_start(x, r);

		for (size_t j = 0; j < x->n_conf; j++) {
			struct bd_conf *c = &x->conf[(j + start) % x->n_conf];
			int err;

			if (bd_stop)
				return -EINTR;
			err = bd_measure(x, c, r);
			if (err)
				return err;
			x->measures_left--;
		}
	}
	return 0;
}

static void teardown(struct bd_ctx *x)
{
	for (uint32_t s = 0; s < BD_MAX_SETS; s++) {
		bd_npbpf_close(&x->np[s]);
		bd_policy_free(&x->pol[s]);
	}
	if (x->root_made && rmdir(x->pin_root))
		log_warn("%s left behind: %s", x->pin_root, strerror(errno));
	/* The namespaces take the veths and every attachment with them. */
	if (x->net_made)
		bd_net_destroy(&x->net);
	npbpf_bench_drop_bpf__destroy(x->skel);
	free(x->conf);
}

int bench_drop(const struct bench_drop_args *a)
{
	struct sigaction saved[N_RUN_SIGNALS];
	struct bd_ratio ratios[BD_MAX_RATIOS];
	struct timespec t0;
	struct bd_ctx x;
	size_t n_ratios = 0;
	int ret = EXIT_FAIL, err;

	if (geteuid()) {
		log_error("needs root (network namespaces, BPF programs, netfilter)");
		return EXIT_FAIL;
	}
	memset(&x, 0, sizeof(x));
	x.a = *a;
	x.rounds = a->rounds ? a->rounds
		 : a->quick  ? BENCH_DROP_QUICK_ROUNDS
			     : BENCH_DROP_ROUNDS;
	x.warmup_s = a->quick ? 0.1 : 0.2;
	x.window_s = a->quick ? 0.25 : 0.6;
	x.budget_s = a->quick ? 55 : 285;
	bd_net_init(&x.net);
	bd_stop = 0;
	signals_take(saved);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	x.start_ns = (uint64_t)t0.tv_sec * 1000000000ull + (uint64_t)t0.tv_nsec;
	err = setup(&x);
	x.setup_s = since(&t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!err)
		err = rounds(&x);
	x.run_s = since(&t0);
	if (err) {
		if (bd_stop)
			log_error("interrupted; cleaning up");
		goto out;
	}
	bd_summarize(&x);
	bd_ratios(&x, ratios, &n_ratios);
	bd_report(&x, ratios, n_ratios);
	if (a->plot && bd_plot(&x, a->plot))
		goto out;
	ret = EXIT_OK;
out:
	fprintf(stderr, "removing the namespaces and pins...\n");
	teardown(&x);
	signals_restore(saved);
	return ret;
}
