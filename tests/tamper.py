"""A tiny HTTP proxy on 127.0.0.1 in front of the sandbox that can replace answers.

The client under test talks to the proxy exactly as to a store; ``tamper(method, path,
status, body)`` sees every answer and returns None (pass it on) or ``(status,
content_type, body)`` to send instead. Used to make a store answer garbage on one route
(HTML with 200, a list without ``total_count``, generated pages) while the rest is the
real sandbox.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Tamper = Callable[[str, str, int, bytes], tuple[int, str, bytes] | None]


class TamperProxy:
    """``with TamperProxy(upstream_base_url) as proxy: proxy.base_url, proxy.tamper = …``"""

    def __init__(self, upstream: str, tamper: Tamper | None = None) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.tamper: Tamper | None = tamper
        self.requests: Counter[str] = Counter()  # path without query -> requests seen
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests[self.path.split("?", 1)[0]] += 1
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "connection")}
                    conn.request(self.command, self.path, body=sent, headers=headers)
                    resp = conn.getresponse()
                    status, body = resp.status, resp.read()
                    ctype = resp.getheader("Content-Type") or "application/json"
                finally:
                    conn.close()
                swap = proxy.tamper(self.command, self.path, status, body) if proxy.tamper \
                    else None
                if swap is not None:
                    status, ctype, body = swap
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def count(self, fragment: str) -> int:
        """Requests whose path contains ``fragment``."""
        with self._lock:
            return sum(n for path, n in self.requests.items() if fragment in path)

    def __enter__(self) -> TamperProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
