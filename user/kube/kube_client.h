/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS requests to the API server (libcurl): TLS with the configured CA,
 * client certificates, a bearer token re-read from its file every 60 s and
 * after a 401, gzip bodies, the body streamed to a callback.
 */
#ifndef NPBPF_KUBE_CLIENT_H
#define NPBPF_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "kube_config.h"

struct kube_client;

/* Copies what it needs from cfg. 0 or -errno. */
int kube_client_new(const struct kube_config *cfg, struct kube_client **out);
void kube_client_free(struct kube_client *c);
const char *kube_client_server(const struct kube_client *c);

/* Called with each piece of the body as it arrives (resp->status is already
 * set then). Return 0 to go on, a negative errno to abort the request
 * (kube_get then returns it). */
typedef int (*kube_body_fn)(const void *buf, size_t len, void *arg);

struct kube_response {
	long status;	      /* HTTP status, 0 when none was received */
	double retry_after_s; /* Retry-After, -1 when absent */
	char error[256];      /* what failed when kube_get returns -errno, else "" */
};

/* A thread-safe way to abort a request in flight from another thread. */
struct kube_cancel {
	volatile int stop; /* set to 1: the request ends with -ECANCELED */
};

/*
 * GET server + path (path starts with '/', query included). The body goes to
 * fn whatever the status (a Status object explains an error). idle_s: abort
 * with -ETIMEDOUT when no byte arrives for that long (0: no limit). Returns 0
 * when a response was received (see resp->status), or -errno for transport
 * failures (-ECONNREFUSED, -ETIMEDOUT, -ECANCELED, ...; logged at debug).
 */
int kube_get(struct kube_client *c, const char *path, kube_body_fn fn, void *arg, double idle_s,
	     struct kube_cancel *cancel, struct kube_response *resp);

#endif /* NPBPF_KUBE_CLIENT_H */
