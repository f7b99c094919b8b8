/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab_ip.h"
#include "lab_probe.h"
#include "lab_signal.h"
#include "lab_state.h"
#include "log.h"
#include "yaml_tree.h"

#define POLL_MS 50
/* The agent's sync count must hold still this long (its batch window is
 * 15 ms) before the lab trusts a state file that looks in step. */
#define SETTLE_MS 250
#define TAIL_LINES 20

void lab_agent_paths(const char *id, char *state_file, size_t sf_len, char *log_file,
		     size_t lf_len)
{
	snprintf(state_file, sf_len, "%s/%s.agent.json", LAB_STATE_DIR, id);
	snprintf(log_file, lf_len, "%s/%s.agent.log", LAB_STATE_DIR, id);
}

/* ---- start */

__attribute__((noreturn)) static void child(const struct lab_agent_opts *o, const char *exe,
					    int go, int log_fd)
{
	char netns[LAB_NAME_MAX + 32];
	const char *argv[32];
	int n = 0, null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	char c;

	lab_signal_reset();
	signal(SIGPIPE, SIG_DFL);
	setsid();
	/* The lab says go once the state file lists this pid. */
	if (read(go, &c, 1) != 1)
		_exit(1);
	if (null >= 0)
		dup2(null, STDIN_FILENO);
	dup2(log_fd, STDOUT_FILENO);
	dup2(log_fd, STDERR_FILENO);
	close_range(3, ~0u, 0);
	snprintf(netns, sizeof(netns), "%s/%s", LAB_NETNS_DIR, o->node_netns);
	argv[n++] = "npbpf";
	argv[n++] = "-v";
	argv[n++] = "agent";
	argv[n++] = "--node";
	argv[n++] = o->node;
	argv[n++] = "--kubeconfig";
	argv[n++] = o->kubeconfig;
	argv[n++] = "--listen";
	argv[n++] = "off";
	/* The lab's agent must not take the node's npbpf-cni socket: the
	 * lab's own (--cni with npbpf-cni), or none. */
	argv[n++] = "--cni-socket";
	argv[n++] = o->cni_socket ? o->cni_socket : "off";
	argv[n++] = "--pin-dir";
	argv[n++] = o->pin_dir;
	argv[n++] = "--node-netns";
	argv[n++] = netns;
	argv[n++] = "--state-file";
	argv[n++] = o->state_file;
	if (!o->bridged)
		argv[n++] = "--no-bridged";
	if (o->xdp)
		argv[n++] = "--xdp";
	if (o->enforce_host)
		argv[n++] = "--enforce-host";
	argv[n] = NULL;
	execv(exe, (char *const *)argv);
	fprintf(stderr, "npbpf lab: starting the agent: %s: %s\n", exe, strerror(errno));
	_exit(127);
}

int lab_agent_start(const struct lab_agent_opts *o, int (*record)(pid_t pid, void *arg),
		    void *arg, pid_t *pid)
{
	char exe[PATH_MAX];
	ssize_t n;
	int go[2], log_fd, err;

	*pid = 0;
	/* This binary by its path, so the agent shows as npbpf in ps. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0)
		exe[n] = '\0';
	else
		snprintf(exe, sizeof(exe), "/proc/self/exe");
	log_fd = open(o->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		err = -errno;
		log_error("lab: creating %s: %s", o->log_file, strerror(-err));
		return err;
	}
	if (pipe2(go, O_CLOEXEC)) {
		err = -errno;
		close(log_fd);
		log_error("lab: starting the agent: %s", strerror(-err));
		return err;
	}
	fflush(NULL);
	*pid = fork();
	if (*pid == 0) {
		close(go[1]);
		child(o, exe, go[0], log_fd);
	}
	err = *pid < 0 ? -errno : 0;
	close(go[0]);
	close(log_fd);
	if (err) {
		*pid = 0;
		close(go[1]);
		log_error("lab: starting the agent: %s", strerror(-err));
		return err;
	}
	err = record(*pid, arg);
	if (!err && write(go[1], "g", 1) != 1)
		err = -EPIPE;
	close(go[1]);
	if (err) {
		kill(*pid, SIGKILL);
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		*pid = 0;
		return err;
	}
	log_info("lab: agent started (pid %d, log %s)", (int)*pid, o->log_file);
	return 0;
}

/* ---- is it alive, is it ours */

/* 1 running, 0 gone (or a zombie nobody of ours reaps), with *status when
 * we reaped it (-1 otherwise). */
static int alive(pid_t pid, int *status)
{
	char path[64], buf[256], *p;
	int st, fd;
	ssize_t n;
	pid_t r;

	*status = -1;
	r = waitpid(pid, &st, WNOHANG);
	if (r == pid) {
		*status = st;
		return 0;
	}
	if (kill(pid, 0) && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

bool lab_agent_is(pid_t pid, const char *pin_dir)
{
	char path[64], buf[8192];
	bool agent = false, pin = false;
	ssize_t n;
	int fd;

	if (pid <= 1)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (const char *a = buf, *prev = ""; a < buf + n; prev = a, a += strlen(a) + 1) {
		if (!strcmp(a, "agent"))
			agent = true;
		if (!strcmp(prev, "--pin-dir") && !strcmp(a, pin_dir))
			pin = true;
	}
	return agent && pin;
}

int lab_agent_stop(pid_t pid, int timeout_ms)
{
	int64_t deadline = lab_now_ms() + timeout_ms;
	int status;

	if (pid <= 1)
		return 0;
	kill(pid, SIGTERM);
	while (alive(pid, &status)) {
		if (lab_now_ms() >= deadline) {
			log_warn("lab: the agent (pid %d) did not stop within %d ms of SIGTERM; "
				 "killing it",
				 (int)pid, timeout_ms);
			kill(pid, SIGKILL);
			deadline = lab_now_ms() + 1000;
			while (alive(pid, &status)) {
				if (lab_now_ms() >= deadline) {
					log_error("lab: the agent (pid %d) is still there after "
						  "SIGKILL",
						  (int)pid);
					return -ETIMEDOUT;
				}
				poll(NULL, 0, 20);
			}
			return 0;
		}
		poll(NULL, 0, 20);
	}
	return 0;
}

void lab_agent_log_tail(const char *log_file, int lines)
{
	int fd = open(log_file, O_RDONLY | O_CLOEXEC);
	char buf[16384];
	off_t size, from;
	ssize_t n;
	char *p;
	int seen = 0;

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n <= 0) {
		fprintf(stderr, "  (the agent's log %s is empty)\n", log_file);
		return;
	}
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[--n] = '\0';
	for (p = buf + n; p > buf; p--) {
		if (p[-1] == '\n' && ++seen == lines)
			break;
	}
	fprintf(stderr, "  the agent's last log lines (%s):\n", log_file);
	while (p && *p) {
		char *nl = strchr(p, '\n');

		fprintf(stderr, "    %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
		p = nl ? nl + 1 : NULL;
	}
}

/* ---- waiting for it */

struct agent_view {
	bool have, ready, sync_ok;
	unsigned long long syncs;
	char rv[KUBE_N_KINDS][128];
	unsigned long long objects[KUBE_N_KINDS];
	unsigned long long waiting, bound;
};

static const char *scalar(const struct yt_node *n)
{
	return n && n->kind == YT_SCALAR && n->str ? n->str : NULL;
}

static unsigned long long num(const struct yt_node *n)
{
	const char *s = scalar(n);

	return s ? strtoull(s, NULL, 10) : 0;
}

static int view_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct agent_view *v = arg;
	const struct yt_node *kinds = yt_map_get(root, "kinds");
	const struct yt_node *ls = yt_map_get(root, "last_sync");
	const struct yt_node *eps = yt_map_get(root, "endpoints");
	const char *s;

	(void)file;
	v->have = true;
	s = scalar(yt_map_get(root, "ready"));
	v->ready = s && !strcmp(s, "true");
	s = scalar(yt_map_get(ls, "ok"));
	v->sync_ok = s && !strcmp(s, "true");
	v->syncs = num(yt_map_get(ls, "syncs"));
	v->waiting = num(yt_map_get(eps, "waiting"));
	v->bound = num(yt_map_get(eps, "bound"));
	for (int k = 0; k < KUBE_N_KINDS; k++) {
		const struct yt_node *kn = yt_map_get(kinds, kube_kind_name((enum kube_kind)k));

		s = scalar(yt_map_get(kn, "resource_version"));
		snprintf(v->rv[k], sizeof(v->rv[k]), "%s", s ? s : "");
		v->objects[k] = num(yt_map_get(kn, "objects"));
	}
	return 0;
}

static void read_view(const char *path, struct agent_view *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	memset(v, 0, sizeof(*v));
	f = fopen(path, "re");
	if (!f)
		return;
	buf = malloc(65536);
	if (buf)
		len = fread(buf, 1, 65535, f);
	fclose(f);
	if (!buf || !len) {
		free(buf);
		return;
	}
	/* The agent renames a rewritten file into place whole. */
	yt_parse_buffer(path, buf, len, view_doc, NULL, v);
	free(buf);
}

/* Which kind is behind, or -1 when every kind is in step. */
static int behind(const struct agent_view *v, const struct kube_list_info *info)
{
	for (int k = 0; k < KUBE_N_KINDS; k++) {
		if (kube_rv_cmp(v->rv[k], info->rv[k]) >= 0)
			continue;
		if (v->rv[k][0] && kube_rv_cmp(v->rv[k], info->max_rv[k]) >= 0 &&
		    v->objects[k] == info->n_objects[k])
			continue;
		return k;
	}
	return -1;
}

static void why_not(const struct agent_view *v, const struct kube_list_info *info, char *buf,
		    size_t len)
{
	int k;

	if (!v->have) {
		snprintf(buf, len, "it wrote no state file yet");
	} else if (!v->ready) {
		snprintf(buf, len,
			 "it is not ready (last sync %s, %llu local pods waiting for their veth)",
			 v->sync_ok ? "ok" : "failed or none yet", v->waiting);
	} else if ((k = behind(v, info)) >= 0) {
		snprintf(buf, len,
			 "its %s are at resourceVersion '%s' (%llu objects), the lab listed '%s' "
			 "(%zu objects)",
			 kube_kind_name((enum kube_kind)k), v->rv[k], v->objects[k], info->rv[k],
			 info->n_objects[k]);
	} else {
		snprintf(buf, len, "it kept syncing");
	}
}

int lab_agent_wait(pid_t pid, const char *state_file, const char *log_file,
		   const struct kube_list_info *info, int timeout_ms)
{
	int64_t start = lab_now_ms(), deadline = start + timeout_ms, stable_since = 0;
	unsigned long long stable_syncs = 0;
	struct agent_view v = { 0 };
	char why[512];
	int status;

	for (;;) {
		int64_t now = lab_now_ms();

		if (lab_stop_requested())
			return -EINTR;
		if (!alive(pid, &status)) {
			if (status >= 0 && WIFEXITED(status))
				log_error("lab: the agent (pid %d) exited with status %d before it "
					  "was ready",
					  (int)pid, WEXITSTATUS(status));
			else if (status >= 0 && WIFSIGNALED(status))
				log_error("lab: the agent (pid %d) was killed by signal %d before "
					  "it was ready",
					  (int)pid, WTERMSIG(status));
			else
				log_error("lab: the agent (pid %d) is gone", (int)pid);
			lab_agent_log_tail(log_file, TAIL_LINES);
			return -ECHILD;
		}
		read_view(state_file, &v);
		if (v.have && v.ready && behind(&v, info) < 0) {
			if (!stable_since || v.syncs != stable_syncs) {
				stable_since = now;
				stable_syncs = v.syncs;
			} else if (now - stable_since >= SETTLE_MS) {
				log_info("lab: the agent is ready and in step (%llu syncs, %llu "
					 "endpoints) after %.2f s",
					 v.syncs, v.bound, (double)(now - start) / 1000.0);
				return 0;
			}
		} else {
			stable_since = 0;
		}
		if (now >= deadline) {
			why_not(&v, info, why, sizeof(why));
			log_error("lab: the agent (pid %d) did not get ready within %d s: %s",
				  (int)pid, timeout_ms / 1000, why);
			lab_agent_log_tail(log_file, TAIL_LINES);
			return -ETIMEDOUT;
		}
		poll(NULL, 0, POLL_MS);
	}
}
