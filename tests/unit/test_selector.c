/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>

#include "selector.h"

static struct np_labels labels;
static struct np_selector sel;

static void setup(void)
{
	memset(&labels, 0, sizeof(labels));
	memset(&sel, 0, sizeof(sel));
	cr_assert_eq(labels_set(&labels, "app", "web"), 0);
	cr_assert_eq(labels_set(&labels, "tier", "frontend"), 0);
}

static void teardown(void)
{
	labels_free(&labels);
	selector_free(&sel);
}

TestSuite(selector, .init = setup, .fini = teardown);

static void add_expr(const char *key, enum np_op op, const char **values, size_t n)
{
	struct np_expr *e;

	sel.exprs = realloc(sel.exprs, (sel.n_exprs + 1) * sizeof(*sel.exprs));
	e = &sel.exprs[sel.n_exprs++];
	memset(e, 0, sizeof(*e));
	e->key = strdup(key);
	e->op = op;
	e->values = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		e->values[i] = strdup(values[i]);
	e->n_values = e->cap_values = n;
	sel.cap_exprs = sel.n_exprs;
}

Test(selector, empty_selects_all)
{
	cr_assert(selector_is_empty(&sel));
	cr_assert(selector_matches(&sel, &labels));
}

Test(selector, match_labels_all_must_hold)
{
	labels_set(&sel.match, "app", "web");
	cr_assert(selector_matches(&sel, &labels));
	labels_set(&sel.match, "tier", "backend");
	cr_assert_not(selector_matches(&sel, &labels));
}

Test(selector, in_and_not_in)
{
	const char *v[] = { "web", "api" };

	add_expr("app", NP_OP_IN, v, 2);
	cr_assert(selector_matches(&sel, &labels));
	sel.exprs[0].op = NP_OP_NOT_IN;
	cr_assert_not(selector_matches(&sel, &labels));
}

Test(selector, not_in_matches_absent_key)
{
	const char *v[] = { "x" };

	add_expr("missing", NP_OP_NOT_IN, v, 1);
	cr_assert(selector_matches(&sel, &labels));
}

Test(selector, in_needs_the_key)
{
	const char *v[] = { "x" };

	add_expr("missing", NP_OP_IN, v, 1);
	cr_assert_not(selector_matches(&sel, &labels));
}

Test(selector, exists_and_does_not_exist)
{
	add_expr("tier", NP_OP_EXISTS, NULL, 0);
	cr_assert(selector_matches(&sel, &labels));
	add_expr("canary", NP_OP_DOES_NOT_EXIST, NULL, 0);
	cr_assert(selector_matches(&sel, &labels));
	sel.exprs[1].op = NP_OP_EXISTS;
	cr_assert_not(selector_matches(&sel, &labels));
}

Test(selector, labels_and_expressions_are_anded)
{
	const char *v[] = { "backend" };

	labels_set(&sel.match, "app", "web");
	add_expr("tier", NP_OP_IN, v, 1);
	cr_assert_not(selector_matches(&sel, &labels));
}
