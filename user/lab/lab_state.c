/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_state.h"

#include <dirent.h>
#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab_agent.h"
#include "lab_cni.h"
#include "lab_ip.h"
#include "lab_probe.h"
#include "log.h"
#include "pinned.h"
#include "vec.h"

#define STATE_SUFFIX ".state"
#define STATE_MAX_BYTES (1 << 20)

static int state_path(const char *id, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s", LAB_STATE_DIR, id, STATE_SUFFIX);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int new_id(char id[LAB_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[LAB_ID_LEN];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	for (int i = 0; i < LAB_ID_LEN; i++)
		id[i] = hex[rnd[i] & 15];
	id[LAB_ID_LEN] = '\0';
	return 0;
}

/* Creates and locks the file under a temporary name, then links it into
 * place, so that no other lab ever sees it unlocked (it would take it for
 * a crashed lab's). 0, -EEXIST when the id is taken, or -errno. */
static int create_locked(struct lab_state *st)
{
	char tmp[sizeof(st->path) + 8];
	int err = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", st->path);
	st->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (st->fd < 0)
		return -errno;
	if (flock(st->fd, LOCK_EX | LOCK_NB) || link(tmp, st->path))
		err = -errno;
	unlink(tmp);
	if (err)
		lab_state_close(st);
	return err;
}

int lab_state_create(struct lab_state *st)
{
	int err = 0;

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	if (mkdir(LAB_STATE_DIR, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("lab: creating %s: %s", LAB_STATE_DIR, strerror(-err));
		return err;
	}
	/* A colliding id (or a racing lab) just draws again. */
	for (int tries = 0; tries < 16; tries++) {
		err = new_id(st->id);
		if (!err)
			err = state_path(st->id, st->path, sizeof(st->path));
		if (!err)
			err = create_locked(st);
		if (err != -EEXIST)
			break;
	}
	if (err) {
		log_error("lab: creating a state file in %s: %s", LAB_STATE_DIR, strerror(-err));
		return err;
	}
	err = lab_state_record(st, "id %s", st->id);
	if (!err)
		err = lab_state_record(st, "pid %d", (int)getpid());
	return err;
}

int lab_state_record(struct lab_state *st, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, err = 0;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1) {
		log_error("lab: state line too long");
		return -ENAMETOOLONG;
	}
	line[n++] = '\n';
	if (write(st->fd, line, (size_t)n) != n) {
		err = errno ? -errno : -EIO;
		log_error("lab: writing %s: %s", st->path, strerror(-err));
	}
	return err;
}

void lab_state_close(struct lab_state *st)
{
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
}

int lab_state_keep(struct lab_state *st)
{
	int err = lab_state_record(st, "kept");

	lab_state_close(st);
	return err;
}

/* The file's text, NUL-terminated, malloc'd. */
static char *read_all(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	while (buf) {
		if (len + 1 >= cap) {
			char *nb = cap < STATE_MAX_BYTES ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		n = pread(fd, buf + len, cap - len - 1, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

static bool valid_netns(const char *name)
{
	return !strncmp(name, LAB_NETNS_PREFIX, strlen(LAB_NETNS_PREFIX)) && !strchr(name, '/') &&
	       strlen(name) < LAB_NAME_MAX;
}

static bool valid_pin_dir(const char *dir)
{
	return !strncmp(dir, LAB_PIN_PREFIX, strlen(LAB_PIN_PREFIX)) &&
	       !strchr(dir + strlen(LAB_PIN_PREFIX), '/') && !strstr(dir, "..");
}

/* A worker of a kept lab: killed only while it still lives in its
 * namespace (a pid reused by something else is left alone). */
static void kill_worker(const char *args)
{
	char netns[LAB_NAME_MAX];
	unsigned long ino;
	int pid;

	if (sscanf(args, "%d %127s", &pid, netns) != 2 || pid <= 1 || !valid_netns(netns))
		return;
	ino = lab_netns_inode(netns);
	if (ino && lab_netns_inode_of(pid) == ino)
		kill(pid, SIGKILL);
}

/* Runs one kind of line through fn, in file order. */
static void each_line(char *text, const char *kind, void (*fn)(const char *, void *), void *arg)
{
	size_t klen = strlen(kind);

	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (!strncmp(line, kind, klen) && line[klen] == ' ')
			fn(line + klen + 1, arg);
		if (nl)
			*nl = '\n';
		line = nl ? nl + 1 : NULL;
	}
}

static void worker_fn(const char *args, void *arg)
{
	(void)arg;
	kill_worker(args);
}

/* Waits (bounded) until a killed worker is gone, so that a new worker can
 * bind its listeners' addresses. */
static void worker_wait_fn(const char *args, void *arg)
{
	int64_t deadline = *(int64_t *)arg;
	char netns[LAB_NAME_MAX];
	unsigned long ino;
	int pid;

	if (sscanf(args, "%d %127s", &pid, netns) != 2 || pid <= 1 || !valid_netns(netns))
		return;
	ino = lab_netns_inode(netns);
	while (ino && lab_netns_inode_of(pid) == ino && lab_now_ms() < deadline)
		poll(NULL, 0, 10);
}

/* "agent PID PIN_DIR": the agent of a cluster-mode lab, stopped (TERM, then
 * KILL) only while its command line still names the lab's pin directory. */
static void agent_fn(const char *args, void *arg)
{
	char pin[256];
	int *err = arg, pid, ret;

	if (sscanf(args, "%d %255s", &pid, pin) != 2 || pid <= 1 || !valid_pin_dir(pin) ||
	    !lab_agent_is(pid, pin))
		return;
	ret = lab_agent_stop(pid, LAB_AGENT_STOP_MS);
	if (ret && !*err)
		*err = ret;
}

/* "file PATH": a file of the lab's in the state directory (the agent's state
 * file and log, the cluster-mode settings). */
static void file_fn(const char *path, void *arg)
{
	size_t dlen = strlen(LAB_STATE_DIR);
	char tmp[600];

	(void)arg;
	if (strncmp(path, LAB_STATE_DIR "/", dlen + 1) || strchr(path + dlen + 1, '/'))
		return;
	unlink(path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
}

/* "cni DIR NODE_NETNS" (--cni): DEL of every pod the CNI cache holds, run
 * in the node namespace, while the namespaces still exist; then DIR. */
static void cni_fn(const char *args, void *arg)
{
	char dir[256], netns[LAB_NAME_MAX];
	int *err = arg, ret;

	if (sscanf(args, "%255s %127s", dir, netns) != 2 || !valid_netns(netns))
		return;
	ret = lab_cni_teardown(dir, netns);
	if (ret && !*err)
		*err = ret;
}

static void netns_fn(const char *name, void *arg)
{
	if (valid_netns(name) && lab_netns_exists(name))
		lab_batch_add(arg, "netns del %s", name);
}

static void pin_fn(const char *dir, void *arg)
{
	int *err = arg, ret;

	if (!valid_pin_dir(dir))
		return;
	ret = pinned_remove_dir(dir);
	if (ret && !*err)
		*err = ret;
}

/* Removes what text lists: workers, then namespaces (their veths and our
 * TC filters go with them), then the pins. */
static int teardown_text(char *text)
{
	struct lab_batch b;
	int err, pin_err = 0, agent_err = 0, cni_err = 0;

	each_line(text, "worker", worker_fn, NULL);
	/* The agent before its namespace and pins go, so it cannot write them
	 * again. */
	each_line(text, "agent", agent_fn, &agent_err);
	each_line(text, "cni", cni_fn, &cni_err);
	lab_batch_init(&b);
	each_line(text, "netns", netns_fn, &b);
	err = lab_batch_run(&b, NULL, true, "removing network namespaces");
	lab_batch_free(&b);
	each_line(text, "pin", pin_fn, &pin_err);
	each_line(text, "file", file_fn, NULL);
	return err ? err : pin_err ? pin_err : agent_err ? agent_err : cni_err;
}

static int teardown_fd(int fd, const char *path)
{
	char *text = read_all(fd);
	int err;

	if (!text) {
		log_error("lab: reading %s: %s", path, strerror(errno ? errno : ENOMEM));
		return -EIO;
	}
	err = teardown_text(text);
	free(text);
	if (!err && unlink(path) && errno != ENOENT) {
		err = -errno;
		log_error("lab: removing %s: %s", path, strerror(-err));
	}
	return err;
}

int lab_state_teardown(struct lab_state *st)
{
	int err;

	if (st->fd < 0)
		return 0;
	err = teardown_fd(st->fd, st->path);
	lab_state_close(st);
	return err;
}

static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = text; p && *p;) {
		if (!strncmp(p, line, len) && (p[len] == '\n' || p[len] == '\0'))
			return true;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return false;
}

/* Calls fn for every state file, open, with mine true when this process got
 * its lock (nobody else holds it: a kept or crashed lab); the first error
 * fn returns is returned. */
static int each_file(int (*fn)(int fd, bool mine, const char *path, const char *id, void *),
		     void *arg)
{
	DIR *d = opendir(LAB_STATE_DIR);
	struct dirent *e;
	int err = 0, ret;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), slen = strlen(STATE_SUFFIX);
		char path[512], id[LAB_ID_LEN + 1];
		int fd;

		if (len != LAB_ID_LEN + slen || strcmp(e->d_name + LAB_ID_LEN, STATE_SUFFIX))
			continue;
		memcpy(id, e->d_name, LAB_ID_LEN);
		id[LAB_ID_LEN] = '\0';
		snprintf(path, sizeof(path), "%s/%s", LAB_STATE_DIR, e->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		ret = fn(fd, !flock(fd, LOCK_EX | LOCK_NB), path, id, arg);
		if (ret && !err)
			err = ret;
		close(fd);
	}
	closedir(d);
	return err;
}

static int stale_fn(int fd, bool mine, const char *path, const char *id, void *arg)
{
	char *text;
	int err;

	(void)arg;
	if (!mine)
		return 0;
	text = read_all(fd);
	if (!text)
		return -ENOMEM;
	if (has_line(text, "kept")) {
		free(text);
		return 0;
	}
	log_warn("lab: removing the leftovers of lab %s, which did not exit cleanly", id);
	free(text);
	err = teardown_fd(fd, path);
	return err;
}

int lab_state_clean_stale(void)
{
	return each_file(stale_fn, NULL);
}

struct down_ctx {
	char *const *ids;
	size_t n_ids;
	struct lab_down_result *v;
	size_t n, cap;
};

static bool wanted(const struct down_ctx *x, const char *id)
{
	for (size_t i = 0; i < x->n_ids; i++) {
		if (!strcmp(x->ids[i], id))
			return true;
	}
	return !x->n_ids;
}

static int down_fn(int fd, bool mine, const char *path, const char *id, void *arg)
{
	struct down_ctx *x = arg;
	struct lab_down_result *r;
	char *text, *pid;

	if (!wanted(x, id))
		return 0;
	r = VEC_PUSH(x->v, x->n, x->cap);
	if (!r)
		return -ENOMEM;
	snprintf(r->id, sizeof(r->id), "%s", id);
	text = read_all(fd);
	if (!text)
		return -ENOMEM;
	r->kept = has_line(text, "kept");
	r->running = !mine;
	pid = strstr(text, "\npid ");
	r->pid = pid ? (pid_t)atoi(pid + 5) : 0;
	free(text);
	if (r->running)
		return 0;
	r->err = teardown_fd(fd, path);
	return r->err;
}

int lab_state_down(char *const *ids, size_t n_ids, struct lab_down_result **out, size_t *n)
{
	struct down_ctx x = { .ids = ids, .n_ids = n_ids };
	int err = each_file(down_fn, &x);

	*out = x.v;
	*n = x.n;
	return err;
}

int lab_state_open_kept(const char *id, struct lab_state *st, char **text)
{
	bool ok = strlen(id) == LAB_ID_LEN;
	int err;

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	*text = NULL;
	for (size_t i = 0; ok && i < LAB_ID_LEN; i++)
		ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
	if (!ok) {
		log_error("lab: '%s' is no lab id (%d hex digits, as 'npbpf lab --keep' prints "
			  "it)",
			  id, LAB_ID_LEN);
		return -EINVAL;
	}
	snprintf(st->id, sizeof(st->id), "%s", id);
	state_path(id, st->path, sizeof(st->path));
	st->fd = open(st->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (st->fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			log_error("lab: no lab %s (%s does not exist)", id, st->path);
		else
			log_error("lab: opening %s: %s", st->path, strerror(-err));
		return err;
	}
	if (flock(st->fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		log_error("lab: lab %s is in use (a run or a probe holds it)", id);
		lab_state_close(st);
		return err;
	}
	*text = read_all(st->fd);
	if (!*text) {
		lab_state_close(st);
		return -ENOMEM;
	}
	if (!has_line(*text, "kept")) {
		log_error("lab: lab %s was not kept (it crashed); remove it with 'npbpf lab down "
			  "%s'",
			  id, id);
		free(*text);
		*text = NULL;
		lab_state_close(st);
		return -EINVAL;
	}
	return 0;
}

void lab_state_stop_workers(char *text)
{
	int64_t deadline = lab_now_ms() + 5000;

	each_line(text, "worker", worker_fn, NULL);
	each_line(text, "worker", worker_wait_fn, &deadline);
}
