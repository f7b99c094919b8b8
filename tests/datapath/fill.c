/* SPDX-License-Identifier: Apache-2.0 */
#include "fill.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <npbpf/datapath.h>
#include <unistd.h>

#include "loader.h"

static int put(const struct bpf_map *map, const void *key, const void *value)
{
	int err = bpf_map__update_elem(map, key, bpf_map__key_size(map), value,
				       bpf_map__value_size(map), BPF_ANY);

	return err < 0 ? err : 0;
}

int fill_policy(struct npbpf_bpf *skel, const struct compiled *cp, int gen)
{
	int err = 0;

	for (size_t i = 0; !err && i < cp->n_entries; i++) {
		struct npbpf_policy_key k = cp->entries[i].key;

		k.subject = NPBPF_SUBJECT_KEY(k.subject, gen);
		err = put(skel->maps.npbpf_policy, &k, &cp->entries[i].value);
	}
	for (size_t i = 0; !err && i < cp->n_ranges; i++) {
		struct npbpf_range_key k = cp->ranges[i].key;

		k.subject = NPBPF_SUBJECT_KEY(k.subject, gen);
		err = put(skel->maps.npbpf_range, &k, &cp->ranges[i].value);
	}
	for (size_t i = 0; !err && i < cp->n_subjects; i++) {
		__u32 k = NPBPF_SUBJECT_KEY(cp->subjects[i].id, gen);

		err = put(skel->maps.npbpf_subject, &k, &cp->subjects[i].s);
	}
	return err;
}

int fill_ipcache(struct npbpf_bpf *skel, const struct compiled *cp)
{
	int err = fill_clear(skel->maps.npbpf_ipc_host);

	if (!err)
		err = fill_clear(skel->maps.npbpf_ipc_cidr);
	for (size_t i = 0; !err && i < cp->n_ipcache; i++) {
		const struct np_addr *p = &cp->ipcache[i].prefix;
		struct npbpf_ipc_value v = { .identity = cp->ipcache[i].id };
		struct npbpf_ipc_key k;

		if (cp->ipcache[i].host) /* as map sync marks this node's addresses */
			v.flags |= NPBPF_IPC_ON_LINK | NPBPF_IPC_NODE;

		memset(&k, 0, sizeof(k));
		k.a.family = p->family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
		memcpy(k.a.addr, p->bytes, p->family == 4 ? 4 : 16);
		if (p->plen == (p->family == 4 ? 32 : 128)) {
			err = put(skel->maps.npbpf_ipc_host, &k.a, &v);
		} else {
			k.prefixlen = 32u + p->plen;
			err = put(skel->maps.npbpf_ipc_cidr, &k, &v);
		}
	}
	return err;
}

int fill_endpoints(struct npbpf_bpf *skel, const struct compiled *cp,
		   const struct fill_binding *b, size_t n)
{
	int err = fill_clear(skel->maps.npbpf_endpoint);

	for (size_t i = 0; !err && i < n; i++) {
		const struct compiled_endpoint *ce = NULL;
		struct npbpf_endpoint ep;

		for (size_t j = 0; j < cp->n_endpoints; j++) {
			if (cp->endpoints[j].pod == b[i].pod)
				ce = &cp->endpoints[j];
		}
		if (!ce)
			return -ENOENT;
		memset(&ep, 0, sizeof(ep));
		ep.identity = ce->id;
		for (size_t a = 0; a < b[i].pod->n_addrs; a++) {
			const struct np_addr *ad = &b[i].pod->addrs[a];

			if (ad->family == 4 && !(ep.flags & NPBPF_EP_HAS_V4)) {
				memcpy(ep.addr4, ad->bytes, 4);
				ep.flags |= NPBPF_EP_HAS_V4;
			} else if (ad->family == 6 && !(ep.flags & NPBPF_EP_HAS_V6)) {
				memcpy(ep.addr6, ad->bytes, 16);
				ep.flags |= NPBPF_EP_HAS_V6;
			}
		}
		/* As map sync does: the pod's addresses are on this node. */
		for (int f = 0; !err && f < 2; f++) {
			struct npbpf_ipc_value iv;
			struct npbpf_addr k;

			if (!(ep.flags & (f ? NPBPF_EP_HAS_V6 : NPBPF_EP_HAS_V4)))
				continue;
			memset(&k, 0, sizeof(k));
			k.family = f ? NPBPF_FAMILY_V6 : NPBPF_FAMILY_V4;
			memcpy(k.addr, f ? ep.addr6 : ep.addr4, f ? 16 : 4);
			if (bpf_map__lookup_elem(skel->maps.npbpf_ipc_host, &k, sizeof(k), &iv,
						 sizeof(iv), 0))
				continue;
			iv.flags |= NPBPF_IPC_ON_LINK;
			err = put(skel->maps.npbpf_ipc_host, &k, &iv);
		}
		if (!err)
			err = ct_map_ensure(bpf_map__fd(skel->maps.npbpf_ct), b[i].ifindex);
		if (!err)
			err = put(skel->maps.npbpf_endpoint, &b[i].ifindex, &ep);
	}
	return err;
}

/* A new fd of the conntrack map of ifindex, or -errno. */
static int ct_inner_fd(struct npbpf_bpf *skel, uint32_t ifindex)
{
	return ct_map_fd(bpf_map__fd(skel->maps.npbpf_ct), ifindex);
}

int fill_ct_lookup(struct npbpf_bpf *skel, uint32_t ifindex, const struct npbpf_ct_key *k,
		   struct npbpf_ct_value *v)
{
	int fd = ct_inner_fd(skel, ifindex), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, k, v))
		err = -errno;
	close(fd);
	return err;
}

int fill_ct_update(struct npbpf_bpf *skel, uint32_t ifindex, const struct npbpf_ct_key *k,
		   const struct npbpf_ct_value *v)
{
	int fd = ct_inner_fd(skel, ifindex), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_update_elem(fd, k, v, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

int fill_ct_find(struct npbpf_bpf *skel, const struct npbpf_ct_key *k, struct npbpf_ct_value *v,
		 uint32_t *ifindex)
{
	int outer = bpf_map__fd(skel->maps.npbpf_ct);
	__u32 key, next;
	bool first = true;

	while (!bpf_map_get_next_key(outer, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (!fill_ct_lookup(skel, key, k, v)) {
			*ifindex = key;
			return 0;
		}
	}
	return -ENOENT;
}

int fill_ct_clear(struct npbpf_bpf *skel)
{
	int outer = bpf_map__fd(skel->maps.npbpf_ct), err = 0;
	__u32 key, next;
	bool first = true;

	while (!err && !bpf_map_get_next_key(outer, first ? NULL : &key, &next)) {
		int fd;

		first = false;
		key = next;
		fd = ct_inner_fd(skel, key);
		if (fd < 0)
			return fd;
		for (;;) {
			struct npbpf_ct_key k;

			if (bpf_map_get_next_key(fd, NULL, &k))
				break;
			if (bpf_map_delete_elem(fd, &k)) {
				err = -errno;
				break;
			}
		}
		close(fd);
	}
	return err;
}

int fill_config(struct npbpf_bpf *skel, uint32_t revision, uint32_t generation, uint32_t flags,
		uint32_t events_per_sec)
{
	struct npbpf_config c = {
		.revision = revision,
		.generation = generation,
		.flags = flags,
		.events_per_sec = events_per_sec,
	};
	__u32 zero = 0;

	return put(skel->maps.npbpf_config, &zero, &c);
}

int fill_clear(const struct bpf_map *map)
{
	size_t ks = bpf_map__key_size(map);
	unsigned char *key = calloc(1, ks), *next = calloc(1, ks);
	int err = 0;

	if (!key || !next) {
		err = -ENOMEM;
		goto out;
	}
	/* Always restart from the first key: deleting under a cursor is not
	 * guaranteed to keep the iteration's place. */
	while (bpf_map__get_next_key(map, NULL, next, ks) == 0) {
		memcpy(key, next, ks);
		err = bpf_map__delete_elem(map, key, ks, 0);
		if (err < 0)
			goto out;
	}
	err = 0;
out:
	free(key);
	free(next);
	return err;
}

int fill_zero_array(const struct bpf_map *map)
{
	size_t vs = (size_t)bpf_map__value_size(map), n = vs;
	__u32 max = bpf_map__max_entries(map);
	unsigned char *zero;
	int err = 0;

	if (bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_ARRAY) {
		int ncpu = libbpf_num_possible_cpus();

		if (ncpu <= 0)
			return ncpu ? ncpu : -EINVAL;
		/* Per-CPU values are rounded up to 8 bytes each. */
		n = ((vs + 7) / 8 * 8) * (size_t)ncpu;
	}
	zero = calloc(1, n);
	if (!zero)
		return -ENOMEM;
	for (__u32 i = 0; !err && i < max; i++)
		err = bpf_map__update_elem(map, &i, sizeof(i), zero, n, BPF_ANY);
	free(zero);
	return err < 0 ? err : 0;
}

int fill_all(struct npbpf_bpf *skel, const struct compiled *cp, const struct fill_binding *b,
	     size_t n, uint32_t rev)
{
	const struct bpf_map *clear[] = {
		skel->maps.npbpf_policy, skel->maps.npbpf_range,   skel->maps.npbpf_subject,
		skel->maps.npbpf_frag,   skel->maps.npbpf_counters,
	};
	int err = fill_ct_clear(skel);

	for (size_t i = 0; !err && i < sizeof(clear) / sizeof(clear[0]); i++)
		err = fill_clear(clear[i]);
	if (!err)
		err = fill_zero_array(skel->maps.npbpf_fixcnt);
	if (!err)
		err = fill_policy(skel, cp, 0);
	if (!err)
		err = fill_ipcache(skel, cp);
	if (!err)
		err = fill_endpoints(skel, cp, b, n);
	if (!err)
		err = fill_config(skel, rev, 0, 0, 0);
	return err;
}
