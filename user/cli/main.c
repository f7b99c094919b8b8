/* SPDX-License-Identifier: Apache-2.0 */
/* npbpf: dispatches to one handler per subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"

struct command {
	const char *name;
	int (*handler)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "explain", cmd_explain, "why a flow is allowed or denied; connectivity matrix" },
	{ "bench", cmd_bench, "benchmarks: policy compilation, per-packet verdict cost" },
	{ "status", cmd_status, "what the pinned maps hold: endpoints, identities, policy, ..." },
	{ "lab", cmd_lab, "real enforcement on local network namespaces: a probed matrix" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: npbpf [-v] COMMAND [OPTIONS]\n\n"
		   "Kubernetes NetworkPolicy enforcement with eBPF.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nGlobal options:\n"
		   "  -v, --verbose  debug messages (repeat for more)\n"
		   "  -h, --help     this help; 'npbpf COMMAND --help' for a command\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			log_set_level(log_get_level() == LOG_WARN ? LOG_INFO : LOG_DEBUG);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			printf("npbpf 0.1.0\n");
			return EXIT_OK;
		} else {
			log_error("unknown option '%s' (see npbpf --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		if (!strcmp(argv[i], commands[c].name))
			return commands[c].handler(argc - i, argv + i);
	}
	log_error("unknown command '%s' (see npbpf --help)", argv[i]);
	return EXIT_USAGE;
}
