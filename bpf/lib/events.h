/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters and drop events. The datapath never prints: every packet is
 * charged to one counter, and drops also emit an event on the ring buffer,
 * rate limited per CPU so a flood cannot swamp the reader or the ring.
 */
#ifndef NPBPF_BPF_EVENTS_H
#define NPBPF_BPF_EVENTS_H

#include <bpf/bpf_helpers.h>

#include <npbpf/datapath.h>

#include "conntrack.h"
#include "maps.h"

/* Adds one packet of len bytes to the counter (policy, rule, dir, verdict):
 * fixed reasons to their slot of npbpf_fixcnt, policy rules to the hash. */
static __always_inline void counter_add(__u32 policy, __u16 rule, __u8 dir, __u8 verdict,
					__u32 len)
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
		struct npbpf_counter init = { .packets = 1, .bytes = len };

		/* NOEXIST: if another CPU created the key meanwhile, this CPU's
		 * slot of it is lost for one packet; counters are statistics. */
		bpf_map_update_elem(&npbpf_counters, &key, &init, BPF_NOEXIST);
	}
}

/*
 * Token bucket, one per CPU: at most `rate` events per second on average,
 * bursts of up to one second's worth. Credit is kept in tokens * 1e9 so the
 * refill (elapsed ns * rate) needs no division. elapsed is capped at one
 * second before the multiplication: 1e9 * 2^32 < 2^63, no overflow.
 * rate 0 disables events.
 */
static __always_inline int event_ratelimit_ok(__u32 rate, __u64 now)
{
	struct npbpf_ratelimit *rl;
	__u32 zero = 0;
	__u64 elapsed, credit, cap;

	if (!rate)
		return 0;
	rl = bpf_map_lookup_elem(&npbpf_ratelim, &zero);
	if (!rl)
		return 0;
	elapsed = now - rl->last_ns;
	if (elapsed > NPBPF_NSEC_PER_SEC)
		elapsed = NPBPF_NSEC_PER_SEC;
	cap = (__u64)rate * NPBPF_NSEC_PER_SEC;
	credit = rl->credit_ns + elapsed * rate;
	if (credit > cap)
		credit = cap;
	rl->last_ns = now;
	if (credit < NPBPF_NSEC_PER_SEC) {
		rl->credit_ns = credit;
		return 0;
	}
	rl->credit_ns = credit - NPBPF_NSEC_PER_SEC;
	return 1;
}

#endif /* NPBPF_BPF_EVENTS_H */
