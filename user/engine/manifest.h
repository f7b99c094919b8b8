/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes manifests into the cluster model: Namespaces, Pods and
 * networking.k8s.io/v1 NetworkPolicies, from multi-document YAML, JSON
 * (kubectl -o json) and List objects (kubectl get -o yaml|json, the API's
 * NamespaceList / PodList / NetworkPolicyList).
 *
 * Objects are validated the way the API server validates them, so a
 * manifest that kubectl apply would reject is rejected here too instead of
 * being enforced in a shape the cluster would never hold. Defaults are the
 * API server's: namespace "default", protocol TCP, policyTypes [Ingress] plus
 * Egress when the policy has at least one egress rule, and every Namespace
 * labelled kubernetes.io/metadata.name=<name>. An unknown field in a
 * NetworkPolicy is an error (kubectl's strict field validation); Pods and
 * Namespaces may carry any. Policy of other kinds or APIs is warned about
 * (not enforced); other kinds are skipped and counted (logged at -v). An
 * object given twice (same kind, namespace and name) replaces the earlier
 * one, as kubectl apply does, with a warning. Finished pods and addresses
 * two pods claim: see cluster_finalize().
 *
 * Every input error is logged once, as
 *   FILE:LINE:COL: KIND NAMESPACE/NAME: FIELD: what is wrong
 * (KIND NAMESPACE/NAME left out while not yet known; cluster-scoped objects
 * have no NAMESPACE/), and loading goes on to report further errors.
 */
#ifndef NPBPF_MANIFEST_H
#define NPBPF_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

struct yt_node;

/* Loads each path (a file, "-" for stdin, or a directory whose *.yaml, *.yml
 * and *.json entries are read in name order, not recursively; see
 * manifest_load_opts) into c, then
 * calls cluster_finalize(c). Returns 0; -EINVAL when any input error was
 * reported (c must then not be compiled, only freed); another -errno for I/O
 * (logged) or memory, which stops loading at once. c is left finalized in
 * every case but memory exhaustion, and is always safe to cluster_free(). */
int manifest_load(struct np_cluster *c, char *const *paths, size_t n_paths);

/* How paths are read, as kubectl apply's -n and -R. */
struct manifest_opts {
	/* namespace of namespaced objects that name none (NULL: "default"); an
	 * object naming another namespace is an error, as kubectl refuses it */
	const char *ns;
	/* read directories' subdirectories too; without it they are skipped
	 * (logged at -v). Symbolic links to directories are not followed. */
	bool recursive;
};

/* manifest_load with opts (NULL: the defaults). An invalid opts->ns is an
 * input error (-EINVAL, logged). */
int manifest_load_opts(struct np_cluster *c, char *const *paths, size_t n_paths,
		       const struct manifest_opts *opts);

/* As manifest_load for len bytes of buf, called name in messages and in
 * np_loc.file. Mostly for tests. */
int manifest_load_buffer(struct np_cluster *c, const char *name, const char *buf, size_t len);

enum manifest_kind {
	MANIFEST_NONE,
	MANIFEST_NAMESPACE,
	MANIFEST_POD,
	MANIFEST_POLICY,
};

/* One object, decoded and validated. */
struct manifest_object {
	enum manifest_kind kind;
	union {
		struct np_namespace ns;
		struct np_pod pod;
		struct np_policy policy;
	} u;
};

/*
 * Decodes one object's tree (a yaml_tree node, as yt_parse_buffer gives it
 * for a JSON or YAML document, such as one object the API server sends)
 * with the decoders and validation manifest_load uses for every object of a
 * file. source names it in messages and np_loc.file, and must outlive out.
 * Returns 1 and *out for a valid Namespace, Pod or NetworkPolicy; 0 for a
 * kind npbpf does not read (and a NetworkPolicy of another apiVersion,
 * logged); -EINVAL after reporting its errors (out is then empty); -ENOMEM.
 * The caller puts the object into its model; cluster_finalize() as for
 * files.
 */
int manifest_decode(const struct yt_node *obj, const char *source, struct manifest_object *out);
void manifest_object_free(struct manifest_object *o);

#endif /* NPBPF_MANIFEST_H */
