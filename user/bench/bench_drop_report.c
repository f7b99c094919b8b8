/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_drop_report.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "json_out.h"

/* ---- Ratios */

/*
 * The ratio num / den, per round, median over the rounds. With references
 * (num_ref, den_ref: the trivial programs measured beside num and den),
 * (num / num_ref) / (den / den_ref): num and den are then far apart in the
 * round, and a change of the VM's speed between them cancels out.
 */
static void ratio_add_ref(const struct bd_ctx *x, struct bd_ratio *out, size_t *n,
			  const char *num, const char *num_ref, const char *den,
			  const char *den_ref, const char *what, double goal)
{
	const struct bd_conf *a = bd_conf_find(x, num), *b = bd_conf_find(x, den);
	const struct bd_conf *ar = num_ref ? bd_conf_find(x, num_ref) : NULL;
	const struct bd_conf *br = den_ref ? bd_conf_find(x, den_ref) : NULL;
	double v[BD_MAX_ROUNDS];
	uint32_t k = 0;

	if (!a || !b || *n >= BD_MAX_RATIOS)
		return;
	if (!ar || !br)
		ar = br = NULL; /* a reference left out (--only): the plain ratio */
	/* Rounds where a generator stayed starved say little: left out
	 * while any other round is there. */
	for (int any = 0; any < 2 && !k; any++) {
		for (uint32_t r = 0; r < a->done && r < b->done; r++) {
			bool starved = a->starved[r] || b->starved[r];
			double ratio;

			if (b->mpps[r] <= 0)
				continue;
			ratio = a->mpps[r] / b->mpps[r];
			if (ar) {
				if (r >= ar->done || r >= br->done || ar->mpps[r] <= 0)
					continue;
				starved = starved || ar->starved[r] || br->starved[r];
				ratio *= br->mpps[r] / ar->mpps[r];
			}
			if (any || !starved)
				v[k++] = ratio;
		}
	}
	snprintf(out[*n].key, sizeof(out[*n].key), "%s_vs_%s", num, den);
	out[*n].num = a;
	out[*n].den = b;
	out[*n].num_ref = ar;
	out[*n].den_ref = br;
	out[*n].what = what;
	out[*n].goal = goal;
	out[*n].value = bd_median(v, k);
	(*n)++;
}

static void ratio_add(const struct bd_ctx *x, struct bd_ratio *out, size_t *n, const char *num,
		      const char *den, const char *what, double goal)
{
	ratio_add_ref(x, out, n, num, NULL, den, NULL, what, goal);
}

/* What the flows sweep's ratio at flows measures: past what the flow's
 * cache holds (denials: the denial cache, allowed: conntrack), misses. */
static const char *flows_what(int flow, uint32_t flows)
{
	if (flow == BD_F_DENY && flows > NPBPF_DENY_SLOTS)
		return "flatness: many flows / 1 flow, each against the trivial program beside "
		       "it (cache misses: more flows than the denial cache holds)";
	if (flow == BD_F_ALLOW && flows > NPBPF_CT_PER_ENDPOINT)
		return "flatness: many flows / 1 flow, each against the trivial program beside "
		       "it (cache misses: more flows than conntrack entries)";
	return "flatness: many flows / 1 flow, each against the trivial program beside it";
}

/* The trivial program each npbpf flows configuration is measured beside
 * ([xdp, tc][deny, allow]; bench_drop_run.c). */
static const char *const flows_ref[2][2] = { { "xdp_drop", "tc_pass" },
					     { "tc_drop", "tc_pass" } };

void bd_ratios(const struct bd_ctx *x, struct bd_ratio *out, size_t *n)
{
	uint32_t top = x->pol[x->n_sets - 1].n;
	char a[64], b[64];

	*n = 0;
	ratio_add(x, out, n, "npbpf_xdp_deny", "xdp_drop", "denied flood: npbpf XDP / trivial XDP_DROP",
		  0.75);
	ratio_add(x, out, n, "npbpf_tc_deny", "tc_drop", "denied flood: npbpf TC / trivial TC drop",
		  0.9);
	ratio_add(x, out, n, "npbpf_tc_allow", "tc_pass",
		  "allowed flow (conntrack hit): npbpf TC / trivial TC pass", 0.8);
	ratio_add(x, out, n, "npbpf_xdp_allow", "npbpf_tc_allow",
		  "allowed flow: XDP mode / TC only (XDP mode judges twice)", 0);
	ratio_add(x, out, n, "npbpf_xdp_deny", "nft_deny", "denied: npbpf XDP / nftables", 0);
	ratio_add(x, out, n, "npbpf_tc_deny", "nft_deny", "denied: npbpf TC / nftables", 0);
	ratio_add(x, out, n, "npbpf_xdp_deny", "ipt_deny", "denied: npbpf XDP / iptables", 0);
	ratio_add(x, out, n, "npbpf_tc_deny", "ipt_deny", "denied: npbpf TC / iptables", 0);
	ratio_add(x, out, n, "npbpf_tc_allow", "nft_allow", "allowed: npbpf TC / nftables", 0);
	ratio_add(x, out, n, "npbpf_tc_allow", "ipt_allow", "allowed: npbpf TC / iptables", 0);
	for (int h = 0; h < 2; h++) {
		const char *hk = h ? "tc" : "xdp";

		snprintf(a, sizeof(a), "npbpf_%s_deny_p%u", hk, top);
		snprintf(b, sizeof(b), "nft_deny_p%u", top);
		ratio_add(x, out, n, a, b, "denied, most policies: npbpf / nftables", 0);
		snprintf(b, sizeof(b), "ipt_deny_p%u", top);
		ratio_add(x, out, n, a, b, "denied, most policies: npbpf / iptables", 0);
	}
	for (uint32_t s = 1; s < x->n_sets; s++) {
		for (int h = 0; h < 2; h++) {
			snprintf(a, sizeof(a), "npbpf_%s_deny_p%u", h ? "tc" : "xdp", x->pol[s].n);
			snprintf(b, sizeof(b), "npbpf_%s_deny", h ? "tc" : "xdp");
			ratio_add(x, out, n, a, b, "flatness: this many policies / 1 policy", 0.9);
		}
	}
	for (uint32_t f = 1; f < x->n_flow_counts; f++) {
		for (int h = 0; h < 2; h++) {
			for (int fl = 0; fl < 2; fl++) {
				char ar[64];

				snprintf(a, sizeof(a), "npbpf_%s_%s_f%u", h ? "tc" : "xdp",
					 bd_flow_names[fl], x->flow_counts[f]);
				snprintf(b, sizeof(b), "npbpf_%s_%s", h ? "tc" : "xdp",
					 bd_flow_names[fl]);
				snprintf(ar, sizeof(ar), "%s_f%u", flows_ref[h][fl],
					 x->flow_counts[f]);
				ratio_add_ref(x, out, n, a, ar, b, flows_ref[h][fl],
					      flows_what(fl, x->flow_counts[f]), 0.9);
			}
		}
	}
	for (uint32_t f = 1; f < x->n_flow_counts; f++) {
		for (int h = 0; h < 2; h++) {
			for (int fl = 0; fl < 2; fl++) {
				snprintf(a, sizeof(a), "npbpf_%s_%s_f%u", h ? "tc" : "xdp",
					 bd_flow_names[fl], x->flow_counts[f]);
				snprintf(b, sizeof(b), "%s_f%u", flows_ref[h][fl],
					 x->flow_counts[f]);
				ratio_add(x, out, n, a, b,
					  "many flows: npbpf / the trivial program at as many flows",
					  0);
			}
		}
	}
	ratio_add(x, out, n, "xdp_drop_2cpu", "xdp_drop", "2 cores / 1: trivial XDP_DROP", 0);
	ratio_add(x, out, n, "npbpf_xdp_deny_2cpu", "xdp_drop_2cpu",
		  "2 cores, denied: npbpf XDP / trivial XDP_DROP", 0);
	ratio_add(x, out, n, "npbpf_tc_deny_2cpu", "tc_drop_2cpu",
		  "2 cores, denied: npbpf TC / trivial TC drop", 0);
	ratio_add(x, out, n, "npbpf_xdp_deny_afpacket", "xdp_drop_afpacket",
		  "AF_PACKET sender, denied: npbpf XDP / trivial XDP_DROP", 0);
	ratio_add(x, out, n, "npbpf_tc_deny_afpacket", "tc_drop_afpacket",
		  "AF_PACKET sender, denied: npbpf TC / trivial TC drop", 0);
}

/* ---- Output */

static uint32_t starved_rounds(const struct bd_conf *c)
{
	uint32_t n = 0;

	for (uint32_t r = 0; r < c->done; r++)
		n += c->starved[r];
	return n;
}

/* Mpps for people: three decimals, and a slow dropper (iptables at
 * thousands of policies) in kpps rather than as 0.000. */
static const char *fmt_mpps(char *buf, size_t len, double v)
{
	if (v > 0 && v < 0.01)
		snprintf(buf, len, "%.2fk", v * 1000);
	else
		snprintf(buf, len, "%.3f", v);
	return buf;
}

static bool is_npbpf(const struct bd_conf *c)
{
	return c->enf == BD_E_NPBPF_XDP || c->enf == BD_E_NPBPF_TC;
}

static void report_text(const struct bd_ctx *x, const struct bd_ratio *r, size_t n)
{
	const char *group = "";

	printf("Million packets per second (k: thousand) at the dropper, 60-byte UDP frames (64 on the wire), "
	       "median over %u rounds\nof %.2f s (of the rounds whose generator was not "
	       "starved, if any; min-max over all);\ngen CPU: the generator's share of its "
	       "cores (below %.0f%%: starved by something else,\nretried).\n",
	       x->rounds, x->window_s, BD_STARVED_SHARE * 100);
	for (size_t i = 0; i < x->n_conf; i++) {
		const struct bd_conf *c = &x->conf[i];
		char range[48], med[16], lo[16], hi[16], sent[16];

		if (strcmp(group, c->group)) {
			group = c->group;
			printf("\n%-32s %8s %13s %7s %9s  %s\n", group, "Mpps", "min-max", "gen CPU",
			       "sent Mpps", "notes");
		}
		snprintf(range, sizeof(range), "%s-%s", fmt_mpps(lo, sizeof(lo), c->min),
			 fmt_mpps(hi, sizeof(hi), c->max));
		printf("%-32s %8s %13s %6.0f%% %9s  ", c->name, fmt_mpps(med, sizeof(med), c->median),
		       range, c->share_median * 100, fmt_mpps(sent, sizeof(sent), c->sent_median));
		if (is_npbpf(c) && c->flow == BD_F_DENY)
			printf("%llu dropped for policy, %llu for other reasons",
			       (unsigned long long)c->policy_drops,
			       (unsigned long long)c->other_drops);
		else if (is_npbpf(c) && c->counted)
			printf("%.2f verdicts per packet", (double)c->allows / (double)c->counted);
		if (starved_rounds(c))
			printf("%sgenerator starved in %u round(s)", is_npbpf(c) ? "; " : "",
			       starved_rounds(c));
		printf("\n");
	}
	printf("\nRatios (the ratio within each round, median over the rounds):\n");
	for (size_t i = 0; i < n; i++) {
		printf("  %-44s %9.2f", r[i].key, r[i].value);
		if (r[i].goal > 0)
			printf("  goal >= %.2f: %s", r[i].goal,
			       r[i].value >= r[i].goal ? "met" : "MISSED");
		printf("\n      %s\n", r[i].what);
	}
	printf("\niptables: %s. Setup %.1f s, measuring %.1f s.\n",
	       x->iptables_version[0] ? x->iptables_version : "unknown", x->setup_s, x->run_s);
}

static void report_json(const struct bd_ctx *x, const struct bd_ratio *r, size_t n)
{
	struct utsname u;
	struct out o;

	out_init(&o, stdout, true);
	out_obj_begin(&o, NULL);
	out_str(&o, "mode", x->a.quick ? "quick" : "full");
	out_uint(&o, "rounds", x->rounds);
	out_double(&o, "window_seconds", x->window_s, 2);
	out_uint(&o, "cpus", (uint64_t)x->ncpu);
	out_str(&o, "kernel", uname(&u) ? "" : u.release);
	out_str(&o, "iptables", x->iptables_version);
	out_double(&o, "setup_seconds", x->setup_s, 1);
	out_double(&o, "run_seconds", x->run_s, 1);
	out_obj_begin(&o, "configs");
	for (size_t i = 0; i < x->n_conf; i++) {
		const struct bd_conf *c = &x->conf[i];

		out_obj_begin(&o, c->name);
		out_str(&o, "group", c->group);
		out_str(&o, "enforcer", bd_enf_names[c->enf]);
		out_str(&o, "flow", bd_flow_names[c->flow]);
		out_str(&o, "sender", bd_sender_names[c->snd]);
		out_uint(&o, "policies", c->policies);
		out_uint(&o, "flows", c->flows);
		out_uint(&o, "cpus", c->cpus);
		out_double(&o, "mpps", c->median, 3);
		out_double(&o, "mpps_min", c->min, 3);
		out_double(&o, "mpps_max", c->max, 3);
		out_double(&o, "gen_cpu_share", c->share_median, 3);
		out_double(&o, "sent_mpps", c->sent_median, 3);
		out_uint(&o, "starved_rounds", starved_rounds(c));
		out_uint(&o, "retries", c->retries);
		out_arr_begin(&o, "samples_mpps");
		for (uint32_t k = 0; k < c->done; k++)
			out_double(&o, NULL, c->mpps[k], 3);
		out_arr_end(&o);
		out_uint(&o, "counted", c->counted);
		if (is_npbpf(c)) {
			out_obj_begin(&o, "npbpf_counters");
			out_uint(&o, "policy_drops", c->policy_drops);
			out_uint(&o, "other_drops", c->other_drops);
			out_uint(&o, "allows", c->allows);
			out_obj_end(&o);
		}
		out_obj_end(&o);
	}
	out_obj_end(&o);
	out_obj_begin(&o, "ratios");
	for (size_t i = 0; i < n; i++) {
		out_obj_begin(&o, r[i].key);
		out_str(&o, "num", r[i].num->name);
		out_str(&o, "den", r[i].den->name);
		if (r[i].num_ref) {
			out_str(&o, "num_ref", r[i].num_ref->name);
			out_str(&o, "den_ref", r[i].den_ref->name);
		}
		out_double(&o, "ratio", r[i].value, 3);
		if (r[i].goal > 0) {
			out_double(&o, "goal", r[i].goal, 2);
			out_bool(&o, "met", r[i].value >= r[i].goal);
		}
		out_obj_end(&o);
	}
	out_obj_end(&o);
	out_obj_end(&o);
	out_finish(&o);
}

void bd_report(const struct bd_ctx *x, const struct bd_ratio *r, size_t n)
{
	if (x->a.json)
		report_json(x, r, n);
	else
		report_text(x, r, n);
}
