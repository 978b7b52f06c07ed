"""Writing hand-made or generated shop rows straight into the store (tests and benches).

Rows are plain dicts; every column not given is NULL (or its default), and every
``*_ci`` twin is filled from its column with ``fold()`` exactly as the sync does, so a
test cannot forget one.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, insert

from bridge.store import models as m
from bridge.store.push_tables import PushCustomer, PushGroup

_DEFAULTS: dict[str, Any] = {
    "deleted": False,
    "is_active": True,
    "customer_is_guest": False,
    "items_count": 0,
    "items_qty": Decimal(0),
    "subtotal": Decimal(0),
}


def complete_rows(table: Table, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row with every column of ``table`` (missing: default or NULL; ``*_ci`` folded)."""
    names = [c.name for c in table.columns]
    auto = {c.name for c in table.columns if c.autoincrement is True and c.primary_key}
    out = []
    for row in rows:
        full: dict[str, Any] = {}
        for n in names:
            if n in row:
                full[n] = row[n]
            elif n.endswith("_ci") and n[:-3] in names:
                full[n] = m.fold(row.get(n[:-3]))
            elif n in auto:
                continue
            else:
                col = table.c[n]
                if col.nullable:
                    full[n] = None
                elif n not in _DEFAULTS and col.default is not None and col.default.is_scalar:
                    full[n] = col.default.arg  # the model's own (segment_members.holdout)
                else:
                    full[n] = _DEFAULTS.get(n)
        for n in row:
            if n not in names:
                raise KeyError(f"{table.name} has no column {n}")
        out.append(full)
    return out


def insert_rows(conn: Connection, table: Table | type, rows: Iterable[dict[str, Any]]) -> None:
    t: Table = table if isinstance(table, Table) else table.__table__  # type: ignore[attr-defined]
    full = complete_rows(t, rows)
    if full:
        conn.execute(insert(t), full)


# --- a small random shop, for property tests ---------------------------------------------

STATUSES = ("pending", "processing", "complete", "canceled", "closed", None)
COUNTRIES = ("SE", "NO", "DK", "DE", "se", None)
CITIES = ("Malmö", "MALMÖ", "Straße", "STRASSE", "Oslo", "oslo", "Åre", None, "")
NAMES = ("Ann", "ANN", "Örjan", "örjan", "Straße", "strasse", "Zoë", None, "100%_x")
SKUS = ("SKU-1", "sku-1", "SKU-2", "Bag_%", None)
PRODUCT_NAMES = ("Blue Shirt", "BLUE SHIRT", "Red Bag", "Größe 10%", None)


def random_shop(
    rng: random.Random,
    as_of: datetime,
    customers: int = 8,
    link_guests: bool = True,
    push: bool = False,
    activity: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """A small shop whose values cluster around the boundaries conditions test.

    ``activity``: also wishlist items and viewed products (the storefront module's data),
    drawn after everything else (and after ``push``), so the rest is the same as without.

    ``push``: also managed groups (VIP, Gold) holding customers, what the push recorded
    (``push_groups``, ``push_customers`` home groups, some stale), as after hand moves.
    Drawn after everything else, so the rest of the shop is the same as without.
    """

    def moment() -> datetime | None:
        if rng.random() < 0.06:
            return None
        # around day boundaries before as_of, sometimes exactly on them
        days = rng.choice([0, 1, 2, 3, 7, 29, 30, 31, 89, 90, 91, 365, 400])
        secs = rng.choice([0, 1, -1, 3600, -3600, 43200, 86399, -86399])
        if rng.random() < 0.1:
            days = -rng.choice([1, 2])  # in the future of as_of
        return as_of - timedelta(days=days) + timedelta(seconds=secs)

    def money() -> Decimal | None:
        if rng.random() < 0.08:
            return None
        return Decimal(rng.choice([0, 1, 50, 99, 100, 250, 500, 1000])) + Decimal(
            rng.choice(["0", "0.0001", "0.1", "0.9999", "0.5"])
        )

    out: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "websites",
            "store_views",
            "customer_groups",
            "customers",
            "customer_addresses",
            "customer_attributes",
            "orders",
            "order_items",
            "order_addresses",
            "carts",
            "cart_items",
        )
    }
    out["websites"] = [
        dict(id=1, code="base", name="Main"),
        dict(id=2, code="nordic", name="Nordic"),
    ]
    out["store_views"] = [
        dict(id=1, code="default", website_id=1),
        dict(id=2, code="se_sv", website_id=2),
        dict(id=3, code="no_nb", website_id=2),
    ]
    out["customer_groups"] = [
        dict(id=1, code="General"),
        dict(id=2, code="Wholesale"),
        dict(id=3, code="Retailer"),
    ]
    oid = iid = aid = cid_cart = cit = 0
    emails: list[tuple[str, int]] = []
    for cid in range(1, customers + 1):
        website = rng.choice([1, 1, 2])
        email = rng.choice(["ann@example.se", "ANN@EXAMPLE.SE", "b@x.com", "örjan@ex.no"]) + str(
            cid
        )
        emails.append((email, website))
        dob = None
        if rng.random() < 0.8:
            d = as_of.date() + timedelta(days=rng.choice([0, 1, -1, 30, 31, 200, 364, 365]))
            try:
                dob = date(rng.choice([1980, 1990, 2000, 1996]), d.month, d.day)
            except ValueError:
                dob = date(1996, 2, 29)
            if rng.random() < 0.15:
                dob = date(rng.choice([1992, 2000]), 2, 29)
        out["customers"].append(
            dict(
                id=cid,
                website_id=website,
                store_id=rng.choice([1, 2, 3, None]),
                group_id=rng.choice([1, 1, 2, 3, 9]),
                email=email,
                firstname=rng.choice(NAMES),
                lastname=rng.choice(NAMES),
                taxvat=rng.choice([None, "SE123"]),
                created_in=rng.choice(["Default Store View", "Nordic", None]),
                gender=rng.choice([None, 0, 1, 2, 3]),
                dob=dob,
                created_at=moment(),
                is_subscribed=rng.choice([None, True, False]),
                deleted=rng.random() < 0.05,
            )
        )
        n_addr = rng.choice([0, 1, 2])
        ids = []
        for _ in range(n_addr):
            aid += 1
            ids.append(aid)
            out["customer_addresses"].append(
                dict(
                    id=aid,
                    customer_id=cid,
                    city=rng.choice(CITIES),
                    country_id=rng.choice(COUNTRIES),
                    postcode=rng.choice(["111 22", "0150", None]),
                    firstname=rng.choice(NAMES),
                )
            )
        c = out["customers"][-1]
        c["default_billing_id"] = rng.choice(ids + [None]) if ids else rng.choice([None, 999])
        c["default_shipping_id"] = rng.choice(ids + [None]) if ids else None
        if rng.random() < 0.5:
            out["customer_attributes"].append(
                dict(
                    customer_id=cid,
                    code="loyalty_tier",
                    value=rng.choice(["Gold", "GOLD", "silver", None]),
                )
            )
        for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
            oid += 1
            out["orders"].append(
                dict(
                    id=oid,
                    customer_id=cid,
                    customer_email=email,
                    website_id=rng.choice([website, website, 1, 2]),
                    store_id=1,
                    status=rng.choice(STATUSES),
                    created_at=moment(),
                    base_grand_total=money(),
                    grand_total=money(),
                    total_qty_ordered=rng.choice([None, Decimal(1), Decimal("2.5"), Decimal(3)]),
                    deleted=rng.random() < 0.05,
                )
            )
            for _ in range(rng.choice([0, 1, 2])):
                iid += 1
                out["order_items"].append(
                    dict(
                        id=iid,
                        order_id=oid,
                        sku=rng.choice(SKUS),
                        name=rng.choice(PRODUCT_NAMES),
                        price=money(),
                        base_price=rng.choice([None, money()]),
                    )
                )
            for atype in rng.sample(["billing", "shipping"], rng.choice([0, 1, 2])):
                out["order_addresses"].append(
                    dict(
                        order_id=oid,
                        address_type=atype,
                        city=rng.choice(CITIES),
                        country_id=rng.choice(COUNTRIES),
                    )
                )
        for _ in range(rng.choice([0, 0, 1, 2])):
            cid_cart += 1
            out["carts"].append(
                dict(
                    id=cid_cart,
                    customer_id=cid,
                    website_id=rng.choice([website, 1, 2]),
                    store_id=1,
                    is_active=rng.random() < 0.8,
                    items_count=rng.choice([0, 1, 3]),
                    items_qty=rng.choice([Decimal(0), Decimal(1), Decimal("3.5")]),
                    subtotal=money() or Decimal(0),
                    grand_total=money(),
                    tax_amount=money(),
                    updated_at=moment(),
                    deleted=rng.random() < 0.05,
                )
            )
            for _ in range(rng.choice([0, 1, 2])):
                cit += 1
                out["cart_items"].append(
                    dict(
                        id=cit,
                        cart_id=cid_cart,
                        sku=rng.choice(SKUS),
                        name=rng.choice(PRODUCT_NAMES),
                        price=money(),
                        qty=Decimal(1),
                    )
                )
    if link_guests:
        for _ in range(rng.choice([0, 1, 3])):
            email, website = rng.choice(emails)
            owner = next(c["id"] for c in out["customers"] if c["email"] == email)
            oid += 1
            out["orders"].append(
                dict(
                    id=oid,
                    customer_id=None,
                    customer_is_guest=True,
                    customer_email=email,
                    guest_customer_id=owner,
                    website_id=website,
                    store_id=1,
                    status=rng.choice(STATUSES),
                    created_at=moment(),
                    base_grand_total=money(),
                    total_qty_ordered=Decimal(1),
                )
            )
    if push:
        _push_records(rng, out, as_of)
    if activity:
        _activity_records(rng, out, moment, money)
    return out


def _activity_records(rng: random.Random, out: dict[str, list[dict[str, Any]]],
                      moment: Any, money: Any) -> None:
    """Wishlist items (a product may be there twice) and viewed products (one row per
    customer and product), on products with boundary-clustered skus, names and prices."""
    products = [dict(product_id=p, sku=rng.choice(SKUS), name=rng.choice(PRODUCT_NAMES),
                     price=money()) for p in range(1, 7)]
    out["wishlist_items"], out["product_views"] = [], []
    for c in out["customers"]:
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            product = rng.choice(products)
            added = moment() or datetime(2000, 1, 1)
            out["wishlist_items"].append(dict(
                id=len(out["wishlist_items"]) + 1, customer_id=c["id"], **product,
                store_id=1, website_id=rng.choice([1, 2, None]), added_at=added))
        for product in rng.sample(products, rng.choice([0, 0, 1, 2, 3])):
            added = moment() or datetime(2000, 1, 1)
            out["product_views"].append(dict(
                customer_id=c["id"], view_id=len(out["product_views"]) + 1, **product,
                store_id=1, website_id=rng.choice([1, 2, None]), added_at=added))


MANAGED_GROUPS = {4: "VIP", 5: "Gold"}


def _push_records(
    rng: random.Random, out: dict[str, list[dict[str, Any]]], as_of: datetime
) -> None:
    """Managed groups with customers in them, and the push's records of home groups."""
    out["customer_groups"] += [dict(id=i, code=c) for i, c in MANAGED_GROUPS.items()]
    out["push_groups"] = [
        dict(code_ci=code.casefold(), code=code, group_id=gid, created=True, recorded_at=as_of)
        for gid, code in MANAGED_GROUPS.items()
        if rng.random() < 0.6
    ]
    out["push_customers"] = []
    for c in out["customers"]:
        c["group_id"] = rng.choice([1, 2, 3, 4, 5, 9])
        if rng.random() < 0.7:
            out["push_customers"].append(
                dict(
                    customer_id=c["id"],
                    home_group_id=rng.choice([1, 2, 3, 9]),
                    first_seen_at=as_of,
                    written_group_id=rng.choice([None, 4, 5]),
                )
            )


TABLE_ORDER = (
    ("websites", m.Website),
    ("store_views", m.StoreView),
    ("customer_groups", m.CustomerGroup),
    ("customers", m.Customer),
    ("customer_addresses", m.CustomerAddress),
    ("customer_attributes", m.CustomerAttribute),
    ("orders", m.Order),
    ("order_items", m.OrderItem),
    ("order_addresses", m.OrderAddress),
    ("carts", m.Cart),
    ("cart_items", m.CartItem),
    ("push_groups", PushGroup),
    ("push_customers", PushCustomer),
    ("wishlist_items", m.WishlistItem),
    ("product_views", m.ProductView),
)


def write_shop(conn: Connection, shop: dict[str, list[dict[str, Any]]]) -> None:
    for key, model in TABLE_ORDER:
        insert_rows(conn, model, shop.get(key, []))


def clear_shop(conn: Connection) -> None:
    for _key, model in reversed(TABLE_ORDER):
        conn.execute(model.__table__.delete())
