/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The servers probes talk to, inside a pod (or the external host): on each
 * address and port a probe will reach, a TCP (or SCTP) listener that accepts
 * and closes, or a UDP socket that echoes every datagram to its sender.
 */
#ifndef NPBPF_LAB_LISTEN_H
#define NPBPF_LAB_LISTEN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct lab_listen_spec {
	struct np_addr addr;
	uint16_t port;
	uint8_t proto;
};

struct lab_listeners {
	int *fds;
	uint8_t *protos;
	size_t n;
};

/* Opens one nonblocking server socket per spec. 0 or -errno (logged, with
 * the address); on error nothing stays open. */
int lab_listen_open(struct lab_listeners *ls, const struct lab_listen_spec *specs, size_t n);
void lab_listen_close(struct lab_listeners *ls);

/* Serves listener i, which poll() found readable: accepts and closes every
 * pending connection, or echoes every pending datagram. */
void lab_listen_serve(const struct lab_listeners *ls, size_t i);

#endif /* NPBPF_LAB_LISTEN_H */
