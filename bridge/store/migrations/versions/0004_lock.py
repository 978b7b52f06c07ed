"""run lock lease table

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _lease_time() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    # A store made by create_all before migrations existed may already have the table.
    if sa.inspect(op.get_bind()).has_table("run_lock"):
        return
    op.create_table(
        "run_lock",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(36), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("acquired_at", _lease_time(), nullable=False),
        sa.Column("heartbeat_at", _lease_time(), nullable=False),
        sa.Column("expires_at", _lease_time(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_lock")
