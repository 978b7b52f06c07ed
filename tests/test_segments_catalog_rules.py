"""``[[catalog_rules]]`` in segment files: the keys, their values and limits, each problem
one line naming the file and the key, and the table refused when ``module.use = "off"``
(its routes are the storefront module's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.config import Config
from bridge.segments.loader import MAX_LIST, check_mappings, load_segments
from bridge.segments.model import CatalogRuleSpec

CFG = Config()
HEAD = """\
code = "vip"
description = "Big spenders"

[conditions]
match = "all"
value = true

[[conditions.rules]]
attribute = "sales.orders_count"
operator = ">="
value = 1
"""
GROUP = '\n[group]\ncode = "VIP"\n'


def write(tmp: Path, body: str, *, group: bool = True, top: str = "") -> Path:
    """The VIP file with ``body`` after its tables (``top``: top-level keys)."""
    tmp.mkdir(parents=True, exist_ok=True)
    head = HEAD.replace('description = "Big spenders"\n', f'description = "Big spenders"\n{top}')
    (tmp / "vip.toml").write_text(head + (GROUP if group else "") + body)
    return tmp


def problems(tmp: Path, config: Config = CFG) -> list[str]:
    found, _warnings = check_mappings(config, tmp)
    return [p.split("vip.toml: ", 1)[1] for p in found]


def test_a_valid_table_loads_into_catalog_rule_specs(tmp_path: Path) -> None:
    d = write(tmp_path, """
[[catalog_rules]]
name = "VIP prices"
simple_action = "by_percent"
discount_amount = 5

[[catalog_rules]]
name = "Espresso at 399"
simple_action = "to_fixed"
discount_amount = 399.5
skus = ["ESP-100", "esp-200"]
from_date = "2026-12-01"
to_date = 2026-12-31
stop_rules_processing = true
sort_order = 3
""")
    (seg,) = load_segments(d, CFG)
    first = CatalogRuleSpec("VIP prices", "by_percent", Decimal(5))
    assert seg.catalog_rules == [
        first,
        replace(first, name="Espresso at 399", simple_action="to_fixed",
                discount_amount=Decimal("399.5"), skus=("ESP-100", "esp-200"),
                from_date=date(2026, 12, 1), to_date=date(2026, 12, 31),
                stop_rules_processing=True, sort_order=3),
    ]
    assert seg.cart_rules == []


@pytest.mark.parametrize(("body", "expected"), [
    ('colour = "red"',
     "catalog_rules[0].colour: unknown key (known: name, simple_action, discount_amount, skus, "
     "from_date, to_date, stop_rules_processing, sort_order)"),
    ('coupon_code = "X"',
     "catalog_rules[0].coupon_code: unknown key (known: name, simple_action, discount_amount, "
     "skus, from_date, to_date, stop_rules_processing, sort_order)"),
    ('simple_action = "cart_fixed"',
     'catalog_rules[0].simple_action: "cart_fixed" is not one of by_percent, by_fixed, '
     'to_percent, to_fixed; did you mean "to_fixed"?'),
    ("discount_amount = -1", "catalog_rules[0].discount_amount: must not be negative"),
    ('simple_action = "to_percent"\ndiscount_amount = 101',
     "catalog_rules[0].discount_amount: a percentage above 100"),
    ('discount_amount = "ten"', 'catalog_rules[0].discount_amount: "ten" is not a number'),
    ('skus = "ESP-100"',
     'catalog_rules[0].skus: "ESP-100" is not a list of SKUs ([] for every product)'),
    ('skus = ["A", "B,C"]',
     'catalog_rules[0].skus[1]: "B,C" has surrounding spaces, "," or ";" (Magento splits a '
     "rule's SKU list on them)"),
    ('skus = [" A"]',
     'catalog_rules[0].skus[0]: " A" has surrounding spaces, "," or ";" (Magento splits a '
     "rule's SKU list on them)"),
    ('skus = ["A", 7]', "catalog_rules[0].skus[1]: 7 is not a SKU (a non-empty string)"),
    ('skus = ["A", "a"]', 'catalog_rules[0].skus[1]: "a" appears more than once'),
    (f'skus = ["{"x" * 65}"]',
     "catalog_rules[0].skus[0]: is longer than 64 characters (Magento's SKU column)"),
    ('from_date = "2026-12-31"\nto_date = "2026-12-01"',
     "catalog_rules[0].to_date: is before from_date"),
    ('from_date = "soon"', 'catalog_rules[0].from_date: "soon" is not a date (YYYY-MM-DD)'),
    ("sort_order = -1", "catalog_rules[0].sort_order: -1 is not a whole number ≥ 0"),
    ('stop_rules_processing = "yes"',
     'catalog_rules[0].stop_rules_processing: "yes" is not true or false'),
])
def test_each_bad_value_is_one_line_naming_the_file_and_key(
        tmp_path: Path, body: str, expected: str) -> None:
    base = {"name": 'name = "VIP prices"', "simple_action": 'simple_action = "by_percent"',
            "discount_amount": "discount_amount = 5"}
    given = {line.split(" = ")[0] for line in body.splitlines()}
    lines = [line for k, line in base.items() if k not in given]
    d = write(tmp_path, "\n[[catalog_rules]]\n" + "\n".join(lines) + "\n" + body + "\n")
    assert problems(d) == [expected]


def test_required_keys_and_a_group(tmp_path: Path) -> None:
    d = write(tmp_path, "\n[[catalog_rules]]\nskus = []\n", group=False)
    assert problems(d) == [
        "catalog_rules[0].name: is required",
        "catalog_rules[0].simple_action: is required (one of by_percent, by_fixed, to_percent, "
        "to_fixed)",
        "catalog_rules[0].discount_amount: is required",
        "catalog_rules: needs a [group] in the same file (rules apply per group)",
    ]


def test_shown_names_refuse_personal_data_and_invisible_characters(tmp_path: Path) -> None:
    d = write(tmp_path, '\n[[catalog_rules]]\nname = "Prices for anna@example.com"\n'
                        'simple_action = "by_fixed"\ndiscount_amount = 1\n')
    (line,) = problems(d)
    assert line.startswith("catalog_rules[0].name: ") and "anna@example.com" not in line
    d = write(tmp_path / "b", '\n[[catalog_rules]]\nname = "VIP "\n'
                              'simple_action = "by_fixed"\ndiscount_amount = 1\n')
    (line,) = problems(d)
    assert line.startswith("catalog_rules[0].name: ")


def test_sku_list_limit(tmp_path: Path) -> None:
    skus = ", ".join(f'"S{i}"' for i in range(MAX_LIST + 1))
    d = write(tmp_path, f'\n[[catalog_rules]]\nname = "All"\nsimple_action = "by_fixed"\n'
                        f"discount_amount = 1\nskus = [{skus}]\n")
    assert problems(d) == [f"catalog_rules[0].skus: has {MAX_LIST + 1} SKUs, more than "
                           f"{MAX_LIST}"]
    skus = ", ".join(f'"S{i}"' for i in range(MAX_LIST))
    d = write(tmp_path / "ok", f'\n[[catalog_rules]]\nname = "All"\nsimple_action = '
                               f'"by_fixed"\ndiscount_amount = 1\nskus = [{skus}]\n')
    assert problems(d) == []


def test_not_a_list_of_tables(tmp_path: Path) -> None:
    d = write(tmp_path, "", top="catalog_rules = 5\n")
    assert problems(d) == ["catalog_rules: must be a list of tables ([[catalog_rules]])"]


def test_module_use_off_refuses_the_table_at_check_time(tmp_path: Path) -> None:
    body = ('\n[[catalog_rules]]\nname = "VIP prices"\nsimple_action = "by_percent"\n'
            "discount_amount = 5\n")
    d = write(tmp_path, body)
    off = replace(CFG, module=replace(CFG.module, use="off"))
    assert problems(d, off) == [
        'catalog_rules: needs segbridge\'s storefront module, and module.use = "off" (set it '
        "to auto or on once the module is installed; docs/storefront.md)"]
    for use in ("auto", "on"):
        assert problems(d, replace(CFG, module=replace(CFG.module, use=use))) == []
    # an empty table asks nothing of the module
    d = write(tmp_path / "empty", "", top="catalog_rules = []\n")
    assert problems(d, off) == []


def test_a_full_sku_list_checks_in_linear_time(tmp_path: Path) -> None:
    """10,000 SKUs took 7 s (each SKU compared with every earlier one); a duplicate at the
    very end, in other case, is still named."""
    import time

    skus = ", ".join(f'"S{i}"' for i in range(MAX_LIST - 1)) + ', "s0"'
    d = write(tmp_path, f'\n[[catalog_rules]]\nname = "All"\nsimple_action = "by_fixed"\n'
                        f"discount_amount = 1\nskus = [{skus}]\n")
    started = time.perf_counter()
    found = problems(d)
    assert time.perf_counter() - started < 2.0
    assert found == [f'catalog_rules[0].skus[{MAX_LIST - 1}]: "s0" appears more than once']


@pytest.mark.parametrize("sku", ["A\\nB", "A\\u0007", "ESP\\u200b-100", "A\\u202eB"])
def test_a_sku_with_a_control_or_invisible_character_is_refused(tmp_path: Path,
                                                                sku: str) -> None:
    """Such a SKU reads like another one and matches no product; it was accepted."""
    d = write(tmp_path, f'\n[[catalog_rules]]\nname = "One"\nsimple_action = "by_fixed"\n'
                        f'discount_amount = 1\nskus = ["{sku}"]\n')
    found = problems(d)
    assert len(found) == 1 and found[0].startswith("catalog_rules[0].skus[0]: "), found
    assert "\n" not in found[0] and "\x07" not in found[0]
