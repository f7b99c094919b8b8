/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's metrics: a fixed registry of counters, gauges and histograms
 * with labels, safe to update from any thread, rendered in the Prometheus
 * text exposition format (version 0.0.4).
 */
#ifndef NPBPF_METRICS_H
#define NPBPF_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

/* 0 or -ENOMEM. */
int metrics_new(struct metrics **out);
void metrics_free(struct metrics *m);

/*
 * Declares a family once (name like "npbpf_api_events_total", help text,
 * label names, comma separated, "" for none; buckets for a histogram, upper
 * bounds ascending, +Inf implied). Returns a family id >= 0 or -errno.
 */
int metrics_declare(struct metrics *m, const char *name, const char *help, enum metric_type type,
		    const char *label_names, const double *buckets, size_t n_buckets);
/* label_values: as many values as the family has label names, in order.
 * A new label combination is created on first use. */
void metrics_add(struct metrics *m, int family, const char *const *label_values, double v);
void metrics_set(struct metrics *m, int family, const char *const *label_values, double v);
void metrics_observe(struct metrics *m, int family, const char *const *label_values, double v);
/* Drops every series of a family (a gauge recomputed from scratch). */
void metrics_reset(struct metrics *m, int family);

/* The exposition text, malloc'd into *out (free it). 0 or -ENOMEM. */
int metrics_render(struct metrics *m, char **out, size_t *len);

#endif /* NPBPF_METRICS_H */
