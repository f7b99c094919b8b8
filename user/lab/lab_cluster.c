/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube_client.h"
#include "kube_config.h"
#include "lab_state.h"
#include "log.h"
#include "vec.h"

int lab_cluster_list(const char *kubeconfig, struct np_cluster *c, struct kube_list_info *info)
{
	struct kube_config cfg = { 0 };
	struct kube_client *kc = NULL;
	int err;

	err = kube_config_load(kubeconfig, NULL, NULL, &cfg);
	if (err)
		return err == -ENOMEM ? err : -EINVAL;
	err = kube_client_new(&cfg, &kc);
	if (err) {
		log_error("lab: API client for %s: %s", cfg.server, strerror(-err));
	} else {
		log_info("lab: listing the cluster from %s (%s)", cfg.server, cfg.source);
		err = kube_list_cluster(kc, c, info);
	}
	if (!err)
		log_info("lab: listed %zu namespaces, %zu pods, %zu networkpolicies",
			 info->n_objects[KUBE_NAMESPACES], info->n_objects[KUBE_PODS],
			 info->n_objects[KUBE_POLICIES]);
	kube_client_free(kc);
	kube_config_free(&cfg);
	return err;
}

void lab_cluster_note_pending(const struct np_cluster *c, const char *node)
{
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct np_pod *p = &c->pods[i];

		if (p->node && !strcmp(p->node, node) && !p->host_network && !p->n_addrs)
			log_info("lab: pod %s/%s on %s has no address yet: no namespace for it",
				 p->ns, p->name, node);
	}
}

int lab_matrix_restrict(struct matrix *m, const struct lab_net *net)
{
	size_t *keep = calloc(m->n_nodes + 1, sizeof(*keep)), *pkeep = NULL;
	size_t n = 0, np = 0, on = m->n_nodes;
	uint8_t *cells = NULL;

	if (!keep)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_nodes; i++) {
		if (m->nodes[i].pod && lab_net_host_of(net, m->nodes[i].pod))
			keep[n++] = i;
	}
	pkeep = calloc(m->n_ports + 1, sizeof(*pkeep));
	if (!pkeep)
		goto nomem;
	for (size_t p = 0; p < m->n_ports; p++) {
		bool used = !m->declared_only;

		for (size_t k = 0; !used && k < n; k++) {
			const struct np_pod *pod = m->nodes[keep[k]].pod;

			for (size_t c = 0; !used && c < pod->n_ports; c++)
				used = pod->ports[c].port == m->ports[p].port &&
				       pod->ports[c].proto == m->ports[p].proto;
		}
		if (used)
			pkeep[np++] = p;
	}
	if (m->cells) {
		size_t total = 2 * (np ? np : 1) * (n ? n : 1) * (n ? n : 1);

		cells = calloc(total, 1);
		if (!cells)
			goto nomem;
		for (int fam = 0; fam < 2; fam++)
			for (size_t p = 0; p < np; p++)
				for (size_t a = 0; a < n; a++)
					for (size_t b = 0; b < n; b++)
						cells[(((size_t)fam * np + p) * n + a) * n + b] =
							*matrix_cell(m, fam, pkeep[p], keep[a],
								     keep[b]);
		free(m->cells);
		m->cells = cells;
	}
	for (size_t i = 0, k = 0; i < on; i++) {
		if (k < n && keep[k] == i)
			m->nodes[k++] = m->nodes[i];
		else
			free(m->nodes[i].label);
	}
	m->n_nodes = n;
	for (size_t p = 0; p < np; p++)
		m->ports[p] = m->ports[pkeep[p]];
	m->n_ports = np;
	free(keep);
	free(pkeep);
	return 0;
nomem:
	free(keep);
	free(pkeep);
	return -ENOMEM;
}

/* ---- the settings of a kept lab */

void lab_cluster_cfg_path(const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.cluster", LAB_STATE_DIR, id);
}

void lab_cluster_addrs_text(const struct np_addr *v, size_t n, char *buf, size_t len)
{
	size_t off = 0;
	char a[64];

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? "," : "",
				 addr_format(&v[i], a, sizeof(a)));

		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (!n)
		snprintf(buf, len, "-");
}

int lab_cluster_cfg_hosts(struct lab_cluster_cfg *cfg, const struct lab_net *net)
{
	cfg->n_hosts = 0;
	for (size_t i = 0; i < net->n_hosts; i++) {
		const struct lab_host *h = &net->hosts[i];
		struct lab_cluster_host *ch;

		if (!h->pod)
			continue;
		ch = VEC_PUSH(cfg->hosts, cfg->n_hosts, cfg->cap_hosts);
		if (!ch)
			return -ENOMEM;
		ch->slot = h->slot;
		snprintf(ch->ns, sizeof(ch->ns), "%s", h->pod->ns);
		snprintf(ch->name, sizeof(ch->name), "%s", h->pod->name);
		lab_cluster_addrs_text(h->addrs, h->n_addrs, ch->addrs, sizeof(ch->addrs));
		snprintf(ch->netns, sizeof(ch->netns), "%s", h->netns);
		if (h->slot + 1 > cfg->next_slot)
			cfg->next_slot = h->slot + 1;
	}
	return 0;
}

int lab_cluster_cfg_save(const struct lab_cluster_cfg *cfg, const char *path)
{
	char tmp[600], a[64], b[64];
	FILE *f;
	int err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		err = -errno;
		log_error("lab: writing %s: %s", tmp, strerror(-err));
		return err;
	}
	fprintf(f, "kubeconfig %s\nnode %s\nmode %s\nfamilies %d\ntimeout-ms %d\n",
		cfg->kubeconfig, cfg->node, lab_mode_name(cfg->mode), cfg->families,
		cfg->timeout_ms);
	fprintf(f, "enforce-host %d\nxdp %d\nnode-addr %s %s\nagent %d\nnext-slot %zu\n",
		cfg->enforce_host, cfg->xdp, addr_format(&cfg->node_addr[0], a, sizeof(a)),
		addr_format(&cfg->node_addr[1], b, sizeof(b)), cfg->agent_pid, cfg->next_slot);
	if (cfg->ports) {
		fputs("ports ", f);
		for (size_t i = 0; i < cfg->n_ports; i++)
			fprintf(f, "%s%u/%s", i ? "," : "", cfg->ports[i].port,
				proto_name(cfg->ports[i].proto));
		fputc('\n', f);
	}
	for (size_t i = 0; i < cfg->n_hosts; i++) {
		const struct lab_cluster_host *h = &cfg->hosts[i];

		fprintf(f, "host %zu %s %s %s %s\n", h->slot, h->ns, h->name, h->addrs, h->netns);
	}
	if (fflush(f) || ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -EIO;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		log_error("lab: writing %s: %s", path, strerror(-err));
		unlink(tmp);
	}
	return err;
}

static int parse_line(struct lab_cluster_cfg *cfg, char *line)
{
	char *val = strchr(line, ' ');
	char x[80], y[80];
	int v;

	if (!val)
		return *line ? -EINVAL : 0;
	*val++ = '\0';
	if (!strcmp(line, "kubeconfig")) {
		snprintf(cfg->kubeconfig, sizeof(cfg->kubeconfig), "%s", val);
	} else if (!strcmp(line, "node")) {
		snprintf(cfg->node, sizeof(cfg->node), "%s", val);
	} else if (!strcmp(line, "mode")) {
		return lab_mode_parse(val, &cfg->mode);
	} else if (!strcmp(line, "families")) {
		cfg->families = atoi(val);
	} else if (!strcmp(line, "timeout-ms")) {
		cfg->timeout_ms = atoi(val);
	} else if (!strcmp(line, "enforce-host")) {
		cfg->enforce_host = atoi(val);
	} else if (!strcmp(line, "xdp")) {
		cfg->xdp = atoi(val);
	} else if (!strcmp(line, "agent")) {
		cfg->agent_pid = atoi(val);
	} else if (!strcmp(line, "next-slot")) {
		cfg->next_slot = strtoul(val, NULL, 10);
	} else if (!strcmp(line, "node-addr")) {
		if (sscanf(val, "%79s %79s", x, y) != 2 || addr_parse(x, false, &cfg->node_addr[0]) ||
		    addr_parse(y, false, &cfg->node_addr[1]))
			return -EINVAL;
	} else if (!strcmp(line, "ports")) {
		return matrix_parse_ports(val, &cfg->ports, &cfg->n_ports);
	} else if (!strcmp(line, "host")) {
		struct lab_cluster_host *h = VEC_PUSH(cfg->hosts, cfg->n_hosts, cfg->cap_hosts);

		if (!h)
			return -ENOMEM;
		if (sscanf(val, "%zu %253s %253s %255s %127s", &h->slot, h->ns, h->name, h->addrs,
			   h->netns) != 5)
			return -EINVAL;
	}
	(void)v;
	return 0;
}

int lab_cluster_cfg_load(struct lab_cluster_cfg *cfg, const char *path)
{
	char line[8192];
	FILE *f = fopen(path, "re");
	int err = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (!f) {
		err = -errno;
		if (err == -ENOENT)
			log_error("lab: %s does not exist: this lab was not made with --kubeconfig "
				  "(only cluster-mode labs can be probed again)",
				  path);
		else
			log_error("lab: reading %s: %s", path, strerror(-err));
		return err;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		err = parse_line(cfg, line);
	}
	fclose(f);
	if (!err && (!cfg->kubeconfig[0] || !cfg->node[0] || !cfg->families ||
		     !cfg->timeout_ms || !cfg->node_addr[0].family))
		err = -EINVAL;
	if (err) {
		if (err != -ENOMEM)
			log_error("lab: %s is damaged", path);
		lab_cluster_cfg_free(cfg);
		return err == -ENOMEM ? err : -EINVAL;
	}
	return 0;
}

void lab_cluster_cfg_free(struct lab_cluster_cfg *cfg)
{
	free(cfg->ports);
	free(cfg->hosts);
	cfg->ports = NULL;
	cfg->hosts = NULL;
	cfg->n_ports = cfg->n_hosts = cfg->cap_hosts = 0;
}

int lab_cluster_match(struct lab_cluster_cfg *cfg, struct lab_net *net, const char *id,
		      bool **fresh, size_t **gone, size_t *n_gone)
{
	bool *used = calloc(cfg->n_hosts + 1, sizeof(*used));
	char addrs[256];

	*fresh = calloc(net->n_hosts + 1, sizeof(**fresh));
	*gone = calloc(cfg->n_hosts + 1, sizeof(**gone));
	*n_gone = 0;
	if (!used || !*fresh || !*gone) {
		free(used);
		free(*fresh);
		free(*gone);
		*fresh = NULL;
		*gone = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < net->n_hosts; i++) {
		struct lab_host *h = &net->hosts[i];
		bool found = false;

		lab_cluster_addrs_text(h->addrs, h->n_addrs, addrs, sizeof(addrs));
		for (size_t k = 0; !found && k < cfg->n_hosts; k++) {
			const struct lab_cluster_host *ch = &cfg->hosts[k];

			if (used[k] || strcmp(ch->ns, h->pod->ns) || strcmp(ch->name, h->pod->name) ||
			    strcmp(ch->addrs, addrs))
				continue;
			used[k] = true;
			h->slot = ch->slot;
			found = true;
		}
		if (!found) {
			h->slot = cfg->next_slot++;
			(*fresh)[i] = true;
		}
	}
	for (size_t k = 0; k < cfg->n_hosts; k++)
		if (!used[k])
			(*gone)[(*n_gone)++] = k;
	free(used);
	lab_net_name(net, id);
	return 0;
}
