/* SPDX-License-Identifier: Apache-2.0 */
#include "selector.h"

#include <string.h>

static bool value_in(const struct np_expr *e, const char *value)
{
	for (size_t i = 0; i < e->n_values; i++) {
		if (!strcmp(e->values[i], value))
			return true;
	}
	return false;
}

static bool expr_matches(const struct np_expr *e, const struct np_labels *labels)
{
	const char *v = labels_get(labels, e->key);

	switch (e->op) {
	case NP_OP_IN:
		return v && value_in(e, v);
	case NP_OP_NOT_IN:
		return !v || !value_in(e, v);
	case NP_OP_EXISTS:
		return v != NULL;
	case NP_OP_DOES_NOT_EXIST:
		return v == NULL;
	}
	return false;
}

bool selector_matches(const struct np_selector *s, const struct np_labels *labels)
{
	for (size_t i = 0; i < s->match.n; i++) {
		const char *v = labels_get(labels, s->match.v[i].key);

		if (!v || strcmp(v, s->match.v[i].value))
			return false;
	}
	for (size_t i = 0; i < s->n_exprs; i++) {
		if (!expr_matches(&s->exprs[i], labels))
			return false;
	}
	return true;
}

bool selector_is_empty(const struct np_selector *s)
{
	return s->match.n == 0 && s->n_exprs == 0;
}
