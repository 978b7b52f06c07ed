"""searchCriteria, and a paginator that cannot loop, skip or repeat.

``SearchCriteria`` is immutable: every builder method returns a new one, so a criteria
object can be shared between threads and reused for many pages.

Query-string syntax (docs/magento.md S2): filters inside one filter group are OR-ed, filter
groups are AND-ed; sort orders always carry an explicit direction (a missing direction
sorts DESC in Magento); ``fields=items[...],total_count`` trims answers (docs/magento.md S11, B7).

The paginator (docs/magento.md B1-B3, C1): always sends ``pageSize`` and a 1-based
``currentPage``; takes the last page from the first answer's ``total_count`` and never
asks past it (2.3 repeats the last page, 2.4 answers empty); stops on a repeated or
short page; keeps a hard request cap; always sorts totally (a unique key is appended
as tiebreaker); adapts once to ``Maximum SearchCriteria pageSize is N``; and fetches the
remaining pages in parallel once the count is known, yielding them in order.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from bridge.magento.errors import BadResponseError, PageSizeLimitError, ServerError

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 300  # Magento's maximum when input limits are on (docs/magento.md S4)

CONDITION_TYPES = frozenset(
    {
        "eq", "neq", "gt", "gteq", "lt", "lteq", "like", "nlike", "in", "nin", "null",
        "notnull", "from", "to", "finset", "nfinset", "seq", "sneq",
    }
)
_VALUELESS = frozenset({"null", "notnull"})
_SORT_FIELD = re.compile(r"^[A-Za-z0-9_]+$")


def format_value(value: Any) -> str:
    """A filter value as Magento expects it: naive-UTC times, comma lists, 1/0 booleans."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(format_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Filter:
    field: str
    value: Any
    condition_type: str = "eq"

    def __post_init__(self) -> None:
        if self.condition_type not in CONDITION_TYPES:
            raise ValueError(
                f"filter on {self.field!r}: unknown condition_type {self.condition_type!r} "
                f"(known: {', '.join(sorted(CONDITION_TYPES))})"
            )
        if not self.field:
            raise ValueError("filter field must not be empty")


@dataclass(frozen=True)
class SortOrder:
    field: str
    direction: str = "ASC"

    def __post_init__(self) -> None:
        if not _SORT_FIELD.match(self.field):
            raise ValueError(f"sort field {self.field!r} may hold only letters, digits and _")
        if self.direction not in ("ASC", "DESC"):
            raise ValueError(f"sort direction for {self.field!r} must be ASC or DESC")


FilterSpec = Filter | tuple[str, Any] | tuple[str, str, Any]


def _as_filter(spec: FilterSpec) -> Filter:
    if isinstance(spec, Filter):
        return spec
    if len(spec) == 2:
        return Filter(spec[0], spec[1], "eq")
    if len(spec) == 3:
        return Filter(spec[0], spec[2], spec[1])
    raise ValueError(f"a filter is (field, value) or (field, condition, value), not {spec!r}")


@dataclass(frozen=True)
class SearchCriteria:
    """An immutable searchCriteria: ``filter_groups`` (AND of ORs), sort orders, fields."""

    filter_groups: tuple[tuple[Filter, ...], ...] = ()
    sort_orders: tuple[SortOrder, ...] = ()
    item_fields: tuple[str, ...] | None = None  # None = whole items
    size: int | None = None  # preferred pageSize; the paginator's page_size wins if given

    def where(self, field: str, condition_or_value: Any, value: Any = ..., /) -> SearchCriteria:
        """AND a single filter: ``where("group_id", 1)`` or ``where("updated_at", "gteq", t)``."""
        if value is ...:
            f = Filter(field, condition_or_value, "eq")
        else:
            f = Filter(field, value, condition_or_value)
        return replace(self, filter_groups=self.filter_groups + ((f,),))

    def where_any(self, *filters: FilterSpec) -> SearchCriteria:
        """AND one group whose filters are OR-ed: ``where_any(("a","gt",1), ("b","eq",2))``."""
        if not filters:
            raise ValueError("where_any needs at least one filter")
        group = tuple(_as_filter(f) for f in filters)
        return replace(self, filter_groups=self.filter_groups + (group,))

    def order_by(self, field: str, direction: str) -> SearchCriteria:
        """Sort by ``field``; the direction is required because Magento defaults to DESC."""
        return replace(self, sort_orders=self.sort_orders + (SortOrder(field, direction.upper()),))

    def fields(self, *names: str) -> SearchCriteria:
        """Ask only for these item fields (rendered as ``items[...],total_count``)."""
        return replace(self, item_fields=tuple(names))

    def page_size(self, size: int) -> SearchCriteria:
        """Prefer pages of ``size`` items (1..300) when this criteria is paged."""
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}, not {size}")
        return replace(self, size=size)

    def sorts_by(self, field: str) -> bool:
        return any(s.field == field for s in self.sort_orders)

    def with_tiebreaker(self, field: str, direction: str = "ASC") -> SearchCriteria:
        """The same criteria with ``field`` appended to the sort if absent: a total order."""
        if self.sorts_by(field):
            return self
        return self.order_by(field, direction)

    def with_item_field(self, name: str) -> SearchCriteria:
        """Make sure a trimmed answer still carries ``name`` (the paginator needs the ids)."""
        if self.item_fields is None or name in self.item_fields:
            return self
        return replace(self, item_fields=self.item_fields + (name,))

    def to_params(
        self, page_size: int | None = None, current_page: int | None = None
    ) -> list[tuple[str, str]]:
        """Magento's query-string pairs (left for requests to URL-encode, brackets included)."""
        out: list[tuple[str, str]] = []
        for g, group in enumerate(self.filter_groups):
            for i, f in enumerate(group):
                base = f"searchCriteria[filter_groups][{g}][filters][{i}]"
                out.append((f"{base}[field]", f.field))
                # null/notnull ignore the value, but the schema marks it required.
                value = "1" if f.condition_type in _VALUELESS and f.value is None else f.value
                out.append((f"{base}[value]", format_value(value)))
                out.append((f"{base}[condition_type]", f.condition_type))
        for i, s in enumerate(self.sort_orders):
            out.append((f"searchCriteria[sortOrders][{i}][field]", s.field))
            out.append((f"searchCriteria[sortOrders][{i}][direction]", s.direction))
        if page_size is not None:
            out.append(("searchCriteria[pageSize]", str(page_size)))
        if current_page is not None:
            if current_page < 1:
                raise ValueError("currentPage is 1-based")
            out.append(("searchCriteria[currentPage]", str(current_page)))
        if self.item_fields is not None:
            out.append(("fields", f"items[{','.join(self.item_fields)}],total_count"))
        return out


@dataclass(frozen=True)
class Endpoint:
    """A searchable Magento list: its path, the unique sort key, and the id in each item."""

    name: str
    path: str  # e.g. "/V1/customers/search"
    sort_key: str  # collection column that is unique: the tiebreaker
    id_field: str  # the same value's key in the JSON items


class Items(list):  # type: ignore[type-arg]
    """A page's items, with the answer's raw JSON ``body`` when the client kept it (the
    sync decodes it again in another process instead of pickling the items across).
    ``light``: each item holds only its id and ``updated_at`` (``Paginator.page(…,
    keys_only=True)``); the whole items are in ``body``."""

    body: bytes | None = None
    light: bool = False


@dataclass
class Page:
    """One answer of a list route."""

    number: int
    page_size: int  # the size we asked for (never the echoed one: mm#35310)
    total_count: int
    items: list[dict[str, Any]]
    id_field: str = "id"

    @property
    def last_page(self) -> int:
        return max(1, math.ceil(self.total_count / self.page_size))

    def ids(self) -> list[Any]:
        return [item.get(self.id_field) for item in self.items]


@dataclass
class PagingStats:
    requests: int = 0  # page requests (each may have been retried inside the client)
    bisect_requests: int = 0  # smaller pages fetched to get around a failing page (B6)
    pages: int = 0
    items: int = 0
    stopped: str = ""  # why paging ended early ("repeat", "short", "empty") or ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


FetchFn = Callable[[str, list[tuple[str, str]], str | None], Any]


class Paginator:
    """Pages of one search. Iterate it for items; ``pages()`` for pages; ``page(n)`` for one.

    ``fetch(path, params, store_code) -> dict`` is the client's list call (retries and
    rate limits live there). ``page_size_limit`` is shared with the client so a limit
    learnt once (``Maximum SearchCriteria pageSize is N``) is used from then on.
    """

    def __init__(
        self,
        fetch: FetchFn,
        endpoint: Endpoint,
        criteria: SearchCriteria | None = None,
        *,
        page_size: int = 100,
        concurrency: int = 1,
        store_code: str | None = None,
        limits: PageSizeLimits | None = None,
        max_requests: int | None = None,
        bisect: bool = True,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
        self._fetch = fetch
        self.endpoint = endpoint
        base = criteria or SearchCriteria()
        self.criteria = base.with_tiebreaker(endpoint.sort_key).with_item_field(endpoint.id_field)
        self.requested_page_size = page_size
        self.concurrency = max(1, concurrency)
        self.store_code = store_code
        self.limits = limits or PageSizeLimits()
        self.max_requests = max_requests
        self.bisect = bisect
        self.stats = PagingStats()
        self._cap: int | None = None

    @property
    def page_size(self) -> int:
        """The page size actually used: the requested one, lowered to a learnt store limit."""
        return self.limits.clamp(self.requested_page_size)

    def _get(self, number: int, size: int, capped: bool = True,
             keys_only: bool = False) -> Page:
        if capped:
            with self.stats.lock:
                if self._cap is not None and self.stats.requests >= self._cap:
                    raise PagingCapReached(
                        f"{self.endpoint.name}: request cap of {self._cap} reached")
                self.stats.requests += 1
        else:
            with self.stats.lock:
                self.stats.bisect_requests += 1
        try:
            params = self.criteria.to_params(size, number)
            if keys_only:
                data = self._fetch(self.endpoint.path, params, self.store_code,
                                   keys_only=self.endpoint.id_field)
            else:
                data = self._fetch(self.endpoint.path, params, self.store_code)
        except ServerError:
            if not self.bisect or size == 1:
                raise
            return self._bisect(number, size)
        items = data.get("items") if isinstance(data, dict) else None
        total = data.get("total_count") if isinstance(data, dict) else None
        if type(total) is not int or total < 0 or not isinstance(items or [], list):
            # Never read as a short result: that ended a first sync after one page.
            raise BadResponseError(
                f"{self.endpoint.path}: the answer is not a search result (no total_count, "
                "or items that are not a list)", route=f"GET {self.endpoint.path}")
        items = items or []
        page_items = Items(items)
        page_items.body = getattr(data, "body", None)
        page_items.light = bool(getattr(data, "light", False))
        return Page(number, size, total, page_items, self.endpoint.id_field)

    def _bisect(self, number: int, size: int) -> Page:
        """B6: a page that keeps failing with 500 is fetched as smaller pages covering the
        same offsets, down to single records; only a single unreadable record raises."""
        part = size // _smallest_factor(size)
        k = size // part
        log.warning("%s: page %d (size %d) keeps failing; fetching it as %d pages of %d",
                    self.endpoint.name, number, size, k, part)
        items: list[dict[str, Any]] = []
        total = 0
        previous: list[Any] | None = None
        for j in range(k):
            sub = self._get((number - 1) * k + 1 + j, part, capped=False)
            if previous is not None and sub.items and sub.ids() == previous:
                break  # 2.3 answered a sub-page past the end with the last one again
            previous = sub.ids()
            items.extend(sub.items)
            total = sub.total_count
            expected = max(0, min(size, total - (number - 1) * size))
            if len(sub.items) < part or len(items) >= expected:
                break  # never ask past the end of the result
        return Page(number, size, total, items, self.endpoint.id_field)

    def page(self, number: int = 1, keys_only: bool = False) -> Page:
        """Fetch one page; adapts once to the store's page-size limit (``PageSizeLimitError``).

        This is the primitive for keyset paging: ``page(1)`` of a criteria that filters
        after the last key seen, with ``total_count`` telling how much is left.
        ``keys_only``: the client may give items with only their id and ``updated_at``
        (``Items.light``, the whole answer in ``Items.body``); a page that had to be
        fetched in smaller parts (``_bisect``) has whole items and no body.
        """
        size = self.page_size
        try:
            return self._get(number, size, keys_only=keys_only)
        except PageSizeLimitError as exc:
            limit = exc.limit
            if limit is None or limit < 1 or limit >= size or number != 1:
                raise
            self.limits.learn(limit)
            log.warning(
                "%s: the store allows at most %d items a page; using %d from now on",
                self.endpoint.name, limit, limit,
            )
            return self._get(number, self.page_size, keys_only=keys_only)

    def pages(self) -> Iterator[Page]:
        """All pages in order; pages after the first are fetched ``concurrency`` at a time."""
        self.stats = PagingStats()
        self._cap = self.max_requests
        try:
            yield from self._pages()
        finally:
            self._cap = None

    def _pages(self) -> Iterator[Page]:
        first = self.page(1)
        self._count(first)
        yield first
        if not first.items:
            return
        size = first.page_size
        last = first.last_page
        # Hard cap: every page once, plus one page-size adaptation of page 1 (B1).
        cap = last + 1
        self._cap = cap if self._cap is None else min(self._cap, cap)
        if last == 1 or self._short(first, last):
            return
        previous = first
        numbers = iter(range(2, last + 1))
        if self.concurrency == 1:
            for n in numbers:
                page = self._get(n, size)
                if self._stop(previous, page, last):
                    return
                self._count(page)
                yield page
                if self._short(page, last):
                    return
                previous = page
            return
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"page-{self.endpoint.name}")
        pending: deque[Future[Page]] = deque()
        try:
            # Keep a bounded window in flight so a million-row pull never queues every page.
            for n in numbers:
                pending.append(pool.submit(self._get, n, size))
                if len(pending) >= self.concurrency * 2:
                    break
            while pending:
                page = pending.popleft().result()
                if self._stop(previous, page, last):
                    return
                n = next(numbers, None)
                if n is not None:
                    pending.append(pool.submit(self._get, n, size))
                self._count(page)
                yield page
                if self._short(page, last):
                    return
                previous = page
        finally:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def _short(self, page: Page, last: int) -> bool:
        """A short page before the last one: the set shrank while paging; nothing follows."""
        if page.number < last and len(page.items) < page.page_size:
            self.stats.stopped = "short"
            log.warning("%s: page %d of %d was short; the result shrank while paging",
                        self.endpoint.name, page.number, last)
            return True
        return False

    def _count(self, page: Page) -> None:
        self.stats.pages += 1
        self.stats.items += len(page.items)

    def _stop(self, previous: Page, page: Page, last: int) -> bool:
        """B1: an empty page, a page equal to the previous one (2.3 clamping) ends paging.

        A short page is yielded but ends paging too: the set shrank while we paged.
        """
        if not page.items:
            self.stats.stopped = "empty"
            log.warning("%s: page %d of %d was empty; the result shrank while paging",
                        self.endpoint.name, page.number, last)
            return True
        if page.ids() == previous.ids():
            self.stats.stopped = "repeat"
            log.warning("%s: page %d repeated page %d; stopping", self.endpoint.name,
                        page.number, previous.number)
            return True
        return False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for page in self.pages():
            yield from page.items

    def items(self) -> Iterator[dict[str, Any]]:
        return iter(self)


def _smallest_factor(n: int) -> int:
    for f in range(2, int(math.isqrt(n)) + 1):
        if n % f == 0:
            return f
    return n


class PagingCapReached(RuntimeError):
    """The hard request cap of a paginator was hit: a bug guard, never expected."""


class PageSizeLimits:
    """The store's page-size limit once learnt, shared by every paginator of a client."""

    def __init__(self, limit: int | None = None) -> None:
        self._lock = threading.Lock()
        self.limit = limit

    def learn(self, limit: int) -> None:
        with self._lock:
            self.limit = limit if self.limit is None else min(self.limit, limit)

    def clamp(self, size: int) -> int:
        limit = self.limit
        return min(size, limit) if limit else size


def collect(pages: Iterable[Page]) -> list[dict[str, Any]]:
    """All items of some pages, in order (for small lists like groups and blocks)."""
    return [item for page in pages for item in page.items]
