/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a hostile pod can send, one BPF_PROG_TEST_RUN check each (the lab
 * suite tests/adversarial sends the same on real veths):
 *  - state planted through a neighbour: a frame the attacker addresses at
 *    layer 2 to an unisolated neighbour, carrying the victim's address,
 *    must leave no conntrack entry or fragment record the victim's hook
 *    would follow;
 *  - each endpoint's conntrack entries are in its own map;
 *  - layer 2: the pod's source MAC, ARP only for itself, neighbour
 *    advertisements only for its addresses, no router advertisements or
 *    redirects, ND/MLD of global scope judged by policy;
 *  - the source validated before an unreadable packet can pass;
 *  - a later fragment judged again when the policy revision moved;
 *  - no encapsulation to the node (it would decapsulate an unchecked source);
 *  - one pod's flood of new flows evicts no other pod's conntrack entries.
 */
#include "harness.h"
#include "loader.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/*
 * Namespace hd: attacker and neighbour are selected by no policy; victim
 * accepts TCP 80 from attacker and sends nothing.
 */
static const char hd_yaml[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: hd}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: attacker, namespace: hd, labels: {app: a}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.30.1, podIPs: [{ip: 198.18.30.1}, {ip: '2001:db8:30::1'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: neighbour, namespace: hd, labels: {app: n}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.30.2, podIPs: [{ip: 198.18.30.2}, {ip: '2001:db8:30::2'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: victim, namespace: hd, labels: {app: v}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.30.3, podIPs: [{ip: 198.18.30.3}, {ip: '2001:db8:30::3'}]}\n---\n"
	/* A hostNetwork pod: its addresses are the node's. */
	"apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: hd}\n"
	"spec: {hostNetwork: true, containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.30.254, podIPs: [{ip: 198.18.30.254}, {ip: '2001:db8:30::fe'}]}\n"
	"---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: victim, namespace: hd}\n"
	"spec:\n  podSelector: {matchLabels: {app: v}}\n  policyTypes: [Ingress, Egress]\n"
	"  ingress:\n  - from: [{podSelector: {matchLabels: {app: a}}}]\n"
	"    ports: [{port: 80}]\n";

/* The source MAC pkt_build() writes. */
static const uint8_t pkt_src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct hd {
	struct harness *h;
	struct scen s;
	uint32_t if_a, if_n, if_v;
	struct np_addr a4, n4, v4, a6, n6, v6;
};

/* Gives the endpoint at ifindex a MAC (NULL: none) in its record. */
static bool set_mac(struct hd *d, uint32_t ifindex, const uint8_t *mac)
{
	const struct bpf_map *m = d->h->skel->maps.npbpf_endpoint;
	struct npbpf_endpoint ep;

	if (bpf_map__lookup_elem(m, &ifindex, sizeof(ifindex), &ep, sizeof(ep), 0))
		return false;
	memset(ep.mac, 0, sizeof(ep.mac));
	ep.flags &= ~NPBPF_EP_HAS_MAC;
	if (mac) {
		memcpy(ep.mac, mac, sizeof(ep.mac));
		ep.flags |= NPBPF_EP_HAS_MAC;
	}
	return !bpf_map__update_elem(m, &ifindex, sizeof(ifindex), &ep, sizeof(ep), BPF_EXIST);
}

static bool ct_anywhere(struct hd *d, const struct flow *f, uint8_t dir)
{
	struct npbpf_ct_key k = flow_ct_key(f, dir);
	struct npbpf_ct_value v;
	uint32_t ifindex;

	return !fill_ct_find(d->h->skel, &k, &v, &ifindex);
}

/* A flow planted through the neighbour, then sent to the victim. */
static void plant_case(struct hd *d, const struct np_addr *a, const struct np_addr *v,
		       uint8_t proto, uint16_t port, const char *what)
{
	struct flow f = mkflow(d->h, a, v, proto, port);
	uint8_t pkt[PKT_CAP];
	char buf[192];
	size_t len;

	len = pkt_open(&f, pkt);
	snprintf(buf, sizeof(buf), "%s: at the unisolated neighbour's to-pod", what);
	expect(d->h, H_TO, d->if_n, pkt, len, 1, NPBPF_ALLOW_UNISOLATED, buf);
	snprintf(buf, sizeof(buf), "%s: no state created for a packet not addressed to it", what);
	tap_ok(!ct_anywhere(d, &f, NPBPF_DIR_INGRESS), "%s", buf);
	if (proto == IPPROTO_TCP) {
		len = pkt_fwd(&f, 0x10, pkt);
		snprintf(buf, sizeof(buf), "%s: the ACK that follows, at the victim", what);
		expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_NO_CT, buf);
		return;
	}
	snprintf(buf, sizeof(buf), "%s: the same packet at the victim", what);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY, buf);
}

static void hd_state(struct hd *d)
{
	uint8_t pkt[PKT_CAP];
	struct npbpf_ct_key k;
	struct npbpf_ct_value v;
	struct pkt_spec s;
	struct flow f;
	size_t len;

	plant_case(d, &d->a4, &d->v4, IPPROTO_UDP, 6000, "UDP planted via neighbour");
	plant_case(d, &d->a4, &d->v4, IPPROTO_ICMP, 0, "echo planted via neighbour");
	plant_case(d, &d->a4, &d->v4, IPPROTO_TCP, 6000, "TCP SYN planted via neighbour");
	plant_case(d, &d->a4, &d->v4, IPPROTO_SCTP, 6000, "SCTP planted via neighbour");
	plant_case(d, &d->a4, &d->v4, 47, 0, "GRE planted via neighbour");
	plant_case(d, &d->a6, &d->v6, IPPROTO_UDP, 6000, "IPv6 UDP planted via neighbour");
	plant_case(d, &d->a6, &d->v6, IPPROTO_ICMP, 0, "IPv6 echo planted via neighbour");

	/* A first fragment through the neighbour, the rest to the victim. */
	f = mkflow(d->h, &d->a4, &d->v4, IPPROTO_UDP, 6001);
	spec_for(&s, &f, false, 0);
	s.frag = PKT_FIRST;
	s.frag_id = 0x3131;
	s.payload_len = 64;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_n, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "first fragment at the neighbour");
	s.frag = PKT_LATER;
	s.payload_len = 32;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_FRAG,
	       "later fragment at the victim follows no record planted at the neighbour");

	/* Positive control: the victim's own allowed flow is tracked in the
	 * victim's map only, and its reply passes on it. */
	f = mkflow(d->h, &d->a4, &d->v4, IPPROTO_TCP, 80);
	len = pkt_open(&f, pkt);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, 0, "allowed SYN at the victim");
	k = flow_ct_key(&f, NPBPF_DIR_INGRESS);
	tap_ok(!fill_ct_lookup(d->h->skel, d->if_v, &k, &v) &&
		       fill_ct_lookup(d->h->skel, d->if_n, &k, &v) == -ENOENT &&
		       fill_ct_lookup(d->h->skel, d->if_a, &k, &v) == -ENOENT,
	       "the entry is in the victim's conntrack map and no other");
	len = pkt_reply(&f, 0x12, pkt);
	expect(d->h, H_FROM, d->if_v, pkt, len, 1, NPBPF_ALLOW_CT,
	       "victim's SYN-ACK passes on its own entry");
	expect(d->h, H_FROM, d->if_n, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "the same SYN-ACK from the neighbour's veth is spoofed");
}

/* An Ethernet/IPv4 ARP frame from the test MAC (or eth_src). */
static size_t arp_frame(uint8_t *p, const uint8_t *eth_src, const uint8_t *sha,
			const struct np_addr *spa, const struct np_addr *tpa, uint16_t op)
{
	memset(p, 0, 60);
	memset(p, 0xff, 6);
	memcpy(p + 6, eth_src, 6);
	p[12] = 0x08, p[13] = 0x06;
	p[14] = 0, p[15] = 1;    /* Ethernet */
	p[16] = 0x08, p[17] = 0; /* IPv4 */
	p[18] = 6, p[19] = 4;
	p[20] = (uint8_t)(op >> 8), p[21] = (uint8_t)op;
	memcpy(p + 22, sha, 6);
	if (spa)
		memcpy(p + 28, spa->bytes, 4);
	memcpy(p + 38, tpa->bytes, 4);
	return 60;
}

/* An ICMPv6 message of type with hop limit hl; payload (16 bytes, may be
 * NULL) right after the 8-byte header: the ND target. */
static size_t icmp6_frame(uint8_t *pkt, const struct np_addr *src, const struct np_addr *dst,
			  uint8_t type, uint8_t hl, const struct np_addr *target)
{
	struct pkt_spec s;

	memset(&s, 0, sizeof(s));
	pkt_addrs(&s, src, dst);
	s.proto = IPPROTO_ICMPV6;
	s.icmp_type = type;
	s.hop_limit = hl;
	s.payload = target ? target->bytes : NULL;
	s.payload_len = 16;
	return pkt_build(&s, pkt, PKT_CAP);
}

static void hd_link(struct hd *d)
{
	static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x09 };
	/* The EUI-64 link-local address of pkt_src_mac. */
	struct np_addr own_ll = test_addr("fe80::ff:fe00:1"), gw_ll = test_addr("fe80::1");
	struct np_addr gw4 = test_addr("198.18.30.254"), zero4 = test_addr("0.0.0.0");
	struct np_addr unspec = test_addr("::"), sn = test_addr("ff02::1:ff00:99");
	struct np_addr all = test_addr("ff02::1"), mld = test_addr("ff02::16");
	struct np_addr far6 = test_addr("2001:db8:99::1"), far_ll = test_addr("fe80::5");
	uint8_t pkt[PKT_CAP];
	struct flow f;
	size_t len;

	if (!tap_ok(set_mac(d, d->if_a, pkt_src_mac) && set_mac(d, d->if_v, pkt_src_mac),
		    "attacker's and victim's endpoints get their MAC"))
		return;
	f = mkflow(d->h, &d->a4, &d->n4, IPPROTO_UDP, 7000);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_a, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "a frame from the pod's own MAC");
	memcpy(pkt + 6, other_mac, 6);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "a frame from another MAC (bridge FDB poisoning)");
	expect(d->h, H_XDP, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "a frame from another MAC");

	len = arp_frame(pkt, pkt_src_mac, pkt_src_mac, &d->a4, &gw4, 1);
	expect(d->h, H_FROM, d->if_a, pkt, len, 1, NPBPF_ALLOW_CONTROL, "ARP request for itself");
	expect(d->h, H_XDP, d->if_a, pkt, len, 1, NPBPF_ALLOW_CONTROL, "ARP request for itself");
	len = arp_frame(pkt, pkt_src_mac, pkt_src_mac, &zero4, &d->a4, 1);
	expect(d->h, H_FROM, d->if_a, pkt, len, 1, NPBPF_ALLOW_CONTROL, "ARP probe (0.0.0.0)");
	len = arp_frame(pkt, pkt_src_mac, pkt_src_mac, &d->v4, &d->n4, 2);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_CONTROL,
	       "ARP reply claiming the victim's address");
	len = arp_frame(pkt, pkt_src_mac, pkt_src_mac, &gw4, &d->n4, 2);
	expect(d->h, H_XDP, d->if_a, pkt, len, 0, NPBPF_DROP_CONTROL,
	       "gratuitous ARP claiming the gateway's address");
	len = arp_frame(pkt, pkt_src_mac, other_mac, &d->a4, &gw4, 2);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "ARP whose sender MAC is not the frame's");
	len = arp_frame(pkt, other_mac, other_mac, &d->v4, &d->a4, 2);
	expect(d->h, H_TO, d->if_a, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "ARP towards a pod passes (the node's and neighbours')");

	len = icmp6_frame(pkt, &own_ll, &all, 136, 255, &own_ll);
	expect(d->h, H_FROM, d->if_a, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "neighbour advertisement for its own link-local address");
	len = icmp6_frame(pkt, &d->a6, &all, 136, 255, &d->a6);
	expect(d->h, H_FROM, d->if_a, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "neighbour advertisement for its own address");
	len = icmp6_frame(pkt, &own_ll, &all, 136, 255, &d->v6);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_CONTROL,
	       "neighbour advertisement for the victim's address");
	len = icmp6_frame(pkt, &own_ll, &all, 136, 255, &gw_ll);
	expect(d->h, H_XDP, d->if_a, pkt, len, 0, NPBPF_DROP_CONTROL,
	       "neighbour advertisement for the gateway's link-local address");
	len = icmp6_frame(pkt, &gw_ll, &sn, 135, 255, &d->n6);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "neighbour solicitation from the gateway's link-local address");
	len = icmp6_frame(pkt, &unspec, &sn, 135, 255, &d->a6);
	expect(d->h, H_FROM, d->if_a, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "duplicate address detection (from ::)");
	len = icmp6_frame(pkt, &unspec, &all, 136, 255, &d->a6);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "neighbour advertisement from ::");
	len = icmp6_frame(pkt, &own_ll, &all, 134, 255, NULL);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_CONTROL, "router advertisement");
	len = icmp6_frame(pkt, &own_ll, &all, 134, 255, NULL);
	expect(d->h, H_XDP, d->if_a, pkt, len, 0, NPBPF_DROP_CONTROL, "router advertisement");
	len = icmp6_frame(pkt, &own_ll, &d->n6, 137, 255, &d->v6);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_CONTROL, "redirect");

	/* The victim sends nothing: link-scope plumbing still passes,
	 * ND/MLD-typed ICMPv6 of global scope is policy traffic. */
	len = icmp6_frame(pkt, &own_ll, &sn, 135, 255, &d->n6);
	expect(d->h, H_FROM, d->if_v, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "egress-isolated pod: link-local neighbour solicitation");
	len = icmp6_frame(pkt, &own_ll, &mld, 143, 1, NULL);
	expect(d->h, H_FROM, d->if_v, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "egress-isolated pod: MLDv2 report to ff02::16");
	len = icmp6_frame(pkt, &d->v6, &far6, 135, 255, &far6);
	expect(d->h, H_FROM, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "egress-isolated pod: neighbour solicitation to a routed address (exfiltration)");
	len = icmp6_frame(pkt, &d->v6, &far6, 143, 1, NULL);
	expect(d->h, H_FROM, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "egress-isolated pod: MLD report to a routed address");
	len = icmp6_frame(pkt, &d->v6, &far6, 136, 255, &d->v6);
	expect(d->h, H_XDP, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "egress-isolated pod: neighbour advertisement to a routed address");
	/* Towards a pod, the hop limit tells whether a router forwarded it. */
	len = icmp6_frame(pkt, &far6, &d->v6, 135, 254, &d->v6);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "ingress-isolated pod: routed neighbour solicitation (hop limit 254)");
	len = icmp6_frame(pkt, &far6, &d->v6, 131, 2, NULL);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "ingress-isolated pod: MLD report with hop limit 2");
	len = icmp6_frame(pkt, &far_ll, &d->v6, 135, 255, &d->v6);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "ingress-isolated pod: neighbour solicitation from a link-local address");
	len = icmp6_frame(pkt, &d->n6, &d->v6, 136, 255, &d->n6);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "ingress-isolated pod: a neighbour's advertisement of itself (global addresses)");
	len = icmp6_frame(pkt, &d->n6, &d->v6, 135, 255, &d->v6);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "ingress-isolated pod: a neighbour's solicitation between global addresses");
	len = icmp6_frame(pkt, &d->a6, &d->v6, 143, 1, NULL);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "ingress-isolated pod: MLD report between global addresses");
	{
		uint8_t target_and_data[16 + 64] = { 0 }; /* the target, then room for data */
		struct pkt_spec s;

		memset(&s, 0, sizeof(s));
		memcpy(target_and_data, d->n6.bytes, 16);
		pkt_addrs(&s, &d->n6, &d->v6);
		s.proto = IPPROTO_ICMPV6;
		s.icmp_type = 136;
		s.hop_limit = 255;
		s.payload = target_and_data;
		s.payload_len = sizeof(target_and_data);
		len = pkt_build(&s, pkt, PKT_CAP);
		expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
		       "ingress-isolated pod: a neighbour's advertisement carrying 64 more bytes");
	}
	/* From a pod, global-scope ND is plumbing only towards the segment. */
	len = icmp6_frame(pkt, &d->v6, &d->n6, 136, 255, &d->v6);
	expect(d->h, H_FROM, d->if_v, pkt, len, 1, NPBPF_ALLOW_CONTROL,
	       "egress-isolated pod: unicast advertisement to a pod of this node (bridged)");
	len = icmp6_frame(pkt, &d->v6, &d->n6, 135, 255, &d->n6);
	expect(d->h, H_FROM, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "egress-isolated pod: unicast solicitation to a pod of this node");
	fill_config(d->h->skel, 1, 0, 0, 1000000);
	len = icmp6_frame(pkt, &d->v6, &d->n6, 136, 255, &d->v6);
	expect(d->h, H_FROM, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "egress-isolated pod: the same advertisement with routed pods");
	fill_config(d->h->skel, 1, 0, NPBPF_CFG_BRIDGED, 1000000);
	len = icmp6_frame(pkt, &d->v6, &d->n6, 136, 255, &d->n6);
	expect(d->h, H_FROM, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "egress-isolated pod: unicast advertisement for the neighbour's address");
	len = icmp6_frame(pkt, &own_ll, &d->n6, 136, 255, &d->n6);
	expect(d->h, H_FROM, d->if_v, pkt, len, 0, NPBPF_DROP_CONTROL,
	       "link-local advertisement for the neighbour's address");

	set_mac(d, d->if_a, NULL);
	set_mac(d, d->if_v, NULL);
}

static void hd_source(struct hd *d)
{
	uint8_t pkt[PKT_CAP];
	struct pkt_spec s;
	struct flow f;
	size_t len;

	/* The attacker's egress is unrestricted: only the source check stands
	 * between these and the network. */
	f = mkflow(d->h, &d->n4, &d->v4, IPPROTO_TCP, 80);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_a, pkt, 14 + 20 + 10, 0, NPBPF_DROP_SPOOFED,
	       "truncated TCP header with a neighbour's source");
	f = mkflow(d->h, &d->a4, &d->v4, IPPROTO_TCP, 80);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_a, pkt, 14 + 20 + 10, 1, NPBPF_ALLOW_UNISOLATED,
	       "truncated TCP header with its own source (unisolated pod)");
	expect(d->h, H_TO, d->if_v, pkt, 14 + 20 + 10, 0, NPBPF_DROP_UNPARSEABLE,
	       "truncated TCP header at the isolated victim");

	f = mkflow(d->h, &d->n6, &d->v6, IPPROTO_TCP, 80);
	spec_for(&s, &f, false, 0x02);
	s.v6_ext = 9;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "9 IPv6 extension headers with a neighbour's source");
	expect(d->h, H_XDP, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "9 IPv6 extension headers with a neighbour's source");

	f = mkflow(d->h, &d->n4, &d->v4, IPPROTO_TCP, 80);
	spec_for(&s, &f, false, 0x02);
	s.frag = PKT_LATER;
	s.frag_id = 0x4242;
	s.payload_len = 16;
	len = pkt_build(&s, pkt, PKT_CAP);
	pkt[14 + 7] = 1; /* offset 8 bytes */
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "tiny TCP fragment at offset 8 with a neighbour's source");

	f = mkflow(d->h, &d->n4, &d->v4, IPPROTO_UDP, 53);
	spec_for(&s, &f, false, 0);
	s.ip_options = 10;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "IPv4 options with a neighbour's source");
}

/* Encapsulation a pod sends to its node would come out of the node's tunnel
 * device with a source nobody checked. */
static void hd_tunnel(struct hd *d)
{
	struct np_addr node4 = test_addr("198.18.30.254"), node6 = test_addr("2001:db8:30::fe");
	static const struct {
		uint8_t proto;
		uint16_t port;
		const char *what;
	} tun[] = {
		{ 4, 0, "IPIP" },
		{ 47, 0, "GRE" },
		{ IPPROTO_UDP, 8472, "VXLAN (flannel's port)" },
		{ IPPROTO_UDP, 4789, "VXLAN" },
		{ IPPROTO_UDP, 6081, "Geneve" },
	};
	uint8_t pkt[PKT_CAP];
	char what[128];
	struct flow f;
	size_t len;

	for (size_t i = 0; i < sizeof(tun) / sizeof(tun[0]); i++) {
		f = mkflow(d->h, &d->a4, &node4, tun[i].proto, tun[i].port);
		len = pkt_open(&f, pkt);
		snprintf(what, sizeof(what), "%s to the node", tun[i].what);
		expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_TUNNEL, what);
		expect(d->h, H_XDP, d->if_a, pkt, len, 0, NPBPF_DROP_TUNNEL, what);
		f = mkflow(d->h, &d->a4, &d->n4, tun[i].proto, tun[i].port);
		len = pkt_open(&f, pkt);
		snprintf(what, sizeof(what), "%s to a pod (the policy decides)", tun[i].what);
		expect(d->h, H_FROM, d->if_a, pkt, len, 1, NPBPF_ALLOW_UNISOLATED, what);
	}
	f = mkflow(d->h, &d->a6, &node6, 41, 0);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_a, pkt, len, 0, NPBPF_DROP_TUNNEL, "IPv6-in-IPv6 to the node");
	f = mkflow(d->h, &d->a4, &node4, IPPROTO_UDP, 53);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_a, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "plain UDP to the node passes");
}

/* Generation 1: the victim isolated both ways with nothing allowed. */
static int victim_denies_all(struct hd *d, uint32_t rev)
{
	struct npbpf_subject sub = { .isolated = 3 };
	uint32_t id = 0, key;

	for (size_t i = 0; i < d->s.cp.n_endpoints; i++) {
		if (scen_ifindex(&d->s, d->s.cp.endpoints[i].pod) == d->if_v)
			id = d->s.cp.endpoints[i].value.identity;
	}
	key = NPBPF_SUBJECT_KEY(id, 1);
	if (!id || bpf_map__update_elem(d->h->skel->maps.npbpf_subject, &key, sizeof(key), &sub,
					sizeof(sub), BPF_ANY))
		return -1;
	return fill_config(d->h->skel, rev, 1, NPBPF_CFG_BRIDGED, 1000000);
}

static void hd_frag_revision(struct hd *d)
{
	uint8_t pkt[PKT_CAP];
	struct pkt_spec s;
	struct flow f;
	size_t len;

	f = mkflow(d->h, &d->a4, &d->v4, IPPROTO_TCP, 80);
	spec_for(&s, &f, false, 0x02);
	s.frag = PKT_FIRST;
	s.frag_id = 0x5151;
	s.payload_len = 64;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, 0, "allowed first fragment (SYN)");
	s.frag = PKT_LATER;
	s.payload_len = 32;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, NPBPF_ALLOW_FRAG, "its later fragment");
	if (!tap_ok(!victim_denies_all(d, 2), "new generation: the victim denies everything"))
		return;
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_FRAG,
	       "a later fragment after the policy change follows the new policy");
	fill_config(d->h->skel, 3, 0, NPBPF_CFG_BRIDGED, 1000000);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, NPBPF_ALLOW_FRAG,
	       "and after the change back, the old verdict again");
}

/* Entries in the conntrack map of ifindex. */
static uint32_t ct_count(struct hd *d, uint32_t ifindex)
{
	int fd = ct_map_fd(bpf_map__fd(d->h->skel->maps.npbpf_ct), ifindex);
	struct npbpf_ct_key k, next;
	uint32_t n = 0;
	bool first = true;

	if (fd < 0)
		return 0;
	while (!bpf_map_get_next_key(fd, first ? NULL : &k, &next)) {
		first = false;
		k = next;
		n++;
	}
	close(fd);
	return n;
}

/* One pod opens twice as many flows as its conntrack map holds: its own
 * map stays within its size and every other pod's entries survive. */
static void hd_flood(struct hd *d)
{
	const uint32_t n_flood = 2 * NPBPF_CT_PER_ENDPOINT;
	struct npbpf_ct_key kv, kn;
	struct npbpf_ct_value v;
	uint8_t pkt[PKT_CAP];
	struct flow fv, fn, ff;
	uint32_t passed = 0, in_a;
	size_t len;

	fv = mkflow(d->h, &d->a4, &d->v4, IPPROTO_TCP, 80);
	len = pkt_open(&fv, pkt);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, 0, "victim's flow before the flood");
	fn = mkflow(d->h, &d->n4, &d->v4, IPPROTO_UDP, 9999);
	len = pkt_open(&fn, pkt);
	expect(d->h, H_FROM, d->if_n, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "neighbour's flow before the flood");
	kv = flow_ct_key(&fv, NPBPF_DIR_INGRESS);
	kn = flow_ct_key(&fn, NPBPF_DIR_EGRESS);

	ff = mkflow(d->h, &d->a4, &d->n4, IPPROTO_UDP, 53);
	len = pkt_open(&ff, pkt);
	for (uint32_t i = 0; i < n_flood; i++) {
		uint32_t sport = 20000 + i; /* a new flow each time */

		pkt[14 + 20] = (uint8_t)(sport >> 8);
		pkt[14 + 20 + 1] = (uint8_t)sport;
		if (run_pkt(d->h, H_FROM, d->if_a, pkt, len).pass == 1)
			passed++;
	}
	in_a = ct_count(d, d->if_a);
	tap_ok(passed == n_flood && in_a <= NPBPF_CT_PER_ENDPOINT && in_a > n_flood / 4,
	       "attacker opened %u flows: %u entries, all in its own map (size %u)", passed, in_a,
	       NPBPF_CT_PER_ENDPOINT);
	tap_ok(!fill_ct_lookup(d->h->skel, d->if_v, &kv, &v) &&
		       !fill_ct_lookup(d->h->skel, d->if_n, &kn, &v),
	       "the victim's and the neighbour's entries survive the flood");
	len = pkt_reply(&fv, 0x12, pkt);
	expect(d->h, H_FROM, d->if_v, pkt, len, 1, NPBPF_ALLOW_CT,
	       "and the victim's reply still passes on its entry");
}

void hardening_run(struct harness *h)
{
	struct hd d = { .h = h };

	memset(&d.s, 0, sizeof(d.s));
	if (scen_load_buffer(&d.s, h, "hardening", hd_yaml) || scen_fill(&d.s, h, 1) ||
	    fill_config(h->skel, 1, 0, NPBPF_CFG_BRIDGED, 1000000)) {
		tap_ok(false, "hardening cluster loads, compiles and fills the maps");
		scen_free(&d.s);
		return;
	}
	d.if_a = scen_ifindex(&d.s, cluster_find_pod(&d.s.c, "hd", "attacker"));
	d.if_n = scen_ifindex(&d.s, cluster_find_pod(&d.s.c, "hd", "neighbour"));
	d.if_v = scen_ifindex(&d.s, cluster_find_pod(&d.s.c, "hd", "victim"));
	d.a4 = test_addr("198.18.30.1");
	d.n4 = test_addr("198.18.30.2");
	d.v4 = test_addr("198.18.30.3");
	d.a6 = test_addr("2001:db8:30::1");
	d.n6 = test_addr("2001:db8:30::2");
	d.v6 = test_addr("2001:db8:30::3");
	hd_state(&d);
	hd_link(&d);
	hd_source(&d);
	hd_frag_revision(&d);
	hd_tunnel(&d);
	hd_flood(&d);
	scen_free(&d.s);
}
