"""A careless admin and an attacker against holdouts and lift: odd shares, keys below a
[table] line, odd segment codes, rejoining, shares moved up and down, a held-out member of
two segments, and lift/report on stores with little or nothing in them."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_cli import run, write_config

from bridge.config import Config
from bridge.errors import EXIT_BAD_INPUT, EXIT_OK, ConfigError
from bridge.lift.holdout import check_share, held_out, is_held_out, position
from bridge.segments.loader import load_segments

RULE = ('[conditions]\n[[conditions.rules]]\nattribute = "customer.email"\noperator = "{}"\n'
        'value = "@example.com"\n')


def _load(folder: Path, text: str) -> list:
    folder.mkdir(exist_ok=True)
    (folder / "vip.toml").write_text(text)
    return load_segments(folder, Config())


# --- the share as a careless admin writes it ----------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("-0", 0.0), ("-0.0", 0.0), ("+0.0", 0.0), ("1e-300", 1e-300), ("5e-324", 5e-324),
    ("0.5", 0.5), ("5e-1", 0.5)])
def test_edge_shares_that_are_shares(tmp_path: Path, text: str, expected: float) -> None:
    (seg,) = _load(tmp_path, f'code = "vip"\nholdout = {text}\n{RULE}')
    assert seg.holdout == expected
    assert str(seg.holdout) != "-0.0"  # "-0 %" would print in segments/lift


@pytest.mark.parametrize("text", [
    "0.5000001", "0.50000000000000011", '"0.1"', "true", "nan", "-nan", "inf", "-inf",
    "-1e-300", "[0.1]", "{ share = 0.1 }", "1979-05-27", "0x1"])
def test_shares_that_are_not(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, f'code = "vip"\nholdout = {text}\n{RULE}')
    lines = [ln for ln in str(exc.value).splitlines() if ln.strip()]
    assert len(lines) == 1 and "vip.toml: holdout: " in lines[0], lines
    assert "is not a share from 0 to 0.5" in lines[0]


def test_check_share_keeps_python_callers_honest() -> None:
    for bad in (True, "0.1", float("nan"), float("inf"), -1e-300, 0.5 + 1e-16, None):
        with pytest.raises(ValueError):
            check_share(bad)  # type: ignore[arg-type]
    assert str(check_share(-0.0)) == "0.0"


# --- a top-level key written below a [table] line -----------------------------------------


@pytest.mark.parametrize(("key", "value"), [
    ("holdout", "0.1"), ("priority", "5"), ("active", "false"), ("name", '"VIP"'),
    ("description", '"x"'), ("website", '"base"'), ("code", '"vip"')])
@pytest.mark.parametrize("table", ["conditions", "rule", "group"])
def test_a_top_level_key_inside_a_table_says_where_it_belongs(
    tmp_path: Path, key: str, value: str, table: str
) -> None:
    head = 'code = "vip"\n' if key != "code" else ""
    if table == "conditions":  # right below [conditions], before its rules
        body = RULE.replace("[conditions]\n", f"[conditions]\n{key} = {value}\n")
        where = f"conditions.{key}"
    elif table == "rule":  # the SPEC-style example: after the last condition
        body = f"{RULE}{key} = {value}\n"
        where = f"conditions.rules[0].{key}"
    else:
        body = f'{RULE}[group]\ncode = "VIP"\n' + (f"{key} = {value}\n" if key != "code"
                                                   else "")
        where = f"group.{key}"
        if key == "code":  # group has its own code: nothing to say
            (seg,) = _load(tmp_path, 'code = "vip"\n' + body)
            assert seg.group.code == "VIP"
            return
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, head + body)
    lines = [ln for ln in str(exc.value).splitlines() if f"{where}:" in ln]
    assert len(lines) == 1, str(exc.value)
    assert lines[0].endswith(
        f"{where}: unknown key here: {key} is a top-level key, and in TOML a key below a "
        "[table] line belongs to that table: write it before the first [table] line of "
        "the file"), lines[0]


def test_a_key_a_table_does_take_is_not_flagged(tmp_path: Path) -> None:
    # [[cms_blocks]] has its own "active", [[cart_rules]] its own "name": not top-level slips
    (tmp_path / "blocks").mkdir(parents=True)
    (tmp_path / "blocks" / "b.html").write_text("<p>hi</p>")
    (seg,) = _load(tmp_path, f'code = "vip"\nholdout = 0.1\n{RULE}[group]\ncode = "VIP"\n'
                   '[[cms_blocks]]\nidentifier = "hero"\ntitle = "t"\n'
                   'content_file = "blocks/b.html"\nactive = false\nstores = [0]\n')
    assert seg.holdout == 0.1 and seg.cms_blocks[0].active is False


# --- the hash rule, for codes with odd characters -----------------------------------------


def _rule(code: str, cid: int) -> float:
    """The rule exactly as written in the docs, independently of bridge.lift.holdout."""
    digest = hashlib.sha256(f"{code}:{cid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@pytest.mark.parametrize("code", ["vip", "a-b_c", "0", "x" * 64, "vip:1", "ß", "v\u0131p"])
def test_the_position_is_the_documented_rule(code: str) -> None:
    for cid in (1, 2, 10, 99_999, 2**31 - 1):
        assert position(code, cid) == _rule(code, cid)
    # a code with a colon cannot impersonate another (code, id) pair in a way that matters:
    # "vip:1" + ":2" hashes "vip:1:2", which no plain code and id produce
    assert position("vip:1", 2) != position("vip", 12)


def test_codes_with_odd_characters_are_refused_before_they_reach_the_hash(
    tmp_path: Path
) -> None:
    for code in ("VIP", "vip:1", "v ip", "vi\u0440", "", "vip\n"):
        with pytest.raises(ConfigError) as exc:
            _load(tmp_path, f"code = {json.dumps(code)}\nholdout = 0.1\n{RULE}")
        assert "code" in str(exc.value)


def test_position_refuses_what_is_not_a_code_and_an_id() -> None:
    for code, cid in (("vip", True), ("vip", "1"), ("vip", 1.0), (b"vip", 1)):
        with pytest.raises(TypeError):
            position(code, cid)  # type: ignore[arg-type]
    assert held_out("vip", [1, 1, 2, 2], 0.5) == held_out("vip", [2, 1], 0.5)


def test_raising_then_lowering_moves_only_those_whose_side_changed() -> None:
    ids = range(1, 20_001)
    at = {h: held_out("vip", ids, h) for h in (0.05, 0.1, 0.2, 0.1, 0.05)}
    assert at[0.05] < at[0.1] < at[0.2]  # strict subsets: raising only adds
    assert all(is_held_out("vip", c, 0.1) == (c in at[0.1]) for c in ids)
    # the held-out of one segment say nothing of another's
    assert held_out("vip", ids, 0.1) != held_out("vip2", ids, 0.1)


# --- the walls: the empty mappings line moved below the push ------------------------------


def test_plan_still_refuses_an_empty_mappings_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    config = write_config(tmp_path, "http://127.0.0.1:9", mappings=tmp_path / "empty")
    code, out, err = run(capsys, "--config", str(config), "plan")
    assert code == EXIT_BAD_INPUT and out == ""
    assert "no segment file (*.toml) in this folder; refused, since a wrong path" in err
    code, out, err = run(capsys, "--config", str(config), "check")
    assert "plan, push and run refuse it," in out + err


_ = (datetime, timedelta, EXIT_OK)
