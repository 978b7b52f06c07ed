"""Customer conditions: no pass of their own. They test columns of the customers table
(and of the custom-attribute and push_customers rows that the membership SELECT joins),
so they are plain expressions in that SELECT."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, or_

from bridge.segments.attributes import CUSTOMER_STRING_FIELDS, GENDERS
from bridge.segments.compiler.compare import (
    birthday_compare,
    bool_compare,
    code_compare,
    date_compare,
    datetime_compare,
    days_since_compare,
    str_compare,
)
from bridge.segments.compiler.sql import ATTR, C, nn
from bridge.segments.compiler.state import State
from bridge.segments.model import Rule, managed_group_ids
from bridge.store import models as m


def custom_attribute_leaf(st: State, r: Rule) -> ColumnElement[bool]:
    """``customer.attribute.<code>``: the value on a joined customer_attributes row."""
    code = r.attribute[len("customer.attribute.") :]
    alias = st.custom_attrs.setdefault(code, ATTR.alias(f"ca_{len(st.custom_attrs)}"))
    return str_compare(alias.c.value_ci, r.operator, r.value)


def home_group(st: State) -> ColumnElement[Any]:
    """The customer's home group id (model.home_group_id): the current group unless
    segbridge manages it, else the push's record, else the current group."""
    st.uses_home_group = True
    managed = managed_group_ids(
        st.lookups.recorded_group_ids, st.lookups.groups, st.by_code.values()
    )
    if st.lookups.has_push_customers and managed:
        from bridge.store import schema  # noqa: F401 - registers push_customers

        pc = m.Base.metadata.tables["push_customers"]
        recorded_home = func.coalesce(pc.c.home_group_id, C.c.group_id)
        return case((C.c.group_id.in_(sorted(managed)), recorded_home), else_=C.c.group_id)
    return C.c.group_id


def customer_leaf(st: State, r: Rule) -> ColumnElement[bool]:
    a, op, v = r.attribute, r.operator, r.value
    f = a[len("customer.") :]
    if f in CUSTOMER_STRING_FIELDS or f == "created_in":
        return str_compare(C.c[f + "_ci"], op, v)
    if f == "group":
        st.uses_home_group = True
        gid = home_group(st)
        return code_compare(gid, op, v, st.lookups.groups)
    if f == "website":
        return code_compare(C.c.website_id, op, v, st.lookups.websites)
    if f == "store":
        return code_compare(C.c.store_id, op, v, st.lookups.stores)
    if f == "gender":
        g = C.c.gender
        known = g.in_(list(GENDERS.values()))
        if op == "<=>":
            return or_(g.is_(None), not_(known))
        vals = [GENDERS[x] for x in (v if isinstance(v, tuple) else (v,))]
        inside = g.in_(vals)
        if op in ("==", "()"):
            return nn(g, inside)
        return nn(g, and_(known, not_(inside)))
    if f == "dob":
        return date_compare(C.c.dob, op, v, st.as_of)
    if f == "days_until_birthday":
        return birthday_compare(C.c.dob, op, v, st.as_of)
    if f == "created_at":
        return datetime_compare(C.c.created_at, op, v, st.as_of)
    if f == "days_since_created":
        return days_since_compare(C.c.created_at, op, v, st.as_of)
    if f == "is_subscribed":
        return bool_compare(C.c.is_subscribed, op, v)
    raise ValueError(f"no compiler for {a}")
