/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connectivity matrix: every ordered pair of endpoints (non-hostNetwork pods
 * plus external addresses) on every port and address family, and its text
 * and JSON forms. explain fills it from the compiled tables; the lab fills it
 * from real probes and prints it with the same code.
 */
#ifndef NPBPF_MATRIX_H
#define NPBPF_MATRIX_H

#include <stdio.h>

#include "compile.h"

enum matrix_cell {
	CELL_NA = 0, /* not probed: no address in this family, or port not declared */
	CELL_DENY = 1,
	CELL_ALLOW = 2,
};

struct matrix_node {
	char *label;              /* NS/POD or the address */
	const struct np_pod *pod; /* NULL for an external address */
	struct np_addr addr[2];   /* [0] IPv4, [1] IPv6 */
	bool has[2];
};

struct matrix_port {
	uint16_t port;
	uint8_t proto;
};

#define MATRIX_V4 1
#define MATRIX_V6 2

struct matrix {
	struct matrix_node *nodes;
	size_t n_nodes, cap_nodes;
	struct matrix_port *ports;
	size_t n_ports, cap_ports;
	int families;        /* MATRIX_V4 | MATRIX_V6 */
	bool declared_only;  /* ports from containerPorts: probe a pod only on its own */
	uint8_t *cells;      /* enum matrix_cell, see matrix_cell(); NULL when streamed */
	const struct compiled *cp; /* streamed: where matrix_get() finds verdicts */
};

/* Parses "80/TCP,81/UDP,53" (protocol defaults to TCP). 0 or -EINVAL. */
int matrix_parse_ports(const char *spec, struct matrix_port **ports, size_t *n);
/* One "PORT[/PROTO]". 0 or -EINVAL. */
int matrix_parse_ports_one(const char *item, struct matrix_port *out);
/* "4", "6", "both" -> MATRIX_V4/V6 bits; 0 when invalid. */
int matrix_parse_family(const char *text);

/* Builds the node and port lists; ports NULL: the union of declared
 * containerPorts, each probed only towards pods that declare it. Cells start
 * as CELL_DENY where a probe applies, CELL_NA elsewhere. 0 or -ENOMEM. */
int matrix_init(struct matrix *m, const struct np_cluster *c, const struct matrix_port *ports,
		size_t n_ports, const struct np_addr *externals, size_t n_externals, int families);
/* The same matrix without stored cells: each is judged from cp when it is
 * printed, so memory stays proportional to pods and ports rather than
 * pods x pods x ports (explain on a big cluster). cp must outlive m. */
int matrix_init_streamed(struct matrix *m, const struct compiled *cp,
			 const struct matrix_port *ports, size_t n_ports,
			 const struct np_addr *externals, size_t n_externals, int families);
void matrix_free(struct matrix *m);
/* Warns, for each table of m that has no cell, why (no pods, only
 * hostNetwork pods, no declared port, no address of a family): an empty
 * matrix is never printed without a word. */
void matrix_say_why_empty(const struct matrix *m, const struct np_cluster *c, int families);

/* A stored cell (matrix_init only). */
uint8_t *matrix_cell(const struct matrix *m, int fam, size_t port, size_t from, size_t to);
/* A cell's value, stored or streamed. */
uint8_t matrix_get(const struct matrix *m, int fam, size_t port, size_t from, size_t to);

/* Sets every applicable cell from the compiled tables (a streamed matrix
 * only remembers cp). */
void matrix_fill_verdicts(struct matrix *m, const struct compiled *cp);

/*
 * The text form, for people: the legend line, then per port and family a
 * heading ("8080/TCP IPv4:") and a table whose rows are numbered sources
 * and whose columns are destinations by row number:
 *
 *   # rows: from, columns: to (numbered as the rows); . allowed, X denied, ...
 *
 *   8080/TCP IPv4:
 *   from \ to              1  2
 *    1 production/frontend  .  .
 *    2 production/backend   X  .
 *
 * Lines stay within MATRIX_TEXT_WIDTH columns when the names allow: wider
 * tables go on in further blocks (a blank line, the corner line with the
 * next column numbers, the rows again). `lab --expect` reads it back, as
 * well as the tab-separated layout hand-written files use (README.md).
 */
#define MATRIX_TEXT_LEGEND                                                                     \
	"# rows: from, columns: to (numbered as the rows); . allowed, X denied, - not probed"
#define MATRIX_TEXT_CORNER "from \\ to"
#define MATRIX_TEXT_WIDTH 80
#define MATRIX_MIN_BLOCK 10
void matrix_print_text(FILE *f, const struct matrix *m);
void matrix_print_json(FILE *f, const struct matrix *m);

struct out;
/* The "results" array of matrix_print_json, written into an object already
 * open on o, for commands that print more fields around it (lab). */
void matrix_json_results(struct out *o, const struct matrix *m);

#endif
