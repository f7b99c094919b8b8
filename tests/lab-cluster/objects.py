#!/usr/bin/env python3
"""Manifests (YAML or JSON, multi-document, Lists) as one JSON List for the
test API server (apiserver.py --seed-file, apictl.py apply -), with
spec.nodeName set to --node on every Pod that names no node.

    objects.py [--node NAME] FILE|DIR...   (a DIR: its *.yaml, *.yml, *.json in name order)
"""

import argparse
import json
import os
import sys

import yaml


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", default="node-a")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    items = []
    files = []
    for f in a.files:
        if os.path.isdir(f):
            files += sorted(os.path.join(f, e) for e in os.listdir(f)
                            if e.endswith((".yaml", ".yml", ".json")))
        else:
            files.append(f)
    for f in files:
        with open(f) as fh:
            for d in yaml.safe_load_all(fh):
                if not d:
                    continue
                for o in d.get("items", []) if "items" in d else [d]:
                    if o.get("kind") == "Pod":
                        spec = o.setdefault("spec", {})
                        if not spec.get("nodeName"):
                            spec["nodeName"] = a.node
                    items.append(o)
    json.dump({"kind": "List", "apiVersion": "v1", "items": items}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
