// SPDX-License-Identifier: Apache-2.0
/* The segment and pending maps of npbpf-cni (window.h says what they do). */
#include "window.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <npbpf/tables.h>

#include "loader.h"
#include "pinned.h"

int window_ip_parse(const char *address, const char *gateway, struct window_ip *out)
{
	char a[INET6_ADDRSTRLEN + 8], *slash, *end;
	long plen;

	memset(out, 0, sizeof(*out));
	if (!address || strlen(address) >= sizeof(a))
		return -EINVAL;
	strcpy(a, address);
	slash = strchr(a, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, a, out->addr) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, a, out->addr) == 1)
		out->family = 6;
	else
		return -EINVAL;
	out->plen = out->family == 4 ? 32 : 128;
	if (slash) {
		errno = 0;
		plen = strtol(slash + 1, &end, 10);
		if (errno || *end || end == slash + 1 || plen < 0 || plen > out->plen)
			return -EINVAL;
		out->plen = (int)plen;
	}
	if (gateway && gateway[0])
		out->has_gw = inet_pton(out->family == 4 ? AF_INET : AF_INET6, gateway, out->gw) == 1;
	return 0;
}

static void ipc_key_of(struct npbpf_ipc_key *k, uint8_t family, const uint8_t *addr, int plen)
{
	int bytes = family == 4 ? 4 : 16;

	memset(k, 0, sizeof(*k));
	k->prefixlen = 32 + (uint32_t)plen;
	k->a.family = family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
	memcpy(k->a.addr, addr, (size_t)bytes);
	/* Host bits cleared: the trie compares them otherwise. */
	for (int bit = plen; bit < bytes * 8; bit++)
		k->a.addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
}

int window_segments_put(const char *pin_dir, const struct window_ip *ips, size_t n)
{
	int fd = pinned_get(pin_dir, NPBPF_MAP_SEGMENT), err = 0;

	if (fd < 0)
		return fd;
	for (size_t i = 0; !err && i < n; i++) {
		const struct window_ip *ip = &ips[i];
		int full = ip->family == 4 ? 32 : 128;
		struct npbpf_ipc_value seg = { .identity = NPBPF_ID_UNKNOWN_POD },
				       gw = { .identity = NPBPF_ID_HOST,
					      .flags = NPBPF_IPC_NODE | NPBPF_IPC_ON_LINK };
		struct npbpf_ipc_key k;

		/* A full-length "segment" (a routed /32) is the pod alone:
		 * nothing to learn, and one entry more per pod. */
		if (ip->plen > 0 && ip->plen < full) {
			ipc_key_of(&k, ip->family, ip->addr, ip->plen);
			if (bpf_map_update_elem(fd, &k, &seg, BPF_ANY))
				err = -errno;
		}
		if (!err && ip->has_gw) {
			ipc_key_of(&k, ip->family, ip->gw, full);
			if (bpf_map_update_elem(fd, &k, &gw, BPF_ANY))
				err = -errno;
		}
	}
	close(fd);
	return err;
}

static int unenforced(const char *pin_dir, const struct window_ip *ips, size_t n, bool put)
{
	int fd = pinned_get(pin_dir, NPBPF_MAP_SEGMENT), err = 0;
	struct npbpf_ipc_value world = { .identity = NPBPF_ID_WORLD };

	if (fd < 0)
		return fd == -ENOENT && !put ? 0 : fd;
	for (size_t i = 0; !err && i < n; i++) {
		struct npbpf_ipc_key k;

		ipc_key_of(&k, ips[i].family, ips[i].addr, ips[i].family == 4 ? 32 : 128);
		if (put ? bpf_map_update_elem(fd, &k, &world, BPF_ANY)
			: (bpf_map_delete_elem(fd, &k) && errno != ENOENT))
			err = -errno;
	}
	close(fd);
	return err;
}

int window_unenforced_put(const char *pin_dir, const struct window_ip *ips, size_t n)
{
	return unenforced(pin_dir, ips, n, true);
}

int window_unenforced_del(const char *pin_dir, const struct window_ip *ips, size_t n)
{
	return unenforced(pin_dir, ips, n, false);
}

/* The pending pod's own addresses in npbpf_segment (NPBPF_IPC_PENDING): still
 * unknown pods to the other pods, reachable by the node through the bridge
 * hook (bpf/lib/bridge.h). */
static int pending_addrs(const char *pin_dir, const struct npbpf_endpoint *ep, bool put)
{
	struct npbpf_ipc_value v = { .identity = NPBPF_ID_UNKNOWN_POD, .flags = NPBPF_IPC_PENDING };
	int fd = pinned_get(pin_dir, NPBPF_MAP_SEGMENT), err = 0;
	struct npbpf_ipc_key k;

	if (fd < 0)
		return fd;
	for (int f = 0; !err && f < 2; f++) {
		if (!(ep->flags & (f ? NPBPF_EP_HAS_V6 : NPBPF_EP_HAS_V4)))
			continue;
		ipc_key_of(&k, f ? 6 : 4, f ? ep->addr6 : ep->addr4, f ? 128 : 32);
		if (put ? bpf_map_update_elem(fd, &k, &v, BPF_ANY)
			: (bpf_map_delete_elem(fd, &k) && errno != ENOENT))
			err = -errno;
	}
	close(fd);
	return err;
}

int window_pending_put(const char *pin_dir, uint32_t ifindex, const struct npbpf_endpoint *ep)
{
	int pend = pinned_get(pin_dir, NPBPF_MAP_PENDING), ct, err = 0;

	if (pend < 0)
		return pend;
	ct = pinned_get(pin_dir, NPBPF_MAP_CT);
	if (ct < 0) {
		close(pend);
		return ct;
	}
	/* The conntrack map first: the record without it drops even the
	 * node (pending_decide() needs somewhere to track its probes). */
	err = ct_map_ensure(ct, ifindex);
	if (err >= 0)
		err = pending_addrs(pin_dir, ep, true);
	if (!err && bpf_map_update_elem(pend, &ifindex, ep, BPF_ANY))
		err = -errno;
	close(ct);
	close(pend);
	return err;
}

int window_pending_del(const char *pin_dir, uint32_t ifindex)
{
	int pend = pinned_get(pin_dir, NPBPF_MAP_PENDING), epm, ct, err = 0;
	struct npbpf_endpoint ep;
	bool bound = false;

	if (pend < 0)
		return pend == -ENOENT ? 0 : pend;
	if (bpf_map_lookup_elem(pend, &ifindex, &ep) || bpf_map_delete_elem(pend, &ifindex)) {
		err = errno == ENOENT ? 0 : -errno;
		close(pend);
		return err;
	}
	close(pend);
	/* Not this pod's any more: an address another pod may get next. */
	err = pending_addrs(pin_dir, &ep, false);
	if (err)
		return err;
	epm = pinned_get(pin_dir, NPBPF_MAP_ENDPOINT);
	if (epm >= 0) {
		bound = !bpf_map_lookup_elem(epm, &ifindex, &ep);
		close(epm);
	}
	ct = bound ? -1 : pinned_get(pin_dir, NPBPF_MAP_CT);
	if (ct >= 0) {
		err = ct_map_remove(ct, ifindex);
		close(ct);
	}
	return err == -ENOENT ? 0 : err;
}

int window_pending_gc(const char *pin_dir)
{
	int pend = pinned_get(pin_dir, NPBPF_MAP_PENDING), removed = 0;
	uint32_t key, next, gone[64];
	char name[IF_NAMESIZE];
	size_t n = 0;
	void *prev = NULL;

	if (pend < 0)
		return pend == -ENOENT ? 0 : pend;
	/* Collected first: deleting while walking restarts the walk. */
	while (n < sizeof(gone) / sizeof(gone[0]) && !bpf_map_get_next_key(pend, prev, &next)) {
		key = next;
		prev = &key;
		if (!if_indextoname(key, name))
			gone[n++] = key;
	}
	close(pend);
	for (size_t i = 0; i < n; i++) {
		if (!window_pending_del(pin_dir, gone[i]))
			removed++;
	}
	return removed;
}

int window_bridge_attach(const char *pin_dir, uint32_t ifindex)
{
	int fd = pinned_get(pin_dir, pin_prog_names[PIN_PROG_BRIDGE]), err;

	if (fd < 0)
		return fd;
	err = loader_tc_attach_fds(ifindex, -1, fd, NULL);
	close(fd);
	return err;
}
