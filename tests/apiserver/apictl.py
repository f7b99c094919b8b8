#!/usr/bin/env python3
"""Client of the fake API server's admin interface (/_admin).

    apictl.py --dir DIR apply FILE|-          create or replace objects (JSON: object, List)
    apictl.py --dir DIR delete KIND NS NAME [--grace]   (NS ignored for Namespace; "-" ok)
    apictl.py --dir DIR faults [JSON]         merge fault settings; print them
    apictl.py --dir DIR compact               forget all history (older rvs -> 410)
    apictl.py --dir DIR rotate-token [--grace S]
    apictl.py --dir DIR stats [--reset] [--since ID]
    apictl.py --dir DIR state                 every object, the rv, the history floor

Prints the server's JSON answer; exits 1 on an HTTP error.
"""

import argparse
import http.client
import json
import os
import ssl
import sys


def call(directory, method, path, body=None, timeout=10):
    with open(os.path.join(directory, "port")) as f:
        port = int(f.read().strip())
    ctx = ssl.create_default_context(cafile=os.path.join(directory, "ca.crt"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    return resp.status, json.loads(out) if out else None


def read_objects(src):
    text = sys.stdin.read() if src == "-" else open(src).read()
    try:
        return json.loads(text)
    except ValueError:
        try:
            import yaml
        except ImportError:
            sys.exit("apictl: %s: not JSON (and no PyYAML for YAML)" % src)
        items = []
        for d in yaml.safe_load_all(text):
            if d:
                items.extend(d["items"] if "items" in d else [d])
        return {"kind": "List", "items": items}


def main():
    ap = argparse.ArgumentParser(description="admin client of tests/apiserver/apiserver.py")
    ap.add_argument("--dir", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("apply")
    p.add_argument("file")
    p = sub.add_parser("delete")
    p.add_argument("kind")
    p.add_argument("namespace")
    p.add_argument("name")
    p.add_argument("--grace", action="store_true")
    p = sub.add_parser("faults")
    p.add_argument("json", nargs="?")
    sub.add_parser("compact")
    p = sub.add_parser("rotate-token")
    p.add_argument("--grace", type=float, default=0)
    p = sub.add_parser("stats")
    p.add_argument("--reset", action="store_true")
    p.add_argument("--since", type=int, default=0)
    sub.add_parser("state")
    a = ap.parse_args()

    if a.cmd == "apply":
        r = call(a.dir, "POST", "/_admin/apply", read_objects(a.file))
    elif a.cmd == "delete":
        r = call(a.dir, "POST", "/_admin/delete", {
            "kind": a.kind, "namespace": None if a.namespace == "-" else a.namespace,
            "name": a.name, "grace": a.grace})
    elif a.cmd == "faults":
        r = (call(a.dir, "POST", "/_admin/faults", json.loads(a.json)) if a.json
             else call(a.dir, "GET", "/_admin/faults"))
    elif a.cmd == "compact":
        r = call(a.dir, "POST", "/_admin/compact", {})
    elif a.cmd == "rotate-token":
        r = call(a.dir, "POST", "/_admin/rotate-token", {"grace_s": a.grace})
    elif a.cmd == "stats":
        r = (call(a.dir, "POST", "/_admin/stats?since=%d" % a.since, {"reset": True})
             if a.reset else call(a.dir, "GET", "/_admin/stats?since=%d" % a.since))
    else:
        r = call(a.dir, "GET", "/_admin/state")
    status, body = r
    json.dump(body, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0 if status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
