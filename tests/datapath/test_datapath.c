/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Datapath tests: the real BPF object (through its skeleton), maps filled
 * from the real engine's compile, crafted packets run with
 * BPF_PROG_TEST_RUN, and a real veth pair for what a test run cannot make
 * (non-linear skbs, a VLAN tag in skb metadata).
 *
 * Every expected verdict comes from the engine (verdict_flow/verdict_dir in
 * user/verdict.c) on the same manifests, so the kernel side and `explain`
 * are checked against each other: a matrix over every example cluster and a
 * generated one (every pod x peer x family x protocol/port, both hooks, with
 * the rule each allow is charged to), then one check per datapath feature.
 *
 * The process moves into its own network namespace first: the veths it
 * creates vanish with it however it exits. Output is TAP. Needs root; skips
 * without it, and fails instead when CI=true.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_gen.h"
#include "harness.h"

/* Examples run through the matrix, in the order of the examples directory. */
static const char *const examples[] = {
	"allow-dns-egress",       "allow-same-namespace", "api-and-db",
	"cross-namespace-egress", "default-deny-all",     "default-deny-egress",
	"default-deny-ingress",   "egress-ipblock-except", "ingress-from-controller",
	"ipblock-covers-pods",    "label-typo",           "match-expressions",
	"named-ports",            "port-range",           "prometheus-and-vs-or",
	"three-tier",
};

static void run_examples(struct harness *h, const char *examples_dir)
{
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		char dir[4096];
		struct scen s;

		memset(&s, 0, sizeof(s));
		snprintf(dir, sizeof(dir), "%s/%s", examples_dir, examples[i]);
		if (scen_load_dir(&s, h, examples[i], dir))
			tap_ok(false, "%s loads and compiles", examples[i]);
		else
			matrix_run(h, &s);
		scen_free(&s);
	}
}

/* A generated cluster: many identities, moved named ports, endPort ranges,
 * ipBlock excepts, matchExpressions. */
static void run_generated(struct harness *h)
{
	struct cluster_gen_params p = { .pods = 80, .namespaces = 8, .policies = 60, .seed = 7 };
	char *buf = NULL;
	size_t blen = 0;
	FILE *mf = open_memstream(&buf, &blen);
	int err = mf ? cluster_gen_write(mf, &p, NULL) : -ENOMEM;
	struct scen s;

	if (mf && fclose(mf) && !err)
		err = -EIO;
	memset(&s, 0, sizeof(s));
	if (err || scen_load_buffer(&s, h, "generated", buf))
		tap_ok(false, "generated cluster loads and compiles");
	else
		matrix_run(h, &s);
	scen_free(&s);
	free(buf);
}

int main(int argc, char **argv)
{
	const char *examples_dir = argc > 1 ? argv[1] : "examples";
	const char *why = NULL;
	struct harness h;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0)
		return tap_cannot_run("datapath tests", "not root");
	r = harness_open(&h, &why);
	if (r > 0)
		return tap_cannot_run("datapath tests", why);
	if (!tap_ok(r == 0, "BPF object loaded (3 programs verified), %d veths in a private netns",
		    N_DEV)) {
		harness_close(&h);
		printf("1..%d\n", tap_n);
		return 1;
	}

	features_run(&h);
	hardening_run(&h);
	window_run(&h);
	flood_run(&h);
	parsecheck_run(&h);
	run_examples(&h, examples_dir);
	run_generated(&h);

	harness_close(&h);
	printf("1..%d\n", tap_n);
	diag("%d passed, %d failed", tap_n - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}
