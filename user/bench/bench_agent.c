/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench agent: the measurement driver (bench_agent.h).
 *
 * Phase 1 (10,000 pods / 500 namespaces / 10,000 policies; --quick: 2,000 /
 * 100 / 2,000): the replay server is filled, the node's ~100 pods get veths
 * (node netns: host sides; one pods netns: the peers with the pods'
 * addresses), the agent starts and syncs (initial sync), then the events are
 * sent one at a time, each waited for in the maps and then for the end of
 * its sync (the agent's state file), so no sample waits for another's sync:
 *  - policy: a NetworkPolicy of the benchmark's (in the namespace of a local
 *    pod, selecting all its pods) changes the port of its rule from the pods
 *    of its namespace; seen as npbpf_config's revision moving (the flip);
 *  - namespace_labels: a namespace's label that the same policy's other rule
 *    selects (namespaceSelector) is set and removed in turn; the revision;
 *  - pod_labels: a local pod gets a label of a value no pod has (a new
 *    identity); seen as the identity of its address in npbpf_ipc_host;
 *  - pod_add: a pod of another node added as a copy of one (same namespace,
 *    labels and ports: its identity exists) with a new address; seen as
 *    the address appearing in npbpf_ipc_host.
 * Then the agent is stopped (SIGTERM) and another started on the same pins
 * with --batch-ms 1: its first sync's map writes, the TC programs on a veth
 * before and after, and pod_add once more without the batch window.
 * Phase 2 (150,000 / 5,000 / 20,000; --quick: 8,000 / 200 / 2,000): a new
 * server, veths and pins, an agent, its VmRSS and VmHWM after its first sync.
 */
#include "bench_agent.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <npbpf/datapath.h>
#include <npbpf/tables.h>

#include "agent.h"
#include "bench_agent_cluster.h"
#include "bench_agent_server.h"
#include "exit_status.h"
#include "json_out.h"
#include "loader.h"
#include "log.h"
#include "pinned.h"
#include "yaml_tree.h"

#define BA_NODE "node-000"
#define BA_EVENT_DEADLINE_S 10.0
#define BA_PROBE_POLICY "npbpf-bench-probe"
#define BA_PEER_LABEL "npbpf-bench-peer"
#define BA_FIXED_PORT 9999
/* New pods' addresses: 198.19.240.0/20, above the generator's node
 * addresses (198.19.192.10 + node) and its pod /24s. */
#define BA_NEW_POD_BASE 0xc613f000u

enum ba_ev_kind { EVK_POLICY, EVK_NS, EVK_POD_LABELS, EVK_POD_ADD, EVK_POD_ADD_B1, EVK_N };

static const char *const evk_names[EVK_N] = { "policy", "namespace_labels", "pod_labels",
					      "pod_add", "pod_add_batch1" };

/* ---- what must be removed, for the signal path and the normal one */

static volatile sig_atomic_t ba_stop;
static char ba_tmp[PATH_MAX];
static char ba_ns_node[64], ba_ns_pods[64];
static char ba_pins[2][PATH_MAX];
static pid_t ba_agent = -1;

static double ba_t0;

/* A progress line on stderr, with the seconds since the start. */
static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[%6.1f s] bench agent: ", ba_now() - ba_t0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void on_signal(int sig)
{
	(void)sig;
	ba_stop = 1;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* Runs argv (no shell), output to the log file. 0 or -1. */
static int run_cmd(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- network namespaces: the node's, with one veth per local pod, and
 * one for all the pods' ends */

static void netns_down(void)
{
	if (ba_ns_node[0]) {
		char *del[] = { "ip", "netns", "del", ba_ns_node, NULL };

		run_cmd(del, true);
	}
	if (ba_ns_pods[0]) {
		char *del[] = { "ip", "netns", "del", ba_ns_pods, NULL };

		run_cmd(del, true);
	}
}

static int netns_up(const struct ba_cluster *c)
{
	char fnode[PATH_MAX + 16], fpods[PATH_MAX + 16];
	struct np_addr node;
	FILE *a, *b;
	int err = 0;

	netns_down();
	snprintf(fnode, sizeof(fnode), "%s/node.batch", ba_tmp);
	snprintf(fpods, sizeof(fpods), "%s/pods.batch", ba_tmp);
	a = fopen(fnode, "w");
	b = fopen(fpods, "w");
	if (!a || !b) {
		if (a)
			fclose(a);
		if (b)
			fclose(b);
		log_error("%s: %s", ba_tmp, strerror(errno));
		return -EIO;
	}
	cluster_gen_node_addr(0, &node);
	fprintf(a, "link set lo up\naddr add %u.%u.%u.%u/32 dev lo\n", node.bytes[0],
		node.bytes[1], node.bytes[2], node.bytes[3]);
	fprintf(b, "link set lo up\n");
	for (size_t i = 0; i < c->n_local; i++) {
		uint32_t ad = c->local[i].addr;

		fprintf(a, "link add nb%zu type veth peer name pp%zu netns %s\nlink set nb%zu up\n",
			i, i, ba_ns_pods, i);
		fprintf(b, "addr add %u.%u.%u.%u/32 dev pp%zu\nlink set pp%zu up\n", ad >> 24,
			(ad >> 16) & 255, (ad >> 8) & 255, ad & 255, i, i);
	}
	if (fclose(a) | fclose(b))
		return -EIO;
	{
		char *addn[] = { "ip", "netns", "add", ba_ns_node, NULL };
		char *addp[] = { "ip", "netns", "add", ba_ns_pods, NULL };
		char *bn[] = { "ip", "-n", ba_ns_node, "-batch", fnode, NULL };
		char *bp[] = { "ip", "-n", ba_ns_pods, "-batch", fpods, NULL };

		if (run_cmd(addn, false) || run_cmd(addp, false) || run_cmd(bn, false) ||
		    run_cmd(bp, false)) {
			log_error("making the network namespaces and veths failed "
				  "(ip, see above)");
			err = -EIO;
		}
	}
	return err;
}

/* TC program ids on the host side of the first veth, read in the node's
 * netns. 0 or -errno. */
static int query_tc(uint32_t *in, uint32_t *eg)
{
	char path[128];
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd, err = 0;
	unsigned ifindex;

	*in = *eg = 0;
	snprintf(path, sizeof(path), "/run/netns/%s", ba_ns_node);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || fd < 0 || setns(fd, CLONE_NEWNET)) {
		err = -errno;
		goto out;
	}
	ifindex = if_nametoindex("nb0");
	err = ifindex ? loader_query_tc(ifindex, in, eg) : -ENODEV;
	if (setns(self, CLONE_NEWNET))
		err = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (self >= 0)
		close(self);
	return err;
}

/* ---- the agent */

struct ba_state {
	bool present, ready, ok;
	uint64_t syncs, map_writes, bound, local_pods, waiting;
	double ms;
};

static int state_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct ba_state *s = arg;
	const struct yt_node *ls = yt_map_get(root, "last_sync");
	const struct yt_node *ep = yt_map_get(root, "endpoints");
	int64_t v;

	(void)file;
	s->present = true;
	yt_get_bool(yt_map_get(root, "ready"), &s->ready);
	yt_get_bool(yt_map_get(ls, "ok"), &s->ok);
	if (!yt_get_int(yt_map_get(ls, "syncs"), &v))
		s->syncs = (uint64_t)v;
	if (!yt_get_int(yt_map_get(ls, "map_writes"), &v))
		s->map_writes = (uint64_t)v;
	s->ms = yt_map_get(ls, "ms") ? strtod(yt_map_get(ls, "ms")->str, NULL) : 0;
	if (!yt_get_int(yt_map_get(ep, "bound"), &v))
		s->bound = (uint64_t)v;
	if (!yt_get_int(yt_map_get(ep, "local_pods"), &v))
		s->local_pods = (uint64_t)v;
	if (!yt_get_int(yt_map_get(ep, "waiting"), &v))
		s->waiting = (uint64_t)v;
	return 0;
}

struct ba_agent {
	pid_t pid;
	char state[PATH_MAX + 32];
	char log[PATH_MAX + 32];
	struct timespec seen_mtime;
	ino_t seen_ino;
	struct ba_state st;
	double started;
};

static const char *ba_keep_logs;

/* --keep-logs DIR: the agent's log goes there too. */
static void agent_log_keep(const struct ba_agent *ag)
{
	char *cp[] = { "cp", "--", (char *)ag->log, (char *)ba_keep_logs, NULL };

	if (ba_keep_logs && ag->log[0] && run_cmd(cp, false))
		log_warn("copying %s to %s failed", ag->log, ba_keep_logs);
}

static void agent_log_tail(const struct ba_agent *ag)
{
	char cmd[PATH_MAX + 64];

	say("the agent's last log lines (%s):\n", ag->log);
	snprintf(cmd, sizeof(cmd), "tail -n 15 '%s' >&2", ag->log);
	if (system(cmd))
		(void)0;
}

static int agent_start(struct ba_agent *ag, int n, uint16_t port, const char *pins,
		       unsigned batch_ms)
{
	char url[64], kc[PATH_MAX + 32], batch[16], netns[96];
	FILE *f;
	pid_t pid;

	memset(ag, 0, sizeof(*ag));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	snprintf(kc, sizeof(kc), "%s/kubeconfig", ba_tmp);
	snprintf(ag->state, sizeof(ag->state), "%s/agent.json", ba_tmp);
	snprintf(ag->log, sizeof(ag->log), "%s/agent-%d.log", ba_tmp, n);
	snprintf(batch, sizeof(batch), "%u", batch_ms);
	snprintf(netns, sizeof(netns), "/run/netns/%s", ba_ns_node);
	unlink(ag->state);
	f = fopen(kc, "w");
	if (!f)
		return -errno;
	{
		char tok[80];

		snprintf(tok, sizeof(tok), "npbpf-bench-%d", (int)getpid());
		fprintf(f,
			"apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster:\n"
			"    server: %s\nusers:\n- name: bench\n  user:\n    token: %s\n"
			"contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: bench\n"
			"current-context: bench\n",
			url, tok);
	}
	if (fclose(f))
		return -EIO;
	fflush(stdout);
	fflush(stderr);
	ag->started = ba_now();
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *argv[24];
		int n_arg = 0;

		argv[n_arg++] = "npbpf";
		/* -v on the benchmark's command line: the agent logs debug too
		 * (why the incremental path was not taken, timings, ...); the
		 * agent logs info by default, so that takes -vv there. */
		if (log_get_level() >= LOG_INFO)
			argv[n_arg++] = "-vv";
		{
			char *rest[] = { "agent", "--node", BA_NODE, "--api-server", url,
					 "--kubeconfig", kc, "--pin-dir", (char *)pins,
					 "--state-file", ag->state, "--listen", "off",
					 "--cni-socket", "off",
					 "--node-netns", netns, "--batch-ms", batch };

			for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
				argv[n_arg++] = rest[i];
		}
		argv[n_arg] = NULL;
		int fd = open(ag->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		sigset_t none;

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	ag->pid = pid;
	ba_agent = pid;
	return 0;
}

/* Stops the agent: SIGTERM, then SIGKILL after 10 s. */
static void agent_stop(struct ba_agent *ag)
{
	double until = ba_now() + 10;
	int status;

	if (ag->pid <= 0)
		return;
	kill(ag->pid, SIGTERM);
	for (;;) {
		pid_t r = waitpid(ag->pid, &status, WNOHANG);

		if (r == ag->pid || (r < 0 && errno != EINTR))
			break;
		if (ba_now() > until) {
			kill(ag->pid, SIGKILL);
			waitpid(ag->pid, &status, 0);
			break;
		}
		sleep_s(0.005);
	}
	ag->pid = -1;
	ba_agent = -1;
	agent_log_keep(ag);
}

/* Reads the state file when it changed: 1 read, 0 unchanged, -errno. */
static int agent_poll_state(struct ba_agent *ag)
{
	struct stat sb;
	struct ba_state st = { 0 };

	if (stat(ag->state, &sb))
		return errno == ENOENT ? 0 : -errno;
	if (sb.st_ino == ag->seen_ino && sb.st_mtim.tv_sec == ag->seen_mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == ag->seen_mtime.tv_nsec)
		return 0;
	if (yt_parse_file(ag->state, state_doc, NULL, &st))
		return 0; /* renamed over as we read: next turn */
	ag->seen_ino = sb.st_ino;
	ag->seen_mtime = sb.st_mtim;
	ag->st = st;
	return 1;
}

/* While set, agent_wait_syncs reads the agent's VmRSS when the server has
 * handed out every kind's complete list (what the store holds, before the
 * first sync's compile and map sync). */
static struct ba_server *ba_rss_server;
static uint64_t ba_rss_listed_kb;

static int proc_status_kb(pid_t pid, const char *field, uint64_t *kb);

/* While ba_ep_pins is set, agent_wait_syncs counts the records of
 * npbpf_endpoint in those pins (opened as soon as the agent has pinned it)
 * and notes when there are ba_ep_want: every local pod is then judged by its
 * policy (the map sync adds endpoints last, after the flip). */
static const char *ba_ep_pins;
static size_t ba_ep_want;
static double ba_ep_at;
static int ba_ep_fd = -1;

static void endpoints_poll(void)
{
	char path[PATH_MAX + 64];
	__u32 key, next, *prev = NULL;
	size_t n = 0;

	if (ba_ep_at)
		return;
	if (ba_ep_fd < 0) {
		snprintf(path, sizeof(path), "%s/%s", ba_ep_pins, NPBPF_MAP_ENDPOINT);
		ba_ep_fd = bpf_obj_get(path);
		if (ba_ep_fd < 0)
			return;
	}
	while (!bpf_map_get_next_key(ba_ep_fd, prev, &next)) {
		key = next;
		prev = &key;
		n++;
	}
	if (n >= ba_ep_want)
		ba_ep_at = ba_now();
}

static void endpoints_watch(const char *pins, size_t want)
{
	if (ba_ep_fd >= 0)
		close(ba_ep_fd);
	ba_ep_fd = -1;
	ba_ep_pins = pins;
	ba_ep_want = want;
	ba_ep_at = 0;
}

/* While set, agent_wait_syncs reads the TC programs on the first veth at
 * every turn and counts the reads that found none (a detached moment). */
static bool ba_watch_tc;
static uint32_t ba_tc_reads, ba_tc_missing;

/* Waits until the agent's state file says more than `syncs` syncs ran.
 * *at: when that was seen. 0, -ETIMEDOUT, -ECHILD (the agent died),
 * -EINTR (stopped). */
static int agent_wait(struct ba_agent *ag, uint64_t syncs, double deadline_s, double *at,
		      bool quiet);

static int agent_wait_syncs(struct ba_agent *ag, uint64_t syncs, double deadline_s, double *at)
{
	return agent_wait(ag, syncs, deadline_s, at, false);
}

/* The same, without logging a timeout. */
static int agent_wait_syncs_quiet(struct ba_agent *ag, uint64_t syncs, double deadline_s)
{
	return agent_wait(ag, syncs, deadline_s, NULL, true);
}

static int agent_wait(struct ba_agent *ag, uint64_t syncs, double deadline_s, double *at,
		      bool quiet)
{
	double until = ba_now() + deadline_s;

	for (;;) {
		int status;

		if (ba_stop)
			return -EINTR;
		if (ba_rss_server && !ba_rss_listed_kb) {
			struct ba_server_stats ss;

			ba_server_stats(ba_rss_server, &ss);
			if (ss.lists_done >= BA_N_KINDS)
				proc_status_kb(ag->pid, "VmRSS", &ba_rss_listed_kb);
		}
		if (ba_ep_pins)
			endpoints_poll();
		if (ba_watch_tc) {
			uint32_t in, eg;

			if (!query_tc(&in, &eg)) {
				ba_tc_reads++;
				ba_tc_missing += !in || !eg;
			}
		}
		if (agent_poll_state(ag) > 0 && ag->st.syncs > syncs) {
			if (at)
				*at = ba_now();
			return 0;
		}
		if (waitpid(ag->pid, &status, WNOHANG) == ag->pid) {
			ag->pid = -1;
			ba_agent = -1;
			log_error("the agent exited (status %d)",
				  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			agent_log_tail(ag);
			return -ECHILD;
		}
		if (ba_now() > until) {
			if (quiet)
				return -ETIMEDOUT;
			log_error("no sync from the agent in %.0f s", deadline_s);
			agent_log_tail(ag);
			return -ETIMEDOUT;
		}
		sleep_s(0.001);
	}
}

static int proc_status_kb(pid_t pid, const char *field, uint64_t *kb)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			*kb = strtoull(line + fl + 1, NULL, 10);
			err = 0;
			break;
		}
	fclose(f);
	return err;
}

/* ---- samples */

struct ba_series {
	double ms[BENCH_AGENT_MAX_SAMPLES];
	uint32_t n, timeouts, mismatched;
	uint32_t full_syncs; /* events followed by a full sync (not incremental) */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank. */
static double pct(const struct ba_series *s, double p)
{
	double v[BENCH_AGENT_MAX_SAMPLES];
	size_t r;

	if (!s->n)
		return 0;
	memcpy(v, s->ms, s->n * sizeof(v[0]));
	qsort(v, s->n, sizeof(v[0]), cmp_double);
	r = (size_t)(p * s->n);
	if ((double)r < p * s->n)
		r++;
	return v[r ? r - 1 : 0];
}

struct ba_maps {
	int config, ipc;
};

static int maps_open(struct ba_maps *m, const char *pins)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", pins, NPBPF_MAP_CONFIG);
	m->config = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/%s", pins, NPBPF_MAP_IPC_HOST);
	m->ipc = bpf_obj_get(path);
	if (m->config < 0 || m->ipc < 0) {
		log_error("opening the pinned maps in %s: %s", pins, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

static void maps_close(struct ba_maps *m)
{
	if (m->config >= 0)
		close(m->config);
	if (m->ipc >= 0)
		close(m->ipc);
	m->config = m->ipc = -1;
}

static uint32_t revision(const struct ba_maps *m)
{
	struct npbpf_config c = { 0 };
	__u32 key = 0;

	bpf_map_lookup_elem(m->config, &key, &c);
	return c.revision;
}

/* The identity of an IPv4 address in npbpf_ipc_host, 0 when absent. */
static uint32_t ipc_identity(const struct ba_maps *m, uint32_t addr)
{
	struct npbpf_addr k = { .family = NPBPF_FAMILY_V4 };
	struct npbpf_ipc_value v = { 0 };

	k.addr[0] = (uint8_t)(addr >> 24);
	k.addr[1] = (uint8_t)(addr >> 16);
	k.addr[2] = (uint8_t)(addr >> 8);
	k.addr[3] = (uint8_t)addr;
	if (bpf_map_lookup_elem(m->ipc, &k, &v))
		return 0;
	return v.identity ? v.identity : 0xffffffffu;
}

static void ip_str(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* The benchmark's policy: in the namespace of the first local pod, every
 * pod of it: from the namespaces labelled BA_PEER_LABEL=yes on a fixed
 * port, and from its own namespace on `port`. */
static char *probe_policy(const char *ns, unsigned port)
{
	char *s = NULL;

	if (asprintf(&s,
		     "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
		     "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},\"spec\":{"
		     "\"podSelector\":{},\"policyTypes\":[\"Ingress\"],\"ingress\":["
		     "{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"%s\":\"yes\"}}}],"
		     "\"ports\":[{\"protocol\":\"TCP\",\"port\":%u}]},"
		     "{\"from\":[{\"podSelector\":{}}],"
		     "\"ports\":[{\"protocol\":\"TCP\",\"port\":%u}]}]}}",
		     BA_PROBE_POLICY, ns, BA_PEER_LABEL, BA_FIXED_PORT, port) < 0)
		return NULL;
	return s;
}

struct ba_run {
	struct ba_server *srv;
	struct ba_cluster c;
	struct ba_agent ag;
	struct ba_maps m;
	char *peer_ns_json; /* as loaded */
	char **local_json;  /* as loaded */
	char *tmpl_json;
	uint32_t tmpl_id;
	uint32_t n_added;
};

/* One event and its wait. 0 (sample in *ms, or a timeout counted), or
 * -errno to stop. */
static int sample(struct ba_run *r, enum ba_ev_kind k, uint32_t i, struct ba_series *s)
{
	char key[300], *json = NULL, lbl[96], from[300], to[300];
	uint64_t syncs = r->ag.st.syncs;
	uint32_t rev = revision(&r->m), watch_addr = 0, id0 = 0;
	const char *type = "MODIFIED";
	enum ba_kind bk;
	double t0 = 0, t1 = 0;
	bool seen = false;
	int err;

	switch (k) {
	case EVK_POLICY:
		bk = BA_POL;
		snprintf(key, sizeof(key), "%s/%s", r->c.local[0].ns, BA_PROBE_POLICY);
		json = probe_policy(r->c.local[0].ns, 20000 + i + 1);
		break;
	case EVK_NS:
		bk = BA_NS;
		snprintf(key, sizeof(key), "%s", r->c.peer_ns);
		/* Labelled on even samples, back as loaded on odd ones. */
		snprintf(lbl, sizeof(lbl), "\"labels\":{\"%s\":\"yes\",", BA_PEER_LABEL);
		json = i % 2 ? strdup(r->peer_ns_json)
			     : ba_replace(r->peer_ns_json, "\"labels\":{", lbl, false);
		break;
	case EVK_POD_LABELS: {
		size_t j = i % r->c.n_local;

		bk = BA_POD;
		snprintf(key, sizeof(key), "%s", r->c.local[j].key);
		snprintf(lbl, sizeof(lbl), "\"labels\":{\"npbpf-bench-id\":\"b%u\",", i);
		json = ba_replace(r->local_json[j], "\"labels\":{", lbl, false);
		watch_addr = r->c.local[j].addr;
		id0 = ipc_identity(&r->m, watch_addr);
		break;
	}
	case EVK_POD_ADD:
	case EVK_POD_ADD_B1: {
		char *named;
		char ip_old[32], ip_new[32];
		uint32_t n = r->n_added++;

		bk = BA_POD;
		type = "ADDED";
		watch_addr = BA_NEW_POD_BASE + n;
		snprintf(key, sizeof(key), "%s/%s-b%u", r->c.tmpl.ns, r->c.tmpl.name, n);
		snprintf(from, sizeof(from), "\"name\":\"%s\"", r->c.tmpl.name);
		snprintf(to, sizeof(to), "\"name\":\"%s-b%u\"", r->c.tmpl.name, n);
		named = ba_replace(r->tmpl_json, from, to, false);
		ip_str(r->c.tmpl.addr, ip_old, sizeof(ip_old));
		ip_str(watch_addr, ip_new, sizeof(ip_new));
		snprintf(from, sizeof(from), "\"%s\"", ip_old);
		snprintf(to, sizeof(to), "\"%s\"", ip_new);
		json = named ? ba_replace(named, from, to, true) : NULL;
		free(named);
		break;
	}
	default:
		return -EINVAL;
	}
	if (!json) {
		log_error("making the %s event failed", evk_names[k]);
		return -ENOMEM;
	}
	err = ba_server_event(r->srv, bk, type, key, json, strlen(json), &t0);
	free(json);
	if (err)
		return err;
	while (!ba_stop) {
		double now = ba_now();

		switch (k) {
		case EVK_POLICY:
		case EVK_NS:
			seen = revision(&r->m) != rev;
			break;
		case EVK_POD_LABELS:
			seen = ipc_identity(&r->m, watch_addr) != id0;
			break;
		default: {
			uint32_t id = ipc_identity(&r->m, watch_addr);

			seen = id != 0;
			if (seen && id != r->tmpl_id)
				s->mismatched++;
			break;
		}
		}
		if (seen) {
			t1 = now;
			break;
		}
		if (now - t0 > BA_EVENT_DEADLINE_S)
			break;
		sleep_s(0.0001);
	}
	if (ba_stop)
		return -EINTR;
	if (seen)
		s->ms[s->n++] = (t1 - t0) * 1e3;
	else
		s->timeouts++;
	/* The end of the sync the event started, so the next event finds the
	 * agent idle. Pod changes the agent applies incrementally (ipcache
	 * writes, no sync: agent_fast.c) report none; its check (a full sync a
	 * second after the last one) is not waited for, so a series of pod_add
	 * events runs as a burst would. */
	{
		double wait = !seen ? 1.0
			      : k == EVK_POD_ADD || k == EVK_POD_ADD_B1
				      ? (3 * (t1 - t0) > 0.3 ? 3 * (t1 - t0) : 0.3)
				      : BA_EVENT_DEADLINE_S;

		err = agent_wait_syncs_quiet(&r->ag, syncs, wait);
	}
	if (!err)
		s->full_syncs++;
	else if (err != -ETIMEDOUT)
		return err;
	else if (seen && k != EVK_POD_ADD && k != EVK_POD_ADD_B1)
		log_warn("a %s event changed the maps but no sync ended", evk_names[k]);
	sleep_s(0.005);
	return 0;
}

static int series(struct ba_run *r, enum ba_ev_kind k, uint32_t n, struct ba_series *s)
{
	say("%u %s events...\n", n, evk_names[k]);
	for (uint32_t i = 0; i < n; i++) {
		int err = sample(r, k, i, s);

		if (err)
			return err;
	}
	say("  %s p50 %.1f ms, p99 %.1f ms (%u timeouts)\n",
		evk_names[k], pct(s, 0.5), pct(s, 0.99), s->timeouts);
	return 0;
}

/* ---- results */

struct ba_initial {
	/* first LIST request -> every local pod's endpoint in the maps (fresh
	 * pins: enforced), else -> the first sync in the state file */
	double seconds;
	double state_file_s; /* first LIST request -> the first sync in the state file */
	bool enforced;	     /* seconds is the endpoints' */
	double from_exec; /* agent exec -> first sync seen */
	double list_s;	  /* first LIST request -> last page handed out */
	double server_s;  /* building LIST bodies */
	uint64_t list_requests;
	struct ba_state st;
};

struct ba_results {
	uint32_t pods, namespaces, policies, samples;
	uint32_t mem_pods, mem_namespaces, mem_policies;
	size_t n_local;
	double gen_s, convert_s, mem_gen_s, mem_convert_s;
	struct ba_initial init, restart_init, mem_init;
	struct ba_series ev[EVK_N];
	bool have_restart, have_memory;
	uint32_t tc_before[2], tc_after[2];
	uint32_t tc_reads, tc_missing; /* during the restart: reads, reads without programs */
	uint64_t rss_kb, hwm_kb;
	uint64_t rss_listed_kb; /* when the lists were all handed out, before the sync */
};

/* Starts an agent and waits for its first sync. */
static int first_sync(struct ba_run *r, int n, const char *pins, unsigned batch_ms,
		      double deadline_s, struct ba_initial *in)
{
	struct ba_server_stats ss;
	double at = 0;
	int err;

	bool fresh = access(pins, F_OK) != 0;
	double ep_at;

	ba_server_stats_reset(r->srv);
	if (fresh)
		endpoints_watch(pins, r->c.n_local);
	err = agent_start(&r->ag, n, ba_server_port(r->srv), pins, batch_ms);
	if (err) {
		log_error("starting the agent: %s", strerror(-err));
		return err;
	}
	err = agent_wait_syncs(&r->ag, 0, deadline_s, &at);
	ep_at = ba_ep_at;
	endpoints_watch(NULL, 0);
	if (err)
		return err;
	ba_server_stats(r->srv, &ss);
	in->st = r->ag.st;
	in->state_file_s = ss.first_list_at ? at - ss.first_list_at : at - r->ag.started;
	in->enforced = fresh && ep_at;
	if (in->enforced)
		at = ep_at;
	in->from_exec = at - r->ag.started;
	in->seconds = ss.first_list_at ? at - ss.first_list_at : in->from_exec;
	in->list_s = ss.last_list_at - ss.first_list_at;
	in->server_s = ss.list_build_s;
	in->list_requests = ss.list_requests;
	if (!in->st.ok)
		log_warn("the agent's first sync failed (see %s)", r->ag.log);
	say(
		"agent %d synced: %.3f s from its first LIST to %s (%.3f s from exec), "
		"%llu map writes, %llu of %llu local pods bound\n",
		n, in->seconds, in->enforced ? "endpoints in the maps" : "its state file",
		in->from_exec, (unsigned long long)in->st.map_writes,
		(unsigned long long)in->st.bound, (unsigned long long)in->st.local_pods);
	return 0;
}

static void run_free(struct ba_run *r)
{
	agent_stop(&r->ag);
	maps_close(&r->m);
	ba_server_stop(r->srv);
	r->srv = NULL;
	for (size_t i = 0; r->local_json && i < r->c.n_local; i++)
		free(r->local_json[i]);
	free(r->local_json);
	free(r->peer_ns_json);
	free(r->tmpl_json);
	ba_cluster_free(&r->c);
	memset(r, 0, sizeof(*r));
	r->m.config = r->m.ipc = -1;
}

/* A server with the cluster, the veths for its local pods. */
static int run_prepare(struct ba_run *r, const struct bench_agent_args *a,
		       const struct cluster_gen_params *gp)
{
	char tok[80], *pol;
	int err;

	memset(r, 0, sizeof(*r));
	r->m.config = r->m.ipc = -1;
	r->ag.pid = -1;
	snprintf(tok, sizeof(tok), "npbpf-bench-%d", (int)getpid());
	err = ba_server_start(tok, a->streaming, &r->srv);
	if (err)
		return err;
	say("generating %u pods, %u namespaces, %u policies (seed %llu)...\n",
		gp->pods, gp->namespaces, gp->policies, (unsigned long long)gp->seed);
	err = ba_cluster_load(r->srv, gp, BA_NODE, &r->c);
	if (err)
		return err;
	say(
		"%.1f MB of YAML in %.1f s, %.1f MB of JSON in %.1f s; %zu pods on "
		"%s\n",
		(double)r->c.yaml_bytes / 1048576, r->c.gen_s, (double)r->c.json_bytes / 1048576,
		r->c.convert_s, r->c.n_local, BA_NODE);
	pol = probe_policy(r->c.local[0].ns, 20000);
	if (!pol)
		return -ENOMEM;
	{
		char key[300];

		snprintf(key, sizeof(key), "%s/%s", r->c.local[0].ns, BA_PROBE_POLICY);
		err = ba_server_put(r->srv, BA_POL, key, pol, strlen(pol));
	}
	free(pol);
	if (err)
		return err;
	r->peer_ns_json = ba_server_get(r->srv, BA_NS, r->c.peer_ns);
	r->tmpl_json = ba_server_get(r->srv, BA_POD, r->c.tmpl.key);
	r->local_json = calloc(r->c.n_local, sizeof(*r->local_json));
	if (!r->peer_ns_json || !r->tmpl_json || !r->local_json)
		return -ENOMEM;
	for (size_t i = 0; i < r->c.n_local; i++)
		if (!(r->local_json[i] = ba_server_get(r->srv, BA_POD, r->c.local[i].key)))
			return -ENOMEM;
	say("%zu veths in netns %s, their peers in %s\n", r->c.n_local,
		ba_ns_node, ba_ns_pods);
	return netns_up(&r->c);
}

static int phase_events(const struct bench_agent_args *a, struct ba_results *res)
{
	struct cluster_gen_params gp = { .pods = a->quick ? 2000 : 10000,
					 .namespaces = a->quick ? 100 : 500,
					 .policies = a->quick ? 2000 : 10000,
					 .seed = a->seed };
	uint32_t n = res->samples;
	struct ba_run r;
	int err;

	res->pods = gp.pods;
	res->namespaces = gp.namespaces;
	res->policies = gp.policies;
	err = run_prepare(&r, a, &gp);
	if (err)
		goto out;
	res->n_local = r.c.n_local;
	res->gen_s = r.c.gen_s;
	res->convert_s = r.c.convert_s;
	err = first_sync(&r, 1, ba_pins[0], AGENT_DEFAULT_BATCH_MS, 120, &res->init);
	if (err)
		goto out;
	err = maps_open(&r.m, ba_pins[0]);
	if (err)
		goto out;
	r.tmpl_id = ipc_identity(&r.m, r.c.tmpl.addr);
	err = series(&r, EVK_POLICY, n, &res->ev[EVK_POLICY]);
	if (!err)
		err = series(&r, EVK_NS, n, &res->ev[EVK_NS]);
	if (!err)
		err = series(&r, EVK_POD_LABELS, n, &res->ev[EVK_POD_LABELS]);
	if (!err)
		err = series(&r, EVK_POD_ADD, n, &res->ev[EVK_POD_ADD]);
	if (err)
		goto out;

	/* Restart with nothing changed. */
	if (query_tc(&res->tc_before[0], &res->tc_before[1]))
		log_warn("reading the TC programs on nb0 failed");
	say("restarting the agent (SIGTERM, a new one on the same pins, "
			"--batch-ms 1)...\n");
	agent_stop(&r.ag);
	ba_watch_tc = true;
	ba_tc_reads = ba_tc_missing = 0;
	err = first_sync(&r, 2, ba_pins[0], 1, 120, &res->restart_init);
	ba_watch_tc = false;
	res->tc_reads = ba_tc_reads;
	res->tc_missing = ba_tc_missing;
	if (err)
		goto out;
	if (query_tc(&res->tc_after[0], &res->tc_after[1]))
		log_warn("reading the TC programs on nb0 failed");
	res->have_restart = true;
	err = series(&r, EVK_POD_ADD_B1, n, &res->ev[EVK_POD_ADD_B1]);
out:
	run_free(&r);
	return err;
}

static int phase_memory(const struct bench_agent_args *a, struct ba_results *res)
{
	struct cluster_gen_params gp = { .pods = a->quick ? 8000 : 150000,
					 .namespaces = a->quick ? 200 : 5000,
					 .policies = a->quick ? 2000 : 20000,
					 .seed = a->seed };
	struct ba_run r;
	int err;

	res->mem_pods = gp.pods;
	res->mem_namespaces = gp.namespaces;
	res->mem_policies = gp.policies;
	err = run_prepare(&r, a, &gp);
	if (err)
		goto out;
	res->mem_gen_s = r.c.gen_s;
	res->mem_convert_s = r.c.convert_s;
	ba_rss_server = r.srv;
	ba_rss_listed_kb = 0;
	err = first_sync(&r, 3, ba_pins[1], AGENT_DEFAULT_BATCH_MS, 600, &res->mem_init);
	ba_rss_server = NULL;
	res->rss_listed_kb = ba_rss_listed_kb;
	if (err)
		goto out;
	if (proc_status_kb(r.ag.pid, "VmRSS", &res->rss_kb) ||
	    proc_status_kb(r.ag.pid, "VmHWM", &res->hwm_kb)) {
		log_error("reading /proc/%d/status failed", (int)r.ag.pid);
		err = -EIO;
		goto out;
	}
	res->have_memory = true;
	say("agent RSS %.1f MB after its first sync, peak %.1f MB\n",
		(double)res->rss_kb / 1024, (double)res->hwm_kb / 1024);
out:
	run_free(&r);
	return err;
}

static void out_series(struct out *o, const char *key, const struct ba_series *s)
{
	out_obj_begin(o, key);
	out_uint(o, "samples", s->n);
	out_double(o, "p50_ms", pct(s, 0.5), 2);
	out_double(o, "p99_ms", pct(s, 0.99), 2);
	out_double(o, "max_ms", pct(s, 1.0), 2);
	out_uint(o, "timeouts", s->timeouts);
	out_uint(o, "full_syncs", s->full_syncs);
	if (s->mismatched)
		out_uint(o, "other_identity", s->mismatched);
	out_obj_end(o);
}

static void out_initial(struct out *o, const char *key, const struct ba_initial *in)
{
	out_obj_begin(o, key);
	out_double(o, "seconds", in->seconds, 3);
	out_str(o, "until", in->enforced ? "every local pod's endpoint in the maps"
				       : "the first sync in the agent's state file");
	out_double(o, "from_exec_seconds", in->from_exec, 3);
	out_double(o, "state_file_seconds", in->state_file_s, 3);
	out_double(o, "list_seconds", in->list_s, 3);
	out_double(o, "server_build_seconds", in->server_s, 3);
	out_uint(o, "list_requests", in->list_requests);
	out_double(o, "agent_sync_ms", in->st.ms, 1);
	out_uint(o, "map_writes", in->st.map_writes);
	out_bool(o, "ok", in->st.ok);
	out_uint(o, "local_pods", in->st.local_pods);
	out_uint(o, "local_bound", in->st.bound);
	out_obj_end(o);
}

static void report(const struct bench_agent_args *a, const struct ba_results *res)
{
	struct out o;

	out_init(&o, stdout, a->json);
	out_obj_begin(&o, NULL);
	out_double(&o, "initial_sync_seconds", res->init.seconds, 3);
	out_obj_begin(&o, "event_p99_ms");
	out_double(&o, "policy", pct(&res->ev[EVK_POLICY], 0.99), 2);
	out_double(&o, "namespace_labels", pct(&res->ev[EVK_NS], 0.99), 2);
	out_double(&o, "pod_labels", pct(&res->ev[EVK_POD_LABELS], 0.99), 2);
	out_double(&o, "pod_add", pct(&res->ev[EVK_POD_ADD], 0.99), 2);
	out_double(&o, "pod_add_batch1", pct(&res->ev[EVK_POD_ADD_B1], 0.99), 2);
	out_obj_end(&o);
	if (res->have_memory) {
		out_double(&o, "rss_mb_150k", (double)res->rss_kb / 1024, 1);
		out_double(&o, "peak_rss_mb_150k", (double)res->hwm_kb / 1024, 1);
	}
	if (res->have_restart) {
		out_uint(&o, "restart_map_writes", res->restart_init.st.map_writes);
		out_bool(&o, "restart_programs_kept",
			 res->tc_before[0] && res->tc_before[0] == res->tc_after[0] &&
				 res->tc_before[1] == res->tc_after[1]);
		out_bool(&o, "restart_never_detached",
			 res->tc_before[0] && res->tc_after[0] && res->tc_reads && !res->tc_missing);
	}
	out_bool(&o, "quick", a->quick);
	out_uint(&o, "seed", a->seed);
	out_obj_begin(&o, "cluster");
	out_uint(&o, "pods", res->pods);
	out_uint(&o, "namespaces", res->namespaces);
	out_uint(&o, "policies", res->policies);
	out_str(&o, "node", BA_NODE);
	out_uint(&o, "local_pods", res->n_local);
	out_double(&o, "generate_seconds", res->gen_s, 2);
	out_double(&o, "to_json_seconds", res->convert_s, 2);
	out_obj_end(&o);
	out_str(&o, "list_mode", a->streaming ? "streaming (sendInitialEvents)"
					      : "paginated LIST (sendInitialEvents refused: 400)");
	out_initial(&o, "initial_sync", &res->init);
	out_uint(&o, "batch_ms", AGENT_DEFAULT_BATCH_MS);
	out_obj_begin(&o, "events");
	for (int k = 0; k < EVK_N; k++)
		out_series(&o, evk_names[k], &res->ev[k]);
	out_obj_end(&o);
	if (res->have_restart) {
		out_obj_begin(&o, "restart");
		out_initial(&o, "first_sync", &res->restart_init);
		out_uint(&o, "tc_ingress_before", res->tc_before[0]);
		out_uint(&o, "tc_egress_before", res->tc_before[1]);
		out_uint(&o, "tc_ingress_after", res->tc_after[0]);
		out_uint(&o, "tc_egress_after", res->tc_after[1]);
		out_uint(&o, "tc_reads_during_restart", res->tc_reads);
		out_uint(&o, "tc_reads_without_programs", res->tc_missing);
		out_obj_end(&o);
	}
	if (res->have_memory) {
		out_obj_begin(&o, "memory");
		out_uint(&o, "pods", res->mem_pods);
		out_uint(&o, "namespaces", res->mem_namespaces);
		out_uint(&o, "policies", res->mem_policies);
		out_double(&o, "rss_mb", (double)res->rss_kb / 1024, 1);
		out_double(&o, "peak_rss_mb", (double)res->hwm_kb / 1024, 1);
		out_double(&o, "rss_mb_when_listed", (double)res->rss_listed_kb / 1024, 1);
		out_double(&o, "generate_seconds", res->mem_gen_s, 2);
		out_double(&o, "to_json_seconds", res->mem_convert_s, 2);
		out_initial(&o, "initial_sync", &res->mem_init);
		out_obj_end(&o);
	}
	out_str(&o, "includes",
		"initial_sync_seconds: from the agent's first LIST request to the moment every "
		"local pod's endpoint record is in the pinned maps (the map sync writes them "
		"last; its state file comes later, after a metrics refresh: state_file_seconds): "
		"listing over plain HTTP from the bench's own C server (its share: "
		"server_build_seconds), the BPF load, decoding, the batch window, compile, map "
		"writes; event_p99_ms: from the event handed to the open watch "
		"to its effect seen in the pinned maps (HTTP chunk, decode, batch window, "
		"compile, map writes), sampled every 0.1 ms; pod_add_batch1 with --batch-ms 1; "
		"rss: VmRSS and VmHWM of the agent process after its first sync");
	out_obj_end(&o);
	out_finish(&o);
}

static void cleanup(void)
{
	if (ba_agent > 0) {
		int status;

		kill(ba_agent, SIGTERM);
		for (int i = 0; i < 1000 && waitpid(ba_agent, &status, WNOHANG) == 0; i++)
			sleep_s(0.01);
		kill(ba_agent, SIGKILL);
		waitpid(ba_agent, &status, 0);
		ba_agent = -1;
	}
	netns_down();
	for (int i = 0; i < 2; i++)
		if (ba_pins[i][0] && !access(ba_pins[i], F_OK))
			pinned_remove_dir(ba_pins[i]);
	if (ba_tmp[0]) {
		char *rm[] = { "rm", "-rf", "--", ba_tmp, NULL };

		run_cmd(rm, true);
	}
}

int bench_agent(const struct bench_agent_args *a)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal }, saved[3];
	struct ba_results *res = calloc(1, sizeof(*res));
	const char *dir = getenv("TMPDIR");
	int err, status = EXIT_FAIL;

	if (!res) {
		log_error("out of memory");
		return EXIT_FAIL;
	}
	if (geteuid() != 0) {
		log_error("needs root (BPF, network namespaces)");
		free(res);
		return EXIT_FAIL;
	}
	res->samples = a->samples ? a->samples
				  : a->quick ? BENCH_AGENT_QUICK_SAMPLES : BENCH_AGENT_SAMPLES;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &saved[i]);
	ba_stop = 0;
	ba_t0 = ba_now();
	ba_keep_logs = a->keep_logs;
	snprintf(ba_tmp, sizeof(ba_tmp), "%s/npbpf-bench-agent-XXXXXX", dir && *dir ? dir : "/tmp");
	if (!mkdtemp(ba_tmp)) {
		log_error("mkdtemp %s: %s", ba_tmp, strerror(errno));
		ba_tmp[0] = '\0';
		goto out;
	}
	snprintf(ba_ns_node, sizeof(ba_ns_node), "npbpf-ba-%d-node", (int)getpid());
	snprintf(ba_ns_pods, sizeof(ba_ns_pods), "npbpf-ba-%d-pods", (int)getpid());
	snprintf(ba_pins[0], sizeof(ba_pins[0]), "%s/npbpf-bench-agent-%d", PINNED_BPFFS_ROOT,
		 (int)getpid());
	snprintf(ba_pins[1], sizeof(ba_pins[1]), "%s/npbpf-bench-agent-%d-mem", PINNED_BPFFS_ROOT,
		 (int)getpid());

	err = phase_events(a, res);
	netns_down();
	if (!err && ba_pins[0][0])
		pinned_remove_dir(ba_pins[0]);
	if (!err && !a->no_memory && !ba_stop)
		err = phase_memory(a, res);
	if (ba_stop) {
		log_error("interrupted; cleaned up");
		goto out;
	}
	if (err)
		goto out;
	report(a, res);
	status = EXIT_OK;
out:
	cleanup();
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &saved[i], NULL);
	free(res);
	return status;
}
