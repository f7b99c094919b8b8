/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lab_sock.h"
#include "log.h"

/* A UDP probe is sent this many times, a TCP probe connects this many
 * times (a fresh socket each), evenly spread over the timeout: one lost
 * packet (a neighbour entry still resolving) must not read as a deny. */
#define UDP_SENDS 3
#define STREAM_CONNECTS LAB_PROBE_FDS

struct lab_inflight {
	int fd[STREAM_CONNECTS]; /* UDP uses fd[0]; all -1 once finished */
	size_t probe;
	int64_t deadline; /* ms */
	int64_t again;    /* when to send (UDP) or connect (TCP) again */
	int tries;
	bool done;
};

/* What a UDP probe sends and expects back. */
struct token {
	char magic[8];
	uint32_t index;
};

int64_t lab_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lab_prober_init(struct lab_prober *pr, struct lab_probe *probes, size_t n, int timeout_ms,
		    size_t max_inflight)
{
	memset(pr, 0, sizeof(*pr));
	pr->probes = probes;
	pr->n = n;
	pr->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	pr->max_fl = max_inflight ? max_inflight : 1;
	pr->fl = calloc(pr->max_fl, sizeof(*pr->fl));
	for (size_t i = 0; i < n; i++)
		probes[i].allowed = 0;
	return pr->fl ? 0 : -ENOMEM;
}

void lab_prober_free(struct lab_prober *pr)
{
	for (size_t i = 0; pr->fl && i < pr->n_fl; i++) {
		for (int k = 0; k < STREAM_CONNECTS; k++) {
			if (pr->fl[i].fd[k] >= 0)
				close(pr->fl[i].fd[k]);
		}
	}
	free(pr->fl);
	pr->fl = NULL;
	pr->n_fl = 0;
}

static void token_of(size_t index, struct token *t)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->magic, "npbpflab", sizeof(t->magic));
	t->index = (uint32_t)index;
}

static void finish(struct lab_prober *pr, struct lab_inflight *f, bool allowed)
{
	pr->probes[f->probe].allowed = allowed;
	pr->n_done++;
	f->done = true;
	for (int i = 0; i < STREAM_CONNECTS; i++) {
		if (f->fd[i] >= 0)
			close(f->fd[i]);
		f->fd[i] = -1;
	}
}

/* A refusal means the probe got through and nothing listened: allowed by
 * the network, but the lab should have had a listener there. */
static void refused(struct lab_prober *pr, struct lab_inflight *f)
{
	char buf[64];
	const struct lab_probe *p = &pr->probes[f->probe];

	pr->refused++;
	log_debug("lab: %s port %u/%s refused", addr_format(&p->dst, buf, sizeof(buf)), p->port,
		  proto_name(p->proto));
	finish(pr, f, true);
}

static int tries_of(const struct lab_probe *p)
{
	return lab_sock_is_stream(p->proto) ? STREAM_CONNECTS : UDP_SENDS;
}

static void udp_send(struct lab_prober *pr, struct lab_inflight *f)
{
	struct token t;

	token_of(f->probe, &t);
	/* A lost or failed send is what the resends are for. */
	if (send(f->fd[0], &t, sizeof(t), 0) < 0 && errno == ECONNREFUSED)
		refused(pr, f);
}

/* The next try: a datagram on the one UDP socket, or a new connect. */
static void try_again(struct lab_prober *pr, struct lab_inflight *f)
{
	const struct lab_probe *p = &pr->probes[f->probe];
	int slot = f->tries, fd;
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64];

	f->tries++;
	f->again += pr->timeout_ms / tries_of(p);
	if (!lab_sock_is_stream(p->proto) && slot > 0) {
		udp_send(pr, f);
		return;
	}
	fd = lab_sock_bound(&p->src, 0, p->proto);
	if (fd < 0) {
		pr->errors++;
		log_warn("lab: probe from %s: %s", addr_format(&p->src, buf, sizeof(buf)),
			 strerror(-fd));
		if (slot == 0)
			finish(pr, f, false);
		return;
	}
	f->fd[slot] = fd;
	lab_sock_addr(&p->dst, p->port, &ss, &len);
	if (!connect(fd, (struct sockaddr *)&ss, len)) {
		if (lab_sock_is_stream(p->proto))
			finish(pr, f, true);
		else
			udp_send(pr, f);
		return;
	}
	if (errno == EINPROGRESS)
		return;
	if (errno == ECONNREFUSED) {
		refused(pr, f);
		return;
	}
	/* No route and the like: the lab's wiring, not the policy. */
	pr->errors++;
	log_warn("lab: probe to %s port %u/%s: %s", addr_format(&p->dst, buf, sizeof(buf)), p->port,
		 proto_name(p->proto), strerror(errno));
	finish(pr, f, false);
}

static void start(struct lab_prober *pr, int64_t now)
{
	struct lab_inflight *f = &pr->fl[pr->n_fl++];

	memset(f, 0, sizeof(*f));
	for (int i = 0; i < STREAM_CONNECTS; i++)
		f->fd[i] = -1;
	f->probe = pr->next++;
	f->deadline = now + pr->timeout_ms;
	f->again = now;
	try_again(pr, f);
}

static void compact(struct lab_prober *pr)
{
	size_t k = 0;

	for (size_t i = 0; i < pr->n_fl; i++) {
		if (!pr->fl[i].done)
			pr->fl[k++] = pr->fl[i];
	}
	pr->n_fl = k;
}

int lab_prober_step(struct lab_prober *pr, int64_t now)
{
	int64_t wake = -1;

	for (size_t i = 0; i < pr->n_fl; i++) {
		struct lab_inflight *f = &pr->fl[i];

		if (now >= f->deadline)
			finish(pr, f, false);
		else if (f->tries < tries_of(&pr->probes[f->probe]) && now >= f->again)
			try_again(pr, f);
	}
	compact(pr);
	while (pr->n_fl < pr->max_fl && pr->next < pr->n) {
		start(pr, now);
		compact(pr);
	}
	for (size_t i = 0; i < pr->n_fl; i++) {
		const struct lab_inflight *f = &pr->fl[i];
		int64_t t = f->deadline;

		if (f->tries < tries_of(&pr->probes[f->probe]) && f->again < t)
			t = f->again;
		if (wake < 0 || t < wake)
			wake = t;
	}
	return wake < 0 ? -1 : (int)(wake > now ? wake - now : 0);
}

size_t lab_prober_pollfds(const struct lab_prober *pr, struct pollfd *pfd)
{
	size_t n = 0;

	for (size_t i = 0; i < pr->n_fl; i++) {
		short ev = lab_sock_is_stream(pr->probes[pr->fl[i].probe].proto) ? POLLOUT : POLLIN;

		for (int k = 0; k < STREAM_CONNECTS; k++)
			pfd[n++] = (struct pollfd){ .fd = pr->fl[i].fd[k], .events = ev };
	}
	return n;
}

static void stream_event(struct lab_prober *pr, struct lab_inflight *f, int slot)
{
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (getsockopt(f->fd[slot], SOL_SOCKET, SO_ERROR, &soerr, &len))
		soerr = errno;
	if (soerr == 0) {
		finish(pr, f, true);
	} else if (soerr == ECONNREFUSED) {
		refused(pr, f);
	} else {
		/* This try failed; another may still get through. */
		close(f->fd[slot]);
		f->fd[slot] = -1;
	}
}

static void udp_event(struct lab_prober *pr, struct lab_inflight *f)
{
	struct token want, got;
	ssize_t n;

	token_of(f->probe, &want);
	while ((n = recv(f->fd[0], &got, sizeof(got), 0)) >= 0 || errno == ECONNREFUSED) {
		if (n < 0) {
			refused(pr, f);
			return;
		}
		if ((size_t)n == sizeof(got) && !memcmp(&got, &want, sizeof(got))) {
			finish(pr, f, true);
			return;
		}
	}
}

void lab_prober_events(struct lab_prober *pr, const struct pollfd *pfd, size_t n)
{
	for (size_t j = 0; j < n && j / STREAM_CONNECTS < pr->n_fl; j++) {
		struct lab_inflight *f = &pr->fl[j / STREAM_CONNECTS];
		int slot = (int)(j % STREAM_CONNECTS);

		if (!pfd[j].revents || f->done || pfd[j].fd < 0 || f->fd[slot] != pfd[j].fd)
			continue;
		if (lab_sock_is_stream(pr->probes[f->probe].proto))
			stream_event(pr, f, slot);
		else
			udp_event(pr, f);
	}
	compact(pr);
}

bool lab_prober_done(const struct lab_prober *pr)
{
	return pr->n_done == pr->n;
}
