/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench agent's cluster: a synthetic cluster (cluster_gen.h) generated into
 * memory, parsed one document at a time (yaml_tree.h) and re-emitted as one
 * JSON object per Namespace, Pod and NetworkPolicy into the replay server,
 * with what the measurement needs noted on the way: the pods of the
 * benchmark's node (their veths are made for them), a pod of another node
 * to clone (pod_add), and the namespaces around them.
 */
#ifndef NPBPF_BENCH_AGENT_CLUSTER_H
#define NPBPF_BENCH_AGENT_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_agent_server.h"
#include "cluster_gen.h"

struct ba_pod_ref {
	char ns[64];
	char name[128];
	char key[200];	/* ns/name */
	uint32_t addr; /* IPv4, host order */
};

struct ba_cluster {
	struct ba_pod_ref *local; /* pods on the node (not hostNetwork), with an IPv4 */
	size_t n_local;
	struct ba_pod_ref tmpl; /* a single-stack pod of another node, ns != local[0].ns */
	char peer_ns[64];	/* a namespace with pods other than local[0].ns */
	size_t n[BA_N_KINDS];
	double gen_s, convert_s; /* generating the YAML; YAML to JSON into the server */
	uint64_t yaml_bytes, json_bytes;
};

/* Generates gp's cluster into s. node: the benchmark's node name. 0 or
 * -errno (logged). */
int ba_cluster_load(struct ba_server *s, const struct cluster_gen_params *gp, const char *node,
		    struct ba_cluster *out);
void ba_cluster_free(struct ba_cluster *c);

/* A growing text, and a JSON string literal of s (n bytes) appended to it. */
struct ba_text {
	char *p;
	size_t len, cap;
	bool oom;
};
void ba_text_add(struct ba_text *t, const char *s, size_t n);
void ba_text_str(struct ba_text *t, const char *s);
void ba_text_quoted(struct ba_text *t, const char *s, size_t n);

/* json with the first occurrence of from replaced by to (all occurrences
 * when all), malloc'd; NULL when from does not occur or out of memory. */
char *ba_replace(const char *json, const char *from, const char *to, bool all);

#endif /* NPBPF_BENCH_AGENT_CLUSTER_H */
