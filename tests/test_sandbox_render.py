"""The sandbox's lean order rendering for ``fields=`` answers what the whole order,
trimmed, answers: the same JSON, byte for byte."""

from __future__ import annotations

import orjson

from bridge.sandbox.routes import _item_keys
from bridge.sandbox.search import apply_fields, fields_spec
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.shop import LEAN_ITEM_KEYS
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
                assert orjson.dumps(lean) == orjson.dumps(whole), o.id
                with_parent += any("parent_item_id" in i for i in whole.get("items", []))
            assert with_parent > 0  # configurable products' children were compared too


def test_fields_that_need_more_of_an_item_get_the_whole_item() -> None:
    assert _item_keys(_fields("entity_id", "items[sku,tax_amount]")) is not None
    assert not _item_keys(_fields("items[sku,tax_amount]")) <= LEAN_ITEM_KEYS  # type: ignore[operator]
    assert _item_keys(_fields("items[sku,parent_item[sku]]")) is None
    assert _item_keys(_fields("entity_id")) is None
    assert _item_keys(None) is None
