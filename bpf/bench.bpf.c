/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The baseline of `npbpf bench verdict` (user/bench_verdict.c): the
 * datapath's own parser (lib/parse.h over lib/ctx.h) and nothing else. No
 * map, no clock, no counter: what the real programs cost above this is what
 * enforcement adds to reading the headers.
 *
 *   npbpf_bench_tc   parses like npbpf_to_pod (TC, a frame towards the pod)
 *   npbpf_bench_xdp  parses like npbpf_xdp_from_pod (XDP, a frame from the pod)
 *
 * Never attached anywhere; only run under BPF_PROG_TEST_RUN.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/parse.h"

/* Returns 1 when the real program would go on to judge the packet. */
static __always_inline int bench_parse(const struct npbpf_ctx *c, int from_pod)
{
	struct npbpf_pkt p;
	int r;

	__builtin_memset(&p, 0, sizeof(p));
	r = parse_packet(c, &p, from_pod, 0);
	/* The real programs read the tuple the parser wrote; make clang keep
	 * those stores here too instead of dropping them as dead. */
	asm volatile("" : : "r"(&p) : "memory");
	return r == PARSE_IP;
}

SEC("tc")
int npbpf_bench_tc(struct __sk_buff *skb)
{
	struct npbpf_ctx c = { .ctx = skb, .xdp = 0 };

	return bench_parse(&c, 0) ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("xdp")
int npbpf_bench_xdp(struct xdp_md *ctx)
{
	struct npbpf_ctx c = { .ctx = ctx, .xdp = 1 };

	return bench_parse(&c, 1) ? XDP_PASS : XDP_DROP;
}

/* The kernel reads this only to gate GPL-only helpers; none is used. */
char LICENSE[] SEC("license") = "Apache-2.0";
