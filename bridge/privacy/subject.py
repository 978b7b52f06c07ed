"""Access: everything the store holds about one person, as JSON (``segbridge subject``).

A person is a customer id, or an e-mail (which may be one account per website, and guest
orders placed with it). The answer holds each account's fields (without the folded
``*_ci`` twins, which only repeat them), addresses, custom attributes, orders with items
and addresses, carts with items, memberships and history (with hold-out flags where the
store has them), the group changes the push planned and made for them with their home
group, quarantined records of theirs, and the rows of any other table that names them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, MetaData, Table, or_, select

from bridge.privacy.erase import LINK_COLUMNS, _names_customer
from bridge.store import models as m

# Tables shown under their own key (the rest that name a customer: under "other").
SHOWN = {
    "customers", "customer_addresses", "customer_attributes", "orders", "order_items",
    "order_addresses", "carts", "cart_items", "quarantine", "segment_members",
    "segment_history", "push_customers", "push_steps",
}


def plain(value: Any) -> Any:
    """A value as JSON shows it: times ISO 8601, amounts as exact text."""
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, float) and value.is_integer():
        return value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _rows(conn: Connection, table: Table, where: Any, order: Any = None) -> list[dict[str, Any]]:
    q = select(table).where(where)
    if order is not None:
        q = q.order_by(order)
    return [{k: plain(v) for k, v in r._mapping.items() if not k.endswith("_ci")}
            for r in conn.execute(q)]


def find_person(conn: Connection, who: str) -> tuple[list[int], str | None]:
    """(customer ids, the e-mail given or None) for an id or an e-mail."""
    c = m.Customer.__table__
    text = who.strip()
    if text.isdigit():
        return [int(text)] if conn.execute(
            select(c.c.id).where(c.c.id == int(text))).first() else [], None
    ids = list(conn.execute(select(c.c.id).where(c.c.email_ci == text.casefold())
                            .order_by(c.c.id)).scalars())
    return ids, text


def subject(conn: Connection, who: str) -> dict[str, Any] | None:
    """Everything held about the person ``who`` (None: the store holds nothing)."""
    ids, email = find_person(conn, who)
    c = m.Customer.__table__
    emails = {email.casefold()} if email else set()
    accounts: list[dict[str, Any]] = []
    for cid in ids:
        accounts.append(_account(conn, cid))
        got = conn.execute(select(c.c.email_ci).where(c.c.id == cid)).scalar()
        if got:
            emails.add(got)
    o = m.Order.__table__
    guest = _orders(conn, and_guest(o, emails, ids)) if emails else []
    if not accounts and not guest:
        return None
    return {
        "query": who,
        "customers": accounts,
        "guest_orders": guest,
        "quarantine": _quarantine(conn, ids, emails),
    }


def and_guest(o: Table, emails: set[str], ids: list[int]) -> Any:
    """Guest orders placed with one of ``emails`` (not already an account's own)."""
    cond = o.c.customer_email_ci.in_(sorted(emails))
    if ids:
        cond = cond & or_(o.c.customer_id.is_(None), o.c.customer_id.not_in(ids))
    return cond


def _account(conn: Connection, cid: int) -> dict[str, Any]:
    c = m.Customer.__table__
    out: dict[str, Any] = {"fields": _rows(conn, c, c.c.id == cid)[0]}
    ca = m.CustomerAddress.__table__
    out["addresses"] = _rows(conn, ca, ca.c.customer_id == cid, ca.c.id)
    at = m.CustomerAttribute.__table__
    out["custom_attributes"] = {r["code"]: r["value"] for r in _rows(
        conn, at, at.c.customer_id == cid, at.c.code)}
    o = m.Order.__table__
    out["orders"] = _orders(conn, or_(o.c.customer_id == cid, o.c.guest_customer_id == cid))
    k = m.Cart.__table__
    carts = _rows(conn, k, k.c.customer_id == cid, k.c.id)
    ci = m.CartItem.__table__
    for cart in carts:
        cart["items"] = _rows(conn, ci, ci.c.cart_id == cart["id"], ci.c.id)
    out["carts"] = carts
    tables = _tables(conn)
    for key, name, order in (("memberships", "segment_members", "segment_code"),
                             ("history", "segment_history", "id")):
        t = tables.get(name)
        out[key] = _rows(conn, t, t.c.customer_id == cid, t.c[order]) if t is not None else []
    pc = tables.get("push_customers")
    home = _rows(conn, pc, pc.c.customer_id == cid) if pc is not None else []
    out["push"] = home[0] if home else None
    steps = tables.get("push_steps")
    out["group_changes"] = _rows(conn, steps, steps.c.customer_id == cid, steps.c.id) if (
        steps is not None) else []
    other: dict[str, list[dict[str, Any]]] = {}
    for name, t in sorted(tables.items()):
        if name in SHOWN:
            continue
        for col in LINK_COLUMNS:
            if col in t.c:
                rows = _rows(conn, t, t.c[col] == cid)
                if rows:
                    other.setdefault(name, []).extend(rows)
    out["other"] = other
    return out


def _orders(conn: Connection, where: Any) -> list[dict[str, Any]]:
    o = m.Order.__table__
    orders = _rows(conn, o, where, o.c.id)
    oi, oa = m.OrderItem.__table__, m.OrderAddress.__table__
    for order in orders:
        order["items"] = _rows(conn, oi, oi.c.order_id == order["id"], oi.c.id)
        order["addresses"] = _rows(conn, oa, oa.c.order_id == order["id"], oa.c.address_type)
    return orders


def _quarantine(conn: Connection, ids: list[int], emails: set[str]) -> list[dict[str, Any]]:
    import json

    q = m.Quarantine.__table__
    out = []
    wanted = set(ids)
    for r in conn.execute(select(q).order_by(q.c.id)):
        row = dict(r._mapping)
        text = json.dumps(row["payload"], default=str).casefold() if row["payload"] else ""
        mine = (row["entity"] == "customers" and row["record_id"] in {str(i) for i in ids}) or (
            any(e in text for e in emails)) or _names_customer(row["payload"], wanted)
        if mine:
            out.append(plain(row))
    return out


def _tables(conn: Connection) -> dict[str, Table]:
    meta = MetaData()
    meta.reflect(conn)
    return dict(meta.tables)
