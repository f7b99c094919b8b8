/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters and drop events. The datapath never prints: every packet is
 * charged to one counter and to its endpoint's counters, and drops also emit
 * an event on the ring buffer, rate limited per CPU so a flood cannot swamp
 * the reader or the ring.
 */
#ifndef NPBPF_BPF_EVENTS_H
#define NPBPF_BPF_EVENTS_H

#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "conntrack.h"
#include "maps.h"

/* Adds one packet of len bytes to the counter (policy, rule, dir, verdict):
 * fixed reasons to their slot of npbpf_fixcnt, policy rules to the hash. */
static __always_inline void counter_add(__u32 policy, __u16 rule, __u8 dir, __u8 verdict, __u32 len)
{
	struct npbpf_counter_key key;
	struct npbpf_counter *c;

	if (npbpf_counter_is_fixed(policy, verdict)) {
		__u32 idx;

		if (rule >= NPBPF_FIXCNT_REASONS || dir > 1 || verdict > 1)
			return;
		idx = NPBPF_FIXCNT_INDEX(dir, verdict, rule);
		c = bpf_map_lookup_elem(&npbpf_fixcnt, &idx);
		if (c) {
			/* Per-CPU slot: no other writer, plain adds are exact. */
			c->packets += 1;
			c->bytes += len;
		}
		return;
	}
	__builtin_memset(&key, 0, sizeof(key));
	key.policy = policy;
	key.rule = rule;
	key.dir = dir;
	key.verdict = verdict;
	c = bpf_map_lookup_elem(&npbpf_counters, &key);
	if (c) {
		/* Per-CPU value: no other writer, plain adds are exact. */
		c->packets += 1;
		c->bytes += len;
		return;
	}
	{
		struct npbpf_counter init = {.packets = 1, .bytes = len};

		/* NOEXIST: if another CPU created the key meanwhile, this CPU's
		 * slot of it is lost for one packet; counters are statistics. */
		bpf_map_update_elem(&npbpf_counters, &key, &init, BPF_NOEXIST);
	}
}

/* The overflow: one hash lookup (a 4-byte key); the first packet creates
 * the entry. */
static __always_inline void epcnt_add_ov(__u32 ifindex, __u8 dir, __u8 verdict, __u32 len)
{
	struct npbpf_ep_counters *c = bpf_map_lookup_elem(&npbpf_epcnt_ov, &ifindex);

	if (c) {
		c->c[dir & 1][verdict & 1].packets += 1;
		c->c[dir & 1][verdict & 1].bytes += len;
		return;
	}
	{
		struct npbpf_ep_counters init;

		__builtin_memset(&init, 0, sizeof(init));
		init.c[dir & 1][verdict & 1].packets = 1;
		init.c[dir & 1][verdict & 1].bytes = len;
		/* NOEXIST: as in counter_add, a race loses one packet. */
		bpf_map_update_elem(&npbpf_epcnt_ov, &ifindex, &init, BPF_NOEXIST);
	}
}

/* Whether a veth still has an endpoint or pending record. */
static __always_inline int epcnt_owner_live(__u32 ifindex)
{
	return bpf_map_lookup_elem(&npbpf_endpoint, &ifindex) ||
	       bpf_map_lookup_elem(&npbpf_pending, &ifindex);
}

/*
 * Adds one packet of len bytes to endpoint ifindex's counters for (dir,
 * verdict) (datapath.h, npbpf_ep_slot). Usually one inlined array lookup:
 * this CPU's slot of the endpoint. A slot owned by another endpoint is taken
 * over when that one is gone; while it lives, this endpoint counts in the
 * overflow hash. known: the veth has a record now (an unknown veth never
 * takes a slot over, so a veth nobody knows cannot push a pod out).
 */
static __always_inline void epcnt_add(__u32 ifindex, int known, __u8 dir, __u8 verdict, __u32 len)
{
	__u32 idx = ifindex & (NPBPF_EPCNT_SLOTS - 1);
	struct npbpf_ep_slot *s = bpf_map_lookup_elem(&npbpf_epcnt, &idx);

	if (!s)
		return;
	if (s->ifindex != ifindex) {
		if (!known || (s->ifindex && epcnt_owner_live(s->ifindex))) {
			epcnt_add_ov(ifindex, dir, verdict, len);
			return;
		}
		__builtin_memset(&s->n, 0, sizeof(s->n));
		s->ifindex = ifindex;
	}
	/* Per-CPU slot: no other writer, plain adds are exact. */
	s->n.c[dir & 1][verdict & 1].packets += 1;
	s->n.c[dir & 1][verdict & 1].bytes += len;
}

/* A flood: the bucket is empty and no tick passed since the last look, so
 * nothing can have refilled it. */
static __always_inline int event_bucket_idle(const struct npbpf_ratelimit *rl, __u64 jif)
{
	return jif == rl->last_jiffies && rl->credit_ns < NPBPF_NSEC_PER_SEC;
}

/* Whether event_ratelimit_ok() might let an event through now: anything
 * but a flood's empty bucket within the tick it was emptied in. Reads and
 * writes nothing else (the denial cache asks it before dropping a cached
 * denial without its event). */
static __always_inline int event_due(__u32 rate)
{
	struct npbpf_ratelimit *rl;
	__u32 zero = 0;

	if (!rate)
		return 0;
	rl = bpf_map_lookup_elem(&npbpf_ratelim, &zero);
	if (!rl)
		return 0;
	return !event_bucket_idle(rl, bpf_jiffies64());
}

/*
 * Token bucket, one per CPU: at most `rate` events per second on average,
 * bursts of up to one second's worth. Credit is kept in tokens * 1e9 so the
 * refill (elapsed ns * rate) needs no division. elapsed is capped at one
 * second before the multiplication: 1e9 * 2^32 < 2^63, no overflow.
 * rate 0 disables events.
 *
 * *now is the packet's coarse clock, 0 while unread (enforce.h reads it
 * only once a packet is past the denial cache): it is read here only when
 * a tick has passed since this CPU last looked. The tick is told by jiffies, which the verifier
 * inlines as one load (no helper call): the coarse clock only moves when jiffies does, so while
 * jiffies stands still nothing can have refilled. (Should the clock's update trail jiffies' within
 * a tick, the refill it brings is seen one tick later: the credit comes from last_ns, nothing is
 * lost.)
 */
static __always_inline int event_ratelimit_ok(__u32 rate, __u64 *now)
{
	struct npbpf_ratelimit *rl;
	__u32 zero = 0;
	__u64 elapsed, credit, cap, jif;

	if (!rate)
		return 0;
	rl = bpf_map_lookup_elem(&npbpf_ratelim, &zero);
	if (!rl)
		return 0;
	/* A flood: the bucket is empty and no tick since the last look. No
	 * clock, no arithmetic, no stores: most drops of a flood end here. */
	jif = bpf_jiffies64();
	if (event_bucket_idle(rl, jif))
		return 0;
	rl->last_jiffies = jif;
	if (!*now)
		*now = bpf_ktime_get_coarse_ns();
	elapsed = *now - rl->last_ns;
	if (elapsed > NPBPF_NSEC_PER_SEC)
		elapsed = NPBPF_NSEC_PER_SEC;
	cap = (__u64)rate * NPBPF_NSEC_PER_SEC;
	credit = rl->credit_ns + elapsed * rate;
	if (credit > cap)
		credit = cap;
	rl->last_ns = *now;
	if (credit < NPBPF_NSEC_PER_SEC) {
		rl->credit_ns = credit;
		return 0;
	}
	rl->credit_ns = credit - NPBPF_NSEC_PER_SEC;
	return 1;
}

#endif /* NPBPF_BPF_EVENTS_H */
