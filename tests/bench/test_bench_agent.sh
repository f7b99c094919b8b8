#!/usr/bin/env bash
# `npbpf bench agent --quick -o json` runs to the end and prints every figure
# as a number (the figures themselves are not judged: this machine's load
# decides them). Also: nothing it made is left behind (network namespaces,
# pins, the agent process).
#
#   test_bench_agent.sh NPBPF_BINARY      (TAP on stdout)
#
# Root only (skips without it; fails under CI=true).
set -u

npbpf=$1
case $npbpf in /*) ;; *) npbpf=$PWD/$npbpf ;; esac
py=/usr/bin/python3
[ -x "$py" ] || py=python3

if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - bench agent needs root, and CI=true forbids skipping"
		exit 1
	fi
	echo "1..0 # SKIP bench agent needs root"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..3"

"$npbpf" bench agent --quick -o json >"$tmp/out" 2>"$tmp/err" &
bench=$!
wait $bench
rc=$?
if [ $rc -eq 0 ]; then
	echo "ok 1 - npbpf bench agent --quick -o json exits 0"
else
	echo "not ok 1 - npbpf bench agent --quick -o json exits $rc"
	sed 's/^/# /' "$tmp/err"
fi

if "$py" - "$tmp/out" >"$tmp/check" 2>&1 <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
bad = []
for k in ("initial_sync_seconds", "rss_mb_150k", "peak_rss_mb_150k", "restart_map_writes"):
    if not num(d.get(k)):
        bad.append(k)
ev = d.get("event_p99_ms")
for k in ("policy", "namespace_labels", "pod_labels", "pod_add"):
    if not isinstance(ev, dict) or not num(ev.get(k)):
        bad.append("event_p99_ms." + k)
for k in ("restart_programs_kept", "restart_never_detached"):
    if not isinstance(d.get(k), bool):
        bad.append(k)
for k, s in (d.get("events") or {}).items():
    if s.get("samples", 0) < 1:
        bad.append("events.%s.samples" % k)
if bad:
    print("missing or not numbers: " + ", ".join(bad))
    sys.exit(1)
PY
	echo "ok 2 - the JSON has every figure, as numbers, and samples of every event"
else
	echo "not ok 2 - the JSON lacks figures"
	sed 's/^/# /' "$tmp/check" "$tmp/out"
fi

left=
ip netns list | grep -q "npbpf-ba-$bench-" && left="$left netns"
ls -d /sys/fs/bpf/npbpf-bench-agent-$bench* >/dev/null 2>&1 && left="$left pins"
pgrep -f "pin-dir /sys/fs/bpf/npbpf-bench-agent-$bench" >/dev/null && left="$left agent"
if [ -z "$left" ]; then
	echo "ok 3 - nothing left behind (netns, pins, agent)"
else
	echo "not ok 3 - left behind:$left"
fi
exit 0
