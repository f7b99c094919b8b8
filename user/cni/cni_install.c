/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `npbpf-cni install` and `npbpf-cni uninstall`: what the DaemonSet's init
 * container runs (the runtime image has neither python nor jq, so the JSON
 * edit is done here, with the plugin's own JSON reader and writer).
 *
 * install: copies this binary into the CNI bin directory (temporary file and
 * rename: a runtime executing the old one keeps its inode), then appends
 * {"type":"npbpf-cni"} to "plugins" of the configuration the runtime uses,
 * i.e. the first *.conf, *.conflist or *.json by name, as libcni picks it. A
 * single-plugin .conf becomes a .conflist of that plugin and ours (the .conf
 * is removed once the .conflist is in place). The file is written to a
 * temporary file in the same directory and renamed over the old one, so the
 * runtime never reads half a file. Nothing changes when the entry is there.
 *
 * uninstall: removes every {"type":"npbpf-cni"} entry from every conflist in
 * the directory; the binary stays unless --remove-binary is given (pods set
 * up with the plugin still get DEL from runtimes that kept the old config).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cni.h"
#include "cni_json.h"
#include "log.h"
#include "yaml_tree.h"

struct inst {
	const char *conf_dir, *bin_dir;
	bool uninstall, remove_binary;
	/* per file */
	const char *path;
	bool is_list, has_ours, changed;
	char *out; /* the new JSON, malloc()ed */
};

static bool has_ext(const char *name, const char *ext)
{
	size_t n = strlen(name), e = strlen(ext);

	return n > e && !strcmp(name + n - e, ext);
}

static bool is_conf_name(const char *name)
{
	return name[0] != '.' &&
	       (has_ext(name, ".conf") || has_ext(name, ".conflist") || has_ext(name, ".json"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The configuration files of dir, sorted by name (as libcni sorts them). */
static int list_confs(const char *dir, char ***out, size_t *n)
{
	struct dirent *d;
	size_t cap = 0;
	DIR *dp;

	*out = NULL;
	*n = 0;
	dp = opendir(dir);
	if (!dp)
		return -errno;
	while ((d = readdir(dp))) {
		if (!is_conf_name(d->d_name))
			continue;
		if (*n == cap) {
			char **p = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(**out));

			if (!p)
				break;
			*out = p;
		}
		(*out)[(*n)++] = strdup(d->d_name);
	}
	closedir(dp);
	qsort(*out, *n, sizeof(**out), cmp_str);
	return 0;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static bool is_ours(const struct yt_node *plugin)
{
	const char *t = cj_get_str(plugin, "type", NULL);

	return t && !strcmp(t, CNI_PLUGIN_TYPE);
}

static void write_ours(FILE *f)
{
	fputs("\n    {\n      \"type\": \"" CNI_PLUGIN_TYPE "\"\n    }", f);
}

/* Writes the conflist root with plugins edited (ours appended, or ours
 * removed). */
static void write_list(FILE *f, const struct yt_node *root, struct inst *in)
{
	bool first = true;

	fputs("{", f);
	for (uint32_t i = 0; i + 1 < root->n; i += 2) {
		const struct yt_node *k = root->items[i], *v = root->items[i + 1];

		fputs(first ? "\n  " : ",\n  ", f);
		first = false;
		out_json_string_n(f, k->str, k->len);
		fputs(": ", f);
		if (strcmp(k->str, "plugins")) {
			cj_node(f, v, NULL, -1);
			continue;
		}
		fputc('[', f);
		bool pfirst = true;

		for (uint32_t j = 0; j < v->n; j++) {
			if (in->uninstall && is_ours(v->items[j]))
				continue;
			fputs(pfirst ? "\n    " : ",\n    ", f);
			pfirst = false;
			cj_node(f, v->items[j], NULL, -1);
		}
		if (!in->uninstall) {
			if (!pfirst)
				fputc(',', f);
			write_ours(f);
		}
		fputs("\n  ]", f);
	}
	fputs("\n}\n", f);
}

static int conf_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct inst *in = arg;
	const struct yt_node *plugins = yt_map_get(root, "plugins");
	size_t len = 0;
	FILE *f;

	if (root->kind != YT_MAP) {
		log_error("%s: not a JSON object", file);
		return -EINVAL;
	}
	in->is_list = plugins && plugins->kind == YT_SEQ;
	in->has_ours = false;
	if (in->is_list) {
		for (uint32_t j = 0; j < plugins->n; j++)
			in->has_ours |= is_ours(plugins->items[j]);
	} else {
		in->has_ours = is_ours(root);
	}
	in->changed = in->uninstall ? in->is_list && in->has_ours : !in->has_ours;
	if (!in->changed)
		return 0;
	f = open_memstream(&in->out, &len);
	if (!f)
		return -ENOMEM;
	if (in->is_list) {
		write_list(f, root, in);
	} else {
		/* A single plugin's .conf: the list of it and ours. */
		const char *v = cj_get_str(root, "cniVersion", NULL);
		const char *name = cj_get_str(root, "name", NULL);

		fputs("{\n  \"cniVersion\": ", f);
		cj_str(f, v ? v : "1.0.0");
		fputs(",\n  \"name\": ", f);
		cj_str(f, name ? name : "cni");
		fputs(",\n  \"plugins\": [\n    ", f);
		cj_node(f, root, NULL, -1);
		fputc(',', f);
		write_ours(f);
		fputs("\n  ]\n}\n", f);
	}
	fclose(f);
	return 0;
}

/* Writes data to dir/name through a temporary file and a rename. */
static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
			mode_t mode)
{
	char tmp[4096], dst[4096];
	ssize_t w;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s/.npbpf-cni.%d.tmp", dir, (int)getpid()) >=
		    (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len; off += (size_t)w) {
		w = write(fd, (const char *)data + off, len - off);
		if (w < 0) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			err = -errno;
			break;
		}
	}
	if (!err && (fchmod(fd, mode) || fsync(fd)))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, dst))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int read_all(const char *path, char **buf, size_t *len)
{
	size_t cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (*len == cap) {
			char *p = realloc(*buf, cap = cap ? cap * 2 : 1 << 20);

			if (!p) {
				close(fd);
				return -ENOMEM;
			}
			*buf = p;
		}
		n = read(fd, *buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : 0;

			close(fd);
			return err;
		}
		*len += (size_t)n;
	}
}

static int install_binary(const struct inst *in)
{
	char *buf;
	size_t len;
	int err;

	err = read_all("/proc/self/exe", &buf, &len);
	if (!err)
		err = write_atomic(in->bin_dir, CNI_PLUGIN_TYPE, buf, len, 0755);
	free(buf);
	if (err)
		log_error("installing %s/%s: %s", in->bin_dir, CNI_PLUGIN_TYPE, strerror(-err));
	else
		log_info("installed %s/%s", in->bin_dir, CNI_PLUGIN_TYPE);
	return err;
}

/* Edits one file (name in conf_dir). */
static int edit_file(struct inst *in, const char *name)
{
	char path[4096], newname[4096];
	int err;

	snprintf(path, sizeof(path), "%s/%s", in->conf_dir, name);
	in->path = path;
	in->out = NULL;
	err = yt_parse_file(path, conf_doc, NULL, in);
	if (err) {
		log_error("%s: cannot be read as a CNI configuration", path);
		return err;
	}
	if (!in->changed) {
		if (!in->uninstall)
			log_info("%s already has %s", path, CNI_PLUGIN_TYPE);
		return 0;
	}
	if (in->is_list || in->uninstall) {
		err = write_atomic(in->conf_dir, name, in->out, strlen(in->out), 0644);
	} else {
		size_t n = strlen(name);

		n -= 5; /* ".conf" or ".json" */
		snprintf(newname, sizeof(newname), "%.*s.conflist", (int)n, name);
		err = write_atomic(in->conf_dir, newname, in->out, strlen(in->out), 0644);
		if (!err && unlink(path))
			err = -errno;
		if (!err)
			log_info("%s converted to %s/%s", path, in->conf_dir, newname);
	}
	free(in->out);
	in->out = NULL;
	if (err)
		log_error("writing %s: %s", path, strerror(-err));
	else
		log_info("%s: %s %s", path, in->uninstall ? "removed" : "added", CNI_PLUGIN_TYPE);
	return err;
}

static void usage(FILE *f)
{
	fputs("usage: npbpf-cni install [--conf-dir DIR] [--bin-dir DIR] [--wait SECONDS]\n"
	      "       npbpf-cni uninstall [--conf-dir DIR] [--bin-dir DIR] [--remove-binary]\n"
	      "\n"
	      "install copies this binary to BIN-DIR/npbpf-cni and appends {\"type\": "
	      "\"npbpf-cni\"}\n"
	      "to the plugins of the CNI configuration the runtime uses (the first *.conf,\n"
	      "*.conflist or *.json of CONF-DIR by name; a .conf becomes a .conflist), waiting\n"
	      "up to SECONDS for one to appear (default 0). uninstall removes the entry from\n"
	      "every conflist (and the binary with --remove-binary). Both are idempotent.\n"
	      "Defaults: --conf-dir /etc/cni/net.d --bin-dir /opt/cni/bin\n",
	      f);
}

int cni_install_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"conf-dir", required_argument, NULL, 'c'},
		{"bin-dir", required_argument, NULL, 'b'},
		{"wait", required_argument, NULL, 'w'},
		{"remove-binary", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct inst in = {.conf_dir = "/etc/cni/net.d", .bin_dir = "/opt/cni/bin"};
	long wait_s = 0;
	char **names = NULL, *end;
	size_t n = 0;
	int opt, err = 0;

	if (!strcmp(argv[1], "install")) {
		log_set_context("npbpf-cni install");
	} else if (!strcmp(argv[1], "uninstall")) {
		in.uninstall = true;
		log_set_context("npbpf-cni uninstall");
	} else if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
		   !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	} else {
		fprintf(stderr, "npbpf-cni: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			in.conf_dir = optarg;
			break;
		case 'b':
			in.bin_dir = optarg;
			break;
		case 'w':
			errno = 0;
			wait_s = strtol(optarg, &end, 10);
			if (errno || *end || wait_s < 0 || wait_s > 86400) {
				log_error("--wait %s: not a number of seconds", optarg);
				return 2;
			}
			break;
		case 'r':
			in.remove_binary = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (in.uninstall) {
		err = list_confs(in.conf_dir, &names, &n);
		if (err && err != -ENOENT) {
			log_error("%s: %s", in.conf_dir, strerror(-err));
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			if (edit_file(&in, names[i]))
				err = 1;
		}
		free_list(names, n);
		if (in.remove_binary) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", in.bin_dir, CNI_PLUGIN_TYPE);
			if (unlink(path) && errno != ENOENT) {
				log_error("removing %s: %s", path, strerror(errno));
				err = 1;
			}
		}
		return err ? 1 : 0;
	}
	/* The binary before the entry: a conflist naming a plugin that is not
	 * there fails every pod's ADD. */
	if (install_binary(&in))
		return 1;
	for (time_t until = time(NULL) + wait_s;;) {
		err = list_confs(in.conf_dir, &names, &n);
		if (!err && n)
			break;
		free_list(names, n);
		if (time(NULL) >= until) {
			log_error("no CNI configuration (*.conf, *.conflist, *.json) in %s%s",
				  in.conf_dir,
				  wait_s ? " in time"
					 : ": the main plugin (flannel) has not written "
					   "one yet; try --wait");
			return 1;
		}
		sleep(1);
	}
	err = edit_file(&in, names[0]);
	free_list(names, n);
	return err ? 1 : 0;
}
