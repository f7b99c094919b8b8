/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only object for tests/datapath/parsecheck.c: runs the datapath's
 * parser (lib/parse.h) on one frame both ways, the fast path
 * (parse_packet_fast, in place) and the general parser (parse_packet_slow,
 * ctx_load), and the datapath's own entry, parse_packet() (the global
 * function npbpf_parse_xdp / npbpf_parse_tc), each into a zeroed struct
 * npbpf_pkt, and leaves the three results in npbpf_pc_out for the test to
 * compare byte for byte. npbpf_pc_in says how
 * to call the general parser (from_pod, config flags).
 *
 *   npbpf_pc_xdp  the XDP context (as npbpf_xdp_from_pod sees frames)
 *   npbpf_pc_tc   the TC context (as npbpf_from_pod / npbpf_to_pod)
 *
 * Never attached anywhere; only run under BPF_PROG_TEST_RUN. Always returns
 * XDP_PASS / TC_ACT_OK: the verdict is in the map.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/parse.h"

struct pc_in {
	__u32 from_pod;
	__u32 cfg_flags;
};

/* Layout read by the test: four __s32 (three return values and padding),
 * then the three structs (value_size = 16 + 3 * sizeof(struct npbpf_pkt)). */
struct pc_out {
	__s32 fast_r; /* PARSE_FALLBACK: the fast path did not take the frame */
	__s32 slow_r;
	__s32 both_r; /* parse_packet(), what the datapath calls */
	__s32 pad;
	struct npbpf_pkt fast;
	struct npbpf_pkt slow;
	struct npbpf_pkt both;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pc_in);
} npbpf_pc_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pc_out);
} npbpf_pc_out SEC(".maps");

/* The three parses go straight into the map value: three structs on the
 * stack and the parser's own frame would pass the 512-byte stack limit. */
static __always_inline void pc_run(const struct npbpf_ctx *c)
{
	struct pc_out *o;
	struct pc_in *in;
	__u32 zero = 0;

	in = bpf_map_lookup_elem(&npbpf_pc_in, &zero);
	o = bpf_map_lookup_elem(&npbpf_pc_out, &zero);
	if (!in || !o)
		return;
	__builtin_memset(&o->fast, 0, sizeof(o->fast));
	__builtin_memset(&o->slow, 0, sizeof(o->slow));
	__builtin_memset(&o->both, 0, sizeof(o->both));
	o->pad = 0;
	o->fast_r = parse_packet_fast(c, &o->fast);
	o->slow_r = parse_packet_slow(c, &o->slow, in->from_pod != 0, in->cfg_flags);
	o->both_r = parse_packet(c, &o->both, in->from_pod != 0, in->cfg_flags);
}

SEC("xdp")
int npbpf_pc_xdp(struct xdp_md *ctx)
{
	struct npbpf_ctx c = {.ctx = ctx, .xdp = 1};

	pc_run(&c);
	return XDP_PASS;
}

SEC("tc")
int npbpf_pc_tc(struct __sk_buff *skb)
{
	struct npbpf_ctx c = {.ctx = skb, .xdp = 0};

	pc_run(&c);
	return TC_ACT_OK;
}

/* The kernel reads this only to gate GPL-only helpers; none is used. */
char LICENSE[] SEC("license") = "Apache-2.0";
