/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pinned state: every npbpf map (and program) is a file in one bpffs
 * directory, by its name from include/npbpf/datapath.h. This module knows the
 * list of maps, where they live and how to check that a pinned map has the
 * layout this build expects. The loader creates and adopts them; `npbpf
 * status` opens them read-only (pinned_set_open) while an agent runs or after
 * it exited.
 */
#ifndef NPBPF_PINNED_H
#define NPBPF_PINNED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PINNED_DEFAULT_DIR "/sys/fs/bpf/npbpf"
#define PINNED_BPFFS_ROOT "/sys/fs/bpf"

/* Every pinned map. The first PIN_N_DATAPATH are in the BPF object; the rest
 * are userspace-only (created by the loader with bpf_map_create). */
enum pin_map {
	PIN_POLICY,
	PIN_RANGE,
	PIN_SUBJECT,
	PIN_IPC_HOST,
	PIN_IPC_CIDR,
	PIN_ENDPOINT,
	PIN_CT,
	PIN_FRAG,
	PIN_COUNTERS,
	PIN_FIXCNT,
	PIN_EVENTS,
	PIN_CONFIG,
	PIN_PENDING, /* npbpf-cni's, not the map sync's */
	PIN_SEGMENT, /* npbpf-cni's, not the map sync's */
	PIN_EPCNT,    /* per-endpoint counters, written by the datapath only */
	PIN_EPCNT_OV, /* and their overflow */
	PIN_N_DATAPATH,
	PIN_META = PIN_N_DATAPATH,
	PIN_IDMETA,
	PIN_POLNAME,
	PIN_EPMETA,
	PIN_N,
};

/* What a pinned map must look like. Datapath maps: type, sizes and limit as
 * include/npbpf/datapath.h documents them (the BPF object's own definition,
 * flags included, decides how they are created); userspace-only maps: how
 * the loader creates them. */
struct pin_spec {
	const char *name;
	uint32_t type; /* enum bpf_map_type */
	uint32_t key_size, value_size, max_entries, flags;
};

extern const struct pin_spec pin_specs[PIN_N];

/* Programs of the BPF object, pinned by their names. */
enum pin_prog {
	PIN_PROG_FROM_POD, /* tc, host veth ingress: what the pod sends */
	PIN_PROG_TO_POD,   /* tc, host veth egress: what the pod receives */
	PIN_PROG_XDP,      /* xdp: what the pod sends, earlier */
	PIN_PROG_BRIDGE,   /* tc, the pods' bridge egress: what the node sends in */
	PIN_N_PROGS,
};

extern const char *const pin_prog_names[PIN_N_PROGS];

/* "DIR/NAME" into buf. Returns 0 or -ENAMETOOLONG. */
int pinned_path(const char *dir, const char *name, char *buf, size_t len);

/* The pinned object DIR/NAME (map or program), opened: fd or -errno. */
int pinned_get(const char *dir, const char *name);

/* true when path is on a bpf filesystem. */
bool pinned_on_bpffs(const char *path);

/*
 * Makes dir usable for pinning: mounts bpffs on /sys/fs/bpf when dir lies
 * under it and it is not mounted yet, then creates dir (mode 0700) and its
 * missing parents. Returns 0 or -errno (logged).
 */
int pinned_prepare_dir(const char *dir);

/* Checks an open map against spec: type, key and value sizes, max_entries
 * (flags are the BPF object's business). Returns 0, or -EINVAL after filling
 * why (a sentence fragment) when it differs, or -errno. */
int pinned_check_map(int fd, const struct pin_spec *spec, char *why, size_t len);

/* Removes every pinned file in dir and dir itself. Missing dir: 0. Returns 0
 * or -errno (logged). Only for tests, `lab` teardown and --replace: unpinning
 * a live agent's maps does not stop enforcement (attached programs hold
 * them) but cuts the agent's successors off from the state. */
int pinned_remove_dir(const char *dir);

/* A read-only view of a pin directory, for status. fds are -1 where a map
 * is not pinned; prog_ids 0 where a program is not. */
struct pinned_set {
	char dir[4096];
	int fds[PIN_N];
	uint32_t prog_ids[PIN_N_PROGS];
};

/* Opens what is pinned in dir, checking each map's layout. Returns 0 (maps
 * open, some may be missing), -ENOENT when no npbpf map is pinned there
 * (dir missing, not bpffs, or empty), -EPERM/-EACCES without privileges,
 * -EINVAL when a map has another layout (logged). Nothing is logged for
 * -ENOENT and -EPERM: the caller words those for its user. */
int pinned_set_open(const char *dir, struct pinned_set *s);
void pinned_set_close(struct pinned_set *s);

#endif /* NPBPF_PINNED_H */
