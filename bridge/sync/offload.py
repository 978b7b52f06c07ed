"""Pages into rows in worker processes, for the big entities of a big sync.

Turning a page of orders into rows costs several times more CPU than fetching it, and
the fetch threads and the writer share one interpreter lock: on a large sync that lock,
not the network, sets the pace. So once an entity's window holds at least
``MIN_RECORDS`` records, each page's raw JSON body (kept by the client, see
``bridge.magento.search.Items``) goes to a small process pool that decodes it again and
runs the same ``transform`` functions; the writer collects the rows in queue order.
The fetch threads still decode each page themselves (the keyset paging needs its keys),
which is cheap next to the transform.

Anything unexpected — no body, a pool that broke, an answer that does not line up with
the page — falls back to transforming in the calling thread: the rows are the same
either way, only where the CPU is spent differs.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from typing import Any

import orjson

from bridge.store.upsert import binder
from bridge.sync import transform as tf
from bridge.sync.writer import BOUND_TABLES, record_tables

log = logging.getLogger(__name__)

# An entity whose window holds fewer records is transformed in the fetch threads: the
# workers' start (~0.3 s each) is not worth it for an incremental sync.
MIN_RECORDS = 5000
ENTITIES = ("customers", "orders")  # carts stay in-thread (their totals need the rows)

Outcome = tuple[bool, Any]  # (True, rows) or (False, the quarantine reason)


def workers_for(cpus: int | None) -> int:
    """One worker per core but one (the fetch threads and the writer keep that one)."""
    return max(1, min(4, (cpus or 2) - 1))


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the sync itself decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A page's objects form no reference cycles: reference counting frees them all, and
    # automatic collections would only walk them (see runner.collect_between).
    gc.disable()


def transform_item(entity: str, item: Any, ctx: tuple[Any, ...]) -> Any:
    """One raw record → its rows (``ctx``: attribute codes, stores' websites, synced_at).
    Raises ``transform.RecordError`` for a record that cannot be stored."""
    attr_codes, website_of_store, synced_at = ctx[:3]
    if entity == "customers":
        return tf.customer_rows(item, attr_codes, synced_at)
    if entity == "orders":
        return tf.order_rows(item, website_of_store, synced_at)
    return tf.cart_rows(item, website_of_store, synced_at)


def outcomes(entity: str, items: list[Any], ctx: tuple[Any, ...]) -> list[Outcome]:
    out: list[Outcome] = []
    for item in items:
        try:
            out.append((True, transform_item(entity, item, ctx)))
        except tf.RecordError as exc:
            out.append((False, str(exc)))
    return out


def transform_body(entity: str, body: bytes, ctx: tuple[Any, ...]) -> Transformed:
    """In a worker: the page's body decoded again, each item transformed, and where the
    store allows it (SQLite) the rows bound for the writer (``bind_page``)."""
    data = orjson.loads(body)
    items = data.get("items") if isinstance(data, dict) else None
    done = outcomes(entity, items or [], ctx)
    if ctx[3] == "sqlite":
        bound = bind_page(entity, done)
        if bound is not None:
            return bound
    return None, done


# (each table's row keys, outcomes whose rows are BoundRecords) or (None, outcomes)
Transformed = tuple[tuple[tuple[str, ...] | None, ...] | None, list[Outcome]]
_BINDERS: dict[tuple[str, tuple[str, ...]], Any] = {}


def _binder(table: Any, columns: tuple[str, ...]) -> Any:
    key = (table.name, columns)
    if key not in _BINDERS:
        from sqlalchemy.dialects import sqlite

        _BINDERS[key] = binder(sqlite.dialect(), table, columns)
    return _BINDERS[key]


def bind_page(entity: str, done: list[Outcome]) -> Transformed | None:
    """The page's rows bound table by table, as the writer will execute them; None when
    they cannot be (then the writer gets the row dicts)."""
    tables, _parent = BOUND_TABLES[entity]
    per_record = [record_tables(entity, v) if ok else None for ok, v in done]
    columns: list[tuple[str, ...] | None] = []
    bound_tables: list[list[tuple[Any, ...]]] = []
    for t, table in enumerate(tables):
        rows = [row for parts in per_record if parts is not None for row in parts[t]]
        if not rows:
            columns.append(None)
            bound_tables.append([])
            continue
        keys = tuple(rows[0])
        if any(len(row) != len(keys) for row in rows):
            return None
        bind = _binder(table, keys)
        if bind is None:
            return None
        try:
            bound_tables.append(bind(rows))
        except KeyError:  # a row with other keys
            return None
        columns.append(keys)
    # Hand each record its own rows back (same order as they were flattened).
    at = [0] * len(tables)
    out: list[Outcome] = []
    for (ok, value), parts in zip(done, per_record, strict=True):
        if not ok or parts is None:
            out.append((ok, value))
            continue
        mine = []
        for t, rows in enumerate(parts):
            mine.append(bound_tables[t][at[t]:at[t] + len(rows)])
            at[t] += len(rows)
        out.append((True, (rows_id(parts[0]), tuple(mine))))
    return tuple(columns), out


def rows_id(parent_rows: list[dict[str, Any]]) -> int:
    return int(parent_rows[0]["id"])


class Offload:
    """A process pool started on first use and shut down with the sync."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or workers_for(os.cpu_count())
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.broken = False

    def _get_pool(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None and not self.broken:
                try:
                    self._pool = ProcessPoolExecutor(
                        self.workers, mp_context=multiprocessing.get_context("spawn"),
                        initializer=_init_worker,
                    )
                except (OSError, ValueError) as exc:
                    log.warning("transform workers could not start (%s); "
                                "transforming in the sync itself", exc)
                    self.broken = True
            return self._pool

    def submit(self, entity: str, body: bytes, ctx: tuple[Any, ...]
               ) -> Future[Transformed] | None:
        pool = self._get_pool()
        if pool is None:
            return None
        try:
            return pool.submit(transform_body, entity, body, ctx)
        except RuntimeError as exc:  # shut down or broken
            log.warning("transform workers unavailable (%s); transforming in the sync", exc)
            self.broken = True
            return None

    def close(self, cancel: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=not cancel, cancel_futures=cancel)


def resolver(
    future: Future[Transformed] | None, entity: str, items: list[Any], ctx: tuple[Any, ...],
) -> Callable[[], Transformed]:
    """What the writer calls for a page's rows: the worker's, else computed here."""

    def resolve() -> Transformed:
        if future is not None:
            try:
                got = future.result()
            except Exception as exc:  # noqa: BLE001 - a broken pool: do it here instead
                log.warning("%s: a transform worker failed (%s); transforming here",
                            entity, exc.__class__.__name__)
            else:
                if len(got[1]) == len(items):
                    return got
                log.warning("%s: a worker's page has %d records, the fetched one %d; "
                            "transforming here", entity, len(got[1]), len(items))
        return None, outcomes(entity, items, ctx)

    return resolve


def context(attr_codes: tuple[str, ...], website_of_store: dict[int, int],
            synced_at: datetime, dialect: str) -> tuple[Any, ...]:
    """What a worker needs besides the page: attribute codes, stores' websites, the
    run's synced_at and the store's kind of database."""
    return (attr_codes, dict(website_of_store), synced_at, dialect)
