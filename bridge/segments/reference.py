"""The reference evaluator: the segment rules in plain Python over one customer's rows.

It is written apart from the SQL compiler on purpose (no shared comparison code), so
that the property tests, which check that both give the same answer on random shops
and random rules, test the meaning and not one implementation against itself.
``explain`` uses it to show every node with the customer's actual value.

Why this file is long (about 700 lines): it is a second, independent implementation of
every condition the compiler knows (loading one customer's rows, the comparisons of each
value type, the order/cart/address/activity passes, and the text ``explain`` prints). Its
worth to the property tests lies in sharing nothing with ``segments/compiler/``; split in
the same places as the compiler it would invite the shared helpers it exists to avoid, and
``explain`` needs the trace and its wording next to the evaluation that produces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, or_, select

from bridge.segments.attributes import CUSTOMER_STRING_FIELDS, GENDER_NAMES
from bridge.segments.model import (
    Combine,
    Condition,
    DateValue,
    Period,
    ProductFilter,
    Rule,
    Segment,
    home_group_id,
    managed_group_ids,
)
from bridge.store import models as m

ONE_DAY = timedelta(days=1)


# --- the customer's data -------------------------------------------------------------------


@dataclass
class Order:
    row: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    addresses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Cart:
    row: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CustomerData:
    customer: dict[str, Any]
    websites: dict[int, str]
    stores: dict[int, str]
    groups: dict[int, str]
    home_group_id: int | None
    attributes: dict[str, str | None]
    addresses: list[dict[str, Any]]
    orders: list[Order]
    carts: list[Cart]
    recorded_group_ids: frozenset[int] = frozenset()  # push_groups
    wishlist: list[dict[str, Any]] = field(default_factory=list)  # wishlist_items rows
    views: list[dict[str, Any]] = field(default_factory=list)  # product_views rows
    objection: str | None = None  # privacy.opt_out_attribute says no profiling: why

    @property
    def id(self) -> int:
        return int(self.customer["id"])


def _rows(conn: Connection, stmt: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(stmt)]


def load_customer(conn: Connection, customer_id: int, config: Any = None) -> CustomerData | None:
    """Everything the conditions can look at for one customer (None: no such customer)."""
    rows = _rows(conn, select(m.Customer.__table__).where(m.Customer.id == customer_id))
    if not rows:
        return None
    link = bool(getattr(getattr(config, "sync", None), "link_guest_orders", False))
    websites = {r["id"]: r["code"] for r in _rows(conn, select(m.Website.id, m.Website.code))}
    stores = {r["id"]: r["code"] for r in _rows(conn, select(m.StoreView.id, m.StoreView.code))}
    groups = {
        r["id"]: r["code"] for r in _rows(conn, select(m.CustomerGroup.id, m.CustomerGroup.code))
    }
    home = None
    from sqlalchemy import inspect

    if inspect(conn).has_table("push_customers"):
        from bridge.store import schema  # noqa: F401 - registers push tables

        pc = m.Base.metadata.tables["push_customers"]
        got = conn.execute(
            select(pc.c.home_group_id).where(pc.c.customer_id == customer_id)
        ).first()
        home = got[0] if got else None
    recorded: frozenset[int] = frozenset()
    if inspect(conn).has_table("push_groups"):
        from bridge.store import schema  # noqa: F401 - registers push tables

        pg = m.Base.metadata.tables["push_groups"]
        recorded = frozenset(conn.execute(select(pg.c.group_id)).scalars())
    attrs = {
        r["code"]: r["value"]
        for r in _rows(
            conn,
            select(m.CustomerAttribute.__table__).where(
                m.CustomerAttribute.customer_id == customer_id
            ),
        )
    }
    addresses = _rows(
        conn,
        select(m.CustomerAddress.__table__).where(m.CustomerAddress.customer_id == customer_id),
    )
    ot = m.Order.__table__
    owner = ot.c.customer_id == customer_id
    if link:
        owner = or_(owner, (ot.c.customer_id.is_(None)) & (ot.c.guest_customer_id == customer_id))
    orders = [Order(r) for r in _rows(conn, select(ot).where(owner))]
    by_id = {o.row["id"]: o for o in orders}
    if by_id:
        ids = list(by_id)
        for it in _rows(conn, select(m.OrderItem.__table__).where(m.OrderItem.order_id.in_(ids))):
            by_id[it["order_id"]].items.append(it)
        for ad in _rows(
            conn, select(m.OrderAddress.__table__).where(m.OrderAddress.order_id.in_(ids))
        ):
            by_id[ad["order_id"]].addresses.append(ad)
    carts = [
        Cart(r)
        for r in _rows(conn, select(m.Cart.__table__).where(m.Cart.customer_id == customer_id))
    ]
    cart_by_id = {c.row["id"]: c for c in carts}
    if cart_by_id:
        for it in _rows(
            conn, select(m.CartItem.__table__).where(m.CartItem.cart_id.in_(list(cart_by_id)))
        ):
            cart_by_id[it["cart_id"]].items.append(it)
    wishlist = _rows(conn, select(m.WishlistItem.__table__).where(
        m.WishlistItem.customer_id == customer_id))
    views = _rows(conn, select(m.ProductView.__table__).where(
        m.ProductView.customer_id == customer_id))
    from bridge.privacy.optout import objection

    return CustomerData(
        rows[0], websites, stores, groups, home, attrs, addresses, orders, carts, recorded,
        wishlist, views,
        objection=objection(attrs, config),
    )


# --- traces --------------------------------------------------------------------------------


@dataclass
class Trace:
    """One node's outcome: ``actual`` is the customer's value as text (leaves)."""

    node: Condition | None
    result: bool
    label: str
    actual: str = ""
    children: list[Trace] = field(default_factory=list)
    decided_by: Trace | None = None  # the child whose outcome settled this combine

    def deciding_leaf(self) -> Trace:
        t = self
        while t.decided_by is not None:
            t = t.decided_by
        return t


# --- comparisons (written apart from the compiler's) -----------------------------------


def _fold(s: str) -> str:
    return s.casefold()


def _str_test(actual: str | None, op: str, value: Any) -> bool:
    if op == "<=>":
        return actual is None
    if actual is None:
        return False
    a = _fold(actual)
    if op == "==":
        return a == _fold(value)
    if op == "!=":
        return a != _fold(value)
    if op == "{}":
        return _fold(value) in a
    if op == "!{}":
        return _fold(value) not in a
    if op == "()":
        return any(a == _fold(v) for v in value)
    if op == "!()":
        return all(a != _fold(v) for v in value)
    if op == "between":
        return _fold(value[0]) <= a <= _fold(value[1])
    return _order(a, op, _fold(value))


def _order(a: Any, op: str, b: Any) -> bool:
    return {
        ">=": a >= b,
        ">": a > b,
        "<=": a <= b,
        "<": a < b,
        "==": a == b,
        "!=": a != b,
    }[op]


def _num_test(actual: Fraction | Decimal | int | None, op: str, value: Any) -> bool:
    if op == "<=>":
        return actual is None
    if actual is None:
        return False
    a = Fraction(actual)
    if op == "()":
        return any(a == Fraction(v) for v in value)
    if op == "!()":
        return all(a != Fraction(v) for v in value)
    if op == "between":
        return Fraction(value[0]) <= a <= Fraction(value[1])
    return _order(a, op, Fraction(value))


def _instant(v: DateValue, as_of: datetime) -> datetime:
    if v.kind == "age":
        assert v.age is not None
        return as_of - v.age
    if v.kind == "instant":
        assert v.instant is not None
        return v.instant
    assert v.day is not None
    return datetime(v.day.year, v.day.month, v.day.day)


def _when_test(actual: datetime | None, op: str, value: Any, as_of: datetime) -> bool:
    """Timestamps: a date-only value, and == / != always, compare whole UTC days."""
    if op == "<=>":
        return actual is None
    if actual is None:
        return False
    if op in ("==", "!="):
        same = actual.date() == _instant(value, as_of).date()
        return same if op == "==" else not same
    if op == "between":
        return _when_test(actual, ">=", value[0], as_of) and _when_test(
            actual, "<=", value[1], as_of
        )
    if value.kind == "date":
        return _order(actual.date(), op, value.day)
    return _order(actual, op, _instant(value, as_of))


def _date_test(actual: date | None, op: str, value: Any, as_of: datetime) -> bool:
    if op == "<=>":
        return actual is None
    if actual is None:
        return False
    if op == "between":
        lo, hi = (_instant(v, as_of).date() for v in value)
        return lo <= actual <= hi
    return _order(actual, op, _instant(value, as_of).date())


def _bool_test(actual: bool | None, op: str, value: Any) -> bool:
    if op == "<=>":
        return actual is None
    if actual is None:
        return False
    return (bool(actual) == value) if op == "==" else (bool(actual) != value)


def days_since(t: datetime | None, as_of: datetime) -> int | None:
    return None if t is None else (as_of - t) // ONE_DAY


def days_until_birthday(dob: date | None, as_of: datetime) -> int | None:
    if dob is None:
        return None
    today = as_of.date()
    for year in (today.year, today.year + 1):
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        month, day = dob.month, dob.day
        if (month, day) == (2, 29) and not leap:
            day = 28
        candidate = date(year, month, day)
        if candidate >= today:
            return (candidate - today).days
    raise AssertionError("unreachable")


# --- evaluation ---------------------------------------------------------------------------


class Reference:
    """Evaluates segments for one customer; ``segments`` resolves `segment` conditions."""

    def __init__(self, data: CustomerData, segments: dict[str, Segment], as_of: datetime) -> None:
        self.d = data
        self.segments = segments
        self.as_of = as_of
        self._memo: dict[str, Trace] = {}

    def website_id(self, code: str | None) -> int | None:
        if code is None:
            return None
        for wid, wcode in self.d.websites.items():
            if _fold(wcode) == _fold(code):
                return wid
        return -1

    def segment(self, seg: Segment) -> Trace:
        if seg.code in self._memo:
            return self._memo[seg.code]
        c = self.d.customer
        if c.get("deleted"):
            t = Trace(None, False, f"segment {seg.code}", "the customer is deleted")
        elif self.d.objection:  # in no segment (docs/privacy.md)
            t = Trace(None, False, f"segment {seg.code}", self.d.objection)
        else:
            wid = self.website_id(seg.website)
            if wid is not None and c["website_id"] != wid:
                here = self.d.websites.get(c["website_id"], str(c["website_id"]))
                t = Trace(
                    None,
                    False,
                    f"segment {seg.code}",
                    f"customer is in website {here}, the segment is for {seg.website}",
                )
            else:
                t = self.node(seg.conditions, wid)
        self._memo[seg.code] = t
        return t

    def node(self, n: Condition, wid: int | None) -> Trace:
        if isinstance(n, Combine):
            return self.combine(n, wid)
        return self.leaf(n, wid)

    def combine(self, n: Combine, wid: int | None) -> Trace:
        label = f"{n.match.upper()} of these conditions are {'TRUE' if n.value else 'FALSE'}"
        kids = [self.node(c, wid) for c in n.rules]
        decided = None
        if n.match == "all":
            result = True
            for k in kids:
                if k.result != n.value:
                    result, decided = False, k
                    break
            if result:
                decided = kids[-1] if len(kids) == 1 else None
        else:
            result = False
            for k in kids:
                if k.result == n.value:
                    result, decided = True, k
                    break
            if not result:
                decided = kids[-1] if len(kids) == 1 else None
        return Trace(n, result, label, "", kids, decided)

    # --- scopes ---

    def orders(self, r: Rule, wid: int | None, with_period: bool) -> list[Order]:
        out = []
        lo, hi, hi_incl = None, self.as_of, True
        if with_period and r.period is not None:
            lo, hi, hi_incl = _period_bounds(r.period, self.as_of)
        for o in self.d.orders:
            row = o.row
            t = row["created_at"]
            if row.get("deleted") or t is None or t > self.as_of:
                continue
            if lo is not None and t < lo:
                continue
            if (t > hi) if hi_incl else (t >= hi):
                continue
            status = row["status"]
            if r.status is None:
                if status == "canceled":
                    continue
            elif status not in r.status:
                continue
            if wid is not None and row["website_id"] != wid:
                continue
            out.append(o)
        return out

    def cart(self, wid: int | None) -> Cart | None:
        best: Cart | None = None
        best_key: tuple[Any, ...] | None = None
        for c in self.d.carts:
            row = c.row
            if not row["is_active"] or row.get("deleted"):
                continue
            if wid is not None and row["website_id"] != wid:
                continue
            key = (row["updated_at"] is not None, row["updated_at"] or datetime.min, row["id"])
            if best_key is None or key > best_key:
                best, best_key = c, key
        return best

    # --- leaves ---

    def leaf(self, r: Rule, wid: int | None) -> Trace:
        actual, result = self._leaf(r, wid)
        return Trace(r, result, describe_rule(r), actual)

    def _leaf(self, r: Rule, wid: int | None) -> tuple[str, bool]:
        a, op, v = r.attribute, r.operator, r.value
        c = self.d.customer
        if a == "segment":
            inside = []
            for code in v:
                t = self.segment(self.segments[code])
                if t.result:
                    inside.append(code)
            held = bool(inside) if op == "()" else not inside
            return ("member of " + ", ".join(inside)) if inside else "member of none of them", held
        if a.startswith("customer.attribute."):
            val = self.d.attributes.get(a[len("customer.attribute.") :])
            return _show(val), _str_test(val, op, v)
        if a.startswith("customer."):
            f = a[len("customer.") :]
            if f in CUSTOMER_STRING_FIELDS or f == "created_in":
                return _show(c[f]), _str_test(c[f], op, v)
            if f == "group":
                managed = managed_group_ids(
                    self.d.recorded_group_ids, self.d.groups, self.segments.values()
                )
                gid = home_group_id(c["group_id"], self.d.home_group_id, managed)
                code = self.d.groups.get(gid)
                return _show(code), _str_test(code, op, v)
            if f == "website":
                code = self.d.websites.get(c["website_id"])
                return _show(code), _str_test(code, op, v)
            if f == "store":
                code = self.d.stores.get(c["store_id"]) if c["store_id"] is not None else None
                return _show(code), _str_test(code, op, v)
            if f == "gender":
                name = GENDER_NAMES.get(c["gender"]) if c["gender"] is not None else None
                if op in ("()", "!()"):
                    return _show(name), _str_test(name, op, v)
                return _show(name), _str_test(name, op, v)
            if f == "dob":
                return _show(c["dob"]), _date_test(c["dob"], op, v, self.as_of)
            if f == "days_until_birthday":
                n = days_until_birthday(c["dob"], self.as_of)
                return _show(n), _num_test(n, op, v)
            if f == "created_at":
                return _show(c["created_at"]), _when_test(c["created_at"], op, v, self.as_of)
            if f == "days_since_created":
                n = days_since(c["created_at"], self.as_of)
                return _show(n), _num_test(n, op, v)
            if f == "is_subscribed":
                return _show(c["is_subscribed"]), _bool_test(c["is_subscribed"], op, v)
        if a.startswith("address."):
            return self._address(r)
        if a.startswith("cart."):
            return self._cart(r, wid)
        if a.startswith("sales.order_address."):
            f = a[len("sales.order_address.") :]
            seen = []
            held = False
            for o in self.orders(r, wid, True):
                for ad in o.addresses:
                    if r.address_type not in (None, "any") and ad["address_type"] != r.address_type:
                        continue
                    seen.append(ad[f])
                    if _str_test(ad[f], op, v):
                        held = True
            return (", ".join(_show(s) for s in seen) or "no order addresses"), held
        if a.startswith("sales."):
            return self._sales(r, wid)
        if a in ("product.ordered", "product.in_cart"):
            assert r.product is not None
            if a == "product.ordered":
                items = [(it, True) for o in self.orders(r, wid, True) for it in o.items]
            else:
                cart = self.cart(wid)
                items = [(it, False) for it in (cart.items if cart else [])]
            hits = [it for it, ordered in items if _product_matches(it, r.product, ordered)]
            found = bool(hits)
            text = (
                "matching: " + ", ".join(_show(it["sku"]) for it in hits[:5])
                if hits
                else f"no matching item among {len(items)}"
            )
            return text, found == v
        if a in ("product.in_wishlist", "product.viewed"):
            return self._activity(r, wid)
        raise ValueError(f"no reference for {a}")

    def _activity(self, r: Rule, wid: int | None) -> tuple[str, bool]:
        """Some wishlist item / viewed product (last viewed within the period) added no
        later than as-of, in the segment's website, matches the product filter."""
        assert r.product is not None
        viewed = r.attribute == "product.viewed"
        lo, hi, hi_incl = None, self.as_of, True
        if viewed and r.period is not None:
            lo, hi, hi_incl = _period_bounds(r.period, self.as_of)
        rows = []
        for row in self.d.views if viewed else self.d.wishlist:
            t = row["added_at"]
            if t is None or t > self.as_of or (lo is not None and t < lo):
                continue
            if (t > hi) if hi_incl else (t >= hi):
                continue
            if wid is not None and row["website_id"] != wid:
                continue
            rows.append(row)
        hits = [row for row in rows if _product_matches(row, r.product, False)]
        what = "viewed product" if viewed else "wishlist item"
        text = (
            "matching: " + ", ".join(_show(row["sku"]) for row in hits[:5])
            if hits
            else f"no matching {what} among {len(rows)}"
        )
        return text, bool(hits) == r.value

    def _address(self, r: Rule) -> tuple[str, bool]:
        c = self.d.customer
        f = r.attribute[len("address.") :]
        book = {ad["id"]: ad for ad in self.d.addresses}
        if f in ("default_billing", "default_shipping"):
            exists = c[f + "_id"] is not None and c[f + "_id"] in book
            return _show(exists), _bool_test(exists, r.operator, r.value)
        atype = r.address_type or "any"
        if atype == "any":
            vals = [ad[f] for ad in self.d.addresses]
            held = any(_str_test(x, r.operator, r.value) for x in vals)
            return (", ".join(_show(x) for x in vals) or "no addresses"), held
        ad = book.get(c[atype + "_id"]) if c[atype + "_id"] is not None else None
        val = ad[f] if ad else None
        return _show(val) + ("" if ad else f" (no {atype.replace('_', ' ')} address)"), _str_test(
            val, r.operator, r.value
        )

    def _cart(self, r: Rule, wid: int | None) -> tuple[str, bool]:
        cart = self.cart(wid)
        f = r.attribute[len("cart.") :]
        row = cart.row if cart else None
        if f == "days_since_updated":
            n = days_since(row["updated_at"], self.as_of) if row else None
            return _show(n) + ("" if row else " (no active cart)"), _num_test(
                n, r.operator, r.value
            )
        if f in ("items_count", "items_qty", "subtotal"):
            val = (row[f] if row[f] is not None else None) if row else 0
            return _show(val) + ("" if row else " (no active cart)"), _num_test(
                val, r.operator, r.value
            )
        val = row[f] if row else None
        return _show(val), _num_test(val, r.operator, r.value)

    def _sales(self, r: Rule, wid: int | None) -> tuple[str, bool]:
        a, op, v = r.attribute, r.operator, r.value
        if a in ("sales.days_since_last_order", "sales.days_since_first_order"):
            times = [o.row["created_at"] for o in self.orders(r, wid, False)]
            if not times:
                return "no orders", _num_test(None, op, v)
            t = max(times) if a.endswith("last_order") else min(times)
            n = days_since(t, self.as_of)
            return f"{n} (order of {t:%Y-%m-%d %H:%M:%S})", _num_test(n, op, v)
        orders = self.orders(r, wid, True)
        if a == "sales.orders_count":
            return str(len(orders)), _num_test(len(orders), op, v)
        key = "base_grand_total" if a == "sales.amount" else "total_qty_ordered"
        vals = [Decimal(o.row[key]) for o in orders if o.row[key] is not None]
        if r.aggregate == "average":
            if not vals:
                return (
                    f"no orders ({len(orders)} without amounts)" if orders else "no orders",
                    _num_test(None, op, v),
                )
            avg = Fraction(sum(vals, Decimal(0))) / len(vals)
            shown = f"{_num(avg)} over {len(vals)} orders"
            return shown, _num_test(avg, op, v)
        total = sum(vals, Decimal(0))
        return f"{_num(total)} over {len(orders)} orders", _num_test(total, op, v)


def _period_bounds(p: Period, as_of: datetime) -> tuple[datetime | None, datetime, bool]:
    if p.age is not None:
        return as_of - p.age, as_of, True
    lo = _instant(p.start, as_of) if p.start is not None else None
    if p.end is None:
        return lo, as_of, True
    if p.end.kind == "date":
        assert p.end.day is not None
        end_excl = datetime.combine(p.end.day, time()) + ONE_DAY
        return (lo, end_excl, False) if end_excl <= as_of else (lo, as_of, True)
    return lo, min(_instant(p.end, as_of), as_of), True


def _product_matches(it: dict[str, Any], pf: ProductFilter, ordered: bool) -> bool:
    if pf.skus is not None:
        if it["sku"] is None or _fold(it["sku"]) not in {_fold(s) for s in pf.skus}:
            return False
    if pf.name_contains is not None and not _str_test(it["name"], "{}", pf.name_contains):
        return False
    if pf.price is not None:
        price = it.get("base_price") if ordered else None
        if price is None:
            price = it["price"]
        if not _num_test(price, pf.price.operator, pf.price.value):
            return False
    return True


def _show(v: Any) -> str:
    if isinstance(v, (Decimal, Fraction)):
        return _num(v)
    if v is None:
        return "(none)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def _num(v: Decimal | Fraction) -> str:
    """Money and quantities as people write them: 1200.00, 2.5, 3 (exact, never rounded up)."""
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return str(v.numerator)
        d = Decimal(v.numerator) / Decimal(v.denominator)
        return f"{d:.4f}".rstrip("0") + ("" if d == d.quantize(Decimal("0.0001")) else "…")
    if v == v.to_integral_value():
        return f"{v:.2f}" if v.as_tuple().exponent < 0 else str(v)  # type: ignore[operator]
    text = format(v.normalize(), "f")
    return text if len(text.split(".")[1]) >= 2 else f"{v:.2f}"


def _val_text(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_val_text(x) for x in v) + "]"
    if isinstance(v, DateValue):
        return v.text()
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def describe_rule(r: Rule) -> str:
    parts = [r.attribute]
    if r.aggregate:
        parts.append(f"({r.aggregate})")
    parts.append(r.operator)
    if r.operator != "<=>":
        parts.append(_val_text(r.value))
    extra = []
    if r.period is not None:
        extra.append(f"period {r.period.text()}")
    if r.status is not None:
        extra.append("status " + "/".join(r.status))
    if r.address_type and r.address_type != "any":
        extra.append(f"address {r.address_type}")
    if r.product is not None:
        pf = r.product
        if pf.skus:
            extra.append("sku " + "/".join(pf.skus))
        if pf.name_contains:
            extra.append(f'name contains "{pf.name_contains}"')
        if pf.price:
            extra.append(f"price {pf.price.operator} {_val_text(pf.price.value)}")
    text = " ".join(parts)
    return text + (f" [{'; '.join(extra)}]" if extra else "")


def is_member(
    conn: Connection,
    seg: Segment,
    segments: dict[str, Segment],
    customer_id: int,
    as_of: datetime,
    config: Any = None,
) -> bool:
    data = load_customer(conn, customer_id, config)
    if data is None:
        return False
    return Reference(data, segments, as_of).segment(seg).result
