#!/usr/bin/env python3
"""A container runtime's CNI calls, as libcni makes them, for the npbpf-cni tests.

  runtime.py ADD|CHECK|DEL CONFLIST --id ID --netns PATH [--ifname eth0]
             [--args K8S_POD_NAMESPACE=..;K8S_POD_NAME=..] [--cni-path DIR:DIR]
             [--cache DIR] [--timing FILE]

Runs the conflist's plugins in order (DEL in reverse), each with the
environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS,
CNI_PATH) and on stdin the plugin's entry with "name" and "cniVersion" of the
list and "prevResult" (the previous plugin's result; for CHECK and DEL the
cached result of the ADD), exactly as libcni does. Prints the final result
(ADD) and exits 0, or prints the failing plugin's error JSON and exits 1.
--timing FILE appends "TYPE COMMAND SECONDS" per plugin run.
"""
import argparse
import json
import os
import subprocess
import sys
import time


def find_plugin(name, cni_path):
    for d in cni_path.split(":"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise SystemExit(f"runtime: plugin {name} not in {cni_path}")


def run(plugin, cmd, conf, a, timing):
    env = dict(os.environ)
    env.update({
        "CNI_COMMAND": cmd,
        "CNI_CONTAINERID": a.id,
        "CNI_NETNS": a.netns,
        "CNI_IFNAME": a.ifname,
        "CNI_ARGS": a.args,
        "CNI_PATH": a.cni_path,
    })
    exe = find_plugin(plugin["type"], a.cni_path)
    t0 = time.monotonic()
    p = subprocess.run([exe], input=json.dumps(conf).encode(), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if timing:
        with open(timing, "a") as f:
            f.write(f"{plugin['type']} {cmd} {dt:.6f}\n")
    sys.stderr.write(p.stderr.decode(errors="replace"))
    out = p.stdout.decode(errors="replace").strip()
    if p.returncode != 0:
        print(out)
        sys.stderr.write(f"runtime: {plugin['type']} {cmd} failed (exit {p.returncode})\n")
        sys.exit(1)
    if out:
        try:
            return json.loads(out)
        except ValueError:
            print(json.dumps({"code": 999, "msg": f"{plugin['type']} printed no JSON: {out!r}"}))
            sys.exit(1)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["ADD", "CHECK", "DEL"])
    ap.add_argument("conflist")
    ap.add_argument("--id", required=True)
    ap.add_argument("--netns", default="")
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--args", default="")
    ap.add_argument("--cni-path", default="/usr/lib/cni")
    ap.add_argument("--cache", default="/tmp")
    ap.add_argument("--timing")
    a = ap.parse_args()
    with open(a.conflist) as f:
        cl = json.load(f)
    cache = os.path.join(a.cache, f"result-{a.id}-{a.ifname}.json")
    plugins = cl["plugins"]
    prev = None
    if a.command in ("CHECK", "DEL") and os.path.exists(cache):
        with open(cache) as f:
            prev = json.load(f)
    if a.command == "DEL":
        plugins = list(reversed(plugins))
    for pl in plugins:
        conf = dict(pl)
        conf["name"] = cl["name"]
        conf["cniVersion"] = cl["cniVersion"]
        if prev is not None:
            conf["prevResult"] = prev
        res = run(pl, a.command, conf, a, a.timing)
        if a.command == "ADD":
            prev = res
    if a.command == "ADD":
        with open(cache, "w") as f:
            json.dump(prev, f)
        print(json.dumps(prev))
    elif a.command == "DEL" and os.path.exists(cache):
        os.unlink(cache)


main()
