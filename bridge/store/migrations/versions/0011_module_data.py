"""the storefront module's data: wishlist items and viewed products

Revision ID: 0011
Revises: 0010

``wishlist_items`` (one row per Magento wishlist item) and ``product_views`` (one row per
customer and product, ``added_at`` the latest view) hold what the storefront module's
``GET /V1/segbridge/wishlistItems`` and ``/productViews`` answer, for the
``product.in_wishlist`` and ``product.viewed`` conditions (docs/segments.md). Both name
the customer in ``customer_id``, so erasing a customer removes their rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _ci(length: int) -> sa.types.TypeEngine:
    """A case-folded twin column (see bridge.store.models.CiString)."""
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_nopad_bin"),
        "mysql",
        "mariadb",
    )


def _product_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("sku", sa.String(255), nullable=True),
        sa.Column("sku_ci", _ci(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("name_ci", _ci(255), nullable=True),
        sa.Column("price", sa.Numeric(20, 4, asdecimal=True), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("website_id", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("wishlist_items"):
        op.create_table(
            "wishlist_items",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("customer_id", sa.Integer(), nullable=False),
            sa.Column("product_id", sa.Integer(), nullable=False),
            *_product_columns(),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_wishlist_items_customer_id", "wishlist_items", ["customer_id"])
    if not inspector.has_table("product_views"):
        op.create_table(
            "product_views",
            sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("product_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("view_id", sa.Integer(), nullable=False),
            *_product_columns(),
            sa.PrimaryKeyConstraint("customer_id", "product_id"),
        )


def downgrade() -> None:
    op.drop_table("product_views")
    op.drop_index("ix_wishlist_items_customer_id", table_name="wishlist_items")
    op.drop_table("wishlist_items")
