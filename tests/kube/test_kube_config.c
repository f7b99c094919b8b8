/* SPDX-License-Identifier: Apache-2.0 */
/* kube_config_load: kubeconfig files (CA file or data, token, tokenFile,
 * client certificates, relative paths, contexts, plugins refused), the
 * in-cluster service account, and the --api-server override. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube_config.h"
#include "log.h"

static char dir[256];
static struct kube_config cfg;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/npbpf-kc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	memset(&cfg, 0, sizeof(cfg));
}

static void teardown(void)
{
	char cmd[300];

	kube_config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cr_log_warn("cannot remove %s", dir);
}

TestSuite(kube_config, .init = setup, .fini = teardown);

/* Writes dir/name (name may contain one subdirectory level). */
static const char *put(const char *name, const char *text)
{
	static char path[512];
	char sub[512];
	char *slash;
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/%s", dir, name);
	slash = strrchr(sub, '/');
	*slash = 0;
	for (char *q = sub + strlen(dir) + 1; (q = strchr(q, '/')); q++) {
		*q = 0;
		mkdir(sub, 0700);
		*q = '/';
	}
	mkdir(sub, 0700);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static char *path_in(const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* Runs kube_config_load with stderr captured into *log (static). */
static int load_logged(const char *kubeconfig, const char *server, const char *sa_dir,
		       const char **log)
{
	static char buf[8192];
	char lp[512];
	int saved, fd, ret;
	ssize_t n;

	snprintf(lp, sizeof(lp), "%s/stderr.log", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(lp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	dup2(fd, 2);
	close(fd);
	ret = kube_config_load(kubeconfig, server, sa_dir, &cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fd = open(lp, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	if (log)
		*log = buf;
	return ret;
}

static int load(const char *kubeconfig, const char *server, const char *sa_dir)
{
	return load_logged(kubeconfig, server, sa_dir, NULL);
}

#define HEAD                                                                                       \
	"apiVersion: v1\n"                                                                         \
	"kind: Config\n"

Test(kube_config, ca_file_and_token_relative)
{
	const char *kc;

	put("conf/ca.crt", "PEM\n");
	kc = put("conf/kubeconfig", HEAD "current-context: dev\n"
					 "contexts:\n"
					 "- name: dev\n"
					 "  context: {cluster: c1, user: u1, namespace: x}\n"
					 "clusters:\n"
					 "- name: c1\n"
					 "  cluster:\n"
					 "    server: https://10.0.0.1:6443/\n"
					 "    certificate-authority: ca.crt\n"
					 "users:\n"
					 "- name: u1\n"
					 "  user:\n"
					 "    token: abc.def\n");
	cr_assert_eq(load(kc, NULL, NULL), 0);
	cr_assert_str_eq(cfg.server, "https://10.0.0.1:6443");
	cr_assert_str_eq(cfg.ca_file, path_in("conf/ca.crt"));
	cr_assert_null(cfg.ca_data);
	cr_assert_str_eq(cfg.token, "abc.def");
	cr_assert_null(cfg.token_file);
	cr_assert_not(cfg.insecure);
	cr_assert(strstr(cfg.source, "context dev"), "source: %s", cfg.source);
}

Test(kube_config, ca_data_and_client_cert_data)
{
	const char *kc;

	/* "CA PEM\n", "CERT\n", "KEY\n" */
	kc = put("kubeconfig", HEAD "current-context: a\n"
				    "contexts:\n"
				    "- {name: a, context: {cluster: c, user: u}}\n"
				    "clusters:\n"
				    "- name: c\n"
				    "  cluster:\n"
				    "    server: https://[fd00::1]:443\n"
				    "    certificate-authority-data: Q0EgUEVNCg==\n"
				    "users:\n"
				    "- name: u\n"
				    "  user:\n"
				    "    client-certificate-data: Q0VSVAo=\n"
				    "    client-key-data: S0VZCg==\n");
	cr_assert_eq(load(kc, NULL, NULL), 0);
	cr_assert_str_eq(cfg.server, "https://[fd00::1]:443");
	cr_assert_null(cfg.ca_file);
	cr_assert_eq(cfg.ca_len, 7);
	cr_assert_str_eq(cfg.ca_data, "CA PEM\n");
	cr_assert_eq(cfg.cert_len, 5);
	cr_assert_str_eq(cfg.cert_data, "CERT\n");
	cr_assert_eq(cfg.key_len, 4);
	cr_assert_str_eq(cfg.key_data, "KEY\n");
	cr_assert_null(cfg.token);
}

Test(kube_config, client_cert_files_relative_and_token_file)
{
	const char *kc;

	put("k/pki/client.crt", "C\n");
	put("k/pki/client.key", "K\n");
	put("k/tok", "t0k3n\n");
	kc = put("k/config", HEAD
		 "current-context: a\n"
		 "contexts:\n"
		 "- {name: a, context: {cluster: c, user: u}}\n"
		 "clusters:\n"
		 "- {name: c, cluster: {server: 'https://h:1', insecure-skip-tls-verify: true}}\n"
		 "users:\n"
		 "- name: u\n"
		 "  user:\n"
		 "    client-certificate: pki/client.crt\n"
		 "    client-key: pki/client.key\n"
		 "    tokenFile: tok\n");
	cr_assert_eq(load(kc, NULL, NULL), 0);
	cr_assert_str_eq(cfg.cert_file, path_in("k/pki/client.crt"));
	cr_assert_str_eq(cfg.key_file, path_in("k/pki/client.key"));
	cr_assert_str_eq(cfg.token_file, path_in("k/tok"));
	cr_assert(cfg.insecure);
}

Test(kube_config, absolute_paths_kept)
{
	char text[2048];
	const char *ca = put("abs/ca.pem", "x");
	char cap[512];

	snprintf(cap, sizeof(cap), "%s", ca);
	snprintf(text, sizeof(text),
		 HEAD "current-context: a\n"
		      "contexts: [{name: a, context: {cluster: c}}]\n"
		      "clusters: [{name: c, cluster: {server: 'https://h:1', "
		      "certificate-authority: '%s'}}]\n",
		 cap);
	cr_assert_eq(load(put("sub/kubeconfig", text), NULL, NULL), 0);
	cr_assert_str_eq(cfg.ca_file, cap);
	cr_assert_null(cfg.token);
}

Test(kube_config, current_context_selects)
{
	const char *kc =
		put("kubeconfig", HEAD "current-context: second\n"
				       "contexts:\n"
				       "- {name: first, context: {cluster: one, user: u1}}\n"
				       "- {name: second, context: {cluster: two, user: u2}}\n"
				       "clusters:\n"
				       "- {name: one, cluster: {server: 'https://one:1'}}\n"
				       "- {name: two, cluster: {server: 'https://two:2'}}\n"
				       "users:\n"
				       "- {name: u1, user: {token: one}}\n"
				       "- {name: u2, user: {token: two}}\n");

	cr_assert_eq(load(kc, NULL, NULL), 0);
	cr_assert_str_eq(cfg.server, "https://two:2");
	cr_assert_str_eq(cfg.token, "two");
}

Test(kube_config, kubeconfig_env_first_path)
{
	char env[1100];
	const char *kc =
		put("envconf", HEAD "current-context: a\n"
				    "contexts: [{name: a, context: {cluster: c}}]\n"
				    "clusters: [{name: c, cluster: {server: 'h.example:6443'}}]\n");

	snprintf(env, sizeof(env), "%s:/nonexistent/other", kc);
	setenv("KUBECONFIG", env, 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	cr_assert_eq(load(NULL, NULL, NULL), 0);
	cr_assert_str_eq(cfg.server, "https://h.example:6443"); /* scheme added */
	cr_assert(strstr(cfg.source, "envconf"));
}

Test(kube_config, api_server_override)
{
	const char *kc =
		put("kubeconfig", HEAD "current-context: a\n"
				       "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
				       "clusters: [{name: c, cluster: {server: 'https://old:1'}}]\n"
				       "users: [{name: u, user: {token: t}}]\n");

	cr_assert_eq(load(kc, "https://new.example:8443/", NULL), 0);
	cr_assert_str_eq(cfg.server, "https://new.example:8443");
	cr_assert_str_eq(cfg.token, "t");
	kube_config_free(&cfg);
	cr_assert_eq(load(kc, "ftp://x", NULL), -EINVAL);
}

Test(kube_config, exec_plugin_refused)
{
	const char *log;
	const char *kc =
		put("kubeconfig", HEAD "current-context: eks\n"
				       "contexts: [{name: eks, context: {cluster: c, user: aws}}]\n"
				       "clusters: [{name: c, cluster: {server: 'https://x:1'}}]\n"
				       "users:\n"
				       "- name: aws\n"
				       "  user:\n"
				       "    exec:\n"
				       "      apiVersion: client.authentication.k8s.io/v1beta1\n"
				       "      command: aws\n"
				       "      args: [eks, get-token]\n");

	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -ENOTSUP);
	cr_assert(strstr(log, "user aws uses an exec credential plugin, which npbpf does not "
			      "support; give a token or client certificate"),
		  "log: %s", log);
	cr_assert_null(cfg.server); /* freed on error */
}

Test(kube_config, auth_provider_refused)
{
	const char *log;
	const char *kc = put("kubeconfig",
			     HEAD "current-context: g\n"
				  "contexts: [{name: g, context: {cluster: c, user: gcp}}]\n"
				  "clusters: [{name: c, cluster: {server: 'https://x:1'}}]\n"
				  "users: [{name: gcp, user: {auth-provider: {name: gcp}}}]\n");

	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -ENOTSUP);
	cr_assert(strstr(log, "auth-provider"), "log: %s", log);
}

Test(kube_config, missing_fields)
{
	const char *log;
	const char *kc;

	kc = put("k1", HEAD "contexts: [{name: a, context: {cluster: c}}]\n"
			    "clusters: [{name: c, cluster: {server: 'https://x:1'}}]\n");
	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -ENOENT);
	cr_assert(strstr(log, "no current-context"), "log: %s", log);

	kc = put("k2", HEAD "current-context: b\n"
			    "contexts: [{name: a, context: {cluster: c}}]\n");
	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -ENOENT);
	cr_assert(strstr(log, "current-context b is not in contexts"), "log: %s", log);

	kc = put("k3", HEAD "current-context: a\n"
			    "contexts: [{name: a, context: {cluster: nope}}]\n"
			    "clusters: [{name: c, cluster: {server: 'https://x:1'}}]\n");
	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -ENOENT);
	cr_assert(strstr(log, "cluster nope, which is not in clusters"), "log: %s", log);

	kc = put("k4", HEAD "current-context: a\n"
			    "contexts: [{name: a, context: {cluster: c}}]\n"
			    "clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]\n");
	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -ENOENT);
	cr_assert(strstr(log, "no server address"), "log: %s", log);
	/* ... which --api-server supplies */
	cr_assert_eq(load(kc, "https://y:2", NULL), 0);
	cr_assert_str_eq(cfg.server, "https://y:2");
	kube_config_free(&cfg);

	kc = put("k5", HEAD "current-context: a\n"
			    "contexts: [{name: a, context: {cluster: c, user: ghost}}]\n"
			    "clusters: [{name: c, cluster: {server: 'https://x:1'}}]\n");
	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -ENOENT);
	cr_assert(strstr(log, "user ghost, which is not in users"), "log: %s", log);

	kc = put("k6", HEAD "current-context: a\n"
			    "contexts: [{name: a, context: {cluster: c}}]\n"
			    "clusters: [{name: c, cluster: {server: 'https://x:1', "
			    "certificate-authority: missing.crt}}]\n");
	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -ENOENT);
	cr_assert(strstr(log, "missing.crt"), "log: %s", log);

	kc = put("k7", HEAD "current-context: a\n"
			    "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
			    "clusters: [{name: c, cluster: {server: 'https://x:1'}}]\n"
			    "users: [{name: u, user: {client-certificate-data: Q0VSVAo=}}]\n");
	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -EINVAL);
	cr_assert(strstr(log, "without its key"), "log: %s", log);

	kc = put("k8", HEAD "current-context: a\n"
			    "contexts: [{name: a, context: {cluster: c}}]\n"
			    "clusters: [{name: c, cluster: {server: 'https://x:1', "
			    "certificate-authority-data: '!!notbase64'}}]\n");
	cr_assert_eq(load_logged(kc, NULL, NULL, &log), -EINVAL);
	cr_assert(strstr(log, "not valid base64"), "log: %s", log);

	cr_assert_eq(load_logged(path_in("does-not-exist"), NULL, NULL, &log), -ENOENT);
	cr_assert(strstr(log, "does-not-exist"), "log: %s", log);

	kc = put("k9", "- just\n- a list\n");
	cr_assert_eq(load(kc, NULL, NULL), -EINVAL);
}

Test(kube_config, in_cluster)
{
	char sa[512];

	put("sa/token", "  sa-token\n");
	put("sa/ca.crt", "PEM");
	snprintf(sa, sizeof(sa), "%s/sa", dir);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	cr_assert_eq(load(NULL, NULL, sa), 0);
	cr_assert_str_eq(cfg.server, "https://10.96.0.1:443");
	cr_assert_str_eq(cfg.ca_file, path_in("sa/ca.crt"));
	cr_assert_str_eq(cfg.token_file, path_in("sa/token"));
	cr_assert_null(cfg.token);
	cr_assert(strstr(cfg.source, "in-cluster"));
	kube_config_free(&cfg);

	/* an IPv6 service address is bracketed */
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	cr_assert_eq(load(NULL, NULL, sa), 0);
	cr_assert_str_eq(cfg.server, "https://[fd00:10:96::1]:443");
	kube_config_free(&cfg);

	/* --api-server replaces the address, credentials stay */
	cr_assert_eq(load(NULL, "https://127.0.0.1:6443", sa), 0);
	cr_assert_str_eq(cfg.server, "https://127.0.0.1:6443");
	cr_assert_str_eq(cfg.token_file, path_in("sa/token"));
}

Test(kube_config, in_cluster_errors)
{
	const char *log;
	char sa[512];

	snprintf(sa, sizeof(sa), "%s/sa", dir);
	cr_assert_eq(load_logged(NULL, NULL, sa, &log), -ENOENT);
	cr_assert(strstr(log, "not running in a cluster"), "log: %s", log);

	/* no env, but --api-server: the service account's credentials */
	put("sa/token", "t");
	cr_assert_eq(load(NULL, "https://10.0.0.1:6443", sa), 0);
	cr_assert_str_eq(cfg.server, "https://10.0.0.1:6443");
	cr_assert_null(cfg.ca_file); /* no ca.crt: the system's CAs, with a warning */
	kube_config_free(&cfg);

	/* the token must be readable */
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	snprintf(sa, sizeof(sa), "%s/empty-sa", dir);
	cr_assert_eq(load_logged(NULL, NULL, sa, &log), -ENOENT);
	cr_assert(strstr(log, "token"), "log: %s", log);
}
