"""The planner's rules (docs/push.md) on plain values: no database, no shop."""

from __future__ import annotations

from bridge.push.plan import (
    BlockSpec,
    CustomerRow,
    HomeRow,
    ObjectRow,
    PlanInputs,
    RuleSpec,
    SegmentMap,
    block_desired,
    block_key,
    fingerprint,
    make_plan,
    rule_desired,
    rule_marker,
)

GROUPS = {
    "not logged in": (0, "NOT LOGGED IN"),
    "general": (1, "General"),
    "wholesale": (2, "Wholesale"),
    "retailer": (3, "Retailer"),
    "vip": (10, "VIP"),
    "gold": (11, "Gold"),
}
VIP = SegmentMap("vip", True, 100, None, "VIP")
GOLD = SegmentMap("gold", True, 50, None, "Gold")


def inputs(customers, homes=None, members=None, segments=(VIP, GOLD), groups=None, objects=(),
           adopt=False, movable=("General",), adopt_customers=False):
    return PlanInputs(
        customers=[CustomerRow(*c) for c in customers],
        homes=homes or {},
        memberships=members or {},
        segments=list(segments),
        groups=GROUPS if groups is None else groups,
        objects=list(objects),
        store_codes={0: "all", 1: "default", 2: "se"},
        website_ids=[1],
        movable_groups=movable,
        adopt_drift=adopt,
        adopt_customers=adopt_customers,
    )


def moves(plan):
    return {(c.customer_id, c.from_group_id, c.to_group_id, c.segment) for c in plan.changes}


def test_first_seen_member_moves_and_home_is_recorded():
    plan = make_plan(inputs([(1, 1, 1), (2, 1, 1)], members={1: ["vip"]}))
    assert moves(plan) == {(1, 1, 10, "vip")}
    assert {(h.customer_id, h.home_group_id, h.new) for h in plan.home_updates} == {
        (1, 1, True), (2, 1, True)}
    assert not plan.drift


def test_highest_priority_wins_and_ties_need_other_websites():
    plan = make_plan(inputs([(1, 1, 1)], members={1: ["gold", "vip"]}))
    assert moves(plan) == {(1, 1, 10, "vip")}


def test_website_of_segment_must_match():
    seg = SegmentMap("vip", True, 100, 2, "VIP")
    plan = make_plan(inputs([(1, 1, 1)], members={1: ["vip"]}, segments=[seg]))
    assert not plan.changes


def test_wholesale_and_retailer_are_never_moved():
    plan = make_plan(inputs([(1, 1, 2), (2, 1, 3)], members={1: ["vip"], 2: ["vip"]}))
    assert not plan.changes
    assert plan.not_movable == 2


def test_leaving_every_segment_returns_home():
    homes = {1: HomeRow(1, 10, None)}
    plan = make_plan(inputs([(1, 1, 10)], homes=homes))
    assert moves(plan) == {(1, 10, 1, None)}


def test_moved_by_hand_into_non_managed_group_becomes_home():
    homes = {1: HomeRow(1, 10, None)}
    plan = make_plan(inputs([(1, 1, 3)], homes=homes, members={1: ["vip"]}))
    assert not plan.changes  # Retailer is not movable
    assert [(h.customer_id, h.home_group_id, h.new) for h in plan.home_updates] == [(1, 3, False)]


def test_moved_by_hand_into_managed_group_is_drift():
    homes = {1: HomeRow(1, 1, None)}
    plan = make_plan(inputs([(1, 1, 11)], homes=homes, members={1: ["vip"]}))
    assert not plan.changes
    assert [(d.customer_id, d.group_id, d.target_code) for d in plan.drift] == [(1, 11, "VIP")]
    adopted = make_plan(inputs([(1, 1, 11)], homes=homes, members={1: ["vip"]}, adopt=True))
    assert moves(adopted) == {(1, 11, 10, "vip")}


def test_first_seen_inside_managed_group_is_drift_with_first_movable_home():
    plan = make_plan(inputs([(1, 1, 10)]))
    assert not plan.changes
    assert [(d.customer_id, d.group_id) for d in plan.drift] == [(1, 10)]
    assert [(h.customer_id, h.home_group_id) for h in plan.home_updates] == [(1, 1)]


def test_where_segbridge_put_them_is_not_drift():
    homes = {1: HomeRow(1, 10, None)}
    plan = make_plan(inputs([(1, 1, 10)], homes=homes, members={1: ["vip"]}))
    assert not plan.changes and not plan.drift and not plan.home_updates


def test_removed_segment_group_stays_managed_while_it_holds_our_customers():
    homes = {1: HomeRow(1, 12, None), 2: HomeRow(1, None, None)}
    groups = {**GROUPS, "old": (12, "Old")}
    plan = make_plan(inputs([(1, 1, 12), (2, 1, 12)], homes=homes, groups=groups))
    assert moves(plan) == {(1, 12, 1, None)}
    assert [(d.customer_id, d.group_id) for d in plan.drift] == [(2, 12)]


def test_store_override_is_not_fought_until_target_changes():
    homes = {1: HomeRow(1, None, 10)}
    plan = make_plan(inputs([(1, 1, 1)], homes=homes, members={1: ["vip"]}))
    assert not plan.changes and plan.overridden_kept == 1
    plan = make_plan(inputs([(1, 1, 1)], homes=homes, members={1: ["gold"]}))
    assert moves(plan) == {(1, 1, 11, "gold")}


def test_missing_group_is_created_and_targeted_by_code():
    groups = {k: v for k, v in GROUPS.items() if k != "vip"}
    plan = make_plan(inputs([(1, 1, 1)], members={1: ["vip"]}, groups=groups))
    assert [g.code for g in plan.group_creates] == ["VIP"]
    assert [(c.to_group_code, c.to_group_id) for c in plan.changes] == [("VIP", None)]


def test_existing_group_is_matched_by_code_whatever_its_case():
    groups = {**{k: v for k, v in GROUPS.items() if k != "vip"}, "vip": (10, "vip")}
    plan = make_plan(inputs([(1, 1, 1)], members={1: ["vip"]}, groups=groups))
    assert not plan.group_creates
    assert [(c.to_group_code, c.to_group_id) for c in plan.changes] == [("vip", 10)]


def test_group_zero_is_never_assigned():
    homes = {1: HomeRow(0, 10, None)}
    plan = make_plan(inputs([(1, 1, 10)], homes=homes, movable=("NOT LOGGED IN",)))
    assert not plan.changes


def test_long_group_code_is_a_problem():
    seg = SegmentMap("x", True, 1, None, "X" * 33)
    plan = make_plan(inputs([(1, 1, 1)], members={1: ["x"]}, segments=[seg]))
    assert plan.problems and not plan.changes


def _seg_with_objects(active: bool = True) -> SegmentMap:
    return SegmentMap(
        "vip", active, 100, None, "VIP", "big spenders",
        blocks=(BlockSpec("home-hero", "Hero", "<p>hi</p>", True, (1, 2)),),
        rules=(RuleSpec(0, "VIP 10", "VIP10", {"simple_action": "by_percent",
                                                "discount_amount": 10.0}),),
    )


def test_blocks_and_rules_created_then_left_alone_then_deactivated():
    seg = _seg_with_objects()
    plan = make_plan(inputs([], segments=[seg]))
    actions = sorted((o.kind, o.action, o.key) for o in plan.objects)
    assert actions == [
        ("cart_rule", "create", "segbridge:vip:0"),
        ("cms_block", "create", "vip:home-hero:1:vip"),
        ("cms_block", "create", "vip:home-hero:2:vip"),
    ]
    blk = seg.blocks[0]
    objects = [
        ObjectRow("cms_block", block_key("vip", "home-hero", s, "VIP"), "vip", 100 + s, True,
                  fingerprint(block_desired(blk, 10, "VIP")), s, code)
        for s, code in ((1, "default"), (2, "se"))
    ] + [
        ObjectRow("cart_rule", rule_marker("vip", 0), "vip", 7, True,
                  fingerprint({"rule": rule_desired(seg, seg.rules[0], 10, [1]),
                               "coupon_code": "VIP10"}))
    ]
    assert make_plan(inputs([], segments=[seg], objects=objects)).objects == []
    changed = SegmentMap(**{**seg.__dict__, "blocks": (BlockSpec("home-hero", "Hero", "new", True,
                                                                 (1, 2)),)})
    upd = make_plan(inputs([], segments=[changed], objects=objects)).objects
    assert sorted((o.kind, o.action) for o in upd) == [("cms_block", "update")] * 2
    gone = make_plan(inputs([], segments=[_seg_with_objects(active=False)], objects=objects))
    assert sorted((o.kind, o.action) for o in gone.objects) == [
        ("cart_rule", "deactivate"), ("cms_block", "deactivate"), ("cms_block", "deactivate")]
    assert make_plan(inputs([], segments=[], objects=objects)).objects == gone.objects


def test_rule_description_carries_marker():
    seg = _seg_with_objects()
    d = rule_desired(seg, seg.rules[0], 10, [1, 2])
    assert d["description"].startswith("segbridge:vip:0")
    assert d["customer_group_ids"] == [10] and d["website_ids"] == [1, 2]
    assert d["coupon_type"] == "SPECIFIC_COUPON"


def test_store_zero_stands_for_every_store_view():
    seg = SegmentMap("vip", True, 100, None, "VIP",
                     blocks=(BlockSpec("hero", "Hero", "x", True, (0, 1, 2)),))
    plan = make_plan(inputs([], segments=[seg]))
    assert [(o.key, o.desired["store_code"]) for o in plan.objects] == [("vip:hero:0:vip", "all")]


def marks(plan):
    return [(m.customer_id, m.written_group_id, m.overridden_target_id) for m in plan.home_marks]


def test_moved_by_hand_out_of_our_group_is_not_moved_back_until_the_target_changes():
    # segbridge put customer 1 (home General) into VIP; a person moved them back
    plan = make_plan(inputs([(1, 1, 1)], homes={1: HomeRow(1, 10, None)}, members={1: ["vip"]}))
    assert not plan.changes and not plan.drift and plan.overridden_kept == 1
    assert marks(plan) == [(1, None, 10)]  # remembered: VIP is not planned again
    held = {1: HomeRow(1, None, 10)}
    again = make_plan(inputs([(1, 1, 1)], homes=held, members={1: ["vip"]}))
    assert not again.changes and not again.home_marks and again.overridden_kept == 1
    # the target changes (Gold): planned like anyone else, and the memory is cleared
    gold = make_plan(inputs([(1, 1, 1)], homes=held, members={1: ["gold"]}))
    assert moves(gold) == {(1, 1, 11, "gold")} and marks(gold) == [(1, None, None)]
    # the target changes to home (they left VIP): nothing to write, memory cleared, so a
    # later return to VIP moves them again
    home = make_plan(inputs([(1, 1, 1)], homes=held))
    assert not home.changes and marks(home) == [(1, None, None)]
    back = make_plan(inputs([(1, 1, 1)], homes={1: HomeRow(1, None, None)}, members={1: ["vip"]}))
    assert moves(back) == {(1, 1, 10, "vip")}


def test_moved_by_hand_out_of_our_group_into_another_movable_group():
    groups = {**GROUPS, "regulars": (5, "Regulars")}
    plan = make_plan(inputs([(1, 1, 5)], homes={1: HomeRow(1, 10, None)}, members={1: ["vip"]},
                            groups=groups, movable=("General", "Regulars")))
    assert not plan.changes
    assert [(h.customer_id, h.home_group_id) for h in plan.home_updates] == [(1, 5)]
    assert marks(plan) == [(1, None, 10)]


def test_sent_home_by_segbridge_then_moved_is_only_a_new_home():
    # written == home: segbridge's last write was sending them home, nothing to hold back
    plan = make_plan(inputs([(1, 1, 3)], homes={1: HomeRow(1, 1, None)}, members={1: ["vip"]}))
    assert not plan.home_marks and not plan.changes


def test_adopt_takes_customers_inside_managed_groups_as_ours():
    # 1: first seen in VIP and still a member; 2: first seen in VIP, no longer a member;
    # 3: known (home Wholesale), moved by hand into Gold, now a VIP member
    customers = [(1, 1, 10), (2, 1, 10), (3, 1, 11)]
    homes = {3: HomeRow(2, None, None)}
    members = {1: ["vip"], 3: ["vip"]}
    plain = make_plan(inputs(customers, homes=homes, members=members))
    assert sorted(d.customer_id for d in plain.drift) == [2, 3] and not plain.changes
    plan = make_plan(inputs(customers, homes=homes, members=members, adopt_customers=True))
    assert not plan.drift and plan.adopted_customers == 3
    assert moves(plan) == {(2, 10, 1, None), (3, 11, 10, "vip")}
    assert sorted((h.customer_id, h.home_group_id, h.new) for h in plan.home_updates) == [
        (1, 1, True), (2, 1, True), (3, 1, False)]  # home = the first movable group
    assert sorted(marks(plan)) == [(1, 10, None), (2, 10, None), (3, 11, None)]
    # recorded as written by segbridge: without --adopt the next plan sees no drift
    after = {1: HomeRow(1, 10, None)}
    assert not make_plan(inputs([(1, 1, 10)], homes=after, members={1: ["vip"]})).drift
