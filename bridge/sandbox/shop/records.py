"""The shop's own records (stores, customer groups, CMS blocks, rules and coupons),
the key sets its saves accept, and the small helpers every part of the shop uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from bridge.sandbox.errors import NOT_SUPPORTED, ApiError, invalid_value
from bridge.sandbox.model import dumps


@dataclass(frozen=True)
class Website:
    id: int
    code: str
    name: str
    default_group_id: int


@dataclass(frozen=True)
class StoreGroup:
    id: int
    website_id: int
    root_category_id: int
    default_store_id: int
    name: str
    code: str


@dataclass(frozen=True)
class StoreView:
    id: int
    code: str
    name: str
    website_id: int
    store_group_id: int
    is_active: int
    currency: str
    base_currency: str
    rate: float
    tax_rate: float


class Group:
    __slots__ = ("id", "code", "tax_class_id")

    def __init__(self, id: int, code: str, tax_class_id: int) -> None:
        self.id = id
        self.code = code
        self.tax_class_id = tax_class_id


class Block:
    __slots__ = ("id", "identifier", "title", "content", "active", "store_ids",
                 "creation_time", "update_time")

    def __init__(self, **kw: Any) -> None:
        for k in Block.__slots__:
            setattr(self, k, kw.get(k))


class Rec:
    """A record kept as its Magento JSON dict (sales rules, coupons)."""

    __slots__ = ("id", "data")

    def __init__(self, id: int, data: dict[str, Any]) -> None:
        self.id = id
        self.data = data


TAX_CLASSES = {3: ("Retail Customer", "CUSTOMER"), 2: ("Taxable Goods", "PRODUCT")}
DEFAULT_GROUP_ID = 1
COUPON_TYPES = {"NO_COUPON": 1, "SPECIFIC_COUPON": 2, "AUTO": 3}
SIMPLE_ACTIONS = ("by_percent", "by_fixed", "cart_fixed", "buy_x_get_y")

CUSTOMER_KEYS = {
    "id", "group_id", "default_billing", "default_shipping", "confirmation", "created_at",
    "updated_at", "created_in", "dob", "email", "firstname", "lastname", "middlename",
    "prefix", "suffix", "gender", "store_id", "taxvat", "website_id", "addresses",
    "disable_auto_group_change", "extension_attributes", "custom_attributes",
}
ADDRESS_KEYS = {
    "id", "customer_id", "region", "region_id", "country_id", "street", "company",
    "telephone", "fax", "postcode", "city", "firstname", "lastname", "middlename", "prefix",
    "suffix", "vat_id", "default_shipping", "default_billing", "extension_attributes",
    "custom_attributes",
}
BLOCK_KEYS = {"id", "identifier", "title", "content", "creation_time", "update_time", "active"}
GROUP_KEYS = {"id", "code", "tax_class_id", "tax_class_name", "extension_attributes"}
RULE_KEYS = {
    "rule_id", "name", "store_labels", "description", "website_ids", "customer_group_ids",
    "from_date", "to_date", "uses_per_customer", "is_active", "condition", "action_condition",
    "stop_rules_processing", "is_advanced", "product_ids", "sort_order", "simple_action",
    "discount_amount", "discount_qty", "discount_step", "apply_to_shipping", "times_used",
    "is_rss", "coupon_type", "use_auto_generation", "uses_per_coupon", "simple_free_shipping",
    "extension_attributes",
}
COUPON_KEYS = {"coupon_id", "rule_id", "code", "usage_limit", "usage_per_customer",
               "times_used", "expiration_date", "is_primary", "created_at", "type",
               "extension_attributes"}


def _dumps(value: Any) -> str:
    return dumps(value).decode()



_SLOTS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _slot_state(rec: Any) -> tuple[Any, ...]:
    """Every slot of a record, a list copied (it could change in place; tuples, and the
    addresses in them, are replaced, never changed). The slots are read in one call and
    a record without a list (a generated order) is not walked value by value: a page of
    the sync's orders checks a hundred of them."""
    get = _SLOTS.get(type(rec))
    if get is None:
        get = _SLOTS[type(rec)] = attrgetter(*type(rec).__slots__)
    state = get(rec)
    if list in map(type, state):
        return tuple(tuple(v) if type(v) is list else v for v in state)
    return state


def _kept_text(kept: dict[int, tuple[tuple[Any, ...], str]], rec: Any,
               render: Callable[[], Any]) -> str:
    """``dumps(render())`` for ``rec``, kept in ``kept`` until any slot of it changes."""
    state = _slot_state(rec)
    old = kept.get(rec.id)
    if old is not None and old[0] == state:
        return old[1]
    text = _dumps(render())
    kept[rec.id] = (state, text)
    return text


def _money(x: float) -> float:
    return round(x + 0.0, 2)


def _check_keys(obj: dict[str, Any], allowed: set[str]) -> None:
    for k in obj:
        if k not in allowed:
            raise ApiError(400, NOT_SUPPORTED, {"fieldName": k})


def _as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise invalid_value(field, value) from None

