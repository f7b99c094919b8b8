/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state file: what the agent is doing, for `npbpf status` (which reads
 * maps, not the agent, and so cannot ask it). Written after every sync,
 * whole, to a temporary name and renamed, so a reader never sees half of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"
#include "json_out.h"
#include "log.h"

static void iso_time(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int mkdir_parent(const char *path)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

void agent_report_write(struct agent *a)
{
	const char *path = a->o->state_file ? a->o->state_file : AGENT_DEFAULT_STATE_FILE;
	char tmp[4200], when[64];
	struct out o;
	FILE *f;

	if (!*path)
		return;
	if (mkdir_parent(path)) {
		log_debug("agent: state file %s: %s", path, strerror(errno));
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		log_debug("agent: state file %s: %s", tmp, strerror(errno));
		return;
	}
	out_init(&o, f, true);
	out_obj_begin(&o, NULL);
	out_int(&o, "pid", getpid());
	out_str(&o, "node", a->o->node);
	out_str(&o, "api_server", a->cfg.server ? a->cfg.server : "");
	out_str(&o, "credentials", a->cfg.source);
	out_str(&o, "pin_dir", a->o->pin_dir ? a->o->pin_dir : "");
	out_bool(&o, "ready", atomic_load(&a->ready));
	iso_time(a->last_sync_at, when, sizeof(when));
	out_obj_begin(&o, "last_sync");
	out_str(&o, "at", when);
	out_bool(&o, "ok", !a->last_err);
	if (a->last_err)
		out_str(&o, "error", strerror(-a->last_err));
	out_uint(&o, "map_writes", sync_stats_writes(&a->last.st));
	out_double(&o, "ms", a->last.total_ms, 1);
	out_uint(&o, "syncs", a->syncs);
	out_uint(&o, "failures", a->sync_failures);
	out_obj_end(&o);
	out_obj_begin(&o, "kinds");
	for (int k = 0; k < KUBE_N_KINDS; k++) {
		char rv[128];
		bool synced;
		uint64_t relists;

		pthread_mutex_lock(&a->q.mu);
		snprintf(rv, sizeof(rv), "%s", a->applied_rv[k]);
		synced = a->q.synced[k];
		relists = a->q.relists[k];
		pthread_mutex_unlock(&a->q.mu);
		out_obj_begin(&o, kube_kind_name(k));
		out_uint(&o, "objects", a->store.n[k]);
		out_bool(&o, "listed", synced);
		out_str(&o, "resource_version", rv);
		out_uint(&o, "lists", relists);
		out_uint(&o, "added", a->n_events[k][KUBE_ADDED]);
		out_uint(&o, "modified", a->n_events[k][KUBE_MODIFIED]);
		out_uint(&o, "deleted", a->n_events[k][KUBE_DELETED]);
		out_obj_end(&o);
	}
	out_obj_end(&o);
	out_obj_begin(&o, "endpoints");
	out_uint(&o, "veths", a->n_veths);
	out_uint(&o, "local_pods", a->last.local_pods);
	out_uint(&o, "bound", a->last.local_bound);
	out_uint(&o, "waiting", a->last.local_waiting);
	out_obj_end(&o);
	out_uint(&o, "identities", a->last.identities);
	out_obj_end(&o);
	out_finish(&o);
	if (fclose(f) || rename(tmp, path)) {
		log_debug("agent: state file %s: %s", path, strerror(errno));
		unlink(tmp);
	}
}
