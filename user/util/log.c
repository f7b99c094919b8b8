/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_WARN;
static enum log_format current_format = LOG_FORMAT_TEXT;
static const char *context;

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_set_format(enum log_format f)
{
	current_format = f;
}

enum log_format log_get_format(void)
{
	return current_format;
}

void log_set_context(const char *ctx)
{
	context = ctx;
}

const char *log_context(void)
{
	return context ? context : "npbpf";
}

/*
 * A growable line. Most lines fit the inline buffer; a longer one moves to
 * the heap. When even that fails the line is cut, never dropped: a log line
 * about running out of memory should still come out.
 */
struct line {
	char *p;
	size_t len, cap;
	bool heap;
	char inline_buf[1024];
};

static void line_init(struct line *l)
{
	l->p = l->inline_buf;
	l->len = 0;
	l->cap = sizeof(l->inline_buf);
	l->heap = false;
}

static void line_free(struct line *l)
{
	if (l->heap)
		free(l->p);
}

/* Room for n more bytes (plus a NUL); false when only the rest fits. */
static bool line_reserve(struct line *l, size_t n)
{
	size_t cap;
	char *p;

	if (l->len + n < l->cap)
		return true;
	cap = l->cap * 2;
	while (cap <= l->len + n)
		cap *= 2;
	p = l->heap ? realloc(l->p, cap) : malloc(cap);
	if (!p)
		return false;
	if (!l->heap)
		memcpy(p, l->p, l->len);
	l->p = p;
	l->cap = cap;
	l->heap = true;
	return true;
}

static void line_put(struct line *l, const char *s, size_t n)
{
	if (!line_reserve(l, n))
		n = l->cap - 1 - l->len;
	memcpy(l->p + l->len, s, n);
	l->len += n;
	l->p[l->len] = '\0';
}

static void line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

__attribute__((format(printf, 2, 0))) static void line_vprintf(struct line *l, const char *fmt,
								 va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(l->p + l->len, l->cap - l->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n >= l->cap - l->len) {
		if (line_reserve(l, (size_t)n)) {
			vsnprintf(l->p + l->len, l->cap - l->len, fmt, ap);
		} else {
			l->len = l->cap - 1; /* cut */
			return;
		}
	}
	l->len += (size_t)n;
}

__attribute__((format(printf, 2, 3))) static void line_printf(struct line *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line_vprintf(l, fmt, ap);
	va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid:
 * JSON must be UTF-8, and a message can quote bytes from anywhere (an
 * interface name, a server's reply). Overlongs and surrogates are invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* s as the contents of a JSON string (RFC 8259): quote, backslash and
 * control characters escaped, invalid UTF-8 bytes as U+FFFD. */
static void line_put_json(struct line *l, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	char esc[8];

	while (i < n) {
		switch (u[i]) {
		case '"': line_puts(l, "\\\""); break;
		case '\\': line_puts(l, "\\\\"); break;
		case '\n': line_puts(l, "\\n"); break;
		case '\r': line_puts(l, "\\r"); break;
		case '\t': line_puts(l, "\\t"); break;
		case '\b': line_puts(l, "\\b"); break;
		case '\f': line_puts(l, "\\f"); break;
		default:
			if (u[i] < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
				line_puts(l, esc);
				break;
			}
			k = utf8_len(u + i, n - i);
			if (!k) {
				line_puts(l, "\\ufffd");
				break;
			}
			line_put(l, s + i, k);
			i += k;
			continue;
		}
		i++;
	}
}

/* The whole line in one write(2): stderr is unbuffered, so stdio would
 * write it piecewise and threads' lines could interleave. A pipe takes
 * writes up to PIPE_BUF atomically; longer ones may still be split by a
 * reader, never mixed by us. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere to report it */
		}
		p += w;
		n -= (size_t)w;
	}
}

static void put_timestamp(struct line *l)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	line_printf(l, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

__attribute__((format(printf, 3, 0))) static void
log_line(enum log_level level, const char *help_of, const char *fmt, va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	static const char *const name[] = { "error", "warn", "info", "debug" };
	struct line l, msg;
	int saved = errno; /* callers may log between a failure and strerror(errno) */

	if (level > current_level)
		return;
	line_init(&l);
	if (current_format == LOG_FORMAT_JSON) {
		line_init(&msg);
		line_vprintf(&msg, fmt, ap);
		if (help_of)
			line_printf(&msg, " (see '%s --help')", help_of);
		line_puts(&l, "{\"ts\":\"");
		put_timestamp(&l);
		line_printf(&l, "\",\"level\":\"%s\",\"ctx\":\"", name[level]);
		line_put_json(&l, log_context(), strlen(log_context()));
		line_puts(&l, "\",\"msg\":\"");
		line_put_json(&l, msg.p, msg.len);
		line_puts(&l, "\"}");
		line_free(&msg);
	} else {
		line_printf(&l, "%s: %s", log_context(), prefix[level]);
		line_vprintf(&l, fmt, ap);
		if (help_of)
			line_printf(&l, " (see '%s --help')", help_of);
	}
	/* A cut line still ends its line (and a JSON one its object's quote
	 * may be lost: better than two lines run together). */
	if (l.len == l.cap - 1)
		l.len--;
	line_put(&l, "\n", 1);
	write_all(fileno(stderr), l.p, l.len);
	line_free(&l);
	errno = saved;
}

void log_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_ERROR, log_context(), fmt, ap);
	va_end(ap);
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	log_line(level, NULL, fmt, ap);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
