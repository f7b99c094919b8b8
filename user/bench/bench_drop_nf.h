/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The same policy enforced by netfilter, generated from the same compile
 * (the sender's egress entries, their peers' addresses from the ipcache),
 * in the node namespaces of worlds BD_W_IPT and BD_W_NFT:
 *
 *  - iptables in kube-router's layout: FORWARD jumps to a router chain
 *    that sends the pod's traffic to its per-pod chain (conntrack
 *    established/related accepted, invalid dropped, then one jump per
 *    policy that selects the pod into that policy's chain, whose rules
 *    match an ipset of the rule's peers plus protocol and port and set the
 *    accept mark); unmarked packets are dropped. kube-router REJECTs and
 *    logs through NFLOG; the bench DROPs and does not log, so the figure is
 *    the filtering and not ICMP generation.
 *  - nftables in kube-network-policies' layout: a forward-hook chain that
 *    accepts established/related flows and sends the isolated pods'
 *    traffic (a set of pod addresses) to a set lookup keyed by source
 *    address, protocol, port and peer address. kube-network-policies asks
 *    a userspace daemon (nfqueue) about new flows; the bench puts the
 *    answers it would give into the set, which is what a compiled nftables
 *    enforcer does.
 *
 * Every policy count's rule set is loaded once (chains, ipsets and tables
 * named after the count); a run switches one on with a single jump (iptables)
 * or base chain (nftables), so no run pays another's rules.
 */
#ifndef NPBPF_BENCH_DROP_NF_H
#define NPBPF_BENCH_DROP_NF_H

#include <stdint.h>

#include "bench_drop_policy.h"

enum bd_nf_kind { BD_NF_IPT, BD_NF_NFT };

/* Loads the rule sets of p: ipset + iptables into namespace ipt_ns,
 * nftables into nft_ns (not yet switched on). 0 or -errno (logged). */
int bd_nf_load(const char *ipt_ns, const char *nft_ns, const struct bd_policy *p);
/* Switches kind's rule set of n policies on or off. 0 or -errno (logged). */
int bd_nf_switch(const char *netns, enum bd_nf_kind kind, uint32_t n, int on);
/* Packets kind's rule set of n policies dropped as denied by policy so far.
 * 0 or -errno (logged). */
int bd_nf_denied(const char *netns, enum bd_nf_kind kind, uint32_t n, uint64_t *packets);
/* "iptables v1.8.9 (nf_tables)", for the report; "" when unknown. */
void bd_nf_iptables_version(char *buf, size_t len);

#endif /* NPBPF_BENCH_DROP_NF_H */
