/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab_ip.h"
#include "lab_signal.h"
#include "log.h"

/* Sockets one worker keeps in flight; more probes wait for a free slot. */
#define MAX_INFLIGHT 512
/* Worker descriptors after the fork: everything else is closed. */
#define FD_CTL 3
#define FD_REP 4
/* Namespaces, listeners: setting up a worker takes milliseconds. */
#define READY_TIMEOUT_MS 10000
/* Slack for a worker to report after its last probe's deadline. */
#define REPORT_SLACK_MS 5000

#define MSG_READY 'R'
#define MSG_ERROR 'E'
#define MSG_GO 'g'
#define MSG_KEEP 'k'

/* ---- The worker process. */

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

__attribute__((noreturn)) static void worker_fail(int err)
{
	uint8_t msg[1 + sizeof(int)];

	msg[0] = MSG_ERROR;
	memcpy(msg + 1, &err, sizeof(err));
	write_all(FD_REP, msg, sizeof(msg));
	_exit(1);
}

/* Only the worker's own pipes stay open: a worker holding another's
 * control pipe would keep it from ever seeing EOF, and one holding the
 * state file's lock would make a kept lab look running. */
static void worker_fds(int ctl, int rep)
{
	if (rep == FD_CTL)
		rep = dup(rep);
	if (ctl != FD_CTL)
		dup2(ctl, FD_CTL);
	if (rep != FD_REP)
		dup2(rep, FD_REP);
	close_range(FD_REP + 1, ~0u, 0);
}

static size_t raise_fd_limit(size_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 256;
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

static void detach(void)
{
	int fd = open("/dev/null", O_RDWR);

	setsid();
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

struct worker_loop {
	struct lab_worker *w;
	struct lab_listeners ls;
	struct lab_prober pr;
	struct pollfd *pfd;
	bool probing, reported, keep, ctl_open;
};

static void report(struct worker_loop *x)
{
	struct lab_worker *w = x->w;

	for (size_t i = 0; i < w->n_probes; i++)
		w->report[i] = w->probes[i].allowed;
	memcpy(w->report + w->n_probes, &x->pr.refused, sizeof(uint32_t));
	write_all(FD_REP, w->report, w->n_probes + sizeof(uint32_t));
	lab_prober_free(&x->pr);
	x->reported = true;
	close(FD_REP);
}

/* Returns false when the worker should exit. */
static bool control(struct worker_loop *x)
{
	char c;
	ssize_t n = read(FD_CTL, &c, 1);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0) {
		x->ctl_open = false;
		return x->keep;
	}
	if (c == MSG_GO)
		x->probing = true;
	if (c == MSG_KEEP) {
		x->keep = true;
		detach();
	}
	return true;
}

__attribute__((noreturn)) static void worker_loop(struct worker_loop *x)
{
	for (;;) {
		int wait = -1, ready;
		size_t n = 0, n_ls, n_pr = 0;

		if (x->probing && !x->reported) {
			wait = lab_prober_step(&x->pr, lab_now_ms());
			if (lab_prober_done(&x->pr)) {
				report(x);
				continue;
			}
		}
		if (x->ctl_open)
			x->pfd[n++] = (struct pollfd){ .fd = FD_CTL, .events = POLLIN };
		for (size_t i = 0; i < x->ls.n; i++)
			x->pfd[n++] = (struct pollfd){ .fd = x->ls.fds[i], .events = POLLIN };
		n_ls = n;
		if (x->probing && !x->reported)
			n_pr = lab_prober_pollfds(&x->pr, x->pfd + n);
		ready = poll(x->pfd, n + n_pr, wait);
		if (ready <= 0)
			continue;
		if (x->ctl_open && x->pfd[0].revents && !control(x))
			_exit(0);
		for (size_t i = n_ls - x->ls.n; i < n_ls; i++) {
			if (x->pfd[i].revents)
				lab_listen_serve(&x->ls, i - (n_ls - x->ls.n));
		}
		if (n_pr)
			lab_prober_events(&x->pr, x->pfd + n_ls, n_pr);
	}
}

__attribute__((noreturn)) static void worker_main(struct lab_worker *w, int timeout_ms, int ctl,
						  int rep)
{
	struct worker_loop x = { .w = w, .ctl_open = true };
	size_t limit, inflight;
	int err;

	lab_signal_reset();
	worker_fds(ctl, rep);
	err = lab_netns_join(w->host->netns);
	if (err) {
		log_error("lab: joining %s: %s", w->host->netns, strerror(-err));
		worker_fail(err);
	}
	err = lab_link_wait_ready("eth0", lab_now_ms() + LAB_LINK_TIMEOUT_MS);
	if (err)
		worker_fail(err);
	limit = raise_fd_limit(LAB_PROBE_FDS * MAX_INFLIGHT + w->n_listens + 64);
	inflight = limit > w->n_listens + 64 ? (limit - w->n_listens - 64) / LAB_PROBE_FDS : 1;
	if (inflight > MAX_INFLIGHT)
		inflight = MAX_INFLIGHT;
	err = lab_listen_open(&x.ls, w->listens, w->n_listens);
	if (!err)
		err = lab_prober_init(&x.pr, w->probes, w->n_probes, timeout_ms, inflight);
	x.pfd = calloc(1 + w->n_listens + LAB_PROBE_FDS * inflight, sizeof(*x.pfd));
	if (!err && !x.pfd)
		err = -ENOMEM;
	if (err)
		worker_fail(err);
	if (write_all(FD_REP, (char[]){ MSG_READY }, 1))
		_exit(1);
	worker_loop(&x);
}

/* ---- Running the workers (parent). */

static int spawn(struct lab_workers *ws, size_t i)
{
	struct lab_worker *w = &ws->v[i];
	int ctl[2], rep[2], err;

	if (pipe2(ctl, O_CLOEXEC))
		return -errno;
	if (pipe2(rep, O_CLOEXEC)) {
		err = -errno;
		close(ctl[0]);
		close(ctl[1]);
		return err;
	}
	fflush(NULL); /* nothing buffered may be written twice */
	w->pid = fork();
	if (w->pid == 0)
		worker_main(w, ws->timeout_ms, ctl[0], rep[1]);
	err = w->pid < 0 ? -errno : 0;
	if (w->pid < 0)
		w->pid = 0;
	close(ctl[0]);
	close(rep[1]);
	if (err) {
		close(ctl[1]);
		close(rep[0]);
		return err;
	}
	w->ctl = ctl[1];
	w->rep = rep[0];
	fcntl(w->rep, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Reads what is there from w's report pipe: the ready message, or the
 * report (n_probes bytes and a u32). Returns 1 when complete, 0 when not
 * yet, -errno when the worker failed. */
static int receive(struct lab_worker *w, bool ready_phase)
{
	uint8_t msg[1 + sizeof(int)];
	size_t want = w->n_probes + sizeof(uint32_t);
	ssize_t n;
	int err;

	if (ready_phase) {
		n = read(w->rep, msg, 1);
		if (n == 1 && msg[0] == MSG_READY)
			return 1;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		err = -EIO;
		if (n == 1 && msg[0] == MSG_ERROR && read(w->rep, &err, sizeof(err)) != sizeof(err))
			err = -EIO;
		return err < 0 ? err : -EIO;
	}
	n = read(w->rep, w->report + w->got, want - w->got);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	w->got += (size_t)n;
	return w->got == want;
}

/* Polls the report pipes until every worker completed the phase or the
 * deadline passed. */
static int gather(struct lab_workers *ws, bool ready_phase, int64_t deadline)
{
	struct pollfd *pfd = calloc(ws->n ? ws->n : 1, sizeof(*pfd));
	bool *done = calloc(ws->n ? ws->n : 1, sizeof(*done));
	size_t left = ws->n;
	int err = pfd && done ? 0 : -ENOMEM;

	while (!err && left) {
		int64_t now = lab_now_ms();

		if (lab_stop_requested()) {
			err = -EINTR;
			break;
		}
		if (now >= deadline) {
			err = -ETIMEDOUT;
			break;
		}
		for (size_t i = 0; i < ws->n; i++)
			pfd[i] = (struct pollfd){ .fd = done[i] ? -1 : ws->v[i].rep, .events = POLLIN };
		if (poll(pfd, ws->n, (int)(deadline - now)) < 0) {
			if (errno != EINTR)
				err = -errno;
			continue;
		}
		for (size_t i = 0; !err && i < ws->n; i++) {
			int ret = pfd[i].revents ? receive(&ws->v[i], ready_phase) : 0;

			if (ret < 0) {
				log_error("lab: the worker in %s failed: %s", ws->v[i].host->netns,
					  strerror(-ret));
				err = ret;
			} else if (ret == 1) {
				done[i] = true;
				left--;
			}
		}
	}
	if (err == -ETIMEDOUT)
		log_error("lab: %zu of %zu workers did not %s in time", left, ws->n,
			  ready_phase ? "start" : "report");
	free(pfd);
	free(done);
	return err;
}

int lab_workers_start(struct lab_workers *ws)
{
	int err = 0;

	for (size_t i = 0; !err && i < ws->n; i++) {
		err = spawn(ws, i);
		if (err)
			log_error("lab: starting a worker for %s: %s", ws->v[i].host->netns,
				  strerror(-err));
	}
	if (!err)
		err = gather(ws, true, lab_now_ms() + READY_TIMEOUT_MS);
	for (size_t i = 0; !err && i < ws->n; i++)
		ws->v[i].ready = true;
	return err;
}

static int send_all(struct lab_workers *ws, char msg)
{
	for (size_t i = 0; i < ws->n; i++) {
		if (write_all(ws->v[i].ctl, &msg, 1)) {
			log_error("lab: the worker in %s is gone", ws->v[i].host->netns);
			return -EPIPE;
		}
	}
	return 0;
}

int lab_workers_probe(struct lab_workers *ws, struct matrix *m, uint32_t *refused)
{
	int64_t longest = 0;
	int err;

	*refused = 0;
	for (size_t i = 0; i < ws->n; i++) {
		int64_t rounds = (int64_t)(ws->v[i].n_probes + MAX_INFLIGHT - 1) / MAX_INFLIGHT;

		if (rounds * ws->timeout_ms > longest)
			longest = rounds * ws->timeout_ms;
	}
	err = send_all(ws, MSG_GO);
	if (!err)
		err = gather(ws, false, lab_now_ms() + longest + REPORT_SLACK_MS);
	for (size_t i = 0; !err && i < ws->n; i++) {
		struct lab_worker *w = &ws->v[i];
		uint32_t r;

		for (size_t k = 0; k < w->n_probes; k++)
			m->cells[w->probes[k].cell] = w->report[k] ? CELL_ALLOW : CELL_DENY;
		memcpy(&r, w->report + w->n_probes, sizeof(r));
		*refused += r;
	}
	return err;
}

int lab_workers_keep(struct lab_workers *ws, struct lab_state *st)
{
	int err = 0;

	for (size_t i = 0; !err && i < ws->n; i++)
		err = lab_state_record(st, "worker %d %s", (int)ws->v[i].pid, ws->v[i].host->netns);
	if (!err)
		err = send_all(ws, MSG_KEEP);
	if (!err)
		ws->kept = true;
	return err;
}

void lab_workers_free(struct lab_workers *ws)
{
	for (size_t i = 0; ws->v && i < ws->n; i++) {
		struct lab_worker *w = &ws->v[i];

		if (w->ctl >= 0)
			close(w->ctl);
		if (w->rep >= 0)
			close(w->rep);
		/* Workers hold nothing worth a graceful exit. */
		if (w->pid > 0 && !ws->kept) {
			kill(w->pid, SIGKILL);
			while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		free(w->listens);
		free(w->probes);
		free(w->report);
	}
	free(ws->v);
	memset(ws, 0, sizeof(*ws));
}
