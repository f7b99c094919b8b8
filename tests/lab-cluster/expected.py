#!/usr/bin/env python3
"""Rewrites an expected matrix file from its directives, as
tests/upstream/expected.awk does, for pods that come and go: comments and
directives are kept, every table is replaced by the one its block describes.

    expected.py FILE > new && mv new FILE

Directives ("#> " lines):
    #> pods NS/POD ...                   the pods (rows and columns), in order;
                                         default: x, y, z x a, b, c
    #> table PORT/PROTO[,...] IPv4|IPv6|IPv4,IPv6
    #> allow|deny FROM TO                FROM, TO: *, NS/*, */POD, NS/POD
Every table starts all allowed; lines apply in order; a pod to itself is
allowed last.
"""

import sys

DEFAULT = ["%s/%s" % (n, p) for n in "xyz" for p in "abc"]


def matches(pat, pod):
    if pat == "*":
        return True
    pn, pp = pat.split("/")
    n, p = pod.split("/")
    return pn in ("*", n) and pp in ("*", p)


def tables(pods, ports, fams, rules):
    out = []
    for fam in fams:
        for port in ports:
            allow = {(a, b): True for a in pods for b in pods}
            for verdict, src, dst in rules:
                for a in pods:
                    for b in pods:
                        if matches(src, a) and matches(dst, b):
                            allow[(a, b)] = verdict == "allow"
            out.append("%s %s:" % (port, fam))
            out.append("\t".join(["-"] + pods))
            for a in pods:
                out.append("\t".join([a] + ["." if allow[(a, b)] or a == b else "X"
                                            for b in pods]))
            out.append("")
    return out


def main():
    pods = DEFAULT
    out, block = [], None
    with open(sys.argv[1]) as f:
        lines = f.read().splitlines()

    def flush():
        nonlocal block
        if block:
            out.extend(tables(pods, *block))
        block = None

    in_table = False
    for line in lines:
        if line.startswith("#> "):
            w = line[3:].split()
            if w[0] == "pods":
                pods = w[1:]
            elif w[0] == "table":
                flush()
                block = (w[1].split(","), w[2].split(","), [])
            elif w[0] in ("allow", "deny") and block and len(w) == 3:
                block[2].append((w[0], w[1], w[2]))
            else:
                sys.exit("%s: bad directive: %s" % (sys.argv[1], line))
            out.append(line)
            in_table = False
            continue
        if line.startswith("#") or not line.strip():
            if block and not line.strip():
                continue
            flush()
            if not in_table:
                out.append(line)
            continue
        in_table = True  # an old table line: dropped
    flush()
    while out and not out[-1]:
        out.pop()
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
