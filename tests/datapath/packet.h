/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: crafts Ethernet/IPv4/IPv6 frames with TCP, UDP, SCTP, ICMP. */
#ifndef NPBPF_TEST_PACKET_H
#define NPBPF_TEST_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

enum pkt_frag {
	PKT_NOFRAG = 0,
	PKT_FIRST = 1, /* offset 0, more fragments */
	PKT_LATER = 2, /* offset 64 bytes, no transport header */
};

struct pkt_spec {
	int family; /* 4 or 6 */
	uint8_t saddr[16], daddr[16];
	uint8_t proto;
	uint16_t sport, dport;   /* host order */
	uint8_t tcp_flags;       /* TCP */
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id;        /* echo identifier, host order */
	enum pkt_frag frag;
	uint32_t frag_id;
	uint16_t vlan_tpid;      /* 0x8100 / 0x88a8: one tag in the data */
	int ip_options;          /* IPv4: 4-byte words of NOP options */
	int v6_ext;              /* IPv6: destination-options headers before the rest */
	int v6_hop;              /* IPv6: a hop-by-hop header first */
	uint8_t hop_limit;       /* 0: 64 */
	const uint8_t *payload;  /* NULL: zeros */
	size_t payload_len;
	int no_eth;              /* build the IP packet only (ICMP error quotes) */
};

/* Builds the frame into buf. Returns its length, or 0 when cap is too small. */
size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap);

/* Fills saddr/daddr/family from model addresses. */
void pkt_addrs(struct pkt_spec *s, const struct np_addr *src, const struct np_addr *dst);

#endif
