"""The writer thread's runs of worker pages: gathered up to DRAIN_LIMIT, in queue order."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from bridge.store.engine import open_store
from bridge.store.models import Customer
from bridge.store.upsert import upsert
from bridge.sync import writer as w
from bridge.sync.writer import Handed, Job, StoreWriter, Task
from bridge.timeutil import utcnow


def _writer() -> tuple[StoreWriter, list[list[str]], list[str]]:
    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    writer = StoreWriter(engine, None, utcnow, capacity=200)
    runs: list[list[str]] = []
    order: list[str] = []

    def remote(jobs: list[Job]) -> Handed:
        names = [str(j.body, "ascii") for j in jobs]
        runs.append(names)
        order.extend(names)
        for job in jobs:
            job.body = None
        return Handed(lambda: True, list)

    writer.remote = remote
    return writer, runs, order


def _page(name: str) -> Job:
    job = Job("orders", [], lambda conn, recs: None)
    job.body = name.encode("ascii")
    return job


def test_worker_pages_that_trickle_in_are_written_as_one_run() -> None:
    writer, runs, _ = _writer()
    writer.start()
    try:
        for n in range(10):  # one page every 20 ms: without gathering, ten runs of one
            writer.put(_page(f"p{n}"))
            time.sleep(0.02)
        writer.flush()
    finally:
        writer.close()
    assert runs == [[f"p{n}" for n in range(10)]]


def test_a_run_is_at_most_drain_limit_pages_and_a_task_ends_it_early() -> None:
    writer, runs, order = _writer()
    seen: list[str] = []
    for n in range(w.DRAIN_LIMIT + 5):
        writer.put(_page(f"a{n}"))
    writer.put(Task(lambda conn: seen.append(f"task after {len(order)}"), "mark"))
    writer.put(_page("b0"))
    t0 = time.monotonic()
    writer.start()
    writer.flush()
    took = time.monotonic() - t0
    writer.close()
    assert [len(r) for r in runs[:2]] == [w.DRAIN_LIMIT, 5]
    assert order == [f"a{n}" for n in range(w.DRAIN_LIMIT + 5)] + ["b0"]
    assert seen == [f"task after {w.DRAIN_LIMIT + 5}"]  # the task ran in queue order
    # the pages before the task did not wait for more: only b0's run waited for the flush
    assert took < w.GATHER_S * 2


def test_pages_written_here_do_not_wait() -> None:
    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    writer = StoreWriter(engine, None, utcnow)
    writes: list[int] = []
    done = threading.Event()

    def apply(conn: Any, recs: list[Any]) -> None:
        writes.append(len(recs))
        done.set()

    writer.start()
    try:
        t0 = time.monotonic()
        writer.put(Job("orders", [1, 2], apply))
        assert done.wait(5)
        assert time.monotonic() - t0 < w.GATHER_S / 2
    finally:
        writer.close()
    assert writes == [2]


def _written_bytes() -> int:
    """Bytes this process has handed to write calls so far (Linux: /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_a_worker_transaction_writes_nothing_to_disk_before_its_commit(
        tmp_path: Path) -> None:
    """A statement that rewrites rows already in the database keeps their pages' old
    contents for its own rollback. SQLite spills that statement journal past 64 KiB to
    a temporary file, a write call per page, statement after statement: the sync's
    multi-row upserts made 2.7 million such calls in a full sync, most of them for the
    customers, whose ids come scattered over their table. In memory
    instead (``temp_store``), the first bytes a sync transaction writes are its
    commit's. Not the writer thread's (its connection builds the indexes, which would
    then sort in memory)."""
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    rows = [{"id": i, "website_id": 1, "group_id": 1, "email": f"c{i}@example.com",
             "email_ci": f"c{i}@example.com",
             "firstname": "x" * 200} for i in range(1, 3001)]
    with engine.begin() as conn:
        upsert(conn, Customer.__table__, rows)
    writer = StoreWriter(engine, None, utcnow, sqlite_pragmas=w.SQLITE_WORKER_PRAGMAS)
    changed = [{**r, "firstname": "y" * 200} for r in rows]
    with writer.transaction() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM customers").scalar()  # the pages read
        before = _written_bytes()
        upsert(conn, Customer.__table__, changed)  # a few statements, ~1 MB of pages
        during = _written_bytes() - before
    assert during < 16 * 1024, f"{during:,} bytes written before the commit"
    with engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM customers WHERE firstname LIKE 'y%'").scalar() == 3000
