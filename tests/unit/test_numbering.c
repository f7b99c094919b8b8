/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity and policy numbers in the engine (numbering.c): a compile against
 * a prior state given as plain data. The same guarantees through the map
 * sync and its pinned records are in test_mapsync.c; here the numbering is
 * alone: stable numbers, the quarantine, reuse after it, exhaustion, policy
 * numbers by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine_fixture.h"

#define NS(n) "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " n "\n---\n"
#define POD(p, app, ip)                                                                            \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " p "\n  namespace: prod\n  labels:\n"      \
	"    app: " app "\nstatus:\n  podIP: " ip "\n---\n"
#define POLICY(name, spec)                                                                         \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " name          \
	"\n  namespace: prod\nspec:\n" spec "\n---\n"
#define P_DENY POLICY("deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]")
#define P_WEB POLICY("web-in", "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - {}")
#define P_BLOCK(name, cidr)                                                                        \
	POLICY(name, "  podSelector: {matchLabels: {app: web}}\n  egress:\n  - to:\n"              \
		     "    - ipBlock: {cidr: " cidr "}")

#define WEB_API NS("prod") POD("web-1", "web", "198.18.0.1") POD("api-1", "api", "198.18.0.2")

static const uint64_t T0 = 1000000;

/* A state as a sync leaves it after compile cp, at now: every numbered
 * identity's key, the numbers cp retired (their keys as prior had them),
 * every number a table refers to, the policy names. */
static void state_after(const struct engine *en, const struct numbering_prior *before,
			struct numbering_prior *after)
{
	const struct identities *idt = &en->cp.idn;
	const struct numbering *nb = &en->cp.numbering;

	numbering_prior_init(after);
	after->next_pod_id = nb->next_pod_id;
	after->next_cidr_id = nb->next_cidr_id;
	after->next_policy = nb->next_policy;
	for (size_t i = 0; i < idt->n_ids; i++) {
		const struct identity *idn = &idt->ids[i];
		size_t len;
		const void *key;

		if (idn->kind == IDENTITY_RESERVED || idn->id == NUMBER_NONE)
			continue;
		key = identity_key(idt, idn, &len);
		cr_assert_eq(numbering_prior_key(after, key, len, idn->id), 0);
		cr_assert_eq(numbering_prior_hold(after, idn->id, NUMBER_REFERENCED, 0), 0);
	}
	for (size_t i = 0; i < nb->n_retired; i++) {
		const struct numbering_retired *r = &nb->retired[i];

		cr_assert_eq(numbering_prior_hold(after, r->id, NUMBER_RETIRED, r->since_ns), 0);
		for (size_t s = 0; before && s < before->keys.n_slots; s++) {
			const struct hmap_slot *sl = &before->keys.slots[s];

			if (sl->hash && sl->value == r->id)
				cr_assert_eq(numbering_prior_key(after, before->keys.keys + sl->key_off,
								 sl->key_len, r->id),
					     0);
		}
	}
	for (size_t p = 0; p < en->c.n_policies; p++) {
		char name[512];
		size_t len = numbering_policy_name(&en->c.policies[p], name, sizeof(name));

		cr_assert_eq(numbering_prior_policy(after, name, len, nb->policy[p]), 0);
	}
}

/* A history of compiles, each against the state the previous one left. */
struct history {
	struct engine en;
	bool loaded;
	struct numbering_prior prior;
	struct numbering_opts o;
};

static struct history h;

static void setup(void)
{
	memset(&h, 0, sizeof(h));
	numbering_prior_init(&h.prior);
	h.o.now_ns = T0;
}

static void teardown(void)
{
	if (h.loaded)
		engine_free(&h.en);
	numbering_prior_free(&h.prior);
}

TestSuite(numbering, .init = setup, .fini = teardown);

/* Compiles yaml against the current state; the state moves on. */
static const struct compiled *step(const char *yaml)
{
	struct compile_opts opts = { .prior = &h.prior, .numbering = &h.o };
	struct numbering_prior next;

	if (h.loaded)
		engine_free(&h.en);
	engine_load_opts(&h.en, yaml, &opts);
	h.loaded = true;
	state_after(&h.en, &h.prior, &next);
	numbering_prior_free(&h.prior);
	h.prior = next;
	return &h.en.cp;
}

static uint32_t id_of(const char *addr)
{
	struct np_addr a;

	cr_assert_eq(addr_parse(addr, false, &a), 0);
	return compiled_addr_identity(&h.en.cp, &a);
}

static bool retired(const struct compiled *cp, uint32_t id, uint64_t *since)
{
	for (size_t i = 0; i < cp->numbering.n_retired; i++) {
		if (cp->numbering.retired[i].id == id) {
			if (since)
				*since = cp->numbering.retired[i].since_ns;
			return true;
		}
	}
	return false;
}

static const char *policy_name_of(const struct compiled *cp, uint32_t number)
{
	const struct np_policy *p = compiled_policy(cp, number);

	return p ? p->name : "";
}

Test(numbering, without_a_prior_numbers_follow_creation_order)
{
	const struct compiled *cp = step(WEB_API P_DENY P_WEB P_BLOCK("out", "203.0.113.0/24"));

	/* The cluster lists pods by namespace and name: api-1 first. */
	cr_assert_eq(id_of("198.18.0.2"), NPBPF_ID_FIRST_POD);
	cr_assert_eq(id_of("198.18.0.1"), NPBPF_ID_FIRST_POD + 1);
	cr_assert_eq(id_of("203.0.113.9"), NPBPF_ID_FIRST_CIDR);
	for (size_t p = 0; p < h.en.c.n_policies; p++)
		cr_assert_eq(cp->numbering.policy[p], p, "policies numbered by their index");
	cr_assert_eq(cp->numbering.ids_new, 3);
	cr_assert_eq(cp->numbering.n_retired, 0);
	/* The tables carry the numbers: an entry credits web-in by its
	 * number. */
	cr_assert_str_eq(policy_name_of(cp, cp->entries[0].value.policy), "web-in");
}

Test(numbering, known_keys_keep_their_numbers_across_restarts)
{
	uint32_t web, api;
	const struct compiled *cp;

	step(WEB_API P_DENY);
	web = id_of("198.18.0.1");
	api = id_of("198.18.0.2");
	/* The same cluster against the state it left: same numbers, nothing
	 * handed out or retired (an agent restart). */
	cp = step(WEB_API P_DENY);
	cr_assert_eq(id_of("198.18.0.1"), web);
	cr_assert_eq(id_of("198.18.0.2"), api);
	cr_assert_eq(cp->numbering.ids_new, 0);
	cr_assert_eq(cp->numbering.ids_retired, 0);
	cr_assert_eq(cp->numbering.n_retired, 0);
	/* A new pod listed first takes a new number; the others keep theirs. */
	cp = step(NS("prod") POD("db-1", "db", "198.18.0.3") POD("web-1", "web", "198.18.0.1")
			  POD("api-1", "api", "198.18.0.2") P_DENY);
	cr_assert_eq(id_of("198.18.0.1"), web);
	cr_assert_eq(id_of("198.18.0.2"), api);
	cr_assert_eq(id_of("198.18.0.3"), NPBPF_ID_FIRST_POD + 2);
	cr_assert_eq(cp->numbering.ids_new, 1);
}

/* A relabelled pod: a new number for its new label set, the old one into
 * quarantine, not handed out again until the quarantine has passed, and
 * given back to its key if that comes back within it. */
Test(numbering, retired_numbers_wait_out_their_quarantine)
{
	uint32_t web, api, cache, queue;
	const struct compiled *cp;
	uint64_t since;

	step(WEB_API P_DENY);
	web = id_of("198.18.0.1");
	api = id_of("198.18.0.2");
	cp = step(NS("prod") POD("web-1", "web", "198.18.0.1") POD("api-1", "cache", "198.18.0.2")
			  P_DENY);
	cache = id_of("198.18.0.2");
	cr_assert_neq(cache, api, "relabelled: another number");
	cr_assert_gt(cache, api, "api's number is in quarantine, not free");
	cr_assert(retired(cp, api, &since));
	cr_assert_eq(since, T0, "retired now");
	cr_assert_eq(cp->numbering.ids_retired, 1);
	cr_assert_eq(cp->numbering.ids_new, 1);

	/* Half the quarantine later, api comes back: its number, and cache's
	 * goes into quarantine. */
	h.o.now_ns += NUMBERING_QUARANTINE_NS / 2;
	cp = step(WEB_API P_DENY);
	cr_assert_eq(id_of("198.18.0.2"), api);
	cr_assert_not(retired(cp, api, NULL));
	cr_assert(retired(cp, cache, &since));
	cr_assert_eq(since, h.o.now_ns);

	/* Not yet expired: another new key does not get it. */
	h.o.now_ns += NUMBERING_QUARANTINE_NS / 2;
	step(WEB_API POD("queue-1", "queue", "198.18.0.4") P_DENY);
	queue = id_of("198.18.0.4");
	cr_assert_neq(queue, cache, "a number in quarantine is not handed out");

	/* Once it has passed: cache's number expires (still not handed out in
	 * that compile: the state still holds its records), then it is the
	 * lowest free number. */
	h.o.now_ns += NUMBERING_QUARANTINE_NS;
	cp = step(WEB_API POD("queue-1", "queue", "198.18.0.4") P_DENY);
	cr_assert_eq(cp->numbering.ids_expired, 1);
	cr_assert_not(retired(cp, cache, NULL));
	cp = step(WEB_API POD("queue-1", "queue", "198.18.0.4")
			  POD("batch-1", "batch", "198.18.0.5") P_DENY);
	cr_assert_eq(id_of("198.18.0.5"), cache, "reused after its quarantine");
	cr_assert_eq(cp->numbering.ids_reused, 1);
	(void)web;
}

/* A number a table still refers to (a failed sync left it there) stays in
 * quarantine from now on, whenever it was retired. */
Test(numbering, a_referenced_number_renews_its_quarantine)
{
	const struct compiled *cp;
	uint64_t since;
	uint32_t api;

	step(WEB_API P_DENY);
	api = id_of("198.18.0.2");
	step(NS("prod") POD("web-1", "web", "198.18.0.1") P_DENY);
	cr_assert_eq(numbering_prior_hold(&h.prior, api, NUMBER_REFERENCED, 0), 0);
	h.o.now_ns += 2 * NUMBERING_QUARANTINE_NS;
	cp = step(NS("prod") POD("web-1", "web", "198.18.0.1") P_DENY);
	cr_assert(retired(cp, api, &since), "not expired while referenced");
	cr_assert_eq(since, h.o.now_ns);
	cr_assert_eq(cp->numbering.ids_expired, 0);
}

/* Too few numbers: the identity left without one is in no table; its pod
 * is judged by the isolated record, its address is no pod's. */
Test(numbering, exhausted_identity_numbers_isolate_their_pods)
{
	const struct compiled *cp;
	const struct npbpf_subject *iso;
	uint32_t isolated = 0;

	h.o.pod_limit = NPBPF_ID_FIRST_POD + 1;
	cp = step(WEB_API P_DENY);
	cr_assert_eq(cp->numbering.lost, 1);
	for (size_t i = 0; i < cp->n_endpoints; i++) {
		const struct compiled_endpoint *ep = &cp->endpoints[i];

		if (ep->value.identity != NPBPF_ID_ISOLATED)
			continue;
		isolated++;
		cr_assert_eq(compiled_addr_identity(cp, &ep->pod->addrs[0]), NPBPF_ID_WORLD,
			     "the unnumbered pod's address is no pod's");
	}
	cr_assert_eq(isolated, 1);
	cr_assert_eq(cp->idn.n_ipc_host, 1, "only the numbered pod's address");
	iso = compiled_subject(cp, NPBPF_ID_ISOLATED);
	cr_assert_not_null(iso);
	cr_assert_eq(iso->isolated, 3);
	cr_assert_eq(iso->forms[0] | iso->forms[1], 0);
	cr_assert_not(engine_allows(&h.en, "prod/api-1", "prod/web-1", TCP, 80));
	for (size_t i = 0; i < cp->n_entries; i++)
		cr_assert_neq(cp->entries[i].key.subject, NUMBER_NONE);
}

/* A CIDR-range identity without a number: its addresses would fall to a
 * shorter prefix, which may admit what the missing one excepted, so the
 * pods with rules towards regions are isolated too. */
Test(numbering, exhausted_cidr_numbers_isolate_pods_with_region_rules)
{
	const struct compiled *cp;

	h.o.cidr_limit = NPBPF_ID_FIRST_CIDR + 1;
	cp = step(WEB_API P_DENY
		  POLICY("out", "  podSelector: {matchLabels: {app: web}}\n  egress:\n  - to:\n"
				"    - ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}"));
	cr_assert_eq(cp->numbering.lost, 1);
	cr_assert(cp->idn.region_lost);
	for (size_t i = 0; i < cp->n_endpoints; i++) {
		bool web = !strcmp(cp->endpoints[i].pod->name, "web-1");

		cr_assert_eq(cp->endpoints[i].value.identity == NPBPF_ID_ISOLATED, web,
			     "%s: isolated when it has rules towards regions",
			     cp->endpoints[i].pod->name);
	}
}

Test(numbering, policy_numbers_stay_with_their_names)
{
	const struct compiled *cp;

	cp = step(WEB_API P_WEB POLICY("api-in", "  podSelector: {matchLabels: {app: api}}"));
	cr_assert_eq(cp->numbering.policy[0], 0);
	cr_assert_eq(cp->numbering.policy[1], 1);
	/* A new policy sorted first, and one removed: the others keep theirs,
	 * the new one takes a number never handed out. */
	cp = step(WEB_API P_DENY POLICY("api-in", "  podSelector: {matchLabels: {app: api}}"));
	cr_assert_eq(cp->numbering.policy[0], 2, "deny: a new number");
	cr_assert_eq(cp->numbering.policy[1], 1, "api-in keeps its number");
	cp = step(WEB_API P_DENY POLICY("api-in", "  podSelector: {matchLabels: {app: api}}")
			  P_WEB);
	cr_assert_eq(cp->numbering.policy[2], 3, "a removed number is not handed out again");
}

/* Past the last number: the lowest number no name holds and no entry
 * credits is handed out again. */
Test(numbering, policy_numbers_are_reused_past_the_limit)
{
	const char *yaml = WEB_API POLICY("api-in", "  podSelector: {matchLabels: {app: api}}")
		P_BLOCK("out", "203.0.113.0/24");
	struct compile_opts opts = { .prior = &h.prior, .numbering = &h.o };
	const struct compiled *cp;
	struct engine en;

	h.o.policy_limit = 3;
	step(WEB_API P_DENY P_WEB);
	cp = step(WEB_API P_DENY POLICY("api-in", "  podSelector: {matchLabels: {app: api}}"));
	cr_assert_eq(cp->numbering.policy[1], 2);
	/* web-in's 1 is free again, unless an entry still credits it. */
	cr_assert_eq(numbering_prior_policy_ref(&h.prior, 1), 0);
	cluster_init(&en.c);
	cr_assert_eq(manifest_load_buffer(&en.c, "test.yaml", yaml, strlen(yaml)), 0);
	cr_assert_eq(compile_cluster(&en.c, &opts, &en.cp), -ENOSPC, "0, 1 and 2 are taken");
	cluster_free(&en.c);
	step(WEB_API P_DENY POLICY("api-in", "  podSelector: {matchLabels: {app: api}}"));
	cp = step(yaml);
	cr_assert_eq(cp->numbering.policy[0], 2, "api-in keeps its number");
	cr_assert_eq(cp->numbering.policy[1], 1, "deny still holds 0: 1 is the lowest free");
}

/* Two keys with one number (a corrupt record): the first keeps it, the
 * second gets a new one. */
Test(numbering, one_number_for_two_keys_goes_to_the_first)
{
	struct numbering_prior p;
	uint32_t web;

	step(WEB_API);
	web = id_of("198.18.0.1");
	numbering_prior_init(&p);
	for (size_t i = 0; i < h.en.cp.idn.n_ids; i++) {
		const struct identity *idn = &h.en.cp.idn.ids[i];
		size_t len;
		const void *key;

		if (idn->kind == IDENTITY_RESERVED)
			continue;
		key = identity_key(&h.en.cp.idn, idn, &len);
		cr_assert_eq(numbering_prior_key(&p, key, len, web), 0);
	}
	numbering_prior_free(&h.prior);
	h.prior = p;
	step(NS("prod") POD("api-1", "api", "198.18.0.2") POD("web-1", "web", "198.18.0.1"));
	cr_assert_eq(id_of("198.18.0.2"), web, "the first key in the compile keeps it");
	cr_assert_neq(id_of("198.18.0.1"), web, "the second gets a new number");
}

/* The fingerprint a sync checks: what a state holds, whatever the order it
 * was read in. */
Test(numbering, the_digest_is_of_the_content)
{
	struct numbering_prior a, b;

	numbering_prior_init(&a);
	numbering_prior_init(&b);
	cr_assert_eq(numbering_prior_digest(NULL), numbering_prior_digest(&a));
	cr_assert_eq(numbering_prior_key(&a, "k1", 2, 300), 0);
	cr_assert_eq(numbering_prior_key(&a, "k2", 2, 301), 0);
	cr_assert_eq(numbering_prior_hold(&a, 302, NUMBER_RETIRED, 7), 0);
	cr_assert_eq(numbering_prior_hold(&b, 302, NUMBER_RETIRED, 7), 0);
	cr_assert_eq(numbering_prior_key(&b, "k2", 2, 301), 0);
	cr_assert_eq(numbering_prior_key(&b, "k1", 2, 300), 0);
	cr_assert_eq(numbering_prior_digest(&a), numbering_prior_digest(&b));
	cr_assert_eq(numbering_prior_hold(&b, 302, NUMBER_REFERENCED, 0), 0);
	cr_assert_neq(numbering_prior_digest(&a), numbering_prior_digest(&b));
	cr_assert_neq(numbering_prior_digest(&a), numbering_prior_digest(NULL));
	/* The sync's own numbers and reserved ones are nobody's. */
	cr_assert_eq(numbering_prior_hold(&a, NPBPF_ID_ISOLATED, NUMBER_REFERENCED, 0), 0);
	cr_assert_eq(numbering_prior_hold(&a, NPBPF_ID_WORLD, NUMBER_REFERENCED, 0), 0);
	cr_assert_eq(a.n_held, 3);
	numbering_prior_free(&a);
	numbering_prior_free(&b);
}
