/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a lab run created, so that it can always be removed: one state file
 * per run, /run/npbpf-lab/<id>.state, written ahead of each resource (a
 * namespace is listed before it is created, the pin directory before the
 * maps are pinned). The running lab holds an exclusive flock on its file;
 * a file nobody holds belongs to a lab that crashed (its leftovers are
 * removed by the next run) or to one kept with --keep (removed by
 * `npbpf lab --down`).
 *
 * Lines: "id ID", "pid PID", "netns NAME", "pin DIR", "worker PID NETNS",
 * "agent PID PIN_DIR" (cluster mode's agent), "file PATH" (in LAB_STATE_DIR),
 * "cni DIR NODE_NETNS" (--cni: the CNI list, cache and host-local's data),
 * "kept". Teardown stops workers, then the agent (SIGTERM, then SIGKILL),
 * runs CNI DEL for every cached pod, removes namespaces, pins and files. Names are checked against the lab's own prefixes before anything
 * is removed, and a worker is killed only while it still lives in its
 * namespace, so a damaged file cannot make the lab remove what is not its.
 */
#ifndef NPBPF_LAB_STATE_H
#define NPBPF_LAB_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lab_net.h"

#define LAB_STATE_DIR "/run/npbpf-lab"
#define LAB_PIN_PREFIX "/sys/fs/bpf/npbpf-lab-"

struct lab_state {
	char id[LAB_ID_LEN + 1];
	char path[256];
	int fd; /* -1 when closed */
};

/* A fresh run id (hex) with no state file yet, and that file created and
 * locked with its "id" and "pid" lines. 0 or -errno (logged). */
int lab_state_create(struct lab_state *st);

/* Appends one line (printf format). 0 or -errno (logged). */
int lab_state_record(struct lab_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Removes everything the file lists, then the file. Goes on past errors
 * (each logged) and returns the first. st is closed after. */
int lab_state_teardown(struct lab_state *st);

/* Marks the lab kept and lets go of the file without removing anything. */
int lab_state_keep(struct lab_state *st);

/* Closes st without touching what it lists (after teardown or keep). */
void lab_state_close(struct lab_state *st);

/* Removes the leftovers of labs that crashed (files nobody holds and not
 * kept). Logs each one; returns 0 or the first error. */
int lab_state_clean_stale(void);

/*
 * Opens the state file of kept lab id and takes its lock (lab probe), so
 * that `lab down` and other probes leave it alone meanwhile; *text is the
 * file's content (malloc'd). 0, or -errno (logged): -ENOENT no such lab,
 * -EBUSY in use, -EINVAL not a kept lab or not an id. Release with
 * lab_state_close (the lab stays kept).
 */
int lab_state_open_kept(const char *id, struct lab_state *st, char **text);

/* Kills the workers text lists (as teardown does) and waits, at most 5 s,
 * until they are gone. */
void lab_state_stop_workers(char *text);

/* One lab found by lab_state_down. */
struct lab_down_result {
	char id[LAB_ID_LEN + 1];
	bool kept;     /* kept with --keep (else: left by a crash) */
	bool running;  /* a live lab holds it: left alone */
	pid_t pid;
	int err;       /* teardown result */
};

/* Removes every kept (or crashed) lab, or only those of ids[n_ids] when
 * n_ids > 0; running labs are reported and left alone. *out (malloc'd, may
 * be NULL when *n is 0) lists what was found. 0 or -errno. */
int lab_state_down(char *const *ids, size_t n_ids, struct lab_down_result **out, size_t *n);

#endif /* NPBPF_LAB_STATE_H */
