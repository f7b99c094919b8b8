/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity allocation, the first half of compilation: ipBlock prefixes become
 * CIDR identities, pods are grouped by (namespace, labels, named ports,
 * ipBlock region) into pod identities, node addresses are filed under their
 * node and get host identities by region, and every address this node's
 * datapath must know gets an ipcache entry. Called by compile_cluster(); see compile.h for the structs.
 */
#ifndef NPBPF_IDENTITY_H
#define NPBPF_IDENTITY_H

#include "compile.h"

/* Fills cp->prefixes, cp->ids, cp->pod_id, cp->nodes, cp->pod_node,
 * cp->node_addrs, cp->ipcache, cp->endpoints and their indexes. Returns 0 or
 * -ENOMEM. */
int identity_allocate(struct compiled *cp, const struct compile_opts *opts);

/* Longest ipBlock prefix containing addr, as an index into cp->prefixes, or
 * -1 when none does. */
long identity_region_of(const struct compiled *cp, const struct np_addr *addr);

/* Does the ipBlock match every address of identity idn? */
bool identity_in_ipblock(const struct compiled *cp, const struct identity *idn,
			 const struct np_ipblock *b);

#endif
