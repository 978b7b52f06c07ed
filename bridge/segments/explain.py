"""``segbridge explain``: a segment's condition tree with one customer's actual values.

The reference evaluator computes every node (no short-circuit, so every value is
shown); the leaf that decided is found by following, from the root, the child that
settled each combine the way Magento's Combine stops.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from bridge.errors import ConfigError
from bridge.output import safe
from bridge.segments.model import Segment
from bridge.segments.reference import CustomerData, Reference, Trace, load_customer
from bridge.store import models as m

TICK, CROSS = "✓", "✗"


def find_customers(conn: Connection, who: str) -> list[dict[str, Any]]:
    """Customers matching an id or an email (an email can exist once per website)."""
    c = m.Customer.__table__
    text = who.strip()
    if text.isdigit():
        q = select(c.c.id, c.c.email, c.c.website_id, c.c.deleted).where(c.c.id == int(text))
    else:
        q = select(c.c.id, c.c.email, c.c.website_id, c.c.deleted).where(
            c.c.email_ci == text.casefold()
        )
    return [dict(r._mapping) for r in conn.execute(q.order_by(c.c.id))]


def explain_customer(
    conn: Connection,
    segment: Segment,
    segments: dict[str, Segment],
    customer_id: int,
    as_of: datetime,
    config: Any = None,
) -> tuple[CustomerData, Trace]:
    data = load_customer(conn, customer_id, config)
    if data is None:
        raise ConfigError([f"customer {customer_id}: not in the store (sync first?)"])
    return data, Reference(data, segments, as_of).segment(segment)


def trace_json(t: Trace, decided: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"condition": t.label, "holds": t.result}
    if t.node is None or not t.node.is_combine:
        out["actual"] = t.actual
    if id(t) in decided:
        out["decided"] = True
    if t.children:
        out["rules"] = [trace_json(c, decided) for c in t.children]
    return out


def decision_path(t: Trace) -> list[Trace]:
    path = [t]
    while path[-1].decided_by is not None:
        path.append(path[-1].decided_by)  # type: ignore[arg-type]
    return path


def render_lines(t: Trace, decided: set[int], depth: int = 0) -> list[str]:
    mark = TICK if t.result else CROSS
    pad = "  " * depth
    line = f"{pad}{mark} {safe(t.label)}"
    if t.node is None or not t.node.is_combine:
        line += f"    (actual: {safe(t.actual)})"
    if id(t) in decided and not t.children:
        line += "    ← decided"
    lines = [line]
    for child in t.children:
        lines.extend(render_lines(child, decided, depth + 1))
    return lines
