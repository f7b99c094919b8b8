/* SPDX-License-Identifier: Apache-2.0 */
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <npbpf/datapath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "log.h"
#include "npbpf.skel.h"
#include "vec.h"

/* ---- libbpf's messages. */

__attribute__((format(printf, 2, 0))) static int libbpf_print(enum libbpf_print_level level,
								const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len = strlen(buf);

	while (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	/* Netlink's extack comes as a warning even for errors we tolerate (an
	 * existing clsact, a filter not there): the caller logs what matters. */
	if (level == LIBBPF_WARN && !strstr(buf, "Kernel error message"))
		log_msg(LOG_WARN, "%s", buf);
	else
		log_msg(LOG_DEBUG, "%s", buf);
	return n;
}

void loader_route_libbpf_log(void)
{
	libbpf_set_print(libbpf_print);
}

/* ---- Opening. */

static int lock_dir(struct loader *l)
{
	int err;

	l->lock_fd = open(l->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->lock_fd < 0) {
		err = -errno;
		log_error("opening %s: %s", l->pin_dir, strerror(-err));
		return err;
	}
	if (flock(l->lock_fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY)
			log_error("%s is in use by another npbpf process (an agent or a lab)",
				  l->pin_dir);
		else
			log_error("locking %s: %s", l->pin_dir, strerror(-err));
		return err;
	}
	return 0;
}

/* Unlinks every pin in the directory but keeps it (we hold its lock). */
static int clear_dir(struct loader *l)
{
	char path[4096];
	int err = 0;

	for (int m = 0; m < PIN_N && !err; m++) {
		if (!pinned_path(l->pin_dir, pin_specs[m].name, path, sizeof(path)) &&
		    unlink(path) && errno != ENOENT)
			err = -errno;
	}
	for (int p = 0; p < PIN_N_PROGS && !err; p++) {
		if (!pinned_path(l->pin_dir, pin_prog_names[p], path, sizeof(path)) &&
		    unlink(path) && errno != ENOENT)
			err = -errno;
	}
	if (err)
		log_error("removing old pins under %s: %s", l->pin_dir, strerror(-err));
	return err;
}

/*
 * The layout marker. Pinned with our layout: adopt. Another layout: refuse,
 * or with replace drop the old pins (their state is lost; programs still
 * attached keep their own maps until replaced). No marker: a first run, or
 * one interrupted before it finished creating; libbpf reuses what is
 * compatible and we create the rest.
 */
static int check_layout(struct loader *l, bool replace)
{
	char path[4096], why[128] = "";
	struct npbpf_meta meta;
	__u32 key = 0;
	int fd, err = 0;

	err = pinned_path(l->pin_dir, NPBPF_MAP_META, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
		log_error("opening %s: %s", path, strerror(-err));
		return err;
	}
	memset(&meta, 0, sizeof(meta));
	err = pinned_check_map(fd, &pin_specs[PIN_META], why, sizeof(why));
	if (!err && bpf_map_lookup_elem(fd, &key, &meta))
		err = -errno;
	close(fd);
	if (err && err != -EINVAL) {
		log_error("reading %s: %s", path, strerror(-err));
		return err;
	}
	if (!err && meta.layout == NPBPF_LAYOUT_VERSION) {
		l->adopted = true;
		return 0;
	}
	if (!why[0])
		snprintf(why, sizeof(why), "layout %u, this npbpf uses %u", meta.layout,
			 NPBPF_LAYOUT_VERSION);
	if (!replace) {
		log_error("the maps pinned under %s are of another npbpf (%s): stop what uses "
			  "them and remove the directory, or replace them (their state is lost)",
			  l->pin_dir, why);
		return -EEXIST;
	}
	log_warn("replacing the maps pinned under %s (%s)", l->pin_dir, why);
	return clear_dir(l);
}

/* The BPF object's map must be what datapath.h says it is: the same header
 * built both sides, but the definitions are written twice. */
static int check_object_map(const struct bpf_map *map, const struct pin_spec *s)
{
	if (bpf_map__type(map) == (enum bpf_map_type)s->type &&
	    bpf_map__key_size(map) == s->key_size && bpf_map__value_size(map) == s->value_size &&
	    bpf_map__max_entries(map) == s->max_entries)
		return 0;
	log_error("BPF object: map %s is type %d, key %u, value %u, max %u; datapath.h says "
		  "type %u, key %u, value %u, max %u",
		  s->name, bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
		  bpf_map__max_entries(map), s->type, s->key_size, s->value_size,
		  s->max_entries);
	return -EINVAL;
}

static int open_object(struct loader *l, const struct loader_opts *opts)
{
	bool existed[PIN_N_DATAPATH];
	struct bpf_program *prog;
	struct bpf_object *obj;
	char path[4096];
	int err, ncpu;

	l->skel = npbpf_bpf__open();
	if (!l->skel) {
		err = -errno;
		log_error("opening the BPF object: %s", strerror(-err));
		return err;
	}
	obj = l->skel->obj;
	for (int m = 0; m < PIN_N_DATAPATH; m++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, pin_specs[m].name);

		if (!map) {
			log_error("BPF object has no map %s", pin_specs[m].name);
			return -ENOENT;
		}
		err = check_object_map(map, &pin_specs[m]);
		if (!err)
			err = pinned_path(l->pin_dir, pin_specs[m].name, path, sizeof(path));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
		existed[m] = !access(path, F_OK);
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0) {
		log_error("counting the possible CPUs: %s", strerror(-ncpu));
		return ncpu;
	}
	err = bpf_map__set_max_entries(l->skel->maps.npbpf_deny, npbpf_deny_entries(ncpu));
	if (err)
		return err;
	bpf_object__for_each_program(prog, obj) {
		if (opts->maps_only)
			bpf_program__set_autoload(prog, false);
	}
	/* libbpf reuses a pinned map whose definition matches, else fails;
	 * maps it creates it pins. */
	err = npbpf_bpf__load(l->skel);
	if (err) {
		log_error("loading the BPF object (pins under %s): %s", l->pin_dir,
			  strerror(-err));
		return err;
	}
	for (int m = 0; m < PIN_N_DATAPATH; m++) {
		l->fds[m] = bpf_map__fd(bpf_object__find_map_by_name(obj, pin_specs[m].name));
		if (!existed[m])
			l->n_created++;
	}
	for (int p = 0; p < PIN_N_PROGS && !opts->maps_only; p++) {
		prog = bpf_object__find_program_by_name(obj, pin_prog_names[p]);
		if (!prog) {
			log_error("BPF object has no program %s", pin_prog_names[p]);
			return -ENOENT;
		}
		l->prog_fds[p] = bpf_program__fd(prog);
	}
	return 0;
}

static int create_user_map(struct loader *l, enum pin_map m, const char *path)
{
	const struct pin_spec *s = &pin_specs[m];
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = s->flags);
	int fd, err;

	fd = bpf_map_create((enum bpf_map_type)s->type, s->name, s->key_size, s->value_size,
			    s->max_entries, &o);
	if (fd < 0) {
		err = -errno;
		log_error("creating map %s: %s", s->name, strerror(-err));
		return err;
	}
	if (m == PIN_META) {
		struct npbpf_meta meta = {
			.layout = NPBPF_LAYOUT_VERSION,
			.next_pod_id = NPBPF_ID_FIRST_POD,
			.next_cidr_id = NPBPF_ID_FIRST_CIDR,
		};
		__u32 key = 0;

		if (bpf_map_update_elem(fd, &key, &meta, BPF_ANY)) {
			err = -errno;
			log_error("writing %s: %s", s->name, strerror(-err));
			close(fd);
			return err;
		}
	}
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		log_error("pinning %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	l->fds[m] = fd;
	l->n_created++;
	return 0;
}

/* The userspace-only maps: adopt or create; the meta marker last, so it
 * exists only once everything else does. */
static int open_user_maps(struct loader *l)
{
	static const enum pin_map order[] = { PIN_IDMETA, PIN_POLNAME, PIN_EPMETA, PIN_META };
	char path[4096], why[128];
	int err;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		enum pin_map m = order[i];

		err = pinned_path(l->pin_dir, pin_specs[m].name, path, sizeof(path));
		if (err)
			return err;
		l->fds[m] = bpf_obj_get(path);
		if (l->fds[m] < 0) {
			err = -errno;
			l->fds[m] = -1;
			if (err != -ENOENT) {
				log_error("opening %s: %s", path, strerror(-err));
				return err;
			}
			err = create_user_map(l, m, path);
			if (err)
				return err;
			continue;
		}
		err = pinned_check_map(l->fds[m], &pin_specs[m], why, sizeof(why));
		if (err) {
			log_error("pinned map %s: %s", path, why);
			return -EEXIST;
		}
	}
	return 0;
}

static int set_config(struct loader *l, const struct loader_opts *opts)
{
	uint32_t eps = opts->events_per_sec ? opts->events_per_sec : LOADER_DEFAULT_EVENTS_PER_SEC;
	struct npbpf_config cfg;
	__u32 key = 0;
	int err;

	memset(&cfg, 0, sizeof(cfg));
	if (bpf_map_lookup_elem(l->fds[PIN_CONFIG], &key, &cfg)) {
		err = -errno;
		log_error("reading %s: %s", NPBPF_MAP_CONFIG, strerror(-err));
		return err;
	}
	if (cfg.flags == opts->cfg_flags && cfg.events_per_sec == eps)
		return 0;
	cfg.flags = opts->cfg_flags;
	cfg.events_per_sec = eps;
	if (bpf_map_update_elem(l->fds[PIN_CONFIG], &key, &cfg, BPF_ANY)) {
		err = -errno;
		log_error("writing %s: %s", NPBPF_MAP_CONFIG, strerror(-err));
		return err;
	}
	return 0;
}

int ct_map_ensure(int outer_fd, uint32_t ifindex)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);
	__u32 inner_id;
	int fd, err = 0;

	if (!bpf_map_lookup_elem(outer_fd, &ifindex, &inner_id))
		return 0;
	if (errno != ENOENT) {
		err = -errno;
		log_error("reading %s for ifindex %u: %s", NPBPF_MAP_CT, ifindex, strerror(-err));
		return err;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, NPBPF_CT_INNER_NAME, sizeof(struct npbpf_ct_key),
			    sizeof(struct npbpf_ct_value), NPBPF_CT_PER_ENDPOINT, &o);
	if (fd < 0) {
		err = -errno;
		log_error("creating the conntrack map of ifindex %u: %s", ifindex, strerror(-err));
		return err;
	}
	/* The outer map holds its own reference; ours goes with close(). */
	if (bpf_map_update_elem(outer_fd, &ifindex, &fd, BPF_NOEXIST) && errno != EEXIST) {
		err = -errno;
		log_error("adding the conntrack map of ifindex %u to %s: %s", ifindex,
			  NPBPF_MAP_CT, strerror(-err));
	}
	close(fd);
	return err;
}

int ct_map_remove(int outer_fd, uint32_t ifindex)
{
	int err;

	if (!bpf_map_delete_elem(outer_fd, &ifindex) || errno == ENOENT)
		return 0;
	err = -errno;
	log_error("removing the conntrack map of ifindex %u: %s", ifindex, strerror(-err));
	return err;
}

int ct_map_fd(int outer_fd, uint32_t ifindex)
{
	__u32 id;
	int fd;

	if (bpf_map_lookup_elem(outer_fd, &ifindex, &id))
		return -errno;
	fd = bpf_map_get_fd_by_id(id);
	return fd < 0 ? -errno : fd;
}

int loader_ct_ensure(struct loader *l, uint32_t ifindex)
{
	return ct_map_ensure(l->fds[PIN_CT], ifindex);
}

int loader_ct_remove(struct loader *l, uint32_t ifindex)
{
	return ct_map_remove(l->fds[PIN_CT], ifindex);
}

/* A new agent's programs replace the old pins; the old programs stay alive
 * while filters still reference them. */
static int pin_programs(struct loader *l)
{
	char path[4096];
	int err;

	for (int p = 0; p < PIN_N_PROGS; p++) {
		struct bpf_program *prog =
			bpf_object__find_program_by_name(l->skel->obj, pin_prog_names[p]);

		err = pinned_path(l->pin_dir, pin_prog_names[p], path, sizeof(path));
		if (err)
			return err;
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			log_error("removing old pin %s: %s", path, strerror(-err));
			return err;
		}
		err = bpf_program__pin(prog, path);
		if (err) {
			log_error("pinning %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

/*
 * Grace periods from userspace: updating an ARRAY_OF_MAPS slot makes the
 * kernel wait until every running non-sleepable BPF program has finished
 * (synchronize_rcu in the map update path), so that userspace knows no
 * program still uses a value it replaced. Not pinned: per process.
 */
static int rcu_maps(struct loader *l)
{
	int err;

	l->rcu_inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "npbpf_rcu_in", 4, 4, 1, NULL);
	if (l->rcu_inner_fd >= 0) {
		LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = l->rcu_inner_fd);

		l->rcu_outer_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "npbpf_rcu", 4, 4, 1,
						 &o);
	}
	if (l->rcu_inner_fd < 0 || l->rcu_outer_fd < 0) {
		err = -errno;
		log_error("creating the grace-period map: %s", strerror(-err));
		return err;
	}
	return 0;
}

int loader_open(const struct loader_opts *opts, struct loader **out)
{
	static const struct loader_opts defaults;
	const char *dir;
	struct loader *l;
	int n, err;

	if (!opts)
		opts = &defaults;
	dir = opts->pin_dir ? opts->pin_dir : PINNED_DEFAULT_DIR;
	loader_route_libbpf_log();
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (int m = 0; m < PIN_N; m++)
		l->fds[m] = -1;
	for (int p = 0; p < PIN_N_PROGS; p++)
		l->prog_fds[p] = -1;
	l->lock_fd = l->rcu_inner_fd = l->rcu_outer_fd = -1;
	n = snprintf(l->pin_dir, sizeof(l->pin_dir), "%s", dir);
	while (n > 1 && l->pin_dir[n - 1] == '/')
		l->pin_dir[--n] = '\0';
	if (n < 0 || (size_t)n >= sizeof(l->pin_dir) - 64) {
		log_error("pin directory name too long");
		err = -ENAMETOOLONG;
		goto out;
	}
	err = pinned_prepare_dir(l->pin_dir);
	if (!err)
		err = lock_dir(l);
	if (!err)
		err = check_layout(l, opts->replace);
	if (!err)
		err = open_object(l, opts);
	if (!err)
		err = open_user_maps(l);
	if (!err)
		err = set_config(l, opts);
	if (!err && !opts->maps_only)
		err = pin_programs(l);
	if (!err)
		err = rcu_maps(l);
	if (!err)
		log_debug("%s %s: %u maps created", l->adopted ? "adopted" : "set up", l->pin_dir,
			  l->n_created);
out:
	if (err) {
		loader_free(l);
		return err;
	}
	*out = l;
	return 0;
}

void loader_free(struct loader *l)
{
	if (!l)
		return;
	/* The skeleton owns the datapath maps' fds; we own the rest. */
	for (int m = PIN_N_DATAPATH; m < PIN_N; m++) {
		if (l->fds[m] >= 0)
			close(l->fds[m]);
	}
	npbpf_bpf__destroy(l->skel);
	if (l->rcu_outer_fd >= 0)
		close(l->rcu_outer_fd);
	if (l->rcu_inner_fd >= 0)
		close(l->rcu_inner_fd);
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	free(l->att);
	free(l);
}

int loader_wait_programs(struct loader *l)
{
	__u32 key = 0;
	int err;

	if (bpf_map_update_elem(l->rcu_outer_fd, &key, &l->rcu_inner_fd, BPF_ANY)) {
		err = -errno;
		log_error("waiting for running BPF programs: %s", strerror(-err));
		return err;
	}
	return 0;
}

int loader_unpin(struct loader *l)
{
	return pinned_remove_dir(l->pin_dir);
}

/* ---- Attaching. */

static struct loader_attach *find_att(struct loader *l, uint32_t ifindex, bool create)
{
	struct loader_attach *a;

	for (size_t i = 0; i < l->n_att; i++) {
		if (l->att[i].ifindex == ifindex)
			return &l->att[i];
	}
	if (!create)
		return NULL;
	a = VEC_PUSH(l->att, l->n_att, l->cap_att);
	if (a)
		a->ifindex = ifindex;
	return a;
}

static int no_programs(struct loader *l, const char *what)
{
	if (l->skel && l->prog_fds[0] >= 0)
		return 0;
	log_error("%s: the loader was opened without programs (maps only)", what);
	return -EINVAL;
}

int loader_tc_attach_fds(uint32_t ifindex, int from_pod_fd, int to_pod_fd,
			 bool *created_clsact)
{
	static const enum bpf_tc_attach_point points[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	const int progs[2] = { from_pod_fd, to_pod_fd };
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex, .attach_point = BPF_TC_INGRESS);
	bool created = false;
	int err;

	err = bpf_tc_hook_create(&hook);
	if (!err)
		created = true;
	else if (err != -EEXIST)
		goto fail;
	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_tc_opts, o, .handle = LOADER_TC_HANDLE,
			    .priority = LOADER_TC_PRIORITY, .prog_fd = progs[i],
			    .flags = BPF_TC_F_REPLACE);

		if (progs[i] < 0)
			continue;
		hook.attach_point = points[i];
		err = bpf_tc_attach(&hook, &o);
		if (err)
			goto fail;
	}
	if (created_clsact)
		*created_clsact = created;
	return 0;
fail:
	log_error("attaching TC programs to ifindex %u: %s", ifindex, strerror(-err));
	if (created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	return err;
}

int loader_attach_tc(struct loader *l, uint32_t ifindex)
{
	struct loader_attach *a;
	bool created = false;
	int err;

	err = no_programs(l, "attach");
	if (err)
		return err;
	a = find_att(l, ifindex, true);
	if (!a)
		return -ENOMEM;
	err = loader_tc_attach_fds(ifindex, l->prog_fds[PIN_PROG_FROM_POD],
				   l->prog_fds[PIN_PROG_TO_POD], &created);
	if (err)
		return err;
	a->tc = true;
	a->created_clsact |= created;
	return 0;
}

/* Our two filters off ifindex; not there (or no such device) is fine. */
static int detach_filters(uint32_t ifindex)
{
	static const enum bpf_tc_attach_point points[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex);
	int err = 0, ret;

	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_tc_opts, o, .handle = LOADER_TC_HANDLE,
			    .priority = LOADER_TC_PRIORITY);

		hook.attach_point = points[i];
		ret = bpf_tc_detach(&hook, &o);
		if (ret && ret != -ENOENT && ret != -ENODEV && ret != -EINVAL && !err)
			err = ret;
	}
	return err;
}

int loader_tc_detach_ifindex(uint32_t ifindex)
{
	int err = detach_filters(ifindex);

	if (err)
		log_error("detaching TC programs from ifindex %u: %s", ifindex, strerror(-err));
	return err;
}

int loader_detach_tc(struct loader *l, uint32_t ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex);
	struct loader_attach *a = find_att(l, ifindex, false);
	int err, ret;

	err = detach_filters(ifindex);
	if (a && a->created_clsact) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		ret = bpf_tc_hook_destroy(&hook);
		if (ret && ret != -ENOENT && ret != -ENODEV && ret != -EINVAL && !err)
			err = ret;
		a->created_clsact = false;
	}
	if (a)
		a->tc = false;
	if (err)
		log_error("detaching TC programs from ifindex %u: %s", ifindex, strerror(-err));
	return err;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static bool prog_is_ours(uint32_t id)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	bool ours = false;
	int fd;

	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		ours = !strncmp(info.name, pin_prog_names[PIN_PROG_XDP], sizeof(info.name) - 1);
	close(fd);
	return ours;
}

int loader_attach_xdp(struct loader *l, uint32_t ifindex, bool native_only)
{
	int fd = l->prog_fds[PIN_PROG_XDP];
	struct loader_attach *a;
	uint32_t cur = 0, flags = XDP_FLAGS_DRV_MODE;
	int err;

	err = no_programs(l, "attach");
	if (err)
		return err;
	if (!bpf_xdp_query_id((int)ifindex, 0, &cur) && cur && !prog_is_ours(cur)) {
		log_error("ifindex %u already has another XDP program (id %u)", ifindex, cur);
		return -EBUSY;
	}
	a = find_att(l, ifindex, true);
	if (!a)
		return -ENOMEM;
	err = bpf_xdp_attach((int)ifindex, fd, flags, NULL);
	if (err && !native_only) {
		log_debug("native XDP on ifindex %u: %s; using generic mode", ifindex,
			  strerror(-err));
		flags = XDP_FLAGS_SKB_MODE;
		err = bpf_xdp_attach((int)ifindex, fd, flags, NULL);
	}
	if (err) {
		log_error("attaching XDP to ifindex %u: %s", ifindex, strerror(-err));
		return err;
	}
	a->xdp = true;
	a->xdp_flags = flags;
	return 0;
}

int loader_detach_xdp(struct loader *l, uint32_t ifindex)
{
	struct loader_attach *a = find_att(l, ifindex, false);
	int fd = l->prog_fds[PIN_PROG_XDP];
	uint32_t cur = 0, ours = fd >= 0 ? prog_id(fd) : 0, flags;
	uint8_t mode = 0;
	int err;

	/* Detaching must name the mode it was attached in. */
	if (loader_query_xdp(ifindex, &cur, &mode) || !cur)
		return 0;
	if (cur != ours && !prog_is_ours(cur))
		return 0;
	flags = mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE
	      : mode == XDP_ATTACHED_HW	 ? XDP_FLAGS_HW_MODE
					 : XDP_FLAGS_DRV_MODE;
	err = bpf_xdp_detach((int)ifindex, flags, NULL);
	if (err && err != -ENODEV) {
		log_error("detaching XDP from ifindex %u: %s", ifindex, strerror(-err));
		return err;
	}
	if (a)
		a->xdp = false;
	return 0;
}

int loader_query_tc(uint32_t ifindex, uint32_t *ingress_id, uint32_t *egress_id)
{
	static const enum bpf_tc_attach_point points[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex);
	uint32_t *ids[2] = { ingress_id, egress_id };

	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_tc_opts, o, .handle = LOADER_TC_HANDLE,
			    .priority = LOADER_TC_PRIORITY);
		int err;

		hook.attach_point = points[i];
		*ids[i] = 0;
		err = bpf_tc_query(&hook, &o);
		if (!err)
			*ids[i] = o.prog_id;
		else if (err != -ENOENT && err != -EINVAL)
			return err;
	}
	return 0;
}

int loader_query_xdp(uint32_t ifindex, uint32_t *id, uint8_t *mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, o);
	int err;

	*id = 0;
	*mode = 0;
	err = bpf_xdp_query((int)ifindex, 0, &o);
	if (err)
		return err;
	*id = o.prog_id;
	*mode = o.attach_mode;
	return 0;
}
