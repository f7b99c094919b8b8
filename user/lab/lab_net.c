/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab_addr.h"
#include "lab_cni.h"
#include "lab_ip.h"
#include "lab_probe.h"
#include "lab_signal.h"
#include "log.h"
#include "matrix.h"
#include "vec.h"
#include "window.h"

#define BRIDGE "cni0"
#define EXT_VETH "lab-ext"
/* The routed gateway: every host veth answers as it (Calico's trick), the
 * link-local IPv6 one being the EUI-64 address of GW_MAC. Static neighbour
 * entries in the pods save the first ARP/ND round. */
#define GW_MAC "ee:ee:ee:ee:ee:ee"
#define GW_V4 "169.254.1.1"
#define GW_V6 "fe80::ecee:eeff:feee:eeee"
#define HOST_VETH_INDEX 100
/* How long an ADD is retried while the chain says "try again later". */
#define CNI_RETRY_MS 30000

int lab_mode_parse(const char *text, enum lab_mode *mode)
{
	if (!strcmp(text, "bridge"))
		*mode = LAB_MODE_BRIDGE;
	else if (!strcmp(text, "routed"))
		*mode = LAB_MODE_ROUTED;
	else
		return -EINVAL;
	return 0;
}

const char *lab_mode_name(enum lab_mode mode)
{
	return mode == LAB_MODE_ROUTED ? "routed" : "bridge";
}

static int add_node_addr(struct lab_net *net, const struct np_addr *a)
{
	struct np_addr *slot;

	for (size_t i = 0; i < net->n_node_addrs; i++) {
		if (!addr_cmp(&net->node_addrs[i], a))
			return 0;
	}
	slot = VEC_PUSH(net->node_addrs, net->n_node_addrs, net->cap_node_addrs);
	if (!slot)
		return -ENOMEM;
	*slot = *a;
	return 0;
}

/* NS_POD reads best in `ip netns list`; '_' cannot occur in either name, so
 * names stay unique. Very long names fall back to the pod's index. */
static void pod_netns_name(const struct lab_net *net, const struct np_pod *pod, size_t index,
			   char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s-%s_%s", LAB_NETNS_PREFIX, net->id, pod->ns, pod->name);

	if (n < 0 || (size_t)n >= len)
		snprintf(buf, len, "%s%s-pod%zu", LAB_NETNS_PREFIX, net->id, index);
}

int lab_net_plan(struct lab_net *net, enum lab_mode mode, const struct np_cluster *c,
		 const struct np_addr node[2], const struct np_addr *ext, size_t n_ext)
{
	struct lab_host *h;
	int err = 0;

	memset(net, 0, sizeof(*net));
	net->mode = mode;
	net->node[0] = node[0];
	net->node[1] = node[1];
	net->ext = ext;
	net->n_ext = n_ext;
	for (int f = 0; !err && f < 2; f++)
		err = add_node_addr(net, &node[f]);
	for (size_t i = 0; !err && i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		if (pod->host_network) {
			for (size_t a = 0; !err && a < pod->n_addrs; a++)
				err = add_node_addr(net, &pod->addrs[a]);
			continue;
		}
		h = VEC_PUSH(net->hosts, net->n_hosts, net->cap_hosts);
		if (!h) {
			err = -ENOMEM;
			break;
		}
		h->slot = net->n_hosts - 1;
		h->pod = pod;
		h->addrs = pod->addrs;
		h->n_addrs = pod->n_addrs;
	}
	if (!err && n_ext) {
		h = VEC_PUSH(net->hosts, net->n_hosts, net->cap_hosts);
		if (!h) {
			err = -ENOMEM;
		} else {
			h->slot = net->n_hosts - 1;
			h->addrs = ext;
			h->n_addrs = n_ext;
		}
	}
	if (err)
		lab_net_free(net);
	return err;
}

int lab_net_plan_node(struct lab_net *net, enum lab_mode mode, const struct np_cluster *c,
		      const char *node, const struct np_addr node_addr[2])
{
	struct lab_host *h;
	int err = 0;

	memset(net, 0, sizeof(*net));
	net->mode = mode;
	net->node[0] = node_addr[0];
	net->node[1] = node_addr[1];
	for (int f = 0; !err && f < 2; f++)
		err = add_node_addr(net, &node_addr[f]);
	for (size_t i = 0; !err && i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		if (!pod->node || strcmp(pod->node, node))
			continue;
		if (pod->host_network) {
			for (size_t a = 0; !err && a < pod->n_addrs; a++)
				err = add_node_addr(net, &pod->addrs[a]);
			continue;
		}
		if (!pod->n_addrs)
			continue;
		h = VEC_PUSH(net->hosts, net->n_hosts, net->cap_hosts);
		if (!h) {
			err = -ENOMEM;
			break;
		}
		h->slot = net->n_hosts - 1;
		h->pod = pod;
		h->addrs = pod->addrs;
		h->n_addrs = pod->n_addrs;
	}
	if (err)
		lab_net_free(net);
	return err;
}

/* a with the bits after plen cleared. */
static void addr_mask(struct np_addr *a, unsigned int plen)
{
	for (unsigned int bit = plen; bit < (a->family == 6 ? 128u : 32u); bit++)
		a->bytes[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	a->plen = (uint8_t)plen;
}

static unsigned int common_plen(const struct np_addr *a, const struct np_addr *b)
{
	unsigned int full = a->family == 6 ? 128 : 32, bit;

	for (bit = 0; bit < full; bit++) {
		uint8_t m = (uint8_t)(0x80u >> (bit % 8));

		if ((a->bytes[bit / 8] & m) != (b->bytes[bit / 8] & m))
			break;
	}
	return bit;
}

static bool addr_in(const struct np_addr *v, size_t n, const struct np_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (!addr_cmp(&v[i], a))
			return true;
	return false;
}

/* Held by a pod of any node, a node, an external or the lab's node. */
static bool addr_taken(const struct lab_net *net, const struct np_cluster *c,
		       const struct np_addr *a)
{
	for (size_t i = 0; i < c->n_pods; i++) {
		if (addr_in(c->pods[i].addrs, c->pods[i].n_addrs, a) ||
		    addr_in(c->pods[i].host_addrs, c->pods[i].n_host_addrs, a))
			return true;
	}
	return addr_in(net->ext, net->n_ext, a) || addr_in(net->node_addrs, net->n_node_addrs, a);
}

/* The address before a (within its family), false below the start. */
static bool addr_prev(struct np_addr *a)
{
	for (int i = a->family == 6 ? 15 : 3; i >= 0; i--) {
		if (a->bytes[i]--)
			return true;
	}
	return false;
}

/* The node's IPv6 address out of the pod subnet sub (on cni0 it would
 * stop the bridge plugin's next ADD): the highest free one of the range
 * outside it. */
static int move_node_addr(struct lab_net *net, const struct np_cluster *c,
			  const struct np_addr *sub)
{
	struct np_addr cand, old = net->node[1];
	char buf[64];

	if (addr_parse(LAB_RANGE_V6, true, &cand) || sub->plen <= cand.plen) {
		log_error("lab: --cni: the IPv6 pod CIDR %s leaves the node no address",
			  addr_format(sub, buf, sizeof(buf)));
		return -EINVAL;
	}
	for (unsigned int bit = cand.plen; bit < 128; bit++)
		cand.bytes[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
	cand.plen = 128;
	do {
		if (!addr_prev(&cand) || !lab_addr_in_range(&cand)) {
			log_error("lab: --cni: no address for the node outside %s",
				  addr_format(sub, buf, sizeof(buf)));
			return -EINVAL;
		}
	} while (addr_contains(sub, &cand) || addr_taken(net, c, &cand));
	net->node[1] = cand;
	for (size_t i = 0; i < net->n_node_addrs; i++)
		if (!addr_cmp(&net->node_addrs[i], &old))
			net->node_addrs[i] = cand;
	log_info("lab: --cni: the node's IPv6 address is %s, outside the pod CIDR",
		 addr_format(&cand, buf, sizeof(buf)));
	return 0;
}

static int cni_family(struct lab_net *net, const struct np_cluster *c, int f, bool wanted,
		      struct lab_cni_conf *conf)
{
	unsigned int full = f ? 128 : 32, range_plen = f ? 32 : 15, max_plen = f ? 64 : 24;
	const struct np_addr *first = NULL;
	unsigned int plen = full;
	struct np_addr sub, gw, end, base;
	char buf[64], buf2[64];
	size_t n_decl = 0;

	for (size_t i = 0; i < net->n_hosts; i++) {
		const struct lab_host *h = &net->hosts[i];

		for (size_t a = 0; h->pod && a < h->n_addrs; a++) {
			if (h->addrs[a].family != (f ? 6 : 4))
				continue;
			if (!first)
				first = &h->addrs[a];
			n_decl++;
			if (common_plen(first, &h->addrs[a]) < plen)
				plen = common_plen(first, &h->addrs[a]);
		}
	}
	if (!wanted && !n_decl)
		return 0;
	conf->family[f] = true;
	if (first) {
		sub = *first;
	} else if (addr_parse(f ? LAB_RANGE_V6 : LAB_RANGE_V4, true, &sub)) {
		return -EINVAL;
	}
	if (plen > max_plen)
		plen = max_plen;
	/* Room for every pod, the network, the gateway and the broadcast. */
	while (plen > range_plen && full - plen < 40 &&
	       (1ull << (full - plen)) < (unsigned long long)net->n_hosts + 4)
		plen--;
	if (plen < range_plen) {
		log_error("lab: --cni: the pods' addresses span more than the lab's range");
		return -EINVAL;
	}
	addr_mask(&sub, plen);
	base = sub;
	base.plen = (uint8_t)full;
	end = sub;
	end.plen = (uint8_t)full;
	for (unsigned int bit = plen; bit < full; bit++)
		end.bytes[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
	/* From the top (below the broadcast address), as the lab's node
	 * address: pods' addresses are usually counted from the bottom, and
	 * a kept cluster-mode lab's new pods must not claim it. */
	gw = end;
	do {
		if (!addr_prev(&gw) || !addr_cmp(&gw, &base)) {
			log_error("lab: --cni: no free address for cni0 in %s",
				  addr_format(&sub, buf, sizeof(buf)));
			return -EINVAL;
		}
	} while (addr_taken(net, c, &gw));
	conf->subnet[f] = sub;
	conf->gw[f] = gw;
	if (f && addr_contains(&sub, &net->node[1])) {
		int err = move_node_addr(net, c, &sub);

		if (err)
			return err;
	}
	log_info("lab: --cni: pod CIDR %s, cni0 %s", addr_format(&sub, buf, sizeof(buf)),
		 addr_format(&gw, buf2, sizeof(buf2)));
	return add_node_addr(net, &gw);
}

int lab_net_cni_plan(struct lab_net *net, const struct np_cluster *c, int families,
		     const char *chain)
{
	struct lab_cni_conf *conf = calloc(1, sizeof(*conf));
	int err;

	if (!conf)
		return -ENOMEM;
	net->cni_conf = conf;
	conf->ext = net->ext;
	conf->n_ext = net->n_ext;
	err = lab_cni_parse_chain(chain ? chain : "auto", conf);
	for (int f = 0; !err && f < 2; f++)
		err = cni_family(net, c, f, families & (f ? MATRIX_V6 : MATRIX_V4), conf);
	for (size_t i = 0; !err && i < net->n_hosts; i++)
		net->hosts[i].cni_dynamic = net->hosts[i].pod && !net->hosts[i].n_addrs;
	return err;
}

void lab_net_name(struct lab_net *net, const char *id)
{
	snprintf(net->id, sizeof(net->id), "%s", id);
	snprintf(net->node_netns, sizeof(net->node_netns), "%s%s-node", LAB_NETNS_PREFIX, id);
	for (size_t i = 0; i < net->n_hosts; i++) {
		struct lab_host *h = &net->hosts[i];

		if (!h->pod) {
			snprintf(h->netns, sizeof(h->netns), "%s%s-ext", LAB_NETNS_PREFIX, id);
			snprintf(h->veth, sizeof(h->veth), "%s", EXT_VETH);
			continue;
		}
		pod_netns_name(net, h->pod, h->slot, h->netns, sizeof(h->netns));
		snprintf(h->veth, sizeof(h->veth), "lab%u", (unsigned int)h->slot);
	}
}

void lab_net_free(struct lab_net *net)
{
	if (net->cni)
		lab_cni_free(net->cni);
	free(net->cni);
	free(net->cni_conf);
	free(net->node_addrs);
	free(net->hosts);
	memset(net, 0, sizeof(*net));
}

const struct lab_host *lab_net_host_of(const struct lab_net *net, const struct np_pod *pod)
{
	for (size_t i = 0; i < net->n_hosts; i++) {
		if (net->hosts[i].pod == pod)
			return &net->hosts[i];
	}
	return NULL;
}

static const char *fmt_addr(const struct np_addr *a, char *buf, size_t len)
{
	addr_format(a, buf, len);
	return buf;
}

/* "ADDR/32" or "ADDR/128 ... nodad": usable at once, no duplicate address
 * detection delaying IPv6 by a second or two. */
static void batch_addr(struct lab_batch *b, const struct np_addr *a, const char *dev)
{
	char buf[64];

	lab_batch_add(b, "addr add %s/%u dev %s%s", fmt_addr(a, buf, sizeof(buf)), a->plen, dev,
		      a->family == 6 ? " nodad" : "");
}

/* Settings every namespace needs before its interfaces exist: no DAD (new
 * interfaces take the default), no reverse-path filter (IPv4 settings are
 * inherited from the host's namespace, which may be strict). */
static int netns_sysctls(const char *netns, bool node)
{
	static const char *const common[][2] = {
		{ "net/ipv6/conf/all/accept_dad", "0" },
		{ "net/ipv6/conf/default/accept_dad", "0" },
		{ "net/ipv4/conf/all/rp_filter", "0" },
		{ "net/ipv4/conf/default/rp_filter", "0" },
	};
	static const char *const forwarding[][2] = {
		{ "net/ipv4/ip_forward", "1" },
		{ "net/ipv6/conf/all/forwarding", "1" },
	};
	int saved, err;

	err = lab_netns_enter(netns, &saved);
	for (size_t i = 0; !err && i < sizeof(common) / sizeof(common[0]); i++)
		err = lab_sysctl_set(common[i][0], common[i][1]);
	for (size_t i = 0; !err && node && i < sizeof(forwarding) / sizeof(forwarding[0]); i++)
		err = lab_sysctl_set(forwarding[i][0], forwarding[i][1]);
	if (lab_netns_leave(saved) && !err)
		err = -EIO;
	return err;
}

/* fresh NULL: the node and every host; else the hosts with fresh[i]. */
static int create_namespaces(struct lab_net *net, const bool *fresh)
{
	struct lab_batch b;
	int err;

	lab_batch_init(&b);
	if (!fresh)
		lab_batch_add(&b, "netns add %s", net->node_netns);
	for (size_t i = 0; i < net->n_hosts; i++)
		if (!fresh || fresh[i])
			lab_batch_add(&b, "netns add %s", net->hosts[i].netns);
	err = lab_batch_run(&b, NULL, false, "creating network namespaces");
	lab_batch_free(&b);
	if (!err && !fresh)
		err = netns_sysctls(net->node_netns, true);
	for (size_t i = 0; !err && i < net->n_hosts; i++)
		if (!fresh || fresh[i])
			err = netns_sysctls(net->hosts[i].netns, false);
	return err;
}

void lab_host_mac(size_t i, uint8_t mac[6])
{
	mac[0] = 0x0e; /* locally administered, unicast */
	mac[1] = 0x6e;
	mac[2] = 0x70;
	mac[3] = (uint8_t)(i >> 16);
	mac[4] = (uint8_t)(i >> 8);
	mac[5] = (uint8_t)i;
}

/* The host side of host h's veth (the pod side created straight in its
 * namespace) and, routed, its routes. */
static void host_link_batch(const struct lab_net *net, const struct lab_host *h,
			    struct lab_batch *b)
{
	bool bridge = net->mode == LAB_MODE_BRIDGE;
	bool gw = !bridge || !h->pod;
	char buf[64];
	/* An index no pod's eth0 (2) can have: a veth whose index equals its
	 * peer's gets its link events batched, up to a second late. */
	uint8_t mac[6];

	lab_host_mac(h->slot, mac);
	lab_batch_add(b,
		      "link add %s index %zu%s type veth peer name eth0 address "
		      "%02x:%02x:%02x:%02x:%02x:%02x netns %s",
		      h->veth, HOST_VETH_INDEX + h->slot, gw ? " address " GW_MAC : "", mac[0],
		      mac[1], mac[2], mac[3], mac[4], mac[5], h->netns);
	if (!gw) {
		lab_batch_add(b, "link set %s master %s up", h->veth, BRIDGE);
		return;
	}
	lab_batch_add(b, "link set %s up", h->veth);
	for (size_t a = 0; a < h->n_addrs; a++)
		lab_batch_add(b, "route add %s dev %s", fmt_addr(&h->addrs[a], buf, sizeof(buf)),
			      h->veth);
}

/* The node: the bridge or the per-pod routes, the node's addresses, and the
 * host sides of every veth. */
static void node_batch(const struct lab_net *net, struct lab_batch *b)
{
	bool bridge = net->mode == LAB_MODE_BRIDGE;
	const char *dev = bridge ? BRIDGE : "lo";

	lab_batch_add(b, "link set lo up");
	if (bridge) {
		lab_batch_add(b, "link add %s type bridge mcast_snooping 0", BRIDGE);
		lab_batch_add(b, "link set %s up", BRIDGE);
	}
	for (size_t i = 0; i < net->n_node_addrs; i++)
		batch_addr(b, &net->node_addrs[i], dev);
	if (bridge) {
		lab_batch_add(b, "route add %s dev %s", LAB_RANGE_V4, BRIDGE);
		lab_batch_add(b, "route add %s dev %s", LAB_RANGE_V6, BRIDGE);
	}
	for (size_t i = 0; i < net->n_hosts; i++)
		host_link_batch(net, &net->hosts[i], b);
}

/* Inside a pod or the external host: addresses on eth0 and routes to the
 * lab's ranges (only those). */
static void host_batch(const struct lab_net *net, const struct lab_host *h, struct lab_batch *b)
{
	bool on_link = net->mode == LAB_MODE_BRIDGE && h->pod;
	char buf[64], gw[64];

	lab_batch_add(b, "link set lo up");
	if ((net->cni_conf || net->cni) && h->pod)
		return; /* the bridge plugin wired eth0 */
	for (size_t a = 0; a < h->n_addrs; a++)
		batch_addr(b, &h->addrs[a], "eth0");
	lab_batch_add(b, "link set eth0 up");
	if (on_link) {
		/* Other pods are on the bridge; the external host is behind the
		 * node, which is on the bridge too. */
		lab_batch_add(b, "route add %s dev eth0", LAB_RANGE_V4);
		lab_batch_add(b, "route add %s dev eth0", LAB_RANGE_V6);
		for (size_t e = 0; e < net->n_ext; e++) {
			const struct np_addr *x = &net->ext[e];

			lab_batch_add(b, "route add %s via %s dev eth0", fmt_addr(x, buf, sizeof(buf)),
				      fmt_addr(&net->node[x->family == 6], gw, sizeof(gw)));
		}
		return;
	}
	lab_batch_add(b, "neigh add %s lladdr %s dev eth0 nud permanent", GW_V4, GW_MAC);
	lab_batch_add(b, "neigh add %s lladdr %s dev eth0 nud permanent", GW_V6, GW_MAC);
	lab_batch_add(b, "route add %s via %s dev eth0 onlink", LAB_RANGE_V4, GW_V4);
	lab_batch_add(b, "route add %s via %s dev eth0", LAB_RANGE_V6, GW_V6);
}

static int configure_hosts(struct lab_net *net, const bool *fresh)
{
	struct lab_batch *b = calloc(net->n_hosts ? net->n_hosts : 1, sizeof(*b));
	pid_t *pids = calloc(net->n_hosts ? net->n_hosts : 1, sizeof(*pids));
	int err = b && pids ? 0 : -ENOMEM, ret;

	/* All at once: each is a separate ip process in its own namespace. */
	for (size_t i = 0; !err && i < net->n_hosts; i++) {
		lab_batch_init(&b[i]);
		if (fresh && !fresh[i])
			continue;
		host_batch(net, &net->hosts[i], &b[i]);
		err = lab_batch_spawn(&b[i], net->hosts[i].netns, false, &pids[i]);
	}
	for (size_t i = 0; pids && i < net->n_hosts; i++) {
		ret = lab_batch_wait(pids[i], net->hosts[i].netns);
		if (ret && !err)
			err = ret;
	}
	for (size_t i = 0; b && i < net->n_hosts; i++)
		lab_batch_free(&b[i]);
	free(b);
	free(pids);
	return err;
}

/* The host veths' indexes, once every one of them (and the bridge) carries
 * traffic. */
static int node_ready(struct lab_net *net)
{
	int64_t deadline = lab_now_ms() + LAB_LINK_TIMEOUT_MS;
	int saved, err;

	err = lab_netns_enter(net->node_netns, &saved);
	if (!err && net->mode == LAB_MODE_BRIDGE)
		err = lab_link_wait_ready(BRIDGE, deadline);
	for (size_t i = 0; !err && i < net->n_hosts; i++)
		err = lab_link_wait_ready(net->hosts[i].veth, deadline);
	for (size_t i = 0; !err && i < net->n_hosts; i++) {
		net->hosts[i].ifindex = if_nametoindex(net->hosts[i].veth);
		if (!net->hosts[i].ifindex) {
			err = -errno;
			log_error("lab: no interface %s in %s: %s", net->hosts[i].veth,
				  net->node_netns, strerror(-err));
		}
	}
	if (lab_netns_leave(saved) && !err)
		err = -EIO;
	return err;
}

/* ---- --cni: the pods' veths, addresses and routes from the plugins */

static bool is_cni_gw(const struct lab_net *net, const struct np_addr *a)
{
	const struct lab_cni_conf *conf = net->cni_conf;

	return (conf->family[0] && !addr_cmp(&conf->gw[0], a)) ||
	       (conf->family[1] && !addr_cmp(&conf->gw[1], a));
}

/*
 * The lab's external hosts are behind the node, but their addresses may lie
 * in the pods' CNI subnet (a pod inside an ipBlock, as the upstream suite
 * has it), which npbpf-cni writes as this node's pod segment: a free
 * address there is an unknown pod, dropped at every pod's hook. They are
 * written as world, as they are (no real node has hosts inside its pod
 * CIDR). Before each ADD attempt: the pins may appear only with the agent.
 */
static void cni_mark_externals(const struct lab_net *net)
{
	const struct lab_cni_conf *conf = net->cni_conf;
	struct window_ip ips[16];
	size_t n = 0;
	int err;

	if (!conf || !conf->pin_dir)
		return;
	for (size_t i = 0; i < conf->n_ext && n < sizeof(ips) / sizeof(ips[0]); i++) {
		const struct np_addr *a = &conf->ext[i];
		int f = a->family == 6;

		if (!conf->family[f] || !addr_contains(&conf->subnet[f], a))
			continue;
		memset(&ips[n], 0, sizeof(ips[n]));
		ips[n].family = a->family;
		memcpy(ips[n].addr, a->bytes, f ? 16 : 4);
		ips[n].plen = f ? 128 : 32;
		n++;
	}
	err = n ? window_unenforced_put(conf->pin_dir, ips, n) : 0;
	if (err)
		log_debug("lab: marking the externals inside the pod subnet: %s (retried)",
			  strerror(-err));
}

/* ADD of host h, or (done) the cached result of an earlier ADD. */
static int cni_host(struct lab_net *net, struct lab_host *h, bool done)
{
	struct lab_cni_iface ifc;
	int err;

	if (done) {
		err = lab_cni_cached(net->cni, h->netns, &ifc);
		if (err)
			log_error("lab: no CNI result cached for %s: %s", h->netns, strerror(-err));
	} else {
		int64_t deadline = lab_now_ms() + CNI_RETRY_MS;

		/* A plugin may say "try again later" (npbpf-cni before the
		 * agent pinned its programs): retried, as the kubelet does. */
		for (bool said = false;; said = true) {
			log_debug("lab: CNI ADD %s/%s (%s)", h->pod->ns, h->pod->name, h->netns);
			cni_mark_externals(net);
			err = lab_cni_add(net->cni, h->netns, h->netns, h->pod->ns, h->pod->name,
					  h->cni_dynamic ? NULL : h->addrs,
					  h->cni_dynamic ? 0 : h->n_addrs, &ifc);
			if (err != -EAGAIN || lab_stop_requested())
				break;
			if (lab_now_ms() >= deadline) {
				log_error("lab: CNI ADD of %s/%s: the chain still says try again "
					  "later after %d s (see %s)",
					  h->pod->ns, h->pod->name, CNI_RETRY_MS / 1000,
					  net->cni->dir);
				break;
			}
			if (!said)
				log_info("lab: CNI ADD of %s/%s: try again later, retrying",
					 h->pod->ns, h->pod->name);
			usleep(100 * 1000);
		}
	}
	if (err)
		return err;
	snprintf(h->veth, sizeof(h->veth), "%s", ifc.veth);
	h->has_mac = ifc.has_mac;
	memcpy(h->mac, ifc.mac, sizeof(h->mac));
	if (h->cni_dynamic) {
		memcpy(h->cni_addrs, ifc.addrs, sizeof(h->cni_addrs));
		h->n_cni_addrs = ifc.n_addrs;
		h->addrs = h->cni_addrs;
		h->n_addrs = h->n_cni_addrs;
	}
	return 0;
}

/* Every pod host (fresh NULL), or those with fresh[i] (the others from the
 * cache): pods that keep declared addresses first, so that host-local
 * hands none of them to a pod without. */
static int cni_hosts(struct lab_net *net, const bool *fresh)
{
	int err = 0;

	for (int pass = 0; !err && pass < 2; pass++) {
		for (size_t i = 0; !err && i < net->n_hosts; i++) {
			struct lab_host *h = &net->hosts[i];

			if (!h->pod || h->cni_dynamic != (pass == 1))
				continue;
			err = cni_host(net, h, fresh && !fresh[i]);
			if (!err && lab_stop_requested())
				err = -EINTR;
		}
	}
	return err;
}

static int cni_open(struct lab_net *net)
{
	int err;

	if (net->cni)
		return 0;
	net->cni = calloc(1, sizeof(*net->cni));
	if (!net->cni)
		return -ENOMEM;
	if (net->cni_conf)
		err = lab_cni_create(net->cni, net->id, net->node_netns, net->cni_conf);
	else
		err = lab_cni_load(net->cni, net->id, net->node_netns);
	return err;
}

static int cni_create(struct lab_net *net)
{
	struct lab_batch b;
	bool pods = false;
	int err;

	err = create_namespaces(net, NULL);
	if (!err)
		err = cni_open(net);
	if (!err && lab_stop_requested())
		err = -EINTR;
	if (!err) {
		lab_batch_init(&b);
		lab_batch_add(&b, "link set lo up");
		for (size_t i = 0; i < net->n_hosts; i++)
			if (!net->hosts[i].pod)
				host_link_batch(net, &net->hosts[i], &b);
		err = lab_batch_run(&b, net->node_netns, false, "setting up the node");
		lab_batch_free(&b);
	}
	if (!err && net->before_cni_add)
		err = net->before_cni_add(net->before_cni_add_arg);
	if (!err)
		err = cni_hosts(net, NULL);
	if (!err) {
		/* The node's own addresses on cni0, after the gateways (the
		 * bridge plugin's ADD takes the first IPv4 address it finds
		 * for the gateway's, and refuses a bridge with another IPv6
		 * address in the pod subnet: lab_net_cni_plan moved the
		 * node's out of it). */
		lab_batch_init(&b);
		for (size_t i = 0; i < net->n_hosts; i++)
			pods |= net->hosts[i].pod != NULL;
		if (!pods) {
			lab_batch_add(&b, "link add %s type bridge", BRIDGE);
			lab_batch_add(&b, "link set %s up", BRIDGE);
		}
		for (size_t i = 0; i < net->n_node_addrs; i++)
			if (!is_cni_gw(net, &net->node_addrs[i]))
				batch_addr(&b, &net->node_addrs[i], BRIDGE);
		err = lab_batch_run(&b, net->node_netns, false, "setting up the node");
		lab_batch_free(&b);
	}
	if (!err)
		err = configure_hosts(net, NULL);
	if (!err)
		err = node_ready(net);
	return err;
}

int lab_net_create(struct lab_net *net)
{
	struct lab_batch b;
	int err;

	if (net->cni_conf)
		return cni_create(net);

	err = create_namespaces(net, NULL);
	if (!err && lab_stop_requested())
		err = -EINTR;
	if (!err) {
		lab_batch_init(&b);
		node_batch(net, &b);
		err = lab_batch_run(&b, net->node_netns, false, "setting up the node");
		lab_batch_free(&b);
	}
	if (!err && lab_stop_requested())
		err = -EINTR;
	if (!err)
		err = configure_hosts(net, NULL);
	if (!err)
		err = node_ready(net);
	return err;
}

int lab_net_cni_check(struct lab_net *net)
{
	int err = 0, ret;

	if (!net->cni)
		return 0;
	for (size_t i = 0; i < net->n_hosts; i++) {
		if (!net->hosts[i].pod)
			continue;
		ret = lab_cni_check(net->cni, net->hosts[i].netns);
		if (ret && !err)
			err = ret;
	}
	return err;
}

bool lab_net_is_cni(const struct lab_net *net)
{
	char dir[256];

	if (net->cni_conf || net->cni)
		return true;
	lab_cni_dir(net->id, dir, sizeof(dir));
	return !access(dir, F_OK);
}

int lab_net_del_host(struct lab_net *net, const char *netns)
{
	int err = lab_net_is_cni(net) ? cni_open(net) : 0;

	if (!err && net->cni)
		err = lab_cni_del(net->cni, netns);
	return err;
}

int lab_net_add_hosts(struct lab_net *net, const bool *fresh)
{
	struct lab_batch b;
	size_t n = 0;
	int err = 0;

	for (size_t i = 0; i < net->n_hosts; i++)
		n += fresh[i];
	if (lab_net_is_cni(net)) {
		err = n ? create_namespaces(net, fresh) : 0;
		if (!err)
			err = cni_open(net);
		if (!err)
			err = cni_hosts(net, fresh);
		if (!err && n)
			err = configure_hosts(net, fresh);
		return err ? err : node_ready(net);
	}
	if (n) {
		err = create_namespaces(net, fresh);
		if (!err && lab_stop_requested())
			err = -EINTR;
		if (!err) {
			lab_batch_init(&b);
			for (size_t i = 0; i < net->n_hosts; i++)
				if (fresh[i])
					host_link_batch(net, &net->hosts[i], &b);
			err = lab_batch_run(&b, net->node_netns, false, "adding pods to the node");
			lab_batch_free(&b);
		}
		if (!err)
			err = configure_hosts(net, fresh);
	}
	if (!err)
		err = node_ready(net);
	return err;
}
