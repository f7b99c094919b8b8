#!/usr/bin/env bash
# Sets up a fresh machine, builds, and runs every test: the unit tests, the
# example checks and (as root) the datapath tests; then the unit tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer.
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
LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C "$asan" --suite unit --print-errorlogs || status=1

# One closing line for CI, counted from both runs' JSON logs.
passed=0
failed=0
skipped=0
for log in "$build/meson-logs/testlog.json" "$asan/meson-logs/testlog.json"; do
	[ -f "$log" ] || continue
	passed=$((passed + $(grep -c '"result": "OK"' "$log" || true)))
	failed=$((failed + $(grep -cE '"result": "(FAIL|ERROR|TIMEOUT|UNEXPECTEDPASS)"' "$log" || true)))
	skipped=$((skipped + $(grep -c '"result": "SKIP"' "$log" || true)))
done
if [ "${CI:-}" = "true" ] && [ "$skipped" -gt 0 ]; then
	echo "test: $skipped test programs skipped under CI (they must run as root there)" >&2
	status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
