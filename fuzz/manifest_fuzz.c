/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the manifest path: bytes -> parse + validate
 * (manifest_load_buffer) -> compile -> every flow of the matrix, on both
 * families and with the node rules on and off. Anything the path accepts
 * must compile and be judged without a crash, a leak or undefined
 * behaviour. Built only with -Dfuzz=true (clang); see fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "compile.h"
#include "log.h"
#include "manifest.h"
#include "matrix.h"

/* The matrix is pods x pods x ports flows: bound it so that one input
 * costs milliseconds, not seconds (the fuzzer's time goes to new inputs). */
#define FUZZ_MAX_NODES 24
#define FUZZ_MAX_PORTS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink;

static void judge_all(const struct compiled *cp, bool with_ports)
{
	static const struct matrix_port ports[] = { { 80, 6 }, { 53, 17 }, { 5432, 6 } };
	struct np_addr ext;
	struct matrix m;

	if (addr_parse("203.0.113.7", false, &ext))
		return;
	if (matrix_init_streamed(&m, cp, with_ports ? ports : NULL, 3, &ext, 1,
				 MATRIX_V4 | MATRIX_V6))
		return;
	if (m.n_nodes <= FUZZ_MAX_NODES && m.n_ports <= FUZZ_MAX_PORTS) {
		matrix_print_text(sink, &m);
		matrix_print_json(sink, &m);
	}
	matrix_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct compile_opts opts = { 0 };
	struct compiled cp = { 0 };
	struct np_cluster c;

	if (!sink) {
		sink = fopen("/dev/null", "w");
		if (!sink)
			return 0;
	}
	cluster_init(&c);
	if (manifest_load_buffer(&c, "fuzz.yaml", (const char *)data, size))
		goto out;
	for (int per_node = 0; per_node < 2; per_node++) {
		opts.per_node = per_node;
		opts.enforce_host = !per_node;
		if (compile_cluster(&c, &opts, &cp))
			continue;
		judge_all(&cp, per_node);
		compiled_free(&cp);
		memset(&cp, 0, sizeof(cp));
	}
out:
	cluster_free(&c);
	return 0;
}
