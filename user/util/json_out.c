/* SPDX-License-Identifier: Apache-2.0 */
#include "json_out.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

void out_init(struct out *o, FILE *f, bool json)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->json = json;
	o->first[0] = true;
}

void out_json_string(FILE *f, const char *s)
{
	out_json_string_n(f, s, strlen(s));
}

void out_json_string_n(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (const unsigned char *e = p + len; p < e; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* JSON: separator and key. Text: indentation and "key: ". */
static void field_start(struct out *o, const char *key)
{
	if (o->json) {
		if (!o->first[o->depth])
			fputc(',', o->f);
		o->first[o->depth] = false;
		if (key) {
			out_json_string(o->f, key);
			fputc(':', o->f);
		}
		return;
	}
	for (int i = 1; i < o->depth; i++)
		fputs("  ", o->f);
	if (key)
		fprintf(o->f, "%s: ", key);
	else if (o->depth > 0)
		fputs("- ", o->f);
}

static void push(struct out *o)
{
	if (o->depth + 1 < OUT_MAX_DEPTH)
		o->depth++;
	o->first[o->depth] = true;
}

void out_obj_begin(struct out *o, const char *key)
{
	if (o->json) {
		field_start(o, key);
		fputc('{', o->f);
	} else if (key || o->depth > 0) {
		field_start(o, key);
		fputc('\n', o->f);
	}
	push(o);
}

void out_obj_end(struct out *o)
{
	if (o->depth > 0)
		o->depth--;
	if (o->json)
		fputc('}', o->f);
}

void out_arr_begin(struct out *o, const char *key)
{
	if (o->json) {
		field_start(o, key);
		fputc('[', o->f);
	} else {
		field_start(o, key);
		fputc('\n', o->f);
	}
	push(o);
}

void out_arr_end(struct out *o)
{
	if (o->depth > 0)
		o->depth--;
	if (o->json)
		fputc(']', o->f);
}

void out_str(struct out *o, const char *key, const char *value)
{
	field_start(o, key);
	if (o->json)
		out_json_string(o->f, value ? value : "");
	else
		fprintf(o->f, "%s\n", value ? value : "");
}

void out_uint(struct out *o, const char *key, uint64_t value)
{
	field_start(o, key);
	fprintf(o->f, o->json ? "%" PRIu64 : "%" PRIu64 "\n", value);
}

void out_int(struct out *o, const char *key, int64_t value)
{
	field_start(o, key);
	fprintf(o->f, o->json ? "%" PRId64 : "%" PRId64 "\n", value);
}

void out_double(struct out *o, const char *key, double value, int decimals)
{
	field_start(o, key);
	fprintf(o->f, o->json ? "%.*f" : "%.*f\n", decimals, value);
}

void out_bool(struct out *o, const char *key, bool value)
{
	field_start(o, key);
	fprintf(o->f, o->json ? "%s" : "%s\n", value ? "true" : "false");
}

void out_finish(struct out *o)
{
	if (o->json)
		fputc('\n', o->f);
	fflush(o->f);
}

/* ---- Both forms, text through the caller's format. */

static bool json_field(struct out *o, const char *key)
{
	if (!o->json)
		return false;
	field_start(o, key);
	return true;
}

/* The one place a format comes from a variable: the out_print_* macros of
 * json_out.h check each call's literal format against its value. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

void(out_print_str)(struct out *o, const char *key, const char *fmt, const char *value)
{
	if (json_field(o, key))
		out_json_string(o->f, value ? value : "");
	else
		fprintf(o->f, fmt, value ? value : "");
}

void(out_print_uint)(struct out *o, const char *key, const char *fmt, uint64_t value)
{
	if (json_field(o, key))
		fprintf(o->f, "%" PRIu64, value);
	else
		fprintf(o->f, fmt, (unsigned long long)value);
}

void(out_print_int)(struct out *o, const char *key, const char *fmt, int64_t value)
{
	if (json_field(o, key))
		fprintf(o->f, "%" PRId64, value);
	else
		fprintf(o->f, fmt, (long long)value);
}

void(out_print_double)(struct out *o, const char *key, const char *fmt, int decimals,
		       double value)
{
	if (json_field(o, key))
		fprintf(o->f, "%.*f", decimals, value);
	else
		fprintf(o->f, fmt, value);
}

#pragma GCC diagnostic pop

/* ---- One form only. */

void out_json_obj_begin(struct out *o, const char *key)
{
	if (o->json)
		out_obj_begin(o, key);
}

void out_json_obj_end(struct out *o)
{
	if (o->json)
		out_obj_end(o);
}

void out_json_arr_begin(struct out *o, const char *key)
{
	if (o->json)
		out_arr_begin(o, key);
}

void out_json_arr_end(struct out *o)
{
	if (o->json)
		out_arr_end(o);
}

void out_json_str(struct out *o, const char *key, const char *value)
{
	if (o->json)
		out_str(o, key, value);
}

void out_json_uint(struct out *o, const char *key, uint64_t value)
{
	if (o->json)
		out_uint(o, key, value);
}

void out_json_bool(struct out *o, const char *key, bool value)
{
	if (o->json)
		out_bool(o, key, value);
}

void out_text(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->json)
		return;
	va_start(ap, fmt);
	vfprintf(o->f, fmt, ap);
	va_end(ap);
}
