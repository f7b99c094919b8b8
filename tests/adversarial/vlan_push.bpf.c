/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper for tests/adversarial (case vlan-in-metadata-from-pod): a TC
 * program the suite attaches at the egress of a pod's own eth0 (inside the
 * pod, as a pod with CAP_NET_ADMIN could) to send VLAN tags the way a VLAN
 * device with tx-vlan offload does: in skb metadata, not in the frame. That
 * is the tag the XDP from-pod program cannot see (bpf/lib/parse.h). The
 * kernel here may lack 8021q and act_vlan, so the tag is pushed with
 * bpf_skb_vlan_push().
 *
 * Only frames whose IPv4 TOS / IPv6 traffic class asks for it are tagged:
 *   0x28  802.1Q id 10 (in metadata)
 *   0x2c  802.1ad id 100 (in metadata) over 802.1Q id 10 (moved into the data)
 *   0x30  802.1ad id 100 (in metadata)
 * Built by run.sh with clang -target bpf.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int vlan_push(struct __sk_buff *skb)
{
	__u8 b[2], tos;

	if (bpf_skb_load_bytes(skb, 14, b, sizeof(b)))
		return TC_ACT_OK;
	if (skb->protocol == bpf_htons(0x0800))
		tos = b[1];
	else if (skb->protocol == bpf_htons(0x86dd))
		tos = (__u8)(((b[0] & 0x0f) << 4) | (b[1] >> 4));
	else
		return TC_ACT_OK;
	if (tos == 0x28 || tos == 0x2c)
		bpf_skb_vlan_push(skb, bpf_htons(0x8100), 10);
	if (tos == 0x2c || tos == 0x30)
		bpf_skb_vlan_push(skb, bpf_htons(0x88a8), 100);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
