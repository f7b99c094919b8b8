/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flood generator of `npbpf bench drop` (bd_gen in bpf/bench_drop.bpf.c)
 * sends exactly the flows it is told to: one flow is the template's ports
 * in every frame; N flows cycle through source ports base .. base+N-1 and,
 * past BD_SPORTS source ports, the next destination port, then start again.
 * A generator that sent fewer flows than asked would make the flows sweep
 * measure a cache that never misses.
 *
 * Runs bd_gen under BPF_PROG_TEST_RUN (not live: XDP_TX hands the frame
 * back) on one CPU, since its position is per CPU. Root only: a skip
 * without it, a failure under CI=true.
 */
#include "bench_drop.skel.h"
#include "tap.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_FRAME_LEN  64
#define GEN_HDR_LEN    42    /* Ethernet + IPv4 + UDP */
#define GEN_SPORTS     50000 /* BD_SPORTS */
#define GEN_SPORT_BASE 10000
#define GEN_DPORT_0    5001
#define GEN_DPORT_1    5002

static uint16_t port_at(const uint8_t *f, int off)
{
	return (uint16_t)(f[off] << 8 | f[off + 1]);
}

/* Sets the flow count and puts the position back at the first flow. */
static int gen_reset(struct npbpf_bench_drop_bpf *skel, uint32_t flows)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t zero_pos[1024] = {0};
	uint32_t zero = 0;

	if (ncpu <= 0 || ncpu > 1024)
		return -EINVAL;
	skel->bss->bd_flows = flows;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.bd_seq), &zero, zero_pos, BPF_ANY))
		return -errno;
	return 0;
}

/* One frame out of the generator: its source and destination ports. */
static int gen_one(int fd, uint16_t *sport, uint16_t *dport)
{
	uint8_t in[GEN_FRAME_LEN], out[GEN_FRAME_LEN];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = sizeof(in),
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	memset(in, 0xaa, sizeof(in)); /* what the template must overwrite */
	if (bpf_prog_test_run_opts(fd, &o))
		return -errno;
	if (o.retval != XDP_TX || o.data_size_out != sizeof(out))
		return -EPROTO;
	*sport = port_at(out, 34);
	*dport = port_at(out, 36);
	return 0;
}

/* n frames at flows; each must be flow (i mod flows). Returns the number of
 * wrong frames (or -1 on an error), naming the first. */
static long gen_check(struct npbpf_bench_drop_bpf *skel, uint32_t flows, uint32_t n)
{
	int fd = bpf_program__fd(skel->progs.bd_gen);
	long wrong = 0;

	if (gen_reset(skel, flows))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t f = flows > 1 ? i % flows : 0;
		uint16_t want_s = (uint16_t)(GEN_SPORT_BASE + f % GEN_SPORTS);
		uint16_t want_d = (f / GEN_SPORTS) % 2 ? GEN_DPORT_1 : GEN_DPORT_0;
		uint16_t s = 0, d = 0;

		if (gen_one(fd, &s, &d))
			return -1;
		if (s != want_s || d != want_d) {
			if (!wrong)
				diag("flows %u, frame %u: ports %u -> %u, want %u -> %u", flows, i,
				     s, d, want_s, want_d);
			wrong++;
		}
	}
	return wrong;
}

int main(void)
{
	struct npbpf_bench_drop_bpf *skel;
	cpu_set_t one;
	long w;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0)
		return tap_cannot_run("generator test", "not root");
	/* The position is per CPU: every run on the same one. */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		return tap_cannot_run("generator test", "cannot pin to CPU 0");
	skel = npbpf_bench_drop_bpf__open_and_load();
	if (!skel)
		return tap_cannot_run("generator test", "the bench object does not load");

	memset(skel->bss->bd_tmpl, 0, sizeof(skel->bss->bd_tmpl));
	skel->bss->bd_tmpl[12] = 0x08; /* IPv4 */
	skel->bss->bd_tmpl[14] = 0x45;
	skel->bss->bd_tmpl[34] = GEN_SPORT_BASE >> 8;
	skel->bss->bd_tmpl[35] = GEN_SPORT_BASE & 0xff;
	skel->bss->bd_tmpl[36] = GEN_DPORT_0 >> 8;
	skel->bss->bd_tmpl[37] = GEN_DPORT_0 & 0xff;
	skel->bss->bd_sport_base = GEN_SPORT_BASE;
	for (int i = 0; i < 4; i++)
		skel->bss->bd_dport[i] = htons(i % 2 ? GEN_DPORT_1 : GEN_DPORT_0);

	w = gen_check(skel, 1, 5);
	tap_ok(w == 0, "one flow: 5 frames, all the template's ports (%ld wrong)", w);
	w = gen_check(skel, 0, 3);
	tap_ok(w == 0, "flows 0 means one flow (%ld wrong)", w);
	w = gen_check(skel, 3, 7);
	tap_ok(w == 0, "3 flows: source ports cycle base, +1, +2, base ... (%ld wrong)", w);
	w = gen_check(skel, 1000, 2001);
	tap_ok(w == 0, "1,000 flows: 1,000 distinct source ports, then again (%ld wrong)", w);
	w = gen_check(skel, GEN_SPORTS + 2, GEN_SPORTS + 5);
	tap_ok(w == 0,
	       "%d flows: past %d source ports the next destination port, then back to the "
	       "first flow (%ld wrong)",
	       GEN_SPORTS + 2, GEN_SPORTS, w);

	npbpf_bench_drop_bpf__destroy(skel);
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
