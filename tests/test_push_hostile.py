"""Hostile shop states found by the attack review: each test reproduces one attack and
shows segbridge leaving the merchant's objects (and its own live ones) as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_push_kit import Scenario

from bridge.errors import EXIT_OK, EXIT_PARTIAL

pytestmark = pytest.mark.db


@pytest.fixture
def scenario(tmp_path: Path, db_url: str):
    sc = Scenario(tmp_path / "s", db_url)
    try:
        sc.sync_evaluate()
        yield sc
    finally:
        sc.close()


def _rule(sc: Scenario, marker: str) -> Any:
    with sc.shop.lock:
        return next(r for r in sc.shop.rules.values()
                    if str(r.data.get("description", "")).startswith(marker))


def test_a_coupon_code_of_a_merchant_rule_is_refused_before_the_rule_is_touched(
    scenario: Scenario,
) -> None:
    """A coupon code another rule already holds: the rule's change is refused up front
    (exit 3, naming the rule and the holder); the live rule keeps its automatic discount
    rather than being switched to "specific coupon" without a coupon."""
    sc = scenario
    assert sc.push().exit_code == EXIT_OK
    ours = _rule(sc, "segbridge:vip:1")
    live_before = dict(ours.data)
    assert live_before["coupon_type"] == "NO_COUPON"
    merchant = sc.shop.save_rule({"rule": {
        "name": "Merchant welcome", "description": "staff only", "is_active": True,
        "website_ids": list(live_before["website_ids"]), "customer_group_ids": [1],
        "coupon_type": "SPECIFIC_COUPON", "simple_action": "by_percent",
        "discount_amount": 50.0, "stop_rules_processing": False}})
    mid = int(merchant["rule_id"])
    sc.shop.save_coupon({"coupon": {"rule_id": mid, "code": "WELCOME10", "is_primary": True,
                                    "times_used": 0}})
    vip = sc.mappings / "vip.toml"
    vip.write_text(vip.read_text().replace(
        'apply_to_shipping = true', 'apply_to_shipping = true\ncoupon_code = "welcome10"'))
    for _ in range(2):  # and the next push again: still refused, still nothing written
        sc.sandbox.stats.reset()
        result = sc.push()
        assert result.exit_code == EXIT_PARTIAL
        assert sc.shop.rules.get(ours.id).data == live_before
        assert [r["key"] for r in result.refused] == ["segbridge:vip:1"]
        message = result.refused[0]["message"]
        assert "'VIP free shipping'" in message and "'vip'" in message
        assert f"Magento rule {mid}" in message and "'welcome10'" in message
        assert sc.writes() == 0
    assert sc.shop.rules.get(mid).data["name"] == "Merchant welcome"


def test_written_counts_only_the_steps_that_wrote(scenario: Scenario) -> None:
    """A customer found already in the target group is done but not written: the push
    summary's "written" is what reached Magento, not every step marked done."""
    from test_push_kit import write_mappings

    from bridge.push.remote import Remote
    from bridge.push.service import build_plan, live_groups

    sc = scenario
    first = sc.push()
    assert first.exit_code == EXIT_OK and first.written == first.states["done"]
    write_mappings(sc.root, vip_threshold=300)
    sc.sync_evaluate()
    with sc.client(read_only=True) as c:
        plan = build_plan(sc.engine, sc.config, sc.segments(), live_groups(Remote(c)))
    assert len(plan.changes) >= 2 and not plan.objects and not plan.group_creates
    by_hand = plan.changes[0]
    sc.shop.update_customer(by_hand.customer_id, group_id=sc.group_id(by_hand.to_group_code))
    sc.sandbox.stats.reset()
    result = sc.push()
    assert result.exit_code == EXIT_OK
    assert result.states["done"] == len(plan.changes)
    puts = sc.sandbox.stats.get("PUT", "/V1/customers/{customerId}")
    assert result.written == puts == len(plan.changes) - 1
    assert result.summary()["written"] == result.written


def test_plan_names_a_coupon_code_another_rule_holds_before_any_write(
    scenario: Scenario,
) -> None:
    """`plan` (reads only) already says the rule's change will be refused, naming the
    segment file's rule and the rule holding the code."""
    from bridge.push.remote import Remote
    from bridge.push.service import build_plan, live_groups, plan_to_json

    sc = scenario
    assert sc.push().exit_code == EXIT_OK
    merchant = sc.shop.save_rule({"rule": {
        "name": "Merchant welcome", "description": "staff only", "is_active": True,
        "website_ids": [1], "customer_group_ids": [1], "coupon_type": "SPECIFIC_COUPON",
        "simple_action": "by_percent", "discount_amount": 50.0,
        "stop_rules_processing": False}})
    mid = int(merchant["rule_id"])
    sc.shop.save_coupon({"coupon": {"rule_id": mid, "code": "WELCOME10", "is_primary": True,
                                    "times_used": 0}})
    vip = sc.mappings / "vip.toml"
    vip.write_text(vip.read_text().replace(
        'apply_to_shipping = true', 'apply_to_shipping = true\ncoupon_code = "welcome10"'
    ).replace("discount_amount = 10\n", "discount_amount = 12\n"))
    sc.sandbox.stats.reset()
    with sc.client(read_only=True) as c:
        remote = Remote(c)
        groups = live_groups(remote)
        plan = build_plan(sc.engine, sc.config, sc.segments(), groups, remote=remote)
    assert sc.writes() == 0
    assert len(plan.conflicts) == 1
    line = plan_to_json(sc.engine, plan, groups)["duplicates"][0]
    assert line.startswith("will be refused: cart rule segbridge:vip:1:")
    assert "'VIP free shipping'" in line and f"Magento rule {mid}" in line
    # the VIP10 coupon of segbridge's own rule, whose change is planned too, is no conflict
    assert {o.key for o in plan.objects} == {"segbridge:vip:0", "segbridge:vip:1"}


def test_a_block_moved_from_all_store_views_to_a_store_view_is_taken_over(
    scenario: Scenario,
) -> None:
    """A block's ``stores = [0]`` changed to ``[1]``: segbridge's own switched-off
    "All Store Views" block still holds the identifier (Magento refuses a second one),
    so it is written in store 1's scope instead of a create refused on every push."""
    from bridge.push.remote import Remote
    from bridge.push.service import build_plan, live_groups

    sc = scenario
    assert sc.push().exit_code == EXIT_OK
    with sc.shop.lock:
        old = next(b for b in sc.shop.blocks.values() if b.title == "Loyal hero")
        assert old.store_ids == (0,)
    loyal = sc.mappings / "loyal.toml"
    loyal.write_text(loyal.read_text().replace("stores = [0]", "stores = [1]"))
    result = sc.push()
    assert result.exit_code == EXIT_OK and not result.refused
    with sc.shop.lock:
        loyal_blocks = [b for b in sc.shop.blocks.values() if b.title == "Loyal hero"]
    assert [(b.id, b.store_ids, bool(b.active)) for b in loyal_blocks] == [(old.id, (1,), True)]
    with sc.client(read_only=True) as c:
        remote = Remote(c)
        again = build_plan(sc.engine, sc.config, sc.segments(), live_groups(remote),
                           remote=remote)
    assert not again.objects  # settled: nothing left to write
    assert sc.push().exit_code == EXIT_OK


def test_push_summary_counts_read_as_english_and_written_means_written() -> None:
    """F18: "2 refused" (not "refuseds"); steps found already done are not "written"."""
    from collections import Counter

    from bridge.push.command import push_lines
    from bridge.push.service import PushResult

    refused = PushResult(states=Counter(done=188, refused=2), written=188)
    assert push_lines(refused)[0] == "Push: 0 change(s) planned, 188 written (2 refused)."
    stale = PushResult(states=Counter(done=20, stale=170), written=0)
    assert push_lines(stale)[0] == (
        "Push: 0 change(s) planned, 0 written (20 already as wanted, 170 stale).")
