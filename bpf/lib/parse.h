/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet parsing: Ethernet, at most one 802.1Q/802.1ad tag, IPv4 (options,
 * fragments), IPv6 (extension headers, fragments), TCP, UDP, SCTP, ICMP,
 * ICMPv6, and the inner header of ICMP errors.
 *
 * Contract: every read is a ctx_load() of a constant length at a computed
 * offset (ctx.h); a failed load means the packet is shorter than its headers
 * claim and the packet is unparseable. The one exception is the fast path
 * (parse_packet_fast, below) for the common frame, which reads the linear
 * part in place, gives exactly what the general parser would, and hands
 * everything else to it. The parser never decides a verdict
 * except for tagged frames from pods; it classifies:
 *   PARSE_IP        an IP packet, tuple filled (ports 0 when the protocol has
 *                   none or the packet is a non-first fragment);
 *   PARSE_ARP       an Ethernet/IPv4 ARP packet, its sender fields in arp_*;
 *   PARSE_ND        IPv6 neighbour discovery (hop limit 255) or MLD (hop
 *                   limit 1), not fragmented: a candidate for link plumbing.
 *                   The hop limit proves where it comes from (a router would
 *                   have decremented it) but not where it goes: enforce.h
 *                   decides from the addresses whether it stays on the
 *                   segment or is ordinary ICMPv6, judged by policy;
 *   -NPBPF_DROP_VLAN, -NPBPF_DROP_UNPARSEABLE.
 * Whatever it returns, the source address and family are filled as soon as
 * the IP header was read, so the caller validates the source of a packet
 * it cannot fully read before anything lets it through.
 *
 * VLAN: a tag in the data is seen here at both hooks; a tag in skb metadata
 * only by TC (ctx_vlan_meta). XDP cannot read the metadata tag without a
 * device-bound program, so with the XDP from-pod program a pod whose veth
 * does tx-vlan offload can send a tag XDP does not see: the loader keeps TC
 * on from-pod, or turns tx-vlan offload off on the pod side, in XDP mode.
 */
#ifndef NPBPF_BPF_PARSE_H
#define NPBPF_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "ctx.h"

#define NPBPF_ETH_P_8021Q 0x8100
#define NPBPF_ETH_P_8021AD 0x88a8

#define NPBPF_PROTO_ICMP 1
#define NPBPF_PROTO_TCP 6
#define NPBPF_PROTO_UDP 17
#define NPBPF_PROTO_SCTP 132
#define NPBPF_PROTO_ICMPV6 58

/* IPv6 extension headers the parser walks (RFC 8200 4.1 order not enforced). */
#define NPBPF_NH_HOP 0
#define NPBPF_NH_ROUTING 43
#define NPBPF_NH_FRAGMENT 44
#define NPBPF_NH_AH 51
#define NPBPF_NH_DSTOPTS 60

/*
 * Bound on the IPv6 extension header walk. Real traffic carries at most two or
 * three (hop-by-hop, a routing header, a fragment header); a chain longer than
 * this is unparseable, which isolated pods drop: deep chains are a known way
 * to push the transport header past a filter's reach.
 */
#define NPBPF_IPV6_MAX_EXT 8

#define NPBPF_ICMP_ECHOREPLY 0
#define NPBPF_ICMP_DEST_UNREACH 3 /* code 4: fragmentation needed */
#define NPBPF_ICMP_ECHO 8
#define NPBPF_ICMP_TIME_EXCEEDED 11
#define NPBPF_ICMP_PARAMETERPROB 12

#define NPBPF_ICMP6_DEST_UNREACH 1
#define NPBPF_ICMP6_PKT_TOOBIG 2
#define NPBPF_ICMP6_TIME_EXCEED 3
#define NPBPF_ICMP6_PARAMPROB 4
#define NPBPF_ICMP6_ECHO_REQUEST 128
#define NPBPF_ICMP6_ECHO_REPLY 129
#define NPBPF_ICMP6_MLD_QUERY 130    /* 130-132: MLDv1 query, report, done */
#define NPBPF_ICMP6_MLD_DONE 132
#define NPBPF_ICMP6_ND_FIRST 133     /* 133-137: RS, RA, NS, NA, redirect */
#define NPBPF_ICMP6_ND_LAST 137
#define NPBPF_ICMP6_ROUTER_ADVERT 134
#define NPBPF_ICMP6_NEIGH_SOLICIT 135
#define NPBPF_ICMP6_NEIGH_ADVERT 136
#define NPBPF_ICMP6_REDIRECT 137
#define NPBPF_ICMP6_MLD2_REPORT 143

#define NPBPF_TCP_FIN 0x01
#define NPBPF_TCP_SYN 0x02
#define NPBPF_TCP_RST 0x04
#define NPBPF_TCP_ACK 0x10

enum npbpf_parse {
	PARSE_IP = 0,
	PARSE_ARP = 1,
	PARSE_ND = 2,
};

#define NPBPF_ARP_HDR_LEN 28 /* Ethernet/IPv4 ARP */

enum npbpf_frag_kind {
	PKT_FRAG_NONE = 0,
	PKT_FRAG_FIRST = 1, /* offset 0, more fragments: carries the transport header */
	PKT_FRAG_LATER = 2, /* offset > 0: no transport header */
};

struct npbpf_pkt {
	/* The flow as this packet carries it. ICMP echo: request sport = id,
	 * dport = 0; reply sport = 0, dport = id, so the reply of a request is its
	 * swap like for every ported protocol. dir is filled by conntrack. */
	struct npbpf_ct_key t;
	__u32 frag_id; /* network order, IPv4 id zero-extended */
	__u32 l4_off;  /* offset of the transport header */
	__u8 frag;     /* enum npbpf_frag_kind */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 ttl;      /* IPv4 TTL or IPv6 hop limit */
	__u8 arp_spa[4]; /* PARSE_ARP: sender protocol address (4-byte aligned) */
	__u8 arp_sha[6]; /* PARSE_ARP: sender hardware address */
	__u8 eth_src[6];
	__u8 pad[4];
};

static __always_inline int proto_has_ports(__u8 proto)
{
	return proto == NPBPF_PROTO_TCP || proto == NPBPF_PROTO_UDP || proto == NPBPF_PROTO_SCTP;
}

static __always_inline int eth_is_vlan(__be16 proto)
{
	return proto == bpf_htons(NPBPF_ETH_P_8021Q) || proto == bpf_htons(NPBPF_ETH_P_8021AD);
}

static __always_inline int icmp_is_error(__u8 family, __u8 type)
{
	if (family == NPBPF_FAMILY_V4)
		return type == NPBPF_ICMP_DEST_UNREACH || type == NPBPF_ICMP_TIME_EXCEEDED ||
		       type == NPBPF_ICMP_PARAMETERPROB;
	return type >= NPBPF_ICMP6_DEST_UNREACH && type <= NPBPF_ICMP6_PARAMPROB;
}

static __always_inline int icmp_is_echo_request(__u8 family, __u8 type)
{
	return type == (family == NPBPF_FAMILY_V4 ? NPBPF_ICMP_ECHO : NPBPF_ICMP6_ECHO_REQUEST);
}

static __always_inline int icmp_is_echo_reply(__u8 family, __u8 type)
{
	return type == (family == NPBPF_FAMILY_V4 ? NPBPF_ICMP_ECHOREPLY : NPBPF_ICMP6_ECHO_REPLY);
}

/* A TCP segment with SYN and without ACK: one that opens a connection.
 * decide() and deny_cache_applies() (enforce.h) spell the test out: called
 * there, it made clang emit code the verifier refuses (R5 !read_ok). */
static __always_inline int pkt_is_bare_syn(const struct npbpf_pkt *p)
{
	return p->t.proto == NPBPF_PROTO_TCP &&
	       (p->tcp_flags & (NPBPF_TCP_SYN | NPBPF_TCP_ACK)) == NPBPF_TCP_SYN;
}

static __always_inline int pkt_is_icmp(const struct npbpf_pkt *p)
{
	return (p->t.family == NPBPF_FAMILY_V4 && p->t.proto == NPBPF_PROTO_ICMP) ||
	       (p->t.family == NPBPF_FAMILY_V6 && p->t.proto == NPBPF_PROTO_ICMPV6);
}

/*
 * Ports (or the ICMP echo identifier) of a transport header at off. For ICMP,
 * *type gets the message type. Returns 0, or -1 when the header is truncated.
 */
static __always_inline int parse_ports(const struct npbpf_ctx *c, __u32 off, __u8 family,
				       __u8 proto, __be16 *sport, __be16 *dport, __u8 *type,
				       __u8 *tcp_flags)
{
	__u8 h[20];

	*sport = 0;
	*dport = 0;
	if (proto == NPBPF_PROTO_TCP) {
		if (ctx_load(c, off, h, 20))
			return -1;
		*tcp_flags = h[13];
	} else if (proto == NPBPF_PROTO_UDP) {
		if (ctx_load(c, off, h, 8))
			return -1;
	} else if (proto == NPBPF_PROTO_SCTP) {
		/* Common header: ports at the UDP offsets, then tag and checksum. */
		if (ctx_load(c, off, h, 12))
			return -1;
	} else if ((family == NPBPF_FAMILY_V4 && proto == NPBPF_PROTO_ICMP) ||
		   (family == NPBPF_FAMILY_V6 && proto == NPBPF_PROTO_ICMPV6)) {
		/* type, code, checksum, then identifier and sequence for echo. */
		if (ctx_load(c, off, h, 8))
			return -1;
		*type = h[0];
		if (icmp_is_echo_request(family, h[0]))
			*sport = *(__be16 *)&h[4];
		else if (icmp_is_echo_reply(family, h[0]))
			*dport = *(__be16 *)&h[4];
		return 0;
	} else {
		return 0; /* a protocol without ports: only "all protocols" rules match */
	}
	*sport = *(__be16 *)&h[0];
	*dport = *(__be16 *)&h[2];
	return 0;
}

/*
 * Walks the IPv6 extension headers from *off with next header *nh. Returns 0
 * with *nh the transport protocol at *off; 1 for a non-first fragment (no
 * transport header; p->t.proto set); -1 when unparseable.
 */
static __always_inline int parse_ipv6_ext(const struct npbpf_ctx *c, struct npbpf_pkt *p,
					  __u32 *off, __u8 *nh)
{
	for (int i = 0; i < NPBPF_IPV6_MAX_EXT; i++) {
		struct {
			__u8 nexthdr;
			__u8 hdrlen;
			__be16 frag_off; /* fragment header: offset << 3 | M */
			__be32 id;
		} h;

		switch (*nh) {
		case NPBPF_NH_HOP:
		case NPBPF_NH_ROUTING:
		case NPBPF_NH_DSTOPTS:
			if (ctx_load(c, *off, &h, 2))
				return -1;
			*off += ((__u32)h.hdrlen + 1) * 8;
			break;
		case NPBPF_NH_AH:
			if (ctx_load(c, *off, &h, 2))
				return -1;
			*off += ((__u32)h.hdrlen + 2) * 4; /* AH counts 4-byte words */
			break;
		case NPBPF_NH_FRAGMENT: {
			__u16 fo;

			if (ctx_load(c, *off, &h, 8))
				return -1;
			*off += 8;
			fo = bpf_ntohs(h.frag_off);
			p->frag_id = h.id;
			if (fo & 0xfff8) {
				p->frag = PKT_FRAG_LATER;
				p->t.proto = h.nexthdr;
				/* RFC 1858: a TCP fragment at offset 8 can only be
				 * there to overwrite the first fragment's header. */
				if ((fo >> 3) == 1 && h.nexthdr == NPBPF_PROTO_TCP)
					return -1;
				return 1;
			}
			if (fo & 1)
				p->frag = PKT_FRAG_FIRST;
			break;
		}
		default:
			return 0;
		}
		*nh = h.nexthdr;
	}
	/* Still an extension header after the bound: give up (unparseable). */
	switch (*nh) {
	case NPBPF_NH_HOP:
	case NPBPF_NH_ROUTING:
	case NPBPF_NH_DSTOPTS:
	case NPBPF_NH_AH:
	case NPBPF_NH_FRAGMENT:
		return -1;
	}
	return 0;
}

static __always_inline int ipv6_is_link_local(const __u8 *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* Multicast of interface or link scope (ffX1::, ffX2::). */
static __always_inline int ipv6_is_link_mcast(const __u8 *a)
{
	return a[0] == 0xff && (a[1] & 0x0f) <= 2;
}

static __always_inline int ipv6_is_unspecified(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !(w[0] | w[1] | w[2] | w[3]);
}

/* A packet no router forwards (RFC 4291 2.5.6: link-local addresses are
 * never a forwarded packet's source or destination). */
static __always_inline int ipv6_link_scoped(const __u8 *saddr, const __u8 *daddr)
{
	return ipv6_is_link_local(saddr) || ipv6_is_link_local(daddr) ||
	       ipv6_is_link_mcast(daddr);
}

/*
 * PARSE_IP or PARSE_ND for a packet whose transport header was read.
 * Neighbour discovery must have hop limit 255 and MLD 1 (RFC 4861, 2710,
 * 3810); fragmented ones are not legitimate.
 */
static __always_inline int parse_classify(const struct npbpf_pkt *p)
{
	if (p->t.family == NPBPF_FAMILY_V6 && p->t.proto == NPBPF_PROTO_ICMPV6 &&
	    p->frag == PKT_FRAG_NONE) {
		__u8 t = p->icmp_type;

		if (t >= NPBPF_ICMP6_ND_FIRST && t <= NPBPF_ICMP6_ND_LAST && p->ttl == 255)
			return PARSE_ND;
		if (((t >= NPBPF_ICMP6_MLD_QUERY && t <= NPBPF_ICMP6_MLD_DONE) ||
		     t == NPBPF_ICMP6_MLD2_REPORT) &&
		    p->ttl == 1)
			return PARSE_ND;
	}
	return PARSE_IP;
}

/*
 * The general parser (every frame; parse_packet() tries the fast path
 * first). from_pod: the frame comes from the pod (tagged frames are then
 * dropped unless NPBPF_CFG_ALLOW_VLAN). Returns enum npbpf_parse or a
 * negative drop reason.
 */
static __always_inline int parse_packet_slow(const struct npbpf_ctx *c, struct npbpf_pkt *p,
					     int from_pod, __u32 cfg_flags)
{
	struct ethhdr eth;
	__be16 proto;
	__u32 off = ETH_HLEN;
	__u8 nh;

	if (ctx_load(c, 0, &eth, sizeof(eth)))
		return -NPBPF_DROP_UNPARSEABLE;
	__builtin_memcpy(p->eth_src, eth.h_source, 6);
	proto = eth.h_proto;
	if (ctx_vlan_meta(c) || eth_is_vlan(proto)) {
		__be16 tag[2]; /* TCI, encapsulated EtherType */

		if (from_pod && !(cfg_flags & NPBPF_CFG_ALLOW_VLAN))
			return -NPBPF_DROP_VLAN;
		if (eth_is_vlan(proto)) {
			if (ctx_load(c, off, tag, sizeof(tag)))
				return -NPBPF_DROP_UNPARSEABLE;
			proto = tag[1];
			off += 4;
			/* One tag is walked; a second one in the data is QinQ
			 * the policy cannot see through. */
			if (eth_is_vlan(proto))
				return -NPBPF_DROP_UNPARSEABLE;
		}
	}

	if (proto == bpf_htons(ETH_P_ARP)) {
		__u8 arp[NPBPF_ARP_HDR_LEN];

		if (ctx_load(c, off, arp, sizeof(arp)))
			return -NPBPF_DROP_UNPARSEABLE;
		/* htype Ethernet, ptype IPv4, address lengths 6 and 4. */
		if (arp[0] != 0 || arp[1] != 1 || arp[2] != 0x08 || arp[3] != 0 || arp[4] != 6 ||
		    arp[5] != 4)
			return -NPBPF_DROP_UNPARSEABLE;
		__builtin_memcpy(p->arp_sha, &arp[8], 6);
		__builtin_memcpy(p->arp_spa, &arp[14], 4);
		return PARSE_ARP;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		__u16 fo;

		if (ctx_load(c, off, &ip, sizeof(ip)))
			return -NPBPF_DROP_UNPARSEABLE;
		if (ip.version != 4 || ip.ihl < 5)
			return -NPBPF_DROP_UNPARSEABLE;
		p->t.family = NPBPF_FAMILY_V4;
		p->t.proto = ip.protocol;
		*(__u32 *)p->t.saddr = ip.saddr;
		*(__u32 *)p->t.daddr = ip.daddr;
		p->ttl = ip.ttl;
		p->l4_off = off + (__u32)ip.ihl * 4; /* options skipped */
		fo = bpf_ntohs(ip.frag_off);
		if (fo & 0x1fff) {
			p->frag = PKT_FRAG_LATER;
			p->frag_id = bpf_htonl(bpf_ntohs(ip.id));
			if ((fo & 0x1fff) == 1 && ip.protocol == NPBPF_PROTO_TCP)
				return -NPBPF_DROP_UNPARSEABLE; /* RFC 1858, as above */
			return PARSE_IP;
		}
		if (fo & 0x2000) {
			p->frag = PKT_FRAG_FIRST;
			p->frag_id = bpf_htonl(bpf_ntohs(ip.id));
		}
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		int r;

		if (ctx_load(c, off, &ip6, sizeof(ip6)))
			return -NPBPF_DROP_UNPARSEABLE;
		if (ip6.version != 6)
			return -NPBPF_DROP_UNPARSEABLE;
		p->t.family = NPBPF_FAMILY_V6;
		__builtin_memcpy(p->t.saddr, &ip6.saddr, 16);
		__builtin_memcpy(p->t.daddr, &ip6.daddr, 16);
		p->ttl = ip6.hop_limit;
		off += sizeof(ip6);
		nh = ip6.nexthdr;
		r = parse_ipv6_ext(c, p, &off, &nh);
		if (r < 0)
			return -NPBPF_DROP_UNPARSEABLE;
		p->l4_off = off;
		if (r > 0)
			return PARSE_IP; /* non-first fragment */
		p->t.proto = nh;
	} else {
		return -NPBPF_DROP_UNPARSEABLE;
	}

	if (parse_ports(c, p->l4_off, p->t.family, p->t.proto, &p->t.sport, &p->t.dport,
			&p->icmp_type, &p->tcp_flags))
		return -NPBPF_DROP_UNPARSEABLE;
	return parse_classify(p);
}

/*
 * The fast path: the common frame read in place (ctx_data), without a
 * helper call per header. It takes only
 *   Ethernet (no tag in the data, none in skb metadata), then
 *   IPv4 with version 4 and IHL 5 (no options), not fragmented (MF clear,
 *   offset 0), any protocol; or IPv6 whose next header is TCP, UDP, SCTP or
 *   ICMPv6 (no extension header, hence no fragment header),
 * with the whole transport header the general parser would load (TCP 20
 * bytes, UDP and ICMP 8, SCTP 12) inside the linear part. Anything else
 * (ARP, VLAN, options, extension headers, fragments, a version or IHL the
 * general parser rejects, a header that runs past the linear part: a
 * non-linear skb or a truncated frame) returns PARSE_FALLBACK with p
 * untouched, and parse_packet() parses it with parse_packet_slow(), which
 * also decides every drop.
 *
 * For every frame it takes, the result (p and the return value) is the one
 * parse_packet_slow() gives: it reads the same bytes and stores the same
 * fields. Neither checks the IP total length against the frame (a frame
 * shorter than tot_len whose headers are all there parses; the kernel's own
 * IP input drops it after the hook). tests/datapath/parsecheck.c runs both
 * on crafted and randomly mutated frames and compares p field by field.
 */
#define PARSE_FALLBACK 3

/* Ports (or echo identifier), ICMP type and TCP flags of a transport header
 * at l4 when the whole header is in the linear part: 0, or PARSE_FALLBACK
 * (nothing written). icmp: the family's ICMP protocol number; other: what a
 * protocol without ports gives (0: ports 0; PARSE_FALLBACK). */
static __always_inline int parse_fast_l4(const __u8 *l4, const void *end, __u8 proto, __u8 icmp,
					 __u8 v4, int other, __be16 *sport, __be16 *dport,
					 __u8 *type, __u8 *flags)
{
	if (proto == NPBPF_PROTO_TCP) {
		if ((const void *)(l4 + 20) > end)
			return PARSE_FALLBACK;
		*sport = *(const __be16 *)&l4[0];
		*dport = *(const __be16 *)&l4[2];
		*flags = l4[13];
		return 0;
	}
	if (proto == NPBPF_PROTO_UDP) {
		if ((const void *)(l4 + 8) > end)
			return PARSE_FALLBACK;
		*sport = *(const __be16 *)&l4[0];
		*dport = *(const __be16 *)&l4[2];
		return 0;
	}
	if (proto == NPBPF_PROTO_SCTP) {
		if ((const void *)(l4 + 12) > end)
			return PARSE_FALLBACK;
		*sport = *(const __be16 *)&l4[0];
		*dport = *(const __be16 *)&l4[2];
		return 0;
	}
	if (proto == icmp) {
		__u8 t;

		if ((const void *)(l4 + 8) > end)
			return PARSE_FALLBACK;
		t = l4[0];
		*type = t;
		if (t == (v4 ? NPBPF_ICMP_ECHO : NPBPF_ICMP6_ECHO_REQUEST))
			*sport = *(const __be16 *)&l4[4];
		else if (t == (v4 ? NPBPF_ICMP_ECHOREPLY : NPBPF_ICMP6_ECHO_REPLY))
			*dport = *(const __be16 *)&l4[4];
		return 0;
	}
	return other;
}

static __always_inline int parse_packet_fast(const struct npbpf_ctx *c, struct npbpf_pkt *p)
{
	void *data = ctx_data(c), *end = ctx_data_end(c);
	const struct ethhdr *eth = data;
	__be16 sport = 0, dport = 0;
	__u8 type = 0, flags = 0;

	if (ctx_vlan_meta(c) || data + ETH_HLEN > end)
		return PARSE_FALLBACK;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		const struct iphdr *ip = data + ETH_HLEN;

		if ((void *)(ip + 1) > end)
			return PARSE_FALLBACK;
		/* Version 4 and IHL 5 in one byte; MF and the offset clear. */
		if (*(const __u8 *)ip != 0x45 || (ip->frag_off & bpf_htons(0x3fff)))
			return PARSE_FALLBACK;
		if (parse_fast_l4((const __u8 *)(ip + 1), end, ip->protocol, NPBPF_PROTO_ICMP, 1,
				  0, &sport, &dport, &type, &flags))
			return PARSE_FALLBACK;
		p->t.family = NPBPF_FAMILY_V4;
		p->t.proto = ip->protocol;
		*(__u32 *)p->t.saddr = ip->saddr;
		*(__u32 *)p->t.daddr = ip->daddr;
		p->ttl = ip->ttl;
		p->l4_off = ETH_HLEN + sizeof(*ip);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > end)
			return PARSE_FALLBACK;
		if (ip6->version != 6)
			return PARSE_FALLBACK;
		/* Other next headers (extension headers among them) and
		 * ICMP (not ICMPv6) go to the general parser. */
		if (parse_fast_l4((const __u8 *)(ip6 + 1), end, ip6->nexthdr, NPBPF_PROTO_ICMPV6,
				  0, PARSE_FALLBACK, &sport, &dport, &type, &flags))
			return PARSE_FALLBACK;
		p->t.family = NPBPF_FAMILY_V6;
		p->t.proto = ip6->nexthdr;
		__builtin_memcpy(p->t.saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->t.daddr, &ip6->daddr, 16);
		p->ttl = ip6->hop_limit;
		p->l4_off = ETH_HLEN + sizeof(*ip6);
	} else {
		return PARSE_FALLBACK;
	}
	__builtin_memcpy(p->eth_src, eth->h_source, 6);
	p->t.sport = sport;
	p->t.dport = dport;
	p->icmp_type = type;
	p->tcp_flags = flags;
	return parse_classify(p);
}

/* Both parsers, the fast one first (see parse_packet). */
static __always_inline int parse_packet_both(const struct npbpf_ctx *c, struct npbpf_pkt *p,
					     int from_pod, __u32 cfg_flags)
{
	int r = parse_packet_fast(c, p);

	if (r != PARSE_FALLBACK)
		return r;
	return parse_packet_slow(c, p, from_pod, cfg_flags);
}

/*
 * The parser as a global BPF function, one per context type. The verifier
 * checks a global function once, on its own, and its caller goes on with
 * p's bytes and the return value unknown: every way through the parser
 * (the fast path's many exact outcomes, the general parser's) then meets
 * the enforcement core in one state instead of each dragging its own known
 * values through it. Inlined, the fast path nearly doubled the
 * instructions the verifier processed for the XDP program (337k -> 614k of
 * its 1M limit, load time 1.0 -> 2.1 s); as a call it costs a call.
 * p: zeroed by the caller, never NULL (the check is the verifier's due).
 */
__noinline int npbpf_parse_xdp(struct xdp_md *ctx, struct npbpf_pkt *p, int from_pod,
			       __u32 cfg_flags)
{
	struct npbpf_ctx c = { .ctx = ctx, .xdp = 1 };

	if (!p)
		return -NPBPF_DROP_UNPARSEABLE;
	return parse_packet_both(&c, p, from_pod, cfg_flags);
}

__noinline int npbpf_parse_tc(struct __sk_buff *skb, struct npbpf_pkt *p, int from_pod,
			      __u32 cfg_flags)
{
	struct npbpf_ctx c = { .ctx = skb, .xdp = 0 };

	if (!p)
		return -NPBPF_DROP_UNPARSEABLE;
	return parse_packet_both(&c, p, from_pod, cfg_flags);
}

/*
 * Parses the packet into p (zeroed by the caller). from_pod: the frame comes
 * from the pod (tagged frames are then dropped unless
 * NPBPF_CFG_ALLOW_VLAN). Returns enum npbpf_parse or a negative drop reason.
 * The fast path first; everything it does not take, the general parser.
 */
static __always_inline int parse_packet(const struct npbpf_ctx *c, struct npbpf_pkt *p,
					int from_pod, __u32 cfg_flags)
{
	if (c->xdp)
		return npbpf_parse_xdp(c->ctx, p, from_pod, cfg_flags);
	return npbpf_parse_tc(c->ctx, p, from_pod, cfg_flags);
}

/*
 * The packet an ICMP error quotes, as a flow tuple in the tuple conventions of
 * struct npbpf_pkt (inner->dir untouched). The quote starts 8 bytes into the
 * ICMP header. IPv6 quotes with extension headers are not walked: they return
 * -1, and the error is then judged by policy like any ICMP message.
 */
static __always_inline int parse_icmp_inner(const struct npbpf_ctx *c, const struct npbpf_pkt *p,
					    struct npbpf_ct_key *inner)
{
	__u32 off = p->l4_off + 8;
	__u8 type = 0, flags = 0;

	inner->family = p->t.family;
	if (p->t.family == NPBPF_FAMILY_V4) {
		struct iphdr ip;

		if (ctx_load(c, off, &ip, sizeof(ip)))
			return -1;
		if (ip.version != 4 || ip.ihl < 5 || (bpf_ntohs(ip.frag_off) & 0x1fff))
			return -1;
		inner->proto = ip.protocol;
		*(__u32 *)inner->saddr = ip.saddr;
		*(__u32 *)inner->daddr = ip.daddr;
		off += (__u32)ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (ctx_load(c, off, &ip6, sizeof(ip6)))
			return -1;
		if (ip6.version != 6)
			return -1;
		inner->proto = ip6.nexthdr;
		__builtin_memcpy(inner->saddr, &ip6.saddr, 16);
		__builtin_memcpy(inner->daddr, &ip6.daddr, 16);
		off += sizeof(ip6);
	}
	/* Errors quote at least 8 bytes of the transport header: the ports. */
	if (proto_has_ports(inner->proto)) {
		__be16 ports[2];

		if (ctx_load(c, off, ports, sizeof(ports)))
			return -1;
		inner->sport = ports[0];
		inner->dport = ports[1];
		return 0;
	}
	if (inner->proto == (p->t.family == NPBPF_FAMILY_V4 ? NPBPF_PROTO_ICMP
							      : NPBPF_PROTO_ICMPV6)) {
		if (parse_ports(c, off, inner->family, inner->proto, &inner->sport, &inner->dport,
				&type, &flags))
			return -1;
		/* Only echo flows are tracked; no other quoted ICMP can match. */
		if (icmp_is_echo_request(inner->family, type) ||
		    icmp_is_echo_reply(inner->family, type))
			return 0;
	}
	return -1;
}

#endif /* NPBPF_BPF_PARSE_H */
