/* SPDX-License-Identifier: Apache-2.0 */
/* npbpf: the command table (commands.c) does the rest. */
#include "commands.h"

int main(int argc, char **argv)
{
	return command_main(&npbpf_cli, argc, argv);
}
