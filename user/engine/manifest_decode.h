/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object decoders, for the loaders of the engine: manifest.c reads files
 * and Lists through them; manifest_decode (manifest.h) is the same for one
 * object on its own.
 */
#ifndef NPBPF_MANIFEST_DECODE_H
#define NPBPF_MANIFEST_DECODE_H

#include <stdbool.h>

#include "manifest_field.h"
#include "model.h"
#include "yaml_tree.h"

/* The kinds npbpf reads. */
enum mf_kind {
	MF_NAMESPACE,
	MF_POD,
	MF_POLICY,
};

/* Resets m for a new object, then reads obj's kind and apiVersion (def_kind
 * and def_api when it has none: the items of a typed List). false after
 * reporting a malformed one. */
bool mf_object_kind(struct mf_reader *m, const struct yt_node *obj, const char *def_kind,
		    const char *def_api, const char **kind, const char **api);
/* What mf_kind_of found. */
enum mf_kind_class {
	MF_KIND_OTHER,	      /* a kind npbpf does not read (the caller counts it) */
	MF_KIND_READ,	      /* *out says which */
	MF_KIND_NOT_ENFORCED, /* policy npbpf does not enforce: warned here */
};

/* Classifies kind (of apiVersion api). Policy of another API (Cilium,
 * Calico, AdminNetworkPolicy, extensions/v1beta1 NetworkPolicy) gets a
 * warning naming the object: its author meant a policy that will not
 * apply. */
enum mf_kind_class mf_kind_of(struct mf_reader *m, const struct yt_node *obj, const char *kind,
			      const char *api, enum mf_kind *out);
/* Decodes obj as kind into out (a zeroed struct np_namespace, np_pod or
 * np_policy, which the caller frees). Input errors are reported and counted
 * in m; returns 0 or -ENOMEM. */
int mf_decode(struct mf_reader *m, const struct yt_node *obj, enum mf_kind kind, void *out);

#endif /* NPBPF_MANIFEST_DECODE_H */
