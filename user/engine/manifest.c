/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests into the model. Each document is a yaml_tree; each object is
 * built in a scratch cluster (m->trash) and moved into the real one only when
 * it validated cleanly, so an object that failed halfway, or one replaced by
 * a later duplicate, is freed with the scratch cluster and never needs a
 * partial-cleanup path of its own.
 *
 * Readers below return 0 or -ENOMEM only. Input errors are reported through
 * mf_error(), counted, and reading goes on, so one run shows every error.
 */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"
#include "vec.h"
#include "yaml_tree.h"

#define MF_NS_LABEL   "kubernetes.io/metadata.name"
#define MF_POLICY_API "networking.k8s.io/v1"
#define MF_PATH_DEPTH 32
#define MF_QUOTE_MAX  80

enum mf_kind {
	MF_NAMESPACE,
	MF_POD,
	MF_POLICY,
};

/* One entry of the duplicate index: kind + 1 (0 = empty), the object's
 * index in its cluster array, and its key's hash so that probing and growing
 * rarely touch the object's strings. */
struct mf_slot {
	uint32_t kind1;
	uint32_t idx;
	uint32_t hash;
};

struct mf_ctx {
	struct np_cluster *c;
	struct np_cluster trash;
	const char *file; /* in c->files */
	/* the object being read, for messages; point into the document */
	const char *kind, *ns, *name;
	/* the field being read, e.g. spec.ingress[0]; formatted only for a
	 * message, as reading every field must stay cheap */
	struct mf_seg {
		const char *key; /* NULL: an index */
		size_t index;
	} path[MF_PATH_DEPTH];
	size_t depth;
	unsigned long n_errors;
	/* (kind, namespace, name) -> index, to let a later object replace an
	 * earlier one in O(1); open addressing, power-of-2 size */
	struct mf_slot *slots;
	size_t n_slots, cap_slots;
};

/* ---- messages ---- */

static const char *mf_quote(const struct yt_node *n, char *buf)
{
	return yt_printable(n->str, n->len, buf, MF_QUOTE_MAX);
}

static void mf_error(struct mf_ctx *m, const struct yt_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void mf_path_format(const struct mf_ctx *m, char *buf, size_t size)
{
	size_t i, len = 0, depth = m->depth < MF_PATH_DEPTH ? m->depth : MF_PATH_DEPTH;

	buf[0] = '\0';
	for (i = 0; i < depth && len < size; i++) {
		const struct mf_seg *s = &m->path[i];
		int n;

		if (s->key)
			n = snprintf(buf + len, size - len, "%s%s", i ? "." : "", s->key);
		else
			n = snprintf(buf + len, size - len, "[%zu]", s->index);
		len += n > 0 ? (size_t)n : 0;
	}
	if (len && len < size)
		snprintf(buf + len, size - len, ": ");
}

static void mf_error(struct mf_ctx *m, const struct yt_node *at, const char *fmt, ...)
{
	char msg[512], who[256] = "", path[256], ns[MF_QUOTE_MAX], name[MF_QUOTE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m->kind && m->name && m->ns)
		snprintf(who, sizeof(who), "%s %s/%s: ", m->kind,
			 yt_printable(m->ns, strlen(m->ns), ns, sizeof(ns)),
			 yt_printable(m->name, strlen(m->name), name, sizeof(name)));
	else if (m->kind && m->name)
		snprintf(who, sizeof(who), "%s %s: ", m->kind,
			 yt_printable(m->name, strlen(m->name), name, sizeof(name)));
	else if (m->kind)
		snprintf(who, sizeof(who), "%s: ", m->kind);
	mf_path_format(m, path, sizeof(path));
	log_error("%s:%d:%d: %s%s%s", m->file, at->line, at->col, who, path, msg);
	m->n_errors++;
}

/* Field paths for messages: mf_enter appends ".key" (mf_enter_index "[i]")
 * and returns the old depth for mf_leave. */
static size_t mf_push_seg(struct mf_ctx *m, const char *key, size_t index)
{
	if (m->depth < MF_PATH_DEPTH)
		m->path[m->depth] = (struct mf_seg){key, index};
	return m->depth++;
}

static size_t mf_enter(struct mf_ctx *m, const char *key)
{
	return mf_push_seg(m, key, 0);
}

static size_t mf_enter_index(struct mf_ctx *m, size_t i)
{
	return mf_push_seg(m, NULL, i);
}

static void mf_leave(struct mf_ctx *m, size_t old)
{
	m->depth = old;
}

static struct np_loc mf_loc(const struct mf_ctx *m, const struct yt_node *n)
{
	return (struct np_loc){.file = m->file, .line = n->line, .col = n->col};
}

/* ---- typed access: Kubernetes reads an explicit null as an absent field ---- */

static const struct yt_node *mf_get(const struct yt_node *map, const char *key)
{
	const struct yt_node *v = yt_map_get(map, key);

	return yt_is_null(v) ? NULL : v;
}

static bool mf_is(struct mf_ctx *m, const struct yt_node *n, enum yt_kind kind)
{
	if (n->kind == kind)
		return true;
	mf_error(m, n, "must be %s, not %s", kind == YT_MAP ? "a map" : "a list", yt_describe(n));
	return false;
}

/* List items and rules may be null: the API reads them as empty objects. */
static bool mf_is_map_or_null(struct mf_ctx *m, const struct yt_node *n)
{
	return yt_is_null(n) || mf_is(m, n, YT_MAP);
}

/* YAML 1.1 reads a plain y, n, yes, no, on, off as booleans; YAML 1.2 and most
 * emitters (PyYAML, go-yaml v3) treat them as strings and write them
 * unquoted, and namespaces named "y" or "n" are common in tests. In a field
 * that can only be a string we take their text; true/false and numbers stay
 * errors, as kubectl reports them. */
static bool yaml11_only_bool(const struct yt_node *n)
{
	return n->kind == YT_SCALAR && yt_scalar_type(n) == YT_BOOL &&
	       strcasecmp(n->str, "true") && strcasecmp(n->str, "false");
}

static bool mf_is_str(struct mf_ctx *m, const struct yt_node *n)
{
	enum yt_type t = yt_scalar_type(n);

	if (n->kind != YT_SCALAR || (t != YT_STR && !yaml11_only_bool(n))) {
		/* The classic: `version: 1` or `enabled: yes` in labels. */
		mf_error(m, n, "must be a string, not %s%s", yt_describe(n),
			 n->kind == YT_SCALAR ? " (quote it)" : "");
		return false;
	}
	if (strlen(n->str) != n->len) {
		mf_error(m, n, "must not contain NUL characters");
		return false;
	}
	return true;
}

/* String field key of map into *out (NULL when absent). Returns false after
 * reporting a value that is not a string. */
static bool mf_str_field(struct mf_ctx *m, const struct yt_node *map, const char *key,
			 const struct yt_node **out)
{
	const struct yt_node *v = mf_get(map, key);
	size_t old;
	bool ok;

	*out = NULL;
	if (!v)
		return true;
	old = mf_enter(m, key);
	ok = mf_is_str(m, v);
	mf_leave(m, old);
	if (ok)
		*out = v;
	return ok;
}

/* An integer in [min, max]; reports anything else. */
static bool mf_int(struct mf_ctx *m, const struct yt_node *n, int64_t min, int64_t max,
		   int64_t *out)
{
	if (yt_scalar_type(n) != YT_INT || n->kind != YT_SCALAR) {
		mf_error(m, n, "must be an integer, not %s", yt_describe(n));
		return false;
	}
	if (yt_get_int(n, out) || *out < min || *out > max) {
		char buf[MF_QUOTE_MAX];

		mf_error(m, n, "%s is out of range: must be between %lld and %lld",
			 mf_quote(n, buf), (long long)min, (long long)max);
		return false;
	}
	return true;
}

/* Makes room for more elements in one allocation. List lengths are known
 * from the document; growing thousands of small arrays by doubling from 4
 * costs reallocs and memory. Returns 0 or -ENOMEM. */
static int mf_reserve(void **base, size_t elem, size_t n, size_t *cap, size_t more)
{
	void *p;

	if (*cap - n >= more)
		return 0;
	if (more > SIZE_MAX / elem - n)
		return -ENOMEM;
	p = realloc(*base, (n + more) * elem);
	if (!p)
		return -ENOMEM;
	*base = p;
	*cap = n + more;
	return 0;
}

#define MF_RESERVE(ptr, n, cap, more)                                                              \
	mf_reserve((void **)&(ptr), sizeof(*(ptr)), (n), &(cap), (more))

static int mf_strdup(char **dst, const struct yt_node *n)
{
	*dst = strdup(n ? n->str : "");
	return *dst ? 0 : -ENOMEM;
}

/* ---- names, as k8s.io/apimachinery/pkg/util/validation checks them ---- */

#define MF_DNS_LABEL_HINT                                                                          \
	"must be a lowercase RFC 1123 label of at most 63 characters: a-z, 0-9 and '-', "          \
	"starting and ending with a letter or digit"
#define MF_DNS_SUBDOMAIN_HINT                                                                      \
	"must be a lowercase RFC 1123 subdomain of at most 253 characters: a-z, 0-9, '-' "         \
	"and '.', each dot-separated part starting and ending with a letter or digit"
#define MF_LABEL_NAME_HINT                                                                         \
	"must be at most 63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending "   \
	"with a letter or digit"

static bool mf_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool mf_alnum(char ch)
{
	return mf_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

/* The reason s is not valid, or NULL. */
static const char *mf_check_dns_label(const char *s, size_t len)
{
	size_t i;

	if (!len || len > 63)
		return MF_DNS_LABEL_HINT;
	for (i = 0; i < len; i++) {
		if (!mf_lower_alnum(s[i]) && (s[i] != '-' || !i || i == len - 1))
			return MF_DNS_LABEL_HINT;
	}
	return NULL;
}

static const char *mf_check_dns_subdomain(const char *s, size_t len)
{
	size_t i;

	if (!len || len > 253)
		return MF_DNS_SUBDOMAIN_HINT;
	for (i = 0; i < len; i++) {
		bool edge = !i || i == len - 1 || s[i - 1] == '.' || s[i + 1] == '.';

		if (!mf_lower_alnum(s[i]) && ((s[i] != '-' && s[i] != '.') || edge))
			return MF_DNS_SUBDOMAIN_HINT;
	}
	return NULL;
}

/* The name part of a label key, and every non-empty label value. */
static const char *mf_check_label_name(const char *s, size_t len)
{
	size_t i;

	if (!len || len > 63)
		return MF_LABEL_NAME_HINT;
	for (i = 0; i < len; i++) {
		bool inner = i && i != len - 1;

		if (!mf_alnum(s[i]) && (!inner || !strchr("-_.", s[i]) || !s[i]))
			return MF_LABEL_NAME_HINT;
	}
	return NULL;
}

/* A qualified name: [DNS-subdomain prefix '/'] name. */
static const char *mf_check_label_key(const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);
	size_t plen;

	if (!slash)
		return mf_check_label_name(s, len);
	plen = (size_t)(slash - s);
	if (mf_check_dns_subdomain(s, plen))
		return "the prefix before '/' " MF_DNS_SUBDOMAIN_HINT;
	if (mf_check_label_name(slash + 1, len - plen - 1))
		return "the name after '/' " MF_LABEL_NAME_HINT;
	return NULL;
}

static const char *mf_check_label_value(const char *s, size_t len)
{
	return len ? mf_check_label_name(s, len) : NULL;
}

/* IANA_SVC_NAME, what a named port must be. */
static const char *mf_check_port_name(const char *s, size_t len)
{
	bool letter = false;
	size_t i;

	if (!len || len > 15)
		return "must be 1 to 15 characters";
	for (i = 0; i < len; i++) {
		if (!mf_lower_alnum(s[i]) && s[i] != '-')
			return "must contain only a-z, 0-9 and '-'";
		if (s[i] == '-' && (!i || i == len - 1 || s[i + 1] == '-'))
			return "must not begin or end with '-' nor contain \"--\"";
		letter |= s[i] >= 'a' && s[i] <= 'z';
	}
	return letter ? NULL : "must contain at least one letter (a number must not be quoted)";
}

/* Reports n (a string) when check finds it invalid. */
static bool mf_valid(struct mf_ctx *m, const struct yt_node *n, const char *what,
		     const char *(*check)(const char *, size_t))
{
	const char *why = check(n->str, n->len);
	char buf[MF_QUOTE_MAX];

	if (!why)
		return true;
	mf_error(m, n, "invalid %s \"%s\": %s", what, mf_quote(n, buf), why);
	return false;
}

/* ---- labels and selectors ---- */

/* Map keys reach the API server as JSON strings: kubectl turns an int key
 * into its decimal text. A key that already is that text is fine; any other
 * non-string key would be renamed on the way (yes -> "true"), so ask for
 * quotes instead. */
static bool mf_is_key(struct mf_ctx *m, const struct yt_node *key)
{
	char buf[32];
	int64_t v;

	if (yt_scalar_type(key) == YT_INT && !yt_get_int(key, &v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)v);
		if (!strcmp(buf, key->str))
			return true;
	}
	return mf_is_str(m, key);
}

static int mf_label(struct mf_ctx *m, const struct yt_node *key, const struct yt_node *val,
		    struct np_labels *out)
{
	bool ok;
	size_t old;

	if (!mf_is_key(m, key) || !mf_valid(m, key, "label key", mf_check_label_key))
		return 0;
	/* A null value reads as "" (a map[string]string element). */
	if (yt_is_null(val))
		return labels_set(out, key->str, "");
	old = mf_enter(m, key->str);
	ok = mf_is_str(m, val) && mf_valid(m, val, "label value", mf_check_label_value);
	mf_leave(m, old);
	return ok ? labels_set(out, key->str, val->str) : 0;
}

/* A labels map (metadata.labels, matchLabels); map may be NULL. */
static int mf_labels(struct mf_ctx *m, const struct yt_node *map, struct np_labels *out)
{
	size_t i;
	int err;

	if (!map || !mf_is(m, map, YT_MAP))
		return 0;
	if (MF_RESERVE(out->v, out->n, out->cap, map->n / 2))
		return -ENOMEM;
	for (i = 0; i + 1 < map->n; i += 2) {
		err = mf_label(m, map->items[i], map->items[i + 1], out);
		if (err)
			return err;
	}
	return 0;
}

static const char *const mf_ops[] = {
	[NP_OP_IN] = "In",
	[NP_OP_NOT_IN] = "NotIn",
	[NP_OP_EXISTS] = "Exists",
	[NP_OP_DOES_NOT_EXIST] = "DoesNotExist",
};

/* Returns the operator, or -1 after reporting it. */
static int mf_op(struct mf_ctx *m, const struct yt_node *req)
{
	const struct yt_node *op;
	char buf[MF_QUOTE_MAX];
	size_t i, old;

	if (!mf_str_field(m, req, "operator", &op))
		return -1;
	old = mf_enter(m, "operator");
	if (!op)
		mf_error(m, req, "required");
	for (i = 0; op && i < sizeof(mf_ops) / sizeof(mf_ops[0]); i++) {
		if (!strcmp(op->str, mf_ops[i])) {
			mf_leave(m, old);
			return (int)i;
		}
	}
	if (op)
		mf_error(m, op,
			 "unsupported operator \"%s\": must be In, NotIn, Exists or DoesNotExist",
			 mf_quote(op, buf));
	mf_leave(m, old);
	return -1;
}

static int mf_expr_values(struct mf_ctx *m, const struct yt_node *req, int op, struct np_expr *e)
{
	const struct yt_node *vals = mf_get(req, "values");
	bool need = op == NP_OP_IN || op == NP_OP_NOT_IN;
	size_t i, old = mf_enter(m, "values");
	int err = 0;

	if (vals && !mf_is(m, vals, YT_SEQ))
		goto out;
	if (vals && MF_RESERVE(e->values, e->n_values, e->cap_values, vals->n)) {
		err = -ENOMEM;
		goto out;
	}
	if (op >= 0 && need && (!vals || !vals->n))
		mf_error(m, vals ? vals : req, "must be non-empty when operator is %s", mf_ops[op]);
	if (op >= 0 && !need && vals && vals->n)
		mf_error(m, vals, "must be empty when operator is %s", mf_ops[op]);
	for (i = 0; vals && i < vals->n; i++) {
		const struct yt_node *v = vals->items[i];
		char **slot;

		if (!mf_is_str(m, v) || !mf_valid(m, v, "label value", mf_check_label_value))
			continue;
		slot = VEC_PUSH(e->values, e->n_values, e->cap_values);
		err = slot ? mf_strdup(slot, v) : -ENOMEM;
		if (err)
			break;
	}
out:
	mf_leave(m, old);
	return err;
}

static int mf_expr(struct mf_ctx *m, const struct yt_node *req, struct np_selector *sel)
{
	const struct yt_node *key;
	struct np_expr *e;
	size_t old;
	int op;

	if (!mf_is(m, req, YT_MAP))
		return 0;
	e = VEC_PUSH(sel->exprs, sel->n_exprs, sel->cap_exprs);
	if (!e)
		return -ENOMEM;
	if (mf_str_field(m, req, "key", &key)) {
		old = mf_enter(m, "key");
		if (!key)
			mf_error(m, req, "required");
		else
			mf_valid(m, key, "label key", mf_check_label_key);
		mf_leave(m, old);
	}
	if (mf_strdup(&e->key, key))
		return -ENOMEM;
	op = mf_op(m, req);
	e->op = op < 0 ? NP_OP_IN : (enum np_op)op;
	return mf_expr_values(m, req, op, e);
}

/* A label selector; sel NULL or null selects everything. */
static int mf_selector(struct mf_ctx *m, const struct yt_node *sel, struct np_selector *out)
{
	const struct yt_node *exprs;
	size_t i, old;
	int err;

	if (yt_is_null(sel) || !mf_is(m, sel, YT_MAP))
		return 0;
	old = mf_enter(m, "matchLabels");
	err = mf_labels(m, mf_get(sel, "matchLabels"), &out->match);
	mf_leave(m, old);
	exprs = mf_get(sel, "matchExpressions");
	if (err || !exprs)
		return err;
	old = mf_enter(m, "matchExpressions");
	if (mf_is(m, exprs, YT_SEQ)) {
		err = MF_RESERVE(out->exprs, out->n_exprs, out->cap_exprs, exprs->n);
		for (i = 0; !err && i < exprs->n; i++) {
			size_t o = mf_enter_index(m, i);

			err = mf_expr(m, exprs->items[i], out);
			mf_leave(m, o);
		}
	}
	mf_leave(m, old);
	return err;
}

/* Reads sel as the selector field key, for the path in messages. */
static int mf_selector_field(struct mf_ctx *m, const struct yt_node *sel, const char *key,
			     struct np_selector *out)
{
	size_t old = mf_enter(m, key);
	int err = mf_selector(m, sel, out);

	mf_leave(m, old);
	return err;
}

/* ---- objects: metadata ---- */

/* Reads metadata.name (and .namespace for namespaced kinds) into m for
 * messages, then validates them. Returns metadata.labels (or NULL). */
static const struct yt_node *mf_meta(struct mf_ctx *m, const struct yt_node *obj, bool namespaced)
{
	const struct yt_node *meta = mf_get(obj, "metadata"), *name = NULL, *ns = NULL;
	size_t old = mf_enter(m, "metadata");
	bool ok = !meta || mf_is(m, meta, YT_MAP);

	if (ok)
		ok = mf_str_field(m, meta, "name", &name);
	if (ok && namespaced)
		mf_str_field(m, meta, "namespace", &ns);
	m->name = name ? name->str : NULL;
	m->ns = !namespaced ? NULL : ns ? ns->str : "default";
	if (ok && !name) {
		size_t o = mf_enter(m, "name");

		mf_error(m, meta ? meta : obj, "required");
		mf_leave(m, o);
	}
	if (name) {
		size_t o = mf_enter(m, "name");

		mf_valid(m, name, "name", namespaced ? mf_check_dns_subdomain : mf_check_dns_label);
		mf_leave(m, o);
	}
	if (ns) {
		size_t o = mf_enter(m, "namespace");

		mf_valid(m, ns, "namespace", mf_check_dns_label);
		mf_leave(m, o);
	}
	mf_leave(m, old);
	return ok ? mf_get(meta, "labels") : NULL;
}

static int mf_meta_labels(struct mf_ctx *m, const struct yt_node *labels, struct np_labels *out)
{
	size_t old = mf_enter(m, "metadata.labels");
	int err = mf_labels(m, labels, out);

	mf_leave(m, old);
	return err;
}

/* ---- duplicates: the index and moving objects out of the scratch cluster ---- */

static uint32_t mf_hash(enum mf_kind kind, const char *ns, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;

	for (; ns && *ns; ns++)
		h = (h ^ (unsigned char)*ns) * 1099511628211ull;
	h = (h ^ '/') * 1099511628211ull;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32));
}

static void mf_key(const struct np_cluster *c, enum mf_kind kind, size_t i, const char **ns,
		   const char **name)
{
	switch (kind) {
	case MF_NAMESPACE:
		*ns = NULL;
		*name = c->namespaces[i].name;
		break;
	case MF_POD:
		*ns = c->pods[i].ns;
		*name = c->pods[i].name;
		break;
	case MF_POLICY:
		*ns = c->policies[i].ns;
		*name = c->policies[i].name;
		break;
	}
}

static struct mf_slot *mf_lookup(const struct mf_ctx *m, enum mf_kind kind, uint32_t hash,
				 const char *ns, const char *name)
{
	size_t mask = m->cap_slots - 1, j = hash & mask;

	for (; m->slots[j].kind1; j = (j + 1) & mask) {
		const struct mf_slot *s = &m->slots[j];
		const char *sns, *sname;

		if (s->kind1 != kind + 1u || s->hash != hash)
			continue;
		mf_key(m->c, kind, s->idx, &sns, &sname);
		if (!strcmp(name, sname) && (!ns || !strcmp(ns, sns)))
			return &m->slots[j];
	}
	return &m->slots[j];
}

static int mf_index_grow(struct mf_ctx *m)
{
	size_t i, cap = m->cap_slots ? m->cap_slots * 2 : 1024;
	struct mf_slot *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (i = 0; i < m->cap_slots; i++) {
		size_t j = m->slots[i].hash & (cap - 1);

		if (!m->slots[i].kind1)
			continue;
		while (tab[j].kind1)
			j = (j + 1) & (cap - 1);
		tab[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = tab;
	m->cap_slots = cap;
	return 0;
}

static int mf_index_add(struct mf_ctx *m, enum mf_kind kind, size_t idx)
{
	const char *ns, *name;
	struct mf_slot *s;
	uint32_t hash;
	int err;

	if ((m->n_slots + 1) * 2 > m->cap_slots) {
		err = mf_index_grow(m);
		if (err)
			return err;
	}
	mf_key(m->c, kind, idx, &ns, &name);
	hash = mf_hash(kind, ns, name);
	s = mf_lookup(m, kind, hash, ns, name);
	if (!s->kind1)
		m->n_slots++;
	*s = (struct mf_slot){kind + 1u, (uint32_t)idx, hash};
	return 0;
}

/* The cluster array of a kind, to move objects generically. */
struct mf_array {
	void **base;
	size_t *n, *cap, elem;
};

static struct mf_array mf_array_of(struct np_cluster *c, enum mf_kind kind)
{
	switch (kind) {
	case MF_NAMESPACE:
		return (struct mf_array){(void **)&c->namespaces, &c->n_namespaces,
					 &c->cap_namespaces, sizeof(*c->namespaces)};
	case MF_POD:
		return (struct mf_array){(void **)&c->pods, &c->n_pods, &c->cap_pods,
					 sizeof(*c->pods)};
	default:
		return (struct mf_array){(void **)&c->policies, &c->n_policies, &c->cap_policies,
					 sizeof(*c->policies)};
	}
}

/* Moves the object just built (the last of its kind in the scratch cluster)
 * into the cluster, unless an error was reported while reading it. A
 * duplicate swaps places with the object it replaces, which the scratch
 * cluster then frees. */
static int mf_commit(struct mf_ctx *m, enum mf_kind kind, unsigned long errors_before)
{
	struct mf_array src = mf_array_of(&m->trash, kind), dst = mf_array_of(m->c, kind);
	char *obj = (char *)*src.base + (*src.n - 1) * src.elem, *slot;
	const char *ns, *name;
	union {
		struct np_namespace ns;
		struct np_pod pod;
		struct np_policy policy;
	} tmp;
	struct mf_slot *s;

	if (m->n_errors != errors_before)
		return 0;
	mf_key(&m->trash, kind, *src.n - 1, &ns, &name);
	if (m->cap_slots) {
		s = mf_lookup(m, kind, mf_hash(kind, ns, name), ns, name);
		if (s->kind1) {
			slot = (char *)*dst.base + s->idx * dst.elem;
			memcpy(&tmp, slot, dst.elem);
			memcpy(slot, obj, dst.elem);
			memcpy(obj, &tmp, dst.elem);
			return 0;
		}
	}
	slot = vec_push(dst.base, dst.elem, dst.n, dst.cap);
	if (!slot)
		return -ENOMEM;
	memcpy(slot, obj, dst.elem);
	(*src.n)--;
	return mf_index_add(m, kind, *dst.n - 1);
}

/* ---- Namespace ---- */

static int mf_namespace(struct mf_ctx *m, const struct yt_node *obj)
{
	unsigned long errors = m->n_errors;
	struct np_namespace *ns =
		VEC_PUSH(m->trash.namespaces, m->trash.n_namespaces, m->trash.cap_namespaces);
	const struct yt_node *labels;
	int err;

	if (!ns)
		return -ENOMEM;
	ns->loc = mf_loc(m, obj);
	labels = mf_meta(m, obj, false);
	ns->name = strdup(m->name ? m->name : "");
	if (!ns->name)
		return -ENOMEM;
	err = mf_meta_labels(m, labels, &ns->labels);
	/* The API server sets this label on every namespace, overwriting any
	 * value a manifest gave it. */
	if (!err)
		err = labels_set(&ns->labels, MF_NS_LABEL, ns->name);
	return err ? err : mf_commit(m, MF_NAMESPACE, errors);
}

/* ---- Pod ---- */

static uint8_t mf_protocol(struct mf_ctx *m, const struct yt_node *map)
{
	const struct yt_node *p;
	char buf[MF_QUOTE_MAX];
	uint8_t proto;
	size_t old;

	if (!mf_str_field(m, map, "protocol", &p) || !p)
		return IPPROTO_TCP;
	proto = proto_parse(p->str);
	if (proto)
		return proto;
	old = mf_enter(m, "protocol");
	mf_error(m, p, "unsupported protocol \"%s\": must be TCP, UDP or SCTP", mf_quote(p, buf));
	mf_leave(m, old);
	return IPPROTO_TCP;
}

static int mf_container_port(struct mf_ctx *m, const struct yt_node *item, struct np_pod *pod)
{
	const struct yt_node *name, *num;
	struct np_container_port *cp;
	int64_t v = 0;
	size_t old;

	if (!mf_is_map_or_null(m, item))
		return 0;
	cp = VEC_PUSH(pod->ports, pod->n_ports, pod->cap_ports);
	if (!cp)
		return -ENOMEM;
	if (mf_str_field(m, item, "name", &name) && name) {
		old = mf_enter(m, "name");
		mf_valid(m, name, "port name", mf_check_port_name);
		mf_leave(m, old);
		if (mf_strdup(&cp->name, name))
			return -ENOMEM;
	}
	num = mf_get(item, "containerPort");
	old = mf_enter(m, "containerPort");
	if (!num)
		mf_error(m, item, "required");
	else if (mf_int(m, num, 1, 65535, &v))
		cp->port = (uint16_t)v;
	mf_leave(m, old);
	cp->proto = mf_protocol(m, item);
	return 0;
}

static int mf_container(struct mf_ctx *m, const struct yt_node *ctr, struct np_pod *pod)
{
	const struct yt_node *ports;
	size_t i, old;
	int err = 0;

	if (!mf_is_map_or_null(m, ctr))
		return 0;
	ports = mf_get(ctr, "ports");
	if (!ports)
		return 0;
	old = mf_enter(m, "ports");
	if (mf_is(m, ports, YT_SEQ)) {
		err = MF_RESERVE(pod->ports, pod->n_ports, pod->cap_ports, ports->n);
		for (i = 0; !err && i < ports->n; i++) {
			size_t o = mf_enter_index(m, i);

			err = mf_container_port(m, ports->items[i], pod);
			mf_leave(m, o);
		}
	}
	mf_leave(m, old);
	return err;
}

/* spec.containers[].ports only: init containers' ports are not the pod's
 * serving ports, and the API resolves named ports from containers alone. */
static int mf_pod_spec(struct mf_ctx *m, const struct yt_node *spec, struct np_pod *pod)
{
	const struct yt_node *hn, *ctrs, *node;
	size_t i, old;
	int err = 0;

	if (!spec || !mf_is(m, spec, YT_MAP))
		return 0;
	hn = mf_get(spec, "hostNetwork");
	if (hn && yt_get_bool(hn, &pod->host_network)) {
		old = mf_enter(m, "hostNetwork");
		mf_error(m, hn, "must be a boolean, not %s", yt_describe(hn));
		mf_leave(m, old);
	}
	/* Which node is the pod's decides whether that node's addresses are its
	 * host (see identity.c). The API server checks it as a subdomain. */
	if (mf_str_field(m, spec, "nodeName", &node) && node && node->len) {
		old = mf_enter(m, "nodeName");
		if (mf_valid(m, node, "node name", mf_check_dns_subdomain) &&
		    mf_strdup(&pod->node, node))
			err = -ENOMEM;
		mf_leave(m, old);
	}
	if (err)
		return err;
	ctrs = mf_get(spec, "containers");
	if (!ctrs)
		return 0;
	old = mf_enter(m, "containers");
	if (mf_is(m, ctrs, YT_SEQ)) {
		for (i = 0; !err && i < ctrs->n; i++) {
			size_t o = mf_enter_index(m, i);

			err = mf_container(m, ctrs->items[i], pod);
			mf_leave(m, o);
		}
	}
	mf_leave(m, old);
	return err;
}

/* A list of addresses in status: podIPs or hostIPs. */
struct mf_addrs {
	struct np_addr **v;
	size_t *n, *cap;
};

/* Adds an address from status, once: podIP is also podIPs[0] (and hostIP
 * hostIPs[0]). */
static int mf_pod_addr(struct mf_ctx *m, const struct yt_node *ip, const struct mf_addrs *to)
{
	struct np_addr a, *slot;
	char buf[MF_QUOTE_MAX];
	size_t i;

	if (!mf_is_str(m, ip))
		return 0;
	if (addr_parse(ip->str, false, &a)) {
		mf_error(m, ip, "invalid IP address \"%s\"", mf_quote(ip, buf));
		return 0;
	}
	for (i = 0; i < *to->n; i++) {
		if (!addr_cmp(&(*to->v)[i], &a))
			return 0;
	}
	slot = VEC_PUSH(*to->v, *to->n, *to->cap);
	if (!slot)
		return -ENOMEM;
	*slot = a;
	return 0;
}

static int mf_pod_ips(struct mf_ctx *m, const struct yt_node *ips, const struct mf_addrs *to)
{
	size_t i, old;
	int err = 0;

	if (!mf_is(m, ips, YT_SEQ))
		return 0;
	for (i = 0; !err && i < ips->n; i++) {
		const struct yt_node *item = ips->items[i], *ip;

		old = mf_enter_index(m, i);
		if (mf_is_map_or_null(m, item) && (ip = mf_get(item, "ip"))) {
			size_t o = mf_enter(m, "ip");

			err = mf_pod_addr(m, ip, to);
			mf_leave(m, o);
		}
		mf_leave(m, old);
	}
	return err;
}

/* status.ONE (a string) then status.MANY (a list of {ip: ...}) into to. */
static int mf_status_addrs(struct mf_ctx *m, const struct yt_node *status, const char *one,
			   const char *many, const struct mf_addrs *to)
{
	const struct yt_node *ip = mf_get(status, one), *ips = mf_get(status, many);
	size_t old;
	int err = 0;

	if (ip) {
		old = mf_enter(m, one);
		err = mf_pod_addr(m, ip, to);
		mf_leave(m, old);
	}
	if (!err && ips) {
		old = mf_enter(m, many);
		err = mf_pod_ips(m, ips, to);
		mf_leave(m, old);
	}
	return err;
}

static int mf_pod_status(struct mf_ctx *m, const struct yt_node *status, struct np_pod *pod)
{
	const struct mf_addrs pod_ips = { &pod->addrs, &pod->n_addrs, &pod->cap_addrs };
	const struct mf_addrs host_ips = { &pod->host_addrs, &pod->n_host_addrs,
					   &pod->cap_host_addrs };
	int err;

	if (!status || !mf_is(m, status, YT_MAP))
		return 0;
	err = mf_status_addrs(m, status, "podIP", "podIPs", &pod_ips);
	if (!err)
		err = mf_status_addrs(m, status, "hostIP", "hostIPs", &host_ips);
	return err;
}

static int mf_pod(struct mf_ctx *m, const struct yt_node *obj)
{
	unsigned long errors = m->n_errors;
	struct np_pod *pod = VEC_PUSH(m->trash.pods, m->trash.n_pods, m->trash.cap_pods);
	const struct yt_node *labels;
	size_t old;
	int err;

	if (!pod)
		return -ENOMEM;
	pod->loc = mf_loc(m, obj);
	labels = mf_meta(m, obj, true);
	pod->ns = strdup(m->ns);
	pod->name = strdup(m->name ? m->name : "");
	if (!pod->ns || !pod->name)
		return -ENOMEM;
	err = mf_meta_labels(m, labels, &pod->labels);
	if (!err) {
		old = mf_enter(m, "spec");
		err = mf_pod_spec(m, mf_get(obj, "spec"), pod);
		mf_leave(m, old);
	}
	if (!err) {
		old = mf_enter(m, "status");
		err = mf_pod_status(m, mf_get(obj, "status"), pod);
		mf_leave(m, old);
	}
	return err ? err : mf_commit(m, MF_POD, errors);
}

/* ---- NetworkPolicy: peers ---- */

/* A CIDR, host bits allowed (and cleared) as the API server allows them. */
static bool mf_cidr(struct mf_ctx *m, const struct yt_node *n, struct np_addr *out)
{
	char buf[MF_QUOTE_MAX];

	if (!mf_is_str(m, n))
		return false;
	if (!strchr(n->str, '/') || addr_parse(n->str, true, out)) {
		mf_error(m, n, "invalid CIDR \"%s\": must be an IPv4 or IPv6 address/prefix length",
			 mf_quote(n, buf));
		return false;
	}
	return true;
}

static int mf_except(struct mf_ctx *m, const struct yt_node *n, bool cidr_ok, struct np_ipblock *b)
{
	char buf[MF_QUOTE_MAX], net[64];
	struct np_addr e, *slot;

	if (!mf_cidr(m, n, &e))
		return 0;
	if (cidr_ok && (!addr_contains(&b->cidr, &e) || e.plen <= b->cidr.plen)) {
		mf_error(m, n, "\"%s\" must be a strict subset of cidr %s", mf_quote(n, buf),
			 addr_format(&b->cidr, net, sizeof(net)));
		return 0;
	}
	slot = VEC_PUSH(b->except, b->n_except, b->cap_except);
	if (!slot)
		return -ENOMEM;
	*slot = e;
	return 0;
}

static int mf_ipblock(struct mf_ctx *m, const struct yt_node *ipb, struct np_ipblock *b)
{
	const struct yt_node *cidr, *ex;
	bool cidr_ok = false;
	size_t i, old;
	int err = 0;

	if (!mf_is(m, ipb, YT_MAP))
		return 0;
	if (mf_str_field(m, ipb, "cidr", &cidr)) {
		old = mf_enter(m, "cidr");
		if (!cidr || !cidr->len)
			mf_error(m, cidr ? cidr : ipb, "required");
		else
			cidr_ok = mf_cidr(m, cidr, &b->cidr);
		mf_leave(m, old);
	}
	ex = mf_get(ipb, "except");
	if (!ex)
		return 0;
	old = mf_enter(m, "except");
	if (mf_is(m, ex, YT_SEQ)) {
		err = MF_RESERVE(b->except, b->n_except, b->cap_except, ex->n);
		for (i = 0; !err && i < ex->n; i++) {
			size_t o = mf_enter_index(m, i);

			err = mf_except(m, ex->items[i], cidr_ok, b);
			mf_leave(m, o);
		}
	}
	mf_leave(m, old);
	return err;
}

static int mf_peer(struct mf_ctx *m, const struct yt_node *item, struct np_peer *p)
{
	const struct yt_node *ps, *nss, *ipb;
	size_t old;
	int err = 0;

	if (!mf_is_map_or_null(m, item))
		return 0;
	/* In a peer, a null selector is an absent one (a pointer field). */
	ps = mf_get(item, "podSelector");
	nss = mf_get(item, "namespaceSelector");
	ipb = mf_get(item, "ipBlock");
	p->has_pod_sel = ps;
	p->has_ns_sel = nss;
	p->has_ipblock = ipb;
	if (!ps && !nss && !ipb)
		mf_error(m, item, "must specify a peer: podSelector, namespaceSelector or ipBlock");
	if (ipb && (ps || nss))
		mf_error(m, item, "may not specify both ipBlock and another peer");
	if (ps)
		err = mf_selector_field(m, ps, "podSelector", &p->pod_sel);
	if (!err && nss)
		err = mf_selector_field(m, nss, "namespaceSelector", &p->ns_sel);
	if (!err && ipb) {
		old = mf_enter(m, "ipBlock");
		err = mf_ipblock(m, ipb, &p->ipblock);
		mf_leave(m, old);
	}
	return err;
}

/* ---- NetworkPolicy: ports ---- */

/* Reads port into out: a number, or a name (IntOrString: only a plain
 * scalar is a number, so "80" quoted is a name, and an invalid one). Returns
 * 1 for a number, 2 for a name, 0 after reporting an error. */
static int mf_port_value(struct mf_ctx *m, const struct yt_node *port, struct np_port *out,
			 int *err)
{
	int64_t v;

	if (port->kind == YT_SCALAR && yt_scalar_type(port) == YT_STR) {
		if (!mf_is_str(m, port) || !mf_valid(m, port, "port name", mf_check_port_name))
			return 0;
		*err = mf_strdup(&out->name, port);
		return 2;
	}
	if (yt_scalar_type(port) != YT_INT || port->kind != YT_SCALAR) {
		mf_error(m, port, "must be a port number or name, not %s", yt_describe(port));
		return 0;
	}
	if (!mf_int(m, port, 1, 65535, &v))
		return 0;
	out->port = (uint16_t)v;
	return 1;
}

static void mf_end_port(struct mf_ctx *m, const struct yt_node *item, const struct yt_node *end,
			int port_kind, struct np_port *out)
{
	int64_t v;

	if (!mf_get(item, "port"))
		mf_error(m, end, "may not be specified when port is not specified");
	else if (port_kind == 2)
		mf_error(m, end, "may not be specified when port is a name");
	else if (!mf_int(m, end, 1, 65535, &v))
		return;
	else if (port_kind == 1 && v < out->port)
		mf_error(m, end, "%lld must be greater than or equal to port %u", (long long)v,
			 out->port);
	else if (port_kind == 1)
		out->end_port = (uint16_t)v;
}

static int mf_port(struct mf_ctx *m, const struct yt_node *item, struct np_port *out)
{
	const struct yt_node *port, *end;
	int kind = 0, err = 0;
	size_t old;

	if (!mf_is_map_or_null(m, item))
		return 0;
	out->proto = mf_protocol(m, item);
	port = mf_get(item, "port");
	end = mf_get(item, "endPort");
	if (port) {
		old = mf_enter(m, "port");
		kind = mf_port_value(m, port, out, &err);
		mf_leave(m, old);
	}
	if (!err && end) {
		old = mf_enter(m, "endPort");
		mf_end_port(m, item, end, kind, out);
		mf_leave(m, old);
	}
	return err;
}

/* ---- NetworkPolicy: rules ---- */

static int mf_rule_peers(struct mf_ctx *m, const struct yt_node *list, struct np_rule *r)
{
	size_t i;
	int err = 0;

	if (!mf_is(m, list, YT_SEQ))
		return 0;
	err = MF_RESERVE(r->peers, r->n_peers, r->cap_peers, list->n);
	for (i = 0; !err && i < list->n; i++) {
		size_t old = mf_enter_index(m, i);
		struct np_peer *p = VEC_PUSH(r->peers, r->n_peers, r->cap_peers);

		err = p ? mf_peer(m, list->items[i], p) : -ENOMEM;
		mf_leave(m, old);
	}
	return err;
}

static int mf_rule_ports(struct mf_ctx *m, const struct yt_node *list, struct np_rule *r)
{
	size_t i;
	int err = 0;

	if (!mf_is(m, list, YT_SEQ))
		return 0;
	err = MF_RESERVE(r->ports, r->n_ports, r->cap_ports, list->n);
	for (i = 0; !err && i < list->n; i++) {
		size_t old = mf_enter_index(m, i);
		struct np_port *p = VEC_PUSH(r->ports, r->n_ports, r->cap_ports);

		err = p ? mf_port(m, list->items[i], p) : -ENOMEM;
		mf_leave(m, old);
	}
	return err;
}

/* `from: []` and no `from` both mean every peer (n_peers == 0); likewise
 * for ports. A rule `{}` (or null) therefore allows everything. */
static int mf_rule(struct mf_ctx *m, const struct yt_node *item, enum np_dir dir, struct np_rule *r)
{
	const char *peers_key = dir == NP_INGRESS ? "from" : "to";
	const struct yt_node *peers, *ports;
	size_t old;
	int err = 0;

	r->loc = mf_loc(m, item);
	if (!mf_is_map_or_null(m, item))
		return 0;
	peers = mf_get(item, peers_key);
	if (peers) {
		old = mf_enter(m, peers_key);
		err = mf_rule_peers(m, peers, r);
		mf_leave(m, old);
	}
	ports = mf_get(item, "ports");
	if (!err && ports) {
		old = mf_enter(m, "ports");
		err = mf_rule_ports(m, ports, r);
		mf_leave(m, old);
	}
	return err;
}

static int mf_rules(struct mf_ctx *m, const struct yt_node *spec, enum np_dir dir,
		    struct np_policy *p)
{
	const char *key = dir == NP_INGRESS ? "ingress" : "egress";
	const struct yt_node *list = mf_get(spec, key);
	size_t i, old;
	int err = 0;

	if (!list)
		return 0;
	old = mf_enter(m, key);
	if (mf_is(m, list, YT_SEQ)) {
		err = MF_RESERVE(p->rules[dir], p->n_rules[dir], p->cap_rules[dir], list->n);
		for (i = 0; !err && i < list->n; i++) {
			size_t o = mf_enter_index(m, i);
			struct np_rule *r =
				VEC_PUSH(p->rules[dir], p->n_rules[dir], p->cap_rules[dir]);

			err = r ? mf_rule(m, list->items[i], dir, r) : -ENOMEM;
			mf_leave(m, o);
		}
	}
	mf_leave(m, old);
	return err;
}

/* Reads policyTypes; false when it is absent or empty, so that the caller
 * applies the API server's default once the rules are known. */
static bool mf_policy_types(struct mf_ctx *m, const struct yt_node *spec, struct np_policy *p)
{
	const struct yt_node *types = mf_get(spec, "policyTypes");
	size_t i, old;
	char buf[MF_QUOTE_MAX];

	if (!types || (types->kind == YT_SEQ && !types->n))
		return false;
	old = mf_enter(m, "policyTypes");
	if (!mf_is(m, types, YT_SEQ)) {
		/* reported */
	} else if (types->n > 2) {
		mf_error(m, types, "may not specify more than two policyTypes");
	} else {
		for (i = 0; i < types->n; i++) {
			const struct yt_node *t = types->items[i];

			if (!mf_is_str(m, t))
				continue;
			if (!strcmp(t->str, "Ingress"))
				p->types[NP_INGRESS] = true;
			else if (!strcmp(t->str, "Egress"))
				p->types[NP_EGRESS] = true;
			else
				mf_error(
					m, t,
					"unsupported policy type \"%s\": must be Ingress or Egress",
					mf_quote(t, buf));
		}
	}
	mf_leave(m, old);
	return true;
}

static int mf_policy_spec(struct mf_ctx *m, const struct yt_node *obj, struct np_policy *p)
{
	const struct yt_node *spec = mf_get(obj, "spec"), *sel;
	size_t old = mf_enter(m, "spec");
	bool given;
	int err = 0;

	if (spec && !mf_is(m, spec, YT_MAP))
		goto out;
	/* spec.podSelector is a struct, not a pointer: null reads as {}. But
	 * it is required, so a forgotten one is not silently "every pod". */
	sel = yt_map_get(spec, "podSelector");
	if (!sel) {
		size_t o = mf_enter(m, "podSelector");

		mf_error(m, spec ? spec : obj, "required (podSelector: {} selects every pod)");
		mf_leave(m, o);
	}
	err = mf_selector_field(m, sel, "podSelector", &p->pod_sel);
	given = mf_policy_types(m, spec, p);
	if (!err)
		err = mf_rules(m, spec, NP_INGRESS, p);
	if (!err)
		err = mf_rules(m, spec, NP_EGRESS, p);
	/* The API server's default: Ingress, plus Egress when there is at
	 * least one egress rule. An empty `egress: []` adds nothing, as the
	 * server tests len(spec.egress) != 0. */
	if (!given) {
		p->types[NP_INGRESS] = true;
		p->types[NP_EGRESS] = p->n_rules[NP_EGRESS] != 0;
	}
out:
	mf_leave(m, old);
	return err;
}

static int mf_policy(struct mf_ctx *m, const struct yt_node *obj)
{
	unsigned long errors = m->n_errors;
	struct np_policy *p =
		VEC_PUSH(m->trash.policies, m->trash.n_policies, m->trash.cap_policies);
	struct np_labels unused = {0};
	const struct yt_node *labels;
	int err;

	if (!p)
		return -ENOMEM;
	p->loc = mf_loc(m, obj);
	labels = mf_meta(m, obj, true);
	p->ns = strdup(m->ns);
	p->name = strdup(m->name ? m->name : "");
	if (!p->ns || !p->name)
		return -ENOMEM;
	/* A policy's own labels mean nothing to enforcement, but the API
	 * server rejects invalid ones, so they are checked all the same. */
	err = mf_meta_labels(m, labels, &unused);
	labels_free(&unused);
	if (!err)
		err = mf_policy_spec(m, obj, p);
	return err ? err : mf_commit(m, MF_POLICY, errors);
}

/* ---- documents and lists ---- */

struct mf_handler {
	const char *kind;
	int (*read)(struct mf_ctx *m, const struct yt_node *obj);
	const char *api; /* required apiVersion, or NULL for any */
};

static const struct mf_handler mf_handlers[] = {
	{"Namespace", mf_namespace, NULL},
	{"Pod", mf_pod, NULL},
	{"NetworkPolicy", mf_policy, MF_POLICY_API},
};

/* List kinds and the kind of their items when an item does not say (the
 * API's own lists leave kind and apiVersion out of their items). */
static const char *const mf_lists[][2] = {
	{"List", NULL},
	{"NamespaceList", "Namespace"},
	{"PodList", "Pod"},
	{"NetworkPolicyList", "NetworkPolicy"},
};

static int mf_object(struct mf_ctx *m, const struct yt_node *obj, const char *def_kind,
		     const char *def_api);
static bool mf_list_kind(const char *kind, const char **list, const char **item_kind);

static int mf_list(struct mf_ctx *m, const struct yt_node *list, const char *kind,
		   const char *item_kind, const char *api)
{
	const struct yt_node *items = mf_get(list, "items");
	size_t i, old;
	int err = 0;

	m->kind = kind;
	if (!items)
		return 0;
	old = mf_enter(m, "items");
	if (!mf_is(m, items, YT_SEQ)) {
		mf_leave(m, old);
		return 0;
	}
	mf_leave(m, old);
	for (i = 0; !err && i < items->n; i++) {
		/* Only a typed list's apiVersion speaks for its items. */
		err = mf_object(m, items->items[i], item_kind, item_kind ? api : NULL);
		m->kind = kind;
		m->ns = m->name = NULL;
	}
	return err;
}

static int mf_dispatch(struct mf_ctx *m, const struct yt_node *obj, const char *kind,
		       const char *api)
{
	const char *list, *item_kind;
	char buf[MF_QUOTE_MAX];
	size_t i;

	if (mf_list_kind(kind, &list, &item_kind))
		return mf_list(m, obj, list, item_kind, api);
	for (i = 0; i < sizeof(mf_handlers) / sizeof(mf_handlers[0]); i++) {
		const struct mf_handler *h = &mf_handlers[i];

		if (strcmp(kind, h->kind))
			continue;
		if (h->api && (!api || strcmp(api, h->api))) {
			/* Not silent: the author meant a policy that will not apply. */
			log_warn("%s:%d:%d: skipping %s: apiVersion is %s, not %s", m->file,
				 obj->line, obj->col, kind,
				 api ? yt_printable(api, strlen(api), buf, sizeof(buf)) : "missing",
				 h->api);
			return 0;
		}
		m->kind = h->kind;
		return h->read(m, obj);
	}
	log_debug("%s:%d:%d: skipping kind %s", m->file, obj->line, obj->col,
		  yt_printable(kind, strlen(kind), buf, sizeof(buf)));
	return 0;
}

static int mf_object(struct mf_ctx *m, const struct yt_node *obj, const char *def_kind,
		     const char *def_api)
{
	const struct yt_node *kind, *api;

	m->kind = m->ns = m->name = NULL;
	mf_leave(m, 0);
	if (obj->kind != YT_MAP) {
		mf_error(m, obj, "an object must be a map, not %s", yt_describe(obj));
		return 0;
	}
	if (!mf_str_field(m, obj, "kind", &kind) || !mf_str_field(m, obj, "apiVersion", &api))
		return 0;
	if (!kind && !def_kind) {
		size_t old = mf_enter(m, "kind");

		mf_error(m, obj, "required");
		mf_leave(m, old);
		return 0;
	}
	return mf_dispatch(m, obj, kind ? kind->str : def_kind, api ? api->str : def_api);
}

/* The item kind of a List kind; false when kind is not a List we read. */
static bool mf_list_kind(const char *kind, const char **list, const char **item_kind)
{
	size_t i;

	for (i = 0; i < sizeof(mf_lists) / sizeof(mf_lists[0]); i++) {
		if (!strcmp(kind, mf_lists[i][0])) {
			*list = mf_lists[i][0];
			*item_kind = mf_lists[i][1];
			return true;
		}
	}
	return false;
}

static bool mf_is_plain_str(const struct yt_node *n)
{
	return n && n->kind == YT_SCALAR && yt_scalar_type(n) == YT_STR && strlen(n->str) == n->len;
}

/* Reads a List item while the List is still being parsed (see yt_item_fn).
 * When the kind is not known yet, as in kubectl's output where it follows
 * the items, only an item of a core v1 List that names its own kind can be
 * read now: every v1 List kind reads such an item the same way. Anything
 * else is kept for mf_on_doc, which sees the whole document. */
static int mf_on_item(const struct yt_node *item, const struct yt_node *head, const char *file,
		      void *arg)
{
	const struct yt_node *kind = yt_map_get(head, "kind"),
			     *api = yt_map_get(head, "apiVersion");
	const char *list = "List", *item_kind = NULL;
	struct mf_ctx *m = arg;
	int err;

	if (!kind && (!mf_is_plain_str(api) || strcmp(api->str, "v1") ||
		      !mf_is_plain_str(yt_map_get(item, "kind"))))
		return YT_KEEP;
	if (kind && (!mf_is_plain_str(kind) || !mf_list_kind(kind->str, &list, &item_kind)))
		return YT_KEEP;
	if (item_kind && api && !mf_is_plain_str(api))
		return YT_KEEP;
	err = mf_object(m, item, item_kind, item_kind && api ? api->str : NULL);
	m->kind = m->ns = m->name = NULL;
	if (err == -ENOMEM)
		log_error("%s: out of memory", file);
	return err;
}

static int mf_on_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct mf_ctx *m = arg;
	int err;

	if (yt_is_null(root))
		return 0;
	err = mf_object(m, root, NULL, NULL);
	m->kind = m->ns = m->name = NULL;
	if (err == -ENOMEM)
		log_error("%s: out of memory", file);
	return err;
}

/* ---- files and directories ---- */

static int mf_add_file(struct mf_ctx *m, const char *name)
{
	char *copy = strdup(name), **slot;

	slot = copy ? VEC_PUSH(m->c->files, m->c->n_files, m->c->cap_files) : NULL;
	if (!slot) {
		free(copy);
		return -ENOMEM;
	}
	*slot = copy;
	m->file = copy;
	return 0;
}

/* Syntax and size errors of one input are input errors: already reported,
 * counted, and the next input is read. */
static int mf_parsed(struct mf_ctx *m, int err)
{
	if (err != -EINVAL && err != -EFBIG)
		return err;
	m->n_errors++;
	return 0;
}

static int mf_load_file(struct mf_ctx *m, const char *path)
{
	int err = mf_add_file(m, strcmp(path, "-") ? path : "<stdin>");

	return err ? err : mf_parsed(m, yt_parse_file(path, mf_on_doc, mf_on_item, m));
}

static int mf_dir_filter(const struct dirent *d)
{
	static const char *const exts[] = {".yaml", ".yml", ".json"};
	size_t i, len = strlen(d->d_name);

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t el = strlen(exts[i]);

		if (len > el && !strcmp(d->d_name + len - el, exts[i]))
			return 1;
	}
	return 0;
}

/* Byte order, not the locale's collation: the same directory loads in the
 * same order everywhere. */
static int mf_dir_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int mf_load_dir_entry(struct mf_ctx *m, const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	struct stat st;
	char *path;
	int err = 0;

	if (asprintf(&path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name) < 0)
		return -ENOMEM;
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		log_debug("%s: skipping, not a regular file", path);
	else
		err = mf_load_file(m, path);
	free(path);
	return err;
}

static int mf_load_dir(struct mf_ctx *m, const char *dir)
{
	struct dirent **list = NULL;
	int i, n, err = 0;

	n = scandir(dir, &list, mf_dir_filter, mf_dir_cmp);
	if (n < 0) {
		err = -errno;
		log_error("%s: %s", dir, strerror(errno));
		return err;
	}
	for (i = 0; i < n; i++) {
		if (!err)
			err = mf_load_dir_entry(m, dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return err;
}

static int mf_load_path(struct mf_ctx *m, const char *path)
{
	struct stat st;

	if (strcmp(path, "-") && !stat(path, &st) && S_ISDIR(st.st_mode))
		return mf_load_dir(m, path);
	return mf_load_file(m, path);
}

/* ---- entry points ---- */

static int mf_begin(struct mf_ctx *m, struct np_cluster *c)
{
	size_t i;
	int err = 0;

	memset(m, 0, sizeof(*m));
	m->c = c;
	cluster_init(&m->trash);
	/* Objects already in c can be replaced too. */
	for (i = 0; !err && i < c->n_namespaces; i++)
		err = mf_index_add(m, MF_NAMESPACE, i);
	for (i = 0; !err && i < c->n_pods; i++)
		err = mf_index_add(m, MF_POD, i);
	for (i = 0; !err && i < c->n_policies; i++)
		err = mf_index_add(m, MF_POLICY, i);
	return err;
}

static int mf_end(struct mf_ctx *m, int err)
{
	int ferr;

	cluster_free(&m->trash);
	free(m->slots);
	ferr = cluster_finalize(m->c);
	if (ferr)
		log_error("out of memory");
	if (!err)
		err = ferr;
	if (!err && m->n_errors)
		err = -EINVAL;
	return err;
}

int manifest_load(struct np_cluster *c, char *const *paths, size_t n_paths)
{
	struct mf_ctx m;
	size_t i;
	int err;

	err = mf_begin(&m, c);
	for (i = 0; !err && i < n_paths; i++)
		err = mf_load_path(&m, paths[i]);
	return mf_end(&m, err);
}

int manifest_load_buffer(struct np_cluster *c, const char *name, const char *buf, size_t len)
{
	struct mf_ctx m;
	int err;

	err = mf_begin(&m, c);
	if (!err)
		err = mf_add_file(&m, name);
	if (!err)
		err = mf_parsed(&m, yt_parse_buffer(m.file, buf, len, mf_on_doc, mf_on_item, &m));
	return mf_end(&m, err);
}
