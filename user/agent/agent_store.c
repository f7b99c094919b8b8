/* SPDX-License-Identifier: Apache-2.0 */
#include "agent_store.h"

#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vec.h"

/* One stored object: where it sits in its array, and the string its np_loc
 * points into (the event's source). */
struct store_entry {
	char *key; /* "ns/name", or "name" for a Namespace */
	size_t idx;
	char *source;
};

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_entry *)a)->key, ((const struct store_entry *)b)->key);
}

static char *make_key(const char *ns, const char *name)
{
	char *k;

	if (asprintf(&k, "%s/%s", ns ? ns : "", name) < 0)
		return NULL;
	return k;
}

void store_init(struct agent_store *s)
{
	memset(s, 0, sizeof(*s));
	cluster_init(&s->c);
}

static void entry_free(void *p)
{
	struct store_entry *e = p;

	free(e->key);
	free(e->source);
	free(e);
}

void store_free(struct agent_store *s)
{
	for (int k = 0; k < KUBE_N_KINDS; k++)
		tdestroy(s->index[k], entry_free);
	cluster_free(&s->c);
	memset(s, 0, sizeof(*s));
}

static struct store_entry *find(const struct agent_store *s, enum kube_kind k, const char *key)
{
	struct store_entry probe = { .key = (char *)key };
	struct store_entry **e = tfind(&probe, &s->index[k], entry_cmp);

	return e ? *e : NULL;
}

/* The array slot of kind k at i, and the size of one. */
static void *slot(struct agent_store *s, enum kube_kind k, size_t i)
{
	switch (k) {
	case KUBE_NAMESPACES:
		return &s->c.namespaces[i];
	case KUBE_PODS:
		return &s->c.pods[i];
	default:
		return &s->c.policies[i];
	}
}

static size_t obj_size(enum kube_kind k)
{
	return k == KUBE_NAMESPACES ? sizeof(struct np_namespace)
	       : k == KUBE_PODS	    ? sizeof(struct np_pod)
				    : sizeof(struct np_policy);
}

static void *event_obj(struct kube_event *ev)
{
	switch (ev->kind) {
	case KUBE_NAMESPACES:
		return &ev->obj.u.ns;
	case KUBE_PODS:
		return &ev->obj.u.pod;
	default:
		return &ev->obj.u.policy;
	}
}

static enum manifest_kind manifest_kind_of(enum kube_kind k)
{
	return k == KUBE_NAMESPACES ? MANIFEST_NAMESPACE
	       : k == KUBE_PODS	    ? MANIFEST_POD
				    : MANIFEST_POLICY;
}

/* Appends an object to its array: the new index, or -ENOMEM. */
static long push(struct agent_store *s, enum kube_kind k, const void *obj)
{
	void *p;

	switch (k) {
	case KUBE_NAMESPACES:
		p = VEC_PUSH(s->c.namespaces, s->c.n_namespaces, s->c.cap_namespaces);
		break;
	case KUBE_PODS:
		p = VEC_PUSH(s->c.pods, s->c.n_pods, s->c.cap_pods);
		break;
	default:
		p = VEC_PUSH(s->c.policies, s->c.n_policies, s->c.cap_policies);
		break;
	}
	if (!p)
		return -ENOMEM;
	memcpy(p, obj, obj_size(k));
	return (long)s->n[k]++;
}

static const char *obj_ns(enum kube_kind k, const void *obj)
{
	if (k == KUBE_PODS)
		return ((const struct np_pod *)obj)->ns;
	if (k == KUBE_POLICIES)
		return ((const struct np_policy *)obj)->ns;
	return NULL;
}

static const char *obj_name(enum kube_kind k, const void *obj)
{
	if (k == KUBE_PODS)
		return ((const struct np_pod *)obj)->name;
	if (k == KUBE_POLICIES)
		return ((const struct np_policy *)obj)->name;
	return ((const struct np_namespace *)obj)->name;
}

/* Removes entry e's object from its array (moved into *old) and closes the
 * hole with the last object. */
static int remove_at(struct agent_store *s, enum kube_kind k, struct store_entry *e,
		     struct manifest_object *old)
{
	size_t last = s->n[k] - 1;

	old->kind = manifest_kind_of(k);
	memcpy(&old->u, slot(s, k, e->idx), obj_size(k));
	if (e->idx != last) {
		void *moved = slot(s, k, last);
		char *key = make_key(obj_ns(k, moved), obj_name(k, moved));
		struct store_entry *me;

		if (!key)
			return -ENOMEM;
		me = find(s, k, key);
		free(key);
		if (!me)
			return -EIO; /* the index lost an object: a bug */
		memcpy(slot(s, k, e->idx), moved, obj_size(k));
		me->idx = e->idx;
	}
	s->n[k] = last;
	if (k == KUBE_NAMESPACES)
		s->c.n_namespaces = last;
	else if (k == KUBE_PODS)
		s->c.n_pods = last;
	else
		s->c.n_policies = last;
	return 0;
}

int store_apply(struct agent_store *s, struct kube_event *ev, struct manifest_object *old)
{
	struct manifest_object dropped = { .kind = MANIFEST_NONE };
	enum kube_kind k = ev->kind;
	struct store_entry *e;
	char *key;
	int ret;

	if (!old)
		old = &dropped;
	old->kind = MANIFEST_NONE;
	key = make_key(k == KUBE_NAMESPACES ? NULL : ev->ns, ev->name);
	if (!key)
		return -ENOMEM;
	e = find(s, k, key);
	if (ev->type == KUBE_DELETED) {
		if (!e) {
			ret = STORE_NONE;
			goto out;
		}
		ret = remove_at(s, k, e, old);
		if (ret)
			goto out;
		/* *old's np_loc points into the source: ev keeps it alive. */
		free(ev->source);
		ev->source = e->source;
		e->source = NULL;
		tdelete(e, &s->index[k], entry_cmp);
		entry_free(e);
		ret = STORE_DELETED;
		goto out;
	}
	if (ev->obj.kind != manifest_kind_of(k)) {
		ret = STORE_NONE;
		goto out;
	}
	if (e) {
		/* Replaced in place: the old object goes to *old, its source
		 * string with it would dangle, so the entry takes the new one and
		 * the old source lives on in ev (freed with it). */
		char *src = e->source;

		old->kind = manifest_kind_of(k);
		memcpy(&old->u, slot(s, k, e->idx), obj_size(k));
		memcpy(slot(s, k, e->idx), event_obj(ev), obj_size(k));
		e->source = ev->source;
		ev->source = src;
		ev->obj.kind = MANIFEST_NONE;
		ret = STORE_REPLACED;
		goto out;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		ret = -ENOMEM;
		goto out;
	}
	e->key = key;
	key = NULL;
	if (!tsearch(e, &s->index[k], entry_cmp)) {
		entry_free(e);
		ret = -ENOMEM;
		goto out;
	}
	{
		long idx = push(s, k, event_obj(ev));

		if (idx < 0) {
			tdelete(e, &s->index[k], entry_cmp);
			entry_free(e);
			ret = -ENOMEM;
			goto out;
		}
		e->idx = (size_t)idx;
	}
	e->source = ev->source;
	ev->source = NULL;
	ev->obj.kind = MANIFEST_NONE;
	ret = STORE_ADDED;
out:
	free(key);
	if (old == &dropped)
		manifest_object_free(&dropped);
	return ret;
}

const struct np_pod *store_pod(const struct agent_store *s, const char *ns, const char *name)
{
	char *key = make_key(ns, name);
	struct store_entry *e;

	if (!key)
		return NULL;
	e = find(s, KUBE_PODS, key);
	free(key);
	return e ? &s->c.pods[e->idx] : NULL;
}

const struct np_namespace *store_ns(const struct agent_store *s, const char *name)
{
	char *key = make_key(NULL, name);
	struct store_entry *e;

	if (!key)
		return NULL;
	e = find(s, KUBE_NAMESPACES, key);
	free(key);
	return e ? &s->c.namespaces[e->idx] : NULL;
}

/* The view's pods own their address arrays, nothing else. */
static void view_pods_free(struct np_cluster *v)
{
	for (size_t i = 0; i < v->n_pods; i++)
		free(v->pods[i].addrs);
	free(v->pods);
}

void store_view_free(struct np_cluster *v)
{
	view_pods_free(v);
	for (size_t i = 0; i < v->n_namespaces; i++)
		if (v->namespaces[i].implicit)
			namespace_free(&v->namespaces[i]);
	free(v->namespaces);
	free(v->policies);
	memset(v, 0, sizeof(*v));
}

int store_view(const struct agent_store *s, struct np_cluster *v)
{
	const struct np_cluster *c = &s->c;
	int err;

	cluster_init(v);
	v->namespaces = malloc((c->n_namespaces + 1) * sizeof(*v->namespaces));
	v->pods = malloc((c->n_pods + 1) * sizeof(*v->pods));
	v->policies = malloc((c->n_policies + 1) * sizeof(*v->policies));
	if (!v->namespaces || !v->pods || !v->policies)
		goto nomem;
	v->cap_namespaces = c->n_namespaces + 1;
	v->cap_pods = c->n_pods + 1;
	v->cap_policies = c->n_policies + 1;
	memcpy(v->namespaces, c->namespaces, c->n_namespaces * sizeof(*v->namespaces));
	v->n_namespaces = c->n_namespaces;
	memcpy(v->policies, c->policies, c->n_policies * sizeof(*v->policies));
	v->n_policies = c->n_policies;
	/* Finished pods are left out here: cluster_finalize would free them. */
	for (size_t i = 0; i < c->n_pods; i++) {
		struct np_pod *p;

		if (c->pods[i].finished)
			continue;
		p = &v->pods[v->n_pods];
		*p = c->pods[i];
		p->addrs = NULL;
		p->cap_addrs = p->n_addrs;
		if (p->n_addrs) {
			p->addrs = malloc(p->n_addrs * sizeof(*p->addrs));
			if (!p->addrs)
				goto nomem;
			memcpy(p->addrs, c->pods[i].addrs, p->n_addrs * sizeof(*p->addrs));
		}
		v->n_pods++;
	}
	err = cluster_finalize(v);
	if (err) {
		store_view_free(v);
		return err;
	}
	return 0;
nomem:
	store_view_free(v);
	return -ENOMEM;
}
