#!/usr/bin/env python3
"""Bounded traffic helpers for test_cni_agent.sh, run inside pod namespaces.

  flood.py recv PORT SECONDS OUT [STOP]
      UDP on 0.0.0.0:PORT (binds before the netns has any address); counts
      datagrams per source address; OUT (JSON, rewritten every 0.2 s):
      {"by_src": {ADDR: {"n": N, "first": T, "last": T}}, "started": T}
  flood.py send DST[,DST...] PORT SECONDS MAX_PKTS INTERVAL_MS OUT [STOP]
      UDP datagrams to DST:PORT (round robin over the DSTs), at most
      MAX_PKTS, one per INTERVAL_MS;
      send errors (no route yet: the pod has no eth0) are counted and retried.
      OUT: {"sent": N, "errors": N, "first_ok": T, "last_ok": T}
  flood.py echo-serve PORT SECONDS
      TCP echo on 0.0.0.0:PORT, many connections (a bare connect is fine).
  flood.py echo-client DST PORT SECONDS OUT [STOP]
      One TCP connection; 8 bytes every 50 ms, each echo awaited (10 s at
      most). OUT (rewritten every 0.2 s): {"ok": N, "max_gap": S,
      "error": TEXT|null, "last_ok": T, "connected": bool}

Everything stops after SECONDS, or as soon as the file STOP exists. T are
time.time() seconds. Only the standard library.
"""
import json
import os
import socket
import sys
import threading
import time


def dump(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def stopped(stop, end):
    return time.monotonic() >= end or (stop is not None and os.path.exists(stop))


def recv(port, seconds, out, stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.settimeout(0.1)
    end = time.monotonic() + seconds
    st = {"by_src": {}, "started": time.time()}
    last_dump = 0.0
    dump(out, st)
    while not stopped(stop, end):
        try:
            _, (src, _) = s.recvfrom(2048)
            now = time.time()
            e = st["by_src"].setdefault(src, {"n": 0, "first": now, "last": now})
            e["n"] += 1
            e["last"] = now
        except socket.timeout:
            pass
        if time.monotonic() - last_dump > 0.2:
            dump(out, st)
            last_dump = time.monotonic()
    dump(out, st)


def send(dst, port, seconds, max_pkts, interval_ms, out, stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.monotonic() + seconds
    st = {"sent": 0, "errors": 0, "first_ok": None, "last_ok": None, "last_error": None}
    last_dump = 0.0
    seq = 0
    dsts = dst.split(",")
    while not stopped(stop, end) and st["sent"] < max_pkts:
        seq += 1
        try:
            s.sendto(b"npcag %d" % seq, (dsts[seq % len(dsts)], port))
            st["sent"] += 1
            st["last_ok"] = time.time()
            if st["first_ok"] is None:
                st["first_ok"] = st["last_ok"]
        except OSError as e:
            st["errors"] += 1
            st["last_error"] = str(e)
            if st["errors"] > 200000:
                break
        if time.monotonic() - last_dump > 0.5:
            dump(out, st)
            last_dump = time.monotonic()
        time.sleep(interval_ms / 1000.0)
    dump(out, st)


def echo_serve(port, seconds):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(64)

    def handle(c):
        c.settimeout(seconds)
        try:
            while True:
                b = c.recv(4096)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()

    def loop():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    time.sleep(seconds)


def echo_client(dst, port, seconds, out, stop):
    end = time.monotonic() + seconds
    st = {"ok": 0, "max_gap": 0.0, "error": None, "last_ok": None, "connected": False}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((dst, port))
        st["connected"] = True
    except OSError as e:
        st["error"] = "connect: %s" % e
        dump(out, st)
        return
    s.settimeout(10)
    last = time.monotonic()
    last_dump = 0.0
    seq = 0
    while not stopped(stop, end):
        seq += 1
        msg = b"%08d" % (seq % 100000000)
        try:
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = s.recv(len(msg) - len(got))
                if not b:
                    raise OSError("closed by the peer")
                got += b
            if got != msg:
                raise OSError("echo mismatch: %r != %r" % (got, msg))
        except OSError as e:
            st["error"] = "after %d echoes: %s" % (st["ok"], e)
            break
        now = time.monotonic()
        st["max_gap"] = max(st["max_gap"], now - last)
        last = now
        st["ok"] += 1
        st["last_ok"] = time.time()
        if now - last_dump > 0.2:
            dump(out, st)
            last_dump = now
        time.sleep(0.05)
    s.close()
    dump(out, st)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    m = a[0]
    if m == "recv":
        recv(int(a[1]), float(a[2]), a[3], a[4] if len(a) > 4 else None)
    elif m == "send":
        send(a[1], int(a[2]), float(a[3]), int(a[4]), float(a[5]), a[6], a[7] if len(a) > 7 else None)
    elif m == "echo-serve":
        echo_serve(int(a[1]), float(a[2]))
    elif m == "echo-client":
        echo_client(a[1], int(a[2]), float(a[3]), a[4], a[5] if len(a) > 5 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
