/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_get against a scripted plain-HTTP server on 127.0.0.1 (a thread of
 * the test): the headers sent (bearer token, Accept, gzip), Retry-After in
 * seconds and as an HTTP date, the idle timeout, cancellation from another
 * thread, the 401 → re-read token file → retry once, a body callback's error,
 * and a refused connection.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kube_client.h"
#include "kube_config.h"

#define MAX_CONN 4

/* What the server answers on its i-th connection; hold_s: then wait that
 * long (or until the client goes) before closing. */
struct script {
	const char *resp[MAX_CONN];
	double hold_s[MAX_CONN];
};

static struct {
	int lfd, port;
	pthread_t thr;
	struct script sc;
	char req[MAX_CONN][4096];
	int n_conn;
	pthread_mutex_t mu;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static char tmpdir[128];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *serve(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < MAX_CONN && S.sc.resp[i]; i++) {
		int fd = accept(S.lfd, NULL, NULL);
		size_t n = 0;
		double end;

		if (fd < 0)
			return NULL;
		while (n < sizeof(S.req[i]) - 1) {
			ssize_t got = recv(fd, S.req[i] + n, sizeof(S.req[i]) - 1 - n, 0);

			if (got <= 0)
				break;
			n += (size_t)got;
			S.req[i][n] = 0;
			if (strstr(S.req[i], "\r\n\r\n"))
				break;
		}
		pthread_mutex_lock(&S.mu);
		S.n_conn = i + 1;
		pthread_mutex_unlock(&S.mu);
		if (send(fd, S.sc.resp[i], strlen(S.sc.resp[i]), MSG_NOSIGNAL) < 0) {
			close(fd);
			continue;
		}
		end = now_s() + S.sc.hold_s[i];
		while (now_s() < end) {
			char b;
			struct timeval tv = {0, 50000};

			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			if (recv(fd, &b, 1, 0) == 0)
				break; /* the client went */
		}
		close(fd);
	}
	return NULL;
}

static void server_start(const struct script *sc)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int one = 1;

	memset(S.req, 0, sizeof(S.req));
	S.n_conn = 0;
	S.sc = *sc;
	S.lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(S.lfd >= 0);
	setsockopt(S.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(S.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(S.lfd, 8), 0);
	getsockname(S.lfd, (struct sockaddr *)&a, &len);
	S.port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&S.thr, NULL, serve, NULL), 0);
}

static void server_stop(void)
{
	shutdown(S.lfd, SHUT_RDWR);
	close(S.lfd);
	pthread_join(S.thr, NULL);
}

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/npbpf-kcl-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		cr_log_warn("cannot remove %s", tmpdir);
}

TestSuite(kube_client, .init = setup, .fini = teardown, .timeout = 30);

static struct kube_client *client(const char *token, const char *token_file)
{
	struct kube_config cfg = {0};
	struct kube_client *c;
	char server[64];

	snprintf(server, sizeof(server), "http://127.0.0.1:%d", S.port);
	cfg.server = server;
	cfg.token = (char *)token;
	cfg.token_file = (char *)token_file;
	cr_assert_eq(kube_client_new(&cfg, &c), 0);
	return c;
}

struct body {
	char buf[8192];
	size_t n;
	int fail; /* return this from the callback */
};

static int on_body(const void *buf, size_t len, void *arg)
{
	struct body *b = arg;

	if (b->fail)
		return b->fail;
	if (b->n + len < sizeof(b->buf)) {
		memcpy(b->buf + b->n, buf, len);
		b->n += len;
		b->buf[b->n] = 0;
	}
	return 0;
}

#define OK_HELLO                                                                                   \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"               \
	"Connection: close\r\n\r\n{\"a\":1}"

Test(kube_client, request_headers_and_body)
{
	struct script sc = {.resp = {OK_HELLO}};
	struct kube_response resp;
	struct body b = {0};
	struct kube_client *c;

	server_start(&sc);
	c = client("s3cret", NULL);
	cr_assert(!strncmp(kube_client_server(c), "http://127.0.0.1:", 17));
	cr_assert_eq(kube_get(c, "/api/v1/pods?limit=2", on_body, &b, 5, NULL, &resp), 0);
	cr_assert_eq(resp.status, 200);
	cr_assert_eq(resp.retry_after_s, -1);
	cr_assert_str_eq(b.buf, "{\"a\":1}");
	cr_assert(strstr(S.req[0], "GET /api/v1/pods?limit=2 HTTP/1.1\r\n"), "%s", S.req[0]);
	cr_assert(strstr(S.req[0], "Authorization: Bearer s3cret\r\n"), "%s", S.req[0]);
	cr_assert(strstr(S.req[0], "Accept: application/json\r\n"), "%s", S.req[0]);
	cr_assert(strstr(S.req[0], "Accept-Encoding: ") && strstr(S.req[0], "gzip"), "%s",
		  S.req[0]);
	kube_client_free(c);
	server_stop();
}

Test(kube_client, retry_after_seconds_and_date)
{
	char date_resp[512], date[64];
	time_t t = time(NULL) + 100;
	struct tm tm;
	struct script sc = {.resp = {"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
				     "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
				     date_resp}};
	struct kube_response resp;
	struct body b = {0};
	struct kube_client *c;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(date_resp, sizeof(date_resp),
		 "HTTP/1.1 503 Service Unavailable\r\nRetry-After: %s\r\nContent-Length: 0\r\n"
		 "Connection: close\r\n\r\n",
		 date);
	server_start(&sc);
	c = client(NULL, NULL);
	cr_assert_eq(kube_get(c, "/x", on_body, &b, 5, NULL, &resp), 0);
	cr_assert_eq(resp.status, 429);
	cr_assert_float_eq(resp.retry_after_s, 7.0, 1e-9);
	cr_assert_str_eq(b.buf, "{}", "the body of an error status goes to fn too");
	cr_assert_null(strstr(S.req[0], "Authorization:"), "no token, no header");
	cr_assert_eq(kube_get(c, "/x", on_body, &b, 5, NULL, &resp), 0);
	cr_assert_eq(resp.status, 503);
	cr_assert(resp.retry_after_s > 95 && resp.retry_after_s <= 101, "retry_after %.1f",
		  resp.retry_after_s);
	kube_client_free(c);
	server_stop();
}

#define SILENT                                                                                     \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"      \
	"\r\n3\r\n{\"a\r\n"

Test(kube_client, idle_timeout)
{
	struct script sc = {.resp = {SILENT}, .hold_s = {10}};
	struct kube_response resp;
	struct body b = {0};
	struct kube_client *c;
	double t;
	int err;

	server_start(&sc);
	c = client(NULL, NULL);
	t = now_s();
	err = kube_get(c, "/watch", on_body, &b, 1.0, NULL, &resp);
	t = now_s() - t;
	cr_assert_eq(err, -ETIMEDOUT, "err %d", err);
	cr_assert_eq(resp.status, 200);
	cr_assert_str_eq(b.buf, "{\"a");
	cr_assert(t >= 0.9 && t < 3.5, "gave up after %.2f s", t);
	cr_assert_neq(resp.error[0], 0);
	kube_client_free(c);
	server_stop();
}

static void *cancel_later(void *arg)
{
	struct kube_cancel *k = arg;

	usleep(500000);
	__atomic_store_n(&k->stop, 1, __ATOMIC_RELAXED);
	return NULL;
}

Test(kube_client, cancel_from_another_thread)
{
	struct script sc = {.resp = {SILENT}, .hold_s = {10}};
	struct kube_cancel k = {0};
	struct kube_response resp;
	struct body b = {0};
	struct kube_client *c;
	pthread_t thr;
	double t;
	int err;

	server_start(&sc);
	c = client(NULL, NULL);
	cr_assert_eq(pthread_create(&thr, NULL, cancel_later, &k), 0);
	t = now_s();
	err = kube_get(c, "/watch", on_body, &b, 0, &k, &resp);
	t = now_s() - t;
	pthread_join(thr, NULL);
	cr_assert_eq(err, -ECANCELED, "err %d", err);
	cr_assert(t >= 0.4 && t < 2.5, "cancelled after %.2f s", t);
	kube_client_free(c);
	server_stop();
}

Test(kube_client, unauthorized_rereads_token_and_retries_once)
{
	struct script sc = {
		.resp = {OK_HELLO,
			 "HTTP/1.1 401 Unauthorized\r\nContent-Length: 14\r\n"
			 "Connection: close\r\n\r\n{\"code\": 401}\n",
			 OK_HELLO},
	};
	struct kube_response resp;
	struct body b = {0};
	struct kube_client *c;
	char tf[256];
	FILE *f;

	snprintf(tf, sizeof(tf), "%s/token", tmpdir);
	f = fopen(tf, "w");
	fputs("old-token\n", f);
	fclose(f);
	server_start(&sc);
	c = client(NULL, tf);
	cr_assert_eq(kube_get(c, "/a", on_body, &b, 5, NULL, &resp), 0);
	cr_assert_eq(resp.status, 200);
	cr_assert(strstr(S.req[0], "Authorization: Bearer old-token\r\n"), "%s", S.req[0]);
	/* rotated: the client still holds the old one (read < 60 s ago) ... */
	f = fopen(tf, "w");
	fputs("  new-token\n", f);
	fclose(f);
	memset(&b, 0, sizeof(b));
	cr_assert_eq(kube_get(c, "/b", on_body, &b, 5, NULL, &resp), 0);
	/* ... is refused, reads the file again and retries once */
	cr_assert(strstr(S.req[1], "Authorization: Bearer old-token\r\n"), "%s", S.req[1]);
	cr_assert(strstr(S.req[2], "Authorization: Bearer new-token\r\n"), "%s", S.req[2]);
	cr_assert_eq(resp.status, 200);
	cr_assert_str_eq(b.buf, "{\"a\":1}", "the 401's body is not the caller's: %s", b.buf);
	kube_client_free(c);
	server_stop();
}

Test(kube_client, unauthorized_twice_is_returned)
{
	struct script sc = {
		.resp = {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\nConnection: "
			 "close\r\n\r\n{}",
			 "HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nConnection: "
			 "close\r\n\r\n"
			 "{\"x\"",
			 OK_HELLO},
	};
	struct kube_response resp;
	struct body b = {0};
	struct kube_client *c;
	char tf[256];
	FILE *f;

	snprintf(tf, sizeof(tf), "%s/token", tmpdir);
	f = fopen(tf, "w");
	fputs("tok-1\n", f);
	fclose(f);
	server_start(&sc);
	c = client(NULL, tf);
	cr_assert_eq(kube_get(c, "/a", on_body, &b, 5, NULL, &resp), 0);
	cr_assert_eq(resp.status, 401);
	cr_assert_str_eq(b.buf, "{\"x\"", "only the retry's body: %s", b.buf);
	cr_assert_eq(S.n_conn, 2, "retried exactly once");
	cr_assert(strstr(S.req[0], "Bearer tok-1\r\n"));
	cr_assert(strstr(S.req[1], "Bearer tok-1\r\n"));
	/* a fixed token is never retried */
	kube_client_free(c);
	c = client("fixed", NULL);
	memset(&b, 0, sizeof(b));
	cr_assert_eq(kube_get(c, "/b", on_body, &b, 5, NULL, &resp), 0);
	cr_assert_eq(resp.status, 200);
	kube_client_free(c);
	server_stop();
}

Test(kube_client, body_error_aborts)
{
	struct script sc = {.resp = {OK_HELLO}};
	struct kube_response resp;
	struct body b = {.fail = -EBADMSG};
	struct kube_client *c;

	server_start(&sc);
	c = client(NULL, NULL);
	cr_assert_eq(kube_get(c, "/a", on_body, &b, 5, NULL, &resp), -EBADMSG);
	cr_assert_eq(resp.status, 200);
	kube_client_free(c);
	server_stop();
}

Test(kube_client, connection_refused)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct kube_response resp;
	struct body b = {0};
	struct kube_client *c;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a port nobody listens on: bound, never listening */
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	S.port = ntohs(a.sin_port);
	c = client(NULL, NULL);
	cr_assert_eq(kube_get(c, "/a", on_body, &b, 5, NULL, &resp), -ECONNREFUSED);
	cr_assert_eq(resp.status, 0);
	cr_assert_neq(resp.error[0], 0);
	kube_client_free(c);
	close(fd);
}

/* ---- the reflector against the scripted server: what the fake API server
 * cannot do (a watch silent past its timeoutSeconds; a streaming list that
 * never sends its end marker) ---- */

#include "reflector.h"

#define CHUNKED_200                                                                                \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"

static char *chunk(char *out, const char *data)
{
	sprintf(out + strlen(out), "%zx\r\n%s\r\n", strlen(data), data);
	return out;
}

static char *pod_event(char *out, const char *type, const char *name, const char *rv)
{
	char ev[1024];

	snprintf(ev, sizeof(ev),
		 "{\"type\":\"%s\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
		 "{\"name\":\"%s\",\"namespace\":\"default\",\"resourceVersion\":\"%s\"},\"spec\":"
		 "{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]},\"status\":{\"phase\":"
		 "\"Running\",\"podIP\":\"10.0.0.%s\"}}}\n",
		 type, name, rv, rv + strlen(rv) - 1);
	return chunk(out, ev);
}

static char *marker(char *out, const char *rv, bool end)
{
	char ev[512];

	snprintf(ev, sizeof(ev),
		 "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
		 "\"metadata\":{\"resourceVersion\":\"%s\"%s}}}\n",
		 rv, end ? ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}" : "");
	return chunk(out, ev);
}

static struct {
	pthread_mutex_t mu;
	int synced, added[8], n_added;
	char names[8][32];
	double synced_at;
	enum reflector_relist_reason why[8];
	int n_relists;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void r_event(void *ctx, struct kube_event *ev)
{
	(void)ctx;
	pthread_mutex_lock(&R.mu);
	if (R.n_added < 8 && ev->type != KUBE_DELETED)
		snprintf(R.names[R.n_added++], sizeof(R.names[0]), "%s", ev->name);
	pthread_mutex_unlock(&R.mu);
	kube_event_free(ev);
}

static void r_synced(void *ctx, enum kube_kind k, const char *rv)
{
	(void)ctx;
	(void)k;
	(void)rv;
	pthread_mutex_lock(&R.mu);
	R.synced++;
	R.synced_at = now_s();
	pthread_mutex_unlock(&R.mu);
}

static void r_relist(void *ctx, enum kube_kind k, enum reflector_relist_reason why)
{
	(void)ctx;
	(void)k;
	pthread_mutex_lock(&R.mu);
	if (R.n_relists < 8)
		R.why[R.n_relists++] = why;
	pthread_mutex_unlock(&R.mu);
}

static bool wait_for(int *what, int n, double secs)
{
	double end = now_s() + secs;

	for (;;) {
		int v;

		pthread_mutex_lock(&R.mu);
		v = *what;
		pthread_mutex_unlock(&R.mu);
		if (v >= n)
			return true;
		if (now_s() > end)
			return false;
		usleep(20000);
	}
}

static int conns(void)
{
	int n;

	pthread_mutex_lock(&S.mu);
	n = S.n_conn;
	pthread_mutex_unlock(&S.mu);
	return n;
}

Test(kube_client, reflector_drops_a_silent_watch)
{
	static char list[4096] = CHUNKED_200, watch[2048] = CHUNKED_200;
	struct script sc = {.resp = {list, watch}, .hold_s = {30, 30}};
	struct reflector_opts o = {.watch_timeout_s = 1,
				   .stall_margin_s = 1,
				   .backoff_min_s = 0.1,
				   .backoff_max_s = 0.5};
	struct reflector_sink s = {.event = r_event, .synced = r_synced, .relist = r_relist};
	struct kube_client *c;
	struct reflector *r;
	double t, dropped_after;

	memset(&R.added, 0, sizeof(R.added));
	pod_event(list, "ADDED", "p1", "7");
	marker(list, "100", true); /* then silence, past timeoutSeconds */
	pod_event(watch, "ADDED", "p2", "101");
	server_start(&sc);
	c = client("t", NULL);
	cr_assert_eq(reflector_start(c, KUBE_PODS, &o, &s, &r), 0);
	cr_assert(wait_for(&R.synced, 1, 10), "not synced");
	/* timeoutSeconds is 1 or 2 here: given up after at most 3 s of silence */
	cr_assert(wait_for(&R.n_added, 2, 10), "the watch was not resumed");
	dropped_after = now_s() - R.synced_at;
	cr_assert(dropped_after >= 1.9 && dropped_after < 4.5, "resumed after %.2f s",
		  dropped_after);
	cr_assert_str_eq(R.names[0], "p1");
	cr_assert_str_eq(R.names[1], "p2");
	cr_assert(strstr(S.req[0], "sendInitialEvents=true"), "%s", S.req[0]);
	cr_assert(strstr(S.req[1], "watch=1&resourceVersion=100&"), "%s", S.req[1]);
	cr_assert_eq(R.synced, 1);
	/* a held watch is aborted promptly on stop */
	t = now_s();
	reflector_stop(r);
	cr_assert_lt(now_s() - t, 2.5);
	kube_client_free(c);
	server_stop();
}

Test(kube_client, reflector_streaming_list_without_marker_falls_back)
{
	static char s1[4096] = CHUNKED_200, s2[4096] = CHUNKED_200;
	static char page[2048];
	struct script sc = {.resp = {s1, s2, page, CHUNKED_200}, .hold_s = {0, 0, 0, 30}};
	struct reflector_opts o = {.watch_timeout_s = 30,
				   .stall_margin_s = 5,
				   .backoff_min_s = 0.1,
				   .backoff_max_s = 0.5};
	struct reflector_sink s = {.event = r_event, .synced = r_synced, .relist = r_relist};
	const char *list_body = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":"
				"{\"resourceVersion\":\"55\"},\"items\":[{\"metadata\":{\"name\":"
				"\"p1\",\"namespace\":\"default\",\"resourceVersion\":\"9\"},"
				"\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}]}";
	struct kube_client *c;
	struct reflector *r;

	/* an old server: the initial events, then the watch just ends */
	pod_event(s1, "ADDED", "p1", "9");
	strcat(s1, "0\r\n\r\n");
	pod_event(s2, "ADDED", "p1", "9");
	strcat(s2, "0\r\n\r\n");
	snprintf(page, sizeof(page),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n%s",
		 strlen(list_body), list_body);
	server_start(&sc);
	c = client("t", NULL);
	cr_assert_eq(reflector_start(c, KUBE_PODS, &o, &s, &r), 0);
	cr_assert(wait_for(&R.synced, 1, 10), "not synced");
	cr_assert(strstr(S.req[1], "sendInitialEvents=true"), "%s", S.req[1]);
	cr_assert(strstr(S.req[2], "GET /api/v1/pods?limit=500 "), "%s", S.req[2]);
	cr_assert_eq(R.why[0], RELIST_INITIAL);
	{
		double end = now_s() + 5;

		while (conns() < 4 && now_s() < end)
			usleep(20000);
	}
	cr_assert(strstr(S.req[3], "watch=1&resourceVersion=55&"), "%s", S.req[3]);
	cr_assert_eq(R.synced, 1);
	reflector_stop(r);
	kube_client_free(c);
	server_stop();
}
