"""Every attribute a condition can test (SPEC §3.2), with its kind and options.

The kind decides which operators apply and what a value must look like; the options
are the extra keys a leaf may carry. The loader, the compiler and the reference
evaluator all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass

ADDRESS_FIELDS = (
    "firstname",
    "lastname",
    "company",
    "street",
    "city",
    "region",
    "region_code",
    "postcode",
    "country_id",
    "telephone",
    "vat_id",
)
CUSTOMER_STRING_FIELDS = (
    "email",
    "firstname",
    "lastname",
    "middlename",
    "prefix",
    "suffix",
    "taxvat",
)
GENDERS = {"male": 1, "female": 2, "not_specified": 3}
GENDER_NAMES = {v: k for k, v in GENDERS.items()}

ORDERING = (">=", ">", "<=", "<", "between")
KIND_OPERATORS: dict[str, tuple[str, ...]] = {
    "string": ("==", "!=", "{}", "!{}", "()", "!()", "<=>", *ORDERING),
    "number": ("==", "!=", "()", "!()", "<=>", *ORDERING),
    "count": ("==", "!=", "()", "!()", "<=>", *ORDERING),
    "days": ("==", "!=", "()", "!()", "<=>", *ORDERING),
    "datetime": ("==", "!=", "<=>", *ORDERING),
    "date": ("==", "!=", "<=>", *ORDERING),
    "bool": ("==", "!=", "<=>"),
    "gender": ("==", "!=", "()", "!()", "<=>"),
    "segment": ("()", "!()"),
    "product": ("==",),
}

UNAVAILABLE = {
    "product.viewed": "product.viewed is not available: Magento Open Source's REST API does "
    "not expose which products a customer viewed",
    "product.in_wishlist": "product.in_wishlist is not available: Magento Open Source's REST "
    "API does not expose customers' wish lists",
}


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    kind: str
    options: tuple[str, ...] = ()
    scale: int = 0  # decimals kept for exact comparison (money and qty: 4)


def _specs() -> dict[str, AttributeSpec]:
    out: dict[str, AttributeSpec] = {}

    def add(name: str, kind: str, options: tuple[str, ...] = (), scale: int = 0) -> None:
        out[name] = AttributeSpec(name, kind, options, scale)

    add("customer.group", "string")
    for f in CUSTOMER_STRING_FIELDS:
        add(f"customer.{f}", "string")
    add("customer.gender", "gender")
    add("customer.dob", "date")
    add("customer.days_until_birthday", "days")
    add("customer.created_at", "datetime")
    add("customer.days_since_created", "days")
    add("customer.website", "string")
    add("customer.store", "string")
    add("customer.created_in", "string")
    add("customer.is_subscribed", "bool")
    for f in ADDRESS_FIELDS:
        add(f"address.{f}", "string", ("address_type",))
    add("address.default_billing", "bool")
    add("address.default_shipping", "bool")
    add("cart.items_count", "count")
    add("cart.items_qty", "number", scale=4)
    add("cart.subtotal", "number", scale=4)
    add("cart.grand_total", "number", scale=4)
    add("cart.tax_amount", "number", scale=4)
    add("cart.days_since_updated", "days")
    add("sales.amount", "number", ("aggregate", "period", "status"), scale=4)
    add("sales.orders_count", "count", ("period", "status"))
    add("sales.qty", "number", ("aggregate", "period", "status"), scale=4)
    add("sales.days_since_last_order", "days", ("status",))
    add("sales.days_since_first_order", "days", ("status",))
    for f in ADDRESS_FIELDS:
        add(f"sales.order_address.{f}", "string", ("address_type", "period", "status"))
    add("product.ordered", "product", ("sku", "name_contains", "price", "period", "status"))
    add("product.in_cart", "product", ("sku", "name_contains", "price"))
    add("segment", "segment")
    return out


ATTRIBUTES: dict[str, AttributeSpec] = _specs()
CUSTOM_PREFIX = "customer.attribute."


def attribute_spec(name: str) -> AttributeSpec | None:
    """The spec of ``name``; custom attributes (``customer.attribute.<code>``) are strings."""
    if name in ATTRIBUTES:
        return ATTRIBUTES[name]
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return AttributeSpec(name, "string")
    return None


def address_types(name: str) -> tuple[str, ...]:
    if name.startswith("sales.order_address."):
        return ("billing", "shipping", "any")
    return ("any", "default_billing", "default_shipping")
