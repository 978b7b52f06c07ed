"""The cart pass: per website scope, the customer's active cart (the most recently
updated one) is picked once into a temp table, and one grouped pass over that cart's
items sets a 0/1 flag per ``product.in_cart`` condition."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Table,
    and_,
    case,
    false,
    func,
    not_,
    select,
    true,
)

from bridge.segments.compiler.compare import days_since_compare, num_compare, product_pred
from bridge.segments.compiler.sql import CI, CT, flag_of, is1, units
from bridge.segments.compiler.state import State, Step
from bridge.segments.model import Rule

CART_COLUMNS: list[tuple[str, Any]] = [
    ("cart_id", Integer),
    ("items_count", Integer),
    ("items_qty_u", BigInteger),
    ("subtotal_u", BigInteger),
    ("grand_total_u", BigInteger),
    ("tax_amount_u", BigInteger),
    ("updated_at", DateTime),
]


def cart_scope(st: State, website_id: int | None) -> int:
    if website_id not in st.cart_scopes:
        k = len(st.cart_scopes)
        st.cart_scopes[website_id] = k
        for name, typ in CART_COLUMNS:
            st.tcol(f"cart{k}", name, typ)
    return st.cart_scopes[website_id]


def cart_table(st: State, k: int) -> Table:
    return st.tables[f"cart{k}"]


def cart_leaf(st: State, r: Rule, wid: int | None) -> ColumnElement[bool]:
    k = cart_scope(st, wid)
    f = r.attribute[len("cart.") :]
    t = cart_table(st, k)
    if f == "days_since_updated":
        return days_since_compare(t.c.updated_at, r.operator, r.value, st.as_of)
    if f == "items_count":
        return num_compare(func.coalesce(t.c.items_count, 0), r.operator, r.value, 0)
    if f in ("items_qty", "subtotal"):
        return num_compare(func.coalesce(t.c[f"{f}_u"], 0), r.operator, r.value, 4)
    if f in ("grand_total", "tax_amount"):
        return num_compare(t.c[f"{f}_u"], r.operator, r.value, 4)
    raise ValueError(r.attribute)


def product_in_cart_leaf(st: State, r: Rule, wid: int | None) -> ColumnElement[bool]:
    k = cart_scope(st, wid)
    assert r.product is not None
    name = st.cart_item_flags.setdefault((k, r.product), f"ci{k}_{len(st.cart_item_flags)}")
    flag = is1(st.tcol(f"ci{k}", name))
    return flag if r.value else not_(flag)


def cart_steps(st: State) -> list[Step]:
    """The active cart per website scope, and its items."""
    steps: list[Step] = []
    for wid, k in st.cart_scopes.items():
        nulls_last = case((CT.c.updated_at.is_(None), 0), else_=1)
        conds = [
            CT.c.is_active == true(),
            CT.c.deleted == false(),
            CT.c.customer_id.is_not(None),
        ]
        if wid is not None:
            conds.append(CT.c.website_id == wid)
        ranked = (
            select(
                CT.c.customer_id,
                CT.c.id.label("cart_id"),
                CT.c.items_count,
                units(CT.c.items_qty).label("items_qty_u"),
                units(CT.c.subtotal).label("subtotal_u"),
                units(CT.c.grand_total).label("grand_total_u"),
                units(CT.c.tax_amount).label("tax_amount_u"),
                CT.c.updated_at,
                func.row_number()
                .over(
                    partition_by=CT.c.customer_id,
                    order_by=(nulls_last.desc(), CT.c.updated_at.desc(), CT.c.id.desc()),
                )
                .label("rn"),
            )
            .where(and_(*conds))
            .subquery()
        )
        cart_t = st.tables[f"cart{k}"]
        names = [n for n, _ in CART_COLUMNS]
        q = select(ranked.c.customer_id, *[ranked.c[n] for n in names]).where(ranked.c.rn == 1)
        steps.append(Step(cart_t, ["customer_id", *names], q))
        if f"ci{k}" in st.tables:
            cols = {
                name: flag_of(product_pred(CI, pf, ordered=False))
                for (kk, pf), name in st.cart_item_flags.items()
                if kk == k
            }
            q = (
                select(cart_t.c.customer_id.label("customer_id"))
                .select_from(CI.join(cart_t, cart_t.c.cart_id == CI.c.cart_id))
                .group_by(cart_t.c.customer_id)
            )
            steps.append(st.fill(f"ci{k}", cols, q))
    return steps
