"""The command line end to end, through ``bridge.cli.main`` (and once as a process).

``check`` (offline and ``--online`` against the sandbox), the exit codes of docs/commands.md,
``--json`` output that parses, bad mappings refused before anything is read from
Magento (also by ``plan`` and ``push``), ``status`` with every one of its sections,
and ``demo`` from a clean directory.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from bridge.cli import main
from bridge.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "SEGBRIDGE_CLI_TEST_TOKEN"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from bridge.sandbox.server import SandboxServer

    with SandboxServer(customers=30, seed=2) as server:
        yield server


def write_config(folder: Path, base_url: str, *, store: str = "sqlite:///store.db",
                 extra: str = "", mappings: Path | None = None) -> Path:
    """A config for ``base_url``; the example mappings copied beside it unless given."""
    if mappings is None:
        mappings = folder / "mappings"
        if not mappings.exists():
            shutil.copytree(ROOT / "mappings", mappings)
    path = folder / "segbridge.toml"
    path.write_text(
        f'[magento]\nbase_url = "{base_url}"\n'
        f'[magento.auth]\nmethod = "token"\ntoken_env = "{TOKEN_ENV}"\n'
        f'[store]\nurl = "{store}"\n'
        f'[mappings]\ndir = "{mappings.as_posix()}"\n{extra}'
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> str:
    monkeypatch.setenv(TOKEN_ENV, sandbox.token)
    return str(sandbox.token)


# --- check ---------------------------------------------------------------------------


def test_check_a_good_config_and_mappings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any, token: str
) -> None:
    config = write_config(tmp_path, sandbox.base_url)
    sandbox.stats.reset()
    code, out, err = run(capsys, "--config", str(config), "check")
    assert code == EXIT_OK, err
    assert f"{config}: ok" in out
    code, out, err = run(capsys, "--config", str(config), "--json", "check")
    assert code == EXIT_OK, err
    data = json.loads(out)
    assert data["ok"] is True and data["problems"] == [] and data["online"] == []
    assert sandbox.stats.snapshot()["total"] == 0  # offline: Magento is not asked


def test_check_a_config_with_several_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "segbridge.toml"
    config.write_text(
        '[magento]\nbase_url = "shop.example.com"\npage_size = 500\ncolour = "red"\n'
        '[push]\nmax_changes = "many"\n'
        '[schedule]\nrun = "61 * * * *"\n'
        "[nonsense]\nx = 1\n"
    )
    code, out, err = run(capsys, "--config", str(config), "check")
    assert code == EXIT_BAD_INPUT
    lines = err.strip().splitlines()
    assert len(lines) >= 6, err
    for line in lines:  # every problem as FILE: KEY: ...
        assert line.startswith(f"{config}: ") or line.startswith(f"{config.resolve()}: "), line
    for key in ("magento.base_url: ", "magento.page_size: ", "magento.colour: ",
                "push.max_changes: ", "schedule.run: ", "nonsense: "):
        assert any(f": {key}" in line for line in lines), (key, err)
    code, out, _ = run(capsys, "--config", str(config), "--json", "check")
    assert code == EXIT_BAD_INPUT
    data = json.loads(out)
    assert data["ok"] is False and len(data["problems"]) == len(lines)


def test_check_a_bad_segment_file_reads_nothing_from_magento(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any, token: str
) -> None:
    config = write_config(tmp_path, sandbox.base_url)
    bad = tmp_path / "mappings" / "zz_bad.toml"
    bad.write_text(
        'code = "zz"\npriority = 7\n[conditions]\nmatch = "all"\nvalue = true\n'
        "[[conditions.rules]]\nattribute = \"sales.orders_count\"\noperator = \">\"\n"
        'value = "lots"\n'
    )
    sandbox.stats.reset()
    code, out, err = run(capsys, "--config", str(config), "check", "--online")
    assert code == EXIT_BAD_INPUT
    problem = [line for line in err.splitlines() if "zz_bad.toml" in line]
    assert problem and ": conditions.rules[0].value: " in problem[0], err
    code, out, _ = run(capsys, "--config", str(config), "--json", "check", "--online")
    assert code == EXIT_BAD_INPUT
    data = json.loads(out)
    assert data["ok"] is False and any("zz_bad.toml" in p for p in data["problems"])
    assert data["online"] == []
    assert sandbox.stats.snapshot()["total"] == 0, sandbox.stats.snapshot()


def test_check_online_against_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any, token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, sandbox.base_url)
    code, out, err = run(capsys, "--config", str(config), "check", "--online")
    assert code == EXIT_OK, out + err
    assert "FAIL" not in out and out.count("ok  ") >= 7
    code, out, err = run(capsys, "--config", str(config), "--json", "check", "--online")
    assert code == EXIT_OK, err
    data = json.loads(out)
    assert data["ok"] is True and data["online"] and all(c["ok"] for c in data["online"])

    # refused credentials: said once, in one line, not once per probe
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    code, out, err = run(capsys, "--config", str(config), "check", "--online")
    assert code == EXIT_FAILED
    assert "FAIL" not in out and len(err.strip().splitlines()) == 1, err
    assert "401" in err or "refused" in err, err
    assert "not-the-token" not in out + err  # never print a secret
    code, out, _ = run(capsys, "--config", str(config), "--json", "check", "--online")
    assert code == EXIT_FAILED
    data = json.loads(out)
    assert data["ok"] is False and data["online"] == [] and len(data["problems"]) == 1


def test_check_as_a_process(tmp_path: Path, sandbox: Any) -> None:
    config = write_config(tmp_path, sandbox.base_url)
    env = {**os.environ, TOKEN_ENV: sandbox.token, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(config), "--json", "check", "--online"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert json.loads(done.stdout)["ok"] is True


# --- arguments -----------------------------------------------------------------------


def test_help_and_an_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("check", "sync", "plan", "push", "run", "daemon", "status", "demo"):
        assert command in out
    code, _, err = run(capsys, "frobnicate")
    assert code == EXIT_BAD_INPUT
    assert "invalid choice: 'frobnicate'" in err
    code, _, err = run(capsys, "sync", "--entity", "planets")
    assert code == EXIT_BAD_INPUT


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if getattr(handler, "_segbridge", False):
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_every_command_logs_in_the_configured_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None, fmt: str
) -> None:
    """``[log] format`` applies once the config is read (any command, not only the
    daemon); ``-q`` keeps only warnings; alembic and apscheduler stay at WARNING."""
    config = write_config(tmp_path, "http://127.0.0.1:9", extra=f'[log]\nformat = "{fmt}"\n')
    code, _, err = run(capsys, "--config", str(config), "-q", "check")
    assert code == EXIT_OK, err
    log = logging.getLogger("bridge.test_cli")
    log.info("not shown with -q")
    log.warning("a warning with %s", "facts", extra={"fields": {"n": 3}})
    lines = [x for x in capsys.readouterr().err.splitlines() if "bridge.test_cli" in x]
    assert len(lines) == 1, lines
    if fmt == "json":
        obj = json.loads(lines[0])
        assert obj["msg"] == "a warning with facts" and obj["level"] == "WARNING"
        assert obj["n"] == 3
    else:
        assert lines[0].endswith("WARNING bridge.test_cli: a warning with facts n=3")
    assert logging.getLogger("alembic").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("apscheduler").getEffectiveLevel() >= logging.WARNING
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_segbridge", False)]
    assert len(ours) == 1  # the text handler set up before the config was replaced


# --- plan / push refuse bad mappings before anything is read ---------------------------


@pytest.mark.parametrize("command", ["plan", "push"])
def test_too_many_managed_groups_stop_plan_and_push(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any, token: str, command: str
) -> None:
    """The example mappings name 8 groups; ``push.max_managed_groups = 2`` refuses them
    when the segment files are loaded, before Magento or the store is touched."""
    config = write_config(tmp_path, sandbox.base_url, extra="[push]\nmax_managed_groups = 2\n")
    sandbox.stats.reset()
    code, _, err = run(capsys, "--config", str(config), command)
    assert code == EXIT_BAD_INPUT
    assert "mappings: group: active segments name 8 groups" in err, err
    assert "more than push.max_managed_groups = 2" in err
    assert sandbox.stats.snapshot()["total"] == 0
    assert not (tmp_path / "store.db").exists()


# --- status --------------------------------------------------------------------------


@pytest.mark.db
def test_status_shows_every_section(
    tmp_path: Path, db_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Last runs, watermarks, quarantined records, lock holder and the unfinished push
    journal, as tables and as ``--json``."""
    from bridge.lock import run_lock
    from bridge.store.models import Quarantine, Run, SyncState
    from bridge.store.push_tables import PushBatch, PushStep
    from bridge.timeutil import utcnow

    now = utcnow()
    with engine.begin() as conn:
        run_id = conn.execute(insert(Run.__table__).values(
            kind="run", started_at=now, ended_at=now, status="stopped", requests=12,
            retries=1, errors=0, message="stopped during the push")).inserted_primary_key[0]
        conn.execute(insert(SyncState.__table__).values(entity="customers", watermark=now,
                                                       last_run_id=run_id))
        conn.execute(insert(Quarantine.__table__).values(
            run_id=run_id, entity="orders", record_id="1007", reason="grand_total: not a number",
            created_at=now))
        batch = conn.execute(insert(PushBatch.__table__).values(
            run_id=run_id, created_at=now, status="open", forced=False)).inserted_primary_key[0]
        done_batch = conn.execute(insert(PushBatch.__table__).values(
            run_id=run_id, created_at=now, status="done", forced=False)).inserted_primary_key[0]
        for seq, (kind, state) in enumerate([("group", "done"), ("customer", "done"),
                                             ("customer", "pending"), ("customer", "pending"),
                                             ("cart_rule", "sent")]):
            conn.execute(insert(PushStep.__table__).values(
                batch_id=batch, seq=seq, kind=kind, key=f"k{seq}", payload={}, state=state))
        conn.execute(insert(PushStep.__table__).values(
            batch_id=done_batch, seq=0, kind="customer", key="old", payload={}, state="pending"))
    config = write_config(tmp_path, "http://127.0.0.1:9", store=db_url)

    with run_lock(engine, wait=False, holder="segbridge resync"):
        code, out, err = run(capsys, "--config", str(config), "--json", "status")
        assert code == EXIT_OK, err
        data = json.loads(out)
        code, table, err = run(capsys, "--config", str(config), "status")
        assert code == EXIT_OK, err

    assert data["runs"][0]["status"] == "stopped" and data["runs"][0]["requests"] == 12
    assert [w["entity"] for w in data["watermarks"]] == ["customers"]
    assert data["quarantine"]["open"] == 1
    assert data["quarantine"]["records"][0]["record_id"] == "1007"
    assert data["lock"]["holder"] == "segbridge resync"
    journal = data["journal"]
    assert [b["id"] for b in journal["open_batches"]] == [batch]  # the finished one: not shown
    assert journal["open_batches"][0]["steps"] == {"customer pending": 2, "cart_rule sent": 1}
    assert journal["unfinished_steps"] == 3
    assert [s["key"] for s in journal["first_steps"]] == ["k2", "k3", "k4"]

    assert "last runs" in table and "stopped" in table
    assert "sync watermarks" in table and "customers" in table
    assert "quarantine: 1 open record(s)" in table and "1007" in table
    assert "run lock: held by 'segbridge resync'" in table
    assert "push journal: 1 unfinished batch(es), 3 step(s) left" in table
    assert "cart_rule sent: 1" in table and "pending: 2" in table

    code, out, _ = run(capsys, "--config", str(config), "status")  # the lock is free now
    assert code == EXIT_OK and "run lock: free" in out


# --- demo ----------------------------------------------------------------------------


def test_demo_from_a_clean_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.demo import TOKEN_ENV as DEMO_TOKEN_ENV

    monkeypatch.setenv(DEMO_TOKEN_ENV, "")  # the demo sets it; undone after the test
    monkeypatch.chdir(ROOT)  # the demo reads the example ./mappings of a checkout
    folder = tmp_path / "demo"
    code, out, err = run(capsys, "demo", "--dir", str(folder), "--customers", "300")
    assert code == EXIT_OK, out[-3000:] + err[-3000:]
    assert "demo finished in" in out
    config = folder / "segbridge.toml"
    assert config.exists() and (folder / "segbridge.db").exists()
    code, out, err = run(capsys, "--config", str(config), "members", "vip", "--format", "json")
    assert code == EXIT_OK, err
    members = json.loads(out)
    assert members, "the demo's store has no VIP members"
    assert {"customer_id", "email", "website", "joined_at"} <= set(members[0])
    assert all(isinstance(m["customer_id"], int) for m in members)


# --- failures said in one line -----------------------------------------------------------


def test_a_store_that_cannot_be_reached_is_one_line_for_a_writing_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """evaluate and push open the store to write: a refused connection is one line that
    names the store (password hidden) and the cause, exit 1 — not a traceback."""
    config = write_config(tmp_path, "http://127.0.0.1:9",
                          store="postgresql+psycopg://segbridge:s3cret@127.0.0.1:9/shop")
    for argv in (["evaluate"], ["push"]):
        code, out, err = run(capsys, "--config", str(config), *argv)
        assert code == EXIT_FAILED, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (argv, err)
        assert lines[0].startswith("segbridge: the store postgresql+psycopg://segbridge:***@"
                                   "127.0.0.1:9/shop (store.url) failed: "), lines
        assert "s3cret" not in out + err


def test_an_output_file_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.store.engine import open_store

    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///store.db").dispose()
    config = write_config(tmp_path, "http://127.0.0.1:9")
    missing = tmp_path / "no-such-folder"
    for argv, name in ((["report", "--output", str(missing / "r.html")], "report"),
                       (["members", "vip", "--output", str(missing / "m.csv")], "export")):
        (tmp_path / "no-such-folder").touch()  # a file where the folder should be
        code, _, err = run(capsys, "--config", str(config), *argv)
        assert code == EXIT_FAILED, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"segbridge: {missing}/"), err
        assert f"cannot write the {name}: " in lines[0], err
        missing.unlink()


def test_sandbox_options_for_the_module_and_played_time_parse() -> None:
    """`segbridge sandbox --no-module --simulate-days N --uplift GROUP=SHARE` reach
    cmd_sandbox (which passes them to SandboxServer) as module, simulate_days, uplift."""
    from bridge.cli import build_parser

    args = build_parser().parse_args(
        ["sandbox", "--no-module", "--simulate-days", "30", "--uplift", "VIP=0.2"]
    )
    assert args.module is False and args.simulate_days == 30
    assert dict(args.uplift) == {"VIP": 0.2}
    plain = build_parser().parse_args(["sandbox"])
    assert plain.module is True and plain.simulate_days == 0 and plain.uplift == []


# --- WHEN at the edges of the calendar --------------------------------------------------

EDGES = ["9999-12-31", "0001-01-01", "99999999999d", "1000000d", "0001-01-01T00:00+01:00",
         "9999-12-31T23:59:59-01:00", "1969-12-31", "9001-01-01"]


@pytest.mark.parametrize("value", EDGES)
@pytest.mark.parametrize("argv", [["plan", "--as-of"], ["push", "--as-of"],
                                  ["evaluate", "--as-of"], ["run", "--as-of"],
                                  ["explain", "vip", "83", "--as-of"],
                                  ["history", "vip", "--since"], ["sync", "--since"]])
def test_a_when_outside_the_accepted_dates_is_refused_by_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    argv: list[str], value: str,
) -> None:
    """Years 1 and 9999, or an age of 10^11 days, ended in tracebacks (an overflow in the
    compiler or in timedelta) and a failed run row; the parser now refuses them, exit 2."""
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, "http://127.0.0.1:9")
    code, out, err = run(capsys, "--config", str(config), *argv, value)
    assert code == EXIT_BAD_INPUT, out + err
    assert "Traceback" not in err and out == ""
    errors = [line for line in err.splitlines() if ": error: " in line]  # after argparse's usage
    assert err.startswith("usage: segbridge ") and err.splitlines()[-1] == errors[0]
    assert errors == [f"segbridge {argv[0]}: error: argument {argv[-1]}: {value!r} is outside "
                      "the dates segbridge accepts (1970-01-01 to 9000-12-31)"], err
    assert not (tmp_path / "store.db").exists()  # refused before anything: no run row


def test_the_edges_of_the_accepted_dates_evaluate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, "http://127.0.0.1:9")
    for value in ("1970-01-01", "9000-12-31T23:59:59", "2026-12-07T12:00:00+14:00"):
        code, out, err = run(capsys, "--config", str(config), "evaluate", "--as-of", value)
        assert code == EXIT_OK, (value, out, err)
        assert "Traceback" not in err
