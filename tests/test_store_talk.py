"""Talking to the store (docs/commands.md): a store that cannot be reached, refused credentials, a
refused admin login, garbage list answers, NULs in shop data, credentials in base_url.

Everything here drives the real client over 127.0.0.1: the sandbox, the sandbox behind
``tamper.TamperProxy`` (which replaces chosen answers), or a port nothing listens on.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine, select
from tamper import TamperProxy

from bridge.config import Config, MagentoConfig, parse_config
from bridge.errors import ConfigError
from bridge.logging_setup import HTTP, level_for, setup_logging, short_url
from bridge.magento import errors as E
from bridge.magento.auth import TokenAuth
from bridge.magento.client import MagentoClient
from bridge.magento.retry import RetryPolicy
from bridge.sandbox.server import Faults, SandboxServer
from bridge.store.engine import open_store
from bridge.store.models import Customer, Order, Quarantine, Run, SyncState
from bridge.sync import offload, run_sync

REPO = Path(__file__).resolve().parent.parent
TOKEN = "sandbox-token"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(base_url: str, store_url: str, **magento: Any) -> Config:
    return parse_config({
        "magento": {"base_url": base_url, "page_size": 20, "concurrency": 4, "timeout_s": 10,
                    **magento},
        "store": {"url": store_url},
        "sync": {"since": "3650d"},
        "privacy": {"keep": "all"},  # the shop's data as it is: every field kept
    }, None)


def _cli(tmp_path: Path, base_url: str, *args: str, env: dict[str, str] | None = None,
         auth: str = "", timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    """``segbridge [args]`` in a subprocess with a fresh SQLite store; (result, seconds)."""
    cfg = tmp_path / "segbridge.toml"
    cfg.write_text(f'[magento]\nbase_url = "{base_url}"\n{auth}\n'
                   f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n')
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(cfg), *args],
        capture_output=True, text=True, cwd=REPO, timeout=timeout,
        env={**os.environ, "MAGENTO_TOKEN": TOKEN, **(env or {})},
    )
    return out, time.monotonic() - started


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGENTO_TOKEN", TOKEN)


@pytest.fixture
def shop_server(token_env: None) -> Iterator[SandboxServer]:
    with SandboxServer(customers=120, seed=7, orders_per_customer=2.0, active_carts=0.3,
                       token=TOKEN) as server:
        yield server


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _sync(cfg: Config, engine: Engine, **kw: Any) -> Any:
    client = MagentoClient(cfg.magento, read_only=True, policy=RetryPolicy.fast())
    try:
        return run_sync(cfg, engine, client=client, **kw)
    finally:
        client.close()


# --- a store that cannot be reached ------------------------------------------------------


@pytest.mark.parametrize("where", ["closed port", "no such name"])
def test_an_unreachable_store_fails_the_sync_within_30_s_with_one_line(
    tmp_path: Path, where: str
) -> None:
    base = (f"http://127.0.0.1:{closed_port()}" if where == "closed port"
            else "http://segbridge-nonexistent.invalid")
    out, seconds = _cli(tmp_path, base, "sync")
    assert out.returncode == 1, out.stderr
    assert seconds < 30
    lines = _lines(out.stderr)
    assert len(lines) == 1, out.stderr
    assert f"magento.base_url {base} cannot be reached" in lines[0]
    cause = "connection refused" if where == "closed port" else "name not found"
    assert cause in lines[0]
    assert "Traceback" not in out.stderr and "urllib3" not in out.stderr


def test_a_tls_handshake_that_fails_is_final_at_once(token_env: None) -> None:
    """https:// to a port that speaks plain HTTP: the handshake fails before any answer."""
    with SandboxServer(customers=5, seed=2, token=TOKEN) as server:
        base = server.base_url.replace("http://", "https://")
        client = MagentoClient(MagentoConfig(base_url=base), auth=TokenAuth(TOKEN))
        started = time.monotonic()
        with pytest.raises(E.StoreUnreachableError) as info:
            client.websites()
        assert time.monotonic() - started < 5
    assert f"magento.base_url {base} cannot be reached: TLS handshake failed" in str(info.value)
    assert "\n" not in str(info.value)


def test_the_client_raises_the_typed_error_and_sends_nothing_more() -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    client = MagentoClient(MagentoConfig(base_url=base), auth=TokenAuth("t"))
    started = time.monotonic()
    with pytest.raises(E.StoreUnreachableError) as info:
        client.websites()
    assert time.monotonic() - started < 5  # no retry table: not reached at all is final
    assert info.value.exit_code == 1
    assert not isinstance(info.value, E.MagentoError)  # no step catches it to go on
    assert str(info.value).startswith(f"magento.base_url {base} cannot be reached: "
                                      "connection refused")
    assert client.stats.requests == 1
    with pytest.raises(E.StoreUnreachableError):
        client.store_views()
    assert client.stats.requests == 1  # said once: the client does not try again


def test_a_connection_that_hangs_before_any_answer_is_cut_at_ten_seconds() -> None:
    """A listening socket that never accepts (backlog full) is "no answer to connect";
    a timeout_s of 3 s keeps the test short: the first connect waits min(timeout_s, 10)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(0)
        port = s.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):  # fill the accept queue so a new connect gets no answer
                f = socket.socket()
                f.setblocking(False)
                f.connect_ex(("127.0.0.1", port))
                fillers.append(f)
            client = MagentoClient(MagentoConfig(base_url=f"http://127.0.0.1:{port}",
                                                 timeout_s=3), auth=TokenAuth("t"))
            started = time.monotonic()
            try:
                client.websites()
            except E.StoreUnreachableError as exc:
                assert "no answer to connect" in str(exc)
            except E.MagentoError as exc:
                if "connect timeout" in str(exc):  # the retry table ran: not final at once
                    raise
                # connected after all, then no answer: not this case
                pytest.skip("this kernel completes connects beyond the backlog")
            else:
                pytest.fail("a socket that never accepts answered")
            assert time.monotonic() - started < 10
        finally:
            for f in fillers:
                f.close()


def test_once_the_store_answered_a_dropped_connection_is_retried_as_before(
    token_env: None,
) -> None:
    with SandboxServer(customers=30, seed=2, token=TOKEN) as server:
        client = MagentoClient(MagentoConfig(base_url=server.base_url, concurrency=1),
                               policy=RetryPolicy.fast(), auth=TokenAuth(TOKEN))
        assert client.websites()
        server.set_faults(Faults.only("drop", 1.0))
        with pytest.raises(E.ConnectionFailedError):
            client.store_views()
        assert client.stats.retries_by_kind["CONNECTION"] == 7  # the retry table, as today


# --- credentials ---------------------------------------------------------------------------


def test_a_refused_token_is_one_line_said_once_and_sent_once(tmp_path: Path,
                                                             token_env: None) -> None:
    with SandboxServer(customers=30, seed=2, token=TOKEN) as server:
        out, _ = _cli(tmp_path, server.base_url, "sync", env={"MAGENTO_TOKEN": "revoked"})
        assert server.stats.total == 1
    assert out.returncode == 1
    lines = _lines(out.stderr)
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert "MAGENTO_TOKEN" in line and "wrong or revoked" in line
    assert "API resources" in line and "bearer" in line and "docs/config.md" in line
    assert "renew" not in line.lower()
    assert "Traceback" not in out.stderr


def test_a_refused_oauth_signature_names_the_four_variables(token_env: None) -> None:
    from bridge.config import AuthConfig
    from bridge.magento.auth import OAuth1Auth

    with SandboxServer(customers=30, seed=2, token=TOKEN) as server:
        env = {k: f"SB_{k.upper()}" for k in ("consumer_key_env", "consumer_secret_env",
                                               "access_token_env", "access_token_secret_env")}
        cfg = MagentoConfig(base_url=server.base_url,
                            auth=AuthConfig(method="oauth1", env=env))
        client = MagentoClient(cfg, policy=RetryPolicy.fast(),
                               auth=OAuth1Auth("ck", "wrong", "at", "wrong"))
        with pytest.raises(E.CredentialsRefusedError) as info:
            client.websites()
        with pytest.raises(E.CredentialsRefusedError):
            client.store_views()
        assert server.stats.total == 1
    text = str(info.value)
    for name in env.values():
        assert name in text
    assert "clock" in text and "wrong or revoked" in text and "\n" not in text


def test_a_401_after_the_credentials_worked_names_the_missing_resource(token_env: None) -> None:
    with SandboxServer(customers=30, seed=2, token=TOKEN,
                       denied_resources=("Magento_Cart::manage",)) as server:
        client = MagentoClient(MagentoConfig(base_url=server.base_url),
                               policy=RetryPolicy.fast(), auth=TokenAuth(TOKEN))
        client.websites()
        with pytest.raises(E.AuthError) as info:
            client.search_carts_page()
        assert not isinstance(info.value, E.CredentialsRefusedError)
        assert "Magento_Cart::manage" in str(info.value)
        assert "lacks this API resource" in str(info.value)
        assert client.websites()  # the credentials still work for what they may do


@pytest.mark.db
def test_a_refused_admin_login_is_tried_once_per_sync(token_env: None, store: Engine,
                                                      db_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_ADMIN_USER", "admin")
    monkeypatch.setenv("SB_ADMIN_PASSWORD", "not-the-password")
    with SandboxServer(customers=30, seed=2, token=TOKEN) as server:
        cfg = parse_config({
            "magento": {"base_url": server.base_url, "auth": {
                "method": "admin", "username_env": "SB_ADMIN_USER",
                "password_env": "SB_ADMIN_PASSWORD"}},
            "store": {"url": db_url}}, None)
        with pytest.raises(E.AdminLoginError) as info:
            _sync(cfg, store)
        assert server.stats.get("POST", "/V1/integration/admin/token") == 1
        assert server.stats.total == 1
    assert "SB_ADMIN_USER" in str(info.value) and "SB_ADMIN_PASSWORD" in str(info.value)
    assert "not-the-password" not in str(info.value)
    with store.connect() as conn:
        run = conn.execute(select(Run.status, Run.message)).one()
    assert run.status == "failed"


# --- garbage list answers ------------------------------------------------------------------


def _html(method: str, path: str, status: int, body: bytes) -> tuple[int, str, bytes] | None:
    if path.startswith("/rest/all/V1/orders?"):
        return 200, "text/html", b"<html><body>Welcome to our shop!</body></html>"
    return None


def _no_total(method: str, path: str, status: int, body: bytes) -> tuple[int, str, bytes] | None:
    if path.startswith("/rest/all/V1/orders?") and status == 200:
        data = msgspec.json.decode(body)
        data.pop("total_count", None)
        return 200, "application/json", msgspec.json.encode(data)
    return None


@pytest.mark.db
@pytest.mark.parametrize("garbage", [_html, _no_total], ids=["html-200", "no-total-count"])
def test_a_garbage_list_answer_fails_its_entity_and_keeps_its_watermark(
    shop_server: SandboxServer, store: Engine, db_url: str, garbage: Any
) -> None:
    with TamperProxy(shop_server.base_url, garbage) as proxy:
        result = _sync(_config(proxy.base_url, db_url), store)
        orders_requests = proxy.count("/V1/orders")
    assert result.status == "failed" and result.exit_code == 1
    assert result.counts["orders"].error
    assert orders_requests == 2  # the first page and one retry (the retry table): no bisection
    with store.connect() as conn:
        marks = dict(conn.execute(select(SyncState.entity, SyncState.watermark)).all())
        n_orders = len(conn.execute(select(Order.id)).all())
        n_customers = len(conn.execute(select(Customer.id)).all())
    assert marks.get("orders") is None  # unmoved: the next sync reads the orders again
    assert n_orders == 0
    assert marks.get("customers") is not None and marks.get("carts") is not None
    assert n_customers == len(shop_server.shop.customers.ids)  # the other entities went on


@pytest.mark.db
def test_a_later_page_without_total_count_fails_the_entity_and_stops_nothing_else(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    seen = {"orders": 0}

    def later(method: str, path: str, status: int, body: bytes) -> Any:
        if path.startswith("/rest/all/V1/orders?"):
            seen["orders"] += 1
            if seen["orders"] > 3:
                return _no_total(method, path, status, body)
        return None

    with TamperProxy(shop_server.base_url, later) as proxy:
        result = _sync(_config(proxy.base_url, db_url), store)
    assert result.status == "failed" and result.exit_code == 1
    with store.connect() as conn:
        assert conn.execute(select(SyncState.watermark).where(
            SyncState.entity == "orders")).scalar() is None


@pytest.mark.db
def test_a_store_failing_every_list_request_is_not_bisected_for_ever(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    """Masked 500s on every orders list request: a request that can match no record
    fails too, so the entity fails after two requests instead of halving the page, some
    40 requests per round and 50 rounds."""
    def always_500(method: str, path: str, status: int, body: bytes) -> Any:
        if path.startswith("/rest/all/V1/orders?"):
            return 500, "application/json", msgspec.json.encode(
                {"message": "Internal Error. Details are available in Magento log file. "
                            "Report ID: webapi-1"})
        return None

    with TamperProxy(shop_server.base_url, always_500) as proxy:
        result = _sync(_config(proxy.base_url, db_url), store)
        requests = proxy.count("/V1/orders")
    assert result.status == "failed" and result.exit_code == 1
    # 4 attempts (3 retries of a masked 500) per request: the first page and the request
    # matching no record
    assert requests == 4 * 2, requests
    assert "even one that matches no record" in (result.counts["orders"].error or "")
    with store.connect() as conn:
        assert not conn.execute(select(Quarantine.id)).all()  # no record blamed for it
        assert conn.execute(select(SyncState.watermark).where(
            SyncState.entity == "orders")).scalar() is None


# --- NULs in shop data ---------------------------------------------------------------------


@pytest.fixture(params=["threads", "worker"])
def transform_in(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Pages transformed by the writer thread (general path) or in the worker process
    (orders by ``bridge.sync.lean``) from their raw bodies."""
    if request.param == "worker":
        monkeypatch.setattr(offload, "MIN_RECORDS", 1)
    return str(request.param)


@pytest.mark.db
def test_a_nul_in_shop_data_is_dropped_alike_on_every_database(
    shop_server: SandboxServer, store: Engine, db_url: str, transform_in: str
) -> None:
    shop = shop_server.shop
    with shop.lock:
        cid = shop.customers.ids[3]
        shop.update_customer(cid, firstname="An\x00na")
        order = shop.add_order(shop.customers.ids[4], items=[("SB-1000", 1)],
                               email="nul\x00l@example.org")
    result = _sync(_config(shop_server.base_url, db_url), store)
    assert result.status == "ok", result.errors
    with store.connect() as conn:
        first = conn.execute(select(Customer.firstname).where(Customer.id == cid)).scalar()
        email = conn.execute(select(Order.customer_email).where(Order.id == order.id)).scalar()
        assert not conn.execute(select(Quarantine.id)).all()
    assert first == "Anna"
    assert email == "null@example.org"


@pytest.mark.db
def test_a_lone_surrogate_is_stored_as_a_replacement_character_on_every_database(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    """Only Python's json decodes a lone ``\\ud800``; no database stores it (MariaDB
    refused even the quarantine row's JSON payload, so the whole sync failed)."""
    cid = shop_server.shop.customers.ids[2]

    def surrogate(method: str, path: str, status: int, body: bytes) -> Any:
        if path.startswith("/rest/all/V1/customers/search?") and status == 200:
            data = msgspec.json.decode(body)
            for item in data.get("items") or []:
                if item["id"] == cid:
                    item["firstname"] = "SURROGATE"
            return 200, "application/json", msgspec.json.encode(data).replace(
                b'"SURROGATE"', b'"An\\ud800na"')
        return None

    with TamperProxy(shop_server.base_url, surrogate) as proxy:
        result = _sync(_config(proxy.base_url, db_url), store)
    assert result.status == "ok", result.errors
    with store.connect() as conn:
        first = conn.execute(select(Customer.firstname).where(Customer.id == cid)).scalar()
    assert first == "An\ufffdna"


# --- credentials in base_url ---------------------------------------------------------------


def test_a_base_url_with_credentials_never_reaches_a_log_the_runs_or_a_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "http://shopuser:s3cret-pw@127.0.0.1:1"
    out, _ = _cli(tmp_path, url, "sync")
    assert out.returncode == 2
    assert "magento.base_url" in out.stderr
    assert "s3cret-pw" not in out.stderr + out.stdout and "shopuser" not in out.stderr
    assert not (tmp_path / "store.db").exists()  # nothing done
    with pytest.raises(ConfigError) as info:  # nor a client built by hand
        MagentoClient(MagentoConfig(base_url=url), auth=TokenAuth("t"))
    assert "s3cret-pw" not in str(info.value) and "shopuser" not in str(info.value)


# --- logging --------------------------------------------------------------------------------


def test_v_shows_segbridge_steps_and_vv_adds_the_http_traffic_with_short_urls(
    token_env: None,
) -> None:
    import io

    assert level_for(-1) == logging.WARNING and level_for(0) == logging.INFO
    assert level_for(1) == logging.DEBUG and level_for(2) == HTTP == level_for(3)
    with SandboxServer(customers=30, seed=2, token=TOKEN) as server:
        for verbosity, http_shown in ((1, False), (2, True)):
            stream = io.StringIO()
            handler = setup_logging("text", level_for(verbosity), stream)
            try:
                client = MagentoClient(MagentoConfig(base_url=server.base_url),
                                       auth=TokenAuth(TOKEN))
                logging.getLogger("bridge.test").debug("a step of segbridge")
                list(client.search_customers())
            finally:
                logging.getLogger().removeHandler(handler)
            text = stream.getvalue()
            assert "a step of segbridge" in text
            assert ("GET " in text and "-> 200" in text) is http_shown, text
            assert ("urllib3" in text) is http_shown
            assert TOKEN not in text
            for line in text.splitlines():
                assert len(line) < 400, line  # no multi-KB searchCriteria URL


def test_short_url_keeps_the_route_and_counts_the_rest() -> None:
    url = "http://shop/rest/all/V1/orders?" + "searchCriteria%5BfilterGroups%5D=1&" * 80
    short = short_url(url)
    assert short.startswith("http://shop/rest/all/V1/orders?searchCriteria")
    assert len(short) < 140 and "chars)" in short
    assert short_url("http://shop/rest/all/V1/store/websites") == (
        "http://shop/rest/all/V1/store/websites")


@pytest.mark.parametrize("body", [b"", b"[]", b'{"items": []}', b'{"items": {}, "total_count": 1}',
                                  b'{"items": [1], "total_count": 1}',
                                  b'{"items": [], "total_count": -1}'])
def test_a_list_answer_that_is_no_search_result_goes_through_the_retry_table(
    token_env: None, body: bytes
) -> None:
    with SandboxServer(customers=10, seed=2, token=TOKEN) as server:
        def garbage(method: str, path: str, status: int, raw: bytes) -> Any:
            if "/V1/customers/search?" in path:
                return 200, "application/json", body
            return None

        with TamperProxy(server.base_url, garbage) as proxy:
            client = MagentoClient(MagentoConfig(base_url=proxy.base_url),
                                   policy=RetryPolicy.fast(), auth=TokenAuth(TOKEN))
            with pytest.raises(E.BadResponseError) as info:
                client.search_customers_page()
            assert proxy.count("/V1/customers/search") == 2  # one retry, as the table says
    assert "list answer" in str(info.value)


# --- a store that stops answering ----------------------------------------------------------


def test_a_store_that_stops_answering_ends_the_sync_in_one_line_not_an_hour(
    tmp_path: Path, shop_server: SandboxServer
) -> None:
    """The store answers the shop check and the groups, then lets every list request go
    unanswered. Each read would be tried 8 times with back-off (minutes a request, two
    requests an entity): instead, four unanswered requests in a row end the command,
    exit 1, one line naming magento.base_url and magento.timeout_s."""
    from bridge.magento.client import SILENT_LIMIT

    def hang(method: str, path: str, status: int, body: bytes) -> None:
        if "searchCriteria" in path and "/V1/customerGroups" not in path:
            time.sleep(2.5)  # longer than timeout_s below: no answer in time
        return None

    with TamperProxy(shop_server.base_url, hang) as proxy:
        out, seconds = _cli(tmp_path, proxy.base_url, "sync",
                            auth="timeout_s = 1")
        hung = sum(n for p, n in proxy.requests.items() if "/V1/customers/search" in p
                   or "/V1/orders" in p or "/V1/carts/search" in p)
    assert out.returncode == 1, out.stderr
    lines = _lines(out.stderr)
    errors = [x for x in lines if x.startswith("segbridge: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], out.stderr
    assert f"magento.base_url {proxy.base_url} stopped answering" in errors[0]
    assert "magento.timeout_s = 1 s" in errors[0]
    assert len([x for x in lines if "TIMEOUT" in x]) < SILENT_LIMIT  # the retries, said
    assert hung <= SILENT_LIMIT + 4  # the threads in flight when the limit was reached
    assert seconds < 60


def test_one_answer_between_timeouts_keeps_the_store_answering(shop_server: SandboxServer,
                                                               token_env: None) -> None:
    """Timeouts that are not in a row (an answer in between) are the retry table's to
    handle: the breaker counts only requests in a row that got no answer."""
    calls = {"n": 0}

    def every_other(method: str, path: str, status: int, body: bytes) -> None:
        if "/V1/store/websites" in path:
            calls["n"] += 1
            if calls["n"] % 2 == 0:
                time.sleep(1.5)
        return None

    with TamperProxy(shop_server.base_url, every_other) as proxy:
        client = MagentoClient(MagentoConfig(base_url=proxy.base_url, timeout_s=1,
                                             concurrency=1),
                               policy=RetryPolicy.fast(), auth=TokenAuth(TOKEN))
        try:
            for _ in range(8):
                assert client.websites()
        finally:
            client.close()
