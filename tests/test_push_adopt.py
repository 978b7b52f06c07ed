"""A lost store (docs/push.md "Magento is the truth; the store is a cache that can be lost"):
a fresh store pointed at a shop segbridge already pushed to adopts what it finds — groups,
CMS blocks, cart rules by their marker, coupons — and creates nothing, writes nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.orm import Session
from test_push_kit import Scenario, shop_state

from bridge.errors import EXIT_OK
from bridge.pipeline import run_once
from bridge.push.remote import Remote
from bridge.push.service import build_plan, live_groups
from bridge.store.push_tables import PushCustomer, PushObject

pytestmark = pytest.mark.db


@pytest.fixture
def scenario(tmp_path: Path, db_url: str):
    sc = Scenario(tmp_path / "s", db_url)
    try:
        yield sc
    finally:
        sc.close()


def shop_counts(shop: Any) -> dict[str, Any]:
    """What a push creates, counted in the sandbox: groups, blocks, rules, coupons, and
    customers by group."""
    with shop.lock:
        return {
            "groups": len(list(shop.groups.values())),
            "cms_blocks": len(list(shop.blocks.values())),
            "cart_rules": len(list(shop.rules.values())),
            "coupons": len(list(shop.coupons.values())),
            "customers_by_group": dict(sorted(
                Counter(c.group_id for c in shop.customers.values()).items())),
        }


def lose_store(sc: Scenario) -> None:
    """The store is gone (a deleted SQLite file; a dropped and re-created database)."""
    sc.engine.dispose()
    url = make_url(sc.db_url)
    if url.get_backend_name() == "sqlite":
        Path(str(url.database)).unlink()
    else:
        pg = url.get_backend_name() == "postgresql"
        admin = create_engine(url.set(database="postgres" if pg else ""),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if pg:
                conn.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
            else:
                conn.execute(text(f"DROP DATABASE `{url.database}`"))
                conn.execute(text(f"CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4"))
        admin.dispose()
    from bridge.store.engine import open_store

    sc.engine = open_store(sc.db_url)
    with Session(sc.engine) as s:
        assert s.scalars(select(PushObject)).first() is None, "the store is really new"


def run(sc: Scenario, **kw: Any) -> Any:
    with sc.client() as c:
        return run_once(sc.config, client=c, engine=sc.engine, **kw)


def creates(sc: Scenario) -> int:
    routes = sc.sandbox.stats.snapshot()["routes"]
    return sum(n for r, n in routes.items() if r.startswith("POST "))


def test_fresh_store_adopts_everything_and_writes_nothing(scenario: Scenario) -> None:
    sc = scenario
    first = run(sc)
    assert first.exit_code == EXIT_OK
    assert first.push is not None and sum(first.push.created.values()) >= 7  # 2 groups...
    before, state = shop_counts(sc.shop), shop_state(sc.shop)

    lose_store(sc)
    sc.sandbox.stats.reset()
    again = run(sc)
    after = shop_counts(sc.shop)
    kind = make_url(sc.db_url).get_backend_name().replace("mysql", "mariadb")
    print(f"\nfresh store ({kind}): objects before {before}"
          f"\n  after {after}\n  creates {creates(sc)}, writes {sc.writes()}, "
          f"adopted {dict(again.push.adopted)}")
    assert again.exit_code == EXIT_OK
    assert creates(sc) == 0 and sc.writes() == 0
    assert after == before and shop_state(sc.shop) == state
    assert sum(again.push.created.values()) == 0
    assert again.push.adopted == {"cms_block": 3, "cart_rule": 3}
    assert not again.push.summary()["duplicates"]
    # adopted means recorded: the next run does not look them up again
    with Session(sc.engine) as s:
        kinds = Counter(o.kind for o in s.scalars(select(PushObject)))
    assert kinds == {"cms_block": 3, "cart_rule": 3}
    sc.sandbox.stats.reset()
    third = run(sc)
    routes = sc.sandbox.stats.snapshot()["routes"]
    assert third.push.plan.size == 0 and sc.writes() == 0
    assert "GET /V1/salesRules/search" not in routes
    assert "GET /V1/cmsBlock/search" not in routes


def test_rule_and_block_edited_by_hand_are_brought_back_in_place(scenario: Scenario) -> None:
    sc = scenario
    assert run(sc).exit_code == EXIT_OK
    before, state = shop_counts(sc.shop), shop_state(sc.shop)
    with sc.shop.lock:
        rule = next(r for r in sc.shop.rules.values()
                    if str(r.data.get("description", "")).startswith("segbridge:vip:0"))
        rule.data["discount_amount"] = 50.0
        rule.data["name"] = "VIP 50% off (edited)"
        rule_id = rule.id
        block = next(b for b in sc.shop.blocks.values()
                     if b.title == "VIP hero" and b.store_ids == (2,))
        block.content = "<h1>edited by hand</h1>"
    lose_store(sc)
    sc.sandbox.stats.reset()
    again = run(sc)
    routes = sc.sandbox.stats.snapshot()["routes"]
    assert again.exit_code == EXIT_OK
    assert creates(sc) == 0
    assert sc.writes() == 2 and routes["PUT /V1/salesRules/{ruleId}"] == 1
    assert routes["PUT /V1/cmsBlock/{id}"] == 1
    assert shop_counts(sc.shop) == before and shop_state(sc.shop) == state
    assert sc.shop.rules.get(rule_id).data["name"] == "VIP 10% off"
    assert sc.shop.blocks.get(block.id).content == "<h1>Welcome back, VIP</h1>\n"


def test_several_rules_with_one_marker_lowest_adopted_others_reported(
    scenario: Scenario,
) -> None:
    sc = scenario
    assert run(sc).exit_code == EXIT_OK
    with sc.shop.lock:
        original = next(r for r in sc.shop.rules.values()
                        if str(r.data.get("description", "")).startswith("segbridge:loyal:0"))
        data = {k: v for k, v in original.data.items() if k != "rule_id"}
    copy = sc.shop.save_rule({"rule": {**data, "name": "Loyal 5 off (copy)"}})
    copy_id = int(copy["rule_id"])
    assert copy_id > original.id
    before = shop_counts(sc.shop)
    lose_store(sc)
    sc.sandbox.stats.reset()
    again = run(sc)
    assert again.exit_code == EXIT_OK and creates(sc) == 0 and sc.writes() == 0
    dups = again.push.summary()["duplicates"]
    assert len(dups) == 1 and f"id {original.id} adopted" in dups[0]
    assert f"id {copy_id} left alone" in dups[0] and "segbridge:loyal:0" in dups[0]
    assert shop_counts(sc.shop) == before
    assert sc.shop.rules.get(copy_id).data["name"] == "Loyal 5 off (copy)"  # left alone
    with Session(sc.engine) as s:
        row = s.scalars(select(PushObject).where(PushObject.key == "segbridge:loyal:0")).one()
        assert row.magento_id == original.id


def test_plan_on_a_fresh_store_shows_no_create_and_records_nothing(scenario: Scenario) -> None:
    sc = scenario
    assert run(sc).exit_code == EXIT_OK
    lose_store(sc)
    sc.sync_evaluate()
    sc.sandbox.stats.reset()
    with sc.client(read_only=True) as c:
        remote = Remote(c)
        plan = build_plan(sc.engine, sc.config, sc.segments(), live_groups(remote),
                          remote=remote)
    assert sc.writes() == 0
    assert not plan.group_creates and not plan.objects and not plan.changes
    assert {o.kind for o in plan.adopted} == {"cms_block", "cart_rule"}
    with Session(sc.engine) as s:  # plan writes nothing in the store either
        assert s.scalars(select(PushObject)).first() is None
        assert s.scalars(select(PushCustomer)).first() is None


def test_the_plan_command_on_a_fresh_store_says_adopted_not_created(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`segbridge plan` itself (not only build_plan) looks the shop up: on a fresh store it
    shows what it would adopt, and plans no create that `push` would then not do."""
    import io
    import json
    from contextlib import redirect_stdout

    from bridge.cli import main

    sc = scenario
    monkeypatch.setenv("SEGBRIDGE_TEST_TOKEN", sc.sandbox.token)
    assert run(sc).exit_code == EXIT_OK
    lose_store(sc)
    sc.sync_evaluate()
    sc.sandbox.stats.reset()

    def cli(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        with redirect_stdout(out):
            code = main(["--config", str(sc.config_path), *args])
        return code, out.getvalue()

    code, text_out = cli("plan")
    assert code == EXIT_OK, text_out
    assert "to be adopted (not created again): 3 cart rules, 3 CMS blocks." in text_out
    assert "Customer groups to create" not in text_out
    code, json_out = cli("--json", "plan")
    data = json.loads(json_out)
    assert code == EXIT_OK and not data["new_groups"]
    assert not [r for r in data["cart_rules"] + data["cms_blocks"] if r["action"] == "create"]
    assert {a["kind"] for a in data["adopted"]} == {"cms_block", "cart_rule"}
    assert sc.writes() == 0
    with Session(sc.engine) as s:
        assert s.scalars(select(PushObject)).first() is None


def test_a_merchant_rule_that_only_mentions_a_marker_is_never_adopted(
    scenario: Scenario,
) -> None:
    """A marker counts only where segbridge writes it (the start of the description): a
    person's rule that merely mentions ``segbridge:vip:0`` is left alone on a fresh store,
    and segbridge's rule, deleted by hand, is created again instead."""
    sc = scenario
    assert run(sc).exit_code == EXIT_OK
    with sc.shop.lock:
        ours = next(r for r in sc.shop.rules.values()
                    if str(r.data.get("description", "")).startswith("segbridge:vip:0"))
        websites = list(ours.data["website_ids"])
    staff_body = {"name": "Staff 30%", "description": "Staff deal, modelled on segbridge:vip:0",
                  "is_active": True, "website_ids": websites, "customer_group_ids": [1],
                  "coupon_type": "NO_COUPON", "simple_action": "by_percent",
                  "discount_amount": 30.0, "stop_rules_processing": False}
    staff = sc.shop.save_rule({"rule": staff_body})
    staff_id = int(staff["rule_id"])
    staff_before = dict(sc.shop.rules.get(staff_id).data)
    sc.shop.delete_rule(ours.id)  # someone deletes segbridge's VIP rule by hand
    lose_store(sc)
    again = run(sc)
    assert again.exit_code == EXIT_OK
    assert sc.shop.rules.get(staff_id).data == staff_before  # the merchant's, untouched
    assert not again.push.summary()["duplicates"]
    assert again.push.created["cart_rule"] == 1
    with Session(sc.engine) as s:
        row = s.scalars(select(PushObject).where(PushObject.key == "segbridge:vip:0")).one()
    assert row.magento_id not in (staff_id, ours.id)
    made = sc.shop.rules.get(row.magento_id).data
    assert str(made["description"]).startswith("segbridge:vip:0")
    assert made["name"] == "VIP 10% off"
