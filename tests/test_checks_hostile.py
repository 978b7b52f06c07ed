"""A segment ``[group]`` naming a merchant's group is refused by every command that
pushes, not only by ``check --online``; a group counts as the merchant's when it holds
customers or cart rules segbridge did not make; a lost store does not turn segbridge's
own groups into "merchant groups" when the shop shows they are segbridge's.

The attacks: a segment naming ``retailer`` (the merchant's Retailer, 17 customers) with
a 90 % rule was refused by ``check --online`` only, and the daemon's ``run`` gave the
merchant's customers 90 % off and moved 169 more in; a merchant's empty ``Staff`` group
with its 50 % rule passed even ``check --online``; after a lost store ``check --online``
called Big Cart, Nordic … (segbridge's) "merchant groups" and advised a new name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_push_kit import Scenario

from bridge.cli import main
from bridge.errors import EXIT_BAD_INPUT, EXIT_OK, ConfigError

TRADE = """\
code = "wh_promo"
name = "Trade promo"
priority = 11
[conditions]
rules = [{ attribute = "sales.orders_count", operator = ">=", value = 0 }]
[group]
code = "retailer"
[[cart_rules]]
name = "Trade 90% off"
simple_action = "by_percent"
discount_amount = 90
"""

STAFF = """\
code = "staffish"
name = "Loyal shoppers"
priority = 12
[conditions]
rules = [{ attribute = "sales.orders_count", operator = ">=", value = 1 }]
[group]
code = "Staff"
"""


@pytest.fixture
def sc(tmp_path: Path, db_url: str) -> Iterator[Scenario]:
    scenario = Scenario(tmp_path / "s", db_url, seed=3)
    try:
        yield scenario
    finally:
        scenario.close()


def _run(capsys: pytest.CaptureFixture[str], sc: Scenario, *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(sc.config_path), *argv])
    out = capsys.readouterr()
    err = "".join(line for line in out.err.splitlines(keepends=True) if " INFO " not in line)
    return code, out.out, err


def _members(sc: Scenario, gid: int) -> int:
    return sum(c.group_id == gid for c in sc.shop.customers.values())


@pytest.mark.db
def test_push_run_resync_and_the_daemon_refuse_a_merchants_group(
    sc: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.pipeline import run_once

    retailer = sc.group_id("Retailer")
    held = _members(sc, retailer)
    assert held
    (sc.mappings / "trade.toml").write_text(TRADE)
    sc.sandbox.stats.reset()
    for command in (["push"], ["run"], ["resync"], ["check", "--online"]):
        code, out, err = _run(capsys, sc, *command)
        assert code == EXIT_BAD_INPUT, (command, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (command, err)
        assert lines[0].startswith(
            "mappings/trade.toml: group.code: 'Retailer' is an existing group of the shop that "
            f"holds {held} customer(s) segbridge has no record of putting there"), lines[0]
        assert "set adopt = true in [group]" in lines[0]
    sc.reload()
    with pytest.raises(ConfigError) as caught:  # what the daemon calls every interval
        run_once(sc.config)
    assert "'Retailer'" in caught.value.problems[0]
    assert sc.writes() == 0  # nothing created, nobody moved, no 90 % rule
    assert _members(sc, retailer) == held
    assert not [r for r in sc.shop.rules.values() if "Trade" in r.name]

    (sc.mappings / "trade.toml").write_text(TRADE.replace('code = "retailer"\n',
                                                          'code = "retailer"\nadopt = true\n'))
    code, out, err = _run(capsys, sc, "run")
    assert code == EXIT_OK, out + err
    assert _members(sc, retailer) > held  # adopting, when meant, still works


@pytest.mark.db
def test_a_merchants_empty_group_with_its_own_cart_rule_needs_adopt(
    sc: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    with sc.client() as c:
        staff = int(c.create_customer_group("Staff", 3)["id"])
        c.create_sales_rule({
            "name": "Staff 50%", "description": "employees", "is_active": True,
            "website_ids": [1, 2], "customer_group_ids": [staff], "coupon_type": "NO_COUPON",
            "simple_action": "by_percent", "discount_amount": 50, "uses_per_customer": 0,
            "stop_rules_processing": False, "is_advanced": True, "times_used": 0,
            "is_rss": False, "use_auto_generation": False, "uses_per_coupon": 0,
        })
    assert _members(sc, staff) == 0
    (sc.mappings / "staff.toml").write_text(STAFF)
    sc.sandbox.stats.reset()
    for command in (["check", "--online"], ["run"]):
        code, out, err = _run(capsys, sc, *command)
        assert code == EXIT_BAD_INPUT, (command, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert ("'Staff' is an existing group of the shop that is targeted by 1 cart price "
                "rule(s) segbridge did not make ('Staff 50%' (id ") in lines[0], lines[0]
    assert sc.writes() == 0 and _members(sc, staff) == 0

    (sc.mappings / "staff.toml").write_text(STAFF + "adopt = true\n")
    code, out, err = _run(capsys, sc, "check", "--online")
    assert code == EXIT_OK, out + err


BLOCKY = """\
code = "blocky"
name = "One order"
priority = 70
[conditions]
rules = [{ attribute = "sales.orders_count", operator = "==", value = 1 }]
[group]
code = "Blocky"
[[cms_blocks]]
identifier = "side"
title = "Side"
content_file = "blocks/loyal.html"
stores = [0]
"""

BARE = """\
code = "bare"
name = "Two orders"
priority = 60
[conditions]
rules = [{ attribute = "sales.orders_count", operator = "==", value = 2 }]
[group]
code = "Bare"
"""


@pytest.mark.db
def test_a_lost_store_knows_segbridges_groups_by_their_blocks_and_rules(
    sc: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import MetaData

    from bridge.store.engine import open_store

    (sc.mappings / "blocky.toml").write_text(BLOCKY)
    (sc.mappings / "bare.toml").write_text(BARE)
    code, out, err = _run(capsys, sc, "run")
    assert code == EXIT_OK, out + err
    for name in ("VIP", "Loyal", "Blocky", "Bare"):
        assert _members(sc, sc.group_id(name)), name

    everything = MetaData()
    everything.reflect(sc.engine)
    everything.drop_all(sc.engine)  # the store is lost
    sc.engine.dispose()
    sc.engine = open_store(sc.db_url)
    code, out, err = _run(capsys, sc, "check", "--online")
    assert code == EXIT_BAD_INPUT, out + err
    lines = err.strip().splitlines()
    # VIP and Loyal (marked rules), Blocky (its side--group-<id> block): segbridge's
    assert len(lines) == 1, err
    assert lines[0].startswith("mappings/bare.toml: group.code: 'Bare' is an existing group"
                               ), lines[0]
    assert "segbridge did not put there" not in lines[0]
    assert "segbridge made it before its store was lost, set adopt = true in [group]" in lines[0]
    assert "`segbridge resync --adopt`" in lines[0]

    (sc.mappings / "bare.toml").write_text(BARE.replace('code = "Bare"\n',
                                                        'code = "Bare"\nadopt = true\n'))
    code, out, err = _run(capsys, sc, "check", "--online")
    assert code == EXIT_OK, out + err
    code, out, err = _run(capsys, sc, "resync", "--adopt")
    assert code == EXIT_OK, out + err


class _Summary:
    def __init__(self, **kw: object) -> None:
        self.data = {"resumed_batches": [], "planned": 0, "steps": {}, "written": 0, "created": {},
                     "refused": [], "overridden": [], "drift": [], "interrupted": False, **kw}

    def summary(self) -> dict[str, object]:
        return self.data


def test_drift_on_a_store_that_just_adopted_points_to_resync_adopt() -> None:
    """After a lost store, the run said "14 customer(s) moved by hand" about customers
    segbridge itself had placed, and never mentioned ``resync --adopt``."""
    from bridge.push.command import push_lines

    drift = [{"customer_id": i} for i in range(14)]
    lines = push_lines(_Summary(drift=drift, adopted={"cms_block": 3}))  # type: ignore[arg-type]
    assert lines[-1].startswith("Found 14 customer(s) inside managed groups with no record of "
                                "who put them there"), lines
    assert "`segbridge resync --adopt`" in lines[-1] and "by hand" not in lines[-1]
    lines = push_lines(_Summary(drift=drift))  # type: ignore[arg-type]
    assert lines[-1] == "Drift left alone: 14 customer(s) moved by hand into a managed group."
