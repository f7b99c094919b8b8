/* SPDX-License-Identifier: Apache-2.0 */
#include "harness.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "manifest.h"

/* ---- Running packets */

const char *const hook_name[3] = {"from-pod", "to-pod", "xdp-from-pod"};

static int on_event(void *ctx, void *data, size_t len)
{
	struct harness *h = ctx;

	if (len >= sizeof(h->last))
		memcpy(&h->last, data, sizeof(h->last));
	h->n_events++;
	return 0;
}

struct outcome run_pkt(struct harness *h, enum hook hk, uint32_t ifindex, const void *pkt,
		       size_t len)
{
	struct outcome o = {-1, -1};
	int err;

	h->n_events = 0;
	if (hk == H_XDP) {
		struct xdp_md ctx = {.data_end = (__u32)len, .ingress_ifindex = ifindex};
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

		err = bpf_prog_test_run_opts(h->prog[hk], &opts);
		if (!err)
			o.pass = opts.retval == XDP_PASS ? 1 : opts.retval == XDP_DROP ? 0 : -1;
	} else {
		struct __sk_buff ctx = {.ifindex = ifindex};
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

		err = bpf_prog_test_run_opts(h->prog[hk], &opts);
		if (!err)
			o.pass = opts.retval == TC_ACT_OK ? 1 : opts.retval == TC_ACT_SHOT ? 0 : -1;
	}
	if (err)
		diag("test run of %s failed: %s", hook_name[hk], strerror(-err));
	ring_buffer__consume(h->rb);
	if (o.pass == 0 && h->n_events)
		o.reason = h->last.reason;
	return o;
}

/* Counters through the one reader (counters.h); a fixed reason found in
 * the hash as well is a datapath bug worth saying so. */
static int counter_read(struct harness *h, uint32_t policy, uint16_t rule, uint8_t dir,
			uint8_t verdict, struct npbpf_counter *sum)
{
	struct npbpf_counter_key k = counters_key(policy, rule, dir, verdict);
	int err = counters_get(&h->counters, &k, sum);

	if (err == -EUCLEAN)
		diag("counter (%#x, %u, dir %u, verdict %u) found in %s, not %s", policy, rule, dir,
		     verdict, NPBPF_MAP_COUNTERS, NPBPF_MAP_FIXCNT);
	return err;
}

uint64_t counter_get(struct harness *h, uint32_t policy, uint16_t rule, uint8_t dir,
		     uint8_t verdict)
{
	struct npbpf_counter c;

	counter_read(h, policy, rule, dir, verdict, &c);
	return c.packets;
}

uint64_t counter_bytes(struct harness *h, uint32_t policy, uint16_t rule, uint8_t dir,
		       uint8_t verdict)
{
	struct npbpf_counter c;

	counter_read(h, policy, rule, dir, verdict, &c);
	return c.bytes;
}

/* A drop's reason as the datapath names it; 0: none (the packet passed),
 * negative: no event came. */
const char *reason_name(int r)
{
	if (r == 0)
		return "pass";
	return r < 0 ? "no event" : npbpf_drop_reason_name((unsigned int)r);
}

/* An allow reason; 0: any. */
static const char *allow_name(int r)
{
	return r ? npbpf_allow_reason_name((unsigned int)r) : "any";
}

bool expect(struct harness *h, enum hook hk, uint32_t ifindex, const void *pkt, size_t len,
	    int want_pass, int why, const char *what)
{
	uint64_t before = 0, after = 0;
	struct outcome o;
	bool good;

	if (want_pass && why)
		before = counter_get(h, NPBPF_POLICY_NONE, (uint16_t)why, hook_dir(hk),
				     NPBPF_VERDICT_ALLOW);
	else if (!want_pass)
		before = counter_get(h, ~0u, (uint16_t)why, hook_dir(hk), NPBPF_VERDICT_DROP);
	o = run_pkt(h, hk, ifindex, pkt, len);
	if (want_pass && why)
		after = counter_get(h, NPBPF_POLICY_NONE, (uint16_t)why, hook_dir(hk),
				    NPBPF_VERDICT_ALLOW);
	else if (!want_pass)
		after = counter_get(h, ~0u, (uint16_t)why, hook_dir(hk), NPBPF_VERDICT_DROP);
	if (want_pass)
		good = o.pass == 1 && (!why || after == before + 1);
	else /* the reason by its counter; by the event too when one came (events
	      * may be off, or the bucket empty) */
		good = o.pass == 0 && after == before + 1 && (o.reason == why || o.reason == -1);
	return tap_ok(good, "%s at %s: want %s %s, got %s%s", what, hook_name[hk],
		      want_pass ? "pass" : "drop", want_pass ? allow_name(why) : reason_name(why),
		      o.pass == 1   ? "pass"
		      : o.pass == 0 ? "drop "
				    : "error",
		      o.pass == 0 ? (o.reason >= 0 ? reason_name(o.reason) : "(no event)") : "");
}

/* ---- Scenarios: a cluster, its compile, endpoints bound to devices */

void scen_free(struct scen *s)
{
	if (s->compiled)
		compiled_free(&s->cp);
	if (s->loaded)
		cluster_free(&s->c);
	s->loaded = s->compiled = false;
}

static int scen_compile(struct scen *s, const struct harness *h)
{
	if (compile_cluster(&s->c, NULL, &s->cp)) {
		diag("%s: compile failed", s->name);
		return -1;
	}
	s->compiled = true;
	s->nb = 0;
	/* Pods with an address get a device, in cluster order; the rest (and
	 * hostNetwork pods) are peers only, as pods of other nodes are. */
	for (size_t i = 0; i < s->c.n_pods && s->nb < N_DEV; i++) {
		const struct np_pod *p = &s->c.pods[i];

		if (p->host_network || !p->n_addrs)
			continue;
		s->b[s->nb].pod = p;
		s->b[s->nb].ifindex = h->dev[s->nb];
		s->nb++;
	}
	return 0;
}

int scen_load_buffer(struct scen *s, const struct harness *h, const char *name, const char *yaml)
{
	s->name = name;
	cluster_init(&s->c);
	s->loaded = true;
	if (manifest_load_buffer(&s->c, name, yaml, strlen(yaml))) {
		diag("%s: manifest did not load", name);
		return -1;
	}
	return scen_compile(s, h);
}

int scen_load_dir(struct scen *s, const struct harness *h, const char *name, char *dir)
{
	s->name = name;
	cluster_init(&s->c);
	s->loaded = true;
	if (manifest_load(&s->c, &dir, 1)) {
		diag("%s: manifests did not load", name);
		return -1;
	}
	return scen_compile(s, h);
}

/* Writes the maps for s: generation 0, events on, no flags. */
int scen_fill(struct scen *s, struct harness *h, uint32_t rev)
{
	int err = fill_all(h->skel, &s->cp, s->b, s->nb, rev);

	if (!err)
		err = fill_config(h->skel, rev, 0, 0, 1000000);
	if (err)
		diag("%s: filling the maps failed: %s", s->name, strerror(-err));
	return err;
}

uint32_t scen_ifindex(const struct scen *s, const struct np_pod *p)
{
	for (size_t i = 0; i < s->nb; i++) {
		if (s->b[i].pod == p)
			return s->b[i].ifindex;
	}
	return 0;
}

const struct np_addr *pod_addr(const struct np_pod *p, int family)
{
	for (size_t i = 0; p && i < p->n_addrs; i++) {
		if (p->addrs[i].family == family)
			return &p->addrs[i];
	}
	return NULL;
}

uint8_t icmp_proto(int family)
{
	return family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

/* ---- Flows and the packets of a flow */

static uint16_t next_port(struct harness *h)
{
	if (h->next_port < 1024 || h->next_port >= 65000) {
		/* Ports are unique per flow so flows never meet in conntrack;
		 * on wrap, forget every flow. */
		fill_ct_clear(h->skel);
		h->next_port = 1024;
	}
	return h->next_port++;
}

struct flow mkflow(struct harness *h, const struct np_addr *a, const struct np_addr *b,
		   uint8_t proto, uint16_t dport)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.a = *a;
	f.b = *b;
	f.proto = proto;
	f.sport = next_port(h);
	f.dport = proto == IPPROTO_ICMP ? 0 : dport;
	return f;
}

void spec_for(struct pkt_spec *s, const struct flow *f, bool reply, uint8_t tcp_flags)
{
	memset(s, 0, sizeof(*s));
	if (reply)
		pkt_addrs(s, &f->b, &f->a);
	else
		pkt_addrs(s, &f->a, &f->b);
	if (f->proto == IPPROTO_ICMP) {
		s->proto = icmp_proto(f->a.family);
		s->icmp_id = f->sport;
		if (f->a.family == 4)
			s->icmp_type = reply ? 0 : 8;
		else
			s->icmp_type = reply ? 129 : 128;
		return;
	}
	s->proto = f->proto;
	s->sport = reply ? f->dport : f->sport;
	s->dport = reply ? f->sport : f->dport;
	s->tcp_flags = tcp_flags;
}

/* The opener's first packet: SYN, a datagram, an echo request. */
size_t pkt_open(const struct flow *f, uint8_t *buf)
{
	struct pkt_spec s;

	spec_for(&s, f, false, 0x02);
	return pkt_build(&s, buf, PKT_CAP);
}

/* A later packet from the opener (TCP flags as given). */
size_t pkt_fwd(const struct flow *f, uint8_t flags, uint8_t *buf)
{
	struct pkt_spec s;

	spec_for(&s, f, false, flags);
	return pkt_build(&s, buf, PKT_CAP);
}

/* A reply: SYN-ACK (or flags), a datagram back, an echo reply. */
size_t pkt_reply(const struct flow *f, uint8_t flags, uint8_t *buf)
{
	struct pkt_spec s;

	spec_for(&s, f, true, flags);
	return pkt_build(&s, buf, PKT_CAP);
}

/* ---- The engine's side */

static struct flow_end end_of(const struct np_pod *p, const struct np_addr *a)
{
	struct flow_end e;

	memset(&e, 0, sizeof(e));
	e.pod = p;
	e.addr = *a;
	return e;
}

static uint8_t engine_proto(uint8_t proto, int family)
{
	return proto == IPPROTO_ICMP ? icmp_proto(family) : proto;
}

void engine_flow(const struct scen *s, const struct np_pod *pa, const struct flow *f,
		 const struct np_pod *pb, struct flow_verdict *v)
{
	struct flow_end from = end_of(pa, &f->a), to = end_of(pb, &f->b);

	verdict_flow(&s->cp, &from, &to, engine_proto(f->proto, f->a.family), f->dport, v);
}

bool engine_isolated(const struct scen *s, const struct np_pod *p, enum np_dir dir)
{
	const struct npbpf_subject *sub = compiled_subject(&s->cp, s->cp.idn.pod_id[p - s->c.pods]);

	return sub && (sub->isolated & (1u << dir));
}

/* ---- Setup */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f))
		err = -errno;
	return err;
}

/* A private network namespace with N_DEV veth pairs nphI (host side, the
 * endpoint) / nppI (pod side). IPv6 is off so the kernel's own ND and MLD do
 * not show up in the counters of the real-veth test. */
static int setup_netns(struct harness *h)
{
	FILE *ip;

	if (unshare(CLONE_NEWNET)) {
		diag("unshare(CLONE_NEWNET): %s", strerror(errno));
		return -1;
	}
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	ip = popen("ip -batch -", "w");
	if (!ip) {
		diag("cannot run ip: %s", strerror(errno));
		return -1;
	}
	fprintf(ip, "link set lo up\n");
	for (int i = 0; i < N_DEV; i++)
		fprintf(ip, "link add nph%d type veth peer name npp%d\n", i, i);
	fprintf(ip, "link set nph0 mtu 9000\nlink set npp0 mtu 9000\n");
	fprintf(ip, "link set nph0 up\nlink set npp0 up\n");
	if (pclose(ip)) {
		diag("ip -batch failed (is iproute2 installed?)");
		return -1;
	}
	for (int i = 0; i < N_DEV; i++) {
		char name[IF_NAMESIZE];

		snprintf(name, sizeof(name), "nph%d", i);
		h->dev[i] = if_nametoindex(name);
		if (!h->dev[i]) {
			diag("no device %s", name);
			return -1;
		}
	}
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN) {
		printf("# libbpf: ");
		return vprintf(fmt, ap);
	}
	return 0;
}

int harness_open(struct harness *h, const char **why)
{
	memset(h, 0, sizeof(*h));
	libbpf_set_print(libbpf_quiet);
	if (setup_netns(h)) {
		*why = "no private network namespace with veths";
		return 1;
	}
	h->ncpu = libbpf_num_possible_cpus();
	if (h->ncpu <= 0 || h->ncpu > MAX_CPUS) {
		*why = "unexpected CPU count";
		return 1;
	}
	h->skel = npbpf_bpf__open();
	if (!h->skel || bpf_map__set_max_entries(h->skel->maps.npbpf_deny,
						 npbpf_deny_entries(h->ncpu)) ||
	    npbpf_bpf__load(h->skel)) {
		diag("loading the BPF object: %s", strerror(errno));
		return -1;
	}
	h->prog[H_FROM] = bpf_program__fd(h->skel->progs.npbpf_from_pod);
	h->prog[H_TO] = bpf_program__fd(h->skel->progs.npbpf_to_pod);
	h->prog[H_XDP] = bpf_program__fd(h->skel->progs.npbpf_xdp_from_pod);
	if (counters_open(&h->counters, bpf_map__fd(h->skel->maps.npbpf_counters),
			  bpf_map__fd(h->skel->maps.npbpf_fixcnt))) {
		diag("reading counters: %s", strerror(ENOMEM));
		return -1;
	}
	h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.npbpf_events), on_event, h, NULL);
	if (!h->rb) {
		diag("opening the event ring buffer: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void harness_close(struct harness *h)
{
	counters_close(&h->counters);
	ring_buffer__free(h->rb);
	npbpf_bpf__destroy(h->skel);
	h->rb = NULL;
	h->skel = NULL;
}

struct np_addr test_addr(const char *text)
{
	struct np_addr a;

	memset(&a, 0, sizeof(a));
	if (addr_parse(text, false, &a))
		diag("bad test address %s", text);
	return a;
}

struct npbpf_ct_key flow_ct_key(const struct flow *f, uint8_t dir)
{
	struct npbpf_ct_key k;

	memset(&k, 0, sizeof(k));
	memcpy(k.saddr, f->a.bytes, f->a.family == 4 ? 4 : 16);
	memcpy(k.daddr, f->b.bytes, f->b.family == 4 ? 4 : 16);
	k.sport = htons(f->sport);
	k.dport = htons(f->dport);
	k.proto = f->proto == IPPROTO_ICMP ? icmp_proto(f->a.family) : f->proto;
	k.family = f->a.family == 4 ? NPBPF_FAMILY_V4 : NPBPF_FAMILY_V6;
	k.dir = dir;
	return k;
}

int send_frame(const char *ifname, const void *frame, size_t len)
{
	struct sockaddr_ll sll;
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	ssize_t n;

	if (fd < 0)
		return -errno;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	sll.sll_halen = 6;
	n = sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll));
	close(fd);
	return n == (ssize_t)len ? 0 : -errno;
}
