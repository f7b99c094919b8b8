/* SPDX-License-Identifier: Apache-2.0 */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_TEXT "text/plain; charset=utf-8"

struct http_server {
	struct MHD_Daemon *d;
	struct http_handlers h;
	int port;
};

static int parse_port(const char *s, in_port_t *out)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*out = htons((in_port_t)v);
	return 0;
}

int http_server_parse_listen(const char *addr, struct sockaddr_storage *ss, bool *all)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *end;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	*all = false;
	if (!addr)
		return -EINVAL;
	if (addr[0] == '[') {
		end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		n = (size_t)(end - addr - 1);
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr + 1, n);
		host[n] = '\0';
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		return parse_port(end + 2, &sin6->sin6_port);
	}
	colon = strchr(addr, ':');
	/* An IPv6 address must be bracketed: "::1:9962" is ambiguous. */
	if (!colon || strchr(colon + 1, ':'))
		return -EINVAL;
	if (colon == addr) {
		*all = true;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		return parse_port(colon + 1, &sin6->sin6_port);
	}
	n = (size_t)(colon - addr);
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, n);
	host[n] = '\0';
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	return parse_port(colon + 1, &sin->sin_port);
}

/* Our own listening socket, so that we choose the address family, turn off
 * IPV6_V6ONLY for ":PORT" and can read back the port picked for port 0. */
static int open_listener(const char *addr, int *fd_out, int *port_out)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	bool all;
	int fd, one = 1, zero = 0, err;

	err = http_server_parse_listen(addr, &ss, &all);
	if (err) {
		log_error("--listen %s: not ADDR:PORT, [ADDR6]:PORT or :PORT with a numeric address",
			  addr ? addr : "(null)");
		return err;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && all && errno == EAFNOSUPPORT) {
		/* No IPv6 in this kernel: all addresses are the IPv4 ones. */
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		in_port_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;

		memset(&ss, 0, sizeof(ss));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = port;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		err = -errno;
		log_error("http socket: %s", strerror(-err));
		return err;
	}
	/* A restarted agent rebinds at once despite connections in TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, all ? &zero : &one, sizeof(int));
	slen = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (bind(fd, (struct sockaddr *)&ss, slen) || listen(fd, 64)) {
		err = -errno;
		log_error("http: listening on %s: %s", addr, strerror(-err));
		close(fd);
		return err;
	}
	slen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &slen)) {
		err = -errno;
		close(fd);
		return err;
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						    : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return 0;
}

/* libmicrohttpd's own messages (a client that reset, a timeout) are about
 * clients, not the agent: debug level. Its lines end with '\n'; ours add
 * one. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("http: %s", buf);
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
			       const char *type)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO; /* no memory: MHD closes the connection */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	/* Probes and scrapes want the state now, never a cached copy. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);

	return respond(c, status, r, CT_TEXT);
}

static enum MHD_Result serve_check(struct MHD_Connection *c, const struct http_handlers *h,
				   bool (*check)(void *, char *, size_t))
{
	char why[512] = "";
	char body[sizeof(why) + 2];
	size_t n;

	if (!check || check(h->ctx, why, sizeof(why) - 1))
		return respond_text(c, MHD_HTTP_OK, "ok\n");
	why[sizeof(why) - 1] = '\0';
	/* One line, whether or not the handler ended why with a newline. */
	n = strlen(why);
	while (n && (why[n - 1] == '\n' || why[n - 1] == '\r'))
		why[--n] = '\0';
	snprintf(body, sizeof(body), "%s\n", why[0] ? why : "not ok");
	return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c, const struct http_handlers *h)
{
	struct MHD_Response *r;
	char *body = NULL;
	size_t len = 0;
	int err;

	if (!h->metrics)
		return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	err = h->metrics(h->ctx, &body, &len);
	if (err) {
		char msg[128];

		free(body);
		log_warn("/metrics: %s", strerror(-err));
		snprintf(msg, sizeof(msg), "rendering metrics: %s\n", strerror(-err));
		return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
	r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!r)
		free(body);
	return respond(c, MHD_HTTP_OK, r, CT_METRICS);
}

/*
 * Answers on the first call, before any request body is read: no endpoint
 * takes one, and a body sent anyway (a POST answered 405) is discarded by
 * libmicrohttpd, which then closes the connection.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	const struct http_server *s = cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	/* url is the path without the query string. HEAD gets the headers of
	 * GET and no body (libmicrohttpd leaves it out). */
	if (!strcmp(url, "/metrics"))
		return serve_metrics(c, &s->h);
	if (!strcmp(url, "/healthz"))
		return serve_check(c, &s->h, s->h.healthy);
	if (!strcmp(url, "/readyz"))
		return serve_check(c, &s->h, s->h.ready);
	return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

int http_server_start(const char *listen_addr, const struct http_handlers *h,
		      struct http_server **out)
{
	struct http_server *s;
	int fd = -1, err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (h)
		s->h = *h;
	err = open_listener(listen_addr, &fd, &s->port);
	if (err) {
		free(s);
		return err;
	}
	/* One internal thread, epoll, non-blocking I/O: a client that stalls
	 * mid-request costs a slot until the timeout, not the thread. */
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
				0, NULL, NULL, handle, s,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_SERVER_MAX_CONNS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_SERVER_MAX_CONNS_PER_IP,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_SERVER_TIMEOUT_S,
				MHD_OPTION_END);
	if (!s->d) {
		log_error("http: cannot start the server on %s", listen_addr);
		close(fd);
		free(s);
		return -EIO;
	}
	log_debug("http: listening on %s (port %d)", listen_addr, s->port);
	*out = s;
	return 0;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	/* Joins the thread and closes the listening socket it was given. */
	MHD_stop_daemon(s->d);
	free(s);
}
