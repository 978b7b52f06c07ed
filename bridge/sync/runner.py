"""``run_sync``: pull Magento into the store (see ``bridge.sync`` for the design).

Why this file is long (about 1,000 lines): ``_Sync`` is one run of the sync, and its
steps share that run's state: the client, the writer thread, the watermarks read at the
start, the privacy policy, the counts and the run's record. The pieces that need none of
it already live apart (``keyset.py``, ``transform.py``, ``writer.py``, ``offload.py``,
``linking.py``, ``module_data.py``); what stays is the order of the steps (structure,
entities, deletions, quarantine, erasure) and the page handler that feeds the writer,
which read best next to each other.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from bridge.config import Config
from bridge.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL
from bridge.magento.errors import MagentoError
from bridge.magento.search import Page, SearchCriteria
from bridge.privacy.erase import Forgotten, erase_customers
from bridge.privacy.keep import SyncPolicy, drop_unused, record_kept, sync_policy
from bridge.runs import new_run_values
from bridge.store import bulk
from bridge.store.models import (
    Cart,
    Customer,
    CustomerGroup,
    Order,
    Quarantine,
    Run,
    StoreGroup,
    StoreView,
    SyncState,
    Website,
)
from bridge.store.upsert import upsert
from bridge.sync import offload
from bridge.sync import transform as tf
from bridge.sync.keyset import ScanResult, Stream, WindowScan, item_key
from bridge.sync.linking import link_guest_orders
from bridge.sync.module_data import MODULE_ENTITIES, sync_module_data
from bridge.sync.writer import Job, QuarantineEntry, StoreWriter, Task, WriterFailed
from bridge.timeutil import parse_age, utcnow

log = logging.getLogger(__name__)

ENTITIES = ("customers", "orders", "carts", "groups", *MODULE_ENTITIES)
RECORD_ENTITIES = ("customers", "orders", "carts")

STREAMS: dict[str, Stream] = {
    "customers": Stream("customers", id_key="id"),
    "orders": Stream("orders", id_key="entity_id"),
    "carts": Stream("carts", id_key="id"),
}


# --- results ---------------------------------------------------------------------------


@dataclass
class EntityCounts:
    window_from: str | None = None
    window_to: str | None = None
    mode: str = "incremental"  # incremental | full
    total: int | None = None  # what Magento counted in the window
    fetched: int = 0  # items received (a record seen twice counts twice)
    stored: int = 0
    quarantined: int = 0
    deleted: int = 0
    list_requests: int = 0
    other_requests: int = 0  # by id, totals, deletion checks
    watermark: str | None = None
    error: str | None = None


@dataclass
class SyncResult:
    """What a sync did; also recorded in ``runs`` (``run_id``)."""

    run_id: int | None
    status: str  # ok | partial | failed
    started_at: datetime
    ended_at: datetime | None = None
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return sum(c.quarantined for c in self.counts.values())

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(self.status, EXIT_FAILED)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at.isoformat(sep=" "),
            "ended_at": self.ended_at.isoformat(sep=" ") if self.ended_at else None,
            "requests": self.requests,
            "retries": self.retries,
            "quarantined": self.quarantined,
            "errors": list(self.errors),
            "entities": {k: asdict(v) for k, v in self.counts.items()},
        }


# --- progress --------------------------------------------------------------------------


class _Progress:
    """A rich bar per entity on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def add(self, name: str) -> None:
        if self._bar is not None:
            self._tasks[name] = self._bar.add_task(name, total=None)

    def total(self, name: str, total: int) -> None:
        if self._bar is not None and name in self._tasks:
            self._bar.update(self._tasks[name], total=total)

    def advance(self, name: str, n: int) -> None:
        if self._bar is not None and name in self._tasks:
            self._bar.advance(self._tasks[name], n)

    def finish(self, name: str) -> None:
        """Whatever the first count said, the bar ends full at what was fetched."""
        if self._bar is not None and name in self._tasks:
            task_id = self._tasks[name]
            for task in self._bar.tasks:
                if task.id == task_id:
                    self._bar.update(task_id, total=task.completed)


# --- the sync --------------------------------------------------------------------------


class _Sync:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        client: Any,
        *,
        full: bool,
        entities: list[str] | None,
        since: datetime | None,
        progress: bool,
        kind: str,
        should_stop: Callable[[], bool] | None = None,
        segments: list[Any] | None = None,
    ) -> None:
        self.config = config
        self.segments = segments  # the active segments (None: the mappings')
        # What this sync asks for and keeps, and whom it keeps out (docs/privacy.md): set
        # by run() before anything is fetched.
        self.policy: SyncPolicy | None = None
        self.forgotten = Forgotten(frozenset(), frozenset())
        # a full sync's customers Magento no longer has, the ids it saw, its requests
        self._full_sweep: tuple[list[int], int, int] | None = None
        self.engine = engine
        self.client = client
        self.full = full
        self.wanted = set(entities or ENTITIES)
        unknown = self.wanted - set(ENTITIES)
        if unknown:
            raise ValueError(f"unknown entities {sorted(unknown)} (known: {', '.join(ENTITIES)})")
        self.since = since
        self.kind = kind
        self.should_stop = should_stop
        self.stopped: str | None = None
        self.started = utcnow()
        self.result = SyncResult(None, "running", self.started)
        self.progress = _Progress(progress)
        self.concurrency = max(1, config.magento.concurrency)
        self.page_size = config.magento.page_size
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self.website_of_store: dict[int, int] = {}
        self.writer: StoreWriter | None = None
        # The worker processes for big entities (bridge.sync.offload), started if needed.
        self.offload = offload.Offload()
        self._written: list[tuple[str, EntityCounts]] = []  # entities whose writes to count
        self.contexts: dict[str, offload.Context] = {}
        self._lock = threading.Lock()
        # The secondary indexes an entity's first load dropped (bridge.store.bulk), by the
        # writer, to build again after its last page.
        self._deferred: dict[str, list[Any]] = {}

    # -- requests (all through one limit of magento.concurrency in flight) ---------------

    @contextmanager
    def _slot(self) -> Iterator[None]:
        with self._slots:
            yield

    def _fetcher(self, entity: str) -> Callable[[SearchCriteria, int, int], Page]:
        id_key = STREAMS[entity].id_key if entity in STREAMS else "id"

        def fetch(crit: SearchCriteria, size: int, number: int) -> Page:
            with self._slot():
                # No bisection inside the page: the keyset scan narrows a failing page
                # down itself (bisecting both ways multiplied the requests).
                if entity in self.contexts:
                    # The worker decodes the pages whole: here only their keys are needed.
                    page = self.client.fetch_page(entity, crit, page=number, page_size=size,
                                                  keys_only=True, bisect=False)
                else:
                    page = self.client.fetch_page(entity, crit, page=number, page_size=size,
                                                  bisect=False)
            return _without_nul(page, id_key)

        return fetch

    def _getter(self, entity: str) -> Callable[[int], dict[str, Any]] | None:
        method = {"customers": "get_customer", "orders": "get_order"}.get(entity)
        if method is None:
            return None
        call = getattr(self.client, method)

        def get(ident: int) -> dict[str, Any]:
            with self._slot():
                record = tf.drop_nul(call(ident))
            # a record by id comes whole (no fields=): cut to what the policy keeps
            return self.policy.strip(entity, record) if self.policy else record  # type: ignore[no-any-return]

        return get

    # -- run bookkeeping ----------------------------------------------------------------

    def _start_run(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(Run.__table__)
                .where(Run.__table__.c.kind == self.kind, Run.__table__.c.status == "running")
                .values(status="interrupted")
            )
            res = conn.execute(
                insert(Run.__table__).values(
                    **new_run_values(self.kind, self.started), requests=0, retries=0, errors=0
                )
            )
            self.result.run_id = int(res.inserted_primary_key[0])

    def _finish_run(self, status: str, message: str | None) -> None:
        self.result.status = status
        self.result.ended_at = utcnow()
        stats = self.client.stats
        self.result.requests = int(stats.requests) - self._req0
        self.result.retries = int(stats.retries) - self._ret0
        if self.result.run_id is None:
            return
        counts = {k: asdict(v) for k, v in self.result.counts.items()}
        with self.engine.begin() as conn:
            conn.execute(
                update(Run.__table__)
                .where(Run.__table__.c.id == self.result.run_id)
                .values(
                    ended_at=self.result.ended_at,
                    status=status,
                    counts=counts,
                    requests=self.result.requests,
                    retries=self.result.retries,
                    errors=len(self.result.errors) + self.result.quarantined,
                    message=message,
                )
            )

    # -- main ---------------------------------------------------------------------------

    def run(self) -> SyncResult:
        self._req0 = int(self.client.stats.requests)
        self._ret0 = int(self.client.stats.retries)
        self._privacy()  # bad mappings stop here, before anything is written
        self._start_run()
        self.writer = StoreWriter(
            self.engine, self.result.run_id, utcnow,
            capacity=queue_capacity(self.concurrency, self.page_size),
        )
        self.writer.remote = self.offload.writer_for(self.contexts)
        self.writer.max_in_flight = offload.WORKERS
        self.writer.start()
        try:
            with self.progress:
                self.writer.call(bulk.restore_indexes, "restore indexes")
                self._structure()
                for entity in RECORD_ENTITIES:
                    if entity not in self.wanted:
                        continue
                    if self.should_stop is not None and self.should_stop():
                        self.stopped = f"stopped before {entity} (asked to stop)"
                        self.result.errors.append(self.stopped)
                        break
                    with collect_between():
                        self._entity(entity)
                if self.stopped is None:  # wishlists and viewed products (module_data.py)
                    sync_module_data(self)
                if self.wanted & {"customers", "orders"}:
                    self.writer.call(link_guest_orders, "link guest orders")
                self._sweep()
                self.writer.call(self._resolve_quarantine, "resolve quarantine")
                for entity, counts in self._written:  # everything queued is written now
                    self._count_writes(entity, counts)
                    self.progress.finish(entity)
            self.writer.close()
            self.offload.close()
        except BaseException as exc:
            self.writer.abandon()
            self.offload.close(cancel=True)
            for entity, counts in self._written:  # what was written before it failed
                self._count_writes(entity, counts)
            msg = f"{exc.__class__.__name__}: {exc}"
            self.result.errors.append(msg)
            try:
                self._finish_run("failed", msg)
            except Exception:  # noqa: BLE001 - the store may be what failed
                log.exception("could not record the failed run")
            raise
        failed = self.stopped is not None or any(c.error for c in self.result.counts.values())
        if failed:
            status = "failed"
        elif self.result.quarantined or self.result.errors:
            status = "partial"
        else:
            status = "ok"
        self._finish_run(status, "; ".join(self.result.errors) or None)
        return self.result

    # -- privacy (docs/privacy.md) ----------------------------------------------------------

    def _privacy(self) -> None:
        """The fields this sync keeps, set to null those no active segment reads any
        more, and load whom it keeps out (``segbridge forget``)."""
        with self.engine.begin() as conn:
            self.policy = sync_policy(conn, self.config, self.segments)
            dropped = drop_unused(conn, self.policy)
            self.forgotten = Forgotten.load(conn)
        for entity, names in dropped.items():
            log.info("%s: %s no longer read by any active segment: set to null in the store",
                     entity, ", ".join(names))
        for entity in sorted(self.policy.refetch & set(self.wanted)):
            log.info("%s: pulled whole: active segments read %s, which the store does not "
                     "hold yet", entity, ", ".join(sorted(self.policy.missing(entity))))

    def _sweep(self) -> None:
        """Erase the customers Magento no longer has (``bridge.privacy.sweep``): in an
        incremental sync of customers, at most every ``privacy.deletion_sweep_hours``
        (a full sync finds them itself, see ``_mark_deleted``)."""
        from bridge.privacy import sweep as sw

        assert self.writer is not None
        if self._full_sweep is not None:
            gone, seen, requests = self._full_sweep
            sweep_id = self.writer.call(lambda conn: sw.start_sweep(
                conn, self.result.run_id, self.started, full=True), "sweep start")
            self._erase(gone, sweep_id, seen, requests)
            if gone:
                log.info("customers: %d no longer in Magento; erased", len(gone))
            return
        counts = self.result.counts.get("customers")
        if ("customers" not in self.wanted or counts is None or counts.mode == "full"
                or counts.error or self.stopped):
            return
        hours = int(getattr(self.config.privacy, "deletion_sweep_hours", 24))
        with self.engine.connect() as conn:
            if not sw.sweep_due(conn, hours, self.started):
                return
            stored = sw.stored_ids(conn)
        sweep_id = self.writer.call(lambda conn: sw.start_sweep(
            conn, self.result.run_id, self.started, full=False), "sweep start")

        def fetch(crit: SearchCriteria, size: int) -> Page:
            with self._slot():
                return self.client.search_customers_page(crit, page_size=size)

        sweep = self.result.counts.setdefault("sweep", EntityCounts(mode="ids"))
        magento = sw.MagentoIds(fetch, self.page_size)
        try:
            found = sw.find_gone(stored, magento)
        except MagentoError as exc:
            _raise_fatal(exc)
            sweep.other_requests = magento.requests
            msg = f"customer id sweep: {exc}"
            self.result.errors.append(msg)
            log.warning("%s", msg)
            return
        gone = found.gone or []
        sweep.total, sweep.deleted, sweep.other_requests = len(stored), len(gone), found.requests
        self._erase(gone, sweep_id, found.seen, found.requests)
        log.info("customer id sweep: %d stored customer(s) checked in %d request(s); %d no "
                 "longer in Magento%s", len(stored), found.requests, len(gone),
                 ": erased" if gone else "")

    def _erase(self, gone: list[int], sweep_id: int, seen: int, requests: int) -> None:
        """Erase customers Magento no longer has, and record the sweep that found them."""
        from bridge.privacy.sweep import finish_sweep

        assert self.writer is not None

        def erase(conn: Connection) -> None:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            if gone:
                erase_customers(conn, gone)
            finish_sweep(conn, sweep_id, utcnow(), seen, len(gone), requests)

        self.writer.call(erase, "erase customers gone from Magento")

    # -- websites, store groups, store views, customer groups ----------------------------

    def _structure(self) -> None:
        assert self.writer is not None
        log.debug("sync: reading websites, stores and customer groups")
        try:
            with self._slot():
                websites = [tf.website_row(r) for r in tf.drop_nul(self.client.websites())]
            with self._slot():
                groups = [tf.store_group_row(r)
                          for r in tf.drop_nul(self.client.store_groups())]
            with self._slot():
                views = [tf.store_view_row(r) for r in tf.drop_nul(self.client.store_views())]
        except (MagentoError, tf.RecordError) as exc:
            _raise_fatal(exc)
            self.result.errors.append(f"store structure: {exc}")
            log.warning("could not read websites/stores (%s); using the stored ones", exc)
            with self.engine.connect() as conn:
                self.website_of_store = dict(
                    conn.execute(select(StoreView.id, StoreView.website_id)).all()
                )
            websites = groups = views = []
        else:
            self.website_of_store = {v["id"]: v["website_id"] for v in views}

            def write_structure(conn: Connection) -> None:
                for model, rows in ((Website, websites), (StoreGroup, groups),
                                    (StoreView, views)):
                    _replace_all(conn, model.__table__, rows)

            self.writer.call(write_structure, "structure")
        self._customer_groups()

    def _customer_groups(self) -> None:
        """Customer groups are few: always read whole, like the stores."""
        assert self.writer is not None
        counts = self.result.counts.setdefault("groups", EntityCounts(mode="full"))
        try:
            paginator = self.client.search_customer_groups(SearchCriteria())
            with self._slot():
                rows = [tf.group_row(tf.drop_nul(r)) for r in paginator]
            counts.list_requests = paginator.stats.requests
        except (MagentoError, tf.RecordError) as exc:
            _raise_fatal(exc)
            counts.error = f"customer groups: {exc}"
            self.result.errors.append(counts.error)
            return
        counts.fetched = counts.stored = counts.total = len(rows)
        self.writer.call(
            lambda conn: _replace_all(conn, CustomerGroup.__table__, rows), "groups"
        )

    # -- customers, orders, carts --------------------------------------------------------

    def _state(self, entity: str) -> tuple[datetime | None, datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(SyncState.watermark, SyncState.last_full_at).where(
                    SyncState.entity == entity
                )
            ).first()
        return (row[0], row[1]) if row else (None, None)

    def _entity(self, entity: str) -> None:
        assert self.writer is not None
        counts = self.result.counts.setdefault(entity, EntityCounts())
        watermark, _ = self._state(entity)
        assert self.policy is not None
        # a field segments now read that the store does not hold: pull the entity whole
        full = self.full or watermark is None or entity in self.policy.refetch
        hi = self.started
        overlap = timedelta(seconds=self.config.sync.overlap_s)
        horizon = self.started - parse_age(self.config.sync.since)
        natural_lo: datetime | None
        if full:
            natural_lo = None if entity == "customers" else horizon
        else:
            assert watermark is not None
            natural_lo = watermark - overlap
            if entity != "customers":
                natural_lo = max(natural_lo, horizon)
        lo = self.since if self.since is not None else natural_lo
        # The watermark may only move if this window covered everything since the last one.
        moves_watermark = lo is None or natural_lo is None or lo <= natural_lo
        counts.mode = "full" if full else "incremental"
        counts.window_from = lo.isoformat(sep=" ") if lo else None
        counts.window_to = hi.isoformat(sep=" ")

        stream = STREAMS[entity]
        base = self._criteria(entity)
        if entity == "carts":
            base = base.where("customer_id", "gt", 0)  # registered customers' quotes only
            if full:
                base = base.where("is_active", "eq", 1)
        seen: set[int] | None = set() if full else None
        handler = _PageHandler(self, entity, counts, seen)
        self.progress.add(entity)
        scan = WindowScan(
            stream, self._fetcher(entity), self._getter(entity), base,
            lo=lo, hi=hi, page_size=self.page_size, workers=self.concurrency,
            on_items=handler.on_items, on_bad=handler.on_bad,
            on_total=lambda n: self._on_total(handler, n),
        )
        try:
            try:
                result: ScanResult = scan.run()
            except MagentoError as exc:
                _raise_fatal(exc)
                counts.error = f"{entity}: {exc}"
                counts.list_requests = scan.result.requests
                self.result.errors.append(counts.error)
                log.error("%s: sync stopped: %s", entity, exc)
                self.writer.flush()
                self._count_writes(entity, counts)
                return
            counts.total = result.total
            counts.list_requests = result.requests
            self.result.errors.extend(result.errors)
            log.debug("%s: %s sync from %s: %s in Magento, %d fetched in %d list requests",
                      entity, counts.mode, counts.window_from or "the beginning",
                      "?" if result.total is None else result.total, result.items,
                      result.requests)
            if full and seen is not None and result.stopped_at is None:
                try:
                    self._mark_deleted(entity, stream, seen, lo, handler, counts)
                except MagentoError as exc:
                    _raise_fatal(exc)
                    msg = f"{entity}: deletions not checked: {exc}"
                    self.result.errors.append(msg)
                    log.warning("%s", msg)
        finally:
            handler.close()
            # after every page of the entity, in the queue (none dropped: nothing to do)
            self.writer.put(Task(lambda conn: bulk.build_indexes(
                conn, self._deferred.pop(entity, [])), f"{entity}: build indexes"))

        new_wm = _new_watermark(watermark, result, hi, moves_watermark)
        counts.watermark = new_wm.isoformat(sep=" ") if new_wm else None
        run_id = self.result.run_id
        started = self.started

        policy = self.policy

        def save_state(conn: Connection) -> None:
            values: dict[str, Any] = {"entity": entity, "watermark": new_wm,
                                      "last_run_id": run_id}
            if full and result.stopped_at is None and lo == natural_lo:
                values["last_full_at"] = started
                if entity in ("customers", "orders"):  # every record now holds these
                    record_kept(conn, entity, policy.after_full(entity))
            upsert(conn, SyncState.__table__, [values])

        # No waiting for the entity's writes here: the next entity's pages are fetched
        # while the store catches up (the queue keeps them in order, the watermark after
        # the pages it covers). run() counts the writes once everything is written.
        self.writer.put(Task(save_state, f"{entity} watermark"))
        self._written.append((entity, counts))

    def _criteria(self, entity: str) -> SearchCriteria:
        """The list criteria of an entity: ``fields=`` for what this sync keeps."""
        assert self.policy is not None
        crit = SearchCriteria()
        if entity == "orders":
            crit = crit.fields(*self.policy.order_fields(tf.ORDER_FIELDS))
        elif entity == "customers":
            keys = self.policy.customer_fields()
            if keys is not None:
                crit = crit.fields(*keys)
        return crit

    def _on_total(self, handler: _PageHandler, total: int) -> None:
        self.progress.total(handler.entity, total)
        entity = handler.entity
        if total >= offload.MIN_RECORDS and entity in bulk.ENTITY_TABLES:
            # queued before the entity's first page: its indexes go (if its table is
            # empty) before any of its rows are written
            assert self.writer is not None

            def defer(conn: Connection) -> None:
                self._deferred[entity] = bulk.defer_indexes(conn, entity)

            self.writer.put(Task(defer, f"{entity}: defer indexes"))
        if (total >= offload.MIN_RECORDS and offload.shareable(self.engine)
                and entity in offload.ENTITIES and not handler.reads_totals):
            self.contexts[handler.entity] = handler.ctx
            self.offload.start()
            handler.offloaded = True

    def _count_writes(self, entity: str, counts: EntityCounts) -> None:
        assert self.writer is not None
        counts.stored = self.writer.stored.get(entity, 0)
        counts.quarantined = self.writer.quarantined.get(entity, 0)

    def _mark_deleted(
        self,
        entity: str,
        stream: Stream,
        seen: set[int],
        lo: datetime | None,
        handler: _PageHandler,
        counts: EntityCounts,
    ) -> None:
        """A full sync: what the store holds but Magento no longer returned is deleted.

        Candidates are checked by id first (one request per page of ids), so a record
        that only left the window because it changed during the run is not marked.
        """
        assert self.writer is not None
        # Without waiting for the pages still queued: each of their records is in ``seen``
        # whether or not it is committed yet, so the candidates are the same either way.
        model: Any = {"customers": Customer, "orders": Order, "carts": Cart}[entity]
        table = model.__table__
        q = select(table.c.id).where(table.c.deleted.is_(False))
        if entity != "customers" and lo is not None:
            q = q.where(table.c.updated_at >= lo)
        if entity == "carts":
            q = q.where(table.c.is_active.is_(True))
        with self.engine.connect() as conn:
            candidates = sorted(set(conn.execute(q).scalars()) - seen)
        if not candidates and entity != "customers":
            return
        fetch = self._fetcher(entity)
        gone: list[int] = []
        for start in range(0, len(candidates), self.page_size):
            chunk = candidates[start : start + self.page_size]
            crit = self._criteria(entity).where(stream.id_column, "in", chunk)
            page = fetch(crit, len(chunk), 1)
            counts.other_requests += 1
            found = {k[1] for k in (item_key(stream, i) for i in page.items) if k}
            found |= {int(i[stream.id_key]) for i in page.items
                      if str(i.get(stream.id_key, "")).isdigit()}
            if page.items:
                handler.on_items(page.items)
            gone.extend(i for i in chunk if i not in found)
        if entity == "customers":
            # Magento no longer has them: erased with everything linked once the orders
            # are read too (their orders come back without a customer: docs/privacy.md)
            counts.deleted = len(gone)
            self._full_sweep = (gone, len(seen), counts.other_requests)
            return
        if not gone:
            return
        counts.deleted = len(gone)
        now = utcnow()

        def mark(conn: Connection) -> None:
            for start in range(0, len(gone), 500):
                part = gone[start : start + 500]
                conn.execute(
                    update(table).where(table.c.id.in_(part)).values(deleted=True, synced_at=now)
                )

        self.writer.put(Task(mark, f"{entity} deletions"))
        log.info("%s: %d no longer in Magento; marked deleted", entity, len(gone))

    def _resolve_quarantine(self, conn: Connection) -> None:
        """Quarantined records of earlier runs that have since been stored are resolved."""
        q = Quarantine.__table__
        rows = conn.execute(
            select(q.c.id, q.c.entity, q.c.record_id, q.c.created_at).where(
                q.c.resolved_at.is_(None), q.c.run_id != self.result.run_id
            )
        ).all()
        models: dict[str, Any] = {"customers": Customer, "orders": Order, "carts": Cart}
        for qid, entity, record_id, created in rows:
            model = models.get(entity)
            if model is None or not record_id or not record_id.isdigit():
                continue
            t = model.__table__
            synced = conn.execute(select(t.c.synced_at).where(t.c.id == int(record_id))).scalar()
            if synced is not None and synced >= created:
                conn.execute(update(q).where(q.c.id == qid).values(resolved_at=self.started))


# The records the writer's queue holds at most, whatever the page size (with the pages of a
# big entity queued as their raw JSON, some 35 MB of orders).
QUEUE_RECORDS = 25_600


def queue_capacity(concurrency: int, page_size: int) -> int:
    """Pages that may wait for the writer. At least 16 a fetch thread: when the store is
    the slower side, commits take that many pages at once (see writer.DRAIN_LIMIT). And
    enough to ride out a pause of the writer without stopping the fetch threads: while it
    builds the indexes an entity's first load left out (the orders': about a second), the
    next entity's pages keep coming — at 100 a page, 256 pages are some 1.3 s of fetching
    at 4 requests of 20 ms at a time. Measured in the sync bench: the carts' fetching took
    1.45 s instead of 2.3 s behind the orders' index build (66 pages, before)."""
    return max(16 * concurrency, QUEUE_RECORDS // max(1, page_size)) + 2


@contextmanager
def collect_between() -> Iterator[None]:
    """No automatic garbage collection while an entity's pages stream through; one full
    collection after it. Pages make millions of short-lived dicts and tuples and no
    reference cycles, yet each automatic collection walks every live object (the queued
    pages among them): measured, a fifth of a full sync's CPU."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        gc.collect()


def _new_watermark(
    old: datetime | None, result: ScanResult, hi: datetime, moves: bool
) -> datetime | None:
    """min(run start, newest updated_at seen) — and never past a place the scan stopped.

    Our clock and Magento's may differ; the newest time Magento itself reported is
    the safe one. With nothing seen, the old watermark stays (a new store: run start).
    """
    if not moves:
        return old
    if result.stopped_at is not None:
        from bridge.timeutil import parse_magento_time

        try:
            stop = parse_magento_time(result.stopped_at[0])
        except ValueError:
            stop = None
        if stop is None:
            return old
        candidate = min(stop, hi)
        return max(old, candidate) if old else candidate
    if result.max_seen is None:
        return old if old is not None else hi
    candidate = min(result.max_seen, hi)
    return max(old, candidate) if old else candidate


def _without_nul(page: Page, id_key: str) -> Page:
    """The page with every NUL dropped from its strings (``transform.drop_nul``), its raw
    body too (the worker processes and the lean path decode that); the page itself when
    its body holds none, the common case, checked in one scan."""
    from bridge.magento.client import keys_page
    from bridge.magento.search import Items

    items = page.items
    body = getattr(items, "body", None)
    if body is None:
        page.items = tf.drop_nul(list(items))
        return page
    clean = tf.drop_nul_body(body)
    if clean is body:
        return page
    if getattr(items, "light", False):
        light = keys_page(clean, id_key)
        new = Items(light["items"] if light is not None else tf.drop_nul(list(items)))
        new.light = light is not None
    else:
        new = Items(tf.drop_nul(list(items)))
    new.body = clean
    page.items = new
    return page


def _raise_fatal(exc: Exception) -> None:
    """Credentials or a login refused: no later request can do better, so the sync ends
    with that one message instead of every entity repeating it."""
    if isinstance(exc, MagentoError) and exc.fatal:
        raise exc


def _replace_all(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Small lists (websites, stores, groups): make the table equal to ``rows``."""
    upsert(conn, table, rows)
    ids = [r["id"] for r in rows]
    if ids:
        conn.execute(delete(table).where(table.c.id.not_in(ids)))
    else:
        conn.execute(delete(table))


class _PageHandler:
    """Runs in the fetch threads: raw items → rows (or quarantine) → the writer queue."""

    def __init__(self, sync: _Sync, entity: str, counts: EntityCounts,
                 seen: set[int] | None) -> None:
        self.sync = sync
        self.entity = entity
        self.counts = counts
        self.seen = seen
        self.stream = STREAMS[entity]
        self.synced_at = sync.started
        # the custom attributes kept: those segments read and the opt-out one (keep = used)
        policy = getattr(sync, "policy", None)
        self.attr_codes = (policy.attr_codes if policy is not None
                           else tuple(sync.config.sync.customer_attributes))
        engine = sync.engine
        # What a page's transform needs, here or in the worker process (bridge.sync.offload)
        self.ctx = offload.Context(
            entity, self.stream.id_key, self.attr_codes, dict(sync.website_of_store),
            self.synced_at, engine.url.render_as_string(hide_password=False),
            sync.result.run_id, money_as_float=engine.dialect.name == "sqlite",
        )
        self.offloaded = False  # pages go to the worker process
        self._lock = threading.Lock()
        self._totals_pool: ThreadPoolExecutor | None = None
        if entity == "carts" and sync.config.sync.cart_totals:
            self._totals_pool = ThreadPoolExecutor(
                sync.concurrency, thread_name_prefix="cart-totals"
            )

    @property
    def reads_totals(self) -> bool:
        """Carts with ``sync.cart_totals``: each page's rows need the totals this sync
        reads from Magento before they are written, so its pages stay with the writer
        thread."""
        return self._totals_pool is not None

    def close(self) -> None:
        if self._totals_pool is not None:
            self._totals_pool.shutdown(wait=True)
            self._totals_pool = None

    def on_bad(self, record_id: str | None, reason: str, payload: dict[str, Any] | None) -> None:
        assert self.sync.writer is not None
        self.sync.writer.put(
            Job(self.entity, [], lambda conn, recs: None,
                quarantine=[QuarantineEntry(self.entity, record_id, reason, payload)])
        )

    def on_items(self, items: list[dict[str, Any]]) -> None:
        assert self.sync.writer is not None
        if getattr(self.sync, "forgotten", None):
            items = self._keep_out(items)
        ids: list[int] = []
        for item in items:
            raw_id = item.get(self.stream.id_key)
            try:
                ident = int(raw_id) if raw_id is not None and not isinstance(raw_id, bool) else None
            except (TypeError, ValueError):
                ident = None
            if ident is not None:
                ids.append(ident)
        with self._lock:
            self.counts.fetched += len(items)
            if self.seen is not None:
                self.seen.update(ids)
        n = len(items)
        body = getattr(items, "body", None)
        job = Job(self.entity, [], offload.WRITE[self.entity], offload.RECORD_ID[self.entity],
                  done=lambda: self.sync.progress.advance(self.entity, n))
        if self.offloaded and body is not None:
            job.body = body  # the worker process transforms and writes it
        else:
            if getattr(items, "light", False):  # only keys here: the records are the body's
                items = offload.page_items(body or b"{}")
            offload.fill(job, self.ctx, items)
            job.apply, job.record_id = self._writer_fns(job.records)
        self.sync.writer.put(job)

    def _keep_out(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page without the records of people ``segbridge forget`` erased (their
        digests match); the page itself when it holds none."""
        body = getattr(items, "body", None)
        whole = offload.page_items(body) if getattr(items, "light", False) and body else items
        kept = [i for i in whole if not self.sync.forgotten.keeps_out(self.entity, i)]
        if len(kept) == len(whole):
            return items
        return kept  # a plain list: transformed and written here, not from the raw body

    def _writer_fns(
        self, records: list[Any]
    ) -> tuple[Callable[[Connection, list[Any]], None], Callable[[Any], str | None]]:
        from bridge.sync import writer as w

        record_id = offload.RECORD_ID[self.entity]
        if self.entity != "carts":
            return offload.WRITE[self.entity], record_id
        totals = self._totals(records)

        def apply(conn: Connection, recs: list[Any]) -> None:
            ids = {r.cart["id"] for r in recs}
            w.write_carts(conn, recs, {k: v for k, v in totals.items() if k in ids})

        return apply, record_id

    def _totals(self, records: list[tf.CartRows]) -> dict[int, dict[str, Any]]:
        """``sync.cart_totals``: one totals request per changed active cart, in parallel."""
        if self._totals_pool is None:
            return {}
        active = [r.cart["id"] for r in records if r.cart["is_active"] and r.items is not None]

        def one(cart_id: int) -> tuple[int, dict[str, Any] | None]:
            try:
                with self.sync._slot():
                    data = self.sync.client.cart_totals(cart_id)
                return cart_id, tf.cart_totals_row(data or {}, self.synced_at)
            except (MagentoError, tf.RecordError) as exc:
                _raise_fatal(exc)
                log.warning("cart %s: totals not read: %s", cart_id, exc)
                return cart_id, None
            finally:
                with self._lock:
                    self.counts.other_requests += 1

        out: dict[int, dict[str, Any]] = {}
        for cart_id, row in self._totals_pool.map(one, active):
            if row is not None:
                out[cart_id] = row
        return out


def run_sync(
    config: Config,
    engine: Engine,
    *,
    full: bool = False,
    entities: list[str] | None = None,
    since: datetime | None = None,
    progress: bool = False,
    client: Any = None,
    kind: str = "sync",
    should_stop: Callable[[], bool] | None = None,
    segments: list[Any] | None = None,
) -> SyncResult:
    """Pull Magento into the store at ``engine`` (opened with ``open_store``).

    The caller holds the run lock (``bridge.lock.run_lock``); ``segbridge sync`` does.
    ``entities``: any of customers, orders, carts, groups (default all); websites and
    stores are always refreshed. ``since`` overrides the start of every window.
    ``client``: a ``MagentoClient`` (default: a read-only one from ``config.magento``).
    ``should_stop``: asked before each entity (a daemon shutting down, a lost lock);
    when it answers True the rest is skipped (each entity is whole or untouched, its
    watermark consistent) and the run ends failed with "stopped before …".
    ``segments``: the active segments, whose fields ``privacy.keep = "used"`` keeps
    (default: the mappings'; docs/privacy.md).
    Raises on a failure that stops the whole sync (the run is recorded as failed first);
    otherwise returns the result, whose ``status`` is ok, partial (records quarantined)
    or failed (an entity could not be synced; the others were).
    """
    own_client = client is None
    if own_client:
        from bridge.magento.client import MagentoClient

        client = MagentoClient(config.magento, read_only=True)
    try:
        return _Sync(
            config, engine, client, full=full, entities=entities, since=since,
            progress=progress, kind=kind, should_stop=should_stop, segments=segments,
        ).run()
    except WriterFailed:
        raise
    finally:
        if own_client:
            client.close()
