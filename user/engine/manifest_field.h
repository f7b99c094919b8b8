/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The field reader of the manifest decoders: typed access to a yaml_tree
 * node as Kubernetes reads a JSON field (an explicit null is an absent
 * field), the path of the field being read, and the one way an input error
 * is reported:
 *   FILE:LINE:COL: KIND NAMESPACE/NAME: FIELD: what is wrong
 * (KIND NAMESPACE/NAME left out while not yet known; cluster-scoped objects
 * have no NAMESPACE/). Errors are counted and reading goes on, so one run
 * shows every error. Readers return 0 or -ENOMEM only.
 */
#ifndef NPBPF_MANIFEST_FIELD_H
#define NPBPF_MANIFEST_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "yaml_tree.h"

#define MF_PATH_DEPTH 32
#define MF_QUOTE_MAX 80

struct mf_reader {
	const char *file; /* messages and np_loc.file: must outlive what is read */
	/* the object being read, for messages; point into the document */
	const char *kind, *ns, *name;
	/* the field being read, e.g. spec.ingress[0]; formatted only for a
	 * message, as reading every field must stay cheap */
	struct mf_seg {
		const char *key; /* NULL: an index */
		size_t index;
	} path[MF_PATH_DEPTH];
	size_t depth;
	unsigned long n_errors;
	/* namespace of objects that name none (kubectl apply -n); NULL:
	 * "default", and an object may name any */
	const char *default_ns;
};

void mf_error(struct mf_reader *m, const struct yt_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* n's text, printable and cut short, in buf (MF_QUOTE_MAX bytes). */
const char *mf_quote(const struct yt_node *n, char *buf);

/* Field paths for messages: mf_enter appends ".key" (mf_enter_index "[i]")
 * and returns the old depth for mf_leave. */
size_t mf_enter(struct mf_reader *m, const char *key);
size_t mf_enter_index(struct mf_reader *m, size_t i);
void mf_leave(struct mf_reader *m, size_t old);
struct np_loc mf_loc(const struct mf_reader *m, const struct yt_node *n);

/* Field key of map, NULL when absent or null. */
const struct yt_node *mf_get(const struct yt_node *map, const char *key);
/* Whether n is of kind (a map or a list); reports it when not. */
bool mf_is(struct mf_reader *m, const struct yt_node *n, enum yt_kind kind);
/* List items and rules may be null: the API reads them as empty objects. */
bool mf_is_map_or_null(struct mf_reader *m, const struct yt_node *n);
/* Whether n is a string (see yaml11_only_bool); reports it when not. */
bool mf_is_str(struct mf_reader *m, const struct yt_node *n);
/* Whether a map key reaches the API server as the string it reads as. */
bool mf_is_key(struct mf_reader *m, const struct yt_node *key);
/* String field key of map into *out (NULL when absent). Returns false after
 * reporting a value that is not a string. */
bool mf_str_field(struct mf_reader *m, const struct yt_node *map, const char *key,
		  const struct yt_node **out);
/* An integer in [min, max]; reports anything else. */
bool mf_int(struct mf_reader *m, const struct yt_node *n, int64_t min, int64_t max, int64_t *out);
/* Reports n (a string) when check (manifest_rules.h) finds it invalid. */
bool mf_valid(struct mf_reader *m, const struct yt_node *n, const char *what,
	      const char *(*check)(const char *, size_t));

/* Makes room for more elements in one allocation. List lengths are known
 * from the document; growing thousands of small arrays by doubling from 4
 * costs reallocs and memory. Returns 0 or -ENOMEM. */
int mf_reserve(void **base, size_t elem, size_t n, size_t *cap, size_t more);
#define MF_RESERVE(ptr, n, cap, more)                                                              \
	mf_reserve((void **)&(ptr), sizeof(*(ptr)), (n), &(cap), (more))
/* A copy of n's text ("" for NULL) into *dst. 0 or -ENOMEM. */
int mf_strdup(char **dst, const struct yt_node *n);

#endif /* NPBPF_MANIFEST_FIELD_H */
