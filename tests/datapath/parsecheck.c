/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parser's two paths agree (bpf/lib/parse.h): the fast path reads the
 * common frame in place, the general parser loads every header with
 * bpf_skb_load_bytes / bpf_xdp_load_bytes and takes everything. The test
 * object bpf/parsecheck.bpf.c runs both on one frame, each into a zeroed
 * struct npbpf_pkt, in the XDP and the TC context; here, for every frame:
 *  - the fast path either declines (PARSE_FALLBACK) and has written nothing,
 *  - or it gives exactly the general parser's result: the same return value
 *    (PARSE_IP / PARSE_ARP / PARSE_ND or the drop reason) and the same
 *    struct, byte for byte;
 * and parse_packet(), the global function the datapath calls, gives the
 * general parser's result too.
 * Everything the enforcement core decides is a function of that result and
 * of packet bytes it reads again with ctx_load at offsets from it, so equal
 * parses are equal verdicts and reasons; in particular the fast path can
 * never pass what the general parser would have dropped.
 *
 * Frames: crafted ones (plain TCP/UDP/SCTP/ICMP of both families, which the
 * fast path must take, and odd ones: truncated headers at every length, IHL
 * below 5, IPv4 options, tot_len smaller and larger than the frame, IPv6
 * extension headers and fragments, VLAN tags, IPv4 fragments, wrong
 * versions, ARP, other EtherTypes), then a bounded loop of random mutations
 * of the valid ones (fixed seed, so a failure repeats; the first mismatch is
 * printed in hex).
 */
#include "harness.h"
#include "parsecheck.skel.h"

#include <errno.h>
#include <linux/pkt_cls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define PC_FALLBACK    3 /* PARSE_FALLBACK in parse.h */
#define PC_FUZZ_FRAMES 20000
#define PC_FUZZ_SEED   0x12c0ffeeull
#define PC_OUT_MAX     512

struct pc {
	struct npbpf_parsecheck_bpf *skel;
	int prog[2]; /* 0 XDP, 1 TC */
	int in_fd, out_fd;
	size_t vsize, psize; /* out value size, sizeof(struct npbpf_pkt) */
	unsigned long runs, taken, declined, bad, tc_refused;
	int last_err;
	char first_bad[1024];
};

static const char *const pc_ctx_name[2] = {"xdp", "tc"};

struct pc_in_v {
	uint32_t from_pod, cfg_flags;
};

static void hex(char *out, size_t cap, const uint8_t *b, size_t n)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t i = 0; i < n && o + 3 < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%02x", b[i]);
}

/*
 * Runs frame through context k (0 XDP, 1 TC). Returns 1 agree, 0 disagree,
 * -1 the run itself failed. *taken: the fast path took it.
 */
static int pc_one(struct pc *pc, int k, const uint8_t *frame, size_t len, int from_pod,
		  uint32_t flags, int *taken)
{
	uint8_t out[PC_OUT_MAX];
	struct pc_in_v in = {(uint32_t)from_pod, flags};
	uint32_t zero = 0;
	int32_t fr, sr, br;
	const uint8_t *fast, *slow, *both;
	int err, ok;

	memset(out, 0x5a, sizeof(out)); /* neither return value can read 0x5a5a5a5a */
	if (bpf_map_update_elem(pc->in_fd, &zero, &in, BPF_ANY) ||
	    bpf_map_update_elem(pc->out_fd, &zero, out, BPF_ANY))
		return -1;
	if (k == 0) {
		struct xdp_md ctx = {.data_end = (__u32)len};
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

		err = bpf_prog_test_run_opts(pc->prog[0], &o);
	} else {
		struct __sk_buff ctx = {.ifindex = 1};
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

		err = bpf_prog_test_run_opts(pc->prog[1], &o);
	}
	if (err || bpf_map_lookup_elem(pc->out_fd, &zero, out)) {
		pc->last_err = err ? err : -errno;
		return -1;
	}
	pc->runs++;
	memcpy(&fr, out, 4);
	memcpy(&sr, out + 4, 4);
	memcpy(&br, out + 8, 4);
	if (fr == 0x5a5a5a5a || sr == 0x5a5a5a5a || br == 0x5a5a5a5a)
		return -1; /* the program did not get to write */
	fast = out + 16;
	slow = fast + pc->psize;
	both = slow + pc->psize;
	if (fr == PC_FALLBACK) {
		/* Declined: nothing written. */
		ok = 1;
		for (size_t i = 0; i < pc->psize; i++)
			ok &= fast[i] == 0;
		pc->declined++;
		*taken = 0;
	} else {
		ok = fr == sr && !memcmp(fast, slow, pc->psize);
		pc->taken++;
		*taken = 1;
	}
	/* What the datapath calls gives the general parser's answer. */
	ok &= br == sr && !memcmp(both, slow, pc->psize);
	if (!ok) {
		char f[300], a[200], b[200];

		pc->bad++;
		if (!pc->first_bad[0]) {
			hex(f, sizeof(f), frame, len < 120 ? len : 120);
			hex(a, sizeof(a), fast, pc->psize);
			hex(b, sizeof(b), slow, pc->psize);
			snprintf(pc->first_bad, sizeof(pc->first_bad),
				 "%s from_pod=%d len=%zu: fast %d %s, slow %d %s, parse_packet %d; "
				 "frame %s",
				 pc_ctx_name[k], from_pod, len, fr, a, sr, b, br, f);
		}
	}
	return ok;
}

/* Both contexts, from the pod and towards it (the general parser's VLAN
 * answer differs), with and without NPBPF_CFG_ALLOW_VLAN. Returns 1 when
 * every run agreed; *taken_all / *taken_any: the fast path took the frame in
 * every / some run. Frames shorter than an Ethernet header are refused by
 * the test run itself and count as agreeing. */
static int pc_frame(struct pc *pc, const uint8_t *frame, size_t len, int *taken_all, int *taken_any)
{
	static const struct pc_in_v modes[] = {
		{1, 0},
		{0, 0},
		{1, NPBPF_CFG_ALLOW_VLAN},
	};
	int ok = 1;

	*taken_all = 1;
	*taken_any = 0;
	for (int k = 0; k < 2; k++) {
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			int t = 0, r = pc_one(pc, k, frame, len, (int)modes[m].from_pod,
					      modes[m].cfg_flags, &t);

			if (r < 0) {
				/* The TC test run refuses frames whose IP
				 * header is cut (the kernel builds an skb of
				 * them); the XDP run of the same frame
				 * checks them. */
				if (k == 1 && pc->last_err == -EINVAL)
					pc->tc_refused++;
				else if (len >= 14) {
					ok = 0;
					if (!pc->first_bad[0])
						snprintf(pc->first_bad, sizeof(pc->first_bad),
							 "test run failed (%s, len %zu): %s",
							 pc_ctx_name[k], len,
							 strerror(-pc->last_err));
				}
				*taken_all = 0;
				continue;
			}
			ok &= r;
			*taken_all &= t;
			*taken_any |= t;
		}
	}
	return ok;
}

/* ---- Frames */

enum expect_fast { EF_ANY = -1, EF_DECLINE = 0, EF_TAKE = 1 };

struct crafted {
	char name[64];
	uint8_t buf[PKT_CAP];
	size_t len;
	int expect; /* enum expect_fast */
	int valid;  /* a well-formed frame: a seed for the mutations */
};

#define N_CRAFT 96
static struct crafted craft[N_CRAFT];
static int n_craft;

static const uint8_t a4s[16] = {10, 0, 0, 1}, a4d[16] = {10, 0, 0, 2};
static const uint8_t a6s[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t a6d[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t ll6[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t mc6[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static void spec_init(struct pkt_spec *s, int family, uint8_t proto)
{
	memset(s, 0, sizeof(*s));
	s->family = family;
	memcpy(s->saddr, family == 4 ? a4s : a6s, 16);
	memcpy(s->daddr, family == 4 ? a4d : a6d, 16);
	s->proto = proto;
	s->sport = 40000;
	s->dport = 80;
	s->tcp_flags = 0x02;
}

static struct crafted *add(const char *name, const struct pkt_spec *s, int expect, int valid)
{
	struct crafted *c;

	if (n_craft >= N_CRAFT)
		return NULL;
	c = &craft[n_craft];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->len = pkt_build(s, c->buf, sizeof(c->buf));
	if (!c->len)
		return NULL;
	c->expect = expect;
	c->valid = valid;
	n_craft++;
	return c;
}

/* Offset of the IP header in a frame pkt_build made (no tag). */
#define L3 14

static void build_crafted(void)
{
	struct pkt_spec s;
	struct crafted *c;
	static const uint8_t tcp_flags[] = {0x02, 0x10, 0x12, 0x11, 0x04, 0x18};

	n_craft = 0;
	/* The common frames: the fast path must take them. */
	for (size_t i = 0; i < sizeof(tcp_flags); i++) {
		char n[64];

		spec_init(&s, 4, 6);
		s.tcp_flags = tcp_flags[i];
		snprintf(n, sizeof(n), "v4 tcp flags %#x", tcp_flags[i]);
		add(n, &s, EF_TAKE, 1);
		spec_init(&s, 6, 6);
		s.tcp_flags = tcp_flags[i];
		snprintf(n, sizeof(n), "v6 tcp flags %#x", tcp_flags[i]);
		add(n, &s, EF_TAKE, 1);
	}
	spec_init(&s, 4, 17);
	add("v4 udp", &s, EF_TAKE, 1);
	s.dport = 4789;
	add("v4 udp to vxlan port", &s, EF_TAKE, 1);
	spec_init(&s, 6, 17);
	add("v6 udp", &s, EF_TAKE, 1);
	spec_init(&s, 4, 132);
	add("v4 sctp", &s, EF_TAKE, 1);
	spec_init(&s, 6, 132);
	add("v6 sctp", &s, EF_TAKE, 1);
	spec_init(&s, 4, 1);
	s.icmp_type = 8;
	s.icmp_id = 0x1234;
	add("v4 echo request", &s, EF_TAKE, 1);
	s.icmp_type = 0;
	add("v4 echo reply", &s, EF_TAKE, 1);
	s.icmp_type = 13;
	add("v4 icmp timestamp", &s, EF_TAKE, 1);
	s.icmp_type = 3;
	s.icmp_code = 3;
	s.payload_len = 28;
	add("v4 icmp unreachable", &s, EF_TAKE, 1);
	spec_init(&s, 6, 58);
	s.icmp_type = 128;
	s.icmp_id = 0x4321;
	add("v6 echo request", &s, EF_TAKE, 1);
	s.icmp_type = 129;
	add("v6 echo reply", &s, EF_TAKE, 1);
	s.icmp_type = 1;
	s.payload_len = 48;
	add("v6 unreachable", &s, EF_TAKE, 1);
	spec_init(&s, 6, 58);
	s.icmp_type = 135;
	s.hop_limit = 255;
	memcpy(s.daddr, mc6, 16);
	s.payload_len = 24;
	add("v6 neighbour solicitation (hop 255)", &s, EF_TAKE, 1);
	s.icmp_type = 136;
	memcpy(s.saddr, ll6, 16);
	add("v6 neighbour advertisement", &s, EF_TAKE, 1);
	s.icmp_type = 134;
	add("v6 router advertisement", &s, EF_TAKE, 1);
	s.icmp_type = 135;
	s.hop_limit = 64;
	add("v6 solicitation, hop limit 64", &s, EF_TAKE, 1);
	s.icmp_type = 143;
	s.hop_limit = 1;
	add("v6 MLDv2 report (hop 1)", &s, EF_TAKE, 1);
	s.icmp_type = 131;
	add("v6 MLD report (hop 1)", &s, EF_TAKE, 1);
	s.hop_limit = 2;
	add("v6 MLD report, hop limit 2", &s, EF_TAKE, 1);
	spec_init(&s, 4, 47);
	add("v4 gre (no ports)", &s, EF_TAKE, 1);
	spec_init(&s, 4, 4);
	add("v4 ipip (no ports)", &s, EF_TAKE, 1);
	spec_init(&s, 4, 58);
	add("v4 carrying protocol 58", &s, EF_TAKE, 1);

	/* Odd ones. */
	spec_init(&s, 4, 6);
	if ((c = add("v4 ihl 4", &s, EF_DECLINE, 0)))
		c->buf[L3] = 0x44;
	if ((c = add("v4 ihl 0", &s, EF_DECLINE, 0)))
		c->buf[L3] = 0x40;
	if ((c = add("v4 version 6 under 0x0800", &s, EF_DECLINE, 0)))
		c->buf[L3] = 0x65;
	if ((c = add("v4 tot_len 20 (smaller than the frame)", &s, EF_TAKE, 0))) {
		c->buf[L3 + 2] = 0;
		c->buf[L3 + 3] = 20;
	}
	if ((c = add("v4 tot_len 9000 (larger than the frame)", &s, EF_TAKE, 0))) {
		c->buf[L3 + 2] = 0x23;
		c->buf[L3 + 3] = 0x28;
	}
	if ((c = add("v4 ihl 6 without the option bytes", &s, EF_DECLINE, 0)))
		c->buf[L3] = 0x46;
	if ((c = add("v4 ihl 15", &s, EF_DECLINE, 0)))
		c->buf[L3] = 0x4f;
	if ((c = add("v4 DF set", &s, EF_TAKE, 1)))
		c->buf[L3 + 6] = 0x40;
	if ((c = add("v4 reserved flag set", &s, EF_TAKE, 0)))
		c->buf[L3 + 6] = 0x80;
	s.ip_options = 1;
	add("v4 tcp, one option word", &s, EF_DECLINE, 1);
	s.ip_options = 10;
	add("v4 tcp, 40 bytes of options", &s, EF_DECLINE, 1);
	spec_init(&s, 4, 17);
	s.ip_options = 3;
	add("v4 udp with options", &s, EF_DECLINE, 1);
	spec_init(&s, 4, 6);
	s.frag = PKT_FIRST;
	s.frag_id = 77;
	add("v4 first fragment", &s, EF_DECLINE, 1);
	s.frag = PKT_LATER;
	add("v4 later fragment", &s, EF_DECLINE, 1);
	s.frag = PKT_NOFRAG;
	if ((c = add("v4 tcp fragment at offset 8 bytes", &s, EF_DECLINE, 0))) {
		c->buf[L3 + 6] = 0;
		c->buf[L3 + 7] = 1;
	}
	spec_init(&s, 4, 17);
	s.frag = PKT_LATER;
	add("v4 udp later fragment", &s, EF_DECLINE, 1);
	spec_init(&s, 6, 6);
	s.v6_hop = 1;
	add("v6 hop-by-hop then tcp", &s, EF_DECLINE, 1);
	s.v6_hop = 0;
	s.v6_ext = 2;
	add("v6 two destination options then tcp", &s, EF_DECLINE, 1);
	s.v6_ext = 9;
	add("v6 nine extension headers", &s, EF_DECLINE, 1);
	s.v6_ext = 0;
	s.frag = PKT_FIRST;
	add("v6 first fragment", &s, EF_DECLINE, 1);
	s.frag = PKT_LATER;
	add("v6 later fragment", &s, EF_DECLINE, 1);
	spec_init(&s, 6, 58);
	s.icmp_type = 135;
	s.hop_limit = 255;
	s.frag = PKT_FIRST;
	s.payload_len = 24;
	add("v6 fragmented solicitation", &s, EF_DECLINE, 1);
	spec_init(&s, 6, 6);
	if ((c = add("v6 version 4 under 0x86dd", &s, EF_DECLINE, 0)))
		c->buf[L3] = 0x40;
	if ((c = add("v6 next header 1 (icmp, not icmpv6)", &s, EF_DECLINE, 0)))
		c->buf[L3 + 6] = 1;
	if ((c = add("v6 next header 59 (none)", &s, EF_DECLINE, 0)))
		c->buf[L3 + 6] = 59;
	if ((c = add("v6 next header 51 (AH) without the header", &s, EF_DECLINE, 0)))
		c->buf[L3 + 6] = 51;
	if ((c = add("v6 payload length 0", &s, EF_TAKE, 0))) {
		c->buf[L3 + 4] = 0;
		c->buf[L3 + 5] = 0;
	}
	if ((c = add("v6 payload length 65535", &s, EF_TAKE, 0))) {
		c->buf[L3 + 4] = 0xff;
		c->buf[L3 + 5] = 0xff;
	}
	if ((c = add("v6 traffic class and flow label set", &s, EF_TAKE, 0))) {
		c->buf[L3] = 0x6f;
		c->buf[L3 + 1] = 0xff;
		c->buf[L3 + 2] = 0xff;
		c->buf[L3 + 3] = 0xff;
	}
	spec_init(&s, 4, 6);
	s.vlan_tpid = 0x8100;
	add("v4 tcp, 802.1Q tag", &s, EF_DECLINE, 1);
	s.vlan_tpid = 0x88a8;
	add("v4 tcp, 802.1ad tag", &s, EF_DECLINE, 1);
	spec_init(&s, 6, 17);
	s.vlan_tpid = 0x8100;
	add("v6 udp, 802.1Q tag", &s, EF_DECLINE, 1);
	spec_init(&s, 4, 6);
	s.vlan_tpid = 0x8100;
	if ((c = add("QinQ (two tags)", &s, EF_DECLINE, 0))) {
		c->buf[16] = 0x81;
		c->buf[17] = 0x00;
	}
	spec_init(&s, 4, 6);
	if ((c = add("ARP request", &s, EF_DECLINE, 1))) {
		static const uint8_t arp[28] = {0,  1, 8, 0, 6, 4, 0, 1, 2, 0, 0,  0, 0, 1,
						10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2};

		c->buf[12] = 0x08;
		c->buf[13] = 0x06;
		memcpy(c->buf + 14, arp, sizeof(arp));
		c->len = 14 + sizeof(arp);
	}
	if ((c = add("EtherType 0x88cc (LLDP)", &s, EF_DECLINE, 0))) {
		c->buf[12] = 0x88;
		c->buf[13] = 0xcc;
	}
	if ((c = add("EtherType 0x0000", &s, EF_DECLINE, 0))) {
		c->buf[12] = 0;
		c->buf[13] = 0;
	}
}

/* ---- The mutations */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint32_t rnd_below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* One mutation of frame (len in *len, capacity cap). Biased towards the
 * fields the two paths decide on. */
static void mutate(uint8_t *f, size_t *len, size_t cap)
{
	static const uint16_t ethertypes[] = {0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x0801};
	static const uint8_t verihl[] = {0x45, 0x44, 0x40, 0x46, 0x4f, 0x65, 0x60, 0x35, 0x55};
	static const uint8_t protos[] = {1, 6, 17, 132, 58, 47, 4, 41, 0, 43, 44, 51, 60, 59, 255};
	static const uint16_t frags[] = {0, 0x2000, 0x4000, 0x0001, 0x1fff, 0x8000, 0x2001, 0x6000};
	size_t n = *len;

	switch (rnd_below(10)) {
	case 0: /* a byte of the headers */
		if (n)
			f[rnd_below((uint32_t)(n < 96 ? n : 96))] = (uint8_t)rnd();
		break;
	case 1: /* a bit anywhere */
		if (n)
			f[rnd_below((uint32_t)n)] ^= (uint8_t)(1u << rnd_below(8));
		break;
	case 2: /* truncate */
		*len = rnd_below((uint32_t)n + 1);
		break;
	case 3: /* extend with noise */
		for (uint32_t i = 0, k = rnd_below(64); i < k && *len < cap; i++)
			f[(*len)++] = (uint8_t)rnd();
		break;
	case 4: /* EtherType (after 0 or 1 tag) */
		if (n >= 18)
			put16(f + (rnd_below(2) ? 16 : 12),
			      ethertypes[rnd_below(sizeof(ethertypes) / sizeof(ethertypes[0]))]);
		break;
	case 5: /* IPv4 version/IHL byte */
		if (n > L3)
			f[L3] = verihl[rnd_below(sizeof(verihl))];
		break;
	case 6: /* IPv4 protocol or IPv6 next header */
		if (n > L3 + 9)
			f[L3 + (rnd_below(2) ? 9 : 6)] = protos[rnd_below(sizeof(protos))];
		break;
	case 7: /* IPv4 flags and fragment offset */
		if (n > L3 + 7)
			put16(f + L3 + 6, frags[rnd_below(sizeof(frags) / sizeof(frags[0]))]);
		break;
	case 8: /* IPv4 tot_len or IPv6 payload length */
		if (n > L3 + 5)
			put16(f + L3 + (rnd_below(2) ? 2 : 4), (uint16_t)rnd());
		break;
	default: /* ICMP type / TCP flags region of a plain frame */
		if (n > 54)
			f[(rnd_below(2) ? 34 : 54) + rnd_below(14)] = (uint8_t)rnd();
		break;
	}
}

/* ---- The checks */

static int pc_open(struct pc *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->skel = npbpf_parsecheck_bpf__open_and_load();
	if (!pc->skel) {
		diag("loading the parsecheck object: %s", strerror(errno));
		return -1;
	}
	pc->prog[0] = bpf_program__fd(pc->skel->progs.npbpf_pc_xdp);
	pc->prog[1] = bpf_program__fd(pc->skel->progs.npbpf_pc_tc);
	pc->in_fd = bpf_map__fd(pc->skel->maps.npbpf_pc_in);
	pc->out_fd = bpf_map__fd(pc->skel->maps.npbpf_pc_out);
	pc->vsize = bpf_map__value_size(pc->skel->maps.npbpf_pc_out);
	pc->psize = (pc->vsize - 16) / 3;
	if (pc->vsize > PC_OUT_MAX || pc->vsize != 16 + 3 * pc->psize) {
		diag("unexpected result layout: value size %zu", pc->vsize);
		return -1;
	}
	return 0;
}

void parsecheck_run(struct harness *h)
{
	static uint8_t f[PKT_CAP];
	unsigned long sweep_frames = 0, fuzz_taken = 0, fuzz_declined = 0;
	int n_valid = 0, valid[N_CRAFT], ok, all, any;
	struct pc pc;

	(void)h;
	if (!tap_ok(pc_open(&pc) == 0, "parser check object loads (fast and general parser)"))
		return;
	build_crafted();
	tap_ok(n_craft > 60, "%d crafted frames built", n_craft);

	/* Each crafted frame: the paths agree, and the fast path takes the
	 * common ones and declines the odd ones. */
	for (int i = 0; i < n_craft; i++) {
		struct crafted *c = &craft[i];
		const char *want = c->expect == EF_TAKE	     ? "taken by the fast path"
				   : c->expect == EF_DECLINE ? "left to the general parser"
							     : "";

		pc.first_bad[0] = 0;
		ok = pc_frame(&pc, c->buf, c->len, &all, &any);
		if (c->expect == EF_TAKE)
			ok &= all;
		else if (c->expect == EF_DECLINE)
			ok &= !any;
		if (!tap_ok(ok, "parse paths agree on %s (%zu bytes), %s", c->name, c->len, want) &&
		    pc.first_bad[0])
			diag("%s", pc.first_bad);
		if (c->valid)
			valid[n_valid++] = i;
	}

	/* Every crafted frame cut at every length: truncated headers. */
	pc.bad = 0;
	pc.first_bad[0] = 0;
	ok = 1;
	for (int i = 0; i < n_craft; i++) {
		for (size_t l = 0; l < craft[i].len && l <= 128; l++) {
			ok &= pc_frame(&pc, craft[i].buf, l, &all, &any);
			sweep_frames++;
		}
	}
	if (!tap_ok(ok && !pc.bad,
		    "parse paths agree on every crafted frame cut at every length "
		    "up to 128 bytes (%lu frames, 6 runs each)",
		    sweep_frames) &&
	    pc.first_bad[0])
		diag("%s", pc.first_bad);

	/* Random mutations of the well-formed frames. */
	rng_state = PC_FUZZ_SEED;
	pc.bad = 0;
	pc.first_bad[0] = 0;
	ok = 1;
	for (int i = 0; i < PC_FUZZ_FRAMES && n_valid; i++) {
		const struct crafted *c = &craft[valid[rnd_below((uint32_t)n_valid)]];
		size_t len = c->len;

		memcpy(f, c->buf, len);
		for (uint32_t m = 0, k = 1 + rnd_below(3); m < k; m++)
			mutate(f, &len, sizeof(f));
		ok &= pc_frame(&pc, f, len, &all, &any);
		if (any)
			fuzz_taken++;
		else
			fuzz_declined++;
	}
	if (!tap_ok(ok && !pc.bad,
		    "parse paths agree on %d random mutations of %d well-formed frames (seed "
		    "%#llx): "
		    "%lu taken by the fast path, %lu left to the general parser",
		    PC_FUZZ_FRAMES, n_valid, (unsigned long long)PC_FUZZ_SEED, fuzz_taken,
		    fuzz_declined) &&
	    pc.first_bad[0])
		diag("%s", pc.first_bad);
	tap_ok(fuzz_taken > PC_FUZZ_FRAMES / 10 && fuzz_declined > PC_FUZZ_FRAMES / 10,
	       "the mutations reach both paths (%lu / %lu)", fuzz_taken, fuzz_declined);
	diag("parse check: %lu runs, fast path took %lu, declined %lu; %lu TC runs refused by "
	     "the kernel (IP header cut, checked in XDP)",
	     pc.runs, pc.taken, pc.declined, pc.tc_refused);
	npbpf_parsecheck_bpf__destroy(pc.skel);
}
