"""Validation of mappings/*.toml: every problem at once, each naming file and key."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.config import Config, PushConfig, SyncConfig
from bridge.errors import ConfigError
from bridge.segments.loader import check_mappings, load_segments
from bridge.segments.model import Combine, DateValue, Rule

REPO = Path(__file__).resolve().parent.parent
CFG = Config()


def write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.write_text(text, encoding="utf-8")
    return p


def problems_of(d: Path, config: Config = CFG) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_segments(d, config)
    return exc.value.problems


def test_the_example_mappings_load(tmp_path: Path) -> None:
    segments = load_segments(REPO / "mappings", CFG)
    codes = {s.code for s in segments}
    assert {
        "vip",
        "new_customers",
        "lapsed",
        "at_risk",
        "high_aov",
        "cart_abandoners",
        "birthday_month",
        "nordic",
    } <= codes
    vip = next(s for s in segments if s.code == "vip")
    assert vip.group is not None and vip.group.code == "VIP"
    assert vip.cms_blocks[0].identifier == "home-hero" and "VIP" in vip.cms_blocks[0].content
    assert vip.cart_rules[0].discount_amount == Decimal(10)
    assert vip.cart_rules[0].simple_action == "by_percent"
    rule = vip.conditions.rules[0]
    assert (
        isinstance(rule, Rule)
        and rule.period is not None
        and rule.period.age == timedelta(days=365)
    )
    assert rule.status == ("processing", "complete")
    assert check_mappings(CFG, REPO / "mappings") == ([], [])


def test_spec_example_and_operator_message(tmp_path: Path) -> None:
    d = tmp_path / "mappings"
    d.mkdir()
    write(
        d,
        "vip.toml",
        """
code = "vip"
name = "VIP"
[conditions]
match = "all"
value = true
[[conditions.rules]]
attribute = "sales.amount"
aggregate = "total"
operator = "=>"
value = 500
""",
    )
    cfg = replace(CFG, path=tmp_path / "segbridge.toml")
    assert problems_of(d, cfg) == [
        'mappings/vip.toml: conditions.rules[0].operator: "=>" is not an operator '
        '(one of == != >= > <= < {} !{} () !() <=> between): did you mean ">="?'
    ]


def test_every_problem_in_one_go(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.toml",
        """
code = "a"
colour = "red"
priority = "high"
[conditions]
match = "some"
rules = [
  { attribute = "sales.amount", operator = ">=", value = "lots" },
  { attribute = "customer.dob", operator = "==", value = "yesterday" },
  { attribute = "customer.is_subscribed", operator = "==", value = "yes" },
  { attribute = "customer.email", operator = "()", value = "a@b" },
  { attribute = "sales.orders_count", operator = "between", value = [5] },
  { attribute = "sales.orders_count", operator = ">", value = 1.5 },
  { attribute = "sales.amount", operator = ">", value = 1.23456 },
  { attribute = "customer.email", operator = "<=>", value = "x" },
  { attribute = "sales.orders_count", operator = "{}", value = 1 },
  { attribute = "customer.firstname", operator = "==", value = "x", period = "30d" },
  { attribute = "customer.nickname", operator = "==", value = "x" },
  { attribute = "address.city", operator = "==", value = "x", address_type = "home" },
  { match = "any", rules = [] },
]
""",
    )
    write(tmp_path, "b.toml", 'code = "B!"\n[conditions]\nrules = []\n')
    write(tmp_path, "c.toml", "this is = not toml [")
    probs = problems_of(tmp_path)
    text = "\n".join(probs)
    expected = [
        "a.toml: colour: unknown key",
        'a.toml: priority: "high" is not a whole number',
        'a.toml: conditions.match: "some" is not all or any',
        'a.toml: conditions.rules[0].value: "lots" is not a number',
        'a.toml: conditions.rules[1].value: "yesterday" is not a date',
        'a.toml: conditions.rules[2].value: "yes" is not true or false',
        "a.toml: conditions.rules[3].value: operator () needs a non-empty list",
        "a.toml: conditions.rules[4].value: operator between needs [low, high]",
        "a.toml: conditions.rules[5].value: 1.5 must be a whole number",
        "a.toml: conditions.rules[6].value: 1.23456 has more than 4 decimals",
        "a.toml: conditions.rules[7].value: the operator <=> (is undefined) takes no value",
        "a.toml: conditions.rules[8].operator: {} does not apply to sales.orders_count",
        "a.toml: conditions.rules[9].period: unknown key",
        'a.toml: conditions.rules[10].attribute: "customer.nickname" is not an attribute',
        'a.toml: conditions.rules[11].address_type: "home" is not one of any, default_billing',
        "a.toml: conditions.rules[12].rules: is empty",
        'b.toml: code: "B!": is required and must match [a-z0-9_-]+',
        "b.toml: conditions.rules: is empty",
        "c.toml: not valid TOML",
    ]
    for line in expected:
        assert line in text, f"missing: {line}\n---\n{text}"


def test_unavailable_product_conditions(tmp_path: Path) -> None:
    write(
        tmp_path,
        "v.toml",
        """
code = "v"
[conditions]
rules = [{ attribute = "product.viewed", operator = "==", value = true },
         { attribute = "product.in_wishlist", operator = "==", value = true }]
""",
    )
    load_segments(tmp_path, CFG)  # module.use = "auto": they read the storefront module
    off = replace(CFG, module=replace(CFG.module, use="off"))
    probs = problems_of(tmp_path, off)
    assert len(probs) == 2
    assert all("Magento Open Source's REST API" in p for p in probs)
    assert all('storefront module, and module.use = "off"' in p for p in probs)
    assert "v.toml: conditions.rules[0].attribute: product.viewed is not available" in probs[0]


PRICE_RULE = (
    '{ attribute = "product.ordered", operator = "==", value = true, '
    'price = { operator = "{}", value = 1 } },'
)


def test_options_and_config_dependent_attributes(tmp_path: Path) -> None:
    write(
        tmp_path,
        "o.toml",
        """
code = "o"
[conditions]
rules = [
  { attribute = "cart.grand_total", operator = ">", value = 10 },
  { attribute = "customer.attribute.tier", operator = "==", value = "gold" },
  { attribute = "sales.amount", aggregate = "median", operator = ">", value = 1 },
  { attribute = "sales.amount", operator = ">", value = 1, status = [] },
  { attribute = "sales.amount", operator = ">", value = 1, period = "a while" },
  """
        + PRICE_RULE
        + """
  { attribute = "product.in_cart", operator = "==", value = true, period = "30d" },
]
""",
    )
    text = "\n".join(problems_of(tmp_path))
    assert "rules[0].attribute: cart.grand_total needs sync.cart_totals = true" in text
    assert (
        'rules[1].attribute: custom attribute "tier" is not listed in sync.customer_attributes'
        in text
    )
    assert 'rules[2].aggregate: "median" is not total or average' in text
    assert "rules[3].status: must be a non-empty list" in text
    assert 'rules[4].period: "a while" is not a period' in text
    assert 'rules[5].price.operator: "{}" is not a price operator' in text
    assert "rules[6].period: unknown key" in text
    ok = Config(sync=SyncConfig(cart_totals=True, customer_attributes=("tier",)))
    write(
        tmp_path,
        "o.toml",
        """
code = "o"
[conditions]
rules = [
  { attribute = "cart.grand_total", operator = ">", value = 10 },
  { attribute = "customer.attribute.tier", operator = "==", value = "gold" },
]
""",
    )
    assert len(load_segments(tmp_path, ok)) == 1


def test_values_are_typed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "t.toml",
        """
code = "t"
[conditions]
match = "any"
value = false
rules = [
  { attribute = "customer.created_at", operator = ">=", value = "30d" },
  { attribute = "customer.created_at", operator = "<", value = 2026-01-31 },
  { attribute = "customer.created_at", operator = "<", value = "2026-01-31T10:00:00+01:00" },
  { attribute = "sales.amount", operator = "between", value = [10, 20.5] },
  { attribute = "customer.gender", operator = "()", value = ["Male", "female"] },
]
""",
    )
    seg = load_segments(tmp_path, CFG)[0]
    assert isinstance(seg.conditions, Combine) and seg.conditions.match == "any"
    assert seg.conditions.value is False
    rules = seg.conditions.rules
    assert rules[0].value == DateValue("age", age=timedelta(days=30))  # type: ignore[union-attr]
    assert rules[1].value == DateValue("date", day=date(2026, 1, 31))  # type: ignore[union-attr]
    assert rules[2].value.instant.hour == 9  # type: ignore[union-attr]  # to UTC
    assert rules[3].value == (Decimal(10), Decimal("20.5"))  # type: ignore[union-attr]
    assert rules[4].value == ("male", "female")  # type: ignore[union-attr]


def test_cross_file_rules(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.toml",
        """
code = "a"
priority = 5
[conditions]
rules = [{ attribute = "segment", operator = "()", value = ["b", "ghost", "off"] }]
[group]
code = "Gold"
""",
    )
    write(
        tmp_path,
        "b.toml",
        """
code = "b"
priority = 5
[conditions]
rules = [{ attribute = "segment", operator = "!()", value = ["a"] }]
[group]
code = "Silver"
""",
    )
    write(
        tmp_path,
        "off.toml",
        """
code = "off"
active = false
[conditions]
rules = [{ attribute = "sales.orders_count", operator = ">", value = 1 }]
""",
    )
    write(
        tmp_path,
        "g.toml",
        """
code = "g"
website = "nordic"
priority = 5
[conditions]
rules = [{ attribute = "customer.group", operator = "==", value = "gold" }]
[group]
code = "A-very-long-customer-group-code-indeed"
[[cms_blocks]]
identifier = "hero"
content_file = "blocks/missing.html"
""",
    )
    write(
        tmp_path,
        "h.toml",
        """
code = "a"
[conditions]
rules = [{ attribute = "sales.orders_count", operator = ">", value = 1 }]
[[cart_rules]]
name = "x"
simple_action = "by_percent"
discount_amount = 150
""",
    )
    text = "\n".join(problems_of(tmp_path))
    assert 'a.toml: conditions.rules[0].value[1]: "ghost" is not a segment code' in text
    assert 'a.toml: conditions.rules[0].value[2]: segment "off" is not active' in text
    assert "segment references form a cycle: a → b → a" in text
    assert "b.toml: priority: 5 equals the priority of a" in text
    assert 'g.toml: conditions.rules[0]: group "gold" is managed by segbridge' in text
    assert 'g.toml: group.code: "A-very-long-customer-group-code-indeed" is longer than 32' in text
    assert 'g.toml: cms_blocks[0].content_file: "blocks/missing.html": no such file' in text
    assert "h.toml: cart_rules: needs a [group] in the same file" in text
    assert "h.toml: cart_rules[0].discount_amount: a percentage above 100" in text
    assert 'h.toml: code: "a" is also the code of ' in text and text.count("is also the code") == 1


def test_priorities_may_repeat_across_websites(tmp_path: Path) -> None:
    for code, site in (("x", "base"), ("y", "nordic")):
        write(
            tmp_path,
            f"{code}.toml",
            f"""
code = "{code}"
website = "{site}"
[conditions]
rules = [{{ attribute = "sales.orders_count", operator = ">", value = 1 }}]
[group]
code = "G{code}"
""",
        )
    assert len(load_segments(tmp_path, CFG)) == 2


def test_max_managed_groups_and_movable_groups(tmp_path: Path) -> None:
    for i in range(3):
        write(
            tmp_path,
            f"s{i}.toml",
            f"""
code = "s{i}"
priority = {i}
[conditions]
rules = [{{ attribute = "sales.orders_count", operator = ">", value = {i} }}]
[group]
code = "G{i}"
""",
        )
    cfg = Config(push=PushConfig(max_managed_groups=2))
    text = "\n".join(problems_of(tmp_path, cfg))
    assert (
        "active segments name 3 groups (g0, g1, g2), more than push.max_managed_groups = 2" in text
    )
    write(
        tmp_path,
        "s0.toml",
        """
code = "s0"
[conditions]
rules = [{ attribute = "sales.orders_count", operator = ">", value = 1 }]
[group]
code = "general"
""",
    )
    assert "is one of push.movable_groups" in "\n".join(problems_of(tmp_path))


def test_period_beyond_sync_since_is_a_warning(tmp_path: Path) -> None:
    write(
        tmp_path,
        "w.toml",
        """
code = "w"
[conditions]
rules = [{ attribute = "sales.amount", operator = ">", value = 1, period = "1000d" }]
""",
    )
    problems, warnings = check_mappings(CFG, tmp_path)
    assert problems == []
    assert (
        len(warnings) == 1
        and "rules[0].period: reaches further back than sync.since (730d)" in warnings[0]
    )
    assert len(load_segments(tmp_path, CFG)) == 1


def test_cli_check_and_evaluate_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.cli import main

    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    write(
        tmp_path / "mappings",
        "bad.toml",
        """
code = "bad"
[conditions]
rules = [{ attribute = "sales.amount", operator = "=>", value = 1 }]
""",
    )
    (tmp_path / "segbridge.toml").write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n', encoding="utf-8"
    )
    assert main(["--config", str(tmp_path / "segbridge.toml"), "evaluate"]) == 2
    err = capsys.readouterr().err
    assert 'mappings/bad.toml: conditions.rules[0].operator: "=>" is not an operator' in err
    assert not (tmp_path / "s.db").exists()  # nothing touched


SLOT_SEGMENT = """
code = "{code}"
priority = {priority}
[conditions]
rules = [{{ attribute = "sales.orders_count", operator = ">", value = 1 }}]
[group]
code = "{group}"
[[cms_blocks]]
identifier = {identifier}
content_file = "hero.html"
"""


def short_problems_of(d: Path) -> list[str]:
    """problems_of with the directory taken off each file name."""
    return [p.removeprefix(f"{d}/") for p in problems_of(d)]


def _slot_file(d: Path, name: str, identifier: str, priority: int) -> None:
    code = name.removesuffix(".toml")
    write(
        d,
        name,
        SLOT_SEGMENT.format(code=code, priority=priority, group=f"G {code}", identifier=identifier),
    )


def test_cms_slot_the_storefront_widget_would_refuse_is_rejected(tmp_path: Path) -> None:
    """magento-module/Model/IdentifierChooser.php::validateSlot refuses a slot containing
    "--group-" (any case) and anything outside [A-Za-z0-9_-]; blocks segbridge wrote for
    such a slot would never be shown, so the loader refuses them first."""
    (tmp_path / "hero.html").write_text("<p>hi</p>", encoding="utf-8")
    _slot_file(tmp_path, "x.toml", '"a--group-1"', 1)
    _slot_file(tmp_path, "y.toml", '"Home--GROUP-hero"', 2)
    _slot_file(tmp_path, "z.toml", '"home\\n"', 3)  # TOML escape: a real trailing newline
    _slot_file(tmp_path, "w.toml", '"a-group-1"', 4)  # one dash: a fine slot
    probs = short_problems_of(tmp_path)
    assert (
        'x.toml: cms_blocks[0].identifier: "a--group-1" must not contain "--group-" '
        "(segbridge appends it)" in probs
    )
    assert (
        'y.toml: cms_blocks[0].identifier: "Home--GROUP-hero" must not contain '
        '"--group-" (segbridge appends it)' in probs
    )
    assert (
        'z.toml: cms_blocks[0].identifier: "home\\n" begins or ends with white space, which '
        "Magento's admin does not show: it would read like the block \"home\"" in probs
    )
    assert not [p for p in probs if p.startswith("w.toml")]
    assert all("\n" not in p for p in probs)


def test_codes_with_a_trailing_newline_are_rejected(tmp_path: Path) -> None:
    write(
        tmp_path,
        "n.toml",
        'code = "vip\\n"\n[conditions]\n'
        'rules = [{ attribute = "sales.orders_count", operator = ">", value = 1 }]\n',
    )
    assert short_problems_of(tmp_path) == [
        'n.toml: code: "vip\\n" begins or ends with white space, which Magento\'s admin does '
        'not show: it would read like the segment "vip"'
    ]


def test_group_code_limit_is_defined_once_and_shared_with_push(tmp_path: Path) -> None:
    """One MAX_GROUP_CODE (bridge.segments.model): the loader and push cannot disagree."""
    import ast

    import bridge.push.groups
    import bridge.push.plan
    from bridge.segments.model import MAX_GROUP_CODE

    assert MAX_GROUP_CODE == 32
    assert bridge.push.plan.MAX_GROUP_CODE == bridge.push.groups.MAX_GROUP_CODE == 32
    defined_in = [
        str(f.relative_to(REPO))
        for f in sorted((REPO / "bridge").rglob("*.py"))
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        and any(
            isinstance(t, ast.Name) and t.id == "MAX_GROUP_CODE"
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    assert defined_in == ["bridge/segments/model.py"]
    (tmp_path / "hero.html").write_text("<p>hi</p>", encoding="utf-8")
    d_ok, d_bad = tmp_path / "ok", tmp_path / "bad"
    for d, group in ((d_ok, "G" * MAX_GROUP_CODE), (d_bad, "G" * (MAX_GROUP_CODE + 1))):
        d.mkdir()
        shutil.copy(tmp_path / "hero.html", d / "hero.html")
        write(
            d, "g.toml", SLOT_SEGMENT.format(code="g", priority=1, group=group, identifier='"hero"')
        )
    assert load_segments(d_ok, CFG)[0].group.code == "G" * MAX_GROUP_CODE  # type: ignore[union-attr]
    assert short_problems_of(d_bad) == [
        f'g.toml: group.code: "{"G" * 33}" is longer than 32 characters (Magento\'s limit)'
    ]


def test_slots_of_one_file_that_differ_only_in_case_are_one_block(tmp_path: Path) -> None:
    """Magento compares CMS block identifiers without case: "Home-Hero" and "home-hero"
    for the same group would be one block written twice, with two contents."""
    (tmp_path / "hero.html").write_text("<p>hi</p>", encoding="utf-8")
    _slot_file(tmp_path, "x.toml", '"Home-Hero"', 1)
    with (tmp_path / "x.toml").open("a", encoding="utf-8") as f:
        f.write('[[cms_blocks]]\nidentifier = "home-hero"\ncontent_file = "hero.html"\n'
                '[[cms_blocks]]\nidentifier = "Home-Hero"\ncontent_file = "hero.html"\n')
    _slot_file(tmp_path, "y.toml", '"side"', 2)
    with (tmp_path / "y.toml").open("a", encoding="utf-8") as f:
        f.write('[[cms_blocks]]\nidentifier = "side"\ncontent_file = "hero.html"\n')
    probs = short_problems_of(tmp_path)
    assert probs == [
        'x.toml: cms_blocks: identifiers "Home-Hero", "home-hero", "Home-Hero" name the same '
        "block (Magento compares identifiers without case)",
        'y.toml: cms_blocks: identifier "side" appears more than once',
    ]


def test_group_adopt_flag(tmp_path: Path) -> None:
    """`adopt = true` in [group] lets `check --online` take over a merchant's group; it is
    a bool, false by default (an unknown key before)."""
    base = 'code = "{c}"\npriority = {p}\n[conditions]\n' \
        'rules = [{{ attribute = "sales.orders_count", operator = ">", value = 1 }}]\n' \
        '[group]\ncode = "{g}"\n'
    write(tmp_path, "a.toml", base.format(c="a", p=1, g="Wholesale") + "adopt = true\n")
    write(tmp_path, "b.toml", base.format(c="b", p=2, g="VIP"))
    by_code = {s.code: s for s in load_segments(tmp_path, CFG)}
    assert by_code["a"].group is not None and by_code["a"].group.adopt is True
    assert by_code["b"].group is not None and by_code["b"].group.adopt is False
    write(tmp_path, "b.toml", base.format(c="b", p=2, g="VIP") + 'adopt = "yes"\n')
    assert short_problems_of(tmp_path) == ['b.toml: group.adopt: "yes" is not true or false']


def test_content_file_must_be_a_small_regular_utf8_file_inside_the_folder(
    tmp_path: Path,
) -> None:
    """A block's content_file is published on the storefront: nothing outside the mappings
    folder (issue 17: /etc/passwd and /proc/self/environ went out), nothing endless
    (/dev/zero died with MemoryError), at most 1 MiB, UTF-8. One line each, naming the key."""
    import os

    from bridge.segments.loader import MAX_CONTENT_BYTES

    d = tmp_path / "mappings"
    (d / "blocks").mkdir(parents=True)
    (tmp_path / "secret.html").write_text("TOKEN=abc", encoding="utf-8")
    (d / "blocks" / "ok.html").write_text("<p>hé</p>", encoding="utf-8")
    (d / "exact.html").write_bytes(b"a" * MAX_CONTENT_BYTES)
    (d / "big.html").write_bytes(b"a" * (MAX_CONTENT_BYTES + 1))
    (d / "latin1.html").write_bytes("<p>h\xe9</p>".encode("latin-1"))
    (d / "out.html").symlink_to(tmp_path / "secret.html")
    (d / "zero.html").symlink_to("/dev/zero")
    (d / "inside.html").symlink_to(d / "blocks" / "ok.html")
    os.mkfifo(d / "fifo.html")
    cases = {
        "dotdot": "../../../../etc/passwd",
        "secret": "../secret.html",
        "environ": "/proc/self/environ",
        "devzero": "/dev/zero",
        "linkout": "out.html",
        "linkzero": "zero.html",
        "fifo": "fifo.html",
        "dir": "blocks",
        "big": "big.html",
        "latin1": "latin1.html",
        "missing": "nope.html",
        "nul": "a\\u0000b",
        "ok1": "blocks/ok.html",
        "ok2": "blocks/../blocks/ok.html",
        "ok3": "inside.html",
        "ok4": "exact.html",
    }
    for i, (code, name) in enumerate(cases.items()):
        write(d, f"{code}.toml", SLOT_SEGMENT.format(
            code=code, priority=i, group="G", identifier='"hero"'
        ).replace('"hero.html"', f'"{name}"'))
    probs = short_problems_of(d)
    key = "cms_blocks[0].content_file"
    outside = "points outside the mappings folder (a .. or a link out of it)"
    absolute = "is an absolute path: give a path inside the mappings folder"
    assert sorted(probs) == sorted([
        f'big.toml: {key}: "big.html": is larger than 1024 KiB ({MAX_CONTENT_BYTES + 1} bytes)',
        f'devzero.toml: {key}: "/dev/zero": {absolute}',
        f'dir.toml: {key}: "blocks": is not a regular file',
        f'dotdot.toml: {key}: "../../../../etc/passwd": {outside}',
        f'environ.toml: {key}: "/proc/self/environ": {absolute}',
        f'fifo.toml: {key}: "fifo.html": is not a regular file',
        f'latin1.toml: {key}: "latin1.html": is not UTF-8 text (byte 4)',
        f'linkout.toml: {key}: "out.html": {outside}',
        f'linkzero.toml: {key}: "zero.html": {outside}',
        f'missing.toml: {key}: "nope.html": no such file in {d}',
        f"nul.toml: {key}: contains a NUL character (\\x00), which no text may hold",
        f'secret.toml: {key}: "../secret.html": {outside}',
    ])
    for name in cases:
        if not name.startswith("ok"):
            (d / f"{name}.toml").unlink()
    blocks = {s.code: s.cms_blocks[0].content for s in load_segments(d, CFG)}
    assert blocks["ok1"] == blocks["ok2"] == blocks["ok3"] == "<p>hé</p>"
    assert len(blocks["ok4"]) == MAX_CONTENT_BYTES


def test_did_you_mean_for_keys_attributes_and_operators(tmp_path: Path) -> None:
    """Issue 18: a misspelt key is named as unknown with the key it resembles (not "needs
    attribute … or rules"); attributes and operators get a suggestion too; no message
    points outside the repository."""
    write(
        tmp_path,
        "t.toml",
        """
code = "t"
shade = "red"
nmae = "T"
[conditions]
mach = "all"
rules = [
  { atribute = "sales.amount", operator = ">=", value = 500 },
  { attribute = "sales.amout", operator = ">=", value = 500 },
  { attribute = "sales.amount", operator = "=<", value = 500 },
  { attribute = "sales.amount", operator = "is one of", value = [500] },
  { attribute = "sales.amount", operater = ">=", value = 500 },
  { attribute = "customer.email", operator = "==", value = "x", period = "30d" },
  { attribute = "sales.amount", operator = ">=", value = 1, Period = "30d" },
  { attribute = "sales.amount", operator = "~", value = 1 },
  { operator = ">=", value = 1 },
]
[group]
cod = "VIP"
""",
    )
    probs = short_problems_of(tmp_path)
    ops = "(one of == != >= > <= < {} !{} () !() <=> between)"
    assert probs == [
        "t.toml: shade: unknown key (known: code, name, description, active, website, "
        "priority, conditions, group, cms_blocks, cart_rules, catalog_rules, holdout)",
        't.toml: nmae: unknown key; did you mean "name"?',
        't.toml: conditions.mach: unknown key; did you mean "match"?',
        't.toml: conditions.rules[0].atribute: unknown key; did you mean "attribute"?',
        't.toml: conditions.rules[1].attribute: "sales.amout" is not an attribute; did you '
        'mean "sales.amount"? (`segbridge attributes` lists them; see docs/segments.md)',
        f't.toml: conditions.rules[2].operator: "=<" is not an operator {ops}: '
        'did you mean "<="?',
        f't.toml: conditions.rules[3].operator: "is one of" is not an operator {ops}: '
        'did you mean "()"?',
        't.toml: conditions.rules[4].operater: unknown key; did you mean "operator"?',
        "t.toml: conditions.rules[4]: needs an operator",
        "t.toml: conditions.rules[5].period: unknown key: customer.email takes no period "
        "option",
        't.toml: conditions.rules[6].Period: unknown key; did you mean "period"?',
        f't.toml: conditions.rules[7].operator: "~" is not an operator {ops}',
        "t.toml: conditions.rules[8]: needs attribute (a condition) or rules (a nested "
        "combine)",
        't.toml: group.cod: unknown key; did you mean "code"?',
        "t.toml: group.code: is required (the customer group's code)",
    ]


def test_no_message_points_outside_the_repository() -> None:
    """Messages (string literals that are not docstrings) point to docs/, never to a
    contract outside the repository ("see SPEC §3.2" did)."""
    import ast
    import re

    outside = re.compile(r"\bSPEC\b|§|\.\./shared|PITFALLS|SEMANTICS")
    offenders = []
    for f in sorted((REPO / "bridge").rglob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and outside.search(node.value)
            ):
                offenders.append(f"{f.relative_to(REPO)}:{node.lineno}: {node.value[:60]}")
    assert offenders == []


def test_personal_data_in_names_that_magento_shows_is_refused(tmp_path: Path) -> None:
    """Codes, names, descriptions, group codes, block slots and cart rule names show in
    Magento's admin and pages: an email address or a phone-like number (7+ digits) there
    is refused, naming file and key and without repeating it."""
    (tmp_path / "hero.html").write_text("<p>hi</p>", encoding="utf-8")
    write(
        tmp_path,
        "p.toml",
        """
code = "vip-0701234567"
name = "Anna's list (anna.svensson@example.se)"
description = "Call +46 70-123 45 67 first"
[conditions]
rules = [{ attribute = "sales.orders_count", operator = ">", value = 1 }]
[group]
code = "VIP 040 123 456"
[[cms_blocks]]
identifier = "hero-46701234567"
content_file = "hero.html"
[[cart_rules]]
name = "For bob@shop.example"
simple_action = "by_percent"
discount_amount = 10
""",
    )
    write(
        tmp_path,
        "ok.toml",
        """
code = "spring-2026"
name = "Spring 2026: 10% off from 2026-03-01, orders over 500"
description = "Customers with 3 or more orders since 2025-12-01T00:00:00"
priority = 2
[conditions]
rules = [{ attribute = "sales.orders_count", operator = ">", value = 1 }]
[group]
code = "Spring 2026"
[[cart_rules]]
name = "Spring 2026 -10%"
simple_action = "by_percent"
discount_amount = 10
""",
    )
    probs = short_problems_of(tmp_path)
    tail = "; it shows in Magento's admin and pages, so personal data does not belong here"
    phone = "contains a phone-like number (7 or more digits)" + tail
    email = "contains an email address" + tail
    assert probs == [
        f"p.toml: code: {phone}",
        f"p.toml: name: {email}",
        f"p.toml: description: {phone}",
        f"p.toml: group.code: {phone}",
        f"p.toml: cms_blocks[0].identifier: {phone}",
        f"p.toml: cart_rules[0].name: {email}",
    ]
    assert not any("example" in p or "0701234567" in p for p in probs)


def test_did_you_mean_for_values_with_a_fixed_set(tmp_path: Path) -> None:
    write(tmp_path, "v.toml", """
code = "v"
[conditions]
match = "All"
rules = [
  { attribute = "customer.gender", operator = "==", value = "femal" },
  { attribute = "sales.amount", aggregate = "avg", operator = ">", value = 1 },
  { attribute = "address.city", address_type = "billing", operator = "==", value = "x" },
]
[group]
code = "X"
[[cart_rules]]
name = "a"
simple_action = "by_procent"
discount_amount = 1
""")
    assert short_problems_of(tmp_path) == [
        'v.toml: conditions.match: "All" is not all or any; did you mean "all"?',
        'v.toml: conditions.rules[0].value: "femal" is not a gender (one of male, female, '
        'not_specified); did you mean "female"?',
        'v.toml: conditions.rules[1].aggregate: "avg" is not total or average; did you mean '
        '"average"?',
        'v.toml: conditions.rules[2].address_type: "billing" is not one of any, '
        'default_billing, default_shipping; did you mean "default_billing"?',
        'v.toml: cart_rules[0].simple_action: "by_procent" is not one of by_percent, by_fixed, '
        'cart_fixed, buy_x_get_y; did you mean "by_percent"?',
    ]
