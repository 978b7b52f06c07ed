"""The sandbox's lean order rendering for ``fields=`` answers what the whole order,
trimmed, answers: the same JSON, byte for byte."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from msgspec.json import decode as loads
from msgspec.json import encode as dumps

from bridge.sandbox.fields import apply_fields, compile_fields, fields_projection, fields_spec
from bridge.sandbox.routes import _item_keys
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.shop import (
    LEAN_ITEM_KEYS,
    LEAN_ORDER_KEYS,
    lean_order_exact,
    lean_order_spec,
)
from bridge.sync.transform import ORDER_FIELDS


def _fields(*names: str) -> str:
    return f"items[{','.join(names)}],total_count"


def test_lean_items_answer_exactly_what_trimming_the_whole_order_answers() -> None:
    with SandboxServer(customers=150, seed=5, orders_per_customer=3.0) as server:
        shop = server.shop
        orders = [shop.orders.get(i) for i in shop.orders.ids]
        assert any(o.status == "canceled" for o in orders)
        for text in (_fields(*ORDER_FIELDS), _fields("entity_id", "items[sku,parent_item_id]")):
            keys = _item_keys(text)
            assert keys is not None and keys <= LEAN_ITEM_KEYS
            spec = fields_spec(text)["items"]
            with_parent = 0
            for o in orders:
                lean = apply_fields(shop.order_json(o, keys), spec)
                whole = apply_fields(shop.order_json(o), spec)
                assert dumps(lean) == dumps(whole), o.id
                with_parent += any("parent_item_id" in i for i in whole.get("items", []))
            assert with_parent > 0  # configurable products' children were compared too


def test_fields_that_need_more_of_an_item_get_the_whole_item() -> None:
    assert _item_keys(_fields("entity_id", "items[sku,tax_amount]")) is not None
    assert not _item_keys(_fields("items[sku,tax_amount]")) <= LEAN_ITEM_KEYS  # type: ignore[operator]
    assert _item_keys(_fields("items[sku,parent_item[sku]]")) is None
    assert _item_keys(_fields("entity_id")) is None
    assert _item_keys(None) is None


def test_lean_orders_answer_exactly_what_trimming_the_whole_order_answers() -> None:
    """The top level too: the sync's fields= (and smaller ones) through the lean order."""
    with SandboxServer(customers=150, seed=5, orders_per_customer=3.0) as server:
        shop = server.shop
        orders = [shop.orders.get(i) for i in shop.orders.ids]
        assert any(o.customer_id is None for o in orders)  # guests: no customer_id key
        assert {o.status for o in orders} >= {"canceled", "closed", "complete"}
        texts = (
            _fields(*ORDER_FIELDS),
            _fields("entity_id", "updated_at", "items[sku]"),
            _fields("customer_id", "items[item_id]",
                    "extension_attributes[shipping_assignments[shipping[address[city]]]]"),
        )
        for text in texts:
            keys = _item_keys(text)
            spec = fields_spec(text)["items"]
            assert keys is not None and lean_order_spec(spec)
            for o in orders:
                lean = shop.order_json(o, keys, lean_top=True)
                assert lean.keys() <= LEAN_ORDER_KEYS
                whole = apply_fields(shop.order_json(o), spec)
                assert dumps(apply_fields(lean, spec)) == dumps(whole), o.id


def test_fields_that_need_more_of_an_order_get_the_whole_order() -> None:
    for text in (
        _fields("entity_id", "payment", "items[sku]"),
        _fields("items[sku]", "extension_attributes"),
        _fields("items[sku]", "extension_attributes[payment_additional_info]"),
        _fields("items[sku]", "extension_attributes[shipping_assignments[items[sku]]]"),
        _fields("items[sku]", "extension_attributes[shipping_assignments[shipping[method]]]"),
    ):
        assert not lean_order_spec(fields_spec(text)["items"]), text
    with SandboxServer(customers=20, seed=5, orders_per_customer=2.0) as server:
        shop = server.shop
        o = shop.orders.get(shop.orders.ids[0])
        keys = _item_keys(_fields("entity_id", "items[sku]"))
        # lean_top without lean items is the whole order
        assert shop.order_json(o, None, lean_top=True) == shop.order_json(o)
        assert "payment" not in shop.order_json(o, keys, lean_top=True)
        assert "payment" in shop.order_json(o, keys)


def test_an_order_list_with_fields_answers_the_trimmed_whole_orders() -> None:
    """Through HTTP: the answer to the sync's fields= and to one the lean order cannot
    serve are both the whole orders, trimmed."""
    import requests

    with SandboxServer(customers=40, seed=5, orders_per_customer=2.0) as server:
        shop = server.shop
        url = server.rest_url("all") + "/V1/orders"
        for text in (_fields(*ORDER_FIELDS),
                     _fields("entity_id", "payment[method]", "items[sku]")):
            got = requests.get(url, params={"searchCriteria[pageSize]": 30, "fields": text},
                               headers={"Authorization": f"Bearer {server.token}"}, timeout=30)
            got.raise_for_status()
            spec = fields_spec(text)["items"]
            expect = [apply_fields(shop.order_json(shop.orders.get(i)), spec)
                      for i in shop.orders.ids[:30]]
            assert got.json()["items"] == expect
            assert set(got.json()) == {"items", "total_count"}


def test_the_kept_lean_orders_answer_byte_for_byte_and_follow_every_change() -> None:
    """The sync's order pages are joins of kept texts: the same bytes as the whole orders
    trimmed, the top level included; an order that changes (through the shop, or a slot
    set by hand, or its lines changed in place) is rendered again."""
    import requests

    text = _fields(*ORDER_FIELDS)
    spec = fields_spec(text)

    def page(server: SandboxServer) -> bytes:
        got = requests.get(server.rest_url("all") + "/V1/orders",
                           params={"searchCriteria[pageSize]": 25, "fields": text},
                           headers={"Authorization": f"Bearer {server.token}"}, timeout=30)
        got.raise_for_status()
        return got.content

    def expected(server: SandboxServer) -> bytes:
        shop = server.shop
        whole = {"items": [shop.order_json(shop.orders.get(i)) for i in shop.orders.ids[:25]],
                 "search_criteria": loads(page(server))["search_criteria"]
                 if "search_criteria" in spec else None,
                 "total_count": len(shop.orders.ids)}
        return dumps(_trim(whole, spec))

    with SandboxServer(customers=40, seed=5, orders_per_customer=2.0) as server:
        shop = server.shop
        assert page(server) == expected(server)
        first, second = (shop.orders.get(i) for i in shop.orders.ids[:2])
        shop.set_order_status(first.id, "closed")
        second.email = "changed@example.org"
        made = shop.add_order(first.customer_id, items=[("SB-1000", 2)])
        assert made.id not in shop.orders.ids[:25]
        body = page(server)
        assert body == expected(server)
        assert b'"status":"closed"' in body and b"changed@example.org" in body
        kept = shop.lean_order_text(made)
        made.lines.append(made.lines[0])  # in place: the kept text is stale, not reused
        assert shop.lean_order_text(made) != kept
        assert shop.lean_order_text(made) == dumps(
            apply_fields(shop.order_json(made), spec["items"])).decode()


def _trim(value: Any, spec: dict[str, Any] | None) -> Any:
    """What ``fields=`` keeps, written out plainly (the reference for the compiled one)."""
    if spec is None:
        return value
    if isinstance(value, list):
        return [_trim(v, spec) for v in value]
    if isinstance(value, dict):
        return {k: v if spec[k] is None or not isinstance(v, list | dict) else _trim(v, spec[k])
                for k, v in value.items() if k in spec}
    return value


_keys = st.sampled_from(["a", "b", "c", "items", "x"])
_json = st.recursive(
    st.none() | st.integers(-1000, 1000) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_specs = st.recursive(st.none(), lambda inner: st.dictionaries(_keys, inner, min_size=1,
                                                               max_size=3), max_leaves=6)


@given(_json, _specs)
def test_compiled_fields_keep_what_the_plain_trim_keeps(value: Any, spec: Any) -> None:
    assert dumps(compile_fields(spec)(value)) == dumps(_trim(value, spec))


def test_the_server_trims_a_whole_answer_with_the_fields_text() -> None:
    text = _fields(*ORDER_FIELDS)
    with SandboxServer(customers=40, seed=3, orders_per_customer=2.0) as server:
        orders = [server.shop.order_json(server.shop.orders.get(i))
                  for i in server.shop.orders.ids[:20]]
    answer = {"items": orders, "search_criteria": {"page_size": 20}, "total_count": 77}
    trimmed = fields_projection(text)(answer)
    assert trimmed == _trim(answer, fields_spec(text))
    assert set(trimmed) == {"items", "total_count"}
    assert "tax_amount" not in trimmed["items"][0]["items"][0]


def test_a_big_shop_is_frozen_out_of_the_cyclic_collector(monkeypatch: Any) -> None:
    import gc

    from bridge.sandbox import server as srv

    gc.unfreeze()
    with SandboxServer(customers=30):
        assert gc.get_freeze_count() == 0  # a small shop (tests make many) is not
    monkeypatch.setattr(srv, "FREEZE_FROM_CUSTOMERS", 30)
    try:
        with SandboxServer(customers=30) as server:
            assert gc.get_freeze_count() > 0
            assert not gc.is_tracked(server.shop) or server.shop not in gc.get_objects()
    finally:
        gc.unfreeze()


def test_the_syncs_fields_take_the_lean_order_as_it_is() -> None:
    """For the sync's fields= the lean order is already what trimming leaves, byte for
    byte, so the server sends it untrimmed; smaller specs still get trimmed."""
    spec = fields_spec(_fields(*ORDER_FIELDS))["items"]
    assert lean_order_exact(spec)
    for text in (_fields("entity_id", "items[sku]"),
                 _fields(*ORDER_FIELDS[:-1]),  # no shipping address
                 _fields(*ORDER_FIELDS).replace("sku,", ""),
                 _fields(*ORDER_FIELDS).replace("sku,", "sku,tax_amount,")):  # whole items
        assert not lean_order_exact(fields_spec(text)["items"]), text
    keys = _item_keys(_fields(*ORDER_FIELDS))
    with SandboxServer(customers=150, seed=5, orders_per_customer=3.0) as server:
        shop = server.shop
        for i in shop.orders.ids:
            o = shop.orders.get(i)
            lean = shop.order_json(o, keys, lean_top=True)
            assert dumps(lean) == dumps(apply_fields(shop.order_json(o), spec))


def test_an_address_asked_for_whole_gets_the_whole_order() -> None:
    for text in (_fields("items[sku]", "billing_address"),
                 _fields("items[sku]", "billing_address[email]"),
                 _fields("items[sku]", "extension_attributes[shipping_assignments[shipping["
                         "address[parent_id]]]]")):
        assert not lean_order_spec(fields_spec(text)["items"]), text


def test_kept_customer_texts_answer_byte_for_byte_and_follow_every_change() -> None:
    """The customers' pages (no fields=) are joins of kept texts: the same bytes as the
    customers rendered afresh; a customer changed (by the shop's touch, which replaces
    addresses and custom attributes, or a slot set by hand) is rendered again."""
    import requests

    with SandboxServer(customers=40, seed=5, orders_per_customer=1.0) as server:
        shop = server.shop

        def page() -> bytes:
            got = requests.get(server.rest_url("all") + "/V1/customers/search",
                               params={"searchCriteria[pageSize]": 40},
                               headers={"Authorization": f"Bearer {server.token}"},
                               timeout=30)
            got.raise_for_status()
            return got.content

        def expected(body: bytes) -> bytes:
            return dumps({
                "items": [shop.customer_json(shop.customers.get(i))
                          for i in shop.customers.ids[:40]],
                "search_criteria": loads(body)["search_criteria"],
                "total_count": len(shop.customers.ids)})

        first = page()
        assert first == expected(first)
        touched = shop.touch(customers=0.2, addresses=0.2, seed=9)
        assert touched["customers"] and touched["addresses"]
        shop.customers.get(shop.customers.ids[3]).lastname = "Byhand"
        second = page()
        assert second == expected(second) and second != first and b"Byhand" in second
