"""A caching proxy in front of the sandbox, for ``sync_bench.py --replay``.

The first time it sees a GET it forwards it to the sandbox and keeps the answer; after
that it answers from memory, after the same injected latency. A warm-up sync through it
fills the cache; the measured sync then gets the same answers as from the sandbox while
the sandbox's own CPU (it renders every order page anew) stays off this machine's two
cores, as a real store's would. Only the window bounds of a request (the run's start,
and ``sync.since`` before it) differ from one run to the next, so they are masked in the
cache key; every other part of the request, keyset bounds included, must match.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
_VALUE = re.compile(r"(%5Bvalue%5D=|\[value\]=)([^&]*)")


class Cache:
    def __init__(self, started: str, floor: str) -> None:
        self.started = started  # "YYYY-MM-DD HH:MM:SS": no record is newer
        self.floor = floor  # no record is older either
        self.answers: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    def key(self, path: str) -> str:
        def mask(m: re.Match[str]) -> str:
            v = urllib.parse.unquote_plus(m.group(2))
            # a window bound: the run's start, or sync.since before it
            if len(v) == 19 and v[4] == "-" and (v >= self.started or v < self.floor):
                return m.group(1) + "*"
            return m.group(0)

        return _VALUE.sub(mask, path)


def serve(upstream: tuple[str, int], latency: float, conn: Any, floor: str) -> None:
    """Run the proxy (in its own process); send its port on ``conn``, then answer
    ``("stats", None)`` with (hits, misses), ``("reset", None)`` and ``("stop", None)``.
    ``floor``: no record of the shop is older (an older time is a window bound)."""
    cache = Cache(datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), floor)
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            key = cache.key(self.path)
            with cache.lock:
                hit = cache.answers.get(key)
            if hit is None:
                up = getattr(local, "conn", None)
                if up is None:
                    up = local.conn = http.client.HTTPConnection(*upstream, timeout=120)
                up.request("GET", self.path, headers=dict(self.headers.items()))
                r = up.getresponse()
                body = r.read()
                hit = (r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in HOP],
                       body)
                with cache.lock:
                    cache.misses += 1
                    if r.status == 200:
                        cache.answers[key] = hit
            else:
                with cache.lock:
                    cache.hits += 1
            time.sleep(latency)
            status, headers, body = hit
            self.send_response_only(status)
            for k, v in headers:
                if k.lower() not in ("server", "date"):
                    self.send_header(k, v)
            self.send_header("Date", self.date_time_string())
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    while True:
        cmd, _arg = conn.recv()
        if cmd == "stats":
            with cache.lock:
                conn.send((cache.hits, cache.misses))
        elif cmd == "reset":
            with cache.lock:
                cache.hits = cache.misses = 0
            conn.send("ok")
        elif cmd == "stop":
            server.shutdown()
            conn.send("stopped")
            return
