"""`segbridge demo` measures one segment with a holdout over a simulated month."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import ROOT, run

from bridge.demo import LIFT_HOLDOUT, LIFT_SEGMENT
from bridge.errors import EXIT_OK
from bridge.lift.holdout import held_out


def test_the_demo_prints_the_lift_of_its_held_out_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.demo import TOKEN_ENV

    monkeypatch.setenv(TOKEN_ENV, "")
    monkeypatch.chdir(ROOT)
    folder = tmp_path / "demo"
    code, out, err = run(capsys, "demo", "--dir", str(folder))
    assert code == EXIT_OK, out[-3000:] + err[-3000:]
    assert f"Lift of {LIFT_SEGMENT} (holdout {LIFT_HOLDOUT * 100:g} %)" in out
    assert "Played 30 day(s)" in out
    assert f"{LIFT_SEGMENT}: " in out and " points conversion (95 % CI " in out
    # the example files are untouched; the demo's copy has the holdout
    assert "holdout" not in (ROOT / "mappings" / f"{LIFT_SEGMENT}.toml").read_text()
    assert f"holdout = {LIFT_HOLDOUT}" in (folder / "mappings" / f"{LIFT_SEGMENT}.toml"
                                           ).read_text()
    config = str(folder / "segbridge.toml")
    code, out, _ = run(capsys, "--config", config, "--json", "members", LIFT_SEGMENT)
    members = json.loads(out)
    ids = [m["customer_id"] for m in members]
    assert {m["customer_id"] for m in members if m["holdout"]} == held_out(
        LIFT_SEGMENT, ids, LIFT_HOLDOUT)
    code, out, _ = run(capsys, "--config", config, "--json", "lift", LIFT_SEGMENT)
    lift = json.loads(out)
    t, h = lift["treated"], lift["held_out"]
    assert t["members"] + h["members"] == len(members) > 500
    assert not lift["too_few"]
    assert h["members"] == len(held_out(LIFT_SEGMENT, ids, LIFT_HOLDOUT))
    # a month with a planted 50 % more orders a day for the treated side's group
    assert t["conversion"] > h["conversion"] and t["orders"] > 0 and h["orders"] > 0
