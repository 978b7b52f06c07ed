"""shop identity, and who is running a run

Revision ID: 0008
Revises: 0007

``shop_identity`` records which Magento shop this store belongs to (the configured
``base_url``, the default store view's ``base_url`` and the website codes), so that a
store filled from one shop is never pushed to another. ``runs`` learns the process that
runs it (``host``, ``pid``) and when it was last seen alive, so that a run whose process
died is shown as ``interrupted`` instead of ``running`` for ever.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table("shop_identity"):
        op.create_table(
            "shop_identity",
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("recorded_at", sa.DateTime(), nullable=False),
        )
    have = {c["name"] for c in inspector.get_columns("runs")}
    with op.batch_alter_table("runs") as batch:
        if "host" not in have:
            batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        if "pid" not in have:
            batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        if "last_seen_at" not in have:
            batch.add_column(sa.Column("last_seen_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("last_seen_at")
        batch.drop_column("pid")
        batch.drop_column("host")
    op.drop_table("shop_identity")
