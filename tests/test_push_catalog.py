"""``[[catalog_rules]]`` pushed through the storefront module, managed as cart rules are.

Real HTTP against the sandbox on 127.0.0.1 (its module routes ``/V1/segbridge/catalogRules``):
each rule carries ``segbridge:<code>:catalog:<n>`` at the start of its description, is
restricted to the segment's group and website ids, is updated in place by read-modify-write,
deactivated (never deleted) when the file drops it, adopted by a fresh store, and Magento is
asked once per push that changed one to apply the rules. A store without the module stops
the push before any write; a kill during a rule create, then a push, leaves one rule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_push_adopt import lose_store
from test_push_kit import Scenario, shop_state

from bridge.errors import EXIT_BAD_INPUT, EXIT_OK, ConfigError
from bridge.push.remote import Remote
from bridge.push.service import build_plan, live_groups, plan_to_json
from bridge.store.push_tables import PushObject

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parent.parent
CREATE = ("POST", "/V1/segbridge/catalogRules")
UPDATE = ("PUT", "/V1/segbridge/catalogRules/{ruleId}")
APPLY = ("POST", "/V1/segbridge/catalogRules/apply")

CATALOG = """
[[catalog_rules]]
name = "VIP prices"
simple_action = "by_percent"
discount_amount = 5
skus = []

[[catalog_rules]]
name = "VIP {sku} price"
simple_action = "to_fixed"
discount_amount = {amount}
skus = ["{sku}"]
from_date = "2026-01-01"
"""


def add_catalog_rules(sc: Scenario, *, amount: int = 20, second: bool = True) -> str:
    """Append ``[[catalog_rules]]`` to the VIP segment file; the SKU of the second rule."""
    sku = sorted(p.sku for p in sc.shop.catalog)[0]
    vip = sc.mappings / "vip.toml"
    text = vip.read_text().split("\n[[catalog_rules]]")[0]
    extra = CATALOG.format(sku=sku, amount=amount)
    if not second:
        extra = extra.split(f"\n[[catalog_rules]]\nname = \"VIP {sku}")[0] + "\n"
    vip.write_text(text.rstrip("\n") + "\n" + extra)
    return sku


def catalog_state(shop: Any) -> list[tuple[Any, ...]]:
    """The catalog rules segbridge manages, with group ids as codes (no rule ids)."""
    code = {g.id: g.code for g in shop.groups.values()}
    with shop.lock:
        return sorted(
            (r["description"], r["name"], r["is_active"],
             tuple(code[g] for g in r["customer_group_ids"]), tuple(r["website_ids"]),
             r["simple_action"], r["discount_amount"], tuple(r["skus"]), r["from_date"])
            for r in shop.module.rules.values()
            if (r.get("description") or "").startswith("segbridge:")
        )


def recorded(sc: Scenario) -> dict[str, int]:
    with Session(sc.engine) as s:
        return {o.key: o.magento_id
                for o in s.scalars(select(PushObject).where(PushObject.kind == "catalog_rule"))}


@pytest.fixture
def scenario(tmp_path: Path, db_url: str) -> Iterator[Scenario]:
    sc = Scenario(tmp_path / "s", db_url, module=True)
    try:
        yield sc
    finally:
        sc.close()


def test_rules_created_for_the_group_applied_once_then_nothing_written(
        scenario: Scenario) -> None:
    sc = scenario
    sku = add_catalog_rules(sc)
    sc.sync_evaluate()
    sc.sandbox.stats.reset()
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()
    stats = sc.sandbox.stats
    assert stats.get(*CREATE) == 2 and stats.get(*APPLY) == 1
    assert sc.shop.module.rules_applied == 1
    assert result.created["catalog_rule"] == 2
    websites = tuple(sorted(w.id for w in sc.shop.websites if w.id != 0))
    assert catalog_state(sc.shop) == [
        ("segbridge:vip:catalog:0 Spent a lot", "VIP prices", True, ("VIP",), websites,
         "by_percent", 5.0, (), None),
        ("segbridge:vip:catalog:1 Spent a lot", f"VIP {sku} price", True, ("VIP",), websites,
         "to_fixed", 20.0, (sku,), "2026-01-01"),
    ]
    ids = recorded(sc)
    assert sorted(ids) == ["segbridge:vip:catalog:0", "segbridge:vip:catalog:1"]
    assert all(sc.shop.module.rules[i]["description"].startswith(k) for k, i in ids.items())
    # the admin's own rule (id 1) is never touched
    assert sc.shop.module.rules[1]["name"] == "Spring sale (made in the admin)"

    sc.sync_evaluate()
    sc.sandbox.stats.reset()
    again = sc.push()
    assert again.plan is not None and again.plan.size == 0
    assert sc.writes() == 0 and sc.shop.module.rules_applied == 1


def test_a_changed_entry_is_updated_in_place_and_a_dropped_one_deactivated(
        scenario: Scenario) -> None:
    sc = scenario
    add_catalog_rules(sc)
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    ids = recorded(sc)
    rule_id = ids["segbridge:vip:catalog:1"]
    # a person adds a condition field segbridge does not set: kept by read-modify-write
    sc.shop.module.rules[rule_id]["sort_order"] = 0

    add_catalog_rules(sc, amount=25)
    sc.sandbox.stats.reset()
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()
    stats = sc.sandbox.stats
    assert stats.get(*CREATE) == 0 and stats.get(*UPDATE) == 1 and stats.get(*APPLY) == 1
    assert recorded(sc) == ids
    assert sc.shop.module.rules[rule_id]["discount_amount"] == 25.0
    assert sc.shop.module.rules_applied == 2

    add_catalog_rules(sc, second=False)  # the file drops the second entry
    sc.sandbox.stats.reset()
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()
    plan_kinds = {(o.kind, o.action) for o in result.plan.objects}
    assert plan_kinds == {("catalog_rule", "deactivate"), ("catalog_rules_apply", "apply")}
    assert rule_id in sc.shop.module.rules  # never deleted
    assert sc.shop.module.rules[rule_id]["is_active"] is False
    assert sc.shop.module.rules[ids["segbridge:vip:catalog:0"]]["is_active"] is True
    assert sc.shop.module.rules_applied == 3
    sc.sandbox.stats.reset()
    assert sc.push().plan.size == 0 and sc.writes() == 0


def test_a_segment_gone_inactive_switches_its_rules_off(scenario: Scenario) -> None:
    sc = scenario
    add_catalog_rules(sc)
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    vip = sc.mappings / "vip.toml"
    vip.write_text("active = false\n" + vip.read_text())
    sc.sync_evaluate()
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()
    states = {r[0]: r[2] for r in catalog_state(sc.shop)}
    assert states == {"segbridge:vip:catalog:0 Spent a lot": False,
                      "segbridge:vip:catalog:1 Spent a lot": False}


def test_plan_json_lists_catalog_rules_beside_cart_rules(scenario: Scenario) -> None:
    sc = scenario
    sku = add_catalog_rules(sc)
    sc.sync_evaluate()
    with sc.client(read_only=True) as c:
        remote = Remote(c)
        groups = live_groups(remote)
        plan = build_plan(sc.engine, sc.config, sc.segments(), groups, remote=remote)
    data = plan_to_json(sc.engine, plan, groups)
    json.dumps(data)  # plain JSON
    assert [(r["action"], r["marker"], r["name"], r["group"], r["skus"])
            for r in data["catalog_rules"]] == [
        ("create", "segbridge:vip:catalog:0", "VIP prices", "VIP", []),
        ("create", "segbridge:vip:catalog:1", f"VIP {sku} price", "VIP", [sku]),
    ]
    assert {r["marker"] for r in data["cart_rules"]} == {"segbridge:vip:0", "segbridge:vip:1",
                                                        "segbridge:loyal:0"}
    assert sc.writes() == 0


def test_a_fresh_store_adopts_the_rules_and_writes_nothing(scenario: Scenario) -> None:
    sc = scenario
    add_catalog_rules(sc)
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    before = catalog_state(sc.shop)
    ids = recorded(sc)
    lose_store(sc)
    # a second copy of one rule (a person duplicated it): the lowest id is adopted
    copy = dict(sc.shop.module.rules[ids["segbridge:vip:catalog:0"]])
    copy["rule_id"] = sc.shop.module.next_rule_id
    sc.shop.module.rules[copy["rule_id"]] = copy
    sc.shop.module.next_rule_id += 1
    sc.sync_evaluate()
    sc.sandbox.stats.reset()
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()
    assert sc.writes() == 0, sc.sandbox.stats.snapshot()["routes"]
    assert result.adopted["catalog_rule"] == 2
    assert recorded(sc) == ids
    dup = [d for d in result.summary()["duplicates"] if "catalog rule" in d]
    assert len(dup) == 1 and f"id {copy['rule_id']} left alone" in dup[0]
    assert len(catalog_state(sc.shop)) == 3
    assert sorted(set(catalog_state(sc.shop))) == before


def test_without_the_module_the_push_stops_before_any_write(
        tmp_path: Path, db_url: str) -> None:
    sc = Scenario(tmp_path / "s", db_url, module=False)
    try:
        add_catalog_rules(sc)
        sc.sync_evaluate()
        sc.sandbox.stats.reset()
        with pytest.raises(ConfigError) as err:
            sc.push()
        assert len(err.value.problems) == 1
        line = err.value.problems[0]
        assert "vip.toml: catalog_rules:" in line and "storefront module" in line
        assert "nothing was written" in line and "\n" not in line
        assert sc.writes() == 0
    finally:
        sc.close()


def test_module_use_off_refuses_catalog_rules_at_check_time(tmp_path: Path) -> None:
    from bridge.cli import main

    sc_root = tmp_path / "s"
    sc = Scenario(sc_root, f"sqlite:///{tmp_path / 'off.db'}", module=True,
                  extra_push='\n[module]\nuse = "off"\n')
    try:
        add_catalog_rules(sc)
        code = main(["--config", str(sc.config_path), "check"])
        assert code == EXIT_BAD_INPUT
        from bridge.segments.loader import check_mappings

        problems, _ = check_mappings(sc.config)
        assert [p for p in problems if "catalog_rules" in p] == [
            f"{p.split(': ')[0]}: catalog_rules: needs segbridge's storefront module, and "
            'module.use = "off" (set it to auto or on once the module is installed; '
            "docs/storefront.md)"
            for p in problems if "catalog_rules" in p
        ]
        assert len([p for p in problems if "catalog_rules" in p]) == 1
        assert sc.writes() == 0
    finally:
        sc.close()


# --- a kill during a catalog rule create -----------------------------------------------

# Writes of the push, in journal order: 2 group creates, 3 cart rules and their coupon
# (4), then the 2 catalog rule creates (7, 8), the apply (9), the blocks, the customers.
KILL_POINTS = [(7, "after"), (7, "before"), (8, "after"), (9, "after"), (9, "before")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("catalog-ref")
    sc = Scenario(root / "s", f"sqlite:///{root / 'ref.db'}", module=True)
    try:
        add_catalog_rules(sc)
        sc.sync_evaluate()
        assert sc.push().exit_code == EXIT_OK
        return {"state": shop_state(sc.shop), "catalog": catalog_state(sc.shop)}
    finally:
        sc.close()


@pytest.mark.parametrize(("k", "when"), KILL_POINTS, ids=[f"{w}-{k}" for k, w in KILL_POINTS])
def test_a_kill_during_a_catalog_rule_write_then_a_push_leaves_one_rule(
        tmp_path: Path, db_url: str, reference: dict[str, Any], k: int, when: str) -> None:
    sc = Scenario(tmp_path / "s", db_url, module=True, proxy=True)
    try:
        add_catalog_rules(sc)
        sc.sync_evaluate()
        assert sc.proxy is not None
        sc.sandbox.stats.reset()
        sc.proxy.arm(None, k, when)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(sc.config_path), "-q", "push"],
            cwd=str(sc.root), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sc.proxy.pid = proc.pid
        _, err = proc.communicate(timeout=120)
        assert sc.proxy.killed, f"never reached write {k}: {err.decode()[-2000:]}"
        assert proc.returncode == -9
        # the kill hit the write meant: a catalog rule create (7, 8) or the apply (9)
        creates = sc.sandbox.stats.get(*CREATE)
        applied = sc.shop.module.rules_applied
        if k in (7, 8):
            assert creates == k - 6 - (when == "before") and applied == 0
        else:
            assert creates == 2 and applied == (1 if when == "after" else 0)

        result = sc.push()
        assert result.exit_code == EXIT_OK, result.summary()
        assert result.resumed_batches
        assert catalog_state(sc.shop) == reference["catalog"]  # one rule per marker
        assert shop_state(sc.shop) == reference["state"]
        assert sc.shop.module.rules_applied >= 1
        assert len(recorded(sc)) == 2
        sc.sandbox.stats.reset()
        again = sc.push()
        assert again.plan is not None and again.plan.size == 0 and sc.writes() == 0
    finally:
        sc.close()


@pytest.mark.parametrize("module", [False, True], ids=["no-module", "module"])
def test_check_online_says_a_store_without_the_module_cannot_take_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], module: bool) -> None:
    from bridge.cli import main

    sc = Scenario(tmp_path / "s", f"sqlite:///{tmp_path / 'c.db'}", module=module)
    try:
        add_catalog_rules(sc)
        os.environ["SEGBRIDGE_TEST_TOKEN"] = sc.sandbox.token
        code = main(["--config", str(sc.config_path), "check", "--online"])
        out = capsys.readouterr()
        lines = [x for x in (out.out + out.err).splitlines() if "catalog_rules:" in x]
        if module:
            assert code == EXIT_OK and lines == []
        else:
            assert code == EXIT_BAD_INPUT
            assert len(lines) == 1 and "vip.toml: catalog_rules: needs segbridge's storefront " \
                "module (its catalog rule routes), but the store has none" in lines[0]
        assert sc.writes() == 0
    finally:
        sc.close()
