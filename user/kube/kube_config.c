/* SPDX-License-Identifier: Apache-2.0 */
#include "kube_config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "yaml_tree.h"

/* ---- small helpers ---- */

/* dir + "/" + path unless path is absolute (or dir is empty). */
static char *kc_resolve(const char *dir, const char *path)
{
	char *out;

	if (path[0] == '/' || !dir || !dir[0])
		return strdup(path);
	if (asprintf(&out, "%s/%s", dir, path) < 0)
		return NULL;
	return out;
}

static int kc_b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* Standard (or URL-safe) base64, whitespace ignored, padding optional. The
 * result is NUL-terminated (not counted in *len). 0, -EINVAL or -ENOMEM. */
static int kc_base64(const char *in, size_t in_len, char **out, size_t *len)
{
	unsigned char *buf = malloc(in_len / 4 * 3 + 4);
	uint32_t acc = 0;
	size_t n = 0, i;
	int bits = 0, pad = 0;

	if (!buf)
		return -ENOMEM;
	for (i = 0; i < in_len; i++) {
		int ch = (unsigned char)in[i], v;

		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		v = kc_b64val(ch);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (bits >= 6 || pad > 2)
		goto bad;
	buf[n] = 0;
	*out = (char *)buf;
	*len = n;
	return 0;
bad:
	free(buf);
	return -EINVAL;
}

static int kc_check_readable(const char *what, const char *path, const char *source)
{
	if (access(path, R_OK) < 0) {
		int err = -errno;

		log_error("%s: %s %s: %s", source, what, path, strerror(-err));
		return err;
	}
	return 0;
}

/* "https://host:port" without trailing '/'; a server without a scheme gets
 * https://, as client-go gives it. */
static int kc_set_server(struct kube_config *cfg, const char *server)
{
	size_t len = strlen(server);
	char *s;

	while (len && server[len - 1] == '/')
		len--;
	if (!len)
		return -EINVAL;
	if (strstr(server, "://")) {
		if (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))
			return -EINVAL;
		s = strndup(server, len);
	} else if (asprintf(&s, "https://%.*s", (int)len, server) < 0) {
		s = NULL;
	}
	if (!s)
		return -ENOMEM;
	free(cfg->server);
	cfg->server = s;
	return 0;
}

/* ---- kubeconfig ---- */

struct kc_parse {
	const char *file;
	const char *dir;
	struct kube_config *cfg;
	char context[128];
	bool done;
	int err;
};

/* A string field: NULL when absent or null; -EINVAL (logged) when not a
 * string. */
static int kc_str(const struct kc_parse *p, const struct yt_node *map, const char *key,
		  const char *where, const char **out)
{
	const struct yt_node *v = yt_map_get(map, key);

	*out = NULL;
	if (yt_is_null(v))
		return 0;
	if (v->kind != YT_SCALAR) {
		log_error("kubeconfig %s:%d:%d: %s: %s must be a string, not %s", p->file, v->line,
			  v->col, where, key, yt_describe(v));
		return -EINVAL;
	}
	*out = v->str;
	return 0;
}

/* The entry called name in the list key ("clusters", "users", "contexts"):
 * its field inner ("cluster", "user", "context"). NULL when absent. */
static const struct yt_node *kc_named(const struct yt_node *root, const char *key,
				      const char *inner, const char *name)
{
	const struct yt_node *list = yt_map_get(root, key);
	uint32_t i;

	if (!list || list->kind != YT_SEQ)
		return NULL;
	for (i = 0; i < list->n; i++) {
		const struct yt_node *e = list->items[i];
		const struct yt_node *nm = yt_map_get(e, "name");

		if (nm && nm->kind == YT_SCALAR && nm->str && !strcmp(nm->str, name)) {
			const struct yt_node *v = yt_map_get(e, inner);

			return v && v->kind == YT_MAP ? v : NULL;
		}
	}
	return NULL;
}

/* A file field (resolved against the kubeconfig's directory) or a -data
 * field (base64); at most one is set. */
static int kc_file_or_data(struct kc_parse *p, const struct yt_node *map, const char *key,
			   const char *where, char **file, char **data, size_t *len)
{
	char dkey[64];
	const char *f, *d;
	int err;

	snprintf(dkey, sizeof(dkey), "%s-data", key);
	if ((err = kc_str(p, map, key, where, &f)) || (err = kc_str(p, map, dkey, where, &d)))
		return err;
	if (d && d[0]) {
		err = kc_base64(d, strlen(d), data, len);
		if (err == -EINVAL)
			log_error("kubeconfig %s: %s: %s is not valid base64", p->file, where,
				  dkey);
		return err;
	}
	if (f && f[0]) {
		*file = kc_resolve(p->dir, f);
		if (!*file)
			return -ENOMEM;
		return kc_check_readable(key, *file, p->cfg->source);
	}
	return 0;
}

static int kc_cluster(struct kc_parse *p, const struct yt_node *root, const char *name)
{
	const struct yt_node *cl = kc_named(root, "clusters", "cluster", name);
	struct kube_config *cfg = p->cfg;
	const char *server;
	char where[200];
	int err;

	if (!cl) {
		log_error("kubeconfig %s: context %s names cluster %s, which is not in clusters",
			  p->file, p->context, name);
		return -ENOENT;
	}
	snprintf(where, sizeof(where), "cluster %s", name);
	if ((err = kc_str(p, cl, "server", where, &server)))
		return err;
	if (server && server[0]) {
		err = kc_set_server(cfg, server);
		if (err == -EINVAL)
			log_error("kubeconfig %s: %s: server %s is not an http(s) URL", p->file,
				  where, server);
		if (err)
			return err;
	}
	if (!yt_is_null(yt_map_get(cl, "insecure-skip-tls-verify"))) {
		const struct yt_node *v = yt_map_get(cl, "insecure-skip-tls-verify");

		if (yt_get_bool(v, &cfg->insecure)) {
			log_error("kubeconfig %s:%d:%d: %s: insecure-skip-tls-verify must be true "
				  "or false",
				  p->file, v->line, v->col, where);
			return -EINVAL;
		}
	}
	return kc_file_or_data(p, cl, "certificate-authority", where, &cfg->ca_file, &cfg->ca_data,
			       &cfg->ca_len);
}

static int kc_user(struct kc_parse *p, const struct yt_node *root, const char *name)
{
	const struct yt_node *u = kc_named(root, "users", "user", name);
	struct kube_config *cfg = p->cfg;
	const char *token, *token_file, *s;
	char where[200];
	int err;

	if (!u) {
		log_error("kubeconfig %s: context %s names user %s, which is not in users", p->file,
			  p->context, name);
		return -ENOENT;
	}
	snprintf(where, sizeof(where), "user %s", name);
	if (!yt_is_null(yt_map_get(u, "exec"))) {
		log_error("kubeconfig %s: %s uses an exec credential plugin, which npbpf does not "
			  "support; give a token or client certificate",
			  p->file, where);
		return -ENOTSUP;
	}
	if (!yt_is_null(yt_map_get(u, "auth-provider"))) {
		log_error("kubeconfig %s: %s uses an auth-provider plugin, which npbpf does not "
			  "support; give a token or client certificate",
			  p->file, where);
		return -ENOTSUP;
	}
	if ((err = kc_str(p, u, "token", where, &token)) ||
	    (err = kc_str(p, u, "tokenFile", where, &token_file)))
		return err;
	if (token && token[0] && !(cfg->token = strdup(token)))
		return -ENOMEM;
	if (token_file && token_file[0]) {
		if (!(cfg->token_file = kc_resolve(p->dir, token_file)))
			return -ENOMEM;
		if ((err = kc_check_readable("tokenFile", cfg->token_file, cfg->source)))
			return err;
	}
	if ((err = kc_file_or_data(p, u, "client-certificate", where, &cfg->cert_file,
				   &cfg->cert_data, &cfg->cert_len)) ||
	    (err = kc_file_or_data(p, u, "client-key", where, &cfg->key_file, &cfg->key_data,
				   &cfg->key_len)))
		return err;
	if ((cfg->cert_file || cfg->cert_data) != (cfg->key_file || cfg->key_data)) {
		log_error("kubeconfig %s: %s has a client %s without its %s", p->file, where,
			  cfg->key_file || cfg->key_data ? "key" : "certificate",
			  cfg->key_file || cfg->key_data ? "certificate" : "key");
		return -EINVAL;
	}
	if ((err = kc_str(p, u, "username", where, &s)))
		return err;
	if (s && !cfg->token && !cfg->token_file && !cfg->cert_file && !cfg->cert_data) {
		log_error("kubeconfig %s: %s uses a username and password, which npbpf does not "
			  "support; give a token or client certificate",
			  p->file, where);
		return -ENOTSUP;
	}
	return 0;
}

static int kc_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct kc_parse *p = arg;
	const struct yt_node *ctx;
	const char *cur, *cluster, *user;
	int err;

	if (p->done)
		return 0; /* only the first document counts */
	p->done = true;
	if (!root || root->kind != YT_MAP) {
		log_error("kubeconfig %s: not a kubeconfig (expected a mapping)", p->file);
		return -EINVAL;
	}
	if ((err = kc_str(p, root, "current-context", "kubeconfig", &cur)))
		return err;
	if (!cur || !cur[0]) {
		log_error("kubeconfig %s has no current-context", p->file);
		return -ENOENT;
	}
	snprintf(p->context, sizeof(p->context), "%s", cur);
	snprintf(p->cfg->source, sizeof(p->cfg->source), "kubeconfig %s (context %s)", p->file,
		 cur);
	ctx = kc_named(root, "contexts", "context", cur);
	if (!ctx) {
		log_error("kubeconfig %s: current-context %s is not in contexts", p->file, cur);
		return -ENOENT;
	}
	if ((err = kc_str(p, ctx, "cluster", "context", &cluster)) ||
	    (err = kc_str(p, ctx, "user", "context", &user)))
		return err;
	if (!cluster || !cluster[0]) {
		log_error("kubeconfig %s: context %s names no cluster", p->file, cur);
		return -ENOENT;
	}
	if ((err = kc_cluster(p, root, cluster)))
		return err;
	if (user && user[0] && (err = kc_user(p, root, user)))
		return err;
	return 0;
}

static int kc_load_kubeconfig(const char *path, struct kube_config *cfg)
{
	struct kc_parse p = {.file = path, .cfg = cfg};
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup("");
	int err;

	if (!dir)
		return -ENOMEM;
	p.dir = dir;
	snprintf(cfg->source, sizeof(cfg->source), "kubeconfig %s", path);
	if (access(path, R_OK) < 0) {
		err = -errno;
		log_error("kubeconfig %s: %s", path, strerror(-err));
		free(dir);
		return err;
	}
	err = yt_parse_file(path, kc_doc, NULL, &p);
	if (!err && !p.done) {
		log_error("kubeconfig %s is empty", path);
		err = -ENOENT;
	}
	free(dir);
	return err;
}

/* ---- in-cluster ---- */

static int kc_load_in_cluster(const char *sa_dir, bool have_server, struct kube_config *cfg)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *ca = NULL;
	int err;

	if (!sa_dir)
		sa_dir = KUBE_SA_DIR;
	snprintf(cfg->source, sizeof(cfg->source), "in-cluster (service account %s)", sa_dir);
	if ((!host || !host[0] || !port || !port[0]) && !have_server) {
		log_error("not running in a cluster (KUBERNETES_SERVICE_HOST and "
			  "KUBERNETES_SERVICE_PORT are not set) and no kubeconfig given: use "
			  "--kubeconfig FILE or set KUBECONFIG");
		return -ENOENT;
	}
	if (host && host[0] && port && port[0]) {
		char *s;
		int n = strchr(host, ':') && host[0] != '['
				? asprintf(&s, "https://[%s]:%s", host, port)
				: asprintf(&s, "https://%s:%s", host, port);

		if (n < 0)
			return -ENOMEM;
		cfg->server = s;
	}
	if (!(cfg->token_file = kc_resolve(sa_dir, "token")))
		return -ENOMEM;
	if ((err = kc_check_readable("service account token", cfg->token_file, cfg->source)))
		return err;
	if (!(ca = kc_resolve(sa_dir, "ca.crt")))
		return -ENOMEM;
	if (access(ca, R_OK) < 0) {
		log_warn("%s: %s: %s; verifying the API server against the system's CAs",
			 cfg->source, ca, strerror(errno));
		free(ca);
	} else {
		cfg->ca_file = ca;
	}
	return 0;
}

int kube_config_load(const char *kubeconfig, const char *server, const char *sa_dir,
		     struct kube_config *cfg)
{
	char *env_path = NULL;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	if (!kubeconfig || !kubeconfig[0]) {
		const char *env = getenv("KUBECONFIG");

		if (env && env[0]) {
			size_t len = strcspn(env, ":");

			if (len && !(env_path = strndup(env, len)))
				return -ENOMEM;
		}
		kubeconfig = env_path;
	}
	if (kubeconfig)
		err = kc_load_kubeconfig(kubeconfig, cfg);
	else
		err = kc_load_in_cluster(sa_dir, server && server[0], cfg);
	free(env_path);
	if (!err && server && server[0]) {
		err = kc_set_server(cfg, server);
		if (err == -EINVAL)
			log_error("--api-server %s is not an http(s) URL", server);
	}
	if (!err && !cfg->server) {
		log_error("%s: no server address (give --api-server URL)", cfg->source);
		err = -ENOENT;
	}
	if (err == -ENOMEM)
		log_error("%s: out of memory", cfg->source);
	if (err)
		kube_config_free(cfg);
	return err;
}

void kube_config_free(struct kube_config *cfg)
{
	free(cfg->server);
	free(cfg->ca_file);
	free(cfg->ca_data);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->cert_data);
	free(cfg->key_data);
	free(cfg->token);
	free(cfg->token_file);
	memset(cfg, 0, sizeof(*cfg));
}
