/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For the kube tests: the fake API server (tests/apiserver) as a child
 * process in a temporary directory, its admin client, a reflector sink that
 * records everything, and bounded waits.
 */
#ifndef NPBPF_TESTS_KUBE_HARNESS_H
#define NPBPF_TESTS_KUBE_HARNESS_H

/* The Debian interpreter, not a pyenv shim in front of it (a second per
 * start on this machine). */
#define KH_PYTHON "/usr/bin/python3"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kube_client.h"
#include "kube_config.h"
#include "reflector.h"

#ifndef APISERVER_DIR
#error "APISERVER_DIR must name tests/apiserver"
#endif

static inline double h_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls pred every 20 ms for up to secs. */
static inline bool h_wait(bool (*pred)(void *), void *arg, double secs)
{
	double end = h_now() + secs;

	for (;;) {
		if (pred(arg))
			return true;
		if (h_now() > end)
			return false;
		usleep(20000);
	}
}

/* ---- the server ---- */

struct h_server {
	char dir[256];
	pid_t pid;
	int port;
};

static struct h_server srv;

static inline void h_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static inline char *h_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static inline const char *h_path(const char *name)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", srv.dir, name);
	return p[i];
}

/* Starts the server seeded with seed_json (a List) and faults (JSON, or
 * NULL). Waits for DIR/ready for up to 30 s. */
static inline void h_server_start(const char *seed_json, const char *faults)
{
	double end;
	char *port;

	snprintf(srv.dir, sizeof(srv.dir), "/tmp/npbpf-kube-XXXXXX");
	cr_assert_not_null(mkdtemp(srv.dir));
	h_write(h_path("seed.json"), seed_json);
	srv.pid = fork();
	cr_assert(srv.pid >= 0);
	if (srv.pid == 0) {
		int fd = open(h_path("server.log"), O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (faults)
			execlp(KH_PYTHON, KH_PYTHON, APISERVER_DIR "/apiserver.py", "--dir",
			       srv.dir, "--seed-file", h_path("seed.json"), "--faults", faults,
			       (char *)NULL);
		else
			execlp(KH_PYTHON, KH_PYTHON, APISERVER_DIR "/apiserver.py", "--dir",
			       srv.dir, "--seed-file", h_path("seed.json"), (char *)NULL);
		_exit(127);
	}
	end = h_now() + 30;
	while (access(h_path("ready"), F_OK) != 0) {
		int st;

		if (waitpid(srv.pid, &st, WNOHANG) == srv.pid) {
			char *log = h_read(h_path("server.log"));

			srv.pid = 0;
			cr_assert_fail("the test API server exited: %s", log ? log : "");
		}
		cr_assert(h_now() < end, "the test API server was not ready within 30 s");
		usleep(20000);
	}
	port = h_read(h_path("port"));
	cr_assert_not_null(port);
	srv.port = atoi(port);
	free(port);
}

static inline void h_server_stop(void)
{
	char cmd[400];
	double end;
	int st;

	if (srv.pid > 0) {
		kill(srv.pid, SIGTERM);
		end = h_now() + 5;
		while (waitpid(srv.pid, &st, WNOHANG) == 0) {
			if (h_now() > end) {
				kill(srv.pid, SIGKILL);
				waitpid(srv.pid, &st, 0);
				break;
			}
			usleep(20000);
		}
		srv.pid = 0;
	}
	if (srv.dir[0] && !getenv("NPBPF_KEEP_TEST_DIR")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srv.dir);
		if (system(cmd) != 0)
			cr_log_warn("cannot remove %s", srv.dir);
	}
	srv.dir[0] = 0;
}

/* Runs apictl.py --dir DIR ARGS; asserts success. */
static inline void h_ctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void h_ctl(const char *fmt, ...)
{
	char args[4096], cmd[5000];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), KH_PYTHON " %s/apictl.py --dir '%s' %s >/dev/null", APISERVER_DIR,
		 srv.dir, args);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "apictl %s failed", args);
}

static inline void h_apply(const char *json)
{
	h_write(h_path("apply.json"), json);
	h_ctl("apply '%s'", h_path("apply.json"));
}

static inline void h_faults(const char *json)
{
	h_ctl("faults '%s'", json);
}

/* One API request as the server's stats saw it. */
struct h_req {
	double t;      /* server wall clock */
	char verb[16]; /* list, watch, ... */
	char res[32];
	int status;
	char query[1024];
};

/* The API requests so far (for resource res, or all when NULL). */
static inline size_t h_requests(const char *res, struct h_req *out, size_t max)
{
	char cmd[2000];
	FILE *p;
	size_t n = 0;
	char line[1400];

	snprintf(cmd, sizeof(cmd),
		 KH_PYTHON " %s/apictl.py --dir '%s' stats | " KH_PYTHON " -c 'import json,sys\n"
		 "d=json.load(sys.stdin)\n"
		 "for e in d[\"requests\"]:\n"
		 "  print(\"%%.6f %%s %%s %%s %%s\" %% (e[\"t\"], e[\"verb\"], e[\"resource\"], "
		 "e.get(\"status\") or 0, e[\"query\"] or \"-\"))'",
		 APISERVER_DIR, srv.dir);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		struct h_req r;

		if (sscanf(line, "%lf %15s %31s %d %1023s", &r.t, r.verb, r.res, &r.status,
			   r.query) != 5)
			continue;
		if (res && strcmp(res, r.res))
			continue;
		if (n < max)
			out[n] = r;
		n++;
	}
	pclose(p);
	return n < max ? n : max;
}

/* A client of the server: CA file and token file (re-read), as in-cluster. */
static inline struct kube_client *h_client(void)
{
	struct kube_config cfg = {0};
	struct kube_client *c;
	char server[64];

	snprintf(server, sizeof(server), "https://127.0.0.1:%d", srv.port);
	cfg.server = server;
	cfg.ca_file = (char *)h_path("ca.crt");
	cfg.token_file = (char *)h_path("token");
	cr_assert_eq(kube_client_new(&cfg, &c), 0);
	return c;
}

/* ---- objects ---- */

static inline char *h_ns(const char *name)
{
	char *s;

	cr_assert(asprintf(&s,
			   "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":"
			   "{\"name\":\"%s\"}}",
			   name) > 0);
	return s;
}

static inline char *h_pod(const char *ns, const char *name, const char *app, int ip)
{
	char *s;

	cr_assert(asprintf(&s,
			   "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
			   "\"namespace\":\"%s\",\"labels\":{\"app\":\"%s\"}},\"spec\":"
			   "{\"nodeName\":\"node-a\",\"containers\":[{\"name\":\"c\",\"image\":"
			   "\"busybox\"}]},\"status\":{\"phase\":\"Running\",\"podIP\":"
			   "\"10.0.%d.%d\"}}",
			   name, ns, app, ip / 250, ip % 250 + 1) > 0);
	return s;
}

static inline char *h_policy(const char *ns, const char *name, int port)
{
	char *s;

	cr_assert(asprintf(&s,
			   "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			   "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},\"spec\":"
			   "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":%d}]}]}}",
			   name, ns, port) > 0);
	return s;
}

/* {"kind":"List","items":[objs...]}; frees objs. */
static inline char *h_list(char **objs, size_t n)
{
	size_t len = 64, i;
	char *s;

	for (i = 0; i < n; i++)
		len += strlen(objs[i]) + 1;
	s = malloc(len);
	cr_assert_not_null(s);
	strcpy(s, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
	for (i = 0; i < n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, objs[i]);
		free(objs[i]);
	}
	strcat(s, "]}");
	return s;
}

/* ---- the recording sink ---- */

struct h_event {
	enum kube_kind kind;
	enum kube_event_type type;
	char key[300];
	enum manifest_kind mk;
	int seq_synced; /* synced() calls of its kind before it */
};

struct h_sink {
	pthread_mutex_t mu;
	struct h_event *ev;
	size_t n, cap;
	int synced[KUBE_N_KINDS];
	char rv[KUBE_N_KINDS][128];
	int relists[KUBE_N_KINDS][RELIST_N_REASONS];
	int progress[KUBE_N_KINDS];
};

static struct h_sink sink = {.mu = PTHREAD_MUTEX_INITIALIZER};

static inline void h_on_event(void *ctx, struct kube_event *ev)
{
	struct h_sink *s = ctx;
	struct h_event *e;

	pthread_mutex_lock(&s->mu);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->ev = realloc(s->ev, s->cap * sizeof(*s->ev));
	}
	e = &s->ev[s->n++];
	e->kind = ev->kind;
	e->type = ev->type;
	snprintf(e->key, sizeof(e->key), "%s%s%s", ev->ns ? ev->ns : "", ev->ns ? "/" : "",
		 ev->name);
	e->mk = ev->obj.kind;
	e->seq_synced = s->synced[ev->kind];
	pthread_mutex_unlock(&s->mu);
	kube_event_free(ev);
}

static inline void h_on_synced(void *ctx, enum kube_kind k, const char *rv)
{
	struct h_sink *s = ctx;

	pthread_mutex_lock(&s->mu);
	s->synced[k]++;
	snprintf(s->rv[k], sizeof(s->rv[k]), "%s", rv);
	pthread_mutex_unlock(&s->mu);
}

static inline void h_on_relist(void *ctx, enum kube_kind k, enum reflector_relist_reason why)
{
	struct h_sink *s = ctx;

	pthread_mutex_lock(&s->mu);
	s->relists[k][why]++;
	pthread_mutex_unlock(&s->mu);
}

static inline void h_on_progress(void *ctx, enum kube_kind k, const char *rv)
{
	struct h_sink *s = ctx;

	(void)rv;
	pthread_mutex_lock(&s->mu);
	s->progress[k]++;
	pthread_mutex_unlock(&s->mu);
}

static inline struct reflector_sink h_sink_ops(void)
{
	return (struct reflector_sink){.event = h_on_event,
				       .synced = h_on_synced,
				       .relist = h_on_relist,
				       .progress = h_on_progress,
				       .ctx = &sink};
}

static inline int h_synced(enum kube_kind k)
{
	int n;

	pthread_mutex_lock(&sink.mu);
	n = sink.synced[k];
	pthread_mutex_unlock(&sink.mu);
	return n;
}

static inline int h_relists(enum kube_kind k, enum reflector_relist_reason why)
{
	int n;

	pthread_mutex_lock(&sink.mu);
	n = sink.relists[k][why];
	pthread_mutex_unlock(&sink.mu);
	return n;
}

/* Events of kind k (type -1: any) for key (NULL: any). */
static inline int h_count(enum kube_kind k, int type, const char *key)
{
	size_t i;
	int n = 0;

	pthread_mutex_lock(&sink.mu);
	for (i = 0; i < sink.n; i++)
		if (sink.ev[i].kind == k && (type < 0 || (int)sink.ev[i].type == type) &&
		    (!key || !strcmp(sink.ev[i].key, key)))
			n++;
	pthread_mutex_unlock(&sink.mu);
	return n;
}

static int h_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys of kind k that are live after replaying every event (ADDED and
 * MODIFIED upsert, DELETED removes), sorted, comma-separated. */
static inline char *h_live(enum kube_kind k)
{
	char **keys = NULL;
	size_t n = 0, i, j, len = 1;
	char *out;

	pthread_mutex_lock(&sink.mu);
	keys = calloc(sink.n + 1, sizeof(*keys));
	for (i = 0; i < sink.n; i++) {
		struct h_event *e = &sink.ev[i];

		if (e->kind != k)
			continue;
		for (j = 0; j < n && strcmp(keys[j], e->key); j++)
			;
		if (e->type == KUBE_DELETED) {
			if (j < n)
				keys[j] = keys[--n];
		} else if (j == n) {
			keys[n++] = e->key;
		}
	}
	qsort(keys, n, sizeof(*keys), h_cmp_str);
	for (i = 0; i < n; i++)
		len += strlen(keys[i]) + 1;
	out = malloc(len);
	out[0] = 0;
	for (i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, keys[i]);
	}
	pthread_mutex_unlock(&sink.mu);
	free(keys);
	return out;
}

static inline void h_sink_reset(void)
{
	pthread_mutex_lock(&sink.mu);
	free(sink.ev);
	sink.ev = NULL;
	sink.n = sink.cap = 0;
	memset(sink.synced, 0, sizeof(sink.synced));
	memset(sink.relists, 0, sizeof(sink.relists));
	memset(sink.progress, 0, sizeof(sink.progress));
	pthread_mutex_unlock(&sink.mu);
}

#endif
