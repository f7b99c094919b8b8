/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object decoders: one Namespace, Pod or NetworkPolicy from its tree,
 * validated as the API server validates it and defaulted as it defaults it,
 * through the field reader (manifest_field.h) and the name rules
 * (manifest_rules.h). Used for every object of a file (manifest.c) and for
 * one object on its own (manifest_decode), such as one that arrives from
 * the API server.
 */
#include "manifest_decode.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "manifest.h"
#include "manifest_rules.h"
#include "vec.h"

#define MF_NS_LABEL   "kubernetes.io/metadata.name"
#define MF_POLICY_API "networking.k8s.io/v1"

/* ---- labels and selectors ---- */

/* The label's value, or NULL after reporting the key or the value. */
static const char *mf_label(struct mf_reader *m, const struct yt_node *key,
			    const struct yt_node *val)
{
	bool ok;
	size_t old;

	if (!mf_is_key(m, key) || !mf_valid(m, key, "label key", mf_check_label_key))
		return NULL;
	/* A null value reads as "" (a map[string]string element). */
	if (yt_is_null(val))
		return "";
	old = mf_enter(m, key->str);
	ok = mf_is_str(m, val) && mf_valid(m, val, "label value", mf_check_label_value);
	mf_leave(m, old);
	return ok ? val->str : NULL;
}

struct mf_kv {
	const char *key, *value;
	size_t at; /* position in the map: the later of two equal keys wins */
};

static int mf_kv_cmp(const void *a, const void *b)
{
	const struct mf_kv *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : x->at < y->at ? -1 : x->at > y->at;
}

/* A labels map (metadata.labels, matchLabels); map may be NULL. Sorted
 * first, then added in key order: labels_set appends each at the end in
 * O(log n), where map order (reverse sorted, say) made it quadratic. */
static int mf_labels(struct mf_reader *m, const struct yt_node *map, struct np_labels *out)
{
	struct mf_kv *kv;
	size_t i, n = 0;
	int err = 0;

	if (!map || !mf_is(m, map, YT_MAP) || map->n < 2)
		return 0;
	kv = calloc(map->n / 2, sizeof(*kv));
	if (!kv || MF_RESERVE(out->v, out->n, out->cap, map->n / 2)) {
		free(kv);
		return -ENOMEM;
	}
	for (i = 0; i + 1 < map->n; i += 2) {
		const char *v = mf_label(m, map->items[i], map->items[i + 1]);

		if (v)
			kv[n++] = (struct mf_kv){map->items[i]->str, v, i};
	}
	if (n > 1)
		qsort(kv, n, sizeof(*kv), mf_kv_cmp);
	for (i = 0; !err && i < n; i++) {
		if (i + 1 < n && !strcmp(kv[i].key, kv[i + 1].key))
			continue;
		err = labels_set(out, kv[i].key, kv[i].value);
	}
	free(kv);
	return err;
}

static const char *const mf_ops[] = {
	[NP_OP_IN] = "In",
	[NP_OP_NOT_IN] = "NotIn",
	[NP_OP_EXISTS] = "Exists",
	[NP_OP_DOES_NOT_EXIST] = "DoesNotExist",
};

/* Returns the operator, or -1 after reporting it. */
static int mf_op(struct mf_reader *m, const struct yt_node *req)
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

static int mf_expr_values(struct mf_reader *m, const struct yt_node *req, int op, struct np_expr *e)
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
		bool null = yt_is_null(v);
		char **slot;

		/* A null item decodes as "" (a []string element), a valid label
		 * value the API server stores: `In [null]` matches `app: ""`. */
		if (!null &&
		    (!mf_is_str(m, v) || !mf_valid(m, v, "label value", mf_check_label_value)))
			continue;
		slot = VEC_PUSH(e->values, e->n_values, e->cap_values);
		if (slot && null)
			err = (*slot = strdup("")) ? 0 : -ENOMEM;
		else
			err = slot ? mf_strdup(slot, v) : -ENOMEM;
		if (err)
			break;
	}
out:
	mf_leave(m, old);
	return err;
}

static int mf_expr(struct mf_reader *m, const struct yt_node *req, struct np_selector *sel)
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
static int mf_selector(struct mf_reader *m, const struct yt_node *sel, struct np_selector *out)
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
static int mf_selector_field(struct mf_reader *m, const struct yt_node *sel, const char *key,
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
static const struct yt_node *mf_meta(struct mf_reader *m, const struct yt_node *obj,
				     bool namespaced)
{
	const struct yt_node *meta = mf_get(obj, "metadata"), *name = NULL, *ns = NULL;
	size_t old = mf_enter(m, "metadata");
	bool ok = !meta || mf_is(m, meta, YT_MAP);

	if (ok)
		ok = mf_str_field(m, meta, "name", &name);
	if (ok && namespaced)
		mf_str_field(m, meta, "namespace", &ns);
	m->name = name ? name->str : NULL;
	m->ns = !namespaced ? NULL : ns ? ns->str : m->default_ns ? m->default_ns : "default";
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
		char buf[MF_QUOTE_MAX];

		/* kubectl apply -n NS refuses an object of another namespace
		 * rather than move it. */
		if (mf_valid(m, ns, "namespace", mf_check_dns_label) && m->default_ns &&
		    strcmp(ns->str, m->default_ns))
			mf_error(m, ns, "\"%s\" does not match the namespace \"%s\" given with -n",
				 mf_quote(ns, buf), m->default_ns);
		mf_leave(m, o);
	}
	mf_leave(m, old);
	return ok ? mf_get(meta, "labels") : NULL;
}

static int mf_meta_labels(struct mf_reader *m, const struct yt_node *labels, struct np_labels *out)
{
	size_t old = mf_enter(m, "metadata.labels");
	int err = mf_labels(m, labels, out);

	mf_leave(m, old);
	return err;
}

/* ---- Namespace ---- */

static int mf_namespace(struct mf_reader *m, const struct yt_node *obj, struct np_namespace *ns)
{
	const struct yt_node *labels;
	int err;

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
	return err;
}

/* ---- Pod ---- */

static uint8_t mf_protocol(struct mf_reader *m, const struct yt_node *map)
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

static int mf_container_port(struct mf_reader *m, const struct yt_node *item, struct np_pod *pod)
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

static int mf_container(struct mf_reader *m, const struct yt_node *ctr, struct np_pod *pod)
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

struct mf_port_name {
	const struct yt_node *name;
	size_t ctr, port; /* indices, for the path and to keep source order */
};

static int mf_port_name_cmp(const void *a, const void *b)
{
	const struct mf_port_name *x = a, *y = b;
	int c = strcmp(x->name->str, y->name->str);

	if (c)
		return c;
	if (x->ctr != y->ctr)
		return x->ctr < y->ctr ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Port names, as the API server checks them: one name twice in a container
 * is an error; in two containers it is accepted with a warning, and npbpf
 * allows each number so named (compile.c), so say which pod does that.
 * Sorted, not compared pairwise: a pod may declare very many ports. */
static int mf_port_names(struct mf_reader *m, const struct yt_node *ctrs)
{
	struct mf_port_name *v = NULL;
	size_t n = 0, cap = 0, i, c, p;
	char buf[MF_QUOTE_MAX], ns[MF_QUOTE_MAX], pn[MF_QUOTE_MAX];

	for (c = 0; c < ctrs->n; c++) {
		const struct yt_node *ports =
			ctrs->items[c]->kind == YT_MAP ? mf_get(ctrs->items[c], "ports") : NULL;

		if (!ports || ports->kind != YT_SEQ)
			continue;
		for (p = 0; p < ports->n; p++) {
			const struct yt_node *name = ports->items[p]->kind == YT_MAP
							     ? mf_get(ports->items[p], "name")
							     : NULL;
			struct mf_port_name *slot;

			if (!name || name->kind != YT_SCALAR || !name->len)
				continue;
			slot = VEC_PUSH(v, n, cap);
			if (!slot) {
				free(v);
				return -ENOMEM;
			}
			*slot = (struct mf_port_name){name, c, p};
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), mf_port_name_cmp);
	for (i = 1; i < n; i++) {
		const struct mf_port_name *a = &v[i - 1], *b = &v[i];
		size_t old;

		if (strcmp(a->name->str, b->name->str))
			continue;
		if (a->ctr != b->ctr) {
			if ((i < 2 || strcmp(v[i - 2].name->str, a->name->str)) && m->ns && m->name)
				log_warn("%s:%d:%d: Pod %s/%s: port name \"%s\" is used by two "
					 "containers: npbpf allows each number so named",
					 m->file, b->name->line, b->name->col,
					 yt_printable(m->ns, strlen(m->ns), ns, sizeof(ns)),
					 yt_printable(m->name, strlen(m->name), pn, sizeof(pn)),
					 mf_quote(b->name, buf));
			continue;
		}
		old = mf_enter(m, "containers");
		mf_enter_index(m, b->ctr);
		mf_enter(m, "ports");
		mf_enter_index(m, b->port);
		mf_enter(m, "name");
		mf_error(m, b->name, "duplicate port name \"%s\" in one container",
			 mf_quote(b->name, buf));
		mf_leave(m, old);
	}
	free(v);
	return 0;
}

/* spec.containers[].ports only: init containers' ports are not the pod's
 * serving ports, and the API resolves named ports from containers alone. */
static int mf_pod_spec(struct mf_reader *m, const struct yt_node *spec, struct np_pod *pod)
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
	if (!err && ctrs->kind == YT_SEQ)
		err = mf_port_names(m, ctrs);
	return err;
}

/* A list of addresses in status: podIPs or hostIPs. */
struct mf_addrs {
	struct np_addr **v;
	size_t *n, *cap;
};

/* Adds an address from status, once: podIP is also podIPs[0] (and hostIP
 * hostIPs[0]). */
static int mf_pod_addr(struct mf_reader *m, const struct yt_node *ip, const struct mf_addrs *to)
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

static int mf_pod_ips(struct mf_reader *m, const struct yt_node *ips, const struct mf_addrs *to)
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
static int mf_status_addrs(struct mf_reader *m, const struct yt_node *status, const char *one,
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

static int mf_pod_status(struct mf_reader *m, const struct yt_node *status, struct np_pod *pod)
{
	const struct mf_addrs pod_ips = {&pod->addrs, &pod->n_addrs, &pod->cap_addrs};
	const struct mf_addrs host_ips = {&pod->host_addrs, &pod->n_host_addrs,
					  &pod->cap_host_addrs};
	const struct yt_node *phase;
	int err;

	if (!status || !mf_is(m, status, YT_MAP))
		return 0;
	/* A pod that ran to completion keeps its podIP in the API, but the
	 * address is free and may already be another pod's. */
	if (mf_str_field(m, status, "phase", &phase) && phase)
		pod->finished = !strcmp(phase->str, "Succeeded") || !strcmp(phase->str, "Failed");
	err = mf_status_addrs(m, status, "podIP", "podIPs", &pod_ips);
	if (!err)
		err = mf_status_addrs(m, status, "hostIP", "hostIPs", &host_ips);
	return err;
}

/* metadata.creationTimestamp, kept as text: the API writes RFC 3339 in UTC
 * with whole seconds, which compare in time order as strings. */
static int mf_pod_created(struct mf_reader *m, const struct yt_node *obj, struct np_pod *pod)
{
	const struct yt_node *meta = mf_get(obj, "metadata"), *ts;
	size_t old;
	bool ok;

	if (!meta || meta->kind != YT_MAP)
		return 0;
	old = mf_enter(m, "metadata");
	ok = mf_str_field(m, meta, "creationTimestamp", &ts);
	mf_leave(m, old);
	return ok && ts ? mf_strdup(&pod->created, ts) : 0;
}

static int mf_pod(struct mf_reader *m, const struct yt_node *obj, struct np_pod *pod)
{
	const struct yt_node *labels;
	size_t old;
	int err;

	pod->loc = mf_loc(m, obj);
	labels = mf_meta(m, obj, true);
	pod->ns = strdup(m->ns);
	pod->name = strdup(m->name ? m->name : "");
	if (!pod->ns || !pod->name)
		return -ENOMEM;
	err = mf_meta_labels(m, labels, &pod->labels);
	if (!err)
		err = mf_pod_created(m, obj, pod);
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
	return err;
}

/* ---- NetworkPolicy: known fields ---- */

/*
 * The fields of a networking.k8s.io/v1 NetworkPolicy, to reject unknown ones
 * as `kubectl apply` (strict field validation) does: a misspelt `ingres:` or
 * `ports` indented under a `from` item would otherwise be dropped without a
 * word and enforce a policy nobody wrote. Pods and Namespaces are not checked:
 * npbpf reads a few of their fields and a real dump carries hundreds more.
 */
enum mf_shape {
	MF_ANY,	 /* a value npbpf does not look inside here */
	MF_OBJ,	 /* a map of the fields in sub */
	MF_LIST, /* a list of such maps */
};

struct mf_field {
	const char *key;
	enum mf_shape shape;
	const struct mf_field *sub; /* NULL-key terminated */
};

static const struct mf_field mf_f_expr[] = {
	{"key", MF_ANY, NULL},
	{"operator", MF_ANY, NULL},
	{"values", MF_ANY, NULL},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_selector[] = {
	{"matchLabels", MF_ANY, NULL},
	{"matchExpressions", MF_LIST, mf_f_expr},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_ipblock[] = {
	{"cidr", MF_ANY, NULL},
	{"except", MF_ANY, NULL},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_peer[] = {
	{"podSelector", MF_OBJ, mf_f_selector},
	{"namespaceSelector", MF_OBJ, mf_f_selector},
	{"ipBlock", MF_OBJ, mf_f_ipblock},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_port[] = {
	{"protocol", MF_ANY, NULL},
	{"port", MF_ANY, NULL},
	{"endPort", MF_ANY, NULL},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_ingress[] = {
	{"from", MF_LIST, mf_f_peer},
	{"ports", MF_LIST, mf_f_port},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_egress[] = {
	{"to", MF_LIST, mf_f_peer},
	{"ports", MF_LIST, mf_f_port},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_spec[] = {
	{"podSelector", MF_OBJ, mf_f_selector},
	{"ingress", MF_LIST, mf_f_ingress},
	{"egress", MF_LIST, mf_f_egress},
	{"policyTypes", MF_ANY, NULL},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_owner[] = {
	{"apiVersion", MF_ANY, NULL},
	{"kind", MF_ANY, NULL},
	{"name", MF_ANY, NULL},
	{"uid", MF_ANY, NULL},
	{"controller", MF_ANY, NULL},
	{"blockOwnerDeletion", MF_ANY, NULL},
	{NULL, 0, NULL},
};
static const struct mf_field mf_f_managed[] = {
	{"manager", MF_ANY, NULL},     {"operation", MF_ANY, NULL},
	{"apiVersion", MF_ANY, NULL},  {"time", MF_ANY, NULL},
	{"fieldsType", MF_ANY, NULL},  {"fieldsV1", MF_ANY, NULL},
	{"subresource", MF_ANY, NULL}, {NULL, 0, NULL},
};
/* ObjectMeta. */
static const struct mf_field mf_f_meta[] = {
	{"name", MF_ANY, NULL},
	{"generateName", MF_ANY, NULL},
	{"namespace", MF_ANY, NULL},
	{"selfLink", MF_ANY, NULL},
	{"uid", MF_ANY, NULL},
	{"resourceVersion", MF_ANY, NULL},
	{"generation", MF_ANY, NULL},
	{"creationTimestamp", MF_ANY, NULL},
	{"deletionTimestamp", MF_ANY, NULL},
	{"deletionGracePeriodSeconds", MF_ANY, NULL},
	{"labels", MF_ANY, NULL},
	{"annotations", MF_ANY, NULL},
	{"ownerReferences", MF_LIST, mf_f_owner},
	{"finalizers", MF_ANY, NULL},
	{"managedFields", MF_LIST, mf_f_managed},
	{NULL, 0, NULL},
};
/* status (NetworkPolicyStatus, served from 1.24 to 1.27) is accepted as a
 * whole: dumps of those clusters carry it. */
static const struct mf_field mf_f_policy[] = {
	{"apiVersion", MF_ANY, NULL}, {"kind", MF_ANY, NULL},	{"metadata", MF_OBJ, mf_f_meta},
	{"spec", MF_OBJ, mf_f_spec},  {"status", MF_ANY, NULL}, {NULL, 0, NULL},
};

static void mf_known_fields(struct mf_reader *m, const struct yt_node *map,
			    const struct mf_field *fields);

/* A value of a known field: only maps and lists of maps are looked into;
 * a value of the wrong shape is the decoder's to report. */
static void mf_known_value(struct mf_reader *m, const struct yt_node *v, const struct mf_field *f)
{
	size_t i;

	if (f->shape == MF_OBJ && v->kind == YT_MAP)
		mf_known_fields(m, v, f->sub);
	for (i = 0; f->shape == MF_LIST && v->kind == YT_SEQ && i < v->n; i++) {
		size_t old = mf_enter_index(m, i);

		if (v->items[i]->kind == YT_MAP)
			mf_known_fields(m, v->items[i], f->sub);
		mf_leave(m, old);
	}
}

/* Reports every key of map that fields does not name, at the key. Field
 * names are case-sensitive, as the API server's strict decoding. */
static void mf_known_fields(struct mf_reader *m, const struct yt_node *map,
			    const struct mf_field *fields)
{
	char buf[MF_QUOTE_MAX];
	size_t i;

	for (i = 0; i + 1 < map->n; i += 2) {
		const struct yt_node *key = map->items[i], *val = map->items[i + 1];
		const struct mf_field *f = fields;

		while (f->key && (strlen(f->key) != key->len || memcmp(f->key, key->str, key->len)))
			f++;
		if (!f->key) {
			mf_error(m, key, "unknown field \"%s\"", mf_quote(key, buf));
		} else if (f->shape != MF_ANY) {
			size_t old = mf_enter(m, f->key);

			mf_known_value(m, val, f);
			mf_leave(m, old);
		}
	}
}

/* ---- NetworkPolicy: peers ---- */

/* A number with a leading zero in an IPv4 address or a prefix length: the
 * API server rejects them (Go's parsers since 1.17; older ones and some C
 * ones read 010 as octal 8), so npbpf says so rather than guess either way. */
static bool mf_leading_zero(const char *s)
{
	bool v4 = !strchr(s, ':');
	const char *p;

	for (p = s; *p; p++) {
		bool start = p == s || *(p - 1) == '.' || *(p - 1) == '/';
		bool field = v4 || (p > s && *(p - 1) == '/');

		if (start && field && p[0] == '0' && p[1] >= '0' && p[1] <= '9')
			return true;
	}
	return false;
}

/* A CIDR, host bits allowed (and cleared) as the API server allows them. */
static bool mf_cidr(struct mf_reader *m, const struct yt_node *n, struct np_addr *out)
{
	char buf[MF_QUOTE_MAX];

	if (!mf_is_str(m, n))
		return false;
	if (mf_leading_zero(n->str)) {
		mf_error(m, n, "invalid CIDR \"%s\": must not have leading zeros",
			 mf_quote(n, buf));
		return false;
	}
	if (!strchr(n->str, '/') || addr_parse(n->str, true, out)) {
		mf_error(m, n, "invalid CIDR \"%s\": must be an IPv4 or IPv6 address/prefix length",
			 mf_quote(n, buf));
		return false;
	}
	return true;
}

static int mf_except(struct mf_reader *m, const struct yt_node *n, bool cidr_ok,
		     struct np_ipblock *b)
{
	char buf[MF_QUOTE_MAX], net[64];
	struct np_addr e, *slot;

	if (!mf_cidr(m, n, &e))
		return 0;
	/* An IPv4-mapped IPv6 prefix (::ffff:10.1.0.0/112) is IPv6 to the API
	 * server too: never within an IPv4 cidr, nor an IPv4 one within IPv6. */
	if (cidr_ok && e.family != b->cidr.family) {
		mf_error(m, n,
			 "\"%s\" must be a strict subset of cidr %s (an IPv%u prefix is never "
			 "within an IPv%u one)",
			 mf_quote(n, buf), addr_format(&b->cidr, net, sizeof(net)), e.family,
			 b->cidr.family);
		return 0;
	}
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

static int mf_ipblock(struct mf_reader *m, const struct yt_node *ipb, struct np_ipblock *b)
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

static int mf_peer(struct mf_reader *m, const struct yt_node *item, struct np_peer *p)
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
static int mf_port_value(struct mf_reader *m, const struct yt_node *port, struct np_port *out,
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

static void mf_end_port(struct mf_reader *m, const struct yt_node *item, const struct yt_node *end,
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

static int mf_port(struct mf_reader *m, const struct yt_node *item, struct np_port *out)
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

static int mf_rule_peers(struct mf_reader *m, const struct yt_node *list, struct np_rule *r)
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

static int mf_rule_ports(struct mf_reader *m, const struct yt_node *list, struct np_rule *r)
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
static int mf_rule(struct mf_reader *m, const struct yt_node *item, enum np_dir dir,
		   struct np_rule *r)
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

static int mf_rules(struct mf_reader *m, const struct yt_node *spec, enum np_dir dir,
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
static bool mf_policy_types(struct mf_reader *m, const struct yt_node *spec, struct np_policy *p)
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

static int mf_policy_spec(struct mf_reader *m, const struct yt_node *obj, struct np_policy *p)
{
	const struct yt_node *spec = mf_get(obj, "spec"), *sel;
	size_t old = mf_enter(m, "spec");
	bool given;
	int err = 0;

	if (spec && !mf_is(m, spec, YT_MAP))
		goto out;
	/* spec and spec.podSelector are structs, not pointers: the API server
	 * defaults a missing or null one to {} (every pod of the namespace) and
	 * stores the policy, so rejecting it here would refuse what runs. */
	sel = yt_map_get(spec, "podSelector");
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

static int mf_policy(struct mf_reader *m, const struct yt_node *obj, struct np_policy *p)
{
	struct np_labels unused = {0};
	const struct yt_node *labels;
	int err;

	p->loc = mf_loc(m, obj);
	labels = mf_meta(m, obj, true);
	p->ns = strdup(m->ns);
	p->name = strdup(m->name ? m->name : "");
	if (!p->ns || !p->name)
		return -ENOMEM;
	mf_known_fields(m, obj, mf_f_policy);
	/* A policy's own labels mean nothing to enforcement, but the API
	 * server rejects invalid ones, so they are checked all the same. */
	err = mf_meta_labels(m, labels, &unused);
	labels_free(&unused);
	if (!err)
		err = mf_policy_spec(m, obj, p);
	return err;
}

/* ---- kinds ---- */

static const struct mf_handler {
	const char *kind;
	const char *api; /* required apiVersion, or NULL for any */
} mf_handlers[] = {
	[MF_NAMESPACE] = {"Namespace", NULL},
	[MF_POD] = {"Pod", NULL},
	[MF_POLICY] = {"NetworkPolicy", MF_POLICY_API},
};

bool mf_object_kind(struct mf_reader *m, const struct yt_node *obj, const char *def_kind,
		    const char *def_api, const char **kind, const char **api)
{
	const struct yt_node *k, *a;

	m->kind = m->ns = m->name = NULL;
	mf_leave(m, 0);
	if (obj->kind != YT_MAP) {
		mf_error(m, obj, "an object must be a map, not %s", yt_describe(obj));
		return false;
	}
	if (!mf_str_field(m, obj, "kind", &k) || !mf_str_field(m, obj, "apiVersion", &a))
		return false;
	if (!k && !def_kind) {
		size_t old = mf_enter(m, "kind");

		mf_error(m, obj, "required");
		mf_leave(m, old);
		return false;
	}
	*kind = k ? k->str : def_kind;
	*api = a ? a->str : def_api;
	return true;
}

/* Kinds that look like network policy and are not networking.k8s.io/v1
 * NetworkPolicy, whatever their apiVersion (Calico's NetworkPolicy is
 * recognised by its apiVersion, below). */
static const char *const mf_other_policies[] = {
	"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy",
	"AdminNetworkPolicy",  "BaselineAdminNetworkPolicy",
	"GlobalNetworkPolicy", "ClusterNetworkPolicy",
};

/* Warns that obj, policy of another kind or API, is not enforced. */
static void mf_not_enforced(const struct mf_reader *m, const struct yt_node *obj, const char *kind,
			    const char *api)
{
	const struct yt_node *meta = yt_map_get(obj, "metadata");
	const struct yt_node *name = yt_map_get(meta, "name"), *ns = yt_map_get(meta, "namespace");
	char k[MF_QUOTE_MAX], a[MF_QUOTE_MAX], n[MF_QUOTE_MAX], s[MF_QUOTE_MAX];

	if (!name || name->kind != YT_SCALAR)
		name = NULL;
	if (!ns || ns->kind != YT_SCALAR)
		ns = NULL;
	log_warn("%s:%d:%d: %s %s%s%s (apiVersion %s) is not enforced: npbpf enforces %s "
		 "NetworkPolicy only",
		 m->file, obj->line, obj->col, yt_printable(kind, strlen(kind), k, sizeof(k)),
		 ns ? mf_quote(ns, s) : "", ns ? "/" : "", name ? mf_quote(name, n) : "(unnamed)",
		 api ? yt_printable(api, strlen(api), a, sizeof(a)) : "missing", MF_POLICY_API);
}

enum mf_kind_class mf_kind_of(struct mf_reader *m, const struct yt_node *obj, const char *kind,
			      const char *api, enum mf_kind *out)
{
	size_t i;

	for (i = 0; i < sizeof(mf_handlers) / sizeof(mf_handlers[0]); i++) {
		const struct mf_handler *h = &mf_handlers[i];

		if (strcmp(kind, h->kind))
			continue;
		if (h->api && (!api || strcmp(api, h->api))) {
			mf_not_enforced(m, obj, kind, api);
			return MF_KIND_NOT_ENFORCED;
		}
		m->kind = h->kind;
		*out = (enum mf_kind)i;
		return MF_KIND_READ;
	}
	for (i = 0; i < sizeof(mf_other_policies) / sizeof(mf_other_policies[0]); i++) {
		if (!strcmp(kind, mf_other_policies[i])) {
			mf_not_enforced(m, obj, kind, api);
			return MF_KIND_NOT_ENFORCED;
		}
	}
	return MF_KIND_OTHER;
}

int mf_decode(struct mf_reader *m, const struct yt_node *obj, enum mf_kind kind, void *out)
{
	switch (kind) {
	case MF_NAMESPACE:
		return mf_namespace(m, obj, out);
	case MF_POD:
		return mf_pod(m, obj, out);
	case MF_POLICY:
		return mf_policy(m, obj, out);
	}
	return -EINVAL;
}

/* ---- one object on its own ---- */

int manifest_decode(const struct yt_node *obj, const char *source, struct manifest_object *out)
{
	struct mf_reader m = {.file = source};
	const char *kind, *api;
	enum mf_kind k;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!mf_object_kind(&m, obj, NULL, NULL, &kind, &api))
		return -EINVAL;
	if (mf_kind_of(&m, obj, kind, api, &k) != MF_KIND_READ)
		return 0;
	out->kind = (enum manifest_kind)(MANIFEST_NAMESPACE + (int)k);
	ret = mf_decode(&m, obj, k, &out->u);
	if (!ret && m.n_errors)
		ret = -EINVAL;
	if (ret)
		manifest_object_free(out);
	return ret ? ret : 1;
}

void manifest_object_free(struct manifest_object *o)
{
	switch (o->kind) {
	case MANIFEST_NAMESPACE:
		namespace_free(&o->u.ns);
		break;
	case MANIFEST_POD:
		pod_free(&o->u.pod);
		break;
	case MANIFEST_POLICY:
		policy_free(&o->u.policy);
		break;
	case MANIFEST_NONE:
		break;
	}
	memset(o, 0, sizeof(*o));
}
