/* SPDX-License-Identifier: Apache-2.0 */
/* Label selectors (metav1.LabelSelector semantics). */
#ifndef NPBPF_SELECTOR_H
#define NPBPF_SELECTOR_H

#include <stdbool.h>

#include "model.h"

/* matchLabels AND every matchExpression; an empty selector matches all.
 * NotIn also matches when the key is absent, as Kubernetes does. */
bool selector_matches(const struct np_selector *s, const struct np_labels *labels);
bool selector_is_empty(const struct np_selector *s);

#endif
