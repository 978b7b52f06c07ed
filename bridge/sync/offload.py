"""Pages transformed and written by worker processes, for the big entities of a big sync.

Turning a page of orders into rows and writing them costs several times more CPU than
fetching it, and in one process the fetch threads and the writer share one interpreter
lock: on a large sync that lock, not the network, sets the pace. So once an entity's
window holds at least ``MIN_RECORDS`` records, the fetch threads keep each page's raw
JSON body (the client keeps it, see ``bridge.magento.search.Items``) and the writer
thread hands runs of queued pages to worker processes, which decode them again, run the
same transform and write them with the same ``StoreWriter.write_jobs`` — one transaction
a run, a record the store refuses quarantined — and report what they stored. The writer
thread settles the runs in the order it handed them over, and before anything queued
later (the watermark among them), so the order of writes is the queue's, as without the
workers.

Two workers, taking turns: the store takes one writer at a time, so while one worker
writes its run the other decodes and transforms the next one, then waits for its turn
(a counter shared by the workers: run ``n`` is written only after run ``n − 1`` is
committed, so the order of writes stays the queue's). A worker passes its turn on
whatever way its run ends. If a worker cannot start or dies, the writer thread
transforms and writes the runs not yet settled itself, in order (a run written twice is
stored once): the rows are the same either way, only where the CPU is spent differs. An
in-memory SQLite store cannot be shared with another process, so it never uses the
workers.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Engine

from bridge.store.upsert import Recorder, replay
from bridge.sync import lean
from bridge.sync import transform as tf
from bridge.sync.writer import (
    RECORD_ERRORS,
    SQLITE_WORKER_PRAGMAS,
    Handed,
    Job,
    QuarantineEntry,
    StoreWriter,
    record_level,
    write_carts,
    write_customers,
    write_order_tables,
    write_orders,
)
from bridge.timeutil import utcnow

log = logging.getLogger(__name__)

# An entity whose window holds fewer records is written by the writer thread: starting
# the worker (~0.5 s) is not worth it for an incremental sync. The environment variable
# SEGBRIDGE_SYNC_WORKER_FROM changes it (a huge number: never use the worker).
MIN_RECORDS = int(os.environ.get("SEGBRIDGE_SYNC_WORKER_FROM") or 5000)
WORKERS = 2  # one writes while the other transforms its next run
# Carts too, unless the sync reads their totals for the rows (runner._on_total).
ENTITIES = ("customers", "orders", "carts")
WRITE: dict[str, Callable[..., None]] = {
    "customers": write_customers, "orders": write_orders, "carts": write_carts,
}

RECORD_ID: dict[str, Callable[[Any], str | None]] = {
    "customers": lambda r: str(r.customer["id"]),
    "orders": lambda r: str(r.order["id"]),
    "carts": lambda r: str(r.cart["id"]),
}


@dataclass(frozen=True)
class Context:
    """What a worker needs besides the pages (picklable)."""

    entity: str
    id_key: str  # the record id's key in the JSON items
    attr_codes: tuple[str, ...]
    website_of_store: dict[int, int]
    synced_at: datetime
    store_url: str  # with its password: it reaches the worker through a pipe, never a log
    run_id: int | None
    money_as_float: bool = False  # the store keeps amounts as floats (SQLite)


def shareable(engine: Engine) -> bool:
    """Can another process open this store? (Not an in-memory SQLite database.)"""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return True
    return url.database not in (None, "", ":memory:") and "mode=memory" not in str(url)


def transform_item(ctx: Context, item: Any) -> Any:
    """One raw record → its rows; raises ``transform.RecordError`` when it can't be
    stored (the reason is the quarantine's)."""
    if ctx.entity == "customers":
        return tf.customer_rows(item, ctx.attr_codes, ctx.synced_at)
    if ctx.entity == "orders":
        return tf.order_rows(item, ctx.website_of_store, ctx.synced_at,
                             tf.money_float if ctx.money_as_float else None)
    return tf.cart_rows(item, ctx.website_of_store, ctx.synced_at)


def fill(job: Job, ctx: Context, items: list[Any]) -> Job:
    """Transform a page's items into ``job.records``; a record that cannot be stored
    goes to ``job.quarantine`` with the raw record."""
    for item in items:
        try:
            rows = transform_item(ctx, item)
        except tf.RecordError as exc:
            raw_id = item.get(ctx.id_key) if isinstance(item, dict) else None
            job.quarantine.append(QuarantineEntry(
                ctx.entity, None if raw_id is None else str(raw_id), str(exc), item))
            continue
        if rows is not None:  # None: a guest cart, not kept
            job.records.append(rows)
    return job


def page_items(body: bytes) -> list[Any]:
    """A page's items from its raw JSON, every NUL dropped from their strings. A body
    msgspec refuses got here because the client read only its keys (a field it skipped
    holds bytes that are not UTF-8, or a number past a double): it is read as the client
    reads a body it does not keep, by Python's json, bytes that are not UTF-8 replaced."""
    try:
        data = msgspec.json.decode(tf.drop_nul_body(body))
    except ValueError:
        data = tf.drop_nul(json.loads(body.decode("utf-8", "replace")))
    items = data.get("items") if isinstance(data, dict) else None
    return list(items or [])


# --- in the worker process -------------------------------------------------------------

_ENGINES: dict[str, Engine] = {}


PARENT_CHECK_S = 0.5


# The workers' turn: the number of the next run to write, and the condition the workers
# wait on for it (set up by the pool's initializer).
_TURN: tuple[Any, Any] | None = None


def _init_worker(turn: tuple[Any, Any] | None = None) -> None:
    global _TURN
    _TURN = turn
    # Ctrl-C reaches the whole process group: the sync itself decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _lower_priority()
    # A page's objects form no reference cycles: reference counting frees them all, and
    # automatic collections would only walk them (see runner.collect_between).
    gc.disable()
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watch",
                     daemon=True).start()


def _watch_parent(parent: int) -> None:
    """A sync killed outright (SIGKILL) cannot stop its worker, which would wait for work
    forever (it holds its own queue's pipe open) or finish a run after the sync, and its
    run lock, are gone: the worker ends as soon as its parent is gone, a transaction it
    had not committed rolled back with it."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            os._exit(0)


_frozen = False
_runs = 0  # runs this worker wrote


def _tidy() -> None:
    """Collect what cycles a run left (the store's connection objects make a few), cheaply:
    what the worker imported and built for its first run is frozen out of every later
    collection, so each walks only what is new."""
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True
    if _runs % 8 == 0:
        gc.collect()


def _engine(url: str) -> Engine:
    if url not in _ENGINES:
        from bridge.store.engine import make_engine

        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]


Written = list[tuple[int, list[tuple[str | None, str]]]]  # per page: stored, quarantined


NICE = 10


def _lower_priority() -> None:
    """The workers yield the CPU to the fetch threads: a fetch thread that waits for a
    core holds up a request, and the network with it, while the workers have a queue of
    pages to draw from (and catch up while the fetch threads wait for answers)."""
    try:
        os.nice(NICE)
    except OSError:  # not allowed here: the same work, at the same priority
        pass


def _wait_turn(seq: int) -> None:
    if _TURN is None:
        return
    cond, turn = _TURN
    with cond:
        while turn.value < seq:
            cond.wait(PARENT_CHECK_S)


def _pass_turn(seq: int) -> None:
    """Hand the turn on after run ``seq`` — once it has had it: a run that failed before
    its turn still waits for it, so that the runs before it are written first."""
    if _TURN is None:
        return
    _wait_turn(seq)
    cond, turn = _TURN
    with cond:
        turn.value = max(turn.value, seq + 1)
        cond.notify_all()


def write_pages(ctx: Context, bodies: list[bytes], seq: int = 0) -> Written:
    """Decode, transform and write pages as the writer thread would, the writing in
    turn ``seq``; per page, how many records were stored and which were quarantined
    (already written, with reasons)."""
    global _runs
    engine = _engine(ctx.store_url)
    try:
        writer = StoreWriter(engine, ctx.run_id, utcnow, sqlite_pragmas=SQLITE_WORKER_PRAGMAS)
        # The Python part of the write, before the turn: the lean path's statements for a
        # run of usual orders, else the jobs' own.
        lean_run = _lean_bound(ctx, bodies, writer)
        jobs: list[Job] = []
        bound = None
        if lean_run is None:
            jobs = _jobs(ctx, bodies)
            bound = writer.bind_jobs(jobs)
        _wait_turn(seq)
        written = _write_lean(writer, *lean_run) if lean_run is not None else None
        if written is None:
            if lean_run is not None:  # the store refused a record: the general path finds it
                jobs = _jobs(ctx, bodies)
            writer.write_jobs(jobs, bound)
            written = [(job.stored, [(q.record_id, q.reason) for q in job.quarantine])
                       for job in jobs]
    finally:
        _pass_turn(seq)
    _runs += 1
    _checkpoint(engine)
    _tidy()
    return written


def _jobs(ctx: Context, bodies: list[bytes]) -> list[Job]:
    return [fill(Job(ctx.entity, [], WRITE[ctx.entity], RECORD_ID[ctx.entity]), ctx,
                 page_items(body)) for body in bodies]


def _lean_bound(ctx: Context, bodies: list[bytes], writer: StoreWriter
                ) -> tuple[list[tuple[str, Any]], list[int]] | None:
    """A run of orders all of the usual shape (``bridge.sync.lean``): its statements and
    the orders per page; None: the general path."""
    if ctx.entity != "orders" or writer.engine.dialect.name != "sqlite":
        return None  # elsewhere the deletes are not bound ahead (``StoreWriter.bind_jobs``)
    run = lean.order_run(bodies, ctx.website_of_store, ctx.synced_at, ctx.money_as_float)
    if run is None:
        return None
    recorder = Recorder(writer.engine.dialect)
    if run.ids:
        write_order_tables(recorder, run.ids, run.orders, run.items,  # type: ignore[arg-type]
                           run.addresses, lean.COLUMNS)
    return recorder.statements, run.per_page


def _write_lean(writer: StoreWriter, bound: list[tuple[str, Any]], per_page: list[int]
                ) -> Written | None:
    """Write a lean run in one transaction. If the store refuses a record of it, the run
    is written the general way instead, which finds and quarantines that record (None)."""
    try:
        with writer.transaction() as conn:
            replay(conn, bound)
    except RECORD_ERRORS as exc:
        if not record_level(exc):
            raise
        return None
    return [(n, []) for n in per_page]


# Each worker copies the WAL into the database after every CHECKPOINT_EVERY of its runs
# (the two together: about every 8 runs, some 10,000 pages, as the writer thread's own
# wal_autocheckpoint): after its turn, while the other worker writes (a PASSIVE
# checkpoint waits for no one and blocks no one).
CHECKPOINT_EVERY = 4


def _checkpoint(engine: Engine) -> None:
    if engine.dialect.name != "sqlite" or _runs % CHECKPOINT_EVERY:
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _warm() -> None:
    """Keeps a worker busy a moment, so that the pool starts every worker at once."""
    time.sleep(0.2)


# --- in the sync -----------------------------------------------------------------------


class Offload:
    """The worker processes, started on first use and stopped with the sync."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.broken = False
        self._seq = 0  # the turn of the next run handed to the workers

    def _get_pool(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None and not self.broken:
                try:
                    mp = multiprocessing.get_context("spawn")
                    self._pool = ProcessPoolExecutor(
                        WORKERS, mp_context=mp, initializer=_init_worker,
                        initargs=((mp.Condition(), mp.Value("q", 0)),),
                    )
                except (OSError, ValueError) as exc:
                    log.warning("the sync's worker process could not start (%s); "
                                "writing from the sync itself", exc)
                    self.broken = True
            return self._pool

    def start(self) -> None:
        """Start the workers now (they import while the first pages are fetched)."""
        pool = self._get_pool()
        if pool is not None:
            for _ in range(WORKERS):
                pool.submit(_warm)

    def _submit(self, ctx: Context, bodies: list[bytes]) -> Future[Written] | None:
        pool = self._get_pool()
        if pool is None:
            return None
        try:
            future = pool.submit(write_pages, ctx, bodies, self._seq)
        except RuntimeError as exc:  # shut down or broken
            log.warning("the sync's worker process is gone (%s); writing here", exc)
            self.broken = True
            return None
        self._seq += 1
        return future

    def writer_for(self, contexts: dict[str, Context]) -> Callable[[list[Job]], Handed]:
        """``StoreWriter.remote``: hand runs of page jobs to the workers; a run they could
        not write comes back with its rows, for the writer thread."""

        def remote(jobs: list[Job]) -> Handed:
            ctx = contexts[jobs[0].entity]
            bodies = [job.body for job in jobs if job.body is not None]
            future = self._submit(ctx, bodies) if len(bodies) == len(jobs) else None

            def collect() -> list[Job]:
                if future is not None:
                    try:
                        written = future.result()
                    except Exception as exc:
                        from concurrent.futures.process import BrokenProcessPool

                        if not isinstance(exc, BrokenProcessPool):
                            raise  # the store failed in the worker: the sync stops as here
                        log.warning("a worker process of the sync died; writing here")
                        self.broken = True
                    else:
                        for job, (stored, bad) in zip(jobs, written, strict=True):
                            job.stored = stored
                            job.quarantine = [QuarantineEntry(job.entity, rid, reason, None)
                                              for rid, reason in bad]
                            job.body = None
                        return []
                for job in jobs:
                    fill(job, ctx, page_items(job.body or b"{}"))
                    job.body = None
                return jobs

            return Handed(lambda: future is None or future.done(), collect)

        return remote

    def close(self, cancel: bool = False) -> None:
        """Stop the worker; ``cancel``: drop the runs not started. Either way this waits
        for a run the worker is writing, so that nothing is written after the sync (and
        its run lock) is over."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=cancel)
