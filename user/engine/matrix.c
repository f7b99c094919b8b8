/* SPDX-License-Identifier: Apache-2.0 */
#include "matrix.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "log.h"
#include "vec.h"
#include "verdict.h"

int matrix_parse_family(const char *text)
{
	if (!strcmp(text, "4"))
		return MATRIX_V4;
	if (!strcmp(text, "6"))
		return MATRIX_V6;
	if (!strcmp(text, "both"))
		return MATRIX_V4 | MATRIX_V6;
	return 0;
}

int matrix_parse_ports_one(const char *item, struct matrix_port *out)
{
	char *end, upper[8];
	unsigned long port = strtoul(item, &end, 10);

	if (end == item || port == 0 || port > 65535)
		return -EINVAL;
	out->port = (uint16_t)port;
	out->proto = IPPROTO_TCP;
	if (*end == '\0')
		return 0;
	if (*end != '/' || strlen(end + 1) >= sizeof(upper))
		return -EINVAL;
	/* On the command line "80/tcp" is as clear as "80/TCP"; manifests keep
	 * the API's exact spelling (their decoder calls proto_parse itself). */
	for (size_t i = 0; end[1 + i]; i++)
		upper[i] = (char)toupper((unsigned char)end[1 + i]);
	upper[strlen(end + 1)] = '\0';
	if (!(out->proto = proto_parse(upper)))
		return -EINVAL;
	return 0;
}

int matrix_parse_ports(const char *spec, struct matrix_port **ports, size_t *n)
{
	char *copy = strdup(spec), *save = NULL, *item;
	size_t cap = *n;
	int err = copy ? 0 : -ENOMEM;

	for (item = copy ? strtok_r(copy, ",", &save) : NULL; !err && item;
	     item = strtok_r(NULL, ",", &save)) {
		struct matrix_port *slot = VEC_PUSH(*ports, *n, cap);

		err = slot ? matrix_parse_ports_one(item, slot) : -ENOMEM;
	}
	if (!err && *n == 0)
		err = -EINVAL;
	free(copy);
	return err;
}

static int cmp_mport(const void *a, const void *b)
{
	const struct matrix_port *x = a, *y = b;

	if (x->port != y->port)
		return (int)x->port - (int)y->port;
	return (int)x->proto - (int)y->proto;
}

/* Every pod's ports, then sorted and made unique: linear in the ports
 * declared, however many distinct ones there are. */
static int declared_ports(struct matrix *m, const struct np_cluster *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_pods; i++) {
		for (size_t p = 0; !c->pods[i].host_network && p < c->pods[i].n_ports; p++) {
			struct matrix_port *slot = VEC_PUSH(m->ports, m->n_ports, m->cap_ports);

			if (!slot)
				return -ENOMEM;
			slot->port = c->pods[i].ports[p].port;
			slot->proto = c->pods[i].ports[p].proto;
		}
	}
	if (!m->n_ports)
		return 0; /* qsort's array must not be NULL, even when empty */
	qsort(m->ports, m->n_ports, sizeof(*m->ports), cmp_mport);
	for (size_t i = 0; i < m->n_ports; i++) {
		if (!n || cmp_mport(&m->ports[n - 1], &m->ports[i]))
			m->ports[n++] = m->ports[i];
	}
	m->n_ports = n;
	return 0;
}

static int add_node(struct matrix *m, const char *label, const struct np_pod *pod)
{
	struct matrix_node *n = VEC_PUSH(m->nodes, m->n_nodes, m->cap_nodes);

	if (!n)
		return -ENOMEM;
	n->label = strdup(label);
	n->pod = pod;
	return n->label ? 0 : -ENOMEM;
}

static bool pod_declares(const struct np_pod *pod, const struct matrix_port *mp)
{
	for (size_t p = 0; p < pod->n_ports; p++) {
		if (pod->ports[p].port == mp->port && pod->ports[p].proto == mp->proto)
			return true;
	}
	return false;
}

static bool cell_applies(const struct matrix *m, int fam, size_t port, size_t from, size_t to)
{
	const struct matrix_node *a = &m->nodes[from], *b = &m->nodes[to];

	if (!a->has[fam] || !b->has[fam] || (!a->pod && !b->pod))
		return false;
	return !(m->declared_only && b->pod && !pod_declares(b->pod, &m->ports[port]));
}

uint8_t *matrix_cell(const struct matrix *m, int fam, size_t port, size_t from, size_t to)
{
	size_t n = m->n_nodes;

	return &m->cells[(((size_t)fam * m->n_ports + port) * n + from) * n + to];
}

static bool cell_probed(const struct matrix *m, int fam, size_t port, size_t from, size_t to)
{
	return (m->families & (1 << fam)) && cell_applies(m, fam, port, from, to);
}

uint8_t matrix_get(const struct matrix *m, int fam, size_t port, size_t from, size_t to)
{
	struct flow_verdict v;
	struct flow_end a, b;

	if (m->cells)
		return *matrix_cell(m, fam, port, from, to);
	if (!cell_probed(m, fam, port, from, to))
		return CELL_NA;
	if (!m->cp)
		return CELL_DENY;
	a = (struct flow_end){ m->nodes[from].pod, m->nodes[from].addr[fam] };
	b = (struct flow_end){ m->nodes[to].pod, m->nodes[to].addr[fam] };
	verdict_flow(m->cp, &a, &b, m->ports[port].proto, m->ports[port].port, &v);
	return v.allowed ? CELL_ALLOW : CELL_DENY;
}

static void init_cells(struct matrix *m)
{
	for (int fam = 0; fam < 2; fam++)
		for (size_t p = 0; p < m->n_ports; p++)
			for (size_t a = 0; a < m->n_nodes; a++)
				for (size_t b = 0; b < m->n_nodes; b++)
					*matrix_cell(m, fam, p, a, b) =
						cell_probed(m, fam, p, a, b) ? CELL_DENY : CELL_NA;
}

/* The nodes and ports, without cells. */
static int init_axes(struct matrix *m, const struct np_cluster *c, const struct matrix_port *ports,
		     size_t n_ports, const struct np_addr *externals, size_t n_externals,
		     int families)
{
	char buf[600];
	int err = 0;

	memset(m, 0, sizeof(*m));
	m->families = families;
	m->declared_only = ports == NULL;
	if (ports) {
		m->ports = calloc(n_ports ? n_ports : 1, sizeof(*ports));
		if (!m->ports)
			return -ENOMEM;
		memcpy(m->ports, ports, n_ports * sizeof(*ports));
		m->n_ports = m->cap_ports = n_ports;
	} else {
		err = declared_ports(m, c);
	}
	for (size_t i = 0; !err && i < c->n_pods; i++) {
		const struct np_pod *pod = &c->pods[i];

		if (pod->host_network)
			continue;
		snprintf(buf, sizeof(buf), "%s/%s", pod->ns, pod->name);
		err = add_node(m, buf, pod);
		for (size_t a = 0; !err && a < pod->n_addrs; a++) {
			int fam = pod->addrs[a].family == 6;

			if (!m->nodes[m->n_nodes - 1].has[fam]) {
				m->nodes[m->n_nodes - 1].has[fam] = true;
				m->nodes[m->n_nodes - 1].addr[fam] = pod->addrs[a];
			}
		}
	}
	for (size_t i = 0; !err && i < n_externals; i++) {
		int fam = externals[i].family == 6;

		err = add_node(m, addr_format(&externals[i], buf, sizeof(buf)), NULL);
		if (!err) {
			m->nodes[m->n_nodes - 1].has[fam] = true;
			m->nodes[m->n_nodes - 1].addr[fam] = externals[i];
		}
	}
	if (err)
		matrix_free(m);
	return err;
}

int matrix_init(struct matrix *m, const struct np_cluster *c, const struct matrix_port *ports,
		size_t n_ports, const struct np_addr *externals, size_t n_externals, int families)
{
	size_t nodes, n_cells;
	int err = init_axes(m, c, ports, n_ports, externals, n_externals, families);

	if (err)
		return err;
	nodes = m->n_nodes ? m->n_nodes : 1;
	/* 2 families x ports x nodes x nodes, refused rather than wrapped. */
	if (__builtin_mul_overflow(nodes, nodes, &n_cells) ||
	    __builtin_mul_overflow(n_cells, 2 * (m->n_ports ? m->n_ports : 1), &n_cells))
		err = -ENOMEM;
	else if (!(m->cells = calloc(n_cells, 1)))
		err = -ENOMEM;
	if (err) {
		matrix_free(m);
		return err;
	}
	init_cells(m);
	return 0;
}

int matrix_init_streamed(struct matrix *m, const struct compiled *cp,
			 const struct matrix_port *ports, size_t n_ports,
			 const struct np_addr *externals, size_t n_externals, int families)
{
	int err = init_axes(m, cp->cluster, ports, n_ports, externals, n_externals, families);

	if (!err)
		m->cp = cp;
	return err;
}

void matrix_free(struct matrix *m)
{
	for (size_t i = 0; i < m->n_nodes; i++)
		free(m->nodes[i].label);
	free(m->nodes);
	free(m->ports);
	free(m->cells);
	memset(m, 0, sizeof(*m));
}

void matrix_fill_verdicts(struct matrix *m, const struct compiled *cp)
{
	if (!m->cells) {
		m->cp = cp;
		return;
	}
	for (int fam = 0; fam < 2; fam++) {
		for (size_t p = 0; p < m->n_ports; p++) {
			for (size_t a = 0; a < m->n_nodes; a++) {
				for (size_t b = 0; b < m->n_nodes; b++) {
					uint8_t *cell = matrix_cell(m, fam, p, a, b);
					struct flow_end from = { m->nodes[a].pod, m->nodes[a].addr[fam] };
					struct flow_end to = { m->nodes[b].pod, m->nodes[b].addr[fam] };
					struct flow_verdict v;

					if (*cell == CELL_NA)
						continue;
					verdict_flow(cp, &from, &to, m->ports[p].proto, m->ports[p].port,
						     &v);
					*cell = v.allowed ? CELL_ALLOW : CELL_DENY;
				}
			}
		}
	}
}

static bool node_in_table(const struct matrix *m, int fam, size_t i)
{
	return m->nodes[i].has[fam];
}

static int digits(size_t n)
{
	int d = 1;

	for (; n >= 10; n /= 10)
		d++;
	return d;
}

/*
 * One table. Its nodes (those with an address of the family) are numbered
 * from 1 in order; rows carry number and name, columns only the number of
 * the row they stand for, so a column is as narrow as its number however
 * long the names are. Columns that do not fit in MATRIX_TEXT_WIDTH go to a
 * further block of the same rows, of at least MATRIX_MIN_BLOCK columns.
 */
static void print_table(FILE *f, const struct matrix *m, int fam, size_t port)
{
	static const char mark[] = { '-', 'X', '.' };
	int nw, lw = 0, room, corner = (int)strlen(MATRIX_TEXT_CORNER);
	size_t n = 0, per;

	for (size_t i = 0; i < m->n_nodes; i++) {
		int len = (int)strlen(m->nodes[i].label);

		if (!node_in_table(m, fam, i))
			continue;
		n++;
		lw = len > lw ? len : lw;
	}
	nw = digits(n);
	if (nw + 1 + lw < corner)
		lw = corner - nw - 1;
	/* A row: number, space, name, space; then per cell a space and the mark. */
	room = MATRIX_TEXT_WIDTH - (nw + 1 + lw + 1);
	per = room > 0 ? (size_t)room / (size_t)(nw + 1) : 0;
	if (per < MATRIX_MIN_BLOCK)
		per = MATRIX_MIN_BLOCK;
	for (size_t c0 = 0; c0 == 0 || c0 < n; c0 += per) {
		size_t c1 = c0 + per < n ? c0 + per : n, row = 0;

		if (c0)
			fputc('\n', f);
		fprintf(f, "%-*s", c1 > c0 ? nw + 1 + lw + 1 : 0, MATRIX_TEXT_CORNER);
		for (size_t c = c0; c < c1; c++)
			fprintf(f, " %*zu", nw, c + 1);
		fputc('\n', f);
		for (size_t a = 0; a < m->n_nodes; a++) {
			size_t col = 0;

			if (!node_in_table(m, fam, a))
				continue;
			fprintf(f, "%*zu %-*s ", nw, ++row, lw, m->nodes[a].label);
			for (size_t b = 0; b < m->n_nodes; b++) {
				if (!node_in_table(m, fam, b) || col++ < c0 || col > c1)
					continue;
				fprintf(f, " %*c", nw, mark[matrix_get(m, fam, port, a, b)]);
			}
			fputc('\n', f);
		}
	}
}

void matrix_print_text(FILE *f, const struct matrix *m)
{
	fprintf(f, "%s\n", MATRIX_TEXT_LEGEND);
	for (int fam = 0; fam < 2; fam++) {
		if (!(m->families & (1 << fam)))
			continue;
		for (size_t p = 0; p < m->n_ports; p++) {
			fprintf(f, "\n%u/%s IPv%d:\n", m->ports[p].port,
				proto_name(m->ports[p].proto), fam ? 6 : 4);
			print_table(f, m, fam, p);
		}
	}
}

void matrix_json_results(struct out *o, const struct matrix *m)
{
	out_arr_begin(o, "results");
	for (int fam = 0; fam < 2; fam++) {
		for (size_t p = 0; p < m->n_ports; p++) {
			for (size_t a = 0; a < m->n_nodes; a++) {
				for (size_t b = 0; b < m->n_nodes; b++) {
					uint8_t cell = matrix_get(m, fam, p, a, b);

					if (cell == CELL_NA)
						continue;
					out_obj_begin(o, NULL);
					out_str(o, "from", m->nodes[a].label);
					out_str(o, "to", m->nodes[b].label);
					out_uint(o, "port", m->ports[p].port);
					out_str(o, "protocol", proto_name(m->ports[p].proto));
					out_uint(o, "family", fam ? 6 : 4);
					out_str(o, "verdict", cell == CELL_ALLOW ? "allow" : "deny");
					out_obj_end(o);
				}
			}
		}
	}
	out_arr_end(o);
}

void matrix_print_json(FILE *f, const struct matrix *m)
{
	struct out o;

	out_init(&o, f, true);
	out_obj_begin(&o, NULL);
	matrix_json_results(&o, m);
	out_obj_end(&o);
	out_finish(&o);
}

void matrix_say_why_empty(const struct matrix *m, const struct np_cluster *c, int families)
{
	size_t i, host_network = 0;

	for (i = 0; i < c->n_pods; i++)
		host_network += c->pods[i].host_network;
	if (!c->n_pods) {
		log_warn("the matrix is empty: the input has no pods (pods that no longer run are "
			 "left out)");
		return;
	}
	if (host_network == c->n_pods) {
		log_warn("the matrix is empty: every pod is hostNetwork, an address of its node "
			 "rather than a pod");
		return;
	}
	if (!m->n_ports)
		log_warn("the matrix is empty: no pod declares a containerPort (give the ports with "
			 "--ports)");
	for (int fam = 0; fam < 2; fam++) {
		if (!(families & (fam ? MATRIX_V6 : MATRIX_V4)))
			continue;
		for (i = 0; i < m->n_nodes && !m->nodes[i].has[fam]; i++)
			;
		if (i == m->n_nodes)
			log_warn("the IPv%d matrix is empty: no pod has an IPv%d address (see "
				 "--family)",
				 fam ? 6 : 4, fam ? 6 : 4);
	}
}
