"""A run whose process died is closed as ``interrupted``, never left ``running``.

Real ``segbridge`` processes run ``sync``, ``evaluate`` and ``push`` against the sandbox
on 127.0.0.1 and are killed (SIGKILL) or stopped (SIGTERM) in the middle: the sync and
the push while their requests are under way (the sandbox answers slowly), the
evaluation while it waits for the store (this test holds the store's write lock, on
SQLite, or its runs row, on PostgreSQL and MariaDB, so the run is certainly still
going). Afterwards ``status`` shows the run ``interrupted`` with the time it was last
seen, and the next ``run`` completes with exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from bridge.store.engine import open_store
from bridge.store.models import Run

pytestmark = pytest.mark.db

TOKEN_ENV = "SEGBRIDGE_KILL_TEST_TOKEN"
WRITES = ("POST", "PUT", "DELETE")
# Two segments of its own (the example mappings change as the project grows): each
# moves its members into a group, so the first push creates two and moves customers.
MAPPINGS = {
    "vip.toml": 'code = "vip"\nname = "VIP"\npriority = 100\n[conditions]\nmatch = "all"\n'
                'value = true\n[[conditions.rules]]\nattribute = "sales.amount"\n'
                'aggregate = "total"\noperator = ">="\nvalue = 500\n[group]\ncode = "VIP"\n',
    "buyers.toml": 'code = "buyers"\nname = "Buyers"\npriority = 10\n[conditions]\n'
                   'match = "all"\nvalue = true\n[[conditions.rules]]\n'
                   'attribute = "sales.orders_count"\noperator = ">="\nvalue = 1\n'
                   '[group]\ncode = "Buyers"\n',
}


@pytest.fixture
def shop() -> Iterator[Any]:
    from bridge.sandbox.server import SandboxServer

    with SandboxServer(customers=300, seed=5) as server:
        yield server


class Folder:
    """A config beside the example mappings, and ``segbridge`` run as a process."""

    def __init__(self, root: Path, shop: Any, store: str) -> None:
        self.root = root
        self.shop = shop
        self.store = store
        (root / "mappings").mkdir()
        for name, body in MAPPINGS.items():
            (root / "mappings" / name).write_text(body)
        (root / "segbridge.toml").write_text(
            f'[magento]\nbase_url = "{shop.base_url}"\n'
            f'[magento.auth]\nmethod = "token"\ntoken_env = "{TOKEN_ENV}"\n'
            f'[store]\nurl = "{store}"\n[mappings]\ndir = "mappings"\n'
        )
        self.env = {**os.environ, TOKEN_ENV: shop.token, "COLUMNS": "200"}

    def start(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", "segbridge.toml", *argv],
            cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bridge", "--config", "segbridge.toml", *argv],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=300,
        )


def _running(engine: Engine, kind: str) -> dict[str, Any] | None:
    t = Run.__table__
    with engine.connect() as conn:
        row = conn.execute(
            select(t).where(t.c.kind == kind, t.c.status == "running").order_by(t.c.id.desc())
        ).mappings().first()
    return dict(row) if row else None


def _writes(shop: Any) -> int:
    routes = shop.stats.snapshot()["routes"]
    return sum(n for route, n in routes.items() if route.split(" ", 1)[0] in WRITES)


def _wait_for(what: str, proc: subprocess.Popen[str], check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process ended before {what}: {proc.returncode}\n{err}")
        time.sleep(0.005)
    proc.kill()
    raise AssertionError(f"timed out waiting for {what}")


class HoldStore:
    """Keep a running evaluation waiting for the store: on SQLite the write lock (its
    membership writes wait), elsewhere the run's own row (its last write waits)."""

    def __init__(self, engine: Engine, run_id: int) -> None:
        self.conn = engine.connect()
        if engine.dialect.name == "sqlite":
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            self.conn.begin()
            self.conn.execute(
                text("SELECT id FROM runs WHERE id = :id FOR UPDATE"), {"id": run_id}
            )

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


CASES = [(stage, sig) for stage in ("sync", "evaluate", "push")
         for sig in (signal.SIGKILL, signal.SIGTERM)]


@pytest.mark.parametrize(("stage", "sig"), CASES,
                         ids=[f"{s}-{g.name}" for s, g in CASES])
def test_a_killed_run_is_interrupted_and_the_next_run_completes(
    tmp_path: Path, db_url: str, shop: Any, stage: str, sig: signal.Signals
) -> None:
    folder = Folder(tmp_path, shop, db_url)
    for before in {"sync": [], "evaluate": ["sync"], "push": ["sync", "evaluate"]}[stage]:
        done = folder.run(before)
        assert done.returncode == 0, done.stderr
    engine = open_store(db_url)
    hold: HoldStore | None = None
    try:
        shop.latency_s = 0.05 if stage != "evaluate" else 0.0
        shop.stats.reset()
        proc = folder.start(stage)
        row = _wait_for(f"a running {stage}", proc, lambda: _running(engine, stage))
        if stage == "sync":
            _wait_for("3 requests", proc, lambda: shop.stats.snapshot()["total"] >= 3)
        elif stage == "push":
            _wait_for("3 writes", proc, lambda: _writes(shop) >= 3)
        else:
            hold = HoldStore(engine, row["id"])
            time.sleep(0.3)
            assert proc.poll() is None, "the evaluation ended before it could be stopped"
        proc.send_signal(sig)
        if hold is not None:
            time.sleep(0.2)  # SIGTERM is handled once the store's call returns
            hold.release()
            hold = None
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == (-9 if sig == signal.SIGKILL else 1), (proc.returncode, err)
        assert "Traceback" not in err, err
        if sig == signal.SIGTERM:
            assert "stopped by SIGTERM" in err, err
        shop.latency_s = 0.0

        status = folder.run("--json", "status")
        assert status.returncode == 0, status.stderr
        runs = {r["id"]: r for r in json.loads(status.stdout)["runs"]}
        killed = runs[row["id"]]
        assert killed["status"] == "interrupted", killed
        assert not [r for r in runs.values() if r["status"] == "running"], runs
        if sig == signal.SIGKILL:
            assert "is gone; last seen " in killed["message"], killed
        else:
            assert killed["message"].startswith("stopped by SIGTERM"), killed
        text_status = folder.run("status")
        assert text_status.returncode == 0 and "interrupted" in text_status.stdout

        again = folder.run("run")
        assert again.returncode == 0, (again.stdout, again.stderr)
        status = folder.run("--json", "status")
        latest = json.loads(status.stdout)["runs"][0]
        assert latest["kind"] == "run" and latest["status"] == "ok", latest
    finally:
        if hold is not None:
            hold.release()
        engine.dispose()


def test_a_run_of_another_host_is_gone_once_unseen_for_a_lease(engine: Engine) -> None:
    """On another host the pid says nothing: a run not seen for longer than the lease is
    interrupted, one seen lately is left running."""
    from bridge.runs import STALE_AFTER, close_dead_runs, new_run_values
    from bridge.timeutil import utcnow

    now = utcnow()
    ids = []
    with engine.begin() as conn:
        for seen in (now - STALE_AFTER - timedelta(seconds=5), now - timedelta(seconds=5)):
            values = {**new_run_values("sync"), "host": "elsewhere.example", "pid": 1,
                      "last_seen_at": seen}
            ids.append(conn.execute(insert(Run.__table__).values(**values))
                       .inserted_primary_key[0])
        # this host, a pid that is not running
        values = {**new_run_values("push"), "pid": 2**22 + 4321}
        ids.append(conn.execute(insert(Run.__table__).values(**values)).inserted_primary_key[0])
        # this very process: alive
        ids.append(conn.execute(insert(Run.__table__).values(**new_run_values("evaluate")))
                   .inserted_primary_key[0])
    assert close_dead_runs(engine) == [ids[0], ids[2]]
    t = Run.__table__
    with engine.connect() as conn:
        states = dict(conn.execute(select(t.c.id, t.c.status)).all())
        ended = conn.execute(select(t.c.ended_at).where(t.c.id == ids[0])).scalar_one()
    assert [states[i] for i in ids] == ["interrupted", "running", "interrupted", "running"]
    assert abs((ended - (now - STALE_AFTER - timedelta(seconds=5))).total_seconds()) < 1


def test_the_lock_heartbeat_keeps_this_process_runs_seen(engine: Engine) -> None:
    from bridge.lock import run_lock
    from bridge.runs import new_run_values

    with run_lock(engine, wait=False, lease_s=0.3):
        with engine.begin() as conn:
            values = new_run_values("sync")
            first = values["last_seen_at"]
            run_id = conn.execute(insert(Run.__table__).values(**values)).inserted_primary_key[0]
        time.sleep(1.2)  # MariaDB keeps whole seconds
        with engine.connect() as conn:
            seen = conn.execute(
                select(Run.__table__.c.last_seen_at).where(Run.__table__.c.id == run_id)
            ).scalar_one()
    assert seen > first
