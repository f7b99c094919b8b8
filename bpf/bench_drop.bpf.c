/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The programs of `npbpf bench drop` (user/bench/bench_drop*.c) that are not
 * the datapath: the flood generator and the trivial droppers it is compared
 * with. Each counts what it handles in its own slot of bd_count, a per-CPU
 * array (per-CPU: a shared counter bouncing between the two cores would
 * slow both hooks and make the 2-core figures about the counter).
 *
 *   bd_gen       the generator, run with BPF_PROG_RUN and
 *                BPF_F_TEST_XDP_LIVE_FRAMES on the pod's eth0: rewrites the
 *                frame's headers from bd_tmpl (ports chosen per flow) and
 *                returns XDP_TX, which live-frames mode turns into a
 *                transmission out of that eth0, i.e. into the host veth;
 *   bd_xdp_drop  trivial XDP_DROP on the host veth (the XDP ceiling);
 *   bd_tc_drop   trivial TC drop at the host veth's ingress (the TC ceiling);
 *   bd_tc_pass   trivial TC pass there (what an allowed packet costs
 *                without a verdict);
 *   bd_rcv_drop  XDP_DROP on the receiver's eth0: counts what the node
 *                forwarded, i.e. the packets any enforcer let through.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Counter slots; user/bench/bench_drop_bpf.h mirrors them. */
enum {
	BD_SLOT_GEN = 0,
	BD_SLOT_XDP_DROP = 1,
	BD_SLOT_TC_DROP = 2,
	BD_SLOT_TC_PASS = 3,
	BD_SLOT_RCV = 4,
	BD_N_SLOTS = 8,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BD_N_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} bd_count SEC(".maps");

/* The generator's position in its flow cycle: the flow, its source port's
 * index and its destination port's (kept apart so that no frame pays a
 * division). */
struct bd_pos {
	__u32 flow;
	__u16 sport;
	__u16 dport;
};

/* Per CPU: each core cycles through every flow without sharing a cache line
 * with the other. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bd_pos);
} bd_seq SEC(".maps");

#define BD_HDR_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))
/* Source ports per destination port: flow f has source port
 * bd_sport_base + f % BD_SPORTS and destination port bd_dport[f / BD_SPORTS]
 * (struct bd_pos keeps both indices). */
#define BD_SPORTS 50000u
#define BD_DPORTS 4

/* Set by userspace before the load (.rodata would be constant-folded; these
 * change between runs, so they live in .bss and are written through the
 * skeleton). The template is the whole Ethernet/IPv4/UDP header of the
 * flood: rewritten into every frame, because live-frames mode recycles
 * pages and whatever touched a frame before (the node's forwarding
 * decrements TTL in place) must not leak into the next. */
__u8 bd_tmpl[BD_HDR_LEN];
__u32 bd_flows; /* 0 or 1: one flow (the template's ports) */
__u16 bd_sport_base;
__u16 bd_dport[BD_DPORTS]; /* network order */

static __always_inline void bd_count_slot(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&bd_count, &slot);

	if (c)
		*c += 1;
}

SEC("xdp")
int bd_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct udphdr *udp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	struct bd_pos *pos;
	__u32 zero = 0;

	if (data + BD_HDR_LEN > end)
		return XDP_ABORTED;
	__builtin_memcpy(data, bd_tmpl, BD_HDR_LEN);
	/* Every flow count, one flow included, does the same work per frame,
	 * so that a flows ratio measures the dropper: with the ports written
	 * only for many flows (and a division), the generator alone was 2-3 %
	 * slower at 1,000 flows than at one. */
	pos = bpf_map_lookup_elem(&bd_seq, &zero);
	if (!pos)
		return XDP_ABORTED;
	udp->source = bpf_htons((__u16)(bd_sport_base + pos->sport));
	udp->dest = bd_dport[pos->dport & (BD_DPORTS - 1)];
	if (++pos->flow >= bd_flows) {
		pos->flow = 0;
		pos->sport = 0;
		pos->dport = 0;
	} else if (++pos->sport >= BD_SPORTS) {
		pos->sport = 0;
		pos->dport++;
	}
	bd_count_slot(BD_SLOT_GEN);
	return XDP_TX;
}

SEC("xdp")
int bd_xdp_drop(struct xdp_md *ctx)
{
	bd_count_slot(BD_SLOT_XDP_DROP);
	return XDP_DROP;
}

SEC("tc")
int bd_tc_drop(struct __sk_buff *skb)
{
	bd_count_slot(BD_SLOT_TC_DROP);
	return TC_ACT_SHOT;
}

SEC("tc")
int bd_tc_pass(struct __sk_buff *skb)
{
	bd_count_slot(BD_SLOT_TC_PASS);
	return TC_ACT_OK;
}

SEC("xdp")
int bd_rcv_drop(struct xdp_md *ctx)
{
	bd_count_slot(BD_SLOT_RCV);
	return XDP_DROP;
}

/* The kernel reads this only to gate GPL-only helpers; none is used. */
char LICENSE[] SEC("license") = "Apache-2.0";
