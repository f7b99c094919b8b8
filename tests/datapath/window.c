/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The new-pod window, as npbpf-cni closes it (tracker issue 11), one
 * BPF_PROG_TEST_RUN check each:
 *  - an address of this node's pod segment (npbpf_segment) that no bound
 *    pod has is no peer: new flows to or from it drop with
 *    NPBPF_DROP_UNKNOWN_POD at the hooks of bound pods, before a wildcard
 *    rule could admit it, and also where no policy isolates the pod; the
 *    segment's gateway is the node; addresses outside every segment are
 *    judged as before;
 *  - a pending pod (npbpf_pending: wired, not bound) passes the same link
 *    checks as a bound one, is reached by the node only (not with
 *    NPBPF_CFG_ENFORCE_HOST), answers the node on conntrack and sends
 *    nothing else;
 *  - an endpoint record shadows a pending one: binding is one write.
 */
#include "harness.h"
#include "loader.h"

#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/*
 * Namespace wn: open is selected by no policy; everyone admits every peer
 * (a wildcard rule); closed admits nothing (the node reaches it through
 * the host entries). node is a hostNetwork pod: its address is the node's.
 */
static const char wn_yaml[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: wn}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: open, namespace: wn, labels: {app: o}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.31.1, podIPs: [{ip: 198.18.31.1}, {ip: '2001:db8:31::1'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: everyone, namespace: wn, labels: {app: e}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.31.2, podIPs: [{ip: 198.18.31.2}, {ip: '2001:db8:31::2'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: closed, namespace: wn, labels: {app: c}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.31.3, podIPs: [{ip: 198.18.31.3}, {ip: '2001:db8:31::3'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: node, namespace: wn}\n"
	"spec: {hostNetwork: true, containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.31.254, podIPs: [{ip: 198.18.31.254}]}\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: everyone, namespace: wn}\n"
	"spec:\n  podSelector: {matchLabels: {app: e}}\n  policyTypes: [Ingress, Egress]\n"
	"  ingress: [{}]\n  egress: [{}]\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: closed, namespace: wn}\n"
	"spec:\n  podSelector: {matchLabels: {app: c}}\n  policyTypes: [Ingress, Egress]\n";

/* The MAC pkt_build() writes as the source. */
static const uint8_t wn_src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct wn {
	struct harness *h;
	struct scen s;
	uint32_t if_o, if_e, if_c, if_p; /* open, everyone, closed, the pending pod */
	struct np_addr o4, e4, c4, node4, gw4, p4, unk4, far4, o6, unk6;
};

static int segment_put(struct wn *d, const char *prefix, int plen, uint32_t identity,
		       uint32_t flags)
{
	struct np_addr a = test_addr(prefix);
	struct npbpf_ipc_key k;
	struct npbpf_ipc_value v = { .identity = identity, .flags = flags };

	memset(&k, 0, sizeof(k));
	k.prefixlen = 32 + (uint32_t)plen;
	k.a.family = a.family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
	memcpy(k.a.addr, a.bytes, a.family == 4 ? 4 : 16);
	return bpf_map__update_elem(d->h->skel->maps.npbpf_segment, &k, sizeof(k), &v, sizeof(v),
				    BPF_ANY);
}

static int segment_del(struct wn *d, const char *prefix, int plen)
{
	struct np_addr a = test_addr(prefix);
	struct npbpf_ipc_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = 32 + (uint32_t)plen;
	k.a.family = a.family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
	memcpy(k.a.addr, a.bytes, a.family == 4 ? 4 : 16);
	return bpf_map__delete_elem(d->h->skel->maps.npbpf_segment, &k, sizeof(k), 0);
}

/* The segments npbpf-cni would write for pods wired on 198.18.31.0/24 and
 * 2001:db8:31::/64 behind a bridge whose address is .250. */
static int segments_fill(struct wn *d)
{
	return segment_put(d, "198.18.31.0", 24, NPBPF_ID_UNKNOWN_POD, 0) ||
	       segment_put(d, "2001:db8:31::", 64, NPBPF_ID_UNKNOWN_POD, 0) ||
	       segment_put(d, "198.18.31.250", 32, NPBPF_ID_HOST,
			   NPBPF_IPC_NODE | NPBPF_IPC_ON_LINK);
}

static void check(struct wn *d, enum hook hk, uint32_t ifindex, const struct np_addr *a,
		  const struct np_addr *b, uint8_t proto, uint16_t port, int want_pass, int why, const char *what)
{
	struct flow f = mkflow(d->h, a, b, proto, port);
	uint8_t pkt[PKT_CAP];
	size_t len = pkt_open(&f, pkt);

	expect(d->h, hk, ifindex, pkt, len, want_pass, why, what);
}

static void wn_unknown(struct wn *d)
{
	uint8_t pkt[PKT_CAP];
	struct flow f;
	size_t len;

	check(d, H_FROM, d->if_o, &d->o4, &d->unk4, IPPROTO_UDP, 53, 0,
	      NPBPF_DROP_UNKNOWN_POD, "unisolated pod -> unknown address of the pod segment");
	check(d, H_XDP, d->if_o, &d->o4, &d->unk4, IPPROTO_UDP, 53, 0,
	      NPBPF_DROP_UNKNOWN_POD, "the same at XDP");
	check(d, H_FROM, d->if_o, &d->o4, &d->unk4, IPPROTO_TCP, 80, 0,
	      NPBPF_DROP_UNKNOWN_POD, "unisolated pod -> unknown pod: TCP SYN");
	check(d, H_FROM, d->if_o, &d->o6, &d->unk6, IPPROTO_UDP, 53, 0,
	      NPBPF_DROP_UNKNOWN_POD, "unisolated pod -> unknown IPv6 address of the segment");
	f = mkflow(d->h, &d->o4, &d->unk4, IPPROTO_TCP, 80);
	len = pkt_fwd(&f, 0x10, pkt);
	expect(d->h, H_FROM, d->if_o, pkt, len, 0, NPBPF_DROP_UNKNOWN_POD,
	       "unisolated pod -> unknown pod: a bare ACK (no conntrack entry)");
	check(d, H_TO, d->if_o, &d->unk4, &d->o4, IPPROTO_UDP, 9, 0,
	      NPBPF_DROP_UNKNOWN_POD, "unknown pod of the segment -> unisolated pod");
	check(d, H_TO, d->if_e, &d->unk4, &d->e4, IPPROTO_UDP, 9, 0,
	      NPBPF_DROP_UNKNOWN_POD, "unknown pod -> a pod admitting every peer (wildcard)");
	check(d, H_FROM, d->if_e, &d->e4, &d->unk4, IPPROTO_UDP, 9, 0,
	      NPBPF_DROP_UNKNOWN_POD, "a pod allowed every egress -> unknown pod");
	check(d, H_FROM, d->if_o, &d->o4, &d->e4, IPPROTO_UDP, 9, 1, 0,
	      "a bound pod of the segment is a peer as before");
	check(d, H_FROM, d->if_o, &d->o4, &d->far4, IPPROTO_UDP, 9, 1,
	      NPBPF_ALLOW_UNISOLATED, "an address outside every segment is judged as before");
	check(d, H_TO, d->if_c, &d->gw4, &d->c4, IPPROTO_TCP, 10250, 1, 0,
	      "the segment's gateway is the node: it reaches an isolated pod");
	check(d, H_TO, d->if_c, &d->unk4, &d->c4, IPPROTO_TCP, 10250, 0,
	      NPBPF_DROP_UNKNOWN_POD, "an unknown pod does not reach the isolated pod");
	/* A known non-pod address inside the segment (an "allow" pod, a lab's
	 * external host) is written as world: judged as any address. */
	if (segment_put(d, "198.18.31.88", 32, NPBPF_ID_WORLD, 0)) {
		tap_ok(false, "world marker written");
		return;
	}
	{
		struct np_addr marked = test_addr("198.18.31.88");

		check(d, H_FROM, d->if_o, &d->o4, &marked, IPPROTO_UDP, 9, 1,
		      NPBPF_ALLOW_UNISOLATED, "an address of the segment marked world is no unknown pod");
		check(d, H_TO, d->if_c, &marked, &d->c4, IPPROTO_UDP, 9, 0, NPBPF_DROP_POLICY,
		      "... and the isolated pod's policy judges it (denied)");
	}
	segment_del(d, "198.18.31.88", 32);
	/* The check is what drops: without the segment, the wildcard admits. */
	if (segment_del(d, "198.18.31.0", 24)) {
		tap_ok(false, "removing the segment entry");
		return;
	}
	check(d, H_TO, d->if_e, &d->unk4, &d->e4, IPPROTO_UDP, 9, 1, 0,
	      "without npbpf_segment the same address is world, admitted by the wildcard");
	tap_ok(!segments_fill(d), "segment entries written again");
}

static int pending_put(struct wn *d, const uint8_t *mac)
{
	struct npbpf_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.identity = 0;
	ep.flags = NPBPF_EP_HAS_V4;
	memcpy(ep.addr4, d->p4.bytes, 4);
	if (mac) {
		memcpy(ep.mac, mac, 6);
		ep.flags |= NPBPF_EP_HAS_MAC;
	}
	return bpf_map__update_elem(d->h->skel->maps.npbpf_pending, &d->if_p, sizeof(d->if_p),
				    &ep, sizeof(ep), BPF_ANY);
}

static void wn_pending(struct wn *d)
{
	static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x77 };
	int ct_outer = bpf_map__fd(d->h->skel->maps.npbpf_ct);
	uint8_t pkt[PKT_CAP];
	struct flow f;
	size_t len;

	bpf_map__delete_elem(d->h->skel->maps.npbpf_endpoint, &d->if_p, sizeof(d->if_p), 0);
	if (pending_put(d, wn_src_mac) || ct_map_ensure(ct_outer, d->if_p) < 0) {
		tap_ok(false, "pending record and its conntrack map written");
		return;
	}
	/* The node's probe, and the pod's answer on the entry it made. */
	f = mkflow(d->h, &d->node4, &d->p4, IPPROTO_TCP, 8080);
	len = pkt_open(&f, pkt);
	expect(d->h, H_TO, d->if_p, pkt, len, 1, NPBPF_ALLOW_PENDING_HOST,
	       "pending pod: the node's SYN passes");
	len = pkt_reply(&f, 0x12, pkt);
	expect(d->h, H_FROM, d->if_p, pkt, len, 1, NPBPF_ALLOW_CT,
	       "pending pod: its SYN-ACK to the node passes on the entry");
	len = pkt_fwd(&f, 0x10, pkt);
	expect(d->h, H_TO, d->if_p, pkt, len, 1, NPBPF_ALLOW_CT,
	       "pending pod: the node's ACK passes on the entry");
	check(d, H_TO, d->if_p, &d->gw4, &d->p4, IPPROTO_UDP, 9, 1,
	      NPBPF_ALLOW_PENDING_HOST, "pending pod: the segment's gateway is the node too");
	check(d, H_TO, d->if_p, &d->o4, &d->p4, IPPROTO_TCP, 8080, 0, NPBPF_DROP_PENDING,
	      "pending pod: a pod of the node does not reach it");
	check(d, H_TO, d->if_p, &d->far4, &d->p4, IPPROTO_UDP, 9, 0, NPBPF_DROP_PENDING,
	      "pending pod: the world does not reach it");
	check(d, H_FROM, d->if_p, &d->p4, &d->o4, IPPROTO_UDP, 9, 0, NPBPF_DROP_PENDING,
	      "pending pod: sends nothing to a pod");
	check(d, H_XDP, d->if_p, &d->p4, &d->o4, IPPROTO_UDP, 9, 0, NPBPF_DROP_PENDING,
	      "pending pod: the same at XDP");
	check(d, H_FROM, d->if_p, &d->p4, &d->node4, IPPROTO_TCP, 10250, 0,
	      NPBPF_DROP_PENDING, "pending pod: opens nothing towards the node");
	check(d, H_FROM, d->if_p, &d->o4, &d->node4, IPPROTO_UDP, 9, 0, NPBPF_DROP_SPOOFED,
	      "pending pod: another pod's source address");
	f = mkflow(d->h, &d->node4, &d->p4, IPPROTO_UDP, 7);
	len = pkt_open(&f, pkt);
	expect(d->h, H_TO, d->if_p, pkt, len, 1, NPBPF_ALLOW_PENDING_HOST,
	       "pending pod: the node's datagram passes");
	if (pending_put(d, other_mac)) {
		tap_ok(false, "pending record rewritten");
		return;
	}
	len = pkt_reply(&f, 0, pkt);
	expect(d->h, H_FROM, d->if_p, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "pending pod: a reply from a MAC not its own");
	pending_put(d, wn_src_mac);
	if (fill_config(d->h->skel, 1, 0, NPBPF_CFG_BRIDGED | NPBPF_CFG_ENFORCE_HOST, 1000000)) {
		tap_ok(false, "config with the host enforced");
		return;
	}
	check(d, H_TO, d->if_p, &d->node4, &d->p4, IPPROTO_TCP, 8081, 0,
	      NPBPF_DROP_PENDING, "pending pod, host enforced: the node does not reach it");
	fill_config(d->h->skel, 1, 0, NPBPF_CFG_BRIDGED, 1000000);

	/* Bound: the endpoint record (open's identity here) shadows the
	 * pending one at once. */
	{
		struct npbpf_endpoint ep;

		if (bpf_map__lookup_elem(d->h->skel->maps.npbpf_endpoint, &d->if_o, sizeof(d->if_o),
					 &ep, sizeof(ep), 0)) {
			tap_ok(false, "open's endpoint record");
			return;
		}
		ep.flags &= ~(NPBPF_EP_HAS_V6 | NPBPF_EP_HAS_MAC);
		memcpy(ep.addr4, d->p4.bytes, 4);
		if (bpf_map__update_elem(d->h->skel->maps.npbpf_endpoint, &d->if_p, sizeof(d->if_p),
					 &ep, sizeof(ep), BPF_ANY)) {
			tap_ok(false, "binding record written");
			return;
		}
	}
	check(d, H_FROM, d->if_p, &d->p4, &d->far4, IPPROTO_UDP, 9, 1,
	      NPBPF_ALLOW_UNISOLATED, "bound: the endpoint record decides, not the pending one");
	bpf_map__delete_elem(d->h->skel->maps.npbpf_endpoint, &d->if_p, sizeof(d->if_p), 0);
	check(d, H_FROM, d->if_p, &d->p4, &d->far4, IPPROTO_UDP, 9, 0, NPBPF_DROP_PENDING,
	      "record removed: pending again");
	bpf_map__delete_elem(d->h->skel->maps.npbpf_pending, &d->if_p, sizeof(d->if_p), 0);
	ct_map_remove(ct_outer, d->if_p);
	check(d, H_FROM, d->if_p, &d->p4, &d->far4, IPPROTO_UDP, 9, 0,
	      NPBPF_DROP_NO_ENDPOINT, "neither record: no endpoint");
}

/* One packet through npbpf_bridge (the pods' bridge egress): 1 pass, 0 drop. */
static int bridge_pkt(struct wn *d, const struct np_addr *a, const struct np_addr *b,
		      uint8_t proto, uint16_t port)
{
	struct flow f = mkflow(d->h, a, b, proto, port);
	uint8_t pkt[PKT_CAP];
	size_t len = pkt_open(&f, pkt);
	struct __sk_buff ctx = { .ifindex = d->h->dev[N_DEV - 1] };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(bpf_program__fd(d->h->skel->progs.npbpf_bridge), &opts))
		return -1;
	return opts.retval == TC_ACT_OK ? 1 : opts.retval == TC_ACT_SHOT ? 0 : -1;
}

static void bridge_case(struct wn *d, const struct np_addr *a, const struct np_addr *b,
			int want, const char *what)
{
	uint64_t before = counter_get(d->h, ~0u, NPBPF_DROP_UNKNOWN_POD, NPBPF_DIR_INGRESS,
				      NPBPF_VERDICT_DROP);
	int got = bridge_pkt(d, a, b, IPPROTO_UDP, 9);
	uint64_t after = counter_get(d->h, ~0u, NPBPF_DROP_UNKNOWN_POD, NPBPF_DIR_INGRESS,
				     NPBPF_VERDICT_DROP);

	tap_ok(got == want && (after - before) == (uint64_t)(want == 0),
	       "bridge hook: %s: %s (counted %llu)", what, got == 1 ? "passes" : "drops",
	       (unsigned long long)(after - before));
}

static void wn_bridge(struct wn *d)
{
	struct np_addr remote = test_addr("198.18.77.7");
	struct npbpf_ipc_key k;
	struct npbpf_ipc_value pend = { .identity = NPBPF_ID_UNKNOWN_POD,
					.flags = NPBPF_IPC_PENDING };

	bridge_case(d, &remote, &d->unk4, 0, "another node's pod -> unknown address of the segment");
	bridge_case(d, &d->node4, &d->unk4, 0, "the node -> unknown address of the segment");
	bridge_case(d, &remote, &d->o4, 1, "another node's pod -> a bound pod (its hook judges)");
	bridge_case(d, &remote, &d->far4, 1, "an address outside the segment");
	bridge_case(d, &remote, &d->gw4, 1, "the segment's gateway");
	memset(&k, 0, sizeof(k));
	k.prefixlen = 64;
	k.a.family = NPBPF_FAMILY_V4;
	memcpy(k.a.addr, d->unk4.bytes, 4);
	if (bpf_map__update_elem(d->h->skel->maps.npbpf_segment, &k, sizeof(k), &pend, sizeof(pend),
				 BPF_ANY)) {
		tap_ok(false, "pending address written");
		return;
	}
	bridge_case(d, &d->node4, &d->unk4, 1, "the node -> a pending pod (its probes)");
	bridge_case(d, &d->gw4, &d->unk4, 1, "the gateway -> a pending pod");
	bridge_case(d, &remote, &d->unk4, 0, "another node's pod -> a pending pod");
	check(d, H_FROM, d->if_o, &d->o4, &d->unk4, IPPROTO_UDP, 53, 0, NPBPF_DROP_UNKNOWN_POD,
	      "a pending pod's address is still an unknown pod to the node's pods");
	bpf_map__delete_elem(d->h->skel->maps.npbpf_segment, &k, sizeof(k), 0);
}

void window_run(struct harness *h)
{
	struct wn d = { .h = h };

	memset(&d.s, 0, sizeof(d.s));
	if (scen_load_buffer(&d.s, h, "window", wn_yaml) || scen_fill(&d.s, h, 1) ||
	    fill_config(h->skel, 1, 0, NPBPF_CFG_BRIDGED, 1000000) || segments_fill(&d)) {
		tap_ok(false, "window cluster loads, compiles and fills the maps");
		scen_free(&d.s);
		return;
	}
	d.if_o = scen_ifindex(&d.s, cluster_find_pod(&d.s.c, "wn", "open"));
	d.if_e = scen_ifindex(&d.s, cluster_find_pod(&d.s.c, "wn", "everyone"));
	d.if_c = scen_ifindex(&d.s, cluster_find_pod(&d.s.c, "wn", "closed"));
	d.if_p = h->dev[N_DEV - 2];
	d.o4 = test_addr("198.18.31.1");
	d.e4 = test_addr("198.18.31.2");
	d.c4 = test_addr("198.18.31.3");
	d.node4 = test_addr("198.18.31.254");
	d.gw4 = test_addr("198.18.31.250");
	d.p4 = test_addr("198.18.31.50");
	d.unk4 = test_addr("198.18.31.77");
	d.far4 = test_addr("198.18.99.9");
	d.o6 = test_addr("2001:db8:31::1");
	d.unk6 = test_addr("2001:db8:31::77");
	wn_unknown(&d);
	wn_pending(&d);
	wn_bridge(&d);
	segment_del(&d, "198.18.31.0", 24);
	segment_del(&d, "2001:db8:31::", 64);
	segment_del(&d, "198.18.31.250", 32);
	scen_free(&d.s);
}
