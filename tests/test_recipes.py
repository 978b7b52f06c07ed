"""The recipes in mappings/ (docs/recipes.md): one file per use case of the merchant's
playbook, each valid on its own and together, within the push rules, described by the
docs as they are, and doing on a shop what the docs say (the B2B recipe moves the
merchant's Wholesale customers into its own group and back, and nobody else)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config import load_config
from bridge.demo import write_demo_config
from bridge.segments.loader import check_mappings, load_segments

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "mappings"

# the use cases of the merchant's playbook -> the recipe file
USE_CASES = {
    "cart value booster": "cart_booster",
    "VIP loyalty": "vip",
    "replenishment": "replenishment",
    "B2B nudges": "b2b_nudges",
    "seasonal geo-targeting": "nordic",
    "new vs returning": "new_customers",
    "win-back": "lapsed",
    "birthday month": "birthday_month",
}


@pytest.fixture
def demo_config(tmp_path: Path) -> Any:
    """The config `segbridge demo` writes, for the repository's mappings."""
    return load_config(write_demo_config(tmp_path, "http://127.0.0.1:9", MAPPINGS))


@pytest.mark.parametrize("use_case", USE_CASES, ids=list(USE_CASES.values()))
def test_each_recipe_checks_on_its_own(use_case: str, tmp_path: Path, demo_config: Any) -> None:
    """Alone in a mappings folder (with the blocks' HTML), each recipe has no problem and
    pushes something: a group with a CMS block or a cart rule."""
    code = USE_CASES[use_case]
    folder = tmp_path / "alone"
    shutil.copytree(MAPPINGS / "blocks", folder / "blocks")
    shutil.copy(MAPPINGS / f"{code}.toml", folder)
    assert check_mappings(demo_config, folder) == ([], [])
    (seg,) = load_segments(folder, demo_config)
    assert seg.code == code and seg.active
    assert seg.group is not None and (seg.cms_blocks or seg.cart_rules), code
    assert all(b.content.strip() for b in seg.cms_blocks)


def test_the_folder_checks_as_the_demo_runs_it(tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, "http://127.0.0.1:9", MAPPINGS)
    done = subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), "check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(": ok")


def test_the_recipes_keep_the_push_rules(demo_config: Any) -> None:
    """Distinct priorities and groups; no group is movable; the B2B recipe targets the
    merchant's Wholesale customers without naming Wholesale as its group, and outranks
    every other recipe so that a Wholesale customer never lands in a retail group."""
    segments = load_segments(MAPPINGS, demo_config)
    grouped = [s for s in segments if s.active and s.group]
    assert len({s.priority for s in grouped}) == len(grouped)
    codes = [s.group.code.casefold() for s in grouped if s.group]
    assert len(set(codes)) == len(codes)
    movable = {g.casefold() for g in demo_config.push.movable_groups}
    assert "wholesale" in movable and not movable & set(codes)
    b2b = next(s for s in segments if s.code == "b2b_nudges")
    assert b2b.group is not None and b2b.group.code == "B2B" and not b2b.group.adopt
    rule = b2b.conditions.rules[0]
    assert (rule.attribute, rule.operator, rule.value) == ("customer.group", "==", "Wholesale")
    assert b2b.priority > max(s.priority for s in grouped if s is not b2b)


def test_the_recipe_table_of_the_docs_is_the_files(demo_config: Any) -> None:
    """docs/recipes.md's table names each recipe's file, group and priority as they are."""
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([^|]+) \| `(\w+)\.toml` \| [\d,]+ \| [\d,]+ \| ([^,|]+), (\d+) \|",
                      text, re.M)
    by_code = {s.code: s for s in load_segments(MAPPINGS, demo_config)}
    assert {code for _, code, _, _ in rows} == set(USE_CASES.values())
    for use_case, code, group, priority in rows:
        seg = by_code[code]
        assert USE_CASES[use_case.strip()] == code
        assert seg.group is not None and seg.group.code == group.strip(), code
        assert seg.priority == int(priority), code


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Any, Path, dict[str, str]]]:
    from bridge.sandbox.server import SandboxServer

    with SandboxServer(customers=300, seed=3) as sandbox:
        shutil.copytree(MAPPINGS, tmp_path / "mappings")
        config = write_demo_config(tmp_path, sandbox.base_url, tmp_path / "mappings")
        env = {**os.environ, "SEGBRIDGE_DEMO_TOKEN": sandbox.token}
        yield sandbox, config, env


def _run(config: Path, env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), "run"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_b2b_moves_the_wholesale_customers_into_its_group_and_home_again(
    shop: tuple[Any, Path, dict[str, str]],
) -> None:
    sandbox, config, env = shop
    groups = {g.id: g.code for g in sandbox.shop.groups.values()}
    before = {c.id: groups[c.group_id] for c in sandbox.shop.customers.values()}
    wholesale = {cid for cid, g in before.items() if g == "Wholesale"}
    assert len(wholesale) >= 5

    _run(config, env)
    groups = {g.id: g.code for g in sandbox.shop.groups.values()}
    after = {c.id: groups[c.group_id] for c in sandbox.shop.customers.values()}
    assert {cid for cid, g in after.items() if g == "B2B"} == wholesale
    assert not any(g == "Wholesale" for g in after.values())
    retailers = {cid for cid, g in before.items() if g == "Retailer"}
    assert all(after[cid] == "Retailer" for cid in retailers)  # not movable: never moved
    moved_generals = {cid for cid, g in before.items() if g == "General" and after[cid] != g}
    assert moved_generals and not any(after[cid] == "B2B" for cid in moved_generals)

    # retired as docs/recipes.md says (active = false, Wholesale no longer movable, in one
    # change): they go home to Wholesale, all of them, and nobody else moves
    path = config.parent / "mappings" / "b2b_nudges.toml"
    text = path.read_text()
    path.write_text(text.replace("priority = 200\n", "priority = 200\nactive = false\n"))
    config.write_text(config.read_text().replace('["General", "Wholesale"]', '["General"]'))
    _run(config, env)
    final = {c.id: groups.get(c.group_id) for c in sandbox.shop.customers.values()}
    assert {cid for cid, g in final.items() if g == "Wholesale"} == wholesale
    assert all(final[cid] == after[cid] for cid in after if cid not in wholesale)


def test_every_recipe_has_members_in_the_demo_shop(
    shop: tuple[Any, Path, dict[str, str]],
) -> None:
    """On a generated shop each recipe finds someone (so the demo shows each at work)."""
    import json

    _sandbox, config, env = shop
    _run(config, env)
    done = subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), "--json",
                           "segments"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    members = {s["code"]: s["members"] for s in json.loads(done.stdout)}
    assert all(members[code] > 0 for code in USE_CASES.values()), members
    assert tomllib.loads(config.read_text())["push"]["movable_groups"] == ["General", "Wholesale"]
