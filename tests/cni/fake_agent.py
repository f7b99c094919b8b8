#!/usr/bin/env python3
"""A stand-in for the npbpf agent's CNI socket (user/agent/agent_cni.c), for
the npbpf-cni tests: listens on a unix socket, logs each request line to
LOG, and answers as told.

  fake_agent.py SOCKET LOG MODE [--pins DIR] [--identity N] [--delay-ms N]

MODE bound: {"ok":true,"state":"bound","identity":N} after --delay-ms (with
  --pins, first writes the pod's endpoint record into DIR/npbpf_endpoint with
  bpftool, as the real agent binds a pod);
MODE pending: waits the request's timeoutMs, then {"ok":false,"state":"pending"};
MODE silent: reads and never answers.
"del" requests are answered {"ok":true}.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time


def endpoint_value(req, identity):
    flags = 0
    a4 = bytes(4)
    a6 = bytes(16)
    for addr in req.get("addrs", []):
        if ":" in addr and not flags & 2:
            a6 = socket.inet_pton(socket.AF_INET6, addr)
            flags |= 2
        elif ":" not in addr and not flags & 1:
            a4 = socket.inet_pton(socket.AF_INET, addr)
            flags |= 1
    mac = bytes(6)
    if req.get("mac"):
        mac = bytes(int(x, 16) for x in req["mac"].split(":"))
        flags |= 4
    return (identity.to_bytes(4, "little") + flags.to_bytes(4, "little") + a4 + a6 + mac +
            bytes(2))


def hexargs(b):
    return [f"0x{x:02x}" for x in b]


def bind(pins, req, identity):
    key = int(req["ifindex"]).to_bytes(4, "little")
    subprocess.run(["bpftool", "map", "update", "pinned", os.path.join(pins, "npbpf_endpoint"),
                    "key", *hexargs(key), "value", *hexargs(endpoint_value(req, identity))],
                   check=True)


def serve(conn, a):
    f = conn.makefile("rwb")
    try:
        line = f.readline()
        if not line:
            return
        with open(a.log, "ab") as lf:
            lf.write(line)
        req = json.loads(line)
        if req.get("op") == "del":
            f.write(b'{"ok":true}\n')
            f.flush()
            return
        if a.mode == "silent":
            time.sleep(30)
            return
        if a.mode == "pending":
            time.sleep(req.get("timeoutMs", 2000) / 1000.0)
            f.write(b'{"ok":false,"state":"pending","why":"fake agent: not bound"}\n')
            f.flush()
            return
        time.sleep(a.delay_ms / 1000.0)
        if a.pins:
            bind(a.pins, req, a.identity)
        f.write(json.dumps({"ok": True, "state": "bound", "identity": a.identity}).encode()
                + b"\n")
        f.flush()
    except (OSError, ValueError) as e:
        sys.stderr.write(f"fake agent: {e}\n")
    finally:
        try:
            f.close()
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("log")
    ap.add_argument("mode", choices=["bound", "pending", "silent"])
    ap.add_argument("--pins")
    ap.add_argument("--identity", type=int, default=4242)
    ap.add_argument("--delay-ms", type=int, default=0)
    a = ap.parse_args()
    try:
        os.unlink(a.socket)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(a.socket)
    s.listen(64)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, a), daemon=True).start()


main()
