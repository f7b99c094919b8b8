#!/usr/bin/env bash
# The node agent against the test API server (tests/apiserver), on a
# flannel-like node built here: a node namespace with bridge cni0, pod
# namespaces wired to it by veths with random names. Every check asserts
# what the kernel does with real packets, or what the pinned maps hold.
#
#   test_agent.sh NPBPF_BINARY
#
# Root only (skips without it; fails under CI=true). Everything it makes is
# named npag-<pid>-*, and removed on exit, on failure too.
set -u

npbpf=$1
case $npbpf in /*) ;; *) npbpf=$PWD/$npbpf ;; esac
here=$(cd "$(dirname "$0")" && pwd)
apiserver=$here/../apiserver/apiserver.py
apictl=$here/../apiserver/apictl.py
probe=$here/probe.py
# The Debian interpreter: a pyenv shim in front of it costs a second per start.
py=/usr/bin/python3
[ -x "$py" ] || py=python3

if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - the agent test needs root, and CI=true forbids skipping"
		exit 1
	fi
	echo "1..0 # SKIP the agent test needs root"
	exit 0
fi

p=npag-$$
node=$p-node
pins=/sys/fs/bpf/$p
tmp=$(mktemp -d)
# A free port for /metrics (the kernel's choice; released just before use).
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=
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

cleanup() {
	[ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
	[ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	for ns in $(ip netns list | awk '{print $1}' | grep "^$p-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$pins"
	if [ "$failed" -gt 0 ] && [ -f "$tmp/agent.log" ]; then
		echo "# agent log (last 40 lines):"
		tail -n 40 "$tmp/agent.log" | sed 's/^/#   /'
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- objects

ns_json() { # NAME LABELS_JSON
	printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","labels":%s}}' "$1" "$2"
}
pod_json() { # NS NAME LABELS_JSON NODE IP
	printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","labels":%s,"creationTimestamp":"2026-12-06T10:00:00Z"},"spec":{"nodeName":"%s","containers":[{"name":"c","ports":[{"name":"pg","containerPort":5432}]}]},"status":{"phase":"Running","podIP":"%s","podIPs":[{"ip":"%s"}]}}' \
		"$2" "$1" "$3" "$4" "$5" "$5"
}
pol_json() { # NS NAME SPEC_JSON
	printf '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"%s","namespace":"%s"},"spec":%s}' "$2" "$1" "$3"
}
apply() { printf '%s\n' "$1" > "$tmp/obj.json" && "$py" "$apictl" --dir "$tmp/api" apply "$tmp/obj.json" >/dev/null; }
faults() { "$py" "$apictl" --dir "$tmp/api" faults "$1" >/dev/null; }

# ---- the node

pod_ns() { echo "$p-pod-$1"; }
# make_pod NAME IP MAC: a pod namespace wired to cni0 the way the bridge CNI
# does it (random host veth name, enslaved to the bridge).
make_pod() {
	local ns veth
	ns=$(pod_ns "$1")
	veth=veth$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
	ip -n "$node" link add "$veth" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$node" link set "$veth" master cni0 up
	ip -n "$ns" link set eth0 address "$3" up
	[ -n "$2" ] && ip -n "$ns" addr add "$2/24" dev eth0 && ip -n "$ns" route add default via 198.18.64.1
	return 0
}
serve() { # POD IP PORTS
	ip netns exec "$(pod_ns "$1")" timeout 300 "$py" "$probe" serve "$2" "$3" 290 &
}
verdict() { # FROM_POD TO_IP PORT
	ip netns exec "$(pod_ns "$1")" timeout 5 "$py" "$probe" connect "$2" "$3" 1
}
# expect FROM TO_IP PORT WANT WHAT: waits up to 5 s for the verdict to become
# WANT (a change through the API takes effect within a fraction of that).
expect() {
	local got i
	for i in $(seq 1 10); do
		got=$(verdict "$1" "$2" "$3")
		[ "$got" = "$4" ] && { ok "$5: $1 -> $2:$3 $got"; return 0; }
		sleep 0.5
	done
	not_ok "$5: $1 -> $2:$3 is $got, want $4"
}
state() { "$py" -c "import json,sys; d=json.load(open('$tmp/agent.json')); print($1)" 2>/dev/null; }
server_rv() {
	curl -s --cacert "$tmp/api/ca.crt" -H "Authorization: Bearer $(cat "$tmp/api/token")" \
		"https://127.0.0.1:$(cat "$tmp/api/port")/api/v1/pods?limit=1" |
		"$py" -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])'
}
# Waits (bounded) until the agent has synced everything the server holds.
caught_up() {
	local want i
	want=$(server_rv)
	for i in $(seq 1 50); do
		[ "$(state "min(int(k['resource_version'] or 0) for k in d['kinds'].values()) >= $want and d['last_sync']['ok']")" = True ] && return 0
		sleep 0.1
	done
	return 1
}
start_agent() {
	"$npbpf" agent --node node-a --kubeconfig "$tmp/kubeconfig" --node-netns "/run/netns/$node" \
		--pin-dir "$pins" --state-file "$tmp/agent.json" --listen "127.0.0.1:$port" \
		--watch-timeout 3 --cni-socket "$tmp/cni.sock" "$@" >>"$tmp/agent.log" 2>&1 &
	agent_pid=$!
}
wait_ready() {
	local i
	for i in $(seq 1 100); do
		[ "$(state "d['ready'] and d['pid'] == $agent_pid")" = True ] && return 0
		kill -0 "$agent_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

ip netns add "$node" || { echo "not ok 1 - cannot create a network namespace"; exit 1; }
ip -n "$node" link set lo up
ip -n "$node" link add cni0 type bridge
ip -n "$node" addr add 198.18.64.1/24 dev cni0
ip -n "$node" link set cni0 up
make_pod web 198.18.64.10 0e:6e:70:00:00:0a
make_pod db 198.18.64.11 0e:6e:70:00:00:0b
make_pod other 198.18.64.12 0e:6e:70:00:00:0c
serve db 198.18.64.11 5432,5433
serve web 198.18.64.10 80
serve other 198.18.64.12 80

# ---- the API server

mkdir -p "$tmp/api"
{
	echo '{"items":['
	ns_json prod '{"kubernetes.io/metadata.name":"prod","team":"a"}'; echo ,
	ns_json dev '{"kubernetes.io/metadata.name":"dev","team":"b"}'; echo ,
	pod_json prod web '{"app":"web"}' node-a 198.18.64.10; echo ,
	pod_json prod db '{"app":"db"}' node-a 198.18.64.11; echo ,
	pod_json dev other '{"app":"tool"}' node-a 198.18.64.12; echo ,
	pod_json prod far '{"app":"web"}' node-b 198.18.65.10; echo ,
	pol_json prod db-ingress '{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"web"}}}],"ports":[{"port":5432}]}]}'
	echo ']}'
} > "$tmp/seed.json"
"$py" "$apiserver" --dir "$tmp/api" --seed-file "$tmp/seed.json" >"$tmp/server.log" 2>&1 &
server_pid=$!
for i in $(seq 1 100); do [ -f "$tmp/api/ready" ] && break; sleep 0.1; done
[ -f "$tmp/api/ready" ] || { not_ok "the test API server did not start" "$(cat "$tmp/server.log")"; exit 1; }
# Credentials the way a service account has them: a token file, re-read.
cat > "$tmp/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: t
  cluster: {server: "https://127.0.0.1:$(cat "$tmp/api/port")", certificate-authority: $tmp/api/ca.crt}
users:
- name: t
  user: {tokenFile: $tmp/api/token}
contexts:
- name: t
  context: {cluster: t, user: t}
current-context: t
KC

# ---- 1. initial sync

start_agent
if wait_ready; then ok "ready after the first sync"; else not_ok "not ready within 10 s" "$(tail -n 5 "$tmp/agent.log")"; fi
[ "$(state "d['endpoints']['bound']")" = 3 ] && ok "3 local pods bound to their veths" ||
	not_ok "bound: $(state "d['endpoints']")"
expect web 198.18.64.11 5432 allowed "policy allows web"
expect web 198.18.64.11 5433 denied "policy denies another port"
expect other 198.18.64.11 5432 denied "policy denies another pod"
expect db 198.18.64.10 80 allowed "an unselected pod is open"
out=$(nsenter --net="/run/netns/$node" "$npbpf" status --pin-dir "$pins" --state-file "$tmp/agent.json" 2>&1)
echo "$out" | grep -q "state: running" && echo "$out" | grep -q "api_server: https://127.0.0.1" &&
	ok "status shows the agent" || not_ok "status shows no agent" "$out"
m=$(curl -s "127.0.0.1:$port/metrics")
missing=
for f in npbpf_verdicts_total npbpf_map_entries npbpf_map_capacity npbpf_identities \
	npbpf_local_endpoints npbpf_api_events_total npbpf_relists_total \
	npbpf_sync_duration_seconds_bucket npbpf_event_to_enforced_seconds_bucket \
	npbpf_last_resource_version; do
	echo "$m" | grep -q "^$f" || missing="$missing $f"
done
[ -z "$missing" ] && ok "/metrics has every family" || not_ok "/metrics lacks$missing"
[ "$(curl -s "127.0.0.1:$port/healthz")" = ok ] && [ "$(curl -s "127.0.0.1:$port/readyz")" = ok ] &&
	ok "/healthz and /readyz answer ok" || not_ok "/healthz or /readyz not ok"

# ---- 2. changes through the API

apply "$(pol_json prod db-ingress '{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"web"}}}],"ports":[{"port":5432},{"port":5433}]}]}')"
expect web 198.18.64.11 5433 allowed "policy changed: a port added"
apply "$(pod_json prod web '{"app":"web2"}' node-a 198.18.64.10)"
expect web 198.18.64.11 5432 denied "pod label changed: no longer selected"
apply "$(pod_json prod web '{"app":"web"}' node-a 198.18.64.10)"
expect web 198.18.64.11 5432 allowed "pod label back"
apply "$(pol_json prod db-from-team '{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"c"}}}]}]}')"
expect other 198.18.64.11 5432 denied "namespace not yet labelled"
apply "$(ns_json dev '{"kubernetes.io/metadata.name":"dev","team":"c"}')"
expect other 198.18.64.11 5432 allowed "namespace label changed: now allowed"

# ---- 3. a veth before its pod: isolated, then enforced by its policy

make_pod late 198.18.64.13 0e:6e:70:00:00:0d
serve late 198.18.64.13 80
sleep 1
expect late 198.18.64.10 80 denied "a veth whose pod is unknown drops what it sends"
apply "$(pod_json prod late '{"app":"web"}' node-a 198.18.64.13)"
expect late 198.18.64.11 5432 allowed "its pod arrived: judged by its policy"
expect late 198.18.64.12 80 allowed "its pod arrived: unisolated egress"

# ---- 3b. npbpf-cni's announcement: a pod whose addresses the API does not
# have yet (the kubelet reports them after the CNI ADD returns) is bound by
# the veth the plugin names, with the addresses it names.

pending_pod_json() { # NS NAME LABELS_JSON NODE
	printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","labels":%s},"spec":{"nodeName":"%s","containers":[{"name":"c"}]},"status":{"phase":"Pending"}}' \
		"$2" "$1" "$3" "$4"
}
cni_add() { # NS POD IFINDEX ADDR TIMEOUT_MS -> the agent's reply line
	"$py" - "$tmp/cni.sock" "$@" <<'PY'
import json, socket, sys, time
path, ns, pod, ifindex, addr, timeout = sys.argv[1:7]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(int(timeout) / 1000 + 5)
s.connect(path)
t0 = time.monotonic()
s.sendall((json.dumps({"op": "add", "namespace": ns, "pod": pod, "containerId": "c1",
                       "ifindex": int(ifindex), "addrs": [addr], "timeoutMs": int(timeout)}) + "\n").encode())
reply = b""
while not reply.endswith(b"\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
print(reply.decode().strip(), "%.0f" % ((time.monotonic() - t0) * 1000))
PY
}
apply "$(pending_pod_json prod cnipod '{"app":"web"}' node-a)"
make_pod cnipod 198.18.64.14 0e:6e:70:00:00:0e
cni_veth=$(ip -n "$(pod_ns cnipod)" -o link show eth0 | sed -n 's/.*@if\([0-9]*\).*/\1/p')
reply=$(cni_add prod cnipod "$cni_veth" 198.18.64.14 3000)
case $reply in
*'"state":"bound"'*) ok "npbpf-cni's ADD answered bound: ${reply##* } ms" ;;
*) not_ok "npbpf-cni's ADD: $reply" ;;
esac
expect cnipod 198.18.64.11 5432 allowed "a pod bound by announcement is judged by its policy"
apply "$(pending_pod_json prod cnipod '{"app":"tool"}' node-a)"
expect cnipod 198.18.64.11 5432 denied "and follows its label changes"
reply=$(cni_add prod nosuchpod 999999 198.18.64.15 500)
case $reply in
*'"state":"pending"'*) ok "an announced pod the API does not know: pending at its timeout" ;;
*) not_ok "an unknown pod's ADD: $reply" ;;
esac

# ---- 4. deletions

"$py" "$apictl" --dir "$tmp/api" delete NetworkPolicy prod db-from-team >/dev/null
expect other 198.18.64.11 5432 denied "policy deleted"
"$py" "$apictl" --dir "$tmp/api" delete Pod prod late >/dev/null
expect late 198.18.64.10 80 denied "pod deleted: its veth is isolated again"

# ---- 5. faults

# A deletion while the agent's watches are stalled, then history compacted
# and the watches dropped: the agent's resourceVersion is gone (410), it
# relists and must notice the deletion it never saw as an event.
before=$(curl -s "127.0.0.1:$port/metrics" | awk '/^npbpf_relists_total.*reason="gone"/ {s += $2} END {print s + 0}')
faults '{"stall_watches": true}'
# Two changes, so that a compaction leaves a gap after any version a watch
# had reached (one would be the history's base, still served).
apply "$(ns_json dev '{"kubernetes.io/metadata.name":"dev","team":"c","gap":"1"}')"
"$py" "$apictl" --dir "$tmp/api" delete NetworkPolicy prod db-ingress >/dev/null
"$py" "$apictl" --dir "$tmp/api" compact >/dev/null
# Dropped while still stalled, so no watch of before the compaction survives
# to deliver the deletion as an event: the agent's new watches (from its old
# resourceVersion) get 410 once the stall ends.
faults '{"drop_watches": true}'
sleep 1
faults '{"stall_watches": false}'
expect other 198.18.64.11 5432 allowed "deleted during a gap: found by the relist after 410"
after=$(curl -s "127.0.0.1:$port/metrics" | awk '/^npbpf_relists_total.*reason="gone"/ {s += $2} END {print s + 0}')
[ "$after" -gt "$before" ] && ok "a relist for 410 is counted ($before -> $after)" ||
	not_ok "no relist counted for the 410 ($before -> $after)" "$(grep -i 'relist\|410\|gone\|watch' "$tmp/agent.log" | tail -n 12)"

faults '{"status_429": 3, "retry_after_s": 1, "status_500": 2, "drop_watches": true}'
apply "$(pol_json prod db-ingress '{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"web"}}}],"ports":[{"port":5432}]}]}')"
expect other 198.18.64.11 5432 denied "changes arrive through 429s and 500s"

faults '{"split_bytes": true, "drop_watches": true}'
apply "$(pod_json dev other '{"app":"web"}' node-a 198.18.64.12)"
expect other 198.18.64.11 5432 denied "split into single bytes: the pod is web now, but in dev"
faults '{"split_bytes": false}'

"$py" "$apictl" --dir "$tmp/api" rotate-token --grace 0 >/dev/null
faults '{"drop_watches": true}'
apply "$(pol_json prod db-ingress '{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"namespaceSelector":{}}]}]}')"
expect other 198.18.64.11 5432 allowed "after a token rotation (401, token file re-read)"

# A NetworkPolicy the decoders refuse (the API server accepted it) is
# enforced as a deny-all of its namespace until fixed: fail-closed.
expect web 198.18.64.11 5432 allowed "before an unreadable policy"
apply "$(pol_json prod broken '{"podSelector":{},"ingress":[{"ports":[{"port":70000}]}]}')"
expect web 198.18.64.11 5432 denied "an unreadable policy isolates its namespace"
grep -q "prod/broken.*fail-closed" "$tmp/agent.log" && ok "the unreadable policy is logged by name, as deny-all" ||
	not_ok "the unreadable policy is not named in the log"
"$py" "$apictl" --dir "$tmp/api" delete NetworkPolicy prod broken >/dev/null
expect web 198.18.64.11 5432 allowed "its deletion lifts the isolation"
apply "$(pol_json prod deny-web '{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress"]}')"
expect db 198.18.64.10 80 denied "a valid policy after it is enforced"
kill -0 "$agent_pid" && ok "the agent survives invalid objects" || not_ok "the agent died"

# ---- 6. other nodes' pods: the incremental path, checked by full syncs

metric() { curl -s "127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
ipc_has() { # ADDR -> the identity label the ipcache gives it, or nothing
	nsenter --net="/run/netns/$node" "$npbpf" status ipcache --pin-dir "$pins" -o json 2>/dev/null |
		"$py" -c "
import json, sys
for e in json.load(sys.stdin):
    if e['prefix'] == '$1':
        print(e['label'])" 2>/dev/null
}
caught_up
applies0=$(metric npbpf_incremental_applies_total)
syncs0=$(state "d['last_sync']['syncs']")
# Existing label sets only (app=web in prod exists: prod/far on node-b), so
# each change is ipcache-only; a relabel to another existing set too.
for i in $(seq 1 12); do
	apply "$(pod_json prod "far$i" '{"app":"web"}' node-b "198.18.65.$((20 + i))")"
	sleep 0.05
done
for i in $(seq 1 6); do
	apply "$(pod_json prod "far$i" '{"app":"db"}' node-b "198.18.65.$((20 + i))")"
	sleep 0.05
done
for i in $(seq 7 12); do
	"$py" "$apictl" --dir "$tmp/api" delete Pod prod "far$i" >/dev/null
	sleep 0.05
done
caught_up
sleep 6 # the check: a full sync within 5 s of the incremental ones (and a quiet second)
applies1=$(metric npbpf_incremental_applies_total)
mism=$(metric npbpf_incremental_mismatches_total)
syncs1=$(state "d['last_sync']['syncs']")
# The check reads the maps back: they must equal both what a full compile
# of the store wants and the state the agent keeps of them between syncs
# (every sync before diffed against that state, not the maps): a difference
# in either counts as a mismatch below.
[ "${syncs1:-0}" -gt "${syncs0:-0}" ] && ok "a full sync checked the incremental writes ($syncs0 -> $syncs1 syncs)" ||
	not_ok "no full sync after the incremental writes ($syncs0 -> $syncs1)"
[ "${applies1%.*}" -gt "${applies0%.*}" ] && ok "pod changes of other nodes took the incremental path ($applies0 -> $applies1 batches)" ||
	not_ok "no incremental apply ($applies0 -> $applies1)"
[ "${mism%.*}" = 0 ] && ok "the full syncs after them found nothing to write (0 mismatches)" ||
	not_ok "the incremental path missed writes: $mism mismatches" "$(grep -i incremental "$tmp/agent.log" | tail -n 3)"
got=$(ipc_has 198.18.65.21)
case $got in *app=db*) ok "a relabelled remote pod's address has its new identity: $got" ;;
	*) not_ok "198.18.65.21 is '$got', want the prod app=db identity" ;; esac
got=$(ipc_has 198.18.65.30)
[ -z "$got" ] && ok "a deleted remote pod's address left the ipcache" ||
	not_ok "198.18.65.30 still in the ipcache: $got"

# ---- 7. stop and restart

caught_up || not_ok "the agent did not catch up with the server"
kill -TERM "$agent_pid"
wait "$agent_pid"
rc=$?
agent_pid=
[ "$rc" -eq 0 ] && ok "SIGTERM: clean exit" || not_ok "SIGTERM: exit $rc"
expect db 198.18.64.10 80 denied "agent stopped: the node keeps enforcing"
expect web 198.18.64.11 5432 allowed "agent stopped: allowed flows still pass"
start_agent
if wait_ready; then ok "restarted and ready"; else not_ok "not ready after restart"; fi
writes=$(state "d['last_sync']['map_writes']")
[ "$writes" = 0 ] && ok "restart with nothing changed: 0 map writes" ||
	not_ok "restart with nothing changed: $writes map writes"
grep -q "datapath adopted" "$tmp/agent.log" && ok "the restarted agent adopted the pinned state" ||
	not_ok "the restarted agent did not adopt"

echo "1..$n"
[ "$failed" -eq 0 ]
