/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_report.h"

#include "exit_status.h"
#include "json_out.h"
#include "lab_cni.h"
#include "lab_ip.h"

static void print_addrs(struct out *o, const char *key, const struct np_addr *v, size_t n)
{
	char buf[64];

	out_arr_begin(o, key);
	for (size_t i = 0; i < n; i++)
		out_str(o, NULL, addr_format(&v[i], buf, sizeof(buf)));
	out_arr_end(o);
}

static void print_host(struct out *o, const char *key, const struct lab_host *h)
{
	char buf[600];

	out_obj_begin(o, key);
	if (h->pod) {
		snprintf(buf, sizeof(buf), "%s/%s", h->pod->ns, h->pod->name);
		out_str(o, "name", buf);
	}
	out_str(o, "netns", h->netns);
	out_str(o, "host_veth", h->veth);
	print_addrs(o, "addresses", h->addrs, h->n_addrs);
	out_obj_end(o);
}

static void print_placement(struct out *o, const struct lab_placement *p)
{
	const struct lab_net *net = p->net;
	char buf[600];

	out_obj_begin(o, "lab");
	out_str(o, "id", p->id);
	out_str(o, "mode", lab_mode_name(p->mode));
	out_str(o, "node_netns", net->node_netns);
	out_str(o, "pin_dir", p->pin_dir);
	/* --cni: the list, the CNI cache and host-local's allocations */
	if (net->cni)
		out_str(o, "cni_dir", net->cni->dir);
	print_addrs(o, "node_addresses", net->node, 2);
	/* Not `ip netns exec`: it remounts /sys, hiding the pins on bpffs. */
	snprintf(buf, sizeof(buf), "nsenter --net=%s/%s npbpf status --pin-dir %s", LAB_NETNS_DIR,
		 net->node_netns, p->pin_dir);
	out_str(o, "status_with", buf);
	snprintf(buf, sizeof(buf), "npbpf lab --down %s", p->id);
	out_str(o, "remove_with", buf);
	if (p->node) {
		out_str(o, "node", p->node);
		out_int(o, "agent_pid", p->agent_pid);
		out_str(o, "agent_log", p->agent_log ? p->agent_log : "");
		snprintf(buf, sizeof(buf), "npbpf lab probe %s", p->id);
		out_str(o, "probe_with", buf);
	}
	out_obj_end(o);
	out_arr_begin(o, "pods");
	for (size_t i = 0; i < net->n_hosts; i++) {
		if (net->hosts[i].pod)
			print_host(o, NULL, &net->hosts[i]);
	}
	out_arr_end(o);
	for (size_t i = 0; i < net->n_hosts; i++) {
		if (!net->hosts[i].pod)
			print_host(o, "external", &net->hosts[i]);
	}
}

void lab_report_matrix(FILE *f, bool json, const struct matrix *m, double seconds,
		       const struct lab_placement *kept)
{
	struct out o;

	out_init(&o, f, json);
	if (json) {
		out_obj_begin(&o, NULL);
		matrix_json_results(&o, m);
		out_double(&o, "seconds", seconds, 3);
		if (kept)
			print_placement(&o, kept);
		out_obj_end(&o);
	} else {
		matrix_print_text(f, m);
		if (kept) {
			fputc('\n', f);
			print_placement(&o, kept);
		}
	}
	out_finish(&o);
}

static const char *down_state(const struct lab_down_result *r)
{
	return r->running ? "running" : r->err ? "failed" : "removed";
}

int lab_report_down(FILE *f, bool json, const struct lab_down_result *r, size_t n)
{
	int ret = EXIT_OK;
	struct out o;

	out_init(&o, f, json);
	out_obj_begin(&o, NULL);
	out_arr_begin(&o, "labs");
	for (size_t i = 0; i < n; i++) {
		if (r[i].err)
			ret = EXIT_FAIL;
		out_obj_begin(&o, NULL);
		out_str(&o, "id", r[i].id);
		out_str(&o, "state", down_state(&r[i]));
		out_str(&o, "left_by", r[i].kept ? "--keep" : "a crash");
		out_int(&o, "pid", r[i].pid);
		out_obj_end(&o);
	}
	out_arr_end(&o);
	out_obj_end(&o);
	out_finish(&o);
	return ret;
}
