"""The items pass: one grouped pass over the ordered item rows sets a per-customer 0/1
flag for every ``product.ordered`` condition (order scope × product filter) of every
segment (see ``orders.rows_by_customer``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, not_

from bridge.segments.compiler.compare import product_pred
from bridge.segments.compiler.orders import order_scope, rows_by_customer
from bridge.segments.compiler.sql import OI, is1
from bridge.segments.compiler.state import State, Step
from bridge.segments.model import Rule


def product_ordered_leaf(st: State, r: Rule, wid: int | None) -> ColumnElement[bool]:
    k = order_scope(st, r, wid, with_period=True)
    assert r.product is not None
    name = st.item_flags.setdefault((k, r.product), f"pi{len(st.item_flags)}")
    flag = is1(st.tcol("pi", name))
    return flag if r.value else not_(flag)


def items_steps(st: State) -> list[Step]:
    if "pi" not in st.tables:
        return []

    def item_pred(fk: Any) -> ColumnElement[bool]:
        return product_pred(OI, fk[1], ordered=True)

    return [rows_by_customer(st, "pi", OI, st.item_flags, item_pred, kind="rows")]
