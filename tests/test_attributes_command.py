"""`segbridge attributes`: the catalog printed from the loader's own attribute table."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace

import pytest

from bridge.cli import main
from bridge.config import Config, SyncConfig
from bridge.segments.attributes import ATTRIBUTES, KIND_OPERATORS
from bridge.segments.loader import segments_from_dicts
from bridge.segments.model import Rule

KEYS = ["attribute", "type", "operators", "options", "example", "description"]


def _json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert main(["--json", "attributes"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_shape_covers_every_attribute_the_loader_knows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = _json(capsys)
    assert all(list(r) == KEYS for r in rows)
    names = [r["attribute"] for r in rows]
    assert set(ATTRIBUTES) | {"customer.attribute.<code>"} == set(names)
    assert len(names) == len(set(names))
    for r in rows:
        assert r["operators"] == list(KIND_OPERATORS[str(r["type"])])
        assert isinstance(r["options"], list) and r["description"] and r["example"]
    sales = next(r for r in rows if r["attribute"] == "sales.amount")
    assert sales["options"] == ["aggregate", "period", "status"]


def test_every_example_is_a_condition_the_loader_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An example that `check` would refuse is a doc bug; each goes through the loader."""
    cfg = replace(
        Config(), sync=replace(SyncConfig(), customer_attributes=["loyalty_tier"], cart_totals=True)
    )
    vip = {"code": "vip", "conditions": {"rules": [
        {"attribute": "sales.orders_count", "operator": ">", "value": 1}]}}
    for row in _json(capsys):
        leaf = tomllib.loads(f"x = {row['example']}")["x"]
        seg = segments_from_dicts([{"code": "t", "conditions": {"rules": [leaf]}}, vip], cfg)[0]
        rule = seg.conditions.rules[0]
        assert isinstance(rule, Rule) and rule.operator in row["operators"], row
        expected = row["attribute"]
        if expected == "customer.attribute.<code>":
            expected = "customer.attribute.loyalty_tier"
        assert rule.attribute == expected


def test_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attributes"]) == 0
    out = capsys.readouterr().out
    for name in ("sales.order_address.region_code", "customer.days_until_birthday", "segment"):
        assert name in out
    assert '["SE", "NO", "DK"]' in out  # TOML lists shown, not eaten as markup
    assert "None" not in out and "{'" not in out
    assert "product.viewed and product.in_wishlist read segbridge's storefront module" in out
