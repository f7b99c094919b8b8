/* SPDX-License-Identifier: Apache-2.0 */
#include "json_out.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"

void out_init(struct out *o, FILE *f, bool json)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->json = json;
	o->first[0] = true;
}

void out_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
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

int out_parse_format(const char *cmd, const char *arg, bool *json)
{
	if (strcmp(arg, "json") && strcmp(arg, "text")) {
		log_error("%s: -o takes text or json, not '%s'", cmd, arg);
		return -EINVAL;
	}
	*json = !strcmp(arg, "json");
	return 0;
}
