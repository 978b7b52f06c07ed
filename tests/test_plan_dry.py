"""``plan`` writes nothing, in Magento or in the store, with ``--as-of`` too.

``plan --as-of 2028-06-01`` used to record the 2028 memberships and their history (and
an evaluation); the next plain ``plan`` then wanted hundreds of changes instead of the
few it had wanted before. Every table of the store is dumped before and after.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select
from test_push_kit import Scenario

from bridge.cli import main
from bridge.errors import EXIT_OK

pytestmark = pytest.mark.db


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    md = MetaData()
    md.reflect(engine)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, table in sorted(md.tables.items()):
            rows = conn.execute(select(table)).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out


RECENT_TOML = """\
code = "recent"
name = "Bought in the last year"
priority = 10

[conditions]
rules = [{ attribute = "sales.days_since_last_order", operator = "<=", value = 365 }]

[group]
code = "Recent"
"""


@pytest.fixture
def scenario(tmp_path: Path, db_url: str) -> Iterator[Scenario]:
    """The push kit's shop, with a segment whose members change with the date."""
    sc = Scenario(tmp_path / "s", db_url)
    (sc.mappings / "recent.toml").write_text(RECENT_TOML)
    try:
        yield sc
    finally:
        sc.close()


def _plan(sc: Scenario, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--config", str(sc.config_path), *args])
    return code, out.getvalue()


def test_plan_as_of_records_nothing(scenario: Scenario) -> None:
    sc = scenario
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    sc.sync_evaluate()
    code, out = _plan(sc, "--json", "plan")
    assert code == EXIT_OK
    plain = json.loads(out)
    before = dump(sc.engine)
    assert before["segment_members"] and before["segment_history"]
    sc.sandbox.stats.reset()

    code, out = _plan(sc, "--json", "plan", "--as-of", "2028-06-01")
    assert code == EXIT_OK, out
    future = json.loads(out)
    assert dump(sc.engine) == before  # memberships, history, evaluations, runs, lock: all
    assert sc.writes() == 0
    # 2028 is another plan (the recent buyers have lapsed by then) ...
    assert future["groups"] != plain["groups"]
    # ... and the next plain plan is the one before it
    code, out = _plan(sc, "--json", "plan")
    assert code == EXIT_OK
    assert json.loads(out) == plain
    assert dump(sc.engine) == before


def test_plan_as_of_shows_the_evaluation_it_would_record(scenario: Scenario) -> None:
    """The dry plan for a date is the plan an evaluation at that date would give."""
    from datetime import datetime

    from bridge.segments.evaluate import evaluate

    sc = scenario
    sc.sync_evaluate()
    code, out = _plan(sc, "--json", "plan", "--as-of", "2027-03-01")
    assert code == EXIT_OK, out
    dry = json.loads(out)
    evaluate(sc.engine, sc.segments(), datetime(2027, 3, 1), config=sc.config)
    code, out = _plan(sc, "--json", "plan")
    assert code == EXIT_OK
    assert json.loads(out) == dry


def test_plan_run_and_resync_speak_in_sentences(
    scenario: Scenario, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``None``, no dicts: ``plan`` tables, and one summary line each of the sync, the
    evaluation and the push of ``run``/``resync`` (``run`` printed only "Planned 0
    change(s)"); ``--adopt`` reaches the push."""
    import bridge.push.command as command

    sc = scenario
    sc.sync_evaluate()
    code = main(["--config", str(sc.config_path), "plan"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "VIP free shipping" in out and "None" not in out and "{" not in out, out

    adopted: list[bool] = []
    real = command.push_once

    def spy(*args: Any, **kw: Any) -> Any:
        adopted.append(kw.get("adopt", False))
        return real(*args, **kw)

    monkeypatch.setattr(command, "push_once", spy)
    for argv, adopt in ((["run"], False), (["resync", "--adopt"], True),
                        (["run", "--adopt"], True)):
        code = main(["--config", str(sc.config_path), *argv])
        out = capsys.readouterr().out
        assert code == EXIT_OK, out
        lines = out.strip().splitlines()
        assert lines[0].startswith(f"{argv[0].capitalize()} ") and lines[0].endswith(": ok."), out
        assert lines[1].startswith("Sync: ") and " record(s) stored (groups " in lines[1], out
        assert lines[2].startswith("Evaluate: 3 segment(s), ") and " joined, -" in lines[2], out
        assert lines[3].startswith("Push: ") and " change(s) planned, " in lines[3], out
        assert "None" not in out and "{" not in out, out
        assert adopted[-1] is adopt
