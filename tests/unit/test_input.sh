#!/usr/bin/env bash
# What real manifests contain, through the command line (tracker issue 9):
# an empty matrix says why, -n and -R read as kubectl apply's, policy npbpf
# does not enforce is warned about, an unknown policy field is an input error.
# Usage: test_input.sh NPBPF   (TAP on stdout)
set -uo pipefail
npbpf=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

# expect WANT_RC WANT_STDERR_SUBSTRING ARGS...
expect() {
	local want_rc=$1 want=$2 rc
	shift 2
	n=$((n + 1))
	"$npbpf" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne "$want_rc" ] || ! grep -qF -- "$want" "$tmp/err"; then
		failed=1
		echo "not ok $n - npbpf $*: exit $rc (want $want_rc), stderr lacks '$want'"
		sed 's/^/# /' "$tmp/err"
	else
		echo "ok $n - npbpf $*"
	fi
}

addr=0
pod() { # NAME [NAMESPACE]: a pod with an address of its own
	addr=$((addr + 1))
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s%s}\nstatus: {podIP: 198.18.0.%d}\n' \
		"$1" "${2:+, namespace: $2}" "$addr"
}

printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n' >"$tmp/nopods.yaml"
pod a >"$tmp/noports.yaml"
expect 0 "the matrix is empty: the input has no pods" explain -f "$tmp/nopods.yaml" --matrix
expect 0 "the matrix is empty: no pod declares a containerPort" \
	explain -f "$tmp/noports.yaml" --matrix
expect 0 "the IPv6 matrix is empty: no pod has an IPv6 address" \
	explain -f "$tmp/noports.yaml" --matrix --ports 80 --family 6

mkdir -p "$tmp/tree/sub"
pod a >"$tmp/tree/a.yaml"
pod b other >"$tmp/tree/sub/b.yaml"
expect 0 "tree/sub: skipping subdirectory (-R reads subdirectories)" \
	-v explain -f "$tmp/tree" --matrix --ports 80
"$npbpf" explain -f "$tmp/tree" -R --matrix --ports 80 >"$tmp/out" 2>&1
n=$((n + 1))
if grep -q "other/b" "$tmp/out"; then echo "ok $n - -R reads subdirectories"; else
	failed=1
	echo "not ok $n - -R reads subdirectories"
fi
expect 2 'does not match the namespace "team" given with -n' \
	explain -f "$tmp/tree" -R -n team --matrix --ports 80
"$npbpf" explain -f "$tmp/tree" -n team --matrix --ports 80 >"$tmp/out" 2>&1
n=$((n + 1))
if grep -q "team/a" "$tmp/out"; then echo "ok $n - -n names the namespace"; else
	failed=1
	echo "not ok $n - -n names the namespace"
fi

cat >"$tmp/kinds.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7, namespace: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
YAML
pod a >>"$tmp/kinds.yaml"
sed -i 's/^apiVersion: v1$/---\napiVersion: v1/' "$tmp/kinds.yaml"
expect 0 "kinds.yaml:1:1: CiliumNetworkPolicy shop/l7 (apiVersion cilium.io/v2) is not enforced" \
	explain -f "$tmp/kinds.yaml" --matrix --ports 80
expect 0 "skipped 1 object of kinds npbpf does not read: 1 Deployment" \
	-v explain -f "$tmp/kinds.yaml" --matrix --ports 80

cat >"$tmp/typo.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: t}
spec:
  podSelector: {}
  ingres:
  - {}
YAML
expect 2 'typo.yaml:6:3: NetworkPolicy t/p: spec: unknown field "ingres"' \
	explain -f "$tmp/typo.yaml" --matrix --ports 80

# A hand-written pod without status has no address: explain says so and how
# to give it one, rather than leave the flow out.
{
	pod a
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: bare}\n'
} >"$tmp/bare.yaml"
expect 2 "pod default/bare has no address: its manifest has no status.podIP; give it one" \
	explain -f "$tmp/bare.yaml" --from default/a --to default/bare --port 80/TCP
expect 2 "pod default/bare has no address" \
	explain -f "$tmp/bare.yaml" --from default/bare --to default/a --port 80/TCP
expect 2 "pod default/a has no IPv6 address: add one to its status.podIPs" \
	explain -f "$tmp/bare.yaml" --from default/a --to default/a --port 80/TCP --family 6

echo "1..$n"
exit "$failed"
