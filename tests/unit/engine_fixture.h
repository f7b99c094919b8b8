/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: load YAML text, compile, and ask for flow verdicts by name. */
#ifndef NPBPF_TEST_ENGINE_FIXTURE_H
#define NPBPF_TEST_ENGINE_FIXTURE_H

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "compile.h"
#include "manifest.h"
#include "verdict.h"

struct engine {
	struct np_cluster c;
	struct compiled cp;
};

static inline void engine_load_opts(struct engine *e, const char *yaml,
				    const struct compile_opts *opts)
{
	cluster_init(&e->c);
	cr_assert_eq(manifest_load_buffer(&e->c, "test.yaml", yaml, strlen(yaml)), 0,
		     "manifest did not load");
	cr_assert_eq(compile_cluster(&e->c, opts, &e->cp), 0, "compile failed");
}

static inline void engine_load(struct engine *e, const char *yaml)
{
	engine_load_opts(e, yaml, NULL);
}

static inline void engine_free(struct engine *e)
{
	compiled_free(&e->cp);
	cluster_free(&e->c);
}

/* "ns/pod" or an address; family picks the pod address. */
static inline struct flow_end engine_end(struct engine *e, const char *what, int family)
{
	struct flow_end end = { 0 };
	const char *slash = strchr(what, '/');

	if (slash && addr_parse(what, false, &end.addr) != 0) {
		char ns[128];

		memcpy(ns, what, (size_t)(slash - what));
		ns[slash - what] = '\0';
		end.pod = cluster_find_pod(&e->c, ns, slash + 1);
		cr_assert_not_null(end.pod, "no pod %s", what);
		for (size_t i = 0; i < end.pod->n_addrs; i++) {
			if (end.pod->addrs[i].family == family) {
				end.addr = end.pod->addrs[i];
				return end;
			}
		}
		cr_assert_fail("pod %s has no IPv%d address", what, family);
	}
	cr_assert_eq(addr_parse(what, false, &end.addr), 0, "bad address %s", what);
	return end;
}

static inline bool engine_allows_fam(struct engine *e, const char *from, const char *to,
				     uint8_t proto, uint16_t port, int family)
{
	struct flow_end a = engine_end(e, from, family), b = engine_end(e, to, family);
	struct flow_verdict v;

	verdict_flow(&e->cp, &a, &b, proto, port, &v);
	return v.allowed;
}

static inline bool engine_allows(struct engine *e, const char *from, const char *to,
				 uint8_t proto, uint16_t port)
{
	return engine_allows_fam(e, from, to, proto, port, 4);
}

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define SCTP IPPROTO_SCTP

#endif
