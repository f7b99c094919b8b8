/* SPDX-License-Identifier: Apache-2.0 */
#include "pinned.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <npbpf/datapath.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "log.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

#define SPEC(n, t, k, v, m, f) { n, t, k, v, m, f }

const struct pin_spec pin_specs[PIN_N] = {
	[PIN_POLICY] = SPEC(NPBPF_MAP_POLICY, BPF_MAP_TYPE_HASH, sizeof(struct npbpf_policy_key),
			    sizeof(struct npbpf_policy_value), NPBPF_MAX_POLICY, 0),
	[PIN_RANGE] = SPEC(NPBPF_MAP_RANGE, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct npbpf_range_key),
			   sizeof(struct npbpf_policy_value), NPBPF_MAX_RANGE, BPF_F_NO_PREALLOC),
	[PIN_SUBJECT] = SPEC(NPBPF_MAP_SUBJECT, BPF_MAP_TYPE_HASH, sizeof(__u32),
			     sizeof(struct npbpf_subject), NPBPF_MAX_SUBJECT, 0),
	[PIN_IPC_HOST] = SPEC(NPBPF_MAP_IPC_HOST, BPF_MAP_TYPE_HASH, sizeof(struct npbpf_addr),
			      sizeof(struct npbpf_ipc_value), NPBPF_MAX_IPC_HOST, 0),
	[PIN_IPC_CIDR] = SPEC(NPBPF_MAP_IPC_CIDR, BPF_MAP_TYPE_LPM_TRIE,
			      sizeof(struct npbpf_ipc_key), sizeof(struct npbpf_ipc_value),
			      NPBPF_MAX_IPC_CIDR, BPF_F_NO_PREALLOC),
	[PIN_ENDPOINT] = SPEC(NPBPF_MAP_ENDPOINT, BPF_MAP_TYPE_HASH, sizeof(__u32),
			      sizeof(struct npbpf_endpoint), NPBPF_MAX_ENDPOINT, 0),
	[PIN_CT] = SPEC(NPBPF_MAP_CT, BPF_MAP_TYPE_HASH_OF_MAPS, sizeof(__u32), sizeof(__u32),
			NPBPF_MAX_ENDPOINT, 0),
	[PIN_FRAG] = SPEC(NPBPF_MAP_FRAG, BPF_MAP_TYPE_LRU_HASH, sizeof(struct npbpf_frag_key),
			  sizeof(struct npbpf_frag_value), NPBPF_MAX_FRAG, 0),
	[PIN_COUNTERS] = SPEC(NPBPF_MAP_COUNTERS, BPF_MAP_TYPE_PERCPU_HASH,
			      sizeof(struct npbpf_counter_key), sizeof(struct npbpf_counter),
			      NPBPF_MAX_COUNTERS, 0),
	[PIN_FIXCNT] = SPEC(NPBPF_MAP_FIXCNT, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
			    sizeof(struct npbpf_counter), NPBPF_MAX_FIXCNT, 0),
	[PIN_EVENTS] = SPEC(NPBPF_MAP_EVENTS, BPF_MAP_TYPE_RINGBUF, 0, 0, NPBPF_EVENTS_BYTES, 0),
	[PIN_CONFIG] = SPEC(NPBPF_MAP_CONFIG, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
			    sizeof(struct npbpf_config), 1, 0),
	[PIN_PENDING] = SPEC(NPBPF_MAP_PENDING, BPF_MAP_TYPE_HASH, sizeof(__u32),
			     sizeof(struct npbpf_endpoint), NPBPF_MAX_PENDING, 0),
	[PIN_SEGMENT] = SPEC(NPBPF_MAP_SEGMENT, BPF_MAP_TYPE_LPM_TRIE,
			     sizeof(struct npbpf_ipc_key), sizeof(struct npbpf_ipc_value),
			     NPBPF_MAX_SEGMENT, BPF_F_NO_PREALLOC),
	[PIN_EPCNT] = SPEC(NPBPF_MAP_EPCNT, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
			   sizeof(struct npbpf_ep_slot), NPBPF_EPCNT_SLOTS, 0),
	[PIN_EPCNT_OV] = SPEC(NPBPF_MAP_EPCNT_OV, BPF_MAP_TYPE_LRU_PERCPU_HASH, sizeof(__u32),
			      sizeof(struct npbpf_ep_counters), NPBPF_MAX_EPCNT_OV, 0),
	[PIN_META] = SPEC(NPBPF_MAP_META, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
			  sizeof(struct npbpf_meta), 1, 0),
	[PIN_IDMETA] = SPEC(NPBPF_MAP_IDMETA, BPF_MAP_TYPE_HASH, sizeof(struct npbpf_idmeta_key),
			    sizeof(struct npbpf_idmeta), NPBPF_MAX_IDMETA, BPF_F_NO_PREALLOC),
	[PIN_POLNAME] = SPEC(NPBPF_MAP_POLNAME, BPF_MAP_TYPE_HASH, sizeof(__u32),
			     sizeof(struct npbpf_name), NPBPF_MAX_POLNAME, BPF_F_NO_PREALLOC),
	[PIN_EPMETA] = SPEC(NPBPF_MAP_EPMETA, BPF_MAP_TYPE_HASH, sizeof(__u32),
			    sizeof(struct npbpf_name), NPBPF_MAX_ENDPOINT, BPF_F_NO_PREALLOC),
};

const char *const pin_prog_names[PIN_N_PROGS] = {
	[PIN_PROG_FROM_POD] = "npbpf_from_pod",
	[PIN_PROG_TO_POD] = "npbpf_to_pod",
	[PIN_PROG_XDP] = "npbpf_xdp_from_pod",
	[PIN_PROG_BRIDGE] = "npbpf_bridge",
};

int pinned_path(const char *dir, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int pinned_get(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	if (pinned_path(dir, name, path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

bool pinned_on_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && (unsigned long)st.f_type == BPF_FS_MAGIC;
}

static bool under_bpffs_root(const char *dir)
{
	size_t n = strlen(PINNED_BPFFS_ROOT);

	return !strncmp(dir, PINNED_BPFFS_ROOT, n) && (dir[n] == '/' || dir[n] == '\0');
}

static int mkdir_p(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int pinned_prepare_dir(const char *dir)
{
	int err;

	if (dir[0] != '/') {
		log_error("pin directory '%s' must be an absolute path", dir);
		return -EINVAL;
	}
	if (under_bpffs_root(dir) && !pinned_on_bpffs(PINNED_BPFFS_ROOT)) {
		if (mount("bpf", PINNED_BPFFS_ROOT, "bpf", 0, "mode=0700")) {
			err = -errno;
			log_error("mounting bpffs on %s: %s", PINNED_BPFFS_ROOT, strerror(-err));
			return err;
		}
		log_info("mounted bpffs on %s", PINNED_BPFFS_ROOT);
	}
	err = mkdir_p(dir);
	if (err) {
		log_error("creating pin directory %s: %s", dir, strerror(-err));
		return err;
	}
	if (!pinned_on_bpffs(dir)) {
		log_error("pin directory %s is not on a bpf filesystem (mount -t bpf bpf DIR)",
			  dir);
		return -EINVAL;
	}
	return 0;
}

int pinned_check_map(int fd, const struct pin_spec *spec, char *why, size_t len)
{
	struct bpf_map_info info;
	__u32 info_len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return -errno;
	if (info.type != spec->type)
		snprintf(why, len, "map type %u, want %u", info.type, spec->type);
	else if (info.key_size != spec->key_size || info.value_size != spec->value_size)
		snprintf(why, len, "key/value size %u/%u, want %u/%u", info.key_size,
			 info.value_size, spec->key_size, spec->value_size);
	else if (info.max_entries != spec->max_entries)
		snprintf(why, len, "max_entries %u, want %u", info.max_entries, spec->max_entries);
	else
		return 0;
	return -EINVAL;
}

int pinned_remove_dir(const char *dir)
{
	struct dirent *de;
	char path[4096];
	DIR *d;
	int err = 0;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (pinned_path(dir, de->d_name, path, sizeof(path)) || unlink(path)) {
			err = -errno;
			log_error("removing pinned %s/%s: %s", dir, de->d_name, strerror(errno));
			break;
		}
	}
	closedir(d);
	if (!err && rmdir(dir)) {
		err = -errno;
		log_error("removing pin directory %s: %s", dir, strerror(-err));
	}
	return err;
}

static uint32_t prog_id_of(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

int pinned_set_open(const char *dir, struct pinned_set *s)
{
	char path[4096], why[128];
	int err = 0, found = 0;
	struct stat st;

	memset(s, 0, sizeof(*s));
	for (int m = 0; m < PIN_N; m++)
		s->fds[m] = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	if (stat(dir, &st))
		return errno == EACCES || errno == EPERM ? -errno : -ENOENT;
	if (!S_ISDIR(st.st_mode) || !pinned_on_bpffs(dir))
		return -ENOENT;
	for (int m = 0; m < PIN_N; m++) {
		if (pinned_path(dir, pin_specs[m].name, path, sizeof(path)))
			return -ENAMETOOLONG;
		s->fds[m] = bpf_obj_get(path);
		if (s->fds[m] < 0) {
			err = -errno;
			s->fds[m] = -1;
			if (err == -ENOENT) {
				err = 0;
				continue;
			}
			goto out;
		}
		found++;
		err = pinned_check_map(s->fds[m], &pin_specs[m], why, sizeof(why));
		if (err) {
			log_error("pinned map %s has another layout (%s): made by another npbpf "
				  "version?", path, why);
			goto out;
		}
	}
	if (!found) {
		err = -ENOENT;
		goto out;
	}
	for (int p = 0; p < PIN_N_PROGS; p++) {
		int fd;

		if (pinned_path(dir, pin_prog_names[p], path, sizeof(path)))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		s->prog_ids[p] = prog_id_of(fd);
		close(fd);
	}
out:
	if (err)
		pinned_set_close(s);
	return err;
}

void pinned_set_close(struct pinned_set *s)
{
	for (int m = 0; m < PIN_N; m++) {
		if (s->fds[m] >= 0)
			close(s->fds[m]);
		s->fds[m] = -1;
	}
}
