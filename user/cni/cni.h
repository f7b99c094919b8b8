/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf-cni: a chained CNI plugin (spec 1.0.0 and 0.4.0), appended to the
 * node's conflist after the main plugin (flannel -> bridge + host-local).
 * On ADD it writes the pod's segment and a pending record (cni_window.h),
 * attaches the pinned datapath programs to the pod's host-side veth before
 * the pod's first packet (pending: isolated, the node alone reaches it),
 * asks the agent to bind the pod, and waits for that. DEL undoes, CHECK verifies, VERSION
 * answers. `npbpf-cni install|uninstall` edits the conflist (the DaemonSet's
 * init container).
 */
#ifndef NPBPF_CNI_H
#define NPBPF_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CNI_DEFAULT_SOCKET     "/run/npbpf/cni.sock"
#define CNI_DEFAULT_TIMEOUT_MS 2000
#define CNI_PLUGIN_TYPE	       "npbpf-cni"

/* CNI error codes (spec "Error" section) and ours (100+). */
enum cni_code {
	CNI_ERR_VERSION = 1, /* incompatible CNI version */
	CNI_ERR_FIELD = 2,   /* unsupported field in network configuration */
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_CONFIG = 4, /* invalid network config */
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_ENV = 7,	   /* invalid necessary environment variables */
	CNI_ERR_TRY_LATER = 11,	   /* try again later */
	CNI_ERR_NO_DATAPATH = 100, /* the programs are not pinned: no agent ever ran here */
	CNI_ERR_ATTACH = 101,	   /* attaching the programs failed */
	CNI_ERR_NO_VETH = 102,	   /* the pod's host-side veth was not found */
	CNI_ERR_CHECK = 103,	   /* CHECK: programs or endpoint missing */
	CNI_ERR_MAPS = 104,	   /* reading or writing a pinned map failed */
};

/* `npbpf-cni install|uninstall [--conf-dir DIR] [--bin-dir DIR] ...`:
 * returns the exit status. */
int cni_install_main(int argc, char **argv);

#endif
