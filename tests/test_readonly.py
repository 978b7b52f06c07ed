"""Commands that only read the store work on a store opened read-only, and a store that
cannot be opened is named in one line (docs/commands.md): a missing SQLite file (never created),
an unreachable server, a schema older than this segbridge (never migrated by a reader).

The read-only SQLite file and folder are tried through real processes run as another
user (root would write through any file mode); the read-only database user on
PostgreSQL and MariaDB is a user granted SELECT only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text
from test_cli import run as run_cli
from test_cli import write_config

from bridge.errors import EXIT_FAILED, EXIT_OK, StoreUnavailable
from bridge.store.engine import (
    current_revision,
    head_revision,
    make_engine,
    open_store,
    open_store_readonly,
    upgrade,
)
from bridge.store.models import Run

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "SEGBRIDGE_CLI_TEST_TOKEN"
READ_COMMANDS = (
    ["status"], ["segments"], ["members", "vip"], ["history", "vip"], ["report"],
)
NOBODY = 65534


def _config(folder: Path, store: str, base_url: str = "http://127.0.0.1:9") -> Path:
    return write_config(folder, base_url, store=store)


# --- the helper ------------------------------------------------------------------------


def test_a_missing_sqlite_file_is_named_and_never_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path, "sqlite:///missing.db")
    for argv in READ_COMMANDS:
        code, _, err = run_cli(capsys, "--config", str(config), *argv)
        assert code == EXIT_FAILED, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (argv, err)
        assert lines[0].startswith("segbridge: store sqlite:///"), err
        assert lines[0].endswith("missing.db (store.url): no such file; "
                                 "run `segbridge sync` to make it"), (argv, err)
        assert not (tmp_path / "missing.db").exists(), argv


@pytest.mark.db
def test_an_unreachable_server_is_named_in_one_line_without_its_password(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("a database server only")
    scheme, rest = db_url.split("://", 1)
    host_part = rest.split("@", 1)[0]
    user = host_part.split(":")[0]
    url = f"{scheme}://{user}:s3cret@127.0.0.1:9/{rest.rsplit('/', 1)[1]}"
    config = _config(tmp_path, url)
    for argv in READ_COMMANDS:
        code, out, err = run_cli(capsys, "--config", str(config), *argv)
        assert code == EXIT_FAILED, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (argv, err)
        assert lines[0].startswith(f"segbridge: store {scheme}://{user}:***@127.0.0.1:9/"), err
        assert "(store.url): cannot be opened: " in lines[0] and "s3cret" not in err + out


@pytest.mark.db
def test_an_older_schema_is_named_and_not_migrated_by_a_reader(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = make_engine(db_url)
    upgrade(old, "0007")
    old.dispose()
    config = _config(tmp_path, db_url)
    for argv in READ_COMMANDS:
        code, _, err = run_cli(capsys, "--config", str(config), *argv)
        assert code == EXIT_FAILED, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "its schema (revision 0007) is older than this " \
            f"segbridge's ({head_revision()})" in lines[0], (argv, err)
    check = make_engine(db_url)
    try:
        assert current_revision(check) == "0007"
    finally:
        check.dispose()


@pytest.mark.db
def test_a_database_with_no_schema_is_not_given_one_by_a_reader(db_url: str) -> None:
    empty = make_engine(db_url)  # an empty SQLite file, or an empty database
    with empty.connect():
        pass
    empty.dispose()
    with pytest.raises(StoreUnavailable, match="not a segbridge store yet"):
        open_store_readonly(db_url)
    check = make_engine(db_url)
    try:
        assert current_revision(check) is None
    finally:
        check.dispose()


def test_the_sqlite_engine_it_gives_cannot_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url).dispose()
    engine = open_store_readonly(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(Run.id)).all() == []
        with pytest.raises(Exception, match="readonly"), engine.begin() as conn:
            conn.execute(insert(Run.__table__).values(kind="sync", started_at=datetime(2026, 1, 1),
                                                       status="ok"))
    finally:
        engine.dispose()


# --- read-only SQLite file and folder, through processes that cannot write them ---------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from bridge.sandbox.server import SandboxServer

    with SandboxServer(customers=30, seed=3) as server:
        yield server


@pytest.fixture
def synced_folder(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    """A folder with a config and a store synced and evaluated (then closed)."""
    folder = tmp_path / "shop"
    folder.mkdir()
    _config(folder, "sqlite:///store.db", sandbox.base_url)
    monkeypatch.chdir(folder)
    monkeypatch.setenv(TOKEN_ENV, sandbox.token)
    for argv in (["sync"], ["evaluate"]):
        code, _, err = run_cli(capsys, "--config", "segbridge.toml", *argv)
        assert code == EXIT_OK, err
    try:
        yield folder
    finally:
        folder.chmod(0o755)


def _unprivileged(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``segbridge ARGV`` in a process bound by file modes: as root, without the
    capabilities that write through them (root owns the files, so 0444 holds)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes would not hold")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bridge", "--config", "segbridge.toml", *argv],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_commands_work_on_a_read_only_sqlite_store(
    synced_folder: Path, tmp_path: Path, what: str
) -> None:
    store = synced_folder / "store.db"
    assert not (synced_folder / "store.db-wal").exists()  # closed cleanly: no -wal, no -shm
    before = store.read_bytes()
    store.chmod(0o444)
    if what == "folder":
        synced_folder.chmod(0o555)
    probe = _unprivileged(synced_folder, "--version")
    assert probe.returncode == 0, probe.stderr
    report = tmp_path / "report.html"
    for argv in (["status"], ["segments"], ["members", "vip"], ["members", "vip", "--format",
                 "csv"], ["history", "vip"], ["explain", "vip", "1"],
                 ["report", "--output", str(report)], ["--json", "status"]):
        done = _unprivileged(synced_folder, *argv)
        assert done.returncode == EXIT_OK, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (argv, done.stderr)
    assert report.exists()
    assert store.read_bytes() == before
    assert not (synced_folder / "store.db-wal").exists() or what == "file"


# --- a read-only database user ------------------------------------------------------------


@pytest.fixture
def reader_url(db_url: str) -> Iterator[str]:
    """``db_url`` as a user that may only SELECT (PostgreSQL and MariaDB)."""
    if db_url.startswith("sqlite"):
        pytest.skip("a database server only")
    name = "sbro_" + uuid.uuid4().hex[:8]
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    db = db_url.split("?")[0].rsplit("/", 1)[1]
    scheme, rest = db_url.split("://", 1)
    host = rest.split("@", 1)[1]
    if db_url.startswith("postgresql"):
        statements = [f"CREATE ROLE {name} LOGIN PASSWORD 'pw'",
                      f"GRANT CONNECT ON DATABASE \"{db}\" TO {name}",
                      f"GRANT USAGE ON SCHEMA public TO {name}",
                      f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}"]
        drops = [f"DROP OWNED BY {name}", f"DROP ROLE {name}"]
    else:
        statements = [f"CREATE USER '{name}'@'%' IDENTIFIED BY 'pw'",
                      f"CREATE USER '{name}'@'localhost' IDENTIFIED BY 'pw'",
                      f"GRANT SELECT ON `{db}`.* TO '{name}'@'%'",
                      f"GRANT SELECT ON `{db}`.* TO '{name}'@'localhost'"]
        drops = [f"DROP USER '{name}'@'%'", f"DROP USER '{name}'@'localhost'"]
    open_store(db_url).dispose()
    with admin.connect() as conn:
        for s in statements:
            conn.execute(text(s))
    try:
        yield f"{scheme}://{name}:pw@{host}"
    finally:
        with admin.connect() as conn:
            for s in drops:
                conn.execute(text(s))
        admin.dispose()


@pytest.mark.db
def test_read_commands_work_as_a_select_only_database_user(
    reader_url: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.runs import new_run_values

    writer = make_engine(db_url)
    with writer.begin() as conn:  # a run whose process is gone: shown interrupted, unwritten
        values = {**new_run_values("sync"), "pid": 2**22 + 12345}
        run_id = conn.execute(insert(Run.__table__).values(**values)).inserted_primary_key[0]
    config = _config(tmp_path, reader_url)
    for argv in (["status"], ["--json", "status"], ["segments"], ["members", "vip"],
                 ["history", "vip"], ["report", "--output", str(tmp_path / "r.html")]):
        code, out, err = run_cli(capsys, "--config", str(config), *argv)
        assert code == EXIT_OK, (argv, err)
        assert "Traceback" not in err
        if argv == ["--json", "status"]:
            run = json.loads(out)["runs"][0]
            assert run["status"] == "interrupted" and "is gone; last seen" in run["message"]
    assert (tmp_path / "r.html").exists()
    with writer.connect() as conn:
        assert conn.execute(select(Run.status).where(Run.id == run_id)).scalar_one() == "running"
    writer.dispose()
