"""Magento JSON → store rows, one record at a time.

A record that cannot be stored faithfully (no id, a date or an amount that does not
parse, a required field missing) raises ``RecordError`` with the reason; the sync
quarantines it and goes on. Every string a condition compares gets its folded
``*_ci`` twin here, in Python, so every database compares the same way.

A NUL in a string from Magento is dropped before anything reads it (``drop_nul_body``
on a page's raw JSON, ``drop_nul`` on decoded records): PostgreSQL cannot store one and
SQLite and MariaDB can, so kept it would make memberships differ by database. A lone
surrogate, which no database stores, becomes U+FFFD the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from math import isfinite
from typing import Any

from bridge.store.models import fold
from bridge.timeutil import parse_magento_date, parse_magento_time

ADDRESS_FIELDS = (
    "firstname", "lastname", "company", "street", "city", "region", "region_code",
    "postcode", "country_id", "telephone", "vat_id",
)
CUSTOMER_TEXT = ("firstname", "lastname", "middlename", "prefix", "suffix", "taxvat", "created_in")
# Column lengths of the store (models.py): longer values are a bad record, not a crash.
_LIMITS = {
    "email": 255, "firstname": 255, "lastname": 255, "middlename": 255, "prefix": 64,
    "suffix": 64, "taxvat": 64, "created_in": 255, "company": 255, "street": 1024,
    "city": 255, "region": 255, "region_code": 64, "postcode": 64, "country_id": 8,
    "telephone": 64, "vat_id": 64, "sku": 255, "name": 255, "increment_id": 64,
    "status": 32, "state": 32, "customer_email": 255, "product_type": 32,
    "base_currency_code": 8,
}


_FOUR = Decimal("0.0001")
# (field, its folded twin, its length limit) for the address loop.
_ADDRESS_COLUMNS = tuple((k, f"{k}_ci", _LIMITS[k]) for k in ADDRESS_FIELDS)
_STREET, _REGION, _REGION_CODE = (ADDRESS_FIELDS.index(k) for k in ("street", "region",
                                                                    "region_code"))
# Order item columns taken inline in order_rows (the common value; else the parser).
_ITEM_MONEY = ("price", "base_price", "qty_ordered", "row_total")
_ITEM_TEXT = tuple((k, f"{k}_ci", _LIMITS[k]) for k in ("sku", "name"))
_PTYPE_LIMIT = _LIMITS["product_type"]


class RecordError(ValueError):
    """This record cannot be stored; the message is the quarantine reason."""


# --- NUL ------------------------------------------------------------------------------

NUL_ESCAPE = b"\\u0000"
# A \u0000 escape that is not itself escaped (an even run of backslashes before it).
_NUL_IN_JSON = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def drop_nul_body(body: bytes) -> bytes:
    """A page's raw JSON with every NUL in its strings (``\\u0000``) taken out; the same
    bytes when it holds none (one memchr-fast scan)."""
    if NUL_ESCAPE not in body:
        return body
    return _NUL_IN_JSON.sub(rb"\1", body)


def drop_nul(value: Any) -> Any:
    """``value`` (decoded JSON) with every NUL taken out of its strings and keys, and
    every lone surrogate (a ``\\ud800`` escape that only Python's json decodes: no
    database stores it, MariaDB refuses it even inside a JSON payload) made U+FFFD."""
    if type(value) is str:
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if type(value) is dict:
        return {drop_nul(k): drop_nul(v) for k, v in value.items()}
    if type(value) is list:
        return [drop_nul(v) for v in value]
    return value


# --- field parsers ---------------------------------------------------------------------


def _int(rec: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = rec.get(key)
    if type(value) is int:  # the common case, first
        return value
    if value is None or value == "":
        if required:
            raise RecordError(f"missing {key}")
        return None
    if isinstance(value, bool):
        raise RecordError(f"{key}: {value!r} is not a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RecordError(f"{key}: {value!r} is not a whole number") from None
    if isinstance(value, float) and value != number:
        raise RecordError(f"{key}: {value!r} is not a whole number")
    return number


def _time(rec: dict[str, Any], key: str, *, required: bool = False) -> datetime | None:
    value = rec.get(key)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing {key}")
        return None
    if type(value) is str and len(value) == 19 and value[10] == " ":
        try:  # "YYYY-MM-DD HH:MM:SS": fromisoformat is ten times faster than strptime
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    try:
        return parse_magento_time(str(value))
    except ValueError:
        raise RecordError(f"{key}: {value!r} is not a date-time") from None


def _date(rec: dict[str, Any], key: str) -> date | None:
    value = rec.get(key)
    if value is None or value == "":
        return None
    try:
        return parse_magento_date(str(value))
    except ValueError:
        raise RecordError(f"{key}: {value!r} is not a date") from None


def _money(rec: dict[str, Any], key: str) -> Decimal | None:
    value = rec.get(key)
    if type(value) is float and isfinite(value):  # the common case, first
        text = repr(value)
        dot = text.find(".")
        # Shortest repr, at most 4 decimals, no exponent: exactly what the general path
        # below returns, without its checks.
        if dot >= 0 and len(text) - dot <= 5 and "e" not in text:
            return Decimal(text)
    elif type(value) is int:
        return Decimal(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{key}: {value!r} is not a number")
    try:
        number = Decimal(value if type(value) is int else str(value))
    except InvalidOperation:
        raise RecordError(f"{key}: {value!r} is not a number") from None
    if not number.is_finite():
        raise RecordError(f"{key}: {value!r} is not a number")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:  # Magento keeps 4 decimals
        return number.quantize(_FOUR)
    return number


def money_float(rec: dict[str, Any], key: str) -> float | int | Decimal | None:
    """``_money`` for a store that keeps amounts as binary floats anyway (SQLite, whose
    driver gets ``float(Decimal)``): the common value, a float of at most 4 decimals, is
    returned as it is, which is exactly what that round trip would give (repr round
    trips); anything else takes ``_money``'s path and checks."""
    value = rec.get(key)
    if type(value) is float:
        # Below 1e15 (which also leaves out NaN and infinities) a float equals itself
        # rounded to 4 decimals exactly when its shortest repr has at most 4 decimals
        # and no exponent: what _money's fast path checks, without building the text.
        if -1e15 < value < 1e15 and round(value, 4) == value:
            return value
    elif type(value) is int:
        return value
    return _money(rec, key)


def _floats(money: Callable[[dict[str, Any], str], Any]) -> bool:
    """Can ``money``'s common case be taken inline (see ``money_float``)?"""
    return money is money_float


def _text(rec: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = rec.get(key)
    if type(value) is str and value.strip():  # the common case, first
        limit = _LIMITS.get(key)
        if limit is not None and len(value) > limit:
            raise RecordError(f"{key}: longer than {limit} characters")
        return value
    if value is None:
        if required:
            raise RecordError(f"missing {key}")
        return None
    if isinstance(value, dict | list):
        raise RecordError(f"{key}: expected text, got {type(value).__name__}")
    text = str(value)
    if required and not text.strip():
        raise RecordError(f"missing {key}")
    limit = _LIMITS.get(key)
    if limit is not None and len(text) > limit:
        raise RecordError(f"{key}: longer than {limit} characters")
    return text


def _bool(rec: dict[str, Any], key: str) -> bool | None:
    value = rec.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "0", "false"):
        return value.strip().lower() in ("1", "true")
    raise RecordError(f"{key}: {value!r} is not true/false")


def _with_ci(row: dict[str, Any], key: str, value: str | None) -> None:
    row[key] = value
    row[f"{key}_ci"] = fold(value)


def _address(rec: dict[str, Any], where: str) -> dict[str, Any]:
    """The comparable fields of a customer, order or quote address."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: not an object")
    row: dict[str, Any] = {}
    street = rec.get("street")
    if isinstance(street, list):
        try:
            street_text: str | None = "\n".join(street)  # lines of text: the common case
        except TypeError:
            street_text = "\n".join(str(s) for s in street if s is not None)
    elif street is None:
        street_text = None
    else:
        street_text = str(street)
    region = rec.get("region")
    region_name: Any = region
    region_code = rec.get("region_code")
    region_id = rec.get("region_id")
    if isinstance(region, dict):  # customer addresses nest the region
        region_name = region.get("region")
        region_code = region.get("region_code", region_code)
        region_id = region.get("region_id", region_id)
    values = list(map(rec.get, ADDRESS_FIELDS))
    values[_STREET], values[_REGION], values[_REGION_CODE] = street_text, region_name, region_code
    try:
        for (key, ci_key, limit), value in zip(_ADDRESS_COLUMNS, values, strict=True):
            if type(value) is str and len(value) <= limit and value.strip():
                row[key] = value  # the common case, as _text/_with_ci would write it
                row[ci_key] = value.casefold()
            elif value is None:
                row[key] = row[ci_key] = None
            else:
                _with_ci(row, key, _text({key: value}, key))
        row["region_id"] = region_id if type(region_id) is int else _int(
            {"region_id": region_id}, "region_id")
    except RecordError as exc:
        raise RecordError(f"{where}: {exc}") from None
    return row


# --- customers -------------------------------------------------------------------------


@dataclass
class CustomerRows:
    customer: dict[str, Any]
    addresses: list[dict[str, Any]] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)


def customer_rows(
    rec: dict[str, Any], attribute_codes: tuple[str, ...], synced_at: datetime
) -> CustomerRows:
    cid = _int(rec, "id", required=True)
    row: dict[str, Any] = {
        "id": cid,
        "website_id": _int(rec, "website_id", required=True),
        "store_id": _int(rec, "store_id"),
        "group_id": _int(rec, "group_id", required=True),
        "gender": _int(rec, "gender"),
        "dob": _date(rec, "dob"),
        "created_at": _time(rec, "created_at"),
        "updated_at": _time(rec, "updated_at", required=True),
        "default_billing_id": _int(rec, "default_billing"),
        "default_shipping_id": _int(rec, "default_shipping"),
        "disable_auto_group_change": _int(rec, "disable_auto_group_change"),
        "deleted": False,
        "synced_at": synced_at,
    }
    _with_ci(row, "email", _text(rec, "email", required=True))
    for key in CUSTOMER_TEXT:
        _with_ci(row, key, _text(rec, key))
    ext = rec.get("extension_attributes") or {}
    row["is_subscribed"] = _bool(ext, "is_subscribed") if isinstance(ext, dict) else None
    out = CustomerRows(row)
    addresses = rec.get("addresses") or []
    if not isinstance(addresses, list):
        raise RecordError("addresses: not a list")
    seen: set[int] = set()
    for n, addr in enumerate(addresses):
        if not isinstance(addr, dict):
            raise RecordError(f"addresses[{n}]: not an object")
        aid = _int(addr, "id")
        if aid is None:
            raise RecordError(f"addresses[{n}]: missing id")
        if aid in seen:
            continue
        seen.add(aid)
        arow = _address(addr, f"addresses[{n}]")
        arow["id"] = aid
        arow["customer_id"] = cid
        out.addresses.append(arow)
    if attribute_codes:
        wanted = set(attribute_codes)
        for attr in rec.get("custom_attributes") or []:
            if not isinstance(attr, dict) or attr.get("attribute_code") not in wanted:
                continue
            value = attr.get("value")
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, dict):
                raise RecordError(f"custom attribute {attr['attribute_code']}: not a value")
            text = None if value is None else str(value)
            out.attributes.append(
                {"customer_id": cid, "code": attr["attribute_code"], "value": text,
                 "value_ci": fold(text)}
            )
    return out


# --- orders ----------------------------------------------------------------------------

_ADDRESS_KEYS = ",".join(ADDRESS_FIELDS + ("region_id",))
# ``fields=`` for order lists (docs/magento.md S11, B7): what order_rows reads and no
# more. A full order is ~7 KB of JSON; this cuts transfer and parsing several-fold.
ORDER_FIELDS: tuple[str, ...] = (
    "entity_id", "increment_id", "customer_id", "customer_email", "customer_is_guest",
    "customer_group_id", "store_id", "status", "state", "created_at", "updated_at",
    "base_grand_total", "grand_total", "subtotal", "total_qty_ordered", "base_currency_code",
    "items[item_id,parent_item_id,product_id,product_type,sku,name,price,base_price,"
    "qty_ordered,row_total]",
    f"billing_address[{_ADDRESS_KEYS}]",
    f"extension_attributes[shipping_assignments[shipping[address[{_ADDRESS_KEYS}]]]]",
)


@dataclass
class OrderRows:
    order: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    addresses: list[dict[str, Any]] = field(default_factory=list)


def order_rows(
    rec: dict[str, Any], website_of_store: dict[int, int], synced_at: datetime,
    money: Callable[[dict[str, Any], str], Any] | None = None,
) -> OrderRows:
    """``money``: ``money_float`` for a store that keeps amounts as floats (default:
    amounts as Decimal)."""
    money = money or _money
    oid = _int(rec, "entity_id", required=True)
    customer_id = _int(rec, "customer_id")
    guest_flag = _bool(rec, "customer_is_guest")
    store_id = _int(rec, "store_id")
    row: dict[str, Any] = {
        "id": oid,
        "increment_id": _text(rec, "increment_id"),
        "customer_id": customer_id,
        "customer_is_guest": bool(guest_flag) or customer_id is None,
        "customer_group_id": _int(rec, "customer_group_id"),
        "store_id": store_id,
        "website_id": website_of_store.get(store_id) if store_id is not None else None,
        "status": _text(rec, "status"),
        "state": _text(rec, "state"),
        "created_at": _time(rec, "created_at", required=True),
        "updated_at": _time(rec, "updated_at", required=True),
        "base_grand_total": money(rec, "base_grand_total"),
        "grand_total": money(rec, "grand_total"),
        "subtotal": money(rec, "subtotal"),
        "total_qty_ordered": money(rec, "total_qty_ordered"),
        "base_currency_code": _text(rec, "base_currency_code"),
        "deleted": False,
        "synced_at": synced_at,
    }
    if row["customer_is_guest"]:
        row["customer_id"] = None
    _with_ci(row, "customer_email", _text(rec, "customer_email"))
    out = OrderRows(row)
    items = rec.get("items") or []
    if not isinstance(items, list):
        raise RecordError("items: not a list")
    seen: set[int] = set()
    floats = _floats(money)
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise RecordError(f"items[{n}]: not an object")
        try:
            get = item.get
            iid = get("item_id")
            if type(iid) is not int:
                iid = _int(item, "item_id", required=True)
            if iid in seen:
                continue
            seen.add(iid)  # type: ignore[arg-type]
            # The common value of each field inline, anything else through its parser
            # (the same value, or the same error), in the column order.
            parent, product, ptype = get("parent_item_id"), get("product_id"), get(
                "product_type")
            irow: dict[str, Any] = {
                "id": iid,
                "order_id": oid,
                "parent_item_id": parent if parent is None or type(parent) is int else _int(
                    item, "parent_item_id"),
                "product_id": product if type(product) is int else _int(item, "product_id"),
                "product_type": ptype if type(ptype) is str and len(ptype) <= _PTYPE_LIMIT
                and ptype.strip() else _text(item, "product_type"),
            }
            for key in _ITEM_MONEY:  # money_float's common case, without the call
                v = get(key)
                irow[key] = v if floats and type(v) is float and -1e15 < v < 1e15 and round(
                    v, 4) == v else money(item, key)
            for key, ci_key, limit in _ITEM_TEXT:
                v = get(key)
                if type(v) is str and len(v) <= limit and v.strip():
                    irow[key], irow[ci_key] = v, v.casefold()
                else:
                    _with_ci(irow, key, _text(item, key))
        except RecordError as exc:
            raise RecordError(f"items[{n}]: {exc}") from None
        out.items.append(irow)
    billing = rec.get("billing_address")
    bill_row: dict[str, Any] | None = None
    if billing:
        bill_row = _address(billing, "billing_address")
        arow = {**bill_row, "order_id": oid, "address_type": "billing"}
        out.addresses.append(arow)
    ext = rec.get("extension_attributes") or {}
    assignments = ext.get("shipping_assignments") if isinstance(ext, dict) else None
    if isinstance(assignments, list):
        for assignment in assignments:
            shipping = assignment.get("shipping") if isinstance(assignment, dict) else None
            address = shipping.get("address") if isinstance(shipping, dict) else None
            if address:
                # Most orders ship to the billing address: the same fields, the same row.
                arow = dict(bill_row) if bill_row is not None and address == billing else (
                    _address(address, "shipping_assignments.shipping.address"))
                arow.update(order_id=oid, address_type="shipping")
                out.addresses.append(arow)
                break
    return out


# --- carts -----------------------------------------------------------------------------


@dataclass
class CartRows:
    cart: dict[str, Any]
    items: list[dict[str, Any]] | None  # None: keep the stored items (inactive, no items)

    @property
    def keeps_items(self) -> bool:
        return self.items is None


CART_STATE_COLUMNS = (
    "customer_id", "store_id", "website_id", "is_active", "created_at", "updated_at",
    "converted_at", "deleted", "synced_at",
)


def cart_customer_id(rec: dict[str, Any]) -> int | None:
    """The registered customer of a quote, or None for a guest quote."""
    customer = rec.get("customer") if isinstance(rec.get("customer"), dict) else {}
    if _bool(rec, "customer_is_guest"):
        return None
    cid = customer.get("id") if customer else None
    if cid is None:
        cid = rec.get("customer_id")
    if cid in (None, "", 0, "0"):
        return None
    return _int({"customer.id": cid}, "customer.id")


def cart_rows(
    rec: dict[str, Any], website_of_store: dict[int, int], synced_at: datetime
) -> CartRows | None:
    """Rows for a registered customer's quote; None for a guest quote (not kept)."""
    qid = _int(rec, "id", required=True)
    customer_id = cart_customer_id(rec)
    if customer_id is None:
        return None
    store_id = _int(rec, "store_id")
    is_active = _bool(rec, "is_active")
    row: dict[str, Any] = {
        "id": qid,
        "customer_id": customer_id,
        "store_id": store_id,
        "website_id": website_of_store.get(store_id) if store_id is not None else None,
        "is_active": bool(is_active) if is_active is not None else True,
        "created_at": _time(rec, "created_at"),
        "updated_at": _time(rec, "updated_at", required=True),
        "converted_at": _time(rec, "converted_at"),
        "deleted": False,
        "synced_at": synced_at,
    }
    raw_items = rec.get("items")
    if raw_items is not None and not isinstance(raw_items, list):
        raise RecordError("items: not a list")
    if not row["is_active"] and not raw_items:
        # docs/magento.md B8: Magento loads no items for inactive quotes. Keep what we have.
        row["items_count"] = _int(rec, "items_count") or 0
        row["items_qty"] = _money(rec, "items_qty") or Decimal(0)
        row["subtotal"] = Decimal(0)
        return CartRows(row, None)
    items: list[dict[str, Any]] = []
    subtotal = Decimal(0)
    qty_total = Decimal(0)
    seen: set[int] = set()
    for n, item in enumerate(raw_items or []):
        if not isinstance(item, dict):
            raise RecordError(f"items[{n}]: not an object")
        try:
            iid = _int(item, "item_id", required=True)
            if iid in seen:
                continue
            seen.add(iid)  # type: ignore[arg-type]
            price = _money(item, "price")
            qty = _money(item, "qty")
            irow: dict[str, Any] = {
                "id": iid,
                "cart_id": qid,
                "product_type": _text(item, "product_type"),
                "price": price,
                "qty": qty,
            }
            _with_ci(irow, "sku", _text(item, "sku"))
            _with_ci(irow, "name", _text(item, "name"))
        except RecordError as exc:
            raise RecordError(f"items[{n}]: {exc}") from None
        subtotal += (price or 0) * (qty or 0)
        qty_total += qty or 0
        items.append(irow)
    row["items_count"] = _int(rec, "items_count") if rec.get("items_count") is not None else len(
        items
    )
    items_qty = _money(rec, "items_qty")
    row["items_qty"] = items_qty if items_qty is not None else qty_total
    row["subtotal"] = subtotal.quantize(Decimal("0.0001"))
    return CartRows(row, items)


def cart_totals_row(totals: dict[str, Any], synced_at: datetime) -> dict[str, Any]:
    return {
        "grand_total": _money(totals, "grand_total"),
        "tax_amount": _money(totals, "tax_amount"),
        "totals_at": synced_at,
    }


# --- structure -------------------------------------------------------------------------


def group_row(rec: dict[str, Any]) -> dict[str, Any]:
    code = _text(rec, "code", required=True)
    return {
        "id": _int(rec, "id", required=True),
        "code": code,
        "code_ci": fold(code),
        "tax_class_id": _int(rec, "tax_class_id"),
        "tax_class_name": _text(rec, "tax_class_name"),
    }


def website_row(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _int(rec, "id", required=True),
        "code": _text(rec, "code", required=True),
        "name": _text(rec, "name"),
        "default_group_id": _int(rec, "default_group_id"),
    }


def store_group_row(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _int(rec, "id", required=True),
        "website_id": _int(rec, "website_id", required=True),
        "code": _text(rec, "code"),
        "name": _text(rec, "name"),
        "default_store_id": _int(rec, "default_store_id"),
    }


def store_view_row(rec: dict[str, Any]) -> dict[str, Any]:
    active = _bool(rec, "is_active")
    return {
        "id": _int(rec, "id", required=True),
        "code": _text(rec, "code", required=True),
        "name": _text(rec, "name"),
        "website_id": _int(rec, "website_id", required=True),
        "store_group_id": _int(rec, "store_group_id"),
        "is_active": True if active is None else active,
    }
