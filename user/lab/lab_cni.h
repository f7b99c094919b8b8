/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lab's pods wired by the real CNI plugins (`lab --cni`), invoked as a
 * container runtime invokes them (libcni's semantics, without libcni):
 *
 *  - one network list (LAB_STATE_DIR/ID.cni/net.conflist): the `bridge`
 *    plugin (cni0, isGateway, hairpinMode, no masquerade) with `host-local`
 *    IPAM on the node's pod CIDR (its dataDir private to the lab), then the
 *    plugins of the chain (npbpf-cni when it is built);
 *  - ADD runs each plugin in list order, its stdin the list's name and
 *    cniVersion, its own config, runtimeConfig for the capabilities it
 *    declares (`ips`: a pod's declared addresses) and prevResult (the
 *    previous plugin's output); the last output is the result, cached
 *    (ID.cni/results/NETWORK-CONTAINERID-eth0, libcni's cniCacheV1 layout)
 *    so that DEL can pass it as prevResult to each plugin in reverse order;
 *  - environment CNI_COMMAND, CNI_CONTAINERID (the pod's netns name),
 *    CNI_NETNS (/run/netns/...), CNI_IFNAME=eth0, CNI_PATH (/usr/lib/cni and
 *    the directory of npbpf-cni), CNI_ARGS (IgnoreUnknown=1;
 *    K8S_POD_NAMESPACE=..;K8S_POD_NAME=..);
 *  - every plugin runs in the lab's node namespace (fork, setns in the
 *    child, exec: `ip netns exec` would remount /sys and hide bpffs).
 */
#ifndef NPBPF_LAB_CNI_H
#define NPBPF_LAB_CNI_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lab_net.h"
#include "model.h"

#define LAB_CNI_NETWORK "npbpf-lab"
#define LAB_CNI_VERSION "1.0.0"
#define LAB_CNI_BIN_DIR "/usr/lib/cni"
#define LAB_CNI_BRIDGE "cni0"
#define LAB_CNI_CHAIN_MAX 4

/* What the network list is made of. */
struct lab_cni_conf {
	bool family[2];          /* [0] IPv4, [1] IPv6: a host-local range */
	struct np_addr subnet[2], gw[2];
	const struct np_addr *ext; /* routed via the gateway, not on-link */
	size_t n_ext;
	/* Plugin types after bridge, in order. */
	char chain[LAB_CNI_CHAIN_MAX][32];
	size_t n_chain;
	const char *pin_dir;     /* for npbpf-cni */
	const char *agent_socket; /* for npbpf-cni: the lab agent's (or none) */
};

struct lab_cni {
	char dir[256];           /* LAB_STATE_DIR/ID.cni */
	char node_netns[LAB_NAME_MAX];
	char cni_path[1024];
	char *conflist;          /* the list's text */
};

/* One pod's interface as ADD left it (or the cache holds it). */
struct lab_cni_iface {
	char veth[IF_NAMESIZE];  /* host side, in the node namespace */
	bool has_mac;
	uint8_t mac[6];          /* of eth0 in the pod */
	struct np_addr addrs[4]; /* full-length (/32, /128) */
	size_t n_addrs;
};

/* LAB_STATE_DIR/ID.cni; plugins' stderr goes to its plugins.log. */
void lab_cni_dir(const char *id, char *buf, size_t len);
/* LAB_STATE_DIR/ID.cni/agent.sock: where npbpf-cni finds the lab's agent. */
void lab_cni_agent_socket(const char *id, char *buf, size_t len);
/* true when the chain holds npbpf-cni. */
bool lab_cni_conf_has_npbpf_cni(const struct lab_cni_conf *conf);

/* Where npbpf-cni is, next to this binary (build/user/cni/npbpf-cni,
 * or installed beside npbpf): its directory in dir, true when found. */
bool lab_cni_find_npbpf_cni(char *dir, size_t len);

/* "npbpf-cni,foo" or "" -> conf->chain; "auto": npbpf-cni when found. 0 or
 * -EINVAL (logged). */
int lab_cni_parse_chain(const char *text, struct lab_cni_conf *conf);

/* Builds the list and writes it in its directory (created). 0 or -errno
 * (logged). */
int lab_cni_create(struct lab_cni *cni, const char *id, const char *node_netns,
		   const struct lab_cni_conf *conf);
/* A kept lab's list (lab probe). 0 or -errno (logged). */
int lab_cni_load(struct lab_cni *cni, const char *id, const char *node_netns);
void lab_cni_free(struct lab_cni *cni);

/* ADD of one pod (ips: the addresses it must keep, requested through the
 * `ips` capability; none: host-local picks). On failure, DEL runs, as a
 * runtime does. 0 or -errno (logged, with the plugin's message). */
int lab_cni_add(const struct lab_cni *cni, const char *cid, const char *netns,
		const char *k8s_ns, const char *k8s_name, const struct np_addr *ips,
		size_t n_ips, struct lab_cni_iface *out);
/* DEL of one pod through the chain, in reverse, with its cached result;
 * the cache entry goes. 0 or -errno (logged). */
int lab_cni_del(const struct lab_cni *cni, const char *cid);
/* CHECK of one pod through the chain (list order, its cached result as
 * prevResult). 0 or -errno (logged). */
int lab_cni_check(const struct lab_cni *cni, const char *cid);
/* The cached result of a pod. 0, -ENOENT or -errno. */
int lab_cni_cached(const struct lab_cni *cni, const char *cid, struct lab_cni_iface *out);

/* Teardown of a lab's CNI directory (lab_state): DEL of every cached pod,
 * a check that host-local released every address, then the directory. 0 or
 * the first error (logged). */
int lab_cni_teardown(const char *dir, const char *node_netns);

#endif /* NPBPF_LAB_CNI_H */
