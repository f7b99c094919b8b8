/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Options, parsed one way for every command: a table of cli_opt drives both
 * getopt_long and the command's --help (command.c), and the options several
 * commands share (-f, -o, --ports, --port, --family, --external, numbers)
 * are turned into values here, with one wording for each error. Every
 * helper logs "CMD: ..." and returns -EINVAL for a bad value, -ENOMEM when
 * memory ran out.
 */
#ifndef NPBPF_CLI_OPTIONS_H
#define NPBPF_CLI_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "matrix.h"
#include "model.h"

struct cli_opt {
	const char *name; /* long name, without "--" */
	int val;          /* short letter, or a code >= 256 for a long-only option */
	const char *arg;  /* the argument's name in --help; NULL for a flag */
	const char *help; /* --help text; '\n' continues it on another line */
};

/* Long-only option codes start here; -h/--help is implied in every table
 * (command.c answers it before a command runs). */
#define CLI_OPT_LONG 256
#define CLI_MAX_OPTS 24

/* getopt_long over a table; errors are usage errors (log_usage): the log
 * context names the command and its --help. */
struct cli_parser {
	struct option longopts[CLI_MAX_OPTS + 2];
	char shortopts[2 * CLI_MAX_OPTS + 4];
	bool started;
};

void cli_parser_init(struct cli_parser *p, const struct cli_opt *opts);
/* The name within 2 edits of word (insertions, deletions, substitutions),
 * the closest one, for a "did you mean"; NULL when none is that close. */
const char *cli_suggest(const char *word, const char *const *names, size_t n);
/* The next option's val (its argument in optarg), -1 when the options end
 * (operands are then argv[optind..argc)), or '?' after logging an unknown
 * option or a missing argument. */
int cli_next(struct cli_parser *p, int argc, char **argv);
/* 0 when no operand is left after the options, else logs the first. */
int cli_no_operands(const struct cli_parser *p, int argc, char **argv);

/* -f PATH, repeatable: the arguments, in order (they point into argv);
 * -n NS and -R, how they are read (manifest_opts). */
struct opt_files {
	char **paths;
	size_t n, cap;
	const char *ns;
	bool recursive;
};
int opt_file(struct opt_files *files, char *arg);
/* 0 when at least one -f was given, else logs "no manifests given". */
int opt_files_given(const struct opt_files *files);
/* The input options every command that reads manifests takes: -f PATH,
 * -n NS, -R. Returns true when c is one of them (*err then says how it
 * went), false for any other option. */
bool opt_files_case(int c, const char *arg, struct opt_files *files, int *err);
void opt_files_free(struct opt_files *files);

/* -o text|json. */
int opt_output(const char *arg, bool *json);
/* --ports 80/TCP,81/UDP: appended to *ports. */
int opt_ports(const char *arg, struct matrix_port **ports, size_t *n);
/* --port PORT[/PROTO]. */
int opt_port(const char *arg, struct matrix_port *port);
/* --family 4|6|both: MATRIX_V4 / MATRIX_V6 bits. */
int opt_family(const char *arg, int *families);
/* An address option (--external ADDR, repeatable): appended to *v. */
int opt_addr(const char *opt, const char *arg, struct np_addr **v, size_t *n, size_t *cap);
/* A decimal number in [min, max] for option --opt: digits only (no sign,
 * no blanks), so "-1" or " 5" are refused rather than wrapped or trimmed. */
int opt_number(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out);

#endif
