/* SPDX-License-Identifier: Apache-2.0 */
#include "lab_ip.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab_probe.h"
#include "log.h"

/* Where Debian and others keep ip; PATH is tried last (sudo and meson test
 * may run us with a PATH without sbin). */
static const char *const ip_paths[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };

void lab_batch_init(struct lab_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void lab_batch_free(struct lab_batch *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* Makes room for need more bytes. 0 or -ENOMEM. */
static int batch_reserve(struct lab_batch *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *nb;

	if (b->len + need <= b->cap)
		return 0;
	while (cap < b->len + need)
		cap *= 2;
	nb = realloc(b->buf, cap);
	if (!nb)
		return -ENOMEM;
	b->buf = nb;
	b->cap = cap;
	return 0;
}

void lab_batch_add(struct lab_batch *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = -EINVAL;
		return;
	}
	/* The line, its newline and a terminating NUL. */
	b->err = batch_reserve(b, (size_t)n + 2);
	if (b->err)
		return;
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	b->buf[b->len++] = '\n';
	b->buf[b->len] = '\0';
	b->n_cmds++;
}

/* The batch as a file for ip's stdin: a memfd never blocks the writer the
 * way a pipe would with a batch larger than the pipe buffer. */
static int batch_memfd(const struct lab_batch *b)
{
	size_t off = 0;
	int fd = memfd_create("npbpf-lab-batch", MFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	while (off < b->len) {
		ssize_t n = write(fd, b->buf + off, b->len - off);

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

static void exec_ip(char **argv)
{
	for (size_t i = 0; i < sizeof(ip_paths) / sizeof(ip_paths[0]); i++) {
		argv[0] = (char *)ip_paths[i];
		execv(ip_paths[i], argv);
	}
	argv[0] = (char *)"ip";
	execvp("ip", argv);
}

int lab_batch_spawn(const struct lab_batch *b, const char *netns, bool force, pid_t *pid)
{
	char *argv[8];
	int argc = 1, fd, err;
	pid_t child;

	*pid = 0;
	if (b->err) {
		log_error("lab: building ip commands: %s", strerror(-b->err));
		return b->err;
	}
	if (!b->n_cmds)
		return 0;
	fd = batch_memfd(b);
	if (fd < 0) {
		log_error("lab: writing ip commands: %s", strerror(-fd));
		return fd;
	}
	if (netns) {
		argv[argc++] = (char *)"-n";
		argv[argc++] = (char *)netns;
	}
	if (force)
		argv[argc++] = (char *)"-force";
	argv[argc++] = (char *)"-batch";
	argv[argc++] = (char *)"-";
	argv[argc] = NULL;
	child = fork();
	if (child < 0) {
		err = -errno;
		close(fd);
		log_error("lab: starting ip: %s", strerror(-err));
		return err;
	}
	if (child == 0) {
		if (dup2(fd, STDIN_FILENO) < 0)
			_exit(127);
		exec_ip(argv);
		fprintf(stderr, "npbpf: error: lab: cannot run ip (iproute2): %s\n", strerror(errno));
		_exit(127);
	}
	close(fd);
	*pid = child;
	return 0;
}

int lab_batch_wait(pid_t pid, const char *what)
{
	int status;

	if (!pid)
		return 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_error("lab: waiting for ip (%s): %s", what, strerror(errno));
			return -errno;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		log_error("lab: ip failed (%s), exit status %d", what, WEXITSTATUS(status));
	else
		log_error("lab: ip killed by signal %d (%s)", WTERMSIG(status), what);
	return -EIO;
}

int lab_batch_run(const struct lab_batch *b, const char *netns, bool force, const char *what)
{
	pid_t pid;
	int err = lab_batch_spawn(b, netns, force, &pid);

	return err ? err : lab_batch_wait(pid, what);
}

static int netns_path(const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", LAB_NETNS_DIR, name);

	return n < 0 || (size_t)n >= len || strchr(name, '/') ? -EINVAL : 0;
}

static int open_netns(const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (netns_path(name, path, sizeof(path)))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int lab_netns_enter(const char *name, int *saved)
{
	int fd, cur, err;

	*saved = -1;
	cur = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (cur < 0) {
		err = -errno;
		log_error("lab: opening our network namespace: %s", strerror(-err));
		return err;
	}
	fd = open_netns(name);
	if (fd < 0) {
		log_error("lab: opening network namespace %s: %s", name, strerror(-fd));
		close(cur);
		return fd;
	}
	err = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	if (err) {
		log_error("lab: entering network namespace %s: %s", name, strerror(-err));
		close(cur);
		return err;
	}
	*saved = cur;
	return 0;
}

int lab_netns_leave(int saved)
{
	int err = 0;

	if (saved < 0)
		return 0;
	if (setns(saved, CLONE_NEWNET)) {
		err = -errno;
		log_error("lab: returning to our network namespace: %s", strerror(-err));
	}
	close(saved);
	return err;
}

int lab_netns_join(const char *name)
{
	int fd = open_netns(name), err;

	if (fd < 0)
		return fd;
	err = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return err;
}

bool lab_netns_exists(const char *name)
{
	char path[PATH_MAX];

	return !netns_path(name, path, sizeof(path)) && access(path, F_OK) == 0;
}

unsigned long lab_netns_inode(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (netns_path(name, path, sizeof(path)) || stat(path, &st))
		return 0;
	return (unsigned long)st.st_ino;
}

unsigned long lab_netns_inode_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat(path, &st))
		return 0;
	return (unsigned long)st.st_ino;
}

int lab_sysctl_set(const char *path, const char *value)
{
	char file[PATH_MAX];
	size_t len = strlen(value);
	int n, fd, err = 0;

	n = snprintf(file, sizeof(file), "/proc/sys/%s", path);
	if (n < 0 || (size_t)n >= sizeof(file))
		return -ENAMETOOLONG;
	for (char *p = file + strlen("/proc/sys/"); *p; p++) {
		if (*p == '.')
			*p = '/';
	}
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, len) != (ssize_t)len)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		log_error("lab: setting %s = %s: %s", path, value, strerror(-err));
	return err;
}

static bool link_running(int sock, const char *ifname)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	return !ioctl(sock, SIOCGIFFLAGS, &ifr) && (ifr.ifr_flags & IFF_RUNNING);
}

static bool ipv6_disabled(const char *ifname)
{
	char path[128], c = '1';
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* no IPv6 at all */
	if (read(fd, &c, 1) != 1)
		c = '1';
	close(fd);
	return c != '0';
}

/* /proc/self/net/if_inet6: "ADDR IFINDEX PLEN SCOPE FLAGS NAME", scope 0x20
 * is link-local, flag 0x40 tentative. */
static bool has_link_local(const char *ifname)
{
	char line[256], name[IF_NAMESIZE + 1];
	unsigned int idx, plen, scope, flags;
	bool found = false;
	FILE *f = fopen("/proc/self/net/if_inet6", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*32s %x %x %x %x %16s", &idx, &plen, &scope, &flags, name) == 5)
			found = !strcmp(name, ifname) && scope == 0x20 && !(flags & 0x40);
	}
	fclose(f);
	return found;
}

int lab_link_wait_ready(const char *ifname, int64_t deadline_ms)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;
	bool v6 = !ipv6_disabled(ifname);

	if (sock < 0) {
		err = -errno;
		log_error("lab: checking %s: %s", ifname, strerror(-err));
		return err;
	}
	while (!link_running(sock, ifname) || (v6 && !has_link_local(ifname))) {
		if (lab_now_ms() >= deadline_ms) {
			err = -ETIMEDOUT;
			log_error("lab: %s did not come up", ifname);
			break;
		}
		usleep(5000);
	}
	close(sock);
	return err;
}
