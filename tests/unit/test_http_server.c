/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's HTTP endpoints, through libcurl against 127.0.0.1 on a port
 * the kernel picks. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_server.h"

struct state {
	bool healthy, ready;
	int metrics_err;
	int metrics_calls;
};

static int metrics_cb(void *ctx, char **body, size_t *len)
{
	struct state *st = ctx;

	st->metrics_calls++;
	if (st->metrics_err)
		return st->metrics_err;
	*body = strdup("# HELP x X.\n# TYPE x gauge\nx 1\n");
	*len = strlen(*body);
	return 0;
}

static bool healthy_cb(void *ctx, char *why, size_t len)
{
	struct state *st = ctx;

	if (!st->healthy)
		snprintf(why, len, "sync loop stuck for 120 s");
	return st->healthy;
}

static bool ready_cb(void *ctx, char *why, size_t len)
{
	struct state *st = ctx;

	if (!st->ready)
		snprintf(why, len, "waiting for the first sync\n"); /* newline kept once */
	return st->ready;
}

static struct state st;
static struct http_server *srv;
static int port;

static void start(const char *addr, const struct http_handlers *h)
{
	cr_assert_eq(http_server_start(addr, h, &srv), 0);
	port = http_server_port(srv);
	cr_assert_gt(port, 0);
}

static void setup(void)
{
	struct http_handlers h = {
		.metrics = metrics_cb, .healthy = healthy_cb, .ready = ready_cb, .ctx = &st
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	st = (struct state){ .healthy = true, .ready = false };
	start("127.0.0.1:0", &h);
}

static void teardown(void)
{
	http_server_stop(srv);
	srv = NULL;
	curl_global_cleanup();
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 30);

struct reply {
	long status;
	char body[4096];
	size_t len;
	char ctype[256];
	char allow[256];
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t k = sz * n;

	if (r->len + k >= sizeof(r->body))
		return 0;
	memcpy(r->body + r->len, p, k);
	r->len += k;
	r->body[r->len] = '\0';
	return k;
}

/* Copies a header's value, without its CRLF. */
static void grab(const char *line, size_t n, const char *name, char *out, size_t cap)
{
	size_t k = strlen(name);

	if (n > k && !strncasecmp(line, name, k)) {
		size_t v = n - k;

		while (v && (line[k + v - 1] == '\r' || line[k + v - 1] == '\n'))
			v--;
		if (v >= cap)
			v = cap - 1;
		memcpy(out, line + k, v);
		out[v] = '\0';
	}
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct reply *r = arg;

	grab(p, sz * n, "Content-Type: ", r->ctype, sizeof(r->ctype));
	grab(p, sz * n, "Allow: ", r->allow, sizeof(r->allow));
	return sz * n;
}

/* A request to host:port; returns the curl code. */
static CURLcode request_to(const char *host, int p, const char *method, const char *path,
			   struct reply *r)
{
	char url[256];
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://%s:%d%s", host, p, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* send "/a/../b" as it is */
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (!strcmp(method, "POST"))
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
	else if (strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	return rc;
}

static void request(const char *method, const char *path, struct reply *r)
{
	CURLcode rc = request_to("127.0.0.1", port, method, path, r);

	cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
}

Test(http, metrics)
{
	struct reply r;

	request("GET", "/metrics", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
	cr_expect_str_eq(r.body, "# HELP x X.\n# TYPE x gauge\nx 1\n");
	/* The query string is not part of the path. */
	request("GET", "/metrics?name[]=x", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_eq(st.metrics_calls, 2);
}

Test(http, head_has_headers_and_no_body)
{
	struct reply r;

	request("HEAD", "/metrics", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
	cr_expect_eq(r.len, 0);
	request("HEAD", "/healthz", &r);
	cr_expect_eq(r.status, 200);
}

Test(http, health_and_readiness)
{
	struct reply r;

	request("GET", "/healthz", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "ok\n");
	cr_expect_str_eq(r.ctype, "text/plain; charset=utf-8");
	request("GET", "/readyz", &r);
	cr_expect_eq(r.status, 503);
	cr_expect_str_eq(r.body, "waiting for the first sync\n");
	st.ready = true;
	st.healthy = false;
	request("GET", "/readyz", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "ok\n");
	request("GET", "/healthz", &r);
	cr_expect_eq(r.status, 503);
	cr_expect_str_eq(r.body, "sync loop stuck for 120 s\n");
}

Test(http, not_found_and_method_not_allowed)
{
	struct reply r;

	request("GET", "/", &r);
	cr_expect_eq(r.status, 404);
	request("GET", "/metrics/", &r);
	cr_expect_eq(r.status, 404);
	request("GET", "/healthz/../metrics", &r);
	cr_expect_eq(r.status, 404);
	request("POST", "/metrics", &r);
	cr_expect_eq(r.status, 405);
	cr_expect_str_eq(r.allow, "GET, HEAD");
	request("DELETE", "/healthz", &r);
	cr_expect_eq(r.status, 405);
	request("POST", "/nope", &r);
	cr_expect_eq(r.status, 405);
	cr_expect_eq(st.metrics_calls, 0);
}

Test(http, metrics_failure_is_500)
{
	struct reply r;

	st.metrics_err = -ENOMEM;
	request("GET", "/metrics", &r);
	cr_expect_eq(r.status, 500);
}

/* A raw connection that sent half a request and then nothing. */
static int stalled_client(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static const char half[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(write(fd, half, sizeof(half) - 1), (ssize_t)sizeof(half) - 1);
	return fd;
}

/* Slow clients hold a slot each, never the server's thread. */
Test(http, slow_clients_do_not_block)
{
	int fds[5];
	struct reply r;
	struct timespec t0, t1;

	for (int i = 0; i < 5; i++)
		fds[i] = stalled_client();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	request("GET", "/healthz", &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_expect_eq(r.status, 200);
	cr_expect_lt(t1.tv_sec - t0.tv_sec, 2);
	for (int i = 0; i < 5; i++)
		close(fds[i]);
}

/* One address gets HTTP_SERVER_MAX_CONNS_PER_IP connections; the next is
 * refused, and a slot frees when a client goes. */
Test(http, connection_limit)
{
	int fds[HTTP_SERVER_MAX_CONNS_PER_IP];
	struct reply r;
	CURLcode rc;

	for (unsigned i = 0; i < HTTP_SERVER_MAX_CONNS_PER_IP; i++)
		fds[i] = stalled_client();
	usleep(200 * 1000); /* let the server accept them all */
	rc = request_to("127.0.0.1", port, "GET", "/healthz", &r);
	cr_expect_neq(rc, CURLE_OK, "a connection over the limit was served");
	close(fds[0]);
	usleep(200 * 1000);
	request("GET", "/healthz", &r);
	cr_expect_eq(r.status, 200);
	for (unsigned i = 1; i < HTTP_SERVER_MAX_CONNS_PER_IP; i++)
		close(fds[i]);
}

Test(http, port_in_use)
{
	char addr[64];
	struct http_server *other = NULL;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	cr_expect_eq(http_server_start(addr, NULL, &other), -EADDRINUSE);
}

static bool have_ipv6(void)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok = fd >= 0 && !bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));

	if (fd >= 0)
		close(fd);
	return ok;
}

Test(http, ipv6_loopback)
{
	struct http_server *s6;
	struct reply r;
	CURLcode rc;

	if (!have_ipv6())
		cr_skip_test("no IPv6 loopback here");
	cr_assert_eq(http_server_start("[::1]:0", NULL, &s6), 0);
	rc = request_to("[::1]", http_server_port(s6), "GET", "/healthz", &r);
	cr_expect_eq(rc, CURLE_OK, "%s", curl_easy_strerror(rc));
	cr_expect_eq(r.status, 200);
	/* Without a metrics handler, /metrics is not there. */
	request_to("[::1]", http_server_port(s6), "GET", "/metrics", &r);
	cr_expect_eq(r.status, 404);
	/* Bound to ::1 only. */
	rc = request_to("127.0.0.1", http_server_port(s6), "GET", "/healthz", &r);
	cr_expect_neq(rc, CURLE_OK);
	http_server_stop(s6);
}

Test(http, all_addresses)
{
	struct http_server *s;
	struct reply r;
	int p;

	cr_assert_eq(http_server_start(":0", NULL, &s), 0);
	p = http_server_port(s);
	cr_expect_eq(request_to("127.0.0.1", p, "GET", "/readyz", &r), CURLE_OK);
	cr_expect_eq(r.status, 200);
	if (have_ipv6()) {
		cr_expect_eq(request_to("[::1]", p, "GET", "/readyz", &r), CURLE_OK);
		cr_expect_eq(r.status, 200);
	}
	http_server_stop(s);
}

Test(http, bad_listen_addresses)
{
	static const char *const bad[] = {
		"", "9962", "localhost:9962", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80x", "::1:9962", "[::1]9962",
		"[::1]:", "[127.0.0.1]:80", "1.2.3:80", "[::1:80",
	};
	struct sockaddr_storage ss;
	struct http_server *s = NULL;
	bool all;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(http_server_parse_listen(bad[i], &ss, &all), -EINVAL, "%s", bad[i]);
	cr_expect_eq(http_server_start("nope:1", NULL, &s), -EINVAL);
	cr_expect_null(s);
}

Test(http, good_listen_addresses)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	bool all;

	cr_assert_eq(http_server_parse_listen("127.0.0.1:9962", &ss, &all), 0);
	cr_expect_eq(ss.ss_family, AF_INET);
	cr_expect_eq(ntohs(sin->sin_port), 9962);
	cr_expect_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	cr_expect(!all);
	cr_assert_eq(http_server_parse_listen("0.0.0.0:80", &ss, &all), 0);
	cr_expect_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	cr_expect(!all);
	cr_assert_eq(http_server_parse_listen("[::1]:9962", &ss, &all), 0);
	cr_expect_eq(ss.ss_family, AF_INET6);
	cr_expect(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	cr_expect_eq(ntohs(sin6->sin6_port), 9962);
	cr_assert_eq(http_server_parse_listen(":9962", &ss, &all), 0);
	cr_expect(all);
	cr_expect_eq(ss.ss_family, AF_INET6);
	cr_expect(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	cr_assert_eq(http_server_parse_listen("[::]:0", &ss, &all), 0);
	cr_expect(!all);
}
