/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One thread per kind: list, then watch, for ever (reflector.h).
 *
 *   need a list ──► streaming list (watch + sendInitialEvents) ──► marker
 *        │              │ refused (4xx, or no marker twice)          │
 *        │              ▼                                            ▼
 *        │         paginated LIST (for good) ──────────────────► synced
 *        │                                                           │
 *        └──◄── 410 Gone / other 4xx ◄── WATCH from rv ◄─────────────┘
 *                                        (ends, stalls, 5xx: again from rv)
 *
 * The keys delivered so far ("ns/name", or "name" for namespaces) and their
 * last resourceVersion are kept in a small hash set, each with the
 * generation of the list that last saw it: when a list completes, the keys
 * an older generation holds are the objects deleted while nobody watched,
 * delivered as KUBE_DELETED before synced().
 */
#include "reflector.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_stream.h"
#include "log.h"
#include "yaml_tree.h"

#define RF_INITIAL_END "k8s.io/initial-events-end"
/* A LIST page silent this long (or stall_margin_s when longer) is given up
 * and asked for again. */
#define RF_PAGE_IDLE_S 60.0

/* ---- kinds ---- */

static const struct rf_kind_info {
	const char *name; /* "pods" */
	const char *path; /* "/api/v1/pods" */
	const char *kind; /* "Pod" */
	const char *api;  /* "v1" */
	enum manifest_kind mk;
	bool namespaced;
} rf_kinds[KUBE_N_KINDS] = {
	[KUBE_NAMESPACES] = {"namespaces", "/api/v1/namespaces", "Namespace", "v1",
			     MANIFEST_NAMESPACE, false},
	[KUBE_PODS] = {"pods", "/api/v1/pods", "Pod", "v1", MANIFEST_POD, true},
	[KUBE_POLICIES] = {"networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies",
			   "NetworkPolicy", "networking.k8s.io/v1", MANIFEST_POLICY, true},
};

const char *kube_kind_name(enum kube_kind k)
{
	return (unsigned)k < KUBE_N_KINDS ? rf_kinds[k].name : "?";
}

const char *reflector_relist_reason_name(enum reflector_relist_reason r)
{
	static const char *const names[RELIST_N_REASONS] = {
		[RELIST_INITIAL] = "initial",
		[RELIST_GONE] = "gone",
		[RELIST_EXPIRED] = "expired",
		[RELIST_ERROR] = "error",
	};

	return (unsigned)r < RELIST_N_REASONS ? names[r] : "?";
}

void kube_event_free(struct kube_event *ev)
{
	if (!ev)
		return;
	manifest_object_free(&ev->obj);
	free(ev->ns);
	free(ev->name);
	free(ev->source);
	free(ev);
}

/* ---- the set of delivered keys ---- */

struct rf_entry {
	struct rf_entry *next;
	uint64_t hash;
	uint32_t gen;
	char *rv;
	char key[]; /* "ns/name" or "name" */
};

struct rf_set {
	struct rf_entry **b;
	size_t nb, n;
};

static uint64_t rf_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h ? h : 1;
}

static struct rf_entry *rf_set_get(const struct rf_set *s, const char *key)
{
	uint64_t h = rf_hash(key);
	struct rf_entry *e;

	if (!s->nb)
		return NULL;
	for (e = s->b[h & (s->nb - 1)]; e; e = e->next)
		if (e->hash == h && !strcmp(e->key, key))
			return e;
	return NULL;
}

static int rf_set_grow(struct rf_set *s)
{
	size_t nb = s->nb ? s->nb * 2 : 256, i;
	struct rf_entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < s->nb; i++) {
		struct rf_entry *e = s->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(s->b);
	s->b = b;
	s->nb = nb;
	return 0;
}

/* Records key at rv in generation gen. *known: it was there before. */
static int rf_set_put(struct rf_set *s, const char *key, const char *rv, uint32_t gen, bool *known)
{
	struct rf_entry *e = rf_set_get(s, key);
	char *nrv = strdup(rv);

	if (!nrv)
		return -ENOMEM;
	*known = e != NULL;
	if (!e) {
		size_t len = strlen(key);

		if (s->n >= s->nb && rf_set_grow(s)) {
			free(nrv);
			return -ENOMEM;
		}
		e = malloc(sizeof(*e) + len + 1);
		if (!e) {
			free(nrv);
			return -ENOMEM;
		}
		memcpy(e->key, key, len + 1);
		e->hash = rf_hash(key);
		e->rv = NULL;
		e->next = s->b[e->hash & (s->nb - 1)];
		s->b[e->hash & (s->nb - 1)] = e;
		s->n++;
	}
	free(e->rv);
	e->rv = nrv;
	e->gen = gen;
	return 0;
}

static void rf_set_del(struct rf_set *s, const char *key)
{
	uint64_t h = rf_hash(key);
	struct rf_entry **pe;

	if (!s->nb)
		return;
	for (pe = &s->b[h & (s->nb - 1)]; *pe; pe = &(*pe)->next) {
		struct rf_entry *e = *pe;

		if (e->hash == h && !strcmp(e->key, key)) {
			*pe = e->next;
			free(e->rv);
			free(e);
			s->n--;
			return;
		}
	}
}

static void rf_set_free(struct rf_set *s)
{
	size_t i;

	for (i = 0; i < s->nb; i++) {
		struct rf_entry *e = s->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e->rv);
			free(e);
		}
	}
	free(s->b);
	memset(s, 0, sizeof(*s));
}

/* ---- the reflector ---- */

enum rf_mode {
	RF_PAGE,    /* a page of a paginated LIST */
	RF_INITIAL, /* a streaming list before its end marker */
	RF_WATCH,   /* a watch (or a streaming list after its marker) */
};

struct reflector {
	struct kube_client *c;
	enum kube_kind kind;
	const struct rf_kind_info *ki;
	struct reflector_opts o;
	struct reflector_sink sink;
	pthread_t thr;
	struct kube_cancel cancel;
	pthread_mutex_t mu;
	pthread_cond_t cv;

	struct rf_set known;
	uint32_t gen;	/* of the list running or last completed */
	char rv[128];	/* where the next watch starts */
	bool streaming; /* still try streaming lists */
	int no_marker;	/* streaming lists that ended without their marker */
	double backoff; /* the last backoff step, 0 after a success */
	uint64_t rng;

	/* the request running */
	enum rf_mode mode;
	struct json_stream *js;
	struct kube_response resp;
	bool js_is_watch; /* js parses watch events (else a LIST or a Status) */
	double rx;	  /* when the last chunk arrived */
	size_t n_listed, n_invalid, n_events;
	int ev_code; /* code of an ERROR event's Status */
	char ev_reason[64];
	char ev_message[512];
	bool plain_bookmark; /* a bookmark without the marker during RF_INITIAL */
	bool marker;	     /* the streaming list's end marker arrived */
	const char *path;    /* for messages */
};

static double rf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* [0, 1) */
static double rf_rand(struct reflector *r)
{
	uint64_t x = r->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->rng = x;
	return (double)(x >> 11) / (double)(1ull << 53);
}

static bool rf_stopped(const struct reflector *r)
{
	return __atomic_load_n(&r->cancel.stop, __ATOMIC_RELAXED) != 0;
}

/* Sleeps s seconds unless stopped. 0 or -ECANCELED. */
static int rf_sleep(struct reflector *r, double s)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)s;
	ts.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	while (!rf_stopped(r) && pthread_cond_timedwait(&r->cv, &r->mu, &ts) != ETIMEDOUT)
		;
	if (rf_stopped(r))
		ret = -ECANCELED;
	pthread_mutex_unlock(&r->mu);
	return ret;
}

/* The delay before the next attempt: Retry-After when the server gave one,
 * else the backoff step (doubling from backoff_min_s up to backoff_max_s)
 * with up to 50% jitter on top, capped at backoff_max_s. */
static double rf_next_delay(struct reflector *r, double retry_after)
{
	double d;

	r->backoff = r->backoff ? r->backoff * 2 : r->o.backoff_min_s;
	if (r->backoff > r->o.backoff_max_s)
		r->backoff = r->o.backoff_max_s;
	d = r->backoff * (1 + 0.5 * rf_rand(r));
	if (d > r->o.backoff_max_s)
		d = r->o.backoff_max_s;
	if (retry_after >= 0)
		d = retry_after > 300 ? 300 : retry_after;
	return d;
}

/* Logs why and sleeps. 0 or -ECANCELED. */
static int rf_backoff_at(struct reflector *r, enum log_level level, double retry_after,
			 const char *what)
{
	double d = rf_next_delay(r, retry_after);

	log_msg(level, "%s: %s; retrying in %.1f s%s", r->ki->name, what, d,
		retry_after >= 0 ? " (Retry-After)" : "");
	return rf_sleep(r, d);
}

static int rf_backoff(struct reflector *r, double retry_after, const char *what)
{
	return rf_backoff_at(r, LOG_WARN, retry_after, what);
}

/* "10,000" */
static const char *rf_count(size_t n, char *buf, size_t size)
{
	char tmp[32];
	size_t len, i, o = 0;

	snprintf(tmp, sizeof(tmp), "%zu", n);
	len = strlen(tmp);
	for (i = 0; i < len && o + 2 < size; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

static const char *rf_scalar(const struct yt_node *n)
{
	return n && n->kind == YT_SCALAR && n->str ? n->str : NULL;
}

/* ---- objects ---- */

/* The API's LIST items carry no kind or apiVersion: a map with them put in
 * front of obj's pairs, so manifest_decode reads the object as from a file.
 * *items is to be freed. */
static const struct yt_node *rf_with_kind(const struct reflector *r, const struct yt_node *obj,
					  struct yt_node *wrap, struct yt_node extra[4],
					  struct yt_node ***items)
{
	bool has_kind = yt_map_get(obj, "kind") != NULL;
	bool has_api = yt_map_get(obj, "apiVersion") != NULL;
	uint32_t n = 0, i;

	*items = NULL;
	if ((has_kind && has_api) || obj->kind != YT_MAP)
		return obj;
	*items = malloc(sizeof(**items) * ((size_t)obj->n + 4));
	if (!*items)
		return NULL;
	for (i = 0; i < 4; i++)
		extra[i] = (struct yt_node){.kind = YT_SCALAR,
					    .quoted = true,
					    .weight = 1,
					    .line = obj->line,
					    .col = obj->col};
	if (!has_kind) {
		extra[0].str = "kind";
		extra[1].str = r->ki->kind;
		(*items)[n++] = &extra[0];
		(*items)[n++] = &extra[1];
	}
	if (!has_api) {
		extra[2].str = "apiVersion";
		extra[3].str = r->ki->api;
		(*items)[n++] = &extra[2];
		(*items)[n++] = &extra[3];
	}
	for (i = 0; i < 4; i++)
		extra[i].len = extra[i].str ? (uint32_t)strlen(extra[i].str) : 0;
	memcpy(*items + n, obj->items, sizeof(**items) * obj->n);
	*wrap = *obj;
	wrap->items = *items;
	wrap->n = obj->n + n;
	wrap->weight = obj->weight + n;
	return wrap;
}

/*
 * A NetworkPolicy the API server accepted and npbpf cannot read: its author
 * meant to isolate pods of its namespace, and skipping it would leave them
 * open. It is enforced as a deny-all of its namespace (every pod, both
 * directions, no rule) until it is fixed or deleted: loud breakage instead
 * of a silent hole. 1, or -ENOMEM.
 */
static int rf_policy_fail_closed(struct reflector *r, struct kube_event *ev)
{
	struct np_policy *p = &ev->obj.u.policy;

	manifest_object_free(&ev->obj);
	memset(&ev->obj, 0, sizeof(ev->obj));
	ev->obj.kind = MANIFEST_POLICY;
	p->ns = strdup(ev->ns);
	p->name = strdup(ev->name);
	if (!p->ns || !p->name) {
		manifest_object_free(&ev->obj);
		return -ENOMEM;
	}
	p->types[NP_INGRESS] = p->types[NP_EGRESS] = true;
	p->loc.file = ev->source;
	r->n_invalid++;
	log_error("%s %s/%s: invalid (above): enforced as deny-all for every pod of namespace %s "
		  "until it is fixed or deleted (fail-closed)",
		  r->ki->name, ev->ns, ev->name, ev->ns);
	return 1;
}

/* Decodes obj into ev->obj: 1 decoded, 0 not valid or not ours (logged when
 * invalid), -ENOMEM. */
static int rf_decode(struct reflector *r, const struct yt_node *obj, struct kube_event *ev)
{
	struct yt_node wrap, extra[4], **items;
	const struct yt_node *o = rf_with_kind(r, obj, &wrap, extra, &items);
	int ret;

	if (!o)
		return -ENOMEM;
	ret = manifest_decode(o, ev->source, &ev->obj);
	free(items);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0 && r->kind == KUBE_POLICIES && ev->ns)
		return rf_policy_fail_closed(r, ev);
	if (ret < 0) {
		log_warn("%s %s%s%s: invalid, skipped", r->ki->name, ev->ns ? ev->ns : "",
			 ev->ns ? "/" : "", ev->name);
		r->n_invalid++;
		return 0;
	}
	if (ret == 0)
		return 0;
	if (ev->obj.kind != r->ki->mk) {
		log_debug("%s %s: not a %s, ignored", r->ki->name, ev->source, r->ki->kind);
		manifest_object_free(&ev->obj);
		return 0;
	}
	return 1;
}

static struct kube_event *rf_event_new(struct reflector *r, enum kube_event_type type,
				       const char *ns, const char *name)
{
	struct kube_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->kind = r->kind;
	ev->type = type;
	ev->received = r->rx;
	if ((ns && !(ev->ns = strdup(ns))) || !(ev->name = strdup(name)) ||
	    asprintf(&ev->source, "%s %s%s%s", r->ki->name, ns ? ns : "", ns ? "/" : "", name) <
		    0) {
		ev->source = NULL;
		kube_event_free(ev);
		return NULL;
	}
	return ev;
}

/* One object of a list (RF_PAGE, RF_INITIAL) or of a watch event. */
static int rf_object(struct reflector *r, enum kube_event_type type, const struct yt_node *obj)
{
	const struct yt_node *md = yt_map_get(obj, "metadata");
	const char *name = rf_scalar(yt_map_get(md, "name"));
	const char *ns = r->ki->namespaced ? rf_scalar(yt_map_get(md, "namespace")) : NULL;
	const char *rv = rf_scalar(yt_map_get(md, "resourceVersion"));
	struct kube_event *ev;
	char key[600];
	bool known = false;
	int ret;

	if (r->mode != RF_WATCH)
		r->n_listed++;
	if (!name || !name[0] || strlen(name) > 253 || (ns && strlen(ns) > 253)) {
		log_warn("%s: an object without a valid metadata.name, skipped", r->ki->name);
		r->n_invalid++;
		return 0;
	}
	if (ns && !ns[0])
		ns = NULL;
	snprintf(key, sizeof(key), "%s%s%s", ns ? ns : "", ns ? "/" : "", name);
	ev = rf_event_new(r, type, ns, name);
	if (!ev)
		return -ENOMEM;
	ret = rf_decode(r, obj, ev);
	if (ret < 0) {
		kube_event_free(ev);
		return ret;
	}
	if (type == KUBE_DELETED) {
		if (!rf_set_get(&r->known, key) && !ret) {
			/* neither delivered nor decodable: nothing to undo */
			kube_event_free(ev);
			return 0;
		}
		rf_set_del(&r->known, key);
		r->sink.event(r->sink.ctx, ev);
		return 0;
	}
	/* Every key is remembered, decodable or not, so that its deletion is
	 * delivered even when only an earlier version was valid. */
	if (rf_set_put(&r->known, key, rv ? rv : "", r->gen, &known)) {
		kube_event_free(ev);
		return -ENOMEM;
	}
	if (!ret) {
		kube_event_free(ev);
		return 0;
	}
	if (r->mode != RF_WATCH)
		ev->type = known ? KUBE_MODIFIED : KUBE_ADDED;
	r->sink.event(r->sink.ctx, ev);
	return 0;
}

static void rf_progress(struct reflector *r, const char *rv)
{
	if (!rv || !rv[0])
		return;
	snprintf(r->rv, sizeof(r->rv), "%s", rv);
	if (r->sink.progress)
		r->sink.progress(r->sink.ctx, r->kind, r->rv);
}

/* A list is complete: keys it did not see are deleted objects. */
static int rf_list_done(struct reflector *r, const char *rv, const char *how)
{
	char a[32], b[32];
	size_t deleted = 0, i;

	snprintf(r->rv, sizeof(r->rv), "%s", rv);
	for (i = 0; i < r->known.nb; i++) {
		struct rf_entry *e = r->known.b[i], *next;

		for (; e; e = next) {
			struct kube_event *ev;
			char *slash;

			next = e->next;
			if (e->gen == r->gen)
				continue;
			slash = r->ki->namespaced ? strchr(e->key, '/') : NULL;
			if (slash)
				*slash = 0;
			ev = rf_event_new(r, KUBE_DELETED, slash ? e->key : NULL,
					  slash ? slash + 1 : e->key);
			if (slash)
				*slash = '/';
			if (!ev)
				return -ENOMEM;
			rf_set_del(&r->known, e->key);
			r->sink.event(r->sink.ctx, ev);
			deleted++;
		}
	}
	{
		char extra[96] = "";

		if (deleted)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 ", %s deleted since the last list",
				 rf_count(deleted, b, sizeof(b)));
		if (r->n_invalid)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 ", %zu invalid skipped", r->n_invalid);
		log_info("%s: listed %s objects %s (rv %s)%s", r->ki->name,
			 rf_count(r->n_listed, a, sizeof(a)), how, r->rv, extra);
	}
	r->backoff = 0;
	r->sink.synced(r->sink.ctx, r->kind, r->rv);
	if (r->sink.progress)
		r->sink.progress(r->sink.ctx, r->kind, r->rv);
	return 0;
}

/* ---- stream callbacks ---- */

static int rf_on_item(const char *type, const struct yt_node *obj, void *arg)
{
	struct reflector *r = arg;

	(void)type;
	if (r->mode != RF_PAGE)
		return 0; /* a Status body of a failed watch: js_meta has it */
	return rf_object(r, KUBE_ADDED, obj);
}

static bool rf_is_marker(const struct yt_node *obj)
{
	const struct yt_node *ann = yt_map_get(yt_map_get(obj, "metadata"), "annotations");
	const char *v = rf_scalar(yt_map_get(ann, RF_INITIAL_END));

	return v && !strcmp(v, "true");
}

static int rf_on_event(const char *type, const struct yt_node *obj, void *arg)
{
	struct reflector *r = arg;
	const char *rv = rf_scalar(yt_map_get(yt_map_get(obj, "metadata"), "resourceVersion"));
	enum kube_event_type t;
	int err;

	if (!type)
		return 0;
	r->n_events++;
	if (!strcmp(type, "ERROR")) {
		int64_t code = 0;
		const char *reason = rf_scalar(yt_map_get(obj, "reason"));
		const char *msg = rf_scalar(yt_map_get(obj, "message"));

		if (yt_get_int(yt_map_get(obj, "code"), &code) || code <= 0 || code > 999)
			code = 500;
		r->ev_code = (int)code;
		snprintf(r->ev_reason, sizeof(r->ev_reason), "%s", reason ? reason : "");
		snprintf(r->ev_message, sizeof(r->ev_message), "%s", msg ? msg : "");
		return -ECONNABORTED;
	}
	if (!strcmp(type, "BOOKMARK")) {
		if (r->mode == RF_INITIAL) {
			if (!rf_is_marker(obj)) {
				/* A server that streams the list sends no bookmark
				 * before its end marker: this one ignored
				 * sendInitialEvents and is watching. */
				r->plain_bookmark = true;
				return -ENOTSUP;
			}
			if (!rv || !rv[0]) {
				log_warn("%s: the streaming list's end bookmark has no "
					 "resourceVersion",
					 r->ki->name);
				return -EPROTO;
			}
			r->marker = true;
			r->no_marker = 0;
			err = rf_list_done(r, rv, "by streaming list");
			r->mode = RF_WATCH;
			return err;
		}
		rf_progress(r, rv);
		return 0;
	}
	if (!strcmp(type, "ADDED"))
		t = KUBE_ADDED;
	else if (!strcmp(type, "MODIFIED"))
		t = KUBE_MODIFIED;
	else if (!strcmp(type, "DELETED"))
		t = KUBE_DELETED;
	else {
		log_debug("%s: watch event of unknown type %s ignored", r->ki->name, type);
		return 0;
	}
	if (!obj || obj->kind != YT_MAP) {
		log_warn("%s: a %s event without an object, ignored", r->ki->name, type);
		return 0;
	}
	err = rf_object(r, t, obj);
	if (err)
		return err;
	if (r->mode == RF_WATCH) {
		r->backoff = 0;
		rf_progress(r, rv);
	}
	return 0;
}

/* Every body chunk: the parser is made on the first, a watch parser for a
 * 200 to a watch, else a LIST parser (which also reads a Status). */
static int rf_body(const void *buf, size_t len, void *arg)
{
	struct reflector *r = arg;
	int err;

	r->rx = rf_now();
	if (!r->js) {
		char name[160];

		r->js_is_watch = r->mode != RF_PAGE && r->resp.status == 200;
		snprintf(name, sizeof(name), "GET %s", r->path);
		err = js_new(r->js_is_watch ? JS_WATCH : JS_LIST, name,
			     r->js_is_watch ? rf_on_event : rf_on_item, r, &r->js);
		if (err)
			return err;
	}
	return js_feed(r->js, buf, len);
}

/* ---- requests ---- */

enum rf_outcome {
	RF_OK, /* complete (a page, or a watch that ended normally) */
	RF_CANCELLED,
	RF_STALLED, /* no byte for idle_s */
	RF_FAILED,  /* transport or parse failure: r->resp.error says */
	RF_STATUS,  /* an error status: *code (HTTP or an ERROR event's) */
	RF_NOMEM,
};

static void rf_append_q(char *q, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rf_append_q(char *q, size_t size, const char *fmt, ...)
{
	size_t len = strlen(q);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q + len, size - len, fmt, ap);
	va_end(ap);
}

static enum rf_outcome rf_request(struct reflector *r, const char *path, enum rf_mode mode,
				  double idle_s, int *code)
{
	int err, ferr = 0;

	r->mode = mode;
	r->path = path;
	r->js = NULL;
	r->ev_code = 0;
	r->ev_reason[0] = r->ev_message[0] = 0;
	r->rx = rf_now();
	*code = 0;
	log_debug("%s: GET %s", r->ki->name, path);
	err = kube_get(r->c, path, rf_body, r, idle_s, &r->cancel, &r->resp);
	if (!err && r->js)
		ferr = js_finish(r->js);
	if (err == -ECANCELED || rf_stopped(r)) {
		js_free(r->js);
		r->js = NULL;
		return RF_CANCELLED;
	}
	if (r->ev_code) {
		*code = r->ev_code;
		js_free(r->js);
		r->js = NULL;
		return RF_STATUS;
	}
	if (err == -ENOMEM) {
		js_free(r->js);
		r->js = NULL;
		return RF_NOMEM;
	}
	if (r->resp.status && r->resp.status != 200) {
		const struct js_meta *m = r->js && !r->js_is_watch ? js_meta(r->js) : NULL;

		*code = (int)r->resp.status;
		snprintf(r->ev_reason, sizeof(r->ev_reason), "%s", m ? m->reason : "");
		snprintf(r->ev_message, sizeof(r->ev_message), "%s", m ? m->message : "");
		if (m && m->code == 410 && !strcmp(m->reason, "Expired"))
			*code = 410;
		js_free(r->js);
		r->js = NULL;
		return RF_STATUS;
	}
	if (err == -ETIMEDOUT && r->resp.status == 200 && mode != RF_PAGE) {
		js_free(r->js);
		r->js = NULL;
		return RF_STALLED;
	}
	if (err || ferr) {
		const char *je = r->js ? js_error(r->js) : NULL;

		if ((ferr || err == -EINVAL) && je && je[0])
			snprintf(r->resp.error, sizeof(r->resp.error), "%s", je);
		else if (!r->resp.error[0])
			snprintf(r->resp.error, sizeof(r->resp.error), "%s",
				 strerror(err ? -err : -ferr));
		js_free(r->js);
		r->js = NULL;
		return RF_FAILED;
	}
	if (!r->resp.status) {
		snprintf(r->resp.error, sizeof(r->resp.error), "no response");
		js_free(r->js);
		r->js = NULL;
		return RF_FAILED;
	}
	if (mode == RF_PAGE && !r->js) {
		snprintf(r->resp.error, sizeof(r->resp.error), "an empty body");
		return RF_FAILED;
	}
	/* 200: the caller reads js_meta, then frees r->js */
	return RF_OK;
}

static void rf_request_done(struct reflector *r)
{
	js_free(r->js);
	r->js = NULL;
}

/* Percent-encodes s (a continue token) into out. */
static void rf_urlenc(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = 0;
}

static const char *rf_status_text(int code, char *buf, size_t size, const struct reflector *r)
{
	size_t len;

	snprintf(buf, size, "%d%s%s%s%s", code, r->ev_reason[0] ? " " : "", r->ev_reason,
		 r->ev_message[0] ? ": " : "", r->ev_message);
	len = strlen(buf);
	while (len && (buf[len - 1] == '.' || buf[len - 1] == ' '))
		buf[--len] = 0; /* "...; retrying" reads better without it */
	return buf;
}

/* Handles a failed request's outcome: back off (with Retry-After). 0 to try
 * again, -ECANCELED. */
static int rf_fail(struct reflector *r, enum rf_outcome out, int code, const char *what)
{
	char msg[1400], st[700];

	switch (out) {
	case RF_CANCELLED:
		return -ECANCELED;
	case RF_NOMEM:
		snprintf(msg, sizeof(msg), "%s: out of memory", what);
		return rf_backoff(r, -1, msg);
	case RF_STATUS:
		rf_status_text(code, st, sizeof(st), r);
		if (code == 401) {
			snprintf(msg, sizeof(msg),
				 "%s: 401 Unauthorized even with the token read again (check "
				 "the credentials)",
				 what);
			return rf_backoff_at(r, LOG_ERROR, -1, msg);
		}
		snprintf(msg, sizeof(msg), "%s: %s", what, st);
		return rf_backoff(r, code == 429 || code >= 500 ? r->resp.retry_after_s : -1, msg);
	case RF_STALLED:
	case RF_FAILED:
	case RF_OK:
	default:
		snprintf(msg, sizeof(msg), "%s: %s", what,
			 r->resp.error[0] ? r->resp.error : "failed");
		return rf_backoff(r, -1, msg);
	}
}

/* Results of a list. */
enum rf_list_result {
	RF_LISTED,
	RF_RELIST_EXPIRED,
	RF_LIST_FAILED,	  /* back off done; relist (RELIST_ERROR) */
	RF_LIST_FALLBACK, /* streaming list refused: paginate from now on */
	RF_LIST_CANCELLED,
	RF_LISTED_GONE, /* streamed, then the watch part needs a relist (*why) */
};

static enum rf_list_result rf_list_paged(struct reflector *r)
{
	char path[6000], enc[4096 * 3 + 1], cont[4096] = "", rv[128] = "", what[300];
	unsigned pages = 0;
	int code;

	r->gen++;
	r->n_listed = r->n_invalid = 0;
	for (;;) {
		enum rf_outcome out;
		const struct js_meta *m;

		snprintf(path, sizeof(path), "%s?limit=%u", r->ki->path, r->o.page_size);
		if (cont[0]) {
			rf_urlenc(cont, enc, sizeof(enc));
			rf_append_q(path, sizeof(path), "&continue=%s", enc);
		}
		out = rf_request(r, path, RF_PAGE,
				 RF_PAGE_IDLE_S > r->o.stall_margin_s ? RF_PAGE_IDLE_S
								      : r->o.stall_margin_s,
				 &code);
		if (out == RF_CANCELLED)
			return RF_LIST_CANCELLED;
		if (out == RF_STATUS && code == 410 && cont[0]) {
			log_info("%s: continue token expired on page %u (410), relisting",
				 r->ki->name, pages + 1);
			return RF_RELIST_EXPIRED;
		}
		if (out != RF_OK) {
			bool again = out != RF_STATUS || code == 429 || code == 401 || code >= 500;

			snprintf(what, sizeof(what), "list page %u", pages + 1);
			if (rf_fail(r, out, code, what))
				return RF_LIST_CANCELLED;
			if (again)
				continue; /* the same page again */
			return RF_LIST_FAILED;
		}
		m = js_meta(r->js);
		pages++;
		snprintf(rv, sizeof(rv), "%s", m->resource_version);
		snprintf(cont, sizeof(cont), "%s", m->cont);
		rf_request_done(r);
		if (!cont[0])
			break;
	}
	if (!rv[0]) {
		log_warn("%s: the list has no resourceVersion", r->ki->name);
		rf_backoff(r, -1, "list without resourceVersion");
		return rf_stopped(r) ? RF_LIST_CANCELLED : RF_LIST_FAILED;
	}
	snprintf(what, sizeof(what), "in %u page%s", pages, pages == 1 ? "" : "s");
	if (rf_list_done(r, rv, what))
		return RF_LIST_FAILED;
	return RF_LISTED;
}

static uint32_t rf_watch_timeout(struct reflector *r)
{
	return (uint32_t)((double)r->o.watch_timeout_s * (1 + rf_rand(r)));
}

/* A watch from r->rv (streaming: a streaming list, then its watch). */
static enum rf_outcome rf_watch_once(struct reflector *r, bool streaming, int *code,
				     uint32_t *timeout)
{
	char path[1024], rv[3 * sizeof(r->rv) + 1];

	*timeout = rf_watch_timeout(r);
	rf_urlenc(r->rv, rv, sizeof(rv));
	if (streaming)
		snprintf(path, sizeof(path),
			 "%s?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
			 "&allowWatchBookmarks=true&timeoutSeconds=%u",
			 r->ki->path, *timeout);
	else
		snprintf(path, sizeof(path),
			 "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
			 r->ki->path, rv, *timeout);
	r->n_events = 0;
	return rf_request(r, path, streaming ? RF_INITIAL : RF_WATCH,
			  *timeout + r->o.stall_margin_s, code);
}

/* After a watch (or a streaming list's watch part) ended: RF_OK → re-watch,
 * or what the caller must do. 0 watch again, 1 relist (reason in *why),
 * -ECANCELED. */
static int rf_after_watch(struct reflector *r, enum rf_outcome out, int code, double started,
			  uint32_t timeout, enum reflector_relist_reason *why)
{
	switch (out) {
	case RF_OK:
		rf_request_done(r);
		if (!r->n_events && rf_now() - started < 1.0 && timeout >= 1)
			return rf_backoff(r, -1, "the watch ended at once") ? -ECANCELED : 0;
		r->backoff = 0;
		log_debug("%s: watch ended, resuming from rv %s", r->ki->name, r->rv);
		return 0;
	case RF_CANCELLED:
		return -ECANCELED;
	case RF_STALLED:
		log_info("%s: watch silent for %.0f s, resuming from rv %s", r->ki->name,
			 timeout + r->o.stall_margin_s, r->rv);
		return 0;
	case RF_STATUS:
		if (code == 410) {
			log_info("%s: watch expired (410), relisting", r->ki->name);
			*why = RELIST_GONE;
			return 1;
		}
		if (rf_fail(r, out, code, "watch"))
			return -ECANCELED;
		if (code == 429 || code == 401 || code >= 500)
			return 0;
		*why = RELIST_ERROR;
		return 1;
	case RF_FAILED:
	case RF_NOMEM:
	default:
		return rf_fail(r, out, code, "watch") ? -ECANCELED : 0;
	}
}

/* A streaming list; when its marker arrives, the same stream goes on as the
 * watch. */
static enum rf_list_result rf_list_streaming(struct reflector *r, enum reflector_relist_reason *why)
{
	enum rf_outcome out;
	uint32_t timeout;
	double started = rf_now();
	int code, ret;

	r->gen++;
	r->n_listed = r->n_invalid = 0;
	r->marker = r->plain_bookmark = false;
	out = rf_watch_once(r, true, &code, &timeout);
	if (r->marker) {
		ret = rf_after_watch(r, out, code, started, timeout, why);
		if (ret < 0)
			return RF_LIST_CANCELLED;
		return ret ? RF_LISTED_GONE : RF_LISTED;
	}
	if (r->plain_bookmark && out != RF_CANCELLED) {
		rf_request_done(r);
		log_info("%s: the server ignores sendInitialEvents (a bookmark before the end of "
			 "the streaming list)",
			 r->ki->name);
		return RF_LIST_FALLBACK;
	}
	switch (out) {
	case RF_CANCELLED:
		return RF_LIST_CANCELLED;
	case RF_OK:
		rf_request_done(r);
		r->no_marker++;
		if (r->no_marker >= 2) {
			log_info("%s: the server does not end its streaming list (no %s bookmark)",
				 r->ki->name, RF_INITIAL_END);
			return RF_LIST_FALLBACK;
		}
		log_debug("%s: streaming list ended before its end bookmark, again", r->ki->name);
		return rf_sleep(r, r->o.backoff_min_s) ? RF_LIST_CANCELLED : RF_LIST_FAILED;
	case RF_STALLED:
		log_info("%s: streaming list silent for %.0f s, again", r->ki->name,
			 timeout + r->o.stall_margin_s);
		return RF_LIST_FAILED;
	case RF_STATUS:
		if (code >= 400 && code < 500 && code != 401 && code != 410 && code != 429) {
			char st[700];

			log_info("%s: the server refused the streaming list (%s)", r->ki->name,
				 rf_status_text(code, st, sizeof(st), r));
			return RF_LIST_FALLBACK;
		}
		/* fall through */
	default:
		return rf_fail(r, out, code, "streaming list") ? RF_LIST_CANCELLED : RF_LIST_FAILED;
	}
}

static void *rf_thread(void *arg)
{
	struct reflector *r = arg;
	enum reflector_relist_reason why = RELIST_INITIAL;
	bool need_list = true;

	while (!rf_stopped(r)) {
		if (need_list) {
			enum rf_list_result res;

			r->sink.relist(r->sink.ctx, r->kind, why);
			if (r->streaming) {
				res = rf_list_streaming(r, &why);
				if (res == RF_LIST_FALLBACK) {
					log_info("%s: using paginated lists from now on",
						 r->ki->name);
					r->streaming = false;
					res = rf_list_paged(r);
				}
			} else {
				res = rf_list_paged(r);
			}
			switch (res) {
			case RF_LISTED:
				need_list = false;
				break;
			case RF_LISTED_GONE:
				break; /* why set */
			case RF_RELIST_EXPIRED:
				why = RELIST_EXPIRED;
				break;
			case RF_LIST_CANCELLED:
				goto out;
			case RF_LIST_FALLBACK:
			case RF_LIST_FAILED:
			default:
				why = RELIST_ERROR;
				break;
			}
			continue;
		}
		{
			enum rf_outcome out;
			uint32_t timeout;
			double started = rf_now();
			int code, ret;

			out = rf_watch_once(r, false, &code, &timeout);
			ret = rf_after_watch(r, out, code, started, timeout, &why);
			if (ret < 0)
				break;
			if (ret > 0)
				need_list = true;
		}
	}
out:
	return NULL;
}

int reflector_start(struct kube_client *c, enum kube_kind k, const struct reflector_opts *opts,
		    const struct reflector_sink *sink, struct reflector **out)
{
	struct reflector *r;
	pthread_condattr_t ca;
	struct timespec ts;
	int err;

	if ((unsigned)k >= KUBE_N_KINDS || !sink || !sink->event || !sink->synced || !sink->relist)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->kind = k;
	r->ki = &rf_kinds[k];
	if (opts)
		r->o = *opts;
	if (!r->o.page_size)
		r->o.page_size = 500;
	if (!r->o.watch_timeout_s)
		r->o.watch_timeout_s = 300;
	if (r->o.backoff_min_s <= 0)
		r->o.backoff_min_s = 0.8;
	if (r->o.backoff_max_s <= 0)
		r->o.backoff_max_s = 30;
	if (r->o.backoff_max_s < r->o.backoff_min_s)
		r->o.backoff_max_s = r->o.backoff_min_s;
	if (r->o.stall_margin_s <= 0)
		r->o.stall_margin_s = 30;
	r->sink = *sink;
	r->streaming = !r->o.no_streaming_list;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)k << 56) ^
		 (uint64_t)(uintptr_t)r;
	if (!r->rng)
		r->rng = 88172645463325252ull;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	err = -pthread_create(&r->thr, NULL, rf_thread, r);
	if (err) {
		log_error("%s: cannot start the reflector thread: %s", r->ki->name, strerror(-err));
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

void reflector_stop(struct reflector *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	__atomic_store_n(&r->cancel.stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thr, NULL);
	js_free(r->js);
	rf_set_free(&r->known);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
