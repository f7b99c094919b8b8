/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench drop's flood generators: one thread per core, each pinned to its
 * core and inside the pod's network namespace, sending a 60-byte
 * Ethernet/IPv4/UDP frame (64 bytes on the wire with the FCS) out of the
 * pod's eth0 until stopped:
 *
 *  - live: BPF_PROG_RUN of bd_gen (bpf/bench_drop.bpf.c) with
 *    BPF_F_TEST_XDP_LIVE_FRAMES on eth0: each XDP_TX is a real
 *    transmission into the host veth (veth_xdp_xmit), tens of millions a
 *    second, so the dropper, not the sender, is what is measured;
 *  - packet: AF_PACKET (sendmmsg, qdisc bypassed): the path a real
 *    application's raw socket takes, far slower.
 *
 * The host veth processes what a core sends on that same core (veth
 * schedules its NAPI locally), so a core's time is the generator's plus
 * the dropper's; bd_gen_cpu_ns says how much of the wall time the
 * generator threads (and the ksoftirqd of their cores, which takes over
 * packet processing under load) actually got: what is missing was taken
 * by something else, and the figure says nothing about the dropper.
 */
#ifndef NPBPF_BENCH_DROP_GEN_H
#define NPBPF_BENCH_DROP_GEN_H

#include <stddef.h>
#include <stdint.h>

#define BD_FRAME_LEN 60
#define BD_MAX_CPUS 2

enum bd_sender { BD_SND_LIVE, BD_SND_PACKET };

struct bd_gen_params {
	enum bd_sender kind;
	uint32_t cpus;     /* threads, on cores cpu[0..cpus) */
	int cpu[BD_MAX_CPUS];
	const char *netns; /* the pod's */
	uint32_t ifindex;  /* its eth0 */
	int prog_fd;       /* bd_gen (live) */
	uint8_t frame[BD_FRAME_LEN];
};

struct bd_gen;

/* The frame of the flood: pod -> receiver, UDP dport, 18 zero bytes of
 * payload, no UDP checksum (IPv4 allows none); IPv4 checksum set. */
void bd_gen_frame(uint8_t *f, uint16_t sport, uint16_t dport);

/* Starts the threads. 0 or -errno (logged). */
int bd_gen_start(const struct bd_gen_params *p, struct bd_gen **out);
/* CPU time so far, ns: the threads' plus the ksoftirqd of their cores. */
uint64_t bd_gen_cpu_ns(const struct bd_gen *g);
/* Frames the AF_PACKET threads handed to the socket so far (0 live: the
 * live generator counts in its program). */
uint64_t bd_gen_sent(const struct bd_gen *g);
/* Stops and joins the threads; 0 or the first error one of them met
 * (logged). NULL is fine. */
int bd_gen_stop(struct bd_gen *g);

/* The handler of the signal that cuts a running BPF_PROG_RUN short;
 * installed by the bench for the run, with the rest of its signals. */
#define BD_GEN_SIGNAL SIGUSR1
void bd_gen_on_signal(int sig);

#endif /* NPBPF_BENCH_DROP_GEN_H */
