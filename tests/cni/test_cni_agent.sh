#!/usr/bin/env bash
# The CNI chain with the REAL agent (tracker issue 11, section 3): bridge +
# host-local + npbpf-cni called as libcni calls them (runtime.py), the npbpf
# agent against the test API server (tests/apiserver), on a node netns whose
# cni0 the bridge plugin creates. Pods are made the way the kubelet makes
# them: the Pod object (Pending, no podIPs) first, then the CNI ADD, then
# status.podIPs and phase Running. Real packets (flood.py) check that a new
# pod is never reachable by a denied peer, neither before nor after its
# binding, nor while the agent is down, and that an established flow lives
# through an agent SIGKILL and restart.
#
#   test_cni_agent.sh NPBPF NPBPF_CNI
#
# Root only (skips without it; fails under CI=true). Everything it makes is
# named npcag-<pid>-*, and removed on exit, on failure too. Addresses only
# from 198.18.0.0/15. $CNI_AGENT_FIGURES, when set, gets the ADD latency.
set -u

npbpf=$1
cni=$2
case $npbpf in /*) ;; *) npbpf=$PWD/$npbpf ;; esac
case $cni in /*) ;; *) cni=$PWD/$cni ;; esac
here=$(cd "$(dirname "$0")" && pwd)
apiserver=$here/../apiserver/apiserver.py
apictl=$here/../apiserver/apictl.py
flood=$here/flood.py
# The Debian interpreter: a pyenv shim in front of it costs a second per start.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
plugins=/usr/lib/cni

skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - $1, and CI=true forbids skipping"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip_or_fail "the CNI agent test needs root"
[ -x $plugins/bridge ] && [ -x $plugins/host-local ] ||
	skip_or_fail "containernetworking-plugins is not installed (scripts/setup.sh)"

p=npcag-$$
node=$p-node
pins=/sys/fs/bpf/$p
tmp=$(mktemp -d)
bindir=$tmp/bin
sock=$tmp/cni.sock
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=
agent_pid=
bg_pids=()
planned=false
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
# todo DESCRIPTION DETAILS...: a failure of the product, reported, not hidden.
todo() {
	n=$((n + 1))
	echo "not ok $n - $1 # TODO product: see the lines below"
	shift
	[ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/# /'
	return 0
}
# mark TEXT: a line in the agent's log, to read its lines against the test's.
mark() { echo "--- test $(date -u +%T.%N | cut -c1-12): $*" >>"$tmp/agent.log"; }

stop_agent() { # SIGNAL
	if [ -n "$agent_pid" ]; then
		mark "SIG${1:-TERM} to the agent"
		kill "-${1:-TERM}" "$agent_pid" 2>/dev/null
		wait "$agent_pid" 2>/dev/null
		agent_pid=
	fi
}
cleanup() {
	exec 2>/dev/null # no job notices for the helpers killed here
	$planned || echo "1..$n"
	local pid ns
	for pid in "${bg_pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
	stop_agent TERM
	[ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	for ns in $(ip netns list | awk '{print $1}' | grep "^$p-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$pins"
	if [ "$failed" -gt 0 ] && [ -f "$tmp/agent.log" ]; then
		echo "# agent log (last 80 lines):"
		tail -n 80 "$tmp/agent.log" | sed 's/^/#   /'
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the API server: namespace prod, the policies.

ns_json() { # NAME LABELS_JSON
	printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","labels":%s}}' "$1" "$2"
}
pol_json() { # NS NAME SPEC_JSON
	printf '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"%s","namespace":"%s"},"spec":%s}' "$2" "$1" "$3"
}
# pod_json NAME LABELS_JSON [IP]: without IP, as the kubelet creates it
# (Pending, no podIPs); with IP, as it reports it after the CNI ADD.
pod_json() {
	if [ -z "${3:-}" ]; then
		printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"prod","labels":%s},"spec":{"nodeName":"node-a","containers":[{"name":"c"}]},"status":{"phase":"Pending"}}' "$1" "$2"
	else
		printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"prod","labels":%s},"spec":{"nodeName":"node-a","containers":[{"name":"c"}]},"status":{"phase":"Running","podIP":"%s","podIPs":[{"ip":"%s"}]}}' "$1" "$2" "$3" "$3"
	fi
}
apply() { printf '%s\n' "$1" >"$tmp/obj.json" && "$py" "$apictl" --dir "$tmp/api" apply "$tmp/obj.json" >/dev/null; }
api_delete() { "$py" "$apictl" --dir "$tmp/api" delete Pod prod "$1" >/dev/null; }

mkdir -p "$tmp/api" "$bindir" "$tmp/cache"
{
	echo '{"items":['
	ns_json prod '{"kubernetes.io/metadata.name":"prod","team":"a"}'
	echo ,
	# db: TCP 5432 from web; UDP 7001 from the victims (so that only the
	# victims' egress policy can stop what they send there).
	pol_json prod db-ingress '{"podSelector":{"matchLabels":{"app":"db"}},"policyTypes":["Ingress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"web"}}}],"ports":[{"protocol":"TCP","port":5432}]},{"from":[{"podSelector":{"matchLabels":{"app":"victim"}}}],"ports":[{"protocol":"UDP","port":7001}]}]}'
	echo ,
	# victim: in only from web on UDP 7000, out only to web.
	pol_json prod victim '{"podSelector":{"matchLabels":{"app":"victim"}},"policyTypes":["Ingress","Egress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"web"}}}],"ports":[{"protocol":"UDP","port":7000}]}],"egress":[{"to":[{"podSelector":{"matchLabels":{"app":"web"}}}]}]}'
	echo ']}'
} >"$tmp/seed.json"
"$py" "$apiserver" --dir "$tmp/api" --seed-file "$tmp/seed.json" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do [ -f "$tmp/api/ready" ] && break; sleep 0.1; done
[ -f "$tmp/api/ready" ] || { not_ok "the test API server did not start" "$(cat "$tmp/server.log")"; exit 1; }
cat >"$tmp/kubeconfig" <<KC
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

# ---- the node (no bridge: the bridge plugin makes cni0), the agent.

ip netns add "$node" || { not_ok "cannot create a network namespace"; exit 1; }
ip -n "$node" link set lo up
ln -s $plugins/bridge $plugins/host-local "$bindir"/
ln -s "$cni" "$bindir/npbpf-cni"
cat >"$tmp/net.conflist" <<J
{"cniVersion": "1.0.0", "name": "npcag",
 "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$tmp/ipam", "ranges": [[{"subnet": "198.18.64.0/24"}]]}},
  {"type": "npbpf-cni", "pinDir": "$pins", "agentSocket": "$sock", "timeoutMs": 3000,
   "logFile": "$tmp/cni.log"}
 ]}
J

state() { "$py" -c "import json,sys; d=json.load(open('$tmp/agent.json')); print($1)" 2>/dev/null; }
start_agent() {
	mark "agent start"
	"$npbpf" agent --node node-a --kubeconfig "$tmp/kubeconfig" --node-netns "/run/netns/$node" \
		--pin-dir "$pins" --state-file "$tmp/agent.json" --listen "127.0.0.1:$port" \
		--cni-socket "$sock" >>"$tmp/agent.log" 2>&1 &
	agent_pid=$!
}
wait_ready() { # up to 20 s: a loaded 2-core VM
	for _ in $(seq 1 200); do
		[ "$(state "d['ready'] and d['pid'] == $agent_pid")" = True ] && return 0
		kill -0 "$agent_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
start_agent
if wait_ready; then ok "the agent is ready (pid $agent_pid)"; else
	not_ok "the agent is not ready within 20 s" "$(tail -n 10 "$tmp/agent.log")"
	exit 1
fi

# ---- pods, the kubelet's way.

pns() { echo "$p-$1"; }
in_pod() { local w=$1; shift; nsenter --net="/run/netns/$(pns "$w")" "$@"; }
in_node() { nsenter --net="/run/netns/$node" "$@"; }
netns_pod() { ip netns add "$(pns "$1")" && ip -n "$(pns "$1")" link set lo up; }
rt() { # COMMAND POD: the runtime's call; result on stdout, stderr into $tmp/rt.err
	in_node "$py" "$here/runtime.py" "$1" "$tmp/net.conflist" --id "$p-$2" \
		--netns "/run/netns/$(pns "$2")" --args "IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=$2" \
		--cni-path "$bindir" --cache "$tmp/cache" --timing "$tmp/timing" 2>"$tmp/rt.err"
}
declare -A ip_of
# create_pod NAME LABELS [NO_NETNS]: Pod object, ADD, podIPs. Sets $add_ms,
# $add_res, ip_of[NAME]. NO_NETNS: the netns exists already.
create_pod() {
	local name=$1 lab=$2 t0 t1
	[ -n "${3:-}" ] || netns_pod "$name" || return 1
	apply "$(pod_json "$name" "$lab")" || return 1
	t0=$(date +%s%N)
	add_res=$(rt ADD "$name")
	local rc=$?
	t1=$(date +%s%N)
	add_ms=$(((t1 - t0) / 1000000))
	[ $rc -eq 0 ] || return 1
	ip_of[$name]=$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$add_res") || return 1
	apply "$(pod_json "$name" "$lab" "${ip_of[$name]}")"
}
host_veth() {
	local peer
	peer=$(ip -n "$(pns "$1")" -o link show eth0 2>/dev/null | sed -n 's/.*eth0@if\([0-9]*\).*/\1/p')
	ip -n "$node" -o link show 2>/dev/null | awk -F': ' -v i="$peer" '$1 == i { sub(/@.*/, "", $2); print $2 }'
}
# The pod bound to a host veth, from `npbpf status endpoints -o json`.
endpoint_pod() { # VETH
	in_node "$npbpf" status endpoints --pin-dir "$pins" -o json 2>"$tmp/status.err" >"$tmp/status.json"
	"$py" - "$1" "$tmp/status.json" <<'PY'
import json, sys
veth, path = sys.argv[1:3]
for e in json.load(open(path)):
    names = {str(v) for v in e.values() if isinstance(v, (str, int))}
    if veth in names:
        print(" ".join(str(e.get(k)) for k in ("pod", "namespace", "name", "identity", "label", "labels") if e.get(k) is not None) or json.dumps(e))
        break
PY
}
bound() { state "d['endpoints']['bound']"; }
wait_bound() { # N: up to 10 s for the state file to show N bound
	for _ in $(seq 1 100); do [ "$(bound)" = "$1" ] && return 0; sleep 0.1; done
	return 1
}
bg() { "$@" & bg_pids+=($!); }
# counts FILE ADDR: datagrams a receiver counted from ADDR
counts() { "$py" -c 'import json,sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print(-1); sys.exit()
print(d["by_src"].get(sys.argv[2], {}).get("n", 0))' "$1" "$2"; }
jf() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }
# crossed RECV_FILE SRC POD T_ADD_START T_ADD_END: what crossed from SRC,
# when, against the ADD and npbpf-cni's "programs attached" (its logFile).
crossed() {
	"$py" - "$@" "$tmp/cni.log" <<'PY'
import datetime, json, sys
f, src, pod, t0, t1, log = sys.argv[1:7]
t0, t1 = float(t0), float(t1)
e = json.load(open(f))["by_src"].get(src)
att = None
for l in open(log):
    if "prod/%s: programs attached" % pod in l:
        att = datetime.datetime.strptime(l.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
def rel(t):
    return "ADD+%.3fs" % (t - t0)
def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
if not e:
    print("nothing from %s" % src)
else:
    print("%d datagrams from %s, the first at %s (%s), the last at %s (%s)" % (
        e["n"], src, iso(e["first"]), rel(e["first"]), iso(e["last"]), rel(e["last"])))
print("the ADD ran from %s to %s (%s); npbpf-cni attached its programs at %s" % (
    iso(t0), iso(t1), rel(t1), "%s (%s)" % (iso(att), rel(att)) if att else "(no log line)"))
if e and att:
    # read times: they lag the delivery a little (a burst is read in order)
    print("the first read %.1f ms, the last %.1f ms %s the attach log line" % (
        abs(e["first"] - att) * 1000, abs(e["last"] - att) * 1000,
        "before" if e["last"] < att else "around/after"))
PY
}

# ---- 1. ADD with the agent answering; latency over 20 pods.

: >"$tmp/timing"
bench_ok=true
pods1="db web tool"
for i in $(seq 1 17); do pods1="$pods1 b$i"; done
declare -A lab1=([db]='{"app":"db"}' [web]='{"app":"web"}' [tool]='{"app":"tool"}')
k=0
bad_res=
for w in $pods1; do
	before=$(bound)
	if ! create_pod "$w" "${lab1[$w]:-{\"app\":\"bench\"\}}"; then
		bench_ok=false
		not_ok "ADD of $w with the agent running" "$add_res" "$(tail -n 5 "$tmp/rt.err")"
		break
	fi
	k=$((k + 1))
	[ "$("$py" -c 'import json,sys; d = json.loads(sys.argv[1]); print(d["cniVersion"], len(d["ips"]), d["interfaces"][-1]["name"])' "$add_res")" = "1.0.0 1 eth0" ] ||
		bad_res="$bad_res $w:$add_res"
	grep -q 'bound to identity' "$tmp/rt.err" || bad_res="$bad_res $w:not-bound($(tail -n 2 "$tmp/rt.err" | tr '\n' ' '))"
done
if $bench_ok; then
	if [ -z "$bad_res" ]; then
		ok "20 ADDs through bridge + host-local + npbpf-cni: the bridge's result (1.0.0, an address, eth0), each bound by the agent"
	else
		not_ok "ADD results or bindings" "$bad_res"
	fi
	if wait_bound 20; then ok "the agent's state file: endpoints.bound = 20"; else
		not_ok "endpoints.bound is $(bound), want 20" "$(state "d['endpoints']")"
	fi
	veth_db=$(host_veth db)
	got=$(endpoint_pod "$veth_db")
	case " $got " in
	*db*) ok "npbpf status endpoints: $veth_db is prod/db ($got)" ;;
	*) not_ok "npbpf status endpoints does not show db on $veth_db" "$got" "$(head -c 600 "$tmp/status.json")" "$(cat "$tmp/status.err")" ;;
	esac
	figures=$(awk '$1 == "npbpf-cni" && $2 == "ADD" { print $3 }' "$tmp/timing" | sort -n |
		"$py" -c 'import sys
v = [float(x) * 1000 for x in sys.stdin]
def pct(p): return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]
b = sorted(float(l.split()[2]) * 1000 for l in open(sys.argv[1]) if l.startswith("bridge ADD"))
print(f"n={len(v)} p50={pct(50):.2f} ms p99={pct(99):.2f} ms max={v[-1]:.2f} ms "
      f"(bridge+host-local p50={b[len(b) // 2]:.2f} ms)")' "$tmp/timing")
	ok "npbpf-cni ADD latency with the real agent: $figures"
	echo "# npbpf-cni ADD latency, real agent: $figures"
	[ -n "${CNI_AGENT_FIGURES:-}" ] &&
		echo "$(date -u +%FT%TZ) npbpf-cni ADD with the real agent: $figures" >>"$CNI_AGENT_FIGURES"
else
	exit 1
fi
# The bench pods go (DEL, then the API deletion), leaving db, web, tool.
for i in $(seq 1 17); do
	rt DEL "b$i" >/dev/null
	api_delete "b$i"
	ip netns del "$(pns "b$i")"
done
if wait_bound 3; then ok "DEL of 17 pods: endpoints.bound back to 3"; else
	not_ok "after 17 DELs endpoints.bound is $(bound), want 3"
fi

# ---- 2. policy enforced at once.

bg in_pod db timeout 200 "$py" "$flood" echo-serve 5432 190
sleep 0.3
verdict() { in_pod "$1" timeout 6 "$py" "$here/../agent/probe.py" connect "$2" "$3" 2; }
got=$(verdict tool "${ip_of[db]}" 5432)
[ "$got" = denied ] && ok "tool -> db:5432 denied ($got)" || not_ok "tool -> db:5432 is $got, want denied"
got=$(verdict web "${ip_of[db]}" 5432)
[ "$got" = allowed ] && ok "web -> db:5432 allowed" || not_ok "web -> db:5432 is $got, want allowed"

# ---- 3. no window: a new pod's address under fire before it exists.

# next_ip: what host-local gives next (sequential after last_reserved_ip.0).
next_ip() {
	"$py" -c 'import ipaddress,sys
print(ipaddress.ip_address(open(sys.argv[1]).read().strip()) + 1)' "$tmp/ipam/npcag/last_reserved_ip.0"
}
# start_floods NAME SECONDS ADDR: the new pod's netns with a receiver (UDP
# 7000) and senders to db:7001 and web:7001 in it; receivers in db and web
# (UDP 7001); floods from tool and web to ADDR, the address it will get.
start_floods() {
	local v=$1 s=$2 want=$3
	netns_pod "$v"
	rm -f "$tmp/stop-$v"
	bg in_pod "$v" timeout $((s + 10)) "$py" "$flood" recv 7000 "$s" "$tmp/recv-$v.json" "$tmp/stop-$v"
	bg in_pod db timeout $((s + 10)) "$py" "$flood" recv 7001 "$s" "$tmp/dbrecv-$v.json" "$tmp/stop-$v"
	bg in_pod web timeout $((s + 10)) "$py" "$flood" recv 7001 "$s" "$tmp/webrecv-$v.json" "$tmp/stop-$v"
	bg in_pod tool timeout $((s + 10)) "$py" "$flood" send "$want" 7000 "$s" 20000 2 "$tmp/tool-$v.json" "$tmp/stop-$v"
	bg in_pod web timeout $((s + 10)) "$py" "$flood" send "$want" 7000 "$s" 20000 2 "$tmp/web-$v.json" "$tmp/stop-$v"
	bg in_pod "$v" timeout $((s + 10)) "$py" "$flood" send "${ip_of[db]}" 7001 "$s" 20000 2 "$tmp/vdb-$v.json" "$tmp/stop-$v"
	bg in_pod "$v" timeout $((s + 10)) "$py" "$flood" send "${ip_of[web]}" 7001 "$s" 20000 20 "$tmp/vweb-$v.json" "$tmp/stop-$v"
	for _ in $(seq 1 100); do
		[ -f "$tmp/recv-$v.json" ] && [ -f "$tmp/dbrecv-$v.json" ] && [ -f "$tmp/webrecv-$v.json" ] &&
			[ -f "$tmp/tool-$v.json" ] && [ -f "$tmp/web-$v.json" ] && return 0
		sleep 0.1
	done
	return 1
}
stop_floods() { # NAME
	touch "$tmp/stop-$1"
	sleep 0.5
}
# wait_count FILE ADDR MIN SECONDS
wait_count() {
	local i
	for i in $(seq 1 $((${4} * 10))); do
		[ "$(counts "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

want=$(next_ip)
if start_floods victim 30 "$want"; then
	sleep 1 # the floods run before the pod exists
	t_add=$(date +%s.%N)
	create_pod victim '{"app":"victim"}' existing
	rc=$?
	t_end=$(date +%s.%N)
	if [ $rc -eq 0 ]; then
		[ "${ip_of[victim]}" = "$want" ] &&
			ok "victim: ADD under fire in $add_ms ms, got the predicted $want, bound: $(grep -o 'bound to identity [0-9]*' "$tmp/rt.err")" ||
			not_ok "victim got ${ip_of[victim]}, the floods aim at $want (prediction failed)"
	else
		not_ok "victim: ADD failed" "$add_res" "$(tail -n 5 "$tmp/rt.err")"
	fi
	wait_count "$tmp/recv-victim.json" "${ip_of[web]}" 20 10
	wait_count "$tmp/webrecv-victim.json" "${ip_of[victim]}" 5 10
	sleep 3 # a while of steady state
	stop_floods victim
	r=$tmp/recv-victim.json
	from_tool=$(counts "$r" "${ip_of[tool]}")
	from_web=$(counts "$r" "${ip_of[web]}")
	tool_sent=$(jf "$tmp/tool-victim.json" 'd["sent"]')
	web_sent=$(jf "$tmp/web-victim.json" 'd["sent"]')
	first_web=$(jf "$r" "round(d['by_src']['${ip_of[web]}']['first'] - $t_add, 3)")
	if [ "$from_tool" = 0 ]; then
		ok "no window: 0 of $tool_sent datagrams from tool (denied) reached the new pod"
	else
		todo "no window: $from_tool of $tool_sent datagrams from tool (denied) reached the new pod" \
			"$(crossed "$r" "${ip_of[tool]}" victim "$t_add" "$t_end")"
	fi
	[ "$from_web" -gt 0 ] 2>/dev/null &&
		ok "web (allowed) reaches the new pod: $from_web of $web_sent datagrams, the first ${first_web}s after the ADD began" ||
		not_ok "web's datagrams never reached the new pod ($from_web of $web_sent)"
	v2db=$(counts "$tmp/dbrecv-victim.json" "${ip_of[victim]}")
	v2web=$(counts "$tmp/webrecv-victim.json" "${ip_of[victim]}")
	vdb_sent=$(jf "$tmp/vdb-victim.json" 'd["sent"]')
	if [ "$v2db" = 0 ] && [ "$v2web" -gt 0 ] 2>/dev/null; then
		ok "the new pod's egress: 0 of $vdb_sent datagrams to db:7001 (denied), $v2web to web (allowed)"
	elif [ "$v2db" != 0 ]; then
		todo "the new pod's egress crossed: $v2db of $vdb_sent datagrams reached db:7001" \
			"$(crossed "$tmp/dbrecv-victim.json" "${ip_of[victim]}" victim "$t_add" "$t_end")"
	else
		not_ok "the new pod's allowed egress to web never arrived ($v2web)"
	fi
else
	not_ok "the floods did not start"
fi

# ---- 4. the agent down during the pod's creation: SIGTERM while npbpf-cni
# waits for it (its watches stalled by the API server, so that it cannot
# bind the pod before), started again later.

faults() { "$py" "$apictl" --dir "$tmp/api" faults "$1" >/dev/null; }
total_in() { jf "$1" 'sum(v["n"] for v in d["by_src"].values())'; }
want=$(next_ip)
if start_floods victim2 40 "$want"; then
	faults '{"stall_watches": true}'
	sleep 0.5 # a watch that read the flag before the write still delivers it
	mark "watches stalled; pod victim2 created (Pending)"
	apply "$(pod_json victim2 '{"app":"victim"}')"
	t_add=$(date +%s.%N)
	mark "ADD victim2"
	(
		rt ADD victim2 >"$tmp/add2.json"
		echo $? >"$tmp/add2.rc"
		date +%s.%N >"$tmp/add2.end"
	) &
	add_pid=$!
	bg_pids+=($add_pid)
	for _ in $(seq 1 50); do grep -q 'prod/victim2: programs attached' "$tmp/cni.log" && break; sleep 0.05; done
	sleep 0.3 # npbpf-cni now waits on the agent's socket
	t_term=$(date +%s.%N)
	early=$([ -f "$tmp/add2.rc" ] && echo yes)
	stop_agent TERM
	t_exit=$(date +%s.%N)
	wait "$add_pid"
	rc=$(cat "$tmp/add2.rc" 2>/dev/null || echo none)
	t_end=$(cat "$tmp/add2.end" 2>/dev/null || date +%s.%N)
	mark "ADD victim2 returned $rc"
	add_res=$(cat "$tmp/add2.json")
	faults '{"stall_watches": false}'
	ms=$("$py" -c "print(round(($t_end - $t_add) * 1000))")
	ms_term=$("$py" -c "print(round(($t_end - $t_term) * 1000), round(($t_exit - $t_term) * 1000))")
	if [ -n "$early" ] || grep -q 'victim2: bound' "$tmp/rt.err"; then
		not_ok "premise: the ADD of victim2 returned before the SIGTERM or bound (the agent saw the pod despite the stalled watches)" \
			"$(tail -n 3 "$tmp/rt.err")"
	elif [ "$rc" = 0 ] && grep -q 'starts isolated' "$tmp/rt.err"; then
		ok "agent SIGTERMed while npbpf-cni waited: ADD succeeds in $ms ms (${ms_term% *} ms after the SIGTERM; the agent took ${ms_term#* } ms to exit), the pod starts isolated: $(grep 'starts isolated' "$tmp/rt.err" | grep -o 'victim2: [^(]*' | head -n 1)"
	else
		not_ok "agent SIGTERMed during the ADD: rc=$rc" "$add_res" "$(tail -n 3 "$tmp/rt.err")"
	fi
	ip_of[victim2]=$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$add_res" 2>/dev/null)
	[ "${ip_of[victim2]}" = "$want" ] || not_ok "victim2 got '${ip_of[victim2]}', the floods aim at $want"
	# The kubelet reports the addresses, the agent still down.
	apply "$(pod_json victim2 '{"app":"victim"}' "${ip_of[victim2]}")"
	r=$tmp/recv-victim2.json
	during=$(total_in "$r")
	if [ "$during" = 0 ]; then
		ok "no window during the ADD: 0 datagrams (tool's or web's) reached victim2 before the ADD returned"
	else
		todo "no window during the ADD: $during datagrams reached victim2 before the ADD returned" \
			"$(crossed "$r" "${ip_of[tool]}" victim2 "$t_add" "$t_end")" \
			"web: $(jf "$r" "d['by_src'].get('${ip_of[web]}')")"
	fi
	in0=$(total_in "$r")
	out0=$(counts "$tmp/dbrecv-victim2.json" "${ip_of[victim2]}")
	outw0=$(counts "$tmp/webrecv-victim2.json" "${ip_of[victim2]}")
	sleep 4 # the agent down, the floods on the pod's address
	in1=$(total_in "$r")
	out1=$(counts "$tmp/dbrecv-victim2.json" "${ip_of[victim2]}")
	outw1=$(counts "$tmp/webrecv-victim2.json" "${ip_of[victim2]}")
	sent_t=$(jf "$tmp/tool-victim2.json" 'd["sent"]')
	if [ "$in1" = "$in0" ] && [ "$out1" = "$out0" ] && [ "$outw1" = "$outw0" ]; then
		ok "agent down 4 s after the ADD: victim2 (programs, a pending record) got 0 datagrams (tool and web flooding) and sent 0 out"
	else
		todo "agent down: datagrams crossed the isolated victim2 after its ADD" \
			"in: $in0 -> $in1 ($(jf "$r" 'd["by_src"]'))" "out to db: $out0 -> $out1, to web: $outw0 -> $outw1"
	fi
	v2veth=$(host_veth victim2)
	v2st=$(endpoint_pod "$v2veth")
	case "$v2st" in
	*pending*) ok "agent down: npbpf status endpoints shows victim2's $v2veth as pending ($v2st)" ;;
	*) not_ok "agent down: status does not show victim2 ($v2veth) as pending" "$v2st" "$(cat "$tmp/status.err")" ;;
	esac
	# The window with the agent down: K more pods made under fire, nothing
	# but npbpf-cni to attach the programs (after the bridge plugin has
	# wired and addressed the pod). Each new pod sends to db:7001 from
	# before its ADD (its own traffic: ARP that resolves the flooder's
	# pending neighbour entry), and tool floods every predicted address.
	K=6
	wl=$("$py" -c 'import ipaddress,sys
b = ipaddress.ip_address(open(sys.argv[1]).read().strip())
print(",".join(str(b + i) for i in range(1, int(sys.argv[2]) + 1)))' "$tmp/ipam/npcag/last_reserved_ip.0" $K)
	IFS=, read -r -a wants <<<"$wl"
	rm -f "$tmp/stop-w"
	for i in $(seq 1 $K); do
		netns_pod "w$i"
		bg in_pod "w$i" timeout 40 "$py" "$flood" recv 7000 30 "$tmp/recv-w$i.json" "$tmp/stop-w"
		bg in_pod "w$i" timeout 40 "$py" "$flood" send "${ip_of[db]}" 7001 30 20000 5 "$tmp/wsend-w$i.json" "$tmp/stop-w"
	done
	bg in_pod tool timeout 40 "$py" "$flood" send "$wl" 7000 30 30000 1 "$tmp/tool-w.json" "$tmp/stop-w"
	sleep 2
	wres=
	declare -A wt0 wt1
	for i in $(seq 1 $K); do
		wt0[$i]=$(date +%s.%N)
		mark "ADD w$i (agent down)"
		if create_pod "w$i" '{"app":"victim"}' existing; then
			wt1[$i]=$(date +%s.%N)
			[ "${ip_of[w$i]}" = "${wants[$((i - 1))]}" ] || wres="$wres w$i:got-${ip_of[w$i]}-want-${wants[$((i - 1))]}"
		else
			wt1[$i]=$(date +%s.%N)
			wres="$wres w$i:ADD-failed"
		fi
	done
	sleep 1.5
	touch "$tmp/stop-w"
	sleep 0.5
	[ -z "$wres" ] && ok "agent down: $K more pods ADDed under fire, each at its predicted address" ||
		not_ok "agent down: the window pods" "$wres"
	wx=0
	wdetail=()
	for i in $(seq 1 $K); do
		c=$(counts "$tmp/recv-w$i.json" "${ip_of[tool]}")
		e=$(counts "$tmp/dbrecv-victim2.json" "${ip_of[w$i]}")
		if [ "$c" != 0 ] || [ "$e" != 0 ]; then
			wx=$((wx + 1))
			wdetail+=("w$i (${ip_of[w$i]}): tool -> w$i $c, w$i -> db $e; $(crossed "$tmp/recv-w$i.json" "${ip_of[tool]}" "w$i" "${wt0[$i]}" "${wt1[$i]}" | tr '\n' ' ')")
		fi
	done
	wsent=$(jf "$tmp/tool-w.json" 'd["sent"]')
	if [ $wx = 0 ]; then
		ok "no window with the agent down: 0 of $wsent datagrams from tool reached any of the $K new pods, 0 from them reached db"
	else
		todo "the window with the agent down: $wx of $K new pods were reached by tool (denied) or reached db before npbpf-cni attached" "${wdetail[@]}"
	fi
	t_start=$(date +%s.%N)
	tool_before=$(counts "$r" "${ip_of[tool]}")
	start_agent
	wait_ready || not_ok "the restarted agent is not ready" "$(tail -n 5 "$tmp/agent.log")"
	if wait_count "$r" "${ip_of[web]}" $(($(counts "$r" "${ip_of[web]}") + 20)) 15; then
		first=$(jf "$r" "round(d['by_src']['${ip_of[web]}']['first'] - $t_start, 3)")
		ok "agent started: web's datagrams arrive at victim2 (the first ${first}s after the start)"
	else
		not_ok "agent started: web's datagrams do not arrive ($(counts "$r" "${ip_of[web]}"))" "$(state "d['endpoints']")"
	fi
	sleep 2
	stop_floods victim2
	tool_after=$(counts "$r" "${ip_of[tool]}")
	v2db=$(counts "$tmp/dbrecv-victim2.json" "${ip_of[victim2]}")
	if [ "$tool_after" = "$tool_before" ] && [ "$v2db" = "$out1" ]; then
		ok "after the agent's start: 0 more from tool (of $sent_t -> $(jf "$tmp/tool-victim2.json" 'd["sent"]') sent), victim2 -> db:7001 0 more"
	else
		todo "denied datagrams crossed after the agent's start" \
			"tool -> victim2: $tool_before -> $tool_after $(jf "$r" "d['by_src'].get('${ip_of[tool]}')") (agent started at $t_start)" \
			"victim2 -> db: $out1 -> $v2db"
	fi
else
	not_ok "the floods for victim2 did not start"
fi
[ -n "$agent_pid" ] || { start_agent; wait_ready; }

# ---- 5. SIGKILL and restart under traffic.

rm -f "$tmp/stop-k"
bg in_pod web timeout 80 "$py" "$flood" echo-client "${ip_of[db]}" 5432 70 "$tmp/echo.json" "$tmp/stop-k"
bg in_pod db timeout 80 "$py" "$flood" recv 7002 70 "$tmp/krecv.json" "$tmp/stop-k"
bg in_pod tool timeout 80 "$py" "$flood" send "${ip_of[db]}" 7002 70 30000 2 "$tmp/ksend.json" "$tmp/stop-k"
echo_ok() { jf "$tmp/echo.json" 'd["ok"]'; }
for _ in $(seq 1 50); do [ "$(echo_ok)" -gt 10 ] 2>/dev/null && break; sleep 0.1; done
e0=$(echo_ok)
if [ "${e0:-0}" -gt 10 ] 2>/dev/null; then
	stop_agent KILL
	sleep 3
	e1=$(echo_ok)
	start_agent
	if wait_ready; then ready=yes; else ready=no; fi
	sleep 3
	e2=$(echo_ok)
	touch "$tmp/stop-k"
	sleep 0.6
	err=$(jf "$tmp/echo.json" 'd["error"]')
	gap=$(jf "$tmp/echo.json" 'round(d["max_gap"], 3)')
	if [ "$err" = None ] && [ "$e1" -gt "$e0" ] && [ "$e2" -gt "$e1" ]; then
		ok "web -> db:5432 established: echoes go on through the SIGKILL ($e0 -> $e1) and the restart (-> $e2), max gap ${gap}s"
	else
		not_ok "the established connection broke" "echoes $e0 -> $e1 (killed) -> $e2 (restarted, ready: $ready), error: $err, max gap $gap"
	fi
	kt=$(counts "$tmp/krecv.json" "${ip_of[tool]}")
	[ "$kt" = 0 ] && ok "tool -> db:7002 flood through the kill and restart: 0 of $(jf "$tmp/ksend.json" 'd["sent"]') arrived" ||
		todo "tool -> db:7002 crossed: $kt datagrams" "$(jf "$tmp/krecv.json" "d['by_src']")"
	if [ "$ready" = yes ]; then
		writes=$(state "d['last_sync']['map_writes']")
		[ "$writes" = 0 ] && ok "the restarted agent adopted the pinned state: 0 map writes in its last sync" ||
			not_ok "the restarted agent's last sync made $writes map writes" "$(state "d['last_sync']")"
	else
		not_ok "the agent is not ready after the SIGKILL restart" "$(tail -n 5 "$tmp/agent.log")"
	fi
else
	not_ok "the echo connection web -> db:5432 did not start" "$(cat "$tmp/echo.json" 2>/dev/null)"
fi

echo "1..$n"
planned=true
[ "$failed" -eq 0 ]
