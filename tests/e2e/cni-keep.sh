#!/usr/bin/env bash
# `npbpf lab --cni --keep`, then `lab down`: the node state a CNI leaves.
#
#   cni-keep.sh NPBPF_BINARY E2E_DIR [SCENARIO]
#
# With the lab kept: host-local's data directory (private to the lab, under
# /run/npbpf-lab/ID.cni/ipam) holds one allocation per pod address, the CNI
# cache (ID.cni/results, libcni's cniCacheV1 entries) one result per pod
# naming the pod's host veth (the bridge plugin's vethXXXXXXXX, as the lab
# reports it) and its addresses, and the pods' eth0 MACs are the ones the
# endpoint records were given. After `lab down`: DEL ran through the chain
# once per pod (its debug lines), the lab's check that host-local released
# every address passed (exit 0), and nothing of the lab is left.
#
# Needs root and containernetworking-plugins: skips (77) without, fails
# when CI=true.

set -u

[ "$#" -ge 2 ] || { echo "usage: $0 NPBPF_BINARY E2E_DIR [SCENARIO]" >&2; exit 2; }
npbpf=$1
case $npbpf in /*) ;; *) npbpf=$PWD/$npbpf ;; esac
dir=$2
scenario=${3:-upstream-deny-all-ingress}
state_dir=/run/npbpf-lab
PATH=$PATH:/usr/sbin:/sbin
export PATH

skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: cni-keep: $1, and CI=true forbids skipping" >&2
		exit 1
	fi
	echo "SKIP: cni-keep: $1" >&2
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "the lab needs root"
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] ||
	skip "no CNI plugins in /usr/lib/cni (apt-get install containernetworking-plugins)"

cd "$dir" || exit 2
read -r -a args < "$scenario/args" || exit 2
tmp=$(mktemp -d /tmp/npbpf-cni-keep.XXXXXX) || exit 1
lab_id=
cleanup() {
	[ -n "$lab_id" ] && "$npbpf" lab down "$lab_id" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' TERM INT

fail() {
	echo "FAIL: cni-keep: $*" >&2
	exit 1
}

"$npbpf" lab "${args[@]}" --cni --keep -o json > "$tmp/lab.json" 2> "$tmp/lab.err" ||
	{ cat "$tmp/lab.err" >&2; fail "npbpf lab --cni --keep exited with $?"; }
lab_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lab"]["id"])' "$tmp/lab.json") ||
	fail "no lab id in the JSON"
cni_dir=$state_dir/$lab_id.cni
[ -d "$cni_dir" ] || fail "no CNI directory $cni_dir"

python3 - "$tmp/lab.json" "$cni_dir" <<'EOF' || fail "kept lab's CNI state (above)"
import ipaddress, json, os, subprocess, sys

lab = json.load(open(sys.argv[1]))
cni_dir = sys.argv[2]
ipam = os.path.join(cni_dir, "ipam", "npbpf-lab")
held = {}
for name in os.listdir(ipam):
    try:
        held[ipaddress.ip_address(name)] = open(os.path.join(ipam, name)).read()
    except ValueError:
        pass  # lock, last_reserved_ip.N
bad = 0
pods = lab.get("pods", [])
if not pods:
    print("the lab reports no pods", file=sys.stderr)
    sys.exit(1)
cached = {}
for f in os.listdir(os.path.join(cni_dir, "results")):
    e = json.load(open(os.path.join(cni_dir, "results", f)))
    if e.get("kind") != "cniCacheV1" or e.get("ifName") != "eth0":
        print("cache entry %s is not libcni's cniCacheV1 for eth0" % f, file=sys.stderr)
        bad += 1
    cached[e["containerId"]] = e
for p in pods:
    addrs = [ipaddress.ip_address(a) for a in p["addresses"]]
    for a in addrs:
        if a not in held:
            print("host-local holds no allocation for %s (%s)" % (a, p["name"]), file=sys.stderr)
            bad += 1
        elif p["netns"] not in held[a]:
            print("%s is allocated to %r, not %s" % (a, held[a], p["netns"]), file=sys.stderr)
            bad += 1
    e = cached.get(p["netns"])
    if not e:
        print("no cached result for %s (%s)" % (p["name"], p["netns"]), file=sys.stderr)
        bad += 1
        continue
    r = e["result"]
    host = [i["name"] for i in r["interfaces"] if not i.get("sandbox") and i["name"] != "cni0"]
    if host != [p["host_veth"]] or not p["host_veth"].startswith("veth"):
        print("%s: cached host veth %s, the lab reports %s" % (p["name"], host, p["host_veth"]),
              file=sys.stderr)
        bad += 1
    got = sorted(str(ipaddress.ip_interface(i["address"]).ip) for i in r["ips"])
    if got != sorted(str(a) for a in addrs):
        print("%s: cached addresses %s, the lab reports %s" % (p["name"], got, p["addresses"]),
              file=sys.stderr)
        bad += 1
    mac = [i["mac"] for i in r["interfaces"] if i.get("sandbox")]
    link = json.loads(subprocess.run(["ip", "-n", p["netns"], "-j", "link", "show", "eth0"],
                                     check=True, capture_output=True, text=True).stdout)[0]
    if mac != [link["address"]]:
        print("%s: cached eth0 MAC %s, eth0 has %s" % (p["name"], mac, link["address"]),
              file=sys.stderr)
        bad += 1
if len(held) != sum(len(p["addresses"]) for p in pods):
    print("host-local holds %d addresses for %d pod addresses" %
          (len(held), sum(len(p["addresses"]) for p in pods)), file=sys.stderr)
    bad += 1
print("ok: %d pods, %d allocations, %d cached results" % (len(pods), len(held), len(cached)))
sys.exit(1 if bad else 0)
EOF

n_pods=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["pods"]))' "$tmp/lab.json")
"$npbpf" -vv lab down "$lab_id" > /dev/null 2> "$tmp/down.err" ||
	{ cat "$tmp/down.err" >&2; fail "lab down exited with $? (host-local still holding addresses is an error)"; }
dels=$(grep -c 'lab: CNI DEL npbpf-lab-' "$tmp/down.err")
[ "$dels" -eq "$n_pods" ] || { cat "$tmp/down.err" >&2; fail "$dels CNI DELs for $n_pods pods"; }
lab_id_done=$lab_id
lab_id=
[ ! -e "$cni_dir" ] || fail "$cni_dir is left"
[ ! -e "$state_dir/$lab_id_done.state" ] || fail "the state file is left"
if ip netns list | grep -q "npbpf-lab-$lab_id_done-"; then
	fail "namespaces of lab $lab_id_done are left"
fi
echo "ok: lab down ran DEL for $dels pods and released every address"
