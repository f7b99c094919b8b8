/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoint discovery over rtnetlink with libmnl. Two sockets, both in the
 * caller's network namespace:
 *  - req: requests and dumps, one at a time, with NETLINK_GET_STRICT_CHK on
 *    (the kernel honours ifa_index and IFA_TARGET_NETNSID in an address dump
 *    only under strict checking);
 *  - ev: non-blocking, subscribed to RTMGRP_LINK, for creations and removals.
 * A veth is reported when its link carries IFLA_LINK_NETNSID, which the
 * kernel adds only when the peer's namespace is not the veth's own. Events
 * are read against the set of veths reported (by the last scan, then by
 * events): 'added' the first time a veth is seen with its peer elsewhere (a
 * RTM_NEWLINK, or the RTM_DELLINK with IFLA_NEW_NETNSID of its peer moving
 * out, which is all the kernel says then), 'removed' when a reported one is
 * deleted, moved out, or has its peer back here. AF_BRIDGE link messages
 * (bridge port changes, a RTM_DELLINK when a port leaves its bridge) are not
 * about links and are ignored. One thread uses a netdisc at a time.
 */
#include "netdisc.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "vec.h"

/* Large enough for one link message with every attribute (the kernel sizes
 * its dump chunks by what we receive into, up to 32 KiB). */
#define ND_BUF_SIZE (64 * 1024)
/* How often a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is
 * started again. */
#define ND_DUMP_TRIES 8
/* The event socket's receive buffer: a burst of pod creations and removals
 * before the agent reads. */
#define ND_EV_RCVBUF (4 * 1024 * 1024)

struct netdisc {
	struct mnl_socket *req;
	uint32_t req_portid;
	uint32_t seq;
	struct mnl_socket *ev;
	char *buf;    /* ND_BUF_SIZE: replies to requests */
	char *ev_buf; /* ND_BUF_SIZE: events (a request may be made while
		       * they are read) */
	/* Host-side ifindexes reported (scan or added) and not yet removed,
	 * sorted. */
	uint32_t *known;
	size_t n_known, cap_known;
};

/* ---- The known set. */

/* Index of ifindex in known, or where it would go. */
static size_t known_pos(const struct netdisc *nd, uint32_t ifindex)
{
	size_t lo = 0, hi = nd->n_known;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (nd->known[mid] < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool known_has(const struct netdisc *nd, uint32_t ifindex)
{
	size_t i = known_pos(nd, ifindex);

	return i < nd->n_known && nd->known[i] == ifindex;
}

/* 0 or -ENOMEM. */
static int known_add(struct netdisc *nd, uint32_t ifindex)
{
	size_t i = known_pos(nd, ifindex);

	if (i < nd->n_known && nd->known[i] == ifindex)
		return 0;
	if (!VEC_PUSH(nd->known, nd->n_known, nd->cap_known))
		return -ENOMEM;
	memmove(&nd->known[i + 1], &nd->known[i], (nd->n_known - 1 - i) * sizeof(nd->known[0]));
	nd->known[i] = ifindex;
	return 0;
}

static void known_del(struct netdisc *nd, uint32_t ifindex)
{
	size_t i = known_pos(nd, ifindex);

	if (i >= nd->n_known || nd->known[i] != ifindex)
		return;
	memmove(&nd->known[i], &nd->known[i + 1], (nd->n_known - 1 - i) * sizeof(nd->known[0]));
	nd->n_known--;
}

/* ---- Opening. */

int nd_open(struct netdisc **out)
{
	struct netdisc *nd;
	int one = 1, rcvbuf = ND_EV_RCVBUF;
	int err;

	*out = NULL;
	nd = calloc(1, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	nd->buf = malloc(ND_BUF_SIZE);
	nd->ev_buf = malloc(ND_BUF_SIZE);
	if (!nd->buf || !nd->ev_buf) {
		err = -ENOMEM;
		goto fail;
	}

	nd->req = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nd->req) {
		err = -errno;
		log_error("endpoint discovery: netlink socket: %s", strerror(-err));
		goto fail;
	}
	if (mnl_socket_setsockopt(nd->req, NETLINK_GET_STRICT_CHK, &one, sizeof(one)) ||
	    mnl_socket_setsockopt(nd->req, NETLINK_EXT_ACK, &one, sizeof(one))) {
		err = -errno;
		log_error("endpoint discovery: strict netlink checking (Linux 4.20 or later): %s",
			  strerror(-err));
		goto fail;
	}
	if (mnl_socket_bind(nd->req, 0, MNL_SOCKET_AUTOPID)) {
		err = -errno;
		log_error("endpoint discovery: binding a netlink socket: %s", strerror(-err));
		goto fail;
	}
	nd->req_portid = mnl_socket_get_portid(nd->req);

	nd->ev = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!nd->ev) {
		err = -errno;
		log_error("endpoint discovery: netlink socket: %s", strerror(-err));
		goto fail;
	}
	/* Past rmem_max needs CAP_NET_ADMIN; the plain option is the fallback. */
	if (setsockopt(mnl_socket_get_fd(nd->ev), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)))
		(void)setsockopt(mnl_socket_get_fd(nd->ev), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf));
	if (mnl_socket_bind(nd->ev, RTMGRP_LINK, MNL_SOCKET_AUTOPID)) {
		err = -errno;
		log_error("endpoint discovery: subscribing to link events: %s", strerror(-err));
		goto fail;
	}
	*out = nd;
	return 0;
fail:
	nd_close(nd);
	return err;
}

void nd_close(struct netdisc *nd)
{
	if (!nd)
		return;
	if (nd->req)
		mnl_socket_close(nd->req);
	if (nd->ev)
		mnl_socket_close(nd->ev);
	free(nd->buf);
	free(nd->ev_buf);
	free(nd->known);
	free(nd);
}

int nd_events_fd(struct netdisc *nd)
{
	return mnl_socket_get_fd(nd->ev);
}

/* ---- Requests. */

/* After an interrupted dump: reads up to its end (NLMSG_DONE or an error for
 * seq), starting with what is already in buf. */
static void drain_dump(struct netdisc *nd, ssize_t n, uint32_t seq)
{
	for (;;) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)nd->buf;
		int left = (int)n;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			if (nlh->nlmsg_seq == seq &&
			    (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR))
				return;
		do
			n = mnl_socket_recvfrom(nd->req, nd->buf, ND_BUF_SIZE);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return;
	}
}

/* Sends the request in nlh and runs cb on every reply up to the end of the
 * dump, or the acknowledgement (a request that is not a dump must ask for
 * one, NLM_F_ACK). cb must not fail (it records its errors in data), so that
 * a reply is never left half read. 0, -EINTR when a dump was interrupted by a
 * change (its replies are read to the end: start again), or -errno (the
 * kernel's, ENODEV for a missing link). */
static int nd_talk(struct netdisc *nd, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = ++nd->seq;
	ssize_t n;
	int ret;

	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nd->req, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nd->req, nd->buf, ND_BUF_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run(nd->buf, (size_t)n, seq, nd->req_portid, cb, data);
		if (ret == MNL_CB_STOP)
			return 0;
		if (ret < 0) {
			int err = errno ? -errno : -EPROTO;

			if (err == -EINTR)
				drain_dump(nd, n, seq);
			return err;
		}
	}
}

/* ---- Links. */

struct link_info {
	uint32_t ifindex;
	char name[IF_NAMESIZE];
	bool is_veth;
	uint32_t master;
	uint32_t link; /* IFLA_LINK: the peer's ifindex */
	bool has_nsid;
	int32_t nsid;
	bool has_mac;
	uint8_t mac[6];
	bool moved; /* IFLA_NEW_NETNSID: a RTM_DELLINK for a move to another netns */
};

static int attr_link_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type > IFLA_MAX)
		return MNL_CB_OK;
	switch (type) {
	case IFLA_LINK:
	case IFLA_MASTER:
	case IFLA_LINK_NETNSID:
	case IFLA_NEW_NETNSID:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return MNL_CB_OK;
		break;
	default:
		break;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

static int attr_kind_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **kind = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND)
		*kind = attr;
	return MNL_CB_OK;
}

static bool kind_is_veth(const struct nlattr *linkinfo)
{
	const struct nlattr *kind = NULL;
	static const char veth[] = "veth";
	uint16_t len;

	if (!linkinfo || mnl_attr_parse_nested(linkinfo, attr_kind_cb, &kind) < 0 || !kind)
		return false;
	len = mnl_attr_get_payload_len(kind);
	/* Written with its NUL; accept it without, too. */
	return (len == sizeof(veth) || len == sizeof(veth) - 1) &&
	       !memcmp(mnl_attr_get_payload(kind), veth, sizeof(veth) - 1);
}

/* A link message (AF_UNSPEC) into li. false when it is not one. */
static bool parse_link(const struct nlmsghdr *nlh, struct link_info *li)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	const struct ifinfomsg *ifi;

	memset(li, 0, sizeof(*li));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return false;
	ifi = mnl_nlmsg_get_payload(nlh);
	/* AF_BRIDGE messages are about bridge ports (a RTM_DELLINK when a port
	 * leaves its bridge), not about the link. */
	if (ifi->ifi_family != AF_UNSPEC || ifi->ifi_index <= 0)
		return false;
	if (mnl_attr_parse(nlh, sizeof(*ifi), attr_link_cb, tb) < 0)
		return false;
	li->ifindex = (uint32_t)ifi->ifi_index;
	if (tb[IFLA_IFNAME])
		snprintf(li->name, sizeof(li->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	li->is_veth = kind_is_veth(tb[IFLA_LINKINFO]);
	if (tb[IFLA_MASTER])
		li->master = mnl_attr_get_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_LINK])
		li->link = mnl_attr_get_u32(tb[IFLA_LINK]);
	if (tb[IFLA_LINK_NETNSID]) {
		li->nsid = (int32_t)mnl_attr_get_u32(tb[IFLA_LINK_NETNSID]);
		li->has_nsid = li->nsid >= 0;
	}
	li->moved = tb[IFLA_NEW_NETNSID] != NULL;
	if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6) {
		memcpy(li->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
		li->has_mac = true;
	}
	return true;
}

/* A veth whose peer is in another namespace. */
static bool link_is_pod_veth(const struct link_info *li)
{
	return li->is_veth && li->has_nsid && li->link;
}

static void veth_from_link(struct nd_veth *v, const struct link_info *li)
{
	memset(v, 0, sizeof(*v));
	v->ifindex = li->ifindex;
	memcpy(v->name, li->name, sizeof(v->name));
	v->master = li->master;
	v->peer_nsid = li->nsid;
	v->peer_ifindex = li->link;
}

/* Link requests carry no statistics (they are most of a link message). */
static void put_ext_mask(struct nlmsghdr *nlh)
{
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
}

/* ---- One link, by ifindex, in our namespace or (nsid >= 0) another. */

struct getlink_ctx {
	struct link_info li;
	bool found;
};

static int getlink_cb(const struct nlmsghdr *nlh, void *data)
{
	struct getlink_ctx *ctx = data;

	if (nlh->nlmsg_type == RTM_NEWLINK && !ctx->found && parse_link(nlh, &ctx->li))
		ctx->found = true;
	return MNL_CB_OK;
}

/* 0, -ENOENT when there is no such link, -errno. */
static int get_link(struct netdisc *nd, uint32_t ifindex, int32_t nsid, struct link_info *li)
{
	char req[256] __attribute__((aligned(8)));
	struct getlink_ctx ctx = { .found = false };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	struct ifinfomsg *ifi;
	int err;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	if (nsid >= 0)
		mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, (uint32_t)nsid);
	put_ext_mask(nlh);
	err = nd_talk(nd, nlh, getlink_cb, &ctx);
	if (err == -ENODEV || err == -EINVAL)
		/* EINVAL: the netnsid names no namespace any more. */
		return -ENOENT;
	if (err)
		return err;
	if (!ctx.found)
		return -ENOENT;
	*li = ctx.li;
	return 0;
}

/* ---- The peer's addresses. */

struct addr_ctx {
	struct nd_veth *v;
	size_t dropped;
};

static int attr_addr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type > IFA_MAX)
		return MNL_CB_OK;
	if (type == IFA_FLAGS && mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_ctx *ctx = data;
	const struct nlattr *tb[IFA_MAX + 1] = { 0 };
	const struct ifaddrmsg *ifa;
	const struct nlattr *a;
	struct np_addr *out;
	uint32_t flags;
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWADDR || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa)))
		return MNL_CB_OK;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_index != ctx->v->peer_ifindex ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*ifa), attr_addr_cb, tb) < 0)
		return MNL_CB_OK;
	/* The local address: IFA_LOCAL when there is a peer address too. */
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	len = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!a || mnl_attr_get_payload_len(a) != len)
		return MNL_CB_OK;
	flags = tb[IFA_FLAGS] ? mnl_attr_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	if (ifa->ifa_family == AF_INET6) {
		const uint8_t *b = mnl_attr_get_payload(a);

		/* Link-local (fe80::/10) is every interface's own; an address
		 * that failed duplicate detection belongs to someone else.
		 * Tentative ones (detection still running) are kept. */
		if ((b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || (flags & IFA_F_DADFAILED))
			return MNL_CB_OK;
	}
	if (ctx->v->n_addrs == ND_MAX_ADDRS) {
		ctx->dropped++;
		return MNL_CB_OK;
	}
	out = &ctx->v->addrs[ctx->v->n_addrs++];
	memset(out, 0, sizeof(*out));
	out->family = ifa->ifa_family == AF_INET ? 4 : 6;
	out->plen = (uint8_t)(len * 8);
	memcpy(out->bytes, mnl_attr_get_payload(a), len);
	return MNL_CB_OK;
}

/* The peer's addresses into v (v->n_addrs 0 first). 0, -ENOENT when the peer
 * or its namespace is gone, -errno. */
static int get_peer_addrs(struct netdisc *nd, struct nd_veth *v)
{
	char req[256] __attribute__((aligned(8)));
	struct addr_ctx ctx = { .v = v };
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	int err = -EINTR;

	for (int i = 0; i < ND_DUMP_TRIES && err == -EINTR; i++) {
		v->n_addrs = 0;
		ctx.dropped = 0;
		nlh = mnl_nlmsg_put_header(req);
		nlh->nlmsg_type = RTM_GETADDR;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
		/* AF_UNSPEC: IPv4's dump, then IPv6's. */
		ifa->ifa_family = AF_UNSPEC;
		ifa->ifa_index = v->peer_ifindex;
		mnl_attr_put_u32(nlh, IFA_TARGET_NETNSID, (uint32_t)v->peer_nsid);
		err = nd_talk(nd, nlh, addr_cb, &ctx);
	}
	if (err == -ENODEV || err == -EINVAL) {
		v->n_addrs = 0;
		return -ENOENT;
	}
	if (err) {
		v->n_addrs = 0;
		return err;
	}
	if (ctx.dropped)
		log_debug("endpoint discovery: %s: %zu addresses past the first %d left out",
			  v->name, ctx.dropped, ND_MAX_ADDRS);
	return 0;
}

/* The peer's MAC and addresses. A peer gone meanwhile (the pod being
 * deleted) leaves them empty: 0 or -errno. */
static int fill_peer(struct netdisc *nd, struct nd_veth *v)
{
	struct link_info peer;
	int err;

	v->has_peer_mac = false;
	v->n_addrs = 0;
	err = get_link(nd, v->peer_ifindex, v->peer_nsid, &peer);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (peer.has_mac) {
		memcpy(v->peer_mac, peer.mac, sizeof(v->peer_mac));
		v->has_peer_mac = true;
	}
	err = get_peer_addrs(nd, v);
	return err == -ENOENT ? 0 : err;
}

/* ---- Scan and query. */

struct scan_ctx {
	struct nd_veth *v;
	size_t n, cap;
	int err;
};

static int scan_cb(const struct nlmsghdr *nlh, void *data)
{
	struct scan_ctx *ctx = data;
	struct link_info li;
	struct nd_veth *v;

	if (ctx->err || nlh->nlmsg_type != RTM_NEWLINK || !parse_link(nlh, &li) ||
	    !link_is_pod_veth(&li))
		return MNL_CB_OK;
	v = VEC_PUSH(ctx->v, ctx->n, ctx->cap);
	if (!v) {
		ctx->err = -ENOMEM;
		return MNL_CB_OK;
	}
	veth_from_link(v, &li);
	return MNL_CB_OK;
}

static int cmp_veth(const void *a, const void *b)
{
	const struct nd_veth *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

/* The links dump, veths with a peer elsewhere into ctx. 0 or -errno. */
static int dump_links(struct netdisc *nd, struct scan_ctx *ctx)
{
	char req[256] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int err = -EINTR;

	for (int i = 0; i < ND_DUMP_TRIES && err == -EINTR; i++) {
		ctx->n = 0;
		ctx->err = 0;
		nlh = mnl_nlmsg_put_header(req);
		nlh->nlmsg_type = RTM_GETLINK;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
		put_ext_mask(nlh);
		err = nd_talk(nd, nlh, scan_cb, ctx);
		if (!err)
			err = ctx->err;
	}
	return err;
}

int nd_scan(struct netdisc *nd, struct nd_veth **out, size_t *n)
{
	struct scan_ctx ctx = { 0 };
	int err;

	*out = NULL;
	*n = 0;
	err = dump_links(nd, &ctx);
	if (err) {
		log_error("endpoint discovery: listing links: %s", strerror(-err));
		goto fail;
	}
	for (size_t i = 0; i < ctx.n; i++) {
		err = fill_peer(nd, &ctx.v[i]);
		if (err) {
			log_error("endpoint discovery: %s: reading its peer: %s", ctx.v[i].name,
				  strerror(-err));
			goto fail;
		}
	}
	if (ctx.n)
		qsort(ctx.v, ctx.n, sizeof(ctx.v[0]), cmp_veth);

	/* What the events are read against from now on. */
	nd->n_known = 0;
	for (size_t i = 0; i < ctx.n; i++) {
		err = known_add(nd, ctx.v[i].ifindex);
		if (err)
			goto fail;
	}
	*out = ctx.v;
	*n = ctx.n;
	return 0;
fail:
	free(ctx.v);
	return err;
}

int nd_query(struct netdisc *nd, uint32_t ifindex, struct nd_veth *out)
{
	struct link_info li;
	struct nd_veth v;
	int err;

	if (!ifindex)
		return -ENOENT;
	err = get_link(nd, ifindex, -1, &li);
	if (err)
		return err;
	if (!link_is_pod_veth(&li))
		return -ENOENT;
	veth_from_link(&v, &li);
	err = fill_peer(nd, &v);
	if (err)
		return err;
	*out = v;
	return 0;
}

/* ---- Events. */

struct ev_ctx {
	struct netdisc *nd;
	nd_link_fn fn;
	void *arg;
	int err;
};

/* Reports li (a pod veth) as added unless known. */
static void ev_added(struct ev_ctx *ctx, const struct link_info *li)
{
	if (known_has(ctx->nd, li->ifindex))
		return;
	if (known_add(ctx->nd, li->ifindex)) {
		ctx->err = -ENOMEM;
		return;
	}
	log_debug("endpoint discovery: %s (%u) added", li->name, li->ifindex);
	ctx->fn(ctx->arg, true, li->ifindex, li->name);
}

/* A veth end here moved to another namespace: its peer, if still here, has
 * just become a pod veth. The kernel says nothing of the peer itself (no
 * RTM_NEWLINK for it until it next changes), so it is asked. */
static void ev_moved(struct ev_ctx *ctx, const struct link_info *gone)
{
	struct link_info peer;

	if (!gone->is_veth || !gone->link || gone->has_nsid || known_has(ctx->nd, gone->link))
		return;
	if (get_link(ctx->nd, gone->link, -1, &peer) || !link_is_pod_veth(&peer))
		return;
	ev_added(ctx, &peer);
}

static int ev_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ev_ctx *ctx = data;
	struct netdisc *nd = ctx->nd;
	struct link_info li;

	if ((nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) ||
	    !parse_link(nlh, &li))
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_NEWLINK && link_is_pod_veth(&li)) {
		/* New, or made with its peer here and the peer since moved to
		 * a pod (the first message that names the peer's netns). */
		ev_added(ctx, &li);
		return MNL_CB_OK;
	}
	if (nlh->nlmsg_type == RTM_DELLINK && li.moved)
		ev_moved(ctx, &li);
	/* Removed (or moved away), or its peer came back to this namespace. */
	if (!known_has(nd, li.ifindex))
		return MNL_CB_OK;
	known_del(nd, li.ifindex);
	log_debug("endpoint discovery: %s (%u) removed", li.name, li.ifindex);
	ctx->fn(ctx->arg, false, li.ifindex, li.name);
	return MNL_CB_OK;
}

int nd_events_read(struct netdisc *nd, nd_link_fn fn, void *arg)
{
	struct ev_ctx ctx = { .nd = nd, .fn = fn, .arg = arg };
	ssize_t n;

	for (;;) {
		n = mnl_socket_recvfrom(nd->ev, nd->ev_buf, ND_BUF_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return ctx.err;
			if (errno == ENOBUFS) {
				log_debug("endpoint discovery: link events lost");
				return -ENOBUFS;
			}
			return -errno;
		}
		/* seq and portid 0: notifications, checked against nothing. */
		if (mnl_cb_run(nd->ev_buf, (size_t)n, 0, 0, ev_cb, &ctx) < 0 && errno != EINTR)
			log_debug("endpoint discovery: a link event: %s", strerror(errno));
		if (ctx.err)
			return ctx.err;
	}
}
