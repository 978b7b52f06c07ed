"""Pages fetched for their keys only (``fetch_page(..., keys_only=True)``): each item cut
to its id and ``updated_at``, the whole answer kept for the worker that decodes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from bridge.config import MagentoConfig
from bridge.magento.auth import TokenAuth
from bridge.magento.client import ENDPOINTS, MagentoClient, keys_page
from bridge.magento.errors import ServerError
from bridge.magento.retry import RetryPolicy
from bridge.magento.search import Items, Paginator, SearchCriteria
from bridge.sandbox.server import SandboxServer
from bridge.sync import transform as tf


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(customers=120, seed=4, orders_per_customer=2.0) as server:
        yield server


def _client(sandbox: SandboxServer) -> MagentoClient:
    cfg = MagentoConfig(base_url=sandbox.base_url, store_code="default", timeout_s=10,
                        page_size=40, concurrency=1)
    return MagentoClient(cfg, policy=RetryPolicy(base_s=0.001, max_s=0.01),
                         auth=TokenAuth(sandbox.token))


@pytest.mark.parametrize("entity,crit", [
    ("customers", SearchCriteria()),
    ("orders", SearchCriteria().fields(*tf.ORDER_FIELDS)),
])
def test_a_keys_page_holds_each_items_keys_and_the_whole_answer(
        sandbox: SandboxServer, entity: str, crit: SearchCriteria) -> None:
    with _client(sandbox) as client:
        whole = client.fetch_page(entity, crit, page=2, page_size=40)
        keys = client.fetch_page(entity, crit, page=2, page_size=40, keys_only=True)
    id_key = {"customers": "id", "orders": "entity_id"}[entity]
    assert isinstance(keys.items, Items) and keys.items.light and not whole.items.light
    assert keys.total_count == whole.total_count and len(keys.items) == 40
    assert keys.items == [{id_key: i[id_key], "updated_at": i["updated_at"]}
                          for i in whole.items]
    assert msgspec.json.decode(keys.items.body or b"")["items"] == whole.items


@pytest.mark.parametrize("body", [
    b'{"items": [1, 2], "total_count": 2}',  # items that are not objects
    b'{"items": [{"id": 1}], "total_count": NaN}',  # not JSON
    b"[]",  # not an object
    b"not json",
])
def test_an_answer_that_is_not_a_plain_page_is_left_to_the_whole_decoding(
        body: bytes) -> None:
    assert keys_page(body, "id") is None


def test_keys_keep_what_the_whole_decoding_gives() -> None:
    body = (b'{"items": [{"id": "7", "updated_at": "2024-01-02 03:04:05", "x": {"y": [1]}},'
            b' {"updated_at": null}, {"id": 3.0, "id2": 1}], "total_count": 3,'
            b' "search_criteria": {}}')
    page = keys_page(body, "id")
    assert page is not None and page.light and page.body == body
    assert page["items"] == [{"id": "7", "updated_at": "2024-01-02 03:04:05"},
                             {"id": None, "updated_at": None}, {"id": 3.0, "updated_at": None}]
    assert page["total_count"] == 3
    big = b'{"items": [{"id": 123456789012345678901234567890}], "total_count": 1}'
    assert keys_page(big, "id")["items"][0]["id"] == json.loads(big)["items"][0]["id"]  # type: ignore[index]
    empty = keys_page(b'{"total_count": 0}', "entity_id")
    assert empty is not None and empty["items"] == [] and empty["total_count"] == 0


def test_a_page_fetched_in_parts_has_whole_items() -> None:
    """A list page that keeps failing is fetched as smaller pages (PITFALLS B6): those
    come whole, without a body, so whoever takes them has the records."""
    asked: list[tuple[int, Any]] = []
    records = [{"id": n, "updated_at": "2024-01-01 00:00:00", "email": f"{n}@x"}
               for n in range(1, 11)]

    def fetch(path: str, params: list[tuple[str, str]], store: str | None,
              keys_only: str | None = None) -> Any:
        q = dict(params)
        size, number = int(q["searchCriteria[pageSize]"]), int(q["searchCriteria[currentPage]"])
        asked.append((size, keys_only))
        if size > 5:
            raise ServerError("Internal Error.", status=500)
        part = records[(number - 1) * size: number * size]
        if keys_only:
            return keys_page(msgspec.json.encode({"items": part, "total_count": 10}), keys_only)
        return {"items": part, "total_count": 10}

    pager = Paginator(fetch, ENDPOINTS["customers"], SearchCriteria(), page_size=10)
    page = pager.page(1, keys_only=True)
    assert asked[0] == (10, "id") and all(k is None for _, k in asked[1:])
    assert page.items == records and getattr(page.items, "body", None) is None
    assert not getattr(page.items, "light", False)
    ok = Paginator(fetch, ENDPOINTS["customers"], SearchCriteria(), page_size=5).page(
        2, keys_only=True)
    assert ok.items.light and ok.items == [{"id": n, "updated_at": "2024-01-01 00:00:00"}
                                           for n in range(6, 11)]


def test_a_keys_page_for_a_handler_that_writes_here_is_decoded_whole() -> None:
    """The sync's page handler transforms light items from their body (it never sees
    only keys), when it writes the page itself rather than the worker."""
    from bridge.sync.runner import EntityCounts, _PageHandler

    record = {"entity_id": 5, "created_at": "2024-01-01 00:00:00",
              "updated_at": "2024-01-02 00:00:00", "customer_email": "a@b.c", "items": []}
    queued: list[Any] = []
    engine = SimpleNamespace(url=SimpleNamespace(render_as_string=lambda hide_password: "x"),
                             dialect=SimpleNamespace(name="sqlite"))
    sync: Any = SimpleNamespace(
        started=datetime(2026, 1, 1), engine=engine, website_of_store={},
        result=SimpleNamespace(run_id=None), concurrency=1,
        config=SimpleNamespace(sync=SimpleNamespace(customer_attributes=[], cart_totals=False)),
        writer=SimpleNamespace(put=queued.append), progress=SimpleNamespace(advance=print))
    handler = _PageHandler(sync, "orders", EntityCounts(), None)
    light = Items([{"entity_id": 5, "updated_at": "2024-01-02 00:00:00"}])
    light.body = msgspec.json.encode({"items": [record], "total_count": 1})
    light.light = True
    handler.on_items(light)
    (job,) = queued
    assert job.body is None and not job.quarantine
    (rows,) = job.records
    assert rows.order["customer_email"] == "a@b.c" and rows.order["id"] == 5
