"""The right to object: ``privacy.opt_out_attribute``.

A customer whose custom attribute of that code holds true, 1 or "yes" (any case) is a
member of no segment: the evaluation drops them after the conditions are computed, so the
push returns them to their home group; ``explain`` says so instead of showing a verdict.
The sync always keeps that attribute (bridge.privacy.keep), whatever ``privacy.keep`` says.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, delete, func, select

from bridge.privacy.keep import OPT_OUT_VALUES, opt_out_code
from bridge.store import models as m

ATTRS = m.CustomerAttribute.__table__


def opted_out(value: Any) -> bool:
    """Does an attribute value say "no profiling"?"""
    return value is not None and str(value).strip().casefold() in OPT_OUT_VALUES


def opted_out_ids(config: Any) -> Any:
    """A SELECT of the ids of customers who objected (None: no opt-out attribute set)."""
    code = opt_out_code(config)
    if not code:
        return None
    return select(ATTRS.c.customer_id).where(
        ATTRS.c.code == code, func.trim(ATTRS.c.value_ci).in_(OPT_OUT_VALUES))


def drop_opted_out(conn: Connection, wide: Table, config: Any) -> None:
    """Take the customers who objected out of an evaluation's memberships table."""
    ids = opted_out_ids(config)
    if ids is not None:
        conn.execute(delete(wide).where(wide.c.customer_id.in_(ids)))


def opted_out_count(conn: Connection, config: Any) -> int:
    ids = opted_out_ids(config)
    if ids is None:
        return 0
    return int(conn.execute(select(func.count()).select_from(ids.subquery())).scalar_one())


def objection(attributes: dict[str, Any], config: Any) -> str | None:
    """Why one customer is in no segment (their attributes, as ``load_customer`` reads
    them), or None when they did not object."""
    code = opt_out_code(config)
    if not code or not opted_out(attributes.get(code)):
        return None
    return (f"the customer objected to profiling (privacy.opt_out_attribute {code} = "
            f"{attributes.get(code)}): a member of no segment")


def objection_line(engine: Any, config: Any) -> str | None:
    """The line under a membership count: how many customers objected (None: nobody)."""
    if not opt_out_code(config):
        return None
    with engine.connect() as conn:
        n = opted_out_count(conn, config)
    if not n:
        return None
    who = "1 customer" if n == 1 else f"{n} customers"
    return (f"{who} objected to profiling (privacy.opt_out_attribute "
            f"{opt_out_code(config)}): in no segment, whatever the conditions say")
