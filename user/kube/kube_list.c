/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One paginated LIST per kind into a cluster model (kube_list.h): the same
 * requests the reflector makes for its first list (limit, continue), the
 * body parsed as a stream (JS_LIST) and every item decoded by
 * manifest_decode, so a snapshot taken here and the agent's store agree on
 * what is valid.
 */
#include "kube_list.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_stream.h"
#include "log.h"
#include "manifest.h"
#include "vec.h"
#include "yaml_tree.h"

#define KL_PAGE_SIZE 500u
/* A page that sends nothing for this long is a failed request. */
#define KL_IDLE_S 30.0

static const struct kl_kind {
	const char *path, *kind, *api;
	enum manifest_kind mk;
} kl_kinds[KUBE_N_KINDS] = {
	[KUBE_NAMESPACES] = { "/api/v1/namespaces", "Namespace", "v1", MANIFEST_NAMESPACE },
	[KUBE_PODS] = { "/api/v1/pods", "Pod", "v1", MANIFEST_POD },
	[KUBE_POLICIES] = { "/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicy",
			    "networking.k8s.io/v1", MANIFEST_POLICY },
};

struct kl_page {
	struct np_cluster *c;
	struct kube_list_info *info;
	enum kube_kind k;
	const char *source; /* owned by c->files */
	struct json_stream *js;
	int err;
};

int kube_rv_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	bool num = la && lb;

	for (size_t i = 0; num && i < la; i++)
		num = isdigit((unsigned char)a[i]);
	for (size_t i = 0; num && i < lb; i++)
		num = isdigit((unsigned char)b[i]);
	if (!num)
		return strcmp(a, b);
	while (la > 1 && *a == '0')
		a++, la--;
	while (lb > 1 && *b == '0')
		b++, lb--;
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

static const char *scalar(const struct yt_node *n)
{
	return n && n->kind == YT_SCALAR && n->str ? n->str : NULL;
}

/* LIST items carry no kind or apiVersion: decode a copy of the item's map
 * with both put in front, as a file would have them. */
static int decode_item(const struct kl_page *p, const struct yt_node *obj,
		       struct manifest_object *out)
{
	const struct kl_kind *ki = &kl_kinds[p->k];
	struct yt_node wrap, extra[4], **items = NULL;
	const struct yt_node *o = obj;
	uint32_t n = 0;
	int ret;

	if (obj->kind == YT_MAP && (!yt_map_get(obj, "kind") || !yt_map_get(obj, "apiVersion"))) {
		const char *text[4] = { "kind", ki->kind, "apiVersion", ki->api };
		bool add[2] = { !yt_map_get(obj, "kind"), !yt_map_get(obj, "apiVersion") };

		items = malloc(sizeof(*items) * ((size_t)obj->n + 4));
		if (!items)
			return -ENOMEM;
		for (int i = 0; i < 4; i++) {
			extra[i] = (struct yt_node){ .kind = YT_SCALAR, .quoted = true, .weight = 1,
						     .line = obj->line, .col = obj->col,
						     .str = text[i],
						     .len = (uint32_t)strlen(text[i]) };
			if (add[i / 2])
				items[n++] = &extra[i];
		}
		memcpy(items + n, obj->items, sizeof(*items) * obj->n);
		wrap = *obj;
		wrap.items = items;
		wrap.n = obj->n + n;
		wrap.weight = obj->weight + n;
		o = &wrap;
	}
	ret = manifest_decode(o, p->source, out);
	free(items);
	return ret;
}

/* Moves a decoded object into the cluster (its vectors own it from now). */
static int adopt(struct np_cluster *c, struct manifest_object *o)
{
	void *slot;

	switch (o->kind) {
	case MANIFEST_NAMESPACE:
		slot = VEC_PUSH(c->namespaces, c->n_namespaces, c->cap_namespaces);
		if (slot)
			memcpy(slot, &o->u.ns, sizeof(o->u.ns));
		break;
	case MANIFEST_POD:
		slot = VEC_PUSH(c->pods, c->n_pods, c->cap_pods);
		if (slot)
			memcpy(slot, &o->u.pod, sizeof(o->u.pod));
		break;
	case MANIFEST_POLICY:
		slot = VEC_PUSH(c->policies, c->n_policies, c->cap_policies);
		if (slot)
			memcpy(slot, &o->u.policy, sizeof(o->u.policy));
		break;
	default:
		return 0;
	}
	if (!slot)
		return -ENOMEM;
	o->kind = MANIFEST_NONE; /* ownership moved */
	return 0;
}

static void note_rv(struct kl_page *p, const struct yt_node *obj)
{
	const char *rv = scalar(yt_map_get(yt_map_get(obj, "metadata"), "resourceVersion"));
	char *max = p->info->max_rv[p->k];

	if (rv && strlen(rv) < sizeof(p->info->max_rv[0]) && (!*max || kube_rv_cmp(rv, max) > 0))
		snprintf(max, sizeof(p->info->max_rv[0]), "%s", rv);
}

static int on_item(const char *type, const struct yt_node *obj, void *arg)
{
	struct kl_page *p = arg;
	struct manifest_object o = { 0 };
	const struct yt_node *md;
	const char *ns, *name;
	int ret;

	(void)type;
	md = yt_map_get(obj, "metadata");
	ns = scalar(yt_map_get(md, "namespace"));
	name = scalar(yt_map_get(md, "name"));
	ret = decode_item(p, obj, &o);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0) {
		log_warn("%s %s%s%s: invalid, skipped", kube_kind_name(p->k), ns ? ns : "",
			 ns ? "/" : "", name ? name : "?");
		p->info->n_invalid[p->k]++;
		return 0;
	}
	if (ret == 0 || o.kind != kl_kinds[p->k].mk) {
		manifest_object_free(&o);
		return 0;
	}
	note_rv(p, obj);
	ret = adopt(p->c, &o);
	manifest_object_free(&o);
	if (!ret)
		p->info->n_objects[p->k]++;
	return ret;
}

static int on_body(const void *buf, size_t len, void *arg)
{
	struct kl_page *p = arg;

	return js_feed(p->js, buf, len);
}

/* Percent-encodes a continue token. */
static void urlenc(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = 0;
}

/* One page: 0 and the page's meta copied to *meta, or -errno (logged). */
static int list_page(struct kube_client *kc, struct kl_page *p, const char *path,
		     struct js_meta *meta)
{
	struct kube_response resp = { 0 };
	int err, ferr = 0;

	err = js_new(JS_LIST, path, on_item, p, &p->js);
	if (err)
		return err;
	log_debug("GET %s", path);
	err = kube_get(kc, path, on_body, p, KL_IDLE_S, NULL, &resp);
	if (!err)
		ferr = js_finish(p->js);
	*meta = *js_meta(p->js);
	if (err == -ENOMEM || ferr == -ENOMEM) {
		err = -ENOMEM;
	} else if (resp.status && resp.status != 200) {
		log_error("GET %s%s: %ld%s%s%s%s", kube_client_server(kc), path, resp.status,
			  meta->reason[0] ? " " : "", meta->reason, meta->message[0] ? ": " : "",
			  meta->message);
		err = resp.status == 401 || resp.status == 403 ? -EACCES : -EIO;
	} else if (err || ferr) {
		const char *je = js_error(p->js);

		log_error("GET %s%s: %s", kube_client_server(kc), path,
			  (ferr || err == -EINVAL) && je && je[0] ? je
			  : resp.error[0]			  ? resp.error
								  : strerror(err ? -err : -ferr));
		err = err && err != -EINVAL ? err : -EIO;
	} else if (!resp.status) {
		log_error("GET %s%s: no response", kube_client_server(kc), path);
		err = -EIO;
	}
	js_free(p->js);
	p->js = NULL;
	return err;
}

static int list_kind(struct kube_client *kc, unsigned int page_size, struct np_cluster *c,
		     struct kube_list_info *info, enum kube_kind k)
{
	struct kl_page p = { .c = c, .info = info, .k = k };
	char path[4096 * 3 + 512], enc[4096 * 3 + 1], **slot;
	struct js_meta *meta = malloc(sizeof(*meta));
	char *cont = calloc(1, sizeof(meta->cont));
	int err = 0;

	slot = meta && cont ? VEC_PUSH(c->files, c->n_files, c->cap_files) : NULL;
	if (slot && asprintf(slot, "GET %s", kl_kinds[k].path) < 0) {
		*slot = NULL;
		c->n_files--;
		slot = NULL;
	}
	if (!slot) {
		free(meta);
		free(cont);
		return -ENOMEM;
	}
	p.source = *slot;
	for (;;) {
		snprintf(path, sizeof(path), "%s?limit=%u", kl_kinds[k].path, page_size);
		if (cont[0]) {
			urlenc(cont, enc, sizeof(enc));
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&continue=%s",
				 enc);
		}
		err = list_page(kc, &p, path, meta);
		if (err)
			break;
		info->pages[k]++;
		snprintf(info->rv[k], sizeof(info->rv[k]), "%s", meta->resource_version);
		snprintf(cont, sizeof(meta->cont), "%s", meta->cont);
		if (!cont[0])
			break;
	}
	if (!err && !info->rv[k][0]) {
		log_error("GET %s%s: the list has no resourceVersion", kube_client_server(kc),
			  kl_kinds[k].path);
		err = -EIO;
	}
	free(meta);
	free(cont);
	return err;
}

int kube_list_cluster_opts(struct kube_client *kc, unsigned int page_size, struct np_cluster *out,
			   struct kube_list_info *info)
{
	struct kube_list_info own;
	int err = 0;

	if (!info)
		info = &own;
	memset(info, 0, sizeof(*info));
	if (!page_size)
		page_size = KL_PAGE_SIZE;
	for (int k = 0; !err && k < KUBE_N_KINDS; k++)
		err = list_kind(kc, page_size, out, info, (enum kube_kind)k);
	if (!err)
		err = cluster_finalize(out);
	if (err == -ENOMEM)
		log_error("listing the cluster: out of memory");
	return err;
}

int kube_list_cluster(struct kube_client *kc, struct np_cluster *out, struct kube_list_info *info)
{
	return kube_list_cluster_opts(kc, 0, out, info);
}
