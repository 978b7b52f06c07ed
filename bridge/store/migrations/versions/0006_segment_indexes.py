"""drop the customer-id indexes of segment_members and segment_history

Revision ID: 0006
Revises: 0005

No query of segbridge reads memberships or their history by customer alone: the push
reads members by segment, ``members`` and ``history`` list one segment, ``explain``
looks up one (segment, customer) pair, which the primary key serves. Each index cost
every join and leave recorded: at a million customers the first evaluation writes 4M
memberships and 4M history rows, and these two indexes took 5 of its seconds on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DROPPED = {
    "segment_members": "ix_segment_members_customer",
    "segment_history": "ix_segment_history_customer",
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, name in DROPPED.items():
        if name in {ix["name"] for ix in inspector.get_indexes(table)}:
            op.drop_index(name, table_name=table)


def downgrade() -> None:
    for table, name in DROPPED.items():
        op.create_index(name, table, ["customer_id"])
