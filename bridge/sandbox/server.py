"""A Magento-2.4-compatible REST server on 127.0.0.1, for the demo, tests and benches.

``SandboxServer`` generates a deterministic shop and serves it from a background thread
(HTTP/1.1 keep-alive, one thread per connection). It authenticates like Magento
(integration Bearer token, admin JWT from /V1/integration/admin/token, OAuth 1.0a
HMAC-SHA256), answers with Magento's shapes and error bodies, counts requests per route
(``stats``) and can inject faults (``Faults``): latency, 429 with Retry-After, HTML 503
maintenance pages, masked 500s, dropped connections and expiring admin tokens. A faulted
request does nothing to the shop — except ``rate_lost_answer``, which by design applies
the request and then drops the answer (a write whose response was lost).
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import random
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from bridge.sandbox.control import EDGE_BLOCK_HTML, MAINTENANCE_HTML, Faults, Stats, control
from bridge.sandbox.criteria import parse_php_query
from bridge.sandbox.errors import NO_ROUTE, NOT_AUTHORIZED, ApiError
from bridge.sandbox.fields import fields_projection
from bridge.sandbox.model import dumps
from bridge.sandbox.module_routes import match_module
from bridge.sandbox.routes import Call, RawJson, Route, match
from bridge.sandbox.shop import Shop
from bridge.sandbox.simulate import check_uplift, days_back

STOREFRONT_404_HTML = (
    "<!doctype html>\n<html><head><title>404 Not Found</title></head><body>"
    "<h1>Whoops, our bad...</h1><p>The page you requested was not found.</p></body></html>\n"
)
@dataclass(frozen=True)
class OAuthCredentials:
    consumer_key: str = "sandbox-consumer-key"
    consumer_secret: str = "sandbox-consumer-secret"
    access_token: str = "sandbox-access-token"
    access_token_secret: str = "sandbox-access-token-secret"


@dataclass
class _AdminToken:
    issued: float
    expires: float
    used: int = 0


@dataclass
class _State:
    tokens: dict[str, _AdminToken] = field(default_factory=dict)
    nonces: dict[tuple[str, str], int] = field(default_factory=dict)  # -> oauth_timestamp


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


FREEZE_FROM_CUSTOMERS = 20_000
# For a process that only serves a sandbox (``segbridge sandbox``, the sync benchmark):
# its handler threads share one interpreter lock, and one rendering a page holds it for
# Python's default 5 ms switch interval while another, its answer ready, waits to send
# it. Handing the lock over every millisecond keeps the answers' delay close to the
# injected latency, as a store whose handlers are processes answers.
SERVING_SWITCH_INTERVAL_S = 0.001


def serve_in_this_process() -> None:
    """Tune the interpreter for a process whose work is serving a sandbox."""
    sys.setswitchinterval(SERVING_SWITCH_INTERVAL_S)


class SandboxServer:
    """The sandbox: ``with SandboxServer(customers=500) as s: ... s.base_url ...``.

    It starts serving as soon as it is constructed; ``close()`` (or leaving the ``with``
    block) stops it. ``merge_mode=False`` emulates the 2.4 patch releases that do not merge
    partial customer bodies of integration callers; ``repeat_last_page=True`` emulates
    2.3's answer past the last page; ``max_page_size`` is the input-limit cap (None: off).
    ``module=False`` serves a store without segbridge's storefront module: its
    ``/V1/segbridge/...`` routes answer 404 as any unknown route does.
    """

    def __init__(self, customers: int = 200, seed: int = 1, orders_per_customer: float = 2.0,
                 active_carts: float = 0.25, port: int = 0, faults: Faults | None = None,
                 merge_mode: bool = True, repeat_last_page: bool = False,
                 latency_s: float = 0.0, token: str = "sandbox-token",
                 host: str = "127.0.0.1", max_page_size: int | None = 300,
                 admin_username: str = "admin", admin_password: str = "sandbox-admin-pw1",
                 admin_token_ttl_s: float = 3600.0, admin_2fa: bool = False,
                 oauth: OAuthCredentials | None = None, integration_bearer: bool = True,
                 denied_resources: tuple[str, ...] = (),
                 now: Any = None, tick: bool = True, shop: Shop | None = None,
                 module: bool = True, simulate_days: int = 0,
                 uplift: dict[str, float] | None = None) -> None:
        if simulate_days and shop is None:
            # the shop starts that many days back, to be played up to ``now``
            # (POST /__sandbox/simulate; bridge.sandbox.simulate)
            now = days_back(now, simulate_days)
        self.shop = shop or Shop(customers=customers, seed=seed,
                                 orders_per_customer=orders_per_customer,
                                 active_carts=active_carts, now=now, tick=tick)
        if len(self.shop.customers) >= FREEZE_FROM_CUSTOMERS:
            # A big generated shop is millions of objects that never become garbage:
            # out of the cyclic collector they are not walked again at every full
            # collection (0.6 s each for 100,000 customers, holding every request
            # meanwhile). What changes later is new objects, collected as usual.
            gc.collect()
            gc.freeze()
        self.specs = self.shop.specs()
        self.token = token
        self.merge_mode = merge_mode
        self.repeat_last_page = repeat_last_page
        self.latency_s = latency_s
        self.max_page_size = max_page_size
        # the storefront module's routes (module_routes.py); False: a store without it
        self.module = module
        # the uplift POST /__sandbox/simulate plays when its body names none
        self.uplift: dict[str, float] = {}
        if uplift:
            self.uplift = check_uplift(uplift)
        self.admin_username = admin_username
        self.admin_password = admin_password
        self.admin_token_ttl_s = admin_token_ttl_s
        self.admin_2fa = admin_2fa
        self.oauth = oauth or OAuthCredentials()
        self.integration_bearer = integration_bearer
        # ACL resources the integration/admin was not granted (e.g. "Magento_Cart::manage")
        self.denied_resources = set(denied_resources)
        self.stats = Stats()
        self._state = _State()
        self._state_lock = threading.Lock()
        self._jwt_key = hashlib.sha256(f"sandbox-jwt-{seed}".encode()).digest()
        self._faults = Faults()
        self._fault_rng = random.Random(0)
        self._fault_lock = threading.Lock()
        self.set_faults(faults or Faults())
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        self._httpd = _HTTPServer((host, port), handler)
        self.host, self.port = self._httpd.server_address[:2]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def rest_url(self, store_code: str = "all") -> str:
        """``{base_url}/rest/{store_code}`` — the REST root a client is configured with."""
        return f"{self.base_url}/rest/{store_code}"

    # ------------------------------------------------------------------ faults
    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings; the fault dice restart from ``faults.seed``."""
        with self._fault_lock:
            self._faults = faults
            self._fault_rng = random.Random(faults.seed)

    def _draw_fault(self, method: str, template: str) -> str | None:
        with self._fault_lock:
            f = self._faults
            u = self._fault_rng.random()
        if f.methods and method not in f.methods:
            return None
        if f.routes and template not in f.routes:
            return None
        return f.pick(u)

    # ------------------------------------------------------------------ auth
    def issue_admin_token(self, body: Any) -> str:
        if not isinstance(body, dict):
            raise ApiError(400, '"%fieldName" is required. Enter and try again.',
                           {"fieldName": "username"})
        user, pw = body.get("username"), body.get("password")
        if not user or not pw:
            raise ApiError(400, "One or more input exceptions have occurred.", None,
                           [{"message": '"%fieldName" is required. Enter and try again.',
                             "parameters": {"fieldName": k}}
                            for k in ("username", "password") if not body.get(k)])
        ok = hmac.compare_digest(str(user), self.admin_username) and \
            hmac.compare_digest(str(pw), self.admin_password)
        if not ok:
            raise ApiError(401, "The account sign-in was incorrect or your account is disabled "
                                "temporarily. Please wait and try again later.")
        if self.admin_2fa:
            raise ApiError(400, "Please use the 2fa provider-specific endpoints to obtain a "
                                "token.", {"active_providers": ["google"]})
        f = self._faults
        ttl = f.token_ttl_s if f.token_ttl_s is not None else self.admin_token_ttl_s
        now = time.time()
        header = _b64url(json.dumps({"kid": "1", "alg": "HS256"}).encode())
        payload = _b64url(json.dumps({"uid": 1, "utypid": 2, "iat": int(now),
                                      "exp": int(now + ttl), "jti": secrets.token_hex(8)}
                                     ).encode())
        sig = _b64url(hmac.new(self._jwt_key, f"{header}.{payload}".encode(),
                               hashlib.sha256).digest())
        tok = f"{header}.{payload}.{sig}"
        with self._state_lock:
            self._state.tokens[tok] = _AdminToken(now, now + ttl)
        return tok

    def expire_admin_tokens(self) -> None:
        """Make every admin token issued so far invalid (as if they all expired)."""
        with self._state_lock:
            self._state.tokens.clear()

    def _authenticate(self, handler: _Handler, method: str, expire: bool) -> str | None:
        """The auth kind: "integration", "admin", "oauth", None (anonymous) or "expired"
        (an admin token that ``expire`` — the token-expiry fault — just expired).

        Raises ApiError(401) for a bad OAuth signature or a reused nonce.
        """
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            if hmac.compare_digest(tok, self.token):
                return "integration" if self.integration_bearer else None
            with self._state_lock:
                info = self._state.tokens.get(tok)
                if info is None:
                    return None
                if expire:
                    del self._state.tokens[tok]
                    return "expired"
                f = self._faults
                expires = info.expires if f.token_ttl_s is None else min(
                    info.expires, info.issued + f.token_ttl_s)
                if expires <= time.time() or (
                        f.token_ttl_requests is not None and info.used >= f.token_ttl_requests):
                    del self._state.tokens[tok]
                    return None
                info.used += 1
            return "admin"
        if auth.startswith("OAuth "):
            self._verify_oauth(handler, method, auth)
            return "oauth"
        return None

    def _verify_oauth(self, handler: _Handler, method: str, auth: str) -> None:
        from oauthlib.common import Request as OAuthRequest
        from oauthlib.oauth1.rfc5849 import signature as sig

        host = handler.headers.get("Host") or f"{self.host}:{self.port}"
        uri = f"http://{host}{handler.path}"
        query = urlsplit(handler.path).query
        body = None
        ctype = handler.headers.get("Content-Type", "")
        if ctype.startswith("application/x-www-form-urlencoded") and handler.raw_body:
            body = handler.raw_body.decode("utf-8", "replace")
        try:
            params = sig.collect_parameters(uri_query=query, body=body,
                                            headers={"Authorization": auth},
                                            exclude_oauth_signature=False)
        except ValueError:
            raise ApiError(401, "The signature is invalid. Verify and try again.") from None
        op = {k: v for k, v in params if k.startswith("oauth_")}
        for k in ("oauth_consumer_key", "oauth_signature", "oauth_signature_method",
                  "oauth_nonce", "oauth_timestamp", "oauth_token"):
            if not op.get(k):
                raise ApiError(401, "oauth_problem=parameter_absent&oauth_parameters_absent=%1",
                               [k])
        if op["oauth_signature_method"] != "HMAC-SHA256":
            raise ApiError(401, "Signature method %1 is not supported",
                           [op["oauth_signature_method"]])
        if op.get("oauth_version", "1.0") != "1.0":
            raise ApiError(401, "OAuth version %1 is not supported", [op["oauth_version"]])
        if not hmac.compare_digest(op["oauth_consumer_key"], self.oauth.consumer_key):
            raise ApiError(401, "A consumer having the specified key does not exist")
        if not hmac.compare_digest(op["oauth_token"], self.oauth.access_token):
            raise ApiError(401, "Specified token does not exist")
        try:
            ts = int(op["oauth_timestamp"])
        except ValueError:
            ts = -1
        if ts <= 0 or ts > time.time() + 600:
            raise ApiError(401, "Incorrect timestamp value in the oauth_timestamp parameter")
        req = OAuthRequest(uri, http_method=method)
        req.params = [(k, v) for k, v in params if k != "oauth_signature"]
        req.signature = op["oauth_signature"]
        if not sig.verify_hmac_sha256(req, self.oauth.consumer_secret,
                                      self.oauth.access_token_secret):
            raise ApiError(401, "The signature is invalid. Verify and try again.")
        key = (op["oauth_consumer_key"], op["oauth_nonce"])
        with self._state_lock:
            if key in self._state.nonces:
                raise ApiError(401, "The nonce is already being used by the consumer with ID "
                                    "%1", ["1"])
            nonces = self._state.nonces
            if len(nonces) >= 200_000:  # Magento's cron forgets old nonces too
                horizon = time.time() - 3600
                self._state.nonces = nonces = {k: t for k, t in nonces.items() if t > horizon}
            nonces[key] = ts

    # ------------------------------------------------------------------ control routes
    def control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """``/__sandbox/...`` (control.py)."""
        return control(self, method, path, body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 makes bursts of new connections wait for SYN retries


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache"
    sys_version = ""
    sandbox: SandboxServer
    raw_body: bytes = b""
    _answer_at = 0.0  # monotonic time the API answer may leave (see _dispatch)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        # one small write for headers, one for the body: without NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.sandbox._conns_lock:
            self.sandbox._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.sandbox._conns_lock:
                self.sandbox._conns.discard(self.connection)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = "application/json; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self._wait_answer()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(body)  # headers and body leave in one write
        self.flush_headers()

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        # msgspec: the same JSON values as json.dumps several times faster (non-ASCII
        # text as UTF-8 rather than \u escapes, as either is valid JSON).
        body = value.encode() if isinstance(value, RawJson) else dumps(value)
        self._send(status, body, headers=headers)

    def _error(self, e: ApiError) -> None:
        if e.status == 500:
            self._json(500, {"message": "Internal Error. Details are available in Magento log "
                                        f"file. Report ID: webapi-{secrets.token_hex(6)}"})
        else:
            self._json(e.status, e.body())

    def _wait_answer(self) -> None:
        delay = self._answer_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _drop(self) -> None:
        self._wait_answer()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        arrived = time.monotonic()
        self._answer_at = 0.0
        sb = self.sandbox
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith("/__sandbox/"):
            try:
                body = json.loads(self.raw_body) if self.raw_body else None
            except ValueError:
                self._json(400, {"message": "control body must be JSON"})
                return
            status, value = sb.control(method, path, body)
            self._json(status, value)
            return
        # /rest/{store}/V1/... or /rest/V1/...
        segs = path.split("/")
        store_id: int | None = None
        api_path = ""
        if len(segs) >= 3 and segs[1] == "rest":
            if segs[2].startswith("V") and segs[2][1:].isdigit():
                store_id, api_path = 1, "/" + "/".join(segs[2:])
            elif segs[2] == "all":
                store_id, api_path = 0, "/" + "/".join(segs[3:])
            elif segs[2] in sb.shop.store_by_code and segs[2] != "admin":
                store_id = sb.shop.store_by_code[segs[2]].id
                api_path = "/" + "/".join(segs[3:])
        found = match(method, api_path) if store_id is not None else None
        if found is None and store_id is not None and sb.module:
            found = match_module(method, api_path)
        # The answer leaves the latency after the request came in, the time to render it
        # included, as a store's that answers in that time (which renders on its own
        # machine); only an answer that takes longer to render leaves later.
        self._answer_at = arrived + sb.latency_s + sb.faults.latency_s
        if not path.startswith("/rest/"):
            # outside the REST area the storefront answers: an HTML "page not found"
            sb.stats.count(method, "(no route)")
            self._send(404, STOREFRONT_404_HTML.encode(), "text/html; charset=UTF-8")
            return
        if found is None:
            sb.stats.count(method, "(no route)")
            self._json(404, {"message": NO_ROUTE})
            return
        route, params = found
        sb.stats.count(method, route.template)
        fault = sb._draw_fault(method, route.template)
        if fault is not None and fault not in ("token_expiry", "lost_answer"):
            sb.stats.fault(fault)
            self._fault(fault)
            return
        try:
            self._api(route, params, parts.query, store_id, method, fault)
        except ApiError as e:
            self._error(e)
        except Exception:  # a sandbox bug must look like Magento's masked 500, not hang
            import traceback

            traceback.print_exc()
            self._error(ApiError(500, "__masked__"))

    def _fault(self, kind: str) -> None:
        f = self.sandbox.faults
        if kind == "429":
            retry = formatdate(time.time() + f.retry_after_s, usegmt=True) \
                if f.retry_after_date else str(f.retry_after_s)
            self._json(429, {"message": "Too Many Requests"}, {"Retry-After": retry})
        elif kind == "503":
            extra = {} if f.maintenance_retry_after_s is None else {
                "Retry-After": str(f.maintenance_retry_after_s)}
            self._send(503, MAINTENANCE_HTML.encode(), "text/html; charset=UTF-8", extra)
        elif kind == "edge_block":
            self._send(403, EDGE_BLOCK_HTML.encode(), "text/html; charset=UTF-8")
        elif kind == "500":
            self._error(ApiError(500, "__masked__"))
        elif kind == "drop":
            self._drop()

    def _api(self, route: Route, params: dict[str, str], query: str, store_id: int,
             method: str, fault: str | None) -> None:
        sb = self.sandbox
        kind = sb._authenticate(self, method, expire=fault == "token_expiry")
        if kind == "expired":
            sb.stats.fault("token_expiry")
            kind = None
        if route.acl != "anonymous" and (kind is None or route.acl in sb.denied_resources):
            raise ApiError(401, NOT_AUTHORIZED, {"resources": route.acl})
        q = parse_php_query(query) if query else {}
        body = None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if self.raw_body and method in ("POST", "PUT") and "json" not in ctype:
            raise ApiError(400, "Server cannot understand Content-Type HTTP header media type "
                                "%1", [ctype or "(none)"])
        if self.raw_body and method in ("POST", "PUT"):
            try:
                body = json.loads(self.raw_body)
            except ValueError as e:
                raise ApiError(400, "Decoding error: %1", [str(e)]) from None
        call = Call(method, route.template, params, q, body, store_id, sb,
                    dict(self.headers.items()))
        value = route.handler(call)
        if (method == "GET" and isinstance(q.get("fields"), str) and q["fields"]
                and not isinstance(value, RawJson)):
            value = fields_projection(q["fields"])(value)
        if fault == "lost_answer":
            sb.stats.fault("lost_answer")
            self._drop()
            return
        self._json(200, value)


def set_settings(server: SandboxServer, **kw: Any) -> SandboxServer:
    """Change server switches (merge_mode, repeat_last_page, max_page_size, latency_s)."""
    for k, v in kw.items():
        if k not in ("merge_mode", "repeat_last_page", "max_page_size", "latency_s", "module"):
            raise ValueError(f"unknown sandbox setting {k}")
        setattr(server, k, v)
    return server


__all__ = ["Faults", "OAuthCredentials", "SandboxServer", "Stats", "set_settings"]
