/* SPDX-License-Identifier: Apache-2.0 */
/* Limits that must hold at the edges (tracker issue 9): every named port in
 * an identity, the matrix without declared ports, streamed = stored. */
#include <stdio.h>
#include <stdlib.h>

#include "engine_fixture.h"
#include "matrix.h"

#include <npbpf/datapath.h>

static struct engine e;

static void teardown(void)
{
	engine_free(&e);
}

TestSuite(limits, .fini = teardown);

#define NAMED_PORTS 70

/* A pod web-N with NAMED_PORTS named ports p0..; the last one's number is
 * last, the others are the same for every pod. */
static size_t web_pod(char *buf, size_t len, const char *name, const char *ip, int last)
{
	size_t n = (size_t)snprintf(buf, len,
				    "---\napiVersion: v1\nkind: Pod\n"
				    "metadata: {name: %s, namespace: x, labels: {app: web}}\n"
				    "spec:\n  containers:\n  - name: c\n    ports:\n",
				    name);

	for (int i = 0; i < NAMED_PORTS; i++)
		n += (size_t)snprintf(buf + n, len - n, "    - {name: p%d, containerPort: %d}\n", i,
				      i == NAMED_PORTS - 1 ? last : 2000 + i);
	n += (size_t)snprintf(buf + n, len - n, "status: {podIP: %s}\n", ip);
	return n;
}

Test(limits, named_ports_beyond_64_are_part_of_the_identity)
{
	size_t len = 64 * 1024, n;
	char *yaml = malloc(len);

	cr_assert_not_null(yaml);
	n = (size_t)snprintf(yaml, len,
			     "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
			     "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: x}\n"
			     "status: {podIP: 198.18.1.9}\n");
	n += web_pod(yaml + n, len - n, "web1", "198.18.1.1", 9001);
	n += web_pod(yaml + n, len - n, "web2", "198.18.1.2", 9002);
	snprintf(yaml + n, len - n,
		 "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: last, namespace: x}\n"
		 "spec:\n  podSelector: {matchLabels: {app: web}}\n"
		 "  ingress:\n  - ports: [{port: p%d}]\n",
		 NAMED_PORTS - 1);
	engine_load(&e, yaml);
	free(yaml);
	cr_assert(engine_allows(&e, "x/client", "x/web1", TCP, 9001));
	cr_assert(engine_allows(&e, "x/client", "x/web2", TCP, 9002),
		  "the 70th named port resolves on its own pod");
	cr_assert_not(engine_allows(&e, "x/client", "x/web1", TCP, 9002));
	cr_assert_not(engine_allows(&e, "x/client", "x/web2", TCP, 9001),
		      "the twin's number must not leak");
}

static const char no_ports[] = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
			       "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\n"
			       "status: {podIP: 198.18.1.1}\n---\n"
			       "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x}\n"
			       "status: {podIP: 198.18.1.2}\n";

/* Declared ports of pods that declare none: no ports, no table (and no
 * qsort of a NULL array, which UBSan reports). */
Test(limits, matrix_without_declared_ports)
{
	struct matrix m, s;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	engine_load(&e, no_ports);
	cr_assert_eq(matrix_init(&m, &e.c, NULL, 0, NULL, 0, MATRIX_V4), 0);
	cr_assert_eq(m.n_ports, 0);
	cr_assert_eq(m.n_nodes, 2);
	matrix_fill_verdicts(&m, &e.cp);
	cr_assert_eq(matrix_init_streamed(&s, &e.cp, NULL, 0, NULL, 0, MATRIX_V4), 0);
	cr_assert_eq(s.n_ports, 0);
	f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	matrix_print_text(f, &s);
	fclose(f);
	cr_assert_str_eq(text, MATRIX_TEXT_LEGEND "\n");
	free(text);
	matrix_free(&s);
	matrix_free(&m);
}

static const char three_tier[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\n"
	"spec:\n  containers:\n  - name: c\n    ports: [{containerPort: 80}]\n"
	"status: {podIPs: [{ip: 198.18.1.1}, {ip: '2001:db8::1'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {app: b}}\n"
	"spec:\n  containers:\n  - name: c\n    ports: [{containerPort: 81, protocol: UDP}]\n"
	"status: {podIP: 198.18.1.2}\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: only-a, namespace: x}\n"
	"spec:\n  podSelector: {matchLabels: {app: b}}\n"
	"  ingress:\n  - from: [{podSelector: {matchLabels: {app: a}}}]\n";

/* explain streams the matrix; the lab stores it: both must read the same. */
Test(limits, streamed_matrix_equals_stored)
{
	struct np_addr ext;
	struct matrix m, s;
	size_t cells = 0;

	engine_load(&e, three_tier);
	cr_assert_eq(addr_parse("203.0.113.7", false, &ext), 0);
	for (int declared = 0; declared < 2; declared++) {
		struct matrix_port ports[] = { { 80, TCP }, { 81, IPPROTO_UDP } };
		const struct matrix_port *p = declared ? NULL : ports;

		cr_assert_eq(matrix_init(&m, &e.c, p, 2, &ext, 1, MATRIX_V4 | MATRIX_V6), 0);
		matrix_fill_verdicts(&m, &e.cp);
		cr_assert_eq(matrix_init_streamed(&s, &e.cp, p, 2, &ext, 1, MATRIX_V4 | MATRIX_V6),
			     0);
		cr_assert_null(s.cells);
		cr_assert_eq(s.n_ports, m.n_ports);
		cr_assert_eq(s.n_nodes, m.n_nodes);
		for (int fam = 0; fam < 2; fam++)
			for (size_t port = 0; port < m.n_ports; port++)
				for (size_t a = 0; a < m.n_nodes; a++)
					for (size_t b = 0; b < m.n_nodes; b++) {
						uint8_t want = *matrix_cell(&m, fam, port, a, b);

						cr_assert_eq(matrix_get(&s, fam, port, a, b), want,
							     "fam %d port %zu %zu->%zu", fam, port,
							     a, b);
						cells += want != CELL_NA;
					}
		matrix_free(&s);
		matrix_free(&m);
	}
	cr_assert_gt(cells, 0);
}

/* The denial cache's map: a region per CPU, its memory bounded however many
 * CPUs the machine may have (those past the bound cache nothing). */
Test(limits, denial_cache_memory_is_bounded)
{
	cr_assert_eq(npbpf_deny_entries(0), NPBPF_DENY_SLOTS);
	cr_assert_eq(npbpf_deny_entries(2), 2 * NPBPF_DENY_SLOTS);
	cr_assert_eq(npbpf_deny_entries(128), 128 * NPBPF_DENY_SLOTS);
	cr_assert_leq((uint64_t)npbpf_deny_entries(8192) * sizeof(struct npbpf_deny_slot),
		      NPBPF_DENY_MAX_BYTES);
	cr_assert_geq(npbpf_deny_entries(8192), 128 * NPBPF_DENY_SLOTS);
}
