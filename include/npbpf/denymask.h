/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which bits of a frame's header window the denial cache compares
 * (bpf/lib/denycache.h says what the window is and why these bits): one
 * definition for the datapath, which folds it into immediates, and for the
 * tests, which read the cache.
 *
 * The mask depends on the window's form (IPv4 or IPv6) and on the class of
 * the transport header, both read from the frame itself (ethertype and
 * protocol byte, which every mask compares): a slot never needs to say
 * which mask it was stored with.
 */
#ifndef NPBPF_DENYMASK_H
#define NPBPF_DENYMASK_H

#include <linux/types.h>

#define NPBPF_DENY_WORDS 8    /* the window: 8 8-byte words */
#define NPBPF_DENY_V4_WORDS 5 /* of which IPv4 uses the first 5 */

enum npbpf_deny_l4 {
	NPBPF_DENY_L4_ICMP = 0,	 /* ICMP, ICMPv6: type, code, identifier */
	NPBPF_DENY_L4_PORTS = 1, /* TCP, UDP, SCTP: the ports */
};

/*
 * The mask byte at window position at (0-63). TCP's flags are not in it:
 * only a bare SYN is probed or cached (denycache.h), so every TCP frame
 * and slot compared agree on SYN and ACK, the only flags a verdict reads.
 */
static inline __attribute__((always_inline)) __u8 npbpf_deny_mask_byte(int v6, int l4, int at)
{
	if (!v6) {
		if (at <= 14) /* MACs, ethertype, version + IHL */
			return 0xff;
		if (at == 20) /* fragment bits but DF */
			return 0xbf;
		if (at == 21 || at == 23 || (at >= 26 && at <= 33)) /* offset, protocol, addresses */
			return 0xff;
		if (l4 == NPBPF_DENY_L4_ICMP)
			return at == 34 || at == 35 || at == 38 || at == 39 ? 0xff : 0;
		return at >= 34 && at <= 37 ? 0xff : 0; /* ports */
	}
	if (at <= 13) /* MACs, ethertype */
		return 0xff;
	if (at == 14) /* version */
		return 0xf0;
	if (at == 20 || (at >= 22 && at <= 53)) /* next header, addresses */
		return 0xff;
	/* Window bytes 56-63 are frame bytes 54-61. */
	if (l4 == NPBPF_DENY_L4_ICMP)
		return at == 56 || at == 57 || at == 60 || at == 61 ? 0xff : 0;
	return at >= 56 && at <= 59 ? 0xff : 0;
}

/* The mask of window word w, as the word reads from memory. */
static inline __attribute__((always_inline)) __u64 npbpf_deny_mask_word(int v6, int l4, int w)
{
	__u64 m = 0;

	for (int j = 0; j < 8; j++) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		m |= (__u64)npbpf_deny_mask_byte(v6, l4, 8 * w + j) << (8 * j);
#else
		m |= (__u64)npbpf_deny_mask_byte(v6, l4, 8 * w + j) << (56 - 8 * j);
#endif
	}
	return m;
}

#endif /* NPBPF_DENYMASK_H */
