/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The maps npbpf-cni owns, which close the new-pod window (datapath.h);
 * the lab also marks its external hosts inside a pod subnet here:
 *  - npbpf_segment: this node's pod segments as the main plugin's result
 *    gives them (address/prefix of each pod address), each an unknown-pod
 *    region, and their gateways as the node. Written at every ADD before
 *    the programs go on, never removed (a segment outlives its pods);
 *  - npbpf_pending: the pod's record (addresses, MAC) while the agent has
 *    not bound it, with its conntrack map: the datapath isolates it and
 *    lets the node reach it.
 */
#ifndef NPBPF_DATAPATH_WINDOW_H
#define NPBPF_DATAPATH_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <npbpf/datapath.h>

/* One prevResult address: "198.18.64.5/24", and its gateway when given. */
struct window_ip {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	int plen;
	bool has_gw;
	uint8_t gw[16];
};

/* Parses "ADDR/LEN" and an optional gateway text. -EINVAL when unreadable. */
int window_ip_parse(const char *address, const char *gateway, struct window_ip *out);

/* The segment of every address (its prefix, unless it is a full-length
 * one) as NPBPF_ID_UNKNOWN_POD, its gateway as the node. */
int window_segments_put(const char *pin_dir, const struct window_ip *ips, size_t n);

/* onAgentTimeout "allow": the pod's own addresses as world, so that the
 * pods of the node do not drop it as an unknown pod; del removes them. */
int window_unenforced_put(const char *pin_dir, const struct window_ip *ips, size_t n);
int window_unenforced_del(const char *pin_dir, const struct window_ip *ips, size_t n);

/* The pending record of the veth at ifindex, its conntrack map and its
 * addresses in npbpf_segment (NPBPF_IPC_PENDING). */
int window_pending_put(const char *pin_dir, uint32_t ifindex, const struct npbpf_endpoint *ep);
/* Removes it, its addresses and, unless an endpoint record uses it, the
 * conntrack map. 0 when there was none. */
int window_pending_del(const char *pin_dir, uint32_t ifindex);
/* Removes pending records of veths that no longer exist (a runtime that
 * never ran DEL); returns how many. */
int window_pending_gc(const char *pin_dir);

/* Attaches the bridge hook (npbpf_bridge, pinned in pin_dir) to the TC
 * egress of the bridge at ifindex; idempotent. */
int window_bridge_attach(const char *pin_dir, uint32_t ifindex);

#endif
