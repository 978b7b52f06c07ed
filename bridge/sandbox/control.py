"""The sandbox's admin and fault controls, apart from the shop's data and the REST routes.

``Faults`` (opt-in misbehaviour, drawn per request by the server), ``Stats`` (request
counts per route) and the ``/__sandbox/...`` control surface (``control``): info, stats,
faults, touch, the shop clock, settings, simulate, expire-tokens. ``ServerView`` is what
the routes and the controls use of the server, so that neither imports ``server.py``.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from bridge.sandbox.search import EntitySpec
from bridge.sandbox.shop import Shop
from bridge.sandbox.simulate import control_route

FAULT_KINDS = ("429", "503", "500", "drop", "token_expiry", "lost_answer", "edge_block")

MAINTENANCE_HTML = (
    "<!doctype html>\n<html><head><title>Service Temporarily Unavailable</title></head>"
    "<body><h1>Service Temporarily Unavailable</h1><p>The server is temporarily unable "
    "to service your request due to maintenance downtime or capacity problems. Please try "
    "again later.</p></body></html>\n"
)
EDGE_BLOCK_HTML = (
    "<!DOCTYPE html>\n<html><head><title>Attention Required! | Cloudflare</title></head>"
    "<body><div id=\"cf-error-details\" class=\"cf-error-details-wrapper\"><h1>Sorry, you "
    "have been blocked</h1></div></body></html>\n"
)


@dataclass(frozen=True)
class Faults:
    """Opt-in misbehaviour. Each ``rate_*`` is the share of API requests (0..1) that get
    that fault, drawn from ``random.Random(seed)`` so a run is reproducible.

    - latency_s: added to every API answer's latency (on top of the server's ``latency_s``).
    - rate_429: 429 JSON "Too Many Requests" with ``Retry-After`` (``retry_after_s``
      seconds, or an HTTP date when ``retry_after_date``).
    - rate_503: HTML maintenance page, 503, no Retry-After (Magento's pub/errors).
    - rate_500: masked 500 "Internal Error. … Report ID: webapi-…".
    - rate_drop: the connection is closed without an answer; nothing happens.
    - rate_token_expiry: the admin token used by the request expires now (401); only
      requests authenticated with an admin token are affected (integration tokens and
      OAuth never expire in Magento).
    - token_ttl_s / token_ttl_requests: admin tokens expire that many seconds after they
      were issued / after that many authenticated requests (applies to tokens already
      issued too).
    - rate_lost_answer: the request IS applied, then the connection drops (lost answer).
    - rate_edge_block: a CDN/WAF refusal: HTML 403 with Cloudflare's ``cf-error-details``.
    - maintenance_retry_after_s: send this Retry-After with the 503 page (some custom
      maintenance pages do; Magento's own does not).
    - poison_order_ids: an /V1/orders list page holding one of these orders answers a masked
      500 (mm#32306, "Item with the same ID already exists"); GET /V1/orders/{id} works.
    - poison_customer_ids: a PUT of one of these customers answers a masked 500, every
      time (a record Magento cannot save); GET and the other customers work.
    - methods / routes: limit the rate faults to these HTTP methods / route templates.
    """

    latency_s: float = 0.0
    rate_429: float = 0.0
    retry_after_s: int = 1
    retry_after_date: bool = False
    rate_503: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    rate_token_expiry: float = 0.0
    token_ttl_s: float | None = None
    token_ttl_requests: int | None = None
    rate_lost_answer: float = 0.0
    rate_edge_block: float = 0.0
    maintenance_retry_after_s: int | None = None
    poison_order_ids: tuple[int, ...] = ()
    poison_customer_ids: tuple[int, ...] = ()
    seed: int = 0
    methods: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()

    @classmethod
    def only(cls, kind: str, rate: float, seed: int = 0, **kw: Any) -> Faults:
        """One fault kind ("429", "503", "500", "drop", "token_expiry", "lost_answer")."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        return cls(**{f"rate_{kind}": rate}, seed=seed, **kw)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        d = dict(data)
        for k in ("methods", "routes", "poison_order_ids", "poison_customer_ids"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    def pick(self, u: float) -> str | None:
        acc = 0.0
        for kind in FAULT_KINDS:
            acc += getattr(self, f"rate_{kind}")
            if u < acc:
                return kind
        return None


class Stats:
    """Request counts per (method, route template), thread-safe and resettable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_route: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[str] = Counter()
        self.total = 0

    def count(self, method: str, template: str) -> None:
        with self._lock:
            self.by_route[(method, template)] += 1
            self.total += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def get(self, method: str, template: str) -> int:
        with self._lock:
            return self.by_route[(method, template)]

    def reset(self) -> None:
        with self._lock:
            self.by_route.clear()
            self.faults.clear()
            self.total = 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self.total,
                    "routes": {f"{m} {t}": n for (m, t), n in sorted(self.by_route.items())},
                    "faults": dict(self.faults)}

class ServerView(Protocol):
    """What the routes (routes.py, module_routes.py) and ``control`` use of a
    ``SandboxServer``."""

    shop: Shop
    specs: dict[str, EntitySpec]
    base_url: str
    merge_mode: bool
    repeat_last_page: bool
    max_page_size: int | None
    latency_s: float
    module: bool
    uplift: dict[str, float]
    stats: Stats

    @property
    def faults(self) -> Faults: ...

    def set_faults(self, faults: Faults) -> None: ...

    def issue_admin_token(self, body: Any) -> str: ...

    def expire_admin_tokens(self) -> None: ...


def control(server: ServerView, method: str, path: str, body: Any) -> tuple[int, Any]:
    """``/__sandbox/...`` for benches that run the sandbox in another process."""
    shop = server.shop
    if path == "/__sandbox/info" and method == "GET":
        return 200, {"customers": len(shop.customers), "orders": len(shop.orders),
                     "carts": len(shop.carts), "now": shop.clock.now_text(),
                     "merge_mode": server.merge_mode,
                     "repeat_last_page": server.repeat_last_page,
                     "max_page_size": server.max_page_size}
    if path == "/__sandbox/stats":
        if method == "GET":
            return 200, server.stats.snapshot()
        if method in ("DELETE", "POST"):
            server.stats.reset()
            return 200, {"reset": True}
    if path == "/__sandbox/stats/reset" and method == "POST":
        server.stats.reset()
        return 200, {"reset": True}
    if path == "/__sandbox/faults":
        if method == "GET":
            return 200, asdict(server.faults)
        if method == "POST":
            try:
                server.set_faults(Faults.from_dict(body or {}))
            except (TypeError, ValueError) as e:
                return 400, {"message": str(e)}
            return 200, asdict(server.faults)
    if path == "/__sandbox/touch" and method == "POST":
        args = body or {}
        allowed = {"customers", "orders", "carts", "addresses", "seed"}
        if not isinstance(args, dict) or set(args) - allowed:
            return 400, {"message": f"touch takes {sorted(allowed)}"}
        return 200, shop.touch(**args)
    if path == "/__sandbox/clock":
        if method == "POST":
            shop.clock.advance(float((body or {}).get("advance", 0)))
        return 200, {"now": shop.clock.now_text()}
    if path == "/__sandbox/settings" and method == "POST":
        for k in ("merge_mode", "repeat_last_page", "max_page_size", "latency_s", "module"):
            if isinstance(body, dict) and k in body:
                setattr(server, k, body[k])
        return 200, {"merge_mode": server.merge_mode,
                     "repeat_last_page": server.repeat_last_page,
                     "max_page_size": server.max_page_size, "latency_s": server.latency_s,
                     "module": server.module}
    if path == "/__sandbox/simulate" and method == "POST":
        return control_route(shop, body, server.uplift)
    if path == "/__sandbox/expire-tokens" and method == "POST":
        server.expire_admin_tokens()
        return 200, {"expired": True}
    return 404, {"message": f"no control route {method} {path}"}
