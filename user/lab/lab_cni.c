/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_cni.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "lab_addr.h"
#include "lab_ip.h"
#include "lab_state.h"
#include "log.h"

#define CONFLIST "net.conflist"
#define RESULTS "results"
#define IPAM "ipam"
#define IFNAME "eth0"
#define PLUGIN_LOG "plugins.log"
#define OUT_MAX (1 << 20)

void lab_cni_dir(const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.cni", LAB_STATE_DIR, id);
}

void lab_cni_agent_socket(const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.cni/agent.sock", LAB_STATE_DIR, id);
}

bool lab_cni_conf_has_npbpf_cni(const struct lab_cni_conf *conf)
{
	for (size_t i = 0; i < conf->n_chain; i++)
		if (!strcmp(conf->chain[i], "npbpf-cni"))
			return true;
	return false;
}

bool lab_cni_find_npbpf_cni(char *dir, size_t len)
{
	/* build/user/npbpf-cni, or installed as PREFIX/lib/cni/npbpf-cni */
	static const char *const rel[] = { ".", "cni", "../lib/cni" };
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return false;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/npbpf-cni", exe, rel[i]);
		if (!access(path, X_OK)) {
			snprintf(dir, len, "%s/%s", exe, rel[i]);
			return true;
		}
	}
	return false;
}

int lab_cni_parse_chain(const char *text, struct lab_cni_conf *conf)
{
	char dir[PATH_MAX];
	const char *p = text;

	conf->n_chain = 0;
	if (!strcmp(text, "auto")) {
		/* TODO(issue 11): drop the fallback once npbpf-cni always builds. */
		if (lab_cni_find_npbpf_cni(dir, sizeof(dir)))
			snprintf(conf->chain[conf->n_chain++], sizeof(conf->chain[0]), "npbpf-cni");
		return 0;
	}
	while (*p) {
		size_t n = strcspn(p, ",");

		if (!n || n >= sizeof(conf->chain[0]) || conf->n_chain == LAB_CNI_CHAIN_MAX ||
		    strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-_.") < n) {
			log_usage("--cni-chain takes up to %d plugin types after bridge, separated "
				  "by commas ('npbpf-cni'), 'auto' or '', not '%s'",
				  LAB_CNI_CHAIN_MAX, text);
			return -EINVAL;
		}
		snprintf(conf->chain[conf->n_chain++], sizeof(conf->chain[0]), "%.*s", (int)n, p);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* ---- JSON */

static void gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_kv(yajl_gen g, const char *k, const char *v)
{
	gen_str(g, k);
	gen_str(g, v);
}

/* A parsed value written again. */
static void gen_val(yajl_gen g, yajl_val v)
{
	if (!v) {
		yajl_gen_null(g);
	} else if (YAJL_IS_STRING(v)) {
		gen_str(g, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_TRUE(v)) {
		yajl_gen_bool(g, 1);
	} else if (YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, 0);
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			gen_str(g, v->u.object.keys[i]);
			gen_val(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			gen_val(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else {
		yajl_gen_null(g);
	}
}

/* The generator's text, malloc'd (NULL: no memory). */
static char *gen_text(yajl_gen g)
{
	const unsigned char *buf;
	size_t len;
	char *s;

	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return NULL;
	s = malloc(len + 1);
	if (s) {
		memcpy(s, buf, len);
		s[len] = '\0';
	}
	return s;
}

static yajl_val get(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };

	return obj ? yajl_tree_get(obj, path, yajl_t_any) : NULL;
}

static const char *get_str(yajl_val obj, const char *key)
{
	yajl_val v = get(obj, key);

	return YAJL_IS_STRING(v) ? v->u.string : NULL;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *nb = cap < OUT_MAX ? realloc(buf, cap ? cap * 2 : 8192) : NULL;

			if (!nb) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;
	int err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* ---- The network list */

static void gen_addr(yajl_gen g, const char *key, const struct np_addr *a, bool with_plen)
{
	char buf[80];

	addr_format(a, buf, sizeof(buf));
	if (with_plen && a->plen == (a->family == 6 ? 128 : 32))
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%u", a->plen);
	gen_kv(g, key, buf);
}

static void gen_route(yajl_gen g, const char *dst, const struct np_addr *gw)
{
	yajl_gen_map_open(g);
	gen_kv(g, "dst", dst);
	if (gw) {
		char buf[64];

		gen_kv(g, "gw", addr_format(gw, buf, sizeof(buf)));
	}
	yajl_gen_map_close(g);
}

static char *conflist_text(const struct lab_cni_conf *conf, const char *dir)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	char buf[64], ipam_dir[PATH_MAX];
	char *s;

	if (!g)
		return NULL;
	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_map_open(g);
	gen_kv(g, "cniVersion", LAB_CNI_VERSION);
	gen_kv(g, "name", LAB_CNI_NETWORK);
	gen_str(g, "plugins");
	yajl_gen_array_open(g);
	/* bridge, as flannel's node config has it */
	yajl_gen_map_open(g);
	gen_kv(g, "type", "bridge");
	gen_kv(g, "bridge", LAB_CNI_BRIDGE);
	gen_str(g, "isGateway");
	yajl_gen_bool(g, 1);
	gen_str(g, "hairpinMode");
	yajl_gen_bool(g, 1);
	gen_str(g, "ipMasq");
	yajl_gen_bool(g, 0);
	gen_str(g, "capabilities");
	yajl_gen_map_open(g);
	gen_str(g, "ips");
	yajl_gen_bool(g, 1);
	yajl_gen_map_close(g);
	gen_str(g, "ipam");
	yajl_gen_map_open(g);
	gen_kv(g, "type", "host-local");
	/* The lab's own allocations, not the node's /var/lib/cni/networks. */
	snprintf(ipam_dir, sizeof(ipam_dir), "%s/%s", dir, IPAM);
	gen_kv(g, "dataDir", ipam_dir);
	gen_str(g, "ranges");
	yajl_gen_array_open(g);
	for (int f = 0; f < 2; f++) {
		if (!conf->family[f])
			continue;
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		gen_addr(g, "subnet", &conf->subnet[f], true);
		gen_kv(g, "gateway", addr_format(&conf->gw[f], buf, sizeof(buf)));
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
	}
	yajl_gen_array_close(g);
	/* Only the lab's ranges are routed (via the gateway, cni0); a range the
	 * subnet covers is on-link already. Externals are behind the node. */
	gen_str(g, "routes");
	yajl_gen_array_open(g);
	/* With the gateway spelled out: the bridge plugin's CHECK looks for
	 * the route as the result has it. */
	if (conf->family[0] && conf->subnet[0].plen > 15)
		gen_route(g, LAB_RANGE_V4, &conf->gw[0]);
	if (conf->family[1] && conf->subnet[1].plen > 32)
		gen_route(g, LAB_RANGE_V6, &conf->gw[1]);
	for (size_t i = 0; i < conf->n_ext; i++) {
		int f = conf->ext[i].family == 6;
		char dst[80];

		if (!conf->family[f])
			continue;
		addr_format(&conf->ext[i], dst, sizeof(dst));
		snprintf(dst + strlen(dst), sizeof(dst) - strlen(dst), "/%u", f ? 128 : 32);
		gen_route(g, dst, &conf->gw[f]);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g); /* ipam */
	yajl_gen_map_close(g); /* bridge */
	for (size_t i = 0; i < conf->n_chain; i++) {
		yajl_gen_map_open(g);
		gen_kv(g, "type", conf->chain[i]);
		if (!strcmp(conf->chain[i], "npbpf-cni")) {
			/* The lab's pins and agent socket, never the node's. */
			if (conf->pin_dir)
				gen_kv(g, "pinDir", conf->pin_dir);
			if (conf->agent_socket)
				gen_kv(g, "agentSocket", conf->agent_socket);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	s = gen_text(g);
	yajl_gen_free(g);
	return s;
}

static void cni_path(struct lab_cni *cni)
{
	char dir[sizeof(cni->cni_path) - sizeof(LAB_CNI_BIN_DIR) - 1];

	if (lab_cni_find_npbpf_cni(dir, sizeof(dir)))
		snprintf(cni->cni_path, sizeof(cni->cni_path), "%s:%s", LAB_CNI_BIN_DIR, dir);
	else
		snprintf(cni->cni_path, sizeof(cni->cni_path), "%s", LAB_CNI_BIN_DIR);
}

static int sub_path(const struct lab_cni *cni, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", cni->dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int lab_cni_create(struct lab_cni *cni, const char *id, const char *node_netns,
		   const struct lab_cni_conf *conf)
{
	char path[PATH_MAX];
	int err = 0;

	memset(cni, 0, sizeof(*cni));
	lab_cni_dir(id, cni->dir, sizeof(cni->dir));
	snprintf(cni->node_netns, sizeof(cni->node_netns), "%s", node_netns);
	cni_path(cni);
	cni->conflist = conflist_text(conf, cni->dir);
	if (!cni->conflist)
		return -ENOMEM;
	if (mkdir(cni->dir, 0700) && errno != EEXIST)
		err = -errno;
	if (!err && !sub_path(cni, RESULTS, path, sizeof(path)) && mkdir(path, 0700) &&
	    errno != EEXIST)
		err = -errno;
	if (!err && !sub_path(cni, IPAM, path, sizeof(path)) && mkdir(path, 0700) &&
	    errno != EEXIST)
		err = -errno;
	if (!err)
		err = sub_path(cni, CONFLIST, path, sizeof(path));
	if (!err)
		err = write_file(path, cni->conflist);
	if (err)
		log_error("lab: writing the CNI configuration in %s: %s", cni->dir, strerror(-err));
	return err;
}

int lab_cni_load(struct lab_cni *cni, const char *id, const char *node_netns)
{
	char path[PATH_MAX];

	memset(cni, 0, sizeof(*cni));
	lab_cni_dir(id, cni->dir, sizeof(cni->dir));
	snprintf(cni->node_netns, sizeof(cni->node_netns), "%s", node_netns);
	cni_path(cni);
	if (sub_path(cni, CONFLIST, path, sizeof(path)))
		return -ENAMETOOLONG;
	cni->conflist = read_file(path);
	if (!cni->conflist) {
		int err = -errno;

		log_error("lab: reading %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

void lab_cni_free(struct lab_cni *cni)
{
	free(cni->conflist);
	cni->conflist = NULL;
}

/* ---- Running a plugin */

static int find_plugin(const char *cni_path, const char *type, char *buf, size_t len)
{
	const char *p = cni_path;

	while (*p) {
		size_t n = strcspn(p, ":");

		snprintf(buf, len, "%.*s/%s", (int)n, p, type);
		if (n && !access(buf, X_OK))
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	log_error("lab: no CNI plugin '%s' in %s (apt-get install containernetworking-plugins)",
		  type, cni_path);
	return -ENOENT;
}

static int text_memfd(const char *text)
{
	size_t len = strlen(text), off = 0;
	int fd = memfd_create("npbpf-lab-cni", MFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			close(fd);
			return err;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

struct invocation {
	const char *command; /* ADD, DEL, CHECK */
	const char *cid, *netns, *k8s_ns, *k8s_name;
};

/*
 * Runs plugin type with stdin in the node namespace; *out is its stdout
 * (malloc'd, may be empty). 0 when it exited 0; else -EIO with the plugin's
 * error message logged.
 */
static int run_plugin(const struct lab_cni *cni, const struct invocation *inv, const char *type,
		      const char *stdin_text, char **out)
{
	char path[PATH_MAX], env[6][1100], netns_path[PATH_MAX];
	char *envp[8], *argv[2];
	int in_fd, pipefd[2], node_fd, log_fd, status, err = 0;
	size_t len = 0, cap = 0;
	char *buf = NULL;
	pid_t pid;

	*out = NULL;
	err = find_plugin(cni->cni_path, type, path, sizeof(path));
	if (err)
		return err;
	snprintf(netns_path, sizeof(netns_path), "%s/%s", LAB_NETNS_DIR, cni->node_netns);
	node_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (node_fd < 0) {
		err = -errno;
		log_error("lab: opening %s: %s", netns_path, strerror(-err));
		return err;
	}
	snprintf(env[0], sizeof(env[0]), "CNI_COMMAND=%s", inv->command);
	snprintf(env[1], sizeof(env[1]), "CNI_CONTAINERID=%s", inv->cid);
	snprintf(env[2], sizeof(env[2]), "CNI_NETNS=%s/%s", LAB_NETNS_DIR, inv->netns);
	snprintf(env[3], sizeof(env[3]), "CNI_IFNAME=%s", IFNAME);
	snprintf(env[4], sizeof(env[4]), "CNI_PATH=%s", cni->cni_path);
	snprintf(env[5], sizeof(env[5]),
		 "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s", inv->k8s_ns,
		 inv->k8s_name);
	for (int i = 0; i < 6; i++)
		envp[i] = env[i];
	envp[6] = (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	envp[7] = NULL;
	argv[0] = path;
	argv[1] = NULL;
	in_fd = text_memfd(stdin_text);
	if (in_fd < 0) {
		close(node_fd);
		return in_fd;
	}
	/* What plugins log goes where a runtime's log would have it. */
	snprintf(netns_path, sizeof(netns_path), "%s/%s", cni->dir, PLUGIN_LOG);
	log_fd = open(netns_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (pipe2(pipefd, O_CLOEXEC)) {
		err = -errno;
		close(in_fd);
		close(node_fd);
		return err;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(in_fd);
		close(node_fd);
		close(pipefd[0]);
		close(pipefd[1]);
		if (log_fd >= 0)
			close(log_fd);
		log_error("lab: starting CNI plugin %s: %s", type, strerror(-err));
		return err;
	}
	if (pid == 0) {
		/* The runtime's namespace is the node's; /sys and bpffs stay ours. */
		if (setns(node_fd, CLONE_NEWNET) || dup2(in_fd, STDIN_FILENO) < 0 ||
		    dup2(pipefd[1], STDOUT_FILENO) < 0 ||
		    (log_fd >= 0 && dup2(log_fd, STDERR_FILENO) < 0))
			_exit(127);
		execve(path, argv, envp);
		_exit(127);
	}
	close(in_fd);
	close(node_fd);
	close(pipefd[1]);
	if (log_fd >= 0)
		close(log_fd);
	for (;;) {
		ssize_t n;

		if (len + 4096 + 1 > cap) {
			char *nb = cap < OUT_MAX ? realloc(buf, cap ? cap * 2 : 8192) : NULL;

			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		n = read(pipefd[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (buf)
		buf[len] = '\0';
	if (!err && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		yajl_val v = buf ? yajl_tree_parse(buf, NULL, 0) : NULL;
		const char *msg = get_str(v, "msg"), *details = get_str(v, "details");
		yajl_val code = get(v, "code");
		/* The spec's 11, "try again later": a runtime retries. */
		bool later = YAJL_IS_INTEGER(code) && YAJL_GET_INTEGER(code) == 11;

		log_msg(later ? LOG_DEBUG : LOG_ERROR, "lab: CNI %s of %s: plugin %s failed: %s%s%s",
		       inv->command, inv->cid, type, msg ? msg : buf && *buf ? buf : "(no message)",
		       details && *details ? ": " : "", details ? details : "");
		yajl_tree_free(v);
		err = later ? -EAGAIN : -EIO;
	}
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	return 0;
}

/* One plugin's stdin: the list's name and version, the plugin's config,
 * runtimeConfig for its capabilities, prevResult. */
static char *plugin_stdin(yajl_val list, yajl_val plugin, yajl_val caps_args, yajl_val prev)
{
	yajl_val caps = get(plugin, "capabilities");
	yajl_gen g = yajl_gen_alloc(NULL);
	bool rc_open = false;
	char *s;

	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	gen_kv(g, "cniVersion", get_str(list, "cniVersion") ? get_str(list, "cniVersion")
							     : LAB_CNI_VERSION);
	gen_kv(g, "name", get_str(list, "name") ? get_str(list, "name") : LAB_CNI_NETWORK);
	for (size_t i = 0; i < plugin->u.object.len; i++) {
		const char *k = plugin->u.object.keys[i];

		if (!strcmp(k, "cniVersion") || !strcmp(k, "name") || !strcmp(k, "prevResult") ||
		    !strcmp(k, "runtimeConfig"))
			continue;
		gen_str(g, k);
		gen_val(g, plugin->u.object.values[i]);
	}
	for (size_t i = 0; YAJL_IS_OBJECT(caps_args) && i < caps_args->u.object.len; i++) {
		yajl_val on = get(caps, caps_args->u.object.keys[i]);

		if (!YAJL_IS_TRUE(on))
			continue;
		if (!rc_open) {
			gen_str(g, "runtimeConfig");
			yajl_gen_map_open(g);
			rc_open = true;
		}
		gen_str(g, caps_args->u.object.keys[i]);
		gen_val(g, caps_args->u.object.values[i]);
	}
	if (rc_open)
		yajl_gen_map_close(g);
	if (prev) {
		gen_str(g, "prevResult");
		gen_val(g, prev);
	}
	yajl_gen_map_close(g);
	s = gen_text(g);
	yajl_gen_free(g);
	return s;
}

static int cache_path(const struct lab_cni *cni, const char *cid, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s-%s-%s", cni->dir, RESULTS, LAB_CNI_NETWORK, cid,
			 IFNAME);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* libcni's cache entry (cniCacheV1), plus the pod's netns for DEL. */
static int cache_write(const struct lab_cni *cni, const struct invocation *inv, yajl_val caps_args,
		       yajl_val result)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	char path[PATH_MAX], *text;
	int err;

	if (!g)
		return -ENOMEM;
	yajl_gen_map_open(g);
	gen_kv(g, "kind", "cniCacheV1");
	gen_kv(g, "containerId", inv->cid);
	gen_kv(g, "ifName", IFNAME);
	gen_kv(g, "networkName", LAB_CNI_NETWORK);
	gen_kv(g, "netns", inv->netns);
	gen_str(g, "cniArgs");
	yajl_gen_array_open(g);
	yajl_gen_array_open(g);
	gen_str(g, "K8S_POD_NAMESPACE");
	gen_str(g, inv->k8s_ns);
	yajl_gen_array_close(g);
	yajl_gen_array_open(g);
	gen_str(g, "K8S_POD_NAME");
	gen_str(g, inv->k8s_name);
	yajl_gen_array_close(g);
	yajl_gen_array_close(g);
	gen_str(g, "capabilityArgs");
	gen_val(g, caps_args);
	gen_str(g, "result");
	gen_val(g, result);
	yajl_gen_map_close(g);
	text = gen_text(g);
	yajl_gen_free(g);
	if (!text)
		return -ENOMEM;
	err = cache_path(cni, inv->cid, path, sizeof(path));
	if (!err)
		err = write_file(path, text);
	free(text);
	if (err)
		log_error("lab: caching the CNI result of %s: %s", inv->cid, strerror(-err));
	return err;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int m[6];

	if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	return 0;
}

/* The host veth (an interface without sandbox that is not the bridge), the
 * pod's MAC and addresses of a result. */
static int result_iface(yajl_val result, struct lab_cni_iface *out)
{
	yajl_val ifs = get(result, "interfaces"), ips = get(result, "ips");

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; YAJL_IS_ARRAY(ifs) && i < ifs->u.array.len; i++) {
		yajl_val it = ifs->u.array.values[i];
		const char *name = get_str(it, "name"), *sandbox = get_str(it, "sandbox");

		if (!name)
			continue;
		if (sandbox && *sandbox) {
			out->has_mac = !parse_mac(get_str(it, "mac"), out->mac);
		} else if (strcmp(name, LAB_CNI_BRIDGE) && !out->veth[0]) {
			snprintf(out->veth, sizeof(out->veth), "%s", name);
		}
	}
	for (size_t i = 0; YAJL_IS_ARRAY(ips) && i < ips->u.array.len; i++) {
		const char *a = get_str(ips->u.array.values[i], "address");
		char text[80], *slash;

		if (!a || out->n_addrs == sizeof(out->addrs) / sizeof(out->addrs[0]))
			continue;
		snprintf(text, sizeof(text), "%s", a);
		slash = strchr(text, '/');
		if (slash)
			*slash = '\0';
		if (!addr_parse(text, false, &out->addrs[out->n_addrs]))
			out->n_addrs++;
	}
	if (!out->veth[0]) {
		log_error("lab: the CNI result names no host-side interface");
		return -EIO;
	}
	return 0;
}

/* ADD (or DEL with its cached result) through the list. */
static int run_list(const struct lab_cni *cni, const struct invocation *inv, yajl_val caps_args,
		    yajl_val cached, yajl_val *result)
{
	char errbuf[256];
	yajl_val list = yajl_tree_parse(cni->conflist, errbuf, sizeof(errbuf));
	yajl_val plugins = get(list, "plugins"), prev = cached;
	bool del = !strcmp(inv->command, "DEL"), add = !strcmp(inv->command, "ADD");
	yajl_val parsed = NULL;
	int err = 0, first_err = 0;

	*result = NULL;
	if (!YAJL_IS_ARRAY(plugins)) {
		log_error("lab: %s/%s: not a network list", cni->dir, CONFLIST);
		yajl_tree_free(list);
		return -EINVAL;
	}
	for (size_t k = 0; k < plugins->u.array.len; k++) {
		size_t i = del ? plugins->u.array.len - 1 - k : k;
		yajl_val plugin = plugins->u.array.values[i];
		const char *type = get_str(plugin, "type");
		char *in, *out = NULL;

		if (!YAJL_IS_OBJECT(plugin) || !type) {
			err = -EINVAL;
			log_error("lab: %s/%s: plugin %zu has no type", cni->dir, CONFLIST, i);
			break;
		}
		in = plugin_stdin(list, plugin, caps_args, prev);
		if (!in) {
			err = -ENOMEM;
			break;
		}
		log_debug("lab: CNI %s, plugin %s, stdin: %s", inv->command, type, in);
		err = run_plugin(cni, inv, type, in, &out);
		free(in);
		if (err) {
			free(out);
			/* DEL goes on: every plugin releases what it can. */
			if (del) {
				if (!first_err)
					first_err = err;
				err = 0;
				continue;
			}
			break;
		}
		if (add) {
			yajl_val next = out && *out ? yajl_tree_parse(out, errbuf, sizeof(errbuf))
						     : NULL;

			if (!YAJL_IS_OBJECT(next)) {
				log_error("lab: CNI ADD of %s: plugin %s printed no result", inv->cid,
					  type);
				yajl_tree_free(next);
				free(out);
				err = -EIO;
				break;
			}
			yajl_tree_free(parsed);
			parsed = next;
			prev = parsed;
		}
		free(out);
	}
	if (!err && add) {
		*result = parsed;
		parsed = NULL;
	}
	yajl_tree_free(parsed);
	yajl_tree_free(list);
	return err ? err : first_err;
}

static yajl_val ips_args(const struct np_addr *ips, size_t n_ips)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	yajl_val v = NULL;
	char *text;

	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	if (n_ips) {
		gen_str(g, "ips");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n_ips; i++) {
			char buf[64];

			gen_str(g, addr_format(&ips[i], buf, sizeof(buf)));
		}
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
	text = gen_text(g);
	yajl_gen_free(g);
	if (text)
		v = yajl_tree_parse(text, NULL, 0);
	free(text);
	return v;
}

int lab_cni_add(const struct lab_cni *cni, const char *cid, const char *netns,
		const char *k8s_ns, const char *k8s_name, const struct np_addr *ips,
		size_t n_ips, struct lab_cni_iface *out)
{
	struct invocation inv = { "ADD", cid, netns, k8s_ns, k8s_name };
	yajl_val caps = ips_args(ips, n_ips), result = NULL;
	int err;

	if (!caps)
		return -ENOMEM;
	err = run_list(cni, &inv, caps, NULL, &result);
	if (!err)
		err = cache_write(cni, &inv, caps, result);
	if (!err)
		err = result_iface(result, out);
	if (err) {
		/* As a runtime does after a failed ADD: DEL with what there is. */
		struct invocation del = { "DEL", cid, netns, k8s_ns, k8s_name };
		yajl_val none = NULL;
		char path[PATH_MAX];

		run_list(cni, &del, caps, result, &none);
		if (!cache_path(cni, cid, path, sizeof(path)))
			unlink(path);
	}
	yajl_tree_free(result);
	yajl_tree_free(caps);
	return err;
}

static int cache_read(const struct lab_cni *cni, const char *cid, yajl_val *entry)
{
	char path[PATH_MAX], *text;
	int err = cache_path(cni, cid, path, sizeof(path));

	*entry = NULL;
	if (err)
		return err;
	text = read_file(path);
	if (!text)
		return -errno;
	*entry = yajl_tree_parse(text, NULL, 0);
	free(text);
	if (!YAJL_IS_OBJECT(*entry)) {
		log_error("lab: %s is damaged", path);
		yajl_tree_free(*entry);
		*entry = NULL;
		return -EINVAL;
	}
	return 0;
}

static bool k8s_arg(yajl_val entry, const char *key, char *buf, size_t len)
{
	yajl_val args = get(entry, "cniArgs");

	for (size_t i = 0; YAJL_IS_ARRAY(args) && i < args->u.array.len; i++) {
		yajl_val kv = args->u.array.values[i];

		if (YAJL_IS_ARRAY(kv) && kv->u.array.len == 2 &&
		    YAJL_IS_STRING(kv->u.array.values[0]) && YAJL_IS_STRING(kv->u.array.values[1]) &&
		    !strcmp(kv->u.array.values[0]->u.string, key)) {
			snprintf(buf, len, "%s", kv->u.array.values[1]->u.string);
			return true;
		}
	}
	return false;
}

int lab_cni_del(const struct lab_cni *cni, const char *cid)
{
	char path[PATH_MAX], ns[256] = "", name[256] = "", netns[LAB_NAME_MAX];
	yajl_val entry, none = NULL;
	struct invocation inv;
	const char *nn;
	int err = cache_read(cni, cid, &entry);

	if (err == -ENOENT)
		return 0; /* never added, or deleted already */
	if (err)
		return err;
	nn = get_str(entry, "netns");
	snprintf(netns, sizeof(netns), "%s", nn ? nn : cid);
	k8s_arg(entry, "K8S_POD_NAMESPACE", ns, sizeof(ns));
	k8s_arg(entry, "K8S_POD_NAME", name, sizeof(name));
	inv = (struct invocation){ "DEL", cid, netns, ns, name };
	log_debug("lab: CNI DEL %s", cid);
	err = run_list(cni, &inv, get(entry, "capabilityArgs"), get(entry, "result"), &none);
	yajl_tree_free(entry);
	if (!err && !cache_path(cni, cid, path, sizeof(path)) && unlink(path) && errno != ENOENT)
		err = -errno;
	return err;
}

int lab_cni_check(const struct lab_cni *cni, const char *cid)
{
	char ns[256] = "", name[256] = "", netns[LAB_NAME_MAX];
	yajl_val entry, none = NULL;
	struct invocation inv;
	const char *nn;
	int err = cache_read(cni, cid, &entry);

	if (err) {
		log_error("lab: CNI CHECK of %s: no cached result: %s", cid, strerror(-err));
		return err;
	}
	nn = get_str(entry, "netns");
	snprintf(netns, sizeof(netns), "%s", nn ? nn : cid);
	k8s_arg(entry, "K8S_POD_NAMESPACE", ns, sizeof(ns));
	k8s_arg(entry, "K8S_POD_NAME", name, sizeof(name));
	inv = (struct invocation){ "CHECK", cid, netns, ns, name };
	err = run_list(cni, &inv, get(entry, "capabilityArgs"), get(entry, "result"), &none);
	yajl_tree_free(entry);
	return err;
}

int lab_cni_cached(const struct lab_cni *cni, const char *cid, struct lab_cni_iface *out)
{
	yajl_val entry;
	int err = cache_read(cni, cid, &entry);

	if (!err)
		err = result_iface(get(entry, "result"), out);
	yajl_tree_free(entry);
	return err;
}

/* ---- Teardown */

static int remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int err = 0;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) ? -errno : 0;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char sub[PATH_MAX];
		int ret;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		ret = remove_tree(sub);
		if (ret && !err)
			err = ret;
	}
	closedir(d);
	if (rmdir(path) && !err)
		err = -errno;
	return err;
}

/* Addresses host-local still holds: files named after an address. */
static size_t ipam_held(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, IPAM, LAB_CNI_NETWORK);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		struct np_addr a;

		if (!addr_parse(e->d_name, false, &a))
			n++;
	}
	closedir(d);
	return n;
}

int lab_cni_teardown(const char *dir, const char *node_netns)
{
	size_t plen = strlen(LAB_STATE_DIR "/"), held;
	struct lab_cni cni;
	char path[PATH_MAX];
	struct dirent *e;
	int err = 0, ret;
	DIR *d;

	memset(&cni, 0, sizeof(cni));
	/* Only a lab's own directory, ID.cni in the state directory. */
	if (strncmp(dir, LAB_STATE_DIR "/", plen) || strchr(dir + plen, '/') ||
	    strlen(dir + plen) != LAB_ID_LEN + 4 || strcmp(dir + plen + LAB_ID_LEN, ".cni") ||
	    strncmp(node_netns, LAB_NETNS_PREFIX, strlen(LAB_NETNS_PREFIX)) ||
	    strchr(node_netns, '/'))
		return 0;
	snprintf(cni.dir, sizeof(cni.dir), "%s", dir);
	snprintf(cni.node_netns, sizeof(cni.node_netns), "%s", node_netns);
	cni_path(&cni);
	snprintf(path, sizeof(path), "%s/%s", dir, CONFLIST);
	cni.conflist = read_file(path);
	snprintf(path, sizeof(path), "%s/%s", dir, RESULTS);
	d = cni.conflist && lab_netns_exists(node_netns) ? opendir(path) : NULL;
	while (d && (e = readdir(d))) {
		size_t nlen = strlen(LAB_CNI_NETWORK "-"), len = strlen(e->d_name);
		char cid[LAB_NAME_MAX];

		if (strncmp(e->d_name, LAB_CNI_NETWORK "-", nlen) || len < nlen + 6 ||
		    strcmp(e->d_name + len - 5, "-" IFNAME) || len - nlen - 5 >= sizeof(cid))
			continue;
		snprintf(cid, sizeof(cid), "%.*s", (int)(len - nlen - 5), e->d_name + nlen);
		ret = lab_cni_del(&cni, cid);
		if (ret && !err)
			err = ret;
	}
	/* Without the node namespace (a crash) nothing could run DEL. */
	held = d ? ipam_held(dir) : 0;
	if (d)
		closedir(d);
	if (held) {
		log_error("lab: host-local still holds %zu addresses after DEL (%s/%s)", held, dir,
			  IPAM);
		if (!err)
			err = -EBUSY;
	}
	lab_cni_free(&cni);
	ret = remove_tree(dir);
	if (ret && !err) {
		err = ret;
		log_error("lab: removing %s: %s", dir, strerror(-ret));
	}
	return err;
}
