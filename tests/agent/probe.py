#!/usr/bin/env python3
"""Tiny probe helpers for the agent tests, run inside pod namespaces.

  probe.py serve ADDR PORT[,PORT...] SECONDS   accept TCP connections, bounded
  probe.py connect ADDR PORT TIMEOUT_S         prints 'allowed' or 'denied'
"""
import socket
import sys
import threading
import time


def serve(addr, ports, seconds):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    socks = []
    for p in ports:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, p))
        s.listen(64)
        socks.append(s)

    def loop(s):
        while True:
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                return

    for s in socks:
        threading.Thread(target=loop, args=(s,), daemon=True).start()
    time.sleep(seconds)


def connect(addr, port, timeout):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        print("allowed")
    except (socket.timeout, OSError) as e:
        # A refusal (RST) means the packet got through: the listener is
        # missing, not the policy. Only silence is a drop.
        print("refused" if isinstance(e, ConnectionRefusedError) else "denied")
    finally:
        s.close()


def main():
    if sys.argv[1] == "serve":
        serve(sys.argv[2], [int(p) for p in sys.argv[3].split(",")], float(sys.argv[4]))
    elif sys.argv[1] == "connect":
        connect(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("usage: probe.py serve|connect ...")


if __name__ == "__main__":
    main()
