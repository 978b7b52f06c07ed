"""drop ix_orders_guest_email

Revision ID: 0007
Revises: 0006

No query reads orders by e-mail: guest-order linking walks the guest orders (by
``customer_id`` null, through ix_orders_segment_eval) and looks each e-mail up among the
customers (ix_customers_email_website); segments never filter orders by e-mail. The
index cost every order write, and being keyed by e-mail its rows land on random pages:
measured on SQLite, a third of the orders table's insert time in a full sync.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAME = "ix_orders_guest_email"


def upgrade() -> None:
    if NAME in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("orders")}:
        op.drop_index(NAME, table_name="orders")


def downgrade() -> None:
    op.create_index(NAME, "orders", ["customer_email_ci", "website_id"])
