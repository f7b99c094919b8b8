/* SPDX-License-Identifier: Apache-2.0 */
/* Process exit statuses, shared by the commands and the libraries that run
 * a whole command (bench verdict, the lab's report): 0 success, 1 failure
 * (or "denied" for explain), 2 bad usage or bad input. */
#ifndef NPBPF_EXIT_STATUS_H
#define NPBPF_EXIT_STATUS_H

#include <errno.h>

enum exit_status {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
};

/* The status for an error while reading what the user gave (arguments,
 * manifests): running out of memory is npbpf's failure, not bad input. */
static inline enum exit_status exit_status_input(int err)
{
	return !err ? EXIT_OK : err == -ENOMEM ? EXIT_FAIL : EXIT_USAGE;
}

#endif
