/* SPDX-License-Identifier: Apache-2.0 */
#include "vec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *vec_push(void **base, size_t elem, size_t *n, size_t *cap)
{
	char *slot;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		void *p;

		if (ncap > SIZE_MAX / elem) {
			errno = ENOMEM;
			return NULL;
		}
		p = realloc(*base, ncap * elem);
		if (!p) {
			errno = ENOMEM;
			return NULL;
		}
		*base = p;
		*cap = ncap;
	}
	slot = (char *)*base + *n * elem;
	memset(slot, 0, elem);
	(*n)++;
	return slot;
}
