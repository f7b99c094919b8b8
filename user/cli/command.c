/* SPDX-License-Identifier: Apache-2.0 */
#include "command.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define PATH_LEN     128
#define HELP_COL_MAX 28

static const char *noun(const struct command *cmd)
{
	return cmd->sub_noun ? cmd->sub_noun : "command";
}

/* ---- --help */

static void opt_left(const struct cli_opt *o, char *buf, size_t len)
{
	if (o->val < CLI_OPT_LONG)
		snprintf(buf, len, "-%c, --%s%s%s", o->val, o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
	else
		snprintf(buf, len, "    --%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
}

/* text, its lines after the first indented to column col. */
static void print_wrapped(FILE *f, const char *text, int col)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		if (p != text)
			fprintf(f, "\n%*s", col, "");
		fprintf(f, "%.*s", n, p);
		p += n + (nl ? 1 : 0);
	}
	fputc('\n', f);
}

static void print_opts(FILE *f, const struct cli_opt *opts)
{
	static const struct cli_opt help = { "help", 'h', NULL, "this help" };
	char left[96];
	int width;

	opt_left(&help, left, sizeof(left));
	width = (int)strlen(left);
	for (const struct cli_opt *o = opts; o && o->name; o++) {
		opt_left(o, left, sizeof(left));
		if ((int)strlen(left) > width && strlen(left) <= HELP_COL_MAX)
			width = (int)strlen(left);
	}
	for (const struct cli_opt *o = opts;; o++) {
		const struct cli_opt *x = o && o->name ? o : &help;

		opt_left(x, left, sizeof(left));
		if ((int)strlen(left) > width)
			fprintf(f, "  %s\n%*s", left, width + 4, "");
		else
			fprintf(f, "  %-*s  ", width, left);
		print_wrapped(f, x->help, width + 4);
		if (x == &help)
			break;
	}
}

static int subs_width(const struct command *cmd, int prefix)
{
	int width = 0;

	for (const struct command *s = cmd->subs; s && s->name; s++) {
		int w = prefix + (int)strlen(s->name), inner = subs_width(s, w + 1);

		width = w > width ? w : width;
		width = inner > width ? inner : width;
	}
	return width;
}

/* Every sub-command under cmd, and theirs, named relative to cmd. */
static void print_subs(FILE *f, const struct command *cmd, const char *prefix, int width)
{
	char name[PATH_LEN];

	for (const struct command *s = cmd->subs; s && s->name; s++) {
		snprintf(name, sizeof(name), "%s%s", prefix, s->name);
		fprintf(f, "  %-*s  ", width, name);
		print_wrapped(f, s->summary, width + 4);
		if (s->subs) {
			snprintf(name, sizeof(name), "%s%s ", prefix, s->name);
			print_subs(f, s, name, width);
		}
	}
}

static void print_usage(FILE *f, const struct command *cmd, const char *path)
{
	const char *syn = cmd->synopsis ? cmd->synopsis : "[OPTIONS]";

	fprintf(f, "Usage: ");
	for (const char *p = syn; *p;) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		fprintf(f, "%s%s %.*s\n", p == syn ? "" : "       ", path, n, p);
		p += n + (nl ? 1 : 0);
	}
}

/* noun(cmd) with its first letter (all: every letter) in upper case. */
static const char *noun_upper(const struct command *cmd, bool all, char *buf, size_t len)
{
	snprintf(buf, len, "%s", noun(cmd));
	for (char *p = buf; *p && (all || p == buf); p++)
		*p = (char)toupper((unsigned char)*p);
	return buf;
}

static void command_help(const struct command *cmd, const char *path, FILE *f)
{
	char word[32];

	print_usage(f, cmd, path);
	fprintf(f, "\n%s\n", cmd->about ? cmd->about : cmd->summary);
	if (cmd->subs) {
		fprintf(f, "\n%ss:\n", noun_upper(cmd, false, word, sizeof(word)));
		print_subs(f, cmd, "", subs_width(cmd, 0));
	}
	/* The root's options are the ones before the command. */
	fprintf(f, "\n%s:\n", strchr(path, ' ') ? "Options" : "Global options");
	print_opts(f, cmd->opts);
	if (cmd->subs)
		fprintf(f, "\n'%s %s --help' for one %s.\n", path,
			noun_upper(cmd, true, word, sizeof(word)), noun(cmd));
}

/* ---- Dispatch */

/* What the options of argv say before anything runs. */
struct scan {
	int operand;                   /* the first operand's index, or argc */
	int alias;                     /* the index of a --as_option, or 0 */
	const struct command *alias_of; /* the sub-command it selects */
	bool help;
};

static const struct cli_opt *find_long(const struct cli_opt *opts, const char *name, size_t len)
{
	const struct cli_opt *match = NULL;
	int n = 0;

	for (const struct cli_opt *o = opts; o && o->name; o++) {
		if (strncmp(o->name, name, len))
			continue;
		if (strlen(o->name) == len)
			return o;
		match = o;
		n++;
	}
	/* getopt_long takes unambiguous abbreviations: so do we. */
	return n == 1 ? match : NULL;
}

static const struct cli_opt *find_short(const struct cli_opt *opts, char c)
{
	for (const struct cli_opt *o = opts; o && o->name; o++) {
		if (o->val == (unsigned char)c)
			return o;
	}
	return NULL;
}

/* Walks argv as getopt_long will, skipping options' arguments, to find the
 * first operand (a sub-command) and -h/--help wherever they are. Unknown
 * options are left for the command's own parse to report. */
static void scan_args(const struct command *cmd, int argc, char **argv, struct scan *s)
{
	memset(s, 0, sizeof(*s));
	s->operand = argc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			if (s->operand == argc && i + 1 < argc)
				s->operand = i + 1;
			return;
		}
		if (a[0] != '-' || !a[1]) {
			if (s->operand == argc)
				s->operand = i;
			continue;
		}
		if (a[1] == '-') {
			size_t len = strcspn(a + 2, "=");
			const struct cli_opt *o = find_long(cmd->opts, a + 2, len);

			if (!strncmp(a + 2, "help", len) && len && !a[2 + len] && !o)
				s->help = true;
			for (const struct command *sub = cmd->subs; sub && sub->name; sub++) {
				if (sub->as_option && !strcmp(a + 2, sub->as_option) && !s->alias) {
					s->alias = i;
					s->alias_of = sub;
				}
			}
			if (o && o->arg && !a[2 + len])
				i++;
			continue;
		}
		for (const char *p = a + 1; *p; p++) {
			const struct cli_opt *o = find_short(cmd->opts, *p);

			if (*p == 'h' && !o)
				s->help = true;
			if (o && o->arg) {
				if (!p[1])
					i++;
				break;
			}
		}
	}
}

/* Takes argv[i] out; the sub-command's name becomes argv[0]. */
static void shift_to(const struct command *sub, int *argc, char **argv, int i)
{
	memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i) * sizeof(*argv));
	(*argc)--;
	argv[0] = (char *)sub->name; /* getopt only reads it */
}

static const struct command *find_sub(const struct command *cmd, const char *name)
{
	for (const struct command *s = cmd->subs; s && s->name; s++) {
		if (!strcmp(s->name, name))
			return s;
	}
	return NULL;
}

/* "unknown command 'x'", with a "did you mean" among cmd's sub-commands. */
static void unknown_sub(const struct command *cmd, const char *noun_text, const char *name)
{
	const char *names[64];
	const char *hint;
	size_t n = 0;

	for (const struct command *s = cmd->subs; s && s->name && n < 64; s++)
		names[n++] = s->name;
	hint = cli_suggest(name, names, n);
	if (hint)
		log_usage("unknown %s '%s' (did you mean '%s'?)", noun_text, name, hint);
	else
		log_usage("unknown %s '%s'", noun_text, name);
}

static int run_command(const struct command *cmd, const char *path, int argc, char **argv)
{
	const struct command *sub = NULL;
	char sub_path[PATH_LEN];
	struct scan s;

	/* Every message from here on, whichever layer logs it, names the
	 * command: "npbpf lab down: error: ...". */
	log_set_context(path);
	scan_args(cmd, argc, argv, &s);
	if (s.alias) {
		sub = s.alias_of;
		shift_to(sub, &argc, argv, s.alias);
	} else if (cmd->subs && s.operand < argc) {
		sub = find_sub(cmd, argv[s.operand]);
		if (!sub) {
			unknown_sub(cmd, noun(cmd), argv[s.operand]);
			return EXIT_USAGE;
		}
		shift_to(sub, &argc, argv, s.operand);
	}
	if (sub) {
		snprintf(sub_path, sizeof(sub_path), "%s %s", path, sub->name);
		return run_command(sub, sub_path, argc, argv);
	}
	if (s.help) {
		command_help(cmd, path, stdout);
		return EXIT_OK;
	}
	if (!cmd->run) {
		command_help(cmd, path, stderr);
		return EXIT_USAGE;
	}
	return cmd->run(cmd, argc, argv);
}

int command_main(const struct command *root, int argc, char **argv)
{
	const struct command *cmd;
	char path[PATH_LEN];
	int i = 1, rc;

	/* Global options come before the command: after it, options are the
	 * command's. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (argv[i][1] == 'v' && strspn(argv[i] + 1, "v") == strlen(argv[i] + 1)) {
			/* -v, -vv, -vvv: each v one level more */
			for (size_t k = 1; argv[i][k]; k++)
				log_set_level(log_get_level() == LOG_WARN ? LOG_INFO : LOG_DEBUG);
		} else if (!strcmp(argv[i], "--verbose")) {
			log_set_level(log_get_level() == LOG_WARN ? LOG_INFO : LOG_DEBUG);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			command_help(root, root->name, stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			printf("npbpf 0.1.0\n");
			return EXIT_OK;
		} else {
			log_usage("unknown option '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		command_help(root, root->name, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		/* `npbpf help [COMMAND [SUB]]` is `npbpf [COMMAND [SUB]] --help`. */
		char *args[8];
		int n = 0;

		if (i + 1 == argc) {
			command_help(root, root->name, stdout);
			return EXIT_OK;
		}
		for (int k = i + 1; k < argc && n < 6; k++)
			args[n++] = argv[k];
		args[n++] = (char *)"--help";
		args[n] = NULL;
		cmd = find_sub(root, args[0]);
		if (!cmd) {
			unknown_sub(root, "command", args[0]);
			return EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "%s %s", root->name, cmd->name);
		rc = run_command(cmd, path, n, args);
		log_set_context(NULL);
		return rc;
	}
	cmd = find_sub(root, argv[i]);
	if (!cmd) {
		unknown_sub(root, "command", argv[i]);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s %s", root->name, cmd->name);
	rc = run_command(cmd, path, argc - i, argv + i);
	log_set_context(NULL); /* path is about to go */
	return rc;
}
