/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the CNI plugin needs from rtnetlink, without a library (the plugin is
 * linked statically to run on any host): one link by name or index, in the
 * current network namespace or in a pod's (a socket opened inside it), and
 * the id a namespace has in ours.
 */
#ifndef NPBPF_CNI_NL_H
#define NPBPF_CNI_NL_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

struct nl_link {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[32]; /* IFLA_INFO_KIND: "veth", "bridge", "" */
	int link;      /* IFLA_LINK: a veth's peer ifindex (in the peer's netns) */
	bool has_link;
	int link_nsid; /* IFLA_LINK_NETNSID: the peer's namespace as seen from here */
	bool has_link_nsid;
	uint8_t mac[6];
	bool has_mac;
};

/* A route netlink socket in the current namespace, or in the namespace of
 * the file netns_path (setns there and back; single-threaded callers). fd or
 * -errno. */
int nl_open(const char *netns_path);

/* The link named name (when name is not NULL) or of ifindex. 0, -ENODEV
 * when there is none, or -errno. */
int nl_get_link(int sock, const char *name, int ifindex, struct nl_link *out);

/* The id the namespace of the file netns_path has in sock's namespace: >= 0,
 * -1 when it has none, or -errno. */
int nl_get_nsid(int sock, const char *netns_path);

#endif
