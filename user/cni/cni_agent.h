/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin's side of the agent socket (the agent's is
 * user/agent/agent_cni.c): a unix stream socket, one JSON object per line
 * each way.
 *
 *   {"op":"add","namespace":"NS","pod":"NAME","containerId":"ID","ifindex":N,
 *    "ifname":"vethX","mac":"aa:bb:..","addrs":["198.18.64.5","2001:db8::5"],
 *    "timeoutMs":2000}
 *   -> {"ok":true,"state":"bound","identity":N}       the endpoint is bound
 *   -> {"ok":false,"state":"pending","why":"..."}     at the agent's timeout
 *   {"op":"del","namespace":"NS","pod":"NAME","containerId":"ID","ifindex":N}
 *   -> {"ok":true}                                    (not waited for long)
 */
#ifndef NPBPF_CNI_AGENT_H
#define NPBPF_CNI_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_reply {
	bool ok;
	char state[32];
	uint32_t identity;
	char why[256];
};

/* Connects to path, sends line (one JSON object and '\n'), and reads one
 * reply line until timeout_ms has passed since the call. Returns 0 with
 * *reply filled, -ENOENT / -ECONNREFUSED when no agent listens, -ETIMEDOUT,
 * -EPROTO for a reply that is not the protocol's, or another -errno. */
int agent_call(const char *path, const char *line, int timeout_ms, struct agent_reply *reply);

/* true when something accepts connections on path (the agent runs). */
bool agent_listening(const char *path);

#endif
