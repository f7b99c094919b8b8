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
#include "mapsync.h"

/*
 * The maps a sync writes, by enum pin_map: the skeleton's, and the
 * userspace-only ones (names, meta) a loader would create. Those are made
 * once per skeleton and stay for the life of the process: the names they
 * hold keep numbers stable from one sync to the next, as the pinned ones
 * do. No grace-period wait: while a test syncs, no packet is in flight.
 */
static struct ms_maps sync_maps;
static const struct npbpf_bpf *sync_skel;

static int maps_of(struct npbpf_bpf *skel, struct ms_maps **out)
{
	if (sync_skel == skel) {
		*out = &sync_maps;
		return 0;
	}
	for (int m = 0; m < PIN_N; m++) {
		const struct pin_spec *sp = &pin_specs[m];
		LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = sp->flags);
		const struct bpf_map *map;

		if (m < PIN_N_DATAPATH) {
			map = bpf_object__find_map_by_name(skel->obj, sp->name);
			if (!map)
				return -ENOENT;
			sync_maps.fds[m] = bpf_map__fd(map);
			continue;
		}
		if (sync_skel)
			close(sync_maps.fds[m]);
		sync_maps.fds[m] = bpf_map_create((enum bpf_map_type)sp->type, sp->name,
						  sp->key_size, sp->value_size, sp->max_entries, &o);
		if (sync_maps.fds[m] < 0) {
			sync_skel = NULL;
			return -errno;
		}
	}
	sync_skel = skel;
	*out = &sync_maps;
	return 0;
}

int fill_sync(struct npbpf_bpf *skel, const struct compiled *cp, const struct fill_binding *b,
	      size_t n)
{
	struct endpoint_binding *eps = calloc(n ? n : 1, sizeof(*eps));
	struct ms_maps *mm;
	int err = eps ? maps_of(skel, &mm) : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++) {
		eps[i].ns = b[i].pod->ns;
		eps[i].name = b[i].pod->name;
		eps[i].ifindex = b[i].ifindex;
	}
	if (!err)
		err = mapsync_apply_maps(mm, cp, eps, n, NULL);
	free(eps);
	return err;
}

int fill_compile(struct npbpf_bpf *skel, const struct np_cluster *c, struct compiled *cp)
{
	struct numbering_prior prior;
	struct compile_opts opts = { .prior = &prior };
	struct ms_state cur;
	struct ms_maps *mm;
	int err;

	numbering_prior_init(&prior);
	ms_state_init(&cur);
	err = maps_of(skel, &mm);
	if (!err)
		err = mapsync_read_fds(mm->fds, &cur);
	if (!err)
		err = mapsync_numbering_from_state(&cur, &prior);
	if (!err)
		err = compile_cluster(c, &opts, cp);
	ms_state_free(&cur);
	numbering_prior_free(&prior);
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
	int err = bpf_map__update_elem(skel->maps.npbpf_config, &zero, sizeof(zero), &c, sizeof(c),
				       BPF_ANY);

	return err < 0 ? err : 0;
}

/* Deletes every entry of the hash or LPM map fd with keys of ks bytes. */
static int clear_fd(int fd, size_t ks)
{
	unsigned char *key = calloc(1, ks), *next = calloc(1, ks);
	int err = 0;

	if (!key || !next) {
		err = -ENOMEM;
		goto out;
	}
	/* Always restart from the first key: deleting under a cursor is not
	 * guaranteed to keep the iteration's place. */
	while (bpf_map_get_next_key(fd, NULL, next) == 0) {
		memcpy(key, next, ks);
		if (bpf_map_delete_elem(fd, key)) {
			err = -errno;
			goto out;
		}
	}
out:
	free(key);
	free(next);
	return err;
}

int fill_clear(const struct bpf_map *map)
{
	return clear_fd(bpf_map__fd(map), bpf_map__key_size(map));
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
	static const enum pin_map synced[] = {
		PIN_POLICY, PIN_RANGE,   PIN_SUBJECT, PIN_IPC_HOST, PIN_IPC_CIDR,
		PIN_ENDPOINT, PIN_IDMETA, PIN_POLNAME, PIN_EPMETA,
	};
	struct npbpf_meta meta;
	struct ms_maps *mm;
	__u32 zero = 0;
	int err = maps_of(skel, &mm);

	if (!err)
		err = fill_ct_clear(skel);
	if (!err)
		err = fill_clear(skel->maps.npbpf_frag);
	if (!err)
		err = fill_clear(skel->maps.npbpf_counters);
	if (!err)
		err = fill_zero_array(skel->maps.npbpf_fixcnt);
	for (size_t i = 0; !err && i < sizeof(synced) / sizeof(synced[0]); i++)
		err = clear_fd(mm->fds[synced[i]], pin_specs[synced[i]].key_size);
	memset(&meta, 0, sizeof(meta));
	if (!err && bpf_map_update_elem(mm->fds[PIN_META], &zero, &meta, BPF_ANY))
		err = -errno;
	if (!err)
		err = fill_sync(skel, cp, b, n);
	if (!err)
		err = fill_config(skel, rev, 0, 0, 0);
	return err;
}
