/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lab's addresses. Its traffic may only use 198.18.0.0/15 (RFC 2544,
 * benchmarking) and 2001:db8::/32 (RFC 3849, documentation): a manifest or
 * an --external outside them is refused, never routed. Pods whose manifest
 * gives no address get one from the same ranges, and so does the node.
 */
#ifndef NPBPF_LAB_ADDR_H
#define NPBPF_LAB_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

#define LAB_RANGE_V4 "198.18.0.0/15"
#define LAB_RANGE_V6 "2001:db8::/32"

/* true when a lies inside one of the lab's ranges. */
bool lab_addr_in_range(const struct np_addr *a);

/*
 * Every pod address (hostNetwork pods' too: they go on the node) and every
 * external must lie in the ranges, and no address may belong to two of
 * them (hostNetwork pods may share one: the node's). Logs each offender.
 * 0 or -EINVAL.
 */
int lab_addr_check(const struct np_cluster *c, const struct np_addr *ext, size_t n_ext);

/*
 * Gives each non-hostNetwork pod without any address one address per family
 * in families (MATRIX_V4, MATRIX_V6 bits), added to the pod in the model so
 * that the compiled tables, explain and the lab all see it, and picks the
 * node's addresses (node[0] IPv4, node[1] IPv6), all unused. 0, -ENOMEM, or
 * -ENOSPC when a range is full (logged).
 */
int lab_addr_assign(struct np_cluster *c, int families, const struct np_addr *ext, size_t n_ext,
		    struct np_addr node[2]);

/*
 * Cluster mode (addresses come from the API, none is made up): the pods of
 * node (non-hostNetwork ones on their veths, hostNetwork ones on the node)
 * must lie in the ranges; two pods of the node sharing one is an error.
 * Pods of other nodes are only ipcache entries and are not checked. 0 or
 * -EINVAL (each offender logged).
 */
int lab_addr_check_node(const struct np_cluster *c, const char *node);

/* The node's own addresses for cluster mode (node[0] IPv4, node[1] IPv6):
 * the highest of each range that no pod of any node and no node address
 * (status.hostIPs) holds. 0, -ENOMEM or -ENOSPC (logged). */
int lab_addr_pick_node(const struct np_cluster *c, struct np_addr node[2]);

#endif /* NPBPF_LAB_ADDR_H */
