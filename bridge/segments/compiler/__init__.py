"""Compile segments into SQL that runs inside the store database (SQLite, PostgreSQL, MariaDB).

The plan, for any number of segments:

1. One grouped pass per source table fills a temporary table of per-customer
   aggregates: every distinct (period, status, website) combination that any sales
   condition of any segment uses becomes columns of ONE ``GROUP BY`` over orders;
   product and address conditions become 0/1 flag columns of one pass over items or
   addresses; the active cart is picked once per website scope.
2. One ``SELECT`` over customers LEFT JOINs those tables and computes every segment's
   membership as a boolean column. Segment references are inlined (the referenced
   segment's expression, website included), which is the same as evaluating in
   dependency order, with no extra pass.

Exactness: money and quantities are compared as integers in units of 1/10 000 (Magento
keeps four decimals), so SQLite's floating point never decides a boundary; averages are
compared as ``sum op value × count``. Day counts are turned into bounds on timestamps
computed in Python, so no database date arithmetic is involved. Strings are compared on
the ``*_ci`` columns (``str.casefold()`` written by the sync) against values folded here.
Every leaf is an expression that is never NULL, so NOT and the all/any × true/false
combine behave exactly as Magento's Combine.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    Select,
    Table,
    and_,
    bindparam,
    case,
    cast,
    extract,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.expression import FunctionElement

from bridge.segments.attributes import CUSTOMER_STRING_FIELDS, GENDERS, attribute_spec
from bridge.segments.model import (
    DAY,
    Combine,
    Condition,
    DateValue,
    ProductFilter,
    Rule,
    Segment,
    managed_group_ids,
)
from bridge.store import models as m

C = m.Customer.__table__
O = m.Order.__table__  # noqa: E741 - reads as SQL
OI = m.OrderItem.__table__
OA = m.OrderAddress.__table__
CA = m.CustomerAddress.__table__
CT = m.Cart.__table__
CI = m.CartItem.__table__
ATTR = m.CustomerAttribute.__table__


class codepoint(FunctionElement):  # noqa: N801 - reads as SQL
    """A string compared by Unicode code point: ``COLLATE "C"`` on PostgreSQL; SQLite's
    default and MariaDB's ``utf8mb4_bin`` twins already compare that way."""

    inherit_cache = True
    type = m.CiString(1024)


@compiles(codepoint)
def _codepoint_default(element: codepoint, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)  # type: ignore[no-any-return]


@compiles(codepoint, "postgresql")
def _codepoint_pg(element: codepoint, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


class by_rowid(FunctionElement):  # noqa: N801 - reads as SQL
    """The column, written ``+col`` on SQLite: no index may serve a join on it.

    SQLite then scans the item or address rows and finds each order by its primary key,
    instead of walking orders in customer order and searching the rows' order-id index
    once per order, as it does for an order-address condition with a status list
    (3× slower at 4M orders; a test checks the plan). Other databases get the plain
    column.
    """

    inherit_cache = True
    type = Integer()


@compiles(by_rowid)
def _by_rowid_default(element: by_rowid, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)  # type: ignore[no-any-return]


@compiles(by_rowid, "sqlite")
def _by_rowid_sqlite(element: by_rowid, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


def units(col: ColumnElement[Any], scale: int = 4) -> ColumnElement[Any]:
    """A decimal column as an exact integer count of 10^-scale."""
    if scale == 0:
        return col
    return cast(func.round(col * (10**scale)), BigInteger)


class sum_units(FunctionElement):  # noqa: N801 - reads as SQL
    """The sum of a decimal column (NULLs skipped) as an exact integer count of 10^-4.

    SQLite keeps decimals as floats, so each value is rounded to units before it is
    added. PostgreSQL and MariaDB keep them exact (scale 4), so their sum is exact and
    is turned into units once per group: the same number, and at 4M orders it halves
    PostgreSQL's orders pass (numeric arithmetic per row and aggregate is its cost).
    """

    inherit_cache = True
    type = BigInteger()


@compiles(sum_units)
def _sum_units_exact(element: sum_units, compiler: Any, **kw: Any) -> str:
    (col,) = list(element.clauses)
    return compiler.process(units(func.sum(col)), **kw)  # type: ignore[no-any-return]


@compiles(sum_units, "sqlite")
def _sum_units_sqlite(element: sum_units, compiler: Any, **kw: Any) -> str:
    (col,) = list(element.clauses)
    return compiler.process(func.sum(units(col)), **kw)  # type: ignore[no-any-return]


class CreateTempTableAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE t (names…) AS query`` (PostgreSQL).

    PostgreSQL runs the SELECT of an INSERT … SELECT on one core, but may spread the
    SELECT of a CREATE TABLE … AS over parallel workers (when it reads only the store's
    own tables): the orders and item passes then use both cores.
    """

    inherit_cache = False

    def __init__(self, table: Table, names: Sequence[str], query: Any) -> None:
        self.table = table
        self.names = list(names)
        self.query = query


@compiles(CreateTempTableAs)
def _create_temp_table_as(element: CreateTempTableAs, compiler: Any, **kw: Any) -> str:
    prep = compiler.preparer
    cols = ", ".join(prep.quote(n) for n in element.names)
    query = compiler.process(element.query, **kw)
    return f"CREATE TEMPORARY TABLE {prep.format_table(element.table)} ({cols}) AS {query}"


def fill_statements(table: Table, names: Sequence[str], query: Any) -> list[Any]:
    """The CREATE TABLE and INSERT … SELECT that fill ``table``'s ``names`` with
    ``query``'s rows (no query: the empty table)."""
    if query is None:
        return [CreateTable(table)]
    return [CreateTable(table), table.insert().from_select(list(names), query)]


def fill_table(conn: Connection, table: Table, names: Sequence[str], query: Any) -> None:
    """Create ``table`` and fill its columns ``names`` with ``query``'s rows."""
    if query is not None and conn.dialect.name == "postgresql" and table.schema is None:
        conn.execute(CreateTempTableAs(table, names, query))
    else:
        for stmt in fill_statements(table, names, query):
            conn.execute(stmt)
    analyze(conn, table)


def to_units(value: Decimal, scale: int) -> int:
    scaled = value * (10**scale)
    return int(scaled)  # validated: at most ``scale`` decimals


# SQLite refuses an expression tree deeper than 1,000, and "a OR b OR c …" parses as a
# chain as deep as it is long. Long AND/OR lists are therefore built as balanced trees of
# parenthesised chunks: 10,000 terms nest about 20 deep. Long value lists are written
# into the SQL as literals (numbers, and strings quoted by the dialect), so that a
# 10,000-value list costs no bind parameters (PostgreSQL allows 65,535 per statement).
CHUNK = 16
INLINE_LIST = 64


def all_of(clauses: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    """AND of ``clauses`` as a balanced tree (see CHUNK)."""
    return _balanced(and_, list(clauses))


def any_of(clauses: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    """OR of ``clauses`` as a balanced tree (see CHUNK)."""
    return _balanced(or_, list(clauses))


def _balanced(
    op: Callable[..., ColumnElement[bool]], clauses: list[ColumnElement[bool]]
) -> ColumnElement[bool]:
    if len(clauses) <= CHUNK:
        return op(*clauses)
    size = -(-len(clauses) // CHUNK)
    return op(*[paren(_balanced(op, clauses[i : i + size]))
                for i in range(0, len(clauses), size)])


class paren(ColumnElement[bool]):  # noqa: N801 - reads as SQL
    """``(expr)``, kept: SQLAlchemy flattens a Grouping of AND inside AND into one chain."""

    type = Boolean()
    inherit_cache = False

    def __init__(self, inner: ColumnElement[bool]) -> None:
        self.inner = inner

    def get_children(self, **kw: Any) -> Sequence[ClauseElement]:
        return (self.inner,)

    def self_group(self, against: Any = None) -> ColumnElement[bool]:
        return self


@compiles(paren)
def _paren(element: paren, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.inner, **kw)})"


def in_list(col: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``col IN (values)``; a long list is rendered inline rather than bound."""
    if len(values) > INLINE_LIST:
        return col.in_(bindparam(None, list(values), expanding=True, literal_execute=True))
    return col.in_(list(values))


def _nn(col: ColumnElement[Any], expr: ColumnElement[bool]) -> ColumnElement[bool]:
    """``expr`` where ``col`` is not null, else FALSE (never NULL)."""
    return and_(col.is_not(None), expr)


def _flag(expr: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.max(case((expr, 1), else_=0))


def _is1(col: ColumnElement[Any]) -> ColumnElement[bool]:
    return func.coalesce(col, 0) == 1


# --- comparisons -------------------------------------------------------------------------


def str_compare(col: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    """A case-insensitive string test on a folded column (see module docstring)."""
    if op == "<=>":
        return col.is_(None)
    if op == "==":
        return _nn(col, col == value.casefold())
    if op == "!=":
        return _nn(col, col != value.casefold())
    if op == "{}":
        return _nn(col, col.contains(value.casefold(), autoescape=True))
    if op == "!{}":
        return _nn(col, not_(col.contains(value.casefold(), autoescape=True)))
    if op == "()":
        return _nn(col, in_list(col, _distinct([v.casefold() for v in value])))
    if op == "!()":
        return _nn(col, not_(in_list(col, _distinct([v.casefold() for v in value]))))
    ordered = codepoint(col)
    if op == "between":
        lo, hi = value
        return _nn(col, and_(ordered >= lo.casefold(), ordered <= hi.casefold()))
    return _nn(col, _ordering(ordered, op, value.casefold()))


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
            found = in_list(u, _distinct([to_units(v, scale) for v in value]))
        else:
            found = any_of([u == scaled(v) for v in _distinct(list(value))])
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
        return _nn(t, eq(value))
    if op == "!=":
        return _nn(t, not_(eq(value)))
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
        return _nn(t, found if op == "()" else not_(found))
    if op == "between":
        lo, hi = int(value[0]), int(value[1])
        return _nn(t, and_(t > before(hi + 1), t <= before(lo)))
    k = int(value)
    if op == ">=":
        return _nn(t, t <= before(k))
    if op == ">":
        return _nn(t, t <= before(k + 1))
    if op == "<=":
        return _nn(t, t > before(k + 1))
    if op == "<":
        return _nn(t, t > before(k))
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
        return _nn(t, inside if op == "==" else not_(inside))
    if op == ">=":
        return _nn(t, lower(value, True))
    if op == ">":
        return _nn(t, lower(value, False))
    if op == "<=":
        return _nn(t, upper(value, True))
    if op == "<":
        return _nn(t, upper(value, False))
    if op == "between":
        return _nn(t, and_(lower(value[0], True), upper(value[1], True)))
    raise ValueError(op)


def date_compare(
    d: ColumnElement[Any], op: str, value: Any, as_of: datetime
) -> ColumnElement[bool]:
    """A DATE column (date of birth) against a DateValue, day by day."""
    if op == "<=>":
        return d.is_(None)
    if op == "between":
        lo, hi = value[0].day_of(as_of), value[1].day_of(as_of)
        return _nn(d, and_(d >= lo, d <= hi))
    return _nn(d, _ordering(d, op, value.day_of(as_of)))


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
    return _nn(dob, mmdd.in_(keys))


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
    return _nn(id_col, id_col.in_(ids))


# --- the plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookups:
    """The small tables read before compiling: codes behind ids."""

    websites: dict[int, str] = field(default_factory=dict)
    stores: dict[int, str] = field(default_factory=dict)
    groups: dict[int, str] = field(default_factory=dict)
    has_push_customers: bool = False
    recorded_group_ids: frozenset[int] = frozenset()  # push_groups: groups the push manages

    @classmethod
    def load(cls, conn: Connection) -> Lookups:
        from sqlalchemy import inspect

        w = {r.id: r.code for r in conn.execute(select(m.Website.id, m.Website.code))}
        s = {r.id: r.code for r in conn.execute(select(m.StoreView.id, m.StoreView.code))}
        g = {r.id: r.code for r in conn.execute(select(m.CustomerGroup.id, m.CustomerGroup.code))}
        inspector = inspect(conn)
        has_pc = inspector.has_table("push_customers")
        recorded: frozenset[int] = frozenset()
        if inspector.has_table("push_groups"):
            from bridge.store import schema  # noqa: F401 - registers the push tables

            pg = m.Base.metadata.tables["push_groups"]
            recorded = frozenset(conn.execute(select(pg.c.group_id)).scalars())
        return cls(
            websites=w, stores=s, groups=g, has_push_customers=has_pc, recorded_group_ids=recorded
        )

    def website_id(self, code: str | None) -> int | None:
        if code is None:
            return None
        for wid, wcode in self.websites.items():
            if wcode.casefold() == code.casefold():
                return wid
        return -1  # unknown website: nobody matches


@dataclass(frozen=True)
class OrderScope:
    lo: datetime | None
    hi: datetime
    hi_inclusive: bool
    status: tuple[str, ...] | None
    website_id: int | None


def analyze(conn: Connection, table: Table) -> None:
    """PostgreSQL: give the planner row counts for a fresh temporary table (autovacuum
    never sees temp tables; without them it plans the million-row joins as if tiny)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")


@dataclass
class Step:
    """Create ``table`` and fill it with ``query`` (columns ``names``).

    ``kind``: ``"orders"`` — the grouped pass over orders (it can be split by
    ``split_key`` ranges); ``"rows"`` and ``"main"`` — steps that depend on no other
    step but their own kind's earlier ones, run side by side first. On SQLite the plan
    runs these on two connections at once (see ``bridge.segments.evaluate.ParallelSide``).
    """

    table: Table
    names: list[str]
    query: Any
    kind: str = "main"
    split_key: Any = None

    def _query(self, where: Any) -> Any:
        return self.query if where is None else self.query.where(where)

    def statements(self, table: Table | None = None, where: Any = None) -> list[Any]:
        """The statements that fill ``table`` (default: the step's own) with the rows
        matching ``where``."""
        t = table if table is not None else self.table
        return fill_statements(t, self.names, self._query(where))

    def run(self, conn: Connection, table: Table | None = None, where: Any = None) -> None:
        fill_table(conn, table if table is not None else self.table, self.names, self._query(where))


@dataclass
class CompiledPlan:
    """Temporary tables to create and fill, then the membership SELECT over them."""

    metadata: MetaData
    steps: list[Step]
    select: Select[Any]
    columns: dict[str, str]  # segment code -> column label in ``select``
    warnings: list[str]
    scratch: Any = None  # a ParallelSide while one is attached

    def prepare(self, conn: Connection) -> None:
        """Fill every temp table, in order, on ``conn``."""
        for step in self.steps:
            step.run(conn)

    def drop(self, conn: Connection) -> None:
        from sqlalchemy import text

        dialect = conn.dialect.name
        for step in reversed(self.steps):
            name = step.table.name
            if dialect in ("mysql", "mariadb"):
                conn.execute(text(f"DROP TEMPORARY TABLE IF EXISTS {name}"))
            elif dialect == "sqlite":
                conn.execute(text(f"DROP TABLE IF EXISTS temp.{name}"))
            else:
                conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


class _Compiler:
    def __init__(
        self, segments: Sequence[Segment], as_of: datetime, config: Any, lookups: Lookups
    ) -> None:
        self.by_code = {s.code: s for s in segments}
        self.as_of = as_of
        self.config = config
        self.lookups = lookups
        self.link_guests = bool(getattr(getattr(config, "sync", None), "link_guest_orders", False))
        self.tag = uuid.uuid4().hex[:8]
        self.md = MetaData()
        self.warnings: list[str] = []
        # order aggregates: scope -> {aggregate name -> column label}
        self.order_scopes: dict[OrderScope, int] = {}
        self.order_cols: dict[tuple[int, str], str] = {}
        self.item_flags: dict[tuple[int, ProductFilter], str] = {}
        self.oaddr_flags: dict[tuple[int, str, str, str, Any], str] = {}
        self.caddr_flags: dict[tuple[str, str, str, Any], str] = {}
        self.cart_scopes: dict[int | None, int] = {}
        self.cart_item_flags: dict[tuple[int, ProductFilter], str] = {}
        self.custom_attrs: dict[str, Any] = {}
        self.uses_home_group = False
        self.membership_cache: dict[str, ColumnElement[bool]] = {}
        # placeholders: column objects resolved after the temp tables exist
        self._tables: dict[str, Table] = {}

    def tcol(self, key: str, name: str, typ: Any = Integer) -> ColumnElement[Any]:
        """A column of the temp table ``key``, created on first use (filled in build())."""
        table = self._tables.get(key)
        if table is None:
            table = Table(
                f"sb_{key}_{self.tag}",
                self.md,
                Column("customer_id", Integer, primary_key=True),
                prefixes=["TEMPORARY"],
            )
            self._tables[key] = table
        if name not in table.c:
            table.append_column(Column(name, typ))
        return table.c[name]

    # --- scopes --------------------------------------------------------------------------

    def order_scope(self, rule: Rule, website_id: int | None, with_period: bool) -> int:
        lo, hi, inc = (None, self.as_of, True)
        if with_period and rule.period is not None:
            lo, hi, inc = rule.period.bounds(self.as_of)
        scope = OrderScope(lo, hi, inc, rule.status, website_id)
        if scope not in self.order_scopes:
            self.order_scopes[scope] = len(self.order_scopes)
        return self.order_scopes[scope]

    def order_col(self, k: int, agg: str) -> ColumnElement[Any]:
        name = self.order_cols.setdefault((k, agg), f"o{k}_{agg}")
        typ = {
            "count": BigInteger,
            "amount_n": BigInteger,
            "qty_n": BigInteger,
            "amount_sum": Numeric(38, 0),
            "qty_sum": Numeric(38, 0),
            "last": DateTime,
            "first": DateTime,
        }[agg]
        return self.tcol("o", name, typ)

    def cart_scope(self, website_id: int | None) -> int:
        if website_id not in self.cart_scopes:
            k = len(self.cart_scopes)
            self.cart_scopes[website_id] = k
            for name, typ in CART_COLUMNS:
                self.tcol(f"cart{k}", name, typ)
        return self.cart_scopes[website_id]

    def cart_table(self, k: int) -> Table:
        return self._tables[f"cart{k}"]

    def home_group(self) -> ColumnElement[Any]:
        """The customer's home group id (model.home_group_id): the current group unless
        segbridge manages it, else the push's record, else the current group."""
        self.uses_home_group = True
        managed = managed_group_ids(
            self.lookups.recorded_group_ids, self.lookups.groups, self.by_code.values()
        )
        if self.lookups.has_push_customers and managed:
            from bridge.store import schema  # noqa: F401 - registers push_customers

            pc = m.Base.metadata.tables["push_customers"]
            recorded_home = func.coalesce(pc.c.home_group_id, C.c.group_id)
            return case((C.c.group_id.in_(sorted(managed)), recorded_home), else_=C.c.group_id)
        return C.c.group_id

    # --- segments ------------------------------------------------------------------------

    def membership(self, seg: Segment) -> ColumnElement[bool]:
        if seg.code in self.membership_cache:
            return self.membership_cache[seg.code]
        wid = self.lookups.website_id(seg.website)
        if wid == -1:
            self.warnings.append(
                f"segment {seg.code}: website {seg.website!r} is not in the store (sync first?): "
                "nobody matches"
            )
        expr = self.combine(seg.conditions, seg, wid)
        if wid is not None:
            expr = and_(C.c.website_id == wid, expr)
        self.membership_cache[seg.code] = expr
        return expr

    def combine(self, node: Combine, seg: Segment, wid: int | None) -> ColumnElement[bool]:
        children = [self.condition(c, seg, wid) for c in node.rules]
        if not node.value:
            children = [not_(c) for c in children]
        return all_of(children) if node.match == "all" else any_of(children)

    def condition(self, node: Condition, seg: Segment, wid: int | None) -> ColumnElement[bool]:
        if isinstance(node, Combine):
            return self.combine(node, seg, wid)
        return self.leaf(node, seg, wid)

    def leaf(self, r: Rule, seg: Segment, wid: int | None) -> ColumnElement[bool]:
        a, op, v = r.attribute, r.operator, r.value
        spec = attribute_spec(a)
        assert spec is not None
        if a == "segment":
            refs = [self.membership(self.by_code[c]) for c in v]
            found = any_of(refs)
            return found if op == "()" else not_(found)
        if a.startswith("customer.attribute."):
            code = a[len("customer.attribute.") :]
            alias = self.custom_attrs.setdefault(code, ATTR.alias(f"ca_{len(self.custom_attrs)}"))
            return str_compare(alias.c.value_ci, op, v)
        if a.startswith("customer."):
            return self.customer_leaf(r)
        if a.startswith("address."):
            return self.address_leaf(r)
        if a.startswith("cart."):
            return self.cart_leaf(r, wid)
        if a.startswith("sales.order_address."):
            k = self.order_scope(r, wid, with_period=True)
            f = a[len("sales.order_address.") :]
            key = (k, r.address_type or "any", f, op, _hashable(v))
            name = self.oaddr_flags.setdefault(key, f"oa{len(self.oaddr_flags)}")
            return _is1(self.tcol("oa", name))
        if a.startswith("sales."):
            return self.sales_leaf(r, wid)
        if a == "product.ordered":
            k = self.order_scope(r, wid, with_period=True)
            assert r.product is not None
            name = self.item_flags.setdefault((k, r.product), f"pi{len(self.item_flags)}")
            flag = _is1(self.tcol("pi", name))
            return flag if v else not_(flag)
        if a == "product.in_cart":
            k = self.cart_scope(wid)
            assert r.product is not None
            name = self.cart_item_flags.setdefault(
                (k, r.product), f"ci{k}_{len(self.cart_item_flags)}"
            )
            flag = _is1(self.tcol(f"ci{k}", name))
            return flag if v else not_(flag)
        raise ValueError(f"no compiler for {a}")

    def customer_leaf(self, r: Rule) -> ColumnElement[bool]:
        a, op, v = r.attribute, r.operator, r.value
        f = a[len("customer.") :]
        if f in CUSTOMER_STRING_FIELDS or f == "created_in":
            return str_compare(C.c[f + "_ci"], op, v)
        if f == "group":
            self.uses_home_group = True
            gid = self.home_group()
            return code_compare(gid, op, v, self.lookups.groups)
        if f == "website":
            return code_compare(C.c.website_id, op, v, self.lookups.websites)
        if f == "store":
            return code_compare(C.c.store_id, op, v, self.lookups.stores)
        if f == "gender":
            g = C.c.gender
            known = g.in_(list(GENDERS.values()))
            if op == "<=>":
                return or_(g.is_(None), not_(known))
            vals = [GENDERS[x] for x in (v if isinstance(v, tuple) else (v,))]
            inside = g.in_(vals)
            if op in ("==", "()"):
                return _nn(g, inside)
            return _nn(g, and_(known, not_(inside)))
        if f == "dob":
            return date_compare(C.c.dob, op, v, self.as_of)
        if f == "days_until_birthday":
            return birthday_compare(C.c.dob, op, v, self.as_of)
        if f == "created_at":
            return datetime_compare(C.c.created_at, op, v, self.as_of)
        if f == "days_since_created":
            return days_since_compare(C.c.created_at, op, v, self.as_of)
        if f == "is_subscribed":
            return bool_compare(C.c.is_subscribed, op, v)
        raise ValueError(f"no compiler for {a}")

    def address_leaf(self, r: Rule) -> ColumnElement[bool]:
        f = r.attribute[len("address.") :]
        if f in ("default_billing", "default_shipping"):
            has = _is1(self.tcol("ca", f"has_{f}"))
            if r.operator == "<=>":
                return false()
            want = bool(r.value)
            holds = has if want else not_(has)
            return holds if r.operator == "==" else not_(holds)
        atype = r.address_type or "any"
        key = (atype, f, r.operator, _hashable(r.value))
        name = self.caddr_flags.setdefault(key, f"a{len(self.caddr_flags)}")
        flag = _is1(self.tcol("ca", name))
        if atype != "any" and r.operator == "<=>":
            # no default address at all: the value is undefined too
            return or_(flag, not_(_is1(self.tcol("ca", f"has_{atype}"))))
        return flag

    def cart_leaf(self, r: Rule, wid: int | None) -> ColumnElement[bool]:
        k = self.cart_scope(wid)
        f = r.attribute[len("cart.") :]
        t = self.cart_table(k)
        if f == "days_since_updated":
            return days_since_compare(t.c.updated_at, r.operator, r.value, self.as_of)
        if f == "items_count":
            return num_compare(func.coalesce(t.c.items_count, 0), r.operator, r.value, 0)
        if f in ("items_qty", "subtotal"):
            return num_compare(func.coalesce(t.c[f"{f}_u"], 0), r.operator, r.value, 4)
        if f in ("grand_total", "tax_amount"):
            return num_compare(t.c[f"{f}_u"], r.operator, r.value, 4)
        raise ValueError(r.attribute)

    def sales_leaf(self, r: Rule, wid: int | None) -> ColumnElement[bool]:
        a, op, v = r.attribute, r.operator, r.value
        if a in ("sales.days_since_last_order", "sales.days_since_first_order"):
            k = self.order_scope(r, wid, with_period=False)
            agg = "last" if a.endswith("last_order") else "first"
            return days_since_compare(self.order_col(k, agg), op, v, self.as_of)
        k = self.order_scope(r, wid, with_period=True)
        if a == "sales.orders_count":
            return num_compare(func.coalesce(self.order_col(k, "count"), 0), op, v, 0)
        base = "amount" if a == "sales.amount" else "qty"
        total = func.coalesce(self.order_col(k, f"{base}_sum"), 0)
        if r.aggregate == "average":
            return num_compare(total, op, v, 4, n=self.order_col(k, f"{base}_n"))
        return num_compare(total, op, v, 4)

    # --- building the temp tables ---------------------------------------------------------

    def owner(self) -> ColumnElement[Any]:
        """Whose order it is: the customer, or (sync.link_guest_orders) the guest's match."""
        if self.link_guests:
            return func.coalesce(O.c.customer_id, O.c.guest_customer_id)
        return O.c.customer_id

    def order_pred(self, k: int) -> ColumnElement[bool]:
        scope = next(s for s, i in self.order_scopes.items() if i == k)
        parts: list[ColumnElement[bool]] = []
        t = O.c.created_at
        if scope.lo is not None:
            parts.append(t >= scope.lo)
        if not (scope.hi_inclusive and scope.hi >= self.as_of):  # else: the WHERE has it
            parts.append(t <= scope.hi if scope.hi_inclusive else t < scope.hi)
        if scope.status is None:
            parts.append(func.coalesce(O.c.status, "") != "canceled")
        else:
            parts.append(O.c.status.in_(list(scope.status)))
        if scope.website_id is not None:
            parts.append(O.c.website_id == scope.website_id)
        return and_(*parts)

    def orders_base_filter(self, scopes: Sequence[int]) -> ColumnElement[bool]:
        """Rows any of ``scopes`` can count (lets the database skip old orders early)."""
        owner = self.owner()
        conds = [O.c.deleted == false(), owner.is_not(None), O.c.created_at <= self.as_of]
        los = [s.lo for s, i in self.order_scopes.items() if i in scopes]
        if los and all(lo is not None for lo in los):
            conds.append(O.c.created_at >= min(lo for lo in los if lo is not None))
        return and_(*conds)

    def _fill(self, key: str, exprs: dict[str, ColumnElement[Any]], q: Any) -> Step:
        """The step filling temp table ``key`` given each column's expression."""
        table = self._tables[key]
        names = [c.name for c in table.columns if c.name != "customer_id"]
        q = q.add_columns(*[exprs[n].label(n) for n in names])
        return Step(table, ["customer_id", *names], q)

    def _rows_by_customer(
        self,
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
        owner = self.owner()
        sets = {name: and_(self.order_pred(fk[0]), row_pred(fk)) for fk, name in flags.items()}
        scopes = sorted({fk[0] for fk in flags})
        per_row = (
            select(
                owner.label("customer_id"),
                *[case((cond, 1), else_=0).label(name) for name, cond in sets.items()],
            )
            .select_from(rows.join(O, O.c.id == by_rowid(rows.c.order_id)))
            .where(and_(self.orders_base_filter(scopes), any_of(list(sets.values()))))
            .suffix_with("LIMIT -1", dialect="sqlite")
            .subquery(f"sb_{key}_rows")
        )
        table = self._tables[key]
        names = [c.name for c in table.columns if c.name != "customer_id"]
        q = select(
            per_row.c.customer_id, *[func.max(per_row.c[n]).label(n) for n in names]
        ).group_by(per_row.c.customer_id)
        return Step(table, ["customer_id", *names], q, kind=kind)

    def build(self, wanted: Sequence[Segment]) -> CompiledPlan:
        labels: dict[str, str] = {}
        exprs: list[tuple[str, ColumnElement[bool]]] = []
        for i, seg in enumerate(wanted):
            label = f"s{i}"
            labels[seg.code] = label
            exprs.append((label, self.membership(seg)))
        owner = self.owner()
        # 1. product and order-address conditions: one grouped pass over the item rows
        # and one over the order-address rows, each serving every such condition of
        # every segment as a per-customer 0/1 flag column (see _rows_by_customer).
        # 2. orders: ONE grouped pass serves every sales condition of every segment.
        steps: list[Step] = []
        if "pi" in self._tables:
            steps.append(
                self._rows_by_customer(
                    "pi",
                    OI,
                    self.item_flags,
                    lambda fk: product_pred(OI, fk[1], ordered=True),
                    kind="rows",
                )
            )
        if "oa" in self._tables:

            def addr_pred(fk: Any) -> ColumnElement[bool]:
                _k, atype, f, op, hv = fk
                cond = str_compare(OA.c[f + "_ci"], op, _unhash(hv))
                return cond if atype == "any" else and_(OA.c.address_type == atype, cond)

            steps.append(self._rows_by_customer("oa", OA, self.oaddr_flags, addr_pred, "main"))
        if "o" in self._tables:
            cols: dict[str, ColumnElement[Any]] = {}
            for (k, agg), name in self.order_cols.items():
                p = self.order_pred(k)
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
            scopes = sorted({k for k, _ in self.order_cols})
            # Grouped on the plain column, SQLite walks ix_orders_segment_eval (a covering
            # index, in customer order): no sort and no table lookups. Linked guest
            # orders need the computed owner, which sorts instead.
            q = (
                select(owner.label("customer_id"))
                .where(self.orders_base_filter(scopes))
                .group_by(owner)
            )
            step = self._fill("o", cols, q)
            step.kind, step.split_key = "orders", owner
            steps.append(step)
        # 4. the address book
        if "ca" in self._tables:
            cols = {
                "has_default_billing": _flag(CA.c.id == C.c.default_billing_id),
                "has_default_shipping": _flag(CA.c.id == C.c.default_shipping_id),
            }
            for (atype, f, op, hv), name in self.caddr_flags.items():
                cond = str_compare(CA.c[f + "_ci"], op, _unhash(hv))
                if atype == "default_billing":
                    cond = and_(CA.c.id == C.c.default_billing_id, cond)
                elif atype == "default_shipping":
                    cond = and_(CA.c.id == C.c.default_shipping_id, cond)
                cols[name] = _flag(cond)
            q = (
                select(CA.c.customer_id.label("customer_id"))
                .select_from(CA.join(C, C.c.id == CA.c.customer_id))
                .group_by(CA.c.customer_id)
            )
            steps.append(self._fill("ca", cols, q))
        # 5. the active cart per website scope, and its items
        for wid, k in self.cart_scopes.items():
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
            cart_t = self._tables[f"cart{k}"]
            names = [n for n, _ in CART_COLUMNS]
            q = select(ranked.c.customer_id, *[ranked.c[n] for n in names]).where(ranked.c.rn == 1)
            steps.append(Step(cart_t, ["customer_id", *names], q))
            if f"ci{k}" in self._tables:
                cols = {
                    name: _flag(product_pred(CI, pf, ordered=False))
                    for (kk, pf), name in self.cart_item_flags.items()
                    if kk == k
                }
                q = (
                    select(cart_t.c.customer_id.label("customer_id"))
                    .select_from(CI.join(cart_t, cart_t.c.cart_id == CI.c.cart_id))
                    .group_by(cart_t.c.customer_id)
                )
                steps.append(self._fill(f"ci{k}", cols, q))
        # 6. one SELECT over customers computes every wanted segment
        frm: Any = C
        for table in self._tables.values():
            frm = frm.outerjoin(table, table.c.customer_id == C.c.id)
        for code, alias in self.custom_attrs.items():
            frm = frm.outerjoin(alias, and_(alias.c.customer_id == C.c.id, alias.c.code == code))
        if self.uses_home_group and self.lookups.has_push_customers:
            pc = m.Base.metadata.tables["push_customers"]
            frm = frm.outerjoin(pc, pc.c.customer_id == C.c.id)
        sel = (
            select(C.c.id.label("customer_id"), *[e.label(lbl) for lbl, e in exprs])
            .select_from(frm)
            .where(C.c.deleted == false())
        )
        return CompiledPlan(self.md, steps, sel, labels, self.warnings)


CART_COLUMNS: list[tuple[str, Any]] = [
    ("cart_id", Integer),
    ("items_count", Integer),
    ("items_qty_u", BigInteger),
    ("subtotal_u", BigInteger),
    ("grand_total_u", BigInteger),
    ("tax_amount_u", BigInteger),
    ("updated_at", DateTime),
]


def bool_compare(col: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op == "<=>":
        return col.is_(None)
    holds = col == literal(bool(value))
    return _nn(col, holds if op == "==" else not_(holds))


def product_pred(items: Table, pf: ProductFilter, ordered: bool) -> ColumnElement[bool]:
    """An item row matches the product filter (every given part holds; NULL fails)."""
    parts: list[ColumnElement[bool]] = []
    if pf.skus is not None:
        skus = _distinct([s.casefold() for s in pf.skus])
        parts.append(_nn(items.c.sku_ci, in_list(items.c.sku_ci, skus)))
    if pf.name_contains is not None:
        parts.append(str_compare(items.c.name_ci, "{}", pf.name_contains))
    if pf.price is not None:
        price = func.coalesce(items.c.base_price, items.c.price) if ordered else items.c.price
        parts.append(num_compare(units(price), pf.price.operator, pf.price.value, 4))
    return and_(true(), *parts)


def _distinct(items: list[Any]) -> list[Any]:
    """``items`` without repeats, in order (linear: lists run to 10,000 values)."""
    out: list[Any] = []
    seen: set[Any] = set()
    for x in items:
        try:
            if x in seen:
                continue
            seen.add(x)
        except TypeError:  # unhashable: compare one by one
            if x in out:
                continue
        out.append(x)
    return out


def _hashable(v: Any) -> Any:
    return ("__v", v)


def _unhash(hv: Any) -> Any:
    return hv[1]


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
    comp = _Compiler(segments, as_of, config, lookups)
    wanted = [s for s in segments if s.active and (only is None or s.code in only)]
    return comp.build(wanted)
