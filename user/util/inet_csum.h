/* SPDX-License-Identifier: Apache-2.0 */
/* The Internet checksum (RFC 1071) of the frames the benchmarks build. */
#ifndef NPBPF_UTIL_INET_CSUM_H
#define NPBPF_UTIL_INET_CSUM_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>

/* Over len bytes (an odd last byte is left out: callers sum headers of
 * even length), in network order, ready to store. */
static inline uint16_t inet_csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

#endif
