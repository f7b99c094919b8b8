/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's HTTP endpoints (libmicrohttpd, its own thread): /metrics,
 * /healthz and /readyz. Anything else is 404; any method but GET/HEAD 405.
 */
#ifndef NPBPF_HTTP_SERVER_H
#define NPBPF_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct http_server;

struct http_handlers {
	/* /metrics: the body, malloc'd (the server frees it). 0 or -errno (500). */
	int (*metrics)(void *ctx, char **body, size_t *len);
	/* /healthz and /readyz: true for 200 "ok", false for 503 with why. */
	bool (*healthy)(void *ctx, char *why, size_t len);
	bool (*ready)(void *ctx, char *why, size_t len);
	void *ctx;
};

/* listen: "127.0.0.1:9962", "[::1]:9962", "0.0.0.0:9962", ":9962" (all
 * addresses). 0 or -errno (logged: -EADDRINUSE, -EINVAL for a bad address). */
int http_server_start(const char *listen, const struct http_handlers *h, struct http_server **out);
void http_server_stop(struct http_server *s);

#endif /* NPBPF_HTTP_SERVER_H */
