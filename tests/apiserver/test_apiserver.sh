#!/bin/bash
# Tests of the fake API server (tests/apiserver/apiserver.py) with the real
# kubectl and curl. TAP on stdout; exit status 1 when a check failed.
# Needs python3, openssl, curl, kubectl (Debian: kubernetes-client).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# /usr/bin/python3 first: a pyenv shim costs a second per call.
PY=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

# A missing tool skips the test, except under CI=true, where nothing may be skipped.
for tool in "$PY" openssl curl kubectl timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        if [ "${CI:-}" = true ]; then
            echo "1..1"; echo "not ok 1 - $tool not installed, and CI=true forbids skipping"
            exit 1
        fi
        echo "1..0 # SKIP $tool not installed"
        exit 0
    fi
done

D=$(mktemp -d /tmp/npbpf-apiserver-test.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$D"
}
trap cleanup EXIT

N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
notok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
# check NAME COMMAND...: ok when the command succeeds
check() { local name=$1; shift; if "$@" >"$D/check.out" 2>&1; then ok "$name"; else notok "$name" "$(head -c 600 "$D/check.out")"; fi; }

timeout 90 "$PY" "$HERE/apiserver.py" --dir "$D" --seed-file "$HERE/seed.json" \
    --bookmark-interval 0.5 2>"$D/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do [ -f "$D/ready" ] && break; sleep 0.1; done
if [ ! -f "$D/ready" ]; then
    echo "1..1"; echo "not ok 1 - server starts"; sed 's/^/#   /' "$D/server.err"; exit 1
fi

PORT=$(cat "$D/port")
URL=https://127.0.0.1:$PORT
export KUBECONFIG=$D/kubeconfig
K() { timeout 10 kubectl --cache-dir "$D/kcache" --request-timeout=8s "$@"; }
ctl() { timeout 10 "$PY" "$HERE/apictl.py" --dir "$D" "$@"; }
tok() { cat "$D/token"; }
# c ARGS...: curl with the CA and the current token
c() { timeout 10 curl -sS --cacert "$D/ca.crt" -H "Authorization: Bearer $(tok)" "$@"; }
# json EXPR: evaluate a Python expression on the JSON document on stdin (as d)
json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# events: one line per watch event on stdin: TYPE NAMESPACE/NAME RV [end]
events() {
    "$PY" -c '
import json, sys
for line in sys.stdin:
    if not line.strip():
        continue
    e = json.loads(line)
    m = e["object"].get("metadata", {})
    end = " end" if (m.get("annotations") or {}).get("k8s.io/initial-events-end") == "true" else ""
    if e["type"] == "ERROR":
        print("ERROR %s %s %s" % (e["object"]["code"], e["object"]["reason"], e["object"]["message"]))
    else:
        print("%s %s/%s %s%s" % (e["type"], m.get("namespace", ""), m.get("name", ""), m.get("resourceVersion"), end))
'
}
# adm OP [BODY|@-]: the admin interface with curl (lighter than apictl.py under load)
adm() {
    local op=$1; shift
    timeout 10 curl -sS --cacert "$D/ca.crt" ${1:+--data-binary "$1"} "$URL/_admin/$op"
}
del() { adm delete "{\"kind\":\"Pod\",\"namespace\":\"$1\",\"name\":\"$2\"}" >/dev/null; }
rv_now() { adm rv | sed 's/.*"resourceVersion":"\([0-9]*\)".*/\1/'; }
# wait_watches N: until N watches are open (at most 10 s)
wait_watches() {
    for _ in $(seq 100); do adm stats | grep -q "\"open_watches\":$1," && return 0; sleep 0.1; done
    return 1
}
pod() { # pod NS NAME NODE
    echo "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"$2\",\"namespace\":\"$1\",\"labels\":{\"app\":\"t\"}},\"spec\":{\"nodeName\":\"$3\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}"
}

echo "1..36"

# -- files and authentication -------------------------------------------------
check "ready, port, token, ca.crt and kubeconfig written" \
    test -s "$D/port" -a -s "$D/token" -a -s "$D/ca.crt" -a -s "$D/kubeconfig"

code=$(timeout 10 curl -s -o "$D/401.json" -w '%{http_code}' --cacert "$D/ca.crt" "$URL/api/v1/pods")
reason=$(json 'd["reason"]' <"$D/401.json" 2>/dev/null)
[ "$code" = 401 ] && [ "$reason" = Unauthorized ] && ok "401 Status without a token" ||
    notok "401 Status without a token" "code=$code reason=$reason"

code=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" \
    -H "Authorization: Bearer nope" "$URL/api/v1/pods")
[ "$code" = 401 ] && ok "401 with a wrong token" || notok "401 with a wrong token" "code=$code"

# -- kubectl ----------------------------------------------------------------------
out=$(K get ns --no-headers 2>&1 | awk '{print $1}' | tr '\n' ' ')
[ "$out" = "default prod staging " ] && ok "kubectl get ns" || notok "kubectl get ns" "$out"

n=$(K get pods -A -o json 2>"$D/err" | json 'len(d["items"])')
[ "$n" = 7 ] && ok "kubectl get pods -A -o json: 7 pods" || notok "kubectl get pods -A -o json" "n=$n $(cat "$D/err")"

ctl stats --reset >/dev/null
n=$(K get pods -A --chunk-size=2 --no-headers 2>"$D/err" | wc -l)
conts=$(adm stats | json 'sum(1 for r in d["requests"] if r["verb"] == "list" and r["continue"] and r["status"] == 200)')
[ "$n" = 7 ] && [ "$conts" = 3 ] && ok "kubectl --chunk-size=2: 7 pods in 4 pages (3 with continue)" ||
    notok "kubectl --chunk-size=2 pages" "n=$n continues=$conts $(cat "$D/err")"

out=$(K get networkpolicies -A --no-headers 2>&1 | awk '{print $1 "/" $2}' | tr '\n' ' ')
[ "$out" = "prod/allow-frontend prod/default-deny " ] && ok "kubectl get networkpolicies -A" ||
    notok "kubectl get networkpolicies -A" "$out"

n=$(K get pods -A --field-selector spec.nodeName=node-a --no-headers 2>&1 | wc -l)
[ "$n" = 4 ] && ok "fieldSelector spec.nodeName=node-a" || notok "fieldSelector spec.nodeName" "n=$n"

n=$(K get pods -A -l 'app in (frontend,db)' --no-headers 2>&1 | wc -l)
[ "$n" = 4 ] && ok "labelSelector app in (frontend,db)" || notok "labelSelector" "n=$n"

# kubectl watch sees a change made through the admin interface
timeout 20 kubectl --cache-dir "$D/kcache" get pods -A --watch-only -o json >"$D/kw.out" 2>"$D/kw.err" &
KW=$!
timeout 20 kubectl --cache-dir "$D/kcache" get pods -n staging --watch-only -o name >"$D/kw2.out" 2>&1 &
KW2=$!
wait_watches 2
pod prod watched-1 node-a | ctl apply - >/dev/null
ctl delete Pod prod watched-1 >/dev/null
for _ in $(seq 100); do
    [ "$(grep -c '"name": "watched-1"' "$D/kw.out")" = 2 ] && break; sleep 0.1
done
sleep 0.3   # time for the namespaced watch to show what it should not
kill "$KW" "$KW2" 2>/dev/null
wait "$KW" "$KW2" 2>/dev/null
got=$("$PY" -c '
import json, sys
dec = json.JSONDecoder(); s = open(sys.argv[1]).read(); i = 0; out = []
while True:
    while i < len(s) and s[i].isspace(): i += 1
    if i >= len(s): break
    o, i = dec.raw_decode(s, i); out.append(o["metadata"]["name"])
print(" ".join(out))' "$D/kw.out" 2>&1)
[ "$got" = "watched-1 watched-1" ] && ok "kubectl get pods -A --watch-only shows the change" ||
    notok "kubectl --watch-only" "got=$got" "$(cat "$D/kw.err")"
[ ! -s "$D/kw2.out" ] && ok "a namespaced watch does not see other namespaces" ||
    notok "namespaced watch" "$(cat "$D/kw2.out")"

# -- list paging -------------------------------------------------------------------
c "$URL/api/v1/pods?limit=3" >"$D/p1.json"
read -r cont left rv1 < <(json 'd["metadata"]["continue"], d["metadata"]["remainingItemCount"], d["metadata"]["resourceVersion"]' <"$D/p1.json" | tr -d "(),'")
pod default aaa-early node-a | adm apply @- >/dev/null   # sorts before the token
pod zzz late node-a | adm apply @- >/dev/null            # would sort after it
del staging backend-1            # still in the snapshot
c "$URL/api/v1/pods?limit=100&continue=$cont" >"$D/p2.json"
names=$(json '" ".join(i["metadata"]["namespace"] + "/" + i["metadata"]["name"] for i in d["items"])' <"$D/p2.json")
rv2=$(json 'd["metadata"]["resourceVersion"]' <"$D/p2.json")
[ "$left" = 4 ] && [ "$rv2" = "$rv1" ] &&
    [ "$names" = "prod/frontend-1 prod/frontend-2 staging/backend-1 staging/frontend-1" ] &&
    ok "continue gives the snapshot of the first page's resourceVersion" ||
    notok "consistent paging" "left=$left rv1=$rv1 rv2=$rv2 names=$names"

c "$URL/api/v1/pods?limit=2" >"$D/p1.json"
cont=$(json 'd["metadata"]["continue"]' <"$D/p1.json")
pod default another node-b | adm apply @- >/dev/null
adm compact '{}' >/dev/null
code=$(c -o "$D/p2.json" -w '%{http_code}' "$URL/api/v1/pods?limit=2&continue=$cont")
read -r reason msg < <(json 'd["reason"], d["message"][:46]' <"$D/p2.json" | tr -d "(),'")
newcont=$(json 'd["metadata"].get("continue", "")' <"$D/p2.json")
[ "$code" = 410 ] && [ "$reason" = Expired ] &&
    [ "$msg" = "The provided continue parameter is too old to" ] && [ -n "$newcont" ] &&
    ok "continue token past a compaction: 410 Expired (with an inconsistent continue token)" ||
    notok "continue after compaction" "code=$code reason=$reason msg=$msg"
code=$(c -o "$D/p3.json" -w '%{http_code}' "$URL/api/v1/pods?limit=100&continue=$newcont")
[ "$code" = 200 ] && ok "the inconsistent continue token continues at the latest rv" ||
    notok "inconsistent continue" "code=$code"

adm faults '{"continue_ttl_s": 0.2}' >/dev/null
c "$URL/api/v1/pods?limit=2" >"$D/p1.json"
cont=$(json 'd["metadata"]["continue"]' <"$D/p1.json")
sleep 0.4
code=$(c -o "$D/p2.json" -w '%{http_code}' "$URL/api/v1/pods?limit=2&continue=$cont")
msg=$(json 'd["message"]' <"$D/p2.json")
[ "$code" = 410 ] && [ "$msg" = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter." ] &&
    ok "continue token past continue_ttl_s: 410 Expired" || notok "continue TTL" "code=$code msg=$msg"
adm faults '{"continue_ttl_s": null, "page_max": 2}' >/dev/null
n=$(c "$URL/api/v1/pods?limit=50" | json 'len(d["items"])')
adm faults '{"page_max": null}' >/dev/null
[ "$n" = 2 ] && ok "page_max caps limit" || notok "page_max" "n=$n"

# -- watch ------------------------------------------------------------------------
old=$(( $(rv_now) - 1 ))
adm compact '{}' >/dev/null
c -o "$D/w.out" -D "$D/w.hdr" "$URL/api/v1/pods?watch=1&resourceVersion=$old&timeoutSeconds=5"
first=$(events <"$D/w.out")
grep -q '^HTTP/1.1 200' "$D/w.hdr" &&
    [[ "$first" == "ERROR 410 Expired too old resource version: $old ("* ]] &&
    [ "$(wc -l <"$D/w.out")" = 1 ] &&
    ok "watch from a compacted rv: 200, one ERROR event 410 Expired" ||
    notok "watch too old rv" "$first" "$(head -1 "$D/w.hdr")"

rv=$(rv_now)
pod prod w2 node-a | adm apply @- >/dev/null
pod prod w2 node-b | adm apply @- >/dev/null
del prod w2
pod staging w2 node-a | adm apply @- >/dev/null
c -N "$URL/api/v1/namespaces/prod/pods?watch=true&resourceVersion=$rv&allowWatchBookmarks=true&timeoutSeconds=2" \
    -D "$D/w.hdr" | events >"$D/w.ev"
seq=$(grep -v BOOKMARK "$D/w.ev" | awk '{print $1}' | tr '\n' ' ')
nbm=$(grep -c BOOKMARK "$D/w.ev")
[ "$seq" = "ADDED MODIFIED DELETED " ] && ok "watch from an rv: the history since, of its namespace only" ||
    notok "watch events" "$(cat "$D/w.ev")"
[ "$nbm" -ge 2 ] && ok "BOOKMARK events every bookmark_interval_s ($nbm in 2 s)" ||
    notok "bookmarks" "$(cat "$D/w.ev")"
grep -qi '^transfer-encoding: chunked' "$D/w.hdr" && ok "watch is chunked" || notok "chunked" "$(cat "$D/w.hdr")"

# fieldSelector watch: a pod that moves onto the node is ADDED, away is DELETED
rv=$(rv_now)
pod prod mover node-b | adm apply @- >/dev/null
pod prod mover node-a | adm apply @- >/dev/null
pod prod mover node-b | adm apply @- >/dev/null
c -N "$URL/api/v1/pods?watch=true&resourceVersion=$rv&fieldSelector=spec.nodeName%3Dnode-a&timeoutSeconds=1" |
    events >"$D/w.ev"
seq=$(awk '{print $1 "-" $2}' "$D/w.ev" | tr '\n' ' ')
[ "$seq" = "ADDED-prod/mover DELETED-prod/mover " ] && ok "fieldSelector watch: in = ADDED, out = DELETED" ||
    notok "fieldSelector watch" "$(cat "$D/w.ev")"

npods=$(c "$URL/api/v1/pods" | json 'len(d["items"])')
c -N "$URL/api/v1/pods?watch=1&timeoutSeconds=1" | events >"$D/w.ev"
[ "$(grep -c '^ADDED' "$D/w.ev")" = "$npods" ] && ok "watch without resourceVersion: ADDED for every pod first" ||
    notok "watch rv unset" "npods=$npods" "$(cat "$D/w.ev")"

# streaming list
ns_count=$(c "$URL/api/v1/namespaces" | json 'len(d["items"])')
# the admin writes wait for the watch to be open; drop_watches ends it once they are out
( wait_watches 1
  echo '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"late-ns"}}' | adm apply @- >/dev/null
  adm faults '{"drop_watches": true}' >/dev/null ) &
c -N "$URL/api/v1/namespaces?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=15" |
    events >"$D/w.ev"
wait $!
seq=$(awk '{print $1 ($4 == "end" ? "-end" : "")}' "$D/w.ev" | grep -v '^BOOKMARK$' | uniq | tr '\n' ' ')
[ "$seq" = "ADDED BOOKMARK-end ADDED " ] && [ "$(grep -c '^ADDED' "$D/w.ev")" = $((ns_count + 1)) ] &&
    ok "sendInitialEvents: ADDED for each, BOOKMARK k8s.io/initial-events-end, then events" ||
    notok "sendInitialEvents order" "$(cat "$D/w.ev")"

adm faults '{"watchlist": "off"}' >/dev/null
code=$(c -o "$D/w.out" -w '%{http_code}' "$URL/api/v1/namespaces?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
adm faults '{"watchlist": "on"}' >/dev/null
reason=$(json 'd["reason"]' <"$D/w.out")
grep -q 'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled' "$D/w.out" &&
    [ "$code" = 422 ] && [ "$reason" = Invalid ] && ok "watchlist off: 422 Invalid" ||
    notok "watchlist off" "code=$code $(cat "$D/w.out")"

# drop_watches: a long watch ends at once, cleanly
c -N "$URL/api/v1/pods?watch=1&resourceVersion=$(rv_now)&timeoutSeconds=15" >"$D/w.out" &
CW=$!
wait_watches 1
t0=$(date +%s%N)
adm faults '{"drop_watches": true}' >/dev/null
wait $CW; rc=$?
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] && [ "$dt" -lt 3000 ] && ok "drop_watches ends open watches (in $dt ms)" ||
    notok "drop_watches" "rc=$rc dt=${dt}ms"

# stall_watches: no events, no bookmarks, connection stays open
adm faults '{"stall_watches": true}' >/dev/null
( sleep 0.3; pod prod stalled node-a | adm apply @- >/dev/null ) &
c -N "$URL/api/v1/pods?watch=1&resourceVersion=$(rv_now)&allowWatchBookmarks=true&timeoutSeconds=1" >"$D/w.out"
wait $!
adm faults '{"stall_watches": false}' >/dev/null
[ ! -s "$D/w.out" ] && ok "stall_watches: silent watch" || notok "stall_watches" "$(cat "$D/w.out")"

# -- faults ---------------------------------------------------------------------
adm faults '{"status_429": 1, "retry_after_s": 2}' >/dev/null
code=$(c -o "$D/r.out" -D "$D/r.hdr" -w '%{http_code}' "$URL/api/v1/pods")
ra=$(grep -i '^retry-after:' "$D/r.hdr" | tr -d '\r' | awk '{print $2}')
code2=$(c -o /dev/null -w '%{http_code}' "$URL/api/v1/pods")
[ "$code" = 429 ] && [ "$ra" = 2 ] && [ "$(json 'd["reason"]' <"$D/r.out")" = TooManyRequests ] &&
    [ "$code2" = 200 ] && ok "status_429: one 429 with Retry-After: 2, then 200" ||
    notok "429" "code=$code ra=$ra code2=$code2"

adm faults '{"status_500": 2, "fault_match": "^watch "}' >/dev/null
code=$(c -o /dev/null -w '%{http_code}' "$URL/api/v1/pods")
code2=$(c -o /dev/null -w '%{http_code}' "$URL/api/v1/pods?watch=1&timeoutSeconds=1")
left=$(adm faults | json 'd["status_500"]')
adm faults '{"status_500": 0, "fault_match": null}' >/dev/null
[ "$code" = 200 ] && [ "$code2" = 500 ] && [ "$left" = 1 ] && ok "status_500 with fault_match hits watches only" ||
    notok "500 fault_match" "list=$code watch=$code2 left=$left"

adm stats '{"reset": true}' >/dev/null
adm faults '{"status_429": 1, "retry_after_s": 1, "fault_match": "^list "}' >/dev/null
K get pods -A >/dev/null 2>&1
gap=$(adm stats | json '(lambda r: "%.2f" % (r[1]["t"] - r[0]["t"]) if len(r) > 1 and r[0]["status"] == 429 else "none")([x for x in d["requests"] if x["verb"] == "list"])')
"$PY" -c "import sys; sys.exit(0 if '$gap' != 'none' and float('$gap') >= 0.9 else 1)" &&
    ok "kubectl honours Retry-After (next list after ${gap} s); stats record it" ||
    notok "Retry-After in stats" "gap=$gap"

hdr=$(c --compressed -o "$D/g.out" -D - "$URL/api/v1/pods" | tr -d '\r' | grep -i '^content-encoding:')
adm faults '{"fault_match": null}' >/dev/null
n=$(json 'len(d["items"])' <"$D/g.out")
[ "$hdr" = "Content-Encoding: gzip" ] && [ "$n" -gt 5 ] && ok "gzip LIST with Accept-Encoding: gzip" ||
    notok "gzip" "hdr=$hdr n=$n"

adm faults '{"split_bytes": true}' >/dev/null
n=$(c "$URL/api/v1/namespaces" | json 'len(d["items"])')
c -N "$URL/api/v1/namespaces?watch=1&timeoutSeconds=1" | events >"$D/w.ev"
adm faults '{"split_bytes": false}' >/dev/null
[ "$n" -ge 3 ] && [ "$(grep -c ADDED "$D/w.ev")" = "$n" ] && ok "split_bytes: list and watch still parse" ||
    notok "split_bytes" "n=$n $(cat "$D/w.ev")"

# -- token rotation -----------------------------------------------------------------
t_old=$(tok)
ctl rotate-token --grace 2 >/dev/null
code=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -H "Authorization: Bearer $t_old" "$URL/api/v1/pods")
[ "$code" = 200 ] && [ "$(tok)" != "$t_old" ] && ok "rotate-token with grace: old token still valid" ||
    notok "rotate grace" "code=$code"
t_old=$(tok)
ctl rotate-token >/dev/null
code=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -H "Authorization: Bearer $t_old" "$URL/api/v1/pods")
code2=$(c -o /dev/null -w '%{http_code}' "$URL/api/v1/pods")
[ "$code" = 401 ] && [ "$code2" = 200 ] && ok "rotate-token without grace: old 401, new (DIR/token) 200" ||
    notok "rotate" "old=$code new=$code2"
check "kubectl uses the rewritten kubeconfig" K get ns

# -- the API's own writes, and shutdown ---------------------------------------------
echo '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"np-kubectl"},"spec":{"podSelector":{}}}' >"$D/np.json"
K create --validate=false -n staging -f "$D/np.json" >"$D/create.out" 2>&1 && K delete -n staging networkpolicy np-kubectl >>"$D/create.out" 2>&1 &&
    ok "kubectl create and delete" || notok "kubectl create/delete" "$(cat "$D/create.out")"

c -N "$URL/api/v1/pods?watch=1&timeoutSeconds=30" >/dev/null 2>&1 &
wait_watches 1
kill -TERM "$SERVER_PID"
t0=$(date +%s%N)
wait "$SERVER_PID"; rc=$?
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
SERVER_PID=
[ "$rc" = 0 ] && [ "$dt" -lt 3000 ] && ok "SIGTERM with a watch open: exit 0 (in $dt ms)" || notok "SIGTERM" "rc=$rc dt=${dt}ms"

[ "$N" = 36 ] || { echo "# ran $N checks, planned 36"; FAILED=$((FAILED + 1)); }
[ "$FAILED" = 0 ]
