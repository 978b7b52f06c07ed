"""Output for people, and shop data shown as data (docs/commands.md).

- A closed stdout (``segbridge … | head``) ends the command quietly: no traceback.
- Control characters from the shop are shown escaped (``\\x1b``) by ``explain``,
  ``members``, ``history``, ``status`` and ``segments``; text that looks like Rich markup
  stays as typed.
- A CSV cell that a spreadsheet would run as a formula gets a leading ``'``.
- No Python ``dict`` or ``None`` in what ``status`` prints.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from bridge.cli import main
from bridge.errors import EXIT_OK
from bridge.output import csv_cell, safe

TOKEN_ENV = "SEGBRIDGE_OUTPUT_TEST_TOKEN"
ESC_NAME = "Eve\x1b[2J\x1b]0;owned\x07"  # clear the screen, set the window title
ESC_EMAIL = "eve\x1b[31m@example.com"
FORMULA_EMAIL = '=HYPERLINK("http://evil.example/?q=1")@example.com'
MARKUP_REASON = "[bold red]fake[/bold red] [link=http://evil.example]click[/link]"
SEGMENT = (
    'code = "eves"\nname = "Eves"\npriority = 10\n[conditions]\nmatch = "any"\n'
    'value = true\n[[conditions.rules]]\nattribute = "customer.firstname"\n'
    'operator = "{}"\nvalue = "Eve"\n[[conditions.rules]]\nattribute = "customer.email"\n'
    'operator = "{}"\nvalue = "HYPERLINK"\n'
)
ALL = ('code = "everyone"\nname = "Everyone"\npriority = 5\n[conditions]\nmatch = "all"\n'
       'value = true\n[[conditions.rules]]\nattribute = "sales.orders_count"\n'
       'operator = ">="\nvalue = 0\n')


def _config(folder: Path, base_url: str, store: str) -> Path:
    mappings = folder / "mappings"
    mappings.mkdir(exist_ok=True)
    (mappings / "eves.toml").write_text(SEGMENT)
    (mappings / "everyone.toml").write_text(ALL)
    path = folder / "segbridge.toml"
    path.write_text(
        f'[magento]\nbase_url = "{base_url}"\n'
        f'[magento.auth]\nmethod = "token"\ntoken_env = "{TOKEN_ENV}"\n'
        f'[store]\nurl = "{store}"\n[mappings]\ndir = "{mappings.as_posix()}"\n'
    )
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_safe_and_csv_cell() -> None:
    assert safe(ESC_NAME) == "Eve\\x1b[2J\\x1b]0;owned\\x07"
    assert safe("a\nb\tc\u202ed") == "a\\x0ab\\x09c\\u202ed"
    assert safe(None) == "-" and safe("Åsa Öberg") == "Åsa Öberg"
    for bad in ("=1+2", "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(bad) == "'" + bad
    assert csv_cell("anna@example.com") == "anna@example.com"
    assert csv_cell(-3) == -3 and csv_cell(None) is None


# --- against the sandbox: a hostile customer ---------------------------------------------


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A store synced and evaluated from a shop with two hostile customers."""
    from bridge.sandbox.server import SandboxServer

    folder = tmp_path_factory.mktemp("output")
    with SandboxServer(customers=1500, seed=4) as shop:
        eve = shop.shop.add_customer(ESC_EMAIL, firstname=ESC_NAME)
        formula = shop.shop.add_customer(FORMULA_EMAIL, firstname="Evelyn")
        config = _config(folder, shop.base_url, f"sqlite:///{folder / 'store.db'}")
        env = {**os.environ, TOKEN_ENV: shop.token}
        for argv in (["sync"], ["evaluate"]):
            done = subprocess.run([sys.executable, "-m", "bridge", "--config", str(config),
                                   *argv], env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
        yield config, {"eve": eve.id, "formula": formula.id}


def test_explain_shows_escape_sequences_escaped(
    synced: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = synced
    code, out, err = _run(capsys, "--config", str(config), "explain", "eves", str(ids["eve"]))
    assert code == EXIT_OK, err
    assert "\x1b" not in out and "\x07" not in out
    assert '(actual: "Eve\\x1b[2J\\x1b]0;owned\\x07")' in out, out
    assert "<eve\\x1b[31m@example.com>" in out, out
    code, out, _ = _run(capsys, "--config", str(config), "--json", "explain", "eves",
                        str(ids["eve"]))
    assert json.loads(out)["email"] == ESC_EMAIL  # JSON keeps the data, escaped by JSON


def test_members_and_history_tables_show_control_characters_escaped(
    synced: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = synced
    code, out, err = _run(capsys, "--config", str(config), "members", "eves")
    assert code == EXIT_OK, err
    assert "\x1b" not in out and "eve\\x1b[31m@example.com" in out, out
    # history names customers by id only (docs/privacy.md)
    code, out, err = _run(capsys, "--config", str(config), "history", "eves")
    assert code == EXIT_OK, err
    assert "\x1b" not in out and "example.com" not in out and str(ids["eve"]) in out, out


def test_members_csv_cells_never_start_a_formula(
    synced: tuple[Path, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config, ids = synced
    target = tmp_path / "eves.csv"
    code, printed, err = _run(capsys, "--config", str(config), "members", "eves", "--format",
                              "csv")
    assert code == EXIT_OK, err
    code, _, err = _run(capsys, "--config", str(config), "members", "eves", "--output",
                        str(target))
    assert code == EXIT_OK, err
    for text in (printed, target.read_text(encoding="utf-8")):
        rows = {int(r["customer_id"]): r for r in csv.DictReader(io.StringIO(text))}
        assert rows[ids["formula"]]["email"] == "'" + FORMULA_EMAIL
        assert rows[ids["eve"]]["email"] == ESC_EMAIL  # CSV keeps the data itself
    code, out, _ = _run(capsys, "--config", str(config), "--json", "members", "eves")
    by_id = {m["customer_id"]: m for m in json.loads(out)}
    assert by_id[ids["formula"]]["email"] == FORMULA_EMAIL  # JSON is not a spreadsheet


def test_a_closed_pipe_ends_every_listing_quietly(synced: tuple[Path, Any]) -> None:
    """``segbridge --json members everyone | head -1``: 1,500 members are more than a
    pipe holds, so the writer meets the closed pipe."""
    config, _ = synced
    env = {**os.environ, "COLUMNS": "120"}
    for argv in (["--json", "members", "everyone"], ["members", "everyone"],
                 ["members", "everyone", "--format", "csv"], ["history", "everyone"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(config), *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        assert first
        proc.stdout.close()  # what `head -1` does after its line
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
        assert err == "", (argv, err)
        assert proc.returncode == EXIT_OK, (argv, proc.returncode)
    shell = subprocess.run(
        f"'{sys.executable}' -m bridge --config '{config}' --json members everyone | head -3",
        shell=True, capture_output=True, text=True, env=env, timeout=60,
    )
    assert shell.stderr == "" and shell.stdout.count("\n") == 3, shell


# --- status ------------------------------------------------------------------------------


@pytest.mark.db
def test_status_shows_shop_text_as_data_and_no_python_values(
    tmp_path: Path, db_url: str, engine: Engine, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bridge.store.models import Quarantine, Run
    from bridge.store.push_tables import PushBatch, PushStep
    from bridge.timeutil import utcnow

    now = utcnow()
    with engine.begin() as conn:
        run_id = conn.execute(insert(Run.__table__).values(
            kind="sync", started_at=now, ended_at=now, status="partial", requests=3,
            retries=0, errors=1, counts={"customers": {"stored": 2}},
            message=f"customer 7: {ESC_NAME}")).inserted_primary_key[0]
        conn.execute(insert(Quarantine.__table__).values(
            run_id=run_id, entity="customers", record_id="7\x1b[1A",
            reason=f"firstname {ESC_NAME}: {MARKUP_REASON}", created_at=now))
        batch = conn.execute(insert(PushBatch.__table__).values(
            run_id=run_id, created_at=now, status="open", forced=False)).inserted_primary_key[0]
        for seq, state in enumerate(["done", "done", "pending"]):
            conn.execute(insert(PushStep.__table__).values(
                batch_id=batch, seq=seq, kind="customer", key=f"k{seq}", payload={},
                state=state))
    config = _config(tmp_path, "http://127.0.0.1:9", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = _run(capsys, "--config", str(config), "status")
    assert code == EXIT_OK, err
    assert "\x1b" not in out and "\x07" not in out
    assert "Eve\\x1b[2J" in out and "7\\x1b[1A" in out, out
    assert "[bold red]fake[/bold red]" in out and "[link=http://evil.example]" in out, out
    assert "{'" not in out and "None" not in out, out
    assert "customer pending: 1" in out


def test_csv_on_a_terminal_shows_control_characters_escaped(synced: tuple[Path, Any]) -> None:
    """Printed to a terminal, the CSV is read, not imported: escapes are shown escaped
    (into a file or a pipe it keeps the data as it is, as the test above shows)."""
    import pty

    config, _ = synced
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bridge", "--config", str(config), "members", "eves",
             "--format", "csv"], stdout=follower, stderr=subprocess.PIPE, timeout=60,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end closed: all was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    text = b"".join(chunks).decode()
    assert done.returncode == EXIT_OK, done.stderr
    assert "\x1b" not in text and "eve\\x1b[31m@example.com" in text, text
    assert "'=HYPERLINK" in text


def test_a_closed_pipe_under_a_rich_table_ends_quietly_with_exit_0(
    synced: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rich's own answer to a closed pipe is exit 1; every command ends the same way."""
    config, _ = synced
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    pipe = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", pipe)
    try:
        for argv in (["status"], ["segments"], ["members", "eves"]):
            assert main(["--config", str(config), *argv]) == EXIT_OK, argv
    finally:
        monkeypatch.undo()
        try:
            pipe.close()
        except OSError:
            pass


@pytest.mark.db
def test_status_names_the_process_of_a_run_still_going(
    tmp_path: Path, engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bridge.runs import new_run_values
    from bridge.store.models import Run

    with engine.begin() as conn:  # this very process: alive
        run_id = conn.execute(insert(Run.__table__).values(**new_run_values("sync"))
                              ).inserted_primary_key[0]
    config = _config(tmp_path, "http://127.0.0.1:9", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = _run(capsys, "--config", str(config), "status")
    assert code == EXIT_OK, err
    assert f"run {run_id} (sync, running): pid {os.getpid()} on host " in out, out
    assert " UTC" in out.split(f"pid {os.getpid()}")[1].splitlines()[0]
