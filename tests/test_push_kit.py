"""Helpers for the push tests (no tests here): a killing proxy, configs, snapshots."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

WRITE_METHODS = ("POST", "PUT", "DELETE")


class KillProxy:
    """An HTTP proxy in front of the sandbox that SIGKILLs a process at its k-th write.

    ``when="before"``: the k-th write never reaches the shop; ``when="after"``: the shop
    applies it and the process dies before it reads the answer (an answer lost).
    Reads pass through untouched. This is a real, external kill at an exact point.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.kill_at: int | None = None
        self.when = "after"
        self.pid: int | None = None
        self.writes = 0
        self.killed = False
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                kill_now = False
                if self.command in WRITE_METHODS:
                    with proxy._lock:
                        proxy.writes += 1
                        kill_now = proxy.kill_at is not None and proxy.writes == proxy.kill_at
                if kill_now and proxy.when == "before":
                    proxy._kill()
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if kill_now:
                    proxy._kill()
                    self.close_connection = True
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                # headers and body in one send: no Nagle / delayed-ACK stall per answer
                self._headers_buffer.append(b"\r\n" + data)
                self.flush_headers()

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def arm(self, pid: int | None, kill_at: int, when: str) -> None:
        with self._lock:
            self.pid, self.kill_at, self.when = pid, kill_at, when
            self.writes, self.killed = 0, False

    def _kill(self) -> None:
        while self.pid is None:  # armed before the process existed: wait for its pid
            time.sleep(0.001)
        if not self.killed:
            self.killed = True
            self.kill_at = None
            os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


VIP_TOML = """\
code = "vip"
name = "VIP customers"
description = "Spent a lot"
priority = 100

[conditions]
match = "all"
value = true

[[conditions.rules]]
attribute = "sales.amount"
aggregate = "total"
operator = ">="
value = {vip_threshold}

[group]
code = "VIP"

[[cms_blocks]]
identifier = "home-hero"
title = "VIP hero"
content_file = "blocks/vip.html"
stores = [1, 2]

[[cart_rules]]
name = "VIP 10% off"
simple_action = "by_percent"
discount_amount = 10
coupon_code = "VIP10"

[[cart_rules]]
name = "VIP free shipping"
simple_action = "by_fixed"
discount_amount = 0
apply_to_shipping = true
"""

LOYAL_TOML = """\
code = "loyal"
name = "Loyal customers"
priority = 50

[conditions]
match = "all"
value = true

[[conditions.rules]]
attribute = "sales.orders_count"
operator = ">="
value = {loyal_orders}

[group]
code = "Loyal"

[[cms_blocks]]
identifier = "home-hero"
title = "Loyal hero"
content_file = "blocks/loyal.html"
stores = [0]

[[cart_rules]]
name = "Loyal 5 off"
simple_action = "cart_fixed"
discount_amount = 5
"""


def write_mappings(root: Path, *, vip_threshold: int = 500, loyal_orders: int = 3) -> Path:
    mdir = root / "mappings"
    (mdir / "blocks").mkdir(parents=True, exist_ok=True)
    (mdir / "vip.toml").write_text(VIP_TOML.format(vip_threshold=vip_threshold))
    (mdir / "loyal.toml").write_text(LOYAL_TOML.format(loyal_orders=loyal_orders))
    (mdir / "blocks" / "vip.html").write_text("<h1>Welcome back, VIP</h1>\n")
    (mdir / "blocks" / "loyal.html").write_text("<h1>Thanks for coming back</h1>\n")
    return mdir


def write_config(
    root: Path, base_url: str, db_url: str, mappings: Path, *, max_changes: int = 5000,
    write_concurrency: int = 1, extra_push: str = "",
) -> Path:
    path = root / "segbridge.toml"
    path.write_text(
        f"""\
[magento]
base_url = "{base_url}"
store_code = "all"
timeout_s = 30
page_size = 100
concurrency = 2
write_concurrency = {write_concurrency}

[magento.auth]
method = "token"
token_env = "SEGBRIDGE_TEST_TOKEN"

[store]
url = "{db_url}"

[sync]
since = "3650d"

[push]
movable_groups = ["General"]
max_changes = {max_changes}
tax_class_id = 3
{extra_push}

[mappings]
dir = "{mappings}"
"""
    )
    return path


# --- a scenario: sandbox + store + config, synced and evaluated -------------------------

TOKEN_ENV = "SEGBRIDGE_TEST_TOKEN"


class Scenario:
    """A sandbox shop, a store database and a config, with helpers to run the stages."""

    def __init__(self, root: Path, db_url: str, *, customers: int = 150, seed: int = 3,
                 merge_mode: bool = True, proxy: bool = False, module: bool = False,
                 **config_kw: Any) -> None:
        from bridge.config import load_config
        from bridge.sandbox.server import SandboxServer
        from bridge.store.engine import open_store

        os.environ[TOKEN_ENV] = "sandbox-token"
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        # module=False: a store without the storefront module (one GET and PUT a customer)
        self.sandbox = SandboxServer(customers=customers, seed=seed, merge_mode=merge_mode,
                                     module=module)
        self.shop = self.sandbox.shop
        self.proxy = KillProxy(self.sandbox.base_url) if proxy else None
        self.mappings = write_mappings(root)
        self.db_url = db_url
        base_url = self.proxy.base_url if self.proxy else self.sandbox.base_url
        self.config_path = write_config(root, base_url, db_url, self.mappings, **config_kw)
        self.config = load_config(self.config_path)
        self.engine = open_store(db_url)

    def client(self, **kw: Any) -> Any:
        from bridge.magento.client import MagentoClient
        from bridge.magento.retry import RetryPolicy

        return MagentoClient(self.config.magento, policy=RetryPolicy.fast(), **kw)

    def reload(self) -> None:
        from bridge.config import load_config

        self.config = load_config(self.config_path)

    def segments(self) -> list[Any]:
        from bridge.segments.loader import load_segments

        return load_segments(self.config.mappings.dir, self.config)

    def sync_evaluate(self, *, full: bool = False) -> None:
        from bridge.segments.evaluate import evaluate
        from bridge.sync.runner import run_sync
        from bridge.timeutil import utcnow

        with self.client(read_only=True) as c:
            run_sync(self.config, self.engine, full=full, client=c)
        evaluate(self.engine, self.segments(), utcnow(), config=self.config)

    def push(self, **kw: Any) -> Any:
        from bridge.push.service import push_once

        with self.client() as c:
            return push_once(self.engine, self.config, self.segments(), c, **kw)

    def writes(self) -> int:
        snap = self.sandbox.stats.snapshot()["routes"]
        return sum(n for route, n in snap.items() if route.split()[0] in WRITE_METHODS)

    def group_id(self, code: str) -> int:
        for g in self.shop.groups.values():
            if g.code == code:
                return int(g.id)
        raise KeyError(code)

    def close(self) -> None:
        self.engine.dispose()
        if self.proxy:
            self.proxy.close()
        self.sandbox.close()


def customer_records(shop: Any) -> dict[int, dict[str, Any]]:
    """Every customer as Magento would answer, minus updated_at (a save bumps it)."""
    with shop.lock:
        out = {}
        for c in shop.customers.values():
            d = shop.customer_json(c)
            d.pop("updated_at", None)
            out[int(c.id)] = d
        return out


def shop_state(shop: Any) -> dict[str, Any]:
    """The Magento state a push decides, with ids replaced by natural keys."""
    with shop.lock:
        code = {g.id: g.code for g in shop.groups.values()}
        rules = {r.id: r.data for r in shop.rules.values()}

        def ident(text: str) -> str:
            slot, _, gid = text.rpartition("--group-")
            return f"{slot}--group-{code.get(int(gid), gid)}" if gid.isdigit() else text

        return {
            "groups": sorted((g.code, g.tax_class_id) for g in shop.groups.values()),
            "customers": {c.id: code[c.group_id] for c in shop.customers.values()},
            "blocks": sorted(
                (ident(b.identifier), tuple(b.store_ids), b.title, b.content, bool(b.active))
                for b in shop.blocks.values()
            ),
            "rules": sorted(
                (d.get("description"), d.get("name"), bool(d.get("is_active")),
                 tuple(code[g] for g in d["customer_group_ids"]), tuple(d["website_ids"]),
                 d.get("simple_action"), float(d.get("discount_amount") or 0),
                 d.get("coupon_type"))
                for d in rules.values()
            ),
            "coupons": sorted(
                (cp.data["code"], rules[cp.data["rule_id"]].get("description"))
                for cp in shop.coupons.values()
            ),
        }
