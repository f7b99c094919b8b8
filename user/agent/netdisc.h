/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoint discovery on a node (rtnetlink through libmnl): the host-side
 * veths whose peer lives in another network namespace (a pod), with the
 * peer's addresses and MAC read across namespaces by target netnsid, so a
 * veth is matched to its pod by address even on a flannel-like node where
 * every veth hangs off one bridge and one route covers the pod CIDR. Link
 * creation and removal are followed as they happen.
 *
 * Every socket is opened in the network namespace of the thread that calls
 * nd_open (the agent works on --node-netns from a thread that entered it).
 */
#ifndef NPBPF_NETDISC_H
#define NPBPF_NETDISC_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define ND_MAX_ADDRS 8

struct nd_veth {
	uint32_t ifindex; /* host side */
	char name[IF_NAMESIZE];
	uint32_t master;  /* ifindex of the bridge it is enslaved to, 0: none */
	int peer_nsid;	  /* the peer's netns id as seen from here, -1: same netns */
	uint32_t peer_ifindex;
	bool has_peer_mac;
	uint8_t peer_mac[6];
	/* The peer's global addresses (IPv4, IPv6 not link-local), full
	 * length; none yet while the CNI has not assigned them. */
	struct np_addr addrs[ND_MAX_ADDRS];
	size_t n_addrs;
};

struct netdisc;

/* 0 or -errno (logged). */
int nd_open(struct netdisc **out);
void nd_close(struct netdisc *nd);

/* Every veth of this namespace whose peer is in another one, with the peer's
 * addresses and MAC. *out is malloc'd (free it). 0 or -errno. */
int nd_scan(struct netdisc *nd, struct nd_veth **out, size_t *n);
/* One veth again (its peer's addresses may have appeared). 0, -ENOENT when
 * it is gone or is no such veth, -errno. */
int nd_query(struct netdisc *nd, uint32_t ifindex, struct nd_veth *out);

/* Link events: an fd to poll for POLLIN, and a reader that calls fn for each
 * veth (peer in another netns) created or removed since the last call.
 * Returns 0 or -errno; -ENOBUFS when events were lost (rescan). */
int nd_events_fd(struct netdisc *nd);
typedef void (*nd_link_fn)(void *arg, bool added, uint32_t ifindex, const char *name);
int nd_events_read(struct netdisc *nd, nd_link_fn fn, void *arg);

#endif /* NPBPF_NETDISC_H */
