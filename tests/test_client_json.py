"""How the client decodes a 200 answer, through the real client over 127.0.0.1.

A body msgspec reads is read by it and kept (``Items.body``: the sync's worker processes
and its lean path decode it again, with msgspec too); a body it refuses (not UTF-8, NaN,
a lone surrogate) gets requests' own decoding and is not kept; a body neither reads is
"not JSON", never a traceback, however deep it nests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tamper import TamperProxy

from bridge.config import MagentoConfig
from bridge.magento.auth import TokenAuth
from bridge.magento.client import MagentoClient
from bridge.magento.errors import BadResponseError
from bridge.magento.retry import RetryPolicy
from bridge.magento.search import Page
from bridge.sandbox.server import SandboxServer
from bridge.sync import offload

LIST = "/rest/default/V1/customers/search?"
MARK = b'"MARK"'


@pytest.fixture(scope="module")
def proxy() -> Iterator[TamperProxy]:
    with SandboxServer(customers=30, seed=11) as server, TamperProxy(server.base_url) as p:
        p.token = server.token  # type: ignore[attr-defined]
        yield p


def _page(proxy: TamperProxy, raw: bytes | None = None, *, body: bytes | None = None,
          keys_only: bool = False) -> Page:
    """The first customers page, its first customer's ``firstname`` the raw JSON ``raw``
    (or the whole answer ``body``)."""

    def tamper(method: str, path: str, status: int, answer: bytes) -> Any:
        if not path.startswith(LIST) or status != 200:
            return None
        if body is not None:
            return 200, "application/json", body
        data = json.loads(answer)
        data["items"][0]["firstname"] = "MARK"
        text = json.dumps(data).encode()
        assert text.count(MARK) == 1
        return 200, "application/json", text.replace(MARK, raw or MARK)

    proxy.tamper = tamper
    cfg = MagentoConfig(base_url=proxy.base_url, store_code="default", timeout_s=10,
                        page_size=10, concurrency=1)
    try:
        with MagentoClient(cfg, policy=RetryPolicy.fast(),
                           auth=TokenAuth(proxy.token)) as client:  # type: ignore[attr-defined]
            return client.fetch_page("customers", page=1, page_size=10, keys_only=keys_only)
    finally:
        proxy.tamper = None


def test_a_number_past_64_bits_is_read_exactly_and_its_body_kept(proxy: TamperProxy) -> None:
    big = 2**70 + 1  # a float would read it as 2**70
    page = _page(proxy, str(big).encode())
    assert page.items[0]["firstname"] == big
    body = page.items.body
    assert body is not None  # kept: read the same way again by the sync's workers
    assert offload.page_items(body)[0]["firstname"] == big
    assert offload.page_items(body) == list(page.items)


def test_a_nul_escape_is_read_and_its_body_kept(proxy: TamperProxy) -> None:
    page = _page(proxy, b'"An\\u0000na"')
    assert page.items[0]["firstname"] == "An\x00na"  # the sync drops it (transform.drop_nul)
    assert page.items.body is not None
    assert offload.page_items(page.items.body)[0]["firstname"] == "Anna"


@pytest.mark.parametrize("raw,expected", [
    (b'"Ren\xe9e"', "Ren\ufffde"),  # Latin-1, not UTF-8: requests replaces the byte
    (b"NaN", None),  # not JSON, but Python's json reads it
    (b'"An\\ud800na"', "An\ud800na"),  # a lone surrogate: only Python's json reads it
], ids=["latin-1", "nan", "lone-surrogate"])
def test_a_body_msgspec_refuses_gets_requests_decoding_and_is_not_kept(
        proxy: TamperProxy, raw: bytes, expected: str | None) -> None:
    page = _page(proxy, raw)
    first = page.items[0]["firstname"]
    if expected is None:
        assert first != first  # NaN
    else:
        assert first == expected
    assert page.items.body is None  # the whole items travel, not a body msgspec refuses
    assert len(page.items) == 10


@pytest.mark.parametrize("keys_only", [False, True], ids=["whole", "keys"])
@pytest.mark.parametrize("body", [
    b'{"items": [], "total_count": 0, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"items": [], "total_count": 0} trailing',
    b'{"items": [], "total_count": 0}\x00',
], ids=["deeply-nested", "trailing-text", "trailing-nul"])
def test_a_body_neither_decoder_reads_is_not_json(
        proxy: TamperProxy, body: bytes, keys_only: bool) -> None:
    with pytest.raises(BadResponseError) as info:
        _page(proxy, body=body, keys_only=keys_only)
    assert "not JSON" in str(info.value)


@pytest.mark.parametrize("raw,check", [
    (b'"Ren\xe9e"', lambda v: v == "Ren\ufffde"),
    (b"1e400", lambda v: v == float("inf")),
], ids=["latin-1", "past-a-double"])
def test_a_keys_page_keeps_a_body_msgspec_refuses_whole_and_the_sync_still_reads_it(
        proxy: TamperProxy, raw: bytes, check: Any) -> None:
    """The keys decoder skips the fields it does not need without checking them, so such
    a body is kept; the sync reads its items the way the client reads a body it refuses."""
    page = _page(proxy, raw, keys_only=True)
    assert page.items.light and page.items.body is not None
    items = offload.page_items(page.items.body)
    assert [i["id"] for i in items] == [i["id"] for i in page.items]
    assert check(items[0]["firstname"]), items[0]["firstname"]
