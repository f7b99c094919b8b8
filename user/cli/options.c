/* SPDX-License-Identifier: Apache-2.0 */
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vec.h"

void cli_parser_init(struct cli_parser *p, const struct cli_opt *opts)
{
	size_t n = 0, s = 0;

	memset(p, 0, sizeof(*p));
	/* ':' first: a missing argument comes back as ':', not as '?'. */
	p->shortopts[s++] = ':';
	for (const struct cli_opt *o = opts; o && o->name && n < CLI_MAX_OPTS; o++, n++) {
		p->longopts[n].name = o->name;
		p->longopts[n].has_arg = o->arg ? required_argument : no_argument;
		p->longopts[n].val = o->val;
		if (o->val < CLI_OPT_LONG) {
			p->shortopts[s++] = (char)o->val;
			if (o->arg)
				p->shortopts[s++] = ':';
		}
	}
	p->longopts[n].name = "help";
	p->longopts[n].val = 'h';
	p->shortopts[s++] = 'h';
	p->shortopts[s] = '\0';
}

/* Edit distance of a and b, or more than limit as soon as it must be. */
static size_t edits(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b), row[64], prev, cur;

	if (la >= sizeof(row) / sizeof(row[0]) || lb >= sizeof(row) / sizeof(row[0]) ||
	    (la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			cur = row[j];
			row[j] = a[i - 1] == b[j - 1] ? prev : 1 + (prev < row[j - 1] ?
								      (prev < cur ? prev : cur) :
								      (row[j - 1] < cur ? row[j - 1] : cur));
			prev = cur;
		}
	}
	return row[lb];
}

const char *cli_suggest(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < n; i++) {
		size_t d = edits(word, names[i], 2);

		if (d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	return best;
}

/* "unknown option '--matirx'", with a "did you mean" from the table. */
static void unknown_option(const struct cli_parser *p, const char *arg)
{
	const char *names[CLI_MAX_OPTS + 2], *hint = NULL;
	size_t n = 0;

	if (!strncmp(arg, "--", 2)) {
		char word[64];
		size_t len = strcspn(arg + 2, "=");

		for (; p->longopts[n].name && n < CLI_MAX_OPTS + 1; n++)
			names[n] = p->longopts[n].name;
		if (len < sizeof(word)) {
			memcpy(word, arg + 2, len);
			word[len] = '\0';
			hint = cli_suggest(word, names, n);
		}
	}
	if (hint)
		log_usage("unknown option '%s' (did you mean '--%s'?)", arg, hint);
	else
		log_usage("unknown option '%s'", arg);
}

int cli_next(struct cli_parser *p, int argc, char **argv)
{
	int c;

	if (!p->started) {
		optind = 0; /* GNU: a full re-initialisation, whoever parsed before */
		p->started = true;
	}
	opterr = 0;
	c = getopt_long(argc, argv, p->shortopts, p->longopts, NULL);
	if (c == ':') {
		log_usage("option '%s' needs an argument", argv[optind - 1]);
		return '?';
	}
	if (c == '?') {
		unknown_option(p, argv[optind - 1]);
		return '?';
	}
	return c;
}

int cli_no_operands(const struct cli_parser *p, int argc, char **argv)
{
	if (optind < argc) {
		log_usage("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int opt_file(struct opt_files *files, char *arg)
{
	char **slot = VEC_PUSH(files->paths, files->n, files->cap);

	if (!slot)
		return -ENOMEM;
	*slot = arg;
	return 0;
}

bool opt_files_case(int c, const char *arg, struct opt_files *files, int *err)
{
	switch (c) {
	case 'f':
		*err = opt_file(files, (char *)arg);
		return true;
	case 'n':
		files->ns = arg;
		*err = 0;
		return true;
	case 'R':
		files->recursive = true;
		*err = 0;
		return true;
	}
	return false;
}

int opt_files_given(const struct opt_files *files)
{
	if (!files->n) {
		log_usage("no manifests given (-f PATH)");
		return -EINVAL;
	}
	return 0;
}

void opt_files_free(struct opt_files *files)
{
	free(files->paths);
	memset(files, 0, sizeof(*files));
}

int opt_output(const char *arg, bool *json)
{
	if (strcmp(arg, "json") && strcmp(arg, "text")) {
		log_usage("-o takes text or json, not '%s'", arg);
		return -EINVAL;
	}
	*json = !strcmp(arg, "json");
	return 0;
}

int opt_ports(const char *arg, struct matrix_port **ports, size_t *n)
{
	int err = matrix_parse_ports(arg, ports, n);

	if (err == -EINVAL)
		log_usage("bad --ports '%s' (want e.g. 80/TCP,53/UDP)", arg);
	return err;
}

int opt_port(const char *arg, struct matrix_port *port)
{
	if (matrix_parse_ports_one(arg, port)) {
		log_usage("bad --port '%s' (want e.g. 80, 53/UDP)", arg);
		return -EINVAL;
	}
	return 0;
}

int opt_family(const char *arg, int *families)
{
	int f = matrix_parse_family(arg);

	if (!f) {
		log_usage("--family takes 4, 6 or both, not '%s'", arg);
		return -EINVAL;
	}
	*families = f;
	return 0;
}

int opt_addr(const char *opt, const char *arg, struct np_addr **v, size_t *n, size_t *cap)
{
	struct np_addr *slot = VEC_PUSH(*v, *n, *cap);

	if (!slot)
		return -ENOMEM;
	if (addr_parse(arg, false, slot)) {
		(*n)--;
		log_usage("--%s '%s' is not an IP address", opt, arg);
		return -EINVAL;
	}
	return 0;
}

int opt_number(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v = 0;
	char *end = NULL;

	errno = 0;
	if (arg[0] >= '0' && arg[0] <= '9')
		v = strtoull(arg, &end, 10);
	if (!end || errno || *end || v < min || v > max) {
		log_usage("--%s takes a number from %llu to %llu, not '%s'", opt,
			  (unsigned long long)min, (unsigned long long)max, arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
