"""The push against the sandbox over loopback: plan, push, drift, homes, objects."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from test_push_kit import Scenario, customer_records, shop_state

from bridge.cli import main
from bridge.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL
from bridge.push.remote import Remote
from bridge.push.service import build_plan, live_groups
from bridge.store.models import Quarantine
from bridge.store.push_tables import PushCustomer, PushObject

pytestmark = pytest.mark.db


@pytest.fixture
def scenario(tmp_path: Path, db_url: str):
    sc = Scenario(tmp_path / "s", db_url)
    try:
        yield sc
    finally:
        sc.close()


def _cli(sc: Scenario, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--config", str(sc.config_path), *args])
    return code, out.getvalue()


def test_plan_writes_nothing_and_names_groups_by_code(scenario: Scenario) -> None:
    sc = scenario
    sc.sync_evaluate()
    before = shop_state(sc.shop)
    sc.sandbox.stats.reset()
    code, out = _cli(sc, "--json", "plan")
    assert code == EXIT_OK
    assert sc.writes() == 0
    assert shop_state(sc.shop) == before
    plan = json.loads(out)
    assert {"groups", "cms_blocks", "cart_rules", "drift"} <= set(plan)
    assert plan["groups"], "the scenario has members to move"
    assert {g["to"] for g in plan["groups"]} <= {"VIP", "Loyal"}
    assert {g["from"] for g in plan["groups"]} == {"General"}
    assert all(g["segment"] in ("vip", "loyal") for g in plan["groups"])
    assert sorted(b["store"] for b in plan["cms_blocks"]) == ["all", "default", "se"]
    assert len(plan["cart_rules"]) == 3
    assert sorted(plan["new_groups"]) == ["Loyal", "VIP"]


@pytest.mark.parametrize("merge_mode", [True, False], ids=["merge", "no-merge"])
def test_push_changes_only_group_then_second_push_writes_nothing(
    tmp_path: Path, db_url: str, merge_mode: bool
) -> None:
    sc = Scenario(tmp_path / "s", db_url, merge_mode=merge_mode)
    try:
        sc.sync_evaluate()
        before = customer_records(sc.shop)
        result = sc.push()
        assert result.exit_code == EXIT_OK, result.summary()
        after = customer_records(sc.shop)
        moved = [cid for cid in before if before[cid]["group_id"] != after[cid]["group_id"]]
        assert moved, "members were moved"
        vip, loyal = sc.group_id("VIP"), sc.group_id("Loyal")
        assert {after[c]["group_id"] for c in moved} <= {vip, loyal}
        for cid, rec in before.items():
            rest_before = {k: v for k, v in rec.items() if k != "group_id"}
            rest_after = {k: v for k, v in after[cid].items() if k != "group_id"}
            assert rest_after == rest_before, f"customer {cid} changed beyond group_id"
        # one GET and one PUT per change
        routes = sc.sandbox.stats.snapshot()["routes"]
        assert routes["PUT /V1/customers/{customerId}"] == len(moved)
        assert routes["GET /V1/customers/{customerId}"] == len(moved)

        sc.sandbox.stats.reset()
        state = shop_state(sc.shop)
        again = sc.push()
        assert again.exit_code == EXIT_OK
        assert again.plan is not None and again.plan.size == 0
        assert sc.writes() == 0
        routes = sc.sandbox.stats.snapshot()["routes"]
        assert "GET /V1/customers/{customerId}" not in routes
        assert shop_state(sc.shop) == state
        # and after a sync (Magento's view coming back) still nothing to do
        sc.sync_evaluate()
        sc.sandbox.stats.reset()
        assert sc.push().plan.size == 0 and sc.writes() == 0
    finally:
        sc.close()


def test_wholesale_and_retailer_customers_are_never_moved(scenario: Scenario) -> None:
    sc = scenario
    special = [c.id for c in sc.shop.customers.values() if c.group_id in (2, 3)][:6]
    assert special
    for cid in special:  # make them big spenders: VIP by the rules
        sc.shop.add_order(cid, items=[("SB-1000", 40)], status="complete")
    sc.sync_evaluate()
    with sc.engine.connect() as conn:
        vip_members = {r[0] for r in conn.execute(
            text("select customer_id from segment_members where segment_code = 'vip'"))}
    assert set(special) & vip_members, "the special customers qualify for VIP"
    groups_before = {cid: sc.shop.customers.get(cid).group_id for cid in special}
    result = sc.push()
    assert result.exit_code == EXIT_OK
    assert result.plan is not None and result.plan.not_movable >= 1
    assert {cid: sc.shop.customers.get(cid).group_id for cid in special} == groups_before


def test_customer_leaving_every_segment_returns_home(scenario: Scenario) -> None:
    sc = scenario
    sc.sync_evaluate()
    before = {cid: r["group_id"] for cid, r in customer_records(sc.shop).items()}
    sc.push()
    moved = {cid for cid, g in before.items() if sc.shop.customers.get(cid).group_id != g}
    assert moved
    # nobody qualifies any more
    for name in ("vip.toml", "loyal.toml"):
        path = sc.mappings / name
        path.write_text(path.read_text().replace("value = 500", "value = 99999999")
                        .replace("value = 3", "value = 99999"))
    sc.sync_evaluate()
    result = sc.push()
    assert result.exit_code == EXIT_OK
    assert {cid: sc.shop.customers.get(cid).group_id for cid in before} == before


def test_removed_segment_file_deactivates_its_objects_and_sends_members_home(
    scenario: Scenario,
) -> None:
    sc = scenario
    sc.sync_evaluate()
    before = {cid: r["group_id"] for cid, r in customer_records(sc.shop).items()}
    sc.push()
    loyal = sc.group_id("Loyal")
    loyal_members = {c.id for c in sc.shop.customers.values() if c.group_id == loyal}
    assert loyal_members
    n_blocks, n_rules = len(list(sc.shop.blocks.values())), len(list(sc.shop.rules.values()))
    (sc.mappings / "loyal.toml").unlink()
    sc.sync_evaluate()
    result = sc.push()
    assert result.exit_code == EXIT_OK
    for cid in loyal_members:  # home, or VIP if they qualify for it
        assert sc.shop.customers.get(cid).group_id in (before[cid], sc.group_id("VIP"))
    assert sc.group_id("Loyal") == loyal  # never deleted
    assert len(list(sc.shop.blocks.values())) == n_blocks  # never deleted...
    assert len(list(sc.shop.rules.values())) == n_rules
    loyal_blocks = [b for b in sc.shop.blocks.values() if b.identifier.endswith(f"-{loyal}")]
    assert loyal_blocks and not any(b.active for b in loyal_blocks)  # ...but switched off
    loyal_rules = [r for r in sc.shop.rules.values() if loyal in r.data["customer_group_ids"]]
    assert loyal_rules and not any(r.data["is_active"] for r in loyal_rules)
    vip = sc.group_id("VIP")
    assert all(r.data["is_active"] for r in sc.shop.rules.values()
               if vip in r.data["customer_group_ids"])
    # the person's own block is untouched
    assert sc.shop.blocks.get(1).active
    sc.sandbox.stats.reset()
    assert sc.push().plan.size == 0 and sc.writes() == 0


def test_drift_by_hand_is_never_reverted(scenario: Scenario) -> None:
    sc = scenario
    sc.sync_evaluate()
    sc.push()
    vip, loyal = sc.group_id("VIP"), sc.group_id("Loyal")
    members = [c.id for c in sc.shop.customers.values() if c.group_id == vip]
    general = [c.id for c in sc.shop.customers.values() if c.group_id == 1]
    a, b = members[0], general[0]
    # a VIP member moved by hand to Retailer (non-managed): Retailer is their new home
    sc.shop.update_customer(a, group_id=3)
    # a General non-member moved by hand into Loyal (managed): drift, left alone
    sc.shop.update_customer(b, group_id=loyal)
    sc.sync_evaluate()
    result = sc.push()
    assert result.exit_code == EXIT_OK
    assert sc.shop.customers.get(a).group_id == 3
    assert sc.shop.customers.get(b).group_id == loyal
    drift = result.plan_json["drift"]
    assert [d["customer_id"] for d in drift] == [b]
    assert drift[0]["group"] == "Loyal"
    with Session(sc.engine) as s:
        assert s.get(PushCustomer, a).home_group_id == 3
        assert s.get(PushCustomer, b).home_group_id == 1
    # plan --json reports the same drift
    code, out = _cli(sc, "--json", "plan")
    assert code == EXIT_OK and json.loads(out)["drift"] == drift


def test_first_seen_inside_a_managed_group_is_drift(scenario: Scenario) -> None:
    sc = scenario
    made = sc.shop.save_group({"group": {"code": "VIP", "tax_class_id": 3}})
    general = [c.id for c in sc.shop.customers.values() if c.group_id == 1]
    cid = general[-1]
    sc.shop.update_customer(cid, group_id=made["id"])
    sc.sync_evaluate()
    result = sc.push()
    assert result.exit_code == EXIT_OK
    assert "VIP" not in [g for g in result.plan_json["new_groups"]]
    assert sc.shop.customers.get(cid).group_id == made["id"]
    assert cid in [d["customer_id"] for d in result.plan_json["drift"]]
    with Session(sc.engine) as s:
        assert s.get(PushCustomer, cid).home_group_id == 1


def test_adopt_drift_manages_hand_moved_customers(tmp_path: Path, db_url: str) -> None:
    sc = Scenario(tmp_path / "s", db_url, extra_push="adopt_drift = true")
    try:
        made = sc.shop.save_group({"group": {"code": "Loyal", "tax_class_id": 3}})
        sc.sync_evaluate()
        with sc.engine.connect() as conn:
            members = {r[0] for r in conn.execute(text("select customer_id from segment_members"))}
        outsider = next(c.id for c in sc.shop.customers.values()
                        if c.group_id == 1 and c.id not in members)
        sc.shop.update_customer(outsider, group_id=made["id"])
        sc.sync_evaluate()
        result = sc.push()
        assert result.exit_code == EXIT_OK
        assert sc.shop.customers.get(outsider).group_id == 1  # adopted: sent to their home
    finally:
        sc.close()


def test_store_override_is_reported_not_fought(scenario: Scenario, monkeypatch) -> None:
    sc = scenario
    sc.sync_evaluate()
    shop = sc.shop
    real_save = shop.save_customer
    stubborn: set[int] = set()

    def vat_assignment(cid, body, merge=True):  # the store puts them back, as VAT rules do
        out = real_save(cid, body, merge)
        if cid in stubborn:
            shop.customers.get(cid).group_id = 1
            out = shop.customer_json(shop.customers.get(cid))
        return out

    monkeypatch.setattr(shop, "save_customer", vat_assignment)
    # pick two customers the plan moves
    with sc.client(read_only=True) as c:
        groups = live_groups(Remote(c))
    chosen = [ch.customer_id for ch in build_plan(sc.engine, sc.config, sc.segments(),
                                                   groups).changes][:2]
    stubborn.update(chosen)
    result = sc.push()
    assert result.exit_code == EXIT_OK
    assert sorted(o["customer_id"] for o in result.overridden) == sorted(chosen)
    assert all(shop.customers.get(cid).group_id == 1 for cid in chosen)
    sc.sandbox.stats.reset()
    again = sc.push()
    assert again.plan.size == 0 and sc.writes() == 0  # not fought


def test_refused_write_is_recorded_and_the_rest_goes_on(scenario: Scenario, monkeypatch) -> None:
    sc = scenario
    sc.sync_evaluate()
    shop = sc.shop
    real_save = shop.save_customer
    from bridge.sandbox.errors import ApiError

    bad: list[int] = []

    def refuse(cid, body, merge=True):
        if not bad:
            bad.append(cid)
        if cid == bad[0]:
            raise ApiError(400, '"%1" is a required value.', ["Street Address"])
        return real_save(cid, body, merge)

    monkeypatch.setattr(shop, "save_customer", refuse)
    result = sc.push()
    assert result.exit_code == EXIT_PARTIAL
    assert [r["customer_id"] for r in result.refused] == bad
    assert result.states["done"] > 10
    with Session(sc.engine) as s:
        q = s.scalars(select(Quarantine).where(Quarantine.entity == "push:customer")).all()
        assert [row.record_id for row in q] == [str(bad[0])]


def test_max_changes_brake(tmp_path: Path, db_url: str) -> None:
    sc = Scenario(tmp_path / "s", db_url, max_changes=5)
    try:
        sc.sync_evaluate()
        sc.sandbox.stats.reset()
        code, _ = _cli(sc, "push")
        assert code == EXIT_BAD_INPUT
        assert sc.writes() == 0
        with Session(sc.engine) as s:
            assert s.scalars(select(PushObject)).first() is None
        code, _ = _cli(sc, "push", "--force")
        assert code == EXIT_OK
        assert sc.writes() > 5
    finally:
        sc.close()


def test_run_and_resync_commands(scenario: Scenario) -> None:
    sc = scenario
    code, out = _cli(sc, "--json", "run")
    assert code == EXIT_OK, out
    data = json.loads(out)
    assert data["kind"] == "run" and data["push"]["planned"] > 0
    assert sc.group_id("VIP") and sc.writes() > 0
    state = shop_state(sc.shop)
    sc.sandbox.stats.reset()
    code, out = _cli(sc, "--json", "resync")
    assert code == EXIT_OK, out
    assert json.loads(out)["push"]["planned"] == 0
    assert sc.writes() == 0 and shop_state(sc.shop) == state
    with Session(sc.engine) as s:
        from bridge.store.models import Run

        kinds = [r.kind for r in s.scalars(select(Run).order_by(Run.id))]
        statuses = [r.status for r in s.scalars(select(Run).order_by(Run.id))]
    assert kinds[-2:] == ["run", "resync"] and statuses[-2:] == ["ok", "ok"]


def test_run_once_waits_for_nobody_when_the_lock_is_held(scenario: Scenario) -> None:
    from bridge.errors import LockHeld
    from bridge.lock import run_lock
    from bridge.pipeline import run_once

    sc = scenario
    with run_lock(sc.engine, wait=False, holder="someone else"):
        import threading

        box: list[BaseException] = []

        def other() -> None:  # another thread is another holder
            try:
                run_once(sc.config)
            except BaseException as exc:  # noqa: BLE001
                box.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join(60)
    assert box and isinstance(box[0], LockHeld)
    assert sc.writes() == 0


def test_changed_files_update_blocks_and_rules_in_place(scenario: Scenario) -> None:
    sc = scenario
    sc.sync_evaluate()
    sc.push()
    shop = sc.shop
    vip_rule = next(r for r in shop.rules.values()
                    if str(r.data.get("description", "")).startswith("segbridge:vip:0"))
    coupons = [cp.data["code"] for cp in shop.coupons.values()
               if cp.data["rule_id"] == vip_rule.id]
    assert coupons == ["VIP10"]
    # a person tunes a field segbridge does not own
    vip_rule.data["uses_per_customer"] = 3
    n_rules, n_blocks = len(list(shop.rules.values())), len(list(shop.blocks.values()))
    path = sc.mappings / "vip.toml"
    path.write_text(path.read_text().replace("discount_amount = 10", "discount_amount = 15"))
    (sc.mappings / "blocks" / "vip.html").write_text("<h1>New VIP offer</h1>\n")
    sc.sandbox.stats.reset()
    result = sc.push()
    assert result.exit_code == EXIT_OK
    routes = sc.sandbox.stats.snapshot()["routes"]
    assert routes.get("PUT /V1/salesRules/{ruleId}") == 1
    assert routes.get("PUT /V1/cmsBlock/{id}") == 2  # the two store views' blocks
    assert "POST /V1/salesRules" not in routes and "POST /V1/cmsBlock" not in routes
    assert len(list(shop.rules.values())) == n_rules
    assert len(list(shop.blocks.values())) == n_blocks
    rule = shop.rules.get(vip_rule.id).data
    assert float(rule["discount_amount"]) == 15.0
    assert rule["uses_per_customer"] == 3  # kept: full read-modify-write
    assert rule["coupon_type"] == "SPECIFIC_COUPON"
    assert [cp.data["code"] for cp in shop.coupons.values()
            if cp.data["rule_id"] == vip_rule.id] == ["VIP10"]
    vip = sc.group_id("VIP")
    assert {b.content for b in shop.blocks.values()
            if b.identifier == f"home-hero--group-{vip}"} == {"<h1>New VIP offer</h1>\n"}
    sc.sandbox.stats.reset()
    assert sc.push().plan.size == 0 and sc.writes() == 0


def test_plan_and_push_with_as_of_evaluate_first(scenario: Scenario) -> None:
    sc = scenario
    with sc.client(read_only=True) as c:
        from bridge.sync.runner import run_sync

        run_sync(sc.config, sc.engine, client=c)  # synced, never evaluated
    code, out = _cli(sc, "--json", "plan")
    assert code == EXIT_OK and json.loads(out)["groups"] == []  # no evaluation yet
    code, out = _cli(sc, "--json", "plan", "--as-of", "0d")
    assert code == EXIT_OK and json.loads(out)["groups"]
    assert sc.writes() == 0
    code, out = _cli(sc, "--json", "push", "--as-of", "0d")
    assert code == EXIT_OK
    assert json.loads(out)["steps"]["done"] > 0


def test_after_the_first_push_the_store_names_new_groups_and_counts_the_moves(
    scenario: Scenario,
) -> None:
    """The report right after the first push (before any sync): the groups the push
    created by their codes, and as many customers moved as the push applied."""
    from bridge.report import collect
    from bridge.store.models import CustomerGroup
    from bridge.store.push_tables import DONE, PushStep

    sc = scenario
    sc.sync_evaluate()
    before = {cid: r["group_id"] for cid, r in customer_records(sc.shop).items()}
    result = sc.push()
    assert result.exit_code == EXIT_OK and result.created["group"] == 2
    applied = {c.id: c.group_id for c in sc.shop.customers.values() if c.group_id != before[c.id]}
    assert applied
    vip, loyal = sc.group_id("VIP"), sc.group_id("Loyal")
    with Session(sc.engine) as s:
        local = {g.id: (g.code, g.tax_class_id) for g in s.scalars(select(CustomerGroup))}
        assert local[vip] == ("VIP", 3) and local[loyal] == ("Loyal", 3)
        done = {st.customer_id: st.magento_id for st in s.scalars(
            select(PushStep).where(PushStep.kind == "customer", PushStep.state == DONE))}
    assert done == applied  # each done step holds the group it put the customer in
    data = collect(sc.engine)
    codes = {g.code for g in data.groups}
    assert {"VIP", "Loyal"} <= codes and not any(c.startswith("group ") for c in codes)
    assert data.last_push is not None and data.last_push["moved"] == len(applied)
