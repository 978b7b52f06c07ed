"""The sandbox's storefront-module routes answer as the module's PHP services do.

Answers and errors are compared with what magento-module/Model/ answers (messages with
%1 placeholders and their parameters, nulls left out), every answer is validated against
the module's own contract (magento-module/etc/segbridge-rest-schema.json), and a refused
request is shown to change nothing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from bridge.sandbox.module_routes import MODULE_ROUTES
from bridge.sandbox.module_state import add_to_wishlist, view_product
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.shop import Shop

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "magento-module" / "etc" / \
    "segbridge-rest-schema.json"
ASSIGN = "/segbridge/groupAssignments"


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(customers=300, seed=7, now="2026-11-20 12:00:00") as s:
        yield s


@pytest.fixture(autouse=True)
def limits_on(server: SandboxServer) -> Iterator[None]:
    server.max_page_size = 300
    yield
    server.max_page_size = 300


class Api:
    def __init__(self, s: SandboxServer, store: str = "all") -> None:
        self.root = f"{s.base_url}/rest/{store}/V1"
        self.h = {"Authorization": f"Bearer {s.token}"}

    def call(self, method: str, path: str, body: Any = None,
             params: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(method, self.root + path, json=body, params=params,
                                headers=self.h, timeout=20)

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        r = self.call(method, path, body, params or None)
        assert r.status_code == 200, r.text
        return r.json()

    def refused(self, method: str, path: str, body: Any = None, status: int = 400,
                **params: Any) -> dict[str, Any]:
        r = self.call(method, path, body, params or None)
        assert r.status_code == status, r.text
        return r.json()


def route_schema(contract: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    url = template.replace("{ruleId}", ":ruleId")
    for r in contract["routes"]:
        if r["method"] == method and r["url"] == url:
            return r
    raise AssertionError(f"{method} {url} is not in the module's REST schema")


def validate(contract: dict[str, Any], node: dict[str, Any], value: Any) -> None:
    root = {"$defs": contract["$defs"], **node}
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    errors = list(jsonschema.Draft202012Validator(root, format_checker=checker)
                  .iter_errors(value))
    assert not errors, "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:150]}" for e in errors[:5])


def check_answer(contract: dict[str, Any], method: str, template: str, value: Any,
                 status: str = "200") -> None:
    node = route_schema(contract, method, template)["responses"][status]
    # Magento's own layer in front of the module (required, not supported, type
    # conversion, ACL) names its placeholders (%fieldName): parameters is an object there,
    # a list in the module's own %1 phrases; the Error definition takes both
    validate(contract, node, value)


def page(size: int = 300, number: int = 1, **filters: Any) -> dict[str, Any]:
    """searchCriteria query parameters; filters: {"g.f": (field, condition, value)}."""
    out: dict[str, Any] = {"searchCriteria[pageSize]": size,
                           "searchCriteria[currentPage]": number}
    for where, (fld, cond, value) in filters.items():
        g, f = where.split(".")
        base = f"searchCriteria[filter_groups][{g}][filters][{f}]"
        out[f"{base}[field]"] = fld
        out[f"{base}[value]"] = value
        out[f"{base}[condition_type]"] = cond
    return out


def f(group: int, index: int, fld: str, cond: str, value: Any) -> dict[str, Any]:
    return page(**{f"{group}.{index}": (fld, cond, value)})


def shop_state(shop: Shop) -> dict[int, tuple[int, int]]:
    return {c.id: (c.group_id, c.updated_at) for c in shop.customers.values()}


# --- routes, schema, switch, ACL ---------------------------------------------------------


def test_the_sandbox_serves_every_route_of_the_module_schema(contract: dict[str, Any]) -> None:
    served = {(r.method, r.template.replace("{ruleId}", ":ruleId")) for r in MODULE_ROUTES}
    declared = {(r["method"], r["url"]) for r in contract["routes"]}
    assert served == declared
    assert all(r.acl == contract["acl_resource"] for r in MODULE_ROUTES)


def test_info(server: SandboxServer, contract: dict[str, Any]) -> None:
    answer = Api(server).ok("GET", "/segbridge/info")
    check_answer(contract, "GET", "/V1/segbridge/info", answer)
    assert answer == {"module": "Segbridge_SegmentBlock", "version": contract["version"],
                      "features": ["group_assignments", "session_refresh", "catalog_rules",
                                   "wishlist_items", "product_views"],
                      "max_group_assignments": 1000, "product_views_recorded": True}


ALL_CALLS = [("GET", "/segbridge/info"), ("POST", ASSIGN),
             ("GET", "/segbridge/catalogRules/search"), ("POST", "/segbridge/catalogRules/apply"),
             ("GET", "/segbridge/catalogRules/1"), ("POST", "/segbridge/catalogRules"),
             ("PUT", "/segbridge/catalogRules/1"), ("GET", "/segbridge/wishlistItems"),
             ("GET", "/segbridge/productViews")]


def test_without_the_module_every_route_is_unknown(contract: dict[str, Any]) -> None:
    with SandboxServer(customers=10, seed=1, module=False) as s:
        api = Api(s)
        for method, path in ALL_CALLS:
            answer = api.refused(method, path, {"assignments": []}, status=404)
            assert answer == {"message": "Request does not match any route."}
            validate(contract, {"$ref": "#/$defs/Error"}, answer)
        assert api.ok("GET", "/customerGroups/1")["code"] == "General"  # core routes stay
        s.module = True  # the switch is live, as the other settings are
        assert api.ok("GET", "/segbridge/info")["module"] == "Segbridge_SegmentBlock"


def test_without_the_acl_resource_every_route_answers_401() -> None:
    with SandboxServer(customers=10, seed=1,
                       denied_resources=("Segbridge_SegmentBlock::api",)) as s:
        api = Api(s)
        for method, path in ALL_CALLS:
            answer = api.refused(method, path, {"assignments": []}, status=401)
            assert answer == {"message": "The consumer isn't authorized to access %resources.",
                              "parameters": {"resources": "Segbridge_SegmentBlock::api"}}
        assert api.ok("GET", "/customerGroups/1")["id"] == 1


# --- group assignments ---------------------------------------------------------------


def in_group(shop: Shop, group: int, n: int, skip: int = 0) -> list[int]:
    ids = sorted(c.id for c in shop.customers.values() if c.group_id == group)
    assert len(ids) >= skip + n
    return ids[skip:skip + n]


def test_compare_and_set(server: SandboxServer, contract: dict[str, Any]) -> None:
    shop = server.shop
    a, b, c = in_group(shop, 1, 3)
    d = in_group(shop, 3, 1)[0]
    shop.clock.advance(60)
    before = shop_state(shop)
    body = {"assignments": [
        {"customer_id": a, "from_group_id": 1, "to_group_id": 2},
        {"customer_id": d, "from_group_id": 1, "to_group_id": 2},  # is in 3: moved meanwhile
        {"customer_id": 999_999, "from_group_id": 1, "to_group_id": 2},
        {"customer_id": b, "from_group_id": 1, "to_group_id": 1},  # already there
        {"customer_id": str(c), "from_group_id": "1", "to_group_id": 3},  # Magento converts
    ]}
    validate(contract, {"$ref": "#/$defs/GroupAssignmentsRequest"},
             {"assignments": body["assignments"][:4]})
    answer = Api(server).ok("POST", ASSIGN, body)
    check_answer(contract, "POST", "/V1/segbridge/groupAssignments", answer)
    assert answer == {
        "results": [{"customer_id": a, "status": "applied", "group_id": 2},
                    {"customer_id": d, "status": "changed_meanwhile", "group_id": 3},
                    {"customer_id": 999_999, "status": "not_found"},
                    {"customer_id": b, "status": "applied", "group_id": 1},
                    {"customer_id": c, "status": "applied", "group_id": 3}],
        "applied": 3, "changed_meanwhile": 1, "not_found": 1, "warnings": []}
    after = shop_state(shop)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {a, c}  # b needed no write, d was left alone
    assert after[a][0] == 2 and after[c][0] == 3
    assert after[a][1] > before[a][1]  # updated_at stamped as a save stamps it
    assert {a, c} <= shop.module.refresh_flags and b not in shop.module.refresh_flags
    # the change is what GET /V1/customers/{id} shows, as after a PUT
    assert Api(server).ok("GET", f"/customers/{a}")["group_id"] == 2


def test_a_failing_grid_reindex_is_a_warning_and_the_changes_stand(
        server: SandboxServer, contract: dict[str, Any]) -> None:
    shop = server.shop
    a = in_group(shop, 1, 1, skip=20)[0]
    shop.module.grid_reindex_fails = True
    try:
        answer = Api(server).ok("POST", ASSIGN, {"assignments": [
            {"customer_id": a, "from_group_id": 1, "to_group_id": 2}]})
    finally:
        shop.module.grid_reindex_fails = False
    check_answer(contract, "POST", "/V1/segbridge/groupAssignments", answer)
    assert answer["applied"] == 1 and shop.customers.get(a).group_id == 2
    assert len(answer["warnings"]) == 1
    assert "bin/magento indexer:reindex customer_grid" in answer["warnings"][0]


def refusals(good: list[dict[str, Any]]) -> list[tuple[Any, str, Any]]:
    """(body, message, parameters): each body's bad part comes after good assignments."""
    item = {"customer_id": 5, "from_group_id": 1, "to_group_id": 2}
    return [
        ({"assignments": []}, '"assignments" is empty: send at least one assignment.', None),
        ({"assignments": [dict(item, customer_id=i) for i in range(1, 1002)]},
         '"assignments" has %1 items; at most %2 are accepted per request.', [1001, 1000]),
        ({"assignments": good + [dict(good[0])]},
         "assignments[%1].customer_id %2 already appears in assignments[%3]; send one "
         "assignment per customer.", [len(good), good[0]["customer_id"], 0]),
        ({"assignments": good + [dict(item, to_group_id=0)]},
         "assignments[%1].to_group_id is 0 (NOT LOGGED IN), which no customer account can "
         "be in.", [len(good)]),
        ({"assignments": good + [dict(item, to_group_id=77)]},
         "assignments[%1].to_group_id %2: no customer group has this id; nothing was "
         "changed.", [len(good), 77]),
        ({"assignments": good + [{"customer_id": 5, "to_group_id": 2}]},
         "assignments[%1].%2 is missing.", [len(good), "from_group_id"]),
        ({"assignments": good + [dict(item, customer_id=0)]},
         "assignments[%1].%2 must be a whole number of at least %3, got %4.",
         [len(good), "customer_id", 1, "0"]),
        ({"assignments": good + [dict(item, from_group_id=-2)]},
         "assignments[%1].%2 must be a whole number of at least %3, got %4.",
         [len(good), "from_group_id", 0, "-2"]),
        ({"assignments": good + [dict(item, customer_id="abc")]},
         'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and '
         "try again.", {"value": "abc", "type": "int"}),
        ({"assignments": good + [dict(item, group_id=3)]},
         '"%fieldName" is not supported. Correct the field name and try again.',
         {"fieldName": "group_id"}),
        ({"assignments": good + [7]}, "assignments[%1] is not an assignment object.",
         [len(good)]),
        ({"customers": good}, '"%fieldName" is required. Enter and try again.',
         {"fieldName": "assignments"}),
    ]


def test_a_refused_request_changes_nothing(server: SandboxServer,
                                           contract: dict[str, Any]) -> None:
    shop = server.shop
    good = [{"customer_id": i, "from_group_id": 1, "to_group_id": 2}
            for i in in_group(shop, 1, 3, skip=40)]
    before = shop_state(shop)
    flags = set(shop.module.refresh_flags)
    for body, message, parameters in refusals(good):
        answer = Api(server).refused("POST", ASSIGN, body)
        check_answer(contract, "POST", "/V1/segbridge/groupAssignments", answer, "400")
        expected: dict[str, Any] = {"message": message}
        if parameters is not None:
            expected["parameters"] = parameters
        assert answer == expected
    assert shop_state(shop) == before
    assert shop.module.refresh_flags == flags
    # and the good part alone goes through
    assert Api(server).ok("POST", ASSIGN, {"assignments": good})["applied"] == 3


# --- catalog price rules -------------------------------------------------------------

RULE = {"name": "segbridge VIP prices", "description": "segbridge:vip:catalog:1",
        "website_ids": [2, 1], "customer_group_ids": [3, 2, 3], "simple_action": "by_percent",
        "discount_amount": 12.5, "skus": [" SB-1001", "SB-1002 "], "from_date": "2026-12-01"}


def test_catalog_rules_create_read_update_search_apply(
        server: SandboxServer, contract: dict[str, Any]) -> None:
    api = Api(server)
    rules = "/V1/segbridge/catalogRules"
    validate(contract, route_schema(contract, "POST", rules)["request"], {"rule": RULE})
    made = api.ok("POST", "/segbridge/catalogRules", {"rule": RULE})
    check_answer(contract, "POST", rules, made)
    rid = made["rule_id"]
    assert made == {"rule_id": rid, "name": "segbridge VIP prices",
                    "description": "segbridge:vip:catalog:1", "is_active": False,
                    "website_ids": [1, 2], "customer_group_ids": [2, 3],
                    "from_date": "2026-12-01", "simple_action": "by_percent",
                    "discount_amount": 12.5, "stop_rules_processing": False, "sort_order": 0,
                    "skus": ["SB-1001", "SB-1002"], "has_other_conditions": False}
    got = api.ok("GET", f"/segbridge/catalogRules/{rid}")
    check_answer(contract, "GET", rules + "/{ruleId}", got)
    assert got == made
    # read-modify-write: a GET answer goes back with PUT as it is
    put = api.ok("PUT", f"/segbridge/catalogRules/{rid}", {"rule": {**got, "is_active": True}})
    check_answer(contract, "PUT", rules + "/{ruleId}", put)
    assert put == {**got, "is_active": True}
    # a rule made in the admin: its conditions are replaced by the SKU list on PUT
    admin = api.ok("GET", "/segbridge/catalogRules/1")
    assert admin["has_other_conditions"] is True and admin["skus"] == []
    assert "description" not in admin and "from_date" not in admin  # nulls left out
    replaced = api.ok("PUT", "/segbridge/catalogRules/1",
                      {"rule": {**admin, "skus": ["SB-1003"]}})
    assert replaced["has_other_conditions"] is False and replaced["skus"] == ["SB-1003"]

    search = rules + "/search"
    found = api.ok("GET", "/segbridge/catalogRules/search",
                   **f(0, 0, "name", "like", "%vip%"))
    check_answer(contract, "GET", search, found)
    assert [r["rule_id"] for r in found["items"]] == [rid] and found["total_count"] == 1
    active = api.ok("GET", "/segbridge/catalogRules/search", **f(0, 0, "is_active", "eq", 1))
    assert rid in [r["rule_id"] for r in active["items"]]
    assert all(r["is_active"] for r in active["items"])
    desc = api.ok("GET", "/segbridge/catalogRules/search",
                  **{**page(1), "searchCriteria[sortOrders][0][field]": "rule_id",
                     "searchCriteria[sortOrders][0][direction]": "DESC"})
    assert desc["items"][0]["rule_id"] == max(server.shop.module.rules)
    assert desc["total_count"] == len(server.shop.module.rules)

    applied = server.shop.module.rules_applied
    r = api.call("POST", "/segbridge/catalogRules/apply")
    assert r.status_code == 200 and r.json() is True
    check_answer(contract, "POST", rules + "/apply", r.json())
    assert server.shop.module.rules_applied == applied + 1


def test_catalog_rule_refusals_store_nothing(server: SandboxServer,
                                             contract: dict[str, Any]) -> None:
    api = Api(server)
    rid = api.ok("POST", "/segbridge/catalogRules", {"rule": RULE})["rule_id"]
    stored = api.ok("GET", f"/segbridge/catalogRules/{rid}")
    count = len(server.shop.module.rules)
    bad: list[tuple[dict[str, Any], str, Any]] = [
        ({"name": "  "}, "rule.name must be 1 to 255 characters.", None),
        ({"simple_action": "cart_fixed"}, 'rule.simple_action "%1" is not one of %2.',
         ["cart_fixed", "by_percent, by_fixed, to_percent, to_fixed"]),
        ({"discount_amount": 101}, "rule.discount_amount must be a number from 0%1.",
         [" to 100 for by_percent"]),
        ({"website_ids": []}, "%1 must list at least one id.", ["rule.website_ids"]),
        ({"customer_group_ids": [1, -1]}, "%1[%2] must be a whole number of at least %3.",
         ["rule.customer_group_ids", 1, 0]),
        ({"to_date": "2026-11-30"}, "rule.to_date %1 is before rule.from_date %2.",
         ["2026-11-30", "2026-12-01"]),
        ({"from_date": "2026-02-30"}, '%1 "%2" is not a date YYYY-MM-DD.',
         ["rule.from_date", "2026-02-30"]),
        ({"skus": ["SB-1", "A,B"]}, 'rule.skus[%1] must be a non-empty SKU without "," or '
         '";" (Magento splits the list on them).', [1]),
        ({"sort_order": -1}, "rule.sort_order must be a whole number of at least 0.", None),
        ({"colour": "red"}, '"%fieldName" is not supported. Correct the field name and try '
         "again.", {"fieldName": "colour"}),
    ]
    for change, message, parameters in bad:
        for method, path in (("POST", "/segbridge/catalogRules"),
                             ("PUT", f"/segbridge/catalogRules/{rid}")):
            body = {**RULE, **change} if method == "POST" else {**stored, **change}
            answer = api.refused(method, path, {"rule": body})
            expected: dict[str, Any] = {"message": message}
            if parameters is not None:
                expected["parameters"] = parameters
            assert answer == expected, (method, change)
            check_answer(contract, method, "/V1/segbridge/catalogRules"
                         + ("" if method == "POST" else "/{ruleId}"), answer, "400")
    assert api.refused("POST", "/segbridge/catalogRules", {"rule": {**RULE, "rule_id": 4}}) == {
        "message": "rule.rule_id is set (%1): to change an existing rule use PUT "
                   "/V1/segbridge/catalogRules/%1.", "parameters": [4]}
    assert api.refused("PUT", f"/segbridge/catalogRules/{rid}",
                       {"rule": {**stored, "rule_id": rid + 1}}) == {
        "message": "rule.rule_id %1 differs from the rule %2 in the URL.",
        "parameters": [rid + 1, rid]}
    missing = api.refused("GET", "/segbridge/catalogRules/4242", status=404)
    check_answer(contract, "GET", "/V1/segbridge/catalogRules/{ruleId}", missing, "404")
    assert missing == {"message": 'The rule with the "%1" ID wasn\'t found. Verify the ID '
                                  "and try again.", "parameters": [4242]}
    unnumbered = {k: v for k, v in stored.items() if k != "rule_id"}
    assert api.refused("PUT", "/segbridge/catalogRules/4242", {"rule": unnumbered},
                       status=404)["parameters"] == [4242]
    assert api.refused("GET", "/segbridge/catalogRules/0") == {
        "message": "ruleId must be a whole number of at least 1."}
    type_error = 'The "%value" value\'s type is invalid. The "%type" type was expected. ' \
                 "Verify and try again."
    assert api.refused("GET", "/segbridge/catalogRules/abc") == {
        "message": type_error, "parameters": {"value": "abc", "type": "int"}}
    # Magento converts every argument before the module checks the id
    assert api.refused("PUT", "/segbridge/catalogRules/0",
                       {"rule": {**unnumbered, "sort_order": "first"}}) == {
        "message": type_error, "parameters": {"value": "first", "type": "int"}}
    assert api.refused("POST", "/segbridge/catalogRules", {}) == {
        "message": '"%fieldName" is required. Enter and try again.',
        "parameters": {"fieldName": "rule"}}
    assert api.ok("GET", f"/segbridge/catalogRules/{rid}") == stored
    assert len(server.shop.module.rules) == count


# --- wishlist items and viewed products ----------------------------------------------

LISTS = [("/segbridge/wishlistItems", "/V1/segbridge/wishlistItems", "wishlist"),
         ("/segbridge/productViews", "/V1/segbridge/productViews", "views")]


def walk_all(api: Api, path: str, size: int = 300, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    number = 1
    while True:
        answer = api.ok("GET", path, **{**params, **page(size, number)})
        out += answer["items"]
        if len(out) >= answer["total_count"] or not answer["items"]:
            return out
        number += 1


@pytest.mark.parametrize(("path", "template", "table"), LISTS)
def test_lists_answer_every_row_in_added_at_id_order(
        server: SandboxServer, contract: dict[str, Any], path: str, template: str,
        table: str) -> None:
    rows = getattr(server.shop.module, table)
    assert len(rows) > 100  # generated with the shop
    items = walk_all(Api(server), path, size=97)
    for i in range(0, len(items), 97):
        check_answer(contract, "GET", template, {"items": items[i:i + 97],
                                                 "total_count": len(items)})
    assert [(i["added_at"], i["id"]) for i in items] == rows.keys
    product = server.shop.module.products[items[0]["product_id"]]
    assert (items[0]["sku"], items[0]["name"], items[0]["price"]) == \
        (product.sku, product.name, product.price)


def reference(rows: list[Any], test: Any) -> list[tuple[str, int]]:
    return sorted((r.added_at, r.id) for r in rows if test(r))


def test_keyset_pages_and_filters_match_a_plain_scan(server: SandboxServer) -> None:
    """The bisect the sandbox pages with answers what a scan of every row answers."""
    api = Api(server)
    views = server.shop.module.views
    rows = list(views.rows.values())
    rng = random.Random(4)
    for _ in range(25):
        pivot = rows[rng.randrange(len(rows))]
        u, i = pivot.added_at, pivot.id
        customers = sorted({r.customer_id for r in rng.sample(rows, 12)})
        crit = {"0.0": ("added_at", "gteq", u), "1.0": ("added_at", "gt", u),
                "1.1": ("id", "gt", i)}
        if rng.random() < 0.5:
            crit["2.0"] = ("customer_id", "in", ",".join(map(str, customers)))
            want = reference(rows, lambda r, u=u, i=i, cs=customers: (r.added_at, r.id) > (u, i)
                             and r.customer_id in cs)
        else:
            want = reference(rows, lambda r, u=u, i=i: (r.added_at, r.id) > (u, i))
        answer = api.ok("GET", "/segbridge/productViews", **page(50, **crit))
        assert answer["total_count"] == len(want)
        assert [(x["added_at"], x["id"]) for x in answer["items"]] == want[:50]
    # bounds without the pair, a date alone meaning its midnight, and DESC
    day = rows[len(rows) // 2].added_at[:10]
    answer = api.ok("GET", "/segbridge/productViews",
                    **{**page(300, **{"0.0": ("added_at", "lt", day),
                                      "1.0": ("store_id", "neq", 1)}),
                       "searchCriteria[sortOrders][0][field]": "added_at",
                       "searchCriteria[sortOrders][0][direction]": "DESC"})
    want = reference(rows, lambda r: r.added_at < day + " 00:00:00" and r.store_id != 1)
    assert answer["total_count"] == len(want)
    assert [(x["added_at"], x["id"]) for x in answer["items"]] == want[::-1][:300]


def test_list_refusals(server: SandboxServer, contract: dict[str, Any]) -> None:
    api = Api(server)
    path = "/segbridge/wishlistItems"
    cases: list[tuple[dict[str, Any], str, Any]] = [
        (f(0, 0, "sku", "eq", "SB-1000"),
         '%1: field "%2" cannot be filtered on; use one of %3.',
         ["filter_groups[0][filters][0]", "sku", "id, customer_id, product_id, store_id, "
          "added_at"]),
        (f(0, 0, "id", "like", "1%"),
         '%1 (%2): condition_type "%3" is not supported; use eq, neq, gt, gteq, lt, lteq, '
         "in, nin%4, null or notnull.", ["filter_groups[0][filters][0]", "id", "like", ""]),
        (f(0, 0, "customer_id", "eq", "abc"), "%1: value %2 is not %3.",
         ["filter_groups[0][filters][0] (customer_id)", '"abc"', "a whole number"]),
        (f(0, 0, "added_at", "gteq", "yesterday"), "%1: value %2 is not %3.",
         ["filter_groups[0][filters][0] (added_at)", '"yesterday"',
          'a date "YYYY-MM-DD" or date and time "YYYY-MM-DD HH:MM:SS" (UTC)']),
        (f(0, 0, "id", "in", " , "), '%1 (%2): "%3" needs at least one value.',
         ["filter_groups[0][filters][0]", "id", "in"]),
        ({**page(), "searchCriteria[sortOrders][0][field]": "customer_id",
          "searchCriteria[sortOrders][0][direction]": "ASC"},
         'sort_orders[%1][field] "%2" cannot be sorted on; use %3.',
         [0, "customer_id", "added_at or id"]),
        (page(10, 0), "searchCriteria[currentPage] must be a whole number from 1.", None),
        (page(301), "Maximum SearchCriteria pageSize is %max", {"max": 300}),
    ]
    for params, message, parameters in cases:
        answer = api.refused("GET", path, **params)
        check_answer(contract, "GET", "/V1/segbridge/wishlistItems", answer, "400")
        expected: dict[str, Any] = {"message": message}
        if parameters is not None:
            expected["parameters"] = parameters
        assert answer == expected
    server.max_page_size = None  # input limits off: the module's own limit answers
    assert api.refused("GET", path, **page(301)) == {
        "message": "searchCriteria[pageSize] must be a whole number from 1 to %1.",
        "parameters": [300]}
    assert len(api.ok("GET", path, searchCriteria="")["items"]) == 100  # the module's default
    server.max_page_size = 300
    assert len(api.ok("GET", path, searchCriteria="")["items"]) == 20  # Magento's default


def test_nulls_are_left_out_and_repeat_views_keep_their_id(
        server: SandboxServer, contract: dict[str, Any]) -> None:
    shop = server.shop
    api = Api(server)
    shop.clock.advance(3600)
    gone = add_to_wishlist(shop, 3, 99_999)  # a product that no longer exists
    shop.module.wishlist.rows[gone.id].store_id = None
    answer = api.ok("GET", "/segbridge/wishlistItems", **f(0, 0, "id", "eq", gone.id))
    check_answer(contract, "GET", "/V1/segbridge/wishlistItems", answer)
    assert answer["items"] == [{"id": gone.id, "customer_id": 3, "product_id": 99_999,
                                "added_at": gone.added_at}]
    none = api.ok("GET", "/segbridge/wishlistItems", **f(0, 0, "store_id", "null", 1))
    assert [i["id"] for i in none["items"]] == [gone.id]

    first = next(iter(shop.module.views.rows.values()))
    old = first.added_at
    shop.clock.advance(60)
    again = view_product(shop, first.customer_id, first.product_id)
    assert again.id == first.id and again.added_at > old
    last = api.ok("GET", "/segbridge/productViews",
                  **{**page(1), "searchCriteria[sortOrders][0][field]": "added_at",
                     "searchCriteria[sortOrders][0][direction]": "DESC"})["items"][0]
    assert (last["id"], last["added_at"]) == (first.id, again.added_at)
    assert shop.module.views.keys == sorted(r.key for r in shop.module.views.rows.values())


def test_generated_from_the_seed_alone() -> None:
    one = Shop(customers=150, seed=9, now="2026-06-01 00:00:00")
    two = Shop(customers=150, seed=9, now="2026-06-01 00:00:00")
    other = Shop(customers=150, seed=10, now="2026-06-01 00:00:00")

    def rows(s: Shop) -> list[tuple[Any, ...]]:
        return [(r.id, r.customer_id, r.product_id, r.store_id, r.added_at)
                for t in (s.module.wishlist, s.module.views) for r in t.in_order()]
    # made on first use, from the customers as generated: a shop changed before that
    # (a customer added, one moved) gets the same rows
    two.add_customer("late@example.com")
    two.update_customer(5, store_id=3)
    assert rows(one) == rows(two) != rows(other)
    assert all(r[4] <= "2026-06-01 00:00:00" for r in rows(one))


@pytest.mark.parametrize("module", [True, False])
def test_the_sandbox_command_passes_the_module_switch(module: bool, tmp_path: Path) -> None:
    """cmd_sandbox reads ``args.module`` (``--no-module`` sets it False in the CLI)."""
    script = ("import argparse, types\n"
              "from bridge.sandbox.command import cmd_sandbox\n"
              "cmd_sandbox(types.SimpleNamespace(json=False), argparse.Namespace("
              f"port=0, customers=5, seed=1, module={module}))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("segbridge sandbox: http://127.0.0.1:"), first
        said = proc.stdout.readline()
        assert ("--no-module" in said) if module else ("answers 404" in said), said
        r = requests.get(first.split()[2] + "/rest/all/V1/segbridge/info",
                         headers={"Authorization": "Bearer sandbox-token"}, timeout=30)
        assert r.status_code == (200 if module else 404)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
