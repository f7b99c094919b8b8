/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The compiled tables: the structs the policy engine produces and the BPF
 * datapath reads. Declared once here and included by both sides, so the two
 * can never disagree about a layout.
 *
 * Rules for every struct in this file:
 *  - fixed-width types only, explicit padding, sizes pinned by _Static_assert;
 *  - callers zero a key before filling it (hash maps compare padding bytes);
 *  - byte order is stated on every multi-byte field.
 */
#ifndef NPBPF_TABLES_H
#define NPBPF_TABLES_H

#include <linux/types.h>

/* Map layout version: bump when any struct below changes incompatibly, so an
 * agent never adopts pinned maps of another layout. */
#define NPBPF_LAYOUT_VERSION 4

/*
 * Identities. An identity is a number that stands for everything the policy
 * decision needs to know about an address:
 *  - pods: the pod's labels, its namespace's labels, its named ports, and the
 *    ipBlock region its address falls in (so an ipBlock rule can match pod
 *    addresses without a second lookup);
 *  - CIDR regions: one per distinct ipBlock cidr/except prefix;
 *  - reserved ones below.
 * Identities are node-local: each agent derives them from what it watches.
 */
#define NPBPF_ID_ANY 0u        /* wildcard peer in policy keys; never an address's identity */
#define NPBPF_ID_HOST 1u       /* the node itself and hostNetwork pods */
#define NPBPF_ID_WORLD 2u      /* an address no ipcache entry covers */
#define NPBPF_ID_CLUSTER 3u    /* wildcard peer in policy keys: any pod identity */
/* An address of this node's pod segment (npbpf_segment) that no ipcache
 * entry names: a pod still being wired, or one gone. Never in a policy key;
 * the datapath drops a new flow with it (NPBPF_DROP_UNKNOWN_POD) before any
 * wildcard entry could admit it. */
#define NPBPF_ID_UNKNOWN_POD 4u
#define NPBPF_ID_FIRST_POD 256u
#define NPBPF_ID_FIRST_CIDR 0x01000000u
#define NPBPF_ID_IS_CIDR(id) ((id) >= NPBPF_ID_FIRST_CIDR)
#define NPBPF_ID_IS_POD(id) ((id) >= NPBPF_ID_FIRST_POD && (id) < NPBPF_ID_FIRST_CIDR)

/*
 * Subject numbers that are no identity, at the top of the pod range. The
 * engine numbers pod identities below NPBPF_ID_FIRST_STAGE; these never
 * appear in the ipcache, so never as a peer.
 *  - NPBPF_ID_ISOLATED: isolated in both directions, no entry. A pod that
 *    cannot be given its policy points at it: its identity got no number
 *    (the engine), or its new records could not be written (the map sync).
 *  - NPBPF_ID_FIRST_STAGE and the NPBPF_ID_N_STAGE numbers from there: the
 *    map sync's staging numbers, a pod's records under a temporary number
 *    while it moves from one identity to another (user/datapath/mapsync.h).
 */
#define NPBPF_ID_ISOLATED (NPBPF_ID_FIRST_CIDR - 1u)
#define NPBPF_ID_N_STAGE 8192u
#define NPBPF_ID_FIRST_STAGE (NPBPF_ID_ISOLATED - NPBPF_ID_N_STAGE)

/*
 * Policy generations. The subject field of npbpf_policy_key, npbpf_range_key
 * and the npbpf_subject map key carries the generation in its top bit. The
 * loader writes a whole new generation next to the live one, then flips
 * npbpf_config.generation with one store: a packet reads the generation once
 * and sees either the old policy or the new one, never a mix. Identities stay
 * below this bit.
 */
#define NPBPF_GEN_BIT 0x80000000u
#define NPBPF_SUBJECT_KEY(id, gen) ((id) | ((gen) ? NPBPF_GEN_BIT : 0u))

enum npbpf_dir {
	NPBPF_DIR_INGRESS = 0, /* traffic towards the subject pod */
	NPBPF_DIR_EGRESS = 1,  /* traffic the subject pod sends */
};

/*
 * Policy entry (hash map npbpf_policy). One entry allows one
 * (subject, direction, peer, protocol, port) combination. Wildcards:
 *  - peer == NPBPF_ID_ANY: any peer (a rule with no from/to);
 *  - dport == 0 with proto != 0: every port of that protocol;
 *  - proto == 0 (dport then 0): every protocol and port (a rule with no ports).
 * Port ranges (endPort) live in the npbpf_range LPM map instead.
 */
struct npbpf_policy_key {
	__u32 subject; /* identity of the pod the policy selects (host order) */
	__u32 peer;    /* identity of the far end, or NPBPF_ID_ANY (host order) */
	__u16 dport;   /* destination port, host order; 0 = any */
	__u8 proto;    /* IPPROTO_TCP/UDP/SCTP; 0 = any protocol */
	__u8 dir;      /* enum npbpf_dir */
};
_Static_assert(sizeof(struct npbpf_policy_key) == 12, "policy key layout");

/* Which policy and rule produced an entry, for explain and the counters.
 * When several rules produce the same key, the first in policy order wins. */
struct npbpf_policy_value {
	__u32 policy; /* index into the policy name table (host order) */
	__u16 rule;   /* rule index within the policy's ingress or egress list */
	__u16 flags;  /* reserved, zero */
};
_Static_assert(sizeof(struct npbpf_policy_value) == 8, "policy value layout");

/*
 * Port range entry (LPM trie npbpf_range). A range [port, endPort] is cut into
 * at most 2*16 aligned power-of-two blocks, each one prefix over dport, so a
 * range costs O(log range) entries and one lookup per peer form.
 * prefixlen counts bits of the fields after it: NPBPF_RANGE_FIXED_BITS for
 * subject..proto (always fully matched) plus the port bits of the block.
 */
struct npbpf_range_key {
	__u32 prefixlen;
	__u32 subject; /* host order */
	__u32 peer;    /* host order; NPBPF_ID_ANY for any peer */
	__u8 dir;
	__u8 proto;
	__be16 dport; /* network order: LPM matches the most significant bits first */
};
_Static_assert(sizeof(struct npbpf_range_key) == 16, "range key layout");
#define NPBPF_RANGE_FIXED_BITS 80u
#define NPBPF_RANGE_FULL_BITS 96u

/*
 * Lookup forms. The engine records, per subject and direction, which kinds of
 * entries exist, so the datapath skips lookups that cannot hit. Three peer
 * groups, each with four port forms:
 *   peer group: the peer's own identity, NPBPF_ID_CLUSTER (only when the peer
 *   is a pod identity: "namespaceSelector: {}" means every pod, and would
 *   otherwise expand to one entry per pod identity), NPBPF_ID_ANY;
 *   port form: exact (proto, port), (proto, any port), all, range.
 * Precedence does not change the verdict (any hit allows); it only decides
 * which rule a counter is charged to: groups in the order above, and within a
 * group the port forms in the order above.
 */
#define NPBPF_FORM_PORT 0x1u
#define NPBPF_FORM_PROTO 0x2u
#define NPBPF_FORM_ALL 0x4u
#define NPBPF_FORM_RANGE 0x8u
#define NPBPF_FORM_SHIFT_PEER 0
#define NPBPF_FORM_SHIFT_CLUSTER 4
#define NPBPF_FORM_SHIFT_ANY 8

/* Per-identity subject record (hash map npbpf_subject, key: __u32 identity
 * with the generation bit). An identity absent from the map is selected by no
 * policy: unisolated. */
struct npbpf_subject {
	__u16 forms[2]; /* NPBPF_FORM_* << NPBPF_FORM_SHIFT_*, indexed by enum npbpf_dir */
	__u8 isolated;  /* bit (1 << enum npbpf_dir) set: isolated in that direction */
	__u8 pad[3];
};
_Static_assert(sizeof(struct npbpf_subject) == 8, "subject layout");

#define NPBPF_FAMILY_V4 4
#define NPBPF_FAMILY_V6 6

/*
 * Address -> identity (ipcache). Full-length prefixes (pods, the node) go into
 * the hash map npbpf_ipc_host keyed by struct npbpf_addr; shorter ones (ipBlock
 * regions) into the LPM trie npbpf_ipc_cidr keyed by struct npbpf_ipc_key.
 * The hash is tried first: most peers are pods, and a hash lookup does not slow
 * down as the number of pods grows the way a trie walk does.
 */
struct npbpf_addr {
	__u8 family; /* NPBPF_FAMILY_V4 or NPBPF_FAMILY_V6 */
	__u8 pad[3];
	__u8 addr[16]; /* network order; IPv4 in the first 4 bytes, rest zero */
};
_Static_assert(sizeof(struct npbpf_addr) == 20, "addr layout");

struct npbpf_ipc_key {
	__u32 prefixlen; /* 32 (family + pad) + prefix length of the address */
	struct npbpf_addr a;
};
_Static_assert(sizeof(struct npbpf_ipc_key) == 24, "ipcache key layout");

struct npbpf_ipc_value {
	__u32 identity;
	__u32 flags; /* NPBPF_IPC_* */
};
/* The address is on this node's pod segment: a pod bound to this node. The
 * datapath lets a pod's neighbour discovery towards it pass as link
 * plumbing (it never crosses a router); this node's own addresses (the
 * host identity) count as on the segment too. */
#define NPBPF_IPC_ON_LINK (1u << 0)
/* The address is this node's own. Its identity is NPBPF_ID_HOST, or, when
 * the address lies in an ipBlock region, the host identity of that region
 * (a number in the CIDR range): "is this the node" is this flag, not a
 * comparison with NPBPF_ID_HOST. Set together with NPBPF_IPC_ON_LINK. */
#define NPBPF_IPC_NODE (1u << 1)
/* npbpf_segment only: the address of a pending pod (npbpf-cni wired it, the
 * agent has not bound it). Its identity stays NPBPF_ID_UNKNOWN_POD for the
 * other pods; the bridge hook lets the node reach it (bpf/lib/bridge.h). */
#define NPBPF_IPC_PENDING (1u << 2)

#endif /* NPBPF_TABLES_H */
