/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands. Each handler gets argv with argv[0] = the command name and
 * returns the process exit status: 0 success, 1 failure (or "denied" for
 * explain), 2 bad usage or bad input. */
#ifndef NPBPF_COMMANDS_H
#define NPBPF_COMMANDS_H

#include "exit_status.h"

int cmd_explain(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_lab(int argc, char **argv);

#endif
