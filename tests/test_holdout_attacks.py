"""A careless admin and an attacker against holdouts and lift: odd shares, keys below a
[table] line, odd segment codes, rejoining, shares moved up and down, a held-out member of
two segments, and lift/report on stores with little or nothing in them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from test_cli import run, write_config
from test_holdout_evaluate import (
    FANS,
    GENERAL,
    VIP,
    _apply,
    _plan,
    _segments,
    _shop,
    _target,
)

from bridge import report
from bridge.config import Config
from bridge.errors import EXIT_BAD_INPUT, EXIT_OK, ConfigError
from bridge.lift.command import segment_lift, share_changed_at
from bridge.lift.holdout import check_share, held_out, is_held_out, position
from bridge.segments.evaluate import evaluate
from bridge.segments.loader import load_segments
from bridge.store.engine import open_store
from bridge.store.segment_tables import SegmentRecord

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
    elif table == "rule":  # the contract's example: after the last condition
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



# --- lift's arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["100001d", "999999999d", "99999999999999d"])
def test_a_window_beyond_the_calendar_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    window: str,
) -> None:
    """It was a traceback: OverflowError from timedelta, or from joined + window."""

    monkeypatch.chdir(tmp_path)
    mappings = tmp_path / "m"
    mappings.mkdir()
    (mappings / "vip.toml").write_text(f'code = "vip"\nholdout = 0.2\n{RULE}')
    config = write_config(tmp_path, "http://127.0.0.1:9", mappings=mappings)
    engine = open_store("sqlite:///store.db")
    try:
        _shop(engine)
        evaluate(engine, [s for s in _segments(0.2) if s.code == "vip"],
                 datetime(2026, 11, 1), config=Config())
    finally:
        engine.dispose()
    code, out, err = run(capsys, "--config", str(config), "lift", "vip", "--window", window)
    assert code == EXIT_BAD_INPUT and out == ""
    assert err.strip() == f"--window: {window!r} is longer than 100000 days"
    code, out, err = run(capsys, "--config", str(config), "lift", "vip", "--window", "100000d")
    assert code == EXIT_OK, err
    assert "within 100000 days of joining" in out



# --- on every database: tiny shares, two held-out segments, no flapping --------------------


@pytest.mark.db
@pytest.mark.parametrize("share", [1e-300, 5e-324, 0.1, 0.5])
def test_a_share_survives_the_database_and_does_not_churn(engine: Engine, share: float) -> None:
    """The share is stored as a double and read back to decide whether it changed: a
    database that rounded a tiny one to 0 would 'change' it on every evaluation."""
    _shop(engine)
    as_of = datetime(2026, 3, 15, 12)
    for day in range(3):
        evaluate(engine, _segments(share), as_of + timedelta(days=day), config=Config())
    with engine.connect() as conn:
        rec = conn.execute(select(SegmentRecord.holdout, SegmentRecord.holdout_since)
                           .where(SegmentRecord.code == "vip")).one()
    assert (rec.holdout, rec.holdout_since) == (share, as_of)


@pytest.mark.db
def test_a_member_held_out_of_both_segments_goes_home(engine: Engine) -> None:
    _shop(engine)
    segments = [replace(s, holdout=0.5) for s in _segments(0.5)]  # fans held out too
    evaluate(engine, segments, datetime(2026, 3, 15, 12), config=Config())
    target = _target(_plan(engine))
    ids = range(1, 401)
    vip_out, fans_out = held_out("vip", ids, 0.5), held_out("fans", ids, 0.5)
    both = {c for c in vip_out & fans_out if c % 2 == 0}
    assert both and all(c not in target for c in both)  # home: General, where they are
    for cid in ids:
        if cid not in vip_out:
            assert target[cid] == VIP
        elif cid % 2 == 0 and cid not in fans_out:
            assert target[cid] == FANS
        else:
            assert target.get(cid, GENERAL) == GENERAL


@pytest.mark.db
def test_raising_and_lowering_the_share_never_flaps(engine: Engine) -> None:
    """After each change and its push, evaluating again at the same share plans nothing."""
    _shop(engine)
    as_of = datetime(2026, 3, 15, 12)
    moved: list[int] = []
    for day, share in enumerate((0.1, 0.3, 0.3, 0.05, 0.05, 0.0, 0.2)):
        evaluate(engine, _segments(share), as_of + timedelta(days=day), config=Config())
        plan = _plan(engine)
        moved.append(len(plan.changes))
        _apply(engine, plan)
        evaluate(engine, _segments(share), as_of + timedelta(days=day, hours=1),
                 config=Config())
        assert _plan(engine).changes == [], (day, share)
    ids = range(1, 401)
    assert moved[2] == moved[4] == 0  # the same share again: nobody moves
    # raising 0.1 -> 0.3 moves exactly the customers between the two positions
    assert moved[1] == len(held_out("vip", ids, 0.3) - held_out("vip", ids, 0.1))


@pytest.mark.db
def test_lift_says_when_the_share_changed_on_every_database(engine: Engine) -> None:
    _shop(engine)
    as_of = datetime(2026, 3, 15, 12)
    evaluate(engine, _segments(0.0), as_of, config=Config())
    evaluate(engine, _segments(0.2), as_of + timedelta(days=1), config=Config())
    with engine.connect() as conn:
        lift = segment_lift(conn, "vip")
        assert lift.since is None  # the default: since the first evaluation
        assert lift.treated.members + lift.held_out.members == 400
        assert share_changed_at(conn, "vip", None, lift.as_of) == as_of + timedelta(days=1)
        later = segment_lift(conn, "vip", since=as_of + timedelta(days=1))
        assert later.treated.members + later.held_out.members == 0
        assert share_changed_at(conn, "vip", as_of + timedelta(days=1), lift.as_of) is None


@pytest.mark.db
def test_the_report_with_a_holdout_segment_of_no_members(engine: Engine) -> None:
    evaluate(engine, _segments(0.2), datetime(2026, 3, 15, 12), config=Config())  # no shop
    data = report.collect(engine)
    assert [(lift.segment, lift.treated.members, lift.held_out.members)
            for lift in data.lifts] == [("vip", 0, 0)]
    page = report.render(data)
    section = page[page.index('<section id="lift">'):]
    section = section[:section.index("</section>")]
    assert "vip: too few to judge (0 treated and 0 held-out members" in section
    assert "nan" not in section.lower().replace("nanos", "")


def test_an_unknown_code_with_a_line_break_stays_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mappings = tmp_path / "m"
    mappings.mkdir()
    (mappings / "vip.toml").write_text(f'code = "vip"\nholdout = 0.2\n{RULE}')
    config = write_config(tmp_path, "http://127.0.0.1:9", mappings=mappings)
    open_store("sqlite:///store.db").dispose()
    code, out, err = run(capsys, "--config", str(config), "lift", "v\x1b[31mX\nY")
    assert code == EXIT_BAD_INPUT and out == ""
    assert err.strip() == "v\\x1b[31mX\\x0aY: no segment has this code"


@pytest.mark.parametrize("stored", [0.7, -0.1])
def test_a_share_written_into_the_store_by_hand_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    stored: float,
) -> None:
    """It was a traceback (check_share's ValueError); evaluating puts the file's back."""
    monkeypatch.chdir(tmp_path)
    mappings = tmp_path / "m"
    mappings.mkdir()
    (mappings / "vip.toml").write_text(f'code = "vip"\nholdout = 0.2\n{RULE}')
    config = str(write_config(tmp_path, "http://127.0.0.1:9", mappings=mappings))
    engine = open_store("sqlite:///store.db")
    try:
        _shop(engine)
        evaluate(engine, [s for s in _segments(0.2) if s.code == "vip"],
                 datetime(2026, 11, 1), config=Config())
        with engine.begin() as conn:
            conn.execute(update(SegmentRecord).values(holdout=stored))
    finally:
        engine.dispose()
    code, out, err = run(capsys, "--config", config, "lift", "vip")
    assert code == EXIT_BAD_INPUT and out == ""
    assert err.strip().startswith(f"vip: the store holds holdout = {stored!r}, not a share "
                                  "from 0 to 0.5: run `segbridge evaluate` to take it from ")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "--config", config, "evaluate", "--as-of", "2026-11-02")
    assert code == EXIT_OK, err
    code, out, err = run(capsys, "--config", config, "--json", "lift", "vip")
    assert code == EXIT_OK and json.loads(out)["holdout"] == 0.2
