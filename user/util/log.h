/* SPDX-License-Identifier: Apache-2.0 */
/* The one logging helper: leveled printf to stderr. libbpf's own messages are
 * routed through it too (log_libbpf_print). Every line starts with the
 * context, "npbpf" or the command that runs ("npbpf explain"), so a message
 * from any layer says which program and command it comes from.
 *
 * Each line is formatted whole and written with one write(2), so lines
 * logged by several threads (the agent's) never interleave. LOG_FORMAT_JSON
 * (the agent's --log-format json) writes one JSON object per line instead:
 * {"ts":"2026-12-06T12:00:00.123Z","level":"info","ctx":"npbpf agent","msg":"..."}
 * for log collectors that parse them. */
#ifndef NPBPF_LOG_H
#define NPBPF_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

enum log_format {
	LOG_FORMAT_TEXT = 0, /* "npbpf explain: error: ..." (the default) */
	LOG_FORMAT_JSON = 1, /* one JSON object per line */
};

void log_set_level(enum log_level level);
void log_set_format(enum log_format f);
enum log_format log_get_format(void);
/* ctx must outlive its use (the command path of a running command); NULL
 * restores "npbpf". */
void log_set_context(const char *ctx);
const char *log_context(void);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* An error in how the command was called: the message, then where the help
 * is ("(see 'npbpf explain --help')"). */
void log_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
