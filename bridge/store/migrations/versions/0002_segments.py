"""segment tables: segments, memberships, history, evaluations

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("website", sa.String(64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("group_code", sa.String(64), nullable=True),
        sa.Column("source", sa.String(1024), nullable=True),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("defined_at", sa.DateTime(), nullable=False),
        sa.Column("last_evaluated_at", sa.DateTime(), nullable=True),
        sa.Column("last_as_of", sa.DateTime(), nullable=True),
        sa.Column("last_changed_at", sa.DateTime(), nullable=True),
        sa.Column("members", sa.Integer(), nullable=False),
    )
    op.create_table(
        "segment_members",
        sa.Column("segment_code", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_segment_members_customer", "segment_members", ["customer_id"])
    op.create_table(
        "segment_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("segment_code", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("evaluation_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_segment_history_segment_at", "segment_history", ["segment_code", "at"])
    op.create_index("ix_segment_history_customer", "segment_history", ["customer_id"])
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("segments", sa.JSON(), nullable=True),
    )
    op.create_index("ix_evaluations_run_id", "evaluations", ["run_id"])
    # a covering index for the one grouped pass over orders (see segment_tables.py)
    op.create_index(
        "ix_orders_segment_eval",
        "orders",
        [
            "customer_id",
            "created_at",
            "status",
            "website_id",
            "deleted",
            "base_grand_total",
            "total_qty_ordered",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_orders_segment_eval", table_name="orders")
    op.drop_index("ix_evaluations_run_id", table_name="evaluations")
    op.drop_table("evaluations")
    op.drop_index("ix_segment_history_customer", table_name="segment_history")
    op.drop_index("ix_segment_history_segment_at", table_name="segment_history")
    op.drop_table("segment_history")
    op.drop_index("ix_segment_members_customer", table_name="segment_members")
    op.drop_table("segment_members")
    op.drop_table("segments")
