/* SPDX-License-Identifier: Apache-2.0 */
/* bench agent: the synthetic cluster as JSON objects (bench_agent_cluster.h). */
#include "bench_agent_cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vec.h"
#include "yaml_tree.h"

/* ---- text */

void ba_text_add(struct ba_text *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 1024;
		char *p;

		while (cap < t->len + n + 1)
			cap *= 2;
		p = realloc(t->p, cap);
		if (!p) {
			t->oom = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

void ba_text_str(struct ba_text *t, const char *s)
{
	ba_text_add(t, s, strlen(s));
}

void ba_text_quoted(struct ba_text *t, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	ba_text_add(t, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[7];

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		ba_text_add(t, s + run, i - run);
		run = i + 1;
		switch (ch) {
		case '"':
			ba_text_add(t, "\\\"", 2);
			break;
		case '\\':
			ba_text_add(t, "\\\\", 2);
			break;
		case '\n':
			ba_text_add(t, "\\n", 2);
			break;
		case '\t':
			ba_text_add(t, "\\t", 2);
			break;
		case '\r':
			ba_text_add(t, "\\r", 2);
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			ba_text_add(t, esc, 6);
		}
	}
	ba_text_add(t, s + run, n - run);
	ba_text_add(t, "\"", 1);
}

char *ba_replace(const char *json, const char *from, const char *to, bool all)
{
	struct ba_text t = { 0 };
	size_t fl = strlen(from);
	const char *p = json, *q;
	bool found = false;

	while ((q = strstr(p, from))) {
		ba_text_add(&t, p, (size_t)(q - p));
		ba_text_str(&t, to);
		p = q + fl;
		found = true;
		if (!all)
			break;
	}
	ba_text_str(&t, p);
	if (!found || t.oom) {
		free(t.p);
		return NULL;
	}
	return t.p;
}

/* ---- yt_node to JSON: plain scalars typed as the API server reads YAML. */

static void js_node(struct ba_text *t, const struct yt_node *n)
{
	char num[64];

	switch (n->kind) {
	case YT_MAP:
		ba_text_add(t, "{", 1);
		for (uint32_t i = 0; i + 1 < n->n; i += 2) {
			if (i)
				ba_text_add(t, ",", 1);
			ba_text_quoted(t, n->items[i]->str, n->items[i]->len);
			ba_text_add(t, ":", 1);
			js_node(t, n->items[i + 1]);
		}
		ba_text_add(t, "}", 1);
		return;
	case YT_SEQ:
		ba_text_add(t, "[", 1);
		for (uint32_t i = 0; i < n->n; i++) {
			if (i)
				ba_text_add(t, ",", 1);
			js_node(t, n->items[i]);
		}
		ba_text_add(t, "]", 1);
		return;
	default:
		break;
	}
	switch (yt_scalar_type(n)) {
	case YT_NULL:
		ba_text_str(t, "null");
		return;
	case YT_BOOL: {
		bool b = false;

		yt_get_bool(n, &b);
		ba_text_str(t, b ? "true" : "false");
		return;
	}
	case YT_INT: {
		int64_t v;

		if (!yt_get_int(n, &v)) {
			snprintf(num, sizeof(num), "%" PRId64, v);
			ba_text_str(t, num);
			return;
		}
		break; /* out of range: a string */
	}
	case YT_FLOAT: {
		double d = strtod(n->str, NULL);

		if (isfinite(d)) {
			snprintf(num, sizeof(num), "%.17g", d);
			ba_text_str(t, num);
			return;
		}
		break;
	}
	default:
		break;
	}
	ba_text_quoted(t, n->str, n->len);
}

/* ---- loading */

struct load_ctx {
	struct ba_server *s;
	const char *node;
	struct ba_cluster *c;
	size_t cap_local;
	struct ba_text t;
	int err;
};

static const char *scalar(const struct yt_node *n)
{
	return n && n->kind == YT_SCALAR ? n->str : NULL;
}

static bool parse_v4(const char *s, uint32_t *out)
{
	unsigned a, b, c, d;
	char extra;

	if (!s || sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 ||
	    b > 255 || c > 255 || d > 255)
		return false;
	*out = a << 24 | b << 16 | c << 8 | d;
	return true;
}

static void note_pod(struct load_ctx *x, const struct yt_node *root, const char *ns,
		     const char *name)
{
	const struct yt_node *spec = yt_map_get(root, "spec");
	const struct yt_node *status = yt_map_get(root, "status");
	const struct yt_node *ips = yt_map_get(status, "podIPs");
	const char *node = scalar(yt_map_get(spec, "nodeName"));
	bool hostnet = false;
	struct ba_pod_ref r = { 0 };

	yt_get_bool(yt_map_get(spec, "hostNetwork"), &hostnet);
	if (hostnet || !parse_v4(scalar(yt_map_get(status, "podIP")), &r.addr))
		return;
	snprintf(r.ns, sizeof(r.ns), "%s", ns);
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.key, sizeof(r.key), "%s/%s", ns, name);
	if (node && !strcmp(node, x->node)) {
		struct ba_pod_ref *slot = VEC_PUSH(x->c->local, x->c->n_local, x->cap_local);

		if (!slot) {
			x->err = -ENOMEM;
			return;
		}
		*slot = r;
		return;
	}
	/* The template: single-stack, in another namespace than the first
	 * local pod's (which the probe policy isolates); the peer namespace:
	 * another namespace with pods again. */
	if (!x->c->n_local || !strcmp(ns, x->c->local[0].ns) ||
	    (ips && ips->kind == YT_SEQ && ips->n != 1))
		return;
	if (!x->c->tmpl.key[0] && strncmp(ns, "kube-", 5))
		x->c->tmpl = r;
	else if (!x->c->peer_ns[0] && strcmp(ns, x->c->tmpl.ns) && strncmp(ns, "kube-", 5))
		snprintf(x->c->peer_ns, sizeof(x->c->peer_ns), "%s", ns);
}

static int on_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct load_ctx *x = arg;
	const char *kind = scalar(yt_map_get(root, "kind"));
	const struct yt_node *md = yt_map_get(root, "metadata");
	const char *name = scalar(yt_map_get(md, "name"));
	const char *ns = scalar(yt_map_get(md, "namespace"));
	enum ba_kind k;
	char key[300];
	int err;

	(void)file;
	if (!kind || !name || root->kind != YT_MAP)
		return 0;
	if (!strcmp(kind, "Namespace"))
		k = BA_NS;
	else if (!strcmp(kind, "Pod"))
		k = BA_POD;
	else if (!strcmp(kind, "NetworkPolicy"))
		k = BA_POL;
	else
		return 0;
	if (k != BA_NS && !ns)
		ns = "default";
	if (k == BA_NS)
		snprintf(key, sizeof(key), "%s", name);
	else
		snprintf(key, sizeof(key), "%s/%s", ns, name);
	x->t.len = 0;
	js_node(&x->t, root);
	if (x->t.oom)
		return -ENOMEM;
	err = ba_server_put(x->s, k, key, x->t.p, x->t.len);
	if (err)
		return err;
	x->c->n[k]++;
	x->c->json_bytes += x->t.len;
	if (k == BA_POD)
		note_pod(x, root, ns, name);
	return x->err;
}

int ba_cluster_load(struct ba_server *s, const struct cluster_gen_params *gp, const char *node,
		    struct ba_cluster *out)
{
	struct load_ctx x = { .s = s, .node = node, .c = out };
	struct cluster_gen_stats st = { 0 };
	char *yaml = NULL;
	size_t len = 0;
	double t0 = ba_now(), t1;
	FILE *f;
	int err;

	memset(out, 0, sizeof(*out));
	f = open_memstream(&yaml, &len);
	if (!f)
		return -ENOMEM;
	err = cluster_gen_write(f, gp, &st);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (err) {
		log_error("generating the cluster: %s", strerror(-err));
		free(yaml);
		return err;
	}
	t1 = ba_now();
	out->gen_s = t1 - t0;
	out->yaml_bytes = len;
	err = yt_parse_buffer("generated cluster", yaml, len, on_doc, NULL, &x);
	free(yaml);
	free(x.t.p);
	out->convert_s = ba_now() - t1;
	if (err) {
		log_error("converting the cluster to JSON: %s", strerror(-err));
		return err;
	}
	if (!out->n_local || !out->tmpl.key[0] || !out->peer_ns[0]) {
		log_error("the generated cluster has no pods on %s, or no pod or "
			  "namespace elsewhere to change", node);
		return -EINVAL;
	}
	return 0;
}

void ba_cluster_free(struct ba_cluster *c)
{
	free(c->local);
	memset(c, 0, sizeof(*c));
}
