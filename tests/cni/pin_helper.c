/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: loads the datapath into a pin directory the way the agent's
 * loader does (maps, programs, pins) and exits, leaving the pins for
 * npbpf-cni to open. `pin_helper DIR [bridged]`; `pin_helper -r DIR` removes
 * them.
 */
#include <npbpf/datapath.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct loader_opts o = {0};
	struct loader *l;
	int err;

	if (argc == 3 && !strcmp(argv[1], "-r"))
		return pinned_remove_dir(argv[2]) ? 1 : 0;
	if (argc < 2) {
		fprintf(stderr, "usage: pin_helper DIR [bridged] | pin_helper -r DIR\n");
		return 2;
	}
	log_set_context("pin_helper");
	o.pin_dir = argv[1];
	o.replace = true;
	if (argc > 2 && !strcmp(argv[2], "bridged"))
		o.cfg_flags = NPBPF_CFG_BRIDGED;
	err = loader_open(&o, &l);
	if (err)
		return 1;
	loader_free(l);
	return 0;
}
