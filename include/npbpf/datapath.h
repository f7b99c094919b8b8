/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Datapath state shared by the BPF programs and the loader/status code:
 * map names and limits, endpoints, conntrack, counters, events, config.
 * The policy tables themselves are in tables.h. Same rules as there: fixed
 * widths, explicit padding, zeroed keys, byte order on every field.
 */
#ifndef NPBPF_DATAPATH_H
#define NPBPF_DATAPATH_H

#include <linux/types.h>

#include "denymask.h"
#include "tables.h"

/* Map names (kernel limit 15 characters), defined once: the BPF side uses
 * them as identifiers, userspace as the pinned file names. */
#define NPBPF_MAP_POLICY "npbpf_policy"    /* HASH   npbpf_policy_key -> npbpf_policy_value */
#define NPBPF_MAP_RANGE "npbpf_range"      /* LPM    npbpf_range_key -> npbpf_policy_value */
#define NPBPF_MAP_SUBJECT "npbpf_subject"  /* HASH   __u32 identity -> npbpf_subject */
#define NPBPF_MAP_IPC_HOST "npbpf_ipc_host" /* HASH  npbpf_addr -> npbpf_ipc_value */
#define NPBPF_MAP_IPC_CIDR "npbpf_ipc_cidr" /* LPM   npbpf_ipc_key -> npbpf_ipc_value */
#define NPBPF_MAP_ENDPOINT "npbpf_endpoint" /* HASH  __u32 host-side ifindex -> npbpf_endpoint */
#define NPBPF_MAP_CT "npbpf_ct"             /* HASH_OF_MAPS __u32 host-side ifindex -> LRU
					     * npbpf_ct_key -> npbpf_ct_value, one per endpoint */
#define NPBPF_MAP_FRAG "npbpf_frag"         /* LRU   npbpf_frag_key -> npbpf_frag_value */
#define NPBPF_MAP_COUNTERS "npbpf_counters" /* PERCPU_HASH npbpf_counter_key -> npbpf_counter */
#define NPBPF_MAP_FIXCNT "npbpf_fixcnt"     /* PERCPU_ARRAY NPBPF_FIXCNT_INDEX -> npbpf_counter */
#define NPBPF_MAP_EVENTS "npbpf_events"     /* RINGBUF of npbpf_event */
#define NPBPF_MAP_CONFIG "npbpf_config"     /* ARRAY[1] npbpf_config */
/* Written by npbpf-cni, never by the map sync (the agent does not own them):
 * pods whose veth has the programs but whom the agent has not bound yet, and
 * this node's pod segments (see NPBPF_ID_UNKNOWN_POD). */
#define NPBPF_MAP_PENDING "npbpf_pending"   /* HASH  __u32 host-side ifindex -> npbpf_endpoint */
#define NPBPF_MAP_SEGMENT "npbpf_segment"   /* LPM   npbpf_ipc_key -> npbpf_ipc_value */
/* Packets and bytes per endpoint (the host-side ifindex the hook runs on),
 * so a flood can be put down to the pod that sends or receives it: a per-CPU
 * direct-mapped array (ifindex % NPBPF_EPCNT_SLOTS, each CPU's slot tagged
 * with the ifindex that owns it there), and an overflow hash for endpoints
 * whose slot another live endpoint owns on that CPU. */
#define NPBPF_MAP_EPCNT "npbpf_epcnt"       /* PERCPU_ARRAY slot -> npbpf_ep_slot */
#define NPBPF_MAP_EPCNT_OV "npbpf_epcnt_ov" /* LRU_PERCPU_HASH __u32 ifindex -> npbpf_ep_counters */

#define NPBPF_MAX_POLICY 262144
#define NPBPF_MAX_RANGE 65536
#define NPBPF_MAX_SUBJECT 65536
#define NPBPF_MAX_IPC_HOST 262144
#define NPBPF_MAX_IPC_CIDR 65536
#define NPBPF_MAX_ENDPOINT 4096
#define NPBPF_MAX_PENDING 4096
#define NPBPF_MAX_SEGMENT 256
/* Conntrack entries per endpoint. Each endpoint has an LRU map of its own
 * (npbpf_ct is a map of maps keyed by ifindex), so one pod opening flows as
 * fast as it can only evicts its own entries. Preallocated: about 2 MiB per
 * pod at this size. */
#define NPBPF_CT_PER_ENDPOINT 16384
#define NPBPF_CT_INNER_NAME "npbpf_ct_ep"
#define NPBPF_MAX_FRAG 8192
#define NPBPF_MAX_COUNTERS 65536
#define NPBPF_MAX_FIXCNT NPBPF_FIXCNT_SLOTS
#define NPBPF_EPCNT_SLOTS 4096 /* power of two */
/* Room for every bound and every pending endpoint; an LRU, so the counters
 * of veths long gone (nobody deletes them) make room for new ones. */
#define NPBPF_MAX_EPCNT_OV (NPBPF_MAX_ENDPOINT + NPBPF_MAX_PENDING)
#define NPBPF_EVENTS_BYTES (256 * 1024)

/* A pod veth the datapath enforces for, keyed by the host-side ifindex. */
struct npbpf_endpoint {
	__u32 identity;  /* subject identity (host order) */
	__u32 flags;     /* NPBPF_EP_* */
	__u8 addr4[4];   /* network order; valid with NPBPF_EP_HAS_V4 */
	__u8 addr6[16];  /* network order; valid with NPBPF_EP_HAS_V6 */
	__u8 mac[6];     /* the pod-side interface's MAC; valid with NPBPF_EP_HAS_MAC */
	__u8 pad[2];
};
_Static_assert(sizeof(struct npbpf_endpoint) == 36, "endpoint layout");
#define NPBPF_EP_HAS_V4 (1u << 0)
#define NPBPF_EP_HAS_V6 (1u << 1)
/* With the MAC known, every frame from the pod must carry it as its source
 * (and ARP as its sender hardware address), and the pod's IPv6 link-local
 * address is the EUI-64 one derived from it. Without it, frames are not
 * checked at layer 2 and any fe80::/10 source passes source validation. */
#define NPBPF_EP_HAS_MAC (1u << 2)

/* Conntrack, keyed by the flow as the pod that opened it sent it, so a reply
 * (addresses and ports swapped) is found by swapping before the lookup. */
struct npbpf_ct_key {
	__u8 saddr[16]; /* network order, IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__be16 sport;   /* network order; ICMP echo: the identifier */
	__be16 dport;   /* network order; ICMP echo: 0 */
	__u8 proto;
	__u8 family;    /* NPBPF_FAMILY_V4/V6 */
	__u8 dir;       /* enum npbpf_dir of the opener's packet seen from the local pod:
			 * EGRESS = the pod at this veth opened it (it is saddr),
			 * INGRESS = it was opened towards that pod (it is daddr).
			 * Two pods on one node keep separate views of one flow. */
	__u8 pad;
};
_Static_assert(sizeof(struct npbpf_ct_key) == 40, "ct key layout");

enum npbpf_ct_state {
	NPBPF_CT_NEW = 0,         /* SYN seen */
	NPBPF_CT_ESTABLISHED = 1, /* reply seen */
	NPBPF_CT_CLOSING = 2,     /* FIN seen */
	NPBPF_CT_CLOSED = 3,      /* RST, or FIN both ways */
};

struct npbpf_ct_value {
	__u64 last_seen_ns; /* bpf_ktime_get_ns() */
	__u64 created_ns;
	__u32 revision;     /* npbpf_config.revision the flow was last checked against */
	__u32 src_identity; /* identities at creation, for status and re-checks */
	__u32 dst_identity;
	__u8 state;         /* enum npbpf_ct_state */
	__u8 fin_seen;      /* bit 0: from the opener, bit 1: from the replier */
	__u8 pad[2];
};

struct npbpf_frag_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 id;      /* IPv4 id (zero-extended) or IPv6 fragment identification, network order */
	__u32 ifindex; /* the endpoint whose hook saw the first fragment: a record
			* is only ever followed at that endpoint */
	__u8 proto;
	__u8 family;
	__u8 dir;      /* enum npbpf_dir of the hook that saw the first fragment */
	__u8 pad;
};
_Static_assert(sizeof(struct npbpf_frag_key) == 44, "frag key layout");

/* The first fragment's verdict and what is needed to judge its datagram
 * again when the policy revision moved before a later fragment came. */
struct npbpf_frag_value {
	__u64 created_ns;
	__u32 revision;  /* npbpf_config.revision of the verdict */
	__be16 sport;    /* the first fragment's transport fields */
	__be16 dport;
	__u8 allowed;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 pad[5];
};
_Static_assert(sizeof(struct npbpf_frag_value) == 24, "frag value layout");

/* Verdicts charged to counters and events. */
enum npbpf_verdict {
	NPBPF_VERDICT_ALLOW = 0,
	NPBPF_VERDICT_DROP = 1,
};

/* Drop reasons: negative on the packet path (they never collide with TC
 * return codes, which are >= -1), stored positive in events and counters. */
enum npbpf_drop_reason {
	NPBPF_DROP_POLICY = 1,      /* isolated and no entry allowed it */
	NPBPF_DROP_SPOOFED = 2,     /* source address is not the pod's */
	NPBPF_DROP_UNPARSEABLE = 3, /* the parser could not classify it */
	NPBPF_DROP_VLAN = 4,        /* 802.1Q/802.1ad tagged frame from a pod */
	NPBPF_DROP_NO_CT = 5,       /* TCP without SYN and no conntrack entry */
	NPBPF_DROP_FRAG = 6,        /* non-first fragment without a first */
	NPBPF_DROP_NO_ENDPOINT = 7, /* veth without a known endpoint */
	NPBPF_DROP_CONTROL = 8,     /* ARP or ND from a pod for an address not its own,
				     * a router advertisement or redirect from a pod */
	NPBPF_DROP_NOT_IP = 9,      /* from a pod: neither IPv4, IPv6 nor ARP, or an IP
				     * header too short to read its source */
	NPBPF_DROP_TUNNEL = 10,     /* from a pod: encapsulation (IPIP, SIT, GRE, VXLAN,
				     * Geneve) addressed to this node */
	NPBPF_DROP_PENDING = 11,    /* a pod npbpf-cni wired that the agent has not
				     * bound yet: only the node may reach it */
	NPBPF_DROP_UNKNOWN_POD = 12, /* the far end is an address of this node's pod
				      * segment that no bound pod has (a pod still
				      * being wired, or a stale address) */
};

/* Allowed packets that no policy entry is charged for: counter key policy =
 * NPBPF_POLICY_NONE, rule = one of these. */
#define NPBPF_POLICY_NONE 0xfffffffeu
enum npbpf_allow_reason {
	NPBPF_ALLOW_UNISOLATED = 1, /* no policy isolates the pod in this direction */
	NPBPF_ALLOW_CT = 2,         /* reply or later packet of a tracked flow */
	NPBPF_ALLOW_RELATED = 3,    /* ICMP error about a tracked flow */
	NPBPF_ALLOW_FRAG = 4,       /* later fragment of an allowed first fragment */
	NPBPF_ALLOW_CONTROL = 5,    /* ARP, IPv6 neighbour discovery and MLD */
	NPBPF_ALLOW_PENDING_HOST = 6, /* the node to a pending pod (its probes) */
};

/* What each reason means, in words for people (status, test reports): named
 * here, next to the numbers, so that no reader keeps a copy to drift. */
static inline const char *npbpf_drop_reason_name(unsigned int reason)
{
	switch (reason) {
	case NPBPF_DROP_POLICY:
		return "no rule allowed it";
	case NPBPF_DROP_SPOOFED:
		return "spoofed source";
	case NPBPF_DROP_UNPARSEABLE:
		return "unparseable";
	case NPBPF_DROP_VLAN:
		return "VLAN-tagged";
	case NPBPF_DROP_NO_CT:
		return "TCP without SYN and no connection";
	case NPBPF_DROP_FRAG:
		return "fragment without its first";
	case NPBPF_DROP_NO_ENDPOINT:
		return "veth without a known endpoint";
	case NPBPF_DROP_CONTROL:
		return "ARP/ND for another's address, or a router advertisement or redirect";
	case NPBPF_DROP_NOT_IP:
		return "not IP from a pod";
	case NPBPF_DROP_TUNNEL:
		return "encapsulated packet from a pod to the node";
	case NPBPF_DROP_PENDING:
		return "pod not bound by the agent yet (pending)";
	case NPBPF_DROP_UNKNOWN_POD:
		return "address of this node's pod segment that no bound pod has";
	}
	return "other";
}

static inline const char *npbpf_allow_reason_name(unsigned int reason)
{
	switch (reason) {
	case NPBPF_ALLOW_UNISOLATED:
		return "not isolated";
	case NPBPF_ALLOW_CT:
		return "tracked connection";
	case NPBPF_ALLOW_RELATED:
		return "ICMP error of a tracked connection";
	case NPBPF_ALLOW_FRAG:
		return "later fragment";
	case NPBPF_ALLOW_CONTROL:
		return "ARP / neighbour discovery";
	case NPBPF_ALLOW_PENDING_HOST:
		return "the node to a pending pod";
	}
	return "other";
}

/* Counter key: policy NPBPF_POLICY_* and rule as in npbpf_policy_value; for
 * drops without a policy, policy = ~0u and rule = the drop reason; for allows
 * without an entry, policy = NPBPF_POLICY_NONE and rule = the allow reason. */
struct npbpf_counter_key {
	__u32 policy;
	__u16 rule;
	__u8 dir;
	__u8 verdict; /* enum npbpf_verdict */
};
_Static_assert(sizeof(struct npbpf_counter_key) == 8, "counter key layout");

struct npbpf_counter {
	__u64 packets;
	__u64 bytes;
};

/* One endpoint's counters (npbpf_epcnt), by [dir][verdict]: dir the enum
 * npbpf_dir of the hook (EGRESS what the pod sends, INGRESS what it
 * receives), verdict enum npbpf_verdict. Every packet a hook judges is
 * charged here as well as to its (policy, rule) counter, unknown veths
 * (NPBPF_DROP_NO_ENDPOINT) included. Per CPU: readers sum. */
struct npbpf_ep_counters {
	struct npbpf_counter c[2][2];
};
_Static_assert(sizeof(struct npbpf_ep_counters) == 64, "endpoint counters layout");

/* A slot of npbpf_epcnt on one CPU: the counters of endpoint ifindex there
 * (0: never used). A CPU's slot passes to another endpoint only when its
 * owner has neither an endpoint nor a pending record any more (its veth is
 * gone, or no longer enforced): that owner's counts on that CPU go with it.
 * Readers add every CPU's slot to the ifindex it names, then the overflow
 * hash. */
struct npbpf_ep_slot {
	__u32 ifindex;
	__u32 pad;
	struct npbpf_ep_counters n;
};
_Static_assert(sizeof(struct npbpf_ep_slot) == 72, "endpoint slot layout");

/*
 * Counters of the fixed reasons: allows without a policy entry (policy =
 * NPBPF_POLICY_NONE, verdict ALLOW, rule = enum npbpf_allow_reason) and drops
 * without a policy (policy = ~0u, verdict DROP, rule = enum
 * npbpf_drop_reason) are kept in a per-CPU array instead of npbpf_counters,
 * whose lookup the verifier inlines (a per-packet hash lookup less on the
 * conntrack path). Index ((dir * 2 + verdict) * 16 + reason); an index out of
 * range is not counted. Counters of policy rules stay in the hash. Readers
 * treat slot (dir, verdict, reason) as the npbpf_counter_key it replaces.
 */
#define NPBPF_FIXCNT_REASONS 16
#define NPBPF_FIXCNT_SLOTS (2 * 2 * NPBPF_FIXCNT_REASONS) /* dir x verdict x reason */
#define NPBPF_FIXCNT_INDEX(dir, verdict, reason)                                      \
	((((__u32)(dir) * 2u + (__u32)(verdict)) * NPBPF_FIXCNT_REASONS) + (__u32)(reason))
_Static_assert(NPBPF_DROP_UNKNOWN_POD < NPBPF_FIXCNT_REASONS &&
		       NPBPF_ALLOW_PENDING_HOST < NPBPF_FIXCNT_REASONS,
	       "every fixed reason has a slot in npbpf_fixcnt");

/* Whether the counter key (policy, verdict) is one of the fixed reasons. */
static inline int npbpf_counter_is_fixed(__u32 policy, __u8 verdict)
{
	return (policy == NPBPF_POLICY_NONE && verdict == NPBPF_VERDICT_ALLOW) ||
	       (policy == ~0u && verdict == NPBPF_VERDICT_DROP);
}

/*
 * The denial cache (bpf/lib/denycache.h): a region of slots per CPU, in
 * sets of two neighbours a frame may live in, private to the datapath (not
 * pinned; tests read it through the skeleton). A slot is one recent
 * denial: the frame's header window, masked, and what it was judged under.
 */
#define NPBPF_DENY_SLOT_BITS 13
#define NPBPF_DENY_SLOTS (1u << NPBPF_DENY_SLOT_BITS)
/* What is compared first comes first: an IPv4 probe reads bytes 0-63, one
 * cache line for every other slot (the map's values start on a page). The
 * mask is not stored, the frame says which it is (denymask.h). */
struct npbpf_deny_slot {
	__u32 ifindex;             /* the endpoint's veth */
	__u32 revision;            /* npbpf_config.revision of the verdict */
	__u32 generation;          /* its generation */
	__u32 flags;               /* and its flags */
	__u32 epoch;               /* the endpoint's conntrack epoch then */
	__u8 hook;                 /* enum npbpf_dir */
	__u8 reason;               /* the enum npbpf_drop_reason; 0: empty */
	__u16 pad;
	__u64 v[NPBPF_DENY_WORDS]; /* the window's words, masked */
	__u64 spare;               /* 96 bytes: every other slot starts a cache line */
};
_Static_assert(sizeof(struct npbpf_deny_slot) == 96, "deny slot layout");

/* Conntrack epochs, npbpf_ctepoch[ifindex % NPBPF_CT_EPOCHS]: bumped
 * whenever a hook creates a conntrack entry in the map of an endpoint whose
 * ifindex falls on the slot; and whether a denial was cached since. */
#define NPBPF_CT_EPOCHS 1024 /* power of two */
struct npbpf_ctepoch {
	__u32 epoch;
	__u32 denied; /* epoch + 1 when a denial was cached at epoch */
};

/* The cache's memory is bounded: on a machine with more possible CPUs
 * than fit, the CPUs past the bound cache nothing (their lookups miss). */
#define NPBPF_DENY_MAX_BYTES (128u << 20)

/* npbpf_deny's entries for ncpu possible CPUs: one region each. */
static inline __u32 npbpf_deny_entries(int ncpu)
{
	__u32 fit = NPBPF_DENY_MAX_BYTES / (NPBPF_DENY_SLOTS * sizeof(struct npbpf_deny_slot));

	if (ncpu < 1)
		ncpu = 1;
	return ((__u32)ncpu < fit ? (__u32)ncpu : fit) * NPBPF_DENY_SLOTS;
}

struct npbpf_event {
	__u64 ts_ns;
	__u32 ifindex;
	__u32 subject;
	__u32 peer;
	__u8 reason; /* enum npbpf_drop_reason */
	__u8 dir;
	__u8 proto;
	__u8 family;
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u32 pad;
};

/* Global knobs, set by the loader (array map, key 0). */
struct npbpf_config {
	__u32 revision;       /* bumped on every policy sync; see conntrack re-check */
	__u32 generation;     /* 0 or 1: which policy generation is live (tables.h) */
	__u32 flags;          /* NPBPF_CFG_* */
	__u32 events_per_sec; /* drop-event rate limit, per CPU */
};
#define NPBPF_CFG_ALLOW_VLAN (1u << 0) /* pass tagged frames from pods instead of dropping */
/* The pods of this node share one layer-2 segment (a bridge such as cni0):
 * a neighbour advertisement from one pod to another stays on it. Without
 * it (routed wiring: every pod behind its own /32 route), the node routes
 * pod-to-pod traffic, and only the node itself is on a pod's segment. */
#define NPBPF_CFG_BRIDGED (1u << 1)
/* The node's traffic to isolated pods is policy traffic (agent
 * --enforce-host): the compile emits no host entries, and a pending pod is
 * not reachable from the node either. */
#define NPBPF_CFG_ENFORCE_HOST (1u << 2)
/* Every packet judged in full: the denial cache (bpf/lib/denycache.h) is
 * neither read nor written. For measuring the full path of a denied new
 * flow (npbpf bench verdict's new_denied, whose one frame repeated would
 * otherwise be answered from the cache) and for tests; the agent never
 * sets it. */
#define NPBPF_CFG_NO_DENY_CACHE (1u << 3)

/*
 * Userspace-only state, pinned next to the datapath maps. The loader creates
 * these with bpf_map_create (they are not in the BPF object; no program reads
 * them): the layout marker, and what `npbpf status` and an agent restart need
 * to turn numbers back into names and to keep identity numbers stable.
 */
#define NPBPF_MAP_META "npbpf_meta"       /* ARRAY[1] npbpf_meta */
#define NPBPF_MAP_IDMETA "npbpf_idmeta"   /* HASH   npbpf_idmeta_key -> npbpf_idmeta */
#define NPBPF_MAP_POLNAME "npbpf_polname" /* HASH   __u32 policy -> npbpf_name */
#define NPBPF_MAP_EPMETA "npbpf_epmeta"   /* HASH   __u32 host-side ifindex -> npbpf_name */

#define NPBPF_MAX_IDMETA 262144 /* chunks: most identities need one */
#define NPBPF_MAX_POLNAME 65536

/* The pinned set's marker, written last when a pin directory is created,
 * and the map sync's own record: numbering high-water marks and how the last
 * sync ended. */
struct npbpf_meta {
	__u32 layout;       /* NPBPF_LAYOUT_VERSION of whoever created the maps */
	__u32 syncs;        /* map syncs that changed something */
	__u32 next_pod_id;  /* identity numbers at and above these were never handed */
	__u32 next_cidr_id; /* out (below, a number is reused after its quarantine) */
	__u32 next_policy;  /* policy numbers likewise */
	__u32 failed_syncs; /* syncs that failed, in total */
	__u64 last_sync_ns; /* CLOCK_REALTIME of the last sync that changed something */
	/* The last sync that failed; zeroed by the next one that succeeds. */
	__u64 error_ns;       /* CLOCK_REALTIME; 0: the last sync succeeded */
	__s32 error;          /* negative errno */
	__u32 error_isolated; /* endpoints it left isolated (fail-closed) */
	char error_map[16];   /* the map it failed on (NPBPF_MAP_*), "" for none */
	char error_what[80];  /* what the sync was doing, NUL-terminated */
};
_Static_assert(sizeof(struct npbpf_meta) == 144, "meta layout");

/* An identity's key bytes (what numbers are stable by) and a label text for
 * humans ("production/app=backend"), cut into chunks: the data of chunks
 * 0, 1, ... back to back holds key_len key bytes, then label_len text bytes.
 * Unused data bytes are zero. */
#define NPBPF_IDMETA_DATA 248
struct npbpf_idmeta_key {
	__u32 identity; /* host order */
	__u32 chunk;
};
_Static_assert(sizeof(struct npbpf_idmeta_key) == 8, "idmeta key layout");

enum npbpf_idmeta_kind {
	NPBPF_IDMETA_POD = 1,
	NPBPF_IDMETA_CIDR = 2,
	NPBPF_IDMETA_RETIRED = 3, /* chunk NPBPF_IDMETA_CHUNK_RETIRED only */
};

/* A retired identity number (no map refers to it any more) is kept out of
 * use for a quarantine: the record (identity, NPBPF_IDMETA_CHUNK_RETIRED),
 * kind NPBPF_IDMETA_RETIRED, holds in data[0..8) when its last user went
 * (__u64 CLOCK_BOOTTIME nanoseconds, host order). The identity's chunks stay
 * until the quarantine ends, so a key that comes back meanwhile gets its
 * number back and status can still name it. */
#define NPBPF_IDMETA_CHUNK_RETIRED 0xffffffffu

struct npbpf_idmeta {
	__u16 len;       /* data bytes used in this chunk */
	__u16 key_len;   /* chunk 0 only: key bytes in total */
	__u16 label_len; /* chunk 0 only: label bytes in total (no NUL) */
	__u8 kind;       /* chunk 0 only: enum npbpf_idmeta_kind */
	__u8 pad;
	__u8 data[NPBPF_IDMETA_DATA];
};
_Static_assert(sizeof(struct npbpf_idmeta) == 256, "idmeta layout");

/* "namespace/name" of a policy or of an endpoint's pod, NUL-padded. */
#define NPBPF_NAME_LEN 320
struct npbpf_name {
	char name[NPBPF_NAME_LEN];
};

#endif /* NPBPF_DATAPATH_H */
