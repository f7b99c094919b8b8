/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The matrix: for every pod bound to a device, every peer (each pod address,
 * an address inside each ipBlock cidr and except, a world address), both
 * families, and every (protocol, port) around the numbers the policies and
 * pods name: a new flow at from-pod (the pod sends) and at to-pod (it
 * receives) must get the engine's verdict for that direction, a drop must
 * say POLICY, a pass must be charged to the rule the engine names, and the
 * reply must then pass through conntrack (or, after a drop, be no new flow).
 */
#include "harness.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Cases per scenario at most: larger clusters are sampled with a fixed
 * stride, so a run stays in seconds and is reproducible. */
#define MATRIX_MAX 30000
#define MAX_DIAG 25

struct peer {
	const struct np_pod *pod; /* NULL: an address outside the cluster */
	struct np_addr addr;
};

static void add_port(uint16_t *ports, size_t *n, size_t cap, long p)
{
	if (p <= 0 || p > 65535 || *n >= cap)
		return;
	for (size_t i = 0; i < *n; i++) {
		if (ports[i] == p)
			return;
	}
	ports[(*n)++] = (uint16_t)p;
}

/* Ports worth probing: around every number a policy or pod names. */
static size_t collect_ports(const struct scen *s, uint16_t *ports, size_t cap)
{
	static const long fixed[] = { 1, 53, 80, 443, 8080, 9999, 65535 };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		add_port(ports, &n, cap, fixed[i]);
	for (size_t p = 0; p < s->c.n_policies; p++) {
		const struct np_policy *pol = &s->c.policies[p];

		for (int d = 0; d < 2; d++) {
			for (size_t r = 0; r < pol->n_rules[d]; r++) {
				const struct np_rule *rule = &pol->rules[d][r];

				for (size_t k = 0; k < rule->n_ports; k++) {
					const struct np_port *pt = &rule->ports[k];

					add_port(ports, &n, cap, pt->port);
					add_port(ports, &n, cap, (long)pt->port - 1);
					add_port(ports, &n, cap, (long)pt->port + 1);
					add_port(ports, &n, cap, pt->end_port);
					add_port(ports, &n, cap, (long)pt->end_port + 1);
				}
			}
		}
	}
	for (size_t i = 0; i < s->c.n_pods; i++) {
		for (size_t k = 0; k < s->c.pods[i].n_ports; k++)
			add_port(ports, &n, cap, s->c.pods[i].ports[k].port);
	}
	return n;
}

static void add_peer_addr(struct peer *peers, size_t *n, size_t cap, const struct np_addr *a)
{
	if (*n < cap) {
		memset(&peers[*n], 0, sizeof(peers[*n]));
		peers[*n].addr = *a;
		peers[*n].addr.plen = a->family == 4 ? 32 : 128;
		(*n)++;
	}
}

/* The first address inside a prefix (network + 1), and the prefix itself. */
static void add_prefix_peers(struct peer *peers, size_t *n, size_t cap, const struct np_addr *p)
{
	struct np_addr a = *p;
	int last = p->family == 4 ? 3 : 15;

	a.bytes[last] |= 1;
	add_peer_addr(peers, n, cap, &a);
}

static size_t collect_peers(const struct scen *s, struct peer *peers, size_t cap)
{
	struct np_addr world4, world6;
	size_t n = 0;

	for (size_t i = 0; i < s->c.n_pods; i++) {
		const struct np_pod *p = &s->c.pods[i];

		for (size_t a = 0; a < p->n_addrs && n < cap; a++) {
			peers[n].pod = p;
			peers[n].addr = p->addrs[a];
			n++;
		}
	}
	for (size_t p = 0; p < s->c.n_policies; p++) {
		const struct np_policy *pol = &s->c.policies[p];

		for (int d = 0; d < 2; d++) {
			for (size_t r = 0; r < pol->n_rules[d]; r++) {
				const struct np_rule *rule = &pol->rules[d][r];

				for (size_t k = 0; k < rule->n_peers; k++) {
					const struct np_peer *pe = &rule->peers[k];

					if (!pe->has_ipblock)
						continue;
					add_prefix_peers(peers, &n, cap, &pe->ipblock.cidr);
					for (size_t e = 0; e < pe->ipblock.n_except; e++)
						add_prefix_peers(peers, &n, cap,
								 &pe->ipblock.except[e]);
				}
			}
		}
	}
	addr_parse("198.19.254.254", false, &world4);
	addr_parse("2001:db8:ffff::fe", false, &world6);
	add_peer_addr(peers, &n, cap, &world4);
	add_peer_addr(peers, &n, cap, &world6);
	return n;
}

struct matrix {
	size_t cases, mismatches;
};

static void mismatch(struct matrix *m, const struct scen *s, const char *what,
		     const struct flow *f, enum hook hk, int got, const char *detail)
{
	char a[64], b[64];

	if (m->mismatches++ < MAX_DIAG)
		diag("%s: %s %s -> %s proto %u port %u at %s: datapath %s, engine %s",
		     s->name, what, addr_format(&f->a, a, sizeof(a)), addr_format(&f->b, b, sizeof(b)),
		     f->proto, f->dport, hook_name[hk], got == 1 ? "pass" : got == 0 ? "drop" : "error",
		     detail);
}

/*
 * One new flow checked at one hook: the verdict must be the engine's for that
 * direction, a drop must say POLICY, and a pass must be charged to the rule
 * the engine names (or to "unisolated"). Then the other packet kind: after a
 * pass the reply must pass through conntrack; after a drop the reply is not
 * a new flow (TCP) or is judged by policy like the engine says.
 */
static void matrix_case(struct harness *h, const struct scen *s, struct matrix *m, enum hook hk,
			uint32_t ifindex, const struct flow *f, const struct dir_verdict *dv,
			const struct flow_verdict *back, const struct np_pod *subject)
{
	enum hook other = hk == H_TO ? H_FROM : H_TO;
	uint8_t dir = hook_dir(hk);
	uint32_t cpol = dv->reason == VERDICT_RULE ? dv->by.policy : NPBPF_POLICY_NONE;
	uint16_t crule = dv->reason == VERDICT_RULE ? dv->by.rule : NPBPF_ALLOW_UNISOLATED;
	static uint8_t pkt[PKT_CAP];
	uint64_t before, after;
	struct outcome o;
	size_t len;

	m->cases++;
	len = pkt_open(f, pkt);
	before = counter_get(h, cpol, crule, dir, NPBPF_VERDICT_ALLOW);
	o = run_pkt(h, hk, ifindex, pkt, len);
	after = counter_get(h, cpol, crule, dir, NPBPF_VERDICT_ALLOW);
	if (o.pass != (dv->allowed ? 1 : 0)) {
		mismatch(m, s, "new flow", f, hk, o.pass, dv->allowed ? "allows" : "denies");
		return;
	}
	if (!dv->allowed && o.reason != NPBPF_DROP_POLICY) {
		mismatch(m, s, "drop reason", f, hk, o.pass, reason_name(o.reason));
		return;
	}
	if (dv->allowed && after != before + 1) {
		char want[64];

		snprintf(want, sizeof(want), "charges policy %u rule %u", cpol, crule);
		mismatch(m, s, "counter", f, hk, o.pass, want);
		return;
	}
	/* The reply at the other hook of the same veth. */
	len = pkt_reply(f, 0x12, pkt);
	o = run_pkt(h, other, ifindex, pkt, len);
	if (dv->allowed) {
		if (o.pass != 1)
			mismatch(m, s, "reply of an allowed flow", f, other, o.pass,
				 "tracked: must pass");
		return;
	}
	/* No entry: a SYN-ACK is no new flow; a datagram or echo reply is
	 * judged by the other direction's policy like a new flow. */
	if (f->proto == IPPROTO_TCP) {
		bool iso = engine_isolated(s, subject, hk == H_TO ? NP_EGRESS : NP_INGRESS);

		if (o.pass != (iso ? 0 : 1) || (iso && o.reason != NPBPF_DROP_NO_CT))
			mismatch(m, s, "SYN-ACK without a flow", f, other, o.pass,
				 iso ? "isolated: NO_CT" : "unisolated: pass");
	} else {
		const struct dir_verdict *rv = &back->dir[hk == H_TO ? NP_EGRESS : NP_INGRESS];

		if (o.pass != (rv->allowed ? 1 : 0))
			mismatch(m, s, "reply without a flow", f, other, o.pass,
				 rv->allowed ? "allows" : "denies");
	}
}

void matrix_run(struct harness *h, struct scen *s)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	static struct peer peers[4096];
	uint16_t ports[512];
	size_t n_ports = collect_ports(s, ports, 512);
	size_t n_peers = collect_peers(s, peers, 4096);
	size_t total = 0, stride, idx = 0;
	struct matrix m = { 0, 0 };

	if (scen_fill(s, h, 1)) {
		tap_ok(false, "%s: maps filled", s->name);
		return;
	}
	/* Count first, to sample big clusters evenly. */
	for (size_t i = 0; i < s->nb; i++)
		total += n_peers * 2 * (n_ports * 3 + 1);
	stride = total > MATRIX_MAX ? (total + MATRIX_MAX - 1) / MATRIX_MAX : 1;

	for (size_t i = 0; i < s->nb; i++) {
		const struct np_pod *sp = s->b[i].pod;

		for (size_t j = 0; j < n_peers; j++) {
			const struct peer *pe = &peers[j];
			const struct np_addr *sa = pod_addr(sp, pe->addr.family);

			for (size_t k = 0; k < n_ports * 3 + 1; k++) {
				uint8_t proto = k == n_ports * 3 ? IPPROTO_ICMP : protos[k % 3];
				uint16_t port = k == n_ports * 3 ? 0 : ports[k / 3];
				struct flow_verdict out, in, back;
				struct flow f;

				idx += 2;
				if (!sa || pe->pod == sp || (idx / 2) % stride)
					continue;
				/* The subject sends: its egress at from-pod. */
				f = mkflow(h, sa, &pe->addr, proto, port);
				engine_flow(s, sp, &f, pe->pod, &out);
				engine_flow(s, pe->pod, &(struct flow){ f.b, f.a, proto, f.dport,
									f.sport },
					    sp, &back);
				matrix_case(h, s, &m, H_FROM, s->b[i].ifindex, &f,
					    &out.dir[NP_EGRESS], &back, sp);
				/* The peer sends: the subject's ingress at to-pod. */
				f = mkflow(h, &pe->addr, sa, proto, port);
				engine_flow(s, pe->pod, &f, sp, &in);
				engine_flow(s, sp, &(struct flow){ f.b, f.a, proto, f.dport, f.sport },
					    pe->pod, &back);
				matrix_case(h, s, &m, H_TO, s->b[i].ifindex, &f,
					    &in.dir[NP_INGRESS], &back, sp);
			}
		}
	}
	tap_ok(m.cases > 0 && m.mismatches == 0,
	       "%s: %zu new flows (%zu pods bound, %zu peers, %zu ports%s) agree with the engine"
	       " (%zu mismatches)",
	       s->name, m.cases, s->nb, n_peers, n_ports, stride > 1 ? ", sampled" : "",
	       m.mismatches);
}
