/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_datapath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab_ip.h"
#include "lab_state.h"
#include "loader.h"
#include "log.h"
#include "mapsync.h"

void lab_datapath_pin_dir(const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", LAB_PIN_PREFIX, id);
}

static int sync_tables(struct loader *l, const struct lab_net *net, const struct compiled *cp)
{
	struct endpoint_binding *eps = calloc(net->n_hosts ? net->n_hosts : 1, sizeof(*eps));
	struct sync_stats st;
	size_t n = 0;
	int err;

	if (!eps)
		return -ENOMEM;
	for (size_t i = 0; i < net->n_hosts; i++) {
		if (!net->hosts[i].pod)
			continue;
		eps[n].ns = net->hosts[i].pod->ns;
		eps[n].name = net->hosts[i].pod->name;
		eps[n].ifindex = net->hosts[i].ifindex;
		eps[n].has_mac = true;
		/* The bridge plugin's eth0 has a random MAC: the one it reported. */
		if (net->hosts[i].has_mac)
			memcpy(eps[n].mac, net->hosts[i].mac, sizeof(eps[n].mac));
		else
			lab_host_mac(net->hosts[i].slot, eps[n].mac);
		n++;
	}
	err = mapsync_apply(l, cp, eps, n, &st);
	free(eps);
	return err;
}

/* Attachment goes through netlink in the calling thread's namespace: the
 * veths are in the node's. With xdp, npbpf_xdp_from_pod judges the pod's
 * egress before an skb exists; TC stays attached behind it, because only TC
 * sees a VLAN tag the kernel moved into skb metadata. */
static int attach_all(struct loader *l, const struct lab_net *net, bool xdp)
{
	int saved, err;

	err = lab_netns_enter(net->node_netns, &saved);
	for (size_t i = 0; !err && i < net->n_hosts; i++) {
		if (!net->hosts[i].pod)
			continue;
		err = loader_attach_tc(l, net->hosts[i].ifindex);
		if (!err && xdp)
			err = loader_attach_xdp(l, net->hosts[i].ifindex, false);
	}
	if (lab_netns_leave(saved) && !err)
		err = -EIO;
	return err;
}

int lab_datapath_load(const char *pin_dir, const struct lab_net *net, struct loader **out)
{
	struct loader_opts opts = {
		.pin_dir = pin_dir,
		.cfg_flags = net->mode == LAB_MODE_BRIDGE ? NPBPF_CFG_BRIDGED : 0,
	};

	*out = NULL;
	return loader_open(&opts, out);
}

int lab_datapath_open(const char *pin_dir, const struct lab_net *net, const struct compiled *cp,
		      bool xdp, struct loader **out)
{
	struct loader *l = *out;
	int err = 0;

	/* Loaded already (--cni), or now. */
	*out = NULL;
	if (!l)
		err = lab_datapath_load(pin_dir, net, &l);
	/* Tables first: a veth with no endpoint entry drops everything. */
	if (!err)
		err = sync_tables(l, net, cp);
	if (!err)
		err = attach_all(l, net, xdp);
	if (err) {
		loader_free(l);
		return err;
	}
	*out = l;
	return 0;
}

void lab_datapath_close(struct loader *l)
{
	loader_free(l);
}
