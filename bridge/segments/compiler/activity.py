"""The activity pass: wishlist items and viewed products (the storefront module's data).

One grouped pass over ``wishlist_items`` sets a per-customer 0/1 flag for every
``product.in_wishlist`` condition (website scope × product filter) of every segment, and
one over ``product_views`` for every ``product.viewed`` condition (website scope ×
period × product filter). A row counts when it was added (wishlist) or last viewed
(views) no later than the evaluation time and, in a segment with a website, in one of
that website's store views; a view also has to lie in the condition's period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, not_, select

from bridge.segments.compiler.compare import product_pred
from bridge.segments.compiler.sql import flag_of, is1
from bridge.segments.compiler.state import State, Step
from bridge.segments.model import Rule
from bridge.store import models as m

WL = m.WishlistItem.__table__
PV = m.ProductView.__table__


@dataclass(frozen=True)
class ActivityScope:
    """Which rows of one table a condition looks at."""

    website_id: int | None
    lo: datetime | None = None  # views with a period: the earliest last view counted
    hi: datetime | None = None  # the latest (None: the evaluation time)
    hi_inclusive: bool = True


def activity_leaf(st: State, r: Rule, wid: int | None) -> ColumnElement[bool]:
    """``product.in_wishlist`` or ``product.viewed``: a flag column of the table's pass."""
    assert r.product is not None
    viewed = r.attribute == "product.viewed"
    scope = ActivityScope(wid)
    if viewed and r.period is not None:
        lo, hi, inclusive = r.period.bounds(st.as_of)
        scope = ActivityScope(wid, lo, hi, inclusive)
    key, flags = ("pv", st.view_flags) if viewed else ("wl", st.wishlist_flags)
    name = flags.setdefault((scope, r.product), f"{key}{len(flags)}")
    flag = is1(st.tcol(key, name))
    return flag if r.value else not_(flag)


def _scope_pred(rows: Table, scope: ActivityScope, as_of: datetime) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if scope.lo is not None:
        parts.append(rows.c.added_at >= scope.lo)
    if scope.hi is not None and not (scope.hi_inclusive and scope.hi >= as_of):
        parts.append(rows.c.added_at <= scope.hi if scope.hi_inclusive
                     else rows.c.added_at < scope.hi)
    if scope.website_id is not None:
        parts.append(rows.c.website_id == scope.website_id)
    return and_(*parts) if parts else rows.c.added_at.is_not(None)


def _pass(st: State, key: str, rows: Table, flags: dict[Any, str]) -> Step:
    cols = {name: flag_of(and_(_scope_pred(rows, scope, st.as_of),
                               product_pred(rows, pf, ordered=False)))
            for (scope, pf), name in flags.items()}
    q = (select(rows.c.customer_id.label("customer_id"))
         .where(rows.c.added_at <= st.as_of)
         .group_by(rows.c.customer_id))
    return st.fill(key, cols, q)


def activity_steps(st: State) -> list[Step]:
    steps: list[Step] = []
    if "wl" in st.tables:
        steps.append(_pass(st, "wl", WL, st.wishlist_flags))
    if "pv" in st.tables:
        steps.append(_pass(st, "pv", PV, st.view_flags))
    return steps
