"""Guest orders and the registered customer with the same email.

Representation: ``orders.guest_customer_id`` is set on guest orders (``customer_id``
null) to the registered, not deleted customer of the same website whose folded email
equals the order's folded ``customer_email``. Every sync that touched customers or
orders recomputes it, whatever ``sync.link_guest_orders`` says, so turning the flag on
or off needs no resync. The segment compiler decides whether to use it: with
``sync.link_guest_orders`` on, an order belongs to ``coalesce(customer_id,
guest_customer_id)``; off, to ``customer_id`` alone.

Same website only: Magento's default account sharing is per website, and a segment's
website filter counts orders placed in that website's store views.
"""

from __future__ import annotations

from sqlalchemy import Connection, false, func, select, update

from bridge.store.models import Customer, Order

_c = Customer.__table__
_o = Order.__table__


def link_guest_orders(conn: Connection) -> int:
    """Bring every guest order's ``guest_customer_id`` up to date; return rows changed."""
    match = (
        select(func.min(_c.c.id))
        .where(
            _c.c.email_ci == _o.c.customer_email_ci,
            _c.c.website_id == _o.c.website_id,
            _c.c.deleted == false(),
        )
        .scalar_subquery()
    )
    stmt = (
        update(_o)
        .where(_o.c.customer_id.is_(None))
        .where(_o.c.guest_customer_id.is_distinct_from(match))
        .values(guest_customer_id=match)
    )
    changed = int(conn.execute(stmt).rowcount or 0)
    cleared = conn.execute(
        update(_o)
        .where(_o.c.customer_id.is_not(None), _o.c.guest_customer_id.is_not(None))
        .values(guest_customer_id=None)
    )
    return changed + int(cleared.rowcount or 0)
