/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_listen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab_sock.h"
#include "log.h"

/* Every probe of a run may arrive at once: a backlog that never overflows
 * keeps a burst of connects from looking like drops. */
#define LISTEN_BACKLOG 4096
/* Datagrams served per wakeup, so one busy socket cannot starve the rest. */
#define ECHO_BURST 64

int lab_listen_open(struct lab_listeners *ls, const struct lab_listen_spec *specs, size_t n)
{
	char buf[64];
	int err = 0;

	memset(ls, 0, sizeof(*ls));
	ls->fds = calloc(n ? n : 1, sizeof(*ls->fds));
	ls->protos = calloc(n ? n : 1, sizeof(*ls->protos));
	if (!ls->fds || !ls->protos) {
		lab_listen_close(ls);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		int fd = lab_sock_bound(&specs[i].addr, specs[i].port, specs[i].proto);

		if (fd >= 0 && lab_sock_is_stream(specs[i].proto) && listen(fd, LISTEN_BACKLOG)) {
			err = -errno;
			close(fd);
			fd = err;
		}
		if (fd < 0) {
			err = fd;
			log_error("lab: listening on %s port %u/%s: %s",
				  addr_format(&specs[i].addr, buf, sizeof(buf)), specs[i].port,
				  proto_name(specs[i].proto), strerror(-err));
			lab_listen_close(ls);
			return err;
		}
		ls->fds[ls->n] = fd;
		ls->protos[ls->n++] = specs[i].proto;
	}
	return 0;
}

void lab_listen_close(struct lab_listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		close(ls->fds[i]);
	free(ls->fds);
	free(ls->protos);
	memset(ls, 0, sizeof(*ls));
}

void lab_listen_serve(const struct lab_listeners *ls, size_t i)
{
	struct sockaddr_storage peer;
	socklen_t len;
	char buf[512];
	ssize_t n;
	int fd;

	if (lab_sock_is_stream(ls->protos[i])) {
		while ((fd = accept4(ls->fds[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(fd);
		return;
	}
	for (int k = 0; k < ECHO_BURST; k++) {
		len = sizeof(peer);
		n = recvfrom(ls->fds[i], buf, sizeof(buf), 0, (struct sockaddr *)&peer, &len);
		if (n < 0)
			return;
		sendto(ls->fds[i], buf, (size_t)n, 0, (struct sockaddr *)&peer, len);
	}
}
