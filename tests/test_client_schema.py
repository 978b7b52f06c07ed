"""Every request the client builds exists in Magento's official 2.4.6 REST schema.

The requests are not listed by hand: every typed call is made against a catch-all mock
and each request actually sent is matched to the schema (method, path template, query
parameter names, body against the schema's definitions).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
import responses

from bridge.config import MagentoConfig
from bridge.magento.auth import AdminTokenAuth
from bridge.magento.client import ROUTES, MagentoClient
from bridge.magento.retry import RetryPolicy
from bridge.magento.search import SearchCriteria

BASE = "http://magento.test"


@pytest.fixture(scope="module")
def schema(admin_schema: dict[str, Any]) -> dict[str, Any]:
    return admin_schema


def template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def match_template(schema: dict[str, Any], method: str, path: str) -> str | None:
    """The schema path template this concrete path and method belong to (literal wins)."""
    paths = schema["paths"]
    if path in paths and method.lower() in paths[path]:
        return path
    hits = [t for t in paths if method.lower() in paths[t] and template_regex(t).match(path)]
    return min(hits, key=lambda t: t.count("{")) if hits else None


def normalise_query_name(name: str) -> str:
    """``searchCriteria[filter_groups][3][filters][1][condition_type]`` -> schema spelling."""
    name = re.sub(r"\[\d+\]", "[0]", name)
    return name.replace("[filter_groups]", "[filterGroups]").replace(
        "[condition_type]", "[conditionType]")


def body_validator(schema: dict[str, Any], method: str, template: str) -> jsonschema.Validator:
    params = schema["paths"][template][method.lower()]["parameters"]
    body = next(p for p in params if p["in"] == "body")["schema"]
    return jsonschema.Draft4Validator({**body, "definitions": schema["definitions"]})


def every_call(client: MagentoClient) -> None:
    """One of each typed call, with the bodies segbridge's push sends."""
    sc = SearchCriteria().where("updated_at", "gteq", "2025-01-01 00:00:00").where_any(
        ("entity_id", "gt", 5), ("email", "like", "%@x.test")).order_by("updated_at", "ASC")
    sc = sc.fields("id", "email", "group_id", "updated_at")
    list(client.search_customers(sc))
    client.get_customer(7)
    client.put_customer(7, {"id": 7, "email": "a@x.test", "firstname": "A", "lastname": "B",
                            "website_id": 1, "group_id": 4})
    list(client.search_customer_groups())
    client.create_customer_group("seg-vip", 3)
    list(client.search_orders(sc))
    client.get_order(11)
    list(client.search_carts(SearchCriteria().where("is_active", 1)))
    client.cart_totals(12)
    client.websites()
    client.store_views()
    client.store_groups()
    list(client.search_cms_blocks(SearchCriteria().where("identifier", "like", "promo--%"),
                                  "all"))
    block = {"identifier": "promo--group-4", "title": "Promo", "content": "<p>x</p>",
             "active": True}
    client.create_cms_block(block, "all")
    client.update_cms_block(3, block, "default")
    list(client.search_sales_rules())
    client.get_sales_rule(2)
    rule = {"name": "VIP 10%", "description": "segbridge:vip:0", "website_ids": [1],
            "customer_group_ids": [4], "uses_per_customer": 0, "is_active": True,
            "stop_rules_processing": False, "is_advanced": True, "sort_order": 0,
            "simple_action": "by_percent", "discount_amount": 10, "discount_step": 0,
            "apply_to_shipping": False, "times_used": 0, "is_rss": False,
            "coupon_type": "SPECIFIC_COUPON", "use_auto_generation": False, "uses_per_coupon": 0}
    client.create_sales_rule(rule)
    client.update_sales_rule(2, rule)
    list(client.search_coupons(SearchCriteria().where("rule_id", 2)))
    client.create_coupon({"rule_id": 2, "code": "VIP10", "times_used": 0, "is_primary": True})


def answer(request: Any) -> tuple[int, dict[str, str], str]:
    path = urlsplit(request.url).path
    if path.endswith("/integration/admin/token"):
        body: Any = "opaque-admin-token-0123456789"
    elif "searchCriteria[pageSize]" in request.url or "searchCriteria%5BpageSize%5D" in request.url:
        body = {"items": [{"id": 1, "entity_id": 1, "rule_id": 1, "coupon_id": 1}],
                "total_count": 1}
    elif path.endswith(("/store/websites", "/store/storeViews", "/store/storeGroups")):
        body = [{"id": 1, "code": "base"}]
    else:
        body = {"id": 1}
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


@responses.activate
def test_every_request_the_client_sends_exists_in_the_schema(schema: dict[str, Any]) -> None:
    responses.add_callback(responses.GET, re.compile(r"http://magento\.test/.*"), callback=answer)
    responses.add_callback(responses.POST, re.compile(r"http://magento\.test/.*"), callback=answer)
    responses.add_callback(responses.PUT, re.compile(r"http://magento\.test/.*"), callback=answer)
    cfg = MagentoConfig(base_url=BASE, store_code="default", concurrency=1)
    client = MagentoClient(cfg, policy=RetryPolicy.fast(),
                           auth=AdminTokenAuth("u", "p", lambda u, p: ""))
    client.auth = AdminTokenAuth("admin", "pw", client._admin_token)
    every_call(client)

    sent: set[tuple[str, str]] = set()
    problems: list[str] = []
    for call in responses.calls:
        req = call.request
        parts = urlsplit(req.url)
        m = re.match(r"^/rest/([^/]+)(/V1/.*)$", parts.path)
        assert m, f"not a /rest/<store>/V1 URL: {req.url}"
        store, path = m.groups()
        template = match_template(schema, req.method, path)
        if template is None:
            problems.append(f"{req.method} {path}: not in the schema")
            continue
        sent.add((req.method, template))
        op = schema["paths"][template][req.method.lower()]
        allowed = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        for name, _ in parse_qsl(parts.query):
            if name != "fields" and normalise_query_name(name) not in allowed:
                problems.append(f"{req.method} {template}: query parameter {name} not in schema")
        if req.body:
            errors = list(body_validator(schema, req.method, template).iter_errors(
                json.loads(req.body)))
            problems += [f"{req.method} {template}: body: {e.message}" for e in errors]
        # docs/config.md: customer, group, rule and coupon writes go to /rest/all.
        if req.method in ("POST", "PUT") and "cmsBlock" not in template \
                and not template.endswith("/admin/token"):
            assert store == "all", f"{req.method} {template} sent to /rest/{store}"
    assert problems == []
    assert sent == set(ROUTES), "ROUTES must list exactly what the client sends"


def test_route_table_is_in_the_schema(schema: dict[str, Any]) -> None:
    missing = [f"{m} {p}" for m, p in sorted(ROUTES)
               if p not in schema["paths"] or m.lower() not in schema["paths"][p]]
    assert missing == []


@responses.activate
def test_cms_blocks_use_the_explicit_store_scope() -> None:
    responses.add(responses.POST, f"{BASE}/rest/all/V1/cmsBlock", json={"id": 1})
    responses.add(responses.PUT, f"{BASE}/rest/de/V1/cmsBlock/5", json={"id": 5})
    client = MagentoClient(MagentoConfig(base_url=BASE, store_code="default"),
                           policy=RetryPolicy.fast(),
                           auth=AdminTokenAuth("u", "p", lambda u, p: "t"))
    client.create_cms_block({"identifier": "x"}, "all")
    client.update_cms_block(5, {"identifier": "x"}, "de")
    assert json.loads(responses.calls[1].request.body) == {"block": {"identifier": "x", "id": 5}}
    with pytest.raises(ValueError):
        client.create_cms_block({"identifier": "x"}, "")
