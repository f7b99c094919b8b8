/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command table: one entry per command and sub-command (`explain`,
 * `lab`, `lab down`, `status`, `status policy`, `bench verdict`, ...), with
 * its one-line help, its options and its handler. Dispatch, the errors for
 * unknown commands and every --help are made from it, so a command is
 * added, renamed or documented in one place (commands.c).
 */
#ifndef NPBPF_CLI_COMMAND_H
#define NPBPF_CLI_COMMAND_H

#include "exit_status.h"
#include "options.h"

struct command {
	const char *name;
	const char *summary;  /* one line: what its parent's --help lists */
	const char *synopsis; /* after "npbpf PATH" in Usage; '\n' separates forms;
			       * NULL: "[OPTIONS]" */
	const char *about;    /* the text of its --help; NULL: the summary */
	const struct cli_opt *opts; /* ended by an entry without name; NULL: none */
	const struct command *subs; /* ended by an entry without name; NULL: none */
	const char *sub_noun;       /* what its sub-commands are called ("view");
				     * NULL: "command" */
	/* A sub-command its parent also takes as the option --as_option (the
	 * spelling before sub-commands: `lab --down` is `lab down`). */
	const char *as_option;
	int id; /* tells apart the entries that share one handler (status views) */
	/* argv[0] is the (sub-)command's name, then its options and operands.
	 * Returns the exit status. NULL: a sub-command must be named. */
	int (*run)(const struct command *self, int argc, char **argv);
};

/* The whole program: global options (-v, --version, -h) and the commands. */
int command_main(const struct command *root, int argc, char **argv);

#endif
