/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every map the datapath uses, defined once. Names, key/value layouts and
 * sizes come from include/npbpf/: the identifiers below are the names in
 * NPBPF_MAP_* (userspace pins and opens them by those strings).
 *
 * Pinning is left to the loader (bpf_map__set_pin_path), so tests can load a
 * private copy next to a running agent.
 */
#ifndef NPBPF_BPF_MAPS_H
#define NPBPF_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

/* Policy tables, written by the loader only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NPBPF_MAX_POLICY);
	__type(key, struct npbpf_policy_key);
	__type(value, struct npbpf_policy_value);
} npbpf_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NPBPF_MAX_RANGE);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__type(key, struct npbpf_range_key);
	__type(value, struct npbpf_policy_value);
} npbpf_range SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NPBPF_MAX_SUBJECT);
	__type(key, __u32); /* NPBPF_SUBJECT_KEY(identity, generation) */
	__type(value, struct npbpf_subject);
} npbpf_subject SEC(".maps");

/* ipcache: full-length addresses in a hash, ipBlock prefixes in a trie. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NPBPF_MAX_IPC_HOST);
	__type(key, struct npbpf_addr);
	__type(value, struct npbpf_ipc_value);
} npbpf_ipc_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NPBPF_MAX_IPC_CIDR);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct npbpf_ipc_key);
	__type(value, struct npbpf_ipc_value);
} npbpf_ipc_cidr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NPBPF_MAX_ENDPOINT);
	__type(key, __u32); /* host-side veth ifindex */
	__type(value, struct npbpf_endpoint);
} npbpf_endpoint SEC(".maps");

/* Written by npbpf-cni only (datapath.h says why): a pod wired and not
 * bound yet, keyed like npbpf_endpoint; this node's pod segments and their
 * gateways, keyed like npbpf_ipc_cidr. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NPBPF_MAX_PENDING);
	__type(key, __u32); /* host-side veth ifindex */
	__type(value, struct npbpf_endpoint);
} npbpf_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NPBPF_MAX_SEGMENT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct npbpf_ipc_key);
	__type(value, struct npbpf_ipc_value);
} npbpf_segment SEC(".maps");

/* State the datapath writes. Conntrack: one LRU per endpoint, created by the
 * loader next to the endpoint record (conntrack.h says why). */
struct npbpf_ct_inner {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NPBPF_CT_PER_ENDPOINT);
	/* Sizes, not __type(): the libbpf 1.1 in bookworm cannot size an inner
	 * map's key from BTF. */
	__uint(key_size, sizeof(struct npbpf_ct_key));
	__uint(value_size, sizeof(struct npbpf_ct_value));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, NPBPF_MAX_ENDPOINT);
	__type(key, __u32); /* host-side veth ifindex */
	__array(values, struct npbpf_ct_inner);
} npbpf_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NPBPF_MAX_FRAG);
	__type(key, struct npbpf_frag_key);
	__type(value, struct npbpf_frag_value);
} npbpf_frag SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, NPBPF_MAX_COUNTERS);
	__type(key, struct npbpf_counter_key);
	__type(value, struct npbpf_counter);
} npbpf_counters SEC(".maps");

/* The fixed-reason counters (datapath.h, NPBPF_FIXCNT_INDEX): an array
 * lookup the verifier inlines, no hashing. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NPBPF_MAX_FIXCNT);
	__type(key, __u32);
	__type(value, struct npbpf_counter);
} npbpf_fixcnt SEC(".maps");

/* Per-endpoint counters (datapath.h, events.h): the direct-mapped array
 * every packet of most endpoints touches, an inlined lookup; the hash for
 * the few whose slot a live endpoint holds on that CPU, an LRU because
 * nothing deletes the counters of a veth that went away. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NPBPF_EPCNT_SLOTS);
	__type(key, __u32);
	__type(value, struct npbpf_ep_slot);
} npbpf_epcnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, NPBPF_MAX_EPCNT_OV);
	__type(key, __u32); /* host-side veth ifindex */
	__type(value, struct npbpf_ep_counters);
} npbpf_epcnt_ov SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NPBPF_EVENTS_BYTES);
} npbpf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct npbpf_config);
} npbpf_config SEC(".maps");

/* Drop-event token bucket, one per CPU (events.h). Private to the datapath. */
struct npbpf_ratelimit {
	__u64 credit_ns; /* tokens scaled by 1e9: one event costs NSEC_PER_SEC */
	__u64 last_ns;
	__u64 last_jiffies; /* when last_ns was last looked at (events.h) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct npbpf_ratelimit);
} npbpf_ratelim SEC(".maps");

/* Recent denials, a region of NPBPF_DENY_SLOTS slots per CPU (denycache.h;
 * the slot layout is in datapath.h for the tests). A plain array, not a
 * per-CPU one: a per-CPU lookup reads the slot's pointer first, a second
 * dependent memory access per packet; and mmapable, which puts the slots
 * on a page boundary. The loader sizes it (npbpf_deny_entries()); a CPU
 * beyond its size caches nothing. Private to the datapath and not pinned:
 * a new object starts with an empty cache. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NPBPF_DENY_SLOTS);
	__type(key, __u32);
	__type(value, struct npbpf_deny_slot);
} npbpf_deny SEC(".maps");

/* Conntrack epochs (struct npbpf_ctepoch, datapath.h; denycache.h says
 * why). Shared by all CPUs: the epoch written once per new allowed flow,
 * denied once per cached denial, both read per probed packet. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NPBPF_CT_EPOCHS);
	__type(key, __u32);
	__type(value, struct npbpf_ctepoch);
} npbpf_ctepoch SEC(".maps");

/* The secret of the XDP-to-TC mark (xdpmark.h), drawn by the first XDP
 * packet. Never leaves the kernel: not pinned, no program exports it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} npbpf_markkey SEC(".maps");

#endif /* NPBPF_BPF_MAPS_H */
