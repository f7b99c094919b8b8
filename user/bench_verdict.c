/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf bench verdict: what one packet costs the datapath, in ns, measured by
 * the kernel under BPF_PROG_TEST_RUN.
 *
 * Hooks. "tc" is npbpf_to_pod (the pod's ingress: the peer is the source),
 * "xdp" is npbpf_xdp_from_pod (the pod's egress: the peer is the destination,
 * since from-pod drops sources that are not the pod's).
 *
 * Cases, each an Ethernet/IPv4/TCP frame between the pod and a peer pod:
 *   parse_only   the bench object (bpf/bench.bpf.c): the same parser, no map;
 *   ct_hit       an ACK of an established flow: the flow was opened with a
 *                real SYN and SYN-ACK through the real programs beforehand;
 *   new_allowed  a SYN the policy allows, its conntrack insert included.
 *                It stays new on every repeat with no help from the bench:
 *                the datapath never looks a bare SYN up in conntrack (it
 *                always opens a flow, enforce.h), so each run takes the
 *                new-flow path and writes the flow's entry again (replacing
 *                the previous run's, which costs at least what inserting a
 *                new key does);
 *   new_denied   a SYN to a port no entry allows (drop, counter, rate-limited
 *                event).
 *
 * Tables. For each hook, 6 instances of the real object (loader.h, each in
 * its own pin directory), filled by direct map writes with the structs of
 * include/npbpf/: 1, 1,000 or 100,000 policy entries over 1 or 10,000
 * identities. Identity k is NPBPF_ID_FIRST_POD + k; every identity is an
 * isolated subject; 10 peer addresses per identity in the ipcache (all
 * addresses from 198.18.0.0/15, RFC 2544's benchmarking range); the pod
 * under test has identity 0 and accepts TCP/8080 from min(entries,
 * identities) identities (in the hook's direction); the other entries are
 * spread over all subjects, both directions, TCP/UDP ports 10000-59999,
 * pseudo-random peers.
 *
 * Before timing, each case runs a few times on every instance and must move
 * exactly its own counter (ct_hit: conntrack, new_allowed: the rule,
 * new_denied: the policy drop) by that many packets: every figure is the
 * path it is named after.
 *
 * Many flows: on the 100,000-entry, 10,000-identity instance of each hook,
 * the peer cycles through the 100,000 ipcache addresses (100,000 flows
 * established beforehand for ct_hit); each frame is one test run and the
 * figure is the sum of the kernel's durations over the packets. The
 * entries new_allowed inserts are deleted after each round (untimed), so
 * there every packet inserts a key that is not there. A single run
 * includes one clock read the repeated runs share, so compare a many-flows
 * figure with parse_only of the same flows (measured the same way), not
 * with the 1-flow rows.
 *
 * Noise: every point is measured once per round, rounds interleave all
 * points (starting at a different point each round), and the figure is the
 * median over rounds; a goal ratio is taken within each round, between two
 * points measured moments apart, and its median reported. TC test runs need a real ifindex: a veth pair in a
 * private network namespace, which goes away with it.
 */
#include "bench_verdict.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <npbpf/datapath.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "json_out.h"
#include "loader.h"
#include "log.h"
#include "pinned.h"

/* Generated at configure time into the build's bpf/ (see bpf/meson.build);
 * found through the build's user/ include directory. */
#include "../bpf/bench.skel.h"

enum bv_hook { BV_TC, BV_XDP, BV_N_HOOKS };
enum bv_case { BV_PARSE, BV_CT_HIT, BV_NEW_ALLOWED, BV_NEW_DENIED, BV_N_CASES };

static const char *const bv_hook_names[BV_N_HOOKS] = { "tc", "xdp" };
static const char *const bv_case_names[BV_N_CASES] = { "parse_only", "ct_hit", "new_allowed",
						       "new_denied" };

static const uint32_t bv_entries[] = { 1, 1000, 100000 };
static const uint32_t bv_identities[] = { 1, 10000 };
#define BV_N_ENTRIES (sizeof(bv_entries) / sizeof(bv_entries[0]))
#define BV_N_IDENTITIES (sizeof(bv_identities) / sizeof(bv_identities[0]))
#define BV_N_CONFIGS (BV_N_ENTRIES * BV_N_IDENTITIES)
#define BV_N_INST (BV_N_HOOKS * BV_N_CONFIGS)

/* The many-flows run: this many peers, on the largest instance. */
#define BV_FLOWS 100000u
#define BV_ADDRS_PER_ID 10u

/* Addresses (host order). 198.18.0.0/15 is reserved for benchmarks (RFC
 * 2544): the pod is 198.18.0.1, peer i is 198.18.4.0 + i (up to 198.19.138.159). */
#define BV_NET 0xc6120000u
#define BV_POD_ADDR (BV_NET + 1)
#define BV_PEER_ADDR(i) (BV_NET + 1024u + (uint32_t)(i))
/* The 1-flow cases use peer 1: an identity other than the pod's whenever
 * there is more than one. */
#define BV_PEER_ONE 1u

#define BV_ID(k) (NPBPF_ID_FIRST_POD + (uint32_t)(k))
#define BV_PORT_ALLOW 8080  /* what the pod accepts from its allowed peers */
#define BV_PORT_DENY 9      /* no entry has it */
#define BV_SPORT_EST 40000  /* the established flows (ct_hit) */
#define BV_SPORT_NEW 40001  /* the SYNs of new_allowed and new_denied */

#define BV_FRAME_LEN (ETH_HLEN + sizeof(struct iphdr) + sizeof(struct tcphdr))

/* Many short rounds rather than a few long ones: a burst of other work on
 * the machine then spoils fewer samples of a point. */
#define BV_DEFAULT_REPEAT 100000u
#define BV_DEFAULT_RUNS 11u
#define BV_MAX_RUNS 101u

struct bv_args {
	uint32_t repeat;
	uint32_t runs;
	bool json;
};

/* One loaded copy of the datapath with its own maps. */
struct bv_inst {
	enum bv_hook hook;
	uint32_t entries, identities;
	struct loader *l;
	bool pinned; /* its pin directory exists and must be removed */
};

/* One figure of the output. */
struct bv_point {
	enum bv_hook hook;
	enum bv_case cs;
	struct bv_inst *in;
	uint32_t flows;
	double samples[BV_MAX_RUNS]; /* one per round */
	double ns, min, max;         /* median, extremes over the rounds */
};

struct bv_ctx {
	struct bv_args a;
	struct npbpf_bench_bpf *bench;
	int bench_fd[BV_N_HOOKS];
	uint32_t ifindex;          /* host side of the veth: the pod's endpoint */
	int orig_netns;            /* where we came from, while in the private one; or -1 */
	char root[64];             /* parent of the instances' pin directories */
	bool root_made;
	struct bv_inst inst[BV_N_INST];
	struct bv_point *pts;
	size_t n_pts;
};

static volatile sig_atomic_t bv_stop;

static void bv_on_signal(int sig)
{
	(void)sig;
	bv_stop = 1; /* the loops check it and clean up on their way out */
}

/* Checked between steps; bench_verdict() says so once on its way out. */
static bool bv_interrupted(void)
{
	return bv_stop;
}

/* ---- Options */

static void bv_usage(FILE *f)
{
	fprintf(f,
		"Usage: npbpf bench verdict [OPTIONS]\n"
		"\n"
		"Nanoseconds per packet through the real datapath programs under\n"
		"BPF_PROG_TEST_RUN, for hooks tc (to-pod) and xdp (from-pod), cases\n"
		"parse_only, ct_hit, new_allowed and new_denied, with 1, 1,000 and 100,000\n"
		"policy entries over 1 and 10,000 identities, and a many-flows run (100,000\n"
		"peers). Median of several rounds. Needs root; works in a private network\n"
		"namespace and private pin directories, removed at the end.\n"
		"\n"
		"  --repeat N            test-run repeats per 1-flow figure (default %u)\n"
		"  --runs R              rounds, the median is reported (default %u)\n"
		"  -o, --output FORMAT   text (default) or json\n"
		"  -h, --help            this help\n",
		BV_DEFAULT_REPEAT, BV_DEFAULT_RUNS);
}

static int bv_number(const char *opt, const char *text, uint64_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (text[0] < '0' || text[0] > '9')
		goto bad;
	v = strtoull(text, &end, 10);
	if (errno || *end || !v || v > max)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	log_error("bench verdict: --%s takes a number from 1 to %llu, not '%s'", opt,
		  (unsigned long long)max, text);
	return -EINVAL;
}

/* 0, 1 for --help (printed), or -EINVAL (logged). */
static int bv_parse(int argc, char **argv, struct bv_args *a)
{
	enum { O_REPEAT = 256, O_RUNS };
	static const struct option opts[] = {
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "runs", required_argument, NULL, O_RUNS },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	a->repeat = BV_DEFAULT_REPEAT;
	a->runs = BV_DEFAULT_RUNS;
	a->json = false;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case O_REPEAT:
			if (bv_number("repeat", optarg, 100000000, &a->repeat))
				return -EINVAL;
			break;
		case O_RUNS:
			if (bv_number("runs", optarg, BV_MAX_RUNS, &a->runs))
				return -EINVAL;
			break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				log_error("bench verdict: -o takes text or json, not '%s'", optarg);
				return -EINVAL;
			}
			a->json = !strcmp(optarg, "json");
			break;
		case 'h':
			bv_usage(stdout);
			return 1;
		case ':':
			log_error("bench verdict: option '%s' needs an argument", argv[optind - 1]);
			return -EINVAL;
		default:
			log_error("bench verdict: unknown option '%s' (see --help)",
				  argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("bench verdict: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* ---- The private network namespace and its veth */

static int bv_netns_enter(struct bv_ctx *x)
{
	FILE *ip;

	x->orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (x->orig_netns < 0) {
		int err = -errno;

		log_error("bench verdict: /proc/self/ns/net: %s", strerror(-err));
		return err;
	}
	if (unshare(CLONE_NEWNET)) {
		int err = -errno;

		log_error("bench verdict: unshare(CLONE_NEWNET): %s", strerror(-err));
		close(x->orig_netns);
		x->orig_netns = -1;
		return err;
	}
	/* From here the namespace dies with this process whatever happens;
	 * bv_netns_leave() ends it earlier on the normal path. */
	ip = popen("ip -batch -", "w");
	if (!ip) {
		log_error("bench verdict: cannot run ip: %s", strerror(errno));
		return -ENOENT;
	}
	fprintf(ip, "link add npbb0 type veth peer name npbb1\n"
		    "address add 198.18.0.2/15 dev npbb0\n"
		    "address add 198.18.0.1/15 dev npbb1\n");
	if (pclose(ip)) {
		log_error("bench verdict: creating the veth pair with ip failed "
			  "(is iproute2 installed?)");
		return -EIO;
	}
	x->ifindex = if_nametoindex("npbb0");
	if (!x->ifindex) {
		log_error("bench verdict: no device npbb0 after creating it");
		return -ENODEV;
	}
	return 0;
}

/* Back to the namespace we came from: the private one, no longer used by
 * anything, is destroyed with its veths. */
static void bv_netns_leave(struct bv_ctx *x)
{
	if (x->orig_netns < 0)
		return;
	if (setns(x->orig_netns, CLONE_NEWNET))
		log_warn("bench verdict: returning to the original network namespace: %s",
			 strerror(errno));
	close(x->orig_netns);
	x->orig_netns = -1;
}

/* ---- Frames */

static uint16_t bv_csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* An Ethernet/IPv4/TCP segment src:sport -> dst:dport (host order) with TCP
 * flags. The TCP checksum stays zero: nothing on this path checks it. */
static void bv_frame(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		     uint8_t flags)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct tcphdr *tcp = (struct tcphdr *)(ip + 1);

	memset(f, 0, BV_FRAME_LEN);
	memcpy(eth->h_dest, "\x02\x00\xc6\x12\x00\x01", ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\xc6\x12\x00\x02", ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*tcp));
	ip->saddr = htonl(src);
	ip->daddr = htonl(dst);
	ip->check = bv_csum(ip, sizeof(*ip));
	tcp->source = htons(sport);
	tcp->dest = htons(dport);
	tcp->doff = 5;
	tcp->window = htons(65535);
	((uint8_t *)tcp)[13] = flags;
}

#define BV_SYN 0x02
#define BV_ACK 0x10

/* The opener's side of a flow: the peer at tc (to-pod), the pod at xdp. */
static void bv_flow_frame(uint8_t *f, enum bv_hook hook, uint32_t peer, uint16_t sport,
			  uint16_t dport, uint8_t flags, bool reply)
{
	uint32_t opener = hook == BV_TC ? peer : BV_POD_ADDR;
	uint32_t server = hook == BV_TC ? BV_POD_ADDR : peer;

	if (reply)
		bv_frame(f, server, opener, dport, sport, flags);
	else
		bv_frame(f, opener, server, sport, dport, flags);
}

/* The frame of a case for peer address index i. */
static void bv_case_frame(uint8_t *f, enum bv_hook hook, enum bv_case cs, uint32_t i)
{
	uint32_t peer = BV_PEER_ADDR(i);

	switch (cs) {
	case BV_CT_HIT:
		bv_flow_frame(f, hook, peer, BV_SPORT_EST, BV_PORT_ALLOW, BV_ACK, false);
		break;
	case BV_NEW_DENIED:
		bv_flow_frame(f, hook, peer, BV_SPORT_NEW, BV_PORT_DENY, BV_SYN, false);
		break;
	default: /* parse_only reads the allowed SYN */
		bv_flow_frame(f, hook, peer, BV_SPORT_NEW, BV_PORT_ALLOW, BV_SYN, false);
		break;
	}
}

/* ---- Test runs */

/* Runs prog (TC when !xdp) on frame, repeat times. *pass: the verdict of the
 * last run; *ns: the kernel's time per run. 0 or -errno (logged). */
static int bv_run(int prog, bool xdp, uint32_t ifindex, const uint8_t *frame, uint32_t repeat,
		  bool *pass, uint32_t *ns)
{
	int err;

	if (xdp) {
		struct xdp_md ctx = { .data_end = BV_FRAME_LEN, .ingress_ifindex = ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = BV_FRAME_LEN,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

		err = bpf_prog_test_run_opts(prog, &o);
		*pass = o.retval == XDP_PASS;
		*ns = o.duration;
	} else {
		struct __sk_buff ctx = { .ifindex = ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = BV_FRAME_LEN,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

		err = bpf_prog_test_run_opts(prog, &o);
		*pass = o.retval == TC_ACT_OK;
		*ns = o.duration;
	}
	if (err) {
		err = -errno;
		if (err != -EINTR || !bv_stop)
			log_error("bench verdict: BPF_PROG_TEST_RUN: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* The program a point runs and whether it is XDP. */
static int bv_prog(const struct bv_ctx *x, enum bv_hook hook, enum bv_case cs,
		   const struct bv_inst *in, bool *xdp)
{
	*xdp = hook == BV_XDP;
	if (cs == BV_PARSE)
		return x->bench_fd[hook];
	return in->l->prog_fds[hook == BV_TC ? PIN_PROG_TO_POD : PIN_PROG_XDP];
}

static bool bv_expect_pass(enum bv_case cs)
{
	return cs != BV_NEW_DENIED;
}

/* ---- Filling an instance */

/* Writes n entries with one batch call per chunk. 0 or -errno (logged). */
static int bv_put(int fd, const char *map, const void *keys, const void *values, size_t n,
		  size_t key_size, size_t value_size)
{
	const size_t chunk = 16384;

	for (size_t done = 0; done < n;) {
		__u32 count = (__u32)(n - done < chunk ? n - done : chunk);
		LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);

		if (bpf_map_update_batch(fd, (const uint8_t *)keys + done * key_size,
					 (const uint8_t *)values + done * value_size, &count, &o)) {
			int err = -errno;

			log_error("bench verdict: writing %s: %s", map, strerror(-err));
			return err;
		}
		done += count;
	}
	return 0;
}

static uint64_t bv_mix(uint64_t z)
{
	/* splitmix64: a deterministic spread of peers and directions */
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int bv_fill_policy(struct bv_inst *in)
{
	uint8_t dir = in->hook == BV_TC ? NPBPF_DIR_INGRESS : NPBPF_DIR_EGRESS;
	uint32_t n = in->entries, ids = in->identities;
	/* The pod's own entries: one per allowed peer identity, starting at the
	 * identity of BV_PEER_ONE, so the 1-flow peer is always allowed. */
	uint32_t allow = n < ids ? n : ids;
	struct npbpf_policy_key *k = calloc(n, sizeof(*k));
	struct npbpf_policy_value *v = calloc(n, sizeof(*v));
	int err = -ENOMEM;

	if (!k || !v) {
		log_error("bench verdict: %s", strerror(ENOMEM));
		goto out;
	}
	for (uint32_t j = 0; j < allow; j++) {
		k[j].subject = NPBPF_SUBJECT_KEY(BV_ID(0), 0);
		k[j].peer = BV_ID((BV_PEER_ONE + j) % ids);
		k[j].dport = BV_PORT_ALLOW;
		k[j].proto = IPPROTO_TCP;
		k[j].dir = dir;
		/* One rule that selects many peers: one counter. */
		v[j].policy = 0;
		v[j].rule = 0;
	}
	/* The rest, over every subject. m = j - allow gives subject m % ids and
	 * q = m / ids < 100000 gives the port and protocol: (subject, port,
	 * protocol) is unique, none has port 8080 or 9, so the count is exact
	 * and the bench flows' lookups are unaffected. */
	for (uint32_t j = allow; j < n; j++) {
		uint32_t m = j - allow, q = m / ids;
		uint64_t r = bv_mix(j);

		k[j].subject = NPBPF_SUBJECT_KEY(BV_ID(m % ids), 0);
		k[j].peer = BV_ID((uint32_t)(r % ids));
		k[j].dport = (uint16_t)(10000 + q % 50000);
		k[j].proto = q / 50000 ? IPPROTO_UDP : IPPROTO_TCP;
		k[j].dir = (uint8_t)((r >> 32) & 1);
		v[j].policy = 1 + m / 16;
		v[j].rule = (uint16_t)(m % 4);
	}
	err = bv_put(in->l->fds[PIN_POLICY], NPBPF_MAP_POLICY, k, v, n, sizeof(*k), sizeof(*v));
out:
	free(k);
	free(v);
	return err;
}

static int bv_fill_ipcache(struct bv_inst *in)
{
	uint32_t n = in->identities * BV_ADDRS_PER_ID + 1;
	struct npbpf_addr *k = calloc(n, sizeof(*k));
	struct npbpf_ipc_value *v = calloc(n, sizeof(*v));
	int err = -ENOMEM;

	if (!k || !v) {
		log_error("bench verdict: %s", strerror(ENOMEM));
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		/* The last one is the pod itself. */
		uint32_t a = htonl(i + 1 < n ? BV_PEER_ADDR(i) : BV_POD_ADDR);

		k[i].family = NPBPF_FAMILY_V4;
		memcpy(k[i].addr, &a, 4);
		v[i].identity = i + 1 < n ? BV_ID(i % in->identities) : BV_ID(0);
	}
	err = bv_put(in->l->fds[PIN_IPC_HOST], NPBPF_MAP_IPC_HOST, k, v, n, sizeof(*k),
		     sizeof(*v));
out:
	free(k);
	free(v);
	return err;
}

static int bv_fill_subjects(struct bv_inst *in)
{
	uint32_t n = in->identities;
	__u32 *k = calloc(n, sizeof(*k));
	struct npbpf_subject *v = calloc(n, sizeof(*v));
	int err = -ENOMEM;

	if (!k || !v) {
		log_error("bench verdict: %s", strerror(ENOMEM));
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		k[i] = NPBPF_SUBJECT_KEY(BV_ID(i), 0);
		/* Isolated both ways, rules "from/to these identities, this
		 * port": the one lookup form every entry above has. */
		v[i].forms[NPBPF_DIR_INGRESS] = NPBPF_FORM_PORT << NPBPF_FORM_SHIFT_PEER;
		v[i].forms[NPBPF_DIR_EGRESS] = NPBPF_FORM_PORT << NPBPF_FORM_SHIFT_PEER;
		v[i].isolated = (1u << NPBPF_DIR_INGRESS) | (1u << NPBPF_DIR_EGRESS);
	}
	err = bv_put(in->l->fds[PIN_SUBJECT], NPBPF_MAP_SUBJECT, k, v, n, sizeof(*k),
		     sizeof(*v));
out:
	free(k);
	free(v);
	return err;
}

static int bv_fill_endpoint(const struct bv_ctx *x, struct bv_inst *in)
{
	struct npbpf_endpoint ep;
	uint32_t a = htonl(BV_POD_ADDR);
	__u32 key = x->ifindex;

	memset(&ep, 0, sizeof(ep));
	ep.identity = BV_ID(0);
	ep.flags = NPBPF_EP_HAS_V4;
	memcpy(ep.addr4, &a, 4);
	if (bpf_map_update_elem(in->l->fds[PIN_ENDPOINT], &key, &ep, BPF_ANY)) {
		int err = -errno;

		log_error("bench verdict: writing %s: %s", NPBPF_MAP_ENDPOINT, strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Opens flow i (SYN from the opener, SYN-ACK back) through the real
 * programs, so its ACK is a conntrack hit of an established flow. The hook's
 * own program sees the SYN, the other direction's TC program the SYN-ACK.
 */
static int bv_establish(const struct bv_ctx *x, struct bv_inst *in, uint32_t i)
{
	int open_prog = in->l->prog_fds[in->hook == BV_TC ? PIN_PROG_TO_POD : PIN_PROG_XDP];
	int reply_prog = in->l->prog_fds[in->hook == BV_TC ? PIN_PROG_FROM_POD : PIN_PROG_TO_POD];
	uint8_t f[BV_FRAME_LEN];
	uint32_t ns;
	bool pass1, pass2;

	bv_flow_frame(f, in->hook, BV_PEER_ADDR(i), BV_SPORT_EST, BV_PORT_ALLOW, BV_SYN, false);
	if (bv_run(open_prog, in->hook == BV_XDP, x->ifindex, f, 1, &pass1, &ns))
		return -EIO;
	bv_flow_frame(f, in->hook, BV_PEER_ADDR(i), BV_SPORT_EST, BV_PORT_ALLOW,
		      BV_SYN | BV_ACK, true);
	if (bv_run(reply_prog, false, x->ifindex, f, 1, &pass2, &ns))
		return -EIO;
	if (!pass1 || !pass2) {
		log_error("bench verdict: %s, %u entries, %u identities: opening flow %u: %s "
			  "dropped",
			  bv_hook_names[in->hook], in->entries, in->identities, i,
			  pass1 ? "the SYN-ACK was" : "the SYN was");
		return -EPROTO;
	}
	return 0;
}

/* Packets of a counter key, summed over CPUs; 0 when absent. */
static uint64_t bv_counter(const struct bv_inst *in, __u32 policy, __u16 rule, __u8 dir,
			   __u8 verdict)
{
	struct npbpf_counter_key k;
	struct npbpf_counter *v;
	uint64_t sum = 0;
	int ncpu = libbpf_num_possible_cpus();

	if (ncpu <= 0)
		return 0;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return 0;
	memset(&k, 0, sizeof(k));
	k.policy = policy;
	k.rule = rule;
	k.dir = dir;
	k.verdict = verdict;
	if (!bpf_map_lookup_elem(in->l->fds[PIN_COUNTERS], &k, v)) {
		for (int c = 0; c < ncpu; c++)
			sum += v[c].packets;
	}
	free(v);
	return sum;
}

/*
 * Runs each case of the 1-flow frames BV_CHECK_RUNS times and checks that it
 * moved its own counter by as much: a conntrack hit the conntrack counter, an
 * allowed SYN the rule's (not conntrack's: it was judged as new every time),
 * a denied SYN the policy drop. 0 or -EPROTO (logged).
 */
#define BV_CHECK_RUNS 100u
static int bv_check_paths(const struct bv_ctx *x, struct bv_inst *in)
{
	__u8 dir = in->hook == BV_TC ? NPBPF_DIR_INGRESS : NPBPF_DIR_EGRESS;
	static const struct {
		enum bv_case cs;
		__u32 policy;
		__u16 rule;
		__u8 verdict;
	} want[] = {
		{ BV_CT_HIT, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT, NPBPF_VERDICT_ALLOW },
		{ BV_NEW_ALLOWED, 0, 0, NPBPF_VERDICT_ALLOW }, /* bv_fill_policy's rule */
		{ BV_NEW_DENIED, ~0u, NPBPF_DROP_POLICY, NPBPF_VERDICT_DROP },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint8_t f[BV_FRAME_LEN];
		uint64_t before, ct_before, moved, ct_moved;
		bool xdp, pass;
		int prog = bv_prog(x, in->hook, want[i].cs, in, &xdp);
		uint32_t ns;

		before = bv_counter(in, want[i].policy, want[i].rule, dir, want[i].verdict);
		ct_before = bv_counter(in, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT, dir,
				       NPBPF_VERDICT_ALLOW);
		bv_case_frame(f, in->hook, want[i].cs, BV_PEER_ONE);
		if (bv_run(prog, xdp, x->ifindex, f, BV_CHECK_RUNS, &pass, &ns))
			return -EIO;
		moved = bv_counter(in, want[i].policy, want[i].rule, dir, want[i].verdict) -
			before;
		ct_moved = bv_counter(in, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT, dir,
				      NPBPF_VERDICT_ALLOW) -
			   ct_before;
		if (pass != bv_expect_pass(want[i].cs) || moved != BV_CHECK_RUNS ||
		    (want[i].cs != BV_CT_HIT && ct_moved)) {
			log_error("bench verdict: %s %s (%u entries, %u identities): %u runs "
				  "%s, moved its counter by %llu and conntrack's by %llu: not "
				  "the path it is named after",
				  bv_hook_names[in->hook], bv_case_names[want[i].cs],
				  in->entries, in->identities, BV_CHECK_RUNS,
				  pass ? "passed" : "dropped", (unsigned long long)moved,
				  (unsigned long long)ct_moved);
			return -EPROTO;
		}
	}
	return 0;
}

static bool bv_many_flows(const struct bv_inst *in)
{
	return in->entries == 100000 && in->identities == 10000;
}

/* Loads one instance into its own pin directory and fills it. */
static int bv_inst_open(struct bv_ctx *x, struct bv_inst *in)
{
	char dir[128];
	struct loader_opts lo = { 0 };
	uint32_t flows;
	int err;

	snprintf(dir, sizeof(dir), "%s/%s-e%u-i%u", x->root, bv_hook_names[in->hook],
		 in->entries, in->identities);
	lo.pin_dir = dir;
	in->pinned = true; /* loader_open may fail half-way, after pinning */
	err = loader_open(&lo, &in->l);
	if (err) {
		if (pinned_remove_dir(dir) == 0)
			in->pinned = false;
		return err;
	}
	err = bv_fill_endpoint(x, in);
	if (!err)
		err = bv_fill_subjects(in);
	if (!err)
		err = bv_fill_ipcache(in);
	if (!err)
		err = bv_fill_policy(in);
	if (err)
		return err;
	flows = bv_many_flows(in) ? BV_FLOWS : 0;
	err = bv_establish(x, in, BV_PEER_ONE);
	for (uint32_t i = 0; !err && i < flows; i++) {
		if (bv_interrupted())
			return -EINTR;
		if (i != BV_PEER_ONE)
			err = bv_establish(x, in, i);
	}
	if (!err)
		err = bv_check_paths(x, in);
	return err;
}

static void bv_inst_close(struct bv_inst *in)
{
	if (in->pinned && in->l && !loader_unpin(in->l))
		in->pinned = false;
	loader_free(in->l);
	in->l = NULL;
}

/* ---- Measuring */

/* The conntrack key an allowed SYN frame f creates at hook. */
static void bv_ct_key(const uint8_t *f, enum bv_hook hook, struct npbpf_ct_key *k)
{
	const struct iphdr *ip = (const struct iphdr *)(f + ETH_HLEN);
	const struct tcphdr *tcp = (const struct tcphdr *)(ip + 1);

	memset(k, 0, sizeof(*k));
	memcpy(k->saddr, &ip->saddr, 4);
	memcpy(k->daddr, &ip->daddr, 4);
	k->sport = tcp->source;
	k->dport = tcp->dest;
	k->proto = IPPROTO_TCP;
	k->family = NPBPF_FAMILY_V4;
	k->dir = hook == BV_TC ? NPBPF_DIR_INGRESS : NPBPF_DIR_EGRESS;
}

/* Removes the entries the many-flows new_allowed run created (untimed), so
 * the next round inserts new keys again rather than replacing them. */
static int bv_forget_new_flows(const struct bv_point *p)
{
	uint8_t f[BV_FRAME_LEN];
	struct npbpf_ct_key k;

	for (uint32_t i = 0; i < p->flows; i++) {
		bv_case_frame(f, p->hook, BV_NEW_ALLOWED, i);
		bv_ct_key(f, p->hook, &k);
		if (bpf_map_delete_elem(p->in->l->fds[PIN_CT], &k) && errno != ENOENT) {
			int err = -errno;

			log_error("bench verdict: deleting a conntrack entry: %s", strerror(-err));
			return err;
		}
	}
	return 0;
}

static int bv_measure(struct bv_ctx *x, struct bv_point *p, double *ns)
{
	uint8_t f[BV_FRAME_LEN];
	bool xdp, pass = false;
	int prog = bv_prog(x, p->hook, p->cs, p->in, &xdp);
	uint32_t d;
	uint64_t sum = 0;

	if (p->flows == 1) {
		bv_case_frame(f, p->hook, p->cs, BV_PEER_ONE);
		if (bv_run(prog, xdp, x->ifindex, f, x->a.repeat, &pass, &d))
			return -EIO;
		sum = d;
	} else {
		for (uint32_t i = 0; i < p->flows; i++) {
			bv_case_frame(f, p->hook, p->cs, i);
			if (bv_run(prog, xdp, x->ifindex, f, 1, &pass, &d))
				return -EIO;
			if (pass != bv_expect_pass(p->cs))
				break;
			sum += d;
		}
		if (p->cs == BV_NEW_ALLOWED && bv_forget_new_flows(p))
			return -EIO;
	}
	if (pass != bv_expect_pass(p->cs)) {
		log_error("bench verdict: %s %s (%u entries, %u identities, %u flows): the "
			  "datapath said %s, expected %s",
			  bv_hook_names[p->hook], bv_case_names[p->cs], p->in->entries,
			  p->in->identities, p->flows, pass ? "pass" : "drop",
			  pass ? "drop" : "pass");
		return -EPROTO;
	}
	*ns = (double)sum / (p->flows == 1 ? 1 : p->flows);
	return 0;
}

static int bv_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double bv_median(const double *s, uint32_t n)
{
	double t[BV_MAX_RUNS];

	memcpy(t, s, n * sizeof(*t));
	qsort(t, n, sizeof(*t), bv_cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static int bv_points(struct bv_ctx *x)
{
	size_t n = BV_N_INST * BV_N_CASES + BV_N_HOOKS * BV_N_CASES;

	x->pts = calloc(n, sizeof(*x->pts));
	if (!x->pts) {
		log_error("bench verdict: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (size_t i = 0; i < BV_N_INST; i++) {
		for (int cs = 0; cs < BV_N_CASES; cs++) {
			struct bv_point *p = &x->pts[x->n_pts++];

			p->hook = x->inst[i].hook;
			p->cs = (enum bv_case)cs;
			p->in = &x->inst[i];
			p->flows = 1;
		}
	}
	for (size_t i = 0; i < BV_N_INST; i++) {
		if (!bv_many_flows(&x->inst[i]))
			continue;
		for (int cs = 0; cs < BV_N_CASES; cs++) {
			struct bv_point *p = &x->pts[x->n_pts++];

			p->hook = x->inst[i].hook;
			p->cs = (enum bv_case)cs;
			p->in = &x->inst[i];
			p->flows = BV_FLOWS;
		}
	}
	return 0;
}

static int bv_rounds(struct bv_ctx *x)
{
	for (uint32_t r = 0; r < x->a.runs; r++) {
		fprintf(stderr, "round %u/%u...\n", r + 1, x->a.runs);
		for (size_t j = 0; j < x->n_pts; j++) {
			/* A different first point each round: no point always runs
			 * right after the setup or the same neighbour. */
			struct bv_point *p = &x->pts[(j + r * 7) % x->n_pts];

			if (bv_interrupted())
				return -EINTR;
			if (bv_measure(x, p, &p->samples[r]))
				return -EIO;
		}
	}
	for (size_t j = 0; j < x->n_pts; j++) {
		struct bv_point *p = &x->pts[j];

		p->ns = bv_median(p->samples, x->a.runs);
		p->min = p->max = p->samples[0];
		for (uint32_t r = 1; r < x->a.runs; r++) {
			p->min = p->samples[r] < p->min ? p->samples[r] : p->min;
			p->max = p->samples[r] > p->max ? p->samples[r] : p->max;
		}
	}
	return 0;
}

/* ---- Output */

static const struct bv_point *bv_find(const struct bv_ctx *x, enum bv_hook hook, enum bv_case cs,
				      uint32_t entries, uint32_t ids, uint32_t flows)
{
	for (size_t j = 0; j < x->n_pts; j++) {
		const struct bv_point *p = &x->pts[j];

		if (p->hook == hook && p->cs == cs && p->in->entries == entries &&
		    p->in->identities == ids && p->flows == flows)
			return p;
	}
	return NULL;
}

/* A goal ratio: num / den within each round (the two were measured moments
 * apart, under the same load), median over the rounds. */
static void bv_goal(const struct bv_ctx *x, enum bv_hook hook, const char *what,
		    const struct bv_point *num, const struct bv_point *den, double limit)
{
	double ratios[BV_MAX_RUNS], r;

	for (uint32_t i = 0; i < x->a.runs; i++)
		ratios[i] = num->samples[i] / den->samples[i];
	r = bv_median(ratios, x->a.runs);

	printf("  %-4s %-48s %7.2f  (goal <= %.2f: %s)\n", bv_hook_names[hook], what, r, limit,
	       r <= limit ? "met" : "MISSED");
}

static void bv_print_goals(const struct bv_ctx *x)
{
	printf("\nGoals (the ratio within each round, median over the rounds):\n");
	for (int h = 0; h < BV_N_HOOKS; h++) {
		enum bv_hook hk = (enum bv_hook)h;
		const struct bv_point *big_a = bv_find(x, hk, BV_NEW_ALLOWED, 100000, 10000, 1);
		const struct bv_point *one_a = bv_find(x, hk, BV_NEW_ALLOWED, 1, 1, 1);
		const struct bv_point *big_d = bv_find(x, hk, BV_NEW_DENIED, 100000, 10000, 1);
		const struct bv_point *one_d = bv_find(x, hk, BV_NEW_DENIED, 1, 1, 1);
		const struct bv_point *parse = bv_find(x, hk, BV_PARSE, 100000, 10000, 1);
		const struct bv_point *ct = bv_find(x, hk, BV_CT_HIT, 100000, 10000, 1);

		bv_goal(x, hk, "new_allowed 100000 entries/10000 ids vs 1/1", big_a, one_a, 1.10);
		bv_goal(x, hk, "new_denied 100000 entries/10000 ids vs 1/1", big_d, one_d, 1.10);
		bv_goal(x, hk, "ct_hit vs parse_only (100000/10000)", ct, parse, 3.0);
		bv_goal(x, hk, "new_denied vs parse_only (100000/10000)", big_d, parse, 5.0);
	}
	printf("\nnew_allowed includes its conntrack insert. 100000-flow figures: one test run\n"
	       "per packet (one more clock read each), compare them with parse_only of the\n"
	       "same flows. The kernel reports whole ns per packet.\n");
}

static void bv_print(const struct bv_ctx *x)
{
	struct out o;

	if (!x->a.json) {
		printf("%-4s %-12s %8s %10s %7s %10s %8s %8s\n", "hook", "case", "entries",
		       "identities", "flows", "ns/pkt", "min", "max");
		for (size_t j = 0; j < x->n_pts; j++) {
			const struct bv_point *p = &x->pts[j];

			printf("%-4s %-12s %8u %10u %7u %10.1f %8.1f %8.1f\n",
			       bv_hook_names[p->hook], bv_case_names[p->cs], p->in->entries,
			       p->in->identities, p->flows, p->ns, p->min, p->max);
		}
		bv_print_goals(x);
		return;
	}
	out_init(&o, stdout, true);
	out_obj_begin(&o, NULL);
	out_arr_begin(&o, "results");
	for (size_t j = 0; j < x->n_pts; j++) {
		const struct bv_point *p = &x->pts[j];

		out_obj_begin(&o, NULL);
		out_str(&o, "hook", bv_hook_names[p->hook]);
		out_str(&o, "case", bv_case_names[p->cs]);
		out_uint(&o, "entries", p->in->entries);
		out_uint(&o, "identities", p->in->identities);
		out_uint(&o, "flows", p->flows);
		out_double(&o, "ns_per_pkt", p->ns, 1);
		out_obj_end(&o);
	}
	out_arr_end(&o);
	out_obj_end(&o);
	out_finish(&o);
}

/* ---- The command */

static int bv_setup(struct bv_ctx *x)
{
	int err;

	err = bv_netns_enter(x);
	if (err)
		return err;
	x->bench = npbpf_bench_bpf__open_and_load();
	if (!x->bench) {
		err = -errno;
		log_error("bench verdict: loading the bench object: %s", strerror(-err));
		return err;
	}
	x->bench_fd[BV_TC] = bpf_program__fd(x->bench->progs.npbpf_bench_tc);
	x->bench_fd[BV_XDP] = bpf_program__fd(x->bench->progs.npbpf_bench_xdp);

	err = pinned_prepare_dir(PINNED_BPFFS_ROOT);
	if (err)
		return err;
	snprintf(x->root, sizeof(x->root), "%s/npbpf-bench-XXXXXX", PINNED_BPFFS_ROOT);
	if (!mkdtemp(x->root)) {
		err = -errno;
		log_error("bench verdict: creating a pin directory: %s", strerror(-err));
		return err;
	}
	x->root_made = true;
	for (size_t i = 0; i < BV_N_INST; i++) {
		struct bv_inst *in = &x->inst[i];

		in->hook = (enum bv_hook)(i / BV_N_CONFIGS);
		in->entries = bv_entries[(i % BV_N_CONFIGS) / BV_N_IDENTITIES];
		in->identities = bv_identities[i % BV_N_IDENTITIES];
		fprintf(stderr, "loading and filling %s: %u entries, %u identities%s...\n",
			bv_hook_names[in->hook], in->entries, in->identities,
			bv_many_flows(in) ? ", 100000 established flows" : "");
		if (bv_interrupted())
			return -EINTR;
		err = bv_inst_open(x, in);
		if (err)
			return err;
	}
	return bv_points(x);
}

static void bv_teardown(struct bv_ctx *x)
{
	for (size_t i = 0; i < BV_N_INST; i++)
		bv_inst_close(&x->inst[i]);
	if (x->root_made && rmdir(x->root))
		log_warn("bench verdict: %s left behind: %s", x->root, strerror(errno));
	npbpf_bench_bpf__destroy(x->bench);
	bv_netns_leave(x);
	free(x->pts);
}

int bench_verdict(int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = bv_on_signal }, saved[3];
	struct bv_ctx x;
	int r, ret = EXIT_USAGE;

	memset(&x, 0, sizeof(x));
	x.orig_netns = -1;
	r = bv_parse(argc, argv, &x.a);
	if (r)
		return r > 0 ? EXIT_OK : EXIT_USAGE;
	if (geteuid()) {
		log_error("bench verdict: needs root (BPF programs, maps and a network namespace)");
		return EXIT_FAIL;
	}
	bv_stop = 0;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &saved[i]);

	ret = EXIT_FAIL;
	if (bv_setup(&x) || bv_rounds(&x)) {
		if (bv_stop)
			log_error("bench verdict: interrupted; cleaning up");
		goto out;
	}
	bv_print(&x);
	ret = EXIT_OK;
out:
	bv_teardown(&x);
	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &saved[i], NULL);
	return ret;
}
