"""The client prepares requests itself (its query encoded once, not re-parsed by
requests): what goes out must be what ``session.request(params=…)`` sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import requests

from bridge.magento.auth import OAuth1Auth, TokenAuth
from bridge.magento.client import encode_query, prepare
from bridge.magento.search import SearchCriteria
from bridge.sync import transform as tf
from bridge.sync.keyset import Stream, after_key, before_key, window_criteria

URL = "http://magento.test:8080/rest/all/V1/orders"


def _keyset_params() -> list[tuple[str, str]]:
    s = Stream("orders", id_key="entity_id")
    crit = window_criteria(s, SearchCriteria().fields(*tf.ORDER_FIELDS),
                           datetime(2016, 1, 1), datetime(2026, 12, 2, 15, 0, 0))
    crit = before_key(s, after_key(s, crit, ("2020-01-02 03:04:05", 12345)),
                      ("2024-01-02 03:04:05", 99999))
    return crit.to_params(100, 1)


PARAMS: list[list[tuple[str, str]]] = [
    _keyset_params(),
    SearchCriteria().where("email", "like", "%@exämple.com").where_any(
        ("firstname", "eq", "a&b=c+d #e/f?g"), ("lastname", "in", ["x", "y,z"]),
    ).to_params(50, 3),
    [("searchCriteria[pageSize]", ""), ("a b", "~._-"), ("ü", "€ 💶"), ("%41", "%zz")],
]


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.headers.update({"Accept": "application/json", "User-Agent": "segbridge"})
    return s


@pytest.mark.parametrize("params", PARAMS, ids=["keyset", "criteria", "odd"])
@pytest.mark.parametrize("auth", [None, TokenAuth("tok").requests_auth()], ids=["none", "bearer"])
def test_a_prepared_request_is_what_requests_would_send(params: list[tuple[str, str]],
                                                        auth: Any) -> None:
    s = _session()
    theirs = s.prepare_request(requests.Request("GET", URL, params=params, auth=auth))
    ours = prepare(s, "GET", URL, params, None, auth)
    assert ours.url == theirs.url and ours.path_url == theirs.path_url
    assert dict(ours.headers) == dict(theirs.headers)
    assert ours.body == theirs.body and ours.method == theirs.method


def test_oauth_signs_the_whole_url_with_its_query() -> None:
    s = _session()
    params = _keyset_params()
    auth = OAuth1Auth("ck", "cs", "at", "as").requests_auth()
    ours = prepare(s, "GET", URL, params, None, auth)
    theirs = s.prepare_request(requests.Request("GET", URL, params=params, auth=auth))
    assert ours.url == theirs.url
    # same signature base: requests-oauthlib signed the full URL in both
    header = ours.headers["Authorization"]
    header = header.decode() if isinstance(header, bytes) else header
    assert header.startswith("OAuth ") and "oauth_signature=" in header


@pytest.mark.parametrize("params", [
    [("a", None)], [("a", 1)], [("a", ["x", "y"])],
], ids=["none", "int", "list"])
def test_values_that_are_not_text_are_left_to_requests(params: Any) -> None:
    assert encode_query(params) is None
    s = _session()
    theirs = s.prepare_request(requests.Request("GET", URL, params=params))
    assert prepare(s, "GET", URL, params, None, None).url == theirs.url


def test_a_body_and_a_url_that_has_a_query_already() -> None:
    s = _session()
    for url, body in ((URL, {"customer": {"id": 7}}), (URL + "?x=1", None)):
        params = [("searchCriteria[pageSize]", "5")]
        theirs = s.prepare_request(requests.Request("PUT", url, params=params, json=body))
        ours = prepare(s, "PUT", url, params, body, None)
        assert (ours.url, ours.body, dict(ours.headers)) == (
            theirs.url, theirs.body, dict(theirs.headers))


def test_a_route_prepared_again_is_still_what_requests_would_send() -> None:
    """The second and later requests of a route start from a kept copy: what goes out
    stays requests' own, and follows the session — a header it gains, a cookie a store
    set — as requests would."""
    s = _session()
    params, auth = _keyset_params(), TokenAuth("tok").requests_auth()

    def same() -> requests.PreparedRequest:
        theirs = s.prepare_request(requests.Request("GET", URL, params=params, auth=auth))
        ours = prepare(s, "GET", URL, params, None, auth)
        assert ours.url == theirs.url and dict(ours.headers) == dict(theirs.headers)
        return ours

    first = same()
    first.headers["X-Only-This-One"] = "1"  # a request changed after it was prepared
    assert "X-Only-This-One" not in same().headers
    s.headers["X-Store"] = "eu"
    assert same().headers["X-Store"] == "eu"
    s.cookies.set("PHPSESSID", "abc", domain="magento.test", path="/")
    assert same().headers["Cookie"] == "PHPSESSID=abc"
    s.cookies.clear()
    assert "Cookie" not in same().headers
