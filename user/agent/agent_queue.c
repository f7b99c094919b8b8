/* SPDX-License-Identifier: Apache-2.0 */
/* What the reflector threads hand to the loop: events, "this kind is in
 * sync", relists. The callbacks only queue and wake the loop; the store is
 * the loop's alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent_int.h"
#include "log.h"
#include "vec.h"

int agent_queue_init(struct agent_queue *q)
{
	memset(q, 0, sizeof(*q));
	q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->wake_fd < 0)
		return -errno;
	pthread_mutex_init(&q->mu, NULL);
	return 0;
}

void agent_queue_free(struct agent_queue *q)
{
	for (size_t i = 0; i < q->n; i++)
		kube_event_free(q->ev[i]);
	free(q->ev);
	if (q->wake_fd >= 0)
		close(q->wake_fd);
	pthread_mutex_destroy(&q->mu);
	memset(q, 0, sizeof(*q));
	q->wake_fd = -1;
}

static void wake(struct agent_queue *q)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, the loop wakes anyway. */
	if (write(q->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("agent: wake: %s", strerror(errno));
}

static void on_event(void *ctx, struct kube_event *ev)
{
	struct agent *a = ctx;
	struct agent_queue *q = &a->q;
	struct kube_event **slot;

	pthread_mutex_lock(&q->mu);
	slot = VEC_PUSH(q->ev, q->n, q->cap);
	if (slot)
		*slot = ev;
	pthread_mutex_unlock(&q->mu);
	if (!slot) {
		/* Losing an event would leave the store wrong until the next
		 * relist: out of memory here is fatal for correctness, so say
		 * it loudly; the agent's memory limit is what must change. */
		log_error("agent: out of memory queueing a %s event for %s/%s: dropped",
			  kube_kind_name(ev->kind), ev->ns ? ev->ns : "", ev->name);
		kube_event_free(ev);
		return;
	}
	wake(q);
}

static void on_synced(void *ctx, enum kube_kind k, const char *rv)
{
	struct agent *a = ctx;
	struct agent_queue *q = &a->q;

	pthread_mutex_lock(&q->mu);
	q->synced[k] = true;
	snprintf(q->rv[k], sizeof(q->rv[k]), "%s", rv ? rv : "");
	pthread_mutex_unlock(&q->mu);
	wake(q);
}

static void on_relist(void *ctx, enum kube_kind k, enum reflector_relist_reason why)
{
	struct agent *a = ctx;
	const char *labels[] = { kube_kind_name(k), reflector_relist_reason_name(why) };

	metrics_add(a->m, a->mid.relists, labels, 1);
	pthread_mutex_lock(&a->q.mu);
	a->q.relists[k]++;
	pthread_mutex_unlock(&a->q.mu);
	if (why != RELIST_INITIAL)
		log_info("%s: relisting (%s)", kube_kind_name(k), reflector_relist_reason_name(why));
}

static void on_progress(void *ctx, enum kube_kind k, const char *rv)
{
	struct agent *a = ctx;
	struct agent_queue *q = &a->q;

	pthread_mutex_lock(&q->mu);
	snprintf(q->rv[k], sizeof(q->rv[k]), "%s", rv ? rv : "");
	pthread_mutex_unlock(&q->mu);
	/* A bookmark moves what the maps are current to when nothing is
	 * pending: the loop reports it (status, the lab's wait). */
	wake(q);
}

void agent_queue_sink(struct agent *a, struct reflector_sink *sink)
{
	*sink = (struct reflector_sink){
		.event = on_event,
		.synced = on_synced,
		.relist = on_relist,
		.progress = on_progress,
		.ctx = a,
	};
}

void agent_queue_take(struct agent_queue *q, struct kube_event ***ev, size_t *n,
		      bool synced[KUBE_N_KINDS], char rv[KUBE_N_KINDS][128])
{
	uint64_t drain;

	if (read(q->wake_fd, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
		log_debug("agent: wake read: %s", strerror(errno));
	pthread_mutex_lock(&q->mu);
	*ev = q->ev;
	*n = q->n;
	q->ev = NULL;
	q->n = q->cap = 0;
	memcpy(synced, q->synced, sizeof(q->synced));
	memcpy(rv, q->rv, sizeof(q->rv));
	pthread_mutex_unlock(&q->mu);
}
