"""Erasure: a person out of every table of the store, and what keeps them out.

``erase_customers`` removes customers and everything linked to them: their addresses and
custom attributes, their orders (with items and addresses) and the guest orders linked to
them or placed with their e-mail (without an account: another account's orders are its
own), their carts (with items), and every row of any other
table that names them in a ``customer_id`` column (memberships, history, the push's home
groups and journal, hold-outs, …: found by reflecting the store, so a table added later
is covered too), and quarantined records of theirs.

``forget`` (``segbridge forget``) also records SHA-256 digests of the person's id and
e-mail in ``privacy_forgotten``: nothing else about them is kept, and the sync skips a
record whose customer id or e-mail has such a digest (``Forgotten``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, MetaData, Table, delete, insert, or_, select

from bridge.store import models as m
from bridge.store.privacy_tables import PrivacyForgotten
from bridge.timeutil import utcnow

log = logging.getLogger(__name__)

FORGOTTEN = PrivacyForgotten.__table__
CHUNK = 500
# Tables erased explicitly, children first; any other table with one of LINK_COLUMNS
# loses the rows that name an erased customer.
OWN = {
    "customers", "customer_addresses", "customer_attributes", "orders", "order_items",
    "order_addresses", "carts", "cart_items", "quarantine",
}
LINK_COLUMNS = ("customer_id", "guest_customer_id")


def digest(kind: str, value: str | int) -> str:
    """The SHA-256 kept of a forgotten id or e-mail (e-mails without case)."""
    text = str(value).strip().casefold() if kind == "email" else str(int(value))
    return hashlib.sha256(f"segbridge:{kind}:{text}".encode()).hexdigest()


@dataclass
class Erased:
    customers: int = 0
    orders: int = 0
    carts: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted

    def add(self, table: str, n: int) -> None:
        if n:
            self.rows[table] = self.rows.get(table, 0) + n


def _chunks(values: Sequence[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start:start + CHUNK])


def _delete_in(conn: Connection, table: Table, column: str, values: Sequence[Any],
               out: Erased) -> None:
    for part in _chunks(values):
        res = conn.execute(delete(table).where(table.c[column].in_(part)))
        out.add(table.name, max(0, res.rowcount or 0))


def erase_customers(conn: Connection, ids: Iterable[int], emails: Iterable[str] = ()
                    ) -> Erased:
    """Erase customers ``ids`` (and guest orders placed with ``emails`` or theirs) from
    every table, in the caller's transaction."""
    out = Erased()
    ids = sorted({int(i) for i in ids})
    c = m.Customer.__table__
    folded = {e.strip().casefold() for e in emails if e and e.strip()}
    for part in _chunks(ids):
        folded |= {e for e in conn.execute(select(c.c.email_ci).where(c.c.id.in_(part)))
                   .scalars() if e}
    if not ids and not folded:
        return out
    o = m.Order.__table__
    order_ids: set[int] = set()
    for part in _chunks(ids):
        order_ids |= set(conn.execute(select(o.c.id).where(
            or_(o.c.customer_id.in_(part), o.c.guest_customer_id.in_(part)))).scalars())
    for part in _chunks(sorted(folded)):  # guest orders (another account's are its own)
        order_ids |= set(conn.execute(select(o.c.id).where(
            o.c.customer_email_ci.in_(part), o.c.customer_id.is_(None))).scalars())
    k = m.Cart.__table__
    cart_ids: set[int] = set()
    for part in _chunks(ids):
        cart_ids |= set(conn.execute(select(k.c.id).where(k.c.customer_id.in_(part))).scalars())
    orders, carts = sorted(order_ids), sorted(cart_ids)
    _delete_in(conn, m.OrderItem.__table__, "order_id", orders, out)
    _delete_in(conn, m.OrderAddress.__table__, "order_id", orders, out)
    _delete_in(conn, o, "id", orders, out)
    _delete_in(conn, m.CartItem.__table__, "cart_id", carts, out)
    _delete_in(conn, k, "id", carts, out)
    _delete_in(conn, m.CustomerAddress.__table__, "customer_id", ids, out)
    _delete_in(conn, m.CustomerAttribute.__table__, "customer_id", ids, out)
    _erase_quarantine(conn, ids, orders, carts, folded, out)
    for table in _linked_tables(conn):
        for column in LINK_COLUMNS:
            if column in table.c:
                _delete_in(conn, table, column, ids, out)
    _delete_in(conn, c, "id", ids, out)
    out.customers = out.rows.get("customers", 0)
    out.orders = len(orders)
    out.carts = len(carts)
    return out


def _linked_tables(conn: Connection) -> list[Table]:
    """Every table of the store (reflected: whoever added it) that is not erased above."""
    meta = MetaData()
    meta.reflect(conn)
    return [t for name, t in sorted(meta.tables.items())
            if name not in OWN and any(col in t.c for col in LINK_COLUMNS)]


def _erase_quarantine(conn: Connection, ids: Sequence[int], orders: Sequence[int],
                      carts: Sequence[int], emails: set[str], out: Erased) -> None:
    """Quarantined records of theirs: by record id, or any payload that holds their
    e-mail or names them as the customer."""
    q = m.Quarantine.__table__
    mine = {("customers", str(i)) for i in ids} | {("orders", str(i)) for i in orders} | {
        ("carts", str(i)) for i in carts}
    id_set = set(ids)
    doomed: list[int] = []
    for qid, entity, record_id, payload in conn.execute(
            select(q.c.id, q.c.entity, q.c.record_id, q.c.payload)):
        if (entity, record_id) in mine:
            doomed.append(qid)
            continue
        if payload is None:
            continue
        text = json.dumps(payload, default=str).casefold()
        if any(e in text for e in emails) or _names_customer(payload, id_set):
            doomed.append(qid)
    _delete_in(conn, q, "id", doomed, out)


def _names_customer(value: Any, ids: set[int]) -> bool:
    if isinstance(value, dict):
        for key, v in value.items():
            if key == "customer_id" and _as_int(v) in ids:
                return True
            if key == "customer" and isinstance(v, dict) and _as_int(v.get("id")) in ids:
                return True
            if _names_customer(v, ids):
                return True
    elif isinstance(value, list):
        return any(_names_customer(v, ids) for v in value)
    return False


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


# --- forgotten people ---------------------------------------------------------------------


def remember_forgotten(conn: Connection, ids: Iterable[int], emails: Iterable[str]) -> None:
    """Record the digests of a forgotten person's ids and e-mails (nothing else)."""
    now = utcnow()
    rows = {digest("id", i): "id" for i in ids}
    rows.update({digest("email", e): "email" for e in emails if e and e.strip()})
    have = set(conn.execute(select(FORGOTTEN.c.digest).where(
        FORGOTTEN.c.digest.in_(list(rows)))).scalars()) if rows else set()
    new = [{"digest": d, "kind": k, "forgotten_at": now} for d, k in rows.items()
           if d not in have]
    if new:
        conn.execute(insert(FORGOTTEN), new)


@dataclass(frozen=True)
class Forgotten:
    """The digests of forgotten people, to keep their records out of a sync."""

    ids: frozenset[str]
    emails: frozenset[str]

    @classmethod
    def load(cls, conn: Connection) -> Forgotten:
        rows = conn.execute(select(FORGOTTEN.c.digest, FORGOTTEN.c.kind)).all()
        return cls(frozenset(d for d, k in rows if k == "id"),
                   frozenset(d for d, k in rows if k == "email"))

    def __bool__(self) -> bool:
        return bool(self.ids or self.emails)

    def has_id(self, value: Any) -> bool:
        ident = _as_int(value)
        return ident is not None and ident > 0 and digest("id", ident) in self.ids

    def has_email(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip()) and digest(
            "email", value) in self.emails

    def keeps_out(self, entity: str, record: Any) -> bool:
        """Is this raw Magento record a forgotten person's (or about one)?"""
        if not isinstance(record, dict):
            return False
        if entity == "customers":
            return self.has_id(record.get("id")) or self.has_email(record.get("email"))
        if entity == "orders":
            return self.has_id(record.get("customer_id")) or self.has_email(
                record.get("customer_email"))
        if entity == "carts":
            customer = record.get("customer") if isinstance(record.get("customer"), dict) else {}
            return self.has_id(customer.get("id") or record.get("customer_id")) or (
                self.has_email(customer.get("email")))
        return False
