"""The ``Shop``: every entity's table and its indexes, built from a seed.

Its methods come from the mixins beside it: rendering (render.py, orders.py), the REST
saves (customers.py, saves.py) and the mutation helpers (helpers.py). All access goes
through ``lock``."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from typing import Any

from bridge.sandbox.generator import Product, generate, make_catalog
from bridge.sandbox.model import Cart, Clock, Table, parse_time
from bridge.sandbox.module_state import generate_module_state
from bridge.sandbox.search import EntitySpec
from bridge.sandbox.shop.customers import CustomerSaves
from bridge.sandbox.shop.helpers import MutationHelpers
from bridge.sandbox.shop.orders import OrderRendering
from bridge.sandbox.shop.records import (
    DEFAULT_GROUP_ID,
    Block,
    Group,
    StoreGroup,
    StoreView,
    Website,
)
from bridge.sandbox.shop.render import Rendering
from bridge.sandbox.shop.saves import EntitySaves
from bridge.sandbox.shop.specs import _specs


class Shop(Rendering, OrderRendering, CustomerSaves, EntitySaves, MutationHelpers):
    """Everything the sandbox serves, plus helpers to change it as a shop would."""

    def __init__(self, customers: int = 200, seed: int = 1, orders_per_customer: float = 2.0,
                 active_carts: float = 0.25, now: int | datetime | str | None = None,
                 tick: bool = True) -> None:
        self.lock = threading.RLock()
        start: int | None
        if isinstance(now, datetime):
            start = int((now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp())
        elif isinstance(now, str):
            start = parse_time(now)
            if start is None:
                raise ValueError(f"now={now!r} is not a date-time")
        else:
            start = now
        self.clock = Clock(start, tick)
        self.seed = seed
        self.simulated_days = 0  # days played forward by bridge.sandbox.simulate
        self.websites = [Website(0, "admin", "Admin", 0), Website(1, "base", "Main Website", 1),
                         Website(2, "nordic", "Nordic Website", 2)]
        self.store_groups = [
            StoreGroup(0, 0, 0, 0, "Default", "default"),
            StoreGroup(1, 1, 2, 1, "Main Website Store", "main_website_store"),
            StoreGroup(2, 2, 2, 2, "Nordic Store", "nordic_store"),
        ]
        self.stores = [
            StoreView(0, "admin", "Admin", 0, 0, 1, "USD", "USD", 1.0, 0.0),
            StoreView(1, "default", "Default Store View", 1, 1, 1, "USD", "USD", 1.0, 0.0825),
            StoreView(2, "se", "Sverige", 2, 2, 1, "SEK", "EUR", 11.2, 0.25),
            StoreView(3, "no", "Norge", 2, 2, 1, "NOK", "EUR", 11.7, 0.25),
            StoreView(4, "dk", "Danmark", 2, 2, 1, "DKK", "EUR", 7.46, 0.25),
            StoreView(5, "fi", "Suomi", 2, 2, 0, "EUR", "EUR", 1.0, 0.24),
        ]
        self.store_by_id = {s.id: s for s in self.stores}
        self.store_by_code = {s.code: s for s in self.stores}
        self.groups = Table(())
        for gid, code in ((0, "NOT LOGGED IN"), (1, "General"), (2, "Wholesale"),
                          (3, "Retailer")):
            self.groups.add(Group(gid, code, 3))
        self.default_group_id = DEFAULT_GROUP_ID
        self.customers = Table(("updated_at", "created_at"))
        self.orders = Table(("updated_at", "created_at"))
        # order id → (the order's state, its lean JSON): see lean_order_text; customer
        # id → (the customer's state, its JSON): see customer_text
        self._lean_texts: dict[int, tuple[tuple[Any, ...], str]] = {}
        self._customer_texts: dict[int, tuple[tuple[Any, ...], str]] = {}
        # carts are searched with a filter no index answers (the sync's customer_id gt 0):
        # their matches are kept while no cart changes (Table.stamp, Cart.changes)
        self.carts = Table(("updated_at", "created_at"), record_changes=lambda: Cart.changes)
        self.blocks = Table(())
        self.rules = Table(())
        self.coupons = Table(())
        self.catalog: list[Product] = make_catalog(seed)
        self.sku_index: dict[str, tuple[Product, tuple[int, str, str] | None]] = {}
        for p in self.catalog:
            self.sku_index[p.sku] = (p, None)
            for kid in p.children:
                self.sku_index[kid[1]] = (p, kid)
        self.next_address_id = 1
        self.next_cart_item_id = 1
        self.order_seq: dict[int, int] = {}
        self.email_index: dict[tuple[int, str], int] = {}
        self.orders_by_customer: dict[int, list[int]] = {}
        self.carts_by_customer: dict[int, list[int]] = {}
        self._touch_rng = random.Random(seed * 31 + 7)
        generate(self, customers, seed, orders_per_customer, active_carts)
        # the storefront module's tables (module_state.py), from a random stream of their own
        self.module = generate_module_state(self, seed)
        self.blocks.add(Block(id=1, identifier="footer_links", title="Footer links",
                              content="<ul><li>About</li></ul>", active=True, store_ids=(0,),
                              creation_time=self.clock.now() - 400 * 86400,
                              update_time=self.clock.now() - 100 * 86400))

    # ------------------------------------------------------------------ indexes
    def rebuild_email_index(self) -> None:
        self.email_index = {(c.website_id, c.email.casefold()): c.id
                            for c in self.customers.values()}

    def rebuild_order_index(self) -> None:
        idx: dict[int, list[int]] = {}
        for o in self.orders.values():
            if o.customer_id is not None:
                idx.setdefault(o.customer_id, []).append(o.id)
        self.orders_by_customer = idx

    def rebuild_cart_index(self) -> None:
        idx: dict[int, list[int]] = {}
        for q in self.carts.values():
            if q.customer_id is not None:
                idx.setdefault(q.customer_id, []).append(q.id)
        self.carts_by_customer = idx

    def now(self) -> int:
        return self.clock.now()

    def store(self, store_id: int) -> StoreView:
        return self.store_by_id.get(store_id) or self.store_by_id[1]

    # ------------------------------------------------------------------ search specs
    def specs(self) -> dict[str, EntitySpec]:
        return _specs(self)

