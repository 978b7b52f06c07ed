"""Parallel keyset scan of one ``updated_at`` window, with as many requests as pages.

The window is ``lo <= updated_at <= hi`` sorted by ``(updated_at, entity_id)``.

1. Page 1 of the window (offset 0) gives ``total_count`` N, so P = ⌈N / page size⌉.
2. The P pages are cut into B ≤ ``workers`` contiguous blocks of at least two pages.
   Block j's first page is fetched *by offset* (``currentPage = a_j``), all blocks at
   once; its first key S_j becomes the boundary between block j−1 and block j.
3. Each block then pages *by keyset*: after the last key it saw and before the next
   block's boundary (``updated_at >= u AND (updated_at > u OR entity_id > i)``, and the
   mirror image for the upper bound, all as Magento filter groups). The answer's
   ``total_count`` is what is left in the block, so the block knows its last page
   without asking for an empty one.

Offsets only choose where the boundaries fall; the blocks partition the key space, and
inside a block keyset paging cannot skip a record when others move. A record changed
during the scan leaves the window (its new ``updated_at`` is after ``hi``) and is taken
by the next run, whose window starts before this run's start. With nothing changing,
block sizes are whole pages and the scan makes exactly P requests.

A request that keeps failing with a server error or a timeout is retried at half the
page size, down to one record; a record that still fails alone is singled out by
halving entity_id ranges (about 31 small requests), fetched by id, or quarantined if
that fails too (docs/magento.md B6), and the block goes on without it. Nothing is skipped
silently: if a record cannot even be singled out the block stops and reports where,
so the watermark stays before it. After a failed request, one that can match no record
(``entity_id < 0``) tells a failing record or page size from a failing store: when it
fails too, the entity fails at once (``ListsFailing``, two requests) instead of halving
to one record and singling out with some 40 requests per round.

An answer that is not a search result (not JSON, HTML with 200, no ``total_count``) is
no record's fault: it is never bisected; after the client's retry table it fails the
entity, whose watermark stays.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.magento.errors import (
    GatewayError,
    MagentoError,
    RequestTimeoutError,
    ServerError,
)
from bridge.magento.search import Page, SearchCriteria
from bridge.timeutil import format_magento_time, parse_magento_time

log = logging.getLogger(__name__)

# Errors that one bad record or an oversized page can cause: bisect them. Not
# BadResponseError: an answer that is not a search result is the store's, not a record's.
BISECT_ERRORS: tuple[type[MagentoError], ...] = (
    ServerError,
    GatewayError,
    RequestTimeoutError,
)

MAX_ID = 2**31 - 1  # Magento's entity ids are signed 32-bit
MAX_BAD_PER_BLOCK = 50

Key = tuple[str, int]  # (updated_at as "YYYY-MM-DD HH:MM:SS", entity id)

# fetch(criteria, page_size, page_number) -> Page
FetchFn = Callable[[SearchCriteria, int, int], Page]
# get(entity_id) -> the record, as the single-record route returns it
GetFn = Callable[[int], dict[str, Any]]


@dataclass(frozen=True)
class Stream:
    """How one list route names its key: the filter/sort columns and the JSON id."""

    name: str
    id_key: str  # JSON key of the id in items ("id" or "entity_id")
    id_column: str = "entity_id"  # collection column for filters and sorting
    time_column: str = "updated_at"


def item_key(stream: Stream, item: dict[str, Any]) -> Key | None:
    """The keyset position of a raw item, or None when it has no usable key."""
    raw_id = item.get(stream.id_key)
    raw_time = item.get("updated_at")
    if isinstance(raw_id, bool) or not raw_time:
        return None
    try:
        ident = int(raw_id)  # type: ignore[arg-type]
        if type(raw_time) is str and len(raw_time) == 19 and raw_time[10] == " ":
            datetime.fromisoformat(raw_time)  # valid: Magento's own form is the key
            return (raw_time, ident)
        when = parse_magento_time(str(raw_time))
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return (format_magento_time(when), ident)


def window_criteria(
    stream: Stream, base: SearchCriteria, lo: datetime | None, hi: datetime | None
) -> SearchCriteria:
    crit = base
    if lo is not None:
        crit = crit.where(stream.time_column, "gteq", lo)
    if hi is not None:
        crit = crit.where(stream.time_column, "lteq", hi)
    return crit.order_by(stream.time_column, "ASC").order_by(stream.id_column, "ASC")


def after_key(stream: Stream, crit: SearchCriteria, key: Key) -> SearchCriteria:
    """Records strictly after ``key`` in (updated_at, id) order."""
    u, i = key
    t, c = stream.time_column, stream.id_column
    return crit.where(t, "gteq", u).where_any((t, "gt", u), (c, "gt", i))


def before_key(stream: Stream, crit: SearchCriteria, key: Key) -> SearchCriteria:
    """Records strictly before ``key`` in (updated_at, id) order."""
    u, i = key
    t, c = stream.time_column, stream.id_column
    return crit.where(t, "lteq", u).where_any((t, "lt", u), (c, "lt", i))


@dataclass
class ScanResult:
    items: int = 0
    requests: int = 0
    total: int | None = None  # N from page 1
    max_seen: datetime | None = None
    # Where a block had to stop (the watermark must stay before it); None: complete.
    stopped_at: Key | None = None
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class ListsFailing(MagentoError):
    """Even a list request that matches no record fails: the store, not a record, is at
    fault, so nothing is singled out or quarantined and the entity fails (watermark kept)."""

    kind = "LISTS_FAILING"


class BlockFailed(Exception):
    """A block could not go on past a key (even the id-only probe failed)."""


class WindowScan:
    """Fetch every record of one window; hand each page to ``on_items`` (any thread).

    ``on_items(items)`` may block (a bounded queue to the writer): that is the back
    pressure that keeps memory flat. ``on_bad(record_id, reason, payload)`` quarantines
    a record that could not be fetched. ``on_total(n)`` reports N once known.
    """

    def __init__(
        self,
        stream: Stream,
        fetch: FetchFn,
        get: GetFn | None,
        base: SearchCriteria,
        *,
        lo: datetime | None,
        hi: datetime | None,
        page_size: int,
        workers: int,
        on_items: Callable[[list[dict[str, Any]]], None],
        on_bad: Callable[[str | None, str, dict[str, Any] | None], None],
        on_total: Callable[[int], None] | None = None,
    ) -> None:
        self.stream = stream
        self._fetch = fetch
        self._get = get
        self.window = window_criteria(stream, base, lo, hi)
        self.page_size = page_size
        self.workers = max(1, workers)
        self.on_items = on_items
        self.on_bad = on_bad
        self.on_total = on_total
        self.result = ScanResult()

    # -- bookkeeping ------------------------------------------------------------------

    def _request(self, crit: SearchCriteria, size: int, number: int) -> Page:
        with self.result.lock:
            self.result.requests += 1
        return self._fetch(crit, size, number)

    def _deliver(self, items: list[dict[str, Any]]) -> Key | None:
        """Hand items on; return the last usable key among them."""
        last: Key | None = None
        for item in items:
            key = item_key(self.stream, item)
            if key is not None and (last is None or key > last):
                last = key
        newest = parse_magento_time(last[0]) if last is not None else None
        with self.result.lock:
            self.result.items += len(items)
            seen = self.result.max_seen
            if newest is not None and (seen is None or newest > seen):
                self.result.max_seen = newest
        if items:
            self.on_items(items)
        return last

    def _stop(self, key: Key | None, message: str) -> None:
        with self.result.lock:
            self.result.errors.append(message)
            floor = key or ("0000-00-00 00:00:00", 0)
            if self.result.stopped_at is None or floor < self.result.stopped_at:
                self.result.stopped_at = floor

    # -- the scan ---------------------------------------------------------------------

    def run(self) -> ScanResult:
        try:
            first = self._request(self.window, self.page_size, 1)
        except BISECT_ERRORS as exc:
            self._probe(self.window)
            log.warning("%s: first page failed (%s); paging one block with bisection",
                        self.stream.name, exc)
            self._block(None, None, first_size=self.page_size // 2 or 1, probed=True)
            return self.result
        size = first.page_size
        total = first.total_count
        self.result.total = total
        if self.on_total:
            self.on_total(total)
        last = self._deliver(first.items)
        pages = max(1, math.ceil(total / size)) if size else 1
        if len(first.items) >= total or not first.items:
            return self.result
        blocks = max(1, min(self.workers, pages // 2))
        if blocks == 1:
            self._block(last, None)
            return self.result
        starts = [1 + (j * pages) // blocks for j in range(blocks)]
        bounds: list[_Boundary] = [_Boundary() for _ in range(blocks)]
        bounds[0].set(("", 0))  # block 0's first page is page 1: never merged away

        def upper(j: int) -> Key | None:
            for k in range(j + 1, blocks):
                b = bounds[k].wait()
                if b is not None:
                    return b
            return None

        def worker(j: int) -> None:
            start_key: Key | None = last
            try:
                if j > 0:
                    try:
                        page = self._request(self.window, size, starts[j])
                    except BISECT_ERRORS as exc:
                        # The previous block pages through this one's range instead.
                        log.warning("%s: page %d failed (%s); merged into the block before",
                                    self.stream.name, starts[j], exc)
                        bounds[j].set(None)
                        return
                    if not page.items:
                        bounds[j].set(None)
                        return
                    first_key = item_key(self.stream, page.items[0])
                    bounds[j].set(first_key)
                    if first_key is None:
                        self._stop(None, f"{self.stream.name}: page {starts[j]} has no key")
                        return
                    start_key = self._deliver(page.items)
                self._block(start_key, upper(j))
            finally:
                bounds[j].set_if_unset(None)

        with ThreadPoolExecutor(blocks, thread_name_prefix=f"scan-{self.stream.name}") as pool:
            futures = [pool.submit(worker, j) for j in range(blocks)]
            for f in futures:
                f.result()
        return self.result

    def _block(self, start: Key | None, end: Key | None, first_size: int | None = None,
               probed: bool = False) -> None:
        """Keyset pages after ``start`` and before ``end`` until none is left.
        ``probed``: the store answered a request matching no record since the last
        failure (``_probe``), so a failing page is a record's or its size's doing."""
        key = start
        size = first_size or self.page_size
        excluded: list[int] = []  # bad records already fetched by id or quarantined
        while True:
            crit = self.window
            if key is not None:
                crit = after_key(self.stream, crit, key)
            if end is not None:
                crit = before_key(self.stream, crit, end)
            if excluded:
                crit = crit.where(self.stream.id_column, "nin", sorted(excluded))
            try:
                page = self._request(crit, size, 1)
            except BISECT_ERRORS as exc:
                if not probed:
                    self._probe(crit)
                    probed = True
                if size > 1:
                    size = max(1, size // 2)
                    log.info("%s: page after %s failed (%s); trying %d a page",
                             self.stream.name, key, exc.__class__.__name__, size)
                    continue
                try:
                    self._single(crit, key, exc, excluded)
                except BlockFailed as stop:
                    self._stop(key, str(stop))
                    return
                size = self.page_size
                continue
            probed = False
            if self.result.total is None:
                self.result.total = page.total_count
                if self.on_total:
                    self.on_total(page.total_count)
            if not page.items:
                return
            new_key = self._deliver(page.items)
            if new_key is None or (key is not None and new_key <= key):
                self._stop(key, f"{self.stream.name}: a page after {key} has no usable key")
                return
            key = new_key
            if len(page.items) >= page.total_count:
                return
            if size < self.page_size:
                size = min(self.page_size, size * 2)

    def _probe(self, crit: SearchCriteria) -> None:
        """After a list request failed: does one that can match no record fail too? Then
        the store, not a record or the page size, is at fault: ``ListsFailing`` ends the
        entity (two requests, where halving and singling out took some 40 per round)."""
        try:
            self._request(crit.where(self.stream.id_column, "lt", 0), 1, 1)
        except BISECT_ERRORS as exc:
            raise ListsFailing(
                f"every list request fails, even one that matches no record ({exc.kind}"
                f"{'' if exc.status is None else f', HTTP {exc.status}'}: {exc.message})",
                status=exc.status, report_id=exc.report_id, route=exc.route,
            ) from exc

    def _single(
        self, crit: SearchCriteria, key: Key | None, cause: Exception, excluded: list[int]
    ) -> None:
        """The first record after ``key`` fails even alone (docs/magento.md B6: Magento cannot
        load it in a list). Find its id by halving entity_id ranges (a page of one record
        fails exactly when the range holds it), fetch it by id, or quarantine it; either
        way it is excluded from the rest of this block, which goes on after ``key``."""
        if len(excluded) >= MAX_BAD_PER_BLOCK:
            raise BlockFailed(
                f"{self.stream.name}: more than {MAX_BAD_PER_BLOCK} records after {key} fail "
                f"in lists ({cause}); stopped there"
            )
        id_col = self.stream.id_column
        lo, hi = 0, MAX_ID  # the bad record's id is in (lo, hi]
        try:
            while lo + 1 < hi:
                mid = (lo + hi) // 2
                try:
                    self._request(crit.where(id_col, "gt", lo).where(id_col, "lteq", mid), 1, 1)
                except BISECT_ERRORS:
                    hi = mid
                else:
                    lo = mid
            try:
                self._request(crit.where(id_col, "eq", hi), 1, 1)
            except BISECT_ERRORS:
                pass
            else:
                return  # it passed alone now: the failure was passing; just go on
        except MagentoError as exc:
            if exc.fatal:
                raise
            raise BlockFailed(
                f"{self.stream.name}: could not single out the record after {key} ({exc}); "
                "stopped there"
            ) from exc
        record_id = hi
        reason = f"cannot be read in a list ({cause.__class__.__name__}: {cause})"
        record: dict[str, Any] | None = None
        if self._get is not None:
            try:
                with self.result.lock:
                    self.result.requests += 1
                record = self._get(record_id)
            except MagentoError as exc:
                if exc.fatal:
                    raise
                reason += f"; get by id failed too: {exc}"
        found = item_key(self.stream, record) if record is not None else None
        if record is not None and found is not None and key is not None and found <= key:
            raise BlockFailed(
                f"{self.stream.name}: every list request after {key} fails ({cause}); "
                "stopped there"
            )
        excluded.append(record_id)
        if record is not None:
            log.info("%s %s: fetched by id after its list page failed",
                     self.stream.name, record_id)
            self._deliver([record])
        else:
            log.warning("%s %s: quarantined: %s", self.stream.name, record_id, reason)
            self.on_bad(str(record_id), reason, None)


class _Boundary:
    """The first key of a block, published once by its worker (None: block is empty)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._value: Key | None = None

    def set(self, value: Key | None) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def set_if_unset(self, value: Key | None) -> None:
        self.set(value)

    def wait(self) -> Key | None:
        self._event.wait()
        return self._value
