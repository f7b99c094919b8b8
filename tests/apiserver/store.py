"""The object store of the fake API server: objects, one global resourceVersion,
a bounded event history (as etcd plus the watch cache keep), snapshots at an
older resourceVersion (for consistent paging), continue tokens and selectors.

Stored objects are never mutated: every write stores a new dict, so readers may
serialise what they took under the lock after releasing it.
"""

import base64
import collections
import copy
import json
import re
import threading
import time
import uuid


class Resource:
    def __init__(self, name, kind, api_version, namespaced, short):
        self.name = name              # plural, as in the URL
        self.kind = kind
        self.list_kind = kind + "List"
        self.api_version = api_version
        self.namespaced = namespaced
        self.short = short


RESOURCES = {
    "namespaces": Resource("namespaces", "Namespace", "v1", False, ["ns"]),
    "pods": Resource("pods", "Pod", "v1", True, ["po"]),
    "networkpolicies": Resource("networkpolicies", "NetworkPolicy",
                                "networking.k8s.io/v1", True, ["netpol"]),
}

_ALIASES = {}
for _r in RESOURCES.values():
    for _a in [_r.name, _r.kind.lower()] + _r.short:
        _ALIASES[_a] = _r.name


def resource_for(kind):
    """Resource name for a kind, plural, singular or short name (any case)."""
    return _ALIASES.get(str(kind).lower())


class Expired(Exception):
    """A resourceVersion (or a continue token) older than the history holds."""

    def __init__(self, message, continue_token=None):
        super().__init__(message)
        self.message = message
        self.continue_token = continue_token


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


# A history entry. prev is the object as it was before (None for ADDED), so a
# snapshot at an older resourceVersion is the current state with the newer
# events undone.
Event = collections.namedtuple("Event", "rv type res key ns obj prev")


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def object_key(ns, name):
    """The etcd-like key objects are sorted by: NS/NAME, or NAME."""
    return ns + "/" + name if ns else name


class Store:
    def __init__(self, history=1000):
        self.cond = threading.Condition()
        self.objects = {r: {} for r in RESOURCES}   # res -> key -> object
        self.rv = 1                                 # as a fresh etcd
        self.history = collections.deque()
        self.history_max = max(1, int(history))
        self.floor = 1       # watches and snapshots at rv >= floor are possible
        self.closing = False

    # -- writes ---------------------------------------------------------------

    def _record(self, etype, res, key, ns, obj, prev):
        """Bump the rv, stamp obj with it, remember the event. Lock held."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append(Event(self.rv, etype, res, key, ns, obj, prev))
        self._trim()
        self.cond.notify_all()
        return obj

    def _trim(self):
        while len(self.history) > self.history_max:
            self.floor = self.history.popleft().rv

    def set_history(self, n):
        with self.cond:
            self.history_max = max(1, int(n))
            self._trim()

    def compact(self):
        """Forget all history: every rv older than the current one is gone."""
        with self.cond:
            self.history.clear()
            self.floor = self.rv
            self.cond.notify_all()
            return self.rv

    def apply(self, obj):
        """Create or replace one object. Returns (event type, stored object)."""
        if not isinstance(obj, dict):
            raise BadRequest("object is not a JSON object")
        res = resource_for(obj.get("kind", ""))
        if res is None:
            raise BadRequest("unsupported kind %r" % obj.get("kind"))
        r = RESOURCES[res]
        obj = copy.deepcopy(obj)
        obj["kind"] = r.kind
        obj["apiVersion"] = r.api_version
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict) or not meta.get("name"):
            raise BadRequest("metadata.name is required")
        name = meta["name"]
        if r.namespaced:
            ns = meta.get("namespace") or "default"
            meta["namespace"] = ns
        else:
            ns = ""
            meta.pop("namespace", None)
        if r.kind == "Namespace":
            # What the API server adds to every namespace (1.21+).
            labels = meta.get("labels") or {}
            labels["kubernetes.io/metadata.name"] = name
            meta["labels"] = labels
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
        key = object_key(ns, name)
        with self.cond:
            prev = self.objects[res].get(key)
            if prev is None:
                meta["uid"] = str(uuid.uuid4())
                meta.setdefault("creationTimestamp", now_rfc3339())
                if r.kind == "NetworkPolicy":
                    meta["generation"] = 1
                etype = "ADDED"
            else:
                pm = prev["metadata"]
                meta["uid"] = pm.get("uid")
                meta["creationTimestamp"] = pm.get("creationTimestamp")
                if "generation" in pm:
                    meta["generation"] = pm["generation"] + (
                        1 if prev.get("spec") != obj.get("spec") else 0)
                etype = "MODIFIED"
            self.objects[res][key] = obj
            self._record(etype, res, key, ns, obj, prev)
            return etype, obj

    def create(self, obj):
        """Create only (the API's POST): NotFound-style errors by exception."""
        res = resource_for(obj.get("kind", "")) if isinstance(obj, dict) else None
        if res is None:
            raise BadRequest("unsupported kind")
        meta = obj.get("metadata") or {}
        ns = (meta.get("namespace") or "default") if RESOURCES[res].namespaced else ""
        with self.cond:
            if object_key(ns, meta.get("name", "")) in self.objects[res]:
                return None
            return self.apply(obj)[1]

    def delete(self, res, ns, name, grace=False):
        """Delete one object (a Namespace with everything in it, contents first).

        grace: first a MODIFIED carrying deletionTimestamp, as a pod's graceful
        deletion shows it. Returns the DELETED event's object.
        """
        r = RESOURCES[res]
        ns = (ns or "default") if r.namespaced else ""
        key = object_key(ns, name)
        with self.cond:
            prev = self.objects[res].get(key)
            if prev is None:
                raise NotFound('%s "%s" not found' % (res, name))
            if r.kind == "Namespace":
                for sub in ("pods", "networkpolicies"):
                    for k in sorted(self.objects[sub]):
                        if self.objects[sub][k]["metadata"].get("namespace") == name:
                            self.delete(sub, name, self.objects[sub][k]["metadata"]["name"],
                                        grace)
            if grace:
                term = copy.deepcopy(prev)
                term["metadata"]["deletionTimestamp"] = now_rfc3339()
                term["metadata"]["deletionGracePeriodSeconds"] = 30 if r.kind == "Pod" else 0
                if r.kind == "Namespace":
                    term["status"] = {"phase": "Terminating"}
                self.objects[res][key] = term
                self._record("MODIFIED", res, key, ns, term, prev)
                prev = term
            del self.objects[res][key]
            last = copy.deepcopy(prev)
            return self._record("DELETED", res, key, ns, last, prev)

    # -- reads ----------------------------------------------------------------

    def get(self, res, ns, name):
        with self.cond:
            return self.objects[res].get(object_key(ns, name)), self.rv

    def snapshot(self, res, at_rv=None):
        """{key: object} of res as it was at at_rv (default: now). Lock held."""
        cur = self.objects[res]
        if at_rv is None or at_rv >= self.rv:
            return dict(cur)
        if at_rv < self.floor:
            raise Expired("too old resource version: %d (%d)" % (at_rv, self.floor))
        snap = dict(cur)
        for e in reversed(self.history):
            if e.rv <= at_rv:
                break
            if e.res != res:
                continue
            if e.prev is None:
                snap.pop(e.key, None)
            else:
                snap[e.key] = e.prev
        return snap

    def list(self, res, ns=None, at_rv=None, start=None, limit=0, match=None):
        """One page of a list.

        Returns (items, list_rv, last_key_or_None_if_complete, remaining count).
        """
        with self.cond:
            list_rv = self.rv if at_rv is None else at_rv
            snap = self.snapshot(res, at_rv)
        keys = sorted(snap)
        items = []
        last = None
        remaining = 0
        for i, k in enumerate(keys):
            if start is not None and k < start:
                continue
            o = snap[k]
            if ns and o["metadata"].get("namespace") != ns:
                continue
            if match is not None and not match(o):
                continue
            if limit and len(items) >= limit:
                remaining = sum(1 for k2 in keys[i:]
                                if not ns or snap[k2]["metadata"].get("namespace") == ns)
                break
            items.append(o)
            last = k
        else:
            last = None
        return items, list_rv, (last if remaining else None), remaining

    def events_after(self, rv):
        """(events with rv > rv, current rv), or Expired. Lock held."""
        if rv < self.floor:
            raise Expired("too old resource version: %d (%d)" % (rv, self.floor))
        out = []
        for e in reversed(self.history):
            if e.rv <= rv:
                break
            out.append(e)
        out.reverse()
        return out, self.rv

    def dump(self):
        with self.cond:
            return {"resourceVersion": str(self.rv), "floor": self.floor,
                    "history": len(self.history), "history_max": self.history_max,
                    "objects": {r: [self.objects[r][k] for k in sorted(self.objects[r])]
                                for r in RESOURCES}}


# -- continue tokens ----------------------------------------------------------

def encode_continue(rv, start, issued=None):
    d = {"v": "meta.k8s.io/v1", "rv": rv, "start": start,
         "issued": issued if issued is not None else time.time()}
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


def decode_continue(token):
    try:
        pad = "=" * (-len(token) % 4)
        d = json.loads(base64.urlsafe_b64decode(token + pad))
        if d.get("v") != "meta.k8s.io/v1" or not isinstance(d.get("rv"), int):
            raise ValueError
        return d["rv"], str(d["start"]), float(d.get("issued", 0))
    except Exception:
        raise BadRequest("continue key is not valid: incorrect encoded start resourceVersion"
                         " (version meta.k8s.io/v1)")


# -- selectors ------------------------------------------------------------------

def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _split_terms(s):
    terms, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


_SET_RE = re.compile(r"^([\w./-]+)\s+(in|notin)\s*\((.*)\)$")
_OP_RE = re.compile(r"^([\w./-]+)\s*(==|!=|=)\s*(.*)$")


def parse_label_selector(s):
    """A predicate on objects, or None for the empty selector."""
    if not s:
        return None
    preds = []
    for t in _split_terms(s):
        m = _SET_RE.match(t)
        if m:
            k, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                preds.append(lambda l, k=k, vals=vals: k in l and l[k] in vals)
            else:
                preds.append(lambda l, k=k, vals=vals: k not in l or l[k] not in vals)
            continue
        m = _OP_RE.match(t)
        if m:
            k, op, v = m.group(1), m.group(2), m.group(3).strip()
            if op == "!=":
                preds.append(lambda l, k=k, v=v: l.get(k) != v)
            else:
                preds.append(lambda l, k=k, v=v: k in l and l[k] == v)
            continue
        if t.startswith("!"):
            preds.append(lambda l, k=t[1:].strip(): k not in l)
        elif re.match(r"^[\w./-]+$", t):
            preds.append(lambda l, k=t: k in l)
        else:
            raise BadRequest("unable to parse requirement: %r" % t)
    return lambda o: all(p((o.get("metadata") or {}).get("labels") or {}) for p in preds)


def parse_field_selector(s):
    """Any dotted path with =, == or != (spec.nodeName=X, metadata.name=Y, ...)."""
    if not s:
        return None
    preds = []
    for t in _split_terms(s):
        m = _OP_RE.match(t)
        if not m:
            raise BadRequest("invalid selector: %r; can't understand %r" % (s, t))
        path, op, v = m.group(1), m.group(2), m.group(3).strip()
        if op == "!=":
            preds.append(lambda o, p=path, v=v: field_value(o, p) != v)
        else:
            preds.append(lambda o, p=path, v=v: field_value(o, p) == v)
    return lambda o: all(p(o) for p in preds)


def combine(*preds):
    preds = [p for p in preds if p is not None]
    if not preds:
        return None
    return lambda o: all(p(o) for p in preds)
