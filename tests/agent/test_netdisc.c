/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoint discovery (user/agent/netdisc.c) on real network namespaces (suite
 * 'agent', needs root). Each test builds a flannel-like node of its own: a
 * "node" namespace with a bridge cni0, pod namespaces each joined by a veth
 * whose host side (vethXXXXXXXX) hangs off cni0 and whose pod side is eth0
 * with a known MAC, a 198.18.0.0/15 address and a 2001:db8::/32 one. The
 * test's thread enters the node namespace, so discovery runs there. Every
 * namespace is named npbpf-ndt-<pid>-..., and removed at the test's end,
 * passed or failed (and those of a test process that died are removed by the
 * next run). Without root the tests skip; with CI=true they fail instead.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netdisc.h"

#define NS_DIR "/run/netns"
#define NS_PREFIX "npbpf-ndt-"

static const char *ip_bin;
static char pfx[48];	  /* npbpf-ndt-<pid> */
static char node_ns[64];  /* <pfx>-node */
static int home_ns = -1;  /* the thread's namespace before entering the node's */
static char **made;	  /* namespaces to remove */
static size_t n_made, cap_made;
static struct netdisc *nd;

/* ---- Root, ip, namespaces. */

static void require_root(void)
{
	const char *ci = getenv("CI");

	if (geteuid() == 0)
		return;
	if (ci && !strcmp(ci, "true"))
		cr_assert_fail("CI=true: the endpoint discovery tests must run as root, not skip");
	cr_skip_test("needs root: network namespaces");
}

static const char *find_ip(void)
{
	static const char *const paths[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!access(paths[i], X_OK))
			return paths[i];
	return "ip";
}

/* Runs `ip [-n ns] -b -` and feeds it the lines; its exit status. */
__attribute__((format(printf, 3, 4))) static int ip_batch(const char *ns, bool force,
							   const char *fmt, ...)
{
	char cmd[256];
	va_list ap;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s%s %s -b - >/dev/null", ip_bin, ns ? "-n " : "",
		 ns ? ns : "", force ? "-force" : "");
	p = popen(cmd, "w");
	cr_assert_not_null(p, "popen %s: %s", cmd, strerror(errno));
	va_start(ap, fmt);
	vfprintf(p, fmt, ap);
	va_end(ap);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One more open-coded batch: a FILE the caller writes lines to. */
static FILE *batch_open(const char *ns)
{
	char cmd[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s %s%s -b - >/dev/null", ip_bin, ns ? "-n " : "",
		 ns ? ns : "");
	p = popen(cmd, "w");
	cr_assert_not_null(p, "popen %s: %s", cmd, strerror(errno));
	return p;
}

static void batch_close(FILE *p, const char *what)
{
	int st = pclose(p);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ip -b for %s failed (status %d)", what,
		  st);
}

static void remember_ns(const char *name)
{
	if (n_made == cap_made) {
		cap_made = cap_made ? 2 * cap_made : 64;
		made = realloc(made, cap_made * sizeof(*made));
		cr_assert_not_null(made);
	}
	made[n_made] = strdup(name);
	cr_assert_not_null(made[n_made]);
	n_made++;
}

/* Namespaces left by a test process that no longer runs. */
static void remove_stale(void)
{
	DIR *d = opendir(NS_DIR);
	struct dirent *e;
	FILE *p = NULL;

	if (!d)
		return;
	while ((e = readdir(d))) {
		long pid;
		char *end;

		if (strncmp(e->d_name, NS_PREFIX, strlen(NS_PREFIX)))
			continue;
		pid = strtol(e->d_name + strlen(NS_PREFIX), &end, 10);
		if (pid <= 0 || *end != '-' || !kill((pid_t)pid, 0) || errno != ESRCH)
			continue;
		if (!p) {
			char cmd[128];

			snprintf(cmd, sizeof(cmd), "%s -force -b - >/dev/null 2>&1", ip_bin);
			p = popen(cmd, "w");
			if (!p)
				break;
		}
		fprintf(p, "netns del %s\n", e->d_name);
	}
	closedir(d);
	if (p)
		pclose(p);
}

static void enter_ns(const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), NS_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns %s: %s", name, strerror(errno));
	close(fd);
}

static void setup(void)
{
	if (geteuid())
		return;
	ip_bin = find_ip();
	remove_stale();
	snprintf(pfx, sizeof(pfx), NS_PREFIX "%d", (int)getpid());
	snprintf(node_ns, sizeof(node_ns), "%s-node", pfx);
	home_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	cr_assert(home_ns >= 0, "open /proc/thread-self/ns/net: %s", strerror(errno));
	remember_ns(node_ns);
	cr_assert_eq(ip_batch(NULL, false, "netns add %s\n", node_ns), 0);
	cr_assert_eq(ip_batch(node_ns, false, "link set lo up\nlink add cni0 type bridge\n"
					      "link set cni0 up\n"),
		     0);
	enter_ns(node_ns);
}

static void teardown(void)
{
	FILE *p = NULL;
	char cmd[128];

	nd_close(nd);
	nd = NULL;
	if (home_ns >= 0) {
		if (setns(home_ns, CLONE_NEWNET))
			fprintf(stderr, "# setns back: %s\n", strerror(errno));
		close(home_ns);
		home_ns = -1;
	}
	if (n_made) {
		snprintf(cmd, sizeof(cmd), "%s -force -b - >/dev/null 2>&1", ip_bin);
		p = popen(cmd, "w");
	}
	for (size_t i = 0; i < n_made; i++) {
		if (p)
			fprintf(p, "netns del %s\n", made[i]);
		free(made[i]);
	}
	if (p)
		pclose(p);
	free(made);
	made = NULL;
	n_made = cap_made = 0;
}

TestSuite(netdisc, .init = setup, .fini = teardown, .timeout = 120);

/* ---- Pods. */

struct pod {
	char ns[64];
	char veth[IF_NAMESIZE];
	uint8_t mac[6];
	uint8_t v4[4];
	uint8_t v6[16];
	uint32_t ifindex; /* host side, in the node namespace */
};

/* Names and addresses of pod i: vethXXXXXXXX from a bijection of i (so
 * distinct), 198.18.x.y, 2001:db8::i+1, MAC 02:6e:64:<i>. */
static void pod_init(struct pod *p, unsigned i)
{
	uint32_t h = (i + 0x9e37u * (uint32_t)getpid()) * 2654435761u;
	char v6[64];

	memset(p, 0, sizeof(*p));
	snprintf(p->ns, sizeof(p->ns), "%s-p%u", pfx, i);
	snprintf(p->veth, sizeof(p->veth), "veth%08x", h);
	p->mac[0] = 0x02;
	p->mac[1] = 0x6e;
	p->mac[2] = 0x64;
	p->mac[3] = (uint8_t)(i >> 16);
	p->mac[4] = (uint8_t)(i >> 8);
	p->mac[5] = (uint8_t)i;
	p->v4[0] = 198;
	p->v4[1] = 18;
	p->v4[2] = (uint8_t)(1 + i / 250);
	p->v4[3] = (uint8_t)(1 + i % 250);
	snprintf(v6, sizeof(v6), "2001:db8::%x", i + 1);
	cr_assert_eq(inet_pton(AF_INET6, v6, p->v6), 1);
}

static const char *mac_str(const uint8_t *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

static void pod_addrs(const struct pod *p)
{
	char v6[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, p->v6, v6, sizeof(v6));
	cr_assert_eq(ip_batch(p->ns, false,
			      "addr add %u.%u.%u.%u/24 dev eth0\naddr add %s/64 dev eth0 nodad\n"
			      "link set eth0 up\n",
			      p->v4[0], p->v4[1], p->v4[2], p->v4[3], v6),
		     0, "addresses of %s", p->ns);
}

/* n pods: their namespaces, their veths (host side on cni0 unless
 * !enslave), their addresses when with_addrs. */
static void pods_make(struct pod *pods, unsigned first, size_t n, bool enslave, bool with_addrs)
{
	char mac[32];
	FILE *b;

	for (size_t i = 0; i < n; i++) {
		pod_init(&pods[i], first + (unsigned)i);
		remember_ns(pods[i].ns);
	}
	b = batch_open(NULL);
	for (size_t i = 0; i < n; i++)
		fprintf(b, "netns add %s\n", pods[i].ns);
	batch_close(b, "pod namespaces");
	b = batch_open(node_ns);
	for (size_t i = 0; i < n; i++) {
		fprintf(b, "link add %s type veth peer name eth0 address %s netns %s\n",
			pods[i].veth, mac_str(pods[i].mac, mac), pods[i].ns);
		fprintf(b, "link set %s %s up\n", pods[i].veth, enslave ? "master cni0" : "");
	}
	batch_close(b, "pod veths");
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(ip_batch(pods[i].ns, false, "link set lo up\n"), 0);
		if (with_addrs)
			pod_addrs(&pods[i]);
		pods[i].ifindex = if_nametoindex(pods[i].veth);
		cr_assert_neq(pods[i].ifindex, 0, "%s: %s", pods[i].veth, strerror(errno));
	}
}

/* The peer's ifindex, read inside the pod's namespace. */
static uint32_t pod_eth0_index(const struct pod *p)
{
	uint32_t idx;

	enter_ns(p->ns);
	idx = if_nametoindex("eth0");
	enter_ns(node_ns);
	return idx;
}

static void expect_veth(const struct nd_veth *v, const struct pod *p, uint32_t master,
			bool with_addrs)
{
	struct np_addr v4 = { .family = 4, .plen = 32 }, v6 = { .family = 6, .plen = 128 };

	cr_assert_eq(v->ifindex, p->ifindex);
	cr_assert_str_eq(v->name, p->veth);
	cr_assert_eq(v->master, master, "%s: master %u, not %u", p->veth, v->master, master);
	cr_assert_geq(v->peer_nsid, 0);
	cr_assert_neq(v->peer_ifindex, 0);
	cr_assert(v->has_peer_mac, "%s: no peer MAC", p->veth);
	cr_assert_arr_eq(v->peer_mac, p->mac, 6, "%s: wrong peer MAC", p->veth);
	if (!with_addrs) {
		cr_assert_eq(v->n_addrs, 0, "%s: %zu addresses", p->veth, v->n_addrs);
		return;
	}
	memcpy(v4.bytes, p->v4, 4);
	memcpy(v6.bytes, p->v6, 16);
	/* IPv4's dump comes first; the link-local fe80:: is not reported. */
	cr_assert_eq(v->n_addrs, 2, "%s: %zu addresses, not 2", p->veth, v->n_addrs);
	cr_assert_arr_eq(&v->addrs[0], &v4, sizeof(v4), "%s: IPv4 address", p->veth);
	cr_assert_arr_eq(&v->addrs[1], &v6, sizeof(v6), "%s: IPv6 address", p->veth);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- Scan. */

Test(netdisc, scan_finds_pod_veths_only)
{
	struct pod pods[5];
	struct nd_veth *vs, q;
	uint32_t cni0, dec;
	size_t n;

	require_root();
	/* Four pods on cni0 with addresses, one not enslaved and without
	 * addresses yet; decoys: a veth pair both here (one end on cni0), a
	 * second bridge. */
	pods_make(pods, 0, 4, true, true);
	pods_make(pods + 4, 4, 1, false, false);
	cr_assert_eq(ip_batch(node_ns, false,
			      "link add dec0 type veth peer name dec1\nlink set dec0 master cni0 up\n"
			      "link set dec1 up\nlink add dum0 type bridge\n"),
		     0);
	cni0 = if_nametoindex("cni0");
	dec = if_nametoindex("dec0");
	cr_assert(cni0 && dec);

	cr_assert_eq(nd_open(&nd), 0);
	cr_assert_eq(nd_scan(nd, &vs, &n), 0);
	cr_assert_eq(n, 5, "%zu veths found, not 5", n);
	for (size_t i = 0; i < 5; i++) {
		expect_veth(&vs[i], &pods[i], i < 4 ? cni0 : 0, i < 4);
		cr_assert_eq(vs[i].peer_ifindex, pod_eth0_index(&pods[i]));
		cr_assert_eq(nd_query(nd, pods[i].ifindex, &q), 0);
		expect_veth(&q, &pods[i], i < 4 ? cni0 : 0, i < 4);
		cr_assert_eq(q.peer_nsid, vs[i].peer_nsid);
	}
	for (size_t i = 1; i < 5; i++)
		cr_assert_neq(vs[i].peer_nsid, vs[0].peer_nsid, "two pods, one netns id");
	free(vs);

	cr_assert_eq(nd_query(nd, cni0, &q), -ENOENT);
	cr_assert_eq(nd_query(nd, dec, &q), -ENOENT);
	cr_assert_eq(nd_query(nd, if_nametoindex("dum0"), &q), -ENOENT);
	cr_assert_eq(nd_query(nd, 1, &q), -ENOENT); /* lo */
	cr_assert_eq(nd_query(nd, 0x7ffffff0, &q), -ENOENT);

	/* Addresses that appear later; more than one of a family. */
	pod_addrs(&pods[4]);
	cr_assert_eq(ip_batch(pods[0].ns, false, "addr add 198.19.0.7/16 dev eth0\n"), 0);
	cr_assert_eq(nd_query(nd, pods[4].ifindex, &q), 0);
	expect_veth(&q, &pods[4], 0, true);
	cr_assert_eq(nd_query(nd, pods[0].ifindex, &q), 0);
	cr_assert_eq(q.n_addrs, 3);
	cr_assert_eq(q.addrs[1].family, 4);
	cr_assert_eq(q.addrs[1].plen, 32);
	cr_assert_arr_eq(q.addrs[1].bytes, ((uint8_t[]){ 198, 19, 0, 7 }), 4);
}

Test(netdisc, scan_empty_node)
{
	struct nd_veth *vs = NULL;
	size_t n = 1;

	require_root();
	cr_assert_eq(nd_open(&nd), 0);
	cr_assert_eq(nd_scan(nd, &vs, &n), 0);
	cr_assert_eq(n, 0);
	free(vs);
}

/* ---- Events. */

struct ev {
	bool added;
	uint32_t ifindex;
	char name[IF_NAMESIZE];
};

struct evlog {
	struct ev e[256];
	size_t n;
};

static void on_link(void *arg, bool added, uint32_t ifindex, const char *name)
{
	struct evlog *l = arg;

	if (l->n == sizeof(l->e) / sizeof(l->e[0]))
		return;
	l->e[l->n].added = added;
	l->e[l->n].ifindex = ifindex;
	snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%s", name ? name : "");
	l->n++;
}

static bool evlog_has(const struct evlog *l, bool added, uint32_t ifindex)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->e[i].added == added && l->e[i].ifindex == ifindex)
			return true;
	return false;
}

/* Reads events for up to ms, or until (added, ifindex) is among them when
 * ifindex is not 0. */
static void pump(struct evlog *l, int ms, bool added, uint32_t ifindex)
{
	double end = now_ms() + ms;
	struct pollfd pfd = { .fd = nd_events_fd(nd), .events = POLLIN };

	for (;;) {
		double left = end - now_ms();
		int r;

		if (ifindex && evlog_has(l, added, ifindex))
			return;
		if (left <= 0)
			return;
		r = poll(&pfd, 1, (int)left + 1);
		cr_assert(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
		if (r > 0)
			cr_assert_eq(nd_events_read(nd, on_link, l), 0);
	}
}

static void pump_until(struct evlog *l, bool added, uint32_t ifindex, const char *what)
{
	pump(l, 15000, added, ifindex);
	cr_assert(evlog_has(l, added, ifindex), "no '%s' event for %s (%u) within 15 s",
		  added ? "added" : "removed", what, ifindex);
}

Test(netdisc, events)
{
	struct pod pods[3];
	struct nd_veth *vs, q;
	struct evlog l = { .n = 0 };
	uint32_t idx_c, idx_tmp, idx_d;
	char mac[32];
	size_t n;

	require_root();
	pods_make(pods, 0, 1, true, true);
	cr_assert_eq(nd_open(&nd), 0);
	cr_assert_eq(nd_scan(nd, &vs, &n), 0);
	cr_assert_eq(n, 1);
	free(vs);
	cr_assert_eq(nd_events_read(nd, on_link, &l), 0);
	cr_assert_eq(l.n, 0);

	/* A pod veth made across namespaces at once, no addresses yet. */
	pod_init(&pods[1], 1);
	remember_ns(pods[1].ns);
	cr_assert_eq(ip_batch(NULL, false, "netns add %s\n", pods[1].ns), 0);
	cr_assert_eq(ip_batch(node_ns, false,
			      "link add %s type veth peer name eth0 address %s netns %s\n",
			      pods[1].veth, mac_str(pods[1].mac, mac), pods[1].ns),
		     0);
	pods[1].ifindex = if_nametoindex(pods[1].veth);
	cr_assert_neq(pods[1].ifindex, 0);
	pump_until(&l, true, pods[1].ifindex, pods[1].veth);
	cr_assert_eq(l.n, 1, "%zu events, not 1", l.n);
	cr_assert_str_eq(l.e[0].name, pods[1].veth);
	cr_assert_eq(nd_query(nd, pods[1].ifindex, &q), 0);
	expect_veth(&q, &pods[1], 0, false);
	/* Its addresses come after. */
	pod_addrs(&pods[1]);
	cr_assert_eq(nd_query(nd, pods[1].ifindex, &q), 0);
	expect_veth(&q, &pods[1], 0, true);
	/* Enslaving it and bringing it up: no second 'added'. */
	cr_assert_eq(ip_batch(node_ns, false, "link set %s master cni0 up\n", pods[1].veth), 0);
	pump(&l, 300, true, 0);
	cr_assert_eq(l.n, 1, "%zu events, not 1", l.n);

	/* A veth made with both ends here, then one end moved to a pod:
	 * nothing while both are here, 'added' once the peer is away. */
	pod_init(&pods[2], 2);
	remember_ns(pods[2].ns);
	cr_assert_eq(ip_batch(NULL, false, "netns add %s\n", pods[2].ns), 0);
	cr_assert_eq(ip_batch(node_ns, false, "link add %s type veth peer name tmp2\n",
			      pods[2].veth),
		     0);
	idx_c = if_nametoindex(pods[2].veth);
	idx_tmp = if_nametoindex("tmp2");
	cr_assert(idx_c && idx_tmp);
	pump(&l, 300, true, 0);
	cr_assert_eq(l.n, 1, "an event for a veth with both ends here");
	/* The move brings no RTM_NEWLINK for the end left here, only a
	 * RTM_DELLINK (with IFLA_NEW_NETNSID) for the one that went. */
	cr_assert_eq(ip_batch(node_ns, false, "link set dev tmp2 netns %s\n", pods[2].ns), 0);
	pump_until(&l, true, idx_c, pods[2].veth);
	cr_assert_eq(l.n, 2, "%zu events, not 2", l.n);
	cr_assert_eq(ip_batch(node_ns, false, "link set %s master cni0 up\n", pods[2].veth), 0);
	pump(&l, 300, true, 0);
	cr_assert_eq(l.n, 2, "%zu events, not 2", l.n);
	cr_assert_eq(nd_query(nd, idx_c, &q), 0);
	cr_assert(!evlog_has(&l, true, idx_tmp) && !evlog_has(&l, false, idx_tmp));

	/* Leaving the bridge (an AF_BRIDGE RTM_DELLINK) is no removal. */
	cr_assert_eq(ip_batch(node_ns, false, "link set %s nomaster\n", pods[2].veth), 0);
	pump(&l, 300, true, 0);
	cr_assert_eq(l.n, 2, "an event for a veth leaving its bridge");

	/* A same-namespace pair coming and going: nothing. */
	cr_assert_eq(ip_batch(node_ns, false,
			      "link add dec0 type veth peer name dec1\nlink set dec0 master cni0 up\n"
			      "link del dec0\n"),
		     0);
	pump(&l, 300, true, 0);
	cr_assert_eq(l.n, 2, "an event for a same-namespace pair");

	/* A pod namespace removed: its veth goes. */
	cr_assert_eq(ip_batch(NULL, false, "netns del %s\n", pods[1].ns), 0);
	pump_until(&l, false, pods[1].ifindex, pods[1].veth);
	cr_assert_eq(nd_query(nd, pods[1].ifindex, &q), -ENOENT);

	/* A veth deleted from the node side. */
	cr_assert_eq(ip_batch(node_ns, false, "link del %s\n", pods[2].veth), 0);
	pump_until(&l, false, idx_c, pods[2].veth);

	/* A peer moved back here: no longer a pod veth. */
	idx_d = pods[0].ifindex;
	cr_assert_eq(ip_batch(pods[0].ns, false, "link set eth0 netns %s\n", node_ns), 0);
	pump_until(&l, false, idx_d, pods[0].veth);
	cr_assert_eq(nd_query(nd, idx_d, &q), -ENOENT);
	cr_assert_eq(l.n, 5, "%zu events, not 5", l.n);

	cr_assert_eq(nd_scan(nd, &vs, &n), 0);
	cr_assert_eq(n, 0);
	free(vs);
}

/* The event socket overrun: -ENOBUFS, then a scan, then events go on from
 * what the scan found. */
Test(netdisc, events_overrun)
{
	enum { N = 40 };
	char bulk[80];
	struct evlog l = { .n = 0 };
	struct nd_veth *vs;
	struct pollfd pfd;
	int small = 1, r, enobufs = 0;
	uint32_t idx;
	FILE *b;
	size_t n;

	require_root();
	cr_assert_eq(nd_open(&nd), 0);
	/* The smallest receive buffer the kernel allows (a few KiB). */
	cr_assert_eq(setsockopt(nd_events_fd(nd), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)),
		     0);
	snprintf(bulk, sizeof(bulk), "%s-bulk", pfx);
	remember_ns(bulk);
	cr_assert_eq(ip_batch(NULL, false, "netns add %s\n", bulk), 0);
	b = batch_open(node_ns);
	for (int i = 0; i < N; i++)
		fprintf(b, "link add vo%d type veth peer name p%d netns %s\n", i, i, bulk);
	batch_close(b, "veths");

	pfd.fd = nd_events_fd(nd);
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 200) > 0) {
		r = nd_events_read(nd, on_link, &l);
		if (r == -ENOBUFS) {
			enobufs++;
			break;
		}
		cr_assert_eq(r, 0);
	}
	cr_assert_eq(enobufs, 1, "%d veths made, no -ENOBUFS (%zu events)", N, l.n);
	cr_assert_lt(l.n, N);
	cr_assert_eq(nd_scan(nd, &vs, &n), 0);
	cr_assert_eq(n, N);
	free(vs);
	/* What is still queued is about the veths the scan found. */
	l.n = 0;
	while (poll(&pfd, 1, 100) > 0)
		cr_assert_eq(nd_events_read(nd, on_link, &l), 0);
	cr_assert_eq(l.n, 0, "%zu events after the scan", l.n);
	/* And the next one comes. */
	cr_assert_eq(ip_batch(node_ns, false, "link add vo%d type veth peer name p%d netns %s\n",
			      N, N, bulk),
		     0);
	idx = if_nametoindex("vo40");
	cr_assert_neq(idx, 0);
	pump_until(&l, true, idx, "vo40");
	cr_assert_eq(l.n, 1);
}

/* ---- Scale. */

/* A timing: on stderr, and in criterion's log (what --tap shows). */
__attribute__((format(printf, 1, 2))) static void report(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "# %s\n", line);
	cr_log_info("%s", line);
}

Test(netdisc, scan_200_pods)
{
	enum { N = 200 };
	struct pod *pods = calloc(N, sizeof(*pods));
	struct nd_veth *vs;
	uint32_t cni0;
	double t0, t1;
	size_t n;

	require_root();
	cr_assert_not_null(pods);
	pods_make(pods, 0, N, true, true);
	cni0 = if_nametoindex("cni0");
	cr_assert_eq(nd_open(&nd), 0);
	t0 = now_ms();
	cr_assert_eq(nd_scan(nd, &vs, &n), 0);
	t1 = now_ms();
	report("nd_scan: %d pod veths in %.2f ms", N, t1 - t0);
	cr_assert_eq(n, N);
	/* Made in order, so ifindexes ascend as the scan's do. */
	for (size_t i = 0; i < N; i++)
		expect_veth(&vs[i], &pods[i], cni0, true);
	free(vs);
	free(pods);
}

struct idset {
	uint32_t *v;
	size_t n;
};

static void on_bulk(void *arg, bool added, uint32_t ifindex, const char *name)
{
	struct idset *s = arg;

	if (added)
		s->v[s->n++] = ifindex;
}

/* Many links, dumped in many parts: 1000 veths with their peers in one
 * namespace, 300 pairs with both ends here. Their creation overflows or not
 * the event socket: either every 'added' comes, or -ENOBUFS and a rescan
 * finds them. */
Test(netdisc, many_links)
{
	enum { N = 1000, DECOYS = 300 };
	char bulk[80];
	struct nd_veth *vs;
	struct idset s = { .v = calloc(2 * N, sizeof(uint32_t)), .n = 0 };
	struct pollfd pfd;
	bool overrun = false;
	double t0, t1;
	FILE *b;
	size_t n;
	int r;

	require_root();
	cr_assert_not_null(s.v);
	cr_assert_eq(nd_open(&nd), 0);
	snprintf(bulk, sizeof(bulk), "%s-bulk", pfx);
	remember_ns(bulk);
	cr_assert_eq(ip_batch(NULL, false, "netns add %s\n", bulk), 0);
	b = batch_open(node_ns);
	for (int i = 0; i < N; i++)
		fprintf(b, "link add vb%d type veth peer name p%d netns %s\n", i, i, bulk);
	for (int i = 0; i < DECOYS; i++)
		fprintf(b, "link add da%d type veth peer name db%d\n", i, i);
	batch_close(b, "bulk veths");

	pfd.fd = nd_events_fd(nd);
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 200) > 0) {
		r = nd_events_read(nd, on_bulk, &s);
		if (r == -ENOBUFS) {
			overrun = true;
			break;
		}
		cr_assert_eq(r, 0);
	}
	t0 = now_ms();
	cr_assert_eq(nd_scan(nd, &vs, &n), 0);
	t1 = now_ms();
	report("nd_scan: %d veths among %d links in %.2f ms; events %s (%zu added)",
		N, 2 * DECOYS + N + 2, t1 - t0, overrun ? "overran" : "all read", s.n);
	cr_assert_eq(n, N);
	for (size_t i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "vb%u", (unsigned)i);
		cr_assert_str_eq(vs[i].name, name);
		cr_assert(vs[i].has_peer_mac);
		cr_assert_eq(vs[i].n_addrs, 0);
	}
	if (!overrun) {
		cr_assert_eq(s.n, N, "%zu 'added' events, not %d", s.n, N);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(s.v[i], vs[i].ifindex);
	}
	/* What remains queued is about links the scan knows: nothing new. */
	s.n = 0;
	while (poll(&pfd, 1, 100) > 0) {
		r = nd_events_read(nd, on_bulk, &s);
		if (r == -ENOBUFS)
			continue;
		cr_assert_eq(r, 0);
	}
	cr_assert_eq(s.n, 0, "%zu 'added' after the scan", s.n);
	free(vs);
	free(s.v);
}
