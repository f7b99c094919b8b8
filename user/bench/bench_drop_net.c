/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_drop_net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define NETNS_DIR "/run/netns"

/* Locally administered, the address's last bytes in them. */
const uint8_t bd_pod_mac[6] = { 0x02, 0x00, 0xc6, 0x12, 0x00, 0x0a };
const uint8_t bd_podh_mac[6] = { 0x02, 0x00, 0xc6, 0x12, 0x00, 0x01 };
const uint8_t bd_rcv_mac[6] = { 0x02, 0x00, 0xc6, 0x12, 0x01, 0x0a };
const uint8_t bd_rcvh_mac[6] = { 0x02, 0x00, 0xc6, 0x12, 0x01, 0x01 };

static const char *const world_tag[BD_N_WORLDS] = { "bpf", "ipt", "nft" };

void bd_net_init(struct bd_net *n)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->prefix, sizeof(n->prefix), "%s%ld", BD_NETNS_PREFIX, (long)getpid());
	for (int w = 0; w < BD_N_WORLDS; w++) {
		snprintf(n->w[w].pod, sizeof(n->w[w].pod), "%s-%s-pod", n->prefix, world_tag[w]);
		snprintf(n->w[w].node, sizeof(n->w[w].node), "%s-%s-node", n->prefix,
			 world_tag[w]);
		snprintf(n->w[w].rcv, sizeof(n->w[w].rcv), "%s-%s-rcv", n->prefix, world_tag[w]);
	}
}

/* ---- Running programs */

static void child_exec(const char *netns, const char *const *argv, int in_fd, int out_fd)
{
	int fd;

	/* Not the bench's handlers or masks: a Ctrl-C stops the child too. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL); /* ignored by the bench: exec would keep that */
	if (netns) {
		char path[128];

		snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, netns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET))
			_exit(126);
	}
	if (dup2(in_fd, 0) < 0 || (out_fd >= 0 && dup2(out_fd, 1) < 0))
		_exit(126);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

/* Feeds input and collects the output at once: a big rule set on stdin
 * and a big listing on stdout must not wait for each other. */
static int pump(int in_fd, const char *input, int out_fd, char **out)
{
	size_t in_len = input ? strlen(input) : 0, in_off = 0, len = 0, cap = 0;
	char *buf = NULL;
	int err = 0;

	if (!in_len && in_fd >= 0) { /* nothing to say: end of file at once */
		close(in_fd);
		in_fd = -1;
	}
	while (in_fd >= 0 || out_fd >= 0) {
		struct pollfd p[2] = { { .fd = in_fd, .events = POLLOUT },
				       { .fd = out_fd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (in_fd >= 0 && p[0].revents) {
			ssize_t w = write(in_fd, input + in_off, in_len - in_off);

			if (w > 0)
				in_off += (size_t)w;
			if (w <= 0 || in_off == in_len) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (out_fd >= 0 && p[1].revents) {
			ssize_t r;

			if (len + 4096 + 1 > cap) {
				char *nb = realloc(buf, cap ? cap * 2 : 8192);

				if (!nb) {
					err = -ENOMEM;
					break;
				}
				buf = nb;
				cap = cap ? cap * 2 : 8192;
			}
			r = read(out_fd, buf + len, cap - len - 1);
			if (r > 0)
				len += (size_t)r;
			else if (r == 0 || errno != EINTR) {
				close(out_fd);
				out_fd = -1;
			}
		}
	}
	if (in_fd >= 0)
		close(in_fd);
	if (out_fd >= 0)
		close(out_fd);
	if (out && !err) {
		if (!buf)
			buf = calloc(1, 1);
		else
			buf[len] = '\0';
		*out = buf;
		if (!buf)
			err = -ENOMEM;
		buf = NULL;
	}
	free(buf);
	return err;
}

int bd_exec(const char *netns, const char *const *argv, const char *input, char **out)
{
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, status, err = 0;
	pid_t pid;

	if (out)
		*out = NULL;
	if (pipe2(in_pipe, O_CLOEXEC) || (out && pipe2(out_pipe, O_CLOEXEC))) {
		err = -errno;
		log_error("pipe: %s", strerror(-err));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		log_error("fork: %s", strerror(-err));
		goto out;
	}
	if (pid == 0)
		child_exec(netns, argv, in_pipe[0], out ? out_pipe[1] : -1);
	close(in_pipe[0]);
	in_pipe[0] = -1;
	if (out) {
		close(out_pipe[1]);
		out_pipe[1] = -1;
	}
	err = pump(in_pipe[1], input, out ? out_pipe[0] : -1, out);
	in_pipe[1] = out_pipe[0] = -1; /* pump closed them */
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (!err && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		err = WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EIO;
		if (err == -ENOENT)
			log_error("%s: not found (is its package installed?)", argv[0]);
	}
	if (err && out) {
		free(*out);
		*out = NULL;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in_pipe[i] >= 0)
			close(in_pipe[i]);
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
	}
	return err;
}

/* ip -batch on text, in netns (NULL: ours). */
static int ip_batch(const char *netns, const char *text, const char *what)
{
	const char *argv[] = { "ip", "-batch", "-", NULL };
	int err = bd_exec(netns, argv, text, NULL);

	if (err)
		log_error("%s failed (ip -batch)", what);
	return err;
}

/* ---- Namespaces */

int bd_netns_enter(const char *name, int *saved)
{
	char path[128];
	int fd, err;

	*saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0) {
		err = -errno;
		log_error("/proc/thread-self/ns/net: %s", strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		err = -errno;
		log_error("entering %s: %s", name, strerror(-err));
		if (fd >= 0)
			close(fd);
		close(*saved);
		*saved = -1;
		return err;
	}
	close(fd);
	return 0;
}

int bd_netns_leave(int saved)
{
	int err = 0;

	if (saved < 0)
		return 0;
	if (setns(saved, CLONE_NEWNET)) {
		err = -errno;
		log_error("returning to our network namespace: %s", strerror(-err));
	}
	close(saved);
	return err;
}

static int sysctl_set(const char *path, const char *value)
{
	char full[160];
	int fd, err = 0;

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	fd = open(full, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		log_error("%s: %s", full, strerror(-err));
	return err;
}

/* Sysctls of every namespace (no IPv6: nothing of the flood is, and
 * neighbour discovery would only add packets to count), and routing with
 * no reverse-path filter for the node. Before the veths exist, so that
 * they inherit the defaults. */
static int ns_sysctls(const char *name, bool node)
{
	static const char *const common[][2] = {
		{ "net/ipv6/conf/all/disable_ipv6", "1" },
		{ "net/ipv6/conf/default/disable_ipv6", "1" },
		{ "net/ipv4/conf/all/rp_filter", "0" },
		{ "net/ipv4/conf/default/rp_filter", "0" },
	};
	int saved, err;

	err = bd_netns_enter(name, &saved);
	for (size_t i = 0; !err && i < sizeof(common) / sizeof(common[0]); i++)
		err = sysctl_set(common[i][0], common[i][1]);
	if (!err && node)
		err = sysctl_set("net/ipv4/ip_forward", "1");
	if (bd_netns_leave(saved) && !err)
		err = -EIO;
	return err;
}

/* GRO on a veth gives it NAPI without an XDP program: frames another veth
 * transmits with ndo_xdp_xmit (the live generator) are only taken by a
 * veth with NAPI; the others are dropped before any hook. */
static int gro_on(const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_SGRO, .data = 1 };
	struct ifreq ifr;
	int fd, err = 0;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCETHTOOL, &ifr))
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		log_error("turning GRO on for %s: %s", ifname, strerror(-err));
	return err;
}

static void fmt_mac(char *buf, const uint8_t *m)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* The interface indexes the runs need, each read in its own namespace;
 * and GRO on for the host veth, which has no XDP program yet. */
static int world_indexes(struct bd_world_net *w)
{
	const char *ns[3] = { w->node, w->pod, w->rcv };
	const char *dev[3] = { "podh", "eth0", "eth0" };
	uint32_t *idx[3] = { &w->podh_ifindex, &w->pod_ifindex, &w->rcv_ifindex };
	int err = 0;

	for (int i = 0; !err && i < 3; i++) {
		int saved;

		err = bd_netns_enter(ns[i], &saved);
		if (err)
			break;
		*idx[i] = if_nametoindex(dev[i]);
		if (!*idx[i]) {
			err = -errno;
			log_error("no %s in %s: %s", dev[i], ns[i], strerror(-err));
		}
		if (!err && i == 0)
			err = gro_on("podh");
		if (bd_netns_leave(saved) && !err)
			err = -EIO;
	}
	return err;
}

static int world_create(struct bd_world_net *w)
{
	char pod_mac[18], podh_mac[18], rcv_mac[18], rcvh_mac[18], buf[2048];
	int err;

	fmt_mac(pod_mac, bd_pod_mac);
	fmt_mac(podh_mac, bd_podh_mac);
	fmt_mac(rcv_mac, bd_rcv_mac);
	fmt_mac(rcvh_mac, bd_rcvh_mac);
	snprintf(buf, sizeof(buf), "netns add %s\nnetns add %s\nnetns add %s\n", w->pod, w->node,
		 w->rcv);
	err = ip_batch(NULL, buf, "creating network namespaces");
	if (!err)
		err = ns_sysctls(w->pod, false);
	if (!err)
		err = ns_sysctls(w->node, true);
	if (!err)
		err = ns_sysctls(w->rcv, false);
	if (err)
		return err;
	/* Explicit indexes: a veth whose index equals its peer's (indexes are
	 * per namespace, so two fresh ones would) is activated up to a second
	 * late and drops what it gets meanwhile. */
	snprintf(buf, sizeof(buf),
		 "link add podh index 10 address %s numtxqueues 2 numrxqueues 2 type veth peer "
		 "name eth0 netns %s index 20 address %s numtxqueues 2 numrxqueues 2\n"
		 "link add rcvh index 11 address %s type veth peer name eth0 netns %s index 21 "
		 "address %s\n"
		 "link set podh up\nlink set rcvh up\n"
		 "route add 198.18.0.10/32 dev podh\n"
		 "route add 198.18.1.10/32 dev rcvh\n"
		 "neigh replace 198.18.1.10 lladdr %s dev rcvh nud permanent\n"
		 "neigh replace 198.18.0.10 lladdr %s dev podh nud permanent\n",
		 podh_mac, w->pod, pod_mac, rcvh_mac, w->rcv, rcv_mac, rcv_mac, pod_mac);
	err = ip_batch(w->node, buf, "creating the veths");
	if (!err)
		err = ip_batch(w->pod,
			       "link set lo up\nlink set eth0 up\n"
			       "address add 198.18.0.10/32 dev eth0\n",
			       "configuring the pod");
	if (!err)
		err = ip_batch(w->rcv,
			       "link set lo up\nlink set eth0 up\n"
			       "address add 198.18.1.10/32 dev eth0\n",
			       "configuring the receiver");
	if (!err)
		err = world_indexes(w);
	return err;
}

int bd_net_create(struct bd_net *n)
{
	int err = 0;

	for (int w = 0; !err && w < BD_N_WORLDS; w++)
		err = world_create(&n->w[w]);
	return err;
}

static bool netns_exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, name);
	return access(path, F_OK) == 0;
}

static void netns_del(const char *name)
{
	const char *argv[] = { "ip", "netns", "delete", name, NULL };

	if (netns_exists(name) && bd_exec(NULL, argv, NULL, NULL))
		log_warn("could not delete network namespace %s", name);
}

void bd_net_destroy(const struct bd_net *n)
{
	for (int w = 0; w < BD_N_WORLDS; w++) {
		netns_del(n->w[w].pod);
		netns_del(n->w[w].node);
		netns_del(n->w[w].rcv);
	}
}

void bd_net_sweep_stale(void)
{
	DIR *d = opendir(NETNS_DIR);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t pl = strlen(BD_NETNS_PREFIX);
		char *end;
		long pid;

		if (strncmp(e->d_name, BD_NETNS_PREFIX, pl))
			continue;
		pid = strtol(e->d_name + pl, &end, 10);
		if (end == e->d_name + pl || *end != '-' || pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* alive (or not ours to judge) */
		log_info("removing %s, left by process %ld", e->d_name, pid);
		netns_del(e->d_name);
	}
	closedir(d);
}

bool bd_net_any_left(const char *prefix)
{
	DIR *d = opendir(NETNS_DIR);
	struct dirent *e;
	bool any = false;

	if (!d)
		return false;
	while (!any && (e = readdir(d)))
		any = !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return any;
}
