"""The search specs: which fields each entity's searchCriteria can filter and sort on."""

from __future__ import annotations

from typing import Any, Protocol

from bridge.sandbox.generator import CUSTOM_ATTRIBUTES, STATUS_STATE
from bridge.sandbox.model import Customer, Order
from bridge.sandbox.search import DATE, INT, NUM, TIME, EntitySpec, FieldDef, SortOrder
from bridge.sandbox.shop.records import COUPON_TYPES, TAX_CLASSES, StoreView, _money


class SpecShop(Protocol):
    """What the specs read of the shop."""

    def increment_id(self, o: Order) -> str: ...

    def store(self, store_id: int) -> StoreView: ...


def _billing(shop: SpecShop, attr: str) -> Any:
    def get(c: Customer) -> Any:
        a = c.address(c.default_billing)
        if a is None:
            return None
        if attr == "region":
            return a.region[1] if a.region else None
        return getattr(a, attr)
    return get


def _custom(code: str) -> Any:
    def get(c: Customer) -> Any:
        if not c.custom:
            return None
        for k, v in c.custom:
            if k == code:
                return v
        return None
    return get


def _specs(shop: SpecShop) -> dict[str, EntitySpec]:
    cf: dict[str, FieldDef] = {
        "entity_id": FieldDef(lambda c: c.id, INT),
        "email": FieldDef(lambda c: c.email), "firstname": FieldDef(lambda c: c.firstname),
        "lastname": FieldDef(lambda c: c.lastname),
        "middlename": FieldDef(lambda c: c.middlename),
        "prefix": FieldDef(lambda c: c.prefix), "suffix": FieldDef(lambda c: c.suffix),
        "group_id": FieldDef(lambda c: c.group_id, INT),
        "website_id": FieldDef(lambda c: c.website_id, INT),
        "store_id": FieldDef(lambda c: c.store_id, INT),
        "created_at": FieldDef(lambda c: c.created_at, TIME),
        "updated_at": FieldDef(lambda c: c.updated_at, TIME),
        "created_in": FieldDef(lambda c: c.created_in),
        "dob": FieldDef(lambda c: c.dob, DATE), "gender": FieldDef(lambda c: c.gender, INT),
        "taxvat": FieldDef(lambda c: c.taxvat),
        "default_billing": FieldDef(lambda c: c.default_billing, INT),
        "default_shipping": FieldDef(lambda c: c.default_shipping, INT),
        "disable_auto_group_change": FieldDef(lambda c: c.disable_auto_group_change, INT),
        "confirmation": FieldDef(lambda c: c.confirmation),
    }
    for attr in ("postcode", "city", "telephone", "region", "country_id", "company"):
        cf[f"billing_{attr}"] = FieldDef(_billing(shop, attr))
    for code in CUSTOM_ATTRIBUTES:
        cf[code] = FieldDef(_custom(code))
    customers = EntitySpec("customers", cf, "entity_id",
                           {"updated_at": "updated_at", "created_at": "created_at"},
                           merge_from_to=False, unknown_field_status=400)

    of: dict[str, FieldDef] = {
        "entity_id": FieldDef(lambda o: o.id, INT),
        "increment_id": FieldDef(shop.increment_id),
        "customer_id": FieldDef(lambda o: o.customer_id, INT),
        "customer_email": FieldDef(lambda o: o.email),
        "customer_firstname": FieldDef(lambda o: o.firstname),
        "customer_lastname": FieldDef(lambda o: o.lastname),
        "customer_group_id": FieldDef(lambda o: o.group_id, INT),
        "customer_is_guest": FieldDef(
            lambda o: 1 if o.customer_id is None and o.group_id == 0 else 0, INT),
        "status": FieldDef(lambda o: o.status),
        "state": FieldDef(lambda o: STATUS_STATE.get(o.status, o.status)),
        "store_id": FieldDef(lambda o: o.store_id, INT),
        "created_at": FieldDef(lambda o: o.created_at, TIME),
        "updated_at": FieldDef(lambda o: o.updated_at, TIME),
        "base_grand_total": FieldDef(lambda o: o.base_grand_total, NUM),
        "grand_total": FieldDef(lambda o: _money(o.base_grand_total
                                                 * shop.store(o.store_id).rate), NUM),
        "total_qty_ordered": FieldDef(lambda o: o.total_qty, NUM),
        "order_currency_code": FieldDef(lambda o: shop.store(o.store_id).currency),
    }
    orders = EntitySpec("orders", of, "entity_id",
                        {"updated_at": "updated_at", "created_at": "created_at"})

    # plain: reads slots of the cart only (its matches can be kept, see Table.stamp);
    # items_count and items_qty read its list of lines
    qf: dict[str, FieldDef] = {
        "entity_id": FieldDef(lambda q: q.id, INT, plain=True),
        "customer_id": FieldDef(lambda q: q.customer_id, INT, plain=True),
        "customer_email": FieldDef(lambda q: q.email, plain=True),
        "customer_group_id": FieldDef(lambda q: q.group_id, INT, plain=True),
        "customer_is_guest": FieldDef(lambda q: int(q.customer_id is None), INT, plain=True),
        "is_active": FieldDef(lambda q: int(bool(q.is_active)), INT, plain=True),
        "items_count": FieldDef(lambda q: len(q.lines), INT),
        "items_qty": FieldDef(lambda q: sum(ln[4] for ln in q.lines), NUM),
        "store_id": FieldDef(lambda q: q.store_id, INT, plain=True),
        "created_at": FieldDef(lambda q: q.created_at, TIME, plain=True),
        "updated_at": FieldDef(lambda q: q.updated_at, TIME, plain=True),
        "converted_at": FieldDef(lambda q: q.converted_at, TIME, plain=True),
        "reserved_order_id": FieldDef(lambda q: q.reserved_order_id, plain=True),
    }
    carts = EntitySpec("carts", qf, "entity_id",
                       {"updated_at": "updated_at", "created_at": "created_at"})

    gf: dict[str, FieldDef] = {
        "id": FieldDef(lambda g: g.id, INT),
        "customer_group_id": FieldDef(lambda g: g.id, INT),
        "code": FieldDef(lambda g: g.code), "customer_group_code": FieldDef(lambda g: g.code),
        "tax_class_id": FieldDef(lambda g: g.tax_class_id, INT),
        "tax_class_name": FieldDef(lambda g: TAX_CLASSES.get(g.tax_class_id, ("",))[0]),
    }
    groups = EntitySpec("groups", gf, "id", default_sort=[SortOrder("id", "ASC")])

    bf: dict[str, FieldDef] = {
        "block_id": FieldDef(lambda b: b.id, INT),
        "identifier": FieldDef(lambda b: b.identifier), "title": FieldDef(lambda b: b.title),
        "content": FieldDef(lambda b: b.content),
        "is_active": FieldDef(lambda b: int(bool(b.active)), INT),
        "creation_time": FieldDef(lambda b: b.creation_time, TIME),
        "update_time": FieldDef(lambda b: b.update_time, TIME),
    }
    blocks = EntitySpec("blocks", bf, "block_id")

    rf: dict[str, FieldDef] = {
        "rule_id": FieldDef(lambda r: r.id, INT),
        "name": FieldDef(lambda r: r.data.get("name")),
        "description": FieldDef(lambda r: r.data.get("description")),
        "is_active": FieldDef(lambda r: int(bool(r.data.get("is_active"))), INT),
        "from_date": FieldDef(lambda r: r.data.get("from_date"), DATE),
        "to_date": FieldDef(lambda r: r.data.get("to_date"), DATE),
        "coupon_type": FieldDef(lambda r: COUPON_TYPES.get(r.data.get("coupon_type"), 1), INT),
        "sort_order": FieldDef(lambda r: r.data.get("sort_order"), INT),
        "simple_action": FieldDef(lambda r: r.data.get("simple_action")),
        "discount_amount": FieldDef(lambda r: r.data.get("discount_amount"), NUM),
        "uses_per_customer": FieldDef(lambda r: r.data.get("uses_per_customer"), INT),
        "times_used": FieldDef(lambda r: r.data.get("times_used"), INT),
        "use_auto_generation": FieldDef(lambda r: int(bool(r.data.get("use_auto_generation"))),
                                        INT),
        "stop_rules_processing": FieldDef(
            lambda r: int(bool(r.data.get("stop_rules_processing"))), INT),
    }
    rules = EntitySpec("rules", rf, "rule_id")

    pf: dict[str, FieldDef] = {
        "coupon_id": FieldDef(lambda c: c.id, INT),
        "rule_id": FieldDef(lambda c: c.data["rule_id"], INT),
        "code": FieldDef(lambda c: c.data["code"]),
        "type": FieldDef(lambda c: c.data["type"], INT),
        "is_primary": FieldDef(lambda c: int(bool(c.data.get("is_primary"))), INT),
        "times_used": FieldDef(lambda c: c.data.get("times_used"), INT),
        "usage_limit": FieldDef(lambda c: c.data.get("usage_limit"), INT),
        "created_at": FieldDef(lambda c: c.data.get("created_at"), DATE),
        "expiration_date": FieldDef(lambda c: c.data.get("expiration_date"), DATE),
    }
    coupons = EntitySpec("coupons", pf, "coupon_id")
    return {"customers": customers, "orders": orders, "carts": carts, "groups": groups,
            "blocks": blocks, "rules": rules, "coupons": coupons}
