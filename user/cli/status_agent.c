/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent part of `npbpf status`: what the agent wrote to its state file
 * after its last sync (user/agent/agent_report.c), and whether it still
 * runs. status reads maps and files only; it never talks to the agent.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json_out.h"
#include "status_agent.h"
#include "yaml_tree.h"

struct agent_doc {
	struct out *o;
	const char *pin_dir;
	bool shown;
};

static const char *str_of(const struct yt_node *map, const char *key)
{
	const struct yt_node *n = yt_map_get(map, key);

	return n && n->kind == YT_SCALAR ? n->str : "";
}

static uint64_t uint_of(const struct yt_node *map, const char *key)
{
	int64_t v = 0;

	if (yt_get_int(yt_map_get(map, key), &v) || v < 0)
		return 0;
	return (uint64_t)v;
}

static bool bool_of(const struct yt_node *map, const char *key)
{
	bool v = false;

	yt_get_bool(yt_map_get(map, key), &v);
	return v;
}

static int on_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct agent_doc *d = arg;
	struct out *o = d->o;
	const struct yt_node *sync = yt_map_get(root, "last_sync");
	const struct yt_node *kinds = yt_map_get(root, "kinds");
	const struct yt_node *eps = yt_map_get(root, "endpoints");
	int64_t pid = 0;
	bool running;

	(void)file;
	if (!root || root->kind != YT_MAP)
		return 0;
	/* Another pin directory's agent (a lab's) is not this one's. */
	if (d->pin_dir && *str_of(root, "pin_dir") && strcmp(str_of(root, "pin_dir"), d->pin_dir))
		return 0;
	yt_get_int(yt_map_get(root, "pid"), &pid);
	running = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
	d->shown = true;
	out_obj_begin(o, "agent");
	out_str(o, "state", running ? "running" : "not running (the state below is its last)");
	out_uint(o, "pid", (uint64_t)pid);
	out_str(o, "node", str_of(root, "node"));
	out_str(o, "api_server", str_of(root, "api_server"));
	out_bool(o, "ready", running && bool_of(root, "ready"));
	if (sync && sync->kind == YT_MAP) {
		out_obj_begin(o, "last_sync");
		out_str(o, "at", str_of(sync, "at"));
		out_str(o, "result", bool_of(sync, "ok") ? "ok" : str_of(sync, "error"));
		out_uint(o, "map_writes", uint_of(sync, "map_writes"));
		out_str(o, "ms", str_of(sync, "ms"));
		out_obj_end(o);
	}
	if (kinds && kinds->kind == YT_MAP) {
		out_obj_begin(o, "objects");
		for (uint32_t i = 0; i + 1 < kinds->n; i += 2) {
			const struct yt_node *k = kinds->items[i + 1];

			out_obj_begin(o, kinds->items[i]->str);
			out_uint(o, "count", uint_of(k, "objects"));
			out_bool(o, "listed", bool_of(k, "listed"));
			out_str(o, "resource_version", str_of(k, "resource_version"));
			out_uint(o, "lists", uint_of(k, "lists"));
			out_obj_end(o);
		}
		out_obj_end(o);
	}
	if (eps && eps->kind == YT_MAP) {
		out_obj_begin(o, "local_pods");
		out_uint(o, "veths", uint_of(eps, "veths"));
		out_uint(o, "pods", uint_of(eps, "local_pods"));
		out_uint(o, "bound", uint_of(eps, "bound"));
		out_uint(o, "waiting_for_veth", uint_of(eps, "waiting"));
		out_obj_end(o);
	}
	out_obj_end(o);
	return 0;
}

void status_agent_section(struct out *o, const char *state_file, const char *pin_dir)
{
	struct agent_doc d = { .o = o, .pin_dir = pin_dir };
	struct stat sb;

	if (state_file && !stat(state_file, &sb))
		yt_parse_file(state_file, on_doc, NULL, &d);
	if (!d.shown)
		out_str(o, "agent", "none (no agent state for these maps)");
}
