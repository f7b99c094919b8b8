/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API server's JSON as a stream (yajl): a LIST body or a WATCH body fed
 * in chunks cut anywhere, turned into one small yaml_tree per object, so
 * that a 150,000-pod LIST needs memory for one pod at a time. The trees are
 * the same struct yt_node the manifest decoders read (manifest_decode), so an
 * object from the API is validated exactly as one from a file.
 *
 *  - JS_LIST: the body is one object (a *List, or a Status on error). Each
 *    element of its top-level "items" is handed to fn as soon as it is
 *    complete; the top-level scalars (kind, metadata.resourceVersion,
 *    metadata.continue, metadata.remainingItemCount, and a Status's code,
 *    reason, message) land in js_meta.
 *  - JS_WATCH: the body is a sequence of concatenated values
 *    {"type": T, "object": {...}}, each handed to fn with its type once the
 *    whole event is read (type may come after object).
 *
 * metadata.managedFields of every object is skipped while parsing (it is
 * most of an object's bytes and nothing npbpf reads): an array value is
 * only scanned for its brackets, not checked as JSON. Limits as yaml_tree:
 * depth YT_MAX_DEPTH (of the whole body, skipped parts included), one
 * scalar YT_MAX_SCALAR, nodes per object YT_MAX_NODES, and 64 MiB of tree
 * per object; exceeding one is an error, as is a syntax error.
 *
 * The trees: JSON strings are quoted scalars (len counts a "\u0000"),
 * numbers, true, false and null plain scalars with their text as written,
 * so yt_scalar_type reads them as Kubernetes does. A key given twice in one
 * object (the API server never does) keeps its first place and its last
 * value, as Go's encoding/json. line is 1 and col the value's byte offset
 * in the body + 1 (inside a string with escapes, a few bytes in); weight
 * is as yaml_tree's. "items": null is an empty list.
 */
#ifndef NPBPF_JSON_STREAM_H
#define NPBPF_JSON_STREAM_H

#include <stddef.h>

#include "yaml_tree.h"

enum js_mode {
	JS_LIST,
	JS_WATCH,
};

/* The top-level scalars of a LIST body (empty strings when absent), set
 * once its object is complete. A resourceVersion or continue token that
 * does not fit is an error; a longer kind, reason or message is cut. */
struct js_meta {
	char kind[64];
	char resource_version[128];
	char cont[4096]; /* metadata.continue */
	long long remaining;  /* metadata.remainingItemCount, -1 when absent */
	int code;	      /* a Status's code, 0 when absent */
	char reason[64];      /* a Status's reason */
	char message[512];    /* a Status's message */
};

/* type: the event's type ("ADDED", "MODIFIED", "DELETED", "BOOKMARK",
 * "ERROR") in JS_WATCH, NULL in JS_LIST. obj: the object (for ERROR, a
 * Status), valid during the call only. Return 0 to go on or a negative errno
 * to stop: js_feed then returns it. */
typedef int (*js_object_fn)(const char *type, const struct yt_node *obj, void *arg);

struct json_stream;

/* name is used in error messages ("GET /api/v1/pods"). 0 or -ENOMEM. */
int js_new(enum js_mode mode, const char *name, js_object_fn fn, void *arg,
	   struct json_stream **out);
/* Feeds len bytes. 0; -EINVAL on malformed JSON or a limit (js_error says
 * which, not logged here); or what fn returned. After an error the stream
 * accepts nothing more. */
int js_feed(struct json_stream *s, const void *buf, size_t len);
/* The body ended. 0; -EINVAL when it ended inside a value (a truncated LIST
 * or a watch event cut off: js_error says so), or when a LIST body was
 * empty. A watch body may end between events, or have none. */
int js_finish(struct json_stream *s);
const struct js_meta *js_meta(const struct json_stream *s);
/* "NAME: byte N: what is wrong" after an error, else "". */
const char *js_error(const struct json_stream *s);
void js_free(struct json_stream *s);

#endif /* NPBPF_JSON_STREAM_H */
