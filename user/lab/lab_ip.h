/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lab's plumbing primitives: iproute2's `ip` run with an argv (never a
 * shell) on a batch of commands for one network namespace, named network
 * namespaces (/run/netns, as `ip netns` keeps them), and sysctls. This is the
 * only lab module that runs another program.
 *
 * A batch is the text `ip -batch` reads: one command per line, without the
 * leading "ip". Running a whole namespace's configuration as one batch costs
 * one fork+exec instead of one per command, which is most of the lab's setup
 * time.
 */
#ifndef NPBPF_LAB_IP_H
#define NPBPF_LAB_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LAB_NETNS_DIR "/run/netns"

struct lab_batch {
	char *buf;
	size_t len, cap;
	size_t n_cmds;
	int err; /* -ENOMEM once an add failed; reported by lab_batch_spawn */
};

void lab_batch_init(struct lab_batch *b);
void lab_batch_free(struct lab_batch *b);
/* Appends one command line (printf format, no trailing newline needed). A
 * failure is remembered in b->err. */
void lab_batch_add(struct lab_batch *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Starts `ip [-n NETNS] [-force] -batch -` on the batch (netns NULL: the
 * current namespace; force: go on after a failing command). Returns 0 and
 * *pid, or -errno (logged). An empty batch starts nothing (*pid = 0).
 */
int lab_batch_spawn(const struct lab_batch *b, const char *netns, bool force, pid_t *pid);
/* Waits for a spawned batch (pid 0: nothing to wait for). Returns 0 when ip
 * succeeded, -EIO when it failed (ip's own message is on stderr; what names
 * the batch in ours). A batch takes milliseconds, so a stop request does not
 * cut it short: the caller checks lab_stop_requested() between steps. */
int lab_batch_wait(pid_t pid, const char *what);
/* lab_batch_spawn + lab_batch_wait. */
int lab_batch_run(const struct lab_batch *b, const char *netns, bool force, const char *what);

/* Moves the calling thread into the named namespace, saving the current one
 * in *saved (an fd for lab_netns_leave). 0 or -errno (logged). */
int lab_netns_enter(const char *name, int *saved);
/* Back to the saved namespace; closes saved. Negative saved: nothing. */
int lab_netns_leave(int saved);
/* Enters the named namespace for good (worker processes). 0 or -errno. */
int lab_netns_join(const char *name);
/* true when /run/netns/NAME exists. */
bool lab_netns_exists(const char *name);
/* The namespace inode of /run/netns/NAME (0 when absent), to recognise the
 * processes living in it. */
unsigned long lab_netns_inode(const char *name);
/* The network namespace inode of process pid, 0 when unknown. */
unsigned long lab_netns_inode_of(pid_t pid);

/*
 * Waits until interface ifname (in the current namespace) carries traffic:
 * IFF_RUNNING, which the kernel sets only once its link watcher has
 * activated the device, and its IPv6 link-local address, added at the same
 * moment (unless IPv6 is disabled on it). A veth whose ifindex equals its
 * peer's (indexes are per namespace) is activated up to a second after both
 * ends are up, and until then it silently drops what it should send.
 * 0, -ETIMEDOUT or -errno (logged).
 */
int lab_link_wait_ready(const char *ifname, int64_t deadline_ms);

/* Writes value to /proc/sys/PATH (PATH with dots or slashes) in the current
 * network namespace. 0 or -errno (logged). */
int lab_sysctl_set(const char *path, const char *value);

#endif /* NPBPF_LAB_IP_H */
