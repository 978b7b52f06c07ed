"""The one writer thread: every store write of a sync goes through it.

Fetch threads transform pages and hand them over through a bounded queue (the back
pressure that keeps memory flat). The writer drains whatever is waiting, up to a
limit, and commits it in one transaction — fewer commits when the network is faster
than the database, one page a commit when it is not. If a transaction fails, its jobs
are retried one by one and a job that still fails is retried record by record; a
record the database refuses is quarantined with the database's reason. Anything else
(the database is gone) stops the sync.

Jobs run in queue order, so a job queued after an entity's pages (its watermark) is
committed only after every page before it. Runs of pages handed to worker processes
(``StoreWriter.remote``) may be in flight two at a time — the workers commit them in
the order they were handed over — and everything else waits until those before it are
settled.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from bridge.store.models import (
    Cart,
    CartItem,
    Customer,
    CustomerAddress,
    CustomerAttribute,
    Order,
    OrderAddress,
    OrderItem,
    Quarantine,
)
from bridge.store.upsert import Recorder, Unbindable, delete_children, replay, upsert
from bridge.sync.transform import CART_STATE_COLUMNS, CartRows, CustomerRows, OrderRows

log = logging.getLogger(__name__)

MAX_PAYLOAD_CHARS = 100_000
DRAIN_LIMIT = 64  # jobs (pages) committed together at most
# Pages for the worker process (bridge.sync.offload) wait up to this long for more, so
# that a run is about DRAIN_LIMIT pages even when the worker keeps up with the fetch
# threads (without it a run was whatever had queued meanwhile, ~7 pages): each commit
# writes every index page its rows dirtied, so 64-page runs cut the worker's store CPU
# by about a quarter (measured on 80,000 orders). The wait ends early at anything that
# is not such a page (a watermark, a flush) and when the queue is full.
GATHER_S = 0.5
# SQLite, set on the writer's connection (it stays set on that pooled connection). Rows
# land on random leaf pages of each index keyed by customer id, e-mail, …, and a commit
# writes every page it dirtied to the WAL: bigger transactions (DRAIN_LIMIT and the
# queue's capacity) and a page cache that holds their dirty pages instead of spilling
# them mid-transaction cut the bytes written by a full sync by about a third (measured:
# 5.1 → 3.4 GB for 80,000 orders); a rarer checkpoint copies a page rewritten by
# several commits once.
SQLITE_WRITER_PRAGMAS = (
    "PRAGMA cache_size=-32768",  # KiB: 32 MiB
    "PRAGMA wal_autocheckpoint=10000",  # pages: about 40 MB of WAL between checkpoints
)
# A sync worker's: its commits never checkpoint, as a commit that crosses the threshold
# would inside the worker's turn; the worker checkpoints after its turn instead (see
# bridge.sync.offload). Nor does it look up each item's and address's parent row for the
# foreign key: a worker writes a page's records whole, parents and children in the same
# statements of one transaction, so the lookups (a tenth of its time in the store) could
# only ever find the row it has just written. Every other connection checks them.
# And each multi-row upsert keeps the old contents of the pages it rewrites, for its own
# rollback (the statement journal): past 64 KiB SQLite spills that to a temporary file,
# two write calls a page, statement after statement (2.7 million calls in a full sync of
# 100,000 customers and 400,000 orders, most for the customers, whose ids come scattered
# over their table; some 3 s of CPU in the kernel). temp_store=MEMORY keeps it in
# memory: one statement's pages, a few MB at most. Only here: on a connection with it, an
# index build sorts in memory too, however many rows (the writer thread builds them).
SQLITE_WORKER_PRAGMAS = ("PRAGMA cache_size=-32768", "PRAGMA wal_autocheckpoint=0",
                         "PRAGMA foreign_keys=OFF", "PRAGMA temp_store=MEMORY")


class WriterFailed(RuntimeError):
    """The store refused a write that is not one bad record: the sync cannot go on."""


# --- what a page turns into ------------------------------------------------------------


@dataclass
class QuarantineEntry:
    entity: str
    record_id: str | None
    reason: str
    payload: dict[str, Any] | None


def _payload(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return {"unserialisable": repr(value)[:1000]}
    if len(text) > MAX_PAYLOAD_CHARS:
        return {"truncated": True, "start": text[:1000]}
    return json.loads(text)


def write_quarantine(
    conn: Connection, run_id: int | None, now: datetime, entries: Sequence[QuarantineEntry]
) -> None:
    if not entries:
        return
    conn.execute(
        insert(Quarantine.__table__),
        [
            {
                "run_id": run_id,
                "entity": e.entity,
                "record_id": (e.record_id or "")[:64] or None,
                "reason": e.reason,
                "payload": _payload(e.payload),
                "created_at": now,
            }
            for e in entries
        ],
    )


def write_customers(conn: Connection, recs: Sequence[CustomerRows]) -> None:
    if not recs:
        return
    ids = [r.customer["id"] for r in recs]
    upsert(conn, Customer.__table__, [r.customer for r in recs])
    delete_children(conn, CustomerAddress.__table__, "customer_id", ids)
    upsert(conn, CustomerAddress.__table__, [a for r in recs for a in r.addresses])
    delete_children(conn, CustomerAttribute.__table__, "customer_id", ids)
    upsert(conn, CustomerAttribute.__table__, [a for r in recs for a in r.attributes])


def write_orders(conn: Connection, recs: Sequence[OrderRows]) -> None:
    if not recs:
        return
    write_order_tables(conn, [r.order["id"] for r in recs], [r.order for r in recs],
                       [i for r in recs for i in r.items],
                       [a for r in recs for a in r.addresses])


def write_order_tables(conn: Connection, ids: Sequence[int], orders: Sequence[Any],
                       items: Sequence[Any], addresses: Sequence[Any],
                       columns: tuple[Sequence[str], Sequence[str], Sequence[str]] | None = None,
                       ) -> None:
    """Orders with their items and addresses (replaced as a set); the rows as mappings,
    or as tuples of ``columns`` (orders', items', addresses'), see ``bridge.sync.lean``."""
    order_cols, item_cols, address_cols = columns or (None, None, None)
    upsert(conn, Order.__table__, orders, columns=order_cols)
    delete_children(conn, OrderItem.__table__, "order_id", ids)
    upsert(conn, OrderItem.__table__, items, columns=item_cols)
    delete_children(conn, OrderAddress.__table__, "order_id", ids)
    upsert(conn, OrderAddress.__table__, addresses, columns=address_cols)


_TOTALS = (
    update(Cart.__table__)
    .where(Cart.__table__.c.id == bindparam("b_id"))
    .values(
        grand_total=bindparam("b_grand_total"),
        tax_amount=bindparam("b_tax_amount"),
        totals_at=bindparam("b_totals_at"),
    )
)


def write_carts(
    conn: Connection, recs: Sequence[CartRows], totals: dict[int, dict[str, Any]] | None = None
) -> None:
    if not recs:
        return
    full = [r for r in recs if r.items is not None]
    keep = [r for r in recs if r.items is None]
    if full:
        upsert(conn, Cart.__table__, [r.cart for r in full])
        delete_children(conn, CartItem.__table__, "cart_id", [r.cart["id"] for r in full])
        upsert(conn, CartItem.__table__, [i for r in full for i in r.items or ()])
    if keep:
        # Inactive quotes come without items (docs/magento.md B8): update the state, keep the rest.
        upsert(conn, Cart.__table__, [r.cart for r in keep], update=CART_STATE_COLUMNS)
    if totals:
        conn.execute(
            _TOTALS,
            [{"b_id": cid, **{f"b_{k}": v for k, v in t.items()}} for cid, t in totals.items()],
        )


# --- the thread ------------------------------------------------------------------------


@dataclass
class Job:
    """Writes for one page. ``apply(conn, records)`` writes a list of records in bulk, so
    a failing page can be retried record by record."""

    entity: str
    records: list[Any]
    apply: Callable[[Connection, list[Any]], None]
    record_id: Callable[[Any], str | None] = lambda r: None
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    done: Callable[[], None] | None = None  # called after commit (progress, counters)
    stored: int = 0
    # A page that a worker process transforms and writes from its raw JSON body (see
    # bridge.sync.offload): the writer hands runs of such jobs to ``StoreWriter.remote``.
    body: bytes | None = None


@dataclass
class Handed:
    """A run of jobs handed to be written elsewhere: ``finished()`` says whether it is
    settled there; ``collect()`` waits until it is and returns the jobs that were not
    written (rows filled in), for the writer thread to write."""

    finished: Callable[[], bool]
    collect: Callable[[], list[Job]]


@dataclass
class Task:
    """Any other write (watermark, deletions, links): run in order, in its own transaction."""

    run: Callable[[Connection], None]
    name: str = "task"


_STOP = object()


class StoreWriter:
    """Owns the only write connection during a sync."""

    def __init__(self, engine: Engine, run_id: int | None, now: Callable[[], datetime],
                 capacity: int = 8, sqlite_pragmas: tuple[str, ...] = SQLITE_WRITER_PRAGMAS
                 ) -> None:
        self.engine = engine
        self.sqlite_pragmas = sqlite_pragmas
        self.run_id = run_id
        self.now = now
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(2, capacity))
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self.error: BaseException | None = None
        self.quarantined: dict[str, int] = {}
        self.stored: dict[str, int] = {}
        self.commits = 0
        self._lock = threading.Lock()
        # Hands a run of jobs with a ``body`` to be written elsewhere (see ``Handed``);
        # None: every job is written here. At most ``max_in_flight`` runs are handed
        # over and not yet settled.
        self.remote: Callable[[list[Job]], Handed] | None = None
        self.max_in_flight = 1
        self._in_flight: deque[tuple[Handed, list[Job]]] = deque()

    def start(self) -> StoreWriter:
        self._thread.start()
        return self

    # -- producer side ---------------------------------------------------------------

    def put(self, item: Job | Task) -> None:
        """Queue a write; blocks while the queue is full; raises once the writer failed."""
        while True:
            if self.error is not None:
                raise WriterFailed(f"store write failed: {self.error}") from self.error
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def call(self, fn: Callable[[Connection], Any], name: str = "task") -> Any:
        """Run ``fn`` in the writer after everything queued so far; wait for its result."""
        box: dict[str, Any] = {}
        event = threading.Event()

        def run(conn: Connection) -> None:
            box["value"] = fn(conn)

        self.put(Task(run, name))
        self.put(Task(lambda conn: event.set(), "signal"))
        while not event.wait(0.5):
            if self.error is not None:
                raise WriterFailed(f"store write failed: {self.error}") from self.error
            if not self._thread.is_alive():
                raise WriterFailed("the store writer stopped")
        return box.get("value")

    def flush(self) -> None:
        self.call(lambda conn: None, "flush")

    def close(self) -> None:
        """Finish what is queued and stop; raises if the writer failed."""
        if self._thread.is_alive():
            while True:
                try:
                    self._queue.put(_STOP, timeout=0.5)
                    break
                except queue.Full:
                    if self.error is not None or not self._thread.is_alive():
                        break
            self._thread.join()
        if self.error is not None:
            raise WriterFailed(f"store write failed: {self.error}") from self.error

    def abandon(self) -> None:
        """Stop without raising (the run is failing anyway); queued work is dropped."""
        if self.error is None:
            self.error = RuntimeError("abandoned")
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass
        self._thread.join(timeout=30)

    # -- consumer side ---------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while True:
                if self._in_flight:
                    try:  # settle a run in flight soon after it is written (progress)
                        first = self._queue.get(timeout=0.2)
                    except queue.Empty:
                        self._settle(finished_only=True)
                        continue
                else:
                    first = self._queue.get()
                if first is _STOP:
                    self._settle()
                    return
                batch = [first]
                stop = False
                until = time.monotonic() + GATHER_S
                while len(batch) < DRAIN_LIMIT and isinstance(batch[-1], Job):
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        left = until - time.monotonic()
                        if batch[-1].body is None or self.remote is None or left <= 0:
                            break
                        try:
                            nxt = self._queue.get(timeout=left)
                        except queue.Empty:
                            break
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)
                self._write(batch)
                if stop:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the producers
            log.error("store writer failed: %s", exc)
            self.error = exc

    def _write(self, batch: list[Any]) -> None:
        jobs = [b for b in batch if isinstance(b, Job)]
        tasks = [b for b in batch if isinstance(b, Task)]
        # In queue order: a run of pages for a worker process, then one for here, …
        for run in _consecutive(jobs, lambda j: j.body is None):
            if run[0].body is not None and self.remote is not None:
                self._settle(self.max_in_flight - 1)
                self._in_flight.append((self.remote(run), run))
                continue
            self._settle()
            self.write_jobs(run)
            for job in run:
                self._finished(job)
        if tasks:
            self._settle()
        for task in tasks:
            with self.engine.begin() as conn:
                task.run(conn)
        self.commits += 1

    def _settle(self, keep: int = 0, finished_only: bool = False) -> None:
        """Settle the oldest runs in flight, in the order they were handed over, until at
        most ``keep`` are left (``finished_only``: stop at one not written yet); write
        here what came back unwritten."""
        while len(self._in_flight) > keep:
            handed, run = self._in_flight[0]
            if finished_only and not handed.finished():
                return
            self.write_jobs(handed.collect())
            self._in_flight.popleft()
            for job in run:
                self._finished(job)

    def bind_jobs(self, jobs: list[Job]) -> list[tuple[str, Any]] | None:
        """The statements that write the jobs' records, bound now, for ``write_jobs``
        (a sync worker binds its run before its turn to write); None when a write needs
        a live connection (``write_jobs`` then binds as it writes)."""
        recorder = Recorder(self.engine.dialect)
        try:
            _apply_all(recorder, jobs)  # type: ignore[arg-type]
        except Unbindable:
            return None
        return recorder.statements

    def write_jobs(self, jobs: list[Job], bound: list[tuple[str, Any]] | None = None) -> None:
        """Write the jobs' records (through ``bound``, their ``bind_jobs`` statements,
        if given) and quarantine in one transaction; if the store refuses a record, page
        by page and then record by record (see the module)."""
        if jobs:
            try:
                with self.transaction() as conn:
                    if bound is not None:
                        replay(conn, bound)
                    else:
                        _apply_all(conn, jobs)
                    for job in jobs:
                        write_quarantine(conn, self.run_id, self.now(), job.quarantine)
                        job.stored = len(job.records)
            except RECORD_ERRORS as exc:
                if not record_level(exc):
                    raise
                log.warning("a batch of %d page(s) failed (%s); retrying page by page",
                            len(jobs), exc.__class__.__name__)
                for job in jobs:
                    self._one_job(job)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction on the store, with this writer's SQLite settings."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                for pragma in self.sqlite_pragmas:
                    conn.exec_driver_sql(pragma)
            yield conn

    def _apply(self, conn: Connection, job: Job) -> None:
        job.apply(conn, job.records)
        write_quarantine(conn, self.run_id, self.now(), job.quarantine)
        job.stored = len(job.records)

    def _one_job(self, job: Job) -> None:
        try:
            with self.engine.begin() as conn:
                self._apply(conn, job)
            return
        except RECORD_ERRORS as exc:
            if not record_level(exc):
                raise
        stored = 0
        bad: list[QuarantineEntry] = list(job.quarantine)
        for record in job.records:
            try:
                with self.engine.begin() as conn:
                    job.apply(conn, [record])
                stored += 1
            except RECORD_ERRORS as exc:
                if not record_level(exc):
                    raise
                reason = f"the store refused it: {_db_reason(exc)}"
                bad.append(QuarantineEntry(job.entity, job.record_id(record), reason, None))
        with self.engine.begin() as conn:
            write_quarantine(conn, self.run_id, self.now(), bad)
        job.quarantine = bad
        job.stored = stored

    def _finished(self, job: Job) -> None:
        with self._lock:
            self.stored[job.entity] = self.stored.get(job.entity, 0) + job.stored
            if job.quarantine:
                self.quarantined[job.entity] = (
                    self.quarantined.get(job.entity, 0) + len(job.quarantine)
                )
        if job.done:
            job.done()


def _apply_all(conn: Connection, jobs: list[Job]) -> None:
    """The jobs' records: the pages of one entity as one bulk statement per table."""
    for group in _consecutive(jobs, lambda j: j.apply):
        group[0].apply(conn, [r for job in group for r in job.records])


def _consecutive(jobs: list[Job], key: Callable[[Job], Any]) -> list[list[Job]]:
    """Consecutive jobs with the same ``key``, grouped (queue order kept)."""
    groups: list[list[Job]] = []
    for job in jobs:
        if groups and key(groups[-1][0]) == key(job):
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


# What the driver raises for a value it cannot bind (an integer past 64 bits, a lone
# surrogate) comes through unwrapped: one record's fault too.
RECORD_ERRORS = (StatementError, OverflowError, UnicodeEncodeError)


def record_level(exc: BaseException) -> bool:
    """An error one record can cause (a value too long, a constraint), not an outage."""
    if isinstance(exc, IntegrityError | DataError | OverflowError | UnicodeEncodeError):
        return True
    return not isinstance(exc, DBAPIError)  # e.g. a value the driver cannot bind


def _db_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.splitlines()[0][:300]
