/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the API server holds, as the agent last heard it: every Namespace,
 * Pod and NetworkPolicy, decoded and validated (manifest_decode), keyed by
 * kind and namespace/name. Events replace or remove objects; a compile reads
 * a view of the store (store_view), a finalized np_cluster that shares the
 * store's objects instead of copying them, so a recompile of 150,000 pods
 * costs arrays, not strings.
 */
#ifndef NPBPF_AGENT_STORE_H
#define NPBPF_AGENT_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "manifest.h"
#include "model.h"
#include "reflector.h"

struct agent_store {
	/* Unfinalized, never finalized: objects in arrival order, holes closed
	 * by moving the last object into them. */
	struct np_cluster c;
	void *index[KUBE_N_KINDS]; /* tsearch trees of struct store_entry */
	size_t n[KUBE_N_KINDS];
};

void store_init(struct agent_store *s);
void store_free(struct agent_store *s);

/* What an event did to the store. */
enum store_change {
	STORE_NONE,    /* nothing (a deletion of an unknown object, an object
			* that could not be decoded) */
	STORE_ADDED,
	STORE_REPLACED,
	STORE_DELETED,
};

/* Applies ev (taking its object and source string). *old receives a copy
 * of what the object was before (for a replaced or deleted pod: its
 * labels, addresses and node matter to the fast path); it is owned by the
 * caller (manifest_object_free) and may be NULL. Returns the change, or
 * -ENOMEM. */
int store_apply(struct agent_store *s, struct kube_event *ev, struct manifest_object *old);

const struct np_pod *store_pod(const struct agent_store *s, const char *ns, const char *name);
const struct np_namespace *store_ns(const struct agent_store *s, const char *name);

/* A finalized cluster over the store's objects (see cluster_finalize):
 * namespaces, pods that run and policies, sorted; pods' address arrays are
 * the view's own (cluster_finalize may take an address from a pod), and so
 * are the namespaces cluster_finalize makes up. Free it with
 * store_view_free (never cluster_free). 0 or -ENOMEM. */
int store_view(const struct agent_store *s, struct np_cluster *view);
void store_view_free(struct np_cluster *view);

#endif /* NPBPF_AGENT_STORE_H */
