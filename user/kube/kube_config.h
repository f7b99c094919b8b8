/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the API server is and how to authenticate to it: in-cluster (the
 * service account), a kubeconfig file, and an address override.
 */
#ifndef NPBPF_KUBE_CONFIG_H
#define NPBPF_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_config {
	char *server; /* "https://host:port" (IPv6 bracketed), no trailing '/' */
	/* CA: a file or PEM data (at most one set); neither: the system's. */
	char *ca_file;
	char *ca_data;
	size_t ca_len;
	/* Client certificate and key: files or PEM data. */
	char *cert_file, *key_file;
	char *cert_data, *key_data;
	size_t cert_len, key_len;
	/* Bearer token: token_file is read again every 60 s and after a 401
	 * (bound service-account tokens expire); token is a fixed one. */
	char *token;
	char *token_file;
	bool insecure; /* insecure-skip-tls-verify */
	char source[256]; /* "in-cluster", "kubeconfig FILE (context C)": for logs */
};

/*
 * Fills cfg: from kubeconfig when given, else $KUBECONFIG (its first file),
 * else in-cluster (KUBERNETES_SERVICE_HOST/_PORT and KUBE_SA_DIR; sa_dir
 * NULL: KUBE_SA_DIR). server, when not NULL, replaces the address
 * (--api-server). A kubeconfig user with an exec or auth-provider plugin is
 * an error that says it is not supported. Returns 0 or -errno (logged, with
 * what was missing).
 */
int kube_config_load(const char *kubeconfig, const char *server, const char *sa_dir,
		     struct kube_config *cfg);
void kube_config_free(struct kube_config *cfg);

#endif /* NPBPF_KUBE_CONFIG_H */
