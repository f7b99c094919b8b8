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

void agent_maps_init(struct agent_maps *m)
{
	memset(m, 0, sizeof(*m));
	ms_state_init(&m->st);
	numbering_prior_init(&m->prior);
}

void agent_maps_free(struct agent_maps *m)
{
	ms_state_free(&m->st);
	numbering_prior_free(&m->prior);
	m->valid = m->prior_valid = false;
}

/* Memory a hash index holds in use (its slots are all touched). */
static size_t hmap_bytes(const struct hmap *h)
{
	return h->n_slots * sizeof(*h->slots) + h->keys_len;
}

/* What keeping m costs, as far as pages are touched. */
static size_t maps_bytes(struct agent_maps *m)
{
	size_t b = hmap_bytes(&m->prior.keys);

	for (int p = 0; p < PIN_N; p++) {
		for (int gen = 0; gen < 2; gen++) {
			const struct ms_table *t = ms_state_table(&m->st, (enum pin_map)p, gen);

			if (!t || (gen && ms_gmap_of((enum pin_map)p) < 0))
				continue;
			b += t->n * (t->key_size + t->value_size) + hmap_bytes(&t->index);
		}
	}
	return b;
}

/* Over the budget: nothing is kept, the next sync reads the maps. */
static void maps_budget(struct agent_maps *m)
{
	size_t b = maps_bytes(m);

	if (b <= AGENT_KEEP_MAX_BYTES)
		return;
	if (!m->over_budget)
		log_info("sync: the maps' state takes %.0f MB, more than the %u MB kept between "
			 "syncs: they are read at every sync instead",
			 (double)b / 1048576, AGENT_KEEP_MAX_BYTES >> 20);
	m->over_budget = true;
	ms_state_free(&m->st);
	numbering_prior_free(&m->prior);
	m->valid = m->prior_valid = false;
}

/* After a sync: the next one's numbering input, from what the maps hold now. */
static void maps_prepare_prior(struct agent_maps *m)
{
	numbering_prior_free(&m->prior);
	numbering_prior_init(&m->prior);
	m->prior_valid = !mapsync_numbering_from_state(&m->st, &m->prior);
}

/* The state this sync diffs against: the kept one, or the maps read now
 * (into the kept one, or into own). */
static int maps_state(struct loader *l, const struct agent_sync_in *in, struct ms_state *own,
		      struct ms_state **cur, struct agent_sync_out *out)
{
	struct agent_maps *m = in->maps;
	double now = now_ms() / 1e3;
	int err;

	out->reread = true;
	if (!m) {
		*cur = own;
		return mapsync_read(l, own);
	}
	*cur = &m->st;
	if (m->valid && !in->reread && !in->check && now - m->read_at < AGENT_REREAD_S) {
		out->reread = false;
		return 0;
	}
	err = mapsync_read(l, own);
	/* The kept state must be what the maps hold: checked whenever they
	 * are read anyway. */
	if (!err && m->valid && !in->reread)
		out->kept_diverged = ms_state_differences(&m->st, own);
	m->valid = m->prior_valid = false;
	ms_state_free(&m->st);
	m->st = *own;
	ms_state_init(own);
	if (!err) {
		m->valid = true;
		m->read_at = now;
	}
	return err;
}

int agent_sync_full(struct loader *l, const struct agent_sync_in *in, struct agent_sync_out *out)
{
	struct numbering_prior prior;
	const struct numbering_prior *pr = &prior;
	struct ms_state own, *cur;
	struct endpoint_binding *eps = NULL;
	struct np_cluster view;
	struct compiled cp;
	bool have_view = false, have_cp = false, keep_fast = false;
	size_t n_eps = 0;
	/* Where the time goes, for the debug log: view, maps, numbering input,
	 * compile, map sync, fast index. */
	double t[7] = { now_ms() };
	int err;

	memset(out, 0, sizeof(*out));
	numbering_prior_init(&prior);
	ms_state_init(&own);
	out->veth_pod = calloc(in->n_veths + 1, sizeof(*out->veth_pod));
	if (!out->veth_pod) {
		err = -ENOMEM;
		goto out;
	}
	err = store_view(in->store, &view);
	if (err)
		goto out;
	have_view = true;
	t[1] = now_ms();
	err = overlay_hints(&view, in);
	if (err)
		goto out;
	/* One state of the maps: the numbers come from it, and the sync diffs
	 * against it. Only this process writes them (the pin dir's lock). */
	err = maps_state(l, in, &own, &cur, out);
	t[2] = now_ms();
	if (!err && in->maps && in->maps->valid && in->maps->prior_valid)
		pr = &in->maps->prior;
	else if (!err)
		err = mapsync_numbering_from_state(cur, &prior);
	if (err)
		goto out;
	t[3] = now_ms();
	{
		struct compile_opts co = {
			.enforce_host = in->enforce_host,
			.node_addrs = in->node_addrs,
			.n_node_addrs = in->n_node_addrs,
			.per_node = true,
			.node_name = in->node,
			.local_subjects_only = true,
			.prior = pr,
			.expect_entries = in->maps ? in->maps->last_entries : 0,
		};

		err = compile_cluster(&view, &co, &cp);
		if (err)
			goto out;
		have_cp = true;
		if (in->maps)
			in->maps->last_entries = cp.n_entries;
	}
	t[4] = now_ms();
	out->compile_ms = t[4] - t[0];
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
	keep_fast = in->fast && in->only_policies && fast_index_current(in->fast, &cp);
	if (in->fast)
		in->fast->valid = false;
	if (in->maps) {
		/* Stale from the first write on, current again once the sync
		 * succeeded (its mirror of what it wrote). The numbering input
		 * kept for the next sync goes with it (pr may be it: the
		 * apply is done with it first). */
		in->maps->valid = false;
		err = mapsync_apply_keep(l, &cp, eps, n_eps, cur, pr, &out->st);
		in->maps->prior_valid = false;
		if (!err && !ms_state_compact(cur)) {
			in->maps->valid = true;
			maps_budget(in->maps); /* the images alone, then with the input */
			if (in->maps->valid)
				maps_prepare_prior(in->maps);
			if (in->maps->prior_valid)
				maps_budget(in->maps);
		}
	} else {
		err = mapsync_apply_read(l, &cp, eps, n_eps, cur, &out->st);
	}
	t[5] = now_ms();
	/* The index follows pods and identities: after a batch of policy
	 * changes that kept every identity and its number, it is still right. */
	if (!err && keep_fast)
		in->fast->valid = true;
	else if (!err && in->fast)
		err = fast_index_build(in->fast, &view, &cp, in->node);
	t[6] = now_ms();
	if (!err)
		log_debug("sync took: view %.1f ms, maps %s %.1f, numbering input %.1f, compile "
			  "%.1f, map sync %.1f (plan %.1f, writes %.1f, waits %.1f), fast index %s "
			  "%.1f",
			  t[1] - t[0], out->reread ? "read" : "kept", t[2] - t[1], t[3] - t[2],
			  t[4] - t[3], t[5] - t[4], out->st.plan_ms, out->st.write_ms,
			  out->st.wait_ms, keep_fast ? "kept" : "built", t[6] - t[5]);
out:
	out->total_ms = now_ms() - t[0];
	if (have_cp)
		compiled_free(&cp);
	if (have_view)
		store_view_free(&view);
	numbering_prior_free(&prior);
	ms_state_free(&own);
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
