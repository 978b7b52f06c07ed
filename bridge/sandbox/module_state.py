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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.sandbox.model import fmt_time

if TYPE_CHECKING:
    from bridge.sandbox.shop import Shop

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
        return row

    def move(self, row: ActivityRow, added_at: str) -> None:
        """A new ``added_at`` for an existing row (its id stays)."""
        self.keys.pop(bisect.bisect_left(self.keys, row.key))
        row.added_at = added_at
        bisect.insort(self.keys, row.key)

    def delete(self, row_id: int) -> ActivityRow:
        row = self.rows.pop(row_id)
        self.keys.pop(bisect.bisect_left(self.keys, row.key))
        return row

    def in_order(self, start: int = 0, end: int | None = None) -> Iterator[ActivityRow]:
        rows = self.rows
        for _, i in self.keys[start:end]:
            yield rows[i]


@dataclass
class ModuleState:
    """The module's data and switches for one shop.

    ``features`` and ``product_views_recorded`` are what ``GET /V1/segbridge/info``
    answers; ``grid_reindex_fails`` makes group assignments answer the module's warning
    (changes kept); ``refresh_flags`` are the customers whose sessions the module flagged;
    ``rules_applied`` counts ``POST …/catalogRules/apply`` (the indexer marked invalid).
    """

    wishlist: ActivityTable = field(default_factory=ActivityTable)
    views: ActivityTable = field(default_factory=ActivityTable)
    rules: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_rule_id: int = 1
    features: tuple[str, ...] = FEATURES
    product_views_recorded: bool = True
    grid_reindex_fails: bool = False
    refresh_flags: set[int] = field(default_factory=set)
    rules_applied: int = 0
    indexer_valid: bool = True
    products: dict[int, Any] = field(default_factory=dict)  # id -> catalog Product


def generate_module_state(shop: Shop, seed: int) -> ModuleState:
    """Wishlists, viewed products and one admin-made catalog rule, from ``seed`` alone.

    About a quarter of the customers keep a wishlist (1–4 items over the last two years)
    and about half viewed products in the last 90 days (1–6 products, a fifth of them
    viewed again later: the row keeps its id, its ``added_at`` moves on).
    """
    state = ModuleState(products={p.id: p for p in shop.catalog})
    r = random.Random(seed * 104_729 + 23)
    anchor = shop.clock.now()
    products = [p.id for p in shop.catalog]
    wish: list[tuple[int, int, int, int | None]] = []  # (time, customer, product, store)
    views: list[tuple[int, int, int, int | None, int]] = []  # + time of the last view
    for c in shop.customers.values():
        if r.random() < 0.25:
            lo = max(c.created_at, anchor - 730 * DAY)
            for p in r.sample(products, r.randint(1, 4)):
                wish.append((r.randint(lo, anchor - 60), c.id, p, c.store_id))
        if r.random() < 0.5:
            lo = max(c.created_at, anchor - 90 * DAY)
            for p in r.sample(products, r.randint(1, 6)):
                first = r.randint(lo, anchor - 60)
                last = r.randint(first, anchor - 30) if r.random() < 0.2 else first
                views.append((first, c.id, p, c.store_id, last))
    wish.sort()
    views.sort()
    # ids grow with the time a row was made, as auto-increment ids do
    state.wishlist.load([ActivityRow(i, c, p, s, fmt_time(t) or "")
                         for i, (t, c, p, s) in enumerate(wish, start=1)])
    state.views.load([ActivityRow(i, c, p, s, fmt_time(last) or "")
                      for i, (_, c, p, s, last) in enumerate(views, start=1)])
    state.rules[1] = {
        "rule_id": 1, "name": "Spring sale (made in the admin)", "description": None,
        "is_active": False, "website_ids": [1, 2], "customer_group_ids": [0, 1, 2, 3],
        "from_date": None, "to_date": None, "simple_action": "by_percent",
        "discount_amount": 15.0, "stop_rules_processing": False, "sort_order": 0,
        "skus": [], "other_conditions": True,
    }
    state.next_rule_id = 2
    return state


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
        for row in views.rows.values():
            if row.customer_id == customer_id and row.product_id == product_id:
                row.store_id = store
                views.move(row, now)
                return row
        return views.add(customer_id, product_id, store, now)
