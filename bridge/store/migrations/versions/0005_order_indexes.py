"""drop three order indexes that longer ones already lead with

Revision ID: 0005
Revises: 0004

ix_orders_customer_id and ix_orders_customer_created are prefixes of
ix_orders_segment_eval (customer_id, created_at, …); ix_orders_customer_email_ci is a
prefix of ix_orders_guest_email (customer_email_ci, website_id). Every query they served
is served as well by the longer index, and each index costs every order write.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DROPPED = {
    "ix_orders_customer_id": ["customer_id"],
    "ix_orders_customer_created": ["customer_id", "created_at"],
    "ix_orders_customer_email_ci": ["customer_email_ci"],
}


def upgrade() -> None:
    present = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("orders")}
    for name in DROPPED:
        if name in present:
            op.drop_index(name, table_name="orders")


def downgrade() -> None:
    for name, columns in DROPPED.items():
        op.create_index(name, "orders", columns)
