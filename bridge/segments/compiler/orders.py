"""The orders pass: ONE grouped pass over orders fills per-customer aggregates.

Every distinct (period, status, website) combination that any sales condition of any
segment uses is an order scope; each (scope, aggregate) is a column of the one
``GROUP BY`` over orders. The item and order-address passes count rows of orders too:
they share the scopes, the owner and ``rows_by_customer`` defined here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Numeric,
    Table,
    and_,
    case,
    false,
    func,
    select,
)

from bridge.segments.compiler.compare import days_since_compare, num_compare
from bridge.segments.compiler.sql import O, any_of, by_rowid, sum_units
from bridge.segments.compiler.state import OrderScope, State, Step
from bridge.segments.model import Rule


def order_scope(st: State, rule: Rule, website_id: int | None, with_period: bool) -> int:
    lo, hi, inc = (None, st.as_of, True)
    if with_period and rule.period is not None:
        lo, hi, inc = rule.period.bounds(st.as_of)
    scope = OrderScope(lo, hi, inc, rule.status, website_id)
    if scope not in st.order_scopes:
        st.order_scopes[scope] = len(st.order_scopes)
    return st.order_scopes[scope]


def order_col(st: State, k: int, agg: str) -> ColumnElement[Any]:
    name = st.order_cols.setdefault((k, agg), f"o{k}_{agg}")
    typ = {
        "count": BigInteger,
        "amount_n": BigInteger,
        "qty_n": BigInteger,
        "amount_sum": Numeric(38, 0),
        "qty_sum": Numeric(38, 0),
        "last": DateTime,
        "first": DateTime,
    }[agg]
    return st.tcol("o", name, typ)


def sales_leaf(st: State, r: Rule, wid: int | None) -> ColumnElement[bool]:
    a, op, v = r.attribute, r.operator, r.value
    if a in ("sales.days_since_last_order", "sales.days_since_first_order"):
        k = order_scope(st, r, wid, with_period=False)
        agg = "last" if a.endswith("last_order") else "first"
        return days_since_compare(order_col(st, k, agg), op, v, st.as_of)
    k = order_scope(st, r, wid, with_period=True)
    if a == "sales.orders_count":
        return num_compare(func.coalesce(order_col(st, k, "count"), 0), op, v, 0)
    base = "amount" if a == "sales.amount" else "qty"
    total = func.coalesce(order_col(st, k, f"{base}_sum"), 0)
    if r.aggregate == "average":
        return num_compare(total, op, v, 4, n=order_col(st, k, f"{base}_n"))
    return num_compare(total, op, v, 4)


def owner(st: State) -> ColumnElement[Any]:
    """Whose order it is: the customer, or (sync.link_guest_orders) the guest's match."""
    if st.link_guests:
        return func.coalesce(O.c.customer_id, O.c.guest_customer_id)
    return O.c.customer_id


def order_pred(st: State, k: int) -> ColumnElement[bool]:
    scope = next(s for s, i in st.order_scopes.items() if i == k)
    parts: list[ColumnElement[bool]] = []
    t = O.c.created_at
    if scope.lo is not None:
        parts.append(t >= scope.lo)
    if not (scope.hi_inclusive and scope.hi >= st.as_of):  # else: the WHERE has it
        parts.append(t <= scope.hi if scope.hi_inclusive else t < scope.hi)
    if scope.status is None:
        parts.append(func.coalesce(O.c.status, "") != "canceled")
    else:
        parts.append(O.c.status.in_(list(scope.status)))
    if scope.website_id is not None:
        parts.append(O.c.website_id == scope.website_id)
    return and_(*parts)


def orders_base_filter(st: State, scopes: Sequence[int]) -> ColumnElement[bool]:
    """Rows any of ``scopes`` can count (lets the database skip old orders early)."""
    conds = [O.c.deleted == false(), owner(st).is_not(None), O.c.created_at <= st.as_of]
    los = [s.lo for s, i in st.order_scopes.items() if i in scopes]
    if los and all(lo is not None for lo in los):
        conds.append(O.c.created_at >= min(lo for lo in los if lo is not None))
    return and_(*conds)


def rows_by_customer(
    st: State,
    key: str,
    rows: Table,
    flags: dict[Any, str],
    row_pred: Callable[[Any], ColumnElement[bool]],
    kind: str,
) -> Step:
    """Temp table ``key``: per customer, a 0/1 flag per entry of ``flags``.

    ``flags`` maps (order scope, row filter…) to a column name; ``row_pred(that key)``
    is the row filter. One pass over the ``rows`` (item or order-address rows), each
    row's order found by primary key, keeping the rows that set some flag, grouped
    by the order's owner. The rows come in order-id order, so on SQLite the lookups
    walk the orders table forwards; probing per-order flags from the orders pass
    instead (which reads orders in customer order) costs a random B-tree search per
    order and flag table: about three times the orders pass itself at 4M orders.
    The flags are computed per row in a subquery that SQLite may not flatten
    (``LIMIT -1``), so its GROUP BY sorts three integers a row, not the row's strings.
    """
    sets = {name: and_(order_pred(st, fk[0]), row_pred(fk)) for fk, name in flags.items()}
    scopes = sorted({fk[0] for fk in flags})
    per_row = (
        select(
            owner(st).label("customer_id"),
            *[case((cond, 1), else_=0).label(name) for name, cond in sets.items()],
        )
        .select_from(rows.join(O, O.c.id == by_rowid(rows.c.order_id)))
        .where(and_(orders_base_filter(st, scopes), any_of(list(sets.values()))))
        .suffix_with("LIMIT -1", dialect="sqlite")
        .subquery(f"sb_{key}_rows")
    )
    table = st.tables[key]
    names = [c.name for c in table.columns if c.name != "customer_id"]
    q = select(
        per_row.c.customer_id, *[func.max(per_row.c[n]).label(n) for n in names]
    ).group_by(per_row.c.customer_id)
    return Step(table, ["customer_id", *names], q, kind=kind)


def orders_steps(st: State) -> list[Step]:
    """The orders pass: ONE grouped pass serves every sales condition of every segment."""
    if "o" not in st.tables:
        return []
    cols: dict[str, ColumnElement[Any]] = {}
    for (k, agg), name in st.order_cols.items():
        p = order_pred(st, k)
        if agg == "count":
            cols[name] = func.sum(case((p, 1), else_=0))
        elif agg in ("amount_sum", "qty_sum"):
            col = O.c.base_grand_total if agg == "amount_sum" else O.c.total_qty_ordered
            cols[name] = sum_units(case((p, col), else_=None))
        elif agg in ("amount_n", "qty_n"):
            col = O.c.base_grand_total if agg == "amount_n" else O.c.total_qty_ordered
            cols[name] = func.count(case((p, col), else_=None))
        elif agg == "last":
            cols[name] = func.max(case((p, O.c.created_at), else_=None))
        elif agg == "first":
            cols[name] = func.min(case((p, O.c.created_at), else_=None))
    scopes = sorted({k for k, _ in st.order_cols})
    # Grouped on the plain column, SQLite walks ix_orders_segment_eval (a covering
    # index, in customer order): no sort and no table lookups. Linked guest
    # orders need the computed owner, which sorts instead.
    who = owner(st)
    q = select(who.label("customer_id")).where(orders_base_filter(st, scopes)).group_by(who)
    step = st.fill("o", cols, q)
    step.kind, step.split_key = "orders", who
    return [step]
