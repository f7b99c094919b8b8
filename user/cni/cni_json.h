/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON out of a yaml_tree document read from JSON (CNI configs and results):
 * libyaml reads JSON as YAML flow, every JSON string comes back quoted and
 * every plain scalar is a JSON literal, so the tree can be written back as
 * the JSON it came from (member order kept, whitespace not).
 */
#ifndef NPBPF_CNI_JSON_H
#define NPBPF_CNI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "json_out.h"
#include "yaml_tree.h"

/* s as a JSON string literal with quotes (json_out.c, the one escaper). */
static inline void cj_str(FILE *f, const char *s)
{
	out_json_string(f, s);
}

/* Writes n. In the top-level mapping, the member "cniVersion" is written
 * with the value cni_version instead when that is not NULL (added first
 * when n has none). indent < 0: compact, else pretty with that many spaces
 * of nesting. A scalar that was plain but is no JSON literal (YAML input)
 * is written as a string. */
void cj_node(FILE *f, const struct yt_node *n, const char *cni_version, int indent);

/* A malloc()ed copy of a scalar's text, NULL for anything else. */
char *cj_strdup(const struct yt_node *n);

/* A string member of a mapping: its text, or NULL when missing, null or
 * not a string (*bad set true in the last case when bad is not NULL). */
const char *cj_get_str(const struct yt_node *map, const char *key, bool *bad);

#endif
