/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf status: what the pinned maps hold, in human terms. Reads only, takes
 * no lock, so it works while a lab runs and after it exited.
 * Every record goes through one emitter per view, one output call per field
 * (json_out.h): the JSON member with -o json, its place in the record's line
 * of text otherwise.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "commands.h"
#include "counters.h"
#include "json_out.h"
#include "loader.h"
#include "log.h"
#include "mapsync.h"
#include "options.h"
#include "pinned.h"
#include "status_agent.h"
#include "vec.h"

struct status_args {
	enum status_view view;
	const char *view_name;
	const char *pin_dir;
	const char *state_file; /* the agent's */
	bool json;
};

/* What every view reads: the pinned maps and the names in them. */
struct status_ctx {
	struct status_args a;
	struct pinned_set ps;
	struct ms_state st;
	struct hmap label_idx; /* identity -> index in labels */
	char **labels;
	size_t n_labels, cap_labels;
	struct out o;
};

enum { OPT_PIN_DIR = CLI_OPT_LONG, OPT_STATE_FILE };

const struct cli_opt status_opts[] = {
	{ "pin-dir", OPT_PIN_DIR, "DIR",
	  "where the maps are pinned (default " PINNED_DEFAULT_DIR ")" },
	{ "state-file", OPT_STATE_FILE, "FILE",
	  "the agent's state file (default " AGENT_DEFAULT_STATE_FILE ")" },
	{ "output", 'o', "text|json", "output format (default text)" },
	{ 0 },
};

static int parse_args(int argc, char **argv, struct status_args *a)
{
	struct cli_parser p;
	int c, err = 0;

	a->pin_dir = PINNED_DEFAULT_DIR;
	a->state_file = AGENT_DEFAULT_STATE_FILE;
	cli_parser_init(&p, status_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1) {
		switch (c) {
		case OPT_PIN_DIR:
			a->pin_dir = optarg;
			break;
		case OPT_STATE_FILE:
			a->state_file = optarg;
			break;
		case 'o':
			err = opt_output(optarg, &a->json);
			break;
		default:
			err = -EINVAL;
		}
	}
	return err ? err : cli_no_operands(&p, argc, argv);
}

/* ---- Names. */

static int load_labels(struct status_ctx *x)
{
	const struct ms_table *t = &x->st.idmeta;

	for (size_t i = 0; i < t->n; i++) {
		const struct npbpf_idmeta_key *k = ms_table_key(t, i);
		char *label = NULL, **slot;

		if (!ms_table_live(t, i) || k->chunk)
			continue;
		if (ms_idmeta_decode(t, k->identity, NULL, NULL, &label))
			continue; /* torn record: shown by number */
		slot = VEC_PUSH(x->labels, x->n_labels, x->cap_labels);
		if (!slot || hmap_insert(&x->label_idx, &k->identity, sizeof(k->identity),
					 (uint32_t)(x->n_labels - 1), NULL) < 0) {
			free(label);
			return -ENOMEM;
		}
		*slot = label;
	}
	return 0;
}

/* The label of identity id, into buf. */
static const char *id_label(const struct status_ctx *x, uint32_t id, char *buf, size_t len)
{
	uint32_t idx;

	switch (id) {
	case NPBPF_ID_ANY:
		return "any";
	case NPBPF_ID_HOST:
		return "reserved:host";
	case NPBPF_ID_WORLD:
		return "reserved:world";
	case MAPSYNC_ID_ISOLATED:
		return "isolated: a sync could not write its policy";
	}
	if (hmap_get(&x->label_idx, &id, sizeof(id), &idx))
		return x->labels[idx];
	if (MAPSYNC_ID_IS_STAGE(id))
		snprintf(buf, len, "staging:%u", id);
	else
		snprintf(buf, len, "identity:%u", id);
	return buf;
}

static const char *policy_label(const struct status_ctx *x, uint32_t policy, char *buf,
				size_t len)
{
	const struct npbpf_name *n;

	if (policy == NPBPF_POLICY_HOST)
		return "node traffic, allowed by default";
	n = ms_table_get(&x->st.polname, &policy);
	if (n)
		snprintf(buf, len, "%.*s", (int)sizeof(n->name), n->name);
	else
		snprintf(buf, len, "policy #%u (removed)", policy);
	return buf;
}

static const char *dir_name(uint8_t dir)
{
	return dir == NPBPF_DIR_EGRESS ? "egress" : "ingress";
}

static const char *l4_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_ICMP:
		return "ICMP";
	case IPPROTO_ICMPV6:
		return "ICMPv6";
	default:
		return proto_name(proto);
	}
}

static const char *fmt_addr(uint8_t family, const uint8_t *bytes, int plen, char *buf,
			    size_t len)
{
	struct np_addr a = { .family = family == NPBPF_FAMILY_V6 ? 6 : 4 };

	a.plen = (uint8_t)(plen < 0 ? (a.family == 4 ? 32 : 128) : plen);
	memcpy(a.bytes, bytes, a.family == 4 ? 4 : 16);
	return addr_format(&a, buf, len);
}

static uint32_t live_gen(const struct status_ctx *x)
{
	return x->st.config.generation & 1;
}

/* ---- policy. */

struct policy_row {
	uint32_t subject, peer;
	uint8_t dir, proto;
	uint16_t lo, hi; /* 0/0 with proto: every port */
	bool range;
	struct npbpf_policy_value v;
};

static int row_cmp(const void *pa, const void *pb)
{
	const struct policy_row *a = pa, *b = pb;

	if (a->subject != b->subject)
		return a->subject < b->subject ? -1 : 1;
	if (a->dir != b->dir)
		return a->dir - b->dir;
	if (a->peer != b->peer)
		return a->peer < b->peer ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto - b->proto;
	if (a->v.policy != b->v.policy)
		return a->v.policy < b->v.policy ? -1 : 1;
	if (a->v.rule != b->v.rule)
		return a->v.rule - b->v.rule;
	return (int)a->lo - (int)b->lo;
}

static bool same_rule(const struct policy_row *a, const struct policy_row *b)
{
	return a->subject == b->subject && a->peer == b->peer && a->dir == b->dir &&
	       a->proto == b->proto && a->v.policy == b->v.policy && a->v.rule == b->v.rule;
}

/* "production/app=backend <- ns=monitoring,app=prometheus 9090/TCP allow
 * (production/allow-prometheus-scrape rule 0)"; JSON: numbers and labels. */
static void emit_policy_row(struct status_ctx *x, const struct policy_row *r)
{
	char sb[64], pb[64], polb[NPBPF_NAME_LEN + 32], port[32];
	const char *subject = id_label(x, r->subject, sb, sizeof(sb));
	const char *peer = id_label(x, r->peer, pb, sizeof(pb));
	const char *pol = policy_label(x, r->v.policy, polb, sizeof(polb));
	struct out *o = &x->o;

	if (!r->proto)
		snprintf(port, sizeof(port), "any");
	else if (!r->lo && !r->hi)
		snprintf(port, sizeof(port), "any/%s", proto_name(r->proto));
	else if (r->lo == r->hi)
		snprintf(port, sizeof(port), "%u/%s", r->lo, proto_name(r->proto));
	else
		snprintf(port, sizeof(port), "%u-%u/%s", r->lo, r->hi, proto_name(r->proto));
	out_json_obj_begin(o, NULL);
	out_json_uint(o, "subject", r->subject);
	out_print_str(o, "subject_label", "%s ", subject);
	out_json_str(o, "direction", dir_name(r->dir));
	out_text(o, "%s ", r->dir == NPBPF_DIR_EGRESS ? "->" : "<-");
	out_json_uint(o, "peer", r->peer);
	out_print_str(o, "peer_label", "%s ", peer);
	out_json_str(o, "protocol", proto_name(r->proto));
	out_json_uint(o, "port", r->lo);
	out_json_uint(o, "end_port", r->hi);
	out_text(o, "%s allow (", port);
	out_print_str(o, "policy", "%s", pol);
	if (r->v.policy == NPBPF_POLICY_HOST)
		out_json_uint(o, "rule", r->v.rule);
	else
		out_print_uint(o, "rule", " rule %llu", r->v.rule);
	out_text(o, ")\n");
	out_json_obj_end(o);
}

static void emit_subject(struct status_ctx *x, uint32_t id, const struct npbpf_subject *s)
{
	char buf[64];
	const char *label = id_label(x, id, buf, sizeof(buf));
	bool in = s->isolated & (1u << NPBPF_DIR_INGRESS),
	     eg = s->isolated & (1u << NPBPF_DIR_EGRESS);
	struct out *o = &x->o;

	out_json_obj_begin(o, NULL);
	out_json_uint(o, "identity", id);
	out_print_str(o, "label", "%s isolated:", label);
	out_json_bool(o, "ingress_isolated", in);
	out_json_bool(o, "egress_isolated", eg);
	out_text(o, "%s%s%s\n", in ? " ingress" : "", eg ? " egress" : "",
		 !in && !eg ? " none" : "");
	out_json_obj_end(o);
}

static int view_policy(struct status_ctx *x)
{
	const struct ms_table *pt = &x->st.gen[MS_G_POLICY][live_gen(x)];
	const struct ms_table *rt = &x->st.gen[MS_G_RANGE][live_gen(x)];
	const struct ms_table *st = &x->st.gen[MS_G_SUBJECT][live_gen(x)];
	struct policy_row *rows = NULL;
	size_t n = 0, cap = 0, m = 0;

	for (size_t i = 0; i < pt->n; i++) {
		const struct npbpf_policy_key *k = ms_table_key(pt, i);
		struct policy_row *r = VEC_PUSH(rows, n, cap);

		if (!r)
			return -ENOMEM;
		*r = (struct policy_row){
			k->subject, k->peer,
			k->dir,	    k->proto,
			k->dport,   k->dport,
			false,	    *(const struct npbpf_policy_value *)ms_table_value(pt, i)};
	}
	for (size_t i = 0; i < rt->n; i++) {
		const struct npbpf_range_key *k = ms_table_key(rt, i);
		uint32_t bits = k->prefixlen - NPBPF_RANGE_FIXED_BITS;
		uint32_t lo = ntohs(k->dport), size = 1u << (16 - (bits > 16 ? 16 : bits));
		struct policy_row *r = VEC_PUSH(rows, n, cap);

		if (!r)
			return -ENOMEM;
		*r = (struct policy_row){
			k->subject,   k->peer,
			k->dir,	      k->proto,
			(uint16_t)lo, (uint16_t)(lo + size - 1),
			true,	      *(const struct npbpf_policy_value *)ms_table_value(rt, i)};
	}
	if (n) /* qsort's array must not be NULL, even when empty */
		qsort(rows, n, sizeof(*rows), row_cmp);
	/* Adjacent range blocks of one rule print as the range they came from. */
	for (size_t i = 0; i < n; i++) {
		if (m && rows[i].range && rows[m - 1].range && same_rule(&rows[m - 1], &rows[i]) &&
		    rows[m - 1].hi + 1u == rows[i].lo) {
			rows[m - 1].hi = rows[i].hi;
			continue;
		}
		rows[m++] = rows[i];
	}
	out_json_obj_begin(&x->o, NULL);
	out_print_uint(&x->o, "generation", "# generation %llu, ", live_gen(x));
	out_print_uint(&x->o, "revision", "revision %llu: isolation\n", x->st.config.revision);
	out_json_arr_begin(&x->o, "subjects");
	for (size_t i = 0; i < st->n; i++)
		emit_subject(x, *(const uint32_t *)ms_table_key(st, i), ms_table_value(st, i));
	out_json_arr_end(&x->o);
	out_text(&x->o, "# allowed (%zu entries)\n", m);
	out_json_arr_begin(&x->o, "entries");
	for (size_t i = 0; i < m; i++)
		emit_policy_row(x, &rows[i]);
	out_json_arr_end(&x->o);
	out_json_obj_end(&x->o);
	free(rows);
	return 0;
}

/* ---- identities, ipcache, endpoints. */

static int view_identities(struct status_ctx *x)
{
	const struct ms_table *t = &x->st.idmeta;
	const struct ms_table *subj = &x->st.gen[MS_G_SUBJECT][live_gen(x)];
	struct out *o = &x->o;

	out_json_arr_begin(o, NULL);
	for (size_t i = 0; i < t->n; i++) {
		const struct npbpf_idmeta_key *k = ms_table_key(t, i);
		const struct npbpf_idmeta *v = ms_table_value(t, i);
		struct npbpf_idmeta_key marker = { k->identity, NPBPF_IDMETA_CHUNK_RETIRED };
		const struct npbpf_subject *s;
		const char *kind;
		char buf[64], iso[32];
		const char *label;
		bool retired;

		if (k->chunk)
			continue;
		kind = MAPSYNC_ID_IS_STAGE(k->identity) ? "stage"
		       : v->kind == NPBPF_IDMETA_CIDR   ? "cidr"
							: "pod";
		label = id_label(x, k->identity, buf, sizeof(buf));
		s = ms_table_get(subj, &k->identity);
		retired = !!ms_table_get(t, &marker);
		snprintf(iso, sizeof(iso), "%s%s%s", s && (s->isolated & 1) ? "ingress" : "",
			 s && s->isolated == 3 ? "," : "", s && (s->isolated & 2) ? "egress" : "");
		out_json_obj_begin(o, NULL);
		out_print_uint(o, "identity", "%-10llu ", k->identity);
		out_print_str(o, "kind", "%-5s ", kind);
		out_print_str(o, "label", "%s", label);
		out_print_str(o, "isolated", iso[0] ? " (isolated: %s)" : "%s", iso);
		out_json_bool(o, "retired", retired);
		out_text(o, "%s\n", retired ? " (retired: in quarantine)" : "");
		out_json_obj_end(o);
	}
	out_json_arr_end(o);
	return 0;
}

static void emit_ipc(struct status_ctx *x, const char *prefix, uint32_t id)
{
	char buf[64];
	const char *label = id_label(x, id, buf, sizeof(buf));

	out_json_obj_begin(&x->o, NULL);
	out_print_str(&x->o, "prefix", "%-43s ", prefix);
	out_print_uint(&x->o, "identity", "%-10llu ", id);
	out_print_str(&x->o, "label", "%s\n", label);
	out_json_obj_end(&x->o);
}

static int view_ipcache(struct status_ctx *x)
{
	const struct ms_table *h = &x->st.ipc_host, *c = &x->st.ipc_cidr;
	char buf[64];

	out_json_arr_begin(&x->o, NULL);
	for (size_t i = 0; i < h->n; i++) {
		const struct npbpf_addr *k = ms_table_key(h, i);
		const struct npbpf_ipc_value *v = ms_table_value(h, i);

		emit_ipc(x, fmt_addr(k->family, k->addr, -1, buf, sizeof(buf)), v->identity);
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct npbpf_ipc_key *k = ms_table_key(c, i);
		const struct npbpf_ipc_value *v = ms_table_value(c, i);

		emit_ipc(x,
			 fmt_addr(k->a.family, k->a.addr, (int)k->prefixlen - 32, buf, sizeof(buf)),
			 v->identity);
	}
	out_json_arr_end(&x->o);
	return 0;
}

/* ---- Per-endpoint counters (counters.h): who sends and receives what. */

static int read_ep_counters(struct status_ctx *x, struct ep_counter_row **rows, size_t *n)
{
	*rows = NULL;
	*n = 0;
	if (x->ps.fds[PIN_EPCNT] < 0 && x->ps.fds[PIN_EPCNT_OV] < 0)
		return 0; /* maps of an older npbpf: no per-endpoint counters */
	return counters_collect_endpoints(x->ps.fds[PIN_EPCNT], x->ps.fds[PIN_EPCNT_OV], rows, n);
}

static const struct npbpf_ep_counters *ep_row_find(const struct ep_counter_row *rows, size_t n,
						    uint32_t ifindex)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rows[mid].ifindex == ifindex)
			return &rows[mid].sum;
		if (rows[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* JSON: "traffic": {"egress": {"allowed": {"packets", "bytes"}, "dropped":
 * {...}}, "ingress": {...}}; text: "sent A ok D dropped, received A ok D
 * dropped" in packets. */
static void emit_ep_traffic(struct out *o, const struct npbpf_ep_counters *c)
{
	static const struct npbpf_ep_counters zero;
	static const char *const dirs[2] = { [NPBPF_DIR_INGRESS] = "ingress",
					     [NPBPF_DIR_EGRESS] = "egress" };

	if (!c)
		c = &zero;
	out_json_obj_begin(o, "traffic");
	for (int d = 0; d < 2; d++) {
		out_json_obj_begin(o, dirs[d]);
		for (int v = 0; v < 2; v++) {
			out_json_obj_begin(o, v == NPBPF_VERDICT_ALLOW ? "allowed" : "dropped");
			out_json_uint(o, "packets", c->c[d][v].packets);
			out_json_uint(o, "bytes", c->c[d][v].bytes);
			out_json_obj_end(o);
		}
		out_json_obj_end(o);
	}
	out_json_obj_end(o);
	out_text(o, "sent %llu ok %llu dropped, received %llu ok %llu dropped",
		 (unsigned long long)ep_packets(c, NPBPF_DIR_EGRESS, NPBPF_VERDICT_ALLOW),
		 (unsigned long long)ep_packets(c, NPBPF_DIR_EGRESS, NPBPF_VERDICT_DROP),
		 (unsigned long long)ep_packets(c, NPBPF_DIR_INGRESS, NPBPF_VERDICT_ALLOW),
		 (unsigned long long)ep_packets(c, NPBPF_DIR_INGRESS, NPBPF_VERDICT_DROP));
}

/* One endpoint: bound (a record of the map sync) or pending (npbpf-cni's
 * record, the agent has not bound it: isolated, the node alone reaches it). */
static void emit_endpoint(struct status_ctx *x, uint32_t ifindex, const struct npbpf_endpoint *ep,
			  bool pending, const struct ep_counter_row *rows, size_t n_rows)
{
	const struct npbpf_name *pod = pending ? NULL : ms_table_get(&x->st.epmeta, &ifindex);
	char ifname[IF_NAMESIZE] = "?", a4[64] = "", a6[64] = "", lb[64];
	uint32_t in_id = 0, eg_id = 0, xdp_id = 0;
	uint8_t xdp_mode = 0;
	const char *label = pending ? "pending" : id_label(x, ep->identity, lb, sizeof(lb));
	struct out *o = &x->o;

	if (!if_indextoname(ifindex, ifname))
		snprintf(ifname, sizeof(ifname), "(gone)");
	loader_query_tc(ifindex, &in_id, &eg_id);
	loader_query_xdp(ifindex, &xdp_id, &xdp_mode);
	if (ep->flags & NPBPF_EP_HAS_V4)
		fmt_addr(NPBPF_FAMILY_V4, ep->addr4, -1, a4, sizeof(a4));
	if (ep->flags & NPBPF_EP_HAS_V6)
		fmt_addr(NPBPF_FAMILY_V6, ep->addr6, -1, a6, sizeof(a6));
	/* "IFINDEX IFNAME POD identity N LABEL ADDR4 ADDR6 tc in/out xdp" */
	out_json_obj_begin(o, NULL);
	out_print_uint(o, "ifindex", "%llu ", ifindex);
	out_print_str(o, "ifname", "%s ", ifname);
	out_json_str(o, "pod", pod ? pod->name : "");
	out_text(o, "%s ", pod ? pod->name : pending ? "(not bound yet)" : "?");
	out_json_bool(o, "pending", pending);
	if (pending)
		out_text(o, "pending ");
	else
		out_print_uint(o, "identity", "identity %llu ", ep->identity);
	out_print_str(o, "label", "%s ", label);
	out_print_str(o, "ipv4", "%s", a4);
	out_text(o, "%s", a6[0] ? " " : "");
	out_print_str(o, "ipv6", "%s", a6);
	out_json_uint(o, "tc_ingress_prog", in_id);
	out_json_uint(o, "tc_egress_prog", eg_id);
	out_json_uint(o, "xdp_prog", xdp_id);
	out_text(o, " tc %s/%s%s  ", in_id ? "in" : "-", eg_id ? "out" : "-", xdp_id ? " xdp" : "");
	emit_ep_traffic(o, ep_row_find(rows, n_rows, ifindex));
	out_text(o, "\n");
	out_json_obj_end(o);
}

static int view_endpoints(struct status_ctx *x)
{
	const struct ms_table *t = &x->st.endpoint;
	int pend = x->ps.fds[PIN_PENDING];
	struct ep_counter_row *rows;
	uint32_t key, next;
	void *prev = NULL;
	size_t n_rows;
	int err = read_ep_counters(x, &rows, &n_rows);

	if (err)
		return err;
	out_json_arr_begin(&x->o, NULL);
	for (size_t i = 0; i < t->n; i++)
		emit_endpoint(x, *(const uint32_t *)ms_table_key(t, i), ms_table_value(t, i), false,
			      rows, n_rows);
	/* Pending records an endpoint record does not shadow. */
	while (pend >= 0 && !bpf_map_get_next_key(pend, prev, &next)) {
		struct npbpf_endpoint ep;

		key = next;
		prev = &key;
		if (!ms_table_get(t, &key) && !bpf_map_lookup_elem(pend, &key, &ep))
			emit_endpoint(x, key, &ep, true, rows, n_rows);
	}
	out_json_arr_end(&x->o);
	free(rows);
	return 0;
}

/* ---- ct and counters: read straight from their maps. */

static const char *ct_state_name(uint8_t s)
{
	static const char *const names[] = { "new", "established", "closing", "closed" };

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One endpoint's conntrack map (npbpf_ct holds one per endpoint). */
static void view_ct_endpoint(struct status_ctx *x, uint32_t ifindex, int fd, uint64_t now)
{
	struct npbpf_ct_key key, next;
	struct npbpf_ct_value v;
	struct out *o = &x->o;
	bool first = true;

	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		char src[64], dst[64], sl[64], dl[64];
		double age, idle;

		first = false;
		key = next;
		if (bpf_map_lookup_elem(fd, &next, &v))
			continue;
		fmt_addr(next.family, next.saddr, -1, src, sizeof(src));
		fmt_addr(next.family, next.daddr, -1, dst, sizeof(dst));
		age = now > v.created_ns ? (double)(now - v.created_ns) / 1e9 : 0;
		idle = now > v.last_seen_ns ? (double)(now - v.last_seen_ns) / 1e9 : 0;
		/* "ifN PROTO SRC:SPORT -> DST:DPORT STATE age As idle Is rev R SRC-LABEL
		 * -> DST-LABEL"; JSON has the identities' numbers. */
		out_json_obj_begin(o, NULL);
		out_print_uint(o, "ifindex", "if%llu ", ifindex);
		out_print_str(o, "protocol", "%s ", l4_name(next.proto));
		out_print_str(o, "source", "%s:", src);
		out_print_uint(o, "source_port", "%llu -> ", ntohs(next.sport));
		out_print_str(o, "destination", "%s:", dst);
		out_print_uint(o, "destination_port", "%llu ", ntohs(next.dport));
		out_print_str(o, "state", "%s ", ct_state_name(v.state));
		out_print_double(o, "age_seconds", "age %.1fs ", 1, age);
		out_print_double(o, "idle_seconds", "idle %.1fs ", 1, idle);
		out_print_uint(o, "revision", "rev %llu ", v.revision);
		out_json_uint(o, "source_identity", v.src_identity);
		out_json_uint(o, "destination_identity", v.dst_identity);
		out_text(o, "%s -> %s\n", id_label(x, v.src_identity, sl, sizeof(sl)),
			 id_label(x, v.dst_identity, dl, sizeof(dl)));
		out_json_obj_end(o);
	}
}

static int view_ct(struct status_ctx *x)
{
	int outer = x->ps.fds[PIN_CT];
	uint64_t now = mono_ns();
	__u32 key, next;
	bool first = true;

	out_json_arr_begin(&x->o, NULL);
	while (outer >= 0 && !bpf_map_get_next_key(outer, first ? NULL : &key, &next)) {
		int fd;

		first = false;
		key = next;
		fd = ct_map_fd(outer, next);
		if (fd < 0)
			continue; /* the endpoint went away under us */
		view_ct_endpoint(x, next, fd, now);
		close(fd);
	}
	out_json_arr_end(&x->o);
	return 0;
}

/* Every counter of the pinned maps, merged and sorted (counters.h). */
static int read_counters(struct status_ctx *x, struct counter_row **rows, size_t *n)
{
	struct counters c;
	int err;

	*rows = NULL;
	*n = 0;
	if (x->ps.fds[PIN_COUNTERS] < 0 && x->ps.fds[PIN_FIXCNT] < 0)
		return 0;
	err = counters_open(&c, x->ps.fds[PIN_COUNTERS], x->ps.fds[PIN_FIXCNT]);
	if (!err)
		err = counters_collect(&c, rows, n);
	counters_close(&c);
	return err;
}

static void emit_counter(struct status_ctx *x, const struct counter_row *r)
{
	char pb[NPBPF_NAME_LEN + 32], what[NPBPF_NAME_LEN + 64];
	const struct npbpf_counter_key *k = &r->key;
	bool drop = k->verdict == NPBPF_VERDICT_DROP;
	struct out *o = &x->o;

	if (drop && k->policy == ~0u)
		snprintf(what, sizeof(what), "dropped: %s", npbpf_drop_reason_name(k->rule));
	else if (k->policy == NPBPF_POLICY_NONE)
		snprintf(what, sizeof(what), "allowed: %s", npbpf_allow_reason_name(k->rule));
	else if (k->policy == NPBPF_POLICY_HOST)
		snprintf(what, sizeof(what), "%s", policy_label(x, k->policy, pb, sizeof(pb)));
	else
		snprintf(what, sizeof(what), "%s rule %u",
			 policy_label(x, k->policy, pb, sizeof(pb)), k->rule);
	/* "DIR VERDICT P packets B bytes  WHAT"; JSON names WHAT before the sums. */
	out_json_obj_begin(o, NULL);
	out_print_str(o, "direction", "%-7s ", dir_name(k->dir));
	out_print_str(o, "verdict", "%-5s ", drop ? "drop" : "allow");
	out_json_uint(o, "policy", k->policy);
	out_json_uint(o, "rule", k->rule);
	out_json_str(o, "what", what);
	out_print_uint(o, "packets", "%12llu packets ", r->sum.packets);
	out_print_uint(o, "bytes", "%14llu bytes  ", r->sum.bytes);
	out_text(o, "%s\n", what);
	out_json_obj_end(o);
}

static int view_counters(struct status_ctx *x)
{
	struct counter_row *rows;
	size_t n;
	int err;

	err = read_counters(x, &rows, &n);
	if (err)
		return err;
	out_json_arr_begin(&x->o, NULL);
	for (size_t i = 0; i < n; i++)
		emit_counter(x, &rows[i]);
	out_json_arr_end(&x->o);
	free(rows);
	return 0;
}

/* ---- summary. */

static uint64_t ep_dropped(const struct npbpf_ep_counters *c)
{
	return ep_packets(c, NPBPF_DIR_EGRESS, NPBPF_VERDICT_DROP) +
	       ep_packets(c, NPBPF_DIR_INGRESS, NPBPF_VERDICT_DROP);
}

static int ep_by_dropped(const void *pa, const void *pb)
{
	uint64_t a = ep_dropped(&((const struct ep_counter_row *)pa)->sum);
	uint64_t b = ep_dropped(&((const struct ep_counter_row *)pb)->sum);

	return a > b ? -1 : a < b;
}

/* The endpoints with the most drops (a flood, a pod cut off by policy): by
 * pod name where the map sync or npbpf-cni named the veth. */
#define SUMMARY_TOP_DROPPED 5
static int summary_dropped_by_endpoint(struct status_ctx *x)
{
	struct ep_counter_row *rows;
	size_t n;
	int err = read_ep_counters(x, &rows, &n);

	if (err)
		return err;
	if (n)
		qsort(rows, n, sizeof(*rows), ep_by_dropped);
	out_arr_begin(&x->o, "most_dropped_endpoints");
	for (size_t i = 0; i < n && i < SUMMARY_TOP_DROPPED && ep_dropped(&rows[i].sum); i++) {
		const struct npbpf_name *pod = ms_table_get(&x->st.epmeta, &rows[i].ifindex);
		bool bound = ms_table_get(&x->st.endpoint, &rows[i].ifindex) != NULL;
		char ifname[IF_NAMESIZE] = "(gone)";
		const char *who = pod ? pod->name : bound ? "?" : "(no endpoint)";

		if_indextoname(rows[i].ifindex, ifname);
		/* "  POD IFNAME ifindex N sent ... dropped, received ... dropped" */
		out_json_obj_begin(&x->o, NULL);
		out_print_str(&x->o, "pod", "  %s ", who);
		out_print_str(&x->o, "ifname", "%s ", ifname);
		out_print_uint(&x->o, "ifindex", "ifindex %llu  ", rows[i].ifindex);
		emit_ep_traffic(&x->o, &rows[i].sum);
		out_text(&x->o, "\n");
		out_json_obj_end(&x->o);
	}
	out_arr_end(&x->o);
	free(rows);
	return 0;
}

struct totals {
	uint64_t packets[2], bytes[2]; /* by verdict */
};

static int count_totals(struct status_ctx *x, struct totals *t)
{
	struct counter_row *rows;
	size_t n;
	int err;

	memset(t, 0, sizeof(*t));
	err = read_counters(x, &rows, &n);
	for (size_t i = 0; !err && i < n; i++) {
		int v = rows[i].key.verdict == NPBPF_VERDICT_DROP;

		t->packets[v] += rows[i].sum.packets;
		t->bytes[v] += rows[i].sum.bytes;
	}
	if (!err)
		free(rows);
	return err;
}

static uint64_t count_entries(int fd, uint32_t key_size)
{
	uint8_t key[64], next[64];
	uint64_t n = 0;

	if (fd < 0 || key_size > sizeof(key))
		return 0;
	while (!bpf_map_get_next_key(fd, n ? key : NULL, next)) {
		memcpy(key, next, key_size);
		n++;
	}
	return n;
}

static void summary_maps(struct status_ctx *x)
{
	out_arr_begin(&x->o, "maps");
	for (int m = 0; m < PIN_N; m++) {
		const struct pin_spec *s = &pin_specs[m];
		struct ms_table *t = ms_state_table(&x->st, (enum pin_map)m, 0);
		uint64_t n;

		if (m == PIN_EVENTS || x->ps.fds[m] < 0)
			continue;
		if (ms_gmap_of((enum pin_map)m) >= 0)
			n = ms_table_count(t) +
			    ms_table_count(ms_state_table(&x->st, (enum pin_map)m, 1));
		else if (t)
			n = ms_table_count(t);
		else if (s->type == BPF_MAP_TYPE_ARRAY || s->type == BPF_MAP_TYPE_PERCPU_ARRAY)
			n = s->max_entries;
		else
			n = count_entries(x->ps.fds[m], s->key_size);
		out_json_obj_begin(&x->o, NULL);
		out_print_str(&x->o, "name", "  %-15s ", s->name);
		out_print_uint(&x->o, "entries", "%8llu / ", n);
		out_print_uint(&x->o, "max_entries", "%-8llu ", s->max_entries);
		out_text(&x->o, "%5.1f%%\n", 100.0 * (double)n / s->max_entries);
		out_json_obj_end(&x->o);
	}
	out_arr_end(&x->o);
}

static void summary_attach(struct status_ctx *x)
{
	const struct ms_table *t = &x->st.endpoint;
	uint32_t n_tc = 0, n_xdp = 0;

	out_arr_begin(&x->o, "attached");
	for (size_t i = 0; i < t->n; i++) {
		uint32_t ifindex = *(const uint32_t *)ms_table_key(t, i);
		uint32_t in_id = 0, eg_id = 0, xdp_id = 0;
		uint8_t mode = 0;
		char ifname[IF_NAMESIZE] = "(gone)";

		if_indextoname(ifindex, ifname);
		loader_query_tc(ifindex, &in_id, &eg_id);
		loader_query_xdp(ifindex, &xdp_id, &mode);
		n_tc += in_id && eg_id;
		n_xdp += xdp_id != 0;
		/* "  IFNAME ifindex N tc ingress yes egress yes, xdp" */
		out_json_obj_begin(&x->o, NULL);
		out_json_uint(&x->o, "ifindex", ifindex);
		out_print_str(&x->o, "ifname", "  %-16s ", ifname);
		out_text(&x->o, "ifindex %-6u ", ifindex);
		out_json_uint(&x->o, "tc_ingress_prog", in_id);
		out_json_uint(&x->o, "tc_egress_prog", eg_id);
		out_json_uint(&x->o, "xdp_prog", xdp_id);
		out_text(&x->o, "tc ingress %s egress %s%s\n", in_id ? "yes" : "NO",
			 eg_id ? "yes" : "NO", xdp_id ? ", xdp" : "");
		out_json_obj_end(&x->o);
	}
	out_arr_end(&x->o);
	out_text(&x->o, "  %u of %zu endpoints fully attached (tc)\n", n_tc, t->n);
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	strftime(buf, len, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
}

/* How the last sync ended: ok, or what it was doing, the map, the errno,
 * and how many pods it left isolated (fail-closed) until a sync succeeds. */
static void summary_sync_result(struct status_ctx *x)
{
	const struct npbpf_meta *m = &x->st.meta;
	char when[64];

	out_uint(&x->o, "failed_syncs", m->failed_syncs);
	out_obj_begin(&x->o, "last_sync_result");
	out_str(&x->o, "result", m->error_ns ? "FAILED" : "ok");
	if (m->error_ns) {
		fmt_time(m->error_ns, when, sizeof(when));
		out_str(&x->o, "time", when);
		out_str(&x->o, "while", m->error_what);
		out_str(&x->o, "map", m->error_map);
		out_int(&x->o, "errno", -(int64_t)m->error);
		out_str(&x->o, "error", strerror(-m->error));
		out_uint(&x->o, "isolated_endpoints", m->error_isolated);
	}
	out_obj_end(&x->o);
}

/* Pods npbpf-cni wired that the agent has not bound (no endpoint record). */
static uint64_t count_pending(const struct status_ctx *x)
{
	int fd = x->ps.fds[PIN_PENDING];
	uint32_t key, next;
	void *prev = NULL;
	uint64_t n = 0;

	while (fd >= 0 && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		n += !ms_table_get(&x->st.endpoint, &key);
	}
	return n;
}

static int view_summary(struct status_ctx *x)
{
	char when[64] = "never";
	struct totals tot;
	int err;

	if (x->st.meta.last_sync_ns)
		fmt_time(x->st.meta.last_sync_ns, when, sizeof(when));
	err = count_totals(x, &tot);
	if (err)
		return err;
	out_obj_begin(&x->o, NULL);
	out_str(&x->o, "pin_dir", x->ps.dir);
	out_uint(&x->o, "layout", x->st.meta.layout);
	out_uint(&x->o, "generation", live_gen(x));
	out_uint(&x->o, "revision", x->st.config.revision);
	out_uint(&x->o, "syncs", x->st.meta.syncs);
	out_str(&x->o, "last_sync", when);
	summary_sync_result(x);
	status_agent_section(&x->o, x->a.state_file, x->ps.dir);
	out_uint(&x->o, "endpoints", ms_table_count(&x->st.endpoint));
	out_uint(&x->o, "pending_endpoints", count_pending(x));
	out_uint(&x->o, "identities", x->n_labels);
	out_uint(&x->o, "policies", ms_table_count(&x->st.polname));
	out_obj_begin(&x->o, "programs");
	for (int p = 0; p < PIN_N_PROGS; p++)
		out_uint(&x->o, pin_prog_names[p], x->ps.prog_ids[p]);
	out_obj_end(&x->o);
	summary_attach(x);
	summary_maps(x);
	out_obj_begin(&x->o, "allowed");
	out_uint(&x->o, "packets", tot.packets[0]);
	out_uint(&x->o, "bytes", tot.bytes[0]);
	out_obj_end(&x->o);
	out_obj_begin(&x->o, "dropped");
	out_uint(&x->o, "packets", tot.packets[1]);
	out_uint(&x->o, "bytes", tot.bytes[1]);
	out_obj_end(&x->o);
	err = summary_dropped_by_endpoint(x);
	out_obj_end(&x->o);
	return err;
}

static int status_run(const struct status_args *a)
{
	static int (*const views[])(struct status_ctx *) = {
		[VIEW_SUMMARY] = view_summary,	   [VIEW_ENDPOINTS] = view_endpoints,
		[VIEW_IDENTITIES] = view_identities, [VIEW_POLICY] = view_policy,
		[VIEW_IPCACHE] = view_ipcache,	   [VIEW_CT] = view_ct,
		[VIEW_COUNTERS] = view_counters,
	};
	struct status_ctx x;
	int ret = EXIT_FAIL, err;

	memset(&x, 0, sizeof(x));
	x.a = *a;
	for (int m = 0; m < PIN_N; m++)
		x.ps.fds[m] = -1;
	ms_state_init(&x.st);
	hmap_init(&x.label_idx);
	loader_route_libbpf_log();
	err = pinned_set_open(x.a.pin_dir, &x.ps);
	if ((err == -ENOENT && geteuid()) || err == -EPERM || err == -EACCES) {
		log_error("reading %s needs root (CAP_BPF and CAP_SYS_ADMIN)", x.a.pin_dir);
		goto out;
	}
	if (err == -ENOENT) {
		log_error("no npbpf state pinned under %s: is a lab running (or kept with --keep)?",
			  x.a.pin_dir);
		goto out;
	}
	if (err) {
		if (err != -EINVAL)
			log_error("opening %s: %s", x.a.pin_dir, strerror(-err));
		goto out;
	}
	err = mapsync_read_fds(x.ps.fds, &x.st);
	if (!err)
		err = load_labels(&x);
	if (err) {
		if (err == -ENOMEM)
			log_error("out of memory");
		goto out;
	}
	out_init(&x.o, stdout, x.a.json);
	err = views[x.a.view](&x);
	out_finish(&x.o);
	if (err) {
		log_error("%s: %s", x.a.view_name, strerror(-err));
		goto out;
	}
	ret = EXIT_OK;
out:
	for (size_t i = 0; i < x.n_labels; i++)
		free(x.labels[i]);
	free(x.labels);
	hmap_free(&x.label_idx);
	ms_state_free(&x.st);
	pinned_set_close(&x.ps);
	return ret;
}

int cmd_status(const struct command *self, int argc, char **argv)
{
	struct status_args a = { 0 };

	a.view = (enum status_view)self->id;
	/* "status" itself is the summary view. */
	a.view_name = a.view == VIEW_SUMMARY ? "summary" : self->name;
	if (parse_args(argc, argv, &a))
		return EXIT_USAGE;
	return status_run(&a);
}

int status_show_summary(const char *pin_dir)
{
	struct status_args a = { .view = VIEW_SUMMARY, .view_name = "summary", .pin_dir = pin_dir };

	return status_run(&a);
}
