/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <stdio.h>

static enum log_level current_level = LOG_WARN;
static const char *context;

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_set_context(const char *ctx)
{
	context = ctx;
}

const char *log_context(void)
{
	return context ? context : "npbpf";
}

__attribute__((format(printf, 3, 0))) static void
log_line(enum log_level level, const char *help_of, const char *fmt, va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };

	if (level > current_level)
		return;
	fprintf(stderr, "%s: %s", log_context(), prefix[level]);
	vfprintf(stderr, fmt, ap);
	if (help_of)
		fprintf(stderr, " (see '%s --help')", help_of);
	fputc('\n', stderr);
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
