"""The membership SELECT: every wanted segment's condition tree becomes one boolean
column of ONE ``SELECT`` over customers that LEFT JOINs the passes' temp tables.

Segment references are inlined (the referenced segment's expression, website included),
which is the same as evaluating in dependency order, with no extra pass. Each leaf is
handed to its pass (``leaf``); once every segment is compiled, each pass turns what its
conditions registered into the steps that fill its temp tables (``compile_segments``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, not_, select

from bridge.segments.attributes import attribute_spec
from bridge.segments.compiler.activity import activity_leaf, activity_steps
from bridge.segments.compiler.addresses import (
    address_book_steps,
    address_leaf,
    order_address_leaf,
    order_address_steps,
)
from bridge.segments.compiler.cart import cart_leaf, cart_steps, product_in_cart_leaf
from bridge.segments.compiler.customers import custom_attribute_leaf, customer_leaf
from bridge.segments.compiler.items import items_steps, product_ordered_leaf
from bridge.segments.compiler.orders import orders_steps, sales_leaf
from bridge.segments.compiler.sql import C, all_of, any_of
from bridge.segments.compiler.state import CompiledPlan, Lookups, State, Step
from bridge.segments.model import Combine, Condition, Rule, Segment
from bridge.store import models as m


def membership(st: State, seg: Segment) -> ColumnElement[bool]:
    if seg.code in st.membership_cache:
        return st.membership_cache[seg.code]
    wid = st.lookups.website_id(seg.website)
    if wid == -1:
        st.warnings.append(
            f"segment {seg.code}: website {seg.website!r} is not in the store (sync first?): "
            "nobody matches"
        )
    expr = combine(st, seg.conditions, seg, wid)
    if wid is not None:
        expr = and_(C.c.website_id == wid, expr)
    st.membership_cache[seg.code] = expr
    return expr


def combine(st: State, node: Combine, seg: Segment, wid: int | None) -> ColumnElement[bool]:
    children = [condition(st, c, seg, wid) for c in node.rules]
    if not node.value:
        children = [not_(c) for c in children]
    return all_of(children) if node.match == "all" else any_of(children)


def condition(st: State, node: Condition, seg: Segment, wid: int | None) -> ColumnElement[bool]:
    if isinstance(node, Combine):
        return combine(st, node, seg, wid)
    return leaf(st, node, seg, wid)


def leaf(st: State, r: Rule, seg: Segment, wid: int | None) -> ColumnElement[bool]:
    """One condition, handed to the pass that answers its attribute."""
    a, op, v = r.attribute, r.operator, r.value
    spec = attribute_spec(a)
    assert spec is not None
    if a == "segment":
        refs = [membership(st, st.by_code[c]) for c in v]
        found = any_of(refs)
        return found if op == "()" else not_(found)
    if a.startswith("customer.attribute."):
        return custom_attribute_leaf(st, r)
    if a.startswith("customer."):
        return customer_leaf(st, r)
    if a.startswith("address."):
        return address_leaf(st, r)
    if a.startswith("cart."):
        return cart_leaf(st, r, wid)
    if a.startswith("sales.order_address."):
        return order_address_leaf(st, r, wid)
    if a.startswith("sales."):
        return sales_leaf(st, r, wid)
    if a == "product.ordered":
        return product_ordered_leaf(st, r, wid)
    if a == "product.in_cart":
        return product_in_cart_leaf(st, r, wid)
    if a in ("product.in_wishlist", "product.viewed"):
        return activity_leaf(st, r, wid)
    raise ValueError(f"no compiler for {a}")


def pass_steps(st: State) -> list[Step]:
    """Every pass's steps, in the order they run.

    1. product and order-address conditions: one grouped pass over the item rows and
       one over the order-address rows, each serving every such condition of every
       segment as a per-customer 0/1 flag column (see ``orders.rows_by_customer``);
    2. orders: ONE grouped pass serves every sales condition of every segment;
    3. the address book;
    4. the active cart per website scope, and its items;
    5. wishlist items and viewed products (the storefront module's data).
    """
    return [
        *items_steps(st),
        *order_address_steps(st),
        *orders_steps(st),
        *address_book_steps(st),
        *cart_steps(st),
        *activity_steps(st),
    ]


def membership_select(
    st: State, exprs: list[tuple[str, ColumnElement[bool]]]
) -> Select[Any]:
    """ONE SELECT over customers computes every wanted segment (``exprs``: label and
    membership expression); the customers it considers are filtered here."""
    frm: Any = C
    for table in st.tables.values():
        frm = frm.outerjoin(table, table.c.customer_id == C.c.id)
    for code, alias in st.custom_attrs.items():
        frm = frm.outerjoin(alias, and_(alias.c.customer_id == C.c.id, alias.c.code == code))
    if st.uses_home_group and st.lookups.has_push_customers:
        pc = m.Base.metadata.tables["push_customers"]
        frm = frm.outerjoin(pc, pc.c.customer_id == C.c.id)
    return (
        select(C.c.id.label("customer_id"), *[e.label(lbl) for lbl, e in exprs])
        .select_from(frm)
        .where(C.c.deleted == false())
    )


def build(st: State, wanted: Sequence[Segment]) -> CompiledPlan:
    labels: dict[str, str] = {}
    exprs: list[tuple[str, ColumnElement[bool]]] = []
    for i, seg in enumerate(wanted):
        label = f"s{i}"
        labels[seg.code] = label
        exprs.append((label, membership(st, seg)))
    steps = pass_steps(st)
    return CompiledPlan(st.md, steps, membership_select(st, exprs), labels, st.warnings)


def compile_segments(
    segments: Sequence[Segment],
    as_of: datetime,
    config: Any,
    lookups: Lookups,
    only: Sequence[str] | None = None,
) -> CompiledPlan:
    """The SQL that computes membership of ``only`` (default: every active segment).

    ``segments`` must contain every segment that the wanted ones reference.
    """
    st = State(segments, as_of, config, lookups)
    wanted = [s for s in segments if s.active and (only is None or s.code in only)]
    return build(st, wanted)
