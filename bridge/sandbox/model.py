"""Compact in-memory records of the sandbox shop.

Records are ``__slots__`` objects holding plain values (epoch seconds for times, shared
strings from pools) so that 100,000 customers and 400,000 orders fit in a few hundred MB;
their JSON is built per request. Address objects are never mutated in place: a change
replaces the object, so an order keeps a reference to the address as it was when placed.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

MAGENTO_TIME = "%Y-%m-%d %H:%M:%S"


_ENCODER = msgspec.json.Encoder()


def dumps(value: Any) -> bytes:
    """JSON of an answer: msgspec, or the standard library for what msgspec refuses (a
    ``True``/``None`` dict key, a string holding a lone surrogate)."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError):
        return json.dumps(value, separators=(",", ":")).encode()


def fmt_time(epoch: int | None) -> str | None:
    """Epoch seconds -> Magento's UTC ``YYYY-MM-DD HH:MM:SS``."""
    if epoch is None:
        return None
    return time.strftime(MAGENTO_TIME, time.gmtime(epoch))


def parse_time(text: Any) -> int | None:
    """A date or date-time string (UTC) -> epoch seconds; None when it is not one.

    Accepts what MySQL would compare against a DATETIME column: ``YYYY-MM-DD``,
    ``YYYY-MM-DD HH:MM:SS`` and the ISO ``T`` separator.
    """
    if isinstance(text, int | float):
        return int(text)
    if not isinstance(text, str):
        return None
    s = text.strip().replace("T", " ")
    if s.endswith("Z"):
        s = s[:-1]
    for fmt, n in ((MAGENTO_TIME, 19), ("%Y-%m-%d %H:%M", 16), ("%Y-%m-%d", 10)):
        try:
            d = datetime.strptime(s[:n], fmt)
        except ValueError:
            continue
        if len(s) > n and fmt != MAGENTO_TIME:
            continue
        return int(d.replace(tzinfo=UTC).timestamp())
    return None


class Clock:
    """The shop's notion of now: real UTC time plus an offset tests can advance.

    ``start`` pins the initial reading (for reproducible generation); ``tick=False``
    freezes the clock so that only ``advance`` moves it.
    """

    def __init__(self, start: int | None = None, tick: bool = True) -> None:
        self._real0 = time.time()
        self._start = float(start) if start is not None else self._real0
        self._offset = 0.0
        self._tick = tick
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            elapsed = (time.time() - self._real0) if self._tick else 0.0
            return int(self._start + elapsed + self._offset)

    def advance(self, seconds: float) -> int:
        """Move the clock forward (or back, with a negative number); returns the new now."""
        with self._lock:
            self._offset += seconds
        return self.now()

    def now_text(self) -> str:
        return fmt_time(self.now()) or ""


class Address:
    __slots__ = (
        "id", "customer_id", "firstname", "lastname", "street", "city", "region",
        "country_id", "postcode", "telephone", "company", "vat_id",
    )

    def __init__(self, id: int, customer_id: int | None, firstname: str, lastname: str,
                 street: tuple[str, ...], city: str, region: tuple[str, str, int] | None,
                 country_id: str, postcode: str, telephone: str, company: str | None = None,
                 vat_id: str | None = None) -> None:
        self.id = id
        self.customer_id = customer_id
        self.firstname = firstname
        self.lastname = lastname
        self.street = street
        self.city = city
        self.region = region  # (region_code, region, region_id); region_id 0 = free text
        self.country_id = country_id
        self.postcode = postcode
        self.telephone = telephone
        self.company = company
        self.vat_id = vat_id

    def copy(self, **changes: Any) -> Address:
        a = Address.__new__(Address)
        for k in Address.__slots__:
            setattr(a, k, changes.get(k, getattr(self, k)))
        return a


class Customer:
    __slots__ = (
        "id", "website_id", "store_id", "group_id", "email", "firstname", "lastname",
        "middlename", "prefix", "suffix", "dob", "gender", "taxvat", "created_at",
        "updated_at", "created_in", "is_subscribed", "default_billing", "default_shipping",
        "addresses", "custom", "disable_auto_group_change", "confirmation",
    )

    def __init__(self, **kw: Any) -> None:
        for k in Customer.__slots__:
            setattr(self, k, kw.get(k))
        if self.addresses is None:
            self.addresses = ()
        if self.disable_auto_group_change is None:
            self.disable_auto_group_change = 0

    def address(self, address_id: int | None) -> Address | None:
        if address_id is None:
            return None
        for a in self.addresses:
            if a.id == address_id:
                return a
        return None


class Order:
    """An order. ``lines`` None means "derive the items from ``seed``" (generated orders)."""

    __slots__ = (
        "id", "seq", "customer_id", "email", "firstname", "lastname", "group_id",
        "store_id", "status", "created_at", "updated_at", "seed", "lines",
        "base_grand_total", "total_qty", "billing", "shipping",
    )

    def __init__(self, id: int, seq: int, customer_id: int | None, email: str,
                 firstname: str, lastname: str, group_id: int, store_id: int, status: str,
                 created_at: int, updated_at: int, seed: int = 0,
                 lines: list[Any] | None = None, base_grand_total: float = 0.0,
                 total_qty: float = 0.0, billing: Address | None = None,
                 shipping: Address | None = None) -> None:
        self.id = id
        self.seq = seq
        self.customer_id = customer_id
        self.email = email
        self.firstname = firstname
        self.lastname = lastname
        self.group_id = group_id
        self.store_id = store_id
        self.status = status
        self.created_at = created_at
        self.updated_at = updated_at
        self.seed = seed
        self.lines = lines
        self.base_grand_total = base_grand_total
        self.total_qty = total_qty
        self.billing = billing
        self.shipping = shipping


class Cart:
    """A quote. ``lines``: list of (item_id, sku, name, price, qty, product_type)."""

    __slots__ = (
        "id", "customer_id", "email", "firstname", "lastname", "group_id", "store_id",
        "is_active", "lines", "created_at", "updated_at", "converted_at",
        "reserved_order_id", "billing",
    )

    changes = 0  # how many times any cart's slot was set (Table.stamp)

    def __init__(self, **kw: Any) -> None:
        for k in Cart.__slots__:
            setattr(self, k, kw.get(k))
        if self.lines is None:
            self.lines = []

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        Cart.changes += 1


class Table:
    """Records by id, plus id-sorted and (time, id)-sorted indexes for fast range scans.

    ``time_attrs`` names the attributes that get an index of ids ordered by
    ``(getattr(rec, attr), rec.id)``; bisect with ``key=`` keeps them small (one int a row).
    """

    def __init__(self, time_attrs: tuple[str, ...] = ("updated_at", "created_at"),
                 record_changes: Callable[[], int] | None = None) -> None:
        self.rows: dict[int, Any] = {}
        # Counts the changes to which records it holds and to its indexes; with
        # ``record_changes`` (a count of the changes to any of its records) it has a
        # ``stamp`` that any change moves (search.run_search keeps answers under it).
        self.version = 0
        self._record_changes = record_changes
        self.scan_cache: dict[Any, tuple[Any, list[int]]] = {}
        self.ids: list[int] = []
        self.time_attrs = time_attrs
        self.by_time: dict[str, list[int]] = {a: [] for a in time_attrs}
        self._keys: dict[str, Callable[[int], tuple[Any, int]]] = {
            a: self._make_key(a) for a in time_attrs
        }

    def _make_key(self, attr: str) -> Callable[[int], tuple[Any, int]]:
        rows = self.rows

        def key(i: int) -> tuple[Any, int]:
            return (getattr(rows[i], attr), i)

        return key

    def key(self, attr: str) -> Callable[[int], tuple[Any, int]]:
        return self._keys[attr]

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, i: object) -> bool:
        return i in self.rows

    def get(self, i: int) -> Any:
        return self.rows.get(i)

    def values(self) -> Iterator[Any]:
        return iter(self.rows.values())

    def next_id(self) -> int:
        return (self.ids[-1] + 1) if self.ids else 1

    def stamp(self) -> tuple[int, int] | None:
        """Moves with any change to the table or its records; None: not tracked."""
        if self._record_changes is None:
            return None
        return (self.version, self._record_changes())

    def load_sorted(self, records: list[Any]) -> None:
        """Bulk load records (any order); rebuilds every index at once."""
        self.version += 1
        for r in records:
            self.rows[r.id] = r
        self.ids = sorted(self.rows)
        for a in self.time_attrs:
            self.by_time[a] = sorted(self.rows, key=self._keys[a])

    def add(self, rec: Any) -> None:
        if rec.id in self.rows:
            raise KeyError(f"duplicate id {rec.id}")
        self.version += 1
        self.rows[rec.id] = rec
        if not self.ids or rec.id > self.ids[-1]:
            self.ids.append(rec.id)
        else:
            bisect.insort(self.ids, rec.id)
        for a in self.time_attrs:
            bisect.insort(self.by_time[a], rec.id, key=self._keys[a])

    def _remove_from_time(self, rec: Any, attr: str) -> None:
        idx = self.by_time[attr]
        k = (getattr(rec, attr), rec.id)
        pos = bisect.bisect_left(idx, k, key=self._keys[attr])
        if pos < len(idx) and idx[pos] == rec.id:
            del idx[pos]
        else:  # pragma: no cover - index drift would be a bug; repair rather than corrupt
            idx.remove(rec.id)

    def set_time(self, rec: Any, attr: str, value: int) -> None:
        """Change an indexed time attribute, keeping its index sorted."""
        if getattr(rec, attr) == value:
            return
        self.version += 1
        self._remove_from_time(rec, attr)
        setattr(rec, attr, value)
        bisect.insort(self.by_time[attr], rec.id, key=self._keys[attr])

    def delete(self, i: int) -> Any:
        rec = self.rows.get(i)
        if rec is None:
            return None
        self.version += 1
        for a in self.time_attrs:
            self._remove_from_time(rec, a)
        del self.rows[i]
        pos = bisect.bisect_left(self.ids, i)
        del self.ids[pos]
        return rec


class ShopTables(Protocol):
    """What the generator (``generator.generate``) and the storefront module's state
    (``module_state.py``) read and write of a shop. ``bridge.sandbox.shop.Shop`` is one;
    it is typed here so that those modules, which the shop imports, need not import it."""

    lock: Any  # a threading.RLock
    clock: Clock
    catalog: list[Any]  # generator.Product
    stores: list[Any]  # shop.StoreView
    customers: Table
    orders: Table
    carts: Table
    next_address_id: int
    next_cart_item_id: int
    order_seq: dict[int, int]
    module: Any  # module_state.ModuleState

    def now(self) -> int: ...

    def _customer(self, cid: int) -> Customer: ...

    def rebuild_email_index(self) -> None: ...

    def rebuild_order_index(self) -> None: ...

    def rebuild_cart_index(self) -> None: ...

    def set_order_totals(self, o: Order) -> None: ...
