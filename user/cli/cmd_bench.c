/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf bench: benchmarks, one subcommand each (see bench_cmds below).
 *
 * bench compile: what an agent pays to take in a cluster. A synthetic cluster
 * (cluster_gen.h) is written to a file, then a forked child loads and compiles
 * it: the child times exactly manifest_load + compile_cluster, and its peak RSS
 * comes from wait4(), so neither the generator's memory nor its time counts.
 */
#include <errno.h>
#include <getopt.h>
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

#include "bench_verdict.h"
#include "cluster_gen.h"
#include "commands.h"
#include "compile.h"
#include "json_out.h"
#include "log.h"
#include "manifest.h"
#include "model.h"

/* ---- Options: one table per subcommand gives getopt_long and --help. */

#define BENCH_MAX_OPTS 16

struct bench_opt {
	const char *name; /* long name */
	int val;          /* short letter, or a BENCH_OPT_* code for long-only options */
	const char *arg;  /* argument name in --help; NULL for a flag */
	const char *help;
};

enum {
	BENCH_OPT_PODS = 256,
	BENCH_OPT_NAMESPACES,
	BENCH_OPT_POLICIES,
	BENCH_OPT_SEED,
	BENCH_OPT_KEEP_YAML,
};

static void bench_opts_help(FILE *f, const struct bench_opt *opts)
{
	for (const struct bench_opt *o = opts; o->name; o++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->val < 256 ? "-" : " ",
			 o->val < 256 ? o->val : ' ', o->val < 256 ? ", " : "  ", o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-24s %s\n", left, o->help);
	}
}

/*
 * getopt_long over a bench_opt table. Returns the option's val, -1 when the
 * options end, or '?' after logging a usage error. *reset starts true: the
 * first call re-initialises getopt, which main or a test may have used.
 */
static int bench_getopt(int argc, char **argv, const struct bench_opt *opts, bool *reset)
{
	struct option longopts[BENCH_MAX_OPTS + 1] = { { 0 } };
	char shortopts[2 * BENCH_MAX_OPTS + 2] = ":"; /* ':' reports a missing argument */
	size_t n = 0, s = 1;
	int c;

	for (const struct bench_opt *o = opts; o->name && n < BENCH_MAX_OPTS; o++, n++) {
		longopts[n].name = o->name;
		longopts[n].has_arg = o->arg ? required_argument : no_argument;
		longopts[n].val = o->val;
		if (o->val < 256) {
			shortopts[s++] = (char)o->val;
			if (o->arg)
				shortopts[s++] = ':';
		}
	}
	shortopts[s] = '\0';
	if (*reset) {
		optind = 0; /* GNU: full re-initialisation */
		*reset = false;
	}
	opterr = 0;
	c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == ':') {
		log_error("bench %s: option '%s' needs an argument", argv[0], argv[optind - 1]);
		return '?';
	}
	if (c == '?') {
		log_error("bench %s: unknown option '%s' (see --help)", argv[0], argv[optind - 1]);
		return '?';
	}
	return c;
}

/* A decimal number in [min, max]; logs and returns -EINVAL otherwise. */
static int bench_parse_u64(const char *opt, const char *text, uint64_t min, uint64_t max,
			   uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	/* strtoull would take leading spaces and a minus sign: only digits. */
	if (text[0] < '0' || text[0] > '9')
		goto bad;
	v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	log_error("--%s: '%s' is not a number from %llu to %llu", opt, text,
		  (unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
}

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

static const struct bench_opt bench_compile_opts[] = {
	{ "pods", BENCH_OPT_PODS, "N", "pods to generate (default 10000)" },
	{ "namespaces", BENCH_OPT_NAMESPACES, "M", "namespaces, 3 system ones among them if M >= 4 "
						   "(default 500)" },
	{ "policies", BENCH_OPT_POLICIES, "P", "NetworkPolicies (default 10000)" },
	{ "seed", BENCH_OPT_SEED, "S", "generator seed: same seed, same cluster (default 1)" },
	{ "keep-yaml", BENCH_OPT_KEEP_YAML, "FILE", "write the YAML to FILE and keep it" },
	{ "output", 'o', "FORMAT", "text (default) or json" },
	{ "help", 'h', NULL, "this help" },
	{ 0 },
};

static void bench_compile_usage(FILE *f)
{
	fprintf(f, "Usage: npbpf bench compile [OPTIONS]\n\n"
		   "Generates a synthetic cluster (namespaces, pods in deployments, the policies\n"
		   "people write), then loads and compiles it in a child process and reports the\n"
		   "time of parse + compile alone and the child's peak memory.\n\nOptions:\n");
	bench_opts_help(f, bench_compile_opts);
}

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
	r.identities = cp.n_ids;
	r.entries = cp.n_entries + cp.n_ranges;
	r.subjects = cp.n_subjects;
	r.ipcache = cp.n_ipcache;
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

static int bench_compile(int argc, char **argv)
{
	struct cluster_gen_params gp = { .pods = 10000, .namespaces = 500, .policies = 10000,
					 .seed = 1 };
	struct sigaction saved[N_BENCH_SIGNALS];
	struct bench_compile_result r = { 0 };
	struct cluster_gen_stats st = { 0 };
	struct timespec t0, t1;
	const char *keep = NULL;
	bool json = false, reset = true, guarded = false;
	long maxrss_kb = 0;
	struct out o;
	uint64_t v;
	int c, err, ret = EXIT_USAGE;

	while ((c = bench_getopt(argc, argv, bench_compile_opts, &reset)) != -1) {
		switch (c) {
		case BENCH_OPT_PODS:
			if (bench_parse_u64("pods", optarg, 1, CLUSTER_GEN_MAX_PODS, &v))
				goto out;
			gp.pods = (uint32_t)v;
			break;
		case BENCH_OPT_NAMESPACES:
			if (bench_parse_u64("namespaces", optarg, 1, CLUSTER_GEN_MAX_NAMESPACES,
					    &v))
				goto out;
			gp.namespaces = (uint32_t)v;
			break;
		case BENCH_OPT_POLICIES:
			if (bench_parse_u64("policies", optarg, 0, CLUSTER_GEN_MAX_POLICIES, &v))
				goto out;
			gp.policies = (uint32_t)v;
			break;
		case BENCH_OPT_SEED:
			if (bench_parse_u64("seed", optarg, 0, UINT64_MAX, &gp.seed))
				goto out;
			break;
		case BENCH_OPT_KEEP_YAML:
			keep = optarg;
			break;
		case 'o':
			if (out_parse_format("bench compile", optarg, &json))
				goto out;
			break;
		case 'h':
			bench_compile_usage(stdout);
			ret = EXIT_OK;
			goto out;
		default:
			goto out;
		}
	}
	if (optind < argc) {
		log_error("bench compile: unexpected argument '%s' (see --help)", argv[optind]);
		goto out;
	}

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

/* ---- bench: subcommand dispatch. A new benchmark is one line here. */

struct bench_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct bench_cmd bench_cmds[] = {
	{ "compile", bench_compile, "parse + compile a synthetic cluster: time and peak memory" },
	{ "verdict", bench_verdict, "datapath ns/packet on a synced synthetic cluster (root)" },
};
#define N_BENCH_CMDS (sizeof(bench_cmds) / sizeof(bench_cmds[0]))

static void bench_usage(FILE *f)
{
	fprintf(f, "Usage: npbpf bench SUBCOMMAND [OPTIONS]\n\nBenchmarks.\n\nSubcommands:\n");
	for (size_t i = 0; i < N_BENCH_CMDS; i++)
		fprintf(f, "  %-10s %s\n", bench_cmds[i].name, bench_cmds[i].summary);
	fprintf(f, "\n'npbpf bench SUBCOMMAND --help' for its options.\n");
}

int cmd_bench(int argc, char **argv)
{
	if (argc < 2) {
		bench_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		bench_usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < N_BENCH_CMDS; i++) {
		if (!strcmp(argv[1], bench_cmds[i].name))
			return bench_cmds[i].run(argc - 1, argv + 1);
	}
	log_error("bench: unknown subcommand '%s' (see npbpf bench --help)", argv[1]);
	return EXIT_USAGE;
}
