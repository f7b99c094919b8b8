/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's metrics: a fixed registry of counters, gauges and histograms
 * with labels, safe to update from any thread, rendered in the Prometheus
 * text exposition format (version 0.0.4).
 *
 * One mutex guards the registry: updates are a few per sync or per API
 * event, not per packet (packet counters live in BPF maps and are copied in
 * with metrics_set when /metrics is rendered or the sync loop runs).
 *
 * Output order is stable: families in declaration order, each family's
 * series sorted by their label values (byte order, label by label), so two
 * scrapes of the same state are byte-identical whatever thread created
 * which series first. A family with labels and no series yet is left out
 * (as client_golang does); one without labels has its single series from
 * the start, at 0.
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
 * label names, comma separated, "" or NULL for none; buckets for a
 * histogram, upper bounds strictly ascending and finite, +Inf implied).
 * Returns a family id >= 0, or -EINVAL (a name or label name Prometheus
 * does not allow, "le" as a histogram label, buckets not ascending, buckets
 * given to another type), -EEXIST (name declared already), -ENOMEM.
 */
int metrics_declare(struct metrics *m, const char *name, const char *help, enum metric_type type,
		    const char *label_names, const double *buckets, size_t n_buckets);

/*
 * label_values: as many values as the family has label names, in order
 * (NULL when it has none; a NULL value is ""). A new label combination is
 * created on first use. A call that does not fit the family (unknown id,
 * observe on a counter, add/set on a histogram, a negative add on a
 * counter) does nothing: metrics must never take the agent down.
 * metrics_set works on counters too, for totals copied from elsewhere (the
 * BPF counters).
 */
void metrics_add(struct metrics *m, int family, const char *const *label_values, double v);
void metrics_set(struct metrics *m, int family, const char *const *label_values, double v);
void metrics_observe(struct metrics *m, int family, const char *const *label_values, double v);
/* Drops every series of a family (a gauge recomputed from scratch). A
 * family without labels goes back to 0. */
void metrics_reset(struct metrics *m, int family);
/* Drops the series whose first n_match label values are label_values'
 * (n_match 0: all of them, as metrics_reset). For info-style gauges whose
 * value lives in a label: npbpf_last_resource_version{kind,rv} drops
 * {kind="pods"} whatever its rv before setting the new one. */
void metrics_remove(struct metrics *m, int family, const char *const *label_values,
		    size_t n_match);

/*
 * Holds the registry (the lock is recursive: updates may be made while
 * holding it), so a scrape sees several updates all or none: a family
 * rebuilt with metrics_reset and metrics_add between metrics_lock and
 * metrics_unlock is never rendered half-filled (a counter that seemed to
 * drop would read as a counter reset to Prometheus). Keep it short:
 * /metrics waits meanwhile.
 */
void metrics_lock(struct metrics *m);
void metrics_unlock(struct metrics *m);

/* The exposition text, malloc'd into *out (free it), NUL-terminated; *len
 * without the NUL (len may be NULL). 0 or -ENOMEM. */
int metrics_render(struct metrics *m, char **out, size_t *len);

#endif /* NPBPF_METRICS_H */
