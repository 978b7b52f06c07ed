"""The workers' lean path for orders (``bridge.sync.lean``) sends exactly the statements
the general path sends for the same pages, or declines the run; the store ends up the
same either way, a record it refuses quarantined as before."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bridge.config import MagentoConfig
from bridge.magento.auth import TokenAuth
from bridge.magento.client import MagentoClient
from bridge.magento.retry import RetryPolicy
from bridge.magento.search import SearchCriteria
from bridge.sandbox.server import SandboxServer
from bridge.store.engine import make_engine, open_store
from bridge.store.models import Order, OrderItem, Quarantine
from bridge.sync import lean, offload
from bridge.sync import transform as tf
from bridge.sync.writer import SQLITE_WORKER_PRAGMAS, StoreWriter
from bridge.timeutil import utcnow

SYNCED = datetime(2026, 12, 1, 8, 0, 0)
WEBSITES = {0: 0, 1: 1, 2: 1, 3: 2}


@pytest.fixture(scope="module")
def pages() -> Iterator[list[bytes]]:
    """Pages of orders as the sync asks for them, from the sandbox over loopback."""
    with SandboxServer(customers=150, seed=9, orders_per_customer=3.0) as sandbox:
        cfg = MagentoConfig(base_url=sandbox.base_url, store_code="default", timeout_s=10,
                            page_size=50, concurrency=1)
        with MagentoClient(cfg, policy=RetryPolicy(base_s=0.001, max_s=0.01),
                           auth=TokenAuth(sandbox.token)) as client:
            crit = SearchCriteria().fields(*tf.ORDER_FIELDS)
            first = client.fetch_page("orders", crit, page=1, page_size=50, keys_only=True)
            count = -(-(first.total_count or 0) // 50)
            bodies = [first.items.body or b""] + [
                client.fetch_page("orders", crit, page=n, page_size=50,
                                  keys_only=True).items.body or b""
                for n in range(2, count + 1)]
    yield bodies


def _ctx(money_as_float: bool = True) -> offload.Context:
    return offload.Context("orders", "entity_id", (), WEBSITES, SYNCED, "sqlite://", None,
                           money_as_float=money_as_float)


def _both(bodies: list[bytes]) -> tuple[Any, Any, list[Any]]:
    """(lean statements and orders per page | None, the general path's, its jobs)."""
    writer = StoreWriter(make_engine("sqlite://"), None, utcnow)
    ctx = _ctx()
    jobs = offload._jobs(ctx, bodies)
    return offload._lean_bound(ctx, bodies, writer), writer.bind_jobs(jobs), jobs


def test_the_sandbox_orders_take_the_lean_path(pages: list[bytes]) -> None:
    lean_bound, general, jobs = _both(pages)
    assert lean_bound is not None
    statements, per_page = lean_bound
    assert statements == general
    assert per_page == [len(job.records) for job in jobs]
    assert sum(per_page) > 400 and any(job.records[0].items for job in jobs)


def test_amounts_as_decimal_give_the_general_paths_rows(pages: list[bytes]) -> None:
    """PostgreSQL and MariaDB keep amounts as Decimal (their runs are bound as they are
    written, the general way; the rows would be the same)."""
    ctx = _ctx(money_as_float=False)
    jobs = offload._jobs(ctx, pages)
    run = lean.order_run(pages, WEBSITES, SYNCED, money_as_float=False)
    assert run is not None
    records = [r for job in jobs for r in job.records]
    assert run.orders == [tuple(r.order.values()) for r in records]
    assert run.items == [tuple(i.values()) for r in records for i in r.items]
    assert run.addresses == [tuple(a.values()) for r in records for a in r.addresses]
    assert any(type(row[12]) is Decimal for row in run.orders)


def test_the_columns_are_the_general_paths() -> None:
    order = {"entity_id": 1, "created_at": "2026-01-02 03:04:05",
             "updated_at": "2026-01-02 03:04:05", "items": [{"item_id": 3}],
             "billing_address": {"city": "Malmö"}}
    rows = tf.order_rows(order, WEBSITES, SYNCED)
    assert tuple(rows.order) == lean.ORDER_COLUMNS
    assert tuple(rows.items[0]) == lean.ITEM_COLUMNS
    assert tuple(rows.addresses[0]) == lean.ADDRESS_COLUMNS


# Values the general parsers take another way, or refuse: the lean path must decline
# them, or give the same.
ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([2**63, -(2**63) - 1, 2**70]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e15, 0.12345, 1e-7]),
    st.sampled_from(["", "  ", "12", "1.5", "x" * 300, "2026-01-02T03:04:05",
                     "2026-13-02 03:04:05", "2026-01-02 03:04:05", "Åsa", "true"]),
    st.lists(st.sampled_from(["a", "b", 1]), max_size=2), st.just({}), st.just({"x": 1}),
)
ORDER_KEYS = [f for f in tf.ORDER_FIELDS if "[" not in f]
ITEM_KEYS = ["item_id", "parent_item_id", "product_id", "product_type", "sku", "name",
             "price", "base_price", "qty_ordered", "row_total"]
ADDRESS_KEYS = [*tf.ADDRESS_FIELDS, "region_id"]


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_odd_value_is_declined_or_taken_the_same(pages: list[bytes], data: Any) -> None:
    page = msgspec.json.decode(pages[0])
    items = copy.deepcopy(page["items"][:5])
    for _ in range(data.draw(st.integers(1, 3))):
        order = data.draw(st.sampled_from(items))
        where = data.draw(st.sampled_from(["order", "item", "billing", "shipping", "drop"]))
        value = copy.deepcopy(data.draw(ODD))  # st.just gives the same object each time
        if where == "order":
            order[data.draw(st.sampled_from(ORDER_KEYS + ["items", "billing_address"]))] = value
        elif (where == "item" and isinstance(order.get("items"), list) and order["items"]
              and isinstance(order["items"][0], dict)):
            order["items"][0][data.draw(st.sampled_from(ITEM_KEYS))] = value
        elif where == "billing" and isinstance(order.get("billing_address"), dict):
            order["billing_address"][data.draw(st.sampled_from(ADDRESS_KEYS))] = value
        elif where == "shipping":
            order["extension_attributes"] = data.draw(st.sampled_from([
                value, {"shipping_assignments": value},
                {"shipping_assignments": [{"shipping": {"address": value}}]},
                {"shipping_assignments": [{"shipping": None}, {"shipping": {"address": {
                    "city": "Lund"}}}]}]))
        else:
            order.pop(data.draw(st.sampled_from(ORDER_KEYS)), None)
    body = json.dumps({"items": items, "total_count": len(items)}).encode()  # big ints too
    lean_bound, general, jobs = _both([body])
    if lean_bound is not None:
        assert not any(job.quarantine for job in jobs), "the lean path took a bad record"
        assert lean_bound[0] == general
        assert lean_bound[1] == [len(jobs[0].records)]


def _three_orders(customer_of_2: bytes = b"5") -> bytes:
    orders = [{"entity_id": i, "created_at": "2026-01-02 03:04:05",
               "updated_at": "2026-01-02 03:04:05", "customer_id": 5,
               "items": [{"item_id": i * 10, "sku": "S", "price": 2.5}]} for i in (1, 2, 3)]
    body = msgspec.json.encode({"items": orders})
    old = b'"customer_id":5,"items":[{"item_id":20'
    assert old in body
    return body.replace(old, b'"customer_id":' + customer_of_2 + b',"items":[{"item_id":20')


def _count(engine: Any, model: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar() or 0)


def test_a_run_the_lean_path_declines_is_written_the_general_way(tmp_path: Path) -> None:
    """A customer id past 64 bits (SQLite cannot bind it): the general path quarantines
    that order and stores the rest."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    ctx = offload.Context("orders", "entity_id", (), {}, SYNCED, url, None, money_as_float=True)
    body = _three_orders(b"9223372036854775808")
    writer = StoreWriter(engine, None, utcnow, sqlite_pragmas=SQLITE_WORKER_PRAGMAS)
    assert offload._lean_bound(ctx, [body], writer) is None
    written = offload.write_pages(ctx, [body])
    assert written[0][0] == 2 and [rid for rid, _ in written[0][1]] == ["2"]
    assert (_count(engine, Order), _count(engine, OrderItem)) == (2, 2)
    with engine.connect() as conn:
        assert conn.execute(select(Quarantine.record_id)).scalars().all() == ["2"]


def test_a_lean_run_the_store_refuses_is_written_again_the_general_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store refusing a lean run (as it would a value it cannot take) rolls it back;
    the general path then writes it, record by record where it must."""
    from sqlalchemy.exc import IntegrityError

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    ctx = offload.Context("orders", "entity_id", (), {}, SYNCED, url, None, money_as_float=True)
    body = _three_orders(b"9223372036854775807")  # the largest id SQLite stores
    real = offload.replay
    calls: list[int] = []

    def refuse_once(conn: Any, statements: Any) -> None:
        calls.append(1)
        real(conn, statements)  # written, then refused: the transaction rolls back
        if len(calls) == 1:
            raise IntegrityError("INSERT", {}, Exception("refused"))

    monkeypatch.setattr(offload, "replay", refuse_once)
    assert offload.write_pages(ctx, [body]) == [(3, [])]
    assert len(calls) == 1  # the general path wrote it, not the lean one again
    assert (_count(engine, Order), _count(engine, OrderItem)) == (3, 3)
    with engine.connect() as conn:
        assert conn.execute(select(Order.customer_id).where(Order.id == 2)).scalar() == 2**63 - 1
        assert _count(engine, Quarantine) == 0


def test_a_nul_is_dropped_by_the_lean_path_as_by_the_general_one(pages: list[bytes]) -> None:
    """``\\u0000`` in a page's strings: both paths store the text without it (PostgreSQL
    cannot hold a NUL; SQLite and MariaDB kept it), the same statements either way."""
    page = msgspec.json.decode(pages[0])
    page["items"][0]["customer_email"] = "nul\x00l@example.org"
    page["items"][1]["items"][0]["name"] = "\x00Mug\x00"
    body = msgspec.json.encode(page)
    assert b"\\u0000" in body
    lean_bound, general, jobs = _both([body])
    assert lean_bound is not None and lean_bound[0] == general
    rows = [r for job in jobs for r in job.records]
    assert rows[0].order["customer_email"] == "null@example.org"
    assert rows[1].items[0]["name"] == "Mug"
    run = lean.order_run([body], WEBSITES, SYNCED, money_as_float=True)
    assert run is not None and not any("\x00" in str(v) for row in run.orders for v in row)
