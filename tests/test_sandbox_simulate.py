"""The sandbox plays time forward: customers in a pushed group buy more often, by a planted
share, and the orders are the generator's kind, over HTTP and through the real sync."""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select, update
from test_sandbox_schema import check, schema  # noqa: F401  (schema: a fixture)
from test_sync import _config, _sync

from bridge.lift import stats
from bridge.lift.compute import compute_lift
from bridge.lift.holdout import is_held_out
from bridge.sandbox.generator import DAY, ORDER_STATUSES
from bridge.sandbox.model import parse_time
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.shop import Shop
from bridge.sandbox.simulate import (
    SimulationError,
    days_arg,
    days_back,
    plan,
    simulate_days,
    uplift_arg,
)
from bridge.segments.testing import insert_rows
from bridge.store.engine import open_store
from bridge.store.models import Order, SyncState
from bridge.store.segment_tables import SegmentHistory, SegmentRecord

PAST = "2026-03-01 12:00:00"  # a frozen clock well before the real one


def _move_half_to(shop: Shop, code: str, seed: int = 5) -> set[int]:
    """A new group ``code`` and a random half of the customers moved into it."""
    gid = shop.save_group({"group": {"code": code, "tax_class_id": 3}})["id"]
    r = random.Random(seed)
    moved = set()
    for cid in shop.customers.ids:
        if r.random() < 0.5:
            shop.update_customer(cid, group_id=gid)
            moved.add(cid)
    return moved


def _buyers(orders: Any, members: set[int]) -> int:
    """Members with an order that counts for the lift (every status but canceled)."""
    return len({o.customer_id for o in orders
                if o.status != "canceled" and o.customer_id in members})


# --- the planted uplift is what a lift finds ----------------------------------------------

SEEDS = range(1, 41)
BUSY_RATE = 0.01  # a busy shop: about a quarter of the customers buy in 30 days


@pytest.fixture(scope="module")
def half_vip() -> tuple[Shop, set[int], set[int]]:
    shop = Shop(customers=10_000, seed=3, now=PAST, tick=False)
    vip = _move_half_to(shop, "VIP")
    return shop, vip, set(shop.customers.ids) - vip


def _expected_conversion(daily: float, days: int = 30) -> float:
    """P(at least one order that is not canceled in ``days`` days) at a daily rate: the
    generator's status mix cancels 10 % of orders."""
    return 1 - (1 - daily * 0.9) ** days


def test_a_planted_uplift_is_found_and_none_is_not_at_the_expected_rates(
    half_vip: tuple[Shop, set[int], set[int]],
) -> None:
    shop, vip, others = half_vip
    found = {0.0: 0, 0.2: 0}
    relative: dict[float, list[float]] = {0.0: [], 0.2: []}
    orders_ratio: list[float] = []
    for uplift in found:
        for seed in SEEDS:
            sim = plan(shop, 30, {"VIP": uplift}, base_rate=BUSY_RATE, seed=seed)
            x1, x2 = _buyers(sim.orders, vip), _buyers(sim.orders, others)
            interval = stats.newcombe_interval(x1, len(vip), x2, len(others))
            found[uplift] += interval.excludes(0)
            relative[uplift].append((x1 / len(vip)) / (x2 / len(others)) - 1)
            if uplift:
                o1 = sum(o.customer_id in vip for o in sim.orders)
                orders_ratio.append((o1 / len(vip)) / ((len(sim.orders) - o1) / len(others)))
    # No uplift: the 95 % interval excludes 0 for about 5 % of the seeds (P(7+ of 40) =
    # 0.3 %). A 20 % uplift: found with a power above 99 % at these sizes (z ≈ 4.6).
    assert found[0.0] <= 6, found
    assert found[0.2] >= 37, found
    # the shift in conversion is the planted one, bent only by customers buying twice
    want = _expected_conversion(BUSY_RATE * 1.2) / _expected_conversion(BUSY_RATE) - 1
    assert abs(sum(relative[0.2]) / len(SEEDS) - want) < 0.03, (relative[0.2], want)
    assert abs(sum(relative[0.0]) / len(SEEDS)) < 0.03
    # orders per customer: exactly the planted 20 % more, on average
    assert abs(sum(orders_ratio) / len(SEEDS) - 1.2) < 0.03


def test_the_default_rate_gives_a_few_percent_conversion_a_month(
    half_vip: tuple[Shop, set[int], set[int]],
) -> None:
    shop, vip, others = half_vip
    sim = plan(shop, 30, seed=9)
    share = _buyers(sim.orders, vip | others) / len(shop.customers)
    assert 0.02 < share < 0.04, share
    assert sim.groups[1].daily_rate == sim.groups[4].daily_rate == 0.001


# --- the orders and the clock -------------------------------------------------------------


def _orders_after(shop: Shop, first_id: int) -> list[Any]:
    return [shop.orders.rows[i] for i in shop.orders.ids if i >= first_id]


def test_orders_are_the_generators_kind_within_the_played_days() -> None:
    shop = Shop(customers=300, seed=2, now=PAST, tick=False)
    start, before = shop.now(), len(shop.orders)
    first = shop.orders.next_id()
    sim = simulate_days(shop, 30, base_rate=0.05, seed=7)
    new = _orders_after(shop, first)
    assert len(new) == len(sim.orders) == len(shop.orders) - before > 200
    assert sim.order_ids == (first, first + len(new) - 1)
    assert shop.now() == start + 30 * DAY  # the frozen clock moved by exactly the days
    assert [o.created_at for o in new] == sorted(o.created_at for o in new)  # ids grow with time
    stores = {1: {1}, 2: {2, 3, 4}}
    seen_status = set()
    for o in new:
        c = shop.customers.rows[o.customer_id]
        assert start < o.created_at <= o.updated_at <= start + 30 * DAY
        assert (o.email, o.firstname, o.lastname, o.group_id) == (
            c.email, c.firstname, c.lastname, c.group_id)
        assert o.store_id in stores[c.website_id]
        assert o.lines is None and o.seed  # items derived from the seed, as generated ones
        assert o.billing is not None and o.shipping is not None
        if c.default_billing is not None:
            assert o.billing is c.address(c.default_billing)
        total = o.base_grand_total
        shop.set_order_totals(o)
        assert o.base_grand_total == total > 0
        assert o.id in shop.orders_by_customer[c.id]
        seen_status.add(o.status)
        if o.status == "pending":
            assert o.updated_at == o.created_at
    assert seen_status == set(ORDER_STATUSES)
    increments = [shop.increment_id(o) for o in shop.orders.values()]
    assert len(set(increments)) == len(increments)
    # each day of the month has orders
    assert len({(o.created_at - start - 1) // DAY for o in new}) == 30


def test_the_same_seed_gives_the_same_orders_and_days_do_not_repeat() -> None:
    def run(seed: int, steps: tuple[int, ...]) -> list[tuple[Any, ...]]:
        shop = Shop(customers=200, seed=4, now=PAST, tick=False)
        first = shop.orders.next_id()
        for days in steps:
            simulate_days(shop, days, base_rate=0.05, seed=seed)
        return [(o.id, o.customer_id, o.created_at, o.updated_at, o.status, o.store_id,
                 o.seed, o.base_grand_total) for o in _orders_after(shop, first)]

    assert run(1, (10,)) == run(1, (10,))
    assert run(1, (10,)) != run(2, (10,))
    # playing day by day: every day draws afresh (not one day's draws ten times)
    daily = run(1, (1,) * 10)
    assert len({(t[2] - parse_time(PAST) - 1) // DAY for t in daily}) == 10
    assert len({t[1] for t in daily}) > len(daily) * 0.8


def test_the_customers_current_group_decides() -> None:
    shop = Shop(customers=300, seed=6, now=PAST, tick=False)
    first = shop.orders.next_id()
    simulate_days(shop, 10, {"General": -1}, base_rate=0.1, seed=1)
    new = _orders_after(shop, first)
    assert new and all(shop.customers.rows[o.customer_id].group_id != 1 for o in new)
    for cid in shop.customers.ids:  # everyone into General: nobody orders any more
        shop.update_customer(cid, group_id=1)
    first = shop.orders.next_id()
    sim = simulate_days(shop, 10, {"general": -1}, base_rate=0.1, seed=1)  # any case
    assert sim.orders == [] and _orders_after(shop, first) == []
    assert sim.groups[1].customers == 300 and sim.groups[1].daily_rate == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"days": 0}, "days must be from 1 to"),
    ({"days": 2.5}, "days must be a whole number"),
    ({"uplift": {"Platinum": 0.2}}, "uplift names customer group 'Platinum', which the shop "
                                    "does not have (its groups: General, NOT LOGGED IN,"),
    ({"uplift": {"VIP": "lots"}}, "uplift of group 'VIP': a share of at least -1"),
    ({"uplift": {"VIP": -2}}, "uplift of group 'VIP': a share of at least -1"),
    ({"uplift": ["VIP"]}, "uplift must map customer group codes to shares"),
    ({"uplift": {"Wholesale": 1.5}, "base_rate": 0.5}, "more than one order a day"),
    ({"base_rate": 0}, "base_rate is a customer's chance to order on a day"),
    ({"seed": "x"}, "seed must be a whole number"),
    ({"days": 400}, "would end after the real time"),
])
def test_bad_arguments_are_refused_and_nothing_is_placed(kwargs: dict[str, Any],
                                                          message: str) -> None:
    shop = Shop(customers=50, seed=1, now=days_back(None, 300), tick=False)
    before, now = len(shop.orders), shop.now()
    args = {"days": 30, **kwargs}
    with pytest.raises(SimulationError) as err:
        simulate_days(shop, **args)
    assert message in str(err.value)
    assert len(shop.orders) == before and shop.now() == now and shop.simulated_days == 0


def test_playing_past_the_real_clock_says_how_many_days_the_shop_can_play() -> None:
    shop = Shop(customers=20, seed=1, now=days_back(None, 3), tick=False)
    with pytest.raises(SimulationError, match=r"the shop can play 3 day\(s\)"):
        simulate_days(shop, 4)
    assert simulate_days(shop, 4, allow_future=True).days == 4  # for the sandbox's own tests


def test_command_line_arguments() -> None:
    assert days_arg("30") == 30
    for bad in ("0", "-3", "a month", "9999"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a number of days"):
            days_arg(bad)
    assert uplift_arg("VIP=0.2") == ("VIP", 0.2)
    assert uplift_arg(" Big = spenders=-0.5") == ("Big = spenders", -0.5)
    for bad in ("VIP", "=0.2", "VIP=lots", "VIP=-3", "VIP=nan"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not GROUP=SHARE"):
            uplift_arg(bad)


# --- over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def behind() -> Iterator[SandboxServer]:
    """A sandbox whose clock runs 31 days behind, VIP customers buying 20 % more."""
    with SandboxServer(customers=200, seed=8, simulate_days=31, uplift={"VIP": 0.2}) as s:
        yield s


def _control(s: SandboxServer, body: Any = None, path: str = "simulate") -> requests.Response:
    return requests.post(f"{s.base_url}/__sandbox/{path}", json=body, timeout=30)


def test_the_control_route_plays_days_with_the_servers_uplift(behind: SandboxServer) -> None:
    shop = behind.shop
    assert 31 * DAY - 5 < time.time() - shop.now() <= 31 * DAY + 5
    r = _control(behind, {"days": 10})
    assert r.status_code == 400 and "uplift names customer group 'VIP'" in r.json()["message"]
    _move_half_to(shop, "VIP")
    before = len(shop.orders)
    r = _control(behind, {"days": 30, "base_rate": 0.02, "seed": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["orders"] == len(shop.orders) - before > 0
    assert body["last_order_id"] - body["first_order_id"] + 1 == body["orders"]
    assert body["uplift"] == {"VIP": 0.2}
    rates = {g["code"]: g["daily_rate"] for g in body["groups"]}
    assert rates["VIP"] == pytest.approx(0.024) and rates["General"] == 0.02
    assert sum(g["customers"] for g in body["groups"]) == len(shop.customers)
    info = requests.get(f"{behind.base_url}/__sandbox/info", timeout=5).json()
    assert info["now"] == body["now"] and info["orders"] == len(shop.orders)
    # one day is left: no "days" plays it; then nothing is left to play
    r = _control(behind, {"uplift": {}})
    assert r.status_code == 200 and r.json()["days"] == 1
    r = _control(behind, {})
    assert r.status_code == 400 and "nothing to play" in r.json()["message"]
    for bad in ({"days": 1, "speed": 2}, [1], {"days": "ten"}):
        r = _control(behind, bad)
        assert r.status_code == 400 and r.json()["message"]


def test_simulated_orders_validate_against_magentos_schema(schema: dict[str, Any]  # noqa: F811
                                                           ) -> None:
    with SandboxServer(customers=80, seed=5, simulate_days=30) as s:
        first = s.shop.orders.next_id()
        assert _control(s, {"days": 30, "base_rate": 0.05}).status_code == 200
        new = s.shop.orders.ids[s.shop.orders.ids.index(first):]
        assert len(new) > 60
        h = {"Authorization": f"Bearer {s.token}"}
        for oid in new[:60]:
            r = requests.get(f"{s.rest_url()}/V1/orders/{oid}", headers=h, timeout=10)
            check(schema, "GET", "/V1/orders/{id}", r.json())
        r = requests.get(f"{s.rest_url()}/V1/orders", headers=h, timeout=10, params={
            "searchCriteria[filterGroups][0][filters][0][field]": "entity_id",
            "searchCriteria[filterGroups][0][filters][0][value]": first,
            "searchCriteria[filterGroups][0][filters][0][conditionType]": "gteq",
            "searchCriteria[pageSize]": 100})
        assert r.json()["total_count"] == len(new)
        check(schema, "GET", "/V1/orders", r.json())


# --- the real sync ------------------------------------------------------------------------


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.db
def test_an_incremental_sync_after_the_simulation_picks_up_exactly_the_new_orders(
    store: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAGENTO_TOKEN", "sandbox-token")
    with SandboxServer(customers=150, seed=7, simulate_days=31, token="sandbox-token") as s:
        cfg = _config(s, db_url, overlap_s=0)
        assert _sync(cfg, store).status == "ok"
        r = _control(s, {"days": 30, "base_rate": 0.01, "seed": 2})
        assert r.status_code == 200, r.text
        body = r.json()
        new = set(range(body["first_order_id"], body["last_order_id"] + 1))
        assert len(new) == body["orders"] > 20
        with store.begin() as conn:
            mark = conn.execute(select(SyncState.watermark)
                                .where(SyncState.entity == "orders")).scalar_one()
            at_mark = set(conn.execute(select(Order.id).where(Order.updated_at >= mark))
                          .scalars())
            conn.execute(update(Order.__table__).values(synced_at=None))
        second = _sync(cfg, store)
        assert second.status == "ok", second.errors
        assert second.counts["orders"].mode == "incremental"
        with store.connect() as conn:
            fetched = set(conn.execute(select(Order.id).where(Order.synced_at.is_not(None)))
                          .scalars())
            rows = {o.id: o for o in conn.execute(select(Order.__table__)
                                                  .where(Order.id.in_(new)))}
        assert fetched - at_mark == new
        shop = s.shop
        for oid in new:
            o = shop.orders.rows[oid]
            row = rows[oid]
            assert (row.customer_id, row.status, row.store_id) == (
                o.customer_id, o.status, o.store_id)
            assert math.isclose(float(row.base_grand_total), o.base_grand_total)


@pytest.mark.db
@pytest.mark.parametrize(("uplift", "found"), [(0.5, True), (0.0, False)])
def test_the_lift_of_a_segment_whose_treated_members_are_pushed_is_the_planted_one(
    store: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, uplift: float, found: bool
) -> None:
    """The loop without the evaluation: every customer joins segment "vip" (holdout 0.5)
    at the shop's now; the treated ones are in group VIP, as the push leaves them; a month
    is played; the sync reads it; the lift sees the planted uplift, or none."""
    monkeypatch.setenv("MAGENTO_TOKEN", "sandbox-token")
    with SandboxServer(customers=2000, seed=9, simulate_days=31, token="sandbox-token") as s:
        shop = s.shop
        joined = datetime.fromtimestamp(shop.now(), UTC).replace(tzinfo=None)
        gid = shop.save_group({"group": {"code": "VIP", "tax_class_id": 3}})["id"]
        for cid in shop.customers.ids:
            if not is_held_out("vip", cid, 0.5):
                shop.update_customer(cid, group_id=gid)
        r = _control(s, {"days": 30, "uplift": {"VIP": uplift}, "base_rate": 0.01, "seed": 1})
        assert r.status_code == 200, r.text
        cfg = _config(s, db_url, page_size=100)
        assert _sync(cfg, store).status == "ok"
        as_of = joined + timedelta(days=30)
        with store.begin() as conn:
            insert_rows(conn, SegmentRecord, [{
                "code": "vip", "name": "VIP", "active": True, "priority": 0, "members": 2000,
                "definition_hash": "x", "first_seen_at": joined, "defined_at": joined,
                "last_as_of": as_of}])
            insert_rows(conn, SegmentHistory, [
                {"segment_code": "vip", "customer_id": cid, "event": "joined", "at": joined}
                for cid in shop.customers.ids])
        with store.connect() as conn:
            lift = compute_lift(conn, "vip", 0.5)
    assert lift.treated.members + lift.held_out.members == 2000
    played = range(r.json()["first_order_id"], r.json()["last_order_id"] + 1)
    assert lift.treated.orders + lift.held_out.orders == sum(
        shop.orders.rows[i].status != "canceled" for i in played)
    assert lift.conversion.interval is not None
    assert lift.conversion.interval.excludes(0) is found, lift.verdict()
    assert lift.orders_per_member.relative is not None
    # about 300 orders a side: the relative difference has a standard error near 0.08
    assert abs(lift.orders_per_member.relative - uplift) < 0.25, lift.orders_per_member



# --- the command ----------------------------------------------------------------------------

_RUN_COMMAND = """
import argparse, types
from bridge.sandbox.command import cmd_sandbox
from bridge.sandbox.simulate import days_arg, uplift_arg
args = argparse.Namespace(port=0, customers=40, seed=2, host="127.0.0.1",
                          simulate_days=days_arg("30"), uplift=[uplift_arg("Wholesale=0.5")])
raise SystemExit(cmd_sandbox(types.SimpleNamespace(json=False), args))
"""


def test_the_sandbox_command_starts_the_clock_back_and_plays_its_uplift(tmp_path: Any
                                                                        ) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", _RUN_COMMAND], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("segbridge sandbox: http://127.0.0.1:"), first
        url = first.split()[2]
        lines = []
        while not any("Ctrl-C" in ln for ln in lines) and len(lines) < 30:
            lines.append(proc.stdout.readline())
        assert ("The shop's clock runs 30 day(s) behind: POST /__sandbox/simulate plays them "
                "(orders a day: group Wholesale +50 % against the other groups).\n") in lines
        body = requests.post(url + "/__sandbox/simulate", json={}, timeout=30).json()
        assert body["days"] == 30 and body["uplift"] == {"Wholesale": 0.5}
        assert {g["code"]: g["daily_rate"] for g in body["groups"]}["Wholesale"] == 0.0015
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        err = proc.stderr.read() if proc.stderr else ""
    assert code == 0, err
