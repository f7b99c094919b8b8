/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity and policy numbers (see numbering.h for the rules). The life of an
 * identity number x across compiles, each against the state the last one
 * left:
 *  - handed out: the state records its key and label;
 *  - retired when a compile no longer has its key: the state keeps a marker
 *    saying since when (numbering.retired). While some table still refers
 *    to x (a failed sync left it there) the quarantine starts again on every
 *    compile, so it counts from when the last reference went;
 *  - once the quarantine has passed and nothing refers to x, x is left out
 *    of the retired list: its records go, and x is free from the next
 *    compile on;
 *  - a key that comes back before then gets x back.
 * Numbers the prior does not hold are free, whatever the high-water marks
 * say: those only count what was ever handed out (ids_reused).
 */
#include "numbering.h"

#include <errno.h>
#include <npbpf/datapath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vec.h"

/* ---- The prior. */

void numbering_prior_init(struct numbering_prior *p)
{
	memset(p, 0, sizeof(*p));
	hmap_init(&p->keys);
	hmap_init(&p->held_index);
	hmap_init(&p->policies);
	hmap_init(&p->policy_refs);
}

void numbering_prior_free(struct numbering_prior *p)
{
	if (!p)
		return;
	hmap_free(&p->keys);
	hmap_free(&p->held_index);
	hmap_free(&p->policies);
	hmap_free(&p->policy_refs);
	free(p->held);
	numbering_prior_init(p);
}

/* Numbers some identity may have: reserved ones, the map sync's own and the
 * generation bit are nobody's. */
static bool identity_number(uint32_t id)
{
	return id >= NPBPF_ID_FIRST_POD && id < NPBPF_GEN_BIT &&
	       (id < NPBPF_ID_FIRST_STAGE || id > NPBPF_ID_ISOLATED);
}

int numbering_prior_hold(struct numbering_prior *p, uint32_t id, uint32_t flags,
			 uint64_t retired_ns)
{
	uint32_t idx = (uint32_t)p->n_held;
	struct number_held *h;
	int ret;

	if (!identity_number(id))
		return 0;
	ret = hmap_insert(&p->held_index, &id, sizeof(id), idx, &idx);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		h = VEC_PUSH(p->held, p->n_held, p->cap_held);
		if (!h)
			return -ENOMEM;
		h->id = id;
	}
	h = &p->held[idx];
	h->flags |= flags;
	if (flags & NUMBER_RETIRED)
		h->retired_ns = retired_ns;
	return 0;
}

int numbering_prior_key(struct numbering_prior *p, const void *key, size_t len, uint32_t id)
{
	int err = numbering_prior_hold(p, id, NUMBER_NAMED, 0);

	if (!err && identity_number(id) && hmap_insert(&p->keys, key, len, id, NULL) < 0)
		err = -ENOMEM;
	return err;
}

int numbering_prior_policy(struct numbering_prior *p, const char *name, size_t len, uint32_t number)
{
	return hmap_insert(&p->policies, name, len, number, NULL) < 0 ? -ENOMEM : 0;
}

int numbering_prior_policy_ref(struct numbering_prior *p, uint32_t number)
{
	return hmap_insert(&p->policy_refs, &number, sizeof(number), 1, NULL) < 0 ? -ENOMEM : 0;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* A sum of per-element hashes: the same whatever order the state was read
 * in. */
static uint64_t map_digest(const struct hmap *m, uint64_t tag)
{
	uint64_t d = 0;

	for (size_t i = 0; i < m->n_slots; i++) {
		const struct hmap_slot *s = &m->slots[i];

		if (s->hash)
			d += mix(s->hash ^ mix(tag + s->value));
	}
	return d;
}

static uint32_t at_least(uint32_t v, uint32_t min)
{
	return v < min ? min : v;
}

uint64_t numbering_prior_digest(const struct numbering_prior *p)
{
	uint64_t d = mix(1);

	d += mix(2 + at_least(p ? p->next_pod_id : 0, NPBPF_ID_FIRST_POD));
	d += mix(3 + ((uint64_t)at_least(p ? p->next_cidr_id : 0, NPBPF_ID_FIRST_CIDR) << 8));
	d += mix(4 + ((uint64_t)(p ? p->next_policy : 0) << 16));
	if (!p)
		return d;
	for (size_t i = 0; i < p->n_held; i++) {
		const struct number_held *h = &p->held[i];
		uint64_t when = (h->flags & NUMBER_RETIRED) ? h->retired_ns : 0;

		d += mix(mix(5 + ((uint64_t)h->id << 3 | h->flags)) ^ when);
	}
	return d + map_digest(&p->keys, 6) + map_digest(&p->policies, 7) +
	       map_digest(&p->policy_refs, 8);
}

/* ---- A compile's numbers. */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void resolve_opts(const struct numbering_opts *in, struct numbering_opts *out)
{
	struct timespec ts;

	memset(out, 0, sizeof(*out));
	if (in)
		*out = *in;
	if (!out->pod_limit || out->pod_limit > NPBPF_ID_FIRST_STAGE)
		out->pod_limit = NPBPF_ID_FIRST_STAGE;
	if (!out->cidr_limit || out->cidr_limit > NPBPF_GEN_BIT)
		out->cidr_limit = NPBPF_GEN_BIT;
	if (!out->policy_limit || out->policy_limit > NPBPF_POLICY_NONE)
		out->policy_limit = NPBPF_POLICY_NONE;
	if (!out->quarantine_ns)
		out->quarantine_ns = NUMBERING_QUARANTINE_NS;
	if (!out->now_ns) {
		/* Survives agent restarts (the pinned maps do not survive a reboot)
		 * and does not jump with the wall clock. */
		clock_gettime(CLOCK_BOOTTIME, &ts);
		out->now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
}

/* Every number of the space the prior holds is taken, whatever it holds it
 * for: a name, a quarantine or a reference. */
static int space_init(struct number_space *sp, const struct numbering_prior *prior, uint32_t first,
		      uint32_t limit, uint32_t hw)
{
	sp->first = sp->next = first;
	sp->limit = limit;
	sp->hw = at_least(hw, first);
	if (!prior || !prior->n_held)
		return 0;
	sp->taken = calloc(prior->n_held, sizeof(*sp->taken));
	if (!sp->taken)
		return -ENOMEM;
	for (size_t i = 0; i < prior->n_held; i++) {
		uint32_t id = prior->held[i].id;

		if (id >= first && id < limit)
			sp->taken[sp->n_taken++] = id;
	}
	qsort(sp->taken, sp->n_taken, sizeof(*sp->taken), cmp_u32);
	return 0;
}

/* The lowest number of the space not taken, or NUMBER_NONE. */
static uint32_t space_alloc(struct number_space *sp)
{
	while (sp->next < sp->limit) {
		uint32_t id = sp->next++;

		while (sp->at < sp->n_taken && sp->taken[sp->at] < id)
			sp->at++;
		if (sp->at < sp->n_taken && sp->taken[sp->at] == id)
			continue;
		return id;
	}
	return NUMBER_NONE;
}

int numbering_begin(struct numbering *nb, const struct numbering_prior *prior,
		    const struct numbering_opts *opts)
{
	int err;

	memset(nb, 0, sizeof(*nb));
	hmap_init(&nb->wanted);
	nb->prior = prior;
	resolve_opts(opts, &nb->o);
	nb->prior_digest = numbering_prior_digest(prior);
	/* About as many identities as the prior numbered. */
	err = prior ? hmap_reserve(&nb->wanted, prior->keys.n_used + 64, 4 * (prior->keys.n_used + 64))
		    : 0;
	if (!err)
			err = space_init(&nb->space[0], prior, NPBPF_ID_FIRST_POD, nb->o.pod_limit,
				 prior ? prior->next_pod_id : 0);
	if (!err)
		err = space_init(&nb->space[1], prior, NPBPF_ID_FIRST_CIDR, nb->o.cidr_limit,
				 prior ? prior->next_cidr_id : 0);
	nb->next_pod_id = nb->space[0].hw;
	nb->next_cidr_id = nb->space[1].hw;
	return err;
}

/* The number the prior has for key, when this compile may keep it: in the
 * key's space, below its limit, and not another key's already (two keys
 * with one number: a corrupt record, the second key gets a new one). */
static int known_number(struct numbering *nb, const void *key, size_t len, int s, uint32_t *id)
{
	const struct number_space *sp = &nb->space[s];
	uint32_t m;
	int ret;

	if (!nb->prior || !hmap_get(&nb->prior->keys, key, len, &m) ||
	    (int)NPBPF_ID_IS_CIDR(m) != s || m >= sp->limit)
		return 0;
	ret = hmap_insert(&nb->wanted, &m, sizeof(m), 1, NULL);
	if (ret == 1)
		*id = m;
	return ret < 0 ? ret : 0;
}

int numbering_identity(struct numbering *nb, const void *key, size_t len, bool cidr_range,
		       uint32_t *id)
{
	int s = cidr_range ? 1 : 0;
	struct number_space *sp = &nb->space[s];
	int err;

	*id = NUMBER_NONE;
	err = known_number(nb, key, len, s, id);
	if (err)
		return err;
	if (*id == NUMBER_NONE) {
		*id = space_alloc(sp);
		if (*id == NUMBER_NONE) {
			nb->lost++;
			return 0;
		}
		if (hmap_insert(&nb->wanted, id, sizeof(*id), 1, NULL) < 0)
			return -ENOMEM;
		nb->ids_new++;
		nb->ids_reused += *id < sp->hw;
	}
	if (*id >= sp->hw)
		sp->hw = *id + 1;
	nb->next_pod_id = nb->space[0].hw;
	nb->next_cidr_id = nb->space[1].hw;
	return 0;
}

size_t numbering_policy_name(const struct np_policy *p, char *buf, size_t len)
{
	/* snprintf's "%s/%s", truncated the same way, without printf: a
	 * compile names every policy. */
	size_t a = strlen(p->ns), b = strlen(p->name), n;

	if (!len)
		return 0;
	n = a < len - 1 ? a : len - 1;
	memcpy(buf, p->ns, n);
	if (n < len - 1)
		buf[n++] = '/';
	if (b > len - 1 - n)
		b = len - 1 - n;
	memcpy(buf + n, p->name, b);
	n += b;
	buf[n] = '\0';
	return n;
}

/* Past the last number: the lowest number no name of the prior holds, no
 * entry of it credits and no policy of this compile has, or NUMBER_NONE. */
static uint32_t reuse_policy_number(struct numbering *nb, const struct hmap *by_number,
				    const struct hmap *given, uint32_t *from)
{
	for (uint32_t id = *from; id < nb->o.policy_limit; id++) {
		if (hmap_get(by_number, &id, sizeof(id), NULL) ||
		    hmap_get(given, &id, sizeof(id), NULL) ||
		    (nb->prior && hmap_get(&nb->prior->policy_refs, &id, sizeof(id), NULL)))
			continue;
		*from = id + 1;
		return id;
	}
	*from = nb->o.policy_limit;
	return NUMBER_NONE;
}

/* Policy numbers the prior's names hold, and the next never handed out. */
static int prior_policy_numbers(struct numbering *nb, struct hmap *by_number)
{
	const struct hmap *names = nb->prior ? &nb->prior->policies : NULL;

	nb->next_policy = nb->prior ? nb->prior->next_policy : 0;
	for (size_t i = 0; names && i < names->n_slots; i++) {
		uint32_t id = names->slots[i].value;

		if (!names->slots[i].hash)
			continue;
		if (hmap_insert(by_number, &id, sizeof(id), 1, NULL) < 0)
			return -ENOMEM;
		if (id < nb->o.policy_limit && id >= nb->next_policy)
			nb->next_policy = id + 1;
	}
	return 0;
}

int numbering_policies(struct numbering *nb, const struct np_cluster *c)
{
	struct hmap by_number, given;
	uint32_t reuse_from = 0;
	char name[512];
	int err;

	nb->policy = calloc(c->n_policies ? c->n_policies : 1, sizeof(*nb->policy));
	if (!nb->policy)
		return -ENOMEM;
	hmap_init(&by_number);
	hmap_init(&given);
	err = hmap_reserve(&given, c->n_policies, 4 * c->n_policies);
	if (!err && nb->prior)
		err = hmap_reserve(&by_number, nb->prior->policies.n_used,
				   4 * nb->prior->policies.n_used);
	if (!err)
		err = prior_policy_numbers(nb, &by_number);
	for (size_t p = 0; !err && p < c->n_policies; p++) {
		size_t len = numbering_policy_name(&c->policies[p], name, sizeof(name));
		uint32_t *num = &nb->policy[p];

		if (!nb->prior || !hmap_get(&nb->prior->policies, name, len, num)) {
			if (nb->next_policy < nb->o.policy_limit)
				*num = nb->next_policy++;
			else
				*num = reuse_policy_number(nb, &by_number, &given, &reuse_from);
		}
		if (*num == NUMBER_NONE) {
			log_error("out of policy numbers: every number below %u is in use",
				  nb->o.policy_limit);
			err = -ENOSPC;
		} else if (hmap_insert(&given, num, sizeof(*num), 1, NULL) < 0) {
			err = -ENOMEM;
		}
	}
	hmap_free(&by_number);
	hmap_free(&given);
	return err;
}

int numbering_finish(struct numbering *nb)
{
	const struct numbering_prior *p = nb->prior;
	uint64_t now = nb->o.now_ns;

	for (size_t i = 0; p && i < p->n_held; i++) {
		const struct number_held *h = &p->held[i];
		struct numbering_retired *r;
		uint64_t since = now;

		if (hmap_get(&nb->wanted, &h->id, sizeof(h->id), NULL))
			continue;
		if (!(h->flags & NUMBER_RETIRED)) {
			nb->ids_retired++;
		} else if (!(h->flags & NUMBER_REFERENCED)) {
			since = h->retired_ns;
			if (since <= now && now - since >= nb->o.quarantine_ns) {
				nb->ids_expired++;
				continue;
			}
		}
		r = VEC_PUSH(nb->retired, nb->n_retired, nb->cap_retired);
		if (!r)
			return -ENOMEM;
		r->id = h->id;
		r->since_ns = since;
	}
	nb->prior = NULL; /* read no more: the caller may free it */
	return 0;
}

void numbering_free(struct numbering *nb)
{
	if (!nb)
		return;
	hmap_free(&nb->wanted);
	free(nb->space[0].taken);
	free(nb->space[1].taken);
	free(nb->policy);
	free(nb->retired);
	memset(nb, 0, sizeof(*nb));
}
