/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lab's network: a node namespace, one namespace per non-hostNetwork pod
 * with a veth pair to the node (eth0 inside, the host side in the node
 * namespace, where the datapath attaches), and, with --external addresses,
 * one more namespace for the host outside the cluster, reached through the
 * node.
 *
 * Two modes, as the CNIs npbpf is meant for wire pods:
 *  - bridge (flannel's cni0): host veths are ports of a bridge holding the
 *    node's address; pods reach each other on-link over the bridge, and
 *    the node (a gateway on the bridge) for the external host;
 *  - routed (Calico): no bridge; each pod routes everything via a fixed
 *    link-local gateway (169.254.1.1, fe80::ecee:eeff:feee:eeee) that is the
 *    host veth (MAC ee:ee:ee:ee:ee:ee), and the node has a /32 (/128) route
 *    per pod address.
 * The external host is wired the routed way in both modes. Only the lab's
 * ranges (lab_addr.h) are routed anywhere: nothing has a default route.
 */
#ifndef NPBPF_LAB_NET_H
#define NPBPF_LAB_NET_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define LAB_ID_LEN 6
#define LAB_NETNS_PREFIX "npbpf-lab-"
#define LAB_NAME_MAX 128
/* How long links may take to come up (see lab_link_wait_ready). */
#define LAB_LINK_TIMEOUT_MS 5000

enum lab_mode {
	LAB_MODE_BRIDGE,
	LAB_MODE_ROUTED,
};

/* A namespace with a veth to the node: a pod, or the external host. */
struct lab_host {
	char netns[LAB_NAME_MAX];
	char veth[IF_NAMESIZE];    /* host side, in the node namespace */
	uint32_t ifindex;          /* of veth in the node namespace, once created */
	const struct np_pod *pod;  /* NULL: the external host */
	const struct np_addr *addrs; /* on its eth0: the pod's, or the externals */
	size_t n_addrs;
	/* Names its veth (lab<slot>), its MAC and its host veth's ifindex:
	 * its index in hosts, but a kept cluster-mode lab keeps each pod's
	 * slot while pods come and go (lab probe). */
	size_t slot;
	/* --cni: eth0's MAC as the bridge plugin made it (else lab_host_mac);
	 * a pod without addresses gets host-local's, kept here. */
	bool has_mac;
	uint8_t mac[6];
	bool cni_dynamic;
	struct np_addr cni_addrs[4];
	size_t n_cni_addrs;
};

struct lab_cni;
struct lab_cni_conf;

struct lab_net {
	char id[LAB_ID_LEN + 1];
	enum lab_mode mode;
	char node_netns[LAB_NAME_MAX];
	struct np_addr node[2]; /* the node's own: [0] IPv4, [1] IPv6 */
	/* node[] and the hostNetwork pods' addresses, distinct: the HOST identity. */
	struct np_addr *node_addrs;
	size_t n_node_addrs, cap_node_addrs;
	/* The non-hostNetwork pods in cluster order, then the external host. */
	struct lab_host *hosts;
	size_t n_hosts, cap_hosts;
	const struct np_addr *ext;
	size_t n_ext;
	/* --cni (lab_net_cni_plan): pods wired by the CNI plugins (lab_cni.h)
	 * instead of the lab's own veths; the bridge mode only. */
	struct lab_cni_conf *cni_conf;
	struct lab_cni *cni;
	/* --cni: runs once the namespaces exist, before the first ADD (what
	 * the chain needs on the node: npbpf-cni the pinned programs). */
	int (*before_cni_add)(void *arg);
	void *before_cni_add_arg;
};

/* The MAC of host i's eth0: locally administered, unique within a lab (each
 * lab has a bridge of its own). The datapath checks what a pod sends
 * against it (NPBPF_EP_HAS_MAC). */
void lab_host_mac(size_t i, uint8_t mac[6]);

/* "bridge" / "routed" -> mode. 0 or -EINVAL. */
int lab_mode_parse(const char *text, enum lab_mode *mode);
const char *lab_mode_name(enum lab_mode mode);

/*
 * Plans the network: the hosts (one per non-hostNetwork pod, then the
 * external host when there are externals) and the node's addresses, which
 * the compile needs. c, node and ext must outlive net. 0 or -ENOMEM.
 */
int lab_net_plan(struct lab_net *net, enum lab_mode mode, const struct np_cluster *c,
		 const struct np_addr node[2], const struct np_addr *ext, size_t n_ext);
/* As lab_net_plan for the pods of one node only (cluster mode: spec.nodeName
 * is node; pods without an address are left out, they have nowhere to
 * live yet). */
int lab_net_plan_node(struct lab_net *net, enum lab_mode mode, const struct np_cluster *c,
		      const char *node, const struct np_addr node_addr[2]);
/*
 * --cni, after lab_net_plan(_node): the node's pod CIDR per family (the
 * smallest prefix, at most a /24 or /64, holding the pods' declared
 * addresses, else 198.18.0.0/24 and 2001:db8::/64; grown to fit the pods),
 * its gateway (the first address no pod, node or external holds: cni0's,
 * one more node address) and the plugins after bridge (chain: "auto",
 * lab_cni_parse_chain). c is the whole cluster (every address it holds is
 * avoided). 0, -ENOMEM or -EINVAL (logged).
 */
int lab_net_cni_plan(struct lab_net *net, const struct np_cluster *c, int families,
		     const char *chain);
/* (lab_net_cni_plan also moves the node's IPv6 address, net->node[1], out
 * of the IPv6 pod CIDR when it lies inside.) */

/* Names the namespaces and veths after the run id, without creating
 * anything, so that the state file can list them first. */
void lab_net_name(struct lab_net *net, const char *id);
void lab_net_free(struct lab_net *net);

/* Creates the planned network and fills each host's ifindex. On error what
 * was created stays (the state file lists it for teardown). 0 or -errno
 * (logged); -EINTR when a stop was requested. */
int lab_net_create(struct lab_net *net);

/* A kept lab's network again (lab probe): creates the namespaces and veths
 * of the hosts with fresh[i] set (the node namespace exists), then waits for
 * every host's veth and fills each ifindex. 0 or -errno (logged). */
int lab_net_add_hosts(struct lab_net *net, const bool *fresh);

/* A lab whose pods the CNI plugins wired (planned so, or a kept lab with a
 * CNI directory). */
bool lab_net_is_cni(const struct lab_net *net);
/* --cni: DEL through the chain of the pod in namespace netns (lab probe,
 * a pod that went), before its namespace goes. 0 or -errno (logged). */
int lab_net_del_host(struct lab_net *net, const char *netns);

/* --cni: CHECK of every pod through the chain (once the datapath is on:
 * npbpf-cni checks its programs are attached). 0 or the first -errno
 * (logged). */
int lab_net_cni_check(struct lab_net *net);

/* The host of a pod, NULL for a hostNetwork pod. */
const struct lab_host *lab_net_host_of(const struct lab_net *net, const struct np_pod *pod);

#endif /* NPBPF_LAB_NET_H */
