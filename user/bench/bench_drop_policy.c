/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_drop_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_drop_net.h"
#include "loader.h"
#include "log.h"
#include "manifest.h"
#include "mapsync.h"
#include "pinned.h"

static void put_addr(FILE *f, uint32_t a)
{
	fprintf(f, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

static void put_pod(FILE *f, const char *name, const char *app, uint32_t addr)
{
	fprintf(f,
		"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: bench\n"
		"  labels:\n    app: %s\nspec:\n  containers:\n  - name: c\n    image: x\n"
		"status:\n  phase: Running\n  podIP: ",
		name, app);
	put_addr(f, addr);
	fputc('\n', f);
}

/* An egress policy of the sender towards pods app=peer on UDP ports. */
static void put_policy(FILE *f, const char *name, const char *peer, const uint16_t *ports,
		       int n_ports)
{
	fprintf(f,
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
		"  name: %s\n  namespace: bench\nspec:\n  podSelector:\n    matchLabels:\n"
		"      app: sender\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
		"    - podSelector:\n        matchLabels:\n          app: %s\n    ports:\n",
		name, peer);
	for (int i = 0; i < n_ports; i++)
		fprintf(f, "    - protocol: UDP\n      port: %u\n", ports[i]);
}

/* The manifests of n policies into *buf (malloc'd). */
static int write_manifests(uint32_t n, char **buf, size_t *len)
{
	static const uint16_t allow[] = { BD_PORT_ALLOW_0, BD_PORT_ALLOW_1 };
	FILE *f = open_memstream(buf, len);
	char name[32], app[32];

	if (!f)
		return -errno;
	fprintf(f, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n");
	put_pod(f, "sender", "sender", BD_POD_ADDR);
	put_pod(f, "receiver", "receiver", BD_RCV_ADDR);
	put_policy(f, "allow-receiver", "receiver", allow, 2);
	for (uint32_t i = 1; i < n; i++) {
		uint16_t port = (uint16_t)(10000 + i);

		snprintf(name, sizeof(name), "peer-%u", i);
		snprintf(app, sizeof(app), "peer-%u", i);
		put_pod(f, name, app, BD_PEER_ADDR(i));
		put_policy(f, name, app, &port, 1);
	}
	if (fclose(f))
		return -errno;
	return 0;
}

int bd_policy_build(uint32_t n, struct bd_policy *p)
{
	struct compile_opts opts = { 0 };
	char *buf = NULL, label[32];
	size_t len = 0;
	int err;

	memset(p, 0, sizeof(*p));
	p->n = n;
	cluster_init(&p->c);
	err = write_manifests(n, &buf, &len);
	if (err) {
		log_error("writing %u policies: %s", n, strerror(-err));
		goto out;
	}
	snprintf(label, sizeof(label), "bench-drop-%u", n);
	err = manifest_load_buffer(&p->c, label, buf, len);
	if (err) {
		/* The input is ours: an error here is a bug of the bench. */
		log_error("the generated policy set did not load: %s", strerror(-err));
		goto out;
	}
	err = compile_cluster(&p->c, &opts, &p->cp);
	if (err) {
		log_error("compiling %u policies: %s", n, strerror(-err));
		goto out;
	}
	p->compiled = true;
	for (size_t i = 0; i < p->cp.n_endpoints; i++)
		if (!strcmp(p->cp.endpoints[i].pod->name, "sender"))
			p->subject = p->cp.endpoints[i].value.identity;
	if (!p->subject) {
		log_error("the sender has no identity in the compile");
		err = -EPROTO;
	}
out:
	free(buf);
	return err;
}

void bd_policy_free(struct bd_policy *p)
{
	if (p->compiled)
		compiled_free(&p->cp);
	p->compiled = false;
	cluster_free(&p->c);
}

int bd_npbpf_open(const char *root, const struct bd_policy *p, uint32_t ifindex,
		  struct bd_npbpf *out)
{
	struct endpoint_binding ep = { .ns = "bench", .name = "sender", .ifindex = ifindex,
				       .has_mac = true };
	struct loader_opts lo = { 0 };
	struct sync_stats st;
	int err;

	memset(out, 0, sizeof(*out));
	snprintf(out->dir, sizeof(out->dir), "%s/p%u", root, p->n);
	memcpy(ep.mac, bd_pod_mac, sizeof(ep.mac));
	lo.pin_dir = out->dir;
	out->pinned = true; /* loader_open may fail half-way, after pinning */
	err = loader_open(&lo, &out->l);
	if (err)
		return err;
	/* The agent's own path from a compile to the maps: what a later
	 * change of the datapath or the sync does shows up here as it is. */
	err = mapsync_apply(out->l, &p->cp, &ep, 1, &st);
	if (!err && st.endpoints_skipped) {
		log_error("the map sync did not bind the sender");
		err = -EPROTO;
	}
	return err;
}

void bd_npbpf_close(struct bd_npbpf *x)
{
	if (x->pinned) {
		if (x->l ? loader_unpin(x->l) == 0 : pinned_remove_dir(x->dir) == 0)
			x->pinned = false;
		else
			log_warn("%s left behind", x->dir);
	}
	loader_free(x->l);
	x->l = NULL;
}
