"""Wishlist items and viewed products: synced from the storefront module's routes by the real
client over 127.0.0.1, compared with the sandbox shop's own rows, and evaluated by the
``product.viewed`` / ``product.in_wishlist`` conditions (SQL checked against the reference
evaluator); without the module, the conditions keep their clear error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from bridge.cli import main
from bridge.config import Config, parse_config
from bridge.privacy.erase import erase_customers
from bridge.sandbox.module_state import add_to_wishlist, remove_from_wishlist, view_product
from bridge.sandbox.server import SandboxServer
from bridge.segments.evaluate import evaluate
from bridge.segments.loader import load_segments
from bridge.segments.reference import Reference, load_customer
from bridge.store.engine import open_store
from bridge.store.models import Customer, ProductView, SyncState, WishlistItem
from bridge.sync import run_sync
from bridge.timeutil import parse_magento_time, utcnow

pytestmark = pytest.mark.db

TOKEN = "sandbox-token"
VIEWED = """
code = "viewed-dear"
name = "Viewed a product of 50 or more in the last 30 days"
[[conditions.rules]]
attribute = "product.viewed"
operator = "=="
value = true
period = "30d"
price = { operator = ">=", value = 50 }
"""
WISHED = """
code = "wishlist-dear"
name = "Has a product of 100 or more, or a hoodie, in the wishlist"
[conditions]
match = "any"

[[conditions.rules]]
attribute = "product.in_wishlist"
operator = "=="
value = true
price = { operator = ">=", value = 100 }

[[conditions.rules]]
attribute = "product.in_wishlist"
operator = "=="
value = true
name_contains = "HOODIE"
"""


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGENTO_TOKEN", TOKEN)


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _config(tmp_path: Path, server: SandboxServer, url: str, use: str = "auto",
            files: dict[str, str] | None = None) -> Config:
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    for name, text in (files if files is not None else
                       {"viewed.toml": VIEWED, "wished.toml": WISHED}).items():
        (mappings / name).write_text(text, encoding="utf-8")
    return parse_config({
        "magento": {"base_url": server.base_url, "page_size": 40, "concurrency": 2,
                    "timeout_s": 10},
        "store": {"url": url},
        "module": {"use": use},
        "mappings": {"dir": str(mappings)},
    }, None)


def _shop_rows(server: SandboxServer) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """What the store must hold: the sandbox's wishlist and views, as the module answers."""
    state = server.shop.module
    with server.shop.lock:
        def row(r: Any) -> tuple[Any, ...]:
            p = state.products[r.product_id]
            return (r.customer_id, r.product_id, p.sku, Decimal(str(p.price)).quantize(
                Decimal("0.0001")), parse_magento_time(r.added_at), r.store_id)

        wish = {r.id: row(r) for r in state.wishlist.rows.values()}
        views = {(r.customer_id, r.product_id): (r.id, *row(r))
                 for r in state.views.rows.values()}
    return wish, views


def _store_rows(engine: Engine) -> tuple[dict[Any, Any], dict[Any, Any]]:
    with engine.connect() as conn:
        wish = {r.id: (r.customer_id, r.product_id, r.sku, Decimal(r.price).quantize(
            Decimal("0.0001")), r.added_at, r.store_id)
            for r in conn.execute(select(WishlistItem.__table__))}
        views = {(r.customer_id, r.product_id): (
            r.view_id, r.customer_id, r.product_id, r.sku,
            Decimal(r.price).quantize(Decimal("0.0001")), r.added_at, r.store_id)
            for r in conn.execute(select(ProductView.__table__))}
    return wish, views


def _state(engine: Engine, entity: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(SyncState.__table__).where(
            SyncState.entity == entity)).first()


@pytest.fixture
def server(token_env: None) -> Iterator[SandboxServer]:
    with SandboxServer(customers=150, seed=11, orders_per_customer=1.0, active_carts=0.2,
                       token=TOKEN) as srv:
        yield srv


def test_full_then_incremental_follows_the_shop(server: SandboxServer, store: Engine,
                                                db_url: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, server, db_url)
    first = run_sync(cfg, store)
    assert first.status == "ok", first.errors
    assert first.counts["wishlist"].mode == first.counts["product_views"].mode == "full"
    assert _store_rows(store) == _shop_rows(server)
    assert len(_shop_rows(server)[0]) > 50 and len(_shop_rows(server)[1]) > 100

    shop = server.shop
    state = shop.module
    before_views = len(state.views)
    shop.clock.advance(60)
    again = next(r for r in state.views.rows.values() if r.customer_id == 7) \
        if any(r.customer_id == 7 for r in state.views.rows.values()) \
        else next(iter(state.views.rows.values()))
    moved_from = again.added_at
    view_product(shop, again.customer_id, again.product_id)  # a repeat view
    fresh = next(p for p in sorted(state.products)
                 if state.views.find(3, p) is None)
    view_product(shop, 3, fresh)  # a new one
    added = add_to_wishlist(shop, 5, 4)
    assert len(state.views) == before_views + 1

    second = run_sync(cfg, store)
    assert second.status == "ok", second.errors
    views = second.counts["product_views"]
    assert views.mode == "incremental" and views.fetched <= 5, views
    assert second.counts["wishlist"].mode == "incremental"
    assert views.list_requests <= 3  # the keyset page and the count
    wish, stored_views = _store_rows(store)
    assert (wish, stored_views) == _shop_rows(server)
    assert added.id in wish
    row = stored_views[(again.customer_id, again.product_id)]
    assert row[0] == again.id and row[5] == parse_magento_time(again.added_at)
    assert row[5] > parse_magento_time(moved_from)  # the row moved, no second row
    assert len(stored_views) == before_views + 1

    # an item removed from a wishlist: the count differs, the wishlist is read whole
    gone = next(iter(state.wishlist.rows))
    remove_from_wishlist(shop, gone)
    third = run_sync(cfg, store)
    assert third.status == "ok", third.errors
    assert third.counts["wishlist"].mode == "full" and third.counts["wishlist"].deleted == 1
    assert third.counts["product_views"].mode == "incremental"
    assert _store_rows(store) == _shop_rows(server)
    assert gone not in _store_rows(store)[0]

    # a full sync of one entity finds nothing to change
    fourth = run_sync(cfg, store, full=True, entities=["product_views"])
    assert fourth.counts["product_views"].deleted == 0 and "wishlist" not in fourth.counts
    assert _store_rows(store) == _shop_rows(server)


def test_segments_on_the_synced_data_agree_with_the_reference(
        server: SandboxServer, store: Engine, db_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, server, db_url)
    assert run_sync(cfg, store).status == "ok"
    segments = load_segments(cfg.mappings.dir, cfg)
    as_of = utcnow()
    results = evaluate(store, segments, as_of, config=cfg)
    by_code = {s.code: s for s in segments}
    from bridge.store.segment_tables import SegmentMember

    with store.connect() as conn:
        members: dict[str, set[int]] = {s.code: set() for s in segments}
        for code, cid in conn.execute(select(SegmentMember.segment_code,
                                             SegmentMember.customer_id)):
            members[code].add(cid)
        ids = list(conn.execute(select(Customer.id)).scalars())
        reference: dict[str, set[int]] = {s.code: set() for s in segments}
        for cid in ids:
            data = load_customer(conn, cid, cfg)
            assert data is not None
            ref = Reference(data, by_code, as_of)
            for seg in segments:
                if ref.segment(seg).result:
                    reference[seg.code].add(cid)
    # and by hand, from the sandbox's own rows
    state = server.shop.module
    now = as_of
    viewed = {r.customer_id for r in state.views.rows.values()
              if (now - parse_magento_time(r.added_at)).total_seconds() <= 30 * 86400
              and state.products[r.product_id].price >= 50}
    wished = {r.customer_id for r in state.wishlist.rows.values()
              if state.products[r.product_id].price >= 100
              or "hoodie" in state.products[r.product_id].name.casefold()}
    assert members == reference
    assert members["viewed-dear"] == viewed and members["wishlist-dear"] == wished
    assert results["viewed-dear"].members == len(viewed) > 5
    assert results["wishlist-dear"].members == len(wished) > 3
    # explain shows the customer's matching products and which leaf decided
    member = min(members["viewed-dear"])
    config_file = tmp_path / "segbridge.toml"
    config_file.write_text(f'[magento]\nbase_url = "{server.base_url}"\n[store]\nurl = "{db_url}"'
                           f'\n[mappings]\ndir = "{cfg.mappings.dir}"\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["--config", str(config_file), "explain", "viewed-dear", str(member),
                 "--as-of", as_of.strftime("%Y-%m-%dT%H:%M:%SZ")]) == 0
    out = capsys.readouterr().out
    assert "product.viewed == true [period 30d; price >= 50]" in out and "matching:" in out
    with capsys.disabled():
        print(f"\nviewed-dear: {len(members['viewed-dear'])} members (reference "
              f"{len(reference['viewed-dear'])}); wishlist-dear: "
              f"{len(members['wishlist-dear'])} members (reference "
              f"{len(reference['wishlist-dear'])}); {len(ids)} customers")


def test_without_the_module_the_conditions_keep_their_clear_error(
        token_env: None, db_url: str, store: Engine, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with SandboxServer(customers=30, seed=3, token=TOKEN, module=False) as bare:
        cfg = _config(tmp_path, bare, db_url)
        config_file = tmp_path / "segbridge.toml"
        config_file.write_text(
            f'[magento]\nbase_url = "{bare.base_url}"\n[store]\nurl = "{db_url}"\n'
            f'[mappings]\ndir = "{cfg.mappings.dir}"\n[module]\nuse = "auto"\n',
            encoding="utf-8")
        result = run_sync(cfg, store)
        assert result.status == "ok", result.errors
        assert "wishlist" not in result.counts and _state(store, "wishlist") is None
        refused = evaluate(store, load_segments(cfg.mappings.dir, cfg), utcnow(), config=cfg)
        assert refused == {}  # both refused, not evaluated
        capsys.readouterr()
        assert main(["--config", str(config_file), "check", "--online"]) == 2
        err = capsys.readouterr().err
        assert "mappings/viewed.toml: conditions.rules[0].attribute: product.viewed is not " \
               "available" in err
        assert "mappings/wished.toml: conditions.rules[0].attribute: product.in_wishlist" in err
        assert "no storefront module" in err

        # module.use = "off": check refuses them offline, with today's line
        config_file.write_text(config_file.read_text().replace('"auto"', '"off"'))
        assert main(["--config", str(config_file), "check"]) == 2
        err = capsys.readouterr().err
        assert ("mappings/viewed.toml: conditions.rules[0].attribute: product.viewed is not "
                "available: Magento Open Source's REST API does not expose which products a "
                "customer viewed") in err
        assert 'module.use = "off"' in err

        # module.use = "on": the sync fails those entities (exit 1), the rest is synced
        on = _config(tmp_path, bare, db_url, use="on")
        failed = run_sync(on, store)
        assert failed.status == "failed" and failed.exit_code == 1
        assert "requires segbridge's storefront module" in (failed.counts["wishlist"].error
                                                            or "")
        assert failed.counts["customers"].error is None


def test_rows_go_when_the_module_or_the_segments_go(
        server: SandboxServer, store: Engine, db_url: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, server, db_url)
    assert run_sync(cfg, store).status == "ok"
    assert _store_rows(store)[1]
    # no active segment reads product.viewed any more: its rows are not kept
    (cfg.mappings.dir / "viewed.toml").unlink()
    assert run_sync(cfg, store).status == "ok"
    wish, views = _store_rows(store)
    assert wish and not views and _state(store, "product_views") is None


def test_erasure_and_forgotten_people_cover_the_rows(
        server: SandboxServer, store: Engine, db_url: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, server, db_url)
    assert run_sync(cfg, store).status == "ok"
    wish, views = _store_rows(store)
    cid = next(c for c, _p in views if any(w[0] == c for w in wish.values()))
    from bridge.privacy.subject import subject

    with store.connect() as conn:  # access: `segbridge subject` shows the rows
        held = subject(conn, str(cid))
    assert held is not None
    other = held["customers"][0]["other"]
    assert {r["product_id"] for r in other["product_views"]} == {
        p for c, p in views if c == cid}
    assert len(other["wishlist_items"]) == sum(w[0] == cid for w in wish.values())
    with store.begin() as conn:
        erase_customers(conn, [cid])
    wish, views = _store_rows(store)
    assert all(w[0] != cid for w in wish.values()) and all(c != cid for c, _ in views)
    # a forgotten person's rows are not brought back by a full sync
    from bridge.privacy.erase import digest
    from bridge.store.privacy_tables import PrivacyForgotten

    with store.begin() as conn:
        conn.execute(insert(PrivacyForgotten.__table__).values(
            digest=digest("id", cid), kind="id", forgotten_at=datetime(2026, 1, 1)))
    assert run_sync(cfg, store, full=True).status == "ok"
    wish, views = _store_rows(store)
    assert all(w[0] != cid for w in wish.values()) and all(c != cid for c, _ in views)


def test_the_overlap_reaches_back_and_a_full_sync_catches_the_rest(
        server: SandboxServer, store: Engine, db_url: str, tmp_path: Path) -> None:
    """A view Magento records with an earlier time (a guest's views attached at login) is
    read by the next incremental run when it lies within sync.overlap_s of the watermark,
    and by the next full read otherwise."""
    cfg = _config(tmp_path, server, db_url)
    assert run_sync(cfg, store).status == "ok"
    watermark = _state(store, "product_views").watermark
    shop, state = server.shop, server.shop.module
    stamp = int(watermark.replace(tzinfo=UTC).timestamp())
    within = view_product(shop, 11, next(p for p in sorted(state.products)
                                         if state.views.find(11, p) is None), at=stamp - 200)
    behind = view_product(shop, 12, next(p for p in sorted(state.products)
                                         if state.views.find(12, p) is None), at=stamp - 900)
    inc = run_sync(cfg, store)  # overlap_s = 300 by default
    assert inc.counts["product_views"].mode == "incremental"
    views = _store_rows(store)[1]
    assert (11, within.product_id) in views and (12, behind.product_id) not in views
    full = run_sync(cfg, store, full=True, entities=["product_views"])
    assert full.counts["product_views"].mode == "full"
    assert _store_rows(store) == _shop_rows(server)
