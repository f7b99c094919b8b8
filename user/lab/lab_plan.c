/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vec.h"

static const struct lab_host *host_of_node(const struct lab_net *net, const struct matrix_node *nd)
{
	if (nd->pod)
		return lab_net_host_of(net, nd->pod);
	for (size_t i = 0; i < net->n_hosts; i++) {
		if (!net->hosts[i].pod)
			return &net->hosts[i];
	}
	return NULL;
}

static struct lab_worker *worker_of(struct lab_workers *ws, const struct lab_host *h)
{
	for (size_t i = 0; h && i < ws->n; i++) {
		if (ws->v[i].host == h)
			return &ws->v[i];
	}
	return NULL;
}

static int plan_cells(struct lab_workers *ws, const struct matrix *m, const struct lab_net *net,
		      bool *need)
{
	size_t n = m->n_nodes;

	for (int fam = 0; fam < 2; fam++) {
		for (size_t p = 0; p < m->n_ports; p++) {
			for (size_t a = 0; a < n; a++) {
				struct lab_worker *w = worker_of(ws, host_of_node(net, &m->nodes[a]));

				for (size_t b = 0; b < n; b++) {
					uint8_t *cell = matrix_cell(m, fam, p, a, b);
					struct lab_probe *pr;

					if (*cell == CELL_NA)
						continue;
					if (!w)
						return -ENOENT;
					pr = VEC_PUSH(w->probes, w->n_probes, w->cap_probes);
					if (!pr)
						return -ENOMEM;
					pr->src = m->nodes[a].addr[fam];
					pr->dst = m->nodes[b].addr[fam];
					pr->port = m->ports[p].port;
					pr->proto = m->ports[p].proto;
					pr->cell = (uint32_t)(cell - m->cells);
					need[(fam * m->n_ports + p) * n + b] = true;
				}
			}
		}
	}
	return 0;
}

static int plan_listens(struct lab_workers *ws, const struct matrix *m, const struct lab_net *net,
			const bool *need)
{
	size_t n = m->n_nodes;

	for (size_t b = 0; b < n; b++) {
		struct lab_worker *w = worker_of(ws, host_of_node(net, &m->nodes[b]));

		for (int fam = 0; fam < 2; fam++) {
			for (size_t p = 0; p < m->n_ports; p++) {
				struct lab_listen_spec *l;

				if (!need[(fam * m->n_ports + p) * n + b])
					continue;
				if (!w)
					return -ENOENT;
				l = VEC_PUSH(w->listens, w->n_listens, w->cap_listens);
				if (!l)
					return -ENOMEM;
				l->addr = m->nodes[b].addr[fam];
				l->port = m->ports[p].port;
				l->proto = m->ports[p].proto;
			}
		}
	}
	return 0;
}

int lab_workers_plan(struct lab_workers *ws, const struct matrix *m, const struct lab_net *net,
		     int timeout_ms)
{
	size_t cells = 2 * m->n_ports * m->n_nodes;
	bool *need = calloc(cells ? cells : 1, sizeof(*need));
	int err = need ? 0 : -ENOMEM;

	memset(ws, 0, sizeof(*ws));
	ws->timeout_ms = timeout_ms;
	ws->v = calloc(net->n_hosts ? net->n_hosts : 1, sizeof(*ws->v));
	if (!ws->v)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < net->n_hosts; i++) {
		ws->v[i].host = &net->hosts[i];
		ws->v[i].ctl = ws->v[i].rep = -1;
		ws->n++;
	}
	if (!err)
		err = plan_cells(ws, m, net, need);
	if (!err)
		err = plan_listens(ws, m, net, need);
	for (size_t i = 0; !err && i < ws->n; i++) {
		ws->v[i].report = calloc(ws->v[i].n_probes + sizeof(uint32_t), 1);
		if (!ws->v[i].report)
			err = -ENOMEM;
	}
	free(need);
	if (err == -ENOENT)
		log_error("lab: a matrix endpoint has no namespace (internal error)");
	if (err)
		lab_workers_free(ws);
	return err;
}

size_t lab_workers_n_probes(const struct lab_workers *ws)
{
	size_t n = 0;

	for (size_t i = 0; i < ws->n; i++)
		n += ws->v[i].n_probes;
	return n;
}

