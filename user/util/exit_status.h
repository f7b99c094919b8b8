/* SPDX-License-Identifier: Apache-2.0 */
/* Process exit statuses, shared by the commands and the libraries that run
 * a whole command (bench verdict, the lab's report): 0 success, 1 failure
 * (or "denied" for explain), 2 bad usage or bad input. */
#ifndef NPBPF_EXIT_STATUS_H
#define NPBPF_EXIT_STATUS_H

enum exit_status {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
};

#endif
