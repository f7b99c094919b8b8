#!/usr/bin/env bash
# The command line's contract (tracker issue 9): every error line starts with
# "npbpf: " or "npbpf COMMAND: ", a usage error ends with where the help is,
# and the exit status says who is at fault (2 bad usage or input, 1 failure).
# Usage: test_cli.sh NPBPF EXAMPLES_DIR   (TAP on stdout)
set -uo pipefail
npbpf=$1
examples=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n - $1"
	shift
	printf '# %s\n' "$@"
}

# check WANT_RC PREFIX HELP ARGS...: HELP is the --help a usage error points
# to, or '' when the error is not one of usage.
check() {
	local want_rc=$1 prefix=$2 help=$3 rc line
	shift 3
	"$npbpf" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	line=$(head -n 1 "$tmp/err")
	if [ "$rc" -ne "$want_rc" ]; then
		not_ok "npbpf $*: exit $rc, want $want_rc" "$(cat "$tmp/err")"
	elif [ "${line#"$prefix: "}" = "$line" ]; then
		not_ok "npbpf $*: error does not start with '$prefix: '" "$line"
	elif [ -n "$help" ] && [ "${line%"(see '$help --help')"}" = "$line" ]; then
		not_ok "npbpf $*: usage error does not point to '$help --help'" "$line"
	elif grep -v "^$prefix: " "$tmp/err" | grep -q .; then
		not_ok "npbpf $*: a line without the prefix" "$(cat "$tmp/err")"
	else
		ok "npbpf $*: $line"
	fi
}

ex=$examples/three-tier
check 2 npbpf npbpf --bogus
check 2 npbpf npbpf nosuchcommand
check 2 "npbpf explain" "npbpf explain" explain
check 2 "npbpf explain" "npbpf explain" explain --bogus
check 2 "npbpf explain" "npbpf explain" explain -f
check 2 "npbpf explain" "npbpf explain" explain -f "$ex"
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --matrix extra
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --matrix -o xml
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --matrix --ports 80/XYZ
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --matrix --family 5
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --matrix --external nope
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --matrix --node-ip =1.2.3.4
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --from a --to b --port 80
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --from x/y --to 10.0.0.1 --port 99999
check 2 "npbpf explain" "" explain -f "$tmp/missing.yaml" --matrix
printf 'kind: Pod\n' >"$tmp/bad.yaml"
check 2 "npbpf explain" "" explain -f "$tmp/bad.yaml" --matrix
check 2 "npbpf lab" "npbpf lab" lab --bogus
check 2 "npbpf lab" "npbpf lab" lab -f "$ex" --mode nope
check 2 "npbpf lab" "npbpf lab" lab -f "$ex" --timeout-ms -1
check 2 "npbpf lab" "npbpf lab" lab -f "$ex" --status -o json
check 2 "npbpf lab down" "npbpf lab down" lab down --bogus
check 2 "npbpf status" "npbpf status" status bogus
check 2 "npbpf status" "npbpf status" status --pin-dir
check 2 "npbpf status policy" "npbpf status policy" status policy --bogus
check 2 "npbpf bench" "npbpf bench" bench nosuch
check 2 "npbpf bench compile" "npbpf bench compile" bench compile --pods x
check 2 "npbpf bench verdict" "npbpf bench verdict" bench verdict --runs 0
check 1 "npbpf status" "" status --pin-dir "$tmp/nothing-pinned"

# status --help says where the agent's state comes from.
if "$npbpf" status --help | grep -q -- "--state-file"; then
	ok "status --help names the agent's state file"
else
	not_ok "status --help does not name the agent's state file"
fi

# explain --matrix streams: 500 pods, each with its own port, would need
# 2 x 500 x 500 x 500 bytes of cells (250 MB) stored; it must run in 150 MB
# of address space. Not under ASan, whose shadow memory needs more.
{
	echo 'apiVersion: v1'
	echo 'kind: Namespace'
	echo 'metadata: {name: ns}'
	for i in $(seq 0 499); do
		echo '---'
		echo 'apiVersion: v1'
		echo 'kind: Pod'
		echo "metadata: {name: p$i, namespace: ns, labels: {app: a$((i % 7))}}"
		echo "spec: {containers: [{name: c, image: x, ports: [{containerPort: $((1000 + i)), name: n$i}]}]}"
		echo "status: {podIPs: [{ip: 10.1.$((i / 250)).$((i % 250 + 1))}]}"
	done
	echo '---'
	echo 'apiVersion: networking.k8s.io/v1'
	echo 'kind: NetworkPolicy'
	echo 'metadata: {name: deny, namespace: ns}'
	echo 'spec: {podSelector: {matchLabels: {app: a1}}}'
} >"$tmp/big.yaml"
asan=
if ldd "$npbpf" 2>/dev/null | grep -q libasan || nm "$npbpf" 2>/dev/null | grep -q __asan_init; then
	asan=1
fi
if [ -n "$asan" ]; then
	ok "explain --matrix memory # SKIP under ASan"
elif (ulimit -v 150000 && "$npbpf" explain -f "$tmp/big.yaml" --matrix -o json >"$tmp/big.json" 2>"$tmp/err"); then
	cells=$(grep -o '"verdict"' "$tmp/big.json" | wc -l)
	if [ "$cells" -eq 250000 ]; then
		ok "explain --matrix of 500 pods x 500 ports in 150 MB: $cells cells"
	else
		not_ok "explain --matrix of 500 pods: $cells cells, want 250000"
	fi
else
	not_ok "explain --matrix of 500 pods x 500 ports does not run in 150 MB" "$(cat "$tmp/err")"
fi

# Running out of memory is npbpf's failure (1), not bad input (2): 40,000
# pods in 36 MB of address space run out while they are read or compiled
# (the shared libraries alone take about 25 MB of it).
awk 'BEGIN {
	print "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}"
	for (i = 0; i < 40000; i++)
		printf "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: ns, labels: {app: a%d}}\nstatus: {podIP: 10.%d.%d.%d}\n", i, i, int(i / 62500), int(i / 250) % 250, i % 250 + 1
}' >"$tmp/huge.yaml"
if [ -n "$asan" ]; then
	ok "out of memory is exit 1 # SKIP under ASan"
else
	(ulimit -v 36000 && "$npbpf" explain -f "$tmp/huge.yaml" --matrix >/dev/null 2>"$tmp/err")
	rc=$?
	if [ "$rc" -eq 1 ] && grep -q '^npbpf explain: error: .*\(Cannot allocate memory\|out of memory\)' "$tmp/err"; then
		ok "out of memory is exit 1: $(tail -n 1 "$tmp/err")"
	else
		not_ok "out of memory: exit $rc, want 1 with a memory error" "$(cat "$tmp/err")"
	fi
fi

# What people type: a near miss gets a "did you mean", -vv and `help`
# work, a protocol in lower case is fine on the command line, --matrix does
# not silently drop single-flow options, an address that is a pod's is
# named as that pod.
# expect_out DESCRIPTION PATTERN ARGS...: PATTERN in the output (stdout and
# stderr; the exit status is check's business).
expect_out() {
	local what=$1 pattern=$2
	shift 2
	"$npbpf" "$@" >"$tmp/out" 2>&1
	if grep -q -- "$pattern" "$tmp/out"; then
		ok "$what"
	else
		not_ok "$what: no '$pattern' in npbpf $*" "$(cat "$tmp/out")"
	fi
}
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --matirx
expect_out "misspelt option: did you mean" "did you mean '--matrix'" explain -f "$ex" --matirx
expect_out "misspelt command: did you mean" "did you mean 'status'" statsu
expect_out "misspelt view: did you mean" "did you mean 'policy'" status polcy
expect_out "-vv is accepted" "Usage: npbpf explain" -vv explain --help
expect_out "npbpf help COMMAND" "Usage: npbpf explain" help explain
expect_out "npbpf help" "explain" help
expect_out "--port 8080/tcp" "ALLOW: production/frontend (198.18.2.10) -> production/backend (198.18.2.20) 8080/TCP" \
	explain -f "$ex" --from production/frontend --to production/backend --port 8080/tcp
check 2 "npbpf explain" "npbpf explain" explain -f "$ex" --matrix --from production/frontend
expect_out "an address that is a pod's is named as the pod" "production/frontend (198.18.2.10) ->" \
	explain -f "$ex" --from 198.18.2.10 --to production/backend --port 8080
expect_out "JSON keeps the address asked and adds the pod" '"from_pod":"production/frontend"' \
	explain -f "$ex" --from 198.18.2.10 --to production/backend --port 8080 -o json

echo "1..$n"
exit "$failed"
