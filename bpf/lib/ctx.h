/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One packet context for TC and XDP, so the enforcement core is written once.
 *
 * The entry program builds a struct npbpf_ctx with a constant `xdp` and
 * everything below is __always_inline: after inlining, clang folds every
 * `if (c->xdp)` away and each program keeps only its own helper calls.
 *
 * All packet reads go through ctx_load(), i.e. bpf_skb_load_bytes() or
 * bpf_xdp_load_bytes(): they copy from the linear part or the fragments
 * alike, so a non-linear skb (AF_PACKET senders leave only the Ethernet header
 * linear) is parsed exactly like a linear one, and a short packet is a failed
 * load (the parser then calls it unparseable), never a silent pass.
 *
 * The parser's fast path (parse.h, parse_packet_fast) reads the common
 * frame's headers in place instead, through ctx_data()/ctx_data_end(): the
 * linear part only, every read bounds-checked against its end; whatever is
 * not entirely there goes to the ctx_load() path.
 */
#ifndef NPBPF_BPF_CTX_H
#define NPBPF_BPF_CTX_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct npbpf_ctx {
	void *ctx; /* struct __sk_buff * or struct xdp_md * */
	int xdp;   /* compile-time constant per entry program */
};

/* Copies len bytes at off. Returns 0 or a negative errno (short packet). */
static __always_inline int ctx_load(const struct npbpf_ctx *c, __u32 off, void *to, __u32 len)
{
	if (c->xdp)
		return (int)bpf_xdp_load_bytes(c->ctx, off, to, len);
	return (int)bpf_skb_load_bytes(c->ctx, off, to, len);
}

/* The linear part of the packet, for direct reads: [ctx_data, ctx_data_end).
 * TC at both hooks sees the frame from its Ethernet header, like ctx_load()
 * offset 0. */
static __always_inline void *ctx_data(const struct npbpf_ctx *c)
{
	if (c->xdp)
		return (void *)(long)((struct xdp_md *)c->ctx)->data;
	return (void *)(long)((struct __sk_buff *)c->ctx)->data;
}

static __always_inline void *ctx_data_end(const struct npbpf_ctx *c)
{
	if (c->xdp)
		return (void *)(long)((struct xdp_md *)c->ctx)->data_end;
	return (void *)(long)((struct __sk_buff *)c->ctx)->data_end;
}

/* Whole packet length in bytes, fragments included (for the byte counters). */
static __always_inline __u32 ctx_len(const struct npbpf_ctx *c)
{
	if (c->xdp) {
		const struct xdp_md *x = c->ctx;

		/* The XDP program is not frags-aware (SEC("xdp"), not
		 * "xdp.frags"): the kernel never gives it a multi-buffer packet,
		 * so the linear part is all of it and bpf_xdp_get_buff_len(),
		 * a helper call, would return the same. */
		return x->data_end - x->data;
	}
	return ((struct __sk_buff *)c->ctx)->len;
}

/* The device the hook runs on: the host side of the pod's veth. */
static __always_inline __u32 ctx_ifindex(const struct npbpf_ctx *c)
{
	if (c->xdp)
		return ((struct xdp_md *)c->ctx)->ingress_ifindex;
	return ((struct __sk_buff *)c->ctx)->ifindex;
}

/*
 * A VLAN tag the kernel moved out of the data into skb metadata (receive
 * untagging in __netif_receive_skb_core runs before TC ingress, and a sender
 * with tx-vlan offload never puts it in the data). XDP has no such field:
 * see the VLAN note in parse.h.
 */
static __always_inline int ctx_vlan_meta(const struct npbpf_ctx *c)
{
	if (c->xdp)
		return 0;
	return ((struct __sk_buff *)c->ctx)->vlan_present != 0;
}

#endif /* NPBPF_BPF_CTX_H */
