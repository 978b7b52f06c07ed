"""The sandbox shop: stores, groups, customers, orders, carts, CMS blocks, cart rules.

It renders Magento 2.4 JSON shapes (admin-schema-2.4.6.json) and applies Magento's save
semantics (docs/magento.md S8, S10, A, E, F, G). All access goes through ``lock``.
The mutation helpers at the end are for tests and benches: they bump ``updated_at`` the
way Magento does — except address-only changes, which leave the customer's
``updated_at`` alone (docs/magento.md B5).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from bridge.sandbox.errors import (
    NOT_SUPPORTED,
    ApiError,
    invalid_value,
    no_such_entity,
    required,
)
from bridge.sandbox.generator import (
    STATUS_STATE,
    Product,
    derived_lines,
    generate,
    make_catalog,
    variant_of,
)
from bridge.sandbox.model import Address, Cart, Clock, Customer, Order, Table, dumps, fmt_time
from bridge.sandbox.module_state import generate_module_state
from bridge.sandbox.search import DATE, INT, NUM, TIME, EntitySpec, FieldDef, SortOrder


@dataclass(frozen=True)
class Website:
    id: int
    code: str
    name: str
    default_group_id: int


@dataclass(frozen=True)
class StoreGroup:
    id: int
    website_id: int
    root_category_id: int
    default_store_id: int
    name: str
    code: str


@dataclass(frozen=True)
class StoreView:
    id: int
    code: str
    name: str
    website_id: int
    store_group_id: int
    is_active: int
    currency: str
    base_currency: str
    rate: float
    tax_rate: float


class Group:
    __slots__ = ("id", "code", "tax_class_id")

    def __init__(self, id: int, code: str, tax_class_id: int) -> None:
        self.id = id
        self.code = code
        self.tax_class_id = tax_class_id


class Block:
    __slots__ = ("id", "identifier", "title", "content", "active", "store_ids",
                 "creation_time", "update_time")

    def __init__(self, **kw: Any) -> None:
        for k in Block.__slots__:
            setattr(self, k, kw.get(k))


class Rec:
    """A record kept as its Magento JSON dict (sales rules, coupons)."""

    __slots__ = ("id", "data")

    def __init__(self, id: int, data: dict[str, Any]) -> None:
        self.id = id
        self.data = data


TAX_CLASSES = {3: ("Retail Customer", "CUSTOMER"), 2: ("Taxable Goods", "PRODUCT")}
DEFAULT_GROUP_ID = 1
COUPON_TYPES = {"NO_COUPON": 1, "SPECIFIC_COUPON": 2, "AUTO": 3}
SIMPLE_ACTIONS = ("by_percent", "by_fixed", "cart_fixed", "buy_x_get_y")

CUSTOMER_KEYS = {
    "id", "group_id", "default_billing", "default_shipping", "confirmation", "created_at",
    "updated_at", "created_in", "dob", "email", "firstname", "lastname", "middlename",
    "prefix", "suffix", "gender", "store_id", "taxvat", "website_id", "addresses",
    "disable_auto_group_change", "extension_attributes", "custom_attributes",
}
ADDRESS_KEYS = {
    "id", "customer_id", "region", "region_id", "country_id", "street", "company",
    "telephone", "fax", "postcode", "city", "firstname", "lastname", "middlename", "prefix",
    "suffix", "vat_id", "default_shipping", "default_billing", "extension_attributes",
    "custom_attributes",
}
BLOCK_KEYS = {"id", "identifier", "title", "content", "creation_time", "update_time", "active"}
GROUP_KEYS = {"id", "code", "tax_class_id", "tax_class_name", "extension_attributes"}
RULE_KEYS = {
    "rule_id", "name", "store_labels", "description", "website_ids", "customer_group_ids",
    "from_date", "to_date", "uses_per_customer", "is_active", "condition", "action_condition",
    "stop_rules_processing", "is_advanced", "product_ids", "sort_order", "simple_action",
    "discount_amount", "discount_qty", "discount_step", "apply_to_shipping", "times_used",
    "is_rss", "coupon_type", "use_auto_generation", "uses_per_coupon", "simple_free_shipping",
    "extension_attributes",
}
COUPON_KEYS = {"coupon_id", "rule_id", "code", "usage_limit", "usage_per_customer",
               "times_used", "expiration_date", "is_primary", "created_at", "type",
               "extension_attributes"}


def _dumps(value: Any) -> str:
    return dumps(value).decode()


# Item keys that ``Shop.order_json`` can render without the rest of the item: what the
# sync asks for (bridge.sync.transform.ORDER_FIELDS), so that its answer is the lean
# rendering as it is, without trimming (see ``lean_order_exact``).
LEAN_ITEM_KEYS = frozenset({
    "base_price", "item_id", "name", "parent_item_id", "price", "product_id",
    "product_type", "qty_ordered", "row_total", "sku",
})

# Address keys of a lean order's billing and shipping address (the same: what the sync
# asks for).
LEAN_ADDRESS_KEYS = frozenset({
    "city", "company", "country_id", "firstname", "lastname", "postcode", "region",
    "region_code", "region_id", "street", "telephone", "vat_id",
})


# Top-level order keys that ``Shop.order_json(..., lean_top=True)`` renders (with
# ``extension_attributes`` holding only the shipping assignments' addresses).
LEAN_ORDER_KEYS = frozenset({
    "base_currency_code", "base_grand_total", "billing_address", "created_at",
    "customer_email", "customer_group_id", "customer_id", "customer_is_guest", "entity_id",
    "extension_attributes", "grand_total", "increment_id", "items", "state", "status",
    "store_id", "subtotal", "total_qty_ordered", "updated_at",
})


def _address_spec(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.keys() <= LEAN_ADDRESS_KEYS


def lean_order_spec(order_spec: Any) -> bool:
    """Does a ``fields=`` spec of one order keep only what the lean rendering holds?"""
    if not isinstance(order_spec, dict) or not order_spec.keys() <= LEAN_ORDER_KEYS:
        return False
    if "billing_address" in order_spec and not _address_spec(order_spec["billing_address"]):
        return False
    ext = order_spec.get("extension_attributes", {})
    if not isinstance(ext, dict) or not ext.keys() <= {"shipping_assignments"}:
        return False
    sa = ext.get("shipping_assignments", {})
    if not isinstance(sa, dict) or not sa.keys() <= {"shipping"}:
        return False
    shipping = sa.get("shipping", {})
    if not isinstance(shipping, dict) or not shipping.keys() <= {"address"}:
        return False
    return "address" not in shipping or _address_spec(shipping["address"])


def _leaves(spec: Any, keys: frozenset[str]) -> bool:
    return (isinstance(spec, dict) and spec.keys() >= keys
            and all(spec[k] is None for k in keys))


def lean_order_exact(order_spec: Any) -> bool:
    """Is a ``fields=`` spec of one order exactly the lean rendering: one it can serve
    (``lean_order_spec``, with items of ``LEAN_ITEM_KEYS`` only) that keeps all of it?
    Trimming a lean order to it then changes nothing."""
    if not lean_order_spec(order_spec) or not _leaves(order_spec, LEAN_ORDER_KEYS - {
            "items", "billing_address", "extension_attributes"}):
        return False
    items = order_spec.get("items")
    if not isinstance(items, dict) or not items.keys() <= LEAN_ITEM_KEYS:
        return False  # items with more: they are rendered whole, and need trimming
    try:
        address = order_spec["extension_attributes"]["shipping_assignments"]["shipping"][
            "address"]
    except (KeyError, TypeError):
        return False
    return (_leaves(order_spec["items"], LEAN_ITEM_KEYS)
            and _leaves(order_spec["billing_address"], LEAN_ADDRESS_KEYS)
            and _leaves(address, LEAN_ADDRESS_KEYS))


_SLOTS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _slot_state(rec: Any) -> tuple[Any, ...]:
    """Every slot of a record, a list copied (it could change in place; tuples, and the
    addresses in them, are replaced, never changed). The slots are read in one call and
    a record without a list (a generated order) is not walked value by value: a page of
    the sync's orders checks a hundred of them."""
    get = _SLOTS.get(type(rec))
    if get is None:
        get = _SLOTS[type(rec)] = attrgetter(*type(rec).__slots__)
    state = get(rec)
    if list in map(type, state):
        return tuple(tuple(v) if type(v) is list else v for v in state)
    return state


def _kept_text(kept: dict[int, tuple[tuple[Any, ...], str]], rec: Any,
               render: Callable[[], Any]) -> str:
    """``dumps(render())`` for ``rec``, kept in ``kept`` until any slot of it changes."""
    state = _slot_state(rec)
    old = kept.get(rec.id)
    if old is not None and old[0] == state:
        return old[1]
    text = _dumps(render())
    kept[rec.id] = (state, text)
    return text


def _money(x: float) -> float:
    return round(x + 0.0, 2)


def _check_keys(obj: dict[str, Any], allowed: set[str]) -> None:
    for k in obj:
        if k not in allowed:
            raise ApiError(400, NOT_SUPPORTED, {"fieldName": k})


def _as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise invalid_value(field, value) from None


class Shop:
    """Everything the sandbox serves, plus helpers to change it as a shop would."""

    def __init__(self, customers: int = 200, seed: int = 1, orders_per_customer: float = 2.0,
                 active_carts: float = 0.25, now: int | datetime | str | None = None,
                 tick: bool = True) -> None:
        self.lock = threading.RLock()
        start: int | None
        if isinstance(now, datetime):
            start = int((now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp())
        elif isinstance(now, str):
            from bridge.sandbox.model import parse_time

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

    # ------------------------------------------------------------------ rendering
    def region_json(self, a: Address) -> dict[str, Any]:
        if a.region is None:
            return {"region_code": None, "region": None, "region_id": 0}
        code, name, rid = a.region
        return {"region_code": code, "region": name, "region_id": rid}

    def address_json(self, a: Address, c: Customer) -> dict[str, Any]:
        d: dict[str, Any] = {"id": a.id, "customer_id": c.id, "region": self.region_json(a),
                             "region_id": a.region[2] if a.region else 0,
                             "country_id": a.country_id, "street": list(a.street)}
        if a.company:
            d["company"] = a.company
        d["telephone"] = a.telephone
        d["postcode"] = a.postcode
        d["city"] = a.city
        d["firstname"] = a.firstname
        d["lastname"] = a.lastname
        if a.vat_id:
            d["vat_id"] = a.vat_id
        if c.default_shipping == a.id:
            d["default_shipping"] = True
        if c.default_billing == a.id:
            d["default_billing"] = True
        return d

    def customer_json(self, c: Customer) -> dict[str, Any]:
        d: dict[str, Any] = {"id": c.id, "group_id": c.group_id}
        if c.default_billing is not None:
            d["default_billing"] = str(c.default_billing)
        if c.default_shipping is not None:
            d["default_shipping"] = str(c.default_shipping)
        if c.confirmation:
            d["confirmation"] = c.confirmation
        d["created_at"] = fmt_time(c.created_at)
        d["updated_at"] = fmt_time(c.updated_at)
        d["created_in"] = c.created_in
        if c.dob:
            d["dob"] = c.dob
        d["email"] = c.email
        d["firstname"] = c.firstname
        d["lastname"] = c.lastname
        if c.middlename:
            d["middlename"] = c.middlename
        if c.prefix:
            d["prefix"] = c.prefix
        if c.suffix:
            d["suffix"] = c.suffix
        if c.gender is not None:
            d["gender"] = c.gender
        d["store_id"] = c.store_id
        if c.taxvat:
            d["taxvat"] = c.taxvat
        d["website_id"] = c.website_id
        d["addresses"] = [self.address_json(a, c) for a in c.addresses]
        d["disable_auto_group_change"] = c.disable_auto_group_change
        d["extension_attributes"] = {"is_subscribed": bool(c.is_subscribed)}
        if c.custom:
            d["custom_attributes"] = [{"attribute_code": k, "value": v} for k, v in c.custom]
        return d

    def customer_text(self, c: Customer) -> str:
        """``dumps(customer_json(c))``, kept until the customer changes: every slot is
        the key (its addresses and custom attributes are tuples, replaced and never
        changed in place; an address is replaced by a copy, never changed)."""
        return _kept_text(self._customer_texts, c, lambda: self.customer_json(c))

    def order_rows(self, o: Order) -> list[tuple[int, int | None, str, str, float, float, str,
                                                  int]]:
        """(item_id, parent_item_id, sku, name, price, qty, product_type, product_id)."""
        rows = []
        if o.lines is not None:
            for k, (sku, name, price, qty, ptype, pid) in enumerate(o.lines):
                rows.append((o.id * 10 + k, None, sku, name, price, qty, ptype, pid))
            return rows
        k = 0
        for p, qty in derived_lines(o.seed, self.catalog):
            item_id = o.id * 10 + k
            k += 1
            if p.children:
                kid = variant_of(p, o.seed + k)
                rows.append((item_id, None, kid[1], p.name, p.price, float(qty), "configurable",
                             p.id))
                rows.append((o.id * 10 + k, item_id, kid[1], kid[2], 0.0, float(qty), "simple",
                             kid[0]))
                k += 1
            else:
                rows.append((item_id, None, p.sku, p.name, p.price, float(qty), p.type, p.id))
        return rows

    def order_money(self, o: Order, rows: list[Any] | None = None) -> dict[str, float]:
        rows = rows if rows is not None else self.order_rows(o)
        sv = self.store(o.store_id)
        subtotal = sum(r[4] * r[5] for r in rows if r[1] is None)
        qty = sum(r[5] for r in rows if r[1] is None)
        virtual = all(r[6] == "virtual" for r in rows if r[1] is None)
        shipping = 0.0 if virtual or subtotal >= 100 else 5.0
        tax = _money(subtotal * sv.tax_rate)
        base_total = _money(subtotal + shipping + tax)
        return {"base_subtotal": _money(subtotal), "base_shipping": shipping, "base_tax": tax,
                "base_grand_total": base_total, "qty": qty, "rate": sv.rate,
                "virtual": virtual}

    def set_order_totals(self, o: Order) -> None:
        """Store base_grand_total and total_qty_ordered (filterable without rendering)."""
        if o.lines is not None:
            m = self.order_money(o)
            o.base_grand_total = m["base_grand_total"]
            o.total_qty = m["qty"]
            return
        # the same arithmetic as order_money over order_rows, minus building the rows
        lines = derived_lines(o.seed, self.catalog)
        subtotal = sum(p.price * float(q) for p, q in lines)
        virtual = all(p.type == "virtual" for p, _q in lines)
        shipping = 0.0 if virtual or subtotal >= 100 else 5.0
        tax = _money(subtotal * self.store(o.store_id).tax_rate)
        o.base_grand_total = _money(subtotal + shipping + tax)
        o.total_qty = sum(float(q) for _p, q in lines)

    def increment_id(self, o: Order) -> str:
        return f"{o.store_id if o.store_id > 1 else 0}{o.seq:08d}"

    def order_address_json(self, o: Order, a: Address, kind: str, entity_id: int
                           ) -> dict[str, Any]:
        d = self.lean_address_json(a)
        d["address_type"] = kind
        if a.id and o.customer_id is not None:
            d["customer_address_id"] = a.id
        if o.customer_id is not None:
            d["customer_id"] = o.customer_id
        d["email"] = o.email
        d["entity_id"] = entity_id
        d["parent_id"] = o.id
        return dict(sorted(d.items()))  # Magento's order: the keys alphabetically

    def lean_address_json(self, a: Address) -> dict[str, Any]:
        """An order address with the keys of ``LEAN_ADDRESS_KEYS`` only, alphabetically
        (as Magento's whole address has them)."""
        d: dict[str, Any] = {"city": a.city}
        if a.company:
            d["company"] = a.company
        d["country_id"] = a.country_id
        d["firstname"] = a.firstname
        d["lastname"] = a.lastname
        d["postcode"] = a.postcode
        if a.region is not None:
            d["region"] = a.region[1]
            d["region_code"] = a.region[0]
            if a.region[2]:
                d["region_id"] = a.region[2]
        d["street"] = list(a.street)
        d["telephone"] = a.telephone
        if a.vat_id:
            d["vat_id"] = a.vat_id
        return d

    def order_json(self, o: Order, item_keys: frozenset[str] | None = None,
                   lean_top: bool = False) -> dict[str, Any]:
        """The order as GET /V1/orders/{id} answers it. ``item_keys``: the only item keys
        the caller keeps (its ``fields=``); items may then carry just those (and others).
        ``lean_top``: the caller keeps only keys of ``LEAN_ORDER_KEYS`` at the top (see
        ``lean_order_spec``); the order may then carry just those (and others)."""
        return self._order_dict(o, item_keys, lean_top)

    def lean_order_text(self, o: Order) -> str:
        """``dumps(order_json(o, LEAN_ITEM_KEYS, lean_top=True))``, kept until the order
        changes: a page of the sync's orders is then a join of texts, not a rendering of
        every order on every request. The key is every slot of the order (addresses are
        replaced, never changed in place; the catalog and the store views are fixed)."""
        return _kept_text(self._lean_texts, o,
                          lambda: self._order_dict(o, LEAN_ITEM_KEYS, lean_top=True))

    def warm_texts(self) -> None:
        """Render every customer's text and every order's lean text now (a bench does it
        before it measures)."""
        with self.lock:
            for c in self.customers.values():
                self.customer_text(c)
            for o in self.orders.values():
                self.lean_order_text(o)

    def order_json_text(self, o: Order) -> str:
        """``json.dumps(order_json(o))`` in about half the time: the items list, which
        Magento sends twice (``items`` and the shipping assignment's), is encoded once."""
        d = self._order_dict(o)
        items = _dumps(d.pop("items"))
        ext = d.pop("extension_attributes")
        sa = ext["shipping_assignments"][0]
        return (_dumps(d)[:-1] + ',"items":' + items
                + ',"extension_attributes":{"shipping_assignments":[{"shipping":'
                + _dumps(sa["shipping"]) + ',"items":' + items
                + '}],"payment_additional_info":' + _dumps(ext["payment_additional_info"])
                + "}}")

    def _order_dict(self, o: Order, item_keys: frozenset[str] | None = None,
                    lean_top: bool = False) -> dict[str, Any]:
        lean = item_keys is not None and item_keys <= LEAN_ITEM_KEYS
        lean_top = lean_top and lean
        rows = self.order_rows(o)
        m = self.order_money(o, rows)
        sv = self.store(o.store_id)
        rate = m["rate"]
        created, updated = fmt_time(o.created_at), fmt_time(o.updated_at)
        grand = _money(m["base_grand_total"] * rate)
        items = []
        by_id: dict[int, dict[str, Any]] = {}
        for item_id, parent, sku, name, price, qty, ptype, pid in rows:
            row_total = _money(price * qty)
            if lean:
                # the same values, in the same key order, of the keys a trimmed answer
                # can keep (most of an item's 40 keys are money that costs a rounding)
                it = {"base_price": price, "item_id": item_id, "name": name,
                      "price": _money(price * rate), "product_id": pid,
                      "product_type": ptype, "qty_ordered": qty,
                      "row_total": _money(row_total * rate), "sku": sku}
                if parent is not None:
                    it["parent_item_id"] = parent
                items.append(it)
                continue
            tax_pct = sv.tax_rate * 100 if parent is None else 0.0
            it = {
                "amount_refunded": 0, "base_amount_refunded": 0, "base_discount_amount": 0,
                "base_original_price": price, "base_price": price,
                "base_price_incl_tax": _money(price * (1 + sv.tax_rate)),
                "base_row_total": row_total,
                "base_row_total_incl_tax": _money(row_total * (1 + sv.tax_rate)),
                "base_tax_amount": _money(row_total * sv.tax_rate), "created_at": created,
                "discount_amount": 0, "discount_percent": 0, "free_shipping": 0,
                "is_qty_decimal": 0, "is_virtual": int(ptype == "virtual"), "item_id": item_id,
                "name": name, "no_discount": 0, "order_id": o.id,
                "original_price": _money(price * rate), "price": _money(price * rate),
                "price_incl_tax": _money(price * rate * (1 + sv.tax_rate)),
                "product_id": pid, "product_type": ptype,
                "qty_canceled": qty if o.status == "canceled" else 0,
                "qty_invoiced": qty if o.status in ("complete", "closed", "processing") else 0,
                "qty_ordered": qty,
                "qty_refunded": qty if o.status == "closed" else 0,
                "qty_shipped": qty if o.status in ("complete", "closed") else 0,
                "row_total": _money(row_total * rate),
                "row_total_incl_tax": _money(row_total * rate * (1 + sv.tax_rate)),
                "sku": sku, "store_id": o.store_id,
                "tax_amount": _money(row_total * rate * sv.tax_rate), "tax_percent": tax_pct,
                "updated_at": updated,
            }
            if parent is not None:
                it["parent_item_id"] = parent
                it["parent_item"] = dict(by_id[parent])
            by_id[item_id] = it
            items.append(it)
        status = o.status
        if lean_top:
            # The keys of LEAN_ORDER_KEYS only, with the values and in the order of the
            # whole order below (the shipping assignment holds just its address).
            lt: dict[str, Any] = {
                "base_currency_code": sv.base_currency,
                "base_grand_total": m["base_grand_total"],
                "created_at": created,
                "customer_email": o.email,
                "customer_group_id": o.group_id,
                "customer_is_guest": 1 if o.customer_id is None and o.group_id == 0 else 0,
                "entity_id": o.id,
                "grand_total": grand,
                "increment_id": self.increment_id(o),
                "state": STATUS_STATE.get(status, status),
                "status": status,
                "store_id": o.store_id,
                "subtotal": _money(m["base_subtotal"] * rate),
                "total_qty_ordered": m["qty"],
                "updated_at": updated,
                "items": items,
                "billing_address": self.lean_address_json(o.billing),
                "extension_attributes": {
                    "shipping_assignments": [{"shipping": {
                        "address": self.lean_address_json(o.shipping or o.billing)}}],
                },
            }
            if o.customer_id is not None:
                lt["customer_id"] = o.customer_id
            return lt
        bill = self.order_address_json(o, o.billing, "billing", o.id * 2 - 1)
        ship = self.order_address_json(o, o.shipping or o.billing, "shipping", o.id * 2)
        paid = status in ("processing", "complete", "closed")
        shipping_amt = _money(m["base_shipping"] * rate)
        d: dict[str, Any] = {
            "base_currency_code": sv.base_currency,
            "base_discount_amount": 0,
            "base_grand_total": m["base_grand_total"],
            "base_shipping_amount": m["base_shipping"],
            "base_subtotal": m["base_subtotal"],
            "base_tax_amount": m["base_tax"],
            "base_to_global_rate": 1,
            "base_to_order_rate": rate,
            "base_total_due": 0 if paid or status == "canceled" else m["base_grand_total"],
            "base_total_paid": m["base_grand_total"] if paid else 0,
            "billing_address_id": o.id * 2 - 1,
            "created_at": created,
            "customer_email": o.email,
            "customer_firstname": o.firstname,
            "customer_group_id": o.group_id,
            "customer_is_guest": 1 if o.customer_id is None and o.group_id == 0 else 0,
            "customer_lastname": o.lastname,
            "customer_note_notify": 1,
            "discount_amount": 0,
            "entity_id": o.id,
            "global_currency_code": sv.base_currency,
            "grand_total": grand,
            "increment_id": self.increment_id(o),
            "is_virtual": int(m["virtual"]),
            "order_currency_code": sv.currency,
            "protect_code": f"{o.seed & 0xFFFFFF:06x}",
            "quote_id": o.id + 1000000,
            "remote_ip": f"10.{o.id % 250}.{(o.id // 250) % 250}.{o.id % 7 + 1}",
            "shipping_amount": shipping_amt,
            "shipping_description": "Flat Rate - Fixed",
            "state": STATUS_STATE.get(status, status),
            "status": status,
            "store_currency_code": sv.currency,
            "store_id": o.store_id,
            "store_name": f"{self.websites[sv.website_id].name}\n"
                          f"{self.store_groups[sv.store_group_id].name}\n{sv.name}",
            "store_to_base_rate": 0,
            "store_to_order_rate": 0,
            "subtotal": _money(m["base_subtotal"] * rate),
            "tax_amount": _money(m["base_tax"] * rate),
            "total_due": 0 if paid or status == "canceled" else grand,
            "total_item_count": len(rows),
            "total_paid": grand if paid else 0,
            "total_qty_ordered": m["qty"],
            "updated_at": updated,
            "items": items,
            "billing_address": bill,
            "payment": {"account_status": None, "additional_information": ["Check / Money order"],
                        "amount_ordered": grand, "base_amount_ordered": m["base_grand_total"],
                        "cc_last4": None, "entity_id": o.id, "method": "checkmo",
                        "parent_id": o.id},
            "status_histories": [],
            "extension_attributes": {
                "shipping_assignments": [{
                    "shipping": {"address": ship, "method": "flatrate_flatrate",
                                 "total": {"base_shipping_amount": m["base_shipping"],
                                           "shipping_amount": shipping_amt}},
                    "items": items,
                }],
                "payment_additional_info": [{"key": "method_title",
                                             "value": "Check / Money order"}],
            },
        }
        if status == "canceled":
            d["total_canceled"] = grand
            d["base_total_canceled"] = m["base_grand_total"]
        if status == "closed":
            d["total_refunded"] = grand
            d["base_total_refunded"] = m["base_grand_total"]
        if paid:
            d["total_invoiced"] = grand
            d["base_total_invoiced"] = m["base_grand_total"]
        if o.customer_id is not None:
            d["customer_id"] = o.customer_id
        return d

    def cart_json(self, q: Cart) -> dict[str, Any]:
        sv = self.store(q.store_id)
        items_qty = sum(line[4] for line in q.lines)
        d: dict[str, Any] = {
            "id": q.id,
            "created_at": fmt_time(q.created_at),
            "updated_at": fmt_time(q.updated_at),
            "is_active": bool(q.is_active),
            "is_virtual": False,
        }
        if q.converted_at is not None:
            d["converted_at"] = fmt_time(q.converted_at)
        if q.is_active:
            d["items"] = [{"item_id": iid, "sku": sku, "qty": qty, "name": name,
                           "price": _money(price * sv.rate), "product_type": ptype,
                           "quote_id": str(q.id)}
                          for iid, sku, name, price, qty, ptype in q.lines]
        elif q.id % 2:
            d["items"] = []  # inactive quotes come back without their items (mm#19846)
        d["items_count"] = len(q.lines)
        d["items_qty"] = items_qty
        cust: dict[str, Any] = {}
        if q.customer_id is not None:
            cust["id"] = q.customer_id
            cust["group_id"] = q.group_id
            c = self.customers.get(q.customer_id)
            if c is not None:
                cust["default_billing"] = str(c.default_billing) if c.default_billing else None
                cust["created_at"] = fmt_time(c.created_at)
                cust["updated_at"] = fmt_time(c.updated_at)
                cust["created_in"] = c.created_in
                cust["store_id"] = c.store_id
                cust["website_id"] = c.website_id
            cust = {k: v for k, v in cust.items() if v is not None}
        else:
            cust["group_id"] = 0
        cust["email"] = q.email
        cust["firstname"] = q.firstname
        cust["lastname"] = q.lastname
        if q.customer_id is not None and (c := self.customers.get(q.customer_id)) is not None:
            cust["addresses"] = []
            cust["disable_auto_group_change"] = 0
            cust["extension_attributes"] = {"is_subscribed": bool(c.is_subscribed)}
        d["customer"] = cust
        d["billing_address"] = {"id": q.id * 2, "region": None, "region_id": None,
                                "region_code": None, "country_id": None, "street": [""],
                                "telephone": None, "postcode": None, "city": None,
                                "firstname": None, "lastname": None,
                                "email": q.email, "same_as_billing": 0,
                                "save_in_address_book": 0}
        # an empty quote address: Magento sends its non-nullable getters as null
        d["orig_order_id"] = 0
        d["currency"] = {"global_currency_code": sv.base_currency,
                         "base_currency_code": sv.base_currency,
                         "store_currency_code": sv.currency,
                         "quote_currency_code": sv.currency,
                         "store_to_base_rate": 0, "store_to_quote_rate": 0,
                         "base_to_global_rate": 1, "base_to_quote_rate": sv.rate}
        d["customer_is_guest"] = q.customer_id is None
        d["customer_note_notify"] = True
        d["customer_tax_class_id"] = 3
        d["store_id"] = q.store_id
        if q.reserved_order_id:
            d["reserved_order_id"] = q.reserved_order_id
        if q.is_active:
            d["extension_attributes"] = {"shipping_assignments": []}
        return d

    def totals_json(self, q: Cart) -> dict[str, Any]:
        sv = self.store(q.store_id)
        items = []
        subtotal = 0.0
        for iid, _sku, name, price, qty, _ptype in q.lines:
            p = _money(price * sv.rate)
            row = _money(p * qty)
            subtotal += row
            tax = _money(row * sv.tax_rate)
            items.append({"item_id": iid, "price": p, "base_price": price, "qty": qty,
                          "row_total": row, "base_row_total": _money(price * qty),
                          "row_total_with_discount": 0, "tax_amount": tax,
                          "base_tax_amount": _money(price * qty * sv.tax_rate),
                          "tax_percent": sv.tax_rate * 100, "discount_amount": 0,
                          "base_discount_amount": 0, "discount_percent": 0,
                          "price_incl_tax": _money(p * (1 + sv.tax_rate)),
                          "base_price_incl_tax": _money(price * (1 + sv.tax_rate)),
                          "row_total_incl_tax": _money(row * (1 + sv.tax_rate)),
                          "base_row_total_incl_tax": _money(price * qty * (1 + sv.tax_rate)),
                          "options": "[]", "weee_tax_applied_amount": None,
                          "weee_tax_applied": None, "name": name})
        subtotal = _money(subtotal)
        tax_total = _money(subtotal * sv.tax_rate)
        grand = _money(subtotal + tax_total)
        base_sub = _money(subtotal / sv.rate) if sv.rate else subtotal
        return {
            "grand_total": grand, "base_grand_total": _money(grand / sv.rate),
            "subtotal": subtotal, "base_subtotal": base_sub, "discount_amount": 0,
            "base_discount_amount": 0, "subtotal_with_discount": subtotal,
            "base_subtotal_with_discount": base_sub, "shipping_amount": 0,
            "base_shipping_amount": 0, "shipping_discount_amount": 0,
            "base_shipping_discount_amount": 0, "tax_amount": tax_total,
            "base_tax_amount": _money(tax_total / sv.rate), "weee_tax_applied_amount": None,
            "shipping_tax_amount": 0, "base_shipping_tax_amount": 0,
            "subtotal_incl_tax": _money(subtotal + tax_total), "shipping_incl_tax": 0,
            "base_shipping_incl_tax": 0, "base_currency_code": sv.base_currency,
            "quote_currency_code": sv.currency,
            "items_qty": int(sum(line[4] for line in q.lines)), "items": items,
            "total_segments": [
                {"code": "subtotal", "title": "Subtotal", "value": subtotal},
                {"code": "shipping", "title": "Shipping & Handling", "value": 0},
                {"code": "tax", "title": "Tax", "value": tax_total,
                 "extension_attributes": {"tax_grandtotal_details": []}},
                {"code": "grand_total", "title": "Grand Total", "value": grand,
                 "area": "footer"},
            ],
        }

    def group_json(self, g: Group) -> dict[str, Any]:
        name = TAX_CLASSES.get(g.tax_class_id, ("", ""))[0]
        return {"id": g.id, "code": g.code, "tax_class_id": g.tax_class_id,
                "tax_class_name": name}

    def block_json(self, b: Block) -> dict[str, Any]:
        return {"id": b.id, "identifier": b.identifier, "title": b.title,
                "content": b.content, "creation_time": fmt_time(b.creation_time),
                "update_time": fmt_time(b.update_time), "active": bool(b.active)}

    def website_json(self, w: Website) -> dict[str, Any]:
        return {"id": w.id, "code": w.code, "name": w.name,
                "default_group_id": w.default_group_id}

    def store_view_json(self, s: StoreView) -> dict[str, Any]:
        return {"id": s.id, "code": s.code, "name": s.name, "website_id": s.website_id,
                "store_group_id": s.store_group_id, "is_active": s.is_active}

    def store_config_json(self, s: StoreView, base_url: str) -> dict[str, Any]:
        locale = {"default": "en_US", "se": "sv_SE", "no": "nb_NO", "dk": "da_DK",
                  "fi": "fi_FI", "admin": "en_US"}.get(s.code, "en_US")
        tz = "America/Chicago" if s.website_id <= 1 else "Europe/Stockholm"
        root = f"{base_url}/"
        return {"id": s.id, "code": s.code, "website_id": s.website_id, "locale": locale,
                "base_currency_code": s.base_currency,
                "default_display_currency_code": s.currency, "timezone": tz,
                "weight_unit": "lbs" if s.website_id <= 1 else "kgs", "base_url": root,
                "base_link_url": root, "base_static_url": f"{root}static/",
                "base_media_url": f"{root}media/", "secure_base_url": root,
                "secure_base_link_url": root, "secure_base_static_url": f"{root}static/",
                "secure_base_media_url": f"{root}media/"}

    def store_group_json(self, g: StoreGroup) -> dict[str, Any]:
        return {"id": g.id, "website_id": g.website_id, "root_category_id": g.root_category_id,
                "default_store_id": g.default_store_id, "name": g.name, "code": g.code}

    # ------------------------------------------------------------------ customer saves
    def _resolve_group(self, value: Any) -> int:
        gid = _as_int(value, "group_id")
        if gid not in self.groups:
            raise ApiError(400, "The specified customer group id does not exist.")
        return gid

    def _address_from_json(self, data: dict[str, Any], customer_id: int,
                           existing: Address | None) -> Address:
        """One entry of an ``addresses`` list, as AddressRepository saves it.

        The entry is the whole address: fields it leaves out are not taken from the stored
        address (a required one missing is a 400, an optional one is cleared).
        """
        if not isinstance(data, dict):
            raise invalid_value("addresses", data)
        _check_keys(data, ADDRESS_KEYS)
        for key, label in (("firstname", "firstname"), ("lastname", "lastname"),
                           ("street", "street"), ("city", "city"),
                           ("country_id", "countryId"), ("telephone", "telephone")):
            if data.get(key) in (None, "", []):
                raise ApiError(400, '"%fieldName" is required. Enter and try again.',
                               {"fieldName": label})
        r = data.get("region") or {}
        if isinstance(r, str):
            r = {"region": r}
        rid = data.get("region_id", r.get("region_id")) or 0
        name = r.get("region")
        code = r.get("region_code") or name
        region = (code, name, _as_int(rid, "region_id")) if (name or code or rid) else None
        street = data["street"]
        if isinstance(street, str):
            street = [street]
        aid = existing.id if existing else self.next_address_id
        if existing is None:
            self.next_address_id += 1
        return Address(
            aid, customer_id, str(data["firstname"]), str(data["lastname"]),
            tuple(str(x) for x in street), str(data["city"]), region, str(data["country_id"]),
            str(data.get("postcode") or ""), str(data["telephone"]),
            data.get("company") or None, data.get("vat_id") or None,
        )

    def save_customer(self, cid: int, body: Any, merge: bool = True) -> dict[str, Any]:
        """PUT /V1/customers/{id}: CustomerRepository::save behind the REST merge plugin.

        merge=True: the body's keys overlay the stored customer (2.4 UpdateCustomer plugin).
        merge=False: the patch releases that skip the merge for integration callers: the
        body IS the customer — omitted fields are reset (group -> default, dob/gender/taxvat
        cleared, custom attributes dropped); a body without ``id`` is a create (duplicate
        e-mail). Addresses and default billing/shipping follow CustomerRepository either way.
        """
        if not isinstance(body, dict) or not isinstance(body.get("customer"), dict):
            raise required("customer")
        data: dict[str, Any] = body["customer"]
        _check_keys(data, CUSTOMER_KEYS)
        with self.lock:
            c = self.customers.get(cid)
            if c is None:
                raise no_such_entity("customerId", cid)
            if "id" in data and data["id"] is not None:
                if _as_int(data["id"], "id") != cid:
                    raise invalid_value("id", data["id"])
            elif not merge:
                # no id and no merge: Magento treats the save as a new customer
                email = data.get("email")
                if not email:
                    raise ApiError(400, "The customer email is missing. Enter and try again.")
                website = _as_int(data.get("website_id", c.website_id), "website_id")
                if (website, str(email).casefold()) in self.email_index:
                    raise ApiError(400, "A customer with the same email address already "
                                        "exists in an associated website.")
            customs = data.get("custom_attributes")
            if customs is not None:
                if not isinstance(customs, list):
                    raise invalid_value("custom_attributes", customs)
                for ca in customs:
                    if not isinstance(ca, dict) or "attribute_code" not in ca:
                        raise invalid_value("custom_attributes", ca)
                    if ca.get("value") is None:
                        raise ApiError(400, 'Error occurred during "%field_name" processing. '
                                       '%details', {"field_name": "custom_attributes",
                                                    "details": 'Value is not set for attribute '
                                                    f'code "{ca["attribute_code"]}"'})
            if merge:
                current = self.customer_json(c)
                merged = dict(current)
                merged.update(data)
            else:
                merged = dict(data)
                merged.setdefault("website_id", c.website_id)
                merged.setdefault("store_id", c.store_id)
                merged.setdefault("created_at", fmt_time(c.created_at))
                merged.setdefault("created_in", c.created_in)
                if "default_billing" not in merged and c.default_billing is not None:
                    merged["default_billing"] = str(c.default_billing)
                if "default_shipping" not in merged and c.default_shipping is not None:
                    merged["default_shipping"] = str(c.default_shipping)
            # ---- validation on the merged object (validation.xml / ResourceModel)
            if not merged.get("email"):
                raise ApiError(400, "The customer email is missing. Enter and try again.")
            for key, label in (("firstname", "First Name"), ("lastname", "Last Name")):
                if not merged.get(key):
                    raise ApiError(400, '"%1" is a required value.', [label])
            website = _as_int(merged.get("website_id"), "website_id")
            if website not in (1, 2):
                raise ApiError(400, '"%1" is a required value.', ["Associate to Website"])
            email = str(merged["email"])
            other = self.email_index.get((website, email.casefold()))
            if other is not None and other != cid:
                raise ApiError(400, "A customer with the same email address already exists "
                                    "in an associated website.")
            group_id = self._resolve_group(merged["group_id"]) if merged.get("group_id") \
                is not None else self.default_group_id
            gender = merged.get("gender")
            if gender is not None:
                gender = _as_int(gender, "gender")
            store_id = _as_int(merged.get("store_id", c.store_id), "store_id")
            # ---- addresses: present -> final state of the book; absent -> untouched
            addresses = list(c.addresses)
            new_billing = c.default_billing
            new_shipping = c.default_shipping
            if "addresses" in data and data["addresses"] is not None:
                if not isinstance(data["addresses"], list):
                    raise invalid_value("addresses", data["addresses"])
                by_id = {a.id: a for a in c.addresses}
                saved: list[Address] = []
                flag_billing = flag_shipping = None
                next_aid = self.next_address_id
                try:
                    for ad in data["addresses"]:
                        aid = ad.get("id") if isinstance(ad, dict) else None
                        existing = by_id.get(_as_int(aid, "id")) if aid else None
                        if aid and existing is None:
                            raise no_such_entity("addressId", aid)
                        a = self._address_from_json(ad, cid, existing)
                        saved.append(a)
                        if ad.get("default_billing"):
                            flag_billing = a.id
                        if ad.get("default_shipping"):
                            flag_shipping = a.id
                except ApiError:
                    self.next_address_id = next_aid
                    raise
                addresses = saved
                kept = {a.id for a in saved}
                if new_billing not in kept:
                    new_billing = None
                if new_shipping not in kept:
                    new_shipping = None
                if flag_billing is not None:
                    new_billing = flag_billing
                if flag_shipping is not None:
                    new_shipping = flag_shipping
            ids = {a.id for a in addresses}
            for key in ("default_billing", "default_shipping"):
                if key in data and data[key] not in (None, ""):
                    val = _as_int(data[key], key)
                    if val not in ids:
                        raise ApiError(400, "The %fieldName value is invalid. Set the correct "
                                            "value and try again.", {"fieldName": key})
                    if key == "default_billing":
                        new_billing = val
                    else:
                        new_shipping = val
            custom: tuple[tuple[str, str], ...] | None
            if "custom_attributes" in merged and merged["custom_attributes"] is not None:
                if merge and customs is not None:
                    cm = dict(c.custom or ())
                    for ca in customs:
                        cm[str(ca["attribute_code"])] = str(ca["value"])
                    custom = tuple(cm.items()) or None
                elif customs is not None:
                    custom = tuple((str(ca["attribute_code"]), str(ca["value"]))
                                   for ca in customs) or None
                else:
                    custom = c.custom
            else:
                custom = None if not merge else c.custom
            ext = data.get("extension_attributes")
            subscribed = c.is_subscribed
            if isinstance(ext, dict) and "is_subscribed" in ext:
                subscribed = bool(ext["is_subscribed"])
            # ---- apply
            old_key = (c.website_id, c.email.casefold())
            c.email = email
            c.website_id = website
            c.store_id = store_id
            c.group_id = group_id
            c.firstname = str(merged["firstname"])
            c.lastname = str(merged["lastname"])
            c.middlename = merged.get("middlename") or None
            c.prefix = merged.get("prefix") or None
            c.suffix = merged.get("suffix") or None
            c.dob = (str(merged["dob"])[:10] if merged.get("dob") else None)
            c.gender = gender
            c.taxvat = merged.get("taxvat") or None
            c.disable_auto_group_change = _as_int(merged.get("disable_auto_group_change") or 0,
                                                  "disable_auto_group_change")
            c.addresses = tuple(addresses)
            c.default_billing = new_billing
            c.default_shipping = new_shipping
            c.custom = custom
            c.is_subscribed = subscribed
            self.email_index.pop(old_key, None)
            self.email_index[(website, email.casefold())] = cid
            self.customers.set_time(c, "updated_at", self.now())
            return self.customer_json(c)

    def create_customer(self, body: Any) -> dict[str, Any]:
        """POST /V1/customers (AccountManagement::createAccount)."""
        if not isinstance(body, dict) or not isinstance(body.get("customer"), dict):
            raise required("customer")
        data = dict(body["customer"])
        _check_keys(data, CUSTOMER_KEYS)
        if not data.get("email"):
            raise ApiError(400, "The customer email is missing. Enter and try again.")
        for key, label in (("firstname", "First Name"), ("lastname", "Last Name")):
            if not data.get(key):
                raise ApiError(400, '"%1" is a required value.', [label])
        with self.lock:
            website = _as_int(data.get("website_id", 1), "website_id")
            if website not in (1, 2):
                raise ApiError(400, '"%1" is a required value.', ["Associate to Website"])
            if (website, str(data["email"]).casefold()) in self.email_index:
                raise ApiError(400, "A customer with the same email address already exists "
                                    "in an associated website.")
            store_id = _as_int(data.get("store_id", 1 if website == 1 else 2), "store_id")
            group = self._resolve_group(data.get("group_id", self.default_group_id))
            cid = self.customers.next_id()
            now = self.now()
            c = Customer(id=cid, website_id=website, store_id=store_id, group_id=group,
                         email=str(data["email"]), firstname=str(data["firstname"]),
                         lastname=str(data["lastname"]), created_at=now, updated_at=now,
                         created_in=self.store(store_id).name, is_subscribed=False)
            self.customers.add(c)
            self.email_index[(website, c.email.casefold())] = cid
            rest = {k: v for k, v in data.items() if k not in ("email", "website_id", "store_id",
                                                                 "group_id")}
            try:
                if rest:
                    return self.save_customer(cid, {"customer": {**rest, "id": cid}}, True)
            except ApiError:
                self.customers.delete(cid)
                self.email_index.pop((website, c.email.casefold()), None)
                raise
            return self.customer_json(c)

    # ------------------------------------------------------------------ groups
    def save_group(self, body: Any, group_id: int | None = None) -> dict[str, Any]:
        """POST/PUT /V1/customerGroups (GroupRepository::save)."""
        if not isinstance(body, dict) or not isinstance(body.get("group"), dict):
            raise required("group")
        data = body["group"]
        _check_keys(data, GROUP_KEYS)
        with self.lock:
            if group_id is None and data.get("id") is not None:
                group_id = _as_int(data["id"], "id")
            existing = self.groups.get(group_id) if group_id is not None else None
            if group_id is not None and existing is None:
                raise no_such_entity("id", group_id)
            code = data.get("code")
            if code is None or str(code).strip() == "":
                raise required("code")
            code = str(code)[:32]  # ResourceModel\Group::_beforeSave truncates silently
            tax = data.get("tax_class_id")
            if tax is None:
                tax = existing.tax_class_id if existing else 3
            tax = _as_int(tax, "taxClassId")
            if TAX_CLASSES.get(tax, ("", ""))[1] != "CUSTOMER":
                raise invalid_value("taxClassId", tax)
            for g in self.groups.values():
                if g.code.casefold() == code.casefold() and g.id != group_id:
                    raise ApiError(400, "Customer Group already exists.")
            if existing is None:
                g = Group(self.groups.next_id(), code, tax)
                self.groups.add(g)
            else:
                existing.code = code
                existing.tax_class_id = tax
                g = existing
            return self.group_json(g)

    def delete_group(self, group_id: int) -> bool:
        with self.lock:
            if group_id not in self.groups:
                raise no_such_entity("id", group_id)
            if group_id <= 0 or group_id == self.default_group_id:
                raise ApiError(400, "Cannot delete group.")
            self.groups.delete(group_id)
            now = self.now()
            for c in self.customers.values():
                if c.group_id == group_id:
                    c.group_id = self.default_group_id
                    self.customers.set_time(c, "updated_at", now)
            return True

    # ------------------------------------------------------------------ CMS blocks
    def save_block(self, body: Any, store_id: int, block_id: int | None = None
                   ) -> dict[str, Any]:
        """POST /V1/cmsBlock, PUT /V1/cmsBlock/{id}: the URL scope is the store set."""
        if not isinstance(body, dict) or not isinstance(body.get("block"), dict):
            raise required("block")
        data = body["block"]
        _check_keys(data, BLOCK_KEYS)
        with self.lock:
            if block_id is None and data.get("id") is not None:
                block_id = _as_int(data["id"], "id")
            existing = self.blocks.get(block_id) if block_id is not None else None
            if block_id is not None and existing is None:
                raise ApiError(404, 'The CMS block with the "%1" ID doesn\'t exist.',
                               [str(block_id)])
            identifier = data.get("identifier", existing.identifier if existing else None)
            if not identifier:
                raise required("identifier")
            stores = (store_id,)
            for b in self.blocks.values():
                if b.id == block_id or b.identifier != identifier:
                    continue
                if 0 in b.store_ids or 0 in stores or set(b.store_ids) & set(stores):
                    raise ApiError(400, "A block identifier with the same properties already "
                                        "exists in the selected store.")
            now = self.now()
            active = data.get("active", existing.active if existing else True)
            if existing is None:
                b = Block(id=self.blocks.next_id(), identifier=str(identifier),
                          title=data.get("title"), content=data.get("content"),
                          active=bool(active), store_ids=stores, creation_time=now,
                          update_time=now)
                self.blocks.add(b)
            else:
                b = existing
                b.identifier = str(identifier)
                if "title" in data:
                    b.title = data["title"]
                if "content" in data:
                    b.content = data["content"]
                b.active = bool(active)
                b.store_ids = stores
                b.update_time = now
            return self.block_json(b)

    def delete_block(self, block_id: int) -> bool:
        with self.lock:
            if self.blocks.delete(block_id) is None:
                raise ApiError(404, 'The CMS block with the "%1" ID doesn\'t exist.',
                               [str(block_id)])
            return True

    # ------------------------------------------------------------------ sales rules
    def _rule_defaults(self) -> dict[str, Any]:
        return {"store_labels": [], "uses_per_customer": 0, "is_active": False,
                "condition": None, "action_condition": None, "stop_rules_processing": False,
                "is_advanced": True, "product_ids": [], "sort_order": 0,
                "simple_action": "by_percent", "discount_amount": 0, "discount_qty": 0,
                "discount_step": 0, "apply_to_shipping": False, "times_used": 0,
                "is_rss": True, "coupon_type": "NO_COUPON", "use_auto_generation": False,
                "uses_per_coupon": 0, "simple_free_shipping": "NONE"}

    def _validate_rule(self, d: dict[str, Any]) -> None:
        problems = []
        f, t = d.get("from_date"), d.get("to_date")
        if f and t and str(f)[:10] > str(t)[:10]:
            problems.append("End Date must follow Start Date.")
        if not d.get("website_ids"):
            problems.append("Please specify a website.")
        if not d.get("customer_group_ids"):
            problems.append("Please specify Customer Groups.")
        if problems:
            raise ApiError(400, "".join(p + "; " for p in problems))
        if d.get("coupon_type") not in COUPON_TYPES:
            raise invalid_value("coupon_type", d.get("coupon_type"))
        if d.get("simple_action") not in SIMPLE_ACTIONS:
            raise invalid_value("simple_action", d.get("simple_action"))
        for w in d["website_ids"]:
            if _as_int(w, "website_ids") not in (1, 2):
                raise no_such_entity("websiteId", w)
        for g in d["customer_group_ids"]:
            if _as_int(g, "customer_group_ids") not in self.groups:
                raise no_such_entity("id", g)
        for key in ("from_date", "to_date"):
            v = d.get(key)
            if v:
                try:
                    datetime.strptime(str(v)[:10], "%Y-%m-%d")
                except ValueError:
                    raise invalid_value(key, v) from None
                d[key] = str(v)[:10]

    def save_rule(self, body: Any, rule_id: int | None = None) -> dict[str, Any]:
        """POST /V1/salesRules, PUT /V1/salesRules/{id} (ToModel::toModel).

        A PUT merges the payload's non-null fields onto the stored rule, except that a
        body without ``coupon_type`` carries the sparse DTO's defaults for the coupon
        settings (NO_COUPON, no auto generation): the rule's specific coupon is lost
        (docs/magento.md F2, mm#35298).
        """
        if not isinstance(body, dict) or not isinstance(body.get("rule"), dict):
            raise required("rule")
        data = body["rule"]
        _check_keys(data, RULE_KEYS)
        with self.lock:
            if rule_id is None and data.get("rule_id") is not None:
                rule_id = _as_int(data["rule_id"], "rule_id")
            existing = self.rules.get(rule_id) if rule_id is not None else None
            if rule_id is not None and existing is None:
                raise ApiError(404, "No such entity with %fieldName = %fieldValue",
                               {"fieldName": "rule_id", "fieldValue": rule_id})
            if existing is None:
                d = self._rule_defaults()
                d.update({k: v for k, v in data.items() if v is not None})
                d.setdefault("website_ids", [])
                d.setdefault("customer_group_ids", [])
            else:
                d = dict(existing.data)
                d.update({k: v for k, v in data.items() if v is not None})
                if data.get("coupon_type") is None:
                    d["coupon_type"] = "NO_COUPON"
                    d["use_auto_generation"] = False
                    d["uses_per_coupon"] = 0
            d.pop("rule_id", None)
            self._validate_rule(d)
            d["website_ids"] = [int(w) for w in d["website_ids"]]
            d["customer_group_ids"] = [int(g) for g in d["customer_group_ids"]]
            if d.get("use_auto_generation"):
                d["coupon_type"] = "AUTO" if d["coupon_type"] == "NO_COUPON" \
                    else d["coupon_type"]
            rid = existing.id if existing else self.rules.next_id()
            out = {"rule_id": rid, **{k: v for k, v in d.items() if v is not None}}
            if existing is None:
                self.rules.add(Rec(rid, out))
            else:
                existing.data = out
                if out["coupon_type"] == "NO_COUPON":
                    for cp in list(self.coupons.values()):
                        if cp.data["rule_id"] == rid:
                            self.coupons.delete(cp.id)
            return dict(out)

    def delete_rule(self, rule_id: int) -> bool:
        with self.lock:
            if self.rules.delete(rule_id) is None:
                raise ApiError(404, "No such entity with %fieldName = %fieldValue",
                               {"fieldName": "rule_id", "fieldValue": rule_id})
            for cp in list(self.coupons.values()):
                if cp.data["rule_id"] == rule_id:
                    self.coupons.delete(cp.id)
            return True

    def save_coupon(self, body: Any, coupon_id: int | None = None) -> dict[str, Any]:
        """POST /V1/coupons (CouponRepository::save)."""
        if not isinstance(body, dict) or not isinstance(body.get("coupon"), dict):
            raise required("coupon")
        data = body["coupon"]
        _check_keys(data, COUPON_KEYS)
        with self.lock:
            if data.get("rule_id") is None:
                raise required("rule_id")
            rid = _as_int(data["rule_id"], "rule_id")
            rule = self.rules.get(rid)
            if rule is None:
                raise no_such_entity("rule_id", rid)
            ctype = _as_int(data.get("type", 0) or 0, "type")
            if rule.data["coupon_type"] == "NO_COUPON":
                raise ApiError(400, "Specified rule does not allow coupons")
            if rule.data.get("use_auto_generation") and ctype != 1:
                raise ApiError(400, "Specified rule only allows auto generated coupons")
            if not rule.data.get("use_auto_generation") and ctype == 1:
                raise ApiError(400, "Specified rule does not allow auto generated coupons")
            code = data.get("code")
            if not code:
                raise required("code")
            existing = self.coupons.get(coupon_id) if coupon_id is not None else None
            for cp in self.coupons.values():
                if cp.data["code"].casefold() == str(code).casefold() and cp.id != coupon_id:
                    raise ApiError(400, "Error occurred when saving coupon: %1",
                                   ["Unique constraint violation found"])
            cid = existing.id if existing else self.coupons.next_id()
            out = {"coupon_id": cid, "rule_id": rid, "code": str(code),
                   "usage_limit": int(data.get("usage_limit") or 0),
                   "usage_per_customer": int(data.get("usage_per_customer") or 0),
                   "times_used": int(data.get("times_used") or 0),
                   "is_primary": bool(data.get("is_primary", False)),
                   "created_at": fmt_time(self.now()), "type": ctype}
            if data.get("expiration_date"):
                out["expiration_date"] = str(data["expiration_date"])
            if existing is None:
                self.coupons.add(Rec(cid, out))
            else:
                existing.data = out
            return dict(out)

    def generate_coupons(self, body: Any) -> list[str]:
        """POST /V1/coupons/generate (CouponManagementService::generate)."""
        if not isinstance(body, dict) or not isinstance(body.get("couponSpec"), dict):
            raise required("couponSpec")
        spec = body["couponSpec"]
        for key in ("rule_id", "format", "quantity", "length"):
            if spec.get(key) in (None, ""):
                raise required(key)
        with self.lock:
            rid = _as_int(spec["rule_id"], "rule_id")
            rule = self.rules.get(rid)
            if rule is None:
                raise no_such_entity("rule_id", rid)
            if not (rule.data.get("use_auto_generation") or rule.data["coupon_type"] == "AUTO"):
                raise ApiError(400, "Specified rule does not allow automatic coupon generation")
            alphabet = {"alphanum": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789", "alpha":
                        "ABCDEFGHJKLMNPQRSTUVWXYZ", "num": "0123456789"}.get(
                            str(spec["format"]))
            if alphabet is None:
                raise invalid_value("format", spec["format"])
            r = random.Random(f"{self.seed}:{rid}:{len(self.coupons)}")
            taken = {cp.data["code"].casefold() for cp in self.coupons.values()}
            out: list[str] = []
            for _ in range(_as_int(spec["quantity"], "quantity")):
                for _attempt in range(100):
                    code = (str(spec.get("prefix") or "")
                            + "".join(r.choice(alphabet)
                                      for _ in range(_as_int(spec["length"], "length")))
                            + str(spec.get("suffix") or ""))
                    if code.casefold() not in taken:
                        break
                else:
                    raise ApiError(400, "Error occurred when generating coupons: %1",
                                   ["Not enough unique codes"])
                taken.add(code.casefold())
                cid = self.coupons.next_id()
                self.coupons.add(Rec(cid, {"coupon_id": cid, "rule_id": rid, "code": code,
                                           "usage_limit": 0, "usage_per_customer": 0,
                                           "times_used": 0, "is_primary": False,
                                           "created_at": fmt_time(self.now()), "type": 1}))
                out.append(code)
            return out

    def delete_coupon(self, coupon_id: int) -> bool:
        with self.lock:
            if self.coupons.delete(coupon_id) is None:
                raise no_such_entity("coupon_id", coupon_id)
            return True

    # ------------------------------------------------------------------ mutation helpers
    def _customer(self, cid: int) -> Customer:
        c = self.customers.get(cid)
        if c is None:
            raise KeyError(f"no customer {cid}")
        return c

    def update_customer(self, cid: int, **fields: Any) -> Customer:
        """Change customer fields as an admin save would (bumps updated_at).

        ``custom`` takes a dict of attribute code -> value (None removes it).
        """
        with self.lock:
            c = self._customer(cid)
            old_key = (c.website_id, c.email.casefold())
            for k, v in fields.items():
                if k == "custom":
                    cm = dict(c.custom or ())
                    for ck, cv in v.items():
                        if cv is None:
                            cm.pop(ck, None)
                        else:
                            cm[ck] = str(cv)
                    c.custom = tuple(cm.items()) or None
                elif k in ("id", "addresses", "updated_at", "created_at"):
                    raise ValueError(f"update_customer cannot set {k}")
                elif k in Customer.__slots__:
                    setattr(c, k, v)
                else:
                    raise ValueError(f"unknown customer field {k}")
            self.email_index.pop(old_key, None)
            self.email_index[(c.website_id, c.email.casefold())] = c.id
            self.customers.set_time(c, "updated_at", self.now())
            return c

    def set_address(self, cid: int, address_id: int | None = None, *,
                    default_billing: bool | None = None, default_shipping: bool | None = None,
                    **fields: Any) -> int:
        """Change one address (or add one when address_id is None); returns its id.

        The customer's updated_at is NOT bumped: Magento stores addresses separately
        (docs/magento.md B5).
        """
        with self.lock:
            c = self._customer(cid)
            if "region" in fields and isinstance(fields["region"], str):
                fields["region"] = (fields["region"], fields["region"], 0)
            if "street" in fields and isinstance(fields["street"], str):
                fields["street"] = (fields["street"],)
            addrs = list(c.addresses)
            if address_id is None:
                base = Address(self.next_address_id, cid, c.firstname, c.lastname,
                               ("Testgatan 1",), "Stockholm", None, "SE", "111 22",
                               "+46 8 000 00 00")
                self.next_address_id += 1
                a = base.copy(**fields)
                addrs.append(a)
            else:
                for i, old in enumerate(addrs):
                    if old.id == address_id:
                        a = old.copy(**fields)
                        addrs[i] = a
                        break
                else:
                    raise KeyError(f"customer {cid} has no address {address_id}")
            c.addresses = tuple(addrs)
            if default_billing:
                c.default_billing = a.id
            elif default_billing is False and c.default_billing == a.id:
                c.default_billing = None
            if default_shipping:
                c.default_shipping = a.id
            elif default_shipping is False and c.default_shipping == a.id:
                c.default_shipping = None
            return a.id

    def remove_address(self, cid: int, address_id: int) -> None:
        """Delete one address (customer updated_at unchanged, as in Magento)."""
        with self.lock:
            c = self._customer(cid)
            if c.address(address_id) is None:
                raise KeyError(f"customer {cid} has no address {address_id}")
            c.addresses = tuple(a for a in c.addresses if a.id != address_id)
            if c.default_billing == address_id:
                c.default_billing = None
            if c.default_shipping == address_id:
                c.default_shipping = None

    def add_customer(self, email: str, firstname: str = "Test", lastname: str = "Kund",
                     website_id: int = 1, group_id: int = DEFAULT_GROUP_ID, **fields: Any
                     ) -> Customer:
        with self.lock:
            store_id = fields.pop("store_id", 1 if website_id == 1 else 2)
            cid = self.customers.next_id()
            now = self.now()
            c = Customer(id=cid, website_id=website_id, store_id=store_id, group_id=group_id,
                         email=email, firstname=firstname, lastname=lastname, created_at=now,
                         updated_at=now, created_in=self.store(store_id).name,
                         is_subscribed=False)
            for k, v in fields.items():
                if k == "custom":
                    c.custom = tuple((ck, str(cv)) for ck, cv in v.items()) or None
                elif k in Customer.__slots__:
                    setattr(c, k, v)
                else:
                    raise ValueError(f"unknown customer field {k}")
            self.customers.add(c)
            self.email_index[(website_id, email.casefold())] = cid
            return c

    def delete_customer(self, cid: int) -> None:
        """Delete a customer; their orders keep existing with customer_id NULL (FK)."""
        with self.lock:
            c = self.customers.delete(cid)
            if c is None:
                raise KeyError(f"no customer {cid}")
            self.email_index.pop((c.website_id, c.email.casefold()), None)
            for oid in self.orders_by_customer.pop(cid, []):
                o = self.orders.get(oid)
                if o is not None:
                    o.customer_id = None

    def _lines_for(self, items: Iterable[Any]) -> list[tuple[str, str, float, float, str, int]]:
        out = []
        for it in items:
            if isinstance(it, str):
                sku, qty, price = it, 1.0, None
            else:
                sku, qty = it[0], float(it[1])
                price = it[2] if len(it) > 2 else None
            found = self.sku_index.get(sku)
            if found is None:
                out.append((sku, sku, float(price or 10.0), qty, "simple", 0))
                continue
            p, kid = found
            out.append((sku, kid[2] if kid else p.name, float(price if price is not None
                                                              else p.price), qty,
                        p.type if not kid else "simple", kid[0] if kid else p.id))
        return out

    def add_order(self, customer_id: int | None, items: Iterable[Any] = ("SB-1000",),
                  status: str = "pending", store_id: int | None = None,
                  email: str | None = None, firstname: str | None = None,
                  lastname: str | None = None, created_at: int | None = None) -> Order:
        """Place an order now. items: skus or (sku, qty[, price]) tuples."""
        with self.lock:
            c = self.customers.get(customer_id) if customer_id is not None else None
            if customer_id is not None and c is None:
                raise KeyError(f"no customer {customer_id}")
            store = store_id or (c.store_id if c else 1)
            now = created_at if created_at is not None else self.now()
            if c is not None:
                bill = c.address(c.default_billing) or (c.addresses[0] if c.addresses else None)
                ship = c.address(c.default_shipping) or bill
            else:
                bill = ship = None
            if bill is None:
                bill = ship = Address(0, customer_id, firstname or (c.firstname if c else "Guest"),
                                      lastname or (c.lastname if c else "Shopper"),
                                      ("Testgatan 1",), "Stockholm", None, "SE", "111 22",
                                      "+46 8 000 00 00")
            seq = self.order_seq.get(store, 0) + 1
            self.order_seq[store] = seq
            o = Order(id=self.orders.next_id(), seq=seq, customer_id=customer_id,
                      email=email or (c.email if c else "guest@example.org"),
                      firstname=firstname or (c.firstname if c else "Guest"),
                      lastname=lastname or (c.lastname if c else "Shopper"),
                      group_id=c.group_id if c else 0, store_id=store, status=status,
                      created_at=now, updated_at=now, seed=0, lines=self._lines_for(items),
                      billing=bill, shipping=ship)
            self.set_order_totals(o)
            self.orders.add(o)
            if customer_id is not None:
                self.orders_by_customer.setdefault(customer_id, []).append(o.id)
            return o

    def set_order_status(self, order_id: int, status: str) -> Order:
        with self.lock:
            o = self.orders.get(order_id)
            if o is None:
                raise KeyError(f"no order {order_id}")
            o.status = status
            self.orders.set_time(o, "updated_at", self.now())
            return o

    def add_cart(self, customer_id: int | None, items: Iterable[Any] = ("SB-1000",),
                 active: bool = True, store_id: int | None = None,
                 email: str | None = None) -> Cart:
        """A new quote (one active quote per customer: an older active one is replaced)."""
        with self.lock:
            c = self.customers.get(customer_id) if customer_id is not None else None
            if customer_id is not None and c is None:
                raise KeyError(f"no customer {customer_id}")
            now = self.now()
            if active and c is not None:
                for qid in self.carts_by_customer.get(c.id, []):
                    old = self.carts.get(qid)
                    if old is not None and old.is_active:
                        old.is_active = False
                        self.carts.set_time(old, "updated_at", now)
            q = Cart(id=self.carts.next_id(), customer_id=customer_id,
                     email=email or (c.email if c else "guest@example.org"),
                     firstname=c.firstname if c else None, lastname=c.lastname if c else None,
                     group_id=c.group_id if c else 0,
                     store_id=store_id or (c.store_id if c else 1), is_active=active,
                     lines=[], created_at=now, updated_at=now)
            self._set_cart_lines(q, items)
            self.carts.add(q)
            if customer_id is not None:
                self.carts_by_customer.setdefault(customer_id, []).append(q.id)
            return q

    def _set_cart_lines(self, q: Cart, items: Iterable[Any]) -> None:
        lines = []
        for sku, name, price, qty, ptype, _pid in self._lines_for(items):
            lines.append((self.next_cart_item_id, sku, name, price, qty,
                          "configurable" if ptype == "configurable" else ptype))
            self.next_cart_item_id += 1
        q.lines = lines

    def update_cart(self, cart_id: int, items: Iterable[Any] | None = None,
                    add: Iterable[Any] | None = None) -> Cart:
        """Replace the cart's items (``items``) or append some (``add``); bumps updated_at."""
        with self.lock:
            q = self.carts.get(cart_id)
            if q is None:
                raise KeyError(f"no cart {cart_id}")
            if items is not None:
                self._set_cart_lines(q, items)
            if add is not None:
                keep = list(q.lines)
                self._set_cart_lines(q, add)
                q.lines = keep + q.lines
            self.carts.set_time(q, "updated_at", self.now())
            return q

    def convert_cart(self, cart_id: int, place_order: bool = True) -> Order | None:
        """Check out: the quote turns inactive (its items stop showing), an order appears."""
        with self.lock:
            q = self.carts.get(cart_id)
            if q is None:
                raise KeyError(f"no cart {cart_id}")
            now = self.now()
            order = None
            if place_order:
                order = self.add_order(q.customer_id, [(ln[1], ln[4], ln[3]) for ln in q.lines],
                                       status="pending", store_id=q.store_id, email=q.email,
                                       firstname=q.firstname, lastname=q.lastname)
                q.reserved_order_id = self.increment_id(order)
            q.is_active = False
            q.converted_at = now
            self.carts.set_time(q, "updated_at", now)
            return order

    def delete_cart(self, cart_id: int) -> None:
        """Remove a quote (Magento's quote cleanup cron)."""
        with self.lock:
            q = self.carts.delete(cart_id)
            if q is None:
                raise KeyError(f"no cart {cart_id}")
            if q.customer_id is not None:
                lst = self.carts_by_customer.get(q.customer_id, [])
                if cart_id in lst:
                    lst.remove(cart_id)

    def touch(self, customers: float = 0.0, orders: float = 0.0, carts: float = 0.0,
              addresses: float = 0.0, seed: int | None = None) -> dict[str, list[int]]:
        """Change a random share of each kind of record now (for incremental-sync benches).

        customers: lastname/telephone-style edits (updated_at bumped); orders: status moves;
        carts: an item added; addresses: a city changed (customer updated_at NOT bumped).
        """
        r = random.Random(seed) if seed is not None else self._touch_rng
        out: dict[str, list[int]] = {"customers": [], "orders": [], "carts": [],
                                     "addresses": []}
        with self.lock:
            if customers:
                ids = self.customers.ids
                for cid in r.sample(ids, min(len(ids), int(len(ids) * customers + 0.5))):
                    c = self.customers.rows[cid]
                    self.update_customer(cid, lastname=c.lastname.rstrip("*") + "*"
                                         if r.random() < 0.5 else c.lastname.rstrip("*"),
                                         is_subscribed=not c.is_subscribed)
                    out["customers"].append(cid)
            if orders:
                ids = self.orders.ids
                nxt = {"pending": "processing", "processing": "complete",
                       "complete": "closed", "holded": "processing"}
                for oid in r.sample(ids, min(len(ids), int(len(ids) * orders + 0.5))):
                    o = self.orders.rows[oid]
                    self.set_order_status(oid, nxt.get(o.status, o.status))
                    out["orders"].append(oid)
            if carts:
                ids = [i for i in self.carts.ids if self.carts.rows[i].is_active]
                for qid in r.sample(ids, min(len(ids), int(len(ids) * carts + 0.5))):
                    p = self.catalog[r.randrange(len(self.catalog))]
                    self.update_cart(qid, add=[(p.children[0][1] if p.children else p.sku, 1)])
                    out["carts"].append(qid)
            if addresses:
                ids = [i for i in self.customers.ids if self.customers.rows[i].addresses]
                for cid in r.sample(ids, min(len(ids), int(len(ids) * addresses + 0.5))):
                    c = self.customers.rows[cid]
                    a = c.addresses[r.randrange(len(c.addresses))]
                    self.set_address(cid, a.id, city=a.city.rstrip("*") + "*")
                    out["addresses"].append(cid)
        return out

    # ------------------------------------------------------------------ search specs
    def specs(self) -> dict[str, EntitySpec]:
        return _specs(self)


def _billing(shop: Shop, attr: str) -> Any:
    def get(c: Customer) -> Any:
        a = c.address(c.default_billing)
        if a is None:
            return None
        if attr == "region":
            return a.region[1] if a.region else None
        return getattr(a, attr)
    return get


def _custom(code: str) -> Any:
    def get(c: Customer) -> Any:
        if not c.custom:
            return None
        for k, v in c.custom:
            if k == code:
                return v
        return None
    return get


def _specs(shop: Shop) -> dict[str, EntitySpec]:
    from bridge.sandbox.generator import CUSTOM_ATTRIBUTES

    cf: dict[str, FieldDef] = {
        "entity_id": FieldDef(lambda c: c.id, INT),
        "email": FieldDef(lambda c: c.email), "firstname": FieldDef(lambda c: c.firstname),
        "lastname": FieldDef(lambda c: c.lastname),
        "middlename": FieldDef(lambda c: c.middlename),
        "prefix": FieldDef(lambda c: c.prefix), "suffix": FieldDef(lambda c: c.suffix),
        "group_id": FieldDef(lambda c: c.group_id, INT),
        "website_id": FieldDef(lambda c: c.website_id, INT),
        "store_id": FieldDef(lambda c: c.store_id, INT),
        "created_at": FieldDef(lambda c: c.created_at, TIME),
        "updated_at": FieldDef(lambda c: c.updated_at, TIME),
        "created_in": FieldDef(lambda c: c.created_in),
        "dob": FieldDef(lambda c: c.dob, DATE), "gender": FieldDef(lambda c: c.gender, INT),
        "taxvat": FieldDef(lambda c: c.taxvat),
        "default_billing": FieldDef(lambda c: c.default_billing, INT),
        "default_shipping": FieldDef(lambda c: c.default_shipping, INT),
        "disable_auto_group_change": FieldDef(lambda c: c.disable_auto_group_change, INT),
        "confirmation": FieldDef(lambda c: c.confirmation),
    }
    for attr in ("postcode", "city", "telephone", "region", "country_id", "company"):
        cf[f"billing_{attr}"] = FieldDef(_billing(shop, attr))
    for code in CUSTOM_ATTRIBUTES:
        cf[code] = FieldDef(_custom(code))
    customers = EntitySpec("customers", cf, "entity_id",
                           {"updated_at": "updated_at", "created_at": "created_at"},
                           merge_from_to=False, unknown_field_status=400)

    of: dict[str, FieldDef] = {
        "entity_id": FieldDef(lambda o: o.id, INT),
        "increment_id": FieldDef(shop.increment_id),
        "customer_id": FieldDef(lambda o: o.customer_id, INT),
        "customer_email": FieldDef(lambda o: o.email),
        "customer_firstname": FieldDef(lambda o: o.firstname),
        "customer_lastname": FieldDef(lambda o: o.lastname),
        "customer_group_id": FieldDef(lambda o: o.group_id, INT),
        "customer_is_guest": FieldDef(
            lambda o: 1 if o.customer_id is None and o.group_id == 0 else 0, INT),
        "status": FieldDef(lambda o: o.status),
        "state": FieldDef(lambda o: STATUS_STATE.get(o.status, o.status)),
        "store_id": FieldDef(lambda o: o.store_id, INT),
        "created_at": FieldDef(lambda o: o.created_at, TIME),
        "updated_at": FieldDef(lambda o: o.updated_at, TIME),
        "base_grand_total": FieldDef(lambda o: o.base_grand_total, NUM),
        "grand_total": FieldDef(lambda o: _money(o.base_grand_total
                                                 * shop.store(o.store_id).rate), NUM),
        "total_qty_ordered": FieldDef(lambda o: o.total_qty, NUM),
        "order_currency_code": FieldDef(lambda o: shop.store(o.store_id).currency),
    }
    orders = EntitySpec("orders", of, "entity_id",
                        {"updated_at": "updated_at", "created_at": "created_at"})

    # plain: reads slots of the cart only (its matches can be kept, see Table.stamp);
    # items_count and items_qty read its list of lines
    qf: dict[str, FieldDef] = {
        "entity_id": FieldDef(lambda q: q.id, INT, plain=True),
        "customer_id": FieldDef(lambda q: q.customer_id, INT, plain=True),
        "customer_email": FieldDef(lambda q: q.email, plain=True),
        "customer_group_id": FieldDef(lambda q: q.group_id, INT, plain=True),
        "customer_is_guest": FieldDef(lambda q: int(q.customer_id is None), INT, plain=True),
        "is_active": FieldDef(lambda q: int(bool(q.is_active)), INT, plain=True),
        "items_count": FieldDef(lambda q: len(q.lines), INT),
        "items_qty": FieldDef(lambda q: sum(ln[4] for ln in q.lines), NUM),
        "store_id": FieldDef(lambda q: q.store_id, INT, plain=True),
        "created_at": FieldDef(lambda q: q.created_at, TIME, plain=True),
        "updated_at": FieldDef(lambda q: q.updated_at, TIME, plain=True),
        "converted_at": FieldDef(lambda q: q.converted_at, TIME, plain=True),
        "reserved_order_id": FieldDef(lambda q: q.reserved_order_id, plain=True),
    }
    carts = EntitySpec("carts", qf, "entity_id",
                       {"updated_at": "updated_at", "created_at": "created_at"})

    gf: dict[str, FieldDef] = {
        "id": FieldDef(lambda g: g.id, INT),
        "customer_group_id": FieldDef(lambda g: g.id, INT),
        "code": FieldDef(lambda g: g.code), "customer_group_code": FieldDef(lambda g: g.code),
        "tax_class_id": FieldDef(lambda g: g.tax_class_id, INT),
        "tax_class_name": FieldDef(lambda g: TAX_CLASSES.get(g.tax_class_id, ("",))[0]),
    }
    groups = EntitySpec("groups", gf, "id", default_sort=[SortOrder("id", "ASC")])

    bf: dict[str, FieldDef] = {
        "block_id": FieldDef(lambda b: b.id, INT),
        "identifier": FieldDef(lambda b: b.identifier), "title": FieldDef(lambda b: b.title),
        "content": FieldDef(lambda b: b.content),
        "is_active": FieldDef(lambda b: int(bool(b.active)), INT),
        "creation_time": FieldDef(lambda b: b.creation_time, TIME),
        "update_time": FieldDef(lambda b: b.update_time, TIME),
    }
    blocks = EntitySpec("blocks", bf, "block_id")

    rf: dict[str, FieldDef] = {
        "rule_id": FieldDef(lambda r: r.id, INT),
        "name": FieldDef(lambda r: r.data.get("name")),
        "description": FieldDef(lambda r: r.data.get("description")),
        "is_active": FieldDef(lambda r: int(bool(r.data.get("is_active"))), INT),
        "from_date": FieldDef(lambda r: r.data.get("from_date"), DATE),
        "to_date": FieldDef(lambda r: r.data.get("to_date"), DATE),
        "coupon_type": FieldDef(lambda r: COUPON_TYPES.get(r.data.get("coupon_type"), 1), INT),
        "sort_order": FieldDef(lambda r: r.data.get("sort_order"), INT),
        "simple_action": FieldDef(lambda r: r.data.get("simple_action")),
        "discount_amount": FieldDef(lambda r: r.data.get("discount_amount"), NUM),
        "uses_per_customer": FieldDef(lambda r: r.data.get("uses_per_customer"), INT),
        "times_used": FieldDef(lambda r: r.data.get("times_used"), INT),
        "use_auto_generation": FieldDef(lambda r: int(bool(r.data.get("use_auto_generation"))),
                                        INT),
        "stop_rules_processing": FieldDef(
            lambda r: int(bool(r.data.get("stop_rules_processing"))), INT),
    }
    rules = EntitySpec("rules", rf, "rule_id")

    pf: dict[str, FieldDef] = {
        "coupon_id": FieldDef(lambda c: c.id, INT),
        "rule_id": FieldDef(lambda c: c.data["rule_id"], INT),
        "code": FieldDef(lambda c: c.data["code"]),
        "type": FieldDef(lambda c: c.data["type"], INT),
        "is_primary": FieldDef(lambda c: int(bool(c.data.get("is_primary"))), INT),
        "times_used": FieldDef(lambda c: c.data.get("times_used"), INT),
        "usage_limit": FieldDef(lambda c: c.data.get("usage_limit"), INT),
        "created_at": FieldDef(lambda c: c.data.get("created_at"), DATE),
        "expiration_date": FieldDef(lambda c: c.data.get("expiration_date"), DATE),
    }
    coupons = EntitySpec("coupons", pf, "coupon_id")
    return {"customers": customers, "orders": orders, "carts": carts, "groups": groups,
            "blocks": blocks, "rules": rules, "coupons": coupons}
