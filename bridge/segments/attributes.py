"""Every attribute a condition can test, with its kind, options and an example.

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

# Conditions core REST has no data for: they read the storefront module's routes
# (docs/storefront.md). With ``module.use = "off"`` (or no module found) they are refused
# with these lines; ``MODULE_FEATURES`` names the part of the module each one needs.
UNAVAILABLE = {
    "product.viewed": "product.viewed is not available: Magento Open Source's REST API does "
    "not expose which products a customer viewed",
    "product.in_wishlist": "product.in_wishlist is not available: Magento Open Source's REST "
    "API does not expose customers' wish lists",
}
MODULE_FEATURES = {"product.viewed": "product_views", "product.in_wishlist": "wishlist_items"}


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute: ``kind`` decides operators and values, ``options`` the extra keys.

    ``description`` and ``example`` (a leaf as a one-line TOML inline table) feed
    ``segbridge attributes``, so the catalog a merchant reads is the table the loader
    validates against.
    """

    name: str
    kind: str
    options: tuple[str, ...] = ()
    scale: int = 0  # decimals kept for exact comparison (money and qty: 4)
    description: str = ""
    example: str = ""


OPTION_HELP: dict[str, str] = {
    "aggregate": '"total" (default) or "average"',
    "period": '"90d" (the 90 days up to the evaluation time) or { from = ..., to = ... }; '
    "omitted: all time",
    "status": "order status codes; omitted: every status except canceled",
    "address_type": "which address: any (default), default_billing, default_shipping; "
    "for order addresses billing, shipping or any",
    "sku": "a list of SKUs the item must have one of",
    "name_contains": "text the product name contains",
    "price": '{ operator = ">=", value = 100 }: the item price',
}


def _leaf_example(name: str, operator: str, value: str, extra: str = "") -> str:
    extra = f", {extra}" if extra else ""
    if operator == "<=>":
        return f'{{ attribute = "{name}", operator = "<=>"{extra} }}'
    return f'{{ attribute = "{name}", operator = "{operator}", value = {value}{extra} }}'


def _specs() -> dict[str, AttributeSpec]:
    out: dict[str, AttributeSpec] = {}

    def add(
        name: str,
        kind: str,
        description: str,
        example: tuple[str, str] | tuple[str, str, str],
        options: tuple[str, ...] = (),
        scale: int = 0,
    ) -> None:
        out[name] = AttributeSpec(
            name, kind, options, scale, description, _leaf_example(name, *example)
        )

    add(
        "customer.group",
        "string",
        "the customer's home group code: the group a person gave them (a group segbridge "
        "manages cannot be tested: use a segment condition)",
        ("==", '"Retailer"'),
    )
    string_examples = {
        "email": ("{}", '"@example.com"'),
        "firstname": ("==", '"Anna"'),
        "lastname": ("==", '"Svensson"'),
        "middlename": ("<=>", ""),
        "prefix": ("==", '"Dr"'),
        "suffix": ("==", '"Jr"'),
        "taxvat": ("<=>", ""),
    }
    for f in CUSTOMER_STRING_FIELDS:
        add(f"customer.{f}", "string", f"the account's {f}", string_examples[f])
    add(
        "customer.gender",
        "gender",
        "male, female or not_specified",
        ("==", '"female"'),
    )
    add("customer.dob", "date", "date of birth", ("<", '"1980-01-01"'))
    add(
        "customer.days_until_birthday",
        "days",
        "days from the evaluation date to the next birthday (0 on the birthday)",
        ("<=", "7"),
    )
    add("customer.created_at", "datetime", "when the account was created", (">=", '"30d"'))
    add(
        "customer.days_since_created",
        "days",
        "whole days since the account was created",
        ("<", "30"),
    )
    add("customer.website", "string", "the account's website code", ("==", '"base"'))
    add("customer.store", "string", "the account's store view code", ("==", '"default"'))
    add(
        "customer.created_in",
        "string",
        "the name of the store view the account was created in",
        ("==", '"Default Store View"'),
    )
    add(
        "customer.is_subscribed",
        "bool",
        "subscribed to the newsletter",
        ("==", "true"),
    )
    for f in ADDRESS_FIELDS:
        example = (
            ("()", '["SE", "NO", "DK"]', 'address_type = "default_billing"')
            if f == "country_id"
            else ("==", '"Stockholm"')
            if f == "city"
            else ("{}", '"AB"')
        )
        add(
            f"address.{f}",
            "string",
            f"{f} of an address in the customer's address book (some address matches)",
            example,
            ("address_type",),
        )
    add(
        "address.default_billing",
        "bool",
        "the customer has a default billing address",
        ("==", "true"),
    )
    add(
        "address.default_shipping",
        "bool",
        "the customer has a default shipping address",
        ("==", "false"),
    )
    add(
        "cart.items_count",
        "count",
        "number of items in the active cart (0 without one)",
        (">=", "1"),
    )
    add(
        "cart.items_qty",
        "number",
        "total quantity in the active cart (0 without one)",
        (">=", "3"),
        scale=4,
    )
    add(
        "cart.subtotal",
        "number",
        "sum of price × quantity of the active cart's items (0 without one)",
        (">=", "100"),
        scale=4,
    )
    add(
        "cart.grand_total",
        "number",
        "the active cart's grand total (needs sync.cart_totals = true)",
        (">=", "100"),
        scale=4,
    )
    add(
        "cart.tax_amount",
        "number",
        "the active cart's tax amount (needs sync.cart_totals = true)",
        (">", "0"),
        scale=4,
    )
    add(
        "cart.days_since_updated",
        "days",
        "whole days since the active cart last changed",
        (">=", "2"),
    )
    add(
        "sales.amount",
        "number",
        "total or average of the orders' base_grand_total (total 0 with no orders)",
        (">=", "500", 'aggregate = "total", period = "365d", status = ["processing", "complete"]'),
        ("aggregate", "period", "status"),
        scale=4,
    )
    add(
        "sales.orders_count",
        "count",
        "number of orders",
        (">=", "3", 'period = "365d"'),
        ("period", "status"),
    )
    add(
        "sales.qty",
        "number",
        "total or average of the orders' quantity ordered",
        (">=", "2", 'aggregate = "average"'),
        ("aggregate", "period", "status"),
        scale=4,
    )
    add(
        "sales.days_since_last_order",
        "days",
        "whole days since the latest order (undefined with no orders)",
        (">", "90"),
        ("status",),
    )
    add(
        "sales.days_since_first_order",
        "days",
        "whole days since the first order (undefined with no orders)",
        (">=", "365"),
        ("status",),
    )
    for f in ADDRESS_FIELDS:
        add(
            f"sales.order_address.{f}",
            "string",
            f"{f} of some order's billing or shipping address",
            ("==", '"SE"', 'address_type = "shipping"')
            if f == "country_id"
            else ("{}", '"AB"'),
            ("address_type", "period", "status"),
        )
    add(
        "product.ordered",
        "product",
        "true: some ordered item matches the product filter; false: none does",
        ("==", "true", 'sku = ["24-MB01"], period = "90d"'),
        ("sku", "name_contains", "price", "period", "status"),
    )
    add(
        "product.in_cart",
        "product",
        "true: some item in the active cart matches the product filter; false: none does",
        ("==", "true", 'name_contains = "Bag"'),
        ("sku", "name_contains", "price"),
    )
    add(
        "product.viewed",
        "product",
        "true: some product the customer viewed matches the product filter (period: when "
        "last viewed); false: none does. Needs the storefront module (module.use auto or on)",
        ("==", "true", 'sku = ["24-MB01"], period = "30d"'),
        ("sku", "name_contains", "price", "period"),
    )
    add(
        "product.in_wishlist",
        "product",
        "true: some item in the customer's wishlist matches the product filter; false: none "
        "does. Needs the storefront module (module.use auto or on)",
        ("==", "true", 'price = { operator = ">=", value = 100 }'),
        ("sku", "name_contains", "price"),
    )
    add(
        "segment",
        "segment",
        "membership of other active segments (by code)",
        ("()", '["vip"]'),
    )
    return out


ATTRIBUTES: dict[str, AttributeSpec] = _specs()
CUSTOM_PREFIX = "customer.attribute."
# The pattern entry for custom attributes, as the catalog shows it.
CUSTOM_ATTRIBUTE = AttributeSpec(
    f"{CUSTOM_PREFIX}<code>",
    "string",
    description="a custom customer attribute listed in sync.customer_attributes",
    example=_leaf_example(f"{CUSTOM_PREFIX}loyalty_tier", "==", '"gold"'),
)


def attribute_spec(name: str) -> AttributeSpec | None:
    """The spec of ``name``; custom attributes (``customer.attribute.<code>``) are strings."""
    if name in ATTRIBUTES:
        return ATTRIBUTES[name]
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return AttributeSpec(name, "string", description=CUSTOM_ATTRIBUTE.description)
    return None


def address_types(name: str) -> tuple[str, ...]:
    if name.startswith("sales.order_address."):
        return ("billing", "shipping", "any")
    return ("any", "default_billing", "default_shipping")
