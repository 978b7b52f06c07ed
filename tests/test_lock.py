"""The run lock on the database under test (SQLite, PostgreSQL, MariaDB).

Concurrency is tested with real separate processes where it matters (the lock must
hold across processes and survive a killed holder), with threads where only the
database's behaviour is under test.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text, update

from bridge import lock as lockmod
from bridge.errors import EXIT_LOCKED, LockHeld
from bridge.lock import lock_holder, run_lock
from bridge.store.lock_tables import RunLockRow

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[1]

# A process that takes the lock, reports, holds it for a while, and logs what it did.
HOLDER_SCRIPT = r"""
import os, sys, time
from bridge.errors import LockHeld
from bridge.lock import run_lock
from bridge.store.engine import make_engine
url, wait, hold_s, journal, lease_s = sys.argv[1:6]
wait, hold_s, lease_s = wait == "1", float(hold_s), float(lease_s)
engine = make_engine(url)
try:
    with run_lock(engine, wait=wait, holder="test-holder", lease_s=lease_s, poll_s=0.05):
        with open(journal, "a") as fh:
            fh.write(f"start {os.getpid()} {time.monotonic()}\n")
        print("ready", flush=True)
        time.sleep(hold_s)
        with open(journal, "a") as fh:
            fh.write(f"end {os.getpid()} {time.monotonic()}\n")
except LockHeld as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def _holder_proc(
    url: str, journal: Path, *, wait: bool, hold_s: float, lease_s: float = 60
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, url, "1" if wait else "0", str(hold_s),
         str(journal), str(lease_s)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _in_thread(fn):  # type: ignore[no-untyped-def]
    """Run ``fn`` in another thread (the lock is re-entrant within one thread)."""
    out: dict[str, object] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            out["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    return out


def _take_and_release(engine: Engine) -> str:
    with run_lock(engine, wait=False, holder="other thread"):
        return "taken"


def _is_pg(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def test_second_run_is_refused_with_the_holder_named(engine: Engine) -> None:
    assert lock_holder(engine) is None
    with run_lock(engine, wait=False, holder="segbridge run") as handle:
        assert handle.holder == "segbridge run"
        info = lock_holder(engine)
        assert info is not None
        assert info["holder"] == "segbridge run"
        assert info["pid"] == os.getpid()
        assert info["host"] == socket.gethostname()

        def second() -> None:
            with run_lock(engine, wait=False, holder="segbridge resync"):
                pass

        out = _in_thread(second)
        err = out.get("error")
        assert isinstance(err, LockHeld), out
        assert err.exit_code == EXIT_LOCKED
        message = str(err)
        assert "'segbridge run'" in message
        assert f"pid {os.getpid()}" in message
        assert socket.gethostname() in message
        assert "since " in message
    assert lock_holder(engine) is None
    # free again: the next run takes it at once
    with run_lock(engine, wait=False, holder="segbridge resync"):
        assert lock_holder(engine)["holder"] == "segbridge resync"  # type: ignore[index]


def test_reentrant_in_the_same_thread(engine: Engine) -> None:
    with run_lock(engine, wait=False, holder="segbridge run") as outer:
        with run_lock(engine, wait=False, holder="inner") as inner:
            assert inner is outer
        # the inner exit did not release it
        assert lock_holder(engine)["holder"] == "segbridge run"  # type: ignore[index]
    assert lock_holder(engine) is None


def test_wait_blocks_until_the_holder_releases(engine: Engine) -> None:
    released = threading.Event()
    taken = threading.Event()

    def hold() -> None:
        with run_lock(engine, wait=False, holder="first"):
            taken.set()
            time.sleep(1.0)
            released.set()

    t = threading.Thread(target=hold)
    t.start()
    assert taken.wait(10)
    start = time.monotonic()
    with run_lock(engine, wait=True, holder="second", poll_s=0.05):
        assert released.is_set(), "the waiter got in while the first run still held it"
        assert lock_holder(engine)["holder"] == "second"  # type: ignore[index]
    assert time.monotonic() - start >= 0.5
    t.join(10)


def test_two_processes_started_together_one_exits_4(engine: Engine, db_url: str,
                                                    tmp_path: Path) -> None:
    journal = tmp_path / "journal.txt"
    procs = [_holder_proc(db_url, journal, wait=False, hold_s=2.0) for _ in range(2)]
    results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, EXIT_LOCKED], results
    loser = next(r for r in results if r[0] == EXIT_LOCKED)
    assert "'test-holder'" in loser[2] and "pid " in loser[2]
    lines = journal.read_text().split()
    # exactly one run did its work, once
    assert lines.count("start") == 1 and lines.count("end") == 1


def test_two_processes_with_wait_run_one_after_the_other(engine: Engine, db_url: str,
                                                         tmp_path: Path) -> None:
    journal = tmp_path / "journal.txt"
    procs = [_holder_proc(db_url, journal, wait=True, hold_s=0.7) for _ in range(2)]
    for p in procs:
        assert p.wait(60) == 0, p.stderr.read()  # type: ignore[union-attr]
    events = [line.split() for line in journal.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end", "start", "end"], events
    # the second started only after the first ended, and they were different processes
    assert events[0][1] == events[1][1] and events[2][1] == events[3][1]
    assert events[0][1] != events[2][1]
    assert float(events[2][2]) >= float(events[1][2])


def test_killed_holder_frees_the_lock(engine: Engine, db_url: str, tmp_path: Path) -> None:
    """A holder killed with SIGKILL: its lease expires (or its session ends) by itself."""
    proc = _holder_proc(db_url, tmp_path / "j.txt", wait=False, hold_s=60, lease_s=1.0)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()  # type: ignore[union-attr]
        assert lock_holder(engine)["pid"] == proc.pid  # type: ignore[index]
        with pytest.raises(LockHeld):
            with run_lock(engine, wait=False):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    deadline = time.monotonic() + 10
    while True:
        try:
            with run_lock(engine, wait=False, holder="successor"):
                assert lock_holder(engine)["holder"] == "successor"  # type: ignore[index]
            break
        except LockHeld:
            assert time.monotonic() < deadline, "the dead holder's lock never freed"
            time.sleep(0.1)


def _lease_only(engine: Engine) -> None:
    if _is_pg(engine):
        pytest.skip("PostgreSQL uses a session advisory lock, not a lease")


def _plant_lease(engine: Engine, *, host: str, pid: int, expired_ago: timedelta) -> None:
    with engine.begin() as conn:
        now = lockmod._db_now(conn)
        conn.execute(
            insert(RunLockRow.__table__).values(
                name="run", token="dead-beef", holder="segbridge run", host=host, pid=pid,
                acquired_at=now - expired_ago - timedelta(minutes=5),
                heartbeat_at=now - expired_ago - timedelta(seconds=60),
                expires_at=now - expired_ago,
            )
        )


def test_stale_lease_is_taken_over(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    _lease_only(engine)
    _plant_lease(engine, host="crashed-box", pid=4242, expired_ago=timedelta(seconds=5))
    assert lock_holder(engine) is None  # expired = free
    with caplog.at_level(logging.WARNING, logger="bridge.lock"):
        with run_lock(engine, wait=False, holder="segbridge resync"):
            info = lock_holder(engine)
            assert info is not None and info["holder"] == "segbridge resync"
            assert info["pid"] == os.getpid()
    assert "took over the expired lease" in caplog.text and "crashed-box" in caplog.text
    assert lock_holder(engine) is None


def test_live_lease_of_another_machine_is_respected(engine: Engine) -> None:
    _lease_only(engine)
    _plant_lease(engine, host="other-box", pid=4242, expired_ago=timedelta(seconds=-30))
    with pytest.raises(LockHeld, match="other-box"):
        with run_lock(engine, wait=False):
            pass
    assert lock_holder(engine)["host"] == "other-box"  # type: ignore[index]


def test_expired_lease_of_a_live_local_process_is_respected_for_a_while(engine: Engine) -> None:
    """A holder stuck in a long SQLite write cannot heartbeat but is not dead."""
    _lease_only(engine)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _plant_lease(engine, host=socket.gethostname(), pid=sleeper.pid,
                     expired_ago=timedelta(seconds=30))
        with pytest.raises(LockHeld, match=f"pid {sleeper.pid}"):
            with run_lock(engine, wait=False):
                pass
        # long past the grace period: taken over even though the pid exists (pid reuse)
        with engine.begin() as conn:
            conn.execute(update(RunLockRow.__table__).values(
                expires_at=lockmod._db_now(conn) - timedelta(hours=1)))
        with run_lock(engine, wait=False, holder="successor"):
            assert lock_holder(engine)["holder"] == "successor"  # type: ignore[index]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_heartbeat_keeps_a_short_lease_alive(engine: Engine) -> None:
    _lease_only(engine)
    with run_lock(engine, wait=False, holder="long run", lease_s=0.6):
        first = lock_holder(engine)
        assert first is not None
        time.sleep(1.5)  # more than two lease lengths
        later = lock_holder(engine)
        assert later is not None and later["holder"] == "long run"
        assert later["expires_at"] > first["expires_at"]
        assert later["heartbeat_at"] > first["heartbeat_at"]
        out = _in_thread(lambda: _take_and_release(engine))
        assert isinstance(out.get("error"), LockHeld)
    assert lock_holder(engine) is None


def test_a_lost_lease_is_flagged(engine: Engine) -> None:
    _lease_only(engine)
    with run_lock(engine, wait=False, lease_s=0.3) as handle:
        with engine.begin() as conn:  # someone else's takeover, as after a long stall
            conn.execute(update(RunLockRow.__table__).values(token="someone-else"))
        assert handle.lost.wait(5)


def test_advisory_lock_is_scoped_to_the_session(engine: Engine) -> None:
    if not _is_pg(engine):
        pytest.skip("PostgreSQL only")
    with run_lock(engine, wait=False, holder="pg run") as handle:
        assert handle.mechanism == "advisory"
        info = lock_holder(engine)
        assert info is not None and info["backend_pid"] and info["holder"] == "pg run"
    assert lock_holder(engine) is None
    # the connection went back to the pool without the lock: a new session can take it
    out = _in_thread(lambda: _take_and_release(engine))
    assert out == {"value": "taken"}


def test_lock_times_are_naive_utc(engine: Engine) -> None:
    with run_lock(engine, wait=False) as handle:
        now = datetime.now(UTC).replace(tzinfo=None)
        assert handle.acquired_at.tzinfo is None
        assert abs((now - handle.acquired_at).total_seconds()) < 120


def test_a_dropped_postgresql_session_is_flagged(engine: Engine) -> None:
    """The server (or a network cut) ends the holding session: the run learns it lost."""
    if not _is_pg(engine):
        pytest.skip("PostgreSQL only")
    with run_lock(engine, wait=False, lease_s=0.3) as handle:
        backend = lock_holder(engine)["backend_pid"]  # type: ignore[index]
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
            conn.commit()
        assert handle.lost.wait(5)
        assert lock_holder(engine) is None  # free for the next run
