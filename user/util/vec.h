/* SPDX-License-Identifier: Apache-2.0 */
/* Growable arrays: a pointer, a count and a capacity.
 *   struct foo *items; size_t n_items, cap_items;
 *   struct foo *slot = VEC_PUSH(items, n_items, cap_items);
 * VEC_PUSH returns a new zeroed slot, or NULL (errno ENOMEM) leaving the
 * array as it was. */
#ifndef NPBPF_VEC_H
#define NPBPF_VEC_H

#include <stddef.h>

void *vec_push(void **base, size_t elem, size_t *n, size_t *cap);

#define VEC_PUSH(ptr, n, cap) ((__typeof__(ptr))vec_push((void **)&(ptr), sizeof(*(ptr)), &(n), &(cap)))

#endif
