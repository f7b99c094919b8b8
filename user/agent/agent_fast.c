/* SPDX-License-Identifier: Apache-2.0 */
#include "agent_fast.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader.h"
#include "log.h"

/* A node's own address named by the agent's node (never counted down). */
#define FAST_PINNED UINT32_MAX / 2

/* ---- counted key sets */

static void counts_init(struct fast_counts *c)
{
	*c = (struct fast_counts){ .n = 0 };
	hmap_init(&c->index);
}

static void counts_free(struct fast_counts *c)
{
	hmap_free(&c->index);
	free(c->count);
	free(c->value);
	memset(c, 0, sizeof(*c));
}

/* The slot of key, added (count 0) when add is set; -1 when absent. */
static long counts_slot(struct fast_counts *c, const void *key, size_t len, bool add,
			uint32_t value)
{
	uint32_t slot = (uint32_t)c->n;
	int ret;

	if (!add)
		return hmap_get(&c->index, key, len, &slot) ? (long)slot : -1;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 1024;
		uint32_t *n = realloc(c->count, cap * sizeof(*n)), *v;

		if (!n)
			return -ENOMEM;
		c->count = n;
		v = realloc(c->value, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->value = v;
		c->cap = cap;
	}
	ret = hmap_insert(&c->index, key, len, slot, &slot);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		c->count[slot] = 0;
		c->value[slot] = value;
		c->n++;
	}
	return (long)slot;
}

static struct np_addr full_addr(const struct np_addr *a)
{
	struct np_addr k = { .family = a->family, .plen = a->family == 4 ? 32 : 128 };

	memcpy(k.bytes, a->bytes, a->family == 4 ? 4 : 16);
	return k;
}

/* Changes a slot's count, remembering the old one for fast_undo. */
static int bump(struct fast_index *fx, struct fast_counts *set, uint32_t slot, int delta)
{
	struct fast_undo *u;

	if (fx->n_undo == fx->cap_undo) {
		size_t cap = fx->cap_undo ? 2 * fx->cap_undo : 64;
		struct fast_undo *v = realloc(fx->undo, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		fx->undo = v;
		fx->cap_undo = cap;
	}
	u = &fx->undo[fx->n_undo++];
	*u = (struct fast_undo){ set, slot, set->count[slot] };
	set->count[slot] = (uint32_t)((int64_t)set->count[slot] + delta);
	return 0;
}

static void undo_all(struct fast_index *fx)
{
	while (fx->n_undo) {
		struct fast_undo *u = &fx->undo[--fx->n_undo];

		u->set->count[u->slot] = u->old;
	}
}

void fast_index_init(struct fast_index *fx)
{
	*fx = (struct fast_index){ .valid = false };
	counts_init(&fx->ids);
	counts_init(&fx->addrs);
	counts_init(&fx->node_addrs);
}

void fast_index_free(struct fast_index *fx)
{
	identity_keyer_free(&fx->keyer);
	counts_free(&fx->ids);
	counts_free(&fx->addrs);
	counts_free(&fx->node_addrs);
	free(fx->undo);
	fx->undo = NULL;
	fx->n_undo = fx->cap_undo = 0;
	fx->valid = false;
}

static bool is_local(const struct np_pod *p, const char *node)
{
	return p->node && node && !strcmp(p->node, node);
}

/* The identity slots a pod uses: its primary (first address, or none) and
 * one per address. fn is called with each key. */
static int pod_keys(struct fast_index *fx, const struct np_pod *p,
		    int (*fn)(struct fast_index *fx, const void *key, size_t len, void *arg),
		    void *arg)
{
	const void *key;
	size_t len;
	int err;

	err = identity_keyer_pod(&fx->keyer, p, p->n_addrs ? &p->addrs[0] : NULL, &key, &len);
	if (!err)
		err = fn(fx, key, len, arg);
	/* The first address's key is the primary's, still in the keyer. */
	for (size_t a = 0; !err && a < p->n_addrs; a++) {
		if (a)
			err = identity_keyer_pod(&fx->keyer, p, &p->addrs[a], &key, &len);
		if (!err)
			err = fn(fx, key, len, arg);
	}
	return err;
}

static int count_key(struct fast_index *fx, const void *key, size_t len, void *arg)
{
	long slot = counts_slot(&fx->ids, key, len, false, 0);

	(void)arg;
	if (slot >= 0)
		fx->ids.count[slot]++;
	return 0;
}

int fast_index_build(struct fast_index *fx, const struct np_cluster *view,
		     const struct compiled *cp, const char *node)
{
	const struct identities *idt = &cp->idn;
	int err;

	fast_index_free(fx);
	fast_index_init(fx);
	fx->node = node;
	err = identity_keyer_init(&fx->keyer, idt);
	for (size_t i = 0; !err && i < idt->n_ids; i++) {
		const struct identity *idn = &idt->ids[i];
		const void *key;
		size_t len;
		long slot;

		if (idn->kind != IDENTITY_POD || idn->id == NUMBER_NONE)
			continue;
		key = identity_key(idt, idn, &len);
		slot = counts_slot(&fx->ids, key, len, true, idn->id);
		if (slot < 0)
			err = (int)slot;
	}
	/* Node addresses: this node's own stay; those pods name are counted. */
	for (size_t i = 0; !err && i < idt->n_node_addrs; i++) {
		struct np_addr k = full_addr(&idt->node_addrs[i].addr);
		long slot = counts_slot(&fx->node_addrs, &k, sizeof(k), true, 0);

		if (slot < 0)
			err = (int)slot;
		else if (idt->node_addrs[i].node == 0)
			fx->node_addrs.count[slot] = FAST_PINNED;
	}
	for (size_t i = 0; !err && i < view->n_pods; i++) {
		const struct np_pod *p = &view->pods[i];

		for (size_t a = 0; !err && a < p->n_host_addrs; a++) {
			struct np_addr k = full_addr(&p->host_addrs[a]);
			long slot = counts_slot(&fx->node_addrs, &k, sizeof(k), true, 0);

			if (slot < 0)
				err = (int)slot;
			else if (fx->node_addrs.count[slot] != FAST_PINNED)
				fx->node_addrs.count[slot]++;
		}
		for (size_t a = 0; !err && p->host_network && a < p->n_addrs; a++) {
			struct np_addr k = full_addr(&p->addrs[a]);
			long slot = counts_slot(&fx->node_addrs, &k, sizeof(k), true, 0);

			if (slot < 0)
				err = (int)slot;
			else if (fx->node_addrs.count[slot] != FAST_PINNED)
				fx->node_addrs.count[slot]++;
		}
		if (err || p->host_network)
			continue;
		err = pod_keys(fx, p, count_key, NULL);
		/* Claims as the pods make them, before the compile's view took
		 * an address from the loser of a conflict: a conflict shows as a
		 * count of 2 and keeps such addresses off the fast path. */
		for (size_t a = 0; !err && a < p->n_addrs; a++) {
			struct np_addr k = full_addr(&p->addrs[a]);
			long slot = counts_slot(&fx->addrs, &k, sizeof(k), true, 0);

			if (slot < 0)
				err = (int)slot;
			else
				fx->addrs.count[slot]++;
		}
	}
	fx->valid = !err && !idt->region_lost;
	return err;
}

bool fast_index_current(const struct fast_index *fx, const struct compiled *cp)
{
	const struct identities *idt = &cp->idn;
	const struct identity_keyer *k = &fx->keyer;
	size_t n_pod = 0;

	if (!fx->valid || idt->region_lost || k->n_prefixes != idt->n_prefixes ||
	    (k->n_prefixes &&
	     memcmp(k->prefixes, idt->prefixes, k->n_prefixes * sizeof(*k->prefixes))) ||
	    memcmp(k->plens, idt->plens, sizeof(k->plens)) ||
	    memcmp(k->n_plens, idt->n_plens, sizeof(k->n_plens)))
		return false;
	for (size_t i = 0; i < idt->n_ids; i++) {
		const struct identity *idn = &idt->ids[i];
		const void *key;
		size_t len;
		uint32_t slot;

		if (idn->kind != IDENTITY_POD || idn->id == NUMBER_NONE)
			continue;
		key = identity_key(idt, idn, &len);
		if (!hmap_get(&fx->ids.index, key, len, &slot) || fx->ids.value[slot] != idn->id)
			return false;
		n_pod++;
	}
	if (n_pod != fx->ids.n)
		return false;
	for (size_t i = 0; i < idt->n_node_addrs; i++) {
		struct np_addr a = full_addr(&idt->node_addrs[i].addr);
		uint32_t slot;

		if (!hmap_get(&fx->node_addrs.index, &a, sizeof(a), &slot) ||
		    (idt->node_addrs[i].node == 0) != (fx->node_addrs.count[slot] == FAST_PINNED))
			return false;
	}
	return true;
}

/* ---- apply */

/* An ipcache write decided by an apply, netted per address. */
struct ipc_op {
	struct npbpf_addr key;
	bool put;
	struct npbpf_ipc_value value;
};

struct apply_ctx {
	struct fast_stats *st;
	struct ipc_op *ops;
	size_t n_ops, cap_ops;
	int delta; /* for key_step: +1 or -1 */
};

static void abi_addr(const struct np_addr *a, struct npbpf_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = a->family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
	memcpy(out->addr, a->bytes, a->family == 4 ? 4 : 16);
}

static int op_set(struct apply_ctx *x, const struct np_addr *a, bool put, uint32_t identity)
{
	struct npbpf_addr k;
	struct ipc_op *op = NULL;

	abi_addr(a, &k);
	for (size_t i = 0; i < x->n_ops && !op; i++)
		if (!memcmp(&x->ops[i].key, &k, sizeof(k)))
			op = &x->ops[i];
	if (!op) {
		if (x->n_ops == x->cap_ops) {
			size_t cap = x->cap_ops ? 2 * x->cap_ops : 16;
			struct ipc_op *v = realloc(x->ops, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			x->ops = v;
			x->cap_ops = cap;
		}
		op = &x->ops[x->n_ops++];
		op->key = k;
	}
	op->put = put;
	op->value = (struct npbpf_ipc_value){ .identity = identity };
	return 0;
}

/* -EAGAIN: not applicable (st->why_not set). */
static int key_step(struct fast_index *fx, const void *key, size_t len, void *arg)
{
	struct apply_ctx *x = arg;
	long slot = counts_slot(&fx->ids, key, len, false, 0);

	if (slot < 0) {
		x->st->why_not = "a label set with no identity yet";
		return -EAGAIN;
	}
	return bump(fx, &fx->ids, (uint32_t)slot, x->delta);
}

static int host_addrs_step(struct fast_index *fx, const struct np_pod *p, int delta,
			   struct apply_ctx *x)
{
	for (size_t a = 0; a < p->n_host_addrs; a++) {
		struct np_addr k = full_addr(&p->host_addrs[a]);
		long slot = counts_slot(&fx->node_addrs, &k, sizeof(k), false, 0);
		int err;

		if (slot < 0 || !fx->node_addrs.count[slot]) {
			x->st->why_not = "a node address not known yet";
			return -EAGAIN;
		}
		if (fx->node_addrs.count[slot] == FAST_PINNED)
			continue;
		err = bump(fx, &fx->node_addrs, (uint32_t)slot, delta);
		if (err)
			return err;
		if (!fx->node_addrs.count[slot]) {
			x->st->why_not = "the last pod naming a node address";
			return -EAGAIN;
		}
	}
	return 0;
}

static bool counts(const struct np_pod *p)
{
	return p && !p->finished;
}

/* One pod's change into counts and ipcache ops. */
static int change_step(struct fast_index *fx, const struct fast_change *c, struct apply_ctx *x)
{
	const struct np_pod *old = counts(c->old) ? c->old : NULL;
	const struct np_pod *new = counts(c->new) ? c->new : NULL;
	int err = 0;

	if ((old && old->host_network) || (new && new->host_network)) {
		x->st->why_not = "a hostNetwork pod";
		return -EAGAIN;
	}
	if ((old && is_local(old, fx->node)) || (new && is_local(new, fx->node))) {
		x->st->why_not = "a pod of this node";
		return -EAGAIN;
	}
	if (new && !new->node) {
		x->st->why_not = "a pod without spec.nodeName";
		return -EAGAIN;
	}
	if (old) {
		err = host_addrs_step(fx, old, -1, x);
		x->delta = -1;
		if (!err)
			err = pod_keys(fx, old, key_step, x);
		for (size_t a = 0; !err && a < old->n_addrs; a++) {
			struct np_addr k = full_addr(&old->addrs[a]);
			long slot = counts_slot(&fx->addrs, &k, sizeof(k), false, 0);

			if (slot < 0 || fx->addrs.count[slot] != 1) {
				x->st->why_not = "an address claimed by two pods";
				return -EAGAIN;
			}
			err = bump(fx, &fx->addrs, (uint32_t)slot, -1);
			if (!err)
				err = op_set(x, &old->addrs[a], false, 0);
		}
	}
	if (!err && new) {
		err = host_addrs_step(fx, new, +1, x);
		x->delta = +1;
		if (!err)
			err = pod_keys(fx, new, key_step, x);
		for (size_t a = 0; !err && a < new->n_addrs; a++) {
			struct np_addr k = full_addr(&new->addrs[a]);
			long slot = counts_slot(&fx->node_addrs, &k, sizeof(k), false, 0);
			const void *key;
			size_t len;

			if (slot >= 0 && fx->node_addrs.count[slot]) {
				x->st->why_not = "a pod address that is a node's";
				return -EAGAIN;
			}
			slot = counts_slot(&fx->addrs, &k, sizeof(k), true, 0);
			if (slot < 0)
				return (int)slot;
			if (fx->addrs.count[slot] != 0) {
				x->st->why_not = "an address claimed by two pods";
				return -EAGAIN;
			}
			err = bump(fx, &fx->addrs, (uint32_t)slot, +1);
			if (!err)
				err = identity_keyer_pod(&fx->keyer, new, &new->addrs[a], &key, &len);
			if (err)
				break;
			slot = counts_slot(&fx->ids, key, len, false, 0);
			if (slot < 0) {
				x->st->why_not = "a label set with no identity yet";
				return -EAGAIN;
			}
			err = op_set(x, &new->addrs[a], true, fx->ids.value[slot]);
		}
	}
	return err;
}

/* Identities no pod uses any more would be retired by a compile. */
static bool retires(const struct fast_index *fx)
{
	for (size_t i = 0; i < fx->n_undo; i++)
		if (fx->undo[i].set == &fx->ids && !fx->ids.count[fx->undo[i].slot])
			return true;
	return false;
}

/* The mirror follows each write that succeeded. */
static void mirror_ipc(struct ms_state *mirror, const struct ipc_op *op, struct fast_stats *st)
{
	int r;

	if (!mirror)
		return;
	r = op->put ? ms_table_put(&mirror->ipc_host, &op->key, &op->value)
		    : ms_table_del(&mirror->ipc_host, &op->key);
	if (r < 0)
		st->mirror_stale = true;
}

static int write_ops(struct loader *l, const struct apply_ctx *x, struct ms_state *mirror,
		     struct fast_stats *st)
{
	int fd = l->fds[PIN_IPC_HOST];

	/* Additions and changes first, removals after: the map sync's order. */
	for (size_t i = 0; i < x->n_ops; i++) {
		struct npbpf_ipc_value cur;

		if (!x->ops[i].put)
			continue;
		if (!bpf_map_lookup_elem(fd, &x->ops[i].key, &cur) &&
		    !memcmp(&cur, &x->ops[i].value, sizeof(cur))) {
			mirror_ipc(mirror, &x->ops[i], st);
			continue;
		}
		if (bpf_map_update_elem(fd, &x->ops[i].key, &x->ops[i].value, BPF_ANY))
			return -errno;
		mirror_ipc(mirror, &x->ops[i], st);
		st->ipc_put++;
	}
	for (size_t i = 0; i < x->n_ops; i++) {
		if (x->ops[i].put)
			continue;
		if (bpf_map_delete_elem(fd, &x->ops[i].key)) {
			if (errno != ENOENT)
				return -errno;
			mirror_ipc(mirror, &x->ops[i], st);
			continue;
		}
		mirror_ipc(mirror, &x->ops[i], st);
		st->ipc_del++;
	}
	return 0;
}

/* Conntrack re-checks established flows against the new identities, and
 * status sees a sync happened. */
static int bump_revision(struct loader *l, struct ms_state *mirror)
{
	struct npbpf_config cfg;
	struct npbpf_meta meta;
	struct timespec ts;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(l->fds[PIN_CONFIG], &zero, &cfg))
		return -errno;
	cfg.revision++;
	if (bpf_map_update_elem(l->fds[PIN_CONFIG], &zero, &cfg, BPF_ANY))
		return -errno;
	if (bpf_map_lookup_elem(l->fds[PIN_META], &zero, &meta))
		return -errno;
	clock_gettime(CLOCK_REALTIME, &ts);
	meta.syncs++;
	meta.last_sync_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	if (bpf_map_update_elem(l->fds[PIN_META], &zero, &meta, BPF_ANY))
		return -errno;
	if (mirror) {
		mirror->config = cfg;
		mirror->meta = meta;
	}
	return 0;
}

int fast_apply(struct fast_index *fx, struct loader *l, const struct fast_change *ch, size_t n,
	       struct ms_state *mirror, struct fast_stats *st)
{
	struct apply_ctx x = { .st = st };
	int err = 0;

	memset(st, 0, sizeof(*st));
	if (!fx->valid) {
		st->why_not = "no full sync to build on";
		return 0;
	}
	fx->n_undo = 0;
	for (size_t i = 0; !err && i < n; i++)
		err = change_step(fx, &ch[i], &x);
	if (!err && retires(fx)) {
		st->why_not = "the last pod of an identity";
		err = -EAGAIN;
	}
	if (err) {
		undo_all(fx);
		free(x.ops);
		if (err == -EAGAIN)
			return 0;
		fx->valid = false;
		return err;
	}
	err = write_ops(l, &x, mirror, st);
	/* Even after a failed write: what did go through changes verdicts,
	 * and the bump is what makes conntrack and cached denials see it. */
	if (st->ipc_put || st->ipc_del) {
		int berr = bump_revision(l, mirror);

		if (!err)
			err = berr;
	}
	free(x.ops);
	fx->n_undo = 0;
	if (err) {
		log_error("incremental ipcache write failed: %s; a full sync follows",
			  strerror(-err));
		fx->valid = false;
		return err;
	}
	return 1;
}
