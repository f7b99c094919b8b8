/* SPDX-License-Identifier: Apache-2.0 */
/* Map sync, the kernel half: read the maps, write them through bpf(2). */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader.h"
#include "log.h"
#include "mapsync.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's own, leaks out of some bpf(2) paths */
#endif

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Entries per batch call; a hash bucket never holds nearly this many. */
#define BATCH 4096

/* Puts one entry read from map m into the state, splitting generations. */
static int put_entry(struct ms_state *s, enum pin_map m, uint8_t *key, const void *value)
{
	__u32 *subject = ms_key_subject(m, key);
	int gen = 0;

	if (subject) {
		gen = (*subject & NPBPF_GEN_BIT) ? 1 : 0;
		*subject &= ~NPBPF_GEN_BIT;
	}
	return ms_table_put(ms_state_table(s, m, gen), key, value);
}

/* Hash maps: lookup_batch, BATCH entries per syscall. Returns -EOPNOTSUPP
 * when the kernel or map type has no batch lookup and nothing was read. */
static int read_batch(int fd, enum pin_map m, struct ms_state *s)
{
	const struct pin_spec *sp = &pin_specs[m];
	uint8_t *keys, *values;
	__u64 in = 0, out = 0; /* hash batch tokens are a bucket number */
	bool first = true;
	int err = 0;

	keys = malloc((size_t)BATCH * sp->key_size);
	values = malloc((size_t)BATCH * sp->value_size);
	if (!keys || !values) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 n = BATCH;
		bool done = false;

		if (bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, values, &n, NULL)) {
			err = -errno;
			if (err != -ENOENT) {
				if (first && (err == -EINVAL || err == -ENOTSUPP ||
					      err == -EOPNOTSUPP))
					err = -EOPNOTSUPP;
				goto out;
			}
			err = 0;
			done = true;
		}
		for (__u32 i = 0; !err && i < n; i++)
			err = put_entry(s, m, keys + (size_t)i * sp->key_size,
					values + (size_t)i * sp->value_size);
		if (err || done)
			break;
		in = out;
		first = false;
	}
out:
	free(keys);
	free(values);
	return err;
}

/* Any map: get_next_key and lookup, two syscalls per entry. */
static int read_iter(int fd, enum pin_map m, struct ms_state *s)
{
	const struct pin_spec *sp = &pin_specs[m];
	uint8_t *key, *next, *value;
	bool first = true;
	int err = 0;

	key = calloc(1, sp->key_size);
	next = calloc(1, sp->key_size);
	value = calloc(1, sp->value_size);
	if (!key || !next || !value) {
		err = -ENOMEM;
		goto out;
	}
	while (!err) {
		if (bpf_map_get_next_key(fd, first ? NULL : key, next)) {
			err = errno == ENOENT ? 0 : -errno;
			break;
		}
		first = false;
		memcpy(key, next, sp->key_size);
		if (bpf_map_lookup_elem(fd, next, value)) {
			if (errno == ENOENT) /* deleted under us */
				continue;
			err = -errno;
			break;
		}
		err = put_entry(s, m, next, value);
	}
out:
	free(key);
	free(next);
	free(value);
	return err;
}

static const enum pin_map read_maps[] = {
	PIN_POLICY,   PIN_RANGE,  PIN_SUBJECT, PIN_IPC_HOST, PIN_IPC_CIDR,
	PIN_ENDPOINT, PIN_IDMETA, PIN_POLNAME, PIN_EPMETA,
};

int mapsync_read_fds(const int *fds, struct ms_state *cur)
{
	__u32 zero = 0;
	int err = 0;

	for (size_t i = 0; !err && i < sizeof(read_maps) / sizeof(read_maps[0]); i++) {
		enum pin_map m = read_maps[i];

		if (fds[m] < 0)
			continue;
		err = pin_specs[m].type == BPF_MAP_TYPE_HASH ? read_batch(fds[m], m, cur)
							     : -EOPNOTSUPP;
		if (err == -EOPNOTSUPP)
			err = read_iter(fds[m], m, cur);
		if (err)
			log_error("reading map %s: %s", pin_specs[m].name, strerror(-err));
	}
	if (!err && fds[PIN_CONFIG] >= 0 &&
	    bpf_map_lookup_elem(fds[PIN_CONFIG], &zero, &cur->config)) {
		err = -errno;
		log_error("reading map %s: %s", NPBPF_MAP_CONFIG, strerror(-err));
	}
	if (!err && fds[PIN_META] >= 0 && bpf_map_lookup_elem(fds[PIN_META], &zero, &cur->meta)) {
		err = -errno;
		log_error("reading map %s: %s", NPBPF_MAP_META, strerror(-err));
	}
	return err;
}

int mapsync_read(struct loader *l, struct ms_state *cur)
{
	return mapsync_read_fds(l->fds, cur);
}

int mapsync_load_numbering(struct loader *l, struct numbering_prior *prior)
{
	struct ms_state cur;
	int err;

	ms_state_init(&cur);
	err = mapsync_read(l, &cur);
	if (!err)
		err = mapsync_numbering_from_state(&cur, prior);
	ms_state_free(&cur);
	return err;
}

/* ---- The bpf(2) backend. */

/* The map's own max_entries (a test may have swapped in a small map). */
static uint32_t map_max(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.max_entries : 0;
}

/* The map, what failed and the errno, in one line: the sync's summary
 * (mapsync_apply) says what it meant for the pods. */
static void write_error(const int *fds, enum pin_map m, const char *what, int err)
{
	if (err == -E2BIG || err == -ENOSPC || err == -ENOMEM)
		log_error("%s map %s: full at %u entries (%s, errno %d)", what, pin_specs[m].name,
			  map_max(fds[m]), strerror(-err), -err);
	else
		log_error("%s map %s: %s (errno %d)", what, pin_specs[m].name, strerror(-err),
			  -err);
}

static int fds_update(const int *fds, enum pin_map m, const void *keys, const void *values,
		      size_t n)
{
	const struct pin_spec *sp = &pin_specs[m];
	const uint8_t *k = keys, *v = values;
	size_t done = 0;

	/* Every endpoint gets its conntrack map before its record. */
	for (size_t i = 0; m == PIN_ENDPOINT && i < n; i++) {
		int err = ct_map_ensure(fds[PIN_CT], *(const __u32 *)(k + i * sp->key_size));

		if (err)
			return err;
	}
	/* Hash maps take batches; an LPM trie or an old kernel does not. */
	if (sp->type == BPF_MAP_TYPE_HASH && n > 1) {
		while (done < n) {
			__u32 cnt = (__u32)(n - done < BATCH ? n - done : BATCH);

			if (bpf_map_update_batch(fds[m], k + done * sp->key_size,
						 v + done * sp->value_size, &cnt, NULL)) {
				int err = -errno;

				if (err != -EINVAL && err != -ENOTSUPP && err != -EOPNOTSUPP) {
					write_error(fds, m, "writing", err);
					return err;
				}
				break; /* finish one by one */
			}
			done += cnt;
		}
	}
	for (; done < n; done++) {
		if (bpf_map_update_elem(fds[m], k + done * sp->key_size, v + done * sp->value_size,
					BPF_ANY)) {
			int err = -errno;

			write_error(fds, m, "writing", err);
			return err;
		}
	}
	return 0;
}

static int fds_del(const int *fds, enum pin_map m, const void *keys, size_t n)
{
	const uint8_t *k = keys;

	for (size_t i = 0; i < n; i++) {
		if (bpf_map_delete_elem(fds[m], k + i * pin_specs[m].key_size) && errno != ENOENT) {
			int err = -errno;

			write_error(fds, m, "deleting from", err);
			return err;
		}
		/* The record is gone: no packet finds the endpoint any more. */
		if (m == PIN_ENDPOINT) {
			int err = ct_map_remove(fds[PIN_CT],
						*(const __u32 *)(k + i * pin_specs[m].key_size));

			if (err)
				return err;
		}
	}
	return 0;
}

/* A backend with ops's callbacks on ctx, whose maps are fds. */
static int backend_init(struct ms_backend *be, const struct ms_backend *ops, void *ctx,
			const int *fds)
{
	*be = *ops;
	be->ctx = ctx;
	for (int m = 0; m < PIN_N; m++)
		be->cap[m] = map_max(fds[m]);
	return 0;
}

/* Through a loader: its maps, its grace periods. */
static int be_update(void *ctx, enum pin_map m, const void *keys, const void *values, size_t n)
{
	return fds_update(((struct loader *)ctx)->fds, m, keys, values, n);
}

static int be_del(void *ctx, enum pin_map m, const void *keys, size_t n)
{
	return fds_del(((struct loader *)ctx)->fds, m, keys, n);
}

static int be_wait(void *ctx)
{
	return loader_wait_programs(ctx);
}

static int be_read(void *ctx, struct ms_state *out)
{
	return mapsync_read(ctx, out);
}

int mapsync_backend(struct loader *l, struct ms_backend *be)
{
	static const struct ms_backend ops = { be_update, be_del, be_wait, be_read, NULL, { 0 } };

	return backend_init(be, &ops, l, l->fds);
}

/* Through bare map fds. */
static int maps_update(void *ctx, enum pin_map m, const void *keys, const void *values, size_t n)
{
	return fds_update(((struct ms_maps *)ctx)->fds, m, keys, values, n);
}

static int maps_del(void *ctx, enum pin_map m, const void *keys, size_t n)
{
	return fds_del(((struct ms_maps *)ctx)->fds, m, keys, n);
}

static int maps_wait(void *ctx)
{
	struct ms_maps *mm = ctx;

	return mm->wait ? mm->wait(mm->wait_ctx) : 0;
}

static int maps_read(void *ctx, struct ms_state *out)
{
	return mapsync_read_fds(((struct ms_maps *)ctx)->fds, out);
}

int mapsync_backend_maps(struct ms_maps *mm, struct ms_backend *be)
{
	static const struct ms_backend ops = { maps_update, maps_del, maps_wait, maps_read, NULL,
					       { 0 } };

	return backend_init(be, &ops, mm, mm->fds);
}

/* What a failed sync left, for whoever reads the log. */
static void report_failure(const struct sync_stats *st)
{
	char map[64] = "";

	if (st->err_map < PIN_N)
		snprintf(map, sizeof(map), ", map %s", pin_specs[st->err_map].name);
	log_error("sync failed while %s%s: %s (errno %d); %u endpoints isolated until a sync "
		  "succeeds (npbpf status shows it)",
		  st->err_what[0] ? st->err_what : "syncing", map, strerror(-st->err), -st->err,
		  st->isolated);
}

/* Reads what the maps hold (unless the caller did: have), plans cp over
 * it, and writes the difference. */
static int apply(const struct ms_backend *be, const struct compiled *cp,
		 const struct endpoint_binding *eps, size_t n, struct ms_state *have, bool keep,
		 const struct numbering_prior *prior, struct sync_stats *out)
{
	struct ms_state read, want;
	const struct ms_state *cur = have ? have : &read;
	struct sync_stats st;
	double t0, t1, t2;
	int err = 0;

	memset(&st, 0, sizeof(st));
	st.err_map = PIN_N;
	ms_state_init(&read);
	ms_state_init(&want);
	t0 = now_ms();
	if (!have)
		err = be->read(be->ctx, &read);
	if (err)
		goto out;
	t1 = now_ms();
	err = mapsync_desired_prior(cp, eps, n, cur, prior, &want, &st);
	if (err) {
		if (err == -ENOMEM)
			log_error("sync: out of memory");
		goto out;
	}
	t2 = now_ms();
	err = keep ? mapsync_execute_keep(&want, have, be, &st)
		   : mapsync_execute(&want, cur, be, &st);
	st.read_ms = t1 - t0;
	st.plan_ms = t2 - t1;
	if (err) {
		if (err == -ENOMEM && !st.err)
			log_error("sync: out of memory");
		else
			report_failure(&st);
		goto out;
	}
	log_info("sync: %llu writes (policy %llu)%s, generation %u, revision %u, %.1f ms",
		 (unsigned long long)sync_stats_writes(&st),
		 (unsigned long long)sync_stats_policy_writes(&st),
		 st.per_pod ? ", pod by pod" : "", st.generation, st.revision,
		 st.read_ms + st.plan_ms + st.write_ms);
out:
	if (out)
		*out = st;
	ms_state_free(&read);
	ms_state_free(&want);
	return err;
}

int mapsync_apply(struct loader *l, const struct compiled *cp, const struct endpoint_binding *eps,
		  size_t n, struct sync_stats *out)
{
	struct ms_backend be;

	mapsync_backend(l, &be);
	return apply(&be, cp, eps, n, NULL, false, NULL, out);
}

int mapsync_apply_read(struct loader *l, const struct compiled *cp,
		       const struct endpoint_binding *eps, size_t n, const struct ms_state *cur,
		       struct sync_stats *out)
{
	struct ms_backend be;

	mapsync_backend(l, &be);
	return apply(&be, cp, eps, n, (struct ms_state *)cur, false, NULL, out);
}

int mapsync_apply_keep(struct loader *l, const struct compiled *cp,
		       const struct endpoint_binding *eps, size_t n, struct ms_state *cur,
		       const struct numbering_prior *prior, struct sync_stats *out)
{
	struct ms_backend be;

	mapsync_backend(l, &be);
	return apply(&be, cp, eps, n, cur, true, prior, out);
}

int mapsync_apply_maps(struct ms_maps *mm, const struct compiled *cp,
		       const struct endpoint_binding *eps, size_t n, struct sync_stats *out)
{
	struct ms_backend be;

	mapsync_backend_maps(mm, &be);
	return apply(&be, cp, eps, n, NULL, false, NULL, out);
}
