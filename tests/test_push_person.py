"""What a person did is never undone (docs/push.md), and what ``--adopt`` takes over, against
the sandbox over loopback on every database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from test_push_adopt import lose_store
from test_push_kit import Scenario, write_mappings

from bridge.errors import EXIT_OK
from bridge.store.push_tables import PushCustomer

pytestmark = pytest.mark.db


@pytest.fixture
def scenario(tmp_path: Path, db_url: str):
    sc = Scenario(tmp_path / "s", db_url)
    try:
        yield sc
    finally:
        sc.close()


def members(sc: Scenario, code: str) -> set[int]:
    with sc.engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(
            text("select customer_id from segment_members where segment_code = :c"), {"c": code})}


def group_of(sc: Scenario, cid: int) -> int:
    return int(sc.shop.customers.get(cid).group_id)


def test_moved_by_hand_out_of_vip_is_not_moved_back_until_the_target_changes(
    scenario: Scenario,
) -> None:
    sc = scenario
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    vip, loyal = sc.group_id("VIP"), sc.group_id("Loyal")
    in_vip = {c.id for c in sc.shop.customers.values() if c.group_id == vip}
    vip_only = sorted(in_vip - members(sc, "loyal"))
    vip_loyal = sorted(in_vip & members(sc, "loyal"))
    assert vip_only and vip_loyal, "the scenario has both kinds of VIP member"
    a, b = vip_only[0], vip_loyal[0]
    for cid in (a, b):  # the merchant moves them back to General by hand
        sc.shop.update_customer(cid, group_id=1)
    for _ in range(2):  # not moved back, this push or the next
        sc.sync_evaluate()
        assert a in members(sc, "vip") and b in members(sc, "vip")
        sc.sandbox.stats.reset()
        result = sc.push()
        assert result.exit_code == EXIT_OK
        assert group_of(sc, a) == 1 and group_of(sc, b) == 1
        assert sc.writes() == 0
        assert result.plan is not None and result.plan.overridden_kept == 2
        assert not result.plan_json["drift"]

    # The target changes: nobody is VIP any more. b's target is now Loyal: moved there.
    # a's target is now their home group, where they are: nothing to write.
    write_mappings(sc.root, vip_threshold=99_999_999)
    sc.sync_evaluate()
    assert a not in members(sc, "vip")
    assert sc.push().exit_code == EXIT_OK
    assert group_of(sc, b) == loyal and group_of(sc, a) == 1
    # VIP again: a target change again, so a is planned and moved like anyone else
    write_mappings(sc.root)
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    assert group_of(sc, a) == vip and group_of(sc, b) == vip
    with Session(sc.engine) as s:
        row = s.get(PushCustomer, a)
        assert row.written_group_id == vip and row.overridden_target_id is None


def test_adopt_takes_customers_inside_managed_groups_as_segbridges_own(
    scenario: Scenario,
) -> None:
    sc = scenario
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    vip = sc.group_id("VIP")
    lose_store(sc)
    # fewer customers qualify for VIP now; the store no longer knows who segbridge moved
    write_mappings(sc.root, vip_threshold=2000)
    sc.sync_evaluate()
    in_vip = {c.id for c in sc.shop.customers.values() if c.group_id == vip}
    leaving = sorted(in_vip - members(sc, "vip"))
    assert leaving and in_vip & members(sc, "vip")

    sc.sandbox.stats.reset()
    plain = sc.push()  # without --adopt: drift, left alone
    assert plain.exit_code == EXIT_OK and sc.writes() == 0
    drift = {d["customer_id"] for d in plain.plan_json["drift"]}
    assert set(leaving) <= drift
    assert all(group_of(sc, c) == vip for c in leaving)

    adopted = sc.push(adopt=True)
    assert adopted.exit_code == EXIT_OK
    assert adopted.plan is not None and not adopted.plan.drift
    assert adopted.plan.adopted_customers >= len(in_vip)
    loyal, loyal_members = sc.group_id("Loyal"), members(sc, "loyal")
    # moved by membership; with none, home = the first movable group (General)
    assert {c: group_of(sc, c) for c in leaving} == {
        c: loyal if c in loyal_members else 1 for c in leaving}
    assert any(c not in loyal_members for c in leaving)
    assert all(group_of(sc, c) == vip for c in in_vip & members(sc, "vip"))
    # ...and from now on theirs without --adopt: no drift, nothing to do
    sc.sync_evaluate()
    sc.sandbox.stats.reset()
    after = sc.push()
    assert not after.plan_json["drift"] and after.plan.size == 0 and sc.writes() == 0
