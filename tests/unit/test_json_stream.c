/* SPDX-License-Identifier: Apache-2.0 */
/* The streaming JSON parser (json_stream.h): trees as the decoders expect
 * them, the same whatever the chunking, errors and limits, and a throughput
 * figure for a realistic pod list. */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "json_stream.h"
#include "manifest.h"

/* ---- a canonical text for a tree ---- */

/* Strings quoted with every byte outside printable ASCII as \xHH, plain
 * scalars as they are, {k:v,...} and [a,...]. Checks the invariants the
 * decoders rely on on the way: NUL-terminated text, keys quoted scalars,
 * weight the node count. */
static uint32_t render(FILE *f, const struct yt_node *n)
{
	uint32_t i, weight = 1;

	switch (n->kind) {
	case YT_SCALAR:
		cr_assert_not_null(n->str);
		cr_assert_eq(n->str[n->len], '\0');
		cr_assert_eq(n->n, 0);
		if (!n->quoted) {
			fprintf(f, "%s", n->str);
			break;
		}
		fputc('"', f);
		for (i = 0; i < n->len; i++) {
			unsigned char ch = (unsigned char)n->str[i];

			if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
				fprintf(f, "\\x%02x", ch);
			else
				fputc(ch, f);
		}
		fputc('"', f);
		break;
	case YT_SEQ:
		fputc('[', f);
		for (i = 0; i < n->n; i++) {
			fprintf(f, "%s", i ? "," : "");
			weight += render(f, n->items[i]);
		}
		fputc(']', f);
		break;
	case YT_MAP:
		cr_assert_eq(n->n % 2, 0);
		fputc('{', f);
		for (i = 0; i < n->n; i += 2) {
			cr_assert_eq(n->items[i]->kind, YT_SCALAR);
			cr_assert(n->items[i]->quoted);
			fprintf(f, "%s", i ? "," : "");
			weight += render(f, n->items[i]);
			fputc(':', f);
			weight += render(f, n->items[i + 1]);
		}
		fputc('}', f);
		break;
	default:
		cr_assert_fail("bad kind %d", n->kind);
	}
	cr_assert_eq(n->line, 1);
	cr_assert_gt(n->col, 0);
	cr_assert_eq(n->weight, weight, "weight %u, counted %u", n->weight, weight);
	return weight;
}

/* ---- running a body through a stream ---- */

/* JSON in this file is written with ' for ", to be readable: J gives the
 * real text (from a ring of buffers, so a few can be in use at once). */
static const char *J(const char *s)
{
	static char *ring[8];
	static unsigned next;
	size_t i, len = strlen(s);
	char *d = realloc(ring[next % 8], len + 1);

	cr_assert_not_null(d);
	ring[next++ % 8] = d;
	for (i = 0; i <= len; i++)
		d[i] = s[i] == '\'' ? '"' : s[i];
	return d;
}

struct run {
	char *out; /* one line per object: "TYPE tree" */
	size_t out_len;
	FILE *f;
	int ret;
	struct js_meta meta;
	char err[512];
	size_t n_objects;
	size_t stop_at; /* fn fails on this object (1-based), 0 never */
};

static int collect(const char *type, const struct yt_node *obj, void *arg)
{
	struct run *r = arg;

	cr_assert_eq(obj->kind, YT_MAP);
	fprintf(r->f, "%s ", type ? type : "-");
	render(r->f, obj);
	fputc('\n', r->f);
	if (++r->n_objects == r->stop_at)
		return -ECANCELED;
	return 0;
}

static void run_begin(struct run *r, enum js_mode mode, struct json_stream **s)
{
	r->f = open_memstream(&r->out, &r->out_len);
	cr_assert_not_null(r->f);
	cr_assert_eq(js_new(mode, "test", collect, r, s), 0);
}

static void run_end(struct run *r, struct json_stream *s, int ret)
{
	if (!ret)
		ret = js_finish(s);
	r->ret = ret;
	r->meta = *js_meta(s);
	snprintf(r->err, sizeof(r->err), "%s", js_error(s));
	js_free(s);
	fclose(r->f);
}

static void run_free(struct run *r)
{
	free(r->out);
	memset(r, 0, sizeof(*r));
}

/* Feeds body in chunks of chunk bytes (0: at once), then finishes. */
static void run_chunked(struct run *r, enum js_mode mode, const char *body, size_t len,
			size_t chunk)
{
	struct json_stream *s;
	size_t off = 0;
	int ret = 0;

	run_begin(r, mode, &s);
	while (!ret && off < len) {
		size_t n = chunk && len - off > chunk ? chunk : len - off;

		ret = js_feed(s, body + off, n);
		off += n;
	}
	run_end(r, s, ret);
}

/* Feeds body in two pieces cut at cut. */
static void run_split(struct run *r, enum js_mode mode, const char *body, size_t len, size_t cut)
{
	struct json_stream *s;
	int ret;

	run_begin(r, mode, &s);
	ret = js_feed(s, body, cut);
	if (!ret)
		ret = js_feed(s, body + cut, len - cut);
	run_end(r, s, ret);
}

/* body in one chunk, written with ' for " */
static void run(struct run *r, enum js_mode mode, const char *body)
{
	body = J(body);
	run_chunked(r, mode, body, strlen(body), 0);
}

static void assert_same(const struct run *a, const struct run *b, const char *how, size_t at)
{
	cr_assert_eq(a->ret, b->ret, "%s %zu: ret %d, not %d (%s)", how, at, b->ret, a->ret,
		     b->err);
	cr_assert_str_eq(b->out, a->out, "%s %zu", how, at);
	cr_assert(!memcmp(&a->meta, &b->meta, sizeof(a->meta)), "%s %zu: meta differs", how, at);
}

/* The one-chunk parse is the reference for every other chunking. body and
 * expect are written with ' for ". */
static void assert_any_chunking(enum js_mode mode, const char *body, const char *expect)
{
	struct run ref = {0}, r = {0};
	size_t len, i;

	body = J(body);
	expect = J(expect);
	len = strlen(body);
	run_chunked(&ref, mode, body, len, 0);
	cr_assert_eq(ref.ret, 0, "%s", ref.err);
	cr_assert_str_eq(ref.out, expect);
	for (i = 0; i <= len; i++) {
		run_split(&r, mode, body, len, i);
		assert_same(&ref, &r, "cut at", i);
		run_free(&r);
	}
	for (i = 1; i <= 7; i += 6) { /* byte at a time, and 7 at a time */
		run_chunked(&r, mode, body, len, i);
		assert_same(&ref, &r, "chunks of", i);
		run_free(&r);
	}
	run_free(&ref);
}

/* ---- chunking ---- */

static const char list_body[] =
	"{'kind':'PodList','apiVersion':'v1','metadata':{'resourceVersion':'12345',"
	"'continue':'eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTJ9','remainingItemCount':17},"
	"'items':[\n"
	" {'metadata':{'name':'web-1','namespace':'default',"
	"'labels':{'app':'web','tier':'caf\\u00e9 \\u4e2d \\ud83d\\ude00'},"
	"'managedFields':[{'manager':'kubectl','fieldsV1':{'f:metadata':{'f:labels':"
	"{'.':{},'f:app':{}}}},'time':'2024-01-01T00:00:00Z'},"
	"{'weird':'a]}\\\\\\'[{','k:{\\'uid\\':\\'1\\'}':[{},[]],'e':'\\\\'}],"
	"'ownerReferences':[{'kind':'ReplicaSet','controller':true,'blockOwnerDeletion':"
	"false}]},"
	"'spec':{'containers':[{'name':'c','ports':[{'containerPort':80,"
	"'protocol':'TCP'},{'containerPort':8443}]}],'nodeName':null,"
	"'tolerations':[],'securityContext':{}},"
	"'status':{'podIPs':[{'ip':'10.0.0.1'},{'ip':'fd00::1'}],'ratio':-1.5e3,"
	"'zero':0,'nul':'a\\u0000b','esc':'q\\'\\\\\\/\\b\\f\\n\\r\\t'}},\n"
	" {'metadata':{'name':'empty','managedFields':null}},\n"
	" {'metadata':{'managedFields':'odd','name':'x'},'spec':{'a':[[],[{}],[[1]]]}},\n"
	" {}\n"
	"],'extra':{'after':[1,2]}}";

static const char list_expect[] =
	"- {'metadata':{'name':'web-1','namespace':'default','labels':{'app':'web',"
	"'tier':'caf\\xc3\\xa9 \\xe4\\xb8\\xad \\xf0\\x9f\\x98\\x80'},"
	"'ownerReferences':[{'kind':'ReplicaSet','controller':true,"
	"'blockOwnerDeletion':false}]},"
	"'spec':{'containers':[{'name':'c','ports':[{'containerPort':80,"
	"'protocol':'TCP'},{'containerPort':8443}]}],'nodeName':null,'tolerations':[],"
	"'securityContext':{}},"
	"'status':{'podIPs':[{'ip':'10.0.0.1'},{'ip':'fd00::1'}],'ratio':-1.5e3,"
	"'zero':0,'nul':'a\\x00b','esc':'q\\x22\\x5c/\\x08\\x0c\\x0a\\x0d\\x09'}}\n"
	"- {'metadata':{'name':'empty'}}\n"
	"- {'metadata':{'name':'x'},'spec':{'a':[[],[{}],[[1]]]}}\n"
	"- {}\n";

Test(json_stream, list_any_chunking)
{
	struct run r = {0};

	assert_any_chunking(JS_LIST, list_body, list_expect);
	run(&r, JS_LIST, list_body);
	cr_assert_str_eq(r.meta.kind, "PodList");
	cr_assert_str_eq(r.meta.resource_version, "12345");
	cr_assert_str_eq(r.meta.cont, "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTJ9");
	cr_assert_eq(r.meta.remaining, 17);
	cr_assert_eq(r.meta.code, 0);
	cr_assert_str_eq(r.meta.reason, "");
	cr_assert_str_eq(r.err, "");
	run_free(&r);
}

static const char watch_body[] =
	"{'type':'ADDED','object':{'kind':'Pod','metadata':{'name':'a',"
	"'resourceVersion':'101','managedFields':[{'x':[1,{'y':null}]}]},'spec':{}}}\n"
	"{'object':{'kind':'Pod','metadata':{'name':'b'},'n':[true,false,null,2.5]},"
	"'type':'MODIFIED'}"
	"{'type':'DELETED','object':{'metadata':{'name':'\\u0062'}}}\r\n  \t"
	"{'type':'BOOKMARK','object':{'kind':'Pod','apiVersion':'v1','metadata':"
	"{'resourceVersion':'200','annotations':{'k8s.io/initial-events-end':'true'}}}}\n"
	"{'type':'ERROR','object':{'kind':'Status','apiVersion':'v1','metadata':{},"
	"'status':'Failure','message':'too old resource version: 1 (2)',"
	"'reason':'Expired','code':410}}\n";

static const char watch_expect[] =
	"ADDED {'kind':'Pod','metadata':{'name':'a','resourceVersion':'101'},"
	"'spec':{}}\n"
	"MODIFIED {'kind':'Pod','metadata':{'name':'b'},'n':[true,false,null,2.5]}\n"
	"DELETED {'metadata':{'name':'b'}}\n"
	"BOOKMARK {'kind':'Pod','apiVersion':'v1','metadata':{'resourceVersion':'200',"
	"'annotations':{'k8s.io/initial-events-end':'true'}}}\n"
	"ERROR {'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
	"'message':'too old resource version: 1 (2)','reason':'Expired','code':410}\n";

Test(json_stream, watch_any_chunking)
{
	struct run r = {0};

	assert_any_chunking(JS_WATCH, watch_body, watch_expect);
	run(&r, JS_WATCH, watch_body);
	cr_assert_eq(r.meta.remaining, -1, "a watch has no list metadata");
	cr_assert_str_eq(r.meta.kind, "");
	run_free(&r);
}

/* A watch body may end between events, and may have none. */
Test(json_stream, watch_ends_between_events)
{
	static const char *const ok[] = {"", " \n", "{'type':'ADDED','object':{}}",
					 "{'type':'ADDED','object':{}}\n\n"};
	struct run r = {0};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		run(&r, JS_WATCH, ok[i]);
		cr_assert_eq(r.ret, 0, "'%s': %s", ok[i], r.err);
		run_free(&r);
	}
}

/* Every proper prefix of a body is truncated: js_finish says so. */
Test(json_stream, truncated_body)
{
	const char *body = J(list_body);
	size_t len = strlen(body), i;
	struct run r = {0};

	for (i = 0; i < len; i++) {
		run_chunked(&r, JS_LIST, body, i, 0);
		cr_assert_eq(r.ret, -EINVAL, "prefix of %zu bytes: %d", i, r.ret);
		cr_assert(strstr(r.err, "truncated") || strstr(r.err, "malformed"), "%zu: %s", i,
			  r.err);
		run_free(&r);
	}
	run(&r, JS_WATCH, "{'type':'ADDED','object':{}}\n{'type':'ADDED','obj");
	cr_assert_eq(r.ret, -EINVAL);
	cr_assert_str_eq(r.out, "ADDED {}\n", "the complete event was delivered");
	cr_assert(strstr(r.err, "truncated"), "%s", r.err);
	run_free(&r);
	run(&r, JS_WATCH, "{'type':'ADDED','object':{'a':tru");
	cr_assert_eq(r.ret, -EINVAL, "%s", r.err);
	run_free(&r);
	/* cut inside a string between events: no value was begun for yajl */
	run(&r, JS_WATCH, "{'type':'ADDED','object':{}}\n'abc");
	cr_assert_eq(r.ret, -EINVAL, "%s", r.err);
	cr_assert(strstr(r.err, "truncated"), "%s", r.err);
	run_free(&r);
}

/* ---- errors ---- */

/* body (written with ' for ") fails saying what. */
static void assert_error(enum js_mode mode, const char *body, const char *what)
{
	struct run r = {0};

	run(&r, mode, body);
	cr_assert_eq(r.ret, -EINVAL, "%s: ret %d", body, r.ret);
	cr_assert(strstr(r.err, what), "%s: '%s' does not say '%s'", body, r.err, what);
	cr_assert(!strncmp(r.err, "test: byte ", 11), "%s", r.err);
	run_free(&r);
}

Test(json_stream, malformed)
{
	assert_error(JS_LIST, "{'a':}", "malformed JSON");
	assert_error(JS_LIST, "{'a' 1}", "malformed JSON");
	assert_error(JS_LIST, "{'items':[{},]}", "malformed JSON");
	assert_error(JS_LIST, "{'a':tru}", "malformed JSON");
	assert_error(JS_LIST, "{'a':01}", "malformed JSON");
	assert_error(JS_LIST, "{'a':'\xff'}", "malformed JSON");
	assert_error(JS_LIST, "{a:1}", "malformed JSON");
	assert_error(JS_LIST, "{'a':'\t'}", "malformed JSON");
	assert_error(JS_LIST, "{} x", "malformed JSON");
	assert_error(JS_LIST, "{}{}", "malformed JSON");
	assert_error(JS_WATCH, "{'type':'ADDED','object':{}} ]", "malformed JSON");
}

Test(json_stream, not_objects)
{
	assert_error(JS_LIST, "[]", "the body is an array, not an object");
	assert_error(JS_LIST, "'x'", "the body is a scalar");
	assert_error(JS_LIST, "42", "the body is a scalar");
	assert_error(JS_LIST, "", "truncated");
	assert_error(JS_LIST, "{'items':{}}", "items is an object, not an array");
	assert_error(JS_LIST, "{'items':'x'}", "items is a scalar, not an array");
	assert_error(JS_LIST, "{'items':[{},1]}", "items[1] is a scalar, not an object");
	assert_error(JS_LIST, "{'items':[{},{},[]]}", "items[2] is an array, not an object");
	assert_error(JS_LIST, "{'items':[null]}", "items[0] is a scalar");
	assert_error(JS_WATCH, "[]", "a watch event is an array, not an object");
	assert_error(JS_WATCH, "{'type':'ADDED','object':{}} 1", "a watch event is a scalar");
	assert_error(JS_WATCH, "{'object':{}}", "without a type");
	assert_error(JS_WATCH, "{'type':1,'object':{}}", "without a type");
	assert_error(JS_WATCH, "{'type':'ADDED'}", "object is missing");
	assert_error(JS_WATCH, "{'type':'ADDED','object':[]}", "object is an array");
}

/* items may be null (an empty list as Go encodes a nil slice), or absent. */
Test(json_stream, empty_lists)
{
	static const char *const bodies[] = {
		"{'kind':'PodList','items':[]}",
		"{'kind':'PodList','items':null}",
		"{'kind':'PodList'}",
	};
	struct run r = {0};
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		run(&r, JS_LIST, bodies[i]);
		cr_assert_eq(r.ret, 0, "%s: %s", bodies[i], r.err);
		cr_assert_str_eq(r.out, "");
		cr_assert_str_eq(r.meta.kind, "PodList");
		cr_assert_eq(r.meta.remaining, -1);
		run_free(&r);
	}
}

/* A LIST body nested n + 2 deep: the root, items, and n arrays in the item's
 * "a" (the item itself being the first). */
static char *nested(size_t n, const char *open, const char *close)
{
	size_t lo = strlen(open), lc = strlen(close), len = 0, i;
	char *b = malloc(32 + n * (lo + lc));

	cr_assert_not_null(b);
	len += (size_t)sprintf(b, "{'items':[{'a':");
	for (i = 1; i < n; i++, len += lo)
		memcpy(b + len, open, lo);
	b[len++] = '1';
	for (i = 1; i < n; i++, len += lc)
		memcpy(b + len, close, lc);
	len += (size_t)sprintf(b + len, "}]}");
	return b;
}

Test(json_stream, depth)
{
	struct run r = {0};
	char *b;

	b = nested(YT_MAX_DEPTH - 2, "[", "]"); /* 64 levels */
	run(&r, JS_LIST, b);
	cr_assert_eq(r.ret, 0, "%s", r.err);
	run_free(&r);
	free(b);
	b = nested(YT_MAX_DEPTH - 1, "{'a':", "}"); /* 65 */
	assert_error(JS_LIST, b, "nested deeper than 64 levels");
	free(b);
	b = nested(100000, "[", "]");
	assert_error(JS_LIST, b, "nested deeper than 64 levels");
	free(b);
	/* in managedFields too, though it is never built */
	assert_error(JS_LIST,
		     "{'items':[{'metadata':{'managedFields':[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		     "nested deeper");
}

static char *long_string_body(size_t len, size_t *body_len)
{
	char *b = malloc(len + 64);

	cr_assert_not_null(b);
	*body_len = (size_t)sprintf(b, "{\"items\":[{\"s\":\"");
	memset(b + *body_len, 'x', len);
	*body_len += len;
	*body_len += (size_t)sprintf(b + *body_len, "\"}]}");
	return b;
}

Test(json_stream, scalar_limit)
{
	size_t len;
	char *b = long_string_body(YT_MAX_SCALAR, &len);
	struct run r = {0};

	run_chunked(&r, JS_LIST, b, len, 0);
	cr_assert_eq(r.ret, 0, "%s", r.err);
	run_free(&r);
	run_chunked(&r, JS_LIST, b, len, 4096);
	cr_assert_eq(r.ret, 0, "%s", r.err);
	run_free(&r);
	free(b);

	b = long_string_body(YT_MAX_SCALAR + 1, &len);
	run_chunked(&r, JS_LIST, b, len, 0);
	cr_assert_eq(r.ret, -EINVAL);
	cr_assert(strstr(r.err, "string of 1048577 bytes is longer than the limit"), "%s", r.err);
	run_free(&r);
	free(b);
}

/* A string cut into many chunks is buffered by yajl before we see it: it
 * is stopped once it grows past the limit, not at its end. */
Test(json_stream, long_token_stopped_early)
{
	size_t len, off = 0;
	char *b = long_string_body(8 * YT_MAX_SCALAR, &len);
	struct json_stream *s;
	struct run r = {0};
	int ret = 0;

	run_begin(&r, JS_LIST, &s);
	for (off = 0; !ret && off < len; off += 4096)
		ret = js_feed(s, b + off, len - off < 4096 ? len - off : 4096);
	cr_assert_eq(ret, -EINVAL);
	cr_assert_lt(off, 2 * YT_MAX_SCALAR);
	run_end(&r, s, ret);
	cr_assert(strstr(r.err, "without a complete token"), "%s", r.err);
	run_free(&r);
	free(b);
}

/* One object's memory is capped (its nodes too, but the cap on bytes comes
 * first: YT_MAX_NODES nodes need more). */
Test(json_stream, object_size_limit)
{
	size_t n = 2000000, len = 0, i;
	char *b = malloc(2 * n + 64);
	struct run r = {0};

	cr_assert_not_null(b);
	len += (size_t)sprintf(b, "{\"items\":[{\"a\":[");
	for (i = 0; i < n; i++, len += 2)
		memcpy(b + len, "0,", 2);
	len += (size_t)sprintf(b + len - 1, "]}]}") - 1;
	run_chunked(&r, JS_LIST, b, len, 65536);
	cr_assert_eq(r.ret, -EINVAL);
	cr_assert(strstr(r.err, "object larger than 64 MiB"), "%s", r.err);
	run_free(&r);
	free(b);
}

/* A Status instead of a list: no items, and why in the meta. */
Test(json_stream, status_body)
{
	struct run r = {0};

	run(&r, JS_LIST,
	    "{'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
	    "'message':'pods is forbidden: User \\'x\\' cannot list resource \\'pods\\'',"
	    "'reason':'Forbidden','details':{'kind':'pods'},'code':403}");
	cr_assert_eq(r.ret, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "");
	cr_assert_str_eq(r.meta.kind, "Status");
	cr_assert_eq(r.meta.code, 403);
	cr_assert_str_eq(r.meta.reason, "Forbidden");
	cr_assert_str_eq(r.meta.message,
			 J("pods is forbidden: User 'x' cannot list resource 'pods'"));
	cr_assert_str_eq(r.meta.resource_version, "");
	cr_assert_eq(r.meta.remaining, -1);
	run_free(&r);
}

Test(json_stream, meta_limits)
{
	char body[8192];
	struct run r = {0};

	snprintf(body, sizeof(body), "{'metadata':{'continue':'%04000d%0100d'}}", 0, 0);
	assert_error(JS_LIST, body, "metadata.continue of 4100 bytes is longer than 4095");
	assert_error(JS_LIST, "{'metadata':{'remainingItemCount':'3'}}",
		     "metadata.remainingItemCount is not an integer");
	assert_error(JS_LIST, "{'code':1.5}", "code is not an integer");
	/* a long message is cut, not refused: it is only shown */
	snprintf(body, sizeof(body), "{'kind':'Status','message':'%0600d'}", 0);
	run(&r, JS_LIST, body);
	cr_assert_eq(r.ret, 0, "%s", r.err);
	cr_assert_eq(strlen(r.meta.message), sizeof(r.meta.message) - 1);
	run_free(&r);
}

Test(json_stream, callback_stops_the_feed)
{
	struct json_stream *s;
	struct run r = {.stop_at = 2};
	int ret;

	run_begin(&r, JS_LIST, &s);
	ret = js_feed(s, J(list_body), strlen(list_body));
	cr_assert_eq(ret, -ECANCELED);
	cr_assert_eq(r.n_objects, 2, "nothing after the failing call");
	cr_assert_eq(js_feed(s, "x", 1), -ECANCELED, "the stream stays failed");
	cr_assert_eq(js_finish(s), -ECANCELED);
	cr_assert(strstr(js_error(s), "items[1]: stopped by the callback"), "%s", js_error(s));
	run_end(&r, s, ret);
	run_free(&r);

	r = (struct run){.stop_at = 1};
	run(&r, JS_WATCH, watch_body);
	cr_assert_eq(r.ret, -ECANCELED);
	cr_assert_eq(r.n_objects, 1);
	run_free(&r);
}

/* Go's encoding/json: the last value of a key wins; the pair stays where
 * the key first appeared. Small and large maps take different paths. */
Test(json_stream, duplicate_keys)
{
	struct run r = {0};

	run(&r, JS_LIST, "{'items':[{'a':1,'b':2,'a':3}]}");
	cr_assert_str_eq(r.out, J("- {'a':3,'b':2}\n"));
	run_free(&r);
	run(&r, JS_LIST,
	    "{'items':[{'k0':0,'k1':1,'k2':2,'k3':3,'k4':4,'k5':5,'k6':6,"
	    "'k7':7,'k8':8,'k1':10,'k9':9,'k8':80,'k1':100}]}");
	cr_assert_str_eq(r.out, J("- {'k0':0,'k1':100,'k2':2,'k3':3,'k4':4,'k5':5,'k6':6,'k7':7,"
				  "'k8':80,'k9':9}\n"));
	run_free(&r);
	/* keys alike in length and ends are still different keys */
	run(&r, JS_LIST, "{'items':[{'axb':1,'ayb':2,'':3,'axb':4,'':5}]}");
	cr_assert_str_eq(r.out, J("- {'axb':4,'ayb':2,'':5}\n"));
	run_free(&r);
}

/* A map larger than the filter's: through the hash set. */
Test(json_stream, duplicate_keys_large_map)
{
	char body[4096], expect[4096];
	size_t b = 0, e = 0;
	struct run r = {0};
	int i;

	b += (size_t)sprintf(body + b, "{'items':[{");
	e += (size_t)sprintf(expect + e, "- {");
	for (i = 0; i < 100; i++) {
		b += (size_t)sprintf(body + b, "%s'k%d':%d", i ? "," : "", i, i);
		e += (size_t)sprintf(expect + e, "%s'k%d':%d", i ? "," : "", i,
				     i % 10 ? i : 1000 + i);
	}
	for (i = 0; i < 100; i += 10)
		b += (size_t)sprintf(body + b, ",'k%d':%d", i, 1000 + i);
	sprintf(body + b, "}]}");
	sprintf(expect + e, "}\n");
	run(&r, JS_LIST, body);
	cr_assert_eq(r.ret, 0, "%s", r.err);
	cr_assert_str_eq(r.out, J(expect));
	run_free(&r);
}

/* managedFields is skipped only in an object's own metadata, whatever its
 * value, and a key that merely ends in the name is no managedFields. */
Test(json_stream, managed_fields_only_in_metadata)
{
	assert_any_chunking(
		JS_LIST,
		"{'metadata':{'managedFields':[1]},'items':[{'managedFields':[2],"
		"'spec':{'metadata':{'managedFields':[3]}},'metadata':{'managedFields':[4],"
		"'a':{'managedFields':[5]},'x\\'managedFields':[6],"
		"'note':'\\'managedFields\\':[7'}},"
		"{'metadata':{'managedFields': [8],'b':1}},"
		"{'metadata':{'managedFields':'[9','c':1}},"
		"{'metadata':{'managedFields':{'d':[]},'e':1}},"
		"{'metadata':{'managedFields':[],'f':1}}]}",
		"- {'managedFields':[2],'spec':{'metadata':{'managedFields':[3]}},"
		"'metadata':{'a':{'managedFields':[5]},'x\\x22managedFields':[6],"
		"'note':'\\x22managedFields\\x22:[7'}}\n"
		"- {'metadata':{'b':1}}\n"
		"- {'metadata':{'c':1}}\n"
		"- {'metadata':{'e':1}}\n"
		"- {'metadata':{'f':1}}\n");
}

/* What is skipped is still checked for depth, and must end. */
Test(json_stream, managed_fields_limits)
{
	static const char *const bodies[] = {
		"{'items':[{'metadata':{'managedFields':[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		"{'items':[{'metadata':{'managedFields':[{'a':{'b':{'c':{'d':[[[[[[[[[[["
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	};
	struct run r = {0};
	size_t i, len;

	for (i = 0; i < 2; i++) {
		const char *body = J(bodies[i]);

		len = strlen(body);
		run_chunked(&r, JS_LIST, body, len, 0); /* skimmed */
		cr_assert_eq(r.ret, -EINVAL);
		cr_assert(strstr(r.err, "nested deeper than 64 levels"), "%s", r.err);
		run_free(&r);
		run_chunked(&r, JS_LIST, body, len, 1); /* parsed */
		cr_assert_eq(r.ret, -EINVAL);
		cr_assert(strstr(r.err, "nested deeper than 64 levels"), "%s", r.err);
		run_free(&r);
	}
	run(&r, JS_LIST, "{'items':[{'metadata':{'managedFields':[{'a':']}]}");
	cr_assert_eq(r.ret, -EINVAL);
	cr_assert(strstr(r.err, "truncated"), "%s", r.err);
	run_free(&r);
}

/* Columns are byte offsets + 1 (where the value starts). */
static int keep_cols(const char *type, const struct yt_node *obj, void *arg)
{
	int *cols = arg;

	cols[0] = obj->col;
	cols[1] = obj->items[0]->col;
	cols[2] = obj->items[1]->col;
	cols[3] = obj->items[3]->col;
	cols[4] = obj->items[5]->col;
	return 0;
}

Test(json_stream, columns)
{
	const char *body = J("{'items':[{'a':80,'b':'x','c':true}]}");
	struct json_stream *s;
	int cols[5], i;

	cr_assert_eq(js_new(JS_LIST, "t", keep_cols, cols, &s), 0);
	for (i = 0; body[i]; i++) /* a byte at a time: offsets add up over chunks */
		cr_assert_eq(js_feed(s, body + i, 1), 0);
	cr_assert_eq(js_finish(s), 0);
	js_free(s);
	cr_assert_eq(cols[0], (int)(strchr(body + 1, '{') - body) + 1);
	cr_assert_eq(cols[1], (int)(strstr(body, J("'a'")) - body) + 1);
	cr_assert_eq(cols[2], (int)(strstr(body, "80") - body) + 1);
	cr_assert_eq(cols[3], (int)(strstr(body, J("'x'")) - body) + 1);
	cr_assert_eq(cols[4], (int)(strstr(body, "true") - body) + 1);
}

/* ---- the trees are what the decoders expect ---- */

struct decoded {
	struct manifest_object objs[8];
	int rets[8];
	size_t n;
};

static int decode(const char *type, const struct yt_node *obj, void *arg)
{
	struct decoded *d = arg;

	cr_assert_lt(d->n, 8);
	d->rets[d->n] = manifest_decode(obj, "GET /api", &d->objs[d->n]);
	d->n++;
	return 0;
}

static void decoded_free(struct decoded *d)
{
	for (size_t i = 0; i < d->n; i++)
		manifest_object_free(&d->objs[i]);
}

/* body is written with ' for ". */
static void parse_into(enum js_mode mode, const char *body, struct decoded *d)
{
	struct json_stream *s;

	body = J(body);
	cr_assert_eq(js_new(mode, "GET /api", decode, d, &s), 0);
	cr_assert_eq(js_feed(s, body, strlen(body)), 0, "%s", js_error(s));
	cr_assert_eq(js_finish(s), 0, "%s", js_error(s));
	js_free(s);
}

Test(json_stream, pods_decode)
{
	/* kubectl's List output names each item's kind; the API's PodList
	 * items do not, and the caller supplies it. */
	static const char body[] =
		"{'kind':'PodList','apiVersion':'v1','metadata':{'resourceVersion':'9'},"
		"'items':[{'kind':'Pod','apiVersion':'v1','metadata':{'name':'web-1',"
		"'namespace':'shop','labels':{'app':'web','version':'1'},"
		"'managedFields':[{'manager':'m','fieldsV1':{'f:spec':{}}}],"
		"'creationTimestamp':'2024-01-01T00:00:00Z'},"
		"'spec':{'nodeName':'n1','containers':[{'name':'c','ports':["
		"{'name':'http','containerPort':8080,'protocol':'TCP'},"
		"{'containerPort':53,'protocol':'UDP'}]}]},"
		"'status':{'phase':'Running','podIP':'10.1.0.5','podIPs':[{'ip':"
		"'10.1.0.5'},{'ip':'fd00::5'}],'hostIP':'192.168.0.1'}},"
		"{'kind':'Pod','apiVersion':'v1','metadata':{'name':'bad',"
		"'namespace':'shop'},'spec':{'containers':[{'name':'c','ports':["
		"{'containerPort':'80'}]}]}}]}";
	struct decoded d = {0};
	const struct np_pod *p;

	parse_into(JS_LIST, body, &d);
	cr_assert_eq(d.n, 2);
	cr_assert_eq(d.rets[0], 1);
	cr_assert_eq(d.objs[0].kind, MANIFEST_POD);
	p = &d.objs[0].u.pod;
	cr_assert_str_eq(p->ns, "shop");
	cr_assert_str_eq(p->name, "web-1");
	cr_assert_str_eq(labels_get(&p->labels, "app"), "web");
	cr_assert_str_eq(labels_get(&p->labels, "version"), "1");
	cr_assert_str_eq(p->node, "n1");
	cr_assert_eq(p->n_addrs, 2);
	cr_assert_eq(p->addrs[0].family, 4);
	cr_assert_eq(p->addrs[1].family, 6);
	cr_assert_eq(p->n_ports, 2);
	cr_assert_str_eq(p->ports[0].name, "http");
	cr_assert_eq(p->ports[0].port, 8080);
	cr_assert_eq(p->ports[1].port, 53);
	cr_assert_eq(p->ports[1].proto, IPPROTO_UDP);
	cr_assert_eq(p->loc.line, 1);
	cr_assert_gt(p->loc.col, 1);
	/* a quoted "80" stays a string: not a containerPort */
	cr_assert_eq(d.rets[1], -EINVAL);
	decoded_free(&d);
}

Test(json_stream, policies_decode)
{
	static const char body[] =
		"{'type':'ADDED','object':{'kind':'NetworkPolicy','apiVersion':"
		"'networking.k8s.io/v1','metadata':{'name':'allow-web','namespace':'shop',"
		"'managedFields':[{'manager':'kubectl'}],'generation':1},"
		"'spec':{'podSelector':{'matchLabels':{'app':'web'}},"
		"'ingress':[{'from':[{'podSelector':{'matchLabels':{'role':'fe'}},"
		"'namespaceSelector':{}},{'ipBlock':{'cidr':'10.0.0.0/8','except':"
		"['10.1.0.0/16']}}],'ports':[{'port':80},{'port':'http','protocol':'TCP'},"
		"{'port':9000,'endPort':9100,'protocol':'UDP'}]}],"
		"'policyTypes':['Ingress']}}}\n"
		"{'type':'MODIFIED','object':{'kind':'NetworkPolicy','apiVersion':"
		"'networking.k8s.io/v1','metadata':{'name':'p','namespace':'shop'},"
		"'spec':{'podSelector':{},'ingress':[{'ports':[{'port':'80'}]}]}}}\n";
	struct decoded d = {0};
	const struct np_policy *p;
	const struct np_rule *rule;

	parse_into(JS_WATCH, body, &d);
	cr_assert_eq(d.n, 2);
	cr_assert_eq(d.rets[0], 1);
	cr_assert_eq(d.objs[0].kind, MANIFEST_POLICY);
	p = &d.objs[0].u.policy;
	cr_assert_str_eq(p->name, "allow-web");
	cr_assert_str_eq(labels_get(&p->pod_sel.match, "app"), "web");
	cr_assert(p->types[NP_INGRESS]);
	cr_assert(!p->types[NP_EGRESS]);
	cr_assert_eq(p->n_rules[NP_INGRESS], 1);
	rule = &p->rules[NP_INGRESS][0];
	cr_assert_eq(rule->n_peers, 2);
	cr_assert(rule->peers[0].has_pod_sel && rule->peers[0].has_ns_sel);
	cr_assert_str_eq(labels_get(&rule->peers[0].pod_sel.match, "role"), "fe");
	cr_assert(rule->peers[1].has_ipblock);
	cr_assert_eq(rule->peers[1].ipblock.cidr.plen, 8);
	cr_assert_eq(rule->peers[1].ipblock.n_except, 1);
	cr_assert_eq(rule->n_ports, 3);
	cr_assert_eq(rule->ports[0].port, 80, "a JSON number is an int");
	cr_assert_null(rule->ports[0].name);
	cr_assert_str_eq(rule->ports[1].name, "http");
	cr_assert_eq(rule->ports[2].port, 9000);
	cr_assert_eq(rule->ports[2].end_port, 9100);
	cr_assert_eq(rule->ports[2].proto, IPPROTO_UDP);
	/* "80" as a string is a port name, and not a valid one */
	cr_assert_eq(d.rets[1], -EINVAL);
	decoded_free(&d);
}

/* ---- throughput ---- */

/* A pod as the API server sends it, about 2.3 KB of which managedFields is
 * a third. */
static size_t bench_pod(char *b, size_t size, unsigned i)
{
	return (size_t)snprintf(
		b, size,
		"{\"metadata\":{\"name\":\"web-%u-7d4b9c8f6d-x%05u\","
		"\"generateName\":\"web-%u-7d4b9c8f6d-\",\"namespace\":\"ns-%u\","
		"\"uid\":\"6f1c2a3e-%04x-4e5f-9a8b-%012u\",\"resourceVersion\":\"%u\","
		"\"creationTimestamp\":\"2024-05-01T10:00:00Z\",\"labels\":{\"app\":\"web-%u\","
		"\"pod-template-hash\":\"7d4b9c8f6d\",\"tier\":\"frontend\","
		"\"version\":\"v1.2.3\"},"
		"\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":\"2024-05-01T09:59:00Z\"},"
		"\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
		"\"name\":\"web-%u-7d4b9c8f6d\",\"uid\":\"0a1b2c3d-0000-4000-8000-000000000000\","
		"\"controller\":true,\"blockOwnerDeletion\":true}],"
		"\"managedFields\":[{\"manager\":\"kube-controller-manager\","
		"\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"2024-05-01T10:00:00Z\","
		"\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:generateName\":{},"
		"\"f:labels\":{\".\":{},\"f:app\":{},\"f:pod-template-hash\":{}},"
		"\"f:ownerReferences\":{\".\":{},"
		"\"k:{\\\"uid\\\":\\\"0a1b2c3d-0000-4000-8000-000000000000\\\"}\":{}}},"
		"\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},"
		"\"f:image\":{},\"f:imagePullPolicy\":{},\"f:name\":{},\"f:ports\":{\".\":{},"
		"\"k:{\\\"containerPort\\\":8080,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"
		"\"f:containerPort\":{},\"f:name\":{},\"f:protocol\":{}}},\"f:resources\":{}}}}}},"
		"{\"manager\":\"kubelet\",\"operation\":\"Update\",\"apiVersion\":\"v1\","
		"\"time\":\"2024-05-01T10:00:05Z\",\"fieldsType\":\"FieldsV1\","
		"\"fieldsV1\":{\"f:status\":{\"f:conditions\":{},\"f:containerStatuses\":{},"
		"\"f:hostIP\":{},\"f:phase\":{},\"f:podIP\":{},\"f:podIPs\":{\".\":{},"
		"\"k:{\\\"ip\\\":\\\"10.%u.%u.%u\\\"}\":{}}}},\"subresource\":\"status\"}]},"
		"\"spec\":{\"containers\":[{\"name\":\"web\","
		"\"image\":\"registry.example.com/web:1.2.3\",\"ports\":[{\"name\":\"http\","
		"\"containerPort\":8080,\"protocol\":\"TCP\"},{\"name\":\"metrics\","
		"\"containerPort\":9090,\"protocol\":\"TCP\"}],"
		"\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"}},"
		"\"terminationMessagePath\":\"/dev/termination-log\","
		"\"imagePullPolicy\":\"IfNotPresent\"}],\"restartPolicy\":\"Always\","
		"\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\","
		"\"serviceAccountName\":\"default\",\"nodeName\":\"node-%u\","
		"\"securityContext\":{},\"schedulerName\":\"default-scheduler\","
		"\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\","
		"\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],"
		"\"priority\":0,\"enableServiceLinks\":true,"
		"\"preemptionPolicy\":\"PreemptLowerPriority\"},\"status\":{\"phase\":\"Running\","
		"\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastProbeTime\":null,"
		"\"lastTransitionTime\":\"2024-05-01T10:00:05Z\"}],\"hostIP\":\"192.168.%u.%u\","
		"\"hostIPs\":[{\"ip\":\"192.168.%u.%u\"}],\"podIP\":\"10.%u.%u.%u\","
		"\"podIPs\":[{\"ip\":\"10.%u.%u.%u\"}],\"startTime\":\"2024-05-01T10:00:00Z\","
		"\"containerStatuses\":[{\"name\":\"web\","
		"\"state\":{\"running\":{\"startedAt\":\"2024-05-01T10:00:04Z\"}},\"ready\":true,"
		"\"restartCount\":0,\"image\":\"registry.example.com/web:1.2.3\","
		"\"started\":true}],\"qosClass\":\"Burstable\"}}",
		i % 500, i, i % 500, i % 50, i & 0xffff, i, 100000 + i, i % 500, i % 500, i >> 16,
		(i >> 8) & 255, i & 255, i % 100, i % 100, i / 256 % 256, i % 100, i / 256 % 256,
		i >> 16, (i >> 8) & 255, i & 255, i >> 16, (i >> 8) & 255, i & 255);
}

/* Under the sanitizers the figure means nothing: keep the test short. */
#ifdef __SANITIZE_ADDRESS__
#define BENCH_PODS 5000
#else
#define BENCH_PODS 50000
#endif

struct bench {
	size_t objects;
	size_t labels;
};

static int bench_fn(const char *type, const struct yt_node *obj, void *arg)
{
	struct bench *b = arg;
	const struct yt_node *labels = yt_map_get(yt_map_get(obj, "metadata"), "labels");

	b->objects++;
	b->labels += labels ? labels->n / 2 : 0;
	return 0;
}

static double now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints (on stdout: run the test's binary alone, criterion's TAP output
 * drops it) MB/s for a 50,000-pod LIST fed in 64 KiB chunks (as curl hands
 * them over), by the clock and by CPU time (the figure that holds on a
 * loaded machine), the heap the stream holds at the end of the body (its
 * arena and stacks: constant, whatever the body's size) and the process's
 * peak RSS; asserts correctness and that constant heap only. Set
 * JS_BENCH_PODS to change the count, JS_BENCH_OUT=FILE to keep the body. */
Test(json_stream, bench_pod_list, .timeout = 120)
{
	const char *env = getenv("JS_BENCH_PODS");
	unsigned i, n_pods = env ? (unsigned)atoi(env) : BENCH_PODS;
	size_t cap = (size_t)n_pods * 3000 + 256, len = 0, off;
	char *body = malloc(cap);
	struct bench b = {0};
	struct json_stream *s;
	struct rusage ru_before, ru;
	double t, cpu, best = 1e9, best_cpu = 1e9;
	size_t heap0, heap = 0;
	int round;

	cr_assert_not_null(body);
	len += (size_t)sprintf(body, "%s",
			       J("{'kind':'PodList','apiVersion':'v1','metadata':"
				 "{'resourceVersion':'123456'},'items':["));
	for (i = 0; i < n_pods; i++) {
		len += bench_pod(body + len, cap - len, i);
		body[len++] = i + 1 < n_pods ? ',' : ']';
	}
	len += (size_t)sprintf(body + len, "}");
	if (getenv("JS_BENCH_OUT")) { /* to compare other parsers on it */
		FILE *f = fopen(getenv("JS_BENCH_OUT"), "w");

		cr_assert(f && fwrite(body, 1, len, f) == len && !fclose(f));
	}
	getrusage(RUSAGE_SELF, &ru_before);
	for (round = 0; round < 3; round++) {
		b = (struct bench){0};
		heap0 = mallinfo2().uordblks;
		cr_assert_eq(js_new(JS_LIST, "bench", bench_fn, &b, &s), 0);
		t = now(CLOCK_MONOTONIC);
		cpu = now(CLOCK_THREAD_CPUTIME_ID);
		for (off = 0; off < len; off += 65536)
			cr_assert_eq(js_feed(s, body + off, len - off < 65536 ? len - off : 65536),
				     0);
		cr_assert_eq(js_finish(s), 0, "%s", js_error(s));
		cpu = now(CLOCK_THREAD_CPUTIME_ID) - cpu;
		t = now(CLOCK_MONOTONIC) - t;
		best = t < best ? t : best;
		best_cpu = cpu < best_cpu ? cpu : best_cpu;
		heap = mallinfo2().uordblks - heap0;
		js_free(s);
		cr_assert_lt(heap, 1 << 20, "the stream holds %zu bytes", heap);
		cr_assert_eq(b.objects, n_pods);
		cr_assert_eq(b.labels, 4 * (size_t)n_pods);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("# json_stream: %u pods, %.1f MB (%.0f bytes/pod): %.0f MB/s, %.0f MB/s of CPU "
	       "time (best of 3); the stream's heap %zu KiB; peak RSS %ld MiB with the %.0f MiB "
	       "body (%ld MiB before parsing)\n",
	       n_pods, (double)len / 1e6, (double)len / n_pods, (double)len / 1e6 / best,
	       (double)len / 1e6 / best_cpu, heap >> 10, ru.ru_maxrss / 1024, (double)len / 1048576,
	       ru_before.ru_maxrss / 1024);
	free(body);
}
