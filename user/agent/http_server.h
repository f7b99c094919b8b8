/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's HTTP endpoints (libmicrohttpd, its own thread): /metrics,
 * /healthz and /readyz. Anything else is 404; any method but GET/HEAD 405.
 *
 * One internal thread serves every connection with non-blocking I/O, so a
 * slow or stalled client holds a connection slot, never the thread; slots
 * are limited (HTTP_SERVER_MAX_CONNS, fewer per client address) and an idle
 * connection is closed after HTTP_SERVER_TIMEOUT_S.
 */
#ifndef NPBPF_HTTP_SERVER_H
#define NPBPF_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_SERVER_MAX_CONNS 32u
#define HTTP_SERVER_MAX_CONNS_PER_IP 8u
#define HTTP_SERVER_TIMEOUT_S 10u

struct http_server;

/*
 * Called from the server's thread, possibly while the agent's own threads
 * run: they must be thread-safe (metrics_render is). A NULL healthy or
 * ready always answers 200 "ok"; a NULL metrics answers 404.
 */
struct http_handlers {
	/* /metrics: the body, malloc'd (the server frees it). 0 or -errno (500). */
	int (*metrics)(void *ctx, char **body, size_t *len);
	/* /healthz and /readyz: true for 200 "ok", false for 503 with why. */
	bool (*healthy)(void *ctx, char *why, size_t len);
	bool (*ready)(void *ctx, char *why, size_t len);
	void *ctx;
};

/* listen: "127.0.0.1:9962", "[::1]:9962", "0.0.0.0:9962", ":9962" (all
 * addresses, IPv6 and IPv4; IPv4 only when the kernel has no IPv6). Numeric
 * addresses only; port 0 picks a free port (http_server_port says which).
 * The server thread inherits the caller's signal mask: block the agent's
 * signals first. 0 or -errno (logged: -EADDRINUSE, -EINVAL for a bad
 * address). h is copied. */
int http_server_start(const char *listen_addr, const struct http_handlers *h, struct http_server **out);
/* The port it listens on (the one picked for port 0). */
int http_server_port(const struct http_server *s);
/* Stops the thread, closes every connection and the socket. NULL is fine. */
void http_server_stop(struct http_server *s);

/* Parses a listen address as http_server_start does, into a sockaddr_in or
 * sockaddr_in6 (*all: ":PORT", the IPv6 wildcard). 0 or -EINVAL. Exposed
 * for the agent's flag check and the tests. */
struct sockaddr_storage;
int http_server_parse_listen(const char *addr, struct sockaddr_storage *ss, bool *all);

#endif /* NPBPF_HTTP_SERVER_H */
