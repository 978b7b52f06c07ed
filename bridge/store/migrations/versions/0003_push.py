"""push tables: home groups, recorded objects, the write journal

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ci(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_nopad_bin"),
        "mysql",
        "mariadb",
    )


def upgrade() -> None:
    op.create_table(
        "push_customers",
        sa.Column("customer_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("home_group_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("written_group_id", sa.Integer(), nullable=True),
        sa.Column("written_at", sa.DateTime(), nullable=True),
        sa.Column("overridden_target_id", sa.Integer(), nullable=True),
        sa.Column("overridden_at", sa.DateTime(), nullable=True),
    )
    op.create_index(
        "ix_push_customers_written_group_id", "push_customers", ["written_group_id"]
    )
    op.create_table(
        "push_groups",
        sa.Column("code_ci", _ci(64), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "push_objects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("segment_code", sa.String(64), nullable=False),
        sa.Column("magento_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("store_code", sa.String(64), nullable=True),
        sa.Column("identifier", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("kind", "key", name="uq_push_objects_kind_key"),
    )
    op.create_index("ix_push_objects_segment_code", "push_objects", ["segment_code"])
    op.create_table(
        "push_batches",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
    )
    op.create_index("ix_push_batches_status", "push_batches", ["status"])
    op.create_table(
        "push_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "batch_id",
            sa.Integer(),
            sa.ForeignKey("push_batches.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("segment_code", sa.String(64), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("magento_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_push_steps_batch_state", "push_steps", ["batch_id", "state"])
    op.create_index("ix_push_steps_batch_seq", "push_steps", ["batch_id", "seq"])


def downgrade() -> None:
    op.drop_table("push_steps")
    op.drop_table("push_batches")
    op.drop_table("push_objects")
    op.drop_table("push_groups")
    op.drop_table("push_customers")
