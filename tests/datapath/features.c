/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One check per datapath feature, on a purpose-built cluster (dp_yaml_fmt):
 * conntrack and stateful replies, named ports, ranges, ipBlock with except,
 * wildcards, IPv6, ICMP echo and errors, fragments, spoofing, VLAN tags,
 * unparseable packets, control traffic, XDP, counters and events, a real
 * veth (non-linear skbs, the tag in skb metadata), and a policy change
 * cutting an established flow. Verdicts of flows come from the engine; the
 * feature on top (a reply, a later fragment, a spoofed copy) is what each
 * check adds.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/libbpf.h>

/*
 * Namespace dp, everything isolated both ways except pod "open":
 *  - client may send anything to server, and UDP 53 to 198.19.0.0/16;
 *  - server (named port http = 8080) accepts from client TCP http, UDP 5353,
 *    SCTP 9000, TCP 9100-9200; anything from 198.19.0.0/16 except
 *    198.19.128.0/17; TCP 443 from 2001:db8:99::/48 except 2001:db8:99:8000::/49;
 *    anything (ICMP included) from pinger; it sends nothing (answers only);
 *  - pinger may send anything anywhere;
 *  - web accepts TCP 80 from anyone.
 */
static const char dp_yaml_fmt[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: dp}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: dp, labels: {app: client}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.20.1, podIPs: [{ip: 198.18.20.1}, {ip: '2001:db8:20::1'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: server, namespace: dp, labels: {app: server}}\n"
	"spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080},"
	" {name: dns, containerPort: 5353, protocol: UDP}]}]}\n"
	"status: {podIP: 198.18.20.2, podIPs: [{ip: 198.18.20.2}, {ip: '2001:db8:20::2'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: pinger, namespace: dp, labels: {app: pinger}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.20.3, podIPs: [{ip: 198.18.20.3}, {ip: '2001:db8:20::3'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: open, namespace: dp, labels: {app: open}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.20.4, podIPs: [{ip: 198.18.20.4}, {ip: '2001:db8:20::4'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: dp, labels: {app: web}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.20.5, podIPs: [{ip: 198.18.20.5}, {ip: '2001:db8:20::5'}]}\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: default-deny, namespace: dp}\n"
	"spec:\n  podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [open]}]}\n"
	"  policyTypes: [Ingress, Egress]\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: server-in, namespace: dp}\n"
	"spec:\n  podSelector: {matchLabels: {app: server}}\n  ingress:\n"
	"  - from: [{podSelector: {matchLabels: {app: client}}}]\n"
	"    ports: [{port: %s}, {protocol: UDP, port: 5353}, {protocol: SCTP, port: 9000},"
	" {port: 9100, endPort: 9200}]\n"
	"  - from: [{ipBlock: {cidr: 198.19.0.0/16, except: [198.19.128.0/17]}}]\n"
	"  - from: [{ipBlock: {cidr: '2001:db8:99::/48', except: ['2001:db8:99:8000::/49']}}]\n"
	"    ports: [{port: 443}]\n"
	"  - from: [{podSelector: {matchLabels: {app: pinger}}}]\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: client-out, namespace: dp}\n"
	"spec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress:\n"
	"  - to: [{podSelector: {matchLabels: {app: server}}}]\n"
	"  - to: [{ipBlock: {cidr: 198.19.0.0/16}}]\n    ports: [{protocol: UDP, port: 53}]\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: pinger-out, namespace: dp}\n"
	"spec:\n  podSelector: {matchLabels: {app: pinger}}\n  policyTypes: [Egress]\n"
	"  egress: [{}]\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: web-in, namespace: dp}\n"
	"spec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: 80}]\n";

struct dp {
	struct harness *h;
	struct scen s;
	const struct np_pod *client, *server, *pinger, *open, *web;
	uint32_t if_client, if_server, if_pinger, if_open, if_web;
};

/* Loads the cluster into d->s, with server's first port rule http_port. */
static int dp_load(struct dp *d, const char *http_port)
{
	static char yaml[8192];
	struct scen *s = &d->s;

	snprintf(yaml, sizeof(yaml), dp_yaml_fmt, http_port);
	memset(s, 0, sizeof(*s));
	if (scen_load_buffer(s, d->h, "dp", yaml))
		return -1;
	d->client = cluster_find_pod(&s->c, "dp", "client");
	d->server = cluster_find_pod(&s->c, "dp", "server");
	d->pinger = cluster_find_pod(&s->c, "dp", "pinger");
	d->open = cluster_find_pod(&s->c, "dp", "open");
	d->web = cluster_find_pod(&s->c, "dp", "web");
	if (!d->client || !d->server || !d->pinger || !d->open || !d->web)
		return -1;
	d->if_client = scen_ifindex(s, d->client);
	d->if_server = scen_ifindex(s, d->server);
	d->if_pinger = scen_ifindex(s, d->pinger);
	d->if_open = scen_ifindex(s, d->open);
	d->if_web = scen_ifindex(s, d->web);
	return 0;
}

/* The engine's verdict for a flow between two ends (pod or NULL). */
static struct flow_verdict dp_engine(struct dp *d, const struct np_pod *pa, const struct flow *f,
				     const struct np_pod *pb)
{
	struct flow_verdict v;

	engine_flow(&d->s, pa, f, pb, &v);
	return v;
}

/* A new flow from pod/address a to pod/address b: each hook that exists for
 * it gives the engine's verdict for its direction. Returns the flow. */
static struct flow dp_open(struct dp *d, const struct np_pod *pa, const struct np_addr *a,
			   const struct np_pod *pb, const struct np_addr *b, uint8_t proto,
			   uint16_t port, const char *what)
{
	struct flow f = mkflow(d->h, a, b, proto, port);
	struct flow_verdict v = dp_engine(d, pa, &f, pb);
	uint8_t pkt[PKT_CAP];
	size_t len = pkt_open(&f, pkt);
	char buf[256];

	if (pa && scen_ifindex(&d->s, pa)) {
		const struct dir_verdict *dv = &v.dir[NP_EGRESS];

		snprintf(buf, sizeof(buf), "%s (egress)", what);
		expect(d->h, H_FROM, scen_ifindex(&d->s, pa), pkt, len, dv->allowed,
		       dv->allowed ? 0 : NPBPF_DROP_POLICY, buf);
	}
	if (pb && scen_ifindex(&d->s, pb)) {
		const struct dir_verdict *dv = &v.dir[NP_INGRESS];

		snprintf(buf, sizeof(buf), "%s (ingress)", what);
		expect(d->h, H_TO, scen_ifindex(&d->s, pb), pkt, len, dv->allowed,
		       dv->allowed ? 0 : NPBPF_DROP_POLICY, buf);
	}
	return f;
}

static void dp_basic(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	struct np_addr c6 = *pod_addr(d->client, 6), s6 = *pod_addr(d->server, 6);
	struct np_addr p4 = *pod_addr(d->pinger, 4), w4 = *pod_addr(d->web, 4);
	struct np_addr p6 = *pod_addr(d->pinger, 6);
	uint8_t pkt[PKT_CAP];
	struct flow_verdict v;
	struct flow f;
	size_t len;

	/* Allowed (named port), then the reply under server's default-deny
	 * egress and client's default-deny ingress, then the opener again. */
	f = dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 8080, "TCP to named port http");
	v = dp_engine(d, d->server, &(struct flow){ s4, c4, IPPROTO_TCP, 8080, f.sport }, d->client);
	tap_ok(v.dir[NP_EGRESS].reason == VERDICT_NO_RULE &&
		       v.dir[NP_INGRESS].reason == VERDICT_NO_RULE,
	       "engine: server may not open to client, client may not receive from server");
	len = pkt_reply(&f, 0x12, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 1, NPBPF_ALLOW_CT,
	       "SYN-ACK from a pod with only an ingress rule");
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT,
	       "SYN-ACK into a default-deny-ingress pod");
	len = pkt_fwd(&f, 0x10, pkt);
	expect(d->h, H_FROM, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT, "ACK of the opener");
	expect(d->h, H_TO, d->if_server, pkt, len, 1, NPBPF_ALLOW_CT, "ACK of the opener");
	len = pkt_fwd(&f, 0x11, pkt);
	expect(d->h, H_FROM, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT, "FIN of the opener");
	len = pkt_reply(&f, 0x11, pkt);
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT, "FIN of the replier");
	{
		struct npbpf_ct_key k;
		struct npbpf_ct_value cv;

		memset(&k, 0, sizeof(k));
		memcpy(k.saddr, c4.bytes, 4);
		memcpy(k.daddr, s4.bytes, 4);
		k.sport = htons(f.sport);
		k.dport = htons(f.dport);
		k.proto = IPPROTO_TCP;
		k.family = NPBPF_FAMILY_V4;
		k.dir = NPBPF_DIR_EGRESS;
		tap_ok(!fill_ct_lookup(d->h->skel, d->if_client, &k, &cv) &&
			       cv.state == NPBPF_CT_CLOSED && cv.fin_seen == 3 &&
			       cv.src_identity == d->s.cp.idn.pod_id[d->client - d->s.c.pods],
		       "client's conntrack entry: FIN both ways -> CLOSED, identities stored");
	}
	/* The closed flow's port pair reused: by the replier the other way
	 * round (client's ingress denies it), then by the opener (allowed, a
	 * new flow charged to its rule, not to conntrack). */
	len = pkt_reply(&f, 0x02, pkt);
	v = dp_engine(d, d->server, &(struct flow){ s4, c4, IPPROTO_TCP, 8080, f.sport }, d->client);
	expect(d->h, H_TO, d->if_client, pkt, len, v.dir[NP_INGRESS].allowed, NPBPF_DROP_POLICY,
	       "SYN from the replier on a closed flow's ports");
	len = pkt_open(&f, pkt);
	{
		uint64_t before = counter_get(d->h, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT,
					      NPBPF_DIR_EGRESS, NPBPF_VERDICT_ALLOW);

		expect(d->h, H_FROM, d->if_client, pkt, len, 1, 0,
		       "SYN from the opener on a closed flow's ports");
		tap_ok(counter_get(d->h, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT, NPBPF_DIR_EGRESS,
				   NPBPF_VERDICT_ALLOW) == before,
		       "the reused port pair was judged as a new flow");
	}

	/* Denied port: client's egress allows, server's ingress does not. */
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 8081, "TCP to a port no rule names");
	/* TCP without SYN and no entry. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	len = pkt_fwd(&f, 0x10, pkt);
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_NO_CT, "ACK without a flow");
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_NO_CT, "ACK without a flow");
	len = pkt_fwd(&f, 0x12, pkt);
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_NO_CT, "SYN-ACK without a flow");
	{
		struct np_addr o4 = *pod_addr(d->open, 4);

		f = mkflow(d->h, &o4, &w4, IPPROTO_TCP, 80);
		len = pkt_fwd(&f, 0x10, pkt);
		expect(d->h, H_FROM, d->if_open, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
		       "ACK without a flow from an unisolated pod");
	}

	/* Protocols and ranges. */
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_UDP, 5353, "UDP 5353");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_UDP, 8080, "UDP 8080 (http is TCP)");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_SCTP, 9000, "SCTP 9000");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_SCTP, 9001, "SCTP 9001");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 9099, "TCP 9099 (below range)");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 9100, "TCP 9100 (range start)");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 9150, "TCP 9150 (in range)");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 9200, "TCP 9200 (range end)");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 9201, "TCP 9201 (above range)");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_UDP, 9150, "UDP 9150 (range is TCP)");

	/* ipBlock with except, both families, and world. */
	{
		struct np_addr in = test_addr("198.19.1.1"), ex = test_addr("198.19.200.1"), wo = test_addr("198.18.99.1");
		struct np_addr in6 = test_addr("2001:db8:99::1"), ex6 = test_addr("2001:db8:99:8000::1");

		dp_open(d, NULL, &in, d->server, &s4, IPPROTO_TCP, 1234, "from ipBlock");
		dp_open(d, NULL, &ex, d->server, &s4, IPPROTO_TCP, 1234, "from ipBlock except");
		dp_open(d, NULL, &wo, d->server, &s4, IPPROTO_TCP, 1234, "from world");
		dp_open(d, NULL, &in6, d->server, &s6, IPPROTO_TCP, 443, "from IPv6 ipBlock :443");
		dp_open(d, NULL, &in6, d->server, &s6, IPPROTO_TCP, 444, "from IPv6 ipBlock :444");
		dp_open(d, NULL, &ex6, d->server, &s6, IPPROTO_TCP, 443, "from IPv6 ipBlock except");
		dp_open(d, d->client, &c4, NULL, &in, IPPROTO_UDP, 53, "to ipBlock UDP 53");
		dp_open(d, d->client, &c4, NULL, &in, IPPROTO_UDP, 54, "to ipBlock UDP 54");
		dp_open(d, d->client, &c4, NULL, &wo, IPPROTO_UDP, 53, "to world UDP 53");
	}

	/* Wildcards: any peer on a port (web), any port (pinger egress). */
	{
		struct np_addr x = test_addr("198.18.77.7"), x6 = test_addr("2001:db8:77::7");

		dp_open(d, NULL, &x, d->web, &w4, IPPROTO_TCP, 80, "any peer, port 80");
		dp_open(d, NULL, &x, d->web, &w4, IPPROTO_TCP, 81, "any peer, port 81");
		dp_open(d, d->client, &c4, d->web, &w4, IPPROTO_TCP, 80, "client to web:80");
		dp_open(d, d->pinger, &p4, NULL, &x, IPPROTO_UDP, 4000, "any destination, any port");
		dp_open(d, d->pinger, &p6, NULL, &x6, IPPROTO_SCTP, 4001, "any destination (IPv6)");
	}

	/* IPv6 pod to pod, with the reply. */
	f = dp_open(d, d->client, &c6, d->server, &s6, IPPROTO_TCP, 8080, "IPv6 TCP http");
	len = pkt_reply(&f, 0x12, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 1, NPBPF_ALLOW_CT, "IPv6 SYN-ACK");
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT, "IPv6 SYN-ACK");
	dp_open(d, d->client, &c6, d->server, &s6, IPPROTO_TCP, 8081, "IPv6 TCP 8081");

	/* ICMP echo: only rules without ports allow it. */
	f = dp_open(d, d->pinger, &p4, d->server, &s4, IPPROTO_ICMP, 0, "echo request");
	len = pkt_reply(&f, 0, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 1, NPBPF_ALLOW_CT, "echo reply");
	expect(d->h, H_TO, d->if_pinger, pkt, len, 1, NPBPF_ALLOW_CT, "echo reply");
	f = dp_open(d, d->pinger, &p6, d->server, &s6, IPPROTO_ICMP, 0, "ICMPv6 echo request");
	len = pkt_reply(&f, 0, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 1, NPBPF_ALLOW_CT, "ICMPv6 echo reply");
	expect(d->h, H_TO, d->if_pinger, pkt, len, 1, NPBPF_ALLOW_CT, "ICMPv6 echo reply");
	dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_ICMP, 0,
		"echo request, peer has port rules only");
	f = mkflow(d->h, &s4, &c4, IPPROTO_ICMP, 0);
	len = pkt_reply(&f, 0, pkt); /* an echo reply nobody asked for */
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_POLICY, "unsolicited echo reply");
}

/* Ages the conntrack entry of f (opener's view at dir) by secs seconds. */
static bool ct_age_entry(struct dp *d, const struct flow *f, uint8_t dir, uint64_t secs)
{
	struct npbpf_ct_value v;
	struct npbpf_ct_key k;
	uint32_t ifindex;

	k = flow_ct_key(f, dir);
	if (fill_ct_find(d->h->skel, &k, &v, &ifindex))
		return false;
	v.last_seen_ns -= secs * 1000000000ull;
	return !fill_ct_update(d->h->skel, ifindex, &k, &v);
}

/* Timeouts by state: an unanswered SYN expires after 60 s, an established
 * flow survives an hour of silence, a UDP flow expires after 60 s. */
static void dp_timeouts(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	uint8_t pkt[PKT_CAP];
	struct flow f;
	size_t len;

	f = dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 8080, "SYN left unanswered");
	tap_ok(ct_age_entry(d, &f, NPBPF_DIR_EGRESS, 61), "its entry aged 61 s");
	len = pkt_reply(&f, 0x12, pkt);
	expect(d->h, H_TO, d->if_client, pkt, len, 0, NPBPF_DROP_NO_CT,
	       "SYN-ACK after the SYN-only timeout");

	f = dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 8080, "SYN answered");
	len = pkt_reply(&f, 0x12, pkt);
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT, "its SYN-ACK");
	tap_ok(ct_age_entry(d, &f, NPBPF_DIR_EGRESS, 3600), "its entry aged an hour");
	len = pkt_reply(&f, 0x10, pkt);
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT,
	       "established flow after an hour idle");

	f = dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_UDP, 5353, "UDP flow");
	tap_ok(ct_age_entry(d, &f, NPBPF_DIR_EGRESS, 61), "its entry aged 61 s");
	len = pkt_reply(&f, 0, pkt);
	expect(d->h, H_TO, d->if_client, pkt, len, 0, NPBPF_DROP_POLICY,
	       "UDP reply after the timeout is judged as a new flow");
}

/* An ICMP error from `from` to `to` quoting the packet q (built without
 * Ethernet; the quote is cut after 8 transport bytes, as routers do). */
static size_t icmp_error(const struct np_addr *from, const struct np_addr *to, uint8_t type,
			 uint8_t code, const uint8_t *q, size_t qlen, uint8_t *buf)
{
	size_t iph = from->family == 4 ? (size_t)(q[0] & 0xf) * 4 : 40;
	struct pkt_spec s;

	memset(&s, 0, sizeof(s));
	pkt_addrs(&s, from, to);
	s.proto = icmp_proto(from->family);
	s.icmp_type = type;
	s.icmp_code = code;
	s.payload = q;
	s.payload_len = qlen < iph + 8 ? qlen : iph + 8;
	return pkt_build(&s, buf, PKT_CAP);
}

static size_t quote(const struct flow *f, bool reply, uint8_t flags, uint8_t *buf)
{
	struct pkt_spec s;

	spec_for(&s, f, reply, flags);
	s.no_eth = 1;
	return pkt_build(&s, buf, PKT_CAP);
}

static void dp_icmp_errors(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	struct np_addr c6 = *pod_addr(d->client, 6), s6 = *pod_addr(d->server, 6);
	struct np_addr o4 = *pod_addr(d->open, 4), rtr = test_addr("198.18.250.1");
	uint8_t q[512], pkt[PKT_CAP];
	struct flow f, g;
	size_t qlen, len;

	/* UDP client -> server:5353 allowed; server answers port unreachable. */
	f = dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_UDP, 5353, "UDP flow for errors");
	qlen = quote(&f, false, 0, q);
	len = icmp_error(&s4, &c4, 3, 3, q, qlen, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 1, NPBPF_ALLOW_RELATED,
	       "port unreachable about an allowed flow");
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_RELATED,
	       "port unreachable about an allowed flow");
	/* A router tells client: fragmentation needed, for its TCP flow. */
	f = dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 8080, "TCP flow for errors");
	qlen = quote(&f, false, 0x10, q);
	len = icmp_error(&rtr, &c4, 3, 4, q, qlen, pkt);
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_RELATED,
	       "fragmentation needed from a router");
	len = icmp_error(&rtr, &c4, 11, 0, q, qlen, pkt);
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_RELATED, "time exceeded");
	/* About the server's replies: the quote is of a reply. */
	qlen = quote(&f, true, 0x12, q);
	len = icmp_error(&rtr, &s4, 3, 4, q, qlen, pkt);
	expect(d->h, H_TO, d->if_server, pkt, len, 1, NPBPF_ALLOW_RELATED,
	       "fragmentation needed about a reply");
	/* IPv6: packet too big. */
	f = dp_open(d, d->client, &c6, d->server, &s6, IPPROTO_TCP, 8080, "IPv6 flow for errors");
	qlen = quote(&f, false, 0x10, q);
	{
		struct np_addr r6 = test_addr("2001:db8:250::1");

		len = icmp_error(&r6, &c6, 2, 0, q, qlen, pkt);
		expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_RELATED,
		       "ICMPv6 packet too big");
	}
	/* Errors about flows nobody has: policy decides, as for any ICMP. */
	g = mkflow(d->h, &c4, &s4, IPPROTO_UDP, 7777);
	qlen = quote(&g, false, 0, q);
	len = icmp_error(&s4, &c4, 3, 3, q, qlen, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 0, NPBPF_DROP_POLICY,
	       "port unreachable about no flow");
	/* server quotes a real flow of client's that is not its own: the quote
	 * must not carry it past its default-deny egress. */
	g = dp_open(d, d->client, &c4, d->open, &o4, IPPROTO_UDP, 5353, "client to open");
	qlen = quote(&g, false, 0, q);
	len = icmp_error(&s4, &c4, 3, 3, q, qlen, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 0, NPBPF_DROP_POLICY,
	       "error quoting another pod's flow");
}

static void dp_fragments(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	struct np_addr c6 = *pod_addr(d->client, 6), s6 = *pod_addr(d->server, 6);
	struct np_addr o4 = *pod_addr(d->open, 4), w4 = *pod_addr(d->web, 4);
	uint8_t pkt[PKT_CAP];
	struct pkt_spec s;
	struct flow f;
	size_t len;
	struct {
		const struct np_addr *a, *b;
		uint16_t port;
		uint32_t id;
		const char *what;
	} cases[] = {
		{ &c4, &s4, 5353, 0x1111, "IPv4 allowed" },
		{ &c4, &s4, 6000, 0x2222, "IPv4 denied" },
		{ &c6, &s6, 5353, 0x33333333, "IPv6 allowed" },
		{ &c6, &s6, 6000, 0x44444444, "IPv6 denied" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[128];
		struct flow_verdict v;
		int ok;

		f = mkflow(d->h, cases[i].a, cases[i].b, IPPROTO_UDP, cases[i].port);
		v = dp_engine(d, d->client, &f, d->server);
		ok = v.dir[NP_INGRESS].allowed;
		spec_for(&s, &f, false, 0);
		s.frag = PKT_FIRST;
		s.frag_id = cases[i].id;
		s.payload_len = 64;
		len = pkt_build(&s, pkt, PKT_CAP);
		snprintf(what, sizeof(what), "%s first fragment", cases[i].what);
		expect(d->h, H_FROM, d->if_client, pkt, len, 1, 0, what);
		expect(d->h, H_TO, d->if_server, pkt, len, ok, ok ? 0 : NPBPF_DROP_POLICY, what);
		s.frag = PKT_LATER;
		s.payload_len = 32;
		len = pkt_build(&s, pkt, PKT_CAP);
		snprintf(what, sizeof(what), "%s later fragment", cases[i].what);
		expect(d->h, H_FROM, d->if_client, pkt, len, 1, NPBPF_ALLOW_FRAG, what);
		expect(d->h, H_TO, d->if_server, pkt, len, ok,
		       ok ? NPBPF_ALLOW_FRAG : NPBPF_DROP_FRAG, what);
	}
	/* Later fragments alone. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_UDP, 5353);
	spec_for(&s, &f, false, 0);
	s.frag = PKT_LATER;
	s.frag_id = 0x5555;
	s.payload_len = 32;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_FRAG,
	       "later fragment without a first");
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_FRAG,
	       "later fragment without a first");
	f = mkflow(d->h, &o4, &w4, IPPROTO_UDP, 5353);
	spec_for(&s, &f, false, 0);
	s.frag = PKT_LATER;
	s.frag_id = 0x6666;
	s.payload_len = 32;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_FROM, d->if_open, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "later fragment without a first, unisolated pod");
	/* RFC 1858: a TCP fragment at offset 8 would rewrite the header. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	spec_for(&s, &f, false, 0x02);
	s.frag = PKT_LATER;
	s.frag_id = 0x7777;
	s.payload_len = 16;
	len = pkt_build(&s, pkt, PKT_CAP);
	pkt[14 + 7] = 1; /* offset 1 unit = 8 bytes */
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_UNPARSEABLE,
	       "TCP fragment at offset 8");
}

static void dp_spoof_vlan_parse(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	struct np_addr c6 = *pod_addr(d->client, 6), s6 = *pod_addr(d->server, 6);
	struct np_addr o4 = *pod_addr(d->open, 4), w4 = *pod_addr(d->web, 4);
	struct np_addr fake = test_addr("198.18.20.99"), fake6 = test_addr("2001:db8:20::99");
	uint8_t pkt[PKT_CAP];
	struct pkt_spec s;
	struct flow f;
	size_t len;

	/* Spoofing: another address, even another pod's, is dropped. */
	f = mkflow(d->h, &fake, &s4, IPPROTO_TCP, 8080);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_SPOOFED, "unknown source");
	f = mkflow(d->h, pod_addr(d->pinger, 4), &s4, IPPROTO_ICMP, 0);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_SPOOFED, "pinger's source");
	f = mkflow(d->h, &fake6, &s6, IPPROTO_TCP, 8080);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_SPOOFED, "IPv6 unknown source");
	f = mkflow(d->h, &fake, &w4, IPPROTO_TCP, 80);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_open, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "unknown source from an unisolated pod");
	f = mkflow(d->h, &c4, &s4, IPPROTO_UDP, 5353);
	spec_for(&s, &f, false, 0);
	s.frag = PKT_LATER;
	memcpy(s.saddr, fake.bytes, 4);
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "later fragment with a foreign source");

	/* VLAN tags in the data (the metadata case is in the veth test). */
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	spec_for(&s, &f, false, 0x02);
	s.vlan_tpid = 0x8100;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_VLAN, "802.1Q frame of a pod");
	expect(d->h, H_FROM, d->if_open, pkt, len, 0, NPBPF_DROP_VLAN,
	       "802.1Q frame of an unisolated pod");
	s.vlan_tpid = 0x88a8;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_VLAN, "802.1ad frame of a pod");
	fill_config(d->h->skel, 1, 0, NPBPF_CFG_ALLOW_VLAN, 1000000);
	s.vlan_tpid = 0x8100;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_FROM, d->if_client, pkt, len, 1, 0, "802.1Q allowed flow, VLAN mode on");
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8081);
	spec_for(&s, &f, false, 0x02);
	s.vlan_tpid = 0x8100;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_POLICY,
	       "802.1Q denied flow, VLAN mode on: policy still applies");
	{
		/* Two tags in the data: the inner one would be QinQ. */
		uint8_t q[PKT_CAP];

		memcpy(q, pkt, 16);
		q[16] = 0x81, q[17] = 0x00, q[18] = 0, q[19] = 7;
		memcpy(q + 20, pkt + 16, len - 16);
		expect(d->h, H_FROM, d->if_client, q, len + 4, 0, NPBPF_DROP_NOT_IP,
		       "two tags in the data, VLAN mode on: no IP header to validate");
	}
	fill_config(d->h->skel, 1, 0, 0, 1000000);

	/* Unparseable: isolated pods drop it, unisolated ones pass it, once
	 * its source is validated; from a pod, what has no readable IP header
	 * (so no source to validate) never passes. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	len = pkt_open(&f, pkt);
	/* A TC test run refuses frames shorter than their L3 header (the veth
	 * test sends one for real); XDP's does not. */
	expect(d->h, H_XDP, d->if_client, pkt, 14 + 12, 0, NPBPF_DROP_NOT_IP,
	       "truncated IPv4 header");
	expect(d->h, H_FROM, d->if_client, pkt, 14 + 20 + 10, 0, NPBPF_DROP_UNPARSEABLE,
	       "truncated TCP header");
	pkt[12] = 0x88, pkt[13] = 0xb5;
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_NOT_IP,
	       "unknown EtherType");
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_UNPARSEABLE,
	       "unknown EtherType towards a pod");
	f = mkflow(d->h, &o4, &w4, IPPROTO_TCP, 80);
	len = pkt_open(&f, pkt);
	pkt[12] = 0x88, pkt[13] = 0xb5;
	expect(d->h, H_FROM, d->if_open, pkt, len, 0, NPBPF_DROP_NOT_IP,
	       "unknown EtherType, unisolated pod");
	expect(d->h, H_TO, d->if_open, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "unknown EtherType towards an unisolated pod");
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	len = pkt_open(&f, pkt);
	pkt[14] = 0x44; /* IHL 4 */
	expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_NOT_IP, "IHL below 5");

	/* Headers the parser must walk: IPv4 options, IPv6 extensions. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	spec_for(&s, &f, false, 0x02);
	s.ip_options = 3;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_server, pkt, len, 1, 0, "IPv4 options, allowed port");
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8081);
	spec_for(&s, &f, false, 0x02);
	s.ip_options = 3;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_POLICY,
	       "IPv4 options, denied port");
	f = mkflow(d->h, &c6, &s6, IPPROTO_TCP, 8081);
	spec_for(&s, &f, false, 0x02);
	s.v6_hop = 1;
	s.v6_ext = 3;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_POLICY,
	       "IPv6 hop-by-hop + 3 dest-opts, denied port");
	f = mkflow(d->h, &c6, &s6, IPPROTO_TCP, 8080);
	spec_for(&s, &f, false, 0x02);
	s.v6_hop = 1;
	s.v6_ext = 3;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_server, pkt, len, 1, 0,
	       "IPv6 hop-by-hop + 3 dest-opts, allowed port");
	s.v6_hop = 0;
	s.v6_ext = 9;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_UNPARSEABLE,
	       "IPv6 with 9 extension headers");

	/* Control traffic passes: neighbour discovery of link scope (ARP and
	 * the checks on what a pod may say: hardening.c). */
	{
		struct np_addr ll = test_addr("fe80::1"), sn = test_addr("ff02::1:ff00:2");

		memset(&s, 0, sizeof(s));
		pkt_addrs(&s, &ll, &sn);
		s.proto = IPPROTO_ICMPV6;
		s.icmp_type = 135;
		s.hop_limit = 255;
		s.payload_len = 16;
		len = pkt_build(&s, pkt, PKT_CAP);
		expect(d->h, H_FROM, d->if_client, pkt, len, 1, NPBPF_ALLOW_CONTROL,
		       "neighbour solicitation");
		s.hop_limit = 64;
		len = pkt_build(&s, pkt, PKT_CAP);
		expect(d->h, H_FROM, d->if_client, pkt, len, 0, NPBPF_DROP_POLICY,
		       "neighbour solicitation with a routable hop limit: plain ICMPv6");
	}

	/* A veth the agent does not know. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->h->dev[N_DEV - 1], pkt, len, 0, NPBPF_DROP_NO_ENDPOINT,
	       "unknown veth");
	expect(d->h, H_TO, d->h->dev[N_DEV - 1], pkt, len, 0, NPBPF_DROP_NO_ENDPOINT,
	       "unknown veth");
}

static void dp_xdp(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	struct np_addr fake = test_addr("198.18.20.99"), wo = test_addr("198.18.99.1");
	uint8_t pkt[PKT_CAP];
	struct flow_verdict v;
	struct pkt_spec s;
	struct flow f;
	size_t len;

	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	v = dp_engine(d, d->client, &f, d->server);
	len = pkt_open(&f, pkt);
	expect(d->h, H_XDP, d->if_client, pkt, len, v.dir[NP_EGRESS].allowed, 0,
	       "XDP: client to server:8080");
	len = pkt_reply(&f, 0x12, pkt);
	expect(d->h, H_TO, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT,
	       "reply of a flow XDP let out");
	f = mkflow(d->h, &c4, &wo, IPPROTO_UDP, 53);
	v = dp_engine(d, d->client, &f, NULL);
	len = pkt_open(&f, pkt);
	expect(d->h, H_XDP, d->if_client, pkt, len, v.dir[NP_EGRESS].allowed, NPBPF_DROP_POLICY,
	       "XDP: client to world UDP 53");
	f = mkflow(d->h, &s4, &c4, IPPROTO_TCP, 1234);
	v = dp_engine(d, d->server, &f, d->client);
	len = pkt_open(&f, pkt);
	expect(d->h, H_XDP, d->if_server, pkt, len, v.dir[NP_EGRESS].allowed, NPBPF_DROP_POLICY,
	       "XDP: server opening to client");
	f = mkflow(d->h, &fake, &s4, IPPROTO_TCP, 8080);
	len = pkt_open(&f, pkt);
	expect(d->h, H_XDP, d->if_client, pkt, len, 0, NPBPF_DROP_SPOOFED, "XDP: spoofed");
	f = mkflow(d->h, &c4, &s4, IPPROTO_TCP, 8080);
	spec_for(&s, &f, false, 0x02);
	s.vlan_tpid = 0x8100;
	len = pkt_build(&s, pkt, PKT_CAP);
	expect(d->h, H_XDP, d->if_client, pkt, len, 0, NPBPF_DROP_VLAN, "XDP: 802.1Q");
	expect(d->h, H_XDP, d->h->dev[N_DEV - 1], pkt, len, 0, NPBPF_DROP_NO_ENDPOINT,
	       "XDP: unknown veth");
}

/* Counters by rule, and events with their fields and rate limit. */
static void dp_counters_events(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	struct np_addr wo = test_addr("198.18.99.1");
	uint8_t pkt[PKT_CAP];
	struct flow_verdict v;
	uint64_t before, bytes_ok = 0;
	struct outcome o;
	struct flow f;
	size_t len;
	cpu_set_t one, saved;
	int got = 0;

	f = mkflow(d->h, &c4, &s4, IPPROTO_UDP, 5353);
	v = dp_engine(d, d->client, &f, d->server);
	before = counter_get(d->h, v.dir[NP_INGRESS].by.policy, v.dir[NP_INGRESS].by.rule,
			     NPBPF_DIR_INGRESS, NPBPF_VERDICT_ALLOW);
	len = pkt_open(&f, pkt);
	run_pkt(d->h, H_TO, d->if_server, pkt, len);
	bytes_ok = counter_bytes(d->h, v.dir[NP_INGRESS].by.policy, v.dir[NP_INGRESS].by.rule,
				 NPBPF_DIR_INGRESS, NPBPF_VERDICT_ALLOW);
	tap_ok(v.dir[NP_INGRESS].reason == VERDICT_RULE &&
		       counter_get(d->h, v.dir[NP_INGRESS].by.policy, v.dir[NP_INGRESS].by.rule,
				   NPBPF_DIR_INGRESS, NPBPF_VERDICT_ALLOW) == before + 1 &&
		       bytes_ok >= len,
	       "allowed packet charged to the engine's rule (policy %u rule %u), bytes counted",
	       v.dir[NP_INGRESS].by.policy, v.dir[NP_INGRESS].by.rule);

	f = mkflow(d->h, &c4, &wo, IPPROTO_TCP, 443);
	len = pkt_open(&f, pkt);
	before = counter_get(d->h, ~0u, NPBPF_DROP_POLICY, NPBPF_DIR_EGRESS, NPBPF_VERDICT_DROP);
	o = run_pkt(d->h, H_FROM, d->if_client, pkt, len);
	tap_ok(o.pass == 0 &&
		       counter_get(d->h, ~0u, NPBPF_DROP_POLICY, NPBPF_DIR_EGRESS,
				   NPBPF_VERDICT_DROP) == before + 1,
	       "drop charged to (~0, POLICY, egress, drop)");
	tap_ok(d->h->n_events == 1 && d->h->last.reason == NPBPF_DROP_POLICY &&
		       d->h->last.ifindex == d->if_client &&
		       d->h->last.subject == d->s.cp.idn.pod_id[d->client - d->s.c.pods] &&
		       d->h->last.peer == NPBPF_ID_WORLD && d->h->last.dir == NPBPF_DIR_EGRESS &&
		       d->h->last.proto == IPPROTO_TCP && d->h->last.family == NPBPF_FAMILY_V4 &&
		       !memcmp(d->h->last.saddr, c4.bytes, 4) &&
		       !memcmp(d->h->last.daddr, wo.bytes, 4) &&
		       ntohs(d->h->last.dport) == 443 && ntohs(d->h->last.sport) == f.sport,
	       "drop event carries ifindex, identities, direction and the tuple");

	/* Rate limit: the bucket is per CPU, so stay on one. */
	CPU_ZERO(&one);
	sched_getaffinity(0, sizeof(saved), &saved);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &saved)) {
			CPU_SET(c, &one);
			break;
		}
	}
	sched_setaffinity(0, sizeof(one), &one);
	/* A lower rate caps the credit left from the high one at the burst. */
	fill_config(d->h->skel, 1, 0, 0, 5);
	for (int i = 0; i < 50; i++) {
		f = mkflow(d->h, &c4, &wo, IPPROTO_TCP, 443);
		len = pkt_open(&f, pkt);
		run_pkt(d->h, H_FROM, d->if_client, pkt, len);
		got += d->h->n_events;
	}
	/* 5 of burst, plus at most one refilled while the loop ran. */
	tap_ok(got >= 5 && got <= 6, "events rate limited to 5/s: %d of 50 drops reported", got);
	fill_config(d->h->skel, 1, 0, 0, 0);
	f = mkflow(d->h, &c4, &wo, IPPROTO_TCP, 443);
	len = pkt_open(&f, pkt);
	o = run_pkt(d->h, H_FROM, d->if_client, pkt, len);
	tap_ok(o.pass == 0 && d->h->n_events == 0, "events_per_sec 0: no events");
	sched_setaffinity(0, sizeof(saved), &saved);
	fill_config(d->h->skel, 1, 0, 0, 1000000);
}

/* Rebinds the endpoints of d (same devices) to the pods of s2. */
static void rebind(struct scen *s2, const struct scen *s1)
{
	for (size_t i = 0; i < s2->nb; i++) {
		for (size_t j = 0; j < s1->nb; j++) {
			if (!strcmp(s2->b[i].pod->name, s1->b[j].pod->name))
				s2->b[i].ifindex = s1->b[j].ifindex;
		}
	}
}

/* A policy change cuts established flows it no longer allows: the new
 * policy is compiled against the numbers the maps hold and synced, as an
 * agent does: written as the other generation, then generation and revision
 * flip together. */
static void dp_revision(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	uint8_t pkt[PKT_CAP];
	struct npbpf_ct_key k;
	struct npbpf_ct_value cv;
	struct flow f, u;
	struct dp d2 = { .h = d->h };
	struct flow_verdict v;
	size_t len;
	bool present;

	f = dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_TCP, 8080, "flow before the change");
	len = pkt_reply(&f, 0x12, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 1, NPBPF_ALLOW_CT, "its SYN-ACK");
	u = dp_open(d, d->client, &c4, d->server, &s4, IPPROTO_UDP, 5353, "UDP flow before");

	/* Revision moves, policy does not: the flow survives the re-check. */
	fill_config(d->h->skel, 2, 0, 0, 1000000);
	len = pkt_fwd(&f, 0x10, pkt);
	expect(d->h, H_TO, d->if_server, pkt, len, 1, NPBPF_ALLOW_CT,
	       "ACK after a revision bump, same policy");
	memset(&k, 0, sizeof(k));
	memcpy(k.saddr, c4.bytes, 4);
	memcpy(k.daddr, s4.bytes, 4);
	k.sport = htons(f.sport);
	k.dport = htons(f.dport);
	k.proto = IPPROTO_TCP;
	k.family = NPBPF_FAMILY_V4;
	k.dir = NPBPF_DIR_INGRESS;
	tap_ok(!fill_ct_lookup(d->h->skel, d->if_server, &k, &cv) &&
		       cv.revision == 2 && cv.state == NPBPF_CT_ESTABLISHED,
	       "server's entry re-stamped with revision 2, established");

	/* The server stops accepting http (now 8443). */
	if (dp_load(&d2, "8443")) {
		tap_ok(false, "changed policy compiles");
		scen_free(&d2.s);
		return;
	}
	rebind(&d2.s, &d->s);
	d2.if_client = d->if_client;
	d2.if_server = d->if_server;
	compiled_free(&d2.s.cp);
	if (fill_compile(d->h->skel, &d2.s.c, &d2.s.cp)) {
		tap_ok(false, "changed policy compiles against the maps' numbers");
		d2.s.compiled = false;
		scen_free(&d2.s);
		return;
	}
	v = dp_engine(&d2, d2.client, &f, d2.server);
	tap_ok(!v.dir[NP_INGRESS].allowed && v.dir[NP_EGRESS].allowed,
	       "engine: after the change server denies client:8080, client's egress allows");
	/* From revision 2 on generation 0: generation 1, revision 3. */
	/* The sync keeps the config's event rate as it found it; the checks
	 * below read each drop's event, so give them the test's rate again. */
	if (fill_sync(d->h->skel, &d2.s.cp, d2.s.b, d2.s.nb) ||
	    fill_config(d->h->skel, 3, 1, 0, 1000000))
		tap_ok(false, "new generation written");
	len = pkt_fwd(&f, 0x10, pkt);
	expect(d->h, H_FROM, d->if_client, pkt, len, 1, NPBPF_ALLOW_CT,
	       "established flow, client side still allowed");
	expect(d->h, H_TO, d->if_server, pkt, len, 0, NPBPF_DROP_POLICY,
	       "established flow cut at the server by the new policy");
	present = !fill_ct_lookup(d->h->skel, d->if_server, &k, &cv);
	tap_ok(!present, "server's entry deleted");
	len = pkt_reply(&f, 0x10, pkt);
	expect(d->h, H_FROM, d->if_server, pkt, len, 0, NPBPF_DROP_NO_CT,
	       "server's next reply has no flow left");
	len = pkt_fwd(&u, 0, pkt);
	expect(d->h, H_TO, d->if_server, pkt, len, 1, NPBPF_ALLOW_CT,
	       "UDP flow the new policy still allows");
	f = dp_open(&d2, d2.client, &c4, d2.server, &s4, IPPROTO_TCP, 8443,
		    "new flow to the new port (generation 1)");
	scen_free(&d2.s);
	/* Back to d's policy, from a fresh start. */
	scen_fill(&d->s, d->h, 1);
}

/* ---- Real veth: non-linear skbs and the VLAN tag in skb metadata */

/* Waits up to 2 s for a counter to reach want. */
static bool wait_counter(struct harness *h, uint32_t policy, uint16_t rule, uint8_t dir,
			 uint8_t verdict, uint64_t want)
{
	for (int i = 0; i < 200; i++) {
		if (counter_get(h, policy, rule, dir, verdict) >= want)
			return true;
		usleep(10000);
	}
	return false;
}

static void dp_veth(struct dp *d)
{
	struct np_addr c4 = *pod_addr(d->client, 4), s4 = *pod_addr(d->server, 4);
	struct np_addr wo = test_addr("198.18.99.1");
	static uint8_t pkt[PKT_CAP];
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)d->if_client,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tco, .prog_fd = d->h->prog[H_FROM]);
	struct flow_verdict v;
	struct pkt_spec s;
	struct flow f;
	uint64_t before;
	size_t len;
	int err;

	/* The client's endpoint is host-side veth nph0; frames sent on its
	 * pod side npp0 arrive there as received skbs. */
	if (d->if_client != d->h->dev[0]) {
		tap_ok(false, "client bound to veth 0");
		return;
	}
	err = bpf_tc_hook_create(&hook);
	if (!err || err == -EEXIST)
		err = bpf_tc_attach(&hook, &tco);
	if (!tap_ok(!err, "npbpf_from_pod attached at TC ingress of a real veth (%s)",
		    strerror(-err)))
		return;

	/* 5000 bytes from AF_PACKET: only the Ethernet header is linear. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_UDP, 5353);
	v = dp_engine(d, d->client, &f, d->server);
	spec_for(&s, &f, false, 0);
	s.payload_len = 5000;
	len = pkt_build(&s, pkt, PKT_CAP);
	before = counter_get(d->h, v.dir[NP_EGRESS].by.policy, v.dir[NP_EGRESS].by.rule,
			     NPBPF_DIR_EGRESS, NPBPF_VERDICT_ALLOW);
	err = send_frame("npp0", pkt, len);
	tap_ok(!err && v.dir[NP_EGRESS].allowed &&
		       wait_counter(d->h, v.dir[NP_EGRESS].by.policy, v.dir[NP_EGRESS].by.rule,
				    NPBPF_DIR_EGRESS, NPBPF_VERDICT_ALLOW, before + 1),
	       "non-linear allowed datagram charged to the engine's rule (%s)", strerror(-err));

	f = mkflow(d->h, &c4, &wo, IPPROTO_UDP, 53);
	v = dp_engine(d, d->client, &f, NULL);
	spec_for(&s, &f, false, 0);
	s.payload_len = 5000;
	len = pkt_build(&s, pkt, PKT_CAP);
	before = counter_get(d->h, ~0u, NPBPF_DROP_POLICY, NPBPF_DIR_EGRESS, NPBPF_VERDICT_DROP);
	err = send_frame("npp0", pkt, len);
	tap_ok(!err && !v.dir[NP_EGRESS].allowed &&
		       wait_counter(d->h, ~0u, NPBPF_DROP_POLICY, NPBPF_DIR_EGRESS,
				    NPBPF_VERDICT_DROP, before + 1),
	       "non-linear denied datagram dropped by policy, not passed or unparsed");

	/* A tagged frame of an allowed flow: the receive path moves the tag
	 * into skb metadata before TC, so only vlan_present shows it. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_UDP, 5353);
	spec_for(&s, &f, false, 0);
	s.vlan_tpid = 0x8100;
	s.payload_len = 32;
	len = pkt_build(&s, pkt, PKT_CAP);
	before = counter_get(d->h, ~0u, NPBPF_DROP_VLAN, NPBPF_DIR_EGRESS, NPBPF_VERDICT_DROP);
	err = send_frame("npp0", pkt, len);
	tap_ok(!err && wait_counter(d->h, ~0u, NPBPF_DROP_VLAN, NPBPF_DIR_EGRESS,
				    NPBPF_VERDICT_DROP, before + 1),
	       "802.1Q frame untagged into skb metadata still dropped as VLAN");
	s.vlan_tpid = 0x88a8;
	len = pkt_build(&s, pkt, PKT_CAP);
	err = send_frame("npp0", pkt, len);
	tap_ok(!err && wait_counter(d->h, ~0u, NPBPF_DROP_VLAN, NPBPF_DIR_EGRESS,
				    NPBPF_VERDICT_DROP, before + 2),
	       "802.1ad frame untagged into skb metadata still dropped as VLAN");

	/* An IPv4 header cut short: the parser cannot classify it. */
	f = mkflow(d->h, &c4, &s4, IPPROTO_UDP, 5353);
	len = pkt_open(&f, pkt);
	before = counter_get(d->h, ~0u, NPBPF_DROP_NOT_IP, NPBPF_DIR_EGRESS, NPBPF_VERDICT_DROP);
	err = send_frame("npp0", pkt, 14 + 12);
	tap_ok(!err && wait_counter(d->h, ~0u, NPBPF_DROP_NOT_IP, NPBPF_DIR_EGRESS,
				    NPBPF_VERDICT_DROP, before + 1),
	       "truncated IPv4 header on a real veth dropped: no source to validate");

	tco.prog_fd = 0;
	tco.flags = 0;
	tco.prog_id = 0;
	bpf_tc_detach(&hook, &tco);
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	bpf_tc_hook_destroy(&hook);
}

void features_run(struct harness *h)
{
	struct dp d = { .h = h };

	if (dp_load(&d, "http") || scen_fill(&d.s, h, 1)) {
		tap_ok(false, "dp cluster loads, compiles and fills the maps");
		scen_free(&d.s);
		return;
	}
	dp_basic(&d);
	dp_timeouts(&d);
	dp_icmp_errors(&d);
	dp_fragments(&d);
	dp_spoof_vlan_parse(&d);
	dp_xdp(&d);
	dp_counters_events(&d);
	dp_veth(&d);
	dp_revision(&d);
	matrix_run(h, &d.s);
	scen_free(&d.s);
}
