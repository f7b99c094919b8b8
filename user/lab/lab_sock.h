/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sockets of the lab's listeners and probes: the model's addresses as
 * sockaddrs, and nonblocking sockets bound to one exact address, which is
 * what makes a reply come from the address a probe was sent to (the
 * external host carries several).
 */
#ifndef NPBPF_LAB_SOCK_H
#define NPBPF_LAB_SOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "model.h"

/* addr:port as a sockaddr_in or sockaddr_in6. */
void lab_sock_addr(const struct np_addr *addr, uint16_t port, struct sockaddr_storage *ss,
		   socklen_t *len);

/* TCP and SCTP: connection probes; UDP: echo probes. */
bool lab_sock_is_stream(uint8_t proto);

/* A nonblocking socket of proto bound to addr:port (port 0: any). Returns
 * the fd or -errno (not logged: the caller knows what it was for). */
int lab_sock_bound(const struct np_addr *addr, uint16_t port, uint8_t proto);

#endif /* NPBPF_LAB_SOCK_H */
