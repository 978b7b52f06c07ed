"""Magento JSON → store rows: what is kept, and what makes a record bad (with the reason)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bridge.sync.transform import (
    RecordError,
    _money,
    cart_rows,
    customer_rows,
    money_float,
    order_rows,
)

NOW = datetime(2026, 11, 22, 8, 0, 0)


def _customer(**kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": 7, "group_id": 1, "website_id": 1, "store_id": 1, "email": "Åsa.Öberg@Example.se",
        "firstname": "Åsa", "lastname": "Öberg", "created_at": "2024-01-02 03:04:05",
        "updated_at": "2025-01-02 03:04:05", "dob": "1990-02-28", "gender": 2,
        "default_billing": "11", "extension_attributes": {"is_subscribed": True},
        "addresses": [{"id": 11, "customer_id": 7, "street": ["Storgatan 1", "lgh 2"],
                       "city": "Malmö", "country_id": "SE", "postcode": "211 22",
                       "region": {"region": "Skåne", "region_code": "M", "region_id": 0},
                       "default_billing": True}],
        "custom_attributes": [
            {"attribute_code": "loyalty_tier", "value": "Gold"},
            {"attribute_code": "interests", "value": ["1", "3"]},
            {"attribute_code": "not_listed", "value": "x"},
        ],
    }
    rec.update(kw)
    return rec


def test_customer_rows_fold_strings_and_keep_listed_attributes_only() -> None:
    rows = customer_rows(_customer(), ("loyalty_tier", "interests"), NOW)
    c = rows.customer
    assert c["email"] == "Åsa.Öberg@Example.se" and c["email_ci"] == "åsa.öberg@example.se"
    assert c["lastname_ci"] == "öberg" and c["dob"] == date(1990, 2, 28)
    assert c["updated_at"] == datetime(2025, 1, 2, 3, 4, 5)
    assert c["default_billing_id"] == 11 and c["is_subscribed"] is True
    (a,) = rows.addresses
    assert a["street"] == "Storgatan 1\nlgh 2" and a["region"] == "Skåne"
    assert a["city_ci"] == "malmö" and a["region_code"] == "M"
    assert {(x["code"], x["value"]) for x in rows.attributes} == {
        ("loyalty_tier", "Gold"), ("interests", "1,3")}


@pytest.mark.parametrize("change,reason", [
    ({"id": None}, "missing id"),
    ({"id": "abc"}, "id: 'abc' is not a whole number"),
    ({"email": ""}, "missing email"),
    ({"group_id": None}, "missing group_id"),
    ({"dob": "31/02/1990"}, "dob: '31/02/1990' is not a date"),
    ({"updated_at": "yesterday"}, "updated_at: 'yesterday' is not a date-time"),
    ({"lastname": "x" * 300}, "lastname: longer than 255 characters"),
    ({"addresses": [{"city": "Lund"}]}, "addresses[0]: missing id"),
])
def test_bad_customers_say_why(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordError) as err:
        customer_rows(_customer(**change), (), NOW)
    assert str(err.value) == reason


def _order(**kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "entity_id": 5, "increment_id": "000000005", "customer_email": "A@x.se",
        "customer_is_guest": 1, "store_id": 2, "status": "complete", "state": "complete",
        "created_at": "2026-01-01 10:00:00", "updated_at": "2026-01-02 10:00:00",
        "base_grand_total": 123.456789, "grand_total": "99.5", "total_qty_ordered": 3,
        "items": [{"item_id": 50, "sku": "SKU-1", "name": "Tröja", "price": 10.1,
                   "qty_ordered": 2, "product_type": "configurable"},
                  {"item_id": 51, "parent_item_id": 50, "sku": "SKU-1-S", "price": 0,
                   "qty_ordered": 2}],
        "billing_address": {"city": "Oslo", "country_id": "NO", "street": ["Gate 1"]},
        "extension_attributes": {"shipping_assignments": [
            {"shipping": {"address": {"city": "Bergen", "country_id": "NO"}}}]},
    }
    rec.update(kw)
    return rec


def test_order_rows_guest_money_items_and_both_addresses() -> None:
    rows = order_rows(_order(), {2: 2}, NOW)
    o = rows.order
    assert o["customer_id"] is None and o["customer_is_guest"] is True
    assert o["customer_email_ci"] == "a@x.se" and o["website_id"] == 2
    assert o["base_grand_total"] == Decimal("123.4568")  # Magento's 4 decimals
    assert o["grand_total"] == Decimal("99.5") and o["total_qty_ordered"] == Decimal(3)
    assert [i["id"] for i in rows.items] == [50, 51] and rows.items[1]["parent_item_id"] == 50
    assert rows.items[0]["name_ci"] == "tröja"
    assert {(a["address_type"], a["city"]) for a in rows.addresses} == {
        ("billing", "Oslo"), ("shipping", "Bergen")}


def test_an_order_shipped_to_its_billing_address_has_two_equal_rows() -> None:
    """The shipping row is the billing row's copy when the two addresses are equal (and
    each is a row of its own, changed apart); an address that differs in one field, or
    a bad one, is read on its own."""
    same = {"city": "Oslo", "country_id": "NO", "street": ["Gate 1", "Oppg. B"],
            "region": "Oslo", "region_id": 7, "firstname": "Åse"}
    ship = {"shipping_assignments": [{"shipping": {"address": dict(same)}}]}
    rows = order_rows(_order(billing_address=dict(same), extension_attributes=ship), {}, NOW)
    bill, shipped = rows.addresses
    assert bill["address_type"] == "billing" and shipped["address_type"] == "shipping"
    assert {**bill, "address_type": "shipping"} == shipped and bill is not shipped
    assert shipped["firstname_ci"] == "åse" and shipped["street"] == "Gate 1\nOppg. B"
    assert list(bill) == list(shipped)  # the same columns, in the same order
    other = {"shipping_assignments": [{"shipping": {"address": {**same, "city": "Bergen"}}}]}
    rows = order_rows(_order(billing_address=dict(same), extension_attributes=other), {}, NOW)
    assert [a["city"] for a in rows.addresses] == ["Oslo", "Bergen"]
    bad = {"shipping_assignments": [{"shipping": {"address": {**same, "city": ["x"]}}}]}
    with pytest.raises(RecordError, match="shipping_assignments.shipping.address: city"):
        order_rows(_order(billing_address=dict(same), extension_attributes=bad), {}, NOW)


@pytest.mark.parametrize("change,reason", [
    ({"entity_id": None}, "missing entity_id"),
    ({"base_grand_total": "12,50"}, "base_grand_total: '12,50' is not a number"),
    ({"created_at": None}, "missing created_at"),
    ({"items": [{"sku": "A"}]}, "items[0]: missing item_id"),
    ({"items": [{"item_id": 1, "price": "NaN"}]}, "items[0]: price: 'NaN' is not a number"),
])
def test_bad_orders_say_why(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordError) as err:
        order_rows(_order(**change), {}, NOW)
    assert str(err.value) == reason


@pytest.mark.parametrize("value", [
    99.5, 123.4568, 0.1, 1e-4, 12345678.9012, 7, 0, "12.50", 1.23456789, 1e20, "x", None,
    float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1e-5, 0.00015, 1234.56785,
    0.1 + 0.2, 999999999999999.9, 1e15, 1e16, -12.3456, -12.34567, 2.5e-4, True,
])
def test_money_float_stores_what_a_decimal_would_become_as_a_float(value: Any) -> None:
    """SQLite gets float(Decimal) from ``_money``: ``money_float`` must give the same
    number (or raise the same reason) without building the Decimal first."""
    rec = {"v": value}
    try:
        expected: Any = _money(rec, "v")
    except RecordError as exc:
        with pytest.raises(RecordError, match=str(exc)):
            money_float(rec, "v")
        return
    got = money_float(rec, "v")
    assert (None if got is None else float(got)) == (
        None if expected is None else float(expected))
    if type(value) is float and value == 99.5:
        assert type(got) is float  # the common case skips the Decimal


def test_order_rows_with_float_money_match_decimal_money() -> None:
    as_decimal = order_rows(_order(), {2: 2}, NOW)
    as_float = order_rows(_order(), {2: 2}, NOW, money_float)
    for a, b in zip([as_decimal.order, *as_decimal.items], [as_float.order, *as_float.items],
                    strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], Decimal):
                assert float(a[k]) == float(b[k]), k
            else:
                assert a[k] == b[k], k


def _cart(**kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": 9, "is_active": True, "store_id": 1, "customer": {"id": 7},
        "updated_at": "2026-11-01 00:00:00", "items_count": 2, "items_qty": 3,
        "items": [{"item_id": 1, "sku": "A", "price": 10, "qty": 1},
                  {"item_id": 2, "sku": "B", "price": 2.5, "qty": 2}],
    }
    rec.update(kw)
    return rec


def test_active_cart_subtotal_is_price_times_qty() -> None:
    rows = cart_rows(_cart(), {1: 1}, NOW)
    assert rows is not None and rows.items is not None
    assert rows.cart["subtotal"] == Decimal("15.0000") and rows.cart["customer_id"] == 7
    assert rows.cart["website_id"] == 1 and rows.cart["is_active"] is True


def test_inactive_cart_without_items_keeps_what_is_stored() -> None:
    for items in (None, []):
        rec = _cart(is_active=False)
        if items is None:
            del rec["items"]
        else:
            rec["items"] = items
        rows = cart_rows(rec, {}, NOW)
        assert rows is not None and rows.keeps_items and not rows.cart["is_active"]


def test_guest_carts_are_not_kept() -> None:
    assert cart_rows(_cart(customer={"email": "g@x.se"}, customer_is_guest=True), {}, NOW) is None
    assert cart_rows(_cart(customer={}), {}, NOW) is None


def _odd_order() -> dict[str, Any]:
    """Every field of an order and its items in a form off the inline common case."""
    return _order(items=[
        {"item_id": "50", "sku": " ", "name": None, "price": "10.5", "base_price": 7,
         "qty_ordered": 1.23456, "row_total": 1e20, "product_id": "9", "product_type": "",
         "parent_item_id": "3"},
        {"item_id": 51, "sku": 5, "name": "x" * 255, "price": -0.0, "base_price": None,
         "qty_ordered": 2, "row_total": 0.1 + 0.2, "product_id": None,
         "parent_item_id": None},
    ], billing_address={"street": ["a", None, 5], "city": "", "region": None,
                        "region_id": "12", "postcode": 12345, "country_id": "NO"})


@pytest.mark.parametrize("money", [None, money_float], ids=["decimal", "float"])
def test_order_rows_off_the_common_case_take_each_fields_parser(money: Any) -> None:
    rows = order_rows(_odd_order(), {2: 2}, NOW, money)
    a, b = rows.items
    assert (a["id"], a["parent_item_id"], a["product_id"], a["product_type"]) == (50, 3, 9, "")
    assert (a["sku"], a["sku_ci"], a["name"], a["name_ci"]) == (" ", " ", None, None)
    assert float(a["price"]) == 10.5 and float(a["base_price"]) == 7
    assert float(a["qty_ordered"]) == 1.2346 and float(a["row_total"]) == 1e20
    assert (b["sku"], b["name"], b["base_price"], b["product_id"]) == ("5", "x" * 255, None,
                                                                       None)
    assert float(b["row_total"]) == 0.3 and float(b["qty_ordered"]) == 2
    bill = next(x for x in rows.addresses if x["address_type"] == "billing")
    assert bill["street"] == "a\n5" and bill["city"] == "" and bill["region_id"] == 12
    assert bill["postcode"] == "12345" and bill["region"] is None


@pytest.mark.parametrize("item,reason", [
    ({"item_id": 1.5}, "items[0]: item_id: 1.5 is not a whole number"),
    ({"item_id": 1, "sku": "x" * 256}, "items[0]: sku: longer than 255 characters"),
    ({"item_id": 1, "name": ["x"]}, "items[0]: name: expected text, got list"),
    ({"item_id": 1, "product_type": "p" * 33},
     "items[0]: product_type: longer than 32 characters"),
    ({"item_id": 1, "price": float("inf")}, "items[0]: price: inf is not a number"),
    ({"item_id": 1, "row_total": True}, "items[0]: row_total: True is not a number"),
    ({"item_id": 1, "parent_item_id": "p"}, "items[0]: parent_item_id: 'p' is not a whole number"),
])
@pytest.mark.parametrize("money", [None, money_float], ids=["decimal", "float"])
def test_bad_order_items_say_why(item: dict[str, Any], reason: str, money: Any) -> None:
    with pytest.raises(RecordError) as err:
        order_rows(_order(items=[item]), {}, NOW, money)
    assert str(err.value) == reason


@pytest.mark.parametrize("address,reason", [
    ({"city": "c" * 256}, "billing_address: city: longer than 255 characters"),
    ({"region_id": "r"}, "billing_address: region_id: 'r' is not a whole number"),
    ({"street": {"a": 1}}, "billing_address: street: longer than 1024 characters"),
])
def test_bad_order_addresses_say_why(address: dict[str, Any], reason: str) -> None:
    if "street" in address:
        address = {"street": "s" * 1025}
    with pytest.raises(RecordError) as err:
        order_rows(_order(billing_address=address), {}, NOW, money_float)
    assert str(err.value) == reason
