#!/usr/bin/env bash
# Adversarial datapath suite (tracker issue 7): crafted frames against the
# real datapath in the lab, in each pod wiring (bridge, routed, bridge with
# the XDP from-pod program). For each wiring: `npbpf lab --keep` builds the
# scenario's namespaces and checks its matrix, cases.py attacks it (one TAP
# line per case), `npbpf lab --down` removes it.
#
#   run.sh NPBPF_BINARY ADVERSARIAL_DIR [CASES_OPTION...]
#
# Extra options go to cases.py (e.g. --only plant-). Prints TAP (plan last);
# exits 0 when every case is ok, 1 otherwise.
#
# Needs root and python3-scapy (scripts/setup.sh installs it): skips (exit
# 77) without them, but fails when CI=true, where nothing may be skipped.
# Kept labs are removed on every exit, SIGTERM (meson's timeout) included.

set -u

usage() {
	echo "usage: $0 NPBPF_BINARY ADVERSARIAL_DIR [CASES_OPTION...]" >&2
	exit 2
}

[ "$#" -ge 2 ] || usage
npbpf=$1
case $npbpf in /*) ;; *) npbpf=$PWD/$npbpf ;; esac
dir=$2
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
shift 2
# Debian's python3, where python3-scapy lives (not a pyenv or venv one).
python=/usr/bin/python3
# ip, tc and bridge live in sbin, which sudo's or meson's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
export PATH
state_dir=/run/npbpf-lab

skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: adversarial: $1, and CI=true forbids skipping" >&2
		exit 1
	fi
	echo "SKIP: adversarial: $1" >&2
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "the lab needs root"
"$python" -c 'import scapy.layers.inet6' 2>/dev/null ||
	skip "no python3-scapy (apt-get install python3-scapy, or scripts/setup.sh)"

tmp=$(mktemp -d /tmp/npbpf-adversarial.XXXXXX) || exit 1
lab_pid=
cases_pid=
lab_id=

# Removes the kept lab, and what a lab of pid $1 may have left.
down() {
	local f id

	if [ -n "$lab_id" ]; then
		"$npbpf" lab --down "$lab_id" >/dev/null || echo "# removing lab $lab_id failed" >&2
		lab_id=
	fi
	[ -n "${1:-}" ] || return 0
	for f in "$state_dir"/*.state; do
		[ -f "$f" ] && grep -qx "pid $1" "$f" || continue
		id=$(basename "$f" .state)
		"$npbpf" lab --down "$id" >/dev/null
	done
}

cleanup() {
	[ -n "$cases_pid" ] && kill -TERM "$cases_pid" 2>/dev/null && wait "$cases_pid"
	[ -n "$lab_pid" ] && kill -TERM "$lab_pid" 2>/dev/null && wait "$lab_pid"
	down "$lab_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' TERM INT

# The helper program of case vlan-in-metadata-from-pod (without it that
# case fails, saying so).
vlan_obj=()
if clang -O2 -g -target bpf -I"/usr/include/$(uname -m)-linux-gnu" \
	-c "$dir/vlan_push.bpf.c" -o "$tmp/vlan_push.o" 2>"$tmp/clang.err"; then
	vlan_obj=(--vlan-obj "$tmp/vlan_push.o")
else
	sed 's/^/# /' "$tmp/clang.err"
fi

n=1
failed=0
for wiring in bridge routed "bridge --xdp"; do
	read -r -a mode <<<"$wiring"
	name=${wiring/ --xdp/+xdp}
	start=$(date +%s.%N)
	"$npbpf" lab -f "$dir/scenario" --family both --ports 7777/TCP,7777/UDP \
		--external 198.19.77.7 --external 2001:db8:77::7 --timeout-ms 300 \
		--mode "${mode[@]}" --keep -o json >"$tmp/lab.json" 2>"$tmp/lab.err" &
	lab_pid=$!
	wait "$lab_pid"
	rc=$?
	lab_id=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["lab"]["id"])' \
		"$tmp/lab.json" 2>/dev/null)
	if [ -z "$lab_id" ]; then
		sed 's/^/# /' "$tmp/lab.err"
		echo "not ok $n - $name: npbpf lab did not come up (exit $rc)"
		n=$((n + 1))
		failed=$((failed + 1))
		down "$lab_pid"
		lab_pid=
		continue
	fi
	# The lab's own probes (every pod to every pod on 7777) must agree with
	# explain: a datapath that breaks ordinary traffic fails here.
	if [ "$rc" -eq 0 ]; then
		echo "ok $n - $name: lab matrix agrees with explain"
	else
		sed 's/^/# /' "$tmp/lab.err"
		echo "not ok $n - $name: lab matrix differs from explain (npbpf lab exited $rc)"
		failed=$((failed + 1))
	fi
	n=$((n + 1))
	lab_pid=
	"$python" "$dir/cases.py" --lab "$tmp/lab.json" --wiring "$name" --first "$n" \
		--count-file "$tmp/count" "${vlan_obj[@]}" "$@" >"$tmp/tap" &
	cases_pid=$!
	wait "$cases_pid"
	rc=$?
	cases_pid=
	cat "$tmp/tap"
	failed=$((failed + $(grep -c '^not ok' "$tmp/tap")))
	if [ -s "$tmp/count" ]; then
		n=$((n + $(cat "$tmp/count")))
	fi
	if [ "$rc" -gt 1 ] || [ ! -s "$tmp/count" ]; then
		echo "not ok $n - $name: cases.py failed (exit $rc)"
		n=$((n + 1))
		failed=$((failed + 1))
	fi
	rm -f "$tmp/count"
	down
	secs=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo "?")
	echo "# $name: ${secs}s"
done
echo "1..$((n - 1))"
[ "$failed" -eq 0 ]
