#!/usr/bin/env bash
# Runs one lab scenario: the manifests on real network namespaces with the
# datapath attached, compared with the scenario's expected matrix, in each
# wiring: by default the lab's own (bridge, routed, bridge with the XDP
# from-pod program); WIRING arguments replace them (lab options, one string
# each, e.g. "bridge --cni": pods wired by the real CNI plugins).
#
#   run.sh NPBPF_BINARY E2E_DIR SCENARIO [WIRING...]
#
# E2E_DIR/SCENARIO/args holds the lab's arguments (paths relative to
# E2E_DIR); E2E_DIR/SCENARIO/expected.txt (explain's text layout) or
# expected.json (its JSON) is what every probe must give. The lab itself also
# fails when the datapath disagrees with explain on any cell.
#
# Needs root: skips (exit 77) without it, but fails when CI=true, where
# nothing privileged may be skipped. Every lab removes what it built, on
# failure and on SIGTERM too (meson's timeout); a lab that died without
# cleaning up is removed here by its id.

set -u

usage() {
	echo "usage: $0 NPBPF_BINARY E2E_DIR SCENARIO [WIRING...]" >&2
	exit 2
}

[ "$#" -ge 3 ] || usage
npbpf=$1
case $npbpf in /*) ;; *) npbpf=$PWD/$npbpf ;; esac
dir=$2
scenario=$3
shift 3
wirings=("$@")
[ "${#wirings[@]}" -gt 0 ] || wirings=("bridge --no-cni" routed "bridge --no-cni --xdp")
state_dir=/run/npbpf-lab

if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $scenario: the lab needs root, and CI=true forbids skipping" >&2
		exit 1
	fi
	echo "SKIP: $scenario: the lab needs root" >&2
	exit 77
fi

cd "$dir" || exit 2
read -r -a args < "$scenario/args" || usage
expected=$scenario/expected.txt
[ -f "$expected" ] || expected=$scenario/expected.json
[ -f "$expected" ] || { echo "FAIL: $scenario: no expected.txt or expected.json" >&2; exit 2; }

lab_pid=
stop() {
	[ -n "$lab_pid" ] && kill -TERM "$lab_pid" 2>/dev/null && wait "$lab_pid"
	exit 1
}
trap stop TERM INT

# Removes what a lab of pid $1 may have left (it should have left nothing).
leftovers() {
	local f id found=1

	for f in "$state_dir"/*.state; do
		[ -f "$f" ] && grep -qx "pid $1" "$f" || continue
		id=$(basename "$f" .state)
		echo "FAIL: $scenario: lab $id left its state behind; removing it" >&2
		"$npbpf" lab --down "$id" >&2
		found=0
	done
	return $found
}

status=0
for mode in "${wirings[@]}"; do
	start=$(date +%s.%N)
	read -r -a wiring <<<"$mode"
	"$npbpf" lab "${args[@]}" --mode "${wiring[@]}" --expect "$expected" >/dev/null &
	lab_pid=$!
	wait "$lab_pid"
	rc=$?
	if leftovers "$lab_pid"; then
		rc=1
	fi
	lab_pid=
	secs=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo "?")
	if [ "$rc" -eq 0 ]; then
		echo "ok: $scenario ($mode) ${secs}s"
	else
		echo "FAIL: $scenario ($mode): npbpf lab exited with $rc" >&2
		status=1
	fi
done
exit $status
