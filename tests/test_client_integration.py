"""The real client against the sandbox over loopback: one full customer pull per fault kind.

Every test asserts the pull returned every customer of the shop exactly once, and that
the fault really happened (the sandbox counts the faults it injected).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.config import MagentoConfig
from bridge.magento import errors as E
from bridge.magento.auth import AdminTokenAuth, OAuth1Auth, TokenAuth
from bridge.magento.client import MagentoClient
from bridge.magento.retry import RetryPolicy
from bridge.magento.search import SearchCriteria
from bridge.sandbox.server import Faults, SandboxServer

LIST = ("GET", "/V1/customers/search")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(customers=1500, seed=3, orders_per_customer=0.5,
                       active_carts=0.1) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(sandbox: SandboxServer) -> Iterator[None]:
    sandbox.set_faults(Faults())
    sandbox.stats.reset()
    sandbox.repeat_last_page = False
    sandbox.latency_s = 0.0
    yield
    sandbox.set_faults(Faults())


def policy(**kw: Any) -> RetryPolicy:
    """Real limits, short waits; Retry-After is honoured as sent (the sandbox sends 1 s)."""
    values: dict[str, Any] = {"base_s": 0.005, "max_s": 0.05, "maintenance_base_s": 0.01,
                              "maintenance_max_s": 0.1}
    values.update(kw)
    return RetryPolicy(**values)


def client_for(sandbox: SandboxServer, *, auth: str = "token", concurrency: int = 4,
               page_size: int = 50, **kw: Any) -> MagentoClient:
    cfg = MagentoConfig(base_url=sandbox.base_url, store_code="default", timeout_s=10,
                        page_size=page_size, concurrency=concurrency)
    a: Any
    if auth == "token":
        a = TokenAuth(sandbox.token)
    elif auth == "oauth1":
        o = sandbox.oauth
        a = OAuth1Auth(o.consumer_key, o.consumer_secret, o.access_token, o.access_token_secret)
    else:
        a = None
    client = MagentoClient(cfg, policy=kw.pop("policy", policy()),
                           auth=a or AdminTokenAuth("x", "y", lambda u, p: ""), **kw)
    if auth == "admin":
        client.auth = AdminTokenAuth(sandbox.admin_username, sandbox.admin_password,
                                     client._admin_token)
    return client


def all_ids(table: Any) -> list[int]:
    return sorted(table.rows)


def assert_every_customer_once(sandbox: SandboxServer, client: MagentoClient,
                               criteria: SearchCriteria | None = None) -> list[int]:
    ids = [c["id"] for c in client.search_customers(criteria)]
    assert len(ids) == len(set(ids)), "a customer came back twice"
    assert sorted(ids) == all_ids(sandbox.shop.customers), "customers are missing"
    return ids


# --- the must-show: exactly 100 list requests for 10,000 customers -----------------------


@pytest.mark.parametrize("repeat_last_page", [False, True])
def test_ten_thousand_customers_take_exactly_one_hundred_requests(repeat_last_page: bool) -> None:
    with SandboxServer(customers=10_000, seed=5, orders_per_customer=0, active_carts=0,
                       repeat_last_page=repeat_last_page) as sandbox:
        client = client_for(sandbox, page_size=100, concurrency=4)
        assert_every_customer_once(sandbox, client)
        assert sandbox.stats.get(*LIST) == 100
        assert sandbox.stats.snapshot()["total"] == 100
        assert client.stats.requests == 100 and client.stats.retries == 0


# --- one pull per fault kind -------------------------------------------------------------


FAULTS = {
    "429 + Retry-After seconds": Faults(rate_429=0.1, seed=11),
    "429 + Retry-After HTTP date": Faults(rate_429=0.1, retry_after_date=True, seed=11),
    "HTML 503 maintenance": Faults(rate_503=0.1, seed=12),
    "masked 500": Faults(rate_500=0.1, seed=13),
    "dropped connection": Faults(rate_drop=0.1, seed=14),
    "lost answer": Faults(rate_lost_answer=0.1, seed=15),
    "all kinds at once": Faults(rate_429=0.025, rate_503=0.025, rate_500=0.025,
                                rate_drop=0.025, seed=16),
}


# Each 429 costs the second its Retry-After asks for, so the HTTP-date form runs once.
CASES = [(name, c) for name in FAULTS for c in (1, 4)
         if not (FAULTS[name].retry_after_date and c == 1)]


@pytest.mark.parametrize(("name", "concurrency"), CASES)
def test_full_pull_survives_ten_percent_faults(sandbox: SandboxServer, name: str,
                                               concurrency: int) -> None:
    faults = FAULTS[name]
    sandbox.set_faults(faults)
    # Each 429 costs the 1 s its Retry-After asks for: fewer, larger pages keep it short.
    page_size = 50 if faults.rate_429 else 20
    client = client_for(sandbox, concurrency=concurrency, page_size=page_size)
    start = time.monotonic()
    assert_every_customer_once(sandbox, client)
    elapsed = time.monotonic() - start
    injected = sum(sandbox.stats.faults.values())
    assert injected >= 2, "the sandbox injected too few faults for this test to mean anything"
    assert client.stats.retries >= injected
    # Every page once, plus one repeat per injected fault: nothing asked twice otherwise.
    assert sandbox.stats.get(*LIST) == 1500 // page_size + injected
    if faults.rate_429 and not faults.retry_after_date:
        # Retry-After: 1 was honoured: the store was paused a second per 429.
        assert client.stats.wait_s >= sandbox.stats.faults["429"] * 1.0
        assert elapsed >= 1.0


def test_latency(sandbox: SandboxServer) -> None:
    sandbox.latency_s = 0.02
    client = client_for(sandbox, concurrency=4, page_size=100)
    start = time.monotonic()
    assert_every_customer_once(sandbox, client)
    elapsed = time.monotonic() - start
    assert elapsed >= 0.02 * 4  # 15 requests: page 1, then 14 four at a time
    assert client.stats.retries == 0


def test_latency_beyond_the_timeout_is_retried_then_reported(sandbox: SandboxServer) -> None:
    sandbox.latency_s = 0.3
    cfg = MagentoConfig(base_url=sandbox.base_url, store_code="default", timeout_s=0.1)
    client = MagentoClient(cfg, policy=policy(read_attempts=2), auth=TokenAuth(sandbox.token))
    with pytest.raises(E.RequestTimeoutError):
        client.store_views()
    assert client.stats.requests == 2


@pytest.mark.parametrize("concurrency", [1, 4])
def test_admin_token_expiry_is_renewed_transparently(sandbox: SandboxServer,
                                                     concurrency: int) -> None:
    """Tokens that die after 10 requests: 10 % of requests meet an expired token.

    (The expiry is by use, not at random: a token that fails right after it was issued
    means the credentials do not work, and a second 401 is fatal by design — D4.)
    """
    sandbox.set_faults(Faults(token_ttl_requests=10))
    client = client_for(sandbox, auth="admin", concurrency=concurrency, page_size=20)
    assert_every_customer_once(sandbox, client)
    assert client.stats.auth_refreshes >= 5
    assert sandbox.stats.get("POST", "/V1/integration/admin/token") >= 7
    fetches = client.auth.fetches  # type: ignore[attr-defined]
    assert fetches == sandbox.stats.get("POST", "/V1/integration/admin/token")


def test_admin_token_revoked_mid_run_is_renewed(sandbox: SandboxServer) -> None:
    client = client_for(sandbox, auth="admin", concurrency=1, page_size=500)
    pag = client.search_customers()
    pages = pag.pages()
    first = next(pages)
    sandbox.expire_admin_tokens()
    rest = [c["id"] for p in pages for c in p.items]
    ids = [c["id"] for c in first.items] + rest
    assert sorted(ids) == all_ids(sandbox.shop.customers)
    assert client.stats.auth_refreshes == 1


def test_admin_two_factor_refusal_is_fatal() -> None:
    with SandboxServer(customers=5, admin_2fa=True) as sandbox:
        client = client_for(sandbox, auth="admin")
        with pytest.raises(E.TwoFactorRequiredError, match="integration"):
            client.store_views()
        assert sandbox.stats.snapshot()["total"] == 1


def test_oauth1_pull_with_dropped_connections_is_signed_afresh(sandbox: SandboxServer) -> None:
    """The sandbox verifies every HMAC-SHA256 signature and refuses reused nonces."""
    sandbox.set_faults(Faults(rate_drop=0.1, seed=21))
    client = client_for(sandbox, auth="oauth1", concurrency=4, page_size=20)
    assert_every_customer_once(sandbox, client)
    assert sandbox.stats.faults["drop"] >= 3
    assert client.stats.auth_refreshes == 0  # no signature or nonce was ever refused


def test_keyset_single_page_fetch(sandbox: SandboxServer) -> None:
    """What sync does: page 1 of "after the last (updated_at, entity_id) seen", repeatedly."""
    client = client_for(sandbox, concurrency=1)
    seen: list[int] = []
    last: tuple[str, int] | None = None
    while True:
        sc = SearchCriteria()
        if last:
            u, i = last
            sc = sc.where("updated_at", "gteq", u).where_any(
                ("updated_at", "gt", u), ("entity_id", "gt", i))
        sc = sc.order_by("updated_at", "ASC").order_by("entity_id", "ASC")
        page = client.fetch_page("customers", sc, page_size=200)
        seen += page.ids()
        if len(page.items) < page.page_size:
            break
        tail = page.items[-1]
        last = (tail["updated_at"], tail["id"])
    assert sorted(seen) == all_ids(sandbox.shop.customers)
    assert len(seen) == len(set(seen))


def test_every_entity_pages_to_the_end(sandbox: SandboxServer) -> None:
    client = client_for(sandbox, concurrency=4, page_size=37)
    shop = sandbox.shop
    orders = [o["entity_id"] for o in client.search_orders()]
    assert sorted(orders) == all_ids(shop.orders)
    carts = [c["id"] for c in client.search_carts()]
    assert sorted(carts) == all_ids(shop.carts)
    groups = list(client.search_customer_groups())
    assert {g["id"] for g in groups} >= {0, 1}
    assert client.websites() and client.store_views() and client.store_groups()


def test_a_wrong_store_code_is_a_configuration_error(sandbox: SandboxServer) -> None:
    cfg = MagentoConfig(base_url=sandbox.base_url, store_code="nope")
    client = MagentoClient(cfg, policy=policy(), auth=TokenAuth(sandbox.token))
    with pytest.raises(E.RouteMissingError) as info:
        list(client.search_customers())
    assert info.value.exit_code == 2
    assert client.stats.requests == 1


def test_page_size_limit_learnt_from_the_sandbox(sandbox: SandboxServer) -> None:
    sandbox.max_page_size = 40
    try:
        client = client_for(sandbox, page_size=100, concurrency=4)
        assert_every_customer_once(sandbox, client)
        assert client.page_size_limit == 40
        assert sandbox.stats.get(*LIST) == 1 + 1500 // 40 + 1  # the refused try + 38 pages
    finally:
        sandbox.max_page_size = 300


@pytest.mark.parametrize("method", ["token", "oauth1", "admin"])
def test_every_auth_method_from_config_and_environment(sandbox: SandboxServer, method: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The production path: AuthConfig names environment variables, the client reads them."""
    from bridge.config import AuthConfig

    values = {
        "token": {"token_env": sandbox.token},
        "oauth1": {"consumer_key_env": sandbox.oauth.consumer_key,
                   "consumer_secret_env": sandbox.oauth.consumer_secret,
                   "access_token_env": sandbox.oauth.access_token,
                   "access_token_secret_env": sandbox.oauth.access_token_secret},
        "admin": {"username_env": sandbox.admin_username,
                  "password_env": sandbox.admin_password},
    }[method]
    env = {}
    for key, secret in values.items():
        name = f"SEGBRIDGE_TEST_{key.upper()}"
        monkeypatch.setenv(name, secret)
        env[key] = name
    cfg = MagentoConfig(base_url=sandbox.base_url, store_code="default", page_size=300,
                        auth=AuthConfig(method, env))
    with MagentoClient(cfg, read_only=True, policy=policy()) as client:
        assert client.auth.method == method
        assert_every_customer_once(sandbox, client)
        assert client.stats.auth_refreshes == 0
