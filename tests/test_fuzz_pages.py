"""Generated list pages thrown at the sync through the real client over 127.0.0.1.

The sandbox sits behind ``tamper.TamperProxy``; each example replaces one answer of the
customers or orders list with something generated: a body that is not JSON, JSON of the
wrong shape, a page whose ``total_count`` or ``items`` is wrong, or a real page with one
record's field set to a hostile value (control characters, NULs, lone surrogates, huge
numbers, wrong types) or removed. Whatever comes, the sync never ends in a traceback:

- a page that is not a search result fails its entity (exit 1), whose watermark stays;
- a bad record is quarantined naming its record, and every other record is stored.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from tamper import TamperProxy

from bridge.config import Config, parse_config
from bridge.magento.client import MagentoClient
from bridge.magento.retry import RetryPolicy
from bridge.sandbox.server import SandboxServer
from bridge.store.engine import open_store
from bridge.store.models import Customer, Order, Quarantine, SyncState
from bridge.sync import run_sync, runner

pytestmark = pytest.mark.db

TOKEN = "sandbox-token"
ROUTES = {"customers": "/rest/all/V1/customers/search?", "orders": "/rest/all/V1/orders?"}
ID_KEY = {"customers": "id", "orders": "entity_id"}
FIELDS = {
    "customers": ["email", "firstname", "lastname", "dob", "gender", "group_id", "website_id",
                  "store_id", "created_at", "updated_at", "addresses", "custom_attributes",
                  "default_billing", "id"],
    "orders": ["customer_email", "customer_id", "grand_total", "base_grand_total", "status",
               "store_id", "created_at", "updated_at", "items", "billing_address",
               "total_qty_ordered", "increment_id", "entity_id", "customer_is_guest"],
}
EXAMPLES = 30

# --- what a page can be -----------------------------------------------------------------

CONTROL = st.sampled_from(["\x00", "\x1b[31m", "\r\n", "\t", "\u202e", "\ufeff", "\x7f",
                           "=HYPERLINK(\"x\")", "' OR 1=1 --", "<script>", "💥", "é" * 300])
hostile_text = st.lists(st.one_of(CONTROL, st.text(max_size=20)), min_size=1,
                        max_size=6).map("".join)
json_leaf = st.one_of(
    st.none(), st.booleans(), hostile_text,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([10**30, -1, 0, 2**63, 1e300, "2026-02-30 25:61:00", "", " ", "NaN"]),
)
json_value = st.recursive(json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12)


@st.composite
def page_change(draw: st.DrawFn) -> dict[str, Any]:
    """One change to one answer: what it is and which answer of the route it hits."""
    entity = draw(st.sampled_from(["customers", "orders"]))
    nth = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["body", "json", "page", "record", "record", "record",
                                 "surrogate"]))
    change: dict[str, Any] = {"entity": entity, "nth": nth, "kind": kind}
    if kind == "body":
        change["body"] = draw(st.one_of(
            st.binary(max_size=200), st.just(b"<html><body>Maintenance</body></html>"),
            st.just(b""), st.just(b'{"items": [')))
        change["ctype"] = draw(st.sampled_from(["application/json", "text/html"]))
    elif kind == "json":
        change["value"] = draw(json_value)
    elif kind == "page":
        change["key"] = draw(st.sampled_from(["total_count", "items"]))
        change["drop"] = draw(st.booleans())
        change["value"] = draw(json_value)
    else:
        change["index"] = draw(st.integers(0, 9))
        change["field"] = draw(st.sampled_from(FIELDS[entity]))
        change["drop"] = draw(st.booleans()) if kind == "record" else False
        change["value"] = draw(json_value)
    return change


def _dumps(value: Any) -> bytes:
    """JSON as a store might send it, numbers past 64 bits too."""
    return json.dumps(value).encode()


def apply(change: dict[str, Any], body: bytes) -> tuple[int, str, bytes]:
    """The answer sent instead of ``body``; records which record was changed."""
    kind = change["kind"]
    if kind == "body":
        return 200, change["ctype"], change["body"]
    if kind == "json":
        return 200, "application/json", _dumps(change["value"])
    data = msgspec.json.decode(body)
    if kind == "page":
        if change["drop"]:
            data.pop(change["key"], None)
        else:
            data[change["key"]] = change["value"]
        return 200, "application/json", _dumps(data)
    items = data.get("items") or []
    if not items:
        return 200, "application/json", body
    record = items[change["index"] % len(items)]
    change["record_id"] = record.get(ID_KEY[change["entity"]])
    if kind == "surrogate":  # a lone surrogate escape, which only raw JSON can carry
        record[change["field"]] = "SURROGATE"
        text = _dumps(data).replace(b'"SURROGATE"', b'"a\\ud800b"')
        return 200, "application/json", text
    if change["drop"]:
        record.pop(change["field"], None)
    else:
        record[change["field"]] = change["value"]
    return 200, "application/json", _dumps(data)


# --- the shop, the proxy and the store, for every example ---------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from conftest import _fresh_database, test_db_kind

    mp = pytest.MonkeyPatch()
    mp.setenv("MAGENTO_TOKEN", TOKEN)
    url, drop = _fresh_database(test_db_kind(), tmp_path_factory.mktemp("fuzz"))
    engine = open_store(url)
    with SandboxServer(customers=30, seed=5, orders_per_customer=1.0, active_carts=0.2,
                       token=TOKEN) as server, TamperProxy(server.base_url) as proxy:
        cfg: Config = parse_config({
            "magento": {"base_url": proxy.base_url, "page_size": 10, "concurrency": 2,
                        "timeout_s": 10},
            "store": {"url": url}, "sync": {"since": "3650d"}}, None)
        yield {"cfg": cfg, "engine": engine, "proxy": proxy, "server": server, "runs": []}
    engine.dispose()
    drop()  # type: ignore[operator]
    mp.undo()


def _one(world: dict[str, Any], change: dict[str, Any]) -> None:
    engine: Engine = world["engine"]
    proxy: TamperProxy = world["proxy"]
    entity = change["entity"]
    seen = {"n": 0}
    lock = threading.Lock()

    def tamper(method: str, path: str, status: int, body: bytes) -> Any:
        if not path.startswith(ROUTES[entity]) or status != 200:
            return None
        with lock:
            seen["n"] += 1
            if seen["n"] != change["nth"]:
                return None
        return apply(change, body)

    with engine.connect() as conn:
        before = dict(conn.execute(select(SyncState.entity, SyncState.watermark)).all())
        q_before = {r.id for r in conn.execute(select(Quarantine.id))}
    proxy.tamper = tamper
    client = MagentoClient(world["cfg"].magento, read_only=True, policy=RetryPolicy.fast())
    try:
        result = run_sync(world["cfg"], engine, client=client, full=True)  # no traceback
    finally:
        client.close()
        proxy.tamper = None
    world["runs"].append(result.status)
    with engine.connect() as conn:
        after = dict(conn.execute(select(SyncState.entity, SyncState.watermark)).all())
        new_q = [r for r in conn.execute(select(Quarantine.__table__))
                 if r.id not in q_before]
        stored = {"customers": len(conn.execute(select(Customer.id).where(
            Customer.deleted.is_(False))).all()),
                  "orders": len(conn.execute(select(Order.id).where(
                      Order.deleted.is_(False))).all())}
    for other in ("customers", "orders", "carts"):
        if other != entity:  # the rest of the run went on
            assert not result.counts[other].error, (other, result.counts[other].error)
    error = result.counts[entity].error
    if error:  # a bad page: the entity failed cleanly, its watermark unmoved
        assert result.status == "failed" and result.exit_code == 1
        assert after.get(entity) == before.get(entity)
        assert "Traceback" not in error and "\n" not in error
        return
    assert result.status in ("ok", "partial"), (result.status, result.errors)
    for row in new_q:  # a bad record: quarantined, naming itself and why
        assert row.entity == entity and row.reason
        if change.get("field") != ID_KEY[entity] and change.get("record_id") is not None:
            assert row.record_id == str(change["record_id"]), (row.record_id, change)
    shop = world["server"].shop
    expected = len(shop.customers.ids) if entity == "orders" else None
    if expected is not None:
        assert stored["customers"] == expected  # the customers were not touched at all


def test_generated_pages_never_end_the_sync_in_a_traceback(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pages transformed by the writer thread: the worker processes and the lean path
    decode the same kept bodies (tests/test_sync_lean.py holds the lean path to the
    general one, NULs included); a body only Python's json reads is not kept."""
    # one full collection after each entity costs 0.1 s in this process's heap: skipped
    monkeypatch.setattr(runner, "collect_between", contextlib.nullcontext)
    counted: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(change=page_change())
    def check(change: dict[str, Any]) -> None:
        _one(world, change)
        counted.append(world["runs"][-1])

    check()
    print(f"{len(counted)} generated pages: {counted.count('failed')} failed their entity, "
          f"{counted.count('partial')} quarantined a record, {counted.count('ok')} were "
          "taken as valid; none ended in a traceback")
    assert len(counted) >= EXAMPLES
