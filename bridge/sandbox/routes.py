"""The REST routes the sandbox serves: (method, schema path template) -> handler.

Templates are spelled exactly as in admin-schema-2.4.6.json so that request statistics
and the schema test speak the same language. Each handler gets a ``Call`` and returns
the JSON value to send; errors are raised as ``ApiError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.sandbox.criteria import Criteria, parse_criteria
from bridge.sandbox.errors import ApiError, no_such_entity
from bridge.sandbox.fields import fields_projection, fields_spec
from bridge.sandbox.model import dumps
from bridge.sandbox.search import run_search
from bridge.sandbox.shop import lean_order_exact, lean_order_spec

if TYPE_CHECKING:
    from bridge.sandbox.control import ServerView
    from bridge.sandbox.shop import Shop


@dataclass
class Call:
    method: str
    template: str
    params: dict[str, str]
    query: dict[str, Any]
    body: Any
    store_id: int  # 0 for /rest/all
    server: ServerView  # the SandboxServer
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def shop(self) -> Shop:
        return self.server.shop

    def int_param(self, name: str, entity_field: str | None = None) -> int:
        raw = self.params[name]
        try:
            return int(raw)
        except ValueError:
            raise no_such_entity(entity_field or name, raw) from None


Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    acl: str  # "anonymous" or the ACL resource named in the 401 message
    segments: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------


def _criteria(call: Call) -> Criteria:
    return parse_criteria(call.query, call.server.max_page_size)


def _joined(call: Call, kind: str, text_of: Callable[[Any], str], fields: str | None = None,
            check: Callable[[list[Any]], None] | None = None) -> RawJson:
    """A search answer made of each record's JSON text (``text_of``), joined: what
    ``_search`` answers, without a dict of every record to encode. ``fields``: the texts
    are already what it keeps of each record; the top of the answer is trimmed to it.
    ``check`` sees the page's records first (and may refuse them)."""
    shop = call.shop
    c = _criteria(call)
    with shop.lock:
        page = run_search(call.server.specs[kind], getattr(shop, kind), c,
                          call.server.repeat_last_page)
        if check is not None:
            check(page.items)
        texts = [text_of(r) for r in page.items]
    top: dict[str, Any] = {"items": [], "search_criteria": c.echo(),
                           "total_count": page.total_count}
    if fields is not None:
        top = fields_projection(fields, trimmed="items")(top)
    body = dumps(top).decode()
    if "items" in top:  # the first key: '{"items":[]' opens the text
        body = '{"items":[' + ",".join(texts) + "]" + body[len('{"items":[]'):]
    return RawJson(body)


def _search(call: Call, kind: str, render: Callable[[Any], dict[str, Any]],
            criteria: Criteria | None = None, scope: Callable[[Any], bool] | None = None
            ) -> dict[str, Any]:
    shop = call.shop
    c = criteria or _criteria(call)
    table = {"customers": shop.customers, "orders": shop.orders, "carts": shop.carts,
             "groups": shop.groups, "blocks": shop.blocks, "rules": shop.rules,
             "coupons": shop.coupons}[kind]
    with shop.lock:
        page = run_search(call.server.specs[kind], table, c, call.server.repeat_last_page,
                          scope)
        items = [render(r) for r in page.items]
    return {"items": items, "search_criteria": c.echo(), "total_count": page.total_count}


# customers ----------------------------------------------------------------------------

def customers_search(call: Call) -> Any:
    if call.query.get("fields"):
        return _search(call, "customers", call.shop.customer_json)
    return _joined(call, "customers", call.shop.customer_text)  # the sync's pages


def customer_get(call: Call) -> Any:
    cid = call.int_param("customerId", "customerId")
    shop = call.shop
    with shop.lock:
        c = shop.customers.get(cid)
        if c is None:
            raise no_such_entity("customerId", cid)
        return shop.customer_json(c)


def customer_put(call: Call) -> Any:
    cid = call.int_param("customerId", "customerId")
    if cid in call.server.faults.poison_customer_ids:
        call.server.stats.fault("poison")
        raise ApiError(500, "__masked__")
    return call.shop.save_customer(cid, call.body, call.server.merge_mode)


def customer_post(call: Call) -> Any:
    return call.shop.create_customer(call.body)


def customer_delete(call: Call) -> Any:
    cid = call.int_param("customerId", "customerId")
    try:
        call.shop.delete_customer(cid)
    except KeyError:
        raise no_such_entity("customerId", cid) from None
    return True


# groups -------------------------------------------------------------------------------

def groups_search(call: Call) -> Any:
    return _search(call, "groups", call.shop.group_json)


def group_get(call: Call) -> Any:
    gid = call.int_param("id")
    shop = call.shop
    with shop.lock:
        g = shop.groups.get(gid)
        if g is None:
            raise no_such_entity("id", gid)
        return shop.group_json(g)


def group_default(call: Call) -> Any:
    shop = call.shop
    with shop.lock:
        return shop.group_json(shop.groups.get(shop.default_group_id))


def group_post(call: Call) -> Any:
    return call.shop.save_group(call.body)


def group_put(call: Call) -> Any:
    return call.shop.save_group(call.body, call.int_param("id"))


def group_delete(call: Call) -> Any:
    return call.shop.delete_group(call.int_param("id"))


def group_permissions(call: Call) -> Any:
    gid = call.int_param("id")
    shop = call.shop
    with shop.lock:
        if gid not in shop.groups:
            raise no_such_entity("id", gid)
        return gid == 0 or gid == shop.default_group_id


# orders and carts ---------------------------------------------------------------------

class RawJson(str):
    """An answer already encoded as JSON text, and already trimmed to its ``fields=``
    (sent as it is)."""


def _poison(call: Call, orders: list[Any]) -> None:
    bad = call.server.faults.poison_order_ids
    if bad and any(o.id in bad for o in orders):
        call.server.stats.fault("poison")
        raise ApiError(500, "__masked__")


def _item_keys(fields: Any) -> frozenset[str] | None:
    """The item keys an order list's ``fields=`` keeps (None: whole items or unknown)."""
    if not isinstance(fields, str):
        return None
    order = fields_spec(fields).get("items")
    items = order.get("items") if isinstance(order, dict) else None
    if not isinstance(items, dict) or any(v is not None for v in items.values()):
        return None
    return frozenset(items)


def orders_list(call: Call) -> Any:
    if call.query.get("fields"):
        text = call.query["fields"]
        keys = _item_keys(text)
        spec = fields_spec(text).get("items")
        lean_top = keys is not None and lean_order_spec(spec)
        if lean_top and lean_order_exact(spec):
            # the sync's fields=: each order's lean text is what trimming would leave
            return _joined(call, "orders", call.shop.lean_order_text, text,
                           lambda orders: _poison(call, orders))

        def render(o: Any) -> dict[str, Any]:
            _poison(call, [o])
            return call.shop.order_json(o, keys, lean_top)
        return _search(call, "orders", render)
    return _joined(call, "orders", call.shop.order_json_text,
                   check=lambda orders: _poison(call, orders))


def order_get(call: Call) -> Any:
    shop = call.shop
    try:
        oid = int(call.params["id"])
    except ValueError:
        oid = -1
    with shop.lock:
        o = shop.orders.get(oid)
        if o is None:
            raise ApiError(404, "The entity that was requested doesn't exist. Verify the entity "
                                "and try again.")
        if call.query.get("fields"):
            return shop.order_json(o)
        return RawJson(shop.order_json_text(o))


def carts_search(call: Call) -> Any:
    return _search(call, "carts", call.shop.cart_json)


def _cart(call: Call) -> Any:
    qid = call.int_param("cartId", "cartId")
    q = call.shop.carts.get(qid)
    if q is None:
        raise no_such_entity("cartId", qid)
    return q


def cart_get(call: Call) -> Any:
    with call.shop.lock:
        return call.shop.cart_json(_cart(call))


def cart_totals(call: Call) -> Any:
    with call.shop.lock:
        return call.shop.totals_json(_cart(call))


# stores -------------------------------------------------------------------------------

def websites(call: Call) -> Any:
    return [call.shop.website_json(w) for w in call.shop.websites]


def store_views(call: Call) -> Any:
    return [call.shop.store_view_json(s) for s in call.shop.stores]


def store_groups(call: Call) -> Any:
    return [call.shop.store_group_json(g) for g in call.shop.store_groups]


def store_configs(call: Call) -> Any:
    codes = call.query.get("storeCodes")
    wanted = set(codes.values() if isinstance(codes, dict) else [codes]) if codes else None
    return [call.shop.store_config_json(s, call.server.base_url) for s in call.shop.stores
            if s.id and (wanted is None or s.code in wanted)]


def group_default_for_store(call: Call) -> Any:
    sid = call.int_param("storeId")
    if sid not in call.shop.store_by_id:
        raise no_such_entity("storeId", sid)
    return group_default(call)


# CMS blocks ---------------------------------------------------------------------------

def blocks_search(call: Call) -> Any:
    c = _criteria(call)
    stores: list[int] = []
    kept = []
    for g in c.groups:
        if len(g) == 1 and g[0].field == "store_id":
            raw = g[0].value
            vals = raw.split(",") if isinstance(raw, str) else [raw]
            try:
                stores.extend(int(v) for v in vals)
            except ValueError:
                stores.append(-1)
        else:
            kept.append(g)
    scope = None
    if stores:
        wanted = set(stores) | {0}

        def scope(b: Any) -> bool:
            return bool(wanted & set(b.store_ids))

    echo = Criteria(c.groups, c.sorts, c.page_size, c.current_page, c.page_size_given)
    c.groups = kept
    out = _search(call, "blocks", call.shop.block_json, c, scope)
    out["search_criteria"] = echo.echo()
    return out


def _block_id(call: Call, name: str) -> int:
    try:
        return int(call.params[name])
    except ValueError:
        raise ApiError(404, 'The CMS block with the "%1" ID doesn\'t exist.',
                       [call.params[name]]) from None


def block_get(call: Call) -> Any:
    bid = _block_id(call, "blockId")
    shop = call.shop
    with shop.lock:
        b = shop.blocks.get(bid)
        if b is None:
            raise ApiError(404, 'The CMS block with the "%1" ID doesn\'t exist.', [str(bid)])
        return shop.block_json(b)


def block_post(call: Call) -> Any:
    return call.shop.save_block(call.body, call.store_id)


def block_put(call: Call) -> Any:
    return call.shop.save_block(call.body, call.store_id, _block_id(call, "id"))


def block_delete(call: Call) -> Any:
    return call.shop.delete_block(_block_id(call, "blockId"))


# sales rules and coupons --------------------------------------------------------------

def rules_search(call: Call) -> Any:
    return _search(call, "rules", lambda r: dict(r.data))


def rule_get(call: Call) -> Any:
    rid = call.int_param("ruleId", "rule_id")
    shop = call.shop
    with shop.lock:
        r = shop.rules.get(rid)
        if r is None:
            raise ApiError(404, "No such entity with %fieldName = %fieldValue",
                           {"fieldName": "rule_id", "fieldValue": rid})
        return dict(r.data)


def rule_post(call: Call) -> Any:
    return call.shop.save_rule(call.body)


def rule_put(call: Call) -> Any:
    return call.shop.save_rule(call.body, call.int_param("ruleId", "rule_id"))


def rule_delete(call: Call) -> Any:
    return call.shop.delete_rule(call.int_param("ruleId", "rule_id"))


def coupons_search(call: Call) -> Any:
    return _search(call, "coupons", lambda r: dict(r.data))


def coupon_get(call: Call) -> Any:
    cid = call.int_param("couponId", "coupon_id")
    shop = call.shop
    with shop.lock:
        r = shop.coupons.get(cid)
        if r is None:
            raise no_such_entity("coupon_id", cid)
        return dict(r.data)


def coupon_post(call: Call) -> Any:
    return call.shop.save_coupon(call.body)


def coupon_put(call: Call) -> Any:
    cid = call.int_param("couponId", "coupon_id")
    if call.shop.coupons.get(cid) is None:
        raise no_such_entity("coupon_id", cid)
    return call.shop.save_coupon(call.body, cid)


def coupon_delete(call: Call) -> Any:
    return call.shop.delete_coupon(call.int_param("couponId", "coupon_id"))


def coupons_generate(call: Call) -> Any:
    return call.shop.generate_coupons(call.body)


# tokens -------------------------------------------------------------------------------

def admin_token(call: Call) -> Any:
    return call.server.issue_admin_token(call.body)


CUSTOMER = "Magento_Customer::customer"
MANAGE = "Magento_Customer::manage"
GROUP = "Magento_Customer::group"

ROUTES: list[Route] = [
    Route("GET", "/V1/customers/search", customers_search, CUSTOMER),
    Route("GET", "/V1/customers/{customerId}", customer_get, CUSTOMER),
    Route("PUT", "/V1/customers/{customerId}", customer_put, MANAGE),
    Route("DELETE", "/V1/customers/{customerId}", customer_delete, "Magento_Customer::delete"),
    Route("POST", "/V1/customers", customer_post, "anonymous"),
    Route("GET", "/V1/customerGroups/search", groups_search, GROUP),
    Route("GET", "/V1/customerGroups/default", group_default, GROUP),
    Route("GET", "/V1/customerGroups/default/{storeId}", group_default_for_store, GROUP),
    Route("GET", "/V1/customerGroups/{id}/permissions", group_permissions, GROUP),
    Route("GET", "/V1/customerGroups/{id}", group_get, GROUP),
    Route("POST", "/V1/customerGroups", group_post, GROUP),
    Route("PUT", "/V1/customerGroups/{id}", group_put, GROUP),
    Route("DELETE", "/V1/customerGroups/{id}", group_delete, GROUP),
    Route("GET", "/V1/orders", orders_list, "Magento_Sales::actions_view"),
    Route("GET", "/V1/orders/{id}", order_get, "Magento_Sales::actions_view"),
    Route("GET", "/V1/carts/search", carts_search, "Magento_Cart::manage"),
    Route("GET", "/V1/carts/{cartId}/totals", cart_totals, "Magento_Cart::manage"),
    Route("GET", "/V1/carts/{cartId}", cart_get, "Magento_Cart::manage"),
    Route("GET", "/V1/store/websites", websites, "Magento_Backend::store"),
    Route("GET", "/V1/store/storeViews", store_views, "Magento_Backend::store"),
    Route("GET", "/V1/store/storeGroups", store_groups, "Magento_Backend::store"),
    Route("GET", "/V1/store/storeConfigs", store_configs, "Magento_Backend::store"),
    Route("GET", "/V1/cmsBlock/search", blocks_search, "Magento_Cms::block"),
    Route("GET", "/V1/cmsBlock/{blockId}", block_get, "Magento_Cms::block"),
    Route("POST", "/V1/cmsBlock", block_post, "Magento_Cms::block"),
    Route("PUT", "/V1/cmsBlock/{id}", block_put, "Magento_Cms::block"),
    Route("DELETE", "/V1/cmsBlock/{blockId}", block_delete, "Magento_Cms::block"),
    Route("GET", "/V1/salesRules/search", rules_search, "Magento_SalesRule::quote"),
    Route("GET", "/V1/salesRules/{ruleId}", rule_get, "Magento_SalesRule::quote"),
    Route("POST", "/V1/salesRules", rule_post, "Magento_SalesRule::quote"),
    Route("PUT", "/V1/salesRules/{ruleId}", rule_put, "Magento_SalesRule::quote"),
    Route("DELETE", "/V1/salesRules/{ruleId}", rule_delete, "Magento_SalesRule::quote"),
    Route("GET", "/V1/coupons/search", coupons_search, "Magento_SalesRule::quote"),
    Route("GET", "/V1/coupons/{couponId}", coupon_get, "Magento_SalesRule::quote"),
    Route("POST", "/V1/coupons/generate", coupons_generate, "Magento_SalesRule::quote"),
    Route("POST", "/V1/coupons", coupon_post, "Magento_SalesRule::quote"),
    Route("PUT", "/V1/coupons/{couponId}", coupon_put, "Magento_SalesRule::quote"),
    Route("DELETE", "/V1/coupons/{couponId}", coupon_delete, "Magento_SalesRule::quote"),
    Route("POST", "/V1/integration/admin/token", admin_token, "anonymous"),
]
ROUTES = [Route(r.method, r.template, r.handler, r.acl, tuple(r.template.strip("/").split("/")))
          for r in ROUTES]


def match(method: str, path: str, routes: list[Route] | None = None
          ) -> tuple[Route, dict[str, str]] | None:
    """The route for ``/V1/...`` (first match wins, literal routes are listed first)
    among ``routes`` (default: the core routes)."""
    segs = path.strip("/").split("/")
    for r in ROUTES if routes is None else routes:
        if r.method != method or len(r.segments) != len(segs):
            continue
        params: dict[str, str] = {}
        for want, got in zip(r.segments, segs, strict=True):
            if want.startswith("{"):
                if got == "":
                    break
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            return r, params
    return None
