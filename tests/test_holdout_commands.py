"""The `holdout` key of segment files, and held-out members as members/history/explain and
lift show them, through the command line."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from test_cli import run, write_config

from bridge.config import Config
from bridge.errors import EXIT_BAD_INPUT, EXIT_OK
from bridge.lift.holdout import held_out
from bridge.segments.loader import load_segments
from bridge.segments.testing import insert_rows
from bridge.store import models as m
from bridge.store.engine import open_store

RULE = '[conditions]\n[[conditions.rules]]\nattribute = "customer.email"\noperator = "{}"\n' \
       'value = "@example.com"\n'
IDS = range(1, 41)


def _file(folder: Path, holdout: str | None) -> Path:
    folder.mkdir(exist_ok=True)
    line = "" if holdout is None else f"holdout = {holdout}\n"
    (folder / "vip.toml").write_text(f'code = "vip"\n{line}{RULE}[group]\ncode = "VIP"\n')
    return folder


@pytest.mark.parametrize(("text", "expected"), [
    (None, 0.0), ("0", 0.0), ("0.1", 0.1), ("0.5", 0.5), ("0.25", 0.25)])
def test_the_key_is_read(tmp_path: Path, text: str | None, expected: float) -> None:
    (seg,) = load_segments(_file(tmp_path / "mappings", text), Config())
    assert seg.holdout == expected


@pytest.mark.parametrize("text", ["0.6", "-0.1", '"0.1"', "true", "nan", "inf", "1"])
def test_a_bad_share_is_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    mappings = _file(tmp_path / "mappings", text)
    config = write_config(tmp_path, "http://127.0.0.1:9", mappings=mappings)
    code, out, err = run(capsys, "--config", str(config), "check")
    assert code == EXIT_BAD_INPUT
    lines = [ln for ln in err.splitlines() if "holdout" in ln]
    assert len(lines) == 1, err
    assert "vip.toml: holdout: " in lines[0]
    assert "is not a share from 0 to 0.5" in lines[0]


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    engine = open_store("sqlite:///store.db")
    try:
        with engine.begin() as conn:
            insert_rows(conn, m.Website, [dict(id=1, code="base", name="Main")])
            insert_rows(conn, m.Customer, [
                dict(id=cid, website_id=1, group_id=1, email=f"c{cid}@example.com")
                for cid in IDS])
    finally:
        engine.dispose()
    return tmp_path


def test_members_history_explain_and_lift_show_the_held_out(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(shop, "http://127.0.0.1:9", mappings=_file(shop / "m", None)))
    held = held_out("vip", IDS, 0.5)
    assert 10 < len(held) < 30
    code, _, err = run(capsys, "--config", config, "evaluate", "--as-of", "2026-11-01")
    assert code == EXIT_OK, err
    # the file says 0.5 now, the store still has the last evaluation's 0
    _file(shop / "m", "0.5")
    code, out, err = run(capsys, "--config", config, "lift", "vip")
    assert code == EXIT_BAD_INPUT and out == ""
    assert "vip: holdout = 0.5 in " in err and "is not applied yet: run `segbridge evaluate`" \
        in err
    code, _, err = run(capsys, "--config", config, "evaluate", "--as-of", "2026-11-02")
    assert code == EXIT_OK, err

    code, out, _ = run(capsys, "--config", config, "--json", "segments")
    assert [(r["code"], r["holdout"]) for r in json.loads(out)] == [("vip", 0.5)]
    code, out, _ = run(capsys, "--config", config, "segments")
    assert "50 %" in out
    code, out, _ = run(capsys, "--config", config, "--json", "members", "vip")
    rows = json.loads(out)
    assert {r["customer_id"] for r in rows if r["holdout"]} == held
    assert {r["customer_id"] for r in rows} == set(IDS)  # held-out members are members
    code, out, _ = run(capsys, "--config", config, "members", "vip", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert list(table[0]) == ["customer_id", "email", "website", "joined_at", "holdout"]
    assert {int(r["customer_id"]) for r in table if r["holdout"] == "true"} == held
    assert {r["holdout"] for r in table} == {"true", "false"}
    code, out, _ = run(capsys, "--config", config, "members", "vip")
    lines = out.splitlines()
    assert lines[0].split() == ["customer_id", "email", "website", "joined_at", "holdout"]
    assert {int(ln.split()[0]) for ln in lines[1:] if ln.endswith("held out")} == held

    # history: joined on Nov 1 when nobody was held out; the share's change is no event
    code, out, _ = run(capsys, "--config", config, "--json", "history", "vip")
    hist = json.loads(out)
    assert len(hist) == len(IDS) and not any(h["holdout"] for h in hist)
    code, out, _ = run(capsys, "--config", config, "history", "vip")
    assert out.splitlines()[0].split()[-1] == "holdout"

    one, other = min(held), min(set(IDS) - held)
    code, out, _ = run(capsys, "--config", config, "explain", "vip", str(one),
                       "--as-of", "2026-11-02")
    assert "IS a member" in out
    assert "Held out (holdout 0.5): a member, but the push treats them as not in vip" in out
    assert "Stored membership: member since 2026-11-01 00:00:00, held out" in out
    code, out, _ = run(capsys, "--config", config, "--json", "explain", "vip", str(other),
                       "--as-of", "2026-11-02")
    data = json.loads(out)
    assert (data["member"], data["holdout"], data["stored_holdout"]) == (True, False, False)
    code, out, _ = run(capsys, "--config", config, "--json", "explain", "vip", str(one),
                       "--as-of", "2026-11-02")
    data = json.loads(out)
    assert (data["holdout"], data["stored_holdout"]) == (True, True)

    # leaving keeps the side in the history
    engine = open_store("sqlite:///store.db")
    try:
        with engine.begin() as conn:
            conn.execute(m.Customer.__table__.update().values(email_ci="gone@else.org"))
    finally:
        engine.dispose()
    code, _, err = run(capsys, "--config", config, "evaluate", "--as-of", "2026-11-03")
    assert code == EXIT_OK, err
    code, out, _ = run(capsys, "--config", config, "--json", "history", "vip", "--since",
                       "2026-11-03")
    left = json.loads(out)
    assert {h["event"] for h in left} == {"left"}
    assert {h["customer_id"] for h in left if h["holdout"]} == held
    # lift, by default: every member since the first evaluation (Nov 1), sided by the
    # share of the last one, and one line saying the share changed after they joined
    code, out, err = run(capsys, "--config", config, "--json", "lift", "vip")
    assert code == EXIT_OK, err
    lift = json.loads(out)
    assert lift["since"] is None and lift["too_few"]
    assert (lift["treated"]["members"], lift["held_out"]["members"]) == (
        len(IDS) - len(held), len(held))
    assert lift["share_changed_at"] == "2026-11-02 00:00:00"
    assert datetime.fromisoformat(lift["as_of"]) == datetime(2026, 11, 3)
    code, out, err = run(capsys, "--config", config, "lift", "vip")
    assert code == EXIT_OK, err
    lines = out.splitlines()
    assert "every member who joined since the first evaluation" in lines[0]
    notes = [ln for ln in lines if ln.startswith("note: ")]
    assert notes == [lines[1]] and "holds since 2026-11-02 00:00:00 UTC" in notes[0]
    assert "`--since 2026-11-02T00:00:00` compares only members who had one" in notes[0]
    # the suggested --since: only those who joined under the current share (nobody here)
    code, out, err = run(capsys, "--config", config, "lift", "vip", "--since",
                         "2026-11-02T00:00:00")
    assert code == EXIT_OK, err
    assert "note: " not in out and "members who joined since 2026-11-02 00:00:00" in out
    code, out, err = run(capsys, "--config", config, "--json", "lift", "vip", "--since",
                         "2026-11-02T00:00:00")
    lift = json.loads(out)
    assert lift["treated"]["members"] + lift["held_out"]["members"] == 0
    assert lift["share_changed_at"] is None
