/* SPDX-License-Identifier: Apache-2.0 */
/* bench agent: the replay API server (bench_agent_server.h). */
#include "bench_agent_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hmap.h"
#include "log.h"
#include "vec.h"

/* An idle watch gets a bookmark this often: cheap for the agent, and how a
 * connection's thread learns that its client is gone. */
#define BA_BOOKMARK_IDLE_S 1.0
#define BA_WATCH_WAIT_MS 200

static const struct ba_kind_info {
	const char *path, *list_kind, *kind, *api;
} ba_kinds[BA_N_KINDS] = {
	[BA_NS] = { "/api/v1/namespaces", "NamespaceList", "Namespace", "v1" },
	[BA_POD] = { "/api/v1/pods", "PodList", "Pod", "v1" },
	[BA_POL] = { "/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicyList",
		     "NetworkPolicy", "networking.k8s.io/v1" },
};

struct ba_obj {
	char *body;	/* without resourceVersion */
	size_t len;
	size_t md_at;	/* just after "metadata":{ */
	char *rendered; /* with it */
	size_t rlen;
	bool live;
};

struct ba_ev {
	uint64_t rv;
	char *line; /* {"type":...,"object":...}\n */
	size_t len;
};

struct ba_store {
	struct ba_obj *o;
	size_t n, cap;
	struct hmap idx; /* key -> index in o */
	struct ba_ev *ev;
	size_t n_ev, cap_ev;
	unsigned watchers;
};

struct ba_server {
	struct MHD_Daemon *d;
	uint16_t port;
	char auth[512];
	bool streaming;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	uint64_t rv;
	struct ba_store k[BA_N_KINDS];
	struct ba_server_stats st;
};

double ba_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the store (under mu) */

static int render(struct ba_obj *o, uint64_t rv)
{
	char rvs[64];
	int n = snprintf(rvs, sizeof(rvs), "\"resourceVersion\":\"%" PRIu64 "\"%s", rv,
			 o->body[o->md_at] == '}' ? "" : ",");
	char *r = malloc(o->len + (size_t)n + 1);

	if (!r)
		return -ENOMEM;
	memcpy(r, o->body, o->md_at);
	memcpy(r + o->md_at, rvs, (size_t)n);
	memcpy(r + o->md_at + n, o->body + o->md_at, o->len - o->md_at);
	r[o->len + (size_t)n] = '\0';
	free(o->rendered);
	o->rendered = r;
	o->rlen = o->len + (size_t)n;
	return 0;
}

/* Sets key's object; *slot receives it. */
static int store_set(struct ba_server *s, enum ba_kind k, const char *key, const char *json,
		     size_t len, bool live, struct ba_obj **slot)
{
	static const char md[] = "\"metadata\":{";
	struct ba_store *st = &s->k[k];
	const char *m = memmem(json, len, md, sizeof(md) - 1);
	struct ba_obj *o;
	uint32_t at;
	char *body;

	if (!m) {
		log_error("an object without metadata (%s)", key);
		return -EINVAL;
	}
	body = malloc(len + 1);
	if (!body)
		return -ENOMEM;
	memcpy(body, json, len);
	body[len] = '\0';
	if (hmap_get(&st->idx, key, strlen(key), &at)) {
		o = &st->o[at];
		free(o->body);
	} else {
		o = VEC_PUSH(st->o, st->n, st->cap);
		if (!o || hmap_insert(&st->idx, key, strlen(key), (uint32_t)(st->n - 1), NULL) < 0) {
			free(body);
			if (o)
				st->n--;
			return -ENOMEM;
		}
		memset(o, 0, sizeof(*o));
	}
	o->body = body;
	o->len = len;
	o->md_at = (size_t)(m - json) + sizeof(md) - 1;
	o->live = live;
	*slot = o;
	return render(o, ++s->rv);
}

int ba_server_put(struct ba_server *s, enum ba_kind k, const char *key, const char *json,
		  size_t len)
{
	struct ba_obj *o;
	int err;

	pthread_mutex_lock(&s->mu);
	err = store_set(s, k, key, json, len, true, &o);
	pthread_mutex_unlock(&s->mu);
	return err;
}

int ba_server_event(struct ba_server *s, enum ba_kind k, const char *type, const char *key,
		    const char *json, size_t len, double *t0)
{
	struct ba_store *st = &s->k[k];
	struct ba_obj *o;
	struct ba_ev *e;
	char *line = NULL;
	int err, n;

	pthread_mutex_lock(&s->mu);
	err = store_set(s, k, key, json, len, strcmp(type, "DELETED") != 0, &o);
	if (err)
		goto out;
	n = asprintf(&line, "{\"type\":\"%s\",\"object\":%s}\n", type, o->rendered);
	e = n < 0 ? NULL : VEC_PUSH(st->ev, st->n_ev, st->cap_ev);
	if (!e) {
		free(n < 0 ? NULL : line);
		err = -ENOMEM;
		goto out;
	}
	e->rv = s->rv;
	e->line = line;
	e->len = (size_t)n;
	*t0 = ba_now();
	pthread_cond_broadcast(&s->cv);
out:
	pthread_mutex_unlock(&s->mu);
	return err;
}

char *ba_server_get(struct ba_server *s, enum ba_kind k, const char *key)
{
	char *r = NULL;
	uint32_t at;

	pthread_mutex_lock(&s->mu);
	if (hmap_get(&s->k[k].idx, key, strlen(key), &at))
		r = strdup(s->k[k].o[at].body);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void store_free(struct ba_store *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->o[i].body);
		free(st->o[i].rendered);
	}
	for (size_t i = 0; i < st->n_ev; i++)
		free(st->ev[i].line);
	free(st->o);
	free(st->ev);
	hmap_free(&st->idx);
	unsigned w = st->watchers;

	memset(st, 0, sizeof(*st));
	st->watchers = w;
	hmap_init(&st->idx);
}

void ba_server_stats_reset(struct ba_server *s)
{
	pthread_mutex_lock(&s->mu);
	memset(&s->st, 0, sizeof(s->st));
	pthread_mutex_unlock(&s->mu);
}

void ba_server_stats(struct ba_server *s, struct ba_server_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
}

unsigned ba_server_watchers(struct ba_server *s, enum ba_kind k)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	n = s->k[k].watchers;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- a growing buffer */

struct ba_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct ba_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct ba_buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* ---- requests */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, char *body, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_status(struct MHD_Connection *c, unsigned code, const char *reason,
				    const char *msg)
{
	char *body = NULL;
	int n = asprintf(&body,
			 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
			 "\"status\":\"Failure\",\"message\":\"%s\",\"reason\":\"%s\","
			 "\"code\":%u}",
			 msg, reason, code);

	if (n < 0)
		return MHD_NO;
	return reply(c, code, body, (size_t)n);
}

static enum MHD_Result do_list(struct ba_server *s, struct MHD_Connection *c, enum ba_kind k)
{
	const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	const char *cs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "continue");
	unsigned long long limit = ls ? strtoull(ls, NULL, 10) : 0, from = 0, lrv = 0;
	struct ba_store *st = &s->k[k];
	struct ba_buf b = { 0 };
	char head[512];
	size_t i, taken = 0;
	bool first = true;
	double t0;

	if (cs && *cs && sscanf(cs, "o%llur%llu", &from, &lrv) != 2)
		return reply_status(c, 400, "BadRequest", "bad continue token");
	pthread_mutex_lock(&s->mu);
	t0 = ba_now();
	if (!s->st.first_list_at)
		s->st.first_list_at = t0;
	s->st.list_requests++;
	if (!cs || !*cs)
		lrv = s->rv;
	for (i = from; i < st->n && (!limit || taken < limit); i++) {
		if (!st->o[i].live)
			continue;
		buf_str(&b, first ? "" : ",");
		buf_add(&b, st->o[i].rendered, st->o[i].rlen);
		first = false;
		taken++;
	}
	while (i < st->n && !st->o[i].live)
		i++;
	if (i < st->n)
		snprintf(head, sizeof(head),
			 "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":"
			 "\"%llu\",\"continue\":\"o%zur%llu\"},\"items\":[",
			 ba_kinds[k].list_kind, ba_kinds[k].api, lrv, i, lrv);
	else
		snprintf(head, sizeof(head),
			 "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":"
			 "\"%llu\"},\"items\":[",
			 ba_kinds[k].list_kind, ba_kinds[k].api, lrv);
	s->st.last_list_at = ba_now();
	s->st.list_build_s += s->st.last_list_at - t0;
	s->st.lists_done += i >= st->n;
	pthread_mutex_unlock(&s->mu);
	{
		size_t hl = strlen(head);
		char *body = malloc(hl + b.len + 3);

		if (!body || b.oom) {
			free(body);
			free(b.p);
			return MHD_NO;
		}
		memcpy(body, head, hl);
		if (b.len)
			memcpy(body + hl, b.p, b.len);
		memcpy(body + hl + b.len, "]}", 3);
		free(b.p);
		return reply(c, 200, body, hl + b.len + 2);
	}
}

/* One watch connection. */
struct ba_watch {
	struct ba_server *s;
	enum ba_kind k;
	size_t next;	   /* next event index */
	size_t init_next;  /* streaming: next object index of the initial list */
	bool initial;	   /* streaming: still sending the initial list */
	double deadline;   /* monotonic */
	double last_sent;
	char *cur;	   /* what is being sent */
	size_t cur_len, cur_off;
	bool cur_owned;
};

static void watch_free(void *cls)
{
	struct ba_watch *w = cls;

	pthread_mutex_lock(&w->s->mu);
	w->s->k[w->k].watchers--;
	pthread_mutex_unlock(&w->s->mu);
	if (w->cur_owned)
		free(w->cur);
	free(w);
}

/* The next piece to send, under mu: 1 set, 0 nothing yet. */
static int watch_next(struct ba_watch *w, double now)
{
	struct ba_server *s = w->s;
	struct ba_store *st = &s->k[w->k];
	char *line = NULL;
	int n;

	if (w->initial) {
		while (w->init_next < st->n && !st->o[w->init_next].live)
			w->init_next++;
		if (w->init_next < st->n) {
			struct ba_obj *o = &st->o[w->init_next++];

			n = asprintf(&line, "{\"type\":\"ADDED\",\"object\":%s}\n", o->rendered);
		} else {
			w->initial = false;
			n = asprintf(&line,
				     "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":"
				     "\"%s\",\"metadata\":{\"resourceVersion\":\"%" PRIu64
				     "\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n",
				     ba_kinds[w->k].kind, ba_kinds[w->k].api, s->rv);
			s->st.last_list_at = now;
			s->st.lists_done++;
		}
		if (n < 0)
			return -ENOMEM;
		w->cur = line;
		w->cur_len = (size_t)n;
		w->cur_owned = true;
		return 1;
	}
	if (w->next < st->n_ev) {
		/* Event lines live as long as the server, whose stop ends the watches
		 * first: sent without a copy. */
		w->cur = st->ev[w->next].line;
		w->cur_len = st->ev[w->next].len;
		w->cur_owned = false;
		w->next++;
		return 1;
	}
	if (now - w->last_sent >= BA_BOOKMARK_IDLE_S) {
		n = asprintf(&line,
			     "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\","
			     "\"metadata\":{\"resourceVersion\":\"%" PRIu64 "\"}}}\n",
			     ba_kinds[w->k].kind, ba_kinds[w->k].api, s->rv);
		if (n < 0)
			return -ENOMEM;
		w->cur = line;
		w->cur_len = (size_t)n;
		w->cur_owned = true;
		return 1;
	}
	return 0;
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct ba_watch *w = cls;
	struct ba_server *s = w->s;
	ssize_t ret = 0;

	(void)pos;
	pthread_mutex_lock(&s->mu);
	while (!w->cur) {
		double now = ba_now();
		struct timespec ts;
		int r;

		if (s->stop || now >= w->deadline) {
			ret = MHD_CONTENT_READER_END_OF_STREAM;
			goto out;
		}
		r = watch_next(w, now);
		if (r < 0) {
			ret = MHD_CONTENT_READER_END_WITH_ERROR;
			goto out;
		}
		if (r)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += BA_WATCH_WAIT_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	{
		size_t n = w->cur_len - w->cur_off;

		if (n > max)
			n = max;
		memcpy(buf, w->cur + w->cur_off, n);
		w->cur_off += n;
		if (w->cur_off == w->cur_len) {
			if (w->cur_owned)
				free(w->cur);
			w->cur = NULL;
			w->cur_off = 0;
		}
		w->last_sent = ba_now();
		ret = (ssize_t)n;
	}
out:
	pthread_mutex_unlock(&s->mu);
	return ret;
}

static enum MHD_Result do_watch(struct ba_server *s, struct MHD_Connection *c, enum ba_kind k)
{
	const char *sie = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sendInitialEvents");
	const char *rvs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resourceVersion");
	const char *tos = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timeoutSeconds");
	bool initial = sie && !strcmp(sie, "true");
	struct MHD_Response *r;
	struct ba_watch *w;
	enum MHD_Result ret;
	uint64_t from = rvs ? strtoull(rvs, NULL, 10) : 0;
	double to = tos ? strtod(tos, NULL) : 300;

	if (initial && !s->streaming) {
		pthread_mutex_lock(&s->mu);
		s->st.refused++;
		pthread_mutex_unlock(&s->mu);
		return reply_status(c, 400, "BadRequest",
				    "sendInitialEvents is not served here (bench: paginated LIST)");
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return MHD_NO;
	w->s = s;
	w->k = k;
	pthread_mutex_lock(&s->mu);
	s->st.watch_requests++;
	s->k[k].watchers++;
	w->last_sent = ba_now();
	w->deadline = w->last_sent + (to > 0 ? to : 300);
	if (initial) {
		w->initial = true;
		if (!s->st.first_list_at)
			s->st.first_list_at = w->last_sent;
		w->next = s->k[k].n_ev;
	} else {
		/* The events after from (none older are kept apart: every event
		 * since the server started is). */
		size_t i = s->k[k].n_ev;

		while (i > 0 && s->k[k].ev[i - 1].rv > from)
			i--;
		w->next = i;
	}
	pthread_mutex_unlock(&s->mu);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, watch_read, w,
					      watch_free);
	if (!r) {
		watch_free(w);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct ba_server *s = cls;
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)con_cls;
	if (strcmp(method, "GET"))
		return reply_status(c, 405, "MethodNotAllowed", "GET only");
	if (!auth || strcmp(auth, s->auth))
		return reply_status(c, 401, "Unauthorized", "Unauthorized");
	for (int k = 0; k < BA_N_KINDS; k++) {
		if (strcmp(url, ba_kinds[k].path))
			continue;
		if (watch && (!strcmp(watch, "1") || !strcmp(watch, "true")))
			return do_watch(s, c, (enum ba_kind)k);
		return do_list(s, c, (enum ba_kind)k);
	}
	return reply_status(c, 404, "NotFound", "not served by the bench");
}

/* Every connection without Nagle: a LIST page's last segment would
 * otherwise wait for the agent's delayed ACK (40 ms a page), a cost of this
 * server, not of the agent. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci;
	int one = 1;

	(void)cls;
	(void)socket_context;
	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci)
		setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* MHD's messages (a client gone mid-watch: every agent stop) are debug. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("API server: %s", msg);
}

int ba_server_start(const char *token, bool streaming, struct ba_server **out)
{
	struct ba_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = 0 };
	const union MHD_DaemonInfo *di;

	if (!s)
		return -ENOMEM;
	snprintf(s->auth, sizeof(s->auth), "Bearer %s", token);
	s->streaming = streaming;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	for (int k = 0; k < BA_N_KINDS; k++)
		hmap_init(&s->k[k].idx);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&sin, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)0, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
				MHD_OPTION_END);
	if (!s->d) {
		log_error("starting the API server on 127.0.0.1 failed");
		ba_server_stop(s);
		return -EADDRNOTAVAIL;
	}
	di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	if (!s->port) {
		log_error("the API server has no port");
		ba_server_stop(s);
		return -EADDRNOTAVAIL;
	}
	*out = s;
	return 0;
}

uint16_t ba_server_port(const struct ba_server *s)
{
	return s->port;
}

void ba_server_stop(struct ba_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->d)
		MHD_stop_daemon(s->d);
	for (int k = 0; k < BA_N_KINDS; k++) {
		store_free(&s->k[k]);
		hmap_free(&s->k[k].idx);
	}
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
