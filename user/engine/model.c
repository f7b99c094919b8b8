/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster model: ownership, lookups, labels, addresses and protocols.
 *
 * Lookups are binary searches over arrays that cluster_finalize() sorted:
 * namespaces by name, pods by (namespace, name). A cluster of 10,000 pods is
 * searched in ~14 comparisons without a separate index to keep in sync.
 */
#include "model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vec.h"

#define MODEL_NS_LABEL "kubernetes.io/metadata.name"

/* ---- freeing ---- */

void labels_free(struct np_labels *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void expr_free(struct np_expr *e)
{
	size_t i;

	free(e->key);
	for (i = 0; i < e->n_values; i++)
		free(e->values[i]);
	free(e->values);
}

void selector_free(struct np_selector *s)
{
	size_t i;

	labels_free(&s->match);
	for (i = 0; i < s->n_exprs; i++)
		expr_free(&s->exprs[i]);
	free(s->exprs);
	memset(s, 0, sizeof(*s));
}

static void peer_free(struct np_peer *p)
{
	selector_free(&p->pod_sel);
	selector_free(&p->ns_sel);
	free(p->ipblock.except);
}

static void rule_free(struct np_rule *r)
{
	size_t i;

	for (i = 0; i < r->n_peers; i++)
		peer_free(&r->peers[i]);
	free(r->peers);
	for (i = 0; i < r->n_ports; i++)
		free(r->ports[i].name);
	free(r->ports);
}

void policy_free(struct np_policy *p)
{
	size_t d, i;

	free(p->ns);
	free(p->name);
	selector_free(&p->pod_sel);
	for (d = 0; d < 2; d++) {
		for (i = 0; i < p->n_rules[d]; i++)
			rule_free(&p->rules[d][i]);
		free(p->rules[d]);
	}
}

void pod_free(struct np_pod *p)
{
	size_t i;

	free(p->ns);
	free(p->name);
	labels_free(&p->labels);
	free(p->node);
	free(p->created);
	free(p->addrs);
	free(p->host_addrs);
	for (i = 0; i < p->n_ports; i++)
		free(p->ports[i].name);
	free(p->ports);
}

void namespace_free(struct np_namespace *ns)
{
	free(ns->name);
	labels_free(&ns->labels);
}

void cluster_init(struct np_cluster *c)
{
	memset(c, 0, sizeof(*c));
}

void cluster_free(struct np_cluster *c)
{
	size_t i;

	for (i = 0; i < c->n_files; i++)
		free(c->files[i]);
	free(c->files);
	for (i = 0; i < c->n_namespaces; i++)
		namespace_free(&c->namespaces[i]);
	free(c->namespaces);
	for (i = 0; i < c->n_pods; i++)
		pod_free(&c->pods[i]);
	free(c->pods);
	for (i = 0; i < c->n_policies; i++)
		policy_free(&c->policies[i]);
	free(c->policies);
	cluster_init(c);
}

/* ---- sorting and lookups ---- */

static int ns_cmp(const void *a, const void *b)
{
	return strcmp(((const struct np_namespace *)a)->name,
		      ((const struct np_namespace *)b)->name);
}

static int pod_key_cmp(const char *ns, const char *name, const struct np_pod *p)
{
	int r = strcmp(ns, p->ns);

	return r ? r : strcmp(name, p->name);
}

static int pod_cmp(const void *a, const void *b)
{
	const struct np_pod *pa = a;

	return pod_key_cmp(pa->ns, pa->name, b);
}

static struct np_namespace *ns_search(struct np_namespace *v, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(name, v[mid].name);

		if (!r)
			return &v[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

struct np_namespace *cluster_find_ns(const struct np_cluster *c, const char *name)
{
	return ns_search(c->namespaces, c->n_namespaces, name);
}

/* Pods must be finalized (sorted by namespace, then name) too. */
struct np_pod *cluster_find_pod(const struct np_cluster *c, const char *ns, const char *name)
{
	size_t lo = 0, hi = c->n_pods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = pod_key_cmp(ns, name, &c->pods[mid]);

		if (!r)
			return &c->pods[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int ns_add_implicit(struct np_cluster *c, const struct np_pod *pod)
{
	struct np_namespace *ns = VEC_PUSH(c->namespaces, c->n_namespaces, c->cap_namespaces);

	if (!ns)
		return -ENOMEM;
	ns->implicit = true;
	ns->loc = pod->loc;
	ns->name = strdup(pod->ns);
	if (!ns->name || labels_set(&ns->labels, MODEL_NS_LABEL, pod->ns)) {
		namespace_free(ns);
		c->n_namespaces--;
		return -ENOMEM;
	}
	return 0;
}

/* Drops the pods that no longer run. Done here, after duplicates were
 * resolved, so a finished pod that replaces a live one of the same name
 * (kubectl apply's later-wins) removes it too. */
static void drop_finished(struct np_cluster *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->n_pods; i++) {
		struct np_pod *p = &c->pods[i];

		if (!p->finished) {
			c->pods[n++] = *p;
			continue;
		}
		log_debug("%s:%d:%d: Pod %s/%s is not running (Succeeded or Failed): left out",
			  p->loc.file, p->loc.line, p->loc.col, p->ns, p->name);
		pod_free(p);
	}
	if (n != c->n_pods)
		log_info("left out %zu pod%s that no longer run (status.phase Succeeded or "
			 "Failed): a finished pod has no address",
			 c->n_pods - n, c->n_pods - n == 1 ? "" : "s");
	c->n_pods = n;
}

struct addr_claim {
	struct np_addr addr;
	size_t pod;
};

static int claim_cmp(const void *a, const void *b)
{
	const struct addr_claim *x = a, *y = b;
	int r = addr_cmp(&x->addr, &y->addr);

	return r ? r : x->pod < y->pod ? -1 : x->pod > y->pod;
}

/* true when pod a keeps an address b claims too; pods are sorted by
 * namespace and name, so a < b by index is the tie-break. */
static bool claim_wins(const struct np_pod *a, size_t ia, const struct np_pod *b, size_t ib)
{
	int r = strcmp(a->created ? a->created : "", b->created ? b->created : "");

	return r ? r > 0 : ia < ib;
}

static void pod_drop_addr(struct np_pod *p, const struct np_addr *a)
{
	size_t i;

	for (i = 0; i < p->n_addrs; i++) {
		if (!addr_cmp(&p->addrs[i], a)) {
			memmove(&p->addrs[i], &p->addrs[i + 1],
				(p->n_addrs - i - 1) * sizeof(*p->addrs));
			p->n_addrs--;
			return;
		}
	}
}

/* One owner per pod address; see cluster_finalize. Pods must be sorted. */
static int resolve_shared_addrs(struct np_cluster *c)
{
	struct addr_claim *v = NULL;
	size_t i, j, n = 0, cap = 0;

	for (i = 0; i < c->n_pods; i++) {
		for (j = 0; !c->pods[i].host_network && j < c->pods[i].n_addrs; j++) {
			struct addr_claim *slot = VEC_PUSH(v, n, cap);

			if (!slot) {
				free(v);
				return -ENOMEM;
			}
			*slot = (struct addr_claim){c->pods[i].addrs[j], i};
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), claim_cmp);
	for (i = 0; i < n; i = j) {
		size_t win = i;

		for (j = i + 1; j < n && !addr_cmp(&v[j].addr, &v[i].addr); j++) {
			if (claim_wins(&c->pods[v[j].pod], v[j].pod, &c->pods[v[win].pod],
				       v[win].pod))
				win = j;
		}
		for (size_t k = i; j - i > 1 && k < j; k++) {
			const struct np_pod *w = &c->pods[v[win].pod];
			struct np_pod *l = &c->pods[v[k].pod];
			char buf[64];

			if (k == win)
				continue;
			log_warn("%s is claimed by two live pods: %s/%s (%s:%d) and %s/%s "
				 "(%s:%d); %s/%s keeps it (%s)",
				 addr_format(&v[k].addr, buf, sizeof(buf)), w->ns, w->name,
				 w->loc.file, w->loc.line, l->ns, l->name, l->loc.file, l->loc.line,
				 w->ns, w->name,
				 w->created && (!l->created || strcmp(w->created, l->created))
					 ? "created later"
					 : "same creationTimestamp: the first by namespace/name");
			pod_drop_addr(l, &v[k].addr);
		}
	}
	free(v);
	return 0;
}

int cluster_finalize(struct np_cluster *c)
{
	size_t i, n_declared;
	int err = 0;

	drop_finished(c);
	/* qsort's array must not be NULL, even for no elements. */
	if (c->n_namespaces > 1)
		qsort(c->namespaces, c->n_namespaces, sizeof(*c->namespaces), ns_cmp);
	if (c->n_pods > 1)
		qsort(c->pods, c->n_pods, sizeof(*c->pods), pod_cmp);
	n_declared = c->n_namespaces;
	/* Pods are grouped by namespace now: one lookup per distinct name. */
	for (i = 0; i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		if (i && !strcmp(pod->ns, c->pods[i - 1].ns))
			continue;
		if (ns_search(c->namespaces, n_declared, pod->ns))
			continue;
		err = ns_add_implicit(c, pod);
		if (err)
			break;
	}
	if (c->n_namespaces != n_declared && c->n_namespaces > 1)
		qsort(c->namespaces, c->n_namespaces, sizeof(*c->namespaces), ns_cmp);
	return err ? err : resolve_shared_addrs(c);
}

/* ---- labels: sorted by key, so equal label sets compare equal ---- */

/* Index of key, or of where it would be inserted; *found tells which. */
static size_t labels_find(const struct np_labels *l, const char *key, bool *found)
{
	size_t lo = 0, hi = l->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(key, l->v[mid].key);

		if (!r) {
			*found = true;
			return mid;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int labels_set(struct np_labels *l, const char *key, const char *value)
{
	char *v = strdup(value), *k = NULL;
	struct np_label *slot;
	bool found;
	size_t i;

	if (!v)
		return -ENOMEM;
	i = labels_find(l, key, &found);
	if (found) {
		free(l->v[i].value);
		l->v[i].value = v;
		return 0;
	}
	k = strdup(key);
	slot = k ? VEC_PUSH(l->v, l->n, l->cap) : NULL;
	if (!slot) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	memmove(&l->v[i + 1], &l->v[i], (l->n - 1 - i) * sizeof(*l->v));
	l->v[i].key = k;
	l->v[i].value = v;
	return 0;
}

const char *labels_get(const struct np_labels *l, const char *key)
{
	bool found;
	size_t i = labels_find(l, key, &found);

	return found ? l->v[i].value : NULL;
}

/* ---- addresses ---- */

static int addr_parse_plen(const char *s, unsigned max, uint8_t *plen)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i == 3)
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (!i || v > max)
		return -EINVAL;
	*plen = (uint8_t)v;
	return 0;
}

static void addr_mask(struct np_addr *a)
{
	unsigned i, bits = a->plen;

	for (i = 0; i < sizeof(a->bytes); i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		a->bytes[i] &= (uint8_t)(0xff00u >> bits);
		bits = 0;
	}
}

int addr_parse(const char *text, bool allow_prefix, struct np_addr *out)
{
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	char buf[INET6_ADDRSTRLEN];
	struct np_addr a = {0};
	int af;

	if (!len || len >= sizeof(buf) || (slash && !allow_prefix))
		return -EINVAL;
	memcpy(buf, text, len);
	buf[len] = '\0';
	af = strchr(buf, ':') ? AF_INET6 : AF_INET;
	a.family = af == AF_INET ? 4 : 6;
	a.plen = af == AF_INET ? 32 : 128;
	if (inet_pton(af, buf, a.bytes) != 1)
		return -EINVAL;
	if (slash && addr_parse_plen(slash + 1, a.plen, &a.plen))
		return -EINVAL;
	addr_mask(&a);
	*out = a;
	return 0;
}

bool addr_contains(const struct np_addr *a, const struct np_addr *b)
{
	unsigned full = a->plen / 8, rest = a->plen % 8;

	if (a->family != b->family || a->plen > b->plen)
		return false;
	if (memcmp(a->bytes, b->bytes, full))
		return false;
	return !rest || !((a->bytes[full] ^ b->bytes[full]) & (uint8_t)(0xff00u >> rest));
}

const char *addr_format(const struct np_addr *a, char *buf, size_t len)
{
	int af = a->family == 4 ? AF_INET : AF_INET6;
	unsigned full = a->family == 4 ? 32 : 128;
	size_t n;

	if (!inet_ntop(af, a->bytes, buf, (socklen_t)len)) {
		snprintf(buf, len, "?");
		return buf;
	}
	n = strlen(buf);
	if (a->plen != full)
		snprintf(buf + n, len - n, "/%u", a->plen);
	return buf;
}

int addr_cmp(const struct np_addr *a, const struct np_addr *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(a->bytes, b->bytes, sizeof(a->bytes));
	if (r)
		return r < 0 ? -1 : 1;
	if (a->plen != b->plen)
		return a->plen < b->plen ? -1 : 1;
	return 0;
}

/* ---- protocols: the API's spelling, case-sensitive as the API server ---- */

uint8_t proto_parse(const char *name)
{
	if (!name)
		return 0;
	if (!strcmp(name, "TCP"))
		return IPPROTO_TCP;
	if (!strcmp(name, "UDP"))
		return IPPROTO_UDP;
	if (!strcmp(name, "SCTP"))
		return IPPROTO_SCTP;
	return 0;
}

const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_SCTP:
		return "SCTP";
	case 0:
		return "any";
	default:
		return "?";
	}
}
