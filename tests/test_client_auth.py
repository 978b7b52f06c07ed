"""Auth modes (PITFALLS D1-D4): OAuth 1.0a signatures verified independently, admin tokens."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
import responses
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature, utils

from bridge.config import AuthConfig, MagentoConfig
from bridge.errors import ConfigError
from bridge.magento import errors as E
from bridge.magento.auth import AdminTokenAuth, OAuth1Auth, auth_from_config, jwt_expiry
from bridge.magento.client import MagentoClient
from bridge.magento.retry import RetryPolicy
from bridge.magento.search import SearchCriteria

BASE = "http://magento.test"
SEARCH = f"{BASE}/rest/default/V1/customers/search"
TOKEN_URL = f"{BASE}/rest/default/V1/integration/admin/token"
CK, CS, AT, AS = "consumer-key", "consumer-s3cret", "access-token", "access-s3cret"
JSON = "application/json"


def oauth_client(**kw: Any) -> MagentoClient:
    return MagentoClient(MagentoConfig(base_url=BASE, store_code="default", concurrency=1),
                         policy=RetryPolicy.fast(), auth=OAuth1Auth(CK, CS, AT, AS), **kw)


def text_headers(request: Any) -> dict[str, str]:
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}


def oauth_params(request: Any) -> dict[str, str]:
    header = text_headers(request)["Authorization"]
    assert header.startswith("OAuth ")
    return {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}


def verify(request: Any, url: str | None = None) -> bool:
    """Verify the request's HMAC-SHA256 signature the way a server does (RFC 5849 §3.4)."""
    uri = url or request.url
    params = signature.collect_parameters(
        uri_query=urlsplit(uri).query, headers=text_headers(request),
        exclude_oauth_signature=True,
    )
    o = OAuthRequest(uri, http_method=request.method)
    o.params = params
    o.signature = oauth_params(request)["oauth_signature"]
    return signature.verify_hmac_sha256(o, client_secret=CS, resource_owner_secret=AS)


def page(items: int = 2, total: int = 2) -> dict[str, Any]:
    return {"items": [{"id": i + 1} for i in range(items)], "total_count": total}


@responses.activate
def test_oauth1_signature_covers_method_url_and_query() -> None:
    responses.add(responses.GET, SEARCH, json=page())
    sc = SearchCriteria().where("updated_at", "gteq", "2025-01-01 00:00:00").where(
        "email", "like", "%@example.com")
    list(oauth_client().search_customers(sc))
    req = responses.calls[0].request
    params = oauth_params(req)
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_consumer_key"] == CK and params["oauth_token"] == AT
    assert params["oauth_version"] == "1.0"
    assert verify(req)
    # The query string is signed: change one value and the signature no longer holds.
    parts = urlsplit(req.url)
    q = parse_qsl(parts.query)
    tampered = [(k, "2000-01-01 00:00:00" if k.endswith("[0][value]") else v) for k, v in q]
    from urllib.parse import urlencode

    assert not verify(req, urlunsplit(parts._replace(query=urlencode(tampered))))
    # And the method is signed.
    req.method = "POST"
    assert not verify(req)


@responses.activate
def test_oauth1_json_body_is_sent_as_json_and_not_signed() -> None:
    responses.add(responses.PUT, f"{BASE}/rest/all/V1/customers/7", json={"id": 7})
    oauth_client().put_customer(7, {"id": 7, "group_id": 4, "email": "a@b.c"})
    req = responses.calls[0].request
    assert text_headers(req)["Content-Type"] == JSON
    assert json.loads(req.body) == {"customer": {"id": 7, "group_id": 4, "email": "a@b.c"}}
    assert verify(req)  # verified with no body parameters at all


@responses.activate
def test_oauth1_every_retry_is_signed_afresh() -> None:
    responses.add(responses.GET, SEARCH, status=503, json={"message": "busy"})
    responses.add(responses.GET, SEARCH, status=500, json={"message": "Internal Error. "
                  "Details are available in Magento log file. Report ID: webapi-1"})
    responses.add(responses.GET, SEARCH, json=page())
    list(oauth_client().search_customers())
    assert len(responses.calls) == 3
    nonces = [oauth_params(c.request)["oauth_nonce"] for c in responses.calls]
    assert len(set(nonces)) == 3
    assert all(verify(c.request) for c in responses.calls)


@responses.activate
def test_oauth1_secrets_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    responses.add(responses.GET, SEARCH, status=401,
                  json={"message": "The consumer isn't authorized to access %resources.",
                        "parameters": {"resources": "Magento_Customer::customer"}})
    client = oauth_client()
    with pytest.raises(E.AuthError) as info:
        list(client.search_customers())
    text = caplog.text + str(info.value) + repr(client) + repr(client.auth)
    for secret in (CS, AS):
        assert secret not in text
    assert "Magento_Customer::customer" in str(info.value)
    assert len(responses.calls) == 1  # static credentials: refused once is final


# --- admin tokens --------------------------------------------------------------------------


def jwt(exp: float) -> str:
    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc({'uid': 1, 'exp': int(exp)})}.c2ln"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def admin_client(clock: Clock, read_only: bool = False) -> MagentoClient:
    cfg = MagentoConfig(base_url=BASE, store_code="default", concurrency=1)
    client = MagentoClient(cfg, read_only=read_only, policy=RetryPolicy.fast(),
                           auth=AdminTokenAuth("u", "p", lambda u, p: "unused"))
    # The real fetcher goes through the client (retries, typing); keep the mocked clock.
    client.auth = AdminTokenAuth("admin", "pa55word", client._admin_token, clock=clock)
    return client


def test_jwt_expiry_reads_exp_and_ignores_opaque_tokens() -> None:
    assert jwt_expiry(jwt(1234)) == 1234
    assert jwt_expiry("abcdef0123456789") is None
    assert jwt_expiry("a.b.c") is None


@responses.activate
def test_admin_token_refreshes_five_minutes_before_jwt_expiry() -> None:
    """D3: a token with exp = now+600 is renewed at now+300 (clock mocked)."""
    clock = Clock()
    tokens = [jwt(clock.now + 600), jwt(clock.now + 1200)]
    responses.add(responses.POST, TOKEN_URL, json=tokens[0])
    responses.add(responses.POST, TOKEN_URL, json=tokens[1])
    responses.add(responses.GET, SEARCH, json=page())
    client = admin_client(clock, read_only=True)  # the token POST is allowed in read-only mode
    list(client.search_customers())
    token_call = responses.calls[0].request
    assert json.loads(token_call.body) == {"username": "admin", "password": "pa55word"}
    assert "Authorization" not in token_call.headers
    assert responses.calls[1].request.headers["Authorization"] == f"Bearer {tokens[0]}"
    clock.now += 299
    list(client.search_customers())
    assert responses.calls[2].request.headers["Authorization"] == f"Bearer {tokens[0]}"
    clock.now += 1
    list(client.search_customers())
    assert responses.calls[3].request.url == TOKEN_URL
    assert responses.calls[4].request.headers["Authorization"] == f"Bearer {tokens[1]}"
    assert client.auth.fetches == 2  # type: ignore[attr-defined]


@responses.activate
def test_opaque_admin_token_lives_the_legacy_four_hours() -> None:
    clock = Clock()
    responses.add(responses.POST, TOKEN_URL, json="0123456789abcdef0123456789abcdef")
    responses.add(responses.GET, SEARCH, json=page())
    client = admin_client(clock)
    list(client.search_customers())
    assert client.auth.renew_at == clock.now + 4 * 3600 - 300  # type: ignore[attr-defined]


@responses.activate
def test_admin_401_renews_once_then_a_second_401_is_fatal() -> None:
    """D4: two consecutive 401s -> exactly one refresh and two requests in total."""
    clock = Clock()
    unauthorised = {"message": "The consumer isn't authorized to access %resources.",
                    "parameters": {"resources": "Magento_Customer::customer"}}
    responses.add(responses.POST, TOKEN_URL, json=jwt(clock.now + 3600))
    responses.add(responses.POST, TOKEN_URL, json=jwt(clock.now + 3601))
    responses.add(responses.GET, SEARCH, status=401, json=unauthorised)
    client = admin_client(clock)
    with pytest.raises(E.AuthError) as info:
        list(client.search_customers())
    assert not isinstance(info.value, E.TwoFactorRequiredError)
    gets = [c for c in responses.calls if c.request.method == "GET"]
    posts = [c for c in responses.calls if c.request.method == "POST"]
    assert len(gets) == 2 and len(posts) == 2
    assert gets[0].request.headers["Authorization"] != gets[1].request.headers["Authorization"]
    assert client.stats.auth_refreshes == 1


@responses.activate
def test_admin_401_then_success_after_renewal() -> None:
    clock = Clock()
    responses.add(responses.POST, TOKEN_URL, json=jwt(clock.now + 3600))
    responses.add(responses.POST, TOKEN_URL, json=jwt(clock.now + 3601))
    responses.add(responses.GET, SEARCH, status=401, json={"message": "expired"})
    responses.add(responses.GET, SEARCH, json=page())
    client = admin_client(clock)
    assert [c["id"] for c in client.search_customers()] == [1, 2]
    assert client.stats.auth_refreshes == 1


@responses.activate
def test_two_factor_refusal_is_fatal_and_says_use_an_integration() -> None:
    responses.add(responses.POST, TOKEN_URL, status=400, json={
        "message": "Please use the 2fa provider-specific endpoints to obtain a token.",
        "parameters": {"active_providers": ["google"]}})
    client = admin_client(Clock())
    with pytest.raises(E.TwoFactorRequiredError) as info:
        list(client.search_customers())
    assert "integration" in str(info.value).lower()
    assert "oauth1" in str(info.value)
    assert info.value.exit_code == 2
    assert len(responses.calls) == 1  # never retried, and no GET was sent


@responses.activate
def test_bad_admin_credentials_are_fatal_without_retry() -> None:
    responses.add(responses.POST, TOKEN_URL, status=401, json={
        "message": "The account sign-in was incorrect or your account is disabled temporarily. "
                   "Please wait and try again later."})
    with pytest.raises(E.AuthError, match="sign-in was incorrect"):
        list(admin_client(Clock()).search_customers())
    assert len(responses.calls) == 1


@responses.activate
def test_bearer_401_is_final_at_once_and_names_the_integration_setting() -> None:
    """D1: in token mode the first 401 explains enable_integration_as_bearer."""
    responses.add(responses.GET, SEARCH, status=401, json={
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Customer::customer"}})
    from bridge.magento.auth import TokenAuth

    client = MagentoClient(MagentoConfig(base_url=BASE, store_code="default"),
                           policy=RetryPolicy.fast(), auth=TokenAuth("tok"))
    with pytest.raises(E.AuthError) as info:
        list(client.search_customers())
    assert "enable_integration_as_bearer" in str(info.value)
    assert len(responses.calls) == 1


def test_auth_from_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = AuthConfig("oauth1", {"consumer_key_env": "T_CK", "consumer_secret_env": "T_CS",
                                "access_token_env": "T_AT", "access_token_secret_env": "T_AS"})
    for name in ("T_CK", "T_CS", "T_AT", "T_AS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("T_CK", "k")
    with pytest.raises(ConfigError) as info:
        auth_from_config(cfg)
    assert len(info.value.problems) == 3
    assert "'T_CS' is not set" in str(info.value)
    for name in ("T_CS", "T_AT", "T_AS"):
        monkeypatch.setenv(name, "v")
    assert auth_from_config(cfg).method == "oauth1"
    monkeypatch.setenv("T_TOKEN", "abc")
    client = MagentoClient(MagentoConfig(base_url=BASE,
                                         auth=AuthConfig("token", {"token_env": "T_TOKEN"})))
    assert client.auth.method == "token"
