#!/usr/bin/env bash
# Sets up a fresh machine, builds, and runs every test: the unit tests, the
# example checks and (as root) the datapath tests; then the unit tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer; then the manifest
# fuzzer for FUZZ_SECONDS (60).
# Usage: bash scripts/test.sh   (as root; installs packages with apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "$(basename "$0"): run as root (BPF programs, network namespaces, apt-get)" >&2
  exit 1
fi

bash scripts/setup.sh

build=${BUILD_DIR:-build}
asan=${ASAN_BUILD_DIR:-build-asan}

step() { printf '\n== %s ==\n' "$*"; }

step "build ($build)"
[ -d "$build" ] || meson setup "$build"
meson compile -C "$build"

step "tests"
status=0
meson test -C "$build" --print-errorlogs || status=1

step "unit tests under ASan + UBSan ($asan)"
[ -d "$asan" ] || meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C "$asan"
# Allocation stacks two frames deep: criterion's own leak (lsan.supp) is then
# the only one with a libcriterion frame, where a deeper stack would give
# every leak in a test body one (the runner calls the test) and the
# suppression would hide it too.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:malloc_context_size=2
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C "$asan" --suite unit --print-errorlogs || status=1
# The API client and endpoint discovery too (root; the test API server).
meson test -C "$asan" --print-errorlogs --logbase testlog-kube \
	test_kube_config test_kube_client test_reflector test_netdisc || status=1
unset LSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS

# The manifest path under libFuzzer (fuzz/README.md): a clang build of its
# own, a bounded run from the examples and fixtures as seeds; a crash, a
# leak, undefined behaviour or an input slower than 10 s fails the run and
# leaves the input in $fuzz/.
fuzz=${FUZZ_BUILD_DIR:-build-fuzz}
step "manifest fuzzer, ${FUZZ_SECONDS:-60} s ($fuzz)"
fuzz_ok=0
[ -d "$fuzz" ] || CC=clang meson setup "$fuzz" -Dfuzz=true -Dtests=disabled \
	-Db_sanitize=address,undefined -Db_lundef=false
if meson compile -C "$fuzz" manifest_fuzz; then
	corpus=$(mktemp -d)
	# -close_fd_mask=2: the target's error messages are muted; libFuzzer's
	# and the sanitizers' reports still reach stderr.
	LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$fuzz/fuzz/manifest_fuzz" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=65536 \
		-timeout=10 -close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$fuzz/" \
		"$corpus" examples tests/fixtures && fuzz_ok=1
	rm -rf "$corpus"
fi
[ "$fuzz_ok" -eq 1 ] || { echo "test: the manifest fuzzer failed (input in $fuzz/)" >&2; status=1; }

# The API server's JSON through the stream parser (chunked three ways, each
# object decoded), JSON_FUZZ_SECONDS (30), seeded with the test server's
# objects.
step "JSON stream fuzzer, ${JSON_FUZZ_SECONDS:-30} s ($fuzz)"
json_fuzz_ok=0
if meson compile -C "$fuzz" json_stream_fuzz; then
	corpus=$(mktemp -d)
	LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$fuzz/fuzz/json_stream_fuzz" -max_total_time="${JSON_FUZZ_SECONDS:-30}" -max_len=65536 \
		-timeout=10 -close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$fuzz/" \
		"$corpus" tests/apiserver && json_fuzz_ok=1
	rm -rf "$corpus"
fi
[ "$json_fuzz_ok" -eq 1 ] || { echo "test: the JSON stream fuzzer failed (input in $fuzz/)" >&2; status=1; }
fuzz_ok=$((fuzz_ok && json_fuzz_ok))

# One closing line for CI, counted from both runs' JSON logs and the fuzzer.
passed=0
failed=0
skipped=0
for log in "$build/meson-logs/testlog.json" "$asan/meson-logs/testlog.json" \
	"$asan/meson-logs/testlog-kube.json"; do
	[ -f "$log" ] || continue
	passed=$((passed + $(grep -c '"result": "OK"' "$log" || true)))
	failed=$((failed + $(grep -cE '"result": "(FAIL|ERROR|TIMEOUT|UNEXPECTEDPASS)"' "$log" || true)))
	skipped=$((skipped + $(grep -c '"result": "SKIP"' "$log" || true)))
done
if [ "$fuzz_ok" -eq 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if [ "${CI:-}" = "true" ] && [ "$skipped" -gt 0 ]; then
	echo "test: $skipped test programs skipped under CI (they must run as root there)" >&2
	status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
