"""Fault settings and request statistics of the fake API server."""

import collections
import threading
import time

DEFAULT_FAULTS = {
    "status_429": 0,            # next N API requests get 429 ...
    "retry_after_s": 1,         # ... with Retry-After: this
    "status_500": 0,            # next N API requests get 500 ...
    "retry_after_500_s": None,  # ... with Retry-After: this when set
    "fault_match": None,        # regex: 429/500 only for requests whose "VERB PATH?QUERY" matches
    "latency_ms": 0,            # delay before every API response
    "split_bytes": False,       # list and watch bodies written one byte at a time
    "stall_watches": False,     # open watches send nothing (no events, no bookmarks)
    "continue_ttl_s": None,     # continue tokens expire this long after they were issued
    "history": 1000,            # events kept: older resourceVersions are 410 Gone
    "bookmark_interval_s": 1.0,  # BOOKMARK period for allowWatchBookmarks=true (0: never)
    "watchlist": "on",          # on | off (422 as a server without WatchList) | ignore
    "gzip": True,               # gzip LIST bodies when the client accepts it
    "gzip_min_bytes": 1024,
    "page_max": None,           # cap on ?limit=
    "watch_timeout_s": 1800,    # watch length when the client gives no timeoutSeconds
}

# One-shot actions accepted by POST /_admin/faults, not kept in the settings.
ACTIONS = ("drop_watches",)


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.settings = dict(DEFAULT_FAULTS)

    def get(self, name):
        with self.lock:
            return self.settings.get(name)

    def snapshot(self):
        with self.lock:
            return dict(self.settings)

    def merge(self, d):
        unknown = [k for k in d if k not in DEFAULT_FAULTS and k not in ACTIONS]
        if unknown:
            raise ValueError("unknown fault(s): %s" % ", ".join(sorted(unknown)))
        wl = d.get("watchlist")
        if wl is not None:
            if wl is True:
                d["watchlist"] = "on"
            elif wl is False:
                d["watchlist"] = "off"
            elif wl not in ("on", "off", "ignore"):
                raise ValueError("watchlist: on, off or ignore")
        with self.lock:
            for k, v in d.items():
                if k in DEFAULT_FAULTS:
                    self.settings[k] = DEFAULT_FAULTS[k] if v is None else v

    def take_status(self):
        """Consume one of the next-N-requests faults: the status code, or None."""
        with self.lock:
            for key, code in (("status_429", 429), ("status_500", 500)):
                if self.settings.get(key, 0) > 0:
                    self.settings[key] -= 1
                    return code
        return None


class Stats:
    """Counts and a log of API requests (admin requests are not counted)."""

    def __init__(self, keep=5000):
        self.lock = threading.Lock()
        self.keep = keep
        self.reset()

    def reset(self):
        with self.lock:
            self.counts = collections.Counter()
            self.requests = collections.deque(maxlen=self.keep)
            self.next_id = 1
            self.open_watches = {}
            self.started = time.time()

    def begin(self, entry):
        with self.lock:
            entry["id"] = self.next_id
            self.next_id += 1
            self.requests.append(entry)
            return entry

    def status(self, entry, code):
        with self.lock:
            entry["status"] = code
            self.counts["%s %s %d" % (entry["verb"], entry["resource"], code)] += 1
            self.counts["total %d" % code] += 1

    def watch_open(self, entry):
        with self.lock:
            self.open_watches[entry["id"]] = entry

    def watch_close(self, entry):
        with self.lock:
            self.open_watches.pop(entry["id"], None)

    def dump(self, since_id=0):
        with self.lock:
            by_res = collections.Counter(e["resource"] for e in self.open_watches.values())
            return {
                "counts": dict(self.counts),
                "open_watches": len(self.open_watches),
                "open_watches_by_resource": dict(by_res),
                "now": time.time(),
                "requests": [dict(e) for e in self.requests if e["id"] > since_id],
            }
