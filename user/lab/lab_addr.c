/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_addr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "matrix.h"
#include "vec.h"

/* Pods get addresses counting up from the start of a range, the node counts
 * down from its end, so they meet only when the range is full. */
#define POD_FIRST 2u
#define RANGE_V4_BASE 0xc6120000u /* 198.18.0.0 */
#define RANGE_V4_SIZE (1u << 17)   /* a /15 */

bool lab_addr_in_range(const struct np_addr *a)
{
	struct np_addr r;

	if (addr_parse(a->family == 6 ? LAB_RANGE_V6 : LAB_RANGE_V4, true, &r))
		return false;
	return addr_contains(&r, a);
}

struct used {
	struct np_addr *v;
	size_t n, cap;
};

static int cmp_addr(const void *a, const void *b)
{
	return addr_cmp(a, b);
}

static int used_add(struct used *u, const struct np_addr *a)
{
	struct np_addr *slot = VEC_PUSH(u->v, u->n, u->cap);

	if (!slot)
		return -ENOMEM;
	*slot = *a;
	return 0;
}

static bool used_has(const struct used *u, const struct np_addr *a)
{
	return u->n && bsearch(a, u->v, u->n, sizeof(*u->v), cmp_addr);
}

static int out_of_range(const char *what, const struct np_addr *a)
{
	char buf[64];

	log_error("lab: %s has address %s, outside the lab's ranges %s and %s: the lab only "
		  "sends traffic to test addresses",
		  what, addr_format(a, buf, sizeof(buf)), LAB_RANGE_V4, LAB_RANGE_V6);
	return -EINVAL;
}

int lab_addr_check(const struct np_cluster *c, const struct np_addr *ext, size_t n_ext)
{
	struct used u = { 0 };
	char who[600], buf[64];
	int err = 0;

	for (size_t i = 0; i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		snprintf(who, sizeof(who), "pod %s/%s", pod->ns, pod->name);
		for (size_t a = 0; a < pod->n_addrs; a++) {
			if (!lab_addr_in_range(&pod->addrs[a]))
				err = out_of_range(who, &pod->addrs[a]);
			else if (!pod->host_network && used_add(&u, &pod->addrs[a]))
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n_ext; i++) {
		if (!lab_addr_in_range(&ext[i]))
			err = out_of_range("--external", &ext[i]);
		else if (used_add(&u, &ext[i]))
			return -ENOMEM;
	}
	if (u.n) /* qsort's array may not be NULL, even for zero elements */
		qsort(u.v, u.n, sizeof(*u.v), cmp_addr);
	for (size_t i = 1; i < u.n; i++) {
		if (!addr_cmp(&u.v[i - 1], &u.v[i])) {
			log_error("lab: address %s is given to two pods or externals",
				  addr_format(&u.v[i], buf, sizeof(buf)));
			err = -EINVAL;
		}
	}
	/* hostNetwork pods live on the node: sharing a pod's address is wrong. */
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		for (size_t a = 0; pod->host_network && a < pod->n_addrs; a++) {
			if (used_has(&u, &pod->addrs[a])) {
				log_error("lab: hostNetwork pod %s/%s has the address %s of a pod or "
					  "external",
					  pod->ns, pod->name,
					  addr_format(&pod->addrs[a], buf, sizeof(buf)));
				err = -EINVAL;
			}
		}
	}
	free(u.v);
	return err;
}

/* The index-th address of the family's range (v6: in its last 32 bits). */
static void range_addr(int family, uint32_t index, struct np_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)family;
	if (family == 4) {
		uint32_t v = RANGE_V4_BASE + index;

		out->plen = 32;
		out->bytes[0] = (uint8_t)(v >> 24);
		out->bytes[1] = (uint8_t)(v >> 16);
		out->bytes[2] = (uint8_t)(v >> 8);
		out->bytes[3] = (uint8_t)v;
		return;
	}
	out->plen = 128;
	out->bytes[0] = 0x20;
	out->bytes[1] = 0x01;
	out->bytes[2] = 0x0d;
	out->bytes[3] = 0xb8;
	out->bytes[12] = (uint8_t)(index >> 24);
	out->bytes[13] = (uint8_t)(index >> 16);
	out->bytes[14] = (uint8_t)(index >> 8);
	out->bytes[15] = (uint8_t)index;
}

/* The next free address counting from *next, up (step 1) or down (-1). */
static int take(const struct used *u, int family, uint32_t *next, int step, struct np_addr *out)
{
	uint32_t limit = family == 4 ? RANGE_V4_SIZE - 1 : 0xffffffffu;

	for (; *next >= POD_FIRST && *next < limit; *next += (uint32_t)step) {
		range_addr(family, *next, out);
		if (!used_has(u, out)) {
			*next += (uint32_t)step;
			return 0;
		}
	}
	log_error("lab: no free address left in %s", family == 4 ? LAB_RANGE_V4 : LAB_RANGE_V6);
	return -ENOSPC;
}

int lab_addr_assign(struct np_cluster *c, int families, const struct np_addr *ext, size_t n_ext,
		    struct np_addr node[2])
{
	uint32_t next[2] = { POD_FIRST, POD_FIRST };
	uint32_t node_next[2] = { RANGE_V4_SIZE - 2, 0xfffffffeu };
	struct used u = { 0 };
	int err = 0;

	for (size_t i = 0; !err && i < c->n_pods; i++) {
		for (size_t a = 0; !err && a < c->pods[i].n_addrs; a++)
			err = used_add(&u, &c->pods[i].addrs[a]);
	}
	for (size_t i = 0; !err && i < n_ext; i++)
		err = used_add(&u, &ext[i]);
	if (err)
		goto out;
	if (u.n) /* qsort's array may not be NULL, even for zero elements */
		qsort(u.v, u.n, sizeof(*u.v), cmp_addr);
	/* The node first, so that a pod allocated later never takes its place;
	 * both stay out of u: pods count up and never reach them. */
	for (int f = 0; !err && f < 2; f++)
		err = take(&u, f ? 6 : 4, &node_next[f], -1, &node[f]);
	for (size_t i = 0; !err && i < c->n_pods; i++) {
		struct np_pod *pod = &c->pods[i];

		if (pod->host_network || pod->n_addrs)
			continue;
		for (int f = 0; !err && f < 2; f++) {
			struct np_addr *slot;

			if (!(families & (f ? MATRIX_V6 : MATRIX_V4)))
				continue;
			slot = VEC_PUSH(pod->addrs, pod->n_addrs, pod->cap_addrs);
			err = slot ? take(&u, f ? 6 : 4, &next[f], 1, slot) : -ENOMEM;
			if (err && slot)
				pod->n_addrs--;
			if (!err && addr_cmp(slot, &node[f]) == 0) {
				log_error("lab: no free address left for pod %s/%s", pod->ns,
					  pod->name);
				err = -ENOSPC;
			}
		}
	}
out:
	free(u.v);
	return err;
}

int lab_addr_check_node(const struct np_cluster *c, const char *node)
{
	struct used u = { 0 };
	char who[600], buf[64];
	int err = 0;

	for (size_t i = 0; i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		if (!pod->node || strcmp(pod->node, node))
			continue;
		snprintf(who, sizeof(who), "pod %s/%s (on %s)", pod->ns, pod->name, node);
		for (size_t a = 0; a < pod->n_addrs; a++) {
			if (!lab_addr_in_range(&pod->addrs[a]))
				err = out_of_range(who, &pod->addrs[a]);
			else if (!pod->host_network && used_add(&u, &pod->addrs[a]))
				return -ENOMEM;
		}
	}
	if (u.n)
		qsort(u.v, u.n, sizeof(*u.v), cmp_addr);
	for (size_t i = 1; i < u.n; i++) {
		if (!addr_cmp(&u.v[i - 1], &u.v[i])) {
			log_error("lab: address %s is given to two pods of %s",
				  addr_format(&u.v[i], buf, sizeof(buf)), node);
			err = -EINVAL;
		}
	}
	free(u.v);
	return err;
}

int lab_addr_pick_node(const struct np_cluster *c, struct np_addr node[2])
{
	uint32_t node_next[2] = { RANGE_V4_SIZE - 2, 0xfffffffeu };
	struct used u = { 0 };
	int err = 0;

	for (size_t i = 0; !err && i < c->n_pods; i++) {
		for (size_t a = 0; !err && a < c->pods[i].n_addrs; a++)
			err = used_add(&u, &c->pods[i].addrs[a]);
		for (size_t a = 0; !err && a < c->pods[i].n_host_addrs; a++)
			err = used_add(&u, &c->pods[i].host_addrs[a]);
	}
	if (!err && u.n)
		qsort(u.v, u.n, sizeof(*u.v), cmp_addr);
	for (int f = 0; !err && f < 2; f++)
		err = take(&u, f ? 6 : 4, &node_next[f], -1, &node[f]);
	free(u.v);
	return err;
}
