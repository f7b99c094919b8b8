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

/* ---- The text layouts.
 *
 * Both have a heading per table ("80/TCP IPv4:"), then a column line and a
 * row per source; '#' lines are comments.
 *   explain's (matrix.h): column line "from \ to" and the rows' numbers,
 *     rows "N NS/POD MARK..."; a wide table goes on in further blocks
 *     (a blank line, a column line with the next numbers, the rows again).
 *   hand-written (README.md): column line "-" and the destinations' names,
 *     rows "NS/POD MARK..."; tabs or spaces between fields; a blank line
 *     ends the table.
 */

/* Splits s in place at runs of blanks (tabs as explain printed them, or
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
	v = strtoul(fld[0], &end, 10);
	if (end != slash || v == 0 || v > 65535 || !(*proto = proto_parse(slash + 1)))
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

static int mark_cell(const char *s, uint8_t *cell)
{
	if (!strcmp(s, "."))
		*cell = CELL_ALLOW;
	else if (!strcmp(s, "X"))
		*cell = CELL_DENY;
	else if (!strcmp(s, "-"))
		*cell = CELL_NA;
	else
		return -EINVAL;
	return 0;
}

/* A row or column number of explain's layout: 1, 2, ... */
static int parse_number(const char *s, size_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '1' || *s > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || v > 100000)
		return -EINVAL;
	*out = v;
	return 0;
}

enum table_layout { LAYOUT_NONE, LAYOUT_NAMES, LAYOUT_NUMBERS };

/* A cell of explain's layout, kept until the table's rows have named every
 * number. */
struct numbered_cell {
	size_t row, col;
	uint8_t mark;
};

struct text_table {
	uint16_t port;
	uint8_t proto;
	int family;
	enum table_layout layout;
	bool in_table, have_cols;
	int heading_line;
	/* LAYOUT_NAMES: the destinations' names (copies). LAYOUT_NUMBERS: the
	 * current block's column numbers. */
	char **cols;
	size_t n_cols, cap_cols;
	size_t *col_nums;
	size_t n_col_nums, cap_col_nums;
	/* LAYOUT_NUMBERS: row number -> name (copies, NULL until seen). */
	char **names;
	size_t n_names, cap_names;
	struct numbered_cell *cells;
	size_t n_cells, cap_cells;
};

static void table_reset(struct text_table *t)
{
	for (size_t i = 0; i < t->n_cols; i++)
		free(t->cols[i]);
	for (size_t i = 0; i < t->n_names; i++)
		free(t->names[i]);
	free(t->cols);
	free(t->col_nums);
	free(t->names);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* The end of a table of explain's layout: every cell by name. */
static int table_finish(struct expect *x, struct text_table *t, int *lineno, const char **why)
{
	for (size_t i = 0; t->layout == LAYOUT_NUMBERS && i < t->n_cells; i++) {
		const struct numbered_cell *c = &t->cells[i];

		if (c->col > t->n_names || !t->names[c->col - 1]) {
			*lineno = t->heading_line;
			*why = "a column number of this table has no row";
			return -EINVAL;
		}
		expect_cell(x, t->names[c->row - 1], t->names[c->col - 1], t->port, t->proto,
			    t->family, c->mark);
	}
	table_reset(t);
	return 0;
}

static int push_copy(char ***v, size_t *n, size_t *cap, const char *s)
{
	char **slot = VEC_PUSH(*v, *n, *cap);

	return slot && (*slot = strdup(s)) ? 0 : -ENOMEM;
}

/* The column line, right after the heading (or, for explain's layout, a
 * blank line in the table). */
static int column_line(struct text_table *t, char **fld, size_t n, const char **why)
{
	int err = 0;

	*why = "expected the column line ('from \\ to' and numbers, or '-' and the "
	       "destinations)";
	if (n >= 3 && !strcmp(fld[0], "from") && !strcmp(fld[1], "\\") && !strcmp(fld[2], "to")) {
		if (t->layout == LAYOUT_NAMES)
			return -EINVAL;
		t->layout = LAYOUT_NUMBERS;
		t->n_col_nums = 0;
		*why = "the column line numbers the rows: 1, 2, ...";
		for (size_t i = 3; !err && i < n; i++) {
			size_t *slot = VEC_PUSH(t->col_nums, t->n_col_nums, t->cap_col_nums);

			err = !slot ? -ENOMEM : parse_number(fld[i], slot);
		}
	} else if (n >= 1 && !strcmp(fld[0], "-") && t->layout == LAYOUT_NONE) {
		t->layout = LAYOUT_NAMES;
		for (size_t i = 1; !err && i < n; i++)
			err = push_copy(&t->cols, &t->n_cols, &t->cap_cols, fld[i]);
	} else {
		err = -EINVAL;
	}
	t->have_cols = !err;
	return err;
}

/* "N NAME MARK..." */
static int numbered_row(struct text_table *t, char **fld, size_t n, const char **why)
{
	size_t row;
	int err;

	*why = "a row is its number, its name and one mark ('.', 'X' or '-') per column";
	if (n != t->n_col_nums + 2 || parse_number(fld[0], &row))
		return -EINVAL;
	while (t->n_names < row) {
		char **slot = VEC_PUSH(t->names, t->n_names, t->cap_names);

		if (!slot)
			return -ENOMEM;
	}
	if (t->names[row - 1] && strcmp(t->names[row - 1], fld[1])) {
		*why = "the row number is another row's";
		return -EINVAL;
	}
	if (!t->names[row - 1] && !(t->names[row - 1] = strdup(fld[1])))
		return -ENOMEM;
	for (size_t i = 0; i < t->n_col_nums; i++) {
		struct numbered_cell *c = VEC_PUSH(t->cells, t->n_cells, t->cap_cells);

		if (!c)
			return -ENOMEM;
		c->row = row;
		c->col = t->col_nums[i];
		err = mark_cell(fld[i + 2], &c->mark);
		if (err)
			return err;
	}
	return 0;
}

/* "NAME MARK..." */
static int named_row(struct expect *x, struct text_table *t, char **fld, size_t n,
		     const char **why)
{
	uint8_t cell;

	*why = "a row needs one mark ('.', 'X' or '-') per column";
	if (n != t->n_cols + 1)
		return -EINVAL;
	for (size_t i = 1; i < n; i++) {
		if (mark_cell(fld[i], &cell))
			return -EINVAL;
		expect_cell(x, fld[0], t->cols[i - 1], t->port, t->proto, t->family, cell);
	}
	return 0;
}

static int text_line(struct expect *x, struct text_table *t, char *line, int *lineno,
		     const char **why)
{
	size_t max = x->m->n_nodes + 64, n;
	char **fld = calloc(max + 1, sizeof(*fld));
	uint16_t port;
	uint8_t proto;
	int family, err = 0;

	if (!fld)
		return -ENOMEM;
	n = split(line, fld, max);
	if (n > max) {
		*why = "more columns than the lab has pods";
		err = -EINVAL;
	} else if (n == 0) {
		/* A blank line ends a block of rows: hand-written tables end
		 * there, explain's may go on with further columns. */
		t->have_cols = false;
		if (t->layout == LAYOUT_NAMES)
			err = table_finish(x, t, lineno, why);
	} else if (fld[0][0] == '#') {
		/* a comment, or the legend explain prints first */
	} else if (!parse_heading(fld, n, &port, &proto, &family)) {
		err = table_finish(x, t, lineno, why);
		t->port = port;
		t->proto = proto;
		t->family = family;
		t->in_table = true;
		t->heading_line = *lineno;
	} else if (!t->in_table) {
		*why = "expected a heading such as '80/TCP IPv4:'";
		err = -EINVAL;
	} else if (!t->have_cols) {
		err = column_line(t, fld, n, why);
	} else if (t->layout == LAYOUT_NUMBERS) {
		err = numbered_row(t, fld, n, why);
	} else {
		err = named_row(x, t, fld, n, why);
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
		err = text_line(x, &t, line, &lineno, &why);
	}
	if (!err)
		err = table_finish(x, &t, &lineno, &why);
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
