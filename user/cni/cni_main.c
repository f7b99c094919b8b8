/* SPDX-License-Identifier: Apache-2.0 */
/*
 * npbpf-cni, the plugin proper: environment, network configuration,
 * ADD / DEL / CHECK / VERSION. cni.h says what it does; the decisions are
 * commented where they are made (pending pods, stale endpoint records, the
 * order of DEL, onAgentTimeout).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <npbpf/datapath.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cni.h"
#include "cni_agent.h"
#include "cni_json.h"
#include "cni_nl.h"
#include "window.h"
#include "loader.h"
#include "log.h"
#include "pinned.h"
#include "yaml_tree.h"

/* ---- Logging: stderr (the runtime shows it with a failure) and the
 * optional logFile of the configuration. */

static FILE *log_file;
static const char *cni_command = "?";
static const char *cni_container = "";

__attribute__((format(printf, 2, 3))) static void plog(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(level, "%s", msg);
	if (log_file && level <= LOG_INFO) {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(log_file, "%s.%03ldZ %s [%d] %s %.12s: %s\n", when, ts.tv_nsec / 1000000,
			names[level], (int)getpid(), cni_command, cni_container, msg);
		fflush(log_file);
	}
}

/* ---- Errors: the spec's JSON on stdout and a non-zero exit. */

static const char *out_version = "1.0.0";

__attribute__((noreturn, format(printf, 3, 4))) static void fail(int code, const char *details,
								 const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	plog(LOG_ERROR, "%s%s%s (code %d)", msg, details ? ": " : "", details ? details : "", code);
	fputs("{\"cniVersion\":", stdout);
	cj_str(stdout, out_version);
	printf(",\"code\":%d,\"msg\":", code);
	cj_str(stdout, msg);
	if (details) {
		fputs(",\"details\":", stdout);
		cj_str(stdout, details);
	}
	fputs("}\n", stdout);
	fflush(stdout);
	exit(1);
}

/* ---- Environment. */

struct cni_env {
	const char *command, *container_id, *netns, *ifname, *args, *path;
	char pod_ns[256], pod_name[256];
};

static void args_value(const char *args, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);

	buf[0] = '\0';
	for (const char *p = args; p && *p;) {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			n -= klen + 1;
			if (n >= len)
				n = len - 1;
			memcpy(buf, p + klen + 1, n);
			buf[n] = '\0';
			return;
		}
		p = end ? end + 1 : NULL;
	}
}

static void read_env(struct cni_env *e)
{
	memset(e, 0, sizeof(*e));
	e->command = getenv("CNI_COMMAND");
	e->container_id = getenv("CNI_CONTAINERID");
	e->netns = getenv("CNI_NETNS");
	e->ifname = getenv("CNI_IFNAME");
	e->args = getenv("CNI_ARGS");
	e->path = getenv("CNI_PATH");
	if (e->netns && !e->netns[0])
		e->netns = NULL;
	args_value(e->args, "K8S_POD_NAMESPACE", e->pod_ns, sizeof(e->pod_ns));
	args_value(e->args, "K8S_POD_NAME", e->pod_name, sizeof(e->pod_name));
}

static void require_env(const char *name, const char *value)
{
	if (!value || !value[0])
		fail(CNI_ERR_ENV, NULL, "%s is not set", name);
}

/* ---- Network configuration. */

enum on_timeout {
	ON_TIMEOUT_ISOLATE, /* ADD succeeds, the pod stays isolated until bound */
	ON_TIMEOUT_FAIL,    /* ADD fails (try again later) */
	ON_TIMEOUT_ALLOW,   /* fail open: our programs come off the veth. Unsafe. */
};

#define MAX_IFACES 16
#define MAX_IPS	   16

struct prev_iface {
	char *name, *mac, *sandbox;
};

struct prev_ip {
	char *address; /* "198.18.64.5/24" */
	char *gateway; /* NULL when not given */
	int64_t iface; /* index into interfaces, -1 when missing */
};

struct cni_conf {
	char *cni_version, *name, *type;
	char *agent_socket, *pin_dir, *log_file;
	int64_t timeout_ms;
	enum on_timeout on_timeout;
	bool has_prev;
	char *prev_json; /* prevResult as JSON with cniVersion set, malloc()ed */
	struct prev_iface ifaces[MAX_IFACES];
	size_t n_ifaces;
	struct prev_ip ips[MAX_IPS];
	size_t n_ips;
	/* what was wrong, for the error after the parse */
	int err_code;
	char err[512];
};

static bool version_supported(const char *v)
{
	return v && (!strcmp(v, "1.0.0") || !strcmp(v, "0.4.0"));
}

__attribute__((format(printf, 3, 4))) static int conf_error(struct cni_conf *c, int code,
							    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->err_code = code;
	return -EINVAL;
}

static int conf_str(struct cni_conf *c, const struct yt_node *root, const char *key, char **out,
		    const char *dflt)
{
	bool bad = false;
	const char *s = cj_get_str(root, key, &bad);

	if (bad)
		return conf_error(c, CNI_ERR_CONFIG, "\"%s\" must be a string", key);
	if (!s)
		s = dflt;
	*out = s ? strdup(s) : NULL;
	return 0;
}

static int conf_prev(struct cni_conf *c, const struct yt_node *prev)
{
	const struct yt_node *ifs = yt_map_get(prev, "interfaces"), *ips = yt_map_get(prev, "ips");
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (prev->kind != YT_MAP)
		return conf_error(c, CNI_ERR_CONFIG, "\"prevResult\" must be an object");
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	cj_node(f, prev, c->cni_version, 4);
	fclose(f);
	c->prev_json = buf;
	c->has_prev = true;
	if (ifs && ifs->kind == YT_SEQ) {
		for (uint32_t i = 0; i < ifs->n && c->n_ifaces < MAX_IFACES; i++) {
			struct prev_iface *p = &c->ifaces[c->n_ifaces++];
			const struct yt_node *it = ifs->items[i];

			p->name = cj_strdup(yt_map_get(it, "name"));
			p->mac = cj_strdup(yt_map_get(it, "mac"));
			p->sandbox = cj_strdup(yt_map_get(it, "sandbox"));
		}
	}
	if (ips && ips->kind == YT_SEQ) {
		for (uint32_t i = 0; i < ips->n && c->n_ips < MAX_IPS; i++) {
			const struct yt_node *it = ips->items[i],
					     *ifn = yt_map_get(it, "interface");
			struct prev_ip *p = &c->ips[c->n_ips];

			p->address = cj_strdup(yt_map_get(it, "address"));
			p->gateway = cj_strdup(yt_map_get(it, "gateway"));
			p->iface = -1;
			if (ifn && yt_get_int(ifn, &p->iface))
				p->iface = -1;
			if (p->address)
				c->n_ips++;
		}
	}
	return 0;
}

static int conf_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct cni_conf *c = arg;
	const struct yt_node *n;
	char *mode = NULL;
	int err;

	if (root->kind != YT_MAP)
		return conf_error(c, CNI_ERR_CONFIG,
				  "the network configuration is %s, not an object",
				  yt_describe(root));
	if ((err = conf_str(c, root, "cniVersion", &c->cni_version, NULL)) ||
	    (err = conf_str(c, root, "name", &c->name, NULL)) ||
	    (err = conf_str(c, root, "type", &c->type, NULL)) ||
	    (err = conf_str(c, root, "agentSocket", &c->agent_socket, CNI_DEFAULT_SOCKET)) ||
	    (err = conf_str(c, root, "pinDir", &c->pin_dir, PINNED_DEFAULT_DIR)) ||
	    (err = conf_str(c, root, "logFile", &c->log_file, NULL)) ||
	    (err = conf_str(c, root, "onAgentTimeout", &mode, "isolate")))
		return err;
	if (!c->cni_version)
		return conf_error(c, CNI_ERR_VERSION,
				  "the network configuration has no cniVersion");
	if (version_supported(c->cni_version))
		out_version = c->cni_version;
	else
		return conf_error(c, CNI_ERR_VERSION,
				  "cniVersion %.32s is not supported (supported: 0.4.0, 1.0.0)",
				  c->cni_version);
	if (!mode || !strcmp(mode, "isolate"))
		c->on_timeout = ON_TIMEOUT_ISOLATE;
	else if (!strcmp(mode, "fail"))
		c->on_timeout = ON_TIMEOUT_FAIL;
	else if (!strcmp(mode, "allow"))
		c->on_timeout = ON_TIMEOUT_ALLOW;
	else
		err = conf_error(
			c, CNI_ERR_CONFIG,
			"\"onAgentTimeout\" is \"%.32s\"; it must be isolate, fail or allow", mode);
	free(mode);
	if (err)
		return err;
	c->timeout_ms = CNI_DEFAULT_TIMEOUT_MS;
	n = yt_map_get(root, "timeoutMs");
	if (!yt_is_null(n) &&
	    (yt_get_int(n, &c->timeout_ms) || c->timeout_ms < 0 || c->timeout_ms > 600000))
		return conf_error(c, CNI_ERR_CONFIG,
				  "\"timeoutMs\" must be an integer from 0 to 600000");
	if (!c->agent_socket[0] || !c->pin_dir[0])
		return conf_error(c, CNI_ERR_CONFIG,
				  "\"agentSocket\" and \"pinDir\" may not be empty");
	n = yt_map_get(root, "prevResult");
	if (!yt_is_null(n))
		return conf_prev(c, n);
	return 0;
}

static void read_conf(struct cni_conf *c)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int err;

	memset(c, 0, sizeof(*c));
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *p;

			cap = cap ? cap * 2 : 65536;
			if (cap > (16u << 20))
				fail(CNI_ERR_CONFIG, NULL,
				     "the network configuration is larger than 16 MiB");
			p = realloc(buf, cap);
			if (!p)
				fail(CNI_ERR_IO, NULL, "out of memory");
			buf = p;
		}
		n = read(0, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail(CNI_ERR_IO, strerror(errno), "reading the network configuration");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!len)
		fail(CNI_ERR_CONFIG, NULL, "no network configuration on standard input");
	err = yt_parse_buffer("network configuration", buf, len, conf_doc, NULL, c);
	free(buf);
	if (c->err_code)
		fail(c->err_code, NULL, "%s", c->err);
	if (err)
		fail(CNI_ERR_DECODE, "see the log", "the network configuration is not valid JSON");
	if (!c->cni_version)
		fail(CNI_ERR_CONFIG, NULL, "the network configuration is empty");
	if (c->log_file) {
		log_file = fopen(c->log_file, "ae");
		if (!log_file)
			plog(LOG_WARN, "logFile %s: %s", c->log_file, strerror(errno));
	}
}

/* ---- The pod's interfaces. */

struct pod_link {
	struct nl_link pod;  /* CNI_IFNAME in the pod's namespace */
	struct nl_link host; /* its veth peer in ours */
	int host_iface;	     /* index in prevResult's interfaces, -1 when not listed */
};

static const char *mac_text(const uint8_t *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

/* Whether host is the veth peer of the pod's interface: kinds, both
 * ifindexes, and the namespace of the peer when the kernel names it. */
static bool is_peer(const struct nl_link *host, const struct nl_link *pod, int pod_nsid)
{
	if (strcmp(host->kind, "veth") || !host->has_link || !pod->has_link)
		return false;
	if (host->ifindex != pod->link || host->link != pod->ifindex)
		return false;
	return !(pod_nsid >= 0 && host->has_link_nsid && host->link_nsid != pod_nsid);
}

/* Finds the pod's interface (in its namespace) and the host-side veth
 * (here). 0, -ENOENT when the namespace or the interface is gone, -ENODEV
 * when no veth here is its peer, or -errno. */
static int find_links(const struct cni_env *e, const struct cni_conf *c, struct pod_link *pl)
{
	int psock, hsock, nsid, err;

	memset(pl, 0, sizeof(*pl));
	pl->host_iface = -1;
	if (!e->netns)
		return -ENOENT;
	psock = nl_open(e->netns);
	if (psock < 0)
		return psock == -ENOENT ? -ENOENT : psock;
	err = nl_get_link(psock, e->ifname, 0, &pl->pod);
	close(psock);
	if (err)
		return err == -ENODEV ? -ENOENT : err;
	if (!pl->pod.has_link || strcmp(pl->pod.kind, "veth"))
		return -ENODEV;
	hsock = nl_open(NULL);
	if (hsock < 0)
		return hsock;
	nsid = nl_get_nsid(hsock, e->netns);
	/* The host-side interfaces prevResult lists (no sandbox): the bridge
	 * plugin lists the bridge too, which is no veth. */
	for (size_t i = 0; i < c->n_ifaces; i++) {
		const struct prev_iface *p = &c->ifaces[i];
		struct nl_link l;

		if ((p->sandbox && p->sandbox[0]) || !p->name)
			continue;
		if (nl_get_link(hsock, p->name, 0, &l))
			continue;
		if (is_peer(&l, &pl->pod, nsid)) {
			pl->host = l;
			pl->host_iface = (int)i;
			close(hsock);
			return 0;
		}
	}
	/* Not listed (or no prevResult: DEL): the pod interface's peer index. */
	err = nl_get_link(hsock, NULL, pl->pod.link, &pl->host);
	close(hsock);
	if (err)
		return err;
	if (!is_peer(&pl->host, &pl->pod, nsid))
		return -ENODEV;
	if (c->has_prev)
		plog(LOG_WARN,
		     "prevResult does not list the host-side veth of %s; using its peer %s",
		     e->ifname, pl->host.name);
	return 0;
}

/* The pod interface's index in prevResult (name CNI_IFNAME, sandbox
 * CNI_NETNS), or -1. */
static int pod_iface_index(const struct cni_env *e, const struct cni_conf *c)
{
	int by_name = -1;

	for (size_t i = 0; i < c->n_ifaces; i++) {
		const struct prev_iface *p = &c->ifaces[i];

		if (!p->name || strcmp(p->name, e->ifname) || !p->sandbox || !p->sandbox[0])
			continue;
		if (!strcmp(p->sandbox, e->netns))
			return (int)i;
		by_name = (int)i;
	}
	return by_name;
}

/* The pod's addresses from prevResult: ips of the pod interface (or with no
 * interface index when prevResult names just one sandbox interface). */
struct pod_addrs {
	char text[MAX_IPS][INET6_ADDRSTRLEN];
	size_t n;
	bool has4, has6;
	uint8_t a4[4], a6[16];
};

static void pod_addrs(const struct cni_env *e, const struct cni_conf *c, struct pod_addrs *pa)
{
	int pod = pod_iface_index(e, c);

	memset(pa, 0, sizeof(*pa));
	for (size_t i = 0; i < c->n_ips; i++) {
		char a[INET6_ADDRSTRLEN + 8];
		uint8_t bin[16];

		if (c->ips[i].iface >= 0 && pod >= 0 && c->ips[i].iface != pod)
			continue;
		snprintf(a, sizeof(a), "%s", c->ips[i].address);
		a[strcspn(a, "/")] = '\0';
		if (inet_pton(AF_INET, a, bin) == 1) {
			if (!pa->has4)
				memcpy(pa->a4, bin, 4);
			pa->has4 = true;
		} else if (inet_pton(AF_INET6, a, bin) == 1) {
			if (!pa->has6)
				memcpy(pa->a6, bin, 16);
			pa->has6 = true;
		} else {
			plog(LOG_WARN, "prevResult address %.64s is not an address; left out", a);
			continue;
		}
		/* canonical text, from the binary form */
		inet_ntop(strchr(a, ':') ? AF_INET6 : AF_INET, bin, pa->text[pa->n++],
			  INET6_ADDRSTRLEN);
	}
}

/* ---- The pinned datapath. */

static int pinned_fd(const struct cni_conf *c, const char *name)
{
	return pinned_get(c->pin_dir, name);
}

/*
 * An endpoint record already at this ifindex: a repeated ADD of this pod
 * (the agent bound it: keep it), or a record of an earlier veth that had
 * the same ifindex and that the agent has not removed yet: that would judge
 * the new pod as the old one, so it goes (the pod is pending, isolated).
 * A record is this pod's when its MAC and addresses are the pod's.
 */
static int clear_stale_endpoint(const struct cni_conf *c, const struct pod_link *pl,
				const struct pod_addrs *pa)
{
	struct npbpf_endpoint ep;
	__u32 key = (__u32)pl->host.ifindex;
	int fd, ct, err = 0;
	bool ours;

	fd = pinned_fd(c, NPBPF_MAP_ENDPOINT);
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &key, &ep)) {
		err = errno == ENOENT ? 0 : -errno;
		close(fd);
		return err;
	}
	ours = (ep.flags & NPBPF_EP_HAS_MAC) && pl->pod.has_mac &&
	       !memcmp(ep.mac, pl->pod.mac, 6) && !!(ep.flags & NPBPF_EP_HAS_V4) == pa->has4 &&
	       (!pa->has4 || !memcmp(ep.addr4, pa->a4, 4)) &&
	       !!(ep.flags & NPBPF_EP_HAS_V6) == pa->has6 &&
	       (!pa->has6 || !memcmp(ep.addr6, pa->a6, 16));
	if (ours) {
		plog(LOG_INFO, "%s already has this pod's endpoint record (identity %u): kept",
		     pl->host.name, ep.identity);
	} else {
		plog(LOG_WARN,
		     "%s (ifindex %u) had the endpoint record of another pod (identity "
		     "%u): removed, the pod is pending",
		     pl->host.name, key, ep.identity);
		if (bpf_map_delete_elem(fd, &key) && errno != ENOENT)
			err = -errno;
		ct = pinned_fd(c, NPBPF_MAP_CT);
		if (!err && ct >= 0) {
			err = ct_map_remove(ct, key);
			close(ct);
		}
	}
	close(fd);
	return err;
}

/* The pods' bridge: a prevResult interface outside the sandbox, not the
 * pod's veth, whose kind is bridge here (the bridge plugin lists cni0
 * first). 0 when there is none (ptp, routed wiring: nothing to guard). */
static unsigned int bridge_ifindex(const struct cni_conf *c, const struct pod_link *pl)
{
	unsigned int found = 0;
	int sock = nl_open(NULL);

	if (sock < 0)
		return 0;
	for (size_t i = 0; !found && i < c->n_ifaces; i++) {
		const struct prev_iface *p = &c->ifaces[i];
		struct nl_link l;

		if (!p->name || (p->sandbox && p->sandbox[0]) || strlen(p->name) >= IF_NAMESIZE ||
		    !strcmp(p->name, pl->host.name))
			continue;
		if (!nl_get_link(sock, p->name, 0, &l) && !strcmp(l.kind, "bridge"))
			found = (unsigned int)l.ifindex;
	}
	close(sock);
	return found;
}

/* The pod's prevResult addresses with their prefixes and gateways. */
static size_t pod_window_ips(const struct cni_env *e, const struct cni_conf *c,
			     struct window_ip *out)
{
	int pod = pod_iface_index(e, c);
	size_t n = 0;

	for (size_t i = 0; i < c->n_ips && n < MAX_IPS; i++) {
		if (c->ips[i].iface >= 0 && pod >= 0 && c->ips[i].iface != pod)
			continue;
		if (!window_ip_parse(c->ips[i].address, c->ips[i].gateway, &out[n]))
			n++;
	}
	return n;
}

/*
 * What the datapath needs before the programs go on (datapath.h,
 * cni_window.h): this pod's segment, so that the node's other pods drop
 * traffic to and from its address until the agent has bound it (their
 * hooks are attached, the new veth's are not yet); and its pending record,
 * so that from the first packet the pod is isolated with its own MAC and
 * addresses checked, and the node (its probes) still reaches it.
 */
static int write_pending_endpoint(const struct cni_conf *c, const struct pod_link *pl,
				  const struct pod_addrs *pa, const struct window_ip *ips,
				  size_t n_ips)
{
	struct npbpf_endpoint ep;
	int err;

	err = window_segments_put(c->pin_dir, ips, n_ips);
	if (err)
		return err;
	memset(&ep, 0, sizeof(ep));
	ep.identity = NPBPF_ID_UNKNOWN_POD;
	if (pa->has4) {
		ep.flags |= NPBPF_EP_HAS_V4;
		memcpy(ep.addr4, pa->a4, 4);
	}
	if (pa->has6) {
		ep.flags |= NPBPF_EP_HAS_V6;
		memcpy(ep.addr6, pa->a6, 16);
	}
	if (pl->pod.has_mac) {
		ep.flags |= NPBPF_EP_HAS_MAC;
		memcpy(ep.mac, pl->pod.mac, 6);
	}
	return window_pending_put(c->pin_dir, (uint32_t)pl->host.ifindex, &ep);
}

/* ---- Output. */

static void print_result(const struct cni_conf *c)
{
	fputs(c->prev_json, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* ---- The agent. */

static char *add_request(const struct cni_env *e, const struct pod_link *pl,
			 const struct pod_addrs *pa, int64_t timeout_ms)
{
	char *buf = NULL, mac[32];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("{\"op\":\"add\",\"namespace\":", f);
	cj_str(f, e->pod_ns);
	fputs(",\"pod\":", f);
	cj_str(f, e->pod_name);
	fputs(",\"containerId\":", f);
	cj_str(f, e->container_id);
	fprintf(f, ",\"ifindex\":%d,\"ifname\":", pl->host.ifindex);
	cj_str(f, pl->host.name);
	fputs(",\"mac\":", f);
	cj_str(f, pl->pod.has_mac ? mac_text(pl->pod.mac, mac, sizeof(mac)) : "");
	fputs(",\"addrs\":[", f);
	for (size_t i = 0; i < pa->n; i++) {
		if (i)
			fputc(',', f);
		cj_str(f, pa->text[i]);
	}
	fprintf(f, "],\"timeoutMs\":%lld}\n", (long long)timeout_ms);
	fclose(f);
	return buf;
}

static void tell_agent_del(const struct cni_env *e, const struct cni_conf *c, int ifindex)
{
	struct agent_reply r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int err;

	if (!f)
		return;
	fputs("{\"op\":\"del\",\"namespace\":", f);
	cj_str(f, e->pod_ns);
	fputs(",\"pod\":", f);
	cj_str(f, e->pod_name);
	fputs(",\"containerId\":", f);
	cj_str(f, e->container_id);
	fprintf(f, ",\"ifindex\":%d}\n", ifindex);
	fclose(f);
	err = agent_call(c->agent_socket, buf, 200, &r);
	free(buf);
	if (err && err != -ENOENT && err != -ECONNREFUSED)
		plog(LOG_INFO,
		     "telling the agent about the DEL: %s (the agent finds out by itself)",
		     strerror(-err));
}

/* ---- ADD. */

static void cmd_add(const struct cni_env *e, const struct cni_conf *c)
{
	int from = -1, to = -1, err, gone;
	unsigned int br;
	struct window_ip ips[MAX_IPS];
	size_t n_ips;
	struct agent_reply r;
	struct pod_addrs pa;
	struct pod_link pl;
	const char *why;
	char *req;

	require_env("CNI_CONTAINERID", e->container_id);
	require_env("CNI_NETNS", e->netns);
	require_env("CNI_IFNAME", e->ifname);
	if (!c->has_prev)
		fail(CNI_ERR_CONFIG, NULL,
		     "no prevResult: npbpf-cni is a chained plugin, it comes after the plugin that "
		     "creates the pod's veth (bridge, ptp, flannel)");
	err = find_links(e, c, &pl);
	if (err == -ENODEV)
		fail(CNI_ERR_NO_VETH, NULL,
		     "%s in %s has no veth peer in this namespace: npbpf-cni enforces on pods "
		     "wired by a veth (bridge, ptp, flannel)",
		     e->ifname, e->netns);
	if (err)
		fail(CNI_ERR_NO_VETH, strerror(-err), "finding the interface %s in %s", e->ifname,
		     e->netns);
	pod_addrs(e, c, &pa);

	from = pinned_fd(c, pin_prog_names[PIN_PROG_FROM_POD]);
	to = pinned_fd(c, pin_prog_names[PIN_PROG_TO_POD]);
	if (from < 0 || to < 0) {
		err = from < 0 ? from : to;
		if (c->on_timeout == ON_TIMEOUT_ALLOW) {
			plog(LOG_ERROR,
			     "UNSAFE: the npbpf programs are not pinned under %s (%s); "
			     "onAgentTimeout is \"allow\", so pod %s/%s starts WITHOUT "
			     "NetworkPolicy enforcement until the agent attaches",
			     c->pin_dir, strerror(-err), e->pod_ns, e->pod_name);
			print_result(c);
			exit(0);
		}
		fail(err == -ENOENT ? CNI_ERR_TRY_LATER : CNI_ERR_NO_DATAPATH, strerror(-err),
		     "the npbpf programs are not pinned under %s: the npbpf agent has not run on "
		     "this node yet",
		     c->pin_dir);
	}
	err = clear_stale_endpoint(c, &pl, &pa);
	if (err)
		fail(CNI_ERR_MAPS, strerror(-err), "checking the endpoint record of %s",
		     pl.host.name);
	br = bridge_ifindex(c, &pl);
	if (br) {
		err = window_bridge_attach(c->pin_dir, br);
		if (err)
			fail(CNI_ERR_ATTACH, strerror(-err),
			     "attaching the npbpf bridge hook to ifindex %u", br);
	}
	gone = window_pending_gc(c->pin_dir);
	if (gone > 0)
		plog(LOG_INFO, "removed %d pending records of veths that are gone", gone);
	n_ips = pod_window_ips(e, c, ips);
	err = write_pending_endpoint(c, &pl, &pa, ips, n_ips);
	if (err)
		fail(CNI_ERR_MAPS, strerror(-err), "writing the pending endpoint of %s",
		     pl.host.name);
	err = loader_tc_attach_fds((uint32_t)pl.host.ifindex, from, to, NULL);
	close(from);
	close(to);
	if (err) {
		window_pending_del(c->pin_dir, (uint32_t)pl.host.ifindex);
		fail(CNI_ERR_ATTACH, strerror(-err), "attaching the npbpf programs to %s",
		     pl.host.name);
	}
	plog(LOG_INFO, "%s/%s: programs attached to %s (ifindex %d), pending", e->pod_ns,
	     e->pod_name, pl.host.name, pl.host.ifindex);

	req = add_request(e, &pl, &pa, c->timeout_ms);
	if (!req)
		fail(CNI_ERR_IO, NULL, "out of memory");
	/* The agent answers at its timeout at the latest: a little longer
	 * here, so its "pending" comes before ours. */
	err = agent_call(c->agent_socket, req, (int)c->timeout_ms + 100, &r);
	free(req);
	if (!err && r.ok && !strcmp(r.state, "bound")) {
		plog(LOG_INFO, "%s/%s: bound to identity %u", e->pod_ns, e->pod_name, r.identity);
		/* The endpoint record shadows it already; tidy. */
		window_pending_del(c->pin_dir, (uint32_t)pl.host.ifindex);
		print_result(c);
		return;
	}
	why = err == -ENOENT || err == -ECONNREFUSED ? "the agent is not running"
	      : err == -ETIMEDOUT		     ? "the agent did not answer in time"
	      : err				     ? strerror(-err)
	      : r.why[0]			     ? r.why
						     : "the agent did not bind the pod";
	switch (c->on_timeout) {
	case ON_TIMEOUT_ISOLATE:
		plog(LOG_WARN,
		     "%s/%s: %s (%s); the pod starts isolated (all its traffic dropped) "
		     "until the agent binds it",
		     e->pod_ns, e->pod_name, why, c->agent_socket);
		print_result(c);
		return;
	case ON_TIMEOUT_FAIL:
		fail(CNI_ERR_TRY_LATER, why, "npbpf has not bound pod %s/%s within %lld ms",
		     e->pod_ns, e->pod_name, (long long)c->timeout_ms);
	case ON_TIMEOUT_ALLOW:
		err = loader_tc_detach_ifindex((uint32_t)pl.host.ifindex);
		/* Not an unknown pod for the others either: world to them
		 * (after the pending record, whose addresses go with it). */
		if (!err)
			err = window_pending_del(c->pin_dir, (uint32_t)pl.host.ifindex);
		if (!err)
			err = window_unenforced_put(c->pin_dir, ips, n_ips);
		if (err)
			fail(CNI_ERR_ATTACH, strerror(-err),
			     "onAgentTimeout allow: removing the programs from %s", pl.host.name);
		plog(LOG_ERROR,
		     "UNSAFE: %s/%s: %s; onAgentTimeout is \"allow\": the npbpf programs "
		     "were removed from %s and the pod runs WITHOUT NetworkPolicy "
		     "enforcement until the agent attaches them again",
		     e->pod_ns, e->pod_name, why, pl.host.name);
		print_result(c);
		return;
	}
}

/* ---- DEL: idempotent; the namespace and the veth may be gone. */

static void cmd_del(const struct cni_env *e, const struct cni_conf *c)
{
	struct window_ip ips[MAX_IPS];
	size_t n_ips;
	struct pod_link pl;
	int ep, ct, err;
	__u32 key;

	require_env("CNI_CONTAINERID", e->container_id);
	require_env("CNI_IFNAME", e->ifname);
	/* An "allow" pod's addresses stop being world: free addresses of the
	 * segment are unknown pods again. */
	n_ips = pod_window_ips(e, c, ips);
	err = window_unenforced_del(c->pin_dir, ips, n_ips);
	if (err)
		plog(LOG_WARN, "removing the unenforced addresses of %s/%s: %s", e->pod_ns,
		     e->pod_name, strerror(-err));
	err = find_links(e, c, &pl);
	if (err) {
		/* No namespace, no interface, or no veth peer here: a veth
		 * dies with its pod's namespace, so there is nothing of ours. */
		plog(LOG_INFO, "%s/%s: no host-side veth (%s): nothing to remove", e->pod_ns,
		     e->pod_name, err == -ENOENT ? "namespace or interface gone" : strerror(-err));
		tell_agent_del(e, c, 0);
		return;
	}
	key = (__u32)pl.host.ifindex;
	err = window_pending_del(c->pin_dir, key);
	if (err)
		fail(CNI_ERR_MAPS, strerror(-err), "removing the pending record of %s",
		     pl.host.name);
	/* The record first (the pod is isolated), then its conntrack map, then
	 * our filters (the main plugin's DEL, after ours, removes the veth). */
	ep = pinned_fd(c, NPBPF_MAP_ENDPOINT);
	if (ep >= 0) {
		if (bpf_map_delete_elem(ep, &key) && errno != ENOENT) {
			err = -errno;
			close(ep);
			fail(CNI_ERR_MAPS, strerror(-err), "removing the endpoint record of %s",
			     pl.host.name);
		}
		close(ep);
		ct = pinned_fd(c, NPBPF_MAP_CT);
		if (ct >= 0) {
			ct_map_remove(ct, key);
			close(ct);
		}
	}
	err = loader_tc_detach_ifindex(key);
	if (err)
		fail(CNI_ERR_ATTACH, strerror(-err), "removing the npbpf programs from %s",
		     pl.host.name);
	plog(LOG_INFO, "%s/%s: endpoint and programs removed from %s", e->pod_ns, e->pod_name,
	     pl.host.name);
	tell_agent_del(e, c, pl.host.ifindex);
}

/* ---- CHECK. */

static bool prog_named(uint32_t id, const char *name)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	bool ok = false;
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		ok = !strncmp(info.name, name, sizeof(info.name) - 1);
	close(fd);
	return ok;
}

static void cmd_check(const struct cni_env *e, const struct cni_conf *c)
{
	uint32_t in = 0, eg = 0;
	struct npbpf_endpoint rec;
	struct pod_link pl;
	int fd, err;
	__u32 key;

	require_env("CNI_CONTAINERID", e->container_id);
	require_env("CNI_NETNS", e->netns);
	require_env("CNI_IFNAME", e->ifname);
	if (!c->has_prev)
		fail(CNI_ERR_CONFIG, NULL, "CHECK needs prevResult");
	err = find_links(e, c, &pl);
	if (err)
		fail(CNI_ERR_NO_VETH, strerror(-err), "finding the host-side veth of %s in %s",
		     e->ifname, e->netns);
	key = (__u32)pl.host.ifindex;
	err = loader_query_tc(key, &in, &eg);
	if (err)
		fail(CNI_ERR_CHECK, strerror(-err), "reading the TC filters of %s", pl.host.name);
	if (!in || !eg || !prog_named(in, pin_prog_names[PIN_PROG_FROM_POD]) ||
	    !prog_named(eg, pin_prog_names[PIN_PROG_TO_POD])) {
		if (c->on_timeout == ON_TIMEOUT_ALLOW && !agent_listening(c->agent_socket)) {
			plog(LOG_WARN,
			     "UNSAFE: %s has no npbpf programs and no agent runs "
			     "(onAgentTimeout allow)",
			     pl.host.name);
			return;
		}
		fail(CNI_ERR_CHECK, NULL,
		     "the npbpf programs are not attached to %s (ingress %u, "
		     "egress %u)",
		     pl.host.name, in, eg);
	}
	if (!agent_listening(c->agent_socket)) {
		/* Pending or bound: either record keeps the pod isolated. */
		bool found = false;

		for (int m = 0; m < 2 && !found; m++) {
			fd = pinned_fd(c, m ? NPBPF_MAP_PENDING : NPBPF_MAP_ENDPOINT);
			if (fd >= 0) {
				found = !bpf_map_lookup_elem(fd, &key, &rec);
				close(fd);
			}
		}
		if (!found)
			fail(CNI_ERR_CHECK, NULL,
			     "%s (ifindex %u) has neither an endpoint nor a pending record",
			     pl.host.name, key);
		return;
	}
	fd = pinned_fd(c, NPBPF_MAP_ENDPOINT);
	if (fd < 0)
		fail(CNI_ERR_MAPS, strerror(-fd), "opening %s under %s", NPBPF_MAP_ENDPOINT,
		     c->pin_dir);
	err = bpf_map_lookup_elem(fd, &key, &rec) ? -errno : 0;
	close(fd);
	if (err)
		fail(CNI_ERR_CHECK, strerror(-err),
		     "the agent runs but %s (ifindex %u) has no endpoint record", pl.host.name,
		     key);
}

/* ---- main. */

static void cmd_version(void)
{
	puts("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\"]}");
}

int main(int argc, char **argv)
{
	static struct cni_conf c; /* static: reachable at exit() (fail) */
	struct cni_env e;

	log_set_context("npbpf-cni");
	log_set_level(LOG_INFO);
	loader_route_libbpf_log();
	if (argc > 1)
		return cni_install_main(argc, argv);
	read_env(&e);
	if (!e.command || !e.command[0])
		fail(CNI_ERR_ENV, NULL,
		     "CNI_COMMAND is not set: npbpf-cni is a CNI plugin, run by the container "
		     "runtime (or `npbpf-cni install|uninstall --help`)");
	cni_command = e.command;
	cni_container = e.container_id ? e.container_id : "";
	if (!strcmp(e.command, "VERSION")) {
		cmd_version();
		return 0;
	}
	read_conf(&c);
	if (!strcmp(e.command, "ADD"))
		cmd_add(&e, &c);
	else if (!strcmp(e.command, "DEL"))
		cmd_del(&e, &c);
	else if (!strcmp(e.command, "CHECK"))
		cmd_check(&e, &c);
	else
		fail(CNI_ERR_ENV, NULL, "CNI_COMMAND %.16s is not one of ADD, DEL, CHECK, VERSION",
		     e.command);
	return 0;
}
