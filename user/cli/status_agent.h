/* SPDX-License-Identifier: Apache-2.0 */
#ifndef NPBPF_STATUS_AGENT_H
#define NPBPF_STATUS_AGENT_H

struct out;

/* The "agent" member of the summary: the agent's state file when it names
 * pin_dir's maps (or names none), else a line saying there is none. */
void status_agent_section(struct out *o, const char *state_file, const char *pin_dir);

#endif
