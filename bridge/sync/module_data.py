"""The storefront module's data in the sync: wishlist items and viewed products.

Core Open Source REST lists neither; segbridge's storefront module does
(``GET /V1/segbridge/wishlistItems`` and ``/productViews``, paged by keyset on
(``added_at``, id): ``bridge.magento.module``). ``run_sync`` calls ``sync_module_data``
after customers, orders and carts. It syncs the entities ``wishlist`` and
``product_views`` when

* ``module.use`` is ``auto`` or ``on``, the store answers ``GET /V1/segbridge/info`` with
  that part on (asked once per sync, with the "is the module there" call the push and
  ``check --online`` use), and
* an active segment reads ``product.in_wishlist`` / ``product.viewed`` (whatever
  ``privacy.keep`` says: this is behaviour, not a customer field; docs/privacy.md).

An entity that is not needed, or that the store cannot give (``auto`` and no module, the
part off, the ACL not granted), has its rows and watermark removed: rows that cannot be
kept current never count, and ``evaluate`` refuses the segments that read it
(``bridge.segments.requires``) as ``check`` does with ``module.use = "off"``. With
``module.use = "on"`` a module that cannot be used fails the entity (exit 1).

Incremental: from the watermark minus ``sync.overlap_s``, by keyset; each row is an upsert
on its natural key: the wishlist item id, and (customer, product) for views, since a
repeat view moves the row's ``added_at`` forward (the next incremental run sees it).
Removals have no ``added_at``: after an incremental pass one request asks Magento how many
rows it has; fewer than the store holds means some were removed, and the entity is read
whole at once. A full read (the first, ``--full``, or that count) deletes every row it did
not see. ``sync.since`` does not apply: a wishlist item added three years ago is still in
the wishlist. Rows of people ``segbridge forget`` erased are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select, tuple_

from bridge.magento.errors import MagentoError
from bridge.magento.module import (
    PRODUCT_VIEWS,
    WISHLIST_ITEMS,
    ActivityItem,
    ModuleAnswerError,
    ModuleNotGrantedError,
    module_info,
    product_views,
    wishlist_items,
)
from bridge.magento.search import SearchCriteria
from bridge.segments.attributes import MODULE_FEATURES, UNAVAILABLE
from bridge.segments.model import Segment, walk_rules
from bridge.segments.requires import ENTITY_OF, MODULE_ENTITIES, attributes_read
from bridge.store import models as m
from bridge.store.upsert import upsert
from bridge.sync.writer import Job, QuarantineEntry, Task
from bridge.timeutil import format_magento_time, parse_magento_time

if TYPE_CHECKING:
    from bridge.sync.runner import _Sync

log = logging.getLogger("bridge.sync")

ATTRIBUTE = {e: a for a, e in ENTITY_OF.items()}  # entity -> the condition reading it
TABLES = {"wishlist": m.WishlistItem.__table__, "product_views": m.ProductView.__table__}
WALKS = {"wishlist": wishlist_items, "product_views": product_views}
ENDPOINTS = {"wishlist": WISHLIST_ITEMS, "product_views": PRODUCT_VIEWS}
BATCH = 1000  # rows a write
MAX_PRICE = Decimal(10) ** 16  # what Money (decimal(20,4)) holds


# --- which entities, and whether the store can give them ---------------------------------


def module_use(config: Any) -> str:
    return str(getattr(getattr(config, "module", None), "use", "auto") or "auto")


def needed_entities(segments: Iterable[Segment]) -> list[str]:
    """The entities some active segment reads (whatever ``privacy.keep`` says: what a
    customer viewed is kept only while a segment uses it)."""
    read = attributes_read(segments)
    return [e for e in MODULE_ENTITIES if ATTRIBUTE[e] in read]


def unusable(client: Any, config: Any) -> dict[str, str]:
    """Why the module's data cannot be read, by entity (empty: both can). Raises
    ``MagentoError`` when the store could not be asked (try again next run)."""
    if module_use(config) == "off":
        return {e: 'module.use = "off"' for e in MODULE_ENTITIES}
    try:
        info = module_info(client)
    except (ModuleNotGrantedError, ModuleAnswerError) as exc:
        return {e: str(exc) for e in MODULE_ENTITIES}
    if info is None:
        return {e: "the store has no storefront module (GET /V1/segbridge/info: no such "
                   "route)" for e in MODULE_ENTITIES}
    return {e: f"the storefront module {info.version} has its {MODULE_FEATURES[a]} part off"
            for e, a in ATTRIBUTE.items() if not info.has(MODULE_FEATURES[a])}


# --- the sync's side ----------------------------------------------------------------------


def sync_module_data(sync: _Sync) -> None:
    """Wishlist items and viewed products, as the module docstring says (``run_sync``)."""
    from bridge.privacy.keep import load_active_segments
    from bridge.sync.runner import EntityCounts, _raise_fatal

    wanted = [e for e in MODULE_ENTITIES if e in sync.wanted]
    if not wanted:
        return
    assert sync.writer is not None
    segments = sync.segments if sync.segments is not None else load_active_segments(
        sync.config)
    needed = needed_entities(segments)
    for entity in [e for e in wanted if e not in needed]:
        _drop(sync, entity, "no active segment reads " + ATTRIBUTE[entity])
    wanted = [e for e in wanted if e in needed]
    if not wanted:
        return
    try:
        with sync._slot():
            why = unusable(sync.client, sync.config)
    except MagentoError as exc:
        _raise_fatal(exc)
        for entity in wanted:
            counts = sync.result.counts.setdefault(entity, EntityCounts())
            counts.error = f"{entity}: GET /V1/segbridge/info: {exc}"
            sync.result.errors.append(counts.error)
        return
    for entity in wanted:
        if sync.should_stop is not None and sync.should_stop():
            sync.stopped = f"stopped before {entity} (asked to stop)"
            sync.result.errors.append(sync.stopped)
            return
        if entity in why:
            if module_use(sync.config) == "on":
                counts = sync.result.counts.setdefault(entity, EntityCounts())
                counts.error = (f'{entity}: module.use = "on" requires segbridge\'s storefront '
                                f"module, but {why[entity]} (docs/storefront.md)")
                sync.result.errors.append(counts.error)
            else:
                _drop(sync, entity, why[entity])
            continue
        _Entity(sync, entity).run()


def _drop(sync: _Sync, entity: str, why: str) -> None:
    """No rows and no watermark for ``entity`` (if it had any): ``why`` says why."""
    assert sync.writer is not None
    table = TABLES[entity]

    def drop(conn: Connection) -> int:
        had = conn.execute(select(func.count()).select_from(table)).scalar_one()
        state = conn.execute(delete(m.SyncState.__table__).where(
            m.SyncState.__table__.c.entity == entity)).rowcount
        if had:
            conn.execute(delete(table))
        return int(had or 0) + int(state or 0)

    if sync.writer.call(drop, f"{entity}: drop"):
        log.info("%s: %s; its rows were removed from the store", entity, why)
    else:
        log.debug("%s: not synced: %s", entity, why)


class _Entity:
    """One entity's pass: incremental (then a count check) or full."""

    def __init__(self, sync: _Sync, entity: str) -> None:
        from bridge.sync.runner import EntityCounts

        self.sync = sync
        self.entity = entity
        self.table = TABLES[entity]
        self.counts = sync.result.counts.setdefault(entity, EntityCounts())
        self.max_seen: datetime | None = None
        self.kept_out = 0
        self.seen: set[Any] | None = None  # a full read: the natural keys it wrote

    def run(self) -> None:
        from bridge.sync.runner import _raise_fatal

        sync, entity, counts = self.sync, self.entity, self.counts
        assert sync.writer is not None
        watermark, last_full = sync._state(entity)
        full = sync.full or watermark is None or last_full is None
        requests0 = int(sync.client.stats.requests)
        try:
            if not full:
                assert watermark is not None
                lo = watermark - timedelta(seconds=sync.config.sync.overlap_s)
                counts.mode = "incremental"
                counts.window_from = format_magento_time(lo)
                self._walk((format_magento_time(lo), 0))
                sync.writer.flush()
                remote = self._remote_total()
                local = sync.writer.call(
                    lambda conn: conn.execute(
                        select(func.count()).select_from(self.table)).scalar_one(),
                    f"{entity}: count")
                counts.total = remote
                if remote < local:  # rows were removed in Magento: read it whole
                    log.info("%s: Magento lists %d rows, the store holds %d: reading them "
                             "all to find the removed ones", entity, remote, local)
                    full = True
            if full:
                counts.mode = "full"
                counts.window_from = None
                self.seen = set()
                counts.total = self._walk(None)  # what Magento lists
        except MagentoError as exc:
            _raise_fatal(exc)
            counts.error = f"{entity}: {exc}"
            counts.list_requests = int(sync.client.stats.requests) - requests0
            sync.result.errors.append(counts.error)
            log.error("%s: sync stopped: %s", entity, exc)
            sync._written.append((entity, counts))
            return
        counts.list_requests = int(sync.client.stats.requests) - requests0
        counts.window_to = format_magento_time(sync.started)
        new_wm = watermark
        if self.max_seen is not None:
            seen = min(self.max_seen, sync.started)  # never past our own clock
            new_wm = max(watermark, seen) if watermark is not None else seen
        counts.watermark = format_magento_time(new_wm) if new_wm else None
        started, run_id, seen = sync.started, sync.result.run_id, self.seen
        keys = _key_columns(self.table)

        def finish(conn: Connection) -> None:
            values: dict[str, Any] = {"entity": entity, "watermark": new_wm,
                                      "last_run_id": run_id}
            if seen is not None:  # after every row of the read is written: the rest is gone
                stored = {tuple(r) for r in conn.execute(select(*keys))}
                gone = sorted(stored - seen)
                for start in range(0, len(gone), 500):
                    conn.execute(delete(keys[0].table).where(
                        tuple_(*keys).in_(gone[start:start + 500])))
                counts.deleted = len(gone)
                values["last_full_at"] = started
            upsert(conn, m.SyncState.__table__, [values])

        sync.writer.put(Task(finish, f"{entity} watermark"))
        sync._written.append((entity, counts))
        if self.kept_out:
            log.info("%s: %d rows of forgotten people skipped", entity, self.kept_out)

    def _remote_total(self) -> int:
        page = self.sync.client.paginator(ENDPOINTS[self.entity], SearchCriteria(), page_size=1,
                                          bisect=False).page(1)
        return int(page.total_count)

    def _walk(self, after: tuple[str, int] | None) -> int:
        """Read and write every row after ``after``; how many Magento gave."""
        sync = self.sync
        batch: list[ActivityItem] = []
        walked = 0
        for item in WALKS[self.entity](sync.client, after=after, page_size=sync.page_size):
            walked += 1
            self.counts.fetched += 1
            if sync.forgotten and sync.forgotten.has_id(item.customer_id):
                self.kept_out += 1
                continue
            batch.append(item)
            if len(batch) >= BATCH:
                self._write(batch)
                batch = []
        if batch:
            self._write(batch)
        return walked

    def _write(self, items: Sequence[ActivityItem]) -> None:
        sync = self.sync
        assert sync.writer is not None
        rows: dict[Any, dict[str, Any]] = {}
        bad: list[QuarantineEntry] = []
        for item in items:
            try:
                row = activity_row(self.entity, item, sync.website_of_store, sync.started)
            except ValueError as exc:
                bad.append(QuarantineEntry(self.entity, str(item.id), str(exc),
                                           {"id": item.id, "customer_id": item.customer_id,
                                            "product_id": item.product_id}))
                continue
            key = (row["customer_id"], row["product_id"]) if self.entity == "product_views" \
                else row["id"]
            rows[key] = row  # views: one row per customer and product, the latest wins
            if self.seen is not None:
                self.seen.add(key if isinstance(key, tuple) else (key,))
            when = row["added_at"]
            if self.max_seen is None or when > self.max_seen:
                self.max_seen = when
        table = self.table
        ident = "view_id" if self.entity == "product_views" else "id"
        sync.writer.put(Job(self.entity, list(rows.values()),
                            lambda conn, recs: upsert(conn, table, recs),
                            lambda r: str(r[ident]), quarantine=bad))


def _key_columns(table: Any) -> list[Any]:
    return [table.c.customer_id, table.c.product_id] if table.name == "product_views" \
        else [table.c.id]


def activity_row(entity: str, item: ActivityItem, website_of_store: dict[int, int],
                 synced_at: datetime) -> dict[str, Any]:
    """The store row of one module item (``ValueError``: a value the store cannot hold)."""
    added = parse_magento_time(item.added_at)
    assert added is not None  # ActivityItem checked its form
    price: Decimal | None = None
    if item.price is not None:
        try:
            price = Decimal(repr(item.price)).quantize(Decimal("0.0001"))
        except InvalidOperation:
            raise ValueError(f"price {item.price!r} is not a number") from None
        if not price.is_finite() or abs(price) >= MAX_PRICE:
            raise ValueError(f"price {item.price!r} is out of range")
    sku = _text(item.sku)
    name = _text(item.name)
    row: dict[str, Any] = {
        "customer_id": item.customer_id, "product_id": item.product_id,
        "sku": sku, "sku_ci": m.fold(sku), "name": name, "name_ci": m.fold(name),
        "price": price, "store_id": item.store_id,
        "website_id": website_of_store.get(item.store_id) if item.store_id is not None
        else None,
        "added_at": added, "synced_at": synced_at,
    }
    if entity == "product_views":
        row["view_id"] = item.id
    else:
        row["id"] = item.id
    return row


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\x00", "")
    return text[:255]


# --- the check's side (the evaluation's: bridge/segments/requires.py) ----------------------


def check_problems(config: Any, segments: Sequence[Segment], module: dict[str, Any] | None
                   ) -> list[str]:
    """``check --online``: a module condition in an active segment when the store cannot
    give its data (``module``: what the module probe found), one line per condition,
    naming file and key, as ``check`` does with ``module.use = "off"``."""
    from bridge.segments.loader.messages import _display

    if module is None or module_use(config) == "off":
        return []
    features = set(module.get("features") or ())
    if module.get("installed") and module.get("granted"):
        missing = {a for a, f in MODULE_FEATURES.items() if f not in features}
        why = "the storefront module has its {} part off"
    elif module.get("installed"):
        missing = set(MODULE_FEATURES)
        why = "the storefront module is installed but these credentials lack its ACL resource"
    else:
        missing = set(MODULE_FEATURES)
        why = "the store has no storefront module (GET /V1/segbridge/info: no such route)"
    base = getattr(config, "base_dir", None)
    out = []
    for seg in segments:
        if not seg.active:
            continue
        for rule in walk_rules(seg.conditions):
            if rule.attribute in missing:
                reason = why.format(MODULE_FEATURES[rule.attribute])
                out.append(f"{_display(seg.source, base)}: "
                           f"{rule.path}.attribute: {UNAVAILABLE[rule.attribute]}; it reads "
                           f"segbridge's storefront module, and {reason} (docs/storefront.md)")
    return out
