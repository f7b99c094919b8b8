#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Adversarial datapath cases (tracker issue 7, "Datapath hardening").

Runs against a lab kept up by run.sh (`npbpf lab -f scenario --keep -o json`):
crafted frames are sent from inside one pod's network namespace and captured
inside another's (or the node's, or the external host's), and every case
prints one TAP line. The cases are written from what must hold, not from what
the datapath does today:

  1. state belongs to the endpoint that judged it (conntrack and fragment
     records planted through a neighbour pod must not open the victim);
  2. link-layer control traffic is no bypass (ARP, ND, RA, redirects, MLD,
     source MACs);
  3. source validation comes before any pass, even for packets the parser
     cannot read;
  4. what the datapath already covers, end to end (spoofing, fragments, TCP
     without SYN, VLAN, ICMP errors, other protocols, IPv6 extension headers).

Every case has positive controls: frames of the same kind that policy allows,
which must arrive, so a broken harness or wiring cannot pass silently. A case
is "not ok" when an attack frame arrives (ATTACK: ...) or when a control does
not (CONTROL: ...).

How frames move: one process holds an AF_PACKET socket on eth0 of every pod
and of the external host, opened inside each namespace with setns(2) (a
socket stays in the namespace it was created in). A frame sent on the
attacker's socket crosses the attacker's veth and the real datapath; what a
receiver's socket sees (PACKET_OUTGOING excluded) has passed every hook on its
way, and is seen before the receiver's own stack could drop it. The node is
observed through a raw ICMPv6 socket (every ICMPv6 message the node's stack
receives, after the pod's from-pod hook), an AF_PACKET socket on cni0 (bridge
wiring: after the bridge port's hooks), and its neighbour table.

Addresses: only the scenario's (198.18.0.0/15, 2001:db8::/32), link-local and
multicast, and only inside the lab's namespaces.

Usage: cases.py --lab LAB.json --wiring NAME [--first N] [--count-file F]
                [--only SUBSTRING] [--list]
"""

import argparse
import ctypes
import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time

from scapy.config import conf

conf.verb = 0
from scapy.packet import Raw  # noqa: E402
from scapy.layers.l2 import ARP, GRE, Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6MLDMultAddrRec, ICMPv6MLReport,
    ICMPv6MLReport2, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_Redirect,
    ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.layers.sctp import SCTP, SCTPChunkData, SCTPChunkInit  # noqa: E402

# How long a case listens after its last frame. Veth delivery takes
# microseconds; this is a bound, and the only cost of every negative probe.
WINDOW = 0.2
# Between a frame that plants state and the frame that uses it.
SETTLE = 0.03

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
CLONE_NEWNET = 0x40000000
BCAST = "ff:ff:ff:ff:ff:ff"
# The routed wiring's Calico-style gateway (user/lab_net.c).
GW_MAC = "ee:ee:ee:ee:ee:ee"
GW_V4 = "169.254.1.1"
GW_V6 = "fe80::ecee:eeff:feee:eeee"
ALL_NODES = "ff02::1"
MLDV2_ROUTERS = "ff02::16"
# A link-local-scope group for the MLD reports (a field, never a destination
# outside the lab).
MLD_GROUP = "ff02::4e50"
ALLOWED_PORT = 7777   # victim-7777-from-attackers
DENIED_PORT = 9999    # nothing allows it
GRE_ETHERTYPE = 0x88B5  # IEEE local experimental: nobody decapsulates it

_libc = ctypes.CDLL(None, use_errno=True)


class NetNS:
    """with NetNS(name): the calling thread is in /run/netns/NAME."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.saved = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        fd = os.open("/run/netns/" + self.name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(fd, CLONE_NEWNET):
                err = ctypes.get_errno()
                raise OSError(err, "setns %s: %s" % (self.name, os.strerror(err)))
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self.saved, CLONE_NEWNET):
                err = ctypes.get_errno()
                raise OSError(err, "setns back: %s" % os.strerror(err))
        finally:
            os.close(self.saved)


def ip_json(netns, *args):
    out = subprocess.run(["ip", "-n", netns, "-j"] + list(args), check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


class Host:
    """A pod, the external host or the node, as the cases see it."""

    def __init__(self, name, netns, dev, v4, v6):
        self.name, self.netns, self.dev = name, netns, dev
        self.v4, self.v6 = v4, v6
        link = ip_json(netns, "link", "show", "dev", dev)[0]
        self.mac = link["address"]
        self.ll6 = None
        for a in ip_json(netns, "addr", "show", "dev", dev)[0].get("addr_info", []):
            if a["family"] == "inet6" and a.get("scope") == "link":
                self.ll6 = a["local"]
        self.sock = None
        self.host_veth = None

    def addr(self, fam):
        return self.v4 if fam == 4 else self.v6

    def open(self):
        with NetNS(self.netns):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            s.bind((self.dev, 0))
            s.setblocking(False)
        self.sock = s

    def __repr__(self):
        return self.name


class Node(Host):
    """The node namespace: raw ICMPv6 socket, cni0 capture in bridge wiring."""

    def __init__(self, netns, bridge, v4, v6):
        self.bridge = bridge
        if bridge:
            Host.__init__(self, "node", netns, "cni0", v4, v6)
        else:
            self.name, self.netns, self.dev = "node", netns, None
            self.v4, self.v6, self.mac, self.ll6, self.sock = v4, v6, GW_MAC, GW_V6, None
        self.raw6 = None

    def open(self):
        if self.bridge:
            Host.open(self)
        with NetNS(self.netns):
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            s.setblocking(False)
        self.raw6 = s


class Lab:
    def __init__(self, path, wiring):
        with open(path) as f:
            j = json.load(f)
        self.wiring = wiring
        self.routed = j["lab"]["mode"] == "routed"
        self.node_netns = j["lab"]["node_netns"]
        self.pods = {}
        for p in j["pods"]:
            name = p["name"].split("/", 1)[1]
            v4 = [a for a in p["addresses"] if ":" not in a][0]
            v6 = [a for a in p["addresses"] if ":" in a][0]
            h = Host(name, p["netns"], "eth0", v4, v6)
            h.host_veth = p["host_veth"]
            self.pods[name] = h
        e = j["external"]
        self.ext = Host("external", e["netns"], "eth0",
                        [a for a in e["addresses"] if ":" not in a][0],
                        [a for a in e["addresses"] if ":" in a][0])
        na = j["lab"]["node_addresses"]
        self.node = Node(self.node_netns, not self.routed, na[0], na[1])
        self.hosts = list(self.pods.values()) + [self.ext]
        for h in self.hosts:
            h.open()
        self.node.open()

    def __getitem__(self, name):
        return self.pods[name]

    # ---- what the wiring makes of addresses

    def l2(self, to):
        """Destination MAC of a pod's frame towards host `to`."""
        if self.routed:
            return GW_MAC
        if to is self.ext or to is self.node:
            return self.node.mac
        return to.mac

    def gw_claim_v4(self):
        """The IPv4 address a pod's neighbour entry for its gateway has."""
        return GW_V4 if self.routed else self.node.v4

    def gw_v6(self):
        """The IPv6 router address pods use (and the node answers NS for)."""
        return GW_V6 if self.routed else self.node.v6

    def neigh(self, netns, addr):
        """Link-layer addresses netns has for addr."""
        return {e.get("lladdr", "").lower()
                for e in ip_json(netns, "neigh", "show", "to", addr)}

    def flush_neigh(self):
        for ns in [h.netns for h in self.hosts] + [self.node_netns]:
            sh("ip", "-n", ns, "neigh", "flush", "all", check=False)

    def fdb_port(self, mac):
        """Bridge ports cni0 has learned mac on (bridge wiring)."""
        out = sh("bridge", "-n", self.node_netns, "-j", "fdb", "show", "br", "cni0").stdout
        return {e.get("ifname") for e in json.loads(out or "[]")
                if e.get("mac", "").lower() == mac.lower() and "permanent" not in e.get("state", "")}


# ---- frames

_seq = random.randrange(0x1000, 0x7000)


def uid():
    global _seq
    _seq += 1
    return _seq


def marker():
    """16 bytes no other frame carries."""
    return b"NPBPFADV%08x" % uid()


def port():
    return 20000 + uid() % 40000


def ipl(fam, src, dst, hl=None, **kw):
    if fam == 4:
        if hl is not None:
            kw["ttl"] = hl
        return IP(src=src, dst=dst, **kw)
    if hl is not None:
        kw["hlim"] = hl
    return IPv6(src=src, dst=dst, **kw)


def l4_bytes(fam, src, dst, l4):
    """Transport header and payload with the checksum of (src, dst)."""
    return bytes(ipl(fam, src, dst) / l4)[20 if fam == 4 else 40:]


def frag_pair(fam, src, dst, proto, data, cut, fid):
    """Two fragments of data (a transport segment): [0, cut) and [cut, end)."""
    assert cut % 8 == 0
    if fam == 4:
        return (IP(src=src, dst=dst, proto=proto, id=fid, flags="MF", frag=0) / Raw(data[:cut]),
                IP(src=src, dst=dst, proto=proto, id=fid, frag=cut // 8) / Raw(data[cut:]))
    return (IPv6(src=src, dst=dst, nh=44) / IPv6ExtHdrFragment(nh=proto, offset=0, m=1, id=fid)
            / Raw(data[:cut]),
            IPv6(src=src, dst=dst, nh=44) / IPv6ExtHdrFragment(nh=proto, offset=cut // 8, m=0, id=fid)
            / Raw(data[cut:]))


def nd_marker(m):
    """An ND option of an unassigned type carrying the marker (ignored by
    receivers, RFC 4861 4.6)."""
    return Raw(bytes([253, 3]) + m + b"\0" * 6)


def nsma(addr):
    """Solicited-node multicast address and MAC of an IPv6 address."""
    b = socket.inet_pton(socket.AF_INET6, addr)
    ma = socket.inet_ntop(socket.AF_INET6, bytes.fromhex("ff02" + "00" * 9 + "01ff") + b[13:])
    return ma, "33:33:ff:%02x:%02x:%02x" % (b[13], b[14], b[15])


def mcast_mac(addr):
    b = socket.inet_pton(socket.AF_INET6, addr)
    return "33:33:%02x:%02x:%02x:%02x" % tuple(b[12:16])


# ---- matchers: raw frame bytes -> bool

def _outer_ip(raw):
    p = Ether(raw)
    return p.getlayer(IP) or p.getlayer(IPv6), p


def m_ip(m, src, dst):
    """An IP packet src -> dst (outer header) carrying marker m."""
    def match(raw):
        if m not in raw:
            return False
        ip, _ = _outer_ip(raw)
        return ip is not None and ip.src == src and ip.dst == dst
    return match


def m_ip_id(fam, src, dst, ident):
    """An IP packet src -> dst with IPv4 id / IPv6 flow label ident (for
    frames too short to carry a marker)."""
    def match(raw):
        ip, _ = _outer_ip(raw)
        if ip is None or ip.src != src or ip.dst != dst:
            return False
        return (ip.id if fam == 4 else ip.fl) == ident
    return match


def m_arp(m):
    def match(raw):
        return m in raw and ARP in Ether(raw)
    return match


def m_arp_reply(psrc, pdst, to_mac):
    """An ARP reply from psrc to pdst, in a frame to to_mac."""
    def match(raw):
        p = Ether(raw)
        return (ARP in p and p[ARP].op == 2 and p[ARP].psrc == psrc and p[ARP].pdst == pdst
                and p.dst.lower() == to_mac.lower())
    return match


def m_na(target, dst, to_mac):
    """A neighbour advertisement for target, to dst in a frame to to_mac."""
    def match(raw):
        p = Ether(raw)
        return (ICMPv6ND_NA in p and p[ICMPv6ND_NA].tgt == target and p[IPv6].dst == dst
                and p.dst.lower() == to_mac.lower())
    return match


def r6(m, src):
    """For the node's raw ICMPv6 socket: (payload, source) carries m from src."""
    def match(data, addr):
        return m in data and addr == src
    return match


# ---- one case

class Case:
    """The frames of one case and what must (not) be seen. Negative
    expectations are the attack; positive ones the controls."""

    def __init__(self, lab):
        self.lab = lab
        self.actions = []
        self.expects = []   # (host, match, want, what)
        self.raw6 = []      # (match, want, what): the node's raw ICMPv6 socket
        self.checks = []    # (fn -> error or None, control)

    def send(self, host, frame):
        self.actions.append(("send", host, bytes(frame)))

    def settle(self):
        self.actions.append(("sleep", SETTLE, None))

    def call(self, fn):
        self.actions.append(("call", fn, None))

    def absent(self, host, match, what):
        self.expects.append((host, match, False, what))

    def arrives(self, host, match, what, attack=False):
        """attack: not arriving is the attack's effect (traffic diverted),
        not a broken control."""
        self.expects.append((host, match, "attack" if attack else True, what))

    def absent_node6(self, match, what):
        self.raw6.append((match, False, what))

    def arrives_node6(self, match, what):
        self.raw6.append((match, True, what))

    def check(self, fn, control=False):
        self.checks.append((fn, control))

    def run(self):
        lab = self.lab
        socks = {h.sock: h for h in lab.hosts + [lab.node] if h.sock}
        raw6 = lab.node.raw6
        drain(list(socks) + [raw6])
        for kind, a, b in self.actions:
            if kind == "send":
                a.sock.send(b)
            elif kind == "sleep":
                time.sleep(a)
            else:
                a()
        seen = {h: [] for h in socks.values()}
        seen6 = []
        deadline = time.monotonic() + WINDOW
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select(list(socks) + [raw6], [], [], left)
            for s in r:
                while True:
                    try:
                        if s is raw6:
                            data, addr = s.recvfrom(65535)
                            seen6.append((data, addr[0].split("%")[0]))
                            continue
                        data, addr = s.recvfrom(65535)
                    except BlockingIOError:
                        break
                    if addr[2] != PACKET_OUTGOING:
                        seen[socks[s]].append(data)
        attacks, controls = [], []
        for host, match, want, what in self.expects:
            if host.sock is None:
                # The routed node: no link to watch (its raw ICMPv6
                # socket and neighbour table are).
                if want:
                    controls.append("harness: nothing watches %s in this wiring" % host)
                continue
            got = any(match(raw) for raw in seen[host])
            if want == "attack" and not got:
                attacks.append("%s did not arrive at %s" % (what, host))
            elif want and not got:
                controls.append("%s did not arrive at %s" % (what, host))
            elif not want and got:
                attacks.append("%s arrived at %s" % (what, host))
        for match, want, what in self.raw6:
            got = any(match(d, a) for d, a in seen6)
            if want and not got:
                controls.append("%s did not reach the node" % what)
            elif not want and got:
                attacks.append("%s reached the node" % what)
        for fn, control in self.checks:
            err = fn()
            if err:
                (controls if control else attacks).append(err)
        return attacks, controls


def drain(socks):
    for s in socks:
        while True:
            try:
                s.recv(65535)
            except BlockingIOError:
                break


# ---- the cases

CASES = []


def case(name, only=None, skip=None):
    """only: wirings the case applies to ('bridge', 'routed'), with skip the
    reason printed for the others."""
    def deco(fn):
        CASES.append((name, fn, only, skip))
        return fn
    return deco


def on_link(lab, *pods):
    """The pods that share a link with the sender: all of them on the
    bridge, none when routed (link-local frames stop at the node)."""
    return () if lab.routed else pods


def fams():
    return (4, 6)


# ---------------------------------------------------------------------------
# 4. What the datapath already covers, end to end. First, so that the plants
# of section 1 cannot leave state they would trip over.

for _fam in fams():
    @case("spoofed-source-v%d" % _fam)
    def _spoofed(lab, fam=_fam):
        c = Case(lab)
        atk, vic, nb, fr = lab["attacker"], lab["victim"], lab["neighbour"], lab["friend"]
        other = "198.18.99.99" if fam == 4 else "2001:db8:99::99"
        for src, to, what in ((fr.addr(fam), vic, "UDP with friend's source (which the victim allows)"),
                              (fr.addr(fam), nb, "UDP with friend's source"),
                              (other, nb, "UDP with a source of no pod")):
            m = marker()
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(to)) / ipl(fam, src, to.addr(fam))
                   / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
            c.absent(to, m_ip(m, src, to.addr(fam)), what)
        m = marker()
        c.send(fr, Ether(src=fr.mac, dst=lab.l2(vic)) / ipl(fam, fr.addr(fam), vic.addr(fam))
               / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
        c.arrives(vic, m_ip(m, fr.addr(fam), vic.addr(fam)), "friend's own UDP")
        m = marker()
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / ipl(fam, atk.addr(fam), nb.addr(fam))
               / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
        c.arrives(nb, m_ip(m, atk.addr(fam), nb.addr(fam)), "attacker's UDP with its own source")
        return c

    @case("later-fragment-without-first-v%d" % _fam)
    def _orphan(lab, fam=_fam):
        c = Case(lab)
        atk, vic = lab["attacker"], lab["victim"]
        a, v = atk.addr(fam), vic.addr(fam)
        m1, m2 = marker(), marker()
        data = l4_bytes(fam, a, v, UDP(sport=port(), dport=DENIED_PORT) / Raw(m1.ljust(24, b".") + m2))
        _, later = frag_pair(fam, a, v, 17, data, 32, uid())
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(vic)) / later)
        c.absent(vic, m_ip(m2, a, v), "a later fragment whose first was never sent")
        m1, m2 = marker(), marker()
        data = l4_bytes(fam, a, v, UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m1.ljust(24, b".") + m2))
        first, later = frag_pair(fam, a, v, 17, data, 32, uid())
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(vic)) / first)
        c.settle()
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(vic)) / later)
        c.arrives(vic, m_ip(m1, a, v), "first fragment of UDP to %d" % ALLOWED_PORT)
        c.arrives(vic, m_ip(m2, a, v), "its later fragment")
        return c

    @case("tcp-without-syn-v%d" % _fam)
    def _nosyn(lab, fam=_fam):
        c = Case(lab)
        atk, vic = lab["attacker"], lab["victim"]
        a, v = atk.addr(fam), vic.addr(fam)
        for dport, flags in ((DENIED_PORT, "PA"), (DENIED_PORT, "A"), (ALLOWED_PORT, "PA"),
                             (DENIED_PORT, "FA"), (DENIED_PORT, "R")):
            m = marker()
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(vic)) / ipl(fam, a, v)
                   / TCP(sport=port(), dport=dport, flags=flags, seq=1, ack=1) / Raw(m))
            c.absent(vic, m_ip(m, a, v), "TCP %s to %d with no SYN before" % (flags, dport))
        sp, m1, m2 = port(), marker(), marker()
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(vic)) / ipl(fam, a, v)
               / TCP(sport=sp, dport=ALLOWED_PORT, flags="S", seq=1000) / Raw(m1))
        c.settle()
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(vic)) / ipl(fam, a, v)
               / TCP(sport=sp, dport=ALLOWED_PORT, flags="PA", seq=1001, ack=1) / Raw(m2))
        c.arrives(vic, m_ip(m1, a, v), "SYN to %d" % ALLOWED_PORT)
        c.arrives(vic, m_ip(m2, a, v), "data after that SYN")
        return c

    @case("icmp-error-quoting-no-flow-v%d" % _fam)
    def _icmperr(lab, fam=_fam):
        c = Case(lab)
        atk, vic = lab["attacker"], lab["victim"]
        a, v = atk.addr(fam), vic.addr(fam)

        def err(quote_sport, quote_dport, m):
            if fam == 4:
                icmp = ICMP(type=3, code=3)
            else:
                icmp = ICMPv6DestUnreach(code=4)
            # The quote: the victim's (pretended) UDP to the attacker.
            return (Ether(src=atk.mac, dst=lab.l2(vic)) / ipl(fam, a, v) / icmp
                    / ipl(fam, v, a) / UDP(sport=quote_sport, dport=quote_dport) / Raw(m))
        m = marker()
        c.send(atk, err(port(), port(), m))
        c.absent(vic, m_ip(m, a, v), "an ICMP error quoting a flow that never was")
        # Control: the victim really sends that UDP, the error follows.
        sp, dp, mv, m = port(), port(), marker(), marker()
        c.send(vic, Ether(src=vic.mac, dst=lab.l2(atk)) / ipl(fam, v, a)
               / UDP(sport=sp, dport=dp) / Raw(mv))
        c.settle()
        c.send(atk, err(sp, dp, m))
        c.arrives(atk, m_ip(mv, v, a), "the victim's UDP to the attacker")
        c.arrives(vic, m_ip(m, a, v), "an ICMP error quoting the victim's own UDP")
        return c

    for _proto, _pname in ((47, "gre"), (253, "proto253")):
        @case("%s-into-isolated-v%d" % (_pname, _fam))
        def _other(lab, fam=_fam, proto=_proto, pname=_pname):
            c = Case(lab)
            atk, vic, fr = lab["attacker"], lab["victim"], lab["friend"]

            def frame(src, m):
                if proto == 47:
                    l4 = GRE(proto=GRE_ETHERTYPE) / Raw(m)
                else:
                    l4 = Raw(m)
                kw = {"proto": proto} if fam == 4 else {"nh": proto}
                return (Ether(src=src.mac, dst=lab.l2(vic))
                        / ipl(fam, src.addr(fam), vic.addr(fam), **kw) / l4)
            m = marker()
            c.send(atk, frame(atk, m))
            c.absent(vic, m_ip(m, atk.addr(fam), vic.addr(fam)), "%s from the attacker" % pname)
            m = marker()
            c.send(fr, frame(fr, m))
            c.arrives(vic, m_ip(m, fr.addr(fam), vic.addr(fam)), "%s from friend" % pname)
            return c


@case("ipv6-extension-headers-tcp")
def _v6ext(lab):
    c = Case(lab)
    atk, vic = lab["attacker"], lab["victim"]
    a, v = atk.v6, vic.v6
    chains = (("hop-by-hop", lambda: IPv6ExtHdrHopByHop()),
              ("routing", lambda: IPv6ExtHdrRouting(type=0, segleft=0)),
              ("dest-opts", lambda: IPv6ExtHdrDestOpt()),
              ("hop-by-hop+routing+dest-opts",
               lambda: IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(type=0, segleft=0) / IPv6ExtHdrDestOpt()))
    for name, ext in chains:
        for dport in (DENIED_PORT, ALLOWED_PORT):
            m = marker()
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(vic)) / IPv6(src=a, dst=v) / ext()
                   / TCP(sport=port(), dport=dport, flags="S") / Raw(m))
            what = "SYN to %d behind %s" % (dport, name)
            if dport == DENIED_PORT:
                c.absent(vic, m_ip(m, a, v), what)
            else:
                c.arrives(vic, m_ip(m, a, v), what)
    return c


for _tag in ("802.1q", "qinq"):
    @case("vlan-%s-from-pod" % _tag)
    def _vlan(lab, tag=_tag):
        c = Case(lab)
        atk, nb, node = lab["attacker"], lab["neighbour"], lab.node

        def tagged(sender, fam, m):
            inner = (ipl(fam, sender.addr(fam), nb.addr(fam)) / UDP(sport=port(), dport=ALLOWED_PORT)
                     / Raw(m))
            if tag == "qinq":
                return Ether(src=sender.mac, dst=lab.l2(nb)) / Dot1AD(vlan=100) / Dot1Q(vlan=10) / inner
            return Ether(src=sender.mac, dst=lab.l2(nb)) / Dot1Q(vlan=10) / inner
        for fam in fams():
            a, n = atk.addr(fam), nb.addr(fam)
            m = marker()
            c.send(atk, tagged(atk, fam, m))
            c.absent(nb, m_ip(m, a, n), "%s-tagged UDP/IPv%d" % (tag, fam))
            if not lab.routed:
                # The same tagged frame from the node (no from-pod hook on
                # its way) does reach the neighbour's socket.
                m = marker()
                c.send(node, tagged(node, fam, m))
                c.arrives(nb, m_ip(m, node.addr(fam), n), "%s-tagged UDP/IPv%d from the node" % (tag, fam))
            m = marker()
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / ipl(fam, a, n)
                   / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
            c.arrives(nb, m_ip(m, a, n), "the same UDP/IPv%d untagged" % fam)
        return c


VLAN_OBJ = None  # --vlan-obj: vlan_push.bpf.c, built by run.sh


def _vlan_meta_cleanup(lab):
    sh("tc", "-n", lab["attacker"].netns, "qdisc", "del", "dev", "eth0", "clsact", check=False)
    if not lab.routed:
        sh("tc", "-n", lab.node_netns, "qdisc", "del", "dev", "cni0", "clsact", check=False)


@case("vlan-in-metadata-from-pod")
def _vlan_meta(lab):
    """Tags in skb metadata (as a VLAN device with tx-vlan offload sends
    them), pushed by vlan_push.bpf.c at the egress of the attacker's eth0."""
    c = Case(lab)
    atk, nb = lab["attacker"], lab["neighbour"]
    if not VLAN_OBJ:
        raise RuntimeError("no --vlan-obj (run.sh builds vlan_push.bpf.c)")
    sh("tc", "-n", atk.netns, "qdisc", "del", "dev", "eth0", "clsact", check=False)
    sh("tc", "-n", atk.netns, "qdisc", "add", "dev", "eth0", "clsact")
    sh("tc", "-n", atk.netns, "filter", "add", "dev", "eth0", "egress", "bpf", "da", "obj", VLAN_OBJ,
       "sec", "tc")
    node = lab.node
    if not lab.routed:
        # The control: the same program on the node's cni0, whose frames
        # meet no from-pod hook.
        sh("tc", "-n", node.netns, "qdisc", "del", "dev", "cni0", "clsact", check=False)
        sh("tc", "-n", node.netns, "qdisc", "add", "dev", "cni0", "clsact")
        sh("tc", "-n", node.netns, "filter", "add", "dev", "cni0", "egress", "bpf", "da", "obj",
           VLAN_OBJ, "sec", "tc")
    for fam in fams():
        a, n = atk.addr(fam), nb.addr(fam)
        for tos, what in ((0x28, "802.1Q"), (0x2c, "802.1ad over 802.1Q"), (0x30, "802.1ad")):
            m = marker()
            kw = {"tos": tos} if fam == 4 else {"tc": tos}
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / ipl(fam, a, n, **kw)
                   / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
            c.absent(nb, m_ip(m, a, n), "UDP/IPv%d with an %s tag in skb metadata" % (fam, what))
            if not lab.routed:
                m = marker()
                c.send(node, Ether(src=node.mac, dst=nb.mac) / ipl(fam, node.addr(fam), n, **kw)
                       / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
                c.arrives(nb, m_ip(m, node.addr(fam), n),
                          "UDP/IPv%d with an %s tag in skb metadata from the node" % (fam, what))
        m = marker()
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / ipl(fam, a, n)
               / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
        c.arrives(nb, m_ip(m, a, n), "the same UDP/IPv%d untagged" % fam)

    c.call(lambda: (time.sleep(SETTLE), _vlan_meta_cleanup(lab)))
    return c


# ---------------------------------------------------------------------------
# 3. Source validation before any pass: from a pod whose egress is
# unrestricted, spoofed packets the parser cannot fully read, to a pod whose
# ingress is open (so source validation is all that stands in the way).

@case("unparseable-spoofed-ipv6-ext-chain")
def _deep(lab):
    c = Case(lab)
    atk, nb, fr = lab["attacker"], lab["neighbour"], lab["friend"]
    for n_ext in (9, 12):
        m = marker()
        chain = IPv6ExtHdrHopByHop()
        for _ in range(n_ext - 1):
            chain = chain / IPv6ExtHdrDestOpt()
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / IPv6(src=fr.v6, dst=nb.v6) / chain
               / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
        c.absent(nb, m_ip(m, fr.v6, nb.v6), "%d extension headers with friend's source" % n_ext)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / IPv6(src=atk.v6, dst=nb.v6)
           / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
    c.arrives(nb, m_ip(m, atk.v6, nb.v6), "2 extension headers with the attacker's own source")
    return c


for _fam in fams():
    @case("unparseable-spoofed-truncated-l4-v%d" % _fam)
    def _trunc(lab, fam=_fam):
        c = Case(lab)
        atk, nb, fr = lab["attacker"], lab["neighbour"], lab["friend"]
        s, n = fr.addr(fam), nb.addr(fam)
        for proto, nbytes, name in ((6, 8, "TCP"), (6, 19, "TCP"), (17, 4, "UDP"), (17, 7, "UDP")):
            ident = uid() & 0xFFFF
            kw = ({"proto": proto, "id": ident} if fam == 4 else {"nh": proto, "fl": ident})
            hdr = struct.pack("!HH", port(), ALLOWED_PORT) + b"\x00" * 16
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / ipl(fam, s, n, **kw) / Raw(hdr[:nbytes]))
            c.absent(nb, m_ip_id(fam, s, n, ident),
                     "%s header cut to %d bytes with friend's source" % (name, nbytes))
        for l4, name in ((TCP(sport=port(), dport=ALLOWED_PORT, flags="S"), "TCP SYN"),
                         (UDP(sport=port(), dport=ALLOWED_PORT), "UDP")):
            m = marker()
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / ipl(fam, atk.addr(fam), n) / l4 / Raw(m))
            c.arrives(nb, m_ip(m, atk.addr(fam), n), "whole %s with the attacker's own source" % name)
        return c

    @case("unparseable-spoofed-tiny-tcp-fragment-v%d" % _fam)
    def _tiny(lab, fam=_fam):
        c = Case(lab)
        atk, nb, fr = lab["attacker"], lab["neighbour"], lab["friend"]
        s, n, a = fr.addr(fam), nb.addr(fam), atk.addr(fam)
        m = marker()
        # Offset 8 bytes (fragment offset field 1): rewrites the TCP flags of
        # a first fragment (RFC 1858).
        if fam == 4:
            tiny = IP(src=s, dst=n, proto=6, id=uid() & 0xFFFF, frag=1, flags="MF") / Raw(b"\x50\x02" + m)
        else:
            tiny = (IPv6(src=s, dst=n, nh=44) / IPv6ExtHdrFragment(nh=6, offset=1, m=1, id=uid())
                    / Raw(b"\x50\x02" + m))
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / tiny)
        c.absent(nb, m_ip(m, s, n), "TCP fragment at offset 8 with friend's source")
        m1, m2 = marker(), marker()
        data = l4_bytes(fam, a, n, TCP(sport=port(), dport=ALLOWED_PORT, flags="S") / Raw(m1.ljust(20, b".") + m2))
        first, later = frag_pair(fam, a, n, 6, data, 40, uid() & 0xFFFF)
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / first)
        c.settle()
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / later)
        c.arrives(nb, m_ip(m1, a, n), "first fragment of a TCP SYN with the attacker's own source")
        c.arrives(nb, m_ip(m2, a, n), "its later fragment at offset 40")
        return c


@case("unparseable-spoofed-ipv4-options")
def _opts(lab):
    c = Case(lab)
    atk, nb, fr = lab["attacker"], lab["neighbour"], lab["friend"]
    for src, what, want in ((fr.v4, "friend's source", False), ("198.18.99.99", "a source of no pod", False),
                            (atk.v4, "the attacker's own source", True)):
        for opts in (b"\x01\x01\x01\x00", b"\x94\x04\x00\x00" + b"\x01" * 36):
            m = marker()
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / IP(src=src, dst=nb.v4, options=opts)
                   / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
            what2 = "IPv4 with %d bytes of options, %s" % (len(opts), what)
            (c.arrives if want else c.absent)(nb, m_ip(m, src, nb.v4), what2)
    return c


# ---------------------------------------------------------------------------
# 2. Link-layer control traffic is not a bypass.

@case("arp-nd-with-gateway-and-peers-work")
def _gwworks(lab):
    """Positive: after flushing every neighbour cache, the kernel's own ARP
    and ND between pods, their gateway and their peers carry what policy
    allows, both families."""
    c = Case(lab)
    pings = [(lab["attacker"], lab.ext), (lab["friend"], lab["victim"]), (lab["friend"], lab["fenced"])]
    failed = []

    def go():
        lab.flush_neigh()
        for src, dst in pings:
            for fam in fams():
                r = sh("ip", "netns", "exec", src.netns, "ping", "-%d" % fam, "-c", "1", "-W", "1",
                       "-q", dst.addr(fam), check=False)
                if r.returncode:
                    failed.append("ping -%d %s -> %s (%s) failed" % (fam, src, dst, dst.addr(fam)))
    c.call(go)
    c.check(lambda: "; ".join(failed) or None, control=True)
    return c


@case("arp-reply-claiming-other-pod", only=("bridge",),
      skip="no other pod shares the attacker's link (the node: arp-request-claiming-other-pod)")
def _arp_reply(lab):
    c = Case(lab)
    atk, vic, nb, fr = lab["attacker"], lab["victim"], lab["neighbour"], lab["friend"]
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=nb.mac) / ARP(op=2, hwsrc=atk.mac, psrc=vic.v4, hwdst=nb.mac,
                                                     pdst=nb.v4) / Raw(m))
    c.absent(nb, m_arp(m), "ARP reply (unicast) claiming the victim's %s" % vic.v4)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=BCAST) / ARP(op=2, hwsrc=atk.mac, psrc=vic.v4, hwdst=BCAST,
                                                    pdst=vic.v4) / Raw(m))
    for h in (nb, fr, lab.node):
        c.absent(h, m_arp(m), "gratuitous ARP reply (broadcast) claiming the victim's %s" % vic.v4)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=BCAST) / ARP(op=2, hwsrc=atk.mac, psrc=atk.v4, hwdst=BCAST,
                                                    pdst=atk.v4) / Raw(m))
    for h in (nb, fr, lab.node):
        c.arrives(h, m_arp(m), "gratuitous ARP reply for the attacker's own address")
    c.check(lambda: ("neighbour's ARP entry for %s points at the attacker" % vic.v4)
            if atk.mac in lab.neigh(nb.netns, vic.v4) else None)
    return c


@case("arp-request-claiming-other-pod")
def _arp_req(lab):
    c = Case(lab)
    atk, vic, nb = lab["attacker"], lab["victim"], lab["neighbour"]
    node = lab.node
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=BCAST) / ARP(op=1, hwsrc=atk.mac, psrc=vic.v4, pdst=node.v4) / Raw(m))
    c.absent(atk, m_arp_reply(node.v4, vic.v4, atk.mac), "the node's ARP reply to a request claiming %s" % vic.v4)
    c.absent(nb, m_arp(m), "ARP request claiming the victim's %s" % vic.v4)
    c.absent(node, m_arp(m), "ARP request claiming the victim's %s" % vic.v4)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=BCAST) / ARP(op=1, hwsrc=atk.mac, psrc=atk.v4, pdst=node.v4) / Raw(m))
    c.arrives(atk, m_arp_reply(node.v4, atk.v4, atk.mac), "the node's ARP reply to the attacker's own request")
    for h in on_link(lab, nb):
        c.arrives(h, m_arp(m), "the attacker's own ARP request")
    c.check(lambda: ("the node's ARP entry for %s points at the attacker" % vic.v4)
            if atk.mac in lab.neigh(lab.node_netns, vic.v4) else None)
    return c


@case("arp-claiming-gateway")
def _arp_gw(lab):
    c = Case(lab)
    atk, nb, fr = lab["attacker"], lab["neighbour"], lab["friend"]
    node, gw = lab.node, lab.gw_claim_v4()
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=BCAST) / ARP(op=2, hwsrc=atk.mac, psrc=gw, hwdst=BCAST, pdst=gw) / Raw(m))
    for h in (nb, fr):
        c.absent(h, m_arp(m), "gratuitous ARP claiming the gateway's %s" % gw)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=BCAST) / ARP(op=1, hwsrc=atk.mac, psrc=gw, pdst=node.v4) / Raw(m))
    c.absent(atk, m_arp_reply(node.v4, gw, atk.mac), "the node's reply to an ARP request claiming %s" % gw)
    for h in (nb, fr):
        c.absent(h, m_arp(m), "ARP request claiming the gateway's %s" % gw)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=BCAST) / ARP(op=1, hwsrc=atk.mac, psrc=atk.v4, pdst=node.v4) / Raw(m))
    c.arrives(atk, m_arp_reply(node.v4, atk.v4, atk.mac), "the node's ARP reply to the attacker's own request")
    for h in on_link(lab, nb, fr):
        c.arrives(h, m_arp(m), "the attacker's own ARP request")
    c.check(lambda: ("the node's ARP entry for %s points at the attacker" % gw)
            if atk.mac in lab.neigh(lab.node_netns, gw) else None)
    c.check(lambda: ("friend's ARP entry for the gateway %s points at the attacker" % gw)
            if atk.mac in lab.neigh(fr.netns, gw) else None)
    return c


@case("source-mac-of-other-pod")
def _srcmac(lab):
    c = Case(lab)
    atk, vic, nb, fr = lab["attacker"], lab["victim"], lab["neighbour"], lab["friend"]

    def to_victim(what, after):
        m = marker()
        c.send(fr, Ether(src=fr.mac, dst=vic.mac) / IP(src=fr.v4, dst=vic.v4)
               / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
        if after:
            c.absent(atk, m_ip(m, fr.v4, vic.v4), what + " (the bridge sends it to the attacker)")
        c.arrives(vic, m_ip(m, fr.v4, vic.v4), what, attack=after)
    if not lab.routed:
        to_victim("friend's UDP to the victim's MAC, before", False)
        c.settle()
    for fam in fams():
        m = marker()
        c.send(atk, Ether(src=vic.mac, dst=lab.l2(nb)) / ipl(fam, atk.addr(fam), nb.addr(fam))
               / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
        c.absent(nb, m_ip(m, atk.addr(fam), nb.addr(fam)), "UDP/IPv%d with the victim's source MAC" % fam)
        m = marker()
        c.send(atk, Ether(src=atk.mac, dst=lab.l2(nb)) / ipl(fam, atk.addr(fam), nb.addr(fam))
               / UDP(sport=port(), dport=ALLOWED_PORT) / Raw(m))
        c.arrives(nb, m_ip(m, atk.addr(fam), nb.addr(fam)), "the same UDP/IPv%d with its own MAC" % fam)
    m = marker()
    c.send(atk, Ether(src=vic.mac, dst=BCAST) / ARP(op=1, hwsrc=vic.mac, psrc=atk.v4, pdst=lab.node.v4) / Raw(m))
    c.absent(nb, m_arp(m), "ARP request in a frame with the victim's source MAC")
    if not lab.routed:
        c.settle()
        c.check(lambda: ("the bridge learned the victim's MAC on the attacker's port %s" % atk.host_veth)
                if atk.host_veth in lab.fdb_port(vic.mac) else None)
        to_victim("friend's UDP to the victim's MAC, after", True)
    return c


def _restore_fdb(lab):
    """Undoes what source-mac-of-other-pod may have taught the bridge."""
    if lab.routed:
        return
    vic = lab["victim"]
    sh("bridge", "-n", lab.node_netns, "fdb", "del", vic.mac, "dev", lab["attacker"].host_veth,
       "master", check=False)
    vic.sock.send(bytes(Ether(src=vic.mac, dst=BCAST)
                        / ARP(op=1, hwsrc=vic.mac, psrc=vic.v4, pdst=lab.node.v4)))
    time.sleep(SETTLE)


RESTORE = {}


def _restore_neigh(lab):
    lab.flush_neigh()


def _na(lab, sender, src_ip, dst_ip, dst_mac, target, m, solicited=0):
    return (Ether(src=sender.mac, dst=dst_mac) / IPv6(src=src_ip, dst=dst_ip, hlim=255)
            / ICMPv6ND_NA(tgt=target, R=0, S=solicited, O=1) / ICMPv6NDOptDstLLAddr(lladdr=sender.mac)
            / nd_marker(m))


def _na_claim(lab, c, target, what):
    atk, nb, fr = lab["attacker"], lab["neighbour"], lab["friend"]
    m = marker()
    c.send(atk, _na(lab, atk, atk.ll6, ALL_NODES, mcast_mac(ALL_NODES), target, m))
    for h in (nb, fr):
        c.absent(h, m_ip(m, atk.ll6, ALL_NODES), "unsolicited NA (to all nodes) for %s" % what)
    c.absent_node6(r6(m, atk.ll6), "unsolicited NA (to all nodes) for %s" % what)
    m = marker()
    c.send(atk, _na(lab, atk, atk.ll6, nb.ll6, lab.l2(nb), target, m, solicited=1))
    c.absent(nb, m_ip(m, atk.ll6, nb.ll6), "solicited NA (unicast) for %s" % what)
    m = marker()
    c.send(atk, _na(lab, atk, atk.ll6, lab.node.ll6, lab.l2(lab.node), target, m, solicited=1))
    c.absent_node6(r6(m, atk.ll6), "solicited NA (unicast to the gateway) for %s" % what)
    # Control: an NA for the attacker's own address.
    m = marker()
    c.send(atk, _na(lab, atk, atk.ll6, ALL_NODES, mcast_mac(ALL_NODES), atk.v6, m))
    for h in on_link(lab, nb, fr):
        c.arrives(h, m_ip(m, atk.ll6, ALL_NODES), "unsolicited NA for the attacker's own address")
    c.arrives_node6(r6(m, atk.ll6), "unsolicited NA for the attacker's own address")


@case("nd-na-claiming-other-pod")
def _na_pod(lab):
    c = Case(lab)
    vic = lab["victim"]
    _na_claim(lab, c, vic.v6, "the victim's %s" % vic.v6)
    c.check(lambda: ("the node's ND entry for %s points at the attacker" % vic.v6)
            if lab["attacker"].mac in lab.neigh(lab.node_netns, vic.v6) else None)
    return c


@case("nd-na-claiming-gateway")
def _na_gw(lab):
    c = Case(lab)
    gw = lab.gw_v6()
    _na_claim(lab, c, gw, "the gateway's %s" % gw)
    fr = lab["friend"]
    c.check(lambda: ("friend's ND entry for the gateway %s points at the attacker" % gw)
            if lab["attacker"].mac in lab.neigh(fr.netns, gw) else None)
    return c


@case("nd-ns-with-other-pods-source")
def _ns_spoof(lab):
    c = Case(lab)
    atk, vic, nb = lab["attacker"], lab["victim"], lab["neighbour"]
    gw = lab.gw_v6()
    ma, mmac = nsma(gw)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=mmac) / IPv6(src=vic.v6, dst=ma, hlim=255) / ICMPv6ND_NS(tgt=gw)
           / ICMPv6NDOptSrcLLAddr(lladdr=atk.mac) / nd_marker(m))
    c.absent_node6(r6(m, vic.v6), "NS from the victim's %s (attacker's MAC)" % vic.v6)
    c.absent(atk, m_na(gw, vic.v6, atk.mac), "the gateway's NA answering an NS sent as the victim")
    ma2, mmac2 = nsma(nb.v6)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=mmac2) / IPv6(src=vic.v6, dst=ma2, hlim=255) / ICMPv6ND_NS(tgt=nb.v6)
           / ICMPv6NDOptSrcLLAddr(lladdr=atk.mac) / nd_marker(m))
    c.absent(nb, m_ip(m, vic.v6, ma2), "NS from the victim's %s (attacker's MAC)" % vic.v6)
    m = marker()
    c.send(atk, Ether(src=atk.mac, dst=mmac) / IPv6(src=atk.ll6, dst=ma, hlim=255) / ICMPv6ND_NS(tgt=gw)
           / ICMPv6NDOptSrcLLAddr(lladdr=atk.mac) / nd_marker(m))
    c.arrives_node6(r6(m, atk.ll6), "the attacker's own NS for the gateway")
    c.arrives(atk, m_na(gw, atk.ll6, atk.mac), "the gateway's NA answering the attacker's own NS")
    c.check(lambda: ("the node's ND entry for %s points at the attacker" % vic.v6)
            if atk.mac in lab.neigh(lab.node_netns, vic.v6) else None)
    return c


@case("nd-router-advertisement-from-pod")
def _ra(lab):
    c = Case(lab)
    atk, nb, vic = lab["attacker"], lab["neighbour"], lab["victim"]
    for dst, dmac in ((ALL_NODES, mcast_mac(ALL_NODES)), (nb.ll6, lab.l2(nb))):
        m = marker()
        c.send(atk, Ether(src=atk.mac, dst=dmac) / IPv6(src=atk.ll6, dst=dst, hlim=255)
               / ICMPv6ND_RA(routerlifetime=0) / ICMPv6NDOptSrcLLAddr(lladdr=atk.mac) / nd_marker(m))
        for h in ((nb, vic) if dst == ALL_NODES else (nb,)):
            c.absent(h, m_ip(m, atk.ll6, dst), "router advertisement to %s" % dst)
        if dst == ALL_NODES:
            c.absent_node6(r6(m, atk.ll6), "router advertisement to %s" % dst)
    m = marker()
    c.send(atk, _na(lab, atk, atk.ll6, ALL_NODES, mcast_mac(ALL_NODES), atk.v6, m))
    for h in on_link(lab, nb, vic):
        c.arrives(h, m_ip(m, atk.ll6, ALL_NODES), "an NA for the attacker's own address")
    c.arrives_node6(r6(m, atk.ll6), "an NA for the attacker's own address")
    return c


@case("nd-redirect-from-pod")
def _redirect(lab):
    c = Case(lab)
    atk, nb = lab["attacker"], lab["neighbour"]
    for dst, dmac in ((nb.ll6, lab.l2(nb)), (ALL_NODES, mcast_mac(ALL_NODES))):
        m = marker()
        c.send(atk, Ether(src=atk.mac, dst=dmac) / IPv6(src=atk.ll6, dst=dst, hlim=255)
               / ICMPv6ND_Redirect(tgt=atk.ll6, dst=lab.ext.v6) / ICMPv6NDOptDstLLAddr(lladdr=atk.mac)
               / nd_marker(m))
        c.absent(nb, m_ip(m, atk.ll6, dst), "redirect to %s" % dst)
        if dst == ALL_NODES:
            c.absent_node6(r6(m, atk.ll6), "redirect to %s" % dst)
    m = marker()
    c.send(atk, _na(lab, atk, atk.ll6, ALL_NODES, mcast_mac(ALL_NODES), atk.v6, m))
    for h in on_link(lab, nb):
        c.arrives(h, m_ip(m, atk.ll6, ALL_NODES), "an NA for the attacker's own address")
    c.arrives_node6(r6(m, atk.ll6), "an NA for the attacker's own address")
    return c


def _nd_typed(kind, sender, src, dst, dst_mac, hl, m):
    """ICMPv6 of an ND or MLD type, global source to global unicast."""
    ip6 = IPv6(src=src, dst=dst, hlim=hl)
    eth = Ether(src=sender.mac, dst=dst_mac)
    if kind == "NS":
        body = ICMPv6ND_NS(tgt=dst) / ICMPv6NDOptSrcLLAddr(lladdr=sender.mac) / nd_marker(m)
    elif kind == "NA":
        body = ICMPv6ND_NA(tgt=src, R=0, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=sender.mac) / nd_marker(m)
    elif kind == "MLDv1-report":
        body = ICMPv6MLReport(mladdr=MLD_GROUP) / Raw(m)
    else:
        body = ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst=MLD_GROUP)]) / Raw(m)
    return eth / ip6 / body


ND_KINDS = (("NS", 255), ("NA", 255))
MLD_KINDS = (("MLDv1-report", 1), ("MLDv2-report", 1))


@case("nd-typed-global-egress-denied-to-external")
def _nd_ext(lab):
    c = Case(lab)
    fe, atk, ext = lab["fenced"], lab["attacker"], lab.ext
    for kind, hl in ND_KINDS:
        m = marker()
        c.send(fe, _nd_typed(kind, fe, fe.v6, ext.v6, lab.l2(ext), hl, m))
        c.absent(ext, m_ip(m, fe.v6, ext.v6), "%s (hop limit %d) from the egress-denied pod" % (kind, hl))
        m = marker()
        c.send(atk, _nd_typed(kind, atk, atk.v6, ext.v6, lab.l2(ext), hl, m))
        c.arrives(ext, m_ip(m, atk.v6, ext.v6), "%s (hop limit %d) from the unrestricted attacker" % (kind, hl))
    return c


@case("mld-typed-global-egress-denied-to-external", only=(),
      skip="hop limit 1: the node never forwards it, so no MLD-typed frame can reach an external "
           "host (and no control can show one would); MLD is covered pod to pod")
def _mld_ext(lab):
    return Case(lab)


def _nd_typed_case(lab, kinds, sender, bad_sender, to, bad_what, good_what):
    c = Case(lab)
    for kind, hl in kinds:
        m = marker()
        c.send(bad_sender, _nd_typed(kind, bad_sender, bad_sender.v6, to.v6, lab.l2(to), hl, m))
        c.absent(to, m_ip(m, bad_sender.v6, to.v6), "%s (hop limit %d, global to global) %s" % (kind, hl, bad_what))
        m = marker()
        c.send(sender, _nd_typed(kind, sender, sender.v6, to.v6, lab.l2(to), hl, m))
        c.arrives(to, m_ip(m, sender.v6, to.v6), "%s (hop limit %d, global to global) %s" % (kind, hl, good_what))
    return c


@case("nd-typed-global-to-isolated")
def _nd_iso(lab):
    atk, vic = lab["attacker"], lab["victim"]
    c = _nd_typed_case(lab, ND_KINDS, lab["friend"], atk, vic,
                       "from the attacker to the isolated victim", "from friend (allowed)")
    if not lab.routed:
        # Link-local scope still passes: the attacker's ordinary NS for the
        # victim (it may talk to it on 7777), and the victim's answer.
        ma, mmac = nsma(vic.v6)
        m = marker()
        c.send(atk, Ether(src=atk.mac, dst=mmac) / IPv6(src=atk.ll6, dst=ma, hlim=255)
               / ICMPv6ND_NS(tgt=vic.v6) / ICMPv6NDOptSrcLLAddr(lladdr=atk.mac) / nd_marker(m))
        c.arrives(vic, m_ip(m, atk.ll6, ma), "the attacker's link-local NS for the victim")
        c.arrives(atk, m_na(vic.v6, atk.ll6, atk.mac), "the victim's NA to the attacker")
    return c


@case("mld-typed-global-to-isolated", only=("bridge",),
      skip="hop limit 1 is never forwarded by the node: no path to the victim")
def _mld_iso(lab):
    atk, vic = lab["attacker"], lab["victim"]
    c = _nd_typed_case(lab, MLD_KINDS, lab["friend"], atk, vic,
                       "from the attacker to the isolated victim", "from friend (allowed)")
    for dst in (MLDV2_ROUTERS, MLD_GROUP):
        m = marker()
        body = (ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst=MLD_GROUP)]) if dst == MLDV2_ROUTERS
                else ICMPv6MLReport(mladdr=MLD_GROUP))
        c.send(atk, Ether(src=atk.mac, dst=mcast_mac(dst)) / IPv6(src=atk.ll6, dst=dst, hlim=1) / body / Raw(m))
        c.arrives(vic, m_ip(m, atk.ll6, dst), "the attacker's link-local MLD report to %s" % dst)
    return c


# Under an egress deny, ND-typed ICMPv6 to a pod the node routes to (outside
# the sender's segment) is policy traffic. On the bridge the other pods share
# the sender's segment, where ND to them is plumbing; MLD-typed (hop limit 1)
# never leaves the segment at all.
@case("nd-typed-global-egress-denied-to-pod", only=("routed",),
      skip="on the bridge the neighbour shares the sender's segment, where ND is link plumbing")
def _nd_fenced(lab):
    return _nd_typed_case(lab, ND_KINDS, lab["attacker"], lab["fenced"], lab["neighbour"],
                          "from the egress-denied pod", "from the unrestricted attacker")


# ---------------------------------------------------------------------------
# 1. State belongs to the endpoint that judged it: plant a flow through a
# neighbour whose ingress is open (frame to its MAC, or broadcast, with the
# victim's IP), then use it against the isolated victim.

PLANT_PROTOS = ("udp", "icmp-echo", "tcp", "sctp", "gre")
# How the plant reaches the neighbour's to-pod hook: addressed to its MAC,
# broadcast, a multicast MAC or a MAC nobody has (both flooded by the
# bridge). Which attacker sends it: protocols without ports (GRE) have one
# conntrack key per address pair, so each via that plants GRE needs its own
# sender; the last two leave GRE out.
PLANT_VIAS = (("neighbour-mac", "attacker", PLANT_PROTOS),
              ("broadcast", "attacker-b", PLANT_PROTOS),
              ("multicast-mac", "attacker", PLANT_PROTOS[:-1]),
              ("unknown-unicast-mac", "attacker", PLANT_PROTOS[:-1]))
UNKNOWN_MAC = "02:00:5e:ad:be:ef"


def plant_mac(lab, via, fam):
    if via == "neighbour-mac":
        return lab["neighbour"].mac
    if via == "broadcast":
        return BCAST
    if via == "multicast-mac":
        return "01:00:5e:00:00:01" if fam == 4 else "33:33:00:00:00:01"
    return UNKNOWN_MAC


def _l4(proto, fam, stage, sport, dport, m, ident):
    """The transport of a plant ('open') or of its use ('use')."""
    if proto == "udp":
        return UDP(sport=sport, dport=dport) / Raw(m)
    if proto == "tcp":
        if stage == "open":
            return TCP(sport=sport, dport=dport, flags="S", seq=1000) / Raw(m)
        return TCP(sport=sport, dport=dport, flags="PA", seq=1001, ack=1) / Raw(m)
    if proto == "sctp":
        if stage == "open":
            return (SCTP(sport=sport, dport=dport, tag=0)
                    / SCTPChunkInit(init_tag=ident, a_rwnd=65536, n_out_streams=1, n_in_streams=1,
                                    init_tsn=1) / Raw(m))
        return SCTP(sport=sport, dport=dport, tag=ident) / SCTPChunkData(tsn=1, data=m)
    if proto == "gre":
        return GRE(proto=GRE_ETHERTYPE) / Raw(m)
    seq = 1 if stage == "open" else 2
    if fam == 4:
        return ICMP(type=8, id=ident, seq=seq) / Raw(m)
    return ICMPv6EchoRequest(id=ident, seq=seq, data=m)


def _ipkw(proto, fam):
    if proto == "gre":
        return {"proto": 47} if fam == 4 else {"nh": 47}
    if proto == "sctp":
        return {"proto": 132} if fam == 4 else {"nh": 132}
    return {}


for _via, _sender, _protos in PLANT_VIAS:
    for _fam in fams():
        for _proto in _protos:
            @case("plant-%s-v%d-via-%s" % (_proto, _fam, _via))
            def _plant(lab, fam=_fam, proto=_proto, via=_via, sender=_sender):
                c = Case(lab)
                atk = lab[sender]
                vic, nb, fr = lab["victim"], lab["neighbour"], lab["friend"]
                a, v = atk.addr(fam), vic.addr(fam)
                pmac = plant_mac(lab, via, fam)
                kw = _ipkw(proto, fam)

                def frame(sender, to, stage, sport, dport, m, ident, dmac=None):
                    return (Ether(src=sender.mac, dst=dmac or lab.l2(to))
                            / ipl(fam, sender.addr(fam), to.addr(fam), **kw)
                            / _l4(proto, fam, stage, sport, dport, m, ident))

                sp, ident, m1, m2 = port(), uid() & 0xFFFF, marker(), marker()
                c.send(atk, frame(atk, vic, "open", sp, DENIED_PORT, m1, ident, dmac=pmac))
                c.settle()
                c.send(atk, frame(atk, vic, "use", sp, DENIED_PORT, m2, ident))
                c.absent(vic, m_ip(m1, a, v), "the plant (%s to the victim's IP via %s)" % (proto, via))
                c.absent(vic, m_ip(m2, a, v), "%s to the victim on the 5-tuple planted via %s" % (proto, via))
                # Controls: the attacker reaches the neighbour with this
                # protocol, and this protocol reaches the victim where policy
                # allows it.
                m = marker()
                c.send(atk, frame(atk, nb, "open", port(), DENIED_PORT, m, uid() & 0xFFFF))
                c.arrives(nb, m_ip(m, a, nb.addr(fam)), "%s from the attacker to the neighbour" % proto)
                ok_sender = fr if proto in ("icmp-echo", "gre") else atk
                ok_port = DENIED_PORT if ok_sender is fr else ALLOWED_PORT
                sp, ident, m1, m2 = port(), uid() & 0xFFFF, marker(), marker()
                c.send(ok_sender, frame(ok_sender, vic, "open", sp, ok_port, m1, ident))
                c.settle()
                c.send(ok_sender, frame(ok_sender, vic, "use", sp, ok_port, m2, ident))
                who = "friend" if ok_sender is fr else "the attacker on %d" % ALLOWED_PORT
                c.arrives(vic, m_ip(m1, ok_sender.addr(fam), v), "%s opened by %s" % (proto, who))
                c.arrives(vic, m_ip(m2, ok_sender.addr(fam), v), "%s continued by %s" % (proto, who))
                return c

        @case("plant-fragment-v%d-via-%s" % (_fam, _via))
        def _plant_frag(lab, fam=_fam, via=_via, sender=_sender):
            c = Case(lab)
            atk = lab[sender]
            vic, nb = lab["victim"], lab["neighbour"]
            a, v = atk.addr(fam), vic.addr(fam)

            def pair(to, dport):
                m1, m2 = marker(), marker()
                data = l4_bytes(fam, a, to.addr(fam), UDP(sport=port(), dport=dport) / Raw(m1.ljust(24, b".") + m2))
                f1, f2 = frag_pair(fam, a, to.addr(fam), 17, data, 32, uid() & 0xFFFF)
                return f1, f2, m1, m2
            f1, f2, m1, m2 = pair(vic, DENIED_PORT)
            c.send(atk, Ether(src=atk.mac, dst=plant_mac(lab, via, fam)) / f1)
            c.settle()
            c.send(atk, Ether(src=atk.mac, dst=lab.l2(vic)) / f2)
            c.absent(vic, m_ip(m1, a, v), "the first fragment (UDP to %d) planted via %s" % (DENIED_PORT, via))
            c.absent(vic, m_ip(m2, a, v), "a later fragment of a first fragment planted via %s" % via)
            for to, dport, what in ((nb, DENIED_PORT, "fragmented UDP to the neighbour"),
                                    (vic, ALLOWED_PORT, "fragmented UDP to the victim on %d" % ALLOWED_PORT)):
                f1, f2, m1, m2 = pair(to, dport)
                c.send(atk, Ether(src=atk.mac, dst=lab.l2(to)) / f1)
                c.settle()
                c.send(atk, Ether(src=atk.mac, dst=lab.l2(to)) / f2)
                c.arrives(to, m_ip(m1, a, to.addr(fam)), what + " (first fragment)")
                c.arrives(to, m_ip(m2, a, to.addr(fam)), what + " (later fragment)")
            return c


# What a successful attack may have poisoned (neighbour caches, the bridge's
# FDB) is undone after the case, so that it cannot decide the next one.
for _name, _fn, _, _ in CASES:
    if _name.startswith(("arp-", "nd-na-", "nd-ns-", "nd-router-", "nd-redirect-")):
        RESTORE[_name] = _restore_neigh
RESTORE["source-mac-of-other-pod"] = lambda lab: (_restore_fdb(lab), lab.flush_neigh())
RESTORE["vlan-in-metadata-from-pod"] = _vlan_meta_cleanup


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", required=True)
    ap.add_argument("--wiring", required=True)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--count-file")
    ap.add_argument("--only")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--vlan-obj", help="vlan_push.bpf.c built for tc")
    args = ap.parse_args()
    global VLAN_OBJ
    VLAN_OBJ = args.vlan_obj

    selected = [x for x in CASES if not args.only or args.only in x[0]]
    if args.list:
        for name, _, only, skip in selected:
            print(name + ("" if only is None else "  (only %s: %s)" % ("/".join(only) or "none", skip)))
        return 0
    lab = Lab(args.lab, args.wiring)
    mode = "routed" if lab.routed else "bridge"
    n, failed = args.first, 0
    for name, fn, only, skip in selected:
        label = "%s: %s" % (args.wiring, name)
        if only is not None and mode not in only:
            print("ok %d - %s # SKIP %s" % (n, label, skip))
            n += 1
            continue
        try:
            attacks, controls = fn(lab).run()
        except Exception as e:  # a harness failure is a failure, never a pass
            attacks, controls = [], ["harness error: %r" % e]
        finally:
            if name in RESTORE:
                RESTORE[name](lab)
        if not attacks and not controls:
            print("ok %d - %s" % (n, label))
        else:
            failed += 1
            why = []
            if attacks:
                why.append("ATTACK: " + "; ".join(attacks))
            if controls:
                why.append("CONTROL (the case proves nothing): " + "; ".join(controls))
            print("not ok %d - %s: %s" % (n, label, " | ".join(why)))
        sys.stdout.flush()
        n += 1
    if args.count_file:
        with open(args.count_file, "w") as f:
            f.write("%d\n" % (n - args.first))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
