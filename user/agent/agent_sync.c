/* SPDX-License-Identifier: Apache-2.0 */
#include "agent_sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compile.h"
#include "loader.h"
#include "log.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool is_local(const struct np_pod *p, const char *node)
{
	return !p->host_network && p->node && node && !strcmp(p->node, node);
}

/* The veth whose peer carries one of pod's addresses, or -1. A veth is the
 * pod's only when every address the pod has that the veth also reports
 * agrees; one address is enough to tell (the CNI hands each out once). */
static long veth_of(const struct np_pod *p, const struct nd_veth *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t a = 0; a < v[i].n_addrs; a++)
			for (size_t b = 0; b < p->n_addrs; b++)
				if (!addr_cmp(&v[i].addrs[a], &p->addrs[b]))
					return (long)i;
	return -1;
}

static const struct cni_hint *hint_of_pod(const struct np_pod *p, const struct agent_sync_in *in)
{
	for (size_t i = 0; i < in->n_hints; i++)
		if (!strcmp(in->hints[i].ns, p->ns) && !strcmp(in->hints[i].name, p->name))
			return &in->hints[i];
	return NULL;
}

/* The veth npbpf-cni announced for p, when discovery knows it. */
static long hinted_veth(const struct np_pod *p, const struct agent_sync_in *in)
{
	const struct cni_hint *h = hint_of_pod(p, in);

	for (size_t i = 0; h && i < in->n_veths; i++)
		if (in->veths[i].ifindex == h->ifindex)
			return (long)i;
	return -1;
}

/* A pod the CNI plugin announced has its addresses before the API server
 * does (the kubelet reports them after ADD returns): until then the
 * announced ones are its own, so its endpoint checks the right source and
 * its peers find its identity. The view owns its pods' address arrays. */
static int overlay_hints(struct np_cluster *view, const struct agent_sync_in *in)
{
	for (size_t i = 0; i < in->n_hints; i++) {
		const struct cni_hint *h = &in->hints[i];
		struct np_pod *p = cluster_find_pod(view, h->ns, h->name);

		if (!p || p->n_addrs || !h->n_addrs)
			continue;
		p->addrs = malloc(h->n_addrs * sizeof(*p->addrs));
		if (!p->addrs)
			return -ENOMEM;
		memcpy(p->addrs, h->addrs, h->n_addrs * sizeof(*p->addrs));
		p->n_addrs = p->cap_addrs = h->n_addrs;
	}
	return 0;
}

int agent_sync_full(struct loader *l, const struct agent_sync_in *in, struct agent_sync_out *out)
{
	struct numbering_prior prior;
	struct ms_state cur;
	struct endpoint_binding *eps = NULL;
	struct np_cluster view;
	struct compiled cp;
	bool have_view = false, have_cp = false;
	size_t n_eps = 0;
	double t0 = now_ms(), t1;
	int err;

	memset(out, 0, sizeof(*out));
	numbering_prior_init(&prior);
	ms_state_init(&cur);
	out->veth_pod = calloc(in->n_veths + 1, sizeof(*out->veth_pod));
	if (!out->veth_pod) {
		err = -ENOMEM;
		goto out;
	}
	err = store_view(in->store, &view);
	if (err)
		goto out;
	have_view = true;
	err = overlay_hints(&view, in);
	if (err)
		goto out;
	/* One read of the maps: the numbers come from it, and the sync diffs
	 * against it. Only this process writes them (the pin dir's lock). */
	err = mapsync_read(l, &cur);
	if (!err)
		err = mapsync_numbering_from_state(&cur, &prior);
	if (err)
		goto out;
	{
		struct compile_opts co = {
			.enforce_host = in->enforce_host,
			.node_addrs = in->node_addrs,
			.n_node_addrs = in->n_node_addrs,
			.per_node = true,
			.node_name = in->node,
			.local_subjects_only = true,
			.prior = &prior,
		};

		err = compile_cluster(&view, &co, &cp);
		if (err)
			goto out;
		have_cp = true;
	}
	t1 = now_ms();
	out->compile_ms = t1 - t0;
	eps = calloc(in->n_veths + 1, sizeof(*eps));
	if (!eps) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < view.n_pods; i++) {
		const struct np_pod *p = &view.pods[i];
		long v;

		if (!is_local(p, in->node))
			continue;
		out->local_pods++;
		if (!p->n_addrs && !hint_of_pod(p, in))
			continue;
		v = hinted_veth(p, in);
		if (v < 0)
			v = veth_of(p, in->veths, in->n_veths);
		if (v < 0 || out->veth_pod[v]) {
			out->local_waiting++;
			continue;
		}
		if (asprintf(&out->veth_pod[v], "%s/%s", p->ns, p->name) < 0) {
			out->veth_pod[v] = NULL;
			err = -ENOMEM;
			goto out;
		}
		eps[n_eps++] = (struct endpoint_binding){
			.ns = p->ns,
			.name = p->name,
			.ifindex = in->veths[v].ifindex,
			.has_mac = in->veths[v].has_peer_mac,
		};
		memcpy(eps[n_eps - 1].mac, in->veths[v].peer_mac, 6);
		out->local_bound++;
	}
	out->identities = (uint32_t)cp.idn.n_ids;
	out->policies = (uint32_t)view.n_policies;
	out->pods = (uint32_t)view.n_pods;
	out->namespaces = (uint32_t)view.n_namespaces;
	if (in->fast)
		in->fast->valid = false;
	err = mapsync_apply_read(l, &cp, eps, n_eps, &cur, &out->st);
	if (!err && in->fast)
		err = fast_index_build(in->fast, &view, &cp, in->node);
out:
	out->total_ms = now_ms() - t0;
	if (have_cp)
		compiled_free(&cp);
	if (have_view)
		store_view_free(&view);
	numbering_prior_free(&prior);
	ms_state_free(&cur);
	free(eps);
	if (err == -ENOMEM)
		log_error("sync: out of memory");
	return err;
}

void agent_sync_out_free(struct agent_sync_out *out, size_t n_veths)
{
	for (size_t i = 0; out->veth_pod && i < n_veths; i++)
		free(out->veth_pod[i]);
	free(out->veth_pod);
	out->veth_pod = NULL;
}
