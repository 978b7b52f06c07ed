"""The sync's worker processes: they do not outlive a sync killed with SIGKILL, and they
write the runs handed to them in turn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bridge.store.engine import open_store
from bridge.store.models import Order, OrderAddress, OrderItem
from bridge.sync import offload
from bridge.sync.writer import Job, StoreWriter
from bridge.timeutil import utcnow

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import sys, time
from bridge.sync import offload
off = offload.Offload()
off.start()
pool = off._get_pool()
deadline = time.monotonic() + 30
while not pool._processes and time.monotonic() < deadline:
    time.sleep(0.05)
print(next(iter(pool._processes)), flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_worker_ends_when_the_sync_is_killed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, text=True)
    try:
        assert proc.stdout is not None
        worker = int(proc.stdout.readline())
        time.sleep(1.0)  # the worker is up and waiting for work
        assert _alive(worker)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # the worker runs at the lowest priority: on a loaded machine its half-second
        # check of its parent can wait for the CPU for several seconds
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its killed sync"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _orders_page(first: int, count: int, total: float) -> bytes:
    return msgspec.json.encode({"items": [
        {"entity_id": i, "created_at": "2026-01-02 03:04:05", "updated_at": "2026-01-02 03:04:05",
         "grand_total": total, "items": [{"item_id": i * 10, "sku": f"S{i}", "price": 1.5}]}
        for i in range(first, first + count)]})


def test_two_workers_commit_runs_in_the_order_they_were_handed_over(tmp_path: Path) -> None:
    """A record in two runs keeps the later run's version, although the later run is
    transformed long before the earlier one (30 pages against one record)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    ctx = offload.Context("orders", "entity_id", (), {}, utcnow(), url, None,
                          money_as_float=True)
    off = offload.Offload()
    try:
        remote = off.writer_for({"orders": ctx})
        first = [Job("orders", [], offload.WRITE["orders"], offload.RECORD_ID["orders"],
                     body=_orders_page(n * 100 + 1, 100, 1.0)) for n in range(30)]
        later = [Job("orders", [], offload.WRITE["orders"], offload.RECORD_ID["orders"],
                     body=_orders_page(7, 1, 2.0))]
        handed = [remote(first), remote(later)]
        assert [h.collect() for h in handed] == [[], []]  # both written by the workers
    finally:
        off.close()
    assert sum(job.stored for job in first) == 3000 and later[0].stored == 1
    with engine.connect() as conn:
        assert conn.execute(select(Order.grand_total).where(Order.id == 7)).scalar() == 2.0
        assert conn.execute(select(func.count()).select_from(OrderItem)).scalar() == 3000


def test_the_turn_passes_on_when_a_run_fails(tmp_path: Path) -> None:
    """A run the store refuses (no schema here) still passes its turn: the next run is
    not left waiting for it."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    ctx = offload.Context("orders", "entity_id", (), {}, utcnow(), url, None,
                          money_as_float=True)
    off = offload.Offload()
    try:
        remote = off.writer_for({"orders": ctx})
        handed = [remote([Job("orders", [], offload.WRITE["orders"],
                              offload.RECORD_ID["orders"], body=_orders_page(n, 1, 1.0))])
                  for n in (1, 2)]
        for h in handed:
            with pytest.raises(OperationalError):
                h.collect()
    finally:
        off.close()


def test_the_workers_run_at_a_lower_priority_than_the_sync() -> None:
    off = offload.Offload()
    try:
        pool = off._get_pool()
        assert pool is not None
        assert pool.submit(os.nice, 0).result(timeout=60) >= os.nice(0) + offload.NICE
    finally:
        off.close()


NOW = datetime(2026, 3, 4, 5, 6, 7)


def _addressed_page(first: int, count: int, total: float) -> bytes:
    page = msgspec.json.decode(_orders_page(first, count, total))
    for n, order in enumerate(page["items"]):
        address = {"city": f"Lund {total}", "street": ["Gata 1"], "firstname": "Åsa"}
        order["billing_address"] = address
        order["extension_attributes"] = {"shipping_assignments": [{"shipping": {
            "address": address if n % 2 else {**address, "city": "Malmö"}}}]}
    return msgspec.json.encode(page)


def _jobs(ctx: offload.Context, pages: list[bytes]) -> list[Job]:
    return [offload.fill(Job("orders", [], offload.WRITE["orders"],
                             offload.RECORD_ID["orders"]), ctx, offload.page_items(p))
            for p in pages]


def _stored(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t)).all())
                for t in (Order.__table__, OrderItem.__table__, OrderAddress.__table__)}


def test_a_run_bound_ahead_stores_exactly_what_it_stores_written_directly(
        tmp_path: Path) -> None:
    """A worker binds its run's statements before its turn; written through them, the
    store holds exactly what the same run written directly holds — over orders already
    stored (updated, their items and addresses replaced) and new ones. Binding alone
    writes nothing."""
    pages = [_addressed_page(1, 50, 1.0), _addressed_page(30, 40, 2.5)]
    stored = []
    for name in ("direct", "bound"):
        url = f"sqlite:///{tmp_path / name}.db"
        engine = open_store(url)
        ctx = offload.Context("orders", "entity_id", (), {}, NOW, url, None,
                              money_as_float=True)
        writer = StoreWriter(engine, None, utcnow)
        writer.write_jobs(_jobs(ctx, [_addressed_page(20, 20, 9.0)]))
        before = _stored(engine)
        jobs = _jobs(ctx, pages)
        bound = writer.bind_jobs(jobs) if name == "bound" else None
        if name == "bound":
            assert bound and _stored(engine) == before
        writer.write_jobs(jobs, bound)
        assert [job.stored for job in jobs] == [50, 40]
        stored.append(_stored(engine))
        engine.dispose()
    assert stored[0] == stored[1]
    assert len(stored[0]["orders"]) == 69 and len(stored[0]["order_addresses"]) == 138


def test_a_write_that_needs_a_live_connection_is_not_bound_ahead(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    seen: list[int] = []

    def reads(conn: Any, recs: list[Any]) -> None:
        seen.append(conn.execute(select(func.count()).select_from(Order)).scalar_one())

    writer = StoreWriter(engine, None, utcnow)
    jobs = [Job("orders", [object()], reads)]
    assert writer.bind_jobs(jobs) is None and seen == []
    writer.write_jobs(jobs, None)  # written as it is bound, on the connection
    assert seen == [0] and jobs[0].stored == 1


@pytest.mark.parametrize("path", ["lean", "general"])
def test_a_worker_binds_its_run_before_it_waits_for_its_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """Usual orders are bound by the lean path (bridge.sync.lean), others by the jobs'
    own writes: either way before the turn."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = open_store(url)
    ctx = offload.Context("orders", "entity_id", (), {}, NOW, url, None, money_as_float=True)
    steps: list[str] = []
    real_bind, real_lean = StoreWriter.bind_jobs, offload._lean_bound

    def bind(self: StoreWriter, jobs: list[Job]) -> Any:
        steps.append("bind general")
        return real_bind(self, jobs)

    def bind_lean(*args: Any) -> Any:
        bound = real_lean(*args)
        if bound is not None:
            steps.append("bind lean")
        return bound

    monkeypatch.setattr(StoreWriter, "bind_jobs", bind)
    monkeypatch.setattr(offload, "_lean_bound", bind_lean)
    monkeypatch.setattr(offload, "_wait_turn", lambda seq: steps.append(f"turn {seq}"))
    page = _addressed_page(1, 5, 1.0)
    if path == "general":  # an amount as text: the general parser's
        page = page.replace(b'"grand_total":1.0', b'"grand_total":"1.0"', 1)
        assert b'"1.0"' in page
    written = offload.write_pages(ctx, [page], 3)
    assert steps == [f"bind {path}", "turn 3"] and written == [(5, [])]
    assert len(_stored(engine)["orders"]) == 5
    with offload._engine(url).connect() as conn:  # the worker's own connection
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
    with engine.connect() as conn:  # the store's others still check the keys
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize("every", [1, 10**9])
def test_a_worker_checkpoints_after_its_turn_not_in_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: int) -> None:
    """A worker's commit copies nothing into the database file (it would, within the
    turn, once the WAL is long enough); the worker checkpoints after it passed its turn,
    every CHECKPOINT_EVERY runs of its own."""
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    engine = open_store(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    size = path.stat().st_size
    ctx = offload.Context("orders", "entity_id", (), {}, NOW, url, None, money_as_float=True)
    steps: list[str] = []
    monkeypatch.setattr(offload, "CHECKPOINT_EVERY", every)
    monkeypatch.setattr(offload, "_pass_turn", lambda seq: steps.append("turn passed"))
    real = offload._checkpoint
    monkeypatch.setattr(offload, "_checkpoint",
                        lambda e: (steps.append("checkpoint"), real(e))[1])
    offload.write_pages(ctx, [_addressed_page(1, 200, 1.0)], 0)
    assert steps == ["turn passed", "checkpoint"]
    assert Path(f"{path}-wal").stat().st_size > 0
    if every == 1:
        assert path.stat().st_size > size  # the orders are in the database file now
    else:
        assert path.stat().st_size == size  # still only in the WAL
