/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

void lab_sock_addr(const struct np_addr *addr, uint16_t port, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (addr->family == 6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, addr->bytes, 16);
		*len = sizeof(*s6);
		return;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	memcpy(&s4->sin_addr, addr->bytes, 4);
	*len = sizeof(*s4);
}

bool lab_sock_is_stream(uint8_t proto)
{
	return proto != IPPROTO_UDP;
}

int lab_sock_bound(const struct np_addr *addr, uint16_t port, uint8_t proto)
{
	int af = addr->family == 6 ? AF_INET6 : AF_INET, one = 1, fd, err;
	int type = lab_sock_is_stream(proto) ? SOCK_STREAM : SOCK_DGRAM;
	struct sockaddr_storage ss;
	socklen_t len;

	fd = socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return -errno;
	/* Freebind: an address still being configured is not an error. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (af == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
	} else {
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	}
	lab_sock_addr(addr, port, &ss, &len);
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
