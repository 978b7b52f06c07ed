"""The shared SQL pieces every pass uses: the store's tables, dialect-specific
expressions, exact units, balanced AND/OR trees, long IN lists, and filling a
temporary table.

Exactness: money and quantities are compared as integers in units of 1/10 000 (Magento
keeps four decimals), so SQLite's floating point never decides a boundary. Every helper
here builds an expression that is never NULL where a leaf needs one (see ``nn``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.expression import FunctionElement

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


def nn(col: ColumnElement[Any], expr: ColumnElement[bool]) -> ColumnElement[bool]:
    """``expr`` where ``col`` is not null, else FALSE (never NULL)."""
    return and_(col.is_not(None), expr)


def flag_of(expr: ColumnElement[bool]) -> ColumnElement[Any]:
    """A per-customer 0/1 aggregate: 1 when ``expr`` holds for some grouped row."""
    return func.max(case((expr, 1), else_=0))


def is1(col: ColumnElement[Any]) -> ColumnElement[bool]:
    """A 0/1 flag column of a temp table is set (no row for the customer: not set)."""
    return func.coalesce(col, 0) == 1


def distinct(items: list[Any]) -> list[Any]:
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


def hashable(v: Any) -> Any:
    """A condition value as part of a registry key (see ``unhash``)."""
    return ("__v", v)


def unhash(hv: Any) -> Any:
    """The value ``hashable`` wrapped."""
    return hv[1]


def analyze(conn: Connection, table: Table) -> None:
    """PostgreSQL: give the planner row counts for a fresh temporary table (autovacuum
    never sees temp tables; without them it plans the million-row joins as if tiny)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")

