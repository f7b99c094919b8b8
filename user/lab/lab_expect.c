/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_expect.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "log.h"
#include "vec.h"
#include "yaml_tree.h"

#define EXP_ABSENT 0xff

struct expect {
	const struct matrix *m;
	const char *path;
	struct lab_expect *e;
	FILE *extra;        /* writes e->extra */
	struct hmap labels; /* node label -> index */
};

static const char *cell_word(uint8_t cell)
{
	return cell == CELL_ALLOW ? "allow" : cell == CELL_DENY ? "deny" : "not probed";
}

static void print_diff(FILE *f, const char *from, const char *to, uint16_t port, uint8_t proto,
		       int fam, const char *what)
{
	fprintf(f, "%s -> %s %u/%s%s: %s\n", from, to, port, proto_name(proto), fam ? " IPv6" : "",
		what);
}

static size_t cells_size(const struct matrix *m)
{
	return 2 * m->n_ports * m->n_nodes * m->n_nodes;
}

static int port_index(const struct matrix *m, uint16_t port, uint8_t proto)
{
	for (size_t p = 0; p < m->n_ports; p++) {
		if (m->ports[p].port == port && m->ports[p].proto == proto)
			return (int)p;
	}
	return -1;
}

/* One expected cell. A cell the lab has no place for is a difference by
 * itself, unless it is expected not to be probed. */
static void expect_cell(struct expect *x, const char *from, const char *to, uint16_t port,
			uint8_t proto, int family, uint8_t verdict)
{
	uint32_t a, b;
	int p = port_index(x->m, port, proto), fam = family == 6;
	char what[64];

	if (p < 0 || !hmap_get(&x->labels, from, strlen(from), &a) ||
	    !hmap_get(&x->labels, to, strlen(to), &b)) {
		if (verdict == CELL_NA)
			return;
		snprintf(what, sizeof(what), "expected %s, got not probed", cell_word(verdict));
		print_diff(x->extra, from, to, port, proto, fam, what);
		x->e->n_extra++;
		return;
	}
	x->e->cells[matrix_cell(x->m, fam, (size_t)p, a, b) - x->m->cells] = verdict;
}

/* ---- The text layout. */

/* Splits s in place at runs of blanks (tabs as explain prints, or
 * spaces). Returns the number of fields, at most max. */
static size_t split(char *s, char **fields, size_t max)
{
	size_t n = 0;

	for (char *p = s; *p;) {
		while (*p && isspace((unsigned char)*p))
			*p++ = '\0';
		if (!*p)
			break;
		if (n == max)
			return max + 1;
		fields[n++] = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
	}
	return n;
}

/* "80/TCP IPv4:" */
static int parse_heading(char **fld, size_t n, uint16_t *port, uint8_t *proto, int *family)
{
	char *slash, *end;
	unsigned long v;

	if (n != 2 || !(slash = strchr(fld[0], '/')))
		return -EINVAL;
	*slash = '\0';
	v = strtoul(fld[0], &end, 10);
	if (end == fld[0] || *end || v == 0 || v > 65535 || !(*proto = proto_parse(slash + 1)))
		return -EINVAL;
	*port = (uint16_t)v;
	if (!strcmp(fld[1], "IPv4:"))
		*family = 4;
	else if (!strcmp(fld[1], "IPv6:"))
		*family = 6;
	else
		return -EINVAL;
	return 0;
}

static int mark_cell(char c, uint8_t *cell)
{
	if (c == '.')
		*cell = CELL_ALLOW;
	else if (c == 'X')
		*cell = CELL_DENY;
	else if (c == '-')
		*cell = CELL_NA;
	else
		return -EINVAL;
	return 0;
}

struct text_table {
	uint16_t port;
	uint8_t proto;
	int family;
	char **cols; /* column labels (copies) */
	size_t n_cols, cap_cols;
	bool in_table, have_cols;
};

static void table_reset(struct text_table *t)
{
	for (size_t i = 0; i < t->n_cols; i++)
		free(t->cols[i]);
	free(t->cols);
	memset(t, 0, sizeof(*t));
}

static int text_line(struct expect *x, struct text_table *t, char *line, const char **why)
{
	size_t max = x->m->n_nodes + 64, n;
	char **fld = calloc(max + 1, sizeof(*fld));
	uint8_t cell;
	int err = 0;

	if (!fld)
		return -ENOMEM;
	n = split(line, fld, max);
	if (n == 0) {
		table_reset(t);
	} else if (!t->in_table) {
		err = parse_heading(fld, n, &t->port, &t->proto, &t->family);
		*why = "expected a heading such as '80/TCP IPv4:'";
		t->in_table = !err;
	} else if (!t->have_cols) {
		*why = "expected the column line ('-' and the destinations)";
		err = n > max || strcmp(fld[0], "-") ? -EINVAL : 0;
		for (size_t i = 1; !err && i < n; i++) {
			char **slot = VEC_PUSH(t->cols, t->n_cols, t->cap_cols);

			err = slot && (*slot = strdup(fld[i])) ? 0 : -ENOMEM;
		}
		t->have_cols = !err;
	} else {
		*why = "a row needs one mark ('.', 'X' or '-') per column";
		err = n != t->n_cols + 1 ? -EINVAL : 0;
		for (size_t i = 1; !err && i < n; i++) {
			err = strlen(fld[i]) == 1 ? mark_cell(fld[i][0], &cell) : -EINVAL;
			if (!err)
				expect_cell(x, fld[0], t->cols[i - 1], t->port, t->proto, t->family,
					    cell);
		}
	}
	free(fld);
	return err;
}

static int load_text(struct expect *x, FILE *in)
{
	struct text_table t = { 0 };
	const char *why = "";
	size_t cap = 0;
	char *line = NULL;
	int lineno = 0, err = 0;

	while (!err && getline(&line, &cap, in) >= 0) {
		lineno++;
		err = text_line(x, &t, line, &why);
	}
	if (err == -EINVAL)
		log_error("%s:%d: %s", x->path, lineno, why);
	table_reset(&t);
	free(line);
	return err;
}

/* ---- JSON (explain --matrix -o json). */

static int json_fail(struct expect *x, const struct yt_node *n, const char *what)
{
	log_error("%s:%d:%d: %s", x->path, n ? n->line : 0, n ? n->col : 0, what);
	return -EINVAL;
}

static const char *json_str(const struct yt_node *item, const char *key)
{
	const struct yt_node *n = yt_map_get(item, key);

	return n && n->kind == YT_SCALAR && !yt_is_null(n) ? n->str : NULL;
}

static int json_item(struct expect *x, const struct yt_node *item)
{
	const char *from = json_str(item, "from"), *to = json_str(item, "to");
	const char *proto_s = json_str(item, "protocol"), *verdict = json_str(item, "verdict");
	const struct yt_node *fam_n = yt_map_get(item, "family");
	int64_t port, family = 4;
	uint8_t proto = proto_s ? proto_parse(proto_s) : IPPROTO_TCP;

	if (!item || item->kind != YT_MAP)
		return json_fail(x, item, "each result must be an object");
	if (!from || !to || !verdict)
		return json_fail(x, item, "a result needs from, to and verdict");
	if (yt_get_int(yt_map_get(item, "port"), &port) || port < 1 || port > 65535)
		return json_fail(x, item, "a result needs a port (1-65535)");
	if (!proto)
		return json_fail(x, item, "protocol must be TCP, UDP or SCTP");
	if (fam_n && (yt_get_int(fam_n, &family) || (family != 4 && family != 6)))
		return json_fail(x, fam_n, "family must be 4 or 6");
	if (strcmp(verdict, "allow") && strcmp(verdict, "deny"))
		return json_fail(x, item, "verdict must be allow or deny");
	expect_cell(x, from, to, (uint16_t)port, proto, (int)family,
		    !strcmp(verdict, "allow") ? CELL_ALLOW : CELL_DENY);
	return 0;
}

static int json_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct expect *x = arg;
	const struct yt_node *results = yt_map_get(root, "results");
	int err = 0;

	(void)file;
	if (yt_is_null(root))
		return 0;
	if (!results || results->kind != YT_SEQ)
		return json_fail(x, root, "expected {\"results\": [...]} as explain --matrix -o json "
					  "prints it");
	for (uint32_t i = 0; !err && i < results->n; i++)
		err = json_item(x, results->items[i]);
	return err;
}

/* ---- Comparing. */

static int first_char(FILE *in)
{
	int c;

	while ((c = fgetc(in)) != EOF && isspace(c))
		;
	rewind(in);
	return c;
}

static int index_labels(struct expect *x)
{
	for (size_t i = 0; i < x->m->n_nodes; i++) {
		const char *l = x->m->nodes[i].label;

		if (hmap_insert(&x->labels, l, strlen(l), (uint32_t)i, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

int lab_expect_load(struct lab_expect *e, const char *path, const struct matrix *m)
{
	struct expect x = { .m = m, .path = path, .e = e };
	size_t size = cells_size(m);
	FILE *in = NULL;
	int err;

	memset(e, 0, sizeof(*e));
	hmap_init(&x.labels);
	e->cells = malloc(size ? size : 1);
	x.extra = open_memstream(&e->extra, &e->extra_len);
	err = e->cells && x.extra ? index_labels(&x) : -ENOMEM;
	if (err)
		goto out;
	memset(e->cells, EXP_ABSENT, size);
	in = fopen(path, "r");
	if (!in) {
		err = -errno;
		log_error("lab: opening %s: %s", path, strerror(-err));
		goto out;
	}
	if (first_char(in) == '{')
		err = yt_parse_file(path, json_doc, NULL, &x);
	else
		err = load_text(&x, in);
out:
	if (in)
		fclose(in);
	if (x.extra)
		fclose(x.extra);
	hmap_free(&x.labels);
	if (err)
		lab_expect_free(e);
	return err;
}

void lab_expect_free(struct lab_expect *e)
{
	free(e->cells);
	free(e->extra);
	memset(e, 0, sizeof(*e));
}

int lab_expect_diff(const struct lab_expect *e, const struct matrix *m, FILE *f)
{
	int diffs = e->n_extra;
	char what[64];

	if (e->extra_len)
		fwrite(e->extra, 1, e->extra_len, f);
	for (int fam = 0; fam < 2; fam++) {
		for (size_t p = 0; p < m->n_ports; p++) {
			for (size_t a = 0; a < m->n_nodes; a++) {
				for (size_t b = 0; b < m->n_nodes; b++) {
					uint8_t *cell = matrix_cell(m, fam, p, a, b);
					uint8_t want = e->cells[cell - m->cells];

					if (want == EXP_ABSENT)
						want = CELL_NA;
					if (want == *cell)
						continue;
					snprintf(what, sizeof(what), "expected %s, got %s",
						 cell_word(want), cell_word(*cell));
					print_diff(f, m->nodes[a].label, m->nodes[b].label,
						   m->ports[p].port, m->ports[p].proto, fam, what);
					diffs++;
				}
			}
		}
	}
	return diffs;
}

size_t lab_expect_vs_engine(const struct matrix *lab, const struct matrix *engine, FILE *f)
{
	size_t n = 0;
	char what[96];

	for (int fam = 0; fam < 2; fam++) {
		for (size_t p = 0; p < lab->n_ports; p++) {
			for (size_t a = 0; a < lab->n_nodes; a++) {
				for (size_t b = 0; b < lab->n_nodes; b++) {
					uint8_t got = *matrix_cell(lab, fam, p, a, b);
					uint8_t want = *matrix_cell(engine, fam, p, a, b);

					if (got == want)
						continue;
					snprintf(what, sizeof(what), "explain says %s, the datapath %s",
						 cell_word(want),
						 got == CELL_ALLOW ? "allowed it" : "denied it");
					print_diff(f, lab->nodes[a].label, lab->nodes[b].label,
						   lab->ports[p].port, lab->ports[p].proto, fam, what);
					n++;
				}
			}
		}
	}
	return n;
}
