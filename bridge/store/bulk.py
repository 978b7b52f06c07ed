"""A first load without the secondary indexes: they are built once the rows are in.

Putting 400,000 orders one at a time into an index keyed by customer (the segment
evaluation's covering index, ``ix_orders_segment_eval``) costs SQLite about as much as
putting them into the table itself, and the writes of a sync are one at a time; building
the same index once the rows are in is one sort (a benchmark's figures are in the README).
So when a sync is about to write many records of an entity whose table is still empty,
``defer_indexes`` drops the secondary indexes of that entity's tables, and
``build_indexes`` creates them again once its rows are written. Only an empty table
qualifies: an index is never missing under data that was complete before the run.

A sync that dies in between (SIGKILL, power) leaves them missing: the next sync begins
with ``restore_indexes``, which creates every one the models define and the store lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import Connection, Index, inspect, literal, select

from bridge.store import segment_tables  # noqa: F401 - its indexes join the synced tables
from bridge.store.models import Base

log = logging.getLogger(__name__)

# Each synced entity's tables, the one that says "empty" first.
ENTITY_TABLES: dict[str, tuple[str, ...]] = {
    "customers": ("customers", "customer_addresses", "customer_attributes"),
    "orders": ("orders", "order_items", "order_addresses"),
    "carts": ("carts", "cart_items"),
}


def secondary_indexes(table_names: Iterable[str]) -> list[Index]:
    """The non-unique indexes the models define on these tables, by name; not one that
    leads with a foreign key's column (MariaDB and MySQL refuse to drop those: the key
    needs it)."""
    tables = Base.metadata.tables
    return sorted((ix for name in table_names for ix in tables[name].indexes
                   if not ix.unique and ix.name and not list(ix.columns)[0].foreign_keys),
                  key=lambda ix: str(ix.name))


def _holds_rows(conn: Connection, table_name: str) -> bool:
    """Does the table hold a row? Reading it also makes the connection see the schema as
    it is now. SQLite keeps each connection's copy of the schema and checks it when a
    statement reads or writes the database, but not when it parses CREATE INDEX or
    PRAGMA index_list: on a connection that last read it before another one dropped an
    index, the index still "exists"."""
    table = Base.metadata.tables[table_name]
    return conn.execute(select(literal(1)).select_from(table).limit(1)).first() is not None


def _present(conn: Connection, table_names: Iterable[str]) -> set[str]:
    table_names = list(table_names)
    _holds_rows(conn, table_names[0])  # the schema as it is now
    inspector = inspect(conn)
    return {str(ix["name"]) for name in table_names for ix in inspector.get_indexes(name)}


def defer_indexes(conn: Connection, entity: str) -> list[Index]:
    """Drop the secondary indexes of ``entity``'s tables if its table is empty; the ones
    dropped, for ``build_indexes`` (none: the table holds rows, or they are gone)."""
    names = ENTITY_TABLES[entity]
    if _holds_rows(conn, names[0]):
        return []
    present = _present(conn, names)
    dropped = [ix for ix in secondary_indexes(names) if ix.name in present]
    for ix in dropped:
        ix.drop(conn)
    if dropped:
        log.info("%s: first load; %d indexes are built after it", entity, len(dropped))
    return dropped


def build_indexes(conn: Connection, indexes: Iterable[Index]) -> None:
    indexes = list(indexes)
    if indexes:
        _holds_rows(conn, str(indexes[0].table.name))  # type: ignore[union-attr]
    for ix in indexes:
        ix.create(conn)


def restore_indexes(conn: Connection) -> list[str]:
    """Create the synced tables' secondary indexes that the store lacks (a first load
    that did not finish); their names."""
    names = [name for tables in ENTITY_TABLES.values() for name in tables]
    present = _present(conn, names)
    missing = [ix for ix in secondary_indexes(names) if ix.name not in present]
    build_indexes(conn, missing)
    if missing:
        log.warning("store: %d indexes were missing (a first sync that did not finish); "
                    "built again: %s", len(missing), ", ".join(str(ix.name) for ix in missing))
    return [str(ix.name) for ix in missing]
