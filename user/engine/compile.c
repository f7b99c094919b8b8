/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy compilation, second half: every rule of every policy becomes policy
 * entries keyed by (subject identity, direction, peer identity, protocol,
 * port). Entries are computed per identity, never per pod, so the table grows
 * with distinct label sets, not with replicas.
 */
#include "compile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "selector.h"
#include "vec.h"

/* Peer identities of one rule; any = the rule has no from/to. */
struct peerset {
	uint32_t *ids;
	size_t n, cap;
	bool any;
	bool cluster; /* a peer selects every pod (namespaceSelector: {}, no pod selector) */
	uint32_t *seen;  /* per ids index: generation that added it */
	uint32_t gen;
};

/* Identities grouped by namespace (index into cluster namespaces). */
struct ns_index {
	size_t *start; /* n_namespaces + 1 offsets into idx */
	uint32_t *idx; /* indexes into identities.ids */
};

/* A subject isolated by a policy in a direction, in the order compile_policy
 * finds them (policy order). */
struct isolator {
	uint32_t subject; /* index in subjects */
	uint32_t dir;
	uint32_t policy;  /* its number */
};

/* Rules' peer sets worked out once per compile: policies repeat the same
 * from/to (the same namespace and pod selectors in many policies), and
 * matching them against every namespace and identity was a third of a
 * compile. Keyed by the rule's peers as bytes (peer_key), plus the
 * policy's namespace when a peer selects pods there. */
struct peer_memo {
	struct hmap index;  /* peer_key bytes -> index in sets */
	struct peer_memo_set {
		size_t off, n; /* in ids */
		bool cluster;
	} *sets;
	size_t n_sets, cap_sets;
	uint32_t *ids; /* identity indexes, back to back */
	size_t n_ids, cap_ids;
	char *key; /* the key being built */
	size_t key_len, key_cap;
	size_t hits, misses;
	/* Namespace selectors likewise: mk_selector bytes -> index in ns_sets,
	 * each a run of namespace indexes in ns_idx. */
	struct hmap ns_index;
	struct peer_memo_set *ns_sets;
	size_t n_ns_sets, cap_ns_sets;
	uint32_t *ns_idx;
	size_t n_ns_idx, cap_ns_idx;
	/* The namespaces by label: "key\0value\0" -> index in by_label, a run
	 * of namespace indexes (ascending) in label_ns. Built on first use. */
	bool labels_built;
	struct hmap label_index;
	struct peer_memo_set *by_label;
	size_t n_by_label, cap_by_label;
	uint32_t *label_ns;
	uint32_t *cand; /* in_candidates' scratch */
	size_t cap_cand;
};

struct compile_ctx {
	struct compiled *cp;
	const struct identities *idn;
	struct ns_index by_ns;
	struct peerset peers;
	struct peer_memo memo;
	uint32_t *regioned; /* ids indexes of numbered identities with a region */
	size_t n_regioned;
	struct isolator *isolators;
	size_t n_isolators, cap_isolators;
	uint32_t *selected; /* compile_policy: the subjects (ids indexes) it selects */
	size_t cap_selected;
	bool local_only; /* compile_opts.local_subjects_only */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Whether tables are made for identity idn as a subject. */
static bool is_subject(const struct compile_ctx *x, const struct identity *idn)
{
	return idn->subject && (!x->local_only || idn->local_subject);
}

static size_t ns_pos(const struct np_cluster *c, const struct np_namespace *ns)
{
	return (size_t)(ns - c->namespaces);
}

/* Identities without a number are in no table: no entry names them, as
 * subject or as peer. */
static bool numbered(const struct identity *idn)
{
	return idn->id != NUMBER_NONE;
}

static int build_ns_index(struct compile_ctx *x)
{
	const struct identities *idn = x->idn;
	size_t n_ns = x->cp->cluster->n_namespaces;
	size_t *fill;

	x->by_ns.start = calloc(n_ns + 1, sizeof(size_t));
	x->by_ns.idx = calloc(idn->n_ids ? idn->n_ids : 1, sizeof(uint32_t));
	x->regioned = calloc(idn->n_ids ? idn->n_ids : 1, sizeof(uint32_t));
	fill = calloc(n_ns + 1, sizeof(size_t));
	if (!x->by_ns.start || !x->by_ns.idx || !x->regioned || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (size_t i = 0; i < idn->n_ids; i++) {
		if (!numbered(&idn->ids[i]))
			continue;
		if (idn->ids[i].kind == IDENTITY_POD)
			x->by_ns.start[ns_pos(idn->cluster, idn->ids[i].ns) + 1]++;
		if (idn->ids[i].region.family)
			x->regioned[x->n_regioned++] = (uint32_t)i;
	}
	for (size_t j = 0; j < n_ns; j++)
		x->by_ns.start[j + 1] += x->by_ns.start[j];
	for (size_t i = 0; i < idn->n_ids; i++) {
		size_t j;

		if (idn->ids[i].kind != IDENTITY_POD || !numbered(&idn->ids[i]))
			continue;
		j = ns_pos(idn->cluster, idn->ids[i].ns);
		x->by_ns.idx[x->by_ns.start[j] + fill[j]++] = (uint32_t)i;
	}
	free(fill);
	return 0;
}

static int peer_add(struct peerset *ps, uint32_t idx)
{
	uint32_t *slot;

	if (ps->seen[idx] == ps->gen)
		return 0;
	ps->seen[idx] = ps->gen;
	slot = VEC_PUSH(ps->ids, ps->n, ps->cap);
	if (!slot)
		return -ENOMEM;
	*slot = idx;
	return 0;
}

static int peers_in_ns(struct compile_ctx *x, size_t j, const struct np_peer *peer)
{
	for (size_t k = x->by_ns.start[j]; k < x->by_ns.start[j + 1]; k++) {
		uint32_t idx = x->by_ns.idx[k];
		int err;

		if (peer->has_pod_sel &&
		    !selector_matches(&peer->pod_sel, &x->idn->ids[idx].pod->labels))
			continue;
		err = peer_add(&x->peers, idx);
		if (err)
			return err;
	}
	return 0;
}

/* Every identity whose region the block admits: pods, CIDR regions, and
 * the host by the region of each of its addresses (never a whole node: a
 * block that covers one address of a node admits that address only). */
static int peers_ipblock(struct compile_ctx *x, const struct np_ipblock *b)
{
	int err = 0;

	for (size_t k = 0; !err && k < x->n_regioned; k++) {
		uint32_t idx = x->regioned[k];

		if (identity_in_ipblock(&x->idn->ids[idx], b))
			err = peer_add(&x->peers, idx);
	}
	return err;
}

/* With a CLUSTER wildcard in the rule, single pod identities add nothing. */
static void drop_pod_peers(struct compile_ctx *x)
{
	struct peerset *ps = &x->peers;
	size_t kept = 0;

	for (size_t i = 0; i < ps->n; i++) {
		if (x->idn->ids[ps->ids[i]].kind != IDENTITY_POD)
			ps->ids[kept++] = ps->ids[i];
	}
	ps->n = kept;
}

static int mk_put(struct peer_memo *m, const void *data, size_t len)
{
	if (m->key_len + len > m->key_cap) {
		size_t cap = m->key_cap ? m->key_cap : 256;
		char *p;

		while (cap < m->key_len + len)
			cap *= 2;
		p = realloc(m->key, cap);
		if (!p)
			return -ENOMEM;
		m->key = p;
		m->key_cap = cap;
	}
	memcpy(m->key + m->key_len, data, len);
	m->key_len += len;
	return 0;
}

static int mk_str(struct peer_memo *m, const char *s)
{
	return mk_put(m, s, strlen(s) + 1);
}

static int mk_size(struct peer_memo *m, size_t n)
{
	return mk_put(m, &n, sizeof(n));
}

/* A selector as bytes: counts first, so no two selectors share bytes. */
static int mk_selector(struct peer_memo *m, const struct np_selector *sel)
{
	int err = mk_size(m, sel->match.n);

	err = err ? err : mk_size(m, sel->n_exprs);
	for (size_t i = 0; !err && i < sel->match.n; i++) {
		err = mk_str(m, sel->match.v[i].key);
		err = err ? err : mk_str(m, sel->match.v[i].value);
	}
	for (size_t i = 0; !err && i < sel->n_exprs; i++) {
		const struct np_expr *e = &sel->exprs[i];
		uint32_t op = (uint32_t)e->op;

		err = mk_put(m, &op, sizeof(op));
		err = err ? err : mk_size(m, e->n_values);
		err = err ? err : mk_str(m, e->key);
		for (size_t v = 0; !err && v < e->n_values; v++)
			err = mk_str(m, e->values[v]);
	}
	return err;
}

/* What rule_peers_compute depends on, as bytes: the rule's peers, and the
 * policy's namespace when a peer selects pods in it. */
static int peer_key(struct peer_memo *m, const struct np_policy *pol, const struct np_rule *rule)
{
	bool own_ns = false;
	int err;

	m->key_len = 0;
	err = mk_size(m, rule->n_peers);
	for (size_t i = 0; !err && i < rule->n_peers; i++) {
		const struct np_peer *peer = &rule->peers[i];
		uint8_t has = (uint8_t)(peer->has_ipblock | peer->has_ns_sel << 1 |
					peer->has_pod_sel << 2);

		err = mk_put(m, &has, 1);
		if (!err && peer->has_ipblock) {
			err = mk_put(m, &peer->ipblock.cidr, sizeof(peer->ipblock.cidr));
			err = err ? err : mk_size(m, peer->ipblock.n_except);
			for (size_t e = 0; !err && e < peer->ipblock.n_except; e++)
				err = mk_put(m, &peer->ipblock.except[e],
					     sizeof(peer->ipblock.except[e]));
			continue;
		}
		if (!err && peer->has_ns_sel)
			err = mk_selector(m, &peer->ns_sel);
		if (!err && peer->has_pod_sel)
			err = mk_selector(m, &peer->pod_sel);
		own_ns |= !peer->has_ns_sel;
	}
	if (!err && own_ns)
		err = mk_str(m, pol->ns);
	return err;
}

/* "key\0value\0" into the memo's key buffer. */
static int label_key(struct peer_memo *m, const char *key, const char *value)
{
	m->key_len = 0;
	int err = mk_str(m, key);

	return err ? err : mk_str(m, value);
}

static int build_label_index(struct compile_ctx *x)
{
	const struct np_cluster *c = x->cp->cluster;
	struct peer_memo *m = &x->memo;
	size_t total = 0, off = 0;

	for (size_t j = 0; j < c->n_namespaces; j++) {
		const struct np_labels *l = &c->namespaces[j].labels;

		for (size_t i = 0; i < l->n; i++) {
			uint32_t idx = (uint32_t)m->n_by_label;
			struct peer_memo_set *run;
			int ret = label_key(m, l->v[i].key, l->v[i].value);

			if (!ret)
				ret = hmap_insert(&m->label_index, m->key, m->key_len, idx, &idx);
			if (ret < 0)
				return ret;
			if (ret == 1) {
				run = VEC_PUSH(m->by_label, m->n_by_label, m->cap_by_label);
				if (!run)
					return -ENOMEM;
			}
			m->by_label[idx].n++;
			total++;
		}
	}
	m->label_ns = calloc(total ? total : 1, sizeof(*m->label_ns));
	if (!m->label_ns)
		return -ENOMEM;
	for (size_t r = 0; r < m->n_by_label; r++) {
		m->by_label[r].off = off;
		off += m->by_label[r].n;
		m->by_label[r].n = 0;
	}
	for (size_t j = 0; j < c->n_namespaces; j++) {
		const struct np_labels *l = &c->namespaces[j].labels;

		for (size_t i = 0; i < l->n; i++) {
			uint32_t idx;
			struct peer_memo_set *run;
			int ret = label_key(m, l->v[i].key, l->v[i].value);

			if (ret)
				return ret;
			if (!hmap_get(&m->label_index, m->key, m->key_len, &idx))
				return -EINVAL; /* cannot happen: inserted above */
			run = &m->by_label[idx];
			m->label_ns[run->off + run->n++] = (uint32_t)j;
		}
	}
	m->labels_built = true;
	return 0;
}

/* The namespaces that carry key=value, ascending. */
static int label_run(struct peer_memo *m, const char *key, const char *value,
		     const uint32_t **run, size_t *n)
{
	uint32_t idx;
	int err = label_key(m, key, value);

	if (err)
		return err;
	*run = m->label_ns;
	*n = 0;
	if (hmap_get(&m->label_index, m->key, m->key_len, &idx)) {
		*run = m->label_ns + m->by_label[idx].off;
		*n = m->by_label[idx].n;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The namespaces that carry e's key with one of its values, ascending,
 * each once (a scratch array of the memo's). */
static int in_candidates(struct peer_memo *m, const struct np_expr *e, const uint32_t **out,
			 size_t *n_out)
{
	size_t n = 0;

	for (size_t v = 0; v < e->n_values; v++) {
		const uint32_t *run;
		size_t n_run;
		int err = label_run(m, e->key, e->values[v], &run, &n_run);

		if (err)
			return err;
		if (n + n_run > m->cap_cand) {
			size_t cap = m->cap_cand ? m->cap_cand : 64;
			uint32_t *p;

			while (cap < n + n_run)
				cap *= 2;
			p = realloc(m->cand, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			m->cand = p;
			m->cap_cand = cap;
		}
		if (n_run)
			memcpy(m->cand + n, run, n_run * sizeof(*run));
		n += n_run;
	}
	if (e->n_values > 1 && n > 1) {
		size_t kept = 1;

		qsort(m->cand, n, sizeof(*m->cand), cmp_u32);
		for (size_t i = 1; i < n; i++)
			if (m->cand[i] != m->cand[kept - 1])
				m->cand[kept++] = m->cand[i];
		n = kept;
	}
	*out = m->cand ? m->cand : m->label_ns;
	*n_out = n;
	return 0;
}

/* The namespaces sel matches, worked out once per compile for each distinct
 * selector (*out: a run in memo.ns_idx). 0 or -ENOMEM. */
static int ns_matches(struct compile_ctx *x, const struct np_selector *sel,
		      const struct peer_memo_set **out)
{
	const struct np_cluster *c = x->cp->cluster;
	struct peer_memo *m = &x->memo;
	struct peer_memo_set *set;
	uint32_t idx = (uint32_t)m->n_ns_sets;
	const uint32_t *cand = NULL; /* NULL: every namespace */
	size_t n_cand = c->n_namespaces;
	const struct np_expr *in = NULL;
	int ret;

	m->key_len = 0;
	ret = mk_selector(m, sel);
	if (!ret)
		ret = hmap_insert(&m->ns_index, m->key, m->key_len, idx, &idx);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		*out = &m->ns_sets[idx];
		return 0;
	}
	set = VEC_PUSH(m->ns_sets, m->n_ns_sets, m->cap_ns_sets);
	if (!set)
		return -ENOMEM;
	set->off = m->n_ns_idx;
	/* A matchLabels pair, or else an In expression, narrows the
	 * namespaces to look at to those that carry the label; in the same
	 * (ascending) order as a scan of all of them. */
	for (size_t i = 0; !in && i < sel->n_exprs; i++)
		if (sel->exprs[i].op == NP_OP_IN)
			in = &sel->exprs[i];
	if ((sel->match.n || in) && !m->labels_built) {
		ret = build_label_index(x);
		if (ret)
			return ret;
	}
	if (sel->match.n) {
		ret = label_run(m, sel->match.v[0].key, sel->match.v[0].value, &cand, &n_cand);
		if (ret)
			return ret;
	} else if (in) {
		ret = in_candidates(m, in, &cand, &n_cand);
		if (ret)
			return ret;
	}
	for (size_t k = 0; k < n_cand; k++) {
		size_t j = cand ? cand[k] : k;
		uint32_t *slot;

		if (!selector_matches(sel, &c->namespaces[j].labels))
			continue;
		slot = VEC_PUSH(m->ns_idx, m->n_ns_idx, m->cap_ns_idx);
		if (!slot)
			return -ENOMEM;
		*slot = (uint32_t)j;
	}
	set->n = m->n_ns_idx - set->off;
	*out = set;
	return 0;
}

/* Resolves a rule's from/to into identities. Namespace-less pod selectors
 * mean the policy's own namespace. */
static int rule_peers_compute(struct compile_ctx *x, const struct np_policy *pol,
			      const struct np_rule *rule)
{
	const struct np_cluster *c = x->cp->cluster;
	struct peerset *ps = &x->peers;
	int err = 0;

	ps->n = 0;
	ps->gen++;
	ps->any = rule->n_peers == 0;
	ps->cluster = false;
	for (size_t i = 0; !err && i < rule->n_peers; i++) {
		const struct np_peer *peer = &rule->peers[i];

		if (peer->has_ipblock) {
			err = peers_ipblock(x, &peer->ipblock);
		} else if (peer->has_ns_sel && selector_is_empty(&peer->ns_sel) &&
			   (!peer->has_pod_sel || selector_is_empty(&peer->pod_sel))) {
			ps->cluster = true;
		} else if (peer->has_ns_sel) {
			const struct peer_memo_set *set = NULL;

			err = ns_matches(x, &peer->ns_sel, &set);
			for (size_t k = 0; !err && k < set->n; k++)
				err = peers_in_ns(x, x->memo.ns_idx[set->off + k], peer);
		} else {
			const struct np_namespace *ns = cluster_find_ns(c, pol->ns);

			if (ns)
				err = peers_in_ns(x, ns_pos(c, ns), peer);
		}
	}
	if (!err && ps->cluster)
		drop_pod_peers(x);
	return err;
}

/* rule_peers_compute, once per distinct key: the result is the same
 * peerset (ids in the same order), so the entries are too. */
static int rule_peers(struct compile_ctx *x, const struct np_policy *pol,
		      const struct np_rule *rule)
{
	struct peer_memo *m = &x->memo;
	struct peerset *ps = &x->peers;
	struct peer_memo_set *set;
	uint32_t idx = (uint32_t)m->n_sets;
	int ret;

	if (rule->n_peers == 0) {
		ps->n = 0;
		ps->any = true;
		ps->cluster = false;
		return 0;
	}
	ret = peer_key(m, pol, rule);
	if (ret)
		return ret;
	ret = hmap_insert(&m->index, m->key, m->key_len, idx, &idx);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		set = &m->sets[idx];
		m->hits++;
		if (set->n > ps->cap) {
			uint32_t *p = realloc(ps->ids, set->n * sizeof(*p));

			if (!p)
				return -ENOMEM;
			ps->ids = p;
			ps->cap = set->n;
		}
		if (set->n)
			memcpy(ps->ids, m->ids + set->off, set->n * sizeof(*ps->ids));
		ps->n = set->n;
		ps->any = false;
		ps->cluster = set->cluster;
		return 0;
	}
	m->misses++;
	/* The key is in the index now: its set must follow, or the compile
	 * fails (every error here is ENOMEM, which fails it). */
	ret = rule_peers_compute(x, pol, rule);
	if (ret)
		return ret;
	set = VEC_PUSH(m->sets, m->n_sets, m->cap_sets);
	if (!set)
		return -ENOMEM;
	if (m->n_ids + ps->n > m->cap_ids) {
		size_t cap = m->cap_ids ? m->cap_ids : 1024;
		uint32_t *p;

		while (cap < m->n_ids + ps->n)
			cap *= 2;
		p = realloc(m->ids, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->ids = p;
		m->cap_ids = cap;
	}
	if (ps->n)
		memcpy(m->ids + m->n_ids, ps->ids, ps->n * sizeof(*ps->ids));
	set->off = m->n_ids;
	set->n = ps->n;
	set->cluster = ps->cluster;
	m->n_ids += ps->n;
	return 0;
}

static void peer_memo_free(struct peer_memo *m)
{
	hmap_free(&m->index);
	free(m->sets);
	free(m->ids);
	free(m->key);
	hmap_free(&m->ns_index);
	free(m->ns_sets);
	free(m->ns_idx);
	hmap_free(&m->label_index);
	free(m->by_label);
	free(m->label_ns);
	free(m->cand);
}

/* The index of id's subject record, added when missing; -ENOMEM. */
static long subject_slot(struct compiled *cp, uint32_t id)
{
	struct compiled_subject *s;
	uint32_t idx = (uint32_t)cp->n_subjects;
	int ret = hmap_insert(&cp->subject_index, &id, sizeof(id), idx, &idx);

	if (ret < 0)
		return ret;
	if (ret == 0)
		return idx;
	s = VEC_PUSH(cp->subjects, cp->n_subjects, cp->cap_subjects);
	if (!s)
		return -ENOMEM;
	s->id = id;
	return idx;
}

static struct npbpf_subject *subject_get(struct compiled *cp, uint32_t id)
{
	long idx = subject_slot(cp, id);

	return idx < 0 ? NULL : &cp->subjects[idx].s;
}

static unsigned form_shift(uint32_t peer)
{
	if (peer == NPBPF_ID_ANY)
		return NPBPF_FORM_SHIFT_ANY;
	return peer == NPBPF_ID_CLUSTER ? NPBPF_FORM_SHIFT_CLUSTER : NPBPF_FORM_SHIFT_PEER;
}

static uint16_t entry_form(uint32_t peer, uint8_t proto, uint16_t port)
{
	unsigned f = !proto ? NPBPF_FORM_ALL : port ? NPBPF_FORM_PORT : NPBPF_FORM_PROTO;

	return (uint16_t)(f << form_shift(peer));
}

/* Where a rule comes from, and for whom it is being emitted. */
struct origin {
	uint32_t subject;
	enum np_dir dir;
	uint32_t policy;
	uint16_t rule;
};

static int emit(struct compiled *cp, const struct origin *o, uint32_t peer, uint8_t proto,
		uint16_t port)
{
	struct npbpf_policy_key key;
	struct compiled_entry *e;
	struct npbpf_subject *s;
	int ret;

	memset(&key, 0, sizeof(key));
	key.subject = o->subject;
	key.peer = peer;
	key.proto = proto;
	key.dport = port;
	key.dir = (__u8)o->dir;
	ret = hmap_insert(&cp->entry_index, &key, sizeof(key), (uint32_t)cp->n_entries, NULL);
	if (ret <= 0)
		return ret; /* already allowed by an earlier rule: it keeps the credit */
	e = VEC_PUSH(cp->entries, cp->n_entries, cp->cap_entries);
	s = subject_get(cp, o->subject);
	if (!e || !s)
		return -ENOMEM;
	e->key = key;
	e->value.policy = o->policy;
	e->value.rule = o->rule;
	s->forms[o->dir] |= entry_form(peer, proto, port);
	return 0;
}

/* Cuts [lo, hi] into aligned power-of-two blocks: at most 2*16 of them. */
static int emit_range(struct compiled *cp, const struct origin *o, uint32_t peer, uint8_t proto,
		      uint32_t lo, uint32_t hi)
{
	struct npbpf_subject *s = subject_get(cp, o->subject);

	if (!s)
		return -ENOMEM;
	s->forms[o->dir] |= (uint16_t)(NPBPF_FORM_RANGE << form_shift(peer));
	while (lo <= hi) {
		struct npbpf_range_key key;
		struct compiled_range *r;
		unsigned k = 0;
		int ret;

		while (k < 16 && !(lo & (1u << k)) && lo + (2u << k) - 1 <= hi)
			k++;
		memset(&key, 0, sizeof(key));
		key.prefixlen = NPBPF_RANGE_FULL_BITS - k;
		key.subject = o->subject;
		key.peer = peer;
		key.dir = (__u8)o->dir;
		key.proto = proto;
		key.dport = htons((uint16_t)lo);
		ret = hmap_insert(&cp->range_index, &key, sizeof(key), (uint32_t)cp->n_ranges,
				  NULL);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			r = VEC_PUSH(cp->ranges, cp->n_ranges, cp->cap_ranges);
			if (!r)
				return -ENOMEM;
			r->key = key;
			r->value.policy = o->policy;
			r->value.rule = o->rule;
		}
		lo += 1u << k;
	}
	return 0;
}

/* A named port resolves on the pod that receives the traffic: the subject
 * for ingress, the peer for egress. Each match is one exact entry. */
static int emit_named(struct compiled *cp, const struct origin *o, uint32_t peer,
		      const struct np_pod *target, const struct np_port *port)
{
	int err = 0;

	for (size_t i = 0; !err && i < target->n_ports; i++) {
		const struct np_container_port *cport = &target->ports[i];

		if (cport->name && cport->proto == port->proto && !strcmp(cport->name, port->name))
			err = emit(cp, o, peer, port->proto, cport->port);
	}
	return err;
}

static int emit_port(struct compile_ctx *x, const struct origin *o, const struct np_pod *subj_pod,
		     uint32_t peer, const struct np_port *port)
{
	struct compiled *cp = x->cp;

	if (!port)
		return emit(cp, o, peer, 0, 0);
	if (port->end_port)
		return emit_range(cp, o, peer, port->proto, port->port, port->end_port);
	if (!port->name)
		return emit(cp, o, peer, port->proto, port->port);
	if (o->dir == NP_INGRESS)
		return emit_named(cp, o, peer, subj_pod, port);
	if (peer == NPBPF_ID_ANY || peer == NPBPF_ID_CLUSTER) {
		/* "any destination" on a named port: only pods have names, and each
		 * may map the name to another number. */
		int err = 0;

		for (size_t i = 0; !err && i < x->idn->first_cidr_idx; i++) {
			const struct identity *idn = &x->idn->ids[i];

			if (idn->kind == IDENTITY_POD && numbered(idn))
				err = emit_named(cp, o, idn->id, idn->pod, port);
		}
		return err;
	}
	{
		const struct identity *idn = identity_by_number(x->idn, peer);

		if (!idn || idn->kind != IDENTITY_POD)
			return 0; /* the node and CIDRs have no port names */
		return emit_named(cp, o, peer, idn->pod, port);
	}
}

static int emit_rule_for_subject(struct compile_ctx *x, const struct origin *o,
				 const struct np_pod *subj_pod, const struct np_rule *rule)
{
	const struct peerset *ps = &x->peers;
	size_t n_port = rule->n_ports ? rule->n_ports : 1;
	size_t n_peer = ps->any ? 1 : ps->n + ps->cluster;
	int err = 0;

	for (size_t i = 0; !err && i < n_peer; i++) {
		uint32_t peer;

		if (ps->any)
			peer = NPBPF_ID_ANY;
		else if (i == ps->n)
			peer = NPBPF_ID_CLUSTER;
		else
			peer = x->idn->ids[ps->ids[i]].id;
		for (size_t p = 0; !err && p < n_port; p++)
			err = emit_port(x, o, subj_pod, peer,
					rule->n_ports ? &rule->ports[p] : NULL);
	}
	return err;
}

/* Subject identity idn is isolated in direction d by policy number pol. */
static int isolate(struct compile_ctx *x, const struct identity *idn, int d, uint32_t pol)
{
	long idx = subject_slot(x->cp, idn->id);
	struct isolator *iso;

	if (idx < 0)
		return (int)idx;
	x->cp->subjects[idx].s.isolated |= (__u8)(1u << d);
	iso = VEC_PUSH(x->isolators, x->n_isolators, x->cap_isolators);
	if (!iso)
		return -ENOMEM;
	*iso = (struct isolator){ (uint32_t)idx, (uint32_t)d, pol };
	return 0;
}

static int compile_policy(struct compile_ctx *x, uint32_t pi)
{
	struct compiled *cp = x->cp;
	const struct np_policy *pol = &cp->cluster->policies[pi];
	const struct np_namespace *ns = cluster_find_ns(cp->cluster, pol->ns);
	uint32_t number = cp->numbering.policy[pi];
	size_t j, n_sel = 0;
	int err = 0;

	if (!ns || (!pol->types[0] && !pol->types[1]))
		return 0;
	j = ns_pos(cp->cluster, ns);
	/* The subjects it selects, matched once for both directions and
	 * every rule. */
	for (size_t k = x->by_ns.start[j]; k < x->by_ns.start[j + 1]; k++) {
		const struct identity *idn = &x->idn->ids[x->by_ns.idx[k]];

		if (is_subject(x, idn) && selector_matches(&pol->pod_sel, &idn->pod->labels)) {
			uint32_t *slot = VEC_PUSH(x->selected, n_sel, x->cap_selected);

			if (!slot)
				return -ENOMEM;
			*slot = x->by_ns.idx[k];
		}
	}
	/* A policy that selects no subject emits nothing: its peers, the
	 * costly part, are not worked out at all. */
	for (int d = 0; n_sel && d < 2; d++) {
		if (!pol->types[d])
			continue;
		/* Isolation first: a policy with no rules still isolates. */
		for (size_t k = 0; !err && k < n_sel; k++)
			err = isolate(x, &x->idn->ids[x->selected[k]], d, number);
		for (size_t r = 0; !err && r < pol->n_rules[d]; r++) {
			const struct np_rule *rule = &pol->rules[d][r];

			err = rule_peers(x, pol, rule);
			for (size_t k = 0; !err && k < n_sel; k++) {
				const struct identity *idn = &x->idn->ids[x->selected[k]];
				struct origin o = { idn->id, (enum np_dir)d, number, (uint16_t)r };

				err = emit_rule_for_subject(x, &o, idn->pod, rule);
			}
		}
		if (err)
			return err;
	}
	return 0;
}

/* The node's own traffic (kubelet probes) reaches isolated pods unless the
 * operator asked to enforce it: one wildcard entry per isolated subject and
 * host identity (NPBPF_ID_HOST and one per region node addresses fall in).
 * Only the node the pod runs on is its host: other nodes' addresses are not
 * in that node's ipcache as the host, so these entries never admit them. */
static int allow_host(struct compiled *cp)
{
	const struct identities *idn = &cp->idn;
	int err = 0;

	for (size_t i = 0; !err && i < cp->n_subjects; i++) {
		struct origin o = { cp->subjects[i].id, NP_INGRESS, NPBPF_POLICY_HOST, 0 };

		if (!(cp->subjects[i].s.isolated & (1u << NP_INGRESS)))
			continue;
		err = emit(cp, &o, NPBPF_ID_HOST, 0, 0);
		for (size_t k = 0; !err && k < idn->first_cidr_idx; k++) {
			if (idn->ids[k].kind == IDENTITY_HOST && numbered(&idn->ids[k]))
				err = emit(cp, &o, idn->ids[k].id, 0, 0);
		}
	}
	return err;
}

/* The policies that isolate each subject, per direction, in policy order:
 * a counting sort of the isolators into compiled.isolated_by. */
static int collect_isolated_by(struct compile_ctx *x)
{
	struct compiled *cp = x->cp;
	size_t off = 0;

	cp->isolated_by = calloc(x->n_isolators ? x->n_isolators : 1, sizeof(*cp->isolated_by));
	if (!cp->isolated_by)
		return -ENOMEM;
	for (size_t i = 0; i < x->n_isolators; i++)
		cp->subjects[x->isolators[i].subject].n_isolated_by[x->isolators[i].dir]++;
	for (size_t i = 0; i < cp->n_subjects; i++) {
		for (int d = 0; d < 2; d++) {
			cp->subjects[i].isolated_by[d] = (uint32_t)off;
			off += cp->subjects[i].n_isolated_by[d];
			cp->subjects[i].n_isolated_by[d] = 0;
		}
	}
	for (size_t i = 0; i < x->n_isolators; i++) {
		struct compiled_subject *s = &cp->subjects[x->isolators[i].subject];
		uint32_t d = x->isolators[i].dir;

		cp->isolated_by[s->isolated_by[d] + s->n_isolated_by[d]++] = x->isolators[i].policy;
	}
	cp->n_isolated_by = x->n_isolators;
	return 0;
}

/* Whether subject id has an entry whose peer an address could turn into
 * when an ipBlock prefix is missing from the ipcache: a CIDR-range identity
 * or world. */
static bool allows_regions(const struct compiled *cp, uint32_t id)
{
	for (size_t i = 0; i < cp->n_entries; i++) {
		const struct npbpf_policy_key *k = &cp->entries[i].key;

		if (k->subject == id && (k->peer == NPBPF_ID_WORLD || NPBPF_ID_IS_CIDR(k->peer)))
			return true;
	}
	for (size_t i = 0; i < cp->n_ranges; i++) {
		const struct npbpf_range_key *k = &cp->ranges[i].key;

		if (k->subject == id && (k->peer == NPBPF_ID_WORLD || NPBPF_ID_IS_CIDR(k->peer)))
			return true;
	}
	return false;
}

/*
 * The endpoint records. A pod is judged by its subject identity, or by
 * NPBPF_ID_ISOLATED when that identity got no number. When an identity of
 * the CIDR range (an ipBlock region, or this node's addresses in one) got
 * none, its addresses fall to a shorter prefix, which a rule may allow where
 * the missing one was excepted: the pods with any rule towards a region (or
 * world) are judged by NPBPF_ID_ISOLATED too. Its record, isolated both ways
 * with no entry, is there when some pod uses it.
 */
static int build_endpoints(struct compiled *cp)
{
	const struct np_cluster *c = cp->cluster;
	bool any_isolated = false;

	cp->endpoints = calloc(c->n_pods ? c->n_pods : 1, sizeof(*cp->endpoints));
	if (!cp->endpoints)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];
		struct compiled_endpoint *ep;
		struct npbpf_endpoint *v;

		if (pod->host_network)
			continue;
		ep = &cp->endpoints[cp->n_endpoints++];
		ep->pod = pod;
		v = &ep->value;
		v->identity = cp->idn.pod_id[i];
		if (cp->idn.region_lost && v->identity != NPBPF_ID_ISOLATED &&
		    allows_regions(cp, v->identity))
			v->identity = NPBPF_ID_ISOLATED;
		any_isolated |= v->identity == NPBPF_ID_ISOLATED;
		for (size_t a = 0; a < pod->n_addrs; a++) {
			const struct np_addr *addr = &pod->addrs[a];

			if (addr->family == 4 && !(v->flags & NPBPF_EP_HAS_V4)) {
				memcpy(v->addr4, addr->bytes, 4);
				v->flags |= NPBPF_EP_HAS_V4;
			} else if (addr->family == 6 && !(v->flags & NPBPF_EP_HAS_V6)) {
				memcpy(v->addr6, addr->bytes, 16);
				v->flags |= NPBPF_EP_HAS_V6;
			}
		}
	}
	if (any_isolated) {
		struct npbpf_subject *s = subject_get(cp, NPBPF_ID_ISOLATED);

		if (!s)
			return -ENOMEM;
		s->isolated = (1u << NPBPF_DIR_INGRESS) | (1u << NPBPF_DIR_EGRESS);
	}
	return 0;
}

static int index_policies(struct compiled *cp)
{
	for (size_t p = 0; p < cp->cluster->n_policies; p++) {
		uint32_t num = cp->numbering.policy[p];

		if (hmap_insert(&cp->policy_index, &num, sizeof(num), (uint32_t)p, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int compile_tables(struct compile_ctx *x, const struct compile_opts *opts)
{
	struct compiled *cp = x->cp;
	int err;

	err = build_ns_index(x);
	if (!err) {
		x->peers.seen = calloc(x->idn->n_ids ? x->idn->n_ids : 1, sizeof(uint32_t));
		if (!x->peers.seen)
			err = -ENOMEM;
	}
	for (size_t p = 0; !err && p < cp->cluster->n_policies; p++)
		err = compile_policy(x, (uint32_t)p);
	if (!err && !(opts && opts->enforce_host))
		err = allow_host(cp);
	if (!err)
		err = build_endpoints(cp);
	if (!err)
		err = collect_isolated_by(x);
	return err;
}

int compile_cluster(const struct np_cluster *c, const struct compile_opts *opts,
		    struct compiled *out)
{
	struct compile_ctx x = {
		.cp = out,
		.idn = &out->idn,
		.local_only = opts && opts->per_node && opts->local_subjects_only,
	};
	double t[4];
	int err;

	memset(out, 0, sizeof(*out));
	out->cluster = c;
	hmap_init(&out->entry_index);
	hmap_init(&out->range_index);
	hmap_init(&out->subject_index);
	hmap_init(&out->policy_index);
	/* Numbers first: the tables are written with the final ones. */
	t[0] = now_ms();
	err = numbering_begin(&out->numbering, opts ? opts->prior : NULL,
			      opts ? opts->numbering : NULL);
	if (!err)
		err = identities_build(&out->idn, c, opts, &out->numbering);
	t[1] = now_ms();
	if (!err)
		err = numbering_policies(&out->numbering, c);
	if (!err)
		err = numbering_finish(&out->numbering);
	if (!err)
		err = hmap_reserve(&out->policy_index, c->n_policies, c->n_policies * sizeof(uint32_t));
	if (!err)
		err = index_policies(out);
	t[2] = now_ms();
	if (!err && opts && opts->expect_entries)
		err = hmap_reserve(&out->entry_index, opts->expect_entries + opts->expect_entries / 8,
				   (opts->expect_entries + opts->expect_entries / 8) *
					   sizeof(struct npbpf_policy_key));
	if (!err)
		err = compile_tables(&x, opts);
	t[3] = now_ms();
	if (!err)
		log_debug("compile took: identities %.1f ms, policy numbers %.1f, tables %.1f "
			  "(rule peer sets: %zu worked out, %zu reused)",
			  t[1] - t[0], t[2] - t[1], t[3] - t[2], x.memo.misses, x.memo.hits);
	free(x.by_ns.start);
	free(x.by_ns.idx);
	free(x.regioned);
	free(x.peers.ids);
	free(x.peers.seen);
	free(x.isolators);
	free(x.selected);
	peer_memo_free(&x.memo);
	if (err)
		compiled_free(out);
	return err;
}

void compiled_free(struct compiled *cp)
{
	if (!cp)
		return;
	identities_free(&cp->idn);
	numbering_free(&cp->numbering);
	free(cp->entries);
	free(cp->ranges);
	free(cp->subjects);
	free(cp->endpoints);
	free(cp->isolated_by);
	hmap_free(&cp->entry_index);
	hmap_free(&cp->range_index);
	hmap_free(&cp->subject_index);
	hmap_free(&cp->policy_index);
	memset(cp, 0, sizeof(*cp));
}

const struct compiled_subject *compiled_subject_of(const struct compiled *cp, uint32_t id)
{
	uint32_t idx;

	if (!hmap_get(&cp->subject_index, &id, sizeof(id), &idx))
		return NULL;
	return &cp->subjects[idx];
}

const struct npbpf_subject *compiled_subject(const struct compiled *cp, uint32_t id)
{
	const struct compiled_subject *s = compiled_subject_of(cp, id);

	return s ? &s->s : NULL;
}

const struct np_policy *compiled_policy(const struct compiled *cp, uint32_t number)
{
	uint32_t idx;

	if (!hmap_get(&cp->policy_index, &number, sizeof(number), &idx))
		return NULL;
	return &cp->cluster->policies[idx];
}

void compiled_addr_lookup(const struct compiled *cp, const struct np_addr *addr, uint32_t node,
			  struct addr_info *out)
{
	identity_addr_lookup(&cp->idn, addr, node, out);
}

uint32_t compiled_addr_identity(const struct compiled *cp, const struct np_addr *addr)
{
	struct addr_info ai;

	identity_addr_lookup(&cp->idn, addr, 0, &ai);
	return ai.id;
}
