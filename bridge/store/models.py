"""The local copy of the shop: SQLAlchemy 2 typed models.

One schema for SQLite, PostgreSQL and MariaDB. Times are naive UTC. Money is an exact
decimal. Every string a segment condition can compare has a ``*_ci`` twin holding
``str.casefold()`` of the value, computed in Python when the row is written, so that
case-insensitive comparisons (docs/segments.md: Unicode case folding, accents kept) give the
same answer on every database; on MariaDB those twins use ``utf8mb4_nopad_bin``: binary,
so accents are not folded away, and NO PAD, so ``'a' = 'a '`` is false there as on SQLite
and PostgreSQL (``utf8mb4_bin`` is PAD SPACE and would ignore trailing spaces).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Exact money: Magento stores decimal(20,4).
Money = Numeric(20, 4, asdecimal=True)
Qty = Numeric(12, 4, asdecimal=True)


# Binary (accents and case kept as folded in Python) and NO PAD (trailing spaces count),
# so MariaDB compares the twins exactly like SQLite and PostgreSQL do. MariaDB >= 10.2;
# migrations spell the same name (test_store checks migrations == models).
CI_COLLATION = "utf8mb4_nopad_bin"


def CiString(length: int = 255) -> String:  # noqa: N802 - reads as a type
    """A case-folded twin column: binary NO PAD collation on MariaDB (see CI_COLLATION)."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation=CI_COLLATION), "mysql", "mariadb"
    )


def CiText() -> Text:  # noqa: N802 - reads as a type
    """A folded twin for long text (custom attribute values): as CiString, unbounded."""
    return Text().with_variant(
        mysql.TEXT(charset="utf8mb4", collation=CI_COLLATION), "mysql", "mariadb"
    )


def fold(value: str | None) -> str | None:
    """The value stored in a ``*_ci`` column."""
    return value.casefold() if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


# --- the shop's structure -------------------------------------------------------------


class Website(Base):
    __tablename__ = "websites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))
    default_group_id: Mapped[int | None] = mapped_column(Integer)


class StoreGroup(Base):
    __tablename__ = "store_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    website_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))
    default_store_id: Mapped[int | None] = mapped_column(Integer)


class StoreView(Base):
    __tablename__ = "store_views"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))
    website_id: Mapped[int] = mapped_column(Integer)
    store_group_id: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class CustomerGroup(Base):
    __tablename__ = "customer_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(64))
    code_ci: Mapped[str] = mapped_column(CiString(64))
    tax_class_id: Mapped[int | None] = mapped_column(Integer)
    tax_class_name: Mapped[str | None] = mapped_column(String(255))


# --- customers --------------------------------------------------------------------------


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    website_id: Mapped[int] = mapped_column(Integer, index=True)
    store_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int] = mapped_column(Integer, index=True)  # as Magento has it now
    email: Mapped[str] = mapped_column(String(255))
    email_ci: Mapped[str] = mapped_column(CiString(255))
    firstname: Mapped[str | None] = mapped_column(String(255))
    firstname_ci: Mapped[str | None] = mapped_column(CiString(255))
    lastname: Mapped[str | None] = mapped_column(String(255))
    lastname_ci: Mapped[str | None] = mapped_column(CiString(255))
    middlename: Mapped[str | None] = mapped_column(String(255))
    middlename_ci: Mapped[str | None] = mapped_column(CiString(255))
    prefix: Mapped[str | None] = mapped_column(String(64))
    prefix_ci: Mapped[str | None] = mapped_column(CiString(64))
    suffix: Mapped[str | None] = mapped_column(String(64))
    suffix_ci: Mapped[str | None] = mapped_column(CiString(64))
    taxvat: Mapped[str | None] = mapped_column(String(64))
    taxvat_ci: Mapped[str | None] = mapped_column(CiString(64))
    created_in: Mapped[str | None] = mapped_column(String(255))
    created_in_ci: Mapped[str | None] = mapped_column(CiString(255))
    gender: Mapped[int | None] = mapped_column(Integer)  # 1 male, 2 female, 3 not specified
    dob: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    is_subscribed: Mapped[bool | None] = mapped_column(Boolean)
    default_billing_id: Mapped[int | None] = mapped_column(Integer)
    default_shipping_id: Mapped[int | None] = mapped_column(Integer)
    disable_auto_group_change: Mapped[int | None] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_customers_email_website", "email_ci", "website_id"),)


class CustomerAttribute(Base):
    """A custom attribute listed in ``sync.customer_attributes``.

    Stored as text (multiselect values as Magento sends them, comma-separated);
    ``value_ci`` is the folded twin. Attributes not listed in the config are not kept,
    so adding a code to the list takes effect after the next full sync.
    """

    __tablename__ = "customer_attributes"
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    value_ci: Mapped[str | None] = mapped_column(CiText())


class CustomerAddress(Base):
    __tablename__ = "customer_addresses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    firstname: Mapped[str | None] = mapped_column(String(255))
    firstname_ci: Mapped[str | None] = mapped_column(CiString(255))
    lastname: Mapped[str | None] = mapped_column(String(255))
    lastname_ci: Mapped[str | None] = mapped_column(CiString(255))
    company: Mapped[str | None] = mapped_column(String(255))
    company_ci: Mapped[str | None] = mapped_column(CiString(255))
    street: Mapped[str | None] = mapped_column(String(1024))  # lines joined with "\n"
    street_ci: Mapped[str | None] = mapped_column(CiString(1024))
    city: Mapped[str | None] = mapped_column(String(255))
    city_ci: Mapped[str | None] = mapped_column(CiString(255))
    region: Mapped[str | None] = mapped_column(String(255))
    region_ci: Mapped[str | None] = mapped_column(CiString(255))
    region_code: Mapped[str | None] = mapped_column(String(64))
    region_code_ci: Mapped[str | None] = mapped_column(CiString(64))
    region_id: Mapped[int | None] = mapped_column(Integer)
    postcode: Mapped[str | None] = mapped_column(String(64))
    postcode_ci: Mapped[str | None] = mapped_column(CiString(64))
    country_id: Mapped[str | None] = mapped_column(String(8))
    country_id_ci: Mapped[str | None] = mapped_column(CiString(8))
    telephone: Mapped[str | None] = mapped_column(String(64))
    telephone_ci: Mapped[str | None] = mapped_column(CiString(64))
    vat_id: Mapped[str | None] = mapped_column(String(64))
    vat_id_ci: Mapped[str | None] = mapped_column(CiString(64))


# --- orders -----------------------------------------------------------------------------


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # entity_id
    increment_id: Mapped[str | None] = mapped_column(String(64))
    # customer_id leads ix_orders_segment_eval (segment_tables.py): an index of its own
    # would only slow every write. Nothing reads orders by e-mail (migration 0007).
    customer_id: Mapped[int | None] = mapped_column(Integer)  # None for guests
    customer_email: Mapped[str | None] = mapped_column(String(255))
    customer_email_ci: Mapped[str | None] = mapped_column(CiString(255))
    customer_is_guest: Mapped[bool] = mapped_column(Boolean, default=False)
    # Guest orders only: the registered customer of the same website with the same
    # email (folded), kept current by every sync whatever sync.link_guest_orders says;
    # the segment compiler counts it only when the flag is on (see bridge.sync.linking).
    guest_customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    customer_group_id: Mapped[int | None] = mapped_column(Integer)
    store_id: Mapped[int | None] = mapped_column(Integer)
    website_id: Mapped[int | None] = mapped_column(Integer)  # derived from store_id
    status: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    base_grand_total: Mapped[Decimal | None] = mapped_column(Money)
    grand_total: Mapped[Decimal | None] = mapped_column(Money)
    subtotal: Mapped[Decimal | None] = mapped_column(Money)
    total_qty_ordered: Mapped[Decimal | None] = mapped_column(Qty)
    base_currency_code: Mapped[str | None] = mapped_column(String(8))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime)


class OrderItem(Base):
    __tablename__ = "order_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # item_id
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    parent_item_id: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(Integer)
    product_type: Mapped[str | None] = mapped_column(String(32))
    sku: Mapped[str | None] = mapped_column(String(255))
    sku_ci: Mapped[str | None] = mapped_column(CiString(255))
    name: Mapped[str | None] = mapped_column(String(255))
    name_ci: Mapped[str | None] = mapped_column(CiString(255))
    price: Mapped[Decimal | None] = mapped_column(Money)
    base_price: Mapped[Decimal | None] = mapped_column(Money)
    qty_ordered: Mapped[Decimal | None] = mapped_column(Qty)
    row_total: Mapped[Decimal | None] = mapped_column(Money)


class OrderAddress(Base):
    """An order's billing address and its shipping address (from shipping_assignments)."""

    __tablename__ = "order_addresses"
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    address_type: Mapped[str] = mapped_column(String(16), primary_key=True)  # billing|shipping
    firstname: Mapped[str | None] = mapped_column(String(255))
    firstname_ci: Mapped[str | None] = mapped_column(CiString(255))
    lastname: Mapped[str | None] = mapped_column(String(255))
    lastname_ci: Mapped[str | None] = mapped_column(CiString(255))
    company: Mapped[str | None] = mapped_column(String(255))
    company_ci: Mapped[str | None] = mapped_column(CiString(255))
    street: Mapped[str | None] = mapped_column(String(1024))
    street_ci: Mapped[str | None] = mapped_column(CiString(1024))
    city: Mapped[str | None] = mapped_column(String(255))
    city_ci: Mapped[str | None] = mapped_column(CiString(255))
    region: Mapped[str | None] = mapped_column(String(255))
    region_ci: Mapped[str | None] = mapped_column(CiString(255))
    region_code: Mapped[str | None] = mapped_column(String(64))
    region_code_ci: Mapped[str | None] = mapped_column(CiString(64))
    region_id: Mapped[int | None] = mapped_column(Integer)
    postcode: Mapped[str | None] = mapped_column(String(64))
    postcode_ci: Mapped[str | None] = mapped_column(CiString(64))
    country_id: Mapped[str | None] = mapped_column(String(8))
    country_id_ci: Mapped[str | None] = mapped_column(CiString(8))
    telephone: Mapped[str | None] = mapped_column(String(64))
    telephone_ci: Mapped[str | None] = mapped_column(CiString(64))
    vat_id: Mapped[str | None] = mapped_column(String(64))
    vat_id_ci: Mapped[str | None] = mapped_column(CiString(64))


# --- carts ------------------------------------------------------------------------------


class Cart(Base):
    """A registered customer's quote. Guest quotes are not kept (they cannot be members).

    ``is_active`` false = converted to an order or replaced; ``deleted`` = a full sync no
    longer found it (Magento's quote cleanup). Only active, not deleted carts count.
    """

    __tablename__ = "carts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # quote id
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    store_id: Mapped[int | None] = mapped_column(Integer)
    website_id: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    items_count: Mapped[int] = mapped_column(Integer, default=0)
    items_qty: Mapped[Decimal] = mapped_column(Qty, default=0)
    subtotal: Mapped[Decimal] = mapped_column(Money, default=0)  # Σ price × qty of its items
    grand_total: Mapped[Decimal | None] = mapped_column(Money)  # from totals (cart_totals)
    tax_amount: Mapped[Decimal | None] = mapped_column(Money)  # from totals (cart_totals)
    totals_at: Mapped[datetime | None] = mapped_column(DateTime)  # when totals were read
    converted_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime)


class CartItem(Base):
    __tablename__ = "cart_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # item_id
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str | None] = mapped_column(String(255))
    sku_ci: Mapped[str | None] = mapped_column(CiString(255))
    name: Mapped[str | None] = mapped_column(String(255))
    name_ci: Mapped[str | None] = mapped_column(CiString(255))
    product_type: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[Decimal | None] = mapped_column(Money)
    qty: Mapped[Decimal | None] = mapped_column(Qty)


# --- the storefront module's data (wishlists, viewed products) -------------------------


class WishlistItem(Base):
    """A product in a customer's wishlist, from the storefront module's
    ``GET /V1/segbridge/wishlistItems`` (Magento's ``wishlist_item``). ``id`` is Magento's
    wishlist item id: one wishlist may hold the same product twice (other options).
    ``sku``/``name``/``price`` are the product's as the module answered (None when the
    product is gone). A full sync deletes the rows Magento no longer lists."""

    __tablename__ = "wishlist_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    product_id: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(255))
    sku_ci: Mapped[str | None] = mapped_column(CiString(255))
    name: Mapped[str | None] = mapped_column(String(255))
    name_ci: Mapped[str | None] = mapped_column(CiString(255))
    price: Mapped[Decimal | None] = mapped_column(Money)
    store_id: Mapped[int | None] = mapped_column(Integer)
    website_id: Mapped[int | None] = mapped_column(Integer)  # derived from store_id
    added_at: Mapped[datetime] = mapped_column(DateTime)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime)


class ProductView(Base):
    """A product a customer viewed, from ``GET /V1/segbridge/productViews`` (Magento's
    ``report_viewed_product_index``): one row per customer and product, its natural key;
    a repeat view moves ``added_at`` to the latest view. ``view_id`` is Magento's row id."""

    __tablename__ = "product_views"
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    view_id: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(255))
    sku_ci: Mapped[str | None] = mapped_column(CiString(255))
    name: Mapped[str | None] = mapped_column(String(255))
    name_ci: Mapped[str | None] = mapped_column(CiString(255))
    price: Mapped[Decimal | None] = mapped_column(Money)
    store_id: Mapped[int | None] = mapped_column(Integer)
    website_id: Mapped[int | None] = mapped_column(Integer)  # derived from store_id
    added_at: Mapped[datetime] = mapped_column(DateTime)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime)


# --- bookkeeping ------------------------------------------------------------------------


class SyncState(Base):
    """A watermark per entity; it moves only after the data under it is committed."""

    __tablename__ = "sync_state"
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(DateTime)
    last_full_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    page_size: Mapped[int | None] = mapped_column(Integer)  # learnt from "Maximum pageSize is N"


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # sync | evaluate | push | run | resync
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    # ok | partial | failed | running | interrupted
    status: Mapped[str] = mapped_column(String(16), default="running")
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    # the process running it, and when it was last seen alive (migration 0008): a run
    # whose process is gone is shown as "interrupted", not "running"
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)


class ShopIdentity(Base):
    """Which Magento shop this store belongs to, one fact a row (migration 0008):
    ``base_url`` (as configured), ``store_base_url`` (the default store view's),
    ``websites`` (the website codes, sorted, comma-separated)."""

    __tablename__ = "shop_identity"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


class Quarantine(Base):
    """A record Magento gave us that we could not store, with the reason."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer, index=True)
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
