"""bridge.magento.module: the real client against the sandbox's module routes over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bridge.config import MagentoConfig
from bridge.magento.auth import TokenAuth
from bridge.magento.client import MagentoClient
from bridge.magento.errors import InvalidRequestError, NotFoundError
from bridge.magento.module import (
    ActivityItem,
    Assignment,
    AssignmentsInterrupted,
    CatalogRule,
    ModuleAnswerError,
    ModuleInfo,
    ModuleNotGrantedError,
    apply_catalog_rules,
    assign_groups,
    create_catalog_rule,
    get_catalog_rule,
    module_info,
    product_views,
    search_catalog_rules,
    update_catalog_rule,
    wishlist_items,
)
from bridge.magento.retry import RetryPolicy
from bridge.magento.search import SearchCriteria
from bridge.sandbox.module_state import add_to_wishlist, remove_from_wishlist, view_product
from bridge.sandbox.server import SandboxServer

POST_ASSIGN = ("POST", "/V1/segbridge/groupAssignments")
VIEWS = ("GET", "/V1/segbridge/productViews")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(customers=3000, seed=4, orders_per_customer=0.1,
                       active_carts=0.0) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(sandbox: SandboxServer) -> None:
    sandbox.stats.reset()


def client_for(sandbox: SandboxServer, page_size: int = 100) -> MagentoClient:
    cfg = MagentoConfig(base_url=sandbox.base_url, store_code="default", timeout_s=10,
                        page_size=page_size, concurrency=1)
    return MagentoClient(cfg, policy=RetryPolicy(base_s=0.005, max_s=0.05),
                         auth=TokenAuth(sandbox.token))


def groups(sandbox: SandboxServer) -> dict[int, int]:
    return {c.id: c.group_id for c in sandbox.shop.customers.values()}


# --- info ----------------------------------------------------------------------------


def test_info_with_and_without_the_module(sandbox: SandboxServer) -> None:
    info = module_info(client_for(sandbox))
    assert info == ModuleInfo("Segbridge_SegmentBlock", "0.2.0",
                              frozenset({"group_assignments", "session_refresh",
                                         "catalog_rules", "wishlist_items", "product_views"}),
                              1000, True)
    assert info.has("product_views") and not info.has("segments")
    with SandboxServer(customers=5, seed=1, module=False) as bare:
        assert module_info(client_for(bare)) is None
        assert bare.stats.get("GET", "(no route)") == 1


@pytest.mark.parametrize("first", [True, False])
def test_info_without_the_acl_resource_says_what_to_grant(first: bool) -> None:
    with SandboxServer(customers=5, seed=1,
                       denied_resources=("Segbridge_SegmentBlock::api",)) as s:
        client = client_for(s)
        if not first:
            client.store_views()  # the credentials have already worked
        with pytest.raises(ModuleNotGrantedError) as caught:
            module_info(client)
    text = str(caught.value)
    assert "Segbridge_SegmentBlock::api" in text and "docs/push.md" in text


def test_info_asks_rest_all_so_a_wrong_store_code_is_not_a_missing_module(
        sandbox: SandboxServer) -> None:
    cfg = MagentoConfig(base_url=sandbox.base_url, store_code="nosuchview", timeout_s=10)
    client = MagentoClient(cfg, auth=TokenAuth(sandbox.token))
    info = module_info(client)
    assert info is not None and info.version == "0.2.0"


def test_info_refuses_an_answer_that_is_not_the_module(sandbox: SandboxServer) -> None:
    with pytest.raises(ModuleAnswerError, match="version"):
        ModuleInfo.from_json({"module": "Other_Module", "version": "1", "features": [],
                              "max_group_assignments": 10, "product_views_recorded": False})


# --- group assignments --------------------------------------------------------------


def members(sandbox: SandboxServer, group: int, n: int, skip: int = 0) -> list[int]:
    ids = sorted(c.id for c in sandbox.shop.customers.values() if c.group_id == group)
    return ids[skip:skip + n]


def test_compare_and_set_with_a_customer_moved_meanwhile(sandbox: SandboxServer) -> None:
    a, b, c = members(sandbox, 1, 3)
    sandbox.shop.update_customer(b, group_id=3)  # an admin moves b after segbridge planned
    results = assign_groups(client_for(sandbox), [Assignment(a, 1, 2), Assignment(b, 1, 2),
                                                  Assignment(c, 1, 2),
                                                  Assignment(99_999, 1, 2)])
    assert [(r.customer_id, r.status, r.group_id) for r in results] == [
        (a, "applied", 2), (b, "changed_meanwhile", 3), (c, "applied", 2),
        (99_999, "not_found", None)]
    now = groups(sandbox)
    assert (now[a], now[b], now[c]) == (2, 3, 2)
    assert sandbox.stats.get(*POST_ASSIGN) == 1


def test_2500_assignments_take_3_requests(sandbox: SandboxServer) -> None:
    ids = members(sandbox, 1, 2500, skip=10)
    assert len(ids) == 2500
    results = assign_groups(client_for(sandbox), [Assignment(i, 1, 3) for i in ids])
    assert sandbox.stats.get(*POST_ASSIGN) == 3
    assert [r.customer_id for r in results] == ids
    assert all(r.applied and r.group_id == 3 for r in results)
    now = groups(sandbox)
    assert all(now[i] == 3 for i in ids)
    # back again, in chunks of 700: 4 requests
    assign_groups(client_for(sandbox), [Assignment(i, 3, 1) for i in ids], chunk_size=700)
    assert sandbox.stats.get(*POST_ASSIGN) == 3 + 4
    assert all(groups(sandbox)[i] == 1 for i in ids)


@pytest.mark.parametrize(("bad", "says"), [
    (Assignment(5, 1, 0), "0 is NOT LOGGED IN"),
    (Assignment(0, 1, 2), "customer_id 0"),
    (Assignment(5, -1, 2), "from_group_id -1"),
    (Assignment(7, 1, 2), "customer 7 is also assignment 1"),
])
def test_a_bad_assignment_is_refused_before_anything_is_sent(
        sandbox: SandboxServer, bad: Assignment, says: str) -> None:
    before = groups(sandbox)
    good = [Assignment(7, 1, 2)] + [Assignment(i, 1, 2) for i in range(100, 1300)]
    with pytest.raises(InvalidRequestError, match=says) as caught:
        assign_groups(client_for(sandbox), good + [bad])
    assert f"group assignment {len(good) + 1}" in str(caught.value)
    assert "nothing was sent" in str(caught.value)
    assert sandbox.stats.total == 0
    assert groups(sandbox) == before


def test_a_request_refused_after_others_were_applied_says_what_was_done(
        sandbox: SandboxServer) -> None:
    first = members(sandbox, 2, 3)
    second = members(sandbox, 3, 2)
    batch = [Assignment(i, 2, 1) for i in first] + [Assignment(second[0], 3, 1),
                                                    Assignment(second[1], 3, 77)]
    with pytest.raises(AssignmentsInterrupted) as caught:
        assign_groups(client_for(sandbox), batch, chunk_size=3)
    stopped = caught.value
    assert [r.customer_id for r in stopped.results] == first
    assert all(r.applied for r in stopped.results)
    assert stopped.unsent == batch[3:]
    assert "stopped after 3 of 5 customers; the request with assignments 4 to 5 failed" \
        in str(stopped)
    assert "no customer group has this id" in str(stopped)
    now = groups(sandbox)
    assert all(now[i] == 1 for i in first) and [now[i] for i in second] == [3, 3]


# --- catalog price rules ------------------------------------------------------------


def test_catalog_rules_through_the_client(sandbox: SandboxServer) -> None:
    client = client_for(sandbox)
    rule = CatalogRule(name="segbridge Wholesale prices", website_ids=(1,),
                       customer_group_ids=(2,), simple_action="by_percent",
                       discount_amount=8.0, description="segbridge:wholesale:catalog:1",
                       from_date=date(2026, 12, 1), skus=("SB-1004", "SB-1005"))
    made = create_catalog_rule(client, rule)
    assert made.rule_id is not None and made.has_other_conditions is False
    assert made == replace(rule, rule_id=made.rule_id)
    read = get_catalog_rule(client, made.rule_id)
    assert read == made
    changed = update_catalog_rule(client, replace(read, is_active=True, skus=()))
    assert changed.is_active and changed.skus == ()
    assert sandbox.shop.module.rules[made.rule_id]["is_active"] is True

    marked = list(search_catalog_rules(
        client, SearchCriteria().where("description", "like", "segbridge:%"), page_size=1))
    assert [r.rule_id for r in marked] == [made.rule_id]
    every = list(search_catalog_rules(client, page_size=1))
    assert [r.rule_id for r in every] == sorted(sandbox.shop.module.rules)
    assert every[0].has_other_conditions  # the rule made in the admin
    assert sandbox.stats.get("GET", "/V1/segbridge/catalogRules/search") == 1 + len(every)

    applied = sandbox.shop.module.rules_applied
    apply_catalog_rules(client)
    assert sandbox.shop.module.rules_applied == applied + 1

    with pytest.raises(NotFoundError):
        get_catalog_rule(client, 9999)
    before = sandbox.stats.total
    with pytest.raises(InvalidRequestError, match="discount_amount 120"):
        create_catalog_rule(client, replace(rule, discount_amount=120.0))
    with pytest.raises(InvalidRequestError, match="update it instead"):
        create_catalog_rule(client, made)
    assert sandbox.stats.total == before


# --- wishlist items and viewed products ---------------------------------------------


def test_a_keyset_walk_sees_every_view_once_while_rows_are_added(
        sandbox: SandboxServer) -> None:
    shop = sandbox.shop
    views = shop.module.views
    start = len(views)
    added: list[int] = []
    seen: list[ActivityItem] = []
    products = sorted(shop.module.products)
    at_start = set(views.rows)
    behind: list[int] = []

    def unviewed(cid: int) -> int:
        viewed = {r.product_id for r in views.rows.values() if r.customer_id == cid}
        return next(p for p in products if p not in viewed)

    walk = product_views(client_for(sandbox), page_size=97)
    for n, item in enumerate(walk):
        seen.append(item)
        if n % 400 == 0 and n < start - 200:  # a shopper views a new product, mid-walk
            shop.clock.advance(5)
            cid = 1 + n % 50
            added.append(view_product(shop, cid, unviewed(cid)).id)
            # and a guest's view attached at login keeps its earlier time: it lands
            # behind the walk, where paging by offset would shift every row after it
            cid = 100 + n % 50
            old = shop.clock.now() - 120 * 86400
            behind.append(view_product(shop, cid, unviewed(cid), at=old).id)
    ids = [i.id for i in seen]
    assert len(ids) == len(set(ids)), "a row came back twice"
    assert at_start <= set(ids), "rows are missing"
    assert len(added) >= 5 and set(added) <= set(ids)
    assert set(ids) == at_start | set(added)  # those behind it are the next run's (overlap)
    assert len(views) == start + len(added) + len(behind)
    assert [i.key for i in seen] == sorted(i.key for i in seen)
    pages = sandbox.stats.get(*VIEWS)
    assert pages <= -(-len(ids) // 97) + len(added)  # no offsets re-read, no empty tail pages

    # resuming from the last key seen gives exactly what came after
    shop.clock.advance(5)
    later = view_product(shop, 60, products[0]).id
    resumed = list(product_views(client_for(sandbox), after=seen[-1].key))
    assert [i.id for i in resumed] == [later]


def test_a_walk_skips_nothing_while_items_behind_it_are_removed(
        sandbox: SandboxServer) -> None:
    """Paging by offset skips a row for each row removed behind it; keyset does not."""
    shop = sandbox.shop
    table = shop.module.wishlist
    seen: list[int] = []
    removed: list[int] = []
    for n, item in enumerate(wishlist_items(client_for(sandbox), page_size=50)):
        seen.append(item.id)
        if n % 60 == 30:
            removed.append(seen[-20])  # a shopper empties part of a wishlist already read
            remove_from_wishlist(shop, seen[-20])
    assert len(removed) >= 5
    assert len(seen) == len(set(seen))
    assert set(table.rows) <= set(seen), "rows left in the wishlist were skipped"
    add_to_wishlist(shop, 9, 3)  # the table stays in order for what follows
    assert table.keys == sorted(r.key for r in table.rows.values())


def test_wishlist_items_with_a_filter(sandbox: SandboxServer) -> None:
    shop = sandbox.shop
    wanted = sorted({r.customer_id for r in shop.module.wishlist.rows.values()})[:40]
    crit = SearchCriteria().where("customer_id", "in", wanted)
    items = list(wishlist_items(client_for(sandbox), criteria=crit, page_size=10))
    expect = sorted(r.key for r in shop.module.wishlist.rows.values()
                    if r.customer_id in wanted)
    assert [i.key for i in items] == expect
    product = shop.module.products[items[0].product_id]
    assert (items[0].sku, items[0].name, items[0].price, items[0].store_id) == (
        product.sku, product.name, product.price,
        shop.module.wishlist.rows[items[0].id].store_id)


def test_an_answer_out_of_keyset_order_is_refused(sandbox: SandboxServer,
                                                  monkeypatch: Any) -> None:
    client = client_for(sandbox)
    real = client._list

    def backwards(path: str, params: Any, store_code: Any, **kw: Any) -> Any:
        data = real(path, params, store_code, **kw)
        data["items"] = list(reversed(data["items"]))
        return data

    monkeypatch.setattr(client, "_list", backwards)
    with pytest.raises(ModuleAnswerError, match="not in keyset order"):
        list(product_views(client, page_size=5))


def test_the_bodies_sent_are_the_module_schema_s_requests(sandbox: SandboxServer,
                                                         monkeypatch: Any) -> None:
    contract = json.loads((Path(__file__).resolve().parent.parent / "magento-module" / "etc"
                           / "segbridge-rest-schema.json").read_text())
    requests_of = {(r["method"], r["url"]): r.get("request") for r in contract["routes"]}
    client = client_for(sandbox)
    real = client._write
    sent: list[tuple[str, str, Any]] = []

    def recording(method: str, template: str, body: Any, *a: Any, **kw: Any) -> Any:
        sent.append((method, template.replace("{ruleId}", ":ruleId"), body))
        return real(method, template, body, *a, **kw)

    monkeypatch.setattr(client, "_write", recording)
    a, b = members(sandbox, 1, 2, skip=5)
    assign_groups(client, [Assignment(a, 1, 2), Assignment(b, 1, 3)])
    made = create_catalog_rule(client, CatalogRule(
        name="segbridge B2B", website_ids=(2,), customer_group_ids=(0, 2),
        simple_action="to_fixed", discount_amount=19.9, to_date=date(2027, 1, 31)))
    update_catalog_rule(client, replace(made, description="segbridge:b2b:catalog:1"))
    apply_catalog_rules(client)
    assert [(m, t) for m, t, _ in sent] == [
        ("POST", "/V1/segbridge/groupAssignments"), ("POST", "/V1/segbridge/catalogRules"),
        ("PUT", "/V1/segbridge/catalogRules/:ruleId"),
        ("POST", "/V1/segbridge/catalogRules/apply")]
    for method, template, body in sent:
        node = requests_of[(method, template)]
        if node is None:
            assert body is None
            continue
        root = {"$defs": contract["$defs"], **node}
        errors = list(jsonschema.Draft202012Validator(root).iter_errors(body))
        assert not errors, (template, [e.message for e in errors])
