/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API server's JSON as a stream of yaml_tree objects (json_stream.h),
 * over yajl's callback parser.
 *
 * Every top-level value is built as a tree, the way yaml_tree builds a
 * document: open collections are frames, finished children wait on one item
 * stack until their parent closes. Two exceptions keep memory at one object:
 * the elements of a LIST's "items" are handed to fn as each completes and
 * their memory rolled back (the array itself stays empty in the root), and
 * an object's metadata.managedFields is never built (and mostly not even
 * parsed: see js_skim).
 *
 * Nodes, item arrays and strings live in an arena of chunks: allocation is a
 * pointer bump and dropping an object is a rollback, its chunks kept for the
 * next one.
 */
#include "json_stream.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* One object's arena may not grow beyond this: a pod is a few KiB, the
 * largest legitimate objects (a pod with 256 KiB of annotations) well under
 * a MiB, so 64 MiB is a broken or hostile server. */
#define JS_MAX_OBJECT_BYTES ((uint64_t)64 << 20)
#define JS_CHUNK	    ((size_t)64 << 10)
/* Spare chunks kept between objects: enough for any ordinary object, so the
 * arena is not refilled from malloc each time; a huge one is given back. */
#define JS_KEEP_SPARE ((size_t)1 << 20)
/* Maps up to this many pairs look for duplicate keys through a 64-bit
 * filter; larger ones through a hash set, so that a hostile map of many
 * keys alike cannot cost quadratic time. */
#define JS_SMALL_MAP 32

struct js_chunk {
	struct js_chunk *next;
	size_t cap, used;
	uint64_t data[]; /* every allocation is 8-byte aligned */
};

/* A point to roll the arena and the object's budgets back to. */
struct js_mark {
	struct js_chunk *chunk;
	size_t used;
	uint64_t nodes, bytes;
};

/* What an open collection is, for the few that are treated specially. */
enum js_role {
	JS_PLAIN,
	JS_ROOT,	/* a top-level value: a LIST body or a watch event */
	JS_ITEMS,	/* a LIST's "items": elements are emitted, not kept */
	JS_OBJECT,	/* an object handed to fn */
	JS_OBJECT_META, /* its metadata, where managedFields is skipped */
};

struct js_frame {
	struct yt_node *node;
	size_t base;	/* where its items start on the stack */
	uint64_t nodes; /* the object's node count once this one was counted */
	enum js_role role;
};

/* Skipping a managedFields array without yajl (js_skim): where we are in
 * it. */
struct js_skim {
	bool on;
	bool in_str, esc;
	int depth;
};

struct json_stream {
	enum js_mode mode;
	char *name;
	js_object_fn fn;
	void *arg;
	yajl_handle h;

	struct js_frame frames[YT_MAX_DEPTH];
	int depth; /* open collections, skipped ones included */
	/* Skipping managedFields: skip_value for the value after its key,
	 * skip the depth of the skipped collection (0: not skipping). */
	bool skip_value;
	int skip;

	struct yt_node **stack; /* finished items of the open collections */
	size_t n_stack, cap_stack;
	uint32_t *keyset; /* scratch for duplicate keys: pair index + 1 */
	size_t cap_keyset;

	struct js_chunk *first, *cur; /* arena; chunks after cur are spare */
	uint64_t nodes, bytes;	      /* the current object's budgets */
	struct js_mark item_mark;     /* the arena before the current item */
	size_t n_items;		      /* items emitted so far, for messages */

	uint64_t base;	     /* stream offset of what yajl is parsing */
	uint64_t pos;	     /* stream offset where the parser is, for messages */
	uint64_t last_token; /* stream offset after the last token */
	struct js_skim skim;
	bool skim_next;		 /* skim managedFields if its value starts with '[' */
	unsigned char last_byte; /* of the body so far */
	bool root_done;		 /* JS_LIST: the body's object is complete */
	bool finished;

	struct js_meta meta;
	int err;
	char msg[512];
};

/* ---- errors ---- */

static int js_fail(struct json_stream *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error: the stream stops there. */
static int js_fail(struct json_stream *s, int err, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	if (s->err)
		return s->err;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(s->msg, sizeof(s->msg), "%s: byte %llu: %s", s->name, (unsigned long long)s->pos,
		 what);
	s->err = err;
	return err;
}

static int js_nomem(struct json_stream *s)
{
	return js_fail(s, -ENOMEM, "out of memory");
}

/* ---- arena ---- */

static void *js_alloc_slow(struct json_stream *s, size_t size)
{
	struct js_chunk *c = s->cur ? s->cur->next : s->first;

	if (!c || c->cap < size) {
		size_t cap = size > JS_CHUNK ? size : JS_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		/* Before the spares: one too small for this stays for later. */
		c->next = s->cur ? s->cur->next : s->first;
		if (s->cur)
			s->cur->next = c;
		else
			s->first = c;
	}
	c->used = size;
	s->cur = c;
	return c->data;
}

/* size bytes for the current object, or NULL after recording why. */
static inline void *js_alloc(struct json_stream *s, size_t size)
{
	struct js_chunk *c = s->cur;
	void *ret;

	size = (size + 7) & ~(size_t)7;
	s->bytes += size;
	if (s->bytes > JS_MAX_OBJECT_BYTES) {
		js_fail(s, -EINVAL, "object larger than %llu MiB",
			(unsigned long long)(JS_MAX_OBJECT_BYTES >> 20));
		return NULL;
	}
	if (!c || c->cap - c->used < size) {
		ret = js_alloc_slow(s, size);
		if (!ret)
			js_nomem(s);
		return ret;
	}
	ret = (char *)c->data + c->used;
	c->used += size;
	return ret;
}

static struct js_mark js_arena_mark(const struct json_stream *s)
{
	return (struct js_mark){s->cur, s->cur ? s->cur->used : 0, s->nodes, s->bytes};
}

/* Drops what was allocated since mark. Spare chunks are kept up to
 * JS_KEEP_SPARE, so one huge object does not pin its memory. */
static void js_arena_rollback(struct json_stream *s, const struct js_mark *m)
{
	struct js_chunk **link, *c;
	size_t kept = 0;

	s->cur = m->chunk;
	if (s->cur)
		s->cur->used = m->used;
	s->nodes = m->nodes;
	s->bytes = m->bytes;
	link = s->cur ? &s->cur->next : &s->first;
	while ((c = *link)) {
		if (kept + c->cap <= JS_KEEP_SPARE) {
			kept += c->cap;
			link = &c->next;
		} else {
			*link = c->next;
			free(c);
		}
	}
}

static void js_arena_free(struct json_stream *s)
{
	struct js_mark empty = {0};

	js_arena_rollback(s, &empty);
	while (s->first) {
		struct js_chunk *next = s->first->next;

		free(s->first);
		s->first = next;
	}
}

/* ---- building ---- */

static inline int js_charge(struct json_stream *s)
{
	if (++s->nodes <= YT_MAX_NODES)
		return 0;
	return js_fail(s, -EINVAL, "object too large: more than %u nodes", YT_MAX_NODES);
}

static int js_grow_stack(struct json_stream *s)
{
	size_t cap = s->cap_stack ? s->cap_stack * 2 : 256;
	struct yt_node **p = realloc(s->stack, cap * sizeof(*p));

	if (!p)
		return js_nomem(s);
	s->stack = p;
	s->cap_stack = cap;
	return 0;
}

static inline int js_push(struct json_stream *s, struct yt_node *n)
{
	if (s->n_stack == s->cap_stack && js_grow_stack(s))
		return s->err;
	s->stack[s->n_stack++] = n;
	return 0;
}

/* Columns are stream byte offsets (line is always 1): the API server sends
 * each object on one line, and an offset finds it in a saved body. */
static int js_col(uint64_t start)
{
	return start >= INT_MAX ? INT_MAX : (int)start + 1;
}

/* A scalar node with its text copied after it. raw is the token's length in
 * the input, to find where it started (for a string with escapes the
 * decoded text is shorter, and the column lands inside the string). */
static struct yt_node *js_scalar_node(struct json_stream *s, const char *str, size_t len,
				      bool quoted, size_t raw)
{
	uint64_t end = s->pos;
	struct yt_node *n;
	char *text;

	if (len > YT_MAX_SCALAR) {
		js_fail(s, -EINVAL, "%s of %zu bytes is longer than the limit of %u",
			quoted ? "string" : "number", len, YT_MAX_SCALAR);
		return NULL;
	}
	if (js_charge(s))
		return NULL;
	n = js_alloc(s, sizeof(*n) + len + 1);
	if (!n)
		return NULL;
	text = (char *)(n + 1);
	memcpy(text, str, len);
	text[len] = '\0';
	*n = (struct yt_node){
		.str = text,
		.len = (uint32_t)len,
		.line = 1,
		.col = js_col(end >= raw ? end - raw : 0),
		.weight = 1,
		.kind = YT_SCALAR,
		.quoted = quoted,
	};
	return n;
}

static bool js_is(const struct yt_node *n, const char *word)
{
	size_t len = strlen(word);

	return n->kind == YT_SCALAR && n->len == len && !memcmp(n->str, word, len);
}

static const char *js_kind_name(enum yt_kind kind)
{
	return kind == YT_MAP ? "an object" : kind == YT_SEQ ? "an array" : "a scalar";
}

/* The key the value now starting belongs to, or NULL outside a map. */
static const struct yt_node *js_pending_key(const struct json_stream *s)
{
	const struct js_frame *top = &s->frames[s->depth - 1];

	if (top->node->kind != YT_MAP || s->n_stack == top->base)
		return NULL;
	return s->stack[s->n_stack - 1];
}

/* Checks a value about to start where its place demands a kind, and says
 * what a collection starting there is. null may stand for an empty items. */
static int js_place(struct json_stream *s, enum yt_kind kind, bool is_null, enum js_role *role)
{
	const struct js_frame *top;
	const struct yt_node *key;

	*role = JS_PLAIN;
	if (!s->depth) {
		*role = JS_ROOT;
		if (kind == YT_MAP)
			return 0;
		return js_fail(s, -EINVAL, "%s is %s, not an object",
			       s->mode == JS_LIST ? "the body" : "a watch event",
			       js_kind_name(kind));
	}
	top = &s->frames[s->depth - 1];
	if (top->role == JS_ITEMS) {
		*role = JS_OBJECT;
		if (kind == YT_MAP)
			return 0;
		return js_fail(s, -EINVAL, "items[%zu] is %s, not an object", s->n_items,
			       js_kind_name(kind));
	}
	key = js_pending_key(s);
	if (!key)
		return 0;
	if (top->role == JS_ROOT && s->mode == JS_LIST && js_is(key, "items")) {
		*role = JS_ITEMS;
		if (kind == YT_SEQ || is_null)
			return 0;
		return js_fail(s, -EINVAL, "items is %s, not an array", js_kind_name(kind));
	}
	if (top->role == JS_ROOT && s->mode == JS_WATCH && js_is(key, "object"))
		*role = JS_OBJECT; /* not a map: the event is refused once complete */
	else if (top->role == JS_OBJECT && js_is(key, "metadata"))
		*role = JS_OBJECT_META;
	return 0;
}

static int js_root_done(struct json_stream *s, struct yt_node *root);

/* Hands an item of a LIST to fn, then forgets it. */
static int js_emit_item(struct json_stream *s, struct yt_node *n)
{
	int ret = s->fn(NULL, n, s->arg);

	js_arena_rollback(s, &s->item_mark);
	s->n_items++;
	if (ret < 0)
		return js_fail(s, ret, "items[%zu]: stopped by the callback: %s", s->n_items - 1,
			       strerror(-ret));
	return 0;
}

/* A finished node goes to its parent, or is a whole top-level value. */
static int js_attach(struct json_stream *s, struct yt_node *n)
{
	if (!s->depth)
		return js_root_done(s, n);
	if (s->frames[s->depth - 1].role == JS_ITEMS)
		return js_emit_item(s, n);
	return js_push(s, n);
}

static int js_on_scalar(struct json_stream *s, const char *str, size_t len, bool quoted, size_t raw)
{
	enum js_role role;
	struct yt_node *n;
	int err;

	if (s->skip)
		return 0;
	if (s->skip_value) {
		s->skip_value = false;
		return 0;
	}
	err = js_place(s, YT_SCALAR, !quoted && len == 4 && !memcmp(str, "null", 4), &role);
	if (err)
		return err;
	n = js_scalar_node(s, str, len, quoted, raw);
	return n ? js_attach(s, n) : s->err;
}

static int js_on_open(struct json_stream *s, enum yt_kind kind)
{
	struct js_frame *f;
	enum js_role role;
	int err;

	if (s->depth == YT_MAX_DEPTH)
		return js_fail(s, -EINVAL, "nested deeper than %d levels", YT_MAX_DEPTH);
	if (s->skip || s->skip_value) {
		if (s->skip_value)
			s->skip = s->depth + 1;
		s->skip_value = false;
		s->depth++;
		return 0;
	}
	err = js_place(s, kind, false, &role);
	if (!err)
		err = js_charge(s);
	if (err)
		return err;
	f = &s->frames[s->depth];
	f->node = js_alloc(s, sizeof(*f->node));
	if (!f->node)
		return s->err;
	*f->node = (struct yt_node){
		.line = 1,
		.col = js_col(s->pos - 1),
		.weight = 1,
		.kind = (uint8_t)kind,
	};
	f->base = s->n_stack;
	f->nodes = s->nodes;
	f->role = role;
	if (role == JS_ITEMS)
		s->item_mark = js_arena_mark(s);
	s->depth++;
	return 0;
}

static int js_on_key(struct json_stream *s, const char *str, size_t len)
{
	struct yt_node *key;

	if (s->skip)
		return 0;
	if (s->frames[s->depth - 1].role == JS_OBJECT_META && len == 13 &&
	    !memcmp(str, "managedFields", 13)) {
		s->skip_value = true;
		return 0;
	}
	key = js_scalar_node(s, str, len, true, len + 2);
	return key ? js_push(s, key) : s->err;
}

static inline bool js_key_eq(const struct yt_node *a, const struct yt_node *b)
{
	return a->len == b->len && (!a->len || a->str[0] == b->str[0]) &&
	       !memcmp(a->str, b->str, a->len);
}

static size_t js_hash(const struct yt_node *k)
{
	uint64_t h = 1469598103934665603ull;
	uint32_t i;

	for (i = 0; i < k->len; i++)
		h = (h ^ (unsigned char)k->str[i]) * 1099511628211ull;
	return (size_t)h;
}

/* One of 64 bits for a key, from its length and ends. */
static inline uint64_t js_key_bit(const struct yt_node *k)
{
	unsigned h = k->len * 7u;

	if (k->len)
		h += (unsigned char)k->str[0] * 3u + (unsigned char)k->str[k->len - 1];
	return 1ull << (h & 63);
}

/* The API server never sends a key twice. If a body does, the pair stays
 * where the key first appeared with the value of its last appearance, as
 * Go's encoding/json decodes it. Returns the items left in raw.
 *
 * Most maps are small and have no duplicate, so a small one only compares
 * a key with those before it when its bit in a 64-bit filter is taken. */
static int js_dedup_keys(struct json_stream *s, struct yt_node **raw, size_t n, size_t *n_out)
{
	size_t i, j, out = 0, cap = 16, mask;
	uint64_t seen = 0, bit;

	if (n / 2 <= JS_SMALL_MAP) {
		for (i = 0; i < n; i += 2) {
			bit = js_key_bit(raw[i]);
			for (j = (seen & bit) ? 0 : out; j < out && !js_key_eq(raw[j], raw[i]);
			     j += 2)
				;
			seen |= bit;
			if (j < out) {
				raw[j + 1] = raw[i + 1];
			} else {
				raw[out++] = raw[i];
				raw[out++] = raw[i + 1];
			}
		}
		*n_out = out;
		return 0;
	}
	while (cap < n) /* at least twice the pairs */
		cap *= 2;
	if (cap > s->cap_keyset) {
		uint32_t *p = realloc(s->keyset, cap * sizeof(*p));

		if (!p)
			return js_nomem(s);
		s->keyset = p;
		s->cap_keyset = cap;
	}
	memset(s->keyset, 0, cap * sizeof(*s->keyset));
	mask = cap - 1;
	for (i = 0; i < n; i += 2) {
		for (j = js_hash(raw[i]) & mask; s->keyset[j]; j = (j + 1) & mask) {
			if (js_key_eq(raw[s->keyset[j] - 1], raw[i]))
				break;
		}
		if (s->keyset[j]) {
			raw[s->keyset[j]] = raw[i + 1];
		} else {
			s->keyset[j] = (uint32_t)out + 1;
			raw[out++] = raw[i];
			raw[out++] = raw[i + 1];
		}
	}
	*n_out = out;
	return 0;
}

static int js_on_close(struct json_stream *s)
{
	struct js_frame *f;
	struct yt_node *n, **raw;
	size_t i, count, all;
	uint64_t weight;
	int err;

	if (s->skip) {
		if (s->depth-- == s->skip)
			s->skip = 0;
		return 0;
	}
	f = &s->frames[--s->depth];
	n = f->node;
	raw = s->stack + f->base;
	count = all = s->n_stack - f->base;
	if (n->kind == YT_MAP && count > 2) {
		err = js_dedup_keys(s, raw, all, &count);
		if (err)
			return err;
	}
	if (count) {
		n->items = js_alloc(s, count * sizeof(*raw));
		if (!n->items)
			return s->err;
		memcpy(n->items, raw, count * sizeof(*raw));
	}
	n->n = (uint32_t)count;
	s->n_stack = f->base;
	/* Every node counted since this one opened is in its subtree, unless
	 * a duplicate key dropped some. */
	weight = s->nodes - f->nodes + 1;
	if (count != all) {
		for (weight = 1, i = 0; i < count; i++)
			weight += raw[i]->weight;
	}
	n->weight = weight > UINT32_MAX ? UINT32_MAX : (uint32_t)weight;
	return js_attach(s, n);
}

/* ---- top-level values ---- */

/* Copies a string field of map into buf; a string that does not fit is an
 * error when must_fit, else cut short (it is only shown to people). */
static int js_meta_str(struct json_stream *s, const struct yt_node *map, const char *key,
		       const char *what, char *buf, size_t size, bool must_fit)
{
	const struct yt_node *v = yt_map_get(map, key);
	size_t len;

	if (!v || v->kind != YT_SCALAR || !v->quoted)
		return 0;
	len = v->len;
	if (len >= size) {
		if (must_fit)
			return js_fail(s, -EINVAL, "%s of %zu bytes is longer than %zu", what, len,
				       size - 1);
		len = size - 1;
	}
	memcpy(buf, v->str, len);
	buf[len] = '\0';
	return 0;
}

static int js_meta_int(struct json_stream *s, const struct yt_node *map, const char *key,
		       const char *what, long long min, long long max, long long *out)
{
	const struct yt_node *v = yt_map_get(map, key);
	int64_t i;

	if (yt_is_null(v))
		return 0;
	if (yt_scalar_type(v) != YT_INT || yt_get_int(v, &i) || i < min || i > max)
		return js_fail(s, -EINVAL, "%s is not an integer in [%lld, %lld]", what, min, max);
	*out = i;
	return 0;
}

static int js_list_done(struct json_stream *s, const struct yt_node *root)
{
	const struct yt_node *md = yt_map_get(root, "metadata");
	struct js_meta *m = &s->meta;
	long long code = 0;
	int err;

	err = js_meta_str(s, root, "kind", "kind", m->kind, sizeof(m->kind), false);
	if (!err)
		err = js_meta_str(s, md, "resourceVersion", "metadata.resourceVersion",
				  m->resource_version, sizeof(m->resource_version), true);
	if (!err)
		err = js_meta_str(s, md, "continue", "metadata.continue", m->cont, sizeof(m->cont),
				  true);
	if (!err)
		err = js_meta_int(s, md, "remainingItemCount", "metadata.remainingItemCount", 0,
				  LLONG_MAX, &m->remaining);
	if (!err)
		err = js_meta_int(s, root, "code", "code", 0, INT_MAX, &code);
	if (!err)
		err = js_meta_str(s, root, "reason", "reason", m->reason, sizeof(m->reason), false);
	if (!err)
		err = js_meta_str(s, root, "message", "message", m->message, sizeof(m->message),
				  false);
	m->code = (int)code;
	s->root_done = true;
	return err;
}

static int js_event_done(struct json_stream *s, const struct yt_node *ev)
{
	const struct yt_node *type = yt_map_get(ev, "type"), *obj = yt_map_get(ev, "object");
	int ret;

	if (!type || type->kind != YT_SCALAR || !type->quoted || strlen(type->str) != type->len)
		return js_fail(s, -EINVAL, "a watch event without a type");
	if (!obj || obj->kind != YT_MAP)
		return js_fail(s, -EINVAL, "a watch event whose object is %s, not an object",
			       obj ? js_kind_name(obj->kind) : "missing");
	ret = s->fn(type->str, obj, s->arg);
	if (ret < 0)
		return js_fail(s, ret, "stopped by the callback: %s", strerror(-ret));
	return 0;
}

static int js_root_done(struct json_stream *s, struct yt_node *root)
{
	struct js_mark empty = {0};
	int err;

	err = s->mode == JS_LIST ? js_list_done(s, root) : js_event_done(s, root);
	js_arena_rollback(s, &empty);
	return err;
}

/* ---- yajl callbacks: 1 goes on, 0 stops with s->err set ---- */

/* Where the token just read ends: yajl counts from the start of the
 * buffer it was given. */
static inline struct json_stream *js_at(void *ctx)
{
	struct json_stream *s = ctx;

	s->pos = s->last_token = s->base + yajl_get_bytes_consumed(s->h);
	return s;
}

static int js_cb_null(void *ctx)
{
	return !js_on_scalar(js_at(ctx), "null", 4, false, 4);
}

static int js_cb_boolean(void *ctx, int b)
{
	return !js_on_scalar(js_at(ctx), b ? "true" : "false", b ? 4 : 5, false, b ? 4 : 5);
}

static int js_cb_number(void *ctx, const char *str, size_t len)
{
	return !js_on_scalar(js_at(ctx), str, len, false, len);
}

static int js_cb_string(void *ctx, const unsigned char *str, size_t len)
{
	return !js_on_scalar(js_at(ctx), (const char *)str, len, true, len + 2);
}

static int js_cb_start_map(void *ctx)
{
	return !js_on_open(js_at(ctx), YT_MAP);
}

static int js_cb_map_key(void *ctx, const unsigned char *str, size_t len)
{
	return !js_on_key(js_at(ctx), (const char *)str, len);
}

static int js_cb_end(void *ctx)
{
	return !js_on_close(js_at(ctx));
}

static int js_cb_start_array(void *ctx)
{
	return !js_on_open(js_at(ctx), YT_SEQ);
}

static const yajl_callbacks js_callbacks = {
	.yajl_null = js_cb_null,
	.yajl_boolean = js_cb_boolean,
	.yajl_number = js_cb_number, /* the raw text: ints and floats as written */
	.yajl_string = js_cb_string,
	.yajl_start_map = js_cb_start_map,
	.yajl_map_key = js_cb_map_key,
	.yajl_end_map = js_cb_end,
	.yajl_start_array = js_cb_start_array,
	.yajl_end_array = js_cb_end,
};

/* ---- the stream ---- */

int js_new(enum js_mode mode, const char *name, js_object_fn fn, void *arg,
	   struct json_stream **out)
{
	struct json_stream *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->mode = mode;
	s->fn = fn;
	s->arg = arg;
	s->meta.remaining = -1;
	s->name = strdup(name ? name : "JSON");
	s->h = yajl_alloc(&js_callbacks, NULL, s);
	/* never NULL, so that s->stack + base is defined with nothing on it */
	if (!s->name || !s->h || js_grow_stack(s)) {
		js_free(s);
		return -ENOMEM;
	}
	/* Truncation is ours to report (js_finish), with a clearer message;
	 * a watch body is many values, or none at all. */
	yajl_config(s->h, yajl_allow_partial_values, 1);
	if (mode == JS_WATCH)
		yajl_config(s->h, yajl_allow_multiple_values, 1);
	*out = s;
	return 0;
}

/* yajl's message for a syntax error, on one line. */
static int js_syntax_error(struct json_stream *s, const void *buf, size_t len)
{
	unsigned char *e = yajl_get_error(s->h, 0, buf, len);
	size_t n = e ? strcspn((const char *)e, "\n") : 0;

	js_fail(s, -EINVAL, "malformed JSON: %.*s", (int)n, e ? (const char *)e : "");
	if (e)
		yajl_free_error(s->h, e);
	return s->err;
}

/* Hands len bytes to yajl. */
static int js_yajl(struct json_stream *s, const void *buf, size_t len)
{
	yajl_status st = yajl_parse(s->h, buf, len);

	if (st != yajl_status_ok && !s->err) {
		s->pos = s->base + yajl_get_bytes_consumed(s->h);
		js_syntax_error(s, buf, len);
	}
	if (s->err)
		return s->err;
	s->pos = s->base += len;
	return 0;
}

/*
 * managedFields is a third to a half of an object's bytes and nothing reads
 * it, so rather than have yajl parse it token by token, js_feed finds its
 * key in the raw bytes ('"managedFields":' can only be a key in valid JSON:
 * inside a string its quotes would be escaped), lets yajl read up to the
 * colon, and when yajl says this is an object's metadata.managedFields and
 * the value is an array, skims the array here: brackets outside strings,
 * nothing else. yajl then reads a null in its place, which js_on_scalar
 * drops. The skimmed bytes are not checked beyond their brackets; a key
 * found cut by a chunk boundary, or written with blanks, is parsed by yajl
 * and skipped by js_on_* as before.
 */
#define JS_MF_KEY     "\"managedFields\":"
#define JS_MF_KEY_LEN (sizeof(JS_MF_KEY) - 1)

/* The bytes js_skim stops at, inside and outside strings. */
static const bool js_str_stop[256] = {['"'] = true, ['\\'] = true};
static const bool js_skim_stop[256] = {
	['"'] = true, ['['] = true, [']'] = true, ['{'] = true, ['}'] = true,
};

/* Skims len bytes of the array; returns how many it used (all unless the
 * array ended). */
static size_t js_skim(struct json_stream *s, const unsigned char *buf, size_t len)
{
	struct js_skim *k = &s->skim;
	size_t i = 0;

	while (i < len) {
		if (k->esc) {
			k->esc = false;
			i++;
		} else if (k->in_str) {
			while (i < len && !js_str_stop[buf[i]])
				i++;
			if (i < len) {
				k->esc = buf[i] == '\\';
				k->in_str = k->esc;
				i++;
			}
		} else {
			while (i < len && !js_skim_stop[buf[i]])
				i++;
			if (i == len)
				break;
			switch (buf[i++]) {
			case '"':
				k->in_str = true;
				break;
			case '[':
			case '{':
				if (s->depth + ++k->depth > YT_MAX_DEPTH) {
					s->pos = s->base + i;
					js_fail(s, -EINVAL, "nested deeper than %d levels",
						YT_MAX_DEPTH);
					return i;
				}
				break;
			default: /* ] } */
				if (--k->depth == 0) {
					k->on = false;
					return i;
				}
			}
		}
	}
	return len;
}

int js_feed(struct json_stream *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	int err;

	if (s->err)
		return s->err;
	if (s->finished)
		return js_fail(s, -EINVAL, "data after the end of the body");
	while (len) {
		const unsigned char *key;
		size_t n;

		if (s->skim_next) {
			/* yajl just read the key and its colon */
			s->skim_next = false;
			s->skim = (struct js_skim){.on = *p == '['};
		}
		if (s->skim.on) {
			n = js_skim(s, p, len);
			if (s->err)
				return s->err;
			s->pos = s->last_token = s->base += n;
			p += n;
			len -= n;
			if (!s->skim.on) {
				s->base -= 4; /* so that yajl's offsets stay the stream's */
				err = js_yajl(s, "null", 4);
				if (err)
					return err;
			}
			continue;
		}
		key = memmem(p, len, JS_MF_KEY, JS_MF_KEY_LEN);
		n = key ? (size_t)(key - p) + JS_MF_KEY_LEN : len;
		err = js_yajl(s, p, n);
		if (err)
			return err;
		p += n;
		len -= n;
		s->skim_next = key && s->skip_value;
	}
	if (p != buf)
		s->last_byte = p[-1];
	/* yajl buffers a token cut by a chunk boundary whole, before any
	 * callback can check its length: stop one that grows past a scalar's
	 * limit (or an absurd run of whitespace) here. */
	if (s->base - s->last_token > (uint64_t)YT_MAX_SCALAR + 64)
		return js_fail(s, -EINVAL, "more than %u bytes without a complete token",
			       YT_MAX_SCALAR);
	return 0;
}

int js_finish(struct json_stream *s)
{
	if (s->err)
		return s->err;
	if (s->finished)
		return 0;
	s->finished = true;
	if (yajl_complete_parse(s->h) != yajl_status_ok && !s->err)
		js_syntax_error(s, NULL, 0);
	if (s->err)
		return s->err;
	if (s->depth || s->skip_value || s->skim.on)
		return js_fail(s, -EINVAL, "truncated: the body ended inside %s",
			       s->mode == JS_LIST ? "the list" : "a watch event");
	/* Between values, a string cut short is no value yet: the only sign
	 * of it is bytes after the last token that are not blanks. */
	if (s->base != s->last_token && !memchr(" \t\r\n", s->last_byte, 4))
		return js_fail(s, -EINVAL, "truncated: the body ended inside a value");
	if (s->mode == JS_LIST && !s->root_done)
		return js_fail(s, -EINVAL, "truncated: the body ended before the list");
	return 0;
}

const struct js_meta *js_meta(const struct json_stream *s)
{
	return &s->meta;
}

const char *js_error(const struct json_stream *s)
{
	return s->msg;
}

void js_free(struct json_stream *s)
{
	if (!s)
		return;
	if (s->h)
		yajl_free(s->h);
	js_arena_free(s);
	free(s->stack);
	free(s->keyset);
	free(s->name);
	free(s);
}
