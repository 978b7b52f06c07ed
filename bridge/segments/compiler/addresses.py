"""The address passes: one grouped pass over the order-address rows (a 0/1 flag per
``sales.order_address.*`` condition, see ``orders.rows_by_customer``) and one over the
address book (a 0/1 flag per ``address.*`` condition, plus whether the customer has a
default billing and shipping address)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_, or_, select

from bridge.segments.compiler.compare import str_compare
from bridge.segments.compiler.orders import order_scope, rows_by_customer
from bridge.segments.compiler.sql import CA, OA, C, flag_of, hashable, is1, unhash
from bridge.segments.compiler.state import State, Step
from bridge.segments.model import Rule


def order_address_leaf(st: State, r: Rule, wid: int | None) -> ColumnElement[bool]:
    k = order_scope(st, r, wid, with_period=True)
    f = r.attribute[len("sales.order_address.") :]
    key = (k, r.address_type or "any", f, r.operator, hashable(r.value))
    name = st.oaddr_flags.setdefault(key, f"oa{len(st.oaddr_flags)}")
    return is1(st.tcol("oa", name))


def address_leaf(st: State, r: Rule) -> ColumnElement[bool]:
    f = r.attribute[len("address.") :]
    if f in ("default_billing", "default_shipping"):
        has = is1(st.tcol("ca", f"has_{f}"))
        if r.operator == "<=>":
            return false()
        want = bool(r.value)
        holds = has if want else not_(has)
        return holds if r.operator == "==" else not_(holds)
    atype = r.address_type or "any"
    key = (atype, f, r.operator, hashable(r.value))
    name = st.caddr_flags.setdefault(key, f"a{len(st.caddr_flags)}")
    flag = is1(st.tcol("ca", name))
    if atype != "any" and r.operator == "<=>":
        # no default address at all: the value is undefined too
        return or_(flag, not_(is1(st.tcol("ca", f"has_{atype}"))))
    return flag


def order_address_steps(st: State) -> list[Step]:
    if "oa" not in st.tables:
        return []

    def addr_pred(fk: Any) -> ColumnElement[bool]:
        _k, atype, f, op, hv = fk
        cond = str_compare(OA.c[f + "_ci"], op, unhash(hv))
        return cond if atype == "any" else and_(OA.c.address_type == atype, cond)

    return [rows_by_customer(st, "oa", OA, st.oaddr_flags, addr_pred, "main")]


def address_book_steps(st: State) -> list[Step]:
    if "ca" not in st.tables:
        return []
    cols = {
        "has_default_billing": flag_of(CA.c.id == C.c.default_billing_id),
        "has_default_shipping": flag_of(CA.c.id == C.c.default_shipping_id),
    }
    for (atype, f, op, hv), name in st.caddr_flags.items():
        cond = str_compare(CA.c[f + "_ci"], op, unhash(hv))
        if atype == "default_billing":
            cond = and_(CA.c.id == C.c.default_billing_id, cond)
        elif atype == "default_shipping":
            cond = and_(CA.c.id == C.c.default_shipping_id, cond)
        cols[name] = flag_of(cond)
    q = (
        select(CA.c.customer_id.label("customer_id"))
        .select_from(CA.join(C, C.c.id == CA.c.customer_id))
        .group_by(CA.c.customer_id)
    )
    return [st.fill("ca", cols, q)]
