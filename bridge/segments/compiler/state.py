"""The core every pass shares: the lookups read before compiling, the plan (temp-table
steps and the membership SELECT), and ``State``, one compilation's registries.

A pass registers what its conditions need (an order scope, a flag, a cart scope) in the
State while the segments' conditions are compiled; the temp tables' columns come into
being through ``State.tcol`` and are filled once every condition is known.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Integer,
    MetaData,
    Select,
    Table,
    select,
)

from bridge.segments.compiler.sql import fill_statements, fill_table
from bridge.segments.model import ProductFilter, Segment
from bridge.store import models as m


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



class State:
    """One compilation: the segments, as-of, config and lookups, and what the passes
    registered so far. Each registry maps a key (scope, filter, operator, value) to the
    temp-table column that answers it, so equal conditions share one column."""

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
        # orders pass: scope -> number; (scope number, aggregate) -> column label
        self.order_scopes: dict[OrderScope, int] = {}
        self.order_cols: dict[tuple[int, str], str] = {}
        # items pass: (order scope, product filter) -> flag column
        self.item_flags: dict[tuple[int, ProductFilter], str] = {}
        # addresses passes: order addresses and the address book -> flag column
        self.oaddr_flags: dict[tuple[int, str, str, str, Any], str] = {}
        self.caddr_flags: dict[tuple[str, str, str, Any], str] = {}
        # cart pass: website scope -> number; (cart scope, product filter) -> flag column
        self.cart_scopes: dict[int | None, int] = {}
        self.cart_item_flags: dict[tuple[int, ProductFilter], str] = {}
        # activity pass: (scope, product filter) -> flag column, wishlist items and views
        self.wishlist_flags: dict[tuple[Any, ProductFilter], str] = {}
        self.view_flags: dict[tuple[Any, ProductFilter], str] = {}
        # membership SELECT: custom attribute code -> joined alias; home group used
        self.custom_attrs: dict[str, Any] = {}
        self.uses_home_group = False
        self.membership_cache: dict[str, ColumnElement[bool]] = {}
        # the temp tables by key, in creation order (the membership SELECT joins them so)
        self.tables: dict[str, Table] = {}

    def tcol(self, key: str, name: str, typ: Any = Integer) -> ColumnElement[Any]:
        """A column of the temp table ``key``, created on first use (filled by its pass)."""
        table = self.tables.get(key)
        if table is None:
            table = Table(
                f"sb_{key}_{self.tag}",
                self.md,
                Column("customer_id", Integer, primary_key=True),
                prefixes=["TEMPORARY"],
            )
            self.tables[key] = table
        if name not in table.c:
            table.append_column(Column(name, typ))
        return table.c[name]

    def fill(self, key: str, exprs: dict[str, ColumnElement[Any]], q: Any) -> Step:
        """The step filling temp table ``key`` given each column's expression."""
        table = self.tables[key]
        names = [c.name for c in table.columns if c.name != "customer_id"]
        q = q.add_columns(*[exprs[n].label(n) for n in names])
        return Step(table, ["customer_id", *names], q)
