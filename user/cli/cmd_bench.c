/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf bench: benchmarks, one sub-command each (the command table lists
 * them): the options are parsed here, the measuring is done in user/bench.
 *
 * bench compile: what an agent pays to take in a cluster. A synthetic cluster
 * (cluster_gen.h) is written to a file, then a forked child loads and compiles
 * it: the child times exactly manifest_load + compile_cluster, and its peak RSS
 * comes from wait4(), so neither the generator's memory nor its time counts.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_agent.h"
#include "bench_drop.h"
#include "bench_verdict.h"
#include "cluster_gen.h"
#include "commands.h"
#include "compile.h"
#include "json_out.h"
#include "log.h"
#include "manifest.h"
#include "model.h"
#include "options.h"

#define STR_(x) #x
#define STR(x) STR_(x)

enum {
	BENCH_OPT_PODS = CLI_OPT_LONG,
	BENCH_OPT_NAMESPACES,
	BENCH_OPT_POLICIES,
	BENCH_OPT_SEED,
	BENCH_OPT_KEEP_YAML,
	BENCH_OPT_REPEAT,
	BENCH_OPT_RUNS,
	BENCH_OPT_QUICK,
	BENCH_OPT_SAMPLES,
	BENCH_OPT_STREAMING,
	BENCH_OPT_NO_MEMORY,
	BENCH_OPT_KEEP_LOGS,
	BENCH_OPT_PLOT,
	BENCH_OPT_ROUNDS,
	BENCH_OPT_ONLY,
};

/* ---- Temporary file: removed on every exit path, and on SIGINT/TERM/HUP. */

static char bench_tmp_path[PATH_MAX];
static volatile sig_atomic_t bench_tmp_live;

static void bench_on_signal(int sig)
{
	if (bench_tmp_live)
		unlink(bench_tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int bench_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define N_BENCH_SIGNALS (sizeof(bench_signals) / sizeof(bench_signals[0]))

static void bench_tmp_guard(struct sigaction *saved)
{
	struct sigaction sa = { .sa_handler = bench_on_signal };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_BENCH_SIGNALS; i++)
		sigaction(bench_signals[i], &sa, &saved[i]);
}

static void bench_tmp_release(const struct sigaction *saved)
{
	if (bench_tmp_live) {
		unlink(bench_tmp_path);
		bench_tmp_live = 0;
	}
	for (size_t i = 0; i < N_BENCH_SIGNALS; i++)
		sigaction(bench_signals[i], &saved[i], NULL);
}

/* ---- bench compile */

const struct cli_opt bench_compile_opts[] = {
	{ "pods", BENCH_OPT_PODS, "N", "pods to generate (default 10000)" },
	{ "namespaces", BENCH_OPT_NAMESPACES, "M",
	  "namespaces, 3 system ones among them if M >= 4\n(default 500)" },
	{ "policies", BENCH_OPT_POLICIES, "P", "NetworkPolicies (default 10000)" },
	{ "seed", BENCH_OPT_SEED, "S", "generator seed: same seed, same cluster (default 1)" },
	{ "keep-yaml", BENCH_OPT_KEEP_YAML, "FILE", "write the YAML to FILE and keep it" },
	{ "output", 'o', "FORMAT", "text (default) or json" },
	{ 0 },
};

/* What the child reports through the pipe. */
struct bench_compile_result {
	int err; /* 0, or the -errno of the failing step */
	double parse_s;
	double compile_s;
	uint64_t pods, namespaces, policies; /* as loaded */
	uint64_t identities, entries, subjects, ipcache, endpoints;
};

static double bench_elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int bench_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Bytes read, short only at end of file; or -errno. */
static ssize_t bench_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* The measured part. Runs in the child and never returns. */
static void __attribute__((noreturn)) bench_compile_child(int fd, char *path)
{
	struct bench_compile_result r = { 0 };
	struct np_addr node;
	struct compile_opts copts = { .node_addrs = &node, .n_node_addrs = 1 };
	struct compiled cp;
	struct np_cluster c;
	struct timespec t0, t1, t2;
	bool compiled = false;
	int status;

	/* The agent compiles with its node's address; node-000 is as good as any. */
	cluster_gen_node_addr(0, &node);
	memset(&cp, 0, sizeof(cp));
	cluster_init(&c);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.err = manifest_load(&c, &path, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r.parse_s = bench_elapsed(&t0, &t1);
	if (r.err) {
		/* Input and I/O errors are logged by the loader; memory is not. */
		if (r.err == -ENOMEM)
			log_error("loading the generated cluster: %s", strerror(ENOMEM));
		goto out;
	}
	r.err = compile_cluster(&c, &copts, &cp);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	r.compile_s = bench_elapsed(&t1, &t2);
	if (r.err) {
		log_error("compiling the generated cluster: %s", strerror(-r.err));
		goto out;
	}
	compiled = true;
	r.pods = c.n_pods;
	r.namespaces = c.n_namespaces;
	r.policies = c.n_policies;
	r.identities = cp.idn.n_ids;
	r.entries = cp.n_entries + cp.n_ranges;
	r.subjects = cp.n_subjects;
	r.ipcache = cp.idn.n_ipc_host + cp.idn.n_ipc_cidr;
	r.endpoints = cp.n_endpoints;
out:
	status = r.err == -EINVAL ? EXIT_USAGE : r.err ? EXIT_FAIL : EXIT_OK;
	if (bench_write_full(fd, &r, sizeof(r)))
		status = EXIT_FAIL;
	close(fd);
	/* Freed after reporting: only the peak matters, not the teardown. */
	if (compiled)
		compiled_free(&cp);
	cluster_free(&c);
	_exit(status);
}

/*
 * Forks the child that measures, collects its result and peak RSS (kB).
 * Returns 0, -EINVAL when the generated input did not load (a generator
 * bug, reported by the child), or -errno.
 */
static int bench_compile_measure(char *path, struct bench_compile_result *r, long *maxrss_kb)
{
	struct rusage ru;
	int pfd[2] = { -1, -1 };
	int status, err = 0;
	pid_t pid, parent;
	ssize_t n;

	if (pipe(pfd)) {
		err = -errno;
		log_error("pipe: %s", strerror(errno));
		goto out;
	}
	/* Nothing buffered may be written twice, by parent and child. */
	fflush(stdout);
	fflush(stderr);
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		err = -errno;
		log_error("fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		/* A parent killed mid-measurement takes the child with it
		 * instead of leaving it to finish a compile nobody reads. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(EXIT_FAIL);
		bench_compile_child(pfd[1], path);
	}
	close(pfd[1]);
	pfd[1] = -1;

	n = bench_read_full(pfd[0], r, sizeof(*r));
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			err = -errno;
			log_error("wait4: %s", strerror(errno));
			goto out;
		}
	}
	if (WIFSIGNALED(status)) {
		err = -ECHILD;
		log_error("the measuring process died of signal %d (%s)%s", WTERMSIG(status),
			  strsignal(WTERMSIG(status)),
			  WTERMSIG(status) == SIGKILL ? ": out of memory?" : "");
		goto out;
	}
	if (n != (ssize_t)sizeof(*r)) {
		err = n < 0 ? (int)n : -EIO;
		log_error("no result from the measuring process (exit status %d)",
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto out;
	}
	*maxrss_kb = ru.ru_maxrss; /* Linux: kilobytes */
	err = r->err; /* the child logged it */
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return err;
}

/* Writes the cluster to path (a fresh temporary file when keep is NULL). */
static int bench_generate(const struct cluster_gen_params *gp, const char *keep,
			  struct cluster_gen_stats *st)
{
	FILE *f = NULL;
	int fd, err;

	if (keep) {
		f = fopen(keep, "w");
		if (!f) {
			err = -errno;
			log_error("%s: %s", keep, strerror(errno));
			return err;
		}
		snprintf(bench_tmp_path, sizeof(bench_tmp_path), "%s", keep);
	} else {
		const char *dir = getenv("TMPDIR");

		if (!dir || !*dir)
			dir = "/tmp";
		if (snprintf(bench_tmp_path, sizeof(bench_tmp_path), "%s/npbpf-bench-XXXXXX.yaml",
			     dir) >= (int)sizeof(bench_tmp_path)) {
			log_error("TMPDIR is too long");
			return -ENAMETOOLONG;
		}
		fd = mkstemps(bench_tmp_path, 5);
		if (fd < 0) {
			err = -errno;
			log_error("creating a temporary file in %s: %s", dir, strerror(errno));
			return err;
		}
		bench_tmp_live = 1;
		f = fdopen(fd, "w");
		if (!f) {
			err = -errno;
			close(fd);
			log_error("%s: %s", bench_tmp_path, strerror(-err));
			return err;
		}
	}
	err = cluster_gen_write(f, gp, st);
	if (fclose(f) && !err)
		err = -errno;
	if (err)
		log_error("writing %s: %s", bench_tmp_path, strerror(-err));
	return err;
}

int cmd_bench_compile(const struct command *self, int argc, char **argv)
{
	struct cluster_gen_params gp = { .pods = 10000, .namespaces = 500, .policies = 10000,
					 .seed = 1 };
	struct sigaction saved[N_BENCH_SIGNALS];
	struct bench_compile_result r = { 0 };
	struct cluster_gen_stats st = { 0 };
	struct timespec t0, t1;
	const char *keep = NULL;
	bool json = false, guarded = false;
	struct cli_parser p;
	long maxrss_kb = 0;
	struct out o;
	uint64_t v = 0;
	int c, err, ret = EXIT_USAGE;

	cli_parser_init(&p, bench_compile_opts);
	while ((c = cli_next(&p, argc, argv)) != -1) {
		switch (c) {
		case BENCH_OPT_PODS:
			if (opt_number("pods", optarg, 1, CLUSTER_GEN_MAX_PODS, &v))
				goto out;
			gp.pods = (uint32_t)v;
			break;
		case BENCH_OPT_NAMESPACES:
			if (opt_number("namespaces", optarg, 1, CLUSTER_GEN_MAX_NAMESPACES,
				       &v))
				goto out;
			gp.namespaces = (uint32_t)v;
			break;
		case BENCH_OPT_POLICIES:
			if (opt_number("policies", optarg, 0, CLUSTER_GEN_MAX_POLICIES, &v))
				goto out;
			gp.policies = (uint32_t)v;
			break;
		case BENCH_OPT_SEED:
			if (opt_number("seed", optarg, 0, UINT64_MAX, &gp.seed))
				goto out;
			break;
		case BENCH_OPT_KEEP_YAML:
			keep = optarg;
			break;
		case 'o':
			if (opt_output(optarg, &json))
				goto out;
			break;
		default:
			goto out;
		}
	}
	if (cli_no_operands(&p, argc, argv))
		goto out;

	ret = EXIT_FAIL;
	bench_tmp_guard(saved);
	guarded = true;
	fprintf(stderr, "generating %u pods, %u namespaces, %u policies (seed %llu)...\n", gp.pods,
		gp.namespaces, gp.policies, (unsigned long long)gp.seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = bench_generate(&gp, keep, &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (err)
		goto out;
	fprintf(stderr, "generated %.1f MB in %.2f s; parsing+compiling...\n",
		(double)st.bytes / (1024 * 1024), bench_elapsed(&t0, &t1));

	err = bench_compile_measure(bench_tmp_path, &r, &maxrss_kb);
	if (err) {
		/* Invalid input here is the generator's fault, not the user's. */
		if (err == -EINVAL && keep)
			log_error("the generated cluster did not load; it is in %s", keep);
		else if (err == -EINVAL)
			log_error("the generated cluster did not load (see it with --keep-yaml)");
		goto out;
	}

	out_init(&o, stdout, json);
	out_obj_begin(&o, NULL);
	out_uint(&o, "pods", r.pods);
	out_uint(&o, "namespaces", r.namespaces);
	out_uint(&o, "policies", r.policies);
	out_uint(&o, "seed", gp.seed);
	out_double(&o, "yaml_mb", (double)st.bytes / (1024 * 1024), 2);
	out_double(&o, "seconds", r.parse_s + r.compile_s, 3);
	out_double(&o, "parse_seconds", r.parse_s, 3);
	out_double(&o, "compile_seconds", r.compile_s, 3);
	out_double(&o, "peak_rss_mb", (double)maxrss_kb / 1024, 1);
	out_uint(&o, "identities", r.identities);
	out_uint(&o, "entries", r.entries);
	out_uint(&o, "subjects", r.subjects);
	out_uint(&o, "ipcache", r.ipcache);
	out_uint(&o, "endpoints", r.endpoints);
	out_obj_end(&o);
	out_finish(&o);
	ret = EXIT_OK;
out:
	if (guarded)
		bench_tmp_release(saved);
	return ret;
}

/* ---- bench verdict: the options; the measuring is bench_verdict.c's. */

const struct cli_opt bench_verdict_opts[] = {
	{ "repeat", BENCH_OPT_REPEAT, "N",
	  "test-run repeats per 1-flow figure (default " STR(BENCH_VERDICT_REPEAT) ")" },
	{ "runs", BENCH_OPT_RUNS, "R",
	  "rounds, the median is reported (default " STR(BENCH_VERDICT_RUNS) ")" },
	{ "output", 'o', "FORMAT", "text (default) or json" },
	{ 0 },
};

int cmd_bench_verdict(const struct command *self, int argc, char **argv)
{
	struct bench_verdict_args a = { BENCH_VERDICT_REPEAT, BENCH_VERDICT_RUNS, false };
	struct cli_parser p;
	uint64_t v = 0;
	int c, err = 0;

	cli_parser_init(&p, bench_verdict_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1) {
		switch (c) {
		case BENCH_OPT_REPEAT:
			err = opt_number("repeat", optarg, 1, BENCH_VERDICT_MAX_REPEAT, &v);
			a.repeat = (uint32_t)v;
			break;
		case BENCH_OPT_RUNS:
			err = opt_number("runs", optarg, 1, BENCH_VERDICT_MAX_RUNS, &v);
			a.runs = (uint32_t)v;
			break;
		case 'o':
			err = opt_output(optarg, &a.json);
			break;
		default:
			err = -EINVAL;
		}
	}
	if (!err)
		err = cli_no_operands(&p, argc, argv);
	return err ? EXIT_USAGE : bench_verdict(&a);
}

/* ---- bench agent: the options; the measuring is bench_agent.c's. */

const struct cli_opt bench_agent_opts[] = {
	{ "quick", BENCH_OPT_QUICK, NULL,
	  "2,000 pods / 100 namespaces / 2,000 policies, " STR(BENCH_AGENT_QUICK_SAMPLES)
	  " samples per event kind,\nan 8,000-pod memory run (under a minute)" },
	{ "samples", BENCH_OPT_SAMPLES, "N",
	  "events per kind (default " STR(BENCH_AGENT_SAMPLES) ", --quick " STR(
		  BENCH_AGENT_QUICK_SAMPLES) ")" },
	{ "seed", BENCH_OPT_SEED, "S", "generator seed (default 1)" },
	{ "streaming-list", BENCH_OPT_STREAMING, NULL,
	  "serve the streaming list (sendInitialEvents) instead of refusing it" },
	{ "no-memory", BENCH_OPT_NO_MEMORY, NULL, "skip the large memory run" },
	{ "keep-logs", BENCH_OPT_KEEP_LOGS, "DIR",
	  "copy the agents' logs (agent-1.log ...) into DIR (with -v: debug lines)" },
	{ "output", 'o', "FORMAT", "text (default) or json" },
	{ 0 },
};

int cmd_bench_agent(const struct command *self, int argc, char **argv)
{
	struct bench_agent_args a = { .seed = 1 };
	struct cli_parser p;
	uint64_t v = 0;
	int c, err = 0;

	(void)self;
	cli_parser_init(&p, bench_agent_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1) {
		switch (c) {
		case BENCH_OPT_QUICK:
			a.quick = true;
			break;
		case BENCH_OPT_SAMPLES:
			err = opt_number("samples", optarg, 1, BENCH_AGENT_MAX_SAMPLES, &v);
			a.samples = (uint32_t)v;
			break;
		case BENCH_OPT_SEED:
			err = opt_number("seed", optarg, 0, UINT64_MAX, &a.seed);
			break;
		case BENCH_OPT_STREAMING:
			a.streaming = true;
			break;
		case BENCH_OPT_NO_MEMORY:
			a.no_memory = true;
			break;
		case BENCH_OPT_KEEP_LOGS:
			a.keep_logs = optarg;
			break;
		case 'o':
			err = opt_output(optarg, &a.json);
			break;
		default:
			err = -EINVAL;
		}
	}
	if (!err)
		err = cli_no_operands(&p, argc, argv);
	return err ? EXIT_USAGE : bench_agent(&a);
}

/* ---- bench drop: the options; the measuring is bench_drop.c's. */

const struct cli_opt bench_drop_opts[] = {
	{ "quick", BENCH_OPT_QUICK, NULL,
	  "fewer sweep points (1 and 1,000 policies; 1, 1,000 and\n"
	  "100,000 flows), " STR(BENCH_DROP_QUICK_ROUNDS) " rounds of short windows (under a minute)" },
	{ "rounds", BENCH_OPT_ROUNDS, "N",
	  "rounds, medians are reported (default " STR(BENCH_DROP_ROUNDS) ", --quick " STR(
		  BENCH_DROP_QUICK_ROUNDS) ")" },
	{ "plot", BENCH_OPT_PLOT, "FILE", "also write an SVG bar chart to FILE" },
	{ "only", BENCH_OPT_ONLY, "LIST",
	  "only the configurations whose names contain one of LIST's\n"
	  "comma-separated parts (e.g. xdp_drop,npbpf_xdp_deny; =NAME:\n"
	  "exactly that one), and the ratios among them" },
	{ "output", 'o', "FORMAT", "text (default) or json" },
	{ 0 },
};

int cmd_bench_drop(const struct command *self, int argc, char **argv)
{
	struct bench_drop_args a = { 0 };
	struct cli_parser p;
	uint64_t v = 0;
	int c, err = 0;

	(void)self;
	cli_parser_init(&p, bench_drop_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1) {
		switch (c) {
		case BENCH_OPT_QUICK:
			a.quick = true;
			break;
		case BENCH_OPT_ROUNDS:
			err = opt_number("rounds", optarg, 1, BENCH_DROP_MAX_ROUNDS, &v);
			a.rounds = (uint32_t)v;
			break;
		case BENCH_OPT_PLOT:
			a.plot = optarg;
			break;
		case BENCH_OPT_ONLY:
			a.only = optarg;
			break;
		case 'o':
			err = opt_output(optarg, &a.json);
			break;
		default:
			err = -EINVAL;
		}
	}
	if (!err)
		err = cli_no_operands(&p, argc, argv);
	return err ? EXIT_USAGE : bench_drop(&a);
}
