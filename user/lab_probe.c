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

/* A UDP probe is sent this many times, evenly spread over its timeout. */
#define UDP_SENDS 3

struct lab_inflight {
	int fd;           /* -1 once finished, until compacted away */
	size_t probe;
	int64_t deadline; /* ms */
	int64_t resend;   /* UDP: when to send again */
	int sends;
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
		if (pr->fl[i].fd >= 0)
			close(pr->fl[i].fd);
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
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
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

static void udp_send(struct lab_prober *pr, struct lab_inflight *f)
{
	struct token t;

	token_of(f->probe, &t);
	/* A lost or failed send is what the resends are for. */
	if (send(f->fd, &t, sizeof(t), 0) < 0 && errno == ECONNREFUSED)
		refused(pr, f);
	f->sends++;
	f->resend += pr->timeout_ms / UDP_SENDS;
}

static void start(struct lab_prober *pr, int64_t now)
{
	struct lab_inflight *f = &pr->fl[pr->n_fl++];
	const struct lab_probe *p = &pr->probes[pr->next];
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64];

	memset(f, 0, sizeof(*f));
	f->probe = pr->next++;
	f->deadline = now + pr->timeout_ms;
	f->resend = now;
	f->fd = lab_sock_bound(&p->src, 0, p->proto);
	if (f->fd < 0) {
		pr->errors++;
		log_warn("lab: probe from %s: %s", addr_format(&p->src, buf, sizeof(buf)),
			 strerror(-f->fd));
		f->fd = -1;
		finish(pr, f, false);
		return;
	}
	lab_sock_addr(&p->dst, p->port, &ss, &len);
	if (!connect(f->fd, (struct sockaddr *)&ss, len)) {
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

static void compact(struct lab_prober *pr)
{
	size_t k = 0;

	for (size_t i = 0; i < pr->n_fl; i++) {
		if (pr->fl[i].fd >= 0)
			pr->fl[k++] = pr->fl[i];
	}
	pr->n_fl = k;
}

int lab_prober_step(struct lab_prober *pr, int64_t now)
{
	int64_t wake = -1;

	for (size_t i = 0; i < pr->n_fl; i++) {
		struct lab_inflight *f = &pr->fl[i];

		if (f->fd >= 0 && now >= f->deadline)
			finish(pr, f, false);
		else if (f->fd >= 0 && !lab_sock_is_stream(pr->probes[f->probe].proto) &&
			 f->sends < UDP_SENDS && now >= f->resend)
			udp_send(pr, f);
	}
	compact(pr);
	while (pr->n_fl < pr->max_fl && pr->next < pr->n) {
		start(pr, now);
		compact(pr);
	}
	for (size_t i = 0; i < pr->n_fl; i++) {
		const struct lab_inflight *f = &pr->fl[i];
		int64_t t = f->deadline;

		if (!lab_sock_is_stream(pr->probes[f->probe].proto) && f->sends < UDP_SENDS &&
		    f->resend < t)
			t = f->resend;
		if (wake < 0 || t < wake)
			wake = t;
	}
	return wake < 0 ? -1 : (int)(wake > now ? wake - now : 0);
}

size_t lab_prober_pollfds(const struct lab_prober *pr, struct pollfd *pfd)
{
	for (size_t i = 0; i < pr->n_fl; i++) {
		pfd[i].fd = pr->fl[i].fd;
		pfd[i].events = lab_sock_is_stream(pr->probes[pr->fl[i].probe].proto) ? POLLOUT
										       : POLLIN;
		pfd[i].revents = 0;
	}
	return pr->n_fl;
}

static void stream_event(struct lab_prober *pr, struct lab_inflight *f)
{
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
		soerr = errno;
	if (soerr == ECONNREFUSED)
		refused(pr, f);
	else
		finish(pr, f, soerr == 0);
}

static void udp_event(struct lab_prober *pr, struct lab_inflight *f)
{
	struct token want, got;
	ssize_t n;

	token_of(f->probe, &want);
	while ((n = recv(f->fd, &got, sizeof(got), 0)) >= 0 || errno == ECONNREFUSED) {
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
	for (size_t i = 0; i < n && i < pr->n_fl; i++) {
		struct lab_inflight *f = &pr->fl[i];

		if (!pfd[i].revents || f->fd < 0)
			continue;
		if (lab_sock_is_stream(pr->probes[f->probe].proto))
			stream_event(pr, f);
		else
			udp_event(pr, f);
	}
	compact(pr);
}

bool lab_prober_done(const struct lab_prober *pr)
{
	return pr->n_done == pr->n;
}
