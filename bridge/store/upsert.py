"""Bulk upserts with each database's native statement, behind one function.

SQLite and PostgreSQL: ``INSERT … ON CONFLICT (key) DO UPDATE SET col = excluded.col``;
MariaDB/MySQL: ``INSERT … ON DUPLICATE KEY UPDATE col = VALUES(col)``. Writing the same
row twice leaves one row with the newer values, which is what makes the sync
idempotent: a record seen twice (overlap windows, a page repeated, a rerun after a
crash) is stored once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, delete, tuple_
from sqlalchemy.dialects import mysql, postgresql, sqlite

# Parameters per statement stay well under every driver's limit (SQLite: 32766).
CHUNK = 500
MULTI_ROWS = 200
SQLITE_MAX_VARS = 30_000


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class _Prepared:
    """An upsert compiled once: SQL text, bind order, and each bind's type processor."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: dict[str, Any]
    multi: tuple[str, str, str] | None = None  # SQLite: (head, "(?, …)", tail)


_PREPARED: dict[tuple[Any, ...], _Prepared | None] = {}
_PREPARED_LOCK = threading.Lock()


def _statement(dialect: str, table: Table, key: list[str], cols: list[str]) -> Any:
    if dialect in ("sqlite", "postgresql"):
        ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        if cols:
            return ins.on_conflict_do_update(
                index_elements=key, set_={c: ins.excluded[c] for c in cols}
            )
        return ins.on_conflict_do_nothing(index_elements=key)
    if dialect in ("mysql", "mariadb"):
        ins = mysql.insert(table)
        # A no-op update of the key keeps "do nothing" semantics without INSERT IGNORE,
        # which would also swallow real errors such as a value too long.
        return ins.on_duplicate_key_update(
            {c: ins.inserted[c] for c in cols} if cols else {key[0]: table.c[key[0]]}
        )
    raise NotImplementedError(f"no upsert for dialect {dialect!r}")  # pragma: no cover


_PROBES = (
    datetime(2024, 2, 29, 23, 59, 58, 123456),
    datetime(2024, 1, 2, 3, 4, 5),
    datetime(999, 12, 31, 0, 0, 0, 1),
)


def _fast(proc: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """SQLite stores a naive datetime as "YYYY-MM-DD HH:MM:SS.ffffff" through a Python
    %-format; ``isoformat`` writes the same text in C. Used only when it gives exactly
    what the type's own processor gives; anything else still goes through that."""
    if proc is None:
        return None
    try:
        same = all(proc(d) == d.isoformat(" ", "microseconds") for d in _PROBES)
    except Exception:  # noqa: BLE001 - a processor that does not take datetimes
        same = False
    if not same:
        return proc
    naive = datetime

    def process(value: Any) -> Any:
        if type(value) is naive and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return proc(value)

    return process


def _prepare(conn: Connection, table: Table, columns: list[str], key: list[str],
             cols: list[str]) -> _Prepared | None:
    """Compile once per (database kind, table, columns). These dialect statements carry
    no SQLAlchemy cache key, so without this every page would be compiled afresh; and
    binding through each type's own processor keeps values exactly as SQLAlchemy would
    store them. None: not expressible this way (then the plain path is used)."""
    dialect = conn.dialect
    cache_key = (dialect.name, dialect.paramstyle, table.name, tuple(columns), tuple(cols))
    with _PREPARED_LOCK:
        if cache_key in _PREPARED:
            return _PREPARED[cache_key]
    compiled = _statement(dialect.name, table, key, cols).compile(
        dialect=dialect, column_keys=columns
    )
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    prepared: _Prepared | None = None
    if all(n in table.c for n in names):
        defaults: dict[str, Any] = {}
        ok = True
        for n in names:
            if n in columns:
                continue
            default = table.c[n].default
            if default is None or not default.is_scalar:
                ok = False
                break
            defaults[n] = default.arg  # type: ignore[attr-defined]
        if ok:
            sql = str(compiled)
            multi = None
            group = "(" + ", ".join(["?"] * len(names)) + ")"
            marker = " VALUES " + group
            if dialect.name == "sqlite" and sql.count(marker) == 1 and sql.count("?") == len(
                names
            ):
                at = sql.index(marker) + len(" VALUES ")
                multi = (sql[:at], group, sql[at + len(group):])
            prepared = _Prepared(
                multi=multi,
                sql=str(compiled),
                names=names,
                positional=bool(compiled.positional),
                processors=tuple(
                    _fast(table.c[n].type.dialect_impl(dialect).bind_processor(dialect))
                    for n in names
                ),
                defaults=defaults,
            )
    with _PREPARED_LOCK:
        _PREPARED[cache_key] = prepared
    return prepared


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Any],
    *,
    update: Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
) -> int:
    """Insert ``rows`` into ``table``; rows whose primary key exists are updated.

    ``update`` names the columns to overwrite on a conflict (default: every column in the
    rows except the key). With an empty ``update`` existing rows are left untouched.
    All rows must have the same keys. ``columns``: the rows are tuples of these columns,
    in this order, instead of mappings (the same statements either way). Returns the
    number of rows sent.
    """
    if not rows:
        return 0
    key = [c.name for c in table.primary_key.columns]
    as_tuples = columns is not None
    columns = list(columns) if columns is not None else list(rows[0].keys())
    missing = [k for k in key if k not in columns]
    if missing:
        raise ValueError(f"upsert into {table.name}: rows lack key column(s) {missing}")
    cols = [c for c in (update if update is not None else columns) if c not in key]
    prepared = _prepare(conn, table, columns, key, cols)
    if prepared is None:
        if as_tuples:
            rows = [dict(zip(columns, row, strict=True)) for row in rows]
        conn.execute(_statement(conn.dialect.name, table, key, cols), list(rows))
        return len(rows)
    names, procs = prepared.names, prepared.processors
    take = _taker(names, prepared.defaults, columns if as_tuples else None)
    if prepared.multi is not None:
        # SQLite: many rows per statement. executemany steps row by row and gives up
        # the GIL at each step, which fetch threads then hold for a whole switch
        # interval: one statement per chunk is several times faster under load.
        head, group, tail = prepared.multi
        width = len(names)
        converted = [(i, p) for i, p in enumerate(procs) if p is not None]
        per = max(1, min(MULTI_ROWS, SQLITE_MAX_VARS // max(1, width)))
        for start in range(0, len(rows), per):
            part = rows[start : start + per]
            # The chunk's values row after row; each converting column is then one
            # extended slice, mapped through its processor without a loop per cell.
            flat = list(chain.from_iterable(part if take is None else map(take, part)))
            for i, p in converted:
                flat[i::width] = list(map(p, flat[i::width]))
            sql = head + ", ".join([group] * len(part)) + tail
            conn.exec_driver_sql(sql, tuple(flat))
        return len(rows)
    values: list[Any] = list(rows if take is None else map(take, rows))
    if any(p is not None for p in procs):
        # Column by column: map() calls each processor without a Python loop per cell.
        by_column: list[Any] = list(zip(*values, strict=True))
        for i, p in enumerate(procs):
            if p is not None:
                by_column[i] = map(p, by_column[i])
        values = list(zip(*by_column, strict=True))
    params: list[Any]
    if prepared.positional:
        params = values
    else:
        params = [dict(zip(names, v, strict=True)) for v in values]
    conn.exec_driver_sql(prepared.sql, params)
    return len(rows)


def _taker(names: tuple[str, ...], defaults: dict[str, Any],
           columns: list[str] | None) -> Callable[[Any], tuple[Any, ...]] | None:
    """What takes a row's values in bind order (``names``), without a generator per row:
    one C itemgetter call where it can; then only the columns whose type converts (dates,
    numbers, booleans) go through their processor. ``columns``: the rows are tuples in
    that order (None: mappings). None: tuples already in bind order, taken as they are."""
    if columns is not None:
        at = {c: i for i, c in enumerate(columns)}
        if any(n not in at for n in names):
            def take_default(row: Any) -> tuple[Any, ...]:
                return tuple(row[at[n]] if n in at else defaults[n] for n in names)
            return take_default
        order = [at[n] for n in names]
        if order == list(range(len(columns))):
            return None
        return itemgetter(*order) if len(order) > 1 else lambda row: (row[order[0]],)
    if defaults:
        def take(row: Mapping[str, Any]) -> tuple[Any, ...]:
            return tuple(row[n] if n not in defaults else row.get(n, defaults[n])
                         for n in names)
        return take
    if len(names) == 1:
        only = names[0]
        return lambda row: (row[only],)
    return itemgetter(*names)


class Unbindable(Exception):
    """A write asked its ``Recorder`` for more than driver-level statements."""


class Recorder:
    """A stand-in for a connection that keeps the driver-level statements a write sends
    (``exec_driver_sql``) instead of running them: the write's Python work — its values
    taken from the rows, converted and bound — is done now, and ``replay`` sends the
    same statements, in the same order, on a real connection later (a sync worker binds
    its run while the other one holds the store). A write that needs anything else of a
    connection (an expression statement, a result) raises ``Unbindable``."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect
        self.statements: list[tuple[str, Any]] = []

    def exec_driver_sql(self, sql: str, params: Any = None) -> None:
        self.statements.append((sql, params))

    def __getattr__(self, name: str) -> Any:
        raise Unbindable(name)


def replay(conn: Connection, statements: Iterable[tuple[str, Any]]) -> None:
    for sql, params in statements:
        conn.exec_driver_sql(sql, params)


def delete_children(
    conn: Connection, table: Table, parent_column: str, parent_ids: Iterable[Any]
) -> None:
    """Delete the rows of ``table`` that belong to ``parent_ids`` (before re-inserting the
    parents' current children: items and addresses are replaced as a set)."""
    ids = sorted(set(parent_ids))
    if conn.dialect.name == "sqlite":
        # The same statement as text: compiling an IN of 500 values each time costs
        # more than SQLite's work when, as in a first sync, there is nothing to delete.
        for chunk in _chunks(ids, CHUNK):
            marks = ", ".join(["?"] * len(chunk))
            conn.exec_driver_sql(
                f'DELETE FROM "{table.name}" WHERE "{parent_column}" IN ({marks})', tuple(chunk))
        return
    col = table.c[parent_column]
    for chunk in _chunks(ids, CHUNK):
        conn.execute(delete(table).where(col.in_(chunk)))


def delete_keys(conn: Connection, table: Table, keys: Iterable[tuple[Any, ...]]) -> None:
    """Delete rows by full primary key tuples."""
    pk = list(table.primary_key.columns)
    items = sorted(set(keys))
    for chunk in _chunks(items, CHUNK):
        if len(pk) == 1:
            conn.execute(delete(table).where(pk[0].in_([k[0] for k in chunk])))
        else:
            conn.execute(delete(table).where(tuple_(*pk).in_(chunk)))
