/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench drop's network: named network namespaces (so that ip, nft, iptables
 * and ipset can be run in them) named BD_NETNS_PREFIX<pid>-..., two copies
 * ("worlds") of one topology, and the one helper that runs those programs.
 *
 *   pod ns:  eth0 (the sender pod, BD_POD_ADDR, BD_POD_MAC)
 *              | veth, 2 queues each way (the 2-core runs)
 *   node ns: podh (host side: where npbpf or the droppers sit)
 *            rcvh --veth-- rcv ns: eth0 (the receiver, BD_RCV_ADDR)
 *
 * The node routes the pod's allowed packets to the receiver, whose eth0
 * drops and counts them in XDP. World BD_W_BPF holds the eBPF droppers and
 * npbpf; BD_W_IPT the iptables rule sets, BD_W_NFT the nftables ones:
 * apart, because their conntrack would otherwise judge every packet of the
 * eBPF runs too, and because iptables-nft's chains (nf_tables too) would
 * make every nft command read thousands of them.
 * Addresses only from 198.18.0.0/15 (RFC 2544's benchmarking range).
 */
#ifndef NPBPF_BENCH_DROP_NET_H
#define NPBPF_BENCH_DROP_NET_H

#include <stdbool.h>
#include <stdint.h>

#define BD_NETNS_PREFIX "npbd"

/* Host order. Peers of the policy sweep: BD_PEER_ADDR(1...). */
#define BD_POD_ADDR 0xc612000au /* 198.18.0.10 */
#define BD_RCV_ADDR 0xc612010au /* 198.18.1.10 */
#define BD_PEER_ADDR(i) (0xc6130000u + (uint32_t)(i)) /* 198.19.0.0 + i */

extern const uint8_t bd_pod_mac[6], bd_podh_mac[6], bd_rcv_mac[6], bd_rcvh_mac[6];

enum bd_world { BD_W_BPF, BD_W_IPT, BD_W_NFT, BD_N_WORLDS };

struct bd_world_net {
	char pod[40], node[40], rcv[40]; /* namespace names */
	uint32_t pod_ifindex;            /* eth0 in the pod ns */
	uint32_t podh_ifindex;           /* the host veth in the node ns */
	uint32_t rcv_ifindex;            /* eth0 in the receiver ns */
};

struct bd_net {
	char prefix[24]; /* BD_NETNS_PREFIX<pid> */
	struct bd_world_net w[BD_N_WORLDS];
};

/* Names the namespaces after this process. */
void bd_net_init(struct bd_net *n);
/* Creates both worlds. On failure what exists stays for bd_net_destroy.
 * 0 or -errno (logged). */
int bd_net_create(struct bd_net *n);
/* Deletes every namespace of n that exists; veths and attachments go with
 * them. Safe to call more than once and from any point of bd_net_create. */
void bd_net_destroy(const struct bd_net *n);
/* Deletes the namespaces of earlier runs whose process is gone (a bench
 * killed with SIGKILL cannot clean up). */
void bd_net_sweep_stale(void);
/* Whether any namespace named BD_NETNS_PREFIX... exists (for the test). */
bool bd_net_any_left(const char *prefix);

/* The calling thread into namespace name (its old one in *saved) and back.
 * 0 or -errno (logged). */
int bd_netns_enter(const char *name, int *saved);
int bd_netns_leave(int saved);

/*
 * Runs argv (argv[0] looked up in PATH) in namespace netns (NULL: ours) with
 * input on its stdin (NULL: /dev/null); with out, its stdout is collected
 * into *out (malloc'd, NUL-terminated). 0 when it exits with 0, -EIO
 * otherwise (its stderr is left on ours), -errno when it cannot run.
 */
int bd_exec(const char *netns, const char *const *argv, const char *input, char **out);

#endif /* NPBPF_BENCH_DROP_NET_H */
