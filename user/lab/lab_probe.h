/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Probes: many at once from one namespace, each bounded in time. A TCP (or
 * SCTP) probe is a nonblocking connect: established = allowed; a second
 * connect starts half a timeout later in case a packet of the first was
 * lost. A UDP probe sends a token to an echo server and is allowed when the
 * token comes back; the datagram is sent again twice within the timeout.
 * Either way a probe ends by its deadline, and no more than max_inflight
 * probes (LAB_PROBE_FDS sockets each at most) are open at a time.
 *
 * The prober does no I/O waiting of its own: the worker's poll loop asks it
 * for its descriptors and the time of its next deadline, so the same loop
 * also serves the namespace's listeners.
 */
#ifndef NPBPF_LAB_PROBE_H
#define NPBPF_LAB_PROBE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct lab_probe {
	struct np_addr src, dst;
	uint16_t port;
	uint8_t proto;
	uint8_t allowed; /* the outcome: 1 allowed, 0 not */
	uint32_t cell;   /* the caller's bookkeeping */
};

struct lab_inflight;

struct lab_prober {
	struct lab_probe *probes;
	size_t n, next, n_done;
	int timeout_ms;
	struct lab_inflight *fl;
	size_t n_fl, max_fl;
	uint32_t refused; /* refused: reached, but nothing listened (a lab bug) */
	uint32_t errors;  /* could not even be sent (counted as not allowed) */
};

/* 0 or -ENOMEM. probes stay the caller's and receive the outcomes. */
int lab_prober_init(struct lab_prober *pr, struct lab_probe *probes, size_t n, int timeout_ms,
		    size_t max_inflight);
void lab_prober_free(struct lab_prober *pr);

/* Starts probes up to the in-flight limit and ends those past their
 * deadline at now (ms, monotonic). Returns how long poll may sleep (ms),
 * -1 when nothing is in flight. */
int lab_prober_step(struct lab_prober *pr, int64_t now);
#define LAB_PROBE_FDS 2

/* LAB_PROBE_FDS pollfds per probe in flight (fd -1 where unused), into pfd
 * (room for LAB_PROBE_FDS * max_inflight). */
size_t lab_prober_pollfds(const struct lab_prober *pr, struct pollfd *pfd);
/* Handles what poll reported on the n pollfds lab_prober_pollfds gave. */
void lab_prober_events(struct lab_prober *pr, const struct pollfd *pfd, size_t n);
bool lab_prober_done(const struct lab_prober *pr);

/* Monotonic milliseconds. */
int64_t lab_now_ms(void);

#endif /* NPBPF_LAB_PROBE_H */
