"""The sync end to end: the real client over HTTP against the sandbox on 127.0.0.1.

Each test compares the store with the sandbox shop's own records (the source of
truth), field by field for what conditions read.
"""

from __future__ import annotations

import gc
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, func, inspect, select, text, update

from bridge.config import Config, parse_config
from bridge.magento.client import MagentoClient
from bridge.sandbox.model import fmt_time
from bridge.sandbox.server import SandboxServer
from bridge.store import bulk
from bridge.store.engine import open_store
from bridge.store.models import (
    Cart,
    CartItem,
    Customer,
    CustomerAddress,
    CustomerAttribute,
    CustomerGroup,
    Order,
    OrderAddress,
    OrderItem,
    Quarantine,
    Run,
    StoreView,
    SyncState,
    Website,
    fold,
)
from bridge.sync import offload, run_sync
from bridge.timeutil import parse_age, parse_magento_time, utcnow

pytestmark = pytest.mark.db

ATTRS = ("loyalty_tier", "preferred_language", "b2b_account")
REPO = Path(__file__).resolve().parent.parent


def _config(sandbox: SandboxServer, url: str, **sync: Any) -> Config:
    data = {
        "magento": {"base_url": sandbox.base_url, "page_size": sync.pop("page_size", 20),
                    "concurrency": 4, "timeout_s": 10},
        "store": {"url": url},
        "sync": {"customer_attributes": list(ATTRS), **sync},
        # these tests compare every field with the sandbox: all of them kept
        "privacy": {"keep": "all"},
    }
    return parse_config(data, None)


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGENTO_TOKEN", "sandbox-token")


@pytest.fixture
def shop_server(token_env: None) -> Iterator[SandboxServer]:
    with SandboxServer(customers=120, seed=7, orders_per_customer=2.0, active_carts=0.3,
                       token="sandbox-token") as server:
        yield server


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def assert_store_equals_shop(engine: Engine, server: SandboxServer, cfg: Config,
                             horizon: Any, erased: str | None = None) -> None:
    """Customers, orders (updated since ``horizon``), active registered carts, structure.
    ``erased``: the e-mail of a customer deleted in Magento, whose orders (kept there
    without a customer) the store erased with them (docs/privacy.md)."""
    shop = server.shop
    with shop.lock:
        customers = {c.id: shop.customer_json(c) for c in shop.customers.values()}
        orders = {o.id: shop.order_json(o) for o in shop.orders.values()
                  if parse_magento_time(fmt_time(o.updated_at)) >= horizon}
        orders = {k: o for k, o in orders.items() if o.get("customer_email") != erased}
        carts = {q.id: shop.cart_json(q) for q in shop.carts.values()
                 if q.customer_id is not None and q.is_active
                 and parse_magento_time(fmt_time(q.updated_at)) >= horizon}
        groups = {g.id: g.code for g in shop.groups.values()}
    with engine.connect() as conn:
        # --- customers
        rows = {r.id: r for r in conn.execute(
            select(Customer.__table__).where(Customer.deleted.is_(False)))}
        assert set(rows) == set(customers)
        for cid, want in customers.items():
            got = rows[cid]
            assert got.email == want["email"] and got.email_ci == want["email"].casefold()
            for key in ("firstname", "lastname", "middlename", "prefix", "suffix", "taxvat",
                        "created_in", "group_id", "website_id", "store_id", "gender"):
                assert getattr(got, key) == want.get(key), (cid, key)
            assert got.lastname_ci == fold(want["lastname"])
            assert (got.dob.isoformat() if got.dob else None) == want.get("dob")
            assert got.created_at == parse_magento_time(want["created_at"])
            assert got.updated_at == parse_magento_time(want["updated_at"])
            assert got.is_subscribed == want["extension_attributes"]["is_subscribed"]
            assert got.default_billing_id == (int(want["default_billing"])
                                              if want.get("default_billing") else None)
            assert got.default_shipping_id == (int(want["default_shipping"])
                                               if want.get("default_shipping") else None)
        addr = {}
        for r in conn.execute(select(CustomerAddress.__table__).join(
                Customer, Customer.id == CustomerAddress.customer_id).where(
                Customer.deleted.is_(False))):
            addr[r.id] = r
        want_addr = {a["id"]: (cid, a) for cid, c in customers.items() for a in c["addresses"]}
        assert set(addr) == set(want_addr)
        for aid, (cid, a) in want_addr.items():
            got = addr[aid]
            assert got.customer_id == cid
            assert got.city == a.get("city") and got.city_ci == fold(a.get("city"))
            assert got.country_id == a.get("country_id")
            assert got.postcode == a.get("postcode")
            assert got.street == "\n".join(a.get("street") or [])
            assert got.region == (a.get("region") or {}).get("region")
            assert got.telephone == a.get("telephone")
        attrs = {(r.customer_id, r.code): r.value
                 for r in conn.execute(select(CustomerAttribute.__table__))
                 if r.customer_id in customers}
        want_attrs = {(cid, a["attribute_code"]): str(a["value"])
                      for cid, c in customers.items()
                      for a in c.get("custom_attributes", []) if a["attribute_code"] in ATTRS}
        assert attrs == want_attrs
        # --- orders
        rows = {r.id: r for r in conn.execute(
            select(Order.__table__).where(Order.deleted.is_(False)))}
        assert set(rows) == set(orders)
        total = sum((_dec(o["base_grand_total"]) for o in orders.values()), Decimal(0))
        stored_total = sum((_dec(r.base_grand_total) for r in rows.values()), Decimal(0))
        assert stored_total == total
        website_of = dict(conn.execute(select(StoreView.id, StoreView.website_id)).all())
        for oid, want in orders.items():
            got = rows[oid]
            assert got.status == want["status"]
            assert got.customer_id == want.get("customer_id")
            assert got.customer_email_ci == want["customer_email"].casefold()
            assert got.created_at == parse_magento_time(want["created_at"])
            assert _dec(got.total_qty_ordered) == _dec(want["total_qty_ordered"])
            assert _dec(got.base_grand_total) == _dec(want["base_grand_total"])
            assert got.store_id == want["store_id"]
            assert got.website_id == website_of[want["store_id"]]
            assert got.increment_id == want["increment_id"]
        items = dict(conn.execute(
            select(OrderItem.order_id, func.count()).group_by(OrderItem.order_id)).all())
        assert items == {oid: len(o["items"]) for oid, o in orders.items() if o["items"]}
        qty = dict(conn.execute(select(OrderItem.id, OrderItem.qty_ordered)).all())
        for o in orders.values():
            for it in o["items"]:
                assert _dec(qty[it["item_id"]]) == _dec(it["qty_ordered"])
        oaddr = {(r.order_id, r.address_type): r for r in conn.execute(
            select(OrderAddress.__table__))}
        for oid, o in orders.items():
            assert oaddr[(oid, "billing")].city == o["billing_address"]["city"]
            ship = o["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"]
            assert oaddr[(oid, "shipping")].postcode == ship["postcode"]
        # --- carts
        rows = {r.id: r for r in conn.execute(select(Cart.__table__).where(
            Cart.is_active.is_(True), Cart.deleted.is_(False)))}
        assert set(rows) == set(carts)
        lines = {}
        for r in conn.execute(select(CartItem.__table__)):
            lines.setdefault(r.cart_id, []).append(r)
        for qid, want in carts.items():
            got = rows[qid]
            assert got.customer_id == want["customer"]["id"]
            assert got.items_count == want["items_count"]
            expect = sum((_dec(i["price"]) * _dec(i["qty"]) for i in want["items"]),
                         Decimal(0))
            assert _dec(got.subtotal) == _dec(expect)
            assert sorted(i.sku for i in lines.get(qid, [])) == sorted(
                i["sku"] for i in want["items"])
        # --- structure
        assert dict(conn.execute(select(CustomerGroup.id, CustomerGroup.code)).all()) == groups
        assert {r[0] for r in conn.execute(select(Website.code))} == {
            w.code for w in shop.websites}


@pytest.fixture(params=["threads", "worker", "worker-gone"])
def transform_in(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[list[int]]:
    """Pages transformed and written by the writer thread, or (as in a big sync) by the
    worker process from their raw bodies, or handed to a worker that cannot start (the
    writer thread then does it from the bodies); yields the sizes of the runs sent."""
    sent: list[int] = []
    if request.param != "threads":
        monkeypatch.setattr(offload, "MIN_RECORDS", 1)
        real = offload.Offload._submit

        def counting(self: offload.Offload, ctx: Any, bodies: list[bytes]) -> Any:
            future = real(self, ctx, bodies)
            if future is not None:
                sent.append(len(bodies))
            return future

        monkeypatch.setattr(offload.Offload, "_submit", counting)
    if request.param == "worker-gone":
        monkeypatch.setattr(offload.Offload, "_get_pool", lambda self: None)
    yield sent
    if request.param == "worker":
        assert sent, "no page went to the worker process"
    if request.param == "worker-gone":
        assert not sent


def test_garbage_collection_is_paused_while_pages_stream_and_restored_after(
    shop_server: SandboxServer, store: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = offload.fill

    def watching(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args)

    monkeypatch.setattr(offload, "fill", watching)
    assert gc.isenabled()
    assert _sync(_config(shop_server, db_url), store).status == "ok"
    assert seen and not any(seen)
    assert gc.isenabled()


def test_only_a_store_another_process_can_open_uses_the_worker(tmp_path: Path) -> None:
    for url, shared in ((f"sqlite:///{tmp_path / 's.db'}", True), ("sqlite://", False),
                        ("sqlite:///:memory:", False),
                        ("postgresql+psycopg://u:p@127.0.0.1/x", True)):
        assert offload.shareable(create_engine(url)) is shared, url


def _sync(cfg: Config, engine: Engine, **kw: Any) -> Any:
    client = kw.pop("client", None) or MagentoClient(cfg.magento, read_only=True)
    try:
        return run_sync(cfg, engine, client=client, **kw)
    finally:
        client.close()


def test_first_sync_equals_the_sandbox_with_one_request_per_page(
    shop_server: SandboxServer, store: Engine, db_url: str, transform_in: list[int]
) -> None:
    cfg = _config(shop_server, db_url)
    result = _sync(cfg, store)
    assert result.status == "ok", result.errors
    assert result.exit_code == 0
    assert_store_equals_shop(store, shop_server, cfg, result.started_at - parse_age("730d"))
    for entity in ("customers", "orders", "carts"):
        c = result.counts[entity]
        assert c.mode == "full"
        assert c.total is not None and c.total > 0
        assert c.list_requests <= math.ceil(c.total / 20) + 1, (entity, c)
        assert c.stored == c.fetched == c.total
    with store.connect() as conn:
        run = conn.execute(select(Run.__table__)).one()
        assert run.status == "ok" and run.kind == "sync" and run.ended_at is not None
        assert run.requests == result.requests > 0
        assert run.counts["orders"]["total"] == result.counts["orders"].total
        marks = dict(conn.execute(select(SyncState.entity, SyncState.watermark)).all())
    assert set(marks) == {"customers", "orders", "carts"}
    assert all(m is not None and m <= result.started_at for m in marks.values())


def test_incremental_sync_picks_up_exactly_what_changed(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    cfg = _config(shop_server, db_url, overlap_s=0)
    first = _sync(cfg, store)
    assert first.status == "ok"
    shop = shop_server.shop
    time.sleep(1.1)  # the next changes get a later second than anything synced so far
    changed = shop.touch(customers=0.01 * 3, orders=0.02, carts=0.1, seed=5)
    with shop.lock:
        active = [q.id for q in shop.carts.values() if q.is_active and q.customer_id]
        converted = active[0]
        shop.convert_cart(converted)
        cid = shop.customers.ids[3]
        new_cart = shop.add_cart(cid, ["SB-1000", ("SB-1001", 2)]).id
    with store.begin() as conn:
        marks = dict(conn.execute(select(SyncState.entity, SyncState.watermark)).all())
        # records at the watermark's second are read again (the window starts there)
        at_mark = {
            name: set(conn.execute(select(t.id).where(t.updated_at >= marks[name])).scalars())
            for name, t in (("customers", Customer), ("orders", Order), ("carts", Cart))
        }
        for table in (Customer, Order, Cart):
            conn.execute(update(table.__table__).values(synced_at=None))
    second = _sync(cfg, store)
    assert second.status == "ok", second.errors
    assert_store_equals_shop(store, shop_server, cfg, second.started_at - parse_age("730d"))
    with store.connect() as conn:
        fetched = {
            name: set(conn.execute(select(t.id).where(t.synced_at.is_not(None))).scalars())
            for name, t in (("customers", Customer), ("orders", Order), ("carts", Cart))
        }
        converted_row = conn.execute(select(Cart.__table__).where(Cart.id == converted)).one()
        kept_items = conn.execute(
            select(func.count()).select_from(CartItem).where(CartItem.cart_id == converted)
        ).scalar()
    assert fetched["customers"] - at_mark["customers"] == set(changed["customers"])
    # orders: the touched ones plus the one placed by the conversion
    assert set(changed["orders"]) <= fetched["orders"]
    assert len(fetched["orders"] - set(changed["orders"]) - at_mark["orders"]) == 1
    assert set(changed["carts"]) | {converted, new_cart} <= fetched["carts"]
    with shop.lock:
        recent = {q.id for q in shop.carts.values() if q.customer_id and q.updated_at
                  >= shop.now() - 60}
    assert fetched["carts"] - at_mark["carts"] <= recent
    assert not converted_row.is_active and kept_items > 0  # items of the old snapshot kept
    c = second.counts["customers"]
    assert c.mode == "incremental" and c.list_requests <= math.ceil(c.total / 20) + 1
    assert second.requests < first.requests / 3


class _MutatingClient(MagentoClient):
    """Changes the shop right after a given list request: between two pages of a run."""

    def __init__(self, cfg: Any, hook: Any) -> None:
        super().__init__(cfg, read_only=True)
        self.hook = hook
        self.list_calls = 0

    def fetch_page(self, endpoint: str, criteria: Any = None, **kw: Any) -> Any:
        page = super().fetch_page(endpoint, criteria, **kw)
        self.list_calls += 1
        self.hook(endpoint, self.list_calls)
        return page


def test_records_updated_between_two_pages_of_one_run_are_not_lost(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    cfg = _config(shop_server, db_url, page_size=10)
    shop = shop_server.shop
    with shop.lock:
        ordered = sorted(shop.customers.values(), key=lambda c: (c.updated_at, c.id))
    early, late = ordered[2].id, ordered[-15].id
    moved: list[int] = []

    def hook(endpoint: str, n: int) -> None:
        # after the first customers page: one record already read and one not yet read
        # jump to "now"; every record after them shifts by one place
        if endpoint == "customers" and not moved:
            shop.update_customer(early, firstname="Moved-Early")
            shop.update_customer(late, firstname="Moved-Late")
            moved.extend([early, late])

    client = _MutatingClient(cfg.magento, hook)
    first = _sync(cfg, store, client=client)
    assert first.status == "ok"
    with store.connect() as conn:
        ids = set(conn.execute(select(Customer.id)).scalars())
    # every record that did not change is there after the first run
    assert ids >= {c.id for c in ordered} - set(moved)
    second = _sync(cfg, store)
    assert second.status == "ok"
    with store.connect() as conn:
        names = dict(conn.execute(
            select(Customer.id, Customer.firstname).where(Customer.id.in_(moved))).all())
    assert names == {early: "Moved-Early", late: "Moved-Late"}
    assert_store_equals_shop(store, shop_server, cfg, second.started_at - parse_age("730d"))


def test_full_sync_finds_deletions_address_changes_and_keeps_inactive_cart_items(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    cfg = _config(shop_server, db_url)
    assert _sync(cfg, store).status == "ok"
    shop = shop_server.shop
    with shop.lock:
        gone_customer, gone_email = next((c.id, c.email) for c in shop.customers.values()
                                         if c.addresses)
        mover = next(c for c in shop.customers.values()
                     if c.addresses and c.id != gone_customer)
        address = mover.addresses[0]
        carts = [q for q in shop.carts.values()
                 if q.is_active and q.customer_id and q.customer_id != gone_customer]
        gone_cart, other_cart = carts[0].id, carts[1].id
    time.sleep(1.1)
    shop.delete_customer(gone_customer)
    shop.delete_cart(gone_cart)
    shop.set_address(mover.id, address.id, city="Newtown")  # updated_at does not move
    inc = _sync(cfg, store)
    assert inc.status == "ok"
    with store.connect() as conn:
        city = conn.execute(select(CustomerAddress.city).where(
            CustomerAddress.id == address.id)).scalar()
    assert city != "Newtown"  # an incremental sync cannot see it (PITFALLS B5)
    full = _sync(cfg, store, full=True)
    assert full.status == "ok", full.errors
    assert full.counts["customers"].deleted == 1 and full.counts["carts"].deleted == 1
    with store.connect() as conn:
        assert conn.execute(select(CustomerAddress.city).where(
            CustomerAddress.id == address.id)).scalar() == "Newtown"
        # a customer Magento no longer has is erased, not kept marked (docs/privacy.md)
        assert conn.execute(select(Customer.id).where(
            Customer.id == gone_customer)).first() is None
        assert conn.execute(select(Cart.deleted).where(Cart.id == gone_cart)).scalar() is True
        assert conn.execute(select(Cart.deleted).where(Cart.id == other_cart)).scalar() is False
    assert_store_equals_shop(store, shop_server, cfg, full.started_at - parse_age("730d"),
                             erased=gone_email)


def test_guest_orders_are_linked_by_email_within_the_website(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    shop = shop_server.shop
    with shop.lock:
        member = next(c for c in shop.customers.values() if c.website_id == 1)
        same = shop.add_order(None, ["SB-1000"], store_id=1, email=member.email.upper()).id
        other_site = shop.add_order(None, ["SB-1000"], store_id=2, email=member.email).id
        stranger = shop.add_order(None, ["SB-1000"], store_id=1,
                                  email="nobody@example.invalid").id
    cfg = _config(shop_server, db_url, link_guest_orders=True)
    assert _sync(cfg, store).status == "ok"
    with store.connect() as conn:
        links = dict(conn.execute(select(Order.id, Order.guest_customer_id).where(
            Order.id.in_([same, other_site, stranger]))).all())
        registered = conn.execute(select(func.count()).select_from(Order).where(
            Order.customer_id.is_not(None), Order.guest_customer_id.is_not(None))).scalar()
    assert links[same] == member.id
    assert links[stranger] is None
    other = shop.email_index.get((2, member.email.casefold()))
    assert links[other_site] == other  # the customer of website 2 with that email, if any
    assert registered == 0
    # a customer registering later with a guest's email is linked by the next sync
    time.sleep(1.1)
    newcomer = shop.add_customer("nobody@example.invalid", website_id=1).id
    assert _sync(cfg, store).status == "ok"
    with store.connect() as conn:
        assert conn.execute(select(Order.guest_customer_id).where(
            Order.id == stranger)).scalar() == newcomer


def test_cart_totals_are_read_when_configured(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    cfg = _config(shop_server, db_url, cart_totals=True)
    result = _sync(cfg, store)
    assert result.status == "ok"
    shop = shop_server.shop
    with store.connect() as conn:
        rows = conn.execute(select(Cart.id, Cart.grand_total, Cart.tax_amount).where(
            Cart.is_active.is_(True))).all()
    assert rows
    for qid, grand, tax in rows:
        want = shop.totals_json(shop.carts.get(qid))
        assert _dec(grand) == _dec(want["grand_total"])
        assert _dec(tax) == _dec(want["tax_amount"])
    assert result.counts["carts"].other_requests == len(rows)


def test_bad_records_are_quarantined_and_the_run_goes_on(
    shop_server: SandboxServer, store: Engine, db_url: str, tmp_path: Path,
    transform_in: list[int],
) -> None:
    shop = shop_server.shop
    with shop.lock:
        bad_customer = shop.customers.ids[5]
        shop.update_customer(bad_customer, dob="31/02/1990")  # not a date
    cfg = _config(shop_server, db_url)
    result = _sync(cfg, store)
    assert result.status == "partial" and result.exit_code == 3
    assert result.counts["customers"].quarantined == 1
    with store.connect() as conn:
        q = conn.execute(select(Quarantine.__table__)).all()
        ids = set(conn.execute(select(Customer.id)).scalars())
    assert [(r.entity, r.record_id) for r in q] == [("customers", str(bad_customer))]
    assert "dob" in q[0].reason and q[0].payload["id"] == bad_customer
    assert ids == set(shop.customers.ids) - {bad_customer}
    # status lists it
    cfg_file = tmp_path / "segbridge.toml"
    cfg_file.write_text(_toml(shop_server, db_url))
    out = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(cfg_file), "--json", "status"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "MAGENTO_TOKEN": "sandbox-token"},
    )
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["quarantine"]["open"] == 1
    assert status["quarantine"]["records"][0]["record_id"] == str(bad_customer)
    assert status["runs"][0]["status"] == "partial"
    # fixed in Magento: the next sync stores it and resolves the quarantine entry
    time.sleep(1.1)
    shop.update_customer(bad_customer, dob="1990-02-03")
    again = _sync(cfg, store)
    assert again.status == "ok"
    with store.connect() as conn:
        assert conn.execute(select(Quarantine.resolved_at)).scalar() is not None
        assert conn.execute(select(Customer.dob).where(Customer.id == bad_customer)).scalar()


def test_a_record_the_store_refuses_is_quarantined_and_the_rest_stored(
    shop_server: SandboxServer, store: Engine, db_url: str, transform_in: list[int]
) -> None:
    """Valid JSON the database cannot hold (a gender past any integer column): the page
    is retried record by record, by the writer thread or in the worker process alike."""
    shop = shop_server.shop
    with shop.lock:
        refused = shop.customers.ids[7]
        shop.update_customer(refused, gender=2**70)
    result = _sync(_config(shop_server, db_url), store)
    assert result.status == "partial" and result.exit_code == 3
    assert result.counts["customers"].quarantined == 1
    assert result.counts["customers"].stored == len(shop.customers.ids) - 1
    with store.connect() as conn:
        q = conn.execute(select(Quarantine.__table__)).one()
        ids = set(conn.execute(select(Customer.id)).scalars())
    assert (q.entity, q.record_id) == ("customers", str(refused))
    assert q.reason.startswith("the store refused it"), q.reason
    assert ids == set(shop.customers.ids) - {refused}


def _toml(server: SandboxServer, url: str, page_size: int = 20) -> str:
    return (
        f'[magento]\nbase_url = "{server.base_url}"\npage_size = {page_size}\n'
        f'concurrency = 2\ntimeout_s = 10\n\n[store]\nurl = "{url}"\n\n'
        f'[sync]\nsince = "3650d"\ncustomer_attributes = {json.dumps(list(ATTRS))}\n'
        '\n[privacy]\nkeep = "all"\n'
    )


@pytest.mark.parametrize("worker_from", ["5000", "1"], ids=["threads", "worker"])
def test_a_sync_killed_with_sigkill_and_run_again_loses_and_duplicates_nothing(
    token_env: None, store: Engine, db_url: str, tmp_path: Path, worker_from: str
) -> None:
    with SandboxServer(customers=400, seed=11, orders_per_customer=2.0, active_carts=0.3,
                       token="sandbox-token", latency_s=0.01) as server:
        cfg_file = tmp_path / "segbridge.toml"
        cfg_file.write_text(_toml(server, db_url, page_size=10))
        cmd = [sys.executable, "-m", "bridge", "--config", str(cfg_file), "-q", "sync"]
        # "1": every entity's pages go to the worker process (bridge.sync.offload)
        env = {**os.environ, "MAGENTO_TOKEN": "sandbox-token",
               "SEGBRIDGE_SYNC_WORKER_FROM": worker_from}
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        try:
            # kill it in the middle of the orders (customers committed, orders partly)
            while time.monotonic() < deadline:
                with store.connect() as conn:
                    n = conn.execute(select(func.count()).select_from(Order)).scalar()
                if n and n > 50:
                    break
                if proc.poll() is not None:
                    pytest.fail(f"sync ended before it could be killed: {proc.stderr.read()!r}")
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        with store.connect() as conn:
            assert conn.execute(
                select(SyncState.watermark).where(SyncState.entity == "orders")
            ).scalar() is None  # the orders watermark did not move
        again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=120)
        assert again.returncode == 0, again.stderr
        cfg = _config(server, db_url, since="3650d")
        assert_store_equals_shop(store, server, cfg, utcnow() - parse_age("3650d"))
        with store.connect() as conn:
            runs = [r.status for r in conn.execute(select(Run.status).order_by(Run.id))]
            # nothing doubled: one row per record (the primary keys say so) and counts match
            n_orders = conn.execute(select(func.count()).select_from(Order)).scalar()
            dup = conn.execute(text(
                "SELECT COUNT(*) FROM (SELECT id FROM order_items GROUP BY id "
                "HAVING COUNT(*) > 1) d")).scalar()
        assert runs == ["interrupted", "ok"]
        assert dup == 0
        assert n_orders == len(server.shop.orders.ids)


def test_an_order_that_breaks_its_list_pages_is_singled_out_and_the_run_goes_on(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    """PITFALLS B6: a page holding a certain order answers 500 every time. The sync
    narrows it down to that order, reads it by id, and quarantines only an order that
    fails by id too; every other order is stored."""
    from bridge.magento.retry import RetryPolicy

    shop = shop_server.shop
    with shop.lock:
        ids = sorted(o.id for o in shop.orders.values())
    list_only, always = ids[10], ids[len(ids) // 2]

    def poison(real: Any) -> Any:
        def poisoned(o: Any, *rest: Any) -> Any:
            caller = sys._getframe(1).f_code.co_name
            in_list = caller in ("<listcomp>", "_search", "orders_list", "render")
            if o.id == always or (o.id == list_only and in_list):
                raise RuntimeError(f'Item with the same ID "{o.id}" already exists.')
            return real(o, *rest)

        return poisoned

    # every way the sandbox renders an order (lists and GET /orders/{id})
    for name in ("order_json", "order_json_text", "lean_order_text"):
        if hasattr(shop, name):
            setattr(shop, name, poison(getattr(shop, name)))
    cfg = _config(shop_server, db_url, since="3650d")
    client = MagentoClient(cfg.magento, read_only=True, policy=RetryPolicy.fast())
    result = _sync(cfg, store, client=client)
    assert result.status == "partial" and result.exit_code == 3
    with store.connect() as conn:
        stored = set(conn.execute(select(Order.id)).scalars())
        q = conn.execute(select(Quarantine.entity, Quarantine.record_id, Quarantine.reason)).all()
    assert stored == set(ids) - {always}
    assert [(e, r) for e, r, _ in q] == [("orders", str(always))]
    assert "get by id failed" in q[0][2]
    assert result.counts["customers"].quarantined == 0
    # the watermark moved: the quarantined order is not silently waiting to be skipped
    with store.connect() as conn:
        assert conn.execute(select(SyncState.watermark).where(
            SyncState.entity == "orders")).scalar() is not None


def test_cli_sync_prints_json_records_the_run_and_respects_the_lock(
    shop_server: SandboxServer, store: Engine, db_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import threading

    from bridge.cli import main
    from bridge.lock import run_lock

    cfg_file = tmp_path / "segbridge.toml"
    cfg_file.write_text(_toml(shop_server, db_url))
    assert main(["--config", str(cfg_file), "--json", "sync", "--entity", "customers"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and set(out["entities"]) == {"customers", "groups"}
    assert out["entities"]["customers"]["stored"] == len(shop_server.shop.customers.ids)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Order)).scalar() == 0
    # the table output and status read the same run
    assert main(["--config", str(cfg_file), "status"]) == 0
    text_out = capsys.readouterr().out
    assert "sync" in text_out and "customers" in text_out
    # another run holds the lock: exit 4, nothing synced
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with run_lock(store, wait=False, holder="test holder"):
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        assert main(["--config", str(cfg_file), "sync", "--entity", "orders"]) == 4
    finally:
        release.set()
        t.join()
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Order)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(Run)).scalar() == 1


def test_asked_to_stop_between_entities_leaves_the_rest_untouched(
    shop_server: SandboxServer, store: Engine, db_url: str
) -> None:
    cfg = _config(shop_server, db_url)
    asked = iter([False, True])  # go on before customers, stop before orders
    result = _sync(cfg, store, should_stop=lambda: next(asked))
    assert result.status == "failed" and result.exit_code == 1
    assert any("stopped before orders" in e for e in result.errors)
    with store.connect() as conn:
        marks = dict(conn.execute(select(SyncState.entity, SyncState.watermark)).all())
        assert conn.execute(select(func.count()).select_from(Order)).scalar() == 0
        assert conn.execute(select(Run.status)).scalar() == "failed"
    assert set(marks) == {"customers"}
    again = _sync(cfg, store)
    assert again.status == "ok"
    assert_store_equals_shop(store, shop_server, cfg, again.started_at - parse_age("730d"))


SYNCED_TABLES = [name for tables in bulk.ENTITY_TABLES.values() for name in tables]


def _index_names(bind: Engine | Connection) -> set[str]:
    inspector = inspect(bind)
    return {str(ix["name"]) for t in SYNCED_TABLES for ix in inspector.get_indexes(t)}


def test_a_first_load_writes_without_its_indexes_and_ends_with_all_of_them(
    shop_server: SandboxServer, store: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big first sync writes each entity's rows into its tables without their secondary
    indexes and builds them after the last row; it ends with every index the migrations
    made. A sync into tables that hold rows drops none."""
    monkeypatch.setattr(offload, "MIN_RECORDS", 1)  # every entity is "big"
    before = _index_names(store)
    secondary = {str(ix.name) for ix in bulk.secondary_indexes(SYNCED_TABLES)}
    assert secondary and secondary <= before
    builds: list[tuple[set[str], set[str], int]] = []  # built, present then, orders then
    real = bulk.build_indexes

    def watching(conn: Connection, indexes: Any) -> None:
        indexes = list(indexes)
        if indexes:
            builds.append(({str(ix.name) for ix in indexes}, _index_names(conn),
                           conn.execute(select(func.count()).select_from(Order)).scalar_one()))
        real(conn, indexes)

    monkeypatch.setattr(bulk, "build_indexes", watching)
    assert _sync(_config(shop_server, db_url, since="3650d"), store).status == "ok"
    by_entity = {frozenset(str(ix.name) for ix in bulk.secondary_indexes(tables))
                 for tables in bulk.ENTITY_TABLES.values()}
    assert {frozenset(built) for built, _, _ in builds} == by_entity
    for built, present, _ in builds:
        assert not built & present  # the rows went in without them
    orders_build = next(b for b in builds if "ix_orders_segment_eval" in b[0])
    with store.connect() as conn:
        stored_orders = conn.execute(select(func.count()).select_from(Order)).scalar_one()
    assert stored_orders > 0 and orders_build[2] == stored_orders  # built after the last
    assert _index_names(store) == before

    builds.clear()
    shop_server.shop.touch(customers=0.1, orders=0.1, carts=0.1, seed=3)
    time.sleep(1.1)
    assert _sync(_config(shop_server, db_url, since="3650d"), store, full=True).status == "ok"
    assert builds == [] and _index_names(store) == before


def test_the_next_entity_is_fetched_while_the_writer_builds_the_orders_indexes(
    token_env: None, store: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's queue holds enough pages to ride out a pause of the writer: while it
    builds the indexes the orders' first load left out, every page of the carts is still
    fetched (with 16 pages a fetch thread, the fetch threads stopped after 66)."""
    monkeypatch.setattr(offload, "MIN_RECORDS", 1)  # every entity is "big": deferred indexes
    page_size = 5
    with SandboxServer(customers=1200, seed=5, orders_per_customer=1.0, active_carts=0.3,
                       token="sandbox-token") as server:
        carts = sum(1 for q in server.shop.carts.values()
                    if q.is_active and q.customer_id is not None)
        cart_pages = math.ceil(carts / page_size)
        assert cart_pages > 16 * 4 + 2  # more than the queue held before
        real = bulk.build_indexes
        carts_fetched_during_build: list[bool] = []

        def slow_orders_build(conn: Connection, indexes: Any) -> None:
            indexes = list(indexes)
            if any(str(ix.name) == "ix_orders_segment_eval" for ix in indexes):
                deadline = time.monotonic() + 15
                while (server.stats.get("GET", "/V1/carts/search") < cart_pages
                       and time.monotonic() < deadline):
                    time.sleep(0.02)
                carts_fetched_during_build.append(
                    server.stats.get("GET", "/V1/carts/search") >= cart_pages)
            real(conn, indexes)

        monkeypatch.setattr(bulk, "build_indexes", slow_orders_build)
        cfg = _config(server, db_url, since="3650d", page_size=page_size)
        result = _sync(cfg, store)
        assert result.status == "ok"
        assert result.counts["carts"].list_requests == cart_pages
        assert carts_fetched_during_build == [True]
        with store.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Cart)).scalar_one() == carts


def test_indexes_a_first_load_left_out_are_built_by_the_next_sync(
    shop_server: SandboxServer, store: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A first load killed before it built its indexes again: the next sync starts by
    building what is missing (it reads and writes the same either way)."""
    before = _index_names(store)
    with store.begin() as conn:
        dropped = {str(ix.name) for ix in bulk.defer_indexes(conn, "orders")}
    assert "ix_orders_segment_eval" in dropped and not dropped & _index_names(store)
    caplog.set_level("WARNING", logger="bridge.store.bulk")
    assert _sync(_config(shop_server, db_url), store).status == "ok"
    assert _index_names(store) == before
    assert "indexes were missing" in caplog.text and "ix_orders_segment_eval" in caplog.text
    with store.begin() as conn:  # the table holds rows now: nothing is dropped
        assert bulk.defer_indexes(conn, "orders") == []
    assert _index_names(store) == before


@pytest.mark.parametrize("cart_totals", [False, True])
def test_carts_go_to_the_workers_unless_their_totals_are_read(
    shop_server: SandboxServer, store: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch,
    cart_totals: bool,
) -> None:
    """With sync.cart_totals the writer thread reads each active cart's totals for its rows
    before it writes them, so carts stay with it; without, they are big pages like the
    others. Either way the store ends with the sandbox's active carts."""
    if not offload.shareable(store):
        pytest.skip("an in-memory store never uses the workers")
    monkeypatch.setattr(offload, "MIN_RECORDS", 1)
    sent: list[str] = []
    real = offload.Offload._submit

    def counting(self: offload.Offload, ctx: Any, bodies: list[bytes]) -> Any:
        sent.append(ctx.entity)
        return real(self, ctx, bodies)

    monkeypatch.setattr(offload.Offload, "_submit", counting)
    cfg = _config(shop_server, db_url, since="3650d", cart_totals=cart_totals)
    assert _sync(cfg, store).status == "ok"
    assert ("carts" in sent) is not cart_totals and {"customers", "orders"} <= set(sent)
    shop = shop_server.shop
    with shop.lock:
        active = {q.id for q in shop.carts.values() if q.is_active and q.customer_id}
    with store.connect() as conn:
        stored = set(conn.execute(select(Cart.id).where(Cart.is_active.is_(True))).scalars())
    assert stored == active


def test_indexes_are_built_on_a_connection_that_read_the_schema_before_they_went(
    store: Engine,
) -> None:
    """The writer's tasks take turns on pooled connections: the one that builds the
    indexes may have read the schema before another one dropped them (SQLite then still
    sees them when it parses CREATE INDEX)."""
    before = _index_names(store)
    with store.connect() as late, store.connect() as early:
        early.execute(select(func.count()).select_from(Order)).scalar_one()  # reads it
        early.commit()
        with late.begin():
            dropped = bulk.defer_indexes(late, "orders")
        assert dropped
        with early.begin():
            bulk.build_indexes(early, dropped)
            assert bulk.restore_indexes(early) == []
    assert _index_names(store) == before
