"""The limits of a segment file: refused by `check` beyond them, evaluated right at them.

Issue 17 item 7: values that passed `check` crashed `evaluate` (``sales.amount >= 9.3e14``:
OverflowError on SQLite; ~1,000 flat rules: SQLite's expression depth; 400 nesting levels:
RecursionError; 1,200 crashed `check` itself). Now each limit is one line naming file and
key, and a segment right at every limit evaluates on each database exactly as the
reference evaluator says.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bridge.config import Config
from bridge.errors import ConfigError
from bridge.segments.evaluate import compute_memberships, evaluate
from bridge.segments.loader import (
    MAX_DEPTH,
    MAX_LEAVES,
    MAX_LIST,
    check_mappings,
    load_segments,
    segments_from_dicts,
)
from bridge.segments.reference import Reference, load_customer
from bridge.segments.testing import random_shop, write_shop

AS_OF = datetime(2026, 3, 15, 12, 0, 0)
CFG = Config()
LEAF = '{ attribute = "sales.orders_count", operator = ">=", value = 1 }'


def problems(d: Path) -> list[str]:
    found, _warnings = check_mappings(CFG, d)
    return [p.removeprefix(f"{d}/") for p in found]


def seg_file(d: Path, name: str, rules: str, extra: str = "") -> None:
    (d / f"{name}.toml").write_text(
        f'code = "{name}"\n{extra}[conditions]\nrules = [{rules}]\n', encoding="utf-8"
    )


def nested_toml(levels: int) -> str:
    """`levels` combine levels (the root being the first) by [[...rules]] headers: TOML
    that tomllib reads without recursing, however deep."""
    lines = ['code = "deep"', "[conditions]", 'match = "all"']
    for level in range(2, levels + 1):
        lines += ["[[conditions" + ".rules" * (level - 1) + "]]", 'match = "any"']
    lines += ["[[conditions" + ".rules" * levels + "]]"]
    lines += ['attribute = "sales.orders_count"', 'operator = ">="', "value = 0"]
    return "\n".join(lines) + "\n"


def test_each_limit_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    d = tmp_path
    seg_file(d, "amount", '{ attribute = "sales.amount", operator = ">=", value = 9.3e14 }')
    seg_file(d, "amount_int", '{ attribute = "sales.amount", operator = "<", value = '
             + "9" * 5000 + " }")
    seg_file(d, "decimals", '{ attribute = "cart.subtotal", operator = ">=", value = 0.00001 }')
    seg_file(d, "count", '{ attribute = "sales.orders_count", operator = ">=", value = -1 }')
    seg_file(d, "days", '{ attribute = "customer.days_since_created", operator = "between", '
             "value = [0, 1000000001] }")
    seg_file(d, "age", '{ attribute = "customer.created_at", operator = ">=", '
             'value = "99999999999999999999999d" }')
    seg_file(d, "period", '{ attribute = "sales.orders_count", operator = ">=", value = 1, '
             'period = "100001d" }')
    seg_file(d, "far_date", '{ attribute = "customer.dob", operator = "==", value = 9999-12-31 }')
    seg_file(d, "offset", '{ attribute = "customer.created_at", operator = ">", '
             "value = 0001-01-01T00:00:00+01:00 }")
    seg_file(d, "list", '{ attribute = "address.country_id", operator = "()", value = ['
             + ", ".join(f'"c{i}"' for i in range(MAX_LIST + 1)) + "] }")
    seg_file(d, "leaves", ", ".join([LEAF] * (MAX_LEAVES + 1)))
    (d / "nested17.toml").write_text(nested_toml(MAX_DEPTH + 1), encoding="utf-8")
    (d / "nested1200.toml").write_text(nested_toml(1200).replace('"deep"', '"deeper"'),
                                       encoding="utf-8")
    inline = "{ rules = [" * 400 + LEAF + "] }" * 400
    (d / "inline400.toml").write_text(f'code = "x"\n[conditions]\nrules = [{inline}]\n',
                                      encoding="utf-8")
    deep17 = "conditions" + ".rules[0]" * MAX_DEPTH
    assert sorted(problems(d)) == sorted([
        'age.toml: conditions.rules[0].value: "99999999999999999999999d": an age is at most '
        "100000d",
        "amount.toml: conditions.rules[0].value: 930000000000000.0 is not within ±10^12",
        "amount_int.toml: not valid TOML for segbridge: a number has thousands of digits",
        "count.toml: conditions.rules[0].value: -1 is not within 0 and 1 000 000 000",
        "days.toml: conditions.rules[0].value[1]: 1000000001 is not within 0 and 1 000 000 000",
        "decimals.toml: conditions.rules[0].value: 1e-05 has more than 4 decimals "
        "(Magento keeps 4)",
        "far_date.toml: conditions.rules[0].value: 9999-12-31 is not between 1000-01-01 and "
        "9998-12-31",
        "inline400.toml: not valid TOML for segbridge: tables or arrays nest too deeply",
        f"leaves.toml: conditions: has {MAX_LEAVES + 1} conditions, more than {MAX_LEAVES}",
        f"list.toml: conditions.rules[0].value: has {MAX_LIST + 1} values, more than {MAX_LIST}",
        f"nested1200.toml: {deep17}: conditions nest deeper than 16 levels",
        f"nested17.toml: {deep17}: conditions nest deeper than 16 levels",
        "offset.toml: conditions.rules[0].value: 0001-01-01T00:00:00+01:00 is not between "
        "1000-01-01 and 9998-12-31",
        'period.toml: conditions.rules[0].period: "100001d": a period reaches back at most '
        "100000d",
    ])


def test_right_at_the_limits_the_files_load(tmp_path: Path) -> None:
    (tmp_path / "deep.toml").write_text(nested_toml(MAX_DEPTH), encoding="utf-8")
    seg_file(tmp_path, "wide", ", ".join([LEAF] * MAX_LEAVES))
    seg_file(tmp_path, "big", '{ attribute = "sales.amount", operator = "between", '
             "value = [-1000000000000, 1000000000000] }, "
             '{ attribute = "cart.items_qty", operator = "<=", value = 999999999999.9999 }, '
             '{ attribute = "customer.days_since_created", operator = "<=", value = 1000000000 },'
             '{ attribute = "sales.orders_count", operator = "()", value = ['
             + ", ".join(str(i) for i in range(MAX_LIST)) + "] }")
    assert problems(tmp_path) == []
    by_code = {s.code: s for s in load_segments(tmp_path, CFG)}
    assert set(by_code) == {"deep", "wide", "big"}


# --- evaluate at the limits, on every database ----------------------------------------


def _nested(levels: int, leaf: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"match": "any", "value": True, "rules": [leaf]}
    for level in range(levels - 1):
        node = {"match": "all" if level % 2 else "any", "value": level % 3 != 1,
                "rules": [node, leaf]}
    return node


# written into the SQL as literals (a long list): quotes, backslashes, % stay data
HOSTILE = ["O'Brien", "back\\slash", "50%", "_", "'; DROP TABLE customers; --", "\\'"]


def _limit_segments() -> list[dict[str, Any]]:
    big = 10**12
    flat_leaves: list[dict[str, Any]] = []
    for i in range(MAX_LEAVES):
        flat_leaves.append([
            {"attribute": "sales.amount", "operator": ">=", "value": big - i},
            {"attribute": "sales.amount", "aggregate": "average", "operator": "<=",
             "value": -big + i},
            {"attribute": "cart.subtotal", "operator": "==", "value": i / 4},
            {"attribute": "customer.days_since_created", "operator": ">", "value": 10**9 - i},
            {"attribute": "customer.firstname", "operator": "!=", "value": f"n{i}"},
        ][i % 5])
    # written into the SQL as literals: quotes, backslashes and % must stay data
    countries = [f"X{i}" for i in range(MAX_LIST - 3)] + ["SE", "no", "Dk"]
    names = [f"name {i}" for i in range(MAX_LIST - len(HOSTILE))] + HOSTILE
    return [
        {"code": "flat_all", "conditions": {"match": "all", "value": False,
                                            "rules": flat_leaves}},
        {"code": "flat_any", "conditions": {"match": "any", "rules": flat_leaves}},
        {"code": "deep", "conditions": _nested(MAX_DEPTH, {
            "attribute": "sales.orders_count", "operator": ">=", "value": 2})},
        {"code": "money", "conditions": {"match": "any", "rules": [
            {"attribute": "sales.amount", "operator": ">=", "value": big},
            {"attribute": "sales.amount", "operator": "<=", "value": -big},
            {"attribute": "sales.amount", "aggregate": "average", "operator": "between",
             "value": [-big, big]},
            {"attribute": "sales.qty", "aggregate": "average", "operator": ">",
             "value": 999999999999.9999},
            {"attribute": "cart.items_count", "operator": ">=", "value": 10**9},
            {"attribute": "customer.days_since_created", "operator": "between",
             "value": [10**9 - 1, 10**9]},
            {"attribute": "sales.days_since_last_order", "operator": "<", "value": 10**9},
        ]}},
        {"code": "names", "conditions": {"rules": [
            {"attribute": "customer.firstname", "operator": "()", "value": names}]}},
        {"code": "lists", "conditions": {"match": "any", "rules": [
            {"attribute": "address.country_id", "operator": "()", "value": countries},
            {"attribute": "sales.amount", "operator": "()",
             "value": [i / 100 for i in range(MAX_LIST)]},
            {"attribute": "customer.days_since_created", "operator": "!()",
             "value": list(range(10**9 - MAX_LIST + 1, 10**9 + 1))},
            {"attribute": "sales.orders_count", "operator": "()",
             "value": list(range(3, MAX_LIST + 3))},
        ]}},
        # a segment at the leaf limit that inlines two others at the limits
        {"code": "refs", "conditions": {"match": "any", "rules": [
            {"attribute": "segment", "operator": "()", "value": ["flat_any", "deep"]},
            *flat_leaves[: MAX_LEAVES - 1],
        ]}},
    ]


@pytest.mark.db
@pytest.mark.parametrize("split", [False, True])
def test_evaluate_at_the_limits_agrees_with_the_reference(
    engine: Engine, split: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``split``: as on a big SQLite store, the orders pass runs in worker processes from
    SQL text with every value inlined (the 10,000-value lists included)."""
    if split:
        if engine.dialect.name != "sqlite":
            pytest.skip("worker processes serve SQLite only")
        import bridge.segments.evaluate as evaluate_module

        monkeypatch.setattr(evaluate_module, "SPLIT_MIN_CUSTOMERS", 0)
        build = evaluate_module.ParallelSide.build

        def counting_build(self: Any, *args: Any) -> None:
            built.append(1)
            build(self, *args)

        monkeypatch.setattr(evaluate_module.ParallelSide, "build", counting_build)
    built: list[int] = []
    shop = random_shop(random.Random(17), AS_OF, customers=60)
    hostile_ids = {9000 + i for i in range(len(HOSTILE))}
    shop["customers"] += [
        {**shop["customers"][0], "id": cid, "email": f"h{cid}@example.com", "firstname": name}
        for cid, name in zip(sorted(hostile_ids), HOSTILE, strict=True)
    ]
    shop["customers"].append({**shop["customers"][0], "id": 9100, "firstname": "OBrien",
                              "email": "x@example.com"})
    with engine.begin() as conn:
        write_shop(conn, shop)
    segments = segments_from_dicts(_limit_segments(), CFG)
    by_code = {s.code: s for s in segments}
    with engine.connect() as conn:
        found = compute_memberships(conn, segments, AS_OF, CFG)
        for c in shop["customers"]:
            data = load_customer(conn, c["id"], CFG)
            assert data is not None
            ref = Reference(data, by_code, AS_OF)
            for seg in segments:
                assert (c["id"] in found[seg.code]) == ref.segment(seg).result, (seg.code, c["id"])
    assert found["flat_all"] and found["flat_any"] and found["deep"] and found["lists"]
    assert found["names"] == hostile_ids
    assert bool(built) == split
    # and recorded by a real evaluation, as `segbridge evaluate` does
    results = evaluate(engine, segments, AS_OF + timedelta(seconds=1), config=CFG)
    assert set(results) >= set(by_code)


def test_limits_are_not_a_config_error_at_the_limit() -> None:
    """Decimals at the limit are exact: 10^12 − 0.0001 stays itself."""
    segs = segments_from_dicts([{"code": "x", "conditions": {"rules": [
        {"attribute": "sales.amount", "operator": "<=", "value": 999999999999.9999}]}}], CFG)
    assert segs[0].conditions.rules[0].value == Decimal("999999999999.9999")  # type: ignore[union-attr]
    with pytest.raises(ConfigError):
        segments_from_dicts([{"code": "x", "conditions": {"rules": [
            {"attribute": "sales.amount", "operator": "<=", "value": 1000000000000.0001}]}}], CFG)


def test_a_nul_character_is_refused_wherever_it_is(tmp_path: Path) -> None:
    """PostgreSQL cannot compare text holding NUL: the fuzz test's evaluate on PostgreSQL
    failed with DataError on `address.city == "\\u0000"`. Refused in check instead."""
    seg_file(tmp_path, "nul", '{ attribute = "address.city", operator = "()", '
             'value = ["Oslo", "a\\u0000b"] }', extra='name = "x\\u0000"\n')
    assert problems(tmp_path) == [
        "nul.toml: conditions.rules[0].value[1]: contains a NUL character (\\x00), which no "
        "text may hold",
        "nul.toml: name: contains a NUL character (\\x00), which no text may hold",
    ]


def test_text_longer_than_its_column_is_refused(tmp_path: Path) -> None:
    """The fuzz test's evaluate on MariaDB and PostgreSQL failed with "Data too long for
    column 'name'" on a 300-character segment name (segments.name is varchar(255))."""
    (tmp_path / "hero.html").write_text("<p>hi</p>", encoding="utf-8")
    seg_file(tmp_path, "long", LEAF, extra=(
        f'name = "{"n" * 256}"\ndescription = "{"d" * 10_001}"\nwebsite = "{"w" * 33}"\n'
        'priority = 1\n'))
    with (tmp_path / "long.toml").open("a", encoding="utf-8") as f:
        f.write(f'[group]\ncode = "G"\n[[cms_blocks]]\nidentifier = "hero"\n'
                f'title = "{"t" * 256}"\ncontent_file = "hero.html"\n'
                f'[[cart_rules]]\nname = "{"r" * 256}"\nsimple_action = "by_percent"\n'
                f'discount_amount = 5\ncoupon_code = "{"c" * 256}"\n')
    assert problems(tmp_path) == [
        "long.toml: website: is longer than 32 characters (33)",
        "long.toml: name: is longer than 255 characters (256)",
        "long.toml: description: is longer than 10000 characters (10001)",
        "long.toml: cms_blocks[0].title: is longer than 255 characters (256)",
        "long.toml: cart_rules[0].name: is longer than 255 characters (256)",
        "long.toml: cart_rules[0].coupon_code: is longer than 255 characters (256)",
    ]
