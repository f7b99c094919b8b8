/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands: the handlers and option tables the command table
 * (commands.c) is made of. Each handler gets argv with argv[0] = the
 * (sub-)command's name and returns the process exit status: 0 success, 1
 * failure (or "denied" for explain), 2 bad usage or bad input. */
#ifndef NPBPF_COMMANDS_H
#define NPBPF_COMMANDS_H

#include "command.h"
#include "exit_status.h"

/* The root of the table: npbpf and every command under it. */
extern const struct command npbpf_cli;

extern const struct cli_opt explain_opts[];
int cmd_explain(const struct command *self, int argc, char **argv);

extern const struct cli_opt lab_opts[];
extern const struct cli_opt lab_down_opts[];
extern const struct cli_opt lab_probe_opts[];
int cmd_lab(const struct command *self, int argc, char **argv);
int cmd_lab_down(const struct command *self, int argc, char **argv);
int cmd_lab_probe(const struct command *self, int argc, char **argv);

extern const struct cli_opt agent_opts[];
int cmd_agent(const struct command *self, int argc, char **argv);

/* status: self->id is the view. */
enum status_view {
	VIEW_SUMMARY,
	VIEW_ENDPOINTS,
	VIEW_IDENTITIES,
	VIEW_POLICY,
	VIEW_IPCACHE,
	VIEW_CT,
	VIEW_COUNTERS,
};
extern const struct cli_opt status_opts[];
int cmd_status(const struct command *self, int argc, char **argv);
/* The summary of the maps pinned in pin_dir, as `npbpf status --pin-dir
 * DIR` prints it (the lab's --status). Returns the exit status. */
int status_show_summary(const char *pin_dir);

extern const struct cli_opt bench_compile_opts[];
extern const struct cli_opt bench_verdict_opts[];
extern const struct cli_opt bench_agent_opts[];
extern const struct cli_opt bench_drop_opts[];
int cmd_bench_compile(const struct command *self, int argc, char **argv);
int cmd_bench_verdict(const struct command *self, int argc, char **argv);
int cmd_bench_agent(const struct command *self, int argc, char **argv);
int cmd_bench_drop(const struct command *self, int argc, char **argv);

#endif
