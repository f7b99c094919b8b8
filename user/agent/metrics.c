/* SPDX-License-Identifier: Apache-2.0 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
	char **values;	  /* one per label name */
	double value;	  /* counter, gauge */
	uint64_t *counts; /* histogram: per bucket, not cumulative; [n_buckets] is +Inf */
	double sum;
	uint64_t count;
};

struct family {
	char *name, *help;
	enum metric_type type;
	char **labels;
	size_t n_labels;
	double *buckets;
	size_t n_buckets;
	struct series *series; /* sorted by label values */
	size_t n_series, cap_series;
};

struct metrics {
	pthread_mutex_t lock;
	struct family *fams;
	size_t n_fams, cap_fams;
};

int metrics_new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));
	pthread_mutexattr_t attr;

	if (!m)
		return -ENOMEM;
	/* Recursive: metrics_lock's holder updates through the same calls. */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&m->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	*out = m;
	return 0;
}

static void series_free(const struct family *f, struct series *s)
{
	for (size_t i = 0; i < f->n_labels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->counts);
}

static void family_free(struct family *f)
{
	for (size_t i = 0; i < f->n_series; i++)
		series_free(f, &f->series[i]);
	free(f->series);
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->labels);
	free(f->buckets);
	free(f->name);
	free(f->help);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_fams; i++)
		family_free(&m->fams[i]);
	free(m->fams);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Prometheus' data model: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* and not "__..." (reserved). */
static bool valid_name(const char *s, size_t n, bool colon)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');

		if (!ok)
			return false;
	}
	return true;
}

/* Splits "a,b,c" into f->labels. 0, -EINVAL, -ENOMEM. */
static int parse_labels(struct family *f, const char *names)
{
	const char *p = names;

	if (!names || !*names)
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char **grown;

		if (!valid_name(p, n, false) || (n >= 2 && p[0] == '_' && p[1] == '_'))
			return -EINVAL;
		if (f->type == METRIC_HISTOGRAM && n == 2 && !memcmp(p, "le", 2))
			return -EINVAL;
		for (size_t i = 0; i < f->n_labels; i++)
			if (strlen(f->labels[i]) == n && !memcmp(f->labels[i], p, n))
				return -EINVAL;
		grown = realloc(f->labels, (f->n_labels + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		f->labels = grown;
		f->labels[f->n_labels] = strndup(p, n);
		if (!f->labels[f->n_labels])
			return -ENOMEM;
		f->n_labels++;
		if (!end)
			return 0;
		p = end + 1;
	}
}

/* Compares a series' label values with a caller's (NULL is ""), the first
 * n of them. */
static int cmp_values(char *const *have, const char *const *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *w = want && want[i] ? want[i] : "";
		int c = strcmp(have[i], w);

		if (c)
			return c;
	}
	return 0;
}

/* Binary search; *pos is where it is or would go. */
static struct series *find_series(struct family *f, const char *const *lv, size_t *pos)
{
	size_t lo = 0, hi = f->n_series;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_values(f->series[mid].values, lv, f->n_labels);

		if (!c) {
			*pos = mid;
			return &f->series[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return NULL;
}

/* The series of lv, created (zero) when missing; NULL without memory. */
static struct series *get_series(struct family *f, const char *const *lv)
{
	struct series s = { 0 }, *found;
	size_t pos;

	found = find_series(f, lv, &pos);
	if (found)
		return found;
	if (f->n_series == f->cap_series) {
		size_t cap = f->cap_series ? f->cap_series * 2 : 4;
		struct series *grown = realloc(f->series, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		f->series = grown;
		f->cap_series = cap;
	}
	/* calloc(0) may return NULL: always allocate at least one slot. */
	s.values = calloc(f->n_labels + 1, sizeof(*s.values));
	if (!s.values)
		return NULL;
	for (size_t i = 0; i < f->n_labels; i++) {
		s.values[i] = strdup(lv && lv[i] ? lv[i] : "");
		if (!s.values[i])
			goto oom;
	}
	if (f->type == METRIC_HISTOGRAM) {
		s.counts = calloc(f->n_buckets + 1, sizeof(*s.counts));
		if (!s.counts)
			goto oom;
	}
	memmove(&f->series[pos + 1], &f->series[pos], (f->n_series - pos) * sizeof(s));
	f->series[pos] = s;
	f->n_series++;
	return &f->series[pos];
oom:
	series_free(f, &s);
	return NULL;
}

int metrics_declare(struct metrics *m, const char *name, const char *help, enum metric_type type,
		    const char *label_names, const double *buckets, size_t n_buckets)
{
	struct family f = { .type = type };
	int err = -EINVAL, id;

	if (!name || !valid_name(name, strlen(name), true) || type > METRIC_HISTOGRAM)
		return -EINVAL;
	if (type != METRIC_HISTOGRAM ? n_buckets != 0 : (n_buckets && !buckets))
		return -EINVAL;
	for (size_t i = 0; i < n_buckets; i++)
		if (!isfinite(buckets[i]) || (i && !(buckets[i] > buckets[i - 1])))
			return -EINVAL;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_fams; i++) {
		if (!strcmp(m->fams[i].name, name)) {
			err = -EEXIST;
			goto out;
		}
	}
	err = parse_labels(&f, label_names);
	if (err)
		goto out;
	err = -ENOMEM;
	f.name = strdup(name);
	f.help = strdup(help ? help : "");
	if (!f.name || !f.help)
		goto out;
	if (n_buckets) {
		f.buckets = malloc(n_buckets * sizeof(*f.buckets));
		if (!f.buckets)
			goto out;
		memcpy(f.buckets, buckets, n_buckets * sizeof(*f.buckets));
		f.n_buckets = n_buckets;
	}
	/* Without labels there is one series; it exists from the start, so a
	 * counter that never moved is scraped as 0 rather than missing. */
	if (!f.n_labels && !get_series(&f, NULL))
		goto out;
	if (m->n_fams == m->cap_fams) {
		size_t cap = m->cap_fams ? m->cap_fams * 2 : 16;
		struct family *grown = realloc(m->fams, cap * sizeof(*grown));

		if (!grown)
			goto out;
		m->fams = grown;
		m->cap_fams = cap;
	}
	id = (int)m->n_fams;
	m->fams[m->n_fams++] = f;
	pthread_mutex_unlock(&m->lock);
	return id;
out:
	pthread_mutex_unlock(&m->lock);
	family_free(&f);
	return err;
}

/* The family of id if it has type (any type: -1), else NULL. Under lock. */
static struct family *family_of(struct metrics *m, int id, int type)
{
	struct family *f;

	if (id < 0 || (size_t)id >= m->n_fams)
		return NULL;
	f = &m->fams[id];
	if (type >= 0 && (int)f->type != type)
		return NULL;
	return f;
}

enum op { OP_ADD, OP_SET };

static void update(struct metrics *m, int family, const char *const *lv, double v, enum op op)
{
	struct family *f;
	struct series *s;

	pthread_mutex_lock(&m->lock);
	f = family_of(m, family, -1);
	if (!f || f->type == METRIC_HISTOGRAM)
		goto out;
	/* A counter only goes up (a reset is the process restarting). */
	if (f->type == METRIC_COUNTER && op == OP_ADD && !(v >= 0))
		goto out;
	s = get_series(f, lv);
	if (!s)
		goto out;
	if (op == OP_ADD)
		s->value += v;
	else
		s->value = v;
out:
	pthread_mutex_unlock(&m->lock);
}

void metrics_add(struct metrics *m, int family, const char *const *label_values, double v)
{
	update(m, family, label_values, v, OP_ADD);
}

void metrics_set(struct metrics *m, int family, const char *const *label_values, double v)
{
	update(m, family, label_values, v, OP_SET);
}

void metrics_observe(struct metrics *m, int family, const char *const *label_values, double v)
{
	struct family *f;
	struct series *s;
	size_t b = 0;

	if (isnan(v))
		return; /* would poison _sum forever */
	pthread_mutex_lock(&m->lock);
	f = family_of(m, family, METRIC_HISTOGRAM);
	if (!f)
		goto out;
	s = get_series(f, label_values);
	if (!s)
		goto out;
	/* le is inclusive: v goes into the first bucket whose bound is >= v
	 * (few buckets: a linear scan is as fast as a bisection). */
	while (b < f->n_buckets && v > f->buckets[b])
		b++;
	s->counts[b]++;
	s->count++;
	s->sum += v;
out:
	pthread_mutex_unlock(&m->lock);
}

void metrics_remove(struct metrics *m, int family, const char *const *label_values,
		    size_t n_match)
{
	struct family *f;
	size_t keep = 0;

	pthread_mutex_lock(&m->lock);
	f = family_of(m, family, -1);
	if (!f)
		goto out;
	if (n_match > f->n_labels)
		n_match = f->n_labels;
	if (!f->n_labels) {
		/* The one series stays, back at zero. */
		struct series *s = &f->series[0];

		s->value = s->sum = 0;
		s->count = 0;
		if (s->counts)
			memset(s->counts, 0, (f->n_buckets + 1) * sizeof(*s->counts));
		goto out;
	}
	for (size_t i = 0; i < f->n_series; i++) {
		if (!cmp_values(f->series[i].values, label_values, n_match))
			series_free(f, &f->series[i]);
		else
			f->series[keep++] = f->series[i];
	}
	f->n_series = keep;
out:
	pthread_mutex_unlock(&m->lock);
}

void metrics_reset(struct metrics *m, int family)
{
	metrics_remove(m, family, NULL, 0);
}

void metrics_lock(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
}

void metrics_unlock(struct metrics *m)
{
	pthread_mutex_unlock(&m->lock);
}

/* A sample value as Prometheus' parser reads it (Go's ParseFloat): +Inf,
 * -Inf, NaN; integers as integers; otherwise the shortest text that reads
 * back as the same double. */
static void put_value(FILE *o, double v)
{
	char buf[40];

	if (isnan(v)) {
		fputs("NaN", o);
	} else if (isinf(v)) {
		fputs(v > 0 ? "+Inf" : "-Inf", o);
	} else if (v == floor(v) && fabs(v) < 1e15) {
		fprintf(o, "%.0f", v == 0 ? 0.0 : v); /* no "-0" */
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		fputs(buf, o);
	}
}

/* A label value: backslash, double quote and line feed escaped (text
 * format 0.0.4). */
static void put_label_value(FILE *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", o);
		else if (*s == '"')
			fputs("\\\"", o);
		else if (*s == '\n')
			fputs("\\n", o);
		else
			fputc(*s, o);
	}
}

/* HELP text: backslash and line feed escaped, quotes as they are. */
static void put_help(FILE *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", o);
		else if (*s == '\n')
			fputs("\\n", o);
		else
			fputc(*s, o);
	}
}

/* name{a="x",b="y"[,le="..."]} — braces only when there is a label. */
static void put_series_name(FILE *o, const struct family *f, const struct series *s,
			    const char *suffix, const double *le)
{
	fprintf(o, "%s%s", f->name, suffix);
	if (!f->n_labels && !le)
		return;
	fputc('{', o);
	for (size_t i = 0; i < f->n_labels; i++) {
		fprintf(o, "%s%s=\"", i ? "," : "", f->labels[i]);
		put_label_value(o, s->values[i]);
		fputc('"', o);
	}
	if (le) {
		fprintf(o, "%sle=\"", f->n_labels ? "," : "");
		put_value(o, *le);
		fputc('"', o);
	}
	fputc('}', o);
}

static void render_family(FILE *o, const struct family *f)
{
	static const char *const type_name[] = { "counter", "gauge", "histogram" };
	const double inf = INFINITY;

	if (!f->n_series)
		return;
	fprintf(o, "# HELP %s ", f->name);
	put_help(o, f->help);
	fprintf(o, "\n# TYPE %s %s\n", f->name, type_name[f->type]);
	for (size_t i = 0; i < f->n_series; i++) {
		const struct series *s = &f->series[i];
		uint64_t cum = 0;

		if (f->type != METRIC_HISTOGRAM) {
			put_series_name(o, f, s, "", NULL);
			fputc(' ', o);
			put_value(o, s->value);
			fputc('\n', o);
			continue;
		}
		for (size_t b = 0; b <= f->n_buckets; b++) {
			cum += s->counts[b];
			put_series_name(o, f, s, "_bucket", b < f->n_buckets ? &f->buckets[b] : &inf);
			fprintf(o, " %" PRIu64 "\n", cum);
		}
		put_series_name(o, f, s, "_sum", NULL);
		fputc(' ', o);
		put_value(o, s->sum);
		fputc('\n', o);
		put_series_name(o, f, s, "_count", NULL);
		fprintf(o, " %" PRIu64 "\n", s->count);
	}
}

int metrics_render(struct metrics *m, char **out, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *o = open_memstream(&buf, &n);
	int err = 0;

	if (!o)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_fams; i++)
		render_family(o, &m->fams[i]);
	pthread_mutex_unlock(&m->lock);
	/* A memstream reports running out of memory as a write error. */
	if (ferror(o))
		err = -ENOMEM;
	if (fclose(o) && !err)
		err = -ENOMEM;
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	if (len)
		*len = n;
	return 0;
}
