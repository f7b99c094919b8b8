/* SPDX-License-Identifier: Apache-2.0 */
#include "cni_json.h"

#include <stdlib.h>
#include <string.h>

/* A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

static bool json_literal(const struct yt_node *n)
{
	if (n->quoted || strlen(n->str) != n->len)
		return false;
	return !strcmp(n->str, "true") || !strcmp(n->str, "false") || !strcmp(n->str, "null") ||
	       json_number(n->str);
}

static void newline(FILE *f, int indent, int depth)
{
	if (indent < 0)
		return;
	fputc('\n', f);
	for (int i = 0; i < indent * depth; i++)
		fputc(' ', f);
}

static void node(FILE *f, const struct yt_node *n, const char *cni_version, int indent, int depth)
{
	const char *sep = indent < 0 ? ":" : ": ";
	bool first = true;

	switch (n->kind) {
	case YT_SCALAR:
		if (!n->quoted && n->len == 0)
			fputs("null", f);
		else if (json_literal(n))
			fputs(n->str, f);
		else
			out_json_string_n(f, n->str, n->len);
		return;
	case YT_SEQ:
		fputc('[', f);
		for (uint32_t i = 0; i < n->n; i++) {
			if (i)
				fputc(',', f);
			newline(f, indent, depth + 1);
			node(f, n->items[i], NULL, indent, depth + 1);
		}
		if (n->n)
			newline(f, indent, depth);
		fputc(']', f);
		return;
	case YT_MAP:
		fputc('{', f);
		if (cni_version && !yt_map_get(n, "cniVersion")) {
			newline(f, indent, depth + 1);
			fprintf(f, "\"cniVersion\"%s", sep);
			cj_str(f, cni_version);
			first = false;
		}
		for (uint32_t i = 0; i + 1 < n->n; i += 2) {
			const struct yt_node *k = n->items[i], *v = n->items[i + 1];

			if (!first)
				fputc(',', f);
			first = false;
			newline(f, indent, depth + 1);
			out_json_string_n(f, k->str, k->len);
			fputs(sep, f);
			if (cni_version && !strcmp(k->str, "cniVersion"))
				cj_str(f, cni_version);
			else
				node(f, v, NULL, indent, depth + 1);
		}
		if (!first)
			newline(f, indent, depth);
		fputc('}', f);
		return;
	}
}

void cj_node(FILE *f, const struct yt_node *n, const char *cni_version, int indent)
{
	node(f, n, cni_version, indent, 0);
}

char *cj_strdup(const struct yt_node *n)
{
	char *s;

	if (!n || n->kind != YT_SCALAR)
		return NULL;
	s = malloc(n->len + 1);
	if (s) {
		memcpy(s, n->str, n->len);
		s[n->len] = '\0';
	}
	return s;
}

const char *cj_get_str(const struct yt_node *map, const char *key, bool *bad)
{
	const struct yt_node *v = yt_map_get(map, key);

	if (yt_is_null(v))
		return NULL;
	if (v->kind != YT_SCALAR || yt_scalar_type(v) != YT_STR) {
		if (bad)
			*bad = true;
		return NULL;
	}
	return v->str;
}
