/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics registry (Prometheus text 0.0.4, exactly) and the log lines
 * (text unchanged, JSON, one write per line). */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

static struct metrics *m;

static void setup(void)
{
	cr_assert_eq(metrics_new(&m), 0);
}

static void teardown(void)
{
	metrics_free(m);
}

TestSuite(metrics, .init = setup, .fini = teardown);

static char *render(void)
{
	char *out = NULL;
	size_t len = 0;

	cr_assert_eq(metrics_render(m, &out, &len), 0);
	cr_assert_eq(strlen(out), len);
	return out;
}

static void expect(const char *want)
{
	char *got = render();

	cr_expect_str_eq(got, want);
	free(got);
}

Test(metrics, counter_without_labels_starts_at_zero)
{
	int c = metrics_declare(m, "npbpf_sync_errors_total", "Syncs that failed.", METRIC_COUNTER,
				"", NULL, 0);

	cr_assert_geq(c, 0);
	expect("# HELP npbpf_sync_errors_total Syncs that failed.\n"
	       "# TYPE npbpf_sync_errors_total counter\n"
	       "npbpf_sync_errors_total 0\n");
	metrics_add(m, c, NULL, 1);
	metrics_add(m, c, NULL, 2.5);
	metrics_add(m, c, NULL, -1); /* counters never go down: ignored */
	expect("# HELP npbpf_sync_errors_total Syncs that failed.\n"
	       "# TYPE npbpf_sync_errors_total counter\n"
	       "npbpf_sync_errors_total 3.5\n");
}

Test(metrics, counter_with_labels_in_sorted_order)
{
	int c = metrics_declare(m, "npbpf_api_events_total", "Events.", METRIC_COUNTER,
				"kind,type", NULL, 0);
	const char *pm[] = { "pods", "MODIFIED" }, *pa[] = { "pods", "ADDED" },
		   *na[] = { "namespaces", "ADDED" };

	cr_assert_geq(c, 0);
	/* Declared but no series yet: not rendered (client_golang does the same). */
	expect("");
	metrics_add(m, c, pm, 1);
	metrics_add(m, c, pa, 2);
	metrics_add(m, c, na, 1);
	metrics_add(m, c, pm, 1);
	expect("# HELP npbpf_api_events_total Events.\n"
	       "# TYPE npbpf_api_events_total counter\n"
	       "npbpf_api_events_total{kind=\"namespaces\",type=\"ADDED\"} 1\n"
	       "npbpf_api_events_total{kind=\"pods\",type=\"ADDED\"} 2\n"
	       "npbpf_api_events_total{kind=\"pods\",type=\"MODIFIED\"} 2\n");
}

Test(metrics, gauge_set_add_and_families_in_declaration_order)
{
	int g = metrics_declare(m, "npbpf_map_entries", "Entries.", METRIC_GAUGE, "map", NULL, 0);
	int r = metrics_declare(m, "npbpf_ready", "Ready.", METRIC_GAUGE, NULL, NULL, 0);
	const char *pol[] = { "npbpf_policy" }, *ipc[] = { "npbpf_ipc_host" };

	metrics_set(m, g, pol, 121018);
	metrics_set(m, g, ipc, 5);
	metrics_add(m, g, ipc, -2);
	metrics_set(m, r, NULL, 1);
	expect("# HELP npbpf_map_entries Entries.\n"
	       "# TYPE npbpf_map_entries gauge\n"
	       "npbpf_map_entries{map=\"npbpf_ipc_host\"} 3\n"
	       "npbpf_map_entries{map=\"npbpf_policy\"} 121018\n"
	       "# HELP npbpf_ready Ready.\n"
	       "# TYPE npbpf_ready gauge\n"
	       "npbpf_ready 1\n");
}

Test(metrics, value_formats)
{
	int g = metrics_declare(m, "g", "", METRIC_GAUGE, "v", NULL, 0);
	const char *a[] = { "a" }, *b[] = { "b" }, *c[] = { "c" }, *d[] = { "d" }, *e[] = { "e" },
		   *f[] = { "f" }, *h[] = { "h" };

	metrics_set(m, g, a, 0.1);
	metrics_set(m, g, b, 1e20);
	metrics_set(m, g, c, NAN);
	metrics_set(m, g, d, INFINITY);
	metrics_set(m, g, e, -INFINITY);
	metrics_set(m, g, f, -0.0);
	metrics_set(m, g, h, 4294967295.0);
	expect("# HELP g \n"
	       "# TYPE g gauge\n"
	       "g{v=\"a\"} 0.1\n"
	       "g{v=\"b\"} 1e+20\n"
	       "g{v=\"c\"} NaN\n"
	       "g{v=\"d\"} +Inf\n"
	       "g{v=\"e\"} -Inf\n"
	       "g{v=\"f\"} 0\n"
	       "g{v=\"h\"} 4294967295\n");
}

Test(metrics, escaping)
{
	int g = metrics_declare(m, "npbpf_last_resource_version", "A \"quoted\" back\\slash\nnewline",
				METRIC_GAUGE, "kind,rv", NULL, 0);
	const char *lv[] = { "a\\b", "say \"hi\"\nbye" };
	const char *nul[] = { "x", NULL };

	metrics_set(m, g, lv, 1);
	metrics_set(m, g, nul, 2);
	/* Label values: \\, \" and \n. HELP: \\ and \n, quotes as they are. */
	expect("# HELP npbpf_last_resource_version A \"quoted\" back\\\\slash\\nnewline\n"
	       "# TYPE npbpf_last_resource_version gauge\n"
	       "npbpf_last_resource_version{kind=\"a\\\\b\",rv=\"say \\\"hi\\\"\\nbye\"} 1\n"
	       "npbpf_last_resource_version{kind=\"x\",rv=\"\"} 2\n");
}

Test(metrics, histogram_exact)
{
	static const double b[] = { 0.005, 0.1, 1, 2.5 };
	int h = metrics_declare(m, "npbpf_event_to_enforced_seconds", "Latency.",
				METRIC_HISTOGRAM, "kind", b, 4);
	const char *pods[] = { "pods" }, *ns[] = { "namespaces" };

	cr_assert_geq(h, 0);
	metrics_observe(m, h, pods, 0.001);
	metrics_observe(m, h, pods, 0.05);
	metrics_observe(m, h, pods, 0.05);
	metrics_observe(m, h, pods, 3);
	metrics_observe(m, h, ns, 0.5);
	metrics_observe(m, h, ns, NAN); /* ignored */
	expect("# HELP npbpf_event_to_enforced_seconds Latency.\n"
	       "# TYPE npbpf_event_to_enforced_seconds histogram\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"namespaces\",le=\"0.005\"} 0\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"namespaces\",le=\"0.1\"} 0\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"namespaces\",le=\"1\"} 1\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"namespaces\",le=\"2.5\"} 1\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"namespaces\",le=\"+Inf\"} 1\n"
	       "npbpf_event_to_enforced_seconds_sum{kind=\"namespaces\"} 0.5\n"
	       "npbpf_event_to_enforced_seconds_count{kind=\"namespaces\"} 1\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"pods\",le=\"0.005\"} 1\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"pods\",le=\"0.1\"} 3\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"pods\",le=\"1\"} 3\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"pods\",le=\"2.5\"} 3\n"
	       "npbpf_event_to_enforced_seconds_bucket{kind=\"pods\",le=\"+Inf\"} 4\n"
	       "npbpf_event_to_enforced_seconds_sum{kind=\"pods\"} 3.101\n"
	       "npbpf_event_to_enforced_seconds_count{kind=\"pods\"} 4\n");
}

Test(metrics, histogram_without_labels)
{
	static const double b[] = { 1 };
	int h = metrics_declare(m, "npbpf_sync_duration_seconds", "Sync.", METRIC_HISTOGRAM, "", b,
				1);

	/* Present from the start, all zero. */
	expect("# HELP npbpf_sync_duration_seconds Sync.\n"
	       "# TYPE npbpf_sync_duration_seconds histogram\n"
	       "npbpf_sync_duration_seconds_bucket{le=\"1\"} 0\n"
	       "npbpf_sync_duration_seconds_bucket{le=\"+Inf\"} 0\n"
	       "npbpf_sync_duration_seconds_sum 0\n"
	       "npbpf_sync_duration_seconds_count 0\n");
	metrics_observe(m, h, NULL, 0.25);
	expect("# HELP npbpf_sync_duration_seconds Sync.\n"
	       "# TYPE npbpf_sync_duration_seconds histogram\n"
	       "npbpf_sync_duration_seconds_bucket{le=\"1\"} 1\n"
	       "npbpf_sync_duration_seconds_bucket{le=\"+Inf\"} 1\n"
	       "npbpf_sync_duration_seconds_sum 0.25\n"
	       "npbpf_sync_duration_seconds_count 1\n");
}

/* le is inclusive: a value equal to a bound counts in that bucket; just
 * above it, in the next. */
Test(metrics, histogram_bucket_boundaries)
{
	static const double b[] = { 0.1, 1, 10 };
	int h = metrics_declare(m, "h", "", METRIC_HISTOGRAM, "", b, 3);

	metrics_observe(m, h, NULL, -5);		 /* le=0.1 */
	metrics_observe(m, h, NULL, 0.1);		 /* le=0.1 */
	metrics_observe(m, h, NULL, nextafter(0.1, 1)); /* le=1 */
	metrics_observe(m, h, NULL, 1);		 /* le=1 */
	metrics_observe(m, h, NULL, 10);		 /* le=10 */
	metrics_observe(m, h, NULL, nextafter(10, 11)); /* +Inf */
	metrics_observe(m, h, NULL, INFINITY);	 /* +Inf */
	{
		char *got = render();

		cr_expect(strstr(got, "h_bucket{le=\"0.1\"} 2\n"), "%s", got);
		cr_expect(strstr(got, "h_bucket{le=\"1\"} 4\n"), "%s", got);
		cr_expect(strstr(got, "h_bucket{le=\"10\"} 5\n"), "%s", got);
		cr_expect(strstr(got, "h_bucket{le=\"+Inf\"} 7\n"), "%s", got);
		cr_expect(strstr(got, "h_sum +Inf\n"), "%s", got);
		cr_expect(strstr(got, "h_count 7\n"), "%s", got);
		free(got);
	}
}

Test(metrics, declare_refuses)
{
	static const double up[] = { 1, 2 }, down[] = { 2, 1 }, same[] = { 1, 1 },
			    inf[] = { 1, INFINITY };

	cr_expect_eq(metrics_declare(m, "ok_total", "", METRIC_COUNTER, "a,b", NULL, 0), 0);
	cr_expect_eq(metrics_declare(m, "ok_total", "", METRIC_COUNTER, "", NULL, 0), -EEXIST);
	cr_expect_eq(metrics_declare(m, "9lives", "", METRIC_GAUGE, "", NULL, 0), -EINVAL);
	cr_expect_eq(metrics_declare(m, "has-dash", "", METRIC_GAUGE, "", NULL, 0), -EINVAL);
	cr_expect_eq(metrics_declare(m, "", "", METRIC_GAUGE, "", NULL, 0), -EINVAL);
	cr_expect_eq(metrics_declare(m, "l1", "", METRIC_GAUGE, "a,,b", NULL, 0), -EINVAL);
	cr_expect_eq(metrics_declare(m, "l2", "", METRIC_GAUGE, "a,a", NULL, 0), -EINVAL);
	cr_expect_eq(metrics_declare(m, "l3", "", METRIC_GAUGE, "__x", NULL, 0), -EINVAL);
	cr_expect_eq(metrics_declare(m, "l4", "", METRIC_GAUGE, "a:b", NULL, 0), -EINVAL);
	cr_expect_eq(metrics_declare(m, "h1", "", METRIC_HISTOGRAM, "le", up, 2), -EINVAL);
	cr_expect_eq(metrics_declare(m, "h2", "", METRIC_HISTOGRAM, "", down, 2), -EINVAL);
	cr_expect_eq(metrics_declare(m, "h3", "", METRIC_HISTOGRAM, "", same, 2), -EINVAL);
	cr_expect_eq(metrics_declare(m, "h4", "", METRIC_HISTOGRAM, "", inf, 2), -EINVAL);
	cr_expect_eq(metrics_declare(m, "g1", "", METRIC_GAUGE, "", up, 2), -EINVAL);
	cr_expect_eq(metrics_declare(m, "recording:rule_ok", "", METRIC_GAUGE, "le", NULL, 0), 1);
	cr_expect_eq(metrics_declare(m, "h5", "", METRIC_HISTOGRAM, "", up, 2), 2);
}

Test(metrics, wrong_calls_do_nothing)
{
	int c = metrics_declare(m, "c_total", "", METRIC_COUNTER, "", NULL, 0);
	int h = metrics_declare(m, "h", "", METRIC_HISTOGRAM, "", NULL, 0);

	metrics_observe(m, c, NULL, 1);
	metrics_add(m, h, NULL, 1);
	metrics_set(m, h, NULL, 1);
	metrics_add(m, 99, NULL, 1);
	metrics_add(m, -1, NULL, 1);
	metrics_reset(m, 99);
	expect("# HELP c_total \n# TYPE c_total counter\nc_total 0\n"
	       "# HELP h \n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

Test(metrics, reset_and_remove)
{
	int g = metrics_declare(m, "rv", "", METRIC_GAUGE, "kind,rv", NULL, 0);
	int n = metrics_declare(m, "n", "", METRIC_GAUGE, "", NULL, 0);
	const char *p1[] = { "pods", "100" }, *p2[] = { "pods", "101" }, *s1[] = { "ns", "7" };

	metrics_set(m, g, p1, 1);
	metrics_set(m, g, s1, 1);
	metrics_set(m, n, NULL, 5);
	/* A new rv for pods: the old pods series goes, the namespaces one stays. */
	metrics_remove(m, g, p2, 1);
	metrics_set(m, g, p2, 1);
	expect("# HELP rv \n# TYPE rv gauge\nrv{kind=\"ns\",rv=\"7\"} 1\nrv{kind=\"pods\",rv=\"101\"} 1\n"
	       "# HELP n \n# TYPE n gauge\nn 5\n");
	metrics_reset(m, g);
	metrics_reset(m, n);
	expect("# HELP n \n# TYPE n gauge\nn 0\n");
}

/* metrics_lock holds off a render while a family is rebuilt; updates inside
 * it still work (the lock is recursive). */
Test(metrics, lock_is_recursive)
{
	int c = metrics_declare(m, "c_total", "", METRIC_COUNTER, "k", NULL, 0);
	const char *k[] = { "x" };

	metrics_lock(m);
	metrics_reset(m, c);
	metrics_add(m, c, k, 3);
	metrics_unlock(m);
	expect("# HELP c_total \n# TYPE c_total counter\nc_total{k=\"x\"} 3\n");
}

#define THREADS 4
#define ROUNDS 20000

struct worker {
	int c, h, id;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	char own[16];
	const char *shared[] = { "shared" }, *mine[] = { own };

	snprintf(own, sizeof(own), "t%d", w->id);
	for (int i = 0; i < ROUNDS; i++) {
		metrics_add(m, w->c, shared, 1);
		metrics_add(m, w->c, mine, 0.5);
		metrics_observe(m, w->h, shared, (i % 4) * 0.5); /* 0, .5, 1, 1.5 */
		if (i % 1000 == 0) {
			char *out = NULL;

			cr_assert_eq(metrics_render(m, &out, NULL), 0);
			free(out);
		}
	}
	return NULL;
}

Test(metrics, concurrent_updates_sum)
{
	static const double b[] = { 0.5, 1 };
	struct worker w[THREADS];
	pthread_t t[THREADS];
	char line[128], *got;
	int c = metrics_declare(m, "c_total", "", METRIC_COUNTER, "who", NULL, 0);
	int h = metrics_declare(m, "h", "", METRIC_HISTOGRAM, "who", b, 2);

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .c = c, .h = h, .id = i };
		cr_assert_eq(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	got = render();
	snprintf(line, sizeof(line), "c_total{who=\"shared\"} %d\n", THREADS * ROUNDS);
	cr_expect(strstr(got, line), "%s", got);
	for (int i = 0; i < THREADS; i++) {
		snprintf(line, sizeof(line), "c_total{who=\"t%d\"} %d\n", i, ROUNDS / 2);
		cr_expect(strstr(got, line), "%s", got);
	}
	snprintf(line, sizeof(line), "h_bucket{who=\"shared\",le=\"0.5\"} %d\n",
		 THREADS * ROUNDS / 2);
	cr_expect(strstr(got, line), "%s", got);
	snprintf(line, sizeof(line), "h_bucket{who=\"shared\",le=\"1\"} %d\n",
		 THREADS * ROUNDS * 3 / 4);
	cr_expect(strstr(got, line), "%s", got);
	snprintf(line, sizeof(line), "h_count{who=\"shared\"} %d\n", THREADS * ROUNDS);
	cr_expect(strstr(got, line), "%s", got);
	/* 0 + .5 + 1 + 1.5 = 3 per 4 observations: exact in binary. */
	snprintf(line, sizeof(line), "h_sum{who=\"shared\"} %d\n", THREADS * ROUNDS * 3 / 4);
	cr_expect(strstr(got, line), "%s", got);
	free(got);
}

/* ---- log lines ---- */

/* Runs fn with stderr going to a temporary file; returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *buf;
	long n;

	cr_assert(tmp && saved >= 0);
	fflush(stderr);
	cr_assert_geq(dup2(fileno(tmp), STDERR_FILENO), 0);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = lseek(fileno(tmp), 0, SEEK_END);
	cr_assert_geq(n, 0);
	buf = calloc(1, (size_t)n + 1);
	cr_assert(buf);
	cr_assert_eq(pread(fileno(tmp), buf, (size_t)n, 0), n);
	fclose(tmp);
	return buf;
}

static void log_text_lines(void)
{
	log_set_level(LOG_INFO);
	log_set_context("npbpf agent");
	log_error("boom %d", 42);
	log_warn("careful");
	log_info("plain");
	log_debug("hidden at info");
	log_usage("--listen: bad");
	log_set_context(NULL);
	log_warn("no context");
}

Test(log, text_format_unchanged)
{
	char *got = capture_stderr(log_text_lines);

	cr_expect_str_eq(got, "npbpf agent: error: boom 42\n"
			      "npbpf agent: warning: careful\n"
			      "npbpf agent: plain\n"
			      "npbpf agent: error: --listen: bad (see 'npbpf agent --help')\n"
			      "npbpf: warning: no context\n");
	free(got);
}

static void log_json_lines(void)
{
	log_set_format(LOG_FORMAT_JSON);
	log_set_level(LOG_DEBUG);
	log_set_context("npbpf \"agent\"");
	log_info("sync done in %d ms", 12);
	log_error("quote \" backslash \\ newline \n tab \t bell \a end");
	log_warn("bad utf-8 \xff\xc3 ok \xc3\xa9 \xed\xa0\x80 done");
	log_debug("d");
	log_usage("--log-format: 'x'");
}

Test(log, json_format)
{
	char *got = capture_stderr(log_json_lines), *save = NULL, *line;
	static const char *const want[] = {
		"\",\"level\":\"info\",\"ctx\":\"npbpf \\\"agent\\\"\",\"msg\":\"sync done in 12 ms\"}",
		"\",\"level\":\"error\",\"ctx\":\"npbpf \\\"agent\\\"\",\"msg\":\"quote \\\" "
		"backslash \\\\ newline \\n tab \\t bell \\u0007 end\"}",
		"\",\"level\":\"warn\",\"ctx\":\"npbpf \\\"agent\\\"\",\"msg\":\"bad utf-8 "
		"\\ufffd\\ufffd ok \xc3\xa9 \\ufffd\\ufffd\\ufffd done\"}",
		"\",\"level\":\"debug\",\"ctx\":\"npbpf \\\"agent\\\"\",\"msg\":\"d\"}",
		"\",\"level\":\"error\",\"ctx\":\"npbpf \\\"agent\\\"\",\"msg\":\"--log-format: 'x' "
		"(see 'npbpf \\\"agent\\\" --help')\"}",
	};
	regex_t re;
	size_t i = 0;

	cr_assert_eq(regcomp(&re,
			     "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
			     "\\.[0-9]{3}Z",
			     REG_EXTENDED | REG_NOSUB),
		     0);
	for (line = strtok_r(got, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		cr_assert_lt(i, sizeof(want) / sizeof(want[0]), "extra line %s", line);
		cr_expect_eq(regexec(&re, line, 0, NULL, 0), 0, "%s", line);
		/* After the 31-byte head {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ */
		cr_expect_str_eq(line + 31, want[i]);
	}
	cr_expect_eq(i, sizeof(want) / sizeof(want[0]));
	regfree(&re);
	free(got);
}

static void log_long_line(void)
{
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_set_format(LOG_FORMAT_TEXT);
	log_error("%s|%s", big, big);
	log_set_format(LOG_FORMAT_JSON);
	log_error("%s", big);
}

Test(log, long_lines_whole)
{
	char *got = capture_stderr(log_long_line), *nl;

	cr_assert(!strncmp(got, "npbpf: error: xxx", 17));
	nl = strchr(got, '\n');
	cr_assert(nl);
	cr_expect_eq(nl - got, 14 + 4999 * 2 + 1);
	/* head, ","level":"error","ctx":"npbpf","msg":", the message, "} */
	cr_expect_eq(strlen(nl + 1), 31 + 39 + 4999 + 3);
	cr_expect_str_eq(nl + 1 + 31 + 39 + 4999, "\"}\n");
	free(got);
}

#define LOG_THREADS 4
#define LOG_LINES 500

static void *log_many(void *arg)
{
	char pad[3000];
	int id = (int)(long)arg;

	/* Longer than the inline buffer, far longer than what stdio writes
	 * in one piece when stderr is unbuffered. */
	memset(pad, 'a' + id, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < LOG_LINES; i++)
		log_warn("thread %d line %d %s end", id, i, pad);
	return NULL;
}

static void log_threads(void)
{
	pthread_t t[LOG_THREADS];

	log_set_format(LOG_FORMAT_TEXT);
	for (long i = 0; i < LOG_THREADS; i++)
		pthread_create(&t[i], NULL, log_many, (void *)i);
	for (int i = 0; i < LOG_THREADS; i++)
		pthread_join(t[i], NULL);
}

/* Every line comes out whole: one thread's letter from start to end. */
Test(log, threads_never_interleave)
{
	char *got = capture_stderr(log_threads), *save = NULL, *line;
	int n = 0, per[LOG_THREADS] = { 0 };

	for (line = strtok_r(got, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		int id, i, off = 0;
		char c;

		cr_assert_eq(sscanf(line, "npbpf: warning: thread %d line %d %n", &id, &i, &off), 2,
			     "%.80s", line);
		cr_assert(id >= 0 && id < LOG_THREADS);
		c = (char)('a' + id);
		for (int k = 0; k < 2999; k++)
			cr_assert_eq(line[off + k], c, "line %d of thread %d mixed", i, id);
		cr_assert_str_eq(line + off + 2999, " end");
		per[id]++;
	}
	cr_expect_eq(n, LOG_THREADS * LOG_LINES);
	for (int i = 0; i < LOG_THREADS; i++)
		cr_expect_eq(per[i], LOG_LINES);
	free(got);
}
