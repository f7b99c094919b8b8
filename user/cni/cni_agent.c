/* SPDX-License-Identifier: Apache-2.0 */
#include "cni_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cni_json.h"
#include "yaml_tree.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A unix stream connect completes or fails at once (EAGAIN when the
	 * backlog is full: treated as an agent that does not answer). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = errno == EAGAIN ? -ETIMEDOUT : -errno;

		close(fd);
		return err;
	}
	return fd;
}

bool agent_listening(const char *path)
{
	int fd = connect_to(path);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int reply_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct agent_reply *r = arg;
	const struct yt_node *n;
	const char *s;
	int64_t v;

	if (root->kind != YT_MAP)
		return -EPROTO;
	n = yt_map_get(root, "ok");
	if (!n || yt_get_bool(n, &r->ok))
		return -EPROTO;
	s = cj_get_str(root, "state", NULL);
	snprintf(r->state, sizeof(r->state), "%s", s ? s : "");
	s = cj_get_str(root, "why", NULL);
	snprintf(r->why, sizeof(r->why), "%s", s ? s : "");
	n = yt_map_get(root, "identity");
	if (n && !yt_get_int(n, &v) && v >= 0 && v <= UINT32_MAX)
		r->identity = (uint32_t)v;
	return 0;
}

int agent_call(const char *path, const char *line, int timeout_ms, struct agent_reply *reply)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = strlen(line), off = 0, got = 0;
	char buf[4096];
	int fd, err = 0;

	memset(reply, 0, sizeof(*reply));
	fd = connect_to(path);
	if (fd < 0)
		return fd;
	while (off < len || !memchr(buf, '\n', got)) {
		int64_t left = deadline - now_ms();
		struct pollfd p = {.fd = fd, .events = off < len ? POLLOUT : POLLIN};
		ssize_t n;

		if (left <= 0) {
			err = -ETIMEDOUT;
			break;
		}
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			continue;
		if (off < len) {
			n = send(fd, line + off, len - off, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				err = -errno;
				break;
			}
			if (n > 0)
				off += (size_t)n;
			continue;
		}
		if (got + 1 >= sizeof(buf)) {
			err = -EPROTO;
			break;
		}
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0) {
			err = -ECONNRESET;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (err)
		return err;
	got = (size_t)((char *)memchr(buf, '\n', got) - buf);
	buf[got] = '\0';
	err = yt_parse_buffer("agent reply", buf, got, reply_doc, NULL, reply);
	return err ? -EPROTO : 0;
}
