"""`segbridge lift`: the printed table and --json against the figures computed from the
store, the refusals in one line, and "too few to judge"."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from test_cli import run, write_config

from bridge.errors import EXIT_BAD_INPUT, EXIT_OK
from bridge.lift.command import lift_json, segment_lift
from bridge.lift.compute import compute_lift
from bridge.lift.holdout import is_held_out
from bridge.segments.testing import insert_rows
from bridge.store.engine import open_store
from bridge.store.models import Order
from bridge.store.segment_tables import SegmentHistory, SegmentRecord

T0 = datetime(2026, 11, 1)
AS_OF = datetime(2026, 12, 1)
VIP = 'code = "vip"\nname = "VIP"\n{holdout}\n[conditions]\nmatch = "all"\n' \
      '[[conditions.rules]]\nattribute = "sales.orders_count"\noperator = ">="\nvalue = 1\n'


def _mappings(folder: Path, holdout: str = "") -> Path:
    mappings = folder / "mappings"
    mappings.mkdir(exist_ok=True)
    for code in ("vip", "plain"):
        (mappings / f"{code}.toml").write_text(
            VIP.replace('"vip"', f'"{code}"').format(holdout=holdout if code == "vip" else ""))
    return mappings


def _store(engine: Engine, members: int, share: float = 0.2, treated_rate: float = 0.3,
           held_rate: float = 0.2, code: str = "vip", offset: int = 0) -> None:
    """``members`` customers (ids from ``offset`` + 1) joined at T0; orders planted at
    each side's rate; ``offset`` apart, two segments share a store."""
    r = random.Random(7)
    ids = range(offset + 1, offset + members + 1)
    with engine.begin() as conn:
        insert_rows(conn, SegmentRecord, [{
            "code": code, "name": code, "active": True, "priority": 0, "members": members,
            "definition_hash": "x", "first_seen_at": T0, "defined_at": T0,
            "last_as_of": AS_OF, "holdout": share, "holdout_since": T0}])
        insert_rows(conn, SegmentHistory, [
            {"segment_code": code, "customer_id": cid, "event": "joined", "at": T0,
             "holdout": is_held_out(code, cid, share)} for cid in ids])
        orders: list[dict[str, object]] = []
        for cid in ids:
            rate = held_rate if is_held_out(code, cid, share) else treated_rate
            while r.random() < rate:
                orders.append({"id": offset * 100 + len(orders) + 1, "customer_id": cid,
                               "status": "complete",
                               "created_at": T0 + timedelta(days=r.randrange(1, 29)),
                               "base_grand_total": Decimal(r.randrange(2000, 20000)) / 100})
        insert_rows(conn, Order, orders)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)

    def make(members: int, holdout: str = "", **kw: float) -> Path:
        config = write_config(tmp_path, "http://127.0.0.1:9", mappings=_mappings(tmp_path,
                                                                                  holdout))
        engine = open_store("sqlite:///store.db")
        try:
            _store(engine, members, **kw)
        finally:
            engine.dispose()
        return config

    return make


def test_the_table_and_the_json_are_the_store_figures(setup, capsys) -> None:
    config = setup(3000)
    code, out, err = run(capsys, "--config", str(config), "lift", "vip")
    assert code == EXIT_OK, err
    engine = open_store("sqlite:///store.db")
    with engine.connect() as conn:
        lift = compute_lift(conn, "vip", 0.2)  # the default: since the first evaluation
    engine.dispose()
    lines = out.splitlines()
    assert lines[0].startswith("Lift of vip (holdout 20 %): every member who joined since the "
                               "first evaluation, their orders within 30 days of joining")
    assert not any(ln.startswith("note: ") for ln in lines)  # the share never changed
    row = {ln[:20].strip(): ln[20:].split() for ln in lines[3:12]}
    t, h = lift.treated, lift.held_out
    assert row["members"] == [f"{t.members:,}", f"{h.members:,}"]
    assert row["buyers"] == [f"{t.buyers:,}", f"{h.buyers:,}"]
    assert row["conversion"][:4] == [f"{t.conversion * 100:.2f}", "%",
                                     f"{h.conversion * 100:.2f}", "%"]
    c = lift.conversion
    assert f"{c.absolute * 100:+.1f} points ({c.interval.low * 100:+.1f} to " \
           f"{c.interval.high * 100:+.1f})" in out
    assert lift.verdict() in out and "too few" not in out
    assert "revenue per member (95 % CI" in out
    # a planted 50 % more buyers on 3000 members: found, p far below 0.001
    assert c.interval.low > 0 and "p < 0.001" in lift.verdict()
    code, out, _ = run(capsys, "--config", str(config), "--json", "lift", "vip")
    assert code == EXIT_OK
    data = json.loads(out)
    assert data == json.loads(json.dumps(lift_json(lift) | {"share_changed_at": None}))
    assert data["treated"]["members"] + data["held_out"]["members"] == 3000
    assert data["differences"]["conversion"]["low"] > 0


def test_since_and_window_narrow_what_is_counted(setup, capsys) -> None:
    config = setup(600)
    code, out, _ = run(capsys, "--config", str(config), "--json", "lift", "vip",
                       "--window", "7d")
    assert code == EXIT_OK
    week = json.loads(out)
    code, out, _ = run(capsys, "--config", str(config), "--json", "lift", "vip")
    month = json.loads(out)
    assert week["window_days"] == 7 and month["window_days"] == 30
    assert week["treated"]["orders"] < month["treated"]["orders"]
    code, out, _ = run(capsys, "--config", str(config), "--json", "lift", "vip",
                       "--since", "2026-11-02")
    assert json.loads(out)["treated"]["members"] == 0  # everyone joined on Nov 1


def test_too_few_members_are_shown_not_judged(setup, capsys) -> None:
    config = setup(100)  # about 20 held out
    code, out, _ = run(capsys, "--config", str(config), "lift", "vip")
    assert code == EXIT_OK
    assert "Too few to judge: fewer than 30 members on a side" in out
    assert "vip: too few to judge (" in out
    assert "revenue per member (95 % CI" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (["lift", "plain"], "plain: the segment has no holdout, so there is nobody to compare "
                        "with: set holdout (0 to 0.5) in "),
    (["lift", "nosuch"], "nosuch: no segment has this code"),
    (["lift", "vip", "--window", "3w"], "--window: '3w' is not a relative age such as \"30d\""),
    (["lift", "vip", "--window", "0d"], "--window: '0d' is not a positive number of days"),
])
def test_refusals_are_one_line_exit_2(setup, capsys, argv, message) -> None:
    config = setup(50)
    engine = open_store("sqlite:///store.db")
    try:
        with engine.begin() as conn:  # "plain" evaluated, without a holdout
            insert_rows(conn, SegmentRecord, [{
                "code": "plain", "name": "plain", "active": True, "priority": 0,
                "members": 0, "definition_hash": "x", "first_seen_at": T0,
                "defined_at": T0, "last_as_of": AS_OF}])
    finally:
        engine.dispose()
    code, out, err = run(capsys, "--config", str(config), *argv)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


@pytest.mark.db
def test_segment_lift_on_every_database(engine: Engine) -> None:
    _store(engine, 400)
    with engine.connect() as conn:
        lift = segment_lift(conn, "vip")
    assert lift.since is None and lift.holdout == 0.2  # since the first evaluation
    assert lift.treated.members + lift.held_out.members == 400
    expected = sum(is_held_out("vip", cid, 0.2) for cid in range(1, 401))
    assert lift.held_out.members == expected
