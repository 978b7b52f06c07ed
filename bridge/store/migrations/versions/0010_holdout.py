"""holdouts: the share a segment holds out, and which memberships are held out

Revision ID: 0010
Revises: 0009

``segments.holdout`` is the share of members the segment held out at its last evaluation
and ``segments.holdout_since`` the as-of of the evaluation that first applied that share
(``segbridge lift`` counts members who joined from then on). ``segment_members.holdout``
and ``segment_history.holdout`` mark the held-out members: members like the others
(``members``, ``history``, ``explain``, segment conditions see them), but the push treats
them as not in that segment. Existing rows are not held out (no segment had a holdout).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FLAGGED = ("segment_members", "segment_history")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    have = {c["name"] for c in inspector.get_columns("segments")}
    with op.batch_alter_table("segments") as batch:
        if "holdout" not in have:
            batch.add_column(
                sa.Column("holdout", sa.Double(), nullable=False, server_default="0")
            )
        if "holdout_since" not in have:
            batch.add_column(sa.Column("holdout_since", sa.DateTime(), nullable=True))
    for table in FLAGGED:
        if "holdout" in {c["name"] for c in inspector.get_columns(table)}:
            continue
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("holdout", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    for table in FLAGGED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("holdout")
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("holdout_since")
        batch.drop_column("holdout")
