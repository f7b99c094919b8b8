/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small document tree over libyaml's event parser, for Kubernetes manifests
 * (YAML, and JSON, which libyaml reads as YAML flow syntax).
 *
 * A stream is parsed one document at a time: each document's tree is handed
 * to a callback and freed when the callback returns, so a long stream never
 * holds more than one document in memory. Every node carries its 1-based line
 * and column for error messages. Syntax and limit errors are logged once, as
 * "FILE:LINE:COL: what is wrong", and end the stream (libyaml cannot resume
 * after an error).
 *
 * Anchors and aliases are supported; an alias shares the anchored node (it
 * is not copied). Merge keys ("<<: *base") are resolved into the mapping, as
 * kubectl's YAML decoder does. A mapping key must be a scalar and may appear
 * only once, as the API server's strict field validation demands.
 */
#ifndef NPBPF_YAML_TREE_H
#define NPBPF_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Limits. Every one of them turns hostile or broken input into a quick error
 * instead of unbounded memory or time.
 *
 * YT_MAX_DEPTH: nested collections. Real manifests nest about 15 deep
 *   (managedFields is the deepest part); the builder keeps a fixed frame per
 *   level and consumers recurse, so depth must be small and fixed. 100,000
 *   '[' fail at the 65th.
 * YT_MAX_SCALAR: one scalar's bytes. The largest legitimate strings in
 *   objects we read are annotations (the API server caps all annotations of
 *   an object at 256 KiB), so 1 MiB is generous.
 * YT_MAX_NODES: nodes of one document, where an alias counts as many nodes as
 *   the subtree it names. Aliases share nodes instead of copying them, but a
 *   consumer walking the tree still visits every expansion, so an alias bomb
 *   ("billion laughs") must fail here, after a few levels, before anyone
 *   walks it. With its strings and item pointers a node costs about 60
 *   bytes, so the cap also bounds one document's memory (~500 MiB). A List
 *   streamed through yt_item_fn is charged its items' own nodes per item
 *   (plus the items kept), so `kubectl get pods -A -o yaml` of any size
 *   fits; but every alias expansion stays charged for the whole document,
 *   in items already freed too, so an anchor aliased by every item of a
 *   List fails as it would outside one.
 * YT_MAX_INPUT: bytes of one file or of standard input.
 */
#define YT_MAX_DEPTH  64
#define YT_MAX_SCALAR (1u << 20)
#define YT_MAX_NODES  (8u << 20)
#define YT_MAX_INPUT  ((size_t)512 << 20)

enum yt_kind {
	YT_SCALAR,
	YT_SEQ,
	YT_MAP,
};

/* A node. Nodes belong to the document and are valid only during the
 * callback that receives them. 40 bytes: a big List is millions of them. */
struct yt_node {
	const char *str; /* scalars: the text, NUL-terminated; NULL otherwise */
	/* Sequences: the n items. Mappings: n / 2 pairs, items[2i] the key
	 * (always a scalar) and items[2i + 1] its value. */
	struct yt_node **items;
	uint32_t len; /* scalars: length of str (it may contain "\0" escapes) */
	uint32_t n;
	int line, col;	 /* 1-based; columns count characters, as libyaml does */
	uint32_t weight; /* nodes in this subtree, aliases expanded; internal */
	uint8_t kind;	 /* enum yt_kind */
	/* Scalars: true unless the scalar was plain (unquoted, not a block
	 * scalar, not tagged !!str). Only a plain scalar can be a number, a
	 * boolean or null: `port: 80` is an int, `port: "80"` a string. */
	bool quoted;
};

/* What a scalar means to Kubernetes. Kubernetes reads YAML with go-yaml v2,
 * i.e. YAML 1.1 rules for plain scalars: `yes`, `on` and `y` are booleans,
 * `0x50` and `080` are ints, `~` and the empty scalar are null. */
enum yt_type {
	YT_NULL,
	YT_BOOL,
	YT_INT,
	YT_FLOAT,
	YT_STR,
};

/* Called once per document with its root (a null scalar for an empty
 * document) and the input's name. Return 0 to go on, or a negative errno to
 * stop parsing; yt_parse_* then returns that value. */
typedef int (*yt_doc_fn)(const struct yt_node *root, const char *file, void *arg);

/*
 * Optional, for Kubernetes Lists: called for each item of the "items"
 * sequence of a root mapping as soon as the item is complete, long before
 * the document ends, so that a `kubectl get -o yaml` list of 10,000 pods
 * needs memory for one pod, not for all of them. head is the root mapping as
 * read so far: the pairs before "items" (kubectl's sorted output has
 * apiVersion there but kind only after the items). Return 0 when done with
 * the item: it is freed and left out of the root's items. Return YT_KEEP to
 * leave it in the root that yt_doc_fn receives at the end. A negative errno
 * stops parsing, as for yt_doc_fn.
 */
#define YT_KEEP 1
typedef int (*yt_item_fn)(const struct yt_node *item, const struct yt_node *head, const char *file,
			  void *arg);

/* Parses a file ("-" is standard input, named "<stdin>" in messages).
 * item_fn may be NULL. Returns 0; -EINVAL after a syntax or limit error;
 * -EFBIG for input larger than YT_MAX_INPUT; another -errno for I/O; or what
 * a callback returned. Every error but the callbacks' is logged here. */
int yt_parse_file(const char *path, yt_doc_fn fn, yt_item_fn item_fn, void *arg);

/* Parses len bytes of buf; name is used in messages. Returns as
 * yt_parse_file. */
int yt_parse_buffer(const char *name, const char *buf, size_t len, yt_doc_fn fn, yt_item_fn item_fn,
		    void *arg);

/* The value of key in a mapping; NULL when map is NULL, not a mapping, or
 * has no such key. */
const struct yt_node *yt_map_get(const struct yt_node *map, const char *key);

/* A scalar's type: YT_STR when quoted, else resolved as go-yaml v2 does.
 * A missing node (NULL) is YT_NULL; a collection gives YT_STR, so check kind
 * before asking for a string. */
enum yt_type yt_scalar_type(const struct yt_node *n);

/* true for a missing node (NULL) or a null scalar: Kubernetes treats an
 * explicit null like an absent field. */
bool yt_is_null(const struct yt_node *n);

/* Reads an int scalar (YT_INT) into *out. Returns 0, -EINVAL when n is not
 * an int, -ERANGE when it does not fit in 64 bits. */
int yt_get_int(const struct yt_node *n, int64_t *out);

/* Reads a boolean scalar (YT_BOOL). Returns 0 or -EINVAL. */
int yt_get_bool(const struct yt_node *n, bool *out);

/* Copies len bytes of s into buf (of size >= 8) for a message: bytes that
 * are not printable ASCII become '?' and long text is cut with "...", so
 * hostile input cannot put terminal escapes into our error log. Returns
 * buf. */
const char *yt_printable(const char *s, size_t len, char *buf, size_t size);

/* A node's kind or scalar type as words for messages: "a map", "a list",
 * "a string", "an integer", ... */
const char *yt_describe(const struct yt_node *n);

#endif /* NPBPF_YAML_TREE_H */
