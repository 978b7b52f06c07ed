"""core tables: the shop's copy (customers, orders, carts, structure) and bookkeeping

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ci(length: int) -> sa.types.TypeEngine:
    """A case-folded twin column (see bridge.store.models.CiString)."""
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_nopad_bin"),
        "mysql",
        "mariadb",
    )


def _ci_text() -> sa.types.TypeEngine:
    return sa.Text().with_variant(
        mysql.TEXT(charset="utf8mb4", collation="utf8mb4_nopad_bin"), "mysql", "mariadb"
    )


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("website_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("items_count", sa.Integer(), nullable=False),
        sa.Column("items_qty", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("grand_total", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("tax_amount", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("totals_at", sa.DateTime(), nullable=True),
        sa.Column("converted_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_carts_customer_id"), "carts", ["customer_id"], unique=False)
    op.create_index(op.f("ix_carts_updated_at"), "carts", ["updated_at"], unique=False)
    op.create_table(
        "customer_groups",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("code_ci", _ci(64), nullable=False),
        sa.Column("tax_class_id", sa.Integer(), nullable=True),
        sa.Column("tax_class_name", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("website_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("email_ci", _ci(255), nullable=False),
        sa.Column("firstname", sa.String(length=255), nullable=True),
        sa.Column("firstname_ci", _ci(255), nullable=True),
        sa.Column("lastname", sa.String(length=255), nullable=True),
        sa.Column("lastname_ci", _ci(255), nullable=True),
        sa.Column("middlename", sa.String(length=255), nullable=True),
        sa.Column("middlename_ci", _ci(255), nullable=True),
        sa.Column("prefix", sa.String(length=64), nullable=True),
        sa.Column("prefix_ci", _ci(64), nullable=True),
        sa.Column("suffix", sa.String(length=64), nullable=True),
        sa.Column("suffix_ci", _ci(64), nullable=True),
        sa.Column("taxvat", sa.String(length=64), nullable=True),
        sa.Column("taxvat_ci", _ci(64), nullable=True),
        sa.Column("created_in", sa.String(length=255), nullable=True),
        sa.Column("created_in_ci", _ci(255), nullable=True),
        sa.Column("gender", sa.Integer(), nullable=True),
        sa.Column("dob", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("is_subscribed", sa.Boolean(), nullable=True),
        sa.Column("default_billing_id", sa.Integer(), nullable=True),
        sa.Column("default_shipping_id", sa.Integer(), nullable=True),
        sa.Column("disable_auto_group_change", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_customers_deleted"), "customers", ["deleted"], unique=False)
    op.create_index(
        "ix_customers_email_website", "customers", ["email_ci", "website_id"], unique=False
    )
    op.create_index(op.f("ix_customers_group_id"), "customers", ["group_id"], unique=False)
    op.create_index(op.f("ix_customers_updated_at"), "customers", ["updated_at"], unique=False)
    op.create_index(op.f("ix_customers_website_id"), "customers", ["website_id"], unique=False)
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("increment_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("customer_email", sa.String(length=255), nullable=True),
        sa.Column("customer_email_ci", _ci(255), nullable=True),
        sa.Column("customer_is_guest", sa.Boolean(), nullable=False),
        sa.Column("guest_customer_id", sa.Integer(), nullable=True),
        sa.Column("customer_group_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("website_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("base_grand_total", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("grand_total", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("subtotal", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("total_qty_ordered", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("base_currency_code", sa.String(length=8), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_orders_customer_created", "orders", ["customer_id", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_orders_customer_email_ci"), "orders", ["customer_email_ci"], unique=False
    )
    op.create_index(op.f("ix_orders_customer_id"), "orders", ["customer_id"], unique=False)
    op.create_index(
        op.f("ix_orders_guest_customer_id"), "orders", ["guest_customer_id"], unique=False
    )
    op.create_index(
        "ix_orders_guest_email", "orders", ["customer_email_ci", "website_id"], unique=False
    )
    op.create_index(op.f("ix_orders_updated_at"), "orders", ["updated_at"], unique=False)
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_quarantine_run_id"), "quarantine", ["run_id"], unique=False)
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "store_groups",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("website_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("default_store_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "store_views",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("website_id", sa.Integer(), nullable=False),
        sa.Column("store_group_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sync_state",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.DateTime(), nullable=True),
        sa.Column("last_full_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("page_size", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("entity"),
    )
    op.create_table(
        "websites",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("default_group_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "cart_items",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cart_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("sku_ci", _ci(255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("name_ci", _ci(255), nullable=True),
        sa.Column("product_type", sa.String(length=32), nullable=True),
        sa.Column("price", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("qty", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.ForeignKeyConstraint(["cart_id"], ["carts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_cart_items_cart_id"), "cart_items", ["cart_id"], unique=False)
    op.create_table(
        "customer_addresses",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("firstname", sa.String(length=255), nullable=True),
        sa.Column("firstname_ci", _ci(255), nullable=True),
        sa.Column("lastname", sa.String(length=255), nullable=True),
        sa.Column("lastname_ci", _ci(255), nullable=True),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column("company_ci", _ci(255), nullable=True),
        sa.Column("street", sa.String(length=1024), nullable=True),
        sa.Column("street_ci", _ci(1024), nullable=True),
        sa.Column("city", sa.String(length=255), nullable=True),
        sa.Column("city_ci", _ci(255), nullable=True),
        sa.Column("region", sa.String(length=255), nullable=True),
        sa.Column("region_ci", _ci(255), nullable=True),
        sa.Column("region_code", sa.String(length=64), nullable=True),
        sa.Column("region_code_ci", _ci(64), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("postcode", sa.String(length=64), nullable=True),
        sa.Column("postcode_ci", _ci(64), nullable=True),
        sa.Column("country_id", sa.String(length=8), nullable=True),
        sa.Column("country_id_ci", _ci(8), nullable=True),
        sa.Column("telephone", sa.String(length=64), nullable=True),
        sa.Column("telephone_ci", _ci(64), nullable=True),
        sa.Column("vat_id", sa.String(length=64), nullable=True),
        sa.Column("vat_id_ci", _ci(64), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_customer_addresses_customer_id"),
        "customer_addresses",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "customer_attributes",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("value_ci", _ci_text(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", "code"),
    )
    op.create_table(
        "order_addresses",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("address_type", sa.String(length=16), nullable=False),
        sa.Column("firstname", sa.String(length=255), nullable=True),
        sa.Column("firstname_ci", _ci(255), nullable=True),
        sa.Column("lastname", sa.String(length=255), nullable=True),
        sa.Column("lastname_ci", _ci(255), nullable=True),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column("company_ci", _ci(255), nullable=True),
        sa.Column("street", sa.String(length=1024), nullable=True),
        sa.Column("street_ci", _ci(1024), nullable=True),
        sa.Column("city", sa.String(length=255), nullable=True),
        sa.Column("city_ci", _ci(255), nullable=True),
        sa.Column("region", sa.String(length=255), nullable=True),
        sa.Column("region_ci", _ci(255), nullable=True),
        sa.Column("region_code", sa.String(length=64), nullable=True),
        sa.Column("region_code_ci", _ci(64), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("postcode", sa.String(length=64), nullable=True),
        sa.Column("postcode_ci", _ci(64), nullable=True),
        sa.Column("country_id", sa.String(length=8), nullable=True),
        sa.Column("country_id_ci", _ci(8), nullable=True),
        sa.Column("telephone", sa.String(length=64), nullable=True),
        sa.Column("telephone_ci", _ci(64), nullable=True),
        sa.Column("vat_id", sa.String(length=64), nullable=True),
        sa.Column("vat_id_ci", _ci(64), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("order_id", "address_type"),
    )
    op.create_table(
        "order_items",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("parent_item_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("product_type", sa.String(length=32), nullable=True),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("sku_ci", _ci(255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("name_ci", _ci(255), nullable=True),
        sa.Column("price", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("base_price", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("qty_ordered", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("row_total", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_order_items_order_id"), "order_items", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_table("order_items")
    op.drop_table("order_addresses")
    op.drop_table("customer_attributes")
    op.drop_table("customer_addresses")
    op.drop_table("cart_items")
    op.drop_table("websites")
    op.drop_table("sync_state")
    op.drop_table("store_views")
    op.drop_table("store_groups")
    op.drop_table("runs")
    op.drop_table("quarantine")
    op.drop_table("orders")
    op.drop_table("customers")
    op.drop_table("customer_groups")
    op.drop_table("carts")
