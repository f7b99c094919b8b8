/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command table: every command and sub-command of npbpf, what --help
 * says of it, and its handler (cmd_*.c, which also hold the option tables).
 */
#include "commands.h"

#include <stddef.h>

#include "lab_addr.h"

/* ---- explain */

static const char explain_synopsis[] =
	"-f PATH... --from NS/POD|ADDR --to NS/POD|ADDR --port PORT[/PROTO]\n"
	"-f PATH... --matrix [--ports 80/TCP,81/UDP] [--external ADDR]...";

static const char explain_about[] =
	"Answers from the compiled tables whether a new connection is allowed, and why.\n"
	"--matrix prints a table per port and family: rows are sources, columns\n"
	"destinations (numbered as the rows), '.' allowed, 'X' denied, '-' not probed.\n"
	"Exit status: 0 allowed, 1 denied, 2 error. With --matrix: 0 unless an error.";

/* ---- lab */

static const char lab_synopsis[] =
	"-f PATH... [--ports 80/TCP,53/UDP] [--expect FILE] [-o json]\n"
	"-f PATH... [--external ADDR]... [--family 4|6|both] [--mode bridge|routed]\n"
	"-f PATH... [--keep] [--status] [--timeout-ms N] [--xdp]\n"
	"-f PATH... [--cni|--no-cni] [--cni-chain LIST]\n"
	"--kubeconfig FILE --node NAME [--keep] [-o json]\n"
	"probe ID [-o json]\n"
	"down [ID...]";

static const char lab_about[] =
	"Builds the manifests' pods as network namespaces on this kernel (a node namespace,\n"
	"one per pod, veth pairs), attaches the real datapath to every pod's veth, probes\n"
	"every pod from every pod, and prints the matrix as 'explain --matrix' does. Pod\n"
	"addresses come from status.podIPs (allocated when absent) and, like --external,\n"
	"must lie in " LAB_RANGE_V4 " or " LAB_RANGE_V6 ". Needs root.\n"
	"In bridge mode the pods' network comes from the real CNI plugins, as on a\n"
	"flannel node (--no-cni: the lab's own bridge and veths): bridge (cni0) with\n"
	"host-local on the node's pod CIDR, then npbpf-cni, run with a runtime's\n"
	"environment in the node namespace; host-local's data and the CNI cache live\n"
	"in /run/npbpf-lab/ID.cni, and teardown (lab down too) runs DEL first.\n"
	"With --kubeconfig FILE --node NAME (cluster mode) the pods, namespaces and\n"
	"policies come from that API server instead of -f: every pod of node NAME with\n"
	"an address gets a namespace (addresses from status.podIPs, never made up), other\n"
	"nodes' pods are only addresses, and a real 'npbpf agent --node NAME' that the\n"
	"lab starts (log and state in /run/npbpf-lab) enforces; the lab probes once\n"
	"the agent is ready and has caught up with the lab's own list.\n"
	"Exit status: 0 matrix as expected, 1 a difference (from --expect, or between the\n"
	"datapath and explain) or a failure, 2 bad usage or bad input.";

static const char lab_probe_about[] =
	"Probes a lab kept with 'npbpf lab --kubeconfig FILE --node NAME --keep' again:\n"
	"lists the API server, removes the namespaces of pods that went, creates those of\n"
	"pods that came (on the lab's node, with an address), waits until the lab's agent\n"
	"has caught up with the list, then probes and prints the matrix as 'lab' does.\n"
	"Change a policy or a label through the API, then see what the packets do now.\n"
	"The lab stays kept. Exit status as for 'lab'.";

static const char lab_down_about[] =
	"Removes the labs left by 'npbpf lab --keep' and the leftovers of labs that\n"
	"crashed: all of them, or those with the ids given. A lab that still runs\n"
	"is reported and left alone. 'npbpf lab --down [ID...]' is the same.";

static const struct command lab_subs[] = {
	{
		.name = "down",
		.summary = "remove kept labs (and leftovers of crashed ones)",
		.synopsis = "[ID...] [-o text|json]",
		.about = lab_down_about,
		.opts = lab_down_opts,
		.as_option = "down",
		.run = cmd_lab_down,
	},
	{
		.name = "probe",
		.summary = "probe a kept cluster-mode lab again, after changes in the API",
		.synopsis = "ID [--expect FILE] [--timeout-ms N] [-o text|json]",
		.about = lab_probe_about,
		.opts = lab_probe_opts,
		.run = cmd_lab_probe,
	},
	{ 0 },
};

/* ---- status */

#define STATUS_ABOUT                                                                           \
	"Shows what the pinned npbpf maps hold: works while a lab runs and after it\n"        \
	"exited. Needs root (reading BPF maps). Without a view: the summary\n"        \
	"(programs and where they are attached, how the last sync ended: what failed,\n"       \
	"pods left isolated; map fill levels, allowed and dropped totals)."

#define STATUS_VIEW(view_name, view_id, text)                                                  \
	{                                                                                      \
		.name = view_name, .summary = text,                                            \
		.about = "The " view_name " view: " text ".\n\n" STATUS_ABOUT,                 \
		.opts = status_opts, .id = view_id, .run = cmd_status,                         \
	}

static const struct command status_views[] = {
	STATUS_VIEW("summary", VIEW_SUMMARY,
		    "programs and attachments, the last sync, map fill, totals (the default)"),
	STATUS_VIEW("endpoints", VIEW_ENDPOINTS,
		    "pod veths: pod, identity, addresses, attached programs"),
	STATUS_VIEW("identities", VIEW_IDENTITIES, "identity numbers and their labels"),
	STATUS_VIEW("policy", VIEW_POLICY, "the live policy generation, one line per entry"),
	STATUS_VIEW("ipcache", VIEW_IPCACHE, "address and prefix -> identity"),
	STATUS_VIEW("ct", VIEW_CT, "conntrack entries with state and age"),
	STATUS_VIEW("counters", VIEW_COUNTERS, "packets and bytes per policy rule and verdict"),
	{ 0 },
};

/* ---- bench */

static const char bench_compile_about[] =
	"Generates a synthetic cluster (namespaces, pods in deployments, the policies\n"
	"people write), then loads and compiles it in a child process and reports the\n"
	"time of parse + compile alone and the child's peak memory.";

static const char bench_verdict_about[] =
	"Nanoseconds per packet through the real datapath programs under\n"
	"BPF_PROG_TEST_RUN, for hooks tc (to-pod) and xdp (from-pod), cases\n"
	"parse_only, ct_hit, new_allowed and new_denied, with 1, 1,000 and 100,000\n"
	"policy entries over 1 and 10,000 identities, and a many-flows run (4,096\n"
	"peers: a quarter of one endpoint's conntrack map). Median of several rounds.\n"
	"Needs root; works in a private network namespace and private pin\n"
	"directories, removed at the end.";

static const char bench_agent_about[] =
	"Runs the node agent (npbpf agent, a child process) against a replay API\n"
	"server inside the benchmark (plain HTTP on 127.0.0.1, pre-rendered JSON of a\n"
	"synthetic cluster), with ~100 pods of its node on real veths in private\n"
	"network namespaces, and reports: the initial sync of 10,000 pods, 500\n"
	"namespaces and 10,000 policies (first LIST to maps written); event to\n"
	"enforced p50/p99/max for a policy change, a namespace label change, a pod\n"
	"label change that makes an identity and a pod added to an existing one (the\n"
	"effect read in the pinned maps); the agent's RSS and peak after syncing\n"
	"150,000 pods, 5,000 namespaces and 20,000 policies; and the map writes and\n"
	"TC programs of a restart with nothing changed. Needs root; about 3 minutes\n"
	"(--quick: under one). Progress goes to stderr; everything made is removed.";

static const char bench_drop_about[] =
	"Packets per second a dropper sustains: a 64-byte UDP flood from a pod's eth0\n"
	"into its host veth (BPF_PROG_RUN live frames; AF_PACKET as a slower sender),\n"
	"counted at the dropper's own counters. npbpf in XDP and TC mode on a denied\n"
	"and an allowed flow, next to trivial XDP_DROP / TC drop / TC pass programs on\n"
	"the same veth and the same policies as iptables (kube-router's layout) and\n"
	"nftables (kube-network-policies'); 1 to 10,000 policies, 1 to 100,000 flows,\n"
	"1 and 2 cores. Rounds interleave every configuration; medians and the median\n"
	"of per-round ratios are reported. Needs root; about 4 minutes (--quick: under\n"
	"one). Works in network namespaces of its own (198.18.0.0/15), removed at the\n"
	"end and on Ctrl-C. Progress goes to stderr.";

static const struct command bench_subs[] = {
	{
		.name = "compile",
		.summary = "parse + compile a synthetic cluster: time and peak memory",
		.about = bench_compile_about,
		.opts = bench_compile_opts,
		.run = cmd_bench_compile,
	},
	{
		.name = "verdict",
		.summary = "datapath ns/packet on a synced synthetic cluster (root)",
		.about = bench_verdict_about,
		.opts = bench_verdict_opts,
		.run = cmd_bench_verdict,
	},
	{
		.name = "agent",
		.summary = "the node agent: initial sync, event latency, memory, restart (root)",
		.about = bench_agent_about,
		.opts = bench_agent_opts,
		.run = cmd_bench_agent,
	},
	{
		.name = "drop",
		.summary = "packet drop rates: npbpf vs trivial droppers, iptables, nftables (root)",
		.about = bench_drop_about,
		.opts = bench_drop_opts,
		.run = cmd_bench_drop,
	},
	{ 0 },
};

/* ---- agent */

static const char agent_about[] =
	"The node agent: lists and watches Namespaces, Pods and NetworkPolicies from the\n"
	"API server, finds the veths of this node's pods (by their addresses), attaches\n"
	"the datapath to each and keeps the pinned maps equal to what the API server\n"
	"holds. A veth whose pod is not known yet drops everything until it is. On\n"
	"SIGTERM it stops and leaves programs attached and maps pinned: the node keeps\n"
	"enforcing, and the next agent adopts the state (no writes when nothing changed).\n"
	"Needs root (or CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN).";

/* ---- npbpf */

static const struct command commands[] = {
	{
		.name = "explain",
		.summary = "why a flow is allowed or denied; connectivity matrix",
		.synopsis = explain_synopsis,
		.about = explain_about,
		.opts = explain_opts,
		.run = cmd_explain,
	},
	{
		.name = "lab",
		.summary = "real enforcement on local network namespaces: a probed matrix",
		.synopsis = lab_synopsis,
		.about = lab_about,
		.opts = lab_opts,
		.subs = lab_subs,
		.run = cmd_lab,
	},
	{
		.name = "agent",
		.summary = "the node agent: enforce what the API server holds",
		.synopsis = "[--node NAME] [--kubeconfig FILE] [--api-server URL] [--listen ADDR]",
		.about = agent_about,
		.opts = agent_opts,
		.run = cmd_agent,
	},
	{
		.name = "status",
		.summary = "what the pinned maps hold: a summary, or one view",
		.synopsis = "[VIEW] [--pin-dir DIR] [-o text|json]",
		.about = STATUS_ABOUT,
		.opts = status_opts,
		.subs = status_views,
		.sub_noun = "view",
		.id = VIEW_SUMMARY,
		.run = cmd_status,
	},
	{
		.name = "bench",
		.summary = "benchmarks: policy compilation, per-packet verdict cost, the agent",
		.synopsis = "COMMAND [OPTIONS]",
		.about = "Benchmarks.",
		.subs = bench_subs,
	},
	{ 0 },
};

static const struct cli_opt global_opts[] = {
	{ "verbose", 'v', NULL, "debug messages (repeat for more)" },
	{ "version", CLI_OPT_LONG, NULL, "the version" },
	{ 0 },
};

const struct command npbpf_cli = {
	.name = "npbpf",
	.summary = "Kubernetes NetworkPolicy enforcement with eBPF.",
	.synopsis = "[-v] COMMAND [OPTIONS]",
	.opts = global_opts,
	.subs = commands,
};
