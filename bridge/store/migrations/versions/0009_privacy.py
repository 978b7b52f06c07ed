"""privacy: the fields kept, the people forgotten, the sweeps of customer ids

Revision ID: 0009
Revises: 0008

``privacy_kept`` lists the personal fields the store holds for every record of an entity
since its last full pull (``privacy.keep = "used"`` keeps only what segments read);
``privacy_forgotten`` holds SHA-256 digests of the id and e-mail of people erased by
``segbridge forget``; ``privacy_sweeps`` records each sweep of customer ids that finds
customers Magento no longer has. See docs/privacy.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("privacy_kept"):
        op.create_table(
            "privacy_kept",
            sa.Column("entity", sa.String(32), nullable=False),
            sa.Column("field", sa.String(128), nullable=False),
            sa.Column("kept_since", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("entity", "field"),
        )
    if not inspector.has_table("privacy_forgotten"):
        op.create_table(
            "privacy_forgotten",
            sa.Column("digest", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(8), nullable=False),
            sa.Column("forgotten_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("digest"),
        )
    if not inspector.has_table("privacy_sweeps"):
        op.create_table(
            "privacy_sweeps",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=True),
            sa.Column("started_at", sa.DateTime(), nullable=False),
            sa.Column("ended_at", sa.DateTime(), nullable=True),
            sa.Column("full", sa.Boolean(), nullable=False),
            sa.Column("seen", sa.Integer(), nullable=False),
            sa.Column("erased", sa.Integer(), nullable=False),
            sa.Column("requests", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )


def downgrade() -> None:
    op.drop_table("privacy_sweeps")
    op.drop_table("privacy_forgotten")
    op.drop_table("privacy_kept")
