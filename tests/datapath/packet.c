/* SPDX-License-Identifier: Apache-2.0 */
#include "packet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define ETH_HLEN 14

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int is_icmp(const struct pkt_spec *s)
{
	return (s->family == 4 && s->proto == IPPROTO_ICMP) ||
	       (s->family == 6 && s->proto == IPPROTO_ICMPV6);
}

/* The transport header and payload (what follows the IP headers); 0 when
 * they do not fit, or a later fragment has no payload. */
static size_t build_l4(const struct pkt_spec *s, uint8_t *p, size_t cap)
{
	size_t hl = 0;

	if (s->frag != PKT_LATER) {
		if (s->proto == IPPROTO_TCP)
			hl = 20;
		else if (s->proto == IPPROTO_UDP)
			hl = 8;
		else if (s->proto == IPPROTO_SCTP)
			hl = 12;
		else if (is_icmp(s))
			hl = 8;
	}
	if (hl + s->payload_len > cap)
		return 0;
	memset(p, 0, hl + s->payload_len);
	if (s->proto == IPPROTO_TCP && hl) {
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put32(p + 4, 1000);
		put32(p + 8, (s->tcp_flags & 0x10) ? 2000 : 0);
		p[12] = 5 << 4;
		p[13] = s->tcp_flags;
		put16(p + 14, 65535);
	} else if (s->proto == IPPROTO_UDP && hl) {
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put16(p + 4, (uint16_t)(8 + s->payload_len));
	} else if (s->proto == IPPROTO_SCTP && hl) {
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put32(p + 4, 0x01020304);
	} else if (hl) {
		p[0] = s->icmp_type;
		p[1] = s->icmp_code;
		put16(p + 4, s->icmp_id);
		put16(p + 6, 1);
	}
	if (s->payload)
		memcpy(p + hl, s->payload, s->payload_len);
	if (hl && s->family == 4 && s->proto == IPPROTO_ICMP)
		put16(p + 2, csum(p, hl + s->payload_len));
	return hl + s->payload_len;
}

size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t off = 0, l4len;

	/* Headers never exceed 256 bytes (14 + 4 + 40 + 10 * 8 + 20). */
	if (cap < 256 + s->payload_len)
		return 0;
	memset(buf, 0, 256);
	if (!s->no_eth) {
		static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x02 };
		static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x01 };

		memcpy(p, dst, 6);
		memcpy(p + 6, src, 6);
		off = 12;
		if (s->vlan_tpid) {
			put16(p + off, s->vlan_tpid);
			put16(p + off + 2, 100);
			off += 4;
		}
		put16(p + off, s->family == 4 ? 0x0800 : 0x86dd);
		off += 2;
	}
	if (s->family == 4) {
		uint8_t *ip = p + off;
		size_t ihl = 20 + 4 * (size_t)s->ip_options;
		uint16_t fo = 0;

		memset(ip, 0, ihl);
		for (size_t i = 20; i < ihl; i++)
			ip[i] = 1; /* NOP */
		l4len = build_l4(s, ip + ihl, cap - off - ihl);
		ip[0] = (uint8_t)(0x40 | (ihl / 4));
		put16(ip + 2, (uint16_t)(ihl + l4len));
		put16(ip + 4, (uint16_t)s->frag_id);
		if (s->frag == PKT_FIRST)
			fo = 0x2000;
		else if (s->frag == PKT_LATER)
			fo = 8; /* 64 bytes, last fragment */
		put16(ip + 6, fo);
		ip[8] = s->hop_limit ? s->hop_limit : 64;
		ip[9] = s->proto;
		memcpy(ip + 12, s->saddr, 4);
		memcpy(ip + 16, s->daddr, 4);
		put16(ip + 10, csum(ip, ihl));
		return off + ihl + l4len;
	} else {
		uint8_t *ip = p + off;
		uint8_t *nh = ip + 6;
		size_t hl = 40;

		ip[0] = 0x60;
		ip[7] = s->hop_limit ? s->hop_limit : 64;
		memcpy(ip + 8, s->saddr, 16);
		memcpy(ip + 24, s->daddr, 16);
		if (s->v6_hop) {
			*nh = 0;
			nh = ip + hl;
			memset(ip + hl, 0, 8);
			ip[hl + 2] = 1; /* PadN, 4 bytes */
			ip[hl + 3] = 4;
			hl += 8;
		}
		for (int i = 0; i < s->v6_ext; i++) {
			*nh = 60;
			nh = ip + hl;
			memset(ip + hl, 0, 8);
			ip[hl + 2] = 1;
			ip[hl + 3] = 4;
			hl += 8;
		}
		if (s->frag != PKT_NOFRAG) {
			*nh = 44;
			nh = ip + hl;
			memset(ip + hl, 0, 8);
			put16(ip + hl + 2, s->frag == PKT_FIRST ? 1 : (uint16_t)(8 << 3));
			put32(ip + hl + 4, s->frag_id);
			hl += 8;
		}
		*nh = s->proto;
		if (off + hl > cap)
			return 0;
		l4len = build_l4(s, ip + hl, cap - off - hl);
		put16(ip + 4, (uint16_t)(hl - 40 + l4len));
		return off + hl + l4len;
	}
}

void pkt_addrs(struct pkt_spec *s, const struct np_addr *src, const struct np_addr *dst)
{
	s->family = src->family;
	memset(s->saddr, 0, 16);
	memset(s->daddr, 0, 16);
	memcpy(s->saddr, src->bytes, src->family == 4 ? 4 : 16);
	memcpy(s->daddr, dst->bytes, dst->family == 4 ? 4 : 16);
}
