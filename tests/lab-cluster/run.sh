#!/usr/bin/env bash
# Runs one cluster-mode lab scenario: the test API server
# (tests/apiserver/apiserver.py) holds the objects, `npbpf lab --kubeconfig
# --node node-a --keep` builds this node's pods (a real `npbpf agent`
# enforces), and the scenario's steps change objects through the API and
# probe the kept lab again, each matrix compared with an expected one; then
# `npbpf lab down`, and nothing may be left: no namespace with the lab's
# prefix, no pin directory, no agent process, no state files.
#
#   run.sh NPBPF_BINARY TESTS_DIR SCENARIO
#
# TESTS_DIR/lab-cluster/SCENARIO/steps, one step a line (paths relative to
# TESTS_DIR; pods that name no node go on node-a):
#   seed PATH...            objects the API server starts with (files, dirs)
#   lab EXPECTED            npbpf lab ... --keep -o json --expect EXPECTED
#                           (ports and families from EXPECTED's tables)
#   apply PATH...           apictl apply
#   delete KIND NS NAME     apictl delete
#   probe EXPECTED          npbpf lab probe ID -o json --expect EXPECTED
#   ipcache ADDR LABEL      the lab's maps map ADDR to an identity labelled LABEL
#   no-ipcache ADDR         ... and do not hold ADDR
#
# Needs root and python3 with PyYAML: skips (exit 77) without them, but fails
# when CI=true. Every step is bounded in time.

set -u

[ "$#" -eq 3 ] || { echo "usage: $0 NPBPF_BINARY TESTS_DIR SCENARIO" >&2; exit 2; }
npbpf=$1
case $npbpf in /*) ;; *) npbpf=$PWD/$npbpf ;; esac
tests=$(cd "$2" && pwd) || exit 2
scenario=$3
here=$tests/lab-cluster
steps=$here/$scenario/steps
node="node-a"
step_timeout=${NPBPF_STEP_TIMEOUT:-90}

skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $scenario: $1, and CI=true forbids skipping" >&2
		exit 1
	fi
	echo "SKIP: $scenario: $1" >&2
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "the lab needs root"
python3 -c 'import yaml' 2>/dev/null || skip "the test API server's tools need python3 and PyYAML"
[ -f "$steps" ] || { echo "FAIL: $scenario: no $steps" >&2; exit 2; }

tmp=$(mktemp -d /tmp/npbpf-lab-cluster.XXXXXX) || exit 1
api=$tmp/api
server_pid=
lab_id=
agent_pid=
fail=0

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	[ -n "$lab_id" ] && timeout 30 "$npbpf" lab down "$lab_id" >/dev/null 2>&1
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "FAIL: $scenario: interrupted" >&2; exit 1' TERM INT

t0=$(date +%s%N)
say() { echo "# $scenario: [$(( ($(date +%s%N) - t0) / 1000000 )) ms] $*" >&2; }
bad() { echo "FAIL: $scenario: $*" >&2; fail=1; }

objects() { python3 "$here/objects.py" --node "$node" "$@"; }
apictl() { timeout 30 python3 "$tests/apiserver/apictl.py" --dir "$api" "$@" >/dev/null; }

start_server() {
	local seed=$tmp/seed.json
	objects "$@" > "$seed" || return 1
	python3 "$tests/apiserver/apiserver.py" --dir "$api" --seed-file "$seed" \
		> "$tmp/apiserver.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 300); do
		[ -f "$api/ready" ] && return 0
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "the test API server did not start:" >&2
	cat "$tmp/apiserver.log" >&2
	return 1
}

# --ports and --family from the tables of an expected file.
lab_args() {
	local ports fams
	ports=$(sed -n 's/^\([0-9]*\/[A-Z]*\) IPv[46]:$/\1/p' "$1" | awk '!seen[$0]++' | paste -sd, -)
	fams=$(sed -n 's/^[0-9]*\/[A-Z]* IPv\([46]\):$/\1/p' "$1" | sort -u | paste -sd' ' -)
	case $fams in "4 6") fams=both ;; "") fams=4 ;; esac
	echo "--ports $ports --family $fams"
}

json_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$@"; }

run_lab() {
	local expected=$tests/$1 out=$tmp/lab.json rc
	# shellcheck disable=SC2046
	timeout "$step_timeout" "$npbpf" lab --kubeconfig "$api/kubeconfig" --node "$node" --keep \
		-o json --expect "$expected" $(lab_args "$expected") > "$out" 2> "$tmp/lab.err"
	rc=$?
	lab_id=$(json_field "$out" "['lab']['id']" 2>/dev/null)
	[ -z "$lab_id" ] && lab_id=$(sed -n 's/^.*lab \([0-9a-f]\{6\}\):.*$/\1/p' "$tmp/lab.err" | head -1)
	agent_pid=$(json_field "$out" "['lab']['agent_pid']" 2>/dev/null)
	if [ "$rc" -ne 0 ]; then
		cat "$tmp/lab.err" >&2
		bad "lab (exit $rc) against $1"
		return 1
	fi
	say "lab $lab_id (agent pid $agent_pid) as $1"
}

run_probe() {
	local expected=$tests/$1 rc
	timeout "$step_timeout" "$npbpf" lab probe "$lab_id" -o json --expect "$expected" \
		> "$tmp/probe.json" 2> "$tmp/probe.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$tmp/probe.err" >&2
		bad "lab probe (exit $rc) against $1"
		return 1
	fi
	say "probe as $1"
}

ipcache() {
	local want=$1 label=${2:-} got
	got=$(nsenter --net="/run/netns/npbpf-lab-$lab_id-node" timeout 30 "$npbpf" status ipcache \
		--pin-dir "/sys/fs/bpf/npbpf-lab-$lab_id" -o json |
		python3 -c 'import json,sys
a = sys.argv[1]
print(" ".join(e.get("label", "?") for e in json.load(sys.stdin) if e.get("prefix") == a))' "$want")
	if [ -z "$label" ]; then
		[ -z "$got" ] || bad "the ipcache holds $want ($got), it should not"
	elif [ "$got" != "$label" ]; then
		bad "the ipcache has '$got' for $want, expected '$label'"
	else
		say "ipcache: $want is $label"
	fi
}

# Whether the lab's agent still runs: its pid, not a zombie, and its command
# line names this lab's pin directory (pids wrap under load).
agent_lives() {
	[ -n "$agent_pid" ] && [ -e "/proc/$agent_pid" ] &&
		! grep -q '^State:.*Z' "/proc/$agent_pid/status" 2>/dev/null &&
		tr '\0' '\n' <"/proc/$agent_pid/cmdline" 2>/dev/null | grep -q "npbpf-lab-$lab_id"
}

# lab down, then nothing of the lab may be left.
down_and_check() {
	local left
	[ -n "$lab_id" ] || return 0
	# The check after lab down knows the agent by its command line: make
	# sure it would (a check that cannot fire proves nothing).
	if [ -n "$agent_pid" ] &&
		! tr '\0' '\n' <"/proc/$agent_pid/cmdline" 2>/dev/null | grep -q "npbpf-lab-$lab_id"; then
		bad "the agent (pid $agent_pid) does not run, or its command line does not name lab $lab_id"
	fi
	if ! timeout 60 "$npbpf" lab down "$lab_id" > "$tmp/down.out" 2>&1; then
		cat "$tmp/down.out" >&2
		bad "lab down $lab_id failed"
	fi
	left=$(ip netns list | grep -c "^npbpf-lab-$lab_id-")
	[ "$left" -eq 0 ] || bad "$left network namespaces of lab $lab_id are left"
	[ ! -e "/sys/fs/bpf/npbpf-lab-$lab_id" ] || bad "its pin directory is left"
	# A killed process can take a moment to leave the kernel (threads in
	# a syscall): up to 5 s, then it is a failure, with its state.
	for _ in $(seq 1 50); do
		agent_lives || break
		sleep 0.1
	done
	if agent_lives; then
		bad "its agent (pid $agent_pid) still runs: $(tr '\0' ' ' <"/proc/$agent_pid/cmdline" 2>/dev/null)" \
			"$(grep -E '^(State|Threads)' "/proc/$agent_pid/status" 2>/dev/null | tr '\n' ' ')" \
			"wchan $(cat "/proc/$agent_pid/wchan" 2>/dev/null)"
	fi
	for f in /run/npbpf-lab/"$lab_id".*; do
		[ -e "$f" ] && bad "$f is left"
	done
	[ "$fail" -eq 0 ] && say "lab down $lab_id: nothing left"
	lab_id=
}

lineno=0
while read -r verb rest; do
	lineno=$((lineno + 1))
	case $verb in "" | "#"*) continue ;; esac
	read -r -a a <<<"$rest"
	case $verb in
	seed)
		paths=()
		for p in "${a[@]}"; do paths+=("$tests/$p"); done
		start_server "${paths[@]}" || { bad "starting the API server"; break; }
		say "API server up with ${a[*]}"
		;;
	lab) run_lab "${a[0]}" || break ;;
	probe) run_probe "${a[0]}" || break ;;
	apply)
		paths=()
		for p in "${a[@]}"; do paths+=("$tests/$p"); done
		objects "${paths[@]}" | apictl apply - || { bad "apply ${a[*]}"; break; }
		say "applied ${a[*]}"
		;;
	delete)
		apictl delete "${a[@]}" || { bad "delete ${a[*]}"; break; }
		say "deleted ${a[*]}"
		;;
	ipcache) ipcache "${a[0]}" "${a[1]}" ;;
	no-ipcache) ipcache "${a[0]}" ;;
	*)
		bad "$steps:$lineno: unknown step '$verb'"
		break
		;;
	esac
done < "$steps"

down_and_check
if [ "$fail" -ne 0 ]; then
	[ -f "$tmp/lab.err" ] && { echo "--- lab stderr:" >&2; tail -20 "$tmp/lab.err" >&2; }
	exit 1
fi
echo "PASS: $scenario" >&2
exit 0
