#!/usr/bin/env bash
# npbpf-cni against the CNI spec (1.0.0 and 0.4.0), chained after the REAL
# bridge + host-local plugins (Debian's containernetworking-plugins), called
# as a runtime calls them (runtime.py: environment, stdin, prevResult
# chaining, DEL in reverse). The "node" is a private network namespace, the
# datapath is pinned by the loader (pin_helper) into a private pin
# directory, the agent is absent or a fake one (fake_agent.py). Real packets
# check that a pending pod is dropped and counted.
#
#   test_cni.sh NPBPF_CNI PIN_HELPER
#
# Root only (skips without it; fails under CI=true). Everything it makes is
# named npcni-<pid>-*, and removed on exit, on failure too. Addresses only
# from 198.18.0.0/15 and 2001:db8::/32.
set -u

cni=$1
helper=$2
case $cni in /*) ;; *) cni=$PWD/$cni ;; esac
case $helper in /*) ;; *) helper=$PWD/$helper ;; esac
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
plugins=/usr/lib/cni

if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - the CNI test needs root, and CI=true forbids skipping"
		exit 1
	fi
	echo "1..0 # SKIP the CNI test needs root"
	exit 0
fi
if [ ! -x $plugins/bridge ] || [ ! -x $plugins/host-local ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - containernetworking-plugins is not installed (scripts/setup.sh)"
		exit 1
	fi
	echo "1..0 # SKIP containernetworking-plugins is not installed (scripts/setup.sh)"
	exit 0
fi

p=npcni-$$
node=$p-node
pins=/sys/fs/bpf/$p
tmp=$(mktemp -d)
bindir=$tmp/bin
sock=$tmp/agent.sock
agent_pid=
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	[ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/# /'
	return 0
}
check() { # DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@" >"$tmp/check.out" 2>&1; then ok "$d"; else not_ok "$d" "$(cat "$tmp/check.out")"; fi
}

stop_agent() {
	if [ -n "$agent_pid" ]; then
		kill -TERM "$agent_pid" 2>/dev/null
		wait "$agent_pid" 2>/dev/null
		agent_pid=
	fi
	rm -f "$sock"
}

cleanup() {
	stop_agent
	for ns in $(ip netns list | awk '{print $1}' | grep "^$p-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	"$helper" -r "$pins" 2>/dev/null
	rm -rf "$pins" "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The node's commands run with nsenter --net, not `ip netns exec`: that one
# mounts a sysfs of its own, which hides the bpffs (and the pins) on
# /sys/fs/bpf; the runtime runs plugins in the host's mount namespace.
# ---- The node: a netns with the pinned datapath; plugins in one bin dir.
ip netns add "$node" || { echo "not ok 1 - creating the node namespace"; exit 1; }
ip -n "$node" link set lo up
"$helper" "$pins" bridged || { echo "not ok 1 - pinning the datapath"; exit 1; }
mkdir -p "$bindir" "$tmp/cache"
ln -s $plugins/bridge $plugins/host-local "$bindir"/
ln -s "$cni" "$bindir/npbpf-cni"

# conflist VERSION [EXTRA_NPBPF_JSON]: the bridge + host-local + npbpf-cni
# list, as flannel's delegate would configure them.
conflist() {
	local v=$1 extra=${2:-}
	cat <<J
{"cniVersion": "$v", "name": "npcni",
 "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": false,
   "ipam": {"type": "host-local", "dataDir": "$tmp/ipam",
            "ranges": [[{"subnet": "198.18.64.0/24"}], [{"subnet": "2001:db8:64::/64"}]]}},
  {"type": "npbpf-cni", "pinDir": "$pins", "agentSocket": "$sock",
   "logFile": "$tmp/cni.log"$extra}
 ]}
J
}
conflist 1.0.0 >"$tmp/v1.conflist"
"$py" -c 'import json,sys
d = json.load(open(sys.argv[1])); d["plugins"] = d["plugins"][:1]; print(json.dumps(d))' \
	"$tmp/v1.conflist" >"$tmp/bridge.conflist"
conflist 0.4.0 >"$tmp/v04.conflist"
conflist 1.0.0 ', "onAgentTimeout": "fail", "timeoutMs": 300' >"$tmp/fail.conflist"
conflist 1.0.0 ', "onAgentTimeout": "allow", "timeoutMs": 300' >"$tmp/allow.conflist"
conflist 1.0.0 ', "timeoutMs": 5000' >"$tmp/long.conflist"
conflist 1.0.0 ', "timeoutMs": 400' >"$tmp/short.conflist"

# rt COMMAND CONFLIST POD: the runtime's call for pod POD (netns $p-POD),
# result on stdout (the error JSON on failure), stderr into $tmp/rt.err.
rt() {
	nsenter --net="/run/netns/$node" "$py" "$here/runtime.py" "$1" "$2" --id "$p-$3" \
		--netns "/run/netns/$p-$3" --args "IgnoreUnknown=1;K8S_POD_NAMESPACE=testns;K8S_POD_NAME=$3" \
		--cni-path "$bindir" --cache "$tmp/cache" --timing "$tmp/timing" 2>"$tmp/rt.err"
}
# plugin COMMAND POD CONFIG_JSON: npbpf-cni alone, as the runtime would call it.
plugin() {
	nsenter --net="/run/netns/$node" env CNI_COMMAND="$1" CNI_CONTAINERID="$p-$2" \
		CNI_NETNS="/run/netns/$p-$2" CNI_IFNAME=eth0 CNI_PATH="$bindir" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=testns;K8S_POD_NAME=$2" "$cni" 2>"$tmp/plugin.err" <<<"$3"
}
pod() { ip netns add "$p-$1" && ip -n "$p-$1" link set lo up; }
# host_veth POD: the host-side veth of the pod's eth0 in the node.
host_veth() {
	local peer
	peer=$(ip -n "$p-$1" -o link show eth0 2>/dev/null | sed -n 's/.*eth0@if\([0-9]*\).*/\1/p')
	ip -n "$node" -o link show 2>/dev/null | awk -F': ' -v i="$peer" '$1 == i { sub(/@.*/, "", $2); print $2 }'
}
# attached VETH: both our filters are there.
attached() {
	nsenter --net="/run/netns/$node" tc filter show dev "$1" ingress 2>/dev/null | grep -q 'npbpf_from_pod' &&
		nsenter --net="/run/netns/$node" tc filter show dev "$1" egress 2>/dev/null | grep -q 'npbpf_to_pod'
}
none_attached() {
	! nsenter --net="/run/netns/$node" tc filter show dev "$1" ingress 2>/dev/null | grep -q npbpf_ &&
		! nsenter --net="/run/netns/$node" tc filter show dev "$1" egress 2>/dev/null | grep -q npbpf_
}
# fixcnt INDEX: packets in npbpf_fixcnt[INDEX], summed over CPUs.
fixcnt() {
	bpftool -j map lookup pinned "$pins/npbpf_fixcnt" key $(printf '0x%02x 0 0 0' "$1") |
		"$py" -c 'import json,sys
d = json.load(sys.stdin)
vals = d.get("values") or d.get("formatted", {}).get("values", [])
tot = 0
for v in vals:
    val = v.get("value")
    if isinstance(val, dict):
        tot += int(val.get("packets", 0))
    else:
        tot += int.from_bytes(bytes(int(x, 16) for x in val[:8]), "little")
print(tot)'
}
endpoint_of() { # IFINDEX: "yes" when it has an endpoint record, else nothing
	bpftool map lookup pinned "$pins/npbpf_endpoint" \
		key $(printf '0x%02x 0x%02x 0 0' $(($1 & 255)) $(($1 >> 8))) >/dev/null 2>&1 && echo yes
}
pending_of() { # IFINDEX: "yes" when it has a pending record
	bpftool map lookup pinned "$pins/npbpf_pending" \
		key $(printf '0x%02x 0x%02x 0 0' $(($1 & 255)) $(($1 >> 8))) >/dev/null 2>&1 && echo yes
}
ifindex_of() { ip -n "$node" -o link show "$1" | cut -d: -f1; }
start_agent() { # MODE [ARGS]
	stop_agent
	"$py" "$here/fake_agent.py" "$sock" "$tmp/agent.log" "$@" 2>>"$tmp/agent.err" &
	agent_pid=$!
	for _ in $(seq 50); do [ -S "$sock" ] && return 0; sleep 0.05; done
	return 1
}
jget() { # EXPR: of the JSON on stdin (d); a tuple prints space-separated
	"$py" -c 'import json,sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(*v) if isinstance(v, tuple) else print(v)' "$1"
}

# ---- VERSION and configuration errors.
out=$(CNI_COMMAND=VERSION "$cni" </dev/null)
if [ "$(jget 'd["cniVersion"], sorted(d["supportedVersions"])' <<<"$out")" = "1.0.0 ['0.4.0', '1.0.0']" ]; then
	ok "VERSION: 1.0.0, supports 0.4.0 and 1.0.0"
else
	not_ok "VERSION" "$out"
fi

pod bad
res=$(rt ADD "$tmp/bridge.conflist" bad) || not_ok "bridge ADD for the malformed-stdin pod" "$res"
veth=$(host_veth bad)
out=$(plugin ADD bad '{"cniVersion":"1.0.0","name":"npcni","type":"npbpf-cni",')
rc=$?
code=$(jget 'd["code"]' <<<"$out" 2>/dev/null)
if [ $rc -ne 0 ] && { [ "$code" = 6 ] || [ "$code" = 4 ]; } && none_attached "$veth"; then
	ok "malformed stdin: CNI error $code, exit $rc, nothing attached to $veth"
else
	not_ok "malformed stdin" "rc=$rc out=$out" "$(cat "$tmp/plugin.err")"
fi
out=$(plugin ADD bad '{"cniVersion":"9.9.9","name":"npcni","type":"npbpf-cni"}')
rc=$?
if [ $rc -ne 0 ] && [ "$(jget 'd["code"]' <<<"$out")" = 1 ] && none_attached "$veth"; then
	ok "unknown cniVersion 9.9.9: CNI error 1"
else
	not_ok "unknown cniVersion" "rc=$rc out=$out"
fi
out=$(plugin ADD bad '{"cniVersion":"1.0.0","name":"npcni","type":"npbpf-cni","onAgentTimeout":"maybe"}')
rc=$?
if [ $rc -ne 0 ] && [ "$(jget 'd["code"]' <<<"$out")" = 4 ]; then
	ok "onAgentTimeout maybe: CNI error 4"
else
	not_ok "bad onAgentTimeout" "rc=$rc out=$out"
fi
out=$(plugin ADD bad '{"cniVersion":"1.0.0","name":"npcni","type":"npbpf-cni"}')
rc=$?
if [ $rc -ne 0 ] && [ "$(jget 'd["code"]' <<<"$out")" = 4 ] && none_attached "$veth"; then
	ok "ADD without prevResult (not chained): CNI error 4"
else
	not_ok "ADD without prevResult" "rc=$rc out=$out"
fi
out=$(nsenter --net="/run/netns/$node" env CNI_COMMAND=ADD CNI_CONTAINERID=x CNI_IFNAME=eth0 "$cni" \
	2>/dev/null <<<'{"cniVersion":"1.0.0","name":"npcni","type":"npbpf-cni","prevResult":{"cniVersion":"1.0.0"}}')
rc=$?
if [ $rc -ne 0 ] && [ "$(jget 'd["code"]' <<<"$out")" = 7 ]; then
	ok "ADD without CNI_NETNS: CNI error 7"
else
	not_ok "ADD without CNI_NETNS" "rc=$rc out=$out"
fi

rt DEL "$tmp/bridge.conflist" bad >/dev/null
ip netns del "$p-bad"

# ---- The agent absent (default: isolate): ADD succeeds, programs
# attached, no endpoint; a real packet from the pod is dropped and counted.
pod a
t0=$(date +%s%N)
res=$(rt ADD "$tmp/v1.conflist" a)
rc=$?
t1=$(date +%s%N)
veth_a=$(host_veth a)
if [ $rc -eq 0 ] && [ -n "$veth_a" ] && attached "$veth_a" &&
	[ "$(jget 'd["cniVersion"], len(d["ips"]), [i["name"] for i in d["interfaces"]][-1]' <<<"$res")" = "1.0.0 2 eth0" ]; then
	ok "agent absent (isolate): ADD succeeds in $(((t1 - t0) / 1000000)) ms, result is the bridge's, programs on $veth_a"
else
	not_ok "agent absent: ADD" "rc=$rc res=$res" "$(cat "$tmp/rt.err")"
fi
ifx_a=$(ifindex_of "$veth_a")
if [ -z "$(endpoint_of "$ifx_a")" ]; then ok "agent absent: no endpoint record for ifindex $ifx_a (pending)"
else not_ok "agent absent: an endpoint record exists" "$(endpoint_of "$ifx_a")"; fi
if [ -n "$(pending_of "$ifx_a")" ]; then ok "agent absent: a pending record for ifindex $ifx_a"
else not_ok "agent absent: no pending record for ifindex $ifx_a"; fi
seg=$(bpftool -j map dump pinned "$pins/npbpf_segment" 2>&1)
if [ "$("$py" -c 'import json,sys
d = json.load(sys.stdin)
print(len(d))' <<<"$seg")" = 6 ]; then
	ok "agent absent: npbpf_segment holds both segments, both gateways and the pod's two pending addresses"
else
	not_ok "npbpf_segment after the ADD" "$seg"
fi
if grep -q 'pod starts isolated' "$tmp/rt.err" && grep -q 'pod starts isolated' "$tmp/cni.log"; then
	ok "agent absent: logged to stderr and logFile"
else
	not_ok "agent absent: log lines" "$(cat "$tmp/rt.err")"
fi
# from-pod (EGRESS=1), DROP=1, PENDING=11: (1*2+1)*16+11
before=$(fixcnt 59)
ip netns exec "$p-a" ping -c 3 -i 0.2 -W 1 198.18.64.1 >/dev/null 2>&1
prc=$?
after=$(fixcnt 59)
if [ $prc -ne 0 ] && [ "$after" -gt "$before" ]; then
	ok "pending pod: its ping to the gateway fails, npbpf_fixcnt PENDING from-pod $before -> $after"
else
	not_ok "pending pod: packets dropped and counted" "ping rc=$prc fixcnt $before -> $after"
fi
# to-pod (INGRESS=0), ALLOW=0, PENDING_HOST=6: the node (the bridge's
# address, the segment's gateway) reaches it, the reply passes on conntrack.
addr_a=$(ip -n "$p-a" -4 -o addr show eth0 | awk '{sub(/\/.*/, "", $4); print $4}')
before=$(fixcnt 6)
nsenter --net="/run/netns/$node" ping -c 2 -i 0.2 -W 1 "$addr_a" >/dev/null 2>&1
prc=$?
after=$(fixcnt 6)
if [ $prc -eq 0 ] && [ "$after" -gt "$before" ]; then
	ok "pending pod: the node's ping reaches it and is answered (PENDING_HOST $before -> $after)"
else
	not_ok "pending pod: the node's ping" "ping $addr_a rc=$prc fixcnt $before -> $after"
fi
# The window frozen: pod w wired by the bridge plugin alone (the state between
# the bridge's ADD and npbpf-cni's attach). Another node's pod (namespace
# remote, routed through the node as the overlay would deliver it) and the
# node itself must not reach it; npbpf_bridge on cni0 (attached by the ADD
# of a) drops them, counted as UNKNOWN_POD at to-pod (index 28).
if nsenter --net="/run/netns/$node" tc filter show dev cni0 egress 2>/dev/null | grep -q npbpf_bridge; then
	ok "npbpf-cni attached npbpf_bridge to cni0's egress"
else
	not_ok "npbpf_bridge is not on cni0" "$(nsenter --net="/run/netns/$node" tc filter show dev cni0 egress 2>&1)"
fi
pod w
rt ADD "$tmp/bridge.conflist" w >/dev/null
addr_w=$(ip -n "$p-w" -4 -o addr show eth0 | awk '{sub(/\/.*/, "", $4); print $4}')
ip -n "$p-w" route add 198.18.65.0/24 via 198.18.64.1
ip netns add "$p-remote"
ip link add "$p-rn" type veth peer name "$p-rr" 2>/dev/null ||
	ip link add rn$$ type veth peer name rr$$
rn=$p-rn rr=$p-rr
ip link show "$rn" >/dev/null 2>&1 || { rn=rn$$; rr=rr$$; }
ip link set "$rn" netns "$node" && ip link set "$rr" netns "$p-remote"
ip -n "$node" addr add 198.18.65.1/24 dev "$rn" && ip -n "$node" link set "$rn" up
ip -n "$p-remote" addr add 198.18.65.2/24 dev "$rr" && ip -n "$p-remote" link set "$rr" up
ip -n "$p-remote" link set lo up
ip -n "$p-remote" route add 198.18.64.0/24 via 198.18.65.1
nsenter --net="/run/netns/$node" sysctl -qw net.ipv4.ip_forward=1
before=$(fixcnt 28)
ip netns exec "$p-remote" ping -c 3 -i 0.2 -W 1 "$addr_w" >/dev/null 2>&1
r1=$?
nsenter --net="/run/netns/$node" ping -c 2 -i 0.2 -W 1 "$addr_w" >/dev/null 2>&1
r2=$?
after=$(fixcnt 28)
if [ -n "$addr_w" ] && [ $r1 -ne 0 ] && [ $r2 -ne 0 ] && [ "$after" -ge $((before + 5)) ]; then
	ok "window frozen: another node's pod and the node do not reach $addr_w (wired, not attached): UNKNOWN_POD $before -> $after"
else
	not_ok "window frozen: $addr_w reached" "remote ping rc=$r1, node ping rc=$r2, fixcnt $before -> $after"
fi
# The control: without the bridge hook the same pings arrive.
nsenter --net="/run/netns/$node" tc filter del dev cni0 egress 2>/dev/null
ip netns exec "$p-remote" ping -c 2 -i 0.2 -W 1 "$addr_w" >/dev/null 2>&1
r1=$?
if [ $r1 -eq 0 ]; then ok "control: without npbpf_bridge, another node's pod reaches $addr_w (the hook is what dropped)"
else not_ok "control: the remote ping fails without the hook too (rc=$r1): the test proves nothing"; fi
rt DEL "$tmp/bridge.conflist" w >/dev/null
ip netns del "$p-w"
ip netns del "$p-remote"
# npbpf-cni puts the hook back at its next ADD.
check "CHECK (1.0.0, no agent): programs attached" rt CHECK "$tmp/v1.conflist" a
# A repeated ADD: npbpf-cni twice more with the same prevResult (the bridge
# plugin itself refuses a second ADD of an existing eth0).
conf_a=$("$py" -c 'import json,sys
cl = json.load(open(sys.argv[1])); res = json.load(open(sys.argv[2]))
c = dict(cl["plugins"][1]); c["name"] = cl["name"]; c["cniVersion"] = cl["cniVersion"]; c["prevResult"] = res
print(json.dumps(c))' "$tmp/v1.conflist" "$tmp/cache/result-$p-a-eth0.json")
o1=$(plugin ADD a "$conf_a") && o2=$(plugin ADD a "$conf_a")
rc=$?
if [ $rc -eq 0 ] && attached "$veth_a" && [ "$(jget 'd' <<<"$o1")" = "$(jget 'd' <<<"$o2")" ] &&
	[ "$(jget 'd' <<<"$o1")" = "$(jget 'd' <<<"$(cat "$tmp/cache/result-$p-a-eth0.json")")" ]; then
	ok "repeated ADD: succeeds, same output (prevResult unchanged), programs still attached"
else
	not_ok "npbpf-cni ADD twice" "$o1" "$o2"
fi
out=$(plugin DEL a "$conf_a")
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ] && none_attached "$veth_a" && [ -z "$(endpoint_of "$ifx_a")" ] &&
	[ -z "$(pending_of "$ifx_a")" ]; then
	ok "DEL (npbpf-cni, the veth still there): programs and pending record removed, no output"
else
	not_ok "DEL" "rc=$rc out=$out" "$(cat "$tmp/plugin.err")"
fi
check "DEL again: succeeds (idempotent)" plugin DEL a "$conf_a"
check "DEL of the whole list (bridge too)" rt DEL "$tmp/v1.conflist" a
ip netns del "$p-a"
check "DEL after the netns is gone: succeeds" plugin DEL a "$conf_a"
out=$(nsenter --net="/run/netns/$node" env CNI_COMMAND=DEL CNI_CONTAINERID=never-existed CNI_NETNS= \
	CNI_IFNAME=eth0 "$cni" <<<'{"cniVersion":"1.0.0","name":"npcni","type":"npbpf-cni"}' 2>&1)
if [ $? -eq 0 ]; then ok "DEL of a container that never existed (no netns, no prevResult): succeeds"
else not_ok "DEL of a container that never existed" "$out"; fi
out=$(nsenter --net="/run/netns/$node" env CNI_COMMAND=DEL CNI_CONTAINERID=never-existed \
	CNI_NETNS=/run/netns/$p-nonexistent CNI_IFNAME=eth0 "$cni" \
	<<<'{"cniVersion":"0.4.0","name":"npcni","type":"npbpf-cni"}' 2>&1)
if [ $? -eq 0 ]; then ok "DEL with a netns path that does not exist (0.4.0): succeeds"
else not_ok "DEL with a missing netns path" "$out"; fi

# ---- 0.4.0 through the whole list.
pod b
res=$(rt ADD "$tmp/v04.conflist" b)
rc=$?
if [ $rc -eq 0 ] && [ "$(jget 'd["cniVersion"]' <<<"$res")" = 0.4.0 ] && attached "$(host_veth b)"; then
	ok "0.4.0: ADD through bridge + host-local + npbpf-cni, result 0.4.0, programs attached"
else
	not_ok "0.4.0 ADD" "rc=$rc $res" "$(cat "$tmp/rt.err")"
fi
check "0.4.0: CHECK" rt CHECK "$tmp/v04.conflist" b
veth_b=$(host_veth b)
nsenter --net="/run/netns/$node" tc filter del dev "$veth_b" egress 2>/dev/null
out=$(rt CHECK "$tmp/v04.conflist" b)
if [ $? -ne 0 ] && [ "$(jget 'd["code"]' <<<"$out")" = 103 ]; then
	ok "0.4.0: CHECK fails (code 103) once a filter is gone"
else
	not_ok "CHECK with a filter gone" "$out"
fi
check "0.4.0: DEL" rt DEL "$tmp/v04.conflist" b
ip netns del "$p-b"

# ---- onAgentTimeout.
pod c
out=$(rt ADD "$tmp/fail.conflist" c)
rc=$?
if [ $rc -ne 0 ] && [ "$(jget 'd["code"]' <<<"$out")" = 11 ]; then
	ok "onAgentTimeout fail, agent absent: ADD fails with code 11 (try again later)"
else
	not_ok "onAgentTimeout fail, agent absent" "rc=$rc $out"
fi
rt DEL "$tmp/fail.conflist" c >/dev/null
start_agent silent
t0=$(date +%s%N)
out=$(rt ADD "$tmp/fail.conflist" c)
rc=$?
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
if [ $rc -ne 0 ] && [ "$(jget 'd["code"]' <<<"$out")" = 11 ] && [ $ms -lt 3000 ]; then
	ok "onAgentTimeout fail, agent silent (timeoutMs 300): code 11 after $ms ms"
else
	not_ok "onAgentTimeout fail, agent silent" "rc=$rc ms=$ms $out"
fi
rt DEL "$tmp/fail.conflist" c >/dev/null
stop_agent
out=$(rt ADD "$tmp/allow.conflist" c)
rc=$?
veth_c=$(host_veth c)
if [ $rc -eq 0 ] && none_attached "$veth_c" && grep -q UNSAFE "$tmp/rt.err"; then
	ok "onAgentTimeout allow, agent absent: ADD succeeds, programs removed, UNSAFE logged"
else
	not_ok "onAgentTimeout allow" "rc=$rc $out" "$(cat "$tmp/rt.err")"
fi
if ip netns exec "$p-c" ping -c 1 -W 2 198.18.64.1 >/dev/null 2>&1; then
	ok "onAgentTimeout allow: the pod's packets pass (fail open)"
else
	not_ok "onAgentTimeout allow: ping"
fi
rt DEL "$tmp/allow.conflist" c >/dev/null
start_agent pending
t0=$(date +%s%N)
out=$(rt ADD "$tmp/short.conflist" c)
rc=$?
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
if [ $rc -eq 0 ] && attached "$(host_veth c)" && grep -q 'fake agent: not bound' "$tmp/rt.err"; then
	ok "agent answers pending at its timeout (400 ms): ADD succeeds isolated after $ms ms"
else
	not_ok "agent pending" "rc=$rc $out" "$(cat "$tmp/rt.err")"
fi
rt DEL "$tmp/short.conflist" c >/dev/null
ip netns del "$p-c"

# ---- The fake agent binds: ADD returns as soon as it answers.
start_agent bound --pins "$pins" --identity 4242 --delay-ms 50
pod d
: >"$tmp/agent.log"
t0=$(date +%s%N)
res=$(rt ADD "$tmp/long.conflist" d)
rc=$?
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
veth_d=$(host_veth d)
ifx_d=$(ifindex_of "$veth_d")
req=$(head -n1 "$tmp/agent.log")
want=$("$py" -c 'import json,sys
r = json.load(open(sys.argv[1]))
ips = sorted(i["address"].split("/")[0] for i in r["ips"])
mac = [i["mac"] for i in r["interfaces"] if i.get("sandbox")][0]
print(json.dumps(["add", "testns", "d", sys.argv[2], int(sys.argv[3]), sys.argv[4], mac, ips, 5000]))' \
	"$tmp/cache/result-$p-d-eth0.json" "$p-d" "$ifx_d" "$veth_d")
got=$(jget 'json.dumps([d["op"], d["namespace"], d["pod"], d["containerId"], d["ifindex"], d["ifname"], d["mac"], sorted(d["addrs"]), d["timeoutMs"]])' <<<"$req" 2>/dev/null)
if [ $rc -eq 0 ] && [ $ms -lt 2000 ] && grep -q 'bound to identity 4242' "$tmp/rt.err"; then
	ok "fake agent bound (50 ms): ADD returns after $ms ms (timeoutMs 5000), identity 4242"
else
	not_ok "fake agent bound" "rc=$rc ms=$ms $res" "$(cat "$tmp/rt.err")"
fi
if [ -n "$got" ] && [ "$got" = "$want" ]; then
	ok "the add request names the pod, container, host veth, pod MAC and addresses"
else
	not_ok "add request" "got  $got" "want $want"
fi
if [ -n "$(endpoint_of "$ifx_d")" ]; then
	check "CHECK with the agent running and the endpoint bound" rt CHECK "$tmp/long.conflist" d
else
	not_ok "the fake agent's endpoint record is missing"
fi
bpftool map delete pinned "$pins/npbpf_endpoint" key $(printf '0x%02x 0x%02x 0 0' $((ifx_d & 255)) $((ifx_d >> 8)))
out=$(rt CHECK "$tmp/long.conflist" d)
if [ $? -ne 0 ] && [ "$(jget 'd["code"]' <<<"$out")" = 103 ]; then
	ok "CHECK with the agent running and no endpoint record: code 103"
else
	not_ok "CHECK without endpoint" "$out"
fi
# A stale record of another pod at this ifindex goes at ADD; our own stays.
bpftool map update pinned "$pins/npbpf_endpoint" key $(printf '0x%02x 0x%02x 0 0' $((ifx_d & 255)) $((ifx_d >> 8))) \
	value 7 0 0 0 5 0 0 0 198 18 64 99 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2 0 0 0 0 1 0 0
stop_agent
conf_d=$("$py" -c 'import json,sys
cl = json.load(open(sys.argv[1])); res = json.load(open(sys.argv[2]))
c = dict(cl["plugins"][1]); c["name"] = cl["name"]; c["cniVersion"] = cl["cniVersion"]; c["prevResult"] = res
print(json.dumps(c))' "$tmp/long.conflist" "$tmp/cache/result-$p-d-eth0.json")
plugin ADD d "$conf_d" >/dev/null
if [ $? -eq 0 ] && [ -z "$(endpoint_of "$ifx_d")" ] && grep -q 'endpoint record of another pod' "$tmp/plugin.err"; then
	ok "ADD removes a stale endpoint record of another pod at the veth's ifindex"
else
	not_ok "stale endpoint record" "$(endpoint_of "$ifx_d")" "$(cat "$tmp/plugin.err")"
fi
: >"$tmp/agent.log"
start_agent bound
plugin DEL d "$conf_d" >/dev/null
sleep 0.2
if [ "$(jget 'd["op"], d["ifindex"]' <<<"$(head -n1 "$tmp/agent.log")" 2>/dev/null)" = "del $ifx_d" ]; then
	ok "DEL tells the agent (op del, ifindex)"
else
	not_ok "DEL tells the agent" "$(cat "$tmp/agent.log")"
fi
rt DEL "$tmp/long.conflist" d >/dev/null
ip netns del "$p-d"

# ---- ADD latency: 50 pods, the fake agent binding at once.
start_agent bound
: >"$tmp/timing"
bench_ok=true
for i in $(seq 1 50); do
	pod "l$i" || { bench_ok=false; break; }
	rt ADD "$tmp/v1.conflist" "l$i" >/dev/null || { bench_ok=false; break; }
done
if $bench_ok; then
	figures=$(awk '$1 == "npbpf-cni" && $2 == "ADD" { print $3 }' "$tmp/timing" | sort -n |
		"$py" -c 'import sys
v = [float(x) * 1000 for x in sys.stdin]
def pct(p): return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]
b = sorted(float(l.split()[2]) * 1000 for l in open(sys.argv[1]) if l.startswith("bridge ADD"))
print(f"n={len(v)} p50={pct(50):.2f} ms p99={pct(99):.2f} ms max={v[-1]:.2f} ms "
      f"(bridge+host-local p50={b[len(b) // 2]:.2f} ms)")' "$tmp/timing")
	ok "ADD latency with the fake agent answering at once: $figures"
	echo "# npbpf-cni ADD latency: $figures"
else
	not_ok "ADD latency benchmark" "$(cat "$tmp/rt.err")"
fi
for i in $(seq 1 50); do rt DEL "$tmp/v1.conflist" "l$i" >/dev/null 2>&1; done
stop_agent

# ---- install / uninstall on a copy of a conf dir.
conf=$tmp/netd
mkdir -p "$conf" "$tmp/optbin"
printf '{"cniVersion":"0.3.1","name":"cbr0","plugins":[{"type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}\n' >"$conf/10-flannel.conflist"
printf '{"cniVersion":"1.0.0","name":"other","type":"bridge"}\n' >"$conf/20-other.conf"
check "install (conflist)" "$cni" install --conf-dir "$conf" --bin-dir "$tmp/optbin"
check "install again (idempotent)" "$cni" install --conf-dir "$conf" --bin-dir "$tmp/optbin"
if "$py" -c 'import json,sys
d = json.load(open(sys.argv[1]))
t = [p["type"] for p in d["plugins"]]
assert t == ["flannel", "portmap", "npbpf-cni"], t
assert d["plugins"][0]["delegate"] == {"hairpinMode": True, "isDefaultGateway": True}
assert d["name"] == "cbr0" and d["cniVersion"] == "0.3.1"' "$conf/10-flannel.conflist" 2>"$tmp/py.err" &&
	cmp -s "$cni" "$tmp/optbin/npbpf-cni" && [ -x "$tmp/optbin/npbpf-cni" ] &&
	[ "$(ls -A "$conf" | wc -l)" = 2 ]; then
	ok "install: binary copied, npbpf-cni appended once, the rest unchanged, no temporary files"
else
	not_ok "install result" "$(cat "$tmp/py.err")" "$(cat "$conf/10-flannel.conflist")" "$(ls -A "$conf")"
fi
check "uninstall" "$cni" uninstall --conf-dir "$conf" --bin-dir "$tmp/optbin"
if "$py" -c 'import json,sys
d = json.load(open(sys.argv[1]))
assert [p["type"] for p in d["plugins"]] == ["flannel", "portmap"]' "$conf/10-flannel.conflist" 2>"$tmp/py.err" &&
	[ -x "$tmp/optbin/npbpf-cni" ]; then
	ok "uninstall: entry removed, binary kept"
else
	not_ok "uninstall result" "$(cat "$tmp/py.err")"
fi
check "uninstall again (idempotent)" "$cni" uninstall --conf-dir "$conf" --bin-dir "$tmp/optbin" --remove-binary
[ ! -e "$tmp/optbin/npbpf-cni" ] && ok "uninstall --remove-binary" || not_ok "uninstall --remove-binary"
rm -f "$conf"/*
printf '{"cniVersion":"1.0.0","name":"mynet","type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"198.18.96.0/24"}}\n' >"$conf/10-mynet.conf"
check "install (.conf)" "$cni" install --conf-dir "$conf" --bin-dir "$tmp/optbin"
if [ ! -e "$conf/10-mynet.conf" ] && "$py" -c 'import json,sys
d = json.load(open(sys.argv[1]))
assert d["name"] == "mynet" and d["cniVersion"] == "1.0.0"
assert [p["type"] for p in d["plugins"]] == ["bridge", "npbpf-cni"]
assert d["plugins"][0]["ipam"]["subnet"] == "198.18.96.0/24"' "$conf/10-mynet.conflist" 2>"$tmp/py.err"; then
	ok "install: a .conf becomes a .conflist of it and npbpf-cni"
else
	not_ok "install .conf" "$(cat "$tmp/py.err")" "$(ls "$conf")"
fi
rm -f "$conf"/*
out=$("$cni" install --conf-dir "$conf" --bin-dir "$tmp/optbin" 2>&1)
[ $? -ne 0 ] && ok "install without any configuration fails (the init container retries)" ||
	not_ok "install without configuration" "$out"

echo "1..$n"
[ "$failed" -eq 0 ]
