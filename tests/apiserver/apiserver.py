#!/usr/bin/env python3
"""A small Kubernetes API server for tests: Namespaces, Pods and NetworkPolicies
over HTTPS with bearer tokens, list paging, watches, bookmarks, streaming lists,
discovery for kubectl, and an admin interface (/_admin) to change objects and
inject faults. See README.md next to this file.

    python3 apiserver.py --dir DIR [--port 0] [--bind 127.0.0.1] [--seed-file F.json]
"""

import argparse
import base64
import gzip
import json
import os
import re
import secrets
import select
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import certs  # noqa: E402
from faults import Faults, Stats  # noqa: E402
from store import (RESOURCES, BadRequest, Expired, NotFound, Store,  # noqa: E402
                   combine, decode_continue, encode_continue,
                   parse_field_selector, parse_label_selector, resource_for)

GROUPS = {"/api/v1": "v1", "/apis/networking.k8s.io/v1": "networking.k8s.io/v1"}

CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent "
                    "list result. You can start a new list without the continue parameter.")
CONTINUE_INCONSISTENT = (
    "The provided continue parameter is too old to display a consistent list result. You "
    "can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or "
    "deleted between the time the first chunk was returned and now may show up in the list.")


def status_obj(code, reason, message, details=None, cont=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    if cont:
        s["metadata"]["continue"] = cont
    return s


def dumps(o):
    return json.dumps(o, separators=(",", ":")).encode()


class Tokens:
    """Valid bearer tokens: the current one, and old ones until their expiry."""

    def __init__(self, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.valid = {}   # token -> expiry (None: current)
        self.current = None
        self.rotations = 0

    def check(self, tok):
        now = time.time()
        with self.lock:
            if tok not in self.valid:
                return False
            exp = self.valid[tok]
            if exp is not None and now >= exp:
                del self.valid[tok]
                return False
            return True

    def rotate(self, grace_s=0):
        new = secrets.token_urlsafe(24)
        with self.lock:
            if self.current is not None:
                if grace_s and grace_s > 0:
                    self.valid[self.current] = time.time() + float(grace_s)
                else:
                    self.valid.pop(self.current, None)
            self.valid[new] = None
            self.current = new
            self.rotations += 1
        return new


class State:
    def __init__(self, directory, port, history):
        self.dir = directory
        self.port = port
        self.store = Store(history)
        self.faults = Faults()
        self.stats = Stats()
        self.tokens = Tokens(directory)
        self.drop_lock = threading.Lock()
        self.drop_gen = 0
        self.drop_mode = "clean"
        self.verbose = False
        self.host = "127.0.0.1"

    def write_file(self, name, data, mode=0o644):
        path = os.path.join(self.dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    def write_credentials(self):
        self.write_file("token", self.tokens.current, 0o600)   # no newline, as a real token file
        with open(os.path.join(self.dir, "ca.crt"), "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        self.write_file("kubeconfig", KUBECONFIG % {
            "host": self.host, "port": self.port, "ca": ca,
            "token": self.tokens.current}, 0o600)


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: npbpf-test
  cluster:
    server: "https://%(host)s:%(port)d"
    certificate-authority-data: "%(ca)s"
users:
- name: npbpf-test
  user:
    token: "%(token)s"
contexts:
- name: npbpf-test
  context:
    cluster: npbpf-test
    user: npbpf-test
current-context: npbpf-test
preferences: {}
"""


class ClientGone(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "npbpf-test-apiserver"
    sys_version = ""

    # -- plumbing -------------------------------------------------------------

    def setup(self):
        # Header and body go out as separate writes: without this Nagle and
        # delayed ACKs hold each response back 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.settimeout(60)
        self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()

    @property
    def st(self):
        return self.server.state

    def log_message(self, fmt, *args):
        if self.st.verbose:
            sys.stderr.write("apiserver: %s %s\n" % (self.address_string(), fmt % args))

    def send_response(self, code, message=None):
        entry = getattr(self, "entry", None)
        if entry is not None and "status" not in entry:
            self.st.stats.status(entry, code)
        super().send_response(code, message)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", secrets.token_hex(8))

    def write(self, data, split=False):
        try:
            if split:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
            else:
                self.wfile.write(data)
        except (OSError, ssl.SSLError) as e:
            self.close_connection = True
            raise ClientGone() from e

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_body(self, code, body, ctype="application/json", headers=(), compressible=False,
                  split=False):
        enc = None
        if (compressible and self.st.faults.get("gzip")
                and "gzip" in (self.headers.get("Accept-Encoding") or "")
                and len(body) > (self.st.faults.get("gzip_min_bytes") or 0)):
            body = gzip.compress(body, 6)
            enc = "gzip"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if enc:
            self.send_header("Content-Encoding", enc)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.write(body, split)

    def send_json(self, code, obj, **kw):
        self.send_body(code, dumps(obj), **kw)

    def send_status(self, code, reason, message, details=None, headers=(), cont=None):
        self.send_json(code, status_obj(code, reason, message, details, cont), headers=headers)

    # -- dispatch -------------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def dispatch(self):
        self.entry = None
        u = urllib.parse.urlsplit(self.path)
        path = u.path.rstrip("/") or "/"
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        try:
            if path == "/_admin" or path.startswith("/_admin/"):
                return self.admin(path, q)
            self.api(path, q, u.query)
        except ClientGone:
            pass
        except (BadRequest, ValueError) as e:
            self.send_status(400, "BadRequest", str(e))
        except Exception as e:  # a bug: say it, keep serving
            sys.stderr.write("apiserver: %s %s: %r\n" % (self.command, self.path, e))
            import traceback
            traceback.print_exc()
            try:
                self.send_status(500, "InternalError", "internal error: %r" % e)
            except Exception:
                self.close_connection = True

    def classify(self, path, q):
        """(verb, resource, namespace, name) of an API path; resource None if unknown."""
        for prefix, gv in GROUPS.items():
            if path == prefix or not path.startswith(prefix + "/"):
                continue
            parts = path[len(prefix) + 1:].split("/")
            ns = name = None
            if parts[0] == "namespaces" and len(parts) >= 3:
                ns, parts = parts[1], parts[2:]
            if len(parts) > 2 or parts[0] not in RESOURCES:
                return "other", None, None, None
            res = parts[0]
            r = RESOURCES[res]
            if r.api_version != gv or (ns is not None and not r.namespaced):
                return "other", None, None, None
            if len(parts) == 2:
                name = parts[1]
            m = self.command
            if m in ("GET", "HEAD"):
                verb = "get" if name else ("watch" if q.get("watch") in ("1", "true") else "list")
            else:
                verb = {"POST": "create", "PUT": "update", "DELETE": "delete",
                        "PATCH": "patch"}.get(m, m.lower())
            return verb, res, ns, name
        return "discovery", "discovery", None, None

    def api(self, path, q, rawq):
        verb, res, ns, name = self.classify(path, q)
        auth = self.headers.get("Authorization") or ""
        tok = auth[7:].strip() if auth.startswith("Bearer ") else None
        self.entry = self.st.stats.begin({
            "t": time.time(), "method": self.command, "path": path, "query": rawq,
            "verb": verb, "resource": res or "other", "namespace": ns, "name": name,
            "watch": verb == "watch", "continue": bool(q.get("continue")),
            "limit": q.get("limit"), "resourceVersion": q.get("resourceVersion"),
            "sendInitialEvents": q.get("sendInitialEvents"),
            "user_agent": self.headers.get("User-Agent"),
            "accept": self.headers.get("Accept"),
            "accept_encoding": self.headers.get("Accept-Encoding"),
        })
        try:
            self._api(path, q, rawq, verb, res, ns, name, tok)
        finally:
            self.entry["end"] = time.time()

    def _api(self, path, q, rawq, verb, res, ns, name, tok):
        body = self.read_body() if self.command in ("POST", "PUT", "PATCH", "DELETE") else b""
        if tok is None or not self.st.tokens.check(tok):
            self.entry["auth"] = "none" if tok is None else "rejected"
            return self.send_status(401, "Unauthorized", "Unauthorized")
        lat = self.st.faults.get("latency_ms") or 0
        if lat:
            time.sleep(lat / 1000.0)
        pat = self.st.faults.get("fault_match")
        if not pat or re.search(pat, "%s %s?%s" % (verb, path, rawq)):
            code = self.st.faults.take_status()
            if code == 429:
                ra = self.st.faults.get("retry_after_s")
                return self.send_status(
                    429, "TooManyRequests", "Too many requests, please try again later.",
                    {"retryAfterSeconds": int(ra or 0)},
                    headers=[("Retry-After", str(ra))] if ra is not None else ())
            if code == 500:
                ra = self.st.faults.get("retry_after_500_s")
                return self.send_status(
                    500, "InternalError", "Internal error occurred: injected fault",
                    {"causes": [{"message": "injected fault"}]},
                    headers=[("Retry-After", str(ra))] if ra is not None else ())
        if verb == "discovery":
            return self.discovery(path)
        if res is None:
            return self.send_status(404, "NotFound", "the server could not find the requested "
                                    "resource")
        if verb == "get":
            return self.get_one(res, ns, name)
        if verb == "list":
            return self.list(res, ns, q)
        if verb == "watch":
            return self.watch(res, ns, q)
        return self.write_verb(verb, res, ns, name, body)

    # -- discovery ------------------------------------------------------------

    def discovery(self, path):
        def resource_list(gv):
            rs = []
            for r in RESOURCES.values():
                if r.api_version == gv:
                    rs.append({"name": r.name, "singularName": r.kind.lower(),
                               "namespaced": r.namespaced, "kind": r.kind,
                               "verbs": ["create", "delete", "get", "list", "update",
                                         "watch"],
                               "shortNames": r.short})
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                    "resources": rs}

        net = {"groupVersion": "networking.k8s.io/v1", "version": "v1"}
        if path == "/version":
            return self.send_json(200, {
                "major": "1", "minor": "32", "gitVersion": "v1.32.0-npbpf-test",
                "gitCommit": "0" * 40, "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                "compiler": "gc", "platform": "linux/amd64"})
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_body(200, b"ok", "text/plain; charset=utf-8")
        if path == "/api":
            return self.send_json(200, {
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "%s:%d" % (self.st.host, self.st.port)}]})
        if path == "/apis":
            return self.send_json(200, {
                "kind": "APIGroupList", "apiVersion": "v1",
                "groups": [{"name": "networking.k8s.io", "versions": [net],
                            "preferredVersion": net}]})
        if path == "/apis/networking.k8s.io":
            return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1",
                                        "name": "networking.k8s.io", "versions": [net],
                                        "preferredVersion": net})
        if path in GROUPS:
            return self.send_json(200, resource_list(GROUPS[path]))
        return self.send_status(404, "NotFound", "the server could not find the requested "
                                "resource")

    # -- reads ----------------------------------------------------------------

    def get_one(self, res, ns, name):
        obj, _ = self.st.store.get(res, ns or "", name)
        if obj is None:
            return self.send_status(404, "NotFound", '%s "%s" not found' % (res, name),
                                    {"name": name, "kind": res})
        self.send_json(200, obj)

    def selectors(self, q):
        return combine(parse_label_selector(q.get("labelSelector")),
                       parse_field_selector(q.get("fieldSelector")))

    def list(self, res, ns, q):
        st = self.st
        r = RESOURCES[res]
        match = self.selectors(q)
        limit = int(q.get("limit") or 0)
        cap = st.faults.get("page_max")
        if cap and (limit == 0 or limit > cap):
            limit = int(cap)
        at_rv = None
        start = None
        issued = None
        cont = q.get("continue")
        rv_param = q.get("resourceVersion")
        if cont:
            if rv_param:
                raise BadRequest("specifying resource version is not allowed when using "
                                 "continue")
            tok_rv, start, issued = decode_continue(cont)
            ttl = st.faults.get("continue_ttl_s")
            if ttl is not None and time.time() - issued > float(ttl):
                return self.send_status(410, "Expired", CONTINUE_EXPIRED)
            if tok_rv == -1:
                at_rv = None                     # the inconsistent continuation
            else:
                at_rv = tok_rv
                with st.store.cond:
                    too_old = tok_rv < st.store.floor
                if too_old:
                    return self.send_status(
                        410, "Expired", CONTINUE_INCONSISTENT,
                        cont=encode_continue(-1, start))
        elif rv_param and q.get("resourceVersionMatch") == "Exact":
            at_rv = int(rv_param)
        try:
            items, list_rv, last, remaining = st.store.list(
                res, ns, at_rv, start, limit, match)
        except Expired as e:
            return self.send_status(410, "Expired", e.message)
        meta = {"resourceVersion": str(list_rv)}
        if last is not None:
            meta["continue"] = encode_continue(list_rv if at_rv is not None or not cont
                                               else -1, last + "\x00")
            if match is None:
                meta["remainingItemCount"] = remaining
        # Items of a list carry no kind and apiVersion, as the real server sends them.
        out_items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                     for o in items]
        body = dumps({"kind": r.list_kind, "apiVersion": r.api_version, "metadata": meta,
                      "items": out_items})
        self.send_body(200, body, compressible=True, split=bool(st.faults.get("split_bytes")))

    # -- watch ----------------------------------------------------------------

    def chunk(self, data):
        if self.st.faults.get("split_bytes"):
            for i in range(len(data)):
                self.write(b"1\r\n" + data[i:i + 1] + b"\r\n")
        else:
            self.write(b"%x\r\n" % len(data) + data + b"\r\n")

    def event(self, etype, obj):
        self.chunk(dumps({"type": etype, "object": obj}) + b"\n")
        self.entry["events"] = self.entry.get("events", 0) + 1

    def bookmark(self, r, rv, end=False):
        meta = {"resourceVersion": str(rv), "creationTimestamp": None}
        if end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        self.event("BOOKMARK", {"kind": r.kind, "apiVersion": r.api_version, "metadata": meta})

    def client_closed(self):
        try:
            rd, _, _ = select.select([self.request], [], [], 0)
            if not rd and not self.request.pending():
                return False
            self.request.settimeout(0.05)
            try:
                self.request.recv(1)
            finally:
                self.request.settimeout(60)
            return True     # EOF, close_notify, or a byte no watch client sends
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (OSError, ValueError):
            return True

    def watch(self, res, ns, q):
        st = self.st
        store = st.store
        r = RESOURCES[res]
        match = self.selectors(q)
        allow_bm = q.get("allowWatchBookmarks") in ("1", "true")
        sie = q.get("sendInitialEvents")
        if sie is not None:                # Go's strconv.ParseBool spellings
            sie = {"1": "true", "t": "true", "True": "true", "TRUE": "true", "0": "false",
                   "f": "false", "False": "false", "FALSE": "false"}.get(sie, sie)
            if sie not in ("true", "false"):
                raise BadRequest("sendInitialEvents: invalid value %r" % sie)
        rvm = q.get("resourceVersionMatch")
        rv_param = q.get("resourceVersion") or ""
        timeout = float(q.get("timeoutSeconds") or 0)
        if timeout <= 0:                   # unset or 0: the server's choice
            timeout = float(st.faults.get("watch_timeout_s") or 1800)
        wl = st.faults.get("watchlist")
        if wl == "ignore":
            sie = rvm = None
        errs = []
        if sie is not None:
            if rvm != "NotOlderThan":
                errs.append(("resourceVersionMatch", "Forbidden: sendInitialEvents requires "
                             "setting resourceVersionMatch to NotOlderThan"))
            if wl == "off":
                errs.append(("sendInitialEvents", "Forbidden: sendInitialEvents is forbidden "
                             "for watch unless the WatchList feature gate is enabled"))
        elif rvm:
            errs.append(("resourceVersionMatch", "Forbidden: resourceVersionMatch is "
                         "forbidden for watch unless sendInitialEvents is provided"))
        if errs:
            msg = 'ListOptions.meta.k8s.io "" is invalid: ' + ", ".join(
                "%s: %s" % e for e in errs)
            return self.send_status(422, "Invalid", msg, {
                "group": "meta.k8s.io", "kind": "ListOptions",
                "causes": [{"reason": "FieldValue" + e[1].split(":")[0], "message": e[1],
                            "field": e[0]} for e in errs]})
        if rv_param and not rv_param.isdigit():
            raise BadRequest('resourceVersion: Invalid value: "%s": strconv.ParseUint: '
                             'parsing "%s": invalid syntax' % (rv_param, rv_param))

        def mine(o):
            return (not ns or o["metadata"].get("namespace") == ns) and (
                match is None or match(o))

        initial = []
        expired = None
        end_bookmark = False
        with store.cond:
            if sie == "true" or (sie is None and rv_param in ("", "0")):
                snap = store.snapshot(res)
                initial = [snap[k] for k in sorted(snap) if mine(snap[k])]
                last = store.rv
                end_bookmark = sie == "true"
            elif sie == "false" and rv_param in ("", "0"):
                last = store.rv
            else:
                last = int(rv_param)
                if last < store.floor:
                    expired = "too old resource version: %d (%d)" % (last, store.floor)
        with st.drop_lock:
            gen = st.drop_gen

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        st.stats.watch_open(self.entry)
        try:
            if expired:
                self.event("ERROR", status_obj(410, "Expired", expired))
            else:
                for o in initial:
                    self.event("ADDED", o)
                if end_bookmark and allow_bm:
                    self.bookmark(r, last, end=True)
                if self.watch_loop(r, res, last, mine, allow_bm, timeout, gen) == "abort":
                    return
            self.write(b"0\r\n\r\n")
        finally:
            st.stats.watch_close(self.entry)

    def watch_loop(self, r, res, last, mine, allow_bm, timeout, gen):
        st = self.st
        store = st.store
        deadline = time.monotonic() + timeout
        next_bm = time.monotonic() + float(st.faults.get("bookmark_interval_s") or 0)

        def ended():
            """Why the watch ends now, or None. Checked after delivering what was
            pending, so a write followed by drop_watches reaches the client."""
            if time.monotonic() >= deadline:
                return "timeout"
            with st.drop_lock:
                if st.drop_gen != gen:
                    if st.drop_mode != "abort":
                        return "dropped"
                    self.close_connection = True
                    try:
                        self.request.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return "abort"
            return "closing" if store.closing else None

        while True:
            now = time.monotonic()
            if self.client_closed():
                self.entry["ended"] = "client"
                raise ClientGone()
            stalled = bool(st.faults.get("stall_watches"))
            interval = float(st.faults.get("bookmark_interval_s") or 0)
            events = []
            expired = None
            with store.cond:
                if not stalled and store.rv <= last:
                    wait = max(0.0, min(deadline - now, 0.25))
                    if allow_bm and interval > 0:
                        wait = max(0.0, min(wait, next_bm - now))
                    store.cond.wait(wait)
                if not stalled:
                    try:
                        events, cur = store.events_after(last)
                    except Expired as e:
                        expired = e.message
            if stalled:
                time.sleep(0.1)
                next_bm = time.monotonic() + interval
                why = ended()
                if why:
                    self.entry["ended"] = why
                    return why
                continue
            if expired:
                self.event("ERROR", status_obj(410, "Expired", expired))
                self.entry["ended"] = "expired"
                return "expired"
            for e in events:
                was = e.prev is not None and e.type != "ADDED" and mine(e.prev)
                now_in = mine(e.obj)
                if e.type == "DELETED":
                    if was or now_in:
                        self.event("DELETED", e.obj)
                elif was and now_in:
                    self.event("MODIFIED", e.obj)
                elif now_in:
                    self.event("ADDED", e.obj)
                elif was:
                    self.event("DELETED", e.obj)
            last = max(last, cur)
            if allow_bm and interval > 0 and time.monotonic() >= next_bm:
                self.bookmark(r, last)
                next_bm = time.monotonic() + interval
            why = ended()
            if why:
                self.entry["ended"] = why
                return why

    # -- writes through the API (kubectl create/replace/delete) ----------------

    def write_verb(self, verb, res, ns, name, body):
        store = self.st.store
        r = RESOURCES[res]
        if verb == "delete" and name:
            try:
                obj = store.delete(res, ns, name)
            except NotFound as e:
                return self.send_status(404, "NotFound", str(e), {"name": name, "kind": res})
            return self.send_json(200, obj)
        if verb in ("create", "update"):
            try:
                obj = json.loads(body or b"null")
            except ValueError:
                raise BadRequest("the body of the request was in an unknown format")
            if not isinstance(obj, dict):
                raise BadRequest("the body of the request was in an unknown format")
            obj.setdefault("kind", r.kind)
            if resource_for(obj["kind"]) != res:
                raise BadRequest("the kind of the body does not match the URL")
            meta = obj.setdefault("metadata", {})
            if ns and r.namespaced:
                if meta.get("namespace") not in (None, "", ns):
                    raise BadRequest("the namespace of the provided object does not match "
                                     "the namespace sent on the request")
                meta["namespace"] = ns
            if verb == "create" and name is None:
                stored = store.create(obj)
                if stored is None:
                    return self.send_status(
                        409, "AlreadyExists", '%s "%s" already exists' % (res, meta.get("name")),
                        {"name": meta.get("name"), "kind": res})
                return self.send_json(201, stored)
            if verb == "update" and name:
                cur, _ = store.get(res, ns or "", name)
                if cur is None:
                    return self.send_status(404, "NotFound", '%s "%s" not found' % (res, name),
                                            {"name": name, "kind": res})
                want = meta.get("resourceVersion")
                if want and want != cur["metadata"]["resourceVersion"]:
                    return self.send_status(
                        409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object '
                        'has been modified; please apply your changes to the latest version '
                        'and try again' % (res, name), {"name": name, "kind": res})
                meta["name"] = name
                return self.send_json(200, store.apply(obj)[1])
        self.send_status(405, "MethodNotAllowed", "the server does not allow this method on "
                         "the requested resource")

    # -- admin ----------------------------------------------------------------

    def admin(self, path, q):
        st = self.st
        body = self.read_body() if self.command in ("POST", "PUT", "DELETE") else b""
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError as e:
            return self.send_json(400, {"error": "bad JSON: %s" % e})
        op = path[len("/_admin/"):] if path != "/_admin" else ""
        try:
            if op == "healthz":
                return self.send_json(200, {"ok": True})
            if op == "apply" and self.command == "POST":
                items = data.get("items") if isinstance(data, dict) and (
                    "items" in data and "kind" not in data or
                    str(data.get("kind", "")).endswith("List")) else [data]
                results = []
                for o in items or []:
                    etype, obj = st.store.apply(o)
                    m = obj["metadata"]
                    results.append({"type": etype, "kind": obj["kind"],
                                    "namespace": m.get("namespace"), "name": m["name"],
                                    "resourceVersion": m["resourceVersion"]})
                return self.send_json(200, {"results": results,
                                            "resourceVersion": str(st.store.rv)})
            if op == "delete" and self.command == "POST":
                items = data.get("items") if "items" in data else [data]
                results = []
                for d in items:
                    res = resource_for(d.get("kind", ""))
                    if res is None:
                        return self.send_json(400, {"error": "unknown kind %r" % d.get("kind")})
                    obj = st.store.delete(res, d.get("namespace"), d.get("name", ""),
                                          bool(d.get("grace")))
                    results.append({"kind": obj["kind"], "name": obj["metadata"]["name"],
                                    "namespace": obj["metadata"].get("namespace"),
                                    "resourceVersion": obj["metadata"]["resourceVersion"]})
                return self.send_json(200, {"results": results,
                                            "resourceVersion": str(st.store.rv)})
            if op == "faults":
                if self.command == "POST":
                    st.faults.merge(dict(data))
                    if "history" in data:
                        st.store.set_history(st.faults.get("history"))
                    if data.get("drop_watches"):
                        with st.drop_lock:
                            st.drop_mode = ("abort" if data["drop_watches"] == "abort"
                                            else "clean")
                            st.drop_gen += 1
                        with st.store.cond:
                            st.store.cond.notify_all()
                return self.send_json(200, st.faults.snapshot())
            if op == "compact" and self.command == "POST":
                rv = st.store.compact()
                return self.send_json(200, {"resourceVersion": str(rv)})
            if op == "rotate-token" and self.command == "POST":
                tok = st.tokens.rotate(float(data.get("grace_s") or 0))
                st.write_credentials()
                return self.send_json(200, {"token": tok, "rotations": st.tokens.rotations})
            if op == "stats":
                if self.command == "POST" and data.get("reset"):
                    st.stats.reset()
                d = st.stats.dump(int(q.get("since") or 0))
                with st.store.cond:
                    d["resourceVersion"] = str(st.store.rv)
                    d["floor"] = st.store.floor
                    d["history"] = len(st.store.history)
                d["token_rotations"] = st.tokens.rotations
                return self.send_json(200, d)
            if op == "rv":
                with st.store.cond:
                    return self.send_json(200, {"resourceVersion": str(st.store.rv),
                                                "floor": st.store.floor})
            if op == "state":
                return self.send_json(200, st.store.dump())
        except (BadRequest, ValueError) as e:
            return self.send_json(400, {"error": str(e)})
        except NotFound as e:
            return self.send_json(404, {"error": str(e)})
        self.send_json(404, {"error": "no admin operation %s %s" % (self.command, path)})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        if self.state.verbose:
            super().handle_error(request, client_address)


def load_seed(path):
    with open(path) as f:
        text = f.read()
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml  # optional
        except ImportError:
            raise SystemExit("apiserver: %s: not JSON (and no PyYAML for YAML)" % path)
        docs = [d for d in yaml.safe_load_all(text) if d]
        data = {"items": []}
        for d in docs:
            data["items"].extend(d.get("items", []) if "items" in d else [d])
    if isinstance(data, list):
        return data
    if "items" in data:
        return data["items"] or []
    return [data]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--seed-file", action="append", default=[])
    ap.add_argument("--history", type=int, default=1000)
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--faults", help="initial fault settings, JSON")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    for name in ("ready", "port"):
        try:
            os.unlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    ca, crt, key = certs.make_certs(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    ctx.set_alpn_protocols(["http/1.1"])

    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    Server.address_family = family
    srv = Server((args.bind, args.port), Handler)
    port = srv.server_address[1]
    st = State(d, port, args.history)
    st.verbose = args.verbose
    if args.bind not in ("0.0.0.0", "::", ""):
        st.host = "[%s]" % args.bind if ":" in args.bind else args.bind
    st.faults.merge({"history": args.history, "bookmark_interval_s": args.bookmark_interval})
    if args.faults:
        st.faults.merge(json.loads(args.faults))
        st.store.set_history(st.faults.get("history"))
    srv.state = st
    srv.ssl_context = ctx
    for f in args.seed_file:
        for o in load_seed(f):
            st.store.apply(o)
    st.tokens.rotate()
    st.write_credentials()
    st.write_file("port", "%d\n" % port)
    st.write_file("pid", "%d\n" % os.getpid())

    def stop(signum, frame):
        st.store.closing = True
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    st.write_file("ready", "%d\n" % port)
    if args.verbose:
        sys.stderr.write("apiserver: https://%s:%d ready (%s)\n" % (args.bind, port, d))
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        with st.store.cond:
            st.store.cond.notify_all()
        srv.server_close()
        try:
            os.unlink(os.path.join(d, "ready"))
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
