/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests into the model: files, directories, stdin, multi-document
 * streams and List objects, each object read by the decoders
 * (manifest_decode.h). Each object is built in a scratch cluster (m->trash)
 * and moved into the real one only when it validated cleanly, so an object
 * that failed halfway, or one replaced by a later duplicate, is freed with
 * the scratch cluster and never needs a partial-cleanup path of its own.
 *
 * Input errors are reported through the field reader (manifest_field.h),
 * counted, and reading goes on, so one run shows every error.
 */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hmap.h"
#include "log.h"
#include "manifest_decode.h"
#include "manifest_rules.h"
#include "vec.h"
#include "yaml_tree.h"

struct mf_skipped {
	char *kind;
	unsigned long n;
};

struct mf_ctx {
	struct mf_reader r;
	struct np_cluster *c;
	struct np_cluster trash;
	/* (kind, namespace, name) -> index in its cluster array, to let a later
	 * object replace an earlier one */
	struct hmap index;
	bool recursive; /* manifest_opts.recursive */
	/* objects of kinds npbpf does not read, per kind, for one line at -v */
	struct mf_skipped *skipped;
	size_t n_skipped, cap_skipped;
};

/* ---- duplicates: the index and moving objects out of the scratch cluster ---- */

static void mf_key(const struct np_cluster *c, enum mf_kind kind, size_t i, const char **ns,
		   const char **name)
{
	switch (kind) {
	case MF_NAMESPACE:
		*ns = "";
		*name = c->namespaces[i].name;
		break;
	case MF_POD:
		*ns = c->pods[i].ns;
		*name = c->pods[i].name;
		break;
	default:
		*ns = c->policies[i].ns;
		*name = c->policies[i].name;
		break;
	}
}

/* The index key of object i of kind in c: kind, namespace, NUL, name. A
 * valid object's namespace and name fit; a longer key is cut, which could
 * only make two invalid names meet, and those are never committed. */
static size_t mf_index_key(const struct np_cluster *c, enum mf_kind kind, size_t i, char *buf,
			   size_t size)
{
	const char *ns, *name;
	int n;

	mf_key(c, kind, i, &ns, &name);
	n = snprintf(buf, size, "%c%s%c%s", (char)('0' + kind), ns, '\0', name);
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static int mf_index_add(struct mf_ctx *m, enum mf_kind kind, size_t idx)
{
	char key[1024];
	size_t len = mf_index_key(m->c, kind, idx, key, sizeof(key));

	return hmap_insert(&m->index, key, len, (uint32_t)idx, NULL) < 0 ? -ENOMEM : 0;
}

/* The cluster array of a kind, to move objects generically. */
struct mf_array {
	void **base;
	size_t *n, *cap, elem;
};

static struct mf_array mf_array_of(struct np_cluster *c, enum mf_kind kind)
{
	switch (kind) {
	case MF_NAMESPACE:
		return (struct mf_array){(void **)&c->namespaces, &c->n_namespaces,
					 &c->cap_namespaces, sizeof(*c->namespaces)};
	case MF_POD:
		return (struct mf_array){(void **)&c->pods, &c->n_pods, &c->cap_pods,
					 sizeof(*c->pods)};
	default:
		return (struct mf_array){(void **)&c->policies, &c->n_policies, &c->cap_policies,
					 sizeof(*c->policies)};
	}
}

static const struct np_loc *mf_loc_of(struct np_cluster *c, enum mf_kind kind, size_t i)
{
	switch (kind) {
	case MF_NAMESPACE:
		return &c->namespaces[i].loc;
	case MF_POD:
		return &c->pods[i].loc;
	default:
		return &c->policies[i].loc;
	}
}

/* Says which object replaced which: two objects of one name in an input
 * are often two versions of a file, and only one of them is enforced. */
static void mf_warn_replaced(struct mf_ctx *m, enum mf_kind kind, size_t idx)
{
	static const char *const names[] = {"Namespace", "Pod", "NetworkPolicy"};
	/* The replaced object now sits last in the scratch cluster. */
	const struct np_loc *now = mf_loc_of(m->c, kind, idx),
			    *was = mf_loc_of(&m->trash, kind, *mf_array_of(&m->trash, kind).n - 1);
	const char *ns, *name;

	mf_key(m->c, kind, idx, &ns, &name);
	log_warn("%s:%d:%d: %s %s%s%s replaces the one at %s:%d:%d (the later wins, as with "
		 "kubectl apply)",
		 now->file, now->line, now->col, names[kind], ns, *ns ? "/" : "", name, was->file,
		 was->line, was->col);
}

/* Moves the object just built (the last of its kind in the scratch cluster)
 * into the cluster, unless an error was reported while reading it. A
 * duplicate swaps places with the object it replaces, which the scratch
 * cluster then frees. */
static int mf_commit(struct mf_ctx *m, enum mf_kind kind, unsigned long errors_before)
{
	struct mf_array src = mf_array_of(&m->trash, kind), dst = mf_array_of(m->c, kind);
	char *obj = (char *)*src.base + (*src.n - 1) * src.elem, *slot, key[1024];
	size_t len;
	union {
		struct np_namespace ns;
		struct np_pod pod;
		struct np_policy policy;
	} tmp;
	uint32_t idx;

	if (m->r.n_errors != errors_before)
		return 0;
	len = mf_index_key(&m->trash, kind, *src.n - 1, key, sizeof(key));
	if (hmap_get(&m->index, key, len, &idx)) {
		slot = (char *)*dst.base + idx * dst.elem;
		memcpy(&tmp, slot, dst.elem);
		memcpy(slot, obj, dst.elem);
		memcpy(obj, &tmp, dst.elem);
		mf_warn_replaced(m, kind, idx);
		return 0;
	}
	slot = vec_push(dst.base, dst.elem, dst.n, dst.cap);
	if (!slot)
		return -ENOMEM;
	memcpy(slot, obj, dst.elem);
	(*src.n)--;
	return mf_index_add(m, kind, *dst.n - 1);
}

/* ---- documents and lists ---- */

/* List kinds and the kind of their items when an item does not say (the
 * API's own lists leave kind and apiVersion out of their items). */
static const char *const mf_lists[][2] = {
	{"List", NULL},
	{"NamespaceList", "Namespace"},
	{"PodList", "Pod"},
	{"NetworkPolicyList", "NetworkPolicy"},
};

static bool mf_list_kind(const char *kind, const char **list, const char **item_kind);
static int mf_object(struct mf_ctx *m, const struct yt_node *obj, const char *def_kind,
		     const char *def_api);

static int mf_list(struct mf_ctx *m, const struct yt_node *list, const char *kind,
		   const char *item_kind, const char *api)
{
	const struct yt_node *items = mf_get(list, "items");
	size_t i, old;
	int err = 0;

	m->r.kind = kind;
	if (!items)
		return 0;
	old = mf_enter(&m->r, "items");
	if (!mf_is(&m->r, items, YT_SEQ)) {
		mf_leave(&m->r, old);
		return 0;
	}
	mf_leave(&m->r, old);
	for (i = 0; !err && i < items->n; i++) {
		/* Only a typed list's apiVersion speaks for its items. */
		err = mf_object(m, items->items[i], item_kind, item_kind ? api : NULL);
		m->r.kind = kind;
		m->r.ns = m->r.name = NULL;
	}
	return err;
}

/* The item kind of a List kind; false when kind is not a List we read. */
static bool mf_list_kind(const char *kind, const char **list, const char **item_kind)
{
	size_t i;

	for (i = 0; i < sizeof(mf_lists) / sizeof(mf_lists[0]); i++) {
		if (!strcmp(kind, mf_lists[i][0])) {
			*list = mf_lists[i][0];
			*item_kind = mf_lists[i][1];
			return true;
		}
	}
	return false;
}

/* Decodes obj as kind into the scratch cluster, then commits it. */
static int mf_read(struct mf_ctx *m, const struct yt_node *obj, enum mf_kind kind)
{
	struct mf_array a = mf_array_of(&m->trash, kind);
	unsigned long errors = m->r.n_errors;
	void *slot = vec_push(a.base, a.elem, a.n, a.cap);
	int err;

	if (!slot)
		return -ENOMEM;
	err = mf_decode(&m->r, obj, kind, slot);
	return err ? err : mf_commit(m, kind, errors);
}

/* Counts an object of a kind npbpf does not read (Deployments, Services,
 * ...): normal in a dump, so only a count per kind, shown at -v. */
static int mf_skip(struct mf_ctx *m, const char *kind)
{
	struct mf_skipped *s;
	size_t i;

	for (i = 0; i < m->n_skipped; i++) {
		if (!strcmp(m->skipped[i].kind, kind)) {
			m->skipped[i].n++;
			return 0;
		}
	}
	s = VEC_PUSH(m->skipped, m->n_skipped, m->cap_skipped);
	if (!s)
		return -ENOMEM;
	s->n = 1;
	s->kind = strdup(kind);
	if (!s->kind) {
		m->n_skipped--;
		return -ENOMEM;
	}
	return 0;
}

static int mf_object(struct mf_ctx *m, const struct yt_node *obj, const char *def_kind,
		     const char *def_api)
{
	const char *kind, *api, *list, *item_kind;
	enum mf_kind k;

	if (!mf_object_kind(&m->r, obj, def_kind, def_api, &kind, &api))
		return 0;
	if (mf_list_kind(kind, &list, &item_kind))
		return mf_list(m, obj, list, item_kind, api);
	switch (mf_kind_of(&m->r, obj, kind, api, &k)) {
	case MF_KIND_READ:
		return mf_read(m, obj, k);
	case MF_KIND_OTHER:
		return mf_skip(m, kind);
	default:
		return 0;
	}
}

static bool mf_is_plain_str(const struct yt_node *n)
{
	return n && n->kind == YT_SCALAR && yt_scalar_type(n) == YT_STR && strlen(n->str) == n->len;
}

/* Reads a List item while the List is still being parsed (see yt_item_fn).
 * When the kind is not known yet, as in kubectl's output where it follows
 * the items, only an item of a core v1 List that names its own kind can be
 * read now: every v1 List kind reads such an item the same way. Anything
 * else is kept for mf_on_doc, which sees the whole document. */
static int mf_on_item(const struct yt_node *item, const struct yt_node *head, const char *file,
		      void *arg)
{
	const struct yt_node *kind = yt_map_get(head, "kind"),
			     *api = yt_map_get(head, "apiVersion");
	const char *list = "List", *item_kind = NULL;
	struct mf_ctx *m = arg;
	int err;

	if (!kind && (!mf_is_plain_str(api) || strcmp(api->str, "v1") ||
		      !mf_is_plain_str(yt_map_get(item, "kind"))))
		return YT_KEEP;
	if (kind && (!mf_is_plain_str(kind) || !mf_list_kind(kind->str, &list, &item_kind)))
		return YT_KEEP;
	if (item_kind && api && !mf_is_plain_str(api))
		return YT_KEEP;
	err = mf_object(m, item, item_kind, item_kind && api ? api->str : NULL);
	m->r.kind = m->r.ns = m->r.name = NULL;
	if (err == -ENOMEM)
		log_error("%s: out of memory", file);
	return err;
}

static int mf_on_doc(const struct yt_node *root, const char *file, void *arg)
{
	struct mf_ctx *m = arg;
	int err;

	if (yt_is_null(root))
		return 0;
	err = mf_object(m, root, NULL, NULL);
	m->r.kind = m->r.ns = m->r.name = NULL;
	if (err == -ENOMEM)
		log_error("%s: out of memory", file);
	return err;
}

/* ---- files and directories ---- */

static int mf_add_file(struct mf_ctx *m, const char *name)
{
	char *copy = strdup(name), **slot;

	slot = copy ? VEC_PUSH(m->c->files, m->c->n_files, m->c->cap_files) : NULL;
	if (!slot) {
		free(copy);
		return -ENOMEM;
	}
	*slot = copy;
	m->r.file = copy;
	return 0;
}

/* Syntax and size errors of one input are input errors: already reported,
 * counted, and the next input is read. */
static int mf_parsed(struct mf_ctx *m, int err)
{
	if (err != -EINVAL && err != -EFBIG)
		return err;
	m->r.n_errors++;
	return 0;
}

static int mf_load_file(struct mf_ctx *m, const char *path)
{
	int err = mf_add_file(m, strcmp(path, "-") ? path : "<stdin>");

	return err ? err : mf_parsed(m, yt_parse_file(path, mf_on_doc, mf_on_item, m));
}

static bool mf_is_manifest_name(const char *name)
{
	static const char *const exts[] = {".yaml", ".yml", ".json"};
	size_t i, len = strlen(name);

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t el = strlen(exts[i]);

		if (len > el && !strcmp(name + len - el, exts[i]))
			return true;
	}
	return false;
}

/* Every entry but . and ..: subdirectories are read with -R, or mentioned. */
static int mf_dir_filter(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

/* Byte order, not the locale's collation: the same directory loads in the
 * same order everywhere. */
static int mf_dir_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int mf_load_dir(struct mf_ctx *m, const char *dir);

/* One entry of a directory. A subdirectory is read only with -R, and a
 * symbolic link to a directory never (as kubectl's walk): a link loop
 * cannot recurse forever. */
static int mf_load_dir_entry(struct mf_ctx *m, const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	struct stat st, lst;
	char *path;
	int err = 0;

	if (asprintf(&path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name) < 0)
		return -ENOMEM;
	if (stat(path, &st) || lstat(path, &lst))
		log_debug("%s: skipping, %s", path, strerror(errno));
	else if (S_ISDIR(st.st_mode) && S_ISLNK(lst.st_mode))
		log_info("%s: skipping, a symbolic link to a directory", path);
	else if (S_ISDIR(st.st_mode) && !m->recursive)
		log_info("%s: skipping subdirectory (-R reads subdirectories)", path);
	else if (S_ISDIR(st.st_mode))
		err = mf_load_dir(m, path);
	else if (!mf_is_manifest_name(name))
		log_debug("%s: skipping, not .yaml, .yml or .json", path);
	else if (!S_ISREG(st.st_mode))
		log_debug("%s: skipping, not a regular file", path);
	else
		err = mf_load_file(m, path);
	free(path);
	return err;
}

static int mf_load_dir(struct mf_ctx *m, const char *dir)
{
	struct dirent **list = NULL;
	int i, n, err = 0;

	n = scandir(dir, &list, mf_dir_filter, mf_dir_cmp);
	if (n < 0) {
		err = -errno;
		log_error("%s: %s", dir, strerror(errno));
		return err;
	}
	for (i = 0; i < n; i++) {
		if (!err)
			err = mf_load_dir_entry(m, dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return err;
}

static int mf_load_path(struct mf_ctx *m, const char *path)
{
	struct stat st;

	if (strcmp(path, "-") && !stat(path, &st) && S_ISDIR(st.st_mode))
		return mf_load_dir(m, path);
	return mf_load_file(m, path);
}

/* ---- entry points ---- */

static int mf_begin(struct mf_ctx *m, struct np_cluster *c)
{
	size_t i;
	int err = 0;

	memset(m, 0, sizeof(*m));
	m->c = c;
	cluster_init(&m->trash);
	hmap_init(&m->index);
	/* Objects already in c can be replaced too. */
	for (i = 0; !err && i < c->n_namespaces; i++)
		err = mf_index_add(m, MF_NAMESPACE, i);
	for (i = 0; !err && i < c->n_pods; i++)
		err = mf_index_add(m, MF_POD, i);
	for (i = 0; !err && i < c->n_policies; i++)
		err = mf_index_add(m, MF_POLICY, i);
	return err;
}

/* One line for every kind skipped: "skipped 12 objects npbpf does not
 * read: 3 Deployment, 9 Service". */
static void mf_log_skipped(struct mf_ctx *m)
{
	char line[512], kind[MF_QUOTE_MAX];
	unsigned long total = 0;
	size_t i, len = 0;

	for (i = 0; i < m->n_skipped; i++) {
		int n = snprintf(line + len, sizeof(line) - len, "%s%lu %s", i ? ", " : "",
				 m->skipped[i].n,
				 yt_printable(m->skipped[i].kind, strlen(m->skipped[i].kind), kind,
					      sizeof(kind)));

		total += m->skipped[i].n;
		if (n > 0 && (size_t)n < sizeof(line) - len)
			len += (size_t)n;
		free(m->skipped[i].kind);
	}
	if (total)
		log_info("skipped %lu object%s of kinds npbpf does not read: %s", total,
			 total == 1 ? "" : "s", line);
	free(m->skipped);
}

static int mf_end(struct mf_ctx *m, int err)
{
	int ferr;

	mf_log_skipped(m);
	cluster_free(&m->trash);
	hmap_free(&m->index);
	ferr = cluster_finalize(m->c);
	if (ferr)
		log_error("out of memory");
	if (!err)
		err = ferr;
	if (!err && m->r.n_errors)
		err = -EINVAL;
	return err;
}

int manifest_load_opts(struct np_cluster *c, char *const *paths, size_t n_paths,
		       const struct manifest_opts *opts)
{
	const char *why;
	struct mf_ctx m;
	size_t i;
	int err;

	err = mf_begin(&m, c);
	if (!err && opts && opts->ns) {
		why = mf_check_dns_label(opts->ns, strlen(opts->ns));
		if (why) {
			char buf[MF_QUOTE_MAX];

			log_error("-n \"%s\": invalid namespace: %s",
				  yt_printable(opts->ns, strlen(opts->ns), buf, sizeof(buf)), why);
			m.r.n_errors++;
			return mf_end(&m, 0);
		}
		m.r.default_ns = opts->ns;
	}
	m.recursive = opts && opts->recursive;
	for (i = 0; !err && i < n_paths; i++)
		err = mf_load_path(&m, paths[i]);
	return mf_end(&m, err);
}

int manifest_load(struct np_cluster *c, char *const *paths, size_t n_paths)
{
	return manifest_load_opts(c, paths, n_paths, NULL);
}

int manifest_load_buffer(struct np_cluster *c, const char *name, const char *buf, size_t len)
{
	struct mf_ctx m;
	int err;

	err = mf_begin(&m, c);
	if (!err)
		err = mf_add_file(&m, name);
	if (!err)
		err = mf_parsed(&m, yt_parse_buffer(m.r.file, buf, len, mf_on_doc, mf_on_item, &m));
	return mf_end(&m, err);
}
