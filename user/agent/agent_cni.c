/* SPDX-License-Identifier: Apache-2.0 */
#include "agent_cni.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vec.h"
#include "yaml_tree.h"

#define CNI_MAX_WAITERS 256
#define CNI_MAX_TIMEOUT_MS 60000

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int agent_cni_open(struct agent_cni *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd, err;

	memset(c, 0, sizeof(*c));
	c->listen_fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("--cni-socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST) {
			err = -errno;
			log_error("--cni-socket %s: %s", dir, strerror(errno));
			return err;
		}
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket left by an agent that died; only root writes there. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) || listen(fd, 64)) {
		err = -errno;
		log_error("--cni-socket %s: %s", path, strerror(errno));
		close(fd);
		return err;
	}
	c->listen_fd = fd;
	return 0;
}

static void waiter_free(struct cni_waiter *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->ns);
	free(w->name);
	w->fd = -1;
}

static void hint_free(struct cni_hint *h)
{
	free(h->ns);
	free(h->name);
}

void agent_cni_close(struct agent_cni *c)
{
	for (size_t i = 0; i < c->n_w; i++)
		waiter_free(&c->w[i]);
	free(c->w);
	for (size_t i = 0; i < c->n_hints; i++)
		hint_free(&c->hints[i]);
	free(c->hints);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	memset(c, 0, sizeof(*c));
	c->listen_fd = -1;
}

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* Nonblocking; a plugin that stopped reading loses its answer. */
	if (write(fd, buf, (size_t)n) < 0)
		log_debug("cni: reply: %s", strerror(errno));
}

static const char *str_of(const struct yt_node *map, const char *key)
{
	const struct yt_node *n = yt_map_get(map, key);

	return n && n->kind == YT_SCALAR && !yt_is_null(n) ? n->str : NULL;
}

static struct cni_hint *hint_of(struct agent_cni *c, uint32_t ifindex)
{
	for (size_t i = 0; i < c->n_hints; i++)
		if (c->hints[i].ifindex == ifindex)
			return &c->hints[i];
	return NULL;
}

struct parsed {
	struct agent_cni *c;
	struct cni_waiter *w;
	struct cni_news *news;
	int err;
};

/* An add: the hint, and the waiter waits for the bind. */
static int on_request(const struct yt_node *root, const char *file, void *arg)
{
	struct parsed *p = arg;
	struct cni_waiter *w = p->w;
	const char *op = str_of(root, "op"), *ns = str_of(root, "namespace"),
		   *name = str_of(root, "pod");
	const struct yt_node *addrs = yt_map_get(root, "addrs");
	int64_t ifindex = 0, timeout = 2000;
	(void)file;
	if (!op || yt_get_int(yt_map_get(root, "ifindex"), &ifindex) || ifindex <= 0 ||
	    ifindex > UINT32_MAX) {
		reply(w->fd, "{\"ok\":false,\"state\":\"error\",\"why\":\"bad request\"}");
		return -EINVAL;
	}
	if (!strcmp(op, "del")) {
		agent_cni_forget(p->c, (uint32_t)ifindex);
		reply(w->fd, "{\"ok\":true}");
		return -EINVAL; /* done with this connection */
	}
	if (strcmp(op, "add") || !ns || !name) {
		reply(w->fd, "{\"ok\":false,\"state\":\"error\",\"why\":\"bad request\"}");
		return -EINVAL;
	}
	yt_get_int(yt_map_get(root, "timeoutMs"), &timeout);
	if (timeout < 0 || timeout > CNI_MAX_TIMEOUT_MS)
		timeout = CNI_MAX_TIMEOUT_MS;
	{
		struct np_addr list[ND_MAX_ADDRS];
		size_t n = 0;
		int err;

		for (uint32_t i = 0; addrs && addrs->kind == YT_SEQ && i < addrs->n; i++) {
			if (n < ND_MAX_ADDRS && addrs->items[i]->kind == YT_SCALAR &&
			    !addr_parse(addrs->items[i]->str, false, &list[n]))
				n++;
		}
		err = agent_cni_hint(p->c, ns, name, (uint32_t)ifindex, list, n);
		if (err)
			return err;
	}
	w->ns = strdup(ns);
	w->name = strdup(name);
	if (!w->ns || !w->name)
		return -ENOMEM;
	w->ifindex = (uint32_t)ifindex;
	w->deadline = mono_now() + (double)timeout / 1e3;
	w->have_request = true;
	p->news->hints_changed = true;
	p->news->new_ifindex = (uint32_t)ifindex;
	log_info("cni: pod %s/%s announced on ifindex %u", ns, name, (unsigned)ifindex);
	return 0;
}

/* Reads a waiter's line; false when the connection is finished. */
static bool read_waiter(struct agent_cni *c, struct cni_waiter *w, struct cni_news *news)
{
	char *nl;
	ssize_t n;

	if (w->have_request) {
		char b;

		/* Nothing more is expected: EOF or junk ends it. */
		n = read(w->fd, &b, 1);
		return n < 0 && (errno == EAGAIN || errno == EINTR);
	}
	n = read(w->fd, w->buf + w->len, sizeof(w->buf) - 1 - w->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	nl = memchr(w->buf, '\n', w->len);
	if (!nl) {
		if (w->len >= sizeof(w->buf) - 1) {
			reply(w->fd, "{\"ok\":false,\"state\":\"error\",\"why\":\"request too long\"}");
			return false;
		}
		return true;
	}
	{
		struct parsed p = { c, w, news, 0 };

		if (yt_parse_buffer("cni request", w->buf, (size_t)(nl - w->buf), on_request, NULL,
				    &p))
			return false;
	}
	return w->have_request;
}

void agent_cni_io(struct agent_cni *c, struct cni_news *news)
{
	memset(news, 0, sizeof(*news));
	if (c->listen_fd < 0)
		return;
	for (;;) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct cni_waiter *w;

		if (fd < 0)
			break;
		if (c->n_w >= CNI_MAX_WAITERS) {
			close(fd);
			continue;
		}
		w = VEC_PUSH(c->w, c->n_w, c->cap_w);
		if (!w) {
			close(fd);
			break;
		}
		w->fd = fd;
	}
	for (size_t i = 0; i < c->n_w;) {
		if (read_waiter(c, &c->w[i], news)) {
			i++;
			continue;
		}
		waiter_free(&c->w[i]);
		c->w[i] = c->w[--c->n_w];
	}
}

size_t agent_cni_fds(const struct agent_cni *c, int *fds, size_t max)
{
	size_t n = 0;

	if (c->listen_fd >= 0 && n < max)
		fds[n++] = c->listen_fd;
	for (size_t i = 0; i < c->n_w && n < max; i++)
		fds[n++] = c->w[i].fd;
	return n;
}

void agent_cni_answer(struct agent_cni *c, double now,
		      uint32_t (*identity_of)(void *arg, uint32_t ifindex, const char *ns,
					      const char *name),
		      void *arg)
{
	for (size_t i = 0; i < c->n_w;) {
		struct cni_waiter *w = &c->w[i];
		uint32_t id = w->have_request ? identity_of(arg, w->ifindex, w->ns, w->name) : 0;

		if (id) {
			reply(w->fd, "{\"ok\":true,\"state\":\"bound\",\"identity\":%u}", id);
		} else if (w->have_request && now >= w->deadline) {
			reply(w->fd,
			      "{\"ok\":false,\"state\":\"pending\",\"why\":\"pod %s/%s is not bound "
			      "yet: the agent has not seen it in the API server\"}",
			      w->ns, w->name);
			log_info("cni: pod %s/%s not bound within its timeout: isolated until it is",
				 w->ns, w->name);
		} else {
			i++;
			continue;
		}
		waiter_free(w);
		c->w[i] = c->w[--c->n_w];
	}
}

double agent_cni_next_deadline(const struct agent_cni *c)
{
	double next = 0;

	for (size_t i = 0; i < c->n_w; i++)
		if (c->w[i].have_request && (!next || c->w[i].deadline < next))
			next = c->w[i].deadline;
	return next;
}

int agent_cni_hint(struct agent_cni *c, const char *ns, const char *name, uint32_t ifindex,
		   const struct np_addr *addrs, size_t n_addrs)
{
	struct cni_hint *h = hint_of(c, ifindex);

	if (!h) {
		h = VEC_PUSH(c->hints, c->n_hints, c->cap_hints);
		if (!h)
			return -ENOMEM;
	} else {
		hint_free(h);
		memset(h, 0, sizeof(*h));
	}
	h->ifindex = ifindex;
	h->ns = strdup(ns);
	h->name = strdup(name);
	if (!h->ns || !h->name)
		return -ENOMEM;
	h->n_addrs = n_addrs < ND_MAX_ADDRS ? n_addrs : ND_MAX_ADDRS;
	memcpy(h->addrs, addrs, h->n_addrs * sizeof(*addrs));
	return 0;
}

void agent_cni_forget(struct agent_cni *c, uint32_t ifindex)
{
	for (size_t i = 0; i < c->n_hints; i++) {
		if (c->hints[i].ifindex != ifindex)
			continue;
		hint_free(&c->hints[i]);
		c->hints[i] = c->hints[--c->n_hints];
		return;
	}
}
