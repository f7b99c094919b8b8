/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_drop_nf.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_drop_net.h"
#include "log.h"

/* One allow of the sender's egress: (policy, rule) of the compile, the
 * peer identity and the port. */
struct nf_allow {
	uint32_t policy;
	uint16_t rule;
	uint8_t proto;
	uint16_t dport;
	uint32_t peer;
};

/* An ipcache entry's identity and IPv4 address (host order). */
struct nf_addr {
	uint32_t identity, addr;
};

static int cmp_allow(const void *a, const void *b)
{
	const struct nf_allow *x = a, *y = b;

	if (x->policy != y->policy)
		return x->policy < y->policy ? -1 : 1;
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->dport != y->dport)
		return x->dport < y->dport ? -1 : 1;
	return (x->peer > y->peer) - (x->peer < y->peer);
}

static int cmp_addr(const void *a, const void *b)
{
	const struct nf_addr *x = a, *y = b;

	if (x->identity != y->identity)
		return x->identity < y->identity ? -1 : 1;
	return (x->addr > y->addr) - (x->addr < y->addr);
}

/* What the rule sets are made of: the sender's egress allows, sorted by
 * policy, rule, port; the IPv4 ipcache, sorted by identity. */
struct nf_input {
	struct nf_allow *allow;
	size_t n_allow;
	struct nf_addr *addr;
	size_t n_addr;
};

static void input_free(struct nf_input *in)
{
	free(in->allow);
	free(in->addr);
}

static int input_build(const struct bd_policy *p, struct nf_input *in)
{
	const struct compiled *cp = &p->cp;

	memset(in, 0, sizeof(*in));
	in->allow = calloc(cp->n_entries + 1, sizeof(*in->allow));
	in->addr = calloc(cp->idn.n_ipc_host + 1, sizeof(*in->addr));
	if (!in->allow || !in->addr)
		return -ENOMEM;
	for (size_t i = 0; i < cp->n_entries; i++) {
		const struct compiled_entry *e = &cp->entries[i];

		if (e->key.subject != p->subject || e->key.dir != NPBPF_DIR_EGRESS)
			continue;
		/* The bench's policies name pods and UDP ports, nothing else;
		 * a wildcard here means the generator changed, not the user. */
		if (!NPBPF_ID_IS_POD(e->key.peer) || e->key.proto != IPPROTO_UDP ||
		    !e->key.dport) {
			log_error("an entry netfilter rules are not generated for "
				  "(peer %u, protocol %u, port %u)",
				  e->key.peer, e->key.proto, e->key.dport);
			return -EPROTO;
		}
		in->allow[in->n_allow++] = (struct nf_allow){ e->value.policy, e->value.rule,
							      e->key.proto, e->key.dport,
							      e->key.peer };
	}
	if (cp->n_ranges) {
		log_error("port ranges in the policy set: not generated");
		return -EPROTO;
	}
	for (size_t i = 0; i < cp->idn.n_ipc_host; i++) {
		const struct ipc_host_entry *h = &cp->idn.ipc_host[i];

		if (h->key.family != NPBPF_FAMILY_V4)
			continue;
		in->addr[in->n_addr++] = (struct nf_addr){
			h->value.identity, (uint32_t)h->key.addr[0] << 24 |
						   (uint32_t)h->key.addr[1] << 16 |
						   (uint32_t)h->key.addr[2] << 8 | h->key.addr[3]
		};
	}
	qsort(in->allow, in->n_allow, sizeof(*in->allow), cmp_allow);
	qsort(in->addr, in->n_addr, sizeof(*in->addr), cmp_addr);
	return 0;
}

/* The addresses of identity id: [*first, *first + return). */
static size_t addrs_of(const struct nf_input *in, uint32_t id, size_t *first)
{
	size_t lo = 0, hi = in->n_addr, n = 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (in->addr[mid].identity < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	while (lo + n < in->n_addr && in->addr[lo + n].identity == id)
		n++;
	return n;
}

static void put_ip(FILE *f, uint32_t a)
{
	fprintf(f, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

/* Same (policy, rule) as a. */
static bool same_rule(const struct nf_allow *a, const struct nf_allow *b)
{
	return a->policy == b->policy && a->rule == b->rule;
}

/* ---- iptables + ipset, kube-router's layout */

#define IPT_MARK "0x10000/0x10000"

static void ipt_names(uint32_t n, char *router, char *pod, size_t len)
{
	snprintf(router, len, "KUBE-ROUTER-FWD-%u", n);
	snprintf(pod, len, "KUBE-POD-FW-%u", n);
}

/* ipset restore input: one hash:ip set of peer addresses per rule. */
static void ipset_script(FILE *f, uint32_t n, const struct nf_input *in)
{
	for (size_t i = 0; i < in->n_allow; i++) {
		const struct nf_allow *a = &in->allow[i];

		if (i && same_rule(a, &in->allow[i - 1]))
			continue;
		fprintf(f, "create KUBE-DST-%u-%u-%u hash:ip family inet -exist\n", n, a->policy,
			a->rule);
		for (size_t j = i; j < in->n_allow && same_rule(&in->allow[j], a); j++) {
			size_t first, k = addrs_of(in, in->allow[j].peer, &first);

			/* A peer of several ports is added once per port:
			 * -exist makes the repeats no-ops. */
			for (size_t m = 0; m < k; m++) {
				fprintf(f, "add KUBE-DST-%u-%u-%u ", n, a->policy, a->rule);
				put_ip(f, in->addr[first + m].addr);
				fputs(" -exist\n", f);
			}
		}
	}
}

static void ipt_script(FILE *f, uint32_t n, const struct nf_input *in)
{
	char router[32], pod[32];

	ipt_names(n, router, pod, sizeof(router));
	fprintf(f, "*filter\n:%s - [0:0]\n:%s - [0:0]\n", router, pod);
	for (size_t i = 0; i < in->n_allow; i++)
		if (!i || in->allow[i].policy != in->allow[i - 1].policy)
			fprintf(f, ":KUBE-NWPLCY-%u-%u - [0:0]\n", n, in->allow[i].policy);
	fprintf(f, "-A %s -s 198.18.0.10/32 -m comment --comment \"pod bench/sender egress\" "
		   "-j %s\n", router, pod);
	fprintf(f, "-A %s -d 198.18.0.10/32 -m comment --comment \"pod bench/sender ingress\" "
		   "-j %s\n", router, pod);
	fprintf(f, "-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n", pod);
	fprintf(f, "-A %s -m conntrack --ctstate INVALID -j DROP\n", pod);
	fprintf(f, "-A %s -d 198.18.0.10/32 -m addrtype --src-type LOCAL -j ACCEPT\n", pod);
	for (size_t i = 0; i < in->n_allow; i++)
		if (!i || in->allow[i].policy != in->allow[i - 1].policy)
			fprintf(f, "-A %s -s 198.18.0.10/32 -j KUBE-NWPLCY-%u-%u\n", pod, n,
				in->allow[i].policy);
	fprintf(f, "-A %s -m mark ! --mark " IPT_MARK " -m comment --comment npbd-deny -j DROP\n",
		pod);
	fprintf(f, "-A %s -j MARK --set-xmark 0x0/0x10000\n", pod);
	for (size_t i = 0; i < in->n_allow; i++) {
		const struct nf_allow *a = &in->allow[i];

		/* One pair per port of the rule; the peers are the rule's set. */
		if (i && same_rule(a, &in->allow[i - 1]) && a->proto == in->allow[i - 1].proto &&
		    a->dport == in->allow[i - 1].dport)
			continue;
		fprintf(f,
			"-A KUBE-NWPLCY-%u-%u -p udp -m set --match-set KUBE-DST-%u-%u-%u dst "
			"-m udp --dport %u -j MARK --set-xmark " IPT_MARK "\n",
			n, a->policy, n, a->policy, a->rule, a->dport);
		fprintf(f,
			"-A KUBE-NWPLCY-%u-%u -p udp -m set --match-set KUBE-DST-%u-%u-%u dst "
			"-m udp --dport %u -m mark --mark " IPT_MARK " -j RETURN\n",
			n, a->policy, n, a->policy, a->rule, a->dport);
	}
	fputs("COMMIT\n", f);
}

/* ---- nftables, kube-network-policies' layout */

static void nft_script(FILE *f, uint32_t n, const struct nf_input *in)
{
	bool first = true;

	fprintf(f, "table inet npbd_p%u {\n", n);
	fprintf(f, "  counter denied { }\n");
	fprintf(f, "  set podips-v4 { type ipv4_addr; elements = { 198.18.0.10 } }\n");
	fprintf(f, "  set egress-allow-v4 {\n"
		   "    type ipv4_addr . inet_proto . inet_service . ipv4_addr\n");
	for (size_t i = 0; i < in->n_allow; i++) {
		const struct nf_allow *a = &in->allow[i];
		size_t start, k = addrs_of(in, a->peer, &start);

		for (size_t m = 0; m < k; m++) {
			fputs(first ? "    elements = { " : ",\n      ", f);
			first = false;
			fprintf(f, "198.18.0.10 . udp . %u . ", a->dport);
			put_ip(f, in->addr[start + m].addr);
		}
	}
	fputs(first ? "  }\n" : " }\n  }\n", f);
	fprintf(f, "  chain pod_policy {\n"
		   "    ct state established,related accept\n"
		   "    ip saddr @podips-v4 jump pod_egress\n"
		   "  }\n"
		   "  chain pod_egress {\n"
		   "    ip saddr . meta l4proto . th dport . ip daddr @egress-allow-v4 accept\n"
		   "    counter name denied drop\n"
		   "  }\n"
		   "}\n");
}

/* ---- Loading and switching */

typedef void (*nf_writer)(FILE *f, uint32_t n, const struct nf_input *in);

static int run_script(const char *netns, const char *const *argv, nf_writer w, uint32_t n,
		      const struct nf_input *in, const char *what)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int err;

	if (!f)
		return -ENOMEM;
	w(f, n, in);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	err = bd_exec(netns, argv, buf, NULL);
	if (err)
		log_error("loading the %s rule set of %u policies failed", what, n);
	free(buf);
	return err;
}

int bd_nf_load(const char *ipt_ns, const char *nft_ns, const struct bd_policy *p)
{
	static const char *const ipset[] = { "ipset", "restore", NULL };
	static const char *const ipt[] = { "iptables-restore", "-w", "--noflush", NULL };
	static const char *const nft[] = { "nft", "-f", "-", NULL };
	struct nf_input in;
	int err;

	err = input_build(p, &in);
	if (!err)
		err = run_script(ipt_ns, ipset, ipset_script, p->n, &in, "ipset");
	if (!err)
		err = run_script(ipt_ns, ipt, ipt_script, p->n, &in, "iptables");
	if (!err)
		err = run_script(nft_ns, nft, nft_script, p->n, &in, "nftables");
	input_free(&in);
	return err;
}

int bd_nf_switch(const char *netns, enum bd_nf_kind kind, uint32_t n, int on)
{
	char router[32], pod[32], script[256];
	int err;

	if (kind == BD_NF_IPT) {
		const char *argv[] = { "iptables", "-w", on ? "-I" : "-D", "FORWARD", "-j", router,
				       NULL };

		ipt_names(n, router, pod, sizeof(router));
		err = bd_exec(netns, argv, NULL, NULL);
	} else {
		const char *argv[] = { "nft", "-f", "-", NULL };

		if (on)
			snprintf(script, sizeof(script),
				 "add chain inet npbd_p%u forward { type filter hook forward "
				 "priority 0; policy accept; }\n"
				 "add rule inet npbd_p%u forward jump pod_policy\n",
				 n, n);
		else
			snprintf(script, sizeof(script),
				 "flush chain inet npbd_p%u forward\n"
				 "delete chain inet npbd_p%u forward\n",
				 n, n);
		err = bd_exec(netns, argv, script, NULL);
	}
	if (err)
		log_error("switching %s of %u policies %s failed",
			  kind == BD_NF_IPT ? "iptables" : "nftables", n, on ? "on" : "off");
	return err;
}

/* The first number on the line of text that holds needle (-EPROTO when
 * none). For iptables -nvxL the packets column comes first, for nft's
 * counter the number after "packets". */
static int number_near(const char *text, const char *needle, const char *after,
		       uint64_t *v)
{
	const char *hit = strstr(text, needle), *line;

	if (!hit)
		return -EPROTO;
	line = hit;
	while (line > text && line[-1] != '\n')
		line--;
	if (after) {
		line = strstr(line, after);
		if (!line)
			return -EPROTO;
		line += strlen(after);
	}
	return sscanf(line, " %" SCNu64, v) == 1 ? 0 : -EPROTO;
}

int bd_nf_denied(const char *netns, enum bd_nf_kind kind, uint32_t n, uint64_t *packets)
{
	char router[32], pod[32], table[32];
	char *out = NULL;
	int err;

	ipt_names(n, router, pod, sizeof(router));
	snprintf(table, sizeof(table), "npbd_p%u", n);
	if (kind == BD_NF_IPT) {
		const char *argv[] = { "iptables", "-w", "-t", "filter", "-nvxL", pod, NULL };

		err = bd_exec(netns, argv, NULL, &out);
		if (!err)
			err = number_near(out, "npbd-deny", NULL, packets);
	} else {
		const char *argv[] = { "nft", "list", "counter", "inet", table, "denied", NULL };

		err = bd_exec(netns, argv, NULL, &out);
		if (!err)
			err = number_near(out, "packets", "packets", packets);
	}
	if (err)
		log_error("reading the %s drop counter failed",
			  kind == BD_NF_IPT ? "iptables" : "nftables");
	free(out);
	return err;
}

void bd_nf_iptables_version(char *buf, size_t len)
{
	const char *argv[] = { "iptables", "--version", NULL };
	char *out = NULL;

	buf[0] = '\0';
	if (!bd_exec(NULL, argv, NULL, &out)) {
		out[strcspn(out, "\n")] = '\0';
		snprintf(buf, len, "%s", out);
	}
	free(out);
}
