"""Every sandbox route exists in Magento's 2.4.6 admin schema, and its answers validate
against the schema's own response definition for that route.

Swagger 2.0 has no ``nullable``: Magento's answers carry ``null`` for non-nullable getters,
which are exactly the ``required`` properties, so null is accepted there and nowhere else.
Magento's definitions rarely say ``additionalProperties: false``, so the test also checks
that every key the sandbox sends is a property the definition declares.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests

from bridge.sandbox.routes import ROUTES
from bridge.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def schema(admin_schema: dict[str, Any]) -> dict[str, Any]:
    raw = admin_schema
    defs = copy.deepcopy(raw["definitions"])
    for d in defs.values():
        props = d.get("properties", {})
        for name in d.get("required", []):
            if name in props:
                props[name] = {"anyOf": [props[name], {"type": "null"}]}
    raw["_defs_nullable"] = defs
    return raw


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(customers=120, seed=5, now="2026-05-01 10:00:00") as s:
        yield s


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].split("/")[-1]]
    return node


def undeclared_keys(schema: dict[str, Any], node: dict[str, Any], value: Any,
                    where: str = "$") -> list[str]:
    """Paths of keys in ``value`` that the (resolved) schema node does not declare."""
    node = _resolve(schema, node)
    out: list[str] = []
    if isinstance(value, dict) and "properties" in node:
        props = node["properties"]
        for k, v in value.items():
            if k not in props:
                out.append(f"{where}.{k}")
            else:
                out += undeclared_keys(schema, props[k], v, f"{where}.{k}")
    elif isinstance(value, list) and "items" in node:
        for i, v in enumerate(value):
            out += undeclared_keys(schema, node["items"], v, f"{where}[{i}]")
    return out


def _leaves(err: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
    for sub in err.context or ():
        yield sub
        yield from _leaves(sub)


def check(schema: dict[str, Any], method: str, template: str, value: Any,
          status: str = "200") -> None:
    op = schema["paths"][template][method.lower()]
    resp = op["responses"].get(status) or op["responses"]["default"]
    target = resp["schema"]
    root = {"definitions": schema["_defs_nullable"], **target}
    errors = sorted(jsonschema.Draft4Validator(root).iter_errors(value),
                    key=lambda e: len(list(e.absolute_path)))
    deep = [e for err in errors for e in ([err] + list(_leaves(err)))]
    assert not errors, f"{method} {template}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:120]}" for e in deep[:6])
    extra = undeclared_keys(schema, target, value)
    assert not extra, f"{method} {template}: keys not in the schema: {extra[:10]}"


def test_every_route_is_in_the_schema(schema: dict[str, Any]) -> None:
    missing = [f"{r.method} {r.template}" for r in ROUTES
               if r.method.lower() not in schema["paths"].get(r.template, {})]
    assert missing == []


class Client:
    def __init__(self, s: SandboxServer, store: str = "all") -> None:
        self.root = f"{s.base_url}/rest/{store}/V1"
        self.h = {"Authorization": f"Bearer {s.token}"}

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return requests.request(method, self.root + path, json=body, params=params or None,
                                headers=self.h, timeout=10)


PAGE = {"searchCriteria[pageSize]": 100, "searchCriteria[currentPage]": 1}


def test_read_answers_validate(schema: dict[str, Any], server: SandboxServer) -> None:
    c = Client(server)
    cases = [
        ("GET", "/V1/customers/search", "/customers/search", PAGE),
        ("GET", "/V1/orders", "/orders", PAGE),
        ("GET", "/V1/carts/search", "/carts/search", {**PAGE, "searchCriteria[pageSize]": 300}),
        ("GET", "/V1/customerGroups/search", "/customerGroups/search", PAGE),
        ("GET", "/V1/customerGroups/{id}", "/customerGroups/1", {}),
        ("GET", "/V1/customerGroups/default", "/customerGroups/default", {}),
        ("GET", "/V1/store/websites", "/store/websites", {}),
        ("GET", "/V1/store/storeViews", "/store/storeViews", {}),
        ("GET", "/V1/store/storeGroups", "/store/storeGroups", {}),
        ("GET", "/V1/store/storeConfigs", "/store/storeConfigs", {}),
        ("GET", "/V1/customerGroups/default/{storeId}", "/customerGroups/default/2", {}),
        ("GET", "/V1/cmsBlock/search", "/cmsBlock/search", PAGE),
        ("GET", "/V1/cmsBlock/{blockId}", "/cmsBlock/1", {}),
    ]
    for method, template, path, params in cases:
        r = c.call(method, path, **params)
        assert r.status_code == 200, (path, r.text)
        check(schema, method, template, r.json())
    shop = server.shop
    for cid in shop.customers.ids[:40]:
        check(schema, "GET", "/V1/customers/{customerId}", c.call("GET", f"/customers/{cid}")
              .json())
    for oid in shop.orders.ids[:60]:
        check(schema, "GET", "/V1/orders/{id}", c.call("GET", f"/orders/{oid}").json())
    kinds = set()
    for q in shop.carts.values():
        kind = (q.is_active, q.customer_id is None, q.id % 2)
        if kind in kinds:
            continue
        kinds.add(kind)
        check(schema, "GET", "/V1/carts/{cartId}", c.call("GET", f"/carts/{q.id}").json())
        check(schema, "GET", "/V1/carts/{cartId}/totals",
              c.call("GET", f"/carts/{q.id}/totals").json())
    assert len(kinds) >= 6  # active/inactive, member/guest, items key present/absent


def test_write_answers_validate(schema: dict[str, Any], server: SandboxServer) -> None:
    c = Client(server)
    cid = server.shop.customers.ids[0]
    r = c.call("PUT", f"/customers/{cid}", {"customer": {"id": cid, "group_id": 2}})
    check(schema, "PUT", "/V1/customers/{customerId}", r.json())
    r = c.call("POST", "/customers", {"customer": {"email": "new.kund@example.se",
                                                   "firstname": "Åsa", "lastname": "Öberg",
                                                   "website_id": 2}})
    check(schema, "POST", "/V1/customers", r.json())
    g = c.call("POST", "/customerGroups", {"group": {"code": "Schema", "tax_class_id": 3}})
    check(schema, "POST", "/V1/customerGroups", g.json())
    r = c.call("PUT", f"/customerGroups/{g.json()['id']}", {"group": {"code": "Schema2",
                                                                     "tax_class_id": 3}})
    check(schema, "PUT", "/V1/customerGroups/{id}", r.json())
    b = Client(server, "se").call("POST", "/cmsBlock", {"block": {
        "identifier": "schema-block", "title": "t", "content": "<p/>", "active": True}})
    check(schema, "POST", "/V1/cmsBlock", b.json())
    r = Client(server, "se").call("PUT", f"/cmsBlock/{b.json()['id']}",
                                  {"block": {"content": "<p>2</p>"}})
    check(schema, "PUT", "/V1/cmsBlock/{id}", r.json())
    rule = {"name": "Schema rule", "website_ids": [1, 2], "customer_group_ids": [1],
            "uses_per_customer": 0, "is_active": True, "stop_rules_processing": False,
            "is_advanced": True, "sort_order": 1, "simple_action": "by_percent",
            "discount_amount": 5, "discount_step": 0, "apply_to_shipping": False,
            "times_used": 0, "is_rss": False, "coupon_type": "SPECIFIC_COUPON",
            "use_auto_generation": False, "uses_per_coupon": 0,
            "store_labels": [{"store_id": 0, "store_label": "Five off"}],
            "from_date": "2026-05-01"}
    rr = c.call("POST", "/salesRules", {"rule": rule})
    check(schema, "POST", "/V1/salesRules", rr.json())
    rid = rr.json()["rule_id"]
    check(schema, "GET", "/V1/salesRules/{ruleId}", c.call("GET", f"/salesRules/{rid}").json())
    r = c.call("PUT", f"/salesRules/{rid}", {"rule": {**rr.json(), "discount_amount": 6}})
    check(schema, "PUT", "/V1/salesRules/{ruleId}", r.json())
    check(schema, "GET", "/V1/salesRules/search", c.call("GET", "/salesRules/search", **PAGE)
          .json())
    cp = c.call("POST", "/coupons", {"coupon": {"rule_id": rid, "code": "SCHEMA5",
                                                "is_primary": True, "times_used": 0}})
    check(schema, "POST", "/V1/coupons", cp.json())
    check(schema, "GET", "/V1/coupons/{couponId}",
          c.call("GET", f"/coupons/{cp.json()['coupon_id']}").json())
    check(schema, "GET", "/V1/coupons/search", c.call("GET", "/coupons/search", **PAGE).json())
    r = c.call("PUT", f"/coupons/{cp.json()['coupon_id']}",
               {"coupon": {**cp.json(), "usage_limit": 5}})
    check(schema, "PUT", "/V1/coupons/{couponId}", r.json())
    auto = c.call("POST", "/salesRules", {"rule": {**rule, "coupon_type": "AUTO",
                                                   "use_auto_generation": True}}).json()
    codes = c.call("POST", "/coupons/generate", {"couponSpec": {
        "rule_id": auto["rule_id"], "format": "num", "quantity": 2, "length": 6}})
    check(schema, "POST", "/V1/coupons/generate", codes.json())
    tok = requests.post(server.base_url + "/rest/all/V1/integration/admin/token",
                        json={"username": server.admin_username,
                              "password": server.admin_password}, timeout=5)
    check(schema, "POST", "/V1/integration/admin/token", tok.json())


def test_error_bodies_validate(schema: dict[str, Any], server: SandboxServer) -> None:
    c = Client(server)
    errors = [
        c.call("GET", "/customers/999999"),  # dict parameters
        c.call("GET", "/cmsBlock/999999"),  # list parameters
        c.call("GET", "/customers/search", **{"searchCriteria[pageSize]": 1000}),
        c.call("POST", "/customerGroups", {"group": {"code": "General", "tax_class_id": 3}}),
        requests.get(server.base_url + "/rest/all/V1/orders", timeout=5),
    ]
    shapes = set()
    for r in errors:
        assert r.status_code >= 400
        body = r.json()
        params = body.pop("parameters", None)
        # the schema types parameters as a list of {resources, fieldName, fieldValue};
        # Magento really sends a dict for %name phrases and a list for %1 phrases
        if params is not None:
            assert isinstance(params, dict | list) and params
            shapes.add(type(params).__name__)
        check(schema, "GET", "/V1/customers/search", body, status="default")
    assert shapes == {"dict", "list"}
