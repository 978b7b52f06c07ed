"""Saves and deletes of customer groups, CMS blocks, cart rules and coupons, with
Magento's checks (docs/magento.md E, F, G)."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from bridge.sandbox.errors import ApiError, invalid_value, no_such_entity, required
from bridge.sandbox.model import fmt_time
from bridge.sandbox.shop.records import (
    BLOCK_KEYS,
    COUPON_KEYS,
    COUPON_TYPES,
    GROUP_KEYS,
    RULE_KEYS,
    SIMPLE_ACTIONS,
    TAX_CLASSES,
    Block,
    Group,
    Rec,
    _as_int,
    _check_keys,
)


class EntitySaves:
    """Group, block, rule and coupon saves, mixed into ``Shop`` (state.py)."""

    def save_group(self, body: Any, group_id: int | None = None) -> dict[str, Any]:
        """POST/PUT /V1/customerGroups (GroupRepository::save)."""
        if not isinstance(body, dict) or not isinstance(body.get("group"), dict):
            raise required("group")
        data = body["group"]
        _check_keys(data, GROUP_KEYS)
        with self.lock:
            if group_id is None and data.get("id") is not None:
                group_id = _as_int(data["id"], "id")
            existing = self.groups.get(group_id) if group_id is not None else None
            if group_id is not None and existing is None:
                raise no_such_entity("id", group_id)
            code = data.get("code")
            if code is None or str(code).strip() == "":
                raise required("code")
            code = str(code)[:32]  # ResourceModel\Group::_beforeSave truncates silently
            tax = data.get("tax_class_id")
            if tax is None:
                tax = existing.tax_class_id if existing else 3
            tax = _as_int(tax, "taxClassId")
            if TAX_CLASSES.get(tax, ("", ""))[1] != "CUSTOMER":
                raise invalid_value("taxClassId", tax)
            for g in self.groups.values():
                if g.code.casefold() == code.casefold() and g.id != group_id:
                    raise ApiError(400, "Customer Group already exists.")
            if existing is None:
                g = Group(self.groups.next_id(), code, tax)
                self.groups.add(g)
            else:
                existing.code = code
                existing.tax_class_id = tax
                g = existing
            return self.group_json(g)

    def delete_group(self, group_id: int) -> bool:
        with self.lock:
            if group_id not in self.groups:
                raise no_such_entity("id", group_id)
            if group_id <= 0 or group_id == self.default_group_id:
                raise ApiError(400, "Cannot delete group.")
            self.groups.delete(group_id)
            now = self.now()
            for c in self.customers.values():
                if c.group_id == group_id:
                    c.group_id = self.default_group_id
                    self.customers.set_time(c, "updated_at", now)
            return True

    # ------------------------------------------------------------------ CMS blocks
    def save_block(self, body: Any, store_id: int, block_id: int | None = None
                   ) -> dict[str, Any]:
        """POST /V1/cmsBlock, PUT /V1/cmsBlock/{id}: the URL scope is the store set."""
        if not isinstance(body, dict) or not isinstance(body.get("block"), dict):
            raise required("block")
        data = body["block"]
        _check_keys(data, BLOCK_KEYS)
        with self.lock:
            if block_id is None and data.get("id") is not None:
                block_id = _as_int(data["id"], "id")
            existing = self.blocks.get(block_id) if block_id is not None else None
            if block_id is not None and existing is None:
                raise ApiError(404, 'The CMS block with the "%1" ID doesn\'t exist.',
                               [str(block_id)])
            identifier = data.get("identifier", existing.identifier if existing else None)
            if not identifier:
                raise required("identifier")
            stores = (store_id,)
            for b in self.blocks.values():
                if b.id == block_id or b.identifier != identifier:
                    continue
                if 0 in b.store_ids or 0 in stores or set(b.store_ids) & set(stores):
                    raise ApiError(400, "A block identifier with the same properties already "
                                        "exists in the selected store.")
            now = self.now()
            active = data.get("active", existing.active if existing else True)
            if existing is None:
                b = Block(id=self.blocks.next_id(), identifier=str(identifier),
                          title=data.get("title"), content=data.get("content"),
                          active=bool(active), store_ids=stores, creation_time=now,
                          update_time=now)
                self.blocks.add(b)
            else:
                b = existing
                b.identifier = str(identifier)
                if "title" in data:
                    b.title = data["title"]
                if "content" in data:
                    b.content = data["content"]
                b.active = bool(active)
                b.store_ids = stores
                b.update_time = now
            return self.block_json(b)

    def delete_block(self, block_id: int) -> bool:
        with self.lock:
            if self.blocks.delete(block_id) is None:
                raise ApiError(404, 'The CMS block with the "%1" ID doesn\'t exist.',
                               [str(block_id)])
            return True

    # ------------------------------------------------------------------ sales rules
    def _rule_defaults(self) -> dict[str, Any]:
        return {"store_labels": [], "uses_per_customer": 0, "is_active": False,
                "condition": None, "action_condition": None, "stop_rules_processing": False,
                "is_advanced": True, "product_ids": [], "sort_order": 0,
                "simple_action": "by_percent", "discount_amount": 0, "discount_qty": 0,
                "discount_step": 0, "apply_to_shipping": False, "times_used": 0,
                "is_rss": True, "coupon_type": "NO_COUPON", "use_auto_generation": False,
                "uses_per_coupon": 0, "simple_free_shipping": "NONE"}

    def _validate_rule(self, d: dict[str, Any]) -> None:
        problems = []
        f, t = d.get("from_date"), d.get("to_date")
        if f and t and str(f)[:10] > str(t)[:10]:
            problems.append("End Date must follow Start Date.")
        if not d.get("website_ids"):
            problems.append("Please specify a website.")
        if not d.get("customer_group_ids"):
            problems.append("Please specify Customer Groups.")
        if problems:
            raise ApiError(400, "".join(p + "; " for p in problems))
        if d.get("coupon_type") not in COUPON_TYPES:
            raise invalid_value("coupon_type", d.get("coupon_type"))
        if d.get("simple_action") not in SIMPLE_ACTIONS:
            raise invalid_value("simple_action", d.get("simple_action"))
        for w in d["website_ids"]:
            if _as_int(w, "website_ids") not in (1, 2):
                raise no_such_entity("websiteId", w)
        for g in d["customer_group_ids"]:
            if _as_int(g, "customer_group_ids") not in self.groups:
                raise no_such_entity("id", g)
        for key in ("from_date", "to_date"):
            v = d.get(key)
            if v:
                try:
                    datetime.strptime(str(v)[:10], "%Y-%m-%d")
                except ValueError:
                    raise invalid_value(key, v) from None
                d[key] = str(v)[:10]

    def save_rule(self, body: Any, rule_id: int | None = None) -> dict[str, Any]:
        """POST /V1/salesRules, PUT /V1/salesRules/{id} (ToModel::toModel).

        A PUT merges the payload's non-null fields onto the stored rule, except that a
        body without ``coupon_type`` carries the sparse DTO's defaults for the coupon
        settings (NO_COUPON, no auto generation): the rule's specific coupon is lost
        (docs/magento.md F2, mm#35298).
        """
        if not isinstance(body, dict) or not isinstance(body.get("rule"), dict):
            raise required("rule")
        data = body["rule"]
        _check_keys(data, RULE_KEYS)
        with self.lock:
            if rule_id is None and data.get("rule_id") is not None:
                rule_id = _as_int(data["rule_id"], "rule_id")
            existing = self.rules.get(rule_id) if rule_id is not None else None
            if rule_id is not None and existing is None:
                raise ApiError(404, "No such entity with %fieldName = %fieldValue",
                               {"fieldName": "rule_id", "fieldValue": rule_id})
            if existing is None:
                d = self._rule_defaults()
                d.update({k: v for k, v in data.items() if v is not None})
                d.setdefault("website_ids", [])
                d.setdefault("customer_group_ids", [])
            else:
                d = dict(existing.data)
                d.update({k: v for k, v in data.items() if v is not None})
                if data.get("coupon_type") is None:
                    d["coupon_type"] = "NO_COUPON"
                    d["use_auto_generation"] = False
                    d["uses_per_coupon"] = 0
            d.pop("rule_id", None)
            self._validate_rule(d)
            d["website_ids"] = [int(w) for w in d["website_ids"]]
            d["customer_group_ids"] = [int(g) for g in d["customer_group_ids"]]
            if d.get("use_auto_generation"):
                d["coupon_type"] = "AUTO" if d["coupon_type"] == "NO_COUPON" \
                    else d["coupon_type"]
            rid = existing.id if existing else self.rules.next_id()
            out = {"rule_id": rid, **{k: v for k, v in d.items() if v is not None}}
            if existing is None:
                self.rules.add(Rec(rid, out))
            else:
                existing.data = out
                if out["coupon_type"] == "NO_COUPON":
                    for cp in list(self.coupons.values()):
                        if cp.data["rule_id"] == rid:
                            self.coupons.delete(cp.id)
            return dict(out)

    def delete_rule(self, rule_id: int) -> bool:
        with self.lock:
            if self.rules.delete(rule_id) is None:
                raise ApiError(404, "No such entity with %fieldName = %fieldValue",
                               {"fieldName": "rule_id", "fieldValue": rule_id})
            for cp in list(self.coupons.values()):
                if cp.data["rule_id"] == rule_id:
                    self.coupons.delete(cp.id)
            return True

    def save_coupon(self, body: Any, coupon_id: int | None = None) -> dict[str, Any]:
        """POST /V1/coupons (CouponRepository::save)."""
        if not isinstance(body, dict) or not isinstance(body.get("coupon"), dict):
            raise required("coupon")
        data = body["coupon"]
        _check_keys(data, COUPON_KEYS)
        with self.lock:
            if data.get("rule_id") is None:
                raise required("rule_id")
            rid = _as_int(data["rule_id"], "rule_id")
            rule = self.rules.get(rid)
            if rule is None:
                raise no_such_entity("rule_id", rid)
            ctype = _as_int(data.get("type", 0) or 0, "type")
            if rule.data["coupon_type"] == "NO_COUPON":
                raise ApiError(400, "Specified rule does not allow coupons")
            if rule.data.get("use_auto_generation") and ctype != 1:
                raise ApiError(400, "Specified rule only allows auto generated coupons")
            if not rule.data.get("use_auto_generation") and ctype == 1:
                raise ApiError(400, "Specified rule does not allow auto generated coupons")
            code = data.get("code")
            if not code:
                raise required("code")
            existing = self.coupons.get(coupon_id) if coupon_id is not None else None
            for cp in self.coupons.values():
                if cp.data["code"].casefold() == str(code).casefold() and cp.id != coupon_id:
                    raise ApiError(400, "Error occurred when saving coupon: %1",
                                   ["Unique constraint violation found"])
            cid = existing.id if existing else self.coupons.next_id()
            out = {"coupon_id": cid, "rule_id": rid, "code": str(code),
                   "usage_limit": int(data.get("usage_limit") or 0),
                   "usage_per_customer": int(data.get("usage_per_customer") or 0),
                   "times_used": int(data.get("times_used") or 0),
                   "is_primary": bool(data.get("is_primary", False)),
                   "created_at": fmt_time(self.now()), "type": ctype}
            if data.get("expiration_date"):
                out["expiration_date"] = str(data["expiration_date"])
            if existing is None:
                self.coupons.add(Rec(cid, out))
            else:
                existing.data = out
            return dict(out)

    def generate_coupons(self, body: Any) -> list[str]:
        """POST /V1/coupons/generate (CouponManagementService::generate)."""
        if not isinstance(body, dict) or not isinstance(body.get("couponSpec"), dict):
            raise required("couponSpec")
        spec = body["couponSpec"]
        for key in ("rule_id", "format", "quantity", "length"):
            if spec.get(key) in (None, ""):
                raise required(key)
        with self.lock:
            rid = _as_int(spec["rule_id"], "rule_id")
            rule = self.rules.get(rid)
            if rule is None:
                raise no_such_entity("rule_id", rid)
            if not (rule.data.get("use_auto_generation") or rule.data["coupon_type"] == "AUTO"):
                raise ApiError(400, "Specified rule does not allow automatic coupon generation")
            alphabet = {"alphanum": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789", "alpha":
                        "ABCDEFGHJKLMNPQRSTUVWXYZ", "num": "0123456789"}.get(
                            str(spec["format"]))
            if alphabet is None:
                raise invalid_value("format", spec["format"])
            r = random.Random(f"{self.seed}:{rid}:{len(self.coupons)}")
            taken = {cp.data["code"].casefold() for cp in self.coupons.values()}
            out: list[str] = []
            for _ in range(_as_int(spec["quantity"], "quantity")):
                for _attempt in range(100):
                    code = (str(spec.get("prefix") or "")
                            + "".join(r.choice(alphabet)
                                      for _ in range(_as_int(spec["length"], "length")))
                            + str(spec.get("suffix") or ""))
                    if code.casefold() not in taken:
                        break
                else:
                    raise ApiError(400, "Error occurred when generating coupons: %1",
                                   ["Not enough unique codes"])
                taken.add(code.casefold())
                cid = self.coupons.next_id()
                self.coupons.add(Rec(cid, {"coupon_id": cid, "rule_id": rid, "code": code,
                                           "usage_limit": 0, "usage_per_customer": 0,
                                           "times_used": 0, "is_primary": False,
                                           "created_at": fmt_time(self.now()), "type": 1}))
                out.append(code)
            return out

    def delete_coupon(self, coupon_id: int) -> bool:
        with self.lock:
            if self.coupons.delete(coupon_id) is None:
                raise no_such_entity("coupon_id", coupon_id)
            return True

