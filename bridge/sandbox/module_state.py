"""What the storefront module's routes read and write in the sandbox shop.

Magento keeps these in tables the core REST API never shows: ``wishlist_item`` (joined to
``wishlist`` for the customer), ``report_viewed_product_index`` (one row per customer and
product; a repeat view moves ``added_at`` forward and keeps the row's id) and
``catalogrule``. The sandbox keeps them here, generated with the shop from its seed (from
a random stream of their own, so the customers, orders and carts of a seed stay what
they were), and changed with the helpers below as a storefront would change them.

Rows are kept sorted by (``added_at``, id), the order the module answers in, so a keyset
page is a bisect and a slice however big the shop is.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bridge.sandbox.model import fmt_time

if TYPE_CHECKING:
    from bridge.sandbox.model import ShopTables as Shop

DAY = 86400
MODULE_VERSION = "0.2.0"  # the module's composer.json / Model/Info.php VERSION
MAX_GROUP_ASSIGNMENTS = 1000
FEATURES = ("group_assignments", "session_refresh", "catalog_rules", "wishlist_items",
            "product_views")


class ActivityRow:
    """One wishlist item or one viewed-product row; ``added_at`` is UTC text."""

    __slots__ = ("id", "customer_id", "product_id", "store_id", "added_at")

    def __init__(self, id: int, customer_id: int, product_id: int, store_id: int | None,
                 added_at: str) -> None:
        self.id = id
        self.customer_id = customer_id
        self.product_id = product_id
        self.store_id = store_id
        self.added_at = added_at

    @property
    def key(self) -> tuple[str, int]:
        return (self.added_at, self.id)


class ActivityTable:
    """Rows by id, plus their (added_at, id) keys in order."""

    def __init__(self) -> None:
        self.rows: dict[int, ActivityRow] = {}
        self.keys: list[tuple[str, int]] = []
        self.next_id = 1
        self._pairs: dict[tuple[int, int], int] | None = None  # (customer, product) -> id

    def __len__(self) -> int:
        return len(self.rows)

    def load(self, rows: list[ActivityRow]) -> None:
        for r in rows:
            self.rows[r.id] = r
        self.keys = sorted(r.key for r in self.rows.values())
        self.next_id = max(self.rows, default=0) + 1

    def add(self, customer_id: int, product_id: int, store_id: int | None,
            added_at: str) -> ActivityRow:
        row = ActivityRow(self.next_id, customer_id, product_id, store_id, added_at)
        self.next_id += 1
        self.rows[row.id] = row
        bisect.insort(self.keys, row.key)
        if self._pairs is not None:
            self._pairs.setdefault((customer_id, product_id), row.id)
        return row

    def find(self, customer_id: int, product_id: int) -> ActivityRow | None:
        """The row of this customer and product (the first, if a wishlist has two)."""
        if self._pairs is None:
            self._pairs = {}
            for r in sorted(self.rows.values(), key=lambda r: r.id, reverse=True):
                self._pairs[(r.customer_id, r.product_id)] = r.id
        found = self._pairs.get((customer_id, product_id))
        return None if found is None else self.rows[found]

    def move(self, row: ActivityRow, added_at: str) -> None:
        """A new ``added_at`` for an existing row (its id stays)."""
        self.keys.pop(bisect.bisect_left(self.keys, row.key))
        row.added_at = added_at
        bisect.insort(self.keys, row.key)

    def delete(self, row_id: int) -> ActivityRow:
        row = self.rows.pop(row_id)
        self.keys.pop(bisect.bisect_left(self.keys, row.key))
        self._pairs = None
        return row

    def in_order(self, start: int = 0, end: int | None = None) -> Iterator[ActivityRow]:
        rows = self.rows
        for _, i in self.keys[start:end]:
            yield rows[i]


class _Formatter:
    """fmt_time for many times: each day's date text is made once."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def __call__(self, epoch: int) -> str:
        day, rest = divmod(epoch, DAY)
        date = self.days.get(day)
        if date is None:
            date = self.days[day] = (fmt_time(day * DAY) or "")[:10]
        hours, rest = divmod(rest, 3600)
        return f"{date} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


class ModuleState:
    """The module's data and switches for one shop.

    ``wishlist`` and ``views`` are made from the seed and the customers as they were
    generated (a snapshot taken with the shop), the first time something reads them: a
    100,000-customer shop that never serves these routes does not pay for their ~240,000
    rows, and the rows are the same whenever they are made.

    ``features`` and ``product_views_recorded`` are what ``GET /V1/segbridge/info``
    answers, with ``max_group_assignments`` (the largest request the route accepts; a
    test lowers it to see a push split into several requests); ``grid_reindex_fails``
    makes group assignments answer the module's warning (changes kept);
    ``refresh_flags`` are the customers whose sessions the module flagged;
    ``rules_applied`` counts ``POST …/catalogRules/apply`` (the indexer marked invalid).
    """

    def __init__(self, shop: Shop, seed: int) -> None:
        self.products: dict[int, Any] = {p.id: p for p in shop.catalog}
        self.features: tuple[str, ...] = FEATURES
        self.product_views_recorded = True
        self.max_group_assignments = MAX_GROUP_ASSIGNMENTS
        self.grid_reindex_fails = False
        self.refresh_flags: set[int] = set()
        self.rules_applied = 0
        self.indexer_valid = True
        self.rules: dict[int, dict[str, Any]] = {1: {
            "rule_id": 1, "name": "Spring sale (made in the admin)", "description": None,
            "is_active": False, "website_ids": [1, 2], "customer_group_ids": [0, 1, 2, 3],
            "from_date": None, "to_date": None, "simple_action": "by_percent",
            "discount_amount": 15.0, "stop_rules_processing": False, "sort_order": 0,
            "skus": [], "other_conditions": True,
        }}
        self.next_rule_id = 2
        self._lock = threading.Lock()
        self._plan: tuple[int, int, list[tuple[int, int, int]]] | None = (
            seed, shop.clock.now(),
            [(c.id, c.created_at, c.store_id) for c in shop.customers.values()])
        self._tables: tuple[ActivityTable, ActivityTable] | None = None

    @property
    def wishlist(self) -> ActivityTable:
        return self._made()[0]

    @property
    def views(self) -> ActivityTable:
        return self._made()[1]

    def _made(self) -> tuple[ActivityTable, ActivityTable]:
        tables = self._tables
        if tables is None:
            with self._lock:
                if self._tables is None:
                    assert self._plan is not None
                    self._tables = _generate(*self._plan, list(self.products))
                    self._plan = None
                tables = self._tables
        return tables


def generate_module_state(shop: Shop, seed: int) -> ModuleState:
    """The module's state for a shop just generated from ``seed``."""
    return ModuleState(shop, seed)


def _generate(seed: int, anchor: int, customers: list[tuple[int, int, int]],
              products: list[int]) -> tuple[ActivityTable, ActivityTable]:
    """Wishlists and viewed products from ``seed`` alone (a random stream of their own).

    About a quarter of the customers keep a wishlist (1–4 items over the last two years)
    and about half viewed products in the last 90 days (1–6 products, a fifth of them
    viewed again later: the row keeps its id, its ``added_at`` moves on). Plain
    arithmetic on ``random()`` rather than ``randint``/``sample``, for speed.
    """
    rnd = random.Random(seed * 104_729 + 23).random
    n = len(products)
    strides = [s for s in (1, 7, 11, 13, 17, 19, 23) if 5 * s < n] or [1]
    wish: list[tuple[int, int, int, int | None]] = []  # (time, customer, product, store)
    views: list[tuple[int, int, int, int | None, int]] = []  # + time of the last view

    def picks(k: int) -> list[int]:
        """k distinct products (k <= 6 < the catalog's size)."""
        base = int(rnd() * n)
        stride = strides[int(rnd() * len(strides))]
        return [products[(base + j * stride) % n] for j in range(min(k, n))]

    for cid, created, store in customers:
        if rnd() < 0.25:
            lo = max(created, anchor - 730 * DAY)
            span = max(0, anchor - 60 - lo)
            for p in picks(1 + int(rnd() * 4)):
                wish.append((lo + int(rnd() * span), cid, p, store))
        if rnd() < 0.5:
            lo = max(created, anchor - 90 * DAY)
            span = max(0, anchor - 60 - lo)
            for p in picks(1 + int(rnd() * 6)):
                first = lo + int(rnd() * span)
                last = first
                if rnd() < 0.2:
                    last = first + int(rnd() * max(0, anchor - 30 - first))
                views.append((first, cid, p, store, last))
    wish.sort()
    views.sort()
    text = _Formatter()
    wishlist, viewed = ActivityTable(), ActivityTable()
    # ids grow with the time a row was made, as auto-increment ids do
    wishlist.load([ActivityRow(i, c, p, s, text(t))
                   for i, (t, c, p, s) in enumerate(wish, start=1)])
    viewed.load([ActivityRow(i, c, p, s, text(last))
                 for i, (_, c, p, s, last) in enumerate(views, start=1)])
    return wishlist, viewed


# --- what a storefront does (tests and demos call these) --------------------------------

def add_to_wishlist(shop: Shop, customer_id: int, product_id: int,
                    store_id: int | None = None) -> ActivityRow:
    """The customer adds a product to their wishlist now (a new item id)."""
    with shop.lock:
        store = store_id if store_id is not None else shop._customer(customer_id).store_id
        return shop.module.wishlist.add(customer_id, product_id, store,
                                        fmt_time(shop.now()) or "")


def remove_from_wishlist(shop: Shop, item_id: int) -> None:
    with shop.lock:
        shop.module.wishlist.delete(item_id)


def view_product(shop: Shop, customer_id: int, product_id: int,
                 store_id: int | None = None, at: int | None = None) -> ActivityRow:
    """A logged-in customer views a product now: a new row, or their row for that product
    with ``added_at`` moved to now (Magento's INSERT … ON DUPLICATE KEY UPDATE). ``at``:
    an earlier time, as a view made as a guest keeps when Magento attaches it at login."""
    with shop.lock:
        store = store_id if store_id is not None else shop._customer(customer_id).store_id
        now = fmt_time(shop.now() if at is None else at) or ""
        views = shop.module.views
        row = views.find(customer_id, product_id)
        if row is not None:
            row.store_id = store
            views.move(row, now)
            return row
        return views.add(customer_id, product_id, store, now)
