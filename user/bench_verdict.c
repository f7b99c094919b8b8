/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf bench verdict: what one packet costs the datapath, with the maps of a
 * realistic cluster. A synthetic cluster (cluster_gen.h) is compiled and
 * synced by the real map sync into a private pin directory; one isolated pod
 * is bound to the loopback device (BPF_PROG_TEST_RUN needs an existing
 * ifindex; nothing is attached anywhere), and crafted frames run through the
 * real programs under BPF_PROG_TEST_RUN, many times each:
 *  - to-pod, a TCP SYN the policy allows, and one it drops;
 *  - from-pod, the pod's own SYN (TC and XDP).
 * Also reported: the time of the first sync and of a no-op re-sync.
 */
#include "bench_verdict.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_gen.h"
#include "commands.h"
#include "compile.h"
#include "json_out.h"
#include "loader.h"
#include "log.h"
#include "manifest.h"
#include "mapsync.h"
#include "verdict.h"

#define BENCH_LO_IFINDEX 1u
#define BENCH_TC_SHOT 2

struct bv_args {
	struct cluster_gen_params gp;
	uint32_t repeat;
	bool json;
};

static void bv_usage(FILE *f)
{
	fprintf(f,
		"Usage: npbpf bench verdict [OPTIONS]\n"
		"\n"
		"Compiles a synthetic cluster, syncs it into BPF maps pinned in a private\n"
		"directory (removed at the end), and times the real programs on crafted\n"
		"frames with BPF_PROG_TEST_RUN: nanoseconds per packet for an allowed and a\n"
		"dropped SYN towards an isolated pod and for the pod's own SYN. Needs root.\n"
		"\n"
		"  --pods N              pods to generate (default 10000)\n"
		"  --namespaces M        namespaces (default 500)\n"
		"  --policies P          NetworkPolicies (default 10000)\n"
		"  --seed S              generator seed (default 1)\n"
		"  --repeat R            runs per frame (default 1000000)\n"
		"  -o, --output FORMAT   text (default) or json\n"
		"  -h, --help            this help\n");
}

static int bv_number(const char *opt, const char *text, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || errno || *end || !*out || *out > max) {
		log_error("bench verdict: --%s takes a number from 1 to %llu, not '%s'", opt,
			  (unsigned long long)max, text);
		return -EINVAL;
	}
	return 0;
}

static int bv_parse(int argc, char **argv, struct bv_args *a)
{
	enum { O_PODS = 256, O_NS, O_POL, O_SEED, O_REPEAT };
	static const struct option opts[] = {
		{ "pods", required_argument, NULL, O_PODS },
		{ "namespaces", required_argument, NULL, O_NS },
		{ "policies", required_argument, NULL, O_POL },
		{ "seed", required_argument, NULL, O_SEED },
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int c, err = 0;

	a->gp = (struct cluster_gen_params){ .pods = 10000, .namespaces = 500, .policies = 10000,
					     .seed = 1 };
	a->repeat = 1000000;
	optind = 0;
	while (!err && (c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case O_PODS:
			err = bv_number("pods", optarg, CLUSTER_GEN_MAX_PODS, &v);
			a->gp.pods = (uint32_t)v;
			break;
		case O_NS:
			err = bv_number("namespaces", optarg, CLUSTER_GEN_MAX_NAMESPACES, &v);
			a->gp.namespaces = (uint32_t)v;
			break;
		case O_POL:
			err = bv_number("policies", optarg, CLUSTER_GEN_MAX_POLICIES, &v);
			a->gp.policies = (uint32_t)v;
			break;
		case O_SEED:
			err = bv_number("seed", optarg, UINT64_MAX, &v);
			a->gp.seed = v;
			break;
		case O_REPEAT:
			err = bv_number("repeat", optarg, 100000000, &v);
			a->repeat = (uint32_t)v;
			break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				log_error("bench verdict: -o takes text or json, not '%s'", optarg);
				err = -EINVAL;
			}
			a->json = !strcmp(optarg, "json");
			break;
		case 'h':
			bv_usage(stdout);
			exit(EXIT_OK);
		default:
			err = -EINVAL;
		}
	}
	if (!err && optind < argc) {
		log_error("bench verdict: unexpected argument '%s'", argv[optind]);
		err = -EINVAL;
	}
	if (!err && cluster_gen_check(&a->gp)) {
		log_error("bench verdict: the cluster parameters are out of range (see --help)");
		err = -EINVAL;
	}
	return err;
}

/* ---- The pin directory goes away on every exit, signals included. */

static char bv_dir[64];
static char bv_paths[PIN_N + PIN_N_PROGS][128];
static volatile sig_atomic_t bv_live;

static void bv_remove(void)
{
	if (!bv_live)
		return;
	for (size_t i = 0; i < PIN_N + PIN_N_PROGS; i++)
		unlink(bv_paths[i]);
	rmdir(bv_dir);
	bv_live = 0;
}

static void bv_on_signal(int sig)
{
	bv_remove(); /* unlink and rmdir only: async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

static int bv_make_dir(void)
{
	struct sigaction sa = { .sa_handler = bv_on_signal };
	int err;

	err = pinned_prepare_dir(PINNED_BPFFS_ROOT);
	if (err)
		return err;
	snprintf(bv_dir, sizeof(bv_dir), PINNED_BPFFS_ROOT "/npbpf-bench-XXXXXX");
	if (!mkdtemp(bv_dir)) {
		err = -errno;
		log_error("bench verdict: creating a pin directory: %s", strerror(-err));
		return err;
	}
	for (int m = 0; m < PIN_N; m++)
		pinned_path(bv_dir, pin_specs[m].name, bv_paths[m], sizeof(bv_paths[m]));
	for (int p = 0; p < PIN_N_PROGS; p++)
		pinned_path(bv_dir, pin_prog_names[p], bv_paths[PIN_N + p], sizeof(bv_paths[0]));
	bv_live = 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

/* ---- Frames. */

struct bv_frame {
	uint8_t data[ETH_HLEN + sizeof(struct iphdr) + sizeof(struct tcphdr)];
};

static uint16_t csum16(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* An Ethernet/IPv4/TCP SYN from src:sport to dst:dport (addresses in
 * network order, 4 bytes). The TCP checksum is left zero: nothing checks it. */
static void bv_syn(struct bv_frame *f, const uint8_t *src, const uint8_t *dst, uint16_t sport,
		   uint16_t dport)
{
	struct ethhdr *eth = (struct ethhdr *)f->data;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct tcphdr *tcp = (struct tcphdr *)(ip + 1);

	memset(f, 0, sizeof(*f));
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*tcp));
	memcpy(&ip->saddr, src, 4);
	memcpy(&ip->daddr, dst, 4);
	ip->check = csum16(ip, sizeof(*ip));
	tcp->source = htons(sport);
	tcp->dest = htons(dport);
	tcp->doff = 5;
	tcp->syn = 1;
	tcp->window = htons(65535);
}

struct bv_case {
	const char *name;
	int prog; /* enum pin_prog */
	struct bv_frame frame;
	bool expect_pass;
	/* results */
	bool passed;
	double ns;
	bool ran;
};

static int bv_run(struct loader *l, struct bv_case *c, uint32_t repeat)
{
	int fd = l->prog_fds[c->prog], err;

	if (c->prog == PIN_PROG_XDP) {
		struct xdp_md ctx = { .data_end = sizeof(c->frame.data),
				      .ingress_ifindex = BENCH_LO_IFINDEX };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = c->frame.data,
			    .data_size_in = sizeof(c->frame.data), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = repeat);

		err = bpf_prog_test_run_opts(fd, &o);
		c->passed = o.retval == XDP_PASS;
		c->ns = o.duration;
	} else {
		struct __sk_buff ctx = { .ifindex = BENCH_LO_IFINDEX };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = c->frame.data,
			    .data_size_in = sizeof(c->frame.data), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = repeat);

		err = bpf_prog_test_run_opts(fd, &o);
		c->passed = (int)o.retval != BENCH_TC_SHOT;
		c->ns = o.duration;
	}
	if (err) {
		err = -errno;
		log_error("bench verdict: running %s: %s", c->name, strerror(-err));
		return err;
	}
	c->ran = true;
	return 0;
}

/* ---- Picking the pod and its peers from the compiled tables. */

struct bv_pick {
	const struct compiled_endpoint *ep;
	uint8_t addr[4];
	uint32_t allowed_peer, denied_peer; /* identities; 0 when none found */
	uint8_t allowed_addr[4], denied_addr[4];
	uint16_t port;
	bool egress_allowed; /* the pod may send that SYN to the allowed peer */
};

static bool v4_of(const struct np_pod *pod, uint8_t *out)
{
	for (size_t a = 0; a < pod->n_addrs; a++) {
		if (pod->addrs[a].family == 4) {
			memcpy(out, pod->addrs[a].bytes, 4);
			return true;
		}
	}
	return false;
}

/* A pod address (full-length v4 ipcache entry) of identity id. */
static bool addr_of_identity(const struct compiled *cp, uint32_t id, uint8_t *out)
{
	for (size_t i = 0; i < cp->n_ipcache; i++) {
		const struct np_addr *p = &cp->ipcache[i].prefix;

		if (cp->ipcache[i].id == id && p->family == 4 && p->plen == 32) {
			memcpy(out, p->bytes, 4);
			return true;
		}
	}
	return false;
}

/* The first ingress-isolated pod with an entry for a specific peer and TCP
 * port, and a peer that this port is denied from. */
static int bv_pick(const struct compiled *cp, struct bv_pick *pk)
{
	memset(pk, 0, sizeof(*pk));
	for (size_t e = 0; e < cp->n_endpoints && !pk->ep; e++) {
		const struct compiled_endpoint *ep = &cp->endpoints[e];
		const struct npbpf_subject *s = compiled_subject(cp, ep->id);

		if (!s || !(s->isolated & (1u << NPBPF_DIR_INGRESS)) || !v4_of(ep->pod, pk->addr))
			continue;
		for (size_t i = 0; i < cp->n_entries; i++) {
			const struct npbpf_policy_key *k = &cp->entries[i].key;

			if (k->subject == ep->id && k->dir == NPBPF_DIR_INGRESS &&
			    k->proto == IPPROTO_TCP && k->dport && k->peer >= NPBPF_ID_FIRST_POD &&
			    !NPBPF_ID_IS_CIDR(k->peer) &&
			    addr_of_identity(cp, k->peer, pk->allowed_addr)) {
				pk->ep = ep;
				pk->allowed_peer = k->peer;
				pk->port = k->dport;
				break;
			}
		}
	}
	if (!pk->ep) {
		log_error("bench verdict: no isolated pod with a pod-to-pod TCP rule in this "
			  "cluster; try more policies");
		return -ENOENT;
	}
	{
		struct dir_verdict v;

		verdict_dir(cp, pk->ep->id, NP_EGRESS, pk->allowed_peer, IPPROTO_TCP, pk->port, &v);
		pk->egress_allowed = v.allowed;
	}
	for (size_t i = 0; i < cp->n_ipcache; i++) {
		const struct np_addr *p = &cp->ipcache[i].prefix;
		struct dir_verdict v;

		if (p->family != 4 || p->plen != 32 || cp->ipcache[i].id < NPBPF_ID_FIRST_POD)
			continue;
		verdict_dir(cp, pk->ep->id, NP_INGRESS, cp->ipcache[i].id, IPPROTO_TCP, pk->port,
			    &v);
		if (!v.allowed) {
			pk->denied_peer = cp->ipcache[i].id;
			memcpy(pk->denied_addr, p->bytes, 4);
			break;
		}
	}
	return 0;
}

static double bv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bv_cluster(const struct bv_args *a, struct np_cluster *c, struct compiled *cp,
		      const struct hmap *prior, double *ms)
{
	struct compile_opts opts = { .prior_ids = prior };
	struct np_addr node;
	size_t len = 0;
	char *yaml = NULL;
	double t0;
	FILE *f;
	int err;

	f = open_memstream(&yaml, &len);
	if (!f)
		return -errno;
	err = cluster_gen_write(f, &a->gp, NULL);
	if (fclose(f) && !err)
		err = -errno;
	if (err) {
		free(yaml);
		log_error("bench verdict: generating the cluster: %s", strerror(-err));
		return err;
	}
	t0 = bv_now_ms();
	err = manifest_load_buffer(c, "generated.yaml", yaml, len);
	free(yaml);
	if (err) {
		log_error("bench verdict: the generated cluster did not load");
		return err;
	}
	cluster_gen_node_addr(0, &node);
	opts.node_addrs = &node;
	opts.n_node_addrs = 1;
	err = compile_cluster(c, &opts, cp);
	if (err)
		log_error("bench verdict: compiling: %s", strerror(-err));
	*ms = bv_now_ms() - t0;
	return err;
}

static void bv_print(const struct bv_args *a, const struct compiled *cp,
		     const struct bv_pick *pk, double compile_ms, const struct sync_stats *s1,
		     const struct sync_stats *s2, const struct bv_case *cases, size_t n)
{
	struct out o;
	char label[600];

	out_init(&o, stdout, a->json);
	out_obj_begin(&o, NULL);
	out_uint(&o, "pods", a->gp.pods);
	out_uint(&o, "policies", a->gp.policies);
	out_uint(&o, "identities", cp->n_ids);
	out_uint(&o, "entries", cp->n_entries);
	out_double(&o, "compile_ms", compile_ms, 1);
	out_double(&o, "first_sync_ms", s1->read_ms + s1->plan_ms + s1->write_ms, 1);
	out_uint(&o, "first_sync_writes", sync_stats_writes(s1));
	out_double(&o, "resync_ms", s2->read_ms + s2->plan_ms + s2->write_ms, 1);
	out_uint(&o, "resync_writes", sync_stats_writes(s2));
	snprintf(label, sizeof(label), "%s/%s", pk->ep->pod->ns, pk->ep->pod->name);
	out_str(&o, "pod", label);
	out_uint(&o, "port", pk->port);
	out_uint(&o, "repeat", a->repeat);
	out_arr_begin(&o, "frames");
	for (size_t i = 0; i < n; i++) {
		if (!cases[i].ran)
			continue;
		out_obj_begin(&o, NULL);
		out_str(&o, "frame", cases[i].name);
		out_str(&o, "verdict", cases[i].passed ? "pass" : "drop");
		out_bool(&o, "as_expected", cases[i].passed == cases[i].expect_pass);
		out_double(&o, "ns_per_packet", cases[i].ns, 0);
		out_double(&o, "mpps_one_cpu", cases[i].ns > 0 ? 1e3 / cases[i].ns : 0, 2);
		out_obj_end(&o);
	}
	out_arr_end(&o);
	out_obj_end(&o);
	out_finish(&o);
}

int bench_verdict(int argc, char **argv)
{
	struct np_cluster c;
	struct compiled cp = { 0 };
	struct hmap prior;
	struct loader *l = NULL;
	struct loader_opts lo = { 0 };
	struct sync_stats s1, s2;
	struct endpoint_binding bind;
	struct bv_pick pk;
	struct bv_case cases[4];
	struct bv_args a;
	size_t n_cases = 0;
	double compile_ms = 0;
	int ret = EXIT_USAGE;

	cluster_init(&c);
	hmap_init(&prior);
	memset(cases, 0, sizeof(cases));
	if (bv_parse(argc, argv, &a))
		goto out;
	ret = EXIT_FAIL;
	if (geteuid()) {
		log_error("bench verdict: needs root (BPF programs and maps)");
		goto out;
	}
	if (!a.json)
		fprintf(stderr, "generating and compiling %u pods, %u policies...\n", a.gp.pods,
			a.gp.policies);
	if (bv_cluster(&a, &c, &cp, &prior, &compile_ms) || bv_pick(&cp, &pk))
		goto out;
	if (bv_make_dir())
		goto out;
	lo.pin_dir = bv_dir;
	if (loader_open(&lo, &l))
		goto out;
	bind = (struct endpoint_binding){ pk.ep->pod->ns, pk.ep->pod->name, BENCH_LO_IFINDEX };
	if (mapsync_apply(l, &cp, &bind, 1, &s1) || mapsync_apply(l, &cp, &bind, 1, &s2))
		goto out;

	cases[n_cases] = (struct bv_case){ .name = "to-pod SYN, allowed by a rule (conntrack hit after the first)",
					   .prog = PIN_PROG_TO_POD, .expect_pass = true };
	bv_syn(&cases[n_cases++].frame, pk.allowed_addr, pk.addr, 40000, pk.port);
	if (pk.denied_peer) {
		cases[n_cases] = (struct bv_case){ .name = "to-pod SYN, dropped",
						   .prog = PIN_PROG_TO_POD };
		bv_syn(&cases[n_cases++].frame, pk.denied_addr, pk.addr, 40001, pk.port);
	}
	cases[n_cases] = (struct bv_case){ .name = "from-pod SYN (tc)", .prog = PIN_PROG_FROM_POD,
					   .expect_pass = pk.egress_allowed };
	bv_syn(&cases[n_cases++].frame, pk.addr, pk.allowed_addr, 40002, pk.port);
	cases[n_cases] = (struct bv_case){ .name = "from-pod SYN (xdp)", .prog = PIN_PROG_XDP,
					   .expect_pass = pk.egress_allowed };
	bv_syn(&cases[n_cases++].frame, pk.addr, pk.allowed_addr, 40003, pk.port);
	for (size_t i = 0; i < n_cases; i++) {
		if (bv_run(l, &cases[i], a.repeat))
			goto out;
	}
	bv_print(&a, &cp, &pk, compile_ms, &s1, &s2, cases, n_cases);
	ret = EXIT_OK;
out:
	loader_free(l);
	bv_remove();
	compiled_free(&cp);
	cluster_free(&c);
	hmap_free(&prior);
	return ret;
}
