/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One LIST of the three kinds npbpf reads (Namespaces, Pods,
 * NetworkPolicies), paginated, into a cluster model, as `npbpf lab
 * --kubeconfig` needs it: a snapshot, no watch. Every object goes through
 * manifest_decode, as the reflector's do, so a list and a watch judge an
 * object the same way; an invalid one is warned about and skipped (as the
 * agent skips it).
 */
#ifndef NPBPF_KUBE_LIST_H
#define NPBPF_KUBE_LIST_H

#include <stddef.h>

#include "kube_client.h"
#include "model.h"
#include "reflector.h"

/* What a list saw of each kind (indexed by enum kube_kind). */
struct kube_list_info {
	char rv[KUBE_N_KINDS][128];	 /* the list's resourceVersion */
	char max_rv[KUBE_N_KINDS][128];	 /* the highest resourceVersion of its items, "" none */
	size_t n_objects[KUBE_N_KINDS];	 /* valid objects of the kind (the agent stores as many) */
	size_t n_invalid[KUBE_N_KINDS];	 /* skipped (logged) */
	unsigned int pages[KUBE_N_KINDS];
};

/*
 * Lists namespaces, pods and networkpolicies (pages of page_size, 0: 500)
 * into out (cluster_init'd by the caller, then filled and cluster_finalize'd
 * here), and info when not NULL. Returns 0, or -errno (logged, with the
 * request and the API's Status when it sent one): -EACCES for 401/403,
 * -EIO for other statuses and malformed bodies, transport errors as
 * kube_get returns them. out is safe to cluster_free() in every case.
 */
int kube_list_cluster(struct kube_client *c, struct np_cluster *out, struct kube_list_info *info);
int kube_list_cluster_opts(struct kube_client *c, unsigned int page_size, struct np_cluster *out,
			   struct kube_list_info *info);

/*
 * Compares two resourceVersions the way one can only for the etcd-backed
 * API servers that exist (they are decimal revisions): by number when both
 * are decimal, else by text. <0, 0, >0.
 */
int kube_rv_cmp(const char *a, const char *b);

#endif /* NPBPF_KUBE_LIST_H */
