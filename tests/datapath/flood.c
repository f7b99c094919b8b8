/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A denied flood judged once (tracker issue 12), one check each:
 *  - the denial cache (bpf/lib/denycache.h): a repeated denial is answered
 *    from this CPU's slot, counted and reported as the drop it was; a
 *    revision bump reaches it at once; a conntrack entry created on the
 *    endpoint (the pod answers a flow opened on the same port pair) makes
 *    the cached tuple pass, and moves the endpoint's epoch past the mark
 *    that makes probes read slots; spoofed packets and packets that are
 *    not the pod's own neither insert nor hit; two pods' flows do not
 *    meet; every bit the verdict reads is compared (MACs, addresses,
 *    ports, fragment bits, ICMP type/code/identifier, IPv4 and IPv6);
 *    400 denied flows are cached at once, in this CPU's region, and
 *    answered; ICMP errors are never cached; NPBPF_CFG_NO_DENY_CACHE turns
 *    it off;
 *  - per-endpoint counters (npbpf_epcnt and its overflow), through the
 *    reader status and the agent use (counters.h);
 *  - XDP mode judges once (bpf/lib/xdpmark.h): on a real veth with XDP and
 *    TC attached, a frame XDP passed is counted once and TC ran without
 *    judging it; without XDP, TC judges.
 * The cache is per CPU: the checks that look at it run pinned to one CPU,
 * the last one allowed (not the first region of the map).
 */
#include "harness.h"
#include "loader.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/*
 * Namespace fl: sender may only send TCP 80 and UDP 5353 to server; server
 * admits exactly that from sender and sends anything (policyTypes Ingress);
 * other is selected by no policy.
 */
static const char fl_yaml[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: fl}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: sender, namespace: fl, labels: {app: s}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.32.1, podIPs: [{ip: 198.18.32.1}, {ip: \"2001:db8:32::1\"}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: server, namespace: fl, labels: {app: v}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.32.2, podIPs: [{ip: 198.18.32.2}, {ip: \"2001:db8:32::2\"}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: other, namespace: fl, labels: {app: o}}\n"
	"spec: {containers: [{name: c, image: x}]}\n"
	"status: {podIP: 198.18.32.3, podIPs: [{ip: 198.18.32.3}, {ip: \"2001:db8:32::3\"}]}\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: sender, namespace: fl}\n"
	"spec:\n  podSelector: {matchLabels: {app: s}}\n  policyTypes: [Egress]\n"
	"  egress:\n  - to: [{podSelector: {matchLabels: {app: v}}}]\n"
	"    ports: [{port: 80}, {port: 5353, protocol: UDP}]\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: server, namespace: fl}\n"
	"spec:\n  podSelector: {matchLabels: {app: v}}\n  policyTypes: [Ingress]\n"
	"  ingress:\n  - from: [{podSelector: {matchLabels: {app: s}}}]\n"
	"    ports: [{port: 80}, {port: 5353, protocol: UDP}]\n";

struct fl {
	struct harness *h;
	struct scen s;
	const struct np_pod *ps, *pv, *po; /* sender, server, other */
	uint32_t if_s, if_v, if_o;
	struct np_addr s4, v4, o4, w4, s6, w6;
	uint32_t rev;
	int cpu; /* the CPU the cache checks run on */
};

static uint64_t drops(struct fl *d, uint8_t dir, int reason)
{
	return counter_get(d->h, ~0u, (uint16_t)reason, dir, NPBPF_VERDICT_DROP);
}

/* The denial cache's window of a frame (bpf/lib/denycache.h), masked as
 * the datapath masks it (denymask.h): IPv4 bytes 0-39, IPv6 0-55 and 54-61.
 * Returns false for a frame in neither form. */
static bool deny_window(const uint8_t *pkt, size_t len, uint64_t *w)
{
	static const size_t v4[NPBPF_DENY_WORDS] = {0, 8, 16, 24, 32};
	static const size_t v6[NPBPF_DENY_WORDS] = {0, 8, 16, 24, 32, 40, 48, 54};
	const size_t *at;
	size_t n;
	uint8_t proto;
	int l4, is6;

	if (len < 40)
		return false;
	if (pkt[12] == 0x08 && pkt[13] == 0x00) {
		at = v4;
		n = NPBPF_DENY_V4_WORDS;
		is6 = 0;
		proto = pkt[23];
	} else if (pkt[12] == 0x86 && pkt[13] == 0xdd && len >= 62) {
		at = v6;
		n = NPBPF_DENY_WORDS;
		is6 = 1;
		proto = pkt[20];
	} else {
		return false;
	}
	l4 = proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 ? NPBPF_DENY_L4_ICMP
							      : NPBPF_DENY_L4_PORTS;
	memset(w, 0, NPBPF_DENY_WORDS * sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		memcpy(&w[i], pkt + at[i], 8);
		w[i] &= npbpf_deny_mask_word(is6, l4, (int)i);
	}
	return true;
}

/* npbpf_deny as it is now, every CPU's region (the map is mmapable), and
 * its slot count; NULL when it cannot be mapped. deny_unmap() after. */
static const struct npbpf_deny_slot *deny_map(struct fl *d, size_t *n)
{
	struct bpf_map *m = d->h->skel->maps.npbpf_deny;
	size_t len;
	void *v;

	*n = bpf_map__max_entries(m);
	len = (*n * sizeof(struct npbpf_deny_slot) + 4095) & ~(size_t)4095;
	v = mmap(NULL, len, PROT_READ, MAP_SHARED, bpf_map__fd(m), 0);
	return v == MAP_FAILED ? NULL : v;
}

static void deny_unmap(const struct npbpf_deny_slot *v, size_t n)
{
	munmap((void *)v, (n * sizeof(*v) + 4095) & ~(size_t)4095);
}

/* The index of the slot of slots that holds a denial the frame pkt would
 * hit at ifindex (0: at any endpoint), or -1. */
static long deny_in(const struct npbpf_deny_slot *slots, size_t n, uint32_t ifindex,
		    const uint8_t *pkt, size_t len)
{
	uint64_t w[NPBPF_DENY_WORDS];

	if (!deny_window(pkt, len, w))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (slots[i].reason && !memcmp(w, slots[i].v, sizeof(w)) &&
		    (!ifindex || slots[i].ifindex == ifindex))
			return (long)i;
	return -1;
}

/* Whether a slot of npbpf_deny, on any CPU, holds a denial that the frame
 * pkt would hit at ifindex (0: at any endpoint). */
static bool deny_cached(struct fl *d, uint32_t ifindex, const uint8_t *pkt, size_t len)
{
	size_t n;
	const struct npbpf_deny_slot *v = deny_map(d, &n);
	bool found;

	if (!v)
		return false;
	found = deny_in(v, n, ifindex, pkt, len) >= 0;
	deny_unmap(v, n);
	return found;
}

/* Whether the conntrack epoch of endpoint ifindex is marked as having a
 * denial cached at it; -1 when it cannot be read. */
static int deny_marked(struct fl *d, uint32_t ifindex)
{
	uint32_t key = ifindex % NPBPF_CT_EPOCHS;
	struct npbpf_ctepoch v;

	if (bpf_map__lookup_elem(d->h->skel->maps.npbpf_ctepoch, &key, sizeof(key), &v, sizeof(v),
				 0))
		return -1;
	return v.denied == v.epoch + 1;
}

static int ep_get(struct fl *d, uint32_t ifindex, struct npbpf_ep_counters *c)
{
	return counters_endpoint(bpf_map__fd(d->h->skel->maps.npbpf_epcnt),
				 bpf_map__fd(d->h->skel->maps.npbpf_epcnt_ov), ifindex, c);
}

static int bump(struct fl *d)
{
	return fill_config(d->h->skel, ++d->rev, 0, 0, 1000000);
}

/* Sender's subject record removed behind the datapath's back (no sync
 * does that without a bump): a judged packet of sender then passes, a
 * cached denial still drops. That tells the cache's answers apart. */
static bool subject_hide(struct fl *d, struct npbpf_subject *subj)
{
	uint32_t key = NPBPF_SUBJECT_KEY(d->s.cp.idn.pod_id[d->ps - d->s.c.pods], 0);

	if (bpf_map__lookup_elem(d->h->skel->maps.npbpf_subject, &key, sizeof(key), subj,
				 sizeof(*subj), 0) ||
	    bpf_map__delete_elem(d->h->skel->maps.npbpf_subject, &key, sizeof(key), 0)) {
		tap_ok(false, "sender's subject record removed");
		return false;
	}
	return true;
}

/* The record back, and a revision bump (events on again). */
static void subject_back(struct fl *d, const struct npbpf_subject *subj)
{
	uint32_t key = NPBPF_SUBJECT_KEY(d->s.cp.idn.pod_id[d->ps - d->s.c.pods], 0);

	bpf_map__update_elem(d->h->skel->maps.npbpf_subject, &key, sizeof(key), subj, sizeof(*subj),
			     BPF_ANY);
	bump(d);
}

/* A denied flood from sender: the first packet judged and cached, the
 * repeats answered from the cache, each one counted and reported as a
 * policy drop. */
static void fl_hit(struct fl *d)
{
	struct flow f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_UDP, 53);
	uint8_t pkt[PKT_CAP];
	size_t len = pkt_open(&f, pkt);
	uint64_t before = drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_POLICY);
	struct npbpf_subject subj;
	int events = 0, ok = 0;

	for (int i = 0; i < 20; i++) {
		struct outcome o = run_pkt(d->h, H_FROM, d->if_s, pkt, len);

		ok += o.pass == 0 && o.reason == NPBPF_DROP_POLICY;
		events += d->h->n_events;
	}
	tap_ok(ok == 20 && drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_POLICY) == before + 20 &&
		       events == 20,
	       "denied flood: 20 of 20 dropped for policy, counted and reported (%d, %d events)",
	       ok, events);
	tap_ok(deny_cached(d, d->if_s, pkt, len), "the denial is in the cache, at sender's veth");
	ok = 0;
	for (int i = 0; i < 5; i++)
		ok += expect(d->h, H_XDP, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY,
			     "the same flood at XDP");
	(void)ok;

	/* What answers the repeats is the cache: the subject record removed
	 * behind the datapath's back (no sync does that without a bump) would
	 * pass a judged packet, and the cached one still drops... */
	if (!subject_hide(d, &subj))
		return;
	/* Events off (same revision): a cached denial whose event is due
	 * goes the full way for it. */
	fill_config(d->h->skel, d->rev, 0, 0, 0);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY,
	       "repeat answered from the cache (policy changed, no revision bump)");
	expect(d->h, H_XDP, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "and at XDP");
	/* ...until the revision moves: the policy change reaches it at once. */
	bump(d);
	expect(d->h, H_FROM, d->if_s, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "revision bump: the next packet of the cached denial passes");
	expect(d->h, H_XDP, d->if_s, pkt, len, 1, NPBPF_ALLOW_CT,
	       "and at XDP on the entry it opened");
	subject_back(d, &subj);
	f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_UDP, 53);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY,
	       "policy back: a new flow denied again");

	/* A bare SYN is cached; the same tuple without a bare SYN is judged
	 * apart (no connection, not policy). Events off: the repeats are the
	 * cache's to answer. */
	fill_config(d->h->skel, d->rev, 0, 0, 0);
	f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_TCP, 443);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "SYN flood: first SYN");
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "SYN flood: cached SYN");
	tap_ok(deny_cached(d, d->if_s, pkt, len), "the SYN is cached");
	len = pkt_fwd(&f, 0x10, pkt);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_NO_CT,
	       "an ACK of the same tuple: judged as what it is");
	len = pkt_fwd(&f, 0x12, pkt);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_NO_CT,
	       "a SYN|ACK of the cached SYN's tuple: judged as what it is");
	len = pkt_fwd(&f, 0x03, pkt);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY,
	       "SYN|FIN of the same tuple: a bare SYN to the verdict, the cached denial");
	bump(d);
}

/* A fresh denied flow of family v6 ? 6 : 4 (proto), cached; then, the
 * subject hidden, the frame with byte at ^= bit is judged in full (it
 * passes, or the link checks drop it; no policy drop) while the frame
 * itself is still answered from the cache. */
static void fl_compared(struct fl *d, int v6, uint8_t proto, size_t at, uint8_t bit,
			const char *what)
{
	struct flow f = mkflow(d->h, v6 ? &d->s6 : &d->s4, v6 ? &d->w6 : &d->w4, proto, 56);
	struct npbpf_subject subj;
	uint8_t pkt[PKT_CAP];
	size_t len = pkt_open(&f, pkt);
	uint64_t before;

	fill_config(d->h->skel, d->rev, 0, 0, 0);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "a fresh flow denied");
	if (!subject_hide(d, &subj))
		return;
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "its repeat from the cache");
	pkt[at] ^= bit;
	before = drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_POLICY);
	run_pkt(d->h, H_FROM, d->if_s, pkt, len);
	tap_ok(drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_POLICY) == before,
	       "%s: not the cached frame, judged in full", what);
	subject_back(d, &subj);
}

/* Which bits of a frame the cache compares (denycache.h): a repeat that
 * differs only in what the verdict never reads is answered from the cache;
 * one that differs in what it reads is judged in full. Events off (same
 * revision) except where said: a cached denial whose event is due is
 * judged in full, so its event names the peer. */
static void fl_window(struct fl *d)
{
	struct flow f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_UDP, 54);
	struct flow f6 = mkflow(d->h, &d->s6, &d->w6, IPPROTO_UDP, 54);
	struct flow t6 = mkflow(d->h, &d->s6, &d->w6, IPPROTO_TCP, 443);
	struct flow g = f;
	struct npbpf_subject subj;
	uint8_t pkt[PKT_CAP], q6[PKT_CAP], s6[PKT_CAP], tq[PKT_CAP];
	size_t len = pkt_open(&f, pkt), l6 = pkt_open(&f6, q6);
	size_t ls6 = pkt_open(&t6, s6), tl;

	g.proto = IPPROTO_TCP;
	tl = pkt_open(&g, tq);
	tq[14 + 20 + 13] = 0x12; /* SYN|ACK on the cached ports */
	fill_config(d->h->skel, d->rev, 0, 0, 0);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "IPv4 datagram denied");
	expect(d->h, H_FROM, d->if_s, q6, l6, 0, NPBPF_DROP_POLICY, "IPv6 datagram denied");
	expect(d->h, H_FROM, d->if_s, s6, ls6, 0, NPBPF_DROP_POLICY, "IPv6 SYN denied");
	tap_ok(deny_cached(d, d->if_s, q6, l6) && deny_cached(d, d->if_s, s6, ls6),
	       "IPv6 datagram and SYN cached");
	expect(d->h, H_FROM, d->if_s, pkt, 41, 0, NPBPF_DROP_UNPARSEABLE,
	       "the cached frame cut inside its UDP header: the parser's (unparseable)");
	expect(d->h, H_FROM, d->if_s, s6, 70, 0, NPBPF_DROP_UNPARSEABLE,
	       "the cached IPv6 SYN cut inside its TCP header: the parser's");
	if (!subject_hide(d, &subj))
		return;
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY,
	       "the repeat answered from the cache");
	pkt[14 + 8] ^= 0x3f; /* TTL */
	pkt[14 + 4] ^= 0x5a; /* IP ID */
	pkt[14 + 6] ^= 0x40; /* DF */
	pkt[14 + 1] ^= 0x10; /* TOS */
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY,
	       "another TTL, IP ID, DF bit and TOS: still the cached denial");
	q6[14 + 7] ^= 0x3f; /* hop limit */
	q6[14 + 1] ^= 0x0f; /* flow label */
	expect(d->h, H_FROM, d->if_s, q6, l6, 0, NPBPF_DROP_POLICY,
	       "IPv6: another hop limit and flow label, still cached");
	expect(d->h, H_XDP, d->if_s, s6, ls6, 0, NPBPF_DROP_POLICY, "IPv6 SYN cached (XDP)");
	expect(d->h, H_FROM, d->if_s, tq, tl, 1, NPBPF_ALLOW_UNISOLATED,
	       "TCP on the cached ports without a bare SYN: judged in full");
	s6[14 + 40 + 13] = 0x12;
	expect(d->h, H_FROM, d->if_s, s6, ls6, 1, NPBPF_ALLOW_UNISOLATED,
	       "IPv6: SYN|ACK of the cached SYN's tuple: judged in full");
	fill_config(d->h->skel, d->rev, 0, 0, 1000000);
	expect(d->h, H_FROM, d->if_s, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "an event due: the repeat judged in full (the changed policy passes it)");
	subject_back(d, &subj);

	/* Bits the window compares, one fresh flow each (a judged packet that
	 * passes opens an entry, which bumps the epoch: no cached denial of
	 * the endpoint would be believed after it). */
	fl_compared(d, 0, IPPROTO_UDP, 6, 0x02, "another source MAC");
	fl_compared(d, 0, IPPROTO_UDP, 0, 0x01, "another destination MAC");
	fl_compared(d, 0, IPPROTO_UDP, 14 + 6, 0x20, "the fragment bit set (a first fragment)");
	fl_compared(d, 0, IPPROTO_UDP, 14 + 6, 0x80, "the reserved fragment bit set");
	fl_compared(d, 0, IPPROTO_UDP, 14 + 20 + 1, 0x01, "another source port");
	fl_compared(d, 0, IPPROTO_UDP, 14 + 20 + 3, 0x01, "another destination port");
	fl_compared(d, 0, IPPROTO_UDP, 14 + 12 + 3, 0x01, "another source address");
	fl_compared(d, 0, IPPROTO_UDP, 14 + 16 + 3, 0x01, "another destination address");
	fl_compared(d, 0, IPPROTO_UDP, 14 + 9, 0x10 ^ 0x11, "TCP for UDP (protocol byte)");
	fl_compared(d, 0, IPPROTO_ICMP, 14 + 20 + 4, 0x01, "ICMP: another echo identifier");
	fl_compared(d, 0, IPPROTO_ICMP, 14 + 20 + 0, 0x08 ^ 0x0d, "ICMP: timestamp for echo");
	fl_compared(d, 0, IPPROTO_ICMP, 14 + 20 + 1, 0x01, "ICMP: another code");
	fl_compared(d, 1, IPPROTO_UDP, 6, 0x02, "IPv6: another source MAC");
	fl_compared(d, 1, IPPROTO_UDP, 14 + 8 + 15, 0x01, "IPv6: another source address");
	fl_compared(d, 1, IPPROTO_UDP, 14 + 24 + 15, 0x01, "IPv6: another destination address");
	fl_compared(d, 1, IPPROTO_UDP, 14 + 24, 0x80, "IPv6: another destination prefix");
	fl_compared(d, 1, IPPROTO_UDP, 14 + 40 + 1, 0x01, "IPv6: another source port");
	fl_compared(d, 1, IPPROTO_UDP, 14 + 40 + 3, 0x01, "IPv6: another destination port");
	fl_compared(d, 1, IPPROTO_ICMP, 14 + 40 + 4, 0x01, "ICMPv6: another echo identifier");
	fl_compared(d, 1, IPPROTO_ICMP, 14 + 40 + 0, 0x80 ^ 0x81, "ICMPv6: echo reply for request");
}

/* A conntrack entry created on the endpoint reaches a cached denial of the
 * same tuple: the world's datagram to server:9 is denied and cached; then
 * server opens a flow from port 9 to it (unisolated egress), and the
 * world's answer, the very tuple cached, passes on the entry. */
static void fl_ct(struct fl *d)
{
	struct flow out = mkflow(d->h, &d->v4, &d->w4, IPPROTO_UDP, 4000);
	struct flow in = {.a = d->w4, .b = d->v4, .proto = IPPROTO_UDP};
	uint8_t pkt[PKT_CAP];
	size_t len;

	in.sport = out.dport;
	in.dport = out.sport;
	len = pkt_open(&in, pkt);
	/* Events off: the repeat is the cache's to answer, and so is the
	 * reply below but for the conntrack epoch. */
	fill_config(d->h->skel, d->rev, 0, 0, 0);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "the world -> server, denied by its ingress");
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY, "again, from the cache");
	tap_ok(deny_cached(d, d->if_v, pkt, len), "cached at server's veth");
	tap_ok(deny_marked(d, d->if_v) == 1,
	       "server's epoch is marked: a denial was cached at it (probes read slots)");
	len = pkt_open(&out, pkt);
	expect(d->h, H_FROM, d->if_v, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "server opens a flow on the same port pair");
	tap_ok(deny_marked(d, d->if_v) == 0,
	       "the new entry moved server's epoch past the mark (probes read no slot)");
	len = pkt_reply(&out, 0, pkt);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, NPBPF_ALLOW_CT,
	       "the cached tuple now passes as the flow's reply (same revision)");
	bump(d);
}

/* NPBPF_CFG_NO_DENY_CACHE: a denied flood is judged in full, packet by
 * packet (nothing cached, so a policy change behind the datapath's back
 * shows at once); without the flag the same flood is cached again. */
static void fl_off(struct fl *d)
{
	struct flow f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_UDP, 5354);
	uint8_t pkt[PKT_CAP];
	size_t len = pkt_open(&f, pkt);
	struct npbpf_subject subj;

	/* Events off: with the cache on, the repeats would be its to answer. */
	fill_config(d->h->skel, ++d->rev, 0, NPBPF_CFG_NO_DENY_CACHE, 0);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "cache off: denied");
	expect(d->h, H_XDP, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "cache off: denied at XDP");
	tap_ok(!deny_cached(d, d->if_s, pkt, len), "cache off: the denial is not cached");
	if (!subject_hide(d, &subj))
		return;
	expect(d->h, H_FROM, d->if_s, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "cache off: the repeat is judged in full (subject gone: passes)");
	subject_back(d, &subj); /* bumps the revision, events on */
	fill_config(d->h->skel, d->rev, 0, 0, 0);
	f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_UDP, 5355);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "cache on again: denied");
	tap_ok(deny_cached(d, d->if_s, pkt, len), "cache on again: the denial is cached");
	bump(d);
}

/* Spoofed and not-own packets neither insert nor hit; one pod's cache
 * entries never decide another's packets. */
static void fl_spoof(struct fl *d)
{
	struct flow f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_UDP, 123);
	struct flow g;
	uint8_t pkt[PKT_CAP];
	size_t len = pkt_open(&f, pkt);

	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "sender's denied flow");
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "cached");
	expect(d->h, H_FROM, d->if_o, pkt, len, 0, NPBPF_DROP_SPOOFED,
	       "the same frame from other (sender's address): spoofed, not a cached policy drop");
	expect(d->h, H_XDP, d->if_o, pkt, len, 0, NPBPF_DROP_SPOOFED, "the same at XDP");
	tap_ok(!deny_cached(d, d->if_o, pkt, len), "nothing cached at other's veth");

	/* other is unisolated: its own datagram to the same destination and
	 * port passes, before and after sender's cached denial. */
	g = mkflow(d->h, &d->o4, &d->w4, IPPROTO_UDP, 123);
	len = pkt_open(&g, pkt);
	expect(d->h, H_FROM, d->if_o, pkt, len, 1, NPBPF_ALLOW_UNISOLATED,
	       "other's flow to the same place passes");
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "sender's still dropped");
	len = pkt_open(&g, pkt);
	expect(d->h, H_FROM, d->if_o, pkt, len, 1, NPBPF_ALLOW_CT, "other's still passes");

	/* To-pod: a frame at server's veth addressed to sender's IP is not
	 * server's own: judged (denied by server's ingress) and never cached. */
	g = mkflow(d->h, &d->w4, &d->s4, IPPROTO_UDP, 77);
	len = pkt_open(&g, pkt);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY,
	       "to-pod, another pod's address: judged");
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY, "again: judged");
	tap_ok(!deny_cached(d, 0, pkt, len), "a packet not the pod's own is never cached");

	/* sender's denied datagram to server (port 9) is cached at both
	 * veths it was judged at? Only at sender's: server never saw it. And
	 * sender's allowed datagram to server passes both hooks. */
	f = mkflow(d->h, &d->s4, &d->v4, IPPROTO_UDP, 5353);
	len = pkt_open(&f, pkt);
	expect(d->h, H_FROM, d->if_s, pkt, len, 1, 0, "sender -> server:5353 allowed out");
	expect(d->h, H_TO, d->if_v, pkt, len, 1, 0, "and in");
	g = mkflow(d->h, &d->w4, &d->v4, IPPROTO_UDP, 5353);
	len = pkt_open(&g, pkt);
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY, "world -> server:5353 denied");
	expect(d->h, H_TO, d->if_v, pkt, len, 0, NPBPF_DROP_POLICY, "cached");
	len = pkt_fwd(&f, 0, pkt);
	expect(d->h, H_TO, d->if_v, pkt, len, 1, NPBPF_ALLOW_CT,
	       "sender's flow to the same port still passes");
}

/* Sender's endpoint record removed behind the datapath's back: a judged
 * packet of sender is dropped for having no endpoint (opening nothing, so
 * no conntrack epoch moves), a cached denial still drops for policy. */
static bool endpoint_hide(struct fl *d, struct npbpf_endpoint *ep)
{
	if (bpf_map__lookup_elem(d->h->skel->maps.npbpf_endpoint, &d->if_s, sizeof(d->if_s), ep,
				 sizeof(*ep), 0) ||
	    bpf_map__delete_elem(d->h->skel->maps.npbpf_endpoint, &d->if_s, sizeof(d->if_s), 0)) {
		tap_ok(false, "sender's endpoint record removed");
		return false;
	}
	return true;
}

static void endpoint_back(struct fl *d, const struct npbpf_endpoint *ep)
{
	bpf_map__update_elem(d->h->skel->maps.npbpf_endpoint, &d->if_s, sizeof(d->if_s), ep,
			     sizeof(*ep), BPF_ANY);
	bump(d);
}

/* Many denied flows at once, each cached: 800 datagrams of sender to as
 * many ports, all denied; then, sender's endpoint hidden, (nearly) all of
 * them answered from the cache, from this CPU's region. The 4,096 sets of
 * two slots lose a flow only where three share a set (about 4 of 800
 * expected); one slot per set loses about 40, the old 256 slots most. */
#define FL_MANY_FRAME 256 /* a datagram without payload */
static void fl_many(struct fl *d)
{
	enum { N = 800 };
	static uint8_t pkt[N][FL_MANY_FRAME];
	size_t len[N], n;
	const struct npbpf_deny_slot *v;
	uint64_t before = drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_POLICY), hits, misses;
	int dropped = 0, cached = 0, here = 0;
	struct npbpf_endpoint ep;
	uint32_t lcg = 12345;

	fill_config(d->h->skel, d->rev, 0, 0, 0);
	for (int i = 0; i < N; i++) {
		struct flow f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_UDP, (uint16_t)(20000 + i));
		struct outcome o;

		/* Scattered source ports: sequential ones fall into the sets
		 * more evenly than real clients' do. */
		lcg = lcg * 1103515245u + 12345u;
		f.sport = (uint16_t)(1024 + (lcg >> 16) % 60000);
		len[i] = pkt_open(&f, pkt[i]);
		if (len[i] > FL_MANY_FRAME) {
			tap_ok(false, "a datagram without payload fits %d bytes", FL_MANY_FRAME);
			return;
		}
		o = run_pkt(d->h, H_FROM, d->if_s, pkt[i], len[i]);
		dropped += o.pass == 0;
	}
	v = deny_map(d, &n);
	for (int i = 0; v && i < N; i++) {
		long at = deny_in(v, n, d->if_s, pkt[i], len[i]);

		cached += at >= 0;
		here += at >= (long)d->cpu * NPBPF_DENY_SLOTS &&
			at < (long)(d->cpu + 1) * NPBPF_DENY_SLOTS;
	}
	if (v)
		deny_unmap(v, n);
	tap_ok(dropped == N && drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_POLICY) == before + N &&
		       cached >= N - 12 && here == cached,
	       "%d denied flows at once: %d dropped for policy, %d of them cached, %d in the "
	       "region of CPU %d",
	       N, dropped, cached, here, d->cpu);

	if (!endpoint_hide(d, &ep))
		return;
	before = drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_POLICY);
	misses = drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_NO_ENDPOINT);
	for (int i = 0; i < N; i++)
		run_pkt(d->h, H_FROM, d->if_s, pkt[i], len[i]);
	hits = drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_POLICY) - before;
	misses = drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_NO_ENDPOINT) - misses;
	tap_ok(hits >= N - 12 && hits + misses == N,
	       "the %d again, endpoint hidden: %llu answered from the cache, %llu judged (no "
	       "endpoint)",
	       N, (unsigned long long)hits, (unsigned long long)misses);
	endpoint_back(d, &ep);
}

/* What ICMP the cache holds: a denied echo request is cached; an error is
 * never (its verdict reads the quoted packet), however often it is sent. */
static void fl_icmp(struct fl *d)
{
	struct flow f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_ICMP, 0);
	struct pkt_spec e;
	uint8_t pkt[PKT_CAP];
	size_t len = pkt_open(&f, pkt);

	fill_config(d->h->skel, d->rev, 0, 0, 0);
	expect(d->h, H_FROM, d->if_s, pkt, len, 0, NPBPF_DROP_POLICY, "echo request denied");
	tap_ok(deny_cached(d, d->if_s, pkt, len), "the echo request is cached");
	spec_for(&e, &f, false, 0);
	e.icmp_type = 3; /* destination unreachable, port: quoting nothing known */
	e.icmp_code = 3;
	len = pkt_build(&e, pkt, sizeof(pkt));
	run_pkt(d->h, H_FROM, d->if_s, pkt, len);
	run_pkt(d->h, H_FROM, d->if_s, pkt, len);
	tap_ok(!deny_cached(d, 0, pkt, len), "an ICMP error is never cached");
	bump(d);
}

/* Per-endpoint counters: each packet at the endpoint it crossed. */
static void fl_epcnt(struct fl *d)
{
	struct npbpf_ep_counters s0, s1, o0, o1, v0, v1;
	struct flow f = mkflow(d->h, &d->s4, &d->w4, IPPROTO_UDP, 9999);
	struct flow g = mkflow(d->h, &d->s4, &d->v4, IPPROTO_TCP, 80);
	uint8_t pkt[PKT_CAP];
	size_t len, glen;
	uint32_t idx = d->if_s & (NPBPF_EPCNT_SLOTS - 1);
	struct npbpf_ep_slot *sl = calloc((size_t)d->h->ncpu, sizeof(*sl));
	int fd = bpf_map__fd(d->h->skel->maps.npbpf_epcnt);

	if (!sl || ep_get(d, d->if_s, &s0) || ep_get(d, d->if_o, &o0) || ep_get(d, d->if_v, &v0)) {
		tap_ok(false, "per-endpoint counters read");
		free(sl);
		return;
	}
	len = pkt_open(&f, pkt);
	for (int i = 0; i < 10; i++)
		run_pkt(d->h, H_FROM, d->if_s, pkt, len);
	glen = pkt_open(&g, pkt);
	run_pkt(d->h, H_FROM, d->if_s, pkt, glen);
	run_pkt(d->h, H_TO, d->if_v, pkt, glen);
	ep_get(d, d->if_s, &s1);
	ep_get(d, d->if_o, &o1);
	ep_get(d, d->if_v, &v1);
	tap_ok(s1.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].packets ==
			       s0.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].packets + 10 &&
		       s1.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].bytes ==
			       s0.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].bytes + 10 * len &&
		       s1.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_ALLOW].packets ==
			       s0.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_ALLOW].packets + 1,
	       "sender's counters: 10 sent and dropped (%zu bytes each), 1 sent and allowed", len);
	tap_ok(v1.c[NPBPF_DIR_INGRESS][NPBPF_VERDICT_ALLOW].packets ==
			       v0.c[NPBPF_DIR_INGRESS][NPBPF_VERDICT_ALLOW].packets + 1 &&
		       v1.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_ALLOW].packets ==
			       v0.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_ALLOW].packets,
	       "server's counters: 1 received and allowed");
	tap_ok(!memcmp(&o0, &o1, sizeof(o0)), "other's counters did not move");

	/* sender's slot held by a live endpoint (server) on every CPU: the
	 * overflow counts for sender, and the reader still adds it up. */
	for (int c = 0; c < d->h->ncpu; c++) {
		memset(&sl[c], 0, sizeof(sl[c]));
		sl[c].ifindex = d->if_v;
	}
	if (bpf_map_update_elem(fd, &idx, sl, BPF_ANY)) {
		tap_ok(false, "slot taken over");
		free(sl);
		return;
	}
	ep_get(d, d->if_s, &s0);
	len = pkt_open(&f, pkt);
	for (int i = 0; i < 3; i++)
		run_pkt(d->h, H_FROM, d->if_s, pkt, len);
	ep_get(d, d->if_s, &s1);
	tap_ok(s1.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].packets ==
		       s0.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].packets + 3,
	       "slot held by a live endpoint: sender counted in the overflow");
	/* A slot whose owner is gone is taken over. */
	for (int c = 0; c < d->h->ncpu; c++)
		sl[c].ifindex = 0x7ffff000u | idx; /* no such veth */
	bpf_map_update_elem(fd, &idx, sl, BPF_ANY);
	run_pkt(d->h, H_FROM, d->if_s, pkt, len);
	bpf_map_lookup_elem(fd, &idx, sl);
	{
		bool taken = false;

		for (int c = 0; c < d->h->ncpu; c++)
			taken |= sl[c].ifindex == d->if_s &&
				 sl[c].n.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].packets == 1;
		tap_ok(taken, "slot of a gone veth taken over by sender");
	}
	ep_get(d, d->if_s, &s0);
	tap_ok(s0.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].packets ==
		       s1.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].packets + 1,
	       "and the reader adds slot and overflow: 1 more");
	free(sl);
}

/* ---- A real veth: XDP and TC from-pod attached, frames from the pod side. */

static uint64_t run_cnt(int prog_fd)
{
	struct bpf_prog_info info;
	__u32 ilen = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &ilen))
		return 0;
	return info.run_cnt;
}

static uint64_t ep_egress(struct fl *d, uint32_t ifindex)
{
	struct npbpf_ep_counters c;

	if (ep_get(d, ifindex, &c))
		return ~0ull;
	return c.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_ALLOW].packets +
	       c.c[NPBPF_DIR_EGRESS][NPBPF_VERDICT_DROP].packets;
}

/* Waits up to 2 s for the endpoint's egress packets to reach want, then a
 * moment more for anything extra (a second count) to show. */
static uint64_t wait_egress(struct fl *d, uint32_t ifindex, uint64_t want)
{
	for (int i = 0; i < 200 && ep_egress(d, ifindex) < want; i++)
		usleep(10000);
	usleep(50000);
	return ep_egress(d, ifindex);
}

static void fl_xdp_veth(struct fl *d)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)d->if_v, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tco, .prog_fd = d->h->prog[H_FROM]);
	struct flow f;
	uint8_t pkt[PKT_CAP];
	uint64_t e0, e1, tc0, tc1, x0, x1, u0, c0;
	char cmd[256], pod_if[IF_NAMESIZE];
	size_t len;
	int stats = -1, err, pair = -1;

	/* server's veth pair: up, MTU 1500 (native XDP on a veth needs its
	 * peer's MTU to fit a page); put back as the harness made it after. */
	for (int i = 0; i < N_DEV; i++) {
		if (d->h->dev[i] == d->if_v)
			pair = i;
	}
	snprintf(cmd, sizeof(cmd), "ip link set nph%d mtu 1500 up && ip link set npp%d mtu 1500 up",
		 pair, pair);
	snprintf(pod_if, sizeof(pod_if), "npp%d", pair);
	if (pair < 0 || system(cmd)) {
		tap_ok(false, "server's veth pair up");
		return;
	}
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	err = bpf_tc_hook_create(&hook);
	if (!err || err == -EEXIST)
		err = bpf_tc_attach(&hook, &tco);
	if (!err)
		err = bpf_xdp_attach((int)d->if_v, d->h->prog[H_XDP], XDP_FLAGS_DRV_MODE, NULL);
	if (!tap_ok(!err && stats >= 0, "XDP (native) and TC from-pod on a real veth (%s)",
		    strerror(-err)))
		goto out;

	/* XDP mode: one count per frame, TC ran and judged nothing. */
	f = mkflow(d->h, &d->v4, &d->w4, IPPROTO_UDP, 5000);
	len = pkt_open(&f, pkt);
	u0 = counter_get(d->h, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED, NPBPF_DIR_EGRESS,
			 NPBPF_VERDICT_ALLOW);
	c0 = counter_get(d->h, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT, NPBPF_DIR_EGRESS,
			 NPBPF_VERDICT_ALLOW);
	e0 = ep_egress(d, d->if_v);
	tc0 = run_cnt(d->h->prog[H_FROM]);
	x0 = run_cnt(d->h->prog[H_XDP]);
	err = send_frame(pod_if, pkt, len);
	if (!err)
		err = send_frame(pod_if, pkt, len);
	e1 = wait_egress(d, d->if_v, e0 + 2);
	tc1 = run_cnt(d->h->prog[H_FROM]);
	x1 = run_cnt(d->h->prog[H_XDP]);
	tap_ok(!err && e1 == e0 + 2 && x1 == x0 + 2 && tc1 == tc0 + 2,
	       "XDP mode: 2 frames, XDP and TC ran twice each, counted twice, not 4 times "
	       "(counted %llu, xdp %llu, tc %llu)",
	       (unsigned long long)(e1 - e0), (unsigned long long)(x1 - x0),
	       (unsigned long long)(tc1 - tc0));
	tap_ok(counter_get(d->h, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED, NPBPF_DIR_EGRESS,
			   NPBPF_VERDICT_ALLOW) == u0 + 1 &&
		       counter_get(d->h, NPBPF_POLICY_NONE, NPBPF_ALLOW_CT, NPBPF_DIR_EGRESS,
				   NPBPF_VERDICT_ALLOW) == c0 + 1,
	       "XDP mode: the first frame charged once as a new flow, the second once as "
	       "tracked: TC did not judge");

	/* A revision bump between XDP and TC cannot be staged here; a mark of
	 * another revision is what TC sees after one: it judges. Without XDP,
	 * TC judges every frame. */
	bpf_xdp_detach((int)d->if_v, XDP_FLAGS_DRV_MODE, NULL);
	f = mkflow(d->h, &d->v4, &d->w4, IPPROTO_UDP, 5000);
	len = pkt_open(&f, pkt);
	u0 = counter_get(d->h, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED, NPBPF_DIR_EGRESS,
			 NPBPF_VERDICT_ALLOW);
	e0 = ep_egress(d, d->if_v);
	tc0 = run_cnt(d->h->prog[H_FROM]);
	x0 = run_cnt(d->h->prog[H_XDP]);
	err = send_frame(pod_if, pkt, len);
	e1 = wait_egress(d, d->if_v, e0 + 1);
	tc1 = run_cnt(d->h->prog[H_FROM]);
	x1 = run_cnt(d->h->prog[H_XDP]);
	tap_ok(!err && e1 == e0 + 1 && tc1 == tc0 + 1 && x1 == x0 &&
		       counter_get(d->h, NPBPF_POLICY_NONE, NPBPF_ALLOW_UNISOLATED,
				   NPBPF_DIR_EGRESS, NPBPF_VERDICT_ALLOW) == u0 + 1,
	       "TC only: TC judged and counted the frame (counted %llu, tc %llu)",
	       (unsigned long long)(e1 - e0), (unsigned long long)(tc1 - tc0));

	/* And TC still drops what policy denies: sender is not on this veth;
	 * server's egress is open. A frame with another source is spoofed. */
	f = mkflow(d->h, &d->o4, &d->w4, IPPROTO_UDP, 5000);
	len = pkt_open(&f, pkt);
	c0 = drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_SPOOFED);
	err = send_frame(pod_if, pkt, len);
	wait_egress(d, d->if_v, e1 + 1);
	tap_ok(!err && drops(d, NPBPF_DIR_EGRESS, NPBPF_DROP_SPOOFED) == c0 + 1,
	       "TC only: a spoofed frame judged and dropped by TC");
out:
	bpf_xdp_detach((int)d->if_v, XDP_FLAGS_DRV_MODE, NULL);
	tco.prog_fd = 0;
	tco.flags = 0;
	tco.prog_id = 0;
	bpf_tc_detach(&hook, &tco);
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	bpf_tc_hook_destroy(&hook);
	if (stats >= 0)
		close(stats);
	if (pair == 0)
		snprintf(cmd, sizeof(cmd),
			 "ip link set nph0 mtu 9000 && ip link set npp0 mtu 9000");
	else
		snprintf(cmd, sizeof(cmd), "ip link set nph%d down && ip link set npp%d down", pair,
			 pair);
	if (system(cmd))
		diag("server's veth pair not put back");
}

void flood_run(struct harness *h)
{
	struct fl d = {.h = h, .rev = 1};
	cpu_set_t one, saved;

	memset(&d.s, 0, sizeof(d.s));
	if (scen_load_buffer(&d.s, h, "flood", fl_yaml) || scen_fill(&d.s, h, 1) ||
	    fill_config(h->skel, 1, 0, 0, 1000000) || d.s.nb < 3) {
		tap_ok(false, "flood cluster loads, compiles and fills the maps");
		scen_free(&d.s);
		return;
	}
	d.ps = cluster_find_pod(&d.s.c, "fl", "sender");
	d.pv = cluster_find_pod(&d.s.c, "fl", "server");
	d.po = cluster_find_pod(&d.s.c, "fl", "other");
	if (!d.ps || !d.pv || !d.po) {
		tap_ok(false, "flood cluster has its pods");
		scen_free(&d.s);
		return;
	}
	d.if_s = scen_ifindex(&d.s, d.ps);
	d.if_v = scen_ifindex(&d.s, d.pv);
	d.if_o = scen_ifindex(&d.s, d.po);
	d.s4 = *pod_addr(d.ps, 4);
	d.v4 = *pod_addr(d.pv, 4);
	d.o4 = *pod_addr(d.po, 4);
	d.w4 = test_addr("198.18.99.7");
	d.s6 = *pod_addr(d.ps, 6);
	d.w6 = test_addr("2001:db8:99::7");

	/* The cache and the event bucket are per CPU: stay on one. */
	CPU_ZERO(&one);
	sched_getaffinity(0, sizeof(saved), &saved);
	/* The last CPU allowed: on a machine of more than one, not the first
	 * region of the cache. */
	for (int c = CPU_SETSIZE - 1; c >= 0; c--) {
		if (CPU_ISSET(c, &saved)) {
			CPU_SET(c, &one);
			d.cpu = c;
			break;
		}
	}
	sched_setaffinity(0, sizeof(one), &one);
	fl_hit(&d);
	fl_off(&d);
	fl_window(&d);
	fl_ct(&d);
	fl_spoof(&d);
	fl_many(&d);
	fl_icmp(&d);
	fl_epcnt(&d);
	sched_setaffinity(0, sizeof(saved), &saved);
	fl_xdp_veth(&d);
	scen_free(&d.s);
}
