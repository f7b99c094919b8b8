/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The field reader of the manifest decoders (manifest_field.h): messages
 * with the path of the field being read, and typed access to yaml_tree
 * nodes the way Kubernetes reads JSON fields.
 */
#include "manifest_field.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* ---- Messages. */

const char *mf_quote(const struct yt_node *n, char *buf)
{
	return yt_printable(n->str, n->len, buf, MF_QUOTE_MAX);
}

static void mf_path_format(const struct mf_reader *m, char *buf, size_t size)
{
	size_t i, len = 0, depth = m->depth < MF_PATH_DEPTH ? m->depth : MF_PATH_DEPTH;

	buf[0] = '\0';
	for (i = 0; i < depth && len < size; i++) {
		const struct mf_seg *s = &m->path[i];
		int n;

		if (s->key)
			n = snprintf(buf + len, size - len, "%s%s", i ? "." : "", s->key);
		else
			n = snprintf(buf + len, size - len, "[%zu]", s->index);
		len += n > 0 ? (size_t)n : 0;
	}
	if (len && len < size)
		snprintf(buf + len, size - len, ": ");
}

void mf_error(struct mf_reader *m, const struct yt_node *at, const char *fmt, ...)
{
	char msg[512], who[256] = "", path[256], ns[MF_QUOTE_MAX], name[MF_QUOTE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m->kind && m->name && m->ns)
		snprintf(who, sizeof(who), "%s %s/%s: ", m->kind,
			 yt_printable(m->ns, strlen(m->ns), ns, sizeof(ns)),
			 yt_printable(m->name, strlen(m->name), name, sizeof(name)));
	else if (m->kind && m->name)
		snprintf(who, sizeof(who), "%s %s: ", m->kind,
			 yt_printable(m->name, strlen(m->name), name, sizeof(name)));
	else if (m->kind)
		snprintf(who, sizeof(who), "%s: ", m->kind);
	mf_path_format(m, path, sizeof(path));
	log_error("%s:%d:%d: %s%s%s", m->file, at->line, at->col, who, path, msg);
	m->n_errors++;
}

/* Field paths for messages: mf_enter appends ".key" (mf_enter_index "[i]")
 * and returns the old depth for mf_leave. */
static size_t mf_push_seg(struct mf_reader *m, const char *key, size_t index)
{
	if (m->depth < MF_PATH_DEPTH)
		m->path[m->depth] = (struct mf_seg){key, index};
	return m->depth++;
}

size_t mf_enter(struct mf_reader *m, const char *key)
{
	return mf_push_seg(m, key, 0);
}

size_t mf_enter_index(struct mf_reader *m, size_t i)
{
	return mf_push_seg(m, NULL, i);
}

void mf_leave(struct mf_reader *m, size_t old)
{
	m->depth = old;
}

struct np_loc mf_loc(const struct mf_reader *m, const struct yt_node *n)
{
	return (struct np_loc){.file = m->file, .line = n->line, .col = n->col};
}

/* ---- Typed access: Kubernetes reads an explicit null as an absent field. */

const struct yt_node *mf_get(const struct yt_node *map, const char *key)
{
	const struct yt_node *v = yt_map_get(map, key);

	return yt_is_null(v) ? NULL : v;
}

bool mf_is(struct mf_reader *m, const struct yt_node *n, enum yt_kind kind)
{
	if (n->kind == kind)
		return true;
	mf_error(m, n, "must be %s, not %s", kind == YT_MAP ? "a map" : "a list", yt_describe(n));
	return false;
}

/* List items and rules may be null: the API reads them as empty objects. */
bool mf_is_map_or_null(struct mf_reader *m, const struct yt_node *n)
{
	return yt_is_null(n) || mf_is(m, n, YT_MAP);
}

/* YAML 1.1 reads a plain y, n, yes, no, on, off as booleans; YAML 1.2 and most
 * emitters (PyYAML, go-yaml v3) treat them as strings and write them
 * unquoted, and namespaces named "y" or "n" are common in tests. In a field
 * that can only be a string we take their text; true/false and numbers stay
 * errors, as kubectl reports them. */
static bool yaml11_only_bool(const struct yt_node *n)
{
	return n->kind == YT_SCALAR && yt_scalar_type(n) == YT_BOOL &&
	       strcasecmp(n->str, "true") && strcasecmp(n->str, "false");
}

bool mf_is_str(struct mf_reader *m, const struct yt_node *n)
{
	enum yt_type t = yt_scalar_type(n);

	if (n->kind != YT_SCALAR || (t != YT_STR && !yaml11_only_bool(n))) {
		/* The classic: `version: 1` or `enabled: yes` in labels. */
		mf_error(m, n, "must be a string, not %s%s", yt_describe(n),
			 n->kind == YT_SCALAR ? " (quote it)" : "");
		return false;
	}
	if (strlen(n->str) != n->len) {
		mf_error(m, n, "must not contain NUL characters");
		return false;
	}
	return true;
}

/* String field key of map into *out (NULL when absent). Returns false after
 * reporting a value that is not a string. */
bool mf_str_field(struct mf_reader *m, const struct yt_node *map, const char *key,
		  const struct yt_node **out)
{
	const struct yt_node *v = mf_get(map, key);
	size_t old;
	bool ok;

	*out = NULL;
	if (!v)
		return true;
	old = mf_enter(m, key);
	ok = mf_is_str(m, v);
	mf_leave(m, old);
	if (ok)
		*out = v;
	return ok;
}

/* An integer in [min, max]; reports anything else. */
bool mf_int(struct mf_reader *m, const struct yt_node *n, int64_t min, int64_t max, int64_t *out)
{
	if (yt_scalar_type(n) != YT_INT || n->kind != YT_SCALAR) {
		mf_error(m, n, "must be an integer, not %s", yt_describe(n));
		return false;
	}
	if (yt_get_int(n, out) || *out < min || *out > max) {
		char buf[MF_QUOTE_MAX];

		mf_error(m, n, "%s is out of range: must be between %lld and %lld",
			 mf_quote(n, buf), (long long)min, (long long)max);
		return false;
	}
	return true;
}

/* Makes room for more elements in one allocation. List lengths are known
 * from the document; growing thousands of small arrays by doubling from 4
 * costs reallocs and memory. Returns 0 or -ENOMEM. */
int mf_reserve(void **base, size_t elem, size_t n, size_t *cap, size_t more)
{
	void *p;

	if (*cap - n >= more)
		return 0;
	if (more > SIZE_MAX / elem - n)
		return -ENOMEM;
	p = realloc(*base, (n + more) * elem);
	if (!p)
		return -ENOMEM;
	*base = p;
	*cap = n + more;
	return 0;
}

int mf_strdup(char **dst, const struct yt_node *n)
{
	*dst = strdup(n ? n->str : "");
	return *dst ? 0 : -ENOMEM;
}

/* Reports n (a string) when check finds it invalid. */
bool mf_valid(struct mf_reader *m, const struct yt_node *n, const char *what,
	      const char *(*check)(const char *, size_t))
{
	const char *why = check(n->str, n->len);
	char buf[MF_QUOTE_MAX];

	if (!why)
		return true;
	mf_error(m, n, "invalid %s \"%s\": %s", what, mf_quote(n, buf), why);
	return false;
}

/* Map keys reach the API server as JSON strings: kubectl turns an int key
 * into its decimal text. A key that already is that text is fine; any other
 * non-string key would be renamed on the way (yes -> "true"), so ask for
 * quotes instead. */
bool mf_is_key(struct mf_reader *m, const struct yt_node *key)
{
	char buf[32];
	int64_t v;

	if (yt_scalar_type(key) == YT_INT && !yt_get_int(key, &v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)v);
		if (!strcmp(buf, key->str))
			return true;
	}
	return mf_is_str(m, key);
}
