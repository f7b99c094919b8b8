/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One output layer for text and JSON, so that a field is written by one call
 * whichever the format (the iproute2 way). struct out is either JSON or text;
 * every call says what it writes in each:
 *
 *   out_str(o, "key", v) ...        both: the JSON member, or a "key: value"
 *                                   line (indented by depth) in text;
 *   out_obj_begin(o, "key") ...     both: a JSON object or array, or a
 *                                   "key:" heading in text;
 *   out_print_str(o, "key", fmt, v) both: the JSON member, or v through fmt in
 *                                   text, for text laid out in lines or
 *                                   columns of one's own (fmt is checked
 *                                   against v at compile time);
 *   out_json_str(o, "key", v) ...   JSON only: a member the text leaves out
 *                                   or words differently;
 *   out_json_obj_begin(o, "key")    JSON only: structure text does not show;
 *   out_text(o, fmt, ...)           text only: words, separators, newlines.
 *
 * key is NULL for the top level and inside arrays.
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
/* Ends the document (newline after JSON) and flushes. */
void out_finish(struct out *o);

/* ---- Both forms, text as "key: value" lines and "key:" headings. */

void out_obj_begin(struct out *o, const char *key);
void out_obj_end(struct out *o);
void out_arr_begin(struct out *o, const char *key);
void out_arr_end(struct out *o);
void out_str(struct out *o, const char *key, const char *value);
void out_uint(struct out *o, const char *key, uint64_t value);
void out_int(struct out *o, const char *key, int64_t value);
void out_double(struct out *o, const char *key, double value, int decimals);
void out_bool(struct out *o, const char *key, bool value);

/* ---- Both forms, text through a format of the caller's. The value is
 * passed to fmt as a const char * (str), unsigned long long (uint), long
 * long (int) or double; JSON doubles get `decimals` digits. */

void out_print_str(struct out *o, const char *key, const char *fmt, const char *value)
	__attribute__((format(printf, 3, 0)));
void out_print_uint(struct out *o, const char *key, const char *fmt, uint64_t value)
	__attribute__((format(printf, 3, 0)));
void out_print_int(struct out *o, const char *key, const char *fmt, int64_t value)
	__attribute__((format(printf, 3, 0)));
void out_print_double(struct out *o, const char *key, const char *fmt, int decimals,
		      double value) __attribute__((format(printf, 3, 0)));

/* The functions take fmt as a parameter, so the compiler cannot match it
 * with the value there; these check each call's literal format against the
 * value's type instead (in sizeof: nothing is printed). */
#define out_print_str(o, key, fmt, value)                                                      \
	((void)sizeof(printf(fmt, (const char *)(value))), out_print_str(o, key, fmt, value))
#define out_print_uint(o, key, fmt, value)                                                     \
	((void)sizeof(printf(fmt, (unsigned long long)(value))),                               \
	 out_print_uint(o, key, fmt, value))
#define out_print_int(o, key, fmt, value)                                                      \
	((void)sizeof(printf(fmt, (long long)(value))), out_print_int(o, key, fmt, value))
#define out_print_double(o, key, fmt, decimals, value)                                         \
	((void)sizeof(printf(fmt, (double)(value))),                                           \
	 out_print_double(o, key, fmt, decimals, value))

/* ---- One form only. */

void out_json_obj_begin(struct out *o, const char *key);
void out_json_obj_end(struct out *o);
void out_json_arr_begin(struct out *o, const char *key);
void out_json_arr_end(struct out *o);
void out_json_str(struct out *o, const char *key, const char *value);
void out_json_uint(struct out *o, const char *key, uint64_t value);
void out_json_bool(struct out *o, const char *key, bool value);
void out_text(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s as a JSON string literal with quotes. */
void out_json_string(FILE *f, const char *s);
/* The same for len bytes at s, which may hold NULs (written \u0000). */
void out_json_string_n(FILE *f, const char *s, size_t len);

#endif
