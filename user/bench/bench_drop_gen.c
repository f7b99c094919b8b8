/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_drop_gen.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_drop_net.h"
#include "inet_csum.h"
#include "log.h"

/* Frames per BPF_PROG_RUN: adapted so that one call lasts about this long
 * (a slow dropper makes the generator wait, and a stop must not). */
#define GEN_CALL_NS 20000000ull
#define GEN_MIN_REPEAT 1024u
#define GEN_MAX_REPEAT (1u << 22)
#define GEN_BATCH 64 /* frames per sendmmsg, and the live mode's batch */

struct gen_thread {
	struct bd_gen *g;
	pthread_t t;
	bool started;
	int cpu;
	pid_t ksoftirqd; /* of its core; 0 when not found */
	clockid_t clock;
	atomic_uint_least64_t sent; /* AF_PACKET: frames the socket took */
	int err;
};

struct bd_gen {
	struct bd_gen_params p;
	int netns_fd;
	atomic_int stop;
	atomic_int ready; /* threads that have their clock id */
	struct gen_thread th[BD_MAX_CPUS];
};

void bd_gen_on_signal(int sig)
{
	(void)sig; /* only there to interrupt the system call */
}

void bd_gen_frame(uint8_t *f, uint16_t sport, uint16_t dport)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);

	memset(f, 0, BD_FRAME_LEN);
	/* The pod's real MAC and address: the datapath's source checks pass,
	 * and what it drops, it drops for policy. */
	memcpy(eth->h_dest, bd_podh_mac, ETH_ALEN);
	memcpy(eth->h_source, bd_pod_mac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons(BD_FRAME_LEN - ETH_HLEN);
	ip->saddr = htonl(BD_POD_ADDR);
	ip->daddr = htonl(BD_RCV_ADDR);
	ip->check = inet_csum(ip, sizeof(*ip));
	udp->source = htons(sport);
	udp->dest = htons(dport);
	udp->len = htons(BD_FRAME_LEN - ETH_HLEN - sizeof(*ip));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run_live(struct gen_thread *th)
{
	const struct bd_gen_params *p = &th->g->p;
	uint32_t repeat = 65536;

	while (!atomic_load(&th->g->stop)) {
		struct xdp_md ctx = { .data_end = BD_FRAME_LEN, .ingress_ifindex = p->ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->frame,
			    .data_size_in = BD_FRAME_LEN, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = repeat,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = GEN_BATCH);
		uint64_t t0 = now_ns(), dt;
		int err = bpf_prog_test_run_opts(p->prog_fd, &o);

		if (err && err != -EINTR && errno != EINTR)
			return err < 0 ? err : -errno;
		dt = now_ns() - t0;
		if (!err && dt) {
			uint64_t r = (uint64_t)repeat * GEN_CALL_NS / dt;

			repeat = r < GEN_MIN_REPEAT ? GEN_MIN_REPEAT
			       : r > GEN_MAX_REPEAT ? GEN_MAX_REPEAT
						     : (uint32_t)r;
		}
	}
	return 0;
}

static int run_packet(struct gen_thread *th)
{
	const struct bd_gen_params *p = &th->g->p;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				   .sll_ifindex = (int)p->ifindex };
	struct mmsghdr msgs[GEN_BATCH];
	struct iovec iov = { .iov_base = (void *)p->frame, .iov_len = BD_FRAME_LEN };
	int one = 1, fd, err = 0;

	/* Protocol 0: this socket receives nothing, it only sends. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Straight to the driver, as the live mode does: a qdisc on the
	 * pod's eth0 would be a third party in the figure. */
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		goto out;
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < GEN_BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!atomic_load(&th->g->stop)) {
		int n = sendmmsg(fd, msgs, GEN_BATCH, 0);

		if (n > 0)
			atomic_fetch_add_explicit(&th->sent, (uint64_t)n, memory_order_relaxed);
		else if (n < 0 && errno != EINTR && errno != ENOBUFS && errno != EAGAIN) {
			err = -errno;
			break;
		}
	}
out:
	close(fd);
	return err;
}

static void *gen_main(void *arg)
{
	struct gen_thread *th = arg;
	sigset_t block;
	cpu_set_t set;

	/* Ctrl-C is the main thread's to handle; BD_GEN_SIGNAL stays open. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	CPU_ZERO(&set);
	CPU_SET(th->cpu, &set);
	if (pthread_getcpuclockid(pthread_self(), &th->clock))
		th->err = -EINVAL;
	else if (sched_setaffinity(0, sizeof(set), &set) || setns(th->g->netns_fd, CLONE_NEWNET))
		th->err = -errno;
	atomic_fetch_add(&th->g->ready, 1);
	if (th->err)
		return NULL;
	th->err = th->g->p.kind == BD_SND_LIVE ? run_live(th) : run_packet(th);
	return NULL;
}

/* The pid of ksoftirqd/cpu, or 0. Looked up once per core: a scan of
 * /proc per window would be the bench's own noise. */
static pid_t ksoftirqd_pid[BD_MAX_CPUS];
static bool ksoftirqd_known[BD_MAX_CPUS];

static pid_t scan_ksoftirqd(int cpu)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char want[32], path[300], comm[64];
	pid_t found = 0;

	if (!d)
		return 0;
	snprintf(want, sizeof(want), "ksoftirqd/%d\n", cpu);
	while (!found && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, want))
			found = (pid_t)atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
	return found;
}

static pid_t find_ksoftirqd(int cpu)
{
	if (cpu < 0 || cpu >= BD_MAX_CPUS)
		return scan_ksoftirqd(cpu);
	if (!ksoftirqd_known[cpu]) {
		ksoftirqd_pid[cpu] = scan_ksoftirqd(cpu);
		ksoftirqd_known[cpu] = true;
	}
	return ksoftirqd_pid[cpu];
}

/* The first field of /proc/PID/schedstat: ns on a CPU. */
static uint64_t task_ns(pid_t pid)
{
	char path[64];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

uint64_t bd_gen_cpu_ns(const struct bd_gen *g)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < g->p.cpus; i++) {
		struct timespec ts;

		if (!g->th[i].started)
			continue;
		if (!clock_gettime(g->th[i].clock, &ts))
			sum += (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (g->th[i].ksoftirqd)
			sum += task_ns(g->th[i].ksoftirqd);
	}
	return sum;
}

uint64_t bd_gen_sent(const struct bd_gen *g)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < g->p.cpus; i++)
		sum += atomic_load_explicit(&g->th[i].sent, memory_order_relaxed);
	return sum;
}

int bd_gen_start(const struct bd_gen_params *p, struct bd_gen **out)
{
	struct bd_gen *g = calloc(1, sizeof(*g));
	char path[128];
	int err = 0;

	*out = NULL;
	if (!g)
		return -ENOMEM;
	g->p = *p;
	snprintf(path, sizeof(path), "/run/netns/%s", p->netns);
	g->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (g->netns_fd < 0) {
		err = -errno;
		log_error("%s: %s", path, strerror(-err));
		free(g);
		return err;
	}
	for (uint32_t i = 0; i < p->cpus; i++) {
		struct gen_thread *th = &g->th[i];

		th->g = g;
		th->cpu = p->cpu[i];
		th->ksoftirqd = find_ksoftirqd(th->cpu);
		err = -pthread_create(&th->t, NULL, gen_main, th);
		if (err) {
			log_error("starting a generator thread: %s", strerror(-err));
			break;
		}
		th->started = true;
	}
	/* Their clocks exist once they run; sampled right after this. */
	while (!err && (uint32_t)atomic_load(&g->ready) < p->cpus)
		sched_yield();
	*out = g;
	if (err) {
		bd_gen_stop(g);
		*out = NULL;
	}
	return err;
}

int bd_gen_stop(struct bd_gen *g)
{
	int err = 0;

	if (!g)
		return 0;
	atomic_store(&g->stop, 1);
	for (uint32_t i = 0; i < g->p.cpus; i++) {
		struct gen_thread *th = &g->th[i];
		struct timespec ts;

		if (!th->started)
			continue;
		/* A signal cuts a long BPF_PROG_RUN short; one that arrives
		 * just before the call is repeated until the thread is gone. */
		do {
			pthread_kill(th->t, BD_GEN_SIGNAL);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 10000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
		} while (pthread_timedjoin_np(th->t, NULL, &ts) == ETIMEDOUT);
		if (th->err && !err) {
			err = th->err;
			log_error("the %s generator on CPU %d: %s",
				  g->p.kind == BD_SND_LIVE ? "live" : "AF_PACKET", th->cpu,
				  strerror(-err));
		}
	}
	close(g->netns_fd);
	free(g);
	return err;
}
