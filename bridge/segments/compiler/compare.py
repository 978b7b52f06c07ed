"""Comparisons: one condition's operator and value against a column, as SQL that is
never NULL (so NOT and the all/any × true/false combine behave exactly as Magento's
Combine).

Day counts are turned into bounds on timestamps computed in Python, so no database date
arithmetic is involved. Strings are compared on the ``*_ci`` columns (``str.casefold()``
written by the sync) against values folded here; codes behind ids (groups, websites,
stores) are matched in Python and become id lists. Averages are compared as
``sum op value × count``.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Table,
    and_,
    extract,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)

from bridge.segments.compiler.sql import (
    any_of,
    codepoint,
    distinct,
    in_list,
    nn,
    to_units,
    units,
)
from bridge.segments.model import DAY, DateValue, ProductFilter


def str_compare(col: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    """A case-insensitive string test on a folded column (see module docstring)."""
    if op == "<=>":
        return col.is_(None)
    if op == "==":
        return nn(col, col == value.casefold())
    if op == "!=":
        return nn(col, col != value.casefold())
    if op == "{}":
        return nn(col, col.contains(value.casefold(), autoescape=True))
    if op == "!{}":
        return nn(col, not_(col.contains(value.casefold(), autoescape=True)))
    if op == "()":
        return nn(col, in_list(col, distinct([v.casefold() for v in value])))
    if op == "!()":
        return nn(col, not_(in_list(col, distinct([v.casefold() for v in value]))))
    ordered = codepoint(col)
    if op == "between":
        lo, hi = value
        return nn(col, and_(ordered >= lo.casefold(), ordered <= hi.casefold()))
    return nn(col, _ordering(ordered, op, value.casefold()))


def _ordering(col: Any, op: str, v: Any) -> ColumnElement[bool]:
    if op == ">=":
        return col >= v  # type: ignore[no-any-return]
    if op == ">":
        return col > v  # type: ignore[no-any-return]
    if op == "<=":
        return col <= v  # type: ignore[no-any-return]
    if op == "<":
        return col < v  # type: ignore[no-any-return]
    if op == "==":
        return col == v  # type: ignore[no-any-return]
    if op == "!=":
        return col != v  # type: ignore[no-any-return]
    raise ValueError(op)


def num_compare(
    u: ColumnElement[Any], op: str, value: Any, scale: int, n: ColumnElement[Any] | None = None
) -> ColumnElement[bool]:
    """``u`` (integer units, may be NULL) against the condition's value.

    With ``n`` the attribute is the average ``u / n`` (NULL when ``n`` is 0), compared
    as ``u op value × n`` so that no division happens.
    """
    if n is not None:
        n = func.coalesce(n, 0)
        if op == "<=>":
            return n == 0

        def scaled(v: Decimal) -> ColumnElement[Any]:
            # an inline literal: no bind parameter, and exact on every database
            return n * literal(to_units(v, scale), Numeric(38, 0), literal_execute=True)  # type: ignore[no-any-return,operator]

        guard = n > 0
    else:
        if op == "<=>":
            return u.is_(None)

        def scaled(v: Decimal) -> Any:
            return to_units(v, scale)

        guard = u.is_not(None)
    if op in ("()", "!()"):
        if n is None:
            found = in_list(u, distinct([to_units(v, scale) for v in value]))
        else:
            found = any_of([u == scaled(v) for v in distinct(list(value))])
        return and_(guard, found if op == "()" else not_(found))
    if op == "between":
        lo, hi = value
        return and_(guard, u >= scaled(lo), u <= scaled(hi))
    return and_(guard, _ordering(u, op, scaled(value)))


def days_since_compare(
    t: ColumnElement[Any], op: str, value: Any, as_of: datetime
) -> ColumnElement[bool]:
    """``floor((as_of − t) / 24 h) op N`` as bounds on the timestamp ``t``."""
    if op == "<=>":
        return t.is_(None)

    def before(k: int) -> datetime:
        return days_before(as_of, k)

    def eq(n: Decimal) -> ColumnElement[bool]:
        k = int(n)
        return and_(t > before(k + 1), t <= before(k))

    if op == "==":
        return nn(t, eq(value))
    if op == "!=":
        return nn(t, not_(eq(value)))
    if op in ("()", "!()"):
        # runs of consecutive days are one range: "between" for each run
        days = sorted({int(v) for v in value})
        runs: list[tuple[int, int]] = []
        for k in days:
            if runs and runs[-1][1] == k - 1:
                runs[-1] = (runs[-1][0], k)
            else:
                runs.append((k, k))
        found = any_of([and_(t > before(hi + 1), t <= before(lo)) for lo, hi in runs])
        return nn(t, found if op == "()" else not_(found))
    if op == "between":
        lo, hi = int(value[0]), int(value[1])
        return nn(t, and_(t > before(hi + 1), t <= before(lo)))
    k = int(value)
    if op == ">=":
        return nn(t, t <= before(k))
    if op == ">":
        return nn(t, t <= before(k + 1))
    if op == "<=":
        return nn(t, t > before(k + 1))
    if op == "<":
        return nn(t, t > before(k))
    raise ValueError(op)


def days_before(as_of: datetime, days: int) -> datetime:
    """``as_of − days × 24 h``, or ``datetime.min`` when that is before year 1.

    Day values go up to 10^9 (2.7 million years); no stored timestamp is that old, so
    the first instant of the calendar bounds them just as well, without an overflow.
    """
    if days >= (as_of - datetime.min).days:
        return datetime.min
    return as_of - days * DAY


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time())


def datetime_compare(
    t: ColumnElement[Any], op: str, value: Any, as_of: datetime
) -> ColumnElement[bool]:
    """A timestamp column against a DateValue: a date (or ``==``/``!=``) means its whole day."""
    if op == "<=>":
        return t.is_(None)

    def day_range(v: DateValue) -> tuple[datetime, datetime]:
        d = v.day_of(as_of)
        return _day_start(d), _day_start(d + DAY)

    def lower(v: DateValue, inclusive: bool) -> ColumnElement[bool]:
        if v.kind == "date":
            start, end = day_range(v)
            return t >= start if inclusive else t >= end
        i = v.resolve(as_of)
        return t >= i if inclusive else t > i

    def upper(v: DateValue, inclusive: bool) -> ColumnElement[bool]:
        if v.kind == "date":
            start, end = day_range(v)
            return t < end if inclusive else t < start
        i = v.resolve(as_of)
        return t <= i if inclusive else t < i

    if op in ("==", "!="):
        start, end = day_range(value)
        inside = and_(t >= start, t < end)
        return nn(t, inside if op == "==" else not_(inside))
    if op == ">=":
        return nn(t, lower(value, True))
    if op == ">":
        return nn(t, lower(value, False))
    if op == "<=":
        return nn(t, upper(value, True))
    if op == "<":
        return nn(t, upper(value, False))
    if op == "between":
        return nn(t, and_(lower(value[0], True), upper(value[1], True)))
    raise ValueError(op)


def date_compare(
    d: ColumnElement[Any], op: str, value: Any, as_of: datetime
) -> ColumnElement[bool]:
    """A DATE column (date of birth) against a DateValue, day by day."""
    if op == "<=>":
        return d.is_(None)
    if op == "between":
        lo, hi = value[0].day_of(as_of), value[1].day_of(as_of)
        return nn(d, and_(d >= lo, d <= hi))
    return nn(d, _ordering(d, op, value.day_of(as_of)))


def birthday_days(as_of_day: date, month: int, day: int) -> int:
    """Days from ``as_of_day`` to the next ``month``/``day`` (29 Feb → 28 Feb off leap years)."""

    def occurrence(year: int) -> date:
        try:
            return date(year, month, day)
        except ValueError:
            return date(year, 2, 28)

    nxt = occurrence(as_of_day.year)
    if nxt < as_of_day:
        nxt = occurrence(as_of_day.year + 1)
    return (nxt - as_of_day).days


def _int_holds(x: int, op: str, value: Any) -> bool:
    if op == "()":
        return any(x == int(v) for v in value)
    if op == "!()":
        return all(x != int(v) for v in value)
    if op == "between":
        return int(value[0]) <= x <= int(value[1])
    v = int(value)
    return {
        "==": x == v,
        "!=": x != v,
        ">=": x >= v,
        ">": x > v,
        "<=": x <= v,
        "<": x < v,
    }[op]


def _all_month_days() -> list[tuple[int, int]]:
    out = []
    for mo in range(1, 13):
        for d in range(1, 32):
            try:
                date(2000, mo, d)  # a leap year: 29 Feb included
            except ValueError:
                continue
            out.append((mo, d))
    return out


ALL_MONTH_DAYS = _all_month_days()


def birthday_compare(
    dob: ColumnElement[Any], op: str, value: Any, as_of: datetime
) -> ColumnElement[bool]:
    if op == "<=>":
        return dob.is_(None)
    today = as_of.date()
    keys = [
        mo * 100 + d
        for mo, d in ALL_MONTH_DAYS
        if _int_holds(birthday_days(today, mo, d), op, value)
    ]
    if not keys:
        return false()
    mmdd = extract("month", dob) * 100 + extract("day", dob)
    return nn(dob, mmdd.in_(keys))


def _python_str_holds(actual: str | None, op: str, value: Any) -> bool:
    """The string test on a looked-up code (groups, websites, stores), done in Python."""
    if actual is None:
        return op == "<=>"
    a = actual.casefold()
    if op == "<=>":
        return False
    if op in ("()", "!()"):
        inside = a in {v.casefold() for v in value}
        return inside if op == "()" else not inside
    if op == "between":
        return value[0].casefold() <= a <= value[1].casefold()
    v = value.casefold()
    return {
        "==": a == v,
        "!=": a != v,
        "{}": v in a,
        "!{}": v not in a,
        ">=": a >= v,
        ">": a > v,
        "<=": a <= v,
        "<": a < v,
    }[op]


def code_compare(
    id_col: ColumnElement[Any], op: str, value: Any, codes: dict[int, str]
) -> ColumnElement[bool]:
    """A test on the code behind an id (group, website, store view)."""
    if op == "<=>":
        known = list(codes)
        return or_(id_col.is_(None), id_col.not_in(known)) if known else true()
    ids = [i for i, code in codes.items() if _python_str_holds(code, op, value)]
    if not ids:
        return false()
    return nn(id_col, id_col.in_(ids))



def bool_compare(col: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op == "<=>":
        return col.is_(None)
    holds = col == literal(bool(value))
    return nn(col, holds if op == "==" else not_(holds))


def product_pred(items: Table, pf: ProductFilter, ordered: bool) -> ColumnElement[bool]:
    """An item row matches the product filter (every given part holds; NULL fails)."""
    parts: list[ColumnElement[bool]] = []
    if pf.skus is not None:
        skus = distinct([s.casefold() for s in pf.skus])
        parts.append(nn(items.c.sku_ci, in_list(items.c.sku_ci, skus)))
    if pf.name_contains is not None:
        parts.append(str_compare(items.c.name_ci, "{}", pf.name_contains))
    if pf.price is not None:
        price = func.coalesce(items.c.base_price, items.c.price) if ordered else items.c.price
        parts.append(num_compare(units(price), pf.price.operator, pf.price.value, 4))
    return and_(true(), *parts)

