/* SPDX-License-Identifier: Apache-2.0 */
#include "cni_nl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int nl_open(const char *netns_path)
{
	int self = -1, ns = -1, sock, err = 0;

	if (netns_path) {
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		ns = open(netns_path, O_RDONLY | O_CLOEXEC);
		if (self < 0 || ns < 0) {
			err = -errno;
			goto out;
		}
		if (setns(ns, CLONE_NEWNET)) {
			err = -errno;
			goto out;
		}
	}
	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sock < 0)
		err = -errno;
	if (netns_path && setns(self, CLONE_NEWNET)) {
		/* Stuck in the pod's namespace: nothing after this is safe. */
		perror("npbpf-cni: returning to the node's network namespace");
		_exit(1);
	}
	if (!err)
		err = sock;
out:
	if (self >= 0)
		close(self);
	if (ns >= 0)
		close(ns);
	return err;
}

static void put_attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends h, receives the one answer into buf. Returns the answer's length,
 * or -errno (an NLMSG_ERROR's error included). */
static int roundtrip(int sock, struct nlmsghdr *h, char *buf, size_t len)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	static uint32_t seq;
	ssize_t n;

	h->nlmsg_seq = ++seq;
	if (sendto(sock, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		struct nlmsghdr *r = (struct nlmsghdr *)buf;

		n = recv(sock, buf, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!NLMSG_OK(r, (size_t)n))
			return -EBADMSG;
		if (r->nlmsg_seq != h->nlmsg_seq)
			continue;
		if (r->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(r);

			return e->error ? e->error : -ENOMSG;
		}
		return (int)n;
	}
}

static void parse_linkinfo(struct rtattr *info, struct nl_link *out)
{
	int len = RTA_PAYLOAD(info);

	for (struct rtattr *a = RTA_DATA(info); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_INFO_KIND) {
			size_t n = RTA_PAYLOAD(a);

			if (n >= sizeof(out->kind))
				n = sizeof(out->kind) - 1;
			memcpy(out->kind, RTA_DATA(a), n);
			out->kind[n] = '\0';
			out->kind[strcspn(out->kind, "\0")] = '\0';
		}
	}
}

int nl_get_link(int sock, const char *name, int ifindex, struct nl_link *out)
{
	union {
		struct nlmsghdr h;
		char b[256];
	} req;
	char buf[16384];
	struct ifinfomsg *ifi;
	struct nlmsghdr *r;
	int n, len;

	memset(&req, 0, sizeof(req));
	memset(out, 0, sizeof(*out));
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	req.h.nlmsg_type = RTM_GETLINK;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	ifi = NLMSG_DATA(&req.h);
	ifi->ifi_family = AF_UNSPEC;
	if (name) {
		if (strlen(name) >= IF_NAMESIZE || !name[0])
			return -ENODEV;
		put_attr(&req.h, IFLA_IFNAME, name, strlen(name) + 1);
	} else {
		ifi->ifi_index = ifindex;
	}
	n = roundtrip(sock, &req.h, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ENODEV : n;
	r = (struct nlmsghdr *)buf;
	if (r->nlmsg_type != RTM_NEWLINK)
		return -EBADMSG;
	ifi = NLMSG_DATA(r);
	out->ifindex = ifi->ifi_index;
	len = (int)r->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case IFLA_IFNAME:
			snprintf(out->name, sizeof(out->name), "%.*s", (int)RTA_PAYLOAD(a),
				 (const char *)RTA_DATA(a));
			break;
		case IFLA_LINK:
			if (RTA_PAYLOAD(a) >= 4) {
				memcpy(&out->link, RTA_DATA(a), 4);
				out->has_link = true;
			}
			break;
		case IFLA_LINK_NETNSID:
			if (RTA_PAYLOAD(a) >= 4) {
				memcpy(&out->link_nsid, RTA_DATA(a), 4);
				out->has_link_nsid = true;
			}
			break;
		case IFLA_ADDRESS:
			if (RTA_PAYLOAD(a) == 6) {
				memcpy(out->mac, RTA_DATA(a), 6);
				out->has_mac = true;
			}
			break;
		case IFLA_LINKINFO:
			parse_linkinfo(a, out);
			break;
		}
	}
	return 0;
}

int nl_get_nsid(int sock, const char *netns_path)
{
	union {
		struct nlmsghdr h;
		char b[128];
	} req;
	char buf[1024];
	struct rtgenmsg *g;
	struct nlmsghdr *r;
	int n, len, fd, nsid = -1;

	fd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtgenmsg));
	req.h.nlmsg_type = RTM_GETNSID;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	g = NLMSG_DATA(&req.h);
	g->rtgen_family = AF_UNSPEC;
	put_attr(&req.h, NETNSA_FD, &fd, sizeof(fd));
	n = roundtrip(sock, &req.h, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return n;
	r = (struct nlmsghdr *)buf;
	len = (int)r->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct rtgenmsg)));
	for (struct rtattr *a = (struct rtattr *)((char *)NLMSG_DATA(r) +
						  NLMSG_ALIGN(sizeof(struct rtgenmsg)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == NETNSA_NSID && RTA_PAYLOAD(a) >= 4)
			memcpy(&nsid, RTA_DATA(a), 4);
	}
	return nsid < 0 ? -1 : nsid;
}
