/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Document trees from libyaml events. libyaml's own document loader
 * (yaml_parser_load) copies every alias and has no limits, so it cannot read
 * untrusted input safely; building the tree from events lets us share
 * aliased nodes, count them, and stop early.
 *
 * Nodes, item arrays and strings of a document live in one arena that is
 * emptied after the document's callback: allocation is a pointer bump and
 * freeing a document is a handful of free() calls.
 */
#include "yaml_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "log.h"
#include "vec.h"

#define YT_CHUNK_MIN ((size_t)64 << 10)
#define YT_CHUNK_MAX ((size_t)4 << 20)
#define YT_TAG_STR   "tag:yaml.org,2002:str"

struct yt_chunk {
	struct yt_chunk *next;
	size_t cap, used;
	uint64_t data[]; /* uint64_t: every allocation is 8-byte aligned */
};

/* A point in the arena to roll back to. */
struct yt_mark {
	struct yt_chunk *chunk;
	size_t used;
	uint64_t nodes;
	uint64_t aliased;
};

/* An open collection: its node, where its items start on the item stack,
 * and its anchor, registered only once the collection is complete so that an
 * alias can never refer to an enclosing node (no cycles). A List's items
 * sequence (stream) also remembers where its current item began. */
struct yt_frame {
	struct yt_node *node;
	size_t base;
	const char *anchor;
	bool stream;
	struct yt_mark item_start;
	unsigned long anchors_at_start;
};

struct yt_anchor {
	const char *name;
	struct yt_node *node;
};

struct yt_parser {
	const char *file;
	const char *buf;
	size_t len;
	yaml_parser_t yp;
	yt_doc_fn fn;
	yt_item_fn item_fn;
	void *arg;
	bool fn_failed; /* the callbacks log their own errors */

	/* per document */
	struct yt_chunk *first, *cur; /* arena: chunks after cur are spare */
	struct yt_frame frames[YT_MAX_DEPTH];
	int depth;
	struct yt_node *root;
	uint64_t nodes; /* weight allocated or aliased so far */
	/* weight aliased so far: never rolled back, as a consumer walks the
	 * expansion of every alias, in freed List items too */
	uint64_t aliased;
	unsigned long anchors_defined;

	/* scratch, reused across documents */
	struct yt_node **stack; /* items of the open collections */
	size_t n_stack, cap_stack;
	struct yt_anchor *anchors; /* open addressing, power-of-2 size */
	size_t n_anchors, cap_anchors;
	struct yt_node **keyset; /* open addressing, for duplicate keys */
	size_t cap_keyset, keyset_mask;
};

static const struct yt_node yt_null_node = {.kind = YT_SCALAR, .line = 1, .col = 1, .str = ""};

/* ---- messages ---- */

static void yt_error(const struct yt_parser *p, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void yt_error(const struct yt_parser *p, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s:%d:%d: %s", p->file, (int)m->line + 1, (int)m->column + 1, msg);
}

const char *yt_printable(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, n = len < size - 4 ? len : size - 4;

	for (i = 0; i < n; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* libyaml reports reader errors (bad UTF-8, control characters) as a byte
 * offset only; turn it into line and column the way libyaml counts them. */
static yaml_mark_t yt_offset_mark(const struct yt_parser *p, size_t off)
{
	yaml_mark_t m = {0};
	size_t i;

	if (off > p->len)
		off = p->len;
	for (i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)p->buf[i];

		if (ch == '\n' || (ch == '\r' && (i + 1 >= p->len || p->buf[i + 1] != '\n'))) {
			m.line++;
			m.column = 0;
		} else if ((ch & 0xc0) != 0x80 && ch != '\r') {
			m.column++;
		}
	}
	return m;
}

static int yt_syntax_error(const struct yt_parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	const char *problem = yp->problem ? yp->problem : "cannot parse";
	yaml_mark_t m;

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		log_error("%s: out of memory", p->file);
		return -ENOMEM;
	case YAML_READER_ERROR:
		m = yt_offset_mark(p, yp->problem_offset);
		if (yp->problem_value != -1)
			yt_error(p, &m, "%s (0x%X)", problem, (unsigned)yp->problem_value);
		else
			yt_error(p, &m, "%s", problem);
		return -EINVAL;
	default:
		if (yp->context)
			yt_error(p, &yp->problem_mark, "%s (%s at %d:%d)", problem, yp->context,
				 (int)yp->context_mark.line + 1, (int)yp->context_mark.column + 1);
		else
			yt_error(p, &yp->problem_mark, "%s", problem);
		return -EINVAL;
	}
}

/* ---- arena ---- */

static void *yt_alloc_slow(struct yt_parser *p, size_t size)
{
	struct yt_chunk *c = p->cur ? p->cur->next : NULL;
	size_t cap;

	if (c && c->cap >= size) {
		c->used = 0;
	} else {
		cap = p->cur ? p->cur->cap * 2 : YT_CHUNK_MIN;
		cap = cap > YT_CHUNK_MAX ? YT_CHUNK_MAX : cap;
		cap = cap < size ? size : cap;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = p->cur ? p->cur->next : NULL;
		if (p->cur)
			p->cur->next = c;
		else
			p->first = c;
	}
	p->cur = c;
	c->used = size;
	return c->data;
}

static void *yt_alloc(struct yt_parser *p, size_t size)
{
	struct yt_chunk *c = p->cur;
	void *ret;

	size = (size + 7) & ~(size_t)7;
	if (!c || c->cap - c->used < size)
		return yt_alloc_slow(p, size);
	ret = (char *)c->data + c->used;
	c->used += size;
	return ret;
}

static struct yt_mark yt_arena_mark(const struct yt_parser *p)
{
	return (struct yt_mark){p->cur, p->cur ? p->cur->used : 0, p->nodes, p->aliased};
}

/* Frees everything allocated since mark; the chunks stay for reuse. The
 * nodes freed are no longer charged, but what aliases expanded to since
 * mark stays charged: an anchor in a List's head aliased by every item
 * costs each item its whole weight in walking, memory freed or not. */
static void yt_arena_rollback(struct yt_parser *p, const struct yt_mark *mark)
{
	p->cur = mark->chunk;
	if (p->cur)
		p->cur->used = mark->used;
	p->nodes = mark->nodes + (p->aliased - mark->aliased);
}

/* Empties the arena, keeping only the first chunk: most documents fit in
 * it, and a big one should not pin its memory for the rest of the stream. */
static void yt_arena_reset(struct yt_parser *p)
{
	struct yt_chunk *c = p->first ? p->first->next : NULL;

	while (c) {
		struct yt_chunk *next = c->next;

		free(c);
		c = next;
	}
	if (p->first) {
		p->first->next = NULL;
		p->first->used = 0;
	}
	p->cur = p->first;
}

static char *yt_strdup(struct yt_parser *p, const char *s, size_t len)
{
	char *d = yt_alloc(p, len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* ---- anchors: a hash table from name to node, emptied per document ---- */

static size_t yt_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return (size_t)h;
}

static int yt_anchor_grow(struct yt_parser *p)
{
	size_t i, cap = p->cap_anchors ? p->cap_anchors * 2 : 16;
	struct yt_anchor *old = p->anchors, *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (i = 0; i < p->cap_anchors; i++) {
		size_t j;

		if (!old[i].name)
			continue;
		j = yt_hash(old[i].name, strlen(old[i].name)) & (cap - 1);
		while (tab[j].name)
			j = (j + 1) & (cap - 1);
		tab[j] = old[i];
	}
	free(old);
	p->anchors = tab;
	p->cap_anchors = cap;
	return 0;
}

static struct yt_anchor *yt_anchor_slot(const struct yt_parser *p, const char *name)
{
	size_t j, mask = p->cap_anchors - 1;

	if (!p->cap_anchors)
		return NULL;
	j = yt_hash(name, strlen(name)) & mask;
	while (p->anchors[j].name && strcmp(p->anchors[j].name, name))
		j = (j + 1) & mask;
	return &p->anchors[j];
}

/* A later anchor of the same name replaces the earlier one (YAML spec). */
static int yt_anchor_set(struct yt_parser *p, const char *name, struct yt_node *node)
{
	struct yt_anchor *a;
	int err;

	if ((p->n_anchors + 1) * 2 > p->cap_anchors) {
		err = yt_anchor_grow(p);
		if (err)
			return err;
	}
	a = yt_anchor_slot(p, name);
	if (!a->name)
		p->n_anchors++;
	a->name = name;
	a->node = node;
	return 0;
}

static void yt_anchor_reset(struct yt_parser *p)
{
	if (p->n_anchors)
		memset(p->anchors, 0, p->cap_anchors * sizeof(*p->anchors));
	p->n_anchors = 0;
}

/* ---- building ---- */

static yaml_mark_t yt_node_mark(const struct yt_node *n)
{
	return (yaml_mark_t){.line = (size_t)n->line - 1, .column = (size_t)n->col - 1};
}

/* Counts weight toward the document's node budget. */
static int yt_charge(struct yt_parser *p, uint64_t weight, const yaml_mark_t *m)
{
	p->nodes += weight;
	if (p->nodes <= YT_MAX_NODES)
		return 0;
	yt_error(p, m,
		 "document too large: more than %u nodes (an alias counts as a copy of what it "
		 "names)",
		 YT_MAX_NODES);
	return -EINVAL;
}

static struct yt_node *yt_node_new(struct yt_parser *p, enum yt_kind kind, const yaml_mark_t *m)
{
	struct yt_node *n = yt_alloc(p, sizeof(*n));

	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	n->weight = 1;
	return n;
}

static int yt_push(struct yt_parser *p, struct yt_node *n)
{
	struct yt_node **slot = VEC_PUSH(p->stack, p->n_stack, p->cap_stack);

	if (!slot)
		return -ENOMEM;
	*slot = n;
	return 0;
}

/* Hands a finished List item to item_fn, then frees it unless kept. An item
 * that defined an anchor keeps its memory: a later alias may point into it. */
static int yt_stream_item(struct yt_parser *p, struct yt_frame *seq, struct yt_node *n)
{
	const struct yt_frame *root = &p->frames[0];
	struct yt_node head = {
		.kind = YT_MAP,
		.line = root->node->line,
		.col = root->node->col,
		.items = p->stack + root->base,
		.n = (uint32_t)(seq->base - root->base - 1), /* without the "items" key */
	};
	int ret = p->item_fn(n, &head, p->file, p->arg);

	if (ret < 0) {
		p->fn_failed = true;
		return ret;
	}
	if (ret == YT_KEEP) {
		ret = yt_push(p, n);
	} else if (p->anchors_defined == seq->anchors_at_start) {
		yt_arena_rollback(p, &seq->item_start);
		return 0;
	}
	seq->item_start = yt_arena_mark(p);
	seq->anchors_at_start = p->anchors_defined;
	return ret;
}

/* Adds a finished node to the collection being built, or makes it the
 * document's root. */
static int yt_attach(struct yt_parser *p, struct yt_node *n)
{
	struct yt_frame *top;

	if (!p->depth) {
		p->root = n;
		return 0;
	}
	top = &p->frames[p->depth - 1];
	if (top->stream)
		return yt_stream_item(p, top, n);
	return yt_push(p, n);
}

static int yt_register(struct yt_parser *p, const char *anchor, struct yt_node *n)
{
	if (!anchor)
		return 0;
	p->anchors_defined++;
	return yt_anchor_set(p, anchor, n);
}

static const char *yt_anchor_copy(struct yt_parser *p, const yaml_char_t *anchor)
{
	return anchor ? yt_strdup(p, (const char *)anchor, strlen((const char *)anchor)) : NULL;
}

static int yt_on_scalar(struct yt_parser *p, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	const char *anchor;
	struct yt_node *n;
	int err;

	if (len > YT_MAX_SCALAR) {
		yt_error(p, &ev->start_mark, "scalar of %zu bytes is longer than the limit of %u",
			 len, YT_MAX_SCALAR);
		return -EINVAL;
	}
	err = yt_charge(p, 1, &ev->start_mark);
	if (err)
		return err;
	n = yt_node_new(p, YT_SCALAR, &ev->start_mark);
	if (!n)
		return -ENOMEM;
	n->str = yt_strdup(p, (const char *)ev->data.scalar.value, len);
	anchor = yt_anchor_copy(p, ev->data.scalar.anchor);
	if (!n->str || (ev->data.scalar.anchor && !anchor))
		return -ENOMEM;
	n->len = (uint32_t)len;
	/* "!" is the non-specific tag: a string, as is !!str. */
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		    (tag && (!strcmp(tag, "!") || !strcmp(tag, YT_TAG_STR)));
	err = yt_register(p, anchor, n);
	return err ? err : yt_attach(p, n);
}

/* true when a sequence opening now is the "items" value of a root mapping:
 * the root's pairs so far end with that key. */
static bool yt_is_list_items(const struct yt_parser *p)
{
	const struct yt_frame *root = &p->frames[0];
	const struct yt_node *key;

	if (!p->item_fn || p->depth != 1 || root->node->kind != YT_MAP ||
	    (p->n_stack - root->base) % 2 == 0)
		return false;
	key = p->stack[p->n_stack - 1];
	return key->kind == YT_SCALAR && key->len == 5 && !memcmp(key->str, "items", 5);
}

static int yt_on_open(struct yt_parser *p, const yaml_event_t *ev, enum yt_kind kind)
{
	const yaml_char_t *anchor =
		kind == YT_SEQ ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
	struct yt_frame *f;
	int err;

	if (p->depth == YT_MAX_DEPTH) {
		yt_error(p, &ev->start_mark, "nested deeper than %d levels", YT_MAX_DEPTH);
		return -EINVAL;
	}
	err = yt_charge(p, 1, &ev->start_mark);
	if (err)
		return err;
	f = &p->frames[p->depth];
	f->node = yt_node_new(p, kind, &ev->start_mark);
	f->anchor = yt_anchor_copy(p, anchor);
	if (!f->node || (anchor && !f->anchor))
		return -ENOMEM;
	f->base = p->n_stack;
	f->stream = kind == YT_SEQ && yt_is_list_items(p);
	f->item_start = yt_arena_mark(p);
	f->anchors_at_start = p->anchors_defined;
	p->depth++;
	return 0;
}

static int yt_on_alias(struct yt_parser *p, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct yt_anchor *a = yt_anchor_slot(p, name);
	int err;

	if (!a || !a->name) {
		char buf[80];

		yt_error(p, &ev->start_mark, "unknown alias *%s",
			 yt_printable(name, strlen(name), buf, sizeof(buf)));
		return -EINVAL;
	}
	p->aliased += a->node->weight;
	err = yt_charge(p, a->node->weight, &ev->start_mark);
	return err ? err : yt_attach(p, a->node);
}

/* ---- mappings: key checks and merge keys ---- */

static bool yt_key_eq(const struct yt_node *a, const struct yt_node *b)
{
	return a->len == b->len && !memcmp(a->str, b->str, a->len);
}

static bool yt_is_merge_key(const struct yt_node *k)
{
	return k->kind == YT_SCALAR && !k->quoted && k->len == 2 && !memcmp(k->str, "<<", 2);
}

static int yt_keyset_init(struct yt_parser *p, size_t n_keys)
{
	size_t cap = 16;

	while (cap < n_keys * 2)
		cap *= 2;
	if (cap > p->cap_keyset) {
		struct yt_node **tab = malloc(cap * sizeof(*tab));

		if (!tab)
			return -ENOMEM;
		free(p->keyset);
		p->keyset = tab;
		p->cap_keyset = cap;
	}
	memset(p->keyset, 0, cap * sizeof(*p->keyset));
	p->keyset_mask = cap - 1;
	return 0;
}

/* Adds key to the set; false when an equal key is already there. The set's
 * size was chosen by yt_keyset_init for at most the keys we add. */
static bool yt_keyset_add(struct yt_parser *p, struct yt_node *key)
{
	size_t mask = p->keyset_mask;
	size_t j = yt_hash(key->str, key->len) & mask;

	for (; p->keyset[j]; j = (j + 1) & mask) {
		if (yt_key_eq(p->keyset[j], key))
			return false;
	}
	p->keyset[j] = key;
	return true;
}

/* Counts the pairs a merge value brings, and checks its shape. */
static int yt_merge_size(const struct yt_parser *p, const struct yt_node *v, size_t *pairs)
{
	yaml_mark_t m = yt_node_mark(v);
	size_t i;

	if (v->kind == YT_MAP) {
		*pairs += v->n / 2;
		return 0;
	}
	for (i = 0; v->kind == YT_SEQ && i < v->n; i++) {
		if (v->items[i]->kind != YT_MAP)
			break;
		*pairs += v->items[i]->n / 2;
	}
	if (v->kind == YT_SEQ && i == v->n)
		return 0;
	yt_error(p, &m, "a merge key (<<) needs a map or a list of maps");
	return -EINVAL;
}

static void yt_merge_map(struct yt_parser *p, const struct yt_node *src, struct yt_node **out,
			 size_t *n_out)
{
	size_t i;

	/* Keys already present, explicit or from an earlier merge source, win. */
	for (i = 0; i + 1 < src->n; i += 2) {
		if (yt_keyset_add(p, src->items[i])) {
			out[(*n_out)++] = src->items[i];
			out[(*n_out)++] = src->items[i + 1];
		}
	}
}

/* Checks the keys of a mapping and counts the pairs its merge keys bring. */
static int yt_map_check(struct yt_parser *p, struct yt_node **raw, size_t n, size_t *merged)
{
	size_t i;
	int err;

	for (i = 0; i < n; i += 2) {
		if (raw[i]->kind != YT_SCALAR) {
			yaml_mark_t m = yt_node_mark(raw[i]);

			yt_error(p, &m, "a mapping key must be a scalar");
			return -EINVAL;
		}
		if (yt_is_merge_key(raw[i])) {
			err = yt_merge_size(p, raw[i + 1], merged);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Builds the item array of a finished mapping from its n raw items on the
 * stack: every key a scalar, no key twice, merge keys resolved. */
static int yt_map_items(struct yt_parser *p, struct yt_node *map, struct yt_node **raw, size_t n)
{
	size_t i, merged = 0, n_out = 0;
	struct yt_node **out;
	int err;

	err = yt_map_check(p, raw, n, &merged);
	if (!err)
		err = yt_keyset_init(p, n / 2 + merged);
	if (err)
		return err;
	out = yt_alloc(p, (n + 2 * merged) * sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (i = 0; i < n; i += 2) {
		if (yt_is_merge_key(raw[i]))
			continue;
		if (!yt_keyset_add(p, raw[i])) {
			yaml_mark_t m = yt_node_mark(raw[i]);
			char buf[80];

			yt_error(p, &m, "duplicate key \"%s\"",
				 yt_printable(raw[i]->str, raw[i]->len, buf, sizeof(buf)));
			return -EINVAL;
		}
		out[n_out++] = raw[i];
		out[n_out++] = raw[i + 1];
	}
	for (i = 0; merged && i < n; i += 2) {
		const struct yt_node *v = raw[i + 1];
		size_t j;

		if (!yt_is_merge_key(raw[i]))
			continue;
		if (v->kind == YT_MAP)
			yt_merge_map(p, v, out, &n_out);
		for (j = 0; v->kind == YT_SEQ && j < v->n; j++)
			yt_merge_map(p, v->items[j], out, &n_out);
	}
	map->items = out;
	map->n = (uint32_t)n_out;
	return 0;
}

static int yt_seq_items(struct yt_parser *p, struct yt_node *seq, struct yt_node **raw, size_t n)
{
	seq->items = yt_alloc(p, n * sizeof(*raw));
	if (!seq->items)
		return -ENOMEM;
	if (n)
		memcpy(seq->items, raw, n * sizeof(*raw));
	seq->n = (uint32_t)n;
	return 0;
}

static int yt_on_close(struct yt_parser *p)
{
	struct yt_frame *f = &p->frames[--p->depth];
	/* The stack is NULL until the first item: no arithmetic on it then. */
	struct yt_node *n = f->node, **raw = p->stack ? p->stack + f->base : NULL;
	size_t i, count = p->n_stack - f->base;
	uint64_t weight = 1;
	int err;

	if (n->kind == YT_MAP)
		err = yt_map_items(p, n, raw, count);
	else
		err = yt_seq_items(p, n, raw, count);
	if (err)
		return err;
	p->n_stack = f->base;
	for (i = 0; i < n->n; i++)
		weight += n->items[i]->weight;
	/* Saturate: the budget check fails long before this matters. */
	n->weight = weight > YT_MAX_NODES ? YT_MAX_NODES + 1 : (uint32_t)weight;
	err = yt_register(p, f->anchor, n);
	return err ? err : yt_attach(p, n);
}

/* ---- documents ---- */

static void yt_doc_reset(struct yt_parser *p)
{
	yt_arena_reset(p);
	yt_anchor_reset(p);
	p->depth = 0;
	p->n_stack = 0;
	p->root = NULL;
	p->nodes = 0;
	p->aliased = 0;
}

static int yt_on_doc_end(struct yt_parser *p)
{
	int err;

	err = p->fn(p->root ? p->root : &yt_null_node, p->file, p->arg);
	p->fn_failed = err != 0;
	yt_doc_reset(p);
	return err;
}

static int yt_on_event(struct yt_parser *p, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		yt_doc_reset(p);
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return yt_on_doc_end(p);
	case YAML_SCALAR_EVENT:
		return yt_on_scalar(p, ev);
	case YAML_SEQUENCE_START_EVENT:
		return yt_on_open(p, ev, YT_SEQ);
	case YAML_MAPPING_START_EVENT:
		return yt_on_open(p, ev, YT_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return yt_on_close(p);
	case YAML_ALIAS_EVENT:
		return yt_on_alias(p, ev);
	default:
		return 0;
	}
}

static int yt_run(struct yt_parser *p)
{
	yaml_event_t ev;
	bool done;
	int err;

	do {
		if (!yaml_parser_parse(&p->yp, &ev))
			return yt_syntax_error(p);
		err = yt_on_event(p, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (err == -ENOMEM && !p->fn_failed)
			log_error("%s: out of memory", p->file);
	} while (!err && !done);
	return err;
}

static void yt_parser_free(struct yt_parser *p)
{
	yt_arena_reset(p);
	free(p->first);
	free(p->stack);
	free(p->anchors);
	free(p->keyset);
	yaml_parser_delete(&p->yp);
}

int yt_parse_buffer(const char *name, const char *buf, size_t len, yt_doc_fn fn, yt_item_fn item_fn,
		    void *arg)
{
	struct yt_parser p = {
		.file = name,
		.buf = buf,
		.len = len,
		.fn = fn,
		.item_fn = item_fn,
		.arg = arg,
	};
	int err;

	if (len > YT_MAX_INPUT) {
		log_error("%s: input larger than %zu MiB", name, YT_MAX_INPUT >> 20);
		return -EFBIG;
	}
	if (!yaml_parser_initialize(&p.yp)) {
		log_error("%s: out of memory", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	err = yt_run(&p);
	yt_parser_free(&p);
	return err;
}

/* ---- files ---- */

struct yt_input {
	char *buf;
	size_t len;
	bool mapped;
};

/* Reads all of fd (a pipe, a terminal) into a malloc'd buffer, failing
 * beyond YT_MAX_INPUT. */
static int yt_read_fd(int fd, struct yt_input *in)
{
	size_t cap = 64 << 10;
	char *p;

	in->buf = malloc(cap);
	if (!in->buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (in->len == cap) {
			if (cap > YT_MAX_INPUT)
				return -EFBIG;
			p = realloc(in->buf, cap * 2);
			if (!p)
				return -ENOMEM;
			in->buf = p;
			cap *= 2;
		}
		r = read(fd, in->buf + in->len, cap - in->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			break;
		in->len += (size_t)r;
	}
	return in->len > YT_MAX_INPUT ? -EFBIG : 0;
}

/* Regular files are mapped: no copy, and the kernel reads ahead. */
static int yt_map_fd(int fd, const struct stat *st, struct yt_input *in)
{
	void *p;

	if ((uint64_t)st->st_size > YT_MAX_INPUT)
		return -EFBIG;
	if (!st->st_size)
		return 0;
	p = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED)
		return yt_read_fd(fd, in);
	in->buf = p;
	in->len = (size_t)st->st_size;
	in->mapped = true;
	return 0;
}

static int yt_input_open(const char *path, const char *name, struct yt_input *in)
{
	bool is_stdin = !strcmp(path, "-");
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int err;

	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode))
		err = -EISDIR;
	else if (S_ISREG(st.st_mode))
		err = yt_map_fd(fd, &st, in);
	else
		err = yt_read_fd(fd, in);
out:
	if (fd >= 0 && !is_stdin)
		close(fd);
	if (err == -EFBIG)
		log_error("%s: input larger than %zu MiB", name, YT_MAX_INPUT >> 20);
	else if (err)
		log_error("%s: %s", name, strerror(-err));
	return err;
}

static void yt_input_close(struct yt_input *in)
{
	if (in->mapped)
		munmap(in->buf, in->len);
	else
		free(in->buf);
}

int yt_parse_file(const char *path, yt_doc_fn fn, yt_item_fn item_fn, void *arg)
{
	const char *name = strcmp(path, "-") ? path : "<stdin>";
	struct yt_input in = {0};
	int err;

	err = yt_input_open(path, name, &in);
	if (!err)
		err = yt_parse_buffer(name, in.buf ? in.buf : "", in.len, fn, item_fn, arg);
	yt_input_close(&in);
	return err;
}

/* ---- reading trees ---- */

const struct yt_node *yt_map_get(const struct yt_node *map, const char *key)
{
	size_t i, len;

	if (!map || map->kind != YT_MAP)
		return NULL;
	len = strlen(key);
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct yt_node *k = map->items[i];

		if (k->len == len && !memcmp(k->str, key, len))
			return map->items[i + 1];
	}
	return NULL;
}

static bool yt_in(const char *s, size_t len, const char *const *set)
{
	if (len > 5) /* the longest word below */
		return false;
	for (; *set; set++) {
		if (strlen(*set) == len && !memcmp(*set, s, len))
			return true;
	}
	return false;
}

static const char *const yt_nulls[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const yt_trues[] = {"y",  "Y",  "yes",  "Yes",  "YES",  "on",
				       "On", "ON", "true", "True", "TRUE", NULL};
static const char *const yt_falses[] = {"n",   "N",   "no",    "No",	"NO",	 "off",
					"Off", "OFF", "false", "False", "FALSE", NULL};
static const char *const yt_special_floats[] = {
	".nan",	 ".NaN",  ".NAN",  ".inf",  ".Inf",  ".INF", "+.inf",
	"+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", NULL,
};

/* Copies s without '_' (go-yaml drops them before reading a number).
 * Returns false when it does not fit: no number is that long. */
static bool yt_strip_underscores(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '_')
			continue;
		if (n + 1 >= size)
			return false;
		buf[n++] = s[i];
	}
	buf[n] = '\0';
	return true;
}

static int yt_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return 99;
}

/* Go's strconv.ParseInt(s, 0, 64), then ParseUint, as go-yaml tries them:
 * optional sign, then 0x / 0o / 0b prefixes or a leading 0 for octal.
 * Returns 0; -EINVAL (not an integer); -EOVERFLOW for a positive value that
 * only fits unsigned (still an int to go-yaml); -ERANGE for one that fits
 * neither (go-yaml then reads it as a float if it can). */
static int yt_parse_go_int(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	unsigned base = 10;
	uint64_t v = 0;

	if (*s == '-' || *s == '+')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
		base = 8;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		s += 2;
	} else if (s[0] == '0' && s[1]) {
		base = 8;
		s++;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned)yt_digit(*s);

		if (d >= base)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (v > (uint64_t)INT64_MAX + neg)
		return neg ? -ERANGE : -EOVERFLOW;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* go-yaml's float pattern: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool yt_is_float(const char *s)
{
	size_t n;

	if (*s == '-' || *s == '+')
		s++;
	n = strspn(s, "0123456789");
	if (!n && *s != '.')
		return false;
	s += n;
	if (*s == '.') {
		size_t frac = strspn(s + 1, "0123456789");

		if (!n && !frac)
			return false;
		s += 1 + frac;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		n = strspn(s, "0123456789");
		if (!n)
			return false;
		s += n;
	}
	return !*s;
}

/* Only a plain scalar starting with one of these can be other than a
 * string; checking the first byte keeps the common case (names, labels)
 * to one table lookup. */
static enum yt_type yt_plain_type(const struct yt_node *n)
{
	char buf[128];
	int64_t v;

	if (!n->len)
		return YT_NULL;
	if (strchr("~nNyYtTfFoO", n->str[0])) {
		if (yt_in(n->str, n->len, yt_nulls))
			return YT_NULL;
		if (yt_in(n->str, n->len, yt_trues) || yt_in(n->str, n->len, yt_falses))
			return YT_BOOL;
		return YT_STR;
	}
	if (!strchr("0123456789+-.", n->str[0]))
		return YT_STR;
	if (yt_in(n->str, n->len, yt_special_floats))
		return YT_FLOAT;
	if (strlen(n->str) != n->len || !yt_strip_underscores(n->str, n->len, buf, sizeof(buf)))
		return YT_STR;
	if (n->str[0] != '.') {
		int r = yt_parse_go_int(buf, &v);

		if (!r || r == -EOVERFLOW)
			return YT_INT;
	}
	return yt_is_float(buf) ? YT_FLOAT : YT_STR;
}

enum yt_type yt_scalar_type(const struct yt_node *n)
{
	if (!n)
		return YT_NULL;
	if (n->kind != YT_SCALAR || n->quoted)
		return YT_STR;
	/* strchr would match the terminating NUL of an empty string. */
	return n->str[0] ? yt_plain_type(n) : n->len ? YT_STR : YT_NULL;
}

/* Asked of every field read, so it skips the general resolution. */
bool yt_is_null(const struct yt_node *n)
{
	if (!n)
		return true;
	if (n->kind != YT_SCALAR || n->quoted)
		return false;
	switch (n->len) {
	case 0:
		return true;
	case 1:
		return n->str[0] == '~';
	case 4:
		return yt_in(n->str, n->len, yt_nulls);
	default:
		return false;
	}
}

int yt_get_int(const struct yt_node *n, int64_t *out)
{
	char buf[128];

	if (yt_scalar_type(n) != YT_INT)
		return -EINVAL;
	if (!yt_strip_underscores(n->str, n->len, buf, sizeof(buf)))
		return -EINVAL;
	return yt_parse_go_int(buf, out) ? -ERANGE : 0;
}

int yt_get_bool(const struct yt_node *n, bool *out)
{
	if (yt_scalar_type(n) != YT_BOOL)
		return -EINVAL;
	*out = yt_in(n->str, n->len, yt_trues);
	return 0;
}

const char *yt_describe(const struct yt_node *n)
{
	if (n && n->kind == YT_MAP)
		return "a map";
	if (n && n->kind == YT_SEQ)
		return "a list";
	switch (yt_scalar_type(n)) {
	case YT_NULL:
		return "null";
	case YT_BOOL:
		return "a boolean";
	case YT_INT:
		return "an integer";
	case YT_FLOAT:
		return "a number";
	default:
		return "a string";
	}
}
