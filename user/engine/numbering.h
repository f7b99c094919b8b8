/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity and policy numbers, assigned in one place. A compile hands every
 * identity key and every policy name to its numbering, which knows what an
 * earlier state gave out (struct numbering_prior: plain data, read from
 * wherever that state lives; the map sync reads it from the pinned maps), so
 * the tables leave the engine with the numbers the datapath will hold:
 *  - a key keeps the number the prior has for it, also while that number is
 *    in quarantine (a key that comes back gets its number back);
 *  - a new key gets the lowest number of its space that the prior does not
 *    hold (named, in quarantine, or referenced by a table) and no other key
 *    of this compile has: label churn recycles numbers instead of exhausting
 *    the spaces;
 *  - a number the prior holds and this compile does not want is retired: its
 *    quarantine starts now, starts again on every compile while a table
 *    still refers to it, and once it has passed with no reference the number
 *    is dropped (free from the next compile on). NUMBERING_QUARANTINE_NS says
 *    why a quarantine, and why that long;
 *  - a policy keeps the number its name had; a new one gets the next number
 *    never handed out, and past the last one a number no name holds and no
 *    entry refers to (a policy number only credits counters, it never
 *    decides a verdict, so it needs no quarantine).
 * Without a prior (explain, the lab, a first sync) identities are numbered in
 * creation order from the start of each space, and policies by their index
 * in the cluster.
 */
#ifndef NPBPF_NUMBERING_H
#define NPBPF_NUMBERING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "model.h"

/*
 * How long a retired identity number stays out of use. What can still carry
 * a number once no table refers to it: a BPF program that read it before the
 * last reference went (gone within one RCU grace period), conntrack entries
 * (their identity fields are labels for status: a flow is re-checked with
 * identities looked up afresh whenever the revision moved, and the sync that
 * dropped the number bumped it), and readers outside the datapath (drop
 * events in the ring buffer, logs, status output) that turn numbers into
 * labels. The quarantine is for the last: minutes, not a grace period.
 */
#define NUMBERING_QUARANTINE_NS (600ull * 1000000000ull)

/* An identity left without a number: its space is exhausted. */
#define NUMBER_NONE UINT32_MAX

/* What a prior state holds of a number. */
enum {
	NUMBER_NAMED = 1u << 0,      /* its key and label are recorded */
	NUMBER_RETIRED = 1u << 1,    /* in quarantine since retired_ns */
	NUMBER_REFERENCED = 1u << 2, /* a table the datapath reads refers to it */
};

struct number_held {
	uint32_t id;
	uint32_t flags;      /* NUMBER_* */
	uint64_t retired_ns; /* with NUMBER_RETIRED, on numbering_opts.now_ns's clock */
};

/* The numbers of an earlier state. Fill it with the numbering_prior_*
 * functions; it outlives every compile that uses it. */
struct numbering_prior {
	struct hmap keys;          /* identity key bytes -> number, retired ones included */
	struct number_held *held;  /* each identity number the state holds, once */
	size_t n_held, cap_held;
	struct hmap held_index;    /* number -> index in held */
	struct hmap policies;      /* policy name "namespace/name" -> number */
	struct hmap policy_refs;   /* policy number an entry of the state credits -> 1 */
	/* High-water marks: every number handed out so far lies below them. */
	uint32_t next_pod_id, next_cidr_id, next_policy;
};

void numbering_prior_init(struct numbering_prior *p);
void numbering_prior_free(struct numbering_prior *p);
/* The state holds identity number id: flags are added to what is known of
 * it, retired_ns taken with NUMBER_RETIRED. Numbers that are no identity's
 * (reserved, the map sync's own, past the CIDR range) are left out. 0 or
 * -ENOMEM. */
int numbering_prior_hold(struct numbering_prior *p, uint32_t id, uint32_t flags,
			 uint64_t retired_ns);
/* The state numbers the identity key key[len] id (and holds id, named). The
 * first number given for a key stays. 0 or -ENOMEM. */
int numbering_prior_key(struct numbering_prior *p, const void *key, size_t len, uint32_t id);
/* The state numbers policy name ("namespace/name", len bytes) number. The
 * first number given for a name stays. 0 or -ENOMEM. */
int numbering_prior_policy(struct numbering_prior *p, const char *name, size_t len,
			   uint32_t number);
/* An entry of the state credits policy number. 0 or -ENOMEM. */
int numbering_prior_policy_ref(struct numbering_prior *p, uint32_t number);
/* A fingerprint of what p holds (NULL: the empty state), which a compile
 * keeps (numbering.prior_digest): the map sync writes a compile's numbers
 * only over the state they were assigned against. */
uint64_t numbering_prior_digest(const struct numbering_prior *p);

/* Knobs; zero fields take the defaults. Tests make the spaces small and
 * pass their own clock. */
struct numbering_opts {
	uint32_t pod_limit;     /* pod identities below; default NPBPF_ID_FIRST_STAGE */
	uint32_t cidr_limit;    /* CIDR-range identities below; default NPBPF_GEN_BIT */
	uint32_t policy_limit;  /* policy numbers below; default NPBPF_POLICY_NONE */
	uint64_t quarantine_ns; /* default NUMBERING_QUARANTINE_NS */
	uint64_t now_ns;        /* CLOCK_BOOTTIME; default: read it */
};

/* A number in quarantine after this compile, and since when. */
struct numbering_retired {
	uint32_t id;
	uint64_t since_ns;
};

/* One space of identity numbers while a compile hands them out. */
struct number_space {
	uint32_t first, limit;
	uint32_t next;   /* the lowest number not looked at yet */
	uint32_t hw;     /* the high-water mark */
	uint32_t *taken; /* numbers of the space the prior holds, sorted */
	size_t n_taken, at;
};

/* The numbers of one compile (struct compiled.numbering). */
struct numbering {
	const struct numbering_prior *prior; /* NULL: the empty state, or finished */
	struct numbering_opts o;             /* defaults filled in */
	uint64_t prior_digest;
	struct number_space space[2];        /* [0] pods, [1] the CIDR range */
	struct hmap wanted;                  /* numbers given to this compile's keys -> 1 */

	/* What came out. */
	uint32_t *policy; /* per cluster policy: its number */
	struct numbering_retired *retired; /* in quarantine after this compile */
	size_t n_retired, cap_retired;
	uint32_t ids_new, ids_reused;     /* handed out (reused: once another key's) */
	uint32_t ids_retired, ids_expired; /* into quarantine, out of it */
	uint32_t lost;                    /* identities left without a number */
	uint32_t next_pod_id, next_cidr_id, next_policy; /* high-water marks now */
};

/* Starts numbering against prior (may be NULL; read until numbering_finish)
 * with opts (may be NULL). 0 or -ENOMEM; nb is safe to numbering_free()
 * either way. */
int numbering_begin(struct numbering *nb, const struct numbering_prior *prior,
		    const struct numbering_opts *opts);
/* The number of a new identity key: pod range, or CIDR range (CIDR and
 * host identities). *id is NUMBER_NONE when the space is exhausted. 0 or
 * -ENOMEM. */
int numbering_identity(struct numbering *nb, const void *key, size_t len, bool cidr_range,
		       uint32_t *id);
/* Numbers every policy of c (nb->policy). 0, -ENOMEM, or -ENOSPC (logged)
 * when every policy number is taken. */
int numbering_policies(struct numbering *nb, const struct np_cluster *c);
/* After the last identity: retires what the prior holds and this compile
 * does not want (nb->retired, ids_retired, ids_expired). 0 or -ENOMEM. */
int numbering_finish(struct numbering *nb);
void numbering_free(struct numbering *nb);

/* "namespace/name" of a policy into buf (len >= 320). Returns its length. */
size_t numbering_policy_name(const struct np_policy *p, char *buf, size_t len);

#endif /* NPBPF_NUMBERING_H */
