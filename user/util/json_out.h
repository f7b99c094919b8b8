/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One emitter for text and JSON output, so a field is formatted in exactly one
 * place (the iproute2 way). In JSON mode it writes a proper JSON document; in
 * text mode each scalar field becomes an indented "key: value" line and
 * objects/arrays become headings. Commands that need a custom text layout
 * (tables) test out->json and print the text themselves.
 */
#ifndef NPBPF_JSON_OUT_H
#define NPBPF_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OUT_MAX_DEPTH 32

struct out {
	FILE *f;
	bool json;
	int depth;
	bool first[OUT_MAX_DEPTH]; /* no element written yet at this depth */
};

void out_init(struct out *o, FILE *f, bool json);
/* key is NULL for the top level and inside arrays. */
void out_obj_begin(struct out *o, const char *key);
void out_obj_end(struct out *o);
void out_arr_begin(struct out *o, const char *key);
void out_arr_end(struct out *o);
void out_str(struct out *o, const char *key, const char *value);
void out_uint(struct out *o, const char *key, uint64_t value);
void out_int(struct out *o, const char *key, int64_t value);
void out_double(struct out *o, const char *key, double value, int decimals);
void out_bool(struct out *o, const char *key, bool value);
/* Parses an -o argument ("text" or "json") into *json. Returns 0, or
 * -EINVAL after logging "CMD: -o takes text or json". */
int out_parse_format(const char *cmd, const char *arg, bool *json);
/* Writes s as a JSON string literal with quotes. */
void out_json_string(FILE *f, const char *s);
/* Ends the document (newline after JSON). */
void out_finish(struct out *o);

#endif
